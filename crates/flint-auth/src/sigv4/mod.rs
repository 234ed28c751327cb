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
//!
//! Modules, in the order a request meets them: [`Request`] (the request as it arrived),
//! `parse` (step 1), `canonical` (what is signed), `signature` (step 2 and the signer), with
//! `encoding` and `amz_date` underneath and [`AuthError`] for every refusal.

mod amz_date;
mod canonical;
mod encoding;
mod error;
mod parse;
mod request;
mod signature;

pub use amz_date::{format_amz_date, parse_amz_date};
pub use canonical::{
    ALGORITHM, UNSIGNED_PAYLOAD, canonical_query, canonical_request, canonical_uri, string_to_sign,
};
pub use encoding::{percent_decode, uri_encode};
pub use error::AuthError;
pub use parse::{Expect, MAX_PRESIGN_EXPIRES, MAX_SKEW_SECS, Parsed, PayloadHash, parse};
pub use request::Request;
pub use signature::{SigningParams, sha256_hex, sign, signing_key, verify, verify_request};

#[cfg(test)]
mod tests;
