//! The `flint` server under test: the real binary on a temporary data dir.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct FlintServer {
    child: Option<Child>,
    pub addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl FlintServer {
    /// Starts `flint serve --listen 127.0.0.1:0` and reads the address it
    /// announces on its first stdout line.
    pub fn start(bin: &Path) -> anyhow::Result<FlintServer> {
        Self::start_with(bin, &[])
    }

    /// Like [`FlintServer::start`], with further `serve` options.
    pub fn start_with(bin: &Path, extra: &[&str]) -> anyhow::Result<FlintServer> {
        let data = tempfile::Builder::new()
            .prefix("flint-bench-")
            .tempdir()
            .context("creating the data directory")?;
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .args(extra)
            .env("FLINT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("flint did not announce its address: {other:?}");
            }
        };
        let addr = line
            .strip_prefix("flint listening on http://")
            .with_context(|| format!("unexpected first line from flint: {line:?}"))?
            .trim()
            .parse()
            .with_context(|| format!("parsing the address in {line:?}"))?;
        Ok(FlintServer {
            child: Some(child),
            addr,
            _data: data,
        })
    }

    /// Stops the server with SIGTERM (a clean shutdown).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own, not yet reaped, child.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            for _ in 0..200 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for FlintServer {
    fn drop(&mut self) {
        self.stop();
    }
}
