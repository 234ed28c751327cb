//! Durable, size-bounded per-function logs.
//!
//! A function's log is a sequence of segments, `<root>/<function>/<start>.log`, each a file
//! of JSON lines (`{"time","stream","message"}`) whose name is the offset of its first byte
//! in the function's whole log (20 digits, so names sort by offset). Offsets only grow: a
//! reader's position stays valid across rotations. The writer starts a new segment before a
//! record would take the current one past the segment size, and then deletes the oldest
//! segments while the log is over its retention, so a function never has more than its
//! retention plus one segment on disk.
//!
//! Writes go through one background thread so the invoke path never waits for the disk; the
//! bytes queued for it are bounded ([`LogStore::wait_for_room`]), so a function printing faster
//! than the disk takes it is slowed down instead of growing flint's memory.

use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One stored log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub time: String,
    pub stream: String,
    pub message: String,
}

/// A page of a function's log (see [`LogStore::read`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LogPage {
    pub records: Vec<LogRecord>,
    /// Where the next page starts.
    pub next_offset: u64,
    /// Whether more complete records follow this page now.
    pub more: bool,
}

enum Command {
    Append {
        function: String,
        stream: String,
        lines: Vec<String>,
        /// What the lines were counted as in [`Shared::queued_bytes`].
        bytes: u64,
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

/// Functions whose current segment the writer keeps open (beyond this, all are closed and
/// reopened on demand).
const MAX_OPEN_FUNCTIONS: usize = 256;

/// Bytes of lines queued for the writer beyond which [`LogStore::wait_for_room`] waits.
const MAX_QUEUED_BYTES: u64 = 4 * 1024 * 1024;

/// The file beside a function's segments holding its retention in days.
const RETENTION_FILE: &str = "retention-days";

/// The file beside a function's segments naming the streams DeleteLogStream removed.
const DELETED_STREAMS_FILE: &str = "deleted-streams";

/// The largest page [`LogStore::read`] returns, in stored bytes (at least one record).
pub const PAGE_BYTES: u64 = 1024 * 1024;

/// The segment size for a retention: a quarter of it, within 64 KiB and 8 MiB.
fn segment_bytes(retention: u64) -> u64 {
    (retention / 4).clamp(64 * 1024, 8 * 1024 * 1024)
}

#[derive(Default)]
struct Queue {
    commands: Vec<Command>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Bytes of lines queued and not yet written.
    queued_bytes: AtomicU64,
    /// Notified whenever the writer finished a batch.
    room: tokio::sync::Notify,
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
struct Writer(Arc<Shared>);

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
    writer: Arc<Writer>,
}

/// A segment's file name: its start offset, zero-padded so names sort by offset.
fn segment_name(start: u64) -> String {
    format!("{start:020}.log")
}

/// The segments of the log in `dir`, `(start, length)` by offset.
fn list_segments(dir: &Path) -> std::io::Result<Vec<(u64, u64)>> {
    let mut segments = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(segments),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(start) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        match entry.metadata() {
            Ok(m) => segments.push((start, m.len())),
            // Deleted by the writer between the listing and now.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

/// The writer's view of one function's log: its segments and the current one's file.
struct FunctionLog {
    dir: PathBuf,
    /// `(start, length)` of each segment, oldest first; the last is the current one.
    segments: VecDeque<(u64, u64)>,
    current: Option<std::fs::File>,
}

impl FunctionLog {
    fn load(dir: PathBuf) -> std::io::Result<Self> {
        let segments = list_segments(&dir)?.into();
        Ok(Self {
            dir,
            segments,
            current: None,
        })
    }

    fn total(&self) -> u64 {
        self.segments.iter().map(|(_, len)| len).sum()
    }

    fn end(&self) -> u64 {
        self.segments.back().map_or(0, |(start, len)| start + len)
    }

    /// Starts a new (empty) segment at the end of the log, after deleting the oldest
    /// segments while the log is over `retention`.
    fn rotate(&mut self, retention: u64) -> std::io::Result<()> {
        let start = self.end();
        self.current = None;
        let mut total = self.total();
        while total > retention
            && let Some((old, len)) = self.segments.pop_front()
        {
            match std::fs::remove_file(self.dir.join(segment_name(old))) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            total -= len;
        }
        self.drop_expired()?;
        self.segments.push_back((start, 0));
        Ok(())
    }

    /// Deletes the oldest segments whose every record is older than the log's retention in
    /// days (PutRetentionPolicy's file, re-read at each rotation: rotations are rare), judged
    /// by the segment's modification time, the time of its last record.
    fn drop_expired(&mut self) -> std::io::Result<()> {
        let Some(days) = std::fs::read_to_string(self.dir.join(RETENTION_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
        else {
            return Ok(());
        };
        let Some(cutoff) =
            std::time::SystemTime::now().checked_sub(std::time::Duration::from_secs(days * 86_400))
        else {
            return Ok(());
        };
        while let Some(&(old, _)) = self.segments.front() {
            let path = self.dir.join(segment_name(old));
            match std::fs::metadata(&path).and_then(|m| m.modified()) {
                Ok(t) if t < cutoff => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                _ => break,
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            self.segments.pop_front();
        }
        Ok(())
    }

    /// The current segment's file, created (with the directory) when needed.
    fn file(&mut self) -> std::io::Result<&mut std::fs::File> {
        if self.segments.is_empty() {
            self.segments.push_back((0, 0));
        }
        let (start, _) = *self.segments.back().expect("a segment");
        if self.current.is_none() {
            std::fs::create_dir_all(&self.dir)?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(segment_name(start)))?;
            self.current = Some(file);
        }
        Ok(self.current.as_mut().expect("opened above"))
    }

    /// Writes `records` (each one JSON line), rotating between records so that no segment
    /// grows past `segment` bytes (but for a single record larger than that).
    fn write(&mut self, records: &[u8], retention: u64, segment: u64) -> std::io::Result<()> {
        let mut rest = records;
        while !rest.is_empty() {
            let current = self.segments.back().map_or(0, |(_, len)| *len);
            let room = segment.saturating_sub(current);
            // Whole records that fit in the room left (at least one in an empty segment).
            let mut take = 0;
            for (i, b) in rest.iter().enumerate() {
                if *b == b'\n' {
                    if i + 1 > room as usize && (take > 0 || current > 0) {
                        break;
                    }
                    take = i + 1;
                }
            }
            if take == 0 {
                if current == 0 {
                    take = rest.len(); // a record with no newline: never produced
                } else {
                    self.rotate(retention)?;
                    continue;
                }
            }
            let (chunk, after) = rest.split_at(take);
            let written = self.file()?.write_all(chunk);
            if written.is_err() {
                // Reopen next time rather than trust a handle that failed.
                self.current = None;
                self.segments = list_segments(&self.dir)?.into();
                return written;
            }
            if let Some((_, len)) = self.segments.back_mut() {
                *len += chunk.len() as u64;
            }
            rest = after;
        }
        Ok(())
    }
}

/// The writer thread's state: each function's log.
struct Logs {
    root: PathBuf,
    retention: u64,
    segment: u64,
    functions: HashMap<String, FunctionLog>,
}

impl Logs {
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
        if !self.functions.contains_key(function) {
            if self.functions.len() >= MAX_OPEN_FUNCTIONS {
                self.functions.clear();
            }
            let log = FunctionLog::load(self.root.join(function))?;
            self.functions.insert(function.to_string(), log);
        }
        let log = self.functions.get_mut(function).expect("loaded above");
        log.write(&buf, self.retention, self.segment)
    }

    fn delete(&mut self, function: &str) {
        self.functions.remove(function);
        let _ = std::fs::remove_dir_all(self.root.join(function));
    }
}

/// One stored line, as written (field order: time, stream, message).
#[derive(serde::Serialize)]
struct Record<'a> {
    time: &'a str,
    stream: &'a str,
    message: &'a str,
}

/// One stored line, as read (a field missing from an older record reads as empty).
#[derive(serde::Deserialize)]
struct StoredRecord {
    #[serde(default)]
    time: String,
    #[serde(default)]
    stream: String,
    #[serde(default)]
    message: String,
}

fn run_writer(shared: Arc<Shared>, mut logs: Logs) {
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
            let backlog = shared.queued_bytes.load(Ordering::Relaxed) >= MAX_QUEUED_BYTES;
            if !flush_waiting && !backlog && !q.closed {
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
                    bytes,
                } => {
                    if let Err(e) = logs.append(&function, &stream, &lines) {
                        tracing::warn!(function, error = %e, "could not write function logs");
                    }
                    shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                }
                Command::Delete { function } => logs.delete(&function),
                Command::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
        shared.room.notify_waiters();
    }
}

/// Moves the logs of the earlier layout (`<function>.log` and its one rotation
/// `<function>.log.1`) into segments, keeping their order.
fn migrate_flat_logs(root: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(root)? {
        let path = entry?.path();
        if !path.is_file() {
            continue;
        }
        let Some(function) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
        else {
            continue;
        };
        let dir = root.join(function);
        std::fs::create_dir_all(&dir)?;
        let rotated = root.join(format!("{function}.log.1"));
        let mut start = 0;
        if let Ok(m) = std::fs::metadata(&rotated) {
            std::fs::rename(&rotated, dir.join(segment_name(0)))?;
            start = m.len();
        }
        std::fs::rename(&path, dir.join(segment_name(start)))?;
    }
    Ok(())
}

impl LogStore {
    /// Opens the store and starts its writer thread.
    pub fn open(root: PathBuf, retention_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        migrate_flat_logs(&root)?;
        let shared = Arc::new(Shared::default());
        let logs = Logs {
            root: root.clone(),
            retention: retention_bytes,
            segment: segment_bytes(retention_bytes),
            functions: HashMap::new(),
        };
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("flint-logs".into())
            .spawn(move || run_writer(thread_shared, logs))?;
        Ok(Self {
            root,
            writer: Arc::new(Writer(shared)),
        })
    }

    pub fn append(&self, function: &str, stream: &str, lines: Vec<String>) {
        let bytes = lines.iter().map(|l| l.len() as u64 + 1).sum();
        let shared = &self.writer.0;
        shared.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        shared.push(Command::Append {
            function: function.to_string(),
            stream: stream.to_string(),
            lines,
            bytes,
        });
    }

    /// Waits while more than a few MB of lines wait for the writer: a function's output is
    /// read no faster than its log is written.
    pub async fn wait_for_room(&self) {
        let shared = &self.writer.0;
        loop {
            let room = shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if shared.queued_bytes.load(Ordering::Relaxed) < MAX_QUEUED_BYTES {
                return;
            }
            room.await;
        }
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

    /// A page of `function`'s records from `offset`: complete records of at most
    /// `max_bytes` stored bytes (at least one). An offset before the oldest record kept
    /// starts at it; an offset past the end (the function's log was deleted since) starts
    /// again at the beginning.
    pub fn read(&self, function: &str, offset: u64, max_bytes: u64) -> std::io::Result<LogPage> {
        let dir = self.root.join(function);
        let segments = list_segments(&dir)?;
        let (Some(&(first, _)), Some(&(last, last_len))) = (segments.first(), segments.last())
        else {
            return Ok(LogPage {
                records: Vec::new(),
                next_offset: 0,
                more: false,
            });
        };
        let end = last + last_len;
        let mut pos = if offset > end || offset < first {
            first
        } else {
            offset
        };
        let mut records = Vec::new();
        let mut read = 0u64;
        for &(start, len) in &segments {
            if start + len <= pos {
                continue;
            }
            pos = pos.max(start);
            let mut file = match std::fs::File::open(dir.join(segment_name(start))) {
                Ok(f) => f,
                // Deleted by the writer since the listing: its records are gone.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            file.seek(std::io::SeekFrom::Start(pos - start))?;
            let mut reader = std::io::BufReader::new(file);
            let mut line = String::new();
            loop {
                if read >= max_bytes.max(1) {
                    return Ok(LogPage {
                        records,
                        next_offset: pos,
                        more: pos < end,
                    });
                }
                line.clear();
                let n = reader.read_line(&mut line)?;
                if n == 0 || !line.ends_with('\n') {
                    break; // the segment's end, or a record still being written
                }
                pos += n as u64;
                read += n as u64;
                // Straight into the record (no `Value` tree): a whole log is read this way
                // for every FilterLogEvents.
                if let Ok(r) = serde_json::from_str::<StoredRecord>(&line) {
                    records.push(LogRecord {
                        time: r.time,
                        stream: r.stream,
                        message: r.message,
                    });
                }
            }
        }
        Ok(LogPage {
            records,
            next_offset: pos,
            more: false,
        })
    }

    /// The functions that have a log on disk (the CloudWatch Logs view's log groups).
    pub fn functions(&self) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            if entry.file_type()?.is_dir()
                && let Some(name) = entry.file_name().to_str()
            {
                names.push(name.to_string());
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    /// Every record of `function`'s log kept now, oldest first (read page by page).
    pub fn read_all(&self, function: &str) -> std::io::Result<Vec<LogRecord>> {
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let page = self.read(function, offset, PAGE_BYTES)?;
            let done = !page.more || page.next_offset <= offset;
            all.extend(page.records);
            offset = page.next_offset;
            if done {
                return Ok(all);
            }
        }
    }

    /// The retention in days PutRetentionPolicy set for `function`'s log (a small file beside
    /// its segments, which `list_segments` ignores), if any.
    pub fn retention_days(&self, function: &str) -> Option<u32> {
        std::fs::read_to_string(self.root.join(function).join(RETENTION_FILE))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Sets (or with `None` removes) the retention in days of `function`'s log.
    pub fn set_retention_days(&self, function: &str, days: Option<u32>) -> std::io::Result<()> {
        let dir = self.root.join(function);
        let path = dir.join(RETENTION_FILE);
        match days {
            Some(d) => {
                std::fs::create_dir_all(&dir)?;
                std::fs::write(path, d.to_string())
            }
            None => match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }

    /// The streams DeleteLogStream removed from `function`'s log: their records stay in
    /// the segments until rotation drops them, but are never shown again.
    pub fn deleted_streams(&self, function: &str) -> std::collections::HashSet<String> {
        std::fs::read_to_string(self.root.join(function).join(DELETED_STREAMS_FILE))
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Hides `stream` of `function`'s log from now on (see [`LogStore::deleted_streams`]).
    pub fn delete_stream(&self, function: &str, stream: &str) -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join(function).join(DELETED_STREAMS_FILE))?;
        writeln!(f, "{stream}")
    }

    /// The offset just past `function`'s last stored byte (where a follower starts reading
    /// to see only what comes next).
    pub fn end_offset(&self, function: &str) -> std::io::Result<u64> {
        Ok(list_segments(&self.root.join(function))?
            .last()
            .map_or(0, |(start, len)| start + len))
    }

    /// Bytes of `function`'s log on disk now.
    pub fn disk_bytes(&self, function: &str) -> std::io::Result<u64> {
        Ok(list_segments(&self.root.join(function))?
            .iter()
            .map(|(_, len)| len)
            .sum())
    }
}

#[cfg(test)]
mod tests;
