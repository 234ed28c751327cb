//! Kernel-isolated Lambda execution environments.
//!
//! One [`Sandbox`] is one Lambda execution environment: the function's bootstrap (or managed
//! runtime) runs in fresh mount, pid, ipc, uts and (by default) network namespaces, on a
//! read-only root assembled from the host, as an unprivileged uid with no capabilities, under
//! a seccomp filter and inside per-environment cgroups that enforce the memory size, the CPU
//! share and a process limit. The invoke layer starts one per concurrent invocation stream
//! and tears it down when it is reaped.
//!
//! # API
//!
//! ```no_run
//! use std::os::fd::OwnedFd;
//! use flint_sandbox::{Sandboxer, SandboxerConfig, SandboxSpec};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandboxer = Sandboxer::new(SandboxerConfig::default())?; // once, at start-up
//! println!("isolation: {}", sandboxer.host());                 // HostSupport: Display
//!
//! let (log_r, log_w) = std::io::pipe()?;
//! let mut spec = SandboxSpec::new(
//!     "env-42",                                  // unique id (cgroup names)
//!     "/var/lib/flint/code/abc",                 // -> /var/task (read-only)
//!     vec!["/var/task/bootstrap".into()],
//!     OwnedFd::from(log_w.try_clone()?),         // stdout
//!     OwnedFd::from(log_w),                      // stderr
//! );
//! spec.memory_mb = 512;
//! spec.cpu_millis = flint_sandbox::cpu_millis_for_memory(512, sandboxer.host().host_cpus);
//! spec.env = flint_sandbox::lambda_base_env();  // + the function's variables
//! spec.runtime_api_port = Some(flint_sandbox::RUNTIME_API_PORT);
//!
//! let mut sb = sandboxer.spawn(spec)?;          // blocking, a few ms: use spawn_blocking
//! let listener = sb.take_runtime_api_listener().unwrap(); // 127.0.0.1:9001 *inside*
//! // ... serve the Runtime API on `listener`, read logs from `log_r`,
//! // sb.freeze()/sb.thaw() between invocations, sb.memory_peak_bytes() for REPORT ...
//! let status = sb.wait()?;                      // or AsyncFd on sb.pidfd(), then try_wait()
//! let oom = sb.oom_killed()?;
//! sb.destroy()?;                                // kill all, remove cgroups (Drop: best effort)
//! # let _ = (listener, status, oom, log_r); Ok(()) }
//! ```
//!
//! Types: [`probe_host`] → [`HostSupport`] (with [`CgroupFlavor`] V1/V2/None and
//! [`HostSupport::missing_isolation`]); [`Sandboxer`] (configured by [`SandboxerConfig`]);
//! [`SandboxSpec`] (with [`NetworkMode`]); [`Sandbox`]; [`ExitStatus`]; one error type,
//! [`SandboxError`]. The seccomp policy table is public in [`seccomp`] for review.
//!
//! # What the function sees
//!
//! | path | content |
//! | --- | --- |
//! | `/usr`, `/lib*`, `/bin`, `/sbin` | host directories, read-only (symlinks stay symlinks on merged-/usr hosts) |
//! | `/etc` | synthesized: `passwd`/`group` (root, `sbx_user1051`, nobody), `hosts`, `resolv.conf`, `nsswitch.conf`, `ld.so.cache`, `localtime` → UTC, `ssl/certs` and `alternatives` bound read-only; no `shadow`, no `ssl/private`, nothing else |
//! | `/var/task`, `/opt`, `/var/runtime` | the spec's directories, read-only (empty when not given) |
//! | extra binds | e.g. a pyenv prefix at its own path, read-only |
//! | `/tmp` | tmpfs of `tmp_size_mb` (the only writable path besides `/dev/shm`) |
//! | `/dev` | `null zero full random urandom`, `shm` (tmpfs), `fd`, `stdin/out/err` links |
//! | `/proc` | a fresh proc of the sandbox's pid namespace |
//! | everything else | absent (`/root`, `/home`, `/work`, flint's data directory, `/sys`, ...) |
//!
//! pid 1 is a tiny init (see below); the function is its child (pid 2). Network: only `lo`,
//! up; the host's loopback (the flint API) is unreachable. `AWS_LAMBDA_RUNTIME_API` is set to
//! `127.0.0.1:<port>` when a Runtime API listener was requested.
//!
//! # Design: how a sandbox is spawned, and why
//!
//! flint is a multi-threaded tokio server, which rules out the simple `unshare` path
//! (`unshare(CLONE_NEWUSER)` fails in a multi-threaded process) and means that after a fork
//! only async-signal-safe code may run until `exec`. Of the three designs considered —
//! (a) `clone` with a child that runs only raw syscalls on data prepared beforehand,
//! (b) re-exec'ing the flint binary in a hidden single-threaded init mode,
//! (c) a single-threaded fork server started before tokio — this crate implements **(a)**:
//!
//! - it is the fastest (no second `exec` of a large binary, no IPC round trip) and needs no
//!   cooperation from the binary's `main` (tests and examples just call `spawn`);
//! - `clone3` creates every namespace (user namespace included, which is allowed for a *new*
//!   process even from a threaded parent) and returns a pidfd, which gives race-free
//!   signalling and an fd that async runtimes can poll for exit;
//! - the price is discipline in `child/`: the parent prepares every `CString`, pointer
//!   array and BPF program in a `ChildPlan`; the child uses raw syscalls only (notably
//!   `syscall(SYS_setresuid)` instead of glibc's `setuid`, which would try to synchronise
//!   threads that do not exist in the child, and glibc's plain-assembly `clone()` with
//!   `CLONE_VM | CLONE_VFORK` instead of `fork`, which would take the malloc lock).
//!   Signals are blocked around `clone3` so no handler of the parent runs in the child.
//! - known cost of (a): the child starts as a copy-on-write copy of flint's address space,
//!   and the kernel copies flint's page tables for it. On this project's machines (nested
//!   virtualization, where page-table work is expensive) that cost is large: with 512 MiB of
//!   resident memory in the parent, the sandbox spawn went from ~3.4 ms to ~37 ms (minimum
//!   over 40 runs). Two measures keep it in check: init starts the function with
//!   `CLONE_VM | CLONE_VFORK` (the posix_spawn technique: no second page-table copy), and
//!   design **(c)** is available as an option: [`SandboxerConfig::spawn_helper`] runs the
//!   `clone3` in a small single-threaded helper process ([`helper_main`]; the crate ships it
//!   as the `flint-sandbox-helper` binary) whose page tables are tiny. The helper clones with
//!   `CLONE_PARENT`, so flint is still the parent (reaps through the pidfd, gets `SIGCHLD`,
//!   parent-death signal), and everything else is identical. With the same 512 MiB parent the
//!   helper path measured ~14 ms minimum / 35 ms median vs 37 / 137 ms in-process, under
//!   heavy machine load. **Recommended for the flint server:**
//!
//!   ```no_run
//!   # fn main() -> Result<(), Box<dyn std::error::Error>> {
//!   // first thing in main(), before tokio starts any thread:
//!   if std::env::args_os().nth(1).is_some_and(|a| a == "__sandbox-helper") {
//!       flint_sandbox::helper_main(); // never returns
//!   }
//!   let config = flint_sandbox::SandboxerConfig {
//!       spawn_helper: Some((std::env::current_exe()?, vec!["__sandbox-helper".into()])),
//!       ..Default::default()
//!   };
//!   let sandboxer = flint_sandbox::Sandboxer::new(config)?;
//!   sandboxer.remove_stale_environments()?; // cgroups left by a crashed predecessor
//!   # Ok(()) }
//!   ```
//!
//! Measured with `cargo build --release -p flint-sandbox --bins --examples &&
//! target/release/examples/spawn_bench 200` (prints fork+exec next to the sandbox variants;
//! `FLINT_BENCH_BALLAST_MB=512` adds parent memory). On a quiet machine of this class the
//! notes' C prototype needed ~1.4 ms for the same namespaces and ~1.9 ms with v1 cgroups.
//! Here (same run, load average 10): bare fork+exec+wait of `/bin/true` min 0.90 / median
//! 1.5 ms; sandbox spawn→exec min 2.8 / median 10.6 ms; spawn+exit+destroy min 3.3 / median
//! 12.8 ms; through the helper spawn→exec min 3.0 / median 8.0 ms. The sandbox also creates
//! and attaches four v1 cgroups, installs seccomp, starts init and confirms the exec, and
//! each of its parent/child hand-offs is a scheduler wake-up, which is what the medians on
//! this shared, overloaded 2-vCPU machine mostly measure (they move by 2× between runs).
//!
//! Network namespaces are the slowest namespace to create (notes §1a), so as root a
//! background thread keeps a few ready (`SandboxerConfig::netns_pool`, default 4) and the
//! child joins one with `setns`; rootless spawns, and spawns that find the pool empty, use
//! `CLONE_NEWNET`.
//!
//! Every sandbox dies with flint: clones happen on one dedicated, never-exiting thread and
//! init arms `PR_SET_PDEATHSIG(SIGKILL)` (re-armed after the uid change, which clears it).
//!
//! Sequence (parent ⟷ child over a socketpair, errors over a close-on-exec pipe; the
//! messages are in `protocol.rs`):
//!
//! 1. parent: validate, plan mounts, get the cached root skeleton, create cgroups with
//!    limits, `clone3(CLONE_NEW{NS,PID,IPC,UTS[,NET][,USER]} | CLONE_PIDFD)`;
//! 2. parent: (user namespace) write `uid_map`/`gid_map`; attach the child to the cgroups
//!    *before* it can exec anything;
//! 3. child (pid 1): stdio + close inherited fds; mounts; fresh `/proc` *before* leaving the
//!    old root; `pivot_root(".", ".")` + detach; read-only `/`; hostname; `lo` up; if asked,
//!    bind `127.0.0.1:<port>` in its network namespace and send the listening socket to the
//!    parent with `SCM_RIGHTS` (works in rootless mode too, where the parent could not
//!    `setns` into the child's namespace);
//! 4. parent: send "go" (the child waits for it only after step 3); child: drop the
//!    capability bounding set, ambient caps, groups, gid, uid, remaining caps;
//!    `no_new_privs`; seccomp; start the function (pid 2, `CLONE_VM | CLONE_VFORK`), which
//!    resets signal dispositions and `execve`s;
//! 5. parent: EOF on the error pipe = `execve` succeeded; collect the listener (already
//!    queued on the socketpair) → `spawn` returns.
//!
//! pid 1 stays as a minimal init: it forwards signals to the function (so `SIGTERM` at
//! shutdown reaches a runtime that has no handler — a pid-1 runtime would ignore it),
//! reaps re-parented zombies (which would otherwise pile up to `pids_max`), and exits with
//! the function, after reporting its exact wait status through a pipe. The kernel then kills
//! everything left in the pid namespace, which is also how [`Sandbox::kill`] kills the whole
//! environment atomically (`SIGKILL` to init). Mounts exist only in the sandbox's mount
//! namespace, so teardown is: kill, reap, `rmdir` the cgroups.
//!
//! # Layout
//!
//! Every raw system call is made under `sys/`, behind two traits (`sys/seam.rs`):
//! `ChildSys`, what the cloned child calls (used through generics: the real implementation
//! is a zero-sized type, so the child's code compiles to the plain syscalls and stays free of
//! allocation and locks), and `HostSys`, what flint calls for a sandbox (the cgroup file
//! system, id maps, pipes and sockets, pidfds, detached mounts; a `&'static dyn`). The
//! sandbox's plans go through them, so unit tests run the plans against the recording fake
//! (`sys/fake.rs`) without root — the cgroup writes of each flavor, the child's step order,
//! the seccomp filters, the cleanup on each failure path — and the `#[ignore]`d integration
//! tests (`tests/`, run as root with `--include-ignored`) run them against the kernel.
//!
//! | module | owns |
//! | --- | --- |
//! | `sandboxer.rs` | [`Sandboxer`] (the per-host factory: checks, seccomp, cgroup parent, launcher) and [`SandboxerConfig`] |
//! | `spawn.rs` | the spawn sequence, flint's side: mount plan, channels, cgroups, launch, id maps, attach, "go", exec |
//! | `sandbox.rs` | [`Sandbox`], the running environment's handle (wait, signal, kill, freeze, statistics, teardown) |
//! | `child/` | the child's steps between `clone3` and `execve`, one module each, and init's loop |
//! | `launch.rs` | how the child is cloned: in-process on the spawner thread (`Launch` is the seam; `helper.rs` is the other one) |
//! | `helper.rs` | the spawn helper process ([`helper_main`]) and flint's connection to it |
//! | `plan.rs` | what the child is told: `PlanData` (owned, the helper's wire form) and `ChildPlan` (pointers) |
//! | `protocol.rs`, `specialization.rs` | the parent/child messages, error records and the claim frame |
//! | `rootfs.rs` | the root: skeleton, binds and the ordered mount calls |
//! | `cgroup.rs` | limits, the v1/v2 files, `CgroupGuard` (cgroups removed on drop), stale environments |
//! | `seccomp.rs` | the syscall deny-list and its compilation |
//! | `netns.rs` | the pool of ready network namespaces |
//! | `prespawn.rs` | pre-spawned environments, their shape and their claim |
//! | `plain.rs` | the unisolated development mode |
//! | `host.rs`, `spec.rs`, `error.rs` | host probing, the spec and its validation, [`SandboxError`] |
//!
//! # cgroups
//!
//! Detected at start from `/proc/self/mountinfo`: **v1** (also "hybrid" hosts, where the
//! controllers are bound to v1 even though a cgroup2 is mounted) uses `memory` (+`memsw` when
//! swap accounting exists, swappiness 0), `cpu` (CFS quota), `pids` and `freezer` under
//! `<hierarchy>/<cgroup_parent>/<id>`; **v2** uses one directory
//! `<root>/<cgroup_parent>/<id>` with `memory.max`, `memory.swap.max=0`, `cpu.max`,
//! `pids.max`, `cgroup.freeze`, `cgroup.kill`, `memory.peak`, `memory.events`; the
//! controllers are enabled in `cgroup.subtree_control` on the way down where possible.
//! Without usable cgroups `Sandboxer::new` fails unless `require_cgroups` is off
//! (development mode), in which case limits, freeze and memory statistics are unavailable.
//!
//! # Differences from AWS Lambda worth knowing
//!
//! - `/tmp` is a tmpfs, so what a function writes there is charged to its memory cgroup: a
//!   128 MB function cannot fill a 512 MB `/tmp` (it is OOM-killed first). On Lambda `/tmp`
//!   is disk-backed. A per-environment disk quota (loop device, project quotas) would fix it.
//! - `/dev/shm` exists (64 MiB tmpfs); Lambda has none (Python's `multiprocessing` fails
//!   there, works here).
//!
//! # Security notes
//!
//! Seccomp is a reviewed deny-list ([`seccomp::DENIED_SYSCALLS`]) rather than an allow-list
//! because functions run arbitrary language runtimes; see the module docs for the
//! reasoning. Landlock is available on most hosts ([`HostSupport::landlock_abi`]) but not
//! used yet: the mount namespace already removes everything the function must not see.
//!
//! init (pid 1 inside) is a copy-on-write copy of the process it was cloned from (flint, or
//! the small spawn helper). It runs as the function's uid but is non-dumpable, so
//! `/proc/1/{mem,maps,environ,fd}` are refused to the function (and `ptrace`,
//! `process_vm_readv` are denied by seccomp); its world-readable `/proc/1/cmdline` is
//! overwritten with `init`. The spawn helper additionally keeps flint's memory out of the
//! sandbox altogether.
//!
//! A pre-spawned environment's init keeps its privileges until the claim (it attaches the
//! code then). When its runtime is pre-started (see `prespawn.rs`), that runtime already runs
//! beside it, unprivileged and under seccomp like any function process, but before any
//! function code exists in the environment; init drops its privileges before it hands the
//! function over.

#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

mod cgroup;
mod child;
mod ephemeral;
mod error;
mod helper;
mod host;
mod launch;
mod memory_files;
mod netns;
mod plain;
mod plan;
mod prespawn;
mod protocol;
mod rootfs;
mod sandbox;
mod sandboxer;
pub mod seccomp;
mod spawn;
mod spec;
mod specialization;
mod sys;

pub use error::{Result, SandboxError};
pub use helper::{HELPER_FD_ENV, helper_main};
pub use host::{CgroupFlavor, HostSupport, probe_host};
pub use prespawn::{Prespawned, PrestartedRuntime, SandboxShape};
pub use protocol::{PRESTART_FD, PRESTART_READY};
pub use sandbox::{ExitStatus, Sandbox};
pub use sandboxer::{Sandboxer, SandboxerConfig, UserNamespaceMode, spawn};
pub use spec::{
    DEFAULT_GID, DEFAULT_PATH, DEFAULT_UID, MAX_EXTRA_FDS, NetworkMode, PRESTART_FD_ENV,
    PRESTART_ROOM_BYTES, PRESTART_ROOM_ENV, RUNTIME_API_PORT, SANDBOX_USER, SandboxSpec,
    cpu_millis_for_memory, init_cpu_millis, is_startup_variable, lambda_base_env,
};
