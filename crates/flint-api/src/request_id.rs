//! Every response carries a request id, as Lambda's do.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// Adds a fresh `x-amzn-RequestId` to a response that has none.
pub(crate) async fn request_id(req: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let mut resp = next.run(req).await;
    // A handler that minted its own id (an accepted Event invocation: the
    // id the function and the destinations see) keeps it.
    if !resp.headers().contains_key("x-amzn-RequestId")
        && let Ok(v) = HeaderValue::from_str(&id)
    {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}
