//! What an environment's cgroup says of its memory: the charged peak, the memory in use as
//! Lambda's Max Memory Used counts it, the processes' own peaks, the charge marks that tell
//! whether a new sample is needed, and OOM kills.

use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use super::{CgroupHandle, keyed_value, read_file};
use crate::error::{Result, SandboxError};
use crate::memory_files::{HeldFiles, vm_hwm_bytes};
use crate::sys::seam::HostSys;

/// What [`CgroupHandle::memory_in_use`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemoryNow {
    /// Charged memory less the unmapped page cache.
    pub in_use: u64,
    /// The unmapped page cache (file pages no process maps).
    pub unmapped_file: u64,
}

impl CgroupHandle {
    /// Peak memory usage in bytes (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`).
    pub(crate) fn memory_peak(&self, sys: &dyn HostSys) -> Result<u64> {
        let p = match self {
            CgroupHandle::V1 { memory, .. } => memory.join("memory.max_usage_in_bytes"),
            CgroupHandle::V2 { dir } => dir.join("memory.peak"),
        };
        let s = read_file(sys, &p)?;
        s.trim()
            .parse()
            .map_err(|_| SandboxError::io("parse", p, io::Error::from(ErrorKind::InvalidData)))
    }

    /// What the cgroup is charged now and at its peak (v1 `memory.usage_in_bytes` and
    /// `memory.max_usage_in_bytes`, v2 `memory.current` and `memory.peak`): two reads of a
    /// number each, a fraction of [`CgroupHandle::memory_in_use`]'s cost (see
    /// `Sandbox::memory_peak_bytes` for what an unchanged pair tells).
    pub(crate) fn charge_marks(
        &self,
        sys: &dyn HostSys,
        files: &mut HeldFiles,
    ) -> Result<[u64; 2]> {
        let [now, peak] = match self {
            CgroupHandle::V1 { memory, .. } => [
                memory.join("memory.usage_in_bytes"),
                memory.join("memory.max_usage_in_bytes"),
            ],
            CgroupHandle::V2 { dir } => [dir.join("memory.current"), dir.join("memory.peak")],
        };
        let mut read = |p: &Path| -> Result<u64> {
            let text = files
                .read(sys, p)
                .map_err(|e| SandboxError::io("read", p, e))?;
            text.trim()
                .parse()
                .map_err(|_| SandboxError::io("parse", p, io::Error::from(ErrorKind::InvalidData)))
        };
        Ok([read(&now)?, read(&peak)?])
    }

    /// Memory the environment uses now, as Lambda's Max Memory Used counts it, from one read
    /// of `memory.stat` (this runs on every invocation, through `files`, which keeps it
    /// open): anonymous memory, mapped file pages (libraries, `mmap`), shared memory
    /// (`/dev/shm`) and, on v2, the kernel's own. Page cache no process maps is left out:
    /// above all `/tmp`'s files (a disk on Lambda, see `ephemeral.rs`) and files that were
    /// read, reclaimable and not the function's memory.
    pub(crate) fn memory_in_use(
        &self,
        sys: &dyn HostSys,
        files: &mut HeldFiles,
    ) -> Result<MemoryNow> {
        let (stat, keys): (PathBuf, &[&str]) = match self {
            CgroupHandle::V1 { memory, .. } => {
                (memory.join("memory.stat"), &["rss", "mapped_file", "shmem"])
            }
            CgroupHandle::V2 { dir } => (
                dir.join("memory.stat"),
                &["anon", "file_mapped", "shmem", "kernel"],
            ),
        };
        let stat = files
            .read(sys, &stat)
            .map_err(|e| SandboxError::io("read", &stat, e))?;
        let get = |k| keyed_value(&stat, k).unwrap_or(0);
        let mapped = match self {
            CgroupHandle::V1 { .. } => get("mapped_file"),
            CgroupHandle::V2 { .. } => get("file_mapped"),
        };
        Ok(MemoryNow {
            in_use: keys.iter().map(|k| get(k)).sum(),
            unmapped_file: (get("active_file") + get("inactive_file")).saturating_sub(mapped),
        })
    }

    /// The sum of the peak resident sizes (`VmHWM`) of the processes now in the cgroup
    /// except `skip` (the sandbox's init, whose own few hundred KB are not the function's):
    /// catches a process's peak between two [`CgroupHandle::memory_in_use`] samples. Every
    /// controller holds the same processes, so one `cgroup.procs` is read. The files stay
    /// open in `files` between calls; those of processes that left are closed.
    pub(crate) fn processes_peak_rss(
        &self,
        sys: &dyn HostSys,
        files: &mut HeldFiles,
        skip: i32,
    ) -> u64 {
        let procs_file = self.dirs()[0].join("cgroup.procs");
        let pids: Vec<i32> = files
            .read(sys, &procs_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse::<i32>().ok())
            .filter(|pid| *pid != skip)
            .collect();
        let status_files: Vec<PathBuf> = pids
            .iter()
            .map(|pid| PathBuf::from(format!("/proc/{pid}/status")))
            .collect();
        let total = status_files
            .iter()
            .filter_map(|status| vm_hwm_bytes(&files.read(sys, status).ok()?))
            .sum();
        files.retain(|p| !p.starts_with("/proc") || status_files.iter().any(|s| s == p));
        total
    }

    /// Number of OOM kills in this cgroup (v1 `memory.oom_control`, v2 `memory.events`).
    pub(crate) fn oom_kills(&self, sys: &dyn HostSys) -> Result<u64> {
        let p = match self {
            CgroupHandle::V1 { memory, .. } => memory.join("memory.oom_control"),
            CgroupHandle::V2 { dir } => dir.join("memory.events"),
        };
        Ok(keyed_value(&read_file(sys, &p)?, "oom_kill").unwrap_or(0))
    }
}
