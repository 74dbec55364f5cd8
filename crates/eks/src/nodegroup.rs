//! Managed node groups: the control loop EKS runs over each group's Auto Scaling group.
//!
//! A `NodeGroup` object (`eks.skiff.dev/v1alpha1`) says which instance types, subnets,
//! labels and taints its nodes have and how many there should be
//! (`spec.scalingConfig.desiredSize`). The loop launches instances until the group has that
//! many, spreading them over the group's availability zones as an Auto Scaling group does,
//! and removes surplus ones the way a managed node group scales in: the node is cordoned, its
//! pods are evicted (honouring PodDisruptionBudgets) and the instance is terminated.
//!
//! Raising `spec.launchTemplateVersion` (what `skiff nodegroup replace` does, and what a
//! launch-template change or AMI update does on EKS) replaces every node of an older version,
//! one at a time: a new node first, then the old one cordoned, drained and terminated. When
//! the group's subnets have no address left for the extra node, skiff drains and terminates
//! the old node first and launches its replacement after (EKS would instead fail the update
//! with `NodeCreationFailure`); the group's status says so.
//!
//! Launching and terminating instances is the binary's business (the simulated EC2 and the
//! simulated kubelet), handed in as [`Machines`].

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::clock::Clock;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::api::{Api, ApiResource, DynamicObject, EvictParams, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Label every node of a managed node group carries, naming the group.
pub const NODEGROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";
/// Label with the launch-template version a node was launched from.
pub const LAUNCH_TEMPLATE_VERSION_LABEL: &str = "eks.amazonaws.com/sourceLaunchTemplateVersion";
/// Field manager of the node-group controller's writes.
const MANAGER: &str = "eks-nodegroup-controller";
/// How often a group is reconciled (simulated time).
const RESYNC: Duration = Duration::from_secs(5);
/// How long a launched node may be missing from the node cache before the loop stops counting
/// it (the cache normally shows it within milliseconds).
const UNSEEN_GRACE: Duration = Duration::from_secs(60);
/// How long a new node may take to become Ready before the launch counts as failed.
const NODE_READY_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long a managed node group tries to evict a node's pods before the update fails
/// (`PodEvictionFailure`).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Why a step of the loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// An API request failed.
    #[error(transparent)]
    Api(#[from] kube::Error),
    /// skiff is stopping: nothing more is changed.
    #[error("stopping")]
    Cancelled,
    /// Pods could not be evicted in time (a disruption budget forbids it).
    #[error("PodEvictionFailure: Reached max retries while trying to evict pods from node {0}")]
    EvictionFailure(String),
}

/// What the node-group controller asks of EC2 for one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchRequest {
    /// The node group.
    pub node_group: String,
    /// The instance type (the first of the group's types that EC2 accepts).
    pub instance_type: String,
    /// The subnet the instance's primary network interface goes in (`subnet-…`).
    pub subnet_id: String,
    /// The subnet's availability zone.
    pub availability_zone: String,
    /// `ON_DEMAND` or `SPOT`.
    pub capacity_type: String,
    /// Kubernetes labels of the node (besides the ones every EKS node has).
    pub labels: BTreeMap<String, String>,
    /// Taints the node registers with.
    pub taints: Vec<Taint>,
    /// `maxPodsPerNode` of the group, when set.
    pub max_pods_per_node: Option<u32>,
    /// Root volume size in GiB.
    pub volume_gib: u64,
    /// The launch-template version the instance is launched from.
    pub launch_template_version: i64,
}

/// Why EC2 could not launch an instance, in its own words (`InsufficientFreeAddressesInSubnet`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct LaunchError {
    /// EC2's error code.
    pub code: String,
    /// EC2's message.
    pub message: String,
}

impl LaunchError {
    /// Whether the launch failed because a subnet ran out of addresses.
    pub fn is_address_shortage(&self) -> bool {
        matches!(
            self.code.as_str(),
            "InsufficientFreeAddressesInSubnet" | "InsufficientCidrBlocks"
        )
    }
}

/// A boxed future, as [`Machines`] returns.
pub type MachineFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// EC2 instances that become (and stop being) Kubernetes nodes.
pub trait Machines: Send + Sync {
    /// Launches an instance and starts its kubelet; returns the node's name.
    fn launch<'a>(
        &'a self,
        request: &'a LaunchRequest,
    ) -> MachineFuture<'a, Result<String, LaunchError>>;
    /// Terminates the instance behind `node` (its kubelet stops, its addresses return to the
    /// subnet, and the Node object is deleted).
    fn terminate<'a>(&'a self, node: &'a str) -> MachineFuture<'a, Result<(), LaunchError>>;
}

/// The `NodeGroup` API resource.
pub fn node_group_resource() -> ApiResource {
    crate::resources::resource("NodeGroup", "nodegroups")
}

/// The `Subnet` API resource of the simulated EC2.
fn subnet_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(
            aws::resources::EC2_GROUP,
            aws::resources::EC2_VERSION,
            "Subnet",
        ),
        "subnets",
    )
}

/// A node group's spec as the loop reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// Instance types, in order of preference.
    pub instance_types: Vec<String>,
    /// `ON_DEMAND` or `SPOT`.
    pub capacity_type: String,
    /// Minimum size.
    pub min: i64,
    /// Maximum size.
    pub max: i64,
    /// Desired size.
    pub desired: i64,
    /// Subnet ids.
    pub subnets: Vec<String>,
    /// Node labels.
    pub labels: BTreeMap<String, String>,
    /// Node taints.
    pub taints: Vec<Taint>,
    /// `maxPodsPerNode`.
    pub max_pods_per_node: Option<u32>,
    /// Root volume (GiB).
    pub volume_gib: u64,
    /// Launch-template version.
    pub launch_template_version: i64,
}

impl GroupSpec {
    /// Reads the spec of a `NodeGroup` object.
    pub fn from_object(obj: &Value) -> GroupSpec {
        let spec = &obj["spec"];
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        let scaling = &spec["scalingConfig"];
        let desired = scaling["desiredSize"].as_i64().unwrap_or(2);
        GroupSpec {
            instance_types: strings(&spec["instanceTypes"]),
            capacity_type: spec["capacityType"]
                .as_str()
                .unwrap_or("ON_DEMAND")
                .to_string(),
            min: scaling["minSize"].as_i64().unwrap_or(desired),
            max: scaling["maxSize"].as_i64().unwrap_or(desired),
            desired,
            subnets: strings(&spec["subnets"]),
            labels: spec["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
            taints: serde_json::from_value(spec["taints"].clone()).unwrap_or_default(),
            max_pods_per_node: spec["maxPodsPerNode"]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok()),
            volume_gib: spec["diskSize"].as_u64().unwrap_or(80),
            launch_template_version: spec["launchTemplateVersion"].as_i64().unwrap_or(1),
        }
    }
}

/// Runs the managed node groups until `shutdown`.
pub async fn run(
    client: Client,
    machines: Arc<dyn Machines>,
    clock: Clock,
    shutdown: CancellationToken,
) {
    let groups: Api<DynamicObject> = Api::all_with(client.clone(), &node_group_resource());
    // One watch of the groups' nodes feeds every group's loop (listing a group's nodes on
    // every pass cost each of a 5,000-node cluster's groups a decode of every node).
    let (nodes, writer) = reflector::store::<Node>();
    let feed = watcher(
        Api::<Node>::all(client.clone()),
        watcher::Config::default().labels(NODEGROUP_LABEL),
    )
    .default_backoff()
    .modify(|node| {
        // What the loop reads is the labels, the creation time and the Ready condition.
        node.managed_fields_mut().clear();
        if let Some(status) = node.status.as_mut() {
            status.images = None;
        }
    })
    .reflect(writer)
    .for_each(|_| async {});
    let feed = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            tokio::select! {
                _ = feed => {}
                _ = shutdown.cancelled() => {}
            }
        }
    });
    tokio::select! {
        ready = nodes.wait_until_ready() => {
            if let Err(error) = ready {
                tracing::warn!(%error, "the node group controller's node watch ended");
                return;
            }
        }
        _ = shutdown.cancelled() => return,
    }
    let mut running: BTreeMap<String, tokio::task::JoinHandle<()>> = BTreeMap::new();
    loop {
        match groups.list(&ListParams::default()).await {
            Ok(list) => {
                for group in list {
                    let name = group.name_any();
                    let alive = running.get(&name).is_some_and(|t| !t.is_finished());
                    if !alive {
                        let task = GroupLoop {
                            client: client.clone(),
                            machines: machines.clone(),
                            clock,
                            name: name.clone(),
                            shutdown: shutdown.clone(),
                            nodes: nodes.clone(),
                            unseen: Mutex::default(),
                            gone: Mutex::default(),
                        };
                        running.insert(name, tokio::spawn(task.run()));
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "listing node groups failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(clock.real(RESYNC)) => {}
        }
    }
    for (_, task) in running {
        let _ = task.await;
    }
    let _ = feed.await;
}

/// The loop of one node group.
struct GroupLoop {
    client: Client,
    machines: Arc<dyn Machines>,
    clock: Clock,
    name: String,
    shutdown: CancellationToken,
    /// The cache of every node group's nodes.
    nodes: Store<Node>,
    /// Nodes this loop launched that the cache does not show yet, with when they launched.
    unseen: Mutex<BTreeMap<String, (Member, Instant)>>,
    /// Uids of nodes this loop terminated that the cache still shows.
    gone: Mutex<BTreeSet<String>>,
}

/// A node of the group as the loop sees it.
#[derive(Debug, Clone)]
struct Member {
    name: String,
    /// The Node object's uid (empty for a node launched and not in the cache yet).
    uid: String,
    zone: String,
    version: i64,
    ready: bool,
    created: String,
}

fn member(node: &Node) -> Member {
    let labels = node.labels();
    Member {
        name: node.name_any(),
        uid: node.uid().unwrap_or_default(),
        zone: labels
            .get("topology.kubernetes.io/zone")
            .cloned()
            .unwrap_or_default(),
        version: labels
            .get(LAUNCH_TEMPLATE_VERSION_LABEL)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
        ready: node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        created: node
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
    }
}

impl GroupLoop {
    async fn run(self) {
        loop {
            match self.reconcile().await {
                Ok(true) => {}
                Ok(false) | Err(StepError::Cancelled) => return,
                Err(error @ StepError::EvictionFailure(_)) => {
                    let members = self.members();
                    self.set_status("DEGRADED", &members, 0, &error.to_string())
                        .await;
                }
                Err(error) => {
                    tracing::warn!(group = %self.name, %error, "node group reconcile failed")
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.clock.real(RESYNC)) => {}
            }
        }
    }

    fn groups(&self) -> Api<DynamicObject> {
        Api::all_with(self.client.clone(), &node_group_resource())
    }

    /// One pass; `false` once the group is gone.
    async fn reconcile(&self) -> Result<bool, StepError> {
        let Some(group) = self.groups().get_opt(&self.name).await? else {
            // A deleted node group's nodes are drained and terminated, as DeleteNodegroup does.
            for member in self.members() {
                self.retire(&member).await?;
            }
            return Ok(false);
        };
        let spec = GroupSpec::from_object(&group.data);
        let zones = self.subnet_zones(&spec).await?;
        let members = self.members();
        let outdated: Vec<&Member> = members
            .iter()
            .filter(|m| m.version < spec.launch_template_version)
            .collect();
        if let Some(old) = outdated.first() {
            let total = outdated.len();
            self.set_status(
                "UPDATING",
                &members,
                spec.launch_template_version,
                &format!(
                    "replacing {total} node(s) with launch template version {}",
                    spec.launch_template_version
                ),
            )
            .await;
            self.replace(&spec, &zones, old, &members).await?;
            return Ok(true);
        }
        let desired = usize::try_from(spec.desired.clamp(0, spec.max.max(0))).unwrap_or(0);
        let mut message = String::new();
        if members.len() < desired {
            // Zones are balanced over the members listed above plus the ones this pass
            // launches (listing the group's nodes before every launch made a scale-out of
            // thousands of nodes quadratic).
            let mut current = members.clone();
            for _ in members.len()..desired {
                if self.shutdown.is_cancelled() {
                    return Err(StepError::Cancelled);
                }
                match self.launch(&spec, &zones, &current).await {
                    Ok(launched) => current.push(launched),
                    Err(e) => {
                        message = e.to_string();
                        break;
                    }
                }
            }
        } else if members.len() > desired {
            let victim = scale_in_victim(&members);
            if let Some(victim) = victim {
                self.retire(&victim).await?;
            }
        }
        let members = self.members();
        let status = if message.is_empty() {
            "ACTIVE"
        } else {
            "DEGRADED"
        };
        self.set_status(status, &members, spec.launch_template_version, &message)
            .await;
        Ok(true)
    }

    /// The group's subnets with their availability zones, in the order given.
    async fn subnet_zones(&self, spec: &GroupSpec) -> Result<Vec<(String, String)>, kube::Error> {
        let subnets: Api<DynamicObject> = Api::all_with(self.client.clone(), &subnet_resource());
        let mut out = Vec::new();
        for id in &spec.subnets {
            if let Some(s) = subnets.get_opt(id).await? {
                let az = s.data["spec"]["availabilityZone"]
                    .as_str()
                    .unwrap_or_default();
                out.push((id.clone(), az.to_string()));
            }
        }
        Ok(out)
    }

    /// The group's nodes: the cache's, plus nodes launched and not in it yet, less nodes
    /// terminated and still in it.
    fn members(&self) -> Vec<Member> {
        let cached: Vec<Member> = self
            .nodes
            .state()
            .iter()
            .filter(|n| n.labels().get(NODEGROUP_LABEL) == Some(&self.name))
            .map(|n| member(n))
            .collect();
        match (self.unseen.lock(), self.gone.lock()) {
            (Ok(mut unseen), Ok(mut gone)) => merge_members(cached, &mut unseen, &mut gone),
            _ => cached,
        }
    }

    /// Launches one instance in the zone with the fewest of the group's nodes (an Auto
    /// Scaling group's AZ rebalancing), trying the group's instance types in order; returns
    /// the new (not yet Ready) member.
    async fn launch(
        &self,
        spec: &GroupSpec,
        zones: &[(String, String)],
        members: &[Member],
    ) -> Result<Member, LaunchError> {
        if zones.is_empty() {
            return Err(LaunchError {
                code: "Ec2SubnetInvalidConfiguration".into(),
                message: format!("node group {} has no usable subnets", self.name),
            });
        }
        let mut order: Vec<&(String, String)> = zones.iter().collect();
        order.sort_by_key(|(_, az)| members.iter().filter(|m| &m.zone == az).count());
        let mut last = None;
        for (subnet, az) in order {
            for instance_type in &spec.instance_types {
                let request = LaunchRequest {
                    node_group: self.name.clone(),
                    instance_type: instance_type.clone(),
                    subnet_id: subnet.clone(),
                    availability_zone: az.clone(),
                    capacity_type: spec.capacity_type.clone(),
                    labels: spec.labels.clone(),
                    taints: spec.taints.clone(),
                    max_pods_per_node: spec.max_pods_per_node,
                    volume_gib: spec.volume_gib,
                    launch_template_version: spec.launch_template_version,
                };
                match self.machines.launch(&request).await {
                    Ok(node) => {
                        // Created now, to the second as the API server stamps it.
                        let now = jiff::Timestamp::now();
                        let created = jiff::Timestamp::from_second(now.as_second())
                            .map(|t| t.to_string())
                            .unwrap_or_default();
                        let launched = Member {
                            name: node,
                            uid: String::new(),
                            zone: az.clone(),
                            version: spec.launch_template_version,
                            ready: false,
                            created,
                        };
                        if let Ok(mut unseen) = self.unseen.lock() {
                            unseen
                                .insert(launched.name.clone(), (launched.clone(), Instant::now()));
                        }
                        return Ok(launched);
                    }
                    Err(e) => {
                        tracing::info!(group = %self.name, %subnet, error = %e, "launch failed");
                        last = Some(e);
                    }
                }
            }
        }
        Err(last.unwrap_or(LaunchError {
            code: "InvalidParameterValue".into(),
            message: "the node group has no instance types".into(),
        }))
    }

    /// Replaces `old`: a new node first (or, when the subnets have no address for it,
    /// after `old` is gone), then `old` cordoned, drained and terminated.
    async fn replace(
        &self,
        spec: &GroupSpec,
        zones: &[(String, String)],
        old: &Member,
        members: &[Member],
    ) -> Result<(), StepError> {
        // A surge node launched by an earlier pass that did not finish is reused.
        let leftover = members.len() > usize::try_from(spec.desired.max(0)).unwrap_or(0)
            && members
                .iter()
                .any(|m| m.version >= spec.launch_template_version && m.ready);
        let surge = if leftover {
            Ok(String::new())
        } else {
            self.launch(spec, zones, members).await.map(|m| m.name)
        };
        match &surge {
            Ok(node) if node.is_empty() => {}
            Ok(node) => {
                self.wait_ready(node).await?;
            }
            Err(e) if e.is_address_shortage() => {
                let note = format!(
                    "no address for a surge node ({e}); replacing {} in place: drain and terminate it first",
                    old.name
                );
                tracing::warn!(group = %self.name, "{note}");
                self.set_status("UPDATING", members, spec.launch_template_version, &note)
                    .await;
            }
            Err(e) => {
                self.set_status(
                    "DEGRADED",
                    members,
                    spec.launch_template_version,
                    &format!("NodeCreationFailure: {e}"),
                )
                .await;
                return Ok(());
            }
        }
        self.retire(old).await?;
        if surge.is_err() {
            let current = self.members();
            match self.launch(spec, zones, &current).await {
                Ok(node) => self.wait_ready(&node.name).await?,
                Err(e) => {
                    self.set_status(
                        "DEGRADED",
                        &current,
                        spec.launch_template_version,
                        &format!("NodeCreationFailure: {e}"),
                    )
                    .await;
                }
            }
        }
        Ok(())
    }

    async fn wait_ready(&self, node: &str) -> Result<(), StepError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let start = std::time::Instant::now();
        while self.clock.simulated(start.elapsed()) < NODE_READY_TIMEOUT {
            if let Some(n) = nodes.get_opt(node).await?
                && member(&n).ready
            {
                return Ok(());
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return Err(StepError::Cancelled),
                _ = tokio::time::sleep(self.clock.real(Duration::from_secs(1))) => {}
            }
        }
        Ok(())
    }

    /// Cordons `member`'s node, evicts its pods (honouring disruption budgets) and
    /// terminates it.
    async fn retire(&self, member: &Member) -> Result<(), StepError> {
        let node = member.name.as_str();
        let nodes: Api<Node> = Api::all(self.client.clone());
        let cordon = json!({"spec": {"unschedulable": true}});
        nodes
            .patch(node, &PatchParams::default(), &Patch::Merge(&cordon))
            .await?;
        drain(&self.client, node, self.clock, &self.shutdown).await?;
        if self.shutdown.is_cancelled() {
            return Err(StepError::Cancelled);
        }
        match self.machines.terminate(node).await {
            Ok(()) => {
                // A node's name is its address, which a later launch may reuse: the cache's
                // copy of this node is told apart by its uid.
                if let Ok(mut unseen) = self.unseen.lock() {
                    unseen.remove(node);
                }
                if !member.uid.is_empty()
                    && let Ok(mut gone) = self.gone.lock()
                {
                    gone.insert(member.uid.clone());
                }
            }
            Err(e) => {
                tracing::warn!(group = %self.name, %node, error = %e, "terminating the instance failed")
            }
        }
        Ok(())
    }

    async fn set_status(&self, status: &str, members: &[Member], version: i64, message: &str) {
        let ready = members.iter().filter(|m| m.ready).count();
        let updated = members.iter().filter(|m| m.version >= version).count();
        let patch = json!({"status": {
            "status": status,
            "nodes": members.len(),
            "readyNodes": ready,
            "updatedNodes": updated,
            "message": message,
        }});
        let params = PatchParams::apply(MANAGER).force();
        let mut body = patch;
        body["apiVersion"] = json!(crate::resources::EKS_API_VERSION);
        body["kind"] = json!("NodeGroup");
        if let Err(error) = self
            .groups()
            .patch_status(&self.name, &params, &Patch::Apply(&body))
            .await
        {
            tracing::debug!(group = %self.name, %error, "writing node group status failed");
        }
    }
}

/// The group's members: the `cached` ones, plus the `unseen` ones (launched, not cached yet,
/// for at most [`UNSEEN_GRACE`]), less the `gone` ones (uids of nodes terminated and still
/// cached; a new node may reuse a terminated one's name, never its uid). Entries the cache
/// has caught up with are dropped from both.
fn merge_members(
    mut cached: Vec<Member>,
    unseen: &mut BTreeMap<String, (Member, Instant)>,
    gone: &mut BTreeSet<String>,
) -> Vec<Member> {
    let names: BTreeSet<&str> = cached.iter().map(|m| m.name.as_str()).collect();
    let uids: BTreeSet<&str> = cached.iter().map(|m| m.uid.as_str()).collect();
    unseen.retain(|name, (_, at)| !names.contains(name.as_str()) && at.elapsed() < UNSEEN_GRACE);
    gone.retain(|uid| uids.contains(uid.as_str()));
    cached.retain(|m| !gone.contains(&m.uid));
    cached.extend(unseen.values().map(|(m, _)| m.clone()));
    cached
}

/// The node an Auto Scaling group terminates when it scales in: from the zone with the most
/// instances, the one of the oldest launch template, then the oldest.
fn scale_in_victim(members: &[Member]) -> Option<Member> {
    let mut per_zone: BTreeMap<&str, usize> = BTreeMap::new();
    for m in members {
        *per_zone.entry(m.zone.as_str()).or_default() += 1;
    }
    members
        .iter()
        .max_by(|a, b| {
            per_zone[a.zone.as_str()]
                .cmp(&per_zone[b.zone.as_str()])
                .then(b.version.cmp(&a.version))
                .then(b.created.cmp(&a.created))
        })
        .cloned()
}

/// Evicts every pod of `node` except DaemonSet pods and mirror pods, retrying those a
/// disruption budget protects, until none is left; gives up after 15 minutes (simulated).
pub async fn drain(
    client: &Client,
    node: &str,
    clock: Clock,
    shutdown: &CancellationToken,
) -> Result<(), StepError> {
    let pods: Api<Pod> = Api::all(client.clone());
    let start = std::time::Instant::now();
    loop {
        if clock.simulated(start.elapsed()) > DRAIN_TIMEOUT {
            return Err(StepError::EvictionFailure(node.to_string()));
        }
        let list = pods
            .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
            .await?;
        let movable: Vec<&Pod> = list
            .items
            .iter()
            .filter(|p| {
                let daemon = p
                    .owner_references()
                    .iter()
                    .any(|o| o.kind == "DaemonSet" && o.controller == Some(true));
                let mirror = p.annotations().contains_key("kubernetes.io/config.mirror");
                let finished = p
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .is_some_and(|phase| phase == "Succeeded" || phase == "Failed");
                !daemon && !mirror && !finished
            })
            .collect();
        if movable.is_empty() {
            return Ok(());
        }
        for pod in movable {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let ns = pod.namespace().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            match api.evict(&pod.name_any(), &EvictParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 429 || s.code == 404 || s.code == 500 => {}
                Err(e) => return Err(e.into()),
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Err(StepError::Cancelled),
            _ = tokio::time::sleep(clock.real(Duration::from_secs(5))) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, zone: &str, version: i64, created: &str) -> Member {
        Member {
            name: name.into(),
            uid: format!("uid-{name}"),
            zone: zone.into(),
            version,
            ready: true,
            created: created.into(),
        }
    }

    #[test]
    fn scale_in_takes_from_the_fullest_zone_then_the_oldest_template_then_the_oldest_node() {
        let members = vec![
            m("a1", "a", 2, "2026-01-01T00:00:01Z"),
            m("b1", "b", 2, "2026-01-01T00:00:02Z"),
            m("b2", "b", 1, "2026-01-01T00:00:03Z"),
            m("b3", "b", 2, "2026-01-01T00:00:00Z"),
        ];
        assert_eq!(scale_in_victim(&members).map(|v| v.name), Some("b2".into()));
        let members = vec![
            m("a1", "a", 2, "2026-01-01T00:00:01Z"),
            m("b1", "b", 2, "2026-01-01T00:00:02Z"),
            m("b3", "b", 2, "2026-01-01T00:00:00Z"),
        ];
        assert_eq!(scale_in_victim(&members).map(|v| v.name), Some("b3".into()));
        assert!(scale_in_victim(&[]).is_none());
    }

    #[test]
    fn members_count_launches_the_cache_has_not_shown_and_not_terminated_nodes() {
        let names = |v: &[Member]| v.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
        let t = "2026-01-01T00:00:00Z";
        let mut unseen =
            BTreeMap::from([("new".to_string(), (m("new", "b", 1, ""), Instant::now()))]);
        let mut gone = BTreeSet::from(["uid-old".to_string()]);
        // The cache still has `old` and lacks `new`: `new` counts, `old` does not.
        let cached = vec![m("a1", "a", 1, t), m("old", "a", 1, t)];
        let members = merge_members(cached, &mut unseen, &mut gone);
        assert_eq!(names(&members), ["a1", "new"]);
        // The cache caught up: both bookkeeping entries are dropped.
        let cached = vec![m("a1", "a", 1, t), m("new", "b", 1, t)];
        let members = merge_members(cached, &mut unseen, &mut gone);
        assert_eq!(names(&members), ["a1", "new"]);
        assert!(unseen.is_empty() && gone.is_empty());
        // A launch the cache never shows stops counting after the grace period.
        let Some(long_ago) = Instant::now().checked_sub(UNSEEN_GRACE + Duration::from_secs(1))
        else {
            return; // a machine up for less than a minute
        };
        unseen.insert("lost".into(), (m("lost", "a", 1, ""), long_ago));
        let members = merge_members(vec![m("a1", "a", 1, t)], &mut unseen, &mut gone);
        assert_eq!(names(&members), ["a1"]);
        // A new node that took a terminated node's name (its address) counts once the cache
        // shows it, while the old one, with the same name, is still cached.
        gone.insert("uid-x".into());
        let mut reused = m("x", "a", 1, t);
        reused.uid = "uid-x2".into();
        let members = merge_members(vec![m("x", "a", 1, t), reused], &mut unseen, &mut gone);
        assert_eq!(
            members.iter().map(|m| m.uid.as_str()).collect::<Vec<_>>(),
            ["uid-x2"]
        );
    }

    #[test]
    fn a_group_spec_reads_eks_field_names_with_defaults() {
        let obj = json!({"spec": {"instanceTypes": ["m5.4xlarge"],
            "scalingConfig": {"desiredSize": 4, "minSize": 1, "maxSize": 6},
            "subnets": ["subnet-1"], "labels": {"role": "web"},
            "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]}});
        let spec = GroupSpec::from_object(&obj);
        assert_eq!(spec.desired, 4);
        assert_eq!((spec.min, spec.max), (1, 6));
        assert_eq!(spec.capacity_type, "ON_DEMAND");
        assert_eq!(spec.volume_gib, 80);
        assert_eq!(spec.launch_template_version, 1);
        assert_eq!(spec.taints.len(), 1);
        assert_eq!(spec.labels.get("role").map(String::as_str), Some("web"));
    }

    #[test]
    fn only_address_shortages_allow_an_in_place_replacement() {
        let e = |code: &str| LaunchError {
            code: code.into(),
            message: String::new(),
        };
        assert!(e("InsufficientFreeAddressesInSubnet").is_address_shortage());
        assert!(!e("InsufficientInstanceCapacity").is_address_shortage());
    }
}
