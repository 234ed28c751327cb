//! Pools of warm, idle environments, keyed by configuration: an environment of one exact
//! configuration (function, version, `RevisionId`) only ever serves that configuration.
//!
//! [`Pools`] holds the decisions (take, give back, which to freeze, which to reap, what a
//! deleted function or a changed version drains); they never block, spawn or read the
//! clock (callers pass `now`), and are unit-tested with fake environments. [`Pool`] puts
//! them behind one short-held lock and does the slow parts (freezing, destroying) outside
//! it.

use crate::environment::{Execution, Pooled, destroy_all, destroy_in_background};
use flint_types::model::FunctionConfiguration;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long an environment may sit idle before it is frozen (Lambda
/// freezes immediately; flint waits this long so that back-to-back
/// invocations skip the freezer round trip).
pub(crate) const FREEZE_AFTER: Duration = Duration::from_millis(200);

/// The configuration an environment runs: environments of one key are interchangeable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolKey<'a> {
    pub function: &'a str,
    pub version: &'a str,
    pub revision: &'a str,
}

impl<'a> PoolKey<'a> {
    pub fn of(config: &'a FunctionConfiguration) -> Self {
        Self {
            function: &config.function_name,
            version: &config.version,
            revision: &config.revision_id,
        }
    }
}

/// A [`PoolKey`] that outlives the request it came from (an environment out for freezing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnedPoolKey {
    function: String,
    version: String,
    revision: String,
}

impl OwnedPoolKey {
    pub fn as_key(&self) -> PoolKey<'_> {
        PoolKey {
            function: &self.function,
            version: &self.version,
            revision: &self.revision,
        }
    }
}

/// The idle environments of one function version, all of `revision`: the revision last
/// asked for. Environments of any other revision are drained, never reused.
struct VersionPool<E> {
    revision: String,
    idle: Vec<E>,
}

/// Idle environments by function, then version (see the module docs). Nested maps, so that
/// the warm path looks a configuration up by its borrowed names, without allocating.
pub(crate) struct Pools<E> {
    functions: HashMap<String, HashMap<String, VersionPool<E>>>,
}

impl<E> Default for Pools<E> {
    fn default() -> Self {
        Self {
            functions: HashMap::new(),
        }
    }
}

impl<E: Pooled> Pools<E> {
    /// Takes an idle environment of `key` (the most recently used). Environments of another
    /// revision of the same version, and environments that died while idle, come back as
    /// the second value, to be destroyed.
    pub fn take(&mut self, key: PoolKey<'_>) -> (Option<E>, Vec<E>) {
        let mut stale = Vec::new();
        let versions = match self.functions.get_mut(key.function) {
            Some(versions) => versions,
            None => self.functions.entry(key.function.to_string()).or_default(),
        };
        let pool = match versions.get_mut(key.version) {
            Some(pool) => pool,
            None => versions
                .entry(key.version.to_string())
                .or_insert_with(|| VersionPool {
                    revision: key.revision.to_string(),
                    idle: Vec::new(),
                }),
        };
        if pool.revision != key.revision {
            pool.revision = key.revision.to_string();
            stale.append(&mut pool.idle);
        }
        while let Some(mut candidate) = pool.idle.pop() {
            if candidate.has_exited() {
                stale.push(candidate);
            } else {
                return (Some(candidate), stale);
            }
        }
        (None, stale)
    }

    /// Returns a healthy environment to its pool; it comes back (to be destroyed) when its
    /// configuration was replaced or drained meanwhile.
    pub fn give(&mut self, key: PoolKey<'_>, env: E) -> Option<E> {
        match self
            .functions
            .get_mut(key.function)
            .and_then(|versions| versions.get_mut(key.version))
        {
            Some(pool) if pool.revision == key.revision => {
                pool.idle.push(env);
                None
            }
            _ => Some(env),
        }
    }

    /// Takes out the environments idle for [`FREEZE_AFTER`] that are not frozen yet, to be
    /// frozen and given back. An environment in use is never frozen: it is not here.
    pub fn due_for_freeze(&mut self, now: Instant) -> Vec<(OwnedPoolKey, E)> {
        let mut due = Vec::new();
        for (function, versions) in &mut self.functions {
            for (version, pool) in versions.iter_mut() {
                let (freeze, keep): (Vec<E>, Vec<E>) = pool.idle.drain(..).partition(|e| {
                    !e.is_frozen() && now.saturating_duration_since(e.last_used()) >= FREEZE_AFTER
                });
                pool.idle = keep;
                due.extend(freeze.into_iter().map(|e| {
                    let key = OwnedPoolKey {
                        function: function.clone(),
                        version: version.clone(),
                        revision: pool.revision.clone(),
                    };
                    (key, e)
                }));
            }
        }
        due
    }

    /// Takes out the environments idle for `idle_timeout`, to be destroyed.
    pub fn expired(&mut self, now: Instant, idle_timeout: Duration) -> Vec<E> {
        let mut expired = Vec::new();
        for pool in self.functions.values_mut().flat_map(HashMap::values_mut) {
            let (old, keep): (Vec<E>, Vec<E>) = pool
                .idle
                .drain(..)
                .partition(|e| now.saturating_duration_since(e.last_used()) >= idle_timeout);
            pool.idle = keep;
            expired.extend(old);
        }
        expired
    }

    /// Forgets `function` (it was deleted): its environments come back to be destroyed,
    /// and busy ones are refused when their invocation ends.
    pub fn remove_function(&mut self, function: &str) -> Vec<E> {
        self.functions
            .remove(function)
            .into_iter()
            .flat_map(HashMap::into_values)
            .flat_map(|pool| pool.idle)
            .collect()
    }

    /// Forgets one version whose code or configuration changed, likewise.
    pub fn remove_version(&mut self, function: &str, version: &str) -> Vec<E> {
        let Some(versions) = self.functions.get_mut(function) else {
            return Vec::new();
        };
        let envs = versions.remove(version).map(|p| p.idle).unwrap_or_default();
        if versions.is_empty() {
            self.functions.remove(function);
        }
        envs
    }

    /// Takes out every idle environment (the server stops).
    pub fn drain(&mut self) -> Vec<E> {
        self.functions
            .values_mut()
            .flat_map(HashMap::values_mut)
            .flat_map(|pool| std::mem::take(&mut pool.idle))
            .collect()
    }

    /// Idle environments (all functions).
    pub fn idle(&self) -> usize {
        self.functions
            .values()
            .flat_map(HashMap::values)
            .map(|pool| pool.idle.len())
            .sum()
    }
}

/// The on-demand pools of one server (see the module docs).
pub(crate) struct Pool<E> {
    pools: Mutex<Pools<E>>,
}

impl<E: Execution> Pool<E> {
    pub fn new() -> Self {
        Self {
            pools: Mutex::new(Pools::default()),
        }
    }

    /// An idle environment of `key`, if one is warm; stale ones are destroyed in the
    /// background.
    pub fn take(&self, key: PoolKey<'_>) -> Option<E> {
        let (env, stale) = self.pools.lock().take(key);
        destroy_in_background(stale);
        env
    }

    /// Gives a healthy environment back (it is frozen later by [`Pool::freeze_idle`] if it
    /// stays unused), or destroys it when its configuration changed meanwhile.
    pub fn give(&self, key: PoolKey<'_>, env: E) {
        let refused = self.pools.lock().give(key, env);
        if let Some(env) = refused {
            tokio::spawn(env.destroy());
        }
    }

    /// Destroys environments idle for `idle_timeout`.
    pub async fn reap(&self, idle_timeout: Duration) {
        let expired = self.pools.lock().expired(Instant::now(), idle_timeout);
        destroy_all(expired).await;
    }

    /// Freezes environments that have been idle for [`FREEZE_AFTER`]. Doing it here rather
    /// than right after each response keeps the freezer's cost (hundreds of µs on cgroup
    /// v1) off the path of back-to-back invocations.
    pub async fn freeze_idle(&self) {
        let due = self.pools.lock().due_for_freeze(Instant::now());
        if due.is_empty() {
            return;
        }
        let frozen = tokio::task::spawn_blocking(move || {
            due.into_iter()
                .map(|(key, mut env)| {
                    env.freeze();
                    (key, env)
                })
                .collect::<Vec<_>>()
        })
        .await;
        let Ok(frozen) = frozen else { return };
        for (key, env) in frozen {
            let refused = self.pools.lock().give(key.as_key(), env);
            if let Some(stale) = refused {
                stale.destroy().await;
            }
        }
    }

    /// Destroys every idle environment of `function` (it was deleted).
    pub async fn drop_function(&self, function: &str) {
        let envs = self.pools.lock().remove_function(function);
        destroy_all(envs).await;
    }

    /// Drains one version whose code or configuration changed: idle environments are
    /// destroyed now, busy ones when their invocation ends.
    pub async fn retire(&self, function: &str, version: &str) {
        let envs = self.pools.lock().remove_version(function, version);
        destroy_all(envs).await;
    }

    /// Takes out every idle environment (the server stops; the caller destroys them).
    pub fn drain(&self) -> Vec<E> {
        self.pools.lock().drain()
    }

    /// Idle environments (all functions).
    pub fn idle(&self) -> usize {
        self.pools.lock().idle()
    }
}

#[cfg(test)]
mod tests;
