//! Server settings: command-line flags, environment variables (`FLINT_*`),
//! an optional `flint.toml`, and built-in defaults, in that precedence.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Default)]
pub struct ServeArgs {
    /// Address of the Lambda API [default: 127.0.0.1:9000]
    #[arg(long, env = "FLINT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Where metadata and code are kept [default: ./flint-data]
    #[arg(long, env = "FLINT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Settings file [default: ./flint.toml when present]
    #[arg(long, env = "FLINT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Region used in ARNs [default: us-east-1]
    #[arg(long, env = "FLINT_REGION")]
    pub region: Option<String>,
    /// Account id used in ARNs [default: 000000000000]
    #[arg(long, env = "FLINT_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// Base URL clients use to reach this server (for code download links)
    /// [default: http://<listen address>]
    #[arg(long, env = "FLINT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Account-wide concurrent executions [default: 1000]
    #[arg(long, env = "FLINT_ACCOUNT_CONCURRENCY")]
    pub account_concurrency: Option<i64>,
    /// New execution environments one function may add per 10 seconds
    /// (Lambda's scaling rate) [default: 1000]
    #[arg(long, env = "FLINT_SCALING_RATE")]
    pub scaling_rate: Option<u32>,
    /// Seconds an idle execution environment is kept warm [default: 600]
    #[arg(long, env = "FLINT_IDLE_TIMEOUT")]
    pub idle_timeout: Option<u64>,
    /// Pre-spawned, unspecialised execution environments kept ready per
    /// runtime kind once one was used, so cold starts skip the sandbox
    /// spawn; 0 disables them [default: 2]
    #[arg(long, env = "FLINT_PREWARM_ENVIRONMENTS")]
    pub prewarm_environments: Option<usize>,
    /// Megabytes of log kept on disk per function (`flint logs`,
    /// `/_flint/logs/<fn>`); older lines are dropped a segment at a time,
    /// never more than this plus one segment [default: 16]
    #[arg(long, env = "FLINT_LOG_RETENTION_MB")]
    pub log_retention_mb: Option<u64>,
    /// Where `flint runtime-sdk install` put the AWS SDKs of the managed
    /// runtimes (boto3, the AWS SDK for JavaScript v3)
    /// [default: <data dir>/runtime-sdk]
    #[arg(long, env = "FLINT_RUNTIME_SDK_DIR")]
    pub runtime_sdk_dir: Option<PathBuf>,
    /// Development only: run functions even where cgroup limits (memory,
    /// CPU, processes) cannot be enforced. Namespaces and seccomp stay on.
    #[arg(long, env = "FLINT_ALLOW_UNLIMITED", num_args = 0..=1, default_missing_value = "true")]
    pub allow_unlimited: Option<bool>,
    /// Development only: run functions as plain processes with flint's own
    /// user and privileges, no namespaces, cgroups or seccomp. For hosts
    /// that cannot sandbox; never for untrusted code.
    #[arg(long, env = "FLINT_UNISOLATED", num_args = 0..=1, default_missing_value = "true")]
    pub unisolated: Option<bool>,
    /// Where function URLs are served [default: the API's address with the next port, or
    /// port 0 when the API's port is 0]
    #[arg(long, env = "FLINT_URL_LISTEN")]
    pub url_listen: Option<SocketAddr>,
    /// The domain in function URLs: `<url-id>.lambda-url.<region>.<domain>` [default: localhost]
    #[arg(long, env = "FLINT_URL_BASE_DOMAIN")]
    pub url_base_domain: Option<String>,
    /// Asynchronous (Event) invocations run at most this many at a time [default: 16]
    #[arg(long, env = "FLINT_ASYNC_WORKERS")]
    pub async_workers: Option<usize>,
    /// Testing only: retry delays and event ages run on a clock that only
    /// moves through `POST /_flint/clock`.
    #[arg(long, env = "FLINT_TEST_CLOCK", num_args = 0..=1, default_missing_value = "true")]
    pub test_clock: Option<bool>,
    /// How requests are authenticated: `sigv4` (AWS Signature Version 4
    /// against the keys of `flint keys`) or `open` (no authentication, local
    /// development only) [default: open on a loopback address; required
    /// otherwise]
    #[arg(long, env = "FLINT_AUTH", value_enum)]
    pub auth: Option<AuthMode>,
    /// The key that encrypts access key secrets at rest
    /// [default: <data dir>/auth.key, created 0600 on first use]
    #[arg(long, env = "FLINT_AUTH_KEY_FILE")]
    pub auth_key_file: Option<PathBuf>,
    /// Cluster: keep metadata in PostgreSQL, `postgres://user[:password]@host:port/db`
    /// (shared by every node) [default: SQLite in the data directory]
    #[arg(long, env = "FLINT_METADATA_URL")]
    pub metadata_url: Option<String>,
    /// Cluster: keep code packages in an S3-compatible bucket,
    /// `s3://bucket[/prefix]?endpoint=http://host:port&region=r`; credentials
    /// from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; each node caches what it
    /// runs under <data dir>/blob-cache [default: files in the data directory]
    #[arg(long, env = "FLINT_BLOB_URL")]
    pub blob_url: Option<String>,
}

/// How `flint serve` authenticates requests.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// AWS Signature Version 4 with the access keys of `flint keys`.
    Sigv4,
    /// Every request is accepted unsigned (local development only).
    Open,
}

/// The `flint.toml` file: the same settings as the flags, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    region: Option<String>,
    account_id: Option<String>,
    public_url: Option<String>,
    account_concurrency: Option<i64>,
    scaling_rate: Option<u32>,
    idle_timeout: Option<u64>,
    prewarm_environments: Option<usize>,
    log_retention_mb: Option<u64>,
    runtime_sdk_dir: Option<PathBuf>,
    allow_unlimited: Option<bool>,
    unisolated: Option<bool>,
    url_listen: Option<SocketAddr>,
    url_base_domain: Option<String>,
    async_workers: Option<usize>,
    test_clock: Option<bool>,
    auth: Option<AuthMode>,
    auth_key_file: Option<PathBuf>,
    metadata_url: Option<String>,
    blob_url: Option<String>,
}

/// Resolved settings of `flint serve`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub account_id: String,
    pub public_url: Option<String>,
    pub account_concurrency: i64,
    /// New environments per function per 10 s.
    pub scaling_rate: u32,
    pub idle_timeout_secs: u64,
    pub prewarm_environments: usize,
    pub log_retention_mb: u64,
    pub runtime_sdk_dir: PathBuf,
    pub allow_unlimited: bool,
    pub unisolated: bool,
    /// `None`: derived from the API's address ([`Settings::url_listen_for`]).
    pub url_listen: Option<SocketAddr>,
    pub url_base_domain: String,
    pub async_workers: usize,
    pub test_clock: bool,
    pub auth: AuthMode,
    /// `None`: the data directory's `auth.key`.
    pub auth_key_file: Option<PathBuf>,
    /// `None`: SQLite in the data directory.
    pub metadata_url: Option<String>,
    /// `None`: files in the data directory.
    pub blob_url: Option<String>,
}

impl Settings {
    /// Where the function URL listener binds, given where the API listens.
    pub fn url_listen_for(&self, api: SocketAddr) -> SocketAddr {
        self.url_listen.unwrap_or_else(|| {
            let port = match api.port() {
                0 => 0,
                p => p.saturating_add(1),
            };
            SocketAddr::new(api.ip(), port)
        })
    }

    /// Every path in the result is absolute: flags and `FLINT_*` variables
    /// are taken relative to the working directory `flint serve` started
    /// in, paths in `flint.toml` relative to the file's own directory (as
    /// Cargo does for its config files). The sandbox and the code cache
    /// need absolute paths, and nothing later depends on the working
    /// directory.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let cwd = std::env::current_dir().context("reading the working directory")?;
        Self::resolve_in(args, &cwd)
    }

    /// [`Settings::resolve`] with `cwd` as the working directory.
    fn resolve_in(args: ServeArgs, cwd: &Path) -> anyhow::Result<Self> {
        let file = FileSettings::load(args.config.as_deref(), cwd)?;
        let args = ServeArgs {
            data_dir: args.data_dir.map(|p| absolute(cwd, &p)),
            runtime_sdk_dir: args.runtime_sdk_dir.map(|p| absolute(cwd, &p)),
            auth_key_file: args.auth_key_file.map(|p| absolute(cwd, &p)),
            ..args
        };
        let mut settings = Settings {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:9000".parse().expect("valid default")),
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| cwd.join("flint-data")),
            region: args
                .region
                .or(file.region)
                .unwrap_or_else(|| "us-east-1".into()),
            account_id: args
                .account_id
                .or(file.account_id)
                .unwrap_or_else(|| "000000000000".into()),
            public_url: args.public_url.or(file.public_url),
            account_concurrency: args
                .account_concurrency
                .or(file.account_concurrency)
                .unwrap_or(1000),
            scaling_rate: args.scaling_rate.or(file.scaling_rate).unwrap_or(1000),
            idle_timeout_secs: args.idle_timeout.or(file.idle_timeout).unwrap_or(600),
            prewarm_environments: args
                .prewarm_environments
                .or(file.prewarm_environments)
                .unwrap_or(2),
            log_retention_mb: args
                .log_retention_mb
                .or(file.log_retention_mb)
                .unwrap_or(16),
            // Set below: its default is inside the data dir.
            runtime_sdk_dir: PathBuf::new(),
            allow_unlimited: args
                .allow_unlimited
                .or(file.allow_unlimited)
                .unwrap_or(false),
            unisolated: args.unisolated.or(file.unisolated).unwrap_or(false),
            url_listen: args.url_listen.or(file.url_listen),
            url_base_domain: args
                .url_base_domain
                .or(file.url_base_domain)
                .unwrap_or_else(|| "localhost".into()),
            async_workers: args.async_workers.or(file.async_workers).unwrap_or(16),
            test_clock: args.test_clock.or(file.test_clock).unwrap_or(false),
            auth: AuthMode::Open,
            auth_key_file: args.auth_key_file.or(file.auth_key_file),
            metadata_url: args.metadata_url.or(file.metadata_url),
            blob_url: args.blob_url.or(file.blob_url),
        };
        settings.runtime_sdk_dir = args
            .runtime_sdk_dir
            .or(file.runtime_sdk_dir.map(|p| absolute(cwd, &p)))
            .unwrap_or_else(|| settings.data_dir.join("runtime-sdk"));
        settings.auth = match args.auth.or(file.auth) {
            Some(mode) => mode,
            // Open only where nobody else can reach the server: a newcomer's
            // `flint serve` works at once, and exposing an unauthenticated
            // API to a network takes an explicit `--auth open`.
            None if settings.listen.ip().is_loopback() => AuthMode::Open,
            None => bail!(
                "flint listens on {} (not a loopback address) and no authentication mode was chosen: \
                 pass --auth sigv4 (and create keys with `flint keys create`) or, to accept \
                 unauthenticated requests from the network, --auth open",
                settings.listen
            ),
        };
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("account id must be 12 digits, got {:?}", self.account_id);
        }
        let resources = flint_types::ResourceContext {
            region: self.region.clone(),
            account: self.account_id.clone(),
        };
        // The region must be one that parses inside an ARN.
        flint_types::FunctionRef::parse(&resources.function_arn("probe"), 140, &resources)
            .map_err(|_| {
                anyhow::anyhow!("region {:?} is not a valid AWS region name", self.region)
            })?;
        if self.async_workers == 0 {
            bail!("async workers must be at least 1");
        }
        if self.scaling_rate == 0 {
            bail!("scaling rate must be at least 1 environment per 10 seconds");
        }
        if self.prewarm_environments > 64 {
            bail!("prewarm environments must be at most 64 per runtime kind");
        }
        if !(1..=1_048_576).contains(&self.log_retention_mb) {
            bail!("log retention must be between 1 and 1048576 MB per function");
        }
        if let Some(url) = &self.metadata_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            bail!("metadata URL must be postgres://user@host:port/db, got {url:?}");
        }
        if let Some(url) = &self.blob_url {
            flint_store::S3Settings::parse_url(url).map_err(|e| anyhow::anyhow!("blob URL {e}"))?;
        }
        if self.account_concurrency < 100 {
            bail!("account concurrency must be at least 100 (Lambda's unreserved minimum)");
        }
        Ok(())
    }
}

/// `path` made absolute against `base`, with `.` components dropped. `..`
/// stays, as in `std::path::absolute`: removing it by hand would be wrong
/// after a symbolic link, and the directory need not exist yet.
fn absolute(base: &Path, path: &Path) -> PathBuf {
    base.join(path)
        .components()
        .filter(|c| *c != std::path::Component::CurDir)
        .collect()
}

impl FileSettings {
    /// The settings file `--config` names, else `./flint.toml` when there
    /// is one, else nothing; its paths made absolute against its own
    /// directory.
    fn load(config: Option<&Path>, cwd: &Path) -> anyhow::Result<Self> {
        let path = match config {
            Some(path) => cwd.join(path),
            None if cwd.join("flint.toml").exists() => cwd.join("flint.toml"),
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading settings file {}", path.display()))?;
        let mut file: Self = toml::from_str(&text)
            .with_context(|| format!("parsing settings file {}", path.display()))?;
        let base = path.parent().unwrap_or(cwd);
        file.data_dir = file.data_dir.map(|p| absolute(base, &p));
        file.auth_key_file = file.auth_key_file.map(|p| absolute(base, &p));
        Ok(file)
    }
}

/// The data directory and master key file that `flint serve` would use
/// with these flags (or variables), read the same way: `flint keys` works
/// on the server's data directory without repeating `flint.toml`'s paths.
pub fn store_paths(
    data_dir: Option<PathBuf>,
    auth_key_file: Option<PathBuf>,
    config: Option<&Path>,
) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    let cwd = std::env::current_dir().context("reading the working directory")?;
    let file = FileSettings::load(config, &cwd)?;
    let data_dir = data_dir
        .map(|p| absolute(&cwd, &p))
        .or(file.data_dir)
        .unwrap_or_else(|| cwd.join("flint-data"));
    let key = auth_key_file
        .map(|p| absolute(&cwd, &p))
        .or(file.auth_key_file);
    Ok((data_dir, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flint.toml");
        std::fs::write(
            &file,
            "region = \"eu-west-1\"\nlisten = \"127.0.0.1:9100\"\nlog_retention_mb = 4\n\
             metadata_url = \"postgres://flint@db:5432/flint\"\n",
        )
        .unwrap();
        let s = Settings::resolve(ServeArgs {
            config: Some(file),
            listen: Some("127.0.0.1:9200".parse().unwrap()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.listen.port(), 9200);
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(s.log_retention_mb, 4);
        assert_eq!(
            s.metadata_url.as_deref(),
            Some("postgres://flint@db:5432/flint")
        );
        assert_eq!(s.blob_url, None, "files by default");
        assert_eq!(s.account_id, "000000000000");
        assert!(s.data_dir.is_absolute(), "{}", s.data_dir.display());
        assert!(s.data_dir.ends_with("flint-data"));
        assert_eq!(s.auth, AuthMode::Open);
    }

    #[test]
    fn authentication_defaults_to_open_only_on_loopback() {
        let public = || ServeArgs {
            listen: Some("0.0.0.0:9000".parse().unwrap()),
            ..Default::default()
        };
        let e = Settings::resolve(public()).unwrap_err().to_string();
        assert!(e.contains("--auth sigv4"), "{e}");
        let s = Settings::resolve(ServeArgs {
            auth: Some(AuthMode::Sigv4),
            ..public()
        })
        .unwrap();
        assert_eq!(s.auth, AuthMode::Sigv4);
        let s = Settings::resolve(ServeArgs {
            auth: Some(AuthMode::Open),
            ..public()
        })
        .unwrap();
        assert_eq!(s.auth, AuthMode::Open);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flint.toml");
        std::fs::write(&file, "auth = \"sigv4\"\n").unwrap();
        let s = Settings::resolve(ServeArgs {
            config: Some(file),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.auth, AuthMode::Sigv4);
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad_account = ServeArgs {
            account_id: Some("123".into()),
            ..Default::default()
        };
        assert!(Settings::resolve(bad_account).is_err());
        let bad_region = ServeArgs {
            region: Some("moon".into()),
            ..Default::default()
        };
        assert!(Settings::resolve(bad_region).is_err());
        let no_log_kept = ServeArgs {
            log_retention_mb: Some(0),
            ..Default::default()
        };
        assert!(Settings::resolve(no_log_kept).is_err());
        for (metadata_url, blob_url) in [
            (Some("mysql://db/flint"), None),
            (None, Some("http://bucket")),
            (None, Some("s3://bucket?endpoint=127.0.0.1:3900")),
        ] {
            let args = ServeArgs {
                metadata_url: metadata_url.map(str::to_string),
                blob_url: blob_url.map(str::to_string),
                ..Default::default()
            };
            assert!(
                Settings::resolve(args).is_err(),
                "{metadata_url:?} {blob_url:?}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flint.toml");
        std::fs::write(&file, "colour = \"blue\"\n").unwrap();
        assert!(
            Settings::resolve(ServeArgs {
                config: Some(file),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn relative_paths_become_absolute_at_start() {
        let cwd = Path::new("/srv/work");
        let s = Settings::resolve_in(ServeArgs::default(), cwd).unwrap();
        assert_eq!(s.data_dir, Path::new("/srv/work/flint-data"));
        assert_eq!(s.auth_key_file, None);
        assert_eq!(s.log_retention_mb, 16);

        let s = Settings::resolve_in(
            ServeArgs {
                data_dir: Some("./state/../data".into()),
                auth_key_file: Some("keys/auth.key".into()),
                ..Default::default()
            },
            cwd,
        )
        .unwrap();
        assert_eq!(s.data_dir, Path::new("/srv/work/state/../data"));
        assert_eq!(
            s.auth_key_file.as_deref(),
            Some(Path::new("/srv/work/keys/auth.key"))
        );

        // Paths in a settings file are relative to the file, wherever
        // flint was started from.
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        std::fs::create_dir(&conf).unwrap();
        std::fs::write(
            conf.join("flint.toml"),
            "data_dir = \"data\"\nauth_key_file = \"./secret/auth.key\"\n",
        )
        .unwrap();
        let s = Settings::resolve_in(
            ServeArgs {
                config: Some("conf/flint.toml".into()),
                ..Default::default()
            },
            dir.path(),
        )
        .unwrap();
        assert_eq!(s.data_dir, conf.join("data"));
        assert_eq!(s.auth_key_file, Some(conf.join("secret/auth.key")));

        // ./flint.toml is found in the working directory; a flag still wins.
        let s = Settings::resolve_in(
            ServeArgs {
                data_dir: Some("flag-dir".into()),
                ..Default::default()
            },
            &conf,
        )
        .unwrap();
        assert_eq!(s.data_dir, conf.join("flag-dir"));
        assert_eq!(s.auth_key_file, Some(conf.join("secret/auth.key")));
    }
}
