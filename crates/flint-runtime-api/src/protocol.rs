//! Pure pieces of the wire protocol: routing, header parsing, event header rendering.
//!
//! Everything here is a plain function of its inputs (no I/O, no state), so the parsers of
//! untrusted runtime input can be driven directly by a fuzz target.

use hyper::Method;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::error::{Rejection, RuntimeApiError};
use crate::types::Invocation;

/// Path prefix of every Runtime API endpoint.
pub const RUNTIME_PREFIX: &str = "/2018-06-01/runtime/";

/// Path prefix of every Extensions API endpoint.
pub const EXTENSION_PREFIX: &str = "/2020-01-01/extension/";
/// Extensions API request header (`register`): the extension's name.
pub const EXTENSION_NAME: HeaderName = HeaderName::from_static("lambda-extension-name");
/// Extensions API header: the identifier `register` answers and every later request sends.
pub const EXTENSION_IDENTIFIER: HeaderName = HeaderName::from_static("lambda-extension-identifier");
/// Extensions API `event/next` response header: the event's id.
pub const EXTENSION_EVENT_IDENTIFIER: HeaderName =
    HeaderName::from_static("lambda-extension-event-identifier");
/// Extensions API request header (`register`): `accountId` adds the account to the answer.
pub const EXTENSION_ACCEPT_FEATURE: HeaderName =
    HeaderName::from_static("lambda-extension-accept-feature");
/// Extensions API request header (`init/error`, `exit/error`): the error category.
pub const EXTENSION_ERROR_TYPE: HeaderName =
    HeaderName::from_static("lambda-extension-function-error-type");

/// `/next` response header: the invocation's request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("lambda-runtime-aws-request-id");
/// `/next` response header: absolute deadline, Unix epoch milliseconds.
pub const DEADLINE_MS: HeaderName = HeaderName::from_static("lambda-runtime-deadline-ms");
/// `/next` response header: the ARN the caller invoked (with qualifier).
pub const INVOKED_FUNCTION_ARN: HeaderName =
    HeaderName::from_static("lambda-runtime-invoked-function-arn");
/// `/next` response header: X-Ray trace header.
pub const TRACE_ID: HeaderName = HeaderName::from_static("lambda-runtime-trace-id");
/// `/next` response header: client context JSON (already decoded from base64).
pub const CLIENT_CONTEXT: HeaderName = HeaderName::from_static("lambda-runtime-client-context");
/// `/next` response header: Cognito identity JSON.
pub const COGNITO_IDENTITY: HeaderName = HeaderName::from_static("lambda-runtime-cognito-identity");
/// `/next` response header: tenant id (tenant-isolation functions).
pub const TENANT_ID: HeaderName = HeaderName::from_static("lambda-runtime-aws-tenant-id");
/// Request header (`/error`, `/init/error`, streaming trailer): the error category.
pub const FUNCTION_ERROR_TYPE: HeaderName =
    HeaderName::from_static("lambda-runtime-function-error-type");
/// Streaming trailer: base64 of the error JSON.
pub const FUNCTION_ERROR_BODY: HeaderName =
    HeaderName::from_static("lambda-runtime-function-error-body");
/// Request header on `/response`: `streaming` selects response streaming.
pub const RESPONSE_MODE: HeaderName =
    HeaderName::from_static("lambda-runtime-function-response-mode");
/// Request header on `/error`: X-Ray error cause JSON.
pub const XRAY_ERROR_CAUSE: HeaderName =
    HeaderName::from_static("lambda-runtime-function-xray-error-cause");

/// Content type of an event when the invocation does not name one. It must always be sent:
/// `awslambdaric` 4.2 segfaults on a `/next` response without `Content-Type`.
pub const DEFAULT_EVENT_CONTENT_TYPE: &str = "application/json";

/// Error type recorded when `/error` or `/init/error` carries no `Lambda-Runtime-Function-Error-Type`.
pub const UNKNOWN_ERROR_TYPE: &str = "Runtime.Unknown";

/// A Runtime API endpoint, parsed from method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /2018-06-01/runtime/invocation/next`
    Next,
    /// `POST /2018-06-01/runtime/invocation/{id}/response`
    Response {
        /// The `{id}` path segment.
        request_id: &'a str,
    },
    /// `POST /2018-06-01/runtime/invocation/{id}/error`
    Error {
        /// The `{id}` path segment.
        request_id: &'a str,
    },
    /// `POST /2018-06-01/runtime/init/error`
    InitError,
    /// `GET /2018-06-01/runtime/restore/next` (SnapStart; not supported: always 403)
    RestoreNext,
    /// `POST /2018-06-01/runtime/restore/error` (SnapStart; not supported: always 403)
    RestoreError,
    /// `GET /2018-06-01/ping` (legacy liveness probe kept by RIE)
    Ping,
    /// `POST /2020-01-01/extension/register`
    ExtensionRegister,
    /// `GET /2020-01-01/extension/event/next`
    ExtensionNext,
    /// `POST /2020-01-01/extension/init/error`
    ExtensionInitError,
    /// `POST /2020-01-01/extension/exit/error`
    ExtensionExitError,
    /// `PUT /2022-07-01/telemetry` (Telemetry API subscription)
    TelemetrySubscribe,
    /// `PUT /2020-08-15/logs` (legacy Logs API subscription)
    LogsSubscribe,
    /// A known path with the wrong method.
    MethodNotAllowed,
    /// Anything else.
    NotFound,
}

/// Maps a request's method and path (without query) to a [`Route`].
///
/// Matching is exact: no trailing slash, no percent-decoding, a request id is one non-empty path
/// segment. Total over all inputs; never panics.
pub fn route<'a>(method: &Method, path: &'a str) -> Route<'a> {
    let is_get = *method == Method::GET;
    let is_post = *method == Method::POST;
    let pick = |ok: bool, r: Route<'a>| if ok { r } else { Route::MethodNotAllowed };

    if path == "/2018-06-01/ping" {
        return pick(is_get, Route::Ping);
    }
    let is_put = *method == Method::PUT;
    match path {
        "/2022-07-01/telemetry" => return pick(is_put, Route::TelemetrySubscribe),
        "/2020-08-15/logs" => return pick(is_put, Route::LogsSubscribe),
        _ => {}
    }
    if let Some(rest) = path.strip_prefix(EXTENSION_PREFIX) {
        return match rest {
            "register" => pick(is_post, Route::ExtensionRegister),
            "event/next" => pick(is_get, Route::ExtensionNext),
            "init/error" => pick(is_post, Route::ExtensionInitError),
            "exit/error" => pick(is_post, Route::ExtensionExitError),
            _ => Route::NotFound,
        };
    }
    let Some(rest) = path.strip_prefix(RUNTIME_PREFIX) else {
        return Route::NotFound;
    };
    match rest {
        "invocation/next" => pick(is_get, Route::Next),
        "init/error" => pick(is_post, Route::InitError),
        "restore/next" => pick(is_get, Route::RestoreNext),
        "restore/error" => pick(is_post, Route::RestoreError),
        _ => {
            let Some(rest) = rest.strip_prefix("invocation/") else {
                return Route::NotFound;
            };
            let Some((request_id, action)) = rest.split_once('/') else {
                return Route::NotFound;
            };
            if request_id.is_empty() {
                return Route::NotFound;
            }
            match action {
                "response" => pick(is_post, Route::Response { request_id }),
                "error" => pick(is_post, Route::Error { request_id }),
                _ => Route::NotFound,
            }
        }
    }
}

/// How the runtime sends its `/response` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Ordinary request body, buffered up to the size limit.
    Buffered,
    /// `Lambda-Runtime-Function-Response-Mode: streaming`: chunked body with error trailers.
    Streaming,
}

/// Parses `Lambda-Runtime-Function-Response-Mode`. Absent → buffered; `streaming` (ASCII
/// case-insensitive) → streaming; anything else, including an empty value → 400
/// `InvalidFunctionResponseMode`.
pub fn parse_response_mode(value: Option<&[u8]>) -> Result<ResponseMode, Rejection> {
    match value {
        None => Ok(ResponseMode::Buffered),
        Some(v) if v.eq_ignore_ascii_case(b"streaming") => Ok(ResponseMode::Streaming),
        Some(_) => Err(Rejection::InvalidFunctionResponseMode),
    }
}

/// The error type a runtime sent in `Lambda-Runtime-Function-Error-Type`, kept as sent (lossy
/// UTF-8, surrounding whitespace trimmed); [`UNKNOWN_ERROR_TYPE`] when absent or empty.
///
/// The raw value is what the caller-facing error keeps (clients send e.g. `Unhandled`,
/// `unhandled`, `Runtime.ImportModuleError`); [`normalize_error_type`] gives the category used
/// for internal reporting.
pub fn parse_error_type(value: Option<&[u8]>) -> String {
    match value.map(|v| v.trim_ascii()) {
        Some(v) if !v.is_empty() => String::from_utf8_lossy(v).into_owned(),
        _ => UNKNOWN_ERROR_TYPE.to_owned(),
    }
}

/// Normalises an error type for internal reporting (REPORT line, metrics): valid when it matches
/// `(Runtime|Function)\.[A-Z][a-zA-Z]+`, else `Function.Unknown` when it starts with
/// `Function.`, else `Runtime.Unknown` (the Lambda rule, `lambda-facts.md` §3.2).
pub fn normalize_error_type(raw: &str) -> &str {
    let valid_tail = |tail: &str| {
        let b = tail.as_bytes();
        b.len() >= 2 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_alphabetic)
    };
    if let Some(tail) = raw.strip_prefix("Runtime.") {
        if valid_tail(tail) {
            return raw;
        }
    } else if let Some(tail) = raw.strip_prefix("Function.") {
        return if valid_tail(tail) {
            raw
        } else {
            "Function.Unknown"
        };
    }
    UNKNOWN_ERROR_TYPE
}

/// Renders the `/next` response headers of an invocation, validating every value.
///
/// Done once per invocation when it is submitted (outside the environment lock), so a value
/// that cannot travel as a header is reported to the invoker instead of breaking `/next`, and the
/// `/next` handler only moves a ready `HeaderMap` into the response.
///
/// Always sets request id, deadline, invoked ARN and `Content-Type` (default
/// [`DEFAULT_EVENT_CONTENT_TYPE`]); optional headers only when set and non-empty.
pub fn event_headers(inv: &Invocation) -> Result<HeaderMap, RuntimeApiError> {
    fn value(field: &'static str, v: &str) -> Result<HeaderValue, RuntimeApiError> {
        HeaderValue::from_str(v).map_err(|_| RuntimeApiError::InvalidInvocation { field })
    }
    if inv.request_id.is_empty() || inv.request_id.contains('/') {
        return Err(RuntimeApiError::InvalidInvocation {
            field: "request_id",
        });
    }
    let mut h = HeaderMap::with_capacity(8);
    h.insert(REQUEST_ID, value("request_id", &inv.request_id)?);
    h.insert(DEADLINE_MS, HeaderValue::from(inv.deadline_ms));
    h.insert(
        INVOKED_FUNCTION_ARN,
        value("invoked_function_arn", &inv.invoked_function_arn)?,
    );
    let optional = [
        (TRACE_ID, "trace_id", &inv.trace_id),
        (CLIENT_CONTEXT, "client_context", &inv.client_context),
        (COGNITO_IDENTITY, "cognito_identity", &inv.cognito_identity),
        (TENANT_ID, "tenant_id", &inv.tenant_id),
    ];
    for (name, field, v) in optional {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            h.insert(name, value(field, v)?);
        }
    }
    let content_type = match inv.content_type.as_deref().filter(|v| !v.is_empty()) {
        Some(ct) => value("content_type", ct)?,
        None => HeaderValue::from_static(DEFAULT_EVENT_CONTENT_TYPE),
    };
    h.insert(CONTENT_TYPE, content_type);
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            route(&get, "/2018-06-01/runtime/invocation/next"),
            Route::Next
        );
        assert_eq!(
            route(&post, "/2018-06-01/runtime/invocation/abc-1/response"),
            Route::Response {
                request_id: "abc-1"
            }
        );
        assert_eq!(
            route(&post, "/2018-06-01/runtime/invocation/abc-1/error"),
            Route::Error {
                request_id: "abc-1"
            }
        );
        assert_eq!(
            route(&post, "/2018-06-01/runtime/init/error"),
            Route::InitError
        );
        assert_eq!(
            route(&get, "/2018-06-01/runtime/restore/next"),
            Route::RestoreNext
        );
        assert_eq!(
            route(&post, "/2018-06-01/runtime/restore/error"),
            Route::RestoreError
        );
        assert_eq!(route(&get, "/2018-06-01/ping"), Route::Ping);
        assert_eq!(
            route(&post, "/2020-01-01/extension/register"),
            Route::ExtensionRegister
        );
        assert_eq!(
            route(&get, "/2020-01-01/extension/event/next"),
            Route::ExtensionNext
        );
        assert_eq!(
            route(&post, "/2020-01-01/extension/init/error"),
            Route::ExtensionInitError
        );
        assert_eq!(
            route(&post, "/2020-01-01/extension/exit/error"),
            Route::ExtensionExitError
        );
        assert_eq!(
            route(&get, "/2020-01-01/extension/register"),
            Route::MethodNotAllowed
        );
        assert_eq!(route(&get, "/2020-01-01/extension/x"), Route::NotFound);
        assert_eq!(
            route(&Method::PUT, "/2022-07-01/telemetry"),
            Route::TelemetrySubscribe
        );
        assert_eq!(
            route(&Method::PUT, "/2020-08-15/logs"),
            Route::LogsSubscribe
        );
        assert_eq!(
            route(&post, "/2022-07-01/telemetry"),
            Route::MethodNotAllowed
        );

        assert_eq!(
            route(&post, "/2018-06-01/runtime/invocation/next"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route(&get, "/2018-06-01/runtime/init/error"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route(&get, "/2018-06-01/runtime/invocation/x/response"),
            Route::MethodNotAllowed
        );

        for p in [
            "/",
            "",
            "/2018-06-01/runtime/invocation/next/",
            "/2018-06-01/runtime/invocation//response",
            "/2018-06-01/runtime/invocation/a/b/response",
            "/2018-06-01/runtime/invocation/a/other",
            "/2018-06-01/runtime/invocation/a",
            "/2020-01-01/extension/register/",
            "/2020-01-01/extension/",
            "/2018-06-01/runtime/",
            "/2018-06-01/runtime",
        ] {
            assert_eq!(route(&post, p), Route::NotFound, "{p}");
            assert_eq!(route(&get, p), Route::NotFound, "{p}");
        }
    }

    /// `route` is total: no input panics, and every id it returns is a non-empty single path
    /// segment taken from the input. (A cheap stand-in until a cargo-fuzz target exists.)
    #[test]
    fn route_is_total_on_generated_paths() {
        let pieces = [
            "/",
            "//",
            "2018-06-01",
            "runtime",
            "invocation",
            "next",
            "response",
            "error",
            "init",
            "restore",
            "ping",
            "abc",
            "%2F",
            "\u{e9}",
            "",
            "..",
            "?",
            "#",
        ];
        let methods = [Method::GET, Method::POST, Method::PUT, Method::DELETE];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..50_000 {
            let n = (next() % 8) as usize;
            let mut path = String::from(if next() % 4 == 0 {
                ""
            } else {
                "/2018-06-01/runtime/"
            });
            for _ in 0..n {
                path.push_str(pieces[(next() % pieces.len() as u64) as usize]);
                if next() % 2 == 0 {
                    path.push('/');
                }
            }
            let method = &methods[(next() % methods.len() as u64) as usize];
            match route(method, &path) {
                Route::Response { request_id } | Route::Error { request_id } => {
                    assert!(
                        !request_id.is_empty() && !request_id.contains('/'),
                        "{path}"
                    );
                    assert!(path.contains(request_id));
                }
                _ => {}
            }
        }
    }

    #[test]
    fn response_mode() {
        assert_eq!(parse_response_mode(None), Ok(ResponseMode::Buffered));
        assert_eq!(
            parse_response_mode(Some(b"streaming")),
            Ok(ResponseMode::Streaming)
        );
        assert_eq!(
            parse_response_mode(Some(b"Streaming")),
            Ok(ResponseMode::Streaming)
        );
        for bad in [&b""[..], b"buffered", b"stream", b"streaming "] {
            assert_eq!(
                parse_response_mode(Some(bad)),
                Err(Rejection::InvalidFunctionResponseMode)
            );
        }
    }

    #[test]
    fn error_types() {
        assert_eq!(parse_error_type(None), "Runtime.Unknown");
        assert_eq!(parse_error_type(Some(b"  ")), "Runtime.Unknown");
        assert_eq!(parse_error_type(Some(b"unhandled")), "unhandled");
        assert_eq!(
            parse_error_type(Some(b"Runtime.ImportModuleError")),
            "Runtime.ImportModuleError"
        );
        assert_eq!(parse_error_type(Some(b"\xff")), "\u{fffd}");

        assert_eq!(
            normalize_error_type("Runtime.ImportModuleError"),
            "Runtime.ImportModuleError"
        );
        assert_eq!(
            normalize_error_type("Function.ResponseSizeTooLarge"),
            "Function.ResponseSizeTooLarge"
        );
        assert_eq!(normalize_error_type("Function.x"), "Function.Unknown");
        assert_eq!(normalize_error_type("Function."), "Function.Unknown");
        assert_eq!(normalize_error_type("Runtime.X"), "Runtime.Unknown");
        assert_eq!(normalize_error_type("Runtime.Exit2"), "Runtime.Unknown");
        assert_eq!(normalize_error_type("Unhandled"), "Runtime.Unknown");
        assert_eq!(normalize_error_type(""), "Runtime.Unknown");
    }

    fn inv() -> Invocation {
        Invocation {
            request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into(),
            payload: bytes::Bytes::from_static(b"{}"),
            deadline_ms: 1_542_409_706_888,
            invoked_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
            ..Invocation::default()
        }
    }

    #[test]
    fn event_headers_minimal() {
        let h = event_headers(&inv()).unwrap();
        assert_eq!(h[REQUEST_ID], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(h[DEADLINE_MS], "1542409706888");
        assert_eq!(
            h[INVOKED_FUNCTION_ARN],
            "arn:aws:lambda:us-east-1:123456789012:function:f"
        );
        assert_eq!(h[CONTENT_TYPE], "application/json");
        assert_eq!(h.len(), 4, "optional headers only when set: {h:?}");
    }

    #[test]
    fn event_headers_full() {
        let mut i = inv();
        i.trace_id = Some(
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into(),
        );
        i.client_context = Some(r#"{"custom":{"k":"v"}}"#.into());
        i.cognito_identity =
            Some(r#"{"cognitoIdentityId":"a","cognitoIdentityPoolId":"b"}"#.into());
        i.tenant_id = Some("t1".into());
        i.content_type = Some("text/plain".into());
        let h = event_headers(&i).unwrap();
        assert_eq!(h[CLIENT_CONTEXT], r#"{"custom":{"k":"v"}}"#);
        assert_eq!(h[TENANT_ID], "t1");
        assert_eq!(h[CONTENT_TYPE], "text/plain");
        assert_eq!(h.len(), 8);
        i.trace_id = Some(String::new());
        assert_eq!(
            event_headers(&i).unwrap().len(),
            7,
            "empty optional header is omitted"
        );
    }

    #[test]
    fn event_headers_reject_unencodable() {
        let mut i = inv();
        i.client_context = Some("{\n}".into());
        assert_eq!(
            event_headers(&i),
            Err(RuntimeApiError::InvalidInvocation {
                field: "client_context"
            })
        );
        let mut i = inv();
        i.request_id = String::new();
        assert!(event_headers(&i).is_err());
        i.request_id = "a/b".into();
        assert!(event_headers(&i).is_err());
    }
}
