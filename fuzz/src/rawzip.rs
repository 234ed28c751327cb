//! A minimal zip writer that puts exactly what it is given into the headers (stored entries,
//! honest sizes and CRCs, any name, any mode, duplicates allowed), unlike real writers which
//! refuse or rewrite hostile names.

pub struct RawEntry {
    name: Vec<u8>,
    data: Vec<u8>,
    crc32: u32,
    external_attributes: u32,
    made_by_unix: bool,
}

impl RawEntry {
    /// `unix_mode` goes into the high half of the external attributes.
    pub fn stored(name: Vec<u8>, data: &[u8], unix_mode: u32, made_by_unix: bool) -> Self {
        Self {
            name,
            crc32: crc32fast::hash(data),
            data: data.to_vec(),
            external_attributes: unix_mode << 16,
            made_by_unix,
        }
    }
}

/// Local headers and data, then the central directory and the end record. Names longer than
/// 65535 bytes are truncated (the field is 16 bits).
pub fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let name = &entry.name[..entry.name.len().min(u16::MAX as usize)];
        let offset = out.len() as u32;
        let size = entry.data.len() as u32;
        let made_by: u16 = if entry.made_by_unix {
            (3 << 8) | 20
        } else {
            20
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        for field in [20u16, 0, 0, 0, 0] {
            out.extend_from_slice(&field.to_le_bytes()); // version, flags, method, time, date
        }
        for field in [entry.crc32, size, size] {
            out.extend_from_slice(&field.to_le_bytes());
        }
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&entry.data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        for field in [made_by, 20, 0, 0, 0, 0] {
            central.extend_from_slice(&field.to_le_bytes()); // made by, needed, flags, method, time, date
        }
        for field in [entry.crc32, size, size] {
            central.extend_from_slice(&field.to_le_bytes());
        }
        for field in [name.len() as u16, 0, 0, 0, 0] {
            central.extend_from_slice(&field.to_le_bytes()); // name, extra, comment, disk, internal
        }
        central.extend_from_slice(&entry.external_attributes.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let central_offset = out.len() as u32;
    let count = entries.len().min(u16::MAX as usize) as u16;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for field in [0u16, 0, count, count] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}
