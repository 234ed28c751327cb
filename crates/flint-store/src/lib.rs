//! Persistence for flint, behind two traits so that a cluster backend
//! (PostgreSQL for metadata, an S3-compatible object store for code) can
//! replace the embedded one without touching the domain code.
//!
//! * [`MetadataStore`]: a transactional document store. Documents live in
//!   namespaces (`function`, `version:<name>`, ...) under string keys, and
//!   every mutation of the domain happens inside one transaction, so a crash
//!   leaves either the whole change or none of it. The SQL is plain enough to
//!   port as is.
//! * [`BlobStore`]: immutable, content-addressed bytes (deployment packages),
//!   written atomically (temp file, fsync, rename, fsync of the directory).
//! * [`Pages`]: every entry of a namespace, a page at a time, over
//!   [`Transaction::scan`] (the one way to read a whole namespace).
//!
//! Crash ordering: blobs are written *before* the metadata transaction that
//! references them commits. A crash in between leaves an unreferenced blob,
//! never a reference to a missing blob; [`BlobStore::ids`] lets the owner
//! sweep such orphans at start.

mod blob;
mod pages;
mod postgres;
mod s3;
mod sqlite;

pub use blob::FsBlobStore;
pub use pages::Pages;
pub use postgres::PostgresStore;
pub use s3::{S3BlobStore, S3Settings};
pub use sqlite::SqliteStore;

/// Everything that can go wrong underneath the domain.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("metadata database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("metadata database (PostgreSQL): {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("blob store (S3): {0}")]
    ObjectStore(Box<object_store::Error>),
    #[error("the metadata database's connection is gone")]
    Disconnected,
    #[error(
        "the metadata database has schema version {current}; this flint knows up to {known}: upgrade flint"
    )]
    SchemaTooNew { current: i32, known: i32 },
    #[error("blob store I/O at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("blob {0} not found")]
    BlobNotFound(String),
    #[error("invalid blob id {0:?}")]
    InvalidBlobId(String),
    /// A layer over a store (e.g. the control plane's sealed environments) could not make
    /// sense of a stored document.
    #[error("corrupt document {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// One key/value pair returned by a scan.
pub type Entry = (String, Vec<u8>);

/// A transactional document store.
pub trait MetadataStore: Send + Sync {
    /// Starts a transaction. Transactions are serialized; dropping one
    /// without [`Transaction::commit`] rolls it back.
    fn begin(&self) -> Result<Box<dyn Transaction + '_>>;
}

/// Reads and writes inside one transaction.
pub trait Transaction {
    fn get(&mut self, ns: &str, key: &str) -> Result<Option<Vec<u8>>>;
    fn put(&mut self, ns: &str, key: &str, value: &[u8]) -> Result<()>;
    /// Returns whether the key existed.
    fn delete(&mut self, ns: &str, key: &str) -> Result<bool>;
    /// Up to `limit` entries of `ns` in key order, starting after `after`
    /// (one page; [`Pages`] reads a whole namespace).
    fn scan(&mut self, ns: &str, after: Option<&str>, limit: usize) -> Result<Vec<Entry>>;
    /// Number of entries in `ns`.
    fn count(&mut self, ns: &str) -> Result<u64>;
    /// Removes every entry of `ns`; returns how many there were.
    fn delete_namespace(&mut self, ns: &str) -> Result<u64>;
    fn commit(self: Box<Self>) -> Result<()>;
}

/// Content-addressed immutable blobs; the id is the lowercase hex SHA-256.
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` durably and returns their id. Idempotent.
    fn put(&self, bytes: &[u8]) -> Result<String>;
    fn get(&self, id: &str) -> Result<Vec<u8>>;
    fn contains(&self, id: &str) -> Result<bool>;
    fn delete(&self, id: &str) -> Result<()>;
    /// Every stored id (for sweeping orphans).
    fn ids(&self) -> Result<Vec<String>>;
    /// A local path for the blob, when the backend has one (lets the
    /// sandbox layer extract a package without another copy).
    fn local_path(&self, id: &str) -> Option<std::path::PathBuf>;
}

/// The hex SHA-256 id a blob of `bytes` gets.
pub fn blob_id(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
