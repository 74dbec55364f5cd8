//! The simulated kubelet: one [`NodeAgent`] runs the kubelets of many nodes in one process.
//! Each node registers its Node, keeps its Lease fresh and posts its status; the pods bound to
//! it go through admission, sandbox and network, image pulls, init containers, containers,
//! probes, restarts with back-off and termination, with the events, statuses and logs a real
//! kubelet (v1.33) produces. What a container *does* comes from [`behaviour`].
//!
//! One shared pod watch (all pods with a `spec.nodeName`) and one Node watch feed every
//! kubelet, routed by node name; a pod's worker sleeps on timers between its steps.
//!
//! A node whose Node carries the annotation [`STOPPED_ANNOTATION`]` = stopped` behaves as a
//! dead kubelet until the annotation goes: no Lease renewals, no node or pod status, no
//! events, no logs served, and none of the kubelet's own work (starting, restarting, probing,
//! pulling, stopping, deleting). The containers run on meanwhile, as real ones do when their
//! kubelet dies: their processes log, exit and get OOM-killed on the clock. When it comes
//! back, the kubelet does the work that waited and posts every pod's status again.
//!
//! Not simulated (said plainly): probe timeouts (a simulated answer is instant), ConfigMap
//! and Secret volume updates after the mount, `emptyDir` shared between containers, image
//! pull secrets, ephemeral containers, in-place resize. After a restart of skiff, containers
//! a kubelet finds running in its pods' statuses are taken over (same ids, counts and start
//! times, no new events; the simulated process starts from its beginning) and
//! [`HostLocalNetwork`] keeps the addresses those pods hold.

#![warn(missing_docs)]

mod admission;
mod backoff;
pub mod behaviour;
mod logs;
mod network;
mod node;
mod pod;
mod status;
mod util;
mod volumes;

use informer::{Change, SharedInformer};
use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use api::kubelet::{KubeletConnection, LogError, LogRequest, LogStream};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, NodeAddress, Pod, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::warn;

pub use network::HostLocalNetwork;
pub use node::STOPPED_ANNOTATION;

use node::{Kubelet, KubeletHandle, Msg};

/// A node to simulate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeSpec {
    /// The Node's name (also `kubernetes.io/hostname`).
    pub name: String,
    /// Labels besides the ones the kubelet sets (`kubernetes.io/hostname`, `/os`, `/arch`).
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Taints registered with the node.
    pub taints: Vec<Taint>,
    /// `status.capacity`.
    pub capacity: BTreeMap<String, Quantity>,
    /// `status.allocatable` (admission checks pods against it).
    pub allocatable: BTreeMap<String, Quantity>,
    /// `spec.providerID`.
    pub provider_id: Option<String>,
    /// `status.addresses` (the first `InternalIP` is the pods' `hostIP`).
    pub addresses: Vec<NodeAddress>,
    /// `spec.podCIDR`, where [`HostLocalNetwork`] takes pod addresses from.
    pub pod_cidr: Option<String>,
    /// `amd64` or `arm64`.
    pub architecture: String,
    /// `nodeInfo.osImage`.
    pub os_image: String,
    /// `nodeInfo.kernelVersion`.
    pub kernel_version: String,
    /// `nodeInfo.kubeletVersion`, e.g. `v1.33.0-eks-abcdef`.
    pub kubelet_version: String,
    /// `nodeInfo.containerRuntimeVersion`, e.g. `containerd://1.7.27`.
    pub container_runtime_version: String,
}

/// What the agent needs besides the API.
#[derive(Clone)]
pub struct Config {
    /// The simulation clock.
    pub clock: api::clock::Clock,
    /// The images and what their processes do.
    pub catalog: behaviour::Catalog,
    /// The pod network.
    pub network: Arc<dyn api::cni::PodNetwork>,
    /// Seed for ids (container ids, boot ids), so runs replay.
    pub seed: u64,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("clock", &self.clock)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// What went wrong in the node agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed.
    #[error("{verb} {target} failed")]
    Request {
        /// The verb.
        verb: &'static str,
        /// What was addressed.
        target: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// An object could not be built.
    #[error("building an object failed")]
    Encode(#[source] serde_json::Error),
    /// The node already has a kubelet in this agent.
    #[error("node {0} already runs a kubelet")]
    AlreadyRunning(String),
    /// No kubelet of that node runs in this agent.
    #[error("node {0} has no kubelet here")]
    UnknownNode(String),
}

impl Error {
    fn request(verb: &'static str, target: String, source: kube::Error) -> Self {
        Error::Request {
            verb,
            target,
            source,
        }
    }
}

/// An error and its causes, joined by `: `.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// The kubelets of many simulated nodes.
#[derive(Clone)]
pub struct NodeAgent {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NodeAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeAgent").finish_non_exhaustive()
    }
}

struct Inner {
    client: Client,
    config: Config,
    shutdown: CancellationToken,
    routing: Mutex<Routing>,
}

#[derive(Default)]
struct Routing {
    kubelets: HashMap<String, Arc<KubeletHandle>>,
    /// Pods with a node, by node then uid.
    pods: HashMap<String, HashMap<String, Arc<Pod>>>,
    /// Where each pod uid is routed.
    pod_node: HashMap<String, String>,
    /// The latest Node objects.
    nodes: HashMap<String, Arc<Node>>,
}

impl Inner {
    fn routing(&self) -> std::sync::MutexGuard<'_, Routing> {
        self.routing.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Routing {
    fn send(&self, node: &str, msg: Msg) {
        if let Some(k) = self.kubelets.get(node) {
            let _ = k.tx.send(msg);
        }
    }

    fn apply_pod(&mut self, pod: Arc<Pod>) {
        let Some(uid) = pod.uid() else { return };
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        if node.is_empty() {
            return;
        }
        self.pod_node.insert(uid.clone(), node.clone());
        self.pods
            .entry(node.clone())
            .or_default()
            .insert(uid, pod.clone());
        self.send(&node, Msg::Pod(pod));
    }

    fn delete_pod(&mut self, uid: &str) {
        if let Some(node) = self.pod_node.remove(uid) {
            if let Some(m) = self.pods.get_mut(&node) {
                m.remove(uid);
                if m.is_empty() {
                    self.pods.remove(&node);
                }
            }
            self.send(&node, Msg::PodGone(uid.to_string()));
        }
    }

    fn apply_node(&mut self, node: Node) {
        let name = node.name_any();
        let node = Arc::new(node);
        self.nodes.insert(name.clone(), node.clone());
        self.send(&name, Msg::Node(Some(node)));
    }

    fn delete_node(&mut self, name: &str) {
        self.nodes.remove(name);
        self.send(name, Msg::Node(None));
    }
}

impl NodeAgent {
    /// Starts the shared pod and node watches; nodes are added with [`NodeAgent::add_node`].
    pub fn start(client: Client, config: Config, shutdown: CancellationToken) -> NodeAgent {
        let pods = SharedInformer::start(Api::all(client.clone()), shutdown.clone());
        NodeAgent::start_with(client, config, pods, shutdown)
    }

    /// [`NodeAgent::start`], reading pods from a shared watch (one cache of every pod for
    /// all of a process's components).
    pub fn start_with(
        client: Client,
        config: Config,
        pods: SharedInformer<Pod>,
        shutdown: CancellationToken,
    ) -> NodeAgent {
        let inner = Arc::new(Inner {
            client: client.clone(),
            config,
            shutdown: shutdown.clone(),
            routing: Mutex::new(Routing::default()),
        });
        tokio::spawn(watch_pods(inner.clone(), pods));
        tokio::spawn(watch_nodes(inner.clone()));
        NodeAgent { inner }
    }

    /// Registers the node (creates its Node, posts its status and Lease) and starts its
    /// kubelet.
    pub async fn add_node(&self, spec: NodeSpec) -> Result<(), Error> {
        let name = spec.name.clone();
        if self.inner.routing().kubelets.contains_key(&name) {
            return Err(Error::AlreadyRunning(name));
        }
        let (kubelet, handle) = Kubelet::register(
            self.inner.client.clone(),
            spec,
            &self.inner.config,
            &self.inner.shutdown,
        )
        .await?;
        let handle = Arc::new(handle);
        {
            let mut routing = self.inner.routing();
            if routing.kubelets.contains_key(&name) {
                handle.cancel.cancel();
                return Err(Error::AlreadyRunning(name));
            }
            routing.kubelets.insert(name.clone(), handle.clone());
            if let Some(n) = routing.nodes.get(&name) {
                let _ = handle.tx.send(Msg::Node(Some(n.clone())));
            }
            for pod in routing.pods.get(&name).into_iter().flat_map(|m| m.values()) {
                let _ = handle.tx.send(Msg::Pod(pod.clone()));
            }
        }
        tokio::spawn(kubelet.run());
        Ok(())
    }

    /// The nodes whose kubelets run here.
    pub fn node_names(&self) -> Vec<String> {
        self.inner.routing().kubelets.keys().cloned().collect()
    }

    /// Stops the node's kubelet; the Node object stays, as a dead instance's does.
    pub async fn remove_node(&self, name: &str) -> Result<(), Error> {
        let handle = self
            .inner
            .routing()
            .kubelets
            .remove(name)
            .ok_or_else(|| Error::UnknownNode(name.to_string()))?;
        handle.cancel.cancel();
        Ok(())
    }
}

/// Routes every pod bound to a node to that node's kubelet, from the shared pod watch.
async fn watch_pods(inner: Arc<Inner>, pods: SharedInformer<Pod>) {
    let mut changes = std::pin::pin!(pods.changes());
    loop {
        let change = tokio::select! {
            _ = inner.shutdown.cancelled() => return,
            change = changes.next() => change,
        };
        let Some(change) = change else { return };
        match change {
            Change::Applied(p) => inner.routing().apply_pod(p),
            Change::Deleted(p) => {
                if let Some(uid) = p.uid() {
                    inner.routing().delete_pod(&uid);
                }
            }
            Change::Listed(all) => {
                let fresh: HashMap<String, Arc<Pod>> = all
                    .into_iter()
                    .filter_map(|p| Some((p.uid()?, p)))
                    .collect();
                let mut routing = inner.routing();
                let gone: Vec<String> = routing
                    .pod_node
                    .keys()
                    .filter(|uid| !fresh.contains_key(*uid))
                    .cloned()
                    .collect();
                for uid in gone {
                    routing.delete_pod(&uid);
                }
                for (_, p) in fresh {
                    routing.apply_pod(p);
                }
            }
        }
    }
}

/// The shared watch of Node objects (annotations, deletion).
async fn watch_nodes(inner: Arc<Inner>) {
    let api: Api<Node> = Api::all(inner.client.clone());
    let mut stream =
        std::pin::pin!(watcher::watcher(api, watcher::Config::default()).default_backoff());
    let mut relist: Option<HashMap<String, Node>> = None;
    loop {
        let ev = tokio::select! {
            _ = inner.shutdown.cancelled() => return,
            ev = stream.next() => ev,
        };
        let Some(ev) = ev else { return };
        match ev {
            Ok(watcher::Event::Apply(n)) => inner.routing().apply_node(n),
            Ok(watcher::Event::Delete(n)) => inner.routing().delete_node(&n.name_any()),
            Ok(watcher::Event::Init) => relist = Some(HashMap::new()),
            Ok(watcher::Event::InitApply(n)) => {
                if let Some(r) = relist.as_mut() {
                    r.insert(n.name_any(), n);
                }
            }
            Ok(watcher::Event::InitDone) => {
                let fresh = relist.take().unwrap_or_default();
                let mut routing = inner.routing();
                let gone: Vec<String> = routing
                    .nodes
                    .keys()
                    .filter(|n| !fresh.contains_key(*n))
                    .cloned()
                    .collect();
                for n in gone {
                    routing.delete_node(&n);
                }
                for (_, n) in fresh {
                    routing.apply_node(n);
                }
            }
            Err(e) => warn!("the node watch failed: {e}"),
        }
    }
}

impl KubeletConnection for NodeAgent {
    fn container_logs(
        &self,
        request: LogRequest,
    ) -> Pin<Box<dyn Future<Output = Result<LogStream, LogError>> + Send + '_>> {
        Box::pin(async move {
            let handle = self
                .inner
                .routing()
                .kubelets
                .get(&request.node)
                .cloned()
                .ok_or_else(|| {
                    LogError::Unavailable(format!(
                        "dial tcp: lookup {} on kubelet: no such host",
                        request.node
                    ))
                })?;
            if *handle.ctx.stopped.borrow() {
                return Err(LogError::Unavailable(format!(
                    "Get \"https://{}:10250/containerLogs/{}/{}/{}\": dial tcp {}:10250: connect: connection refused",
                    handle
                        .ctx
                        .host_ips
                        .first()
                        .cloned()
                        .unwrap_or_else(|| request.node.clone()),
                    request.namespace,
                    request.pod,
                    request.container,
                    handle
                        .ctx
                        .host_ips
                        .first()
                        .cloned()
                        .unwrap_or_else(|| request.node.clone()),
                )));
            }
            let logs = handle.ctx.logs().get(&request.pod_uid).cloned();
            let Some(logs) = logs else {
                return Err(LogError::BadRequest(format!(
                    "container {:?} in pod {:?} is waiting to start: ContainerCreating",
                    request.container, request.pod
                )));
            };
            logs.open(&request, handle.ctx.clock.now())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, node: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": uid, "namespace": "default", "uid": uid},
            "spec": {"nodeName": node, "containers": []}
        }))
        .unwrap()
    }

    #[test]
    fn pods_are_indexed_by_node_and_moved_or_removed_by_uid() {
        let mut r = Routing::default();
        r.apply_pod(Arc::new(pod("a", "n1")));
        r.apply_pod(Arc::new(pod("b", "n1")));
        r.apply_pod(Arc::new(pod("c", "n2")));
        r.apply_pod(Arc::new(pod("d", "")));
        let count = |r: &Routing, n: &str| r.pods.get(n).map_or(0, HashMap::len);
        assert_eq!(
            (count(&r, "n1"), count(&r, "n2"), r.pod_node.len()),
            (2, 1, 3)
        );
        r.delete_pod("a");
        r.delete_pod("unknown");
        assert_eq!((count(&r, "n1"), r.pod_node.len()), (1, 2));
        r.delete_pod("c");
        assert!(!r.pods.contains_key("n2"), "empty node entries go");
    }
}
