//! Reading request bodies from the runtime without ever holding more than a limit.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;
use tokio::sync::mpsc;

use crate::error::Rejection;
use crate::protocol::{FUNCTION_ERROR_BODY, FUNCTION_ERROR_TYPE, parse_error_type};
use crate::types::StreamError;

/// Why a bounded read did not produce a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// The body was larger than the limit; `size` is its full length (counted while the excess
    /// was discarded, so the connection stays usable for keep-alive).
    TooLarge { size: usize },
    /// The body ended early (connection error).
    Truncated,
}

/// Reads a whole body, keeping at most `limit` bytes.
///
/// The common case — the body arrives in one frame — returns that frame's `Bytes` without
/// copying. Beyond the limit the data is counted and dropped rather than rejected at once: a
/// client still writing a large body would otherwise see a connection reset instead of our 413
/// (Python's `http.client` writes the whole body before reading the status). The time spent
/// draining is bounded by the invocation timeout the invoke layer enforces.
pub(crate) async fn read_bounded<B>(
    mut body: B,
    limit: usize,
    size_hint: Option<u64>,
) -> Result<Bytes, ReadError>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    let mut total: usize = 0;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ReadError::Truncated);
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers on a buffered body carry nothing we use
        };
        total = total.saturating_add(data.len());
        if total > limit {
            first = None;
            buf = BytesMut::new();
            continue;
        }
        if first.is_none() && buf.is_empty() {
            first = Some(data);
        } else {
            if let Some(f) = first.take() {
                let hint = size_hint
                    .and_then(|h| usize::try_from(h).ok())
                    .filter(|&h| h <= limit)
                    .unwrap_or(0);
                buf.reserve(hint.max(f.len() + data.len()));
                buf.extend_from_slice(&f);
            }
            buf.extend_from_slice(&data);
        }
    }
    if total > limit {
        return Err(ReadError::TooLarge { size: total });
    }
    Ok(match first {
        Some(f) => f,
        None => buf.freeze(),
    })
}

/// Reads and drops up to `cap` bytes of a body we are refusing, so the connection can be kept
/// alive; gives up silently beyond `cap` or on error (hyper then closes the connection).
pub(crate) async fn discard<B>(mut body: B, cap: usize)
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen > cap {
                return;
            }
        }
    }
}

/// Forwards a streamed response body into `tx` chunk by chunk (back-pressured by the channel),
/// ending the stream with the trailers' error, a size error or a truncation error.
///
/// Returns the rejection the runtime's request gets, if any. Keeps draining (and discarding)
/// when the reader has gone away, so the runtime's request completes normally.
pub(crate) async fn pump_stream<B>(
    mut body: B,
    tx: mpsc::Sender<Result<Bytes, StreamError>>,
    limit: usize,
) -> Result<(), Rejection>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut total: usize = 0;
    let mut reader_alive = true;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            let _ = tx.send(Err(StreamError::Truncated)).await;
            return Err(Rejection::TruncatedHttpRequest);
        };
        match frame.into_data() {
            Ok(data) => {
                total = total.saturating_add(data.len());
                if total > limit {
                    let _ = tx.send(Err(StreamError::TooLarge { limit })).await;
                    drop(tx);
                    discard(body, usize::MAX).await;
                    return Err(Rejection::RequestEntityTooLarge { limit });
                }
                if reader_alive && !data.is_empty() && tx.send(Ok(data)).await.is_err() {
                    reader_alive = false;
                }
            }
            Err(frame) => {
                let Ok(trailers) = frame.into_trailers() else {
                    continue;
                };
                if let Some(error_type) = trailers.get(FUNCTION_ERROR_TYPE) {
                    let body = trailers
                        .get(FUNCTION_ERROR_BODY)
                        .map(|v| decode_error_body(v.as_bytes()))
                        .unwrap_or_default();
                    let err = StreamError::Function {
                        error_type: parse_error_type(Some(error_type.as_bytes())),
                        body,
                    };
                    let _ = tx.send(Err(err)).await;
                }
            }
        }
    }
    Ok(())
}

/// `Lambda-Runtime-Function-Error-Body` is base64 of the error JSON; fall back to the raw bytes
/// when it is not valid base64 (never lose what the runtime said).
pub fn decode_error_body(raw: &[u8]) -> Bytes {
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD.decode(raw.trim_ascii()) {
        Ok(v) => Bytes::from(v),
        Err(_) => Bytes::copy_from_slice(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};
    use hyper::body::Frame;
    use hyper::header::{HeaderMap, HeaderValue};

    fn chunks(
        parts: Vec<Result<Frame<Bytes>, std::io::Error>>,
    ) -> StreamBody<tokio_stream_shim::Iter<Result<Frame<Bytes>, std::io::Error>>> {
        StreamBody::new(tokio_stream_shim::Iter(parts.into_iter()))
    }

    /// A minimal `Stream` over an iterator (avoids a futures-util dependency in tests).
    mod tokio_stream_shim {
        use std::pin::Pin;
        use std::task::{Context, Poll};
        pub struct Iter<T>(pub std::vec::IntoIter<T>);
        impl<T> Unpin for Iter<T> {}
        impl<T> futures_core::Stream for Iter<T> {
            type Item = T;
            fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<T>> {
                Poll::Ready(self.0.next())
            }
        }
    }

    fn data(s: &'static [u8]) -> Result<Frame<Bytes>, std::io::Error> {
        Ok(Frame::data(Bytes::from_static(s)))
    }

    #[tokio::test]
    async fn single_frame_is_zero_copy() {
        let payload = Bytes::from_static(b"hello");
        let ptr = payload.as_ptr();
        let got = read_bounded(Full::<Bytes>::new(payload), 10, Some(5))
            .await
            .unwrap();
        assert_eq!(got.as_ptr(), ptr);
        assert_eq!(got, "hello");
    }

    #[tokio::test]
    async fn multi_frame_concatenates() {
        let b = chunks(vec![data(b"ab"), data(b"cd"), data(b"e")]);
        assert_eq!(read_bounded(b, 5, None).await.unwrap(), "abcde");
    }

    #[tokio::test]
    async fn exactly_limit_is_ok_one_more_is_too_large_with_full_size() {
        let b = chunks(vec![data(b"abc"), data(b"de")]);
        assert_eq!(read_bounded(b, 5, None).await.unwrap(), "abcde");
        let b = chunks(vec![data(b"abc"), data(b"def"), data(b"ghij")]);
        assert_eq!(
            read_bounded(b, 5, None).await,
            Err(ReadError::TooLarge { size: 10 })
        );
        let b = Full::<Bytes>::new(Bytes::from_static(b"123456"));
        assert_eq!(
            read_bounded(b, 5, Some(6)).await,
            Err(ReadError::TooLarge { size: 6 })
        );
    }

    #[tokio::test]
    async fn broken_body_is_truncated() {
        let b = chunks(vec![data(b"ab"), Err(std::io::Error::other("reset"))]);
        assert_eq!(read_bounded(b, 5, None).await, Err(ReadError::Truncated));
    }

    #[tokio::test]
    async fn stream_forwards_chunks_and_trailer_error() {
        let mut trailers = HeaderMap::new();
        trailers.insert(
            FUNCTION_ERROR_TYPE,
            HeaderValue::from_static("Runtime.StreamError"),
        );
        trailers.insert(
            FUNCTION_ERROR_BODY,
            HeaderValue::from_static("eyJhIjoxfQ=="),
        );
        let b = chunks(vec![
            data(b"ab"),
            data(b"cd"),
            Ok(Frame::trailers(trailers)),
        ]);
        let (tx, mut rx) = mpsc::channel(8);
        assert_eq!(pump_stream(b, tx, 100).await, Ok(()));
        assert_eq!(rx.recv().await.unwrap().unwrap(), "ab");
        assert_eq!(rx.recv().await.unwrap().unwrap(), "cd");
        assert_eq!(
            rx.recv().await.unwrap(),
            Err(StreamError::Function {
                error_type: "Runtime.StreamError".into(),
                body: Bytes::from_static(br#"{"a":1}"#),
            })
        );
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn stream_too_large_and_truncated() {
        let b = chunks(vec![data(b"abc"), data(b"def")]);
        let (tx, mut rx) = mpsc::channel(8);
        assert_eq!(
            pump_stream(b, tx, 4).await,
            Err(Rejection::RequestEntityTooLarge { limit: 4 })
        );
        assert_eq!(rx.recv().await.unwrap().unwrap(), "abc");
        assert_eq!(
            rx.recv().await.unwrap(),
            Err(StreamError::TooLarge { limit: 4 })
        );

        let b = chunks(vec![data(b"abc"), Err(std::io::Error::other("reset"))]);
        let (tx, mut rx) = mpsc::channel(8);
        assert_eq!(
            pump_stream(b, tx, 100).await,
            Err(Rejection::TruncatedHttpRequest)
        );
        assert_eq!(rx.recv().await.unwrap().unwrap(), "abc");
        assert_eq!(rx.recv().await.unwrap(), Err(StreamError::Truncated));
    }

    #[tokio::test]
    async fn stream_keeps_draining_when_reader_is_gone() {
        let b = chunks(vec![data(b"abc"), data(b"def")]);
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        assert_eq!(pump_stream(b, tx, 100).await, Ok(()));
    }

    #[test]
    fn error_body_decoding_falls_back_to_raw() {
        assert_eq!(decode_error_body(b"aGk="), "hi");
        assert_eq!(decode_error_body(b"not base64!"), "not base64!");
    }
}
