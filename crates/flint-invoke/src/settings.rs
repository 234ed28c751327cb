//! Settings of the invocation router.

use crate::admission::ScalingRate;
use flint_sandbox::NetworkMode;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Where `flint runtime-sdk install` put the managed runtimes' AWS SDKs (linked into
    /// the runtime dir at start; absent: the runtimes run without them).
    pub runtime_sdk_dir: PathBuf,
}

impl InvokerSettings {
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            runtime_sdk_dir: data_dir.join("runtime-sdk"),
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
