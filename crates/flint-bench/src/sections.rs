//! The benchmark sections. Each adds rows to the report; a row names the
//! floor row it is compared with, so every figure is read against a floor
//! measured in the same run on the same machine.
//!
//! Adding a section (warm invoke, cold start, ...) = a variant in
//! [`Section`], a `run_*` function that pushes rows, and a floor id for its
//! rows to point at (`floor.http_rtt` for API calls, `floor.fork_exec` for
//! anything that starts a process).

use crate::http::{Budget, Conn, FloorServer, Op, measure};
use crate::server::FlintServer;
use crate::stats::Summary;
use anyhow::{Context, bail};
use base64::Engine;
use bytes::Bytes;
use hyper::StatusCode;
use rand::RngCore;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Floor ids other sections compare against.
pub const FLOOR_HTTP_RTT: &str = "floor.http_rtt";
pub const FLOOR_HTTP_UPLOAD: &str = "floor.http_upload_1mb";
pub const FLOOR_FORK_EXEC: &str = "floor.fork_exec";

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Stable id (`section.operation`), used by other rows' `floor`.
    pub id: String,
    pub section: String,
    pub operation: String,
    #[serde(flatten)]
    pub summary: Summary,
    /// The id of the floor row this figure is compared with.
    pub floor: Option<String>,
    /// p50 of this row / p50 of its floor.
    pub p50_vs_floor: Option<f64>,
    /// p99 of this row / p99 of its floor.
    pub p99_vs_floor: Option<f64>,
}

/// Knobs shared by all sections.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    #[serde(skip)]
    pub flint_bin: PathBuf,
    /// Wall-time budget per operation, seconds.
    pub duration_secs: f64,
    /// Upper bound of timed operations per operation.
    pub iterations: usize,
    /// Timed CreateFunction calls (each uploads a fresh 1 MB package).
    pub create_iterations: usize,
    /// Functions present while ListFunctions / GetFunction are measured.
    pub functions: usize,
    pub concurrency: usize,
    pub warmup: usize,
    pub package_bytes: usize,
    /// Cold starts measured per function.
    pub cold_iterations: usize,
    /// Concurrent cold invocations in the burst section.
    pub burst: usize,
}

impl Settings {
    fn budget(&self, max_ops: usize) -> Budget {
        Budget {
            duration: Duration::from_secs_f64(self.duration_secs),
            max_ops,
            warmup: self.warmup,
            concurrency: self.concurrency,
        }
    }
}

/// What the sections share while they run.
pub struct Ctx {
    pub settings: Settings,
    pub floor: FloorServer,
    pub flint: Option<FlintServer>,
    pub rows: Vec<Row>,
}

impl Ctx {
    fn push(
        &mut self,
        section: &str,
        id: &str,
        operation: String,
        s: Summary,
        floor: Option<&str>,
    ) {
        eprintln!(
            "  {operation}: n={} p50={} p99={} ({:.0} ops/s)",
            s.n,
            crate::stats::fmt_us(s.p50_us),
            crate::stats::fmt_us(s.p99_us),
            s.ops_per_sec
        );
        self.rows.push(Row {
            id: id.to_string(),
            section: section.to_string(),
            operation,
            summary: s,
            floor: floor.map(str::to_string),
            p50_vs_floor: None,
            p99_vs_floor: None,
        });
    }

    /// Public face of `push` for sections in other modules.
    pub fn push_row(
        &mut self,
        section: &str,
        id: &str,
        operation: String,
        s: Summary,
        floor: Option<&str>,
    ) {
        self.push(section, id, operation, s, floor);
    }

    /// The address of the flint under test (started on first use).
    pub fn flint_addr(&mut self) -> anyhow::Result<std::net::SocketAddr> {
        Ok(self.flint()?.addr)
    }

    /// The measuring budget for up to `max_ops` operations.
    pub fn budget(&self, max_ops: usize) -> Budget {
        self.settings.budget(max_ops)
    }

    fn flint(&mut self) -> anyhow::Result<&FlintServer> {
        if self.flint.is_none() {
            self.flint = Some(FlintServer::start(&self.settings.flint_bin)?);
        }
        Ok(self.flint.as_ref().expect("just started"))
    }

    /// Fills in the ratios once every row is measured.
    pub fn finish(&mut self) {
        let floors: Vec<(String, f64, f64)> = self
            .rows
            .iter()
            .map(|r| (r.id.clone(), r.summary.p50_us, r.summary.p99_us))
            .collect();
        for row in &mut self.rows {
            if let Some(f) = &row.floor
                && let Some((_, p50, p99)) = floors.iter().find(|(id, _, _)| id == f)
            {
                row.p50_vs_floor = Some(row.summary.p50_us / p50);
                row.p99_vs_floor = Some(row.summary.p99_us / p99);
            }
        }
    }
}

/// The sections, in run order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    /// Floors: loopback HTTP round trip, 1 MB upload, fork+exec.
    Floors,
    /// Control-plane API calls against flint.
    ControlPlane,
    /// Warm Invoke latency and throughput (no-op `provided`, Python).
    WarmInvoke,
    /// Cold starts: a new sandbox, runtime init and the first event.
    ColdStart,
    /// Asynchronous invocation: enqueue latency, events run per second.
    AsyncInvoke,
    /// A burst of concurrent cold invocations: environments started per second.
    Burst,
    /// Requests through a function URL.
    FunctionUrl,
    /// Time to first byte of a streamed response.
    Streaming,
}

impl Section {
    pub const ALL: &[Section] = &[
        Section::Floors,
        Section::ControlPlane,
        Section::WarmInvoke,
        Section::ColdStart,
        Section::AsyncInvoke,
        Section::Burst,
        Section::FunctionUrl,
        Section::Streaming,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Section::Floors => "Floors",
            Section::ControlPlane => "Control plane",
            Section::WarmInvoke => "Warm invoke",
            Section::ColdStart => "Cold start",
            Section::AsyncInvoke => "Asynchronous invoke",
            Section::Burst => "Burst scaling",
            Section::FunctionUrl => "Function URL",
            Section::Streaming => "Response streaming",
        }
    }

    pub async fn run(self, ctx: &mut Ctx) -> anyhow::Result<()> {
        eprintln!("== {}", self.title());
        match self {
            Section::Floors => run_floors(ctx).await,
            Section::ControlPlane => run_control_plane(ctx).await,
            Section::WarmInvoke => crate::invoke::run_warm(ctx).await,
            Section::ColdStart => crate::invoke::run_cold(ctx).await,
            Section::AsyncInvoke => crate::invoke::run_async(ctx).await,
            Section::Burst => crate::burst::run_burst(ctx).await,
            Section::FunctionUrl => crate::urls::run_urls(ctx).await,
            Section::Streaming => crate::streaming::run_streaming(ctx).await,
        }
    }
}

/// A stored (incompressible) zip of about `bytes` random bytes plus a
/// handler file, unique on every call.
pub fn random_zip(bytes: usize) -> Vec<u8> {
    let mut data = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut data);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("index.py", opts).expect("zip entry");
    w.write_all(b"def handler(event, context):\n    return event\n")
        .expect("zip data");
    w.start_file("data.bin", opts).expect("zip entry");
    w.write_all(&data).expect("zip data");
    w.finish().expect("zip finish").into_inner()
}

fn create_body(name: &str, zip: &[u8]) -> Bytes {
    let body = serde_json::json!({
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::000000000000:role/bench",
        "Handler": "index.handler",
        "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)},
    });
    Bytes::from(serde_json::to_vec(&body).expect("json"))
}

async fn run_floors(ctx: &mut Ctx) -> anyhow::Result<()> {
    let s = ctx.settings.clone();
    let section = Section::Floors.title();

    let rtt = measure(
        ctx.floor.addr,
        s.budget(s.iterations),
        StatusCode::OK,
        |_| Op::get("/2015-03-31/functions/floor"),
    )
    .await?;
    ctx.push(
        section,
        FLOOR_HTTP_RTT,
        "loopback HTTP round trip (GET, 2-byte answer)".into(),
        rtt,
        None,
    );

    // The same body size as a CreateFunction with a 1 MB package.
    let body = create_body("floor", &random_zip(s.package_bytes));
    let size = body.len();
    let upload = measure(
        ctx.floor.addr,
        s.budget(s.iterations),
        StatusCode::OK,
        move |_| Op::post("/2015-03-31/functions", body.clone()),
    )
    .await?;
    ctx.push(
        section,
        FLOOR_HTTP_UPLOAD,
        format!(
            "loopback HTTP POST of a {:.2} MB body",
            size as f64 / 1_000_000.0
        ),
        upload,
        None,
    );

    let budget = s.budget(s.iterations);
    let fork = tokio::task::spawn_blocking(move || fork_exec_true(budget)).await??;
    ctx.push(
        section,
        FLOOR_FORK_EXEC,
        "fork+exec+wait of /bin/true (libc fork, execv, waitpid)".into(),
        fork,
        None,
    );
    let spawn = tokio::task::spawn_blocking(move || spawn_true(budget)).await??;
    ctx.push(
        section,
        "floor.spawn",
        "std::process::Command /bin/true (posix_spawn) + wait".into(),
        spawn,
        Some(FLOOR_FORK_EXEC),
    );
    Ok(())
}

/// fork(2) + execv("/bin/true") + waitpid: the least a new process costs.
fn fork_exec_true(budget: Budget) -> anyhow::Result<Summary> {
    let path = std::ffi::CString::new("/bin/true").expect("no NUL");
    let argv = [path.as_ptr(), std::ptr::null()];
    let once = || -> anyhow::Result<Duration> {
        let t = Instant::now();
        // SAFETY: the child only calls async-signal-safe execv and _exit
        // on data prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            bail!("fork failed: {}", std::io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: in the forked child: `path` and `argv` were built before
            // the fork and stay alive; execv and _exit are async-signal-safe.
            unsafe {
                libc::execv(path.as_ptr(), argv.as_ptr());
                libc::_exit(127);
            }
        }
        let mut status = 0;
        // SAFETY: waiting for the child just forked.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        let elapsed = t.elapsed();
        if r != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            bail!("/bin/true failed: waitpid={r} status={status:#x}");
        }
        Ok(elapsed)
    };
    timed_loop(budget, once)
}

fn spawn_true(budget: Budget) -> anyhow::Result<Summary> {
    timed_loop(budget, || {
        let t = Instant::now();
        let status = std::process::Command::new("/bin/true")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()?;
        let elapsed = t.elapsed();
        if !status.success() {
            bail!("/bin/true failed: {status}");
        }
        Ok(elapsed)
    })
}

/// A single-threaded measuring loop for blocking operations.
fn timed_loop(
    budget: Budget,
    mut once: impl FnMut() -> anyhow::Result<Duration>,
) -> anyhow::Result<Summary> {
    for _ in 0..budget.warmup {
        once()?;
    }
    let start = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < budget.max_ops && start.elapsed() < budget.duration {
        samples.push(once()?);
    }
    let busy = samples.iter().sum();
    Ok(Summary::from_samples(samples, busy))
}

async fn run_control_plane(ctx: &mut Ctx) -> anyhow::Result<()> {
    let s = ctx.settings.clone();
    let section = Section::ControlPlane.title();
    let addr = ctx.flint()?.addr;

    // The functions present while reads are measured.
    let t = Instant::now();
    let mut conn = Conn::open(addr).await?;
    for i in 0..s.functions {
        let name = format!("bench-fn-{i:04}");
        let zip = small_zip(&name);
        let (status, body) = conn
            .send(&Op::post("/2015-03-31/functions", create_body(&name, &zip)))
            .await?;
        if status != StatusCode::CREATED {
            bail!(
                "creating {name}: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    eprintln!(
        "  (created {} functions in {:.2} s)",
        s.functions,
        t.elapsed().as_secs_f64()
    );
    if s.functions == 0 {
        bail!("--functions must be at least 1");
    }
    let target = format!("bench-fn-{:04}", s.functions / 2);

    let path = format!("/2015-03-31/functions/{target}");
    let get = measure(addr, s.budget(s.iterations), StatusCode::OK, move |_| {
        Op::get(path.as_str())
    })
    .await?;
    ctx.push(
        section,
        "control.get_function",
        "GetFunction".into(),
        get,
        Some(FLOOR_HTTP_RTT),
    );

    let path = format!("/2015-03-31/functions/{target}/configuration");
    let conf = measure(addr, s.budget(s.iterations), StatusCode::OK, move |_| {
        Op::get(path.as_str())
    })
    .await?;
    ctx.push(
        section,
        "control.get_function_configuration",
        "GetFunctionConfiguration".into(),
        conf,
        Some(FLOOR_HTTP_RTT),
    );

    let (status, first_page) = conn.send(&Op::get("/2015-03-31/functions")).await?;
    if status != StatusCode::OK {
        bail!("ListFunctions: {status}");
    }
    let page: serde_json::Value =
        serde_json::from_slice(&first_page).context("parsing ListFunctions")?;
    let entries = page["Functions"].as_array().map_or(0, Vec::len);
    let list = measure(addr, s.budget(s.iterations), StatusCode::OK, |_| {
        Op::get("/2015-03-31/functions")
    })
    .await?;
    ctx.push(
        section,
        "control.list_functions",
        format!(
            "ListFunctions (first page: {entries} of {} functions, {:.0} KB)",
            s.functions,
            first_page.len() as f64 / 1000.0
        ),
        list,
        Some(FLOOR_HTTP_RTT),
    );

    // CreateFunction: every call uploads a fresh random package under a new
    // name. The package is generated by `op(i)`, before the request's
    // timer starts.
    let budget = s.budget(s.create_iterations);
    let package_bytes = s.package_bytes;
    let mb =
        create_body("bench-create-00000", &random_zip(package_bytes)).len() as f64 / 1_000_000.0;
    let create = measure(addr, budget, StatusCode::CREATED, move |i| {
        let body = create_body(&format!("bench-create-{i:05}"), &random_zip(package_bytes));
        Op::post("/2015-03-31/functions", body)
    })
    .await?;
    let label = format!(
        "CreateFunction, {:.2} MB random zip ({mb:.2} MB request)",
        s.package_bytes as f64 / 1_000_000.0
    );
    ctx.push(
        section,
        "control.create_function_1mb",
        label.clone(),
        create.clone(),
        Some(FLOOR_HTTP_UPLOAD),
    );
    ctx.push(
        section,
        "control.create_function_1mb_vs_rtt",
        "the same CreateFunction calls, against the round-trip floor".into(),
        create,
        Some(FLOOR_HTTP_RTT),
    );
    Ok(())
}

fn small_zip(tag: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    w.start_file("index.py", opts).expect("zip entry");
    write!(
        w,
        "# {tag}\ndef handler(event, context):\n    return event\n"
    )
    .expect("zip data");
    w.finish().expect("zip finish").into_inner()
}
