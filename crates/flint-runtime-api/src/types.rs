//! Values exchanged with the invoke layer.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::mpsc;

/// Largest buffered response (and error body) a runtime may post: 6 MiB + 100 B, the figure AWS
/// enforces on the runtime side (`lambda-facts.md` §2.3).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 6_291_556;

/// Largest streamed response body (200 MB, `lambda-facts.md` §2.3).
pub const DEFAULT_MAX_STREAMING_BYTES: usize = 200 * 1024 * 1024;

/// Limits of one Runtime API instance.
#[derive(Debug, Clone)]
pub struct RuntimeApiConfig {
    /// Maximum size of a buffered `/response` body and of an `/error` or `/init/error` body.
    /// A larger `/response` is answered 413 and the invocation ends with
    /// [`InvokeOutcome::ResponseTooLarge`]. Never more than this is held in memory.
    pub max_response_bytes: usize,
    /// Maximum total size of a streamed response; beyond it the stream ends with
    /// [`StreamError::TooLarge`].
    pub max_streaming_bytes: usize,
    /// Chunks a streamed response may buffer between the runtime's connection and a slow reader
    /// of [`ResponseStream`] before the runtime's upload is back-pressured.
    pub streaming_channel_chunks: usize,
    /// Most connections served at once. The runtime is untrusted code: without a cap it could
    /// open connections until the *server* process runs out of file descriptors. Beyond the cap
    /// new connections wait in the kernel's accept backlog (costing the server nothing) until
    /// one closes. Runtime clients use one or two; extensions will add a few.
    pub max_connections: usize,
    /// Largest request head (request line + headers) accepted, in bytes. Must hold a
    /// `Lambda-Runtime-Function-XRay-Error-Cause` header, which clients send up to 1 MiB.
    pub max_header_bytes: usize,
    /// What the Extensions API tells extensions, and which external extensions to expect.
    pub extensions: ExtensionsConfig,
}

/// The function as the Extensions API's `register` answers it, and the environment's external
/// extensions (the file names of `/opt/extensions`). Empty by default: no extension expected,
/// and internal ones may still register during init.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionsConfig {
    /// `functionName`.
    pub function_name: String,
    /// `functionVersion` (`$LATEST` or a number).
    pub function_version: String,
    /// `handler`.
    pub handler: String,
    /// `accountId`, sent to extensions that register with `Lambda-Extension-Accept-Feature: accountId`.
    pub account_id: String,
    /// External extensions that must register before init can end.
    pub external: Vec<String>,
}

impl Default for RuntimeApiConfig {
    fn default() -> Self {
        Self {
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_streaming_bytes: DEFAULT_MAX_STREAMING_BYTES,
            streaming_channel_chunks: 16,
            max_connections: 16,
            max_header_bytes: 1024 * 1024 + 16 * 1024,
            extensions: ExtensionsConfig::default(),
        }
    }
}

/// One event to hand to the runtime, with everything `GET /next` reports about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`; non-empty, no `/` (it becomes a path segment).
    pub request_id: String,
    /// The raw event, sent as the `/next` body unchanged.
    pub payload: Bytes,
    /// `Lambda-Runtime-Deadline-Ms`: the *absolute* deadline in Unix epoch milliseconds (not a
    /// duration — runtimes compute remaining time as `deadline - now`).
    pub deadline_ms: u64,
    /// `Lambda-Runtime-Invoked-Function-Arn`: the ARN the caller used, with qualifier.
    pub invoked_function_arn: String,
    /// `Lambda-Runtime-Trace-Id` (X-Ray header), sent only when set.
    pub trace_id: Option<String>,
    /// `Lambda-Runtime-Client-Context`: the client context JSON already decoded from the
    /// caller's base64, compact (one line), sent only when set.
    pub client_context: Option<String>,
    /// `Lambda-Runtime-Cognito-Identity` JSON, sent only when set.
    pub cognito_identity: Option<String>,
    /// `Lambda-Runtime-Aws-Tenant-Id`, sent only when set.
    pub tenant_id: Option<String>,
    /// `Content-Type` of the event; `application/json` when `None`. A content type is always
    /// sent because the Python runtime interface client crashes without one.
    pub content_type: Option<String>,
}

/// How the runtime's initialization ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    /// The runtime called `GET /next` for the first time: init is complete.
    Ready,
    /// The runtime posted `/runtime/init/error`.
    InitError {
        /// `Lambda-Runtime-Function-Error-Type` as sent (e.g. `Runtime.ImportModuleError`),
        /// `Runtime.Unknown` when absent.
        error_type: String,
        /// The posted body, verbatim (usually `{"errorMessage","errorType","stackTrace",…}`).
        /// Empty if the body was larger than `max_response_bytes` or truncated.
        body: Bytes,
    },
}

/// How one invocation ended, as far as the Runtime API can tell.
///
/// Timeouts and runtime crashes are not here: the invoke layer watches the clock and the process
/// and abandons [`RuntimeApi::invoke`](crate::RuntimeApi::invoke) (which is cancel-safe).
#[derive(Debug)]
pub enum InvokeOutcome {
    /// `POST /response` with a complete, in-limit body.
    Response {
        /// The body, verbatim.
        body: Bytes,
        /// The runtime's `Content-Type`, if any (passed through to the caller).
        content_type: Option<String>,
    },
    /// `POST /response` with `Lambda-Runtime-Function-Response-Mode: streaming`: delivered as
    /// soon as the runtime starts sending, before its body is complete. Mid-stream errors
    /// (trailers) arrive as the stream's final item.
    Streaming(StreamingResponse),
    /// `POST /error`: the function (or runtime) reported an error.
    FunctionError {
        /// `Lambda-Runtime-Function-Error-Type` exactly as sent (the Rust client sends
        /// `unhandled`, Python `Unhandled`), `Runtime.Unknown` when absent. See
        /// [`normalize_error_type`](crate::protocol::normalize_error_type) for reporting.
        error_type: String,
        /// The error body verbatim: this is what the caller receives.
        body: Bytes,
        /// The runtime's `Content-Type` for the body, if any.
        content_type: Option<String>,
        /// `Lambda-Runtime-Function-XRay-Error-Cause`, if sent (not validated).
        xray_error_cause: Option<String>,
    },
    /// The response (or error) body exceeded `max_response_bytes`; the runtime got 413. The
    /// caller should see `Function.ResponseSizeTooLarge`.
    ResponseTooLarge {
        /// Size of the body the runtime sent, in bytes (counted, never buffered).
        size: usize,
        /// The limit it exceeded (`max_response_bytes`).
        limit: usize,
    },
    /// `/response` carried a `Lambda-Runtime-Function-Response-Mode` other than `streaming`; the
    /// runtime got 400 and the invocation fails with `Runtime.InvalidResponseModeHeader`.
    InvalidResponseMode,
    /// The runtime's connection broke while it was sending the response or error body; the
    /// invocation fails with `Runtime.TruncatedResponse`.
    TruncatedResponse,
}

impl InvokeOutcome {
    /// The platform error type for outcomes the platform (not the function) turns into an
    /// error, with the message the caller should see; `None` for `Response`, `Streaming` and
    /// `FunctionError`, whose body comes from the runtime.
    pub fn platform_error(&self) -> Option<(&'static str, String)> {
        match self {
            InvokeOutcome::ResponseTooLarge { size, limit } => Some((
                "Function.ResponseSizeTooLarge",
                format!(
                    "Response payload size ({size} bytes) exceeded maximum allowed payload size ({limit} bytes)."
                ),
            )),
            InvokeOutcome::InvalidResponseMode => Some((
                "Runtime.InvalidResponseModeHeader",
                "Invalid function response mode".to_owned(),
            )),
            InvokeOutcome::TruncatedResponse => Some((
                "Runtime.TruncatedResponse",
                "HTTP request detected as truncated".to_owned(),
            )),
            _ => None,
        }
    }
}

/// A streamed response: its content type and a stream of body chunks.
#[derive(Debug)]
pub struct StreamingResponse {
    /// The runtime's `Content-Type` (`application/vnd.awslambda.http-integration-response` for
    /// the HTTP-integration prelude format), if any.
    pub content_type: Option<String>,
    /// Body chunks as they arrive from the runtime.
    pub body: ResponseStream,
}

/// Why a streamed response ended abnormally: always the last item of a [`ResponseStream`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The runtime reported a mid-stream error through the
    /// `Lambda-Runtime-Function-Error-Type` / `-Error-Body` trailers.
    #[error("function reported a mid-stream error: {error_type}")]
    Function {
        /// The `Lambda-Runtime-Function-Error-Type` trailer as sent.
        error_type: String,
        /// The `Lambda-Runtime-Function-Error-Body` trailer, base64-decoded (the raw trailer
        /// bytes when it is not valid base64; empty when absent).
        body: Bytes,
    },
    /// The streamed body exceeded `max_streaming_bytes`.
    #[error("streamed response exceeded {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The runtime's connection broke mid-stream (`Runtime.TruncatedResponse`).
    #[error("streamed response truncated")]
    Truncated,
}

/// Body of a streamed response: a `futures_core::Stream` of `Result<Bytes, StreamError>`.
///
/// Ends with `None` after the last chunk of a clean stream, or after one `Err` item. Bounded:
/// a reader that stops polling back-pressures the runtime's upload.
#[derive(Debug)]
pub struct ResponseStream {
    pub(crate) rx: mpsc::Receiver<Result<Bytes, StreamError>>,
}

impl ResponseStream {
    /// Next chunk, without needing a `Stream` combinator crate.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, StreamError>> {
        self.rx.recv().await
    }

    /// Collects the whole stream (a buffered invoke of a streaming function returns the
    /// concatenated body). Stops at the first error.
    pub async fn collect(mut self) -> Result<Bytes, StreamError> {
        let mut out = bytes::BytesMut::new();
        while let Some(chunk) = self.next_chunk().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out.freeze())
    }
}

impl futures_core::Stream for ResponseStream {
    type Item = Result<Bytes, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
