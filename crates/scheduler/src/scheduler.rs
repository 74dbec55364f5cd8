//! The scheduler's loop: watches pods, nodes and what the plugins need, keeps the snapshot
//! and queue current, runs one scheduling cycle at a time, and hands binding, status updates,
//! events and preemption to tasks off the loop.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::{EventType, Recorder};
use futures::{Stream, StreamExt, stream::BoxStream};
use informer::{Change, SharedInformer};
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ReplicationController, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event as WEvent};
use kube::{Client, Resource};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::node_info::{Labels, PdbInfo, PodInfo, Selector, Snapshot};
use crate::queue::{QueuedPod, SchedulingQueue};
use crate::schedule_one::{Action, Algorithm, Outcome};
use crate::{Config, Error, Framework, registry};

/// A change to one of the small caches (namespaces, workload selectors, PDBs).
enum Small {
    /// A namespace's labels.
    Namespace(String, Option<Labels>),
    /// A workload selector `kind/name` in a namespace (None: deleted or no selector).
    Workload(String, String, Option<Selector>),
    /// A PDB `ns/name` (None: deleted).
    Pdb(String, Option<PdbInfo>),
}

enum Msg {
    Pod(Change<Pod>),
    Node(Box<WEvent<Node>>),
    Small(&'static str, WEvent<Small>),
}

fn watch<K>(
    client: &Client,
) -> impl Stream<Item = Result<WEvent<K>, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + 'static,
{
    watcher::watcher(Api::<K>::all(client.clone()), watcher::Config::default()).default_backoff()
}

fn small<K, F>(client: &Client, name: &'static str, f: F) -> BoxStream<'static, Msg>
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + 'static,
    F: Fn(K, bool) -> Small + Send + 'static,
{
    watch::<K>(client)
        .filter_map(move |e| {
            let out = match e {
                Ok(ev) => Some(Msg::Small(
                    name,
                    match ev {
                        WEvent::Apply(k) => WEvent::Apply(f(k, true)),
                        WEvent::InitApply(k) => WEvent::InitApply(f(k, true)),
                        WEvent::Delete(k) => WEvent::Delete(f(k, false)),
                        WEvent::Init => WEvent::Init,
                        WEvent::InitDone => WEvent::InitDone,
                    },
                )),
                Err(err) => {
                    warn!(resource = name, error = %err, "scheduler watch failed; retrying");
                    None
                }
            };
            futures::future::ready(out)
        })
        .boxed()
}

fn ns_name<K: Resource>(k: &K) -> (String, String) {
    (
        k.meta().namespace.clone().unwrap_or_default(),
        k.meta().name.clone().unwrap_or_default(),
    )
}

fn map_selector(m: Option<&std::collections::BTreeMap<String, String>>) -> Option<Selector> {
    m.filter(|m| !m.is_empty()).map(Selector::from_map)
}

fn label_selector(
    s: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
) -> Option<Selector> {
    let sel = Selector::from_label_selector(s);
    (!sel.is_everything() && sel != Selector::Nothing).then_some(sel)
}

/// Runs the scheduler until `shutdown` is cancelled.
pub async fn run(client: Client, config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let pods = SharedInformer::start(Api::all(client.clone()), shutdown.clone());
    run_with(client, config, pods, shutdown).await
}

/// [`run`], reading pods from a shared watch (one cache of every pod for all of a process's
/// components).
pub async fn run_with(
    client: Client,
    config: Config,
    pods: SharedInformer<Pod>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let pods = pods.changes().map(|c| Ok(Msg::Pod(c)));
    let nodes = watch::<Node>(&client).map(|e| e.map(|e| Msg::Node(Box::new(e))));
    let core = futures::stream::select(pods, nodes)
        .filter_map(|e| {
            futures::future::ready(match e {
                Ok(m) => Some(m),
                Err(err) => {
                    warn!(error = %err, "scheduler watch failed; retrying");
                    None
                }
            })
        })
        .boxed();
    let streams: Vec<BoxStream<'static, Msg>> = vec![
        core,
        small::<Namespace, _>(&client, "namespaces", |n, live| {
            Small::Namespace(
                n.metadata.name.clone().unwrap_or_default(),
                live.then(|| n.metadata.labels.clone().unwrap_or_default()),
            )
        }),
        small::<Service, _>(&client, "services", |s, live| {
            let (ns, name) = ns_name(&s);
            let sel = if live {
                map_selector(s.spec.as_ref().and_then(|sp| sp.selector.as_ref()))
            } else {
                None
            };
            Small::Workload(ns, format!("Service/{name}"), sel)
        }),
        small::<ReplicationController, _>(&client, "replicationcontrollers", |s, live| {
            let (ns, name) = ns_name(&s);
            let sel = if live {
                map_selector(s.spec.as_ref().and_then(|sp| sp.selector.as_ref()))
            } else {
                None
            };
            Small::Workload(ns, format!("ReplicationController/{name}"), sel)
        }),
        small::<ReplicaSet, _>(&client, "replicasets", |s, live| {
            let (ns, name) = ns_name(&s);
            let sel = if live {
                label_selector(s.spec.as_ref().map(|sp| &sp.selector))
            } else {
                None
            };
            Small::Workload(ns, format!("ReplicaSet/{name}"), sel)
        }),
        small::<StatefulSet, _>(&client, "statefulsets", |s, live| {
            let (ns, name) = ns_name(&s);
            let sel = if live {
                label_selector(s.spec.as_ref().map(|sp| &sp.selector))
            } else {
                None
            };
            Small::Workload(ns, format!("StatefulSet/{name}"), sel)
        }),
        small::<PodDisruptionBudget, _>(&client, "poddisruptionbudgets", |p, live| {
            let (ns, name) = ns_name(&p);
            let info = live.then(|| PdbInfo {
                namespace: ns.clone(),
                selector: Selector::from_label_selector(
                    p.spec.as_ref().and_then(|s| s.selector.as_ref()),
                ),
                disruptions_allowed: p
                    .status
                    .as_ref()
                    .map(|s| s.disruptions_allowed)
                    .unwrap_or(0),
            });
            Small::Pdb(format!("{ns}/{name}"), info)
        }),
    ];
    let mut events = futures::stream::select_all(streams);
    let recorder = Recorder::events_v1(client.clone(), &config.scheduler_name, None);
    let (bind_tx, mut bind_rx) = mpsc::unbounded_channel();
    let mut s = Scheduler {
        fw: Arc::new(registry::default_framework(
            &config.scheduler_name,
            config.seed,
        )),
        algo: Algorithm::new(config.percentage_of_nodes_to_score, config.seed),
        queue: SchedulingQueue::new(config.clock),
        snapshot: Snapshot::default(),
        pod_node: HashMap::new(),
        assumed: HashSet::new(),
        nominated_of: HashMap::new(),
        gated: HashSet::new(),
        nodes_seen: None,
        small_building: HashMap::new(),
        pods_synced: false,
        nodes_synced: false,
        pdbs: HashMap::new(),
        client,
        recorder,
        bind_tx,
        config: config.clone(),
    };
    let tick = config
        .clock
        .real(Duration::from_secs(1))
        .clamp(Duration::from_millis(5), Duration::from_secs(1));
    let mut flush = tokio::time::interval(tick);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let ready = s.pods_synced && s.nodes_synced && s.queue.has_active();
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            msg = events.next() => match msg {
                Some(m) => s.handle(m),
                None => return Err(Error::WatchEnded { resource: "pods" }),
            },
            Some(done) = bind_rx.recv() => s.bind_done(done),
            _ = flush.tick() => s.queue.flush(Instant::now()),
            _ = std::future::ready(()), if ready => {
                // Cycles back to back for up to CYCLE_BUDGET: yielding after each one put the
                // scheduler behind every other runnable task (kubelets, API requests) once per
                // pod, which at 5,000 nodes held it near 200 pods a second with most of a core
                // to spare.
                let started = Instant::now();
                for _ in 0..MAX_CYCLES_PER_TURN {
                    s.schedule_one();
                    if !s.queue.has_active() || started.elapsed() >= CYCLE_BUDGET {
                        break;
                    }
                }
                // Let other tasks (binding, the API server in-process) make progress.
                tokio::task::yield_now().await;
            }
        }
    }
}

/// How long the scheduler runs scheduling cycles before it lets other tasks run.
const CYCLE_BUDGET: Duration = Duration::from_millis(2);
/// At most this many cycles in one turn, however fast they are.
const MAX_CYCLES_PER_TURN: usize = 256;

struct BindDone {
    qp: QueuedPod,
    node: String,
    error: Option<String>,
}

struct Scheduler {
    client: Client,
    config: Config,
    fw: Arc<Framework>,
    algo: Algorithm,
    queue: SchedulingQueue,
    snapshot: Snapshot,
    /// Where each assigned (bound or assumed) pod is.
    pod_node: HashMap<String, String>,
    /// Pods assumed on a node while their binding is in flight.
    assumed: HashSet<String>,
    /// The node each nominated pod is nominated to.
    nominated_of: HashMap<String, String>,
    /// Pods held back by scheduling gates whose condition was written.
    gated: HashSet<String>,
    nodes_seen: Option<HashSet<String>>,
    small_building: HashMap<&'static str, Vec<Small>>,
    pods_synced: bool,
    nodes_synced: bool,
    pdbs: HashMap<String, PdbInfo>,
    recorder: Recorder,
    bind_tx: mpsc::UnboundedSender<BindDone>,
}

/// An event note is at most 1024 bytes; longer messages are cut and end in ` ...`, as
/// upstream's `truncateMessage`.
fn truncate_note(message: &str) -> String {
    const MAX: usize = 1024;
    const SUFFIX: &str = " ...";
    if message.len() <= MAX {
        return message.to_string();
    }
    let mut cut = MAX - SUFFIX.len();
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{SUFFIX}", &message[..cut])
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

impl Scheduler {
    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Pod(c) => self.handle_pod(c),
            Msg::Node(e) => self.handle_node(*e),
            Msg::Small(kind, e) => self.handle_small(kind, e),
        }
    }

    fn handle_pod(&mut self, change: Change<Pod>) {
        match change {
            Change::Applied(p) => self.on_pod(p),
            Change::Deleted(p) => self.on_pod_deleted(p.metadata.uid.as_deref().unwrap_or("")),
            Change::Listed(all) => {
                let seen: HashSet<String> =
                    all.iter().filter_map(|p| p.metadata.uid.clone()).collect();
                for p in all {
                    self.on_pod(p);
                }
                // Pods deleted while the watch was down: forget them, bound or queued.
                let gone: Vec<String> = self
                    .pod_node
                    .keys()
                    .chain(self.queue.uids())
                    .chain(self.gated.iter())
                    .chain(self.nominated_of.keys())
                    .filter(|u| !seen.contains(*u))
                    .cloned()
                    .collect();
                for uid in gone {
                    self.on_pod_deleted(&uid);
                }
                self.pods_synced = true;
            }
        }
    }

    fn handle_node(&mut self, e: WEvent<Node>) {
        match e {
            WEvent::Apply(n) => self.on_node(n),
            WEvent::Delete(n) => {
                self.snapshot
                    .remove_node(n.metadata.name.as_deref().unwrap_or(""));
            }
            WEvent::Init => self.nodes_seen = Some(HashSet::new()),
            WEvent::InitApply(n) => {
                if let (Some(seen), Some(name)) =
                    (self.nodes_seen.as_mut(), n.metadata.name.clone())
                {
                    seen.insert(name);
                }
                self.on_node(n)
            }
            WEvent::InitDone => {
                if let Some(seen) = self.nodes_seen.take() {
                    let gone: Vec<String> = self
                        .snapshot
                        .nodes()
                        .map(|n| n.name.clone())
                        .filter(|n| !seen.contains(n))
                        .collect();
                    for n in gone {
                        self.snapshot.remove_node(&n);
                    }
                }
                self.nodes_synced = true;
            }
        }
    }

    fn handle_small(&mut self, kind: &'static str, e: WEvent<Small>) {
        match e {
            WEvent::Init => {
                self.small_building.insert(kind, Vec::new());
            }
            WEvent::InitApply(x) => match self.small_building.get_mut(kind) {
                Some(b) => b.push(x),
                None => self.apply_small(x),
            },
            WEvent::InitDone => {
                if let Some(items) = self.small_building.remove(kind) {
                    match kind {
                        "namespaces" => self.snapshot.namespace_labels.clear(),
                        "poddisruptionbudgets" => self.pdbs.clear(),
                        other => {
                            let prefix = match other {
                                "services" => "Service/",
                                "replicationcontrollers" => "ReplicationController/",
                                "replicasets" => "ReplicaSet/",
                                _ => "StatefulSet/",
                            };
                            for m in self.snapshot.workload_selectors.values_mut() {
                                m.retain(|k, _| !k.starts_with(prefix));
                            }
                        }
                    }
                    for x in items {
                        self.apply_small(x);
                    }
                }
            }
            WEvent::Apply(x) | WEvent::Delete(x) => self.apply_small(x),
        }
    }

    fn apply_small(&mut self, x: Small) {
        match x {
            Small::Namespace(name, Some(labels)) => {
                self.snapshot.namespace_labels.insert(name, labels);
            }
            Small::Namespace(name, None) => {
                self.snapshot.namespace_labels.remove(&name);
            }
            Small::Workload(ns, key, Some(sel)) => {
                self.snapshot
                    .workload_selectors
                    .entry(ns)
                    .or_default()
                    .insert(key, sel);
            }
            Small::Workload(ns, key, None) => {
                if let Some(m) = self.snapshot.workload_selectors.get_mut(&ns) {
                    m.remove(&key);
                }
            }
            Small::Pdb(key, Some(p)) => {
                self.pdbs.insert(key, p);
                self.snapshot.pdbs = self.pdbs.values().cloned().collect();
            }
            Small::Pdb(key, None) => {
                self.pdbs.remove(&key);
                self.snapshot.pdbs = self.pdbs.values().cloned().collect();
            }
        }
    }

    fn on_node(&mut self, node: Node) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let info = self.snapshot.get_or_insert(&name);
        let (relevant, labels_changed) = match info.node.as_deref() {
            None => (true, true),
            Some(old) => {
                let labels_changed = old.metadata.labels != node.metadata.labels;
                let relevant = labels_changed
                    || old.spec != node.spec
                    || old.status.as_ref().map(|s| &s.allocatable)
                        != node.status.as_ref().map(|s| &s.allocatable);
                (relevant, labels_changed)
            }
        };
        info.set_node(Arc::new(node));
        if labels_changed {
            self.snapshot.invalidate_spread_counts();
        }
        if relevant {
            self.queue.move_all_to_active_or_backoff(Instant::now());
        }
    }

    fn set_nominated(&mut self, info: &Arc<PodInfo>) {
        self.clear_nominated(&info.uid);
        let nn = info
            .pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.clone())
            .filter(|n| !n.is_empty());
        if let Some(nn) = nn {
            self.snapshot
                .nominated
                .entry(nn.clone())
                .or_default()
                .push(info.clone());
            self.nominated_of.insert(info.uid.clone(), nn);
        }
    }

    fn clear_nominated(&mut self, uid: &str) {
        if let Some(node) = self.nominated_of.remove(uid)
            && let Some(v) = self.snapshot.nominated.get_mut(&node)
        {
            v.retain(|p| p.uid != uid);
            if v.is_empty() {
                self.snapshot.nominated.remove(&node);
            }
        }
    }

    fn on_pod(&mut self, pod: Arc<Pod>) {
        let info = Arc::new(PodInfo::new(pod));
        let uid = info.uid.clone();
        let now = Instant::now();
        if let Some(node) = info.node_name().map(str::to_string) {
            self.queue.delete(&uid);
            self.clear_nominated(&uid);
            self.gated.remove(&uid);
            if is_terminal(&info.pod) {
                if self.remove_assigned(&uid) {
                    self.queue.move_all_to_active_or_backoff(now);
                }
                return;
            }
            self.assumed.remove(&uid);
            if let Some(old) = self.pod_node.remove(&uid) {
                self.snapshot.remove_pod(&old, &uid);
            }
            self.snapshot.add_pod(&node, info);
            self.pod_node.insert(uid, node);
            return;
        }
        if self.assumed.contains(&uid) {
            // Our own binding is in flight; this is an older state of the pod.
            return;
        }
        let spec = info.pod.spec.as_ref();
        let ours = spec
            .and_then(|s| s.scheduler_name.as_deref())
            .unwrap_or("default-scheduler")
            == self.config.scheduler_name;
        if !ours || info.is_terminating() || is_terminal(&info.pod) {
            self.queue.delete(&uid);
            self.clear_nominated(&uid);
            return;
        }
        if spec
            .and_then(|s| s.scheduling_gates.as_ref())
            .is_some_and(|g| !g.is_empty())
        {
            self.queue.delete(&uid);
            self.clear_nominated(&uid);
            self.mark_gated(&info);
            return;
        }
        self.gated.remove(&uid);
        self.set_nominated(&info);
        // Only a change to what the plugins look at (spec, labels, annotations) can make an
        // unschedulable pod schedulable; status writes (ours included) do not, as upstream's
        // `isPodUpdated`.
        let relevant = self.queue.get(&uid).is_none_or(|old| {
            old.pod.spec != info.pod.spec
                || old.pod.metadata.labels != info.pod.metadata.labels
                || old.pod.metadata.annotations != info.pod.metadata.annotations
        });
        self.queue.add_or_update(info, relevant, now);
    }

    fn remove_assigned(&mut self, uid: &str) -> bool {
        self.assumed.remove(uid);
        match self.pod_node.remove(uid) {
            Some(node) => {
                self.snapshot.remove_pod(&node, uid);
                true
            }
            None => false,
        }
    }

    fn on_pod_deleted(&mut self, uid: &str) {
        self.queue.delete(uid);
        self.clear_nominated(uid);
        self.gated.remove(uid);
        if self.remove_assigned(uid) {
            self.queue.move_all_to_active_or_backoff(Instant::now());
        }
    }

    fn mark_gated(&mut self, info: &Arc<PodInfo>) {
        if !self.gated.insert(info.uid.clone()) {
            return;
        }
        let has = info
            .pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulingGated")
                })
            });
        if has {
            return;
        }
        let client = self.client.clone();
        let info = info.clone();
        tokio::spawn(async move {
            let patch = json!({"status": {"conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates",
                "lastProbeTime": null, "lastTransitionTime": jiff::Timestamp::now().to_string(),
            }]}});
            let api: Api<Pod> = Api::namespaced(client, &info.namespace);
            if let Err(e) = api
                .patch_status(
                    &info.name,
                    &PatchParams::default(),
                    &Patch::Strategic(patch),
                )
                .await
            {
                debug!(pod = %info.key(), error = %e, "writing the SchedulingGated condition failed");
            }
        });
    }

    fn schedule_one(&mut self) {
        let Some(qp) = self.queue.pop() else { return };
        let info = qp.info.clone();
        let now = Instant::now();
        match self.algo.schedule(&self.fw, &self.snapshot, &info) {
            Outcome::Fit { node } => {
                let mut obj = (*info.pod).clone();
                obj.spec.get_or_insert_with(Default::default).node_name = Some(node.clone());
                let mut assumed = (*info).clone();
                assumed.pod = Arc::new(obj);
                self.clear_nominated(&info.uid);
                self.snapshot.add_pod(&node, Arc::new(assumed));
                self.pod_node.insert(info.uid.clone(), node.clone());
                self.assumed.insert(info.uid.clone());
                let fw = self.fw.clone();
                let client = self.client.clone();
                let recorder = self.recorder.clone();
                let tx = self.bind_tx.clone();
                tokio::spawn(async move {
                    let status = match fw.bind.first() {
                        Some(b) => b.bind(&client, &qp.info, &node).await,
                        None => crate::framework::Status::error("no bind plugin"),
                    };
                    let error = (!status.is_success()).then(|| status.message());
                    if error.is_none() {
                        recorder
                            .publish(
                                &qp.info.pod.object_ref(&()),
                                EventType::Normal,
                                "Scheduled",
                                "Binding",
                                format!(
                                    "Successfully assigned {}/{} to {}",
                                    qp.info.namespace, qp.info.name, node
                                ),
                            )
                            .await;
                    }
                    let _ = tx.send(BindDone { qp, node, error });
                });
            }
            Outcome::Unschedulable {
                code,
                message,
                nominated_node,
                actions,
            } => {
                debug!(pod = %info.key(), ?code, %message, "pod is unschedulable");
                for a in actions {
                    self.preempt(a);
                }
                if let Some(nn) = nominated_node.as_ref() {
                    self.clear_nominated(&info.uid);
                    let mut obj = (*info.pod).clone();
                    obj.status
                        .get_or_insert_with(Default::default)
                        .nominated_node_name = Some(nn.clone());
                    let mut n = (*info).clone();
                    n.pod = Arc::new(obj);
                    let n = Arc::new(n);
                    self.snapshot
                        .nominated
                        .entry(nn.clone())
                        .or_default()
                        .push(n);
                    self.nominated_of.insert(info.uid.clone(), nn.clone());
                }
                self.report_failure(&info, "Unschedulable", message, nominated_node);
                self.queue.add_unschedulable(qp, now);
            }
            Outcome::Error(message) => {
                warn!(pod = %info.key(), %message, "scheduling error");
                self.report_failure(&info, "SchedulerError", message, None);
                self.queue.add_backoff(qp, now);
            }
        }
    }

    fn bind_done(&mut self, done: BindDone) {
        let Some(error) = done.error else { return };
        let uid = done.qp.info.uid.clone();
        warn!(pod = %done.qp.info.key(), node = %done.node, %error, "binding failed");
        if !self.assumed.remove(&uid) {
            // Deleted or confirmed meanwhile.
            return;
        }
        if self.pod_node.get(&uid) == Some(&done.node) {
            self.pod_node.remove(&uid);
            self.snapshot.remove_pod(&done.node, &uid);
        }
        let info = done.qp.info.clone();
        self.report_failure(&info, "SchedulerError", error, None);
        self.queue.add_backoff(done.qp, Instant::now());
    }

    /// Writes `PodScheduled=False` (unless it already says the same) and emits
    /// `FailedScheduling`.
    fn report_failure(
        &self,
        info: &Arc<PodInfo>,
        reason: &'static str,
        message: String,
        nominated: Option<String>,
    ) {
        let status = info.pod.status.as_ref();
        let existing = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"));
        let same_condition = existing.is_some_and(|c| {
            c.status == "False"
                && c.reason.as_deref() == Some(reason)
                && c.message.as_deref() == Some(message.as_str())
        });
        let same_nomination = nominated.is_none()
            || status.and_then(|s| s.nominated_node_name.as_ref()) == nominated.as_ref();
        let transition = existing
            .filter(|c| c.status == "False")
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| t.0.to_string())
            .unwrap_or_else(|| jiff::Timestamp::now().to_string());
        let client = self.client.clone();
        let recorder = self.recorder.clone();
        let info = info.clone();
        tokio::spawn(async move {
            if !(same_condition && same_nomination) {
                let mut st = json!({"conditions": [{
                    "type": "PodScheduled", "status": "False", "reason": reason, "message": message,
                    "lastProbeTime": null, "lastTransitionTime": transition,
                }]});
                if let Some(nn) = nominated {
                    st["nominatedNodeName"] = json!(nn);
                }
                let api: Api<Pod> = Api::namespaced(client, &info.namespace);
                if let Err(e) = api
                    .patch_status(
                        &info.name,
                        &PatchParams::default(),
                        &Patch::Strategic(json!({ "status": st })),
                    )
                    .await
                {
                    debug!(pod = %info.key(), error = %e, "writing the PodScheduled condition failed");
                }
            }
            recorder
                .publish(
                    &info.pod.object_ref(&()),
                    EventType::Warning,
                    "FailedScheduling",
                    "Scheduling",
                    truncate_note(&message),
                )
                .await;
        });
    }

    fn preempt(&self, action: Action) {
        let Action::Preempt {
            preemptor,
            node,
            victims,
            clear_nominated,
        } = action;
        let client = self.client.clone();
        let recorder = self.recorder.clone();
        let scheduler_name = self.config.scheduler_name.clone();
        tokio::spawn(async move {
            for v in victims {
                let api: Api<Pod> = Api::namespaced(client.clone(), &v.namespace);
                let cond = json!({"status": {"conditions": [{
                    "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                    "message": format!("{scheduler_name}: preempting to accommodate a higher priority pod"),
                    "lastTransitionTime": jiff::Timestamp::now().to_string(),
                }]}});
                if let Err(e) = api
                    .patch_status(&v.name, &PatchParams::default(), &Patch::Strategic(cond))
                    .await
                {
                    debug!(pod = %v.key(), error = %e, "writing DisruptionTarget failed");
                }
                let dp = DeleteParams {
                    preconditions: Some(kube::api::Preconditions {
                        uid: Some(v.uid.clone()),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                match api.delete(&v.name, &dp).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.is_not_found() => continue,
                    Err(e) => {
                        warn!(pod = %v.key(), error = %e, "deleting a preemption victim failed");
                        continue;
                    }
                }
                let related = preemptor.pod.object_ref(&());
                recorder
                    .publish_related(
                        &v.pod.object_ref(&()),
                        Some(&related),
                        EventType::Normal,
                        "Preempted",
                        "Preempting",
                        format!("Preempted by pod {} on node {}", preemptor.uid, node),
                    )
                    .await;
            }
            for p in clear_nominated {
                let api: Api<Pod> = Api::namespaced(client.clone(), &p.namespace);
                let patch = json!({"status": {"nominatedNodeName": null}});
                if let Err(e) = api
                    .patch_status(&p.name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                {
                    debug!(pod = %p.key(), error = %e, "clearing nominatedNodeName failed");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::truncate_note;

    #[test]
    fn long_event_notes_are_cut_to_1024_bytes() {
        let cases = [
            ("short", "x".repeat(10), 10),
            ("exact", "x".repeat(1024), 1024),
            ("long", "x".repeat(5000), 1024),
        ];
        for (case, msg, len) in cases {
            let got = truncate_note(&msg);
            assert_eq!(got.len(), len, "case {case}");
            if msg.len() > 1024 {
                assert!(got.ends_with(" ..."), "case {case} ends with the ellipsis");
            }
        }
    }
}
