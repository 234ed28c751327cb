//! A request as it arrived, and the raw lookups every step makes in it.

use super::encoding::percent_decode;

/// A request as it arrived: nothing decoded, nothing normalised.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent on the wire (still percent-encoded).
    pub path: &'a str,
    /// The query string without the `?`, as sent.
    pub query: &'a str,
    /// Every header, names in any case, values as raw bytes.
    pub headers: &'a [(&'a str, &'a [u8])],
}

pub(super) fn header_values<'a>(req: &Request<'a>, name: &str) -> Vec<&'a [u8]> {
    req.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .collect()
}

pub(super) fn header_str<'a>(req: &Request<'a>, name: &str) -> Option<&'a str> {
    header_values(req, name)
        .first()
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::trim)
}

/// Query parameters, decoded.
pub(super) fn query_pairs(raw: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), Vec::new()),
        })
        .collect()
}

pub(super) fn query_param(raw: &str, name: &str) -> Option<String> {
    query_pairs(raw)
        .into_iter()
        .find(|(k, _)| k == name.as_bytes())
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
}
