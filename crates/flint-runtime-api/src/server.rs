//! The HTTP layer and the platform-side handle.
//!
//! hyper 1 is used directly (no router framework): there are six routes, matched by a pure
//! function, and the warm path is `GET /next` + `POST /response` on one keep-alive connection.
//!
//! Concurrency model: one `parking_lot::Mutex` per environment guards the [`StateMachine`] plus
//! the two rendezvous points — the parked `/next` (a oneshot sender) and the invoker waiting for
//! an outcome (a oneshot sender). The lock is never held across an `.await`; bodies are read
//! outside it. There is no global state, so environments never contend with each other.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::{Mutex, MutexGuard};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::body::{ReadError, discard, pump_stream, read_bounded};
use crate::error::{Rejection, RuntimeApiError};
use crate::ext_server;
use crate::extensions::{EventKind, Registry};
use crate::protocol::{self, ResponseMode, Route};
use crate::state::{Identified, NextStep, Phase, Reply, StateMachine};
use crate::types::{
    InitOutcome, Invocation, InvokeOutcome, ResponseStream, RuntimeApiConfig, StreamingResponse,
};

pub(crate) type Body = Full<Bytes>;

/// An event ready to be written as a `/next` response: headers rendered and validated when it
/// was submitted.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) request_id: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Identified for Event {
    fn request_id(&self) -> &str {
        &self.request_id
    }
}

/// What wakes a parked `GET /next` (the runtime's or an extension's).
pub(crate) enum Wake {
    Event(Event),
    /// A newer `/next` took its place.
    Superseded,
    ShutDown,
}

type OutcomeSender = oneshot::Sender<Result<InvokeOutcome, RuntimeApiError>>;

pub(crate) struct Env {
    machine: StateMachine<Event>,
    /// The extensions (empty for most functions: every extension path is skipped then).
    pub(crate) ext: Registry<Event>,
    /// Parked `GET /extension/event/next` requests, by extension id.
    pub(crate) ext_waiters: Vec<(String, oneshot::Sender<Wake>)>,
    /// The runtime called its first `/next` (init ends once the extensions are ready too).
    pub(crate) runtime_ready: bool,
    /// The parked `GET /next`, if the runtime is (or was, until its connection died) waiting.
    waiter: Option<oneshot::Sender<Wake>>,
    /// The invoker of the current (pending or in-flight) invocation, tagged with a sequence
    /// number so a cancelled invoker only clears its own slot.
    result: Option<(u64, OutcomeSender)>,
    seq: u64,
    /// `GET /next` requests received (diagnostics: a runtime that blocks in `/next`, as the
    /// protocol intends, makes one per invocation plus one; a polling client drives it up).
    next_requests: u64,
    /// Bumped by `reset()`, so a slow `/init/error` body read from the previous runtime process
    /// cannot publish into the new init.
    pub(crate) epoch: u64,
}

impl Env {
    /// Hands `ev` (for which the machine just entered `Running`) to the parked `/next`; if that
    /// request is gone, the event goes back to pending for the runtime's next `/next`.
    fn hand_to_waiter(&mut self, ev: Event) {
        let ev = match self.waiter.take() {
            Some(w) => match w.send(Wake::Event(ev)) {
                Ok(()) => return,
                Err(Wake::Event(ev)) => ev,
                Err(_) => unreachable!("send returns the value it was given"),
            },
            None => ev,
        };
        self.machine.undeliver(ev);
    }
}

#[derive(Debug, Clone)]
pub(crate) enum InitStatus {
    Pending,
    Done(InitOutcome),
    ShutDown,
}

pub(crate) struct Shared {
    pub(crate) config: RuntimeApiConfig,
    env: Mutex<Env>,
    pub(crate) init: watch::Sender<InitStatus>,
    shutdown: watch::Sender<bool>,
    /// Woken whenever an extension becomes ready or fails.
    pub(crate) ext_changed: Notify,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Env> {
        // parking_lot locks do not poison: a panic while holding this one leaves a consistent
        // machine (every transition is a single assignment), so the environment goes on.
        self.env.lock()
    }
}

/// The Runtime API of one execution environment. Cheap to clone; all clones drive the same
/// environment.
///
/// Lifecycle as seen by the invoke layer:
/// 1. [`RuntimeApi::new`], then [`serve`](Self::serve)/[`spawn`](Self::spawn) on the listener the
///    environment's `AWS_LAMBDA_RUNTIME_API` points at, then start the runtime process.
/// 2. [`wait_init`](Self::wait_init) (race it against process exit and the init timeout).
/// 3. [`invoke`](Self::invoke) once per event, one at a time (race it against process exit and
///    the function timeout; dropping the future is fine).
/// 4. On timeout/crash: kill the process, [`reset`](Self::reset), start a new process, back to 2;
///    or [`shutdown`](Self::shutdown) to retire the environment.
#[derive(Clone)]
pub struct RuntimeApi {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi")
            .field("phase", &self.phase())
            .finish_non_exhaustive()
    }
}

impl Default for RuntimeApi {
    fn default() -> Self {
        Self::new(RuntimeApiConfig::default())
    }
}

impl RuntimeApi {
    /// A Runtime API for a runtime that has not started yet (phase `Started`).
    pub fn new(config: RuntimeApiConfig) -> Self {
        let external = config.extensions.external.clone();
        let (init, _) = watch::channel(InitStatus::Pending);
        let (shutdown, _) = watch::channel(false);
        Self {
            shared: Arc::new(Shared {
                config,
                env: Mutex::new(Env {
                    machine: StateMachine::new(),
                    ext: Registry::new(external),
                    ext_waiters: Vec::new(),
                    runtime_ready: false,
                    waiter: None,
                    result: None,
                    seq: 0,
                    next_requests: 0,
                    epoch: 0,
                }),
                init,
                shutdown,
                ext_changed: Notify::new(),
            }),
        }
    }

    /// The limits this instance enforces.
    pub fn config(&self) -> &RuntimeApiConfig {
        &self.shared.config
    }

    /// A snapshot of the runtime's phase (for diagnostics and the invoke layer's bookkeeping).
    pub fn phase(&self) -> Phase {
        self.shared.lock().machine.phase().clone()
    }

    /// Number of `GET /next` requests received so far (all runtime processes). A runtime that
    /// blocks in `/next` as the protocol intends makes one per invocation plus one; the tests use
    /// this to prove `/next` never returns early.
    pub fn next_requests(&self) -> u64 {
        self.shared.lock().next_requests
    }

    /// Serves the Runtime API on `listener` until [`shutdown`](Self::shutdown).
    ///
    /// Each connection is served by its own task (HTTP/1.1 keep-alive, `TCP_NODELAY`), at most
    /// [`RuntimeApiConfig::max_connections`] at once. After
    /// shutdown, open connections finish their in-flight request (parked `/next` requests are
    /// answered 500) and are closed within a second. Transient accept errors (e.g. `EMFILE`)
    /// are logged and retried.
    pub async fn serve(&self, listener: TcpListener) {
        let mut stop = self.shared.shutdown.subscribe();
        let slots = Arc::new(Semaphore::new(self.shared.config.max_connections.max(1)));
        loop {
            let accepted = tokio::select! {
                _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
                accepted = async {
                    // Take a slot before accepting: at the cap, connections stay in the
                    // kernel backlog instead of using one of the server's descriptors.
                    let slot = slots.clone().acquire_owned().await.expect("never closed");
                    (slot, listener.accept().await)
                } => accepted,
            };
            match accepted {
                (slot, Ok((stream, _))) => {
                    let shared = self.shared.clone();
                    tokio::spawn(async move {
                        serve_connection(shared, stream).await;
                        drop(slot);
                    });
                }
                (_, Err(e)) => {
                    tracing::warn!(error = %e, "runtime api: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    /// [`serve`](Self::serve) on a new task.
    pub fn spawn(&self, listener: TcpListener) -> JoinHandle<()> {
        let api = self.clone();
        tokio::spawn(async move { api.serve(listener).await })
    }

    /// [`spawn`](Self::spawn) for a listener created outside tokio — e.g. one the sandbox layer
    /// bound to `127.0.0.1:9001` inside the environment's network namespace and handed over.
    /// Sets it non-blocking. Must be called from within a tokio runtime.
    pub fn spawn_std(&self, listener: std::net::TcpListener) -> std::io::Result<JoinHandle<()>> {
        listener.set_nonblocking(true)?;
        Ok(self.spawn(TcpListener::from_std(listener)?))
    }

    /// Resolves when initialization ends: [`InitOutcome::Ready`] at the runtime's first
    /// `GET /next`, [`InitOutcome::InitError`] when it posts `/runtime/init/error`.
    ///
    /// May be called any number of times, before or after the fact. Does not watch the process or
    /// the clock: race it against process exit and the init timeout. Fails only with
    /// [`RuntimeApiError::ShutDown`].
    pub async fn wait_init(&self) -> Result<InitOutcome, RuntimeApiError> {
        let mut rx = self.shared.init.subscribe();
        let status = rx
            .wait_for(|s| !matches!(s, InitStatus::Pending))
            .await
            .map_err(|_| RuntimeApiError::ShutDown)?;
        match &*status {
            InitStatus::Done(outcome) => Ok(outcome.clone()),
            _ => Err(RuntimeApiError::ShutDown),
        }
    }

    /// Hands `inv` to the runtime — to its blocked `GET /next`, or to its next one — and resolves
    /// with the runtime's answer.
    ///
    /// One invocation at a time: while one is pending or in flight this fails with
    /// [`RuntimeApiError::Busy`]. May be called during init (the event waits for the first
    /// `/next`; if init fails instead, this fails with [`RuntimeApiError::InitFailed`]).
    ///
    /// Cancel-safe: dropping the future withdraws an event the runtime has not taken yet. An event
    /// already delivered stays in flight (the runtime is working on it) and the environment stays
    /// busy until the runtime answers — whose answer is then accepted and dropped — or until
    /// [`reset`](Self::reset).
    pub async fn invoke(&self, inv: Invocation) -> Result<InvokeOutcome, RuntimeApiError> {
        let headers = protocol::event_headers(&inv)?;
        // Rendered only when extensions registered (the common function pays one uncontended
        // lock). The set only changes during init; an extension registering between this
        // check and the submit below, while an event waits for init, misses that one INVOKE.
        let has_extensions = !self.shared.lock().ext.is_empty();
        let invoke_event = has_extensions.then(|| ext_server::invoke_event(&inv));
        let ev = Event {
            request_id: inv.request_id,
            headers,
            body: inv.payload,
        };
        let (tx, rx) = oneshot::channel();
        let seq = {
            let mut env = self.shared.lock();
            let deliver = env.machine.submit(ev)?;
            env.seq += 1;
            let seq = env.seq;
            env.result = Some((seq, tx));
            if let Some(ev) = deliver {
                env.hand_to_waiter(ev);
            }
            if let Some(body) = &invoke_event {
                ext_server::dispatch(&mut env, EventKind::Invoke, body);
            }
            seq
        };
        let mut guard = CancelGuard {
            shared: &self.shared,
            seq,
            armed: true,
        };
        let outcome = rx.await;
        guard.armed = false;
        // The sender is only dropped without a value if the environment was torn down in a way
        // that did not report (cannot happen today); treat it as a shutdown.
        outcome.unwrap_or(Err(RuntimeApiError::ShutDown))
    }

    /// Retires the environment: the listener stops accepting, every later runtime request gets
    /// 500 (the runtime must exit), a parked `/next` is answered 500, a pending or in-flight
    /// [`invoke`](Self::invoke) and a pending [`wait_init`](Self::wait_init) fail with
    /// [`RuntimeApiError::ShutDown`]. Idempotent.
    pub fn shutdown(&self) {
        let (waiter, result) = {
            let mut env = self.shared.lock();
            env.machine.shutdown();
            env.ext.close();
            env.ext_waiters.clear(); // their /event/next get a 500
            (env.waiter.take(), env.result.take())
        };
        self.shared.ext_changed.notify_waiters();
        if let Some(w) = waiter {
            let _ = w.send(Wake::ShutDown);
        }
        if let Some((_, tx)) = result {
            let _ = tx.send(Err(RuntimeApiError::ShutDown));
        }
        self.shared.init.send_modify(|s| {
            if matches!(s, InitStatus::Pending) {
                *s = InitStatus::ShutDown;
            }
        });
        self.shared.shutdown.send_replace(true);
    }

    /// Prepares for a new runtime process in the same environment (after the previous one timed
    /// out or crashed and was killed): back to `Started`, init pending again. A pending or
    /// in-flight invocation fails with [`RuntimeApiError::Reset`]; a parked `/next` of the old
    /// process is released (500). No effect after shutdown.
    ///
    /// Call it only once the old process is gone (reaped): the API cannot tell processes apart,
    /// so a `/next` from a dying old runtime after the reset would count as the new runtime's
    /// init completing.
    pub fn reset(&self) {
        let (waiter, result) = {
            let mut env = self.shared.lock();
            if *env.machine.phase() == Phase::ShutDown {
                return;
            }
            env.machine.reset();
            env.ext.reset_runtime();
            // The dropped internal extensions' parked /event/next get a 500; external ones stay
            // parked.
            let Env {
                ext, ext_waiters, ..
            } = &mut *env;
            ext_waiters.retain(|(id, _)| ext.extensions().iter().any(|e| e.id == *id));
            env.runtime_ready = false;
            env.epoch += 1;
            (env.waiter.take(), env.result.take())
        };
        drop(waiter); // the old runtime's /next gets a 500
        if let Some((_, tx)) = result {
            let _ = tx.send(Err(RuntimeApiError::Reset));
        }
        self.shared.init.send_replace(InitStatus::Pending);
    }
}

/// Clears the invoker's slot (and withdraws its not-yet-delivered event) when
/// [`RuntimeApi::invoke`] is dropped before it resolves.
struct CancelGuard<'a> {
    shared: &'a Shared,
    seq: u64,
    armed: bool,
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut env = self.shared.lock();
        if matches!(env.result, Some((seq, _)) if seq == self.seq) {
            env.result = None;
            // Only one invocation is ever pending or in flight, and the slot is ours: if an
            // event is pending, it is ours.
            env.machine.cancel_pending();
        }
    }
}

mod handlers;

use handlers::serve_connection;
pub(crate) use handlers::{accepted, event_response, json};
