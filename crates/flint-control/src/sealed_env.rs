//! Functions' environment variables encrypted at rest, as Lambda promises.
//!
//! [`SealedEnvironments`] is a [`MetadataStore`] in front of the real one: when a function
//! record (`function` namespace: `latest.Environment`) or a published version
//! (`version:<name>`: `config.Environment`) is written, its `Variables` map is replaced by
//! `"Sealed": "<base64 of nonce ‖ XChaCha20-Poly1305 ciphertext>"`, the associated data
//! naming the document (`<namespace>\0<key>`), so a box copied onto another function does
//! not open; when one is read, the map is put back. Everything above this layer (the
//! operations, GetFunction, the invocation path) sees plaintext; the database file never
//! does. The key is derived from flint's master key (`flint-seal`), the one that protects the
//! access keys' secrets.
//!
//! Documents without variables cost one substring scan on each read and write. Records
//! written before this layer existed hold plaintext `Variables`: they are read as they are
//! and re-written sealed by [`SealedEnvironments::seal_existing`] at start.

use base64::Engine;
use flint_seal::Sealer;
use flint_store::{Entry, MetadataStore, Pages, Result as StoreResult, StoreError, Transaction};
use serde_json::{Map, Value};
use std::sync::Arc;

use crate::records::{FUNCTIONS, versions_ns};

/// The purpose string the environment key is derived under.
pub const ENVIRONMENT_KEY_PURPOSE: &str = "flint environment variables v1";

const VERSIONS_PREFIX: &str = "version:";
const SEALED: &str = "Sealed";

/// A metadata store whose function and version documents keep their environment variables
/// sealed.
pub struct SealedEnvironments {
    inner: Arc<dyn MetadataStore>,
    sealer: Sealer,
}

impl SealedEnvironments {
    pub fn new(inner: Arc<dyn MetadataStore>, sealer: Sealer) -> Self {
        Self { inner, sealer }
    }

    /// The sealer for environment variables under a data directory's master key.
    pub fn sealer_from_master(master: &[u8; 32]) -> Sealer {
        Sealer::for_purpose(master, ENVIRONMENT_KEY_PURPOSE)
    }

    /// Re-writes, sealed, every function and version document that still holds plaintext
    /// variables (written before variables were sealed); returns how many. One transaction.
    pub fn seal_existing(&self) -> StoreResult<usize> {
        let mut tx = self.inner.begin()?;
        let mut sealed = 0;
        let mut functions = Pages::new(FUNCTIONS);
        while let Some(page) = functions.next_page(&mut *tx)? {
            for (name, bytes) in page {
                sealed += self.reseal(&mut *tx, FUNCTIONS, &name, &bytes)?;
                let vns = versions_ns(&name);
                let mut versions = Pages::new(&vns);
                while let Some(vpage) = versions.next_page(&mut *tx)? {
                    for (key, bytes) in vpage {
                        sealed += self.reseal(&mut *tx, &vns, &key, &bytes)?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(sealed)
    }

    fn reseal(
        &self,
        tx: &mut dyn Transaction,
        ns: &str,
        key: &str,
        raw: &[u8],
    ) -> StoreResult<usize> {
        match seal_document(&self.sealer, ns, key, raw)? {
            Some(sealed) => {
                tx.put(ns, key, &sealed)?;
                Ok(1)
            }
            None => Ok(0),
        }
    }
}

impl MetadataStore for SealedEnvironments {
    fn begin(&self) -> StoreResult<Box<dyn Transaction + '_>> {
        Ok(Box::new(SealedTransaction {
            inner: self.inner.begin()?,
            sealer: &self.sealer,
        }))
    }
}

struct SealedTransaction<'a> {
    inner: Box<dyn Transaction + 'a>,
    sealer: &'a Sealer,
}

impl Transaction for SealedTransaction<'_> {
    fn get(&mut self, ns: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        match self.inner.get(ns, key)? {
            Some(bytes) => Ok(Some(open_document(self.sealer, ns, key, bytes)?)),
            None => Ok(None),
        }
    }

    fn put(&mut self, ns: &str, key: &str, value: &[u8]) -> StoreResult<()> {
        match seal_document(self.sealer, ns, key, value)? {
            Some(sealed) => self.inner.put(ns, key, &sealed),
            None => self.inner.put(ns, key, value),
        }
    }

    fn delete(&mut self, ns: &str, key: &str) -> StoreResult<bool> {
        self.inner.delete(ns, key)
    }

    fn scan(&mut self, ns: &str, after: Option<&str>, limit: usize) -> StoreResult<Vec<Entry>> {
        let page = self.inner.scan(ns, after, limit)?;
        if environment_path(ns).is_none() {
            return Ok(page);
        }
        page.into_iter()
            .map(|(key, bytes)| {
                let opened = open_document(self.sealer, ns, &key, bytes)?;
                Ok((key, opened))
            })
            .collect()
    }

    fn count(&mut self, ns: &str) -> StoreResult<u64> {
        self.inner.count(ns)
    }

    fn delete_namespace(&mut self, ns: &str) -> StoreResult<u64> {
        self.inner.delete_namespace(ns)
    }

    fn commit(self: Box<Self>) -> StoreResult<()> {
        self.inner.commit()
    }
}

/// Where a namespace's documents keep their `Environment` object, if they have one.
fn environment_path(ns: &str) -> Option<&'static str> {
    if ns == FUNCTIONS {
        Some("latest")
    } else if ns.starts_with(VERSIONS_PREFIX) {
        Some("config")
    } else {
        None
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn aad(ns: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(ns.len() + key.len() + 1);
    out.extend_from_slice(ns.as_bytes());
    out.push(0);
    out.extend_from_slice(key.as_bytes());
    out
}

fn corrupt(ns: &str, key: &str, why: &str) -> StoreError {
    StoreError::Corrupt(format!("{ns}/{key}: {why}"))
}

/// The document with its plaintext variables sealed, or `None` when there is nothing to seal
/// (another namespace, no variables, an empty map, already sealed).
fn seal_document(
    sealer: &Sealer,
    ns: &str,
    key: &str,
    bytes: &[u8],
) -> StoreResult<Option<Vec<u8>>> {
    let Some(path) = environment_path(ns) else {
        return Ok(None);
    };
    // The serializer writes `"Variables":` only for the map itself (a value containing
    // those bytes is escaped), so most documents stop here.
    if !contains(bytes, b"\"Variables\":") {
        return Ok(None);
    }
    let mut doc: Value =
        serde_json::from_slice(bytes).map_err(|e| corrupt(ns, key, &e.to_string()))?;
    let Some(env) = doc
        .get_mut(path)
        .and_then(|c| c.get_mut("Environment"))
        .and_then(Value::as_object_mut)
    else {
        return Ok(None);
    };
    match env.get("Variables") {
        Some(Value::Object(vars)) if !vars.is_empty() => {}
        _ => return Ok(None),
    }
    let vars = env.remove("Variables").expect("checked above");
    let plain = serde_json::to_vec(&vars).expect("a JSON value serializes");
    let sealed = sealer.seal(&plain, &aad(ns, key));
    env.insert(
        SEALED.into(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(sealed)),
    );
    Ok(Some(
        serde_json::to_vec(&doc).expect("a JSON value serializes"),
    ))
}

/// The document with its sealed variables opened (unchanged when none are sealed).
fn open_document(sealer: &Sealer, ns: &str, key: &str, bytes: Vec<u8>) -> StoreResult<Vec<u8>> {
    let Some(path) = environment_path(ns) else {
        return Ok(bytes);
    };
    if !contains(&bytes, b"\"Sealed\":\"") {
        return Ok(bytes);
    }
    let mut doc: Value =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(ns, key, &e.to_string()))?;
    let Some(env) = doc
        .get_mut(path)
        .and_then(|c| c.get_mut("Environment"))
        .and_then(Value::as_object_mut)
    else {
        return Ok(bytes);
    };
    let Some(Value::String(b64)) = env.remove(SEALED) else {
        return Ok(bytes);
    };
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| corrupt(ns, key, "sealed environment is not base64"))?;
    let plain = sealer.open(&sealed, &aad(ns, key)).map_err(|_| {
        corrupt(
            ns,
            key,
            "sealed environment does not open: the master key is not the one it was sealed with",
        )
    })?;
    let vars: Map<String, Value> = serde_json::from_slice(&plain)
        .map_err(|_| corrupt(ns, key, "sealed environment is not a JSON object"))?;
    env.insert("Variables".into(), Value::Object(vars));
    Ok(serde_json::to_vec(&doc).expect("a JSON value serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flint_store::SqliteStore;

    fn function_doc(vars: Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "latest": {"FunctionName": "f", "Environment": {"Variables": vars}},
            "code_blob": "x"
        }))
        .unwrap()
    }

    fn raw(store: &SqliteStore, ns: &str, key: &str) -> Vec<u8> {
        store.begin().unwrap().get(ns, key).unwrap().unwrap()
    }

    #[test]
    fn variables_are_sealed_on_write_and_opened_on_read() {
        let inner = Arc::new(SqliteStore::in_memory().unwrap());
        let store = SealedEnvironments::new(inner.clone(), Sealer::random());
        let doc = function_doc(serde_json::json!({"DB_PASSWORD": "hunter2-secret"}));
        let mut tx = store.begin().unwrap();
        tx.put(FUNCTIONS, "f", &doc).unwrap();
        tx.put("alias:f", "a", &doc.clone()).unwrap();
        tx.commit().unwrap();

        let stored = raw(&inner, FUNCTIONS, "f");
        assert!(!contains(&stored, b"hunter2-secret"));
        assert!(!contains(&stored, b"DB_PASSWORD"));
        // Other namespaces hold no configuration: stored as they came.
        assert_eq!(raw(&inner, "alias:f", "a"), doc);

        let mut tx = store.begin().unwrap();
        let back: Value =
            serde_json::from_slice(&tx.get(FUNCTIONS, "f").unwrap().unwrap()).unwrap();
        assert_eq!(
            back["latest"]["Environment"]["Variables"]["DB_PASSWORD"],
            "hunter2-secret"
        );
        let scanned = tx.scan(FUNCTIONS, None, 10).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&scanned[0].1).unwrap(),
            back
        );
    }

    #[test]
    fn version_documents_are_sealed_under_config() {
        let inner = Arc::new(SqliteStore::in_memory().unwrap());
        let store = SealedEnvironments::new(inner.clone(), Sealer::random());
        let doc = serde_json::to_vec(&serde_json::json!({
            "config": {"Environment": {"Variables": {"K": "version-secret"}}}, "code_blob": "x"
        }))
        .unwrap();
        let mut tx = store.begin().unwrap();
        tx.put("version:f", "01", &doc).unwrap();
        tx.commit().unwrap();
        assert!(!contains(
            &raw(&inner, "version:f", "01"),
            b"version-secret"
        ));
        let back = store
            .begin()
            .unwrap()
            .get("version:f", "01")
            .unwrap()
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&back).unwrap(),
            serde_json::from_slice::<Value>(&doc).unwrap()
        );
    }

    #[test]
    fn a_box_moved_to_another_function_or_read_with_another_key_does_not_open() {
        let inner = Arc::new(SqliteStore::in_memory().unwrap());
        let store = SealedEnvironments::new(inner.clone(), Sealer::random());
        let mut tx = store.begin().unwrap();
        tx.put(FUNCTIONS, "f", &function_doc(serde_json::json!({"A": "1"})))
            .unwrap();
        tx.commit().unwrap();
        let sealed = raw(&inner, FUNCTIONS, "f");
        let mut tx = inner.begin().unwrap();
        tx.put(FUNCTIONS, "g", &sealed).unwrap();
        tx.commit().unwrap();
        assert!(store.begin().unwrap().get(FUNCTIONS, "g").is_err());
        let other = SealedEnvironments::new(inner.clone(), Sealer::random());
        assert!(other.begin().unwrap().get(FUNCTIONS, "f").is_err());
    }

    #[test]
    fn documents_without_variables_pass_through_unchanged() {
        let inner = Arc::new(SqliteStore::in_memory().unwrap());
        let store = SealedEnvironments::new(inner.clone(), Sealer::random());
        let empty = function_doc(serde_json::json!({}));
        let none =
            serde_json::to_vec(&serde_json::json!({"latest": {"FunctionName": "h"}})).unwrap();
        let mut tx = store.begin().unwrap();
        tx.put(FUNCTIONS, "e", &empty).unwrap();
        tx.put(FUNCTIONS, "h", &none).unwrap();
        tx.commit().unwrap();
        assert_eq!(raw(&inner, FUNCTIONS, "e"), empty);
        assert_eq!(raw(&inner, FUNCTIONS, "h"), none);
        assert_eq!(
            store.begin().unwrap().get(FUNCTIONS, "e").unwrap().unwrap(),
            empty
        );
    }

    #[test]
    fn plaintext_written_before_sealing_is_read_and_then_sealed_at_start() {
        let inner = Arc::new(SqliteStore::in_memory().unwrap());
        let old = function_doc(serde_json::json!({"TOKEN": "old-plaintext"}));
        let old_version = serde_json::to_vec(&serde_json::json!({
            "config": {"Environment": {"Variables": {"TOKEN": "old-version-plaintext"}}}
        }))
        .unwrap();
        let mut tx = inner.begin().unwrap();
        tx.put(FUNCTIONS, "f", &old).unwrap();
        tx.put(&versions_ns("f"), "01", &old_version).unwrap();
        tx.commit().unwrap();

        let store = SealedEnvironments::new(inner.clone(), Sealer::random());
        // Readable before the migration...
        assert_eq!(
            store.begin().unwrap().get(FUNCTIONS, "f").unwrap().unwrap(),
            old
        );
        assert_eq!(store.seal_existing().unwrap(), 2);
        assert!(!contains(&raw(&inner, FUNCTIONS, "f"), b"old-plaintext"));
        assert!(!contains(
            &raw(&inner, "version:f", "01"),
            b"old-version-plaintext"
        ));
        // ...and after it, and a second run has nothing left to do.
        let back = store.begin().unwrap().get(FUNCTIONS, "f").unwrap().unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&back).unwrap(),
            serde_json::from_slice::<Value>(&old).unwrap()
        );
        assert_eq!(store.seal_existing().unwrap(), 0);
    }
}
