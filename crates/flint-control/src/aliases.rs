//! Aliases: named pointers to a version, optionally splitting traffic with
//! one additional version by weight.

use crate::functions::check_revision;
use crate::listing::page_size;
use crate::records::{self, aliases_ns, load_alias, save, version_key, versions_ns};
use crate::{ControlPlane, Result};
use flint_store::{Pages, Transaction};
use flint_types::ident::{ALIAS_PATTERN, is_valid_alias_name};
use flint_types::model::{
    AliasConfiguration, AliasRoutingConfiguration, CreateAliasRequest, UpdateAliasRequest,
};
use flint_types::{ApiError, FunctionRef, validate};

/// One page of ListAliases.
#[derive(Debug, Clone)]
pub struct AliasList {
    pub aliases: Vec<AliasConfiguration>,
    pub next_marker: Option<String>,
}

fn check_alias_name(name: &str) -> Result<()> {
    if name.len() > 128 {
        return Err(ApiError::too_long(name, "name", 128).into());
    }
    if !is_valid_alias_name(name) {
        return Err(ApiError::pattern(name, "name", ALIAS_PATTERN).into());
    }
    Ok(())
}

fn check_version_string(v: &str) -> Result<()> {
    if v != "$LATEST" && (v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit())) {
        return Err(ApiError::pattern(v, "functionVersion", "(\\$LATEST|[0-9]+)").into());
    }
    Ok(())
}

impl ControlPlane {
    fn require_version(&self, tx: &mut dyn Transaction, fref: &FunctionRef, v: &str) -> Result<()> {
        if v == "$LATEST" {
            return Ok(());
        }
        let n: u64 = v.parse().map_err(|_| {
            ApiError::function_not_found(&self.resources().qualified_arn(&fref.name, v))
        })?;
        if tx.get(&versions_ns(&fref.name), &version_key(n))?.is_none() {
            return Err(ApiError::function_not_found(
                &self.resources().qualified_arn(&fref.name, v),
            )
            .into());
        }
        Ok(())
    }

    /// Lambda's rules for `RoutingConfig`.
    fn check_routing(
        &self,
        tx: &mut dyn Transaction,
        fref: &FunctionRef,
        primary: &str,
        routing: &Option<AliasRoutingConfiguration>,
    ) -> Result<()> {
        let Some(weights) = routing
            .as_ref()
            .and_then(|r| r.additional_version_weights.as_ref())
        else {
            return Ok(());
        };
        if weights.len() > 1 {
            return Err(ApiError::InvalidParameterValue(
                "Number of items in AdditionalVersionWeights cannot be greater than 1".into(),
            )
            .into());
        }
        for (version, weight) in weights {
            if !(0.0..=1.0).contains(weight) || weight.is_nan() {
                return Err(ApiError::constraint(
                    // Java's double spelling (`2.0`, `-1.0`), as AWS quotes it.
                    format!("{{{version}={weight:?}}}"),
                    "routingConfig.additionalVersionWeights",
                    "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]",
                )
                .into());
            }
            if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::constraint(
                    format!("{{{version}={weight:?}}}"),
                    "routingConfig.additionalVersionWeights",
                    "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]",
                )
                .into());
            }
            if primary == "$LATEST" {
                return Err(ApiError::InvalidParameterValueUntyped(
                    "$LATEST is not supported for an alias pointing to more than 1 version".into(),
                )
                .into());
            }
            if version == primary {
                return Err(ApiError::InvalidParameterValue(format!(
                    "Invalid function version {version}. Function version {version} is already included in routing configuration."
                ))
                .into());
            }
            self.require_version(tx, fref, version)?;
        }
        Ok(())
    }

    fn alias_arn(&self, function: &str, alias: &str) -> String {
        self.resources().qualified_arn(function, alias)
    }

    /// CreateAlias.
    pub fn create_alias(
        &self,
        fref: &FunctionRef,
        req: CreateAliasRequest,
    ) -> Result<AliasConfiguration> {
        self.require_unqualified(fref)?;
        let name = req
            .name
            .clone()
            .ok_or_else(|| ApiError::InvalidParameterValue("Name is required".into()))?;
        check_alias_name(&name)?;
        let version = req
            .function_version
            .clone()
            .ok_or_else(|| ApiError::InvalidParameterValue("FunctionVersion is required".into()))?;
        check_version_string(&version)?;
        if let Some(d) = &req.description {
            validate::description(d)?;
        }
        let mut tx = self.meta.begin()?;
        // A missing function is named with the version asked for (recorded:
        // test_notfound_and_invalid_routingconfigs[routing_config_exc_fn_doesnotexist]).
        if self.load_function(&mut *tx, fref).is_err() {
            return Err(ApiError::function_not_found(
                &self.resources().qualified_arn(&fref.name, &version),
            )
            .into());
        }
        self.require_version(&mut *tx, fref, &version)?;
        self.check_routing(&mut *tx, fref, &version, &req.routing_config)?;
        if load_alias(&mut *tx, &fref.name, &name)?.is_some() {
            return Err(ApiError::ResourceConflict(format!(
                "Alias already exists: {}",
                self.alias_arn(&fref.name, &name)
            ))
            .into());
        }
        let alias = AliasConfiguration {
            alias_arn: self.alias_arn(&fref.name, &name),
            name: name.clone(),
            function_version: version,
            description: req.description.unwrap_or_default(),
            routing_config: normalise_routing(req.routing_config),
            revision_id: records::new_revision(),
        };
        save(&mut *tx, &aliases_ns(&fref.name), &name, &alias)?;
        self.commit(tx)?;
        Ok(alias)
    }

    fn alias_not_found(&self, function: &str, alias: &str) -> ApiError {
        ApiError::ResourceNotFound(format!(
            "Cannot find alias arn: {}",
            self.alias_arn(function, alias)
        ))
    }

    /// GetAlias.
    pub fn get_alias(&self, fref: &FunctionRef, name: &str) -> Result<AliasConfiguration> {
        self.require_unqualified(fref)?;
        check_alias_name(name)?;
        let mut tx = self.meta.begin()?;
        self.load_function(&mut *tx, fref)?;
        load_alias(&mut *tx, &fref.name, name)?
            .ok_or_else(|| self.alias_not_found(&fref.name, name).into())
    }

    /// UpdateAlias.
    pub fn update_alias(
        &self,
        fref: &FunctionRef,
        name: &str,
        req: UpdateAliasRequest,
    ) -> Result<AliasConfiguration> {
        self.require_unqualified(fref)?;
        check_alias_name(name)?;
        if let Some(v) = &req.function_version {
            check_version_string(v)?;
        }
        if let Some(d) = &req.description {
            validate::description(d)?;
        }
        let mut tx = self.meta.begin()?;
        self.load_function(&mut *tx, fref)?;
        // UpdateAlias words it differently from GetAlias/DeleteAlias.
        let mut alias = load_alias(&mut *tx, &fref.name, name)?.ok_or_else(|| {
            ApiError::ResourceNotFound(format!(
                "Alias not found: {}",
                self.alias_arn(&fref.name, name)
            ))
        })?;
        check_revision(req.revision_id.as_deref(), &alias.revision_id)?;
        if let Some(v) = req.function_version {
            self.require_version(&mut *tx, fref, &v)?;
            alias.function_version = v;
        }
        if let Some(d) = req.description {
            alias.description = d;
        }
        if req.routing_config.is_some() {
            alias.routing_config = normalise_routing(req.routing_config);
        }
        self.check_routing(
            &mut *tx,
            fref,
            &alias.function_version,
            &alias.routing_config,
        )?;
        alias.revision_id = records::new_revision();
        save(&mut *tx, &aliases_ns(&fref.name), name, &alias)?;
        self.commit(tx)?;
        Ok(alias)
    }

    /// DeleteAlias. Deleting an alias that does not exist succeeds, as on AWS.
    pub fn delete_alias(&self, fref: &FunctionRef, name: &str) -> Result<()> {
        self.require_unqualified(fref)?;
        check_alias_name(name)?;
        let mut tx = self.meta.begin()?;
        self.load_function(&mut *tx, fref)?;
        tx.delete(&aliases_ns(&fref.name), name)?;
        tx.delete(&records::event_config_ns(&fref.name), name)?;
        tx.delete(&records::policy_ns(&fref.name), name)?;
        self.delete_urls_in(&mut *tx, &fref.name, Some(name))?;
        tx.delete(&crate::records::provisioned_ns(&fref.name), name)?;
        self.commit(tx)?;
        Ok(())
    }

    /// ListAliases, optionally only those routing to `function_version`.
    pub fn list_aliases(
        &self,
        fref: &FunctionRef,
        function_version: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<AliasList> {
        self.require_unqualified(fref)?;
        let limit = page_size(max_items)?;
        let mut tx = self.meta.begin()?;
        self.load_function(&mut *tx, fref)?;
        let ns = aliases_ns(&fref.name);
        let mut out = Vec::new();
        let mut pages = Pages::new(&ns).after(marker).size(200);
        let mut next_marker = None;
        'scan: while let Some(page) = pages.next_page(&mut *tx)? {
            for (k, bytes) in page {
                let a: AliasConfiguration = records::decode(&ns, &k, &bytes)?;
                let routes_to = |v: &str| {
                    a.function_version == v
                        || a.routing_config
                            .as_ref()
                            .and_then(|r| r.additional_version_weights.as_ref())
                            .is_some_and(|w| w.contains_key(v))
                };
                if function_version.is_none_or(routes_to) {
                    if out.len() == limit {
                        next_marker = out.last().map(|a: &AliasConfiguration| a.name.clone());
                        break 'scan;
                    }
                    out.push(a);
                }
            }
        }
        Ok(AliasList {
            aliases: out,
            next_marker,
        })
    }

    /// Names of the aliases that route any traffic to version `n`.
    pub(crate) fn aliases_using(
        &self,
        tx: &mut dyn Transaction,
        function: &str,
        n: u64,
    ) -> Result<Vec<String>> {
        let ns = aliases_ns(function);
        let v = n.to_string();
        let mut users = Vec::new();
        let mut pages = Pages::new(&ns).size(200);
        while let Some(page) = pages.next_page(tx)? {
            for (k, bytes) in page {
                let a: AliasConfiguration = records::decode(&ns, &k, &bytes)?;
                let extra = a
                    .routing_config
                    .as_ref()
                    .and_then(|r| r.additional_version_weights.as_ref())
                    .is_some_and(|w| w.contains_key(&v));
                if a.function_version == v || extra {
                    users.push(a.name);
                }
            }
        }
        Ok(users)
    }
}

/// An empty weights map is stored as no routing at all (AWS echoes
/// `RoutingConfig` only when a weight is set).
fn normalise_routing(r: Option<AliasRoutingConfiguration>) -> Option<AliasRoutingConfiguration> {
    r.filter(|r| {
        r.additional_version_weights
            .as_ref()
            .is_some_and(|w| !w.is_empty())
    })
}
