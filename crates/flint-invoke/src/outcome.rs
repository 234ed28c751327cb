//! What an invocation returns to the caller.

use bytes::Bytes;
use serde_json::json;

/// The result of a synchronous invocation that ran (successfully or not).
#[derive(Debug, Clone)]
pub struct InvokeOutput {
    /// The response body, or the error body when `function_error`.
    pub body: Bytes,
    /// `X-Amz-Function-Error: Unhandled` when set.
    pub function_error: bool,
    /// `X-Amz-Executed-Version`.
    pub executed_version: String,
    /// `X-Amz-Log-Result` (base64 of the last 4 KB of the log) when asked for.
    pub log_result: Option<String>,
    /// The runtime's content type, if it gave one.
    pub content_type: Option<String>,
}

/// The body of an error the platform itself reports (timeout, crash, ...).
pub fn platform_error_body(error_type: &str, message: &str) -> Bytes {
    Bytes::from(
        serde_json::to_vec(&json!({"errorType": error_type, "errorMessage": message}))
            .expect("error bodies serialize"),
    )
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
    use base64::Engine;

    #[test]
    fn tail_keeps_the_last_4kb() {
        let lines: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(log_tail(&lines))
            .unwrap();
        assert_eq!(decoded.len(), 4096);
        assert!(String::from_utf8_lossy(&decoded).ends_with("line 999\n"));
    }
}
