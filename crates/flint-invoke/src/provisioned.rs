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

use crate::InvokeError;
use crate::environment::Environment;
use crate::pool::{InitType, InvokeRequest, Invoker};
use bytes::Bytes;
use flint_types::model::FunctionConfiguration;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What a provisioned concurrency configuration asks for, resolved to the
/// version that runs.
#[derive(Debug, Clone)]
pub struct ProvisionSpec {
    /// The configuration of the version whose environments are kept ready
    /// (for an alias: the version it points to).
    pub config: FunctionConfiguration,
    pub code_blob: String,
    pub code_path: PathBuf,
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

pub(crate) type ProvKey = (String, String);

pub(crate) struct ProvisionedSet {
    spec: Arc<ProvisionSpec>,
    /// Bumped when the set is replaced (its version changed): environments
    /// and starts of an older generation are discarded.
    generation: u64,
    idle: Vec<Environment>,
    busy: u32,
    starting: u32,
    failed: Option<String>,
    reconciling: bool,
}

impl ProvisionedSet {
    fn allocated(&self) -> u32 {
        self.idle.len() as u32 + self.busy
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
            status_reason: self.failed.clone(),
        }
    }
}

#[derive(Default)]
pub(crate) struct Provisioned {
    sets: HashMap<ProvKey, ProvisionedSet>,
    next_generation: u64,
}

impl Provisioned {
    fn total_requested(&self, function: &str) -> u32 {
        self.sets
            .iter()
            .filter(|((f, _), _)| f == function)
            .map(|(_, s)| s.spec.requested)
            .sum()
    }
}

/// A provisioned environment lent to one invocation.
pub(crate) struct Lent {
    key: ProvKey,
    generation: u64,
}

/// The qualifier of a qualified function ARN (`...:function:name:qualifier`).
fn arn_qualifier(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(8, ':');
    let q = parts.nth(7)?;
    (!q.is_empty()).then_some(q)
}

/// Lambda's `StatusReason` when the function's init fails.
const INIT_FAILURE: &str = "FUNCTION_ERROR_INIT_FAILURE";

impl Invoker {
    /// Creates or changes the provisioned concurrency of one version or
    /// alias and starts reaching it in the background. Environments of an
    /// unchanged version are kept; a changed version replaces them all.
    pub fn provision(&self, qualifier: &str, spec: ProvisionSpec) {
        let function = spec.config.function_name.clone();
        let key = (function.clone(), qualifier.to_string());
        let (stale, total) = {
            let mut p = self.provisioned.lock().expect("provisioned");
            let same_version = p.sets.get(&key).is_some_and(|s| {
                s.spec.config.version == spec.config.version
                    && s.spec.config.revision_id == spec.config.revision_id
            });
            let mut stale = Vec::new();
            if same_version {
                let set = p.sets.get_mut(&key).expect("checked above");
                set.spec = Arc::new(spec);
                set.failed = None;
                // Fewer requested: idle extras go now.
                while set.allocated() + set.starting > set.spec.requested {
                    match set.idle.pop() {
                        Some(env) => stale.push(env),
                        None => break,
                    }
                }
            } else {
                p.next_generation += 1;
                let generation = p.next_generation;
                if let Some(old) = p.sets.remove(&key) {
                    stale.extend(old.idle);
                }
                p.sets.insert(
                    key.clone(),
                    ProvisionedSet {
                        spec: Arc::new(spec),
                        generation,
                        idle: Vec::new(),
                        busy: 0,
                        starting: 0,
                        failed: None,
                        reconciling: false,
                    },
                );
            }
            (stale, p.total_requested(&function))
        };
        self.admission
            .lock()
            .expect("admission")
            .set_provisioned(&function, total);
        if !stale.is_empty() {
            tokio::spawn(Self::destroy_all(stale));
        }
        self.reconcile_soon(key);
    }

    /// Removes the provisioned concurrency of one version or alias: its ready
    /// environments are destroyed now, busy ones when their invocation ends.
    pub async fn unprovision(&self, function: &str, qualifier: &str) {
        let key = (function.to_string(), qualifier.to_string());
        let (envs, total) = {
            let mut p = self.provisioned.lock().expect("provisioned");
            let envs = p.sets.remove(&key).map(|s| s.idle).unwrap_or_default();
            (envs, p.total_requested(function))
        };
        self.admission
            .lock()
            .expect("admission")
            .set_provisioned(function, total);
        Self::destroy_all(envs).await;
    }

    /// The status of one configuration, if the invoker has it.
    pub fn provisioned_status(&self, function: &str, qualifier: &str) -> Option<ProvisionedStatus> {
        let p = self.provisioned.lock().expect("provisioned");
        p.sets
            .get(&(function.to_string(), qualifier.to_string()))
            .map(ProvisionedSet::status)
    }

    /// Ready (initialised) provisioned environments per function.
    pub(crate) fn provisioned_ready(&self) -> HashMap<String, u32> {
        let p = self.provisioned.lock().expect("provisioned");
        let mut out = HashMap::new();
        for ((f, _), set) in &p.sets {
            *out.entry(f.clone()).or_insert(0) += set.allocated();
        }
        out
    }

    /// Takes every provisioned set of `function` away (it was deleted).
    pub(crate) fn remove_provisioned_of(&self, function: &str) -> Vec<Environment> {
        let mut p = self.provisioned.lock().expect("provisioned");
        let keys: Vec<ProvKey> = p
            .sets
            .keys()
            .filter(|(f, _)| f == function)
            .cloned()
            .collect();
        keys.iter()
            .flat_map(|k| p.sets.remove(k).map(|s| s.idle).unwrap_or_default())
            .collect()
    }

    /// Takes every provisioned environment away (the server stops).
    pub(crate) fn remove_all_provisioned(&self) -> Vec<Environment> {
        let mut p = self.provisioned.lock().expect("provisioned");
        p.sets.drain().flat_map(|(_, s)| s.idle).collect()
    }

    /// A ready provisioned environment for this invocation: of the alias or
    /// version the caller named, else of the version that runs; only if it
    /// runs exactly this configuration.
    pub(crate) fn take_provisioned(
        &self,
        req: &InvokeRequest,
    ) -> Option<(Environment, Lent, Vec<Environment>)> {
        let function = &req.config.function_name;
        let mut keys = Vec::with_capacity(2);
        if let Some(q) = arn_qualifier(&req.invoked_arn) {
            keys.push((function.clone(), q.to_string()));
        }
        keys.push((function.clone(), req.config.version.clone()));
        let mut dead = Vec::new();
        let mut found = None;
        let mut refill = Vec::new();
        {
            let mut p = self.provisioned.lock().expect("provisioned");
            for key in keys {
                let Some(set) = p.sets.get_mut(&key) else {
                    continue;
                };
                if set.spec.config.version != req.config.version
                    || set.spec.config.revision_id != req.config.revision_id
                {
                    continue;
                }
                while let Some(mut env) = set.idle.pop() {
                    if env.has_exited() {
                        dead.push(env);
                        continue;
                    }
                    set.busy += 1;
                    found = Some((
                        env,
                        Lent {
                            key: key.clone(),
                            generation: set.generation,
                        },
                    ));
                    break;
                }
                if !dead.is_empty() {
                    refill.push(key.clone());
                }
                if found.is_some() {
                    break;
                }
            }
        }
        for key in refill {
            self.reconcile_soon(key);
        }
        match found {
            Some((env, lent)) => Some((env, lent, dead)),
            None => {
                if !dead.is_empty() {
                    tokio::spawn(Self::destroy_all(dead));
                }
                None
            }
        }
    }

    /// Gives a lent environment back; one that is not healthy (or whose set
    /// changed meanwhile) is destroyed, and the set is refilled.
    pub(crate) fn return_provisioned(&self, lent: Lent, env: Environment, healthy: bool) {
        let refill = {
            let mut p = self.provisioned.lock().expect("provisioned");
            match p.sets.get_mut(&lent.key) {
                Some(set) if set.generation == lent.generation => {
                    set.busy = set.busy.saturating_sub(1);
                    if healthy && set.allocated() + set.starting < set.spec.requested {
                        set.idle.push(env);
                    } else {
                        tokio::spawn(env.destroy());
                    }
                    !healthy
                }
                _ => {
                    tokio::spawn(env.destroy());
                    false
                }
            }
        };
        if refill {
            // A reset environment is replaced by a freshly initialised one.
            self.reconcile_soon(lent.key);
        }
    }

    /// Starts the reconcile task of `key` unless one is already running.
    fn reconcile_soon(&self, key: ProvKey) {
        let Some(me) = self.me.upgrade() else { return };
        {
            let mut p = self.provisioned.lock().expect("provisioned");
            let Some(set) = p.sets.get_mut(&key) else {
                return;
            };
            if set.reconciling {
                return;
            }
            set.reconciling = true;
        }
        tokio::spawn(async move { me.reconcile(key).await });
    }

    async fn reconcile(self: Arc<Self>, key: ProvKey) {
        loop {
            let (spec, generation, missing) = {
                let mut p = self.provisioned.lock().expect("provisioned");
                let Some(set) = p.sets.get_mut(&key) else {
                    return;
                };
                let have = set.allocated() + set.starting;
                if set.failed.is_some() || have >= set.spec.requested {
                    set.reconciling = false;
                    return;
                }
                let missing = set.spec.requested - have;
                set.starting += missing;
                (set.spec.clone(), set.generation, missing)
            };
            // A burst of inits runs in parallel, not one after another.
            let mut starts = tokio::task::JoinSet::new();
            for _ in 0..missing {
                let me = self.clone();
                let spec = spec.clone();
                starts.spawn(async move { me.start_provisioned(&spec).await });
            }
            while let Some(result) = starts.join_next().await {
                let result = result.unwrap_or_else(|e| Err(e.to_string()));
                let leftover = {
                    let mut p = self.provisioned.lock().expect("provisioned");
                    match p.sets.get_mut(&key) {
                        Some(set) if set.generation == generation => {
                            set.starting = set.starting.saturating_sub(1);
                            match result {
                                Ok(env) if set.allocated() + set.starting < set.spec.requested => {
                                    set.idle.push(env);
                                    None
                                }
                                Ok(env) => Some(env),
                                Err(reason) => {
                                    set.failed.get_or_insert(reason);
                                    None
                                }
                            }
                        }
                        // Replaced or deleted while starting.
                        _ => result.ok(),
                    }
                };
                if let Some(env) = leftover {
                    env.destroy().await;
                }
            }
            let mut p = self.provisioned.lock().expect("provisioned");
            match p.sets.get_mut(&key) {
                Some(set) if set.generation == generation => {}
                Some(set) => {
                    // A newer generation took over; let it run its own task.
                    set.reconciling = false;
                    drop(p);
                    self.reconcile_soon(key.clone());
                    return;
                }
                None => return,
            }
        }
    }

    /// Initialises one provisioned environment. Its init output is logged
    /// under its own stream; its first REPORT carries no `Init Duration`.
    async fn start_provisioned(&self, spec: &ProvisionSpec) -> Result<Environment, String> {
        let req = InvokeRequest {
            config: spec.config.clone(),
            code_blob: spec.code_blob.clone(),
            code_path: spec.code_path.clone(),
            invoked_arn: spec.arn.clone(),
            payload: Bytes::new(),
            client_context: None,
            tail_logs: false,
            request_id: None,
            stream_to: None,
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut log = Vec::new();
        let started = self
            .cold_start(&req, &request_id, &mut log, InitType::Provisioned)
            .await;
        let function = &spec.config.function_name;
        match started {
            Ok(Ok(mut env)) => {
                env.init_duration = None;
                if !log.is_empty() {
                    self.logs.append(function, &env.stream.clone(), log);
                }
                Ok(env)
            }
            Ok(Err((error_type, _body, _status))) => {
                tracing::warn!(
                    function,
                    error_type,
                    "provisioned environment failed to init"
                );
                let stream = crate::logs::stream_name(&spec.config.version);
                if !log.is_empty() {
                    self.logs.append(function, &stream, log);
                }
                Err(INIT_FAILURE.into())
            }
            Err(InvokeError::Runtime { .. }) => Err(INIT_FAILURE.into()),
            Err(e) => {
                tracing::warn!(function, error = %e, "could not start a provisioned environment");
                Err(format!(
                    "Provisioned environments could not be started: {e}"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::arn_qualifier;

    #[test]
    fn qualifiers_come_from_qualified_arns_only() {
        assert_eq!(
            arn_qualifier("arn:aws:lambda:us-east-1:000000000000:function:f:live"),
            Some("live")
        );
        assert_eq!(
            arn_qualifier("arn:aws:lambda:us-east-1:000000000000:function:f:7"),
            Some("7")
        );
        assert_eq!(
            arn_qualifier("arn:aws:lambda:us-east-1:000000000000:function:f"),
            None
        );
    }
}
