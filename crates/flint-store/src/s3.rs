//! The cluster blob store: packages in an S3-compatible bucket (Garage,
//! MinIO, AWS S3) under `<prefix>/<hex sha256>`, with a read cache by hash on
//! the node's disk so each node downloads a package once.
//!
//! Bridging: `object_store` is async. The store owns a small tokio runtime of
//! its own; the trait's blocking methods spawn the request there and wait on
//! a plain channel, so they work from any thread (the control plane calls
//! them from the blocking pool, start-up from inside `serve`'s runtime)
//! without a nested `block_on`.
//!
//! Stalls: Garage was seen to stall a request sent on a reused keep-alive
//! connection. Every request has a bounded timeout, timed-out requests are
//! retried (uploads are plain idempotent PUTs of content-addressed bytes),
//! and no idle connection is kept, so a retry always goes out on a fresh one.

use crate::{BlobStore, FsBlobStore, Result, StoreError, blob::check_id, blob_id};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, PutPayload, RetryConfig};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the bucket is and how to reach it (see [`S3Settings::parse_url`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// Key prefix inside the bucket, without slashes at either end ("" for none).
    pub prefix: String,
    /// `http(s)://host:port` of the S3 API; `None` for AWS's own endpoints.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

impl S3Settings {
    /// Parses `s3://bucket[/prefix]?endpoint=http://host:port&region=r`.
    /// Credentials are not part of the URL (it shows in process lists and
    /// logs): they come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN`, read by [`S3Settings::with_env_credentials`].
    pub fn parse_url(url: &str) -> std::result::Result<Self, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{url:?}: a blob URL starts with s3://"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err(format!("{url:?}: no bucket name"));
        }
        let mut settings = Self {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint: None,
            region: "us-east-1".to_string(),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "endpoint" if v.starts_with("http://") || v.starts_with("https://") => {
                    settings.endpoint = Some(v.trim_end_matches('/').to_string())
                }
                "endpoint" => return Err(format!("{url:?}: endpoint must be an http(s) URL")),
                "region" if !v.is_empty() => settings.region = v.to_string(),
                _ => {
                    return Err(format!(
                        "{url:?}: unknown or empty parameter {k:?} (known: endpoint, region; \
                         credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
                    ));
                }
            }
        }
        Ok(settings)
    }

    /// Fills the credentials from the standard AWS environment variables.
    pub fn with_env_credentials(mut self) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        self.access_key_id = var("AWS_ACCESS_KEY_ID");
        self.secret_access_key = var("AWS_SECRET_ACCESS_KEY");
        self.session_token = var("AWS_SESSION_TOKEN");
        self
    }
}

/// S3-backed [`BlobStore`] with a local read cache.
pub struct S3BlobStore {
    s3: Arc<AmazonS3>,
    prefix: String,
    cache: FsBlobStore,
    /// `Option` only so that `Drop` can shut it down without blocking (a
    /// runtime dropped inside another one would panic).
    runtime: Option<tokio::runtime::Runtime>,
}

fn s3_err(e: object_store::Error) -> StoreError {
    StoreError::ObjectStore(Box::new(e))
}

impl S3BlobStore {
    /// Connects to the bucket (and checks that it answers) and opens the
    /// read cache in `cache_dir`.
    pub fn open(settings: &S3Settings, cache_dir: &std::path::Path) -> Result<Self> {
        let options = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(60))
            .with_pool_max_idle_per_host(0)
            .with_allow_http(true);
        let retry = RetryConfig {
            max_retries: 4,
            retry_timeout: Duration::from_secs(180),
            ..Default::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_virtual_hosted_style_request(false)
            .with_client_options(options)
            .with_retry(retry);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint).with_allow_http(true);
        }
        if let Some(k) = &settings.access_key_id {
            builder = builder.with_access_key_id(k);
        }
        if let Some(s) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(s);
        }
        if let Some(t) = &settings.session_token {
            builder = builder.with_token(t);
        }
        let s3 = Arc::new(builder.build().map_err(s3_err)?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("flint-s3")
            .enable_all()
            .build()
            .map_err(|source| StoreError::Io {
                path: "S3 client runtime".into(),
                source,
            })?;
        let store = Self {
            s3,
            prefix: settings.prefix.clone(),
            cache: FsBlobStore::open(cache_dir)?,
            runtime: Some(runtime),
        };
        // Fail at start, not at the first deployment, on a wrong endpoint,
        // bucket or key.
        store.ids()?;
        Ok(store)
    }

    fn key(&self, id: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(id)
        } else {
            ObjectPath::from(format!("{}/{id}", self.prefix))
        }
    }

    /// Runs `f` on the store's runtime and waits for it from this thread.
    fn run<T: Send + 'static>(
        &self,
        f: impl Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> object_store::Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime
            .as_ref()
            .expect("runtime lives until drop")
            .spawn(async move {
                let _ = tx.send(f.await);
            });
        rx.recv().unwrap_or_else(|_| {
            Err(object_store::Error::Generic {
                store: "S3",
                source: "the S3 client's runtime stopped".into(),
            })
        })
    }

    fn fetch(&self, id: &str) -> Result<Vec<u8>> {
        let (s3, key) = (self.s3.clone(), self.key(id));
        let bytes = self
            .run(async move { s3.get(&key).await?.bytes().await })
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => StoreError::BlobNotFound(id.to_string()),
                e => s3_err(e),
            })?;
        // Content addressing is the integrity check of what came back.
        if blob_id(&bytes) != id {
            return Err(StoreError::Corrupt(format!("blob {id} (hash mismatch)")));
        }
        self.cache.put(&bytes)?;
        Ok(bytes.to_vec())
    }
}

impl BlobStore for S3BlobStore {
    fn put(&self, bytes: &[u8]) -> Result<String> {
        let id = blob_id(bytes);
        if !self.contains(&id)? {
            let (s3, key) = (self.s3.clone(), self.key(&id));
            let payload = PutPayload::from(bytes.to_vec());
            self.run(async move { s3.put(&key, payload).await })
                .map_err(s3_err)?;
        }
        // The node that uploads a package is usually the one that runs it.
        self.cache.put(bytes)?;
        Ok(id)
    }

    fn get(&self, id: &str) -> Result<Vec<u8>> {
        check_id(id)?;
        match self.cache.get(id) {
            Ok(bytes) => Ok(bytes),
            Err(StoreError::BlobNotFound(_)) => self.fetch(id),
            Err(e) => Err(e),
        }
    }

    fn contains(&self, id: &str) -> Result<bool> {
        check_id(id)?;
        let (s3, key) = (self.s3.clone(), self.key(id));
        match self.run(async move { s3.head(&key).await }) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(s3_err(e)),
        }
    }

    fn delete(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let (s3, key) = (self.s3.clone(), self.key(id));
        match self.run(async move { s3.delete(&key).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(s3_err(e)),
        }
        self.cache.delete(id)
    }

    fn ids(&self) -> Result<Vec<String>> {
        let s3 = self.s3.clone();
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let listed = self
            .run(async move { s3.list_with_delimiter(prefix.as_ref()).await })
            .map_err(s3_err)?;
        Ok(listed
            .objects
            .into_iter()
            .filter_map(|o| o.location.filename().map(str::to_string))
            .filter(|name| check_id(name).is_ok())
            .collect())
    }

    /// The cached copy, downloaded first when this node has none.
    fn local_path(&self, id: &str) -> Option<PathBuf> {
        check_id(id).ok()?;
        let path = self.cache.local_path(id)?;
        if !path.exists() {
            self.fetch(id).ok()?;
        }
        Some(path)
    }
}

impl Drop for S3BlobStore {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_urls_parse() {
        let s = S3Settings::parse_url(
            "s3://code/flint/blobs/?endpoint=http://127.0.0.1:3900/&region=garage",
        )
        .unwrap();
        assert_eq!(s.bucket, "code");
        assert_eq!(s.prefix, "flint/blobs");
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(s.region, "garage");
        let s = S3Settings::parse_url("s3://code").unwrap();
        assert_eq!(
            (s.prefix.as_str(), s.endpoint, s.region.as_str()),
            ("", None, "us-east-1")
        );
        for bad in [
            "http://code",
            "s3://",
            "s3://b?endpoint=127.0.0.1:3900",
            "s3://b?secret=x",
            "s3://b?region=",
        ] {
            assert!(S3Settings::parse_url(bad).is_err(), "{bad} accepted");
        }
    }
}
