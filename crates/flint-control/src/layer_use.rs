//! A function's `Layers`: the layer versions it names, checked as Lambda checks them (this
//! region, one version per layer, each existing), pinned by their blobs so that deleting a
//! layer version never breaks a function that uses it, and the unzipped-size limit of the
//! function and its layers together.

use crate::layers::LayerVersionRecord;
use crate::{ControlPlane, Result};
use flint_store::Transaction;
use flint_types::ApiError;
use flint_types::layers::{LayerName, function_layers};
use flint_types::model::LayerReference;
use serde::{Deserialize, Serialize};

/// One layer a function (or published version) uses, in its `Layers` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerUse {
    pub arn: String,
    /// The layer version's zip; the function holds a reference to it.
    pub blob: String,
    pub code_size: u64,
    pub unzipped_size: u64,
}

impl LayerUse {
    pub fn reference(&self) -> LayerReference {
        LayerReference {
            arn: self.arn.clone(),
            code_size: self.code_size,
        }
    }
}

/// `Layers` as the configuration shows them: absent when there are none.
pub(crate) fn references(layers: &[LayerUse]) -> Option<Vec<LayerReference>> {
    (!layers.is_empty()).then(|| layers.iter().map(LayerUse::reference).collect())
}

impl ControlPlane {
    /// The layer versions `arns` name, in order (the count and pattern were checked with the
    /// other fields).
    pub(crate) fn layers_for_function(
        &self,
        tx: &mut dyn Transaction,
        arns: &[String],
    ) -> Result<Vec<LayerUse>> {
        let parsed = function_layers(arns)?;
        let region = &self.resources().region;
        if parsed.iter().flatten().any(|p| &p.region != region) {
            return Err(ApiError::InvalidParameterValue(format!(
                "Layers are not in the same region as the function. Layers are expected to be in region {region}."
            ))
            .into());
        }
        for (i, a) in parsed.iter().enumerate() {
            let Some(a) = a else { continue };
            if let Some(j) = parsed[..i].iter().position(|b| {
                b.as_ref()
                    .is_some_and(|b| b.name == a.name && b.account == a.account)
            }) {
                return Err(ApiError::InvalidParameterValue(format!(
                    "Two different versions of the same layer are not allowed to be referenced in the same function. {} and {} are versions of the same layer.",
                    arns[j], arns[i]
                ))
                .into());
            }
        }
        let mut out = Vec::with_capacity(parsed.len());
        let missing = |arn: &String| {
            ApiError::InvalidParameterValue(format!("Layer version {arn} does not exist."))
        };
        for (arn, p) in arns.iter().zip(parsed) {
            let Some(p) = p else {
                return Err(missing(arn).into());
            };
            let layer = LayerName {
                name: p.name,
                region: Some(p.region),
                account: Some(p.account),
            };
            let rec: LayerVersionRecord = self
                .load_layer_version(tx, &layer, p.version)?
                .ok_or_else(|| missing(arn))?;
            out.push(LayerUse {
                arn: rec.item.layer_version_arn,
                blob: rec.blob,
                code_size: rec.code_size,
                unzipped_size: rec.unzipped_size,
            });
        }
        Ok(out)
    }

    /// Function code and its layers unzipped stay within Lambda's 250 MB.
    pub(crate) fn check_unzipped_total(&self, code: u64, layers: &[LayerUse]) -> Result<()> {
        let limit = self.settings.package_limits.max_unzipped_bytes;
        let total = code + layers.iter().map(|l| l.unzipped_size).sum::<u64>();
        if total > limit {
            return Err(ApiError::InvalidParameterValue(format!(
                "Function code combined with layers exceeds the maximum allowed size of {limit} bytes. The actual size is {total} bytes."
            ))
            .into());
        }
        Ok(())
    }

    /// Counts one more user of each layer's zip.
    pub(crate) fn add_layer_refs(
        &self,
        tx: &mut dyn Transaction,
        layers: &[LayerUse],
    ) -> Result<()> {
        for l in layers {
            self.add_blob_ref(tx, &l.blob)?;
        }
        Ok(())
    }

    /// Counts one user fewer of each layer's zip.
    pub(crate) fn drop_layer_refs(
        &self,
        tx: &mut dyn Transaction,
        layers: &[LayerUse],
    ) -> Result<()> {
        for l in layers {
            self.drop_blob_ref(tx, &l.blob)?;
        }
        Ok(())
    }
}
