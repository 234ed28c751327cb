//! The clock every timing rule of the queue reads (enqueue time, retry
//! delays, event age). Production uses the system clock; tests (and a
//! server started with the test clock) move a manual one.

use std::sync::atomic::{AtomicU64, Ordering};

pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// Wall-clock time.
pub struct SystemClock;

pub fn system_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        system_now_ms()
    }
}

/// A clock that only moves when told to.
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    pub fn starting_at(ms: u64) -> Self {
        Self {
            now: AtomicU64::new(ms),
        }
    }

    /// Moves the clock forward; returns the new time.
    pub fn advance(&self, ms: u64) -> u64 {
        self.now.fetch_add(ms, Ordering::AcqRel) + ms
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::Acquire)
    }
}
