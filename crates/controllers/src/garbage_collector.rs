//! The garbage collector: deletes objects whose owners are all gone, detaches dangling owner
//! references, and carries out foreground and orphan deletion, as kube-controller-manager's
//! `garbagecollector` does, meeting the API server only through the API.
//!
//! Shape (upstream's, simplified):
//! - a discovery loop re-reads the served resources every [`DISCOVERY_INTERVAL`] and keeps one
//!   watch (a *monitor*) per deletable, listable, watchable group-resource at its preferred
//!   version, except events;
//! - monitors feed one in-memory ownership [`graph`] keyed by uid; every change marks the
//!   affected uids dirty in a deduplicating work [`queue`], and a periodic resync marks every
//!   node with owners or being deleted;
//! - workers take uids, ask the graph for a [`Plan`] (pure) and carry it out with live reads:
//!   an owner is absent only if a live GET says 404 or returns another uid, every write is
//!   guarded by uid and resourceVersion, and 404/409 answers lead to re-evaluation.

mod graph;
pub(crate) mod queue;

use std::collections::{HashMap, HashSet};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use futures::StreamExt;
use informer::{Change, SharedInformer};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Client;
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use kube::discovery::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::discovery::{self, DiscoveredResources, ServedResource};
use crate::{Error, error_chain, is_conflict, is_not_found};
use graph::{
    DependentFacts, Graph, Node, OwnerLookup, Plan, classify_owner, decide, finalizers_patch,
    owner_references_patch, unblocked, without_owners,
};
use queue::WorkQueue;

pub use graph::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};

/// How often discovery is re-run to pick up new resources (CRDs) and drop removed ones.
pub const DISCOVERY_INTERVAL: Duration = Duration::from_secs(30);
/// How often every node with owners or being deleted is re-evaluated.
pub const RESYNC_INTERVAL: Duration = Duration::from_secs(60);
/// How long workers wait for the monitors' first lists before collecting anyway.
pub const INITIAL_SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// Number of concurrent workers.
pub const WORKERS: usize = 4;
/// Resources never watched (upstream's default ignored resources): events are many, short-lived
/// and never owners.
pub const IGNORED_RESOURCES: &[(&str, &str)] = &[("", "events"), ("events.k8s.io", "events")];
/// Verbs a resource must support to be watched by the garbage collector.
pub const REQUIRED_VERBS: &[&str] = &["delete", "list", "watch"];
/// Attempts of a guarded patch that meets 409 Conflict before giving up for this round.
const CONFLICT_RETRIES: usize = 5;

/// Runs the garbage collector until `shutdown` is cancelled. Transient failures (discovery,
/// watches, single objects) are logged and retried with back-off; an error is returned only if
/// an internal task dies.
pub async fn run(client: Client, shutdown: CancellationToken) -> Result<(), Error> {
    run_with(client, None, shutdown).await
}

/// [`run`], reading pods from a shared watch (when given) instead of a watch of its own.
pub async fn run_with(
    client: Client,
    pods: Option<SharedInformer<Pod>>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let token = shutdown.child_token();
    let gc = Arc::new(Collector::new(client, pods));
    let mut monitors: HashMap<(String, String), Monitor> = HashMap::new();
    let mut tasks: JoinSet<()> = JoinSet::new();
    let result = supervise(&gc, &mut monitors, &mut tasks, &token).await;
    token.cancel();
    for (_, monitor) in monitors.drain() {
        monitor.stop().await;
    }
    tasks.shutdown().await;
    info!("garbage collector stopped");
    result
}

/// The discovery loop; starts workers once the first monitors have synced.
async fn supervise(
    gc: &Arc<Collector>,
    monitors: &mut HashMap<(String, String), Monitor>,
    tasks: &mut JoinSet<()>,
    token: &CancellationToken,
) -> Result<(), Error> {
    let mut failures: u32 = 0;
    let mut started = false;
    loop {
        let discovered = tokio::select! {
            _ = token.cancelled() => return Ok(()),
            discovered = discovery::discover(&gc.client) => discovered,
        };
        match discovered {
            Ok(found) => {
                failures = 0;
                for failure in found.failures() {
                    warn!(
                        group_version = %failure.group_version,
                        error = %failure.message,
                        "garbage collector: discovery of a group-version failed; keeping its monitors"
                    );
                }
                let found = Arc::new(found);
                gc.set_resources(Arc::clone(&found));
                sync_monitors(gc, monitors, &found, token).await;
                if !started {
                    wait_for_initial_sync(monitors, token).await;
                    info!(
                        monitors = monitors.len(),
                        "garbage collector: collecting garbage"
                    );
                    for _ in 0..WORKERS {
                        tasks.spawn(worker(Arc::clone(gc), token.clone()));
                    }
                    tasks.spawn(resync(Arc::clone(gc), token.clone()));
                    started = true;
                }
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                warn!(error = %error_chain(&error), "garbage collector: discovery failed; retrying");
            }
        }
        let delay = if failures == 0 {
            DISCOVERY_INTERVAL
        } else {
            retry_delay(failures)
        };
        tokio::select! {
            _ = token.cancelled() => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                if token.is_cancelled() {
                    return Ok(());
                }
                return Err(Error::TaskEnded {
                    task: "garbage collector worker",
                    source: joined.err(),
                });
            }
        }
    }
}

/// `1s * 2^(failures-1)`, capped at [`DISCOVERY_INTERVAL`].
fn retry_delay(failures: u32) -> Duration {
    let factor = 1u32
        .checked_shl(failures.saturating_sub(1).min(31))
        .unwrap_or(u32::MAX);
    Duration::from_secs(1)
        .saturating_mul(factor)
        .min(DISCOVERY_INTERVAL)
}

/// Whether the garbage collector watches `resource`.
fn is_monitored(resource: &ServedResource) -> bool {
    resource.supports_all(REQUIRED_VERBS)
        && !IGNORED_RESOURCES
            .iter()
            .any(|(group, plural)| resource.api.group == *group && resource.api.plural == *plural)
}

/// Starts monitors for new resources and stops those no longer served (keeping those of
/// groups whose discovery failed this round, as upstream does).
async fn sync_monitors(
    gc: &Arc<Collector>,
    monitors: &mut HashMap<(String, String), Monitor>,
    found: &DiscoveredResources,
    token: &CancellationToken,
) {
    let failed_groups = found.failed_groups();
    let desired: HashMap<(String, String), &ServedResource> = found
        .preferred()
        .iter()
        .filter(|r| is_monitored(r))
        .map(|r| ((r.api.group.clone(), r.api.plural.clone()), r))
        .collect();
    let current: Vec<(String, String)> = monitors.keys().cloned().collect();
    for key in current {
        let keep = match (desired.get(&key), monitors.get(&key)) {
            (Some(want), Some(have)) => want.api == have.resource.api,
            (None, _) => failed_groups.contains(key.0.as_str()),
            (Some(_), None) => true,
        };
        if keep {
            continue;
        }
        if let Some(monitor) = monitors.remove(&key) {
            info!(resource = %monitor.resource.api.api_version, plural = %key.1, "garbage collector: stopping monitor");
            monitor.stop().await;
            let dirty = gc.graph().prune_resource(&key.0, &key.1, None);
            gc.queue.add_all(dirty);
        }
    }
    for (key, resource) in desired {
        monitors.entry(key).or_insert_with(|| {
            debug!(resource = %resource.group_resource(), version = %resource.api.version, "garbage collector: starting monitor");
            Monitor::start(gc, resource.clone(), token)
        });
    }
}

/// Waits until every monitor has listed once, [`INITIAL_SYNC_TIMEOUT`] passes, or shutdown.
async fn wait_for_initial_sync(
    monitors: &HashMap<(String, String), Monitor>,
    token: &CancellationToken,
) {
    let deadline = Instant::now() + INITIAL_SYNC_TIMEOUT;
    loop {
        let pending: Vec<String> = monitors
            .values()
            .filter(|m| !m.synced.load(Ordering::Acquire))
            .map(|m| m.resource.group_resource())
            .collect();
        if pending.is_empty() {
            info!("garbage collector: all resource monitors have synced");
            return;
        }
        if Instant::now() >= deadline {
            warn!(
                ?pending,
                "garbage collector: not all resource monitors could be synced; proceeding anyway"
            );
            return;
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

/// State shared by monitors and workers.
struct Collector {
    client: Client,
    /// The shared pod watch, read instead of a watch of its own when given.
    pods: Option<SharedInformer<Pod>>,
    graph: Mutex<Graph>,
    queue: WorkQueue,
    resources: RwLock<Arc<DiscoveredResources>>,
    /// `(dependent uid, owner uid)` pairs already warned about, so resyncs do not repeat it.
    warned: Mutex<HashSet<(String, String)>>,
}

impl Collector {
    fn new(client: Client, pods: Option<SharedInformer<Pod>>) -> Self {
        Collector {
            client,
            pods,
            graph: Mutex::new(Graph::default()),
            queue: WorkQueue::default(),
            resources: RwLock::new(Arc::new(DiscoveredResources::default())),
            warned: Mutex::new(HashSet::new()),
        }
    }

    fn graph(&self) -> MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn resources(&self) -> Arc<DiscoveredResources> {
        Arc::clone(
            &self
                .resources
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn set_resources(&self, found: Arc<DiscoveredResources>) {
        *self
            .resources
            .write()
            .unwrap_or_else(PoisonError::into_inner) = found;
    }

    /// Records an added or updated object; returns its uid.
    fn observe(&self, resource: &Arc<ApiResource>, meta: &ObjectMeta) -> Option<String> {
        let node = Node::from_meta(resource, meta)?;
        let uid = node.uid.clone();
        let dirty = self.graph().upsert(node);
        self.queue.add_all(dirty);
        Some(uid)
    }

    /// Records a deleted object.
    fn forget_object(&self, meta: &ObjectMeta) {
        let Some(uid) = meta.uid.as_deref() else {
            return;
        };
        let dirty = self.graph().remove(uid);
        self.queue.add_all(dirty);
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if !warned.is_empty() {
            warned.retain(|(dependent, _)| dependent != uid);
        }
    }

    /// After a relist of `resource`: drops nodes not listed.
    fn prune(&self, resource: &ApiResource, listed: &HashSet<String>) {
        let dirty = self
            .graph()
            .prune_resource(&resource.group, &resource.plural, Some(listed));
        self.queue.add_all(dirty);
    }

    /// True the first time `(dependent, owner)` is seen, to log a warning once.
    fn first_warning(&self, dependent: &str, owner: &str) -> bool {
        self.warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((dependent.to_string(), owner.to_string()))
    }

    /// Evaluates one uid and carries out what it needs.
    async fn process(&self, uid: &str) -> Result<(), Error> {
        let resources = self.resources();
        let plan = self.graph().plan(uid, &resources);
        match plan {
            Plan::Nothing => Ok(()),
            Plan::Orphan { owner, dependents } => self.orphan(&owner, &dependents).await,
            Plan::AwaitDependents { dependents } => {
                self.queue.add_all(dependents);
                Ok(())
            }
            Plan::FinishForeground { owner } => {
                info!(owner = %owner.describe(), "garbage collector: no blocking dependents remain; removing the foregroundDeletion finalizer");
                self.remove_finalizer(&owner, FOREGROUND_FINALIZER).await
            }
            Plan::VerifyOwners {
                dependent,
                invalid_namespace,
            } => {
                for reference in &invalid_namespace {
                    if self.first_warning(&dependent.uid, &reference.uid) {
                        warn!(
                            reason = "OwnerRefInvalidNamespace",
                            dependent = %dependent.describe(),
                            "ownerRef [{}/{}, namespace: {}, name: {}, uid: {}] does not exist in namespace {:?}",
                            reference.api_version,
                            reference.kind,
                            dependent.namespace.as_deref().unwrap_or_default(),
                            reference.name,
                            reference.uid,
                            dependent.namespace.as_deref().unwrap_or_default(),
                        );
                    }
                }
                self.verify_owners(&dependent, &resources).await
            }
            Plan::InvalidClusterScopedDependent {
                dependent,
                reference,
            } => {
                self.warn_cluster_scoped_dependent(&dependent, &reference);
                Ok(())
            }
            Plan::UnknownOwnerKind {
                dependent,
                reference,
            } => {
                if self.first_warning(&dependent.uid, &reference.uid) {
                    warn!(
                        dependent = %dependent.describe(),
                        owner_api_version = %reference.api_version,
                        owner_kind = %reference.kind,
                        "garbage collector: owner reference names a kind the server does not serve; leaving the dependent alone"
                    );
                }
                Ok(())
            }
        }
    }

    fn warn_cluster_scoped_dependent(&self, dependent: &Node, reference: &OwnerReference) {
        if self.first_warning(&dependent.uid, &reference.uid) {
            warn!(
                reason = "OwnerRefInvalidNamespace",
                dependent = %dependent.describe(),
                owner_api_version = %reference.api_version,
                owner_kind = %reference.kind,
                owner_name = %reference.name,
                "garbage collector: cluster-scoped object refers to a namespaced owner; ignoring it"
            );
        }
    }

    /// Upstream's `attemptToDeleteItem` for a node not being deleted: look the owners up live,
    /// then keep, detach or delete the dependent.
    async fn verify_owners(
        &self,
        dependent: &Node,
        resources: &DiscoveredResources,
    ) -> Result<(), Error> {
        let api = object_api(
            &self.client,
            &dependent.resource,
            dependent.namespace.as_deref(),
        );
        let Some(live) = get_matching(&api, dependent).await? else {
            return Ok(()); // gone or replaced: the watch will tell the graph
        };
        if live.metadata.deletion_timestamp.is_some() {
            return Ok(()); // the update event re-evaluates it
        }
        let references = live.metadata.owner_references.clone().unwrap_or_default();
        let mut states = Vec::with_capacity(references.len());
        for reference in references {
            let Some(kind) = resources.lookup_kind(&reference.api_version, &reference.kind) else {
                debug!(dependent = %dependent.describe(), kind = %reference.kind, "garbage collector: owner kind not served; not deciding");
                return Ok(());
            };
            if dependent.namespace.is_none() && kind.namespaced {
                self.warn_cluster_scoped_dependent(dependent, &reference);
                return Ok(());
            }
            let namespace = if kind.namespaced {
                dependent.namespace.as_deref()
            } else {
                None
            };
            let lookup = lookup_owner(&self.client, &kind.api, namespace, &reference.name).await?;
            let state = classify_owner(&reference, &lookup);
            states.push((reference, state));
        }
        let facts = {
            let graph = self.graph();
            DependentFacts {
                has_dependents: graph.has_dependents(&dependent.uid),
                has_dependent_deleting_dependents: graph
                    .has_dependent_deleting_dependents(&dependent.uid),
                has_orphan_finalizer: has_finalizer(&live, ORPHAN_FINALIZER),
                has_foreground_finalizer: has_finalizer(&live, FOREGROUND_FINALIZER),
            }
        };
        let decision = decide(&states, facts);
        debug!(dependent = %dependent.describe(), ?states, ?decision, "garbage collector: classified owner references");
        let resource_version = live.metadata.resource_version.clone().unwrap_or_default();
        let current = live.metadata.owner_references.clone().unwrap_or_default();
        match decision {
            graph::Decision::Keep => Ok(()),
            graph::Decision::RemoveOwnerReferences(owner_uids) => {
                info!(dependent = %dependent.describe(), owners = ?owner_uids, "garbage collector: removing dangling owner references");
                let remaining = without_owners(&current, &owner_uids);
                let patch = owner_references_patch(&dependent.uid, &resource_version, &remaining);
                match api
                    .patch(
                        &dependent.name,
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(error) if is_not_found(&error) => Ok(()),
                    Err(error) => Err(Error::request("patch", target(dependent), error)),
                }
            }
            graph::Decision::Delete {
                policy,
                unblock_first,
            } => {
                let (resource_version, owners) = if unblock_first {
                    info!(dependent = %dependent.describe(), "garbage collector: a dependent is also deleting its dependents; unblocking owner references to avoid a cycle");
                    let patch = owner_references_patch(
                        &dependent.uid,
                        &resource_version,
                        &unblocked(&current),
                    );
                    match api
                        .patch(
                            &dependent.name,
                            &PatchParams::default(),
                            &Patch::Merge(&patch),
                        )
                        .await
                    {
                        Ok(patched) => (
                            patched.metadata.resource_version.unwrap_or_default(),
                            patched.metadata.owner_references.unwrap_or_default(),
                        ),
                        Err(error) if is_not_found(&error) => return Ok(()),
                        Err(error) => {
                            return Err(Error::request("patch", target(dependent), error));
                        }
                    }
                } else {
                    (resource_version, current)
                };
                info!(dependent = %dependent.describe(), ?policy, "garbage collector: deleting object whose owners are gone or waiting for it");
                delete_dependent(&api, dependent, &resource_version, &owners, policy).await
            }
        }
    }

    /// Upstream's `attemptToOrphanWorker`: detach `owner` from every dependent, then remove
    /// its `orphan` finalizer.
    async fn orphan(&self, owner: &Node, dependents: &[Node]) -> Result<(), Error> {
        let mut first_error = None;
        for dependent in dependents {
            let api = object_api(
                &self.client,
                &dependent.resource,
                dependent.namespace.as_deref(),
            );
            let owner_uid = owner.uid.clone();
            let result = patch_with_retry(&api, dependent, |live| {
                let references = live
                    .metadata
                    .owner_references
                    .as_deref()
                    .unwrap_or_default();
                if !references.iter().any(|r| r.uid == owner_uid) {
                    return None;
                }
                let remaining = without_owners(references, std::slice::from_ref(&owner_uid));
                let resource_version = live
                    .metadata
                    .resource_version
                    .as_deref()
                    .unwrap_or_default();
                Some(owner_references_patch(
                    &dependent.uid,
                    resource_version,
                    &remaining,
                ))
            })
            .await;
            if let Err(error) = result {
                warn!(owner = %owner.describe(), dependent = %dependent.describe(), error = %error_chain(&error), "garbage collector: orphaning a dependent failed");
                first_error.get_or_insert(error);
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        info!(owner = %owner.describe(), dependents = dependents.len(), "garbage collector: dependents orphaned; removing the orphan finalizer");
        self.remove_finalizer(owner, ORPHAN_FINALIZER).await
    }

    /// Removes `finalizer` from `node`'s live object, if it is still there.
    async fn remove_finalizer(&self, node: &Node, finalizer: &str) -> Result<(), Error> {
        let api = object_api(&self.client, &node.resource, node.namespace.as_deref());
        patch_with_retry(&api, node, |live| {
            let finalizers = live.metadata.finalizers.as_deref().unwrap_or_default();
            if !finalizers.iter().any(|f| f == finalizer) {
                return None;
            }
            let remaining: Vec<String> = finalizers
                .iter()
                .filter(|f| *f != finalizer)
                .cloned()
                .collect();
            let resource_version = live
                .metadata
                .resource_version
                .as_deref()
                .unwrap_or_default();
            Some(finalizers_patch(&node.uid, resource_version, &remaining))
        })
        .await
    }
}

/// One watch over one resource, feeding the graph.
struct Monitor {
    resource: ServedResource,
    stop: CancellationToken,
    synced: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Monitor {
    fn start(gc: &Arc<Collector>, resource: ServedResource, parent: &CancellationToken) -> Self {
        let stop = parent.child_token();
        let synced = Arc::new(AtomicBool::new(false));
        let api = Arc::new(resource.api.clone());
        let task = match &gc.pods {
            Some(pods) if api.group.is_empty() && api.plural == "pods" => {
                tokio::spawn(watch_shared_pods(
                    Arc::clone(gc),
                    api,
                    pods.clone(),
                    stop.clone(),
                    Arc::clone(&synced),
                ))
            }
            _ => tokio::spawn(watch_resource(
                Arc::clone(gc),
                api,
                stop.clone(),
                Arc::clone(&synced),
            )),
        };
        Monitor {
            resource,
            stop,
            synced,
            task,
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        if let Err(error) = self.task.await {
            warn!(resource = %self.resource.group_resource(), %error, "garbage collector: monitor task failed");
        }
    }
}

/// Watches every object of `resource` (all namespaces) into the graph until `stop`.
async fn watch_resource(
    gc: Arc<Collector>,
    resource: Arc<ApiResource>,
    stop: CancellationToken,
    synced: Arc<AtomicBool>,
) {
    let name = format!("{}.{}", resource.plural, resource.group);
    loop {
        let api: Api<DynamicObject> = Api::all_with(gc.client.clone(), resource.as_ref());
        let mut events = pin!(watcher(api, watcher::Config::default()).default_backoff());
        let mut listed: Option<HashSet<String>> = None;
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                event = events.next() => event,
            };
            match event {
                None => break,
                Some(Ok(Event::Init)) => listed = Some(HashSet::new()),
                Some(Ok(Event::InitApply(object))) => {
                    if let Some(uid) = gc.observe(&resource, &object.metadata) {
                        listed.get_or_insert_with(HashSet::new).insert(uid);
                    }
                }
                Some(Ok(Event::InitDone)) => {
                    gc.prune(&resource, &listed.take().unwrap_or_default());
                    synced.store(true, Ordering::Release);
                }
                Some(Ok(Event::Apply(object))) => {
                    gc.observe(&resource, &object.metadata);
                }
                Some(Ok(Event::Delete(object))) => gc.forget_object(&object.metadata),
                Some(Err(error)) => {
                    warn!(resource = %name, error = %error_chain(&error), "garbage collector: watch failed; retrying with back-off");
                }
            }
        }
        warn!(resource = %name, "garbage collector: watch stream ended; restarting it");
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Feeds the graph from the shared pod watch until `stop` (pods are the most numerous and
/// most changed objects: this saves decoding each pod change once more).
async fn watch_shared_pods(
    gc: Arc<Collector>,
    resource: Arc<ApiResource>,
    pods: SharedInformer<Pod>,
    stop: CancellationToken,
    synced: Arc<AtomicBool>,
) {
    let mut changes = pin!(pods.changes());
    loop {
        let change = tokio::select! {
            _ = stop.cancelled() => return,
            change = changes.next() => change,
        };
        match change {
            // The shared watch ends only at shutdown.
            None => return,
            Some(Change::Listed(all)) => {
                let listed: HashSet<String> = all
                    .iter()
                    .filter_map(|pod| gc.observe(&resource, &pod.metadata))
                    .collect();
                gc.prune(&resource, &listed);
                synced.store(true, Ordering::Release);
            }
            Some(Change::Applied(pod)) => {
                gc.observe(&resource, &pod.metadata);
            }
            Some(Change::Deleted(pod)) => gc.forget_object(&pod.metadata),
        }
    }
}

/// Takes uids off the queue and processes them until shutdown.
async fn worker(gc: Arc<Collector>, token: CancellationToken) {
    while let Some(uid) = gc.queue.next(&token).await {
        let result = tokio::select! {
            _ = token.cancelled() => return,
            result = gc.process(&uid) => result,
        };
        match result {
            Ok(()) => gc.queue.forget(&uid),
            Err(error) => {
                let delay = gc.queue.failure_delay(&uid);
                if error.is_conflict() {
                    debug!(%uid, retry_in = ?delay, "garbage collector: object changed meanwhile; re-evaluating");
                } else {
                    warn!(%uid, retry_in = ?delay, error = %error_chain(&error), "garbage collector: processing failed");
                }
                let gc = Arc::clone(&gc);
                let token = token.clone();
                let uid = uid.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = tokio::time::sleep(delay) => gc.queue.add(uid),
                    }
                });
            }
        }
        gc.queue.done(&uid);
    }
}

/// Marks every node with owners or being deleted dirty, now and every [`RESYNC_INTERVAL`].
async fn resync(gc: Arc<Collector>, token: CancellationToken) {
    loop {
        let (candidates, nodes) = {
            let graph = gc.graph();
            (graph.resync_candidates(), graph.len())
        };
        debug!(
            nodes,
            candidates = candidates.len(),
            queued = gc.queue.len(),
            "garbage collector: resync"
        );
        gc.queue.add_all(candidates);
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(RESYNC_INTERVAL) => {}
        }
    }
}

/// An `Api` for `resource` in `namespace` (cluster-wide when `None`).
fn object_api(
    client: &Client,
    resource: &ApiResource,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

/// `plural.group namespace/name` for errors.
fn target(node: &Node) -> String {
    match &node.namespace {
        Some(ns) => format!(
            "{}.{} {}/{}",
            node.resource.plural, node.resource.group, ns, node.name
        ),
        None => format!(
            "{}.{} {}",
            node.resource.plural, node.resource.group, node.name
        ),
    }
}

fn has_finalizer(object: &DynamicObject, finalizer: &str) -> bool {
    object
        .metadata
        .finalizers
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|f| f == finalizer)
}

/// The live object of `node`, or `None` if it is gone or was replaced (another uid).
async fn get_matching(
    api: &Api<DynamicObject>,
    node: &Node,
) -> Result<Option<DynamicObject>, Error> {
    match api.get_opt(&node.name).await {
        Ok(Some(live)) if live.metadata.uid.as_deref() == Some(node.uid.as_str()) => Ok(Some(live)),
        Ok(_) => Ok(None),
        Err(error) => Err(Error::request("get", target(node), error)),
    }
}

/// A live GET of an owner by name.
async fn lookup_owner(
    client: &Client,
    resource: &ApiResource,
    namespace: Option<&str>,
    name: &str,
) -> Result<OwnerLookup, Error> {
    let api = object_api(client, resource, namespace);
    match api.get_opt(name).await {
        Ok(None) => Ok(OwnerLookup::NotFound),
        Ok(Some(owner)) => Ok(OwnerLookup::Found {
            uid: owner.metadata.uid.unwrap_or_default(),
            being_deleted: owner.metadata.deletion_timestamp.is_some(),
            finalizers: owner.metadata.finalizers.unwrap_or_default(),
        }),
        Err(error) => {
            let target = match namespace {
                Some(ns) => format!("{}.{} {}/{}", resource.plural, resource.group, ns, name),
                None => format!("{}.{} {}", resource.plural, resource.group, name),
            };
            Err(Error::request("get", target, error))
        }
    }
}

/// Reads `node` live and applies the merge patch `build` returns (none: nothing to do),
/// retrying on 409 Conflict; 404 or a replaced object count as done.
async fn patch_with_retry(
    api: &Api<DynamicObject>,
    node: &Node,
    build: impl Fn(&DynamicObject) -> Option<serde_json::Value>,
) -> Result<(), Error> {
    let mut attempt = 1;
    loop {
        let Some(live) = get_matching(api, node).await? else {
            return Ok(());
        };
        let Some(patch) = build(&live) else {
            return Ok(());
        };
        match api
            .patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(()),
            Err(error) if is_not_found(&error) => return Ok(()),
            Err(error) if is_conflict(&error) && attempt < CONFLICT_RETRIES => attempt += 1,
            Err(error) => return Err(Error::request("patch", target(node), error)),
        }
    }
}

fn delete_params(
    policy: PropagationPolicy,
    uid: &str,
    resource_version: Option<&str>,
) -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(policy),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: resource_version
                .filter(|rv| !rv.is_empty())
                .map(str::to_string),
        }),
        ..DeleteParams::default()
    }
}

/// Upstream's `deleteObject`: delete guarded by uid and resourceVersion; if only the
/// resourceVersion moved and the owner references did not change, retry guarded by uid alone.
async fn delete_dependent(
    api: &Api<DynamicObject>,
    node: &Node,
    resource_version: &str,
    owners_at_version: &[OwnerReference],
    policy: PropagationPolicy,
) -> Result<(), Error> {
    let guarded = delete_params(policy.clone(), &node.uid, Some(resource_version));
    match api.delete(&node.name, &guarded).await {
        Ok(_) => return Ok(()),
        Err(error) if is_not_found(&error) => return Ok(()),
        Err(error) if is_conflict(&error) && !resource_version.is_empty() => {
            let Some(latest) = get_matching(api, node).await? else {
                return Ok(());
            };
            if latest
                .metadata
                .owner_references
                .as_deref()
                .unwrap_or_default()
                != owners_at_version
            {
                return Err(Error::request("delete", target(node), error));
            }
        }
        Err(error) => return Err(Error::request("delete", target(node), error)),
    }
    match api
        .delete(&node.name, &delete_params(policy, &node.uid, None))
        .await
    {
        Ok(_) => Ok(()),
        // 404: gone; 409: the uid precondition failed, so the object was replaced.
        Err(error) if is_not_found(&error) || is_conflict(&error) => Ok(()),
        Err(error) => Err(Error::request("delete", target(node), error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::tests::sample;

    #[test]
    fn monitored_resources_exclude_events_and_unwatchable_ones() {
        let found = sample();
        let mut monitored: Vec<String> = found
            .preferred()
            .iter()
            .filter(|r| is_monitored(r))
            .map(|r| r.group_resource())
            .collect();
        monitored.sort();
        assert_eq!(
            monitored,
            vec![
                "configmaps.",
                "deployments.apps",
                "horizontalpodautoscalers.autoscaling",
                "namespaces.",
                "onlyinv1s.autoscaling",
                "pods.",
                "replicasets.apps",
            ],
            "events and create-only resources (bindings) are not monitored"
        );
    }

    #[test]
    fn deletes_are_guarded_by_uid_and_resource_version() {
        let cases = [
            (
                "both preconditions when the version is known",
                Some("12"),
                Some("12"),
            ),
            ("uid alone when retrying without the version", None, None),
            ("an empty version is not sent", Some(""), None),
        ];
        for (case, rv, want_rv) in cases {
            let params = delete_params(PropagationPolicy::Foreground, "uid-1", rv);
            let pre = params.preconditions.clone().unwrap_or_default();
            assert_eq!(pre.uid.as_deref(), Some("uid-1"), "{case}");
            assert_eq!(pre.resource_version.as_deref(), want_rv, "{case}");
            assert_eq!(
                params.propagation_policy,
                Some(PropagationPolicy::Foreground),
                "{case}"
            );
        }
    }

    #[test]
    fn discovery_retries_back_off_up_to_the_interval() {
        let cases = [
            ("the first retry waits a second", 1, Duration::from_secs(1)),
            ("retries double", 3, Duration::from_secs(4)),
            (
                "retries never wait longer than the discovery interval",
                40,
                DISCOVERY_INTERVAL,
            ),
        ];
        for (case, failures, want) in cases {
            assert_eq!(retry_delay(failures), want, "{case}");
        }
    }
}
