//! Functions through the AWS SDK for Rust against the real `flint` binary:
//! create/get/update/delete, waiters, RevisionId locking, addressing forms
//! and ListFunctions pagination.

mod common;

use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, LastUpdateStatus, LogFormat, PackageType, Runtime, SnapStartApplyOn,
    SnapStartOptimizationStatus, State, StateReasonCode, TracingMode,
};
use common::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn is_lambda_timestamp(s: &str) -> bool {
    // YYYY-MM-DDThh:mm:ss.SSS+0000
    let b = s.as_bytes();
    b.len() == 28
        && s.ends_with("+0000")
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && [0..4, 5..7, 8..10, 11..13, 14..16, 17..19, 20..23]
            .into_iter()
            .all(|r| b[r].iter().all(u8::is_ascii_digit))
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[tokio::test]
async fn create_then_get_reports_every_default_field() {
    let server = Server::start();
    let client = server.client();
    let zip = python_zip("fields");
    let created = create_request(&client, "fields", &zip)
        .send()
        .await
        .expect("create");

    assert_eq!(created.function_name(), Some("fields"));
    assert_eq!(
        created.function_arn(),
        Some(function_arn("fields").as_str())
    );
    assert_eq!(created.runtime(), Some(&Runtime::Python312));
    assert_eq!(created.role(), Some(ROLE));
    assert_eq!(created.handler(), Some("index.handler"));
    assert_eq!(created.code_size(), zip.len() as i64);
    assert_eq!(created.code_sha256(), Some(code_sha256(&zip).as_str()));
    assert_eq!(created.description(), Some(""));
    assert_eq!(created.timeout(), Some(3));
    assert_eq!(created.memory_size(), Some(128));
    assert_eq!(created.version(), Some("$LATEST"));
    assert_eq!(created.package_type(), Some(&PackageType::Zip));
    assert_eq!(created.architectures(), &[Architecture::X8664]);
    assert_eq!(created.ephemeral_storage().map(|e| e.size()), Some(512));
    assert_eq!(
        created.tracing_config().and_then(|t| t.mode()),
        Some(&TracingMode::PassThrough)
    );
    let logging = created.logging_config().expect("LoggingConfig");
    assert_eq!(logging.log_format(), Some(&LogFormat::Text));
    assert_eq!(logging.log_group(), Some("/aws/lambda/fields"));
    let snap = created.snap_start().expect("SnapStart");
    assert_eq!(snap.apply_on(), Some(&SnapStartApplyOn::None));
    assert_eq!(
        snap.optimization_status(),
        Some(&SnapStartOptimizationStatus::Off)
    );
    assert!(
        created
            .runtime_version_config()
            .and_then(|r| r.runtime_version_arn())
            .is_some_and(|a| a.starts_with("arn:aws:lambda:us-east-1::runtime:")),
        "{:?}",
        created.runtime_version_config()
    );
    assert!(is_uuid(created.revision_id().unwrap()), "{created:?}");
    assert!(
        is_lambda_timestamp(created.last_modified().unwrap()),
        "{:?}",
        created.last_modified()
    );
    // Lambda's create answer: Pending/Creating, no LastUpdateStatus yet.
    assert_eq!(created.state(), Some(&State::Pending));
    assert_eq!(
        created.state_reason(),
        Some("The function is being created.")
    );
    assert_eq!(
        created.state_reason_code(),
        Some(&StateReasonCode::Creating)
    );
    assert_eq!(created.last_update_status(), None);
    assert!(created.environment().is_none());
    assert!(created.vpc_config().is_none());
    assert!(created.dead_letter_config().is_none());

    let got = client
        .get_function()
        .function_name("fields")
        .send()
        .await
        .expect("get");
    let cfg = got.configuration().expect("Configuration");
    assert_eq!(cfg.state(), Some(&State::Active));
    assert_eq!(cfg.state_reason(), None);
    assert_eq!(cfg.state_reason_code(), None);
    assert_eq!(
        cfg.last_update_status(),
        Some(&LastUpdateStatus::Successful)
    );
    assert_eq!(cfg.code_sha256(), created.code_sha256());
    assert_eq!(cfg.code_size(), created.code_size());
    // Pending -> Active gives a new RevisionId (AWS's recordings).
    assert_ne!(cfg.revision_id(), created.revision_id());
    assert_eq!(cfg.last_modified(), created.last_modified());
    assert_eq!(cfg.function_arn(), created.function_arn());
    let code = got.code().expect("Code");
    assert_eq!(code.repository_type(), Some("S3"));
    let (status, bytes) = download(code.location().expect("Location")).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, zip, "Code.Location serves the uploaded zip");
    assert!(got.concurrency().is_none());

    // GetFunctionConfiguration returns the same configuration.
    let conf = client
        .get_function_configuration()
        .function_name("fields")
        .send()
        .await
        .expect("get configuration");
    assert_eq!(conf.revision_id(), cfg.revision_id());
    assert_eq!(conf.state(), Some(&State::Active));
    assert_eq!(conf.code_sha256(), Some(code_sha256(&zip).as_str()));
}

#[tokio::test]
async fn create_with_explicit_settings_echoes_them() {
    let server = Server::start();
    let client = server.client();
    let zip = python_zip("explicit");
    let created = create_request(&client, "explicit", &zip)
        .description("an explicit function")
        .timeout(30)
        .memory_size(1024)
        .architectures(Architecture::Arm64)
        .environment(
            Environment::builder()
                .variables("GREETING", "hello")
                .variables("LOG_LEVEL", "debug")
                .build(),
        )
        .tags("team", "flint")
        .send()
        .await
        .expect("create");
    assert_eq!(created.description(), Some("an explicit function"));
    assert_eq!(created.timeout(), Some(30));
    assert_eq!(created.memory_size(), Some(1024));
    assert_eq!(created.architectures(), &[Architecture::Arm64]);
    let vars = created
        .environment()
        .and_then(|e| e.variables())
        .expect("variables");
    assert_eq!(
        vars,
        &HashMap::from([
            ("GREETING".to_string(), "hello".to_string()),
            ("LOG_LEVEL".to_string(), "debug".to_string())
        ])
    );
    let got = client
        .get_function()
        .function_name("explicit")
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.tags(),
        Some(&HashMap::from([("team".to_string(), "flint".to_string())]))
    );
    let cfg = got.configuration().unwrap();
    assert_eq!(cfg.memory_size(), Some(1024));
    assert_eq!(
        cfg.environment()
            .and_then(|e| e.variables())
            .map(|v| v.len()),
        Some(2)
    );
}

#[tokio::test]
async fn sdk_waiters_see_active_and_updated() {
    let server = Server::start();
    let client = server.client();
    create_simple(&client, "waited").await;
    let t = Instant::now();
    let active = client
        .wait_until_function_active_v2()
        .function_name("waited")
        .wait(Duration::from_secs(20))
        .await
        .expect("function-active-v2 waiter");
    let cfg = active
        .as_result()
        .expect("final poll succeeded")
        .configuration()
        .unwrap();
    assert_eq!(cfg.state(), Some(&State::Active));

    let updated = client
        .update_function_configuration()
        .function_name("waited")
        .memory_size(512)
        .send()
        .await
        .expect("update");
    assert_eq!(
        updated.last_update_status(),
        Some(&LastUpdateStatus::InProgress)
    );
    let settled = client
        .wait_until_function_updated_v2()
        .function_name("waited")
        .wait(Duration::from_secs(20))
        .await
        .expect("function-updated-v2 waiter");
    // As in AWS's recordings: the update answer's RevisionId is the InProgress
    // one, stale once the waiter saw Successful; the waiter's is current.
    let settled_rev = settled
        .as_result()
        .expect("final poll succeeded")
        .configuration()
        .and_then(|c| c.revision_id())
        .expect("RevisionId")
        .to_string();
    assert_ne!(Some(settled_rev.as_str()), updated.revision_id());
    let stale = client
        .update_function_configuration()
        .function_name("waited")
        .revision_id(updated.revision_id().unwrap())
        .memory_size(256)
        .send()
        .await
        .expect_err("the InProgress RevisionId is stale");
    assert_eq!(
        stale.into_service_error().meta().code(),
        Some("PreconditionFailedException")
    );
    client
        .update_function_configuration()
        .function_name("waited")
        .revision_id(&settled_rev)
        .memory_size(256)
        .send()
        .await
        .expect("the settled RevisionId is current");
    client
        .wait_until_function_updated()
        .function_name("waited")
        .wait(Duration::from_secs(20))
        .await
        .expect("function-updated waiter");
    client
        .wait_until_function_exists()
        .function_name("waited")
        .wait(Duration::from_secs(20))
        .await
        .expect("function-exists waiter");
    client
        .publish_version()
        .function_name("waited")
        .send()
        .await
        .expect("publish");
    client
        .wait_until_published_version_active()
        .function_name("waited")
        .qualifier("1")
        .wait(Duration::from_secs(20))
        .await
        .expect("published-version-active waiter");
    // Every waiter's first poll already sees the settled state: no retries
    // (each retry would cost at least a second).
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test]
async fn update_configuration_moves_revision_and_rejects_stale_ones() {
    let server = Server::start();
    let client = server.client();
    create_simple(&client, "upd").await;
    let before = client
        .get_function_configuration()
        .function_name("upd")
        .send()
        .await
        .unwrap();
    let rev0 = before.revision_id().unwrap().to_string();

    let updated = client
        .update_function_configuration()
        .function_name("upd")
        .revision_id(&rev0)
        .memory_size(256)
        .timeout(60)
        .description("updated")
        .handler("app.main")
        .runtime(Runtime::Python313)
        .environment(Environment::builder().variables("MODE", "x").build())
        .send()
        .await
        .expect("update with current revision");
    let rev1 = updated.revision_id().unwrap().to_string();
    assert_ne!(rev1, rev0);
    assert!(is_uuid(&rev1));
    assert_eq!(updated.memory_size(), Some(256));
    assert_eq!(updated.timeout(), Some(60));
    assert_eq!(updated.description(), Some("updated"));
    assert_eq!(updated.handler(), Some("app.main"));
    assert_eq!(updated.runtime(), Some(&Runtime::Python313));
    assert_eq!(
        updated.last_update_status(),
        Some(&LastUpdateStatus::InProgress)
    );
    assert_eq!(
        updated.last_update_status_reason(),
        Some("The function is being created.")
    );
    assert_eq!(
        updated.last_update_status_reason_code().map(|c| c.as_str()),
        Some("Creating")
    );
    assert_eq!(updated.code_sha256(), before.code_sha256());
    assert!(updated.last_modified().unwrap() >= before.last_modified().unwrap());

    let after = client
        .get_function_configuration()
        .function_name("upd")
        .send()
        .await
        .unwrap();
    // InProgress -> Successful gives a new RevisionId (AWS's recordings).
    assert_ne!(after.revision_id(), Some(rev1.as_str()));
    assert_ne!(after.revision_id(), Some(rev0.as_str()));
    assert_eq!(
        after.last_update_status(),
        Some(&LastUpdateStatus::Successful)
    );
    assert_eq!(after.state(), Some(&State::Active));
    assert_eq!(after.memory_size(), Some(256));
    assert_eq!(
        after
            .environment()
            .and_then(|e| e.variables())
            .and_then(|v| v.get("MODE")),
        Some(&"x".to_string())
    );

    // The old revision is stale now, for configuration and code alike.
    let stale = "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id";
    assert_err(
        client
            .update_function_configuration()
            .function_name("upd")
            .revision_id(&rev0)
            .memory_size(512)
            .send()
            .await,
        "PreconditionFailedException",
        412,
        stale,
    );
    assert_err(
        client
            .update_function_code()
            .function_name("upd")
            .revision_id(&rev0)
            .zip_file(Blob::new(python_zip("other")))
            .send()
            .await,
        "PreconditionFailedException",
        412,
        stale,
    );
    // Nothing changed by the rejected calls.
    let still = client
        .get_function_configuration()
        .function_name("upd")
        .send()
        .await
        .unwrap();
    assert_eq!(still.revision_id(), after.revision_id());
    assert_eq!(still.memory_size(), Some(256));
}

#[tokio::test]
async fn update_code_replaces_package_and_dry_run_stores_nothing() {
    let server = Server::start();
    let client = server.client();
    let zip1 = create_simple(&client, "code").await;
    let rev0 = client
        .get_function_configuration()
        .function_name("code")
        .send()
        .await
        .unwrap()
        .revision_id()
        .unwrap()
        .to_string();

    let zip2 = zip_of(&[
        ("index.py", b"def handler(e, c):\n    return 2\n"),
        ("lib/util.py", b"X = 1\n"),
    ]);
    let dry = client
        .update_function_code()
        .function_name("code")
        .zip_file(Blob::new(zip2.clone()))
        .dry_run(true)
        .send()
        .await
        .expect("dry run");
    assert_eq!(dry.code_sha256(), Some(code_sha256(&zip2).as_str()));
    let unchanged = client
        .get_function()
        .function_name("code")
        .send()
        .await
        .unwrap();
    assert_eq!(
        unchanged.configuration().unwrap().code_sha256(),
        Some(code_sha256(&zip1).as_str()),
        "DryRun must not store the package"
    );
    assert_eq!(
        unchanged.configuration().unwrap().revision_id(),
        Some(rev0.as_str())
    );

    let updated = client
        .update_function_code()
        .function_name("code")
        .revision_id(&rev0)
        .zip_file(Blob::new(zip2.clone()))
        .send()
        .await
        .expect("update code");
    assert_eq!(updated.code_sha256(), Some(code_sha256(&zip2).as_str()));
    assert_eq!(updated.code_size(), zip2.len() as i64);
    assert_ne!(updated.revision_id(), Some(rev0.as_str()));
    assert_eq!(
        updated.last_update_status(),
        Some(&LastUpdateStatus::InProgress)
    );

    let got = client
        .get_function()
        .function_name("code")
        .send()
        .await
        .unwrap();
    let cfg = got.configuration().unwrap();
    assert_eq!(cfg.code_sha256(), Some(code_sha256(&zip2).as_str()));
    assert_eq!(cfg.code_size(), zip2.len() as i64);
    assert_eq!(
        cfg.last_update_status(),
        Some(&LastUpdateStatus::Successful)
    );
    let (status, bytes) = download(got.code().unwrap().location().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, zip2);
}

#[tokio::test]
async fn functions_are_addressable_by_name_arn_partial_arn_and_qualifier() {
    let server = Server::start();
    let client = server.client();
    let zip = create_simple(&client, "addr").await;
    let sha = code_sha256(&zip);
    let v1 = client
        .publish_version()
        .function_name("addr")
        .send()
        .await
        .expect("publish");
    assert_eq!(v1.version(), Some("1"));

    for form in [
        "addr".to_string(),
        function_arn("addr"),
        format!("{ACCOUNT}:function:addr"),
    ] {
        let got = client
            .get_function_configuration()
            .function_name(&form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{form}: {}", describe(&e)));
        assert_eq!(got.function_name(), Some("addr"), "{form}");
        assert_eq!(got.function_arn(), Some(function_arn("addr").as_str()));
        assert_eq!(got.version(), Some("$LATEST"));
        assert_eq!(got.code_sha256(), Some(sha.as_str()));
    }

    // Version 1 by `name:1`, full qualified ARN, partial ARN, and ?Qualifier=.
    let qualified = [
        client.get_function_configuration().function_name("addr:1"),
        client
            .get_function_configuration()
            .function_name(format!("{}:1", function_arn("addr"))),
        client
            .get_function_configuration()
            .function_name(format!("{ACCOUNT}:function:addr:1")),
        client
            .get_function_configuration()
            .function_name("addr")
            .qualifier("1"),
        client
            .get_function_configuration()
            .function_name("addr:1")
            .qualifier("1"),
    ];
    for req in qualified {
        let got = req.send().await.expect("qualified get");
        assert_eq!(got.version(), Some("1"));
        assert_eq!(
            got.function_arn(),
            Some(format!("{}:1", function_arn("addr")).as_str())
        );
    }

    // $LATEST explicitly.
    let latest = client
        .get_function()
        .function_name("addr:$LATEST")
        .send()
        .await
        .expect("name:$LATEST");
    assert_eq!(latest.configuration().unwrap().version(), Some("$LATEST"));
    let latest = client
        .get_function()
        .function_name("addr")
        .qualifier("$LATEST")
        .send()
        .await
        .expect("?Qualifier=$LATEST");
    assert_eq!(latest.configuration().unwrap().version(), Some("$LATEST"));

    // Qualifier in the name and in the query must agree.
    assert_err(
        client
            .get_function()
            .function_name("addr:1")
            .qualifier("2")
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "The derived qualifier from the function name does not match the specified qualifier.",
    );
    // A version that does not exist is named with its qualifier.
    assert_err(
        client.get_function().function_name("addr:7").send().await,
        "ResourceNotFoundException",
        404,
        &format!("Function not found: {}:7", function_arn("addr")),
    );
    // An ARN of another account or region names a function that is not here.
    assert_err(
        client
            .get_function()
            .function_name("arn:aws:lambda:eu-west-1:000000000000:function:addr")
            .send()
            .await,
        "ResourceNotFoundException",
        404,
        "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')",
    );
    // Updates by ARN and partial ARN reach the same function.
    client
        .update_function_configuration()
        .function_name(function_arn("addr"))
        .memory_size(200)
        .send()
        .await
        .expect("update by ARN");
    client
        .update_function_configuration()
        .function_name(format!("{ACCOUNT}:function:addr"))
        .timeout(9)
        .send()
        .await
        .expect("update by partial ARN");
    let got = client
        .get_function_configuration()
        .function_name("addr")
        .send()
        .await
        .unwrap();
    assert_eq!((got.memory_size(), got.timeout()), (Some(200), Some(9)));
    // Deleting by ARN deletes the function.
    client
        .delete_function()
        .function_name(function_arn("addr"))
        .send()
        .await
        .expect("delete by ARN");
    assert_err(
        client.get_function().function_name("addr").send().await,
        "ResourceNotFoundException",
        404,
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:addr",
    );
}

#[tokio::test]
async fn delete_function_removes_it_and_its_name_can_be_reused() {
    let server = Server::start();
    let client = server.client();
    create_simple(&client, "gone").await;
    client
        .publish_version()
        .function_name("gone")
        .send()
        .await
        .unwrap();
    client
        .delete_function()
        .function_name("gone")
        .send()
        .await
        .expect("delete");
    let nf = "Function not found: arn:aws:lambda:us-east-1:000000000000:function:gone";
    assert_err(
        client.get_function().function_name("gone").send().await,
        "ResourceNotFoundException",
        404,
        nf,
    );
    assert_err(
        client.delete_function().function_name("gone").send().await,
        "ResourceNotFoundException",
        404,
        nf,
    );
    let listed = client.list_functions().send().await.unwrap();
    assert!(listed.functions().is_empty());

    // Same name again: a new function, versions start over.
    let zip = create_simple(&client, "gone").await;
    let versions = client
        .list_versions_by_function()
        .function_name("gone")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = versions.versions().iter().map(|v| v.version()).collect();
    assert_eq!(names, [Some("$LATEST")]);
    let got = client
        .get_function()
        .function_name("gone")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.configuration().unwrap().code_sha256(),
        Some(code_sha256(&zip).as_str())
    );
}

#[tokio::test]
async fn list_functions_pages_by_50_and_the_paginator_sees_all() {
    let server = Server::start();
    let client = server.client();
    const N: usize = 57;
    let mut tasks = Vec::new();
    for i in 0..N {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            create_simple(&client, &format!("fn-{i:03}")).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    // Raw pages: 50, then the rest.
    let first = client.list_functions().send().await.unwrap();
    assert_eq!(first.functions().len(), 50);
    let marker = first.next_marker().expect("NextMarker on a full page");
    let second = client.list_functions().marker(marker).send().await.unwrap();
    assert_eq!(second.functions().len(), N - 50);
    assert_eq!(second.next_marker(), None);
    // MaxItems above 50 still yields 50.
    let big = client
        .list_functions()
        .max_items(1000)
        .send()
        .await
        .unwrap();
    assert_eq!(big.functions().len(), 50);

    // The SDK paginator, with the default and with a small page size.
    for page_size in [None, Some(7)] {
        let mut req = client.list_functions();
        if let Some(n) = page_size {
            req = req.max_items(n);
        }
        let items: Vec<_> = req
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .expect("paginate");
        let mut names: Vec<String> = items
            .iter()
            .map(|f| f.function_name().unwrap().to_string())
            .collect();
        assert_eq!(names.len(), N, "page size {page_size:?}");
        names.sort();
        names.dedup();
        assert_eq!(names.len(), N, "no duplicates across pages");
        // List entries omit the state fields, as on AWS.
        assert!(items.iter().all(|f| f.state().is_none()
            && f.last_update_status().is_none()
            && f.runtime_version_config().is_none()));
        assert!(items.iter().all(|f| f.code_sha256().is_some()));
    }
    let pages: Vec<_> = client
        .list_functions()
        .max_items(20)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .unwrap();
    let sizes: Vec<usize> = pages.iter().map(|p| p.functions().len()).collect();
    assert_eq!(sizes, [20, 20, 17]);
}

#[tokio::test]
async fn raw_http_statuses_and_headers() {
    // What the SDK hides: success statuses and the error envelope.
    let server = Server::start();
    let base = server.endpoint.clone();
    tokio::task::spawn_blocking(move || {
        use base64::Engine;
        let http = reqwest::blocking::Client::new();
        let zip = python_zip("raw");
        let body = serde_json::json!({
            "FunctionName": "raw",
            "Runtime": "python3.12",
            "Role": ROLE,
            "Handler": "index.handler",
            "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(&zip)},
        });
        let r = http
            .post(format!("{base}/2015-03-31/functions"))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        assert!(r.headers().get("x-amzn-RequestId").is_some());

        let r = http
            .post(format!("{base}/2015-03-31/functions"))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 409);
        assert_eq!(
            r.headers()["x-amzn-ErrorType"].to_str().unwrap(),
            "ResourceConflictException"
        );
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Type": "User", "message": "Function already exist: raw"})
        );

        let r = http
            .get(format!("{base}/2015-03-31/functions/nope"))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 404);
        assert_eq!(
            r.headers()["x-amzn-ErrorType"].to_str().unwrap(),
            "ResourceNotFoundException"
        );
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Type": "User", "Message": "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"})
        );

        let r = http
            .post(format!("{base}/2015-03-31/functions/raw/versions"))
            .json(&serde_json::json!({}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        // No-op publish: same version, still 201.
        let r2 = http
            .post(format!("{base}/2015-03-31/functions/raw/versions"))
            .json(&serde_json::json!({}))
            .send()
            .unwrap();
        assert_eq!(r2.status().as_u16(), 201);

        let r = http
            .delete(format!("{base}/2015-03-31/functions/raw"))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn create_accepts_an_arn_or_partial_arn_as_the_name() {
    let server = Server::start();
    let client = server.client();
    let zip = python_zip("by-arn");
    let created = create_request(&client, &function_arn("by-arn"), &zip)
        .send()
        .await
        .expect("create by ARN");
    assert_eq!(created.function_name(), Some("by-arn"));
    assert_eq!(
        created.function_arn(),
        Some(function_arn("by-arn").as_str())
    );
    let created = create_request(&client, &format!("{ACCOUNT}:function:by-partial"), &zip)
        .send()
        .await
        .expect("create by partial ARN");
    assert_eq!(created.function_name(), Some("by-partial"));
    // A qualifier makes no sense on create.
    let e = create_request(&client, "with:1", &zip)
        .send()
        .await
        .expect_err("qualified name on create");
    assert_eq!(
        (err_info(&e).code.as_str(), err_info(&e).status),
        ("ValidationException", 400)
    );
}
