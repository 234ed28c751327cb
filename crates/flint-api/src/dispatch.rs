//! Invocation dispatch: the one way a function runs, whoever asked.
//!
//! Every invocation takes the same two steps, and only here:
//!
//! 1. [`Dispatcher::resolve`]: the reference the caller named (function, version, alias) →
//!    the version that runs (`ControlPlane::resolve_invocation`; an alias with a routing
//!    configuration rolls its weight), from memory on the warm path;
//! 2. [`Dispatcher::invoke`] (or [`Dispatcher::start`], [`Dispatcher::invoke_streaming`]): the
//!    refusal on a host that cannot run functions, the [`InvokeRequest`] built from the
//!    resolution and the caller's [`Call`], and `Invoker::invoke`.
//!
//! The callers are thin adapters of their own transport: `Invoke` and
//! `InvokeWithResponseStream` (HTTP API), function URLs (the URL listener) and the
//! asynchronous executor (queued events). Keeping the steps apart lets each adapter answer in
//! between as its transport does (a `DryRun` stops after step 1; an `Event` invoke queues the
//! resolved reference instead of running it). A later event source feeds the same path: an
//! asynchronous one (a schedule) queues events, which the executor then runs like any `Event`
//! invoke; a synchronous one (a poller of a stream or queue) calls `resolve` and `invoke`.

use crate::blocking::on_blocking_pool;
use crate::recursion_guard::continue_lineage;
use bytes::Bytes;
use flint_control::{ControlError, ControlPlane, ResolvedFunction};
use flint_invoke::{InvokeError, InvokeOutput, InvokeRequest, Invoker, LayerCode, StreamPart};
use flint_types::FunctionRef;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};

/// Why this host has no invoker (said once at start, and to every invocation).
#[derive(Debug, Clone, thiserror::Error)]
#[error("flint cannot run functions on this host: {0}")]
pub struct HostCannotRun(pub String);

/// Why an invocation did not run (a function error is not one: it ran, and failed).
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    HostCannotRun(HostCannotRun),
    /// The reference names nothing that can be invoked (or the store failed).
    #[error(transparent)]
    Resolve(ControlError),
    #[error("operation failed: {0}")]
    ResolveAborted(JoinError),
    #[error("the function's code is not on local disk")]
    CodeMissing,
    #[error(transparent)]
    Invoke(InvokeError),
    /// The task running a started invocation failed (it panicked).
    #[error(transparent)]
    InvocationAborted(JoinError),
    /// The function has run the loop limit's number of times in this chain of requests and
    /// its recursion config is `Terminate` (`recursion_guard.rs`).
    #[error("the recursive loop of function {0} was stopped")]
    RecursiveLoop(String),
}

/// What a caller adds to the resolved function: the event and its transport's options.
#[derive(Debug, Default)]
pub struct Call {
    pub payload: Bytes,
    /// Decoded client context JSON (`X-Amz-Client-Context`).
    pub client_context: Option<String>,
    /// Whether the answer carries the log tail (`X-Amz-Log-Type: Tail`).
    pub tail_logs: bool,
    /// The request id to run under (a new one when `None`): an asynchronous event keeps its
    /// own across retries, a function URL request the one its event names.
    pub request_id: Option<String>,
    /// The caller's X-Ray trace header (`X-Amzn-Trace-Id`), which the invocation continues.
    pub trace_header: Option<String>,
}

/// Runs invocations through the control plane and the invoker.
#[derive(Clone)]
pub struct Dispatcher {
    control: Arc<ControlPlane>,
    /// `Err` says why functions cannot run on this host.
    invoker: Result<Arc<Invoker>, HostCannotRun>,
}

impl Dispatcher {
    pub fn new(control: Arc<ControlPlane>, invoker: Result<Arc<Invoker>, HostCannotRun>) -> Self {
        Self { control, invoker }
    }

    /// The invoker, or the refusal every invocation gets on a host that cannot run functions.
    pub fn invoker(&self) -> Result<&Arc<Invoker>, DispatchError> {
        host_invoker(&self.invoker)
    }

    /// What one invocation of `target` runs: an alias with a routing configuration picks its
    /// version by a fresh roll, as Lambda routes traffic.
    pub async fn resolve(&self, target: &FunctionRef) -> Result<ResolvedFunction, DispatchError> {
        let roll: f64 = rand::random();
        // Warm path: an in-memory answer needs no trip to the blocking pool.
        if let Some(hit) = self.control.resolve_cached(target, roll) {
            return Ok(hit);
        }
        let target = target.clone();
        on_blocking_pool(&self.control, move |c| c.resolve_invocation(&target, roll))
            .await
            .map_err(DispatchError::ResolveAborted)?
            .map_err(DispatchError::Resolve)
    }

    /// Runs `resolved` with `call` and waits for the answer (unless it would run in a
    /// recursive loop past the limit).
    pub async fn invoke(
        &self,
        resolved: ResolvedFunction,
        mut call: Call,
    ) -> Result<InvokeOutput, DispatchError> {
        call.trace_header =
            Some(continue_lineage(&self.control, &resolved, call.trace_header.as_deref()).await?);
        self.prepare(resolved, call, None)?.run().await
    }

    /// Runs `resolved` with `call` on a task of its own: the invocation finishes (and is
    /// logged) even if the caller stops waiting.
    pub fn start(&self, resolved: ResolvedFunction, call: Call) -> Result<Running, DispatchError> {
        Ok(self.prepare(resolved, call, None)?.spawn())
    }

    /// Runs `resolved` with `call`, asking for a streamed response.
    pub async fn invoke_streaming(
        &self,
        resolved: ResolvedFunction,
        mut call: Call,
    ) -> Result<StreamingAnswer, DispatchError> {
        call.trace_header =
            Some(continue_lineage(&self.control, &resolved, call.trace_header.as_deref()).await?);
        let (parts_tx, mut parts) = mpsc::channel::<StreamPart>(16);
        let running = self.prepare(resolved, call, Some(parts_tx))?.spawn();
        // The invoker sends the content type of a streamed response before its chunks, and
        // drops the channel when the invocation ends. So the first receive tells the cases
        // apart without racing the invocation: a content type means a stream; the end of the
        // channel means the answer is whole in the output (or admission refused it).
        match parts.recv().await {
            Some(StreamPart::ContentType(content_type)) => {
                Ok(StreamingAnswer::Stream(ResponseStream {
                    content_type,
                    parts,
                    running,
                }))
            }
            _ => Ok(StreamingAnswer::Whole(running.finish().await)),
        }
    }

    /// The invoker's request for a resolved version, on a host that can run it.
    fn prepare(
        &self,
        resolved: ResolvedFunction,
        call: Call,
        stream_to: Option<mpsc::Sender<StreamPart>>,
    ) -> Result<Prepared, DispatchError> {
        let invoker = self.invoker()?.clone();
        let code_path = self
            .control
            .code_path(&resolved.code_blob)
            .ok_or(DispatchError::CodeMissing)?;
        let layers =
            layer_code(&self.control, &resolved.layer_blobs).ok_or(DispatchError::CodeMissing)?;
        let request = InvokeRequest {
            config: resolved.config,
            code_blob: resolved.code_blob,
            code_path,
            layers,
            invoked_arn: resolved.invoked_arn,
            payload: call.payload,
            client_context: call.client_context,
            tail_logs: call.tail_logs,
            request_id: call.request_id,
            trace_header: call.trace_header,
            stream_to,
        };
        Ok(Prepared { invoker, request })
    }
}

/// The layers' zips, in order (`None` when one is not on local disk).
pub(crate) fn layer_code(control: &ControlPlane, blobs: &[String]) -> Option<Vec<LayerCode>> {
    blobs
        .iter()
        .map(|b| {
            Some(LayerCode {
                blob: b.clone(),
                zip_path: control.code_path(b)?,
            })
        })
        .collect()
}

/// The invoker held by a server: the one place its absence is turned into the refusal.
pub(crate) fn host_invoker(
    invoker: &Result<Arc<Invoker>, HostCannotRun>,
) -> Result<&Arc<Invoker>, DispatchError> {
    invoker
        .as_ref()
        .map_err(|why| DispatchError::HostCannotRun(why.clone()))
}

/// An invocation ready to run.
struct Prepared {
    invoker: Arc<Invoker>,
    request: InvokeRequest,
}

impl Prepared {
    /// The one call of `Invoker::invoke` in this crate.
    async fn run(self) -> Result<InvokeOutput, DispatchError> {
        self.invoker
            .invoke(self.request)
            .await
            .map_err(DispatchError::Invoke)
    }

    fn spawn(self) -> Running {
        Running(tokio::spawn(self.run()))
    }
}

/// An invocation running on its own task.
pub struct Running(JoinHandle<Result<InvokeOutput, DispatchError>>);

impl Running {
    /// Waits for the invocation's answer.
    pub async fn finish(self) -> Result<InvokeOutput, DispatchError> {
        self.0.await.map_err(DispatchError::InvocationAborted)?
    }
}

/// The answer to [`Dispatcher::invoke_streaming`].
pub enum StreamingAnswer {
    /// The function streams its response.
    Stream(ResponseStream),
    /// The answer is whole in the output: the function did not stream, or the invocation
    /// did not run (admission refused it, say).
    Whole(Result<InvokeOutput, DispatchError>),
}

/// A streamed response under way.
pub struct ResponseStream {
    /// The runtime's content type, if it sent one.
    pub content_type: Option<String>,
    /// The body's chunks as the function writes them; ends when the invocation does.
    pub parts: mpsc::Receiver<StreamPart>,
    /// The invocation itself: its output says how it ended.
    pub running: Running,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{NO_INVOKER, create_function, test_state};
    use flint_types::ApiError;
    use flint_types::model::{CreateAliasRequest, UpdateFunctionConfigurationRequest};
    use std::collections::BTreeSet;

    fn function(name: &str, qualifier: Option<&str>) -> FunctionRef {
        FunctionRef {
            name: name.into(),
            qualifier: qualifier.map(|q| flint_types::Qualifier::parse(q).unwrap()),
        }
    }

    #[tokio::test]
    async fn a_reference_to_nothing_does_not_resolve() {
        let test = test_state();
        let dispatcher = test.state.dispatcher();
        match dispatcher.resolve(&function("missing", None)).await {
            Err(DispatchError::Resolve(ControlError::Api(ApiError::ResourceNotFound(_)))) => {}
            other => panic!("{:?}", other.map(|r| r.invoked_arn)),
        }
    }

    #[tokio::test]
    async fn an_alias_with_weights_routes_each_invocation_by_a_fresh_roll() {
        let test = test_state();
        let control = &test.state.control;
        create_function(control, "f");
        let latest = function("f", None);
        control
            .publish_version(&latest, Default::default())
            .unwrap();
        let changed: UpdateFunctionConfigurationRequest =
            serde_json::from_value(serde_json::json!({"Description": "two"})).unwrap();
        control
            .update_function_configuration(&latest, changed)
            .unwrap();
        control
            .publish_version(&latest, Default::default())
            .unwrap();
        let alias: CreateAliasRequest = serde_json::from_value(serde_json::json!({
            "Name": "live",
            "FunctionVersion": "1",
            "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.5}},
        }))
        .unwrap();
        control.create_alias(&latest, alias).unwrap();

        let dispatcher = test.state.dispatcher();
        let live = function("f", Some("live"));
        let mut versions = BTreeSet::new();
        for _ in 0..200 {
            let resolved = dispatcher.resolve(&live).await.unwrap();
            assert!(resolved.invoked_arn.ends_with(":function:f:live"));
            versions.insert(resolved.config.version);
        }
        // Half the traffic each: 200 rolls that all land on one side have odds of 2^-199.
        assert_eq!(versions, BTreeSet::from(["1".to_string(), "2".to_string()]));
    }

    #[tokio::test]
    async fn a_host_that_cannot_run_functions_refuses_every_invocation_after_resolving() {
        let test = test_state();
        create_function(&test.state.control, "f");
        let dispatcher = test.state.dispatcher();
        let target = function("f", None);
        let refused = |e: DispatchError| {
            assert!(
                matches!(&e, DispatchError::HostCannotRun(HostCannotRun(why)) if why == NO_INVOKER)
            );
            assert_eq!(
                e.to_string(),
                format!("flint cannot run functions on this host: {NO_INVOKER}")
            );
        };
        let resolved = dispatcher.resolve(&target).await.unwrap();
        refused(
            dispatcher
                .invoke(resolved, Call::default())
                .await
                .unwrap_err(),
        );
        let resolved = dispatcher.resolve(&target).await.unwrap();
        refused(dispatcher.start(resolved, Call::default()).err().unwrap());
        let resolved = dispatcher.resolve(&target).await.unwrap();
        match dispatcher.invoke_streaming(resolved, Call::default()).await {
            Err(e) => refused(e),
            Ok(_) => panic!("a streaming invocation ran on a host without an invoker"),
        }
        refused(dispatcher.invoker().err().unwrap());
    }
}
