//! One execution environment: a sandboxed runtime process, its Runtime API
//! server, and the pipe its output arrives on; and the two traits through which the
//! pools, the provisioned sets and the router drive it ([`Pooled`], [`Execution`]), so
//! that their decisions are unit-tested with fakes instead of sandboxes.

use crate::error::InvokeError;
use crate::output::{LogSink, Output};
use flint_runtime_api::{
    ExtensionsConfig, InitOutcome, Invocation, InvokeOutcome, RuntimeApi, RuntimeApiConfig,
    ShutdownReason,
};
use flint_sandbox::{ExitStatus, Sandbox, SandboxSpec, Sandboxer};
use std::future::Future;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

/// What the pools and the provisioned sets decide on: liveness, idleness and whether
/// the environment is frozen.
pub(crate) trait Pooled {
    /// Whether the runtime process is gone: an environment that died while idle (a crash in
    /// background work) is drained, never handed an event.
    fn has_exited(&mut self) -> bool;
    /// When its last invocation ended (or when it started).
    fn last_used(&self) -> Instant;
    fn is_frozen(&self) -> bool;
}

/// An execution environment as the router and the pools drive it.
pub(crate) trait Execution: Pooled + Send + 'static {
    /// Runs one invocation with a timeout.
    fn invoke(
        &mut self,
        inv: Invocation,
        timeout: Duration,
    ) -> impl Future<Output = RunState> + Send;
    /// Runs `work` (the rest of a streamed response) while reading the function's output,
    /// then everything already in the pipe: what a streaming function prints after its first
    /// chunk belongs to this invocation, not to the next one.
    fn collect_output_while<F: Future + Send>(
        &mut self,
        work: F,
    ) -> impl Future<Output = F::Output> + Send;
    /// The output lines collected since the last call (and not yet handed to the log store,
    /// which a long output is, in order, as it arrives).
    fn take_output(&mut self) -> Vec<String>;
    /// Lines to log in order with the function's output (START, the init's output).
    fn push_log(&mut self, lines: Vec<String>);
    /// The last lines handed to the log store since the last call (they cover the log tail).
    fn take_spilled_tail(&mut self) -> Vec<String>;
    /// How long init took, until the first invocation reports it.
    fn take_init_duration(&mut self) -> Option<Duration>;
    /// Peak memory use so far, in MB (REPORT's `Max Memory Used`).
    fn memory_peak_mb(&self) -> u64;
    /// The environment's `[version]` log stream.
    fn stream(&self) -> &str;
    /// Stops every process of the environment while it sits idle. Blocking.
    fn freeze(&mut self);
    /// Resumes a frozen environment (a no-op for one that is not frozen).
    fn thaw(&mut self);
    /// Kills the environment and removes everything it had.
    fn destroy(self) -> impl Future<Output = ()> + Send;
}

/// Destroys environments one after the other.
pub(crate) async fn destroy_all<E: Execution>(envs: Vec<E>) {
    for env in envs {
        env.destroy().await;
    }
}

/// Destroys environments in a background task (the caller does not wait for the kernel).
pub(crate) fn destroy_in_background<E: Execution>(envs: Vec<E>) {
    if !envs.is_empty() {
        tokio::spawn(destroy_all(envs));
    }
}

/// How init ended.
pub(crate) enum InitState {
    Ready,
    InitError {
        error_type: String,
        body: bytes::Bytes,
    },
    Exited(String),
    TimedOut,
}

/// How an invocation ended.
#[derive(Debug)]
pub(crate) enum RunState {
    Finished(InvokeOutcome),
    TimedOut,
    /// The runtime died; the message says how (`exit status 1`, `signal: killed`).
    Exited {
        how: String,
        oom: bool,
    },
}

pub(crate) struct Environment {
    sandbox: Option<Sandbox>,
    api: RuntimeApi,
    server: JoinHandle<()>,
    exit: AsyncFd<OwnedFd>,
    output: Output,
    /// `[version]` log stream of this environment.
    stream: String,
    /// Set until the first invocation reports it.
    init_duration: Option<Duration>,
    last_used: Instant,
    frozen: bool,
}

fn describe_exit(status: Option<ExitStatus>) -> String {
    match status {
        Some(ExitStatus::Exited(0)) | None => String::new(),
        Some(ExitStatus::Exited(code)) => format!("exit status {code}"),
        Some(ExitStatus::Signaled(sig)) => format!("signal: {}", signal_name(sig)),
    }
}

fn signal_name(sig: i32) -> String {
    match sig {
        9 => "killed".into(),
        11 => "segmentation fault".into(),
        6 => "aborted".into(),
        15 => "terminated".into(),
        n => format!("signal {n}"),
    }
}

/// The Runtime API's configuration for an environment of `spec`: what the Extensions API's
/// `register` answers is the function the environment's variables name.
fn api_config(spec: &SandboxSpec) -> RuntimeApiConfig {
    let var = |k: &str| {
        spec.env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    RuntimeApiConfig {
        extensions: ExtensionsConfig {
            function_name: var("AWS_LAMBDA_FUNCTION_NAME"),
            function_version: var("AWS_LAMBDA_FUNCTION_VERSION"),
            handler: var("_HANDLER"),
            // Only the invoke layer knows the account; extensions asking for it get none yet.
            account_id: String::new(),
            // External extensions are not started by the sandbox yet: expecting them would
            // hold init until its timeout.
            external: Vec::new(),
        },
        ..RuntimeApiConfig::default()
    }
}

impl Environment {
    /// Spawns the sandbox and starts serving its Runtime API.
    pub async fn start(
        sandboxer: Arc<Sandboxer>,
        mut spec: SandboxSpec,
        log_read: std::io::PipeReader,
        sink: LogSink,
    ) -> Result<Self, InvokeError> {
        spec.runtime_api_port = Some(flint_sandbox::RUNTIME_API_PORT);
        let config = api_config(&spec);
        let sandbox = tokio::task::spawn_blocking(move || sandboxer.spawn(spec))
            .await
            .map_err(|e| InvokeError::Unavailable(e.to_string()))??;
        Self::serve(sandbox, log_read, sink, config)
    }

    /// Like [`Environment::start`], on a pre-spawned environment of `spec`'s shape (see
    /// `prewarm.rs`); its output arrives on `log_read`, the pipe it was pre-spawned with.
    pub async fn start_prespawned(
        sandboxer: Arc<Sandboxer>,
        pre: flint_sandbox::Prespawned,
        spec: SandboxSpec,
        log_read: std::io::PipeReader,
        sink: LogSink,
    ) -> Result<Self, InvokeError> {
        let config = api_config(&spec);
        let sandbox = tokio::task::spawn_blocking(move || sandboxer.specialize(pre, spec))
            .await
            .map_err(|e| InvokeError::Unavailable(e.to_string()))??;
        Self::serve(sandbox, log_read, sink, config)
    }

    /// Starts serving the Runtime API of a started sandbox.
    fn serve(
        mut sandbox: Sandbox,
        log_read: std::io::PipeReader,
        sink: LogSink,
        config: RuntimeApiConfig,
    ) -> Result<Self, InvokeError> {
        let listener = sandbox.take_runtime_api_listener().ok_or_else(|| {
            InvokeError::Unavailable("sandbox gave no Runtime API listener".into())
        })?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let api = RuntimeApi::new(config);
        let server = api.spawn(listener);
        let pidfd = sandbox.pidfd().try_clone_to_owned()?;
        // SAFETY: `pidfd` is an open descriptor we own; the AsyncFd owns it
        // from here on, so it stays open and refers to the same process until
        // the AsyncFd (and with it the registration) is dropped.
        let exit = unsafe { AsyncFd::register(pidfd) }
            .map_err(|e| InvokeError::Unavailable(format!("watching the environment: {e}")))?;
        let pipe = pipe::Receiver::from_owned_fd(OwnedFd::from(log_read))?;
        Ok(Self {
            sandbox: Some(sandbox),
            api,
            server,
            exit,
            stream: sink.stream.clone(),
            output: Output::new(pipe, sink),
            init_duration: None,
            last_used: Instant::now(),
            frozen: false,
        })
    }

    fn sandbox(&self) -> &Sandbox {
        self.sandbox
            .as_ref()
            .expect("sandbox present until destroy")
    }

    fn exit_description(&mut self) -> (String, bool) {
        let sandbox = self
            .sandbox
            .as_mut()
            .expect("sandbox present until destroy");
        let status = sandbox.try_wait().ok().flatten();
        let oom = sandbox.oom_killed().unwrap_or(false);
        (describe_exit(status), oom)
    }

    /// Changes the environment's CPU quota (see [`Sandbox::set_cpu_millis`]).
    pub fn set_cpu_millis(&self, cpu_millis: u64) -> Result<(), InvokeError> {
        self.sandbox()
            .set_cpu_millis(cpu_millis)
            .map_err(|e| InvokeError::Unavailable(e.to_string()))
    }

    /// Waits until the runtime asks for its first event, reports an init
    /// error, exits, or `limit` passes.
    pub async fn wait_init(&mut self, limit: Duration) -> InitState {
        let started = Instant::now();
        let deadline = tokio::time::sleep(limit);
        tokio::pin!(deadline);
        let state = loop {
            tokio::select! {
                r = self.api.wait_init() => break match r {
                    Ok(InitOutcome::Ready) => InitState::Ready,
                    Ok(InitOutcome::InitError { error_type, body }) => InitState::InitError { error_type, body },
                    Err(e) => InitState::Exited(e.to_string()),
                },
                _ = self.exit.readable() => {
                    let (how, _) = self.exit_description();
                    break InitState::Exited(how);
                }
                _ = self.output.read_some() => {}
                _ = &mut deadline => break InitState::TimedOut,
            }
        };
        self.output.drain();
        if matches!(state, InitState::Ready) {
            self.init_duration = Some(started.elapsed());
            // Lambda logs one EXTENSION line per registered extension when init ends.
            let lines: Vec<String> = self.api.extensions().iter().map(|e| e.log_line()).collect();
            if !lines.is_empty() {
                self.output.push_lines(lines);
            }
        }
        state
    }
}

impl Pooled for Environment {
    fn has_exited(&mut self) -> bool {
        self.sandbox
            .as_mut()
            .is_none_or(|s| !matches!(s.try_wait(), Ok(None)))
    }

    fn last_used(&self) -> Instant {
        self.last_used
    }

    fn is_frozen(&self) -> bool {
        self.frozen
    }
}

impl Execution for Environment {
    async fn invoke(&mut self, inv: Invocation, timeout: Duration) -> RunState {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let api = self.api.clone();
        let call = api.invoke(inv);
        tokio::pin!(call);
        let state = loop {
            tokio::select! {
                r = &mut call => break match r {
                    Ok(outcome) => RunState::Finished(outcome),
                    Err(e) => RunState::Exited { how: e.to_string(), oom: false },
                },
                _ = self.exit.readable() => {
                    break RunState::Exited { how: String::new(), oom: false };
                }
                _ = self.output.read_some() => {}
                _ = &mut deadline => break RunState::TimedOut,
            }
        };
        // Lambda's invoke phase ends when the runtime answered AND every extension called
        // `/event/next` again: post-runtime extension work counts in Duration and keeps the
        // environment busy, under the same deadline. Without extensions this returns at once.
        // (Unlike Lambda the caller's answer also waits for it: the router answers after the
        // environment's invoke returns.)
        let state = match state {
            RunState::Finished(outcome) if !matches!(outcome, InvokeOutcome::Streaming(_)) => {
                let ready = self.api.wait_extensions_ready();
                tokio::pin!(ready);
                loop {
                    tokio::select! {
                        () = &mut ready => break RunState::Finished(outcome),
                        _ = self.exit.readable() => break RunState::Finished(outcome),
                        _ = self.output.read_some() => {}
                        _ = &mut deadline => break RunState::TimedOut,
                    }
                }
            }
            other => other,
        };
        self.output.drain();
        self.last_used = Instant::now();
        match state {
            RunState::Exited { how, .. } if how.is_empty() => {
                let (how, oom) = self.exit_description();
                RunState::Exited { how, oom }
            }
            other => other,
        }
    }

    async fn collect_output_while<F: Future + Send>(&mut self, work: F) -> F::Output {
        tokio::pin!(work);
        let done = loop {
            tokio::select! {
                done = &mut work => break done,
                _ = self.output.read_some() => {}
            }
        };
        self.output.drain();
        done
    }

    fn take_output(&mut self) -> Vec<String> {
        self.output.take()
    }

    fn push_log(&mut self, lines: Vec<String>) {
        self.output.push_lines(lines);
    }

    fn take_spilled_tail(&mut self) -> Vec<String> {
        self.output.take_spilled_tail()
    }

    fn take_init_duration(&mut self) -> Option<Duration> {
        self.init_duration.take()
    }

    fn memory_peak_mb(&self) -> u64 {
        self.sandbox()
            .memory_peak_bytes()
            .map(|b| b.div_ceil(1024 * 1024))
            .unwrap_or(0)
    }

    fn stream(&self) -> &str {
        &self.stream
    }

    /// A cgroupfs write and a wait for the kernel to settle.
    fn freeze(&mut self) {
        match self.sandbox().freeze() {
            Ok(()) => self.frozen = true,
            Err(e) => tracing::debug!(error = %e, "could not freeze environment"),
        }
    }

    fn thaw(&mut self) {
        if !self.frozen {
            return;
        }
        match self.sandbox().thaw() {
            Ok(()) => self.frozen = false,
            Err(e) => tracing::debug!(error = %e, "could not thaw environment"),
        }
    }

    async fn destroy(mut self) {
        // SHUTDOWN to the extensions subscribed to it, and Lambda's grace period for them
        // (2,000 ms with an external extension) before the kill.
        let grace = Duration::from_millis(2000);
        let deadline_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| (d + grace).as_millis() as u64);
        if self
            .api
            .shutdown_extensions(ShutdownReason::Spindown, deadline_ms)
        {
            let _ = tokio::time::timeout(grace, self.api.wait_extensions_ready()).await;
        }
        self.api.shutdown();
        self.server.abort();
        if let Some(sandbox) = self.sandbox.take() {
            let id = sandbox.id().to_string();
            let result = tokio::task::spawn_blocking(move || sandbox.destroy()).await;
            if let Ok(Err(e)) = result {
                tracing::warn!(env = id, error = %e, "could not fully destroy environment");
            }
        }
    }
}
