//! `flint keys create|list|revoke`: the operator's access keys.
//!
//! Works directly on the data directory (`keys.db` and the master key
//! file), so it needs no credentials of its own: whoever may read the data
//! directory is the operator. SQLite's WAL lets it run beside a server,
//! which sees a change from its next request on.

use anyhow::Context;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use flint_auth::KeyStore;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// The server's data directory [default: as `flint serve` finds it:
    /// `flint.toml`'s `data_dir`, else ./flint-data]
    #[arg(long, env = "FLINT_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The server's settings file [default: ./flint.toml when present]
    #[arg(long, env = "FLINT_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// The key that encrypts secrets at rest [default: <data dir>/auth.key]
    #[arg(long, env = "FLINT_AUTH_KEY_FILE", global = true)]
    auth_key_file: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Table,
    Json,
}

#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// Create an access key; its secret is shown once.
    Create {
        /// A note saying who or what uses the key
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List access keys (never their secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke an access key: a running server refuses it from its next request.
    Revoke {
        access_key_id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

impl StoreArgs {
    fn open(&self) -> anyhow::Result<KeyStore> {
        let (data_dir, key_file) = crate::config::store_paths(
            self.data_dir.clone(),
            self.auth_key_file.clone(),
            self.config.as_deref(),
        )?;
        open_store(&data_dir, key_file.as_deref())
    }
}

/// Opens the key store of a data directory (created when needed).
pub fn open_store(data_dir: &Path, key_file: Option<&Path>) -> anyhow::Result<KeyStore> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let (db, default_key) = KeyStore::paths(data_dir);
    let key = key_file.map(Path::to_path_buf).unwrap_or(default_key);
    KeyStore::open(&db, &key).context("opening the access key store")
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

pub fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create { description, store } => {
            let keys = store.open()?;
            let k = keys.create(&description, now_unix())?;
            match store.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&k)?),
                Output::Table => {
                    println!("AccessKeyId:     {}", k.access_key_id);
                    println!("SecretAccessKey: {}", k.secret_access_key);
                    println!();
                    println!("The secret is shown only now. For the AWS CLI and SDKs:");
                    println!("  export AWS_ACCESS_KEY_ID={}", k.access_key_id);
                    println!("  export AWS_SECRET_ACCESS_KEY={}", k.secret_access_key);
                }
            }
            Ok(())
        }
        KeysCommand::List { store } => {
            let keys = store.open()?;
            let list = keys.list()?;
            match store.output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "AccessKeys": list }))?
                ),
                Output::Table => {
                    let mut t = Table::new();
                    t.load_preset(UTF8_FULL_CONDENSED);
                    t.set_header([
                        "ACCESS KEY ID",
                        "STATUS",
                        "CREATED",
                        "REVOKED",
                        "DESCRIPTION",
                    ]);
                    for k in &list {
                        t.add_row([
                            k.access_key_id.clone(),
                            k.status.clone(),
                            time(k.created),
                            k.revoked.map(time).unwrap_or_default(),
                            k.description.clone(),
                        ]);
                    }
                    println!("{t}");
                }
            }
            Ok(())
        }
        KeysCommand::Revoke {
            access_key_id,
            store,
        } => {
            let keys = store.open()?;
            keys.revoke(&access_key_id, now_unix())?;
            match store.output {
                Output::Json => println!("{}", serde_json::json!({ "Revoked": access_key_id })),
                Output::Table => println!("revoked {access_key_id}"),
            }
            Ok(())
        }
    }
}
