//! Burst scaling (issue 4): N concurrent invocations of a function with no
//! warm environment, all sent at once. Reported: each invoke's latency and
//! the time until all have answered, with environments started per second
//! (cold starts counted from the REPORT lines' `Init Duration`).
//!
//! Floor, measured in the same run: N bare fork+exec+wait of `/bin/true`,
//! also started at once from N threads, so the rate of the burst is read
//! against the rate at which this machine can start processes at all.

use crate::http::{Conn, Op};
use crate::sections::{Ctx, Section};
use crate::stats::Summary;
use anyhow::{Context, bail};
use base64::Engine;
use bytes::Bytes;
use hyper::StatusCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

pub const FLOOR_FORK_EXEC_BURST: &str = "floor.fork_exec_burst";

/// How long each invocation holds its environment: long enough that the
/// burst cannot be served by fewer environments than invocations.
const HOLD_MS: u64 = 100;

pub async fn run_burst(ctx: &mut Ctx) -> anyhow::Result<()> {
    let n = ctx.settings.burst;
    let section = Section::Burst.title();

    let floor = tokio::task::spawn_blocking(move || fork_exec_burst(n)).await??;
    ctx.push_row(
        section,
        FLOOR_FORK_EXEC_BURST,
        format!("floor: {n} fork+exec+wait of /bin/true started at once ({n} threads)"),
        floor,
        None,
    );

    let addr = ctx.flint_addr()?;
    let mut conn = Conn::open(addr).await?;
    // A new function per run: no environment of it can be warm.
    let name = format!("bench-burst-{}", std::process::id());
    let body = serde_json::json!({
        "FunctionName": name,
        "Runtime": "provided.al2023",
        "Handler": "bootstrap",
        "Role": "arn:aws:iam::000000000000:role/bench",
        "MemorySize": 512,
        "Environment": {"Variables": {"BENCH_HOLD_MS": HOLD_MS.to_string()}},
        "Code": {"ZipFile": base64::engine::general_purpose::STANDARD
            .encode(crate::invoke::noop_provided_zip()?)},
    });
    let (status, resp) = conn
        .send(&Op::post(
            "/2015-03-31/functions",
            Bytes::from(serde_json::to_vec(&body)?),
        ))
        .await?;
    if status != StatusCode::CREATED {
        bail!(
            "creating {name}: {status} {}",
            String::from_utf8_lossy(&resp)
        );
    }

    // Every connection is open before the first request leaves.
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(Conn::open(addr).await?);
    }
    let gate = Arc::new(tokio::sync::Barrier::new(n));
    let path = format!("/2015-03-31/functions/{name}/invocations");
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut c in conns {
        let gate = gate.clone();
        let op = Op::post(path.clone(), Bytes::from_static(b"{}"));
        tasks.spawn(async move {
            gate.wait().await;
            let t = Instant::now();
            let (status, headers, body) = c
                .send_with_headers(&op, &[("X-Amz-Log-Type", "Tail")])
                .await?;
            let elapsed = t.elapsed();
            if status != StatusCode::OK || headers.contains_key("x-amz-function-error") {
                bail!("burst invoke: {status} {}", String::from_utf8_lossy(&body));
            }
            let log = headers
                .get("x-amz-log-result")
                .context("no X-Amz-Log-Result")?
                .to_str()?;
            let log = base64::engine::general_purpose::STANDARD.decode(log)?;
            let cold = String::from_utf8_lossy(&log).contains("Init Duration");
            anyhow::Ok((elapsed, cold))
        });
    }
    let mut samples = Vec::with_capacity(n);
    let mut cold = 0;
    while let Some(result) = tasks.join_next().await {
        let (elapsed, was_cold) = result??;
        samples.push(elapsed);
        cold += usize::from(was_cold);
    }
    let wall = start.elapsed();
    let mut summary = Summary::from_samples(samples, wall);
    // Throughput of this row = environments started per second of the burst.
    summary.ops_per_sec = cold as f64 / wall.as_secs_f64().max(1e-9);
    ctx.push_row(
        section,
        "burst.cold",
        format!(
            "{n} concurrent Invokes of a new provided function (512 MB, holds each event {HOLD_MS} ms): \
             {cold} environments started, all answered in {:.0} ms; ops/s = environments per second",
            wall.as_secs_f64() * 1e3
        ),
        summary,
        Some(FLOOR_FORK_EXEC_BURST),
    );
    let (status, _) = conn
        .send(&Op {
            method: hyper::Method::DELETE,
            path: format!("/2015-03-31/functions/{name}"),
            body: Bytes::new(),
            invocation_type: None,
        })
        .await?;
    if status != StatusCode::NO_CONTENT {
        bail!("deleting {name}: {status}");
    }
    Ok(())
}

/// `n` threads, released together, each fork+exec+waits `/bin/true` once.
/// The summary's throughput is processes per second over the whole burst.
fn fork_exec_burst(n: usize) -> anyhow::Result<Summary> {
    let gate = Arc::new(Barrier::new(n + 1));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let gate = gate.clone();
            std::thread::spawn(move || -> anyhow::Result<Duration> {
                gate.wait();
                let t = Instant::now();
                let status = std::process::Command::new("/bin/true").status()?;
                if !status.success() {
                    bail!("/bin/true failed: {status}");
                }
                Ok(t.elapsed())
            })
        })
        .collect();
    gate.wait();
    let start = Instant::now();
    let mut samples = Vec::with_capacity(n);
    for t in threads {
        samples.push(t.join().map_err(|_| anyhow::anyhow!("thread panicked"))??);
    }
    Ok(Summary::from_samples(samples, start.elapsed()))
}
