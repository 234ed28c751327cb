//! Function URL configurations: one per function (`$LATEST`) or alias, each with a stable
//! url id that routes HTTP requests on the URL listener to it.

use crate::records::{self, load, save};
use crate::{ControlPlane, Result};
use flint_store::{Pages, Transaction};
use flint_types::function_url::{self as rules, Cors, FunctionUrlConfig, FunctionUrlConfigRequest};
use flint_types::{ApiError, FunctionRef, Qualifier};
use serde::{Deserialize, Serialize};

/// What is stored for one URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UrlRecord {
    /// 32 lowercase hex characters; never changes.
    pub url_id: String,
    pub auth_type: String,
    pub cors: Option<Cors>,
    pub invoke_mode: String,
    pub creation_time: String,
    pub last_modified_time: String,
}

/// Where a url id points (the `urlid` index).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UrlTarget {
    function: String,
    /// The alias, or `None` for the unqualified function.
    qualifier: Option<String>,
    /// Set when the alias was deleted: the URL it had, kept so that its address answers as
    /// Lambda's does then (403 Forbidden, not the unknown URL's `{"Message":null}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retired: Option<UrlRecord>,
}

/// A URL found by its id: what to invoke and how.
#[derive(Debug, Clone)]
pub struct UrlRoute {
    pub function: FunctionRef,
    pub record: UrlRecord,
    /// The URL of an alias that was deleted since: it invokes nothing and refuses everyone.
    pub retired: bool,
}

/// A URL and the resource-policy statements of what it invokes: all a request to it needs
/// from the store before the invocation itself.
#[derive(Debug, Clone)]
pub struct UrlAccess {
    pub route: UrlRoute,
    pub statements: Vec<serde_json::Value>,
}

/// One page of ListFunctionUrlConfigs.
#[derive(Debug, Clone)]
pub struct UrlConfigList {
    pub configs: Vec<FunctionUrlConfig>,
    pub next_marker: Option<String>,
}

fn url_key(fref: &FunctionRef) -> String {
    fref.qualifier
        .as_ref()
        .map(Qualifier::to_string)
        .unwrap_or_else(|| "$function".into())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl ControlPlane {
    /// The URL's address, from the server's URL settings.
    pub fn function_url(&self, url_id: &str) -> String {
        let s = &self.settings.function_urls;
        format!(
            "http://{url_id}.lambda-url.{}.{}:{}/",
            self.resources().region,
            s.base_domain,
            s.port
        )
    }

    fn render_url(
        &self,
        fref: &FunctionRef,
        r: &UrlRecord,
        with_modified: bool,
        with_invoke_mode: bool,
    ) -> FunctionUrlConfig {
        FunctionUrlConfig {
            function_url: self.function_url(&r.url_id),
            function_arn: match &fref.qualifier {
                Some(q) => self.resources().qualified_arn(&fref.name, &q.to_string()),
                None => self.resources().function_arn(&fref.name),
            },
            auth_type: r.auth_type.clone(),
            cors: r.cors.clone(),
            creation_time: r.creation_time.clone(),
            last_modified_time: with_modified.then(|| r.last_modified_time.clone()),
            invoke_mode: with_invoke_mode.then(|| r.invoke_mode.clone()),
        }
    }

    fn no_url(&self, _fref: &FunctionRef) -> ApiError {
        ApiError::ResourceNotFound(String::from("The resource you requested does not exist."))
    }

    /// A URL may belong to the function or to one of its aliases (not `$LATEST` by name, not
    /// a version); the function, and the alias, must exist.
    fn url_target(&self, tx: &mut dyn Transaction, fref: &FunctionRef) -> Result<()> {
        match &fref.qualifier {
            None => {}
            Some(Qualifier::Alias(a)) => rules::check_qualifier(a)?,
            Some(q) => rules::check_qualifier(&q.to_string())?,
        }
        self.resolve_in(tx, fref)?;
        Ok(())
    }

    /// CreateFunctionUrlConfig.
    pub fn create_function_url(
        &self,
        fref: &FunctionRef,
        req: FunctionUrlConfigRequest,
    ) -> Result<FunctionUrlConfig> {
        rules::check_request(&req, true)?;
        let req_invoke_mode_given = req.invoke_mode.is_some();
        let mut tx = self.meta.begin()?;
        self.url_target(&mut *tx, fref)?;
        let ns = records::url_ns(&fref.name);
        let key = url_key(fref);
        if load::<UrlRecord>(&mut *tx, &ns, &key)?.is_some() {
            return Err(ApiError::ResourceConflict(format!(
                "Failed to create function url config for [functionArn = {}]. Error message:  FunctionUrlConfig exists for this Lambda function",
                fref.arn(self.resources())
            ))
            .into());
        }
        let now = now_rfc3339();
        let record = UrlRecord {
            url_id: uuid::Uuid::new_v4().simple().to_string(),
            auth_type: req.auth_type.unwrap_or_default(),
            cors: req.cors,
            invoke_mode: req.invoke_mode.unwrap_or_else(|| "BUFFERED".into()),
            creation_time: now.clone(),
            last_modified_time: now,
        };
        save(&mut *tx, &ns, &key, &record)?;
        let target = UrlTarget {
            function: fref.name.clone(),
            qualifier: fref.qualifier.as_ref().map(Qualifier::to_string),
            retired: None,
        };
        save(&mut *tx, records::URL_IDS, &record.url_id, &target)?;
        self.commit(tx)?;
        // AWS's answers show InvokeMode only when the request set it.
        Ok(self.render_url(fref, &record, false, req_invoke_mode_given))
    }

    /// UpdateFunctionUrlConfig: the fields given replace the stored ones.
    pub fn update_function_url(
        &self,
        fref: &FunctionRef,
        req: FunctionUrlConfigRequest,
    ) -> Result<FunctionUrlConfig> {
        rules::check_request(&req, false)?;
        let mut tx = self.meta.begin()?;
        self.url_target(&mut *tx, fref)?;
        let ns = records::url_ns(&fref.name);
        let key = url_key(fref);
        let mut record: UrlRecord = load(&mut *tx, &ns, &key)?.ok_or_else(|| self.no_url(fref))?;
        if let Some(a) = req.auth_type {
            record.auth_type = a;
        }
        if let Some(c) = req.cors {
            record.cors = Some(c);
        }
        let invoke_mode_given = req.invoke_mode.is_some();
        if let Some(m) = req.invoke_mode {
            record.invoke_mode = m;
        }
        record.last_modified_time = now_rfc3339();
        save(&mut *tx, &ns, &key, &record)?;
        self.commit(tx)?;
        Ok(self.render_url(fref, &record, true, invoke_mode_given))
    }

    /// GetFunctionUrlConfig.
    pub fn get_function_url(&self, fref: &FunctionRef) -> Result<FunctionUrlConfig> {
        let mut tx = self.meta.begin()?;
        // A missing function reads as a missing URL here, as on AWS.
        self.url_target(&mut *tx, fref).map_err(|e| match e {
            crate::ControlError::Api(ApiError::ResourceNotFound(_)) => self.no_url(fref).into(),
            other => other,
        })?;
        let record: UrlRecord = load(&mut *tx, &records::url_ns(&fref.name), &url_key(fref))?
            .ok_or_else(|| self.no_url(fref))?;
        Ok(self.render_url(fref, &record, true, true))
    }

    /// DeleteFunctionUrlConfig.
    pub fn delete_function_url(&self, fref: &FunctionRef) -> Result<()> {
        let mut tx = self.meta.begin()?;
        self.url_target(&mut *tx, fref)?;
        let ns = records::url_ns(&fref.name);
        let key = url_key(fref);
        let record: UrlRecord = load(&mut *tx, &ns, &key)?.ok_or_else(|| self.no_url(fref))?;
        tx.delete(&ns, &key)?;
        tx.delete(records::URL_IDS, &record.url_id)?;
        self.commit(tx)?;
        Ok(())
    }

    /// ListFunctionUrlConfigs: the function's and its aliases' URLs, 1–50 a page.
    pub fn list_function_urls(
        &self,
        fref: &FunctionRef,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<UrlConfigList> {
        let limit = records::config_page_size(max_items)?;
        self.require_unqualified(fref)?;
        let mut tx = self.meta.begin()?;
        self.load_function(&mut *tx, fref)?;
        let ns = records::url_ns(&fref.name);
        let page = tx.scan(&ns, marker, limit + 1)?;
        let mut configs = Vec::new();
        let mut next_marker = None;
        for (i, (k, bytes)) in page.iter().enumerate() {
            if i == limit {
                next_marker = Some(page[i - 1].0.clone());
                break;
            }
            let r: UrlRecord = records::decode(&ns, k, bytes)?;
            let owner = FunctionRef {
                name: fref.name.clone(),
                qualifier: if k == "$function" {
                    None
                } else {
                    Some(Qualifier::parse(k)?)
                },
            };
            configs.push(self.render_url(&owner, &r, true, true));
        }
        Ok(UrlConfigList {
            configs,
            next_marker,
        })
    }

    /// The URL with this id, if any (the URL listener's routing).
    pub fn route_function_url(&self, url_id: &str) -> Result<Option<UrlRoute>> {
        let mut tx = self.meta.begin()?;
        let Some(target): Option<UrlTarget> = load(&mut *tx, records::URL_IDS, url_id)? else {
            return Ok(None);
        };
        let function = FunctionRef {
            name: target.function.clone(),
            qualifier: target
                .qualifier
                .as_deref()
                .map(Qualifier::parse)
                .transpose()?,
        };
        if let Some(record) = target.retired {
            return Ok(Some(UrlRoute {
                function,
                record,
                retired: true,
            }));
        }
        let record: Option<UrlRecord> = load(
            &mut *tx,
            &records::url_ns(&target.function),
            &url_key(&function),
        )?;
        Ok(record.map(|record| UrlRoute {
            function,
            record,
            retired: false,
        }))
    }

    /// The URL with this id and its policy statements, from memory while nothing changed
    /// since they were last read (`None` when the id is unknown). Blocking on a miss.
    pub fn url_access(&self, url_id: &str) -> Result<Option<UrlAccess>> {
        use std::sync::atomic::Ordering;
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(hit) = self.url_access_cached(url_id) {
            return Ok(Some(hit));
        }
        let Some(route) = self.route_function_url(url_id)? else {
            return Ok(None);
        };
        let statements = if route.retired {
            Vec::new()
        } else {
            self.policy_statements(&route.function)?
        };
        let access = UrlAccess { route, statements };
        let mut cache = self.url_routes.write();
        // Only what was read under a generation that is still current is cached.
        if self.generation.load(Ordering::Acquire) == generation {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(url_id.to_string(), (generation, access.clone()));
        }
        Ok(Some(access))
    }

    /// [`ControlPlane::url_access`] when the answer is in memory, else `None`; never touches
    /// the store, so async callers run it in place.
    pub fn url_access_cached(&self, url_id: &str) -> Option<UrlAccess> {
        use std::sync::atomic::Ordering;
        let generation = self.generation.load(Ordering::Acquire);
        match self.url_routes.read().get(url_id) {
            Some((g, access)) if *g == generation => Some(access.clone()),
            _ => None,
        }
    }

    /// Removes the URLs of a function (all of them, or one alias's) inside `tx`. A deleted
    /// alias's URL id stays in the index, retired (see [`UrlRoute::retired`]); a deleted
    /// function's ids are removed.
    pub(crate) fn delete_urls_in(
        &self,
        tx: &mut dyn Transaction,
        function: &str,
        only_key: Option<&str>,
    ) -> Result<()> {
        let ns = records::url_ns(function);
        let mut pages = Pages::new(&ns);
        while let Some(page) = pages.next_page(tx)? {
            for (k, bytes) in page {
                if only_key.is_some_and(|only| only != k) {
                    continue;
                }
                let r: UrlRecord = records::decode(&ns, &k, &bytes)?;
                match only_key {
                    Some(alias) => {
                        let target = UrlTarget {
                            function: function.to_string(),
                            qualifier: Some(alias.to_string()),
                            retired: Some(r.clone()),
                        };
                        save(tx, records::URL_IDS, &r.url_id, &target)?;
                    }
                    None => {
                        tx.delete(records::URL_IDS, &r.url_id)?;
                    }
                }
                tx.delete(&ns, &k)?;
            }
        }
        Ok(())
    }
}
