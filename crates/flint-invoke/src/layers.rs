//! `/opt`: a function's layers merged in order (a later layer's file wins over an earlier
//! one's at the same path), built once per ordered set of layers and shared read-only by every
//! environment that uses that set.
//!
//! Each layer's zip is extracted once like any package (`code.rs`, by its content address);
//! the merged tree is `<root>/<key>`, where the key is the SHA-256 of the ordered list of the
//! layers' content addresses, built in a temporary directory and renamed into place (a crash
//! never leaves a half-merged tree under the final name). Its files are hard links to the
//! extracted layers' (copies where the file system refuses a link), so a merge writes no file
//! data. A single layer needs no merge: its extraction is `/opt` as it is.

use crate::code::CodeCache;
use crate::error::InvokeError;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One layer of a function: the content address of its zip, and where the zip is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerCode {
    pub blob: String,
    pub zip_path: PathBuf,
}

/// The merged `/opt` trees, `<root>/<key>`.
pub(crate) struct LayerCache {
    root: PathBuf,
    code: Arc<CodeCache>,
    /// One lock per layer set: concurrent cold starts of the same set merge it once.
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// The key of an ordered set of layers.
pub(crate) fn set_key(layers: &[LayerCode]) -> String {
    let mut h = Sha256::new();
    for l in layers {
        h.update(l.blob.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

impl LayerCache {
    pub fn new(root: PathBuf, code: Arc<CodeCache>) -> io::Result<Self> {
        fs::create_dir_all(&root)?;
        // The sandbox user must be able to traverse to /opt.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755))?;
        Ok(Self {
            root,
            code,
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// The host directory to mount at `/opt` for `layers` (`None`: no layers, `/opt` is
    /// empty). Blocking: call from a blocking thread.
    pub fn prepare(&self, layers: &[LayerCode]) -> Result<Option<PathBuf>, InvokeError> {
        match layers {
            [] => return Ok(None),
            [one] => return self.code.prepare(&one.blob, &one.zip_path).map(Some),
            _ => {}
        }
        let key = set_key(layers);
        let dir = self.root.join(&key);
        if dir.is_dir() {
            return Ok(Some(dir));
        }
        let lock = self.locks.lock().entry(key.clone()).or_default().clone();
        let _guard = lock.lock();
        if dir.is_dir() {
            return Ok(Some(dir));
        }
        let mut sources = Vec::with_capacity(layers.len());
        for l in layers {
            sources.push(self.code.prepare(&l.blob, &l.zip_path)?);
        }
        let tmp = self
            .root
            .join(format!(".{key}.{}", uuid::Uuid::new_v4().simple()));
        let merged = (|| {
            fs::create_dir(&tmp)?;
            for src in &sources {
                merge_into(src, &tmp)?;
            }
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
            fs::rename(&tmp, &dir)
        })();
        if let Err(e) = merged {
            let _ = fs::remove_dir_all(&tmp);
            return Err(InvokeError::Code(format!("merging layers into /opt: {e}")));
        }
        Ok(Some(dir))
    }

    /// Removes leftovers of merges interrupted by a crash.
    pub fn sweep_partial(&self) -> io::Result<()> {
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }
}

/// Lays the tree `src` over `dst`: directories merge, anything else replaces what `dst` has
/// at that path (a file, a link, or a whole directory of an earlier layer). Links are never
/// followed: a link is copied as a link (the intake kept every link inside its package, so
/// inside `/opt` it stays inside `/opt`).
pub(crate) fn merge_into(src: &Path, dst: &Path) -> io::Result<()> {
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let kind = entry.file_type()?;
        let existing = fs::symlink_metadata(&to).ok();
        if kind.is_dir() {
            match &existing {
                Some(m) if m.is_dir() => {}
                Some(_) => {
                    fs::remove_file(&to)?;
                    create_dir_like(&from, &to)?;
                }
                None => create_dir_like(&from, &to)?,
            }
            merge_into(&from, &to)?;
            continue;
        }
        match &existing {
            Some(m) if m.is_dir() => fs::remove_dir_all(&to)?,
            Some(_) => fs::remove_file(&to)?,
            None => {}
        }
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to)?;
        }
    }
    Ok(())
}

fn create_dir_like(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir(to)?;
    let mode = fs::metadata(from)?.permissions().mode();
    fs::set_permissions(to, fs::Permissions::from_mode(mode | 0o700))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip(files: &[(&str, &str, u32)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, body, mode) in files {
            let o = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
            w.start_file(*name, o).unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn layer(dir: &Path, name: &str, files: &[(&str, &str, u32)]) -> LayerCode {
        let path = dir.join(format!("{name}.zip"));
        fs::write(&path, zip(files)).unwrap();
        LayerCode {
            blob: name.into(),
            zip_path: path,
        }
    }

    fn cache(dir: &Path) -> LayerCache {
        let code = Arc::new(CodeCache::new(dir.join("code")).unwrap());
        LayerCache::new(dir.join("layers"), code).unwrap()
    }

    #[test]
    fn later_layers_win_and_the_merge_is_built_once() {
        let t = tempfile::tempdir().unwrap();
        let a = layer(
            t.path(),
            "a",
            &[
                ("python/m.py", "A", 0o644),
                ("python/only_a.py", "a", 0o644),
                ("bin/tool", "#!/bin/sh\n", 0o755),
            ],
        );
        let b = layer(
            t.path(),
            "b",
            &[
                ("python/m.py", "B", 0o644),
                ("bin/tool/x", "dir now", 0o644),
            ],
        );
        let c = cache(t.path());
        let opt = c.prepare(&[a.clone(), b.clone()]).unwrap().unwrap();
        assert_eq!(fs::read_to_string(opt.join("python/m.py")).unwrap(), "B");
        assert_eq!(
            fs::read_to_string(opt.join("python/only_a.py")).unwrap(),
            "a"
        );
        // A later layer's directory replaces an earlier layer's file.
        assert_eq!(
            fs::read_to_string(opt.join("bin/tool/x")).unwrap(),
            "dir now"
        );
        // The other order gives the other winner, in a tree of its own.
        let reversed = c.prepare(&[b.clone(), a.clone()]).unwrap().unwrap();
        assert_ne!(reversed, opt);
        assert_eq!(
            fs::read_to_string(reversed.join("python/m.py")).unwrap(),
            "A"
        );
        let mode = fs::metadata(reversed.join("bin/tool"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "modes are kept");
        // Built once: the same set is the same directory, untouched.
        fs::write(opt.join("marker"), "").unwrap();
        assert_eq!(c.prepare(&[a, b]).unwrap().unwrap(), opt);
        assert!(opt.join("marker").exists());
        assert_eq!(
            fs::read_dir(t.path().join("layers")).unwrap().count(),
            2,
            "no temporary directories left"
        );
    }

    #[test]
    fn one_layer_is_its_extraction_and_none_is_no_opt() {
        let t = tempfile::tempdir().unwrap();
        let a = layer(t.path(), "a", &[("bootstrap", "#!/bin/sh\n", 0o755)]);
        let c = cache(t.path());
        assert_eq!(c.prepare(&[]).unwrap(), None);
        let opt = c.prepare(std::slice::from_ref(&a)).unwrap().unwrap();
        assert_eq!(opt, t.path().join("code").join("a"));
        assert!(opt.join("bootstrap").is_file());
    }

    #[test]
    fn links_are_copied_as_links() {
        let t = tempfile::tempdir().unwrap();
        let (src, dst) = (t.path().join("src"), t.path().join("dst"));
        fs::create_dir_all(src.join("lib")).unwrap();
        fs::write(src.join("lib/libx.so.1"), "x").unwrap();
        std::os::unix::fs::symlink("libx.so.1", src.join("lib/libx.so")).unwrap();
        fs::create_dir_all(dst.join("lib")).unwrap();
        fs::write(dst.join("lib/libx.so"), "old").unwrap();
        merge_into(&src, &dst).unwrap();
        assert_eq!(
            fs::read_link(dst.join("lib/libx.so")).unwrap(),
            Path::new("libx.so.1")
        );
        assert_eq!(fs::read_to_string(dst.join("lib/libx.so")).unwrap(), "x");
    }

    #[test]
    fn set_keys_depend_on_order() {
        let l = |b: &str| LayerCode {
            blob: b.into(),
            zip_path: PathBuf::new(),
        };
        assert_ne!(set_key(&[l("a"), l("b")]), set_key(&[l("b"), l("a")]));
        assert_eq!(set_key(&[l("a"), l("b")]), set_key(&[l("a"), l("b")]));
    }
}
