//! Asynchronous invocation through the AWS SDK for Rust: EventInvokeConfig
//! operations, `Event` invocations answered 202 once queued, retries on the
//! server's test clock, expiry by age, and the invocation records that
//! destinations receive.

mod common;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{DestinationConfig, InvocationType, OnFailure, OnSuccess, Runtime};
use common::{Server, create_request, describe, err_info, function_arn, zip_of};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const FLAKY: &str = r#"
def handler(event, context):
    print("ATTEMPT", context.aws_request_id)
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": event}
"#;

const DEST: &str = r#"
import json
def handler(event, context):
    print("RECORD " + json.dumps(event))
    return {}
"#;

async fn create_python(client: &Client, name: &str, src: &str) {
    let zip = zip_of(&[("index.py", src.as_bytes())]);
    create_request(client, name, &zip)
        .runtime(Runtime::Python311)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {name}: {}", describe(&e)));
}

fn destinations(on_success: Option<&str>, on_failure: Option<&str>) -> DestinationConfig {
    let mut d = DestinationConfig::builder();
    if let Some(a) = on_success {
        d = d.on_success(OnSuccess::builder().destination(a).build());
    }
    if let Some(a) = on_failure {
        d = d.on_failure(OnFailure::builder().destination(a).build());
    }
    d.build()
}

/// Every log message of `function` so far.
async fn log_lines(server: &Server, function: &str) -> Vec<String> {
    common::log_messages(&server.endpoint, function).await
}

/// The invocation records the destination function printed.
async fn records(server: &Server) -> Vec<Value> {
    log_lines(server, "dest")
        .await
        .iter()
        .filter_map(|l| l.split_once("RECORD ").map(|(_, r)| r.trim().to_string()))
        .map(|r| serde_json::from_str(&r).expect("record JSON"))
        .collect()
}

async fn record_for(server: &Server, request_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(r) = records(server)
            .await
            .into_iter()
            .find(|r| r["requestContext"]["requestId"] == request_id)
        {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no record for {request_id}; records: {:?}",
            records(server).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn attempts(server: &Server, function: &str, request_id: &str) -> usize {
    log_lines(server, function)
        .await
        .iter()
        .filter(|l| l.contains(&format!("ATTEMPT {request_id}")))
        .count()
}

async fn wait_attempts(server: &Server, function: &str, request_id: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while attempts(server, function, request_id).await < n {
        assert!(
            Instant::now() < deadline,
            "{function} never reached attempt {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn advance(server: &Server, secs: u64) {
    let resp = reqwest::Client::new()
        .post(format!("{}/_flint/clock", server.endpoint))
        .json(&json!({ "AdvanceSeconds": secs }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn stats(server: &Server) -> Value {
    reqwest::Client::new()
        .get(format!("{}/_flint/events", server.endpoint))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn invoke_event(client: &Client, function: &str, payload: &str) -> String {
    let out = client
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(payload))
        .send()
        .await
        .unwrap_or_else(|e| panic!("invoke {function}: {}", describe(&e)));
    assert_eq!(out.status_code(), 202);
    assert!(out.payload().is_none_or(|p| p.as_ref().is_empty()));
    out.request_id().expect("x-amzn-RequestId").to_string()
}

#[tokio::test]
async fn event_invoke_config_operations_behave_like_lambda() {
    let server = Server::start();
    let client = server.client_no_retry();
    common::create_simple(&client, "cfg").await;
    // A Lambda destination must exist (AWS: "The destination ARN ... is invalid.").
    common::create_simple(&client, "other").await;
    let dest = function_arn("other");
    let arn = function_arn("cfg");

    let err = client
        .get_function_event_invoke_config()
        .function_name("cfg")
        .send()
        .await
        .unwrap_err();
    let info = err_info(&err);
    assert_eq!(info.status, 404);
    assert_eq!(info.code, "ResourceNotFoundException");
    assert_eq!(
        info.message,
        format!("The function {arn}:$LATEST doesn't have an EventInvokeConfig")
    );

    let put = client
        .put_function_event_invoke_config()
        .function_name("cfg")
        .maximum_retry_attempts(1)
        .destination_config(destinations(None, Some(&dest)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put: {}", describe(&e)));
    assert_eq!(put.function_arn(), Some(format!("{arn}:$LATEST").as_str()));
    assert_eq!(put.maximum_retry_attempts(), Some(1));
    assert_eq!(put.maximum_event_age_in_seconds(), None);
    assert!(put.last_modified().is_some());
    let d = put.destination_config().unwrap();
    assert_eq!(d.on_failure().unwrap().destination(), Some(dest.as_str()));
    assert_eq!(d.on_success().unwrap().destination(), None);

    // Update merges: the retry setting and the destination stay.
    let upd = client
        .update_function_event_invoke_config()
        .function_name("cfg")
        .maximum_event_age_in_seconds(300)
        .send()
        .await
        .unwrap_or_else(|e| panic!("update: {}", describe(&e)));
    assert_eq!(upd.maximum_retry_attempts(), Some(1));
    assert_eq!(upd.maximum_event_age_in_seconds(), Some(300));
    assert_eq!(
        upd.destination_config()
            .unwrap()
            .on_failure()
            .unwrap()
            .destination(),
        Some(dest.as_str())
    );
    // Put replaces: what it omits is gone.
    let put = client
        .put_function_event_invoke_config()
        .function_name("cfg")
        .maximum_event_age_in_seconds(120)
        .send()
        .await
        .unwrap();
    assert_eq!(put.maximum_retry_attempts(), None);
    assert_eq!(
        put.destination_config()
            .unwrap()
            .on_failure()
            .unwrap()
            .destination(),
        None
    );
    let got = client
        .get_function_event_invoke_config()
        .function_name("cfg")
        .send()
        .await
        .unwrap();
    assert_eq!(got.maximum_event_age_in_seconds(), Some(120));

    // A version gets its own config; the list shows both.
    client
        .publish_version()
        .function_name("cfg")
        .send()
        .await
        .unwrap();
    client
        .put_function_event_invoke_config()
        .function_name("cfg")
        .qualifier("1")
        .maximum_retry_attempts(0)
        .send()
        .await
        .unwrap();
    let list = client
        .list_function_event_invoke_configs()
        .function_name("cfg")
        .send()
        .await
        .unwrap();
    let arns: Vec<_> = list
        .function_event_invoke_configs()
        .iter()
        .filter_map(|c| c.function_arn())
        .collect();
    assert_eq!(arns, vec![format!("{arn}:$LATEST"), format!("{arn}:1")]);

    // Rejections, with AWS's codes and messages.
    let bad = |r: Result<_, _>| -> common::ErrInfo {
        let e: aws_sdk_lambda::error::SdkError<_, _> = match r {
            Ok(_) => panic!("expected a rejection"),
            Err(e) => e,
        };
        err_info::<aws_sdk_lambda::operation::put_function_event_invoke_config::PutFunctionEventInvokeConfigError, _>(&e)
    };
    let info = bad(client
        .put_function_event_invoke_config()
        .function_name("cfg")
        .destination_config(destinations(
            None,
            Some("arn:aws:dynamodb:us-east-1:000000000000:table/t"),
        ))
        .send()
        .await);
    assert_eq!(info.code, "InvalidParameterValueException");
    // DynamoDB cannot be a destination: AWS quotes the whole config (as recorded in
    // test_lambda_eventinvokeconfig_exceptions).
    assert_eq!(
        info.message,
        "The provided destination config DestinationConfig(onSuccess=null, \
         onFailure=OnFailure(destination=arn:aws:dynamodb:us-east-1:000000000000:table/t)) is invalid."
    );
    let info = bad(client
        .put_function_event_invoke_config()
        .function_name("cfg")
        .maximum_retry_attempts(3)
        .send()
        .await);
    assert_eq!(info.code, "ValidationException");
    assert_eq!(info.status, 400);
    let info = bad(client
        .put_function_event_invoke_config()
        .function_name("cfg")
        .qualifier("7")
        .maximum_retry_attempts(1)
        .send()
        .await);
    assert_eq!(info.status, 404);
    assert_eq!(info.code, "ResourceNotFoundException");

    // Delete, then the config is gone; and everything goes with the function.
    client
        .delete_function_event_invoke_config()
        .function_name("cfg")
        .qualifier("1")
        .send()
        .await
        .unwrap();
    let err = client
        .delete_function_event_invoke_config()
        .function_name("cfg")
        .qualifier("1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&err).status, 404);
    client
        .delete_function()
        .function_name("cfg")
        .send()
        .await
        .unwrap();
    common::create_simple(&client, "cfg").await;
    let err = client
        .get_function_event_invoke_config()
        .function_name("cfg")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_info(&err).status,
        404,
        "a recreated function starts clean"
    );
}

#[tokio::test]
async fn events_retry_expire_and_reach_their_destinations() {
    let server = Server::start_with(&["--test-clock"]);
    let client = server.client_no_retry();
    create_python(&client, "flaky", FLAKY).await;
    create_python(&client, "dest", DEST).await;
    let dest = function_arn("dest");
    client
        .put_function_event_invoke_config()
        .function_name("flaky")
        .maximum_retry_attempts(1)
        .destination_config(destinations(Some(&dest), Some(&dest)))
        .send()
        .await
        .unwrap();

    // Success: one attempt, the OnSuccess record.
    let ok = invoke_event(&client, "flaky", r#"{"n":1}"#).await;
    let r = record_for(&server, &ok).await;
    assert_eq!(r["version"], "1.0");
    assert_eq!(r["requestContext"]["condition"], "Success");
    assert_eq!(
        r["requestContext"]["functionArn"],
        format!("{}:$LATEST", function_arn("flaky"))
    );
    assert_eq!(r["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(r["requestPayload"], json!({"n": 1}));
    assert_eq!(r["responseContext"]["statusCode"], 200);
    assert_eq!(r["responseContext"]["executedVersion"], "$LATEST");
    assert!(r["responseContext"].get("functionError").is_none());
    assert_eq!(r["responsePayload"], json!({"ok": {"n": 1}}));
    assert!(r["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        attempts(&server, "flaky", &ok).await,
        1,
        "the function saw the same request id"
    );

    // Function error: retried after a minute on the clock, then OnFailure.
    let bad = invoke_event(&client, "flaky", r#"{"fail":true}"#).await;
    wait_attempts(&server, "flaky", &bad, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        attempts(&server, "flaky", &bad).await,
        1,
        "no retry before the clock moves"
    );
    let s = stats(&server).await;
    assert_eq!(s["Depth"], 1, "{s}");
    assert!(s["OldestEventAgeMs"].is_u64(), "{s}");
    advance(&server, 59).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        attempts(&server, "flaky", &bad).await,
        1,
        "still waiting at 59 s"
    );
    advance(&server, 1).await;
    let r = record_for(&server, &bad).await;
    assert_eq!(attempts(&server, "flaky", &bad).await, 2);
    assert_eq!(r["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(r["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(r["requestPayload"], json!({"fail": true}));
    assert_eq!(r["responseContext"]["functionError"], "Unhandled");
    assert_eq!(r["responsePayload"]["errorType"], "ValueError");
    assert_eq!(r["responsePayload"]["errorMessage"], "asked to fail");

    // Expiry by age: the retry would come after MaximumEventAgeInSeconds.
    client
        .put_function_event_invoke_config()
        .function_name("flaky")
        .maximum_event_age_in_seconds(60)
        .destination_config(destinations(None, Some(&dest)))
        .send()
        .await
        .unwrap();
    let old = invoke_event(&client, "flaky", r#"{"fail":"again"}"#).await;
    wait_attempts(&server, "flaky", &old, 1).await;
    advance(&server, 60).await;
    let r = record_for(&server, &old).await;
    assert_eq!(r["requestContext"]["condition"], "EventAgeExceeded");
    assert_eq!(r["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(
        attempts(&server, "flaky", &old).await,
        1,
        "an expired event never runs again"
    );

    // Reserved concurrency 0: straight to OnFailure, never run.
    client
        .put_function_concurrency()
        .function_name("flaky")
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap();
    let throttled = invoke_event(&client, "flaky", r#"{"n":2}"#).await;
    let r = record_for(&server, &throttled).await;
    assert_eq!(r["requestContext"]["approximateInvokeCount"], 0);
    assert_eq!(attempts(&server, "flaky", &throttled).await, 0);
    client
        .delete_function_concurrency()
        .function_name("flaky")
        .send()
        .await
        .unwrap();

    // A destination flint cannot deliver to keeps the record locally.
    let queue = "arn:aws:sqs:us-east-1:000000000000:results";
    client
        .put_function_event_invoke_config()
        .function_name("flaky")
        .destination_config(destinations(Some(queue), None))
        .send()
        .await
        .unwrap();
    let kept = invoke_event(&client, "flaky", r#"{"n":3}"#).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let record = loop {
        let v: Value = reqwest::Client::new()
            .get(format!("{}/_flint/events/undelivered", server.endpoint))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(r) = v["Records"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["RequestId"] == kept.as_str()).cloned())
        {
            break r;
        }
        assert!(Instant::now() < deadline, "no undelivered record: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(record["Kind"], "OnSuccess");
    assert_eq!(record["Target"], queue);
    assert_eq!(record["Payload"]["requestContext"]["condition"], "Success");

    let s = stats(&server).await;
    assert_eq!(s["Depth"], 0, "{s}");
    assert_eq!(s["Undelivered"], 1, "{s}");
}

#[tokio::test]
async fn event_payloads_have_lambdas_limit_and_unknown_functions_are_404() {
    let server = Server::start();
    let client = server.client_no_retry();
    common::create_simple(&client, "limits").await;
    let big = format!("\"{}\"", "a".repeat(1_048_575));
    let err = client
        .invoke()
        .function_name("limits")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(big))
        .send()
        .await
        .unwrap_err();
    let info = err_info(&err);
    assert_eq!(info.status, 413);
    assert_eq!(info.code, "RequestEntityTooLargeException");
    assert_eq!(
        info.message,
        "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
    );
    let s = stats(&server).await;
    assert_eq!(s["Depth"], 0, "a refused event is not queued: {s}");

    let err = client
        .invoke()
        .function_name("nope")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&err).status, 404);
    let err = client
        .invoke()
        .function_name("limits")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new("{not json"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&err).code, "InvalidRequestContentException");
}
