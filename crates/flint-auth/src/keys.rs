//! The access keys flint's API accepts, managed by the operator.
//!
//! SigV4 needs the secret itself to recompute a signature, so it cannot be
//! kept as a one-way hash: each secret is stored encrypted with
//! XChaCha20-Poly1305 (random 24-byte nonce, the access key id as associated
//! data) under a 32-byte master key. The master key lives in its own file
//! (`auth.key` in the data directory unless configured elsewhere), created
//! with mode 0600 on first use. A copy of `keys.db` alone (a backup, a
//! support bundle) therefore reveals no secret; someone who can read both
//! files can, exactly as they could read a server's memory.
//!
//! The keys live in their own SQLite database (`keys.db`, WAL) rather than
//! in the control plane's store: `flint keys ...` changes it while the
//! server runs, and the server checks a key on every request without taking
//! the control plane's write lock. The server keeps the keys in memory and
//! reloads them when SQLite's `data_version` says another connection
//! committed, so a revocation is in force from the next request on.

use flint_seal::{SealError, Sealer};
use parking_lot::Mutex;
use rand::Rng;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    MasterKey(SealError),
    #[error(
        "the secret of {0} cannot be decrypted: the master key does not match the one it was stored with"
    )]
    Decrypt(String),
    #[error("no access key {0}")]
    NotFound(String),
}

pub type Result<T> = std::result::Result<T, KeyError>;

/// What `flint keys list` shows of a key (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyInfo {
    pub access_key_id: String,
    /// `Active` or `Revoked`.
    pub status: String,
    pub description: String,
    /// Unix seconds.
    pub created: i64,
    pub revoked: Option<i64>,
}

/// A key pair just created: the only time the secret is shown.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NewKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Alphabet of access key ids: upper-case letters and digits 2-7, like
/// AWS's `AKIA...` ids.
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Alphabet of secrets: AWS's secrets are 40 characters of base64.
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// Prefix of flint's access key ids (20 characters in all, like AWS's).
pub const ID_PREFIX: &str = "FLNT";

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// The access keys of one data directory.
pub struct KeyStore {
    conn: Mutex<Cache>,
    sealer: Sealer,
}

struct Cache {
    conn: Connection,
    /// `PRAGMA data_version` when `secrets` was loaded.
    version: Option<i64>,
    /// Active keys: id → secret.
    secrets: HashMap<String, String>,
}

impl KeyStore {
    /// Opens (creating when needed) `keys.db` and the master key file.
    pub fn open(db: &Path, master_key: &Path) -> Result<Self> {
        let key = flint_seal::load_or_create_master_key(master_key).map_err(KeyError::MasterKey)?;
        let conn = Connection::open(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // The CLI and the server share the file: wait for the other's
        // transaction instead of failing.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS access_keys (
                 id          TEXT PRIMARY KEY,
                 status      TEXT NOT NULL,
                 description TEXT NOT NULL,
                 created     INTEGER NOT NULL,
                 revoked     INTEGER,
                 nonce       BLOB,
                 ciphertext  BLOB
             );",
        )?;
        Ok(Self {
            conn: Mutex::new(Cache {
                conn,
                version: None,
                secrets: HashMap::new(),
            }),
            sealer: Sealer::new(&key),
        })
    }

    /// The default places in a data directory.
    pub fn paths(data_dir: &Path) -> (PathBuf, PathBuf) {
        (data_dir.join("keys.db"), data_dir.join("auth.key"))
    }

    /// Creates a new active key pair.
    pub fn create(&self, description: &str, now_unix: i64) -> Result<NewKey> {
        let id = format!("{ID_PREFIX}{}", random_string(ID_ALPHABET, 16));
        let secret = random_string(SECRET_ALPHABET, 40);
        let (nonce, ciphertext) = self.sealer.seal_parts(secret.as_bytes(), id.as_bytes());
        let cache = self.conn.lock();
        cache.conn.execute(
            "INSERT INTO access_keys (id, status, description, created, nonce, ciphertext)
             VALUES (?1, 'Active', ?2, ?3, ?4, ?5)",
            params![id, description, now_unix, &nonce[..], ciphertext],
        )?;
        Ok(NewKey {
            access_key_id: id,
            secret_access_key: secret,
        })
    }

    /// Revokes a key for good: its secret is erased, its record stays (so
    /// `list` shows when it was revoked).
    pub fn revoke(&self, id: &str, now_unix: i64) -> Result<()> {
        let cache = self.conn.lock();
        let n = cache.conn.execute(
            "UPDATE access_keys SET status = 'Revoked', revoked = COALESCE(revoked, ?2),
                 nonce = NULL, ciphertext = NULL WHERE id = ?1",
            params![id, now_unix],
        )?;
        if n == 0 {
            return Err(KeyError::NotFound(id.to_string()));
        }
        Ok(())
    }

    pub fn list(&self) -> Result<Vec<KeyInfo>> {
        let cache = self.conn.lock();
        let mut stmt = cache.conn.prepare(
            "SELECT id, status, description, created, revoked FROM access_keys ORDER BY created, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(KeyInfo {
                access_key_id: r.get(0)?,
                status: r.get(1)?,
                description: r.get(2)?,
                created: r.get(3)?,
                revoked: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Number of active keys.
    pub fn active_count(&self) -> Result<usize> {
        let cache = self.conn.lock();
        let n: i64 = cache.conn.query_row(
            "SELECT COUNT(*) FROM access_keys WHERE status = 'Active'",
            [],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    /// The secret of an active key, `None` for an unknown or revoked one.
    /// Answers from memory unless another connection (the CLI) committed
    /// since the last load.
    pub fn secret(&self, id: &str) -> Result<Option<String>> {
        let mut cache = self.conn.lock();
        let version: i64 = cache
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if cache.version != Some(version) {
            cache.secrets = self.load_active(&cache.conn)?;
            cache.version = Some(version);
        }
        Ok(cache.secrets.get(id).cloned())
    }

    fn load_active(&self, conn: &Connection) -> Result<HashMap<String, String>> {
        let mut stmt = conn.prepare(
            "SELECT id, nonce, ciphertext FROM access_keys
             WHERE status = 'Active' AND nonce IS NOT NULL AND ciphertext IS NOT NULL",
        )?;
        let rows: Vec<(String, Vec<u8>, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<std::result::Result<_, _>>()?;
        let mut out = HashMap::with_capacity(rows.len());
        for (id, nonce, ciphertext) in rows {
            let plain = self
                .sealer
                .open_parts(&nonce, &ciphertext, id.as_bytes())
                .map_err(|_| KeyError::Decrypt(id.clone()))?;
            let secret = String::from_utf8(plain).map_err(|_| KeyError::Decrypt(id.clone()))?;
            out.insert(id, secret);
        }
        Ok(out)
    }

    /// Whether a key with this id exists in any state (for the CLI).
    pub fn exists(&self, id: &str) -> Result<bool> {
        let cache = self.conn.lock();
        Ok(cache
            .conn
            .query_row("SELECT 1 FROM access_keys WHERE id = ?1", [id], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_are_created_encrypted_listed_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mk) = KeyStore::paths(dir.path());
        let store = KeyStore::open(&db, &mk).unwrap();
        let mode = std::fs::metadata(&mk).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let k = store.create("ci", 100).unwrap();
        assert_eq!(k.access_key_id.len(), 20);
        assert!(k.access_key_id.starts_with("FLNT"));
        assert_eq!(k.secret_access_key.len(), 40);
        assert_eq!(
            store.secret(&k.access_key_id).unwrap().as_deref(),
            Some(k.secret_access_key.as_str())
        );
        // The database holds no plaintext secret.
        drop(store);
        let raw = std::fs::read(&db).unwrap();
        let wal = std::fs::read(db.with_extension("db-wal")).unwrap_or_default();
        for bytes in [&raw, &wal] {
            assert!(
                !bytes
                    .windows(40)
                    .any(|w| w == k.secret_access_key.as_bytes())
            );
        }

        // A second connection (the CLI) revokes; the first sees it at once.
        let server = KeyStore::open(&db, &mk).unwrap();
        assert!(server.secret(&k.access_key_id).unwrap().is_some());
        let cli = KeyStore::open(&db, &mk).unwrap();
        cli.revoke(&k.access_key_id, 200).unwrap();
        assert_eq!(server.secret(&k.access_key_id).unwrap(), None);
        let listed = server.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].status, "Revoked");
        assert_eq!(listed[0].revoked, Some(200));
        assert!(matches!(
            cli.revoke("FLNTNOPE", 1),
            Err(KeyError::NotFound(_))
        ));
        assert_eq!(server.active_count().unwrap(), 0);
    }

    #[test]
    fn another_master_key_cannot_read_the_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mk) = KeyStore::paths(dir.path());
        let store = KeyStore::open(&db, &mk).unwrap();
        let k = store.create("", 1).unwrap();
        drop(store);
        let other = dir.path().join("other.key");
        let store = KeyStore::open(&db, &other).unwrap();
        assert!(matches!(
            store.secret(&k.access_key_id),
            Err(KeyError::Decrypt(_))
        ));
        std::fs::write(&other, b"short").unwrap();
        assert!(matches!(
            KeyStore::open(&db, &other),
            Err(KeyError::MasterKey(SealError::MasterKeyLength(_)))
        ));
    }
}
