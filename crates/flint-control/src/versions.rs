//! PublishVersion and ListVersionsByFunction.

use crate::configuration::{as_list_entry, fingerprint, settled};
use crate::functions::check_revision;
use crate::listing::{FunctionList, LIST_PAGE_MAX, decode_marker, encode_marker, page_size};
use crate::records::{
    self, FUNCTIONS, FunctionRecord, VersionRecord, load, save, version_key, versions_ns,
};
use crate::{ControlPlane, Result};
use flint_store::Transaction;
use flint_types::model::{FunctionConfiguration, PublishVersionRequest};
use flint_types::{ApiError, FunctionRef, timefmt, validate};

impl ControlPlane {
    /// Publishes `$LATEST` as the next version inside `tx`, or returns the
    /// last published version when nothing changed since it was published.
    pub(crate) fn publish_in(
        &self,
        tx: &mut dyn Transaction,
        rec: &mut FunctionRecord,
        description: Option<&str>,
    ) -> Result<FunctionConfiguration> {
        let name = rec.latest.function_name.clone();
        let print = fingerprint(rec);
        if rec.last_published_fingerprint.as_deref() == Some(print.as_str())
            && let Some(existing) =
                load::<VersionRecord>(tx, &versions_ns(&name), &version_key(rec.last_version))?
        {
            return Ok(existing.config);
        }
        let n = rec.last_version + 1;
        let mut config = rec.latest.clone();
        config.version = n.to_string();
        config.function_arn = self.resources().qualified_arn(&name, &n.to_string());
        config.revision_id = records::new_revision();
        config.last_modified = timefmt::now();
        if let Some(d) = description {
            config.description = d.to_string();
        }
        self.add_blob_ref(tx, &rec.code_blob)?;
        self.add_layer_refs(tx, &rec.layers)?;
        save(
            tx,
            &versions_ns(&name),
            &version_key(n),
            &VersionRecord {
                config: config.clone(),
                code_blob: rec.code_blob.clone(),
                layers: rec.layers.clone(),
            },
        )?;
        rec.last_version = n;
        rec.last_published_fingerprint = Some(print);
        // Publishing changes the function, so $LATEST's revision moves too.
        rec.latest.revision_id = records::new_revision();
        Ok(config)
    }

    /// PublishVersion.
    pub fn publish_version(
        &self,
        fref: &FunctionRef,
        req: PublishVersionRequest,
    ) -> Result<FunctionConfiguration> {
        self.require_unqualified(fref)?;
        if let Some(d) = &req.description {
            validate::description(d)?;
        }
        let mut tx = self.meta.begin()?;
        let mut rec = self.load_function(&mut *tx, fref)?;
        if let Some(sha) = &req.code_sha256
            && *sha != rec.latest.code_sha256
        {
            return Err(ApiError::InvalidParameterValue(format!(
                "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again with the CodeSHA256 in $LATEST.",
                rec.latest.code_sha256
            ))
            .into());
        }
        check_revision(req.revision_id.as_deref(), &rec.latest.revision_id)?;
        let before = rec.last_version;
        let config = self.publish_in(&mut *tx, &mut rec, req.description.as_deref())?;
        if rec.last_version == before {
            return Ok(config);
        }
        save(&mut *tx, FUNCTIONS, &fref.name, &rec)?;
        self.commit(tx)?;
        // AWS answers PublishVersion with the version already Active and
        // Successful, under the RevisionId later reads show.
        let mut config = config;
        settled(&mut config);
        Ok(config)
    }

    /// ListVersionsByFunction: `$LATEST` first, then versions in order.
    pub fn list_versions(
        &self,
        fref: &FunctionRef,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<FunctionList> {
        self.require_unqualified(fref)?;
        let limit = page_size(max_items)?.min(LIST_PAGE_MAX);
        let mut tx = self.meta.begin()?;
        let rec = self.load_function(&mut *tx, fref)?;
        let vns = versions_ns(&fref.name);
        let mut out = Vec::new();
        let after = match marker {
            None => {
                let mut latest = as_list_entry(rec.latest);
                latest.function_arn = self.resources().qualified_arn(&fref.name, "$LATEST");
                out.push(latest);
                None
            }
            Some(m) => {
                let (name, version) = decode_marker(m)?;
                if name != fref.name {
                    return Err(
                        ApiError::InvalidParameterValue(format!("Invalid marker: {m}")).into(),
                    );
                }
                version
            }
        };
        let mut last = after.clone();
        if out.len() < limit {
            for (k, bytes) in tx.scan(&vns, after.as_deref(), limit - out.len())? {
                let v: VersionRecord = records::decode(&vns, &k, &bytes)?;
                out.push(as_list_entry(v.config));
                last = Some(k);
            }
        }
        let more = !tx
            .scan(&vns, Some(last.as_deref().unwrap_or("")), 1)?
            .is_empty();
        let next_marker = (out.len() >= limit && more)
            .then(|| encode_marker(&fref.name, Some(last.as_deref().unwrap_or(""))));
        Ok(FunctionList {
            functions: out,
            next_marker,
        })
    }
}
