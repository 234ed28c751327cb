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
        NOPE,
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
        "ValidationException",
        400,
        "1 validation error detected: Value 'python9.9' at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [",
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
        "ValidationException",
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
