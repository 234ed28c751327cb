//! SigV4 authentication in front of every route.
//!
//! The header-level checks (signature shape, credential scope, clock, the
//! access key) run before the body is read, so an unsigned or wrongly keyed
//! request costs no body buffering. A request whose signature covers its
//! body is then read (at most [`MAX_CODE_REQUEST`] bytes), hashed and
//! verified; the handlers get the same bytes back and apply their own,
//! tighter limits as before.
//!
//! Exempt: `/_flint/code/...`, the code download links, which carry their
//! own expiring signature (like S3's presigned URLs that Lambda returns).

use crate::clock::unix_seconds;
use crate::error::ApiResponseError;
use crate::operations::MAX_CODE_REQUEST;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use flint_auth::sigv4::{self, AuthError, Expect, PayloadHash};
use flint_auth::{KeyError, KeyStore};
use flint_types::ApiError;
use http_body_util::{BodyExt, Limited};
use std::sync::Arc;

/// Bodies larger than this are hashed on the blocking pool.
const HASH_INLINE_LIMIT: usize = 1 << 20;

/// What the authentication layer needs.
pub struct SigV4Auth {
    pub keys: Arc<KeyStore>,
    /// The region requests must be scoped to (the server's region).
    pub region: String,
}

/// Wraps `router` (every route) in SigV4 verification.
pub fn with_sigv4(router: Router, auth: Arc<SigV4Auth>) -> Router {
    router.layer(middleware::from_fn_with_state(auth, authenticate))
}

/// AWS's answer to a refused request: 403, the code in `x-amzn-ErrorType`,
/// a body of `{"message": ...}`.
/// AWS's refusal. A CloudWatch Logs call (JSON 1.1, `logs`) also names the error in the
/// body's `__type`, where the SDKs of that protocol read it; Lambda's body is `{"message"}`.
fn refuse(e: &AuthError, logs: bool) -> Response {
    let body = if logs {
        serde_json::json!({ "__type": e.code(), "message": e.to_string() })
    } else {
        serde_json::json!({ "message": e.to_string() })
    };
    let mut resp = (
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN),
        serde_json::to_vec(&body).expect("error bodies serialize"),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert("x-amzn-ErrorType", HeaderValue::from_static(e.code()));
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

fn internal(e: KeyError) -> Response {
    tracing::error!(error = %e, "the access key store failed");
    ApiResponseError(ApiError::Service("authentication is unavailable".into())).into_response()
}

async fn authenticate(State(auth): State<Arc<SigV4Auth>>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/_flint/code/") {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
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
    // A CloudWatch Logs call (`POST /` with `X-Amz-Target: Logs_20140328.*`) is signed for
    // the service `logs`, as the SDKs sign it; everything else for `lambda`.
    let is_logs = parts.headers.get("x-amz-target").is_some_and(|v| {
        v.as_bytes()
            .starts_with(crate::cwlogs::TARGET_PREFIX.as_bytes())
    });
    let expect = Expect {
        region: &auth.region,
        service: if is_logs { "logs" } else { "lambda" },
    };
    let parsed = match sigv4::parse(&sreq, unix_seconds(), expect) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(code = e.code(), path = sreq.path, "refused a request: {e}");
            return refuse(&e, is_logs);
        }
    };
    let secret = match auth.keys.secret(&parsed.access_key_id) {
        Ok(Some(s)) => s,
        Ok(None) => {
            tracing::info!(key = %parsed.access_key_id, "refused a request: unknown or revoked access key");
            return refuse(&AuthError::UnrecognizedClient, is_logs);
        }
        Err(e) => return internal(e),
    };
    let (body, body_hash) = if parsed.payload == PayloadHash::Unsigned {
        (body, None)
    } else {
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let too_large = || {
            ApiResponseError(ApiError::RequestEntityTooLarge(format!(
                "Request must be smaller than {MAX_CODE_REQUEST} bytes"
            )))
            .into_response()
        };
        if declared.is_some_and(|n| n > MAX_CODE_REQUEST) {
            return too_large();
        }
        let bytes = match Limited::new(body, MAX_CODE_REQUEST).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
            Err(e) => {
                return ApiResponseError(ApiError::InvalidRequestContent(format!(
                    "Could not read request body: {e}"
                )))
                .into_response();
            }
        };
        let hash = if bytes.len() > HASH_INLINE_LIMIT {
            let b = bytes.clone();
            match tokio::task::spawn_blocking(move || sigv4::sha256_hex(&b)).await {
                Ok(h) => h,
                Err(e) => {
                    return ApiResponseError(ApiError::Service(format!("hashing failed: {e}")))
                        .into_response();
                }
            }
        } else {
            sigv4::sha256_hex(&bytes)
        };
        (Body::from(bytes), Some(hash))
    };
    if let Err(e) = sigv4::verify(&sreq, &parsed, &secret, body_hash.as_deref()) {
        tracing::info!(key = %parsed.access_key_id, code = e.code(), "refused a request: {e}");
        return refuse(&e, is_logs);
    }
    drop(headers);
    next.run(Request::from_parts(parts, body)).await
}
