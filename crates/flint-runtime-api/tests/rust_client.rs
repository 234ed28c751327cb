//! The official Rust runtime client (`lambda_runtime` crate) against our Runtime API.
//!
//! `examples/rust_echo_handler.rs` is built by `cargo test` (or on demand below) and run as a
//! child process with the environment a Lambda execution environment provides. The test drives
//! init and several invocations through [`RuntimeApi`] and checks the outcomes.
//!
//! About "release-like" behaviour: `lambda_runtime` tolerates a 204 from `/next` only in debug
//! builds (where it would silently poll again). This test runs the debug build, so it asserts
//! the property directly instead: after N invocations the server must have seen exactly N + 1
//! `GET /next` requests — the client only ever re-polls when `/next` returns early — and an idle
//! runtime must not re-poll at all.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use flint_runtime_api::{InitOutcome, Invocation, InvokeOutcome, RuntimeApiConfig};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::time::timeout;

const EXAMPLE: &str = "rust_echo_handler";

/// Path of the compiled example, (re)built through cargo so it is never stale: `cargo test`
/// builds examples, but `cargo test --test rust_client` alone does not.
fn handler_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            // <target>/<profile>/deps/rust_client-<hash> → <target>/<profile>/examples/<name>
            let profile_dir = exe.parent().unwrap().parent().unwrap();
            let mut cmd = std::process::Command::new(env!("CARGO"));
            cmd.args([
                "build",
                "-q",
                "-p",
                "flint-runtime-api",
                "--example",
                EXAMPLE,
            ])
            .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap());
            if profile_dir.file_name() == Some("release".as_ref()) {
                cmd.arg("--release");
            }
            let status = cmd
                .status()
                .expect("run cargo to build the handler example");
            assert!(status.success(), "building {EXAMPLE} failed");
            profile_dir.join("examples").join(EXAMPLE)
        })
        .clone()
}

fn spawn_handler(addr: std::net::SocketAddr) -> Child {
    Command::new(handler_binary())
        .envs(lambda_env(addr))
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(child_output())
        .stderr(child_output())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn rust handler")
}

async fn invoke(api: &flint_runtime_api::RuntimeApi, inv: Invocation) -> InvokeOutcome {
    timeout(Duration::from_secs(10), api.invoke(inv))
        .await
        .expect("invoke timed out")
        .expect("invoke failed")
}

fn json_body(outcome: &InvokeOutcome) -> Value {
    match outcome {
        InvokeOutcome::Response { body, .. } => serde_json::from_slice(body).unwrap(),
        InvokeOutcome::FunctionError { body, .. } => serde_json::from_slice(body).unwrap(),
        other => panic!("unexpected outcome {other:?}"),
    }
}

#[tokio::test]
async fn official_rust_client_init_echo_error_stream() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut child = spawn_handler(addr);

    let init = timeout(Duration::from_secs(30), api.wait_init())
        .await
        .expect("rust runtime did not call /next within 30 s");
    assert_eq!(init, Ok(InitOutcome::Ready));

    // idle runtime: blocked in /next, not polling
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(api.next_requests(), 1);

    // 1. echo, with context headers
    let mut inv = invocation(
        "11111111-1111-1111-1111-111111111111",
        r#"{"hello":"world"}"#,
    );
    inv.client_context = Some(r#"{"custom":{"k":"v"}}"#.into());
    let deadline = inv.deadline_ms;
    let out = invoke(&api, inv).await;
    let InvokeOutcome::Response { content_type, .. } = &out else {
        panic!("{out:?}")
    };
    assert_eq!(
        content_type.as_deref(),
        None,
        "lambda_runtime sends no content type"
    );
    assert_eq!(
        json_body(&out),
        json!({
            "echo": {"hello": "world"},
            "requestId": "11111111-1111-1111-1111-111111111111",
            "deadlineMs": deadline,
            "arn": ARN,
            "clientContext": {"k": "v"},
        })
    );

    // 2. function error
    let out = invoke(
        &api,
        invocation(
            "22222222-2222-2222-2222-222222222222",
            r#"{"fail":"it broke"}"#,
        ),
    )
    .await;
    let InvokeOutcome::FunctionError { error_type, .. } = &out else {
        panic!("{out:?}")
    };
    assert_eq!(
        error_type, "unhandled",
        "the Rust client's error-type header, kept as sent"
    );
    assert_eq!(
        json_body(&out),
        json!({"errorType": "EchoError", "errorMessage": "it broke"})
    );

    // 3. several warm echoes back to back
    for i in 0..20 {
        let id = format!("33333333-3333-3333-3333-{i:012}");
        let out = invoke(&api, invocation(&id, &format!(r#"{{"n":{i}}}"#))).await;
        let v = json_body(&out);
        assert_eq!(v["echo"]["n"], i);
        assert_eq!(v["requestId"], id.as_str());
    }

    // 4. an event that does not deserialize (not JSON) → the client reports an error itself
    let mut bad = invocation("44444444-4444-4444-4444-444444444444", "not json");
    bad.content_type = Some("text/plain".into());
    let out = invoke(&api, bad).await;
    let InvokeOutcome::FunctionError { body, .. } = &out else {
        panic!("{out:?}")
    };
    let v: Value = serde_json::from_slice(body).unwrap();
    assert!(v["errorType"].as_str().is_some(), "{v}");

    // 5. response streaming
    let out = invoke(
        &api,
        invocation(
            "55555555-5555-5555-5555-555555555555",
            r#"{"stream":["ab","cd","ef"]}"#,
        ),
    )
    .await;
    let InvokeOutcome::Streaming(s) = out else {
        panic!("{out:?}")
    };
    assert_eq!(
        s.content_type.as_deref(),
        Some("application/vnd.awslambda.http-integration-response")
    );
    let body = timeout(Duration::from_secs(10), s.body.collect())
        .await
        .unwrap()
        .unwrap();
    // HTTP-integration framing: JSON prelude, 8 NUL bytes, then the chunks
    let sep = body
        .windows(8)
        .position(|w| w == [0u8; 8])
        .expect("prelude delimiter");
    let prelude: Value = serde_json::from_slice(&body[..sep]).unwrap();
    assert_eq!(prelude["statusCode"], 200, "{prelude}");
    assert_eq!(&body[sep + 8..], b"abcdef");

    // 5b. mid-stream error. lambda_runtime 1.5 does NOT send HTTP trailers: it writes the
    // "trailer" lines into the body as data (`Lambda-Runtime-Function-Error-Type: ...\r\n
    // Lambda-Runtime-Function-Error-Body: <base64>\r\n`). We pass the body through as sent
    // (what AWS's data path would do too), so the error text ends up in the stream.
    let out = invoke(
        &api,
        invocation(
            "55555555-5555-5555-5555-555555555556",
            r#"{"stream":["ok"],"streamError":"midway"}"#,
        ),
    )
    .await;
    let InvokeOutcome::Streaming(s) = out else {
        panic!("{out:?}")
    };
    let body = timeout(Duration::from_secs(10), s.body.collect())
        .await
        .unwrap()
        .expect("no trailer error: the client sent none");
    let sep = body.windows(8).position(|w| w == [0u8; 8]).unwrap();
    let text = String::from_utf8_lossy(&body[sep + 8..]).into_owned();
    assert!(
        text.starts_with("okLambda-Runtime-Function-Error-Type: Runtime.StreamError\r\n"),
        "{text:?}"
    );

    // 6. after the stream, the runtime is back for more
    let out = invoke(
        &api,
        invocation("66666666-6666-6666-6666-666666666666", r#"{"last":true}"#),
    )
    .await;
    assert_eq!(json_body(&out)["echo"]["last"], true);

    // 26 invocations → exactly 27 /next requests: /next never returned early
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(api.next_requests(), 27);
    assert!(
        child.try_wait().unwrap().is_none(),
        "runtime must still be running"
    );

    // shutdown: the parked /next gets 500 and the official client exits
    api.shutdown();
    let status = timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("rust runtime did not exit after shutdown")
        .unwrap();
    assert!(!status.success(), "exit status {status}");
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

/// A 5 MB response arrives intact; a 7 MB one ends as `ResponseTooLarge` (the runtime got 413).
#[tokio::test]
async fn official_rust_client_large_and_oversized_responses() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut child = spawn_handler(addr);
    timeout(Duration::from_secs(30), api.wait_init())
        .await
        .unwrap()
        .unwrap();

    let out = invoke(
        &api,
        invocation("77777777-0000-0000-0000-000000000001", r#"{"big":5000000}"#),
    )
    .await;
    let InvokeOutcome::Response { body, .. } = &out else {
        panic!("{out:?}")
    };
    assert_eq!(body.len(), 5_000_002);

    let out = invoke(
        &api,
        invocation("77777777-0000-0000-0000-000000000002", r#"{"big":7000000}"#),
    )
    .await;
    assert!(
        matches!(
            out,
            InvokeOutcome::ResponseTooLarge {
                size: 7_000_002,
                limit: 6_291_556
            }
        ),
        "{out:?}"
    );

    // lambda_runtime logs the 413 and carries on: the next invocation works.
    let out = invoke(
        &api,
        invocation("77777777-0000-0000-0000-000000000003", r#"{"after":"413"}"#),
    )
    .await;
    assert_eq!(json_body(&out)["echo"]["after"], "413");
    assert!(child.try_wait().unwrap().is_none());
}
