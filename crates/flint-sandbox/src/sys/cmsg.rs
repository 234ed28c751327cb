//! Descriptors passed over unix sockets (`SCM_RIGHTS`), for the child and for flint alike:
//! the control buffer is a fixed array on the stack, so this code allocates nothing and may
//! run between `clone` and `exec`.

use std::os::fd::RawFd;
use std::ptr;

use libc::c_int;

use super::seam::{Errno, Received, SysResult};

/// Most descriptors one message carries (the spawn helper's request has at most 14).
pub(crate) const MAX_FDS: usize = 16;

/// Room for one `SCM_RIGHTS` control message of [`MAX_FDS`] descriptors
/// (`CMSG_SPACE(64)` = 80 bytes), aligned for `cmsghdr`.
#[repr(C, align(8))]
struct Control([u8; 80]);

fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno slot, always valid.
    unsafe { *libc::__errno_location() }
}

/// `CMSG_SPACE` of `n` descriptors.
fn space_for(n: usize) -> usize {
    // SAFETY: CMSG_SPACE is arithmetic.
    unsafe { libc::CMSG_SPACE((n * size_of::<RawFd>()) as u32) as usize }
}

/// Sends `data` (at least one byte) with `fds` attached, `MSG_NOSIGNAL`. Returns the bytes
/// sent.
pub(crate) fn send_with_fds(sock: RawFd, data: &[u8], fds: &[RawFd]) -> SysResult<usize> {
    if fds.len() > MAX_FDS {
        return Err(Errno(libc::EINVAL));
    }
    let mut control = Control([0; 80]);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; every pointer in it refers to a live buffer of the size
    // given (iov: `data`, control: `control`, which CMSG_SPACE(fds) fits, checked above).
    let n = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.0.as_mut_ptr().cast();
            msg.msg_controllen = space_for(fds.len());
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(size_of_val(fds) as u32) as usize;
            ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c).cast::<RawFd>(), fds.len());
        }
        libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL)
    };
    if n < 0 {
        return Err(Errno(errno()));
    }
    Ok(n as usize)
}

/// One `recvmsg` (retried on `EINTR`) into `buf`; attached descriptors, received
/// close-on-exec, go to `fds` in order. Descriptors beyond `fds.len()` are closed and, like a
/// kernel-truncated message, reported as `truncated`.
pub(crate) fn recv_with_fds(sock: RawFd, buf: &mut [u8], fds: &mut [RawFd]) -> SysResult<Received> {
    let mut control = Control([0; 80]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; its pointers refer to `buf` and `control`, live and of
    // the sizes given; the control messages are walked with the kernel's CMSG macros within
    // `msg_controllen`, and every descriptor read from them is new and ours to keep or close.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = control.0.len();
        let n = loop {
            let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 {
                break n as usize;
            }
            let e = errno();
            if e != libc::EINTR {
                return Err(Errno(e));
            }
        };
        let mut got = Received {
            len: n,
            fds: 0,
            truncated: msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0,
        };
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let count = ((*c).cmsg_len - libc::CMSG_LEN(0) as usize) / size_of::<RawFd>();
                for i in 0..count {
                    let fd = ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>().add(i));
                    if got.fds < fds.len() {
                        fds[got.fds] = fd;
                        got.fds += 1;
                    } else {
                        libc::close(fd);
                        got.truncated = true;
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn the_control_buffer_fits_max_fds() {
        assert!(space_for(MAX_FDS) <= size_of::<Control>());
    }

    #[test]
    fn descriptors_travel_and_surplus_ones_are_reported() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let devnull = std::fs::File::open("/dev/null").unwrap();
        let fd = devnull.as_raw_fd();
        assert_eq!(send_with_fds(a.as_raw_fd(), b"hi", &[fd, fd, fd]), Ok(2));
        let mut buf = [0u8; 8];
        let mut fds = [-1; 2];
        let got = recv_with_fds(b.as_raw_fd(), &mut buf, &mut fds).unwrap();
        assert_eq!((got.len, got.fds, got.truncated), (2, 2, true));
        assert_eq!(&buf[..2], b"hi");
        for fd in fds {
            assert!(fd > 2);
            // SAFETY: closing the descriptors received above.
            unsafe { libc::close(fd) };
        }
        assert!(send_with_fds(a.as_raw_fd(), b"x", &[fd; MAX_FDS + 1]).is_err());
    }
}
