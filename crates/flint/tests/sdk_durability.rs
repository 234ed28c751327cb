//! Durability: what the API acknowledged survives a clean restart and a
//! `kill -9`, and a crash never leaves a half-created function behind.

mod common;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{AliasRoutingConfiguration, State};
use common::*;
use rand::RngCore;
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Every function the server lists, by name, with its configuration.
async fn list_all(c: &Client) -> BTreeMap<String, aws_sdk_lambda::types::FunctionConfiguration> {
    let items: Vec<_> = c
        .list_functions()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("listing functions");
    items
        .into_iter()
        .map(|f| (f.function_name().unwrap().to_string(), f))
        .collect()
}

/// The ids (hex sha256) of the blobs stored under `<data>/blobs`, and any
/// other files found there.
fn blob_files(data: &Path) -> (BTreeSet<String>, Vec<String>) {
    let mut ids = BTreeSet::new();
    let mut other = Vec::new();
    let root = data.join("blobs");
    for shard in std::fs::read_dir(&root).unwrap() {
        let shard = shard.unwrap().path();
        if !shard.is_dir() {
            other.push(shard.display().to_string());
            continue;
        }
        for f in std::fs::read_dir(&shard).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                ids.insert(name);
            } else {
                other.push(shard.join(name).display().to_string());
            }
        }
    }
    (ids, other)
}

#[tokio::test]
async fn everything_survives_a_clean_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(data.path());
    let c = server.client();
    let zip_a = python_zip("a");
    create_request(&c, "keep-a", &zip_a)
        .tags("owner", "tests")
        .memory_size(256)
        .send()
        .await
        .unwrap();
    let zip_b = create_simple(&c, "keep-b").await;
    c.publish_version()
        .function_name("keep-a")
        .send()
        .await
        .unwrap();
    let zip_a2 = python_zip("a2");
    c.update_function_code()
        .function_name("keep-a")
        .zip_file(Blob::new(zip_a2.clone()))
        .publish(true)
        .send()
        .await
        .unwrap();
    let alias = c
        .create_alias()
        .function_name("keep-a")
        .name("live")
        .function_version("1")
        .routing_config(
            AliasRoutingConfiguration::builder()
                .additional_version_weights("2", 0.5)
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.put_function_concurrency()
        .function_name("keep-b")
        .reserved_concurrent_executions(50)
        .send()
        .await
        .unwrap();
    let before_a = c
        .get_function_configuration()
        .function_name("keep-a")
        .send()
        .await
        .unwrap();
    let gone = create_simple(&c, "deleted").await;
    c.delete_function()
        .function_name("deleted")
        .send()
        .await
        .unwrap();

    let status = server.stop();
    assert!(status.success(), "SIGTERM exits cleanly: {status:?}");
    drop(c);

    let server = Server::start_in(data.path());
    let c = server.client();
    let all = list_all(&c).await;
    assert_eq!(all.keys().collect::<Vec<_>>(), ["keep-a", "keep-b"]);

    let a = c
        .get_function()
        .function_name("keep-a")
        .send()
        .await
        .unwrap();
    let cfg = a.configuration().unwrap();
    assert_eq!(cfg.revision_id(), before_a.revision_id());
    assert_eq!(cfg.last_modified(), before_a.last_modified());
    assert_eq!(cfg.memory_size(), Some(256));
    assert_eq!(cfg.code_sha256(), Some(code_sha256(&zip_a2).as_str()));
    assert_eq!(cfg.state(), Some(&State::Active));
    assert_eq!(
        a.tags(),
        Some(&HashMap::from([("owner".to_string(), "tests".to_string())]))
    );
    // The code URL of the new server works (the signing key persisted too).
    let (st, bytes) = download(a.code().unwrap().location().unwrap()).await;
    assert_eq!((st, bytes), (200, zip_a2.clone()));
    let v1 = c
        .get_function()
        .function_name("keep-a:1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        v1.configuration().unwrap().code_sha256(),
        Some(code_sha256(&zip_a).as_str())
    );
    let (st, bytes) = download(v1.code().unwrap().location().unwrap()).await;
    assert_eq!((st, bytes), (200, zip_a));
    let versions: Vec<String> = c
        .list_versions_by_function()
        .function_name("keep-a")
        .send()
        .await
        .unwrap()
        .versions()
        .iter()
        .map(|v| v.version().unwrap().to_string())
        .collect();
    assert_eq!(versions, ["$LATEST", "1", "2"]);
    let got_alias = c
        .get_alias()
        .function_name("keep-a")
        .name("live")
        .send()
        .await
        .unwrap();
    assert_eq!(got_alias.revision_id(), alias.revision_id());
    assert_eq!(got_alias.function_version(), Some("1"));
    assert_eq!(got_alias.routing_config(), alias.routing_config());
    let b = c
        .get_function()
        .function_name("keep-b")
        .send()
        .await
        .unwrap();
    assert_eq!(
        b.configuration().unwrap().code_sha256(),
        Some(code_sha256(&zip_b).as_str())
    );
    assert_eq!(
        b.concurrency()
            .and_then(|x| x.reserved_concurrent_executions()),
        Some(50)
    );
    let settings = c.get_account_settings().send().await.unwrap();
    assert_eq!(settings.account_usage().unwrap().function_count(), 2);
    assert_eq!(
        settings
            .account_limit()
            .unwrap()
            .unreserved_concurrent_executions(),
        Some(950)
    );
    // Version numbers continue after a restart.
    let v3 = c
        .update_function_code()
        .function_name("keep-a")
        .zip_file(Blob::new(python_zip("a3")))
        .publish(true)
        .send()
        .await
        .unwrap();
    assert_eq!(v3.version(), Some("3"));
    // The deleted function's package is gone from disk.
    let (ids, _) = blob_files(data.path());
    assert!(!ids.contains(&hex(&gone)));
}

fn hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An incompressible package of about `size` bytes, unique per `tag`.
fn random_zip(tag: &str, size: usize) -> Vec<u8> {
    let mut data = vec![0u8; size];
    rand::rng().fill_bytes(&mut data);
    let w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut w = w;
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    use std::io::Write;
    w.start_file("index.py", opts).unwrap();
    w.write_all(format!("# {tag}\ndef handler(e, c):\n    return 1\n").as_bytes())
        .unwrap();
    w.start_file("data.bin", opts).unwrap();
    w.write_all(&data).unwrap();
    w.finish().unwrap().into_inner()
}

#[tokio::test]
async fn kill_9_during_a_burst_of_creates_leaves_only_complete_functions() {
    const TOTAL: usize = 240;
    const PARALLEL: usize = 12;
    const KILL_AFTER: usize = 40;

    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(data.path());
    let c = server.client_no_retry();
    let zips: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
        (0..TOTAL)
            .map(|i| {
                let name = format!("burst-{i:03}");
                let zip = random_zip(&name, 48 * 1024);
                (name, zip)
            })
            .collect(),
    );

    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, bool)>();
    let gate = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = Vec::new();
    for i in 0..TOTAL {
        let (c, zips, gate, done_tx) = (c.clone(), zips.clone(), gate.clone(), done_tx.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let (name, zip) = &zips[i];
            let r = create_request(&c, name, zip).send().await;
            let _ = done_tx.send((i, r.is_ok()));
        }));
    }
    drop(done_tx);

    // Wait for some acknowledged creates, then pull the plug mid-burst.
    let mut acked = BTreeSet::new();
    let mut finished = 0;
    while acked.len() < KILL_AFTER {
        let (i, ok) = tokio::time::timeout(Duration::from_secs(30), done_rx.recv())
            .await
            .expect("creates progress")
            .expect("creates still running");
        finished += 1;
        if ok {
            acked.insert(i);
        } else {
            panic!("create {i} failed before the kill");
        }
    }
    let status = server.kill9();
    assert!(!status.success());
    // Collect the rest: requests in flight at the kill fail, none hang.
    while let Some((i, ok)) = tokio::time::timeout(Duration::from_secs(60), done_rx.recv())
        .await
        .expect("requests after the kill end")
    {
        finished += 1;
        if ok {
            acked.insert(i);
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(finished, TOTAL);
    assert!(
        acked.len() < TOTAL,
        "the kill came after every create had finished; nothing was tested"
    );
    drop(c);

    let server = Server::start_in(data.path());
    let c = server.client();
    let listed = list_all(&c).await;
    eprintln!(
        "kill -9 burst: {} of {TOTAL} creates acknowledged, {} functions after restart",
        acked.len(),
        listed.len()
    );
    let expected: HashMap<&str, &Vec<u8>> = zips.iter().map(|(n, z)| (n.as_str(), z)).collect();

    // Every acknowledged create survived the crash.
    for i in &acked {
        assert!(
            listed.contains_key(&zips[*i].0),
            "acknowledged create {} lost in the crash",
            zips[*i].0
        );
    }
    // Every listed function is complete: readable, Active, and its code
    // downloads with the recorded hash and size.
    for (name, entry) in &listed {
        let zip = expected
            .get(name.as_str())
            .unwrap_or_else(|| panic!("unexpected function {name}"));
        assert_eq!(
            entry.code_sha256(),
            Some(code_sha256(zip).as_str()),
            "{name}"
        );
        let got = c
            .get_function()
            .function_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetFunction {name}: {}", describe(&e)));
        let cfg = got.configuration().unwrap();
        assert_eq!(cfg.state(), Some(&State::Active), "{name}");
        assert_eq!(cfg.code_size(), zip.len() as i64, "{name}");
        let (st, bytes) = download(got.code().unwrap().location().unwrap()).await;
        assert_eq!(st, 200, "{name}: code download");
        assert_eq!(
            code_sha256(&bytes),
            cfg.code_sha256().unwrap(),
            "{name}: downloaded code matches CodeSha256"
        );
    }
    // Nothing half-created hides outside the listing: every other name is
    // absent, and can be created now.
    let settings = c.get_account_settings().send().await.unwrap();
    assert_eq!(
        settings.account_usage().unwrap().function_count() as usize,
        listed.len()
    );
    let missing: Vec<&(String, Vec<u8>)> = zips
        .iter()
        .filter(|(n, _)| !listed.contains_key(n))
        .collect();
    assert!(!missing.is_empty());
    for (name, _) in missing.iter().take(5) {
        assert_err(
            c.get_function().function_name(name).send().await,
            "ResourceNotFoundException",
            404,
            &format!("Function not found: {}", function_arn(name)),
        );
    }
    let (name, zip) = missing[0];
    create_request(&c, name, zip)
        .send()
        .await
        .expect("creating a name whose create was cut off");

    // Packages written by creates that never committed were swept at start:
    // the blob store holds exactly the listed functions' packages (plus the
    // one just created).
    let (ids, _leftovers) = blob_files(data.path());
    let mut want: BTreeSet<String> = listed.keys().map(|n| hex(expected[n.as_str()])).collect();
    want.insert(hex(zip));
    assert_eq!(ids, want, "stored packages are exactly the referenced ones");
}

/// A crash between writing a package's temp file and renaming it leaves a
/// `.tmp*` file in the blob store; the start-up sweep should remove it like
/// any other unreferenced package (otherwise each such crash leaks disk).
#[tokio::test]
async fn startup_sweep_removes_torn_temp_files() {
    let data = tempfile::tempdir().unwrap();
    {
        let mut server = Server::start_in(data.path());
        create_simple(&server.client(), "one").await;
        server.stop();
    }
    let shard = data.path().join("blobs").join("ab");
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(shard.join(".tmpTORN01"), vec![7u8; 4096]).unwrap();
    let server = Server::start_in(data.path());
    server
        .client()
        .get_function()
        .function_name("one")
        .send()
        .await
        .unwrap();
    let (ids, leftovers) = blob_files(data.path());
    assert_eq!(ids.len(), 1);
    assert!(
        leftovers.is_empty(),
        "torn temp files left behind: {leftovers:?}"
    );
}

/// Packages are shared by content and reference-counted: a package stays
/// on disk while any function or version uses it, and goes when the last
/// user does.
#[tokio::test]
async fn shared_packages_live_exactly_as_long_as_their_users() {
    let server = Server::start();
    let c = server.client();
    let shared = python_zip("shared");
    create_request(&c, "s1", &shared).send().await.unwrap();
    create_request(&c, "s2", &shared).send().await.unwrap();
    c.publish_version()
        .function_name("s1")
        .send()
        .await
        .unwrap();
    let other = python_zip("other");
    c.update_function_code()
        .function_name("s1")
        .zip_file(Blob::new(other.clone()))
        .send()
        .await
        .unwrap();
    let blobs = || blob_files(&server.data_dir).0;
    assert_eq!(blobs(), BTreeSet::from([hex(&shared), hex(&other)]));

    // s2 goes; s1:1 still uses the shared package.
    c.delete_function()
        .function_name("s2")
        .send()
        .await
        .unwrap();
    assert_eq!(blobs(), BTreeSet::from([hex(&shared), hex(&other)]));
    let v1 = c.get_function().function_name("s1:1").send().await.unwrap();
    let (st, bytes) = download(v1.code().unwrap().location().unwrap()).await;
    assert_eq!((st, bytes), (200, shared.clone()));

    // Deleting version 1 drops the last reference to it.
    c.delete_function()
        .function_name("s1")
        .qualifier("1")
        .send()
        .await
        .unwrap();
    assert_eq!(blobs(), BTreeSet::from([hex(&other)]));
    // Re-uploading the same package as $LATEST already has changes nothing.
    c.update_function_code()
        .function_name("s1")
        .zip_file(Blob::new(other.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(blobs(), BTreeSet::from([hex(&other)]));
    let got = c.get_function().function_name("s1").send().await.unwrap();
    let (st, bytes) = download(got.code().unwrap().location().unwrap()).await;
    assert_eq!((st, bytes), (200, other));

    c.delete_function()
        .function_name("s1")
        .send()
        .await
        .unwrap();
    assert!(blobs().is_empty(), "no package outlives its functions");
    // The old download URL now answers like S3 for a missing key.
    let (st, _) = download(got.code().unwrap().location().unwrap()).await;
    assert_eq!(st, 404);
}

/// RevisionId is a real compare-and-swap: of concurrent updates that all
/// name the same revision, exactly one wins.
#[tokio::test]
async fn concurrent_updates_with_one_revision_id_have_one_winner() {
    let server = Server::start();
    let c = server.client_no_retry();
    create_simple(&c, "race").await;
    let rev = c
        .get_function_configuration()
        .function_name("race")
        .send()
        .await
        .unwrap()
        .revision_id()
        .unwrap()
        .to_string();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (c, rev) = (c.clone(), rev.clone());
        tasks.push(tokio::spawn(async move {
            c.update_function_configuration()
                .function_name("race")
                .revision_id(rev)
                .memory_size(128 + 64 * i)
                .send()
                .await
                .map(|out| out.memory_size())
                .map_err(|e| err_info(&e))
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(mem) => winners.push(mem),
            Err(e) => assert_eq!(
                (e.code.as_str(), e.status),
                ("PreconditionFailedException", 412),
                "{e:?}"
            ),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one update wins");
    let now = c
        .get_function_configuration()
        .function_name("race")
        .send()
        .await
        .unwrap();
    assert_eq!(now.memory_size(), winners[0]);

    // Concurrent creates of one name: one function, the rest conflict.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            create_request(&c, "same-name", &python_zip(&format!("v{i}")))
                .send()
                .await
                .map(|out| out.code_sha256().unwrap().to_string())
                .map_err(|e| err_info(&e))
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(sha) => created.push(sha),
            Err(e) => assert_eq!(
                e,
                ErrInfo {
                    code: "ResourceConflictException".into(),
                    message: "Function already exist: same-name".into(),
                    status: 409
                }
            ),
        }
    }
    assert_eq!(created.len(), 1);
    let got = c
        .get_function()
        .function_name("same-name")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.configuration().unwrap().code_sha256(),
        Some(created[0].as_str())
    );
    let (ids, _) = blob_files(&server.data_dir);
    assert_eq!(ids.len(), 2, "losers' packages are not kept: {ids:?}");
}

/// SIGTERM lets a request already in flight finish (and commit) before the
/// server exits.
#[tokio::test]
async fn sigterm_finishes_requests_in_flight() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(data.path());
    // A 20 MB stored package keeps an (unoptimised) server busy for a while.
    let zip = {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("index.py", opts).unwrap();
        w.write_all(b"def handler(e, c):\n    return 1\n").unwrap();
        w.start_file("pad.bin", opts).unwrap();
        w.write_all(&vec![0u8; 20 << 20]).unwrap();
        w.finish().unwrap().into_inner()
    };
    let sha = code_sha256(&zip);
    // A raw HTTP/1.1 request over a plain socket: once the whole body is
    // written, the server's handler is reading it (the body is far larger
    // than the socket buffers), so the request is truly in flight.
    let addr = server.endpoint.trim_start_matches("http://").to_string();
    let (written_tx, written_rx) = std::sync::mpsc::channel();
    let call = std::thread::spawn(move || {
        use base64::Engine;
        use std::io::{Read, Write};
        let body = format!(
            "{{\"FunctionName\":\"in-flight\",\"Runtime\":\"python3.12\",\"Role\":\"{ROLE}\",\"Handler\":\"index.handler\",\"Code\":{{\"ZipFile\":\"{}\"}}}}",
            base64::engine::general_purpose::STANDARD.encode(&zip)
        );
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            stream,
            "POST /2015-03-31/functions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        written_tx.send(()).unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).unwrap();
        String::from_utf8_lossy(&head).into_owned()
    });
    written_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("request body written");
    let stopping = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        let s = server.stop();
        (s, server)
    })
    .await
    .unwrap();
    eprintln!("server exited {:?} after SIGTERM", stopping.elapsed());
    assert!(status.0.success(), "{:?}", status.0);
    assert_eq!(
        call.join().unwrap(),
        "HTTP/1.1 201",
        "the in-flight create completed"
    );
    drop(status);
    let server = Server::start_in(data.path());
    let got = server
        .client()
        .get_function()
        .function_name("in-flight")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.configuration().unwrap().code_sha256(),
        Some(sha.as_str())
    );
}
