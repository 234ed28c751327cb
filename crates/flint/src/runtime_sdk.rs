//! `flint runtime-sdk`: the AWS SDKs of the managed runtimes (boto3/botocore for `python3.*`,
//! the AWS SDK for JavaScript v3 for `nodejs*.x`), fetched from PyPI and npm at the versions
//! flint pins, into the directory `flint serve --runtime-sdk-dir` reads (never the repository).

use anyhow::Context;
use clap::{Args, Subcommand};
use flint_runtimes::sdk;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum RuntimeSdkCommand {
    /// Fetch the pinned SDKs (pip and npm; does nothing when they are already there).
    Install(SdkDirArgs),
    /// Show which SDK versions are installed.
    Status(SdkDirArgs),
}

#[derive(Args)]
pub struct SdkDirArgs {
    /// The SDK directory [default: <data dir>/runtime-sdk]
    #[arg(long, env = "FLINT_RUNTIME_SDK_DIR")]
    dir: Option<PathBuf>,
    /// The data directory whose default SDK directory is meant [default: ./flint-data]
    #[arg(long, env = "FLINT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Install again even when the pinned versions are there.
    #[arg(long)]
    force: bool,
}

impl SdkDirArgs {
    fn dir(&self) -> anyhow::Result<PathBuf> {
        let cwd = std::env::current_dir().context("the current directory")?;
        Ok(match (&self.dir, &self.data_dir) {
            (Some(dir), _) => cwd.join(dir),
            (None, Some(data)) => cwd.join(data).join("runtime-sdk"),
            (None, None) => cwd.join("flint-data").join("runtime-sdk"),
        })
    }
}

pub fn run(cmd: RuntimeSdkCommand) -> anyhow::Result<()> {
    match cmd {
        RuntimeSdkCommand::Install(args) => {
            let dir = args.dir()?;
            let before = sdk::installed(&dir);
            if !args.force && sdk::is_current(&before) {
                println!("{}: {}", dir.display(), before.describe());
                return Ok(());
            }
            eprintln!(
                "flint: installing {} and {} into {}",
                sdk::PYTHON_SDK.join(" "),
                sdk::NODE_SDK.join(" "),
                dir.display()
            );
            let host = flint_runtimes::detect_host();
            let after = sdk::install(&dir, &host)
                .with_context(|| format!("installing the runtime SDKs into {}", dir.display()))?;
            println!("{}: {}", dir.display(), after.describe());
            Ok(())
        }
        RuntimeSdkCommand::Status(args) => {
            let dir = args.dir()?;
            println!("{}: {}", dir.display(), sdk::installed(&dir).describe());
            Ok(())
        }
    }
}
