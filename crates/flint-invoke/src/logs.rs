//! Function logs: Lambda's platform lines, the log tail, and durable per-function storage
//! (`store.rs`: segments bounded by the retention, written by a background thread, read in
//! pages).

mod store;

pub use store::{LogPage, LogRecord, LogStore, PAGE_BYTES};

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
pub fn log_tail<'a>(lines: impl IntoIterator<Item = &'a String>) -> String {
    use base64::Engine;
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
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
}
