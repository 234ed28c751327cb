//! Latency samples and their summary.

use serde::Serialize;
use std::time::Duration;

/// What one measured operation produced.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Timed operations (warm-up excluded).
    pub n: usize,
    /// Operations per second: timed operations divided by the busiest
    /// client's time spent in timed operations (1 / mean for one client).
    pub ops_per_sec: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl Summary {
    /// Summarises per-operation latencies; `wall` is the time throughput
    /// is computed over.
    pub fn from_samples(mut samples: Vec<Duration>, wall: Duration) -> Summary {
        assert!(!samples.is_empty(), "no samples measured");
        samples.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let n = samples.len();
        let total: Duration = samples.iter().sum();
        Summary {
            n,
            ops_per_sec: n as f64 / wall.as_secs_f64().max(1e-9),
            mean_us: us(total) / n as f64,
            p50_us: us(percentile(&samples, 50.0)),
            p99_us: us(percentile(&samples, 99.0)),
            max_us: us(*samples.last().expect("non-empty")),
        }
    }
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Human-readable duration from microseconds: `42.1 µs`, `3.20 ms`, `1.50 s`.
pub fn fmt_us(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1_000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&s, 50.0), Duration::from_micros(50));
        assert_eq!(percentile(&s, 99.0), Duration::from_micros(99));
        assert_eq!(percentile(&s[..1], 99.0), Duration::from_micros(1));
        let sum = Summary::from_samples(s, Duration::from_secs(1));
        assert_eq!(sum.n, 100);
        assert!((sum.ops_per_sec - 100.0).abs() < 1e-9);
        assert!((sum.p50_us - 50.0).abs() < 1e-9);
        assert!((sum.max_us - 100.0).abs() < 1e-9);
    }

    #[test]
    fn durations_format_by_magnitude() {
        assert_eq!(fmt_us(42.12), "42.1 µs");
        assert_eq!(fmt_us(3_200.0), "3.20 ms");
        assert_eq!(fmt_us(1_500_000.0), "1.50 s");
    }
}
