//! A small pool of ready network namespaces (only `lo`, up).
//!
//! Why: creating a network namespace is the most expensive part of a spawn (sandbox-notes
//! §1a: +0.4–0.6 ms median with a long tail, because the kernel serializes netns set-up and
//! tears old ones down asynchronously under the same locks). A background thread keeps a few
//! namespaces ready, so the child only `setns`es into one. Root only: joining a namespace
//! needs `CAP_SYS_ADMIN` over its owner, which a rootless child (in its own user namespace)
//! does not have; rootless spawns and an empty pool fall back to `CLONE_NEWNET`.
//!
//! The pool thread does nothing but `unshare(CLONE_NEWNET)`, bring `lo` up and open
//! `/proc/thread-self/ns/net`; it never creates sockets for flint, so it does not matter that
//! it ends up in a namespace of its own.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Condvar, Mutex};

use crate::sys::{linux_child, linux_host};

struct Inner {
    ready: Mutex<Vec<OwnedFd>>,
    wake: Condvar,
    stop: AtomicBool,
    target: usize,
}

/// See the module docs.
pub(crate) struct NetnsPool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NetnsPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetnsPool")
            .field("target", &self.inner.target)
            .finish()
    }
}

impl NetnsPool {
    /// Starts the refill thread; `None` if the thread cannot be started.
    pub(crate) fn start(target: usize) -> Option<Self> {
        let inner = Arc::new(Inner {
            ready: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            target,
        });
        let worker = inner.clone();
        std::thread::Builder::new()
            .name("flint-netns-pool".into())
            .spawn(move || refill(&worker))
            .ok()?;
        Some(Self { inner })
    }

    /// A ready namespace, if one is available (never waits).
    pub(crate) fn take(&self) -> Option<OwnedFd> {
        let fd = self.inner.ready.lock().pop();
        self.inner.wake.notify_one();
        fd
    }
}

impl Drop for NetnsPool {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        self.inner.wake.notify_one();
    }
}

fn refill(inner: &Inner) {
    loop {
        {
            let mut ready = inner.ready.lock();
            while ready.len() >= inner.target && !inner.stop.load(Ordering::Relaxed) {
                inner.wake.wait(&mut ready);
            }
            if inner.stop.load(Ordering::Relaxed) {
                ready.clear();
                return;
            }
        }
        match create() {
            Some(fd) => inner.ready.lock().push(fd),
            // Not permitted here (or out of resources): spawns fall back to CLONE_NEWNET.
            None => return,
        }
    }
}

/// A fresh network namespace with `lo` up, as an fd.
fn create() -> Option<OwnedFd> {
    // This (dedicated) thread moves into the new namespace.
    linux_host::unshare_network().ok()?;
    linux_child::loopback_up().ok()?;
    linux_host::open_thread_network_namespace().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "needs root: scripts/test runs it with --include-ignored"]
    fn pool_fills_and_hands_out_distinct_namespaces() {
        let pool = NetnsPool::start(2).unwrap();
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while got.len() < 3 && std::time::Instant::now() < deadline {
            match pool.take() {
                Some(fd) => got.push(fd),
                None => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
        assert_eq!(got.len(), 3, "pool did not refill");
        let inode = |fd: &OwnedFd| {
            use std::os::fd::AsRawFd;
            std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                .unwrap()
        };
        let own = std::fs::metadata("/proc/self/ns/net")
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap();
        let mut inodes: Vec<u64> = got.iter().map(inode).collect();
        assert!(!inodes.contains(&own), "handed out flint's own namespace");
        inodes.sort_unstable();
        inodes.dedup();
        assert_eq!(inodes.len(), 3);
    }
}
