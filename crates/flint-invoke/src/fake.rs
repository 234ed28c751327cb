//! Fake environments and a fake launcher, so that the pools', the provisioned sets' and
//! the router's tests run without sandboxes.

use crate::environment::{Execution, Pooled, RunState};
use crate::launch::{ColdStartError, InitType, Launch, LaunchTarget};
use flint_runtime_api::{Invocation, InvokeOutcome};
use flint_types::model::FunctionConfiguration;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What happened to the fakes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    /// A cold start began; `env` is the id its environment gets, if it gets one.
    ColdStart {
        env: u32,
        init_type: InitType,
    },
    Invoked {
        env: u32,
        request_id: String,
    },
    Destroyed(u32),
}

/// The fakes' shared record of events, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Journal(Arc<Mutex<Vec<Event>>>);

impl Journal {
    fn record(&self, event: Event) {
        self.0.lock().push(event);
    }

    /// What `pick` picks of the events so far, in order.
    fn pick<T>(&self, pick: impl Fn(&Event) -> Option<T>) -> Vec<T> {
        self.0.lock().iter().filter_map(pick).collect()
    }

    /// Ids of the environments destroyed so far.
    pub fn destroyed(&self) -> Vec<u32> {
        self.pick(|e| match e {
            Event::Destroyed(id) => Some(*id),
            _ => None,
        })
    }

    /// The environments invocations ran on, in order.
    pub fn invoked(&self) -> Vec<u32> {
        self.pick(|e| match e {
            Event::Invoked { env, .. } => Some(*env),
            _ => None,
        })
    }

    /// The cold starts so far, by initialisation type.
    pub fn cold_starts(&self) -> Vec<InitType> {
        self.pick(|e| match e {
            Event::ColdStart { init_type, .. } => Some(*init_type),
            _ => None,
        })
    }
}

/// A fake execution environment.
#[derive(Debug)]
pub(crate) struct FakeEnv {
    pub id: u32,
    pub exited: bool,
    pub frozen: bool,
    pub last_used: Instant,
    pub init_duration: Option<Duration>,
    pub memory_peak_mb: u64,
    /// How its invocations end, front first; when empty, a response echoing the payload.
    pub script: VecDeque<RunState>,
    /// When set, an invocation waits for a notification before it ends.
    pub hold: Option<Arc<Notify>>,
    stream: String,
    output: Vec<String>,
    journal: Journal,
}

impl FakeEnv {
    /// A healthy environment last used at `last_used`, nobody watching.
    pub fn idle(id: u32, last_used: Instant) -> Self {
        Self::new(id, Journal::default(), last_used)
    }

    fn new(id: u32, journal: Journal, last_used: Instant) -> Self {
        Self {
            id,
            exited: false,
            frozen: false,
            last_used,
            init_duration: Some(Duration::from_millis(100)),
            memory_peak_mb: 42,
            script: VecDeque::new(),
            hold: None,
            stream: format!("stream-{id}"),
            output: Vec::new(),
            journal,
        }
    }
}

impl Pooled for FakeEnv {
    fn has_exited(&mut self) -> bool {
        self.exited
    }

    fn last_used(&self) -> Instant {
        self.last_used
    }

    fn is_frozen(&self) -> bool {
        self.frozen
    }
}

impl Execution for FakeEnv {
    async fn invoke(&mut self, inv: Invocation, _timeout: Duration) -> RunState {
        self.journal.record(Event::Invoked {
            env: self.id,
            request_id: inv.request_id.clone(),
        });
        if let Some(hold) = &self.hold {
            hold.notified().await;
        }
        self.output.push(format!("output of {}", self.id));
        self.last_used = Instant::now();
        self.script
            .pop_front()
            .unwrap_or(RunState::Finished(InvokeOutcome::Response {
                body: inv.payload,
                content_type: None,
            }))
    }

    async fn collect_output_while<F: std::future::Future + Send>(&mut self, work: F) -> F::Output {
        work.await
    }

    fn take_output(&mut self) -> Vec<String> {
        std::mem::take(&mut self.output)
    }

    fn push_log(&mut self, lines: Vec<String>) {
        self.output.extend(lines);
    }

    fn take_spilled_tail(&mut self) -> Vec<String> {
        Vec::new()
    }

    fn take_init_duration(&mut self) -> Option<Duration> {
        self.init_duration.take()
    }

    fn memory_peak_mb(&self) -> u64 {
        self.memory_peak_mb
    }

    fn stream(&self) -> &str {
        &self.stream
    }

    fn freeze(&mut self) {
        self.frozen = true;
    }

    fn thaw(&mut self) {
        self.frozen = false;
    }

    async fn destroy(self) {
        self.journal.record(Event::Destroyed(self.id));
    }
}

/// How a prepared cold start goes.
pub(crate) enum Prepared {
    /// The environment's invocations end as scripted (see [`FakeEnv::script`]).
    Env {
        script: Vec<RunState>,
        hold: Option<Arc<Notify>>,
    },
    Fail(ColdStartError),
}

/// A launcher of [`FakeEnv`]s: each cold start writes an init line and takes the next
/// prepared outcome; a healthy environment when none is prepared.
#[derive(Default)]
pub(crate) struct FakeLauncher {
    pub journal: Journal,
    last_id: AtomicU32,
    prepared: Mutex<VecDeque<Prepared>>,
}

impl FakeLauncher {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn prepare(&self, next: Prepared) {
        self.prepared.lock().push_back(next);
    }
}

impl Launch for FakeLauncher {
    type Env = FakeEnv;

    async fn cold_start(
        &self,
        target: LaunchTarget<'_>,
        log: &mut Vec<String>,
        init_type: InitType,
    ) -> Result<FakeEnv, ColdStartError> {
        let id = self.last_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.journal.record(Event::ColdStart { env: id, init_type });
        log.push(format!("init of {} {id}", target.config.function_name));
        let next = self.prepared.lock().pop_front();
        let mut env = FakeEnv::new(id, self.journal.clone(), Instant::now());
        match next {
            None => {}
            Some(Prepared::Fail(e)) => return Err(e),
            Some(Prepared::Env { script, hold }) => {
                env.script = script.into();
                env.hold = hold;
            }
        }
        Ok(env)
    }
}

/// A function's configuration as the control plane stores it, with the fields the
/// invoker reads.
pub(crate) fn config(function: &str, version: &str, revision: &str) -> FunctionConfiguration {
    serde_json::from_value(serde_json::json!({
        "FunctionName": function,
        "FunctionArn": format!("arn:aws:lambda:us-east-1:000000000000:function:{function}"),
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::000000000000:role/r",
        "Handler": "app.handler",
        "CodeSize": 1,
        "Description": "",
        "Timeout": 3,
        "MemorySize": 128,
        "LastModified": "2024-01-01T00:00:00.000+0000",
        "CodeSha256": "x",
        "Version": version,
        "TracingConfig": {},
        "RevisionId": revision,
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {},
    }))
    .expect("a valid configuration")
}

/// Waits (at most 5 s) until `done`, for what background tasks do.
pub(crate) async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
