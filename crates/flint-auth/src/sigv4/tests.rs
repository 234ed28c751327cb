//! The verifier and the signer against each other, and each canonicalisation rule.

use super::canonical::trim_all;
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
