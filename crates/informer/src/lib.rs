//! Shared informers: one watch and one cache of a kind, shared by every in-process component
//! that reads it (upstream's `SharedInformerFactory`). Each change is decoded once and each
//! object held once, as an `Arc`, however many components read it: at ten thousand pods, a
//! private watch and cache per component cost a copy of every pod each, and a decode of every
//! change each.
//!
//! Two kinds of subscription:
//!
//! - [`SharedInformer::subscribe`]: every object the watch touches from then on (created,
//!   changed, deleted, and each object of a relist), as the `touched_objects` of a private
//!   reflector would; for kube-runtime controllers' `watches_shared_stream`.
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
    /// Every object there is (the first list, or a relist after the watch was interrupted):
    /// what is not in it is gone.
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
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    /// Starts watching every object `api` reaches, until `shutdown`.
    pub fn start(api: Api<K>, shutdown: CancellationToken) -> Self {
        let (store, writer) = reflector::store();
        let subscribers: Subscribers<K> = Arc::default();
        let (ready_tx, ready) = watch::channel(false);
        tokio::spawn(feed(
            api,
            writer,
            store.clone(),
            subscribers.clone(),
            ready_tx,
            shutdown,
        ));
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

/// Keeps the cache and hands each change to the subscribers. Objects of a list are handed
/// over once the list is complete, as the very `Arc`s the cache holds.
async fn feed<K>(
    api: Api<K>,
    mut writer: reflector::store::Writer<K>,
    store: Store<K>,
    subscribers: Subscribers<K>,
    ready: watch::Sender<bool>,
    shutdown: CancellationToken,
) where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
    let mut listed: Vec<ObjectRef<K>> = Vec::new();
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
        let mut subscribers = subscribers.lock().unwrap_or_else(PoisonError::into_inner);
        writer.apply_watcher_event(&event);
        let change = match event {
            watcher::Event::Apply(obj) => {
                let key = ObjectRef::from_obj(&obj);
                Change::Applied(store.get(&key).unwrap_or_else(|| Arc::new(obj)))
            }
            watcher::Event::Delete(obj) => Change::Deleted(Arc::new(obj)),
            watcher::Event::Init => {
                listed.clear();
                continue;
            }
            watcher::Event::InitApply(obj) => {
                listed.push(ObjectRef::from_obj(&obj));
                continue;
            }
            watcher::Event::InitDone => {
                ready.send_replace(true);
                Change::Listed(
                    std::mem::take(&mut listed)
                        .iter()
                        .filter_map(|key| store.get(key))
                        .collect(),
                )
            }
        };
        subscribers.retain(|s| s.send(&change));
    }
}
