//! Machinery shared by the in-tree backends: the watch hub (a broadcast of committed events plus
//! history replay, lag recovery and de-duplication) and the read-revision rules.
//!
//! A backend owns one [`Hub`] and publishes every committed event to it, in revision order, with
//! no gaps. A watch subscribes first, then replays the backend's [`History`] after `from`, then
//! follows the live broadcast, skipping anything at or below the last revision it has accounted
//! for. When the broadcast overflows (`Lagged`), the watch re-reads history from that revision,
//! so a slow watcher loses nothing; if that history has been compacted it ends with `Compacted`.
//!
//! The broadcast is split by resource (the key's first four `/`-separated parts, as in
//! `/registry/core/pods/`): a watch within one resource hears only that resource's events. A
//! namespaces watch is then neither woken by nor made to lag behind the pods traffic of a busy
//! cluster, and a lagging watch re-reads only when its own resource outran it. A watch whose
//! prefix spans resources follows the broadcast of every event.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::{Error, Event, Result, Revision, WatchStream};

/// How many events one history read returns at most.
pub(crate) const HISTORY_PAGE: usize = 1000;

/// Events read from a backend's history, and how far that read got.
pub(crate) struct HistoryPage {
    /// Events under the prefix, oldest first.
    pub events: Vec<Event>,
    /// Every event under the prefix at or below this revision (and after the read's start)
    /// is in `events`: the current revision when the read reached it, else the last revision
    /// the read covered.
    pub revision: Revision,
    /// The read stopped before the current revision (a full page, or the backend bounds how
    /// much of its log one read scans): more history may follow `revision`.
    pub more: bool,
}

/// A backend's event history, as a watch needs it.
#[async_trait::async_trait]
pub(crate) trait History: Send + Sync + 'static {
    /// Up to `limit` events under `prefix` with revision `> after`, oldest first.
    /// `Compacted` when `after` is older than the compacted revision.
    async fn history(&self, prefix: &str, after: Revision, limit: usize) -> Result<HistoryPage>;

    /// The store's current revision.
    async fn current_revision(&self) -> Result<Revision>;
}

/// How far a watch spanning resources may fall behind the broadcast of every event before it
/// re-reads history.
pub(crate) const ALL_CAPACITY: usize = 1024;
/// How far a watch within one resource may fall behind that resource's broadcast. A watched
/// resource's broadcast holds this many slots (about 40 bytes each) from its first watch on.
pub(crate) const RESOURCE_CAPACITY: usize = 256;

/// Fan-out of committed events to every watch.
pub(crate) struct Hub {
    /// How far (in events of its resource) a watch within one resource may fall behind.
    resource_capacity: usize,
    /// Every event, for watches whose prefix spans resources.
    all: broadcast::Sender<Arc<Event>>,
    /// Per resource prefix ([`resource_of`]), that resource's events; made by the first watch
    /// of the resource and kept (one per resource kind ever watched).
    by_resource: RwLock<HashMap<String, broadcast::Sender<Arc<Event>>>>,
}

/// The resource part of a key or watch prefix: up to and including its fourth `/`
/// (`/registry/core/pods/` of `/registry/core/pods/default/web-0`). `None` when it has fewer,
/// which for a watch prefix means it may span resources.
fn resource_of(key: &str) -> Option<&str> {
    key.match_indices('/').nth(3).map(|(at, _)| &key[..=at])
}

impl Hub {
    /// A hub whose watchers may fall `all` events behind (a watch spanning resources) or
    /// `per_resource` events of their resource behind before they re-read history.
    pub(crate) fn new(all: usize, per_resource: usize) -> Self {
        let (all, _) = broadcast::channel(all.max(1));
        Self {
            resource_capacity: per_resource.max(1),
            all,
            by_resource: RwLock::default(),
        }
    }

    /// Publish one committed event. Callers publish in strictly increasing revision order.
    pub(crate) fn publish(&self, event: Arc<Event>) {
        // `send` only fails when nobody is watching, which is fine.
        if let Some(resource) = resource_of(&event.kv.key) {
            let channels = self.by_resource.read().unwrap_or_else(|p| p.into_inner());
            if let Some(tx) = channels.get(resource) {
                let _ = tx.send(event.clone());
            }
        }
        if self.all.receiver_count() > 0 {
            let _ = self.all.send(event);
        }
    }

    /// A receiver of every event a watch of `prefix` can match.
    fn subscribe(&self, prefix: &str) -> broadcast::Receiver<Arc<Event>> {
        let Some(resource) = resource_of(prefix) else {
            return self.all.subscribe();
        };
        if let Some(tx) = self
            .by_resource
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(resource)
        {
            return tx.subscribe();
        }
        self.by_resource
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(resource.to_owned())
            .or_insert_with(|| broadcast::channel(self.resource_capacity).0)
            .subscribe()
    }

    /// A watch of `prefix` delivering every event with revision `> from` (`from <= 0`: from now).
    /// Returns `Compacted` right away when the first history read cannot be served.
    pub(crate) async fn watch(
        &self,
        history: Arc<dyn History>,
        prefix: &str,
        from: Revision,
    ) -> Result<WatchStream> {
        // Subscribe before reading anything: every event committed after the history read below
        // is then guaranteed to arrive through `rx`.
        let rx = self.subscribe(prefix);
        let mut state = WatchState {
            rx,
            history,
            prefix: prefix.to_owned(),
            pending: VecDeque::new(),
            watermark: from,
            needs_history: false,
            done: false,
        };
        if from <= 0 {
            state.watermark = state.history.current_revision().await?;
        } else {
            let page = state
                .history
                .history(&state.prefix, from, HISTORY_PAGE)
                .await?;
            state.absorb(page);
        }
        let stream = futures::stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        });
        Ok(stream.boxed())
    }
}

/// One watch's progress.
struct WatchState {
    rx: broadcast::Receiver<Arc<Event>>,
    history: Arc<dyn History>,
    prefix: String,
    /// History events read but not yet delivered.
    pending: VecDeque<Event>,
    /// Every matching event at or below this revision has been delivered or queued in `pending`.
    watermark: Revision,
    /// History after `watermark` still has to be read before following the broadcast.
    needs_history: bool,
    /// The stream has ended (after an error or when the store closed).
    done: bool,
}

impl WatchState {
    /// Queue a page of history and move the watermark past it.
    fn absorb(&mut self, page: HistoryPage) {
        if let Some(last) = page.events.last() {
            self.watermark = self.watermark.max(last.revision());
        }
        self.watermark = self.watermark.max(page.revision);
        // With more to come, read it before following the broadcast.
        self.needs_history = page.more;
        self.pending.extend(page.events);
    }

    /// The next event (or the error that ends the watch); `None` once the watch has ended.
    async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            if self.needs_history {
                match self
                    .history
                    .history(&self.prefix, self.watermark, HISTORY_PAGE)
                    .await
                {
                    Ok(page) => self.absorb(page),
                    Err(error) => {
                        self.done = true;
                        return Some(Err(error));
                    }
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(event) => {
                    if event.revision() <= self.watermark {
                        continue;
                    }
                    // The broadcast carries every revision of the resource (or of the store) in
                    // order, so everything of the prefix up to this one is now accounted for,
                    // whether or not this event matches the prefix.
                    self.watermark = event.revision();
                    if event.kv.key.starts_with(&self.prefix) {
                        return Some(Ok(Event::clone(&event)));
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!(prefix = %self.prefix, skipped, "watch lagged; re-reading history");
                    self.needs_history = true;
                }
                Err(RecvError::Closed) => {
                    self.done = true;
                    return Some(Err(Error::Closed));
                }
            }
        }
    }
}

/// The revision a read at `requested` is served at, given the store's `current` and `compacted`
/// revisions: `requested <= 0` means `current` (as in etcd); older than `compacted` answers
/// `Compacted`, newer than `current` answers `FutureRevision`.
pub(crate) fn read_revision(
    requested: Revision,
    current: Revision,
    compacted: Revision,
) -> Result<Revision> {
    if requested <= 0 {
        return Ok(current);
    }
    if requested > current {
        return Err(Error::FutureRevision { requested, current });
    }
    if requested < compacted {
        return Err(Error::Compacted {
            requested,
            compacted,
        });
    }
    Ok(requested)
}

/// `Compacted` when a watch or history read after `after` needs events the store has dropped.
pub(crate) fn check_history(after: Revision, compacted: Revision) -> Result<()> {
    if after < compacted {
        return Err(Error::Compacted {
            requested: after,
            compacted,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{EventKind, KeyValue};

    /// A history with nothing in it that counts its reads.
    #[derive(Default)]
    struct Counting {
        reads: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl History for Counting {
        async fn history(&self, _: &str, after: Revision, _: usize) -> Result<HistoryPage> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(HistoryPage {
                events: Vec::new(),
                revision: after,
                more: false,
            })
        }

        async fn current_revision(&self) -> Result<Revision> {
            Ok(1)
        }
    }

    fn put(key: &str, revision: Revision) -> Arc<Event> {
        Arc::new(Event {
            kind: EventKind::Put,
            kv: KeyValue {
                key: key.into(),
                value: b"v".to_vec(),
                create_revision: revision,
                mod_revision: revision,
            },
            prev: None,
        })
    }

    #[test]
    fn the_resource_of_a_key_is_its_first_four_parts() {
        assert_eq!(
            resource_of("/registry/core/pods/default/web-0"),
            Some("/registry/core/pods/")
        );
        assert_eq!(
            resource_of("/registry/core/pods/"),
            Some("/registry/core/pods/")
        );
        assert_eq!(resource_of("/registry/core/pods"), None);
        assert_eq!(resource_of("/registry/"), None);
        assert_eq!(resource_of(""), None);
    }

    #[tokio::test]
    async fn a_watch_is_not_made_to_lag_by_other_resources() {
        let hub = Hub::new(8, 8);
        let history = Arc::new(Counting::default());
        let mut namespaces = hub
            .watch(history.clone(), "/registry/core/namespaces/", 0)
            .await
            .expect("watch");
        let mut everything = hub
            .watch(history.clone(), "/registry/", 0)
            .await
            .expect("watch");
        // Far more pod events than the broadcast holds, then one namespace.
        for rev in 2..100 {
            hub.publish(put(&format!("/registry/core/pods/default/p{rev}"), rev));
        }
        hub.publish(put("/registry/core/namespaces/demo", 100));
        let event = namespaces.next().await.expect("an event").expect("ok");
        assert_eq!(event.kv.key, "/registry/core/namespaces/demo");
        assert_eq!(
            history.reads.load(Ordering::SeqCst),
            0,
            "the namespaces watch re-read history, as if the pods had overrun it"
        );
        // The watch across resources did fall behind the 98 pod events: it re-reads.
        let _ = everything.next().await;
        assert!(history.reads.load(Ordering::SeqCst) > 0);
    }

    #[tokio::test]
    async fn a_watch_across_resources_hears_them_all() {
        let hub = Hub::new(64, 64);
        let history = Arc::new(Counting::default());
        let mut all = hub
            .watch(history.clone(), "/registry/", 0)
            .await
            .expect("watch");
        let mut pods = hub
            .watch(history.clone(), "/registry/core/pods/default/", 0)
            .await
            .expect("watch");
        hub.publish(put("/registry/core/pods/other/a", 2));
        hub.publish(put("/registry/core/namespaces/demo", 3));
        hub.publish(put("/registry/core/pods/default/b", 4));
        let mut keys = Vec::new();
        for _ in 0..3 {
            keys.push(all.next().await.expect("event").expect("ok").kv.key);
        }
        assert_eq!(
            keys,
            [
                "/registry/core/pods/other/a",
                "/registry/core/namespaces/demo",
                "/registry/core/pods/default/b"
            ]
        );
        let event = pods.next().await.expect("event").expect("ok");
        assert_eq!(event.kv.key, "/registry/core/pods/default/b");
        assert_eq!(history.reads.load(Ordering::SeqCst), 0);
    }
}
