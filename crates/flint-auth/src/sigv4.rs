//! AWS Signature Version 4, verified the way AWS's front door does for a
//! `rest-json` service such as Lambda.
//!
//! The verifier is a pure function of the request as it arrived (method,
//! raw path, raw query, headers), the SHA-256 of its body, the current time
//! and the secret of the access key it names. It runs in two steps because
//! the body is only worth reading once the header-level checks pass:
//!
//! 1. [`parse`]: finds the signature (the `Authorization` header, or the
//!    `X-Amz-*` query parameters of a presigned URL), checks its shape, the
//!    credential scope (region, service `lambda`, terminator) and the clock
//!    (`X-Amz-Date` within [`MAX_SKEW_SECS`], presigned URLs within their
//!    `X-Amz-Expires`), and names the access key;
//! 2. [`verify`]: rebuilds the canonical request and compares signatures in
//!    constant time.
//!
//! Canonicalisation follows the published algorithm for services other than
//! S3: the path is normalised (dot segments removed, repeated slashes
//! merged) and URI-encoded once more on top of the encoding it travelled
//! with, which is what botocore and the AWS SDK for Rust sign; query
//! parameters are decoded, re-encoded strictly and sorted; header values are
//! trimmed with inner runs of spaces collapsed and repeated headers joined
//! by commas. The unit tests run the AWS SigV4 test suite vectors.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

type HmacSha256 = Hmac<Sha256>;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a request whose body the signature does not cover.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// How far `X-Amz-Date` may be from the server's clock, either way. AWS's
/// general reference: a request must reach AWS within five minutes of its
/// time stamp, and AWS's answer says "- 5 min.".
pub const MAX_SKEW_SECS: i64 = 300;
/// The longest `X-Amz-Expires` of a presigned URL (seven days).
pub const MAX_PRESIGN_EXPIRES: i64 = 604_800;

/// Why a request is refused. Every variant is a 403 with AWS's code and
/// message; where a message was confirmed from AWS answers quoted in public
/// issue threads, the variant says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No signature at all. Lambda's answer to an unsigned request (403
    /// `MissingAuthenticationTokenException`, `Missing Authentication
    /// Token`), as quoted in brefphp/bref#1250 for `.../invocations`.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// A signature with missing or malformed parts. Messages as AWS words
    /// them (aws/chalice#828, aws-appsync-sdk-js#702, cloud9-sync#10).
    #[error("{0}")]
    IncompleteSignature(String),
    /// The access key is unknown or revoked (aws: 403
    /// `UnrecognizedClientException` for Lambda DeleteFunction, iamlive#58).
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// The signature does not match (the message of sigv4a-signing-examples#5).
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    SignatureDoesNotMatch,
    /// Expired, not yet valid, or scoped to another region/service/date
    /// (`Signature expired: ... is now earlier than ... (... - 5 min.)`,
    /// aws-sdk-js#254 and others).
    #[error("{0}")]
    InvalidSignature(String),
}

impl AuthError {
    /// The code sent in `x-amzn-ErrorType`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            AuthError::IncompleteSignature(_) => "IncompleteSignatureException",
            AuthError::UnrecognizedClient => "UnrecognizedClientException",
            AuthError::SignatureDoesNotMatch | AuthError::InvalidSignature(_) => {
                "InvalidSignatureException"
            }
        }
    }

    /// Every authentication failure is a 403.
    pub fn status(&self) -> u16 {
        403
    }
}

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

/// What the payload hash of the canonical request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadHash {
    /// `x-amz-content-sha256` names a hash; the body must have it.
    Declared(String),
    /// `x-amz-content-sha256: UNSIGNED-PAYLOAD`.
    Unsigned,
    /// The hash of the body.
    Body,
    /// A presigned URL: botocore signs `UNSIGNED-PAYLOAD`, other signers the
    /// body's hash; either is accepted.
    BodyOrUnsigned,
}

/// The header-level facts of a signature that passed [`parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub access_key_id: String,
    /// `yyyymmdd/region/service/aws4_request`.
    pub scope: String,
    pub date: String,
    pub region: String,
    pub service: String,
    /// `yyyymmddThhmmssZ`.
    pub amz_date: String,
    /// Lowercase, sorted, deduplicated.
    pub signed_headers: Vec<String>,
    pub signature: String,
    pub presigned: bool,
    pub payload: PayloadHash,
}

/// What the server expects in the credential scope.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub region: &'a str,
    pub service: &'a str,
}

fn header_values<'a>(req: &Request<'a>, name: &str) -> Vec<&'a [u8]> {
    req.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .collect()
}

fn header_str<'a>(req: &Request<'a>, name: &str) -> Option<&'a str> {
    header_values(req, name)
        .first()
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::trim)
}

/// Query parameters, decoded.
fn query_pairs(raw: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), Vec::new()),
        })
        .collect()
}

fn query_param(raw: &str, name: &str) -> Option<String> {
    query_pairs(raw)
        .into_iter()
        .find(|(k, _)| k == name.as_bytes())
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
}

/// Step 1: the checks that need neither the body nor the secret.
pub fn parse(req: &Request<'_>, now_unix: i64, expect: Expect<'_>) -> Result<Parsed, AuthError> {
    let authorization = header_values(req, "authorization");
    let mut parsed = if let Some(raw) = authorization.first() {
        let raw = String::from_utf8_lossy(raw).into_owned();
        parse_header(req, &raw)?
    } else if query_param(req.query, "X-Amz-Credential").is_some()
        || query_param(req.query, "X-Amz-Algorithm").is_some()
    {
        parse_presigned(req)?
    } else {
        return Err(AuthError::MissingAuthenticationToken);
    };
    check_scope(&parsed, expect)?;
    let signed_at = parse_amz_date(&parsed.amz_date).ok_or_else(|| {
        AuthError::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            parsed.amz_date
        ))
    })?;
    if parsed.date != parsed.amz_date[..8] {
        return Err(AuthError::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            parsed.date,
            &parsed.amz_date[..8],
            parsed.amz_date
        )));
    }
    if signed_at > now_unix + MAX_SKEW_SECS {
        return Err(AuthError::InvalidSignature(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            parsed.amz_date,
            format_amz_date(now_unix + MAX_SKEW_SECS),
            format_amz_date(now_unix)
        )));
    }
    if parsed.presigned {
        let expires = query_param(req.query, "X-Amz-Expires")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|v| (0..=MAX_PRESIGN_EXPIRES).contains(v))
            .ok_or_else(|| {
                AuthError::IncompleteSignature(format!(
                    "X-Amz-Expires must be a number of seconds between 0 and {MAX_PRESIGN_EXPIRES}"
                ))
            })?;
        if now_unix > signed_at + expires {
            return Err(AuthError::InvalidSignature(format!(
                "Signature expired: {} is now earlier than {} ({} - {} sec.)",
                parsed.amz_date,
                format_amz_date(now_unix - expires),
                format_amz_date(now_unix),
                expires
            )));
        }
    } else if signed_at < now_unix - MAX_SKEW_SECS {
        return Err(AuthError::InvalidSignature(format!(
            "Signature expired: {} is now earlier than {} ({} - 5 min.)",
            parsed.amz_date,
            format_amz_date(now_unix - MAX_SKEW_SECS),
            format_amz_date(now_unix)
        )));
    }
    if !parsed.signed_headers.iter().any(|h| h == "host") {
        return Err(AuthError::IncompleteSignature(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    for h in &parsed.signed_headers {
        if header_values(req, h).is_empty() {
            return Err(AuthError::IncompleteSignature(format!(
                "'{h}' is named as a SignedHeader, but it does not exist in the HTTP request."
            )));
        }
    }
    if !parsed.presigned {
        parsed.payload = match header_str(req, "x-amz-content-sha256") {
            None => PayloadHash::Body,
            Some(UNSIGNED_PAYLOAD) => PayloadHash::Unsigned,
            Some(v) => PayloadHash::Declared(v.to_ascii_lowercase()),
        };
    }
    Ok(parsed)
}

fn parse_header(req: &Request<'_>, raw: &str) -> Result<Parsed, AuthError> {
    let (algorithm, rest) = raw.trim().split_once(' ').unwrap_or((raw.trim(), ""));
    let has_date = !header_values(req, "x-amz-date").is_empty();
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    if algorithm == ALGORITHM {
        for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(AuthError::IncompleteSignature(format!(
                    "'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{raw}'."
                )));
            };
            match k.trim() {
                "Credential" => credential = Some(v.trim().to_string()),
                "SignedHeaders" => signed_headers = Some(v.trim().to_string()),
                "Signature" => signature = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut missing = Vec::new();
    if credential.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if signature.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    if signed_headers.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    if !has_date {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        );
    }
    if !missing.is_empty() {
        return Err(AuthError::IncompleteSignature(format!(
            "{} Authorization={raw}",
            missing.join(" ")
        )));
    }
    let amz_date = header_str(req, "x-amz-date")
        .unwrap_or_default()
        .to_string();
    build(
        credential.unwrap_or_default(),
        &signed_headers.unwrap_or_default(),
        signature.unwrap_or_default(),
        amz_date,
        false,
    )
}

fn parse_presigned(req: &Request<'_>) -> Result<Parsed, AuthError> {
    let get = |k: &str| query_param(req.query, k);
    let (Some(algorithm), Some(credential), Some(amz_date), Some(signed), Some(signature)) = (
        get("X-Amz-Algorithm"),
        get("X-Amz-Credential"),
        get("X-Amz-Date"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Signature"),
    ) else {
        return Err(AuthError::IncompleteSignature(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-SignedHeaders' and 'X-Amz-Signature'. Re-examine the query-string parameters.".into(),
        ));
    };
    if algorithm != ALGORITHM {
        return Err(AuthError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'"
        )));
    }
    build(credential, &signed, signature, amz_date, true)
}

fn build(
    credential: String,
    signed_headers: &str,
    signature: String,
    amz_date: String,
    presigned: bool,
) -> Result<Parsed, AuthError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, terminator] = parts.as_slice() else {
        return Err(AuthError::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    };
    if *terminator != "aws4_request" {
        return Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    let mut headers: Vec<String> = signed_headers
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    headers.sort();
    headers.dedup();
    Ok(Parsed {
        access_key_id: key.to_string(),
        scope: format!("{date}/{region}/{service}/aws4_request"),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        amz_date,
        signed_headers: headers,
        signature,
        presigned,
        payload: PayloadHash::BodyOrUnsigned,
    })
}

fn check_scope(p: &Parsed, expect: Expect<'_>) -> Result<(), AuthError> {
    if p.service != expect.service {
        return Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped to correct service: '{}'. ",
            expect.service
        )));
    }
    if p.region != expect.region {
        return Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            p.region
        )));
    }
    Ok(())
}

/// Step 2: the signature itself. `body_sha256` is the lowercase hex SHA-256
/// of the body as received; `None` only when the body was not read (allowed
/// when the payload is unsigned).
pub fn verify(
    req: &Request<'_>,
    parsed: &Parsed,
    secret: &str,
    body_sha256: Option<&str>,
) -> Result<(), AuthError> {
    let candidates: Vec<&str> = match &parsed.payload {
        PayloadHash::Unsigned => vec![UNSIGNED_PAYLOAD],
        PayloadHash::Declared(h) => {
            // The signature covers the declared hash; the body must have it.
            if body_sha256 != Some(h.as_str()) {
                return Err(AuthError::SignatureDoesNotMatch);
            }
            vec![h.as_str()]
        }
        PayloadHash::Body => vec![body_sha256.ok_or(AuthError::SignatureDoesNotMatch)?],
        PayloadHash::BodyOrUnsigned => {
            let mut c = vec![UNSIGNED_PAYLOAD];
            if let Some(h) = body_sha256 {
                c.push(h);
            }
            c
        }
    };
    let Some(provided) = decode_hex_signature(&parsed.signature) else {
        return Err(AuthError::SignatureDoesNotMatch);
    };
    let key = signing_key(secret, &parsed.date, &parsed.region, &parsed.service);
    for payload in candidates {
        let creq = canonical_request(req, &parsed.signed_headers, parsed.presigned, payload);
        let sts = string_to_sign(&parsed.amz_date, &parsed.scope, &creq);
        let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(sts.as_bytes());
        // Constant-time comparison.
        if mac.verify_slice(&provided).is_ok() {
            return Ok(());
        }
    }
    Err(AuthError::SignatureDoesNotMatch)
}

/// Both steps, with a key lookup in between: the whole verifier as one pure
/// function (what the fuzz target and the tests drive). Returns the access
/// key id on success.
pub fn verify_request(
    req: &Request<'_>,
    body_sha256: Option<&str>,
    now_unix: i64,
    expect: Expect<'_>,
    lookup: impl FnOnce(&str) -> Option<String>,
) -> Result<String, AuthError> {
    let parsed = parse(req, now_unix, expect)?;
    let secret = lookup(&parsed.access_key_id).ok_or(AuthError::UnrecognizedClient)?;
    verify(req, &parsed, &secret, body_sha256)?;
    Ok(parsed.access_key_id)
}

fn decode_hex_signature(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    hex::decode(s).ok()
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [date, region, service, "aws4_request"] {
        let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(part.as_bytes());
        key = mac.finalize().into_bytes().to_vec();
    }
    key
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request))
    )
}

/// The canonical request. For a presigned request `X-Amz-Signature` is left
/// out of the query.
pub fn canonical_request(
    req: &Request<'_>,
    signed_headers: &[String],
    presigned: bool,
    payload_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(req.path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(req.query, presigned).as_bytes());
    out.push(b'\n');
    for name in signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let values = header_values(req, name);
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&trim_all(v));
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// Spaces trimmed at both ends, inner runs of spaces collapsed to one.
fn trim_all(v: &[u8]) -> Vec<u8> {
    let start = v.iter().position(|&b| b != b' ' && b != b'\t');
    let end = v.iter().rposition(|&b| b != b' ' && b != b'\t');
    let (Some(start), Some(end)) = (start, end) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(end - start + 1);
    for &b in &v[start..=end] {
        if b == b' ' && out.last() == Some(&b' ') {
            continue;
        }
        out.push(b);
    }
    out
}

/// The path, normalised (RFC 3986 dot segments removed, empty segments
/// dropped), then URI-encoded on top of its wire encoding.
pub fn canonical_uri(path: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalized = String::with_capacity(path.len() + 1);
    normalized.push('/');
    normalized.push_str(&segments.join("/"));
    let trailing = ["/", "/.", "/..", "/./", "/../"]
        .iter()
        .any(|s| path.ends_with(s));
    if trailing && !normalized.ends_with('/') {
        normalized.push('/');
    }
    uri_encode(normalized.as_bytes(), false)
}

/// Query parameters decoded, re-encoded strictly and sorted by key, then
/// value.
pub fn canonical_query(raw: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(raw)
        .into_iter()
        .filter(|(k, _)| !(presigned && k == b"X-Amz-Signature"))
        .map(|(k, v)| (uri_encode(&k, true), uri_encode(&v, true)))
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// RFC 3986 encoding as SigV4 wants it: everything but `A-Za-z0-9-_.~`
/// (and `/` in paths) as `%XX` with upper-case hex.
pub fn uri_encode(bytes: &[u8], encode_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else if b == b'/' && !encode_slash {
            out.push('/');
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `%XX` decoded; a `%` not followed by two hex digits stays as it is. A
/// `+` is a plus (SigV4 signers encode spaces as `%20`).
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `yyyymmddThhmmssZ` → unix seconds; `None` unless exactly that shape and
/// a real date.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = digits(0..4)? as i32;
    let month = time::Month::try_from(digits(4..6)? as u8).ok()?;
    let day = digits(6..8)? as u8;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let t = time::Time::from_hms(
        digits(9..11)? as u8,
        digits(11..13)? as u8,
        digits(13..15)? as u8,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// Unix seconds → `yyyymmddThhmmssZ`.
pub fn format_amz_date(unix: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// What a client needs to sign a request (flint's own CLI uses this).
pub struct SigningParams<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub now_unix: i64,
}

/// Signs `req` (whose headers must already include `host`) over every
/// header it carries plus `x-amz-date`; returns the `x-amz-date` and
/// `authorization` headers to add.
pub fn sign(
    req: &Request<'_>,
    payload_sha256: &str,
    p: &SigningParams<'_>,
) -> [(String, String); 2] {
    let amz_date = format_amz_date(p.now_unix);
    let mut headers: Vec<(&str, &[u8])> = req.headers.to_vec();
    headers.push(("x-amz-date", amz_date.as_bytes()));
    let with_date = Request {
        headers: &headers,
        ..*req
    };
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    let scope = format!("{}/{}/{}/aws4_request", &amz_date[..8], p.region, p.service);
    let creq = canonical_request(&with_date, &names, false, payload_sha256);
    let sts = string_to_sign(&amz_date, &scope, &creq);
    let key = signing_key(p.secret, &amz_date[..8], p.region, p.service);
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(sts.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        p.access_key_id,
        names.join(";")
    );
    [
        ("x-amz-date".into(), amz_date),
        ("authorization".into(), authorization),
    ]
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_440_938_160; // 2015-08-30T12:36:00Z, the test suite's clock
    const EXPECT: Expect<'static> = Expect {
        region: "us-east-1",
        service: "service",
    };

    #[test]
    fn amz_dates_round_trip_and_bad_ones_are_refused() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(NOW));
        assert_eq!(format_amz_date(NOW), "20150830T123600Z");
        for bad in [
            "20150830T123600",
            "20151330T123600Z",
            "20150230T123600Z",
            "2015083QT123600Z",
            "20150830T250000Z",
            "+0150830T123600Z",
            "",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn paths_are_normalised_then_encoded_again() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(canonical_uri("/a/./b/../c"), "/a/c");
        assert_eq!(
            canonical_uri(
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af"
            ),
            "/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A000000000000%253Afunction%253Af"
        );
        assert_eq!(canonical_uri("/a b"), "/a%20b");
    }

    #[test]
    fn queries_are_decoded_reencoded_and_sorted() {
        assert_eq!(canonical_query("b=2&a=1&a=0", false), "a=0&a=1&b=2");
        assert_eq!(
            canonical_query("Qualifier=%24LATEST", false),
            "Qualifier=%24LATEST"
        );
        assert_eq!(canonical_query("k", false), "k=");
        assert_eq!(canonical_query("k=a+b%20c", false), "k=a%2Bb%20c");
        assert_eq!(
            canonical_query("X-Amz-Signature=x&a=1", true),
            "a=1",
            "a presigned request does not sign its own signature"
        );
        assert_eq!(canonical_query("bad=%zz%4", false), "bad=%25zz%254");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        assert_eq!(trim_all(b"  a   b  c "), b"a b c");
        assert_eq!(trim_all(b"   "), b"");
    }

    fn signed(headers: &[(&str, &str)], auth: Option<String>) -> Vec<(String, Vec<u8>)> {
        let mut h: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        if let Some(a) = auth {
            h.push(("Authorization".into(), a.into_bytes()));
        }
        h
    }

    fn borrow(h: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
        h.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect()
    }

    /// Signs a request with [`sign`] and returns its headers.
    fn signed_request(
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        secret: &str,
        now: i64,
    ) -> Vec<(String, Vec<u8>)> {
        let base = signed(&[("Host", "example.amazonaws.com")], None);
        let b = borrow(&base);
        let req = Request {
            method,
            path,
            query,
            headers: &b,
        };
        let added = sign(
            &req,
            &sha256_hex(body),
            &SigningParams {
                access_key_id: "AKIDEXAMPLE",
                secret,
                region: "us-east-1",
                service: "service",
                now_unix: now,
            },
        );
        let mut all = base.clone();
        for (k, v) in added {
            all.push((k, v.into_bytes()));
        }
        all
    }

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn check(
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, Vec<u8>)],
        body: &[u8],
        now: i64,
    ) -> Result<String, AuthError> {
        let b = borrow(headers);
        let req = Request {
            method,
            path,
            query,
            headers: &b,
        };
        verify_request(&req, Some(&sha256_hex(body)), now, EXPECT, |id| {
            (id == "AKIDEXAMPLE").then(|| SECRET.to_string())
        })
    }

    #[test]
    fn own_signatures_verify_and_every_tampering_is_refused() {
        let h = signed_request("POST", "/a/b", "x=1", b"{}", SECRET, NOW);
        assert_eq!(
            check("POST", "/a/b", "x=1", &h, b"{}", NOW).unwrap(),
            "AKIDEXAMPLE"
        );
        let mismatch = Err(AuthError::SignatureDoesNotMatch);
        assert_eq!(check("PUT", "/a/b", "x=1", &h, b"{}", NOW), mismatch);
        assert_eq!(check("POST", "/a/c", "x=1", &h, b"{}", NOW), mismatch);
        assert_eq!(check("POST", "/a/b", "x=2", &h, b"{}", NOW), mismatch);
        assert_eq!(check("POST", "/a/b", "x=1", &h, b"{ }", NOW), mismatch);
        let wrong_secret = signed_request("POST", "/a/b", "x=1", b"{}", "other", NOW);
        assert_eq!(
            check("POST", "/a/b", "x=1", &wrong_secret, b"{}", NOW),
            mismatch
        );
        // Within the skew both ways, refused beyond it.
        assert!(check("POST", "/a/b", "x=1", &h, b"{}", NOW + MAX_SKEW_SECS).is_ok());
        assert!(check("POST", "/a/b", "x=1", &h, b"{}", NOW - MAX_SKEW_SECS).is_ok());
        let expired = check("POST", "/a/b", "x=1", &h, b"{}", NOW + MAX_SKEW_SECS + 1).unwrap_err();
        assert_eq!(expired.code(), "InvalidSignatureException");
        assert_eq!(
            expired.to_string(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T124101Z - 5 min.)"
        );
        let early = check("POST", "/a/b", "x=1", &h, b"{}", NOW - MAX_SKEW_SECS - 1).unwrap_err();
        assert!(
            early.to_string().starts_with("Signature not yet current: "),
            "{early}"
        );
    }

    #[test]
    fn unknown_keys_missing_and_malformed_signatures_get_their_codes() {
        let h = signed_request("GET", "/", "", b"", SECRET, NOW);
        let b = borrow(&h);
        let req = Request {
            method: "GET",
            path: "/",
            query: "",
            headers: &b,
        };
        assert_eq!(
            verify_request(&req, Some(&sha256_hex(b"")), NOW, EXPECT, |_| None),
            Err(AuthError::UnrecognizedClient)
        );
        let none = signed(&[("Host", "h")], None);
        assert_eq!(
            check("GET", "/", "", &none, b"", NOW),
            Err(AuthError::MissingAuthenticationToken)
        );
        let bearer = signed(&[("Host", "h")], Some("Bearer abc".into()));
        let e = check("GET", "/", "", &bearer, b"", NOW).unwrap_err();
        assert_eq!(e.code(), "IncompleteSignatureException");
        assert_eq!(
            e.to_string(),
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=Bearer abc"
        );
        let no_eq = signed(
            &[("Host", "h"), ("X-Amz-Date", "20150830T123600Z")],
            Some("AWS4-HMAC-SHA256 Credential AKID/x".into()),
        );
        let e = check("GET", "/", "", &no_eq, b"", NOW).unwrap_err();
        assert!(e.to_string().contains("not a valid key=value pair"), "{e}");
        let other_service = signed(
            &[("Host", "h"), ("X-Amz-Date", "20150830T123600Z")],
            Some("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00".into()),
        );
        assert_eq!(
            check("GET", "/", "", &other_service, b"", NOW)
                .unwrap_err()
                .to_string(),
            "Credential should be scoped to correct service: 'service'. "
        );
        let other_region = signed(
            &[("Host", "h"), ("X-Amz-Date", "20150830T123600Z")],
            Some("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=00".into()),
        );
        assert!(
            check("GET", "/", "", &other_region, b"", NOW)
                .unwrap_err()
                .to_string()
                .contains("valid region, not 'eu-west-1'")
        );
        let missing_header = signed(
            &[("Host", "h"), ("X-Amz-Date", "20150830T123600Z")],
            Some("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-extra, Signature=00".into()),
        );
        assert_eq!(
            check("GET", "/", "", &missing_header, b"", NOW)
                .unwrap_err()
                .to_string(),
            "'x-extra' is named as a SignedHeader, but it does not exist in the HTTP request."
        );
        let no_host = signed(
            &[("Host", "h"), ("X-Amz-Date", "20150830T123600Z")],
            Some("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=x-amz-date, Signature=00".into()),
        );
        assert!(
            check("GET", "/", "", &no_host, b"", NOW)
                .unwrap_err()
                .to_string()
                .contains("'Host' must be a 'SignedHeader'")
        );
        let other_day = signed(
            &[("Host", "h"), ("X-Amz-Date", "20150830T123600Z")],
            Some("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150829/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=00".into()),
        );
        assert!(
            check("GET", "/", "", &other_day, b"", NOW)
                .unwrap_err()
                .to_string()
                .starts_with("Date in Credential scope does not match")
        );
        let short = signed(
            &[("Host", "h"), ("X-Amz-Date", "20150830T123600Z")],
            Some("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1, SignedHeaders=host;x-amz-date, Signature=00".into()),
        );
        assert!(
            check("GET", "/", "", &short, b"", NOW)
                .unwrap_err()
                .to_string()
                .starts_with("Credential must have exactly 5 slash-delimited elements")
        );
    }

    #[test]
    fn declared_and_unsigned_payload_hashes() {
        let body = b"{\"a\":1}";
        let base = signed(
            &[
                ("Host", "example.amazonaws.com"),
                ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
            ],
            None,
        );
        let b = borrow(&base);
        let req = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &b,
        };
        let p = SigningParams {
            access_key_id: "AKIDEXAMPLE",
            secret: SECRET,
            region: "us-east-1",
            service: "service",
            now_unix: NOW,
        };
        let mut h = base.clone();
        for (k, v) in sign(&req, UNSIGNED_PAYLOAD, &p) {
            h.push((k, v.into_bytes()));
        }
        // The body is not covered: any body passes.
        assert!(check("POST", "/", "", &h, b"anything", NOW).is_ok());

        let declared = sha256_hex(body);
        let base = signed(
            &[
                ("Host", "example.amazonaws.com"),
                ("x-amz-content-sha256", &declared),
            ],
            None,
        );
        let b = borrow(&base);
        let req = Request { headers: &b, ..req };
        let mut h = base.clone();
        for (k, v) in sign(&req, &declared, &p) {
            h.push((k, v.into_bytes()));
        }
        assert!(check("POST", "/", "", &h, body, NOW).is_ok());
        // Same header and signature, another body: refused.
        assert_eq!(
            check("POST", "/", "", &h, b"{\"a\":2}", NOW),
            Err(AuthError::SignatureDoesNotMatch)
        );
    }
}
