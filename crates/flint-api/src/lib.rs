//! The HTTP front door of flint: the routes of the Lambda control-plane API, the function
//! URL listener, and the invocation dispatch they (and the asynchronous executor) share.
//!
//! Each handler (`handlers/`, one file per resource) takes its function, body and query
//! through the extractors of `extract`, calls one [`flint_control::ControlPlane`] operation
//! on a blocking thread (the control plane does SQLite and file I/O) or the invocation
//! dispatch, and renders the result with the status code of the Lambda model. Every
//! rejection is rendered by [`error::ApiResponseError`], so error responses share one shape:
//! `x-amzn-ErrorType`, `x-amzn-RequestId` and the JSON body of the model.

mod async_executor;
mod auth;
mod blocking;
mod clock;
mod cwlogs;
pub use cwlogs::stop_live_tails;
mod dispatch;
mod error;
mod eventstream;
mod extract;
mod function_url;
mod handlers;
mod operations;
mod provisioning;
mod query;
mod recursion_guard;
mod request_id;
mod response;
mod routes;
mod state;
#[cfg(test)]
mod test_support;

pub use async_executor::ServerExecutor;
pub use auth::{SigV4Auth, with_sigv4};
pub use dispatch::{
    Call, DispatchError, Dispatcher, HostCannotRun, ResponseStream, Running, StreamingAnswer,
};
pub use error::ApiResponseError;
pub use function_url::{UrlListener, url_router};
pub use provisioning::restore_concurrency;
pub use routes::router;
pub use state::AppState;
