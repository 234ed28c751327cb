//! InvokeWithResponseStream through the AWS SDK for Rust: the SDK's event-stream decoder reads
//! flint's `PayloadChunk` and `InvokeComplete` messages, the first chunk arrives while the
//! function still runs, and `ResponseStreamContentType` is the function's stream content type.

mod common;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvokeWithResponseStreamResponseEvent as Event, Runtime};
use common::{Server, create_request, describe, zip_of};
use std::time::{Duration, Instant};

const STREAMER: &str = r#"
export const handler = awslambda.streamifyResponse(async (event, stream) => {
  stream.setContentType("text/plain");
  stream.write("first ");
  await new Promise((r) => setTimeout(r, 1000));
  stream.end("last");
});
"#;

#[tokio::test]
async fn the_sdk_reads_a_stream_chunk_by_chunk() {
    let server = Server::start();
    let client = server.client_no_retry();
    create_request(
        &client,
        "sdk-stream",
        &zip_of(&[("index.mjs", STREAMER.as_bytes())]),
    )
    .runtime(Runtime::Nodejs20x)
    .timeout(10)
    .send()
    .await
    .unwrap_or_else(|e| panic!("create: {}", describe(&e)));

    let sent = Instant::now();
    let mut out = client
        .invoke_with_response_stream()
        .function_name("sdk-stream")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("invoke: {}", describe(&e)));
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.executed_version(), Some("$LATEST"));
    assert_eq!(out.response_stream_content_type(), Some("text/plain"));

    let mut body = Vec::new();
    let mut first_at = None;
    let mut complete = None;
    while let Some(event) = out
        .event_stream
        .recv()
        .await
        .expect("a well-formed event stream")
    {
        match event {
            Event::PayloadChunk(chunk) => {
                first_at.get_or_insert_with(|| sent.elapsed());
                body.extend_from_slice(chunk.payload().expect("payload").as_ref());
            }
            Event::InvokeComplete(done) => complete = Some(done),
            other => panic!("unexpected event {other:?}"),
        }
    }
    let total = sent.elapsed();
    assert_eq!(body, b"first last");
    let complete = complete.expect("InvokeComplete ends the stream");
    assert_eq!(complete.error_code(), None);
    let first_at = first_at.expect("a chunk");
    assert!(
        total - first_at >= Duration::from_millis(700),
        "the first chunk came at {first_at:?}, the end at {total:?}"
    );
}
