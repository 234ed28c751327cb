//! Provisioned concurrency configurations (Put/Get/Delete/
//! ListProvisionedConcurrencyConfig(s)): validation and storage. Keeping the
//! environments ready is the invoker's job; this only decides what is asked.

use crate::records::{
    self, CONCURRENCY, FUNCTIONS, ProvisionedRecord, load, load_alias, provisioned_ns, save,
};
use crate::{ControlPlane, Result};
use flint_store::{Pages, Transaction};
use flint_types::model::AliasConfiguration;
use flint_types::{ApiError, FunctionRef, Qualifier, timefmt};

/// One stored configuration, named by its qualifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedEntry {
    pub function: String,
    pub qualifier: String,
    /// Qualified ARN of the version or alias.
    pub arn: String,
    pub requested: u32,
    pub last_modified: String,
}

/// A page of ListProvisionedConcurrencyConfigs.
#[derive(Debug, Clone)]
pub struct ProvisionedList {
    pub entries: Vec<ProvisionedEntry>,
    pub next_marker: Option<String>,
}

/// The versions an alias routes to (primary and weighted additional).
fn alias_versions(alias: &AliasConfiguration) -> Vec<String> {
    let mut out = vec![alias.function_version.clone()];
    if let Some(w) = alias
        .routing_config
        .as_ref()
        .and_then(|r| r.additional_version_weights.as_ref())
    {
        out.extend(w.keys().cloned());
    }
    out
}

impl ControlPlane {
    /// The qualifier a provisioned concurrency request names, checked to
    /// exist: a published version or an alias, never `$LATEST`.
    fn provisioned_target(
        &self,
        tx: &mut dyn Transaction,
        fref: &FunctionRef,
        latest_message: &str,
    ) -> Result<Qualifier> {
        self.load_function(tx, fref)?;
        let Some(q) = fref.qualifier.clone() else {
            return Err(ApiError::Validation(
                "1 validation error detected: Value null at 'qualifier' failed to satisfy constraint: Member must not be null".into(),
            )
            .into());
        };
        match &q {
            Qualifier::Latest => {
                return Err(ApiError::InvalidParameterValue(latest_message.into()).into());
            }
            Qualifier::Version(n) => {
                self.load_version(tx, fref, *n)?;
            }
            Qualifier::Alias(a) => {
                load_alias(tx, &fref.name, a)?.ok_or_else(|| self.not_found(fref))?;
            }
        }
        Ok(q)
    }

    /// Every configuration of one function, in qualifier order.
    fn provisioned_of(
        &self,
        tx: &mut dyn Transaction,
        function: &str,
    ) -> Result<Vec<(String, ProvisionedRecord)>> {
        let ns = provisioned_ns(function);
        let mut out = Vec::new();
        let mut pages = Pages::new(&ns);
        while let Some(page) = pages.next_page(tx)? {
            for (k, bytes) in page {
                out.push((k.clone(), records::decode(&ns, &k, &bytes)?));
            }
        }
        Ok(out)
    }

    /// Total provisioned concurrency of one function.
    pub(crate) fn provisioned_total(
        &self,
        tx: &mut dyn Transaction,
        function: &str,
        except: Option<&str>,
    ) -> Result<i64> {
        Ok(self
            .provisioned_of(tx, function)?
            .into_iter()
            .filter(|(q, _)| Some(q.as_str()) != except)
            .map(|(_, r)| r.requested as i64)
            .sum())
    }

    /// Provisioned concurrency of functions without a reservation: it comes
    /// out of the account's unreserved pool.
    pub(crate) fn provisioned_unreserved_total(
        &self,
        tx: &mut dyn Transaction,
        except: Option<(&str, &str)>,
    ) -> Result<i64> {
        let mut total = 0;
        let mut pages = Pages::new(FUNCTIONS);
        while let Some(page) = pages.next_page(tx)? {
            for (name, _) in page {
                if tx.get(CONCURRENCY, &name)?.is_some() {
                    continue;
                }
                for (q, r) in self.provisioned_of(tx, &name)? {
                    if except != Some((name.as_str(), q.as_str())) {
                        total += r.requested as i64;
                    }
                }
            }
        }
        Ok(total)
    }

    /// PutProvisionedConcurrencyConfig.
    pub fn put_provisioned_concurrency(
        &self,
        fref: &FunctionRef,
        requested: i64,
    ) -> Result<ProvisionedEntry> {
        if requested < 1 {
            return Err(
                ApiError::too_small(requested, "provisionedConcurrentExecutions", 1).into(),
            );
        }
        let mut tx = self.meta.begin()?;
        let q = self.provisioned_target(
            &mut *tx,
            fref,
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
        )?;
        let qualifier = q.to_string();
        let existing = self.provisioned_of(&mut *tx, &fref.name)?;
        // An alias and a version it routes to cannot both be provisioned.
        match &q {
            Qualifier::Alias(a) => {
                let alias =
                    load_alias(&mut *tx, &fref.name, a)?.ok_or_else(|| self.not_found(fref))?;
                let versions = alias_versions(&alias);
                if existing.iter().any(|(k, _)| versions.contains(k)) {
                    return Err(ApiError::ResourceConflict(
                        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version".into(),
                    )
                    .into());
                }
            }
            Qualifier::Version(_) => {
                for (k, _) in &existing {
                    if let Some(alias) = load_alias(&mut *tx, &fref.name, k)?
                        && alias_versions(&alias).contains(&qualifier)
                    {
                        return Err(ApiError::ResourceConflict(
                            "Version is pointed by a Provisioned Concurrency alias".into(),
                        )
                        .into());
                    }
                }
            }
            Qualifier::Latest => unreachable!("refused by provisioned_target"),
        }
        let others: i64 = existing
            .iter()
            .filter(|(k, _)| *k != qualifier)
            .map(|(_, r)| r.requested as i64)
            .sum();
        let reserved: Option<i64> = load(&mut *tx, CONCURRENCY, &fref.name)?;
        match reserved {
            Some(r) if others + requested > r => {
                return Err(ApiError::InvalidParameterValue(
                    "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function".into(),
                )
                .into());
            }
            Some(_) => {}
            None => {
                let reserved_total = self.reserved_total(&mut *tx, None)?;
                let provisioned =
                    self.provisioned_unreserved_total(&mut *tx, Some((&fref.name, &qualifier)))?;
                // What the account has left unreserved for this config; AWS
                // refuses more than that, and anything leaving under the
                // minimum (recorded: test_provisioned_concurrency_limits).
                let available = self.settings.account_concurrency - reserved_total - provisioned;
                if requested > available {
                    return Err(ApiError::InvalidParameterValueUntyped(format!(
                        "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [{available}]."
                    ))
                    .into());
                }
                if available - requested < self.settings.unreserved_minimum {
                    return Err(ApiError::InvalidParameterValueUntyped(format!(
                        "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{}].",
                        self.settings.unreserved_minimum
                    ))
                    .into());
                }
            }
        }
        let record = ProvisionedRecord {
            requested: requested as u32,
            last_modified: timefmt::now(),
        };
        save(&mut *tx, &provisioned_ns(&fref.name), &qualifier, &record)?;
        self.commit(tx)?;
        Ok(self.entry(&fref.name, qualifier, record))
    }

    fn entry(&self, function: &str, qualifier: String, r: ProvisionedRecord) -> ProvisionedEntry {
        ProvisionedEntry {
            function: function.to_string(),
            arn: self.resources().qualified_arn(function, &qualifier),
            qualifier,
            requested: r.requested,
            last_modified: r.last_modified,
        }
    }

    /// GetProvisionedConcurrencyConfig.
    pub fn get_provisioned_concurrency(&self, fref: &FunctionRef) -> Result<ProvisionedEntry> {
        let mut tx = self.meta.begin()?;
        let q = self.provisioned_target(
            &mut *tx,
            fref,
            "The function resource provided must be an alias or a published version.",
        )?;
        let qualifier = q.to_string();
        let record: ProvisionedRecord = load(&mut *tx, &provisioned_ns(&fref.name), &qualifier)?
            .ok_or(ApiError::ProvisionedConcurrencyConfigNotFound)?;
        Ok(self.entry(&fref.name, qualifier, record))
    }

    /// DeleteProvisionedConcurrencyConfig (idempotent, as Lambda's). Returns
    /// whether a configuration was removed.
    pub fn delete_provisioned_concurrency(&self, fref: &FunctionRef) -> Result<bool> {
        let mut tx = self.meta.begin()?;
        let q = self.provisioned_target(
            &mut *tx,
            fref,
            "The function resource provided must be an alias or a published version.",
        )?;
        let ns = provisioned_ns(&fref.name);
        let key = q.to_string();
        let existed = tx.get(&ns, &key)?.is_some();
        if existed {
            tx.delete(&ns, &key)?;
            self.commit(tx)?;
        }
        Ok(existed)
    }

    /// ListProvisionedConcurrencyConfigs.
    pub fn list_provisioned_concurrency(
        &self,
        fref: &FunctionRef,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<ProvisionedList> {
        let limit = crate::records::config_page_size(max_items)?;
        self.require_unqualified(fref)?;
        let mut tx = self.meta.begin()?;
        self.load_function(&mut *tx, fref)?;
        let all = self.provisioned_of(&mut *tx, &fref.name)?;
        let mut entries: Vec<ProvisionedEntry> = all
            .into_iter()
            .filter(|(k, _)| marker.is_none_or(|m| k.as_str() > m))
            .map(|(k, r)| self.entry(&fref.name, k, r))
            .collect();
        let next_marker = if entries.len() > limit {
            entries.truncate(limit);
            entries.last().map(|e| e.qualifier.clone())
        } else {
            None
        };
        Ok(ProvisionedList {
            entries,
            next_marker,
        })
    }

    /// Every configuration of every function (for the invoker at start-up).
    pub fn all_provisioned_concurrency(&self) -> Result<Vec<ProvisionedEntry>> {
        let mut tx = self.meta.begin()?;
        let mut out = Vec::new();
        let mut pages = Pages::new(FUNCTIONS);
        while let Some(page) = pages.next_page(&mut *tx)? {
            for (name, _) in page {
                for (q, r) in self.provisioned_of(&mut *tx, &name)? {
                    out.push(self.entry(&name, q, r));
                }
            }
        }
        Ok(out)
    }

    /// Every reserved concurrency setting (for the invoker at start-up).
    pub fn all_reserved_concurrency(&self) -> Result<Vec<(String, i64)>> {
        let mut tx = self.meta.begin()?;
        let mut out = Vec::new();
        let mut pages = Pages::new(CONCURRENCY);
        while let Some(page) = pages.next_page(&mut *tx)? {
            for (name, bytes) in page {
                out.push((name.clone(), records::decode(CONCURRENCY, &name, &bytes)?));
            }
        }
        Ok(out)
    }
}
