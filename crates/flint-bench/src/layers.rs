//! Cold starts with layers (part of the cold-start section): the same function with 0 and
//! with 5 layers, cold-started in turn (interleaved, so the machine's load drifts over both
//! alike), each 5-layer row read against its 0-layer twin. The merged `/opt` is built once
//! per layer set, at the first cold start (untimed here), so the difference left is what a
//! cold start pays for `/opt` when it is ready: the goal is within 1 ms.

use crate::http::{Conn, Op};
use crate::invoke::{await_prespawns, invoke_op, noop_provided_zip};
use crate::sections::{Ctx, Section};
use crate::stats::Summary;
use anyhow::bail;
use base64::Engine;
use bytes::Bytes;
use hyper::StatusCode;
use std::io::Write;
use std::time::{Duration, Instant};

const LAYERS: usize = 5;
/// Files per layer (Python packages of 1 KB modules, a realistic small dependency each).
const FILES_PER_LAYER: usize = 200;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Layer `i`: `python/pkg<i>/mod<n>.py` and a shared `python/common.py` the later layers
/// override.
fn layer_zip(i: usize) -> anyhow::Result<Vec<u8>> {
    let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o644);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for n in 0..FILES_PER_LAYER {
        w.start_file(format!("python/pkg{i}/mod{n}.py"), opts)?;
        w.write_all(format!("# layer {i} module {n}\n{}\n", "X = 1\n".repeat(170)).as_bytes())?;
    }
    w.start_file("python/common.py", opts)?;
    w.write_all(format!("LAYER = {i}\n").as_bytes())?;
    Ok(w.finish()?.into_inner())
}

async fn send(conn: &mut Conn, op: Op, want: StatusCode, what: &str) -> anyhow::Result<Bytes> {
    let (status, body) = conn.send(&op).await?;
    if status != want {
        bail!("{what}: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok(body)
}

/// Publishes the bench's layers and returns their version ARNs.
async fn publish_layers(conn: &mut Conn) -> anyhow::Result<Vec<String>> {
    let mut arns = Vec::new();
    for i in 0..LAYERS {
        let body = serde_json::json!({"Content": {"ZipFile": b64(&layer_zip(i)?)}});
        let out = send(
            conn,
            Op::post(
                format!("/2018-10-31/layers/bench-layer-{i}/versions"),
                Bytes::from(serde_json::to_vec(&body)?),
            ),
            StatusCode::CREATED,
            "publishing a bench layer",
        )
        .await?;
        let v: serde_json::Value = serde_json::from_slice(&out)?;
        arns.push(
            v["LayerVersionArn"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    Ok(arns)
}

/// The four functions: (name, runtime, handler, zip, layers).
async fn create_functions(conn: &mut Conn, arns: &[String]) -> anyhow::Result<Vec<String>> {
    let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o644);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("app.py", opts)?;
    w.write_all(b"def handler(event, context):\n    return event\n")?;
    let python = w.finish()?.into_inner();
    let provided = noop_provided_zip()?;
    let mut names = Vec::new();
    for (kind, runtime, handler, zip) in [
        ("provided", "provided.al2023", "bootstrap", &provided),
        ("python", "python3.11", "app.handler", &python),
    ] {
        for layers in [0, LAYERS] {
            let name = format!("bench-{kind}-layers{layers}");
            let body = serde_json::json!({
                "FunctionName": name, "Runtime": runtime, "Handler": handler,
                "Role": "arn:aws:iam::000000000000:role/bench",
                // One vCPU, as the other cold-start rows (see invoke.rs).
                "MemorySize": 1769,
                "Code": {"ZipFile": b64(zip)},
                "Layers": &arns[..layers],
            });
            crate::invoke::create_function_or_keep(conn, &body).await?;
            names.push(name);
        }
    }
    Ok(names)
}

/// Retires `name`'s warm environment (untimed), then times one cold invoke.
async fn one_cold_start(conn: &mut Conn, name: &str, i: usize) -> anyhow::Result<Duration> {
    let update = serde_json::json!({"Description": format!("cold {i}")});
    send(
        conn,
        Op {
            method: hyper::Method::PUT,
            path: format!("/2015-03-31/functions/{name}/configuration"),
            body: Bytes::from(serde_json::to_vec(&update)?),
            invocation_type: None,
        },
        StatusCode::OK,
        "updating a bench function",
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    await_prespawns(conn).await?;
    let t = Instant::now();
    send(conn, invoke_op(name), StatusCode::OK, "cold invoke").await?;
    Ok(t.elapsed())
}

pub async fn run_cold_layers(
    ctx: &mut Ctx,
    addr: std::net::SocketAddr,
    iterations: usize,
) -> anyhow::Result<()> {
    let section = Section::ColdStart.title();
    let mut conn = Conn::open(addr).await?;
    let arns = publish_layers(&mut conn).await?;
    let names = create_functions(&mut conn, &arns).await?;
    // The first cold start of each builds its /opt (and teaches the pre-spawner its shape).
    for name in &names {
        send(&mut conn, invoke_op(name), StatusCode::OK, "first invoke").await?;
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    let start = Instant::now();
    for i in 0..iterations {
        for (k, name) in names.iter().enumerate() {
            samples[k].push(one_cold_start(&mut conn, name, i).await?);
        }
    }
    let wall = start.elapsed();
    for (name, samples) in names.iter().zip(samples) {
        let layers = if name.ends_with(&format!("layers{LAYERS}")) {
            LAYERS
        } else {
            0
        };
        let floor = (layers > 0).then(|| {
            format!(
                "invoke.cold_layers.{}",
                name.replace(&format!("layers{LAYERS}"), "layers0")
            )
        });
        ctx.push_row(
            section,
            &format!("invoke.cold_layers.{name}"),
            format!(
                "cold Invoke, pre-spawned, {} with {layers} layers{}",
                name.trim_start_matches("bench-")
                    .split('-')
                    .next()
                    .unwrap_or(name),
                if layers > 0 {
                    format!(" of {} files each", FILES_PER_LAYER + 1)
                } else {
                    String::new()
                }
            ),
            Summary::from_samples(samples, wall),
            floor.as_deref(),
        );
    }
    Ok(())
}
