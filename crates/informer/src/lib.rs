//! Shared informers: one watch and one cache of a kind, shared by every in-process component
//! that reads it (upstream's `SharedInformerFactory`). Each change is decoded once and each
//! object held once, as an `Arc`, however many components read it: at ten thousand pods, a
//! private watch and cache per component cost a copy of every pod each, and a decode of every
//! change each.
//!
//! Two kinds of subscription:
//!
//! - [`SharedInformer::subscribe`]: every object the watch touches from then on (created,
//!   changed, deleted, each object of a relist, and the objects a relist no longer has, in
//!   their last known state); for kube-runtime controllers' `watches_shared_stream`.
//! - [`SharedInformer::changes`]: [`Change`]s that tell additions from deletions, starting
//!   with the whole current list when the cache is already filled; for components that keep
//!   their own state (a scheduler queue, a kubelet router).
//!
//! Each subscriber has its own unbounded queue, so a slow one delays only itself and no change
//! is dropped.

use std::sync::{Arc, Mutex, PoisonError};

use futures::{Stream, StreamExt};
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// One change to the watched objects.
#[derive(Debug)]
pub enum Change<K> {
    /// Created or changed.
    Applied(Arc<K>),
    /// Deleted (its last state).
    Deleted(Arc<K>),
    /// Every object there is (the first list, or a relist after the watch was interrupted).
    /// Objects the cache held that a relist no longer has come first as [`Change::Deleted`].
    Listed(Vec<Arc<K>>),
}

enum Subscriber<K> {
    Objects(mpsc::UnboundedSender<Arc<K>>),
    Changes(mpsc::UnboundedSender<Change<K>>),
}

impl<K> Subscriber<K> {
    /// Hands over a change; false once the subscriber has gone.
    fn send(&self, change: &Change<K>) -> bool {
        match (self, change) {
            (Subscriber::Changes(tx), Change::Applied(o)) => {
                tx.send(Change::Applied(o.clone())).is_ok()
            }
            (Subscriber::Changes(tx), Change::Deleted(o)) => {
                tx.send(Change::Deleted(o.clone())).is_ok()
            }
            (Subscriber::Changes(tx), Change::Listed(all)) => {
                tx.send(Change::Listed(all.clone())).is_ok()
            }
            (Subscriber::Objects(tx), Change::Applied(o) | Change::Deleted(o)) => {
                tx.send(o.clone()).is_ok()
            }
            (Subscriber::Objects(tx), Change::Listed(all)) => {
                all.iter().all(|o| tx.send(o.clone()).is_ok())
            }
        }
    }
}

type Subscribers<K> = Arc<Mutex<Vec<Subscriber<K>>>>;

/// What a shared informer can watch: a typed, statically known Kubernetes kind.
pub trait Watched:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
}

impl<K> Watched for K where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// A shared watch of every object of `K` and the cache it keeps.
pub struct SharedInformer<K: Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    subscribers: Subscribers<K>,
    /// Set once the first list is in the cache.
    ready: watch::Receiver<bool>,
}

impl<K: Resource<DynamicType = ()> + 'static> Clone for SharedInformer<K> {
    fn clone(&self) -> Self {
        SharedInformer {
            store: self.store.clone(),
            subscribers: self.subscribers.clone(),
            ready: self.ready.clone(),
        }
    }
}

impl<K> SharedInformer<K>
where
    K: Watched,
{
    /// Starts watching every object `api` reaches, until `shutdown`.
    pub fn start(api: Api<K>, shutdown: CancellationToken) -> Self {
        let (store, writer) = reflector::store();
        let subscribers: Subscribers<K> = Arc::default();
        let (ready_tx, ready) = watch::channel(false);
        let cache = Cache {
            writer,
            store: store.clone(),
            listed: Vec::new(),
            ready: ready_tx,
        };
        tokio::spawn(feed(api, cache, subscribers.clone(), shutdown));
        SharedInformer {
            store,
            subscribers,
            ready,
        }
    }

    /// The cache (complete once [`SharedInformer::wait_until_ready`] returns true).
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// Waits until the first list is in the cache; false if the watch ended first. Use this
    /// rather than the store's own `wait_until_ready`, which wakes only one of several tasks
    /// waiting at once (kube-runtime 5's `DelayedInit` keeps one waker).
    pub async fn wait_until_ready(&self) -> bool {
        let mut ready = self.ready.clone();
        ready.wait_for(|r| *r).await.is_ok()
    }

    /// [`SharedInformer::wait_until_ready`], giving up (false) when `shutdown` comes first:
    /// for components whose run ends before the informer's (a leader term).
    pub async fn wait_until_ready_or(&self, shutdown: &CancellationToken) -> bool {
        tokio::select! {
            _ = shutdown.cancelled() => false,
            ready = self.wait_until_ready() => ready,
        }
    }

    /// Subscribes ([`SharedInformer::subscribe`]), then waits until the cache is filled: the
    /// subscription and the cache, or `None` when `shutdown` (a controller's leader term, say)
    /// ends first.
    pub async fn subscribe_when_ready(
        &self,
        shutdown: &CancellationToken,
    ) -> Option<(impl Stream<Item = Arc<K>> + Send + 'static, Store<K>)> {
        let objects = self.subscribe();
        self.wait_until_ready_or(shutdown)
            .await
            .then(|| (objects, self.store()))
    }

    /// Every object the watch touches from now on.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().push(Subscriber::Objects(tx));
        tokio_stream::wrappers::UnboundedReceiverStream::new(rx)
    }

    /// The changes from now on, starting with [`Change::Listed`] of the whole cache if it is
    /// already filled (otherwise the first list comes as it arrives).
    pub fn changes(&self) -> impl Stream<Item = Change<K>> + Send + 'static {
        let (tx, rx) = mpsc::unbounded_channel();
        // Under the lock the feed holds while it changes the cache, so nothing falls between
        // the snapshot and the first change queued after it.
        let mut subscribers = self.lock();
        if *self.ready.borrow() {
            let _ = tx.send(Change::Listed(self.store.state()));
        }
        subscribers.push(Subscriber::Changes(tx));
        tokio_stream::wrappers::UnboundedReceiverStream::new(rx)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber<K>>> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The cache and what a watch event changes in it.
struct Cache<K: Resource<DynamicType = ()> + Clone + 'static> {
    writer: reflector::store::Writer<K>,
    store: Store<K>,
    /// The objects of the list being received.
    listed: Vec<ObjectRef<K>>,
    ready: watch::Sender<bool>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Cache<K> {
    /// Applies one watch event and returns the changes to hand the subscribers, in order.
    /// Objects of a list are handed over once the list is complete, as the very `Arc`s the
    /// cache holds; a relist replaces the cache, and what it no longer holds (deleted while
    /// the watch was down) comes first as [`Change::Deleted`].
    fn apply(&mut self, event: watcher::Event<K>) -> Vec<Change<K>> {
        let before = matches!(event, watcher::Event::InitDone).then(|| self.store.state());
        self.writer.apply_watcher_event(&event);
        match event {
            watcher::Event::Apply(obj) => {
                let key = ObjectRef::from_obj(&obj);
                vec![Change::Applied(
                    self.store.get(&key).unwrap_or_else(|| Arc::new(obj)),
                )]
            }
            watcher::Event::Delete(obj) => vec![Change::Deleted(Arc::new(obj))],
            watcher::Event::Init => {
                self.listed.clear();
                Vec::new()
            }
            watcher::Event::InitApply(obj) => {
                self.listed.push(ObjectRef::from_obj(&obj));
                Vec::new()
            }
            watcher::Event::InitDone => {
                self.ready.send_replace(true);
                let mut changes: Vec<Change<K>> = before
                    .into_iter()
                    .flatten()
                    .filter(|old| self.store.get(&ObjectRef::from_obj(&**old)).is_none())
                    .map(Change::Deleted)
                    .collect();
                changes.push(Change::Listed(
                    std::mem::take(&mut self.listed)
                        .iter()
                        .filter_map(|key| self.store.get(key))
                        .collect(),
                ));
                changes
            }
        }
    }
}

/// Keeps the cache and hands each change to the subscribers.
async fn feed<K>(
    api: Api<K>,
    mut cache: Cache<K>,
    subscribers: Subscribers<K>,
    shutdown: CancellationToken,
) where
    K: Watched,
{
    let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = events.next() => event,
        };
        let event = match event {
            Some(Ok(event)) => event,
            Some(Err(error)) => {
                warn!(%error, kind = %K::kind(&()), "shared watch failed; retrying");
                continue;
            }
            None => return,
        };
        // The lock is held while the cache changes, so a new subscriber's snapshot and the
        // changes queued after it never overlap or leave a gap.
        let mut subscribers = subscribers.lock().unwrap_or_else(PoisonError::into_inner);
        for change in cache.apply(event) {
            subscribers.retain(|s| s.send(&change));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn map(name: &str, value: &str) -> ConfigMap {
        let mut m = ConfigMap::default();
        m.metadata.name = Some(name.into());
        m.metadata.namespace = Some("ns".into());
        m.data = Some([("k".to_string(), value.to_string())].into());
        m
    }

    fn names(changes: &[Change<ConfigMap>]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                Change::Applied(o) => {
                    format!("applied {}", o.metadata.name.clone().unwrap_or_default())
                }
                Change::Deleted(o) => {
                    format!("deleted {}", o.metadata.name.clone().unwrap_or_default())
                }
                Change::Listed(all) => {
                    let mut n: Vec<String> =
                        all.iter().filter_map(|o| o.metadata.name.clone()).collect();
                    n.sort();
                    format!("listed {}", n.join(","))
                }
            })
            .collect()
    }

    #[test]
    fn a_relist_reports_what_vanished_then_the_whole_list() {
        let (store, writer) = reflector::store();
        let (ready, readiness) = watch::channel(false);
        let mut cache = Cache {
            writer,
            store: store.clone(),
            listed: Vec::new(),
            ready,
        };
        let mut all = Vec::new();
        for event in [
            watcher::Event::Init,
            watcher::Event::InitApply(map("a", "1")),
            watcher::Event::InitApply(map("b", "1")),
        ] {
            all.extend(cache.apply(event));
        }
        assert!(
            all.is_empty() && !*readiness.borrow(),
            "nothing before the list is complete"
        );
        let listed = cache.apply(watcher::Event::InitDone);
        assert_eq!(names(&listed), ["listed a,b"]);
        assert!(*readiness.borrow());
        // The list hands over the cache's own objects.
        if let Change::Listed(objs) = &listed[0] {
            for o in objs {
                let cached = store.get(&ObjectRef::from_obj(&**o)).expect("cached");
                assert!(Arc::ptr_eq(o, &cached));
            }
        }
        assert_eq!(
            names(&cache.apply(watcher::Event::Apply(map("c", "1")))),
            ["applied c"]
        );
        assert_eq!(
            names(&cache.apply(watcher::Event::Delete(map("a", "1")))),
            ["deleted a"]
        );
        // The watch broke; meanwhile c was deleted and d created.
        for event in [
            watcher::Event::Init,
            watcher::Event::InitApply(map("b", "2")),
            watcher::Event::InitApply(map("d", "1")),
        ] {
            assert!(cache.apply(event).is_empty());
        }
        let relisted = cache.apply(watcher::Event::InitDone);
        assert_eq!(names(&relisted), ["deleted c", "listed b,d"]);
        let mut cached: Vec<String> = store
            .state()
            .iter()
            .filter_map(|o| o.metadata.name.clone())
            .collect();
        cached.sort();
        assert_eq!(cached, ["b", "d"]);
    }
}
