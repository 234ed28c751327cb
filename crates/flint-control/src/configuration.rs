//! What a function's configuration looks like: the fields a request sets, and how responses
//! show it right after a create or an update, in a list, and once settled.

use crate::ControlPlane;
use crate::records::FunctionRecord;
use flint_types::model::{
    ConfigFields, EnvironmentResponse, FunctionConfiguration, LoggingConfig, RuntimeVersionConfig,
    SnapStartResponse, TracingConfig, VpcConfigResponse,
};
use sha2::Digest;

const CREATING_REASON: &str = "The function is being created.";

/// What a response shows right after a create: flint finishes the work
/// before answering, but clients (and SDK waiters) expect Lambda's
/// `Pending` → `Active` sequence, so the create response reports `Pending`
/// and every later read reports the settled `Active`.
pub(crate) fn as_just_created(mut c: FunctionConfiguration) -> FunctionConfiguration {
    transient_revision(&mut c);
    c.state = Some("Pending".into());
    c.state_reason = Some(CREATING_REASON.into());
    c.state_reason_code = Some("Creating".into());
    c.last_update_status = None;
    c.last_update_status_reason = None;
    c.last_update_status_reason_code = None;
    c
}

/// What an Update* response shows: `LastUpdateStatus: InProgress`, as on AWS.
pub(crate) fn as_just_updated(mut c: FunctionConfiguration) -> FunctionConfiguration {
    transient_revision(&mut c);
    c.last_update_status = Some("InProgress".into());
    c.last_update_status_reason = Some(CREATING_REASON.into());
    c.last_update_status_reason_code = Some("Creating".into());
    c
}

/// List entries omit the state fields and the runtime version (as AWS does).
/// AWS gives a function a new RevisionId when it goes Pending → Active and
/// when an update goes InProgress → Successful. flint has settled before it
/// answers, so the stored (settled) record already has the post-transition id
/// and the answer of the create or update shows the id of the transient state:
/// one no read ever sees again, so a `RevisionId` precondition with it fails
/// as it does on AWS once the transition happened, and one read from
/// GetFunction succeeds.
fn transient_revision(c: &mut FunctionConfiguration) {
    c.revision_id = crate::records::new_revision();
}

pub(crate) fn as_list_entry(mut c: FunctionConfiguration) -> FunctionConfiguration {
    c.state = None;
    c.state_reason = None;
    c.state_reason_code = None;
    c.last_update_status = None;
    c.last_update_status_reason = None;
    c.last_update_status_reason_code = None;
    c.runtime_version_config = None;
    c
}

pub(crate) fn settled(c: &mut FunctionConfiguration) {
    c.state = Some("Active".into());
    c.state_reason = None;
    c.state_reason_code = None;
    c.last_update_status = Some("Successful".into());
    c.last_update_status_reason = None;
    c.last_update_status_reason_code = None;
}

pub(crate) fn runtime_version_arn(region: &str, runtime: &str) -> String {
    // Lambda identifies runtime builds by an opaque hash; derive a stable one.
    let digest = hex::encode(sha2::Sha256::digest(runtime.as_bytes()));
    format!("arn:aws:lambda:{region}::runtime:{digest}")
}

/// The identity of `$LATEST`'s code and configuration, ignoring fields that
/// change without changing what runs (revision, timestamps, state).
pub(crate) fn fingerprint(rec: &FunctionRecord) -> String {
    let mut c = rec.latest.clone();
    c.revision_id.clear();
    c.last_modified.clear();
    settled(&mut c);
    let mut h = sha2::Sha256::new();
    h.update(serde_json::to_vec(&c).expect("configurations serialize"));
    h.update(rec.code_blob.as_bytes());
    hex::encode(h.finalize())
}

impl ControlPlane {
    pub(crate) fn apply_config(&self, c: &mut FunctionConfiguration, f: &ConfigFields) {
        if let Some(v) = &f.runtime {
            c.runtime_version_config = Some(RuntimeVersionConfig {
                runtime_version_arn: Some(runtime_version_arn(&self.resources().region, v)),
            });
            c.runtime = Some(v.clone());
        }
        if let Some(v) = &f.role {
            c.role = v.clone();
        }
        if let Some(v) = &f.handler {
            c.handler = Some(v.clone());
        }
        if let Some(v) = &f.description {
            c.description = v.clone();
        }
        if let Some(v) = f.timeout {
            c.timeout = v;
        }
        if let Some(v) = f.memory_size {
            c.memory_size = v;
        }
        if let Some(env) = &f.environment {
            c.environment = Some(EnvironmentResponse {
                variables: env.variables.clone().unwrap_or_default(),
            });
        }
        if let Some(t) = &f.tracing_config {
            c.tracing_config = TracingConfig {
                mode: Some(t.mode.clone().unwrap_or_else(|| "PassThrough".into())),
            };
        }
        if let Some(e) = &f.ephemeral_storage {
            c.ephemeral_storage = e.clone();
        }
        if let Some(l) = &f.logging_config {
            let default_group = format!("/aws/lambda/{}", c.function_name);
            c.logging_config = LoggingConfig {
                log_format: Some(l.log_format.clone().unwrap_or_else(|| "Text".into())),
                log_group: Some(l.log_group.clone().unwrap_or(default_group)),
                ..l.clone()
            };
            if c.logging_config.log_format.as_deref() == Some("JSON") {
                let l = &mut c.logging_config;
                l.application_log_level.get_or_insert_with(|| "INFO".into());
                l.system_log_level.get_or_insert_with(|| "INFO".into());
            }
        }
        if let Some(d) = &f.dead_letter_config {
            c.dead_letter_config = d
                .target_arn
                .as_ref()
                .filter(|a| !a.is_empty())
                .map(|_| d.clone());
        }
        if let Some(k) = &f.kms_key_arn {
            c.kms_key_arn = Some(k.clone()).filter(|k| !k.is_empty());
        }
        if let Some(v) = &f.vpc_config {
            let subnets = v.subnet_ids.clone().unwrap_or_default();
            let groups = v.security_group_ids.clone().unwrap_or_default();
            c.vpc_config = (!subnets.is_empty() || !groups.is_empty()).then(|| VpcConfigResponse {
                subnet_ids: subnets,
                security_group_ids: groups,
                vpc_id: String::new(),
                ipv6_allowed_for_dual_stack: v.ipv6_allowed_for_dual_stack.unwrap_or(false),
            });
        }
        if let Some(fs) = &f.file_system_configs {
            c.file_system_configs = Some(fs.clone()).filter(|v| !v.is_empty());
        }
        if let Some(s) = &f.snap_start {
            c.snap_start = SnapStartResponse {
                apply_on: s.apply_on.clone().unwrap_or_else(|| "None".into()),
                optimization_status: "Off".into(),
            };
        }
    }
}
