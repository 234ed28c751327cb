//! Shared helpers for the integration tests: start a Runtime API on a loopback port, speak raw
//! HTTP/1.1 to it (so tests see exact statuses, headers and bodies), build invocations.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flint_runtime_api::{Invocation, RuntimeApi, RuntimeApiConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:echo";

/// A Runtime API serving on an ephemeral loopback port.
pub async fn start(config: RuntimeApiConfig) -> (RuntimeApi, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let api = RuntimeApi::new(config);
    api.spawn(listener);
    (api, addr)
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub fn invocation(id: &str, payload: &str) -> Invocation {
    Invocation {
        request_id: id.to_owned(),
        payload: Bytes::copy_from_slice(payload.as_bytes()),
        deadline_ms: now_ms() + 30_000,
        invoked_function_arn: ARN.to_owned(),
        ..Invocation::default()
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    /// Lower-cased header names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    io: BufReader<TcpStream>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        Conn {
            io: BufReader::new(s),
        }
    }

    /// Writes a request with a Content-Length body.
    pub async fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: rt\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if method == "POST" || !body.is_empty() {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        // Write errors (server closed the connection) surface as status 0 on the next read.
        let io = self.io.get_mut();
        let _ = io.write_all(req.as_bytes()).await;
        let _ = io.write_all(body).await;
        let _ = io.flush().await;
    }

    /// Writes a chunked request; `trailers` are sent after the last chunk.
    pub async fn send_chunked(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        chunks: &[&[u8]],
        trailers: &[(&str, &str)],
    ) {
        let mut req = format!("POST {path} HTTP/1.1\r\nHost: rt\r\nTransfer-Encoding: chunked\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut buf = req.into_bytes();
        for c in chunks {
            buf.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            buf.extend_from_slice(c);
            buf.extend_from_slice(b"\r\n");
        }
        buf.extend_from_slice(b"0\r\n");
        for (k, v) in trailers {
            buf.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        let io = self.io.get_mut();
        io.write_all(&buf).await.unwrap();
        io.flush().await.unwrap();
    }

    /// Reads one response (Content-Length framed, as this server always answers). A closed
    /// connection reads as status 0.
    pub async fn read(&mut self) -> Resp {
        let mut line = String::new();
        if self.io.read_line(&mut line).await.unwrap_or(0) == 0 {
            return Resp {
                status: 0,
                headers: HashMap::new(),
                body: Vec::new(),
            };
        }
        assert!(line.starts_with("HTTP/1.1 "), "bad status line {line:?}");
        let status: u16 = line[9..12].parse().unwrap();
        let mut headers = HashMap::new();
        loop {
            line.clear();
            self.io.read_line(&mut line).await.unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
        let len: usize = headers
            .get("content-length")
            .map(|v| v.parse().unwrap())
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.io.read_exact(&mut body).await.unwrap();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        self.send(method, path, headers, body).await;
        self.read().await
    }
}

pub const NEXT: &str = "/2018-06-01/runtime/invocation/next";

pub fn response_path(id: &str) -> String {
    format!("/2018-06-01/runtime/invocation/{id}/response")
}

pub fn error_path(id: &str) -> String {
    format!("/2018-06-01/runtime/invocation/{id}/error")
}

pub const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";

/// The environment every official runtime client needs (the Rust one panics without the
/// function name, memory size and version).
pub fn lambda_env(addr: SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", addr.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "echo".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/22/[$LATEST]0123456789abcdef0123456789abcdef".into(),
        ),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/echo".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("TZ", ":UTC".into()),
    ]
}
