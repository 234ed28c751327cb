//! Invoke sections: warm invoke latency and throughput, and cold starts,
//! for a no-op `provided` function and a Python function.
//!
//! Floors: warm invokes are read against the loopback HTTP round trip;
//! cold starts of the `provided` function against a bare fork+exec, and of
//! the Python function against `python3 -c pass` (the interpreter start the
//! function cannot avoid).

use crate::http::{Conn, Op, measure};
use crate::sections::{Ctx, FLOOR_FORK_EXEC, FLOOR_HTTP_RTT, Section};
use crate::stats::Summary;
use anyhow::{Context, bail};
use base64::Engine;
use bytes::Bytes;
use hyper::StatusCode;
use std::io::Write;
use std::time::{Duration, Instant};

pub const FLOOR_PYTHON_START: &str = "floor.python_start";
pub const FLOOR_NODE_START: &str = "floor.node_start";

/// A function the invoke sections deploy.
struct BenchFunction {
    name: &'static str,
    runtime: &'static str,
    handler: &'static str,
    zip: Vec<u8>,
}

/// A zip whose `bootstrap` is the no-op Runtime API client built next to
/// this binary.
pub(crate) fn noop_provided_zip() -> anyhow::Result<Vec<u8>> {
    let bootstrap = std::env::current_exe()?
        .parent()
        .context("bench binary has a directory")?
        .join("noop-bootstrap");
    let bin = std::fs::read(&bootstrap).with_context(|| {
        format!(
            "reading {} (build it with `cargo build --release -p flint-bench`)",
            bootstrap.display()
        )
    })?;
    let opts = zip::write::SimpleFileOptions::default();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("bootstrap", opts.unix_permissions(0o755))?;
    w.write_all(&bin)?;
    Ok(w.finish()?.into_inner())
}

/// The functions the invoke sections use.
fn functions() -> anyhow::Result<Vec<BenchFunction>> {
    let provided = noop_provided_zip()?;
    let opts = zip::write::SimpleFileOptions::default();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("app.py", opts.unix_permissions(0o644))?;
    w.write_all(b"def handler(event, context):\n    return event\n")?;
    let python = w.finish()?.into_inner();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("index.mjs", opts.unix_permissions(0o644))?;
    w.write_all(b"export const handler = async (event) => event;\n")?;
    let node = w.finish()?.into_inner();
    Ok(vec![
        BenchFunction {
            name: "bench-provided",
            runtime: "provided.al2023",
            handler: "bootstrap",
            zip: provided,
        },
        BenchFunction {
            name: "bench-python",
            runtime: "python3.11",
            handler: "app.handler",
            zip: python,
        },
        BenchFunction {
            name: "bench-node",
            runtime: "nodejs20.x",
            handler: "index.handler",
            zip: node,
        },
    ])
}

async fn ensure_functions(conn: &mut Conn) -> anyhow::Result<()> {
    for BenchFunction {
        name,
        runtime,
        handler,
        zip,
    } in functions()?
    {
        let body = serde_json::json!({
            "FunctionName": name,
            "Runtime": runtime,
            "Handler": handler,
            "Role": "arn:aws:iam::000000000000:role/bench",
            // One full vCPU (Lambda: 1,769 MB), the CPU the floors run with:
            // at 512 MB the cgroup would allow 29% of a core and every
            // figure would mostly measure CPU throttling.
            "MemorySize": 1769,
            "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)},
        });
        create_function_or_keep(conn, &body).await?;
    }
    Ok(())
}

/// CreateFunction with `body`; a function that already exists (an earlier run on the same
/// data dir) is kept.
pub(crate) async fn create_function_or_keep(
    conn: &mut Conn,
    body: &serde_json::Value,
) -> anyhow::Result<()> {
    let (status, resp) = conn
        .send(&Op::post(
            "/2015-03-31/functions",
            Bytes::from(serde_json::to_vec(body)?),
        ))
        .await?;
    if status != StatusCode::CREATED && status != StatusCode::CONFLICT {
        bail!(
            "creating {}: {status} {}",
            body["FunctionName"],
            String::from_utf8_lossy(&resp)
        );
    }
    Ok(())
}

pub(crate) fn invoke_op(name: &str) -> Op {
    Op::post(
        format!("/2015-03-31/functions/{name}/invocations"),
        Bytes::from_static(b"{}"),
    )
}

pub async fn run_warm(ctx: &mut Ctx) -> anyhow::Result<()> {
    let s = ctx.settings.clone();
    let section = Section::WarmInvoke.title();
    let addr = ctx.flint_addr()?;
    let mut conn = Conn::open(addr).await?;
    ensure_functions(&mut conn).await?;
    for (name, label) in [
        ("bench-provided", "provided (no-op bootstrap)"),
        ("bench-python", "python3.11 (flint's runtime)"),
    ] {
        // The first call starts the environment; measure() warms up too.
        let (status, body) = conn.send(&invoke_op(name)).await?;
        if status != StatusCode::OK {
            bail!(
                "invoking {name}: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
        let op = invoke_op(name);
        let warm = measure(addr, ctx.budget(s.iterations), StatusCode::OK, move |_| {
            op.clone()
        })
        .await?;
        ctx.push_row(
            section,
            &format!("invoke.warm.{name}"),
            format!("warm Invoke, {label}, 1 client"),
            warm,
            Some(FLOOR_HTTP_RTT),
        );
    }
    Ok(())
}

/// `python3 -c pass` / `node -e 0`: the least a Python / Node.js cold start can
/// cost (the interpreter's own start).
fn interpreter_start(program: &str, args: &[&str], iterations: usize) -> anyhow::Result<Summary> {
    let exe = which(program).with_context(|| format!("{program} not on PATH"))?;
    let mut samples = Vec::new();
    let start = Instant::now();
    for _ in 0..iterations {
        let t = Instant::now();
        let status = std::process::Command::new(&exe).args(args).status()?;
        samples.push(t.elapsed());
        if !status.success() {
            bail!("{program} {args:?} failed");
        }
    }
    Ok(Summary::from_samples(samples, start.elapsed()))
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.is_file() && !p.components().any(|c| c.as_os_str() == "shims"))
        .and_then(|p| std::fs::canonicalize(p).ok())
}

pub async fn run_cold(ctx: &mut Ctx) -> anyhow::Result<()> {
    let s = ctx.settings.clone();
    let section = Section::ColdStart.title();
    let iterations = s.cold_iterations;
    let python = tokio::task::spawn_blocking(move || {
        interpreter_start("python3", &["-c", "pass"], iterations)
    })
    .await??;
    ctx.push_row(
        section,
        FLOOR_PYTHON_START,
        "floor: python3 -c pass (host interpreter start)".into(),
        python,
        None,
    );
    let node =
        tokio::task::spawn_blocking(move || interpreter_start("node", &["-e", "0"], iterations))
            .await??;
    ctx.push_row(
        section,
        FLOOR_NODE_START,
        "floor: node -e 0 (host interpreter start)".into(),
        node,
        None,
    );
    // The default server: each cold start claims a pre-spawned environment
    // (sandbox ready, Python runtime started) that the previous one's refill
    // prepared; the refill is awaited outside the timing, as on a server
    // whose cold starts are not back to back.
    let addr = ctx.flint_addr()?;
    for row in cold_starts(addr, iterations, true).await? {
        ctx.push_row(
            section,
            &format!("invoke.cold.{}", row.function),
            row.label,
            row.summary,
            Some(row.floor),
        );
    }
    // The same cold starts with 0 and with 5 layers (`layers.rs`).
    crate::layers::run_cold_layers(ctx, addr, iterations).await?;
    // And with none ready: the whole sandbox spawn and runtime start are in
    // the cold start (the first cold start of a runtime, or a burst larger
    // than the pre-spawned environments).
    let mut bare =
        crate::server::FlintServer::start_with(&s.flint_bin, &["--prewarm-environments", "0"])?;
    let result = cold_starts(bare.addr, iterations, false).await;
    bare.stop();
    for row in result? {
        ctx.push_row(
            section,
            &format!("invoke.cold_unprepared.{}", row.function),
            row.label.replace(
                "cold Invoke",
                "cold Invoke without a pre-spawned environment",
            ),
            row.summary,
            Some(row.floor),
        );
    }
    Ok(())
}

/// One function's cold starts.
struct ColdRow {
    function: &'static str,
    label: String,
    summary: Summary,
    /// The id of the floor row it is read against.
    floor: &'static str,
}

/// `iterations` cold starts of each bench function on the flint at `addr`;
/// `await_refills`: wait until no pre-spawn is under way before each one.
async fn cold_starts(
    addr: std::net::SocketAddr,
    iterations: usize,
    await_refills: bool,
) -> anyhow::Result<Vec<ColdRow>> {
    let mut conn = Conn::open(addr).await?;
    ensure_functions(&mut conn).await?;
    let mut rows = Vec::new();
    for (name, label, floor) in [
        (
            "bench-provided",
            "provided (no-op bootstrap)",
            FLOOR_FORK_EXEC,
        ),
        (
            "bench-python",
            "python3.11 (flint's runtime)",
            FLOOR_PYTHON_START,
        ),
        (
            "bench-node",
            "nodejs20.x (flint's runtime)",
            FLOOR_NODE_START,
        ),
    ] {
        let mut samples = Vec::new();
        let start = Instant::now();
        for i in 0..iterations {
            // A configuration change retires the warm environment, so the
            // next invoke starts a new one (untimed).
            let update = serde_json::json!({"Description": format!("cold {i}")});
            let (status, body) = conn
                .send(&Op {
                    method: hyper::Method::PUT,
                    path: format!("/2015-03-31/functions/{name}/configuration"),
                    body: Bytes::from(serde_json::to_vec(&update)?),
                    invocation_type: None,
                })
                .await?;
            if status != StatusCode::OK {
                bail!(
                    "updating {name}: {status} {}",
                    String::from_utf8_lossy(&body)
                );
            }
            // Let the retired environment's teardown finish outside the timing.
            tokio::time::sleep(Duration::from_millis(20)).await;
            if await_refills {
                await_prespawns(&mut conn).await?;
            }
            let t = Instant::now();
            let (status, body) = conn.send(&invoke_op(name)).await?;
            samples.push(t.elapsed());
            if status != StatusCode::OK {
                bail!(
                    "cold invoke of {name}: {status} {}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
        rows.push(ColdRow {
            function: name,
            label: format!("cold Invoke (new sandbox + runtime init + event), {label}"),
            summary: Summary::from_samples(samples, start.elapsed()),
            floor,
        });
    }
    Ok(rows)
}

/// Waits (up to 10 s) until `GET /_flint/environments` shows no pre-spawn
/// under way.
pub(crate) async fn await_prespawns(conn: &mut Conn) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = conn.send(&Op::get("/_flint/environments")).await?;
        if status != StatusCode::OK {
            bail!("/_flint/environments: {status}");
        }
        let view: serde_json::Value = serde_json::from_slice(&body)?;
        if view["Prespawning"].as_u64() == Some(0) || Instant::now() > deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Asynchronous invocation: how long an `Event` invoke takes to be durably
/// queued (202), next to the loopback round trip; and how many queued
/// events the worker runs per second, next to sequential warm synchronous
/// invokes of the same no-op function measured here (per-event time vs
/// per-invoke latency).
pub async fn run_async(ctx: &mut Ctx) -> anyhow::Result<()> {
    let s = ctx.settings.clone();
    let section = Section::AsyncInvoke.title();
    let addr = ctx.flint_addr()?;
    let mut conn = Conn::open(addr).await?;
    ensure_functions(&mut conn).await?;
    let name = "bench-provided";
    let (status, body) = conn.send(&invoke_op(name)).await?;
    if status != StatusCode::OK {
        bail!(
            "invoking {name}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let op = invoke_op(name);
    let sync = measure(addr, ctx.budget(s.iterations), StatusCode::OK, move |_| {
        op.clone()
    })
    .await?;
    ctx.push_row(
        section,
        "async.sync_floor",
        format!("warm synchronous Invoke, {name} (floor for the worker)"),
        sync,
        Some(FLOOR_HTTP_RTT),
    );
    // Let the queue start empty.
    wait_drained(&mut conn, Duration::from_secs(60)).await?;
    let path = format!("/2015-03-31/functions/{name}/invocations");
    let enqueue = measure(
        addr,
        ctx.budget(s.iterations),
        StatusCode::ACCEPTED,
        move |_| Op::event(path.as_str(), Bytes::from_static(b"{}")),
    )
    .await?;
    ctx.push_row(
        section,
        "async.enqueue",
        format!(
            "Event Invoke accepted (durable, 202), {} client(s)",
            s.concurrency
        ),
        enqueue,
        Some(FLOOR_HTTP_RTT),
    );
    // Throughput: a burst from 16 clients (group commit shares fsyncs),
    // timed from its first enqueue until the queue is empty again.
    wait_drained(&mut conn, Duration::from_secs(600)).await?;
    let burst = crate::http::Budget {
        duration: Duration::from_secs_f64(s.duration_secs.max(1.0) * 4.0),
        max_ops: 2000,
        warmup: 0,
        concurrency: 16,
    };
    let path = format!("/2015-03-31/functions/{name}/invocations");
    let t = Instant::now();
    let enqueue16 = measure(addr, burst, StatusCode::ACCEPTED, move |_| {
        Op::event(path.as_str(), Bytes::from_static(b"{}"))
    })
    .await?;
    let events = enqueue16.n;
    ctx.push_row(
        section,
        "async.enqueue16",
        "Event Invoke accepted (durable, 202), 16 clients".into(),
        enqueue16,
        Some(FLOOR_HTTP_RTT),
    );
    wait_drained(&mut conn, Duration::from_secs(600)).await?;
    let wall = t.elapsed();
    let per_event = wall / events.max(1) as u32;
    let mut summary = Summary::from_samples(vec![per_event], wall);
    summary.n = events;
    summary.ops_per_sec = events as f64 / wall.as_secs_f64().max(1e-9);
    ctx.push_row(
        section,
        "async.processed",
        format!(
            "events run per second: {events} Event invokes from 16 clients, first enqueue to empty queue (p50 = wall / events)"
        ),
        summary,
        Some("async.sync_floor"),
    );
    Ok(())
}

async fn queue_depth(conn: &mut Conn) -> anyhow::Result<u64> {
    let (status, body) = conn.send(&Op::get("/_flint/events")).await?;
    if status != StatusCode::OK {
        bail!("/_flint/events: {status}");
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["Depth"].as_u64().unwrap_or(0))
}

async fn wait_drained(conn: &mut Conn, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while queue_depth(conn).await? > 0 {
        if Instant::now() > deadline {
            bail!("the event queue did not drain within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}
