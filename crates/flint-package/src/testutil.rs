//! Builders for test archives.
//!
//! Good archives come from the `zip` crate's writer, so tests prove we read what a real writer
//! produces. Hostile archives (lying sizes, device entries, names a writer would refuse, bombs
//! far larger than we want to compress in a debug build) come from [`RawZip`], a minimal
//! hand-rolled writer that puts whatever we ask for into the headers.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// A normal archive built with the `zip` crate.
pub(crate) struct ZipBuilder {
    writer: ZipWriter<Cursor<Vec<u8>>>,
}

impl ZipBuilder {
    pub(crate) fn new() -> Self {
        Self {
            writer: ZipWriter::new(Cursor::new(Vec::new())),
        }
    }

    pub(crate) fn file(mut self, name: &str, data: &[u8], mode: u32) -> Self {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .unix_permissions(mode);
        self.writer.start_file(name, options).unwrap();
        self.writer.write_all(data).unwrap();
        self
    }

    pub(crate) fn dir(mut self, name: &str, mode: u32) -> Self {
        let options = SimpleFileOptions::default().unix_permissions(mode);
        self.writer.add_directory(name, options).unwrap();
        self
    }

    pub(crate) fn symlink(mut self, name: &str, target: &str) -> Self {
        self.writer
            .add_symlink(name, target, SimpleFileOptions::default())
            .unwrap();
        self
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.writer.finish().unwrap().into_inner()
    }
}

/// One entry for [`RawZip`]: every header field is taken as given.
pub(crate) struct RawEntry {
    pub(crate) name: Vec<u8>,
    /// 0 = stored, 8 = deflate.
    pub(crate) method: u16,
    pub(crate) crc32: u32,
    pub(crate) data: Vec<u8>,
    pub(crate) declared_size: u32,
    /// Upper 16 bits: unix mode (only meaningful with `made_by_unix`).
    pub(crate) external_attributes: u32,
    pub(crate) made_by_unix: bool,
}

impl RawEntry {
    /// A stored entry with honest headers.
    pub(crate) fn stored(name: &str, data: &[u8], unix_mode: u32) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            method: 0,
            crc32: crc32fast::hash(data),
            data: data.to_vec(),
            declared_size: data.len() as u32,
            external_attributes: unix_mode << 16,
            made_by_unix: true,
        }
    }
}

/// Serialises entries into a zip: local headers and data, central directory, end record.
pub(crate) fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let offset = out.len() as u32;
        let made_by: u16 = if entry.made_by_unix {
            (3 << 8) | 20
        } else {
            20
        };
        // Local file header.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&entry.method.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // time + date
        out.extend_from_slice(&entry.crc32.to_le_bytes());
        out.extend_from_slice(&(entry.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&entry.declared_size.to_le_bytes());
        out.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra length
        out.extend_from_slice(&entry.name);
        out.extend_from_slice(&entry.data);
        // Central directory header.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&made_by.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&entry.method.to_le_bytes());
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&entry.crc32.to_le_bytes());
        central.extend_from_slice(&(entry.data.len() as u32).to_le_bytes());
        central.extend_from_slice(&entry.declared_size.to_le_bytes());
        central.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes()); // extra
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&entry.external_attributes.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(&entry.name);
    }
    let central_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A deflate stream that inflates to `mib` MiB of zeros, plus its CRC-32, built without
/// compressing `mib` MiB: one MiB is compressed from a fresh state with a sync flush (so it is
/// byte-aligned and refers to nothing before itself) and repeated, then a final empty block
/// closes the stream.
pub(crate) fn zeros_deflate(mib: usize) -> (Vec<u8>, u32) {
    use flate2::{Compress, Compression, FlushCompress};
    let chunk = vec![0u8; 1 << 20];
    let mut compress = Compress::new(Compression::best(), false);
    let mut block = Vec::with_capacity(1 << 16);
    compress
        .compress_vec(&chunk, &mut block, FlushCompress::Sync)
        .unwrap();
    assert_eq!(compress.total_in(), chunk.len() as u64, "one call suffices");

    let mut stream = Vec::with_capacity(block.len() * mib + 2);
    for _ in 0..mib {
        stream.extend_from_slice(&block);
    }
    stream.extend_from_slice(&[0x03, 0x00]); // final, fixed-Huffman, empty block

    let mut chunk_crc = crc32fast::Hasher::new();
    chunk_crc.update(&chunk);
    let mut crc = crc32fast::Hasher::new();
    for _ in 0..mib {
        crc.combine(&chunk_crc);
    }
    (stream, crc.finalize())
}

/// An upload that makes the zip crate's central-directory search quadratic: one local header,
/// a central directory of `records` headers, then `candidates` end records that each claim one
/// more entry than there is, so every candidate parses the whole directory and fails.
pub(crate) fn eocd_candidate_flood(records: u16, candidates: usize) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&[0; 12]);
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.push(b'a');
    let central_start = out.len() as u32;
    for _ in 0..records {
        out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&[0; 16]);
        out.push(b'a');
    }
    let central_size = out.len() as u32 - central_start;
    for _ in 0..candidates {
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(records + 1).to_le_bytes());
        out.extend_from_slice(&(records + 1).to_le_bytes());
        out.extend_from_slice(&central_size.to_le_bytes());
        out.extend_from_slice(&central_start.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
    }
    out
}
