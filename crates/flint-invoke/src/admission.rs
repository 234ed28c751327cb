//! Admission: who may run now, and who gets Lambda's 429.
//!
//! Pure decisions over counters, no I/O and no clock of its own (callers pass
//! `now`, so tests drive time). The model is Lambda's:
//!
//! - the account has `account_limit` concurrent executions;
//! - a function with reserved concurrency `R` runs at most `R` at once (0
//!   throttles everything) and those `R` are kept out of everyone else's
//!   reach (the guarantee);
//! - a function's provisioned concurrency is allocated from the account too:
//!   for a function without a reservation it comes out of the unreserved pool
//!   and is its own (with a reservation it is part of `R`);
//! - everything else shares the unreserved pool:
//!   `account_limit - Σ reserved - Σ provisioned of unreserved functions`;
//! - a function adds at most `scaling.environments` new environments per
//!   `scaling.per`, refilled continuously and never accumulated beyond that
//!   (a token bucket whose capacity is the burst).
//!
//! An admitted invocation holds a [`Ticket`] that remembers which pool it was
//! charged to, so a reservation changed while it runs is still released
//! from the right counter.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Why an invocation was throttled; [`Throttle::reason`] is the `Reason` of
/// Lambda's `TooManyRequestsException` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// The function's reserved concurrency is used up (or is 0).
    Reserved,
    /// The account's unreserved concurrency is used up.
    Account,
    /// The function may not add environments this fast.
    ScalingRate,
}

impl Throttle {
    pub fn reason(self) -> &'static str {
        match self {
            Throttle::Reserved => "ReservedFunctionConcurrentInvocationLimitExceeded",
            // Lambda documents a 429 for scaling faster than the scaling rate
            // but no dedicated Reason; the account-level reason is the
            // closest of the documented ones (an assumption, see README).
            Throttle::Account | Throttle::ScalingRate => "ConcurrentInvocationLimitExceeded",
        }
    }
}

/// How fast one function may add environments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalingRate {
    pub environments: u32,
    pub per: Duration,
}

impl Default for ScalingRate {
    /// Lambda's rule: 1,000 new environments per 10 s per function.
    fn default() -> Self {
        Self {
            environments: 1000,
            per: Duration::from_secs(10),
        }
    }
}

/// A continuously refilled bucket of environment starts.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: ScalingRate, now: Instant) -> Self {
        Self {
            tokens: rate.environments as f64,
            at: now,
        }
    }

    fn take(&mut self, rate: ScalingRate, now: Instant) -> bool {
        let capacity = rate.environments as f64;
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        let per = rate.per.as_secs_f64().max(f64::MIN_POSITIVE);
        self.tokens = (self.tokens + elapsed * capacity / per).min(capacity);
        self.at = now.max(self.at);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Which counter an admitted invocation was charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charge {
    /// The function's reserved concurrency.
    Reserved,
    /// The provisioned allocation of a function without a reservation.
    Provisioned,
    /// The shared unreserved pool.
    Unreserved,
}

/// Proof of admission; give it back with [`Admission::release`].
#[derive(Debug)]
#[must_use = "an admitted invocation must be released"]
pub struct Ticket {
    function: String,
    charge: Charge,
}

#[derive(Debug, Default)]
struct FunctionState {
    reserved: Option<u32>,
    provisioned: u32,
    in_flight: u32,
    /// In-flight invocations charged to the provisioned allocation.
    on_provisioned: u32,
    throttles: u64,
    bucket: Option<Bucket>,
}

/// One function's line of [`AdmissionView`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConcurrencyView {
    pub function_name: String,
    pub in_flight: u32,
    pub reserved: Option<u32>,
    pub provisioned: u32,
    /// Provisioned environments initialised now (filled in by the invoker).
    pub provisioned_ready: u32,
    pub throttles: u64,
}

/// What admission looks like right now (for `flint concurrency`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdmissionView {
    pub account_limit: u32,
    /// Capacity of the shared pool (account limit minus reservations and the
    /// provisioned allocations of unreserved functions).
    pub unreserved_capacity: u32,
    pub unreserved_in_flight: u32,
    pub in_flight: u32,
    pub throttles: u64,
    pub functions: Vec<FunctionConcurrencyView>,
}

/// The admission state of one flint server.
#[derive(Debug)]
pub struct Admission {
    account_limit: u32,
    scaling: ScalingRate,
    unreserved_in_flight: u32,
    reserved_total: u32,
    /// Provisioned concurrency of functions without a reservation.
    provisioned_unreserved_total: u32,
    throttles: u64,
    functions: HashMap<String, FunctionState>,
}

impl Admission {
    pub fn new(account_limit: u32, scaling: ScalingRate) -> Self {
        Self {
            account_limit,
            scaling,
            unreserved_in_flight: 0,
            reserved_total: 0,
            provisioned_unreserved_total: 0,
            throttles: 0,
            functions: HashMap::new(),
        }
    }

    fn unreserved_capacity(&self) -> u32 {
        self.account_limit
            .saturating_sub(self.reserved_total)
            .saturating_sub(self.provisioned_unreserved_total)
    }

    /// Recomputes the totals after a function's settings changed.
    fn retotal(&mut self) {
        self.reserved_total = self.functions.values().filter_map(|f| f.reserved).sum();
        self.provisioned_unreserved_total = self
            .functions
            .values()
            .filter(|f| f.reserved.is_none())
            .map(|f| f.provisioned)
            .sum();
    }

    /// Sets (or with `None` removes) a function's reserved concurrency.
    pub fn set_reserved(&mut self, function: &str, reserved: Option<u32>) {
        self.functions
            .entry(function.to_string())
            .or_default()
            .reserved = reserved;
        self.retotal();
    }

    /// Sets a function's total provisioned concurrency (all its versions and
    /// aliases together).
    pub fn set_provisioned(&mut self, function: &str, provisioned: u32) {
        self.functions
            .entry(function.to_string())
            .or_default()
            .provisioned = provisioned;
        self.retotal();
    }

    /// Forgets a deleted function's settings. Invocations still in flight
    /// release normally.
    pub fn remove_function(&mut self, function: &str) {
        if let Some(f) = self.functions.get_mut(function) {
            f.reserved = None;
            f.provisioned = 0;
            f.throttles = 0;
            f.bucket = None;
            if f.in_flight == 0 {
                self.functions.remove(function);
            }
        }
        self.retotal();
    }

    /// Admits one invocation of `function`, or says why not.
    pub fn admit(&mut self, function: &str) -> Result<Ticket, Throttle> {
        let capacity = self.unreserved_capacity();
        let unreserved_in_flight = self.unreserved_in_flight;
        let f = self.functions.entry(function.to_string()).or_default();
        let charge = match f.reserved {
            Some(r) if f.in_flight >= r => Err(Throttle::Reserved),
            Some(_) => Ok(Charge::Reserved),
            None if f.on_provisioned < f.provisioned => Ok(Charge::Provisioned),
            None if unreserved_in_flight < capacity => Ok(Charge::Unreserved),
            None => Err(Throttle::Account),
        };
        match charge {
            Ok(charge) => {
                f.in_flight += 1;
                match charge {
                    Charge::Provisioned => f.on_provisioned += 1,
                    Charge::Unreserved => self.unreserved_in_flight += 1,
                    Charge::Reserved => {}
                }
                Ok(Ticket {
                    function: function.to_string(),
                    charge,
                })
            }
            Err(t) => {
                f.throttles += 1;
                self.throttles += 1;
                Err(t)
            }
        }
    }

    /// An admitted invocation of `function` needs a new environment: takes a
    /// start from its scaling bucket, or counts a throttle.
    pub fn scale_up(&mut self, function: &str, now: Instant) -> Result<(), Throttle> {
        let rate = self.scaling;
        let f = self.functions.entry(function.to_string()).or_default();
        let bucket = f.bucket.get_or_insert_with(|| Bucket::full(rate, now));
        if bucket.take(rate, now) {
            Ok(())
        } else {
            f.throttles += 1;
            self.throttles += 1;
            Err(Throttle::ScalingRate)
        }
    }

    /// Ends an admitted invocation.
    pub fn release(&mut self, ticket: Ticket) {
        if ticket.charge == Charge::Unreserved {
            self.unreserved_in_flight = self.unreserved_in_flight.saturating_sub(1);
        }
        let Some(f) = self.functions.get_mut(&ticket.function) else {
            return;
        };
        f.in_flight = f.in_flight.saturating_sub(1);
        if ticket.charge == Charge::Provisioned {
            f.on_provisioned = f.on_provisioned.saturating_sub(1);
        }
    }

    /// How many invocations of `function` run now.
    pub fn in_flight(&self, function: &str) -> u32 {
        self.functions.get(function).map_or(0, |f| f.in_flight)
    }

    pub fn view(&self) -> AdmissionView {
        let mut functions: Vec<FunctionConcurrencyView> = self
            .functions
            .iter()
            .map(|(name, f)| FunctionConcurrencyView {
                function_name: name.clone(),
                in_flight: f.in_flight,
                reserved: f.reserved,
                provisioned: f.provisioned,
                provisioned_ready: 0,
                throttles: f.throttles,
            })
            .collect();
        functions.sort_by(|a, b| a.function_name.cmp(&b.function_name));
        AdmissionView {
            account_limit: self.account_limit,
            unreserved_capacity: self.unreserved_capacity(),
            unreserved_in_flight: self.unreserved_in_flight,
            in_flight: self.functions.values().map(|f| f.in_flight).sum(),
            throttles: self.throttles,
            functions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(limit: u32) -> Admission {
        Admission::new(limit, ScalingRate::default())
    }

    #[test]
    fn the_account_limit_caps_unreserved_functions_together() {
        let mut a = admission(3);
        let t1 = a.admit("f").unwrap();
        let _t2 = a.admit("g").unwrap();
        let _t3 = a.admit("f").unwrap();
        assert_eq!(a.admit("g").unwrap_err(), Throttle::Account);
        assert_eq!(
            Throttle::Account.reason(),
            "ConcurrentInvocationLimitExceeded"
        );
        a.release(t1);
        assert!(a.admit("g").is_ok());
        let v = a.view();
        assert_eq!(v.in_flight, 3);
        assert_eq!(v.throttles, 1);
    }

    #[test]
    fn reserved_concurrency_caps_the_function_with_its_own_reason() {
        let mut a = admission(1000);
        a.set_reserved("f", Some(2));
        let t1 = a.admit("f").unwrap();
        let _t2 = a.admit("f").unwrap();
        let e = a.admit("f").unwrap_err();
        assert_eq!(e, Throttle::Reserved);
        assert_eq!(
            e.reason(),
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        );
        a.release(t1);
        assert!(a.admit("f").is_ok());
        assert_eq!(a.view().functions[0].throttles, 1);
    }

    #[test]
    fn reserved_zero_throttles_everything() {
        let mut a = admission(1000);
        a.set_reserved("f", Some(0));
        for _ in 0..3 {
            assert_eq!(a.admit("f").unwrap_err(), Throttle::Reserved);
        }
        assert!(a.admit("g").is_ok());
    }

    #[test]
    fn reservations_are_guaranteed_out_of_the_shared_pool() {
        let mut a = admission(10);
        a.set_reserved("big", Some(7));
        // Only 3 remain for everyone else, even while `big` is idle.
        let held: Vec<Ticket> = (0..3).map(|_| a.admit("other").unwrap()).collect();
        assert_eq!(a.admit("another").unwrap_err(), Throttle::Account);
        // And `big` still gets all 7 while the shared pool is full.
        let big: Vec<Ticket> = (0..7).map(|_| a.admit("big").unwrap()).collect();
        assert_eq!(a.admit("big").unwrap_err(), Throttle::Reserved);
        assert_eq!(a.view().unreserved_capacity, 3);
        for t in held.into_iter().chain(big) {
            a.release(t);
        }
        assert_eq!(a.view().in_flight, 0);
        a.set_reserved("big", None);
        assert_eq!(a.view().unreserved_capacity, 10);
    }

    #[test]
    fn a_reservation_changed_mid_flight_releases_from_the_pool_it_was_charged_to() {
        let mut a = admission(10);
        let shared = a.admit("f").unwrap();
        a.set_reserved("f", Some(5));
        let reserved = a.admit("f").unwrap();
        assert_eq!(a.in_flight("f"), 2);
        a.release(shared);
        a.release(reserved);
        let v = a.view();
        assert_eq!((v.in_flight, v.unreserved_in_flight), (0, 0));
    }

    #[test]
    fn provisioned_concurrency_of_an_unreserved_function_is_its_own() {
        let mut a = admission(5);
        a.set_provisioned("pc", 2);
        assert_eq!(a.view().unreserved_capacity, 3);
        let shared: Vec<Ticket> = (0..3).map(|_| a.admit("other").unwrap()).collect();
        assert_eq!(a.admit("other").unwrap_err(), Throttle::Account);
        // The provisioned function still runs its 2 with the pool full...
        let p1 = a.admit("pc").unwrap();
        let _p2 = a.admit("pc").unwrap();
        // ...and spills over to the shared pool beyond them.
        assert_eq!(a.admit("pc").unwrap_err(), Throttle::Account);
        a.release(p1);
        assert!(a.admit("pc").is_ok());
        for t in shared {
            a.release(t);
        }
        assert!(a.admit("pc").is_ok(), "spill-over into the shared pool");
        assert_eq!(a.in_flight("pc"), 3);
    }

    #[test]
    fn provisioned_concurrency_inside_a_reservation_does_not_shrink_the_pool_twice() {
        let mut a = admission(10);
        a.set_reserved("f", Some(4));
        a.set_provisioned("f", 3);
        assert_eq!(a.view().unreserved_capacity, 6);
    }

    #[test]
    fn the_scaling_rate_refills_continuously_and_never_beyond_the_burst() {
        let rate = ScalingRate {
            environments: 10,
            per: Duration::from_secs(10),
        };
        let mut a = Admission::new(1000, rate);
        let t0 = Instant::now();
        for _ in 0..10 {
            a.scale_up("f", t0).unwrap();
        }
        assert_eq!(a.scale_up("f", t0).unwrap_err(), Throttle::ScalingRate);
        // Other functions scale independently.
        assert!(a.scale_up("g", t0).is_ok());
        // One environment per second comes back.
        assert!(a.scale_up("f", t0 + Duration::from_millis(500)).is_err());
        assert!(a.scale_up("f", t0 + Duration::from_millis(1600)).is_ok());
        assert!(a.scale_up("f", t0 + Duration::from_millis(1700)).is_err());
        // An idle minute does not bank more than one burst.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..10 {
            a.scale_up("f", later).unwrap();
        }
        assert!(a.scale_up("f", later).is_err());
        assert_eq!(a.view().throttles, 4);
    }

    #[test]
    fn a_deleted_function_forgets_its_settings_but_in_flight_work_releases() {
        let mut a = admission(10);
        a.set_reserved("f", Some(5));
        let t = a.admit("f").unwrap();
        a.remove_function("f");
        assert_eq!(a.view().unreserved_capacity, 10);
        a.release(t);
        assert_eq!(a.view().in_flight, 0);
    }
}
