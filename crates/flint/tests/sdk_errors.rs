//! Error paths through the AWS SDK for Rust: the codes, statuses and
//! messages SDK users match on (lambda-facts §1.3, §1.6).

mod common;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
use common::*;

const NOPE: &str = "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope";

#[tokio::test]
async fn missing_function_is_resource_not_found_everywhere() {
    let server = Server::start();
    let c = server.client();
    let (code, st) = ("ResourceNotFoundException", 404);
    assert_err(
        c.get_function().function_name("nope").send().await,
        code,
        st,
        NOPE,
    );
    assert_err(
        c.get_function()
            .function_name(function_arn("nope"))
            .send()
            .await,
        code,
        st,
        NOPE,
    );
    assert_err(
        c.get_function_configuration()
            .function_name("nope")
            .send()
            .await,
        code,
        st,
        NOPE,
    );
    assert_err(
        c.delete_function().function_name("nope").send().await,
        code,
        st,
        NOPE,
    );
    assert_err(
        c.update_function_configuration()
            .function_name("nope")
            .memory_size(256)
            .send()
            .await,
        code,
        st,
        NOPE,
    );
    assert_err(
        c.update_function_code()
            .function_name("nope")
            .zip_file(Blob::new(python_zip("x")))
            .send()
            .await,
        code,
        st,
        NOPE,
    );
    assert_err(
        c.publish_version().function_name("nope").send().await,
        code,
        st,
        NOPE,
    );
    assert_err(
        c.list_versions_by_function()
            .function_name("nope")
            .send()
            .await,
        code,
        st,
        NOPE,
    );
    assert_err(
        c.list_aliases().function_name("nope").send().await,
        code,
        st,
        NOPE,
    );
    assert_err(
        c.put_function_concurrency()
            .function_name("nope")
            .reserved_concurrent_executions(1)
            .send()
            .await,
        code,
        st,
        // AWS names the function as `:$LATEST` here (its recorded
        // test_function_concurrency_exceptions).
        &format!("{NOPE}:$LATEST"),
    );
    assert_err(
        c.get_function_concurrency()
            .function_name("nope")
            .send()
            .await,
        code,
        st,
        NOPE,
    );
    assert_err(
        c.list_tags().resource(function_arn("nope")).send().await,
        code,
        st,
        NOPE,
    );
    assert_err(
        c.tag_resource()
            .resource(function_arn("nope"))
            .tags("a", "b")
            .send()
            .await,
        code,
        st,
        NOPE,
    );
}

#[tokio::test]
async fn duplicate_create_conflicts_and_leaves_the_original() {
    let server = Server::start();
    let c = server.client();
    let zip = create_simple(&c, "dup").await;
    assert_err(
        create_request(&c, "dup", &python_zip("other")).send().await,
        "ResourceConflictException",
        409,
        "Function already exist: dup",
    );
    let got = c.get_function().function_name("dup").send().await.unwrap();
    assert_eq!(
        got.configuration().unwrap().code_sha256(),
        Some(code_sha256(&zip).as_str())
    );
}

#[tokio::test]
async fn configuration_limits_and_runtimes() {
    let server = Server::start();
    let c = server.client();
    let zip = python_zip("limits");
    let v = |value: &str, field: &str, constraint: &str| {
        format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        )
    };
    assert_err(
        create_request(&c, "f", &zip)
            .memory_size(10241)
            .send()
            .await,
        "ValidationException",
        400,
        &v(
            "10241",
            "memorySize",
            "Member must have value less than or equal to 10240",
        ),
    );
    assert_err(
        create_request(&c, "f", &zip).memory_size(127).send().await,
        "ValidationException",
        400,
        &v(
            "127",
            "memorySize",
            "Member must have value greater than or equal to 128",
        ),
    );
    assert_err(
        create_request(&c, "f", &zip).timeout(901).send().await,
        "ValidationException",
        400,
        &v(
            "901",
            "timeout",
            "Member must have value less than or equal to 900",
        ),
    );
    assert_err(
        create_request(&c, "f", &zip).timeout(0).send().await,
        "ValidationException",
        400,
        &v(
            "0",
            "timeout",
            "Member must have value greater than or equal to 1",
        ),
    );
    assert_err(
        create_request(&c, "f", &zip)
            .environment(
                Environment::builder()
                    .variables("AWS_REGION", "eu-west-1")
                    .variables("OK_KEY", "fine")
                    .build(),
            )
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: AWS_REGION",
    );
    assert_err(
        create_request(&c, "f", &zip)
            .runtime(Runtime::Python27)
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "The runtime parameter of python2.7 is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions.",
    );
    assert_err_prefix(
        create_request(&c, "f", &zip)
            .runtime(Runtime::from("python9.9"))
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        // As recorded (test_create_lambda_exceptions): the runtimes creatable today, or an ARN.
        "Value python9.9 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [",
    );
    assert_err_prefix(
        create_request(&c, "f", &zip)
            .role("not-a-role")
            .send()
            .await,
        "ValidationException",
        400,
        "1 validation error detected: Value 'not-a-role' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: ",
    );
    let long = "x".repeat(65);
    assert_err_prefix(
        create_request(&c, &long, &zip).send().await,
        // AWS's recorded code for a 65-character CreateFunction name.
        "InvalidParameterValueException",
        400,
        &format!(
            "1 validation error detected: Value '{long}' at 'functionName' failed to satisfy constraint: "
        ),
    );
    // The boundaries themselves are accepted.
    create_request(&c, "edge", &zip)
        .memory_size(10240)
        .timeout(900)
        .send()
        .await
        .expect("memory 10240 / timeout 900");
    // None of the rejected creates left anything behind.
    let listed = c.list_functions().send().await.unwrap();
    let names: Vec<_> = listed
        .functions()
        .iter()
        .map(|f| f.function_name().unwrap())
        .collect();
    assert_eq!(names, ["edge"]);

    // The same rules apply to UpdateFunctionConfiguration.
    assert_err(
        c.update_function_configuration()
            .function_name("edge")
            .memory_size(10241)
            .send()
            .await,
        "ValidationException",
        400,
        &v(
            "10241",
            "memorySize",
            "Member must have value less than or equal to 10240",
        ),
    );
    assert_err(
        c.update_function_configuration()
            .function_name("edge")
            .runtime(Runtime::Python27)
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "The runtime parameter of python2.7 is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions.",
    );
    assert_err(
        c.update_function_configuration()
            .function_name("edge")
            .environment(Environment::builder().variables("AWS_REGION", "x").build())
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: AWS_REGION",
    );
}

#[tokio::test]
async fn bad_packages_cannot_be_unzipped() {
    let server = Server::start();
    let c = server.client();
    let not_zip = b"this is not a zip file at all".to_vec();
    let traversal = zip_of(&[("../evil.py", b"print('escaped')\n")]);
    let absolute = zip_of(&[("/etc/evil.py", b"x\n")]);
    for (what, bytes) in [
        ("non-zip", not_zip.clone()),
        ("../ entry", traversal.clone()),
        ("absolute entry", absolute.clone()),
    ] {
        let r = c
            .create_function()
            .function_name("badzip")
            .runtime(Runtime::Python312)
            .role(ROLE)
            .handler("index.handler")
            .code(FunctionCode::builder().zip_file(Blob::new(bytes)).build())
            .send()
            .await;
        let e = r.expect_err(what);
        assert_eq!(
            err_info(&e),
            ErrInfo {
                code: "InvalidParameterValueException".into(),
                message: UNZIP_ERROR.into(),
                status: 400
            },
            "{what}"
        );
    }
    assert_err(
        c.get_function().function_name("badzip").send().await,
        "ResourceNotFoundException",
        404,
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:badzip",
    );
    // UpdateFunctionCode refuses them too and keeps the old code.
    let good = create_simple(&c, "keeps").await;
    for bytes in [not_zip, traversal] {
        assert_err(
            c.update_function_code()
                .function_name("keeps")
                .zip_file(Blob::new(bytes))
                .send()
                .await,
            "InvalidParameterValueException",
            400,
            UNZIP_ERROR,
        );
    }
    let got = c
        .get_function()
        .function_name("keeps")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.configuration().unwrap().code_sha256(),
        Some(code_sha256(&good).as_str())
    );
}

#[tokio::test]
async fn more_validation_rules() {
    let server = Server::start();
    let c = server.client();
    let zip = python_zip("more");
    // 4 KB of environment, measured as compact JSON.
    let big = "v".repeat(4100);
    assert_err_prefix(
        create_request(&c, "f", &zip)
            .environment(Environment::builder().variables("BIG", &big).build())
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {\"BIG\":\"vvv",
    );
    // Just under the limit is fine: {"BIG":"..."} is 10 bytes of framing.
    create_request(&c, "env-ok", &zip)
        .environment(
            Environment::builder()
                .variables("BIG", "v".repeat(4096 - 10))
                .build(),
        )
        .send()
        .await
        .expect("exactly 4096 bytes of environment");
    assert_err_prefix(
        create_request(&c, "f", &zip)
            .description("d".repeat(257))
            .send()
            .await,
        "ValidationException",
        400,
        "1 validation error detected: Value '",
    );
    let e = create_request(&c, "f", &zip)
        .architectures(aws_sdk_lambda::types::Architecture::X8664)
        .architectures(aws_sdk_lambda::types::Architecture::Arm64)
        .send()
        .await
        .expect_err("two architectures");
    assert_eq!(
        (err_info(&e).code.as_str(), err_info(&e).status),
        ("ValidationException", 400),
        "{:?}",
        err_info(&e)
    );
    assert_err(
        c.create_function()
            .function_name("f")
            .runtime(Runtime::Python312)
            .role(ROLE)
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(zip.clone()))
                    .build(),
            )
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "Runtime and Handler are mandatory parameters for functions created with deployment packages.",
    );
    let listed = c.list_functions().send().await.unwrap();
    let names: Vec<_> = listed
        .functions()
        .iter()
        .map(|f| f.function_name().unwrap())
        .collect();
    assert_eq!(names, ["env-ok"]);
}

#[tokio::test]
async fn zipped_package_over_50_mb_is_too_large() {
    let server = Server::start();
    let c = server.client();
    // A stored (uncompressed) entry makes the zip itself just over 50 MB,
    // while the whole request stays under CreateFunction's request limit.
    let payload = vec![0u8; 52_428_800];
    let zip = {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(false);
        w.start_file("blob.bin", opts).unwrap();
        w.write_all(&payload).unwrap();
        w.finish().unwrap().into_inner()
    };
    assert!(zip.len() > 52_428_800);
    // Sent raw: the SDK would SHA-256 the 70 MB body to sign it, which
    // takes many seconds in an unoptimised test build.
    let t = std::time::Instant::now();
    let url = format!("{}/2015-03-31/functions", server.endpoint);
    let (status, error_type, body) = tokio::task::spawn_blocking(move || {
        use base64::Engine;
        let mut body = Vec::with_capacity(zip.len() * 4 / 3 + 200);
        body.extend_from_slice(
            format!(
                "{{\"FunctionName\":\"huge\",\"Runtime\":\"python3.12\",\"Role\":\"{ROLE}\",\"Handler\":\"index.handler\",\"Code\":{{\"ZipFile\":\""
            )
            .as_bytes(),
        );
        body.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(&zip)
                .as_bytes(),
        );
        body.extend_from_slice(b"\"}}");
        assert!(body.len() < 70_167_211, "under the request limit");
        let r = reqwest::blocking::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let et = r.headers()["x-amzn-ErrorType"].to_str().unwrap().to_string();
        (status, et, r.json::<serde_json::Value>().unwrap())
    })
    .await
    .unwrap();
    eprintln!("50 MB create rejected in {:?}", t.elapsed());
    assert_eq!(
        (status, error_type.as_str(), body),
        (
            413,
            "RequestEntityTooLargeException",
            serde_json::json!({"Type": "User", "message": "Zipped size must be smaller than 52428800 bytes"})
        )
    );
    assert_err(
        c.get_function().function_name("huge").send().await,
        "ResourceNotFoundException",
        404,
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:huge",
    );
}
