//! Functions and their `$LATEST`: create, read, list, update, delete.

use crate::code::IncomingCode;
use crate::records::{
    self, CONCURRENCY, FUNCTIONS, FunctionRecord, ResolvedFunction, VersionRecord, aliases_ns,
    load, save, version_key, versions_ns,
};
use crate::{ControlPlane, Result};
use base64::Engine;
use flint_store::{Pages, Transaction};
use flint_types::model::{
    Concurrency, ConfigFields, CreateFunctionRequest, EnvironmentResponse, EphemeralStorage,
    FunctionCodeLocation, FunctionConfiguration, GetFunctionResponse, LoggingConfig,
    RuntimeVersionConfig, SnapStartResponse, TracingConfig, UpdateFunctionCodeRequest,
    UpdateFunctionConfigurationRequest, VpcConfigResponse,
};
use flint_types::{ApiError, FunctionRef, Qualifier, ident, timefmt, validate};
use sha2::Digest;

/// Lambda returns at most 50 functions per ListFunctions page.
pub const LIST_PAGE_MAX: usize = 50;

/// One page of ListFunctions / ListVersionsByFunction.
#[derive(Debug, Clone)]
pub struct FunctionList {
    pub functions: Vec<FunctionConfiguration>,
    pub next_marker: Option<String>,
}

pub type VersionList = FunctionList;

const CREATING_REASON: &str = "The function is being created.";

/// What a response shows right after a create: flint finishes the work
/// before answering, but clients (and SDK waiters) expect Lambda's
/// `Pending` → `Active` sequence, so the create response reports `Pending`
/// and every later read reports the settled `Active`.
pub(crate) fn as_just_created(mut c: FunctionConfiguration) -> FunctionConfiguration {
    c.state = Some("Pending".into());
    c.state_reason = Some(CREATING_REASON.into());
    c.state_reason_code = Some("Creating".into());
    c.last_update_status = None;
    c.last_update_status_reason = None;
    c.last_update_status_reason_code = None;
    c
}

/// What an Update* response shows: `LastUpdateStatus: InProgress`, as on AWS.
fn as_just_updated(mut c: FunctionConfiguration) -> FunctionConfiguration {
    c.last_update_status = Some("InProgress".into());
    c.last_update_status_reason = Some(CREATING_REASON.into());
    c.last_update_status_reason_code = Some("Creating".into());
    c
}

/// List entries omit the state fields and the runtime version (as AWS does).
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

fn settled(c: &mut FunctionConfiguration) {
    c.state = Some("Active".into());
    c.state_reason = None;
    c.state_reason_code = None;
    c.last_update_status = Some("Successful".into());
    c.last_update_status_reason = None;
    c.last_update_status_reason_code = None;
}

fn runtime_version_arn(region: &str, runtime: &str) -> String {
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
    pub(crate) fn function_arn(&self, name: &str) -> String {
        self.resources().function_arn(name)
    }

    pub(crate) fn not_found(&self, fref: &FunctionRef) -> ApiError {
        ApiError::function_not_found(&fref.arn(self.resources()))
    }

    pub(crate) fn load_function(
        &self,
        tx: &mut dyn Transaction,
        fref: &FunctionRef,
    ) -> Result<FunctionRecord> {
        load::<FunctionRecord>(tx, FUNCTIONS, &fref.name)?
            .ok_or_else(|| ApiError::function_not_found(&self.function_arn(&fref.name)).into())
    }

    fn apply_config(&self, c: &mut FunctionConfiguration, f: &ConfigFields) {
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

    /// CreateFunction.
    pub fn create_function(&self, req: CreateFunctionRequest) -> Result<FunctionConfiguration> {
        let name = req
            .function_name
            .clone()
            .ok_or_else(|| ApiError::InvalidParameterValue("FunctionName is required".into()))?;
        // CreateFunction accepts a name or an ARN, but never a qualifier.
        let fref = FunctionRef::parse(&name, 140, self.resources())?;
        if fref.qualifier.is_some() {
            return Err(ApiError::pattern(
                &name,
                "functionName",
                "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)",
            )
            .into());
        }
        let role = req
            .config
            .role
            .clone()
            .ok_or_else(|| ApiError::InvalidParameterValue("Role is required".into()))?;
        let code = req
            .code
            .clone()
            .ok_or_else(|| ApiError::InvalidParameterValue("Code is required".into()))?;
        validate::config_fields(&req.config)?;
        if let Some(a) = &req.architectures {
            validate::architectures(a)?;
        }
        if let Some(t) = &req.tags {
            validate::tags(t)?;
        }
        let package_type = req.package_type.clone().unwrap_or_else(|| "Zip".into());
        match package_type.as_str() {
            "Zip" => {}
            "Image" => {
                return Err(ApiError::InvalidParameterValue(
                    "flint does not run container image functions yet; deploy a zip package (PackageType Zip)".into(),
                )
                .into());
            }
            other => {
                return Err(ApiError::enum_value(other, "packageType", &["Zip", "Image"]).into());
            }
        }
        if code.image_uri.is_some() {
            return Err(ApiError::InvalidParameterValue(
                "Please don't provide ImageUri when creating a function with packageType Zip."
                    .into(),
            )
            .into());
        }
        if req.config.runtime.is_none() || req.config.handler.is_none() {
            return Err(ApiError::InvalidParameterValue(
                "Runtime and Handler are mandatory parameters for functions created with deployment packages.".into(),
            )
            .into());
        }
        let zip = inline_zip(&code.zip_file, &code.s3_bucket)?;
        let incoming = self.intake_zip(zip)?;

        let now = timefmt::now();
        let mut config = FunctionConfiguration {
            function_name: fref.name.clone(),
            function_arn: self.function_arn(&fref.name),
            runtime: None,
            role,
            handler: None,
            code_size: incoming.inspected.code_size,
            description: String::new(),
            timeout: 3,
            memory_size: 128,
            last_modified: now,
            code_sha256: incoming.inspected.code_sha256.clone(),
            version: "$LATEST".into(),
            vpc_config: None,
            dead_letter_config: None,
            environment: None,
            kms_key_arn: None,
            tracing_config: TracingConfig {
                mode: Some("PassThrough".into()),
            },
            revision_id: records::new_revision(),
            layers: None,
            state: None,
            state_reason: None,
            state_reason_code: None,
            last_update_status: None,
            last_update_status_reason: None,
            last_update_status_reason_code: None,
            file_system_configs: None,
            package_type,
            architectures: req
                .architectures
                .clone()
                .unwrap_or_else(|| vec!["x86_64".into()]),
            ephemeral_storage: EphemeralStorage { size: 512 },
            snap_start: SnapStartResponse {
                apply_on: "None".into(),
                optimization_status: "Off".into(),
            },
            runtime_version_config: None,
            logging_config: LoggingConfig {
                log_format: Some("Text".into()),
                log_group: Some(format!("/aws/lambda/{}", fref.name)),
                ..Default::default()
            },
        };
        self.apply_config(&mut config, &req.config);
        if req.config.layers.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(ApiError::InvalidParameterValue(
                "flint does not support layers yet".into(),
            )
            .into());
        }
        settled(&mut config);

        let mut tx = self.meta.begin()?;
        if tx.get(FUNCTIONS, &fref.name)?.is_some() {
            return Err(ApiError::ResourceConflict(format!(
                "Function already exist: {}",
                fref.name
            ))
            .into());
        }
        let blob = self.add_code_ref(&mut *tx, &incoming)?;
        let mut record = FunctionRecord {
            latest: config,
            code_blob: blob,
            last_version: 0,
            last_published_fingerprint: None,
            tags: req.tags.clone().unwrap_or_default(),
        };
        let shown = if req.publish {
            self.publish_in(&mut *tx, &mut record, None)?
        } else {
            record.latest.clone()
        };
        save(&mut *tx, FUNCTIONS, &fref.name, &record)?;
        self.commit(tx)?;
        Ok(as_just_created(shown))
    }

    /// Resolves a reference (any qualifier) to what would run.
    pub fn resolve(&self, fref: &FunctionRef) -> Result<ResolvedFunction> {
        let mut tx = self.meta.begin()?;
        self.resolve_in(&mut *tx, fref)
    }

    pub(crate) fn resolve_in(
        &self,
        tx: &mut dyn Transaction,
        fref: &FunctionRef,
    ) -> Result<ResolvedFunction> {
        let rec = self.load_function(tx, fref)?;
        let invoked_arn = fref.arn(self.resources());
        let (mut config, code_blob) = match &fref.qualifier {
            None => (rec.latest, rec.code_blob),
            Some(Qualifier::Latest) => {
                let mut c = rec.latest;
                c.function_arn = invoked_arn.clone();
                (c, rec.code_blob)
            }
            Some(Qualifier::Version(n)) => {
                let v = self.load_version(tx, fref, *n)?;
                (v.config, v.code_blob)
            }
            Some(Qualifier::Alias(a)) => {
                let alias =
                    records::load_alias(tx, &fref.name, a)?.ok_or_else(|| self.not_found(fref))?;
                match Qualifier::parse(&alias.function_version)? {
                    Qualifier::Version(n) => {
                        let v = self.load_version(tx, fref, n)?;
                        (v.config, v.code_blob)
                    }
                    _ => (rec.latest, rec.code_blob),
                }
            }
        };
        if let Some(Qualifier::Alias(_)) = &fref.qualifier {
            config.function_arn = invoked_arn.clone();
        }
        Ok(ResolvedFunction {
            config,
            code_blob,
            invoked_arn,
        })
    }

    /// [`ControlPlane::resolve_invocation`] when the answer is in memory
    /// (nothing changed since the last lookup of `fref`), else `None`. Never
    /// touches the store, so async callers may run it in place instead of on
    /// the blocking pool (a thread hand-off that costs more than the lookup).
    pub fn resolve_cached(&self, fref: &FunctionRef, roll: f64) -> Option<ResolvedFunction> {
        use std::sync::atomic::Ordering;
        let generation = self.generation.load(Ordering::Acquire);
        match self.resolutions.read().get(fref) {
            Some((g, cached)) if *g == generation => Some(cached.pick(roll)),
            _ => None,
        }
    }

    /// Resolves what one invocation runs. Unlike [`ControlPlane::resolve`],
    /// an alias with a routing configuration picks its primary or additional
    /// version by `roll` (uniform in [0, 1)), as Lambda routes traffic.
    /// Served from memory while nothing has changed since the last lookup.
    pub fn resolve_invocation(&self, fref: &FunctionRef, roll: f64) -> Result<ResolvedFunction> {
        use std::sync::atomic::Ordering;
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(hit) = self.resolve_cached(fref, roll) {
            return Ok(hit);
        }
        let resolution = self.resolution(fref)?;
        let picked = resolution.pick(roll);
        let mut cache = self.resolutions.write();
        // A mutation may have committed while we read: only cache what was
        // read under a generation that is still current.
        if self.generation.load(Ordering::Acquire) == generation {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(fref.clone(), (generation, resolution));
        }
        Ok(picked)
    }

    fn resolution(&self, fref: &FunctionRef) -> Result<records::Resolution> {
        let mut tx = self.meta.begin()?;
        let Some(Qualifier::Alias(a)) = &fref.qualifier else {
            return Ok(records::Resolution {
                primary: self.resolve_in(&mut *tx, fref)?,
                additional: None,
            });
        };
        self.load_function(&mut *tx, fref)?;
        let alias =
            records::load_alias(&mut *tx, &fref.name, a)?.ok_or_else(|| self.not_found(fref))?;
        let invoked_arn = fref.arn(self.resources());
        let mut version = |v: &str| -> Result<ResolvedFunction> {
            let mut r = self.resolve_in(
                &mut *tx,
                &FunctionRef {
                    name: fref.name.clone(),
                    qualifier: Some(Qualifier::parse(v)?),
                },
            )?;
            r.invoked_arn = invoked_arn.clone();
            Ok(r)
        };
        let primary = version(&alias.function_version)?;
        let extra = alias
            .routing_config
            .as_ref()
            .and_then(|r| r.additional_version_weights.as_ref())
            .and_then(|w| w.iter().next().map(|(v, w)| (v.clone(), *w)));
        let additional = match extra {
            Some((v, weight)) => Some((weight, Box::new(version(&v)?))),
            None => None,
        };
        Ok(records::Resolution {
            primary,
            additional,
        })
    }

    pub(crate) fn load_version(
        &self,
        tx: &mut dyn Transaction,
        fref: &FunctionRef,
        n: u64,
    ) -> Result<VersionRecord> {
        load::<VersionRecord>(tx, &versions_ns(&fref.name), &version_key(n))?.ok_or_else(|| {
            ApiError::function_not_found(
                &self.resources().qualified_arn(&fref.name, &n.to_string()),
            )
            .into()
        })
    }

    /// GetFunctionConfiguration.
    pub fn get_function_configuration(&self, fref: &FunctionRef) -> Result<FunctionConfiguration> {
        Ok(self.resolve(fref)?.config)
    }

    /// GetFunction: configuration, a download URL for the code, tags and
    /// reserved concurrency.
    pub fn get_function(&self, fref: &FunctionRef, now_unix: i64) -> Result<GetFunctionResponse> {
        let mut tx = self.meta.begin()?;
        let resolved = self.resolve_in(&mut *tx, fref)?;
        let rec = self.load_function(&mut *tx, fref)?;
        let reserved: Option<i64> = load(&mut *tx, CONCURRENCY, &fref.name)?;
        Ok(GetFunctionResponse {
            configuration: resolved.config,
            code: FunctionCodeLocation {
                repository_type: "S3".into(),
                location: self.signer.url(&resolved.code_blob, now_unix),
            },
            // Tags belong to the function, and AWS shows them for the
            // unqualified function only.
            tags: fref.qualifier.is_none().then_some(rec.tags),
            concurrency: reserved.map(|n| Concurrency {
                reserved_concurrent_executions: n,
            }),
        })
    }

    /// ListFunctions. With `all_versions`, each function's `$LATEST` is
    /// followed by its published versions.
    pub fn list_functions(
        &self,
        marker: Option<&str>,
        max_items: Option<i64>,
        all_versions: bool,
    ) -> Result<FunctionList> {
        let limit = page_size(max_items)?.min(LIST_PAGE_MAX);
        let (start_name, start_version) = match marker {
            None => (None, None),
            Some(m) => {
                let (n, v) = decode_marker(m)?;
                (Some(n), v)
            }
        };
        let mut tx = self.meta.begin()?;
        let mut out = Vec::with_capacity(limit);
        let mut last_pos: Option<(String, Option<String>)> = None;
        // Versions of the function the marker stopped in the middle of.
        // A marker at a function's $LATEST ("" version) continues with all
        // of its versions.
        if let Some(name) = &start_name
            && all_versions
        {
            let after = start_version.as_deref().unwrap_or("");
            for (k, bytes) in tx.scan(&versions_ns(name), Some(after), limit)? {
                let v: VersionRecord = records::decode(&versions_ns(name), &k, &bytes)?;
                out.push(as_list_entry(v.config));
                last_pos = Some((name.clone(), Some(k)));
            }
        }
        let mut functions = Pages::new(FUNCTIONS)
            .after(start_name.as_deref())
            .size(limit);
        'outer: while out.len() < limit {
            let Some(page) = functions.next_page(&mut *tx)? else {
                break;
            };
            for (name, bytes) in page {
                let rec: FunctionRecord = records::decode(FUNCTIONS, &name, &bytes)?;
                if out.len() >= limit {
                    break 'outer;
                }
                out.push(as_list_entry(rec.latest));
                last_pos = Some((name.clone(), None));
                if all_versions {
                    // The versions that still fit on this page: one read, since a page
                    // shorter than the room left means there are no more.
                    let room = limit - out.len();
                    let vns = versions_ns(&name);
                    for (k, vbytes) in tx.scan(&vns, None, room)? {
                        let v: VersionRecord = records::decode(&vns, &k, &vbytes)?;
                        out.push(as_list_entry(v.config));
                        last_pos = Some((name.clone(), Some(k)));
                    }
                    if out.len() >= limit {
                        break 'outer;
                    }
                }
            }
        }
        let next_marker = if out.len() >= limit {
            last_pos
                .filter(|(name, version)| {
                    self.has_more(&mut *tx, name, version.as_deref(), all_versions)
                        .unwrap_or(true)
                })
                .map(|(n, v)| encode_marker(&n, v.as_deref()))
        } else {
            None
        };
        Ok(FunctionList {
            functions: out,
            next_marker,
        })
    }

    fn has_more(
        &self,
        tx: &mut dyn Transaction,
        name: &str,
        version: Option<&str>,
        all_versions: bool,
    ) -> Result<bool> {
        if all_versions
            && !tx
                .scan(&versions_ns(name), Some(version.unwrap_or("")), 1)?
                .is_empty()
        {
            return Ok(true);
        }
        Ok(!tx.scan(FUNCTIONS, Some(name), 1)?.is_empty())
    }

    /// UpdateFunctionConfiguration.
    pub fn update_function_configuration(
        &self,
        fref: &FunctionRef,
        req: UpdateFunctionConfigurationRequest,
    ) -> Result<FunctionConfiguration> {
        self.require_unqualified(fref)?;
        validate::config_fields(&req.config)?;
        if req.config.layers.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(ApiError::InvalidParameterValue(
                "flint does not support layers yet".into(),
            )
            .into());
        }
        let mut tx = self.meta.begin()?;
        let mut rec = self.load_function(&mut *tx, fref)?;
        check_revision(req.revision_id.as_deref(), &rec.latest.revision_id)?;
        self.apply_config(&mut rec.latest, &req.config);
        rec.latest.last_modified = timefmt::now();
        rec.latest.revision_id = records::new_revision();
        save(&mut *tx, FUNCTIONS, &fref.name, &rec)?;
        self.commit(tx)?;
        Ok(as_just_updated(rec.latest))
    }

    /// UpdateFunctionCode (with `Publish` and `DryRun`).
    pub fn update_function_code(
        &self,
        fref: &FunctionRef,
        req: UpdateFunctionCodeRequest,
    ) -> Result<FunctionConfiguration> {
        self.require_unqualified(fref)?;
        if let Some(a) = &req.architectures {
            validate::architectures(a)?;
        }
        if req.image_uri.is_some() {
            return Err(ApiError::InvalidParameterValue(
                "Please don't provide ImageUri when updating a function with packageType Zip."
                    .into(),
            )
            .into());
        }
        let zip = inline_zip(&req.zip_file, &req.s3_bucket)?;
        let incoming: IncomingCode = self.intake_zip(zip)?;
        let mut tx = self.meta.begin()?;
        let mut rec = self.load_function(&mut *tx, fref)?;
        check_revision(req.revision_id.as_deref(), &rec.latest.revision_id)?;
        let mut next = rec.latest.clone();
        next.code_sha256 = incoming.inspected.code_sha256.clone();
        next.code_size = incoming.inspected.code_size;
        if let Some(a) = &req.architectures {
            next.architectures = a.clone();
        }
        next.last_modified = timefmt::now();
        next.revision_id = records::new_revision();
        if req.dry_run {
            // Validated and measured, nothing stored.
            return Ok(as_just_updated(next));
        }
        let blob = self.add_code_ref(&mut *tx, &incoming)?;
        self.drop_blob_ref(&mut *tx, &rec.code_blob)?;
        rec.code_blob = blob;
        rec.latest = next;
        let shown = if req.publish {
            self.publish_in(&mut *tx, &mut rec, None)?
        } else {
            rec.latest.clone()
        };
        save(&mut *tx, FUNCTIONS, &fref.name, &rec)?;
        self.commit(tx)?;
        self.collect_garbage()?;
        Ok(as_just_updated(shown))
    }

    /// DeleteFunction: the whole function (versions, aliases, settings), or
    /// one published version when qualified.
    pub fn delete_function(&self, fref: &FunctionRef) -> Result<()> {
        let mut tx = self.meta.begin()?;
        let rec = self.load_function(&mut *tx, fref)?;
        match &fref.qualifier {
            None => {
                let vns = versions_ns(&fref.name);
                let mut pages = Pages::new(&vns);
                while let Some(page) = pages.next_page(&mut *tx)? {
                    for (k, bytes) in page {
                        let v: VersionRecord = records::decode(&vns, &k, &bytes)?;
                        self.drop_blob_ref(&mut *tx, &v.code_blob)?;
                    }
                }
                tx.delete_namespace(&vns)?;
                tx.delete_namespace(&aliases_ns(&fref.name))?;
                tx.delete_namespace(&records::event_config_ns(&fref.name))?;
                tx.delete_namespace(&records::policy_ns(&fref.name))?;
                self.delete_urls_in(&mut *tx, &fref.name, None)?;
                tx.delete(CONCURRENCY, &fref.name)?;
                tx.delete_namespace(&records::provisioned_ns(&fref.name))?;
                self.drop_blob_ref(&mut *tx, &rec.code_blob)?;
                tx.delete(FUNCTIONS, &fref.name)?;
            }
            Some(Qualifier::Latest) => {
                return Err(ApiError::InvalidParameterValue(
                    "$LATEST version cannot be deleted without deleting the function.".into(),
                )
                .into());
            }
            Some(Qualifier::Alias(_)) => {
                return Err(ApiError::InvalidParameterValue(
                    "Deletion of aliases is not supported by DeleteFunction; use DeleteAlias."
                        .into(),
                )
                .into());
            }
            Some(Qualifier::Version(n)) => {
                let v = self.load_version(&mut *tx, fref, *n)?;
                let users = self.aliases_using(&mut *tx, &fref.name, *n)?;
                if !users.is_empty() {
                    return Err(ApiError::ResourceConflict(format!(
                        "Unable to delete version because the following aliases reference it: [{}]",
                        users.join(", ")
                    ))
                    .into());
                }
                tx.delete(&versions_ns(&fref.name), &version_key(*n))?;
                tx.delete(&records::event_config_ns(&fref.name), &n.to_string())?;
                tx.delete(&records::policy_ns(&fref.name), &n.to_string())?;
                tx.delete(&records::provisioned_ns(&fref.name), &n.to_string())?;
                self.drop_blob_ref(&mut *tx, &v.code_blob)?;
            }
        }
        self.commit(tx)?;
        self.collect_garbage()?;
        Ok(())
    }

    /// Operations that act on `$LATEST` only refuse a qualifier.
    pub(crate) fn require_unqualified(&self, fref: &FunctionRef) -> Result<()> {
        if let Some(q) = &fref.qualifier {
            return Err(ApiError::pattern(
                format!("{}:{q}", fref.name),
                "functionName",
                ident::FUNCTION_NAME_PATTERN,
            )
            .into());
        }
        Ok(())
    }
}

/// The inline `ZipFile` of a request: flint has no S3 to fetch code from.
fn inline_zip<'a>(zip_file: &'a Option<String>, s3_bucket: &Option<String>) -> Result<&'a str> {
    match (zip_file, s3_bucket) {
        (Some(z), _) => Ok(z),
        (None, Some(_)) => Err(ApiError::InvalidParameterValue(
            "flint has no S3: upload the package inline with ZipFile".into(),
        )
        .into()),
        (None, None) => Err(ApiError::InvalidParameterValue(
            "Please provide a source for function code.".into(),
        )
        .into()),
    }
}

pub(crate) fn check_revision(given: Option<&str>, current: &str) -> Result<()> {
    match given {
        Some(g) if g != current => Err(ApiError::revision_mismatch().into()),
        _ => Ok(()),
    }
}

/// Validates `MaxItems` (1–10000) and turns it into a page size.
pub(crate) fn page_size(max_items: Option<i64>) -> Result<usize> {
    match max_items {
        None => Ok(usize::MAX),
        Some(n) if n < 1 => Err(ApiError::too_small(n, "maxItems", 1).into()),
        Some(n) if n > 10_000 => Err(ApiError::too_large(n, "maxItems", 10_000).into()),
        Some(n) => Ok(n as usize),
    }
}

/// Markers are opaque to clients; flint's encode the position reached.
pub(crate) fn encode_marker(name: &str, version: Option<&str>) -> String {
    let raw = format!("{name}\n{}", version.unwrap_or(""));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub(crate) fn decode_marker(marker: &str) -> Result<(String, Option<String>)> {
    let invalid = || ApiError::InvalidParameterValue(format!("Invalid marker: {marker}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(marker)
        .map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let (name, version) = raw.split_once('\n').ok_or_else(invalid)?;
    Ok((
        name.to_string(),
        Some(version.to_string()).filter(|v| !v.is_empty()),
    ))
}
