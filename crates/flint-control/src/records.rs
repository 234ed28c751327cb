//! What the control plane persists, and where.
//!
//! | namespace        | key                   | document            |
//! |------------------|-----------------------|---------------------|
//! | `function`       | function name         | [`FunctionRecord`]  |
//! | `version:<name>` | zero-padded number    | [`VersionRecord`]   |
//! | `alias:<name>`   | alias name            | `AliasConfiguration`|
//! | `concurrency`    | function name         | reserved executions |
//! | `provisioned:<name>` | version or alias  | [`ProvisionedRecord`] |
//! | `blobref`        | blob id               | reference count     |
//! | `eventinvoke:<name>` | qualifier (`$LATEST`, number, alias) | `EventInvokeRecord` |
//! | `policy:<name>` | qualifier, or `$function` | `PolicyRecord` |
//! | `url:<name>` | alias, or `$function` | `UrlRecord` |
//! | `urlid` | url id | the function and alias it routes to (a deleted alias's: retired, with the URL it had) |
//! | `recursion` | function name | `Allow` (absent: `Terminate`); `recursion_config.rs` |
//! | `layer` / `layerversion:<name>` | layer name / version | `layers.rs` |
//! | `runtime:<name>` | `$LATEST` or version | `RuntimeManagement` (absent: `Auto`); `runtime_management.rs` |

use crate::{ControlError, Result};
use flint_store::Transaction;
use flint_types::model::{AliasConfiguration, FunctionConfiguration};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;

pub const FUNCTIONS: &str = "function";
pub const CONCURRENCY: &str = "concurrency";
pub const BLOBREFS: &str = "blobref";

pub fn versions_ns(function: &str) -> String {
    format!("version:{function}")
}

pub fn provisioned_ns(function: &str) -> String {
    format!("provisioned:{function}")
}

/// A provisioned concurrency configuration of one version or alias.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProvisionedRecord {
    pub requested: u32,
    pub last_modified: String,
}

pub fn aliases_ns(function: &str) -> String {
    format!("alias:{function}")
}

/// Asynchronous-invocation settings of a function, keyed by qualifier.
pub fn event_config_ns(function: &str) -> String {
    format!("eventinvoke:{function}")
}

/// Function URLs of a function, keyed by alias (`$function`: unqualified).
pub fn url_ns(function: &str) -> String {
    format!("url:{function}")
}

/// Every URL id → its function and alias.
pub const URL_IDS: &str = "urlid";

/// Resource-based policies of a function, keyed by qualifier (`$function`: unqualified).
pub fn policy_ns(function: &str) -> String {
    format!("policy:{function}")
}

/// The page size of the per-function configuration lists (event invoke, URL and provisioned
/// concurrency configs): `MaxItems` 1–50, 50 when absent.
pub fn config_page_size(
    max_items: Option<i64>,
) -> std::result::Result<usize, flint_types::ApiError> {
    match max_items {
        None => Ok(50),
        Some(n) if n < 1 => Err(flint_types::ApiError::too_small(n, "maxItems", 1)),
        Some(n) if n > 50 => Err(flint_types::ApiError::too_large(n, "maxItems", 50)),
        Some(n) => Ok(n as usize),
    }
}

/// Version numbers are keys; zero-padding makes key order numeric order.
pub fn version_key(n: u64) -> String {
    format!("{n:020}")
}

/// A function and its mutable `$LATEST`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub latest: FunctionConfiguration,
    /// Blob id (hex SHA-256) of `$LATEST`'s deployment package.
    pub code_blob: String,
    /// Highest version number ever published; numbers are never reused.
    pub last_version: u64,
    /// Fingerprint of `$LATEST` when `last_version` was published, so that a
    /// publish with nothing changed returns that version instead of a new one.
    pub last_published_fingerprint: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// `$LATEST`'s layers, in order (each holds a reference to its zip).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<crate::LayerUse>,
    /// `$LATEST`'s package unzipped (0 in records written before layers existed).
    #[serde(default)]
    pub code_unzipped: u64,
}

/// One published, immutable version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionRecord {
    pub config: FunctionConfiguration,
    pub code_blob: String,
    /// The layers the version was published with (pinned: each holds a reference).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<crate::LayerUse>,
}

/// A qualifier resolved to the configuration and code that would run.
#[derive(Debug, Clone)]
pub struct ResolvedFunction {
    /// The configuration of the version that runs (`$LATEST` or a number).
    pub config: FunctionConfiguration,
    pub code_blob: String,
    /// Blob ids of the layers' zips, in the function's `Layers` order.
    pub layer_blobs: Vec<String>,
    /// The ARN the caller named (qualified by alias, version, or not at all).
    pub invoked_arn: String,
}

/// What an invocation reference resolves to: one version, or (an alias with
/// a routing configuration) two, the additional one taking `weight` of the
/// traffic.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub primary: ResolvedFunction,
    pub additional: Option<(f64, Box<ResolvedFunction>)>,
}

impl Resolution {
    /// The version one invocation runs, given a uniform roll in [0, 1).
    pub fn pick(&self, roll: f64) -> ResolvedFunction {
        match &self.additional {
            Some((weight, additional)) if roll < *weight => (**additional).clone(),
            _ => self.primary.clone(),
        }
    }
}

pub fn load<T: DeserializeOwned>(
    tx: &mut dyn Transaction,
    ns: &str,
    key: &str,
) -> Result<Option<T>> {
    match tx.get(ns, key)? {
        None => Ok(None),
        Some(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| ControlError::Corrupt {
                    what: format!("{ns}/{key}"),
                    source,
                })
        }
    }
}

pub fn save<T: Serialize>(tx: &mut dyn Transaction, ns: &str, key: &str, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value).expect("records always serialize");
    tx.put(ns, key, &bytes)?;
    Ok(())
}

pub fn decode<T: DeserializeOwned>(ns: &str, key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| ControlError::Corrupt {
        what: format!("{ns}/{key}"),
        source,
    })
}

pub fn load_alias(
    tx: &mut dyn Transaction,
    function: &str,
    alias: &str,
) -> Result<Option<AliasConfiguration>> {
    load(tx, &aliases_ns(function), alias)
}

/// A new revision id: every mutation gets one, and preconditions compare them.
pub fn new_revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(version: &str) -> ResolvedFunction {
        let config: FunctionConfiguration = serde_json::from_value(serde_json::json!({
            "FunctionName": "f", "FunctionArn": "arn", "Role": "r", "CodeSize": 1,
            "Description": "", "Timeout": 3, "MemorySize": 128, "LastModified": "",
            "CodeSha256": "", "Version": version, "TracingConfig": {}, "RevisionId": "",
            "PackageType": "Zip", "Architectures": ["x86_64"], "EphemeralStorage": {"Size": 512},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"}, "LoggingConfig": {}
        }))
        .unwrap();
        ResolvedFunction {
            config,
            code_blob: String::new(),
            layer_blobs: Vec::new(),
            invoked_arn: "arn:alias".into(),
        }
    }

    #[test]
    fn weighted_resolutions_split_traffic_by_weight() {
        let r = Resolution {
            primary: resolved("1"),
            additional: Some((0.25, Box::new(resolved("2")))),
        };
        assert_eq!(r.pick(0.1).config.version, "2");
        assert_eq!(r.pick(0.25).config.version, "1");
        assert_eq!(r.pick(0.9).config.version, "1");
        let fixed = Resolution {
            primary: resolved("3"),
            additional: None,
        };
        assert_eq!(fixed.pick(0.0).config.version, "3");
    }
}
