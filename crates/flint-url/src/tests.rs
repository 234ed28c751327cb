use super::*;

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ctx() -> EventContext<'static> {
    EventContext {
        url_id: "abcdef0123456789abcdef0123456789",
        domain_name: "abcdef0123456789abcdef0123456789.lambda-url.us-east-1.localhost",
        request_id: "req-1",
        now_ms: 1_583_348_638_390,
        iam: None,
    }
}

#[test]
fn the_event_is_payload_format_2() {
    let headers = h(&[
        ("Host", "x"),
        ("User-Agent", "agent"),
        ("X-Multi", "a"),
        ("x-multi", "b"),
        ("Cookie", "c1=v1; c2=v2"),
        ("Content-Type", "application/json"),
    ]);
    let req = HttpRequest {
        method: "POST",
        path: "/my/path",
        raw_query: "a=1&a=2&b=x%20y&c=+",
        headers: &headers,
        body: br#"{"k":1}"#,
        source_ip: "127.0.0.1",
        protocol: "HTTP/1.1",
    };
    let e = event(&req, &ctx());
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "$default");
    assert_eq!(e["rawPath"], "/my/path");
    assert_eq!(e["rawQueryString"], "a=1&a=2&b=x%20y&c=+");
    assert_eq!(e["headers"]["x-multi"], "a,b");
    assert_eq!(e["headers"]["user-agent"], "agent");
    assert!(e["headers"].get("cookie").is_none());
    assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
    assert_eq!(
        e["queryStringParameters"],
        json!({"a": "1,2", "b": "x y", "c": " "})
    );
    assert_eq!(e["body"], r#"{"k":1}"#);
    assert_eq!(e["isBase64Encoded"], false);
    let rc = &e["requestContext"];
    assert_eq!(rc["accountId"], "anonymous");
    assert_eq!(rc["apiId"], ctx().url_id);
    assert_eq!(rc["domainPrefix"], ctx().url_id);
    assert_eq!(rc["http"]["method"], "POST");
    assert_eq!(rc["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(rc["http"]["userAgent"], "agent");
    assert_eq!(rc["time"], "04/Mar/2020:19:03:58 +0000");
    assert_eq!(rc["timeEpoch"], 1_583_348_638_390_i64);
    assert!(rc.get("authorizer").is_none());
}

#[test]
fn absent_parts_are_left_out_and_binary_bodies_are_base64() {
    let headers = h(&[("content-type", "image/png")]);
    let req = HttpRequest {
        method: "PUT",
        path: "/",
        raw_query: "",
        headers: &headers,
        body: &[0x89, b'P', b'N', b'G', 0xff],
        source_ip: "127.0.0.1",
        protocol: "HTTP/1.1",
    };
    let e = event(&req, &ctx());
    assert!(e.get("cookies").is_none());
    assert!(e.get("queryStringParameters").is_none());
    assert_eq!(e["isBase64Encoded"], true);
    assert_eq!(e["body"], "iVBOR/8=");
    let empty = HttpRequest { body: b"", ..req };
    assert!(event(&empty, &ctx()).get("body").is_none());
    assert!(is_text(Some("text/plain; charset=utf-8")));
    assert!(is_text(Some("application/vnd.api+json")));
    assert!(!is_text(Some("application/octet-stream")));
}

#[test]
fn iam_callers_appear_in_the_authorizer() {
    let mut c = ctx();
    c.iam = Some(IamCaller {
        access_key: "AKIA1".into(),
        account_id: "000000000000".into(),
        user_arn: "arn:aws:iam::000000000000:user/ci".into(),
    });
    let req = HttpRequest {
        method: "GET",
        path: "/",
        raw_query: "",
        headers: &[],
        body: b"",
        source_ip: "127.0.0.1",
        protocol: "HTTP/1.1",
    };
    let e = event(&req, &c);
    assert_eq!(e["requestContext"]["accountId"], "000000000000");
    assert_eq!(
        e["requestContext"]["authorizer"]["iam"]["accessKey"],
        "AKIA1"
    );
}

#[test]
fn responses_follow_lambdas_rules() {
    let r = response(br#"{"hello": "world"}"#).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers,
        vec![("content-type".to_string(), "application/json".to_string())]
    );
    assert_eq!(response(b"42").unwrap().status, 200);

    let r = response(
        br#"{"statusCode": 201, "headers": {"Content-Type": "text/plain", "X-A": "1"},
             "cookies": ["a=1", "b=2; Path=/"], "body": "made"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.body, b"made");
    assert!(
        r.headers
            .contains(&("Content-Type".into(), "text/plain".into()))
    );
    assert_eq!(r.cookies, vec!["a=1", "b=2; Path=/"]);

    let r = response(br#"{"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}"#).unwrap();
    assert_eq!(r.body, b"hi");
    assert_eq!(
        response(br#"{"statusCode": "x"}"#),
        Err(UrlError::BadStatus)
    );
    assert_eq!(
        response(br#"{"statusCode": 700}"#),
        Err(UrlError::BadStatus)
    );
    assert_eq!(
        response(br#"{"statusCode": 200, "body": "!!", "isBase64Encoded": true}"#),
        Err(UrlError::BadBase64)
    );
    assert_eq!(response(b"not json"), Err(UrlError::NotJson));
    assert_eq!(response(br#"{"statusCode": 204}"#).unwrap().body, b"");
}

#[test]
fn cors_preflight_and_response_headers() {
    let cors = Cors {
        allow_origins: Some(vec!["https://app.example".into()]),
        allow_methods: Some(vec!["GET".into(), "POST".into()]),
        allow_headers: Some(vec!["x-custom".into()]),
        expose_headers: Some(vec!["x-out".into()]),
        max_age: Some(300),
        allow_credentials: Some(true),
    };
    let pre = h(&[
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "POST"),
    ]);
    let out = preflight(Some(&cors), "OPTIONS", &pre).unwrap();
    assert!(out.contains(&(
        "access-control-allow-origin".into(),
        "https://app.example".into()
    )));
    assert!(out.contains(&("access-control-allow-methods".into(), "GET,POST".into())));
    assert!(out.contains(&("access-control-allow-headers".into(), "x-custom".into())));
    assert!(out.contains(&("access-control-max-age".into(), "300".into())));
    assert!(out.contains(&("access-control-allow-credentials".into(), "true".into())));
    // A method or origin not allowed: answered, without CORS headers.
    let bad = h(&[
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "DELETE"),
    ]);
    assert_eq!(preflight(Some(&cors), "OPTIONS", &bad), Some(vec![]));
    let evil = h(&[
        ("Origin", "https://evil.example"),
        ("Access-Control-Request-Method", "GET"),
    ]);
    assert_eq!(preflight(Some(&cors), "OPTIONS", &evil), Some(vec![]));
    // Not a preflight, or no CORS configured: the function answers.
    assert_eq!(preflight(Some(&cors), "GET", &pre), None);
    assert_eq!(preflight(None, "OPTIONS", &pre), None);
    assert_eq!(
        preflight(Some(&cors), "OPTIONS", &h(&[("Origin", "x")])),
        None
    );

    let out = cors_headers(Some(&cors), Some("https://app.example"));
    assert!(out.contains(&("access-control-expose-headers".into(), "x-out".into())));
    assert!(cors_headers(Some(&cors), Some("https://evil.example")).is_empty());
    assert!(cors_headers(Some(&cors), None).is_empty());
    let any = Cors {
        allow_origins: Some(vec!["*".into()]),
        ..Default::default()
    };
    assert_eq!(
        cors_headers(Some(&any), Some("https://x")),
        vec![("access-control-allow-origin".to_string(), "*".to_string())]
    );
}

#[test]
fn streamed_http_integration_preludes_split_at_eight_nuls() {
    let mut bytes = br#"{"statusCode":201,"headers":{"X-A":"1"},"cookies":["c=1"]}"#.to_vec();
    assert_eq!(split_prelude(&bytes), Ok(None));
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(b"body starts");
    let (head, rest) = split_prelude(&bytes).unwrap().unwrap();
    assert_eq!(head.status, 201);
    assert!(head.headers.contains(&("X-A".into(), "1".into())));
    assert!(
        head.headers
            .contains(&("content-type".into(), "application/octet-stream".into()))
    );
    assert_eq!(head.cookies, vec!["c=1"]);
    assert_eq!(rest, b"body starts");
    let mut plain = b"{}".to_vec();
    plain.extend_from_slice(&[0; 8]);
    let (head, rest) = split_prelude(&plain).unwrap().unwrap();
    assert_eq!((head.status, rest), (200, &b""[..]));
    let mut bad = b"not json".to_vec();
    bad.extend_from_slice(&[0; 8]);
    assert_eq!(split_prelude(&bad), Err(UrlError::NotJson));
}

#[test]
fn answers_without_a_status_code_are_the_body_as_lambda_sends_it() {
    // test_lambda.py::TestLambdaURL::test_lambda_url_invocation[...], as AWS answered: what
    // the Python runtime sends for each return value → the body (and its Content-Length).
    let body = |payload: &[u8]| String::from_utf8(response(payload).unwrap().body).unwrap();
    assert_eq!(body(br#"{"hello": "world"}"#), r#"{"hello":"world"}"#); // dict: 17
    assert_eq!(body(br#"["hello", 3, true]"#), r#"["hello",3,true]"#); // list-mixed: 16
    assert_eq!(body(br#""hello""#), "hello"); // string: 5, not JSON-quoted
    assert_eq!(body(b"3"), "3");
    assert_eq!(body(b"3.1"), "3.1");
    assert_eq!(body(b"true"), "true");
    assert_eq!(
        body(br#"{"statusCode": 200, "body": "{\"hello\": \"world\"}"}"#),
        r#"{"hello": "world"}"# // http-response-json: 18, a body string is sent as it is
    );
    // Compacting keeps the members' order and everything inside strings.
    assert_eq!(
        body(b"{ \"z\" : [ 1 , {\"a\": \" x \\\" y \"} ],\n\t\"b\": null }"),
        r#"{"z":[1,{"a":" x \" y "}],"b":null}"#
    );
    assert_eq!(
        body(br#""a \"quoted\" \u00e9 line\n""#),
        "a \"quoted\" \u{e9} line\n"
    );
}

#[test]
fn a_status_code_may_be_a_string_of_digits() {
    // test_lambda.py::TestLambdaURL::test_lambda_url_headers_and_status (AWS-validated).
    let r = response(br#"{"statusCode": "418", "body": "i'm a teapot"}"#).unwrap();
    assert_eq!((r.status, &r.body[..]), (418, &b"i'm a teapot"[..]));
    for bad in [
        r#""x""#,
        r#""4.5e2""#,
        r#""700""#,
        r#""-1""#,
        "true",
        "[200]",
    ] {
        let payload = format!(r#"{{"statusCode": {bad}}}"#);
        assert_eq!(
            response(payload.as_bytes()),
            Err(UrlError::BadStatus),
            "{bad}"
        );
    }
    let mut streamed = br#"{"statusCode":"201"}"#.to_vec();
    streamed.extend_from_slice(&[0; 8]);
    assert_eq!(split_prelude(&streamed).unwrap().unwrap().0.status, 201);
}

#[test]
fn hop_by_hop_headers_stay_out_of_the_event_and_forwarding_headers_are_added() {
    let sent = h(&[
        ("Host", "x.lambda-url.us-east-1.localhost:9001"),
        ("Connection", "keep-alive, X-Gone"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"),
        ("Transfer-Encoding", "chunked"),
        ("TE", "trailers"),
        ("Trailer", "X-Sum"),
        ("Upgrade", "h2c"),
        ("Proxy-Authorization", "Basic eA=="),
        ("X-Gone", "named by Connection"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Port", "443"),
        ("Content-Length", "2"),
        ("Accept", "*/*"),
    ]);
    let headers = with_forwarded(&sent, "127.0.0.1", "http", 9001);
    let req = HttpRequest {
        method: "POST",
        path: "/",
        raw_query: "",
        headers: &headers,
        body: b"{}",
        source_ip: "127.0.0.1",
        protocol: "HTTP/1.1",
    };
    let e = event(&req, &ctx());
    let mut names: Vec<&str> = e["headers"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "accept",
            "content-length",
            "host",
            "x-forwarded-for",
            "x-forwarded-port",
            "x-forwarded-proto"
        ]
    );
    // The caller's x-forwarded-for is kept and the caller appended; proto and port are the
    // connection's own.
    assert_eq!(e["headers"]["x-forwarded-for"], "203.0.113.9,127.0.0.1");
    assert_eq!(e["headers"]["x-forwarded-proto"], "http");
    assert_eq!(e["headers"]["x-forwarded-port"], "9001");
}
