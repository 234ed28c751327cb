//! Functions and their `$LATEST`: create, read, update, delete.

use crate::code::IncomingCode;
use crate::configuration::{as_just_created, as_just_updated, settled};
use crate::records::{
    self, CONCURRENCY, FUNCTIONS, FunctionRecord, VersionRecord, aliases_ns, load, save,
    version_key, versions_ns,
};
use crate::{ControlPlane, Result, layer_use};
use flint_store::{Pages, Transaction};
use flint_types::model::{
    Concurrency, CreateFunctionRequest, EphemeralStorage, FunctionCodeLocation,
    FunctionConfiguration, GetFunctionResponse, LoggingConfig, SnapStartResponse, TracingConfig,
    UpdateFunctionCodeRequest, UpdateFunctionConfigurationRequest,
};
use flint_types::{ApiError, FunctionRef, Qualifier, ident, timefmt, validate};

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

    /// The function of a read that names a qualifier: AWS's not-found message
    /// then carries it (`...:function:f:$LATEST`).
    pub(crate) fn load_function_as_named(
        &self,
        tx: &mut dyn Transaction,
        fref: &FunctionRef,
    ) -> Result<FunctionRecord> {
        load::<FunctionRecord>(tx, FUNCTIONS, &fref.name)?
            .ok_or_else(|| self.not_found(fref).into())
    }

    /// CreateFunction.
    pub fn create_function(&self, req: CreateFunctionRequest) -> Result<FunctionConfiguration> {
        let name = req
            .function_name
            .clone()
            .ok_or_else(|| ApiError::InvalidParameterValue("FunctionName is required".into()))?;
        // CreateFunction accepts a name or an ARN, but never a qualifier; AWS
        // quotes its own pattern (no `.`, no `$LATEST.PUBLISHED`) and refuses a
        // name over 64 characters as InvalidParameterValue.
        let bad = || ApiError::pattern(&name, "functionName", ident::CREATE_FUNCTION_NAME_PATTERN);
        // Over 140 characters and off the pattern are two errors in one
        // message (recorded: ...[function_name_too_long_and_invalid_region-create_function]).
        let too_long = (name.len() > 140).then(|| ApiError::too_long(&name, "functionName", 140));
        let parsed = FunctionRef::parse(&name, usize::MAX, self.resources()).map_err(|e| match e {
            ApiError::Validation(m) if m.contains("regular expression") => bad(),
            other => other,
        });
        let fref = match (too_long, parsed) {
            (None, parsed) => parsed?,
            (Some(long), Err(ApiError::Validation(m)))
                if m.contains("regular expression") && !only_long_qualifier(&name, self) =>
            {
                return Err(ApiError::merged(long, [bad()]).into());
            }
            (Some(long), _) => return Err(long.into()),
        };
        if fref.qualifier.is_some() {
            return Err(bad().into());
        }
        if fref.name.len() > 64 {
            return Err(ApiError::InvalidParameterValue(format!(
                "1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64"
            ))
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
        settled(&mut config);

        let mut tx = self.meta.begin()?;
        let layers = match &req.config.layers {
            Some(arns) => self.layers_for_function(&mut *tx, arns)?,
            None => Vec::new(),
        };
        self.check_unzipped_total(incoming.inspected.unzipped_size, &layers)?;
        config.layers = layer_use::references(&layers);
        if tx.get(FUNCTIONS, &fref.name)?.is_some() {
            return Err(ApiError::ResourceConflict(format!(
                "Function already exist: {}",
                fref.name
            ))
            .into());
        }
        let blob = self.add_code_ref(&mut *tx, &incoming)?;
        self.add_layer_refs(&mut *tx, &layers)?;
        let mut record = FunctionRecord {
            latest: config,
            code_blob: blob,
            last_version: 0,
            last_published_fingerprint: None,
            tags: req.tags.clone().unwrap_or_default(),
            layers,
            code_unzipped: incoming.inspected.unzipped_size,
        };
        let shown = if req.publish {
            // AWS answers with version 1's configuration under the
            // unqualified ARN.
            let mut v1 = self.publish_in(&mut *tx, &mut record, None)?;
            v1.function_arn = self.function_arn(&fref.name);
            v1
        } else {
            record.latest.clone()
        };
        save(&mut *tx, FUNCTIONS, &fref.name, &record)?;
        self.commit(tx)?;
        Ok(as_just_created(shown))
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
            // unqualified function only, and only when it has some.
            tags: fref
                .qualifier
                .is_none()
                .then_some(rec.tags)
                .filter(|t| !t.is_empty()),
            concurrency: reserved.map(|n| Concurrency {
                reserved_concurrent_executions: n,
            }),
        })
    }

    /// UpdateFunctionConfiguration.
    pub fn update_function_configuration(
        &self,
        fref: &FunctionRef,
        req: UpdateFunctionConfigurationRequest,
    ) -> Result<FunctionConfiguration> {
        self.require_unqualified(fref)?;
        validate::config_fields(&req.config)?;
        let mut tx = self.meta.begin()?;
        let mut rec = self.load_function(&mut *tx, fref)?;
        check_revision(req.revision_id.as_deref(), &rec.latest.revision_id)?;
        // `Layers` replaces the list wholesale (an empty list removes them all).
        if let Some(arns) = &req.config.layers {
            let layers = self.layers_for_function(&mut *tx, arns)?;
            self.check_unzipped_total(rec.code_unzipped, &layers)?;
            self.add_layer_refs(&mut *tx, &layers)?;
            self.drop_layer_refs(&mut *tx, &rec.layers)?;
            rec.latest.layers = layer_use::references(&layers);
            rec.layers = layers;
        }
        self.apply_config(&mut rec.latest, &req.config);
        rec.latest.last_modified = timefmt::now();
        rec.latest.revision_id = records::new_revision();
        save(&mut *tx, FUNCTIONS, &fref.name, &rec)?;
        self.commit(tx)?;
        if req.config.layers.is_some() {
            // A replaced layer version that was deleted may have lost its last user.
            self.collect_garbage()?;
        }
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
        self.check_unzipped_total(incoming.inspected.unzipped_size, &rec.layers)?;
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
        rec.code_unzipped = incoming.inspected.unzipped_size;
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
        // AWS refuses `$LATEST` and alias names before it looks the function up
        // (recorded: test_function_name_and_qualifier_validation[qualifier_too_long1-delete_function]);
        // a qualifier that is no alias name (`$latest`) is looked up and not found.
        match &fref.qualifier {
            Some(Qualifier::Latest) => {
                return Err(ApiError::InvalidParameterValue(
                    "$LATEST version cannot be deleted without deleting the function.".into(),
                )
                .into());
            }
            Some(Qualifier::Alias(a)) if ident::is_valid_alias_name(a) => {
                return Err(ApiError::InvalidParameterValue(
                    "Deletion of aliases is not currently supported.".into(),
                )
                .into());
            }
            _ => {}
        }
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
                        self.drop_layer_refs(&mut *tx, &v.layers)?;
                    }
                }
                tx.delete_namespace(&vns)?;
                tx.delete_namespace(&aliases_ns(&fref.name))?;
                tx.delete_namespace(&records::event_config_ns(&fref.name))?;
                tx.delete_namespace(&records::policy_ns(&fref.name))?;
                self.delete_urls_in(&mut *tx, &fref.name, None)?;
                tx.delete(CONCURRENCY, &fref.name)?;
                tx.delete_namespace(&records::provisioned_ns(&fref.name))?;
                self.delete_function_settings(&mut *tx, &fref.name)?;
                self.drop_blob_ref(&mut *tx, &rec.code_blob)?;
                self.drop_layer_refs(&mut *tx, &rec.layers)?;
                tx.delete(FUNCTIONS, &fref.name)?;
            }
            // `$LATEST` is refused above; a qualifier that is neither a
            // version nor an alias name names nothing of the function.
            Some(Qualifier::Latest) | Some(Qualifier::Alias(_)) => {
                return Err(ApiError::function_not_found(
                    &self.resources().qualified_arn(
                        &fref.name,
                        &fref
                            .qualifier
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                    ),
                )
                .into());
            }
            Some(Qualifier::Version(n)) => {
                // Deleting a version that does not exist succeeds on AWS.
                let Some(v) =
                    load::<VersionRecord>(&mut *tx, &versions_ns(&fref.name), &version_key(*n))?
                else {
                    return Ok(());
                };
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
                self.drop_layer_refs(&mut *tx, &v.layers)?;
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
pub(crate) fn inline_zip<'a>(
    zip_file: &'a Option<String>,
    s3_bucket: &Option<String>,
) -> Result<&'a str> {
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

/// Does `name` fail the pattern only because its `:qualifier` is over 128
/// characters? The pattern itself has no length limit (AWS reports a
/// too-long `my-function:<129 a>` as one length error, not two), while
/// [`FunctionRef::parse`] refuses such a qualifier as off the pattern.
fn only_long_qualifier(name: &str, c: &ControlPlane) -> bool {
    let Some((head, q)) = name.rsplit_once(':') else {
        return false;
    };
    q.len() > 128
        && q.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && FunctionRef::parse(&format!("{head}:{}", &q[..128]), usize::MAX, c.resources()).is_ok()
}
