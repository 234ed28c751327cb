//! The embedded metadata store: SQLite in WAL mode with `synchronous=FULL`,
//! so a committed transaction survives `kill -9` and power loss alike.

use crate::{Entry, MetadataStore, Result, Transaction};
use parking_lot::{Mutex, MutexGuard};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

/// SQLite-backed [`MetadataStore`].
///
/// One connection behind a mutex: control-plane transactions are short
/// (tens of microseconds), and serializing them gives the domain simple
/// read-modify-write semantics without retry loops. The invoke path never
/// touches this store per request (it works from an in-memory view).
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS documents (
                 ns    TEXT NOT NULL,
                 key   TEXT NOT NULL,
                 value BLOB NOT NULL,
                 PRIMARY KEY (ns, key)
             ) WITHOUT ROWID;",
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }
}

impl MetadataStore for SqliteStore {
    fn begin(&self) -> Result<Box<dyn Transaction + '_>> {
        let guard = self.conn.lock();
        // IMMEDIATE takes the write lock up front, so a transaction never
        // fails half-way with SQLITE_BUSY after it has read.
        guard.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Box::new(SqliteTxn {
            conn: guard,
            done: false,
        }))
    }
}

struct SqliteTxn<'a> {
    conn: MutexGuard<'a, Connection>,
    done: bool,
}

impl Transaction for SqliteTxn<'_> {
    fn get(&mut self, ns: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT value FROM documents WHERE ns = ?1 AND key = ?2")?;
        Ok(stmt
            .query_row(params![ns, key], |r| r.get::<_, Vec<u8>>(0))
            .optional()?)
    }

    fn put(&mut self, ns: &str, key: &str, value: &[u8]) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO documents (ns, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
        )?;
        stmt.execute(params![ns, key, value])?;
        Ok(())
    }

    fn delete(&mut self, ns: &str, key: &str) -> Result<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("DELETE FROM documents WHERE ns = ?1 AND key = ?2")?;
        Ok(stmt.execute(params![ns, key])? > 0)
    }

    fn scan(&mut self, ns: &str, after: Option<&str>, limit: usize) -> Result<Vec<Entry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, value FROM documents WHERE ns = ?1 AND key > ?2 ORDER BY key LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![ns, after.unwrap_or(""), limit], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    fn count(&mut self, ns: &str) -> Result<u64> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM documents WHERE ns = ?1")?;
        let n: i64 = stmt.query_row(params![ns], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn delete_namespace(&mut self, ns: &str) -> Result<u64> {
        let mut stmt = self
            .conn
            .prepare_cached("DELETE FROM documents WHERE ns = ?1")?;
        Ok(stmt.execute(params![ns])? as u64)
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        self.done = true;
        Ok(())
    }
}

impl Drop for SqliteTxn<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Nothing useful can be done with a failed rollback here: the
            // connection reports it again at the next BEGIN.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_writes_are_visible_and_rolled_back_ones_are_not() {
        let store = SqliteStore::in_memory().unwrap();
        let mut tx = store.begin().unwrap();
        tx.put("function", "a", b"1").unwrap();
        tx.commit().unwrap();

        {
            let mut tx = store.begin().unwrap();
            tx.put("function", "b", b"2").unwrap();
            // dropped without commit
        }
        let mut tx = store.begin().unwrap();
        assert_eq!(tx.get("function", "a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(tx.get("function", "b").unwrap(), None);
    }

    #[test]
    fn scan_pages_in_key_order() {
        let store = SqliteStore::in_memory().unwrap();
        let mut tx = store.begin().unwrap();
        for k in ["c", "a", "b", "d"] {
            tx.put("ns", k, k.as_bytes()).unwrap();
        }
        tx.put("other", "z", b"z").unwrap();
        let first = tx.scan("ns", None, 2).unwrap();
        assert_eq!(
            first.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let rest = tx.scan("ns", Some("b"), 10).unwrap();
        assert_eq!(
            rest.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
            ["c", "d"]
        );
        assert_eq!(tx.count("ns").unwrap(), 4);
        assert_eq!(tx.delete_namespace("ns").unwrap(), 4);
        assert_eq!(tx.count("other").unwrap(), 1);
    }

    #[test]
    fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            let mut tx = store.begin().unwrap();
            tx.put("function", "f", b"doc").unwrap();
            tx.commit().unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let mut tx = store.begin().unwrap();
        assert_eq!(tx.get("function", "f").unwrap(), Some(b"doc".to_vec()));
        assert!(tx.delete("function", "f").unwrap());
        assert!(!tx.delete("function", "f").unwrap());
    }
}
