//! Tags, account settings and reserved concurrency through the AWS SDK.

mod common;

use common::*;
use std::collections::HashMap;

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn tags_on_functions() {
    let server = Server::start();
    let c = server.client();
    let zip = python_zip("tagged");
    create_request(&c, "tagged", &zip)
        .tags("env", "test")
        .send()
        .await
        .unwrap();
    let arn = function_arn("tagged");
    let tags = c.list_tags().resource(&arn).send().await.unwrap();
    assert_eq!(tags.tags(), Some(&map(&[("env", "test")])));

    c.tag_resource()
        .resource(&arn)
        .tags("team", "flint")
        .tags("env", "prod")
        .send()
        .await
        .expect("tag");
    let tags = c.list_tags().resource(&arn).send().await.unwrap();
    assert_eq!(
        tags.tags(),
        Some(&map(&[("env", "prod"), ("team", "flint")]))
    );
    let got = c
        .get_function()
        .function_name("tagged")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.tags(),
        Some(&map(&[("env", "prod"), ("team", "flint")]))
    );

    c.untag_resource()
        .resource(&arn)
        .tag_keys("env")
        .tag_keys("absent")
        .send()
        .await
        .expect("untag");
    let tags = c.list_tags().resource(&arn).send().await.unwrap();
    assert_eq!(tags.tags(), Some(&map(&[("team", "flint")])));

    // Tags do not change the function's revision or code.
    let cfg = c
        .get_function_configuration()
        .function_name("tagged")
        .send()
        .await
        .unwrap();
    assert_eq!(cfg.code_sha256(), Some(code_sha256(&zip).as_str()));

    // Versions and aliases cannot be tagged.
    c.publish_version()
        .function_name("tagged")
        .send()
        .await
        .unwrap();
    assert_err(
        c.tag_resource()
            .resource(format!("{arn}:1"))
            .tags("a", "b")
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "Tags on function aliases and versions are not supported. Please specify a function ARN.",
    );
    // At most 50 tags per function, counting the ones already there.
    let mut req = c.tag_resource().resource(&arn);
    for i in 0..50 {
        req = req.tags(format!("k{i:02}"), "v");
    }
    assert_err(
        req.send().await,
        "InvalidParameterValueException",
        400,
        "Number of tags exceeds resource tag limit.",
    );
    let tags = c.list_tags().resource(&arn).send().await.unwrap();
    assert_eq!(
        tags.tags(),
        Some(&map(&[("team", "flint")])),
        "nothing applied"
    );
    // A bare name is not an ARN.
    let e = c
        .list_tags()
        .resource("tagged")
        .send()
        .await
        .expect_err("name is not an ARN");
    assert_eq!(err_info(&e).code, "ValidationException");
    assert_eq!(err_info(&e).status, 400);
}

#[tokio::test]
async fn account_settings_and_reserved_concurrency() {
    let server = Server::start();
    let c = server.client();
    let empty = c.get_account_settings().send().await.unwrap();
    let limit = empty.account_limit().expect("AccountLimit");
    assert_eq!(limit.total_code_size(), 80_530_636_800);
    assert_eq!(limit.code_size_unzipped(), 262_144_000);
    assert_eq!(limit.code_size_zipped(), 52_428_800);
    assert_eq!(limit.concurrent_executions(), 1000);
    assert_eq!(limit.unreserved_concurrent_executions(), Some(1000));
    let usage = empty.account_usage().expect("AccountUsage");
    assert_eq!((usage.total_code_size(), usage.function_count()), (0, 0));

    let a = create_simple(&c, "a").await;
    let b = create_simple(&c, "b").await;
    c.publish_version().function_name("a").send().await.unwrap();
    let s = c.get_account_settings().send().await.unwrap();
    let usage = s.account_usage().unwrap();
    assert_eq!(usage.function_count(), 2);
    // $LATEST of both plus the published version of `a`.
    assert_eq!(
        usage.total_code_size(),
        (2 * a.len() + b.len()) as i64,
        "TotalCodeSize counts every version's package"
    );

    // Reserved concurrency.
    let put = c
        .put_function_concurrency()
        .function_name("a")
        .reserved_concurrent_executions(100)
        .send()
        .await
        .expect("put concurrency");
    assert_eq!(put.reserved_concurrent_executions(), Some(100));
    let got = c
        .get_function_concurrency()
        .function_name("a")
        .send()
        .await
        .unwrap();
    assert_eq!(got.reserved_concurrent_executions(), Some(100));
    let f = c.get_function().function_name("a").send().await.unwrap();
    assert_eq!(
        f.concurrency()
            .and_then(|c| c.reserved_concurrent_executions()),
        Some(100)
    );
    let s = c.get_account_settings().send().await.unwrap();
    assert_eq!(
        s.account_limit()
            .unwrap()
            .unreserved_concurrent_executions(),
        Some(900)
    );

    // At least 100 must stay unreserved: b can take 800, not 801.
    assert_err(
        c.put_function_concurrency()
            .function_name("b")
            .reserved_concurrent_executions(801)
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].",
    );
    c.put_function_concurrency()
        .function_name("b")
        .reserved_concurrent_executions(800)
        .send()
        .await
        .expect("800 leaves exactly 100");
    // Re-reserving for `a` replaces its own reservation rather than adding.
    c.put_function_concurrency()
        .function_name("a")
        .reserved_concurrent_executions(100)
        .send()
        .await
        .expect("same value again");
    // Zero is allowed (throttles everything).
    c.put_function_concurrency()
        .function_name("a")
        .reserved_concurrent_executions(0)
        .send()
        .await
        .expect("zero");
    let s = c.get_account_settings().send().await.unwrap();
    assert_eq!(
        s.account_limit()
            .unwrap()
            .unreserved_concurrent_executions(),
        Some(200)
    );
    let e = c
        .put_function_concurrency()
        .function_name("a")
        .reserved_concurrent_executions(-1)
        .send()
        .await
        .expect_err("negative");
    assert_eq!(
        (err_info(&e).code.as_str(), err_info(&e).status),
        ("ValidationException", 400)
    );

    c.delete_function_concurrency()
        .function_name("b")
        .send()
        .await
        .expect("delete concurrency");
    let got = c
        .get_function_concurrency()
        .function_name("b")
        .send()
        .await
        .unwrap();
    assert_eq!(got.reserved_concurrent_executions(), None);
    let f = c.get_function().function_name("b").send().await.unwrap();
    assert!(f.concurrency().is_none());

    // Deleting a function releases its reservation.
    c.delete_function().function_name("a").send().await.unwrap();
    let s = c.get_account_settings().send().await.unwrap();
    assert_eq!(
        s.account_limit()
            .unwrap()
            .unreserved_concurrent_executions(),
        Some(1000)
    );
    assert_eq!(s.account_usage().unwrap().function_count(), 1);
    assert_eq!(s.account_usage().unwrap().total_code_size(), b.len() as i64);
}
