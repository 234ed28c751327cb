//! `zip_intake`: arbitrary bytes as an uploaded deployment package.
//!
//! Invariants checked on every input:
//! 1. neither `inspect_zip` nor `extract_zip` panics, overflows or runs away (libFuzzer's
//!    `-rss_limit_mb` and `-timeout` catch the last two);
//! 2. they agree: both accept with identical `InspectedPackage`, or both refuse with the same
//!    error variant (so `inspect_zip` really validates everything extraction would);
//! 3. extraction never fails with an I/O error (every name that could break `open(2)` must be
//!    refused up front, as a client error);
//! 4. nothing is written outside the destination: the temp dir holding it contains only the
//!    destination afterwards, or nothing at all after a refusal (partial output cleaned up);
//! 5. the extracted tree holds only directories, regular files (one link each, no
//!    setuid/setgid/sticky bits) and symlinks, and every symlink, resolved by walking the real
//!    filesystem the way the kernel does, stays inside the destination;
//! 6. the bytes on disk do not exceed the measured `unzipped_size`.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::mem::discriminant;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use flint_package::{ExtractedPackage, PackageError, PackageLimits, extract_zip, inspect_zip};

/// Smaller than Lambda's so one input can never write hundreds of MB per iteration; the limit
/// logic is the same code whatever the numbers.
pub fn limits() -> PackageLimits {
    PackageLimits {
        max_zipped_bytes: 1 << 20,
        max_unzipped_bytes: 4 << 20,
        max_entries: 256,
    }
}

pub fn run(data: &[u8]) {
    let limits = limits();
    let inspected = inspect_zip(data, &limits);
    let base = tempfile::tempdir().expect("create temp dir");
    let dest = base.path().join("out");
    let extracted = extract_zip(data, &dest, &limits);

    match (&inspected, &extracted) {
        (Ok(inspected), Ok(extracted)) => {
            assert_eq!(
                inspected, &extracted.package,
                "inspect and extract disagree"
            );
            assert_eq!(list(base.path()), vec![OsString::from("out")]);
            check_tree(&dest, extracted);
        }
        (Err(a), Err(b)) => {
            assert_no_io(b);
            assert!(a.is_client_error(), "inspect failed on our side: {a:?}");
            assert_eq!(
                discriminant(a),
                discriminant(b),
                "inspect and extract refuse differently: {a:?} vs {b:?}"
            );
            assert!(list(base.path()).is_empty(), "partial output left behind");
        }
        (Ok(_), Err(e)) => {
            assert_no_io(e);
            panic!("inspect accepted what extract refused: {e:?}");
        }
        (Err(e), Ok(_)) => panic!("extract accepted what inspect refused: {e:?}"),
    }
}

fn assert_no_io(err: &PackageError) {
    assert!(
        err.is_client_error(),
        "extraction hit an I/O error: {err:?}"
    );
}

fn list(dir: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").file_name())
        .collect();
    names.sort();
    names
}

fn check_tree(root: &Path, extracted: &ExtractedPackage) {
    let (mut files, mut dirs, mut links, mut bytes) = (0usize, 0usize, 0usize, 0u64);
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        for name in list(&root.join(&rel)) {
            let rel = rel.join(&name);
            let full = root.join(&rel);
            let meta = fs::symlink_metadata(&full).expect("lstat");
            let kind = meta.file_type();
            if kind.is_dir() {
                dirs += 1;
                pending.push(rel);
            } else if kind.is_file() {
                files += 1;
                bytes += meta.len();
                assert_eq!(meta.nlink(), 1, "{rel:?} is hard-linked");
                assert_eq!(meta.mode() & 0o7000, 0, "{rel:?} has special mode bits");
            } else if kind.is_symlink() {
                links += 1;
                let target = fs::read_link(&full).expect("readlink");
                bytes += target.as_os_str().len() as u64;
                assert!(
                    stays_inside(root, &rel),
                    "symlink {rel:?} -> {target:?} resolves outside the package"
                );
            } else {
                panic!("{rel:?} has unexpected file type {kind:?}");
            }
        }
    }
    assert_eq!(
        (files, dirs, links),
        (extracted.files, extracted.dirs, extracted.symlinks)
    );
    assert!(bytes <= extracted.package.unzipped_size);
}

/// Resolves the symlink at `root/link` like the kernel (`lstat`/`readlink` one component at a
/// time, at most 40 links) and reports whether it stays under `root`. Where the kernel would
/// fail (missing component, `ENOTDIR`, `ELOOP`) nothing is reachable, which counts as inside.
/// Independent of the crate's in-memory model on purpose: this checks the real result.
fn stays_inside(root: &Path, link: &Path) -> bool {
    let mut dir: Vec<OsString> = link
        .parent()
        .map(|p| p.iter().map(OsString::from).collect())
        .unwrap_or_default();
    let mut pending: VecDeque<OsString> =
        VecDeque::from([link.file_name().expect("link has a name").to_owned()]);
    let mut hops = 0;
    while let Some(component) = pending.pop_front() {
        match component.as_bytes() {
            b"" | b"." => {}
            b".." => {
                if dir.pop().is_none() {
                    return false;
                }
            }
            _ => {
                let mut path = root.to_path_buf();
                path.extend(&dir);
                path.push(&component);
                let Ok(meta) = fs::symlink_metadata(&path) else {
                    return true;
                };
                if meta.file_type().is_symlink() {
                    hops += 1;
                    if hops > 40 {
                        return true;
                    }
                    let target = fs::read_link(&path).expect("readlink");
                    if target.is_absolute() {
                        return false;
                    }
                    let parts = target.as_os_str().as_bytes().split(|b| *b == b'/');
                    for part in parts.rev() {
                        pending.push_front(OsString::from(std::ffi::OsStr::from_bytes(part)));
                    }
                } else if meta.file_type().is_dir() {
                    dir.push(component);
                } else if !pending.is_empty() {
                    // A regular file used as a directory: ENOTDIR.
                    return true;
                }
            }
        }
    }
    true
}
