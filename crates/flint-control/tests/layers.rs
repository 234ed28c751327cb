//! Layers in the control plane, exercised without HTTP: version numbering, what a function's
//! `Layers` resolve to, and the layer zips' reference counts.

use base64::Engine;
use flint_control::{CodeUrlSigner, ControlPlane, ControlSettings, LayerFilter};
use flint_store::{BlobStore, FsBlobStore, SqliteStore};
use flint_types::layers::{LayerContentInput, LayerName, PublishLayerVersionRequest};
use flint_types::model::{
    ConfigFields, CreateFunctionRequest, FunctionCode, PublishVersionRequest,
    UpdateFunctionConfigurationRequest,
};
use flint_types::{FunctionRef, Qualifier, ResourceContext};
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

fn zip_of(name: &str, content: &str) -> String {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(content.as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(w.finish().unwrap().into_inner())
}

fn layer(name: &str) -> LayerName {
    LayerName::parse(name).unwrap()
}

fn publish(c: &ControlPlane, name: &str, content: &str) -> String {
    c.publish_layer_version(
        &layer(name),
        PublishLayerVersionRequest {
            content: Some(LayerContentInput {
                zip_file: Some(zip_of("python/m.py", content)),
                ..Default::default()
            }),
            compatible_runtimes: Some(vec!["python3.12".into()]),
            ..Default::default()
        },
        0,
    )
    .unwrap()
    .item
    .layer_version_arn
}

fn fref(name: &str) -> FunctionRef {
    FunctionRef::parse(name, 140, &ResourceContext::default()).unwrap()
}

fn create(c: &ControlPlane, name: &str, layers: Vec<String>) -> flint_control::Result<()> {
    c.create_function(CreateFunctionRequest {
        function_name: Some(name.into()),
        code: Some(FunctionCode {
            zip_file: Some(zip_of("app.py", "x")),
            ..Default::default()
        }),
        config: ConfigFields {
            runtime: Some("python3.12".into()),
            handler: Some("app.handler".into()),
            role: Some("arn:aws:iam::000000000000:role/r".into()),
            layers: Some(layers),
            ..Default::default()
        },
        ..Default::default()
    })
    .map(|_| ())
}

fn set_layers(c: &ControlPlane, name: &str, layers: Vec<String>) {
    c.update_function_configuration(
        &fref(name),
        UpdateFunctionConfigurationRequest {
            config: ConfigFields {
                layers: Some(layers),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
}

#[test]
fn version_numbers_are_never_reused() {
    let f = fixture();
    let a1 = publish(&f.control, "l", "1");
    assert!(a1.ends_with(":layer:l:1"), "{a1}");
    publish(&f.control, "l", "2");
    for v in [1, 2] {
        f.control.delete_layer_version(&layer("l"), v).unwrap();
    }
    let list = f
        .control
        .list_layer_versions(&layer("l"), LayerFilter::default(), None, None)
        .unwrap();
    assert!(list.versions.is_empty());
    assert!(publish(&f.control, "l", "3").ends_with(":layer:l:3"));
}

#[test]
fn functions_resolve_to_their_layers_zips_in_order_and_versions_pin_them() {
    let f = fixture();
    let a = publish(&f.control, "a", "a");
    let b = publish(&f.control, "b", "b");
    create(&f.control, "f", vec![b.clone(), a.clone()]).unwrap();
    let resolved = f.control.resolve(&fref("f")).unwrap();
    let blob_of = |arn: &str| {
        let parsed = flint_types::layers::LayerVersionArn::parse(arn).unwrap();
        let got = f
            .control
            .get_layer_version(&layer(&parsed.name), parsed.version, 0)
            .unwrap();
        let sha = base64::engine::general_purpose::STANDARD
            .decode(got.content.code_sha256)
            .unwrap();
        hex_of(&sha)
    };
    assert_eq!(resolved.layer_blobs, vec![blob_of(&b), blob_of(&a)]);
    f.control
        .publish_version(&fref("f"), PublishVersionRequest::default())
        .unwrap();
    set_layers(&f.control, "f", vec![a.clone()]);
    assert_eq!(
        f.control.resolve(&fref("f")).unwrap().layer_blobs,
        vec![blob_of(&a)]
    );
    let v1 = FunctionRef {
        name: "f".into(),
        qualifier: Some(Qualifier::Version(1)),
    };
    assert_eq!(
        f.control.resolve(&v1).unwrap().layer_blobs,
        vec![blob_of(&b), blob_of(&a)]
    );
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_layer_zip_lives_as_long_as_anything_uses_it() {
    let f = fixture();
    let arn = publish(&f.control, "l", "only here");
    let ids = f.blobs.ids().unwrap();
    create(&f.control, "f", vec![arn.clone()]).unwrap();
    let layer_blob = f.control.resolve(&fref("f")).unwrap().layer_blobs[0].clone();
    assert!(ids.contains(&layer_blob));
    f.control.delete_layer_version(&layer("l"), 1).unwrap();
    assert!(f.blobs.ids().unwrap().contains(&layer_blob), "f uses it");
    // A refused update changes nothing (the layer version is gone).
    assert!(
        f.control
            .update_function_configuration(
                &fref("f"),
                UpdateFunctionConfigurationRequest {
                    config: ConfigFields {
                        layers: Some(vec![arn.clone()]),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .is_err()
    );
    assert!(f.blobs.ids().unwrap().contains(&layer_blob));
    f.control.delete_function(&fref("f")).unwrap();
    assert!(
        !f.blobs.ids().unwrap().contains(&layer_blob),
        "nobody uses it"
    );
}

#[test]
fn a_refused_function_takes_no_reference() {
    let f = fixture();
    let arn = publish(&f.control, "l", "x");
    let missing = arn.replace(":l:1", ":l:2");
    assert!(create(&f.control, "f", vec![arn.clone(), missing]).is_err());
    f.control.delete_layer_version(&layer("l"), 1).unwrap();
    // Had the refused create counted a reference, the zip would still be here.
    assert!(f.blobs.ids().unwrap().is_empty());
}
