//! The SigV4 verifier (`flint_auth::sigv4`) on untrusted requests.
//!
//! Input layout: the first byte picks the mode, the rest is the material.
//! - even: an arbitrary request (method, path, query, headers, body hash all taken from the
//!   input, headers split on `\n` at the first `:`) goes through `verify_request` with a secret
//!   the input cannot know. Invariants: nothing panics; it is never accepted (accepting would
//!   be a forged signature); every refusal has an AWS error code and a 4xx status.
//! - odd: a well-formed request built from the input is signed with `sign` and must verify;
//!   the same request with one hex digit of the signature changed must be refused with
//!   `SignatureDoesNotMatch`.
//!
//! Request/response shape invariants for real clients are covered by the SDK and botocore tests;
//! this target is about never panicking and never accepting what was not signed.

use flint_auth::sigv4::{self, Expect, Request, SigningParams};

const SECRET: &str = "fuzz-secret-never-in-the-input";
const NOW: i64 = 1_764_806_400; // 2025-12-04T00:00:00Z
const EXPECT: Expect<'static> = Expect {
    region: "us-east-1",
    service: "lambda",
};

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn check_refusal(e: &sigv4::AuthError) {
    assert!(!e.code().is_empty());
    assert!((400..500).contains(&e.status()), "status {}", e.status());
}

fn arbitrary_request(data: &[u8]) {
    let mut parts = data.splitn(4, |&b| b == 0);
    let method = lossy(parts.next().unwrap_or_default());
    let path = lossy(parts.next().unwrap_or_default());
    let query = lossy(parts.next().unwrap_or_default());
    let rest = parts.next().unwrap_or_default();
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for line in rest.split(|&b| b == b'\n') {
        if let Some(i) = line.iter().position(|&b| b == b':') {
            headers.push((lossy(&line[..i]), line[i + 1..].to_vec()));
        }
    }
    let hdrs: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let req = Request {
        method: &method,
        path: &path,
        query: &query,
        headers: &hdrs,
    };
    let body = sigv4::sha256_hex(rest);
    for body_hash in [Some(body.as_str()), None] {
        match sigv4::verify_request(&req, body_hash, NOW, EXPECT, |_| Some(SECRET.into())) {
            Ok(key) => panic!("an unsigned request was accepted for key {key:?}: {req:?}"),
            Err(e) => check_refusal(&e),
        }
    }
}

/// Keeps bytes from `allowed`, at most `max` of them.
fn only(data: &[u8], allowed: impl Fn(u8) -> bool, max: usize) -> String {
    data.iter()
        .copied()
        .filter(|&b| allowed(b))
        .take(max)
        .map(char::from)
        .collect()
}

fn signed_round_trip(data: &[u8]) {
    let mut parts = data.splitn(4, |&b| b == 0);
    let method = only(
        parts.next().unwrap_or_default(),
        |b| b.is_ascii_uppercase(),
        7,
    );
    let method = if method.is_empty() {
        "GET".into()
    } else {
        method
    };
    let path = format!(
        "/{}",
        only(
            parts.next().unwrap_or_default(),
            |b| b.is_ascii_alphanumeric() || b"/-_.~%".contains(&b),
            64
        )
    );
    // Only well-formed percent escapes survive into the path: a stray `%` is not
    // something a signing client would send.
    let path = if path.contains('%') {
        path.replace('%', "")
    } else {
        path
    };
    let query = only(
        parts.next().unwrap_or_default(),
        |b| b.is_ascii_alphanumeric() || b"=&-_.~".contains(&b),
        64,
    );
    let body = parts.next().unwrap_or_default();
    let mut headers: Vec<(String, Vec<u8>)> = vec![("host".into(), b"127.0.0.1:9000".to_vec())];
    for (i, chunk) in body.chunks(7).take(4).enumerate() {
        let value = only(chunk, |b| b.is_ascii_graphic(), 7);
        headers.push((format!("x-fuzz-{i}"), value.into_bytes()));
    }
    let payload = sigv4::sha256_hex(body);
    headers.push(("x-amz-content-sha256".into(), payload.clone().into_bytes()));
    let unsigned: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let req = Request {
        method: &method,
        path: &path,
        query: &query,
        headers: &unsigned,
    };
    let params = SigningParams {
        access_key_id: "AKIAFUZZ",
        secret: SECRET,
        region: EXPECT.region,
        service: EXPECT.service,
        now_unix: NOW,
    };
    let added = sigv4::sign(&req, &payload, &params);
    let mut all = headers.clone();
    for (n, v) in &added {
        all.push((n.clone(), v.clone().into_bytes()));
    }
    let signed: Vec<(&str, &[u8])> = all
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let req = Request {
        headers: &signed,
        ..req
    };
    let lookup = |k: &str| (k == "AKIAFUZZ").then(|| SECRET.to_string());
    let verified = sigv4::verify_request(&req, Some(&payload), NOW, EXPECT, lookup);
    assert_eq!(
        verified.as_deref(),
        Ok("AKIAFUZZ"),
        "a request flint signed: {req:?}"
    );

    // One hex digit of the signature changed: refused.
    let auth = &added[1].1;
    let last = auth.chars().last().expect("a signature");
    let flipped = if last == '0' { '1' } else { '0' };
    let tampered_auth = format!("{}{flipped}", &auth[..auth.len() - 1]);
    let mut tampered: Vec<(&str, &[u8])> = signed.clone();
    for h in tampered.iter_mut() {
        if h.0 == "authorization" {
            h.1 = tampered_auth.as_bytes();
        }
    }
    let req = Request {
        headers: &tampered,
        ..req
    };
    match sigv4::verify_request(&req, Some(&payload), NOW, EXPECT, lookup) {
        Err(sigv4::AuthError::SignatureDoesNotMatch) => {}
        other => panic!("a tampered signature gave {other:?}"),
    }
}

pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        arbitrary_request(rest);
    } else {
        signed_round_trip(rest);
    }
}
