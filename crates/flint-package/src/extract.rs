//! Writing a validated package to disk.
//!
//! Every check of [`inspect_zip`](crate::inspect_zip) runs here too, on the same single pass;
//! what this module adds is care about the filesystem:
//! - only normalised paths (see `path.rs`) are joined to the destination, and every parent
//!   directory is created by us and then checked with `lstat` to be a real directory;
//! - files are opened with `O_CREAT | O_EXCL`, which never follows a symlink, even a dangling
//!   one;
//! - symlinks are created *last*, after every regular file has been written and every link
//!   target has been checked against the whole archive, so no write can ever go through a link
//!   of the archive (the tree model refuses such archives anyway);
//! - directories stay `0700` while we write into them and get their final mode at the end,
//!   always with the owner's `rwx` kept so that cleanup and later replacement can remove them;
//! - on any error the partial output is removed.
//!
//! Not defended against: another process racing us inside the destination directory while we
//! extract. The destination is expected to be private to the caller (a fresh directory under
//! flint's data dir).

use std::collections::{HashMap, HashSet};
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::error::PackageError;
use crate::tree::EntryKind;
use crate::{InspectedPackage, PackageLimits, PlannedEntry, Sink, process};

/// The result of a successful [`extract_zip`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedPackage {
    /// The same figures [`inspect_zip`](crate::inspect_zip) returns.
    pub package: InspectedPackage,
    /// The directory the package was written to.
    pub root: PathBuf,
    /// Regular files written.
    pub files: usize,
    /// Directories created, explicit or implied by an entry below them (not counting `root`).
    pub dirs: usize,
    /// Symlinks created.
    pub symlinks: usize,
}

/// Validates a deployment package and writes it into `dest`.
///
/// `dest` must not exist (its parent must) or must be an empty directory; it must not be a
/// symlink. Files keep the permission bits recorded in the zip (so a `bootstrap` stays
/// executable), without setuid/setgid/sticky; entries without unix bits get `0644` (files) or
/// `0755` (directories). Directories always keep owner `rwx`. Symlinks are created as symlinks.
///
/// On any error nothing is left behind: a `dest` we created is removed, a pre-existing empty
/// `dest` is emptied again.
pub fn extract_zip(
    bytes: &[u8],
    dest: &Path,
    limits: &PackageLimits,
) -> Result<ExtractedPackage, PackageError> {
    let created_dest = prepare_destination(dest)?;
    let mut sink = DiskSink {
        root: dest.to_path_buf(),
        known_dirs: HashSet::new(),
        dir_permissions: HashMap::new(),
        files: 0,
        symlinks: 0,
    };
    match process(bytes, limits, &mut sink) {
        Ok(package) => Ok(ExtractedPackage {
            package,
            root: dest.to_path_buf(),
            files: sink.files,
            dirs: sink.known_dirs.len(),
            symlinks: sink.symlinks,
        }),
        Err(err) => {
            // Best effort: the original error is what the caller needs to see.
            let _ = clean_up(dest, created_dest);
            Err(err)
        }
    }
}

/// Returns whether we created `dest` (and so may remove it on failure).
fn prepare_destination(dest: &Path) -> Result<bool, PackageError> {
    match fs::symlink_metadata(dest) {
        Ok(meta) if meta.file_type().is_dir() => {
            let mut children = fs::read_dir(dest).map_err(|e| PackageError::io(dest, e))?;
            if children.next().is_some() {
                return Err(PackageError::DestinationNotEmpty {
                    path: dest.to_path_buf(),
                });
            }
            Ok(false)
        }
        Ok(_) => Err(PackageError::DestinationNotEmpty {
            path: dest.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .mode(0o755)
                .create(dest)
                .map_err(|e| PackageError::io(dest, e))?;
            // The umask may have narrowed the mode; Lambda's /var/task is world-readable.
            fs::set_permissions(dest, Permissions::from_mode(0o755))
                .map_err(|e| PackageError::io(dest, e))?;
            Ok(true)
        }
        Err(e) => Err(PackageError::io(dest, e)),
    }
}

fn clean_up(dest: &Path, created_dest: bool) -> io::Result<()> {
    if created_dest {
        // `remove_dir_all` does not follow symlinks, so links of the archive are only unlinked.
        return fs::remove_dir_all(dest);
    }
    for child in fs::read_dir(dest)? {
        let child = child?;
        if child.file_type()?.is_dir() {
            fs::remove_dir_all(child.path())?;
        } else {
            fs::remove_file(child.path())?;
        }
    }
    Ok(())
}

struct DiskSink {
    root: PathBuf,
    /// Directories (relative to `root`) we created and verified.
    known_dirs: HashSet<PathBuf>,
    /// Final permission bits per directory, applied in `finish`.
    dir_permissions: HashMap<PathBuf, u32>,
    files: usize,
    symlinks: usize,
}

impl DiskSink {
    /// Creates (or verifies) every directory from `root` down to and including `relative`.
    fn ensure_dir(&mut self, relative: &Path) -> Result<(), PackageError> {
        let mut current = PathBuf::new();
        for component in relative.components() {
            current.push(component);
            if self.known_dirs.contains(&current) {
                continue;
            }
            let full = self.root.join(&current);
            match DirBuilder::new().mode(0o700).create(&full) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let meta =
                        fs::symlink_metadata(&full).map_err(|e| PackageError::io(&full, e))?;
                    if !meta.file_type().is_dir() {
                        // The tree model makes this unreachable for a fresh destination.
                        return Err(PackageError::io(
                            &full,
                            io::Error::other("exists and is not a directory"),
                        ));
                    }
                }
                Err(e) => return Err(PackageError::io(&full, e)),
            }
            self.dir_permissions
                .entry(current.clone())
                .or_insert(crate::DEFAULT_DIR_PERMISSIONS);
            self.known_dirs.insert(current.clone());
        }
        Ok(())
    }

    fn ensure_parent(&mut self, relative: &Path) -> Result<(), PackageError> {
        match relative.parent() {
            Some(parent) => self.ensure_dir(parent),
            None => Ok(()),
        }
    }
}

impl Sink for DiskSink {
    type File = File;

    fn create_dir(&mut self, entry: &PlannedEntry) -> Result<(), PackageError> {
        if entry.path.is_root() {
            // `./`: the destination itself, whose mode is ours to choose.
            return Ok(());
        }
        let relative = entry.path.relative();
        self.ensure_dir(&relative)?;
        self.dir_permissions.insert(relative, entry.permissions);
        Ok(())
    }

    fn create_file(&mut self, entry: &PlannedEntry) -> Result<File, PackageError> {
        let relative = entry.path.relative();
        self.ensure_parent(&relative)?;
        let full = self.root.join(&relative);
        OpenOptions::new()
            .write(true)
            // O_CREAT | O_EXCL: fails on anything already there, symlinks included.
            .create_new(true)
            .mode(0o600)
            .open(&full)
            .map_err(|e| PackageError::io(&full, e))
    }

    fn finish_file(&mut self, entry: &PlannedEntry, file: File) -> Result<(), PackageError> {
        // fchmod on the open file: immune to the umask and to path games.
        file.set_permissions(Permissions::from_mode(entry.permissions))
            .map_err(|e| PackageError::io(self.root.join(entry.path.relative()), e))?;
        self.files += 1;
        Ok(())
    }

    fn finish(&mut self, links: &[(&PlannedEntry, String)]) -> Result<(), PackageError> {
        for (entry, target) in links {
            debug_assert_eq!(entry.kind, EntryKind::Symlink);
            let relative = entry.path.relative();
            self.ensure_parent(&relative)?;
            let full = self.root.join(&relative);
            std::os::unix::fs::symlink(target, &full).map_err(|e| PackageError::io(&full, e))?;
            self.symlinks += 1;
        }
        for (relative, bits) in &self.dir_permissions {
            let full = self.root.join(relative);
            // Every path here was created by us as a directory and nothing of the archive can
            // replace it (the tree model refuses file/dir/link clashes), so following is safe.
            fs::set_permissions(&full, Permissions::from_mode(bits | 0o700))
                .map_err(|e| PackageError::io(&full, e))?;
        }
        Ok(())
    }
}
