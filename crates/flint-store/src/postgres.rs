//! The cluster metadata store: the same `documents` table as SQLite, in
//! PostgreSQL, shared by every node.
//!
//! Isolation: every transaction takes one transaction-scoped advisory lock
//! (`pg_advisory_xact_lock`) right after `BEGIN`, so metadata transactions
//! are serialized across all nodes exactly as SQLite's `BEGIN IMMEDIATE`
//! serializes them in one process. SERIALIZABLE would allow more
//! concurrency, but a serialization failure can surface at any statement or
//! at commit, and the domain's read-modify-write code is not written as a
//! retryable closure; control-plane mutations are rare and short, so one
//! lock costs nothing that matters and no update can be lost.
//!
//! Bridging: the `postgres` crate drives its connection on a private tokio
//! runtime with `block_on`, which panics on a thread that is already inside
//! a runtime (flint opens its stores and sweeps garbage inside `serve`'s
//! runtime). Each connection therefore lives on a thread of its own and the
//! trait's methods send it jobs over a channel: callable from any thread.

use crate::{Entry, MetadataStore, Result, StoreError, Transaction};
use parking_lot::{Mutex, MutexGuard};
use std::sync::mpsc;

/// Advisory lock key that serializes metadata transactions ("flintmta").
const TXN_LOCK: i64 = 0x666c_696e_746d_7461;
/// Advisory lock key held while migrations run ("flintmig").
const MIGRATION_LOCK: i64 = 0x666c_696e_746d_6967;

/// Schema migrations, in order; version N is `MIGRATIONS[N - 1]`. Never edit
/// a released one: append. The first node of a newer flint to start runs
/// what is missing, under [`MIGRATION_LOCK`]; an older flint refuses a
/// database whose version it does not know.
const MIGRATIONS: &[&str] = &["CREATE TABLE documents (
         ns    TEXT COLLATE \"C\" NOT NULL,
         key   TEXT COLLATE \"C\" NOT NULL,
         value BYTEA NOT NULL,
         PRIMARY KEY (ns, key)
     )"];

type Job = Box<dyn FnOnce(&mut postgres::Client) + Send>;

/// One PostgreSQL connection on its own thread.
struct Connection {
    jobs: mpsc::Sender<Job>,
}

impl Connection {
    fn open(url: &str) -> Result<Self> {
        let config: postgres::Config = url.parse()?;
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<()>>(1);
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("flint-postgres".into())
            .spawn(move || {
                let mut client = match config.connect(postgres::NoTls) {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                // Ends when the store (the only sender) is dropped.
                for job in rx {
                    job(&mut client);
                }
            })
            .map_err(|source| StoreError::Io {
                path: "postgres connection thread".into(),
                source,
            })?;
        ready_rx.recv().map_err(|_| StoreError::Disconnected)??;
        Ok(Self { jobs })
    }

    /// Runs `f` on the connection's thread and waits for its result.
    fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |c| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| StoreError::Disconnected)?;
        rx.recv().map_err(|_| StoreError::Disconnected)?
    }
}

/// PostgreSQL-backed [`MetadataStore`].
pub struct PostgresStore {
    url: String,
    /// One connection per node: transactions are serialized anyway, and a
    /// broken connection is replaced at the next `begin`.
    conn: Mutex<Option<Connection>>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user[:password]@host:port/db`) and
    /// brings the schema up to date.
    pub fn open(url: &str) -> Result<Self> {
        let conn = Connection::open(url)?;
        conn.run(migrate)?;
        Ok(Self {
            url: url.to_string(),
            conn: Mutex::new(Some(conn)),
        })
    }

    /// The schema version this build writes.
    pub fn schema_version() -> i32 {
        MIGRATIONS.len() as i32
    }
}

fn migrate(c: &mut postgres::Client) -> Result<()> {
    c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let result = (|| -> Result<()> {
        c.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
        let mut tx = c.transaction()?;
        let current: i32 = tx
            .query_opt("SELECT version FROM schema_version", &[])?
            .map(|r| r.get(0))
            .unwrap_or(0);
        let known = PostgresStore::schema_version();
        if current > known {
            return Err(StoreError::SchemaTooNew { current, known });
        }
        for sql in MIGRATIONS.iter().skip(current as usize) {
            tx.batch_execute(sql)?;
        }
        tx.execute("DELETE FROM schema_version", &[])?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&known],
        )?;
        tx.commit()?;
        Ok(())
    })();
    // Released on error too; a lost connection releases it by itself.
    let _ = c.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    result
}

impl MetadataStore for PostgresStore {
    fn begin(&self) -> Result<Box<dyn Transaction + '_>> {
        let mut guard = self.conn.lock();
        let begun = match guard.as_ref() {
            Some(conn) => conn.run(begin),
            None => Err(StoreError::Disconnected),
        };
        if begun.is_err() {
            // A dead connection (server restart, terminated backend, network):
            // nothing of the transaction has happened yet, so one try on a
            // fresh connection is safe, whatever the error said.
            *guard = None;
            let conn = Connection::open(&self.url)?;
            conn.run(begin)?;
            *guard = Some(conn);
        }
        Ok(Box::new(PostgresTxn {
            conn: guard,
            done: false,
        }))
    }
}

fn begin(c: &mut postgres::Client) -> Result<()> {
    if c.is_closed() {
        return Err(StoreError::Disconnected);
    }
    c.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED")?;
    // Under the lock every statement sees every transaction committed before
    // it, and no other transaction commits until this one ends.
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&TXN_LOCK])?;
    Ok(())
}

struct PostgresTxn<'a> {
    conn: MutexGuard<'a, Option<Connection>>,
    done: bool,
}

impl PostgresTxn<'_> {
    fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.conn.as_ref().ok_or(StoreError::Disconnected)?.run(f)
    }
}

impl Transaction for PostgresTxn<'_> {
    fn get(&mut self, ns: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let (ns, key) = (ns.to_string(), key.to_string());
        self.run(move |c| {
            Ok(c.query_opt(
                "SELECT value FROM documents WHERE ns = $1 AND key = $2",
                &[&ns, &key],
            )?
            .map(|r| r.get(0)))
        })
    }

    fn put(&mut self, ns: &str, key: &str, value: &[u8]) -> Result<()> {
        let (ns, key, value) = (ns.to_string(), key.to_string(), value.to_vec());
        self.run(move |c| {
            c.execute(
                "INSERT INTO documents (ns, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
                &[&ns, &key, &value],
            )?;
            Ok(())
        })
    }

    fn delete(&mut self, ns: &str, key: &str) -> Result<bool> {
        let (ns, key) = (ns.to_string(), key.to_string());
        self.run(move |c| {
            Ok(c.execute(
                "DELETE FROM documents WHERE ns = $1 AND key = $2",
                &[&ns, &key],
            )? > 0)
        })
    }

    fn scan(&mut self, ns: &str, after: Option<&str>, limit: usize) -> Result<Vec<Entry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (ns, after) = (ns.to_string(), after.unwrap_or("").to_string());
        self.run(move |c| {
            // The columns' "C" collation orders keys by bytes, as SQLite does.
            let rows = c.query(
                "SELECT key, value FROM documents WHERE ns = $1 AND key > $2
                 ORDER BY key LIMIT $3",
                &[&ns, &after, &limit],
            )?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn count(&mut self, ns: &str) -> Result<u64> {
        let ns = ns.to_string();
        self.run(move |c| {
            let n: i64 = c
                .query_one("SELECT COUNT(*) FROM documents WHERE ns = $1", &[&ns])?
                .get(0);
            Ok(n as u64)
        })
    }

    fn delete_namespace(&mut self, ns: &str) -> Result<u64> {
        let ns = ns.to_string();
        self.run(move |c| Ok(c.execute("DELETE FROM documents WHERE ns = $1", &[&ns])?))
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.done = true;
        self.run(|c| Ok(c.batch_execute("COMMIT")?))
    }
}

impl Drop for PostgresTxn<'_> {
    fn drop(&mut self) {
        if !self.done {
            // A failed rollback means a dead connection, which the next
            // `begin` replaces (the server rolls back what it dropped).
            if self.run(|c| Ok(c.batch_execute("ROLLBACK")?)).is_err() {
                *self.conn = None;
            }
        }
    }
}
