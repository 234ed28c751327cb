//! AWS's SigV4 test suite vectors (see `sigv4-test-suite/README.md`) run
//! through flint's verifier: every signed request verifies at the suite's
//! clock, and a changed request does not.

use flint_auth::sigv4::{self, AuthError, Expect, Request};
use std::path::{Path, PathBuf};

struct Raw {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Raw {
    fn parse(text: &str) -> Raw {
        let (head, body) = match text.split_once("\n\n") {
            Some((h, b)) => (h, b),
            None => (text, ""),
        };
        let mut lines = head.lines();
        let first = lines.next().unwrap();
        let mut parts = first.splitn(2, ' ');
        let method = parts.next().unwrap().to_string();
        let rest = parts.next().unwrap();
        let target = rest.strip_suffix(" HTTP/1.1").unwrap_or(rest);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let headers = lines
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.to_string(), v.as_bytes().to_vec())
            })
            .collect();
        Raw {
            method,
            path: path.to_string(),
            query: query.to_string(),
            headers,
            body: body.trim_end_matches('\n').as_bytes().to_vec(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&Request<'_>) -> R) -> R {
        let h: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        f(&Request {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &h,
        })
    }
}

struct Context {
    key_id: String,
    secret: String,
    region: String,
    service: String,
    now: i64,
}

fn context(dir: &Path) -> Context {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("context.json")).unwrap()).unwrap();
    let ts = v["timestamp"].as_str().unwrap(); // 2015-08-30T12:36:00Z
    let amz = ts.replace(['-', ':'], "");
    Context {
        key_id: v["credentials"]["access_key_id"].as_str().unwrap().into(),
        secret: v["credentials"]["secret_access_key"]
            .as_str()
            .unwrap()
            .into(),
        region: v["region"].as_str().unwrap().into(),
        service: v["service"].as_str().unwrap().into(),
        now: sigv4::parse_amz_date(&amz).unwrap(),
    }
}

fn verify(raw: &Raw, ctx: &Context) -> Result<String, AuthError> {
    raw.with(|req| {
        sigv4::verify_request(
            req,
            Some(&sigv4::sha256_hex(&raw.body)),
            ctx.now,
            Expect {
                region: &ctx.region,
                service: &ctx.service,
            },
            |id| (id == ctx.key_id).then(|| ctx.secret.clone()),
        )
    })
}

fn suite() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4-test-suite");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("context.json").exists())
        // `omit_session_token`: the signer adds the token after signing
        // (a client quirk); a server cannot tell it apart from tampering.
        .filter(|p| {
            !std::fs::read_to_string(p.join("context.json"))
                .unwrap()
                .contains("\"omit_session_token\": true")
        })
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_signed_request_of_the_suite_verifies() {
    let dirs = suite();
    assert_eq!(dirs.len(), 29, "the suite is incomplete");
    for dir in dirs {
        let ctx = context(&dir);
        for file in ["header-signed-request.txt", "query-signed-request.txt"] {
            let raw = Raw::parse(&std::fs::read_to_string(dir.join(file)).unwrap());
            let got = verify(&raw, &ctx);
            assert_eq!(
                got.as_deref(),
                Ok(ctx.key_id.as_str()),
                "{}/{file}",
                dir.display()
            );
        }
    }
}

#[test]
fn changed_requests_of_the_suite_are_refused() {
    for dir in suite() {
        let ctx = context(&dir);
        for file in ["header-signed-request.txt", "query-signed-request.txt"] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            let name = format!("{}/{file}", dir.display());
            let mut raw = Raw::parse(&text);
            raw.method = if raw.method == "GET" { "POST" } else { "GET" }.into();
            assert_eq!(
                verify(&raw, &ctx),
                Err(AuthError::SignatureDoesNotMatch),
                "method {name}"
            );

            let mut raw = Raw::parse(&text);
            raw.path.push('x');
            assert_eq!(
                verify(&raw, &ctx),
                Err(AuthError::SignatureDoesNotMatch),
                "path {name}"
            );

            let mut raw = Raw::parse(&text);
            let host = raw
                .headers
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case("host"))
                .unwrap();
            host.1 = b"evil.example.com".to_vec();
            assert_eq!(
                verify(&raw, &ctx),
                Err(AuthError::SignatureDoesNotMatch),
                "host {name}"
            );

            let raw = Raw::parse(&text);
            let wrong = Context {
                secret: "not-the-secret".into(),
                ..context(&dir)
            };
            assert_eq!(
                verify(&raw, &wrong),
                Err(AuthError::SignatureDoesNotMatch),
                "secret {name}"
            );

            // Presigned URLs last X-Amz-Expires (3600 s), headers 5 minutes.
            let later = Context {
                now: ctx.now + 3601,
                ..context(&dir)
            };
            let e = verify(&raw, &later).unwrap_err();
            assert!(
                e.to_string().starts_with("Signature expired: "),
                "{name}: {e}"
            );
        }
    }
}

#[test]
fn double_encoding_matches_the_suite_canonical_requests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4-test-suite");
    for case in ["double-url-encode", "double-encode-path"] {
        let dir = root.join(case);
        let raw =
            Raw::parse(&std::fs::read_to_string(dir.join("header-signed-request.txt")).unwrap());
        let expected = std::fs::read_to_string(dir.join("header-canonical-request.txt")).unwrap();
        let expected_uri = expected.lines().nth(1).unwrap();
        assert_eq!(sigv4::canonical_uri(&raw.path), expected_uri, "{case}");
    }
}
