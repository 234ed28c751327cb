//! The benchmark sections and what they share while they run: the settings, the flint
//! under test and the report's rows. Each section adds rows; a row names the floor row it
//! is compared with, so every figure is read against a floor measured in the same run on the
//! same machine.
//!
//! Adding a section (warm invoke, cold start, ...) = a variant in [`Section`], a module with
//! a `run_*` function that pushes rows (called from `main.rs`), and a floor id for its rows to
//! point at (`floor.http_rtt` for API calls, `floor.fork_exec` for anything that starts a
//! process).

use crate::http::{Budget, FloorServer};
use crate::server::FlintServer;
use crate::stats::Summary;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Floor ids other sections compare against.
pub const FLOOR_HTTP_RTT: &str = "floor.http_rtt";
pub const FLOOR_HTTP_UPLOAD: &str = "floor.http_upload_1mb";
pub const FLOOR_FORK_EXEC: &str = "floor.fork_exec";

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Stable id (`section.operation`), used by other rows' `floor`.
    pub id: String,
    pub section: String,
    pub operation: String,
    #[serde(flatten)]
    pub summary: Summary,
    /// The id of the floor row this figure is compared with.
    pub floor: Option<String>,
    /// p50 of this row / p50 of its floor.
    pub p50_vs_floor: Option<f64>,
    /// p99 of this row / p99 of its floor.
    pub p99_vs_floor: Option<f64>,
}

/// Knobs shared by all sections.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    #[serde(skip)]
    pub flint_bin: PathBuf,
    /// Wall-time budget per operation, seconds.
    pub duration_secs: f64,
    /// Upper bound of timed operations per operation.
    pub iterations: usize,
    /// Timed CreateFunction calls (each uploads a fresh 1 MB package).
    pub create_iterations: usize,
    /// Functions present while ListFunctions / GetFunction are measured.
    pub functions: usize,
    pub concurrency: usize,
    pub warmup: usize,
    pub package_bytes: usize,
    /// Cold starts measured per function.
    pub cold_iterations: usize,
    /// Concurrent cold invocations in the burst section.
    pub burst: usize,
}

impl Settings {
    pub fn budget(&self, max_ops: usize) -> Budget {
        Budget {
            duration: Duration::from_secs_f64(self.duration_secs),
            max_ops,
            warmup: self.warmup,
            concurrency: self.concurrency,
        }
    }
}

/// What the sections share while they run.
pub struct Ctx {
    pub settings: Settings,
    pub floor: FloorServer,
    pub flint: Option<FlintServer>,
    pub rows: Vec<Row>,
}

impl Ctx {
    /// Adds a row (and says so on stderr while the run goes on).
    pub fn push_row(
        &mut self,
        section: &str,
        id: &str,
        operation: String,
        s: Summary,
        floor: Option<&str>,
    ) {
        eprintln!(
            "  {operation}: n={} p50={} p99={} ({:.0} ops/s)",
            s.n,
            crate::stats::fmt_us(s.p50_us),
            crate::stats::fmt_us(s.p99_us),
            s.ops_per_sec
        );
        self.rows.push(Row {
            id: id.to_string(),
            section: section.to_string(),
            operation,
            summary: s,
            floor: floor.map(str::to_string),
            p50_vs_floor: None,
            p99_vs_floor: None,
        });
    }

    /// The address of the flint under test (started on first use).
    pub fn flint_addr(&mut self) -> anyhow::Result<std::net::SocketAddr> {
        Ok(self.flint()?.addr)
    }

    /// The measuring budget for up to `max_ops` operations.
    pub fn budget(&self, max_ops: usize) -> Budget {
        self.settings.budget(max_ops)
    }

    fn flint(&mut self) -> anyhow::Result<&FlintServer> {
        if self.flint.is_none() {
            self.flint = Some(FlintServer::start(&self.settings.flint_bin)?);
        }
        Ok(self.flint.as_ref().expect("just started"))
    }

    /// Fills in the ratios once every row is measured.
    pub fn finish(&mut self) {
        let floors: Vec<(String, f64, f64)> = self
            .rows
            .iter()
            .map(|r| (r.id.clone(), r.summary.p50_us, r.summary.p99_us))
            .collect();
        for row in &mut self.rows {
            if let Some(f) = &row.floor
                && let Some((_, p50, p99)) = floors.iter().find(|(id, _, _)| id == f)
            {
                row.p50_vs_floor = Some(row.summary.p50_us / p50);
                row.p99_vs_floor = Some(row.summary.p99_us / p99);
            }
        }
    }
}

/// The sections, in run order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    /// Floors: loopback HTTP round trip, 1 MB upload, fork+exec.
    Floors,
    /// Control-plane API calls against flint.
    ControlPlane,
    /// Warm Invoke latency and throughput (no-op `provided`, Python).
    WarmInvoke,
    /// Cold starts: a new sandbox, runtime init and the first event.
    ColdStart,
    /// Asynchronous invocation: enqueue latency, events run per second.
    AsyncInvoke,
    /// A burst of concurrent cold invocations: environments started per second.
    Burst,
    /// Requests through a function URL.
    FunctionUrl,
    /// Time to first byte of a streamed response.
    Streaming,
    /// A CPU-heavy init at 128 and 256 MB next to the same work on the host.
    InitCpu,
    /// Warm p99 of a small function alone and beside CPU spinners and memory thrashers.
    NoisyNeighbour,
}

impl Section {
    pub const ALL: &[Section] = &[
        Section::Floors,
        Section::ControlPlane,
        Section::WarmInvoke,
        Section::ColdStart,
        Section::AsyncInvoke,
        Section::Burst,
        Section::FunctionUrl,
        Section::Streaming,
        Section::InitCpu,
        Section::NoisyNeighbour,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Section::Floors => "Floors",
            Section::ControlPlane => "Control plane",
            Section::WarmInvoke => "Warm invoke",
            Section::ColdStart => "Cold start",
            Section::AsyncInvoke => "Asynchronous invoke",
            Section::Burst => "Burst scaling",
            Section::FunctionUrl => "Function URL",
            Section::Streaming => "Response streaming",
            Section::InitCpu => "Init CPU",
            Section::NoisyNeighbour => "Noisy neighbour",
        }
    }
}
