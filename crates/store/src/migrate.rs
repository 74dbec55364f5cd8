//! Moving a cluster's whole keyspace from one backend to another (`skiff migrate`), e.g. from
//! the embedded SQLite store to etcd when a cluster outgrows one machine.
//!
//! Every live key is copied in the order of its last write, so the target's revisions keep the
//! source's order. When the target starts behind the source (an empty etcd does), the copy
//! also keeps the revisions themselves: before each key the target's revision is brought up
//! to the key's revision minus one with padding writes (to keys under [`PADDING_PREFIX`],
//! deleted at the end), so every object keeps its `resourceVersion` and an update that names
//! it still succeeds.
//!
//! History (older versions, deleted keys) is not copied. So that nobody is served a history
//! with holes, the copy ends as `etcdutl snapshot restore --bump-revision --mark-compacted`
//! does: the target's revision is brought up to at least the source's (it never goes back),
//! and everything up to it is compacted. A watch or `continue` token from before the move then
//! gets `410 Gone` and its client lists again, as after any compaction.

use futures::StreamExt;

use crate::{Backend, Error, KeyValue, ListOptions, Revision};

/// Keys the copy writes to advance the target's revision; removed when the copy is done.
pub const PADDING_PREFIX: &str = "/skiff.dev/migrate-padding/";
/// Keys listed per page from the source.
const PAGE: usize = 1000;
/// Padding writes in flight at once.
const PADDING_CONCURRENCY: usize = 32;

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// Keys copied.
    pub keys: u64,
    /// The source's revision the copy was taken at.
    pub source_revision: Revision,
    /// Whether every object (`/registry/…`) kept its revision (else only their order was
    /// kept).
    pub exact_revisions: bool,
    /// Padding writes made to advance the target's revision.
    pub padding_writes: u64,
    /// The target's revision at the end, compacted up to (at least the source's).
    pub target_revision: Revision,
}

/// Why a migration could not run.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The target already holds keys: migrating into it could mix two clusters.
    #[error(
        "the target {backend} store is not empty ({keys} keys); migrate into an empty store \
         (if an earlier migration stopped part-way, clear its keys first, e.g. \
         `etcdctl del --prefix /`)"
    )]
    NotEmpty {
        /// The target's backend name.
        backend: &'static str,
        /// How many keys it holds.
        keys: u64,
    },
    /// A store operation failed.
    #[error("{0}")]
    Store(#[from] Error),
}

/// Copies every key of `source` under `/` into the empty `target`; `progress(done, total)`
/// is called as keys are copied.
pub async fn migrate(
    source: &dyn Backend,
    target: &dyn Backend,
    mut progress: impl FnMut(u64, u64),
) -> Result<MigrateReport, MigrateError> {
    let existing = target.count("/").await?;
    if existing > 0 {
        return Err(MigrateError::NotEmpty {
            backend: target.name(),
            keys: existing,
        });
    }
    let revision = source.current_revision().await?;
    let mut keys: Vec<KeyValue> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = source
            .list(
                "/",
                ListOptions {
                    revision,
                    limit: PAGE,
                    after: after.clone(),
                    skip_count: true,
                },
            )
            .await?;
        after = page.items.last().map(|kv| kv.key.clone());
        keys.extend(page.items);
        if !page.more || after.is_none() {
            break;
        }
    }
    // Objects (`/registry/…`) first in revision order, then everything else (a cluster's
    // identity and shared credentials are written before any object; copied last, they do
    // not push the objects' revisions).
    keys.sort_by_key(|kv| (!kv.key.starts_with("/registry/"), kv.mod_revision));
    let total = keys.len() as u64;
    let mut exact = true;
    let mut padding = 0u64;
    // Nothing else writes to the target, so its revision is known without asking again.
    let mut current = target.current_revision().await?;
    for (done, kv) in keys.iter().enumerate() {
        let object = kv.key.starts_with("/registry/");
        if exact && object {
            let wanted = kv.mod_revision - 1;
            if current > wanted {
                exact = false;
            } else if current < wanted {
                let count = u64::try_from(wanted - current).unwrap_or(0);
                pad(target, padding, count).await?;
                padding += count;
            }
        }
        let written = target.create(&kv.key, kv.value.clone()).await?;
        current = written.mod_revision;
        if object && written.mod_revision != kv.mod_revision {
            exact = false;
        }
        progress(done as u64 + 1, total);
    }
    // Never behind the source: a version a client saw there must not be handed out again.
    if current < revision {
        let count = u64::try_from(revision - current).unwrap_or(0);
        pad(target, padding, count).await?;
        padding += count;
    }
    let deletes = futures::stream::iter(0..padding)
        .map(|n| async move { target.delete(&padding_key(n), None).await })
        .buffer_unordered(PADDING_CONCURRENCY);
    futures::pin_mut!(deletes);
    while let Some(result) = deletes.next().await {
        result?;
    }
    let end = target.current_revision().await?;
    target.compact(end).await?;
    Ok(MigrateReport {
        keys: total,
        source_revision: revision,
        exact_revisions: exact,
        padding_writes: padding,
        target_revision: end,
    })
}

fn padding_key(n: u64) -> String {
    format!("{PADDING_PREFIX}{n:012}")
}

/// Writes `count` padding keys, numbered from `first` (each write is one revision).
async fn pad(target: &dyn Backend, first: u64, count: u64) -> Result<(), Error> {
    let writes = futures::stream::iter(first..first + count)
        .map(|n| async move { target.create(&padding_key(n), Vec::new()).await })
        .buffer_unordered(PADDING_CONCURRENCY);
    futures::pin_mut!(writes);
    while let Some(result) = writes.next().await {
        result?;
    }
    Ok(())
}
