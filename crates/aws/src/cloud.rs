//! The simulated cloud at run time: one VPC with its subnets and ENIs, the instances launched
//! into it, and each node's VPC CNI (ipamd), kept in memory behind one lock and mirrored to
//! API objects (`ec2.skiff.dev`): a `VPC`, its `Subnet`s (with `availableIpAddressCount`),
//! every `NetworkInterface` (addresses, and which pod holds each) and every `Instance`.
//!
//! [`Cloud`] is the pod network the simulated kubelets call ([`api::cni::PodNetwork`]): a
//! pod's address comes from its node's ipamd exactly as the VPC CNI hands it out, and a
//! pod that gets none fails with the CNI's own message.
//!
//! It also reads what users change through the API, as the real services do:
//! - the `aws-node` DaemonSet's container environment is the CNI's configuration
//!   (`WARM_ENI_TARGET`, `WARM_IP_TARGET`, `AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG`, …); a
//!   change reaches every node's ipamd, as restarting aws-node pods does;
//! - `ENIConfig` objects name the subnet of each node's pod ENIs under custom networking;
//! - CIDR blocks added to the `VPC` object's `spec.cidrBlocks` are associated (or refused,
//!   with EC2's error, in `status.cidrBlockAssociations`), and `Subnet` objects created
//!   through the API become subnets (or fail, with EC2's error in `status`).
//!
//! On restart the state is rebuilt from those objects, so addresses survive.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use api::clock::Clock;
use api::cni::{NetworkError, NetworkFuture, PodNetwork, Sandbox};
use k8s_openapi::api::apps::v1::DaemonSet;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::catalog::InstanceType;
use crate::ipamd::{CustomNetwork, InstanceLimits, Ipamd, IpamdConfig};
use crate::resources::{EC2_API_VERSION, EC2_GROUP, EC2_VERSION, ENI_CONFIG_GROUP};
use crate::vpc::{Cidr, Ec2Error, EniId, InstanceNetworking, SubnetId, Vpc};

/// Field manager of the cloud's writes.
const MANAGER: &str = "skiff-ec2";
/// The VPC CNI's plugin type, as the runtime names it.
const PLUGIN: &str = "aws-cni";

/// What the CNI plugin answers when no ipamd runs for the node (aws-node is down, or the
/// simulated cloud is between leaders): the gRPC dial to ipamd's port fails.
pub fn ipamd_unreachable() -> NetworkError {
    NetworkError {
        plugin: PLUGIN.into(),
        message: "add cmd: Error received from AddNetwork gRPC call: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:50051: connect: connection refused\"".into(),
    }
}
/// How often each ipamd's reconcile loop runs (simulated), as ipamd's.
const IPAMD_INTERVAL: Duration = Duration::from_secs(5);
/// How often the API is read for user changes (real time).
const POLL: Duration = Duration::from_millis(300);
/// Mixed into the seed so instance ids differ from the VPC's ids.
const INSTANCE_ID_STREAM: u64 = 0x696e_7374_616e_6365;
/// The CNI's default label naming a node's ENIConfig.
const DEFAULT_ENI_CONFIG_LABEL: &str = "k8s.amazonaws.com/eniConfig";
/// Label of a Subnet object with the subnet's name in the cluster file.
pub const SUBNET_NAME_LABEL: &str = "eks.skiff.dev/subnet-name";
/// How the description of a Fargate micro-VM's ENI starts (the pod's `namespace/name`
/// follows).
const FARGATE_DESCRIPTION: &str = "[Fargate] ";

/// The cloud's settings.
#[derive(Debug, Clone)]
pub struct CloudConfig {
    /// The region (`us-east-1`).
    pub region: String,
    /// The EKS cluster's name (ENI descriptions and tags carry it).
    pub cluster_name: String,
    /// The simulation clock.
    pub clock: Clock,
    /// Seed of instance ids.
    pub seed: u64,
}

/// Why the cloud's state could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The API could not be read.
    #[error("reading the EC2 objects: {0}")]
    Api(#[from] kube::Error),
    /// The objects are inconsistent (edited by hand?).
    #[error("{0}")]
    Invalid(String),
}

/// One subnet of the VPC to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetRequest {
    /// Its name in the cluster file (`SubnetPrivateUSEAST1A`), kept as a label.
    pub name: String,
    /// Availability zone (`us-east-1a`).
    pub availability_zone: String,
    /// Its zone id (`use1-az1`).
    pub availability_zone_id: String,
    /// The subnet's block.
    pub cidr: Cidr,
    /// Whether it is a public subnet.
    pub public: bool,
}

/// An instance to launch.
#[derive(Debug, Clone)]
pub struct RunInstance<'a> {
    /// Its type.
    pub instance_type: &'a InstanceType,
    /// The subnet of its primary network interface.
    pub subnet: SubnetId,
    /// The node group it belongs to (an `eks:nodegroup-name` tag).
    pub node_group: String,
    /// `ON_DEMAND` or `SPOT`.
    pub capacity_type: String,
    /// The Kubernetes labels its node will have (custom networking finds the node's
    /// ENIConfig through them).
    pub node_labels: BTreeMap<String, String>,
    /// The node's pod capacity (ipamd keeps no more addresses than this).
    pub max_pods: u32,
}

/// A launched instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    /// `i-0…`.
    pub instance_id: String,
    /// The primary private address (the node's InternalIP).
    pub private_ip: Ipv4Addr,
    /// Its private DNS name, which is the node's name.
    pub private_dns_name: String,
    /// Availability zone.
    pub availability_zone: String,
    /// Availability zone id.
    pub availability_zone_id: String,
}

/// What the cloud keeps about an instance.
#[derive(Debug, Clone)]
struct InstanceRecord {
    id: String,
    instance_type: String,
    subnet: SubnetId,
    az: String,
    node_name: String,
    node_group: String,
    capacity_type: String,
    private_ip: Ipv4Addr,
    node_labels: BTreeMap<String, String>,
    launch_time: String,
    limits: InstanceLimits,
}

/// Mutable state behind the lock.
struct State {
    vpc: Option<Vpc>,
    region: String,
    instances: BTreeMap<String, InstanceRecord>,
    node_instance: HashMap<String, String>,
    ipamds: HashMap<String, Ipamd>,
    cni_env: BTreeMap<String, String>,
    eni_configs: BTreeMap<String, String>,
    /// Which pod holds each assigned address (`namespace/name`).
    /// Which pod holds each assigned address: (`namespace/name`, uid).
    holders: HashMap<Ipv4Addr, (String, String)>,
    /// Whether the VPC object's spec exists (afterwards only its status is written, so
    /// users' requested blocks are never overwritten).
    vpc_spec_written: bool,
    instance_counter: u64,
    dirty_enis: BTreeSet<EniId>,
    deleted_enis: BTreeSet<EniId>,
    dirty_subnets: BTreeSet<SubnetId>,
    dirty_instances: BTreeSet<String>,
    deleted_instances: BTreeSet<String>,
    vpc_dirty: bool,
    /// Association results of CIDR blocks requested on the VPC object.
    associations: BTreeMap<String, Value>,
    /// Failed subnet requests (`subnet id → (code, message)`).
    failed_subnets: BTreeMap<String, (String, String)>,
    /// Names of subnets from the cluster file.
    subnet_names: BTreeMap<SubnetId, String>,
    /// Fargate micro-VMs: node name → (ENI, address).
    fargate: HashMap<String, (EniId, Ipv4Addr)>,
    /// Every ENI each instance had at the last write (to delete the ones ipamd freed).
    written_enis: HashMap<String, BTreeSet<EniId>>,
}

struct Inner {
    client: Client,
    config: CloudConfig,
    state: Mutex<State>,
    changed: Notify,
    epoch: Instant,
}

/// The simulated cloud (cheap to clone).
#[derive(Clone)]
pub struct Cloud {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cloud")
            .field("region", &self.inner.config.region)
            .finish_non_exhaustive()
    }
}

fn gvk(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(EC2_GROUP, EC2_VERSION, kind), plural)
}

/// The private DNS name EC2 gives an address in `region` (`ip-10-0-1-23.ec2.internal` in
/// us-east-1, `ip-10-0-1-23.<region>.compute.internal` elsewhere).
pub fn private_dns_name(ip: Ipv4Addr, region: &str) -> String {
    let dashed = ip.to_string().replace('.', "-");
    if region == "us-east-1" {
        format!("ip-{dashed}.ec2.internal")
    } else {
        format!("ip-{dashed}.{region}.compute.internal")
    }
}

/// The availability zone id of `az` (`us-east-1a` → `use1-az1`): AWS maps names to ids per
/// account; skiff uses the letter's position, which is one account's mapping.
pub fn zone_id(az: &str) -> String {
    let (region, letter) = az.split_at(az.len().saturating_sub(1));
    let mut parts = region.split('-');
    let abbreviation: String = match (parts.next(), parts.next(), parts.next()) {
        (Some(geo), Some(direction), Some(n)) => {
            let direction = match direction {
                "east" => "e",
                "west" => "w",
                "north" => "n",
                "south" => "s",
                "central" => "c",
                "northeast" => "ne",
                "southeast" => "se",
                "northwest" => "nw",
                "southwest" => "sw",
                other => other.get(..1).unwrap_or_default(),
            };
            format!("{geo}{direction}{n}")
        }
        _ => region.replace('-', ""),
    };
    let index = letter
        .chars()
        .next()
        .map(|c| (c as u32).saturating_sub('a' as u32) + 1)
        .unwrap_or(1);
    format!("{abbreviation}-az{index}")
}

impl Cloud {
    /// A cloud in `config.region` talking to the API through `client`; its state is read
    /// from the API objects by [`Cloud::load`].
    pub fn new(client: Client, config: CloudConfig) -> Cloud {
        let region = config.region.clone();
        Cloud {
            inner: Arc::new(Inner {
                client,
                config,
                state: Mutex::new(State {
                    vpc: None,
                    region,
                    instances: BTreeMap::new(),
                    node_instance: HashMap::new(),
                    ipamds: HashMap::new(),
                    cni_env: BTreeMap::new(),
                    eni_configs: BTreeMap::new(),
                    holders: HashMap::new(),
                    vpc_spec_written: false,
                    instance_counter: 0,
                    dirty_enis: BTreeSet::new(),
                    deleted_enis: BTreeSet::new(),
                    dirty_subnets: BTreeSet::new(),
                    dirty_instances: BTreeSet::new(),
                    deleted_instances: BTreeSet::new(),
                    vpc_dirty: false,
                    associations: BTreeMap::new(),
                    failed_subnets: BTreeMap::new(),
                    subnet_names: BTreeMap::new(),
                    fargate: HashMap::new(),
                    written_enis: HashMap::new(),
                }),
                changed: Notify::new(),
                epoch: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Simulated time since the cloud started (ipamd's cooldowns are measured in it).
    fn now(&self) -> Duration {
        self.inner
            .config
            .clock
            .simulated(self.inner.epoch.elapsed())
    }

    fn touch(&self) {
        self.inner.changed.notify_one();
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.inner.config.region
    }

    /// Whether the cloud has a VPC (from [`Cloud::create_vpc`] or [`Cloud::load`]).
    pub fn has_vpc(&self) -> bool {
        self.lock().vpc.is_some()
    }

    /// Creates the cluster's VPC with `cidr` and `subnets` (a new cluster); returns the
    /// subnets' ids in the order given.
    pub fn create_vpc(
        &self,
        cidr: Cidr,
        subnets: &[SubnetRequest],
    ) -> Result<Vec<SubnetId>, Ec2Error> {
        let mut vpc = Vpc::new(self.inner.config.seed, cidr)?;
        let mut ids = Vec::new();
        let mut names = BTreeMap::new();
        for s in subnets {
            if !vpc.cidr_blocks().iter().any(|b| b.contains(&s.cidr)) {
                // eksctl adds the blocks a file's subnets need beyond the VPC's.
                vpc.associate_cidr_block(Cidr::containing(
                    s.cidr.network(),
                    16.min(s.cidr.prefix_len()),
                ))?;
            }
            let id = vpc.create_subnet(
                &s.availability_zone,
                &s.availability_zone_id,
                s.cidr,
                s.public,
            )?;
            names.insert(id.clone(), s.name.clone());
            ids.push(id);
        }
        let mut state = self.lock();
        state.subnet_names = names;
        state.dirty_subnets.extend(ids.iter().cloned());
        state.vpc = Some(vpc);
        state.vpc_dirty = true;
        drop(state);
        self.touch();
        Ok(ids)
    }

    /// Rebuilds the state from the API objects an earlier run wrote (the VPC, its subnets,
    /// ENIs and instances, and which pod holds each address). `false` when there is no VPC
    /// yet (a new cluster).
    pub async fn load(&self) -> Result<bool, LoadError> {
        let client = &self.inner.client;
        let list = |kind: &str, plural: &str| -> Api<DynamicObject> {
            Api::all_with(client.clone(), &gvk(kind, plural))
        };
        let vpcs = list("VPC", "vpcs")
            .list(&ListParams::default())
            .await?
            .items;
        let Some(vpc_obj) = vpcs.first() else {
            return Ok(false);
        };
        let subnets = list("Subnet", "subnets")
            .list(&ListParams::default())
            .await?
            .items;
        let enis = list("NetworkInterface", "networkinterfaces")
            .list(&ListParams::default())
            .await?
            .items;
        let instances = list("Instance", "instances")
            .list(&ListParams::default())
            .await?
            .items;
        let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
        let node_list = nodes.list(&ListParams::default()).await?.items;
        // The CNI's settings first: ipamd restarts under them (prefix delegation decides
        // which of an ENI's addresses it keeps).
        let daemon_sets: Api<DaemonSet> = Api::namespaced(client.clone(), "kube-system");
        let env = daemon_sets
            .get_opt("aws-node")
            .await?
            .map(|ds| env_of_aws_node(&serde_json::to_value(&ds).unwrap_or_default()))
            .unwrap_or_default();
        let eni_configs = self.eni_configs().await?;
        let now = self.now();
        let mut state = self.lock();
        let state = &mut *state;
        state.cni_env = env;
        state.eni_configs = eni_configs;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        // The VPC's blocks: the primary, then the associated secondary ones.
        let mut blocks = vec![text(&vpc_obj.data["spec"]["cidrBlock"])];
        for a in vpc_obj.data["status"]["cidrBlockAssociations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let block = text(&a["cidrBlock"]);
            if a["state"] != "associated" || blocks.contains(&block) {
                if a["state"] == "failed" {
                    state.associations.insert(block, a.clone());
                }
                continue;
            }
            state.associations.insert(block.clone(), a.clone());
            blocks.push(block);
        }
        let mut subnet_map = serde_json::Map::new();
        for s in &subnets {
            let id = s.name_any();
            if s.data["status"]["state"] != "available" && s.data["status"]["state"] != "failed" {
                // A request the cloud never answered: answered after the start.
                continue;
            }
            if s.data["status"]["state"] == "failed" {
                state.failed_subnets.insert(
                    id,
                    (
                        text(&s.data["status"]["code"]),
                        text(&s.data["status"]["message"]),
                    ),
                );
                continue;
            }
            if let Some(name) = s.labels().get(SUBNET_NAME_LABEL) {
                state
                    .subnet_names
                    .insert(SubnetId(id.clone()), name.clone());
            }
            subnet_map.insert(id.clone(), json!({
                "id": id,
                "availabilityZone": s.data["spec"]["availabilityZone"],
                "availabilityZoneId": s.data["spec"]["availabilityZoneId"],
                "cidr": s.data["spec"]["cidrBlock"],
                "mapPublicIpOnLaunch": s.data["spec"]["mapPublicIpOnLaunch"].as_bool().unwrap_or(false),
            }));
        }
        let instance_types: BTreeMap<String, String> = instances
            .iter()
            .map(|i| (i.name_any(), text(&i.data["spec"]["instanceType"])))
            .collect();
        let mut eni_map = serde_json::Map::new();
        let mut holders: Vec<(String, Ipv4Addr, String, String)> = Vec::new();
        for e in &enis {
            let id = e.name_any();
            let node = text(&e.data["spec"]["nodeName"]);
            let mut secondary = Vec::new();
            for a in e.data["status"]["privateIpAddresses"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let Ok(ip) = text(&a["privateIpAddress"]).parse::<Ipv4Addr>() else {
                    continue;
                };
                if a["primary"] != true {
                    secondary.push(json!(ip.to_string()));
                }
            }
            for a in e.data["status"]["pods"].as_array().into_iter().flatten() {
                if let Ok(ip) = text(&a["privateIpAddress"]).parse::<Ipv4Addr>() {
                    holders.push((node.clone(), ip, text(&a["pod"]), text(&a["podUid"])));
                }
            }
            let instance = text(&e.data["spec"]["instanceId"]);
            let attachment = if instance.is_empty() {
                Value::Null
            } else {
                json!({
                    "instanceId": instance,
                    "instanceType": instance_types.get(&instance).cloned().unwrap_or_default(),
                    "deviceIndex": e.data["spec"]["deviceIndex"],
                    "ipv4PerEni": e.data["spec"]["ipv4PerInterface"],
                })
            };
            let primary = text(&e.data["status"]["privateIpAddress"]);
            if text(&e.data["spec"]["description"]).starts_with(FARGATE_DESCRIPTION)
                && let Ok(ip) = primary.parse::<Ipv4Addr>()
            {
                state.fargate.insert(node.clone(), (EniId(id.clone()), ip));
            }
            eni_map.insert(id.clone(), json!({
                "id": id,
                "subnetId": e.data["spec"]["subnetId"],
                "description": e.data["spec"]["description"],
                "primaryIp": primary,
                "secondaryIps": secondary,
                "ipv4Prefixes": e.data["status"]["ipv4Prefixes"].as_array().cloned().unwrap_or_default(),
                "attachment": attachment,
            }));
        }
        let vpc_json = json!({
            "id": vpc_obj.name_any(),
            "cidrBlocks": blocks,
            "maxCidrBlocks": vpc_obj.data["status"]["maxCidrBlocks"].as_u64().unwrap_or(5),
            "subnets": subnet_map,
            "networkInterfaces": eni_map,
            "idState": vpc_obj.data["status"]["idState"].as_u64().unwrap_or(self.inner.config.seed),
        });
        let vpc: Vpc = match serde_json::from_value(vpc_json) {
            Ok(v) => v,
            Err(e) => {
                return Err(LoadError::Invalid(format!(
                    "the VPC objects of {} do not describe a consistent VPC: {e}",
                    vpc_obj.name_any()
                )));
            }
        };
        state.vpc = Some(vpc);
        for i in &instances {
            let id = i.name_any();
            let node_name = text(&i.data["spec"]["nodeName"]);
            let Some(it) = crate::catalog::catalog().get(&text(&i.data["spec"]["instanceType"]))
            else {
                continue;
            };
            let node = node_list.iter().find(|n| n.name_any() == node_name);
            let max_pods = node
                .and_then(|n| n.status.as_ref())
                .and_then(|s| s.capacity.as_ref())
                .and_then(|c| c.get("pods"))
                .and_then(|q| q.0.parse().ok())
                .unwrap_or_else(|| it.eni_max_pods());
            let limits = InstanceLimits {
                instance_type: it.name.clone(),
                max_enis: it.max_enis,
                ipv4_per_eni: it.ipv4_per_eni,
                nitro: it.hypervisor == crate::catalog::Hypervisor::Nitro,
                max_pods,
            };
            let record = InstanceRecord {
                id: id.clone(),
                instance_type: it.name.clone(),
                subnet: SubnetId(text(&i.data["spec"]["subnetId"])),
                az: text(&i.data["spec"]["availabilityZone"]),
                node_name: node_name.clone(),
                node_group: text(&i.data["spec"]["nodeGroup"]),
                capacity_type: text(&i.data["spec"]["capacityType"]),
                private_ip: text(&i.data["status"]["privateIpAddress"])
                    .parse()
                    .unwrap_or(Ipv4Addr::UNSPECIFIED),
                node_labels: node.map(|n| n.labels().clone()).unwrap_or_default(),
                launch_time: text(&i.data["status"]["launchTime"]),
                limits: limits.clone(),
            };
            let config = ipamd_config(state, &record);
            let Some(vpc) = state.vpc.as_mut() else {
                continue;
            };
            let Some(primary) = vpc
                .instance_network_interfaces(&id)
                .first()
                .map(|e| e.id.clone())
            else {
                continue;
            };
            let mut ipamd = Ipamd::new(&id, primary, limits.clone(), config.clone());
            ipamd.restart(vpc, limits, config, now);
            for (holder_node, ip, _, uid) in &holders {
                if holder_node == &node_name {
                    ipamd.adopt(uid, *ip);
                }
            }
            state.ipamds.insert(node_name.clone(), ipamd);
            state.node_instance.insert(node_name.clone(), id.clone());
            state.instances.insert(id.clone(), record);
            state.instance_counter += 1;
        }
        for (_, ip, pod, uid) in holders {
            state.holders.insert(ip, (pod, uid));
        }
        state.vpc_spec_written = true;
        Ok(true)
    }

    /// The subnets (id, zone, public) of the VPC.
    pub fn subnets(&self) -> Vec<(SubnetId, String, bool)> {
        let state = self.lock();
        state
            .vpc
            .as_ref()
            .map(|v| {
                v.subnets()
                    .map(|s| {
                        (
                            s.id.clone(),
                            s.availability_zone.clone(),
                            s.map_public_ip_on_launch,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The CNI settings currently in force (the aws-node environment).
    pub fn cni_env(&self) -> BTreeMap<String, String> {
        self.lock().cni_env.clone()
    }

    /// Sets the CNI's environment (read from the aws-node DaemonSet) and reconfigures every
    /// node's ipamd.
    pub fn set_cni_env(&self, env: BTreeMap<String, String>) {
        let mut state = self.lock();
        if state.cni_env == env {
            return;
        }
        state.cni_env = env;
        reconfigure_all(&mut state, self.now());
        drop(state);
        self.touch();
    }

    /// Launches an instance (`RunInstances`): its primary ENI takes the lowest free address
    /// of the subnet, which is the node's IP and names the node; its ipamd starts and fills
    /// its warm pool.
    pub fn run_instance(&self, request: &RunInstance<'_>) -> Result<Launched, Ec2Error> {
        let now = self.now();
        let mut state = self.lock();
        let seed = self.inner.config.seed;
        let region = state.region.clone();
        state.instance_counter += 1;
        let counter = state.instance_counter;
        let Some(vpc) = state.vpc.as_mut() else {
            return Err(Ec2Error::subnet_not_found(&request.subnet));
        };
        let subnet = vpc.subnet(&request.subnet)?.clone();
        let mut instance_id = instance_id(seed ^ INSTANCE_ID_STREAM, counter);
        while !vpc.instance_network_interfaces(&instance_id).is_empty() {
            instance_id = instance_id_next(&instance_id);
        }
        let networking = InstanceNetworking {
            instance_id: instance_id.clone(),
            instance_type: request.instance_type.name.clone(),
            max_enis: request.instance_type.max_enis,
            ipv4_per_eni: request.instance_type.ipv4_per_eni,
        };
        let eni = vpc.create_network_interface(&request.subnet, "")?;
        if let Err(e) = vpc.attach(&eni, &networking, 0) {
            let _ = vpc.delete_network_interface(&eni);
            return Err(e);
        }
        let private_ip = vpc.network_interface(&eni)?.primary_ip;
        let node_name = private_dns_name(private_ip, &region);
        let limits = InstanceLimits {
            instance_type: request.instance_type.name.clone(),
            max_enis: request.instance_type.max_enis,
            ipv4_per_eni: request.instance_type.ipv4_per_eni,
            nitro: request.instance_type.hypervisor == crate::catalog::Hypervisor::Nitro,
            max_pods: request.max_pods,
        };
        let record = InstanceRecord {
            id: instance_id.clone(),
            instance_type: request.instance_type.name.clone(),
            subnet: request.subnet.clone(),
            az: subnet.availability_zone.clone(),
            node_name: node_name.clone(),
            node_group: request.node_group.clone(),
            capacity_type: request.capacity_type.clone(),
            private_ip,
            node_labels: request.node_labels.clone(),
            launch_time: jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
            limits: limits.clone(),
        };
        let config = ipamd_config(&state, &record);
        let mut ipamd = Ipamd::new(&instance_id, eni.clone(), limits, config);
        if let Some(vpc) = state.vpc.as_mut() {
            ipamd.reconcile(vpc, now);
        }
        state.ipamds.insert(node_name.clone(), ipamd);
        state
            .node_instance
            .insert(node_name.clone(), instance_id.clone());
        state.instances.insert(instance_id.clone(), record);
        mark_instance(&mut state, &instance_id);
        drop(state);
        self.touch();
        Ok(Launched {
            instance_id,
            private_ip,
            private_dns_name: node_name,
            availability_zone: subnet.availability_zone,
            availability_zone_id: subnet.availability_zone_id,
        })
    }

    /// Terminates the instance behind `node`: its ENIs are deleted and their addresses
    /// return to their subnets. Unknown nodes are not an error.
    pub fn terminate_node(&self, node: &str) {
        let mut state = self.lock();
        if let Some((eni, ip)) = state.fargate.remove(node) {
            state.holders.remove(&ip);
            if let Some(vpc) = state.vpc.as_mut() {
                let subnet = vpc
                    .network_interface(&eni)
                    .ok()
                    .map(|e| e.subnet_id.clone());
                let _ = vpc.delete_network_interface(&eni);
                state.dirty_subnets.extend(subnet);
            }
            state.dirty_enis.remove(&eni);
            state.deleted_enis.insert(eni);
            drop(state);
            self.touch();
            return;
        }
        let Some(instance) = state.node_instance.remove(node) else {
            return;
        };
        state.written_enis.remove(&instance);
        state.ipamds.remove(node);
        let prefixes_of: HashMap<EniId, Vec<Cidr>> = state
            .vpc
            .as_ref()
            .map(|v| {
                v.instance_network_interfaces(&instance)
                    .iter()
                    .map(|e| (e.id.clone(), e.ipv4_prefixes.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let enis: Vec<(EniId, SubnetId, Vec<Ipv4Addr>)> = state
            .vpc
            .as_ref()
            .map(|v| {
                v.instance_network_interfaces(&instance)
                    .iter()
                    .map(|e| (e.id.clone(), e.subnet_id.clone(), e.secondary_ips.clone()))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(vpc) = state.vpc.as_mut() {
            vpc.terminate_instance(&instance);
        }
        for (eni, subnet, ips) in enis {
            for ip in ips {
                state.holders.remove(&ip);
            }
            if let Some(prefixes) = prefixes_of.get(&eni) {
                state
                    .holders
                    .retain(|ip, _| !prefixes.iter().any(|p| p.contains_addr(*ip)));
            }
            state.dirty_enis.remove(&eni);
            state.deleted_enis.insert(eni);
            state.dirty_subnets.insert(subnet);
        }
        state.instances.remove(&instance);
        state.dirty_instances.remove(&instance);
        state.deleted_instances.insert(instance);
        drop(state);
        self.touch();
    }

    /// Starts a Fargate micro-VM for the pod `key` (`namespace/name`) in one of `subnets`
    /// (the one with the most free addresses, as Fargate spreads pods; every private subnet
    /// when none is given): its ENI's primary address is the node's and the pod's.
    pub fn run_fargate(&self, subnets: &[String], key: &str) -> Result<Launched, Ec2Error> {
        let mut state = self.lock();
        let region = state.region.clone();
        let Some(vpc) = state.vpc.as_mut() else {
            return Err(Ec2Error::invalid_parameter_value("the cluster has no VPC"));
        };
        let candidates: Vec<SubnetId> = if subnets.is_empty() {
            vpc.subnets()
                .filter(|s| !s.map_public_ip_on_launch)
                .map(|s| s.id.clone())
                .collect()
        } else {
            subnets.iter().map(|s| SubnetId(s.clone())).collect()
        };
        let subnet = candidates
            .iter()
            .filter_map(|id| Some((vpc.available_ip_address_count(id).ok()?, id.clone())))
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, id)| id)
            .ok_or_else(|| {
                Ec2Error::invalid_parameter_value("the Fargate profile has no subnets")
            })?;
        let eni = vpc.create_network_interface(&subnet, &format!("{FARGATE_DESCRIPTION}{key}"))?;
        let e = vpc.network_interface(&eni)?;
        let ip = e.primary_ip;
        let zone = vpc.subnet(&subnet)?.clone();
        let node = format!("fargate-{}", private_dns_name(ip, &region));
        state.fargate.insert(node, (eni.clone(), ip));
        state.dirty_enis.insert(eni);
        state.dirty_subnets.insert(subnet);
        drop(state);
        self.touch();
        Ok(Launched {
            instance_id: String::new(),
            private_ip: ip,
            private_dns_name: private_dns_name(ip, &region),
            availability_zone: zone.availability_zone,
            availability_zone_id: zone.availability_zone_id,
        })
    }

    /// Whether `node` is one of the cloud's instances or micro-VMs.
    pub fn has_node(&self, node: &str) -> bool {
        let state = self.lock();
        state.node_instance.contains_key(node) || state.fargate.contains_key(node)
    }

    /// `(id, name)` of the subnets the cluster file named.
    pub fn subnet_names(&self) -> Vec<(String, String)> {
        self.lock()
            .subnet_names
            .iter()
            .map(|(id, name)| (id.to_string(), name.clone()))
            .collect()
    }

    /// Whether custom networking and prefix delegation are on (for a new node's max pods).
    pub fn max_pods_modes(&self) -> (bool, bool) {
        let state = self.lock();
        let config = IpamdConfig::from_env(&state.cni_env).unwrap_or_default();
        (config.custom_network_cfg, config.prefix_delegation)
    }

    /// Runs the cloud's loops until `shutdown`: ipamd reconciles, reading user changes from
    /// the API, and writing the state to the API.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut last_reconcile = Instant::now();
        let mut last_poll = Instant::now() - POLL;
        loop {
            if last_poll.elapsed() >= POLL {
                last_poll = Instant::now();
                if let Err(error) = self.read_user_changes().await {
                    tracing::debug!(%error, "reading EC2 requests from the API failed");
                }
            }
            if last_reconcile.elapsed() >= self.inner.config.clock.real(IPAMD_INTERVAL) {
                last_reconcile = Instant::now();
                self.reconcile_all();
            }
            self.flush().await;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.inner.changed.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        self.flush().await;
    }

    /// One pass of every node's ipamd reconcile loop.
    fn reconcile_all(&self) {
        let now = self.now();
        let mut state = self.lock();
        let nodes: Vec<String> = state.ipamds.keys().cloned().collect();
        for node in nodes {
            reconcile_node(&mut state, &node, now);
        }
    }

    /// Reads the aws-node DaemonSet, ENIConfigs, the VPC's requested blocks and new
    /// Subnet objects.
    async fn read_user_changes(&self) -> Result<(), kube::Error> {
        let client = &self.inner.client;
        let daemon_sets: Api<DaemonSet> = Api::namespaced(client.clone(), "kube-system");
        if let Some(ds) = daemon_sets.get_opt("aws-node").await? {
            let value = serde_json::to_value(&ds).unwrap_or_default();
            self.set_cni_env(env_of_aws_node(&value));
        }
        let configs = self.eni_configs().await?;
        {
            let mut state = self.lock();
            if state.eni_configs != configs {
                state.eni_configs = configs;
                let now = self.now();
                reconfigure_all(&mut state, now);
            }
        }
        self.read_vpc_requests().await?;
        self.read_subnet_requests().await
    }

    /// The ENIConfigs: name → subnet.
    async fn eni_configs(&self) -> Result<BTreeMap<String, String>, kube::Error> {
        let api: Api<DynamicObject> = Api::all_with(
            self.inner.client.clone(),
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(ENI_CONFIG_GROUP, "v1alpha1", "ENIConfig"),
                "eniconfigs",
            ),
        );
        Ok(api
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .map(|c| {
                (
                    c.name_any(),
                    c.data["spec"]["subnet"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect())
    }

    /// Associates CIDR blocks added to the VPC object's `spec.cidrBlocks`.
    async fn read_vpc_requests(&self) -> Result<(), kube::Error> {
        let vpcs: Api<DynamicObject> =
            Api::all_with(self.inner.client.clone(), &gvk("VPC", "vpcs"));
        let id = match self.lock().vpc.as_ref() {
            Some(v) => v.id().to_string(),
            None => return Ok(()),
        };
        let Some(obj) = vpcs.get_opt(&id).await? else {
            return Ok(());
        };
        let requested: Vec<String> = obj.data["spec"]["cidrBlocks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b.as_str().map(str::to_string))
            .collect();
        let mut state = self.lock();
        let mut changed = false;
        for block in requested {
            if state.associations.contains_key(&block) {
                continue;
            }
            let result = match block
                .parse::<Cidr>()
                .map_err(|_| Ec2Error::invalid_cidr_block_parameter(&block))
            {
                Ok(cidr) => match state.vpc.as_mut() {
                    Some(vpc) if vpc.cidr_blocks().contains(&cidr) => Ok(()),
                    Some(vpc) => vpc.associate_cidr_block(cidr),
                    None => Ok(()),
                },
                Err(e) => Err(e),
            };
            let entry = match result {
                Ok(()) => json!({"cidrBlock": block, "state": "associated"}),
                Err(e) => json!({"cidrBlock": block, "state": "failed",
                                 "code": e.code.to_string(), "statusMessage": e.message}),
            };
            state.associations.insert(block, entry);
            changed = true;
        }
        if changed {
            state.vpc_dirty = true;
            drop(state);
            self.touch();
        }
        Ok(())
    }

    /// Turns Subnet objects created through the API into subnets.
    async fn read_subnet_requests(&self) -> Result<(), kube::Error> {
        let subnets: Api<DynamicObject> =
            Api::all_with(self.inner.client.clone(), &gvk("Subnet", "subnets"));
        let list = subnets.list(&ListParams::default()).await?;
        let mut state = self.lock();
        let mut changed = false;
        for obj in list.items {
            let id = SubnetId(obj.name_any());
            let known = state.vpc.as_ref().is_some_and(|v| v.subnet(&id).is_ok());
            if known || state.failed_subnets.contains_key(&id.0) {
                continue;
            }
            let az = obj.data["spec"]["availabilityZone"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let public = obj.data["spec"]["mapPublicIpOnLaunch"]
                .as_bool()
                .unwrap_or(false);
            let text = obj.data["spec"]["cidrBlock"].as_str().unwrap_or_default();
            let result = text
                .parse::<Cidr>()
                .map_err(|_| Ec2Error::invalid_cidr_block_parameter(text))
                .and_then(|cidr| {
                    let region = state.region.clone();
                    if !az.starts_with(&region) || az.len() != region.len() + 1 {
                        return Err(Ec2Error::invalid_parameter_value(&format!(
                            "Value ({az}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: {region}a, {region}b, {region}c."
                        )));
                    }
                    match state.vpc.as_mut() {
                        Some(vpc) => vpc.create_subnet_with_id(id.clone(), &az, &zone_id(&az), cidr, public),
                        None => Err(Ec2Error::subnet_not_found(&id)),
                    }
                });
            match result {
                Ok(()) => {
                    state.dirty_subnets.insert(id);
                }
                Err(e) => {
                    state
                        .failed_subnets
                        .insert(id.0.clone(), (e.code.to_string(), e.message.clone()));
                    state.dirty_subnets.insert(id);
                }
            }
            changed = true;
        }
        if changed {
            drop(state);
            self.touch();
        }
        Ok(())
    }

    /// Writes what changed to the API (the run loop does this continually; callers that
    /// need the objects at once, such as a new cluster's bootstrap, call it directly).
    pub async fn flush(&self) {
        let (vpc_obj, subnets, enis, deleted_enis, instances, deleted_instances) = {
            let mut state = self.lock();
            let vpc_obj = if std::mem::take(&mut state.vpc_dirty) {
                let spec_written = state.vpc_spec_written;
                state.vpc_spec_written = true;
                state
                    .vpc
                    .as_ref()
                    .map(|v| (vpc_object(v, &state), spec_written))
            } else {
                None
            };
            let subnets: Vec<(String, Value, Value)> = std::mem::take(&mut state.dirty_subnets)
                .into_iter()
                .filter_map(|id| subnet_object(&state, &id))
                .collect();
            let enis: Vec<Value> = std::mem::take(&mut state.dirty_enis)
                .into_iter()
                .filter_map(|id| eni_object(&state, &id))
                .collect();
            let deleted_enis = std::mem::take(&mut state.deleted_enis);
            let instances: Vec<Value> = std::mem::take(&mut state.dirty_instances)
                .into_iter()
                .filter_map(|id| state.instances.get(&id).map(instance_object))
                .collect();
            let deleted_instances = std::mem::take(&mut state.deleted_instances);
            (
                vpc_obj,
                subnets,
                enis,
                deleted_enis,
                instances,
                deleted_instances,
            )
        };
        let client = &self.inner.client;
        let apply = PatchParams::apply(MANAGER).force();
        if let Some(((name, obj, status), spec_written)) = vpc_obj {
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &gvk("VPC", "vpcs"));
            if spec_written {
                // Users add blocks to the spec; the cloud only answers in the status.
                write_status(&api, &name, &obj, &status, &apply).await;
            } else {
                write(&api, &name, &obj, Some(&status), &apply).await;
            }
        }
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &gvk("Subnet", "subnets"));
        for (name, obj, status) in subnets {
            write(&api, &name, &obj, Some(&status), &apply).await;
        }
        let api: Api<DynamicObject> = Api::all_with(
            client.clone(),
            &gvk("NetworkInterface", "networkinterfaces"),
        );
        for obj in enis {
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            write(&api, &name, &obj, None, &apply).await;
        }
        for id in deleted_enis {
            let _ = api.delete(id.as_str(), &DeleteParams::default()).await;
        }
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &gvk("Instance", "instances"));
        for obj in instances {
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            write(&api, &name, &obj, None, &apply).await;
        }
        for id in deleted_instances {
            let _ = api.delete(&id, &DeleteParams::default()).await;
        }
    }
}

/// Server-side applies `obj` (spec) and, when given, its status.
async fn write(
    api: &Api<DynamicObject>,
    name: &str,
    obj: &Value,
    status: Option<&Value>,
    params: &PatchParams,
) {
    if let Err(error) = api.patch(name, params, &Patch::Apply(obj)).await {
        tracing::warn!(%name, %error, "writing EC2 state to the API failed");
        return;
    }
    if let Some(status) = status {
        write_status(api, name, obj, status, params).await;
    }
}

/// Server-side applies the status of `obj`.
async fn write_status(
    api: &Api<DynamicObject>,
    name: &str,
    obj: &Value,
    status: &Value,
    params: &PatchParams,
) {
    let body = json!({"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                      "metadata": {"name": name}, "status": status});
    if let Err(error) = api.patch_status(name, params, &Patch::Apply(&body)).await {
        tracing::warn!(%name, %error, "writing EC2 status to the API failed");
    }
}

/// The aws-node container's environment (plain values only).
pub fn env_of_aws_node(daemon_set: &Value) -> BTreeMap<String, String> {
    daemon_set["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["name"] == "aws-node")
        .flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// A deterministic instance id (`i-0` and 16 hex digits) for the `n`th launch of the seed.
fn instance_id(seed: u64, n: u64) -> String {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(n));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    format!("i-0{z:016x}")
}

fn instance_id_next(id: &str) -> String {
    let n = u64::from_str_radix(id.trim_start_matches("i-0"), 16).unwrap_or(0);
    format!("i-0{:016x}", n.wrapping_add(1))
}

/// The ipamd configuration of a node: the CNI environment, with the ENIConfig's subnet
/// resolved from the node's label (or annotation) when custom networking is on.
fn ipamd_config(state: &State, record: &InstanceRecord) -> IpamdConfig {
    let mut config = IpamdConfig::from_env(&state.cni_env).unwrap_or_default();
    if config.custom_network_cfg {
        let label = if config.eni_config_label_def.is_empty() {
            DEFAULT_ENI_CONFIG_LABEL
        } else {
            config.eni_config_label_def.as_str()
        };
        config.custom_networking = record
            .node_labels
            .get(label)
            .and_then(|name| state.eni_configs.get(name))
            .filter(|s| !s.is_empty())
            .map(|s| CustomNetwork {
                subnet: SubnetId(s.clone()),
            });
    }
    config
}

/// Restarts the ipamd of every node whose configuration changed (as the aws-node pods are
/// replaced after their DaemonSet changes).
fn reconfigure_all(state: &mut State, now: Duration) {
    let nodes: Vec<(String, String)> = state
        .node_instance
        .iter()
        .map(|(n, i)| (n.clone(), i.clone()))
        .collect();
    for (node, instance) in nodes {
        let Some(record) = state.instances.get(&instance) else {
            continue;
        };
        let config = ipamd_config(state, record);
        let limits = record.limits.clone();
        let (Some(ipamd), Some(vpc)) = (state.ipamds.get_mut(&node), state.vpc.as_mut()) else {
            continue;
        };
        if ipamd.config() == &config {
            continue;
        }
        for e in ipamd.restart(vpc, limits, config, now) {
            tracing::debug!(%node, event = ?e, "ipamd restart");
        }
        mark_instance(state, &instance);
    }
}

fn reconcile_node(state: &mut State, node: &str, now: Duration) {
    let (Some(ipamd), Some(vpc)) = (state.ipamds.get_mut(node), state.vpc.as_mut()) else {
        return;
    };
    let events = ipamd.reconcile(vpc, now);
    if events.is_empty() {
        return;
    }
    for e in events {
        tracing::debug!(%node, event = ?e, "ipamd");
    }
    if let Some(instance) = state.node_instance.get(node).cloned() {
        mark_instance(state, &instance);
    }
}

/// Marks every ENI of `instance`, their subnets and the instance as changed.
fn mark_instance(state: &mut State, instance: &str) {
    let Some(vpc) = state.vpc.as_ref() else {
        return;
    };
    let enis: Vec<(EniId, SubnetId)> = vpc
        .instance_network_interfaces(instance)
        .iter()
        .map(|e| (e.id.clone(), e.subnet_id.clone()))
        .collect();
    let mut current = BTreeSet::new();
    for (eni, subnet) in enis {
        current.insert(eni.clone());
        state.dirty_enis.insert(eni);
        state.dirty_subnets.insert(subnet);
    }
    // ENIs the instance no longer has were freed by ipamd.
    let before = state
        .written_enis
        .insert(instance.to_string(), current.clone())
        .unwrap_or_default();
    for eni in before.difference(&current) {
        state.deleted_enis.insert(eni.clone());
    }
    // Freed ENIs return addresses to their subnets too.
    let all: Vec<SubnetId> = vpc.subnets().map(|s| s.id.clone()).collect();
    state.dirty_subnets.extend(all);
    state.dirty_instances.insert(instance.to_string());
}

/// What each ENI of an instance holds: its subnet and how many addresses and prefixes.
type Fingerprint = BTreeMap<EniId, (SubnetId, usize, usize)>;

fn fingerprint(state: &State, instance: &str) -> Fingerprint {
    state
        .vpc
        .as_ref()
        .map(|vpc| {
            vpc.instance_network_interfaces(instance)
                .iter()
                .map(|e| {
                    (
                        e.id.clone(),
                        (
                            e.subnet_id.clone(),
                            e.secondary_ips.len(),
                            e.ipv4_prefixes.len(),
                        ),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Marks what a pod's address change touched on `instance` (the pod path, which is hot): the
/// ENI holding `address`, and the ENIs and subnets whose addresses ipamd changed since
/// `before`; the rest of the instance is unchanged and not written again.
fn mark_changes(
    state: &mut State,
    instance: &str,
    before: &Fingerprint,
    address: Option<Ipv4Addr>,
) {
    let after = fingerprint(state, instance);
    if after.keys().ne(before.keys()) {
        // ENIs came or went: the whole instance, as after a reconcile.
        mark_instance(state, instance);
        return;
    }
    for (eni, (subnet, ips, prefixes)) in &after {
        if before.get(eni) != Some(&(subnet.clone(), *ips, *prefixes)) {
            state.dirty_enis.insert(eni.clone());
            state.dirty_subnets.insert(subnet.clone());
        }
    }
    if let (Some(address), Some(vpc)) = (address, state.vpc.as_ref()) {
        let holding = vpc
            .instance_network_interfaces(instance)
            .into_iter()
            .find(|e| {
                e.primary_ip == address
                    || e.secondary_ips.contains(&address)
                    || e.ipv4_prefixes.iter().any(|p| p.contains_addr(address))
            });
        if let Some(e) = holding {
            state.dirty_enis.insert(e.id.clone());
        }
    }
}

fn vpc_object(vpc: &Vpc, state: &State) -> (String, Value, Value) {
    let blocks: Vec<String> = vpc
        .cidr_blocks()
        .iter()
        .skip(1)
        .map(Cidr::to_string)
        .collect();
    let mut requested: Vec<String> = state.associations.keys().cloned().collect();
    for b in &blocks {
        if !requested.contains(b) {
            requested.push(b.clone());
        }
    }
    let primary = vpc
        .cidr_blocks()
        .first()
        .map(Cidr::to_string)
        .unwrap_or_default();
    let name = vpc.id().to_string();
    let obj = json!({
        "apiVersion": EC2_API_VERSION, "kind": "VPC",
        "metadata": {"name": name},
        "spec": {"cidrBlock": primary, "cidrBlocks": requested, "region": state.region},
    });
    let mut associations: Vec<Value> = vec![json!({"cidrBlock": primary, "state": "associated"})];
    for b in &blocks {
        associations.push(
            state
                .associations
                .get(b)
                .cloned()
                .unwrap_or_else(|| json!({"cidrBlock": b, "state": "associated"})),
        );
    }
    for (b, a) in &state.associations {
        if !blocks.contains(b) {
            associations.push(a.clone());
        }
    }
    let id_state = serde_json::to_value(vpc)
        .ok()
        .and_then(|v| v["idState"].as_u64())
        .unwrap_or_default();
    let status = json!({"state": "available", "cidrBlockAssociations": associations,
                        "idState": id_state});
    (name, obj, status)
}

fn subnet_object(state: &State, id: &SubnetId) -> Option<(String, Value, Value)> {
    if let Some((code, message)) = state.failed_subnets.get(&id.0) {
        let status = json!({"state": "failed", "code": code, "message": message});
        return Some((id.0.clone(), Value::Null, status)).map(|(n, _, s)| {
            let obj =
                json!({"apiVersion": EC2_API_VERSION, "kind": "Subnet", "metadata": {"name": n}});
            (n, obj, s)
        });
    }
    let vpc = state.vpc.as_ref()?;
    let subnet = vpc.subnet(id).ok()?;
    let available = vpc.available_ip_address_count(id).ok()?;
    let mut labels = serde_json::Map::new();
    if let Some(name) = state.subnet_names.get(id) {
        labels.insert(SUBNET_NAME_LABEL.into(), json!(name));
    }
    let obj = json!({
        "apiVersion": EC2_API_VERSION, "kind": "Subnet",
        "metadata": {"name": id.to_string(), "labels": labels},
        "spec": {"vpcId": vpc.id().to_string(), "availabilityZone": subnet.availability_zone,
                 "availabilityZoneId": subnet.availability_zone_id,
                 "cidrBlock": subnet.cidr.to_string(),
                 "mapPublicIpOnLaunch": subnet.map_public_ip_on_launch},
    });
    let status = json!({"state": "available", "availableIpAddressCount": available});
    Some((id.to_string(), obj, status))
}

fn eni_object(state: &State, id: &EniId) -> Option<Value> {
    let vpc = state.vpc.as_ref()?;
    let eni = vpc.network_interface(id).ok()?;
    let subnet = vpc.subnet(&eni.subnet_id).ok()?;
    let attachment = eni.attachment.as_ref();
    let instance_id = attachment
        .map(|a| a.instance_id.clone())
        .unwrap_or_default();
    let fargate_node = state
        .fargate
        .iter()
        .find(|(_, (eni, _))| eni == id)
        .map(|(node, _)| node.clone());
    let node = state
        .instances
        .get(&instance_id)
        .map(|r| r.node_name.clone())
        .or(fargate_node)
        .unwrap_or_default();
    let mut addresses =
        vec![json!({"privateIpAddress": eni.primary_ip.to_string(), "primary": true})];
    for ip in &eni.secondary_ips {
        let mut a = json!({"privateIpAddress": ip.to_string(), "primary": false});
        if let Some((pod, _)) = state.holders.get(ip) {
            a["pod"] = json!(pod);
        }
        addresses.push(a);
    }
    // Every address of the ENI a pod holds (secondary IPs, prefixes' addresses, a Fargate
    // micro-VM's primary address), so a restart gives each pod its address back.
    let mut held: Vec<(Ipv4Addr, &(String, String))> = Vec::new();
    for ip in std::iter::once(&eni.primary_ip).chain(&eni.secondary_ips) {
        if let Some(h) = state.holders.get(ip) {
            held.push((*ip, h));
        }
    }
    for p in &eni.ipv4_prefixes {
        for n in 0..p.size() {
            if let Some(ip) = p.nth(n)
                && let Some(h) = state.holders.get(&ip)
            {
                held.push((ip, h));
            }
        }
    }
    let pods: Vec<Value> = held
        .iter()
        .map(|(ip, (pod, uid))| json!({"privateIpAddress": ip.to_string(), "pod": pod, "podUid": uid}))
        .collect();
    let prefixes: Vec<String> = eni.ipv4_prefixes.iter().map(Cidr::to_string).collect();
    let count = 1 + eni.secondary_ips.len() + 16 * eni.ipv4_prefixes.len();
    let mut spec = json!({"subnetId": eni.subnet_id.to_string(), "vpcId": vpc.id().to_string(),
             "availabilityZone": subnet.availability_zone,
             "description": eni.description, "nodeName": node});
    if let Some(a) = attachment {
        spec["instanceId"] = json!(a.instance_id);
        spec["deviceIndex"] = json!(a.device_index);
        spec["ipv4PerInterface"] = json!(a.ipv4_per_eni);
    }
    let mut labels = serde_json::Map::new();
    labels.insert(
        "ec2.skiff.dev/subnet-id".into(),
        json!(eni.subnet_id.to_string()),
    );
    if !instance_id.is_empty() {
        labels.insert("ec2.skiff.dev/instance-id".into(), json!(instance_id));
    }
    Some(json!({
        "apiVersion": EC2_API_VERSION, "kind": "NetworkInterface",
        "metadata": {"name": id.to_string(), "labels": labels},
        "spec": spec,
        "status": {"status": if attachment.is_some() { "in-use" } else { "available" },
                   "privateIpAddress": eni.primary_ip.to_string(),
                   "privateIpAddresses": addresses, "ipv4Prefixes": prefixes,
                   "pods": pods,
                   "addressCount": count, "podCount": held.len()},
    }))
}

fn instance_object(r: &InstanceRecord) -> Value {
    json!({
        "apiVersion": EC2_API_VERSION, "kind": "Instance",
        "metadata": {"name": r.id, "labels": {"eks.amazonaws.com/nodegroup": r.node_group}},
        "spec": {"instanceType": r.instance_type, "availabilityZone": r.az,
                 "subnetId": r.subnet.to_string(), "nodeGroup": r.node_group,
                 "capacityType": r.capacity_type, "nodeName": r.node_name},
        "status": {"state": "running", "privateIpAddress": r.private_ip.to_string(),
                   "privateDnsName": r.node_name, "launchTime": r.launch_time},
    })
}

impl PodNetwork for Cloud {
    fn setup<'a>(
        &'a self,
        sandbox: &'a Sandbox,
    ) -> NetworkFuture<'a, Result<Vec<IpAddr>, NetworkError>> {
        Box::pin(async move {
            let now = self.now();
            // ipamd keys a sandbox by the pod's uid: a pod recreated under the same name
            // is a different sandbox.
            let key = sandbox.pod_uid.clone();
            let holder = (
                format!("{}/{}", sandbox.namespace, sandbox.pod),
                sandbox.pod_uid.clone(),
            );
            let mut state = self.lock();
            let state = &mut *state;
            if let Some((eni, ip)) = state.fargate.get(&sandbox.node) {
                // A Fargate pod's address is its micro-VM's.
                let (eni, ip) = (eni.clone(), *ip);
                state.holders.insert(ip, holder);
                state.dirty_enis.insert(eni);
                self.touch();
                return Ok(vec![IpAddr::V4(ip)]);
            }
            let instance = state.node_instance.get(&sandbox.node).cloned();
            let before = instance
                .as_deref()
                .map(|i| fingerprint(state, i))
                .unwrap_or_default();
            let (Some(ipamd), Some(vpc)) =
                (state.ipamds.get_mut(&sandbox.node), state.vpc.as_mut())
            else {
                return Err(ipamd_unreachable());
            };
            let result = ipamd.assign(vpc, &key, now);
            if let Some(instance) = instance {
                mark_changes(state, &instance, &before, result.as_ref().ok().copied());
            }
            self.touch();
            match result {
                Ok(ip) => {
                    state.holders.insert(ip, holder);
                    Ok(vec![IpAddr::V4(ip)])
                }
                Err(e) => Err(NetworkError {
                    plugin: PLUGIN.into(),
                    message: e.to_string(),
                }),
            }
        })
    }

    fn teardown<'a>(&'a self, sandbox: &'a Sandbox) -> NetworkFuture<'a, ()> {
        Box::pin(async move {
            let now = self.now();
            let mut state = self.lock();
            let state = &mut *state;
            let instance = state.node_instance.get(&sandbox.node).cloned();
            let before = instance
                .as_deref()
                .map(|i| fingerprint(state, i))
                .unwrap_or_default();
            let released = state
                .ipamds
                .get_mut(&sandbox.node)
                .and_then(|ipamd| ipamd.release(&sandbox.pod_uid, now));
            state.holders.retain(|_, (_, uid)| uid != &sandbox.pod_uid);
            if let Some((eni, _)) = state.fargate.get(&sandbox.node) {
                let eni = eni.clone();
                state.dirty_enis.insert(eni);
            }
            if let Some(instance) = instance {
                mark_changes(state, &instance, &before, released);
            }
            self.touch();
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dns_names_follow_ec2_per_region() {
        let ip = Ipv4Addr::new(10, 0, 1, 23);
        assert_eq!(
            private_dns_name(ip, "us-east-1"),
            "ip-10-0-1-23.ec2.internal"
        );
        assert_eq!(
            private_dns_name(ip, "us-west-2"),
            "ip-10-0-1-23.us-west-2.compute.internal"
        );
    }

    #[test]
    fn zone_ids_abbreviate_the_region() {
        assert_eq!(zone_id("us-east-1a"), "use1-az1");
        assert_eq!(zone_id("us-west-2c"), "usw2-az3");
        assert_eq!(zone_id("eu-central-1b"), "euc1-az2");
        assert_eq!(zone_id("ap-southeast-1a"), "apse1-az1");
    }
}
