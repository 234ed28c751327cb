//! Warm-path latency of the Runtime API, next to a floor measured in the same run.
//!
//! * `invoke`: [`RuntimeApi::invoke`] → event written to the runtime's parked `GET /next` →
//!   runtime posts `/response` → outcome back to the invoker. The "runtime" is a minimal
//!   in-process HTTP/1.1 client on one keep-alive loopback connection, as real runtime clients
//!   use.
//! * `raw http`: the same client doing one request/response with a trivial hyper server on
//!   loopback — the floor: an invoke costs at least about one HTTP round trip.
//!
//! Also reported: heap allocations per iteration for the whole process (server side plus the
//! in-process client), counted by a wrapping global allocator; the difference between the two
//! rows approximates what the Runtime API adds per invocation.
//!
//! Run: `cargo run --release -p flint-runtime-api --example bench_roundtrip [iterations] [current]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flint_runtime_api::{Invocation, InvokeOutcome, RuntimeApi, RuntimeApiConfig};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Counts allocations, delegating the work to the system allocator.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is exactly `System`'s; the counter is a relaxed atomic increment.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` through `alloc`/`realloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; `ptr` came from this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Minimal keep-alive HTTP/1.1 client: enough for Content-Length framed responses.
struct Client {
    io: BufReader<TcpStream>,
    line: String,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        Client {
            io: BufReader::new(s),
            line: String::with_capacity(256),
        }
    }

    async fn send(&mut self, head: &[u8], body: &[u8]) {
        let s = self.io.get_mut();
        if body.is_empty() {
            s.write_all(head).await.unwrap();
        } else {
            let mut buf = Vec::with_capacity(head.len() + body.len());
            buf.extend_from_slice(head);
            buf.extend_from_slice(body);
            s.write_all(&buf).await.unwrap();
        }
    }

    /// Reads a response; returns (status, request id header if any, body). Status 0: the
    /// server closed the connection.
    async fn read(&mut self) -> (u16, Option<String>, Vec<u8>) {
        self.line.clear();
        if self.io.read_line(&mut self.line).await.unwrap_or(0) < 12 {
            return (0, None, Vec::new());
        }
        let status: u16 = self.line[9..12].parse().unwrap();
        let mut len = 0usize;
        let mut id = None;
        loop {
            self.line.clear();
            self.io.read_line(&mut self.line).await.unwrap();
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap();
            } else if k.eq_ignore_ascii_case("lambda-runtime-aws-request-id")
                || k.eq_ignore_ascii_case("lambda-extension-identifier")
            {
                id = Some(v.trim().to_owned());
            }
        }
        let mut body = vec![0; len];
        self.io.read_exact(&mut body).await.unwrap();
        (status, id, body)
    }
}

/// The in-process "runtime": GET /next, POST /response with the event as the response.
async fn runtime_loop(addr: SocketAddr) {
    let mut c = Client::connect(addr).await;
    let next = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: rt\r\n\r\n";
    loop {
        c.send(next, b"").await;
        let (status, id, body) = c.read().await;
        if status != 200 {
            return; // shutdown
        }
        let id = id.unwrap();
        let head = format!(
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: rt\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        c.send(head.as_bytes(), &body).await;
        let (status, _, _) = c.read().await;
        if status != 202 {
            return; // shutdown
        }
    }
}

/// The in-process internal extension: registered for INVOKE, then `event/next` in a loop.
async fn register_extension(addr: SocketAddr) -> (Client, String) {
    let mut c = Client::connect(addr).await;
    let body = br#"{"events":["INVOKE"]}"#;
    let head = format!(
        "POST /2020-01-01/extension/register HTTP/1.1\r\nHost: rt\r\nLambda-Extension-Name: bench\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.send(head.as_bytes(), body).await;
    let (status, id, _) = c.read().await;
    assert_eq!(status, 200);
    (c, id.unwrap())
}

async fn extension_loop(mut c: Client, id: String) {
    let next = format!(
        "GET /2020-01-01/extension/event/next HTTP/1.1\r\nHost: rt\r\nLambda-Extension-Identifier: {id}\r\n\r\n"
    );
    loop {
        c.send(next.as_bytes(), b"").await;
        let (status, _, _) = c.read().await;
        if status != 200 {
            return; // shutdown
        }
    }
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort_unstable();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (p(0.50), p(0.99), p(0.999))
}

fn report(name: &str, v: Vec<Duration>) -> Duration {
    let n = v.len();
    let total: Duration = v.iter().sum();
    let (p50, p99, p999) = percentiles(v);
    println!(
        "{name:<28} n={n:<7} p50={:>7.1}µs  p99={:>7.1}µs  p99.9={:>7.1}µs  mean={:>7.1}µs",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        p999.as_secs_f64() * 1e6,
        total.as_secs_f64() * 1e6 / n as f64
    );
    p50
}

async fn bench_raw(iterations: usize) -> (Vec<Duration>, u64) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = listener.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let svc = service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                        br#"{"status":"OK"}"#,
                    ))))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    let mut c = Client::connect(addr).await;
    let req = b"POST /x HTTP/1.1\r\nHost: rt\r\nContent-Length: 17\r\n\r\n";
    let body = br#"{"hello":"world"}"#;
    let mut out = Vec::with_capacity(iterations);
    let mut allocs = 0;
    for i in 0..iterations + iterations / 10 {
        if i == iterations / 10 {
            allocs = ALLOCS.load(Ordering::Relaxed);
        }
        let t = Instant::now();
        c.send(req, body).await;
        let (status, _, _) = c.read().await;
        let d = t.elapsed();
        assert_eq!(status, 200);
        if i >= iterations / 10 {
            out.push(d);
        }
    }
    (out, ALLOCS.load(Ordering::Relaxed) - allocs)
}

/// `invoke()` until the environment could be reused: with `extension`, one internal extension
/// is registered and every iteration also waits for its `event/next` after the INVOKE.
async fn bench_invoke(iterations: usize, extension: bool) -> (Vec<Duration>, u64) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let api = RuntimeApi::new(RuntimeApiConfig::default());
    api.spawn(listener);
    if extension {
        let (c, id) = register_extension(addr).await;
        tokio::spawn(extension_loop(c, id));
    }
    let rt = tokio::spawn(runtime_loop(addr));
    api.wait_init().await.unwrap();
    let payload = Bytes::from_static(br#"{"hello":"world"}"#);
    let mut out = Vec::with_capacity(iterations);
    let mut allocs = 0;
    for i in 0..iterations + iterations / 10 {
        if i == iterations / 10 {
            allocs = ALLOCS.load(Ordering::Relaxed);
        }
        let inv = Invocation {
            request_id: format!("00000000-0000-0000-0000-{i:012}"),
            payload: payload.clone(),
            deadline_ms: 1_900_000_000_000,
            invoked_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
            ..Invocation::default()
        };
        let t = Instant::now();
        let outcome = api.invoke(inv).await.unwrap();
        api.wait_extensions_ready().await;
        let d = t.elapsed();
        assert!(matches!(outcome, InvokeOutcome::Response { ref body, .. } if *body == payload));
        if i >= iterations / 10 {
            out.push(d);
        }
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs;
    api.shutdown();
    let _ = rt.await;
    (out, allocs)
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("iterations"))
        .unwrap_or(20_000);
    // `current` runs everything on one thread: no cross-thread wake-ups, a lower bound for the
    // hand-off cost. The default matches a server: a multi-threaded runtime with 2 workers.
    let current = std::env::args().nth(2).as_deref() == Some("current");
    let rt = if current {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    }
    .unwrap();
    let flavor = if current {
        "current-thread runtime"
    } else {
        "2 worker threads"
    };
    rt.block_on(run(iterations, flavor));
}

async fn run(iterations: usize, flavor: &str) {
    println!("warm round trip over loopback, {iterations} iterations (+10% warm-up), {flavor}");
    // Interleave to spread machine noise over both figures.
    let half = iterations / 2;
    let (raw1, ra1) = bench_raw(half).await;
    let (inv1, ia1) = bench_invoke(half, false).await;
    let (ext1, ea1) = bench_invoke(half, true).await;
    let (raw2, ra2) = bench_raw(half).await;
    let (inv2, ia2) = bench_invoke(half, false).await;
    let (ext2, ea2) = bench_invoke(half, true).await;
    let floor = report("raw http round trip (floor)", [raw1, raw2].concat());
    let inv = report("invoke() round trip", [inv1, inv2].concat());
    let ext = report("invoke() + 1 extension", [ext1, ext2].concat());
    let per = |a: u64| a as f64 / (2 * half) as f64;
    println!(
        "allocations per iteration (server + in-process client): raw {:.1}, invoke {:.1}",
        per(ra1 + ra2),
        per(ia1 + ia2)
    );
    println!(
        "allocations per iteration with one extension: {:.1}; its p50 cost: {:.1}µs",
        per(ea1 + ea2),
        (ext.as_secs_f64() - inv.as_secs_f64()) * 1e6
    );
    println!(
        "invoke p50 / floor p50 = {:.2}x  (an invoke is one HTTP exchange plus two task hand-offs:\n\
         invoker -> parked /next, and /response handler -> invoker)",
        inv.as_secs_f64() / floor.as_secs_f64()
    );
}
