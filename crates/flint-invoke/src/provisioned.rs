//! Provisioned concurrency: environments initialised ahead of invocations
//! and kept ready.
//!
//! Each configuration (function, version-or-alias) owns a set of
//! environments started with `AWS_LAMBDA_INITIALIZATION_TYPE=
//! provisioned-concurrency`. A reconcile task keeps `ready + busy + starting`
//! at the requested count: it starts the missing ones in parallel, replaces
//! one that died or was reset after a failed invocation, and stops (status
//! `FAILED`) when an init fails. The sets live apart from the on-demand pools,
//! so idle reaping never touches them; they go when their configuration is
//! deleted, when their function is, or when the server stops.
//!
//! [`Sets`] holds the decisions (pure, unit-tested with fakes); [`Provisioner`] puts them
//! behind a lock and runs the reconcile tasks. What the sets mean for admission (a
//! function's provisioned total) the router hands on.

use crate::environment::{Execution, Pooled, destroy_in_background};
use crate::error::InvokeError;
use crate::launch::{ColdStartError, InitType, Launch, LaunchTarget};
use crate::logs::{self, LogStore};
use flint_types::model::FunctionConfiguration;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};

/// What a provisioned concurrency configuration asks for, resolved to the
/// version that runs.
#[derive(Debug, Clone)]
pub struct ProvisionSpec {
    /// The configuration of the version whose environments are kept ready
    /// (for an alias: the version it points to).
    pub config: FunctionConfiguration,
    pub code_blob: String,
    pub code_path: PathBuf,
    /// The version's layers, in order.
    pub layers: Vec<crate::LayerCode>,
    /// Qualified ARN of the version or alias (`Lambda-Runtime-Invoked-Function-Arn`
    /// is the caller's; this one names the configuration).
    pub arn: String,
    pub requested: u32,
}

/// Status of one configuration, as Get/ListProvisionedConcurrencyConfig(s) show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedStatus {
    pub requested: u32,
    /// Environments initialised (ready or serving).
    pub allocated: u32,
    /// Environments that can serve (the same as allocated: a busy one is
    /// still part of the provisioned capacity).
    pub available: u32,
    /// `IN_PROGRESS`, `READY` or `FAILED`.
    pub status: &'static str,
    pub status_reason: Option<String>,
}

/// Lambda's `StatusReason` when the function's init fails.
const INIT_FAILURE: &str = "FUNCTION_ERROR_INIT_FAILURE";

/// Why a provisioned environment could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StartFailure {
    /// The function's init failed, or its runtime cannot run here.
    Init,
    /// flint could not start an environment.
    Platform(String),
    /// The start task ended without an answer (it panicked).
    Aborted(String),
}

impl StartFailure {
    /// The set's `StatusReason`.
    fn status_reason(&self) -> String {
        match self {
            StartFailure::Init => INIT_FAILURE.into(),
            StartFailure::Platform(e) => {
                format!("Provisioned environments could not be started: {e}")
            }
            StartFailure::Aborted(e) => e.clone(),
        }
    }
}

/// One configuration: (function, version or alias).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SetKey {
    pub function: String,
    pub qualifier: String,
}

/// The environments of one configuration.
struct Set<E> {
    spec: Arc<ProvisionSpec>,
    /// Bumped when the set is replaced (its version changed): environments
    /// and starts of an older generation are discarded.
    generation: u64,
    idle: Vec<E>,
    busy: u32,
    starting: u32,
    failed: Option<StartFailure>,
    reconciling: bool,
}

impl<E> Set<E> {
    fn new(spec: ProvisionSpec, generation: u64) -> Self {
        Self {
            spec: Arc::new(spec),
            generation,
            idle: Vec::new(),
            busy: 0,
            starting: 0,
            failed: None,
            reconciling: false,
        }
    }

    fn allocated(&self) -> u32 {
        self.idle.len() as u32 + self.busy
    }

    /// Whether one more environment (ready or starting) is wanted.
    fn wants_more(&self) -> bool {
        self.allocated() + self.starting < self.spec.requested
    }

    fn status(&self) -> ProvisionedStatus {
        let allocated = self.allocated();
        let status = if self.failed.is_some() {
            "FAILED"
        } else if allocated >= self.spec.requested {
            "READY"
        } else {
            "IN_PROGRESS"
        };
        ProvisionedStatus {
            requested: self.spec.requested,
            allocated,
            available: allocated,
            status,
            status_reason: self.failed.as_ref().map(StartFailure::status_reason),
        }
    }
}

/// A provisioned environment lent to one invocation.
#[derive(Debug)]
pub(crate) struct Lent {
    key: SetKey,
    generation: u64,
}

/// What [`Sets::take`] found.
pub(crate) struct Taken<E> {
    pub lent: Option<(E, Lent)>,
    /// Environments that died while ready, to be destroyed.
    pub dead: Vec<E>,
    /// Sets that lost environments that way, to be refilled.
    pub refill: Vec<SetKey>,
}

/// What [`Sets::give_back`] decided.
pub(crate) struct GivenBack<E> {
    /// The environment, when it is not kept (unhealthy, not wanted, or its set changed).
    pub destroy: Option<E>,
    /// The set lost an environment and must be refilled.
    pub refill: bool,
}

/// One round of a reconcile task: start `missing` environments of `spec`.
pub(crate) struct Round {
    pub spec: Arc<ProvisionSpec>,
    pub generation: u64,
    pub missing: u32,
}

/// How a reconcile round ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterRound {
    /// The set is the one the round started for: check again.
    Again,
    /// A newer generation replaced it: its own task takes over.
    Handoff,
    /// The set was deleted.
    Gone,
}

/// The qualifier of a qualified function ARN (`...:function:name:qualifier`).
fn arn_qualifier(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(8, ':');
    let q = parts.nth(7)?;
    (!q.is_empty()).then_some(q)
}

/// Every configuration's set, by function and then qualifier (see the module docs).
pub(crate) struct Sets<E> {
    functions: HashMap<String, HashMap<String, Set<E>>>,
    next_generation: u64,
}

impl<E> Default for Sets<E> {
    fn default() -> Self {
        Self {
            functions: HashMap::new(),
            next_generation: 0,
        }
    }
}

impl<E: Pooled> Sets<E> {
    fn get_mut(&mut self, key: &SetKey) -> Option<&mut Set<E>> {
        self.functions
            .get_mut(&key.function)?
            .get_mut(&key.qualifier)
    }

    /// The provisioned concurrency of `function`, all its versions and aliases together.
    pub fn total_requested(&self, function: &str) -> u32 {
        self.functions
            .get(function)
            .map_or(0, |sets| sets.values().map(|s| s.spec.requested).sum())
    }

    /// Creates or changes one configuration's set. Environments of an unchanged version
    /// are kept (idle extras beyond a lower count come back, to be destroyed); a changed
    /// version replaces them all.
    pub fn provision(&mut self, key: &SetKey, spec: ProvisionSpec) -> Vec<E> {
        let mut stale = Vec::new();
        let set = self.get_mut(key).filter(|s| {
            s.spec.config.version == spec.config.version
                && s.spec.config.revision_id == spec.config.revision_id
        });
        if let Some(set) = set {
            set.spec = Arc::new(spec);
            set.failed = None;
            while set.allocated() + set.starting > set.spec.requested {
                match set.idle.pop() {
                    Some(env) => stale.push(env),
                    None => break,
                }
            }
            return stale;
        }
        self.next_generation += 1;
        let set = Set::new(spec, self.next_generation);
        let sets = self.functions.entry(key.function.clone()).or_default();
        if let Some(old) = sets.insert(key.qualifier.clone(), set) {
            stale.extend(old.idle);
        }
        stale
    }

    /// Removes one configuration's set; its ready environments come back, busy ones are
    /// destroyed when their invocation ends.
    pub fn remove(&mut self, key: &SetKey) -> Vec<E> {
        let Some(sets) = self.functions.get_mut(&key.function) else {
            return Vec::new();
        };
        let envs = sets
            .remove(&key.qualifier)
            .map(|s| s.idle)
            .unwrap_or_default();
        if sets.is_empty() {
            self.functions.remove(&key.function);
        }
        envs
    }

    /// Removes every set of `function` (it was deleted).
    pub fn remove_function(&mut self, function: &str) -> Vec<E> {
        self.functions
            .remove(function)
            .into_iter()
            .flat_map(HashMap::into_values)
            .flat_map(|s| s.idle)
            .collect()
    }

    /// Removes every set (the server stops).
    pub fn remove_all(&mut self) -> Vec<E> {
        self.functions
            .drain()
            .flat_map(|(_, sets)| sets.into_values())
            .flat_map(|s| s.idle)
            .collect()
    }

    pub fn status(&self, function: &str, qualifier: &str) -> Option<ProvisionedStatus> {
        self.functions
            .get(function)?
            .get(qualifier)
            .map(Set::status)
    }

    /// Initialised (ready or busy) environments per function.
    pub fn allocated_per_function(&self) -> HashMap<String, u32> {
        self.functions
            .iter()
            .map(|(f, sets)| (f.clone(), sets.values().map(Set::allocated).sum()))
            .collect()
    }

    /// A ready environment for an invocation of `config` through `invoked_arn`: of the
    /// alias or version the caller named, else of the version that runs, else of any alias
    /// of that version (provisioned concurrency on an alias is environments of its version:
    /// invoking the version by number is served by them too, as on Lambda); only of a set
    /// that runs exactly this configuration.
    pub fn take(&mut self, config: &FunctionConfiguration, invoked_arn: &str) -> Taken<E> {
        let mut taken = Taken {
            lent: None,
            dead: Vec::new(),
            refill: Vec::new(),
        };
        let Some(sets) = self.functions.get_mut(&config.function_name) else {
            return taken;
        };
        let named = [arn_qualifier(invoked_arn), Some(config.version.as_str())];
        let mut qualifiers: Vec<String> = named.into_iter().flatten().map(str::to_owned).collect();
        // Then the other sets of this version (aliases), in a stable order.
        let mut others: Vec<&String> = sets
            .iter()
            .filter(|(q, set)| {
                set.spec.config.version == config.version && !qualifiers.contains(*q)
            })
            .map(|(q, _)| q)
            .collect();
        others.sort();
        let others: Vec<String> = others.into_iter().cloned().collect();
        qualifiers.extend(others);
        for qualifier in &qualifiers {
            let Some(set) = sets.get_mut(qualifier.as_str()) else {
                continue;
            };
            if set.spec.config.version != config.version
                || set.spec.config.revision_id != config.revision_id
            {
                continue;
            }
            let dead_before = taken.dead.len();
            while let Some(mut env) = set.idle.pop() {
                if env.has_exited() {
                    taken.dead.push(env);
                    continue;
                }
                set.busy += 1;
                let key = SetKey {
                    function: config.function_name.clone(),
                    qualifier: qualifier.to_string(),
                };
                let generation = set.generation;
                taken.lent = Some((env, Lent { key, generation }));
                break;
            }
            if taken.dead.len() > dead_before {
                taken.refill.push(SetKey {
                    function: config.function_name.clone(),
                    qualifier: qualifier.to_string(),
                });
            }
            if taken.lent.is_some() {
                break;
            }
        }
        taken
    }

    /// Takes a lent environment back: kept when healthy and still wanted; one that is not
    /// healthy is replaced (the set is refilled); one whose set changed meanwhile goes.
    pub fn give_back(&mut self, lent: &Lent, env: E, healthy: bool) -> GivenBack<E> {
        match self.get_mut(&lent.key) {
            Some(set) if set.generation == lent.generation => {
                set.busy = set.busy.saturating_sub(1);
                let destroy = if healthy && set.wants_more() {
                    set.idle.push(env);
                    None
                } else {
                    Some(env)
                };
                GivenBack {
                    destroy,
                    refill: !healthy,
                }
            }
            _ => GivenBack {
                destroy: Some(env),
                refill: false,
            },
        }
    }

    /// Marks `key` as reconciling; false when it already is (or is gone).
    pub fn begin_reconcile(&mut self, key: &SetKey) -> bool {
        match self.get_mut(key) {
            Some(set) if !set.reconciling => {
                set.reconciling = true;
                true
            }
            _ => false,
        }
    }

    /// The next round of `key`'s reconcile task, counting its starts as under way; `None`
    /// when the set is complete or failed (the task ends) or gone.
    pub fn next_round(&mut self, key: &SetKey) -> Option<Round> {
        let set = self.get_mut(key)?;
        let have = set.allocated() + set.starting;
        if set.failed.is_some() || have >= set.spec.requested {
            set.reconciling = false;
            return None;
        }
        let missing = set.spec.requested - have;
        set.starting += missing;
        Some(Round {
            spec: set.spec.clone(),
            generation: set.generation,
            missing,
        })
    }

    /// One start of a round of `generation` finished. The environment comes back when it
    /// is not wanted (the set is full, or was replaced or deleted meanwhile); a failure
    /// marks the set failed.
    pub fn start_finished(
        &mut self,
        key: &SetKey,
        generation: u64,
        result: Result<E, StartFailure>,
    ) -> Option<E> {
        match self.get_mut(key) {
            Some(set) if set.generation == generation => {
                set.starting = set.starting.saturating_sub(1);
                match result {
                    Ok(env) if set.wants_more() => {
                        set.idle.push(env);
                        None
                    }
                    Ok(env) => Some(env),
                    Err(failure) => {
                        set.failed.get_or_insert(failure);
                        None
                    }
                }
            }
            // Replaced or deleted while starting.
            _ => result.ok(),
        }
    }

    /// Every start of a round of `generation` finished: what the task does next.
    pub fn round_finished(&mut self, key: &SetKey, generation: u64) -> AfterRound {
        match self.get_mut(key) {
            Some(set) if set.generation == generation => AfterRound::Again,
            Some(set) => {
                set.reconciling = false;
                AfterRound::Handoff
            }
            None => AfterRound::Gone,
        }
    }
}

/// The provisioned sets of one server and their reconcile tasks (see the module docs).
pub(crate) struct Provisioner<L: Launch> {
    /// The reconcile tasks hold the provisioner through this.
    me: Weak<Self>,
    sets: Mutex<Sets<L::Env>>,
    launcher: Arc<L>,
    logs: LogStore,
}

impl<L: Launch> Provisioner<L> {
    pub fn new(launcher: Arc<L>, logs: LogStore) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            sets: Mutex::new(Sets::default()),
            launcher,
            logs,
        })
    }

    /// Creates or changes the set of one version or alias and starts reaching it in the
    /// background. Returns the function's provisioned total.
    pub fn provision(&self, qualifier: &str, spec: ProvisionSpec) -> u32 {
        let key = SetKey {
            function: spec.config.function_name.clone(),
            qualifier: qualifier.to_string(),
        };
        let (stale, total) = {
            let mut sets = self.sets.lock();
            let stale = sets.provision(&key, spec);
            (stale, sets.total_requested(&key.function))
        };
        destroy_in_background(stale);
        self.reconcile_soon(key);
        total
    }

    /// Removes the set of one version or alias. Returns its ready environments, to be
    /// destroyed, and the function's provisioned total.
    pub fn remove(&self, function: &str, qualifier: &str) -> (Vec<L::Env>, u32) {
        let key = SetKey {
            function: function.to_string(),
            qualifier: qualifier.to_string(),
        };
        let mut sets = self.sets.lock();
        let envs = sets.remove(&key);
        (envs, sets.total_requested(function))
    }

    pub fn status(&self, function: &str, qualifier: &str) -> Option<ProvisionedStatus> {
        self.sets.lock().status(function, qualifier)
    }

    /// Initialised provisioned environments per function.
    pub fn allocated_per_function(&self) -> HashMap<String, u32> {
        self.sets.lock().allocated_per_function()
    }

    /// Takes every set of `function` away (it was deleted).
    pub fn remove_function(&self, function: &str) -> Vec<L::Env> {
        self.sets.lock().remove_function(function)
    }

    /// Takes every set away (the server stops).
    pub fn remove_all(&self) -> Vec<L::Env> {
        self.sets.lock().remove_all()
    }

    /// A ready provisioned environment for this invocation (see [`Sets::take`]).
    pub fn take(
        &self,
        config: &FunctionConfiguration,
        invoked_arn: &str,
    ) -> Option<(L::Env, Lent)> {
        let taken = self.sets.lock().take(config, invoked_arn);
        destroy_in_background(taken.dead);
        for key in taken.refill {
            self.reconcile_soon(key);
        }
        taken.lent
    }

    /// Gives a lent environment back (see [`Sets::give_back`]).
    pub fn give_back(&self, lent: Lent, env: L::Env, healthy: bool) {
        let given = self.sets.lock().give_back(&lent, env, healthy);
        if let Some(env) = given.destroy {
            tokio::spawn(env.destroy());
        }
        if given.refill {
            // A reset environment is replaced by a freshly initialised one.
            self.reconcile_soon(lent.key);
        }
    }

    /// Starts the reconcile task of `key` unless one is already running.
    fn reconcile_soon(&self, key: SetKey) {
        let Some(me) = self.me.upgrade() else { return };
        if !self.sets.lock().begin_reconcile(&key) {
            return;
        }
        tokio::spawn(async move { me.reconcile(key).await });
    }

    async fn reconcile(self: Arc<Self>, key: SetKey) {
        loop {
            let Some(round) = self.sets.lock().next_round(&key) else {
                return;
            };
            // A burst of inits runs in parallel, not one after another.
            let mut starts = tokio::task::JoinSet::new();
            for _ in 0..round.missing {
                let me = self.clone();
                let spec = round.spec.clone();
                starts.spawn(async move { me.start_one(&spec).await });
            }
            while let Some(result) = starts.join_next().await {
                let result = result.unwrap_or_else(|e| Err(StartFailure::Aborted(e.to_string())));
                let unwanted = self
                    .sets
                    .lock()
                    .start_finished(&key, round.generation, result);
                if let Some(env) = unwanted {
                    env.destroy().await;
                }
            }
            let after = self.sets.lock().round_finished(&key, round.generation);
            match after {
                AfterRound::Again => {}
                AfterRound::Handoff => {
                    self.reconcile_soon(key);
                    return;
                }
                AfterRound::Gone => return,
            }
        }
    }

    /// Initialises one provisioned environment. Its init output is logged
    /// under its own stream; its first REPORT carries no `Init Duration`.
    async fn start_one(&self, spec: &ProvisionSpec) -> Result<L::Env, StartFailure> {
        let target = LaunchTarget {
            config: &spec.config,
            code_blob: &spec.code_blob,
            code_path: &spec.code_path,
            layers: &spec.layers,
        };
        let mut log = Vec::new();
        let started = self
            .launcher
            .cold_start(target, &mut log, InitType::Provisioned)
            .await;
        let function = &spec.config.function_name;
        match started {
            Ok(mut env) => {
                env.take_init_duration();
                if !log.is_empty() {
                    self.logs.append(function, env.stream(), log);
                }
                Ok(env)
            }
            Err(ColdStartError::Init(failure)) => {
                tracing::warn!(function, ?failure, "provisioned environment failed to init");
                if !log.is_empty() {
                    let stream = logs::stream_name(&spec.config.version);
                    self.logs.append(function, &stream, log);
                }
                Err(StartFailure::Init)
            }
            Err(ColdStartError::Platform(InvokeError::Runtime { .. })) => Err(StartFailure::Init),
            Err(ColdStartError::Platform(e)) => {
                tracing::warn!(function, error = %e, "could not start a provisioned environment");
                Err(StartFailure::Platform(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
