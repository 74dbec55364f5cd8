//! Revisioned key/value storage with watch: the narrow, etcd-shaped `Backend` trait the API
//! server stores every object through, and its implementations (memory, SQLite, and etcd with
//! the default `etcd` feature).
//!
//! Semantics follow etcd v3 so an etcd backend fits the same trait:
//! - one global, strictly increasing revision; every successful write gets the next one and it
//!   becomes the object's `resourceVersion`;
//! - a key remembers the revision it was created at (`create_revision`) and last modified at
//!   (`mod_revision`);
//! - reads can be served at an older revision until that revision is compacted;
//! - a watch from revision `R` delivers, in revision order, every change with revision `> R`.

use std::pin::Pin;

use futures::Stream;

#[cfg(feature = "etcd")]
pub mod etcd;
mod hub;
pub mod memory;
pub mod migrate;
pub mod sqlite;

#[cfg(feature = "etcd")]
pub use etcd::{EtcdBackend, EtcdOptions, EtcdTls};
pub use memory::MemoryBackend;
pub use migrate::{MigrateError, MigrateReport, migrate};
pub use sqlite::{DirLock, SqliteBackend};

/// A store revision. Revision 0 means "nothing written yet" / "latest" depending on context.
pub type Revision = i64;

/// One stored key at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The full key, e.g. `/registry/core/configmaps/demo/c1`.
    pub key: String,
    /// The stored bytes (empty in the `kv` of a delete event).
    pub value: Vec<u8>,
    /// Revision at which this key was (last) created.
    pub create_revision: Revision,
    /// Revision of the write that produced this version (for a delete: the delete's revision).
    pub mod_revision: Revision,
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Created or updated. A create has `kv.create_revision == kv.mod_revision`.
    Put,
    /// Deleted. `kv.mod_revision` is the delete's revision; `prev` holds the last value.
    Delete,
}

/// One change delivered by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The key after the change (for a delete: key, empty value, the delete revision).
    pub kv: KeyValue,
    /// The key's previous version, if it existed (always present for deletes).
    pub prev: Option<KeyValue>,
}

impl Event {
    /// The revision at which this change happened.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// Options for [`Backend::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Serve the list as of this revision; `0` means the current revision.
    pub revision: Revision,
    /// Return at most this many keys (`0` means no limit).
    pub limit: usize,
    /// Only return keys strictly greater than this one (paging continuation).
    pub after: Option<String>,
    /// The caller does not need [`ListResult::remaining`]: a backend for which the count
    /// costs a scan of the rest of the range may leave it at 0 ([`ListResult::more`] still
    /// says whether keys were left out).
    pub skip_count: bool,
}

/// The answer to [`Backend::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResult {
    /// Live keys under the prefix at `revision`, in ascending key order.
    pub items: Vec<KeyValue>,
    /// The revision the list was served at (the current revision when `revision` was 0).
    pub revision: Revision,
    /// True when `limit` cut the list short.
    pub more: bool,
    /// How many live keys under the prefix (after `after`) were left out by `limit` (may be
    /// 0 when [`ListOptions::skip_count`] was set).
    pub remaining: u64,
}

/// A stream of watch events in strictly increasing revision order.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Event, Error>> + Send>>;

/// Everything a backend can answer with instead of success. Variants name what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `create` found the key already present.
    #[error("key {0:?} already exists")]
    KeyExists(String),
    /// `update`/`delete` found the key missing.
    #[error("key {0:?} not found")]
    NotFound(String),
    /// A compare-and-swap failed: the key's current `mod_revision` is not the expected one.
    /// `current` is the key's current version so callers can retry without another read.
    #[error("key {key:?} was modified: expected revision {expected}, found {}", current.as_ref().map(|kv| kv.mod_revision).unwrap_or(0))]
    Conflict {
        key: String,
        expected: Revision,
        current: Option<Box<KeyValue>>,
    },
    /// The requested revision has been compacted away.
    #[error("required revision {requested} has been compacted (compacted up to {compacted})")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    /// The requested revision is newer than the store's current revision.
    #[error("required revision {requested} is a future revision (current {current})")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },
    /// The backend does not support what was asked; never a silent success.
    #[error("unsupported by the {backend} backend: {what}")]
    Unsupported { backend: &'static str, what: String },
    /// The backend has been closed (process shutting down).
    #[error("the store is closed")]
    Closed,
    /// The data directory is already used by another process.
    #[error("{0}")]
    Locked(String),
    /// An I/O or database failure; the write it belonged to did not happen (etcd: unless the
    /// connection broke after the request was sent, as with any etcd client).
    #[error("storage failure: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Result alias for store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The revisioned key/value store every object lives in. Implementations must pass
/// [`conformance`]'s suite.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for messages and metrics (`memory`, `sqlite`, `etcd`).
    fn name(&self) -> &'static str;

    /// The current version of `key`, or `None`. With `revision > 0`, the version live at that
    /// revision (`Compacted` / `FutureRevision` when it cannot be served).
    async fn get(&self, key: &str, revision: Revision) -> Result<Option<KeyValue>>;

    /// Live keys starting with `prefix`, in key order, at `opts.revision`.
    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult>;

    /// How many live keys start with `prefix` now.
    async fn count(&self, prefix: &str) -> Result<u64>;

    /// Create `key`; `KeyExists` if it is live. Returns the stored version.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue>;

    /// Replace `key` only if its `mod_revision` equals `expected`. `NotFound` if missing,
    /// `Conflict` (with the current version) otherwise. Returns the stored version.
    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue>;

    /// Delete `key`, if `expected` is `Some`, only when its `mod_revision` matches.
    /// Returns the delete event (`kv.mod_revision` is the delete's revision, `prev` the last value).
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Event>;

    /// Every change under `prefix` with revision `> from`, in order, then live changes.
    /// `Compacted` if changes after `from` are no longer kept; `from = 0` means "from now".
    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream>;

    /// Forget history before `revision`: reads and watches older than it answer `Compacted`.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The newest revision (0 when nothing was ever written).
    async fn current_revision(&self) -> Result<Revision>;

    /// The oldest revision still served (history before it is compacted).
    async fn compacted_revision(&self) -> Result<Revision>;
}

pub mod conformance;
