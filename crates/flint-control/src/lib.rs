//! The domain logic of Lambda's control plane.
//!
//! [`ControlPlane`] implements each operation (CreateFunction, PublishVersion,
//! CreateAlias, ...) over the storage traits of `flint-store`, with Lambda's
//! semantics: validation, `RevisionId` preconditions, version numbering,
//! alias routing rules, and the exact error for every rejection. Every
//! mutation is one metadata transaction, so a crash leaves either the whole
//! change or none of it.
//!
//! The HTTP layer (`flint-api`) only parses requests and renders results; the
//! invoke layer reads resolved configurations through [`ControlPlane::resolve`].

mod account;
mod aliases;
mod code;
mod configuration;
mod event_config;
mod function_url;
mod functions;
mod layer_policy;
mod layer_use;
mod layers;
mod listing;
mod policy;
mod provisioned;
mod records;
mod recursion_config;
mod resolve;
mod runtime_management;
mod scaling_config;
mod sealed_env;
mod tags;
mod versions;

use flint_store::{BlobStore, MetadataStore, StoreError};
use flint_types::{ApiError, ResourceContext};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use aliases::AliasList;
pub use code::CodeUrlSigner;
pub use event_config::{AsyncSettings, EventInvokeConfigList, EventInvokeRecord};
pub use function_url::{UrlAccess, UrlConfigList, UrlRecord, UrlRoute};
pub use layer_use::LayerUse;
pub use layers::{LayerFilter, LayerList, LayerVersionList};
pub use listing::{FunctionList, VersionList};
pub use policy::PolicyRecord;
pub use provisioned::{ProvisionedEntry, ProvisionedList};
pub use records::ResolvedFunction;
pub use recursion_config::RECURSIVE_LOOP_VALUES;
pub use runtime_management::RuntimeManagement;
pub use sealed_env::SealedEnvironments;

/// Errors of the control plane: a rejection Lambda defines, or a failure
/// underneath that the caller sees as a 500 `ServiceException`.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
    #[error("corrupt metadata record {what}: {source}")]
    Corrupt {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ControlError {
    /// The AWS-shaped error a client receives. Internal failures are not
    /// described to the client beyond "internal error".
    pub fn to_api(&self) -> ApiError {
        match self {
            ControlError::Api(e) => e.clone(),
            ControlError::Store(_) | ControlError::Corrupt { .. } => {
                ApiError::Service("An internal error occurred in flint. See the server log.".into())
            }
        }
    }
}

pub type Result<T> = std::result::Result<T, ControlError>;

/// Settings the control plane needs from the server configuration.
#[derive(Debug, Clone)]
pub struct ControlSettings {
    pub resources: ResourceContext,
    /// Account-wide concurrent executions (GetAccountSettings, reserved concurrency checks).
    pub account_concurrency: i64,
    /// Lambda keeps this many executions unreserved.
    pub unreserved_minimum: i64,
    pub package_limits: flint_package::PackageLimits,
    /// Where function URLs are served (their addresses are built from it).
    pub function_urls: FunctionUrlSettings,
}

/// The URL listener's public address parts: `http://<id>.lambda-url.<region>.<base_domain>:<port>/`.
#[derive(Debug, Clone)]
pub struct FunctionUrlSettings {
    pub base_domain: String,
    pub port: u16,
}

impl Default for FunctionUrlSettings {
    fn default() -> Self {
        Self {
            base_domain: "localhost".into(),
            port: 9001,
        }
    }
}

impl Default for ControlSettings {
    fn default() -> Self {
        Self {
            resources: ResourceContext::default(),
            account_concurrency: 1000,
            unreserved_minimum: 100,
            package_limits: flint_package::PackageLimits::default(),
            function_urls: FunctionUrlSettings::default(),
        }
    }
}

/// The control plane over a metadata store and a blob store.
pub struct ControlPlane {
    meta: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    settings: ControlSettings,
    signer: CodeUrlSigner,
    /// Bumped by every committed mutation; cached resolutions of an older
    /// generation are stale.
    generation: AtomicU64,
    /// What invocations resolved to, so the warm invoke path reads memory
    /// instead of the metadata store.
    resolutions: RwLock<HashMap<flint_types::FunctionRef, (u64, records::Resolution)>>,
    /// Function URLs by url id with the policy statements that govern them, so a request to
    /// a URL reads memory while nothing changed (same generation rule as `resolutions`).
    url_routes: RwLock<HashMap<String, (u64, function_url::UrlAccess)>>,
}

impl ControlPlane {
    pub fn new(
        meta: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        settings: ControlSettings,
        signer: CodeUrlSigner,
    ) -> Self {
        Self {
            meta,
            blobs,
            settings,
            signer,
            generation: AtomicU64::new(0),
            resolutions: RwLock::new(HashMap::new()),
            url_routes: RwLock::new(HashMap::new()),
        }
    }

    /// Commits a mutation and invalidates every cached resolution.
    pub(crate) fn commit(&self, tx: Box<dyn flint_store::Transaction + '_>) -> Result<()> {
        tx.commit()?;
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    pub fn settings(&self) -> &ControlSettings {
        &self.settings
    }

    pub fn resources(&self) -> &ResourceContext {
        &self.settings.resources
    }
}
