//! Domain rules of the control plane, exercised without HTTP.

use base64::Engine;
use flint_control::{CodeUrlSigner, ControlPlane, ControlSettings};
use flint_store::{BlobStore, FsBlobStore, SqliteStore};
use flint_types::model::{
    AliasRoutingConfiguration, CreateAliasRequest, CreateFunctionRequest, FunctionCode,
    PublishVersionRequest, UpdateFunctionCodeRequest,
};
use flint_types::{FunctionRef, ResourceContext};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

struct Fixture {
    control: ControlPlane,
    blobs: Arc<FsBlobStore>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(FsBlobStore::open(&dir.path().join("blobs")).unwrap());
    let control = ControlPlane::new(
        Arc::new(SqliteStore::in_memory().unwrap()),
        blobs.clone(),
        ControlSettings::default(),
        CodeUrlSigner::new("http://127.0.0.1:9000", b"k".to_vec()),
    );
    Fixture {
        control,
        blobs,
        _dir: dir,
    }
}

fn zip_of(content: &str) -> String {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("app.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(content.as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(w.finish().unwrap().into_inner())
}

fn create(c: &ControlPlane, name: &str, code: &str) {
    c.create_function(CreateFunctionRequest {
        function_name: Some(name.into()),
        code: Some(FunctionCode {
            zip_file: Some(zip_of(code)),
            ..Default::default()
        }),
        config: flint_types::model::ConfigFields {
            runtime: Some("python3.12".into()),
            handler: Some("app.handler".into()),
            role: Some("arn:aws:iam::000000000000:role/r".into()),
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
}

fn fref(name: &str) -> FunctionRef {
    FunctionRef::parse(name, 140, &ResourceContext::default()).unwrap()
}

#[test]
fn publishing_twice_without_changes_returns_the_same_version() {
    let f = fixture();
    create(&f.control, "f", "a");
    let v1 = f
        .control
        .publish_version(&fref("f"), PublishVersionRequest::default())
        .unwrap();
    let again = f
        .control
        .publish_version(&fref("f"), PublishVersionRequest::default())
        .unwrap();
    assert_eq!(v1.version, "1");
    assert_eq!(again.version, "1");
    f.control
        .update_function_code(
            &fref("f"),
            UpdateFunctionCodeRequest {
                zip_file: Some(zip_of("b")),
                ..Default::default()
            },
        )
        .unwrap();
    let v2 = f
        .control
        .publish_version(&fref("f"), PublishVersionRequest::default())
        .unwrap();
    assert_eq!(v2.version, "2");
}

#[test]
fn version_numbers_are_never_reused() {
    let f = fixture();
    create(&f.control, "f", "a");
    f.control
        .publish_version(&fref("f"), PublishVersionRequest::default())
        .unwrap();
    f.control.delete_function(&fref("f:1")).unwrap();
    f.control
        .update_function_code(
            &fref("f"),
            UpdateFunctionCodeRequest {
                zip_file: Some(zip_of("c")),
                ..Default::default()
            },
        )
        .unwrap();
    let v = f
        .control
        .publish_version(&fref("f"), PublishVersionRequest::default())
        .unwrap();
    assert_eq!(v.version, "2");
}

#[test]
fn a_version_in_use_by_an_alias_cannot_be_deleted() {
    let f = fixture();
    create(&f.control, "f", "a");
    f.control
        .publish_version(&fref("f"), PublishVersionRequest::default())
        .unwrap();
    f.control
        .create_alias(
            &fref("f"),
            CreateAliasRequest {
                name: Some("live".into()),
                function_version: Some("1".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let e = f
        .control
        .delete_function(&fref("f:1"))
        .unwrap_err()
        .to_api();
    assert_eq!(e.code(), "ResourceConflictException");
}

#[test]
fn weighted_aliases_route_to_both_versions() {
    let f = fixture();
    create(&f.control, "f", "a");
    f.control
        .publish_version(&fref("f"), PublishVersionRequest::default())
        .unwrap();
    f.control
        .update_function_code(
            &fref("f"),
            UpdateFunctionCodeRequest {
                zip_file: Some(zip_of("b")),
                publish: true,
                ..Default::default()
            },
        )
        .unwrap();
    f.control
        .create_alias(
            &fref("f"),
            CreateAliasRequest {
                name: Some("split".into()),
                function_version: Some("1".into()),
                routing_config: Some(AliasRoutingConfiguration {
                    additional_version_weights: Some(BTreeMap::from([("2".into(), 0.5)])),
                }),
                ..Default::default()
            },
        )
        .unwrap();
    let low = f.control.resolve_invocation(&fref("f:split"), 0.1).unwrap();
    let high = f.control.resolve_invocation(&fref("f:split"), 0.9).unwrap();
    assert_eq!(low.config.version, "2");
    assert_eq!(high.config.version, "1");
    assert!(low.invoked_arn.ends_with(":function:f:split"));
}

#[test]
fn code_blobs_are_collected_when_the_last_reference_goes() {
    let f = fixture();
    create(&f.control, "a", "shared");
    create(&f.control, "b", "shared");
    assert_eq!(
        f.blobs.ids().unwrap().len(),
        1,
        "identical packages share a blob"
    );
    f.control.delete_function(&fref("a")).unwrap();
    assert_eq!(f.blobs.ids().unwrap().len(), 1, "still used by b");
    f.control.delete_function(&fref("b")).unwrap();
    assert!(f.blobs.ids().unwrap().is_empty());
}

#[test]
fn orphan_blobs_from_a_crash_are_swept() {
    let f = fixture();
    create(&f.control, "a", "kept");
    // A blob written by a request that died before its transaction committed.
    f.blobs.put(b"orphan").unwrap();
    assert_eq!(f.blobs.ids().unwrap().len(), 2);
    assert_eq!(f.control.collect_garbage().unwrap(), 1);
    assert_eq!(f.blobs.ids().unwrap().len(), 1);
    assert!(f.control.get_function(&fref("a"), 0).is_ok());
}

#[test]
fn listing_all_versions_pages_without_gaps_or_repeats() {
    let f = fixture();
    for i in 0..7 {
        let name = format!("fn{i}");
        create(&f.control, &name, &name);
        f.control
            .publish_version(&fref(&name), PublishVersionRequest::default())
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = f
            .control
            .list_functions(marker.as_deref(), Some(3), true)
            .unwrap();
        seen.extend(page.functions.iter().map(|c| c.function_arn.clone()));
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    assert_eq!(seen.len(), 14);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 14);
}

#[test]
fn cached_resolutions_follow_every_change() {
    let f = fixture();
    create(&f.control, "f", "a");
    let before = f.control.resolve_invocation(&fref("f"), 0.5).unwrap();
    let cached = f.control.resolve_invocation(&fref("f"), 0.5).unwrap();
    assert_eq!(before.config.revision_id, cached.config.revision_id);
    f.control
        .update_function_code(
            &fref("f"),
            UpdateFunctionCodeRequest {
                zip_file: Some(zip_of("changed")),
                ..Default::default()
            },
        )
        .unwrap();
    let after = f.control.resolve_invocation(&fref("f"), 0.5).unwrap();
    assert_ne!(before.config.code_sha256, after.config.code_sha256);
    f.control.delete_function(&fref("f")).unwrap();
    let gone = f
        .control
        .resolve_invocation(&fref("f"), 0.5)
        .unwrap_err()
        .to_api();
    assert_eq!(gone.code(), "ResourceNotFoundException");
}

#[test]
fn a_deleted_alias_leaves_its_url_retired_and_a_deleted_function_leaves_none() {
    use flint_types::function_url::FunctionUrlConfigRequest;
    let f = fixture();
    create(&f.control, "f", "a");
    f.control
        .publish_version(&fref("f"), PublishVersionRequest::default())
        .unwrap();
    let url_id = |qualified: &str| {
        let cfg = f
            .control
            .create_function_url(
                &fref(qualified),
                FunctionUrlConfigRequest {
                    auth_type: Some("NONE".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        let host = cfg.function_url.split("//").nth(1).unwrap().to_string();
        host.split('.').next().unwrap().to_string()
    };
    for alias in ["live", "beta"] {
        f.control
            .create_alias(
                &fref("f"),
                CreateAliasRequest {
                    name: Some(alias.into()),
                    function_version: Some("1".into()),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    let (live, beta, base) = (url_id("f:live"), url_id("f:beta"), url_id("f"));
    let route = |id: &str| f.control.url_access(id).unwrap().map(|a| a.route);
    assert!(!route(&live).unwrap().retired);

    f.control.delete_alias(&fref("f"), "live").unwrap();
    let retired = route(&live).expect("a deleted alias's URL is still known");
    assert!(retired.retired);
    assert_eq!(retired.record.url_id, live);
    assert!(!route(&beta).unwrap().retired && !route(&base).unwrap().retired);

    f.control.delete_function(&fref("f")).unwrap();
    assert!(route(&beta).is_none() && route(&base).is_none());
}
