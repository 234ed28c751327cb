//! TagResource, UntagResource and ListTags on functions.

use crate::records::{FUNCTIONS, FunctionRecord, load, save};
use crate::{ControlPlane, Result};
use flint_types::{ApiError, FunctionRef, validate};
use std::collections::BTreeMap;

/// AWS's current pattern for a taggable resource, as its recorded answers quote it.
const TAGGABLE_PATTERN: &str = "arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:(function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)";

impl ControlPlane {
    /// Tags live on the unqualified function; the resource must be a full ARN.
    fn taggable_function(&self, resource: &str) -> Result<FunctionRef> {
        if !resource.starts_with("arn:") {
            return Err(ApiError::pattern(resource, "resource", TAGGABLE_PATTERN).into());
        }
        let fref = FunctionRef::parse(resource, 256, self.resources()).map_err(|e| match e {
            ApiError::Validation(_) => ApiError::pattern(resource, "resource", TAGGABLE_PATTERN),
            other => other,
        })?;
        if fref.qualifier.is_some() {
            return Err(ApiError::InvalidParameterValue(
                "Tags on function aliases and versions are not supported. Please specify a function ARN.".into(),
            )
            .into());
        }
        Ok(fref)
    }

    pub fn tag_resource(&self, resource: &str, tags: BTreeMap<String, String>) -> Result<()> {
        let fref = self.taggable_function(resource)?;
        if tags.is_empty() {
            // AWS's answer to `"Tags": {}` (recorded: TestLambdaTags::test_tag_exceptions).
            return Err(ApiError::InvalidParameterValue(
                "An error occurred and the request cannot be processed.".into(),
            )
            .into());
        }
        validate::tags(&tags)?;
        let mut tx = self.meta.begin()?;
        let mut rec = self.load_function(&mut *tx, &fref)?;
        let mut merged = rec.tags.clone();
        merged.extend(tags);
        validate::tags(&merged)?;
        rec.tags = merged;
        save(&mut *tx, FUNCTIONS, &fref.name, &rec)?;
        self.commit(tx)?;
        Ok(())
    }

    pub fn untag_resource(&self, resource: &str, keys: &[String]) -> Result<()> {
        let fref = self.taggable_function(resource)?;
        let mut tx = self.meta.begin()?;
        let mut rec = self.load_function(&mut *tx, &fref)?;
        for k in keys {
            rec.tags.remove(k);
        }
        save(&mut *tx, FUNCTIONS, &fref.name, &rec)?;
        self.commit(tx)?;
        Ok(())
    }

    pub fn list_tags(&self, resource: &str) -> Result<BTreeMap<String, String>> {
        let fref = self.taggable_function(resource)?;
        let mut tx = self.meta.begin()?;
        let rec: FunctionRecord = load(&mut *tx, FUNCTIONS, &fref.name)?
            .ok_or_else(|| ApiError::function_not_found(&self.function_arn(&fref.name)))?;
        Ok(rec.tags)
    }
}
