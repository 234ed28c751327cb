//! Errors.
//!
//! Two audiences, two types:
//!
//! * [`RuntimeApiError`] is what the *platform* side (the invoke layer) sees when it drives an
//!   environment through [`RuntimeApi`](crate::RuntimeApi): the environment is busy, init failed,
//!   the API was shut down, an invocation cannot be encoded.
//! * [`Rejection`] is what the *runtime* inside the environment sees: the exact HTTP status and
//!   `{"errorMessage":…,"errorType":…}` body the Lambda Runtime API answers with. It is kept
//!   separate because it is a wire value (status + body), not a failure of this crate; the one total
//!   mapping from rejection to status/type/message lives in its methods so every rejection has the
//!   same shape.

use bytes::Bytes;
use hyper::StatusCode;

/// Failure of a platform-side operation on a [`RuntimeApi`](crate::RuntimeApi).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RuntimeApiError {
    /// An invocation is already queued or in flight in this environment. One environment serves
    /// one invocation at a time; the invoke layer must pick another environment.
    #[error("execution environment is busy with invocation {request_id}")]
    Busy {
        /// Request id of the invocation that occupies the environment.
        request_id: String,
    },
    /// The runtime reported an initialization error (`POST /runtime/init/error`); the environment
    /// will never accept an invocation and must be discarded (or [`reset`](crate::RuntimeApi::reset)).
    #[error("the runtime reported an initialization error")]
    InitFailed,
    /// [`RuntimeApi::shutdown`](crate::RuntimeApi::shutdown) was called.
    #[error("the Runtime API was shut down")]
    ShutDown,
    /// [`RuntimeApi::reset`](crate::RuntimeApi::reset) was called while the invocation was pending
    /// or in flight (the environment's runtime is being replaced).
    #[error("the Runtime API was reset")]
    Reset,
    /// A field of the invocation cannot be sent to the runtime as an HTTP header value (e.g. a
    /// pretty-printed client context with newlines, or an empty request id).
    #[error("invocation field {field} cannot be sent as a Runtime API header value")]
    InvalidInvocation {
        /// Name of the offending [`Invocation`](crate::Invocation) field.
        field: &'static str,
    },
}

/// The reason a Runtime API request from the runtime is refused, with its exact wire form.
///
/// Status codes, `errorType`s and messages follow the Runtime API as implemented by AWS (and its
/// emulator, RIE); see `lambda-facts.md` §3.1.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// 403: the request is not valid in the runtime's current state (e.g. `/next` twice without
    /// answering the delivered invocation, `/init/error` after init, a response before init).
    #[error("State transition from {from} to {to} failed for runtime. Error: {reason}")]
    InvalidStateTransition {
        /// Name of the current state (RIE's names: `Started`, `Ready`, `Running`, …).
        from: &'static str,
        /// Name of the state the request tried to enter.
        to: &'static str,
        /// Why the transition failed.
        reason: &'static str,
    },
    /// 400: the request id is unknown, belongs to another invocation, or was already answered.
    #[error("Invalid request ID")]
    InvalidRequestId,
    /// 400: `Lambda-Runtime-Function-Response-Mode` is present but not `streaming`.
    #[error("Invalid function response mode")]
    InvalidFunctionResponseMode,
    /// 413: the response (or error) body is larger than the configured maximum.
    #[error("Exceeded maximum allowed payload size ({limit} bytes).")]
    RequestEntityTooLarge {
        /// The configured maximum, in bytes (6,291,556 by default).
        limit: usize,
    },
    /// 400: the request body ended early (the runtime's connection broke mid-body).
    #[error("HTTP request detected as truncated")]
    TruncatedHttpRequest,
    /// 500: the API is shutting down; by protocol the runtime must exit.
    #[error("Internal Server Error")]
    InternalServerError,
    /// 404: no such Runtime API path.
    #[error("Not found")]
    NotFound,
    /// 405: known path, wrong method.
    #[error("Method not allowed")]
    MethodNotAllowed,
}

/// The standard reason of a 403 `InvalidStateTransition` (RIE's `ErrNotAllowed`).
pub const TRANSITION_NOT_ALLOWED: &str = "State transition is not allowed";

impl Rejection {
    /// Shorthand for a 403 with the standard reason.
    pub const fn transition(from: &'static str, to: &'static str) -> Self {
        Rejection::InvalidStateTransition {
            from,
            to,
            reason: TRANSITION_NOT_ALLOWED,
        }
    }

    /// HTTP status of this rejection.
    pub const fn status(&self) -> StatusCode {
        match self {
            Rejection::InvalidStateTransition { .. } => StatusCode::FORBIDDEN,
            Rejection::InvalidRequestId
            | Rejection::InvalidFunctionResponseMode
            | Rejection::TruncatedHttpRequest => StatusCode::BAD_REQUEST,
            Rejection::RequestEntityTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Rejection::NotFound => StatusCode::NOT_FOUND,
            Rejection::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The `errorType` field of the body.
    pub const fn error_type(&self) -> &'static str {
        match self {
            Rejection::InvalidStateTransition { .. } => "InvalidStateTransition",
            Rejection::InvalidRequestId => "InvalidRequestID",
            Rejection::InvalidFunctionResponseMode => "InvalidFunctionResponseMode",
            Rejection::RequestEntityTooLarge { .. } => "RequestEntityTooLarge",
            Rejection::TruncatedHttpRequest => "TruncatedHTTPRequest",
            Rejection::InternalServerError => "InternalServerError",
            Rejection::NotFound => "NotFound",
            Rejection::MethodNotAllowed => "MethodNotAllowed",
        }
    }

    /// The JSON body: `{"errorMessage":"…","errorType":"…"}`.
    ///
    /// Every message is built from static ASCII text and numbers without quotes or backslashes,
    /// so no JSON escaping is needed (checked by a unit test).
    pub fn body(&self) -> Bytes {
        match self {
            // The frequent, fixed ones are static: no allocation.
            Rejection::InvalidRequestId => Bytes::from_static(
                br#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#,
            ),
            Rejection::InternalServerError => Bytes::from_static(
                br#"{"errorMessage":"Internal Server Error","errorType":"InternalServerError"}"#,
            ),
            other => Bytes::from(format!(
                r#"{{"errorMessage":"{}","errorType":"{}"}}"#,
                other,
                other.error_type()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_exact() {
        let cases: &[(Rejection, u16, &str)] = &[
            (
                Rejection::InvalidRequestId,
                400,
                r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#,
            ),
            (
                Rejection::transition("Running", "Ready"),
                403,
                r#"{"errorMessage":"State transition from Running to Ready failed for runtime. Error: State transition is not allowed","errorType":"InvalidStateTransition"}"#,
            ),
            (
                Rejection::RequestEntityTooLarge { limit: 6_291_556 },
                413,
                r#"{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}"#,
            ),
            (
                Rejection::InvalidFunctionResponseMode,
                400,
                r#"{"errorMessage":"Invalid function response mode","errorType":"InvalidFunctionResponseMode"}"#,
            ),
            (
                Rejection::TruncatedHttpRequest,
                400,
                r#"{"errorMessage":"HTTP request detected as truncated","errorType":"TruncatedHTTPRequest"}"#,
            ),
            (
                Rejection::InternalServerError,
                500,
                r#"{"errorMessage":"Internal Server Error","errorType":"InternalServerError"}"#,
            ),
            (
                Rejection::NotFound,
                404,
                r#"{"errorMessage":"Not found","errorType":"NotFound"}"#,
            ),
            (
                Rejection::MethodNotAllowed,
                405,
                r#"{"errorMessage":"Method not allowed","errorType":"MethodNotAllowed"}"#,
            ),
        ];
        for (rejection, status, body) in cases {
            assert_eq!(rejection.status().as_u16(), *status, "{rejection:?}");
            assert_eq!(&rejection.body()[..], body.as_bytes(), "{rejection:?}");
        }
    }

    #[test]
    fn every_message_needs_no_json_escaping() {
        let all = [
            Rejection::transition("Started", "InvocationResponse"),
            Rejection::InvalidRequestId,
            Rejection::InvalidFunctionResponseMode,
            Rejection::RequestEntityTooLarge { limit: 1 },
            Rejection::TruncatedHttpRequest,
            Rejection::InternalServerError,
            Rejection::NotFound,
            Rejection::MethodNotAllowed,
        ];
        for r in all {
            let msg = r.to_string();
            assert!(
                msg.bytes()
                    .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'),
                "{msg}"
            );
        }
    }
}
