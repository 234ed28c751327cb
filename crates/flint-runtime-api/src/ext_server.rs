//! The Extensions API's HTTP side and the platform's extension calls on [`RuntimeApi`].
//!
//! Every decision is [`Registry`](crate::extensions::Registry)'s; this module renders events,
//! parks `GET /extension/event/next`, and tells init and the invoke layer when the extensions
//! are ready. A function without extensions never reaches any of it but one emptiness check.

use bytes::Bytes;
use hyper::Response;
use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use tokio::sync::oneshot;

use crate::body::{discard, read_bounded};
use crate::extensions::{EventKind, ExtNext, ExtensionRejection, ExtensionState, Subscriptions};
use crate::protocol;
use crate::server::{Body, Env, Event, InitStatus, RuntimeApi, Shared, Wake, event_response, json};
use crate::types::{InitOutcome, Invocation};

/// Largest register or error body read (they are small JSON documents).
const MAX_BODY: usize = 64 * 1024;

/// What the invoke layer learns about a registered extension (the EXTENSION log line,
/// `platform.extension`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionInfo {
    /// `Lambda-Extension-Name`.
    pub name: String,
    /// An executable of `/opt/extensions` (else internal).
    pub external: bool,
    /// Its subscriptions.
    pub events: Subscriptions,
    /// The error type it posted, if it failed.
    pub error_type: Option<String>,
}

impl ExtensionInfo {
    /// Lambda's log line: `EXTENSION\tName: x\tState: Ready\tEvents: [INVOKE, SHUTDOWN]`.
    pub fn log_line(&self) -> String {
        let state = if self.error_type.is_some() {
            "RegisterFailed"
        } else {
            "Ready"
        };
        format!(
            "EXTENSION\tName: {}\tState: {}\tEvents: [{}]",
            self.name,
            state,
            self.events.names().join(", ")
        )
    }
}

/// Why a SHUTDOWN is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownReason {
    /// The environment is retired (idle, update, delete, server stop).
    Spindown,
    /// The invocation timed out.
    Timeout,
    /// The runtime crashed or ran out of memory.
    Failure,
}

impl ShutdownReason {
    /// The wire value (RIE's lowercase spelling).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Spindown => "spindown",
            Self::Timeout => "timeout",
            Self::Failure => "failure",
        }
    }
}

/// The INVOKE event body for `inv`.
pub(crate) fn invoke_event(inv: &Invocation) -> Bytes {
    let mut v = serde_json::json!({
        "eventType": "INVOKE",
        "deadlineMs": inv.deadline_ms,
        "requestId": inv.request_id,
        "invokedFunctionArn": inv.invoked_function_arn,
    });
    if let Some(t) = &inv.trace_id {
        v["tracing"] = serde_json::json!({"type": "X-Amzn-Trace-Id", "value": t});
    }
    Bytes::from(v.to_string())
}

fn extension_event(body: &Bytes) -> Event {
    let id = uuid::Uuid::new_v4().to_string();
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        protocol::EXTENSION_EVENT_IDENTIFIER,
        HeaderValue::from_str(&id).expect("a uuid is a header value"),
    );
    Event {
        request_id: id,
        headers,
        body: body.clone(),
    }
}

/// Gives `kind` to the subscribed extensions: parked ones now, the others at their next call.
pub(crate) fn dispatch(env: &mut Env, kind: EventKind, body: &Bytes) {
    for (id, ev) in env.ext.dispatch(kind, || extension_event(body)) {
        let pos = env.ext_waiters.iter().position(|(w, _)| *w == id);
        let ev = match pos.map(|p| env.ext_waiters.swap_remove(p).1) {
            Some(tx) => match tx.send(Wake::Event(ev)) {
                Ok(()) => continue,
                Err(Wake::Event(ev)) => ev,
                Err(_) => unreachable!("send returns the value it was given"),
            },
            None => ev,
        };
        env.ext.undeliver(&id, ev);
    }
}

/// Ends init once the runtime called `/next` and every extension is ready; fails it when an
/// extension posted `/extension/init/error`.
pub(crate) fn maybe_end_init(shared: &Shared, env: &mut Env) {
    if !matches!(*shared.init.borrow(), InitStatus::Pending) {
        return;
    }
    if let Some((_, error_type)) = env.ext.failure() {
        let outcome = InitOutcome::InitError {
            error_type: "Extension.InitError".to_owned(),
            body: Bytes::from(
                serde_json::json!({
                    "errorMessage": format!("Extension.InitError: {error_type}"),
                    "errorType": "Extension.InitError",
                })
                .to_string(),
            ),
        };
        env.ext.close_registration();
        shared.init.send_replace(InitStatus::Done(outcome));
        return;
    }
    if env.runtime_ready && env.ext.all_ready() {
        env.ext.close_registration();
        shared
            .init
            .send_replace(InitStatus::Done(InitOutcome::Ready));
    }
}

fn rejected(r: ExtensionRejection) -> Response<Body> {
    tracing::debug!(rejection = %r, "extensions api: request rejected");
    json(r.status(), r.body())
}

fn header<'a>(headers: &'a HeaderMap, name: &hyper::header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /2020-01-01/extension/register`.
pub(crate) async fn register(
    shared: &Shared,
    headers: &HeaderMap,
    body: Incoming,
) -> Response<Body> {
    let body = match read_bounded(body, MAX_BODY, None).await {
        Ok(b) => b,
        Err(_) => {
            return rejected(ExtensionRejection::InvalidRequestFormat(
                "register body too large or truncated".to_owned(),
            ));
        }
    };
    let events = match parse_register_body(&body) {
        Ok(e) => e,
        Err(msg) => return rejected(ExtensionRejection::InvalidRequestFormat(msg)),
    };
    let name = header(headers, &protocol::EXTENSION_NAME).unwrap_or("");
    let id = uuid::Uuid::new_v4().to_string();
    let registered = shared
        .lock()
        .ext
        .register(id.clone(), name, &events)
        .map(|_| ());
    if let Err(r) = registered {
        return rejected(r);
    }
    let c = &shared.config.extensions;
    let mut answer = serde_json::json!({
        "functionName": c.function_name,
        "functionVersion": c.function_version,
        "handler": c.handler,
    });
    let wants_account = header(headers, &protocol::EXTENSION_ACCEPT_FEATURE)
        .is_some_and(|f| f.split(',').any(|f| f.trim() == "accountId"));
    if wants_account && !c.account_id.is_empty() {
        answer["accountId"] = serde_json::Value::String(c.account_id.clone());
    }
    let mut r = json(StatusCode::OK, Bytes::from(answer.to_string()));
    r.headers_mut().insert(
        protocol::EXTENSION_IDENTIFIER,
        HeaderValue::from_str(&id).expect("a uuid is a header value"),
    );
    r
}

/// The `events` of a register body: `{"events":[…]}`; any other field (such as the
/// deprecated `configurationKeys`) is refused.
fn parse_register_body(body: &[u8]) -> Result<Vec<String>, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let obj = v.as_object().ok_or("register body must be a JSON object")?;
    if let Some(k) = obj.keys().find(|k| *k != "events") {
        return Err(format!("unknown field `{k}`"));
    }
    match obj.get("events") {
        None => Ok(Vec::new()),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|e| {
                e.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "events must be strings".to_owned())
            })
            .collect(),
        Some(_) => Err("events must be an array".to_owned()),
    }
}

/// `GET /2020-01-01/extension/event/next`: the extension is ready; park it until an event.
pub(crate) async fn next(shared: &Shared, headers: &HeaderMap) -> Response<Body> {
    let id = header(headers, &protocol::EXTENSION_IDENTIFIER);
    let parked = {
        let mut env = shared.lock();
        let step = env.ext.on_next(id);
        shared.ext_changed.notify_waiters();
        match step {
            Err(r) => return rejected(r),
            Ok(ExtNext::Deliver(ev)) => Err(ev),
            Ok(ExtNext::Park) => {
                maybe_end_init(shared, &mut env);
                let id = id.expect("a known id").to_owned();
                let (tx, rx) = oneshot::channel();
                if let Some(p) = env.ext_waiters.iter().position(|(w, _)| *w == id) {
                    env.ext_waiters.swap_remove(p);
                }
                env.ext_waiters.push((id, tx));
                Ok(rx)
            }
        }
    };
    match parked {
        Err(ev) => event_response(ev),
        Ok(rx) => match rx.await {
            Ok(Wake::Event(ev)) => event_response(ev),
            _ => rejected(ExtensionRejection::ShutDown),
        },
    }
}

/// `POST /2020-01-01/extension/init/error` and `/exit/error`.
pub(crate) async fn error(shared: &Shared, headers: &HeaderMap, body: Incoming) -> Response<Body> {
    discard(body, MAX_BODY).await;
    let id = header(headers, &protocol::EXTENSION_IDENTIFIER);
    let error_type = header(headers, &protocol::EXTENSION_ERROR_TYPE);
    let mut env = shared.lock();
    let done = env.ext.on_error(id, error_type);
    if done.is_ok() {
        maybe_end_init(shared, &mut env);
    }
    drop(env);
    shared.ext_changed.notify_waiters();
    match done {
        Ok(()) => crate::server::accepted(),
        Err(r) => rejected(r),
    }
}

/// `PUT /2022-07-01/telemetry` and `PUT /2020-08-15/logs`: subscriptions are not delivered
/// yet, so flint answers what Lambda's own local runtime (RIE) answers where the API is
/// disabled — 202 with `Telemetry.NotSupported` / `Logs.NotSupported` — rather than an `OK`
/// that would silently never deliver.
pub(crate) fn subscription_not_supported(telemetry: bool) -> Response<Body> {
    let body: &'static [u8] = if telemetry {
        br#"{"errorMessage":"Telemetry API is not supported","errorType":"Telemetry.NotSupported"}"#
    } else {
        br#"{"errorMessage":"Logs API is not supported","errorType":"Logs.NotSupported"}"#
    };
    json(StatusCode::ACCEPTED, Bytes::from_static(body))
}

impl RuntimeApi {
    /// Resolves when every extension has called `/extension/event/next` since its last event
    /// (at once without extensions): only then may the environment serve another invocation.
    /// Time spent here after the runtime's response is Lambda's post-runtime extension time:
    /// it counts in REPORT's Duration. Race it against the deadline and the processes.
    pub async fn wait_extensions_ready(&self) {
        loop {
            let notified = self.shared.ext_changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            {
                let env = self.shared.lock();
                if env.ext.is_empty() || env.ext.all_ready() || env.ext.failure().is_some() {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Sends SHUTDOWN (`shutdownReason`, `deadlineMs`) to the extensions subscribed to it.
    /// Returns true if one was; then [`wait_extensions_ready`](Self::wait_extensions_ready)
    /// resolves when they are done (their next `/event/next`), to race against the grace
    /// period before [`shutdown`](Self::shutdown) and the kill.
    pub fn shutdown_extensions(&self, reason: ShutdownReason, deadline_ms: u64) -> bool {
        let mut env = self.shared.lock();
        if !env.ext.extensions().iter().any(|e| e.events.shutdown) {
            env.ext.close();
            return false;
        }
        let body = Bytes::from(
            serde_json::json!({
                "eventType": "SHUTDOWN",
                "shutdownReason": reason.as_str(),
                "deadlineMs": deadline_ms,
            })
            .to_string(),
        );
        dispatch(&mut env, EventKind::Shutdown, &body);
        true
    }

    /// The registered extensions, in registration order.
    pub fn extensions(&self) -> Vec<ExtensionInfo> {
        self.shared
            .lock()
            .ext
            .extensions()
            .iter()
            .map(|e| ExtensionInfo {
                name: e.name.clone(),
                external: e.external,
                events: e.events,
                error_type: match &e.state {
                    ExtensionState::Failed(t) => Some(t.clone()),
                    _ => None,
                },
            })
            .collect()
    }

    /// True when an external extension is registered (Lambda's 2,000 ms shutdown budget).
    pub fn has_external_extensions(&self) -> bool {
        self.shared
            .lock()
            .ext
            .extensions()
            .iter()
            .any(|e| e.external)
    }
}
