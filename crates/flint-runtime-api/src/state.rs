//! The runtime state machine of one execution environment, free of I/O.
//!
//! ```text
//!                 /init/error
//!   Started ───────────────────────────────────────────────▶ InitError
//!     │ /next (init complete)
//!     ▼               submit() while Ready
//!   Ready ◀──────────────────────────────┐   ┌──────────────────────▶ Running(id)
//!     ▲  (runtime blocked in /next)      │   │                          │ /response|/error (id)
//!     │                                  │   │                          ▼
//!     │ /next, nothing pending      ─────┘   │                  InvocationResponse(id) /
//!     │                                      │                  InvocationErrorResponse(id)
//!   RuntimeResponseSentState ─── /next, event pending ──┘               │ body received
//!     ▲                                                                 │
//!     └─────────────────────────────────────────────────────────────────┘
//!   any state ── shutdown() ──▶ ShutDown        any state ── reset() ──▶ Started
//! ```
//!
//! State names are the ones AWS's Runtime Interface Emulator uses in its 403 messages
//! (`State transition from <A> to <B> failed for runtime. Error: …`).
//!
//! Besides the phase the machine holds at most one *pending* event: one submitted by the invoke
//! layer while the runtime was not blocked in `/next` (still initialising, or between posting a
//! response and calling `/next` again — the normal warm-path race). The next `/next` takes it.
//!
//! The machine is generic over the event type so the HTTP layer can store a pre-rendered event
//! while unit tests use plain [`Invocation`]s. Channels, waiters and sockets
//! live in the server layer; every decision lives here.
//!
//! Deliberate choices where the Lambda contract is loose:
//! * A response or error for an id that is not the in-flight invocation — unknown, or already
//!   answered — is 400 `InvalidRequestID` whatever the phase after init (RIE answers 403 when the
//!   runtime has not called `/next` yet; the Runtime API documentation says 400).
//! * `/next` while already `Ready` is allowed (RIE allows it too): the new request replaces the
//!   parked one, which usually belongs to a connection the runtime abandoned.
//! * `/next` while `Running` (twice without answering) is 403.

use crate::error::{Rejection, RuntimeApiError};
use crate::types::Invocation;

/// Something with a request id (an event the machine can queue and deliver).
pub trait Identified {
    /// The invocation's request id.
    fn request_id(&self) -> &str;
}

impl Identified for Invocation {
    fn request_id(&self) -> &str {
        &self.request_id
    }
}

/// Which kind of answer the runtime is posting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `POST /invocation/{id}/response`
    Response,
    /// `POST /invocation/{id}/error`
    Error,
}

impl Reply {
    /// Name of the state a reply of this kind enters.
    pub const fn state_name(self) -> &'static str {
        match self {
            Reply::Response => "InvocationResponse",
            Reply::Error => "InvocationErrorResponse",
        }
    }
}

/// Phase of the runtime in one execution environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// The runtime process started but has not called `/next` yet (initialising).
    Started,
    /// The runtime is blocked in `GET /next` waiting for an event.
    Ready,
    /// An event was handed to the runtime; its answer is awaited.
    Running {
        /// The in-flight invocation.
        request_id: String,
    },
    /// The runtime is sending the body of its answer to the in-flight invocation.
    Responding {
        /// The in-flight invocation.
        request_id: String,
        /// Response or error.
        reply: Reply,
    },
    /// The runtime answered and has not called `/next` again (or its parked `/next` was lost).
    ResponseSent,
    /// The runtime reported an init error. Terminal until [`StateMachine::reset`].
    InitError,
    /// The API was shut down. Terminal.
    ShutDown,
}

impl Phase {
    /// The state name used in 403 messages.
    pub const fn name(&self) -> &'static str {
        match self {
            Phase::Started => "Started",
            Phase::Ready => "Ready",
            Phase::Running { .. } => "Running",
            Phase::Responding { reply, .. } => reply.state_name(),
            Phase::ResponseSent => "RuntimeResponseSentState",
            Phase::InitError => "InitError",
            Phase::ShutDown => "ShutDown",
        }
    }
}

/// What to do with a `GET /next`.
#[derive(Debug, PartialEq, Eq)]
pub enum NextStep<E> {
    /// Answer it now with this event (phase is now `Running`).
    Deliver(E),
    /// Park it until an event is submitted (phase is now `Ready`). `superseded` is true when an
    /// earlier parked `/next` must be released (it gets a 403).
    Park {
        /// An earlier `/next` was parked and is replaced by this one.
        superseded: bool,
    },
}

/// Result of a `GET /next` the machine accepted.
#[derive(Debug, PartialEq, Eq)]
pub struct NextAction<E> {
    /// This was the runtime's first `/next`: initialization is complete.
    pub init_completed: bool,
    /// Deliver or park.
    pub step: NextStep<E>,
}

/// The per-environment runtime state machine. See the module docs for the diagram.
#[derive(Debug)]
pub struct StateMachine<E> {
    phase: Phase,
    pending: Option<E>,
}

impl<E: Identified> Default for StateMachine<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Identified> StateMachine<E> {
    /// A machine for a freshly started runtime.
    pub const fn new() -> Self {
        Self {
            phase: Phase::Started,
            pending: None,
        }
    }

    /// Current phase.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The submitted event not yet taken by `/next`, if any.
    pub fn pending(&self) -> Option<&E> {
        self.pending.as_ref()
    }

    /// Runtime: `GET /runtime/invocation/next`.
    pub fn on_next(&mut self) -> Result<NextAction<E>, Rejection> {
        let (init_completed, superseded) = match &self.phase {
            Phase::Started => (true, false),
            Phase::ResponseSent => (false, false),
            Phase::Ready => (false, true),
            Phase::ShutDown => return Err(Rejection::InternalServerError),
            other => return Err(Rejection::transition(other.name(), "Ready")),
        };
        let step = match self.pending.take() {
            Some(ev) => {
                debug_assert!(!superseded, "an event is never pending while Ready");
                self.phase = Phase::Running {
                    request_id: ev.request_id().to_owned(),
                };
                NextStep::Deliver(ev)
            }
            None => {
                self.phase = Phase::Ready;
                NextStep::Park { superseded }
            }
        };
        Ok(NextAction {
            init_completed,
            step,
        })
    }

    /// Runtime: start of `POST /invocation/{id}/response` or `/error` (before its body is read).
    pub fn on_reply_start(&mut self, request_id: &str, reply: Reply) -> Result<(), Rejection> {
        match &self.phase {
            Phase::Running {
                request_id: current,
            } if current == request_id => {
                self.phase = Phase::Responding {
                    request_id: request_id.to_owned(),
                    reply,
                };
                Ok(())
            }
            Phase::Running { .. }
            | Phase::Responding { .. }
            | Phase::Ready
            | Phase::ResponseSent => Err(Rejection::InvalidRequestId),
            Phase::ShutDown => Err(Rejection::InternalServerError),
            other @ (Phase::Started | Phase::InitError) => {
                Err(Rejection::transition(other.name(), reply.state_name()))
            }
        }
    }

    /// Runtime: the answer's body was received (or failed). Returns false when the machine moved
    /// on meanwhile (shutdown or reset), in which case the outcome must be dropped.
    pub fn on_reply_done(&mut self, request_id: &str) -> bool {
        match &self.phase {
            Phase::Responding {
                request_id: current,
                ..
            } if current == request_id => {
                self.phase = Phase::ResponseSent;
                true
            }
            _ => false,
        }
    }

    /// Runtime: `POST /runtime/init/error`. Returns the event that was pending during init, which
    /// must now fail.
    pub fn on_init_error(&mut self) -> Result<Option<E>, Rejection> {
        match &self.phase {
            Phase::Started => {
                self.phase = Phase::InitError;
                Ok(self.pending.take())
            }
            Phase::ShutDown => Err(Rejection::InternalServerError),
            other => Err(Rejection::transition(other.name(), "InitError")),
        }
    }

    /// Runtime: `GET /runtime/restore/next` or `POST /runtime/restore/error`. SnapStart is not
    /// supported, so these are never valid: 403 (500 after shutdown). `to` is `RestoreReady` or
    /// `RestoreError`.
    pub fn on_restore(&self, to: &'static str) -> Rejection {
        match &self.phase {
            Phase::ShutDown => Rejection::InternalServerError,
            other => Rejection::transition(other.name(), to),
        }
    }

    /// Invoker: hand over an event. `Ok(Some(ev))`: the runtime is blocked in `/next`, deliver
    /// `ev` to it now (phase is `Running`; if delivery fails call [`undeliver`](Self::undeliver)).
    /// `Ok(None)`: queued for the next `/next`.
    pub fn submit(&mut self, ev: E) -> Result<Option<E>, RuntimeApiError> {
        if let Some(p) = &self.pending {
            return Err(RuntimeApiError::Busy {
                request_id: p.request_id().to_owned(),
            });
        }
        match &self.phase {
            Phase::Ready => {
                self.phase = Phase::Running {
                    request_id: ev.request_id().to_owned(),
                };
                Ok(Some(ev))
            }
            Phase::Started | Phase::ResponseSent => {
                self.pending = Some(ev);
                Ok(None)
            }
            Phase::Running { request_id } | Phase::Responding { request_id, .. } => {
                Err(RuntimeApiError::Busy {
                    request_id: request_id.clone(),
                })
            }
            Phase::InitError => Err(RuntimeApiError::InitFailed),
            Phase::ShutDown => Err(RuntimeApiError::ShutDown),
        }
    }

    /// Invoker: the event returned by [`submit`](Self::submit) could not be handed to the parked
    /// `/next` (its connection is gone). The runtime is no longer waiting; queue the event for
    /// its next `/next`.
    pub fn undeliver(&mut self, ev: E) {
        debug_assert!(
            matches!(&self.phase, Phase::Running { request_id } if request_id == ev.request_id()),
            "undeliver in {:?}",
            self.phase
        );
        self.phase = Phase::ResponseSent;
        self.pending = Some(ev);
    }

    /// Invoker: the invoker gave up on its event. If the event was still pending it is withdrawn
    /// and returned; a delivered event stays `Running` (the runtime is working on it, the
    /// environment stays busy until it answers or is reset).
    pub fn cancel_pending(&mut self) -> Option<E> {
        self.pending.take()
    }

    /// Shut down: every later runtime request gets 500 and every submit fails. Returns the
    /// pending event, if any.
    pub fn shutdown(&mut self) -> Option<E> {
        self.phase = Phase::ShutDown;
        self.pending.take()
    }

    /// Back to `Started` for a new runtime process in the same environment (after a timeout or
    /// crash). Returns the pending event, if any. A shut-down machine stays shut down.
    pub fn reset(&mut self) -> Option<E> {
        if self.phase != Phase::ShutDown {
            self.phase = Phase::Started;
        }
        self.pending.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type M = StateMachine<Invocation>;

    fn ev(id: &str) -> Invocation {
        Invocation {
            request_id: id.to_owned(),
            ..Invocation::default()
        }
    }

    fn running(id: &str) -> Phase {
        Phase::Running {
            request_id: id.to_owned(),
        }
    }

    fn forbidden(from: &'static str, to: &'static str) -> Rejection {
        Rejection::transition(from, to)
    }

    /// Machine in Ready (runtime blocked in /next after init).
    fn ready() -> M {
        let mut m = M::new();
        m.on_next().unwrap();
        m
    }

    /// Machine in Running("a").
    fn running_a() -> M {
        let mut m = ready();
        m.submit(ev("a")).unwrap().unwrap();
        m
    }

    #[test]
    fn first_next_completes_init_and_parks() {
        let mut m = M::new();
        assert_eq!(m.phase().name(), "Started");
        let a = m.on_next().unwrap();
        assert_eq!(
            a,
            NextAction {
                init_completed: true,
                step: NextStep::Park { superseded: false }
            }
        );
        assert_eq!(m.phase(), &Phase::Ready);
    }

    #[test]
    fn event_submitted_during_init_is_delivered_by_first_next() {
        let mut m = M::new();
        assert_eq!(m.submit(ev("a")), Ok(None));
        assert_eq!(m.pending().unwrap().request_id, "a");
        let a = m.on_next().unwrap();
        assert!(a.init_completed);
        assert_eq!(a.step, NextStep::Deliver(ev("a")));
        assert_eq!(m.phase(), &running("a"));
        assert!(m.pending().is_none());
    }

    #[test]
    fn submit_while_ready_delivers_immediately() {
        let mut m = ready();
        assert_eq!(m.submit(ev("a")), Ok(Some(ev("a"))));
        assert_eq!(m.phase(), &running("a"));
    }

    #[test]
    fn full_cycle_response_then_next() {
        let mut m = running_a();
        m.on_reply_start("a", Reply::Response).unwrap();
        assert_eq!(m.phase().name(), "InvocationResponse");
        assert!(m.on_reply_done("a"));
        assert_eq!(m.phase(), &Phase::ResponseSent);
        assert_eq!(m.phase().name(), "RuntimeResponseSentState");
        let a = m.on_next().unwrap();
        assert!(!a.init_completed);
        assert_eq!(a.step, NextStep::Park { superseded: false });
        assert_eq!(m.phase(), &Phase::Ready);
    }

    #[test]
    fn full_cycle_error() {
        let mut m = running_a();
        m.on_reply_start("a", Reply::Error).unwrap();
        assert_eq!(m.phase().name(), "InvocationErrorResponse");
        assert!(m.on_reply_done("a"));
        assert_eq!(m.phase(), &Phase::ResponseSent);
    }

    #[test]
    fn warm_race_submit_before_runtime_calls_next_again() {
        let mut m = running_a();
        m.on_reply_start("a", Reply::Response).unwrap();
        m.on_reply_done("a");
        // Invoker got the outcome and submits the next event before the runtime's /next.
        assert_eq!(m.submit(ev("b")), Ok(None));
        let a = m.on_next().unwrap();
        assert_eq!(a.step, NextStep::Deliver(ev("b")));
        assert_eq!(m.phase(), &running("b"));
    }

    #[test]
    fn next_twice_without_answer_is_403() {
        let mut m = running_a();
        assert_eq!(m.on_next(), Err(forbidden("Running", "Ready")));
        assert_eq!(
            m.phase(),
            &running("a"),
            "a rejected request changes nothing"
        );
        m.on_reply_start("a", Reply::Response).unwrap();
        assert_eq!(m.on_next(), Err(forbidden("InvocationResponse", "Ready")));
    }

    #[test]
    fn next_while_ready_supersedes() {
        let mut m = ready();
        let a = m.on_next().unwrap();
        assert_eq!(a.step, NextStep::Park { superseded: true });
        assert!(!a.init_completed);
    }

    #[test]
    fn reply_with_wrong_or_answered_id_is_400() {
        let mut m = running_a();
        assert_eq!(
            m.on_reply_start("b", Reply::Response),
            Err(Rejection::InvalidRequestId)
        );
        assert_eq!(
            m.on_reply_start("b", Reply::Error),
            Err(Rejection::InvalidRequestId)
        );
        m.on_reply_start("a", Reply::Response).unwrap();
        // concurrent duplicate while the first body is still being read
        assert_eq!(
            m.on_reply_start("a", Reply::Response),
            Err(Rejection::InvalidRequestId)
        );
        assert_eq!(
            m.on_reply_start("a", Reply::Error),
            Err(Rejection::InvalidRequestId)
        );
        m.on_reply_done("a");
        // already answered, before and after the next /next
        assert_eq!(
            m.on_reply_start("a", Reply::Response),
            Err(Rejection::InvalidRequestId)
        );
        m.on_next().unwrap();
        assert_eq!(
            m.on_reply_start("a", Reply::Error),
            Err(Rejection::InvalidRequestId)
        );
    }

    #[test]
    fn reply_before_init_is_403() {
        let mut m = M::new();
        assert_eq!(
            m.on_reply_start("a", Reply::Response),
            Err(forbidden("Started", "InvocationResponse"))
        );
        assert_eq!(
            m.on_reply_start("a", Reply::Error),
            Err(forbidden("Started", "InvocationErrorResponse"))
        );
        // even if an event is pending: it was never delivered
        m.submit(ev("a")).unwrap();
        assert_eq!(
            m.on_reply_start("a", Reply::Response),
            Err(forbidden("Started", "InvocationResponse"))
        );
    }

    #[test]
    fn reply_done_after_reset_or_shutdown_is_dropped() {
        let mut m = running_a();
        m.on_reply_start("a", Reply::Response).unwrap();
        m.reset();
        assert!(!m.on_reply_done("a"));
        assert_eq!(m.phase(), &Phase::Started);

        let mut m = running_a();
        m.on_reply_start("a", Reply::Response).unwrap();
        m.shutdown();
        assert!(!m.on_reply_done("a"));
        assert_eq!(m.phase(), &Phase::ShutDown);
    }

    #[test]
    fn init_error_only_during_init() {
        let mut m = M::new();
        assert_eq!(m.on_init_error(), Ok(None));
        assert_eq!(m.phase(), &Phase::InitError);
        // terminal: everything else is refused
        assert_eq!(m.on_init_error(), Err(forbidden("InitError", "InitError")));
        assert_eq!(m.on_next(), Err(forbidden("InitError", "Ready")));
        assert_eq!(
            m.on_reply_start("a", Reply::Response),
            Err(forbidden("InitError", "InvocationResponse"))
        );
        assert_eq!(m.submit(ev("a")), Err(RuntimeApiError::InitFailed));

        assert_eq!(
            ready().on_init_error(),
            Err(forbidden("Ready", "InitError"))
        );
        assert_eq!(
            running_a().on_init_error(),
            Err(forbidden("Running", "InitError"))
        );
        let mut m = running_a();
        m.on_reply_start("a", Reply::Error).unwrap();
        m.on_reply_done("a");
        assert_eq!(
            m.on_init_error(),
            Err(forbidden("RuntimeResponseSentState", "InitError"))
        );
    }

    #[test]
    fn init_error_fails_the_pending_event() {
        let mut m = M::new();
        m.submit(ev("a")).unwrap();
        assert_eq!(m.on_init_error(), Ok(Some(ev("a"))));
        assert!(m.pending().is_none());
    }

    #[test]
    fn restore_is_never_valid() {
        assert_eq!(
            M::new().on_restore("RestoreReady"),
            forbidden("Started", "RestoreReady")
        );
        assert_eq!(
            ready().on_restore("RestoreError"),
            forbidden("Ready", "RestoreError")
        );
        let mut m = M::new();
        m.shutdown();
        assert_eq!(m.on_restore("RestoreReady"), Rejection::InternalServerError);
    }

    #[test]
    fn submit_while_busy() {
        let busy = |id: &str| {
            Err(RuntimeApiError::Busy {
                request_id: id.to_owned(),
            })
        };
        let mut m = M::new();
        m.submit(ev("a")).unwrap();
        assert_eq!(m.submit(ev("b")), busy("a"), "pending during init");
        let mut m = running_a();
        assert_eq!(m.submit(ev("b")), busy("a"), "running");
        m.on_reply_start("a", Reply::Response).unwrap();
        assert_eq!(m.submit(ev("b")), busy("a"), "responding");
        m.on_reply_done("a");
        m.submit(ev("b")).unwrap();
        assert_eq!(m.submit(ev("c")), busy("b"), "pending between invocations");
    }

    #[test]
    fn undeliver_requeues() {
        let mut m = ready();
        let e = m.submit(ev("a")).unwrap().unwrap();
        m.undeliver(e);
        assert_eq!(m.phase(), &Phase::ResponseSent);
        assert_eq!(m.on_next().unwrap().step, NextStep::Deliver(ev("a")));
    }

    #[test]
    fn cancel_pending_withdraws_only_undelivered() {
        let mut m = M::new();
        m.submit(ev("a")).unwrap();
        assert_eq!(m.cancel_pending(), Some(ev("a")));
        assert_eq!(
            m.on_next().unwrap().step,
            NextStep::Park { superseded: false }
        );

        let mut m = running_a();
        assert_eq!(m.cancel_pending(), None);
        assert_eq!(
            m.phase(),
            &running("a"),
            "a delivered event keeps the env busy"
        );
    }

    #[test]
    fn shutdown_is_terminal() {
        let mut m = M::new();
        m.submit(ev("a")).unwrap();
        assert_eq!(m.shutdown(), Some(ev("a")));
        assert_eq!(m.on_next(), Err(Rejection::InternalServerError));
        assert_eq!(m.on_init_error(), Err(Rejection::InternalServerError));
        assert_eq!(
            m.on_reply_start("a", Reply::Response),
            Err(Rejection::InternalServerError)
        );
        assert_eq!(m.submit(ev("b")), Err(RuntimeApiError::ShutDown));
        m.reset();
        assert_eq!(m.phase(), &Phase::ShutDown);
    }

    #[test]
    fn reset_restarts_init() {
        let mut m = M::new();
        m.on_init_error().unwrap();
        m.reset();
        assert_eq!(m.phase(), &Phase::Started);
        assert!(m.on_next().unwrap().init_completed);

        let mut m = M::new();
        m.submit(ev("a")).unwrap();
        assert_eq!(m.reset(), Some(ev("a")));
    }
}
