//! What the child is told to do, in two forms:
//!
//! - [`PlanData`]: owned and serializable (no pointers, no fds). Built by the parent from the
//!   spec; crosses to the spawn helper as bytes ([`PlanData::encode`]).
//! - [`ChildPlan`]: the same plan as C strings and pointer arrays, built from a [`PlanData`]
//!   right before `clone3` so that the child only reads memory that already exists (it must
//!   not allocate, see `child/mod.rs`).

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use libc::{c_char, c_ulong};

use crate::error::{Result, SandboxError};
use crate::rootfs::MountStep;
use crate::spec::{MAX_EXTRA_FDS, NetworkMode, SandboxSpec};

/// The `clone3` flags of a sandbox: fresh mount, pid, ipc and uts namespaces; a fresh network
/// namespace when the spec is private and none came from the pool; a user namespace when the
/// sandboxer uses them.
pub(crate) fn clone_flags(network: NetworkMode, pooled_netns: bool, user_namespace: bool) -> u64 {
    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
    if network == NetworkMode::Private && !pooled_netns {
        flags |= libc::CLONE_NEWNET;
    }
    if user_namespace {
        flags |= libc::CLONE_NEWUSER;
    }
    flags as u64
}

/// What a [`crate::Sandboxer`] contributes to every plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Sandboxes get a user namespace.
    pub user_namespace: bool,
    /// The host's highest capability number (the bounding set to drop).
    pub cap_last_cap: u32,
    /// `RLIMIT_NOFILE` inside.
    pub nofile: u64,
}

/// How a sandbox starts: normally, or pre-spawned (see `prespawn.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Start the spec's command after "go".
    Now,
    /// Wait for the claim after "go"; `prestart`: start the runtime (the spec's command)
    /// right away and hand it the function at the claim.
    Prespawned { prestart: bool },
}

/// Everything the child needs, in owned, serializable form (no pointers, no fds).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PlanData {
    pub clone_flags: u64,
    pub mounts: Vec<MountData>,
    pub root: Vec<u8>,
    pub root_remount_flags: u64,
    pub hostname: Vec<u8>,
    pub cwd: Vec<u8>,
    pub exec_candidates: Vec<Vec<u8>>,
    pub argv: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub uid: u32,
    pub gid: u32,
    pub wait_userns: bool,
    pub set_groups: bool,
    pub cap_last_cap: u32,
    pub lo_up: bool,
    pub listen_port: Option<u16>,
    pub nofile: u64,
    /// The helper request carries a pooled network namespace (its sixth fd) to join.
    pub pooled_netns: bool,
    /// Wait for a specialisation message after "go" (pre-spawned environment).
    pub prespawned: bool,
    /// Pre-spawned with its runtime (argv, env, cwd) started before the claim.
    pub prestart: bool,
}

/// One `mount(2)` call of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct MountData {
    pub src: Option<Vec<u8>>,
    pub target: Vec<u8>,
    pub fstype: Option<Vec<u8>>,
    pub flags: u64,
    pub data: Option<Vec<u8>>,
}

/// `c_ulong` is `u64` here but `u32` on 32-bit targets, hence the cast clippy calls useless.
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
pub(crate) fn ulong_to_u64(v: c_ulong) -> u64 {
    v as u64
}

fn bytes(p: &Path) -> Vec<u8> {
    p.as_os_str().as_bytes().to_vec()
}

impl PlanData {
    /// The plan of `spec`: assemble the root with `mounts` in `root` (the skeleton), remount
    /// it with `root_remount_flags`, then run the spec's command as `start` says.
    pub(crate) fn new(
        spec: &SandboxSpec,
        settings: Settings,
        mounts: &[MountStep],
        root: &Path,
        root_remount_flags: c_ulong,
        pooled_netns: bool,
        start: Start,
    ) -> Self {
        PlanData {
            clone_flags: clone_flags(spec.network, pooled_netns, settings.user_namespace),
            mounts: mounts
                .iter()
                .map(|m| MountData {
                    src: m.src.as_deref().map(bytes),
                    target: bytes(&m.target),
                    fstype: m.fstype.map(|f| f.as_bytes().to_vec()),
                    flags: ulong_to_u64(m.flags),
                    data: m.data.as_ref().map(|d| d.as_bytes().to_vec()),
                })
                .collect(),
            root: bytes(root),
            root_remount_flags: ulong_to_u64(root_remount_flags),
            hostname: spec.hostname.as_bytes().to_vec(),
            cwd: spec.cwd.as_bytes().to_vec(),
            exec_candidates: spec
                .exec_candidates()
                .into_iter()
                .map(String::into_bytes)
                .collect(),
            argv: spec.argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
            env: spec
                .effective_env()
                .iter()
                .map(|(k, v)| format!("{k}={v}").into_bytes())
                .collect(),
            uid: spec.uid,
            gid: spec.gid,
            wait_userns: settings.user_namespace,
            // After "deny" in /proc/<pid>/setgroups the call is refused; the host user's
            // supplementary groups are unmapped (nogroup) in that case anyway.
            set_groups: !settings.user_namespace,
            cap_last_cap: settings.cap_last_cap,
            lo_up: spec.network == NetworkMode::Private,
            listen_port: spec.runtime_api_port,
            nofile: settings.nofile,
            pooled_netns,
            prespawned: start != Start::Now,
            prestart: start == Start::Prespawned { prestart: true },
        }
    }

    /// Builds the pointer-based plan the child runs on.
    pub(crate) fn to_child_plan(
        &self,
        fds: ChildFds,
        bpf: Vec<seccompiler::BpfProgram>,
    ) -> Result<ChildPlan> {
        let opt = |o: &Option<Vec<u8>>| o.as_deref().map(cs).transpose();
        let mounts = self
            .mounts
            .iter()
            .map(|m| {
                Ok(RawMount {
                    src: opt(&m.src)?,
                    target: cs(&m.target)?,
                    fstype: opt(&m.fstype)?,
                    flags: m.flags as c_ulong, // u64 -> c_ulong (u32 on 32-bit targets)
                    data: opt(&m.data)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let list = |v: &[Vec<u8>]| v.iter().map(|s| cs(s)).collect::<Result<Vec<_>>>();
        let argv = list(&self.argv)?;
        let env = list(&self.env)?;
        let exec_candidates = list(&self.exec_candidates)?;
        Ok(ChildPlan {
            mounts,
            root: cs(&self.root)?,
            root_remount_flags: self.root_remount_flags as c_ulong,
            hostname: cs(&self.hostname)?,
            cwd: cs(&self.cwd)?,
            exec_candidate_ptrs: exec_candidates.iter().map(|c| c.as_ptr()).collect(),
            _exec_candidates: exec_candidates,
            argv_ptrs: ChildPlan::pointers(&argv),
            envp_ptrs: ChildPlan::pointers(&env),
            uid: self.uid,
            gid: self.gid,
            wait_userns: self.wait_userns,
            set_groups: self.set_groups,
            cap_last_cap: self.cap_last_cap,
            filters: ChildPlan::fprogs(&bpf),
            lo_up: self.lo_up,
            listen_port: self.listen_port,
            nofile: self.nofile,
            prespawned: self.prespawned,
            prestart: self.prestart,
            fds,
            argv_area: argv_area(),
            _argv: argv,
            _env: env,
            _bpf: bpf,
        })
    }

    /// The bytes the spawn helper receives ([`PlanData::decode`] reads them).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Enc(Vec::with_capacity(4096));
        e.u64(self.clone_flags);
        e.u64(self.mounts.len() as u64);
        for m in &self.mounts {
            e.opt(&m.src);
            e.bytes(&m.target);
            e.opt(&m.fstype);
            e.u64(m.flags);
            e.opt(&m.data);
        }
        e.bytes(&self.root);
        e.u64(self.root_remount_flags);
        e.bytes(&self.hostname);
        e.bytes(&self.cwd);
        for l in [&self.exec_candidates, &self.argv, &self.env] {
            e.u64(l.len() as u64);
            for s in l {
                e.bytes(s);
            }
        }
        e.u64(self.uid.into());
        e.u64(self.gid.into());
        e.u64(u64::from(self.wait_userns));
        e.u64(u64::from(self.set_groups));
        e.u64(self.cap_last_cap.into());
        e.u64(u64::from(self.lo_up));
        e.u64(self.listen_port.map_or(u64::MAX, u64::from));
        e.u64(self.nofile);
        e.u64(u64::from(self.pooled_netns));
        e.u64(u64::from(self.prespawned));
        e.u64(u64::from(self.prestart));
        e.0
    }

    /// The plan `buf` encodes; `None` for anything truncated, trailing or absurd.
    pub(crate) fn decode(buf: &[u8]) -> Option<Self> {
        let mut d = Dec(buf);
        let clone_flags = d.u64()?;
        let n = d.u64()?;
        let mut mounts = Vec::new();
        for _ in 0..n {
            mounts.push(MountData {
                src: d.opt()?,
                target: d.bytes()?,
                fstype: d.opt()?,
                flags: d.u64()?,
                data: d.opt()?,
            });
        }
        let root = d.bytes()?;
        let root_remount_flags = d.u64()?;
        let hostname = d.bytes()?;
        let cwd = d.bytes()?;
        let mut lists = Vec::new();
        for _ in 0..3 {
            let n = d.u64()?;
            let mut l = Vec::new();
            for _ in 0..n {
                l.push(d.bytes()?);
            }
            lists.push(l);
        }
        let env = lists.pop()?;
        let argv = lists.pop()?;
        let exec_candidates = lists.pop()?;
        let p = PlanData {
            clone_flags,
            mounts,
            root,
            root_remount_flags,
            hostname,
            cwd,
            exec_candidates,
            argv,
            env,
            uid: u32::try_from(d.u64()?).ok()?,
            gid: u32::try_from(d.u64()?).ok()?,
            wait_userns: d.u64()? != 0,
            set_groups: d.u64()? != 0,
            cap_last_cap: u32::try_from(d.u64()?).ok()?,
            lo_up: d.u64()? != 0,
            listen_port: u16::try_from(d.u64()?).ok(),
            nofile: d.u64()?,
            pooled_netns: d.u64()? != 0,
            prespawned: d.u64()? != 0,
            prestart: d.u64()? != 0,
        };
        d.0.is_empty().then_some(p)
    }
}

fn cs(s: &[u8]) -> Result<CString> {
    CString::new(s).map_err(|_| SandboxError::InvalidSpec("NUL byte in a path or string".into()))
}

struct Enc(Vec<u8>);

impl Enc {
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn opt(&mut self, b: &Option<Vec<u8>>) {
        match b {
            None => self.u64(u64::MAX),
            Some(b) => self.bytes(b),
        }
    }
}

struct Dec<'a>(&'a [u8]);

impl Dec<'_> {
    fn u64(&mut self) -> Option<u64> {
        let (h, t) = self.0.split_first_chunk::<8>()?;
        self.0 = t;
        Some(u64::from_le_bytes(*h))
    }
    fn take(&mut self, n: u64) -> Option<Vec<u8>> {
        let n = usize::try_from(n).ok()?;
        if n > self.0.len() {
            return None;
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Some(h.to_vec())
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.u64()?;
        self.take(n)
    }
    fn opt(&mut self) -> Option<Option<Vec<u8>>> {
        match self.u64()? {
            u64::MAX => Some(None),
            n => self.take(n).map(Some),
        }
    }
}

/// One prepared `mount(2)` call.
pub(crate) struct RawMount {
    pub src: Option<CString>,
    pub target: CString,
    pub fstype: Option<CString>,
    pub flags: c_ulong,
    pub data: Option<CString>,
}

/// File descriptors (parent's numbers, inherited by the child) the child needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildFds {
    /// Child end of the sync socketpair (see `protocol.rs`).
    pub sync: RawFd,
    /// Write end of the error pipe.
    pub err_w: RawFd,
    /// Write end of the exit-status pipe.
    pub status_w: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// Become fds 3.. in the function; only the first `n_extra` are used.
    pub extra: [RawFd; MAX_EXTRA_FDS],
    pub n_extra: usize,
    /// A ready network namespace to join (from the pool), or -1.
    pub netns: RawFd,
}

impl ChildFds {
    /// Every descriptor, in the order the spawn helper's request carries them: sync, error,
    /// status, stdout, stderr, [network namespace,] extra fds.
    pub(crate) fn in_request_order(&self) -> Vec<RawFd> {
        let mut all = vec![
            self.sync,
            self.err_w,
            self.status_w,
            self.stdout,
            self.stderr,
        ];
        if self.netns >= 0 {
            all.push(self.netns);
        }
        all.extend_from_slice(&self.extra[..self.n_extra]);
        all
    }

    /// The inverse of [`ChildFds::in_request_order`]; `None` if the count does not fit.
    pub(crate) fn from_request(fds: &[RawFd], pooled_netns: bool) -> Option<Self> {
        let first_extra = 5 + usize::from(pooled_netns);
        if !(first_extra..=first_extra + MAX_EXTRA_FDS).contains(&fds.len()) {
            return None;
        }
        let mut extra = [-1; MAX_EXTRA_FDS];
        for (slot, fd) in extra.iter_mut().zip(&fds[first_extra..]) {
            *slot = *fd;
        }
        Some(ChildFds {
            sync: fds[0],
            err_w: fds[1],
            status_w: fds[2],
            stdout: fds[3],
            stderr: fds[4],
            extra,
            n_extra: fds.len() - first_extra,
            netns: if pooled_netns { fds[5] } else { -1 },
        })
    }
}

/// Everything the child needs, prepared by the parent before `clone3`.
pub(crate) struct ChildPlan {
    pub mounts: Vec<RawMount>,
    pub root: CString,
    pub root_remount_flags: c_ulong,
    pub hostname: CString,
    pub cwd: CString,
    /// Owner of the memory `exec_candidate_ptrs` point into.
    pub _exec_candidates: Vec<CString>,
    /// Pointers to `exec_candidates` (not NULL-terminated).
    pub exec_candidate_ptrs: Vec<*const c_char>,
    pub argv_ptrs: Vec<*const c_char>,
    pub envp_ptrs: Vec<*const c_char>,
    pub uid: u32,
    pub gid: u32,
    pub wait_userns: bool,
    pub set_groups: bool,
    pub cap_last_cap: u32,
    pub filters: Vec<libc::sock_fprog>,
    pub lo_up: bool,
    pub listen_port: Option<u16>,
    pub nofile: u64,
    /// Pre-spawned: after the root and the listener are ready and "go" arrived, wait for a
    /// specialisation message (code mounts, argv, environment; see `prespawn.rs`).
    pub prespawned: bool,
    /// Pre-spawned with its runtime pre-started: after "go", start `argv`/`envp`/`cwd` at
    /// once (unprivileged, with [`crate::PRESTART_FD`] open) and hand it the function's cwd
    /// and environment at the claim instead of executing anything then.
    pub prestart: bool,
    pub fds: ChildFds,
    /// `[arg_start, arg_end)` of the cloning process (see [`argv_area`]).
    pub argv_area: Option<(usize, usize)>,
    // Owners of the memory the raw pointers above point into.
    pub _argv: Vec<CString>,
    pub _env: Vec<CString>,
    pub _bpf: Vec<seccompiler::BpfProgram>,
}

impl ChildPlan {
    /// Builds a NULL-terminated pointer array. `args` must not contain NUL (validated by the
    /// spec).
    pub(crate) fn pointers(args: &[CString]) -> Vec<*const c_char> {
        args.iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(ptr::null()))
            .collect()
    }

    pub(crate) fn fprogs(bpf: &[seccompiler::BpfProgram]) -> Vec<libc::sock_fprog> {
        bpf.iter()
            .map(|p| libc::sock_fprog {
                len: p.len() as u16,
                // seccompiler's sock_filter is #[repr(C)] with the kernel's layout, like libc's.
                filter: p.as_ptr() as *mut libc::sock_filter,
            })
            .collect()
    }

    /// What the plan itself executes (a pre-spawned environment gets it from the claim).
    pub(crate) fn exec_args(&self) -> ExecArgs {
        ExecArgs {
            cwd: self.cwd.as_ptr(),
            candidates: self.exec_candidate_ptrs.as_ptr(),
            n_candidates: self.exec_candidate_ptrs.len(),
            argv: self.argv_ptrs.as_ptr(),
            envp: self.envp_ptrs.as_ptr(),
        }
    }
}

/// What the function's process executes: from the plan, or from a specialisation message.
/// Plain pointers (the child passes them across a `CLONE_VM` clone); they point into the
/// plan or into the message buffer of the child's frame, both alive until the exec.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExecArgs {
    /// The working directory, a C string.
    pub cwd: *const c_char,
    /// `n_candidates` C strings: the paths `argv[0]` may be at, tried in order.
    pub candidates: *const *const c_char,
    pub n_candidates: usize,
    /// NULL-terminated.
    pub argv: *const *const c_char,
    /// NULL-terminated `KEY=value` strings.
    pub envp: *const *const c_char,
}

/// `[arg_start, arg_end)` of this process's command line (fields 48 and 49 of
/// `/proc/self/stat`), read once.
pub(crate) fn argv_area() -> Option<(usize, usize)> {
    static AREA: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    *AREA.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        parse_argv_area(&stat)
    })
}

fn parse_argv_area(stat: &str) -> Option<(usize, usize)> {
    // Fields after the parenthesized comm start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut it = rest.split_whitespace().skip(48 - 3);
    let start = it.next()?.parse().ok()?;
    let end = it.next()?.parse().ok()?;
    (start < end).then_some((start, end))
}

#[cfg(test)]
mod tests;
