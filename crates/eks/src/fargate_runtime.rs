//! EKS on Fargate at run time: the mutating admission EKS runs on pod creation (a pod matching
//! a Fargate profile gets `schedulerName: fargate-scheduler`, its profile label and
//! `system-node-critical` priority), and the `fargate-scheduler`, which refuses what Fargate
//! cannot run (a `FailedScheduling` event, the pod stays Pending), sizes the pod, starts a
//! micro-VM node for it alone, records `CapacityProvisioned` and binds it. A Fargate node
//! whose pod is gone is stopped.
//!
//! Profiles are `FargateProfile` objects (`eks.skiff.dev/v1alpha1`); the micro-VMs are the
//! binary's business, handed in as [`FargateMachines`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use api::admission::{AdmissionFuture, AdmissionPlugin, CreateRequest};
use api::clock::Clock;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{
    Node, ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod,
};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::fargate::{self, FargateProfile, FargateSize, LoggingState, Selector};
use crate::nodegroup::{LaunchError, MachineFuture};

/// The name of EKS's Fargate pod mutation webhook (refusals and logs quote it).
pub const WEBHOOK_NAME: &str = "0500-amazon-eks-fargate-mutation.amazonaws.com";

/// A Fargate micro-VM to start for one pod.
#[derive(Debug, Clone, PartialEq)]
pub struct FargateLaunch {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The profile that selected it.
    pub profile: String,
    /// The profile's subnets (private subnets of the VPC).
    pub subnets: Vec<String>,
    /// The size Fargate provisions.
    pub size: FargateSize,
}

/// Micro-VMs that become (and stop being) one-pod Fargate nodes.
pub trait FargateMachines: Send + Sync {
    /// Starts the micro-VM and its kubelet; returns the node's name.
    fn launch<'a>(
        &'a self,
        request: &'a FargateLaunch,
    ) -> MachineFuture<'a, Result<String, LaunchError>>;
    /// Stops the micro-VM behind `node` (the Node object goes with it).
    fn terminate<'a>(&'a self, node: &'a str) -> MachineFuture<'a, Result<(), LaunchError>>;
}

/// The cluster's Fargate profiles, shared by the admission plugin and the scheduler.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    inner: Arc<RwLock<Vec<FargateProfile>>>,
}

impl Profiles {
    /// The profiles now.
    pub fn get(&self) -> Vec<FargateProfile> {
        self.inner.read().map(|p| p.clone()).unwrap_or_default()
    }

    /// Replaces the profiles.
    pub fn set(&self, profiles: Vec<FargateProfile>) {
        if let Ok(mut p) = self.inner.write() {
            *p = profiles;
        }
    }

    /// Reads the `FargateProfile` objects.
    pub async fn refresh(&self, client: &Client) -> Result<(), kube::Error> {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &profile_resource());
        let list = api.list(&ListParams::default()).await?;
        self.set(list.items.iter().map(profile_from_object).collect());
        Ok(())
    }

    /// Keeps the profiles current from a watch of the `FargateProfile` objects until
    /// `shutdown`, so a profile applies to the pods created right after it (every API server
    /// admits pods, so each follows the profiles itself). Watch failures are retried with a
    /// back-off and logged.
    pub async fn follow(&self, client: Client, shutdown: CancellationToken) {
        let api: Api<DynamicObject> = Api::all_with(client, &profile_resource());
        let writer = reflector::store::Writer::new(profile_resource());
        let store = writer.as_reader();
        let mut changes = std::pin::pin!(reflector(
            writer,
            watcher::watcher(api, watcher::Config::default()).default_backoff(),
        ));
        loop {
            let change = tokio::select! {
                _ = shutdown.cancelled() => return,
                change = changes.next() => change,
            };
            match change {
                None => return,
                Some(Err(error)) => tracing::warn!(%error, "watching Fargate profiles failed"),
                // The store is filled once the first list is complete; before that it may hold
                // only part of the profiles.
                Some(Ok(_)) if store.wait_until_ready().now_or_never().is_some() => {
                    let mut profiles: Vec<FargateProfile> = store
                        .state()
                        .iter()
                        .map(|o| profile_from_object(o))
                        .collect();
                    profiles.sort_by(|a, b| a.name.cmp(&b.name));
                    self.set(profiles);
                }
                Some(Ok(_)) => {}
            }
        }
    }
}

/// The `FargateProfile` API resource.
pub fn profile_resource() -> ApiResource {
    crate::resources::resource("FargateProfile", "fargateprofiles")
}

/// A profile from its API object.
pub fn profile_from_object(obj: &DynamicObject) -> FargateProfile {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    FargateProfile {
        name: obj.name_any(),
        selectors: obj.data["spec"]["selectors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| Selector {
                namespace: s["namespace"].as_str().unwrap_or_default().to_string(),
                labels: s["labels"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect(),
            })
            .collect(),
        subnets: strings(&obj.data["spec"]["subnets"]),
    }
}

/// The object of a profile.
pub fn profile_object(profile: &FargateProfile) -> Value {
    let selectors: Vec<Value> = profile
        .selectors
        .iter()
        .map(|s| {
            let mut v = json!({"namespace": s.namespace});
            if !s.labels.is_empty() {
                v["labels"] = json!(s.labels);
            }
            v
        })
        .collect();
    json!({
        "apiVersion": crate::resources::EKS_API_VERSION, "kind": "FargateProfile",
        "metadata": {"name": profile.name},
        "spec": {"selectors": selectors, "subnets": profile.subnets},
    })
}

/// The Fargate pod mutation, as an admission plugin.
#[derive(Debug, Clone)]
pub struct FargateAdmission {
    profiles: Profiles,
}

impl FargateAdmission {
    /// The plugin over `profiles`.
    pub fn new(profiles: Profiles) -> FargateAdmission {
        FargateAdmission { profiles }
    }
}

impl AdmissionPlugin for FargateAdmission {
    fn name(&self) -> &str {
        WEBHOOK_NAME
    }

    fn admit_create<'a>(
        &'a self,
        request: CreateRequest<'a>,
        obj: &'a mut Value,
    ) -> AdmissionFuture<'a> {
        Box::pin(async move {
            if (request.group, request.resource) != ("", "pods") {
                return Ok(());
            }
            let profiles = self.profiles.get();
            if profiles.is_empty() {
                return Ok(());
            }
            let Ok(pod) = serde_json::from_value::<Pod>(obj.clone()) else {
                return Ok(());
            };
            let Some(profile) = fargate::matching_profile(&profiles, &pod) else {
                return Ok(());
            };
            obj["spec"]["schedulerName"] = json!(fargate::SCHEDULER_NAME);
            obj["spec"]["priorityClassName"] = json!(fargate::PRIORITY_CLASS_NAME);
            obj["spec"]["priority"] = json!(fargate::PRIORITY);
            if !obj["metadata"]["labels"].is_object() {
                obj["metadata"]["labels"] = json!({});
            }
            obj["metadata"]["labels"][fargate::PROFILE_LABEL] = json!(profile.name);
            Ok(())
        })
    }
}

/// Runs the `fargate-scheduler` until `shutdown`, matching pods against `profiles` (kept
/// current by the caller, as every API server's admission needs them too).
///
/// It works from two watches, as kube-scheduler works from informers: the pods whose
/// `schedulerName` is `fargate-scheduler` and the Fargate nodes. A pass runs when either
/// changes, and every 250 ms for retries, so its cost follows the Fargate pods and nodes, not
/// every pod in the cluster.
pub async fn run(
    client: Client,
    machines: Arc<dyn FargateMachines>,
    profiles: Profiles,
    clock: Clock,
    shutdown: CancellationToken,
) {
    let recorder = events::Recorder::new(client.clone(), fargate::SCHEDULER_NAME, None);
    let (pods, pod_writer) = reflector::store();
    let pod_changes = reflector(
        pod_writer,
        watcher::watcher(
            Api::<Pod>::all(client.clone()),
            watcher::Config::default()
                .fields(&format!("spec.schedulerName={}", fargate::SCHEDULER_NAME)),
        )
        .default_backoff(),
    );
    let (nodes, node_writer) = reflector::store();
    let node_changes = reflector(
        node_writer,
        watcher::watcher(
            Api::<Node>::all(client.clone()),
            watcher::Config::default().labels(&format!(
                "{}={}",
                fargate::COMPUTE_TYPE_LABEL,
                fargate::COMPUTE_TYPE_FARGATE
            )),
        )
        .default_backoff(),
    );
    let mut changes = std::pin::pin!(futures::stream::select(
        pod_changes.map(|e| e.is_ok()),
        node_changes.map(|e| e.is_ok()),
    ));
    // Pods already refused (uid), so the warning is written once.
    let mut refused: BTreeSet<String> = BTreeSet::new();
    // Nodes started and not yet bound, with when (so they are not reaped meanwhile).
    let mut starting: BTreeMap<String, std::time::Instant> = BTreeMap::new();
    // The micro-VM started for each pod (uid → node), reused when binding is retried.
    let mut launched: BTreeMap<String, String> = BTreeMap::new();
    // Pods whose micro-VM could not start, and when to try again.
    let mut retry_at: BTreeMap<String, std::time::Instant> = BTreeMap::new();
    // Pods this scheduler bound that the watch may not show bound yet (uid → node).
    let mut bound: BTreeMap<String, String> = BTreeMap::new();
    let mut ready = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            change = changes.next() => {
                if change.is_none() {
                    return;
                }
                // Take every change already waiting before one pass over them all.
                while let Some(Some(_)) = changes.next().now_or_never() {}
            }
            _ = tokio::time::sleep(Duration::from_millis(250)), if ready => {}
        }
        if !ready {
            // Both caches must hold the whole picture before the first decision.
            if pods.wait_until_ready().now_or_never().is_none()
                || nodes.wait_until_ready().now_or_never().is_none()
            {
                continue;
            }
            ready = true;
        }
        let pods_now = pods.state();
        bound.retain(|uid, _| {
            pods_now
                .iter()
                .any(|p| p.metadata.uid.as_deref() == Some(uid.as_str()) && node_of(p).is_none())
        });
        let mut tracking = Tracking {
            refused: &mut refused,
            starting: &mut starting,
            launched: &mut launched,
            retry_at: &mut retry_at,
            bound: &mut bound,
            clock,
        };
        if let Err(error) = pass(
            &client,
            machines.as_ref(),
            &profiles,
            &recorder,
            &pods_now,
            &mut tracking,
        )
        .await
        {
            tracing::warn!(%error, "fargate-scheduler pass failed");
        }
        let nodes_now = nodes.state();
        if let Err(error) = reap(
            &client,
            machines.as_ref(),
            &nodes_now,
            &pods_now,
            &mut starting,
            clock,
        )
        .await
        {
            tracing::debug!(%error, "stopping idle Fargate nodes failed");
        }
    }
}

/// The node a pod is bound to; an empty `nodeName` is unbound, as for the API server's
/// `spec.nodeName=` selector and the default scheduler.
fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

fn pod_ref(pod: &Pod) -> ObjectReference {
    let mut r = pod.object_ref(&());
    r.field_path = None;
    r
}

/// What the scheduler remembers between passes.
struct Tracking<'a> {
    refused: &'a mut BTreeSet<String>,
    starting: &'a mut BTreeMap<String, std::time::Instant>,
    launched: &'a mut BTreeMap<String, String>,
    retry_at: &'a mut BTreeMap<String, std::time::Instant>,
    bound: &'a mut BTreeMap<String, String>,
    clock: Clock,
}

async fn pass(
    client: &Client,
    machines: &dyn FargateMachines,
    profiles: &Profiles,
    recorder: &events::Recorder,
    pods: &[Arc<Pod>],
    t: &mut Tracking<'_>,
) -> Result<(), kube::Error> {
    let profiles = profiles.get();
    for pod in pods {
        let spec = pod.spec.as_ref();
        if spec.and_then(|s| s.scheduler_name.as_deref()) != Some(fargate::SCHEDULER_NAME)
            || node_of(pod).is_some()
            || pod.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let uid = pod.uid().unwrap_or_default();
        if t.bound.contains_key(&uid) {
            continue;
        }
        let gated =
            spec.is_some_and(|s| s.scheduling_gates.as_ref().is_some_and(|g| !g.is_empty()));
        if gated
            || t.refused.contains(&uid)
            || t.retry_at
                .get(&uid)
                .is_some_and(|at| std::time::Instant::now() < *at)
        {
            continue;
        }
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let reference = pod_ref(pod);
        let refuse = |reason: String, message: String| (reason, message);
        let known = claims_of(client, pod).await;
        let (claims, volumes) = known.clone().unwrap_or_default();
        let outcome = fargate::check_pod_with_claims(pod, |name| {
            match claims
                .iter()
                .find(|c| c.metadata.name.as_deref() == Some(name))
            {
                None if known.is_some() => fargate::ClaimState::Missing,
                None => fargate::ClaimState::Unknown,
                Some(claim) => fargate::ClaimState::Found {
                    claim,
                    volume: claim
                        .spec
                        .as_ref()
                        .and_then(|s| s.volume_name.as_deref())
                        .and_then(|v| {
                            volumes
                                .iter()
                                .find(|pv| pv.metadata.name.as_deref() == Some(v))
                        }),
                },
            }
        })
        .map_err(|u| {
            let event = fargate::unsupported_event(&u);
            (refuse(u.reason().to_string(), u.to_string()), event)
        })
        .and_then(|()| {
            fargate::size_pod(pod).map_err(|e| {
                let event = fargate::sizing_failed_event(&e);
                (
                    refuse(
                        e.reason().unwrap_or("Unschedulable").to_string(),
                        e.to_string(),
                    ),
                    event,
                )
            })
        });
        let size = match outcome {
            Ok(size) => size,
            Err(((reason, message), event)) => {
                t.refused.insert(uid);
                recorder
                    .publish(
                        &reference,
                        event_type(event.event_type),
                        event.reason,
                        "Scheduling",
                        event.message,
                    )
                    .await;
                set_unscheduled(&api, &name, &reason, &message).await;
                continue;
            }
        };
        let profile_name = pod
            .labels()
            .get(fargate::PROFILE_LABEL)
            .cloned()
            .unwrap_or_default();
        let subnets = profiles
            .iter()
            .find(|p| p.name == profile_name)
            .map(|p| p.subnets.clone())
            .unwrap_or_default();
        let request = FargateLaunch {
            namespace: ns.clone(),
            pod: name.clone(),
            profile: profile_name,
            subnets,
            size,
        };
        let node = match t.launched.get(&uid).cloned() {
            Some(node) => Ok(node),
            None => machines.launch(&request).await,
        };
        let node = match node {
            Ok(node) => node,
            Err(e) => {
                // Fargate keeps trying (capacity and addresses come back): again in 30 s.
                t.retry_at.insert(
                    uid.clone(),
                    std::time::Instant::now() + t.clock.real(Duration::from_secs(30)),
                );
                let message = format!("Fargate could not start a node for the pod: {e}");
                recorder
                    .publish(
                        &reference,
                        events::EventType::Warning,
                        "FailedScheduling",
                        "Scheduling",
                        message.clone(),
                    )
                    .await;
                set_unscheduled(&api, &name, "FARGATE_LAUNCH_FAILED", &message).await;
                continue;
            }
        };
        t.starting.insert(node.clone(), std::time::Instant::now());
        t.launched.insert(uid.clone(), node.clone());
        let logging = logging_state(client).await;
        let annotations = fargate::fargate_pod_annotations(&size, logging);
        let patch = json!({"metadata": {"annotations": annotations}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        let binding = json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": ns},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        if let Err(error) = api
            .create_subresource::<_, Value>("binding", &name, &PostParams::default(), &binding)
            .await
        {
            tracing::warn!(pod = %name, %error, "binding the Fargate pod failed");
            continue;
        }
        t.starting.remove(&node);
        t.bound.insert(uid.clone(), node.clone());
        t.launched.remove(&uid);
        t.retry_at.remove(&uid);
        for event in fargate::provisioning_events(&ns, &name, &node, logging) {
            recorder
                .publish(
                    &reference,
                    event_type(event.event_type),
                    event.reason,
                    "Binding",
                    event.message,
                )
                .await;
        }
    }
    Ok(())
}

fn event_type(t: &str) -> events::EventType {
    if t == "Warning" {
        events::EventType::Warning
    } else {
        events::EventType::Normal
    }
}

/// The claims of the pod's namespace and the volumes they are bound to; `None` when they
/// could not be read (the claims then count as unknown, as [`fargate::check_pod`] treats
/// them). Read only for pods that mount claims.
async fn claims_of(
    client: &Client,
    pod: &Pod,
) -> Option<(Vec<PersistentVolumeClaim>, Vec<PersistentVolume>)> {
    let mounts_claims = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .is_some_and(|v| v.iter().any(|v| v.persistent_volume_claim.is_some()));
    if !mounts_claims {
        return Some((Vec::new(), Vec::new()));
    }
    let ns = pod.namespace().unwrap_or_default();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let claims = claims.list(&ListParams::default()).await.ok()?.items;
    let volumes = volumes.list(&ListParams::default()).await.ok()?.items;
    Some((claims, volumes))
}

/// Whether Fargate logging is configured (the `aws-logging` ConfigMap).
async fn logging_state(client: &Client) -> LoggingState {
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), fargate::LOGGING_NAMESPACE);
    match maps.get_opt(fargate::LOGGING_CONFIGMAP).await {
        Ok(Some(_)) => LoggingState::Enabled,
        _ => LoggingState::ConfigMapNotFound,
    }
}

async fn set_unscheduled(api: &Api<Pod>, name: &str, reason: &str, message: &str) {
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let patch = json!({"status": {"conditions": [{
        "type": "PodScheduled", "status": "False", "reason": reason,
        "message": message, "lastTransitionTime": now, "lastProbeTime": null,
    }]}});
    if let Err(error) = api
        .patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
    {
        tracing::debug!(pod = %name, %error, "writing PodScheduled failed");
    }
}

/// Stops Fargate nodes whose pod is gone or finished. The watched pods name the candidates;
/// a candidate is checked against the API server before it is stopped, since a pod could be
/// bound to a Fargate node by name without passing through this scheduler.
async fn reap(
    client: &Client,
    machines: &dyn FargateMachines,
    fargate_nodes: &[Arc<Node>],
    fargate_pods: &[Arc<Pod>],
    starting: &mut BTreeMap<String, std::time::Instant>,
    clock: Clock,
) -> Result<(), kube::Error> {
    let pods: Api<Pod> = Api::all(client.clone());
    starting.retain(|_, at| clock.simulated(at.elapsed()) < Duration::from_secs(120));
    for node in fargate_nodes {
        let name = node.name_any();
        if starting.contains_key(&name) {
            continue;
        }
        let busy = |p: &Pod| {
            node_of(p) == Some(name.as_str())
                && !matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded") | Some("Failed")
                )
        };
        if fargate_pods.iter().any(|p| busy(p)) {
            continue;
        }
        let on_node = pods
            .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
            .await?;
        if !on_node.items.iter().any(busy)
            && let Err(e) = machines.terminate(&name).await
        {
            tracing::warn!(node = %name, error = %e, "stopping the Fargate node failed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_node_name_is_unbound() {
        let pod = |spec: Value| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).expect("pod")
        };
        let containers = json!([{"name": "c", "image": "nginx"}]);
        assert_eq!(node_of(&pod(json!({"containers": containers}))), None);
        assert_eq!(
            node_of(&pod(json!({"containers": containers, "nodeName": ""}))),
            None
        );
        assert_eq!(
            node_of(&pod(
                json!({"containers": containers, "nodeName": "fargate-ip-1"})
            )),
            Some("fargate-ip-1")
        );
    }
}
