//! The invocation router.
//!
//! [`Invoker::invoke`] runs one synchronous invocation of a resolved
//! function version: it takes an idle, warm execution environment of that
//! exact configuration or starts a new one (extracting the code once per
//! package, spawning a sandbox, serving its Runtime API, waiting for init),
//! hands the event to the runtime, and turns what happens — a response, a
//! function error, a timeout, a crash, an out-of-memory kill — into Lambda's
//! answer and Lambda's log lines. Environments are frozen between
//! invocations, reused while warm, reset after a failure, and reaped when
//! idle or when their function changes.
//!
//! The modules, by concern (none imports one that imports it back):
//!
//! | module | owns |
//! | --- | --- |
//! | `router` | [`Invoker`]: admission → provisioned → pool → cold start, then the verdict's consequences |
//! | `admission` | who may run now (pure counters) |
//! | `provisioned` | provisioned concurrency sets and their reconcile tasks |
//! | `pool` | warm environments by configuration: take, give back, freeze, reap, drain |
//! | `launch` | the cold start: command, variables, the sandbox (claimed or spawned), init |
//! | `prewarm` | pre-spawned sandboxes per shape |
//! | `code` | packages extracted once per content hash |
//! | `layers` | `/opt`: a function's layers merged once per ordered layer set, shared read-only |
//! | `environment` | one running environment, and the traits the pools and the router drive |
//! | `output` | the function's output pipe: lines with Lambda's limit, a bounded buffer spilled to the log |
//! | `streaming` | reading a streamed response within the deadline |
//! | `verdict` | an ending → Lambda's answer, REPORT's status, the environment's fate |
//! | `logs` | START/END/REPORT lines, the log tail, durable per-function logs |
//! | `xray` | the invocation's X-Ray trace header (`Lambda-Runtime-Trace-Id`), continuing the caller's |
//! | `recursion` | recursive loop detection: the trace header's `Lineage` (pure) |

pub mod admission;
mod code;
mod environment;
mod error;
#[cfg(test)]
mod fake;
mod launch;
mod layers;
mod logs;
mod output;
mod pool;
mod prewarm;
mod provisioned;
pub mod recursion;
mod request;
mod router;
mod settings;
mod streaming;
mod verdict;
mod xray;

pub use error::InvokeError;
pub use layers::LayerCode;
pub use logs::{LogPage, LogRecord, LogStore, PAGE_BYTES};
pub use provisioned::{ProvisionSpec, ProvisionedStatus};
pub use request::{InvokeOutput, InvokeRequest, StreamPart};
pub use router::{EnvironmentsView, Invoker};
pub use settings::InvokerSettings;
pub use xray::edge_trace_header;
