//! What the workload controllers (StatefulSet, DaemonSet, Job, CronJob) share: reflector
//! caches, upstream's "expectations" (the writes a controller made that its cache has not
//! shown yet, so that a stale cache never makes it create a pod twice), pod state
//! predicates, owner references and event publishing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use events::EventType;
use futures::{FutureExt, Stream, StreamExt, TryStreamExt};
use informer::{Change, SharedInformer};
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};

/// Expectations older than this are dropped (upstream's `ExpectationsTimeout`).
const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// A reflector cache of `api` and the stream of objects it touched (applied or deleted),
/// for a controller's triggers.
pub fn reflect<K>(
    api: Api<K>,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: informer::Watched,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .touched_objects();
    (reader, stream)
}

/// A cache of objects grouped by their controller's uid, so that a controller reads one
/// owner's pods without scanning every pod (upstream's informer indexers). Only objects whose
/// controller is of the one kind the cache is for are kept (a DaemonSet controller's cache
/// holds no ReplicaSet's pods): objects without a controller reference, or controlled by
/// another kind, are never read through it, and at scale they would be most of the memory.
pub struct OwnerIndex<K> {
    inner: Arc<std::sync::RwLock<OwnerMaps<K>>>,
}

impl<K> Clone for OwnerIndex<K> {
    fn clone(&self) -> Self {
        OwnerIndex {
            inner: self.inner.clone(),
        }
    }
}

struct OwnerMaps<K> {
    /// The kind of controller whose objects are kept (`DaemonSet`, `Job`, ...).
    owner_kind: &'static str,
    /// Owner uid → object key → object.
    by_owner: HashMap<String, HashMap<String, Arc<K>>>,
    /// Object key → owner uid.
    owner_of: HashMap<String, String>,
    /// Objects of a relist in progress.
    buffer: Option<Vec<K>>,
}

impl<K: Resource> OwnerIndex<K> {
    fn new(owner_kind: &'static str) -> Self {
        OwnerIndex {
            inner: Arc::new(std::sync::RwLock::new(OwnerMaps {
                owner_kind,
                by_owner: HashMap::new(),
                owner_of: HashMap::new(),
                buffer: None,
            })),
        }
    }

    fn object_key(obj: &K) -> String {
        format!(
            "{}/{}",
            obj.meta().namespace.as_deref().unwrap_or_default(),
            obj.meta().name.as_deref().unwrap_or_default()
        )
    }

    fn remove(maps: &mut OwnerMaps<K>, key: &str) {
        if let Some(owner) = maps.owner_of.remove(key)
            && let Some(objs) = maps.by_owner.get_mut(&owner)
        {
            objs.remove(key);
            if objs.is_empty() {
                maps.by_owner.remove(&owner);
            }
        }
    }

    fn insert(maps: &mut OwnerMaps<K>, obj: impl Into<Arc<K>>) {
        let obj = obj.into();
        let key = Self::object_key(&obj);
        Self::remove(maps, &key);
        if let Some(owner) = controller_of(&*obj)
            .filter(|o| o.kind == maps.owner_kind)
            .map(|o| o.uid.clone())
        {
            maps.owner_of.insert(key.clone(), owner.clone());
            maps.by_owner.entry(owner).or_default().insert(key, obj);
        }
    }

    /// Applies one change of a shared informer, holding the informer's own `Arc`s: nothing
    /// is copied.
    fn apply_change(&self, change: &Change<K>) {
        let mut maps = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match change {
            Change::Applied(obj) => Self::insert(&mut maps, obj.clone()),
            Change::Deleted(obj) => Self::remove(&mut maps, &Self::object_key(obj)),
            Change::Listed(all) => {
                maps.by_owner.clear();
                maps.owner_of.clear();
                for obj in all {
                    Self::insert(&mut maps, obj.clone());
                }
            }
        }
    }

    fn apply(&self, event: &watcher::Event<K>)
    where
        K: Clone,
    {
        let mut maps = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match event {
            // Most objects (every pod of the cluster, for a pod index) have no owner of this
            // kind: they are only looked up for removal, never copied.
            watcher::Event::Apply(obj)
                if controller_of(obj).is_some_and(|o| o.kind == maps.owner_kind) =>
            {
                Self::insert(&mut maps, obj.clone())
            }
            watcher::Event::Apply(obj) => Self::remove(&mut maps, &Self::object_key(obj)),
            watcher::Event::Delete(obj) => Self::remove(&mut maps, &Self::object_key(obj)),
            watcher::Event::Init => maps.buffer = Some(Vec::new()),
            watcher::Event::InitApply(obj) => {
                if controller_of(obj).is_some_and(|o| o.kind == maps.owner_kind) {
                    maps.buffer.get_or_insert_with(Vec::new).push(obj.clone())
                }
            }
            watcher::Event::InitDone => {
                let objs = maps.buffer.take().unwrap_or_default();
                maps.by_owner.clear();
                maps.owner_of.clear();
                for obj in objs {
                    Self::insert(&mut maps, obj);
                }
            }
        }
    }

    /// The objects in `namespace` whose controller is the owner with `owner_uid`.
    pub fn controlled_by(&self, owner_uid: &str, namespace: &str) -> Vec<Arc<K>> {
        self.owned_by(owner_uid)
            .into_iter()
            .filter(|o| {
                o.meta().namespace.as_deref() == Some(namespace) && controlled_by(&**o, owner_uid)
            })
            .collect()
    }

    /// The objects whose controller has `owner_uid`.
    pub fn owned_by(&self, owner_uid: &str) -> Vec<Arc<K>> {
        let maps = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        maps.by_owner
            .get(owner_uid)
            .map(|objs| objs.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// A cache of `api`'s objects controlled by an `owner_kind`, indexed by controller uid, and
/// the stream of every object it saw touched (applied or deleted, whatever their owner), for
/// a controller's triggers.
pub fn reflect_owned<K>(
    api: Api<K>,
    owner_kind: &'static str,
) -> (
    OwnerIndex<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: informer::Watched,
{
    let index = OwnerIndex::new(owner_kind);
    let writer = index.clone();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .map_ok(move |event| {
            writer.apply(&event);
            event
        })
        .touched_objects();
    (index, stream)
}

/// The pods of a shared informer controlled by an `owner_kind`, indexed by controller uid,
/// and the stream of every pod touched from now on (applied or deleted, whatever its owner),
/// for a controller's `owns_shared_stream`. Waits for the informer's first list and returns
/// with the index already filled, so that no sync ever reads a half-filled cache (upstream
/// starts its workers only after `WaitForCacheSync`); `None` when `shutdown` comes first.
///
/// One watch and one decode of each pod change serve every workload controller; the index
/// holds the informer's own objects.
pub async fn owned_pods(
    shared: &SharedInformer<Pod>,
    owner_kind: &'static str,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Option<(
    OwnerIndex<Pod>,
    impl Stream<Item = Arc<Pod>> + Send + 'static,
)> {
    if !shared.wait_until_ready_or(shutdown).await {
        return None;
    }
    let index = OwnerIndex::new(owner_kind);
    let mut changes = Box::pin(shared.changes());
    // A filled informer queues its whole cache as the first change, before `changes` returns.
    if let Some(first) = changes.next().now_or_never().flatten() {
        index.apply_change(&first);
    }
    let writer = index.clone();
    let touched = changes
        .map(move |change| {
            writer.apply_change(&change);
            futures::stream::iter(match change {
                Change::Applied(obj) | Change::Deleted(obj) => vec![obj],
                Change::Listed(all) => all,
            })
        })
        .flatten();
    Some((index, touched))
}

/// The writes of one owner that the cache has not reflected yet.
#[derive(Debug)]
struct Pending {
    /// Names of pods (or jobs) created.
    creates: HashSet<String>,
    /// Uids of pods deleted.
    deletes: HashSet<String>,
    since: Instant,
}

/// Upstream's `ControllerExpectations`, keyed by owner uid: a controller acts on an owner only
/// when its cache shows every object it created and none it deleted.
#[derive(Debug, Default)]
pub struct Expectations {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Pending>) -> R) -> R {
        let mut guard = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    fn entry<'a>(map: &'a mut HashMap<String, Pending>, owner: &str) -> &'a mut Pending {
        map.entry(owner.to_string()).or_insert_with(|| Pending {
            creates: HashSet::new(),
            deletes: HashSet::new(),
            since: Instant::now(),
        })
    }

    /// Records that `name` was created for `owner`.
    pub fn created(&self, owner: &str, name: &str) {
        self.with(|m| {
            let p = Self::entry(m, owner);
            p.creates.insert(name.to_string());
            p.since = Instant::now();
        });
    }

    /// Records that the object with `uid` was deleted for `owner`.
    pub fn deleted(&self, owner: &str, uid: &str) {
        self.with(|m| {
            let p = Self::entry(m, owner);
            p.deletes.insert(uid.to_string());
            p.since = Instant::now();
        });
    }

    /// Forgets everything about `owner` (it was deleted).
    pub fn forget(&self, owner: &str) {
        self.with(|m| {
            m.remove(owner);
        });
    }

    /// Whether the cache has caught up with `owner`'s writes, given the `objects` it now
    /// holds for the owner: every created name is there, every deleted object is gone (or
    /// terminating).
    pub fn satisfied<K: Resource>(&self, owner: &str, objects: &[Arc<K>]) -> bool {
        self.with(|m| {
            let Some(p) = m.get_mut(owner) else {
                return true;
            };
            let present_names: HashSet<&str> = objects
                .iter()
                .filter_map(|o| o.meta().name.as_deref())
                .collect();
            let live_uids: HashSet<&str> = objects
                .iter()
                .filter(|o| o.meta().deletion_timestamp.is_none())
                .filter_map(|o| o.meta().uid.as_deref())
                .collect();
            p.creates.retain(|n| !present_names.contains(n.as_str()));
            p.deletes.retain(|u| live_uids.contains(u.as_str()));
            if (p.creates.is_empty() && p.deletes.is_empty())
                || p.since.elapsed() > EXPECTATIONS_TIMEOUT
            {
                m.remove(owner);
                return true;
            }
            false
        })
    }
}

/// The nodes of a node watch whose `fingerprint` (what a controller reads of a node) changed,
/// and the nodes deleted. Status changes a controller does not read (heartbeats, thousands a
/// minute in a big cluster; image lists) pass no node through.
pub fn changed_nodes(
    events: impl Stream<Item = Result<watcher::Event<Node>, watcher::Error>> + Send + 'static,
    fingerprint: fn(&Node) -> u64,
) -> impl Stream<Item = Result<Node, watcher::Error>> + Send + 'static {
    let mut seen: HashMap<String, u64> = HashMap::new();
    events
        .map_ok(move |event| {
            let changed = match event {
                watcher::Event::Apply(node) | watcher::Event::InitApply(node) => {
                    let print = fingerprint(&node);
                    (seen.insert(node.name_any(), print) != Some(print)).then_some(node)
                }
                watcher::Event::Delete(node) => {
                    seen.remove(&node.name_any());
                    Some(node)
                }
                watcher::Event::Init | watcher::Event::InitDone => None,
            };
            futures::stream::iter(changed.map(Ok))
        })
        .try_flatten()
}

/// The controller owner reference of an object, if any.
pub fn controller_of<K: Resource>(obj: &K) -> Option<&OwnerReference> {
    obj.meta()
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
}

/// Whether `obj`'s controller is the object with `uid`.
pub fn controlled_by<K: Resource>(obj: &K, uid: &str) -> bool {
    controller_of(obj).is_some_and(|o| o.uid == uid)
}

/// A controller reference to `owner` (`metav1.NewControllerRef`).
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.meta().name.clone().unwrap_or_default(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether the pod is being deleted.
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// The pod's phase ("" if unset).
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// Whether the pod reached a terminal phase.
pub fn is_finished(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// When the pod's `Ready` condition became true, if it is true.
pub fn ready_since(pod: &Pod) -> Option<jiff::Timestamp> {
    let cond = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(
        cond.last_transition_time
            .as_ref()
            .map(|t| t.0)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
    )
}

/// Whether the pod's `Ready` condition is true (`podutil.IsPodReady`).
pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Whether the pod is Running with its `Ready` condition true.
pub fn is_running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && is_ready(pod)
}

/// Whether the pod has been ready for `min_ready_seconds` of simulated time
/// (`podutil.IsPodAvailable`).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, clock: &api::clock::Clock) -> bool {
    let Some(since) = ready_since(pod) else {
        return false;
    };
    min_ready_seconds <= 0
        || clock.elapsed_since(since)
            >= Duration::from_secs(u64::try_from(min_ready_seconds).unwrap_or(0))
}

/// How long (simulated) until a ready pod becomes available, if it is not yet.
pub fn until_available(
    pod: &Pod,
    min_ready_seconds: i32,
    clock: &api::clock::Clock,
) -> Option<Duration> {
    let since = ready_since(pod)?;
    let need = Duration::from_secs(u64::try_from(min_ready_seconds).unwrap_or(0));
    let elapsed = clock.elapsed_since(since);
    (elapsed < need).then(|| need - elapsed)
}

/// Publishes events for one controller (reporting component as upstream names it); see the
/// `events` crate for the series semantics.
#[derive(Clone)]
pub struct Events(events::Recorder);

impl Events {
    /// A publisher reporting as `controller` (e.g. `statefulset-controller`).
    pub fn new(client: Client, controller: &str) -> Self {
        Events(events::Recorder::new(client, controller, None))
    }

    /// Publishes an event about `regarding`; failures are logged, never fatal (as upstream's
    /// recorder drops events it cannot write).
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.0.publish(regarding, type_, reason, action, note).await;
    }
}

/// The object reference of `obj`, for events.
pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    obj.object_ref(&())
}

/// `namespace/name` of an object, for error targets.
pub fn key<K: Resource>(obj: &K) -> String {
    format!(
        "{}/{}",
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.name_any()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, owner: Option<&str>) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "default",
                "ownerReferences": owner.map(|o| vec![serde_json::json!(
                    {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "x", "uid": o, "controller": true})])}
        }))
        .expect("pod")
    }

    fn names(index: &OwnerIndex<Pod>, owner: &str) -> Vec<String> {
        let mut n: Vec<String> = index.owned_by(owner).iter().map(|p| p.name_any()).collect();
        n.sort();
        n
    }

    #[test]
    fn the_owner_index_follows_watch_events() {
        let index = OwnerIndex::<Pod>::new("StatefulSet");
        index.apply(&watcher::Event::Init);
        index.apply(&watcher::Event::InitApply(pod("a", Some("u1"))));
        index.apply(&watcher::Event::InitApply(pod("free", None)));
        assert!(names(&index, "u1").is_empty(), "a relist applies when done");
        index.apply(&watcher::Event::InitDone);
        assert_eq!(names(&index, "u1"), ["a"]);
        index.apply(&watcher::Event::Apply(pod("b", Some("u1"))));
        index.apply(&watcher::Event::Apply(pod("a", Some("u2"))));
        assert_eq!(
            names(&index, "u1"),
            ["b"],
            "a changed owner moves the object"
        );
        assert_eq!(names(&index, "u2"), ["a"]);
        index.apply(&watcher::Event::Delete(pod("b", Some("u1"))));
        assert!(names(&index, "u1").is_empty());
        // A pod another kind of controller owns is not this cache's business.
        let mut theirs = pod("r", Some("u3"));
        if let Some(o) = theirs.metadata.owner_references.as_mut() {
            o[0].kind = "ReplicaSet".into();
        }
        index.apply(&watcher::Event::Apply(theirs));
        assert!(
            names(&index, "u3").is_empty(),
            "only StatefulSets' pods are kept"
        );
        index.apply(&watcher::Event::Init);
        index.apply(&watcher::Event::InitDone);
        assert!(
            names(&index, "u2").is_empty(),
            "a relist replaces everything"
        );
    }

    #[test]
    fn the_owner_index_holds_a_shared_informers_own_objects() {
        let index = OwnerIndex::<Pod>::new("StatefulSet");
        let a = Arc::new(pod("a", Some("u1")));
        index.apply_change(&Change::Listed(vec![
            a.clone(),
            Arc::new(pod("free", None)),
        ]));
        assert_eq!(names(&index, "u1"), ["a"]);
        assert!(
            Arc::ptr_eq(&index.owned_by("u1")[0], &a),
            "the informer's object, not a copy"
        );
        index.apply_change(&Change::Applied(Arc::new(pod("a", Some("u2")))));
        index.apply_change(&Change::Applied(Arc::new(pod("b", Some("u1")))));
        assert_eq!(names(&index, "u1"), ["b"], "a changed owner moves the pod");
        assert_eq!(names(&index, "u2"), ["a"]);
        index.apply_change(&Change::Deleted(Arc::new(pod("b", Some("u1")))));
        assert!(names(&index, "u1").is_empty());
        index.apply_change(&Change::Listed(vec![Arc::new(pod("c", Some("u3")))]));
        assert!(
            names(&index, "u2").is_empty(),
            "a relist replaces everything"
        );
        assert_eq!(names(&index, "u3"), ["c"]);
    }

    #[test]
    fn expectations_hold_until_the_cache_catches_up() {
        let pod = |name: &str, uid: &str, terminating: bool| {
            let mut p = Pod::default();
            p.metadata.name = Some(name.into());
            p.metadata.uid = Some(uid.into());
            if terminating {
                p.metadata.deletion_timestamp =
                    Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                        jiff::Timestamp::UNIX_EPOCH,
                    ));
            }
            Arc::new(p)
        };
        let e = Expectations::default();
        let none: Vec<Arc<Pod>> = Vec::new();
        assert!(e.satisfied("o", &none), "nothing expected");
        e.created("o", "web-0");
        e.deleted("o", "uid-1");
        let old = pod("web-old", "uid-1", false);
        let new = pod("web-0", "uid-0", false);
        assert!(
            !e.satisfied("o", std::slice::from_ref(&old)),
            "the create is not seen yet"
        );
        assert!(
            !e.satisfied("o", &[old.clone(), new.clone()]),
            "the delete is not seen yet"
        );
        assert!(
            e.satisfied("o", &[pod("web-old", "uid-1", true), new]),
            "both seen (the deleted one terminating)"
        );
        assert!(
            e.satisfied("o", &none),
            "satisfied expectations are dropped"
        );
    }
}
