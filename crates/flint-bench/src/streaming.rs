//! Response streaming section: time to first byte of a streamed response
//! (`InvokeWithResponseStream` of a Node.js `streamifyResponse` function that writes a first
//! chunk at once, then the rest after a pause) next to the same function's buffered `Invoke`,
//! whose first byte can only come after the pause, and next to the loopback round trip.

use crate::http::{Conn, Op};
use crate::sections::{Ctx, FLOOR_HTTP_RTT, Section};
use crate::stats::Summary;
use anyhow::bail;
use base64::Engine;
use bytes::Bytes;
use hyper::StatusCode;
use std::io::Write;
use std::time::{Duration, Instant};

/// How long the function pauses between its first chunk and the rest.
const PAUSE_MS: u64 = 50;

const STREAMER: &str =
    "export const handler = awslambda.streamifyResponse(async (event, stream) => {
  stream.write('first chunk');
  await new Promise((r) => setTimeout(r, event.pause_ms));
  stream.end(' and the rest');
});
";

pub async fn run_streaming(ctx: &mut Ctx) -> anyhow::Result<()> {
    let s = ctx.settings.clone();
    let section = Section::Streaming.title();
    let addr = ctx.flint_addr()?;
    let mut conn = Conn::open(addr).await?;
    let name = "bench-stream";
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(
        "index.mjs",
        zip::write::SimpleFileOptions::default().unix_permissions(0o644),
    )?;
    w.write_all(STREAMER.as_bytes())?;
    let zip = w.finish()?.into_inner();
    let body = serde_json::json!({
        "FunctionName": name,
        "Runtime": "nodejs20.x",
        "Handler": "index.handler",
        "Role": "arn:aws:iam::000000000000:role/bench",
        "MemorySize": 1769,
        "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)},
    });
    let (status, resp) = conn
        .send(&Op::post(
            "/2015-03-31/functions",
            Bytes::from(serde_json::to_vec(&body)?),
        ))
        .await?;
    if status != StatusCode::CREATED && status != StatusCode::CONFLICT {
        bail!(
            "creating {name}: {status} {}",
            String::from_utf8_lossy(&resp)
        );
    }
    let payload = Bytes::from(format!(r#"{{"pause_ms": {PAUSE_MS}}}"#));
    let streamed = Op::post(
        format!("/2021-11-15/functions/{name}/response-streaming-invocations"),
        payload.clone(),
    );
    let buffered = Op::post(format!("/2015-03-31/functions/{name}/invocations"), payload);
    // Warm the environment (and Node's JIT) outside the timing.
    for _ in 0..s.warmup.max(3) {
        conn.time_first_byte(&streamed).await?;
    }
    let iterations = s.iterations.min(200);
    let budget = Duration::from_secs_f64(s.duration_secs);
    for (op, id, label) in [
        (
            &streamed,
            "stream.ttfb",
            "InvokeWithResponseStream: time to first byte (first PayloadChunk)",
        ),
        (
            &buffered,
            "stream.buffered_ttfb",
            "Invoke of the same function: time to first byte (the whole body)",
        ),
    ] {
        let mut first = Vec::new();
        let start = Instant::now();
        while first.len() < iterations && start.elapsed() < budget {
            let (status, ttfb, _) = conn.time_first_byte(op).await?;
            if status != StatusCode::OK {
                bail!("{id}: {status}");
            }
            first.push(ttfb);
        }
        ctx.push_row(
            section,
            id,
            format!("{label}; the function pauses {PAUSE_MS} ms after its first chunk"),
            Summary::from_samples(first, start.elapsed()),
            Some(FLOOR_HTTP_RTT),
        );
    }
    Ok(())
}
