//! A function's stdout/stderr pipe, read through a bounded buffer.
//!
//! The bytes are split into lines as Lambda splits them: at each newline, and a line longer
//! than a CloudWatch Logs event (256 KB less its 26 bytes of overhead) is cut into pieces of
//! that size (at a UTF-8 boundary). Lines wait in memory only up to [`SPILL_BYTES`]; beyond
//! that they go to the function's log store in order, and reading waits while the store's
//! writer is behind, so a function printing hundreds of MB costs flint a few MB of memory and
//! is slowed to the disk's pace instead. The router puts its own lines (START, the init's
//! output) in the same buffer ([`Output::push_lines`]), so the order on disk is the
//! invocation's.

use crate::logs::LogStore;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

/// The longest line Lambda keeps whole: a CloudWatch Logs event is at most 256 KB including
/// 26 bytes of overhead, and Lambda cuts longer output lines into events of this size.
pub(crate) const MAX_LINE: usize = 256 * 1024 - 26;

/// Bytes of lines kept in memory before they are handed to the log store.
const SPILL_BYTES: usize = 256 * 1024;

/// At most this much is read without waiting after an invocation ends (more than any pipe
/// holds): a function still printing cannot keep flint draining forever.
const DRAIN_LIMIT: usize = 4 * 1024 * 1024;

/// `X-Amz-Log-Result`'s size: the log store keeps the last lines spilled that cover it.
const TAIL_BYTES: usize = 4096;

/// Where spilled lines go: the function's log, under the environment's stream.
pub(crate) struct LogSink {
    pub store: LogStore,
    pub function: String,
    pub stream: String,
}

/// Bytes split into lines with Lambda's limit.
#[derive(Default)]
pub(crate) struct Lines {
    partial: Vec<u8>,
    lines: Vec<String>,
    bytes: usize,
}

/// The largest `n <= limit` that does not cut a UTF-8 sequence of `bytes` (`limit` when
/// the bytes are not UTF-8 there).
fn char_boundary(bytes: &[u8], limit: usize) -> usize {
    (limit.saturating_sub(3)..=limit)
        .rev()
        .find(|&i| i == bytes.len() || bytes.get(i).is_some_and(|b| (b & 0xC0) != 0x80))
        .filter(|&i| i > 0)
        .unwrap_or(limit)
}

impl Lines {
    pub(crate) fn push(&mut self, mut data: &[u8]) {
        while let Some(pos) = data.iter().position(|&b| b == b'\n') {
            self.extend_partial(&data[..pos]);
            let line = std::mem::take(&mut self.partial);
            let text = String::from_utf8_lossy(&line);
            self.push_line(text.trim_end_matches('\r').to_string());
            self.partial = line;
            self.partial.clear();
            data = &data[pos + 1..];
        }
        self.extend_partial(data);
    }

    /// Adds bytes of a line not yet ended, cutting off pieces of [`MAX_LINE`] bytes.
    fn extend_partial(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        while self.partial.len() > MAX_LINE {
            let cut = char_boundary(&self.partial, MAX_LINE);
            let piece = String::from_utf8_lossy(&self.partial[..cut]).into_owned();
            self.partial.drain(..cut);
            self.push_line(piece);
        }
    }

    fn push_line(&mut self, line: String) {
        self.bytes += line.len() + 1;
        self.lines.push(line);
    }

    /// The lines so far, and a trailing partial line.
    pub(crate) fn take(&mut self) -> Vec<String> {
        if !self.partial.is_empty() {
            let text = String::from_utf8_lossy(&self.partial).into_owned();
            self.partial.clear();
            self.push_line(text);
        }
        self.bytes = 0;
        std::mem::take(&mut self.lines)
    }
}

/// The function's output pipe and what was read from it.
pub(crate) struct Output {
    pipe: pipe::Receiver,
    /// Read buffer, allocated once per environment rather than per invocation.
    buf: Box<[u8]>,
    text: Lines,
    sink: LogSink,
    /// The last lines handed to the store since [`Output::take_spilled_tail`], enough to
    /// cover the log tail.
    spilled_tail: std::collections::VecDeque<String>,
    spilled_tail_bytes: usize,
}

impl Output {
    pub(crate) fn new(pipe: pipe::Receiver, sink: LogSink) -> Self {
        Self {
            pipe,
            buf: vec![0u8; 16 * 1024].into_boxed_slice(),
            text: Lines::default(),
            sink,
            spilled_tail: Default::default(),
            spilled_tail_bytes: 0,
        }
    }

    /// Waits for output and splits what arrived into lines; past [`SPILL_BYTES`] they go to
    /// the store, and this waits while the store's writer is behind. Cancel-safe: what was
    /// read is kept.
    pub(crate) async fn read_some(&mut self) {
        if let Ok(n) = self.pipe.read(&mut self.buf).await
            && n > 0
        {
            self.text.push(&self.buf[..n]);
            if self.text.bytes >= SPILL_BYTES {
                self.spill();
                self.sink.store.wait_for_room().await;
            }
        }
    }

    /// Reads whatever is already in the pipe, without waiting. The runtime wrote its output
    /// before it posted the response, so after the outcome this collects all of the
    /// invocation's output.
    pub(crate) fn drain(&mut self) {
        let mut read = 0;
        while read < DRAIN_LIMIT {
            match self.pipe.try_read(&mut self.buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    read += n;
                    self.text.push(&self.buf[..n]);
                    if self.text.bytes >= SPILL_BYTES {
                        self.spill();
                    }
                }
            }
        }
    }

    /// Lines the router writes in the invocation's order (START, the init's output).
    pub(crate) fn push_lines(&mut self, lines: Vec<String>) {
        for line in lines {
            self.text.push_line(line);
        }
    }

    /// Hands the complete lines so far to the store, keeping the last ones for the tail.
    fn spill(&mut self) {
        let partial = std::mem::take(&mut self.text.partial);
        let lines = self.text.take();
        self.text.partial = partial;
        // The newest lines of this batch that cover the tail, after the earlier ones.
        let mut from = lines.len();
        let mut covered = 0;
        while from > 0 && covered < TAIL_BYTES {
            from -= 1;
            covered += lines[from].len() + 1;
        }
        for line in &lines[from..] {
            self.spilled_tail_bytes += line.len() + 1;
            self.spilled_tail.push_back(line.clone());
        }
        // Keep only what the newest lines need: drop older ones that no longer count.
        while self.spilled_tail.len() > 1 {
            let oldest = self.spilled_tail.front().map_or(0, |l| l.len() + 1);
            if self.spilled_tail_bytes - oldest < TAIL_BYTES {
                break;
            }
            self.spilled_tail_bytes -= oldest;
            self.spilled_tail.pop_front();
        }
        self.sink
            .store
            .append(&self.sink.function, &self.sink.stream, lines);
    }

    /// The lines read (and pushed) since the last call and not yet spilled.
    pub(crate) fn take(&mut self) -> Vec<String> {
        self.text.take()
    }

    /// The last lines spilled since the last call (for the log tail).
    pub(crate) fn take_spilled_tail(&mut self) -> Vec<String> {
        self.spilled_tail_bytes = 0;
        std::mem::take(&mut self.spilled_tail).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(chunks: &[&[u8]]) -> Vec<String> {
        let mut lines = Lines::default();
        for c in chunks {
            lines.push(c);
        }
        lines.take()
    }

    #[test]
    fn output_is_split_at_newlines_across_reads() {
        assert_eq!(
            lines_of(&[b"one\ntw", b"o\r\n\nthr", b"ee"]),
            ["one", "two", "", "three"]
        );
    }

    #[test]
    fn lines_longer_than_lambdas_limit_are_cut_into_events_of_its_size() {
        let long = vec![b'a'; MAX_LINE * 2 + 10];
        let chunks: Vec<&[u8]> = long.chunks(16 * 1024).chain([&b"\nnext\n"[..]]).collect();
        let lines = lines_of(&chunks);
        assert_eq!(
            lines.iter().map(String::len).collect::<Vec<_>>(),
            [MAX_LINE, MAX_LINE, 10, 4]
        );
        // A line of exactly the limit stays whole.
        let exact = [vec![b'b'; MAX_LINE], b"\n".to_vec()].concat();
        assert_eq!(lines_of(&[&exact]).len(), 1);
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        // "é" is two bytes: a run of them crosses the limit mid-character at an odd offset.
        let mut text = vec![b'x'];
        text.extend("é".repeat(MAX_LINE).as_bytes());
        text.push(b'\n');
        let lines = lines_of(&[&text]);
        assert!(lines.len() > 1);
        assert!(
            lines.iter().all(|l| !l.contains('\u{FFFD}')),
            "a character was cut"
        );
        assert_eq!(lines[0].len(), MAX_LINE - 1);
        assert_eq!(lines.concat().len(), text.len() - 1);
    }
}
