//! The kernel files behind Max Memory Used, read on every invocation (`memory.stat`,
//! `cgroup.procs`, `/proc/<pid>/status`): kept open between reads ([`HeldFiles`]), because
//! an `open` of a cgroup or proc file costs as much as generating its text and this is on
//! the warm path; and the one parse of a process's peak resident size ([`vm_hwm_bytes`]).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::sys::seam::HostSys;

/// Open descriptors by path, and one buffer they are read into.
#[derive(Debug, Default)]
pub(crate) struct HeldFiles {
    fds: HashMap<PathBuf, OwnedFd>,
    buf: Vec<u8>,
}

impl HeldFiles {
    /// The whole of `path` as it is now, opened on the first read and read from offset 0
    /// after that. A read that fails (a process that exited: `ESRCH`) closes the file, so
    /// the next read opens it afresh.
    pub(crate) fn read(&mut self, sys: &dyn HostSys, path: &Path) -> io::Result<String> {
        if !self.fds.contains_key(path) {
            let fd = sys.open_for_reading(path)?;
            self.fds.insert(path.to_path_buf(), fd);
        }
        let fd = &self.fds[path];
        match sys.read_from_start(fd.as_fd(), &mut self.buf) {
            Ok(()) => Ok(String::from_utf8_lossy(&self.buf).into_owned()),
            Err(e) => {
                self.fds.remove(path);
                Err(e)
            }
        }
    }

    /// Closes every file `keep` does not want any more (the status files of processes that
    /// left), so the set stays as small as the environment's process list.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Path) -> bool) {
        self.fds.retain(|path, _| keep(path));
    }

    /// How many files are open (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.fds.len()
    }
}

/// Peak resident size (`VmHWM`) in a `/proc/<pid>/status`, in bytes.
pub(crate) fn vm_hwm_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line["VmHWM:".len()..]
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}
