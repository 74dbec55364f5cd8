//! One watch and one cache of a kind, shared by every controller that reads it (upstream's
//! shared informers). Each change is decoded once and each object held once, as an `Arc`,
//! however many controllers read it: at ten thousand pods, a private watch and cache per
//! controller cost a copy of every pod each, and a decode of every change each.
//!
//! Subscribers get every object the watch touches (created, changed, deleted, and each object
//! of a relist), as the `touched_objects` of a private reflector would. Each subscriber has its
//! own unbounded queue, so a slow controller delays only itself and no change is dropped; a
//! subscriber that joins late sees changes from then on (its own primary watch, listing every
//! primary object, is what reconciles everything at start).

use std::sync::{Arc, Mutex, PoisonError};

use futures::{Stream, StreamExt};
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::debug;

type Subscribers<K> = Arc<Mutex<Vec<mpsc::UnboundedSender<Arc<K>>>>>;

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
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        tokio_stream::wrappers::UnboundedReceiverStream::new(rx)
    }
}

/// Keeps the cache and hands each touched object to the subscribers. Objects of a list are
/// handed over once the list is complete, as the very `Arc`s the cache holds.
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
                debug!(%error, kind = %K::kind(&()), "shared watch failed; retrying");
                continue;
            }
            None => return,
        };
        writer.apply_watcher_event(&event);
        let touched: Vec<Arc<K>> = match event {
            watcher::Event::Apply(obj) => {
                let key = ObjectRef::from_obj(&obj);
                vec![store.get(&key).unwrap_or_else(|| Arc::new(obj))]
            }
            watcher::Event::Delete(obj) => vec![Arc::new(obj)],
            watcher::Event::Init => {
                listed.clear();
                Vec::new()
            }
            watcher::Event::InitApply(obj) => {
                listed.push(ObjectRef::from_obj(&obj));
                Vec::new()
            }
            watcher::Event::InitDone => {
                ready.send_replace(true);
                std::mem::take(&mut listed)
                    .iter()
                    .filter_map(|key| store.get(key))
                    .collect()
            }
        };
        if touched.is_empty() {
            continue;
        }
        let mut subscribers = subscribers.lock().unwrap_or_else(PoisonError::into_inner);
        subscribers.retain(|tx| touched.iter().all(|obj| tx.send(obj.clone()).is_ok()));
    }
}
