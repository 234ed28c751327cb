//! A streamed response, read to its end within the invocation's deadline: forwarded chunk
//! by chunk to `InvokeWithResponseStream`'s caller, or collected for a buffered `Invoke`.

use crate::request::StreamPart;
use crate::verdict::Ending;
use flint_runtime_api::StreamingResponse;
use std::time::Instant;
use tokio::sync::mpsc::Sender;

/// Reads `stream` until it ends, breaks off or `deadline` passes. With `stream_to`, the
/// content type and then every chunk are sent there (the ending's body stays empty);
/// without it, the chunks are collected into the ending's body.
pub(crate) async fn read_to_end(
    stream: StreamingResponse,
    deadline: Instant,
    stream_to: Option<&Sender<StreamPart>>,
) -> Ending {
    let mut body = stream.body;
    let mut client_gone = match stream_to {
        Some(tx) => tx
            .send(StreamPart::ContentType(stream.content_type.clone()))
            .await
            .is_err(),
        None => false,
    };
    let mut collected = bytes::BytesMut::new();
    loop {
        let next = tokio::time::timeout_at(deadline.into(), body.next_chunk()).await;
        match next {
            Err(_) => return Ending::TimedOut,
            Ok(None) => break,
            Ok(Some(Err(e))) => return Ending::of_stream_error(e),
            Ok(Some(Ok(chunk))) => match stream_to {
                // A caller that went away does not stop the function: the rest is read
                // and dropped so the runtime can finish its response.
                Some(tx) if !client_gone => {
                    client_gone = tx.send(StreamPart::Chunk(chunk)).await.is_err()
                }
                Some(_) => {}
                None => collected.extend_from_slice(&chunk),
            },
        }
    }
    Ending::Response {
        body: collected.freeze(),
        content_type: stream.content_type,
    }
}
