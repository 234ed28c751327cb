//! The report: a Markdown table with each figure next to its floor, or JSON.

use crate::sections::{Ctx, Row, Section, Settings};
use crate::stats::fmt_us;
use serde::Serialize;
use std::fmt::Write;

pub const CLIENT: &str = "hyper 1.x HTTP/1.1 client connection API (hyper::client::conn::http1): one keep-alive TCP connection per client, TCP_NODELAY, one request in flight, no pool/retries/signing; client runtime: tokio current-thread";

#[derive(Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    /// Seconds since the Unix epoch when the run started.
    pub started_unix: u64,
    pub quick: bool,
    pub client: &'static str,
    pub settings: Settings,
    pub sections: Vec<Section>,
    pub rows: Vec<Row>,
}

impl Report {
    pub fn new(
        ctx: &Ctx,
        sections: &[Section],
        started: std::time::SystemTime,
        quick: bool,
    ) -> Report {
        Report {
            tool: "flint-bench",
            version: env!("CARGO_PKG_VERSION"),
            started_unix: started
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            quick,
            client: CLIENT,
            settings: ctx.settings.clone(),
            sections: sections.to_vec(),
            rows: ctx.rows.clone(),
        }
    }

    pub fn markdown(&self) -> String {
        let s = &self.settings;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Client: {}. Concurrency {}, {} warm-up ops per client, budget {} s or {} ops per operation ({} for CreateFunction){}.\n",
            self.client,
            s.concurrency,
            s.warmup,
            s.duration_secs,
            s.iterations,
            s.create_iterations,
            if self.quick {
                "; QUICK mode (smoke only, figures are noisy)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "| Section | Operation (`id`) | n | ops/s | p50 | p99 | Floor | p50 ÷ floor p50 | p99 ÷ floor p99 |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---|---:|---:|");
        for row in &self.rows {
            let floor = row
                .floor
                .as_deref()
                .and_then(|f| self.rows.iter().find(|r| r.id == f));
            let ratio = |x: Option<f64>| x.map_or("—".to_string(), |v| format!("{v:.1}×"));
            let _ = writeln!(
                out,
                "| {} | {} (`{}`) | {} | {:.0} | {} | {} | {} | {} | {} |",
                row.section,
                row.operation,
                row.id,
                row.summary.n,
                row.summary.ops_per_sec,
                fmt_us(row.summary.p50_us),
                fmt_us(row.summary.p99_us),
                floor.map_or("— (is a floor)".to_string(), |f| format!(
                    "`{}` (p50 {})",
                    f.id,
                    fmt_us(f.summary.p50_us)
                )),
                ratio(row.p50_vs_floor),
                ratio(row.p99_vs_floor),
            );
        }
        out
    }
}
