//! Deployment packages: intake, content-addressed storage with reference
//! counts, garbage collection, and the signed URLs GetFunction hands out.

use crate::records::BLOBREFS;
use crate::{ControlPlane, Result};
use base64::Engine;
use flint_package::{InspectedPackage, PackageError};
use flint_store::{Pages, Transaction};
use flint_types::ApiError;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A package that passed intake, ready to be stored.
pub struct IncomingCode {
    pub bytes: Vec<u8>,
    pub inspected: InspectedPackage,
}

fn package_error(e: PackageError) -> ApiError {
    let message = e.aws_message();
    match e.aws_error_code() {
        "RequestEntityTooLargeException" => ApiError::RequestEntityTooLarge(message),
        "InvalidParameterValueException" => ApiError::InvalidParameterValue(message),
        _ => ApiError::Service(message),
    }
}

impl ControlPlane {
    /// Decodes and validates an inline `ZipFile`. Runs before any
    /// transaction: inspecting a package may decompress 250 MB.
    pub(crate) fn intake_zip(&self, zip_base64: &str) -> Result<IncomingCode> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(zip_base64.trim())
            .map_err(|_| {
                ApiError::InvalidRequestContent(
                    "Could not parse request body into json: ZipFile is not valid base64".into(),
                )
            })?;
        let inspected = flint_package::inspect_zip(&bytes, &self.settings.package_limits)
            .map_err(package_error)?;
        Ok(IncomingCode { bytes, inspected })
    }

    /// Stores the package (if new) and counts one more reference to it.
    /// Called inside the transaction that records the reference, so that
    /// garbage collection (which also runs under the transaction lock) can
    /// never delete a blob between its write and its first reference.
    pub(crate) fn add_code_ref(
        &self,
        tx: &mut dyn Transaction,
        code: &IncomingCode,
    ) -> Result<String> {
        let id = self.blobs.put(&code.bytes)?;
        debug_assert_eq!(id, code.inspected.sha256_hex);
        self.add_blob_ref(tx, &id)?;
        Ok(id)
    }

    pub(crate) fn add_blob_ref(&self, tx: &mut dyn Transaction, id: &str) -> Result<()> {
        let n = ref_count(tx, id)?;
        tx.put(BLOBREFS, id, (n + 1).to_string().as_bytes())?;
        Ok(())
    }

    /// Drops one reference. A blob whose count reaches zero stays on disk
    /// until [`ControlPlane::collect_garbage`] runs after the commit.
    pub(crate) fn drop_blob_ref(&self, tx: &mut dyn Transaction, id: &str) -> Result<()> {
        let n = ref_count(tx, id)?;
        tx.put(BLOBREFS, id, n.saturating_sub(1).to_string().as_bytes())?;
        Ok(())
    }

    /// Deletes blobs nobody references: those whose count dropped to zero,
    /// and (at start-up) those written by a request that crashed before its
    /// metadata committed.
    pub fn collect_garbage(&self) -> Result<usize> {
        let mut tx = self.meta.begin()?;
        let mut removed = 0;
        let mut pages = Pages::new(BLOBREFS);
        while let Some(page) = pages.next_page(&mut *tx)? {
            for (id, count) in &page {
                if count.as_slice() == b"0" {
                    self.blobs.delete(id)?;
                    tx.delete(BLOBREFS, id)?;
                    removed += 1;
                }
            }
        }
        for id in self.blobs.ids()? {
            if tx.get(BLOBREFS, &id)?.is_none() {
                self.blobs.delete(&id)?;
                removed += 1;
            }
        }
        self.commit(tx)?;
        Ok(removed)
    }

    /// The zip bytes of a stored package (for the code download URL).
    pub fn code_bytes(&self, blob: &str) -> Result<Vec<u8>> {
        Ok(self.blobs.get(blob)?)
    }

    /// Where the invoke layer can read a package without copying it.
    pub fn code_path(&self, blob: &str) -> Option<std::path::PathBuf> {
        self.blobs.local_path(blob)
    }

    pub fn signer(&self) -> &CodeUrlSigner {
        &self.signer
    }
}

fn ref_count(tx: &mut dyn Transaction, id: &str) -> Result<u64> {
    Ok(tx
        .get(BLOBREFS, id)?
        .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok())
        .unwrap_or(0))
}

/// Signs code download URLs, as S3 presigned URLs do for Lambda: the URL in
/// `Code.Location` works without credentials, only for that package, and
/// only until it expires.
#[derive(Clone)]
pub struct CodeUrlSigner {
    base_url: String,
    key: Vec<u8>,
}

/// How long a code URL stays valid (Lambda's presigned URLs: 10 minutes).
pub const CODE_URL_TTL_SECS: i64 = 600;

impl CodeUrlSigner {
    pub fn new(base_url: impl Into<String>, key: Vec<u8>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            key,
        }
    }

    fn mac(&self, blob: &str, expires: i64) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(blob.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A URL for `blob`, valid for [`CODE_URL_TTL_SECS`] from `now`.
    pub fn url(&self, blob: &str, now: i64) -> String {
        let expires = now + CODE_URL_TTL_SECS;
        format!(
            "{}/_flint/code/{blob}?expires={expires}&signature={}",
            self.base_url,
            self.mac(blob, expires)
        )
    }

    /// Checks a download request's signature and expiry.
    pub fn verify(&self, blob: &str, expires: i64, signature: &str, now: i64) -> bool {
        if now > expires {
            return false;
        }
        let Ok(given) = hex::decode(signature) else {
            return false;
        };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(blob.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        // verify_slice compares in constant time.
        mac.verify_slice(&given).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_urls_verify_until_they_expire() {
        let s = CodeUrlSigner::new("http://127.0.0.1:9000/", b"k".to_vec());
        let url = s.url("ab", 1000);
        assert!(url.starts_with("http://127.0.0.1:9000/_flint/code/ab?expires=1600&signature="));
        let sig = url.rsplit('=').next().unwrap();
        assert!(s.verify("ab", 1600, sig, 1500));
        assert!(!s.verify("ab", 1600, sig, 1601), "expired");
        assert!(!s.verify("cd", 1600, sig, 1500), "other blob");
        assert!(!s.verify("ab", 1700, sig, 1500), "extended expiry");
        assert!(!CodeUrlSigner::new("x", b"other".to_vec()).verify("ab", 1600, sig, 1500));
    }
}
