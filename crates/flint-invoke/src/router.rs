//! The invocation router, [`Invoker`]: one invocation goes through admission, then to a
//! ready provisioned environment, else a warm one from the pool, else a cold start; its
//! ending becomes the verdict, which decides the caller's answer, the REPORT line and where
//! the environment goes next.
//!
//! The way of one invocation is [`Router`], generic over the launcher so that its tests run
//! on fake environments; [`Invoker`] is the server's router over real sandboxes, with the
//! housekeeping (freezing, reaping) and the operators' views.

use crate::admission::{Admission, AdmissionView, Throttle, Ticket};
use crate::environment::{Environment, Execution, destroy_all};
use crate::error::InvokeError;
use crate::launch::{ColdStartError, InitFailure, InitType, Launch, LaunchTarget, Launcher};
use crate::logs::{self, LogStore};
use crate::pool::{FREEZE_AFTER, Pool, PoolKey};
use crate::provisioned::{Lent, ProvisionSpec, ProvisionedStatus, Provisioner};
use crate::recursion;
use crate::request::{InvokeOutput, InvokeRequest};
use crate::settings::InvokerSettings;
use crate::streaming;
use crate::verdict::{Ending, Measured, RunEnd, Verdict};
use crate::xray::{self, TracingMode};
use flint_runtime_api::Invocation;
use flint_runtimes::HostRuntimes;
use flint_sandbox::Sandboxer;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Environments by state (see [`Invoker::environments`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentsView {
    /// Warm environments waiting for an invocation (all functions).
    pub idle: usize,
    /// Pre-spawned environments waiting for a cold start (all shapes).
    pub prespawned: usize,
    /// Pre-spawns under way.
    pub prespawning: usize,
}

fn throttled(t: Throttle) -> InvokeError {
    InvokeError::Throttled { reason: t.reason() }
}

/// An admitted invocation: its ticket is released when the invocation ends, however it
/// ends.
struct Admitted<'a> {
    admission: &'a Mutex<Admission>,
    ticket: Option<Ticket>,
}

impl<'a> Admitted<'a> {
    fn admit(admission: &'a Mutex<Admission>, function: &str) -> Result<Self, InvokeError> {
        let ticket = admission.lock().admit(function).map_err(throttled)?;
        Ok(Self {
            admission,
            ticket: Some(ticket),
        })
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.admission.lock().release(ticket);
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where an invocation's environment came from.
enum Acquired<E> {
    /// A ready provisioned environment, lent to this invocation.
    Provisioned(E, Lent),
    /// A warm environment of the pool, or a new one.
    OnDemand(E),
    /// A new environment's init failed.
    InitFailed(InitFailure),
}

/// Admission, the provisioned sets, the pools and the launcher (see the module docs).
struct Router<L: Launch> {
    /// Account limit, reserved caps, the unreserved pool, scaling rate.
    admission: Mutex<Admission>,
    /// Provisioned concurrency sets, apart from the on-demand pools.
    provisioner: Arc<Provisioner<L>>,
    pool: Pool<L::Env>,
    launcher: Arc<L>,
    logs: LogStore,
}

impl<L: Launch> Router<L> {
    fn new(launcher: Arc<L>, logs: LogStore, admission: Admission) -> Self {
        Self {
            admission: Mutex::new(admission),
            provisioner: Provisioner::new(launcher.clone(), logs.clone()),
            pool: Pool::new(),
            launcher,
            logs,
        }
    }

    /// Runs one synchronous invocation.
    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeOutput, InvokeError> {
        let _admitted = Admitted::admit(&self.admission, &req.config.function_name)?;
        let request_id = req
            .request_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let config = &req.config;
        let mut log: Vec<String> = Vec::new();
        let started = Instant::now();
        let (mut env, lent) = match self.acquire(&req, &mut log).await? {
            Acquired::Provisioned(env, lent) => (env, Some(lent)),
            Acquired::OnDemand(env) => (env, None),
            Acquired::InitFailed(failure) => {
                // Reported as the invocation's error.
                let verdict = Verdict::of_init(failure, &request_id);
                let measured = Measured {
                    duration: started.elapsed(),
                    memory_size_mb: config.memory_size,
                    max_memory_used_mb: 0,
                    init_duration: None,
                };
                log.push(logs::start_line(&request_id, &config.version));
                log.push(logs::end_line(&request_id));
                log.push(verdict.report_line(&request_id, &measured));
                let stream = logs::stream_name(&config.version);
                return Ok(self.finish(&req, &stream, Vec::new(), log, verdict));
            }
        };
        let (verdict, spilled) = Self::run(&mut env, &req, &request_id, &mut log).await;
        let stream = env.stream().to_string();
        let keep = verdict.keeps_environment();
        match lent {
            Some(lent) => self.provisioner.give_back(lent, env, keep),
            None if keep => self.pool.give(PoolKey::of(config), env),
            // Timeouts and crashes reset the environment.
            None => {
                tokio::spawn(env.destroy());
            }
        }
        Ok(self.finish(&req, &stream, spilled, log, verdict))
    }

    /// An environment for `req`: a ready provisioned one, else a warm one of its exact
    /// configuration (thawed), else a new one, within the function's scaling rate.
    async fn acquire(
        &self,
        req: &InvokeRequest,
        log: &mut Vec<String>,
    ) -> Result<Acquired<L::Env>, InvokeError> {
        let config = &req.config;
        // Provisioned environments serve first; the rest spills over to on-demand ones.
        if let Some((mut env, lent)) = self.provisioner.take(config, &req.invoked_arn) {
            env.thaw();
            return Ok(Acquired::Provisioned(env, lent));
        }
        if let Some(mut env) = self.pool.take(PoolKey::of(config)) {
            env.thaw();
            return Ok(Acquired::OnDemand(env));
        }
        self.admission
            .lock()
            .scale_up(&config.function_name, Instant::now())
            .map_err(throttled)?;
        let target = LaunchTarget {
            config,
            code_blob: &req.code_blob,
            code_path: &req.code_path,
            layers: &req.layers,
        };
        match self
            .launcher
            .cold_start(target, log, InitType::OnDemand)
            .await
        {
            Ok(env) => Ok(Acquired::OnDemand(env)),
            Err(ColdStartError::Init(failure)) => Ok(Acquired::InitFailed(failure)),
            Err(ColdStartError::Platform(e)) => Err(e),
        }
    }

    /// Runs the invocation on `env`: `log` (what came before, the init's output) and START go
    /// ahead of the function's output; `log` ends as the lines not yet stored, END and REPORT.
    /// Also returns the last lines of a long output already handed to the store (the log
    /// tail's beginning).
    async fn run(
        env: &mut L::Env,
        req: &InvokeRequest,
        request_id: &str,
        log: &mut Vec<String>,
    ) -> (Verdict, Vec<String>) {
        let config = &req.config;
        log.push(logs::start_line(request_id, &config.version));
        env.push_log(std::mem::take(log));
        let trace = xray::new_trace_header(
            req.trace_header.as_deref(),
            TracingMode::of(config.tracing_config.mode.as_deref()),
        );
        let timeout = Duration::from_secs(config.timeout.max(1) as u64);
        let invocation = Invocation {
            request_id: request_id.to_string(),
            payload: req.payload.clone(),
            deadline_ms: now_ms() + timeout.as_millis() as u64,
            invoked_function_arn: req.invoked_arn.clone(),
            client_context: req.client_context.clone(),
            // The recursion lineage (`recursion.rs`) rides on the new trace header, so it
            // reaches the function's SDK calls through `_X_AMZN_TRACE_ID`.
            trace_id: Some(recursion::carry_lineage(
                req.trace_header.as_deref(),
                &trace,
            )),
            ..Invocation::default()
        };
        let invoke_started = Instant::now();
        let state = env.invoke(invocation, timeout).await;
        let ending = match Ending::of_run(state) {
            RunEnd::Ended(ending) => ending,
            // A buffered Invoke of a streaming function returns the concatenated body;
            // InvokeWithResponseStream forwards it.
            RunEnd::Streaming(stream) => {
                let deadline = invoke_started + timeout;
                let read = streaming::read_to_end(stream, deadline, req.stream_to.as_ref());
                env.collect_output_while(read).await
            }
        };
        let verdict = Verdict::of(ending, request_id, timeout);
        let duration = invoke_started.elapsed();
        *log = env.take_output();
        let spilled = env.take_spilled_tail();
        let measured = Measured {
            duration,
            memory_size_mb: config.memory_size,
            max_memory_used_mb: env.memory_peak_mb(),
            init_duration: env.take_init_duration(),
        };
        log.push(logs::end_line(request_id));
        log.push(verdict.report_line(request_id, &measured));
        log.extend(xray::report_line(&trace));
        (verdict, spilled)
    }

    /// Stores the invocation's log and builds the caller's answer. The Tail
    /// is cut before the lines move to the log writer, so nothing is copied.
    fn finish(
        &self,
        req: &InvokeRequest,
        stream: &str,
        spilled: Vec<String>,
        log: Vec<String>,
        verdict: Verdict,
    ) -> InvokeOutput {
        let log_result = req
            .tail_logs
            .then(|| logs::log_tail(spilled.iter().chain(&log)));
        self.logs.append(&req.config.function_name, stream, log);
        verdict.into_output(req.config.version.clone(), log_result)
    }

    /// Creates or changes the provisioned concurrency of one version or alias; admission
    /// allocates the function's new total out of the account.
    fn provision(&self, qualifier: &str, spec: ProvisionSpec) {
        let function = spec.config.function_name.clone();
        let total = self.provisioner.provision(qualifier, spec);
        self.admission.lock().set_provisioned(&function, total);
    }

    /// Removes the provisioned concurrency of one version or alias: its ready
    /// environments are destroyed now, busy ones when their invocation ends.
    async fn unprovision(&self, function: &str, qualifier: &str) {
        let (envs, total) = self.provisioner.remove(function, qualifier);
        self.admission.lock().set_provisioned(function, total);
        destroy_all(envs).await;
    }

    /// Current concurrency and throttles, with the provisioned environments initialised
    /// now.
    fn concurrency(&self) -> AdmissionView {
        let ready = self.provisioner.allocated_per_function();
        let mut view = self.admission.lock().view();
        for f in &mut view.functions {
            f.provisioned_ready = ready.get(&f.function_name).copied().unwrap_or(0);
        }
        view
    }

    /// Destroys every environment of `function` (it was deleted) and its logs.
    async fn drop_function(&self, function: &str) {
        self.pool.drop_function(function).await;
        destroy_all(self.provisioner.remove_function(function)).await;
        self.admission.lock().remove_function(function);
        self.logs.delete(function);
    }
}

/// The invocation router (see the crate docs).
pub struct Invoker {
    router: Router<Launcher>,
    idle_timeout: Duration,
}

impl Invoker {
    /// Prepares the router: materialises the managed runtimes, opens the
    /// code cache and the log store, and starts the idle reaper.
    pub fn start(
        sandboxer: Arc<Sandboxer>,
        settings: InvokerSettings,
    ) -> Result<Arc<Self>, InvokeError> {
        let logs = LogStore::open(settings.data_dir.join("logs"), settings.log_retention_bytes)?;
        let launcher = Arc::new(Launcher::new(sandboxer, &settings, logs.clone())?);
        let admission = Admission::new(
            u32::try_from(settings.account_concurrency).unwrap_or(u32::MAX),
            settings.scaling_rate,
        );
        let invoker = Arc::new(Self {
            router: Router::new(launcher, logs, admission),
            idle_timeout: settings.idle_timeout,
        });
        let weak = Arc::downgrade(&invoker);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FREEZE_AFTER / 2);
            loop {
                tick.tick().await;
                let Some(invoker) = weak.upgrade() else { break };
                invoker.maintain().await;
            }
        });
        Ok(invoker)
    }

    /// Reaps what was idle too long, then freezes what just became idle.
    async fn maintain(&self) {
        self.router.launcher.prewarm().reap(self.idle_timeout);
        self.router.pool.reap(self.idle_timeout).await;
        self.router.pool.freeze_idle().await;
    }

    /// Runs one synchronous invocation.
    pub async fn invoke(&self, req: InvokeRequest) -> Result<InvokeOutput, InvokeError> {
        self.router.invoke(req).await
    }

    /// The host interpreters managed runtimes run on (for the start-up report).
    pub fn host_runtimes(&self) -> &HostRuntimes {
        self.router.launcher.host()
    }

    /// The AWS SDKs the managed runtimes have (for the start-up report).
    pub fn runtime_sdks(&self) -> &flint_runtimes::sdk::SdkVersions {
        self.router.launcher.sdks()
    }

    pub fn logs(&self) -> &LogStore {
        &self.router.logs
    }

    /// Sets (or with `None` removes) a function's reserved concurrency, as
    /// PutFunctionConcurrency / DeleteFunctionConcurrency stored it.
    pub fn set_reserved_concurrency(&self, function: &str, reserved: Option<u32>) {
        self.router
            .admission
            .lock()
            .set_reserved(function, reserved);
    }

    /// Current concurrency and throttles, per function and for the account.
    pub fn concurrency(&self) -> AdmissionView {
        self.router.concurrency()
    }

    /// Creates or changes the provisioned concurrency of one version or
    /// alias and starts reaching it in the background. Environments of an
    /// unchanged version are kept; a changed version replaces them all.
    pub fn provision(&self, qualifier: &str, spec: ProvisionSpec) {
        self.router.provision(qualifier, spec);
    }

    /// Removes the provisioned concurrency of one version or alias: its ready
    /// environments are destroyed now, busy ones when their invocation ends.
    pub async fn unprovision(&self, function: &str, qualifier: &str) {
        self.router.unprovision(function, qualifier).await;
    }

    /// The status of one configuration, if the invoker has it.
    pub fn provisioned_status(&self, function: &str, qualifier: &str) -> Option<ProvisionedStatus> {
        self.router.provisioner.status(function, qualifier)
    }

    /// Number of idle environments (all functions).
    pub fn idle_environments(&self) -> usize {
        self.router.pool.idle()
    }

    /// Number of pre-spawned environments waiting to be claimed (all shapes).
    pub fn prewarmed_environments(&self) -> usize {
        self.router.launcher.prewarm().ready()
    }

    /// Environments by state, for operators (`GET /_flint/environments`).
    pub fn environments(&self) -> EnvironmentsView {
        let prewarm = self.router.launcher.prewarm();
        EnvironmentsView {
            idle: self.router.pool.idle(),
            prespawned: prewarm.ready(),
            prespawning: prewarm.in_flight(),
        }
    }

    /// Destroys every environment of `function` (it was deleted) and its logs.
    pub async fn drop_function(&self, function: &str) {
        self.router.drop_function(function).await;
    }

    /// Drains the environments of one function version whose code or
    /// configuration changed: idle ones are destroyed now, busy ones when
    /// their invocation ends.
    pub async fn retire(&self, function: &str, version: &str) {
        self.router.pool.retire(function, version).await;
    }

    /// Destroys every environment (server shutdown).
    pub async fn shutdown(&self) {
        let idle: Vec<Environment> = self.router.pool.drain();
        self.router.launcher.prewarm().shutdown().await;
        destroy_all(idle).await;
        destroy_all(self.router.provisioner.remove_all()).await;
        self.router.logs.flush().await;
    }
}

#[cfg(test)]
mod tests;
