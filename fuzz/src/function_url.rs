//! Function URL mapping (`flint_url`) on untrusted HTTP requests and function answers.
//!
//! Input layout: the first byte picks the mode, the rest is the material.
//! - even: an HTTP request (method, path, query, headers split on `\n` at the first `:`,
//!   body, separated by NUL) becomes an event. Invariants: nothing panics; the event is
//!   JSON that serializes; the body round-trips (text as is, anything else through base64);
//!   cookies never stay in the headers; a CORS preflight answer never allows an origin the
//!   configuration does not list.
//! - odd: the bytes are a function's answer. Invariants: nothing panics; an accepted answer
//!   has a status in 100..=599; an answer that is JSON without `statusCode` comes back with
//!   status 200 as a string's own text or as the same JSON, never longer (compacted).

use base64::Engine;
use flint_types::function_url::Cors;

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn request(data: &[u8]) {
    let mut parts = data.splitn(5, |&b| b == 0);
    let method = lossy(parts.next().unwrap_or_default());
    let path = lossy(parts.next().unwrap_or_default());
    let query = lossy(parts.next().unwrap_or_default());
    let head = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let mut headers = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        if let Some(i) = line.iter().position(|&b| b == b':') {
            headers.push((lossy(&line[..i]), lossy(&line[i + 1..])));
        }
    }
    let req = flint_url::HttpRequest {
        method: &method,
        path: &path,
        raw_query: &query,
        headers: &headers,
        body,
        source_ip: "127.0.0.1",
        protocol: "HTTP/1.1",
    };
    let ctx = flint_url::EventContext {
        url_id: "abcdef0123456789abcdef0123456789",
        domain_name: "abcdef0123456789abcdef0123456789.lambda-url.us-east-1.localhost",
        request_id: "r",
        now_ms: 1_700_000_000_000,
        iam: None,
    };
    let event = flint_url::event(&req, &ctx);
    serde_json::to_vec(&event).expect("an event serializes");
    if let Some(h) = event["headers"].as_object() {
        assert!(!h.contains_key("cookie"), "cookies stay out of the headers");
    }
    match event.get("body").and_then(|b| b.as_str()) {
        None => assert!(body.is_empty()),
        Some(b) if event["isBase64Encoded"] == true => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b)
                .expect("valid base64");
            assert_eq!(decoded, body);
        }
        Some(b) => assert_eq!(b.as_bytes(), body),
    }
    let cors = Cors {
        allow_origins: Some(vec!["https://ok.example".into()]),
        allow_methods: Some(vec!["GET".into()]),
        ..Default::default()
    };
    if let Some(answer) = flint_url::preflight(Some(&cors), &method, &headers) {
        for (k, v) in &answer {
            if k == "access-control-allow-origin" {
                assert_eq!(v, "https://ok.example", "allowed an unlisted origin");
            }
        }
    }
    for (k, v) in flint_url::cors_headers(Some(&cors), Some(&lossy(head))) {
        if k == "access-control-allow-origin" {
            assert!(v.eq_ignore_ascii_case("https://ok.example"));
        }
    }
}

fn answer(data: &[u8]) {
    match flint_url::response(data) {
        Ok(r) => {
            assert!((100..=599).contains(&r.status));
            let v: serde_json::Value = serde_json::from_slice(data).expect("accepted means JSON");
            if v.get("statusCode").is_none() {
                assert_eq!(r.status, 200);
                match &v {
                    // A string is its own text; anything else the same JSON, compacted.
                    serde_json::Value::String(s) => assert_eq!(r.body, s.as_bytes()),
                    _ => {
                        let again: serde_json::Value =
                            serde_json::from_slice(&r.body).expect("the body is JSON");
                        assert_eq!(again, v);
                        assert!(r.body.len() <= data.len());
                    }
                }
            }
        }
        Err(_) => {}
    }
}

pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        request(rest);
    } else {
        answer(rest);
    }
}
