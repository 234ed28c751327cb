//! The cold start: from a function's configuration and package to an initialised
//! execution environment.
//!
//! The package is extracted once per content hash (`code.rs`); the command comes from the
//! runtime (`launch/command.rs`: the package's `bootstrap`, or flint's client of a managed
//! runtime, behind the exec wrapper); the variables from the configuration and the platform
//! (`launch/variables.rs`). A pre-spawned sandbox of the same shape is claimed when one is
//! ready (`prewarm.rs`), else one is spawned; then init runs until the runtime's first
//! `/next`, its error, its exit or the init limit.

mod command;
mod variables;

pub(crate) use command::InvalidEntrypoint;
pub(crate) use variables::InitType;

use crate::code::CodeCache;
use crate::environment::{Environment, Execution, InitState};
use crate::error::InvokeError;
use crate::layers::LayerCache;
use crate::logs::{self, LogStore};
use crate::output::LogSink;
use crate::prewarm::Prewarm;
use crate::settings::InvokerSettings;
use bytes::Bytes;
use command::{Command, CommandError};
use flint_runtimes::sdk::SdkVersions;
use flint_runtimes::{HostRuntimes, ManagedRuntime, RuntimeError};
use flint_sandbox::{NetworkMode, SandboxShape, SandboxSpec, Sandboxer};
use flint_types::model::FunctionConfiguration;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use variables::Platform;

/// The function and the package an environment is started for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LaunchTarget<'a> {
    pub config: &'a FunctionConfiguration,
    /// Content address of the package, and where its zip is.
    pub code_blob: &'a str,
    pub code_path: &'a Path,
    /// The version's layers, in order (merged into `/opt`).
    pub layers: &'a [crate::LayerCode],
}

/// Why a function's init failed. The invocation that needed the environment fails with
/// Lambda's answer for it (`verdict.rs`); a provisioned set stops.
#[derive(Debug)]
pub(crate) enum InitFailure {
    InvalidEntrypoint(InvalidEntrypoint),
    /// The runtime posted `/init/error`.
    Reported {
        error_type: String,
        body: Bytes,
    },
    /// The runtime exited during init: how (`exit status 1`, `signal: killed`), or empty
    /// when the kernel gave no reason.
    Exited {
        how: String,
    },
    /// Init did not finish within `limit`.
    TimedOut {
        limit: Duration,
    },
}

/// Why a cold start gave no environment.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ColdStartError {
    /// The function's own init failed: the invocation's answer is an error body.
    #[error("the function's init failed: {0:?}")]
    Init(InitFailure),
    /// flint could not start an environment: the caller gets an API error.
    #[error(transparent)]
    Platform(#[from] InvokeError),
}

impl From<std::io::Error> for ColdStartError {
    fn from(e: std::io::Error) -> Self {
        Self::Platform(e.into())
    }
}

/// Starts execution environments: the only way the router and the provisioned sets get a
/// new one. [`Launcher`] starts sandboxes; tests start fakes.
pub(crate) trait Launch: Send + Sync + 'static {
    type Env: Execution;

    /// Starts a new environment for `target` and waits for its init; the init's output
    /// lines are appended to `log`.
    fn cold_start(
        &self,
        target: LaunchTarget<'_>,
        log: &mut Vec<String>,
        init_type: InitType,
    ) -> impl Future<Output = Result<Self::Env, ColdStartError>> + Send;
}

/// How long init may take: Lambda's init limit on demand; provisioned environments may
/// take max(130 s, the function's timeout) (up to 15 minutes).
fn init_limit(init_type: InitType, on_demand: Duration, function_timeout_s: i64) -> Duration {
    match init_type {
        InitType::OnDemand => on_demand,
        InitType::Provisioned => Duration::from_secs(130)
            .max(Duration::from_secs(function_timeout_s.max(1) as u64))
            .max(on_demand),
    }
}

/// The error of a runtime this host cannot run.
fn unsupported(runtime: &str, e: RuntimeError) -> InvokeError {
    InvokeError::Runtime {
        runtime: runtime.to_string(),
        reason: e.to_string(),
    }
}

/// Starts sandboxed environments (see the module docs).
pub(crate) struct Launcher {
    sandboxer: Arc<Sandboxer>,
    host: HostRuntimes,
    sdks: SdkVersions,
    code: Arc<CodeCache>,
    /// The merged `/opt` trees (`layers.rs`).
    layers: Arc<LayerCache>,
    runtime_dir: PathBuf,
    prewarm: Arc<Prewarm>,
    env_seq: AtomicU64,
    region: String,
    network: NetworkMode,
    init_timeout: Duration,
    /// Where environments' long output goes as it arrives (see `output.rs`).
    logs: LogStore,
}

impl Launcher {
    /// Materialises the managed runtimes, opens the code cache and starts the pre-spawn
    /// pool.
    pub fn new(
        sandboxer: Arc<Sandboxer>,
        settings: &InvokerSettings,
        logs: LogStore,
    ) -> Result<Self, InvokeError> {
        let runtime_dir = settings.data_dir.join("runtime");
        flint_runtimes::materialize(&runtime_dir)?;
        // The AWS SDKs, below the function's package and layers (flint-runtimes' sdk.rs).
        // Without them the runtimes still run: a failure is reported, not fatal.
        let sdks = flint_runtimes::sdk::place(&settings.runtime_sdk_dir, &runtime_dir)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, dir = %settings.runtime_sdk_dir.display(),
                    "could not place the runtimes' AWS SDKs; the runtimes run without them");
                SdkVersions::default()
            });
        let code = CodeCache::new(settings.data_dir.join("code"))?;
        code.sweep_partial()?;
        let code = Arc::new(code);
        let layers = LayerCache::new(settings.data_dir.join("layers"), code.clone())?;
        layers.sweep_partial()?;
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
        Ok(Self {
            sandboxer,
            host,
            sdks,
            code,
            layers: Arc::new(layers),
            runtime_dir,
            prewarm,
            env_seq: AtomicU64::new(0),
            region: settings.region.clone(),
            network: settings.network,
            init_timeout: settings.init_timeout,
            logs,
        })
    }

    /// The host interpreters managed runtimes run on.
    pub fn host(&self) -> &HostRuntimes {
        &self.host
    }

    /// The AWS SDKs the managed runtimes have.
    pub fn sdks(&self) -> &SdkVersions {
        &self.sdks
    }

    /// The pre-spawned environments.
    pub fn prewarm(&self) -> &Prewarm {
        &self.prewarm
    }

    /// The extracted package of `target` (`/var/task`) and its merged layers (`/opt`, `None`
    /// without layers). Extraction blocks: it runs on a blocking thread.
    async fn prepare_code(
        &self,
        target: LaunchTarget<'_>,
    ) -> Result<(PathBuf, Option<PathBuf>), InvokeError> {
        let (code, layers) = (self.code.clone(), self.layers.clone());
        let (blob, zip) = (target.code_blob.to_string(), target.code_path.to_path_buf());
        let layer_set = target.layers.to_vec();
        tokio::task::spawn_blocking(move || {
            Ok((code.prepare(&blob, &zip)?, layers.prepare(&layer_set)?))
        })
        .await
        .map_err(|e| InvokeError::Unavailable(e.to_string()))?
    }

    /// The sandbox of one environment of `config`, running `command`.
    fn sandbox_spec(
        &self,
        config: &FunctionConfiguration,
        (task_dir, opt_dir): (PathBuf, Option<PathBuf>),
        command: Command,
        platform: &Platform<'_>,
        log_write: std::io::PipeWriter,
    ) -> std::io::Result<SandboxSpec> {
        let n = self.env_seq.fetch_add(1, Ordering::Relaxed);
        let id = format!("env-{}-{n}", std::process::id());
        let mut spec = SandboxSpec::new(
            id,
            task_dir,
            command.argv,
            log_write.try_clone()?.into(),
            log_write.into(),
        );
        spec.runtime_dir = Some(self.runtime_dir.clone());
        // The merged layers, shared read-only by every environment of this layer set.
        spec.opt_dir = opt_dir;
        // flint-runtimes only asks for binds outside the sandbox's system
        // directories (those are already in its read-only root), and its `/var/lang`.
        spec.extra_ro_binds = command.read_only_mounts;
        spec.memory_mb = config.memory_size as u64;
        // Init runs on every host CPU, as on Lambda; `cold_start` sets the handler's share
        // (`handler_cpu_millis`) at the runtime's first /next.
        spec.cpu_millis = flint_sandbox::init_cpu_millis(self.sandboxer.host().host_cpus);
        spec.tmp_size_mb = config.ephemeral_storage.size as u64;
        spec.network = self.network;
        spec.env = variables::environment_variables(config, &command.runtime_env, platform);
        spec.runtime_api_port = Some(flint_sandbox::RUNTIME_API_PORT);
        spec.prestart = command.prestart;
        Ok(spec)
    }

    /// The handler's CPU share: in proportion to memory, as on Lambda.
    fn handler_cpu_millis(&self, config: &FunctionConfiguration) -> u64 {
        flint_sandbox::cpu_millis_for_memory(
            config.memory_size as u64,
            self.sandboxer.host().host_cpus,
        )
    }

    /// Claims a pre-spawned sandbox of `spec`'s shape, or spawns one; either way the shape
    /// is refilled in the background.
    async fn start(
        &self,
        spec: SandboxSpec,
        log_read: std::io::PipeReader,
        function: &str,
        stream: String,
    ) -> Result<Environment, InvokeError> {
        let sink = |stream: String| LogSink {
            store: self.logs.clone(),
            function: function.to_string(),
            stream,
        };
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
                    sink(stream.clone()),
                )
                .await
                {
                    Ok(env) => Ok(env),
                    Err(e) => {
                        tracing::warn!(error = %e, "a pre-spawned environment failed at its claim; spawning a new one");
                        Environment::start(self.sandboxer.clone(), spare, log_read, sink(stream))
                            .await
                    }
                }
            }
            None => Environment::start(self.sandboxer.clone(), spec, log_read, sink(stream)).await,
        };
        self.prewarm.replenish(&shape);
        started
    }
}

impl Launch for Launcher {
    type Env = Environment;

    async fn cold_start(
        &self,
        target: LaunchTarget<'_>,
        log: &mut Vec<String>,
        init_type: InitType,
    ) -> Result<Environment, ColdStartError> {
        let config = target.config;
        let runtime_id = config.runtime.as_deref().unwrap_or_default();
        let runtime = ManagedRuntime::parse(runtime_id).map_err(|e| unsupported(runtime_id, e))?;
        let (task_dir, opt_dir) = self.prepare_code(target).await?;
        let dirs = command::Dirs {
            task: &task_dir,
            opt: opt_dir.as_deref(),
        };
        let command = match command::resolve(&runtime, config, &self.host, dirs) {
            Ok(command) => command,
            Err(CommandError::Runtime(e)) => return Err(unsupported(runtime_id, e).into()),
            Err(CommandError::InvalidEntrypoint(e)) => {
                return Err(ColdStartError::Init(InitFailure::InvalidEntrypoint(e)));
            }
        };
        let stream = logs::stream_name(&config.version);
        let (log_read, log_write) = std::io::pipe()?;
        let platform = Platform {
            region: &self.region,
            stream: &stream,
            init_type,
        };
        let spec = self.sandbox_spec(config, (task_dir, opt_dir), command, &platform, log_write)?;
        let limit = init_limit(init_type, self.init_timeout, config.timeout);

        let program = spec.argv.first().cloned().unwrap_or_default();
        let mut env = match self
            .start(spec, log_read, &config.function_name, stream)
            .await
        {
            Ok(env) => env,
            Err(InvokeError::Sandbox(e)) => {
                return Err(match command::exec_failure(&e, &program) {
                    Some(invalid) => ColdStartError::Init(InitFailure::InvalidEntrypoint(invalid)),
                    None => InvokeError::Sandbox(e).into(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let state = env.wait_init(limit).await;
        log.extend(env.take_output());
        let failure = match state {
            // The first /next: the handler gets its memory-proportional share before its
            // first event (the router submits it only once this returns).
            InitState::Ready => match env.set_cpu_millis(self.handler_cpu_millis(config)) {
                Ok(()) => return Ok(env),
                Err(e) => InitFailure::Exited {
                    how: format!("setting the handler's CPU share: {e}"),
                },
            },
            InitState::InitError { error_type, body } => InitFailure::Reported { error_type, body },
            InitState::Exited(how) => InitFailure::Exited { how },
            InitState::TimedOut => InitFailure::TimedOut { limit },
        };
        env.destroy().await;
        Err(ColdStartError::Init(failure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioned_inits_may_take_longer_than_on_demand_ones() {
        let ten = Duration::from_secs(10);
        assert_eq!(init_limit(InitType::OnDemand, ten, 900), ten);
        assert_eq!(
            init_limit(InitType::Provisioned, ten, 3),
            Duration::from_secs(130)
        );
        assert_eq!(
            init_limit(InitType::Provisioned, ten, 900),
            Duration::from_secs(900)
        );
        // A longer on-demand limit (the operator's setting) is never shortened.
        let long = Duration::from_secs(200);
        assert_eq!(init_limit(InitType::Provisioned, long, 3), long);
    }
}
