//! The spawn sequence, flint's side (the child's is `child/mod.rs`):
//!
//! 1. check the spec, plan the mounts, get the cached root skeleton ([`Spawner::plan_root`]);
//! 2. open the channels (sync socket, error pipe, status pipe; `protocol.rs`), create the
//!    cgroups with their limits (a [`CgroupGuard`]: from here on every failure removes them);
//! 3. launch the child (`launch.rs`: `clone3` in-process or through the spawn helper);
//!    from here on the [`Sandbox`] owns everything, and dropping it on a failure kills the
//!    child, reaps it and removes the cgroups;
//! 4. with a user namespace, write `uid_map`/`gid_map` and say so; attach the child to the
//!    cgroups *before* it can exec anything; say "go";
//! 5. wait for the exec (end of file on the error pipe) and collect the listener; a
//!    pre-spawned environment instead returns once its root and listener are ready, with
//!    the child waiting for its claim on the returned [`ClaimChannel`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use parking_lot::Mutex;

use crate::cgroup::{CgroupGuard, CgroupHandle, Limits};
use crate::ephemeral::{EphemeralStore, HostTmp};
use crate::error::{Result, SandboxError};
use crate::host::CgroupFlavor;
use crate::launch::Launch;
use crate::netns::NetnsPool;
use crate::plan::{ChildFds, PlanData, Settings, Start};
use crate::protocol::{Failure, ToChild, ToParent};
use crate::rootfs::{self, HostFacts, MountStep, TmpMount};
use crate::sandbox::Sandbox;
use crate::spec::{MAX_EXTRA_FDS, NetworkMode, SandboxSpec};
use crate::sys::seam::HostSys;

/// Where environments' cgroups go, when cgroups are enforced.
#[derive(Debug, Clone)]
pub(crate) struct CgroupTarget {
    pub flavor: CgroupFlavor,
    pub parent: String,
}

/// The channel a pre-spawned environment is claimed through (see `prespawn.rs`).
#[derive(Debug)]
pub(crate) struct ClaimChannel {
    /// flint's end of the sync socket.
    pub sync: OwnedFd,
    /// Read end of the error pipe.
    pub err_r: OwnedFd,
}

type SkeletonKey = (u32, u32, Vec<(PathBuf, bool)>);

/// Everything the spawn sequence needs, fixed per [`crate::Sandboxer`].
#[derive(Debug)]
pub(crate) struct Spawner {
    pub sys: &'static dyn HostSys,
    pub launcher: Box<dyn Launch>,
    pub settings: Settings,
    /// `None`: environments get no cgroups (development mode).
    pub cgroups: Option<CgroupTarget>,
    pub facts: HostFacts,
    /// Where the root skeletons are materialized.
    pub state_dir: PathBuf,
    pub netns_pool: Option<NetnsPool>,
    /// Disk-backed `/tmp`s; `None`: a tmpfs (`rootfs::TmpMount::Memory`).
    pub ephemeral: Option<EphemeralStore>,
    skeletons: Mutex<HashMap<SkeletonKey, PathBuf>>,
}

impl Spawner {
    pub(crate) fn new(
        sys: &'static dyn HostSys,
        launcher: Box<dyn Launch>,
        settings: Settings,
        cgroups: Option<CgroupTarget>,
        state_dir: PathBuf,
        netns_pool: Option<NetnsPool>,
    ) -> Self {
        Self {
            sys,
            launcher,
            settings,
            cgroups,
            facts: HostFacts::gather(),
            state_dir,
            netns_pool,
            ephemeral: None,
            skeletons: Mutex::default(),
        }
    }

    /// Starts one environment (see the module docs). [`Start::Now`] returns once the function
    /// has been `execve`d; a pre-spawned one once its root and listener are ready, with its
    /// claim channel.
    pub(crate) fn spawn(
        &self,
        spec: SandboxSpec,
        start: Start,
    ) -> Result<(Sandbox, Option<ClaimChannel>)> {
        let (mounts, skeleton, host_tmp) = self.plan_root(&spec, start)?;
        let (sync_parent, sync_child) = self.sys.socketpair().map_err(sys_err("socketpair"))?;
        let (err_r, err_w) = self.sys.pipe().map_err(sys_err("pipe2"))?;
        let (status_r, status_w) = self.sys.pipe().map_err(sys_err("pipe2"))?;
        let cgroup = self.create_cgroup(&spec)?;
        let pooled_netns = match (&self.netns_pool, spec.network) {
            (Some(pool), NetworkMode::Private) => pool.take(),
            _ => None,
        };
        let plan = PlanData::new(
            &spec,
            self.settings,
            &mounts,
            &skeleton,
            rootfs::root_remount_flags(rootfs::locked_flags(self.sys, &skeleton)),
            pooled_netns.is_some(),
            start,
        );
        let fds = ChildFds {
            sync: sync_child.as_raw_fd(),
            err_w: err_w.as_raw_fd(),
            status_w: status_w.as_raw_fd(),
            stdout: spec.stdout.as_raw_fd(),
            stderr: spec.stderr.as_raw_fd(),
            extra: {
                let mut extra = [-1; MAX_EXTRA_FDS];
                for (slot, fd) in extra.iter_mut().zip(&spec.extra_fds) {
                    *slot = fd.as_raw_fd();
                }
                extra
            },
            n_extra: spec.extra_fds.len(),
            netns: pooled_netns.as_ref().map_or(-1, AsRawFd::as_raw_fd),
        };
        let child = self.launcher.launch(&plan, &fds)?;
        // The child owns its copies now; close ours so EOF means what it should.
        drop((sync_child, err_w, status_w, pooled_netns));
        drop((spec.stdout, spec.stderr, spec.extra_fds));
        let mut sb = Sandbox::started(self.sys, spec.id, child, status_r, cgroup);
        self.map_user_namespace(&sb, &sync_parent, spec.uid, spec.gid)?;
        sb.attach_to_cgroups()?;
        match start {
            Start::Now => {
                // "go" right away: the child only waits for it once its root is ready, by
                // which time it is usually already there. The listener is collected after the
                // exec: the child binds it before it waits for "go", so it exists before the
                // function runs, and reading it afterwards saves a round trip (each is a
                // scheduler wake-up, which costs milliseconds on a loaded host).
                self.send(&sync_parent, ToChild::Go);
                await_exec(err_r)?;
                if spec.runtime_api_port.is_some() {
                    let listener = self.receive_listener(&sync_parent)?.ok_or_else(|| {
                        SandboxError::ChildSetup {
                            step: "start",
                            detail: String::new(),
                            source: io::Error::other("child exec'd without passing the listener"),
                        }
                    })?;
                    sb.set_listener(listener);
                }
                // The child's root is complete: its /tmp no longer needs flint's mount.
                drop(host_tmp);
                Ok((sb, None))
            }
            Start::Prespawned { .. } => {
                // The listener comes once the child's root is ready; then "go" (the child
                // starts a pre-started runtime, which must be in the cgroups, and waits for
                // its claim). Without it, the child failed: its error record says why.
                let Some(listener) = self.receive_listener(&sync_parent)? else {
                    return Err(read_child_error(err_r).unwrap_or(SandboxError::ChildSetup {
                        step: "start",
                        detail: String::new(),
                        source: io::Error::other("pre-spawned child exited without its listener"),
                    }));
                };
                sb.set_listener(listener);
                drop(host_tmp);
                self.send(&sync_parent, ToChild::Go);
                Ok((
                    sb,
                    Some(ClaimChannel {
                        sync: sync_parent,
                        err_r,
                    }),
                ))
            }
        }
    }

    /// Step 1: validates the spec and returns the mount calls and the skeleton they assemble.
    /// A pre-spawned environment leaves out the code mounts (`/var/task`, `/opt`): they are
    /// attached at claim time as detached mounts (`prespawn.rs`). With a disk-backed `/tmp`
    /// its file system is made and mounted here; flint's mount of it is detached when the
    /// returned [`HostTmp`] is dropped.
    fn plan_root(
        &self,
        spec: &SandboxSpec,
        start: Start,
    ) -> Result<(Vec<MountStep>, PathBuf, Option<HostTmp>)> {
        spec.validate()?;
        for (what, p) in spec.host_dirs() {
            if let Some(p) = p
                && !p.is_dir()
            {
                return Err(SandboxError::InvalidSpec(format!(
                    "{what} {} is not a directory",
                    p.display()
                )));
            }
        }
        let mut extra_is_file = Vec::new();
        for (src, _) in &spec.extra_ro_binds {
            let md = std::fs::metadata(src).map_err(|e| SandboxError::io("stat", src, e))?;
            extra_is_file.push(!md.is_dir());
        }
        let mut plan = rootfs::plan_root(&self.facts, spec, &extra_is_file);
        if start != Start::Now {
            plan = plan.without_code();
        }
        let skeleton = self.skeleton(spec, &extra_is_file, &plan)?;
        let host_tmp = match &self.ephemeral {
            Some(store) => Some(store.create(&spec.id, spec.tmp_size_mb)?),
            None => None,
        };
        let tmp = match &host_tmp {
            Some(t) => TmpMount::Disk {
                host_dir: t.path().to_path_buf(),
            },
            None => TmpMount::Memory {
                size_mb: spec.tmp_size_mb,
            },
        };
        let mounts = rootfs::mount_steps(&plan, &skeleton, &tmp, |p| {
            rootfs::locked_flags(self.sys, p)
        });
        Ok((mounts, skeleton, host_tmp))
    }

    /// The cached skeleton for this spec's shape. The skeleton depends only on the host facts
    /// (fixed per `Sandboxer`), uid/gid and the extra bind targets, so that is the key; this
    /// saves hashing the skeleton's content (ld.so.cache, ...) on every spawn.
    fn skeleton(
        &self,
        spec: &SandboxSpec,
        extra_is_file: &[bool],
        plan: &rootfs::RootPlan,
    ) -> Result<PathBuf> {
        let key: SkeletonKey = (
            spec.uid,
            spec.gid,
            spec.extra_ro_binds
                .iter()
                .map(|(_, d)| d.clone())
                .zip(extra_is_file.iter().copied())
                .collect(),
        );
        if let Some(p) = self.skeletons.lock().get(&key) {
            return Ok(p.clone());
        }
        let p = rootfs::materialize(&self.state_dir, &plan.skeleton)?;
        self.skeletons.lock().insert(key, p.clone());
        Ok(p)
    }

    /// Step 2: the environment's cgroups with the spec's limits, if cgroups are enforced.
    fn create_cgroup(&self, spec: &SandboxSpec) -> Result<Option<CgroupGuard>> {
        let Some(target) = &self.cgroups else {
            return Ok(None);
        };
        let limits = Limits::new(spec.memory_mb, spec.cpu_millis, spec.pids_max);
        CgroupHandle::create(self.sys, &target.flavor, &target.parent, &spec.id, &limits).map(Some)
    }

    /// Step 4a: with a user namespace, the child waits for its id maps.
    fn map_user_namespace(&self, sb: &Sandbox, sync: &OwnedFd, uid: u32, gid: u32) -> Result<()> {
        if self.settings.user_namespace {
            write_id_maps(self.sys, sb.pid(), uid, gid)?;
            self.send(sync, ToChild::UserNamespaceMapped);
        }
        Ok(())
    }

    /// Sends one message to the child. A failed send means the child already died; its
    /// error record (or the missing listener, or the claim) tells why, so the result is not
    /// needed here.
    fn send(&self, sync: &OwnedFd, msg: ToChild) {
        let _ = self.sys.send(sync.as_fd(), &[msg.byte()], &[]);
    }

    /// The listener the child sends over `sync` (`None`: end of file, the child is gone).
    fn receive_listener(&self, sync: &OwnedFd) -> Result<Option<TcpListener>> {
        let unexpected = || SandboxError::Sys {
            op: "recvmsg",
            source: io::Error::other("unexpected message from sandbox child"),
        };
        let Some(msg) = self
            .sys
            .recv(sync.as_fd(), 1, 1)
            .map_err(sys_err("recvmsg"))?
        else {
            return Ok(None);
        };
        match (msg.data.first().map(|&b| ToParent::decode(b)), msg.fds) {
            (Some(Ok(ToParent::Listener)), fds) if fds.len() == 1 => {
                Ok(fds.into_iter().next().map(TcpListener::from))
            }
            _ => Err(unexpected()),
        }
    }
}

fn sys_err(op: &'static str) -> impl Fn(io::Error) -> SandboxError {
    move |source| SandboxError::Sys { op, source }
}

/// With a user namespace: the function's ids map onto flint's own (the only ones allowed
/// rootless) or, as root, onto the same host ids, so files keep meaningful owners.
pub(crate) fn write_id_maps(sys: &dyn HostSys, pid: i32, uid: u32, gid: u32) -> Result<()> {
    let (host_uid, host_gid) = (sys.euid(), sys.egid());
    let (hu, hg) = if host_uid == 0 {
        (uid, gid)
    } else {
        (host_uid, host_gid)
    };
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let w = |f: &str, v: String| {
        sys.write_file(&proc.join(f), &v)
            .map_err(|e| SandboxError::io("write", proc.join(f), e))
    };
    w("setgroups", "deny".into())?;
    w("uid_map", format!("{uid} {hu} 1\n"))?;
    w("gid_map", format!("{gid} {hg} 1\n"))
}

/// Step 5: waits for the end of the error pipe. `Ok` means the function was `execve`d.
pub(crate) fn await_exec(err_r: OwnedFd) -> Result<()> {
    read_child_error(err_r).map_or(Ok(()), Err)
}

/// Reads the error pipe to EOF: `None` means the function was exec'd.
pub(crate) fn read_child_error(err_r: OwnedFd) -> Option<SandboxError> {
    let mut f = File::from(err_r);
    let mut rec = [0u8; Failure::LEN];
    let mut got = 0;
    while got < rec.len() {
        match f.read(&mut rec[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Some(SandboxError::Sys {
                    op: "read error pipe",
                    source: e,
                });
            }
        }
    }
    if got == 0 {
        return None;
    }
    let start_failed = |why: String| SandboxError::ChildSetup {
        step: "start",
        detail: String::new(),
        source: io::Error::other(why),
    };
    if got < rec.len() {
        return Some(start_failed("truncated error record".into()));
    }
    Some(match Failure::decode(&rec) {
        Ok(f) => f.into(),
        Err(e) => start_failed(e.to_string()),
    })
}

#[cfg(test)]
mod tests;
