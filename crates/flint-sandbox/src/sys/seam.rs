//! The two traits every kernel call of the sandbox goes through, and [`Linux`], the real
//! implementation of both (see the module docs of `sys`).

use std::ffi::{CStr, OsString};
use std::fmt::Debug;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use libc::{c_char, c_int, c_ulong, c_void, pid_t};

/// The real kernel: raw system calls (`linux_child.rs`, `linux_host.rs`). Zero-sized, so the
/// child's generic code compiles to the plain calls.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Linux;

/// The one [`Linux`] every `&'static dyn HostSys` of a real sandbox points to.
pub(crate) static LINUX: Linux = Linux;

/// An `errno` value: how a call of the child fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Errno(pub c_int);

/// Result of a call of the child.
pub(crate) type SysResult<T> = Result<T, Errno>;

/// Entry point of a process started with [`ChildSys::spawn_vforked`].
pub(crate) type ProcessEntry = extern "C" fn(*mut c_void) -> c_int;

/// What [`ChildSys::recv_with_fds`] received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Received {
    /// Bytes of data (0: end of file).
    pub len: usize,
    /// Descriptors stored in the caller's array (surplus ones are closed).
    pub fds: usize,
    /// The data or the control message did not fit.
    pub truncated: bool,
}

/// The kernel as the cloned child sees it, between `clone3` and `execve`.
///
/// Implementations must be async-signal-safe: no allocation, no lock, no panic, no
/// `std::io` (which may lock or allocate). Methods take plain data: C strings, raw fds and
/// buffers owned by the caller; errors are the `errno`. Used through generics only.
pub(crate) trait ChildSys {
    // -- process attributes
    /// `PR_SET_PDEATHSIG`.
    fn set_parent_death_signal(&self, sig: c_int) -> SysResult<()>;
    /// `PR_SET_NAME` (what `/proc/<pid>/comm` shows).
    fn set_name(&self, name: &CStr);
    /// `PR_SET_DUMPABLE`.
    fn set_dumpable(&self, dumpable: bool);
    /// Fills `[start, end)` of this process's memory with `text` followed by NULs.
    ///
    /// # Safety
    /// The range must be writable memory of this process that no live Rust reference
    /// points into (the command-line area of `/proc/self/stat`).
    unsafe fn overwrite_memory(&self, start: usize, end: usize, text: &[u8]);
    /// The hard limit of `resource` (`getrlimit`; 0 if it fails).
    fn rlimit_max(&self, resource: c_int) -> u64;
    /// Sets the soft and hard limits of `resource`.
    fn set_rlimit(&self, resource: c_int, soft: u64, hard: u64) -> SysResult<()>;

    // -- namespaces and the root
    /// `setns(fd, nstype)`.
    fn setns(&self, fd: RawFd, nstype: c_int) -> SysResult<()>;
    /// `sethostname`.
    fn sethostname(&self, name: &CStr) -> SysResult<()>;
    /// `mount(2)`.
    fn mount(
        &self,
        src: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: c_ulong,
        data: Option<&CStr>,
    ) -> SysResult<()>;
    /// `chdir`.
    fn chdir(&self, dir: &CStr) -> SysResult<()>;
    /// `pivot_root(new_root, put_old)`.
    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> SysResult<()>;
    /// `umount2(target, MNT_DETACH)`.
    fn umount_detach(&self, target: &CStr) -> SysResult<()>;
    /// `move_mount` of the detached mount `mount_fd` onto `target`.
    fn move_mount(&self, mount_fd: RawFd, target: &CStr) -> SysResult<()>;

    // -- file descriptors
    /// A close-on-exec copy of `fd` numbered `lowest` or above (`F_DUPFD_CLOEXEC`).
    fn dup_above(&self, fd: RawFd, lowest: RawFd) -> SysResult<RawFd>;
    /// `dup2(fd, target)` (the copy is not close-on-exec).
    fn dup2(&self, fd: RawFd, target: RawFd) -> SysResult<()>;
    /// Clears `FD_CLOEXEC` on `fd`.
    fn clear_cloexec(&self, fd: RawFd) -> SysResult<()>;
    /// Opens `path` read-write, close-on-exec.
    fn open_read_write(&self, path: &CStr) -> SysResult<RawFd>;
    /// `close`.
    fn close(&self, fd: RawFd);
    /// Closes every fd in `[first, last]`.
    fn close_range(&self, first: u32, last: u32);
    /// A close-on-exec unix stream socket pair.
    fn socketpair(&self) -> SysResult<(RawFd, RawFd)>;

    // -- messages
    /// `read`.
    fn read(&self, fd: RawFd, buf: &mut [u8]) -> SysResult<usize>;
    /// `write`.
    fn write(&self, fd: RawFd, buf: &[u8]) -> SysResult<usize>;
    /// `send` with `MSG_NOSIGNAL` (a closed peer is `EPIPE`, not `SIGPIPE`).
    fn send(&self, sock: RawFd, buf: &[u8]) -> SysResult<usize>;
    /// Sends one byte with `fd` attached (`SCM_RIGHTS`).
    fn send_fd(&self, sock: RawFd, byte: u8, fd: RawFd) -> SysResult<()>;
    /// One `recvmsg` into `buf`, the attached descriptors (close-on-exec) into `fds`.
    fn recv_with_fds(&self, sock: RawFd, buf: &mut [u8], fds: &mut [RawFd]) -> SysResult<Received>;
    /// `poll`; the number of descriptors with events.
    fn poll(&self, fds: &mut [libc::pollfd], timeout_ms: c_int) -> SysResult<usize>;

    // -- network
    /// Brings `lo` up in the current network namespace.
    fn loopback_up(&self) -> SysResult<()>;
    /// A listening TCP socket on `127.0.0.1:port` in the current network namespace.
    fn listen_loopback(&self, port: u16) -> SysResult<RawFd>;

    // -- privileges
    /// `PR_CAPBSET_DROP` of `cap`.
    fn drop_bounding_capability(&self, cap: u32) -> SysResult<()>;
    /// `PR_CAP_AMBIENT_CLEAR_ALL`.
    fn clear_ambient_capabilities(&self);
    /// `setgroups(0, NULL)` (the raw syscall: glibc's wrapper would try to reach threads).
    fn clear_groups(&self) -> SysResult<()>;
    /// `setresgid(gid, gid, gid)` (raw syscall).
    fn set_gid(&self, gid: u32) -> SysResult<()>;
    /// `setresuid(uid, uid, uid)` (raw syscall).
    fn set_uid(&self, uid: u32) -> SysResult<()>;
    /// `capset` with every set empty.
    fn clear_capabilities(&self) -> SysResult<()>;
    /// `PR_SET_NO_NEW_PRIVS`.
    fn set_no_new_privs(&self) -> SysResult<()>;
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` of `filter`.
    fn install_seccomp(&self, filter: &libc::sock_fprog) -> SysResult<()>;

    // -- processes
    /// Starts `entry(arg)` as a new process sharing this one's memory until it execs or
    /// exits (`CLONE_VM | CLONE_VFORK`: the caller is suspended meanwhile, no page tables are
    /// copied); `SIGCHLD` when it ends. Returns its pid.
    ///
    /// # Safety
    /// `stack_top` is the top of a 16-byte aligned stack that, like `arg`, stays valid until
    /// the new process execs or exits; `entry` must follow this trait's rules.
    unsafe fn spawn_vforked(
        &self,
        entry: ProcessEntry,
        stack_top: *mut c_void,
        arg: *mut c_void,
    ) -> SysResult<pid_t>;
    /// `setsid`.
    fn new_session(&self);
    /// Every signal back to its default disposition, and an empty signal mask.
    fn reset_signal_handling(&self);
    /// `SIGCHLD` back to its default disposition.
    fn default_sigchld(&self);
    /// `execve`; returns only when it failed, with the reason.
    ///
    /// # Safety
    /// `path` is a C string; `argv` and `envp` are NULL-terminated arrays of C strings.
    unsafe fn execve(
        &self,
        path: *const c_char,
        argv: *const *const c_char,
        envp: *const *const c_char,
    ) -> Errno;
    /// Waits for any signal (all are blocked); `None` if interrupted.
    fn wait_signal(&self) -> Option<c_int>;
    /// `kill(pid, sig)`.
    fn kill(&self, pid: pid_t, sig: c_int);
    /// Reaps one exited child without blocking: its pid and wait status.
    fn reap(&self) -> Option<(pid_t, c_int)>;
    /// `_exit(code)`: no atexit handlers, no flushing.
    fn exit(&self, code: c_int) -> !;
}

/// How a waited-for process ended, as `waitid` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exited {
    /// `si_code`: `CLD_EXITED`, `CLD_KILLED`, ...
    pub code: c_int,
    /// `si_status`: the exit code or the signal.
    pub status: c_int,
}

/// One message received on a socket.
#[derive(Debug)]
pub(crate) struct Message {
    /// The bytes.
    pub data: Vec<u8>,
    /// The descriptors that came with them.
    pub fds: Vec<OwnedFd>,
}

/// The kernel as flint sees it when it builds, runs and tears down a sandbox.
pub(crate) trait HostSys: Send + Sync + Debug {
    /// Effective uid of this process.
    fn euid(&self) -> u32;
    /// Effective gid of this process.
    fn egid(&self) -> u32;

    // -- the cgroup file system, /proc/<pid>
    /// Creates one directory.
    fn mkdir(&self, dir: &Path) -> io::Result<()>;
    /// Creates a directory and its missing parents.
    fn mkdir_all(&self, dir: &Path) -> io::Result<()>;
    /// Removes an empty directory (a cgroup).
    fn rmdir(&self, dir: &Path) -> io::Result<()>;
    /// Writes `value` to an existing file. Never creates one: a missing kernel file means a
    /// missing kernel feature, which must surface as `NotFound`, not as a stray regular file.
    fn write_file(&self, file: &Path, value: &str) -> io::Result<()>;
    /// Reads a whole (kernel) file.
    fn read_file(&self, file: &Path) -> io::Result<String>;
    /// Opens a (kernel) file to be read again and again with [`HostSys::read_from_start`]:
    /// a file read on every invocation costs its `open` once.
    fn open_for_reading(&self, file: &Path) -> io::Result<OwnedFd>;
    /// The whole of an open file read from offset 0 (`pread`: a kernel file is generated
    /// afresh by each read that starts at 0) into `buf`, which is cleared first.
    fn read_from_start(&self, fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<()>;
    /// Names of the directories in `dir`.
    fn subdirectories(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    /// Whether this process may write in `dir` (`access(W_OK)`).
    fn is_writable(&self, dir: &Path) -> bool;
    /// `f_flag` of `statvfs(path)`.
    fn statvfs_flags(&self, path: &Path) -> Option<c_ulong>;

    // -- pipes and sockets
    /// A close-on-exec pipe `(read, write)`.
    fn pipe(&self) -> io::Result<(OwnedFd, OwnedFd)>;
    /// A close-on-exec unix stream socket pair.
    fn socketpair(&self) -> io::Result<(OwnedFd, OwnedFd)>;
    /// Sends `data` with `fds` attached as one message (`MSG_NOSIGNAL`).
    fn send(&self, sock: BorrowedFd<'_>, data: &[u8], fds: &[RawFd]) -> io::Result<()>;
    /// Receives one message of at most `max_len` bytes and `max_fds` descriptors (received
    /// close-on-exec); `None` at end of file.
    fn recv(
        &self,
        sock: BorrowedFd<'_>,
        max_len: usize,
        max_fds: usize,
    ) -> io::Result<Option<Message>>;
    /// Waits until `fd` is readable or `timeout` passed; whether it is.
    fn poll_readable(&self, fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool>;

    // -- processes
    /// `pidfd_send_signal`.
    fn pidfd_send_signal(&self, pidfd: BorrowedFd<'_>, sig: c_int) -> io::Result<()>;
    /// `waitid(P_PIDFD, WEXITED)`, `WNOHANG` unless `block`; `None`: still running.
    fn wait_pidfd(&self, pidfd: BorrowedFd<'_>, block: bool) -> io::Result<Option<Exited>>;
    /// `kill(pid, sig)` (a negative pid is a process group).
    fn kill(&self, pid: i32, sig: c_int) -> io::Result<()>;

    // -- mounts
    /// A detached, read-only (nosuid, nodev), non-recursive copy of the mount at `dir`
    /// (`open_tree(OPEN_TREE_CLONE)` + `mount_setattr`).
    fn detached_read_only_tree(&self, dir: &Path) -> io::Result<OwnedFd>;

    // -- disk-backed /tmp (`ephemeral.rs`)
    /// A new sparse file `image` of `bytes` bytes holding an empty ext4 file system with
    /// `inodes` inodes (`mkfs.ext4`).
    fn make_ext4(&self, image: &Path, bytes: u64, inodes: u64) -> io::Result<()>;
    /// Copies `from` to a new file `to`, leaving holes as holes (`SEEK_DATA`/`SEEK_HOLE`).
    fn copy_sparse(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Attaches `image` to a free loop device (direct I/O, detached by the kernel when its
    /// last user closes it): the device's path, and an open descriptor of it that keeps it
    /// attached until it is closed (close it once the device is mounted).
    fn attach_loop(&self, image: &Path) -> io::Result<(std::path::PathBuf, OwnedFd)>;
    /// `mount(device, target, fstype, MS_NOSUID | MS_NODEV, data)` in flint's own namespace.
    fn mount_device(
        &self,
        device: &Path,
        target: &Path,
        fstype: &str,
        data: &str,
    ) -> io::Result<()>;
    /// `umount2(target, MNT_DETACH)` in flint's own namespace.
    fn unmount(&self, target: &Path) -> io::Result<()>;
    /// Bytes an unprivileged writer may still use on the file system of `path`
    /// (`statvfs`: `f_bavail * f_frsize`).
    fn available_bytes(&self, path: &Path) -> io::Result<u64>;
    /// Removes a file.
    fn remove_file(&self, file: &Path) -> io::Result<()>;
    /// `rename(from, to)`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// `chmod(path, mode)`.
    fn set_mode(&self, path: &Path, mode: u32) -> io::Result<()>;
}
