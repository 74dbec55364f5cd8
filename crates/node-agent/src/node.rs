//! One node's kubelet: registration (`kubelet_node_status.go`), the Lease heartbeat
//! (`nodelease`), the periodic node status, the simulated-death annotation, and the pod
//! workers of the pods bound to the node.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use events::{EventType, Recorder};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Node, NodeCondition, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::admission::Requests;
use crate::behaviour::{Catalog, ImageInfo};
use crate::logs::PodLogs;
use crate::pod::PodWorker;
use crate::util::Rng;
use crate::{Error, NodeSpec};

/// The annotation that stops a node's kubelet while it reads `stopped`.
pub const STOPPED_ANNOTATION: &str = "node.skiff.dev/kubelet";
/// The lease namespace.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// `leaseDurationSeconds` of node leases.
pub const LEASE_DURATION_SECONDS: i32 = 40;
/// Lease renewal interval (a quarter of the duration, as upstream).
pub const LEASE_RENEW: Duration = Duration::from_secs(10);
/// `nodeStatusReportFrequency`.
pub const STATUS_REPORT: Duration = Duration::from_secs(300);

/// What the router tells a node's kubelet.
#[derive(Debug)]
pub enum Msg {
    /// A pod bound to the node was added or changed.
    Pod(Arc<Pod>),
    /// A pod (by uid) is gone from the API.
    PodGone(String),
    /// The Node object changed, or was deleted (`None`).
    Node(Option<Arc<Node>>),
}

/// What the pod workers of a node share.
pub struct NodeCtx {
    /// Node name.
    pub name: String,
    /// API client.
    pub client: Client,
    /// Clock.
    pub clock: api::clock::Clock,
    /// Image catalog.
    pub catalog: Catalog,
    /// Pod network.
    pub network: Arc<dyn api::cni::PodNetwork>,
    /// Event recorder (controller `kubelet`, instance the node).
    pub recorder: Recorder,
    /// The node's internal IP (the pods' `hostIP`).
    pub host_ips: Vec<String>,
    /// Images present on the node, by normalised reference.
    pub images: Mutex<BTreeMap<String, ImageInfo>>,
    /// Bumped when an image is pulled (the node status reports images).
    pub images_changed: tokio::sync::Notify,
    /// `true` while the kubelet is "dead".
    pub stopped: watch::Receiver<bool>,
    /// Requests of admitted, not finished pods by uid.
    pub admitted: Mutex<HashMap<String, Requests>>,
    /// Allocatable in thousandths.
    pub allocatable: BTreeMap<String, i128>,
    /// The seed for ids.
    pub seed: u64,
    /// Logs of the node's pods by uid.
    pub logs: Mutex<HashMap<String, Arc<PodLogs>>>,
    /// Cancelled when the kubelet stops.
    pub cancel: CancellationToken,
    /// The node's image puller (pulls are serialized, as by default).
    pub puller: Mutex<Puller>,
}

impl NodeCtx {
    /// Waits while the kubelet is stopped; `false` if it is shut down meanwhile.
    pub async fn alive(&self) -> bool {
        let mut rx = self.stopped.clone();
        loop {
            if !*rx.borrow_and_update() {
                return true;
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return false; },
                _ = self.cancel.cancelled() => return false,
            }
        }
    }

    /// Publishes an event about `reference`, logging a failure.
    pub async fn event(
        &self,
        reference: &ObjectReference,
        warning: bool,
        reason: &str,
        note: String,
    ) {
        let type_ = if warning {
            EventType::Warning
        } else {
            EventType::Normal
        };
        self.recorder
            .publish(reference, type_, reason, reason, note)
            .await;
    }

    /// Locks the logs map.
    pub fn logs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<PodLogs>>> {
        self.logs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The state of a node's serialized image puller.
#[derive(Debug, Default)]
pub struct Puller {
    /// When the puller is free again.
    pub free_at: Option<tokio::time::Instant>,
    /// When each image being pulled will be there.
    pub in_flight: HashMap<String, tokio::time::Instant>,
}

/// The handle the agent keeps per node.
pub struct KubeletHandle {
    /// Messages from the router.
    pub tx: mpsc::UnboundedSender<Msg>,
    /// Stops the kubelet.
    pub cancel: CancellationToken,
    /// Shared state (logs).
    pub ctx: Arc<NodeCtx>,
}

/// The kubelet of one node.
pub struct Kubelet {
    ctx: Arc<NodeCtx>,
    spec: NodeSpec,
    stopped_tx: watch::Sender<bool>,
    rx: mpsc::UnboundedReceiver<Msg>,
    node: Option<Arc<Node>>,
    workers: HashMap<String, watch::Sender<Option<Arc<Pod>>>>,
    boot_id: String,
    machine_id: String,
    system_uuid: String,
    /// `spec.unschedulable` as last seen (for the schedulable events).
    last_unschedulable: bool,
}

fn node_ref(name: &str) -> ObjectReference {
    ObjectReference {
        kind: Some("Node".into()),
        api_version: Some("v1".into()),
        name: Some(name.into()),
        uid: Some(name.into()),
        ..ObjectReference::default()
    }
}

impl Kubelet {
    /// Registers `spec`'s node and returns its kubelet, ready to [`Kubelet::run`].
    pub async fn register(
        client: Client,
        spec: NodeSpec,
        config: &crate::Config,
        parent: &CancellationToken,
    ) -> Result<(Kubelet, KubeletHandle), Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (stopped_tx, stopped_rx) = watch::channel(false);
        let cancel = parent.child_token();
        let host_ips = spec
            .addresses
            .iter()
            .filter(|a| a.type_ == "InternalIP")
            .map(|a| a.address.clone())
            .collect();
        let ctx = Arc::new(NodeCtx {
            name: spec.name.clone(),
            client: client.clone(),
            clock: config.clock,
            catalog: config.catalog.clone(),
            network: config.network.clone(),
            recorder: Recorder::new(client.clone(), "kubelet", Some(&spec.name)),
            host_ips,
            images: Mutex::new(BTreeMap::new()),
            images_changed: tokio::sync::Notify::new(),
            stopped: stopped_rx,
            admitted: Mutex::new(HashMap::new()),
            allocatable: crate::admission::allocatable_milli(&spec.allocatable),
            seed: config.seed,
            logs: Mutex::new(HashMap::new()),
            cancel: cancel.clone(),
            puller: Mutex::new(Puller::default()),
        });
        let mut rng = Rng::new(config.seed, &spec.name);
        let mut kubelet = Kubelet {
            ctx: ctx.clone(),
            spec,
            stopped_tx,
            rx,
            node: None,
            workers: HashMap::new(),
            boot_id: rng.uuid(),
            machine_id: rng.hex64()[..32].to_string(),
            system_uuid: rng.uuid(),
            last_unschedulable: false,
        };
        kubelet.create_node().await?;
        let handle = KubeletHandle { tx, cancel, ctx };
        Ok((kubelet, handle))
    }

    fn api(&self) -> Api<Node> {
        Api::all(self.ctx.client.clone())
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.spec.labels.clone();
        labels.insert("kubernetes.io/hostname".into(), self.spec.name.clone());
        labels.insert("kubernetes.io/os".into(), "linux".into());
        labels.insert("kubernetes.io/arch".into(), self.spec.architecture.clone());
        labels.insert("beta.kubernetes.io/os".into(), "linux".into());
        labels.insert(
            "beta.kubernetes.io/arch".into(),
            self.spec.architecture.clone(),
        );
        labels
    }

    /// Creates the Node (or adopts an existing one of the same name, as a restarted kubelet
    /// does), then posts its status and the start events.
    async fn create_node(&mut self) -> Result<(), Error> {
        let s = &self.spec;
        let mut annotations = s.annotations.clone();
        annotations.insert("node.alpha.kubernetes.io/ttl".into(), "0".into());
        annotations.insert(
            "volumes.kubernetes.io/controller-managed-attach-detach".into(),
            "true".into(),
        );
        let body = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": s.name, "labels": self.labels(), "annotations": annotations},
            "spec": {
                "providerID": s.provider_id,
                "podCIDR": s.pod_cidr,
                "podCIDRs": s.pod_cidr.as_ref().map(|c| vec![c.clone()]),
                "taints": if s.taints.is_empty() { None } else { Some(&s.taints) },
            },
        });
        let node: Node = serde_json::from_value(strip_nulls(body)).map_err(Error::Encode)?;
        let api = self.api();
        let created = match api.create(&PostParams::default(), &node).await {
            Ok(n) => n,
            Err(kube::Error::Api(st)) if st.is_already_exists() => {
                // Adopt it: bring labels up to date as the kubelet's reconcile does.
                let patch = json!({"metadata": {"labels": self.labels()}});
                api.patch(&s.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(|e| Error::request("patch", format!("nodes {}", s.name), e))?
            }
            Err(e) => return Err(Error::request("create", format!("nodes {}", s.name), e)),
        };
        let stopped = is_stopped(&created);
        self.set_stopped(stopped);
        self.node = Some(Arc::new(created));
        let r = node_ref(&self.spec.name);
        self.ctx
            .event(&r, false, "Starting", "Starting kubelet.".into())
            .await;
        self.ctx
            .event(
                &r,
                false,
                "NodeAllocatableEnforced",
                "Updated Node Allocatable limit across pods".into(),
            )
            .await;
        if !stopped {
            for reason in [
                "NodeHasSufficientMemory",
                "NodeHasNoDiskPressure",
                "NodeHasSufficientPID",
            ] {
                self.ctx
                    .event(
                        &r,
                        false,
                        reason,
                        format!("Node {} status is now: {reason}", self.spec.name),
                    )
                    .await;
            }
            self.post_status().await?;
            self.renew_lease().await?;
            self.record_schedulable().await;
        }
        Ok(())
    }

    /// Sets the stopped flag, waking the pod workers only when it changes.
    fn set_stopped(&self, stopped: bool) {
        self.stopped_tx.send_if_modified(|v| {
            let changed = *v != stopped;
            *v = stopped;
            changed
        });
    }

    /// `recordNodeSchedulableEvent`: `NodeNotSchedulable` / `NodeSchedulable` when the
    /// Node's `spec.unschedulable` differs from what this kubelet last saw (starting from
    /// schedulable).
    async fn record_schedulable(&mut self) {
        let unschedulable = self
            .node
            .as_ref()
            .and_then(|n| n.spec.as_ref())
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        if unschedulable == self.last_unschedulable {
            return;
        }
        self.last_unschedulable = unschedulable;
        let reason = if unschedulable {
            "NodeNotSchedulable"
        } else {
            "NodeSchedulable"
        };
        let name = self.spec.name.clone();
        self.ctx
            .event(
                &node_ref(&name),
                false,
                reason,
                format!("Node {name} status is now: {reason}"),
            )
            .await;
    }

    fn status_body(&self) -> serde_json::Value {
        let now = self.ctx.clock.now();
        let previous: Vec<NodeCondition> = self
            .node
            .as_ref()
            .and_then(|n| n.status.as_ref())
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let cond = |kind: &str, status: &str, reason: &str, message: &str| {
            let since = previous
                .iter()
                .find(|c| c.type_ == kind && c.status == status)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or(Time(now));
            json!({"type": kind, "status": status, "reason": reason, "message": message,
                   "lastHeartbeatTime": Time(now), "lastTransitionTime": since})
        };
        let images: Vec<serde_json::Value> = {
            let images = self.ctx.images.lock().unwrap_or_else(|p| p.into_inner());
            let mut list: Vec<&ImageInfo> = images.values().collect();
            list.sort_by_key(|i| std::cmp::Reverse(i.size_bytes));
            // `nodeStatusMaxImages`: the 50 largest.
            list.iter()
                .take(50)
                .map(|i| {
                    json!({"names": [crate::pod::image_id(i), i.reference], "sizeBytes": i.size_bytes})
                })
                .collect()
        };
        let s = &self.spec;
        json!({"status": {
            "capacity": s.capacity,
            "allocatable": s.allocatable,
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": s.addresses,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": self.machine_id,
                "systemUUID": self.system_uuid,
                "bootID": self.boot_id,
                "kernelVersion": s.kernel_version,
                "osImage": s.os_image,
                "containerRuntimeVersion": s.container_runtime_version,
                "kubeletVersion": s.kubelet_version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": s.architecture,
            },
            "images": images,
        }})
    }

    /// Posts the node status; emits `NodeReady` when Ready turns True.
    async fn post_status(&mut self) -> Result<(), Error> {
        let was_ready = self
            .node
            .as_ref()
            .and_then(|n| n.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        let body = self.status_body();
        let node = self
            .api()
            .patch_status(
                &self.spec.name,
                &PatchParams::default(),
                &Patch::Merge(&body),
            )
            .await
            .map_err(|e| Error::request("patch", format!("nodes/status {}", self.spec.name), e))?;
        self.node = Some(Arc::new(node));
        if !was_ready {
            let name = self.spec.name.clone();
            self.ctx
                .event(
                    &node_ref(&name),
                    false,
                    "NodeReady",
                    format!("Node {name} status is now: NodeReady"),
                )
                .await;
        }
        Ok(())
    }

    /// Creates or renews the node's Lease.
    async fn renew_lease(&self) -> Result<(), Error> {
        let api: Api<Lease> = Api::namespaced(self.ctx.client.clone(), LEASE_NAMESPACE);
        let now = MicroTime(self.ctx.clock.now());
        let name = &self.spec.name;
        let patch = json!({"spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": now}});
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(st)) if st.is_not_found() => {}
            Err(e) => {
                return Err(Error::request(
                    "patch",
                    format!("leases {LEASE_NAMESPACE}/{name}"),
                    e,
                ));
            }
        }
        let owner = self.node.as_ref().map(|n| OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: name.clone(),
            uid: n.uid().unwrap_or_default(),
            ..OwnerReference::default()
        });
        let lease = Lease {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(LEASE_NAMESPACE.into()),
                owner_references: owner.map(|o| vec![o]),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(name.clone()),
                lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
                renew_time: Some(now),
                ..LeaseSpec::default()
            }),
        };
        match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(st)) if st.is_already_exists() => Ok(()),
            Err(e) => Err(Error::request(
                "create",
                format!("leases {LEASE_NAMESPACE}/{name}"),
                e,
            )),
        }
    }

    /// Runs until the kubelet is cancelled.
    pub async fn run(mut self) {
        let clock = self.ctx.clock;
        let cancel = self.ctx.cancel.clone();
        let mut lease_at = tokio::time::Instant::now() + clock.real(LEASE_RENEW);
        let mut status_at = tokio::time::Instant::now() + clock.real(STATUS_REPORT);
        let mut reregister = false;
        loop {
            let stopped = *self.stopped_tx.borrow();
            tokio::select! {
                _ = cancel.cancelled() => break,
                msg = self.rx.recv() => match msg {
                    None => break,
                    Some(Msg::Pod(pod)) => self.pod_changed(pod),
                    Some(Msg::PodGone(uid)) => {
                        if let Some(w) = self.workers.remove(&uid) {
                            let _ = w.send(None);
                        }
                    }
                    Some(Msg::Node(node)) => {
                        let was = stopped;
                        match node {
                            None => { reregister = true; self.node = None; }
                            Some(n) => {
                                let now_stopped = is_stopped(&n);
                                let recreated = self.node.as_ref().is_some_and(|old| old.uid() != n.uid());
                                self.node = Some(n);
                                self.set_stopped(now_stopped);
                                if !now_stopped {
                                    self.record_schedulable().await;
                                }
                                if was && !now_stopped || recreated {
                                    // Resumed (or our Node was replaced): heartbeat at once.
                                    lease_at = tokio::time::Instant::now();
                                    status_at = tokio::time::Instant::now();
                                }
                            }
                        }
                    }
                },
                _ = tokio::time::sleep_until(lease_at), if !stopped || reregister => {
                    lease_at = tokio::time::Instant::now() + clock.real(LEASE_RENEW);
                    if reregister {
                        match self.create_node().await {
                            Ok(()) => reregister = false,
                            Err(e) => warn!(node = %self.spec.name, "re-registering failed: {}", crate::error_chain(&e)),
                        }
                        continue;
                    }
                    if let Err(e) = self.renew_lease().await {
                        warn!(node = %self.spec.name, "renewing the lease failed: {}", crate::error_chain(&e));
                    }
                }
                _ = tokio::time::sleep_until(status_at), if !stopped && !reregister => {
                    status_at = tokio::time::Instant::now() + clock.real(STATUS_REPORT);
                    if let Err(e) = self.post_status().await {
                        warn!(node = %self.spec.name, "posting the node status failed: {}", crate::error_chain(&e));
                    }
                }
                _ = self.ctx.images_changed.notified(), if !stopped => {
                    status_at = tokio::time::Instant::now();
                }
            }
        }
        for (_, w) in self.workers.drain() {
            drop(w);
        }
    }

    fn pod_changed(&mut self, pod: Arc<Pod>) {
        let Some(uid) = pod.uid() else { return };
        if let Some(w) = self.workers.get(&uid) {
            if w.send(Some(pod.clone())).is_ok() {
                return;
            }
            // The worker has finished: the pod is terminal; a deletion needs a new one.
            self.workers.remove(&uid);
            if pod.metadata.deletion_timestamp.is_none() {
                return;
            }
        }
        let (tx, rx) = watch::channel(Some(pod.clone()));
        self.workers.insert(uid, tx);
        let worker = PodWorker::new(self.ctx.clone(), pod, rx);
        tokio::spawn(worker.run());
    }
}

/// Whether the node carries the stopped annotation.
pub fn is_stopped(node: &Node) -> bool {
    node.annotations()
        .get(STOPPED_ANNOTATION)
        .is_some_and(|v| v == "stopped")
}

/// Removes `null` members (optional fields left out).
fn strip_nulls(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}
