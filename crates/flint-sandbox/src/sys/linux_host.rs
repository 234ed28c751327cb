//! [`HostSys`] for [`Linux`], and the host-side calls no plan of the sandbox's goes through:
//! host probing, `clone3` itself, the spawn helper's socket, the network-namespace pool.

use std::convert::Infallible;
use std::ffi::{CString, OsString};
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::ptr;
use std::time::Duration;

use libc::{c_int, c_ulong};

use super::seam::{Errno, Exited, HostSys, Linux, Message};
use super::{cmsg, linux_child, loopdev};

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in a path"))
}

fn os_error(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.0)
}

/// `Ok(())` when a call returned 0, else the OS error.
fn check(r: impl TryInto<i64>) -> io::Result<()> {
    match r.try_into() {
        Ok(0) => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Takes ownership of a descriptor the kernel just returned (negative: the OS error).
fn new_fd(r: impl TryInto<i32>) -> io::Result<OwnedFd> {
    match r.try_into() {
        // SAFETY: the kernel just created this descriptor for us; nobody else owns it.
        Ok(fd) if fd >= 0 => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Effective uid of this process.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no failure mode.
    unsafe { libc::geteuid() }
}

/// The parent's pid.
pub(crate) fn parent_pid() -> i32 {
    // SAFETY: getppid has no failure mode.
    unsafe { libc::getppid() }
}

/// The Landlock ABI version, if the kernel has Landlock.
pub(crate) fn landlock_abi() -> Option<u32> {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only returns
    // the ABI version; no memory is passed.
    let v = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, 0usize, 0usize, 1u32) };
    u32::try_from(v).ok().filter(|v| *v > 0)
}

/// A pidfd for `pid` (Linux ≥ 5.3).
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    new_fd(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
}

/// `clone3` with a fork-like (shared-nothing, copied stack) child that runs `in_child`, which
/// never returns (`Infallible`). `flags` gets `CLONE_PIDFD`; the child's pid and pidfd are returned. All
/// signals are blocked around the call so that no handler of the parent (e.g. tokio's) can
/// run in the child; the child keeps them blocked (init collects them with `sigwaitinfo`).
///
/// # Safety
/// In a multi-threaded process, `in_child` must follow the rules of `child/mod.rs`: raw
/// syscalls only (through `ChildSys`) on memory prepared before the call, no allocation, no
/// lock, no panic.
pub(crate) unsafe fn clone3(
    flags: u64,
    in_child: impl FnOnce() -> Infallible,
) -> io::Result<(i32, OwnedFd)> {
    let mut pidfd: RawFd = -1;
    // SAFETY: clone_args is plain data.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags | libc::CLONE_PIDFD as u64;
    args.pidfd = (&raw mut pidfd) as u64;
    // With CLONE_PARENT the kernel requires 0 here and gives the child the caller's own exit
    // signal (SIGCHLD for the helper), delivered to the caller's parent (flint).
    args.exit_signal = if flags & libc::CLONE_PARENT as u64 != 0 {
        0
    } else {
        libc::SIGCHLD as u64
    };
    // SAFETY: sigset manipulation on stack memory we own; pthread_sigmask only affects the
    // calling thread.
    let old = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    };
    // SAFETY: clone3 with stack = 0 behaves like fork: the child continues here on a copy of
    // our stack and only runs `in_child`, which the caller vouches for (see above).
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &raw mut args,
            size_of::<libc::clone_args>(),
        )
    };
    if r == 0 {
        in_child();
    }
    let err = io::Error::last_os_error();
    // SAFETY: restoring the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut()) };
    if r < 0 {
        return Err(err);
    }
    // SAFETY: CLONE_PIDFD stored a new pidfd that nobody else owns.
    Ok((r as i32, unsafe { OwnedFd::from_raw_fd(pidfd) }))
}

/// Makes `command`'s process die with the thread that spawns it (`PR_SET_PDEATHSIG`), and
/// not start at all if this process is already gone.
pub(crate) fn die_with_spawning_thread(command: &mut std::process::Command) {
    let parent = std::process::id() as i32;
    // SAFETY: the closure runs in the forked child before exec and only calls
    // async-signal-safe functions (prctl, getppid, _exit) on plain integers.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Moves the calling thread into a new network namespace.
pub(crate) fn unshare_network() -> io::Result<()> {
    // SAFETY: unshare affects only the calling thread's network namespace.
    check(unsafe { libc::unshare(libc::CLONE_NEWNET) })
}

/// The calling thread's network namespace, as an fd.
pub(crate) fn open_thread_network_namespace() -> io::Result<OwnedFd> {
    // SAFETY: open with a constant C string.
    new_fd(unsafe {
        libc::open(
            c"/proc/thread-self/ns/net".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    })
}

/// A close-on-exec unix socket pair of `kind`, owned.
fn owned_pair(kind: c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = linux_child::socket_pair(kind).map_err(os_error)?;
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(a), OwnedFd::from_raw_fd(b)) })
}

/// A unix `SOCK_SEQPACKET` pair for the spawn helper: `(ours, theirs)`, ours close-on-exec,
/// theirs inheritable (it must survive the helper's exec).
pub(crate) fn helper_socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (ours, theirs) = owned_pair(libc::SOCK_SEQPACKET)?;
    set_cloexec(theirs.as_raw_fd(), false)?;
    Ok((ours, theirs))
}

/// Sets or clears `FD_CLOEXEC`.
pub(crate) fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    let flag = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: fcntl with integer arguments only.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, flag) })
}

/// Shuts both directions of a socket down (the peer reads end of file).
pub(crate) fn shutdown(sock: BorrowedFd<'_>) {
    // SAFETY: shutdown with integer arguments only.
    unsafe { libc::shutdown(sock.as_raw_fd(), libc::SHUT_RDWR) };
}

impl HostSys for Linux {
    fn euid(&self) -> u32 {
        euid()
    }

    fn egid(&self) -> u32 {
        // SAFETY: getegid has no failure mode.
        unsafe { libc::getegid() }
    }

    fn mkdir(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir(dir)
    }

    fn mkdir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn rmdir(&self, dir: &Path) -> io::Result<()> {
        fs::remove_dir(dir)
    }

    fn write_file(&self, file: &Path, value: &str) -> io::Result<()> {
        fs::OpenOptions::new()
            .write(true)
            .open(file)?
            .write_all(value.as_bytes())
    }

    fn read_file(&self, file: &Path) -> io::Result<String> {
        fs::read_to_string(file)
    }

    fn open_for_reading(&self, file: &Path) -> io::Result<OwnedFd> {
        // std opens with O_CLOEXEC.
        Ok(fs::File::open(file)?.into())
    }

    fn read_from_start(&self, fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        loop {
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(4096);
            }
            let spare = buf.spare_capacity_mut();
            // SAFETY: pread(2) writes at most `spare.len()` bytes into the vector's spare
            // capacity, which `spare` borrows; `fd` is open for the call (borrowed).
            let n = unsafe {
                libc::pread(
                    fd.as_raw_fd(),
                    spare.as_mut_ptr().cast(),
                    spare.len(),
                    buf.len() as libc::off_t,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                return Ok(());
            }
            // SAFETY: the kernel initialised the `n` bytes after `len`.
            unsafe { buf.set_len(buf.len() + n as usize) };
        }
    }

    fn subdirectories(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        Ok(fs::read_dir(dir)?
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name())
            .collect())
    }

    fn is_writable(&self, dir: &Path) -> bool {
        let Ok(c) = c_path(dir) else {
            return false;
        };
        // SAFETY: access(2) on a valid C string.
        unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
    }

    fn statvfs_flags(&self, path: &Path) -> Option<c_ulong> {
        let c = c_path(path).ok()?;
        // SAFETY: statvfs is plain data; the call fills it.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid C string and the struct we own.
        (unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0).then_some(st.f_flag)
    }

    fn pipe(&self) -> io::Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the two-element array we own.
        check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
        // SAFETY: both fds were just created and are owned by nobody else.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    fn socketpair(&self) -> io::Result<(OwnedFd, OwnedFd)> {
        owned_pair(libc::SOCK_STREAM)
    }

    fn send(&self, sock: BorrowedFd<'_>, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
        cmsg::send_with_fds(sock.as_raw_fd(), data, fds)
            .map(drop)
            .map_err(os_error)
    }

    fn recv(
        &self,
        sock: BorrowedFd<'_>,
        max_len: usize,
        max_fds: usize,
    ) -> io::Result<Option<Message>> {
        let mut data = vec![0u8; max_len];
        let mut raw = [-1; cmsg::MAX_FDS];
        let slots = &mut raw[..max_fds.min(cmsg::MAX_FDS)];
        let got = cmsg::recv_with_fds(sock.as_raw_fd(), &mut data, slots).map_err(os_error)?;
        // SAFETY: recv_with_fds stored `got.fds` new descriptors that nobody else owns.
        let fds: Vec<OwnedFd> = slots[..got.fds]
            .iter()
            .map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
            .collect();
        if got.len == 0 && fds.is_empty() {
            return Ok(None);
        }
        if got.truncated {
            return Err(io::Error::other("message truncated"));
        }
        data.truncate(got.len);
        Ok(Some(Message { data, fds }))
    }

    fn poll_readable(&self, fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as c_int;
        // SAFETY: poll on one pollfd we own.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r > 0)
    }

    fn pidfd_send_signal(&self, pidfd: BorrowedFd<'_>, sig: c_int) -> io::Result<()> {
        // SAFETY: pidfd_send_signal with our pidfd and no siginfo.
        check(unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd.as_raw_fd(),
                sig,
                ptr::null::<libc::siginfo_t>(),
                0u32,
            )
        })
    }

    fn wait_pidfd(&self, pidfd: BorrowedFd<'_>, block: bool) -> io::Result<Option<Exited>> {
        // SAFETY: siginfo_t is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | if block { 0 } else { libc::WNOHANG };
        loop {
            // SAFETY: waitid(P_PIDFD) on our pidfd with a valid siginfo pointer.
            let r = unsafe {
                libc::waitid(
                    libc::P_PIDFD,
                    pidfd.as_raw_fd() as libc::id_t,
                    &mut info,
                    flags,
                )
            };
            if r == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        // SAFETY: reading si_pid/si_status of the siginfo waitid filled.
        let (pid, code, status) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
        Ok((pid != 0).then_some(Exited { code, status }))
    }

    fn kill(&self, pid: i32, sig: c_int) -> io::Result<()> {
        // SAFETY: kill(2) with integer arguments only; no memory is involved.
        check(unsafe { libc::kill(pid, sig) })
    }

    fn detached_read_only_tree(&self, dir: &Path) -> io::Result<OwnedFd> {
        let c = c_path(dir)?;
        // SAFETY: open_tree with a valid C string; the returned fd is new and ours.
        let fd = new_fd(unsafe {
            libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                c.as_ptr(),
                libc::OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
            )
        })
        .map_err(|e| io::Error::new(e.kind(), format!("open_tree: {e}")))?;
        let attr = libc::mount_attr {
            attr_set: libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        };
        // SAFETY: mount_setattr on our detached mount with a struct of the kernel's layout.
        check(unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                fd.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_EMPTY_PATH as libc::c_uint,
                &raw const attr,
                size_of::<libc::mount_attr>(),
            )
        })
        .map_err(|e| io::Error::new(e.kind(), format!("mount_setattr: {e}")))?;
        Ok(fd)
    }

    fn make_ext4(&self, image: &Path, bytes: u64, inodes: u64) -> io::Result<()> {
        loopdev::make_ext4(image, bytes, inodes)
    }

    fn copy_sparse(&self, from: &Path, to: &Path) -> io::Result<()> {
        loopdev::copy_sparse(from, to)
    }

    fn attach_loop(&self, image: &Path) -> io::Result<(std::path::PathBuf, OwnedFd)> {
        loopdev::attach_loop(image)
    }

    fn mount_device(
        &self,
        device: &Path,
        target: &Path,
        fstype: &str,
        data: &str,
    ) -> io::Result<()> {
        loopdev::mount_device(device, target, fstype, data)
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        loopdev::unmount(target)
    }

    fn available_bytes(&self, path: &Path) -> io::Result<u64> {
        loopdev::available_bytes(path)
    }

    fn remove_file(&self, file: &Path) -> io::Result<()> {
        fs::remove_file(file)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn set_mode(&self, path: &Path, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }
}
