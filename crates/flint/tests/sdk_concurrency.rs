//! Concurrency controls through the AWS SDK for Rust: reserved concurrency
//! caps invocations with Lambda's 429 (the SDK's typed
//! `TooManyRequestsException` with its `Reason`), reserved 0 throttles
//! everything, GetAccountSettings reports the unreserved pool, and the
//! provisioned concurrency operations go IN_PROGRESS → READY with
//! environments initialised before the first invoke.

mod common;

use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{LogType, ProvisionedConcurrencyStatusEnum, Runtime};
use base64::Engine;
use common::{Server, assert_err, create_request, describe, zip_of};
use std::time::{Duration, Instant};

const SLEEPER: &str = r#"
import os, time

def handler(event, context):
    time.sleep(event.get("seconds", 0))
    return {"init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")}
"#;

async fn create_sleeper(client: &aws_sdk_lambda::Client, name: &str) {
    create_request(client, name, &zip_of(&[("index.py", SLEEPER.as_bytes())]))
        .runtime(Runtime::Python311)
        .timeout(30)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {name}: {}", describe(&e)));
}

/// Invokes `name` with `{"seconds": s}`; the SDK error when it fails.
async fn invoke_sleep(
    client: &aws_sdk_lambda::Client,
    name: &str,
    s: f64,
) -> Result<
    aws_sdk_lambda::operation::invoke::InvokeOutput,
    aws_sdk_lambda::error::SdkError<InvokeError, aws_sdk_lambda::config::http::HttpResponse>,
> {
    client
        .invoke()
        .function_name(name)
        .payload(Blob::new(format!(r#"{{"seconds": {s}}}"#)))
        .send()
        .await
}

#[tokio::test]
async fn reserved_concurrency_throttles_the_excess_with_lambdas_429() {
    let server = Server::start();
    let client = server.client_no_retry();
    create_sleeper(&client, "sdk-reserved").await;
    client
        .put_function_concurrency()
        .function_name("sdk-reserved")
        .reserved_concurrent_executions(1)
        .send()
        .await
        .unwrap();
    let settings = client.get_account_settings().send().await.unwrap();
    let limit = settings.account_limit().unwrap();
    assert_eq!(
        limit.unreserved_concurrent_executions(),
        Some(limit.concurrent_executions() - 1)
    );

    // Warm the environment so the long invoke below starts at once.
    invoke_sleep(&client, "sdk-reserved", 0.0).await.unwrap();
    let busy = {
        let client = client.clone();
        tokio::spawn(async move { invoke_sleep(&client, "sdk-reserved", 3.0).await })
    };
    // Wait until the first one is running (the server counts it in flight).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let view: serde_json::Value = reqwest_get(&server, "/_flint/concurrency").await;
        let running = view["Functions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["FunctionName"] == "sdk-reserved" && f["InFlight"] == 1);
        if running {
            break;
        }
        assert!(Instant::now() < deadline, "first invoke never ran: {view}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = invoke_sleep(&client, "sdk-reserved", 0.0)
        .await
        .expect_err("a second concurrent invoke is over the reservation");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(429));
    match err.into_service_error() {
        InvokeError::TooManyRequestsException(e) => {
            assert_eq!(
                e.reason().map(|r| r.as_str()),
                Some("ReservedFunctionConcurrentInvocationLimitExceeded")
            );
            assert_eq!(e.message(), Some("Rate Exceeded."));
            assert_eq!(e.r#type(), Some("User"));
        }
        other => panic!("expected TooManyRequestsException, got {other:?}"),
    }
    let out = busy.await.unwrap().expect("the admitted invoke finishes");
    assert_eq!(out.function_error(), None);

    // Reserved 0: nothing runs.
    client
        .put_function_concurrency()
        .function_name("sdk-reserved")
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap();
    let err = invoke_sleep(&client, "sdk-reserved", 0.0)
        .await
        .expect_err("reserved 0 throttles");
    match err.into_service_error() {
        InvokeError::TooManyRequestsException(e) => assert_eq!(
            e.reason().map(|r| r.as_str()),
            Some("ReservedFunctionConcurrentInvocationLimitExceeded")
        ),
        other => panic!("expected TooManyRequestsException, got {other:?}"),
    }
    // Removing the reservation lets it run again.
    client
        .delete_function_concurrency()
        .function_name("sdk-reserved")
        .send()
        .await
        .unwrap();
    invoke_sleep(&client, "sdk-reserved", 0.0).await.unwrap();
}

#[tokio::test]
async fn provisioned_concurrency_is_ready_before_the_first_invoke() {
    let server = Server::start();
    let client = server.client_no_retry();
    create_sleeper(&client, "sdk-provisioned").await;
    assert_err(
        client
            .put_provisioned_concurrency_config()
            .function_name("sdk-provisioned")
            .qualifier("$LATEST")
            .provisioned_concurrent_executions(1)
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
    );
    let version = client
        .publish_version()
        .function_name("sdk-provisioned")
        .send()
        .await
        .unwrap()
        .version()
        .unwrap()
        .to_string();
    let put = client
        .put_provisioned_concurrency_config()
        .function_name("sdk-provisioned")
        .qualifier(&version)
        .provisioned_concurrent_executions(2)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put: {}", describe(&e)));
    assert_eq!(put.requested_provisioned_concurrent_executions(), Some(2));
    assert_eq!(
        put.status(),
        Some(&ProvisionedConcurrencyStatusEnum::InProgress)
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        let got = client
            .get_provisioned_concurrency_config()
            .function_name("sdk-provisioned")
            .qualifier(&version)
            .send()
            .await
            .unwrap();
        if got.status() == Some(&ProvisionedConcurrencyStatusEnum::Ready) {
            break got;
        }
        assert_ne!(
            got.status(),
            Some(&ProvisionedConcurrencyStatusEnum::Failed),
            "{got:?}"
        );
        assert!(Instant::now() < deadline, "never READY: {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ready.available_provisioned_concurrent_executions(), Some(2));
    assert_eq!(ready.allocated_provisioned_concurrent_executions(), Some(2));

    let listed = client
        .list_provisioned_concurrency_configs()
        .function_name("sdk-provisioned")
        .send()
        .await
        .unwrap();
    let configs = listed.provisioned_concurrency_configs();
    assert_eq!(configs.len(), 1);
    assert_eq!(
        configs[0].function_arn(),
        Some(format!("{}:{version}", common::function_arn("sdk-provisioned")).as_str())
    );

    // The first invoke of the version finds an initialised environment.
    let out = client
        .invoke()
        .function_name("sdk-provisioned")
        .qualifier(&version)
        .payload(Blob::new("{}"))
        .log_type(LogType::Tail)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["init"], "provisioned-concurrency");
    let log = base64::engine::general_purpose::STANDARD
        .decode(out.log_result().unwrap())
        .unwrap();
    let log = String::from_utf8(log).unwrap();
    assert!(log.contains("REPORT RequestId: "), "{log}");
    assert!(!log.contains("Init Duration"), "no init in the path: {log}");

    client
        .delete_provisioned_concurrency_config()
        .function_name("sdk-provisioned")
        .qualifier(&version)
        .send()
        .await
        .unwrap();
    let err = client
        .get_provisioned_concurrency_config()
        .function_name("sdk-provisioned")
        .qualifier(&version)
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(
        common::err_info(&err).code,
        "ProvisionedConcurrencyConfigNotFoundException"
    );
}

/// GET on flint's own (non-Lambda) introspection API.
async fn reqwest_get(server: &Server, path: &str) -> serde_json::Value {
    reqwest::get(format!("{}{path}", server.endpoint))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
