//! Resource-based policies: AddPermission, RemovePermission, GetPolicy, and the statements
//! that apply to a function, version or alias (for the function URL's authorization).

use crate::records::{load, policy_ns, save};
use crate::{ControlPlane, Result};
use flint_types::policy::{self as rules, AddPermissionRequest};
use flint_types::{ApiError, FunctionRef, Qualifier};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The policy of one function (unqualified) or one of its versions or aliases.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// Changes with every AddPermission / RemovePermission.
    pub revision_id: String,
    /// Statements in GetPolicy's shape, in the order they were added.
    pub statements: Vec<Value>,
}

/// The key a reference's policy is stored under: the qualifier as named, or
/// `$function` for the unqualified function (no qualifier can be spelled so).
fn policy_key(fref: &FunctionRef) -> String {
    fref.qualifier
        .as_ref()
        .map(Qualifier::to_string)
        .unwrap_or_else(|| "$function".into())
}

fn stale_revision() -> ApiError {
    ApiError::PreconditionFailed(
        "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id".into(),
    )
}

fn no_policy() -> ApiError {
    ApiError::ResourceNotFound("No policy is associated with the given resource.".into())
}

/// A qualifier AWS reads as an alias name (its `[a-zA-Z0-9-_]+` pattern);
/// anything else that names nothing is a version that does not exist.
fn is_alias_name(q: Option<&Qualifier>) -> bool {
    matches!(q, Some(Qualifier::Alias(a))
        if a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

impl ControlPlane {
    /// Add/RemovePermission on a missing alias of an existing function say so
    /// (`Cannot find alias arn: ...`, as AWS's test_permission_exceptions
    /// records); other misses keep the lookup's error.
    fn missing_permission_target(
        &self,
        tx: &mut dyn flint_store::Transaction,
        fref: &FunctionRef,
        e: crate::ControlError,
    ) -> crate::ControlError {
        let function_exists = self.load_function(tx, fref).is_ok();
        if function_exists && is_alias_name(fref.qualifier.as_ref()) {
            return ApiError::ResourceNotFound(format!(
                "Cannot find alias arn: {}",
                self.policy_resource(fref)
            ))
            .into();
        }
        e
    }

    fn policy_resource(&self, fref: &FunctionRef) -> String {
        match &fref.qualifier {
            Some(q) => self.resources().qualified_arn(&fref.name, &q.to_string()),
            None => self.resources().function_arn(&fref.name),
        }
    }

    /// AddPermission: returns the statement added, as the JSON text Lambda answers with.
    pub fn add_permission(&self, fref: &FunctionRef, req: AddPermissionRequest) -> Result<String> {
        rules::check_add_permission(&req)?;
        if let Some(Qualifier::Latest) = fref.qualifier {
            return Err(ApiError::InvalidParameterValue(
                "We currently do not support adding policies for $LATEST.".into(),
            )
            .into());
        }
        let mut tx = self.meta.begin()?;
        // The function, and the version or alias named, must exist.
        if let Err(e) = self.resolve_in(&mut *tx, fref) {
            return Err(self.missing_permission_target(&mut *tx, fref, e));
        }
        let ns = policy_ns(&fref.name);
        let key = policy_key(fref);
        let existing: Option<PolicyRecord> = load(&mut *tx, &ns, &key)?;
        if let Some(wanted) = &req.revision_id
            && existing.as_ref().map(|r| &r.revision_id) != Some(wanted)
        {
            return Err(stale_revision().into());
        }
        let mut record = existing.unwrap_or(PolicyRecord {
            revision_id: String::new(),
            statements: Vec::new(),
        });
        let sid = req.statement_id.clone().unwrap_or_default();
        if record
            .statements
            .iter()
            .any(|s| s.get("Sid").and_then(Value::as_str) == Some(sid.as_str()))
        {
            return Err(ApiError::ResourceConflict(format!(
                "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
            ))
            .into());
        }
        let statement = rules::statement(&req, &self.policy_resource(fref));
        record.statements.push(statement.clone());
        let size = serde_json::to_vec(&rules::document(&record.statements))
            .map(|d| d.len())
            .unwrap_or(usize::MAX);
        if size > rules::MAX_POLICY_BYTES {
            return Err(ApiError::PolicyLengthExceeded(format!(
                "The final policy size ({size}) is bigger than the limit ({}).",
                rules::MAX_POLICY_BYTES
            ))
            .into());
        }
        record.revision_id = uuid::Uuid::new_v4().to_string();
        save(&mut *tx, &ns, &key, &record)?;
        self.commit(tx)?;
        Ok(statement.to_string())
    }

    /// RemovePermission.
    pub fn remove_permission(
        &self,
        fref: &FunctionRef,
        statement_id: &str,
        revision_id: Option<&str>,
    ) -> Result<()> {
        rules::check_remove_statement_id(statement_id)?;
        let mut tx = self.meta.begin()?;
        if self.load_function(&mut *tx, fref).is_err() {
            return Err(ApiError::ResourceNotFound(format!(
                "No policy found for: {}",
                self.function_arn(&fref.name)
            ))
            .into());
        }
        if let Err(e) = self.resolve_in(&mut *tx, fref) {
            return Err(self.missing_permission_target(&mut *tx, fref, e));
        }
        let ns = policy_ns(&fref.name);
        let key = policy_key(fref);
        let existing: Option<PolicyRecord> = load(&mut *tx, &ns, &key)?;
        let not_found = || {
            ApiError::ResourceNotFound(format!(
                "Statement {statement_id} is not found in resource policy."
            ))
        };
        let mut record = existing.ok_or_else(no_policy)?;
        if let Some(wanted) = revision_id
            && record.revision_id != wanted
        {
            return Err(stale_revision().into());
        }
        let before = record.statements.len();
        record
            .statements
            .retain(|s| s.get("Sid").and_then(Value::as_str) != Some(statement_id));
        if record.statements.len() == before {
            return Err(not_found().into());
        }
        if record.statements.is_empty() {
            tx.delete(&ns, &key)?;
        } else {
            record.revision_id = uuid::Uuid::new_v4().to_string();
            save(&mut *tx, &ns, &key, &record)?;
        }
        self.commit(tx)?;
        Ok(())
    }

    /// GetPolicy: the policy document (JSON text) and its revision id.
    pub fn get_policy(&self, fref: &FunctionRef) -> Result<(String, String)> {
        let mut tx = self.meta.begin()?;
        // A missing function, version or alias: AWS's wording names none of them.
        match self.resolve_in(&mut *tx, fref) {
            Err(crate::ControlError::Api(ApiError::ResourceNotFound(_))) => {
                return Err(ApiError::ResourceNotFound(
                    "The resource you requested does not exist.".into(),
                )
                .into());
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let record: Option<PolicyRecord> =
            load(&mut *tx, &policy_ns(&fref.name), &policy_key(fref))?;
        // No statements: the same wording as a missing resource (recorded:
        // test_remove_multi_permissions[get_policy_exception_removed_all]).
        let record = record.filter(|r| !r.statements.is_empty()).ok_or_else(|| {
            ApiError::ResourceNotFound("The resource you requested does not exist.".into())
        })?;
        Ok((
            rules::document(&record.statements).to_string(),
            record.revision_id,
        ))
    }

    /// The statements that govern requests to `fref`: those of the qualifier named (a
    /// function URL's alias), else of the function. Empty when there are none.
    pub fn policy_statements(&self, fref: &FunctionRef) -> Result<Vec<Value>> {
        let mut tx = self.meta.begin()?;
        let record: Option<PolicyRecord> =
            load(&mut *tx, &policy_ns(&fref.name), &policy_key(fref))?;
        Ok(record.map(|r| r.statements).unwrap_or_default())
    }
}
