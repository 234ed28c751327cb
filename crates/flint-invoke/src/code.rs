//! Extracted deployment packages, one directory per package, shared by
//! every environment of every version that uses it.

use crate::error::InvokeError;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Extracts each package once, on first use, into `<root>/<blob id>`.
pub struct CodeCache {
    root: PathBuf,
    /// One lock per package, so that concurrent cold starts of the same
    /// code extract it once while different packages extract in parallel.
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl CodeCache {
    pub fn new(root: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        // The sandbox user must be able to traverse to /var/task.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))?;
        Ok(Self {
            root,
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// The directory holding package `blob`, extracting it from `zip_path`
    /// if needed. Blocking: call from a blocking thread.
    pub fn prepare(&self, blob: &str, zip_path: &Path) -> Result<PathBuf, InvokeError> {
        let dir = self.root.join(blob);
        if dir.is_dir() {
            return Ok(dir);
        }
        let lock = self
            .locks
            .lock()
            .entry(blob.to_string())
            .or_default()
            .clone();
        let _guard = lock.lock();
        if dir.is_dir() {
            return Ok(dir);
        }
        let bytes = std::fs::read(zip_path)
            .map_err(|e| InvokeError::Code(format!("reading {}: {e}", zip_path.display())))?;
        // Extract next to the final place and rename: a crash mid-way never
        // leaves a half-extracted package under the final name.
        let tmp = self
            .root
            .join(format!(".{blob}.{}", uuid::Uuid::new_v4().simple()));
        flint_package::extract_zip(&bytes, &tmp, &flint_package::PackageLimits::default())
            .map_err(|e| InvokeError::Code(e.to_string()))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&tmp, &dir)?;
        Ok(dir)
    }

    /// Removes leftovers of extractions interrupted by a crash.
    pub fn sweep_partial(&self) -> std::io::Result<()> {
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                std::fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }
}
