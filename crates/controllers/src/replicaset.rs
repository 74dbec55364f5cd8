//! The ReplicaSet controller, as kube-controller-manager's `replicaset` controller: it adopts
//! and releases pods by selector and controller reference, creates missing pods from the
//! template in slow-start batches (1, 2, 4, ...), deletes surplus pods picking victims by
//! upstream's ranking, keeps *expectations* so it does not act twice while its watches catch
//! up, and writes `status` (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
//! observedGeneration, the `ReplicaFailure` condition).
//!
//! It also holds the small pieces the deployment controller shares: the namespace-indexed
//! [`Informer`] cache, controller references and pod readiness/availability.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use events::EventType;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use informer::{Change, SharedInformer};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::garbage_collector::queue::WorkQueue;
use crate::{Error, api_status, error_chain, is_not_found};

/// The reporting controller name of the events this controller writes.
pub const CONTROLLER_NAME: &str = "replicaset-controller";
/// Most pods created or deleted in one sync (upstream's `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;
/// The first slow-start batch size (upstream's `SlowStartInitialBatchSize`).
pub const SLOW_START_INITIAL_BATCH_SIZE: usize = 1;
/// Expectations older than this (simulated) are considered satisfied
/// (upstream's `ExpectationsTimeout`).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Concurrent syncs (upstream's `--concurrent-replicaset-syncs` default).
pub const WORKERS: usize = 5;
/// The annotation ranking pods for deletion (`controller.kubernetes.io/pod-deletion-cost`).
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The event reasons of upstream's pod control.
const SUCCESSFUL_CREATE: &str = "SuccessfulCreate";
const FAILED_CREATE: &str = "FailedCreate";
const SUCCESSFUL_DELETE: &str = "SuccessfulDelete";
const FAILED_DELETE: &str = "FailedDelete";

// ---------------------------------------------------------------------------------------------
// Shared helpers (also used by the deployment controller)
// ---------------------------------------------------------------------------------------------

/// `namespace/name`, the work-queue key of a namespaced object.
pub(crate) fn key_of(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

/// Splits a `namespace/name` key.
pub(crate) fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

/// The owner reference with `controller: true`, if any.
pub(crate) fn controller_ref(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|r| r.controller == Some(true))
}

/// A controller reference to `owner` (upstream's `metav1.NewControllerRef`).
pub(crate) fn new_controller_ref(
    meta: &ObjectMeta,
    api_version: &str,
    kind: &str,
) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The selector of a label selector; `None` (upstream: "nothing") when it is invalid.
pub(crate) fn selector_of(selector: Option<&LabelSelector>) -> Option<Selector> {
    Selector::try_from(selector?.clone()).ok()
}

/// Labels of an object as the map selectors match.
pub(crate) fn labels_of(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

/// Whether a pod counts toward its controller's replicas (upstream's `IsPodActive`).
pub(crate) fn is_pod_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded" | "Failed")) && pod.metadata.deletion_timestamp.is_none()
}

/// The `Ready` condition of a pod when it is `True`.
fn ready_since(pod: &Pod) -> Option<Option<&Time>> {
    pod.status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .map(|c| c.last_transition_time.as_ref())
}

/// Whether a pod's `Ready` condition is `True` (upstream's `IsPodReady`).
pub(crate) fn is_pod_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Whether a pod has been ready for at least `min_ready_seconds` of simulated time
/// (upstream's `IsPodAvailable`).
pub(crate) fn is_pod_available(
    pod: &Pod,
    min_ready_seconds: i32,
    clock: &api::clock::Clock,
) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => false,
        Some(Some(since)) => {
            clock.elapsed_since(since.0) > Duration::from_secs(min_ready_seconds as u64)
        }
    }
}

/// The message of an API error as upstream prints it (the Status message), or the error.
pub(crate) fn api_message(error: &kube::Error) -> String {
    match api_status(error) {
        Some(status) if !status.message.is_empty() => status.message.clone(),
        _ => error.to_string(),
    }
}

/// Whether the API error carries the status cause `cause` (upstream's `HasStatusCause`).
pub(crate) fn has_status_cause(error: &kube::Error, cause: &str) -> bool {
    api_status(error)
        .and_then(|s| s.details.as_ref())
        .is_some_and(|d| d.causes.iter().any(|c| c.reason == cause))
}

/// The current wall-clock time with second precision, as `metav1.Time` serializes it.
pub(crate) fn now_time(clock: &api::clock::Clock) -> Time {
    let now = clock.now();
    Time(jiff::Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// Writes events for one controller (see the `events` crate: repeats of the same event
/// form a series, different messages are different events, as upstream).
pub(crate) struct EventSink(events::Recorder);

impl EventSink {
    /// A sink reporting as `controller`.
    pub(crate) fn new(client: Client, controller: &str) -> Self {
        EventSink(events::Recorder::new(client, controller, None))
    }
}

/// Publishes an event, logging (not failing) when the API refuses it.
pub(crate) async fn record(
    events: &EventSink,
    object: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: String,
) {
    events.0.publish(object, type_, reason, reason, note).await;
}

/// Names of cached objects per namespace and per controlling owner.
#[derive(Debug, Default)]
struct Indexes {
    /// Namespace -> names.
    by_namespace: HashMap<String, BTreeSet<String>>,
    /// Controller uid (or [`orphan_key`] of the namespace) -> (namespace, name).
    by_owner: HashMap<String, BTreeSet<(String, String)>>,
}

/// The owner-index key of objects without a controller in namespace `ns`.
fn orphan_key(ns: &str) -> String {
    format!("\0orphans\0{ns}")
}

fn owner_key(meta: &ObjectMeta) -> String {
    match controller_ref(meta) {
        Some(r) => r.uid.clone(),
        None => orphan_key(meta.namespace.as_deref().unwrap_or("")),
    }
}

impl Indexes {
    fn insert(&mut self, meta: &ObjectMeta) {
        let ns = meta.namespace.clone().unwrap_or_default();
        let name = meta.name.clone().unwrap_or_default();
        self.by_namespace
            .entry(ns.clone())
            .or_default()
            .insert(name.clone());
        self.by_owner
            .entry(owner_key(meta))
            .or_default()
            .insert((ns, name));
    }

    fn remove(&mut self, meta: &ObjectMeta) {
        let ns = meta.namespace.clone().unwrap_or_default();
        let name = meta.name.clone().unwrap_or_default();
        if let Some(names) = self.by_namespace.get_mut(&ns) {
            names.remove(&name);
            if names.is_empty() {
                self.by_namespace.remove(&ns);
            }
        }
        let key = owner_key(meta);
        if let Some(objects) = self.by_owner.get_mut(&key) {
            objects.remove(&(ns, name));
            if objects.is_empty() {
                self.by_owner.remove(&key);
            }
        }
    }
}

/// A watched cache of one resource: a reflector store plus indexes by namespace and by
/// controlling owner, so a controller reads its own objects (as upstream's controller-uid pod
/// index does) without scanning the cluster.
pub(crate) struct Informer<K: Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    indexes: Arc<RwLock<Indexes>>,
    /// Set once the first list is in the store and the indexes.
    ready: watch::Receiver<bool>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Informer {
            store: self.store.clone(),
            indexes: Arc::clone(&self.indexes),
            ready: self.ready.clone(),
        }
    }
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Informer<K> {
    fn indexes(&self) -> std::sync::RwLockReadGuard<'_, Indexes> {
        self.indexes.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached object `ns/name`.
    pub(crate) fn get(&self, ns: &str, name: &str) -> Option<Arc<K>> {
        self.store.get(&ObjectRef::new(name).within(ns))
    }

    /// Every cached object of namespace `ns`.
    pub(crate) fn in_namespace(&self, ns: &str) -> Vec<Arc<K>> {
        let names: Vec<String> = self
            .indexes()
            .by_namespace
            .get(ns)
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default();
        names.iter().filter_map(|n| self.get(ns, n)).collect()
    }

    /// Cached objects whose controller has uid `uid`.
    pub(crate) fn owned_by(&self, uid: &str) -> Vec<Arc<K>> {
        self.by_owner_key(uid)
    }

    /// Cached objects of namespace `ns` without a controller.
    pub(crate) fn orphans(&self, ns: &str) -> Vec<Arc<K>> {
        self.by_owner_key(&orphan_key(ns))
    }

    fn by_owner_key(&self, key: &str) -> Vec<Arc<K>> {
        let objects: Vec<(String, String)> = self
            .indexes()
            .by_owner
            .get(key)
            .map(|o| o.iter().cloned().collect())
            .unwrap_or_default();
        objects
            .iter()
            .filter_map(|(ns, name)| self.get(ns, name))
            .collect()
    }

    /// Every cached object.
    pub(crate) fn all(&self) -> Vec<Arc<K>> {
        self.store.state()
    }

    /// Waits for the first list.
    pub(crate) async fn ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }
}

/// What an informer's handler is told, before the informer's indexes change (its `old`
/// argument is the object's previous version, if it had one).
pub(crate) enum Seen<'a, K> {
    /// Created or changed, or listed.
    Applied(&'a K),
    /// Deleted (its last state).
    Deleted(&'a K),
    /// A list (the first, or a relist after the watch was interrupted) is complete.
    Listed,
}

/// Starts an [`Informer`] over `api`: objects pass `strip` (to drop fields the controller
/// never reads) and then `handler`, which sees every event *before* the cache applies it, with
/// the cached previous version.
pub(crate) fn informer<K, S, H>(
    api: Api<K>,
    mut strip: S,
    mut handler: H,
) -> (Informer<K>, BoxFuture<'static, ()>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    S: FnMut(&mut K) + Send + 'static,
    H: FnMut(Option<&K>, Seen<'_, K>) + Send + 'static,
{
    let (reader, writer) = reflector::store();
    let indexes: Arc<RwLock<Indexes>> = Arc::default();
    let (ready_tx, ready) = watch::channel(false);
    let informer = Informer {
        store: reader.clone(),
        indexes: Arc::clone(&indexes),
        ready,
    };
    let mut building: Option<Indexes> = None;
    let kind = K::kind(&()).to_string();
    let task = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(move |obj| {
            obj.meta_mut().managed_fields = None;
            strip(obj)
        })
        .filter_map(move |event| {
            let out = match event {
                Ok(event) => Some(event),
                Err(error) => {
                    warn!(kind = %kind, error = %error_chain(&error), "watch failed; retrying");
                    None
                }
            };
            futures::future::ready(out.map(Ok::<_, watcher::Error>))
        })
        .map(move |event| {
            if let Ok(event) = &event {
                match event {
                    Event::Apply(obj) | Event::InitApply(obj) => handler(
                        reader.get(&ObjectRef::from_obj(obj)).as_deref(),
                        Seen::Applied(obj),
                    ),
                    Event::Delete(obj) => handler(None, Seen::Deleted(obj)),
                    Event::Init => {}
                    Event::InitDone => handler(None, Seen::Listed),
                }
                let mut idx = indexes.write().unwrap_or_else(PoisonError::into_inner);
                match event {
                    Event::Apply(obj) | Event::Delete(obj) => {
                        if let Some(old) = reader.get(&ObjectRef::from_obj(obj)) {
                            idx.remove(old.meta());
                        }
                        idx.remove(obj.meta());
                        if matches!(event, Event::Apply(_)) {
                            idx.insert(obj.meta());
                        }
                    }
                    Event::Init => building = Some(Indexes::default()),
                    Event::InitApply(obj) => building
                        .get_or_insert_with(Indexes::default)
                        .insert(obj.meta()),
                    Event::InitDone => *idx = building.take().unwrap_or_default(),
                }
            }
            event
        })
        .reflect(writer)
        .for_each(move |event| {
            if let Ok(Event::InitDone) = event {
                ready_tx.send_replace(true);
            }
            futures::future::ready(())
        })
        .boxed();
    (informer, task)
}

/// An [`Informer`] over a shared informer's cache: it holds no copy of the objects, only its
/// indexes and a reference to the last version of each object it handled (the `old` its
/// handler is given), and it decodes nothing.
pub(crate) fn shared_informer<K, H>(
    shared: &SharedInformer<K>,
    handler: H,
) -> (Informer<K>, BoxFuture<'static, ()>)
where
    K: informer::Watched,
    H: FnMut(Option<&K>, Seen<'_, K>) + Send + 'static,
{
    let indexes: Arc<RwLock<Indexes>> = Arc::default();
    let (ready_tx, ready) = watch::channel(false);
    let informer = Informer {
        store: shared.store(),
        indexes: Arc::clone(&indexes),
        ready,
    };
    let mut feed = SharedFeed {
        seen: HashMap::new(),
        indexes,
        handler,
        ready: ready_tx,
    };
    let task = shared
        .changes()
        .for_each(move |change| {
            feed.apply(change);
            futures::future::ready(())
        })
        .boxed();
    (informer, task)
}

/// What a [`shared_informer`] keeps besides the shared cache.
struct SharedFeed<K, H> {
    /// The last version handled of each object, by `namespace/name` (the shared cache's own
    /// `Arc`s: the previous version lives only until its change is handled).
    seen: HashMap<String, Arc<K>>,
    indexes: Arc<RwLock<Indexes>>,
    handler: H,
    ready: watch::Sender<bool>,
}

impl<K: Resource, H: FnMut(Option<&K>, Seen<'_, K>)> SharedFeed<K, H> {
    fn key(obj: &K) -> String {
        key_of(
            obj.meta().namespace.as_deref().unwrap_or_default(),
            obj.meta().name.as_deref().unwrap_or_default(),
        )
    }

    fn indexes(&self) -> std::sync::RwLockWriteGuard<'_, Indexes> {
        self.indexes.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands one change to the handler, then applies it to the indexes.
    fn apply(&mut self, change: Change<K>) {
        match change {
            Change::Applied(obj) => {
                let old = self.seen.insert(Self::key(&obj), Arc::clone(&obj));
                (self.handler)(old.as_deref(), Seen::Applied(&obj));
                let mut idx = self.indexes();
                if let Some(old) = &old {
                    idx.remove(old.meta());
                }
                idx.insert(obj.meta());
            }
            Change::Deleted(obj) => {
                let old = self.seen.remove(&Self::key(&obj));
                (self.handler)(old.as_deref(), Seen::Deleted(&obj));
                let mut idx = self.indexes();
                if let Some(old) = &old {
                    idx.remove(old.meta());
                }
                idx.remove(obj.meta());
            }
            Change::Listed(all) => {
                let mut fresh = Indexes::default();
                let mut listed = HashMap::with_capacity(all.len());
                for obj in all {
                    let key = Self::key(&obj);
                    (self.handler)(self.seen.get(&key).map(|o| &**o), Seen::Applied(&obj));
                    fresh.insert(obj.meta());
                    listed.insert(key, obj);
                }
                self.seen = listed;
                (self.handler)(None, Seen::Listed);
                *self.indexes() = fresh;
                self.ready.send_replace(true);
            }
        }
    }
}

/// Pending delayed requeues of one controller, one timer per key (the earliest wins), so a
/// busy object does not pile up sleeping tasks.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    pending: Mutex<HashMap<String, tokio::time::Instant>>,
}

/// Runs `key` again after `delay` unless `shutdown` comes first or an earlier run of `key`
/// is already scheduled.
pub(crate) fn add_after(
    queue: &Arc<WorkQueue>,
    timers: &Arc<Timers>,
    key: String,
    delay: Duration,
    shutdown: &CancellationToken,
) {
    let at = tokio::time::Instant::now() + delay;
    {
        let mut pending = timers
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if pending.get(&key).is_some_and(|existing| *existing <= at) {
            return;
        }
        pending.insert(key.clone(), at);
    }
    let queue = Arc::clone(queue);
    let timers = Arc::clone(timers);
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep_until(at) => {
                {
                    let mut pending = timers.pending.lock().unwrap_or_else(PoisonError::into_inner);
                    if pending.get(&key) == Some(&at) {
                        pending.remove(&key);
                    }
                }
                queue.add(key)
            }
        }
    });
}

/// Waits for shutdown while the informer tasks run; an informer that ends early is an error.
pub(crate) async fn run_workers<F, Fut>(
    name: &'static str,
    queue: Arc<WorkQueue>,
    timers: Arc<Timers>,
    mut informers: JoinSet<()>,
    workers: usize,
    shutdown: CancellationToken,
    sync: F,
) -> Result<(), Error>
where
    F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), Error>> + Send + 'static,
{
    let token = shutdown.child_token();
    let mut tasks: JoinSet<()> = JoinSet::new();
    for _ in 0..workers {
        let queue = Arc::clone(&queue);
        let timers = Arc::clone(&timers);
        let token = token.clone();
        let sync = sync.clone();
        tasks.spawn(async move {
            while let Some(key) = queue.next(&token).await {
                match sync(key.clone()).await {
                    Ok(()) => queue.forget(&key),
                    Err(error) => {
                        // A conflict only means the cache was behind: retry soon, still
                        // backing off (10 ms doubling up to 2.4 s) so a stale cache cannot
                        // make a hot loop.
                        let delay = if error.is_conflict() {
                            queue.failure_delay(&key) / 50
                        } else {
                            queue.failure_delay(&key)
                        };
                        if error.is_conflict() {
                            debug!(controller = name, key, "object changed meanwhile; requeueing");
                        } else {
                            warn!(controller = name, key, error = %error_chain(&error), "sync failed; retrying");
                        }
                        add_after(&queue, &timers, key.clone(), delay, &token);
                    }
                }
                queue.done(&key);
            }
        });
    }
    let result = tokio::select! {
        _ = token.cancelled() => Ok(()),
        joined = informers.join_next() => Err(Error::TaskEnded { task: name, source: joined.and_then(Result::err) }),
        joined = tasks.join_next() => Err(Error::TaskEnded { task: name, source: joined.and_then(Result::err) }),
    };
    token.cancel();
    informers.shutdown().await;
    tasks.shutdown().await;
    result
}

// ---------------------------------------------------------------------------------------------
// Expectations
// ---------------------------------------------------------------------------------------------

/// What a controller still expects to see after its own creates and deletes (upstream's
/// `UIDTrackingControllerExpectations`): a count of pending creations and the keys of pods
/// whose deletion is pending.
#[derive(Debug, Default)]
pub(crate) struct Expectations {
    entries: Mutex<HashMap<String, Expectation>>,
}

#[derive(Debug, Clone)]
struct Expectation {
    add: i64,
    deletions: HashSet<String>,
    set_at: jiff::Timestamp,
}

impl Expectations {
    fn entries(&self) -> MutexGuard<'_, HashMap<String, Expectation>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the controller of `key` may act: nothing pending, or the record expired.
    pub(crate) fn satisfied(&self, key: &str, clock: &api::clock::Clock) -> bool {
        match self.entries().get(key) {
            None => true,
            Some(e) => {
                (e.add <= 0 && e.deletions.is_empty())
                    || clock.elapsed_since(e.set_at) > EXPECTATIONS_TIMEOUT
            }
        }
    }

    /// Expects `count` creations (replacing what was expected).
    pub(crate) fn expect_creations(&self, key: &str, count: usize, clock: &api::clock::Clock) {
        self.entries().insert(
            key.to_string(),
            Expectation {
                add: count as i64,
                deletions: HashSet::new(),
                set_at: clock.now(),
            },
        );
    }

    /// Expects the deletion of the pods `pod_keys` (replacing what was expected).
    pub(crate) fn expect_deletions(
        &self,
        key: &str,
        pod_keys: HashSet<String>,
        clock: &api::clock::Clock,
    ) {
        self.entries().insert(
            key.to_string(),
            Expectation {
                add: 0,
                deletions: pod_keys,
                set_at: clock.now(),
            },
        );
    }

    /// One expected creation was seen (or will never happen).
    pub(crate) fn creation_observed(&self, key: &str) {
        if let Some(e) = self.entries().get_mut(key) {
            e.add -= 1;
        }
    }

    /// The deletion of `pod_key` was seen (or will never happen).
    pub(crate) fn deletion_observed(&self, key: &str, pod_key: &str) {
        if let Some(e) = self.entries().get_mut(key) {
            e.deletions.remove(pod_key);
        }
    }

    /// Forgets `key` (its controller is gone).
    pub(crate) fn delete(&self, key: &str) {
        self.entries().remove(key);
    }

    /// Forgets everything (after a relist the caches are authoritative again).
    pub(crate) fn clear(&self) {
        self.entries().clear();
    }
}

// ---------------------------------------------------------------------------------------------
// Pod ranking for deletion
// ---------------------------------------------------------------------------------------------

/// 0 for Pending (and unknown phases), 1 for Unknown, 2 for Running.
fn phase_ordinal(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    }
}

fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

fn deletion_cost(pod: &Pod) -> i64 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST))
        .and_then(|v| v.parse::<i32>().ok())
        .map(i64::from)
        .unwrap_or(0)
}

/// The highest restart count of regular containers and of restartable init (sidecar)
/// containers.
fn max_restarts(pod: &Pod) -> (i32, i32) {
    let status = pod.status.as_ref();
    let regular = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
        .max(0);
    let sidecars: HashSet<&str> = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default()
        .iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    let sidecar = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default()
        .iter()
        .filter(|c| sidecars.contains(c.name.as_str()))
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
        .max(0);
    (regular, sidecar)
}

/// Base-2 logarithmic rank of `t` relative to `now` (-1 if not in the past).
fn log_rank(t: jiff::Timestamp, now: jiff::Timestamp) -> i64 {
    let d = now.as_nanosecond() - t.as_nanosecond();
    if d > 0 { (d as f64).log2() as i64 } else { -1 }
}

/// `t1` after `t2`, an unset time counting as after everything (upstream's `afterOrZero`).
fn after_or_zero(t1: Option<jiff::Timestamp>, t2: Option<jiff::Timestamp>) -> bool {
    match (t1, t2) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => a > b,
    }
}

/// Compares two timestamps as upstream's logarithmic scale-down does: `Less` when `a` should
/// be deleted first.
fn compare_times(
    a: Option<jiff::Timestamp>,
    b: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
    uids: (&str, &str),
) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => match log_rank(x, now) - log_rank(y, now) {
            0 => uids.0.cmp(uids.1),
            d if d < 0 => Ordering::Less,
            _ => Ordering::Greater,
        },
        _ => {
            if after_or_zero(a, b) {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
    }
}

fn ready_time(pod: &Pod) -> Option<jiff::Timestamp> {
    ready_since(pod).flatten().map(|t| t.0)
}

/// Upstream's `ActivePodsWithRanks.Less` (with pod-deletion-cost and logarithmic scale-down,
/// both on by default): `Less` means `a` is deleted before `b`.
fn compare_for_deletion(
    a: &Pod,
    rank_a: usize,
    b: &Pod,
    rank_b: usize,
    now: jiff::Timestamp,
) -> Ordering {
    let (na, nb) = (node_name(a), node_name(b));
    // 1. Unassigned < assigned.
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return if na.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    // 2. Pending < Unknown < Running.
    let (pa, pb) = (phase_ordinal(a), phase_ordinal(b));
    if pa != pb {
        return pa.cmp(&pb);
    }
    // 3. Not ready < ready.
    let (ra, rb) = (is_pod_ready(a), is_pod_ready(b));
    if ra != rb {
        return if ra {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    // 4. Lower pod-deletion-cost < higher.
    let (ca, cb) = (deletion_cost(a), deletion_cost(b));
    if ca != cb {
        return ca.cmp(&cb);
    }
    // 5. More related pods on the same node < fewer.
    if rank_a != rank_b {
        return rank_b.cmp(&rank_a);
    }
    let uids = (
        a.metadata.uid.as_deref().unwrap_or(""),
        b.metadata.uid.as_deref().unwrap_or(""),
    );
    // 6. Ready for a shorter time < longer.
    if ra && rb {
        let (ta, tb) = (ready_time(a), ready_time(b));
        if ta != tb {
            return compare_times(ta, tb, now, uids);
        }
    }
    // 7. More restarts < fewer (regular containers, then sidecars).
    let (ra, sa) = max_restarts(a);
    let (rb, sb) = max_restarts(b);
    if ra != rb {
        return rb.cmp(&ra);
    }
    if sa != sb {
        return sb.cmp(&sa);
    }
    // 8. Newer < older (unset creation time first).
    let (ta, tb) = (
        a.metadata.creation_timestamp.as_ref().map(|t| t.0),
        b.metadata.creation_timestamp.as_ref().map(|t| t.0),
    );
    if ta != tb {
        return compare_times(ta, tb, now, uids);
    }
    Ordering::Equal
}

/// Picks `diff` pods of `pods` to delete, ranked as upstream's `getPodsToDelete`: `related`
/// are the active pods of every ReplicaSet of the same owner, used to rank co-located pods.
pub fn pods_to_delete(
    mut pods: Vec<Arc<Pod>>,
    related: &[Arc<Pod>],
    diff: usize,
    now: jiff::Timestamp,
) -> Vec<Arc<Pod>> {
    if diff < pods.len() {
        let mut on_node: HashMap<&str, usize> = HashMap::new();
        for pod in related.iter().filter(|p| is_pod_active(p)) {
            *on_node.entry(node_name(pod)).or_default() += 1;
        }
        let mut ranked: Vec<(usize, Arc<Pod>)> = pods
            .drain(..)
            .map(|p| (on_node.get(node_name(&p)).copied().unwrap_or(0), p))
            .collect();
        ranked.sort_by(|(ra, a), (rb, b)| compare_for_deletion(a, *ra, b, *rb, now));
        pods = ranked.into_iter().map(|(_, p)| p).collect();
    }
    pods.truncate(diff);
    pods
}

// ---------------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------------

/// `Some(n)` unless zero (fields Go serializes with `omitempty`).
pub(crate) fn non_zero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// The status a ReplicaSet should have given its active owned pods and the outcome of
/// managing them (upstream's `calculateStatus`); observedGeneration is set on write.
pub fn calculate_status(
    rs: &ReplicaSet,
    active: &[Arc<Pod>],
    manage_error: Option<&(String, String)>,
    clock: &api::clock::Clock,
) -> ReplicaSetStatus {
    let mut status = rs.status.clone().unwrap_or_default();
    let spec = rs.spec.as_ref();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let template_labels: BTreeMap<String, String> = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let (mut fully_labeled, mut ready, mut available) = (0, 0, 0);
    for pod in active {
        let labels = pod.metadata.labels.as_ref();
        if template_labels
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        {
            fully_labeled += 1;
        }
        if is_pod_ready(pod) {
            ready += 1;
            if is_pod_available(pod, min_ready, clock) {
                available += 1;
            }
        }
    }
    let has_failure = status
        .conditions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "ReplicaFailure");
    match manage_error {
        Some((reason, message)) if !has_failure => {
            let mut conditions = status.conditions.take().unwrap_or_default();
            conditions.push(ReplicaSetCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some(reason.clone()),
                message: Some(message.clone()),
                last_transition_time: Some(now_time(clock)),
            });
            status.conditions = Some(conditions);
        }
        None if has_failure => {
            let conditions: Vec<ReplicaSetCondition> = status
                .conditions
                .take()
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c.type_ != "ReplicaFailure")
                .collect();
            status.conditions = (!conditions.is_empty()).then_some(conditions);
        }
        _ => {}
    }
    status.replicas = active.len() as i32;
    status.fully_labeled_replicas = non_zero(fully_labeled);
    status.ready_replicas = non_zero(ready);
    status.available_replicas = non_zero(available);
    status
}

// ---------------------------------------------------------------------------------------------
// The controller
// ---------------------------------------------------------------------------------------------

struct Controller {
    client: Client,
    clock: api::clock::Clock,
    replica_sets: Informer<ReplicaSet>,
    pods: Informer<Pod>,
    queue: Arc<WorkQueue>,
    timers: Arc<Timers>,
    expectations: Arc<Expectations>,
    recorder: EventSink,
    shutdown: CancellationToken,
}

/// The ReplicaSets of namespace `ns` whose selector matches `labels`.
fn matching_replica_sets(
    replica_sets: &Informer<ReplicaSet>,
    ns: &str,
    labels: &BTreeMap<String, String>,
) -> Vec<String> {
    replica_sets
        .in_namespace(ns)
        .into_iter()
        .filter(|rs| {
            let Some(sel) = rs.spec.as_ref().map(|s| &s.selector) else {
                return false;
            };
            let empty = sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
                && sel.match_expressions.as_ref().is_none_or(|m| m.is_empty());
            !empty && selector_of(Some(sel)).is_some_and(|s| s.matches(labels))
        })
        .map(|rs| key_of(ns, &rs.name_any()))
        .collect()
}

/// The key of the ReplicaSet a controller reference of `pod` names, if it is cached.
fn owning_replica_set(
    replica_sets: &Informer<ReplicaSet>,
    pod: &Pod,
) -> Option<(String, Arc<ReplicaSet>)> {
    let r = controller_ref(&pod.metadata)?;
    if r.kind != "ReplicaSet" {
        return None;
    }
    let ns = pod.namespace().unwrap_or_default();
    let rs = replica_sets.get(&ns, &r.name)?;
    (rs.metadata.uid.as_deref() == Some(r.uid.as_str())).then(|| (key_of(&ns, &r.name), rs))
}

/// The pod event handlers (upstream's addPod/updatePod/deletePod).
struct PodHandler {
    replica_sets: Informer<ReplicaSet>,
    queue: Arc<WorkQueue>,
    timers: Arc<Timers>,
    expectations: Arc<Expectations>,
    clock: api::clock::Clock,
    shutdown: CancellationToken,
}

impl PodHandler {
    fn pod_key(pod: &Pod) -> String {
        key_of(&pod.namespace().unwrap_or_default(), &pod.name_any())
    }

    fn deleted(&self, pod: &Pod) {
        if let Some((key, _)) = owning_replica_set(&self.replica_sets, pod) {
            self.expectations
                .deletion_observed(&key, &Self::pod_key(pod));
            self.queue.add(key);
        }
    }

    fn added(&self, pod: &Pod) {
        if pod.metadata.deletion_timestamp.is_some() {
            return self.deleted(pod);
        }
        if controller_ref(&pod.metadata).is_some() {
            if let Some((key, _)) = owning_replica_set(&self.replica_sets, pod) {
                self.expectations.creation_observed(&key);
                self.queue.add(key);
            }
            return;
        }
        let ns = pod.namespace().unwrap_or_default();
        self.queue.add_all(matching_replica_sets(
            &self.replica_sets,
            &ns,
            &labels_of(&pod.metadata),
        ));
    }

    fn updated(&self, old: &Pod, cur: &Pod) {
        if old.metadata.resource_version == cur.metadata.resource_version {
            return;
        }
        let label_changed = old.metadata.labels != cur.metadata.labels;
        if cur.metadata.deletion_timestamp.is_some() {
            self.deleted(cur);
            if label_changed {
                self.deleted(old);
            }
            return;
        }
        let (old_ref, cur_ref) = (controller_ref(&old.metadata), controller_ref(&cur.metadata));
        let ref_changed = old_ref != cur_ref;
        if ref_changed
            && old_ref.is_some()
            && let Some((key, _)) = owning_replica_set(&self.replica_sets, old)
        {
            self.queue.add(key);
        }
        if cur_ref.is_some() {
            if let Some((key, rs)) = owning_replica_set(&self.replica_sets, cur) {
                self.queue.add(key.clone());
                let min_ready = rs
                    .spec
                    .as_ref()
                    .and_then(|s| s.min_ready_seconds)
                    .unwrap_or(0);
                if min_ready > 0 && !is_pod_ready(old) && is_pod_ready(cur) {
                    let delay = Duration::from_secs(min_ready as u64 + 1);
                    add_after(
                        &self.queue,
                        &self.timers,
                        key,
                        self.clock.real(delay),
                        &self.shutdown,
                    );
                }
            }
            return;
        }
        if label_changed || ref_changed {
            let ns = cur.namespace().unwrap_or_default();
            self.queue.add_all(matching_replica_sets(
                &self.replica_sets,
                &ns,
                &labels_of(&cur.metadata),
            ));
        }
    }

    fn handle(&self, old: Option<&Pod>, seen: Seen<'_, Pod>) {
        match seen {
            Seen::Applied(pod) => match old {
                Some(old) if old.metadata.uid == pod.metadata.uid => self.updated(old, pod),
                Some(old) => {
                    self.deleted(old);
                    self.added(pod);
                }
                None => self.added(pod),
            },
            Seen::Deleted(pod) => self.deleted(pod),
            Seen::Listed => {
                self.expectations.clear();
                self.queue.add_all(
                    self.replica_sets
                        .all()
                        .iter()
                        .map(|rs| key_of(&rs.namespace().unwrap_or_default(), &rs.name_any())),
                );
            }
        }
    }
}

/// Runs the ReplicaSet controller until `shutdown` is cancelled, with a pod watch of its own.
pub async fn run(
    client: Client,
    clock: api::clock::Clock,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let pods = SharedInformer::start(Api::all(client.clone()), shutdown.clone());
    run_with(client, clock, pods, shutdown).await
}

/// Runs the ReplicaSet controller until `shutdown` is cancelled, reading pods from a shared
/// watch.
pub async fn run_with(
    client: Client,
    clock: api::clock::Clock,
    shared_pods: SharedInformer<Pod>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let queue = Arc::new(WorkQueue::default());
    let timers = Arc::new(Timers::default());
    let expectations = Arc::new(Expectations::default());
    let mut tasks = JoinSet::new();

    let (replica_sets, rs_task) = {
        let queue = Arc::clone(&queue);
        let expectations = Arc::clone(&expectations);
        informer(
            Api::<ReplicaSet>::all(client.clone()),
            |_| {},
            move |_, seen: Seen<'_, ReplicaSet>| match seen {
                Seen::Applied(rs) => {
                    queue.add(key_of(&rs.namespace().unwrap_or_default(), &rs.name_any()))
                }
                Seen::Deleted(rs) => {
                    let key = key_of(&rs.namespace().unwrap_or_default(), &rs.name_any());
                    expectations.delete(&key);
                    queue.add(key);
                }
                Seen::Listed => {}
            },
        )
    };
    tasks.spawn(rs_task);
    let handler = PodHandler {
        replica_sets: replica_sets.clone(),
        queue: Arc::clone(&queue),
        timers: Arc::clone(&timers),
        expectations: Arc::clone(&expectations),
        clock,
        shutdown: shutdown.clone(),
    };
    let (pods, pod_task) =
        shared_informer(&shared_pods, move |old, seen| handler.handle(old, seen));
    tasks.spawn(pod_task);

    tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        _ = async { replica_sets.ready().await; pods.ready().await } => {}
    }
    info!("replicaset controller: caches synced");

    let controller = Arc::new(Controller {
        recorder: EventSink::new(client.clone(), CONTROLLER_NAME),
        client,
        clock,
        replica_sets,
        pods,
        queue: Arc::clone(&queue),
        timers: Arc::clone(&timers),
        expectations,
        shutdown: shutdown.clone(),
    });
    run_workers(
        "replicaset controller",
        queue,
        timers,
        tasks,
        WORKERS,
        shutdown,
        move |key| {
            let controller = Arc::clone(&controller);
            async move { controller.sync(&key).await }
        },
    )
    .await
}

impl Controller {
    /// Upstream's `syncReplicaSet`.
    async fn sync(&self, key: &str) -> Result<(), Error> {
        let (ns, name) = split_key(key);
        let Some(rs) = self.replica_sets.get(ns, name) else {
            self.expectations.delete(key);
            return Ok(());
        };
        let needs_sync = self.expectations.satisfied(key, &self.clock);
        let spec = rs.spec.clone().unwrap_or_default();
        let Some(selector) = selector_of(Some(&spec.selector)) else {
            warn!(
                replicaset = key,
                "error converting pod selector to selector; skipping"
            );
            return Ok(());
        };
        // Its own pods and the namespace's orphans (upstream's `FilterPodsByOwner`).
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        let all: Vec<Arc<Pod>> = self
            .pods
            .owned_by(&uid)
            .into_iter()
            .chain(self.pods.orphans(ns))
            .filter(|p| is_pod_active(p) && p.metadata.namespace.as_deref() == Some(ns))
            .collect();
        let owned = self.claim_pods(&rs, &selector, all).await?;
        let mut manage_error = None;
        if needs_sync && rs.metadata.deletion_timestamp.is_none() {
            manage_error = self.manage_replicas(key, &owned, &rs).await;
        }
        let status = calculate_status(&rs, &owned, manage_error.as_ref(), &self.clock);
        let updated = self.update_status(&rs, status).await?;
        let desired = updated.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let st = updated.status.clone().unwrap_or_default();
        if manage_error.is_none()
            && min_ready > 0
            && st.ready_replicas.unwrap_or(0) == desired
            && st.available_replicas.unwrap_or(0) != desired
        {
            let delay = self.clock.real(Duration::from_secs(min_ready as u64));
            add_after(
                &self.queue,
                &self.timers,
                key.to_string(),
                delay,
                &self.shutdown,
            );
        }
        match manage_error {
            Some((_, message)) => Err(Error::Workload {
                object: format!("replicaset {key}"),
                message,
            }),
            None => Ok(()),
        }
    }

    /// Adopts matching orphans and releases owned pods that no longer match (upstream's
    /// `ClaimPods`); returns the pods this ReplicaSet owns.
    async fn claim_pods(
        &self,
        rs: &ReplicaSet,
        selector: &Selector,
        pods: Vec<Arc<Pod>>,
    ) -> Result<Vec<Arc<Pod>>, Error> {
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        let ns = rs.namespace().unwrap_or_default();
        let api = Api::<Pod>::namespaced(self.client.clone(), &ns);
        let mut claimed = Vec::new();
        let mut errors = Vec::new();
        let mut can_adopt: Option<Result<(), String>> = None;
        for pod in pods {
            let matches = selector.matches(&labels_of(&pod.metadata));
            let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
            let target = format!("pods {ns}/{}", pod.name_any());
            match controller_ref(&pod.metadata) {
                Some(r) if r.uid != uid => continue,
                Some(_) if matches => claimed.push(pod),
                Some(_) => {
                    if rs.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    let patch = json!({"metadata": {
                        "ownerReferences": [{"$patch": "delete", "uid": uid}],
                        "uid": pod_uid,
                    }});
                    match api
                        .patch(
                            &pod.name_any(),
                            &PatchParams::default(),
                            &Patch::Strategic(&patch),
                        )
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => errors.push(Error::request("patch", target, e)),
                    }
                }
                None => {
                    if rs.metadata.deletion_timestamp.is_some()
                        || !matches
                        || pod.metadata.deletion_timestamp.is_some()
                    {
                        continue;
                    }
                    let adopt = match &can_adopt {
                        Some(r) => r.clone(),
                        None => {
                            let r = self.recheck(rs).await;
                            can_adopt = Some(r.clone());
                            r
                        }
                    };
                    if let Err(reason) = adopt {
                        errors.push(Error::Workload {
                            object: format!("replicaset {ns}/{}", rs.name_any()),
                            message: format!(
                                "can't adopt Pod {ns}/{} ({pod_uid}): {reason}",
                                pod.name_any()
                            ),
                        });
                        continue;
                    }
                    let owner = new_controller_ref(&rs.metadata, "apps/v1", "ReplicaSet");
                    let patch = json!({"metadata": {
                        "ownerReferences": [owner],
                        "uid": pod_uid,
                    }});
                    match api
                        .patch(
                            &pod.name_any(),
                            &PatchParams::default(),
                            &Patch::Strategic(&patch),
                        )
                        .await
                    {
                        Ok(p) => claimed.push(Arc::new(p)),
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => errors.push(Error::request("patch", target, e)),
                    }
                }
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(claimed),
        }
    }

    /// A fresh read of the ReplicaSet before adopting (upstream's `RecheckDeletionTimestamp`).
    async fn recheck(&self, rs: &ReplicaSet) -> Result<(), String> {
        let ns = rs.namespace().unwrap_or_default();
        let api = Api::<ReplicaSet>::namespaced(self.client.clone(), &ns);
        match api.get(&rs.name_any()).await {
            Ok(fresh) if fresh.metadata.uid != rs.metadata.uid => Err(format!(
                "original ReplicaSet {ns}/{} is gone: got uid {}, wanted {}",
                rs.name_any(),
                fresh.metadata.uid.unwrap_or_default(),
                rs.metadata.uid.clone().unwrap_or_default()
            )),
            Ok(fresh) if fresh.metadata.deletion_timestamp.is_some() => Err(format!(
                "{ns}/{} has just been deleted at {}",
                rs.name_any(),
                fresh
                    .metadata
                    .deletion_timestamp
                    .map(|t| t.0.to_string())
                    .unwrap_or_default()
            )),
            Ok(_) => Ok(()),
            Err(e) => Err(api_message(&e)),
        }
    }

    /// Creates or deletes pods to reach `spec.replicas` (upstream's `manageReplicas`);
    /// returns the failure reason (`FailedCreate`/`FailedDelete`) and message.
    async fn manage_replicas(
        &self,
        key: &str,
        active: &[Arc<Pod>],
        rs: &ReplicaSet,
    ) -> Option<(String, String)> {
        let desired = rs
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1)
            .max(0) as usize;
        let ns = rs.namespace().unwrap_or_default();
        let api = Api::<Pod>::namespaced(self.client.clone(), &ns);
        let reference = rs.object_ref(&());
        if active.len() < desired {
            let diff = (desired - active.len()).min(BURST_REPLICAS);
            self.expectations.expect_creations(key, diff, &self.clock);
            debug!(
                replicaset = key,
                need = desired,
                creating = diff,
                "too few replicas"
            );
            let pod = pod_from_template(rs);
            let (created, error) = slow_start_batch(diff, SLOW_START_INITIAL_BATCH_SIZE, || {
                let api = api.clone();
                let pod = pod.clone();
                let reference = reference.clone();
                async move {
                    match api.create(&PostParams::default(), &pod).await {
                        Ok(p) => {
                            record(
                                &self.recorder,
                                &reference,
                                EventType::Normal,
                                SUCCESSFUL_CREATE,
                                format!("Created pod: {}", p.name_any()),
                            )
                            .await;
                            Ok(())
                        }
                        Err(e) if has_status_cause(&e, "NamespaceTerminating") => Ok(()),
                        Err(e) => {
                            let message = api_message(&e);
                            record(
                                &self.recorder,
                                &reference,
                                EventType::Warning,
                                FAILED_CREATE,
                                format!("Error creating: {message}"),
                            )
                            .await;
                            Err(message)
                        }
                    }
                }
            })
            .await;
            for _ in created..diff {
                self.expectations.creation_observed(key);
            }
            return error.map(|m| ("FailedCreate".to_string(), m));
        }
        if active.len() > desired {
            let diff = (active.len() - desired).min(BURST_REPLICAS);
            let related = self.related_pods(rs);
            let victims = pods_to_delete(active.to_vec(), &related, diff, self.clock.now());
            let keys: HashSet<String> =
                victims.iter().map(|p| key_of(&ns, &p.name_any())).collect();
            self.expectations.expect_deletions(key, keys, &self.clock);
            debug!(
                replicaset = key,
                need = desired,
                deleting = diff,
                "too many replicas"
            );
            let ns = &ns;
            let results = futures::future::join_all(victims.iter().map(|pod| {
                let api = api.clone();
                let reference = reference.clone();
                async move {
                    let name = pod.name_any();
                    match api.delete(&name, &DeleteParams::default()).await {
                        Ok(_) => {
                            record(
                                &self.recorder,
                                &reference,
                                EventType::Normal,
                                SUCCESSFUL_DELETE,
                                format!("Deleted pod: {name}"),
                            )
                            .await;
                            None
                        }
                        Err(e) => {
                            self.expectations.deletion_observed(key, &key_of(ns, &name));
                            if is_not_found(&e) {
                                return None;
                            }
                            let message = api_message(&e);
                            record(
                                &self.recorder,
                                &reference,
                                EventType::Warning,
                                FAILED_DELETE,
                                format!("Error deleting: {message}"),
                            )
                            .await;
                            Some(format!("unable to delete pods: {message}"))
                        }
                    }
                }
            }))
            .await;
            if let Some(message) = results.into_iter().flatten().next() {
                return Some(("FailedDelete".to_string(), message));
            }
        }
        None
    }

    /// Active pods of every ReplicaSet controlled by the same owner as `rs` (upstream's
    /// `getIndirectlyRelatedPods`), or of `rs` alone when it has no controller.
    fn related_pods(&self, rs: &ReplicaSet) -> Vec<Arc<Pod>> {
        let uids: Vec<String> = match controller_ref(&rs.metadata) {
            None => rs.metadata.uid.iter().cloned().collect(),
            Some(owner) => self
                .replica_sets
                .owned_by(&owner.uid)
                .iter()
                .filter_map(|o| o.metadata.uid.clone())
                .collect(),
        };
        uids.iter()
            .flat_map(|uid| self.pods.owned_by(uid))
            .filter(|p| is_pod_active(p))
            .collect()
    }

    /// Writes `status` unless nothing changed (upstream's `updateReplicaSetStatus`).
    async fn update_status(
        &self,
        rs: &ReplicaSet,
        mut status: ReplicaSetStatus,
    ) -> Result<ReplicaSet, Error> {
        let generation = rs.metadata.generation;
        if rs.status.as_ref() == Some(&status) && status.observed_generation == generation {
            return Ok(rs.clone());
        }
        status.observed_generation = generation;
        let mut object = rs.clone();
        object.status = Some(status);
        let ns = rs.namespace().unwrap_or_default();
        let name = rs.name_any();
        Api::<ReplicaSet>::namespaced(self.client.clone(), &ns)
            .replace_status(&name, &PostParams::default(), &object)
            .await
            .map_err(|e| {
                Error::request("update status", format!("replicasets.apps {ns}/{name}"), e)
            })
    }
}

/// The pod a ReplicaSet creates from its template (upstream's `GetPodFromTemplate`).
pub fn pod_from_template(rs: &ReplicaSet) -> Pod {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", rs.name_any())),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![new_controller_ref(
                &rs.metadata,
                "apps/v1",
                "ReplicaSet",
            )]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Runs `count` calls of `call` in batches of 1, 2, 4, ... (upstream's `slowStartBatch`),
/// stopping after the first batch with a failure; returns the successes and the first error.
pub async fn slow_start_batch<F, Fut, E>(
    count: usize,
    initial: usize,
    mut call: F,
) -> (usize, Option<E>)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    let mut remaining = count;
    let mut successes = 0;
    let mut batch = remaining.min(initial);
    while batch > 0 {
        let results = futures::future::join_all((0..batch).map(|_| call())).await;
        let mut first_error = None;
        for r in results {
            match r {
                Ok(()) => successes += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if first_error.is_some() {
            return (successes, first_error);
        }
        remaining -= batch;
        batch = (2 * batch).min(remaining);
    }
    (successes, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

    fn ts(secs_ago: i64) -> Time {
        Time(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs_ago))
    }

    struct P(serde_json::Value);

    impl P {
        fn new(name: &str) -> Self {
            P(
                json!({"metadata": {"name": name, "uid": name, "creationTimestamp": ts(1000)},
                     "spec": {}, "status": {"phase": "Pending"}}),
            )
        }
        fn node(mut self, n: &str) -> Self {
            self.0["spec"]["nodeName"] = json!(n);
            self
        }
        fn phase(mut self, p: &str) -> Self {
            self.0["status"]["phase"] = json!(p);
            self
        }
        fn ready(mut self, secs_ago: i64) -> Self {
            self.0["status"]["conditions"] =
                json!([{"type": "Ready", "status": "True", "lastTransitionTime": ts(secs_ago)}]);
            self
        }
        fn restarts(mut self, n: i32) -> Self {
            self.0["status"]["containerStatuses"] = json!([{"name": "c", "restartCount": n,
                "image": "i", "imageID": "", "ready": true}]);
            self
        }
        fn created(mut self, secs_ago: i64) -> Self {
            self.0["metadata"]["creationTimestamp"] = json!(ts(secs_ago));
            self
        }
        fn cost(mut self, c: i32) -> Self {
            self.0["metadata"]["annotations"] = json!({POD_DELETION_COST: c.to_string()});
            self
        }
        fn build(self) -> Arc<Pod> {
            Arc::new(serde_json::from_value(self.0).expect("pod"))
        }
    }

    #[test]
    fn pods_are_deleted_in_upstream_rank_order() {
        let cases: Vec<(&str, Vec<Arc<Pod>>, Vec<Arc<Pod>>, &str)> = vec![
            (
                "unassigned before assigned",
                vec![P::new("a").node("n1").build(), P::new("b").build()],
                vec![],
                "b",
            ),
            (
                "pending before running",
                vec![
                    P::new("a").node("n").phase("Running").build(),
                    P::new("b").node("n").phase("Pending").build(),
                ],
                vec![],
                "b",
            ),
            (
                "unknown before running",
                vec![
                    P::new("a").node("n").phase("Running").build(),
                    P::new("b").node("n").phase("Unknown").build(),
                ],
                vec![],
                "b",
            ),
            (
                "not ready before ready",
                vec![
                    P::new("a").node("n").phase("Running").ready(100).build(),
                    P::new("b").node("n").phase("Running").build(),
                ],
                vec![],
                "b",
            ),
            (
                "lower deletion cost first",
                vec![
                    P::new("a")
                        .node("n")
                        .phase("Running")
                        .ready(100)
                        .cost(5)
                        .build(),
                    P::new("b")
                        .node("n")
                        .phase("Running")
                        .ready(100)
                        .cost(-1)
                        .build(),
                ],
                vec![],
                "b",
            ),
            (
                "doubled-up pods first",
                vec![
                    P::new("a").node("n1").phase("Running").ready(100).build(),
                    P::new("b").node("n2").phase("Running").ready(100).build(),
                ],
                vec![
                    P::new("a").node("n1").build(),
                    P::new("b").node("n2").build(),
                    P::new("x").node("n2").build(),
                ],
                "b",
            ),
            (
                "recently ready first (different log2 buckets)",
                vec![
                    P::new("a").node("n").phase("Running").ready(10_000).build(),
                    P::new("b").node("n").phase("Running").ready(10).build(),
                ],
                vec![],
                "b",
            ),
            (
                "more restarts first",
                vec![
                    P::new("a").node("n").phase("Running").restarts(1).build(),
                    P::new("b").node("n").phase("Running").restarts(7).build(),
                ],
                vec![],
                "b",
            ),
            (
                "newer first",
                vec![
                    P::new("a").node("n").created(100_000).build(),
                    P::new("b").node("n").created(5).build(),
                ],
                vec![],
                "b",
            ),
        ];
        for (case, pods, related, want) in cases {
            let got = pods_to_delete(pods, &related, 1, jiff::Timestamp::now());
            assert_eq!(got.len(), 1, "{case}");
            assert_eq!(got[0].name_any(), want, "{case}");
        }
    }

    #[test]
    fn deleting_every_pod_skips_ranking() {
        let pods = vec![P::new("a").build(), P::new("b").build()];
        assert_eq!(
            pods_to_delete(pods, &[], 5, jiff::Timestamp::now()).len(),
            2
        );
    }

    #[test]
    fn a_shared_informer_hands_its_handler_the_previous_version_and_indexes_by_owner() {
        let pod = |name: &str, rv: &str, owner: Option<&str>| {
            let mut p = Arc::unwrap_or_clone(P::new(name).build());
            p.metadata.namespace = Some("ns".into());
            p.metadata.resource_version = Some(rv.into());
            p.metadata.owner_references = owner.map(|uid| {
                vec![OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "ReplicaSet".into(),
                    name: "rs".into(),
                    uid: uid.into(),
                    controller: Some(true),
                    block_owner_deletion: None,
                }]
            });
            Arc::new(p)
        };
        let handled: Arc<Mutex<Vec<String>>> = Arc::default();
        let (ready_tx, ready) = watch::channel(false);
        let indexes: Arc<RwLock<Indexes>> = Arc::default();
        let log = Arc::clone(&handled);
        let mut feed = SharedFeed {
            seen: HashMap::new(),
            indexes: Arc::clone(&indexes),
            handler: move |old: Option<&Pod>, seen: Seen<'_, Pod>| {
                let old = old.and_then(|o| o.metadata.resource_version.clone());
                let line = match seen {
                    Seen::Applied(p) => format!("applied {} old {old:?}", p.name_any()),
                    Seen::Deleted(p) => format!("deleted {} old {old:?}", p.name_any()),
                    Seen::Listed => "listed".into(),
                };
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            },
            ready: ready_tx,
        };
        let owned = |key: &str| -> Vec<String> {
            let idx = indexes.read().unwrap_or_else(PoisonError::into_inner);
            let mut names: Vec<String> = idx
                .by_owner
                .get(key)
                .into_iter()
                .flatten()
                .map(|(_, name)| name.clone())
                .collect();
            names.sort();
            names
        };
        let ns = "ns";
        feed.apply(Change::Listed(vec![
            pod("a", "1", Some("u1")),
            pod("b", "1", None),
        ]));
        assert!(*ready.borrow(), "ready once listed");
        assert_eq!(owned("u1"), ["a"]);
        assert_eq!(owned(&orphan_key(ns)), ["b"]);
        feed.apply(Change::Applied(pod("a", "2", Some("u2"))));
        assert!(owned("u1").is_empty(), "a changed controller moves the pod");
        assert_eq!(owned("u2"), ["a"]);
        feed.apply(Change::Applied(pod("b", "2", Some("u1"))));
        assert!(owned(&orphan_key(ns)).is_empty(), "an adopted orphan");
        feed.apply(Change::Deleted(pod("a", "3", Some("u2"))));
        assert!(owned("u2").is_empty());
        feed.apply(Change::Listed(vec![
            pod("c", "4", None),
            pod("b", "4", Some("u1")),
        ]));
        assert_eq!(
            owned(&orphan_key(ns)),
            ["c"],
            "a relist replaces the indexes"
        );
        assert_eq!(owned("u1"), ["b"]);
        assert_eq!(
            *handled.lock().unwrap_or_else(PoisonError::into_inner),
            [
                "applied a old None",
                "applied b old None",
                "listed",
                "applied a old Some(\"1\")",
                "applied b old Some(\"1\")",
                "deleted a old Some(\"2\")",
                "applied c old None",
                "applied b old Some(\"2\")",
                "listed",
            ]
        );
    }

    #[tokio::test]
    async fn slow_start_batches_double_and_stop_at_the_first_failing_batch() {
        // (case, count, failing call index, successes, calls made): batches are 1, 2, 4, ...
        let cases = [
            ("all succeed", 10, None, 10, 10),
            ("first call fails", 10, Some(0usize), 0, 1),
            ("fail in the second batch", 10, Some(1), 2, 3),
            ("fail in the third batch", 10, Some(3), 6, 7),
            ("nothing to do", 0, None, 0, 0),
        ];
        for (case, count, fail_at, want_ok, want_calls) in cases {
            let calls = AtomicUsize::new(0);
            let (ok, err) = slow_start_batch(count, 1, || {
                let n = calls.fetch_add(1, AtomicOrdering::SeqCst);
                let fail = fail_at.is_some_and(|f| n == f);
                async move {
                    if fail {
                        Err("boom".to_string())
                    } else {
                        Ok(())
                    }
                }
            })
            .await;
            assert_eq!(ok, want_ok, "{case}");
            assert_eq!(err.is_some(), fail_at.is_some(), "{case}");
            assert_eq!(calls.load(AtomicOrdering::SeqCst), want_calls, "{case}");
        }
    }

    #[tokio::test]
    async fn delayed_requeues_keep_one_timer_per_key_the_earliest() {
        let queue = Arc::new(WorkQueue::default());
        let timers = Arc::new(Timers::default());
        let shutdown = CancellationToken::new();
        let pending = |t: &Timers| {
            t.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len()
        };
        add_after(
            &queue,
            &timers,
            "ns/a".into(),
            Duration::from_secs(60),
            &shutdown,
        );
        add_after(
            &queue,
            &timers,
            "ns/a".into(),
            Duration::from_secs(120),
            &shutdown,
        );
        add_after(
            &queue,
            &timers,
            "ns/a".into(),
            Duration::from_millis(20),
            &shutdown,
        );
        assert_eq!(pending(&timers), 1, "one timer per key");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(queue.len(), 1, "the earliest fired");
        assert_eq!(pending(&timers), 0, "and was forgotten");
        shutdown.cancel();
    }

    #[test]
    fn expectations_wait_for_creations_and_deletions() {
        let clock = api::clock::Clock::REAL_TIME;
        let e = Expectations::default();
        assert!(e.satisfied("ns/rs", &clock), "no record");
        e.expect_creations("ns/rs", 2, &clock);
        assert!(!e.satisfied("ns/rs", &clock), "two pending");
        e.creation_observed("ns/rs");
        e.creation_observed("ns/rs");
        assert!(e.satisfied("ns/rs", &clock), "both seen");
        e.expect_deletions("ns/rs", ["ns/p".to_string()].into(), &clock);
        assert!(!e.satisfied("ns/rs", &clock), "deletion pending");
        e.deletion_observed("ns/rs", "ns/other");
        assert!(!e.satisfied("ns/rs", &clock), "another pod");
        e.deletion_observed("ns/rs", "ns/p");
        assert!(e.satisfied("ns/rs", &clock), "deletion seen");
    }

    #[test]
    fn status_counts_labeled_ready_and_available_pods() {
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "rs", "namespace": "ns", "generation": 2},
            "spec": {"replicas": 3, "minReadySeconds": 60, "selector": {"matchLabels": {"app": "a"}},
                     "template": {"metadata": {"labels": {"app": "a", "tier": "web"}}}}
        }))
        .expect("rs");
        let mut full = P::new("full").ready(120).0;
        full["metadata"]["labels"] = json!({"app": "a", "tier": "web"});
        let mut partial = P::new("partial").ready(5).0;
        partial["metadata"]["labels"] = json!({"app": "a"});
        let pods = vec![
            Arc::new(serde_json::from_value::<Pod>(full).expect("pod")),
            Arc::new(serde_json::from_value::<Pod>(partial).expect("pod")),
        ];
        let clock = api::clock::Clock::REAL_TIME;
        let s = calculate_status(&rs, &pods, None, &clock);
        assert_eq!(s.replicas, 2);
        assert_eq!(s.fully_labeled_replicas, Some(1));
        assert_eq!(s.ready_replicas, Some(2));
        assert_eq!(
            s.available_replicas,
            Some(1),
            "only the pod ready for 120s > 60s"
        );
        let failed = calculate_status(
            &rs,
            &pods,
            Some(&("FailedCreate".into(), "quota".into())),
            &clock,
        );
        let c = &failed.conditions.clone().expect("conditions")[0];
        assert_eq!(
            (c.type_.as_str(), c.reason.as_deref()),
            ("ReplicaFailure", Some("FailedCreate"))
        );
        let mut rs2 = rs.clone();
        rs2.status = Some(failed);
        assert!(
            calculate_status(&rs2, &pods, None, &clock)
                .conditions
                .is_none(),
            "cleared"
        );
    }

    #[test]
    fn pods_from_templates_are_owned_and_named_after_the_replica_set() {
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "web-5d4b9c8f5", "namespace": "ns", "uid": "u1"},
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                     "template": {"metadata": {"labels": {"app": "a"}, "annotations": {"x": "y"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
        }))
        .expect("rs");
        let pod = pod_from_template(&rs);
        assert_eq!(
            pod.metadata.generate_name.as_deref(),
            Some("web-5d4b9c8f5-")
        );
        assert_eq!(
            pod.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .map(String::as_str),
            Some("a")
        );
        let owner = controller_ref(&pod.metadata).expect("owner");
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("ReplicaSet", "u1")
        );
        assert_eq!(owner.block_owner_deletion, Some(true));
    }
}
