//! flint's secrets at rest.
//!
//! One 32-byte master key per data directory, in its own file (`auth.key`
//! unless configured elsewhere), created with mode 0600 on first use and
//! never replaced. [`Sealer`] encrypts with XChaCha20-Poly1305 under that key
//! or under a key derived from it for one purpose ([`Sealer::for_purpose`]):
//! a random 24-byte nonce per message, and associated data naming what the
//! message belongs to, so a sealed value copied onto another record does not
//! open. A copy of a database alone (a backup, a support bundle) reveals no
//! secret; someone who can read the key file too can, exactly as they could
//! read the server's memory.
//!
//! Users: `flint-auth` (the access keys' secrets, under the master key
//! itself) and `flint-control` (functions' environment variables, under a
//! derived key).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::Rng;
use std::path::Path;

/// Length of the random nonce in front of every sealed box.
pub const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("master key file {path}: {source}")]
    MasterKey {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("master key file {0} is not 32 bytes")]
    MasterKeyLength(String),
    /// Wrong key, wrong associated data, or a damaged box.
    #[error("a sealed value does not open: the key or its owner does not match")]
    Open,
}

/// Encrypts and decrypts under one key. `Debug` shows no key material.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// Under the master key itself.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Under a key derived from the master key for one purpose
    /// (HMAC-SHA256(master, purpose)), so that no two kinds of secret share
    /// a key.
    pub fn for_purpose(master: &[u8; 32], purpose: &str) -> Self {
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(master).expect("any key length");
        mac.update(purpose.as_bytes());
        let derived: [u8; 32] = mac.finalize().into_bytes().into();
        Self::new(&derived)
    }

    /// A fresh random key (tests; a store that lives only in memory).
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill(&mut key);
        Self::new(&key)
    }

    /// Encrypts `plain` with a new random nonce; returns (nonce, ciphertext).
    pub fn seal_parts(&self, plain: &[u8], aad: &[u8]) -> ([u8; NONCE_LEN], Vec<u8>) {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
            .expect("XChaCha20-Poly1305 encrypts any message that fits in memory");
        (nonce, ciphertext)
    }

    /// Decrypts what [`Sealer::seal_parts`] gave.
    pub fn open_parts(
        &self,
        nonce: &[u8],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        if nonce.len() != NONCE_LEN {
            return Err(SealError::Open);
        }
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| SealError::Open)
    }

    /// One box: the nonce followed by the ciphertext.
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> Vec<u8> {
        let (nonce, ciphertext) = self.seal_parts(plain, aad);
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Opens a box made by [`Sealer::seal`].
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.open_parts(nonce, ciphertext, aad)
    }
}

/// Reads the 32-byte master key, or creates it (0600, never replaced once
/// written: replacing it would make every stored secret unreadable).
pub fn load_or_create_master_key(path: &Path) -> Result<[u8; 32], SealError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| SealError::MasterKey {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            return bytes
                .try_into()
                .map_err(|_| SealError::MasterKeyLength(path.display().to_string()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let mut key = [0u8; 32];
    rand::rng().fill(&mut key);
    let tmp = path.with_extension("key.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(&key).map_err(err)?;
    f.sync_all().map_err(err)?;
    // A hard link fails if another process created the key meanwhile; then
    // that one wins and is read back.
    match std::fs::hard_link(&tmp, path) {
        Ok(()) => {
            let _ = std::fs::remove_file(&tmp);
            if let Some(dir) = path.parent()
                && let Ok(d) = std::fs::File::open(dir)
            {
                let _ = d.sync_all();
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&tmp);
            load_or_create_master_key(path)
        }
        Err(e) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_master_key_is_created_0600_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.key");
        let first = load_or_create_master_key(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create_master_key(&path).unwrap(), first);
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            load_or_create_master_key(&path),
            Err(SealError::MasterKeyLength(_))
        ));
    }

    #[test]
    fn a_box_opens_only_with_its_key_and_its_owner() {
        let key = [7u8; 32];
        let sealer = Sealer::new(&key);
        let sealed = sealer.seal(b"hunter2", b"function/f");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(sealer.open(&sealed, b"function/f").unwrap(), b"hunter2");
        // Another owner, another key, a derived key, a damaged box: none open.
        assert!(sealer.open(&sealed, b"function/g").is_err());
        assert!(
            Sealer::new(&[8u8; 32])
                .open(&sealed, b"function/f")
                .is_err()
        );
        assert!(
            Sealer::for_purpose(&key, "env")
                .open(&sealed, b"function/f")
                .is_err()
        );
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(sealer.open(&damaged, b"function/f").is_err());
        assert!(sealer.open(&sealed[..10], b"function/f").is_err());
        // Two seals of the same value differ (fresh nonce each time).
        assert_ne!(sealer.seal(b"hunter2", b"x"), sealer.seal(b"hunter2", b"x"));
        // Derivation is deterministic per purpose.
        let a = Sealer::for_purpose(&key, "env").seal(b"v", b"o");
        assert_eq!(
            Sealer::for_purpose(&key, "env").open(&a, b"o").unwrap(),
            b"v"
        );
        assert!(Sealer::for_purpose(&key, "other").open(&a, b"o").is_err());
    }
}
