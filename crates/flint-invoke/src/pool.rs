//! Environment pools and the invocation path.

use crate::InvokeError;
use crate::admission::{Admission, AdmissionView, ScalingRate, Ticket};
use crate::code::CodeCache;
use crate::environment::{Environment, InitState, RunState};
use crate::logs::{self, LogStore, Report};
use crate::outcome::{InvokeOutput, log_tail, platform_error_body};
use crate::prewarm::Prewarm;
use crate::provisioned::Provisioned;
use bytes::Bytes;
use flint_runtime_api::{Invocation, InvokeOutcome};
use flint_runtimes::{HostRuntimes, ManagedRuntime};
use flint_sandbox::{NetworkMode, SandboxShape, SandboxSpec, Sandboxer};
use flint_types::model::FunctionConfiguration;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long an environment may sit idle before it is frozen (Lambda
/// freezes immediately; flint waits this long so that back-to-back
/// invocations skip the freezer round trip).
pub const FREEZE_AFTER: Duration = Duration::from_millis(200);

/// Settings of the invocation router.
#[derive(Debug, Clone)]
pub struct InvokerSettings {
    /// Extracted code, materialised runtimes and logs live under here.
    pub data_dir: PathBuf,
    pub region: String,
    /// An idle environment is destroyed after this long without use.
    pub idle_timeout: Duration,
    /// Lambda's init limit for on-demand environments.
    pub init_timeout: Duration,
    /// Per-function log size kept before rotation.
    pub log_retention_bytes: u64,
    /// Concurrent invocations across all functions.
    pub account_concurrency: usize,
    /// How fast one function may add environments.
    pub scaling_rate: ScalingRate,
    /// Network of the environments (private by default).
    pub network: NetworkMode,
    /// Pre-spawned, unspecialised environments kept ready per sandbox shape (runtime
    /// kind, `/tmp` size) once a cold start needed that shape; 0 disables them.
    pub prewarm_environments: usize,
}

impl InvokerSettings {
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            region: "us-east-1".into(),
            idle_timeout: Duration::from_secs(600),
            init_timeout: Duration::from_secs(10),
            log_retention_bytes: 16 * 1024 * 1024,
            account_concurrency: 1000,
            scaling_rate: ScalingRate::default(),
            network: NetworkMode::Private,
            prewarm_environments: 2,
        }
    }
}

/// One synchronous invocation, as the API hands it over.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// The configuration of the version that runs.
    pub config: FunctionConfiguration,
    /// Content address of the version's package, and where its zip is.
    pub code_blob: String,
    pub code_path: PathBuf,
    /// The ARN the caller used (`Lambda-Runtime-Invoked-Function-Arn`).
    pub invoked_arn: String,
    pub payload: Bytes,
    /// Decoded client context JSON.
    pub client_context: Option<String>,
    pub tail_logs: bool,
    /// The request id to run under; a new one when `None`. Asynchronous
    /// events keep theirs across retries, as on Lambda.
    pub request_id: Option<String>,
    /// `InvokeWithResponseStream`: the chunks of a streamed response are sent here as the
    /// function writes them (the output's body is then empty unless the function failed);
    /// a response that is not streamed arrives whole in the output, as for `Invoke`.
    pub stream_to: Option<tokio::sync::mpsc::Sender<StreamPart>>,
}

/// What `InvokeRequest::stream_to` receives for a streamed response: the runtime's content
/// type first, then the body's chunks as they arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamPart {
    /// The runtime's `Content-Type` (`application/vnd.awslambda.http-integration-response`
    /// for the HTTP-integration prelude format), if it sent one.
    ContentType(Option<String>),
    Chunk(Bytes),
}

/// How an environment was started (`AWS_LAMBDA_INITIALIZATION_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InitType {
    OnDemand,
    Provisioned,
}

impl InitType {
    fn as_str(self) -> &'static str {
        match self {
            InitType::OnDemand => "on-demand",
            InitType::Provisioned => "provisioned-concurrency",
        }
    }
}

/// Environments of one exact configuration are interchangeable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    function: String,
    version: String,
    revision: String,
}

#[derive(Default)]
struct Pools {
    idle: HashMap<PoolKey, Vec<Environment>>,
    /// The newest revision seen per (function, version): environments of an
    /// older one are drained instead of reused.
    current: HashMap<(String, String), String>,
}

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

/// The invocation router (see the crate docs).
pub struct Invoker {
    /// Background tasks (provisioned concurrency) hold the invoker through this.
    pub(crate) me: Weak<Invoker>,
    sandboxer: Arc<Sandboxer>,
    host: HostRuntimes,
    code: Arc<CodeCache>,
    runtime_dir: PathBuf,
    pub(crate) logs: LogStore,
    pools: Mutex<Pools>,
    /// Account limit, reserved caps, the unreserved pool, scaling rate.
    pub(crate) admission: Mutex<Admission>,
    /// Provisioned concurrency sets, apart from the on-demand pools.
    pub(crate) provisioned: Mutex<Provisioned>,
    prewarm: Arc<Prewarm>,
    env_seq: AtomicU64,
    settings: InvokerSettings,
}

/// Releases an admission ticket when the invocation ends, however it ends.
struct Slot<'a> {
    admission: &'a Mutex<Admission>,
    ticket: Option<Ticket>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.admission.lock().expect("admission").release(ticket);
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What an invocation's end means for the caller, the REPORT line and the
/// environment.
struct Verdict {
    body: Bytes,
    function_error: bool,
    content_type: Option<String>,
    /// REPORT's `Status:` and `Error Type:`.
    status: Option<(&'static str, Option<String>)>,
    /// Whether the environment may serve another invocation.
    healthy: bool,
}

impl Verdict {
    fn platform(error_type: &str, message: &str, status: &'static str, healthy: bool) -> Self {
        Self {
            body: platform_error_body(error_type, message),
            function_error: true,
            content_type: None,
            status: Some((
                status,
                (status != "timeout").then(|| error_type.to_string()),
            )),
            healthy,
        }
    }

    /// The end of a streamed response: forwarded chunk by chunk to `stream_to` (or collected
    /// for a buffered invoke), within the invocation's deadline.
    async fn of_stream(
        stream: flint_runtime_api::StreamingResponse,
        request_id: &str,
        timeout: Duration,
        deadline: Instant,
        stream_to: Option<&tokio::sync::mpsc::Sender<StreamPart>>,
    ) -> Self {
        let mut body = stream.body;
        let mut client_gone = match stream_to {
            Some(tx) => tx
                .send(StreamPart::ContentType(stream.content_type.clone()))
                .await
                .is_err(),
            None => false,
        };
        let mut collected = bytes::BytesMut::new();
        let end = loop {
            let next = tokio::time::timeout_at(deadline.into(), body.next_chunk()).await;
            match next {
                Err(_) => break Err(None),
                Ok(None) => break Ok(()),
                Ok(Some(Err(e))) => break Err(Some(e)),
                Ok(Some(Ok(chunk))) => match stream_to {
                    // A caller that went away does not stop the function: the rest is read
                    // and dropped so the runtime can finish its response.
                    Some(tx) if !client_gone => {
                        client_gone = tx.send(StreamPart::Chunk(chunk)).await.is_err()
                    }
                    Some(_) => {}
                    None => collected.extend_from_slice(&chunk),
                },
            }
        };
        use flint_runtime_api::StreamError;
        match end {
            Ok(()) => Self {
                body: collected.freeze(),
                function_error: false,
                content_type: stream.content_type,
                status: None,
                healthy: true,
            },
            Err(None) => {
                let m = format!(
                    "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                    timeout.as_secs_f64()
                );
                Self::platform("Sandbox.Timedout", &m, "timeout", false)
            }
            Err(Some(StreamError::Function { error_type, body })) => {
                let body = if body.is_empty() {
                    platform_error_body(&error_type, "The function reported an error mid-stream")
                } else {
                    body
                };
                Self {
                    body,
                    function_error: true,
                    content_type: None,
                    status: Some(("error", Some(error_type))),
                    healthy: true,
                }
            }
            Err(Some(StreamError::TooLarge { limit })) => Self::platform(
                "Function.ResponseSizeTooLarge",
                &format!(
                    "Response payload size exceeded maximum allowed payload size ({limit} bytes)."
                ),
                "error",
                false,
            ),
            Err(Some(StreamError::Truncated)) => Self::platform(
                "Runtime.TruncatedResponse",
                "The runtime's streamed response was cut off",
                "error",
                false,
            ),
        }
    }

    async fn of(
        state: RunState,
        request_id: &str,
        timeout: Duration,
        deadline: Instant,
        stream_to: Option<&tokio::sync::mpsc::Sender<StreamPart>>,
    ) -> Self {
        match state {
            RunState::Finished(InvokeOutcome::Response { body, content_type }) => Self {
                body,
                function_error: false,
                content_type,
                status: None,
                healthy: true,
            },
            RunState::Finished(InvokeOutcome::FunctionError {
                error_type, body, ..
            }) => Self {
                body,
                function_error: true,
                content_type: None,
                status: Some(("error", Some(error_type))),
                healthy: true,
            },
            // A buffered Invoke of a streaming function returns the
            // concatenated body; InvokeWithResponseStream forwards it.
            RunState::Finished(InvokeOutcome::Streaming(stream)) => {
                Self::of_stream(stream, request_id, timeout, deadline, stream_to).await
            }
            // Oversized, truncated or malformed responses: runtimes may exit
            // after them (awslambdaric does after a 413), so the environment
            // is reset rather than trusted again.
            RunState::Finished(other) => {
                let (t, m) = other
                    .platform_error()
                    .unwrap_or(("Runtime.Unknown", "Unknown error".into()));
                Self::platform(t, &m, "error", false)
            }
            RunState::TimedOut => {
                let m = format!(
                    "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                    timeout.as_secs_f64()
                );
                Self::platform("Sandbox.Timedout", &m, "timeout", false)
            }
            RunState::Exited { how, oom } => {
                let (t, m) = exit_error(request_id, &how, oom);
                Self::platform(t, &m, "error", false)
            }
        }
    }
}

/// The error body Lambda gives for a runtime that died.
fn exit_error(request_id: &str, how: &str, oom: bool) -> (&'static str, String) {
    if oom {
        return (
            "Runtime.OutOfMemory",
            format!("RequestId: {request_id} Error: Runtime exited with error: signal: killed"),
        );
    }
    let message = if how.is_empty() {
        format!("RequestId: {request_id} Error: Runtime exited without providing a reason")
    } else {
        format!("RequestId: {request_id} Error: Runtime exited with error: {how}")
    };
    ("Runtime.ExitError", message)
}

impl Invoker {
    /// Prepares the router: materialises the managed runtimes, opens the
    /// code cache and the log store, and starts the idle reaper.
    pub fn start(
        sandboxer: Arc<Sandboxer>,
        settings: InvokerSettings,
    ) -> Result<Arc<Self>, InvokeError> {
        let runtime_dir = settings.data_dir.join("runtime");
        flint_runtimes::materialize(&runtime_dir)?;
        let code = CodeCache::new(settings.data_dir.join("code"))?;
        code.sweep_partial()?;
        let logs = LogStore::open(settings.data_dir.join("logs"), settings.log_retention_bytes)?;
        let host = flint_runtimes::detect_host();
        // The Python client's bytecode, compiled in the background: until it
        // exists (or if compiling fails) Python compiles the client itself.
        let (dir, interpreters) = (runtime_dir.clone(), host.clone());
        std::thread::spawn(move || {
            if let Err(e) = flint_runtimes::precompile_python(&dir, &interpreters) {
                tracing::warn!(error = %e, "could not precompile the Python runtime client");
            }
        });
        let prewarm = Prewarm::new(sandboxer.clone(), settings.prewarm_environments);
        let invoker = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            sandboxer,
            prewarm,
            host,
            code: Arc::new(code),
            runtime_dir,
            logs,
            pools: Mutex::new(Pools::default()),
            admission: Mutex::new(Admission::new(
                u32::try_from(settings.account_concurrency).unwrap_or(u32::MAX),
                settings.scaling_rate,
            )),
            provisioned: Mutex::new(Provisioned::default()),
            env_seq: AtomicU64::new(0),
            settings,
        });
        let weak = Arc::downgrade(&invoker);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FREEZE_AFTER / 2);
            loop {
                tick.tick().await;
                let Some(inv) = weak.upgrade() else { break };
                inv.reap_idle().await;
                inv.freeze_idle().await;
            }
        });
        Ok(invoker)
    }

    /// The host interpreters managed runtimes run on (for the start-up report).
    pub fn host_runtimes(&self) -> &HostRuntimes {
        &self.host
    }

    pub fn logs(&self) -> &LogStore {
        &self.logs
    }

    /// Sets (or with `None` removes) a function's reserved concurrency, as
    /// PutFunctionConcurrency / DeleteFunctionConcurrency stored it.
    pub fn set_reserved_concurrency(&self, function: &str, reserved: Option<u32>) {
        self.admission
            .lock()
            .expect("admission")
            .set_reserved(function, reserved);
    }

    /// Current concurrency and throttles, per function and for the account.
    pub fn concurrency(&self) -> AdmissionView {
        let ready = self.provisioned_ready();
        let mut view = self.admission.lock().expect("admission").view();
        for f in &mut view.functions {
            f.provisioned_ready = ready.get(&f.function_name).copied().unwrap_or(0);
        }
        view
    }

    /// Number of idle environments (all functions).
    pub fn idle_environments(&self) -> usize {
        self.pools
            .lock()
            .expect("pools")
            .idle
            .values()
            .map(Vec::len)
            .sum()
    }

    /// Number of pre-spawned environments waiting to be claimed (all shapes).
    pub fn prewarmed_environments(&self) -> usize {
        self.prewarm.ready()
    }

    /// Environments by state, for operators (`GET /_flint/environments`).
    pub fn environments(&self) -> EnvironmentsView {
        EnvironmentsView {
            idle: self.idle_environments(),
            prespawned: self.prewarm.ready(),
            prespawning: self.prewarm.in_flight(),
        }
    }

    pub(crate) async fn destroy_all(envs: Vec<Environment>) {
        for env in envs {
            env.destroy().await;
        }
    }

    async fn reap_idle(&self) {
        let cutoff = self.settings.idle_timeout;
        self.prewarm.reap(cutoff);
        let expired: Vec<Environment> = {
            let mut pools = self.pools.lock().expect("pools");
            let mut out = Vec::new();
            for envs in pools.idle.values_mut() {
                let (old, keep): (Vec<_>, Vec<_>) = envs
                    .drain(..)
                    .partition(|e| e.last_used.elapsed() >= cutoff);
                *envs = keep;
                out.extend(old);
            }
            pools.idle.retain(|_, v| !v.is_empty());
            out
        };
        Self::destroy_all(expired).await;
    }

    /// Freezes environments that have been idle for [`FREEZE_AFTER`]. Doing
    /// it here rather than right after each response keeps the freezer's
    /// cost (hundreds of µs on cgroup v1) off the path of back-to-back
    /// invocations; an environment in use is never frozen.
    async fn freeze_idle(&self) {
        let due: Vec<(PoolKey, Environment)> = {
            let mut pools = self.pools.lock().expect("pools");
            let mut out = Vec::new();
            for (key, envs) in pools.idle.iter_mut() {
                let (freeze, keep): (Vec<_>, Vec<_>) = envs
                    .drain(..)
                    .partition(|e| !e.is_frozen() && e.last_used.elapsed() >= FREEZE_AFTER);
                *envs = keep;
                out.extend(freeze.into_iter().map(|e| (key.clone(), e)));
            }
            out
        };
        if due.is_empty() {
            return;
        }
        let frozen = tokio::task::spawn_blocking(move || {
            due.into_iter()
                .map(|(k, mut e)| {
                    e.freeze();
                    (k, e)
                })
                .collect::<Vec<_>>()
        })
        .await;
        let Ok(frozen) = frozen else { return };
        for (key, env) in frozen {
            if let Some(stale) = self.give_back(key, env) {
                stale.destroy().await;
            }
        }
    }

    /// Destroys every environment of `function` (it was deleted) and its logs.
    pub async fn drop_function(&self, function: &str) {
        let envs: Vec<Environment> = {
            let mut pools = self.pools.lock().expect("pools");
            let keys: Vec<PoolKey> = pools
                .idle
                .keys()
                .filter(|k| k.function == function)
                .cloned()
                .collect();
            pools.current.retain(|(f, _), _| f != function);
            keys.iter()
                .flat_map(|k| pools.idle.remove(k).unwrap_or_default())
                .collect()
        };
        Self::destroy_all(envs).await;
        Self::destroy_all(self.remove_provisioned_of(function)).await;
        self.admission
            .lock()
            .expect("admission")
            .remove_function(function);
        self.logs.delete(function);
    }

    /// Drains the environments of one function version whose code or
    /// configuration changed: idle ones are destroyed now, busy ones when
    /// their invocation ends.
    pub async fn retire(&self, function: &str, version: &str) {
        let envs: Vec<Environment> = {
            let mut pools = self.pools.lock().expect("pools");
            pools
                .current
                .remove(&(function.to_string(), version.to_string()));
            let keys: Vec<PoolKey> = pools
                .idle
                .keys()
                .filter(|k| k.function == function && k.version == version)
                .cloned()
                .collect();
            keys.iter()
                .flat_map(|k| pools.idle.remove(k).unwrap_or_default())
                .collect()
        };
        Self::destroy_all(envs).await;
    }

    /// Destroys every environment (server shutdown).
    pub async fn shutdown(&self) {
        let envs: Vec<Environment> = {
            let mut pools = self.pools.lock().expect("pools");
            pools.idle.drain().flat_map(|(_, v)| v).collect()
        };
        self.prewarm.shutdown().await;
        Self::destroy_all(envs).await;
        Self::destroy_all(self.remove_all_provisioned()).await;
        self.logs.flush().await;
    }

    /// Takes an idle environment of `key`, draining environments of older
    /// revisions of the same function version on the way.
    fn take_idle(&self, key: &PoolKey) -> (Option<Environment>, Vec<Environment>) {
        let mut pools = self.pools.lock().expect("pools");
        let fv = (key.function.clone(), key.version.clone());
        let mut stale = Vec::new();
        if pools.current.get(&fv) != Some(&key.revision) {
            pools.current.insert(fv, key.revision.clone());
            let old: Vec<PoolKey> = pools
                .idle
                .keys()
                .filter(|k| {
                    k.function == key.function
                        && k.version == key.version
                        && k.revision != key.revision
                })
                .cloned()
                .collect();
            for k in old {
                stale.extend(pools.idle.remove(&k).unwrap_or_default());
            }
        }
        // An environment whose runtime died while idle (a crash in
        // background work) is drained, never handed an event.
        let mut env = None;
        if let Some(envs) = pools.idle.get_mut(key) {
            while let Some(mut candidate) = envs.pop() {
                if candidate.has_exited() {
                    stale.push(candidate);
                } else {
                    env = Some(candidate);
                    break;
                }
            }
        }
        (env, stale)
    }

    /// Returns a healthy environment to its pool, unless its configuration
    /// was replaced meanwhile.
    fn give_back(&self, key: PoolKey, env: Environment) -> Option<Environment> {
        let mut pools = self.pools.lock().expect("pools");
        let fv = (key.function.clone(), key.version.clone());
        if pools.current.get(&fv) == Some(&key.revision) {
            pools.idle.entry(key).or_default().push(env);
            None
        } else {
            Some(env)
        }
    }

    fn environment_variables(
        &self,
        config: &FunctionConfiguration,
        stream: &str,
        runtime_env: &[(String, String)],
        init_type: InitType,
    ) -> Vec<(String, String)> {
        // Customer variables first; runtime and platform variables override them, except
        // Lambda's unreserved ones (`UNRESERVED`), where the function's own value wins.
        let mut env: Vec<(String, String)> = config
            .environment
            .as_ref()
            .map(|e| {
                e.variables
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let customer = config.environment.as_ref().map(|e| &e.variables);
        for (k, v) in flint_sandbox::lambda_base_env()
            .into_iter()
            .chain(runtime_env.iter().cloned())
        {
            if !(UNRESERVED.contains(&k.as_str()) && customer.is_some_and(|c| c.contains_key(&k))) {
                set_var(&mut env, &k, v);
            }
        }
        let mut set = |k: &str, v: String| set_var(&mut env, k, v);
        let log_group = config
            .logging_config
            .log_group
            .clone()
            .unwrap_or_else(|| format!("/aws/lambda/{}", config.function_name));
        set("_HANDLER", config.handler.clone().unwrap_or_default());
        set("AWS_REGION", self.settings.region.clone());
        set("AWS_DEFAULT_REGION", self.settings.region.clone());
        set("AWS_LAMBDA_FUNCTION_NAME", config.function_name.clone());
        set(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_size.to_string(),
        );
        set("AWS_LAMBDA_FUNCTION_VERSION", config.version.clone());
        set("AWS_LAMBDA_INITIALIZATION_TYPE", init_type.as_str().into());
        set("AWS_LAMBDA_LOG_GROUP_NAME", log_group);
        set("AWS_LAMBDA_LOG_STREAM_NAME", stream.to_string());
        set(
            "AWS_LAMBDA_LOG_FORMAT",
            config
                .logging_config
                .log_format
                .clone()
                .unwrap_or_else(|| "Text".into()),
        );
        if let Some(level) = &config.logging_config.application_log_level {
            set("AWS_LAMBDA_LOG_LEVEL", level.clone());
        }
        env
    }

    /// Starts a new environment for `req` and waits for its init.
    pub(crate) async fn cold_start(
        &self,
        req: &InvokeRequest,
        request_id: &str,
        log: &mut Vec<String>,
        init_type: InitType,
    ) -> Result<Result<Environment, (String, Bytes, Option<&'static str>)>, InvokeError> {
        let config = &req.config;
        let runtime_id = config.runtime.clone().unwrap_or_default();
        let runtime = ManagedRuntime::parse(&runtime_id).map_err(|e| InvokeError::Runtime {
            runtime: runtime_id.clone(),
            reason: e.to_string(),
        })?;
        let code = self.code.clone();
        let (blob, zip) = (req.code_blob.clone(), req.code_path.clone());
        let task_dir = tokio::task::spawn_blocking(move || code.prepare(&blob, &zip))
            .await
            .map_err(|e| InvokeError::Unavailable(e.to_string()))??;

        let (argv, runtime_env, mounts, prestart) = if matches!(
            runtime,
            ManagedRuntime::Provided { .. }
        ) {
            let found =
                flint_runtimes::find_custom_bootstrap(|p| sandbox_path_exists(p, &task_dir));
            match found {
                Some(path) if !sandbox_path_executable(&path, &task_dir) => {
                    // What Lambda reports when exec of the bootstrap fails.
                    let message = format!(
                        "RequestId: {request_id} Error: fork/exec {}: permission denied",
                        path.display()
                    );
                    let body = platform_error_body("Runtime.InvalidEntrypoint", &message);
                    return Ok(Err((
                        "Runtime.InvalidEntrypoint".into(),
                        body,
                        Some("error"),
                    )));
                }
                Some(path) => (
                    vec![path.to_string_lossy().into_owned()],
                    Vec::new(),
                    Vec::new(),
                    false,
                ),
                None => {
                    let body = platform_error_body(
                        "Runtime.InvalidEntrypoint",
                        "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]",
                    );
                    return Ok(Err((
                        "Runtime.InvalidEntrypoint".into(),
                        body,
                        Some("error"),
                    )));
                }
            }
        } else {
            let mut launch =
                runtime
                    .launch_command(&self.host)
                    .map_err(|e| InvokeError::Runtime {
                        runtime: runtime_id.clone(),
                        reason: e.to_string(),
                    })?;
            // Managed runtimes honour AWS_LAMBDA_EXEC_WRAPPER: the wrapper is executed with
            // the runtime's command as its arguments (facts §3.5). It must see the
            // function's environment from its first instruction, so nothing is pre-started.
            let wrapper = config
                .environment
                .as_ref()
                .and_then(|e| e.variables.get("AWS_LAMBDA_EXEC_WRAPPER"))
                .filter(|w| !w.is_empty());
            if let Some(wrapper) = wrapper {
                if let Some(why) = wrapper_problem(Path::new(wrapper), &task_dir) {
                    // What Lambda reports when exec of the entrypoint fails.
                    let message =
                        format!("RequestId: {request_id} Error: fork/exec {wrapper}: {why}");
                    let body = platform_error_body("Runtime.InvalidEntrypoint", &message);
                    return Ok(Err((
                        "Runtime.InvalidEntrypoint".into(),
                        body,
                        Some("error"),
                    )));
                }
                launch = launch.wrapped(wrapper);
                launch.prestart = false;
            }
            (
                launch.argv,
                launch.env,
                launch.read_only_mounts,
                launch.prestart,
            )
        };

        let n = self.env_seq.fetch_add(1, Ordering::Relaxed);
        let id = format!("env-{}-{n}", std::process::id());
        let stream = logs::stream_name(&config.version);
        let (log_read, log_write) = std::io::pipe()?;
        let mut spec = SandboxSpec::new(
            id,
            task_dir,
            argv,
            log_write.try_clone()?.into(),
            log_write.into(),
        );
        spec.runtime_dir = Some(self.runtime_dir.clone());
        // flint-runtimes only asks for binds outside the sandbox's system
        // directories (those are already in its read-only root).
        spec.extra_ro_binds = mounts.into_iter().map(|p| (p.clone(), p)).collect();
        spec.memory_mb = config.memory_size as u64;
        spec.cpu_millis =
            flint_sandbox::cpu_millis_for_memory(spec.memory_mb, self.sandboxer.host().host_cpus);
        spec.tmp_size_mb = config.ephemeral_storage.size as u64;
        spec.network = self.settings.network;
        spec.env = self.environment_variables(config, &stream, &runtime_env, init_type);
        spec.runtime_api_port = Some(flint_sandbox::RUNTIME_API_PORT);
        spec.prestart = prestart;
        // Provisioned environments may take longer: Lambda allows them
        // max(130 s, function timeout) (up to 15 minutes).
        let init_timeout = match init_type {
            InitType::OnDemand => self.settings.init_timeout,
            InitType::Provisioned => Duration::from_secs(130)
                .max(Duration::from_secs(config.timeout.max(1) as u64))
                .max(self.settings.init_timeout),
        };

        // A pre-spawned environment of this shape skips the sandbox spawn (prewarm.rs).
        let shape = SandboxShape::of(&spec);
        let started = match self.prewarm.claim(&shape) {
            Some(ready) => {
                // Kept for a fresh spawn should the claim fail (the environment died between
                // the pool's liveness check and the hand-over, say).
                let spare = spec.try_clone()?;
                let sandboxer = self.sandboxer.clone();
                match Environment::start_prespawned(
                    sandboxer,
                    ready.env,
                    spec,
                    ready.log_read,
                    stream.clone(),
                )
                .await
                {
                    Ok(env) => Ok(env),
                    Err(e) => {
                        tracing::warn!(error = %e, "a pre-spawned environment failed at its claim; spawning a new one");
                        Environment::start(self.sandboxer.clone(), spare, log_read, stream).await
                    }
                }
            }
            None => Environment::start(self.sandboxer.clone(), spec, log_read, stream).await,
        };
        self.prewarm.replenish(&shape);
        let mut env = started?;
        let state = env.wait_init(init_timeout).await;
        log.extend(env.take_output());
        match state {
            InitState::Ready => Ok(Ok(env)),
            InitState::InitError { error_type, body } => {
                env.destroy().await;
                Ok(Err((error_type, body, Some("error"))))
            }
            InitState::Exited(how) => {
                let (oom, _) = (false, ());
                let (t, m) = exit_error(request_id, &how, oom);
                env.destroy().await;
                Ok(Err((
                    t.to_string(),
                    platform_error_body(t, &m),
                    Some("error"),
                )))
            }
            InitState::TimedOut => {
                env.destroy().await;
                let secs = init_timeout.as_secs_f64();
                let m = format!(
                    "RequestId: {request_id} Error: Task timed out after {secs:.2} seconds"
                );
                Ok(Err((
                    "Sandbox.Timedout".into(),
                    platform_error_body("Sandbox.Timedout", &m),
                    Some("timeout"),
                )))
            }
        }
    }

    /// Runs one synchronous invocation.
    pub async fn invoke(&self, req: InvokeRequest) -> Result<InvokeOutput, InvokeError> {
        let ticket = self
            .admission
            .lock()
            .expect("admission")
            .admit(&req.config.function_name)
            .map_err(|t| InvokeError::Throttled { reason: t.reason() })?;
        let _slot = Slot {
            admission: &self.admission,
            ticket: Some(ticket),
        };
        let request_id = req
            .request_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let config = &req.config;
        let version = config.version.clone();
        let key = PoolKey {
            function: config.function_name.clone(),
            version: version.clone(),
            revision: config.revision_id.clone(),
        };
        // Provisioned environments serve first; the rest spills over to
        // on-demand ones.
        let (lent, idle) = match self.take_provisioned(&req) {
            Some((env, lent, dead)) => {
                if !dead.is_empty() {
                    tokio::spawn(Self::destroy_all(dead));
                }
                (Some(lent), Some(env))
            }
            None => {
                let (idle, stale) = self.take_idle(&key);
                if !stale.is_empty() {
                    tokio::spawn(Self::destroy_all(stale));
                }
                (None, idle)
            }
        };

        let mut log: Vec<String> = Vec::new();
        let started = Instant::now();
        let mut env = match idle {
            Some(mut env) => {
                env.thaw();
                env
            }
            None => {
                // A new environment: within the function's scaling rate.
                self.admission
                    .lock()
                    .expect("admission")
                    .scale_up(&key.function, Instant::now())
                    .map_err(|t| InvokeError::Throttled { reason: t.reason() })?;
                match self
                    .cold_start(&req, &request_id, &mut log, InitType::OnDemand)
                    .await?
                {
                    Ok(env) => env,
                    Err((error_type, body, status)) => {
                        // Init failed: report it as the invocation's error.
                        log.push(logs::start_line(&request_id, &version));
                        log.push(logs::end_line(&request_id));
                        log.push(logs::report_line(&Report {
                            request_id: &request_id,
                            duration_ms: ms(started.elapsed()),
                            memory_size_mb: config.memory_size,
                            max_memory_used_mb: 0,
                            init_duration_ms: None,
                            status: status.map(|s| (s, Some(error_type.as_str()))),
                        }));
                        let stream = logs::stream_name(&version);
                        return Ok(self.finish(&req, &stream, log, body, true, None, version));
                    }
                }
            }
        };

        log.push(logs::start_line(&request_id, &version));
        let timeout = Duration::from_secs(config.timeout.max(1) as u64);
        let invocation = Invocation {
            request_id: request_id.clone(),
            payload: req.payload.clone(),
            deadline_ms: now_ms() + timeout.as_millis() as u64,
            invoked_function_arn: req.invoked_arn.clone(),
            client_context: req.client_context.clone(),
            ..Invocation::default()
        };
        let invoke_started = Instant::now();
        let state = env.invoke(invocation, timeout).await;
        let Verdict {
            body,
            function_error,
            content_type,
            status,
            healthy,
        } = Verdict::of(
            state,
            &request_id,
            timeout,
            invoke_started + timeout,
            req.stream_to.as_ref(),
        )
        .await;
        let duration = invoke_started.elapsed();
        log.extend(env.take_output());
        let init_ms = env.init_duration.take().map(ms);
        let memory_used = env.memory_peak_mb();

        log.push(logs::end_line(&request_id));
        log.push(logs::report_line(&Report {
            request_id: &request_id,
            duration_ms: ms(duration),
            memory_size_mb: config.memory_size,
            max_memory_used_mb: memory_used,
            init_duration_ms: init_ms,
            status: status.as_ref().map(|(s, t)| (*s, t.as_deref())),
        }));
        let stream = env.stream.clone();
        if let Some(lent) = lent {
            self.return_provisioned(lent, env, healthy);
        } else if healthy {
            // Frozen later by `freeze_idle` if it stays unused.
            if let Some(env) = self.give_back(key, env) {
                tokio::spawn(env.destroy());
            }
        } else {
            // Timeouts and crashes reset the environment.
            tokio::spawn(env.destroy());
        }
        Ok(self.finish(
            &req,
            &stream,
            log,
            body,
            function_error,
            content_type,
            version,
        ))
    }

    /// Stores the invocation's log and builds the caller's answer. The Tail
    /// is cut before the lines move to the log writer, so nothing is copied.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        req: &InvokeRequest,
        stream: &str,
        log: Vec<String>,
        body: Bytes,
        function_error: bool,
        content_type: Option<String>,
        executed_version: String,
    ) -> InvokeOutput {
        let log_result = req.tail_logs.then(|| log_tail(&log));
        self.logs.append(&req.config.function_name, stream, log);
        InvokeOutput {
            body,
            function_error,
            executed_version,
            log_result,
            content_type,
        }
    }
}

/// Whether the bootstrap at a sandbox path has an execute bit.
fn sandbox_path_executable(sandbox_path: &Path, task_dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    sandbox_path
        .strip_prefix("/var/task")
        .ok()
        .and_then(|rel| std::fs::metadata(task_dir.join(rel)).ok())
        .is_some_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Variables Lambda sets that a function may set itself ("not reserved and can be extended
/// in your function configuration", AWS's docs): the function's value wins.
const UNRESERVED: [&str; 5] = ["LANG", "PATH", "LD_LIBRARY_PATH", "NODE_PATH", "PYTHONPATH"];

/// Sets `k` to `v` in `env`, replacing an earlier value.
fn set_var(env: &mut Vec<(String, String)>, k: &str, v: String) {
    env.retain(|(key, _)| key != k);
    env.push((k.to_string(), v));
}

/// Why `AWS_LAMBDA_EXEC_WRAPPER` cannot be executed, in the words of Go's exec (which
/// Lambda's init uses), when it names a file of the function's code that is missing or not
/// executable, or anything under `/opt` (layers are not attached yet, so it is empty). Other
/// paths are the sandbox's system files or a `PATH` lookup: exec decides.
fn wrapper_problem(wrapper: &Path, task_dir: &Path) -> Option<&'static str> {
    if wrapper.starts_with("/opt") {
        return Some("no such file or directory");
    }
    if wrapper.starts_with("/var/task") {
        if !sandbox_path_exists(wrapper, task_dir) {
            return Some("no such file or directory");
        }
        if !sandbox_path_executable(wrapper, task_dir) {
            return Some("permission denied");
        }
    }
    None
}

/// Whether a sandbox path of the bootstrap lookup exists in this package.
/// Only `/var/task` is populated today (layers and `/opt` come later).
fn sandbox_path_exists(sandbox_path: &Path, task_dir: &Path) -> bool {
    match sandbox_path.strip_prefix("/var/task") {
        Ok(rel) => task_dir.join(rel).is_file(),
        Err(_) => false,
    }
}
