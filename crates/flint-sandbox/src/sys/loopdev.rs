//! The real calls behind the disk-backed `/tmp` (`ephemeral.rs`): an ext4 image made by
//! `mkfs.ext4`, its sparse copy, a loop device, and mounts in flint's own namespace.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LO_FLAGS_AUTOCLEAR: u32 = 4;
const LO_FLAGS_DIRECT_IO: u32 = 16;

/// `struct loop_info64` of `<linux/loop.h>`.
#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

/// `struct loop_config` of `<linux/loop.h>` (Linux >= 5.8).
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

fn c_path(path: &Path) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in a path"))
}

fn mkfs_program() -> PathBuf {
    ["/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| "mkfs.ext4".into())
}

/// Whether this host can give environments a disk-backed `/tmp`: a loop device control
/// file and `mkfs.ext4`.
pub(crate) fn supported() -> bool {
    Path::new("/dev/loop-control").exists()
        && Command::new(mkfs_program())
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

pub(crate) fn make_ext4(image: &Path, bytes: u64, inodes: u64) -> io::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(image)?;
    f.set_len(bytes)?;
    drop(f);
    // No journal (a /tmp needs no crash consistency, and a journal costs space and writes),
    // no reserved blocks for root, no room to grow: the size is fixed. Inode tables are left
    // uninitialised (and mounted `noinit_itable`), so the image holds only a few hundred KB
    // of metadata and copies in a moment.
    let out = Command::new(mkfs_program())
        .args([
            "-q",
            "-F",
            "-b",
            "4096",
            "-N",
            &inodes.to_string(),
            "-m",
            "0",
            "-O",
            "^has_journal,^resize_inode",
            "-E",
            "lazy_itable_init=1,nodiscard",
        ])
        .arg(image)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        let _ = fs::remove_file(image);
        return Err(io::Error::other(format!(
            "mkfs.ext4: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn seek(f: &File, off: i64, whence: libc::c_int) -> io::Result<Option<i64>> {
    // SAFETY: lseek on a descriptor we own; integer arguments only.
    let r = unsafe { libc::lseek(f.as_raw_fd(), off, whence) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENXIO) {
            Ok(None)
        } else {
            Err(e)
        };
    }
    Ok(Some(r))
}

pub(crate) fn copy_sparse(from: &Path, to: &Path) -> io::Result<()> {
    let src = File::open(from)?;
    let len = src.metadata()?.len();
    let dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)?;
    let copy = || -> io::Result<()> {
        dst.set_len(len)?;
        let mut pos = 0i64;
        while let Some(data) = seek(&src, pos, libc::SEEK_DATA)? {
            let end = seek(&src, data, libc::SEEK_HOLE)?.unwrap_or(len as i64);
            let (mut off_in, mut off_out) = (data, data);
            while off_in < end {
                // SAFETY: copy_file_range between two descriptors we own, with offsets we
                // own; the kernel reads and writes only the files.
                let n = unsafe {
                    libc::copy_file_range(
                        src.as_raw_fd(),
                        &mut off_in,
                        dst.as_raw_fd(),
                        &mut off_out,
                        (end - off_in) as usize,
                        0,
                    )
                };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                if n == 0 {
                    return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
                }
            }
            pos = end;
        }
        Ok(())
    };
    copy().inspect_err(|_| {
        let _ = fs::remove_file(to);
    })
}

pub(crate) fn attach_loop(image: &Path) -> io::Result<(PathBuf, OwnedFd)> {
    let ctl = File::open("/dev/loop-control")?;
    let backing = OpenOptions::new().read(true).write(true).open(image)?;
    // Another process may take the free device between the two calls: then try the next.
    for _ in 0..16 {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number.
        let n = unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let dev = PathBuf::from(format!("/dev/loop{n}"));
        let loop_file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&dev)?;
        let config = LoopConfig {
            fd: backing.as_raw_fd() as u32,
            block_size: 4096,
            info: LoopInfo64 {
                lo_device: 0,
                lo_inode: 0,
                lo_rdevice: 0,
                lo_offset: 0,
                lo_sizelimit: 0,
                lo_number: 0,
                lo_encrypt_type: 0,
                lo_encrypt_key_size: 0,
                lo_flags: LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO,
                lo_file_name: [0; 64],
                lo_crypt_name: [0; 64],
                lo_encrypt_key: [0; 32],
                lo_init: [0; 2],
            },
            reserved: [0; 8],
        };
        // SAFETY: LOOP_CONFIGURE with a pointer to a loop_config of the kernel's layout that
        // lives across the call.
        let r = unsafe { libc::ioctl(loop_file.as_raw_fd(), LOOP_CONFIGURE, &raw const config) };
        if r == 0 {
            return Ok((dev, OwnedFd::from(loop_file)));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) {
            return Err(e);
        }
    }
    Err(io::Error::other("no free loop device"))
}

pub(crate) fn mount_device(
    device: &Path,
    target: &Path,
    fstype: &str,
    data: &str,
) -> io::Result<()> {
    let (src, dst) = (c_path(device)?, c_path(target)?);
    let fstype = std::ffi::CString::new(fstype).map_err(io::Error::other)?;
    let data = std::ffi::CString::new(data).map_err(io::Error::other)?;
    // SAFETY: mount(2) with valid C strings that live across the call.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            data.as_ptr().cast(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub(crate) fn unmount(target: &Path) -> io::Result<()> {
    let t = c_path(target)?;
    // SAFETY: umount2 with a valid C string.
    if unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub(crate) fn available_bytes(path: &Path) -> io::Result<u64> {
    let p = c_path(path)?;
    // SAFETY: statvfs is plain data the call fills.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs with a valid C string and a pointer to our struct.
    if unsafe { libc::statvfs(p.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_bavail * st.f_frsize)
}
