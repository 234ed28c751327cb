//! Lambda's retry rules for asynchronous invocations, as pure functions of
//! an event's history, its settings and the time.
//!
//! * A function error (including a timeout) is retried `MaximumRetryAttempts`
//!   times (0–2, default 2): one minute before the second attempt, two
//!   minutes before the third.
//! * A throttle or a service-side failure goes back to the queue with
//!   exponential backoff, 1 s doubling up to 5 minutes, for as long as the
//!   event is younger than `MaximumEventAgeInSeconds` (default 6 h).
//! * An event older than its maximum age is not run again: it ends with
//!   `EventAgeExceeded`.
//! * Reserved concurrency 0 throttles every invocation; such events go to
//!   the failure destination at once, without retries.

/// Delay before the second attempt after a function error.
pub const FIRST_RETRY_DELAY_MS: u64 = 60_000;
/// Delay before the third attempt.
pub const SECOND_RETRY_DELAY_MS: u64 = 120_000;
pub const THROTTLE_BASE_DELAY_MS: u64 = 1_000;
pub const THROTTLE_MAX_DELAY_MS: u64 = 300_000;

/// The error-handling settings of the function, version or alias invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_retries: u32,
    pub max_event_age_ms: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            max_event_age_ms: 21_600_000,
        }
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The function ran and failed (error, timeout, crash, out of memory).
    FunctionError,
    /// 429 from the invoker (concurrency limits).
    Throttled,
    /// The platform could not run the function at all (5xx-like).
    ServiceError,
    /// The platform refused to run it and never will (a recursive loop stopped): the event
    /// goes to its failure destination at once.
    Stopped,
}

/// How an event ended (`requestContext.condition` of the invocation record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Success,
    RetriesExhausted,
    EventAgeExceeded,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Success => "Success",
            Condition::RetriesExhausted => "RetriesExhausted",
            Condition::EventAgeExceeded => "EventAgeExceeded",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run again at this time.
    Retry {
        at_ms: u64,
    },
    Finish(Condition),
}

/// The retry counters of an event, counting the attempt being decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    pub enqueued_ms: u64,
    pub function_errors: u32,
    pub throttles: u32,
}

/// Whether an event may not run any more.
pub fn expired(enqueued_ms: u64, policy: &Policy, now_ms: u64) -> bool {
    now_ms >= enqueued_ms.saturating_add(policy.max_event_age_ms)
}

/// The delay before the next attempt after the `n`-th function error.
pub fn retry_delay_ms(n: u32) -> u64 {
    if n <= 1 {
        FIRST_RETRY_DELAY_MS
    } else {
        SECOND_RETRY_DELAY_MS
    }
}

/// The delay after the `n`-th throttle: 1 s, 2 s, 4 s, ... at most 5 min.
pub fn throttle_delay_ms(n: u32) -> u64 {
    let exp = n.saturating_sub(1).min(20);
    (THROTTLE_BASE_DELAY_MS << exp).min(THROTTLE_MAX_DELAY_MS)
}

/// What happens after an attempt. A retry is never scheduled past the
/// event's expiry: it is due at the expiry at the latest, when it ends with
/// `EventAgeExceeded` instead of waiting longer than its age allows.
pub fn decide(h: &History, outcome: Outcome, policy: &Policy, now_ms: u64) -> Decision {
    let expiry = h.enqueued_ms.saturating_add(policy.max_event_age_ms);
    let retry = |delay: u64| Decision::Retry {
        at_ms: now_ms.saturating_add(delay).min(expiry),
    };
    match outcome {
        Outcome::Success => Decision::Finish(Condition::Success),
        Outcome::Stopped => Decision::Finish(Condition::RetriesExhausted),
        Outcome::FunctionError if h.function_errors > policy.max_retries => {
            Decision::Finish(Condition::RetriesExhausted)
        }
        Outcome::FunctionError => retry(retry_delay_ms(h.function_errors)),
        Outcome::Throttled | Outcome::ServiceError => {
            if expired(h.enqueued_ms, policy, now_ms) {
                Decision::Finish(Condition::EventAgeExceeded)
            } else {
                retry(throttle_delay_ms(h.throttles))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn h(function_errors: u32, throttles: u32) -> History {
        History {
            enqueued_ms: 0,
            function_errors,
            throttles,
        }
    }

    #[test]
    fn function_errors_retry_after_one_then_two_minutes() {
        let p = Policy::default();
        assert_eq!(
            decide(&h(1, 0), Outcome::FunctionError, &p, 1_000),
            Decision::Retry { at_ms: 1_000 + MIN }
        );
        assert_eq!(
            decide(&h(2, 0), Outcome::FunctionError, &p, 70_000),
            Decision::Retry {
                at_ms: 70_000 + 2 * MIN
            }
        );
        assert_eq!(
            decide(&h(3, 0), Outcome::FunctionError, &p, 200_000),
            Decision::Finish(Condition::RetriesExhausted)
        );
    }

    #[test]
    fn a_stopped_event_fails_at_once_whatever_its_retries() {
        let p = Policy::default();
        assert_eq!(
            decide(&h(0, 0), Outcome::Stopped, &p, 0),
            Decision::Finish(Condition::RetriesExhausted)
        );
    }

    #[test]
    fn maximum_retry_attempts_bounds_the_attempts() {
        let none = Policy {
            max_retries: 0,
            ..Policy::default()
        };
        assert_eq!(
            decide(&h(1, 0), Outcome::FunctionError, &none, 0),
            Decision::Finish(Condition::RetriesExhausted)
        );
        let one = Policy {
            max_retries: 1,
            ..Policy::default()
        };
        assert!(matches!(
            decide(&h(1, 0), Outcome::FunctionError, &one, 0),
            Decision::Retry { .. }
        ));
        assert_eq!(
            decide(&h(2, 0), Outcome::FunctionError, &one, 0),
            Decision::Finish(Condition::RetriesExhausted)
        );
    }

    #[test]
    fn throttles_back_off_exponentially_up_to_five_minutes() {
        assert_eq!(throttle_delay_ms(1), 1_000);
        assert_eq!(throttle_delay_ms(2), 2_000);
        assert_eq!(throttle_delay_ms(3), 4_000);
        assert_eq!(throttle_delay_ms(9), 256_000);
        assert_eq!(throttle_delay_ms(10), 300_000);
        assert_eq!(throttle_delay_ms(1000), 300_000);
        let p = Policy::default();
        assert_eq!(
            decide(&h(0, 3), Outcome::Throttled, &p, 10_000),
            Decision::Retry { at_ms: 14_000 }
        );
        // Throttles do not use up function-error retries.
        assert!(matches!(
            decide(&h(0, 50), Outcome::ServiceError, &p, 10_000),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn retries_never_wait_past_the_event_age() {
        let p = Policy {
            max_retries: 2,
            max_event_age_ms: 90_000,
        };
        // The one-minute retry would land after the 90 s age: due at expiry.
        assert_eq!(
            decide(&h(1, 0), Outcome::FunctionError, &p, 50_000),
            Decision::Retry { at_ms: 90_000 }
        );
        assert!(!expired(0, &p, 89_999));
        assert!(expired(0, &p, 90_000));
        assert_eq!(
            decide(&h(0, 4), Outcome::Throttled, &p, 90_000),
            Decision::Finish(Condition::EventAgeExceeded)
        );
    }

    #[test]
    fn success_finishes() {
        assert_eq!(
            decide(&h(2, 7), Outcome::Success, &Policy::default(), 5),
            Decision::Finish(Condition::Success)
        );
    }
}
