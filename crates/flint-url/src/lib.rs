//! Function URLs as pure mappings, no I/O:
//!
//! * [`event`]: an HTTP request → Lambda's payload format 2.0 event (lowercased header names,
//!   repeated headers joined with `,`, the `Cookie` header moved to `cookies`, decoded
//!   `queryStringParameters` with repeated keys joined, a `requestContext` with the URL's
//!   domain, the caller and the times, and the body base64-encoded unless it is text);
//! * [`response`]: the function's answer → HTTP: a JSON object with `statusCode` gives that
//!   status, its `headers`, one `Set-Cookie` per `cookies` entry and its `body` (decoded when
//!   `isBase64Encoded`; a `statusCode` may be a string of digits); any other JSON is a 200
//!   `application/json` whose body is a string's text or the JSON re-serialised compactly;
//! * [`with_forwarded`]: the `x-forwarded-*` headers the front end adds (hop-by-hop headers
//!   never reach the event);
//! * [`preflight`] and [`cors_headers`]: CORS as configured on the URL (flint answers
//!   preflights itself; the configured headers override the function's).

use base64::Engine;
use flint_types::function_url::Cors;
use serde_json::{Map, Value, json};

/// An HTTP request as it reached the URL listener.
#[derive(Debug, Clone)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    /// The path, still percent-encoded, without the query.
    pub path: &'a str,
    /// The query string without `?`, as sent.
    pub raw_query: &'a str,
    /// Header names as sent (any case), values as text.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub source_ip: &'a str,
    /// `HTTP/1.1`.
    pub protocol: &'a str,
}

/// The caller of an `AWS_IAM` URL, as `requestContext.authorizer.iam` shows it.
#[derive(Debug, Clone)]
pub struct IamCaller {
    pub access_key: String,
    pub account_id: String,
    pub user_arn: String,
}

/// Where and when the request arrived.
#[derive(Debug, Clone)]
pub struct EventContext<'a> {
    pub url_id: &'a str,
    /// `<url-id>.lambda-url.<region>.<base domain>`.
    pub domain_name: &'a str,
    pub request_id: &'a str,
    /// Milliseconds since the epoch.
    pub now_ms: i64,
    /// `None`: an anonymous caller (`AuthType: NONE`).
    pub iam: Option<IamCaller>,
}

/// Why a function's answer cannot become an HTTP response (the caller gets a 502).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UrlError {
    #[error("the function's response is not JSON")]
    NotJson,
    #[error("statusCode must be an integer (or a string of digits) between 100 and 599")]
    BadStatus,
    #[error("isBase64Encoded is set but the body is not base64")]
    BadBase64,
}

fn header_values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Whether a body of this content type reaches the function as text.
pub fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let ct = ct.to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or_default().trim();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence,
            "application/json"
                | "application/javascript"
                | "application/xml"
                | "application/x-www-form-urlencoded"
                | "application/graphql"
                | ""
        )
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Query decoding as form encoding: `+` is a space, `%XY` a byte; a malformed escape stays
/// as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi * 16 + lo);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `12/Mar/2020:19:03:58 +0000`.
fn clf_time(now_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        t.day(),
        MONTHS[t.month() as usize - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Headers that belong to one connection (RFC 9110 §7.6.1, and the proxies' own), which
/// Lambda's front end consumes and never forwards into the event.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether a header (lowercased) is consumed by the connection: a hop-by-hop header or one
/// that a `Connection` header names.
fn is_hop_by_hop(lower: &str, headers: &[(String, String)]) -> bool {
    HOP_BY_HOP.contains(&lower)
        || header_values(headers, "connection")
            .iter()
            .flat_map(|v| v.split(','))
            .any(|named| named.trim().eq_ignore_ascii_case(lower))
}

/// The request's headers with the `x-forwarded-*` set Lambda's front end adds: the caller's
/// address appended to any `x-forwarded-for` it sent, and `x-forwarded-proto` and
/// `x-forwarded-port` describing the connection it made (a caller's own values of those two
/// are replaced, not joined).
pub fn with_forwarded(
    headers: &[(String, String)],
    peer_ip: &str,
    proto: &str,
    port: u16,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| {
            !n.eq_ignore_ascii_case("x-forwarded-proto")
                && !n.eq_ignore_ascii_case("x-forwarded-port")
        })
        .cloned()
        .collect();
    out.push(("x-forwarded-for".into(), peer_ip.into()));
    out.push(("x-forwarded-proto".into(), proto.into()));
    out.push(("x-forwarded-port".into(), port.to_string()));
    out
}

/// The payload format 2.0 event of `req`.
pub fn event(req: &HttpRequest<'_>, ctx: &EventContext<'_>) -> Value {
    // Headers: lowercased, repeats joined with ','; cookies apart; hop-by-hop ones dropped.
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in req.headers {
        let lower = name.to_ascii_lowercase();
        if is_hop_by_hop(&lower, req.headers) {
            continue;
        }
        if lower == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::from(c.to_string())),
            );
            continue;
        }
        match headers.get_mut(&lower) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            _ => {
                headers.insert(lower, Value::from(value.clone()));
            }
        }
    }
    let mut query = Map::new();
    for pair in req.raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, Value::from(v));
            }
        }
    }
    let user_agent = header_values(req.headers, "user-agent")
        .first()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let content_type = header_values(req.headers, "content-type").first().copied();
    let authorizer = ctx.iam.as_ref().map(|iam| {
        json!({"iam": {
            "accessKey": iam.access_key,
            "accountId": iam.account_id,
            "callerId": iam.access_key,
            "cognitoIdentity": null,
            "principalOrgId": null,
            "userArn": iam.user_arn,
            "userId": iam.access_key,
        }})
    });
    let account = ctx
        .iam
        .as_ref()
        .map_or("anonymous".to_string(), |i| i.account_id.clone());
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": req.path,
        "rawQueryString": req.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": account,
            "apiId": ctx.url_id,
            "domainName": ctx.domain_name,
            "domainPrefix": ctx.url_id,
            "http": {
                "method": req.method,
                "path": req.path,
                "protocol": req.protocol,
                "sourceIp": req.source_ip,
                "userAgent": user_agent,
            },
            "requestId": ctx.request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": clf_time(ctx.now_ms),
            "timeEpoch": ctx.now_ms,
        },
        "isBase64Encoded": false,
    });
    if let Some(a) = authorizer {
        event["requestContext"]["authorizer"] = a;
    }
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !req.body.is_empty() {
        match std::str::from_utf8(req.body) {
            Ok(text) if is_text(content_type) => event["body"] = Value::from(text),
            _ => {
                event["body"] =
                    Value::from(base64::engine::general_purpose::STANDARD.encode(req.body));
                event["isBase64Encoded"] = Value::Bool(true);
            }
        }
    }
    event
}

/// An HTTP response for the URL's caller.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names as the function gave them.
    pub headers: Vec<(String, String)>,
    /// One `Set-Cookie` header each.
    pub cookies: Vec<String>,
    pub body: Vec<u8>,
}

fn header_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// JSON text without the whitespace between its tokens (the order of members and the
/// spelling of numbers and strings kept as they were): how Lambda re-serialises an answer
/// that it sends as the body. `json` must be valid JSON.
fn compact(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            in_string = b == b'"';
            out.push(b);
        }
    }
    out
}

/// `statusCode` as Lambda reads it: a number, or a string of digits (`"418"`), 100–599.
fn status_code(v: &Value) -> Result<u16, UrlError> {
    let n = match v {
        Value::String(s) => s.trim().parse::<u64>().ok(),
        other => other.as_u64(),
    };
    n.filter(|s| (100..=599).contains(s))
        .map(|s| s as u16)
        .ok_or(UrlError::BadStatus)
}

/// The HTTP response for a function's answer (payload bytes as the function returned them).
pub fn response(payload: &[u8]) -> Result<HttpResponse, UrlError> {
    let value: Value = serde_json::from_slice(payload).map_err(|_| UrlError::NotJson)?;
    // Any other answer is a 200 whose body is the answer: a string's own text (not
    // JSON-quoted), anything else re-serialised compactly.
    let json_200 = || HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        cookies: Vec::new(),
        body: match &value {
            Value::String(s) => s.clone().into_bytes(),
            _ => compact(payload),
        },
    };
    let Value::Object(obj) = &value else {
        return Ok(json_200());
    };
    let Some(status) = obj.get("statusCode") else {
        return Ok(json_200());
    };
    let status = status_code(status)?;
    let mut headers: Vec<(String, String)> = match obj.get("headers") {
        Some(Value::Object(h)) => h.iter().map(|(k, v)| (k.clone(), header_text(v))).collect(),
        _ => Vec::new(),
    };
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".into(), "application/json".into()));
    }
    let cookies = match obj.get("cookies") {
        Some(Value::Array(c)) => c.iter().map(header_text).collect(),
        _ => Vec::new(),
    };
    let body = match obj.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => {
            if obj.get("isBase64Encoded") == Some(&Value::Bool(true)) {
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|_| UrlError::BadBase64)?
            } else {
                s.clone().into_bytes()
            }
        }
        Some(other) => other.to_string().into_bytes(),
    };
    Ok(HttpResponse {
        status,
        headers,
        cookies,
        body,
    })
}

/// The `Content-Type` with which a streaming runtime announces Lambda's HTTP-integration
/// format: a JSON prelude (`statusCode`, `headers`, `cookies`), 8 NUL bytes, then the body.
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str =
    "application/vnd.awslambda.http-integration-response";

/// Splits a streamed HTTP-integration response at its prelude once `buffered` holds the 8
/// NUL delimiter: the response head (with an empty body) and the body bytes after it.
/// `Ok(None)`: more bytes are needed.
pub fn split_prelude(buffered: &[u8]) -> Result<Option<(HttpResponse, &[u8])>, UrlError> {
    const DELIMITER: [u8; 8] = [0; 8];
    let Some(at) = buffered.windows(8).position(|w| w == DELIMITER) else {
        return Ok(None);
    };
    let prelude: Value = serde_json::from_slice(&buffered[..at]).map_err(|_| UrlError::NotJson)?;
    let status = match prelude.get("statusCode") {
        None | Some(Value::Null) => 200,
        Some(v) => status_code(v)?,
    };
    let mut headers: Vec<(String, String)> = match prelude.get("headers") {
        Some(Value::Object(h)) => h.iter().map(|(k, v)| (k.clone(), header_text(v))).collect(),
        _ => Vec::new(),
    };
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".into(), "application/octet-stream".into()));
    }
    let cookies = match prelude.get("cookies") {
        Some(Value::Array(c)) => c.iter().map(header_text).collect(),
        _ => Vec::new(),
    };
    let head = HttpResponse {
        status,
        headers,
        cookies,
        body: Vec::new(),
    };
    Ok(Some((head, &buffered[at + 8..])))
}

fn origin_allowed(cors: &Cors, origin: &str) -> Option<String> {
    let origins = cors.allow_origins.as_deref().unwrap_or_default();
    if origins.iter().any(|o| o == "*") {
        // With credentials a wildcard cannot be sent back; echo the origin instead.
        return Some(if cors.allow_credentials == Some(true) {
            origin.to_string()
        } else {
            "*".to_string()
        });
    }
    origins
        .iter()
        .find(|o| o.eq_ignore_ascii_case(origin))
        .map(|_| origin.to_string())
}

/// The CORS headers for an actual (non-preflight) request with this `Origin`. Empty when the
/// URL has no CORS settings, no `Origin` was sent, or the origin is not allowed.
pub fn cors_headers(cors: Option<&Cors>, origin: Option<&str>) -> Vec<(String, String)> {
    let (Some(cors), Some(origin)) = (cors, origin) else {
        return Vec::new();
    };
    let Some(allowed) = origin_allowed(cors, origin) else {
        return Vec::new();
    };
    let mut out = vec![("access-control-allow-origin".to_string(), allowed)];
    if cors.allow_credentials == Some(true) {
        out.push(("access-control-allow-credentials".into(), "true".into()));
    }
    if let Some(expose) = cors.expose_headers.as_ref().filter(|e| !e.is_empty()) {
        out.push(("access-control-expose-headers".into(), expose.join(",")));
    }
    if origin_allowed(cors, origin).as_deref() != Some("*") {
        out.push(("vary".into(), "Origin".into()));
    }
    out
}

/// flint's answer to a CORS preflight (`OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`), or `None` when the request is not one, or the URL has no
/// CORS settings (then the request goes to the function like any other).
pub fn preflight(
    cors: Option<&Cors>,
    method: &str,
    headers: &[(String, String)],
) -> Option<Vec<(String, String)>> {
    let cors = cors?;
    if !method.eq_ignore_ascii_case("OPTIONS") {
        return None;
    }
    let origin = *header_values(headers, "origin").first()?;
    let requested = *header_values(headers, "access-control-request-method").first()?;
    let mut out = Vec::new();
    let Some(allowed) = origin_allowed(cors, origin) else {
        // Not allowed: answered without CORS headers, so the browser refuses.
        return Some(out);
    };
    let methods = cors.allow_methods.as_deref().unwrap_or_default();
    let method_ok = methods
        .iter()
        .any(|m| m == "*" || m.eq_ignore_ascii_case(requested));
    if !method_ok {
        return Some(out);
    }
    out.push(("access-control-allow-origin".into(), allowed));
    out.push(("access-control-allow-methods".into(), methods.join(",")));
    if let Some(h) = cors.allow_headers.as_ref().filter(|h| !h.is_empty()) {
        out.push(("access-control-allow-headers".into(), h.join(",")));
    }
    if cors.allow_credentials == Some(true) {
        out.push(("access-control-allow-credentials".into(), "true".into()));
    }
    if let Some(age) = cors.max_age {
        out.push(("access-control-max-age".into(), age.to_string()));
    }
    out.push(("vary".into(), "Origin".into()));
    Some(out)
}

#[cfg(test)]
mod tests;
