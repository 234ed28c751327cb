//! The seam between the sandbox's decisions and the kernel: every raw system call of the crate
//! is made under this module, and nowhere else.
//!
//! The sandbox's plans (which mounts in which order, which cgroup files get which values, which
//! privileges are dropped before which seccomp filter, what is cleaned up when a step fails) go
//! through the two traits of [`seam`], so unit tests can run them against the recording fake
//! (`fake.rs`) without root, and the real tests run them against [`seam::Linux`] as root. Two
//! traits, because the two sides live under different rules:
//!
//! - [`seam::ChildSys`]: what the cloned child (init, and the function's process until its
//!   `execve`) calls. It runs between `clone` and `exec` of a multi-threaded parent, so its
//!   implementation allocates nothing, takes no lock and never panics (see `child/mod.rs`).
//!   The child's code is generic over it: static dispatch, monomorphised for the zero-sized
//!   [`seam::Linux`], so the seam adds no indirection, allocation or lock there.
//! - [`seam::HostSys`]: what flint itself calls for a sandbox: the cgroup file system,
//!   `/proc/<pid>` id maps, pipes and the sync socket, pidfds, detached mounts. Ordinary code;
//!   used as `&'static dyn HostSys`, so that the public types carry no type parameter.
//!
//! [`linux_child`] and [`linux_host`] are the real implementations; [`linux_host`] also has the
//! few calls with no decision of the sandbox's around them, used directly: host probing,
//! `clone3` itself, the spawn helper's own socket, the network-namespace pool's `unshare`.
//! [`cmsg`] holds the `SCM_RIGHTS` plumbing both sides share.

pub(crate) mod cmsg;
#[cfg(test)]
pub(crate) mod fake;
pub(crate) mod linux_child;
pub(crate) mod linux_host;
pub(crate) mod loopdev;
pub(crate) mod seam;
