//! The HTTP front door of flint: the routes of the Lambda control-plane API.
//!
//! Each handler parses the request (path, query, headers, JSON body), calls
//! one [`flint_control::ControlPlane`] operation on a blocking thread (the
//! control plane does SQLite and file I/O), and renders the result with the
//! status code of the Lambda model. Every rejection is rendered by
//! [`error::ApiResponseError`], so error responses share one shape:
//! `x-amzn-ErrorType`, `x-amzn-RequestId` and the JSON body of the model.

mod async_executor;
mod auth;
mod blocking;
mod body;
mod concurrency;
mod dispatch;
mod error;
mod events;
mod eventstream;
mod function_url;
mod invoke;
mod policy;
mod routes;

pub use async_executor::ServerExecutor;
pub use auth::{SigV4Auth, with_sigv4};
pub use concurrency::restore_concurrency;
pub use dispatch::{Call, DispatchError, Dispatcher, ResponseStream, Running, StreamingAnswer};
pub use error::ApiResponseError;
pub use function_url::{UrlListener, url_router};
pub use routes::{AppState, router};
