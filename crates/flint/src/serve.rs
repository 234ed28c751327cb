//! `flint serve`: open the stores, start the API, stop cleanly on signals.

use crate::config::{AuthMode, Settings};
use anyhow::Context;
use axum::serve::ListenerExt;
use flint_api::{AppState, HostCannotRun, router};
use flint_control::{CodeUrlSigner, ControlPlane, ControlSettings};
use flint_store::{
    BlobStore, FsBlobStore, MetadataStore, PostgresStore, S3BlobStore, S3Settings, SqliteStore,
};
use rand::RngCore;
use std::path::Path;
use std::sync::Arc;

pub fn run(settings: Settings) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLINT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(settings))
}

/// The key that signs code download URLs; created once per data directory.
fn signing_key(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("code-url.key");
    if let Ok(key) = std::fs::read(&path)
        && key.len() == 32
    {
        return Ok(key);
    }
    let mut key = vec![0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let tmp = data_dir.join("code-url.key.tmp");
    std::fs::write(&tmp, &key).context("writing the code URL signing key")?;
    std::fs::rename(&tmp, &path).context("installing the code URL signing key")?;
    Ok(key)
}

/// The metadata store with functions' environment variables sealed under flint's master key
/// (the access keys' `auth.key`), after sealing what an older flint stored in plaintext.
fn sealed_metadata(
    meta: Arc<dyn MetadataStore>,
    settings: &Settings,
) -> anyhow::Result<flint_control::SealedEnvironments> {
    let key_file = settings
        .auth_key_file
        .clone()
        .unwrap_or_else(|| flint_auth::KeyStore::paths(&settings.data_dir).1);
    let master = flint_seal::load_or_create_master_key(&key_file)
        .context("opening the master key that encrypts secrets at rest")?;
    let sealed = flint_control::SealedEnvironments::new(
        meta,
        flint_control::SealedEnvironments::sealer_from_master(&master),
    );
    let migrated = sealed
        .seal_existing()
        .context("encrypting stored environment variables")?;
    if migrated > 0 {
        tracing::info!(
            documents = migrated,
            "encrypted environment variables stored in plaintext by an older flint"
        );
    }
    Ok(sealed)
}

/// The metadata store the settings choose: embedded SQLite, or the cluster's PostgreSQL.
fn open_metadata(settings: &Settings) -> anyhow::Result<Arc<dyn MetadataStore>> {
    Ok(match &settings.metadata_url {
        Some(url) => {
            Arc::new(PostgresStore::open(url).context("opening the PostgreSQL metadata database")?)
        }
        None => Arc::new(
            SqliteStore::open(&settings.data_dir.join("metadata.db"))
                .context("opening the metadata database")?,
        ),
    })
}

/// The blob store the settings choose: files in the data directory, or an S3 bucket with
/// a read cache in the data directory.
fn open_blobs(settings: &Settings) -> anyhow::Result<Arc<dyn BlobStore>> {
    Ok(match &settings.blob_url {
        Some(url) => {
            let s3 = S3Settings::parse_url(url)
                .map_err(|e| anyhow::anyhow!("blob URL {e}"))?
                .with_env_credentials();
            Arc::new(
                S3BlobStore::open(&s3, &settings.data_dir.join("blob-cache"))
                    .context("opening the S3 blob store")?,
            )
        }
        None => Arc::new(
            FsBlobStore::open(&settings.data_dir.join("blobs"))
                .context("opening the blob store")?,
        ),
    })
}

/// Hidden first argument that turns the binary into the sandbox spawn helper.
pub const SANDBOX_HELPER_ARG: &str = "__sandbox-helper";

/// A short, stable name for the flint instance that owns `data_dir`. Its
/// execution environments' cgroups live under `flint/<instance>`, so several
/// flint servers on one host (or tests in parallel) never clean up each
/// other's environments.
fn instance_id(data_dir: &Path) -> String {
    use sha2::Digest;
    let canonical = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = sha2::Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..6])
}

/// Holds an exclusive lock on the data directory for the server's lifetime:
/// two servers writing one directory would corrupt each other's view.
fn lock_data_dir(data_dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = data_dir.join("flint.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another flint server is using the data directory {}",
            data_dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    let _lock = lock_data_dir(&settings.data_dir)?;
    let meta = sealed_metadata(open_metadata(&settings)?, &settings)?;
    let blobs = open_blobs(&settings)?;

    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let local = listener.local_addr()?;
    let public_url = settings.public_url.clone().unwrap_or_else(|| {
        let host = if local.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            local.ip().to_string()
        };
        format!("http://{host}:{}", local.port())
    });

    let url_listener = tokio::net::TcpListener::bind(settings.url_listen_for(settings.listen))
        .await
        .with_context(|| {
            format!(
                "binding the function URL listener {}",
                settings.url_listen_for(settings.listen)
            )
        })?;
    let url_local = url_listener.local_addr()?;

    let control = ControlPlane::new(
        Arc::new(meta),
        blobs,
        ControlSettings {
            resources: flint_types::ResourceContext {
                region: settings.region.clone(),
                account: settings.account_id.clone(),
            },
            account_concurrency: settings.account_concurrency,
            function_urls: flint_control::FunctionUrlSettings {
                base_domain: settings.url_base_domain.clone(),
                port: url_local.port(),
            },
            ..Default::default()
        },
        CodeUrlSigner::new(public_url, signing_key(&settings.data_dir)?),
    );
    // Packages written by requests that crashed before committing.
    let swept = control
        .collect_garbage()
        .context("sweeping unreferenced code")?;
    if swept > 0 {
        tracing::info!(swept, "removed unreferenced code packages");
    }

    let invoker = start_invoker(&settings);
    if let Ok(invoker) = &invoker {
        // Reserved caps and provisioned environments survive a restart.
        match flint_api::restore_concurrency(&control, invoker) {
            Ok(0) => {}
            Ok(n) => tracing::info!(configs = n, "re-creating provisioned concurrency"),
            Err(e) => tracing::error!(error = %e, "could not restore concurrency settings"),
        }
    }
    let control = Arc::new(control);
    let (events, test_clock) = start_events(&settings, &control, &invoker)?;
    let state = AppState {
        control,
        invoker: invoker.clone(),
        events: Some(events.clone()),
        test_clock,
    };
    let app = router(state.clone());
    // Access keys: required with --auth sigv4; with --auth open only used (for AWS_IAM
    // function URLs) when some were created.
    let keys = match settings.auth {
        AuthMode::Sigv4 => Some(Arc::new(crate::keys::open_store(
            &settings.data_dir,
            settings.auth_key_file.as_deref(),
        )?)),
        AuthMode::Open if settings.data_dir.join("keys.db").exists() => Some(Arc::new(
            crate::keys::open_store(&settings.data_dir, settings.auth_key_file.as_deref())?,
        )),
        AuthMode::Open => None,
    };
    let url_app = flint_api::url_router(flint_api::UrlListener {
        state,
        keys: keys.clone(),
        base_domain: settings.url_base_domain.clone(),
    });
    let app = match settings.auth {
        AuthMode::Open => {
            tracing::warn!("authentication is off (--auth open)");
            eprintln!(
                "flint: WARNING: authentication is OFF (--auth open): every request is accepted, signed or not. \
                 Local development only; use --auth sigv4 with keys from `flint keys create` anywhere else."
            );
            app
        }
        AuthMode::Sigv4 => {
            let keys = keys.clone().expect("opened for sigv4");
            let active = keys.active_count().context("reading the access keys")?;
            eprintln!(
                "flint: authentication: AWS Signature Version 4 (--auth sigv4), {active} active access key(s)"
            );
            if active == 0 {
                eprintln!(
                    "flint: WARNING: no active access keys: every request is refused until one is created with `flint keys create --data-dir {}`",
                    settings.data_dir.display()
                );
            }
            flint_api::with_sigv4(
                app,
                Arc::new(flint_api::SigV4Auth {
                    keys,
                    region: settings.region.clone(),
                }),
            )
        }
    };
    // Tests and scripts read this line to find the port when --listen uses port 0.
    println!("flint listening on http://{local}");
    tracing::info!(
        data_dir = %settings.data_dir.display(),
        region = %settings.region,
        account = %settings.account_id,
        auth = ?settings.auth,
        "flint serving the Lambda API"
    );
    eprintln!(
        "flint: function URLs on http://{url_local} (http://<url-id>.lambda-url.{}.{}:{}/, or http://{url_local}/_url/<url-id>/...)",
        settings.region,
        settings.url_base_domain,
        url_local.port()
    );
    let (stop_urls, urls_stopped) = tokio::sync::oneshot::channel::<()>();
    let urls = tokio::spawn(async move {
        axum::serve(
            url_listener.tap_io(no_delay),
            url_app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = urls_stopped.await;
        })
        .await
    });
    axum::serve(listener.tap_io(no_delay), app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving the API")?;
    let _ = stop_urls.send(());
    match urls.await {
        Ok(Err(e)) => tracing::warn!(error = %e, "the function URL listener failed"),
        Err(e) => tracing::warn!(error = %e, "the function URL listener panicked"),
        Ok(Ok(())) => {}
    }
    // Attempts still running are abandoned: their events stay queued and
    // run again at the next start.
    events.stop();
    if let Ok(invoker) = &invoker {
        // No environment outlives the server.
        invoker.shutdown().await;
    }
    tracing::info!("flint stopped");
    Ok(())
}

/// Opens the durable asynchronous-invocation queue (`events.db`, its own
/// SQLite file so event traffic never waits behind control-plane writes)
/// and starts its worker.
fn start_events(
    settings: &Settings,
    control: &Arc<ControlPlane>,
    invoker: &Result<Arc<flint_invoke::Invoker>, HostCannotRun>,
) -> anyhow::Result<(
    Arc<flint_events::EventQueue>,
    Option<Arc<flint_events::ManualClock>>,
)> {
    use flint_events::{Clock, EventQueue, ManualClock, SystemClock};
    let store = SqliteStore::open(&settings.data_dir.join("events.db"))
        .context("opening the event queue database")?;
    let (clock, test_clock): (Arc<dyn Clock>, _) = if settings.test_clock {
        eprintln!("flint: WARNING: test clock: asynchronous retries wait for POST /_flint/clock");
        let manual = Arc::new(ManualClock::starting_at(
            flint_events::clock::system_now_ms(),
        ));
        (manual.clone(), Some(manual))
    } else {
        (Arc::new(SystemClock), None)
    };
    let queue = EventQueue::open(Arc::new(store), clock).context("loading the event queue")?;
    let executor = Arc::new(flint_api::ServerExecutor::new(
        control.clone(),
        invoker.clone(),
    ));
    queue.start(executor, settings.async_workers);
    Ok((queue, test_clock))
}

/// Testing only: when set, flint treats the host as one without namespaces.
const TEST_NO_ISOLATION_ENV: &str = "FLINT_TEST_NO_ISOLATION";

/// Sets up execution environments, or says loudly why functions cannot run
/// here (the control plane is served either way).
fn start_invoker(settings: &Settings) -> Result<Arc<flint_invoke::Invoker>, HostCannotRun> {
    use flint_sandbox::{Sandboxer, SandboxerConfig};
    let instance = instance_id(&settings.data_dir);
    let defaults = SandboxerConfig::default();
    let config = SandboxerConfig {
        require_cgroups: !settings.allow_unlimited,
        unisolated: settings.unisolated,
        cgroup_parent: format!("flint/{instance}"),
        state_dir: defaults.state_dir.join(&instance),
        // On the data disk: the state directory may be a tmpfs (`/run`).
        disk_tmp_dir: Some(settings.data_dir.join("ephemeral")),
        spawn_helper: std::env::current_exe()
            .ok()
            .map(|exe| (exe, vec![SANDBOX_HELPER_ARG.into()])),
        ..defaults
    };
    let mut host = flint_sandbox::probe_host();
    if std::env::var_os(TEST_NO_ISOLATION_ENV).is_some() {
        // Lets the test suite see what a host without namespaces gets, on a host that has them.
        host.namespaces = false;
        host.user_namespaces = false;
    }
    let sandboxer = match Sandboxer::with_host(host, config) {
        Ok(s) => s,
        Err(e) => {
            let why = format!(
                "this host cannot isolate functions ({e}); invocations are refused. \
                 For development only, `--unisolated` runs functions without any isolation"
            );
            tracing::error!("{why}");
            eprintln!("flint: WARNING: {why}");
            return Err(HostCannotRun(why));
        }
    };
    if sandboxer.is_unisolated() {
        eprintln!(
            "flint: WARNING: UNISOLATED DEVELOPMENT MODE: functions run as plain processes with \
             flint's own user and privileges: no namespaces, no memory/CPU/process limits, no \
             seccomp. Never run untrusted code like this. (host: {})",
            sandboxer.host()
        );
    } else {
        tracing::info!(isolation = %sandboxer.host(), "execution environments are sandboxed");
    }
    if !sandboxer.cgroups_enforced() && !sandboxer.is_unisolated() {
        eprintln!(
            "flint: WARNING: development mode: memory, CPU and process limits are NOT enforced ({})",
            sandboxer.cgroup_problems().join("; ")
        );
    }
    tracing::info!(tmp = %sandboxer.tmp_backing(), "environments' /tmp");
    if sandboxer.tmp_backing().starts_with("memory") {
        eprintln!(
            "flint: WARNING: /tmp is in memory, not on disk: {}",
            sandboxer.tmp_backing()
        );
    }
    if let Err(e) = sandboxer.remove_stale_environments() {
        tracing::warn!(error = %e, "could not remove environments left by a previous run");
    }
    let mut invoke_settings = flint_invoke::InvokerSettings::new(settings.data_dir.join("invoke"));
    invoke_settings.region = settings.region.clone();
    invoke_settings.account_concurrency = settings.account_concurrency.max(1) as usize;
    invoke_settings.idle_timeout = std::time::Duration::from_secs(settings.idle_timeout_secs);
    invoke_settings.scaling_rate = flint_invoke::admission::ScalingRate {
        environments: settings.scaling_rate,
        per: std::time::Duration::from_secs(10),
    };
    invoke_settings.prewarm_environments = settings.prewarm_environments;
    invoke_settings.log_retention_bytes = settings.log_retention_mb * 1024 * 1024;
    invoke_settings.runtime_sdk_dir = settings.runtime_sdk_dir.clone();
    match flint_invoke::Invoker::start(Arc::new(sandboxer), invoke_settings) {
        Ok(invoker) => {
            tracing::info!(runtimes = %invoker.host_runtimes().describe(), "managed runtimes");
            tracing::info!(sdks = %invoker.runtime_sdks().describe(), "AWS SDKs of the managed runtimes");
            Ok(invoker)
        }
        Err(e) => {
            let why = format!("execution environments could not be prepared: {e}");
            eprintln!("flint: WARNING: {why}");
            Err(HostCannotRun(why))
        }
    }
}

/// No Nagle delay on accepted connections: a streamed response is written in pieces, and
/// without TCP_NODELAY a piece that follows the (not yet acknowledged) head would wait for
/// the client's delayed ACK, ~40 ms.
fn no_delay(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    // Live tail streams would otherwise keep graceful shutdown waiting.
    flint_api::stop_live_tails();
    tracing::info!("shutting down: finishing requests in flight");
}
