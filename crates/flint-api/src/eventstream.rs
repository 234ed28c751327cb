//! AWS event-stream framing (`application/vnd.amazon.eventstream`), the body of
//! `InvokeWithResponseStream`: each message is
//! `total length (u32 BE) | headers length (u32 BE) | CRC32 of those 8 bytes | headers |
//! payload | CRC32 of everything before`, and each header is
//! `name length (u8) | name | type (7 = string) | value length (u16 BE) | value`.

use bytes::{BufMut, Bytes, BytesMut};

const STRING: u8 = 7;

/// One event-stream message with string headers.
pub fn message(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut h = BytesMut::new();
    for (name, value) in headers {
        h.put_u8(name.len() as u8);
        h.put_slice(name.as_bytes());
        h.put_u8(STRING);
        h.put_u16(value.len() as u16);
        h.put_slice(value.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut m = BytesMut::with_capacity(total);
    m.put_u32(total as u32);
    m.put_u32(h.len() as u32);
    let prelude_crc = crc32fast::hash(&m[..8]);
    m.put_u32(prelude_crc);
    m.put_slice(&h);
    m.put_slice(payload);
    let crc = crc32fast::hash(&m);
    m.put_u32(crc);
    m.freeze()
}

/// A `PayloadChunk` event carrying bytes the function wrote.
pub fn payload_chunk(chunk: &[u8]) -> Bytes {
    message(
        &[
            (":event-type", "PayloadChunk"),
            (":content-type", "application/octet-stream"),
            (":message-type", "event"),
        ],
        chunk,
    )
}

/// The final `InvokeComplete` event.
pub fn invoke_complete(
    error_code: Option<&str>,
    error_details: Option<&str>,
    log_result: Option<&str>,
) -> Bytes {
    let mut body = serde_json::Map::new();
    if let Some(c) = error_code {
        body.insert("ErrorCode".into(), c.into());
    }
    if let Some(d) = error_details {
        body.insert("ErrorDetails".into(), d.into());
    }
    if let Some(l) = log_result {
        body.insert("LogResult".into(), l.into());
    }
    message(
        &[
            (":event-type", "InvokeComplete"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        &serde_json::to_vec(&serde_json::Value::Object(body)).expect("json"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoded message: its headers and payload.
    type Decoded = (Vec<(String, String)>, Vec<u8>);

    /// A decoder written from the format description, independent of the encoder's code.
    fn decode(mut buf: &[u8]) -> Vec<Decoded> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            let total = u32::from_be_bytes(buf[0..4].try_into().unwrap()) as usize;
            let hlen = u32::from_be_bytes(buf[4..8].try_into().unwrap()) as usize;
            assert_eq!(
                u32::from_be_bytes(buf[8..12].try_into().unwrap()),
                crc32fast::hash(&buf[..8])
            );
            assert_eq!(
                u32::from_be_bytes(buf[total - 4..total].try_into().unwrap()),
                crc32fast::hash(&buf[..total - 4])
            );
            let mut h = &buf[12..12 + hlen];
            let mut headers = Vec::new();
            while !h.is_empty() {
                let n = h[0] as usize;
                let name = String::from_utf8(h[1..1 + n].to_vec()).unwrap();
                assert_eq!(h[1 + n], 7);
                let vl = u16::from_be_bytes([h[2 + n], h[3 + n]]) as usize;
                let value = String::from_utf8(h[4 + n..4 + n + vl].to_vec()).unwrap();
                headers.push((name, value));
                h = &h[4 + n + vl..];
            }
            out.push((headers, buf[12 + hlen..total - 4].to_vec()));
            buf = &buf[total..];
        }
        out
    }

    #[test]
    fn messages_decode_with_valid_crcs() {
        let mut all = payload_chunk(b"hello ").to_vec();
        all.extend_from_slice(&payload_chunk(b""));
        all.extend_from_slice(&invoke_complete(
            Some("Unhandled"),
            Some("{\"errorMessage\":\"x\"}"),
            None,
        ));
        let msgs = decode(&all);
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].1, b"hello ");
        assert!(
            msgs[0]
                .0
                .contains(&(":event-type".into(), "PayloadChunk".into()))
        );
        assert!(
            msgs[2]
                .0
                .contains(&(":event-type".into(), "InvokeComplete".into()))
        );
        let complete: serde_json::Value = serde_json::from_slice(&msgs[2].1).unwrap();
        assert_eq!(complete["ErrorCode"], "Unhandled");
        assert!(complete.get("LogResult").is_none());
        // The smallest message: a prelude, no headers, no payload, a CRC.
        assert_eq!(message(&[], b"").len(), 16);
    }
}
