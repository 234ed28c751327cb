//! Intake of Lambda deployment packages: zip files uploaded by API callers, which are untrusted.
//!
//! Two entry points, both enforcing the same rules:
//! - [`inspect_zip`] validates a whole archive in memory (nothing touches the disk) and returns
//!   Lambda's `CodeSha256`/`CodeSize` plus the real unzipped size;
//! - [`extract_zip`] does the same checks while writing the package into a fresh directory.
//!   It returns the same figures, so callers that extract need not inspect first.
//!
//! # What is refused, and why
//! - more than [`PackageLimits::max_zipped_bytes`] of zip (checked first, before parsing);
//! - anything the zip reader cannot read: no central directory, truncated data, CRC
//!   mismatches, encrypted entries, compression methods other than stored/deflate;
//! - an entry whose decompressed size differs from the size the archive declares: zip bombs lie
//!   about sizes, so sizes are *measured* by decompressing (into a sink, or the output file),
//!   and decompression stops at the first byte past the declared size or past
//!   [`PackageLimits::max_unzipped_bytes`] in total. A bomb therefore costs at most
//!   `max_unzipped_bytes` of decompression and no disk beyond that. Archives whose *declared*
//!   total is already over the limit are refused without decompressing anything;
//! - entry names that are not safe relative paths (see [`PackageError::UnsafePath`]);
//! - symlinks whose target, resolved the way the kernel would (through other symlinks of the
//!   same archive), leaves the package root. Internal symlinks are fine: `node_modules/.bin`
//!   is full of them;
//! - device, FIFO and socket entries (zip cannot express hardlinks);
//! - two entries for the same normalised path, unless both are directories, and paths that are
//!   both a directory and a file or symlink. That includes "write through a symlink" tricks
//!   (`a -> /etc` then `a/passwd`), which are refused whatever their order.
//!
//! Exact duplicate names (same bytes) are collapsed by the zip reader before we see them: the
//! last central-directory record wins, as with `unzip -o`. That is safe: we only ever see one
//! entry, with one type, for that name.
//!
//! [`PackageError`] documents how each failure maps onto the Lambda API's errors.

// Parsing hostile input is exactly where memory-safety bugs would hurt; none is needed here.
#![forbid(unsafe_code)]

mod error;
mod extract;
mod path;
mod tree;

use std::cell::Cell;
use std::io::{self, Cursor, Read, Seek, Write};
use std::rc::Rc;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use zip::ZipArchive;
use zip::read::HasZipMetadata as _;

pub use error::{COULD_NOT_UNZIP_MESSAGE, PackageError};
pub use extract::{ExtractedPackage, extract_zip};

use crate::path::{EntryPath, MAX_PATH_LEN, normalize_entry_name};
use crate::tree::{EntryKind, Tree, validate_link_target};

/// Size and count limits applied to a package. The defaults are Lambda's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageLimits {
    /// Largest accepted zip, in bytes. Lambda: 50 MiB (52,428,800) for direct uploads.
    pub max_zipped_bytes: u64,
    /// Largest accepted total of decompressed entry data, in bytes. Lambda: 262,144,000.
    pub max_unzipped_bytes: u64,
    /// Most entries (files, directories and symlinks) in one archive. Lambda publishes no such
    /// limit; we need one because every entry costs memory and a file on disk, and a 50 MB zip
    /// can hold over a million empty entries. Real packages, even big `node_modules` trees, stay
    /// well below the default of 100,000. Each deflated entry costs the zip reader some tens of
    /// microseconds to set up a decompressor, so the default also caps that at a few seconds.
    pub max_entries: usize,
}

impl Default for PackageLimits {
    fn default() -> Self {
        Self {
            max_zipped_bytes: 52_428_800,
            max_unzipped_bytes: 262_144_000,
            max_entries: 100_000,
        }
    }
}

/// What Lambda reports about a package, plus what we measured while validating it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectedPackage {
    /// Lambda's `CodeSha256`: base64 of the SHA-256 of the zip bytes.
    pub code_sha256: String,
    /// The same digest in lowercase hex, handy as a content-addressed blob key.
    pub sha256_hex: String,
    /// Lambda's `CodeSize`: the zip's length in bytes.
    pub code_size: u64,
    /// Total decompressed bytes of all entries, as measured (never the declared sizes).
    pub unzipped_size: u64,
    /// Number of entries in the archive.
    pub entries: usize,
}

/// Validates a whole deployment package in memory, without writing anything to disk.
///
/// Every entry is decompressed into a sink to measure its real size and check its CRC. See the
/// crate documentation for the rules and [`PackageError`] for the errors.
pub fn inspect_zip(bytes: &[u8], limits: &PackageLimits) -> Result<InspectedPackage, PackageError> {
    process(bytes, limits, &mut InspectSink)
}

/// One entry of the archive that passed the metadata checks, in archive order.
#[derive(Debug)]
pub(crate) struct PlannedEntry {
    index: usize,
    name: String,
    pub(crate) path: EntryPath,
    pub(crate) kind: EntryKind,
    /// Permission bits (`0o777` at most) to give the file or directory.
    pub(crate) permissions: u32,
    declared_size: u64,
    node: usize,
}

/// Where decompressed entries go: nowhere ([`InspectSink`]) or to disk ([`extract`]).
pub(crate) trait Sink {
    type File: Write;
    fn create_dir(&mut self, entry: &PlannedEntry) -> Result<(), PackageError>;
    fn create_file(&mut self, entry: &PlannedEntry) -> Result<Self::File, PackageError>;
    fn finish_file(&mut self, entry: &PlannedEntry, file: Self::File) -> Result<(), PackageError>;
    /// Called once every entry has been read and every symlink has been checked.
    fn finish(&mut self, links: &[(&PlannedEntry, String)]) -> Result<(), PackageError>;
}

struct InspectSink;

impl Sink for InspectSink {
    type File = io::Sink;
    fn create_dir(&mut self, _: &PlannedEntry) -> Result<(), PackageError> {
        Ok(())
    }
    fn create_file(&mut self, _: &PlannedEntry) -> Result<io::Sink, PackageError> {
        Ok(io::sink())
    }
    fn finish_file(&mut self, _: &PlannedEntry, _: io::Sink) -> Result<(), PackageError> {
        Ok(())
    }
    fn finish(&mut self, _: &[(&PlannedEntry, String)]) -> Result<(), PackageError> {
        Ok(())
    }
}

/// The shared pipeline: size check, metadata checks on every entry, then one streaming pass
/// that decompresses every entry into `sink`, then the symlink checks.
pub(crate) fn process(
    bytes: &[u8],
    limits: &PackageLimits,
    sink: &mut impl Sink,
) -> Result<InspectedPackage, PackageError> {
    let code_size = bytes.len() as u64;
    if code_size > limits.max_zipped_bytes {
        return Err(PackageError::ZippedTooLarge {
            size: code_size,
            limit: limits.max_zipped_bytes,
        });
    }
    let mut archive = open_archive(bytes)?;
    let entries = archive.len();
    if entries > limits.max_entries {
        return Err(PackageError::TooManyEntries {
            limit: limits.max_entries,
        });
    }

    let (plan, mut tree) = plan_entries(&mut archive, limits)?;

    let mut budget = Budget {
        used: 0,
        limit: limits.max_unzipped_bytes,
        buf: vec![0; 64 * 1024],
    };
    let mut links: Vec<(&PlannedEntry, String)> = Vec::new();
    for entry in &plan {
        let mut data = archive.by_index(entry.index)?;
        match entry.kind {
            EntryKind::Dir => {
                // Directory entries carry no data in sane archives, but some writers deflate an
                // empty stream for them; read it anyway so it is counted and CRC-checked.
                copy_entry(&mut data, &mut io::sink(), entry, &mut budget)?;
                sink.create_dir(entry)?;
            }
            EntryKind::File => {
                let mut file = sink.create_file(entry)?;
                copy_entry(&mut data, &mut file, entry, &mut budget)?;
                sink.finish_file(entry, file)?;
            }
            EntryKind::Symlink => {
                let mut raw = Vec::with_capacity(entry.declared_size as usize);
                copy_entry(&mut data, &mut raw, entry, &mut budget)?;
                let target = validate_link_target(&entry.name, &raw)?;
                tree.set_link_target(entry.node, &entry.name, target.clone());
                links.push((entry, target));
            }
        }
    }
    tree.check_links()?;
    sink.finish(&links)?;

    let digest = Sha256::digest(bytes);
    Ok(InspectedPackage {
        code_sha256: base64::engine::general_purpose::STANDARD.encode(digest),
        sha256_hex: hex::encode(digest),
        code_size,
        unzipped_size: budget.used,
        entries,
    })
}

/// Parses the archive's central directory with a bound on the work it may take.
///
/// When the end-of-central-directory record it finds does not lead to a valid central
/// directory, the zip crate (2.x) tries every earlier `PK\x05\x06` signature in the file, each
/// time re-parsing a central directory. A 500 KB upload of one long, almost valid central
/// directory followed by a thousand such records costs it over 20 s of CPU (release build);
/// 50 MB would cost hours. So the reader it gets stops serving bytes once it has read a few times the archive's
/// size (an honest archive is parsed reading its central directory about once), which turns that
/// search into a quick `NotAZip`. The bound is lifted before entries are decompressed.
fn open_archive(bytes: &[u8]) -> Result<ZipArchive<MeteredReader<'_>>, PackageError> {
    let budget = Rc::new(Cell::new(
        (bytes.len() as u64)
            .saturating_mul(4)
            .saturating_add(64 << 10),
    ));
    let reader = MeteredReader {
        inner: Cursor::new(bytes),
        remaining: Rc::clone(&budget),
    };
    match ZipArchive::new(reader) {
        Ok(archive) => {
            budget.set(u64::MAX);
            Ok(archive)
        }
        Err(_) if budget.get() == 0 => Err(PackageError::not_a_zip(
            "no valid central directory found within the parsing work budget",
        )),
        Err(e) => Err(e.into()),
    }
}

/// A reader over the upload that fails every read once `remaining` bytes have been served.
pub(crate) struct MeteredReader<'a> {
    inner: Cursor<&'a [u8]>,
    remaining: Rc<Cell<u64>>,
}

impl Read for MeteredReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.remaining.get();
        if remaining == 0 && !buf.is_empty() {
            return Err(io::Error::other("zip parsing work budget exhausted"));
        }
        let allowed = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..allowed])?;
        self.remaining.set(remaining - n as u64);
        Ok(n)
    }
}

impl Seek for MeteredReader<'_> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Unix file-type bits, as stored in the high half of the external attributes.
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;
/// `System::Unix` in the zip "version made by" field; only then is the mode a unix mode.
const ZIP_SYSTEM_UNIX: u8 = 3;
/// `System::Dos` (also what Windows zippers write).
const ZIP_SYSTEM_DOS: u8 = 0;

const DEFAULT_FILE_PERMISSIONS: u32 = 0o644;
const DEFAULT_DIR_PERMISSIONS: u32 = 0o755;

/// First pass, over the central directory only (no decompression): classify every entry,
/// validate its name, build the tree model, and refuse archives whose declared total size is
/// already over the limit (honest big archives fail fast; dishonest ones fail in the second pass
/// when an entry outgrows its declared size).
fn plan_entries(
    archive: &mut ZipArchive<MeteredReader<'_>>,
    limits: &PackageLimits,
) -> Result<(Vec<PlannedEntry>, Tree), PackageError> {
    let mut plan = Vec::with_capacity(archive.len());
    let mut tree = Tree::new();
    let mut declared_total: u64 = 0;
    for index in 0..archive.len() {
        let file = archive.by_index_raw(index)?;
        let name = file.name().to_owned();
        if file.encrypted() {
            return Err(PackageError::not_a_zip(format!(
                "entry {name:?} is encrypted"
            )));
        }
        let path = normalize_entry_name(&name).map_err(|reason| PackageError::UnsafePath {
            name: name.clone(),
            reason,
        })?;
        let meta = file.get_metadata();
        let (mode, made_on_unix) = entry_mode(meta.system as u8, meta.external_attributes);
        let kind = match (mode.map(|m| m & S_IFMT), path.trailing_slash) {
            (Some(S_IFDIR), _) | (None | Some(0) | Some(S_IFREG), true) => EntryKind::Dir,
            (None | Some(0) | Some(S_IFREG), false) => EntryKind::File,
            (Some(S_IFLNK), false) => EntryKind::Symlink,
            (Some(S_IFLNK), true) => {
                return Err(PackageError::UnsafePath {
                    name,
                    reason: "symlink name ends with `/`",
                });
            }
            (Some(_), _) => {
                return Err(PackageError::UnsupportedEntryType {
                    name,
                    mode: mode.unwrap_or_default(),
                });
            }
        };
        let unix_bits = mode.filter(|_| made_on_unix).map(|m| m & 0o777);
        let permissions = match (unix_bits, kind) {
            // No bits recorded (or none at all, which no real package means): use defaults.
            (None | Some(0), EntryKind::Dir) => DEFAULT_DIR_PERMISSIONS,
            (None | Some(0), _) => DEFAULT_FILE_PERMISSIONS,
            // setuid/setgid/sticky are dropped by the 0o777 mask on purpose.
            (Some(bits), _) => bits,
        };
        let declared_size = file.size();
        if kind == EntryKind::Symlink && declared_size > MAX_PATH_LEN as u64 {
            return Err(PackageError::UnsafeLink {
                name,
                target: String::new(),
                reason: "target longer than 4095 bytes",
            });
        }
        declared_total = declared_total.saturating_add(declared_size);
        if declared_total > limits.max_unzipped_bytes {
            return Err(PackageError::UnzippedTooLarge {
                limit: limits.max_unzipped_bytes,
            });
        }
        drop(file);
        let node = tree.insert(&name, &path, kind)?;
        plan.push(PlannedEntry {
            index,
            name,
            path,
            kind,
            permissions,
            declared_size,
            node,
        });
    }
    Ok((plan, tree))
}

/// The entry's unix mode, if it has one, and whether it was recorded by a unix zipper.
///
/// Archives made on DOS/Windows carry attribute bits instead; we map their directory bit to
/// `S_IFDIR` but invent no permission bits (the defaults apply). Not `ZipFile::unix_mode`:
/// its DOS mapping drops the directory type of read-only directories.
fn entry_mode(system: u8, attributes: u32) -> (Option<u32>, bool) {
    const DOS_DIRECTORY: u32 = 0x10;
    match system {
        ZIP_SYSTEM_UNIX => (Some(attributes >> 16).filter(|m| *m != 0), true),
        ZIP_SYSTEM_DOS if attributes & DOS_DIRECTORY != 0 => (Some(S_IFDIR), false),
        _ => (None, false),
    }
}

/// Running total of decompressed bytes across the archive, plus the copy buffer reused for
/// every entry (archives may have 100,000 entries; one allocation each would add up).
struct Budget {
    used: u64,
    limit: u64,
    buf: Vec<u8>,
}

/// Streams one entry's data into `out`, measuring as it goes. Read errors (corrupt deflate
/// stream, truncated data, CRC mismatch) mean a bad archive; write errors are ours.
fn copy_entry(
    data: &mut impl Read,
    out: &mut impl Write,
    entry: &PlannedEntry,
    budget: &mut Budget,
) -> Result<(), PackageError> {
    let mut entry_size: u64 = 0;
    loop {
        let n = match data.read(&mut budget.buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(PackageError::not_a_zip(format!(
                    "entry {:?}: {e}",
                    entry.name
                )));
            }
        };
        entry_size += n as u64;
        budget.used += n as u64;
        // Defence in depth: the declared total was checked against the limit, and no entry may
        // outgrow its declared size, so this cannot trip unless those checks are changed.
        if budget.used > budget.limit {
            return Err(PackageError::UnzippedTooLarge {
                limit: budget.limit,
            });
        }
        if entry_size > entry.declared_size {
            return Err(PackageError::not_a_zip(format!(
                "entry {:?} decompresses to more than its declared {} bytes",
                entry.name, entry.declared_size
            )));
        }
        out.write_all(&budget.buf[..n])
            .map_err(|e| PackageError::io(entry.path.relative(), e))?;
    }
    if entry_size != entry.declared_size {
        return Err(PackageError::not_a_zip(format!(
            "entry {:?} decompresses to {entry_size} bytes, declared {}",
            entry.name, entry.declared_size
        )));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests;
