//! In-memory backend: every key's version history and the event log behind one mutex. Nothing
//! survives the process; used by tests and by `skiff up --store memory`.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::hub::{self, History, HistoryPage, Hub};
use crate::{
    Backend, Error, Event, EventKind, KeyValue, ListOptions, ListResult, Result, Revision,
    WatchStream,
};

/// A revisioned key/value store held entirely in memory.
///
/// `compact` at or below the already compacted revision is a no-op. Watch streams end with
/// `Closed` when the backend is dropped.
pub struct MemoryBackend {
    state: Arc<Mutex<State>>,
    hub: Hub,
}

/// One version of a key: a value, or a tombstone left by a delete.
#[derive(Debug, Clone)]
struct Version {
    mod_revision: Revision,
    create_revision: Revision,
    /// `None` for a delete tombstone.
    value: Option<Vec<u8>>,
}

/// Everything the store holds.
#[derive(Default)]
struct State {
    revision: Revision,
    compacted: Revision,
    /// Each key's versions, oldest first; trimmed by compaction.
    keys: BTreeMap<String, Vec<Version>>,
    /// Every event with revision `> compacted`, in order (`log[i]` has revision `compacted+1+i`).
    log: VecDeque<Arc<Event>>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// An empty store at revision 0.
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            hub: Hub::new(hub::ALL_CAPACITY, hub::RESOURCE_CAPACITY),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Record `event` as the next revision and publish it (under the lock, so in order).
    fn commit(&self, state: &mut State, event: Event) -> Arc<Event> {
        let version = Version {
            mod_revision: event.kv.mod_revision,
            create_revision: event.kv.create_revision,
            value: match event.kind {
                EventKind::Put => Some(event.kv.value.clone()),
                EventKind::Delete => None,
            },
        };
        state.revision = event.kv.mod_revision;
        state
            .keys
            .entry(event.kv.key.clone())
            .or_default()
            .push(version);
        let event = Arc::new(event);
        state.log.push_back(event.clone());
        self.hub.publish(event.clone());
        event
    }
}

/// Lock the state; a panic elsewhere while holding it cannot leave it half-updated (every
/// mutation completes before anything that could panic), so a poisoned lock is still usable.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl State {
    /// `key`'s version live at `revision`, if any.
    fn at(&self, key: &str, revision: Revision) -> Option<KeyValue> {
        let versions = self.keys.get(key)?;
        version_at(key, versions, revision)
    }

    /// `key`'s current version, if live.
    fn latest(&self, key: &str) -> Option<KeyValue> {
        self.at(key, self.revision)
    }

    /// Live keys under `prefix` (after `after`) at `revision`, in key order.
    fn live<'a>(
        &'a self,
        prefix: &'a str,
        after: Option<&'a str>,
        revision: Revision,
    ) -> impl Iterator<Item = KeyValue> + 'a {
        let lower = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        self.keys
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(move |(key, _)| key.starts_with(prefix))
            .filter_map(move |(key, versions)| version_at(key, versions, revision))
    }
}

/// The version of `key` live at `revision` among `versions` (oldest first).
fn version_at(key: &str, versions: &[Version], revision: Revision) -> Option<KeyValue> {
    let idx = versions.partition_point(|v| v.mod_revision <= revision);
    let version = versions.get(idx.checked_sub(1)?)?;
    let value = version.value.clone()?;
    Some(KeyValue {
        key: key.to_owned(),
        value,
        create_revision: version.create_revision,
        mod_revision: version.mod_revision,
    })
}

/// The memory store's event log, as watches read it.
struct MemoryHistory(Arc<Mutex<State>>);

#[async_trait::async_trait]
impl History for MemoryHistory {
    async fn history(&self, prefix: &str, after: Revision, limit: usize) -> Result<HistoryPage> {
        let state = lock(&self.0);
        hub::check_history(after, state.compacted)?;
        let start = usize::try_from(after - state.compacted).unwrap_or(0);
        let events: Vec<Event> = state
            .log
            .iter()
            .skip(start)
            .filter(|e| e.kv.key.starts_with(prefix))
            .take(limit)
            .map(|e| Event::clone(e))
            .collect();
        let full = limit > 0 && events.len() >= limit;
        Ok(HistoryPage {
            revision: match events.last() {
                Some(last) if full => last.revision(),
                _ => state.revision,
            },
            more: full,
            events,
        })
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(lock(&self.0).revision)
    }
}

#[async_trait::async_trait]
impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &str, revision: Revision) -> Result<Option<KeyValue>> {
        let state = self.lock();
        let revision = hub::read_revision(revision, state.revision, state.compacted)?;
        Ok(state.at(key, revision))
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        let state = self.lock();
        let revision = hub::read_revision(opts.revision, state.revision, state.compacted)?;
        let mut live = state.live(prefix, opts.after.as_deref(), revision);
        let items: Vec<KeyValue> = match opts.limit {
            0 => live.by_ref().collect(),
            limit => live.by_ref().take(limit).collect(),
        };
        let remaining = live.count() as u64;
        Ok(ListResult {
            items,
            revision,
            more: remaining > 0,
            remaining,
        })
    }

    async fn count(&self, prefix: &str) -> Result<u64> {
        let state = self.lock();
        Ok(state.live(prefix, None, state.revision).count() as u64)
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        let mut state = self.lock();
        if state.latest(key).is_some() {
            return Err(Error::KeyExists(key.to_owned()));
        }
        let revision = state.revision + 1;
        let kv = KeyValue {
            key: key.to_owned(),
            value,
            create_revision: revision,
            mod_revision: revision,
        };
        let event = self.commit(
            &mut state,
            Event {
                kind: EventKind::Put,
                kv,
                prev: None,
            },
        );
        Ok(event.kv.clone())
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue> {
        let mut state = self.lock();
        let Some(current) = state.latest(key) else {
            return Err(Error::NotFound(key.to_owned()));
        };
        if current.mod_revision != expected {
            return Err(Error::Conflict {
                key: key.to_owned(),
                expected,
                current: Some(Box::new(current)),
            });
        }
        let kv = KeyValue {
            key: key.to_owned(),
            value,
            create_revision: current.create_revision,
            mod_revision: state.revision + 1,
        };
        let event = self.commit(
            &mut state,
            Event {
                kind: EventKind::Put,
                kv,
                prev: Some(current),
            },
        );
        Ok(event.kv.clone())
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Event> {
        let mut state = self.lock();
        let Some(current) = state.latest(key) else {
            return Err(Error::NotFound(key.to_owned()));
        };
        if let Some(expected) = expected
            && current.mod_revision != expected
        {
            return Err(Error::Conflict {
                key: key.to_owned(),
                expected,
                current: Some(Box::new(current)),
            });
        }
        let kv = KeyValue {
            key: key.to_owned(),
            value: Vec::new(),
            create_revision: current.create_revision,
            mod_revision: state.revision + 1,
        };
        let event = self.commit(
            &mut state,
            Event {
                kind: EventKind::Delete,
                kv,
                prev: Some(current),
            },
        );
        Ok(Event::clone(&event))
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream> {
        let history = Arc::new(MemoryHistory(self.state.clone()));
        self.hub.watch(history, prefix, from).await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let mut state = self.lock();
        if revision > state.revision {
            return Err(Error::FutureRevision {
                requested: revision,
                current: state.revision,
            });
        }
        if revision <= state.compacted {
            return Ok(());
        }
        for versions in state.keys.values_mut() {
            let idx = versions.partition_point(|v| v.mod_revision <= revision);
            let Some(newest) = idx.checked_sub(1).and_then(|i| versions.get(i)) else {
                continue;
            };
            // Keep the version live at `revision` (if it is not a tombstone), drop older ones.
            let keep_newest = usize::from(newest.value.is_some());
            versions.drain(..idx - keep_newest);
        }
        state.keys.retain(|_, versions| !versions.is_empty());
        while state.log.front().is_some_and(|e| e.revision() <= revision) {
            state.log.pop_front();
        }
        state.compacted = revision;
        Ok(())
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.lock().revision)
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.lock().compacted)
    }
}
