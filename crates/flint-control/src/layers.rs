//! Lambda layers: PublishLayerVersion, GetLayerVersion(ByArn), ListLayers, ListLayerVersions
//! and DeleteLayerVersion. A layer version's zip goes through the same intake as function
//! code and is a blob like it (content-addressed, reference-counted: the version holds one
//! reference, and every function or version that uses it one more, so a deleted layer
//! version keeps running in the functions that use it).
//!
//! | namespace | key | document |
//! | --- | --- | --- |
//! | `layer` | layer name | [`LayerRecord`]: the highest version number ever published |
//! | `layerversion:<name>` | zero-padded version | [`LayerVersionRecord`] |

use crate::records::{decode, load, save, version_key};
use crate::{ControlPlane, Result};
use flint_store::{Pages, Transaction};
use flint_types::layers::{
    self as rules, GetLayerVersionResponse, LayerName, LayerVersionArn, LayerVersionContentOutput,
    LayerVersionsListItem, LayersListItem, PublishLayerVersionRequest,
};
use flint_types::{ApiError, timefmt};
use serde::{Deserialize, Serialize};

pub(crate) const LAYERS: &str = "layer";

pub(crate) fn layer_versions_ns(name: &str) -> String {
    format!("layerversion:{name}")
}

/// A layer: numbers are never reused, even after every version is deleted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerRecord {
    pub last_version: u64,
}

/// One published layer version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerVersionRecord {
    pub item: LayerVersionsListItem,
    pub code_sha256: String,
    pub code_size: u64,
    pub unzipped_size: u64,
    /// Blob id (hex SHA-256) of the zip.
    pub blob: String,
    /// AddLayerVersionPermission's statements (`None`: no policy).
    #[serde(default)]
    pub policy: Option<crate::PolicyRecord>,
}

/// A page of ListLayers.
#[derive(Debug, Clone)]
pub struct LayerList {
    pub layers: Vec<LayersListItem>,
    pub next_marker: Option<String>,
}

/// A page of ListLayerVersions.
#[derive(Debug, Clone)]
pub struct LayerVersionList {
    pub versions: Vec<LayerVersionsListItem>,
    pub next_marker: Option<String>,
}

/// ListLayers' and ListLayerVersions' filters.
#[derive(Debug, Clone, Default)]
pub struct LayerFilter {
    pub runtime: Option<String>,
    pub architecture: Option<String>,
}

impl LayerFilter {
    /// Checks the values (AWS's enum messages).
    pub fn checked(self) -> Result<Self> {
        if let Some(r) = &self.runtime {
            rules::compatible_runtime_filter(r)?;
        }
        if let Some(a) = &self.architecture {
            rules::compatible_architecture_filter(a)?;
        }
        Ok(self)
    }

    fn matches(&self, item: &LayerVersionsListItem) -> bool {
        let has =
            |list: &Option<Vec<String>>, v: &String| list.as_ref().is_some_and(|l| l.contains(v));
        self.runtime
            .as_ref()
            .is_none_or(|r| has(&item.compatible_runtimes, r))
            && self
                .architecture
                .as_ref()
                .is_none_or(|a| has(&item.compatible_architectures, a))
    }
}

/// `MaxItems` of the layer lists: 1–50, 50 when absent.
fn page_size(max_items: Option<i64>) -> Result<usize> {
    match max_items {
        None => Ok(50),
        Some(n) if n < 1 => Err(ApiError::too_small(n, "maxItems", 1).into()),
        Some(n) if n > 50 => Err(ApiError::too_large(n, "maxItems", 50).into()),
        Some(n) => Ok(n as usize),
    }
}

fn does_not_exist() -> ApiError {
    ApiError::ResourceNotFound("The resource you requested does not exist.".into())
}

impl ControlPlane {
    pub(crate) fn layer_arn(&self, name: &str) -> String {
        let r = self.resources();
        rules::layer_arn(&r.region, &r.account, name)
    }

    pub(crate) fn layer_version_arn(&self, name: &str, version: u64) -> String {
        format!("{}:{version}", self.layer_arn(name))
    }

    /// The name of a `{LayerName}` of this region and account (`None`: another's, which
    /// flint never has).
    fn own_layer(&self, layer: &LayerName) -> Option<String> {
        let r = self.resources();
        let ours = layer.region.as_deref().is_none_or(|x| x == r.region)
            && layer.account.as_deref().is_none_or(|x| x == r.account);
        ours.then(|| layer.name.clone())
    }

    pub(crate) fn load_layer_version(
        &self,
        tx: &mut dyn Transaction,
        layer: &LayerName,
        version: u64,
    ) -> Result<Option<LayerVersionRecord>> {
        let Some(name) = self.own_layer(layer) else {
            return Ok(None);
        };
        load(tx, &layer_versions_ns(&name), &version_key(version))
    }

    fn answer(
        &self,
        name: &str,
        rec: LayerVersionRecord,
        now_unix: i64,
    ) -> GetLayerVersionResponse {
        GetLayerVersionResponse {
            content: LayerVersionContentOutput {
                location: self.signer.url(&rec.blob, now_unix),
                code_sha256: rec.code_sha256,
                code_size: rec.code_size,
            },
            layer_arn: self.layer_arn(name),
            item: rec.item,
        }
    }

    /// PublishLayerVersion.
    pub fn publish_layer_version(
        &self,
        layer: &LayerName,
        req: PublishLayerVersionRequest,
        now_unix: i64,
    ) -> Result<GetLayerVersionResponse> {
        rules::publish_request(&req)?;
        let Some(name) = self.own_layer(layer) else {
            return Err(ApiError::InvalidParameterValue(format!(
                "Layers can only be published in this account and region: {}",
                self.layer_arn(&layer.name)
            ))
            .into());
        };
        let content = req.content.clone().unwrap_or_default();
        let zip = crate::functions::inline_zip(&content.zip_file, &content.s3_bucket)?;
        let incoming = self.intake_zip(zip)?;
        let mut tx = self.meta.begin()?;
        let mut layer_rec: LayerRecord =
            load(&mut *tx, LAYERS, &name)?.unwrap_or(LayerRecord { last_version: 0 });
        let n = layer_rec.last_version + 1;
        let blob = self.add_code_ref(&mut *tx, &incoming)?;
        let record = LayerVersionRecord {
            item: LayerVersionsListItem {
                layer_version_arn: self.layer_version_arn(&name, n),
                version: n,
                description: req.description.clone().unwrap_or_default(),
                created_date: timefmt::now(),
                compatible_runtimes: req.compatible_runtimes.clone(),
                license_info: req.license_info.clone(),
                compatible_architectures: req.compatible_architectures.clone(),
            },
            code_sha256: incoming.inspected.code_sha256.clone(),
            code_size: incoming.inspected.code_size,
            unzipped_size: incoming.inspected.unzipped_size,
            blob,
            policy: None,
        };
        layer_rec.last_version = n;
        save(&mut *tx, LAYERS, &name, &layer_rec)?;
        save(
            &mut *tx,
            &layer_versions_ns(&name),
            &version_key(n),
            &record,
        )?;
        self.commit(tx)?;
        Ok(self.answer(&name, record, now_unix))
    }

    /// GetLayerVersion.
    pub fn get_layer_version(
        &self,
        layer: &LayerName,
        version: u64,
        now_unix: i64,
    ) -> Result<GetLayerVersionResponse> {
        let mut tx = self.meta.begin()?;
        let rec = self
            .load_layer_version(&mut *tx, layer, version)?
            .ok_or_else(does_not_exist)?;
        Ok(self.answer(&layer.name, rec, now_unix))
    }

    /// GetLayerVersionByArn.
    pub fn get_layer_version_by_arn(
        &self,
        arn: &str,
        now_unix: i64,
    ) -> Result<GetLayerVersionResponse> {
        let Some(parsed) = LayerVersionArn::parse(arn) else {
            // AWS's own layers (`arn:aws:lambda:::awslayer:<name>`) fit the pattern; flint
            // has none.
            if rules::is_aws_layer_arn(arn) {
                return Err(does_not_exist().into());
            }
            return Err(ApiError::pattern(arn, "arn", rules::LAYER_VERSION_ARN_PATTERN).into());
        };
        let layer = LayerName {
            name: parsed.name,
            region: Some(parsed.region),
            account: Some(parsed.account),
        };
        self.get_layer_version(&layer, parsed.version, now_unix)
    }

    /// DeleteLayerVersion: a version that does not exist is deleted too (204, as on AWS).
    /// The zip stays while a function or version uses it.
    pub fn delete_layer_version(&self, layer: &LayerName, version: u64) -> Result<()> {
        let mut tx = self.meta.begin()?;
        let Some(rec) = self.load_layer_version(&mut *tx, layer, version)? else {
            return Ok(());
        };
        tx.delete(&layer_versions_ns(&layer.name), &version_key(version))?;
        self.drop_blob_ref(&mut *tx, &rec.blob)?;
        self.commit(tx)?;
        self.collect_garbage()?;
        Ok(())
    }

    /// ListLayerVersions: newest first. A layer that does not exist has none.
    pub fn list_layer_versions(
        &self,
        layer: &LayerName,
        filter: LayerFilter,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<LayerVersionList> {
        let filter = filter.checked()?;
        let limit = page_size(max_items)?;
        let before = match marker {
            None => u64::MAX,
            Some(m) => m
                .parse::<u64>()
                .map_err(|_| ApiError::InvalidParameterValue(format!("Invalid marker: {m}")))?,
        };
        let mut tx = self.meta.begin()?;
        let Some(name) = self.own_layer(layer) else {
            return Ok(LayerVersionList {
                versions: Vec::new(),
                next_marker: None,
            });
        };
        let mut all = self.versions_of(&mut *tx, &name)?;
        all.retain(|v| v.item.version < before && filter.matches(&v.item));
        all.reverse();
        let more = all.len() > limit;
        all.truncate(limit);
        let next_marker = more.then(|| all.last().map(|v| v.item.version.to_string()));
        Ok(LayerVersionList {
            versions: all.into_iter().map(|v| v.item).collect(),
            next_marker: next_marker.flatten(),
        })
    }

    /// Every version of a layer, oldest first.
    fn versions_of(&self, tx: &mut dyn Transaction, name: &str) -> Result<Vec<LayerVersionRecord>> {
        let ns = layer_versions_ns(name);
        let mut out = Vec::new();
        let mut pages = Pages::new(&ns);
        while let Some(page) = pages.next_page(tx)? {
            for (k, bytes) in page {
                out.push(decode(&ns, &k, &bytes)?);
            }
        }
        Ok(out)
    }

    /// ListLayers: each layer with its newest version that matches the filters (layers
    /// without one are left out), by name.
    pub fn list_layers(
        &self,
        filter: LayerFilter,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<LayerList> {
        let filter = filter.checked()?;
        let limit = page_size(max_items)?;
        let mut tx = self.meta.begin()?;
        let mut out = Vec::new();
        let mut more = false;
        let mut pages = Pages::new(LAYERS).after(marker);
        'outer: while let Some(page) = pages.next_page(&mut *tx)? {
            for (name, _) in page {
                let latest = self
                    .versions_of(&mut *tx, &name)?
                    .into_iter()
                    .rev()
                    .find(|v| filter.matches(&v.item));
                let Some(latest) = latest else { continue };
                if out.len() == limit {
                    more = true;
                    break 'outer;
                }
                out.push(LayersListItem {
                    layer_name: name.clone(),
                    layer_arn: self.layer_arn(&name),
                    latest_matching_version: latest.item,
                });
            }
        }
        let next_marker = more
            .then(|| out.last().map(|l: &LayersListItem| l.layer_name.clone()))
            .flatten();
        Ok(LayerList {
            layers: out,
            next_marker,
        })
    }
}
