//! The answer to a path that matches no Lambda operation.

use crate::error::ApiResponseError;
use axum::extract::Request;
use flint_types::ApiError;

pub(crate) async fn unknown_operation(req: Request) -> ApiResponseError {
    ApiError::UnknownOperation(format!(
        "No Lambda operation matches {} {}",
        req.method(),
        req.uri().path()
    ))
    .into()
}

#[cfg(test)]
mod tests {
    use crate::routes::router;
    use crate::test_support::test_state;
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// Status, `x-amzn-ErrorType` and the JSON body of a request to the API router.
    async fn answer(method: Method, path: &str) -> (StatusCode, String, serde_json::Value) {
        let test = test_state();
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let resp = router(test.state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let code = resp
            .headers()
            .get("x-amzn-ErrorType")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
        (status, code, json)
    }

    #[tokio::test]
    async fn no_route_and_no_method_are_unknown_operations() {
        for (method, path) in [
            (Method::GET, "/nope"),
            (Method::PUT, "/2015-03-31/functions"),
            (Method::GET, "/2015-03-31/functions/f/invocations"),
            (Method::PATCH, "/2015-03-31/functions/f"),
        ] {
            let (status, code, body) = answer(method.clone(), path).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::NOT_FOUND, "UnknownOperationException"),
                "{method} {path}"
            );
            assert_eq!(
                body["Message"],
                format!("No Lambda operation matches {method} {path}")
            );
        }
    }

    #[tokio::test]
    async fn path_segments_that_are_not_utf8_fail_their_own_validation() {
        for (path, field) in [
            ("/2015-03-31/functions/%FF%FE", "functionName"),
            ("/2015-03-31/functions/%FF%FE/invocations", "functionName"),
            ("/2015-03-31/functions/f/aliases/%FF", "name"),
            ("/2017-03-31/tags/%FF", "resource"),
        ] {
            let method = if path.ends_with("invocations") {
                Method::POST
            } else {
                Method::GET
            };
            let (status, code, body) = answer(method, path).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::BAD_REQUEST, "ValidationException"),
                "{path}"
            );
            let message = body["message"].as_str().unwrap();
            assert!(
                message.starts_with("1 validation error detected: Value '\u{fffd}")
                    && message.contains(&format!("' at '{field}' failed to satisfy constraint")),
                "{path}: {message}"
            );
        }
    }
}
