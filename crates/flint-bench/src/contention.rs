//! CPU sections: how much CPU init gets, and what noisy neighbours do to a small function.
//!
//! - Init CPU: a cold start whose init does a fixed amount of CPU work (a Python loop at
//!   import time) at 128 MB and 256 MB, next to the same script run by the host's
//!   `python3` (the floor: the interpreter's start plus the work, unthrottled). On Lambda
//!   init runs effectively unthrottled, so both should be close to the floor; the handler
//!   doing the same work at 128 MB shows the share it is throttled to.
//! - Noisy neighbour: warm p99 of a small function alone, then beside five CPU spinners
//!   and five memory thrashers (each a function of its own, running for the whole
//!   measurement), in alternating rounds; each "beside" row is read against the "alone"
//!   row of its round (goal: within 2x).

use crate::http::{Conn, Op, measure};
use crate::sections::{Ctx, Section};
use crate::stats::Summary;
use anyhow::{Context, bail};
use base64::Engine;
use bytes::Bytes;
use hyper::StatusCode;
use std::io::Write;
use std::time::{Duration, Instant};

/// A fixed amount of CPU work (~0.2 s of one core here).
const WORK: &str = "x = 0\nfor i in range(2_000_000):\n    x += i * i % 7\n";

fn python_zip(source: &str) -> anyhow::Result<Vec<u8>> {
    let opts = zip::write::SimpleFileOptions::default();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("app.py", opts.unix_permissions(0o644))?;
    w.write_all(source.as_bytes())?;
    Ok(w.finish()?.into_inner())
}

async fn create(conn: &mut Conn, name: &str, memory_mb: u32, source: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({
        "FunctionName": name,
        "Runtime": "python3.11",
        "Handler": "app.handler",
        "Role": "arn:aws:iam::000000000000:role/bench",
        "MemorySize": memory_mb,
        "Timeout": 120,
        "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(python_zip(source)?)},
    });
    crate::invoke::create_function_or_keep(conn, &body).await?;
    Ok(())
}

async fn invoke(conn: &mut Conn, name: &str, event: serde_json::Value) -> anyhow::Result<()> {
    let (status, body) = conn
        .send(&Op::post(
            format!("/2015-03-31/functions/{name}/invocations"),
            Bytes::from(serde_json::to_vec(&event)?),
        ))
        .await?;
    if status != StatusCode::OK {
        bail!(
            "invoking {name}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// Retires `name`'s warm environment (a configuration change), so its next invoke is cold.
async fn retire(conn: &mut Conn, name: &str, i: usize) -> anyhow::Result<()> {
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
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}

/// The host's `python3` running the init script: the floor.
fn host_init(iterations: usize) -> anyhow::Result<Summary> {
    let mut samples = Vec::new();
    let start = Instant::now();
    for _ in 0..iterations {
        let t = Instant::now();
        let st = std::process::Command::new("/usr/bin/python3")
            .args(["-c", WORK])
            .status()
            .context("running /usr/bin/python3")?;
        samples.push(t.elapsed());
        if !st.success() {
            bail!("python3 -c <work> failed");
        }
    }
    Ok(Summary::from_samples(samples, start.elapsed()))
}

pub async fn run_init_cpu(ctx: &mut Ctx) -> anyhow::Result<()> {
    let section = Section::InitCpu.title();
    let iterations = ctx.settings.cold_iterations.min(10);
    let addr = ctx.flint_addr()?;
    let mut conn = Conn::open(addr).await?;
    let init_source = format!("{WORK}\ndef handler(event, context):\n    return {{}}\n");
    let handler_source = format!(
        "def handler(event, context):\n{}    return {{}}\n",
        WORK.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    for mb in [128, 256] {
        create(&mut conn, &format!("bench-init-cpu-{mb}"), mb, &init_source).await?;
    }
    create(&mut conn, "bench-handler-cpu-128", 128, &handler_source).await?;
    // Rounds alternate between the floor and flint: the machine may be shared.
    let mut floor = Vec::new();
    let mut cold: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let start = Instant::now();
    for i in 0..iterations {
        let f = tokio::task::spawn_blocking(|| host_init(1)).await??;
        floor.push(Duration::from_secs_f64(f.p50_us / 1e6));
        for (slot, mb) in [128, 256].into_iter().enumerate() {
            let name = format!("bench-init-cpu-{mb}");
            retire(&mut conn, &name, i).await?;
            let t = Instant::now();
            invoke(&mut conn, &name, serde_json::json!({})).await?;
            cold[slot].push(t.elapsed());
        }
    }
    let wall = start.elapsed();
    let floor_id = "init_cpu.host";
    ctx.push_row(
        section,
        floor_id,
        "floor: host python3 running the init's work (~0.2 s of CPU), unthrottled".into(),
        Summary::from_samples(floor, wall),
        None,
    );
    for (slot, mb) in [128, 256].into_iter().enumerate() {
        ctx.push_row(
            section,
            &format!("init_cpu.cold_{mb}"),
            format!("cold Invoke, the same work in init, python3.11 at {mb} MB"),
            Summary::from_samples(std::mem::take(&mut cold[slot]), wall),
            Some(floor_id),
        );
    }
    // The handler's share, for contrast (a few: each takes seconds).
    let mut handler = Vec::new();
    let start = Instant::now();
    invoke(&mut conn, "bench-handler-cpu-128", serde_json::json!({})).await?;
    for _ in 0..iterations.min(3) {
        let t = Instant::now();
        invoke(&mut conn, "bench-handler-cpu-128", serde_json::json!({})).await?;
        handler.push(t.elapsed());
    }
    ctx.push_row(
        section,
        "init_cpu.handler_128",
        "warm Invoke, the same work in the handler at 128 MB (its proportional share)".into(),
        Summary::from_samples(handler, start.elapsed()),
        Some(floor_id),
    );
    Ok(())
}

const SMALL: &str = "def handler(event, context):\n    return event\n";

const SPINNER: &str = "import time\n\
def handler(event, context):\n    \
    end = time.monotonic() + event['seconds']\n    \
    n = 0\n    \
    while time.monotonic() < end:\n        \
        n += 1\n    \
    return n\n";

const THRASHER: &str = "import time\n\
def handler(event, context):\n    \
    end = time.monotonic() + event['seconds']\n    \
    a = bytearray(96 << 20)\n    \
    n = 0\n    \
    while time.monotonic() < end:\n        \
        for i in range(0, len(a), 4096):\n            \
            a[i] = (a[i] + 1) & 255\n        \
        n += 1\n    \
    return n\n";

const NEIGHBOURS: usize = 5;

pub async fn run_noisy_neighbour(ctx: &mut Ctx) -> anyhow::Result<()> {
    let section = Section::NoisyNeighbour.title();
    let addr = ctx.flint_addr()?;
    let mut conn = Conn::open(addr).await?;
    create(&mut conn, "bench-small", 1769, SMALL).await?;
    for i in 0..NEIGHBOURS {
        create(&mut conn, &format!("bench-spinner-{i}"), 128, SPINNER).await?;
        create(&mut conn, &format!("bench-thrasher-{i}"), 128, THRASHER).await?;
    }
    invoke(&mut conn, "bench-small", serde_json::json!({})).await?;
    let budget = ctx.budget(ctx.settings.iterations);
    let seconds = ctx.settings.duration_secs + 2.0;
    for round in 1..=2 {
        let op = || {
            Op::post(
                "/2015-03-31/functions/bench-small/invocations",
                Bytes::from_static(b"{}"),
            )
        };
        let alone = measure(addr, budget, StatusCode::OK, move |_| op()).await?;
        let alone_id = format!("noisy.alone.{round}");
        ctx.push_row(
            section,
            &alone_id,
            format!("warm Invoke of a small function (python3.11, 1769 MB) alone, round {round}"),
            alone,
            None,
        );
        // The neighbours, each on its own connection, running through the measurement.
        let mut running = Vec::new();
        for i in 0..NEIGHBOURS {
            for kind in ["spinner", "thrasher"] {
                let name = format!("bench-{kind}-{i}");
                running.push(tokio::spawn(async move {
                    let mut c = Conn::open(addr).await?;
                    invoke(&mut c, &name, serde_json::json!({"seconds": seconds})).await
                }));
            }
        }
        // Let their cold starts end before timing starts.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let beside = measure(addr, budget, StatusCode::OK, move |_| op()).await?;
        for r in running {
            r.await??;
        }
        ctx.push_row(
            section,
            &format!("noisy.beside.{round}"),
            format!(
                "the same, beside {NEIGHBOURS} CPU spinners and {NEIGHBOURS} memory thrashers (128 MB each), round {round}"
            ),
            beside,
            Some(&alone_id),
        );
    }
    Ok(())
}
