//! One contract for every backend of the store traits: the same tests run
//! against the embedded SQLite + files and against PostgreSQL (+ S3).
//!
//! The PostgreSQL runs need a server: `FLINT_TEST_POSTGRES_URL` (an admin
//! URL such as the one `scripts/services/postgres` prints; every test creates
//! a database of its own). They are `#[ignore]`d so a plain `cargo test`
//! without the server leaves them out, counted as ignored; `scripts/test`
//! starts the server and runs them with `--ignored`, and then a missing URL
//! is a failure, never a pass.

use flint_store::{
    BlobStore, FsBlobStore, MetadataStore, Pages, PostgresStore, S3BlobStore, S3Settings,
    SqliteStore, StoreError,
};
use std::sync::Arc;

mod contract {
    use super::*;

    pub fn commit_and_rollback(store: &dyn MetadataStore) {
        let mut tx = store.begin().unwrap();
        tx.put("function", "a", b"1").unwrap();
        tx.commit().unwrap();
        {
            let mut tx = store.begin().unwrap();
            tx.put("function", "b", b"2").unwrap();
            tx.put("function", "a", b"changed").unwrap();
            // dropped without commit
        }
        let mut tx = store.begin().unwrap();
        assert_eq!(tx.get("function", "a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(tx.get("function", "b").unwrap(), None);
        tx.put("function", "a", b"3").unwrap();
        assert_eq!(
            tx.get("function", "a").unwrap(),
            Some(b"3".to_vec()),
            "a transaction reads its own writes"
        );
        assert!(tx.delete("function", "a").unwrap());
        assert!(!tx.delete("function", "a").unwrap());
        tx.commit().unwrap();
        let mut tx = store.begin().unwrap();
        assert_eq!(tx.get("function", "a").unwrap(), None);
    }

    /// Keys come back in byte order (SQLite's BINARY collation), whatever
    /// the database's locale would say.
    pub fn scan_in_byte_order(store: &dyn MetadataStore) {
        let keys = [
            "b", "B", "a", "_x", "a-b", "a_b", "aB", "Z1", "é", "z", "10", "9", "a b", "~",
        ];
        let mut tx = store.begin().unwrap();
        for k in keys {
            tx.put("ns", k, k.as_bytes()).unwrap();
        }
        tx.put("ns2", "a", b"other namespace").unwrap();
        tx.commit().unwrap();
        let mut expected: Vec<&str> = keys.to_vec();
        expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));

        let mut tx = store.begin().unwrap();
        let first = tx.scan("ns", None, 3).unwrap();
        assert_eq!(
            first.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
            expected[..3]
        );
        let rest = tx.scan("ns", Some(&first[2].0), 100).unwrap();
        assert_eq!(
            rest.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
            expected[3..]
        );
        assert!(rest.iter().all(|(k, v)| k.as_bytes() == v.as_slice()));
        let mut all = Vec::new();
        let mut pages = Pages::new("ns").size(4);
        while let Some(page) = pages.next_page(&mut *tx).unwrap() {
            all.extend(page.into_iter().map(|e| e.0));
        }
        assert_eq!(all, expected);
        assert_eq!(tx.count("ns").unwrap(), keys.len() as u64);
        assert_eq!(tx.delete_namespace("ns").unwrap(), keys.len() as u64);
        assert_eq!(tx.count("ns").unwrap(), 0);
        assert_eq!(tx.count("ns2").unwrap(), 1);
        tx.commit().unwrap();
    }

    /// Two stores on one database (two nodes) see each other's commits.
    pub fn two_nodes_share_data(a: &dyn MetadataStore, b: &dyn MetadataStore) {
        let mut tx = a.begin().unwrap();
        tx.put("function", "f", b"from a").unwrap();
        tx.commit().unwrap();
        let mut tx = b.begin().unwrap();
        assert_eq!(tx.get("function", "f").unwrap(), Some(b"from a".to_vec()));
        tx.put("function", "f", b"from b").unwrap();
        tx.commit().unwrap();
        let mut tx = a.begin().unwrap();
        assert_eq!(tx.get("function", "f").unwrap(), Some(b"from b".to_vec()));
    }

    /// Read-modify-writes of one key from threads on two store instances
    /// (two nodes) never lose an update.
    pub fn no_lost_updates(a: Arc<dyn MetadataStore>, b: Arc<dyn MetadataStore>) {
        const PER_THREAD: u64 = 25;
        let threads: Vec<_> = [a.clone(), b.clone(), a, b]
            .into_iter()
            .map(|store| {
                std::thread::spawn(move || {
                    for _ in 0..PER_THREAD {
                        let mut tx = store.begin().unwrap();
                        let n = tx
                            .get("counter", "n")
                            .unwrap()
                            .map(|v| u64::from_le_bytes(v.try_into().unwrap()))
                            .unwrap_or(0);
                        // Widen the window between read and write.
                        std::thread::yield_now();
                        tx.put("counter", "n", &(n + 1).to_le_bytes()).unwrap();
                        tx.commit().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    pub fn counter(store: &dyn MetadataStore) -> u64 {
        let mut tx = store.begin().unwrap();
        tx.get("counter", "n")
            .unwrap()
            .map(|v| u64::from_le_bytes(v.try_into().unwrap()))
            .unwrap_or(0)
    }

    pub fn blobs(store: &dyn BlobStore) {
        let id = store.put(b"hello").unwrap();
        assert_eq!(id, flint_store::blob_id(b"hello"));
        assert_eq!(store.put(b"hello").unwrap(), id, "idempotent");
        assert_eq!(store.get(&id).unwrap(), b"hello");
        assert!(store.contains(&id).unwrap());
        let empty = store.put(b"").unwrap();
        assert_eq!(store.get(&empty).unwrap(), b"");
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let big_id = store.put(&big).unwrap();
        assert_eq!(store.get(&big_id).unwrap(), big);
        let mut ids = store.ids().unwrap();
        ids.sort();
        let mut want = vec![id.clone(), empty.clone(), big_id.clone()];
        want.sort();
        assert_eq!(ids, want);
        store.delete(&id).unwrap();
        store.delete(&id).unwrap();
        assert!(!store.contains(&id).unwrap());
        assert!(matches!(store.get(&id), Err(StoreError::BlobNotFound(_))));
        assert!(matches!(
            store.get("../../etc/passwd"),
            Err(StoreError::InvalidBlobId(_))
        ));
        assert!(matches!(
            store.contains(&"A".repeat(64)),
            Err(StoreError::InvalidBlobId(_))
        ));
    }
}

// ---- SQLite + files ----------------------------------------------------

#[test]
fn sqlite_commit_and_rollback() {
    contract::commit_and_rollback(&SqliteStore::in_memory().unwrap());
}

#[test]
fn sqlite_scan_in_byte_order() {
    contract::scan_in_byte_order(&SqliteStore::in_memory().unwrap());
}

#[test]
fn sqlite_no_lost_updates() {
    let store: Arc<dyn MetadataStore> = Arc::new(SqliteStore::in_memory().unwrap());
    contract::no_lost_updates(store.clone(), store.clone());
    assert_eq!(contract::counter(&*store), 100);
}

#[test]
fn fs_blobs() {
    let dir = tempfile::tempdir().unwrap();
    contract::blobs(&FsBlobStore::open(dir.path()).unwrap());
}

// ---- PostgreSQL --------------------------------------------------------

const NEEDS_PG: &str =
    "needs PostgreSQL: set FLINT_TEST_POSTGRES_URL (scripts/services/postgres prints one)";

/// A fresh database on the test server; returns its URL.
fn pg_database() -> String {
    let admin = std::env::var("FLINT_TEST_POSTGRES_URL").expect(NEEDS_PG);
    let name = format!(
        "flint_test_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect(NEEDS_PG);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (base, _db) = admin.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

#[test]
#[ignore = "needs PostgreSQL: FLINT_TEST_POSTGRES_URL (scripts/test starts one)"]
fn postgres_commit_and_rollback() {
    contract::commit_and_rollback(&PostgresStore::open(&pg_database()).unwrap());
}

#[test]
#[ignore = "needs PostgreSQL: FLINT_TEST_POSTGRES_URL (scripts/test starts one)"]
fn postgres_scan_in_byte_order() {
    contract::scan_in_byte_order(&PostgresStore::open(&pg_database()).unwrap());
}

#[test]
#[ignore = "needs PostgreSQL: FLINT_TEST_POSTGRES_URL (scripts/test starts one)"]
fn postgres_two_nodes_share_data() {
    let url = pg_database();
    let a = PostgresStore::open(&url).unwrap();
    let b = PostgresStore::open(&url).unwrap();
    contract::two_nodes_share_data(&a, &b);
}

#[test]
#[ignore = "needs PostgreSQL: FLINT_TEST_POSTGRES_URL (scripts/test starts one)"]
fn postgres_no_lost_updates_across_two_nodes() {
    let url = pg_database();
    let a: Arc<dyn MetadataStore> = Arc::new(PostgresStore::open(&url).unwrap());
    let b: Arc<dyn MetadataStore> = Arc::new(PostgresStore::open(&url).unwrap());
    contract::no_lost_updates(a.clone(), b);
    assert_eq!(contract::counter(&*a), 100);
}

#[test]
#[ignore = "needs PostgreSQL: FLINT_TEST_POSTGRES_URL (scripts/test starts one)"]
fn postgres_migrations_run_once_and_refuse_a_newer_schema() {
    let url = pg_database();
    // Several nodes starting at once: the advisory lock lets one migrate.
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PostgresStore::open(&url).map(|_| ()))
        })
        .collect();
    for t in opened {
        t.join().unwrap().unwrap();
    }
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let versions: Vec<i32> = c
        .query("SELECT version FROM schema_version", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, vec![PostgresStore::schema_version()]);
    c.execute("UPDATE schema_version SET version = version + 1", &[])
        .unwrap();
    match PostgresStore::open(&url) {
        Err(StoreError::SchemaTooNew { current, known }) => {
            assert_eq!(
                (current, known),
                (known + 1, PostgresStore::schema_version())
            )
        }
        Err(e) => panic!("expected SchemaTooNew, got {e}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

#[test]
#[ignore = "needs PostgreSQL: FLINT_TEST_POSTGRES_URL (scripts/test starts one)"]
fn postgres_reconnects_after_the_connection_is_killed() {
    let url = pg_database();
    let store = PostgresStore::open(&url).unwrap();
    let mut tx = store.begin().unwrap();
    tx.put("function", "f", b"1").unwrap();
    tx.commit().unwrap();
    let db = url.rsplit_once('/').unwrap().1.to_string();
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db],
        )
        .unwrap();
    let mut tx = store.begin().unwrap();
    assert_eq!(tx.get("function", "f").unwrap(), Some(b"1".to_vec()));
}

// ---- S3 (Garage) -------------------------------------------------------

const NEEDS_S3: &str = "needs an S3 server: set FLINT_TEST_S3_URL, AWS_ACCESS_KEY_ID and \
                        AWS_SECRET_ACCESS_KEY (eval \"$(scripts/services/garage)\" sets them)";

/// The test server's bucket under a prefix of this test's own.
fn s3_settings() -> S3Settings {
    let url = std::env::var("FLINT_TEST_S3_URL").expect(NEEDS_S3);
    let mut s = S3Settings::parse_url(&url).unwrap().with_env_credentials();
    assert!(s.access_key_id.is_some(), "{NEEDS_S3}");
    s.prefix = format!(
        "test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    s
}

#[test]
#[ignore = "needs S3: FLINT_TEST_S3_URL (scripts/test starts Garage)"]
fn s3_blobs() {
    let cache = tempfile::tempdir().unwrap();
    contract::blobs(&S3BlobStore::open(&s3_settings(), cache.path()).unwrap());
}

#[test]
#[ignore = "needs S3: FLINT_TEST_S3_URL (scripts/test starts Garage)"]
fn s3_second_node_downloads_once_into_its_cache() {
    let settings = s3_settings();
    let (cache_a, cache_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = S3BlobStore::open(&settings, cache_a.path()).unwrap();
    let b = S3BlobStore::open(&settings, cache_b.path()).unwrap();
    let id = a.put(b"package bytes").unwrap();
    let path = b.local_path(&id).expect("node b fetches the blob");
    assert!(path.starts_with(cache_b.path()));
    assert_eq!(std::fs::read(&path).unwrap(), b"package bytes");
    // Node a deletes it from the bucket: b still has its cached copy, and
    // a no longer lists it.
    a.delete(&id).unwrap();
    assert!(a.ids().unwrap().is_empty());
    assert_eq!(b.get(&id).unwrap(), b"package bytes");
    assert!(!b.contains(&id).unwrap(), "contains asks the bucket");
}

#[test]
#[ignore = "needs S3: FLINT_TEST_S3_URL (scripts/test starts Garage)"]
fn s3_wrong_credentials_fail_at_open() {
    let mut settings = s3_settings();
    settings.secret_access_key = Some("not-the-secret".into());
    let cache = tempfile::tempdir().unwrap();
    assert!(S3BlobStore::open(&settings, cache.path()).is_err());
}
