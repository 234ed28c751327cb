//! Crash test of the asynchronous-invocation queue: thousands of `Event`
//! invocations, `kill -9` of the server while they are being accepted and
//! run, a restart on the same data directory, and a count that every event
//! the server accepted (answered 202) ran at least once.

mod common;

use aws_sdk_lambda::types::Runtime;
use common::{Server, create_request, describe, zip_of};
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const EVENTS: usize = 3000;
const KILL_AFTER: usize = 1500;

const COUNTER: &str = r#"
def handler(event, context):
    print("RAN", event["n"])
    return {}
"#;

async fn stats(endpoint: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{endpoint}/_flint/events"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn kill_9_loses_no_accepted_event() {
    let data = tempfile::tempdir().unwrap();
    let args = ["--async-workers", "4"];
    let mut server = Server::start_in_with(data.path(), &args);
    let client = server.client_no_retry();
    let zip = zip_of(&[("index.py", COUNTER.as_bytes())]);
    create_request(&client, "counter", &zip)
        .runtime(Runtime::Python311)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create: {}", describe(&e)));

    let accepted = Arc::new(Mutex::new(BTreeSet::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let url = format!(
        "{}/2015-03-31/functions/counter/invocations",
        server.endpoint
    );
    let http = reqwest::Client::new();
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (accepted, next, url, http) =
            (accepted.clone(), next.clone(), url.clone(), http.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= EVENTS {
                    return;
                }
                let sent = http
                    .post(&url)
                    .header("X-Amz-Invocation-Type", "Event")
                    .body(format!("{{\"n\":{n}}}"))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 202 => {
                        accepted.lock().insert(n);
                    }
                    Ok(r) => panic!("event {n}: unexpected status {}", r.status()),
                    // The server is gone: this event was never accepted.
                    Err(_) => return,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while accepted.lock().len() < KILL_AFTER {
        assert!(Instant::now() < deadline, "enqueueing is too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Kill while events are also being run, not only accepted.
    let before = loop {
        let s = stats(&server.endpoint).await;
        if s["Finished"].as_u64().unwrap_or(0) >= 100 {
            break s;
        }
        assert!(Instant::now() < deadline, "no event ran: {s}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    server.kill9();
    for s in senders {
        s.await.unwrap();
    }
    let accepted = accepted.lock().clone();
    eprintln!(
        "accepted {} events before kill -9; queue then: {before}",
        accepted.len()
    );

    let server = Server::start_in_with(data.path(), &args);
    let restarted = stats(&server.endpoint).await;
    assert!(
        restarted["Depth"].as_u64().unwrap() > 0,
        "events were still queued at the crash: {restarted}"
    );
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let s = stats(&server.endpoint).await;
        if s["Depth"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the queue did not drain: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut runs = 0;
    let mut ran = BTreeSet::new();
    for m in common::log_messages(&server.endpoint, "counter").await {
        if let Some(n) = m.trim().strip_prefix("RAN ") {
            runs += 1;
            ran.insert(n.trim().parse::<usize>().unwrap());
        }
    }
    let lost: Vec<_> = accepted.difference(&ran).collect();
    eprintln!(
        "after restart: {} distinct events ran ({runs} runs, {} duplicates)",
        ran.len(),
        runs - ran.len()
    );
    assert!(
        lost.is_empty(),
        "{} accepted events never ran: {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
}
