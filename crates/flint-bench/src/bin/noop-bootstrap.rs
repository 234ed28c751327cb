//! The smallest useful `provided` runtime: a Runtime API client on one
//! keep-alive connection, std only, that answers every event with `{}`.
//! The invoke benchmark packages it as `bootstrap` so that warm invoke and
//! cold start figures measure flint, not a runtime client's own overhead.
//!
//! `BENCH_HOLD_MS` (a function environment variable) makes it hold each
//! event that long before answering, so that a burst of concurrent invokes
//! cannot be served by fewer environments than invokes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

fn main() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .expect("AWS_LAMBDA_RUNTIME_API is set by the platform");
    let stream = TcpStream::connect(&api).expect("connect to the Runtime API");
    stream.set_nodelay(true).expect("nodelay");
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    // Each request is formatted into a buffer and sent with one write: `write!`
    // straight to a TCP_NODELAY socket sends every piece of the format string
    // as its own segment, which made this "no-op" client cost several extra
    // wake-ups of the Runtime API server per request.
    let next = format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\n\r\n");
    let hold = std::env::var("BENCH_HOLD_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(std::time::Duration::from_millis);
    let mut request = Vec::with_capacity(256);
    loop {
        writer.write_all(next.as_bytes()).expect("send next");
        let (id, len) = read_head(&mut reader);
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body).expect("read event");
        if let Some(hold) = hold {
            std::thread::sleep(hold);
        }
        request.clear();
        write!(
            request,
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: {api}\r\nContent-Length: 2\r\n\r\n{{}}"
        )
        .expect("format response");
        writer.write_all(&request).expect("send response");
        let (_, len) = read_head(&mut reader);
        let mut ack = vec![0u8; len];
        reader.read_exact(&mut ack).expect("read ack");
    }
}

/// Reads a response head; returns the request id header (if any) and the
/// content length.
fn read_head(reader: &mut BufReader<TcpStream>) -> (String, usize) {
    let mut id = String::new();
    let mut len = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).expect("read header") == 0 {
            std::process::exit(0); // the platform closed the connection
        }
        let l = line.trim_end();
        if l.is_empty() {
            return (id, len);
        }
        if let Some((k, v)) = l.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("lambda-runtime-aws-request-id") {
                id = v.to_string();
            } else if k.eq_ignore_ascii_case("content-length") {
                len = v.parse().unwrap_or(0);
            }
        }
    }
}
