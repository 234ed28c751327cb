//! The extractors behind a router, driven with tower's `oneshot`: what a handler receives,
//! and what the client gets when a step refuses the request.

use super::{Function, InvokeHeaders, JsonBody, Payload, QualifiedFunction};
use crate::operations::{
    CreateFunction, InvokeAsync, InvokeWithResponseStream, JsonOperation, Operation,
};
use crate::test_support::{TestState, test_state};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use bytes::Bytes;
use flint_types::FunctionRef;
use http_body_util::BodyExt;
use serde::Deserialize;
use std::collections::VecDeque;
use tower::ServiceExt;

/// A JSON operation with a small limit, so that limits can be crossed cheaply.
struct Small;

impl Operation for Small {
    const NAME: &'static str = "SmallOperation";
    const MAX_BODY: usize = 16;
}

#[derive(Debug, Default, Deserialize)]
struct SmallInput {
    n: Option<i64>,
}

impl JsonOperation for Small {
    type Input = SmallInput;
}

fn describe(fref: &FunctionRef) -> String {
    let qualifier = fref.qualifier.as_ref().map(|q| q.to_string());
    format!("{}|{}", fref.name, qualifier.as_deref().unwrap_or("-"))
}

async fn plain(Function(fref): Function<140>) -> String {
    describe(&fref)
}

async fn qualified(QualifiedFunction(fref): QualifiedFunction<256>) -> String {
    describe(&fref)
}

async fn small(JsonBody(input): JsonBody<Small>) -> String {
    format!("{:?}", input.n)
}

async fn create(JsonBody(_): JsonBody<CreateFunction>) -> &'static str {
    "parsed"
}

async fn payload(Payload(payload, _): Payload<InvokeAsync>) -> Bytes {
    payload
}

async fn stream_headers(h: InvokeHeaders<InvokeWithResponseStream>) -> String {
    format!(
        "{}|{}|{}",
        h.invocation_type.name(),
        h.tail_logs,
        h.client_context.as_deref().unwrap_or("-")
    )
}

struct Fixture {
    app: Router,
    _state: TestState,
}

fn fixture() -> Fixture {
    let test = test_state();
    let app = Router::new()
        .route("/plain/{function}", get(plain))
        .route("/qualified/{function}", get(qualified))
        .route("/small", post(small))
        .route("/create", post(create))
        .route("/payload", post(payload))
        .route("/stream-headers", post(stream_headers))
        .with_state(test.state.clone());
    Fixture { app, _state: test }
}

struct Answer {
    status: StatusCode,
    error_type: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON error body")
    }
}

async fn send(req: Request<Body>) -> Answer {
    let resp = fixture().app.oneshot(req).await.unwrap();
    let status = resp.status();
    let error_type = resp
        .headers()
        .get("x-amzn-ErrorType")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        error_type,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn get_path(path: &str) -> Answer {
    send(Request::get(path).body(Body::empty()).unwrap()).await
}

async fn post_body(path: &str, body: impl Into<Body>) -> Answer {
    send(Request::post(path).body(body.into()).unwrap()).await
}

/// A body that arrives in pieces, each a chunk or a read failure.
struct Pieces(VecDeque<Result<Bytes, std::io::Error>>);

impl futures_core::Stream for Pieces {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.pop_front())
    }
}

fn failing_body() -> Body {
    Body::from_stream(Pieces(VecDeque::from([Err(std::io::Error::other(
        "connection reset",
    ))])))
}

#[tokio::test]
async fn a_function_reference_is_a_name_or_an_arn_with_its_qualifier() {
    assert_eq!(get_path("/plain/my-function").await.body, "my-function|-");
    assert_eq!(get_path("/plain/my-function:7").await.body, "my-function|7");
    let arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Amy-function%3Alive";
    let answer = get_path(&format!("/plain/{arn}")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "my-function|live");
}

#[tokio::test]
async fn a_reference_over_the_operations_limit_is_a_validation_error() {
    // A valid 152-character partial ARN: too long for 140, fine for 256.
    let raw = format!(
        "000000000000:function:{}:{}",
        "f".repeat(64),
        "a".repeat(65)
    );
    assert_eq!(raw.len(), 152);
    let short = get_path(&format!("/plain/{raw}")).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert_eq!(short.error_type.as_deref(), Some("ValidationException"));
    assert_eq!(
        short.json()["message"],
        format!(
            "1 validation error detected: Value '{raw}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 140"
        )
    );
    let long = get_path(&format!("/qualified/{raw}")).await;
    assert_eq!(long.status, StatusCode::OK);
    assert_eq!(long.body, format!("{}|{}", "f".repeat(64), "a".repeat(65)));
}

#[tokio::test]
async fn a_reference_to_another_account_or_region_names_no_function() {
    let answer = get_path("/plain/arn:aws:lambda:eu-west-1:000000000000:function:f").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer.error_type.as_deref(),
        Some("ResourceNotFoundException")
    );
    let bad = get_path("/plain/not%20a%20name").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_type.as_deref(), Some("ValidationException"));
}

#[tokio::test]
async fn only_qualified_operations_read_the_qualifier_query() {
    assert_eq!(get_path("/plain/f?Qualifier=3").await.body, "f|-");
    assert_eq!(get_path("/qualified/f?Qualifier=3").await.body, "f|3");
    assert_eq!(get_path("/qualified/f:3?Qualifier=3").await.body, "f|3");
    let conflict = get_path("/qualified/f:2?Qualifier=3").await;
    assert_eq!(conflict.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        conflict.error_type.as_deref(),
        Some("InvalidParameterValueException")
    );
    assert_eq!(
        conflict.json()["message"],
        "The derived qualifier from the function name does not match the specified qualifier."
    );
}

#[tokio::test]
async fn a_json_body_parses_and_an_empty_one_is_the_default() {
    assert_eq!(post_body("/small", r#"{"n":5}"#).await.body, "Some(5)");
    assert_eq!(post_body("/small", "").await.body, "None");
    assert_eq!(post_body("/small", " \n\t").await.body, "None");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_invalid_request_content() {
    let answer = post_body("/small", r#"{"n":"#).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.error_type.as_deref(),
        Some("InvalidRequestContentException")
    );
    let message = answer.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("Could not parse request body into json: "),
        "{message}"
    );
    // The shape is checked too: a string where a number belongs.
    let wrong = post_body("/small", r#"{"n":"5"}"#).await;
    assert_eq!(
        wrong.error_type.as_deref(),
        Some("InvalidRequestContentException")
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_a_413_naming_the_operation() {
    let answer = post_body("/small", r#"{"n":12345678901}"#).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        answer.error_type.as_deref(),
        Some("RequestEntityTooLargeException")
    );
    assert_eq!(
        answer.json()["message"],
        "Request must be smaller than 16 bytes for the SmallOperation operation"
    );
    // Exactly at the limit is fine.
    assert_eq!(
        post_body("/small", r#"{"n":1234567890}"#).await.body,
        "Some(1234567890)"
    );
    // Without a declared length, the limit stops the reading.
    let pieces = Pieces(VecDeque::from([
        Ok(Bytes::from_static(b"{\"n\":1234")),
        Ok(Bytes::from_static(b"567890123}")),
    ]));
    let streamed = post_body("/small", Body::from_stream(pieces)).await;
    assert_eq!(streamed.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_body_is_read() {
    let declared = |len: &str| {
        Request::post("/small")
            .header(header::CONTENT_LENGTH, len)
            .body(failing_body())
            .unwrap()
    };
    // Had the body been read, its failure would have been the answer (as it is when the
    // declared length is within the limit).
    let refused = send(declared("17")).await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    let read = send(declared("16")).await;
    assert_eq!(read.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        read.error_type.as_deref(),
        Some("InvalidRequestContentException")
    );
    assert!(
        read.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("Could not read request body: "),
        "{}",
        read.body
    );
}

#[tokio::test]
async fn each_operation_has_its_own_limit_and_name() {
    let req = Request::post("/create")
        .header(header::CONTENT_LENGTH, "70167212")
        .body(failing_body())
        .unwrap();
    let answer = send(req).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        answer.json()["message"],
        "Request must be smaller than 70167211 bytes for the CreateFunction operation"
    );
    let big = format!(r#"{{"FunctionName":"{}"}}"#, "f".repeat(300_000));
    let too_big_for_invoke_async = post_body("/payload", big.clone()).await;
    assert_eq!(
        too_big_for_invoke_async.json()["message"],
        "Request must be smaller than 262144 bytes for the InvokeAsync operation"
    );
    assert_eq!(post_body("/create", "{}").await.body, "parsed");
}

#[tokio::test]
async fn an_invoke_payload_is_json_and_an_empty_one_is_the_empty_object() {
    assert_eq!(post_body("/payload", "").await.body, "{}");
    assert_eq!(post_body("/payload", "[1, 2]").await.body, "[1, 2]");
    let answer = post_body("/payload", "not json").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.error_type.as_deref(),
        Some("InvalidRequestContentException")
    );
    let message = answer.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with(
            "Could not parse request body into json: Could not parse payload into json: "
        ),
        "{message}"
    );
}

#[tokio::test]
async fn invoke_headers_are_checked_against_the_operation() {
    let with = |name: &str, value: &str| {
        Request::post("/stream-headers")
            .header(name, value)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        post_body("/stream-headers", "").await.body,
        "RequestResponse|false|-"
    );
    assert_eq!(
        send(with("X-Amz-Invocation-Type", "DryRun")).await.body,
        "DryRun|false|-"
    );
    assert_eq!(
        send(with("X-Amz-Log-Type", "Tail")).await.body,
        "RequestResponse|true|-"
    );
    // InvokeWithResponseStream has no Event invocations.
    let event = send(with("X-Amz-Invocation-Type", "Event")).await;
    assert_eq!(event.status, StatusCode::BAD_REQUEST);
    assert_eq!(event.error_type.as_deref(), Some("ValidationException"));
    assert_eq!(
        event.json()["message"],
        "1 validation error detected: Value 'Event' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [RequestResponse, DryRun]"
    );
    let log = send(with("X-Amz-Log-Type", "All")).await;
    assert_eq!(log.error_type.as_deref(), Some("ValidationException"));
    // {"a":1}
    assert_eq!(
        send(with("X-Amz-Client-Context", "eyJhIjoxfQ=="))
            .await
            .body,
        "RequestResponse|false|{\"a\":1}"
    );
    for bad in ["not base64!", "bm90IGpzb24="] {
        let answer = send(with("X-Amz-Client-Context", bad)).await;
        assert_eq!(
            answer.error_type.as_deref(),
            Some("InvalidParameterValueException"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn an_invoke_payload_with_invalid_utf8_is_refused_as_lambda_does() {
    let message = |body: &'static [u8]| async move {
        let answer = send(Request::post("/payload").body(Body::from(body)).unwrap()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            answer.error_type.as_deref(),
            Some("InvalidRequestContentException")
        );
        answer.json()["message"].as_str().unwrap().to_owned()
    };
    let jackson = |what: &str, line: u32, column: u32| {
        format!(
            "Could not parse request body into json: Could not parse payload into json: Invalid UTF-8 {what}\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: {line}, column: {column}]"
        )
    };
    // test_lambda.py::TestLambdaErrors::test_lambda_invoke_payload_encoding_error[body-...], as
    // AWS answered it (the AWS CLI v2 sending base64 text's decoding as the payload).
    assert_eq!(
        message(b"n\x87r\x9e\xe9\xb5\xd7I\xee\x9bmt").await,
        jackson("start byte 0x87", 1, 3)
    );
    // Inside a string, where a JSON syntax check alone would let it through.
    assert_eq!(
        message(b"{\"a\":\"\xff\"}").await,
        jackson("start byte 0xff", 1, 8)
    );
    assert_eq!(
        message(b"{\n \"a\": \"\xe9x\"}").await,
        jackson("middle byte 0x78", 2, 10)
    );
    assert_eq!(
        message(b"\"caf\xc3").await,
        jackson("middle byte 0xc3", 1, 6)
    );
}
