//! A layer version's resource policy: AddLayerVersionPermission, RemoveLayerVersionPermission
//! and GetLayerVersionPolicy. The statements live in the layer version's record (they go with
//! it when it is deleted); each change gives the policy a new `RevisionId`.

use crate::layers::{LayerVersionRecord, layer_versions_ns};
use crate::records::{save, version_key};
use crate::{ControlPlane, PolicyRecord, Result};
use flint_store::Transaction;
use flint_types::layers::{self as rules, AddLayerVersionPermissionRequest, LayerName};
use flint_types::{ApiError, policy};
use serde_json::Value;

fn stale_revision() -> ApiError {
    ApiError::PreconditionFailed(
        "The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy API to retrieve the latest Revision Id".into(),
    )
}

fn sid_of(s: &Value) -> Option<&str> {
    s.get("Sid").and_then(Value::as_str)
}

impl ControlPlane {
    /// The version the policy operations act on: `Layer version <arn> does not exist.`.
    fn policy_target(
        &self,
        tx: &mut dyn Transaction,
        layer: &LayerName,
        version: u64,
    ) -> Result<LayerVersionRecord> {
        self.load_layer_version(tx, layer, version)?.ok_or_else(|| {
            ApiError::ResourceNotFound(format!(
                "Layer version {} does not exist.",
                self.layer_version_arn(&layer.name, version)
            ))
            .into()
        })
    }

    /// AddLayerVersionPermission: the statement (JSON text) and the policy's new revision.
    pub fn add_layer_version_permission(
        &self,
        layer: &LayerName,
        version: u64,
        req: AddLayerVersionPermissionRequest,
        revision_id: Option<&str>,
    ) -> Result<(String, String)> {
        rules::permission_request(&req)?;
        let mut tx = self.meta.begin()?;
        let mut rec = self.policy_target(&mut *tx, layer, version)?;
        let mut policy = rec.policy.take().unwrap_or(PolicyRecord {
            revision_id: String::new(),
            statements: Vec::new(),
        });
        if let Some(wanted) = revision_id
            && policy.revision_id != wanted
        {
            return Err(stale_revision().into());
        }
        let sid = req.statement_id.clone().unwrap_or_default();
        if policy.statements.iter().any(|s| sid_of(s) == Some(&sid)) {
            return Err(ApiError::ResourceConflict(format!(
                "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
            ))
            .into());
        }
        let statement = rules::permission_statement(&req, &rec.item.layer_version_arn);
        policy.statements.push(statement.clone());
        let size = policy::document(&policy.statements).to_string().len();
        if size > policy::MAX_POLICY_BYTES {
            return Err(ApiError::PolicyLengthExceeded(format!(
                "The final policy size ({size}) is bigger than the limit ({}).",
                policy::MAX_POLICY_BYTES
            ))
            .into());
        }
        policy.revision_id = uuid::Uuid::new_v4().to_string();
        let revision = policy.revision_id.clone();
        rec.policy = Some(policy);
        save(
            &mut *tx,
            &layer_versions_ns(&layer.name),
            &version_key(version),
            &rec,
        )?;
        self.commit(tx)?;
        Ok((statement.to_string(), revision))
    }

    /// RemoveLayerVersionPermission.
    pub fn remove_layer_version_permission(
        &self,
        layer: &LayerName,
        version: u64,
        statement_id: &str,
        revision_id: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.meta.begin()?;
        let mut rec = self.policy_target(&mut *tx, layer, version)?;
        let not_found = || {
            ApiError::ResourceNotFound(format!(
                "Statement {statement_id} is not found in resource policy."
            ))
        };
        let mut policy = rec.policy.take().ok_or_else(not_found)?;
        if let Some(wanted) = revision_id
            && policy.revision_id != wanted
        {
            return Err(stale_revision().into());
        }
        let before = policy.statements.len();
        policy
            .statements
            .retain(|s| sid_of(s) != Some(statement_id));
        if policy.statements.len() == before {
            return Err(not_found().into());
        }
        policy.revision_id = uuid::Uuid::new_v4().to_string();
        rec.policy = Some(policy).filter(|p| !p.statements.is_empty());
        save(
            &mut *tx,
            &layer_versions_ns(&layer.name),
            &version_key(version),
            &rec,
        )?;
        self.commit(tx)?;
        Ok(())
    }

    /// GetLayerVersionPolicy: the policy document (JSON text) and its revision.
    pub fn get_layer_version_policy(
        &self,
        layer: &LayerName,
        version: u64,
    ) -> Result<(String, String)> {
        let mut tx = self.meta.begin()?;
        let rec = self.policy_target(&mut *tx, layer, version)?;
        let policy = rec
            .policy
            .filter(|p| !p.statements.is_empty())
            .ok_or_else(|| {
                ApiError::ResourceNotFound(
                    "No policy is associated with the given resource.".into(),
                )
            })?;
        Ok((
            policy::document(&policy.statements).to_string(),
            policy.revision_id,
        ))
    }
}
