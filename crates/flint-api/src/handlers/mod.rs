//! The handlers of the Lambda API, one file per resource, and flint's own endpoints. Each
//! takes its function, body and query through the extractors of `crate::extract`, calls the
//! control plane (on the blocking pool), the invocation dispatch or the invoker, and renders
//! the answer with the status code of the Lambda model.

pub(crate) mod account;
pub(crate) mod aliases;
pub(crate) mod code_download;
pub(crate) mod concurrency;
pub(crate) mod environments;
pub(crate) mod event_invoke_config;
pub(crate) mod events;
pub(crate) mod fallback;
pub(crate) mod function_url_config;
pub(crate) mod functions;
pub(crate) mod invoke;
pub(crate) mod invoke_stream;
pub(crate) mod layers;
pub(crate) mod logs;
pub(crate) mod policy;
pub(crate) mod provisioned;
pub(crate) mod recursion_config;
pub(crate) mod runtime_management;
pub(crate) mod scaling_config;
pub(crate) mod tags;
pub(crate) mod test_clock;
pub(crate) mod versions;
