//! Black-box tests of the HTTP surface with a raw HTTP/1.1 client: exact statuses, headers and
//! bodies, blocking `/next`, keep-alive, limits, streaming, cancel-safety, shutdown.

mod common;

use std::time::Duration;

use common::*;
use flint_runtime_api::{
    InitOutcome, InvokeOutcome, Phase, RuntimeApiConfig, RuntimeApiError, StreamError,
};
use tokio::time::timeout;

const OK_BODY: &str = r#"{"status":"OK"}"#;
const INVALID_ID: &str = r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#;

fn small(max: usize) -> RuntimeApiConfig {
    RuntimeApiConfig {
        max_response_bytes: max,
        ..RuntimeApiConfig::default()
    }
}

#[tokio::test]
async fn next_blocks_until_invoke_then_full_cycle_on_one_connection() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut rt = Conn::open(addr).await;
    rt.send("GET", NEXT, &[], b"").await;

    // init completes at the first /next
    assert_eq!(
        timeout(Duration::from_secs(5), api.wait_init())
            .await
            .unwrap(),
        Ok(InitOutcome::Ready)
    );
    // /next blocks: no answer (and certainly no 204) while there is no event
    assert!(
        timeout(Duration::from_millis(300), rt.read())
            .await
            .is_err()
    );
    assert_eq!(api.phase(), Phase::Ready);

    let mut inv = invocation("req-1", r#"{"k":"v"}"#);
    inv.trace_id =
        Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into());
    inv.client_context = Some(r#"{"custom":{"a":"b"}}"#.into());
    let deadline = inv.deadline_ms;
    let api2 = api.clone();
    let invoker = tokio::spawn(async move { api2.invoke(inv).await });

    let ev = rt.read().await;
    assert_eq!(ev.status, 200);
    assert_eq!(ev.text(), r#"{"k":"v"}"#);
    assert_eq!(ev.header("lambda-runtime-aws-request-id"), Some("req-1"));
    assert_eq!(
        ev.header("lambda-runtime-deadline-ms"),
        Some(deadline.to_string().as_str())
    );
    assert_eq!(ev.header("lambda-runtime-invoked-function-arn"), Some(ARN));
    assert_eq!(ev.header("content-type"), Some("application/json"));
    assert_eq!(
        ev.header("lambda-runtime-client-context"),
        Some(r#"{"custom":{"a":"b"}}"#)
    );
    assert!(
        ev.header("lambda-runtime-trace-id")
            .unwrap()
            .starts_with("Root=1-")
    );
    assert_eq!(ev.header("lambda-runtime-cognito-identity"), None);
    assert_eq!(api.phase().name(), "Running");

    // same connection (keep-alive)
    let r = rt
        .request(
            "POST",
            &response_path("req-1"),
            &[("Content-Type", "text/plain")],
            b"pong",
        )
        .await;
    assert_eq!((r.status, r.text()), (202, OK_BODY));
    match invoker.await.unwrap().unwrap() {
        InvokeOutcome::Response { body, content_type } => {
            assert_eq!(body, "pong");
            assert_eq!(content_type.as_deref(), Some("text/plain"));
        }
        other => panic!("{other:?}"),
    }
    // answering again: already answered → 400
    let r = rt
        .request("POST", &response_path("req-1"), &[], b"again")
        .await;
    assert_eq!((r.status, r.text()), (400, INVALID_ID));

    // warm path: the next event is submitted before the runtime calls /next again
    let api2 = api.clone();
    let invoker = tokio::spawn(async move { api2.invoke(invocation("req-2", "2")).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ev = rt.request("GET", NEXT, &[], b"").await;
    assert_eq!(ev.header("lambda-runtime-aws-request-id"), Some("req-2"));
    let r = rt
        .request(
            "POST",
            &error_path("req-2"),
            &[("Lambda-Runtime-Function-Error-Type", "Unhandled")],
            br#"{"errorMessage":"x","errorType":"E"}"#,
        )
        .await;
    assert_eq!((r.status, r.text()), (202, OK_BODY));
    match invoker.await.unwrap().unwrap() {
        InvokeOutcome::FunctionError {
            error_type, body, ..
        } => {
            assert_eq!(error_type, "Unhandled");
            assert_eq!(body, r#"{"errorMessage":"x","errorType":"E"}"#);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(api.next_requests(), 2);
}

#[tokio::test]
async fn wrong_id_and_next_twice() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut rt = Conn::open(addr).await;
    rt.send("GET", NEXT, &[], b"").await;
    let api2 = api.clone();
    let invoker = tokio::spawn(async move { api2.invoke(invocation("a", "{}")).await });
    assert_eq!(rt.read().await.status, 200);

    let r = rt.request("POST", &response_path("nope"), &[], b"x").await;
    assert_eq!((r.status, r.text()), (400, INVALID_ID));
    let r = rt.request("POST", &error_path("nope"), &[], b"x").await;
    assert_eq!((r.status, r.text()), (400, INVALID_ID));

    let r = rt.request("GET", NEXT, &[], b"").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        r#"{"errorMessage":"State transition from Running to Ready failed for runtime. Error: State transition is not allowed","errorType":"InvalidStateTransition"}"#
    );
    assert_eq!(r.header("content-type"), Some("application/json"));

    // still answerable
    let r = rt.request("POST", &response_path("a"), &[], b"ok").await;
    assert_eq!(r.status, 202);
    assert!(matches!(
        invoker.await.unwrap(),
        Ok(InvokeOutcome::Response { .. })
    ));
}

#[tokio::test]
async fn response_before_init_is_403_and_unknown_paths_404() {
    let (_api, addr) = start(RuntimeApiConfig::default()).await;
    let mut rt = Conn::open(addr).await;
    let r = rt.request("POST", &response_path("a"), &[], b"x").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        r#"{"errorMessage":"State transition from Started to InvocationResponse failed for runtime. Error: State transition is not allowed","errorType":"InvalidStateTransition"}"#
    );
    let r = rt
        .request("GET", "/2018-06-01/runtime/invocation/nextx", &[], b"")
        .await;
    assert_eq!(r.status, 404);
    let r = rt
        .request("GET", "/2020-01-01/extension/nope", &[], b"")
        .await;
    assert_eq!(r.status, 404);
    let r = rt.request("POST", NEXT, &[], b"").await;
    assert_eq!(r.status, 405);
    let r = rt
        .request("GET", "/2018-06-01/runtime/restore/next", &[], b"")
        .await;
    assert_eq!(r.status, 403);
    // connection still usable after all those
    let r = rt.request("GET", "/2018-06-01/ping", &[], b"").await;
    assert_eq!((r.status, r.text()), (200, "pong"));
}

#[tokio::test]
async fn init_error_then_everything_is_refused() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut rt = Conn::open(addr).await;
    // an invocation submitted during init fails when init fails
    let api2 = api.clone();
    let invoker = tokio::spawn(async move { api2.invoke(invocation("a", "{}")).await });
    tokio::time::sleep(Duration::from_millis(20)).await;

    let body = br#"{"errorMessage":"Unable to import module 'app'","errorType":"Runtime.ImportModuleError","requestId":"","stackTrace":[]}"#;
    let r = rt
        .request(
            "POST",
            INIT_ERROR,
            &[(
                "Lambda-Runtime-Function-Error-Type",
                "Runtime.ImportModuleError",
            )],
            body,
        )
        .await;
    assert_eq!((r.status, r.text()), (202, OK_BODY));
    assert_eq!(
        api.wait_init().await.unwrap(),
        InitOutcome::InitError {
            error_type: "Runtime.ImportModuleError".into(),
            body: bytes::Bytes::from_static(body),
        }
    );
    assert_eq!(
        invoker.await.unwrap().unwrap_err(),
        RuntimeApiError::InitFailed
    );

    let r = rt.request("POST", INIT_ERROR, &[], b"{}").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        r#"{"errorMessage":"State transition from InitError to InitError failed for runtime. Error: State transition is not allowed","errorType":"InvalidStateTransition"}"#
    );
    let r = rt.request("GET", NEXT, &[], b"").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        api.invoke(invocation("b", "{}")).await.unwrap_err(),
        RuntimeApiError::InitFailed
    );

    // reset: a new runtime process may init again
    api.reset();
    let r = rt.request("POST", INIT_ERROR, &[], b"{}").await;
    assert_eq!(r.status, 202);
}

#[tokio::test]
async fn init_error_after_init_is_403() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut rt = Conn::open(addr).await;
    rt.send("GET", NEXT, &[], b"").await;
    api.wait_init().await.unwrap();
    let mut other = Conn::open(addr).await;
    let r = other.request("POST", INIT_ERROR, &[], b"{}").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        r#"{"errorMessage":"State transition from Ready to InitError failed for runtime. Error: State transition is not allowed","errorType":"InvalidStateTransition"}"#
    );
}

async fn deliver(
    api: &flint_runtime_api::RuntimeApi,
    rt: &mut Conn,
    id: &str,
) -> tokio::task::JoinHandle<Result<InvokeOutcome, RuntimeApiError>> {
    rt.send("GET", NEXT, &[], b"").await;
    let api2 = api.clone();
    let id2 = id.to_owned();
    let h = tokio::spawn(async move { api2.invoke(invocation(&id2, "{}")).await });
    assert_eq!(
        rt.read().await.header("lambda-runtime-aws-request-id"),
        Some(id)
    );
    h
}

#[tokio::test]
async fn oversized_response_is_413_and_counted() {
    let (api, addr) = start(small(1000)).await;
    let mut rt = Conn::open(addr).await;

    // exactly the limit is fine
    let h = deliver(&api, &mut rt, "a").await;
    let r = rt
        .request("POST", &response_path("a"), &[], &[b'x'; 1000])
        .await;
    assert_eq!(r.status, 202);
    assert!(
        matches!(h.await.unwrap(), Ok(InvokeOutcome::Response { body, .. }) if body.len() == 1000)
    );

    // one byte more (Content-Length)
    let h = deliver(&api, &mut rt, "b").await;
    let r = rt
        .request("POST", &response_path("b"), &[], &[b'x'; 1001])
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(
        r.text(),
        r#"{"errorMessage":"Exceeded maximum allowed payload size (1000 bytes).","errorType":"RequestEntityTooLarge"}"#
    );
    match h.await.unwrap().unwrap() {
        InvokeOutcome::ResponseTooLarge { size, limit } => assert_eq!((size, limit), (1001, 1000)),
        other => panic!("{other:?}"),
    }

    // chunked, way over: still drained and counted, connection stays usable
    let h = deliver(&api, &mut rt, "c").await;
    let chunk = [b'y'; 700];
    rt.send_chunked(&response_path("c"), &[], &[&chunk, &chunk, &chunk], &[])
        .await;
    assert_eq!(rt.read().await.status, 413);
    let outcome = h.await.unwrap().unwrap();
    assert!(matches!(
        outcome,
        InvokeOutcome::ResponseTooLarge {
            size: 2100,
            limit: 1000
        }
    ));
    let (ty, msg) = outcome.platform_error().unwrap();
    assert_eq!(ty, "Function.ResponseSizeTooLarge");
    assert_eq!(
        msg,
        "Response payload size (2100 bytes) exceeded maximum allowed payload size (1000 bytes)."
    );

    let h = deliver(&api, &mut rt, "d").await;
    assert_eq!(
        rt.request("POST", &response_path("d"), &[], b"fine")
            .await
            .status,
        202
    );
    assert!(matches!(
        h.await.unwrap(),
        Ok(InvokeOutcome::Response { .. })
    ));
}

#[tokio::test]
async fn invalid_response_mode_fails_the_invocation() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut rt = Conn::open(addr).await;
    let h = deliver(&api, &mut rt, "a").await;
    let r = rt
        .request(
            "POST",
            &response_path("a"),
            &[("Lambda-Runtime-Function-Response-Mode", "buffered")],
            b"x",
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        r#"{"errorMessage":"Invalid function response mode","errorType":"InvalidFunctionResponseMode"}"#
    );
    let outcome = h.await.unwrap().unwrap();
    assert!(matches!(outcome, InvokeOutcome::InvalidResponseMode));
    assert_eq!(
        outcome.platform_error().unwrap().0,
        "Runtime.InvalidResponseModeHeader"
    );
    // the invocation is over: the runtime may take the next one
    let h = deliver(&api, &mut rt, "b").await;
    assert_eq!(
        rt.request("POST", &response_path("b"), &[], b"y")
            .await
            .status,
        202
    );
    h.await.unwrap().unwrap();
}

#[tokio::test]
async fn streaming_response_with_trailer_error() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut rt = Conn::open(addr).await;

    // clean stream
    let h = deliver(&api, &mut rt, "a").await;
    rt.send_chunked(
        &response_path("a"),
        &[
            ("Lambda-Runtime-Function-Response-Mode", "streaming"),
            ("Content-Type", "application/octet-stream"),
            (
                "Trailer",
                "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
            ),
        ],
        &[b"hello ", b"world"],
        &[],
    )
    .await;
    let InvokeOutcome::Streaming(s) = h.await.unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(s.content_type.as_deref(), Some("application/octet-stream"));
    assert_eq!(s.body.collect().await.unwrap(), "hello world");
    assert_eq!((rt.read().await.status), 202);

    // mid-stream error via trailers
    let h = deliver(&api, &mut rt, "b").await;
    rt.send_chunked(
        &response_path("b"),
        &[
            ("Lambda-Runtime-Function-Response-Mode", "streaming"),
            (
                "Trailer",
                "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
            ),
        ],
        &[b"part"],
        &[
            ("Lambda-Runtime-Function-Error-Type", "Runtime.StreamError"),
            (
                "Lambda-Runtime-Function-Error-Body",
                "eyJlcnJvck1lc3NhZ2UiOiJib29tIn0=",
            ),
        ],
    )
    .await;
    let InvokeOutcome::Streaming(mut s) = h.await.unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(s.body.next_chunk().await.unwrap().unwrap(), "part");
    assert_eq!(
        s.body.next_chunk().await.unwrap(),
        Err(StreamError::Function {
            error_type: "Runtime.StreamError".into(),
            body: bytes::Bytes::from_static(br#"{"errorMessage":"boom"}"#),
        })
    );
    assert!(s.body.next_chunk().await.is_none());
    assert_eq!(rt.read().await.status, 202);
}

#[tokio::test]
async fn invoke_is_cancel_safe_before_delivery() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    // runtime still initialising: the event is pending; the invoker gives up
    let r = timeout(
        Duration::from_millis(50),
        api.invoke(invocation("gone", "{}")),
    )
    .await;
    assert!(r.is_err());
    // the withdrawn event is not delivered; a new one is
    let mut rt = Conn::open(addr).await;
    rt.send("GET", NEXT, &[], b"").await;
    api.wait_init().await.unwrap();
    let api2 = api.clone();
    let h = tokio::spawn(async move { api2.invoke(invocation("kept", "{}")).await });
    assert_eq!(
        rt.read().await.header("lambda-runtime-aws-request-id"),
        Some("kept")
    );
    rt.request("POST", &response_path("kept"), &[], b"1").await;
    h.await.unwrap().unwrap();
}

#[tokio::test]
async fn cancel_after_delivery_keeps_env_busy_until_answer() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut rt = Conn::open(addr).await;
    rt.send("GET", NEXT, &[], b"").await;
    api.wait_init().await.unwrap();
    let r = timeout(
        Duration::from_millis(100),
        api.invoke(invocation("slow", "{}")),
    )
    .await;
    assert!(r.is_err());
    assert_eq!(
        rt.read().await.header("lambda-runtime-aws-request-id"),
        Some("slow")
    );
    assert!(matches!(
        api.invoke(invocation("x", "{}")).await,
        Err(RuntimeApiError::Busy { request_id }) if request_id == "slow"
    ));
    // the late answer is accepted and dropped
    assert_eq!(
        rt.request("POST", &response_path("slow"), &[], b"late")
            .await
            .status,
        202
    );
    let h = deliver(&api, &mut rt, "next").await;
    rt.request("POST", &response_path("next"), &[], b"1").await;
    h.await.unwrap().unwrap();
}

#[tokio::test]
async fn dead_parked_next_does_not_lose_the_event() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    {
        let mut rt = Conn::open(addr).await;
        rt.send("GET", NEXT, &[], b"").await;
        api.wait_init().await.unwrap();
    } // connection closed while parked
    tokio::time::sleep(Duration::from_millis(50)).await;
    let api2 = api.clone();
    let h = tokio::spawn(async move { api2.invoke(invocation("a", "{}")).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut rt = Conn::open(addr).await;
    let ev = rt.request("GET", NEXT, &[], b"").await;
    assert_eq!(ev.header("lambda-runtime-aws-request-id"), Some("a"));
    rt.request("POST", &response_path("a"), &[], b"1").await;
    h.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_releases_everyone() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut rt = Conn::open(addr).await;
    rt.send("GET", NEXT, &[], b"").await;
    api.wait_init().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    api.shutdown();
    let r = rt.read().await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        r#"{"errorMessage":"Internal Server Error","errorType":"InternalServerError"}"#
    );
    assert_eq!(
        api.invoke(invocation("a", "{}")).await.unwrap_err(),
        RuntimeApiError::ShutDown
    );
    // the listener is closed soon after
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_fails_inflight_invoke_and_wait_init() {
    let (api, _addr) = start(RuntimeApiConfig::default()).await;
    let api2 = api.clone();
    let w = tokio::spawn(async move { api2.wait_init().await });
    let api3 = api.clone();
    let i = tokio::spawn(async move { api3.invoke(invocation("a", "{}")).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    api.shutdown();
    assert_eq!(w.await.unwrap(), Err(RuntimeApiError::ShutDown));
    assert_eq!(i.await.unwrap().unwrap_err(), RuntimeApiError::ShutDown);
}

#[tokio::test]
async fn invalid_invocation_is_reported_to_the_invoker() {
    let (api, _addr) = start(RuntimeApiConfig::default()).await;
    let mut inv = invocation("a", "{}");
    inv.client_context = Some("{\n \"pretty\": true\n}".into());
    assert_eq!(
        api.invoke(inv).await.unwrap_err(),
        RuntimeApiError::InvalidInvocation {
            field: "client_context"
        }
    );
    // and nothing was queued
    assert_eq!(api.phase(), Phase::Started);
    let h = timeout(Duration::from_millis(20), api.invoke(invocation("b", "{}"))).await;
    assert!(h.is_err(), "b is accepted (pending), not Busy");
}

#[tokio::test]
async fn serves_a_handed_over_std_listener() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let api = flint_runtime_api::RuntimeApi::default();
    let server = api.spawn_std(listener).unwrap();
    let mut rt = Conn::open(addr).await;
    rt.send("GET", NEXT, &[], b"").await;
    assert_eq!(api.wait_init().await, Ok(InitOutcome::Ready));
    api.shutdown();
    assert_eq!(rt.read().await.status, 500);
    timeout(Duration::from_secs(2), server)
        .await
        .expect("serve returns after shutdown")
        .unwrap();
}

#[tokio::test]
async fn newer_next_supersedes_a_parked_one() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut old = Conn::open(addr).await;
    old.send("GET", NEXT, &[], b"").await;
    api.wait_init().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut new = Conn::open(addr).await;
    new.send("GET", NEXT, &[], b"").await;
    let r = old.read().await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        r#"{"errorMessage":"State transition from Ready to Ready failed for runtime. Error: superseded by a newer /next request","errorType":"InvalidStateTransition"}"#
    );
    let api2 = api.clone();
    let h = tokio::spawn(async move { api2.invoke(invocation("a", "{}")).await });
    assert_eq!(
        new.read().await.header("lambda-runtime-aws-request-id"),
        Some("a")
    );
    new.request("POST", &response_path("a"), &[], b"1").await;
    h.await.unwrap().unwrap();
}

#[tokio::test]
async fn oversized_init_error_is_413_but_still_an_init_error() {
    let (api, addr) = start(small(100)).await;
    let mut rt = Conn::open(addr).await;
    let r = rt
        .request(
            "POST",
            INIT_ERROR,
            &[("Lambda-Runtime-Function-Error-Type", "Runtime.Big")],
            &[b'e'; 101],
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(
        api.wait_init().await.unwrap(),
        InitOutcome::InitError {
            error_type: "Runtime.Big".into(),
            body: bytes::Bytes::new()
        }
    );
}

/// Many invocations with invokers that give up at random moments (before delivery, while the
/// runtime works, while it answers) and a runtime that answers after random delays: nothing
/// deadlocks, nothing is delivered twice, every completed invoke gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_random_cancellation() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let runtime = tokio::spawn(async move {
        let mut rt = Conn::open(addr).await;
        let mut seen = std::collections::HashSet::new();
        let mut n: u64 = 0;
        loop {
            let ev = rt.request("GET", NEXT, &[], b"").await;
            if ev.status != 200 {
                return seen.len();
            }
            let id = ev
                .header("lambda-runtime-aws-request-id")
                .unwrap()
                .to_owned();
            assert!(seen.insert(id.clone()), "{id} delivered twice");
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            tokio::time::sleep(Duration::from_micros((n >> 33) % 1500)).await;
            let r = rt
                .request("POST", &response_path(&id), &[], id.as_bytes())
                .await;
            assert_eq!(r.status, 202, "{}", r.text());
        }
    });
    api.wait_init().await.unwrap();
    let (mut completed, mut cancelled, mut busy) = (0, 0, 0);
    let mut x: u64 = 42;
    for i in 0..400 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let budget = Duration::from_micros((x >> 33) % 2000);
        let id = format!("req-{i}");
        match timeout(budget, api.invoke(invocation(&id, "{}"))).await {
            Ok(Ok(InvokeOutcome::Response { body, .. })) => {
                assert_eq!(body, id.as_bytes());
                completed += 1;
            }
            Ok(Err(RuntimeApiError::Busy { .. })) => {
                busy += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok(other) => panic!("{other:?}"),
            Err(_) => cancelled += 1,
        }
    }
    // drain: wait until the environment is free, then one last invoke must complete
    let last = loop {
        match api.invoke(invocation("last", "{}")).await {
            Err(RuntimeApiError::Busy { .. }) => tokio::time::sleep(Duration::from_millis(5)).await,
            other => break other,
        }
    };
    assert!(matches!(last, Ok(InvokeOutcome::Response { ref body, .. }) if body == "last"));
    api.shutdown();
    let delivered = runtime.await.unwrap();
    eprintln!("completed={completed} cancelled={cancelled} busy={busy} delivered={delivered}");
    assert!(completed > 0 && cancelled > 0);
    assert!(
        delivered > completed,
        "the last invocation is delivered too"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_in_the_backlog() {
    let (_api, addr) = start(RuntimeApiConfig {
        max_connections: 2,
        ..RuntimeApiConfig::default()
    })
    .await;
    let mut a = Conn::open(addr).await;
    let mut b = Conn::open(addr).await;
    assert_eq!(
        a.request("GET", "/2018-06-01/ping", &[], b"").await.status,
        200
    );
    assert_eq!(
        b.request("GET", "/2018-06-01/ping", &[], b"").await.status,
        200
    );
    let mut c = Conn::open(addr).await; // handshake completes in the kernel backlog
    c.send("GET", "/2018-06-01/ping", &[], b"").await;
    assert!(timeout(Duration::from_millis(200), c.read()).await.is_err());
    drop(a);
    let r = timeout(Duration::from_secs(2), c.read()).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        b.request("GET", "/2018-06-01/ping", &[], b"").await.status,
        200
    );
}

/// awslambdaric sends X-Ray error causes up to 1 MiB as a header.
#[tokio::test]
async fn large_xray_cause_header_is_accepted() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut rt = Conn::open(addr).await;
    let h = deliver(&api, &mut rt, "a").await;
    let cause = format!(r#"{{"paths":["{}"]}}"#, "p".repeat(900 * 1024));
    let r = rt
        .request(
            "POST",
            &error_path("a"),
            &[("Lambda-Runtime-Function-XRay-Error-Cause", &cause)],
            b"{}",
        )
        .await;
    assert_eq!(r.status, 202);
    match h.await.unwrap().unwrap() {
        InvokeOutcome::FunctionError {
            xray_error_cause, ..
        } => assert_eq!(xray_error_cause.unwrap().len(), cause.len()),
        other => panic!("{other:?}"),
    }
}

/// Timeout/crash recovery: the invoke layer kills the runtime and resets; the in-flight invoke
/// fails with `Reset`, init is pending again, and a new runtime process starts from scratch.
#[tokio::test]
async fn reset_replaces_the_runtime() {
    let (api, addr) = start(RuntimeApiConfig::default()).await;
    let mut old = Conn::open(addr).await;
    let h = deliver(&api, &mut old, "stuck").await;
    api.wait_init().await.unwrap();
    drop(old); // the old process was killed
    api.reset();
    assert_eq!(h.await.unwrap().unwrap_err(), RuntimeApiError::Reset);
    assert_eq!(api.phase(), Phase::Started);
    assert!(
        timeout(Duration::from_millis(50), api.wait_init())
            .await
            .is_err(),
        "init is pending again"
    );
    let mut new = Conn::open(addr).await;
    // a late answer for the old invocation is refused (the new runtime is still initialising)
    let r = new
        .request("POST", &response_path("stuck"), &[], b"x")
        .await;
    assert_eq!(r.status, 403);
    let h = deliver(&api, &mut new, "fresh").await;
    assert_eq!(api.wait_init().await, Ok(InitOutcome::Ready));
    new.request("POST", &response_path("fresh"), &[], b"1")
        .await;
    assert!(matches!(
        h.await.unwrap(),
        Ok(InvokeOutcome::Response { .. })
    ));
}
