//! What the control plane persists, and where.
//!
//! | namespace        | key                   | document            |
//! |------------------|-----------------------|---------------------|
//! | `function`       | function name         | [`FunctionRecord`]  |
//! | `version:<name>` | zero-padded number    | [`VersionRecord`]   |
//! | `alias:<name>`   | alias name            | `AliasConfiguration`|
//! | `concurrency`    | function name         | reserved executions |
//! | `blobref`        | blob id               | reference count     |

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

pub fn aliases_ns(function: &str) -> String {
    format!("alias:{function}")
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
}

/// One published, immutable version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionRecord {
    pub config: FunctionConfiguration,
    pub code_blob: String,
}

/// A qualifier resolved to the configuration and code that would run.
#[derive(Debug, Clone)]
pub struct ResolvedFunction {
    /// The configuration of the version that runs (`$LATEST` or a number).
    pub config: FunctionConfiguration,
    pub code_blob: String,
    /// The ARN the caller named (qualified by alias, version, or not at all).
    pub invoked_arn: String,
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
