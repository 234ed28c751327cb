//! Versions and aliases through the AWS SDK for Rust (lambda-facts §8).

mod common;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{AliasRoutingConfiguration, State};
use common::*;
use std::collections::HashMap;

fn weights(v: &str, w: f64) -> AliasRoutingConfiguration {
    AliasRoutingConfiguration::builder()
        .additional_version_weights(v, w)
        .build()
}

#[tokio::test]
async fn publish_versions_snapshot_latest_and_noop_publish_returns_the_same() {
    let server = Server::start();
    let client = server.client();
    let zip1 = create_simple(&client, "ver").await;

    let v1 = client
        .publish_version()
        .function_name("ver")
        .description("first")
        .send()
        .await
        .expect("publish 1");
    assert_eq!(v1.version(), Some("1"));
    assert_eq!(
        v1.function_arn(),
        Some(format!("{}:1", function_arn("ver")).as_str())
    );
    assert_eq!(v1.description(), Some("first"));
    assert_eq!(v1.code_sha256(), Some(code_sha256(&zip1).as_str()));
    // AWS's recordings: PublishVersion answers with the version already Active.
    assert_eq!(v1.state(), Some(&State::Active));

    // Nothing changed: same version, same revision.
    let again = client
        .publish_version()
        .function_name("ver")
        .send()
        .await
        .expect("no-op publish");
    assert_eq!(again.version(), Some("1"));
    assert_eq!(again.revision_id(), v1.revision_id());

    // A version is immutable: later changes to $LATEST do not touch it.
    client
        .update_function_configuration()
        .function_name("ver")
        .memory_size(512)
        .send()
        .await
        .unwrap();
    let zip2 = python_zip("ver-2");
    client
        .update_function_code()
        .function_name("ver")
        .zip_file(Blob::new(zip2.clone()))
        .send()
        .await
        .unwrap();
    let got1 = client
        .get_function()
        .function_name("ver")
        .qualifier("1")
        .send()
        .await
        .unwrap();
    let c1 = got1.configuration().unwrap();
    assert_eq!(c1.memory_size(), Some(128));
    assert_eq!(c1.code_sha256(), Some(code_sha256(&zip1).as_str()));
    assert_eq!(c1.state(), Some(&State::Active));
    let (status, bytes) = download(got1.code().unwrap().location().unwrap()).await;
    assert_eq!(
        (status, bytes),
        (200, zip1.clone()),
        "version 1 keeps its code"
    );
    // Tags belong to the unqualified function only.
    assert!(got1.tags().is_none());

    // CodeSha256 must match $LATEST's.
    let wrong = code_sha256(b"something else");
    assert_err(
        client
            .publish_version()
            .function_name("ver")
            .code_sha256(&wrong)
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        &format!(
            "CodeSHA256 ({wrong}) is different from current CodeSHA256 in $LATEST ({}). Please try again with the CodeSHA256 in $LATEST.",
            code_sha256(&zip2)
        ),
    );
    // A stale RevisionId is refused.
    assert_err(
        client
            .publish_version()
            .function_name("ver")
            .revision_id(v1.revision_id().unwrap())
            .send()
            .await,
        "PreconditionFailedException",
        412,
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
    );
    let v2 = client
        .publish_version()
        .function_name("ver")
        .code_sha256(code_sha256(&zip2))
        .send()
        .await
        .expect("publish 2");
    assert_eq!(v2.version(), Some("2"));
    assert_eq!(v2.memory_size(), Some(512));
    assert_eq!(v2.code_sha256(), Some(code_sha256(&zip2).as_str()));

    // Publish through UpdateFunctionCode.Publish.
    let zip3 = python_zip("ver-3");
    let v3 = client
        .update_function_code()
        .function_name("ver")
        .zip_file(Blob::new(zip3.clone()))
        .publish(true)
        .send()
        .await
        .unwrap();
    assert_eq!(v3.version(), Some("3"));
    assert_eq!(v3.code_sha256(), Some(code_sha256(&zip3).as_str()));

    // ListVersionsByFunction: $LATEST (qualified ARN) then 1, 2, 3.
    let listed = client
        .list_versions_by_function()
        .function_name("ver")
        .send()
        .await
        .unwrap();
    let versions: Vec<_> = listed
        .versions()
        .iter()
        .map(|v| (v.version().unwrap(), v.function_arn().unwrap()))
        .collect();
    let arn = function_arn("ver");
    assert_eq!(
        versions,
        [
            ("$LATEST", format!("{arn}:$LATEST").as_str()),
            ("1", format!("{arn}:1").as_str()),
            ("2", format!("{arn}:2").as_str()),
            ("3", format!("{arn}:3").as_str()),
        ]
    );
    assert!(listed.versions().iter().all(|v| v.state().is_none()));
    // Paginated one by one with the SDK paginator.
    let items: Vec<_> = client
        .list_versions_by_function()
        .function_name("ver")
        .max_items(1)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    let got: Vec<_> = items.iter().map(|v| v.version().unwrap()).collect();
    assert_eq!(got, ["$LATEST", "1", "2", "3"]);

    // CreateFunction with Publish=true returns version 1 under the unqualified
    // ARN (AWS's recorded test_publish_version_on_create).
    let zip = python_zip("born-published");
    let created = create_request(&client, "born", &zip)
        .publish(true)
        .send()
        .await
        .unwrap();
    assert_eq!(created.version(), Some("1"));
    assert_eq!(created.function_arn(), Some(function_arn("born").as_str()));
}

#[tokio::test]
async fn delete_version_keeps_numbers_unique_and_latest_undeletable() {
    let server = Server::start();
    let client = server.client();
    create_simple(&client, "dv").await;
    client
        .publish_version()
        .function_name("dv")
        .send()
        .await
        .unwrap();
    client
        .update_function_configuration()
        .function_name("dv")
        .timeout(10)
        .send()
        .await
        .unwrap();
    let v2 = client
        .publish_version()
        .function_name("dv")
        .send()
        .await
        .unwrap();
    assert_eq!(v2.version(), Some("2"));

    client
        .delete_function()
        .function_name("dv")
        .qualifier("2")
        .send()
        .await
        .expect("delete version 2");
    assert_err(
        client.get_function().function_name("dv:2").send().await,
        "ResourceNotFoundException",
        404,
        &format!("Function not found: {}:2", function_arn("dv")),
    );
    // $LATEST and version 1 are still there.
    client
        .get_function()
        .function_name("dv:1")
        .send()
        .await
        .unwrap();
    client
        .get_function()
        .function_name("dv")
        .send()
        .await
        .unwrap();

    assert_err(
        client
            .delete_function()
            .function_name("dv")
            .qualifier("$LATEST")
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "$LATEST version cannot be deleted without deleting the function.",
    );
    // Numbers are never reused.
    client
        .update_function_configuration()
        .function_name("dv")
        .timeout(11)
        .send()
        .await
        .unwrap();
    let v3 = client
        .publish_version()
        .function_name("dv")
        .send()
        .await
        .unwrap();
    assert_eq!(v3.version(), Some("3"));
    let listed: Vec<String> = client
        .list_versions_by_function()
        .function_name("dv")
        .send()
        .await
        .unwrap()
        .versions()
        .iter()
        .map(|v| v.version().unwrap().to_string())
        .collect();
    assert_eq!(listed, ["$LATEST", "1", "3"]);
}

#[tokio::test]
async fn aliases_with_weighted_routing() {
    let server = Server::start();
    let client = server.client();
    create_simple(&client, "al").await;
    client
        .publish_version()
        .function_name("al")
        .send()
        .await
        .unwrap();
    client
        .update_function_code()
        .function_name("al")
        .zip_file(Blob::new(python_zip("al-2")))
        .publish(true)
        .send()
        .await
        .unwrap();
    let arn = function_arn("al");

    let live = client
        .create_alias()
        .function_name("al")
        .name("live")
        .function_version("1")
        .description("production")
        .routing_config(weights("2", 0.25))
        .send()
        .await
        .expect("create alias");
    assert_eq!(live.alias_arn(), Some(format!("{arn}:live").as_str()));
    assert_eq!(live.name(), Some("live"));
    assert_eq!(live.function_version(), Some("1"));
    assert_eq!(live.description(), Some("production"));
    assert_eq!(
        live.routing_config()
            .and_then(|r| r.additional_version_weights()),
        Some(&HashMap::from([("2".to_string(), 0.25)]))
    );
    let rev0 = live.revision_id().unwrap().to_string();

    let got = client
        .get_alias()
        .function_name("al")
        .name("live")
        .send()
        .await
        .unwrap();
    assert_eq!(got.revision_id(), Some(rev0.as_str()));
    assert_eq!(got.function_version(), Some("1"));

    client
        .create_alias()
        .function_name("al")
        .name("edge")
        .function_version("$LATEST")
        .send()
        .await
        .unwrap();
    let all = client
        .list_aliases()
        .function_name("al")
        .send()
        .await
        .unwrap();
    let mut names: Vec<_> = all.aliases().iter().map(|a| a.name().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["edge", "live"]);
    // FunctionVersion filter includes aliases that route any traffic there.
    let to2 = client
        .list_aliases()
        .function_name("al")
        .function_version("2")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = to2.aliases().iter().map(|a| a.name().unwrap()).collect();
    assert_eq!(names, ["live"]);

    // The alias resolves to version 1's configuration.
    let via = client
        .get_function_configuration()
        .function_name("al:live")
        .send()
        .await
        .unwrap();
    assert_eq!(via.version(), Some("1"));
    assert_eq!(via.function_arn(), Some(format!("{arn}:live").as_str()));

    // UpdateAlias with RevisionId; stale one rejected.
    let updated = client
        .update_alias()
        .function_name("al")
        .name("live")
        .revision_id(&rev0)
        .function_version("2")
        .routing_config(AliasRoutingConfiguration::builder().build())
        .send()
        .await
        .expect("update alias");
    assert_eq!(updated.function_version(), Some("2"));
    assert!(
        updated
            .routing_config()
            .is_none_or(|r| r.additional_version_weights().is_none_or(|w| w.is_empty()))
    );
    assert_ne!(updated.revision_id(), Some(rev0.as_str()));
    assert_err(
        client
            .update_alias()
            .function_name("al")
            .name("live")
            .revision_id(&rev0)
            .description("x")
            .send()
            .await,
        "PreconditionFailedException",
        412,
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
    );

    // Version 2 is referenced by `live`, so it cannot be deleted.
    let e = client
        .delete_function()
        .function_name("al")
        .qualifier("2")
        .send()
        .await
        .expect_err("version in use");
    assert_eq!(err_info(&e).code, "ResourceConflictException");
    assert_eq!(err_info(&e).status, 409);

    client
        .delete_alias()
        .function_name("al")
        .name("live")
        .send()
        .await
        .expect("delete alias");
    assert_err(
        client
            .get_alias()
            .function_name("al")
            .name("live")
            .send()
            .await,
        "ResourceNotFoundException",
        404,
        &format!("Cannot find alias arn: {arn}:live"),
    );
    // Now version 2 can go.
    client
        .delete_function()
        .function_name("al")
        .qualifier("2")
        .send()
        .await
        .expect("delete version 2");

    // DeleteFunction takes the remaining aliases with it.
    client
        .delete_function()
        .function_name("al")
        .send()
        .await
        .unwrap();
    create_simple(&client, "al").await;
    let all = client
        .list_aliases()
        .function_name("al")
        .send()
        .await
        .unwrap();
    assert!(all.aliases().is_empty());
}

#[tokio::test]
async fn alias_validation_errors() {
    let server = Server::start();
    let client = server.client();
    create_simple(&client, "av").await;
    client
        .publish_version()
        .function_name("av")
        .send()
        .await
        .unwrap();
    client
        .update_function_code()
        .function_name("av")
        .zip_file(Blob::new(python_zip("av-2")))
        .publish(true)
        .send()
        .await
        .unwrap();
    client
        .update_function_code()
        .function_name("av")
        .zip_file(Blob::new(python_zip("av-3")))
        .publish(true)
        .send()
        .await
        .unwrap();
    let arn = function_arn("av");

    // More than one additional version.
    assert_err(
        client
            .create_alias()
            .function_name("av")
            .name("a")
            .function_version("1")
            .routing_config(
                AliasRoutingConfiguration::builder()
                    .additional_version_weights("2", 0.1)
                    .additional_version_weights("3", 0.1)
                    .build(),
            )
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "Number of items in AdditionalVersionWeights cannot be greater than 1",
    );
    // Weight out of range.
    assert_err_prefix(
        client
            .create_alias()
            .function_name("av")
            .name("a")
            .function_version("1")
            .routing_config(weights("2", 1.5))
            .send()
            .await,
        "ValidationException",
        400,
        "1 validation error detected: Value '{2=1.5}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: ",
    );
    // $LATEST cannot be split.
    assert_err(
        client
            .create_alias()
            .function_name("av")
            .name("a")
            .function_version("$LATEST")
            .routing_config(weights("2", 0.5))
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "$LATEST is not supported for an alias pointing to more than 1 version",
    );
    // The additional version must differ from the primary.
    assert_err(
        client
            .create_alias()
            .function_name("av")
            .name("a")
            .function_version("1")
            .routing_config(weights("1", 0.5))
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "Invalid function version 1. Function version 1 is already included in routing configuration.",
    );
    // Versions that do not exist.
    assert_err(
        client
            .create_alias()
            .function_name("av")
            .name("a")
            .function_version("9")
            .send()
            .await,
        "ResourceNotFoundException",
        404,
        &format!("Function not found: {arn}:9"),
    );
    assert_err(
        client
            .create_alias()
            .function_name("av")
            .name("a")
            .function_version("1")
            .routing_config(weights("9", 0.5))
            .send()
            .await,
        "ResourceNotFoundException",
        404,
        &format!("Function not found: {arn}:9"),
    );
    // Purely numeric alias names are refused.
    assert_err_prefix(
        client
            .create_alias()
            .function_name("av")
            .name("123")
            .function_version("1")
            .send()
            .await,
        "ValidationException",
        400,
        "1 validation error detected: Value '123' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ",
    );
    // Nothing was created by the rejected calls.
    let listed = client
        .list_aliases()
        .function_name("av")
        .send()
        .await
        .unwrap();
    assert!(listed.aliases().is_empty());

    // Duplicates conflict.
    client
        .create_alias()
        .function_name("av")
        .name("a")
        .function_version("1")
        .send()
        .await
        .unwrap();
    assert_err(
        client
            .create_alias()
            .function_name("av")
            .name("a")
            .function_version("2")
            .send()
            .await,
        "ResourceConflictException",
        409,
        &format!("Alias already exists: {arn}:a"),
    );
    // UpdateAlias enforces the same routing rules.
    assert_err(
        client
            .update_alias()
            .function_name("av")
            .name("a")
            .routing_config(weights("1", 0.5))
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "Invalid function version 1. Function version 1 is already included in routing configuration.",
    );
    // Aliases of a function that does not exist: named with the version asked for
    // (AWS's recorded test_notfound_and_invalid_routingconfigs).
    assert_err(
        client
            .create_alias()
            .function_name("nope")
            .name("a")
            .function_version("1")
            .send()
            .await,
        "ResourceNotFoundException",
        404,
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope:1",
    );
}

#[tokio::test]
async fn list_functions_with_all_versions() {
    let server = Server::start();
    let client = server.client();
    create_simple(&client, "lv-a").await;
    create_simple(&client, "lv-b").await;
    client
        .publish_version()
        .function_name("lv-a")
        .send()
        .await
        .unwrap();
    client
        .update_function_code()
        .function_name("lv-a")
        .zip_file(Blob::new(python_zip("lv-a2")))
        .publish(true)
        .send()
        .await
        .unwrap();
    let latest_only: Vec<_> = client
        .list_functions()
        .send()
        .await
        .unwrap()
        .functions()
        .iter()
        .map(|f| {
            (
                f.function_name().unwrap().to_string(),
                f.version().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        latest_only,
        [
            ("lv-a".to_string(), "$LATEST".to_string()),
            ("lv-b".to_string(), "$LATEST".to_string())
        ]
    );
    let items: Vec<_> = client
        .list_functions()
        .function_version(aws_sdk_lambda::types::FunctionVersion::All)
        .max_items(1)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    let all: Vec<_> = items
        .iter()
        .map(|f| (f.function_name().unwrap(), f.version().unwrap()))
        .collect();
    assert_eq!(
        all,
        [
            ("lv-a", "$LATEST"),
            ("lv-a", "1"),
            ("lv-a", "2"),
            ("lv-b", "$LATEST")
        ]
    );
    assert_eq!(
        items[1].function_arn(),
        Some(format!("{}:1", function_arn("lv-a")).as_str())
    );
}

#[tokio::test]
async fn list_aliases_paginates() {
    let server = Server::start();
    let client = server.client();
    create_simple(&client, "pa").await;
    client
        .publish_version()
        .function_name("pa")
        .send()
        .await
        .unwrap();
    let names = ["a1", "a2", "a3", "a4", "a5"];
    for n in names {
        client
            .create_alias()
            .function_name("pa")
            .name(n)
            .function_version(if n == "a3" { "$LATEST" } else { "1" })
            .send()
            .await
            .unwrap();
    }
    let items: Vec<_> = client
        .list_aliases()
        .function_name("pa")
        .max_items(2)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    let got: Vec<_> = items.iter().map(|a| a.name().unwrap()).collect();
    assert_eq!(got, names);
    let pages: Vec<_> = client
        .list_aliases()
        .function_name("pa")
        .max_items(2)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .unwrap();
    let sizes: Vec<_> = pages.iter().map(|p| p.aliases().len()).collect();
    assert_eq!(sizes, [2, 2, 1]);
    // Filtered by version, paginated too.
    let items: Vec<_> = client
        .list_aliases()
        .function_name("pa")
        .function_version("1")
        .max_items(1)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    let got: Vec<_> = items.iter().map(|a| a.name().unwrap()).collect();
    assert_eq!(got, ["a1", "a2", "a4", "a5"]);
    // An alias of $LATEST resolves to $LATEST.
    let via = client
        .get_function_configuration()
        .function_name("pa:a3")
        .send()
        .await
        .unwrap();
    assert_eq!(via.version(), Some("$LATEST"));
}
