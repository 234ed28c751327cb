//! The extensions of one execution environment (Extensions API 2020-01-01), free of I/O.
//!
//! ```text
//!   register ──▶ Registered ── /event/next ──▶ Parked ── event ──▶ Processing
//!                                                ▲                     │ /event/next
//!                                                └─────────────────────┘
//!   any ── /init/error | /exit/error ──▶ Failed(type)
//! ```
//!
//! An extension is *ready* when it has called `/event/next` since the last event it was given:
//! init ends when the runtime and every registered extension are ready (`lambda-facts.md` §4.1),
//! and an environment is reused only once every extension is ready again after an invocation.
//!
//! External extensions are the executables of `/opt/extensions`, named by their file name; any
//! other name registers an internal extension (a thread or wrapper inside the runtime process),
//! which may only subscribe to `INVOKE`. Registration closes when init ends.
//!
//! Like [`crate::state`], the registry is generic over the event type: the HTTP layer stores
//! pre-rendered events, the unit tests plain strings.

use bytes::Bytes;
use hyper::StatusCode;

/// Lambda's limit of extensions per function.
pub const MAX_EXTENSIONS: usize = 10;

/// The events an extension can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Subscriptions {
    /// `INVOKE`
    pub invoke: bool,
    /// `SHUTDOWN` (external extensions only)
    pub shutdown: bool,
}

impl Subscriptions {
    /// Lambda's `Events:` list of the EXTENSION log line and `platform.extension`.
    pub fn names(self) -> Vec<&'static str> {
        let mut v = Vec::with_capacity(2);
        if self.invoke {
            v.push("INVOKE");
        }
        if self.shutdown {
            v.push("SHUTDOWN");
        }
        v
    }
}

/// Which event the platform dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// An invocation started.
    Invoke,
    /// The environment is being retired.
    Shutdown,
}

/// Where an extension stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionState {
    /// Registered, has not called `/event/next` yet (initialising).
    Registered,
    /// Blocked in (or owes nothing but) `/event/next`: ready.
    Ready,
    /// Was handed an event and has not called `/event/next` since.
    Processing,
    /// Posted `/init/error` or `/exit/error` with this error type.
    Failed(String),
}

/// One registered extension.
#[derive(Debug)]
pub struct Extension<E> {
    /// `Lambda-Extension-Identifier`.
    pub id: String,
    /// `Lambda-Extension-Name`.
    pub name: String,
    /// True for an executable of `/opt/extensions`.
    pub external: bool,
    /// Its events.
    pub events: Subscriptions,
    /// Its state.
    pub state: ExtensionState,
    /// An event given while it was not parked in `/event/next`.
    pending: Option<E>,
}

/// A refused Extensions API request, with its exact wire form (status, `errorType`, message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionRejection {
    /// 403: registration after init ended.
    #[error("Extension registration closed already")]
    RegistrationClosed,
    /// 403: the eleventh extension.
    #[error("Extension limit ({MAX_EXTENSIONS}) reached")]
    TooManyExtensions,
    /// 403: no name, or a name already registered.
    #[error("Invalid extension name: {0}")]
    InvalidExtensionName(String),
    /// 403: an unknown event, or `SHUTDOWN` for an internal extension.
    #[error("{0}")]
    InvalidEventType(String),
    /// 403: the register body is not `{"events":[…]}`.
    #[error("{0}")]
    InvalidRequestFormat(String),
    /// 403: no `Lambda-Extension-Identifier` header.
    #[error("Missing Lambda-Extension-Identifier header")]
    MissingExtensionIdentifier,
    /// 403: an identifier no extension has.
    #[error("Unknown extension {0}")]
    UnknownExtensionIdentifier(String),
    /// 403: `/event/next` twice from an extension that already failed, or an error post twice.
    #[error("State transition from {0} failed for extension")]
    InvalidState(&'static str),
    /// 400: `/init/error` or `/exit/error` without `Lambda-Extension-Function-Error-Type`.
    #[error("Missing Lambda-Extension-Function-Error-Type header")]
    MissingErrorType,
    /// 500: the environment is shutting down; the extension must exit.
    #[error("Internal Server Error")]
    ShutDown,
}

impl ExtensionRejection {
    /// HTTP status.
    pub const fn status(&self) -> StatusCode {
        match self {
            Self::MissingErrorType => StatusCode::BAD_REQUEST,
            Self::ShutDown => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::FORBIDDEN,
        }
    }

    /// The `errorType` field.
    pub const fn error_type(&self) -> &'static str {
        match self {
            Self::RegistrationClosed => "Extension.RegistrationClosed",
            Self::TooManyExtensions => "Extension.TooManyExtensions",
            Self::InvalidExtensionName(_) => "Extension.InvalidExtensionName",
            Self::InvalidEventType(_) => "Extension.InvalidEventType",
            Self::InvalidRequestFormat(_) => "InvalidRequestFormat",
            Self::MissingExtensionIdentifier => "Extension.MissingExtensionIdentifier",
            Self::UnknownExtensionIdentifier(_) => "Extension.UnknownExtensionIdentifier",
            Self::InvalidState(_) => "Extension.InvalidExtensionState",
            Self::MissingErrorType => "Extension.MissingHeader",
            Self::ShutDown => "InternalServerError",
        }
    }

    /// `{"errorMessage":…,"errorType":…}` (the message may hold client text: escaped).
    pub fn body(&self) -> Bytes {
        Bytes::from(
            serde_json::json!({"errorMessage": self.to_string(), "errorType": self.error_type()})
                .to_string(),
        )
    }
}

/// What to do with an extension's `GET /event/next`.
#[derive(Debug, PartialEq, Eq)]
pub enum ExtNext<E> {
    /// Answer now with this event.
    Deliver(E),
    /// Park until an event is dispatched.
    Park,
}

/// The registry of one environment's extensions.
#[derive(Debug)]
pub struct Registry<E> {
    /// The executables of `/opt/extensions` (their file names).
    external_names: Vec<String>,
    extensions: Vec<Extension<E>>,
    open: bool,
    shut_down: bool,
}

impl<E> Registry<E> {
    /// A registry expecting the external extensions `external_names` (may be empty).
    pub fn new(external_names: Vec<String>) -> Self {
        Self {
            external_names,
            extensions: Vec::new(),
            open: true,
            shut_down: false,
        }
    }

    /// The registered extensions, in registration order.
    pub fn extensions(&self) -> &[Extension<E>] {
        &self.extensions
    }

    /// True when no extension registered (the fast path: nothing to wait for).
    pub fn is_empty(&self) -> bool {
        self.extensions.is_empty()
    }

    /// `POST /extension/register`. `events` are the strings of the body's `events` array.
    pub fn register(
        &mut self,
        id: String,
        name: &str,
        events: &[String],
    ) -> Result<&Extension<E>, ExtensionRejection> {
        if self.shut_down {
            return Err(ExtensionRejection::ShutDown);
        }
        if !self.open {
            return Err(ExtensionRejection::RegistrationClosed);
        }
        if name.is_empty() || self.extensions.iter().any(|e| e.name == name) {
            return Err(ExtensionRejection::InvalidExtensionName(name.to_owned()));
        }
        if self.extensions.len() >= MAX_EXTENSIONS {
            return Err(ExtensionRejection::TooManyExtensions);
        }
        let external = self.external_names.iter().any(|n| n == name);
        let mut subs = Subscriptions::default();
        for ev in events {
            match ev.as_str() {
                "INVOKE" => subs.invoke = true,
                "SHUTDOWN" if external => subs.shutdown = true,
                "SHUTDOWN" => {
                    return Err(ExtensionRejection::InvalidEventType(
                        "ShutdownEventNotSupportedForInternalExtension".to_owned(),
                    ));
                }
                other => {
                    return Err(ExtensionRejection::InvalidEventType(format!(
                        "Unknown event type: {other}"
                    )));
                }
            }
        }
        self.extensions.push(Extension {
            id,
            name: name.to_owned(),
            external,
            events: subs,
            state: ExtensionState::Registered,
            pending: None,
        });
        Ok(self.extensions.last().expect("just pushed"))
    }

    fn find(&mut self, id: Option<&str>) -> Result<&mut Extension<E>, ExtensionRejection> {
        let id = id.ok_or(ExtensionRejection::MissingExtensionIdentifier)?;
        self.extensions
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or_else(|| ExtensionRejection::UnknownExtensionIdentifier(id.to_owned()))
    }

    /// `GET /extension/event/next`.
    pub fn on_next(&mut self, id: Option<&str>) -> Result<ExtNext<E>, ExtensionRejection> {
        let shut_down = self.shut_down;
        let ext = self.find(id)?;
        if let ExtensionState::Failed(_) = ext.state {
            return Err(ExtensionRejection::InvalidState("Failed"));
        }
        if let Some(ev) = ext.pending.take() {
            ext.state = ExtensionState::Processing;
            return Ok(ExtNext::Deliver(ev));
        }
        ext.state = ExtensionState::Ready;
        if shut_down {
            // After its SHUTDOWN, an extension's next call means it is done: it gets a 500.
            return Err(ExtensionRejection::ShutDown);
        }
        Ok(ExtNext::Park)
    }

    /// `POST /extension/init/error` or `/extension/exit/error`.
    pub fn on_error(
        &mut self,
        id: Option<&str>,
        error_type: Option<&str>,
    ) -> Result<(), ExtensionRejection> {
        let ext = self.find(id)?;
        let error_type = error_type
            .filter(|t| !t.is_empty())
            .ok_or(ExtensionRejection::MissingErrorType)?;
        if let ExtensionState::Failed(_) = ext.state {
            return Err(ExtensionRejection::InvalidState("Failed"));
        }
        ext.state = ExtensionState::Failed(error_type.to_owned());
        ext.pending = None;
        Ok(())
    }

    /// The environment is retired: every later request gets 500.
    pub fn close(&mut self) {
        self.shut_down = true;
        self.open = false;
    }

    /// Init ended (runtime and extensions ready): no more registrations.
    pub fn close_registration(&mut self) {
        self.open = false;
    }

    /// True when every expected external extension registered and every registered one is
    /// ready (init may end, an environment may be reused).
    pub fn all_ready(&self) -> bool {
        self.extensions.len() >= self.expected_registrations()
            && self
                .extensions
                .iter()
                .all(|e| e.state == ExtensionState::Ready)
    }

    /// While registration is open, every external extension must register before init can end.
    fn expected_registrations(&self) -> usize {
        if self.open {
            self.external_names.len()
        } else {
            0
        }
    }

    /// The first failure (`/init/error` or `/exit/error`), as `(name, error type)`.
    pub fn failure(&self) -> Option<(&str, &str)> {
        self.extensions.iter().find_map(|e| match &e.state {
            ExtensionState::Failed(t) => Some((e.name.as_str(), t.as_str())),
            _ => None,
        })
    }

    /// Gives every extension subscribed to `kind` its event (built by `make`). Returns the ids
    /// and events of those parked in `/event/next`, to hand over now; the others get theirs at
    /// their next call. After a `Shutdown`, registry requests get 500.
    pub fn dispatch(&mut self, kind: EventKind, mut make: impl FnMut() -> E) -> Vec<(String, E)> {
        if kind == EventKind::Shutdown {
            self.shut_down = true;
        }
        let mut now = Vec::new();
        for ext in &mut self.extensions {
            let subscribed = match kind {
                EventKind::Invoke => ext.events.invoke,
                EventKind::Shutdown => ext.events.shutdown,
            };
            if !subscribed || matches!(ext.state, ExtensionState::Failed(_)) {
                continue;
            }
            let ev = make();
            if ext.state == ExtensionState::Ready {
                ext.state = ExtensionState::Processing;
                now.push((ext.id.clone(), ev));
            } else {
                // Still initialising or working on its previous event: it is not ready, and
                // takes this one at its next call.
                ext.pending = Some(ev);
            }
        }
        now
    }

    /// The parked `/event/next` of `id` is gone: keep its event for the next call.
    pub fn undeliver(&mut self, id: &str, ev: E) {
        if let Some(ext) = self.extensions.iter_mut().find(|e| e.id == id) {
            ext.pending = Some(ev);
        }
    }

    /// A new runtime process in the same environment: internal extensions died with the old
    /// one (they register again from the new one: registration reopens); external extensions
    /// stay, without the events they had not taken.
    pub fn reset_runtime(&mut self) {
        if self.shut_down {
            return;
        }
        self.extensions.retain(|e| e.external);
        for ext in &mut self.extensions {
            ext.pending = None;
        }
        self.open = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type R = Registry<&'static str>;

    fn events(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn init_waits_for_every_external_extension_and_its_next() {
        let mut r = R::new(vec!["logger".into(), "agent".into()]);
        assert!(!r.all_ready(), "nothing registered yet");
        r.register("1".into(), "logger", &events(&["INVOKE", "SHUTDOWN"]))
            .unwrap();
        assert_eq!(r.on_next(Some("1")), Ok(ExtNext::Park));
        assert!(!r.all_ready(), "agent has not registered");
        let agent = r
            .register("2".into(), "agent", &events(&["INVOKE"]))
            .unwrap();
        assert!(agent.external);
        assert!(!r.all_ready(), "agent has not called next");
        r.on_next(Some("2")).unwrap();
        assert!(r.all_ready());
        r.close_registration();
        assert_eq!(
            r.register("3".into(), "late", &[]).unwrap_err(),
            ExtensionRejection::RegistrationClosed
        );
    }

    #[test]
    fn no_extensions_is_ready_at_once() {
        let r = R::new(vec![]);
        assert!(r.is_empty());
        assert!(r.all_ready());
    }

    #[test]
    fn internal_extensions_cannot_subscribe_to_shutdown() {
        let mut r = R::new(vec![]);
        let e = r
            .register("1".into(), "otel", &events(&["SHUTDOWN"]))
            .unwrap_err();
        assert_eq!(e.error_type(), "Extension.InvalidEventType");
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        let ext = r
            .register("1".into(), "otel", &events(&["INVOKE"]))
            .unwrap();
        assert!(!ext.external);
        assert_eq!(
            r.register("2".into(), "x", &events(&["RESTORE"]))
                .unwrap_err()
                .error_type(),
            "Extension.InvalidEventType"
        );
    }

    #[test]
    fn names_are_unique_and_at_most_ten() {
        let mut r = R::new(vec![]);
        for i in 0..MAX_EXTENSIONS {
            r.register(i.to_string(), &format!("e{i}"), &[]).unwrap();
        }
        assert_eq!(
            r.register("x".into(), "e0", &[]).unwrap_err().error_type(),
            "Extension.InvalidExtensionName"
        );
        let e = r.register("x".into(), "e10", &[]).unwrap_err();
        assert_eq!(e, ExtensionRejection::TooManyExtensions);
        assert_eq!(
            &e.body()[..],
            br#"{"errorMessage":"Extension limit (10) reached","errorType":"Extension.TooManyExtensions"}"#
        );
    }

    #[test]
    fn identifier_is_required_and_must_be_known() {
        let mut r = R::new(vec![]);
        assert_eq!(
            r.on_next(None),
            Err(ExtensionRejection::MissingExtensionIdentifier)
        );
        assert_eq!(
            r.on_next(Some("nope")).unwrap_err().error_type(),
            "Extension.UnknownExtensionIdentifier"
        );
        assert_eq!(
            r.on_error(None, Some("x")),
            Err(ExtensionRejection::MissingExtensionIdentifier)
        );
    }

    #[test]
    fn invoke_goes_to_subscribers_and_waits_for_their_next() {
        let mut r = R::new(vec!["a".into()]);
        r.register("a".into(), "a", &events(&["INVOKE", "SHUTDOWN"]))
            .unwrap();
        r.register("s".into(), "s", &events(&[])).unwrap();
        r.on_next(Some("a")).unwrap();
        r.on_next(Some("s")).unwrap();
        r.close_registration();
        assert!(r.all_ready());
        let now = r.dispatch(EventKind::Invoke, || "inv1");
        assert_eq!(now, vec![("a".to_owned(), "inv1")]);
        assert!(!r.all_ready(), "a is processing the invocation");
        assert_eq!(r.on_next(Some("a")), Ok(ExtNext::Park));
        assert!(r.all_ready());
    }

    #[test]
    fn an_event_for_a_busy_extension_waits_for_its_next() {
        let mut r = R::new(vec![]);
        r.register("a".into(), "a", &events(&["INVOKE"])).unwrap();
        // still initialising (never called next) when the first invocation arrives
        assert!(r.dispatch(EventKind::Invoke, || "inv1").is_empty());
        assert_eq!(r.on_next(Some("a")), Ok(ExtNext::Deliver("inv1")));
        assert!(!r.all_ready());
        assert_eq!(r.on_next(Some("a")), Ok(ExtNext::Park));
        // a lost /next connection keeps its event
        let now = r.dispatch(EventKind::Invoke, || "inv2");
        let (id, ev) = now.into_iter().next().unwrap();
        r.undeliver(&id, ev);
        assert_eq!(r.on_next(Some("a")), Ok(ExtNext::Deliver("inv2")));
    }

    #[test]
    fn shutdown_goes_to_external_subscribers_then_next_is_500() {
        let mut r = R::new(vec!["a".into()]);
        r.register("a".into(), "a", &events(&["SHUTDOWN"])).unwrap();
        r.register("i".into(), "i", &events(&["INVOKE"])).unwrap();
        r.on_next(Some("a")).unwrap();
        r.on_next(Some("i")).unwrap();
        assert_eq!(r.dispatch(EventKind::Invoke, || "inv").len(), 1);
        r.on_next(Some("i")).unwrap();
        let now = r.dispatch(EventKind::Shutdown, || "bye");
        assert_eq!(now, vec![("a".to_owned(), "bye")]);
        assert!(!r.all_ready());
        assert_eq!(r.on_next(Some("a")), Err(ExtensionRejection::ShutDown));
        assert!(r.all_ready(), "done with its shutdown work");
        assert_eq!(
            r.register("z".into(), "z", &[]).unwrap_err(),
            ExtensionRejection::ShutDown
        );
    }

    #[test]
    fn errors_need_a_type_and_fail_the_extension_once() {
        let mut r = R::new(vec![]);
        r.register("a".into(), "a", &events(&["INVOKE"])).unwrap();
        assert_eq!(
            r.on_error(Some("a"), None),
            Err(ExtensionRejection::MissingErrorType)
        );
        assert_eq!(r.failure(), None);
        r.on_error(Some("a"), Some("Extension.ConfigInvalid"))
            .unwrap();
        assert_eq!(r.failure(), Some(("a", "Extension.ConfigInvalid")));
        assert_eq!(
            r.on_error(Some("a"), Some("again")),
            Err(ExtensionRejection::InvalidState("Failed"))
        );
        assert_eq!(
            r.on_next(Some("a")),
            Err(ExtensionRejection::InvalidState("Failed"))
        );
        assert!(!r.all_ready(), "a failed extension never becomes ready");
        assert!(
            r.dispatch(EventKind::Invoke, || "inv").is_empty(),
            "a failed extension gets no events"
        );
    }

    #[test]
    fn a_new_runtime_drops_internal_extensions_and_reopens_registration() {
        let mut r = R::new(vec!["ext".into()]);
        r.register("e".into(), "ext", &events(&["INVOKE"])).unwrap();
        r.register("i".into(), "int", &events(&["INVOKE"])).unwrap();
        r.on_next(Some("e")).unwrap();
        r.close_registration();
        // the internal one is processing an invocation when the runtime is killed
        r.dispatch(EventKind::Invoke, || "inv");
        r.reset_runtime();
        assert_eq!(r.extensions().len(), 1);
        assert_eq!(r.extensions()[0].name, "ext");
        // the new runtime's internal extension registers under the same name
        r.register("i2".into(), "int", &events(&["INVOKE"]))
            .unwrap();
        r.on_next(Some("i2")).unwrap();
        r.on_next(Some("e")).unwrap();
        assert!(r.all_ready());
    }

    #[test]
    fn rejection_bodies_escape_client_text() {
        let e = ExtensionRejection::InvalidExtensionName("a\"b".into());
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(v["errorMessage"], "Invalid extension name: a\"b");
        assert_eq!(v["errorType"], "Extension.InvalidExtensionName");
    }
}
