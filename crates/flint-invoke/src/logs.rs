//! Function logs: Lambda's platform lines and durable per-function storage.
//!
//! Each function's log lives in `<root>/<function>.log` as JSON lines
//! (`{"time","stream","message"}`); when it grows past the retention size it
//! is rotated once (`.log.1`), so a function keeps between one and two
//! retention sizes of recent output. Writes go through a background task so
//! the invoke path never waits for the disk.

use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::io::{BufRead, Seek, Write};
use std::path::PathBuf;

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

/// How long the writer lets appends accumulate after the first one wakes
/// it: back-to-back invocations then cost one wake-up and one write per
/// batch instead of one each (a thread wake-up per invoke was a measurable
/// share of warm latency on a 2-core host). Bounds how late a line reaches
/// the disk; [`LogStore::flush`] still waits for everything before it.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(2);

/// Open log files kept by the writer (beyond this, all are closed and
/// reopened on demand).
const MAX_OPEN_FILES: usize = 256;

#[derive(Default)]
struct Queue {
    commands: Vec<Command>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    fn push(&self, cmd: Command) {
        let mut q = self.queue.lock();
        let was_empty = q.commands.is_empty();
        q.commands.push(cmd);
        drop(q);
        // Only the first command of a batch needs to wake the writer.
        if was_empty {
            self.wake.notify_one();
        }
    }
}

/// Stops the writer once the last handle of the store is gone.
struct Writer(std::sync::Arc<Shared>);

impl Drop for Writer {
    fn drop(&mut self) {
        self.0.queue.lock().closed = true;
        self.0.wake.notify_one();
    }
}

/// Durable, size-bounded per-function logs.
#[derive(Clone)]
pub struct LogStore {
    root: PathBuf,
    writer: std::sync::Arc<Writer>,
}

/// The writer thread's open files: handle and current size per function.
struct OpenFiles {
    dir: PathBuf,
    retention: u64,
    files: HashMap<String, (std::fs::File, u64)>,
}

impl OpenFiles {
    fn append(&mut self, function: &str, stream: &str, lines: &[String]) -> std::io::Result<()> {
        let time = flint_types::timefmt::now();
        let mut buf = Vec::new();
        for line in lines {
            serde_json::to_writer(
                &mut buf,
                &Record {
                    time: &time,
                    stream,
                    message: line,
                },
            )?;
            buf.push(b'\n');
        }
        let path = self.dir.join(format!("{function}.log"));
        if let Some((_, size)) = self.files.get(function)
            && *size > self.retention
        {
            self.files.remove(function);
            std::fs::rename(&path, self.dir.join(format!("{function}.log.1")))?;
        }
        if !self.files.contains_key(function) {
            if self.files.len() >= MAX_OPEN_FILES {
                self.files.clear();
            }
            if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) > self.retention {
                std::fs::rename(&path, self.dir.join(format!("{function}.log.1")))?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            let size = file.metadata()?.len();
            self.files.insert(function.to_string(), (file, size));
        }
        let (file, size) = self.files.get_mut(function).expect("opened above");
        let written = file.write_all(&buf);
        if written.is_err() {
            // Reopen next time rather than trust a handle that failed.
            self.files.remove(function);
        } else {
            *size += buf.len() as u64;
        }
        written
    }

    fn delete(&mut self, function: &str) {
        self.files.remove(function);
        let _ = std::fs::remove_file(self.dir.join(format!("{function}.log")));
        let _ = std::fs::remove_file(self.dir.join(format!("{function}.log.1")));
    }
}

/// One stored line, as written (field order: time, stream, message).
#[derive(serde::Serialize)]
struct Record<'a> {
    time: &'a str,
    stream: &'a str,
    message: &'a str,
}

fn run_writer(shared: std::sync::Arc<Shared>, mut files: OpenFiles) {
    loop {
        let batch = {
            let mut q = shared.queue.lock();
            while q.commands.is_empty() && !q.closed {
                shared.wake.wait(&mut q);
            }
            if q.commands.is_empty() {
                return; // closed and drained
            }
            let flush_waiting = q.commands.iter().any(|c| matches!(c, Command::Flush(_)));
            if !flush_waiting && !q.closed {
                drop(q);
                std::thread::sleep(BATCH_WINDOW);
                q = shared.queue.lock();
            }
            std::mem::take(&mut q.commands)
        };
        for cmd in batch {
            match cmd {
                Command::Append {
                    function,
                    stream,
                    lines,
                } => {
                    if let Err(e) = files.append(&function, &stream, &lines) {
                        tracing::warn!(function, error = %e, "could not write function logs");
                    }
                }
                Command::Delete { function } => files.delete(&function),
                Command::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }
}

impl LogStore {
    /// Opens the store and starts its writer thread.
    pub fn open(root: PathBuf, retention_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        let shared = std::sync::Arc::new(Shared::default());
        let files = OpenFiles {
            dir: root.clone(),
            retention: retention_bytes,
            files: HashMap::new(),
        };
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("flint-logs".into())
            .spawn(move || run_writer(thread_shared, files))?;
        Ok(Self {
            root,
            writer: std::sync::Arc::new(Writer(shared)),
        })
    }

    pub fn append(&self, function: &str, stream: &str, lines: Vec<String>) {
        self.writer.0.push(Command::Append {
            function: function.to_string(),
            stream: stream.to_string(),
            lines,
        });
    }

    pub fn delete(&self, function: &str) {
        self.writer.0.push(Command::Delete {
            function: function.to_string(),
        });
    }

    /// Waits until everything appended so far is on disk.
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writer.0.push(Command::Flush(tx));
        let _ = rx.await;
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

/// REPORT's `Status:` of an invocation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Timeout,
    Error,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Timeout => "timeout",
            Status::Error => "error",
        }
    }
}

/// REPORT's `Status:` and, when there is one, `Error Type:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportedFailure<'a> {
    pub status: Status,
    pub error_type: Option<&'a str>,
}

/// What a REPORT line reports.
pub struct Report<'a> {
    pub request_id: &'a str,
    pub duration_ms: f64,
    pub memory_size_mb: i64,
    pub max_memory_used_mb: u64,
    pub init_duration_ms: Option<f64>,
    /// Set when the invocation failed.
    pub failure: Option<ReportedFailure<'a>>,
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
    if let Some(failure) = r.failure {
        line.push_str(&format!("Status: {}\t", failure.status.as_str()));
        if let Some(t) = failure.error_type {
            line.push_str(&format!("Error Type: {t}\t"));
        }
    }
    line
}

/// `X-Amz-Log-Result`: base64 of the last 4 KB of the invocation's log.
pub fn log_tail(lines: &[String]) -> String {
    use base64::Engine;
    let mut text = lines.join("\n");
    text.push('\n');
    let bytes = text.as_bytes();
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    base64::engine::general_purpose::STANDARD.encode(tail)
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
            failure: None,
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
            failure: Some(ReportedFailure {
                status: Status::Timeout,
                error_type: None,
            }),
        });
        assert!(timeout.ends_with("Max Memory Used: 20 MB\tStatus: timeout\t"));
        let error = report_line(&Report {
            request_id: "id",
            duration_ms: 0.4,
            memory_size_mb: 128,
            max_memory_used_mb: 20,
            init_duration_ms: None,
            failure: Some(ReportedFailure {
                status: Status::Error,
                error_type: Some("Runtime.ExitError"),
            }),
        });
        assert!(error.contains("\tBilled Duration: 1 ms\t"), "{error}");
        assert!(error.ends_with("\tStatus: error\tError Type: Runtime.ExitError\t"));
    }

    #[test]
    fn tail_keeps_the_last_4kb() {
        use base64::Engine;
        let lines: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(log_tail(&lines))
            .unwrap();
        assert_eq!(decoded.len(), 4096);
        assert!(String::from_utf8_lossy(&decoded).ends_with("line 999\n"));
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
