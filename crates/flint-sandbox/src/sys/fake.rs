//! A recording fake of both traits (after youki's `TestHelperSyscall`): every call is logged
//! as a [`Call`], failures are scripted with [`Recorder::fail_when`], and what the kernel would
//! return (bytes on the sync socket, files of the cgroup file system, exits) is scripted too.
//! Pipes and sockets of the host side are real (no root needed for those), so the parent's
//! protocol runs over real descriptors.

use std::collections::{HashMap, VecDeque};
use std::ffi::{CStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use libc::{c_char, c_int, c_ulong, c_void, pid_t};
use parking_lot::Mutex;

use super::seam::{
    ChildSys, Errno, Exited, HostSys, LINUX, Message, ProcessEntry, Received, SysResult,
};

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    // -- ChildSys
    ParentDeathSignal(c_int),
    SetName(String),
    Dumpable(bool),
    OverwriteMemory,
    SetRlimit(c_int, u64, u64),
    Setns(RawFd, c_int),
    Hostname(String),
    Mount {
        src: Option<String>,
        target: String,
        fstype: Option<String>,
        flags: c_ulong,
        data: Option<String>,
    },
    Chdir(String),
    PivotRoot(String, String),
    UmountDetach(String),
    MoveMount(RawFd, String),
    DupAbove(RawFd),
    Dup2(RawFd, RawFd),
    ClearCloexec(RawFd),
    Open(String),
    Close(RawFd),
    CloseRange(u32, u32),
    ChildSocketpair,
    Read(RawFd),
    Write(RawFd, Vec<u8>),
    Send(RawFd, Vec<u8>),
    SendFd(RawFd, u8, RawFd),
    Recv(RawFd),
    Poll,
    LoopbackUp,
    Listen(u16),
    DropBoundingCapability(u32),
    ClearAmbientCapabilities,
    ClearGroups,
    SetGid(u32),
    SetUid(u32),
    ClearCapabilities,
    NoNewPrivs,
    /// The length of the filter program installed.
    Seccomp(u16),
    SpawnFunction,
    NewSession,
    ResetSignalHandling,
    DefaultSigchld,
    Execve(String),
    WaitSignal,
    Kill(pid_t, c_int),
    Reap,
    // -- HostSys
    /// Not a call of either trait: a test's launcher notes the clone (with its flags).
    Clone(u64),
    Mkdir(PathBuf),
    MkdirAll(PathBuf),
    Rmdir(PathBuf),
    WriteFile(PathBuf, String),
    ReadFile(PathBuf),
    OpenForReading(PathBuf),
    Subdirectories(PathBuf),
    HostSend(Vec<u8>, usize),
    PidfdSignal(c_int),
    WaitPidfd,
    HostKill(i32, c_int),
    DetachedTree(PathBuf),
    MakeExt4(PathBuf, u64),
    CopySparse(PathBuf, PathBuf),
    AttachLoop(PathBuf),
    MountDevice {
        device: PathBuf,
        target: PathBuf,
        fstype: String,
        data: String,
    },
    Unmount(PathBuf),
    AvailableBytes(PathBuf),
    RemoveFile(PathBuf),
    SetMode(PathBuf, u32),
    Rename(PathBuf, PathBuf),
}

/// What the sync socket delivers to the child's `read`/`recv_with_fds`, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Incoming {
    pub data: Vec<u8>,
    pub fds: Vec<RawFd>,
}

type Rule = Box<dyn Fn(&Call) -> bool + Send + Sync>;

/// See the module docs. Every field is scripted state; `log` is what happened.
#[derive(Default)]
pub(crate) struct Recorder {
    log: Mutex<Vec<Call>>,
    rules: Mutex<Vec<(Rule, Errno)>>,
    /// For the child: messages on its sync socket (and the handover socket).
    incoming: Mutex<VecDeque<Incoming>>,
    /// For the child's `poll`: the `revents` of each polled fd, per call. When empty, the
    /// first fd is readable.
    polls: Mutex<VecDeque<Vec<i16>>>,
    /// For the child's `reap`.
    reaped: Mutex<VecDeque<(pid_t, c_int)>>,
    /// For the host's `read_file` (what is not here is `NotFound`); writes land here too
    /// (see `write_file`).
    files: Mutex<HashMap<PathBuf, String>>,
    /// For the host's `subdirectories`.
    subdirs: Mutex<HashMap<PathBuf, Vec<OsString>>>,
    /// The host's effective uid and gid.
    ids: Mutex<(u32, u32)>,
    /// For the host's `available_bytes`, in order (empty: 0).
    available: Mutex<VecDeque<u64>>,
    next_fd: Mutex<RawFd>,
    next_pid: Mutex<pid_t>,
    /// The file each descriptor of `open_for_reading` stands for (a real `/dev/null`).
    opened: Mutex<HashMap<RawFd, PathBuf>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("log", &*self.log.lock())
            .finish_non_exhaustive()
    }
}

fn lossy(s: &CStr) -> String {
    s.to_string_lossy().into_owned()
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A recorder that lives as long as the test process (`&'static dyn HostSys`).
    pub(crate) fn leaked() -> &'static Self {
        Box::leak(Box::new(Self::new()))
    }

    /// Logs what a test harness did (e.g. [`Call::Clone`]) among the calls.
    pub(crate) fn note(&self, call: Call) {
        self.log.lock().push(call);
    }

    /// Calls matching `rule` fail with `errno` (after being recorded).
    pub(crate) fn fail_when(
        &self,
        errno: c_int,
        rule: impl Fn(&Call) -> bool + Send + Sync + 'static,
    ) {
        self.rules.lock().push((Box::new(rule), Errno(errno)));
    }

    pub(crate) fn push_incoming(&self, data: &[u8], fds: &[RawFd]) {
        self.incoming.lock().push_back(Incoming {
            data: data.to_vec(),
            fds: fds.to_vec(),
        });
    }

    pub(crate) fn push_poll(&self, revents: &[i16]) {
        self.polls.lock().push_back(revents.to_vec());
    }

    pub(crate) fn push_reaped(&self, pid: pid_t, status: c_int) {
        self.reaped.lock().push_back((pid, status));
    }

    pub(crate) fn set_file(&self, path: impl Into<PathBuf>, content: &str) {
        self.files.lock().insert(path.into(), content.into());
    }

    pub(crate) fn file(&self, path: impl AsRef<Path>) -> Option<String> {
        self.files.lock().get(path.as_ref()).cloned()
    }

    pub(crate) fn set_subdirs(&self, dir: impl Into<PathBuf>, names: &[&str]) {
        let names = names.iter().map(OsString::from).collect();
        self.subdirs.lock().insert(dir.into(), names);
    }

    pub(crate) fn push_available(&self, bytes: u64) {
        self.available.lock().push_back(bytes);
    }

    pub(crate) fn set_ids(&self, uid: u32, gid: u32) {
        *self.ids.lock() = (uid, gid);
    }

    /// Everything recorded so far.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.log.lock().clone()
    }

    /// The recorded calls `keep` selects.
    pub(crate) fn calls_where(&self, keep: impl Fn(&Call) -> bool) -> Vec<Call> {
        self.calls().into_iter().filter(|c| keep(c)).collect()
    }

    /// Records `call`; `Err` if a rule says it fails.
    fn record(&self, call: Call) -> SysResult<()> {
        let failure = self
            .rules
            .lock()
            .iter()
            .find(|(rule, _)| rule(&call))
            .map(|(_, e)| *e);
        self.log.lock().push(call);
        failure.map_or(Ok(()), Err)
    }

    fn record_io(&self, call: Call) -> io::Result<()> {
        self.record(call)
            .map_err(|e| io::Error::from_raw_os_error(e.0))
    }

    fn new_fd(&self) -> RawFd {
        let mut n = self.next_fd.lock();
        *n = (*n).max(100) + 1;
        *n
    }
}

impl ChildSys for Recorder {
    fn set_parent_death_signal(&self, sig: c_int) -> SysResult<()> {
        self.record(Call::ParentDeathSignal(sig))
    }

    fn set_name(&self, name: &CStr) {
        let _ = self.record(Call::SetName(lossy(name)));
    }

    fn set_dumpable(&self, dumpable: bool) {
        let _ = self.record(Call::Dumpable(dumpable));
    }

    unsafe fn overwrite_memory(&self, _start: usize, _end: usize, _text: &[u8]) {
        let _ = self.record(Call::OverwriteMemory);
    }

    fn rlimit_max(&self, _resource: c_int) -> u64 {
        u64::MAX
    }

    fn set_rlimit(&self, resource: c_int, soft: u64, hard: u64) -> SysResult<()> {
        self.record(Call::SetRlimit(resource, soft, hard))
    }

    fn setns(&self, fd: RawFd, nstype: c_int) -> SysResult<()> {
        self.record(Call::Setns(fd, nstype))
    }

    fn sethostname(&self, name: &CStr) -> SysResult<()> {
        self.record(Call::Hostname(lossy(name)))
    }

    fn mount(
        &self,
        src: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: c_ulong,
        data: Option<&CStr>,
    ) -> SysResult<()> {
        self.record(Call::Mount {
            src: src.map(lossy),
            target: lossy(target),
            fstype: fstype.map(lossy),
            flags,
            data: data.map(lossy),
        })
    }

    fn chdir(&self, dir: &CStr) -> SysResult<()> {
        self.record(Call::Chdir(lossy(dir)))
    }

    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> SysResult<()> {
        self.record(Call::PivotRoot(lossy(new_root), lossy(put_old)))
    }

    fn umount_detach(&self, target: &CStr) -> SysResult<()> {
        self.record(Call::UmountDetach(lossy(target)))
    }

    fn move_mount(&self, mount_fd: RawFd, target: &CStr) -> SysResult<()> {
        self.record(Call::MoveMount(mount_fd, lossy(target)))
    }

    fn dup_above(&self, fd: RawFd, _lowest: RawFd) -> SysResult<RawFd> {
        self.record(Call::DupAbove(fd))?;
        Ok(self.new_fd())
    }

    fn dup2(&self, fd: RawFd, target: RawFd) -> SysResult<()> {
        self.record(Call::Dup2(fd, target))
    }

    fn clear_cloexec(&self, fd: RawFd) -> SysResult<()> {
        self.record(Call::ClearCloexec(fd))
    }

    fn open_read_write(&self, path: &CStr) -> SysResult<RawFd> {
        self.record(Call::Open(lossy(path)))?;
        Ok(self.new_fd())
    }

    fn close(&self, fd: RawFd) {
        let _ = self.record(Call::Close(fd));
    }

    fn close_range(&self, first: u32, last: u32) {
        let _ = self.record(Call::CloseRange(first, last));
    }

    fn socketpair(&self) -> SysResult<(RawFd, RawFd)> {
        self.record(Call::ChildSocketpair)?;
        Ok((self.new_fd(), self.new_fd()))
    }

    fn read(&self, fd: RawFd, buf: &mut [u8]) -> SysResult<usize> {
        self.record(Call::Read(fd))?;
        let Some(m) = self.incoming.lock().pop_front() else {
            return Ok(0);
        };
        let n = m.data.len().min(buf.len());
        buf[..n].copy_from_slice(&m.data[..n]);
        Ok(n)
    }

    fn write(&self, fd: RawFd, buf: &[u8]) -> SysResult<usize> {
        self.record(Call::Write(fd, buf.to_vec()))?;
        Ok(buf.len())
    }

    fn send(&self, sock: RawFd, buf: &[u8]) -> SysResult<usize> {
        self.record(Call::Send(sock, buf.to_vec()))?;
        Ok(buf.len())
    }

    fn send_fd(&self, sock: RawFd, byte: u8, fd: RawFd) -> SysResult<()> {
        self.record(Call::SendFd(sock, byte, fd))
    }

    fn recv_with_fds(&self, sock: RawFd, buf: &mut [u8], fds: &mut [RawFd]) -> SysResult<Received> {
        self.record(Call::Recv(sock))?;
        let Some(m) = self.incoming.lock().pop_front() else {
            return Ok(Received {
                len: 0,
                fds: 0,
                truncated: false,
            });
        };
        let len = m.data.len().min(buf.len());
        buf[..len].copy_from_slice(&m.data[..len]);
        let n = m.fds.len().min(fds.len());
        fds[..n].copy_from_slice(&m.fds[..n]);
        Ok(Received {
            len,
            fds: n,
            truncated: len < m.data.len() || n < m.fds.len(),
        })
    }

    fn poll(&self, fds: &mut [libc::pollfd], _timeout_ms: c_int) -> SysResult<usize> {
        self.record(Call::Poll)?;
        let revents = self
            .polls
            .lock()
            .pop_front()
            .unwrap_or_else(|| vec![libc::POLLIN]);
        for (i, p) in fds.iter_mut().enumerate() {
            p.revents = revents.get(i).copied().unwrap_or(0);
        }
        Ok(fds.iter().filter(|p| p.revents != 0).count())
    }

    fn loopback_up(&self) -> SysResult<()> {
        self.record(Call::LoopbackUp)
    }

    fn listen_loopback(&self, port: u16) -> SysResult<RawFd> {
        self.record(Call::Listen(port))?;
        Ok(self.new_fd())
    }

    fn drop_bounding_capability(&self, cap: u32) -> SysResult<()> {
        self.record(Call::DropBoundingCapability(cap))
    }

    fn clear_ambient_capabilities(&self) {
        let _ = self.record(Call::ClearAmbientCapabilities);
    }

    fn clear_groups(&self) -> SysResult<()> {
        self.record(Call::ClearGroups)
    }

    fn set_gid(&self, gid: u32) -> SysResult<()> {
        self.record(Call::SetGid(gid))
    }

    fn set_uid(&self, uid: u32) -> SysResult<()> {
        self.record(Call::SetUid(uid))
    }

    fn clear_capabilities(&self) -> SysResult<()> {
        self.record(Call::ClearCapabilities)
    }

    fn set_no_new_privs(&self) -> SysResult<()> {
        self.record(Call::NoNewPrivs)
    }

    fn install_seccomp(&self, filter: &libc::sock_fprog) -> SysResult<()> {
        self.record(Call::Seccomp(filter.len))
    }

    unsafe fn spawn_vforked(
        &self,
        _entry: ProcessEntry,
        _stack_top: *mut c_void,
        _arg: *mut c_void,
    ) -> SysResult<pid_t> {
        self.record(Call::SpawnFunction)?;
        let mut n = self.next_pid.lock();
        *n = (*n).max(1) + 1;
        Ok(*n)
    }

    fn new_session(&self) {
        let _ = self.record(Call::NewSession);
    }

    fn reset_signal_handling(&self) {
        let _ = self.record(Call::ResetSignalHandling);
    }

    fn default_sigchld(&self) {
        let _ = self.record(Call::DefaultSigchld);
    }

    unsafe fn execve(
        &self,
        path: *const c_char,
        _argv: *const *const c_char,
        _envp: *const *const c_char,
    ) -> Errno {
        // SAFETY: the caller passes a C string (the trait's contract).
        let path = lossy(unsafe { CStr::from_ptr(path) });
        match self.record(Call::Execve(path)) {
            Err(e) => e,
            // A fake execve cannot replace the process: report a success as E2BIG, which
            // no test scripts and the exec loop treats as final.
            Ok(()) => Errno(libc::E2BIG),
        }
    }

    fn wait_signal(&self) -> Option<c_int> {
        let _ = self.record(Call::WaitSignal);
        None
    }

    fn kill(&self, pid: pid_t, sig: c_int) {
        let _ = self.record(Call::Kill(pid, sig));
    }

    fn reap(&self) -> Option<(pid_t, c_int)> {
        let _ = self.record(Call::Reap);
        self.reaped.lock().pop_front()
    }

    fn exit(&self, code: c_int) -> ! {
        panic!("the fake child exited with {code}: tests drive the steps, not child_main")
    }
}

impl HostSys for Recorder {
    fn euid(&self) -> u32 {
        self.ids.lock().0
    }

    fn egid(&self) -> u32 {
        self.ids.lock().1
    }

    fn mkdir(&self, dir: &Path) -> io::Result<()> {
        self.record_io(Call::Mkdir(dir.into()))
    }

    fn mkdir_all(&self, dir: &Path) -> io::Result<()> {
        self.record_io(Call::MkdirAll(dir.into()))
    }

    fn rmdir(&self, dir: &Path) -> io::Result<()> {
        self.record_io(Call::Rmdir(dir.into()))
    }

    fn write_file(&self, file: &Path, value: &str) -> io::Result<()> {
        self.record_io(Call::WriteFile(file.into(), value.into()))?;
        // Control files read back what was written (freezer.state, ...), except the member
        // list: a pid written there joins the cgroup, and which processes are in it (none:
        // this fake has no processes) is the kernel's to say.
        if !file.ends_with("cgroup.procs") {
            self.set_file(file, value);
        }
        Ok(())
    }

    fn read_file(&self, file: &Path) -> io::Result<String> {
        self.record_io(Call::ReadFile(file.into()))?;
        self.file(file)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn open_for_reading(&self, file: &Path) -> io::Result<OwnedFd> {
        self.record_io(Call::OpenForReading(file.into()))?;
        if self.file(file).is_none() {
            return Err(io::ErrorKind::NotFound.into());
        }
        let fd: OwnedFd = std::fs::File::open("/dev/null")?.into();
        self.opened.lock().insert(fd.as_raw_fd(), file.into());
        Ok(fd)
    }

    /// What the file holds now: a test changes it between two reads as the kernel would.
    fn read_from_start(&self, fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<()> {
        let path = self.opened.lock().get(&fd.as_raw_fd()).cloned();
        let path = path.ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        self.record_io(Call::ReadFile(path.clone()))?;
        let text = self
            .file(&path)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
        buf.clear();
        buf.extend_from_slice(text.as_bytes());
        Ok(())
    }

    fn subdirectories(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        self.record_io(Call::Subdirectories(dir.into()))?;
        Ok(self.subdirs.lock().get(dir).cloned().unwrap_or_default())
    }

    fn is_writable(&self, _dir: &Path) -> bool {
        true
    }

    fn statvfs_flags(&self, _path: &Path) -> Option<c_ulong> {
        Some(0)
    }

    fn pipe(&self) -> io::Result<(OwnedFd, OwnedFd)> {
        LINUX.pipe()
    }

    fn socketpair(&self) -> io::Result<(OwnedFd, OwnedFd)> {
        HostSys::socketpair(&LINUX)
    }

    fn send(&self, sock: BorrowedFd<'_>, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
        self.record_io(Call::HostSend(data.to_vec(), fds.len()))?;
        HostSys::send(&LINUX, sock, data, fds)
    }

    fn recv(
        &self,
        sock: BorrowedFd<'_>,
        max_len: usize,
        max_fds: usize,
    ) -> io::Result<Option<Message>> {
        LINUX.recv(sock, max_len, max_fds)
    }

    fn poll_readable(&self, fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
        LINUX.poll_readable(fd, timeout)
    }

    fn pidfd_send_signal(&self, _pidfd: BorrowedFd<'_>, sig: c_int) -> io::Result<()> {
        self.record_io(Call::PidfdSignal(sig))
    }

    fn wait_pidfd(&self, _pidfd: BorrowedFd<'_>, _block: bool) -> io::Result<Option<Exited>> {
        self.record_io(Call::WaitPidfd)?;
        // Every process of this fake has exited, with 0.
        Ok(Some(Exited {
            code: libc::CLD_EXITED,
            status: 0,
        }))
    }

    fn kill(&self, pid: i32, sig: c_int) -> io::Result<()> {
        self.record_io(Call::HostKill(pid, sig))
    }

    fn detached_read_only_tree(&self, dir: &Path) -> io::Result<OwnedFd> {
        self.record_io(Call::DetachedTree(dir.into()))?;
        Ok(std::fs::File::open("/dev/null")?.into())
    }

    fn make_ext4(&self, image: &Path, bytes: u64, _inodes: u64) -> io::Result<()> {
        self.record_io(Call::MakeExt4(image.into(), bytes))
    }

    fn copy_sparse(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.record_io(Call::CopySparse(from.into(), to.into()))
    }

    fn attach_loop(&self, image: &Path) -> io::Result<(PathBuf, OwnedFd)> {
        self.record_io(Call::AttachLoop(image.into()))?;
        let dev = PathBuf::from(format!("/dev/loop{}", self.new_fd()));
        Ok((dev, std::fs::File::open("/dev/null")?.into()))
    }

    fn mount_device(
        &self,
        device: &Path,
        target: &Path,
        fstype: &str,
        data: &str,
    ) -> io::Result<()> {
        self.record_io(Call::MountDevice {
            device: device.into(),
            target: target.into(),
            fstype: fstype.into(),
            data: data.into(),
        })
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        self.record_io(Call::Unmount(target.into()))
    }

    fn available_bytes(&self, path: &Path) -> io::Result<u64> {
        self.record_io(Call::AvailableBytes(path.into()))?;
        Ok(self.available.lock().pop_front().unwrap_or(0))
    }

    fn remove_file(&self, file: &Path) -> io::Result<()> {
        self.record_io(Call::RemoveFile(file.into()))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.record_io(Call::Rename(from.into(), to.into()))
    }

    fn set_mode(&self, path: &Path, mode: u32) -> io::Result<()> {
        self.record_io(Call::SetMode(path.into(), mode))
    }
}
