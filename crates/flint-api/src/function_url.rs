//! The function URL listener: HTTP requests in, invocations through the dispatch, HTTP
//! responses out (the configuration operations are on the API router:
//! `handlers/function_url_config.rs`).
//!
//! A request reaches a URL by its host name (`<url-id>.lambda-url.<region>.<base domain>`)
//! or, for clients that cannot choose a host, by path (`/_url/<url-id>/<path>`). Then:
//! routing (an unknown id is `403 {"Message":null}`, a deleted alias's URL 403 Forbidden;
//! every refusal carries `x-amzn-ErrorType`) → CORS preflight answered by flint →
//! authorization (`AuthType: NONE` needs a policy statement allowing
//! `lambda:InvokeFunctionUrl` with `lambda:FunctionUrlAuthType = NONE`, as on Lambda;
//! `AWS_IAM` needs a valid SigV4 signature by one of flint's access keys) → the body as a
//! payload format 2.0 event (`flint-url`) → the same dispatch as `Invoke` → the answer
//! mapped back to HTTP, with the URL's CORS headers.

use crate::clock::{unix_millis, unix_seconds};
use crate::dispatch::{Call, DispatchError, ResponseStream, StreamingAnswer};
use crate::error::ApiResponseError;
use crate::operations::MAX_INVOKE_REQUEST;
use crate::response::{ChannelBody, set_request_id};
use crate::state::{AppState, blocking};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flint_auth::KeyStore;
use flint_auth::sigv4::{self, Expect};
use flint_invoke::StreamPart;
use flint_types::policy::{AccessRequest, policy_allows};
use http_body_util::{BodyExt, Limited};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

/// What the URL listener needs besides the API's state.
#[derive(Clone)]
pub struct UrlListener {
    pub state: AppState,
    /// Access keys for `AuthType: AWS_IAM` URLs (`None`: no keys, such URLs refuse everyone).
    pub keys: Option<Arc<KeyStore>>,
    pub base_domain: String,
}

/// The router of the URL listener: every request goes to [`serve`].
pub fn url_router(listener: UrlListener) -> Router {
    Router::new().fallback(serve).with_state(listener)
}

/// A refusal of the URL front end, as Lambda's: `{"Message": ...}` (the casing of its
/// unmodelled errors), `application/json`, and the error's code in `x-amzn-ErrorType`.
fn message(status: StatusCode, code: &'static str, message: serde_json::Value) -> Response {
    let mut resp = (
        status,
        serde_json::to_vec(&json!({ "Message": message })).expect("json"),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert("x-amzn-ErrorType", HeaderValue::from_static(code));
    resp
}

/// No URL has this id (AWS-validated: `test_lambda_url_non_existing_url`).
fn unknown_url() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "AccessDeniedException",
        serde_json::Value::Null,
    )
}

/// The caller may not invoke this URL, or its alias was deleted (as recorded:
/// `test_lambda_permission_url_invocation`, `test_lambda_url_persists_after_alias_delete`).
fn forbidden() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "AccessDeniedException",
        json!(
            "Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
        ),
    )
}

/// The port the caller connected to, as its `Host` names it (80 when it names none).
fn forwarded_port(host: Option<&str>) -> u16 {
    host.and_then(|h| h.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or(80)
}

/// The url id and the path the function sees, from the host name or the `/_url/` form.
fn locate<'a>(host: Option<&'a str>, path: &'a str, base: &str) -> Option<(&'a str, &'a str)> {
    if let Some(rest) = path.strip_prefix("/_url/") {
        let (id, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        return Some((id, tail));
    }
    let host = host?;
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let (id, rest) = host.split_once(".lambda-url.")?;
    // `<region>.<base domain>`
    let (_, domain) = rest.split_once('.')?;
    domain.eq_ignore_ascii_case(base).then_some((id, path))
}

/// The caller of an `AWS_IAM` URL, when the request carries a valid signature of one of
/// flint's keys (`body_sha256`: the body's hash).
fn iam_caller(
    listener: &UrlListener,
    parts: &axum::http::request::Parts,
    body_sha256: &str,
) -> Option<flint_url::IamCaller> {
    let keys = listener.keys.as_ref()?;
    let headers: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let sreq = sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
    };
    let control = &listener.state.control;
    let expect = Expect {
        region: &control.resources().region,
        service: "lambda",
    };
    let key = sigv4::verify_request(&sreq, Some(body_sha256), unix_seconds(), expect, |id| {
        keys.secret(id).ok().flatten()
    })
    .map_err(|e| tracing::info!(code = e.code(), "refused a function URL request: {e}"))
    .ok()?;
    let account = control.resources().account.clone();
    Some(flint_url::IamCaller {
        user_arn: format!("arn:aws:iam::{account}:user/{key}"),
        access_key: key,
        account_id: account,
    })
}

async fn serve(
    State(listener): State<UrlListener>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some((url_id, path)) = locate(host.as_deref(), parts.uri.path(), &listener.base_domain)
        .map(|(id, p)| (id.to_string(), p.to_string()))
    else {
        return unknown_url();
    };
    let state = &listener.state;
    // Warm path: the route and the policy that may open it are in the control plane's
    // memory while nothing changed, as is what an invocation runs.
    let access = match state.control.url_access_cached(&url_id) {
        Some(hit) => Ok(Some(hit)),
        None => {
            let id = url_id.clone();
            blocking(state, move |c| c.url_access(&id)).await
        }
    };
    let (route, statements) = match access {
        // The URL of a deleted alias invokes nothing.
        Ok(Some(access)) if access.route.retired => return forbidden(),
        Ok(Some(access)) => (access.route, access.statements),
        Ok(None) => return unknown_url(),
        Err(e) => return e.into_response(),
    };
    let dispatcher = state.dispatcher();
    let resolved = match dispatcher.resolve(&route.function).await {
        Ok(r) => r,
        Err(e) => return ApiResponseError::from(e).into_response(),
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let cors = route.record.cors.as_ref();
    if let Some(pre) = flint_url::preflight(cors, parts.method.as_str(), &headers) {
        let mut resp = StatusCode::OK.into_response();
        for (k, v) in pre {
            if let (Ok(k), Ok(v)) = (
                header::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&v),
            ) {
                resp.headers_mut().append(k, v);
            }
        }
        return resp;
    }
    let bytes = match Limited::new(body, MAX_INVOKE_REQUEST).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLargeException",
                json!(format!(
                    "Request must be smaller than {MAX_INVOKE_REQUEST} bytes for the InvokeFunction operation"
                )),
            );
        }
    };

    // Authorization, as Lambda does it for each auth type.
    let iam = match route.record.auth_type.as_str() {
        "AWS_IAM" => match iam_caller(&listener, &parts, &sigv4::sha256_hex(&bytes)) {
            Some(caller) => Some(caller),
            None => return forbidden(),
        },
        _ => {
            let access = AccessRequest {
                action: "lambda:InvokeFunctionUrl",
                function_url_auth_type: Some("NONE"),
                via_function_url: true,
                ..Default::default()
            };
            if !policy_allows(&statements, &access) {
                tracing::info!(url = %url_id, "refused a function URL request: no policy allows lambda:InvokeFunctionUrl for AuthType NONE");
                return forbidden();
            }
            None
        }
    };

    let request_id = uuid::Uuid::new_v4().to_string();
    let domain = format!(
        "{url_id}.lambda-url.{}.{}",
        state.control.resources().region,
        listener.base_domain
    );
    let now_ms = unix_millis();
    let source_ip = peer.ip().to_string();
    let mut with_forwarding = flint_url::with_forwarded(
        &headers,
        &source_ip,
        "http",
        forwarded_port(host.as_deref()),
    );
    // The caller's trace is continued (a new root without one); the event shows it.
    let trace_header = flint_invoke::edge_trace_header(
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-amzn-trace-id"))
            .map(|(_, v)| v.as_str()),
    );
    with_forwarding.retain(|(k, _)| !k.eq_ignore_ascii_case("x-amzn-trace-id"));
    with_forwarding.push(("x-amzn-trace-id".into(), trace_header.clone()));
    let http = flint_url::HttpRequest {
        method: parts.method.as_str(),
        path: &path,
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &with_forwarding,
        body: &bytes,
        source_ip: &source_ip,
        protocol: "HTTP/1.1",
    };
    let ctx = flint_url::EventContext {
        url_id: &url_id,
        domain_name: &domain,
        request_id: &request_id,
        now_ms,
        iam,
    };
    let event = flint_url::event(&http, &ctx);
    let payload = bytes::Bytes::from(serde_json::to_vec(&event).expect("json"));

    let call = Call {
        payload,
        request_id: Some(request_id.clone()),
        trace_header: Some(trace_header),
        ..Call::default()
    };
    let origin = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("origin"))
        .map(|(_, v)| v.as_str());
    let answer = if route.record.invoke_mode == "RESPONSE_STREAM" {
        dispatcher.invoke_streaming(resolved, call).await
    } else {
        match dispatcher.start(resolved, call) {
            Ok(running) => Ok(StreamingAnswer::Whole(running.finish().await)),
            Err(e) => Err(e),
        }
    };
    let mut resp = match answer {
        // A streamed response: its head now, its body as the function writes it.
        Ok(StreamingAnswer::Stream(mut stream)) => {
            match stream_head(stream.content_type.take(), &mut stream.parts).await {
                Some((head, rest)) => streamed_response(head, rest, stream),
                None => bad_gateway(),
            }
        }
        Ok(StreamingAnswer::Whole(output)) => match whole_response(output, &url_id) {
            WholeResponse::Answered(resp) => resp,
            WholeResponse::NotRun(resp) => return resp,
        },
        // The host cannot run functions, or the code is missing.
        Err(_) => {
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                json!("Internal Server Error"),
            );
        }
    };
    let h = resp.headers_mut();
    // The URL's CORS settings override what the function set.
    for (k, v) in flint_url::cors_headers(cors, origin) {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.insert(k, v);
        }
    }
    set_request_id(&mut resp, &request_id);
    resp
}

/// The HTTP response of a whole answer.
enum WholeResponse {
    /// The function's answer, mapped (or its failure): sent with the URL's headers.
    Answered(Response),
    /// The invocation did not run: sent as it is.
    NotRun(Response),
}

/// The HTTP response a whole answer maps to.
fn whole_response(
    output: Result<flint_invoke::InvokeOutput, DispatchError>,
    url_id: &str,
) -> WholeResponse {
    let output = match output {
        Ok(o) => o,
        Err(DispatchError::Invoke(flint_invoke::InvokeError::Throttled { .. })) => {
            return WholeResponse::NotRun(message(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                json!("Rate Exceeded."),
            ));
        }
        Err(e @ DispatchError::InvocationAborted(_)) => {
            tracing::warn!(error = %e, "a function URL invocation panicked");
            return WholeResponse::NotRun(bad_gateway());
        }
        Err(e) => {
            tracing::warn!(error = %e, "a function URL invocation failed");
            return WholeResponse::NotRun(bad_gateway());
        }
    };
    let mapped = if output.function_error {
        Err(())
    } else {
        flint_url::response(&output.body).map_err(|e| {
            tracing::info!(url = %url_id, "a function URL answer could not be mapped: {e}");
        })
    };
    WholeResponse::Answered(match mapped {
        Ok(m) => {
            let mut resp = Response::new(Body::from(m.body.clone()));
            set_head(&mut resp, &m);
            resp
        }
        Err(()) => bad_gateway(),
    })
}

fn bad_gateway() -> Response {
    let mut resp = (StatusCode::BAD_GATEWAY, "Internal Server Error").into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// Status, headers and cookies of `m` onto `resp`.
fn set_head(resp: &mut Response, m: &flint_url::HttpResponse) {
    *resp.status_mut() = StatusCode::from_u16(m.status).unwrap_or(StatusCode::OK);
    let h = resp.headers_mut();
    for (k, v) in &m.headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    for c in &m.cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            h.append(header::SET_COOKIE, v);
        }
    }
}

/// Largest HTTP-integration prelude flint waits for before giving up on a stream.
const MAX_PRELUDE: usize = 64 * 1024;

/// The head of a streamed URL response and the body bytes already received: from the
/// HTTP-integration prelude when the runtime announced one, else status 200 with the
/// runtime's content type. `None`: a prelude that is not one.
async fn stream_head(
    content_type: Option<String>,
    parts: &mut tokio::sync::mpsc::Receiver<StreamPart>,
) -> Option<(flint_url::HttpResponse, bytes::Bytes)> {
    if content_type.as_deref() != Some(flint_url::HTTP_INTEGRATION_CONTENT_TYPE) {
        let head = flint_url::HttpResponse {
            status: 200,
            headers: vec![(
                "content-type".into(),
                content_type.unwrap_or_else(|| "application/octet-stream".into()),
            )],
            cookies: Vec::new(),
            body: Vec::new(),
        };
        return Some((head, bytes::Bytes::new()));
    }
    let mut buffered = Vec::new();
    loop {
        match flint_url::split_prelude(&buffered) {
            Ok(Some((head, rest))) => return Some((head, bytes::Bytes::copy_from_slice(rest))),
            Ok(None) if buffered.len() <= MAX_PRELUDE => {}
            _ => return None,
        }
        match parts.recv().await {
            Some(StreamPart::Chunk(c)) => buffered.extend_from_slice(&c),
            Some(StreamPart::ContentType(_)) => {}
            // Ended before the prelude did.
            None => return None,
        }
    }
}

/// A response whose body is `rest` and then every chunk the function still writes.
fn streamed_response(
    head: flint_url::HttpResponse,
    rest: bytes::Bytes,
    stream: ResponseStream,
) -> Response {
    let ResponseStream {
        mut parts, running, ..
    } = stream;
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
    tokio::spawn(async move {
        let mut open = rest.is_empty() || tx.send(rest).await.is_ok();
        while let Some(part) = parts.recv().await {
            if let (StreamPart::Chunk(c), true) = (part, open) {
                open = tx.send(c).await.is_ok();
            }
        }
        // A failure after the head was sent can only end the body early (as on Lambda).
        if let Ok(out) = running.finish().await
            && out.function_error
        {
            tracing::info!("a streamed function URL response ended with a function error");
        }
    });
    let mut resp = Response::new(Body::from_stream(ChannelBody(rx)));
    set_head(&mut resp, &head);
    resp
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn urls_are_found_by_host_or_path() {
        let id = "abcdef0123456789abcdef0123456789";
        let host = format!("{id}.lambda-url.us-east-1.localhost:9001");
        assert_eq!(locate(Some(&host), "/x", "localhost"), Some((id, "/x")));
        assert_eq!(
            locate(
                Some(&format!("{id}.lambda-url.us-east-1.localhost")),
                "/",
                "localhost"
            ),
            Some((id, "/"))
        );
        assert_eq!(locate(Some(&host), "/x", "example.com"), None);
        assert_eq!(locate(Some("127.0.0.1:9001"), "/x", "localhost"), None);
        assert_eq!(
            locate(
                Some("127.0.0.1:9001"),
                &format!("/_url/{id}/a/b"),
                "localhost"
            ),
            Some((id, "/a/b"))
        );
        assert_eq!(
            locate(None, &format!("/_url/{id}"), "localhost"),
            Some((id, "/"))
        );
        assert_eq!(locate(None, "/x", "localhost"), None);
    }
}
