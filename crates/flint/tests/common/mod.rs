//! Shared harness for the AWS SDK integration tests: runs the real `flint`
//! binary on a temporary data directory and points an `aws_sdk_lambda`
//! client at it.
//!
//! Each test binary includes this module, and not every binary uses every
//! helper.
#![allow(dead_code)]

use aws_sdk_lambda::Client;
use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use base64::Engine;
use sha2::Digest;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "000000000000";
pub const ROLE: &str = "arn:aws:iam::000000000000:role/lambda-role";
pub const UNZIP_ERROR: &str =
    "Could not unzip uploaded file. Please check your file, then try to upload again.";

pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

/// A running `flint serve`, killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub endpoint: String,
    pub data_dir: PathBuf,
    /// Owns the data directory when the server created it.
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts flint on a fresh temporary data directory.
    pub fn start() -> Server {
        let tmp = tempfile::tempdir().expect("creating a temp dir");
        let mut s = Server::start_in(tmp.path());
        s._tmp = Some(tmp);
        s
    }

    /// Starts flint on `data_dir` (which may hold a previous server's data).
    pub fn start_in(data_dir: &Path) -> Server {
        Server::start_in_with(data_dir, &[])
    }

    /// Starts flint on a fresh temporary data directory with extra flags.
    pub fn start_with(extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("creating a temp dir");
        let mut s = Server::start_in_with(tmp.path(), extra);
        s._tmp = Some(tmp);
        s
    }

    /// Starts flint on `data_dir` with extra `serve` flags.
    pub fn start_in_with(data_dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flint"))
            .arg("serve")
            .args(extra)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .env("FLINT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning the flint binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            // Keep draining so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let first = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let status = child.wait();
                panic!("flint did not announce its address: {other:?}, exit {status:?}");
            }
        };
        let endpoint = first
            .strip_prefix("flint listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from flint: {first:?}"))
            .trim()
            .to_string();
        assert!(
            endpoint.starts_with("http://127.0.0.1:"),
            "unexpected endpoint {endpoint}"
        );
        Server {
            child: Some(child),
            endpoint,
            data_dir: data_dir.to_path_buf(),
            _tmp: None,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("server running").id() as i32
    }

    /// A client with the SDK's default (standard) retry policy.
    pub fn client(&self) -> Client {
        client_for(&self.endpoint, RetryConfig::standard())
    }

    /// A client that never retries: every request is sent exactly once.
    pub fn client_no_retry(&self) -> Client {
        client_for(&self.endpoint, RetryConfig::disabled())
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server running");
        signal(child.id() as i32, libc::SIGTERM);
        wait_with_timeout(&mut child, Duration::from_secs(20))
    }

    /// SIGKILL: the process dies wherever it is.
    pub fn kill9(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server running");
        signal(child.id() as i32, libc::SIGKILL);
        child.wait().expect("reaping flint")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for flint") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait();
            panic!("flint did not exit within {limit:?} of SIGTERM (then killed: {status:?})");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn client_for(endpoint: &str, retry: RetryConfig) -> Client {
    let conf = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "AKIDFLINTTEST",
            "flint-test-secret",
            None,
            None,
            "flint-tests",
        ))
        .retry_config(retry)
        .build();
    Client::from_conf(conf)
}

/// A zip (deflated) holding `files`.
pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    for (name, data) in files {
        w.start_file(*name, opts).expect("zip entry");
        w.write_all(data).expect("zip data");
    }
    w.finish().expect("zip finish").into_inner()
}

/// A minimal Python handler package; `tag` makes its bytes (and sha) unique.
pub fn python_zip(tag: &str) -> Vec<u8> {
    let src = format!("def handler(event, context):\n    return {{'tag': {tag:?}}}\n");
    zip_of(&[("index.py", src.as_bytes())])
}

/// base64(sha256(bytes)): Lambda's CodeSha256.
pub fn code_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

/// A CreateFunction request for a python3.12 function with the given zip.
pub fn create_request(
    client: &Client,
    name: &str,
    zip: &[u8],
) -> aws_sdk_lambda::operation::create_function::builders::CreateFunctionFluentBuilder {
    client
        .create_function()
        .function_name(name)
        .runtime(Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip.to_vec()))
                .build(),
        )
}

/// Creates a python3.12 function with a unique small package; returns the zip.
pub async fn create_simple(client: &Client, name: &str) -> Vec<u8> {
    let zip = python_zip(name);
    create_request(client, name, &zip)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating {name}: {}", describe(&e)));
    zip
}

/// The error code, message and HTTP status of an SDK error, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrInfo {
    pub code: String,
    pub message: String,
    pub status: u16,
}

/// Extracts code/message/status from any SDK operation error.
pub fn err_info<E, R>(err: &aws_sdk_lambda::error::SdkError<E, R>) -> ErrInfo
where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    let status = err.raw_response().map(|r| r.status_u16()).unwrap_or(0);
    match err.as_service_error() {
        Some(se) => ErrInfo {
            code: se.code().unwrap_or("<none>").to_string(),
            message: se.message().unwrap_or("<none>").to_string(),
            status,
        },
        None => panic!("expected a service error, got {err:?}"),
    }
}

/// The raw HTTP response's status, whatever the response type is.
pub trait HasStatus {
    fn status_u16(&self) -> u16;
}

impl HasStatus for aws_sdk_lambda::config::http::HttpResponse {
    fn status_u16(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Short description of an SDK error for panics.
pub fn describe<E: std::error::Error + 'static, R: std::fmt::Debug>(
    err: &aws_sdk_lambda::error::SdkError<E, R>,
) -> String {
    use std::error::Error;
    let mut s = format!("{err}");
    let mut src = err.source();
    while let Some(e) = src {
        s.push_str(&format!(": {e}"));
        src = e.source();
    }
    s
}

/// Asserts an SDK result failed with exactly `code`, `status` and `message`.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug, E, R>(
    result: Result<T, aws_sdk_lambda::error::SdkError<E, R>>,
    code: &str,
    status: u16,
    message: &str,
) where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    let err = result.expect_err(&format!("expected {code}"));
    let info = err_info(&err);
    assert_eq!(
        info,
        ErrInfo {
            code: code.to_string(),
            message: message.to_string(),
            status
        }
    );
}

/// Like [`assert_err`] but only checks that the message starts with `prefix`.
#[track_caller]
pub fn assert_err_prefix<T: std::fmt::Debug, E, R>(
    result: Result<T, aws_sdk_lambda::error::SdkError<E, R>>,
    code: &str,
    status: u16,
    prefix: &str,
) where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    let err = result.expect_err(&format!("expected {code}"));
    let info = err_info(&err);
    assert_eq!(
        (info.code.as_str(), info.status),
        (code, status),
        "{info:?}"
    );
    assert!(
        info.message.starts_with(prefix),
        "message {:?} does not start with {prefix:?}",
        info.message
    );
}

/// Downloads `url` (a `Code.Location`) with a blocking client off the runtime.
pub async fn download(url: &str) -> (u16, Vec<u8>) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let resp = reqwest::blocking::get(&url).expect("downloading code");
        let status = resp.status().as_u16();
        (status, resp.bytes().expect("reading code").to_vec())
    })
    .await
    .expect("download task")
}

/// Every log message `function` has stored so far, in order: follows the logs endpoint's
/// pages (`nextOffset` while `more`), as `flint logs` does.
pub async fn log_messages(endpoint: &str, function: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut offset = 0u64;
    let mut out = Vec::new();
    loop {
        let page: serde_json::Value = client
            .get(format!("{endpoint}/_flint/logs/{function}?offset={offset}"))
            .send()
            .await
            .expect("reading the logs endpoint")
            .json()
            .await
            .expect("a JSON page of log records");
        for r in page["records"].as_array().into_iter().flatten() {
            out.push(r["message"].as_str().unwrap_or_default().to_string());
        }
        if page["more"] != serde_json::Value::Bool(true) {
            return out;
        }
        offset = page["nextOffset"].as_u64().expect("nextOffset with more");
    }
}
