//! The Lambda Runtime API (version 2018-06-01) for one execution environment.
//!
//! Every execution environment gets its own server: the runtime inside it (a managed runtime's
//! interface client, or a custom `bootstrap`) reaches it at `AWS_LAMBDA_RUNTIME_API`, and the
//! platform's invoke layer drives it through a [`RuntimeApi`] handle. Being per-environment is
//! what lets it stay simple and fast: there is no routing by environment, no global lock, and the
//! whole protocol is one small state machine.
//!
//! # Layers
//!
//! * [`state`]: the runtime's lifecycle as a plain Rust type ([`state::StateMachine`]) — every
//!   transition and every refusal (403/400 with the exact body) is decided here and unit-tested
//!   without sockets.
//! * [`protocol`]: pure functions for routing and header parsing/rendering (fuzzable; the
//!   hidden `fuzzing` module has ready entry points for a `cargo fuzz` target, also run on
//!   pseudo-random input by the unit tests).
//! * The HTTP layer (hyper 1, HTTP/1.1 keep-alive) maps requests onto the machine and parks
//!   `GET /next` until the invoke layer calls [`RuntimeApi::invoke`].
//!
//! # Contract (see `lambda-facts.md` §3)
//!
//! * `GET /2018-06-01/runtime/invocation/next` blocks until an event exists — never 204, no
//!   timeout — and answers 200 with the raw event and the `Lambda-Runtime-*` headers, always
//!   with a `Content-Type` (default `application/json`).
//! * `POST …/invocation/{id}/response` → 202 `{"status":"OK"}`; unknown or already answered id
//!   → 400 `InvalidRequestID`; wrong state → 403 `InvalidStateTransition`; over
//!   [`RuntimeApiConfig::max_response_bytes`] → 413 and [`InvokeOutcome::ResponseTooLarge`];
//!   `Lambda-Runtime-Function-Response-Mode: streaming` → [`InvokeOutcome::Streaming`], any
//!   other value → 400 `InvalidFunctionResponseMode`.
//! * `POST …/invocation/{id}/error` → 202, [`InvokeOutcome::FunctionError`] with the error type
//!   header as sent and the body verbatim.
//! * `POST /2018-06-01/runtime/init/error` → 202 during init, 403 afterwards.
//! * SnapStart's `restore/*` endpoints are not supported (403). Unknown paths → 404.
//! * Extensions API 2020-01-01 on the same listener ([`extensions`] decides, `ext_server`
//!   serves): `register` (200 + `Lambda-Extension-Identifier`), `event/next` (INVOKE and
//!   SHUTDOWN), `init/error`, `exit/error`, Lambda's `Extension.*` error types. Init ends when the
//!   runtime and every extension (all of [`ExtensionsConfig::external`] registered) called next;
//!   [`RuntimeApi::wait_extensions_ready`] tells when the environment may be reused and
//!   [`RuntimeApi::shutdown_extensions`] sends SHUTDOWN.
//!
//! # Behaviour of the official clients (observed by this crate's tests)
//!
//! * `lambda_runtime` 1.5 (Rust): sends `lambda-runtime-function-error-type: unhandled` on
//!   `/error`; survives a 413 on `/response` and keeps serving; on a 500 from `/next` (our
//!   shutdown) it panics ("missing lambda-runtime-aws-request-id header") and exits non-zero;
//!   a mid-stream error is written into the streamed *body* as
//!   `Lambda-Runtime-Function-Error-Type: Runtime.StreamError\r\n…Error-Body: <b64>\r\n`, not
//!   as HTTP trailers.
//! * `awslambdaric` 4.2.2 (Python): sends **no** `Lambda-Runtime-Function-Error-Type` on
//!   `/error` (so the type is [`protocol::UNKNOWN_ERROR_TYPE`]), only
//!   `Lambda-Runtime-Function-XRay-Error-Cause`; sends the error type on `/init/error`
//!   (`Runtime.ImportModuleError`, `Runtime.HandlerNotFound`) and exits; **exits** after a 413
//!   on `/response` (the invoke layer must expect a re-init after
//!   [`InvokeOutcome::ResponseTooLarge`]); posts large bodies through libcurl with
//!   `Expect: 100-continue` (hyper answers it when the body is first read).
//!
//! # Not implemented yet
//!
//! * Telemetry API (2022-07-01) and Logs API (2020-08-15): a subscription is answered 202
//!   `Telemetry.NotSupported` / `Logs.NotSupported`, as RIE answers where they are disabled.
//! * SnapStart `restore/*` (always 403).
//! * `/error` bodies with `Content-Type: application/vnd.aws.lambda.error.cause+json` are
//!   passed verbatim (AWS splits out the X-Ray cause).
//! * Streaming bandwidth cap beyond the first 6 MB (AWS ~2 MiB/s); only the total size limit
//!   is enforced.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use flint_runtime_api::{Invocation, InitOutcome, RuntimeApi, RuntimeApiConfig};
//! let api = RuntimeApi::new(RuntimeApiConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! api.spawn(listener);
//! // ... start the runtime process with AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 ...
//! assert_eq!(api.wait_init().await?, InitOutcome::Ready);
//! let outcome = api
//!     .invoke(Invocation {
//!         request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into(),
//!         payload: bytes::Bytes::from_static(br#"{"hello":"world"}"#),
//!         deadline_ms: 1_700_000_003_000,
//!         invoked_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
//!         ..Invocation::default()
//!     })
//!     .await?;
//! # drop(outcome); Ok(()) }
//! ```

#![warn(missing_docs)]

mod body;
pub mod error;
mod ext_server;
pub mod extensions;
#[doc(hidden)]
pub mod fuzzing;
pub mod protocol;
mod server;
pub mod state;
mod types;

pub use body::decode_error_body;
pub use error::{Rejection, RuntimeApiError};
pub use ext_server::{ExtensionInfo, ShutdownReason};
pub use server::RuntimeApi;
pub use state::Phase;
pub use types::{
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_STREAMING_BYTES, ExtensionsConfig, InitOutcome,
    Invocation, InvokeOutcome, ResponseStream, RuntimeApiConfig, StreamError, StreamingResponse,
};
