//! Pre-spawned, unspecialised environments, a few per sandbox shape, so that a cold start
//! only has to attach the function's code and start its runtime.
//!
//! Why: a sandbox spawn costs milliseconds (namespaces, network namespace, cgroups, the
//! root's mounts, the Runtime API listener, several parent/child hand-offs) and none of it
//! depends on the function. Lambda-like systems keep such environments ready;
//! `flint_sandbox::Sandboxer::prespawn` builds one for a [`SandboxShape`] (the runtime dir,
//! the interpreter's binds, `/tmp` size, network), `specialize` turns it into a function's.
//!
//! Policy (the pure decisions are [`Slots`]' methods, unit-tested below):
//! - a shape gets environments once a cold start needed it (the first cold start of each
//!   runtime kind pays the full spawn; pre-spawning every possible shape at start-up would
//!   hold idle sandboxes nobody uses);
//! - after every cold start of a shape, its environments are refilled in the background to
//!   `target` (the `prewarm_environments` setting; 0 disables all of this);
//! - at most [`MAX_SHAPES`] shapes are kept; the least recently used one is dropped to make
//!   room, and a shape unused for the idle timeout is dropped by the reaper;
//! - an environment whose init died while waiting is discarded at claim time;
//! - shutdown stops refills and destroys everything, waiting for refills in flight.

use flint_sandbox::{Prespawned, SandboxShape, Sandboxer};
use parking_lot::{Mutex, MutexGuard};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Shapes kept at most (runtimes × `/tmp` sizes in use).
pub(crate) const MAX_SHAPES: usize = 8;

/// One ready environment and the read end of its output pipe.
pub(crate) struct Ready {
    pub env: Prespawned,
    pub log_read: std::io::PipeReader,
}

/// Per-shape bookkeeping, generic over the environment type so the decisions can be tested
/// without sandboxes.
struct Slot<E> {
    ready: Vec<E>,
    /// Pre-spawns started and not yet finished.
    spawning: usize,
    last_used: Instant,
}

/// All shapes. The methods are the pool's decisions; they never block or spawn.
pub(crate) struct Slots<E> {
    target: usize,
    max_shapes: usize,
    shapes: HashMap<SandboxShape, Slot<E>>,
    closed: bool,
}

impl<E> Slots<E> {
    pub(crate) fn new(target: usize, max_shapes: usize) -> Self {
        Self {
            target,
            max_shapes,
            shapes: HashMap::new(),
            closed: false,
        }
    }

    /// Takes a ready environment of `shape` (if any) for a cold start at `now`. `alive`
    /// rejects environments that died while waiting; those come back as the second value,
    /// to be destroyed.
    pub(crate) fn claim(
        &mut self,
        shape: &SandboxShape,
        now: Instant,
        mut alive: impl FnMut(&mut E) -> bool,
    ) -> (Option<E>, Vec<E>) {
        let mut dead = Vec::new();
        let Some(slot) = self.shapes.get_mut(shape) else {
            return (None, dead);
        };
        slot.last_used = now;
        while let Some(mut e) = slot.ready.pop() {
            if alive(&mut e) {
                return (Some(e), dead);
            }
            dead.push(e);
        }
        (None, dead)
    }

    /// After a cold start of `shape`: registers the shape if new (evicting the least
    /// recently used one beyond `max_shapes`, whose environments come back to be destroyed)
    /// and returns how many pre-spawns to start now, counting them as in flight.
    pub(crate) fn replenish(&mut self, shape: &SandboxShape, now: Instant) -> (usize, Vec<E>) {
        let mut evicted = Vec::new();
        if self.closed || self.target == 0 {
            return (0, evicted);
        }
        if !self.shapes.contains_key(shape) {
            while self.shapes.len() >= self.max_shapes.max(1) {
                let Some(oldest) = self
                    .shapes
                    .iter()
                    .min_by_key(|(_, s)| s.last_used)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                if let Some(s) = self.shapes.remove(&oldest) {
                    evicted.extend(s.ready);
                }
            }
            self.shapes.insert(
                shape.clone(),
                Slot {
                    ready: Vec::new(),
                    spawning: 0,
                    last_used: now,
                },
            );
        }
        let slot = self.shapes.get_mut(shape).expect("inserted above");
        slot.last_used = now;
        let n = self.target.saturating_sub(slot.ready.len() + slot.spawning);
        slot.spawning += n;
        (n, evicted)
    }

    /// A pre-spawn finished. Returns the environment back if nobody wants it any more (the
    /// pool closed, or the shape was dropped meanwhile): the caller destroys it.
    pub(crate) fn finished(&mut self, shape: &SandboxShape, env: Option<E>) -> Option<E> {
        let closed = self.closed;
        match self.shapes.get_mut(shape) {
            Some(slot) => {
                slot.spawning = slot.spawning.saturating_sub(1);
                match env {
                    Some(e) if !closed && slot.ready.len() < self.target => {
                        slot.ready.push(e);
                        None
                    }
                    other => other,
                }
            }
            None => env,
        }
    }

    /// Drops the shapes unused for `idle` (their environments come back to be destroyed).
    pub(crate) fn reap(&mut self, now: Instant, idle: Duration) -> Vec<E> {
        let old: Vec<SandboxShape> = self
            .shapes
            .iter()
            .filter(|(_, s)| now.duration_since(s.last_used) >= idle)
            .map(|(k, _)| k.clone())
            .collect();
        old.iter()
            .filter_map(|k| self.shapes.remove(k))
            .flat_map(|s| s.ready)
            .collect()
    }

    /// Stops all refills and returns every ready environment.
    pub(crate) fn close(&mut self) -> Vec<E> {
        self.closed = true;
        self.shapes
            .values_mut()
            .flat_map(|s| std::mem::take(&mut s.ready))
            .collect()
    }

    /// Pre-spawns still running.
    pub(crate) fn in_flight(&self) -> usize {
        self.shapes.values().map(|s| s.spawning).sum()
    }

    /// Ready environments (all shapes).
    pub(crate) fn ready(&self) -> usize {
        self.shapes.values().map(|s| s.ready.len()).sum()
    }
}

/// The pool (see the module docs).
pub(crate) struct Prewarm {
    sandboxer: Arc<Sandboxer>,
    slots: Mutex<Slots<Ready>>,
    seq: AtomicU64,
}

impl Prewarm {
    /// `target` environments per shape; 0 (or a host where pre-spawning is unavailable)
    /// disables the pool.
    pub(crate) fn new(sandboxer: Arc<Sandboxer>, target: usize) -> Arc<Self> {
        let target = if sandboxer.can_prespawn() { target } else { 0 };
        Arc::new(Self {
            sandboxer,
            slots: Mutex::new(Slots::new(target, MAX_SHAPES)),
            seq: AtomicU64::new(0),
        })
    }

    fn slots(&self) -> MutexGuard<'_, Slots<Ready>> {
        self.slots.lock()
    }

    /// A ready environment of `shape`, if one is waiting (never blocks on a spawn).
    pub(crate) fn claim(&self, shape: &SandboxShape) -> Option<Ready> {
        let (got, dead) = self
            .slots()
            .claim(shape, Instant::now(), |r| !r.env.has_exited());
        destroy_in_background(dead);
        got
    }

    /// Refills `shape`'s environments in the background (call after a cold start).
    pub(crate) fn replenish(self: &Arc<Self>, shape: &SandboxShape) {
        let (n, evicted) = self.slots().replenish(shape, Instant::now());
        destroy_in_background(evicted);
        if n == 0 {
            return;
        }
        let (this, shape) = (self.clone(), shape.clone());
        // One after the other: the machine's cores are better spent on the invocations.
        tokio::task::spawn_blocking(move || {
            for _ in 0..n {
                let made = this.spawn_one(&shape);
                if let Some(unwanted) = this.slots().finished(&shape, made) {
                    let _ = unwanted.env.destroy();
                }
            }
        });
    }

    fn spawn_one(&self, shape: &SandboxShape) -> Option<Ready> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        // `env-<pid>-…` like every other environment: leak checks and the start-up sweep of
        // stale cgroups treat them alike.
        let id = format!("env-{}-w{n}", std::process::id());
        let (log_read, log_write) = std::io::pipe().ok()?;
        let stderr = log_write.try_clone().ok()?;
        match self
            .sandboxer
            .prespawn(shape, id, log_write.into(), stderr.into())
        {
            Ok(env) => Some(Ready { env, log_read }),
            Err(e) => {
                tracing::warn!(error = %e, "could not pre-spawn an execution environment");
                None
            }
        }
    }

    /// Drops shapes unused for `idle`.
    pub(crate) fn reap(&self, idle: Duration) {
        let old = self.slots().reap(Instant::now(), idle);
        destroy_in_background(old);
    }

    /// Ready environments (all shapes).
    pub(crate) fn ready(&self) -> usize {
        self.slots().ready()
    }

    /// Pre-spawns under way (all shapes).
    pub(crate) fn in_flight(&self) -> usize {
        self.slots().in_flight()
    }

    /// Stops refilling and destroys every environment, including those whose pre-spawn is
    /// still running (waits up to 10 s for them).
    pub(crate) async fn shutdown(&self) {
        let all = self.slots().close();
        let _ = tokio::task::spawn_blocking(move || {
            for r in all {
                let _ = r.env.destroy();
            }
        })
        .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.slots().in_flight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn destroy_in_background(envs: Vec<Ready>) {
    if envs.is_empty() {
        return;
    }
    tokio::task::spawn_blocking(move || {
        for r in envs {
            let _ = r.env.destroy();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(tmp: u64) -> SandboxShape {
        SandboxShape {
            runtime_dir: None,
            extra_ro_binds: Vec::new(),
            tmp_size_mb: tmp,
            uid: 993,
            gid: 990,
            network: flint_sandbox::NetworkMode::Private,
            runtime_api_port: Some(9001),
            hostname: "localhost".into(),
            prestart: None,
        }
    }

    #[test]
    fn a_shape_is_learned_on_its_first_cold_start_and_refilled_to_target() {
        let mut s: Slots<u32> = Slots::new(2, 8);
        let t = Instant::now();
        // Nothing is pre-spawned for a shape nobody used yet.
        assert_eq!(s.claim(&shape(512), t, |_| true).0, None);
        assert_eq!(s.replenish(&shape(512), t).0, 2);
        // In flight counts: no second batch while the first is running.
        assert_eq!(s.replenish(&shape(512), t).0, 0);
        assert_eq!(s.in_flight(), 2);
        assert_eq!(s.finished(&shape(512), Some(1)), None);
        assert_eq!(s.finished(&shape(512), Some(2)), None);
        assert_eq!((s.ready(), s.in_flight()), (2, 0));
        // A claim takes one; the next replenish starts exactly one.
        assert!(s.claim(&shape(512), t, |_| true).0.is_some());
        assert_eq!(s.replenish(&shape(512), t).0, 1);
        // A failed pre-spawn only ends its in-flight count.
        assert_eq!(s.finished(&shape(512), None), None);
        assert_eq!((s.ready(), s.in_flight()), (1, 0));
        // Other shapes are separate.
        assert_eq!(s.claim(&shape(64), t, |_| true).0, None);
    }

    #[test]
    fn dead_environments_are_skipped_and_returned() {
        let mut s: Slots<u32> = Slots::new(3, 8);
        let t = Instant::now();
        s.replenish(&shape(512), t);
        for e in [10, 11, 12] {
            s.finished(&shape(512), Some(e));
        }
        // 12 (popped first) and 11 died; 10 is handed out.
        let (got, dead) = s.claim(&shape(512), t, |e| *e == 10);
        assert_eq!(got, Some(10));
        assert_eq!(dead, vec![12, 11]);
        assert_eq!(s.ready(), 0);
    }

    #[test]
    fn zero_target_disables_everything() {
        let mut s: Slots<u32> = Slots::new(0, 8);
        let t = Instant::now();
        assert_eq!(s.replenish(&shape(512), t).0, 0);
        assert_eq!(s.claim(&shape(512), t, |_| true).0, None);
        assert_eq!(s.in_flight(), 0);
    }

    #[test]
    fn least_recently_used_shape_is_evicted_beyond_the_limit() {
        let mut s: Slots<u32> = Slots::new(1, 2);
        let t0 = Instant::now();
        let t = |ms| t0 + Duration::from_millis(ms);
        s.replenish(&shape(1), t(0));
        s.finished(&shape(1), Some(1));
        s.replenish(&shape(2), t(1));
        s.finished(&shape(2), Some(2));
        // Shape 1 is used again, so shape 2 is the least recently used.
        assert_eq!(s.claim(&shape(1), t(2), |_| true).0, Some(1));
        let (n, evicted) = s.replenish(&shape(3), t(3));
        assert_eq!((n, evicted), (1, vec![2]));
        // A pre-spawn of the evicted shape that finishes late is handed back.
        assert_eq!(s.finished(&shape(2), Some(22)), Some(22));
        assert_eq!(s.claim(&shape(2), t(4), |_| true).0, None);
    }

    #[test]
    fn idle_shapes_are_reaped_and_close_stops_refills() {
        let mut s: Slots<u32> = Slots::new(1, 8);
        let t0 = Instant::now();
        s.replenish(&shape(1), t0);
        s.finished(&shape(1), Some(1));
        s.replenish(&shape(2), t0 + Duration::from_secs(5));
        s.finished(&shape(2), Some(2));
        let gone = s.reap(t0 + Duration::from_secs(10), Duration::from_secs(8));
        assert_eq!(gone, vec![1]);
        assert_eq!(s.ready(), 1);
        // Closing returns what is ready; late pre-spawns come back; nothing new starts.
        s.claim(&shape(2), t0, |_| true);
        s.replenish(&shape(2), t0);
        assert_eq!(s.close(), Vec::<u32>::new());
        assert_eq!(s.finished(&shape(2), Some(3)), Some(3));
        assert_eq!(s.replenish(&shape(2), t0).0, 0);
        assert_eq!(s.in_flight(), 0);
    }
}
