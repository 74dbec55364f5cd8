//! SQLite backend, skiff's default durable store: a kine-style revision log in one WAL-mode
//! database file, written by one group-committing writer thread and read through a small pool.
//!
//! Layout: every write (create, update, delete) appends one row to `kv`; the row's
//! `INTEGER PRIMARY KEY AUTOINCREMENT` id is the write's revision. A key's current version is its
//! newest row; the state at revision `R` is, for each key, its newest row with `id <= R` unless
//! that row is a delete tombstone. `meta` records the compacted revision; the current revision
//! is `sqlite_sequence`'s counter for `kv`, which never goes back, even when compaction removes
//! the newest rows.
//!
//! Durability: `synchronous=FULL`, and a write is answered only after the transaction holding it
//! committed. The writer drains whatever requests are queued (up to `MAX_BATCH`) into one
//! `BEGIN IMMEDIATE` transaction, so concurrent writers share one fsync (group commit); a failed
//! check (`KeyExists`, `Conflict`, …) fails only its own request.
//!
//! Exclusivity: `<db>.lock` next to the database holds an advisory `flock` for the backend's
//! life, so a second skiff on the same data directory fails with `Locked` instead of sharing it.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use tokio::sync::oneshot;

use crate::hub::{self, History, HistoryPage, Hub};
use crate::{
    Backend, Error, Event, EventKind, KeyValue, ListOptions, ListResult, Result, Revision,
    WatchStream,
};

/// Most write requests committed in one transaction.
const MAX_BATCH: usize = 256;
/// Reads running at once, each on its own connection (kept open between reads) and its own
/// blocking thread; further reads wait for one to finish. Unbounded, a burst of reads (a
/// thousand kubelets and controllers listing at once) opened a connection and started a
/// thread for each, and closed most of them again afterwards.
const READERS: usize = 8;
/// How many revisions one history read walks at most, so that a watch far behind (or on a
/// prefix with few keys) catches up in bounded reads instead of one long one.
const HISTORY_WINDOW: Revision = 20_000;
/// How long a connection waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The schema version this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name BLOB NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL,
    old_value BLOB
);
CREATE INDEX IF NOT EXISTS kv_name_id ON kv (name, id);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
";

/// The store's current and compacted revisions, read in one statement (one snapshot).
const SNAPSHOT_SQL: &str = "SELECT
    COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'kv'), 0),
    COALESCE((SELECT value FROM meta WHERE name = 'compact_revision'), 0)";

/// A key's newest row at or below a revision.
const ROW_AT_SQL: &str = "SELECT id, deleted, create_revision, value FROM kv
    WHERE name = ?1 AND id <= ?2 ORDER BY id DESC LIMIT 1";

/// Live keys in `[?1, ?2)` at revision `?3`, in key order, at most `?4` (`-1`: all).
const LIST_SQL: &str = "SELECT id, name, create_revision, value FROM kv
    WHERE name >= ?1 AND name < ?2 AND id <= ?3 AND deleted = 0
      AND NOT EXISTS (SELECT 1 FROM kv AS newer
                      WHERE newer.name = kv.name AND newer.id > kv.id AND newer.id <= ?3)
    ORDER BY name LIMIT ?4";

/// How many live keys are in `[?1, ?2)` at revision `?3`.
const COUNT_SQL: &str = "SELECT COUNT(*) FROM kv
    WHERE name >= ?1 AND name < ?2 AND id <= ?3 AND deleted = 0
      AND NOT EXISTS (SELECT 1 FROM kv AS newer
                      WHERE newer.name = kv.name AND newer.id > kv.id AND newer.id <= ?3)";

/// Events with revision in `(?1, ?5]` for keys in `[?2, ?3)`, oldest first, at most `?4`; an
/// update joins the row it replaced for its previous value.
///
/// The rows are walked in revision order (the `+` keeps SQLite off the `(name, id)` index): a
/// watch catching up reads the revisions it missed, not every version of every key under its
/// prefix, which is what the index walk plus a sort cost (tens of milliseconds a read for the
/// pods of a busy cluster).
const HISTORY_SQL: &str = "SELECT kv.id, kv.name, kv.created, kv.deleted, kv.create_revision,
        kv.prev_revision, kv.value, kv.old_value, prev.value
    FROM kv LEFT JOIN kv AS prev
        ON prev.id = kv.prev_revision AND kv.created = 0 AND kv.deleted = 0
    WHERE kv.id > ?1 AND kv.id <= ?5 AND +kv.name >= ?2 AND +kv.name < ?3
    ORDER BY kv.id LIMIT ?4";

/// Rows compaction to `?1` drops: tombstones and versions superseded at or before `?1`.
const COMPACT_SQL: &str = "DELETE FROM kv WHERE id <= ?1 AND (deleted = 1 OR EXISTS (
    SELECT 1 FROM kv AS newer WHERE newer.name = kv.name AND newer.id > kv.id AND newer.id <= ?1))";

const INSERT_SQL: &str = "INSERT INTO kv
    (id, name, created, deleted, create_revision, prev_revision, value, old_value)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// The durable store: one SQLite database file plus its lock file.
///
/// `compact` at or below the already compacted revision is a no-op. Watch streams end with
/// `Closed` when the backend is dropped.
pub struct SqliteBackend {
    /// Requests to the writer thread; `None` once dropping.
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    reads: Arc<ReadPool>,
    hub: Arc<Hub>,
    /// [`HISTORY_WINDOW`] (smaller in tests).
    history_window: Revision,
    path: PathBuf,
    /// Held (and so locked) until the backend is dropped; declared last so it is released last.
    _lock: DirLock,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteBackend {
    /// Open (creating if needed) the store at `path`, taking the exclusive `<path>.lock`.
    ///
    /// Blocking: it creates the parent directory, opens the database, creates the schema and
    /// starts the writer thread. `Locked` if another process (or another open backend in this
    /// one) holds the store.
    pub fn open(path: &Path) -> Result<SqliteBackend> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                storage_msg(format!(
                    "cannot create the data directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let lock = DirLock::acquire(path)?;
        let conn = open_writer(path)?;
        let (revision, compacted) = conn
            .query_row(SNAPSHOT_SQL, [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(storage)?;
        let hub = Arc::new(Hub::new(hub::ALL_CAPACITY, hub::RESOURCE_CAPACITY));
        let writer = Writer {
            conn,
            revision,
            compacted,
            hub: hub.clone(),
        };
        let (requests, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| storage_msg(format!("cannot start the store writer thread: {e}")))?;
        tracing::info!(path = %path.display(), revision, compacted, "opened sqlite store");
        Ok(SqliteBackend {
            requests: Some(requests),
            writer: Some(handle),
            reads: Arc::new(ReadPool {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(tokio::sync::Semaphore::new(READERS)),
            }),
            hub,
            history_window: HISTORY_WINDOW,
            path: path.to_owned(),
            _lock: lock,
        })
    }

    /// The database file this backend stores into.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hand `op` to the writer thread and wait until it is durable (or has failed).
    async fn write(&self, op: WriteOp) -> Result<Arc<Event>> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Write { op, reply })?;
        answer.await.map_err(|_| Error::Closed)?
    }

    fn send(&self, request: Request) -> Result<()> {
        let requests = self.requests.as_ref().ok_or(Error::Closed)?;
        requests.send(request).map_err(|_| Error::Closed)
    }
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish what is queued, then exit; wait for it so
        // the database is closed before the lock is released.
        self.requests.take();
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!(path = %self.path.display(), "the sqlite store writer thread panicked");
        }
    }
}

#[async_trait::async_trait]
impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn get(&self, key: &str, revision: Revision) -> Result<Option<KeyValue>> {
        let key = key.to_owned();
        self.reads
            .run(move |tx| {
                let (current, compacted) = snapshot(tx)?;
                let revision = hub::read_revision(revision, current, compacted)?;
                let row = tx
                    .prepare_cached(ROW_AT_SQL)
                    .and_then(|mut s| {
                        s.query_row(params![key.as_bytes(), revision], Latest::from_row)
                            .optional()
                    })
                    .map_err(storage)?;
                Ok(row.filter(|r| !r.deleted).map(|r| r.into_kv(key)))
            })
            .await
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        let prefix = prefix.to_owned();
        self.reads
            .run(move |tx| {
                let (current, compacted) = snapshot(tx)?;
                let revision = hub::read_revision(opts.revision, current, compacted)?;
                let upper = prefix_end(&prefix);
                let lower = match &opts.after {
                    Some(after) if after.as_str() >= prefix.as_str() => successor(after),
                    _ => prefix.as_bytes().to_vec(),
                };
                // One row more than the page tells whether more follow, without counting them.
                let limit = match opts.limit {
                    0 => -1,
                    n => i64::try_from(n).unwrap_or(i64::MAX).saturating_add(1),
                };
                let items = {
                    let mut stmt = tx.prepare_cached(LIST_SQL).map_err(storage)?;
                    let rows = stmt
                        .query_map(params![lower, upper, revision, limit], |r| {
                            Ok((
                                r.get::<_, Revision>(0)?,
                                r.get::<_, Vec<u8>>(1)?,
                                r.get(2)?,
                                r.get(3)?,
                            ))
                        })
                        .map_err(storage)?;
                    let mut items = Vec::new();
                    for row in rows {
                        let (id, name, create_revision, value) = row.map_err(storage)?;
                        items.push(KeyValue {
                            key: key_from(name)?,
                            value,
                            create_revision,
                            mod_revision: id,
                        });
                    }
                    items
                };
                let mut items = items;
                let more = opts.limit > 0 && items.len() > opts.limit;
                items.truncate(if more { opts.limit } else { items.len() });
                // The count scans the rest of the range (each key's newest row): a paged list
                // that counted on every page read the range quadratically.
                let remaining = match items.last() {
                    Some(last) if more && !opts.skip_count => {
                        count_live(tx, &successor(&last.key), &upper, revision)?
                    }
                    _ => 0,
                };
                Ok(ListResult {
                    items,
                    revision,
                    more,
                    remaining,
                })
            })
            .await
    }

    async fn count(&self, prefix: &str) -> Result<u64> {
        let prefix = prefix.to_owned();
        self.reads
            .run(move |tx| {
                let (current, _) = snapshot(tx)?;
                count_live(tx, prefix.as_bytes(), &prefix_end(&prefix), current)
            })
            .await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        let event = self
            .write(WriteOp::Create {
                key: key.to_owned(),
                value,
            })
            .await?;
        Ok(event.kv.clone())
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue> {
        let event = self
            .write(WriteOp::Update {
                key: key.to_owned(),
                value,
                expected,
            })
            .await?;
        Ok(event.kv.clone())
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Event> {
        let event = self
            .write(WriteOp::Delete {
                key: key.to_owned(),
                expected,
            })
            .await?;
        Ok(Event::clone(&event))
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream> {
        let history = Arc::new(SqliteHistory {
            reads: self.reads.clone(),
            window: self.history_window,
        });
        self.hub.watch(history, prefix, from).await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Compact { revision, reply })?;
        answer.await.map_err(|_| Error::Closed)?
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.reads.run(|tx| Ok(snapshot(tx)?.0)).await
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        self.reads.run(|tx| Ok(snapshot(tx)?.1)).await
    }
}

// ---------------------------------------------------------------------------------------------
// Reads

/// Read connections, each used by one blocking task at a time, at most [`READERS`] at once.
struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl ReadPool {
    /// Run `f` inside one read transaction (one consistent snapshot) on a blocking thread.
    async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let pool = self.clone();
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| storage_msg(format!("the store's read pool closed: {e}")))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = pool.take()?;
            let result = conn
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(storage)
                .and_then(|tx| f(&tx));
            pool.give(conn);
            result
        })
        .await
        .map_err(|e| storage_msg(format!("a store read task failed: {e}")))?
    }

    fn take(&self) -> Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => open_reader(&self.path),
        }
    }

    fn give(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < READERS {
            idle.push(conn);
        }
    }
}

/// The SQLite store's revision log, as watches read it: each read walks at most `window`
/// revisions.
struct SqliteHistory {
    reads: Arc<ReadPool>,
    window: Revision,
}

#[async_trait::async_trait]
impl History for SqliteHistory {
    async fn history(&self, prefix: &str, after: Revision, limit: usize) -> Result<HistoryPage> {
        let prefix = prefix.to_owned();
        let window = self.window.max(1);
        self.reads
            .run(move |tx| {
                let (current, compacted) = snapshot(tx)?;
                hub::check_history(after, compacted)?;
                let until = current.min(after.saturating_add(window));
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let mut stmt = tx.prepare_cached(HISTORY_SQL).map_err(storage)?;
                let rows = stmt
                    .query_map(
                        params![after, prefix.as_bytes(), prefix_end(&prefix), limit, until],
                        HistoryRow::from_row,
                    )
                    .map_err(storage)?;
                let mut events = Vec::new();
                for row in rows {
                    events.push(row.map_err(storage)?.into_event()?);
                }
                let full = limit > 0 && events.len() as i64 >= limit;
                let revision = match events.last() {
                    Some(last) if full => last.revision(),
                    _ => until,
                };
                Ok(HistoryPage {
                    events,
                    revision,
                    more: revision < current,
                })
            })
            .await
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.reads.run(|tx| Ok(snapshot(tx)?.0)).await
    }
}

/// One `kv` row as the history query returns it.
struct HistoryRow {
    id: Revision,
    name: Vec<u8>,
    created: bool,
    deleted: bool,
    create_revision: Revision,
    prev_revision: Revision,
    value: Vec<u8>,
    old_value: Option<Vec<u8>>,
    prev_value: Option<Vec<u8>>,
}

impl HistoryRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            name: r.get(1)?,
            created: r.get(2)?,
            deleted: r.get(3)?,
            create_revision: r.get(4)?,
            prev_revision: r.get(5)?,
            value: r.get(6)?,
            old_value: r.get(7)?,
            prev_value: r.get(8)?,
        })
    }

    fn into_event(self) -> Result<Event> {
        let key = key_from(self.name)?;
        let prev_value = if self.deleted {
            self.old_value
        } else {
            self.prev_value
        };
        let prev = match (self.created, prev_value) {
            (false, Some(value)) => Some(KeyValue {
                key: key.clone(),
                value,
                create_revision: self.create_revision,
                mod_revision: self.prev_revision,
            }),
            _ => None,
        };
        let kind = if self.deleted {
            EventKind::Delete
        } else {
            EventKind::Put
        };
        let kv = KeyValue {
            key,
            value: if self.deleted { Vec::new() } else { self.value },
            create_revision: self.create_revision,
            mod_revision: self.id,
        };
        Ok(Event { kind, kv, prev })
    }
}

/// The store's (current, compacted) revisions in `tx`'s snapshot.
fn snapshot(tx: &Transaction<'_>) -> Result<(Revision, Revision)> {
    tx.prepare_cached(SNAPSHOT_SQL)
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(storage)
}

/// Live keys in `[lower, upper)` at `revision`.
fn count_live(tx: &Transaction<'_>, lower: &[u8], upper: &[u8], revision: Revision) -> Result<u64> {
    let count: i64 = tx
        .prepare_cached(COUNT_SQL)
        .and_then(|mut s| s.query_row(params![lower, upper, revision], |r| r.get(0)))
        .map_err(storage)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// Writes

/// A change to apply.
enum WriteOp {
    Create {
        key: String,
        value: Vec<u8>,
    },
    Update {
        key: String,
        value: Vec<u8>,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

/// A request to the writer thread, answered after its transaction committed (or failed).
enum Request {
    Write {
        op: WriteOp,
        reply: oneshot::Sender<Result<Arc<Event>>>,
    },
    Compact {
        revision: Revision,
        reply: oneshot::Sender<Result<()>>,
    },
}

impl Request {
    /// Answer with a storage failure without applying anything.
    fn reject(self, failure: &str) {
        match self {
            Request::Write { reply, .. } => {
                let _ = reply.send(Err(storage_msg(failure)));
            }
            Request::Compact { reply, .. } => {
                let _ = reply.send(Err(storage_msg(failure)));
            }
        }
    }
}

/// What applying one request inside the batch transaction produced.
enum Applied {
    Write(oneshot::Sender<Result<Arc<Event>>>, Result<Arc<Event>>),
    Compact(oneshot::Sender<Result<()>>, Result<()>),
}

impl Applied {
    /// The transaction did not commit: every success turns into `failure`.
    fn fail(self, failure: &str) -> Self {
        match self {
            Applied::Write(reply, Ok(_)) => Applied::Write(reply, Err(storage_msg(failure))),
            Applied::Compact(reply, Ok(())) => Applied::Compact(reply, Err(storage_msg(failure))),
            other => other,
        }
    }

    /// Answer the caller (who may have gone away; that is fine).
    fn answer(self) {
        match self {
            Applied::Write(reply, result) => {
                let _ = reply.send(result);
            }
            Applied::Compact(reply, result) => {
                let _ = reply.send(result);
            }
        }
    }
}

/// A key's newest row.
struct Latest {
    id: Revision,
    deleted: bool,
    create_revision: Revision,
    value: Vec<u8>,
}

impl Latest {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            deleted: r.get(1)?,
            create_revision: r.get(2)?,
            value: r.get(3)?,
        })
    }

    fn into_kv(self, key: String) -> KeyValue {
        KeyValue {
            key,
            value: self.value,
            create_revision: self.create_revision,
            mod_revision: self.id,
        }
    }
}

/// One row to append to `kv`.
struct NewRow<'a> {
    id: Revision,
    key: &'a str,
    created: bool,
    deleted: bool,
    create_revision: Revision,
    prev_revision: Revision,
    value: &'a [u8],
    old_value: Option<&'a [u8]>,
}

/// The writer thread's state: the only connection that writes.
struct Writer {
    conn: Connection,
    /// The newest committed (or, inside a batch, applied) revision.
    revision: Revision,
    compacted: Revision,
    hub: Arc<Hub>,
}

impl Writer {
    /// Serve requests until every sender is gone.
    fn run(mut self, requests: mpsc::Receiver<Request>) {
        while let Ok(first) = requests.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.apply_batch(batch);
        }
        tracing::debug!("sqlite store writer stopped");
    }

    /// Apply `batch` in one transaction, commit, then publish and answer in revision order.
    fn apply_batch(&mut self, batch: Vec<Request>) {
        let (start_revision, start_compacted) = (self.revision, self.compacted);
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let failure = format!("cannot start a write transaction: {e}");
            tracing::error!("{failure}");
            for request in batch {
                request.reject(&failure);
            }
            return;
        }

        let mut applied = Vec::with_capacity(batch.len());
        let mut aborted: Option<String> = None;
        for request in batch {
            if let Some(failure) = &aborted {
                request.reject(failure);
                continue;
            }
            let done = match request {
                Request::Write { op, reply } => Applied::Write(reply, self.apply_write(op)),
                Request::Compact { revision, reply } => {
                    Applied::Compact(reply, self.apply_compact(revision))
                }
            };
            let failed = matches!(
                &done,
                Applied::Write(_, Err(Error::Storage(_)))
                    | Applied::Compact(_, Err(Error::Storage(_)))
            );
            // Some failures (disk full, I/O errors) make SQLite roll the whole transaction back.
            if failed && self.conn.is_autocommit() {
                aborted =
                    Some("the write transaction was rolled back after a storage failure".into());
            }
            applied.push(done);
        }

        let outcome = match aborted {
            Some(failure) => Err(failure),
            None => self
                .conn
                .execute_batch("COMMIT")
                .map_err(|e| format!("commit failed: {e}")),
        };
        match outcome {
            Ok(()) => {
                for done in &applied {
                    if let Applied::Write(_, Ok(event)) = done {
                        self.hub.publish(event.clone());
                    }
                }
                for done in applied {
                    done.answer();
                }
            }
            Err(failure) => {
                tracing::error!("{failure}");
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                self.revision = start_revision;
                self.compacted = start_compacted;
                for done in applied {
                    done.fail(&failure).answer();
                }
            }
        }
    }

    fn latest(&self, key: &str) -> Result<Option<Latest>> {
        self.conn
            .prepare_cached(ROW_AT_SQL)
            .and_then(|mut s| {
                s.query_row(params![key.as_bytes(), i64::MAX], Latest::from_row)
                    .optional()
            })
            .map_err(storage)
    }

    fn insert(&mut self, row: NewRow<'_>) -> Result<()> {
        self.conn
            .prepare_cached(INSERT_SQL)
            .and_then(|mut s| {
                s.execute(params![
                    row.id,
                    row.key.as_bytes(),
                    row.created,
                    row.deleted,
                    row.create_revision,
                    row.prev_revision,
                    row.value,
                    row.old_value,
                ])
            })
            .map_err(storage)?;
        self.revision = row.id;
        Ok(())
    }

    /// Check and append one write; answers its event. Leaves the transaction open.
    fn apply_write(&mut self, op: WriteOp) -> Result<Arc<Event>> {
        let id = self.revision + 1;
        let event = match op {
            WriteOp::Create { key, value } => {
                let latest = self.latest(&key)?;
                if latest.as_ref().is_some_and(|l| !l.deleted) {
                    return Err(Error::KeyExists(key));
                }
                self.insert(NewRow {
                    id,
                    key: &key,
                    created: true,
                    deleted: false,
                    create_revision: id,
                    prev_revision: latest.map_or(0, |l| l.id),
                    value: &value,
                    old_value: None,
                })?;
                let kv = KeyValue {
                    key,
                    value,
                    create_revision: id,
                    mod_revision: id,
                };
                Event {
                    kind: EventKind::Put,
                    kv,
                    prev: None,
                }
            }
            WriteOp::Update {
                key,
                value,
                expected,
            } => {
                let current = self.live(&key, Some(expected))?;
                self.insert(NewRow {
                    id,
                    key: &key,
                    created: false,
                    deleted: false,
                    create_revision: current.create_revision,
                    prev_revision: current.id,
                    value: &value,
                    old_value: None,
                })?;
                let create_revision = current.create_revision;
                let prev = current.into_kv(key.clone());
                let kv = KeyValue {
                    key,
                    value,
                    create_revision,
                    mod_revision: id,
                };
                Event {
                    kind: EventKind::Put,
                    kv,
                    prev: Some(prev),
                }
            }
            WriteOp::Delete { key, expected } => {
                let current = self.live(&key, expected)?;
                self.insert(NewRow {
                    id,
                    key: &key,
                    created: false,
                    deleted: true,
                    create_revision: current.create_revision,
                    prev_revision: current.id,
                    value: &[],
                    old_value: Some(&current.value),
                })?;
                let create_revision = current.create_revision;
                let prev = current.into_kv(key.clone());
                let kv = KeyValue {
                    key,
                    value: Vec::new(),
                    create_revision,
                    mod_revision: id,
                };
                Event {
                    kind: EventKind::Delete,
                    kv,
                    prev: Some(prev),
                }
            }
        };
        Ok(Arc::new(event))
    }

    /// `key`'s live newest row, checked against `expected`: `NotFound` / `Conflict` otherwise.
    fn live(&self, key: &str, expected: Option<Revision>) -> Result<Latest> {
        let Some(current) = self.latest(key)?.filter(|l| !l.deleted) else {
            return Err(Error::NotFound(key.to_owned()));
        };
        match expected {
            Some(expected) if expected != current.id => Err(Error::Conflict {
                key: key.to_owned(),
                expected,
                current: Some(Box::new(current.into_kv(key.to_owned()))),
            }),
            _ => Ok(current),
        }
    }

    /// Drop history before `revision` and record it. Leaves the transaction open.
    fn apply_compact(&mut self, revision: Revision) -> Result<()> {
        if revision > self.revision {
            return Err(Error::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        if revision <= self.compacted {
            return Ok(());
        }
        let removed = self
            .conn
            .execute(COMPACT_SQL, [revision])
            .map_err(storage)?;
        self.conn
            .execute(
                "INSERT INTO meta (name, value) VALUES ('compact_revision', ?1)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                [revision],
            )
            .map_err(storage)?;
        self.compacted = revision;
        tracing::debug!(revision, removed, "compacted sqlite store");
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Connections, keys and the lock file

/// The write connection: WAL, fsync on every commit, the schema in place.
fn open_writer(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| {
        storage_msg(format!(
            "cannot open the sqlite store {}: {e}",
            path.display()
        ))
    })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(storage)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(storage)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(storage_msg(format!(
            "the sqlite store {} cannot use WAL mode (journal_mode is {mode})",
            path.display()
        )));
    }
    conn.execute_batch("PRAGMA synchronous = FULL")
        .map_err(storage)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(storage)?;
    if version > SCHEMA_VERSION {
        return Err(storage_msg(format!(
            "the sqlite store {} has schema version {version}, newer than this skiff understands \
             ({SCHEMA_VERSION})",
            path.display()
        )));
    }
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
    ))
    .map_err(storage)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// A read connection; it refuses writes.
fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| {
        storage_msg(format!(
            "cannot open the sqlite store {}: {e}",
            path.display()
        ))
    })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(storage)?;
    conn.execute_batch("PRAGMA query_only = ON")
        .map_err(storage)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// The smallest byte string greater than every key starting with `prefix`. Keys are UTF-8 and
/// never contain the byte `0xFF`, so incrementing the last byte cannot overflow, and `[0xFF]`
/// bounds the empty prefix.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    match end.last_mut() {
        Some(last) if *last < 0xFF => *last += 1,
        _ => end = vec![0xFF],
    }
    end
}

/// The smallest byte string strictly greater than `key`.
fn successor(key: &str) -> Vec<u8> {
    let mut next = key.as_bytes().to_vec();
    next.push(0);
    next
}

fn key_from(name: Vec<u8>) -> Result<String> {
    String::from_utf8(name).map_err(|e| storage_msg(format!("a stored key is not UTF-8: {e}")))
}

fn storage(error: rusqlite::Error) -> Error {
    Error::Storage(Box::new(error))
}

fn storage_msg(message: impl Into<String>) -> Error {
    Error::Storage(message.into().into())
}

/// The advisory lock making a data directory exclusive to one skiff: the SQLite backend takes
/// it for its database, and a skiff on another store takes the same lock for its data
/// directory (its credentials, kubeconfig and leader identity are that directory's).
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Lock `<db>.lock` (creating it) and write our pid into it; `Locked` if someone holds it.
    pub fn acquire(db: &Path) -> Result<Self> {
        let mut lock_path = OsString::from(db.as_os_str());
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| {
                storage_msg(format!(
                    "cannot open the lock file {}: {e}",
                    lock_path.display()
                ))
            })?;
        // SAFETY: flock on a file descriptor we own and keep open; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "pid unknown".to_owned(),
                    pid => format!("pid {pid}"),
                };
                let dir = db.parent().unwrap_or(db);
                return Err(Error::Locked(format!(
                    "the data directory {} is in use by another skiff process ({holder}): {} is \
                     locked; stop that process or choose another data directory (several \
                     servers sharing one etcd each need their own --data-dir)",
                    dir.display(),
                    lock_path.display()
                )));
            }
            return Err(storage_msg(format!(
                "cannot lock {}: {err}",
                lock_path.display()
            )));
        }
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        if let Err(e) = written {
            tracing::warn!(path = %lock_path.display(), "cannot record our pid in the lock file: {e}");
        }
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_bounds_exactly_the_keys_under_the_prefix() {
        assert_eq!(prefix_end("/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(""), vec![0xFF]);
        assert!(b"/a/zzz".as_slice() < prefix_end("/a/").as_slice());
        assert!(b"/a0".as_slice() >= prefix_end("/a/").as_slice());
        assert!("é".as_bytes() < prefix_end("").as_slice());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_beyond_the_pool_wait_for_a_connection_and_all_complete() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = SqliteBackend::open(&dir.path().join("state.db")).expect("open");
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let reads: Vec<_> = (0..READERS * 8)
            .map(|_| {
                let (pool, running, most) = (backend.reads.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    pool.run(move |tx| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(5));
                        let revision = snapshot(tx)?.0;
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(revision)
                    })
                    .await
                })
            })
            .collect();
        for read in reads {
            read.await.expect("task").expect("read");
        }
        let most = most.load(Ordering::SeqCst);
        assert!(most <= READERS, "{most} reads ran at once");
        assert!(most > 1, "reads ran one at a time");
        let idle = backend
            .reads
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        assert!(idle <= READERS, "{idle} idle connections");
    }

    #[tokio::test]
    async fn history_reads_walk_a_bounded_window_and_watches_still_see_every_event() {
        use futures::StreamExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut backend = SqliteBackend::open(&dir.path().join("state.db")).expect("open");
        backend.history_window = 3;
        // Revisions 1..=12: /other/ keys, with /mine/ keys at 2, 7 and 12 (12 an update).
        let mut mine = Vec::new();
        for i in 1..=11 {
            let key = if i == 2 || i == 7 {
                format!("/mine/{i}")
            } else {
                format!("/other/{i}")
            };
            let kv = backend.create(&key, b"v".to_vec()).await.expect("create");
            if key.starts_with("/mine/") {
                mine.push((key, kv.mod_revision));
            }
        }
        let kv = backend
            .update("/mine/2", b"w".to_vec(), mine[0].1)
            .await
            .expect("update");
        mine.push(("/mine/2".to_string(), kv.mod_revision));
        assert_eq!(kv.mod_revision, 12);

        let history = SqliteHistory {
            reads: backend.reads.clone(),
            window: 3,
        };
        let page = history.history("/mine/", 0, 1000).await.expect("history");
        let revisions: Vec<_> = page.events.iter().map(Event::revision).collect();
        assert_eq!((revisions, page.revision, page.more), (vec![2], 3, true));
        let page = history.history("/mine/", 9, 1000).await.expect("history");
        let revisions: Vec<_> = page.events.iter().map(Event::revision).collect();
        assert_eq!((revisions, page.revision, page.more), (vec![12], 12, false));
        // A full page ends at its last event, whatever the window.
        let page = history.history("/other/", 0, 1).await.expect("history");
        assert_eq!((page.events.len(), page.revision, page.more), (1, 1, true));

        let mut watch = backend.watch("/mine/", 1).await.expect("watch");
        let mut seen = Vec::new();
        for _ in 0..mine.len() {
            let event = watch.next().await.expect("an event").expect("no error");
            seen.push((event.kv.key.clone(), event.revision()));
        }
        assert_eq!(seen, mine);
        let update = backend.get("/mine/2", 0).await.expect("get").expect("live");
        assert_eq!(update.value, b"w".to_vec());
    }

    #[test]
    fn successor_is_the_next_key() {
        assert!(successor("/a").as_slice() > b"/a".as_slice());
        assert!(successor("/a").as_slice() < b"/a/".as_slice());
    }
}
