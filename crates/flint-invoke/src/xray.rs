//! X-Ray trace headers: the `Lambda-Runtime-Trace-Id` each invocation carries
//! (`Root=1-<8 hex seconds>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>`), which the managed
//! runtimes put in `_X_AMZN_TRACE_ID`.
//!
//! As on Lambda, a caller's `X-Amzn-Trace-Id` is continued, not replaced: its `Root` is
//! kept, `Parent` is the invocation's own segment, and its `Sampled` decision is honoured.
//! Without an upstream decision, the function's `TracingConfig` decides: `Active` samples,
//! `PassThrough` does not. Pure: the clock and the random bits are passed in.

/// The function's `TracingConfig.Mode` (`PassThrough` when unset, as Lambda reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TracingMode {
    Active,
    PassThrough,
}

impl TracingMode {
    pub(crate) fn of(mode: Option<&str>) -> Self {
        match mode {
            Some("Active") => TracingMode::Active,
            _ => TracingMode::PassThrough,
        }
    }
}

/// The fields of a caller's trace header that an invocation continues.
#[derive(Debug, Default, PartialEq, Eq)]
struct Upstream<'a> {
    /// A well-formed `Root` (`1-<8 hex>-<24 hex>`).
    root: Option<&'a str>,
    /// `Sampled=1` / `Sampled=0`; `None` when absent or undecided (`?`).
    sampled: Option<bool>,
}

/// Reads `Root` and `Sampled` out of `header` (`Root=…;Parent=…;Sampled=…`, fields in any
/// order, unknown fields ignored). A malformed root is no root: the trace starts afresh.
fn upstream(header: &str) -> Upstream<'_> {
    let mut up = Upstream::default();
    for field in header.split(';') {
        let Some((key, value)) = field.trim().split_once('=') else {
            continue;
        };
        match key.trim() {
            "Root" if is_root(value.trim()) => up.root = Some(value.trim()),
            "Sampled" => {
                up.sampled = match value.trim() {
                    "1" => Some(true),
                    "0" => Some(false),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    up
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `1-<8 hex>-<24 hex>`.
fn is_root(s: &str) -> bool {
    let mut parts = s.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("1"), Some(secs), Some(id), None) if is_hex(secs, 8) && is_hex(id, 24)
    )
}

/// Random bits for one header: 12 bytes of a new root's id and 8 of the parent segment.
pub(crate) type Entropy = [u8; 20];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The invocation's trace header, continuing `caller` when it names a root.
pub(crate) fn trace_header(
    caller: Option<&str>,
    mode: TracingMode,
    now_secs: u64,
    random: Entropy,
) -> String {
    let up = caller.map(upstream).unwrap_or_default();
    let root = match up.root {
        Some(root) => root.to_string(),
        None => format!("1-{:08x}-{}", now_secs as u32, hex(&random[..12])),
    };
    let sampled = up.sampled.unwrap_or(mode == TracingMode::Active);
    format!(
        "Root={root};Parent={};Sampled={}",
        hex(&random[12..]),
        u8::from(sampled)
    )
}

/// A trace header for an invocation now.
pub(crate) fn new_trace_header(caller: Option<&str>, mode: TracingMode) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    trace_header(caller, mode, now, rand::random())
}

/// The line Lambda logs after REPORT for a sampled invocation:
/// `XRAY TraceId: <root>\tSegmentId: <parent>\tSampled: true`; `None` when not sampled.
pub(crate) fn report_line(header: &str) -> Option<String> {
    let field = |name: &str| {
        header.split(';').find_map(|f| {
            let (k, v) = f.trim().split_once('=')?;
            (k.trim() == name).then(|| v.trim())
        })
    };
    if field("Sampled") != Some("1") {
        return None;
    }
    Some(format!(
        "XRAY TraceId: {}\tSegmentId: {}\tSampled: true",
        field("Root")?,
        field("Parent")?
    ))
}

/// The trace header an HTTP front end (a function URL) hands on: the caller's
/// `X-Amzn-Trace-Id` when it names a root, else a new root (`Root=1-…`). It is the event's
/// `x-amzn-trace-id` and the header the invocation then continues.
pub fn edge_trace_header(caller: Option<&str>) -> String {
    if let Some(caller) = caller.filter(|c| upstream(c).root.is_some()) {
        return caller.trim().to_string();
    }
    let fresh = new_trace_header(None, TracingMode::PassThrough);
    // `Root=…;Parent=…;Sampled=0` → `Root=…`: no segment and no decision yet.
    fresh.split(';').next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANDOM: Entropy = [
        0x5e, 0x1b, 0x4c, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0xaa, 0xbb, 0xcc,
        0xdd, 0xee, 0xff, 0x00, 0x11,
    ];

    #[test]
    fn a_new_trace_has_lambdas_shape_and_the_modes_sampling() {
        assert_eq!(
            trace_header(None, TracingMode::PassThrough, 0x5f84c7a1, RANDOM),
            "Root=1-5f84c7a1-5e1b4c010203040506070809;Parent=aabbccddeeff0011;Sampled=0"
        );
        assert!(
            trace_header(None, TracingMode::Active, 0x5f84c7a1, RANDOM).ends_with(";Sampled=1")
        );
    }

    #[test]
    fn a_callers_trace_is_continued_with_a_new_parent_and_its_decision() {
        let caller = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1";
        assert_eq!(
            trace_header(Some(caller), TracingMode::PassThrough, 1, RANDOM),
            "Root=1-67891233-abcdef012345678912345678;Parent=aabbccddeeff0011;Sampled=1"
        );
        // An upstream "not sampled" wins over Active, as X-Ray's decisions travel downstream.
        let unsampled = "Sampled=0; Root=1-67891233-abcdef012345678912345678";
        assert!(
            trace_header(Some(unsampled), TracingMode::Active, 1, RANDOM).ends_with(
                "Root=1-67891233-abcdef012345678912345678;Parent=aabbccddeeff0011;Sampled=0"
            )
        );
        // No decision upstream (`?` or absent): the function's mode decides.
        let undecided = "Root=1-67891233-abcdef012345678912345678;Sampled=?";
        assert!(trace_header(Some(undecided), TracingMode::Active, 1, RANDOM).ends_with("=1"));
        assert!(trace_header(Some(undecided), TracingMode::PassThrough, 1, RANDOM).ends_with("=0"));
    }

    #[test]
    fn a_malformed_root_starts_a_new_trace() {
        for bad in [
            "Root=2-67891233-abcdef012345678912345678",
            "Root=1-6789123-abcdef012345678912345678",
            "Root=1-67891233-abcdef01234567891234567z",
            "Root=1-67891233-abcdef012345678912345678-00",
            "garbage",
            "",
        ] {
            let header = trace_header(Some(bad), TracingMode::PassThrough, 0x10, RANDOM);
            assert!(
                header.starts_with("Root=1-00000010-5e1b4c010203040506070809;"),
                "{bad}: {header}"
            );
        }
    }

    #[test]
    fn a_front_end_keeps_a_callers_root_or_starts_one() {
        let caller = "Root=1-67891233-abcdef012345678912345678;Sampled=1";
        assert_eq!(edge_trace_header(Some(caller)), caller);
        for header in [edge_trace_header(None), edge_trace_header(Some("Root=bad"))] {
            let root = header.strip_prefix("Root=").unwrap();
            assert!(is_root(root), "{header}");
        }
    }

    #[test]
    fn a_sampled_invocation_gets_an_xray_line_after_report() {
        let sampled = "Root=1-67891233-abcdef012345678912345678;Parent=aabbccddeeff0011;Sampled=1";
        assert_eq!(
            report_line(sampled).as_deref(),
            Some(
                "XRAY TraceId: 1-67891233-abcdef012345678912345678\tSegmentId: aabbccddeeff0011\tSampled: true"
            )
        );
        assert_eq!(
            report_line(&sampled.replace("Sampled=1", "Sampled=0")),
            None
        );
    }

    #[test]
    fn modes_are_read_as_lambda_reports_them() {
        assert_eq!(TracingMode::of(Some("Active")), TracingMode::Active);
        assert_eq!(
            TracingMode::of(Some("PassThrough")),
            TracingMode::PassThrough
        );
        assert_eq!(TracingMode::of(None), TracingMode::PassThrough);
    }
}
