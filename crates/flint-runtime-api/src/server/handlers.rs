//! The routes of one environment's listener: the connection loop, the Runtime API's
//! handlers (`/next`, `/response`, `/error`, `/init/error`, streaming) and the response
//! helpers the Extensions API shares (`ext_server.rs`).

use super::*;

pub(super) async fn serve_connection(shared: Arc<Shared>, stream: TcpStream) {
    // Small request/response pairs on loopback: Nagle would add up to 40 ms per round trip.
    let _ = stream.set_nodelay(true);
    let mut stop = shared.shutdown.subscribe();
    let svc_shared = shared.clone();
    let service = service_fn(move |req| {
        let shared = svc_shared.clone();
        async move { Ok::<_, Infallible>(handle(&shared, req).await) }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .max_buf_size(shared.config.max_header_bytes.max(8192))
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "runtime api: connection error");
            }
        }
        _ = async { let _ = stop.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        }
    }
}

pub(crate) fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(crate) fn accepted() -> Response<Body> {
    json(
        StatusCode::ACCEPTED,
        Bytes::from_static(br#"{"status":"OK"}"#),
    )
}

fn rejected(rejection: Rejection) -> Response<Body> {
    tracing::debug!(%rejection, "runtime api: request rejected");
    json(rejection.status(), rejection.body())
}

pub(crate) fn event_response(ev: Event) -> Response<Body> {
    let mut r = Response::new(Full::new(ev.body));
    *r.headers_mut() = ev.headers;
    r
}

fn header_string(headers: &HeaderMap, name: impl hyper::header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let cap = shared.config.max_response_bytes;
    match protocol::route(&parts.method, parts.uri.path()) {
        Route::Next => next(shared).await,
        Route::Response { request_id } => {
            reply(shared, request_id, Reply::Response, &parts.headers, body).await
        }
        Route::Error { request_id } => {
            reply(shared, request_id, Reply::Error, &parts.headers, body).await
        }
        Route::InitError => init_error(shared, &parts.headers, body).await,
        Route::RestoreNext => {
            let rejection = shared.lock().machine.on_restore("RestoreReady");
            rejected(rejection)
        }
        Route::RestoreError => {
            discard(body, cap).await;
            let rejection = shared.lock().machine.on_restore("RestoreError");
            rejected(rejection)
        }
        Route::Ping => Response::new(Full::new(Bytes::from_static(b"pong"))),
        Route::ExtensionRegister => ext_server::register(shared, &parts.headers, body).await,
        Route::ExtensionNext => ext_server::next(shared, &parts.headers).await,
        Route::TelemetrySubscribe => {
            discard(body, cap).await;
            ext_server::subscription_not_supported(true)
        }
        Route::LogsSubscribe => {
            discard(body, cap).await;
            ext_server::subscription_not_supported(false)
        }
        Route::ExtensionInitError | Route::ExtensionExitError => {
            ext_server::error(shared, &parts.headers, body).await
        }
        Route::MethodNotAllowed => {
            discard(body, cap).await;
            rejected(Rejection::MethodNotAllowed)
        }
        Route::NotFound => {
            discard(body, cap).await;
            rejected(Rejection::NotFound)
        }
    }
}

/// `GET /runtime/invocation/next`: answer with the pending event or park until one is
/// submitted. Never answers 204 and has no timeout (the official Rust client only tolerates 204
/// in debug builds).
async fn next(shared: &Shared) -> Response<Body> {
    let parked = {
        let mut env = shared.lock();
        env.next_requests += 1;
        let action = match env.machine.on_next() {
            Ok(a) => a,
            Err(rejection) => return rejected(rejection),
        };
        if action.init_completed {
            env.runtime_ready = true;
            ext_server::maybe_end_init(shared, &mut env);
        }
        match action.step {
            NextStep::Deliver(ev) => Err(ev),
            NextStep::Park { .. } => {
                let (tx, rx) = oneshot::channel();
                if let Some(old) = env.waiter.replace(tx) {
                    let _ = old.send(Wake::Superseded);
                }
                Ok(rx)
            }
        }
    };
    let rx = match parked {
        Err(ev) => return event_response(ev),
        Ok(rx) => rx,
    };
    match rx.await {
        Ok(Wake::Event(ev)) => event_response(ev),
        Ok(Wake::Superseded) => rejected(Rejection::InvalidStateTransition {
            from: "Ready",
            to: "Ready",
            reason: "superseded by a newer /next request",
        }),
        Ok(Wake::ShutDown) | Err(_) => rejected(Rejection::InternalServerError),
    }
}

/// `POST /runtime/invocation/{id}/response` and `/error`.
async fn reply(
    shared: &Shared,
    request_id: &str,
    kind: Reply,
    headers: &HeaderMap,
    body: Incoming,
) -> Response<Body> {
    let limit = shared.config.max_response_bytes;
    let started = shared.lock().machine.on_reply_start(request_id, kind);
    if let Err(rejection) = started {
        discard(body, limit).await;
        return rejected(rejection);
    }
    // From here this request owns the invocation: every path below ends in `finish`.
    let (outcome, response) = match kind {
        Reply::Response => {
            let mode = protocol::parse_response_mode(
                headers.get(protocol::RESPONSE_MODE).map(|v| v.as_bytes()),
            );
            match mode {
                Err(rejection) => {
                    discard(body, limit).await;
                    (InvokeOutcome::InvalidResponseMode, rejected(rejection))
                }
                Ok(ResponseMode::Streaming) => {
                    return stream(shared, request_id, headers, body).await;
                }
                Ok(ResponseMode::Buffered) => {
                    match read_bounded(body, limit, content_length(headers)).await {
                        Ok(body) => (
                            InvokeOutcome::Response {
                                body,
                                content_type: header_string(headers, CONTENT_TYPE),
                            },
                            accepted(),
                        ),
                        Err(e) => read_failure(e, limit),
                    }
                }
            }
        }
        Reply::Error => match read_bounded(body, limit, content_length(headers)).await {
            Ok(body) => (
                InvokeOutcome::FunctionError {
                    error_type: protocol::parse_error_type(
                        headers
                            .get(protocol::FUNCTION_ERROR_TYPE)
                            .map(|v| v.as_bytes()),
                    ),
                    body,
                    content_type: header_string(headers, CONTENT_TYPE),
                    xray_error_cause: header_string(headers, protocol::XRAY_ERROR_CAUSE),
                },
                accepted(),
            ),
            Err(e) => read_failure(e, limit),
        },
    };
    finish(shared, request_id, Some(outcome));
    response
}

fn read_failure(e: ReadError, limit: usize) -> (InvokeOutcome, Response<Body>) {
    match e {
        ReadError::TooLarge { size } => (
            InvokeOutcome::ResponseTooLarge { size, limit },
            rejected(Rejection::RequestEntityTooLarge { limit }),
        ),
        ReadError::Truncated => (
            InvokeOutcome::TruncatedResponse,
            rejected(Rejection::TruncatedHttpRequest),
        ),
    }
}

/// Ends the in-flight invocation (`InvocationResponse` → `RuntimeResponseSentState`) and, if
/// given, delivers its outcome. The machine moves first, so an invoker that submits its next
/// event the moment it wakes finds the environment free.
fn finish(shared: &Shared, request_id: &str, outcome: Option<InvokeOutcome>) {
    let tx = {
        let mut env = shared.lock();
        if !env.machine.on_reply_done(request_id) {
            return; // reset or shut down meanwhile: nobody is waiting for this
        }
        env.result.take()
    };
    if let (Some((_, tx)), Some(outcome)) = (tx, outcome) {
        let _ = tx.send(Ok(outcome));
    }
}

/// A streamed `/response`: the invoker gets [`InvokeOutcome::Streaming`] immediately and reads
/// chunks as they arrive; the invocation ends (and the runtime gets its 202) when the body does.
async fn stream(
    shared: &Shared,
    request_id: &str,
    headers: &HeaderMap,
    body: Incoming,
) -> Response<Body> {
    let (tx, rx) = mpsc::channel(shared.config.streaming_channel_chunks.max(1));
    let invoker = shared.lock().result.take();
    if let Some((_, invoker)) = invoker {
        let _ = invoker.send(Ok(InvokeOutcome::Streaming(StreamingResponse {
            content_type: header_string(headers, CONTENT_TYPE),
            body: ResponseStream { rx },
        })));
    }
    let result = pump_stream(body, tx, shared.config.max_streaming_bytes).await;
    finish(shared, request_id, None);
    match result {
        Ok(()) => accepted(),
        Err(rejection) => rejected(rejection),
    }
}

/// `POST /runtime/init/error`: only valid while initialising.
async fn init_error(shared: &Shared, headers: &HeaderMap, body: Incoming) -> Response<Body> {
    let limit = shared.config.max_response_bytes;
    let started = {
        let mut env = shared.lock();
        env.machine.on_init_error().map(|pending| {
            let invoker = pending.and_then(|_| env.result.take());
            (env.epoch, invoker)
        })
    };
    let (epoch, invoker) = match started {
        Ok(v) => v,
        Err(rejection) => {
            discard(body, limit).await;
            return rejected(rejection);
        }
    };
    if let Some((_, tx)) = invoker {
        let _ = tx.send(Err(RuntimeApiError::InitFailed));
    }
    let error_type = protocol::parse_error_type(
        headers
            .get(protocol::FUNCTION_ERROR_TYPE)
            .map(|v| v.as_bytes()),
    );
    let (body, response) = match read_bounded(body, limit, content_length(headers)).await {
        Ok(body) => (body, accepted()),
        Err(ReadError::TooLarge { .. }) => (
            Bytes::new(),
            rejected(Rejection::RequestEntityTooLarge { limit }),
        ),
        Err(ReadError::Truncated) => (Bytes::new(), rejected(Rejection::TruncatedHttpRequest)),
    };
    let env = shared.lock();
    if env.epoch == epoch && *env.machine.phase() == Phase::InitError {
        shared
            .init
            .send_replace(InitStatus::Done(InitOutcome::InitError {
                error_type,
                body,
            }));
    }
    drop(env);
    response
}
