//! Step 2 and the signer: the signing key, the signature over the canonical request, its
//! constant-time check, and signing a request (flint's CLI).

use super::amz_date::format_amz_date;
use super::canonical::{ALGORITHM, UNSIGNED_PAYLOAD, canonical_request, string_to_sign};
use super::error::AuthError;
use super::parse::{Expect, Parsed, PayloadHash, parse};
use super::request::Request;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

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
