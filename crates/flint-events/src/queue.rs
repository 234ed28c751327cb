//! The durable queue and its worker.
//!
//! Every accepted event is a document in the `event` namespace of a
//! [`MetadataStore`] before the caller hears "accepted"; it leaves that
//! namespace only in the transaction that also records where it ended (a
//! destination event queued for a function, or an undelivered record), so a
//! crash at any moment leaves each event either still queued — it runs
//! again after restart — or finished with its destination recorded. That is
//! Lambda's at-least-once delivery.
//!
//! Writes go through one writer thread that commits everything waiting in
//! one transaction (group commit): under load, a single fsync makes many
//! events durable at once, and an enqueue never waits behind more than one
//! commit in progress.
//!
//! The schedule (which event is due when) is kept in memory and rebuilt
//! from the store at start.

use crate::EventsError;
use crate::clock::Clock;
use crate::decide::{self, Condition, Decision, History, Outcome};
use crate::event::{LastAttempt, QueuedEvent, Undelivered};
use crate::executor::{Executor, Settings};
use crate::record::invocation_record;
use flint_store::{MetadataStore, Pages, StoreError, Transaction};
use parking_lot::{Mutex, MutexGuard};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::{Notify, Semaphore, oneshot};

/// Queued events.
pub const EVENTS_NS: &str = "event";
/// Records that could not be delivered anywhere on this server.
pub const UNDELIVERED_NS: &str = "event-undelivered";

/// The most operations one group commit takes.
const MAX_BATCH: usize = 1024;

enum Op {
    Put(QueuedEvent),
    Finish {
        id: String,
        new_events: Vec<QueuedEvent>,
        undelivered: Vec<Undelivered>,
    },
}

struct Pending {
    op: Op,
    /// The group commit's result, shared by every operation it carried.
    ack: oneshot::Sender<Result<(), Arc<StoreError>>>,
}

#[derive(Default)]
struct Schedule {
    /// Every unfinished event, waiting or running.
    events: HashMap<String, QueuedEvent>,
    /// Waiting events by due time.
    due: BTreeSet<(u64, String)>,
    running: usize,
}

/// Queue depth and age, for `flint events` and `/_flint/events`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueStats {
    /// Unfinished events (waiting or running).
    pub depth: u64,
    pub running: u64,
    /// Age of the oldest unfinished event.
    pub oldest_event_age_ms: Option<u64>,
    /// Unfinished events per function.
    pub functions: BTreeMap<String, u64>,
    pub undelivered: u64,
    /// Events finished since the server started.
    pub finished: u64,
    /// Events that ended failed with no destination configured (Lambda
    /// discards them too) since the server started.
    pub discarded: u64,
}

/// The durable asynchronous-invocation queue.
pub struct EventQueue {
    store: Arc<dyn MetadataStore>,
    clock: Arc<dyn Clock>,
    writer: std::sync::mpsc::Sender<Pending>,
    schedule: Mutex<Schedule>,
    wake: Notify,
    stopping: AtomicBool,
    undelivered: AtomicU64,
    finished: AtomicU64,
    discarded: AtomicU64,
}

fn apply(tx: &mut dyn Transaction, op: &Op) -> Result<(), StoreError> {
    let put = |tx: &mut dyn Transaction, ev: &QueuedEvent| {
        let bytes = serde_json::to_vec(ev).expect("events serialize");
        tx.put(EVENTS_NS, &ev.id, &bytes)
    };
    match op {
        Op::Put(ev) => put(tx, ev),
        Op::Finish {
            id,
            new_events,
            undelivered,
        } => {
            for ev in new_events {
                put(tx, ev)?;
            }
            for u in undelivered {
                let key = format!("{:020}/{}/{}", u.time_ms, u.request_id, u.kind);
                let bytes = serde_json::to_vec(u).expect("records serialize");
                tx.put(UNDELIVERED_NS, &key, &bytes)?;
            }
            tx.delete(EVENTS_NS, id)?;
            Ok(())
        }
    }
}

fn writer_loop(store: Arc<dyn MetadataStore>, rx: std::sync::mpsc::Receiver<Pending>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let result = (|| {
            let mut tx = store.begin()?;
            for p in &batch {
                apply(&mut *tx, &p.op)?;
            }
            tx.commit()
        })()
        .map_err(Arc::new);
        if let Err(e) = &result {
            tracing::error!(error = %e, "event queue commit failed");
        }
        for p in batch {
            let _ = p.ack.send(result.clone());
        }
    }
}

impl EventQueue {
    /// Opens the queue over `store`, loading every event a previous run
    /// left unfinished (they run again: at-least-once).
    pub fn open(
        store: Arc<dyn MetadataStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, EventsError> {
        let mut schedule = Schedule::default();
        let undelivered;
        {
            let mut tx = store.begin()?;
            let mut pages = Pages::new(EVENTS_NS).size(1000);
            while let Some(page) = pages.next_page(&mut *tx)? {
                for (key, bytes) in page {
                    let ev: QueuedEvent = serde_json::from_slice(&bytes)
                        .map_err(|source| EventsError::Corrupt { key, source })?;
                    schedule.due.insert((ev.due_ms, ev.id.clone()));
                    schedule.events.insert(ev.id.clone(), ev);
                }
            }
            undelivered = tx.count(UNDELIVERED_NS)?;
        }
        if !schedule.events.is_empty() {
            tracing::info!(
                events = schedule.events.len(),
                "asynchronous events left by the previous run are queued again"
            );
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let writer_store = store.clone();
        std::thread::Builder::new()
            .name("flint-events-writer".into())
            .spawn(move || writer_loop(writer_store, rx))
            .map_err(EventsError::Writer)?;
        Ok(Arc::new(Self {
            store,
            clock,
            writer: tx,
            schedule: Mutex::new(schedule),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            undelivered: AtomicU64::new(undelivered),
            finished: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
        }))
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    async fn write(&self, op: Op) -> Result<(), EventsError> {
        let (ack, done) = oneshot::channel();
        self.writer
            .send(Pending { op, ack })
            .map_err(|_| EventsError::Closed)?;
        done.await
            .map_err(|_| EventsError::Closed)?
            .map_err(EventsError::Store)
    }

    fn lock(&self) -> MutexGuard<'_, Schedule> {
        self.schedule.lock()
    }

    /// Accepts an event: returns once it is durable.
    pub async fn enqueue(
        &self,
        id: String,
        function: String,
        qualifier: Option<String>,
        payload: String,
    ) -> Result<(), EventsError> {
        self.enqueue_traced(id, function, qualifier, payload, None)
            .await
    }

    /// [`EventQueue::enqueue`], keeping the caller's trace header with the event.
    pub async fn enqueue_traced(
        &self,
        id: String,
        function: String,
        qualifier: Option<String>,
        payload: String,
        trace_header: Option<String>,
    ) -> Result<(), EventsError> {
        let mut ev = QueuedEvent::new(id, function, qualifier, payload, self.clock.now_ms());
        ev.trace_header = trace_header;
        self.write(Op::Put(ev.clone())).await?;
        self.schedule_event(ev);
        Ok(())
    }

    fn schedule_event(&self, ev: QueuedEvent) {
        {
            let mut s = self.lock();
            s.due.insert((ev.due_ms, ev.id.clone()));
            s.events.insert(ev.id.clone(), ev);
        }
        self.wake.notify_one();
    }

    /// Wakes the worker (after the clock moved).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn stats(&self) -> QueueStats {
        let now = self.clock.now_ms();
        let s = self.lock();
        let mut functions = BTreeMap::new();
        let mut oldest: Option<u64> = None;
        for ev in s.events.values() {
            *functions.entry(ev.function.clone()).or_insert(0) += 1;
            oldest = Some(oldest.map_or(ev.enqueued_ms, |o| o.min(ev.enqueued_ms)));
        }
        QueueStats {
            depth: s.events.len() as u64,
            running: s.running as u64,
            oldest_event_age_ms: oldest.map(|o| now.saturating_sub(o)),
            functions,
            undelivered: self.undelivered.load(Ordering::Relaxed),
            finished: self.finished.load(Ordering::Relaxed),
            discarded: self.discarded.load(Ordering::Relaxed),
        }
    }

    /// Undelivered records in time order, from after `marker`.
    pub fn undelivered(
        &self,
        marker: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Undelivered>, Option<String>), EventsError> {
        let mut tx = self.store.begin()?;
        let page = tx.scan(UNDELIVERED_NS, marker, limit)?;
        let next = (page.len() == limit)
            .then(|| page.last().map(|p| p.0.clone()))
            .flatten();
        let mut out = Vec::with_capacity(page.len());
        for (key, bytes) in page {
            out.push(
                serde_json::from_slice(&bytes)
                    .map_err(|source| EventsError::Corrupt { key, source })?,
            );
        }
        Ok((out, next))
    }

    /// The next waiting event due at `now`, marked running.
    fn take_due(&self, now: u64) -> Option<QueuedEvent> {
        let mut s = self.lock();
        let (due, id) = s.due.first()?.clone();
        if due > now {
            return None;
        }
        s.due.remove(&(due, id.clone()));
        let ev = s.events.get(&id).cloned();
        if ev.is_some() {
            s.running += 1;
        }
        ev
    }

    fn next_due(&self) -> Option<u64> {
        self.lock().due.first().map(|(d, _)| *d)
    }

    /// Runs due events until [`EventQueue::stop`], at most `parallelism` at
    /// a time.
    pub fn start(
        self: &Arc<Self>,
        executor: Arc<dyn Executor>,
        parallelism: usize,
    ) -> tokio::task::JoinHandle<()> {
        let queue = self.clone();
        tokio::spawn(async move { queue.run(executor, parallelism.max(1)).await })
    }

    /// Stops taking events. Running attempts are abandoned where they are:
    /// their events are still in the store and run again after a restart.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    async fn run(self: Arc<Self>, executor: Arc<dyn Executor>, parallelism: usize) {
        let permits = Arc::new(Semaphore::new(parallelism));
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            if self.stopping.load(Ordering::Acquire) {
                tasks.abort_all();
                break;
            }
            while tasks.try_join_next().is_some() {}
            let now = self.clock.now_ms();
            let mut saturated = false;
            loop {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    saturated = true;
                    break;
                };
                let Some(ev) = self.take_due(now) else { break };
                let queue = self.clone();
                let executor = executor.clone();
                tasks.spawn(async move {
                    queue.attempt(&*executor, ev).await;
                    drop(permit);
                    queue.wake.notify_one();
                });
            }
            // Timers are capped at a second: the clock may be a manual one
            // that moves without telling anyone but `wake`.
            let wait_ms = match self.next_due() {
                _ if saturated => 1_000,
                Some(due) => due.saturating_sub(self.clock.now_ms()).clamp(1, 1_000),
                None => 1_000,
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(wait_ms)) => {}
            }
        }
    }

    /// One attempt of one event, and what follows from it.
    async fn attempt(&self, executor: &dyn Executor, mut ev: QueuedEvent) {
        let settings = match executor.settings(&ev).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                // The function is gone: keep the event where it can be seen.
                let u = Undelivered {
                    time_ms: self.clock.now_ms(),
                    request_id: ev.id.clone(),
                    function: ev.function.clone(),
                    kind: "FunctionNotFound".into(),
                    target: None,
                    payload: serde_json::from_str(&ev.payload).unwrap_or_default(),
                };
                self.finish(ev, Vec::new(), vec![u], false).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading an event's settings failed; retrying");
                ev.throttles += 1;
                ev.due_ms = self.clock.now_ms() + decide::throttle_delay_ms(ev.throttles);
                self.reschedule(ev).await;
                return;
            }
        };
        let now = self.clock.now_ms();
        if decide::expired(ev.enqueued_ms, &settings.policy, now) {
            self.conclude(executor, ev, &settings, Condition::EventAgeExceeded)
                .await;
            return;
        }
        if settings.reserved_zero {
            ev.throttles += 1;
            ev.last = Some(LastAttempt {
                status_code: 429,
                executed_version: None,
                function_error: false,
                response: None,
            });
            self.conclude(executor, ev, &settings, Condition::RetriesExhausted)
                .await;
            return;
        }
        let attempt = executor.invoke(&ev).await;
        match attempt.outcome {
            Outcome::Success => ev.invokes += 1,
            Outcome::FunctionError => {
                ev.invokes += 1;
                ev.function_errors += 1;
            }
            Outcome::Throttled | Outcome::ServiceError => ev.throttles += 1,
            Outcome::Stopped => {}
        }
        if attempt.last.is_some() {
            ev.last = attempt.last;
        }
        let history = History {
            enqueued_ms: ev.enqueued_ms,
            function_errors: ev.function_errors,
            throttles: ev.throttles,
        };
        let now = self.clock.now_ms();
        match decide::decide(&history, attempt.outcome, &settings.policy, now) {
            Decision::Retry { at_ms } => {
                ev.due_ms = at_ms;
                self.reschedule(ev).await;
            }
            Decision::Finish(condition) => self.conclude(executor, ev, &settings, condition).await,
        }
    }

    async fn reschedule(&self, ev: QueuedEvent) {
        match self.write(Op::Put(ev.clone())).await {
            Ok(()) => {
                let mut s = self.lock();
                s.running -= 1;
                s.due.insert((ev.due_ms, ev.id.clone()));
                s.events.insert(ev.id.clone(), ev);
            }
            Err(e) => self.write_failed(&ev, e),
        }
    }

    /// A write failed: the stored event is unchanged, so run it again from
    /// what the store holds, a little later.
    fn write_failed(&self, ev: &QueuedEvent, e: EventsError) {
        tracing::error!(error = %e, id = %ev.id, "event queue write failed; the event stays queued");
        let mut s = self.lock();
        s.running -= 1;
        let due = self.clock.now_ms() + 1_000;
        if let Some(stored) = s.events.get_mut(&ev.id) {
            stored.due_ms = due;
        }
        s.due.insert((due, ev.id.clone()));
    }

    /// Ends an event: its record goes to the destinations its condition
    /// calls for, in the same transaction that removes it.
    async fn conclude(
        &self,
        executor: &dyn Executor,
        ev: QueuedEvent,
        settings: &Settings,
        condition: Condition,
    ) {
        let now = self.clock.now_ms();
        let record = invocation_record(&ev, &settings.function_arn, condition, now);
        let mut targets: Vec<(&str, &str, serde_json::Value)> = Vec::new();
        if condition == Condition::Success {
            if let Some(arn) = &settings.on_success {
                targets.push(("OnSuccess", arn, record));
            }
        } else {
            if let Some(arn) = &settings.on_failure {
                targets.push(("OnFailure", arn, record));
            }
            if let Some(arn) = &settings.dead_letter {
                // A dead-letter queue receives the original event only.
                let original = serde_json::from_str(&ev.payload).unwrap_or_default();
                targets.push(("DeadLetter", arn, original));
            }
        }
        let discarded = condition != Condition::Success && targets.is_empty();
        let mut new_events = Vec::new();
        let mut undelivered = Vec::new();
        for (kind, arn, payload) in targets {
            match executor.local_function(arn) {
                Some(f) if kind != "DeadLetter" => new_events.push(QueuedEvent::new(
                    uuid::Uuid::new_v4().to_string(),
                    f.name,
                    f.qualifier,
                    payload.to_string(),
                    now,
                )),
                _ => undelivered.push(Undelivered {
                    time_ms: now,
                    request_id: ev.id.clone(),
                    function: ev.function.clone(),
                    kind: kind.into(),
                    target: Some(arn.to_string()),
                    payload,
                }),
            }
        }
        if discarded {
            tracing::warn!(id = %ev.id, function = %ev.function, condition = condition.as_str(),
                "asynchronous event failed with no destination configured; discarded");
        }
        self.finish(ev, new_events, undelivered, discarded).await;
    }

    async fn finish(
        &self,
        ev: QueuedEvent,
        new_events: Vec<QueuedEvent>,
        undelivered: Vec<Undelivered>,
        discarded: bool,
    ) {
        let kept = undelivered.len() as u64;
        let op = Op::Finish {
            id: ev.id.clone(),
            new_events: new_events.clone(),
            undelivered,
        };
        match self.write(op).await {
            Ok(()) => {
                {
                    let mut s = self.lock();
                    s.running -= 1;
                    s.events.remove(&ev.id);
                }
                self.undelivered.fetch_add(kept, Ordering::Relaxed);
                self.finished.fetch_add(1, Ordering::Relaxed);
                if discarded {
                    self.discarded.fetch_add(1, Ordering::Relaxed);
                }
                for e in new_events {
                    self.schedule_event(e);
                }
            }
            Err(e) => self.write_failed(&ev, e),
        }
    }
}
