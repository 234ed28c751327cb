//! The embedded blob store: one file per blob under `<root>/<aa>/<id>`.

use crate::{BlobStore, Result, StoreError, blob_id};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Filesystem-backed [`BlobStore`].
pub struct FsBlobStore {
    root: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub(crate) fn check_id(id: &str) -> Result<()> {
    if id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        Ok(())
    } else {
        Err(StoreError::InvalidBlobId(id.to_string()))
    }
}

impl FsBlobStore {
    /// Opens the store and removes temp files a crash left mid-write (the
    /// caller holds the data directory's lock, so no write is in flight).
    pub fn open(root: &Path) -> Result<Self> {
        fs::create_dir_all(root).map_err(io_err(root))?;
        let store = Self {
            root: root.to_path_buf(),
        };
        store.remove_torn_writes()?;
        Ok(store)
    }

    fn remove_torn_writes(&self) -> Result<()> {
        for shard in fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let shard = shard.map_err(io_err(&self.root))?.path();
            if !shard.is_dir() {
                continue;
            }
            for entry in fs::read_dir(&shard).map_err(io_err(&shard))? {
                let path = entry.map_err(io_err(&shard))?.path();
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                if name.is_some_and(|n| check_id(&n).is_err()) && path.is_file() {
                    fs::remove_file(&path).map_err(io_err(&path))?;
                }
            }
        }
        Ok(())
    }

    fn path_of(&self, id: &str) -> PathBuf {
        self.root.join(&id[..2]).join(id)
    }
}

impl BlobStore for FsBlobStore {
    fn put(&self, bytes: &[u8]) -> Result<String> {
        let id = blob_id(bytes);
        let dest = self.path_of(&id);
        if dest.exists() {
            return Ok(id);
        }
        let dir = dest.parent().expect("blob paths always have a parent");
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        // Write to a temp file in the same directory, fsync, rename, fsync
        // the directory: readers see the whole blob or nothing, and after a
        // crash no torn blob sits under its final name.
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
        tmp.write_all(bytes).map_err(io_err(&dest))?;
        tmp.as_file().sync_all().map_err(io_err(&dest))?;
        tmp.persist(&dest).map_err(|e| io_err(&dest)(e.error))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
        Ok(id)
    }

    fn get(&self, id: &str) -> Result<Vec<u8>> {
        check_id(id)?;
        let path = self.path_of(id);
        fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::BlobNotFound(id.to_string())
            } else {
                io_err(&path)(e)
            }
        })
    }

    fn contains(&self, id: &str) -> Result<bool> {
        check_id(id)?;
        Ok(self.path_of(id).exists())
    }

    fn delete(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let path = self.path_of(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    fn ids(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for shard in fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let shard = shard.map_err(io_err(&self.root))?.path();
            if !shard.is_dir() {
                continue;
            }
            for entry in fs::read_dir(&shard).map_err(io_err(&shard))? {
                let name = entry.map_err(io_err(&shard))?.file_name();
                let name = name.to_string_lossy();
                // Leftover temp files from a crash mid-write are not blobs.
                if check_id(&name).is_ok() {
                    out.push(name.into_owned());
                }
            }
        }
        Ok(out)
    }

    fn local_path(&self, id: &str) -> Option<PathBuf> {
        check_id(id).ok()?;
        Some(self.path_of(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let id = store.put(b"hello").unwrap();
        assert_eq!(id, blob_id(b"hello"));
        assert_eq!(store.put(b"hello").unwrap(), id, "idempotent");
        assert_eq!(store.get(&id).unwrap(), b"hello");
        assert!(store.contains(&id).unwrap());
        assert_eq!(store.ids().unwrap(), vec![id.clone()]);
        store.delete(&id).unwrap();
        assert!(!store.contains(&id).unwrap());
        assert!(matches!(store.get(&id), Err(StoreError::BlobNotFound(_))));
    }

    #[test]
    fn ids_are_validated_so_paths_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        assert!(matches!(
            store.get("../../etc/passwd"),
            Err(StoreError::InvalidBlobId(_))
        ));
        assert!(store.local_path("..").is_none());
    }

    #[test]
    fn temp_leftovers_are_not_listed_and_are_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        fs::create_dir_all(dir.path().join("ab")).unwrap();
        let torn = dir.path().join("ab").join(".tmpXYZ");
        fs::write(&torn, b"torn").unwrap();
        assert!(store.ids().unwrap().is_empty());
        drop(store);
        FsBlobStore::open(dir.path()).unwrap();
        assert!(!torn.exists());
    }
}
