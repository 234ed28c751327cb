//! What an invocation is handed and what it returns.

use bytes::Bytes;
use flint_types::model::FunctionConfiguration;
use std::path::PathBuf;

/// One synchronous invocation, as the API hands it over.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// The configuration of the version that runs.
    pub config: FunctionConfiguration,
    /// Content address of the version's package, and where its zip is.
    pub code_blob: String,
    pub code_path: PathBuf,
    /// The version's layers, in order (merged into `/opt`).
    pub layers: Vec<crate::LayerCode>,
    /// The ARN the caller used (`Lambda-Runtime-Invoked-Function-Arn`).
    pub invoked_arn: String,
    pub payload: Bytes,
    /// Decoded client context JSON.
    pub client_context: Option<String>,
    pub tail_logs: bool,
    /// The request id to run under; a new one when `None`. Asynchronous
    /// events keep theirs across retries, as on Lambda.
    pub request_id: Option<String>,
    /// The caller's X-Ray trace header (`X-Amzn-Trace-Id`): its root and sampling decision
    /// are continued (see `xray.rs`).
    pub trace_header: Option<String>,
    /// `InvokeWithResponseStream`: the chunks of a streamed response are sent here as the
    /// function writes them (the output's body is then empty unless the function failed);
    /// a response that is not streamed arrives whole in the output, as for `Invoke`.
    pub stream_to: Option<tokio::sync::mpsc::Sender<StreamPart>>,
}

/// What `InvokeRequest::stream_to` receives for a streamed response: the runtime's content
/// type first, then the body's chunks as they arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamPart {
    /// The runtime's `Content-Type` (`application/vnd.awslambda.http-integration-response`
    /// for the HTTP-integration prelude format), if it sent one.
    ContentType(Option<String>),
    Chunk(Bytes),
}

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
