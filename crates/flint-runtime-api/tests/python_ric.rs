//! The official Python runtime interface client (`awslambdaric`, PyPI) against our Runtime API.
//!
//! Runs `python3 -m awslambdaric <module>.handler` with a small handler written to a temp dir,
//! as a managed Python runtime would, and drives init, invocations and an init failure.
//!
//! Needs `awslambdaric` importable by the interpreter (`$FLINT_TEST_PYTHON`, default `python3`):
//! `pip install -r crates/flint-runtime-api/tests/requirements.txt` (scripts/test installs it
//! into `.venv` and puts `.venv/bin` first on `PATH`). When it is not, each test fails and says
//! why.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use flint_runtime_api::{InitOutcome, InvokeOutcome, RuntimeApi, RuntimeApiConfig};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::time::timeout;

const APP: &str = r#"
import os

def handler(event, context):
    if isinstance(event, dict) and "fail" in event:
        raise ValueError(event["fail"])
    if isinstance(event, dict) and "big" in event:
        return "x" * event["big"]
    return {
        "echo": event,
        "requestId": context.aws_request_id,
        "arn": context.invoked_function_arn,
        "remainingPositive": context.get_remaining_time_in_millis() > 0,
        "clientContext": context.client_context.custom if context.client_context else None,
        "functionName": context.function_name,
        "cognitoIdentityId": context.identity.cognito_identity_id if context.identity else None,
        "traceId": os.environ.get("_X_AMZN_TRACE_ID"),
    }
"#;

const BROKEN: &str =
    "import module_that_does_not_exist_anywhere\n\ndef handler(event, context):\n    return 1\n";

fn python() -> String {
    std::env::var("FLINT_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// `None` when awslambdaric can be imported, else the reason it cannot.
fn ric_missing() -> Option<String> {
    let py = python();
    match std::process::Command::new(&py)
        .args([
            "-c",
            "import awslambdaric, importlib.metadata as m; print(m.version('awslambdaric'))",
        ])
        .output()
    {
        Err(e) => Some(format!("cannot run {py}: {e}")),
        Ok(o) if !o.status.success() => Some(format!(
            "{py} cannot import awslambdaric: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(o) => {
            eprintln!(
                "using awslambdaric {} via {py}",
                String::from_utf8_lossy(&o.stdout).trim()
            );
            None
        }
    }
}

/// Fails the test, saying why, when awslambdaric cannot be imported.
fn require_ric() {
    if let Some(reason) = ric_missing() {
        panic!(
            "{reason}; install it with: pip install -r crates/flint-runtime-api/tests/requirements.txt"
        );
    }
}

fn spawn_ric(
    addr: std::net::SocketAddr,
    task_root: &Path,
    handler: &str,
    execution_env: Option<&str>,
) -> Child {
    let mut cmd = Command::new(python());
    cmd.args(["-m", "awslambdaric", handler])
        .current_dir(task_root)
        .envs(lambda_env(addr))
        .env("_HANDLER", handler)
        .env("LAMBDA_TASK_ROOT", task_root)
        .env("PYTHONPATH", task_root)
        .env("PYTHONUNBUFFERED", "1")
        .env_remove("AWS_EXECUTION_ENV")
        .stdin(Stdio::null())
        .stdout(child_output())
        .stderr(child_output())
        .kill_on_drop(true);
    if let Some(e) = execution_env {
        cmd.env("AWS_EXECUTION_ENV", e);
    }
    cmd.spawn().expect("spawn python awslambdaric")
}

fn task_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    std::fs::write(dir.path().join("broken.py"), BROKEN).unwrap();
    dir
}

async fn invoke(api: &RuntimeApi, inv: flint_runtime_api::Invocation) -> InvokeOutcome {
    timeout(Duration::from_secs(15), api.invoke(inv))
        .await
        .expect("invoke timed out")
        .expect("invoke failed")
}

async fn echo_and_error(execution_env: Option<&str>) {
    let dir = task_root();
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut child = spawn_ric(addr, dir.path(), "app.handler", execution_env);

    let init = timeout(Duration::from_secs(30), api.wait_init())
        .await
        .expect("awslambdaric did not call /next within 30 s");
    assert_eq!(init, Ok(InitOutcome::Ready));

    // echo with client context
    let mut inv = invocation(
        "aaaaaaaa-0000-0000-0000-000000000001",
        r#"{"hello":"world"}"#,
    );
    inv.client_context = Some(r#"{"custom":{"k":"v"},"client":{},"env":{}}"#.into());
    inv.cognito_identity =
        Some(r#"{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}"#.into());
    inv.trace_id =
        Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into());
    let out = invoke(&api, inv).await;
    let InvokeOutcome::Response { body, content_type } = &out else {
        panic!("{out:?}")
    };
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        v,
        json!({
            "echo": {"hello": "world"},
            "requestId": "aaaaaaaa-0000-0000-0000-000000000001",
            "arn": ARN,
            "remainingPositive": true,
            "clientContext": {"k": "v"},
            "functionName": "echo",
            "cognitoIdentityId": "id-1",
            "traceId": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        })
    );

    // raised exception → error body with errorMessage/errorType/stackTrace/requestId
    let out = invoke(
        &api,
        invocation("aaaaaaaa-0000-0000-0000-000000000002", r#"{"fail":"boom"}"#),
    )
    .await;
    let InvokeOutcome::FunctionError {
        error_type,
        body,
        content_type,
        xray_error_cause,
    } = &out
    else {
        panic!("{out:?}")
    };
    // awslambdaric 4.2 sends no Lambda-Runtime-Function-Error-Type on /error (only an X-Ray
    // cause header): the error type is what Lambda's rule makes of a missing one.
    assert_eq!(error_type, "Runtime.Unknown");
    assert_eq!(content_type.as_deref(), Some("application/json"));
    assert!(
        xray_error_cause
            .as_deref()
            .unwrap_or("")
            .contains("ValueError"),
        "{xray_error_cause:?}"
    );
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["errorMessage"], "boom", "{v}");
    assert_eq!(v["errorType"], "ValueError", "{v}");
    assert_eq!(
        v["requestId"], "aaaaaaaa-0000-0000-0000-000000000002",
        "{v}"
    );
    let trace = v["stackTrace"].as_array().expect("stackTrace array");
    assert!(
        trace
            .iter()
            .any(|l| l.as_str().unwrap_or("").contains("app.py")),
        "{v}"
    );

    // warm invocations, including a non-object payload
    for i in 0..10 {
        let id = format!("aaaaaaaa-0000-0000-0001-{i:012}");
        let out = invoke(&api, invocation(&id, &i.to_string())).await;
        let InvokeOutcome::Response { body, .. } = &out else {
            panic!("{out:?}")
        };
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["echo"], i);
        assert_eq!(v["requestId"], id.as_str());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        api.next_requests(),
        13,
        "one blocking /next per invocation, plus one"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "runtime must still be running"
    );
    api.shutdown();
    let _ = timeout(Duration::from_secs(5), child.wait()).await;
}

#[tokio::test]
async fn python_ric_echo_and_error() {
    require_ric();
    echo_and_error(None).await;
}

/// With `AWS_EXECUTION_ENV=AWS_Lambda_python3.12` (what Lambda sets for python3.12+),
/// awslambdaric polls `/next` from a separate thread.
#[tokio::test]
async fn python_ric_echo_and_error_thread_polling() {
    require_ric();
    echo_and_error(Some("AWS_Lambda_python3.12")).await;
}

#[tokio::test]
async fn python_ric_import_error_is_init_error() {
    require_ric();
    let dir = task_root();
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut child = spawn_ric(addr, dir.path(), "broken.handler", None);

    let init = timeout(Duration::from_secs(30), api.wait_init())
        .await
        .expect("awslambdaric did not report init within 30 s")
        .unwrap();
    let InitOutcome::InitError { error_type, body } = init else {
        panic!("expected init error, got {init:?}")
    };
    assert_eq!(error_type, "Runtime.ImportModuleError");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["errorType"], "Runtime.ImportModuleError", "{v}");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Unable to import module 'broken'"),
        "{v}"
    );
    assert!(v["stackTrace"].is_array(), "{v}");
    // the runtime exits after reporting
    let status = timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("awslambdaric did not exit after init error")
        .unwrap();
    assert!(!status.success());
    assert!(matches!(
        api.invoke(invocation("x", "{}")).await,
        Err(flint_runtime_api::RuntimeApiError::InitFailed)
    ));
}

#[tokio::test]
async fn python_ric_missing_handler_function_is_init_error() {
    require_ric();
    let dir = task_root();
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let _child = spawn_ric(addr, dir.path(), "app.nope", None);
    let init = timeout(Duration::from_secs(30), api.wait_init())
        .await
        .unwrap()
        .unwrap();
    let InitOutcome::InitError { error_type, .. } = init else {
        panic!("expected init error, got {init:?}")
    };
    assert_eq!(error_type, "Runtime.HandlerNotFound");
}

/// The runtime's own output is noise when things work (tracebacks of expected errors, its exit
/// message at shutdown); `FLINT_TEST_CHILD_OUTPUT=1` shows it.
fn child_output() -> Stdio {
    if std::env::var_os("FLINT_TEST_CHILD_OUTPUT").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}

/// Large bodies go through libcurl inside awslambdaric, which sends `Expect: 100-continue`:
/// a 5 MB response must arrive intact, a 7 MB one must end as `ResponseTooLarge` with its size
/// counted.
#[tokio::test]
async fn python_ric_large_and_oversized_responses() {
    require_ric();
    let dir = task_root();
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut child = spawn_ric(addr, dir.path(), "app.handler", None);
    timeout(Duration::from_secs(30), api.wait_init())
        .await
        .unwrap()
        .unwrap();

    let out = invoke(
        &api,
        invocation("bbbbbbbb-0000-0000-0000-000000000001", r#"{"big":5000000}"#),
    )
    .await;
    let InvokeOutcome::Response { body, .. } = &out else {
        panic!("{out:?}")
    };
    assert_eq!(body.len(), 5_000_002, "JSON string: quotes + 5,000,000 x");
    assert!(body[1..body.len() - 1].iter().all(|&b| b == b'x'));

    let out = invoke(
        &api,
        invocation("bbbbbbbb-0000-0000-0000-000000000002", r#"{"big":7000000}"#),
    )
    .await;
    match &out {
        InvokeOutcome::ResponseTooLarge { size, limit } => {
            assert_eq!((*size, *limit), (7_000_002, 6_291_556));
        }
        other => panic!("{other:?}"),
    }

    // awslambdaric 4.2.2 does not survive the 413: post_invocation_result raises
    // "RuntimeError: Failed to post invocation response" and the process exits, so the invoke
    // layer must expect an exit (and a re-init) after ResponseTooLarge.
    let status = timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("awslambdaric 4.2.2 is expected to exit after a 413")
        .unwrap();
    assert!(!status.success());
}
