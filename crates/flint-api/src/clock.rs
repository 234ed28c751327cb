//! The wall clock, as the API reads it (signatures, expiring links, event times).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_seconds() -> i64 {
    since_epoch().as_secs() as i64
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_millis() -> i64 {
    since_epoch().as_millis() as i64
}
