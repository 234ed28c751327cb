//! What a reference runs: resolving a qualifier (`$LATEST`, a version, an alias and its
//! weighted routing) to a configuration and its code, served from memory while nothing changed.

use crate::records::{self, ResolvedFunction, VersionRecord, load, version_key, versions_ns};
use crate::{ControlPlane, Result};
use flint_store::Transaction;
use flint_types::{ApiError, FunctionRef, Qualifier};

impl ControlPlane {
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
        let rec = self.load_function_as_named(tx, fref)?;
        let invoked_arn = fref.arn(self.resources());
        let blobs = |l: &[crate::LayerUse]| l.iter().map(|l| l.blob.clone()).collect::<Vec<_>>();
        let latest_layers = blobs(&rec.layers);
        let (mut config, code_blob, layer_blobs) = match &fref.qualifier {
            None => (rec.latest, rec.code_blob, latest_layers),
            Some(Qualifier::Latest) => {
                let mut c = rec.latest;
                c.function_arn = invoked_arn.clone();
                (c, rec.code_blob, latest_layers)
            }
            Some(Qualifier::Version(n)) => {
                let v = self.load_version(tx, fref, *n)?;
                (v.config, v.code_blob, blobs(&v.layers))
            }
            Some(Qualifier::Alias(a)) => {
                let alias =
                    records::load_alias(tx, &fref.name, a)?.ok_or_else(|| self.not_found(fref))?;
                match Qualifier::parse(&alias.function_version)? {
                    Qualifier::Version(n) => {
                        let v = self.load_version(tx, fref, n)?;
                        (v.config, v.code_blob, blobs(&v.layers))
                    }
                    _ => (rec.latest, rec.code_blob, latest_layers),
                }
            }
        };
        if let Some(Qualifier::Alias(_)) = &fref.qualifier {
            config.function_arn = invoked_arn.clone();
        }
        Ok(ResolvedFunction {
            config,
            code_blob,
            layer_blobs,
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
        let resolution = self.resolution(fref).map_err(|e| match e {
            // Invoke names the unqualified function as `:$LATEST` (AWS's recordings).
            crate::ControlError::Api(ApiError::ResourceNotFound(m))
                if fref.qualifier.is_none()
                    && m == format!("Function not found: {}", self.function_arn(&fref.name)) =>
            {
                ApiError::function_not_found(&self.resources().qualified_arn(&fref.name, "$LATEST"))
                    .into()
            }
            other => other,
        })?;
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
        self.load_function_as_named(&mut *tx, fref)?;
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
}
