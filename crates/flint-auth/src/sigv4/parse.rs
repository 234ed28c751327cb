//! Step 1: the signature's parts, its scope and its clock, checked before the body is read.

use super::amz_date::{format_amz_date, parse_amz_date};
use super::canonical::{ALGORITHM, UNSIGNED_PAYLOAD};
use super::error::AuthError;
use super::request::{Request, header_str, header_values, query_param};

/// How far `X-Amz-Date` may be from the server's clock, either way. AWS's
/// general reference: a request must reach AWS within five minutes of its
/// time stamp, and AWS's answer says "- 5 min.".
pub const MAX_SKEW_SECS: i64 = 300;
/// The longest `X-Amz-Expires` of a presigned URL (seven days).
pub const MAX_PRESIGN_EXPIRES: i64 = 604_800;

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
