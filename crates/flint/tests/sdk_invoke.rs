//! Invoke through the AWS SDK for Rust: a Python function on flint's managed
//! runtime, run in a sandbox by the real server.

mod common;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LogType;
use base64::Engine;
use common::{Server, create_request, describe, zip_of};

const HANDLER: &str = r#"
import os
COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    print("invoked with", event)
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {
        "event": event,
        "count": COUNT,
        "function": context.function_name,
        "arn": context.invoked_function_arn,
        "memory": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
    }
"#;

#[tokio::test]
async fn invoke_runs_the_function_and_reports_like_lambda() {
    let server = Server::start();
    let client = server.client_no_retry();
    let zip = zip_of(&[("index.py", HANDLER.as_bytes())]);
    create_request(&client, "sdk-invoke", &zip)
        .runtime(aws_sdk_lambda::types::Runtime::Python311)
        .memory_size(256)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create: {}", describe(&e)));

    let out = client
        .invoke()
        .function_name("sdk-invoke")
        .payload(Blob::new(r#"{"hello":"sdk"}"#))
        .log_type(LogType::Tail)
        .send()
        .await
        .unwrap_or_else(|e| panic!("invoke: {}", describe(&e)));
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.executed_version(), Some("$LATEST"));
    assert_eq!(out.function_error(), None);
    let body: serde_json::Value =
        serde_json::from_slice(out.payload().expect("payload").as_ref()).unwrap();
    assert_eq!(body["event"]["hello"], "sdk");
    assert_eq!(body["count"], 1);
    assert_eq!(body["function"], "sdk-invoke");
    assert_eq!(body["memory"], "256");
    let log = base64::engine::general_purpose::STANDARD
        .decode(out.log_result().expect("LogResult with LogType Tail"))
        .unwrap();
    let log = String::from_utf8(log).unwrap();
    assert!(log.contains("START RequestId: "), "{log}");
    assert!(log.contains("invoked with {'hello': 'sdk'}"), "{log}");
    assert!(log.contains("\tMemory Size: 256 MB\t"), "{log}");
    assert!(
        log.contains("Init Duration: "),
        "cold start reports init: {log}"
    );

    // Warm: same process (the module-level counter moved), no init.
    let out = client
        .invoke()
        .function_name("sdk-invoke")
        .payload(Blob::new("{}"))
        .log_type(LogType::Tail)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["count"], 2);
    let log = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(out.log_result().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(!log.contains("Init Duration"), "{log}");

    // A raised exception: 200 with FunctionError and the runtime's error body.
    let out = client
        .invoke()
        .function_name("sdk-invoke")
        .payload(Blob::new(r#"{"fail":true}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), Some("Unhandled"));
    let err: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(err["errorType"], "ValueError");
    assert_eq!(err["errorMessage"], "asked to fail");
    assert!(err["stackTrace"].is_array());

    // A published version and an alias: the executed version is reported.
    let v = client
        .publish_version()
        .function_name("sdk-invoke")
        .send()
        .await
        .unwrap();
    client
        .create_alias()
        .function_name("sdk-invoke")
        .name("live")
        .function_version(v.version().unwrap())
        .send()
        .await
        .unwrap();
    let out = client
        .invoke()
        .function_name("sdk-invoke:live")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.executed_version(), Some("1"));
    let body: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert!(
        body["arn"]
            .as_str()
            .unwrap()
            .ends_with(":function:sdk-invoke:live")
    );

    // Unknown function: 404 with Lambda's message.
    let err = client
        .invoke()
        .function_name("no-such-function")
        .send()
        .await
        .unwrap_err();
    let info = common::err_info(&err);
    assert_eq!(info.code, "ResourceNotFoundException");
    assert_eq!(info.status, 404);
}
