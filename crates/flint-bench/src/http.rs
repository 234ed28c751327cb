//! The benchmark's HTTP client and the loopback floor server.
//!
//! The client is hyper's bare HTTP/1.1 connection API: one TCP connection
//! per worker (TCP_NODELAY, keep-alive), one request in flight on it, no
//! pooling, retries or middleware. The floor server answers from inside the
//! bench process on its own thread and runtime, so the floor is what a
//! loopback round trip through hyper costs on this machine right now.

use crate::stats::Summary;
use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            sender,
            host: addr.to_string(),
        })
    }

    /// Sends one request and reads the whole response body.
    pub async fn send(&mut self, req: &Op) -> anyhow::Result<(StatusCode, Bytes)> {
        let (status, _, body) = self.send_with_headers(req, &[]).await?;
        Ok((status, body))
    }

    /// Sends one request with `extra` headers; returns the response headers too.
    pub async fn send_with_headers(
        &mut self,
        req: &Op,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<(StatusCode, hyper::HeaderMap, Bytes)> {
        let mut builder = Request::builder()
            .method(req.method.clone())
            .uri(req.path.as_str())
            .header(hyper::header::HOST, self.host.as_str());
        if !req.body.is_empty() {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        if let Some(t) = req.invocation_type {
            builder = builder.header("X-Amz-Invocation-Type", t);
        }
        for (name, value) in extra {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(req.body.clone()))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(request).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, headers, body))
    }
}

impl Conn {
    /// Sends one request and times it: (first body byte, whole body) after sending, and the
    /// status. Used for streamed responses, whose first bytes come long before the last.
    pub async fn time_first_byte(
        &mut self,
        req: &Op,
    ) -> anyhow::Result<(StatusCode, Duration, Duration)> {
        use hyper::body::Body as _;
        let mut builder = Request::builder()
            .method(req.method.clone())
            .uri(req.path.as_str())
            .header(hyper::header::HOST, self.host.as_str());
        if !req.body.is_empty() {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = builder.body(Full::new(req.body.clone()))?;
        self.sender.ready().await?;
        let t = Instant::now();
        let resp = self.sender.send_request(request).await?;
        let status = resp.status();
        let mut body = resp.into_body();
        let mut first = None;
        while let Some(frame) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame?;
            if first.is_none() && frame.data_ref().is_some_and(|d| !d.is_empty()) {
                first = Some(t.elapsed());
            }
        }
        let total = t.elapsed();
        Ok((status, first.unwrap_or(total), total))
    }
}

/// One request to send: method, path and body (cheap to clone).
#[derive(Clone)]
pub struct Op {
    pub method: Method,
    pub path: String,
    pub body: Bytes,
    /// `X-Amz-Invocation-Type`, when set.
    pub invocation_type: Option<&'static str>,
}

impl Op {
    pub fn get(path: impl Into<String>) -> Op {
        Op {
            method: Method::GET,
            path: path.into(),
            body: Bytes::new(),
            invocation_type: None,
        }
    }

    pub fn post(path: impl Into<String>, body: Bytes) -> Op {
        Op {
            method: Method::POST,
            path: path.into(),
            body,
            invocation_type: None,
        }
    }

    /// An asynchronous (`Event`) invocation.
    pub fn event(path: impl Into<String>, body: Bytes) -> Op {
        Op {
            invocation_type: Some("Event"),
            ..Op::post(path, body)
        }
    }
}

/// How much to measure one operation.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Stop starting new operations after this much wall time...
    pub duration: Duration,
    /// ...or after this many timed operations, whichever comes first.
    pub max_ops: usize,
    /// Untimed operations per worker before timing starts.
    pub warmup: usize,
    /// Workers, each with its own connection and one request in flight.
    pub concurrency: usize,
}

/// Runs `op(i)` for i = 0, 1, 2, ... on `budget.concurrency` connections
/// and summarises the latencies. Every response must have `expect` status.
/// Every index is used once (warm-up takes the first ones), so `op` may
/// hand out single-use requests such as unique names. `op` runs before a
/// request's timer starts, so preparing a request is never measured.
///
/// Throughput is timed operations divided by the busiest client's time
/// spent waiting for responses: request preparation is excluded, and for
/// one client it is exactly 1 / mean latency.
pub async fn measure<F>(
    addr: SocketAddr,
    budget: Budget,
    expect: StatusCode,
    op: F,
) -> anyhow::Result<Summary>
where
    F: Fn(usize) -> Op + Send + Sync + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(budget.warmup * budget.concurrency));
    let mut conns = Vec::with_capacity(budget.concurrency);
    for w in 0..budget.concurrency {
        let mut c = Conn::open(addr).await?;
        for k in 0..budget.warmup {
            let req = op(w * budget.warmup + k);
            let (status, body) = c.send(&req).await?;
            check(status, expect, &req, &body)?;
        }
        conns.push(c);
    }
    let first = budget.warmup * budget.concurrency;
    let start = Instant::now();
    let mut workers = Vec::new();
    for mut c in conns {
        let (op, next) = (op.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut samples: Vec<Duration> = Vec::new();
            loop {
                if start.elapsed() >= budget.duration {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= first + budget.max_ops {
                    break;
                }
                let req = op(i);
                let t = Instant::now();
                let (status, body) = c.send(&req).await?;
                samples.push(t.elapsed());
                check(status, expect, &req, &body)?;
            }
            anyhow::Ok(samples)
        }));
    }
    let mut samples = Vec::new();
    let mut busiest = Duration::ZERO;
    for w in workers {
        let mine = w.await??;
        busiest = busiest.max(mine.iter().sum());
        samples.extend(mine);
    }
    Ok(Summary::from_samples(samples, busiest))
}

fn check(status: StatusCode, expect: StatusCode, req: &Op, body: &Bytes) -> anyhow::Result<()> {
    if status != expect {
        bail!(
            "{} {} answered {status} (expected {expect}): {}",
            req.method,
            req.path,
            String::from_utf8_lossy(&body[..body.len().min(500)])
        );
    }
    Ok(())
}

/// The floor server: answers every request with a tiny JSON body after
/// reading (and discarding) the request body.
pub struct FloorServer {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FloorServer {
    pub fn start() -> anyhow::Result<FloorServer> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("floor-server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("floor server runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(std_listener).expect("floor listener");
                    loop {
                        tokio::select! {
                            _ = &mut rx => break,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                let _ = stream.set_nodelay(true);
                                tokio::spawn(async move {
                                    let svc = hyper::service::service_fn(answer);
                                    let _ = hyper::server::conn::http1::Builder::new()
                                        .serve_connection(TokioIo::new(stream), svc)
                                        .await;
                                });
                            }
                        }
                    }
                });
            })?;
        Ok(FloorServer {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let _ = req.into_body().collect().await?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(b"{}")))
        .expect("static response"))
}

impl Drop for FloorServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
