//! The node lifecycle controller, as kube-controller-manager's `node-lifecycle-controller`,
//! `taint-eviction-controller` and `pod-garbage-collector` run it:
//!
//! * a node whose kubelet posted neither a Lease renewal (`kube-node-lease`) nor a Ready
//!   heartbeat within the grace period gets every condition set to `Unknown`
//!   (`NodeStatusUnknown`, "Kubelet stopped posting node status."), the `NodeNotReady`
//!   event, its pods' `Ready` condition set to False, and the `unreachable` (or, when the
//!   kubelet reports Ready=False, `not-ready`) taints with effects NoSchedule and NoExecute;
//!   the taints go when the node recovers;
//! * pods on a node with NoExecute taints they do not tolerate are deleted
//!   (`TaintManagerEviction`), those tolerating them for `tolerationSeconds` once that
//!   time has passed since the taint was added;
//! * pods bound to nodes that no longer exist, and terminating pods never scheduled, are
//!   force-deleted (pod GC).
//!
//! The controller runs one monitor pass per [`Settings::monitor_period`] over shared caches;
//! all durations are simulated on the clock.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use events::{EventType, Recorder};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::{self, Store, reflector};

use informer::SharedInformer;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::{Error, is_not_found};

/// The taint of a node whose Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint of a node whose Ready condition is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint of a cordoned node (`spec.unschedulable`).
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// The namespace of the kubelets' Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// Reporter of node and pod-readiness events.
pub const NODE_REPORTER: &str = "node-controller";
/// Reporter of taint evictions.
pub const TAINT_REPORTER: &str = "taint-eviction-controller";
/// The conditions besides Ready the controller marks Unknown (NetworkUnavailable is the
/// network plugin's).
const OTHER_CONDITIONS: [&str; 3] = ["MemoryPressure", "DiskPressure", "PIDPressure"];

/// The controller's timings (kube-controller-manager flags of the same names).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `--node-monitor-grace-period`: how long a node may stay silent before it is
    /// Unknown (50 s since v1.32).
    pub grace_period: Duration,
    /// `--node-startup-grace-period`: how long a new node may take to post its first status.
    pub startup_grace_period: Duration,
    /// `--node-monitor-period`: how often nodes are checked.
    pub monitor_period: Duration,
    /// How long a node must be gone before its pods are collected (upstream's quarantine).
    pub orphan_quarantine: Duration,
    /// The simulation clock; every duration above is simulated time.
    pub clock: api::clock::Clock,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            grace_period: Duration::from_secs(50),
            startup_grace_period: Duration::from_secs(60),
            monitor_period: Duration::from_secs(5),
            orphan_quarantine: Duration::from_secs(40),
            clock: api::clock::Clock::REAL_TIME,
        }
    }
}

/// Whether a node's kubelet has gone silent: neither its Lease's renewTime nor its Ready
/// condition's heartbeat is within `grace` of now (simulated); a node that never posted
/// is judged from its creation with `startup_grace`.
pub fn is_silent(node: &Node, lease: Option<&Lease>, settings: &Settings) -> bool {
    let ready = ready_condition(node);
    let heartbeat = ready
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0);
    let renewed = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0);
    let latest = match (heartbeat, renewed) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    match latest {
        Some(t) => settings.clock.elapsed_since(t) > settings.grace_period,
        None => node
            .metadata
            .creation_timestamp
            .as_ref()
            .is_some_and(|t| settings.clock.elapsed_since(t.0) > settings.startup_grace_period),
    }
}

fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
}

/// The Ready condition's status (`True`, `False`, `Unknown`), if the node has one.
pub fn ready_status(node: &Node) -> Option<&str> {
    ready_condition(node).map(|c| c.status.as_str())
}

/// The conditions of a silent node: Ready and the pressure conditions become Unknown
/// (`NodeStatusUnknown`, heartbeat kept) or are added as Unknown (`NodeStatusNeverUpdated`);
/// `None` when they already are.
pub fn unknown_conditions(
    conditions: &[NodeCondition],
    now: jiff::Timestamp,
) -> Option<Vec<NodeCondition>> {
    let mut out = conditions.to_vec();
    let mut changed = false;
    for kind in std::iter::once("Ready").chain(OTHER_CONDITIONS) {
        match out.iter_mut().find(|c| c.type_ == kind) {
            Some(c) if c.status == "Unknown" => {}
            Some(c) => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            None => {
                out.push(NodeCondition {
                    type_: kind.into(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: Some(Time(now)),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
        }
    }
    changed.then_some(out)
}

/// The node's taints with the controller's readiness taints made to match the Ready status
/// (`Unknown` → unreachable, `False` → not-ready, both NoSchedule and NoExecute, stamped
/// `now`) and the `unschedulable` NoSchedule taint to match `spec.unschedulable` (upstream's
/// TaintNodesByCondition, which `kubectl cordon` shows); `None` when nothing changes.
pub fn readiness_taints(
    existing: &[Taint],
    ready: Option<&str>,
    unschedulable: bool,
    now: jiff::Timestamp,
) -> Option<Vec<Taint>> {
    let wanted = match ready {
        Some("Unknown") => Some(TAINT_UNREACHABLE),
        Some("False") => Some(TAINT_NOT_READY),
        _ => None,
    };
    let mut out: Vec<Taint> = existing
        .iter()
        .filter(|t| {
            let ours = t.key == TAINT_UNREACHABLE || t.key == TAINT_NOT_READY;
            let effect = t.effect == "NoSchedule" || t.effect == "NoExecute";
            !ours || !effect || Some(t.key.as_str()) == wanted
        })
        .cloned()
        .collect();
    if let Some(key) = wanted {
        for effect in ["NoSchedule", "NoExecute"] {
            if !out.iter().any(|t| t.key == key && t.effect == effect) {
                out.push(Taint {
                    key: key.into(),
                    effect: effect.into(),
                    time_added: Some(Time(now)),
                    value: None,
                });
            }
        }
    }
    let cordoned = |t: &Taint| t.key == TAINT_UNSCHEDULABLE && t.effect == "NoSchedule";
    if unschedulable {
        if !out.iter().any(cordoned) {
            out.push(Taint {
                key: TAINT_UNSCHEDULABLE.into(),
                effect: "NoSchedule".into(),
                time_added: Some(Time(now)),
                value: None,
            });
        }
    } else {
        out.retain(|t| !cordoned(t));
    }
    (out != existing).then_some(out)
}

/// Whether a toleration tolerates a taint (upstream's `ToleratesTaint`).
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
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// What the taint eviction manager does with a pod on a node.
#[derive(Debug, Clone, PartialEq)]
pub enum TaintEviction {
    /// Nothing: no NoExecute taints, or all tolerated forever.
    Keep,
    /// Delete now: a NoExecute taint is not tolerated.
    Now,
    /// Delete once this much simulated time has passed since `since`.
    After {
        /// When the pod became subject to the taints (the earliest `timeAdded`).
        since: Option<jiff::Timestamp>,
        /// The shortest `tolerationSeconds` among the tolerations used.
        wait: Duration,
    },
}

/// Upstream's `processPodOnNode`: every NoExecute taint must be tolerated; the pod may then
/// stay for the smallest `tolerationSeconds` of the tolerations that matched (negative
/// counts as zero, unset as forever).
pub fn taint_eviction(tolerations: &[Toleration], taints: &[Taint]) -> TaintEviction {
    let no_execute: Vec<&Taint> = taints.iter().filter(|t| t.effect == "NoExecute").collect();
    if no_execute.is_empty() {
        return TaintEviction::Keep;
    }
    let mut min: Option<i64> = None;
    for taint in &no_execute {
        let used: Vec<&Toleration> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if used.is_empty() {
            return TaintEviction::Now;
        }
        for t in used {
            if let Some(s) = t.toleration_seconds {
                min = Some(min.map_or(s, |m| m.min(s)));
            }
        }
    }
    let Some(seconds) = min else {
        return TaintEviction::Keep;
    };
    let since = no_execute
        .iter()
        .filter_map(|t| t.time_added.as_ref().map(|t| t.0))
        .min();
    TaintEviction::After {
        since,
        wait: Duration::from_secs(u64::try_from(seconds).unwrap_or(0)),
    }
}

struct Context {
    client: Client,
    nodes: Store<Node>,
    leases: Store<Lease>,
    pods: Store<Pod>,
    node_events: Recorder,
    taint_events: Recorder,
    settings: Settings,
    /// When each missing node was first seen missing (pod GC quarantine).
    missing_since: std::sync::Mutex<HashMap<String, jiff::Timestamp>>,
}

/// Runs the controller until `shutdown` is cancelled, with its own watch of the pods.
pub async fn run(
    client: Client,
    settings: Settings,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let pods = SharedInformer::start(Api::all(client.clone()), shutdown.clone());
    run_with(client, settings, pods, shutdown).await
}

/// [`run`], reading pods from a shared watch.
pub async fn run_with(
    client: Client,
    settings: Settings,
    shared_pods: SharedInformer<Pod>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let (nodes, node_writer) = reflector::store();
    let (leases, lease_writer) = reflector::store();
    let node_stream = reflector(
        node_writer,
        watcher(Api::<Node>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff();
    let lease_stream = reflector(
        lease_writer,
        watcher(
            Api::<Lease>::namespaced(client.clone(), LEASE_NAMESPACE),
            watcher::Config::default(),
        ),
    )
    .default_backoff();
    let pods = shared_pods.store();
    let ctx = Arc::new(Context {
        node_events: Recorder::new(client.clone(), NODE_REPORTER, None),
        taint_events: Recorder::new(client.clone(), TAINT_REPORTER, None),
        client,
        nodes,
        leases,
        pods,
        settings,
        missing_since: std::sync::Mutex::new(HashMap::new()),
    });
    let drain = |s: futures::stream::BoxStream<'static, ()>| s.for_each(|_| async {});
    let watches = futures::future::join(
        drain(node_stream.map(|_| ()).boxed()),
        drain(lease_stream.map(|_| ()).boxed()),
    );
    let monitor = async {
        let _ = ctx.nodes.wait_until_ready().await;
        let _ = ctx.leases.wait_until_ready().await;
        shared_pods.wait_until_ready().await;
        loop {
            if let Err(error) = monitor_pass(&ctx).await {
                warn!(error = %crate::error_chain(&error), "node monitor pass failed");
            }
            tokio::time::sleep(ctx.settings.clock.real(ctx.settings.monitor_period)).await;
        }
    };
    tokio::select! {
        _ = shutdown.cancelled() => Ok(()),
        _ = watches => Err(Error::TaskEnded { task: "node lifecycle watches", source: None }),
        _ = monitor => Ok(()),
    }
}

async fn publish(
    recorder: &Recorder,
    reference: k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: String,
) {
    recorder
        .publish(&reference, type_, reason, reason, note)
        .await;
}

/// One pass over every node, then over the pods of tainted and missing nodes.
async fn monitor_pass(ctx: &Context) -> Result<(), Error> {
    let now = ctx.settings.clock.now();
    let leases: HashMap<String, Arc<Lease>> = ctx
        .leases
        .state()
        .into_iter()
        .map(|l| (l.name_any(), l))
        .collect();
    let mut pods_by_node: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
    let mut unscheduled_terminating = Vec::new();
    for pod in ctx.pods.state() {
        match pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
            Some(node) if !node.is_empty() => pods_by_node.entry(node).or_default().push(pod),
            _ if pod.metadata.deletion_timestamp.is_some() => unscheduled_terminating.push(pod),
            _ => {}
        }
    }
    let nodes = ctx.nodes.state();
    let mut first_error = None;
    for node in &nodes {
        let pods = pods_by_node
            .get(&node.name_any())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if let Err(e) = monitor_node(
            ctx,
            node,
            leases.get(&node.name_any()).map(Arc::as_ref),
            pods,
            now,
        )
        .await
        {
            first_error.get_or_insert(e);
        }
    }
    // Pod GC: pods on nodes that are gone (after a quarantine), and terminating pods that
    // were never scheduled.
    let known: std::collections::HashSet<String> = nodes.iter().map(|n| n.name_any()).collect();
    let mut orphaned = Vec::new();
    {
        let mut missing = ctx.missing_since.lock().unwrap_or_else(|p| p.into_inner());
        missing.retain(|name, _| !known.contains(name) && pods_by_node.contains_key(name));
        for (node, pods) in &pods_by_node {
            if known.contains(node) {
                continue;
            }
            let since = *missing.entry(node.clone()).or_insert(now);
            if ctx.settings.clock.elapsed_since(since) >= ctx.settings.orphan_quarantine {
                orphaned.extend(pods.iter().cloned());
            }
        }
    }
    for pod in orphaned {
        if let Err(e) = force_delete(
            ctx,
            &pod,
            Some(("DeletionByPodGC", "PodGC: node no longer exists")),
        )
        .await
        {
            first_error.get_or_insert(e);
        }
    }
    for pod in unscheduled_terminating {
        if let Err(e) = force_delete(ctx, &pod, None).await {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn monitor_node(
    ctx: &Context,
    node: &Node,
    lease: Option<&Lease>,
    pods: &[Arc<Pod>],
    now: jiff::Timestamp,
) -> Result<(), Error> {
    let name = node.name_any();
    let api = Api::<Node>::all(ctx.client.clone());
    let was_ready = ready_status(node) == Some("True");
    let mut ready = ready_status(node).map(str::to_string);
    let mut resource_version = node.resource_version();
    if is_silent(node, lease, &ctx.settings) {
        let conditions = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        if let Some(conditions) = unknown_conditions(&conditions, now) {
            let updated = api
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"conditions": conditions}})),
                )
                .await
                .map_err(|e| Error::request("patch", format!("nodes {name} status"), e))?;
            resource_version = updated.resource_version();
            ready = Some("Unknown".into());
        }
    }
    if was_ready && ready.as_deref() != Some("True") {
        publish(
            &ctx.node_events,
            node.object_ref(&()),
            EventType::Normal,
            "NodeNotReady",
            format!("Node {name} status is now: NodeNotReady"),
        )
        .await;
    }
    // Pods on a node that is not ready are not ready either.
    if ready.as_deref().is_some_and(|r| r != "True") {
        for pod in pods {
            mark_pod_not_ready(ctx, pod).await?;
        }
    }
    let existing = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let unschedulable = node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
    let taints = match readiness_taints(&existing, ready.as_deref(), unschedulable, now) {
        Some(taints) => {
            let patch = json!({"metadata": {"resourceVersion": resource_version}, "spec": {"taints": taints}});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
            {
                Ok(_) => taints,
                // Changed meanwhile: the next pass sees the new node.
                Err(e) if crate::is_conflict(&e) => existing,
                Err(e) => return Err(Error::request("patch", format!("nodes {name}"), e)),
            }
        }
        None => existing,
    };
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.clone())
            .unwrap_or_default();
        let due = match taint_eviction(&tolerations, &taints) {
            TaintEviction::Keep => false,
            TaintEviction::Now => true,
            TaintEviction::After { since, wait } => {
                ctx.settings.clock.elapsed_since(since.unwrap_or(now)) >= wait
            }
        };
        if due {
            evict_for_taint(ctx, pod).await?;
        }
    }
    Ok(())
}

/// Upstream's `MarkPodsNotReady` for one pod: Ready → False, then a `NodeNotReady` event.
async fn mark_pod_not_ready(ctx: &Context, pod: &Pod) -> Result<(), Error> {
    let Some(conditions) = pod.status.as_ref().and_then(|s| s.conditions.as_ref()) else {
        return Ok(());
    };
    if !conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status != "False")
    {
        return Ok(());
    }
    let now = ctx.settings.clock.now();
    let updated: Vec<_> = conditions
        .iter()
        .cloned()
        .map(|mut c| {
            if c.type_ == "Ready" {
                c.status = "False".into();
                c.last_transition_time = Some(Time(now));
            }
            c
        })
        .collect();
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let api = Api::<Pod>::namespaced(ctx.client.clone(), &ns);
    let patch = json!({"metadata": {"resourceVersion": pod.resource_version()}, "status": {"conditions": updated}});
    match api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => {}
        Err(e) if is_not_found(&e) || crate::is_conflict(&e) => return Ok(()),
        Err(e) => {
            return Err(Error::request(
                "patch",
                format!("pods {ns}/{name} status"),
                e,
            ));
        }
    }
    publish(
        &ctx.node_events,
        pod.object_ref(&()),
        EventType::Warning,
        "NodeNotReady",
        "Node is not ready".into(),
    )
    .await;
    Ok(())
}

/// Deletes a pod for a NoExecute taint (with the `DisruptionTarget` condition upstream adds).
async fn evict_for_taint(ctx: &Context, pod: &Pod) -> Result<(), Error> {
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    publish(
        &ctx.taint_events,
        pod.object_ref(&()),
        EventType::Normal,
        "TaintManagerEviction",
        format!("Marking for deletion Pod {ns}/{name}"),
    )
    .await;
    let api = Api::<Pod>::namespaced(ctx.client.clone(), &ns);
    add_disruption_target(
        &api,
        pod,
        "DeletionByTaintManager",
        "Taint manager: deleting due to NoExecute taint",
    )
    .await?;
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::request("delete", format!("pods {ns}/{name}"), e)),
    }
}

async fn add_disruption_target(
    api: &Api<Pod>,
    pod: &Pod,
    reason: &str,
    message: &str,
) -> Result<(), Error> {
    let mut conditions = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    conditions.retain(|c| c.type_ != "DisruptionTarget");
    let mut conditions = serde_json::to_value(conditions).unwrap_or_else(|_| json!([]));
    if let Some(list) = conditions.as_array_mut() {
        list.push(json!({"type": "DisruptionTarget", "status": "True", "reason": reason, "message": message,
            "lastTransitionTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}));
    }
    let name = pod.name_any();
    match api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": conditions}})),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::request("patch", format!("pods {name} status"), e)),
    }
}

/// Pod GC's force delete (grace period 0), marking orphaned pods Failed first.
async fn force_delete(
    ctx: &Context,
    pod: &Pod,
    condition: Option<(&str, &str)>,
) -> Result<(), Error> {
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let api = Api::<Pod>::namespaced(ctx.client.clone(), &ns);
    if let Some((reason, message)) = condition {
        add_disruption_target(&api, pod, reason, message).await?;
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if !matches!(phase, Some("Succeeded" | "Failed")) {
            let _ = api
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"phase": "Failed"}})),
                )
                .await;
        }
    }
    match api
        .delete(&name, &DeleteParams::default().grace_period(0))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::request("delete", format!("pods {ns}/{name}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toleration(v: serde_json::Value) -> Toleration {
        serde_json::from_value(v).expect("toleration")
    }

    fn taint(key: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            effect: effect.into(),
            value: None,
            time_added: None,
        }
    }

    #[test]
    fn silence_is_judged_from_the_freshest_of_lease_and_heartbeat() {
        let settings = Settings::default();
        let now = jiff::Timestamp::now();
        let ago = |s: i64| now - jiff::SignedDuration::from_secs(s);
        let node = |heartbeat: Option<i64>, created: i64| -> Node {
            let mut n =
                json!({"metadata": {"name": "n", "creationTimestamp": ago(created).to_string()}});
            if let Some(h) = heartbeat {
                n["status"] = json!({"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": ago(h).to_string()}]});
            }
            serde_json::from_value(n).expect("node")
        };
        let lease = |renewed: i64| -> Lease {
            serde_json::from_value(json!({"metadata": {"name": "n"}, "spec": {"renewTime": ago(renewed).strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()}})).expect("lease")
        };
        let cases = [
            ("a fresh heartbeat", node(Some(10), 900), None, false),
            (
                "a stale heartbeat, no lease",
                node(Some(60), 900),
                None,
                true,
            ),
            (
                "a stale heartbeat, a fresh lease",
                node(Some(600), 900),
                Some(lease(5)),
                false,
            ),
            ("both stale", node(Some(600), 900), Some(lease(51)), true),
            (
                "never posted, within startup grace",
                node(None, 30),
                None,
                false,
            ),
            (
                "never posted, past startup grace",
                node(None, 90),
                None,
                true,
            ),
        ];
        for (case, n, l, want) in cases {
            assert_eq!(is_silent(&n, l.as_ref(), &settings), want, "{case}");
        }
        let fast = Settings {
            clock: api::clock::Clock::with_speed(10.0).expect("clock"),
            ..Settings::default()
        };
        assert!(
            is_silent(&node(Some(10), 900), None, &fast),
            "10 s real is 100 s simulated"
        );
    }

    #[test]
    fn silent_nodes_get_unknown_conditions() {
        let now = jiff::Timestamp::now();
        let conditions: Vec<NodeCondition> = serde_json::from_value(json!([
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": "2026-01-01T00:00:00Z"},
            {"type": "MemoryPressure", "status": "False"},
            {"type": "DiskPressure", "status": "Unknown"}
        ]))
        .expect("conditions");
        let out = unknown_conditions(&conditions, now).expect("changed");
        let ready = &out[0];
        assert_eq!(
            (
                ready.status.as_str(),
                ready.reason.as_deref(),
                ready.message.as_deref()
            ),
            (
                "Unknown",
                Some("NodeStatusUnknown"),
                Some("Kubelet stopped posting node status.")
            )
        );
        assert_eq!(
            ready.last_heartbeat_time.as_ref().map(|t| t.0.to_string()),
            Some("2026-01-01T00:00:00Z".into()),
            "the heartbeat is kept"
        );
        assert_eq!(out[2].reason, None, "already Unknown: untouched");
        let pid = out
            .iter()
            .find(|c| c.type_ == "PIDPressure")
            .expect("added");
        assert_eq!(pid.reason.as_deref(), Some("NodeStatusNeverUpdated"));
        assert!(
            unknown_conditions(&out, now).is_none(),
            "a second pass changes nothing"
        );
    }

    #[test]
    fn a_cordoned_node_gets_the_unschedulable_taint_and_loses_it_when_uncordoned() {
        let now = jiff::Timestamp::now();
        let cordoned = readiness_taints(&[], Some("True"), true, now).expect("tainted");
        assert_eq!(
            cordoned
                .iter()
                .map(|t| format!("{}:{}", t.key, t.effect))
                .collect::<Vec<_>>(),
            ["node.kubernetes.io/unschedulable:NoSchedule"]
        );
        assert_eq!(
            readiness_taints(&cordoned, Some("True"), true, now),
            None,
            "stable"
        );
        assert_eq!(
            readiness_taints(&cordoned, Some("True"), false, now),
            Some(vec![]),
            "uncordoned"
        );
    }

    #[test]
    fn readiness_taints_follow_the_ready_condition() {
        let now = jiff::Timestamp::now();
        let keys = |ts: &[Taint]| {
            ts.iter()
                .map(|t| format!("{}:{}", t.key, t.effect))
                .collect::<Vec<_>>()
        };
        let user = taint("dedicated", "NoSchedule");
        let cases = [
            (
                "ready keeps the user's taints",
                vec![user.clone()],
                Some("True"),
                None,
            ),
            (
                "unknown adds unreachable",
                vec![user.clone()],
                Some("Unknown"),
                Some(vec![
                    "dedicated:NoSchedule",
                    "node.kubernetes.io/unreachable:NoSchedule",
                    "node.kubernetes.io/unreachable:NoExecute",
                ]),
            ),
            (
                "false swaps unreachable for not-ready",
                vec![
                    taint(TAINT_UNREACHABLE, "NoSchedule"),
                    taint(TAINT_UNREACHABLE, "NoExecute"),
                ],
                Some("False"),
                Some(vec![
                    "node.kubernetes.io/not-ready:NoSchedule",
                    "node.kubernetes.io/not-ready:NoExecute",
                ]),
            ),
            (
                "recovery removes them",
                vec![user.clone(), taint(TAINT_UNREACHABLE, "NoExecute")],
                Some("True"),
                Some(vec!["dedicated:NoSchedule"]),
            ),
        ];
        for (case, existing, ready, want) in cases {
            let got = readiness_taints(&existing, ready, false, now);
            assert_eq!(
                got.as_deref().map(keys),
                want.map(|w| w.iter().map(|s| s.to_string()).collect()),
                "{case}"
            );
        }
    }

    #[test]
    fn no_execute_taints_evict_untolerating_pods_now_and_tolerating_ones_later() {
        let added = jiff::Timestamp::now();
        let mut unreachable = taint(TAINT_UNREACHABLE, "NoExecute");
        unreachable.time_added = Some(Time(added));
        let default_tolerations = vec![
            toleration(
                json!({"key": TAINT_NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
            ),
            toleration(
                json!({"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
            ),
        ];
        let cases = [
            ("no taints", vec![], vec![], TaintEviction::Keep),
            (
                "NoSchedule only",
                vec![],
                vec![taint(TAINT_UNREACHABLE, "NoSchedule")],
                TaintEviction::Keep,
            ),
            (
                "untolerated",
                vec![],
                vec![unreachable.clone()],
                TaintEviction::Now,
            ),
            (
                "tolerated for 300 s",
                default_tolerations.clone(),
                vec![unreachable.clone()],
                TaintEviction::After {
                    since: Some(added),
                    wait: Duration::from_secs(300),
                },
            ),
            (
                "tolerated forever",
                vec![toleration(json!({"operator": "Exists"}))],
                vec![unreachable.clone()],
                TaintEviction::Keep,
            ),
            (
                "the wrong value is not tolerated",
                vec![toleration(
                    json!({"key": "k", "value": "a", "effect": "NoExecute"}),
                )],
                vec![Taint {
                    value: Some("b".into()),
                    ..taint("k", "NoExecute")
                }],
                TaintEviction::Now,
            ),
        ];
        for (case, tolerations, taints, want) in cases {
            assert_eq!(taint_eviction(&tolerations, &taints), want, "{case}");
        }
    }
}
