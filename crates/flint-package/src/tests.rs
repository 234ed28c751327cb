//! Behaviour of the public API on good and hostile archives.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::testutil::{RawEntry, ZipBuilder, eocd_candidate_flood, raw_zip, zeros_deflate};
use crate::{PackageError, PackageLimits, extract_zip, inspect_zip};

const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

fn limits() -> PackageLimits {
    PackageLimits::default()
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Extracts into `<tmp>/out`; on failure asserts that nothing at all is left in `<tmp>`.
fn extract_expecting_error(bytes: &[u8], limits: &PackageLimits) -> PackageError {
    let base = tempfile::tempdir().unwrap();
    let dest = base.path().join("out");
    let err = extract_zip(bytes, &dest, limits).expect_err("extraction should fail");
    let leftovers: Vec<_> = fs::read_dir(base.path()).unwrap().collect();
    assert!(leftovers.is_empty(), "partial output left: {leftovers:?}");
    err
}

fn both_refuse(bytes: &[u8], check: impl Fn(&PackageError) -> bool) {
    let inspected = inspect_zip(bytes, &limits()).expect_err("inspect should fail");
    assert!(check(&inspected), "inspect: unexpected {inspected:?}");
    let extracted = extract_expecting_error(bytes, &limits());
    assert!(check(&extracted), "extract: unexpected {extracted:?}");
}

const BOOTSTRAP: &[u8] = b"#!/bin/sh\necho hi\n";
const HANDLER: &[u8] = b"def handler(e, c):\n    return 1\n";

fn good_package() -> Vec<u8> {
    ZipBuilder::new()
        .file("bootstrap", BOOTSTRAP, 0o755)
        .dir("lib/", 0o750)
        .file("lib/handler.py", HANDLER, 0o644)
        .file("node_modules/typescript/bin/tsc", b"tsc", 0o755)
        .symlink("node_modules/.bin/tsc", "../typescript/bin/tsc")
        .finish()
}

#[test]
fn inspect_good_package() {
    let bytes = good_package();
    let info = inspect_zip(&bytes, &limits()).unwrap();
    let digest = Sha256::digest(&bytes);
    assert_eq!(
        info.code_sha256,
        base64::engine::general_purpose::STANDARD.encode(digest)
    );
    assert_eq!(info.sha256_hex, hex::encode(digest));
    assert_eq!(info.code_size, bytes.len() as u64);
    let expected = BOOTSTRAP.len() + HANDLER.len() + 3 + "../typescript/bin/tsc".len();
    assert_eq!(info.unzipped_size, expected as u64);
    assert_eq!(info.entries, 5);
}

#[test]
fn extract_good_package_keeps_modes_and_links() {
    let bytes = good_package();
    let base = tempfile::tempdir().unwrap();
    let dest = base.path().join("task");
    let out = extract_zip(&bytes, &dest, &limits()).unwrap();
    assert_eq!(out.package, inspect_zip(&bytes, &limits()).unwrap());
    assert_eq!((out.files, out.symlinks), (3, 1));
    // lib, node_modules, node_modules/typescript, .../bin, node_modules/.bin
    assert_eq!(out.dirs, 5);

    assert_eq!(fs::read(dest.join("bootstrap")).unwrap(), BOOTSTRAP);
    assert_eq!(mode_of(&dest.join("bootstrap")), 0o755, "exec bit kept");
    assert_eq!(mode_of(&dest.join("lib/handler.py")), 0o644);
    assert_eq!(mode_of(&dest.join("lib")), 0o750);
    assert_eq!(mode_of(&dest.join("node_modules")), 0o755, "implicit dir");
    assert_eq!(mode_of(&dest), 0o755);

    let link = dest.join("node_modules/.bin/tsc");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read_link(&link).unwrap(),
        Path::new("../typescript/bin/tsc")
    );
    assert_eq!(fs::read(&link).unwrap(), b"tsc", "internal link resolves");
}

#[test]
fn entries_without_unix_mode_get_defaults_and_special_bits_are_dropped() {
    let mut dos_file = RawEntry::stored("readme.txt", b"hi", 0);
    dos_file.made_by_unix = false;
    dos_file.external_attributes = 0x20; // DOS "archive" attribute
    let mut dos_dir = RawEntry::stored("docs/", b"", 0);
    dos_dir.made_by_unix = false;
    dos_dir.external_attributes = 0x10; // DOS directory attribute
    let mut dos_dir_no_slash = RawEntry::stored("olddir", b"", 0);
    dos_dir_no_slash.made_by_unix = false;
    dos_dir_no_slash.external_attributes = 0x11; // directory + read-only
    let setuid = RawEntry::stored("suid", b"x", S_IFREG | 0o4755);
    let no_bits = RawEntry::stored("nobits", b"x", S_IFREG);
    let bytes = raw_zip(&[dos_file, dos_dir, dos_dir_no_slash, setuid, no_bits]);

    let base = tempfile::tempdir().unwrap();
    let dest = base.path().join("out");
    extract_zip(&bytes, &dest, &limits()).unwrap();
    assert_eq!(mode_of(&dest.join("readme.txt")), 0o644);
    assert_eq!(mode_of(&dest.join("docs")), 0o755);
    assert!(
        dest.join("olddir").is_dir(),
        "DOS directory attribute honoured"
    );
    assert_eq!(mode_of(&dest.join("olddir")), 0o755);
    assert_eq!(mode_of(&dest.join("suid")), 0o755, "setuid stripped");
    assert_eq!(mode_of(&dest.join("nobits")), 0o644);
}

#[test]
fn empty_archive_is_a_valid_package() {
    let bytes = ZipBuilder::new().finish();
    let info = inspect_zip(&bytes, &limits()).unwrap();
    assert_eq!((info.entries, info.unzipped_size), (0, 0));
}

#[test]
fn not_a_zip() {
    for bytes in [&b""[..], b"hello world", b"PK\x03\x04garbage"] {
        both_refuse(bytes, |e| matches!(e, PackageError::NotAZip { .. }));
    }
}

#[test]
fn truncated_archives_are_refused_at_every_length() {
    let bytes = good_package();
    for len in 0..bytes.len() {
        let err = inspect_zip(&bytes[..len], &limits()).expect_err("truncated accepted");
        assert!(
            matches!(err, PackageError::NotAZip { .. }),
            "len {len}: {err:?}"
        );
    }
}

#[test]
fn corrupt_data_fails_the_crc_check() {
    let mut bytes = ZipBuilder::new()
        .file("a.txt", &[b'a'; 1000], 0o644)
        .finish();
    // Flip a bit inside the first entry's deflate data (local header is 30 + 5 bytes).
    bytes[40] ^= 0x01;
    both_refuse(&bytes, |e| matches!(e, PackageError::NotAZip { .. }));

    let mut entry = RawEntry::stored("a.txt", b"hello", S_IFREG | 0o644);
    entry.crc32 ^= 1;
    both_refuse(
        &raw_zip(&[entry]),
        |e| matches!(e, PackageError::NotAZip { reason } if reason.contains("checksum")),
    );
}

#[test]
fn escaping_and_absolute_names_are_refused() {
    for name in [
        "../evil",
        "a/../../evil",
        "/abs",
        "/etc/cron.d/x",
        "..\\evil",
        "C:/evil",
    ] {
        let bytes = raw_zip(&[
            RawEntry::stored("ok.txt", b"fine", S_IFREG | 0o644),
            RawEntry::stored(name, b"pwned", S_IFREG | 0o644),
        ]);
        both_refuse(&bytes, |e| matches!(e, PackageError::UnsafePath { .. }));
    }
}

#[test]
fn nul_in_name_is_refused() {
    let mut entry = RawEntry::stored("x", b"pwned", S_IFREG | 0o644);
    entry.name = b"ok\0/../../evil".to_vec();
    both_refuse(&raw_zip(&[entry]), |e| {
        matches!(e, PackageError::UnsafePath { .. })
    });
}

#[test]
fn escaping_symlinks_are_refused() {
    for target in ["../../../etc/passwd", "/etc/passwd", ".."] {
        let bytes = ZipBuilder::new().symlink("link", target).finish();
        both_refuse(&bytes, |e| matches!(e, PackageError::UnsafeLink { .. }));
    }
    // Escape through another link of the archive: lexically fine, really `/..`.
    let bytes = ZipBuilder::new()
        .symlink("d/up", "..")
        .symlink("e", "d/up/..")
        .finish();
    both_refuse(&bytes, |e| matches!(e, PackageError::UnsafeLink { .. }));
}

#[test]
fn writing_through_an_earlier_symlink_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().to_owned();
    // Absolute link first, then a file "inside" it.
    let bytes = raw_zip(&[
        RawEntry::stored("a", target.as_bytes(), S_IFLNK | 0o777),
        RawEntry::stored("a/passwd", b"pwned", S_IFREG | 0o644),
    ]);
    both_refuse(&bytes, |e| matches!(e, PackageError::UnsafePath { .. }));
    // A relative, in-package link is no excuse either.
    let bytes = raw_zip(&[
        RawEntry::stored("real/", b"", 0o040_755),
        RawEntry::stored("a", b"real", S_IFLNK | 0o777),
        RawEntry::stored("a/passwd", b"pwned", S_IFREG | 0o644),
    ]);
    both_refuse(&bytes, |e| matches!(e, PackageError::UnsafePath { .. }));
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn conflicting_entries_are_refused() {
    let bytes = raw_zip(&[
        RawEntry::stored("a", b"one", S_IFREG | 0o644),
        RawEntry::stored("./a", b"two", S_IFREG | 0o644),
    ]);
    both_refuse(&bytes, |e| {
        matches!(e, PackageError::ConflictingEntry { .. })
    });
    let bytes = raw_zip(&[
        RawEntry::stored("a/b", b"one", S_IFREG | 0o644),
        RawEntry::stored("a", b"b", S_IFLNK | 0o777),
    ]);
    both_refuse(&bytes, |e| {
        matches!(e, PackageError::ConflictingEntry { .. })
    });
}

#[test]
fn exact_duplicate_names_keep_the_last_record() {
    let bytes = raw_zip(&[
        RawEntry::stored("a", b"/etc", S_IFLNK | 0o777),
        RawEntry::stored("a", b"plain file", S_IFREG | 0o644),
    ]);
    let base = tempfile::tempdir().unwrap();
    let dest = base.path().join("out");
    let out = extract_zip(&bytes, &dest, &limits()).unwrap();
    assert_eq!(out.package.entries, 1);
    assert_eq!(fs::read(dest.join("a")).unwrap(), b"plain file");
}

#[test]
fn devices_and_fifos_are_refused() {
    for file_type in [0o010_000, 0o020_000, 0o060_000, 0o140_000] {
        let bytes = raw_zip(&[RawEntry::stored("dev", b"", file_type | 0o644)]);
        both_refuse(&bytes, |e| {
            matches!(e, PackageError::UnsupportedEntryType { .. })
        });
    }
}

#[test]
fn zipped_size_limit() {
    let bytes = good_package();
    let small = PackageLimits {
        max_zipped_bytes: bytes.len() as u64 - 1,
        ..limits()
    };
    let err = inspect_zip(&bytes, &small).unwrap_err();
    assert!(matches!(err, PackageError::ZippedTooLarge { size, limit } if size == limit + 1));
    let at_limit = PackageLimits {
        max_zipped_bytes: bytes.len() as u64,
        ..limits()
    };
    inspect_zip(&bytes, &at_limit).unwrap();
}

#[test]
fn too_many_entries() {
    let bytes = good_package();
    let few = PackageLimits {
        max_entries: 4,
        ..limits()
    };
    both_refuse_with(&bytes, &few, |e| {
        matches!(e, PackageError::TooManyEntries { limit: 4 })
    });
    let enough = PackageLimits {
        max_entries: 5,
        ..limits()
    };
    inspect_zip(&bytes, &enough).unwrap();
}

fn both_refuse_with(bytes: &[u8], limits: &PackageLimits, check: impl Fn(&PackageError) -> bool) {
    let inspected = inspect_zip(bytes, limits).expect_err("inspect should fail");
    assert!(check(&inspected), "inspect: unexpected {inspected:?}");
    let extracted = extract_expecting_error(bytes, limits);
    assert!(check(&extracted), "extract: unexpected {extracted:?}");
}

#[test]
fn unzipped_limit_counts_real_bytes_exactly() {
    let bytes = ZipBuilder::new()
        .file("a", &[7u8; 600], 0o644)
        .file("b", &[9u8; 400], 0o644)
        .finish();
    let exact = PackageLimits {
        max_unzipped_bytes: 1000,
        ..limits()
    };
    assert_eq!(inspect_zip(&bytes, &exact).unwrap().unzipped_size, 1000);
    let below = PackageLimits {
        max_unzipped_bytes: 999,
        ..limits()
    };
    both_refuse_with(&bytes, &below, |e| {
        matches!(e, PackageError::UnzippedTooLarge { limit: 999 })
    });
}

/// 300 MiB of zeros in ~300 KB, with honest headers, against Lambda's real limit: refused from
/// the declared sizes alone, before any decompression.
#[test]
fn honest_zip_bomb_with_default_limits() {
    let (stream, crc) = zeros_deflate(300);
    let bomb = RawEntry {
        name: b"zeros".to_vec(),
        method: 8,
        crc32: crc,
        data: stream,
        declared_size: 300 << 20,
        external_attributes: (S_IFREG | 0o644) << 16,
        made_by_unix: true,
    };
    let bytes = raw_zip(&[bomb]);
    let started = Instant::now();
    both_refuse(&bytes, |e| {
        matches!(e, PackageError::UnzippedTooLarge { limit: 262_144_000 })
    });
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// The same bomb declaring a tiny size: decompression must stop right after the declared size,
/// not at the end of the stream, so it is cheap even against the default limits, and nothing
/// stays on disk.
#[test]
fn lying_zip_bomb_stops_at_declared_size() {
    let (stream, crc) = zeros_deflate(300);
    let bomb = RawEntry {
        name: b"zeros".to_vec(),
        method: 8,
        crc32: crc,
        data: stream,
        declared_size: 1000,
        external_attributes: (S_IFREG | 0o644) << 16,
        made_by_unix: true,
    };
    let bytes = raw_zip(&[RawEntry::stored("ok", b"ok", S_IFREG | 0o644), bomb]);
    let started = Instant::now();
    both_refuse(
        &bytes,
        |e| matches!(e, PackageError::NotAZip { reason } if reason.contains("declared")),
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Many honest entries that together pass a small limit: refused, and extraction cleans up.
#[test]
fn many_entries_over_the_unzipped_limit() {
    let (stream, crc) = zeros_deflate(1);
    let entries: Vec<RawEntry> = (0..20)
        .map(|i| RawEntry {
            name: format!("f{i}").into_bytes(),
            method: 8,
            crc32: crc,
            data: stream.clone(),
            declared_size: 1 << 20,
            external_attributes: (S_IFREG | 0o644) << 16,
            made_by_unix: true,
        })
        .collect();
    let bytes = raw_zip(&entries);
    let limits = PackageLimits {
        max_unzipped_bytes: 10 << 20,
        ..limits()
    };
    both_refuse_with(&bytes, &limits, |e| {
        matches!(e, PackageError::UnzippedTooLarge { .. })
    });
    let roomy = PackageLimits {
        max_unzipped_bytes: 20 << 20,
        ..limits
    };
    assert_eq!(inspect_zip(&bytes, &roomy).unwrap().unzipped_size, 20 << 20);
}

#[test]
fn declared_size_lies_are_refused() {
    // Declares more than it holds.
    let mut bigger = RawEntry::stored("a", b"hello", S_IFREG | 0o644);
    bigger.declared_size = 50;
    both_refuse(&raw_zip(&[bigger]), |e| {
        matches!(e, PackageError::NotAZip { .. })
    });
    // Declares less than it holds.
    let mut smaller = RawEntry::stored("a", b"hello", S_IFREG | 0o644);
    smaller.declared_size = 2;
    both_refuse(&raw_zip(&[smaller]), |e| {
        matches!(e, PackageError::NotAZip { .. })
    });
}

#[test]
fn encrypted_entries_are_refused() {
    let mut bytes = raw_zip(&[RawEntry::stored("a", b"hello", S_IFREG | 0o644)]);
    // General-purpose flag bit 0 in the local header (offset 6) and the central header.
    bytes[6] |= 1;
    let central = bytes.len() - 22 - (46 + 1);
    bytes[central + 8] |= 1;
    both_refuse(&bytes, |e| matches!(e, PackageError::NotAZip { .. }));
}

#[test]
fn destination_must_be_new_or_empty() {
    let base = tempfile::tempdir().unwrap();
    fs::write(base.path().join("keep"), b"mine").unwrap();
    let err = extract_zip(&good_package(), base.path(), &limits()).unwrap_err();
    assert!(matches!(err, PackageError::DestinationNotEmpty { .. }));
    assert!(!err.is_client_error());
    assert_eq!(fs::read(base.path().join("keep")).unwrap(), b"mine");

    // A symlink to an empty directory is not accepted either.
    let empty = base.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let link = base.path().join("link");
    std::os::unix::fs::symlink(&empty, &link).unwrap();
    assert!(matches!(
        extract_zip(&good_package(), &link, &limits()),
        Err(PackageError::DestinationNotEmpty { .. })
    ));
}

#[test]
fn existing_empty_destination_is_emptied_again_on_failure() {
    let dest = tempfile::tempdir().unwrap();
    let bytes = raw_zip(&[
        RawEntry::stored("good/file", b"fine", S_IFREG | 0o644),
        RawEntry::stored("link", b"../x", S_IFLNK | 0o777),
    ]);
    let err = extract_zip(&bytes, dest.path(), &limits()).unwrap_err();
    assert!(matches!(err, PackageError::UnsafeLink { .. }));
    assert!(dest.path().is_dir());
    assert_eq!(fs::read_dir(dest.path()).unwrap().count(), 0);
}

/// Without a bound, the zip crate spends seconds (release build) on this 116 KB upload,
/// re-parsing the central directory once per end-record candidate; the cost grows with the
/// product of the two counts, so 50 MB would take hours.
#[test]
fn central_directory_search_is_bounded() {
    let bytes = eocd_candidate_flood(2_000, 1_000);
    let started = Instant::now();
    both_refuse(
        &bytes,
        |e| matches!(e, PackageError::NotAZip { reason } if reason.contains("budget")),
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

/// The parsing budget must not trip on legitimate but awkward archives: many entries, and data
/// prepended to the archive (self-extracting stubs), which makes the zip crate search for the
/// start of the central directory.
#[test]
fn parsing_budget_leaves_room_for_big_and_offset_archives() {
    let entries: Vec<RawEntry> = (0..5_000)
        .map(|i| RawEntry::stored(&format!("dir{}/file{i}.txt", i % 50), b"x", S_IFREG | 0o644))
        .collect();
    let plain = raw_zip(&entries);
    assert_eq!(inspect_zip(&plain, &limits()).unwrap().entries, 5_000);

    let mut offset = vec![0x90u8; 200_000];
    offset.extend_from_slice(&plain);
    assert_eq!(inspect_zip(&offset, &limits()).unwrap().entries, 5_000);
}
