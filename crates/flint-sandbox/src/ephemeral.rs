//! Disk-backed `/tmp`: on Lambda `/tmp` is a disk of `EphemeralStorage` bytes, not memory.
//!
//! A tmpfs would be charged to the function's memory cgroup (a 128 MB function dies after
//! ~100 MB in `/tmp`, and Max Memory Used counts the files). Instead each environment gets
//! its own ext4 file system in a sparse image file on flint's state disk, attached to a loop
//! device (direct I/O, so the image's own pages do not sit in the host's page cache):
//!
//! - the size limit is exact: the image is calibrated once per size so that an unprivileged
//!   writer sees exactly `EphemeralStorage` bytes free (`statvfs` `f_bavail`; ext4's own
//!   metadata and reserved clusters are added on top), and gets `ENOSPC` there;
//! - the host's disk is protected: a sparse image never grows beyond its size, and an
//!   environment is refused when the disk has less free than one more full `/tmp`;
//! - nothing is left behind: the image is unlinked as soon as the loop device holds it, the
//!   device detaches itself when its file system's last mount goes (`LO_FLAGS_AUTOCLEAR`),
//!   and flint's own mount is detached once the child has bound it into its root: from then
//!   on the only mount is in the environment's mount namespace, and it dies with it. A
//!   crash can leave images and mounts in the store's directory; [`EphemeralStore::open`]
//!   removes them.
//!
//! The file pages of `/tmp` are still charged to the environment's memory cgroup, as the
//! page cache of any file it writes is, but they are reclaimable (written back to the image
//! under pressure): the function is not OOM-killed for them, and Max Memory Used leaves them
//! out (`cgroup.rs`, `CgroupHandle::memory_in_use`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::error::{Result, SandboxError};
use crate::sys::seam::HostSys;

const MIB: u64 = 1024 * 1024;
const BLOCK: u64 = 4096;
/// Mount options: the inode tables are left uninitialised by `mkfs` (so images stay small)
/// and must not be zeroed in the background either.
const MOUNT_DATA: &str = "noinit_itable";
/// How many file systems to try before settling for the closest one that is not smaller.
const CALIBRATION_TRIES: usize = 16;

/// Where the environments' `/tmp` images and mounts live, and the calibrated image of each
/// size.
#[derive(Debug)]
pub(crate) struct EphemeralStore {
    sys: &'static dyn HostSys,
    dir: PathBuf,
    templates: Mutex<HashMap<u64, PathBuf>>,
}

/// One environment's `/tmp`, mounted in flint's namespace at [`HostTmp::path`] until the
/// child has bound it into its root; dropping it detaches flint's mount.
#[derive(Debug)]
pub(crate) struct HostTmp {
    sys: &'static dyn HostSys,
    path: PathBuf,
}

impl HostTmp {
    /// The host directory the child binds onto its `/tmp`.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for HostTmp {
    fn drop(&mut self) {
        let _ = self.sys.unmount(&self.path);
        let _ = self.sys.rmdir(&self.path);
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> SandboxError + 'a {
    move |e| SandboxError::io(op, path, e)
}

/// One inode per 16 KiB of `/tmp` (ext4's default ratio), fixed by the target size rather
/// than the image's, so that growing the image during calibration grows only its free space.
fn inodes(target: u64) -> u64 {
    (target / 16384).max(1024)
}

/// The next image size to try, from the last one and the free bytes it gave.
pub(crate) fn next_image_bytes(bytes: u64, available: u64, target: u64) -> u64 {
    let grown = bytes as i128 + target as i128 - available as i128;
    (grown.max(BLOCK as i128) as u64).div_ceil(BLOCK) * BLOCK
}

impl EphemeralStore {
    /// The store in `dir`, with what a previous flint left there removed.
    pub(crate) fn open(sys: &'static dyn HostSys, dir: &Path) -> Result<Self> {
        let dir = dir.to_path_buf();
        sys.mkdir_all(&dir).map_err(io_err("mkdir", &dir))?;
        let store = Self {
            sys,
            dir,
            templates: Mutex::default(),
        };
        store.remove_stale()?;
        Ok(store)
    }

    /// Detaches every mount under the store (left by a crash) and removes every file and
    /// directory in it; how many entries went.
    pub(crate) fn remove_stale(&self) -> Result<usize> {
        let mountinfo = self
            .sys
            .read_file(Path::new("/proc/self/mountinfo"))
            .unwrap_or_default();
        for target in mounts_under(&mountinfo, &self.dir) {
            let _ = self.sys.unmount(&target);
        }
        let entries = std::fs::read_dir(&self.dir).map_err(io_err("read", &self.dir))?;
        let mut removed = 0;
        for entry in entries.flatten() {
            let p = entry.path();
            let r = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                self.sys.rmdir(&p)
            } else {
                self.sys.remove_file(&p)
            };
            r.map_err(io_err("remove", &p))?;
            removed += 1;
        }
        self.templates.lock().clear();
        Ok(removed)
    }

    /// A fresh `/tmp` of `size_mb` MiB for environment `id`, mounted at a host directory.
    pub(crate) fn create(&self, id: &str, size_mb: u64) -> Result<HostTmp> {
        let template = self.template(size_mb)?;
        let free = self
            .sys
            .available_bytes(&self.dir)
            .map_err(io_err("statvfs", &self.dir))?;
        if free < size_mb * MIB {
            return Err(SandboxError::Unsupported(format!(
                "disk space for a {size_mb} MB /tmp: {} MB free in {}",
                free / MIB,
                self.dir.display()
            )));
        }
        let image = self.dir.join(format!("{id}.img"));
        self.sys
            .copy_sparse(&template, &image)
            .map_err(io_err("copy", &image))?;
        self.mount_image(&image, &self.dir.join(id), true)
    }

    /// Attaches `image` to a loop device and mounts it at `target`; with `unlink` the image
    /// is removed at once (the device holds it until it detaches).
    fn mount_image(&self, image: &Path, target: &Path, unlink: bool) -> Result<HostTmp> {
        let attached = self.sys.attach_loop(image);
        if unlink || attached.is_err() {
            let _ = self.sys.remove_file(image);
        }
        let (device, keep_attached) = attached.map_err(io_err("attach loop device", image))?;
        self.sys.mkdir(target).map_err(io_err("mkdir", target))?;
        let tmp = HostTmp {
            sys: self.sys,
            path: target.to_path_buf(),
        };
        self.sys
            .mount_device(&device, target, "ext4", MOUNT_DATA)
            .map_err(io_err("mount", target))?;
        // Mounted: the file system holds the device now, and closing this descriptor arms
        // the auto-clear.
        drop(keep_attached);
        Ok(tmp)
    }

    /// The image whose file system has exactly `size_mb` MiB free, made on first use.
    fn template(&self, size_mb: u64) -> Result<PathBuf> {
        let mut templates = self.templates.lock();
        if let Some(t) = templates.get(&size_mb) {
            return Ok(t.clone());
        }
        let target = size_mb * MIB;
        let fin = self.dir.join(format!("template-{size_mb}.img"));
        let probe = self.dir.join(format!("template-{size_mb}.img.probe"));
        let mnt = self.dir.join(format!("template-{size_mb}.mnt"));
        // ext4 keeps about 2% (at most 16 MiB) plus its metadata: start a little above.
        let mut bytes = (target + target / 25 + 4 * MIB).div_ceil(BLOCK) * BLOCK;
        let mut best: Option<(u64, u64)> = None;
        let mut tried = Vec::new();
        for _ in 0..CALIBRATION_TRIES {
            let available = self.probe(&probe, &mnt, bytes, target)?;
            tried.push(bytes);
            if available >= target && best.is_none_or(|(_, a)| available < a) {
                best = Some((bytes, available));
            }
            if available == target {
                break;
            }
            bytes = next_image_bytes(bytes, available, target);
            while tried.contains(&bytes) {
                bytes += BLOCK;
            }
        }
        let (bytes, _) = best.ok_or_else(|| {
            SandboxError::Unsupported(format!("an ext4 /tmp of {size_mb} MB could not be sized"))
        })?;
        self.sys
            .make_ext4(&probe, bytes, inodes(target))
            .map_err(io_err("mkfs.ext4", &probe))?;
        {
            let tmp = self.mount_image(&probe, &mnt, false)?;
            // Lambda's /tmp: world-writable and sticky, and empty.
            self.sys
                .set_mode(tmp.path(), 0o1777)
                .map_err(io_err("chmod", tmp.path()))?;
            let _ = self.sys.rmdir(&tmp.path().join("lost+found"));
        }
        self.sys
            .rename(&probe, &fin)
            .map_err(io_err("rename", &fin))?;
        templates.insert(size_mb, fin.clone());
        Ok(fin)
    }

    /// Makes an image of `bytes`, mounts it and returns what it has free as the template will
    /// be (the image is gone afterwards).
    fn probe(&self, image: &Path, mnt: &Path, bytes: u64, target: u64) -> Result<u64> {
        self.sys
            .make_ext4(image, bytes, inodes(target))
            .map_err(io_err("mkfs.ext4", image))?;
        let tmp = self.mount_image(image, mnt, true)?;
        // lost+found holds a few blocks; the template goes without it.
        let _ = self.sys.rmdir(&tmp.path().join("lost+found"));
        self.sys
            .available_bytes(tmp.path())
            .map_err(io_err("statvfs", tmp.path()))
    }
}

/// Mount points in `/proc/self/mountinfo` text that lie under `dir`, deepest first.
pub(crate) fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir) && p != dir)
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out
}

#[cfg(test)]
mod tests;
