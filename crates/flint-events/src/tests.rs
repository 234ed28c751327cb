//! The queue and its worker against a fake executor and a manual clock.

use crate::decide::{self, Outcome, Policy};
use crate::*;
use flint_store::SqliteStore;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Fails or throttles the functions it is told to, succeeds otherwise, and
/// remembers every invocation.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<(String, String)>>,
    outcomes: HashMap<String, Outcome>,
    policies: HashMap<String, Policy>,
    on_failure: Option<String>,
    on_success: Option<String>,
    /// How many reads of the settings fail before they succeed.
    unreadable_settings: AtomicU32,
}

impl Fake {
    fn calls_of(&self, f: &str) -> Vec<String> {
        self.calls
            .lock()
            .iter()
            .filter(|(n, _)| n == f)
            .map(|(_, p)| p.clone())
            .collect()
    }
}

impl Executor for Fake {
    fn settings(&self, ev: &QueuedEvent) -> BoxFuture<Result<Option<Settings>, ExecutorError>> {
        if self.unreadable_settings.load(Ordering::SeqCst) > 0 {
            self.unreadable_settings.fetch_sub(1, Ordering::SeqCst);
            return Box::pin(async { Err(std::io::Error::other("the store is down").into()) });
        }
        let s = Settings {
            policy: self.policies.get(&ev.function).copied().unwrap_or_default(),
            on_success: self.on_success.clone().filter(|_| ev.function != "dest"),
            on_failure: self.on_failure.clone().filter(|_| ev.function != "dest"),
            dead_letter: None,
            reserved_zero: false,
            function_arn: format!(
                "arn:aws:lambda:us-east-1:000000000000:function:{}:$LATEST",
                ev.function
            ),
        };
        Box::pin(async move { Ok(Some(s)) })
    }

    fn invoke(&self, ev: &QueuedEvent) -> BoxFuture<Attempt> {
        self.calls
            .lock()
            .push((ev.function.clone(), ev.payload.clone()));
        let outcome = self
            .outcomes
            .get(&ev.function)
            .copied()
            .unwrap_or(Outcome::Success);
        let last = match outcome {
            Outcome::Success => Some(LastAttempt {
                status_code: 200,
                executed_version: Some("$LATEST".into()),
                function_error: false,
                response: Some("{\"ok\":true}".into()),
            }),
            Outcome::FunctionError => Some(LastAttempt {
                status_code: 200,
                executed_version: Some("$LATEST".into()),
                function_error: true,
                response: Some("{\"errorType\":\"Boom\"}".into()),
            }),
            _ => None,
        };
        Box::pin(async move { Attempt { outcome, last } })
    }

    fn local_function(&self, arn: &str) -> Option<LocalFunction> {
        let name = arn.strip_prefix("arn:aws:lambda:us-east-1:000000000000:function:")?;
        Some(LocalFunction {
            name: name.into(),
            qualifier: None,
        })
    }
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn queue(clock: Arc<ManualClock>) -> Arc<EventQueue> {
    EventQueue::open(Arc::new(SqliteStore::in_memory().unwrap()), clock).unwrap()
}

#[tokio::test]
async fn function_errors_retry_on_the_clock_then_reach_on_failure() {
    let clock = Arc::new(ManualClock::starting_at(1_000_000));
    let q = queue(clock.clone());
    let fake = Arc::new(Fake {
        outcomes: HashMap::from([("f".to_string(), Outcome::FunctionError)]),
        on_failure: Some("arn:aws:lambda:us-east-1:000000000000:function:dest".into()),
        ..Default::default()
    });
    q.start(fake.clone(), 4);
    q.enqueue("req-1".into(), "f".into(), None, "{\"n\":1}".into())
        .await
        .unwrap();
    until("first attempt", || fake.calls_of("f").len() == 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fake.calls_of("f").len(), 1, "no retry before a minute");
    assert_eq!(q.stats().depth, 1);

    clock.advance(59_000);
    q.wake();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fake.calls_of("f").len(), 1, "still no retry at 59 s");
    clock.advance(1_000);
    q.wake();
    until("second attempt", || fake.calls_of("f").len() == 2).await;

    clock.advance(119_000);
    q.wake();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fake.calls_of("f").len(), 2, "the third waits two minutes");
    clock.advance(1_000);
    q.wake();
    until("destination run", || fake.calls_of("dest").len() == 1).await;
    assert_eq!(fake.calls_of("f").len(), 3);

    let record: serde_json::Value = serde_json::from_str(&fake.calls_of("dest")[0]).unwrap();
    assert_eq!(record["requestContext"]["requestId"], "req-1");
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(record["requestPayload"], serde_json::json!({"n": 1}));
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["responsePayload"]["errorType"], "Boom");
    until("queue drained", || q.stats().depth == 0).await;
    assert_eq!(q.stats().finished, 2);
}

#[tokio::test]
async fn throttled_events_back_off_and_expire_by_age_into_the_undelivered_store() {
    let clock = Arc::new(ManualClock::starting_at(0));
    let q = queue(clock.clone());
    let fake = Arc::new(Fake {
        outcomes: HashMap::from([("f".to_string(), Outcome::Throttled)]),
        policies: HashMap::from([(
            "f".to_string(),
            Policy {
                max_retries: 2,
                max_event_age_ms: 60_000,
            },
        )]),
        on_failure: Some("arn:aws:sqs:us-east-1:000000000000:failures".into()),
        ..Default::default()
    });
    q.start(fake.clone(), 4);
    q.enqueue("req-t".into(), "f".into(), None, "{}".into())
        .await
        .unwrap();
    until("first attempt", || fake.calls_of("f").len() == 1).await;
    // Backoff 1 s, 2 s, 4 s: three more attempts within 7 s.
    for (step, expected) in [(1_000, 2), (2_000, 3), (4_000, 4)] {
        clock.advance(step);
        q.wake();
        until("throttle retry", || fake.calls_of("f").len() == expected).await;
    }
    assert_eq!(q.stats().depth, 1);
    clock.advance(60_000);
    q.wake();
    until("expiry", || q.stats().depth == 0).await;
    let (kept, _) = q.undelivered(None, 10).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].kind, "OnFailure");
    assert_eq!(
        kept[0].target.as_deref(),
        Some("arn:aws:sqs:us-east-1:000000000000:failures")
    );
    assert_eq!(
        kept[0].payload["requestContext"]["condition"],
        "EventAgeExceeded"
    );
    assert_eq!(
        kept[0].payload["requestContext"]["approximateInvokeCount"],
        0
    );
    assert_eq!(q.stats().undelivered, 1);
}

#[tokio::test]
async fn unreadable_settings_are_retried_after_a_throttle_delay() {
    let clock = Arc::new(ManualClock::starting_at(0));
    let q = queue(clock.clone());
    let fake = Arc::new(Fake {
        unreadable_settings: AtomicU32::new(1),
        ..Default::default()
    });
    q.start(fake.clone(), 2);
    q.enqueue("unread-1".into(), "f".into(), None, "{}".into())
        .await
        .unwrap();
    until("the failed read", || {
        fake.unreadable_settings.load(Ordering::SeqCst) == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(fake.calls_of("f").is_empty(), "not run without settings");
    assert_eq!(q.stats().depth, 1, "still queued");
    clock.advance(decide::throttle_delay_ms(1));
    q.wake();
    until("the retry", || fake.calls_of("f").len() == 1).await;
    until("queue drained", || q.stats().depth == 0).await;
}

#[tokio::test]
async fn success_goes_to_on_success() {
    let clock = Arc::new(ManualClock::starting_at(0));
    let q = queue(clock);
    let fake = Arc::new(Fake {
        on_success: Some("arn:aws:lambda:us-east-1:000000000000:function:dest".into()),
        ..Default::default()
    });
    q.start(fake.clone(), 2);
    q.enqueue("ok-1".into(), "f".into(), None, "{\"x\":2}".into())
        .await
        .unwrap();
    until("destination", || fake.calls_of("dest").len() == 1).await;
    let record: serde_json::Value = serde_json::from_str(&fake.calls_of("dest")[0]).unwrap();
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert_eq!(record["responsePayload"], serde_json::json!({"ok": true}));
    assert!(record["responseContext"].get("functionError").is_none());
}

#[tokio::test]
async fn accepted_events_survive_a_reopen_and_all_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let clock = Arc::new(ManualClock::starting_at(0));
    {
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        let q = EventQueue::open(store, clock.clone()).unwrap();
        for i in 0..200 {
            q.enqueue(
                format!("id-{i:03}"),
                "f".into(),
                None,
                format!("{{\"n\":{i}}}"),
            )
            .await
            .unwrap();
        }
        assert_eq!(q.stats().depth, 200);
        // Never started: dropped with everything still queued.
    }
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let q = EventQueue::open(store, clock).unwrap();
    assert_eq!(q.stats().depth, 200);
    let fake = Arc::new(Fake::default());
    q.start(fake.clone(), 8);
    until("all events", || q.stats().depth == 0).await;
    let mut seen: Vec<String> = fake.calls_of("f");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 200);
}

#[tokio::test]
async fn many_concurrent_enqueues_share_commits() {
    let clock = Arc::new(ManualClock::starting_at(0));
    let q = queue(clock);
    let mut handles = Vec::new();
    for i in 0..500 {
        let q = q.clone();
        handles.push(tokio::spawn(async move {
            q.enqueue(format!("c-{i}"), "f".into(), None, "{}".into())
                .await
        }));
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    assert_eq!(q.stats().depth, 500);
    assert_eq!(q.stats().functions.get("f"), Some(&500));
}
