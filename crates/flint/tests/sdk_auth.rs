//! SigV4 authentication of flint's API (`flint serve --auth sigv4`), driven
//! with the AWS SDK for Rust (which signs as it does against AWS) and with
//! hand-made requests for what no SDK sends (unsigned, tampered).

mod common;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
use aws_sdk_lambda::types::InvocationType;
use common::*;
use std::process::Command;
use std::time::{Duration, SystemTime};

struct Key {
    id: String,
    secret: String,
}

fn flint_keys(data_dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_flint"))
        .arg("keys")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--output")
        .arg("json")
        .output()
        .expect("running flint keys");
    assert!(
        out.status.success(),
        "flint keys {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn create_key(data_dir: &std::path::Path) -> Key {
    let v: serde_json::Value = serde_json::from_str(&flint_keys(
        data_dir,
        &["create", "--description", "sdk test"],
    ))
    .unwrap();
    Key {
        id: v["AccessKeyId"].as_str().unwrap().into(),
        secret: v["SecretAccessKey"].as_str().unwrap().into(),
    }
}

fn client(endpoint: &str, id: &str, secret: &str, clock: Option<SystemTime>) -> Client {
    let mut conf = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(id, secret, None, None, "flint-auth-tests"))
        .retry_config(RetryConfig::disabled());
    if let Some(t) = clock {
        conf = conf.time_source(aws_smithy_async::time::StaticTimeSource::new(t));
    }
    Client::from_conf(conf.build())
}

fn secured() -> (Server, tempfile::TempDir, Key) {
    let tmp = tempfile::tempdir().unwrap();
    // The key exists before the server starts, as an operator would do it.
    let key = create_key(tmp.path());
    let server = Server::start_in_with(tmp.path(), &["--auth", "sigv4"]);
    (server, tmp, key)
}

#[tokio::test]
async fn signed_requests_pass_and_wrong_keys_secrets_and_clocks_are_refused() {
    let (server, _tmp, key) = secured();
    let good = client(&server.endpoint, &key.id, &key.secret, None);
    create_simple(&good, "auth-fn").await;
    // A function ARN in the path: encoded once on the wire, twice when signed.
    let got = good
        .get_function()
        .function_name(function_arn("auth-fn"))
        .send()
        .await
        .expect("get-function by ARN");
    assert_eq!(
        got.configuration().unwrap().function_name(),
        Some("auth-fn")
    );
    // A query string and a body (Invoke's payload) are covered too.
    let dry = good
        .invoke()
        .function_name("auth-fn")
        .qualifier("$LATEST")
        .invocation_type(InvocationType::DryRun)
        .payload(aws_smithy_types::Blob::new(b"{\"k\": \"v\"}".to_vec()))
        .send()
        .await
        .expect("dry-run invoke");
    assert_eq!(dry.status_code(), 204);

    let unknown = client(&server.endpoint, "FLNTUNKNOWNKEY000000", &key.secret, None);
    let e = unknown.list_functions().send().await.unwrap_err();
    assert_eq!(
        err_info(&e),
        ErrInfo {
            code: "UnrecognizedClientException".into(),
            message: "The security token included in the request is invalid.".into(),
            status: 403,
        }
    );

    let wrong_secret = client(&server.endpoint, &key.id, "not-the-secret", None);
    let e = wrong_secret.list_functions().send().await.unwrap_err();
    assert_eq!(
        err_info(&e),
        ErrInfo {
            code: "InvalidSignatureException".into(),
            message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
            status: 403,
        }
    );

    let ten_minutes_ago = SystemTime::now() - Duration::from_secs(600);
    let late = client(
        &server.endpoint,
        &key.id,
        &key.secret,
        Some(ten_minutes_ago),
    );
    let e = late.list_functions().send().await.unwrap_err();
    let info = err_info(&e);
    assert_eq!(
        (info.code.as_str(), info.status),
        ("InvalidSignatureException", 403)
    );
    assert!(
        info.message.starts_with("Signature expired: ") && info.message.ends_with(" - 5 min.)"),
        "{}",
        info.message
    );
    let early = client(
        &server.endpoint,
        &key.id,
        &key.secret,
        Some(SystemTime::now() + Duration::from_secs(600)),
    );
    let e = early.list_functions().send().await.unwrap_err();
    assert!(
        err_info(&e)
            .message
            .starts_with("Signature not yet current: ")
    );

    // None of the refused requests changed anything.
    let all = good.list_functions().send().await.unwrap();
    assert_eq!(all.functions().len(), 1);
}

#[tokio::test]
async fn unsigned_and_tampered_requests_are_refused() {
    let (server, _tmp, key) = secured();
    let http = reqwest::Client::new();
    let url = format!("{}/2015-03-31/functions", server.endpoint);
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["x-amzn-ErrorType"],
        "MissingAuthenticationTokenException"
    );
    assert!(resp.headers().contains_key("x-amzn-RequestId"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "Missing Authentication Token");

    let resp = http
        .get(&url)
        .header("Authorization", "Bearer abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["x-amzn-ErrorType"],
        "IncompleteSignatureException"
    );

    // A correctly signed CreateFunction whose body is then swapped.
    let host = server.endpoint.trim_start_matches("http://").to_string();
    let good_body = serde_json::to_vec(&serde_json::json!({
        "FunctionName": "tampered", "Runtime": "python3.12", "Role": ROLE,
        "Handler": "index.handler",
        "Code": {"ZipFile": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, python_zip("t"))},
    }))
    .unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let headers: Vec<(&str, &[u8])> = vec![("host", host.as_bytes())];
    let signed = flint_auth::sigv4::sign(
        &flint_auth::sigv4::Request {
            method: "POST",
            path: "/2015-03-31/functions",
            query: "",
            headers: &headers,
        },
        &flint_auth::sigv4::sha256_hex(&good_body),
        &flint_auth::sigv4::SigningParams {
            access_key_id: &key.id,
            secret: &key.secret,
            region: REGION,
            service: "lambda",
            now_unix: now,
        },
    );
    let send = |body: Vec<u8>| {
        let mut req = http.post(&url).body(body);
        for (k, v) in &signed {
            req = req.header(k, v);
        }
        req.send()
    };
    let mut evil = good_body.clone();
    let at = evil.windows(8).position(|w| w == b"tampered").unwrap();
    evil[at..at + 8].copy_from_slice(b"hijacked");
    let resp = send(evil).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["x-amzn-ErrorType"],
        "InvalidSignatureException"
    );
    // The untouched request is accepted: the refusal was the tampering.
    let resp = send(good_body).await.unwrap();
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    let good = client(&server.endpoint, &key.id, &key.secret, None);
    let names: Vec<String> = good
        .list_functions()
        .send()
        .await
        .unwrap()
        .functions()
        .iter()
        .filter_map(|f| f.function_name().map(str::to_string))
        .collect();
    assert_eq!(names, vec!["tampered".to_string()]);
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_the_running_server() {
    let (server, tmp, key) = secured();
    let other = create_key(tmp.path()); // created while the server runs
    let c = client(&server.endpoint, &key.id, &key.secret, None);
    let o = client(&server.endpoint, &other.id, &other.secret, None);
    c.list_functions().send().await.expect("active key");
    o.list_functions()
        .send()
        .await
        .expect("key created while running");
    flint_keys(tmp.path(), &["revoke", &key.id]);
    let e = c.list_functions().send().await.unwrap_err();
    assert_eq!(err_info(&e).code, "UnrecognizedClientException");
    o.list_functions()
        .send()
        .await
        .expect("the other key still works");
    let list: serde_json::Value = serde_json::from_str(&flint_keys(tmp.path(), &["list"])).unwrap();
    let statuses: Vec<(&str, &str)> = list["AccessKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AccessKeyId"].as_str().unwrap(),
                k["Status"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(statuses.contains(&(key.id.as_str(), "Revoked")));
    assert!(statuses.contains(&(other.id.as_str(), "Active")));
    // Secrets are not stored in the clear.
    let db = std::fs::read(tmp.path().join("keys.db")).unwrap();
    let wal = std::fs::read(tmp.path().join("keys.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(40).any(|w| w == other.secret.as_bytes()));
    }
}

#[tokio::test]
async fn open_mode_is_the_loopback_default_and_accepts_unsigned_requests() {
    let server = Server::start();
    let resp = reqwest::get(format!("{}/2015-03-31/functions", server.endpoint))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
