//! The Extensions API (2020-01-01) over HTTP with a raw HTTP/1.1 client: registration and its
//! errors, init waiting for every extension, INVOKE fan-out, reuse waiting for the extensions'
//! `/event/next`, SHUTDOWN, init errors.

mod common;

use std::time::Duration;

use common::*;
use flint_runtime_api::{
    ExtensionsConfig, InitOutcome, InvokeOutcome, RuntimeApiConfig, ShutdownReason,
};
use tokio::time::timeout;

const REGISTER: &str = "/2020-01-01/extension/register";
const EXT_NEXT: &str = "/2020-01-01/extension/event/next";
const EXT_INIT_ERROR: &str = "/2020-01-01/extension/init/error";

fn config(external: &[&str]) -> RuntimeApiConfig {
    RuntimeApiConfig {
        extensions: ExtensionsConfig {
            function_name: "echo".into(),
            function_version: "$LATEST".into(),
            handler: "bootstrap".into(),
            account_id: "123456789012".into(),
            external: external.iter().map(|s| (*s).to_owned()).collect(),
        },
        ..RuntimeApiConfig::default()
    }
}

async fn register(conn: &mut Conn, name: &str, events: &str) -> Resp {
    let body = format!(r#"{{"events":{events}}}"#);
    conn.send(
        "POST",
        REGISTER,
        &[
            ("Lambda-Extension-Name", name),
            ("Lambda-Extension-Accept-Feature", "accountId"),
        ],
        body.as_bytes(),
    )
    .await;
    conn.read().await
}

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_str(r.text()).unwrap()
}

#[tokio::test]
async fn register_answers_the_function_and_an_identifier() {
    let (_api, addr) = start(config(&["logger"])).await;
    let mut c = Conn::open(addr).await;
    let r = register(&mut c, "logger", r#"["INVOKE","SHUTDOWN"]"#).await;
    assert_eq!(r.status, 200);
    let id = r.header("lambda-extension-identifier").unwrap();
    assert_eq!(id.len(), 36, "a uuid: {id}");
    assert_eq!(
        json(&r),
        serde_json::json!({"functionName":"echo","functionVersion":"$LATEST","handler":"bootstrap","accountId":"123456789012"})
    );
    // the same name twice, an internal extension asking for SHUTDOWN, a deprecated field
    let r = register(&mut c, "logger", r#"["INVOKE"]"#).await;
    assert_eq!(
        (r.status, json(&r)["errorType"].clone()),
        (403, "Extension.InvalidExtensionName".into())
    );
    let r = register(&mut c, "internal", r#"["SHUTDOWN"]"#).await;
    assert_eq!(
        (r.status, json(&r)["errorType"].clone()),
        (403, "Extension.InvalidEventType".into())
    );
    c.send(
        "POST",
        REGISTER,
        &[("Lambda-Extension-Name", "x")],
        br#"{"events":[],"configurationKeys":["a"]}"#,
    )
    .await;
    let r = c.read().await;
    assert_eq!(
        (r.status, json(&r)["errorType"].clone()),
        (403, "InvalidRequestFormat".into())
    );
    // no identifier, an unknown one
    c.send("GET", EXT_NEXT, &[], b"").await;
    let r = c.read().await;
    assert_eq!(
        (r.status, json(&r)["errorType"].clone()),
        (403, "Extension.MissingExtensionIdentifier".into())
    );
    c.send(
        "GET",
        EXT_NEXT,
        &[("Lambda-Extension-Identifier", "nope")],
        b"",
    )
    .await;
    let r = c.read().await;
    assert_eq!(
        (r.status, json(&r)["errorType"].clone()),
        (403, "Extension.UnknownExtensionIdentifier".into())
    );
}

#[tokio::test]
async fn init_waits_for_the_extension_then_invoke_waits_for_its_next() {
    let (api, addr) = start(config(&["logger"])).await;
    // the runtime is ready first: init must still wait for the external extension
    let mut rt = Conn::open(addr).await;
    rt.send("GET", NEXT, &[], b"").await;
    assert!(
        timeout(Duration::from_millis(200), api.wait_init())
            .await
            .is_err()
    );

    let mut ext = Conn::open(addr).await;
    let r = register(&mut ext, "logger", r#"["INVOKE","SHUTDOWN"]"#).await;
    let id = r.header("lambda-extension-identifier").unwrap().to_owned();
    assert!(
        timeout(Duration::from_millis(200), api.wait_init())
            .await
            .is_err(),
        "registered but not ready"
    );
    ext.send(
        "GET",
        EXT_NEXT,
        &[("Lambda-Extension-Identifier", &id)],
        b"",
    )
    .await;
    assert_eq!(
        timeout(Duration::from_secs(5), api.wait_init())
            .await
            .unwrap(),
        Ok(InitOutcome::Ready)
    );
    assert_eq!(
        api.extensions()[0].log_line(),
        "EXTENSION\tName: logger\tState: Ready\tEvents: [INVOKE, SHUTDOWN]"
    );

    // registration is closed after init
    let mut late = Conn::open(addr).await;
    let r = register(&mut late, "late", r#"["INVOKE"]"#).await;
    assert_eq!(
        (r.status, json(&r)["errorType"].clone()),
        (403, "Extension.RegistrationClosed".into())
    );

    let mut inv = invocation("req-1", "{}");
    inv.trace_id = Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1".into());
    let deadline = inv.deadline_ms;
    let api2 = api.clone();
    let invoker = tokio::spawn(async move { api2.invoke(inv).await });
    let ev = ext.read().await;
    assert_eq!(ev.status, 200);
    assert!(ev.header("lambda-extension-event-identifier").is_some());
    assert_eq!(
        json(&ev),
        serde_json::json!({"eventType":"INVOKE","deadlineMs":deadline,"requestId":"req-1","invokedFunctionArn":ARN,
            "tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1"}})
    );
    let ev = rt.read().await;
    assert_eq!(ev.header("lambda-runtime-aws-request-id"), Some("req-1"));
    rt.send("POST", &response_path("req-1"), &[], b"done").await;
    assert_eq!(rt.read().await.status, 202);
    // the caller has its answer while the extension still works
    let out = timeout(Duration::from_secs(5), invoker)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(out, InvokeOutcome::Response { ref body, .. } if &body[..] == b"done"));
    assert!(
        timeout(Duration::from_millis(200), api.wait_extensions_ready())
            .await
            .is_err(),
        "the extension has not called next"
    );
    ext.send(
        "GET",
        EXT_NEXT,
        &[("Lambda-Extension-Identifier", &id)],
        b"",
    )
    .await;
    timeout(Duration::from_secs(5), api.wait_extensions_ready())
        .await
        .unwrap();

    // SHUTDOWN to the parked extension; its next call (done) gets a 500
    assert!(api.shutdown_extensions(ShutdownReason::Spindown, 42));
    let ev = ext.read().await;
    assert_eq!(
        json(&ev),
        serde_json::json!({"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":42})
    );
    assert!(
        timeout(Duration::from_millis(100), api.wait_extensions_ready())
            .await
            .is_err()
    );
    ext.send(
        "GET",
        EXT_NEXT,
        &[("Lambda-Extension-Identifier", &id)],
        b"",
    )
    .await;
    assert_eq!(ext.read().await.status, 500);
    timeout(Duration::from_secs(5), api.wait_extensions_ready())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_extension_init_error_fails_init() {
    let (api, addr) = start(config(&["broken"])).await;
    let mut ext = Conn::open(addr).await;
    let r = register(&mut ext, "broken", r#"["INVOKE"]"#).await;
    let id = r.header("lambda-extension-identifier").unwrap().to_owned();
    ext.send(
        "POST",
        EXT_INIT_ERROR,
        &[("Lambda-Extension-Identifier", &id)],
        b"{}",
    )
    .await;
    let r = ext.read().await;
    assert_eq!(r.status, 400, "no error type: {}", r.text());
    ext.send(
        "POST",
        EXT_INIT_ERROR,
        &[
            ("Lambda-Extension-Identifier", &id),
            (
                "Lambda-Extension-Function-Error-Type",
                "Extension.ConfigInvalid",
            ),
        ],
        b"{}",
    )
    .await;
    assert_eq!(ext.read().await.status, 202);
    match timeout(Duration::from_secs(5), api.wait_init())
        .await
        .unwrap()
    {
        Ok(InitOutcome::InitError { error_type, .. }) => {
            assert_eq!(error_type, "Extension.InitError")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_internal_extension_registered_by_the_runtime_gets_invoke() {
    let (api, addr) = start(config(&[])).await;
    let mut ext = Conn::open(addr).await;
    let r = register(&mut ext, "otel-internal", r#"["INVOKE"]"#).await;
    assert_eq!(r.status, 200);
    let id = r.header("lambda-extension-identifier").unwrap().to_owned();
    assert!(!api.extensions()[0].external);
    ext.send(
        "GET",
        EXT_NEXT,
        &[("Lambda-Extension-Identifier", &id)],
        b"",
    )
    .await;
    let mut rt = Conn::open(addr).await;
    rt.send("GET", NEXT, &[], b"").await;
    assert_eq!(
        timeout(Duration::from_secs(5), api.wait_init())
            .await
            .unwrap(),
        Ok(InitOutcome::Ready)
    );
    let api2 = api.clone();
    let invoker = tokio::spawn(async move { api2.invoke(invocation("r", "{}")).await });
    assert_eq!(json(&ext.read().await)["requestId"], "r");
    rt.read().await;
    rt.send("POST", &response_path("r"), &[], b"{}").await;
    rt.read().await;
    invoker.await.unwrap().unwrap();
    // no SHUTDOWN subscribers: nothing to send
    assert!(!api.shutdown_extensions(ShutdownReason::Spindown, 0));
}

#[tokio::test]
async fn telemetry_and_logs_subscriptions_are_answered_not_supported() {
    let (_api, addr) = start(config(&[])).await;
    let mut c = Conn::open(addr).await;
    for (path, ty) in [
        ("/2022-07-01/telemetry", "Telemetry.NotSupported"),
        ("/2020-08-15/logs", "Logs.NotSupported"),
    ] {
        c.send(
            "PUT",
            path,
            &[],
            br#"{"schemaVersion":"2022-07-01","types":["platform"]}"#,
        )
        .await;
        let r = c.read().await;
        assert_eq!(
            (r.status, json(&r)["errorType"].clone()),
            (202, ty.into()),
            "{path}"
        );
    }
}
