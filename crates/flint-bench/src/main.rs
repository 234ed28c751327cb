//! `flint-bench`: measures flint and, in the same run, the floors its
//! figures are read against (loopback HTTP round trip, a 1 MB upload,
//! fork+exec). Absolute times on shared machines drift; the ratio of a
//! figure to its floor measured minutes apart on the same machine drifts
//! much less.
//!
//! Output: a Markdown table (default) or JSON (`--json`).

mod burst;
mod contention;
mod control_plane;
mod floors;
mod http;
mod invoke;
mod layers;
mod report;
mod sections;
mod server;
mod stats;
mod streaming;
mod urls;

use clap::Parser;
use sections::{Ctx, Section, Settings};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "flint-bench",
    about = "Benchmarks flint against floors measured in the same run"
)]
struct Args {
    /// The flint binary to benchmark.
    #[arg(long, env = "FLINT_BIN", default_value = "target/release/flint")]
    flint_bin: PathBuf,
    /// Wall-time budget per measured operation, in seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// At most this many timed operations per measured operation.
    #[arg(long, default_value_t = 20_000)]
    iterations: usize,
    /// Timed CreateFunction calls (each uploads a fresh package).
    #[arg(long, default_value_t = 300)]
    create_iterations: usize,
    /// Functions present while GetFunction / ListFunctions are measured.
    #[arg(long, default_value_t = 100)]
    functions: usize,
    /// Concurrent clients (one keep-alive connection each).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Untimed operations per client before timing starts.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Random (incompressible) bytes in the CreateFunction package.
    #[arg(long, default_value_t = 1_000_000)]
    package_bytes: usize,
    /// Cold starts measured per function.
    #[arg(long, default_value_t = 20)]
    cold_iterations: usize,
    /// Concurrent cold invocations in the burst section.
    #[arg(long, default_value_t = 200)]
    burst: usize,
    /// Sections to run (default: all), e.g. `--section floors`.
    #[arg(long = "section", value_enum)]
    sections: Vec<Section>,
    /// CI smoke mode: 0.5 s per operation, 5 creates, 2 warm-ups.
    #[arg(long)]
    quick: bool,
    /// Print JSON instead of the Markdown table.
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.quick {
        args.duration = args.duration.min(0.5);
        args.create_iterations = args.create_iterations.min(5);
        args.warmup = args.warmup.min(2);
        args.cold_iterations = args.cold_iterations.min(3);
        args.burst = args.burst.min(10);
    }
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(args.burst >= 1, "--burst must be at least 1");
    anyhow::ensure!(args.iterations >= 1, "--iterations must be at least 1");
    anyhow::ensure!(
        args.create_iterations >= 1,
        "--create-iterations must be at least 1"
    );
    let sections: Vec<Section> = if args.sections.is_empty() {
        Section::ALL.to_vec()
    } else {
        Section::ALL
            .iter()
            .copied()
            .filter(|s| args.sections.contains(s))
            .collect()
    };
    let settings = Settings {
        flint_bin: args.flint_bin.clone(),
        duration_secs: args.duration,
        iterations: args.iterations,
        create_iterations: args.create_iterations,
        functions: args.functions,
        concurrency: args.concurrency,
        warmup: args.warmup,
        package_bytes: args.package_bytes,
        cold_iterations: args.cold_iterations.max(1),
        burst: args.burst,
    };
    let needs_flint = sections.iter().any(|s| *s != Section::Floors);
    if needs_flint && !settings.flint_bin.exists() {
        anyhow::bail!(
            "flint binary not found at {} (build it with `cargo build --release -p flint`, or pass --flint-bin / FLINT_BIN)",
            settings.flint_bin.display()
        );
    }

    // The client side runs on one thread, like a single caller would.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = std::time::SystemTime::now();
    let ctx = rt.block_on(async {
        let mut ctx = Ctx {
            settings,
            floor: http::FloorServer::start()?,
            flint: None,
            rows: Vec::new(),
        };
        for s in &sections {
            run_section(*s, &mut ctx).await?;
        }
        if let Some(mut f) = ctx.flint.take() {
            f.stop();
        }
        ctx.finish();
        anyhow::Ok(ctx)
    })?;
    let report = report::Report::new(&ctx, &sections, started, args.quick);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.markdown());
    }
    Ok(())
}

/// Runs one section, which adds its rows to `ctx`.
async fn run_section(section: Section, ctx: &mut Ctx) -> anyhow::Result<()> {
    eprintln!("== {}", section.title());
    match section {
        Section::Floors => floors::run_floors(ctx).await,
        Section::ControlPlane => control_plane::run_control_plane(ctx).await,
        Section::WarmInvoke => invoke::run_warm(ctx).await,
        Section::ColdStart => invoke::run_cold(ctx).await,
        Section::AsyncInvoke => invoke::run_async(ctx).await,
        Section::Burst => burst::run_burst(ctx).await,
        Section::FunctionUrl => urls::run_urls(ctx).await,
        Section::Streaming => streaming::run_streaming(ctx).await,
        Section::InitCpu => contention::run_init_cpu(ctx).await,
        Section::NoisyNeighbour => contention::run_noisy_neighbour(ctx).await,
    }
}
