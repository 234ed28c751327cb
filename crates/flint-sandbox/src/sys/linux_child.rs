//! [`ChildSys`] for [`Linux`]: the raw system calls of the cloned child.
//!
//! Only raw syscalls on the caller's memory and the stack (the rules are in `child/mod.rs`):
//! notably `syscall(SYS_setresuid)` and friends instead of glibc's `setuid`, whose wrapper
//! broadcasts the change to every thread it believes exists (`__nptl_setxid`) and deadlocks
//! in a child that has only one; and glibc's `clone()` wrapper (plain assembly: no locks, no
//! atfork handlers) instead of `fork`, which takes the malloc lock.

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::ptr;

use libc::{c_char, c_int, c_ulong, c_void, pid_t};

use super::cmsg;
use super::seam::{ChildSys, Errno, Linux, ProcessEntry, Received, SysResult};

fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno slot, always valid.
    unsafe { *libc::__errno_location() }
}

/// `Ok(())` when a call returned 0, else the errno.
fn check(r: impl TryInto<i64>) -> SysResult<()> {
    value(r).and_then(|v| {
        if v == 0 {
            Ok(())
        } else {
            Err(Errno(libc::EINVAL))
        }
    })
}

/// A non-negative return value (an fd, a count), else the errno.
fn value(r: impl TryInto<i64>) -> SysResult<i64> {
    match r.try_into() {
        Ok(v) if v >= 0 => Ok(v),
        _ => Err(Errno(errno())),
    }
}

fn opt_ptr(s: Option<&CStr>) -> *const c_char {
    s.map_or(ptr::null(), CStr::as_ptr)
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const SECCOMP_SET_MODE_FILTER: u32 = 1;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `struct ifreq` reduced to the name and the flags member of the union (40 bytes total).
#[repr(C)]
struct IfReqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// `struct ifreq` reduced to the name and the address member of the union (40 bytes total).
#[repr(C)]
struct IfReqAddr {
    name: [u8; libc::IFNAMSIZ],
    addr: libc::sockaddr_in,
    _pad: [u8; 8],
}

/// Where Lambda's X-Ray daemon listens (`AWS_XRAY_DAEMON_ADDRESS`, the value AWS reported).
/// The address is given to `lo` (as `lo:xray`, /32) so that the X-Ray SDKs' UDP segments are
/// sent (and dropped, no daemon listens) instead of failing with "network unreachable" in a
/// namespace whose only route is the loopback one.
const XRAY_DAEMON_ADDRESS: [u8; 4] = [169, 254, 100, 1];

/// Sets `address` (with a `/32` netmask) on `lo:xray`, over socket `s`.
///
/// # Safety
/// `s` is an open socket; only stack memory of the kernel's `ifreq` size is passed.
unsafe fn add_loopback_address(s: c_int, address: [u8; 4]) -> SysResult<()> {
    let mut req = IfReqAddr {
        name: [0; libc::IFNAMSIZ],
        addr: libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(address),
            },
            sin_zero: [0; 8],
        },
        _pad: [0; 8],
    };
    req.name[..7].copy_from_slice(b"lo:xray");
    // SAFETY: as the caller promised; `req` lives on this stack for both calls.
    unsafe {
        check(libc::ioctl(s, libc::SIOCSIFADDR, &raw mut req))?;
        req.addr.sin_addr.s_addr = u32::MAX;
        check(libc::ioctl(s, libc::SIOCSIFNETMASK, &raw mut req))
    }
}

/// Brings `lo` up in the calling thread's network namespace (also used by the namespace
/// pool, `netns.rs`), with the X-Ray daemon's address on it.
pub(crate) fn loopback_up() -> SysResult<()> {
    // SAFETY: socket/ioctl/close on a stack-allocated ifreq of the kernel's size.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(Errno(errno()));
        }
        let mut req = IfReqFlags {
            name: [0; libc::IFNAMSIZ],
            flags: 0,
            _pad: [0; 22],
        };
        req.name[..2].copy_from_slice(b"lo");
        let r = if libc::ioctl(s, libc::SIOCGIFFLAGS, &raw mut req) != 0 {
            Err(Errno(errno()))
        } else {
            req.flags |= libc::IFF_UP as libc::c_short;
            check(libc::ioctl(s, libc::SIOCSIFFLAGS, &raw mut req))
                .and_then(|()| add_loopback_address(s, XRAY_DAEMON_ADDRESS))
        };
        libc::close(s);
        r
    }
}

/// A close-on-exec unix socket pair of `kind` (`SOCK_STREAM`, `SOCK_SEQPACKET`).
pub(crate) fn socket_pair(kind: c_int) -> SysResult<(RawFd, RawFd)> {
    let mut pair = [-1; 2];
    // SAFETY: socketpair fills the two-element array on our stack.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    })?;
    Ok((pair[0], pair[1]))
}

impl ChildSys for Linux {
    fn set_parent_death_signal(&self, sig: c_int) -> SysResult<()> {
        // SAFETY: prctl with integer arguments only.
        check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as c_ulong, 0, 0, 0) })
    }

    fn set_name(&self, name: &CStr) {
        // SAFETY: PR_SET_NAME reads at most 16 bytes of a C string.
        unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr() as c_ulong, 0, 0, 0) };
    }

    fn set_dumpable(&self, dumpable: bool) {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, c_ulong::from(dumpable), 0, 0, 0) };
    }

    unsafe fn overwrite_memory(&self, start: usize, end: usize, text: &[u8]) {
        if end <= start + text.len() {
            return;
        }
        // SAFETY: the caller guarantees [start, end) is ours to write; `text` fits (checked).
        unsafe {
            ptr::write_bytes(start as *mut u8, 0, end - start);
            ptr::copy_nonoverlapping(text.as_ptr(), start as *mut u8, text.len());
        }
    }

    fn rlimit_max(&self, resource: c_int) -> u64 {
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the struct on our stack.
        unsafe { libc::getrlimit(resource as _, &mut cur) };
        cur.rlim_max
    }

    fn set_rlimit(&self, resource: c_int, soft: u64, hard: u64) -> SysResult<()> {
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads the struct on our stack.
        check(unsafe { libc::setrlimit(resource as _, &lim) })
    }

    fn setns(&self, fd: RawFd, nstype: c_int) -> SysResult<()> {
        // SAFETY: setns with integer arguments only.
        check(unsafe { libc::setns(fd, nstype) })
    }

    fn sethostname(&self, name: &CStr) -> SysResult<()> {
        // SAFETY: a C string and its length.
        check(unsafe { libc::sethostname(name.as_ptr(), name.to_bytes().len()) })
    }

    fn mount(
        &self,
        src: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: c_ulong,
        data: Option<&CStr>,
    ) -> SysResult<()> {
        // SAFETY: C strings or NULL, as mount(2) accepts.
        check(unsafe {
            libc::mount(
                opt_ptr(src),
                target.as_ptr(),
                opt_ptr(fstype),
                flags,
                opt_ptr(data).cast(),
            )
        })
    }

    fn chdir(&self, dir: &CStr) -> SysResult<()> {
        // SAFETY: a C string.
        check(unsafe { libc::chdir(dir.as_ptr()) })
    }

    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> SysResult<()> {
        // SAFETY: two C strings.
        check(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
    }

    fn umount_detach(&self, target: &CStr) -> SysResult<()> {
        // SAFETY: a C string.
        check(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) })
    }

    fn move_mount(&self, mount_fd: RawFd, target: &CStr) -> SysResult<()> {
        // SAFETY: move_mount of an fd (empty path) onto a C string path.
        check(unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                mount_fd,
                c"".as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        })
    }

    fn dup_above(&self, fd: RawFd, lowest: RawFd) -> SysResult<RawFd> {
        // SAFETY: fcntl with integer arguments only.
        value(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, lowest) }).map(|v| v as RawFd)
    }

    fn dup2(&self, fd: RawFd, target: RawFd) -> SysResult<()> {
        // SAFETY: dup2 with integer arguments only.
        value(unsafe { libc::dup2(fd, target) }).map(drop)
    }

    fn clear_cloexec(&self, fd: RawFd) -> SysResult<()> {
        // SAFETY: fcntl with integer arguments only.
        check(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) })
    }

    fn open_read_write(&self, path: &CStr) -> SysResult<RawFd> {
        // SAFETY: a C string.
        value(unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })
            .map(|v| v as RawFd)
    }

    fn close(&self, fd: RawFd) {
        // SAFETY: closing a descriptor the caller owns.
        unsafe { libc::close(fd) };
    }

    fn close_range(&self, first: u32, last: u32) {
        // SAFETY: close_range with integer arguments only.
        unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    }

    fn socketpair(&self) -> SysResult<(RawFd, RawFd)> {
        socket_pair(libc::SOCK_STREAM)
    }

    fn read(&self, fd: RawFd, buf: &mut [u8]) -> SysResult<usize> {
        // SAFETY: reading into the caller's buffer, at most its length.
        value(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }).map(|v| v as usize)
    }

    fn write(&self, fd: RawFd, buf: &[u8]) -> SysResult<usize> {
        // SAFETY: writing the caller's buffer, at most its length.
        value(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) }).map(|v| v as usize)
    }

    fn send(&self, sock: RawFd, buf: &[u8]) -> SysResult<usize> {
        // SAFETY: sending the caller's buffer, at most its length.
        value(unsafe { libc::send(sock, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) })
            .map(|v| v as usize)
    }

    fn send_fd(&self, sock: RawFd, byte: u8, fd: RawFd) -> SysResult<()> {
        match cmsg::send_with_fds(sock, &[byte], &[fd])? {
            1 => Ok(()),
            _ => Err(Errno(libc::EIO)),
        }
    }

    fn recv_with_fds(&self, sock: RawFd, buf: &mut [u8], fds: &mut [RawFd]) -> SysResult<Received> {
        cmsg::recv_with_fds(sock, buf, fds)
    }

    fn poll(&self, fds: &mut [libc::pollfd], timeout_ms: c_int) -> SysResult<usize> {
        // SAFETY: poll on the caller's array, with its length.
        value(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) })
            .map(|v| v as usize)
    }

    fn loopback_up(&self) -> SysResult<()> {
        loopback_up()
    }

    fn listen_loopback(&self, port: u16) -> SysResult<RawFd> {
        // SAFETY: socket/setsockopt/bind/listen with stack-allocated arguments.
        unsafe {
            let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if s < 0 {
                return Err(Errno(errno()));
            }
            let one: c_int = 1;
            libc::setsockopt(
                s,
                libc::SOL_SOCKET,
                libc::SO_REUSEADDR,
                (&raw const one).cast(),
                4,
            );
            let addr = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: port.to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
                },
                sin_zero: [0; 8],
            };
            if libc::bind(
                s,
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_in>() as u32,
            ) != 0
                || libc::listen(s, 1024) != 0
            {
                let e = errno();
                libc::close(s);
                return Err(Errno(e));
            }
            Ok(s)
        }
    }

    fn drop_bounding_capability(&self, cap: u32) -> SysResult<()> {
        // SAFETY: prctl with integer arguments only.
        check(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as c_ulong, 0, 0, 0) })
    }

    fn clear_ambient_capabilities(&self) {
        // SAFETY: prctl with integer arguments only.
        unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as c_ulong,
                0,
                0,
                0,
            )
        };
    }

    fn clear_groups(&self) -> SysResult<()> {
        // SAFETY: setgroups(0, NULL) reads no memory.
        check(unsafe { libc::syscall(libc::SYS_setgroups, 0usize, ptr::null::<libc::gid_t>()) })
    }

    fn set_gid(&self, gid: u32) -> SysResult<()> {
        // SAFETY: the raw syscall with integer arguments only.
        check(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) })
    }

    fn set_uid(&self, uid: u32) -> SysResult<()> {
        // SAFETY: the raw syscall with integer arguments only.
        check(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) })
    }

    fn clear_capabilities(&self) -> SysResult<()> {
        let mut hdr = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [CapData::default(); 2];
        // SAFETY: capset with a header and two data structs of the kernel's v3 layout.
        check(unsafe { libc::syscall(libc::SYS_capset, &raw mut hdr, data.as_ptr()) })
    }

    fn set_no_new_privs(&self) -> SysResult<()> {
        // SAFETY: prctl with integer arguments only.
        check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
    }

    fn install_seccomp(&self, filter: &libc::sock_fprog) -> SysResult<()> {
        // SAFETY: the program the fprog points to is owned by the plan and outlives the call.
        check(unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                0u32,
                filter as *const libc::sock_fprog,
            )
        })
    }

    unsafe fn spawn_vforked(
        &self,
        entry: ProcessEntry,
        stack_top: *mut c_void,
        arg: *mut c_void,
    ) -> SysResult<pid_t> {
        // SAFETY: the caller guarantees the stack and `arg` outlive the child's use of them.
        value(unsafe {
            libc::clone(
                entry,
                stack_top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                arg,
            )
        })
        .map(|v| v as pid_t)
    }

    fn new_session(&self) {
        // SAFETY: setsid takes no arguments.
        unsafe { libc::setsid() };
    }

    fn reset_signal_handling(&self) {
        // SAFETY: sigaction/sigprocmask with structs on our stack.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            for sig in 1..=libc::SIGRTMAX() {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::sigaction(sig, &dfl, ptr::null_mut());
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, ptr::null_mut());
        }
    }

    fn default_sigchld(&self) {
        // SAFETY: sigaction with a struct on our stack.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(libc::SIGCHLD, &dfl, ptr::null_mut());
        }
    }

    unsafe fn execve(
        &self,
        path: *const c_char,
        argv: *const *const c_char,
        envp: *const *const c_char,
    ) -> Errno {
        // SAFETY: the caller guarantees the C string and the NULL-terminated arrays.
        unsafe { libc::execve(path, argv, envp) };
        Errno(errno())
    }

    fn wait_signal(&self) -> Option<c_int> {
        // SAFETY: sigwaitinfo with a full set on our stack and no siginfo.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            let sig = libc::sigwaitinfo(&all, ptr::null_mut());
            (sig >= 0).then_some(sig)
        }
    }

    fn kill(&self, pid: pid_t, sig: c_int) {
        // SAFETY: kill with integer arguments only.
        unsafe { libc::kill(pid, sig) };
    }

    fn reap(&self) -> Option<(pid_t, c_int)> {
        let mut st: c_int = 0;
        // SAFETY: wait4 fills the status on our stack; no rusage.
        let r = unsafe { libc::wait4(-1, &mut st, libc::WNOHANG, ptr::null_mut()) };
        (r > 0).then_some((r, st))
    }

    fn exit(&self, code: c_int) -> ! {
        // SAFETY: _exit never returns and runs no handlers.
        unsafe { libc::_exit(code) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifreq_has_the_kernels_size() {
        assert_eq!(size_of::<IfReqFlags>(), 40);
    }
}
