//! The DaemonSet controller, as kube-controller-manager's `daemon` controller: one pod per
//! eligible node (node name, node selector, required node affinity, taints against the pod's
//! tolerations including those the controller adds), pinned to its node by a required node
//! affinity on `metadata.name` so the scheduler binds it there; RollingUpdate with
//! `maxUnavailable`/`maxSurge` and OnDelete tracked by ControllerRevisions; the set's status.
//!
//! Failed daemon pods are deleted and recreated at once (upstream backs off per node; not
//! yet). Pods assigned to a node that no longer exists are deleted here; upstream leaves
//! bound ones to the pod garbage collector, which skiff does not run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use informer::SharedInformer;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodSpec, PodTemplateSpec, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::history;
use crate::workload::{self, Events, Expectations, OwnerIndex, controller_ref};
use crate::{Error, is_conflict, is_not_found};

/// The deprecated pod label holding the DaemonSet's generation at creation
/// (`extensions.DaemonSetTemplateGenerationKey`).
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// Retry delay after a failed reconcile.
const RETRY: Duration = Duration::from_secs(1);
/// Delay before looking again while the cache catches up with our own writes.
const CATCH_UP: Duration = Duration::from_millis(200);
/// Upstream's `BurstReplicas` for DaemonSets: the most pods one sync creates.
const BURST_REPLICAS: usize = 250;

struct Context {
    client: Client,
    clock: api::clock::Clock,
    pods: OwnerIndex<Pod>,
    nodes: Store<Node>,
    revisions: OwnerIndex<ControllerRevision>,
    expectations: Expectations,
    events: Events,
    /// Per `<daemonset uid>/<node>`, the back-off before deleting another failed pod.
    failed_pods: Mutex<HashMap<String, FailedBackoff>>,
}

/// First delay before deleting another failed daemon pod on the same node.
const FAILED_POD_BACKOFF: Duration = Duration::from_secs(1);
/// Longest such delay (`failedPodsBackoff` is 1 s doubling to 15 min upstream).
const MAX_FAILED_POD_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// The back-off state of one node's failed daemon pods (`flowcontrol.Backoff` entry).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailedBackoff {
    /// The current delay.
    pub delay: Duration,
    /// When it was last raised.
    pub updated: jiff::Timestamp,
}

/// The next back-off entry (`Backoff.Next`): 1 s at first or after a quiet spell of twice
/// the maximum, else double the delay up to the maximum. `since` is the simulated time since
/// the entry was last raised.
pub fn next_backoff(
    entry: Option<FailedBackoff>,
    since: Duration,
    now: jiff::Timestamp,
) -> FailedBackoff {
    let delay = match entry {
        Some(e) if since <= 2 * MAX_FAILED_POD_BACKOFF => (e.delay * 2).min(MAX_FAILED_POD_BACKOFF),
        _ => FAILED_POD_BACKOFF,
    };
    FailedBackoff {
        delay,
        updated: now,
    }
}

/// Runs the controller until `shutdown` is cancelled, with a pod watch of its own.
pub async fn run(
    client: Client,
    clock: api::clock::Clock,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let pods = SharedInformer::start(Api::all(client.clone()), shutdown.clone());
    run_with(client, clock, pods, shutdown).await
}

/// Runs the controller until `shutdown` is cancelled, reading pods from a shared watch.
pub async fn run_with(
    client: Client,
    clock: api::clock::Clock,
    shared_pods: SharedInformer<Pod>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let Some((pods, pod_stream)) = workload::owned_pods(&shared_pods, "DaemonSet", &shutdown).await
    else {
        return Ok(());
    };
    let (nodes, node_writer) = kube::runtime::reflector::store();
    let node_stream = workload::changed_nodes(
        kube::runtime::watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
            .default_backoff()
            .reflect(node_writer),
        node_fingerprint,
    );
    let (revisions, revision_stream) =
        workload::reflect_owned(Api::<ControllerRevision>::all(client.clone()), "DaemonSet");
    let (sets, set_stream) = workload::reflect(Api::<DaemonSet>::all(client.clone()));
    let context = Arc::new(Context {
        client: client.clone(),
        clock,
        pods,
        nodes,
        revisions,
        expectations: Expectations::default(),
        events: Events::new(client.clone(), "daemonset-controller"),
        failed_pods: Mutex::default(),
    });
    // A node change concerns every DaemonSet.
    let all_sets = sets.clone();
    Controller::for_stream(set_stream, sets)
        .owns_shared_stream(pod_stream)
        .owns_stream(revision_stream)
        .watches_stream(node_stream, move |_node: Node| {
            all_sets
                .state()
                .iter()
                .map(|s| ObjectRef::from_obj(&**s))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile, error_policy, context)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// What of a node a DaemonSet's placement reads (`NodeShouldRunDaemonPod`: the name, the
/// labels its node selector and affinity match, the taints its tolerations face), hashed.
/// Upstream enqueues a DaemonSet on a node update only when that answer changes; status
/// changes (heartbeats, readiness, the image list a first pull adds) never change it, and in
/// a big cluster they come thousands a minute.
pub fn node_fingerprint(node: &Node) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    node.metadata.name.hash(&mut hasher);
    node.metadata.labels.hash(&mut hasher);
    if let Some(taints) = node.spec.as_ref().and_then(|s| s.taints.as_ref()) {
        for t in taints {
            (&t.key, &t.value, &t.effect).hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// Whether `toleration` tolerates `taint` (`Toleration.ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    if let Some(key) = toleration.key.as_deref().filter(|k| !k.is_empty())
        && key != taint.key
    {
        return false;
    }
    match toleration.operator.as_deref() {
        Some("Exists") => true,
        None | Some("") | Some("Equal") => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        Some(_) => false,
    }
}

/// The first NoSchedule/NoExecute taint none of `tolerations` tolerates.
pub fn untolerated_taint<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
}

fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => !value.is_some_and(|v| values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if req.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.labels();
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            let value = (r.key == "metadata.name").then(|| node.name_any());
            requirement_matches(r, value.as_deref())
        })
}

/// Whether the pod's node selector and required node affinity admit `node`.
pub fn node_matches(spec: &PodSpec, node: &Node) -> bool {
    let labels = node.labels();
    if let Some(selector) = &spec.node_selector
        && !selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    match spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }) {
        Some(required) => required
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, node)),
        None => true,
    }
}

/// `(shouldRun, shouldContinueRunning)` of a daemon pod with `spec` on `node`
/// (`NodeShouldRunDaemonPod`): an untolerated NoSchedule taint keeps new pods off but lets a
/// running one stay; an untolerated NoExecute taint evicts it.
pub fn should_run(spec: &PodSpec, node: &Node) -> (bool, bool) {
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty())
        && Some(name) != node.metadata.name.as_deref()
    {
        return (false, false);
    }
    if !node_matches(spec, node) {
        return (false, false);
    }
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default();
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    match untolerated_taint(taints, tolerations) {
        None => (true, true),
        Some(t) if t.effect == "NoExecute" => (false, false),
        Some(_) => (false, true),
    }
}

/// Adds the tolerations every daemon pod gets (`AddOrUpdateDaemonPodTolerations`).
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in wanted {
        let toleration = Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(effect.into()),
            ..Default::default()
        };
        let same = |t: &Toleration| {
            t.key == toleration.key
                && t.operator == toleration.operator
                && t.effect == toleration.effect
                && t.value.as_deref().unwrap_or_default().is_empty()
        };
        match tolerations.iter_mut().find(|t| same(t)) {
            Some(existing) => *existing = toleration,
            None => tolerations.push(toleration),
        }
    }
}

/// Pins a daemon pod to `node` (`ReplaceDaemonSetPodNodeNameNodeAffinity`): the required node
/// affinity becomes the single term `metadata.name In [node]`.
pub fn pin_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let selector = NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: "In".into(),
                values: Some(vec![node.into()]),
            }]),
        }],
    };
    let mut affinity = affinity.unwrap_or_default();
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(selector);
    affinity
}

/// The node a daemon pod is for: its node name, else its pinned `metadata.name`
/// (`util.GetTargetNodeName`).
pub fn target_node(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n);
    }
    spec.affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms
        .iter()
        .flat_map(|t| t.match_fields.iter().flatten())
        .find(|r| r.key == "metadata.name" && r.operator == "In")
        .and_then(|r| r.values.as_ref()?.first().map(String::as_str))
}

/// A percentage or count scaled to `total`, rounding up (`GetScaledValueFromIntOrPercent`).
pub fn scaled(value: Option<&IntOrString>, total: i32, default: i32) -> i32 {
    match value {
        None => default,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => {
            match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
                Some(p) => i32::try_from((p * i64::from(total) + 99) / 100).unwrap_or(i32::MAX),
                None => s.parse().unwrap_or(default),
            }
        }
    }
}

/// The template of new daemon pods: the labels `controller-revision-hash` and
/// `pod-template-generation`, and the daemon tolerations (`util.CreatePodTemplate`).
pub fn pod_template(set: &DaemonSet, hash: &str) -> PodTemplateSpec {
    let mut template = set.spec.clone().unwrap_or_default().template;
    let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    if let Some(generation) = set.metadata.generation {
        labels.insert(TEMPLATE_GENERATION_LABEL.into(), generation.to_string());
    }
    labels.insert(history::REVISION_LABEL.into(), hash.to_string());
    add_daemon_tolerations(template.spec.get_or_insert_with(PodSpec::default));
    template
}

/// Whether a pod is at the current template (`util.IsPodUpdated`).
fn is_updated(pod: &Pod, hash: &str, generation: Option<i64>) -> bool {
    let labels = pod.labels();
    labels.get(history::REVISION_LABEL).map(String::as_str) == Some(hash)
        || generation.is_some_and(|g| labels.get(TEMPLATE_GENERATION_LABEL) == Some(&g.to_string()))
}

/// What a rolling update does this round.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RollingPlan {
    /// Old pods to delete (by name).
    pub delete: Vec<String>,
    /// Nodes to surge a new pod onto.
    pub surge_onto: Vec<String>,
}

/// One node's daemon pods for a rolling update: (node, old pod (name, available), new pod
/// available), with `None` when there is no such pod; `conflict` when the node has more than
/// one old or new pod.
#[derive(Debug, Clone)]
pub struct NodePods {
    /// The node.
    pub node: String,
    /// The old pod's name and availability.
    pub old: Option<(String, bool)>,
    /// The new pod's availability.
    pub new: Option<bool>,
    /// More than one old or new pod is there.
    pub conflict: bool,
}

/// Upstream's `rollingUpdate`: without surge, delete unavailable old pods plus as many
/// available ones as `max_unavailable` allows; with surge, create new pods next to available
/// old ones up to `max_surge` and delete old pods whose replacement is available.
pub fn rolling_plan(nodes: &[NodePods], max_unavailable: i32, max_surge: i32) -> RollingPlan {
    let mut plan = RollingPlan::default();
    if max_surge == 0 {
        let mut unavailable = 0;
        let mut candidates = Vec::new();
        for n in nodes {
            if n.conflict {
                unavailable += 1;
                continue;
            }
            match (&n.old, n.new) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (None, Some(available)) => {
                    if !available {
                        unavailable += 1;
                    }
                }
                (Some((name, available)), None) => {
                    if !available {
                        plan.delete.push(name.clone());
                    } else if unavailable < max_unavailable {
                        candidates.push(name.clone());
                    }
                }
            }
        }
        let remaining = usize::try_from((max_unavailable - unavailable).max(0)).unwrap_or(0);
        plan.delete.extend(candidates.into_iter().take(remaining));
        return plan;
    }
    let mut surged = 0;
    let mut candidates = Vec::new();
    for n in nodes {
        if n.conflict {
            surged += 1;
            continue;
        }
        match (&n.old, n.new) {
            (None, _) => {}
            (Some((_, available)), None) => {
                if !available {
                    plan.surge_onto.push(n.node.clone());
                } else if surged < max_surge {
                    candidates.push(n.node.clone());
                }
            }
            (Some((name, _)), Some(new_available)) => {
                if new_available {
                    plan.delete.push(name.clone());
                } else {
                    surged += 1;
                }
            }
        }
    }
    let remaining = usize::try_from((max_surge - surged).max(0)).unwrap_or(0);
    plan.surge_onto
        .extend(candidates.into_iter().take(remaining));
    plan
}

fn created_at(pod: &Pod) -> Option<jiff::Timestamp> {
    pod.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

async fn reconcile(set: Arc<DaemonSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let uid = set.uid().unwrap_or_default();
    if set.metadata.deletion_timestamp.is_some() {
        ctx.expectations.forget(&uid);
        return Ok(Action::await_change());
    }
    let ns = set.namespace().unwrap_or_default();
    let name = set.name_any();
    let pods: Vec<Arc<Pod>> = ctx.pods.controlled_by(&uid, &ns);
    if !ctx.expectations.satisfied(&uid, &pods) {
        return Ok(Action::requeue(CATCH_UP));
    }
    let spec = set.spec.clone().unwrap_or_default();
    let status = set.status.clone().unwrap_or_default();

    // The revision of the current template.
    let revision_api = Api::<ControllerRevision>::namespaced(ctx.client.clone(), &ns);
    let revisions: Vec<ControllerRevision> = ctx
        .revisions
        .controlled_by(&uid, &ns)
        .iter()
        .map(|r| (**r).clone())
        .collect();
    let data = history::template_patch(&spec.template);
    let ensured = history::ensure_revision(
        &revision_api,
        &name,
        &ns,
        controller_ref(&*set),
        spec.template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref()),
        history::REVISION_LABEL,
        &data,
        &revisions,
        status.collision_count.unwrap_or(0),
    )
    .await?;
    let hash = ensured
        .revision
        .labels()
        .get(history::REVISION_LABEL)
        .cloned()
        .unwrap_or_default();
    let template = pod_template(&set, &hash);
    let template_spec = template.spec.clone().unwrap_or_default();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let generation = set.metadata.generation;

    let nodes: Vec<Arc<Node>> = ctx.nodes.state();
    let node_names: HashSet<&str> = nodes
        .iter()
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    let mut by_node: HashMap<&str, Vec<Arc<Pod>>> = HashMap::new();
    let mut orphaned: Vec<Arc<Pod>> = Vec::new();
    for pod in &pods {
        match target_node(pod) {
            Some(node) if node_names.contains(&node) => {
                by_node.entry(node).or_default().push(pod.clone())
            }
            _ => orphaned.push(pod.clone()),
        }
    }
    for list in by_node.values_mut() {
        list.sort_by_key(|p| created_at(p));
    }

    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let rolling = strategy.type_.as_deref() != Some("OnDelete");
    let mut to_create: Vec<String> = Vec::new();
    let mut to_delete: Vec<Arc<Pod>> = Vec::new();
    let mut eligible: Vec<&str> = Vec::new();
    let (mut desired, mut current, mut misscheduled, mut ready, mut available, mut updated) =
        (0, 0, 0, 0, 0, 0);
    let mut requeue: Option<Duration> = None;
    let max_surge_for_manage = if rolling {
        strategy
            .rolling_update
            .as_ref()
            .and_then(|r| r.max_surge.as_ref())
            .is_some_and(|s| scaled(Some(s), 1, 0) > 0)
    } else {
        false
    };
    for node in &nodes {
        let node_name = node.metadata.name.as_deref().unwrap_or_default();
        let (run, keep) = should_run(&template_spec, node);
        let on_node: &[Arc<Pod>] = by_node.get(node_name).map_or(&[], Vec::as_slice);
        // Status, from the oldest pod of each node.
        if run {
            desired += 1;
            eligible.push(node_name);
            if let Some(pod) = on_node.first() {
                current += 1;
                if workload::is_ready(pod) {
                    ready += 1;
                    if workload::is_available(pod, min_ready, &ctx.clock) {
                        available += 1;
                    } else if let Some(wait) = workload::until_available(pod, min_ready, &ctx.clock)
                    {
                        requeue = Some(requeue.map_or(wait, |r: Duration| r.min(wait)));
                    }
                }
                if is_updated(pod, &hash, generation) {
                    updated += 1;
                }
            }
        } else if !on_node.is_empty() {
            misscheduled += 1;
        }
        // Manage (`podsShouldBeOnNode`).
        let exists = on_node
            .iter()
            .any(|p| !(workload::is_terminating(p) && workload::is_finished(p)));
        let active: Vec<&Arc<Pod>> = on_node
            .iter()
            .filter(|p| !workload::is_terminating(p))
            .collect();
        if run && !exists {
            to_create.push(node_name.to_string());
            continue;
        }
        if !keep {
            to_delete.extend(active.into_iter().cloned());
            continue;
        }
        let mut running = Vec::new();
        for pod in active {
            if workload::phase(pod) != "Failed" {
                running.push(pod.clone());
                continue;
            }
            let key = format!("{uid}/{node_name}");
            let entry = ctx
                .failed_pods
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&key)
                .copied();
            let since = entry.map_or(Duration::MAX, |e| ctx.clock.elapsed_since(e.updated));
            if let Some(e) = entry.filter(|e| since < e.delay) {
                // Deleting failed pods on this node is limited by the back-off.
                requeue = Some(requeue.map_or(e.delay, |r: Duration| r.min(e.delay)));
                continue;
            }
            ctx.failed_pods
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, next_backoff(entry, since, ctx.clock.now()));
            ctx.events
                .publish(
                    &workload::reference(&*set),
                    EventType::Warning,
                    "FailedDaemonPod",
                    "Delete",
                    format!(
                        "Found failed daemon pod {ns}/{} on node {node_name}, will try to kill it",
                        pod.name_any()
                    ),
                )
                .await;
            to_delete.push(pod.clone());
        }
        if running.len() > 1 {
            if max_surge_for_manage {
                // Keep the oldest new pod and the oldest old pod.
                let newest = running
                    .iter()
                    .find(|p| is_updated(p, &hash, generation))
                    .cloned();
                let oldest_old = running
                    .iter()
                    .find(|p| !is_updated(p, &hash, generation))
                    .cloned();
                for p in &running {
                    let keep = newest.as_ref().is_some_and(|n| n.uid() == p.uid())
                        || oldest_old.as_ref().is_some_and(|o| o.uid() == p.uid());
                    if !keep {
                        to_delete.push(p.clone());
                    }
                }
            } else {
                to_delete.extend(running.into_iter().skip(1));
            }
        }
    }
    // Pods for nodes that are gone.
    to_delete.extend(
        orphaned
            .into_iter()
            .filter(|p| !workload::is_terminating(p)),
    );

    if rolling && to_create.is_empty() && to_delete.is_empty() {
        let ru = strategy.rolling_update.clone().unwrap_or_default();
        let mut max_surge = scaled(ru.max_surge.as_ref(), desired, 0);
        let mut max_unavailable = scaled(ru.max_unavailable.as_ref(), desired, 1);
        if max_surge == 0 && max_unavailable == 0 {
            max_unavailable = 1;
        }
        if max_surge > 0 {
            max_unavailable = 0;
        } else {
            max_surge = 0;
        }
        let mut plan_input = Vec::new();
        for &node in &eligible {
            let on_node: &[Arc<Pod>] = by_node.get(node).map_or(&[], Vec::as_slice);
            let mut entry = NodePods {
                node: node.to_string(),
                old: None,
                new: None,
                conflict: false,
            };
            for pod in on_node.iter().filter(|p| !workload::is_terminating(p)) {
                let avail = workload::is_available(pod, min_ready, &ctx.clock);
                if is_updated(pod, &hash, generation) {
                    entry.conflict |= entry.new.is_some();
                    entry.new = Some(avail);
                } else {
                    entry.conflict |= entry.old.is_some();
                    entry.old = Some((pod.name_any(), avail));
                }
            }
            plan_input.push(entry);
        }
        let plan = rolling_plan(&plan_input, max_unavailable, max_surge);
        if !plan.delete.is_empty() {
            let by_name: HashMap<&str, &Arc<Pod>> = pods
                .iter()
                .filter_map(|p| Some((p.metadata.name.as_deref()?, p)))
                .collect();
            to_delete.extend(
                plan.delete
                    .iter()
                    .filter_map(|n| by_name.get(n.as_str()).map(|p| Arc::clone(p))),
            );
        }
        to_create.extend(plan.surge_onto);
    }

    let outcome = sync_nodes(&ctx, &set, &template, &to_create, &to_delete).await;

    let new_status = DaemonSetStatus {
        current_number_scheduled: current,
        desired_number_scheduled: desired,
        number_misscheduled: misscheduled,
        number_ready: ready,
        number_available: Some(available),
        number_unavailable: Some(desired - available),
        updated_number_scheduled: Some(updated),
        observed_generation: generation,
        collision_count: Some(ensured.collision_count),
        conditions: status.conditions.clone(),
    };
    if set.status.as_ref() != Some(&new_status) {
        let api = Api::<DaemonSet>::namespaced(ctx.client.clone(), &ns);
        let patch = serde_json::json!({ "status": new_status });
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(Error::request(
                    "patch",
                    format!("daemonsets {ns}/{name}/status"),
                    e,
                ));
            }
        }
    }
    // History: keep revisions of live pods and the current one, prune the rest to the limit.
    let live_hashes: HashSet<&str> = pods
        .iter()
        .filter_map(|p| p.labels().get(history::REVISION_LABEL).map(String::as_str))
        .collect();
    let mut live_revisions: HashSet<String> = [ensured.revision.name_any()].into();
    for r in &revisions {
        if r.labels()
            .get(history::REVISION_LABEL)
            .is_some_and(|h| live_hashes.contains(h.as_str()))
        {
            live_revisions.insert(r.name_any());
        }
    }
    let limit = spec
        .revision_history_limit
        .unwrap_or(history::DEFAULT_HISTORY_LIMIT);
    history::prune(&revision_api, &revisions, &live_revisions, limit).await?;
    outcome?;
    Ok(match requeue {
        Some(wait) => Action::requeue(ctx.clock.real(wait) + Duration::from_millis(50)),
        None => Action::await_change(),
    })
}

async fn sync_nodes(
    ctx: &Context,
    set: &DaemonSet,
    template: &PodTemplateSpec,
    create_on: &[String],
    delete: &[Arc<Pod>],
) -> Result<(), Error> {
    let ns = set.namespace().unwrap_or_default();
    let uid = set.uid().unwrap_or_default();
    let api = Api::<Pod>::namespaced(ctx.client.clone(), &ns);
    let meta = template.metadata.clone().unwrap_or_default();
    // As upstream's `syncNodes`: at most `BURST_REPLICAS` pods a sync, created in batches
    // of 1, 2, 4, ... that run concurrently, stopping after a batch with a failure; the
    // watch of the new pods brings the next sync.
    let create_on = &create_on[..create_on.len().min(BURST_REPLICAS)];
    let mut nodes = create_on.iter();
    let (_, mut first_error) = crate::replicaset::slow_start_batch(
        create_on.len(),
        crate::replicaset::SLOW_START_INITIAL_BATCH_SIZE,
        || {
            let node = nodes.next().cloned().unwrap_or_default();
            let (api, meta, ns, uid) = (&api, &meta, &ns, &uid);
            async move {
                let mut spec = template.spec.clone().unwrap_or_default();
                spec.affinity = Some(pin_to_node(spec.affinity.take(), &node));
                let pod = Pod {
                    metadata: ObjectMeta {
                        generate_name: Some(format!("{}-", set.name_any())),
                        namespace: Some(ns.clone()),
                        labels: meta.labels.clone(),
                        annotations: meta.annotations.clone(),
                        finalizers: meta.finalizers.clone(),
                        owner_references: Some(vec![controller_ref(set)]),
                        ..Default::default()
                    },
                    spec: Some(spec),
                    status: None,
                };
                match api.create(&PostParams::default(), &pod).await {
                    Ok(created) => {
                        ctx.expectations.created(uid, &created.name_any());
                        ctx.events
                            .publish(
                                &workload::reference(set),
                                EventType::Normal,
                                "SuccessfulCreate",
                                "Create",
                                format!("Created pod: {}", created.name_any()),
                            )
                            .await;
                        Ok(())
                    }
                    // The namespace is going away: nothing to create, nothing to report.
                    Err(e) if crate::replicaset::has_status_cause(&e, "NamespaceTerminating") => {
                        Ok(())
                    }
                    Err(e) => {
                        ctx.events
                            .publish(
                                &workload::reference(set),
                                EventType::Warning,
                                "FailedCreate",
                                "Create",
                                format!("Error creating: {e}"),
                            )
                            .await;
                        Err(Error::request("create", format!("pods {ns}/"), e))
                    }
                }
            }
        },
    )
    .await;
    for pod in delete {
        let pod_name = pod.name_any();
        let params = DeleteParams {
            preconditions: pod.uid().map(|u| kube::api::Preconditions {
                uid: Some(u),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(&pod_name, &params).await {
            Ok(_) => {
                if let Some(pod_uid) = pod.uid() {
                    ctx.expectations.deleted(&uid, &pod_uid);
                }
                ctx.events
                    .publish(
                        &workload::reference(set),
                        EventType::Normal,
                        "SuccessfulDelete",
                        "Delete",
                        format!("Deleted pod: {pod_name}"),
                    )
                    .await;
            }
            Err(e) if is_not_found(&e) || is_conflict(&e) => {}
            Err(e) => {
                ctx.events
                    .publish(
                        &workload::reference(set),
                        EventType::Warning,
                        "FailedDelete",
                        "Delete",
                        format!("Error deleting: {e}"),
                    )
                    .await;
                first_error.get_or_insert(Error::request(
                    "delete",
                    format!("pods {ns}/{pod_name}"),
                    e,
                ));
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn error_policy(set: Arc<DaemonSet>, error: &Error, _: Arc<Context>) -> Action {
    if !error.is_conflict() {
        warn!(daemonset = %workload::key(&*set), error = %crate::error_chain(error), "syncing daemonset failed");
    }
    Action::requeue(RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints}
        }))
        .expect("node")
    }

    fn pod_spec(extra: serde_json::Value) -> PodSpec {
        let mut base = serde_json::json!({"containers": [{"name": "c", "image": "x"}]});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let mut spec: PodSpec = serde_json::from_value(base).expect("spec");
        add_daemon_tolerations(&mut spec);
        spec
    }

    use serde_json::json as j;

    #[test]
    fn node_eligibility_follows_selectors_affinity_and_taints() {
        let cases = [
            (
                "a plain node runs it",
                pod_spec(j!({})),
                node("n", j!({}), j!([])),
                (true, true),
            ),
            (
                "node selector mismatch",
                pod_spec(j!({"nodeSelector": {"disk": "ssd"}})),
                node("n", j!({"disk": "hdd"}), j!([])),
                (false, false),
            ),
            (
                "node selector match",
                pod_spec(j!({"nodeSelector": {"disk": "ssd"}})),
                node("n", j!({"disk": "ssd"}), j!([])),
                (true, true),
            ),
            (
                "required affinity NotIn excludes",
                pod_spec(
                    j!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}]}}}}),
                ),
                node("n", j!({"zone": "a"}), j!([])),
                (false, false),
            ),
            (
                "untolerated NoSchedule keeps running pods",
                pod_spec(j!({})),
                node(
                    "n",
                    j!({}),
                    j!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
                ),
                (false, true),
            ),
            (
                "untolerated NoExecute evicts",
                pod_spec(j!({})),
                node(
                    "n",
                    j!({}),
                    j!([{"key": "dedicated", "effect": "NoExecute"}]),
                ),
                (false, false),
            ),
            (
                "PreferNoSchedule is ignored",
                pod_spec(j!({})),
                node(
                    "n",
                    j!({}),
                    j!([{"key": "x", "effect": "PreferNoSchedule"}]),
                ),
                (true, true),
            ),
            (
                "tolerated with Equal",
                pod_spec(
                    j!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}),
                ),
                node(
                    "n",
                    j!({}),
                    j!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
                ),
                (true, true),
            ),
            (
                "unschedulable is tolerated automatically",
                pod_spec(j!({})),
                node(
                    "n",
                    j!({}),
                    j!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
                ),
                (true, true),
            ),
            (
                "not-ready NoExecute is tolerated automatically",
                pod_spec(j!({})),
                node(
                    "n",
                    j!({}),
                    j!([{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]),
                ),
                (true, true),
            ),
            (
                "network-unavailable only for host network",
                pod_spec(j!({})),
                node(
                    "n",
                    j!({}),
                    j!([{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]),
                ),
                (false, true),
            ),
            (
                "network-unavailable tolerated with host network",
                pod_spec(j!({"hostNetwork": true})),
                node(
                    "n",
                    j!({}),
                    j!([{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]),
                ),
                (true, true),
            ),
            (
                "a fixed node name elsewhere",
                pod_spec(j!({"nodeName": "other"})),
                node("n", j!({}), j!([])),
                (false, false),
            ),
        ];
        for (case, spec, node, want) in cases {
            assert_eq!(should_run(&spec, &node), want, "{case}");
        }
    }

    #[test]
    fn failed_pod_back_off_doubles_up_to_fifteen_minutes() {
        let now = jiff::Timestamp::UNIX_EPOCH;
        let entry = |secs| {
            Some(FailedBackoff {
                delay: Duration::from_secs(secs),
                updated: now,
            })
        };
        let cases = [
            ("first failure", None, 0, 1),
            ("doubles", entry(1), 1, 2),
            ("doubles again", entry(8), 8, 16),
            ("capped", entry(600), 600, 900),
            ("resets after a quiet spell", entry(900), 1801, 1),
        ];
        for (case, e, since, want) in cases {
            assert_eq!(
                next_backoff(e, Duration::from_secs(since), now).delay,
                Duration::from_secs(want),
                "{case}"
            );
        }
    }

    #[test]
    fn only_what_placement_reads_changes_a_nodes_fingerprint() {
        let at = |t: &str, status: &str, rv: &str, images: serde_json::Value| -> Node {
            serde_json::from_value(j!({
                "metadata": {"name": "n", "resourceVersion": rv, "labels": {"zone": "a"}},
                "status": {"conditions": [{"type": "Ready", "status": status,
                    "lastHeartbeatTime": t, "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                    "images": images}
            }))
            .expect("node")
        };
        let base = node_fingerprint(&at("2026-01-01T00:00:10Z", "True", "1", j!([])));
        assert_eq!(
            base,
            node_fingerprint(&at("2026-01-01T00:00:20Z", "True", "2", j!([]))),
            "a heartbeat"
        );
        assert_eq!(
            base,
            node_fingerprint(&at("2026-01-01T00:00:20Z", "False", "3", j!([]))),
            "readiness alone (the not-ready taint is what daemon pods face)"
        );
        assert_eq!(
            base,
            node_fingerprint(&at(
                "2026-01-01T00:00:20Z",
                "True",
                "4",
                j!([{"names": ["registry.k8s.io/pause:3.10"], "sizeBytes": 320000}])
            )),
            "an image pulled"
        );
        let tainted = node("n", j!({}), j!([{"key": "k", "effect": "NoSchedule"}]));
        assert_ne!(
            node_fingerprint(&tainted),
            node_fingerprint(&node("n", j!({}), j!([]))),
            "a taint"
        );
        let no_execute = node("n", j!({}), j!([{"key": "k", "effect": "NoExecute"}]));
        assert_ne!(
            node_fingerprint(&tainted),
            node_fingerprint(&no_execute),
            "a taint's effect"
        );
        assert_ne!(
            node_fingerprint(&node("n", j!({"zone": "a"}), j!([]))),
            node_fingerprint(&node("n", j!({"zone": "b"}), j!([]))),
            "a label"
        );
        assert_ne!(
            node_fingerprint(&node("n", j!({}), j!([]))),
            node_fingerprint(&node("m", j!({}), j!([]))),
            "the name"
        );
    }

    #[test]
    fn pods_are_pinned_by_a_metadata_name_term() {
        let affinity = pin_to_node(None, "node-1");
        let pod = Pod {
            spec: Some(PodSpec {
                affinity: Some(affinity.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(target_node(&pod), Some("node-1"));
        let terms = &affinity
            .node_affinity
            .and_then(|a| a.required_during_scheduling_ignored_during_execution)
            .expect("required")
            .node_selector_terms;
        assert_eq!(terms.len(), 1);
        assert_eq!(
            terms[0].match_fields.as_ref().expect("fields")[0].key,
            "metadata.name"
        );
        let spec = pod_spec(serde_json::json!({}));
        assert_eq!(spec.tolerations.as_ref().map(Vec::len), Some(6));
    }

    #[test]
    fn scaled_values_round_up() {
        let cases = [
            ("absent takes the default", None, 10, 1, 1),
            ("an int", Some(IntOrString::Int(2)), 10, 1, 2),
            (
                "a percent rounds up",
                Some(IntOrString::String("25%".into())),
                5,
                1,
                2,
            ),
            (
                "zero percent",
                Some(IntOrString::String("0%".into())),
                5,
                1,
                0,
            ),
        ];
        for (case, value, total, default, want) in cases {
            assert_eq!(scaled(value.as_ref(), total, default), want, "{case}");
        }
    }

    fn np(node: &str, old: Option<bool>, new: Option<bool>) -> NodePods {
        NodePods {
            node: node.into(),
            old: old.map(|a| (format!("old-{node}"), a)),
            new,
            conflict: false,
        }
    }

    #[test]
    fn rolling_updates_respect_max_unavailable_and_max_surge() {
        let cases = [
            (
                "one at a time without surge",
                vec![np("a", Some(true), None), np("b", Some(true), None)],
                1,
                0,
                RollingPlan {
                    delete: vec!["old-a".into()],
                    surge_onto: vec![],
                },
            ),
            (
                "an unavailable new pod uses the budget",
                vec![np("a", None, Some(false)), np("b", Some(true), None)],
                1,
                0,
                RollingPlan::default(),
            ),
            (
                "unavailable old pods are always replaced",
                vec![np("a", None, Some(false)), np("b", Some(false), None)],
                1,
                0,
                RollingPlan {
                    delete: vec!["old-b".into()],
                    surge_onto: vec![],
                },
            ),
            (
                "surge creates next to old pods",
                vec![np("a", Some(true), None), np("b", Some(true), None)],
                0,
                1,
                RollingPlan {
                    delete: vec![],
                    surge_onto: vec!["a".into()],
                },
            ),
            (
                "surge deletes old pods once the new one is available",
                vec![np("a", Some(true), Some(true)), np("b", Some(true), None)],
                0,
                1,
                RollingPlan {
                    delete: vec!["old-a".into()],
                    surge_onto: vec!["b".into()],
                },
            ),
        ];
        for (case, nodes, max_unavailable, max_surge, want) in cases {
            assert_eq!(
                rolling_plan(&nodes, max_unavailable, max_surge),
                want,
                "{case}"
            );
        }
    }
}
