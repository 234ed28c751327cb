//! Test harness: a small Runtime API server (std::net + threads) and a way to
//! run the real bootstraps on the host interpreters against it.
//!
//! The mock behaves like the platform where the clients can tell: `/next`
//! blocks until an event is queued (never 204), every `/next` answer carries a
//! Content-Type, posts answer 202 `{"status":"OK"}`, connections are HTTP/1.1
//! keep-alive, and request bodies may be chunked (Node's streaming responses).
#![allow(dead_code)]

use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flint_runtimes::{HostRuntimes, LaunchSpec, ManagedRuntime};

pub const TIMEOUT: Duration = Duration::from_secs(20);

/// One event to hand out on `/next`.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub id: String,
    pub body: Vec<u8>,
    pub deadline_ms: u64,
    pub headers: Vec<(String, String)>,
}

impl Invocation {
    pub fn new(body: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(1);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self {
            id: format!("00000000-0000-4000-8000-{n:012}"),
            body: body.as_bytes().to_vec(),
            deadline_ms: now_ms() + 30_000,
            headers: vec![
                (
                    "Lambda-Runtime-Invoked-Function-Arn".into(),
                    "arn:aws:lambda:us-east-1:123456789012:function:fn".into(),
                ),
                (
                    "Lambda-Runtime-Trace-Id".into(),
                    format!(
                        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled={}",
                        n % 2
                    ),
                ),
            ],
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn deadline_in(mut self, ms: u64) -> Self {
        self.deadline_ms = now_ms() + ms;
        self
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A request the runtime POSTed.
#[derive(Clone, Debug)]
pub struct Posted {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Posted {
    pub fn kind(&self) -> &str {
        if self.path.ends_with("/init/error") {
            "init_error"
        } else if self.path.ends_with("/response") {
            "response"
        } else if self.path.ends_with("/error") {
            "error"
        } else {
            "other"
        }
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct State {
    pending: VecDeque<Invocation>,
    posts: Vec<Posted>,
    next_calls: usize,
}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
    connections: AtomicUsize,
    /// Close the connection after answering each POST, without warning the
    /// client, like a server dropping idle keep-alive connections.
    drop_after_post: std::sync::atomic::AtomicBool,
}

pub struct MockRuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl MockRuntimeApi {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
            connections: AtomicUsize::new(0),
            drop_after_post: Default::default(),
        });
        let s = shared.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                s.connections.fetch_add(1, Ordering::SeqCst);
                let s = s.clone();
                thread::spawn(move || {
                    let _ = serve(stream, &s);
                });
            }
        });
        Self { addr, shared }
    }

    /// Queue an invocation and wait for the runtime's answer to it.
    pub fn invoke(&self, inv: Invocation) -> Posted {
        let id = inv.id.clone();
        self.enqueue(inv);
        self.wait_post(|p| p.path.contains(&format!("/invocation/{id}/")))
    }

    pub fn enqueue(&self, inv: Invocation) {
        self.shared.state.lock().pending.push_back(inv);
        self.shared.cv.notify_all();
    }

    pub fn wait_post(&self, pred: impl Fn(&Posted) -> bool) -> Posted {
        let deadline = Instant::now() + TIMEOUT;
        let mut st = self.shared.state.lock();
        loop {
            if let Some(p) = st.posts.iter().find(|p| pred(p)) {
                return p.clone();
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "timed out waiting for a POST from the runtime"
            );
            self.shared.cv.wait_for(&mut st, deadline - now);
        }
    }

    pub fn wait_init_error(&self) -> Posted {
        self.wait_post(|p| p.kind() == "init_error")
    }

    /// Wait until the runtime is blocked in `/next` for the `n`th time.
    pub fn wait_next_calls(&self, n: usize) {
        let deadline = Instant::now() + TIMEOUT;
        let mut st = self.shared.state.lock();
        while st.next_calls < n {
            let now = Instant::now();
            assert!(now < deadline, "runtime never called /next");
            self.shared.cv.wait_for(&mut st, deadline - now);
        }
    }

    pub fn posts(&self) -> Vec<Posted> {
        self.shared.state.lock().posts.clone()
    }

    pub fn drop_connections_after_posts(&self) {
        self.shared.drop_after_post.store(true, Ordering::SeqCst);
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                    .unwrap_or(0);
                if n == 0 {
                    // trailers
                    loop {
                        let mut t = String::new();
                        reader.read_line(&mut t)?;
                        let t = t.trim_end();
                        if t.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = t.split_once(':') {
                            headers.push((k.trim().to_owned(), v.trim().to_owned()));
                        }
                    }
                    break;
                }
                let mut chunk = vec![0; n + 2];
                reader.read_exact(&mut chunk)?;
                chunk.truncate(n);
                body.extend_from_slice(&chunk);
            }
        } else if let Some(len) = get("content-length") {
            body = vec![0; len.parse().unwrap_or(0)];
            reader.read_exact(&mut body)?;
        }

        if method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
            let inv = {
                let mut st = shared.state.lock();
                st.next_calls += 1;
                shared.cv.notify_all();
                loop {
                    if let Some(inv) = st.pending.pop_front() {
                        break inv;
                    }
                    shared.cv.wait(&mut st);
                }
            };
            let mut head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Lambda-Runtime-Aws-Request-Id: {}\r\nLambda-Runtime-Deadline-Ms: {}\r\n",
                inv.body.len(),
                inv.id,
                inv.deadline_ms
            );
            for (k, v) in &inv.headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            out.write_all(head.as_bytes())?;
            out.write_all(&inv.body)?;
        } else if method == "POST" && path.starts_with("/2018-06-01/runtime/") {
            {
                let mut st = shared.state.lock();
                st.posts.push(Posted {
                    path: path.clone(),
                    headers,
                    body,
                });
            }
            shared.cv.notify_all();
            let b = r#"{"status":"OK"}"#;
            out.write_all(
                format!(
                    "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                    b.len()
                )
                .as_bytes(),
            )?;
            if shared.drop_after_post.load(Ordering::SeqCst) {
                out.flush()?;
                let _ = out.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
        } else {
            let b = r#"{"errorType":"NotFound","errorMessage":"not found"}"#;
            out.write_all(
                format!(
                    "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                    b.len()
                )
                .as_bytes(),
            )?;
        }
        out.flush()?;
    }
}

// ---------------------------------------------------------------------------
// Running a bootstrap
// ---------------------------------------------------------------------------

pub fn host() -> &'static HostRuntimes {
    static HOST: OnceLock<HostRuntimes> = OnceLock::new();
    HOST.get_or_init(flint_runtimes::detect_host)
}

/// The tests run flint's clients on the host's interpreters: a host without one cannot run
/// them, and says so by failing (the test machines and CI have both).
pub fn require_python() {
    assert!(
        host().python.is_some(),
        "no python3 on PATH: these tests run flint's Python client on the host's interpreter"
    );
}

/// See [`require_python`].
pub fn require_node() {
    assert!(
        host().node.is_some(),
        "no node on PATH: these tests run flint's Node.js client on the host's interpreter"
    );
}

pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "flint-rt-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A function package on disk: files relative to the task root.
pub fn task(tag: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = temp_dir(tag);
    for (name, content) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir
}

pub fn runtime_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    // One shared directory for every test process: materialize() is
    // idempotent and atomic, so concurrent test binaries exercise that too.
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join("flint-runtimes-test-runtime");
        flint_runtimes::materialize(&d).unwrap();
        d
    })
}

pub struct Proc {
    child: Child,
    output: Arc<Mutex<String>>,
    stderr_raw: Arc<Mutex<Vec<u8>>>,
    readers: Vec<thread::JoinHandle<()>>,
    pub api: MockRuntimeApi,
    pub task_root: PathBuf,
}

impl Proc {
    /// Start `runtime` with `handler` from `task_root` on the detected host.
    pub fn start(runtime: &str, task_root: PathBuf, handler: &str) -> Self {
        Self::start_with(runtime, task_root, handler, host(), &[])
    }

    pub fn start_with(
        runtime: &str,
        task_root: PathBuf,
        handler: &str,
        host: &HostRuntimes,
        extra_env: &[(&str, &str)],
    ) -> Self {
        let rt = ManagedRuntime::parse(runtime).unwrap();
        let spec: LaunchSpec = rt.launch_command_at(host, runtime_dir()).unwrap();
        Self::spawn(&spec.argv, &spec.env, task_root, handler, extra_env)
    }

    /// Run an arbitrary command as the runtime (e.g. the official client).
    pub fn spawn(
        argv: &[String],
        runtime_env: &[(String, String)],
        task_root: PathBuf,
        handler: &str,
        extra_env: &[(&str, &str)],
    ) -> Self {
        let api = MockRuntimeApi::start();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(&task_root)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "en_US.UTF-8")
            .env("TZ", "UTC")
            .env("_HANDLER", handler)
            .env("LAMBDA_TASK_ROOT", &task_root)
            .env("LAMBDA_RUNTIME_DIR", runtime_dir())
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "fn")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/fn")
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/22/[$LATEST]0123456789abcdef0123456789abcdef",
            )
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in runtime_env {
            cmd.env(k, v);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn runtime");
        let output = Arc::new(Mutex::new(String::new()));
        let stderr_raw = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        for (pipe, raw) in [
            (
                Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
                None,
            ),
            (
                Box::new(child.stderr.take().unwrap()),
                Some(stderr_raw.clone()),
            ),
        ] {
            let output = output.clone();
            readers.push(thread::spawn(move || {
                let mut pipe = pipe;
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Some(raw) = &raw {
                        raw.lock().extend_from_slice(&buf[..n]);
                    }
                    output.lock().push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }));
        }
        Self {
            child,
            output,
            stderr_raw,
            readers,
            api,
            task_root,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn invoke(&self, body: &str) -> Posted {
        self.api.invoke(Invocation::new(body))
    }

    /// Telemetry frames (facts §3.7) written to stderr, for runs started
    /// with `_LAMBDA_TELEMETRY_LOG_FD=2`: (frame type, timestamp µs, message).
    pub fn frames(&self) -> Vec<(u32, u64, String)> {
        let raw = self.stderr_raw.lock().clone();
        let mut frames = Vec::new();
        let mut i = 0;
        while i + 16 <= raw.len() {
            let ty = u32::from_be_bytes(raw[i..i + 4].try_into().unwrap());
            let len = u32::from_be_bytes(raw[i + 4..i + 8].try_into().unwrap()) as usize;
            let ts = u64::from_be_bytes(raw[i + 8..i + 16].try_into().unwrap());
            if i + 16 + len > raw.len() {
                break;
            }
            frames.push((
                ty,
                ts,
                String::from_utf8_lossy(&raw[i + 16..i + 16 + len]).into_owned(),
            ));
            i += 16 + len;
        }
        frames
    }

    /// Wait until a telemetry frame containing `needle` has arrived.
    pub fn wait_frame(&self, needle: &str) -> Vec<(u32, u64, String)> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let frames = self.frames();
            if frames.iter().any(|f| f.2.contains(needle)) {
                return frames;
            }
            assert!(
                Instant::now() < deadline,
                "no frame contained {needle:?}: {frames:?}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn output(&self) -> String {
        self.output.lock().clone()
    }

    /// Wait until the output contains `needle` (log lines are written by the
    /// runtime asynchronously to the posts).
    pub fn wait_output(&self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let out = self.output();
            if out.contains(needle) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "output never contained {needle:?}; output:\n{out}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait for the process to exit and return its exit code; all of its
    /// output has been collected when this returns.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                return status.code();
            }
            assert!(Instant::now() < deadline, "runtime did not exit");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.task_root);
    }
}

/// Lines of `output` that contain `needle`.
pub fn lines_with<'a>(output: &'a str, needle: &str) -> Vec<&'a str> {
    output.lines().filter(|l| l.contains(needle)).collect()
}
