//! Function logs: Lambda's platform lines and durable per-function storage.
//!
//! Each function's log lives in `<root>/<function>.log` as JSON lines
//! (`{"time","stream","message"}`); when it grows past the retention size it
//! is rotated once (`.log.1`), so a function keeps between one and two
//! retention sizes of recent output. Writes go through a background task so
//! the invoke path never waits for the disk.

use serde_json::json;
use std::io::{BufRead, Seek, Write};
use std::path::PathBuf;
use tokio::sync::mpsc;

/// One stored log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub time: String,
    pub stream: String,
    pub message: String,
}

enum Command {
    Append {
        function: String,
        stream: String,
        lines: Vec<String>,
    },
    Delete {
        function: String,
    },
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Durable, size-bounded per-function logs.
#[derive(Clone)]
pub struct LogStore {
    root: PathBuf,
    tx: mpsc::UnboundedSender<Command>,
}

impl LogStore {
    /// Opens the store and starts its writer task (needs a tokio runtime).
    pub fn open(root: PathBuf, retention_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Command>();
        let dir = root.clone();
        std::thread::Builder::new()
            .name("flint-logs".into())
            .spawn(move || {
                while let Some(cmd) = rx.blocking_recv() {
                    match cmd {
                        Command::Append {
                            function,
                            stream,
                            lines,
                        } => {
                            if let Err(e) = append(&dir, &function, &stream, &lines, retention_bytes) {
                                tracing::warn!(function, error = %e, "could not write function logs");
                            }
                        }
                        Command::Delete { function } => {
                            let _ = std::fs::remove_file(dir.join(format!("{function}.log")));
                            let _ = std::fs::remove_file(dir.join(format!("{function}.log.1")));
                        }
                        Command::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })?;
        Ok(Self { root, tx })
    }

    pub fn append(&self, function: &str, stream: &str, lines: Vec<String>) {
        let _ = self.tx.send(Command::Append {
            function: function.to_string(),
            stream: stream.to_string(),
            lines,
        });
    }

    pub fn delete(&self, function: &str) {
        let _ = self.tx.send(Command::Delete {
            function: function.to_string(),
        });
    }

    /// Waits until everything appended so far is on disk.
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Command::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Records of `function` from byte `offset` of its current file; returns
    /// them and the offset to continue from. After a rotation the old offset
    /// is past the end, and reading restarts at the top of the new file.
    pub fn read(&self, function: &str, offset: u64) -> std::io::Result<(Vec<LogRecord>, u64)> {
        let path = self.root.join(format!("{function}.log"));
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let start = if offset > len { 0 } else { offset };
        file.seek(std::io::SeekFrom::Start(start))?;
        let mut reader = std::io::BufReader::new(file);
        let mut out = Vec::new();
        let mut pos = start;
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line)?;
            if n == 0 || !line.ends_with('\n') {
                break; // EOF, or a line still being written
            }
            pos += n as u64;
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                out.push(LogRecord {
                    time: v["time"].as_str().unwrap_or_default().to_string(),
                    stream: v["stream"].as_str().unwrap_or_default().to_string(),
                    message: v["message"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
        Ok((out, pos))
    }
}

fn append(
    dir: &std::path::Path,
    function: &str,
    stream: &str,
    lines: &[String],
    retention: u64,
) -> std::io::Result<()> {
    let path = dir.join(format!("{function}.log"));
    if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) > retention {
        std::fs::rename(&path, dir.join(format!("{function}.log.1")))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let time = flint_types::timefmt::now();
    let mut buf = Vec::new();
    for line in lines {
        serde_json::to_writer(
            &mut buf,
            &json!({"time": time, "stream": stream, "message": line}),
        )?;
        buf.push(b'\n');
    }
    file.write_all(&buf)
}

/// `2024/01/31/[$LATEST]<32 hex>`: one stream per execution environment.
pub fn stream_name(version: &str) -> String {
    let date = time::OffsetDateTime::now_utc();
    format!(
        "{:04}/{:02}/{:02}/[{version}]{}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        uuid::Uuid::new_v4().simple()
    )
}

pub fn start_line(request_id: &str, version: &str) -> String {
    format!("START RequestId: {request_id} Version: {version}")
}

pub fn end_line(request_id: &str) -> String {
    format!("END RequestId: {request_id}")
}

/// What a REPORT line reports.
pub struct Report<'a> {
    pub request_id: &'a str,
    pub duration_ms: f64,
    pub memory_size_mb: i64,
    pub max_memory_used_mb: u64,
    pub init_duration_ms: Option<f64>,
    /// `timeout` or `error`, with the error type for `error`.
    pub status: Option<(&'a str, Option<&'a str>)>,
}

/// Lambda's REPORT line: tab separated, with a trailing tab.
pub fn report_line(r: &Report<'_>) -> String {
    let billed = r.duration_ms.ceil().max(1.0) as u64
        + r.init_duration_ms.map(|d| d.ceil() as u64).unwrap_or(0);
    let mut line = format!(
        "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
        r.request_id, r.duration_ms, r.memory_size_mb, r.max_memory_used_mb
    );
    if let Some(init) = r.init_duration_ms {
        line.push_str(&format!("Init Duration: {init:.2} ms\t"));
    }
    if let Some((status, error_type)) = r.status {
        line.push_str(&format!("Status: {status}\t"));
        if let Some(t) = error_type {
            line.push_str(&format!("Error Type: {t}\t"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_match_lambda() {
        let line = report_line(&Report {
            request_id: "id",
            duration_ms: 3.011,
            memory_size_mb: 128,
            max_memory_used_mb: 36,
            init_duration_ms: Some(110.104),
            status: None,
        });
        assert_eq!(
            line,
            "REPORT RequestId: id\tDuration: 3.01 ms\tBilled Duration: 115 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 110.10 ms\t"
        );
        let timeout = report_line(&Report {
            request_id: "id",
            duration_ms: 1000.0,
            memory_size_mb: 128,
            max_memory_used_mb: 20,
            init_duration_ms: None,
            status: Some(("timeout", None)),
        });
        assert!(timeout.ends_with("Max Memory Used: 20 MB\tStatus: timeout\t"));
    }

    #[test]
    fn stream_names_have_lambdas_shape() {
        let s = stream_name("$LATEST");
        assert_eq!(s.len(), "2024/01/31/[$LATEST]".len() + 32);
        assert!(s.contains("/[$LATEST]"));
    }

    #[tokio::test]
    async fn logs_are_stored_rotated_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path().to_path_buf(), 200).unwrap();
        store.append("f", "s1", vec!["hello".into(), "world".into()]);
        store.flush().await;
        let (records, offset) = store.read("f", 0).unwrap();
        assert_eq!(
            records
                .iter()
                .map(|r| r.message.as_str())
                .collect::<Vec<_>>(),
            ["hello", "world"]
        );
        assert_eq!(records[0].stream, "s1");
        store.append("f", "s1", vec!["x".repeat(300)]);
        store.append("f", "s2", vec!["after rotation".into()]);
        store.flush().await;
        let (records, _) = store.read("f", offset).unwrap();
        assert_eq!(records.last().unwrap().message, "after rotation");
        assert!(dir.path().join("f.log.1").exists());
    }
}
