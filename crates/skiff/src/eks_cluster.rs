//! Wiring of the EKS data plane into `skiff up`: the cluster file (or eksctl's default
//! cluster) becomes the simulated VPC, `NodeGroup` and `FargateProfile` objects, the default
//! add-ons, and the running pieces: the simulated EC2 and VPC CNI ([`aws::cloud::Cloud`]),
//! the managed node-group loop and the fargate-scheduler, whose instances and micro-VMs
//! become simulated kubelets.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws::catalog::{MaxPodsOptions, catalog, node_resources};
use aws::cloud::{Cloud, RunInstance, SubnetRequest};
use aws::vpc::Cidr;
use eks::config::Cluster;
use eks::fargate_runtime::{FargateLaunch, FargateMachines};
use eks::nodegroup::{LaunchError, LaunchRequest, MachineFuture, Machines};
use k8s_openapi::api::core::v1::{Node, NodeAddress, Taint};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::core::GroupVersionKind;
use kube::{Client, ResourceExt};
use node_agent::{NodeAgent, NodeSpec};
use serde_json::{Value, json};

use crate::UpError;

/// The AMI the simulated managed nodes report (`eks.amazonaws.com/nodegroup-image`).
const NODE_AMI: &str = "ami-0a1b2c3d4e5f60718";
/// The build suffix of EKS's kubelet versions.
const KUBELET_BUILD: &str = "3025e55";

fn bootstrap_err(e: impl std::fmt::Display) -> UpError {
    UpError::Bootstrap(api::ApiError::Internal(e.to_string()))
}

/// Creates `obj` unless an object of its name exists.
async fn create_missing(api: &Api<DynamicObject>, obj: &Value) -> Result<bool, UpError> {
    let object: DynamicObject = serde_json::from_value(obj.clone()).map_err(bootstrap_err)?;
    // Checked first: creating an existing Service with a fixed ClusterIP fails on the
    // address (422), not on the name.
    if api
        .get_opt(&object.name_any())
        .await
        .map_err(bootstrap_err)?
        .is_some()
    {
        return Ok(false);
    }
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(bootstrap_err(e)),
    }
}

fn dynamic(client: &Client, obj: &Value) -> Option<Api<DynamicObject>> {
    let api_version = obj["apiVersion"].as_str()?;
    let kind = obj["kind"].as_str()?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let plural = match kind {
        "ServiceAccount" => "serviceaccounts".to_string(),
        "DaemonSet" => "daemonsets".to_string(),
        "Deployment" => "deployments".to_string(),
        "Service" => "services".to_string(),
        other => format!("{}s", other.to_ascii_lowercase()),
    };
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural);
    Some(match obj["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    })
}

/// Installs the CRDs of the simulated cloud and of EKS and waits until they are served.
pub(crate) async fn install_crds(client: &Client) -> Result<(), UpError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in aws::resources::crds()
        .into_iter()
        .chain(eks::resources::crds())
    {
        let object: CustomResourceDefinition =
            serde_json::from_value(crd).map_err(bootstrap_err)?;
        match crds.create(&PostParams::default(), &object).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {
                // Keep the definition current with this skiff (printer columns, schema).
                let name = object.name_any();
                let params = PatchParams::apply("skiff").force();
                let mut body = serde_json::to_value(&object).map_err(bootstrap_err)?;
                body["metadata"] = json!({"name": name});
                crds.patch(&name, &params, &Patch::Apply(&body))
                    .await
                    .map_err(bootstrap_err)?;
            }
            Err(e) => return Err(bootstrap_err(e)),
        }
    }
    let probe: Api<DynamicObject> =
        Api::all_with(client.clone(), &eks::nodegroup::node_group_resource());
    for _ in 0..100 {
        if probe.list(&ListParams::default().limit(1)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Err(bootstrap_err(
        "the EKS resources were not served after their CRDs were created",
    ))
}

/// The running EKS data plane's machines: EC2 instances and Fargate micro-VMs that become
/// simulated kubelets.
pub(crate) struct Machinery {
    pub cloud: Cloud,
    pub agent: NodeAgent,
    pub client: Client,
    pub kubernetes_version: String,
    fargate_launches: AtomicU64,
    seed: u64,
}

impl Machinery {
    pub fn new(cloud: Cloud, agent: NodeAgent, client: Client, seed: u64) -> Machinery {
        Machinery {
            cloud,
            agent,
            client,
            kubernetes_version: apiserver::KUBERNETES_VERSION.to_string(),
            fargate_launches: AtomicU64::new(0),
            seed,
        }
    }

    /// The max pods a new node of `it` gets: the EKS AMI calculator's recommendation in the
    /// CNI's current mode for managed node groups (EKS caps it at 110, or 250 above 30
    /// vCPUs), the uncapped ENI figure for self-managed ones (nodeadm), and the group's
    /// `maxPodsPerNode` when lower.
    fn max_pods(&self, it: &aws::catalog::InstanceType, managed: bool, limit: Option<u32>) -> u32 {
        let (custom_networking, prefix_delegation) = self.cloud.max_pods_modes();
        let options = MaxPodsOptions {
            custom_networking,
            prefix_delegation,
            show_max_allowed: !managed,
            ..MaxPodsOptions::default()
        };
        let pods = if managed {
            it.max_pods(&options)
        } else {
            // nodeadm's standard value: the ENI formula, whatever the CNI's mode.
            it.eni_max_pods()
        };
        limit.map_or(pods, |l| l.min(pods))
    }

    async fn launch_instance(&self, request: &LaunchRequest) -> Result<String, LaunchError> {
        let it = catalog()
            .lookup(&request.instance_type)
            .map_err(|e| LaunchError {
                code: "InvalidParameterValue".into(),
                message: e.to_string(),
            })?;
        let managed = !request.labels.contains_key("alpha.eksctl.io/self-managed");
        let max_pods = self.max_pods(it, managed, request.max_pods_per_node);
        let resources =
            node_resources(it, max_pods, request.volume_gib).map_err(|e| LaunchError {
                code: "InvalidParameterValue".into(),
                message: e.to_string(),
            })?;
        let arch = it.architecture.map(|a| a.as_str()).unwrap_or("amd64");
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        let zone = request.availability_zone.clone();
        let region = self.cloud.region().to_string();
        for (k, v) in [
            ("beta.kubernetes.io/arch", arch),
            ("beta.kubernetes.io/instance-type", it.name.as_str()),
            ("beta.kubernetes.io/os", "linux"),
            (
                "eks.amazonaws.com/capacityType",
                request.capacity_type.as_str(),
            ),
            ("eks.amazonaws.com/nodegroup", request.node_group.as_str()),
            ("eks.amazonaws.com/nodegroup-image", NODE_AMI),
            ("failure-domain.beta.kubernetes.io/region", region.as_str()),
            ("failure-domain.beta.kubernetes.io/zone", zone.as_str()),
            ("kubernetes.io/arch", arch),
            ("kubernetes.io/os", "linux"),
            ("node.kubernetes.io/instance-type", it.name.as_str()),
            ("topology.kubernetes.io/region", region.as_str()),
            ("topology.kubernetes.io/zone", zone.as_str()),
        ] {
            labels.insert(k.to_string(), v.to_string());
        }
        labels.insert(
            eks::nodegroup::LAUNCH_TEMPLATE_VERSION_LABEL.to_string(),
            request.launch_template_version.to_string(),
        );
        labels.extend(request.labels.clone());
        let launched = self
            .cloud
            .run_instance(&RunInstance {
                instance_type: it,
                subnet: aws::vpc::SubnetId(request.subnet_id.clone()),
                node_group: request.node_group.clone(),
                capacity_type: request.capacity_type.clone(),
                node_labels: labels.clone(),
                max_pods,
            })
            .map_err(|e| LaunchError {
                code: e.code.to_string(),
                message: e.message.clone(),
            })?;
        labels.insert(
            "topology.k8s.aws/zone-id".into(),
            launched.availability_zone_id.clone(),
        );
        labels.insert(
            "kubernetes.io/hostname".into(),
            launched.private_dns_name.clone(),
        );
        let ip = launched.private_ip.to_string();
        let address = |type_: &str, address: &str| NodeAddress {
            type_: type_.to_string(),
            address: address.to_string(),
        };
        let spec = NodeSpec {
            name: launched.private_dns_name.clone(),
            labels,
            annotations: BTreeMap::from([(
                "alpha.kubernetes.io/provided-node-ip".to_string(),
                ip.clone(),
            )]),
            taints: request.taints.clone(),
            capacity: resources.capacity,
            allocatable: resources.allocatable,
            provider_id: Some(format!("aws:///{zone}/{}", launched.instance_id)),
            addresses: vec![
                address("InternalIP", &ip),
                address("InternalDNS", &launched.private_dns_name),
                address("Hostname", &launched.private_dns_name),
            ],
            pod_cidr: None,
            architecture: arch.to_string(),
            os_image: "Amazon Linux 2023.9.20251110".into(),
            kernel_version: if arch == "arm64" {
                "6.12.53-69.119.amzn2023.aarch64".into()
            } else {
                "6.12.53-69.119.amzn2023.x86_64".into()
            },
            kubelet_version: format!("{}-eks-{KUBELET_BUILD}", self.kubernetes_version),
            container_runtime_version: "containerd://2.1.4".into(),
        };
        let name = spec.name.clone();
        if let Err(e) = self.agent.add_node(spec).await {
            self.cloud.terminate_node(&name);
            return Err(LaunchError {
                code: "InternalError".into(),
                message: e.to_string(),
            });
        }
        Ok(name)
    }

    async fn stop_node(&self, node: &str) -> Result<(), LaunchError> {
        let _ = self.agent.remove_node(node).await;
        self.cloud.terminate_node(node);
        let nodes: Api<Node> = Api::all(self.client.clone());
        match nodes.delete(node, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(LaunchError {
                code: "InternalError".into(),
                message: e.to_string(),
            }),
        }
    }

    async fn launch_fargate(&self, request: &FargateLaunch) -> Result<String, LaunchError> {
        let n = self.fargate_launches.fetch_add(1, Ordering::Relaxed);
        let key = format!("{}/{}", request.namespace, request.pod);
        let launched = self
            .cloud
            .run_fargate(&request.subnets, &key)
            .map_err(|e| LaunchError {
                code: e.code.to_string(),
                message: e.message.clone(),
            })?;
        let region = self.cloud.region().to_string();
        let ip: Ipv4Addr = launched.private_ip;
        let name = eks::fargate::fargate_node_name(ip, &region);
        let zone = launched.availability_zone.clone();
        let mut labels = eks::fargate::fargate_node_labels(&zone, &region, ip);
        labels.insert(
            "topology.k8s.aws/zone-id".into(),
            launched.availability_zone_id.clone(),
        );
        let resources = eks::fargate::fargate_node_capacity(&request.size);
        let task = eks::fargate::fargate_task_id(self.seed.wrapping_add(n));
        let spec = NodeSpec {
            name: name.clone(),
            labels,
            annotations: BTreeMap::from([(
                "node.alpha.kubernetes.io/ttl".to_string(),
                "0".to_string(),
            )]),
            taints: vec![eks::fargate::fargate_node_taint()],
            capacity: resources.capacity,
            allocatable: resources.allocatable,
            provider_id: Some(eks::fargate::fargate_provider_id(&zone, &task, &name)),
            addresses: eks::fargate::fargate_node_addresses(ip, &region),
            pod_cidr: None,
            architecture: "amd64".into(),
            os_image: eks::fargate::node::OS_IMAGE.into(),
            kernel_version: eks::fargate::node::OBSERVED_KERNEL_VERSION.into(),
            kubelet_version: eks::fargate::eks_kubelet_version(
                self.kubernetes_version.trim_start_matches('v'),
                KUBELET_BUILD,
            ),
            container_runtime_version: eks::fargate::node::OBSERVED_CONTAINER_RUNTIME.into(),
        };
        if let Err(e) = self.agent.add_node(spec).await {
            self.cloud.terminate_node(&name);
            return Err(LaunchError {
                code: "InternalError".into(),
                message: e.to_string(),
            });
        }
        Ok(name)
    }
}

/// The binary's [`Machines`] and [`FargateMachines`].
#[derive(Clone)]
pub(crate) struct MachineryHandle(pub Arc<Machinery>);

impl Machines for MachineryHandle {
    fn launch<'a>(
        &'a self,
        request: &'a LaunchRequest,
    ) -> MachineFuture<'a, Result<String, LaunchError>> {
        Box::pin(self.0.launch_instance(request))
    }

    fn terminate<'a>(&'a self, node: &'a str) -> MachineFuture<'a, Result<(), LaunchError>> {
        Box::pin(self.0.stop_node(node))
    }
}

impl FargateMachines for MachineryHandle {
    fn launch<'a>(
        &'a self,
        request: &'a FargateLaunch,
    ) -> MachineFuture<'a, Result<String, LaunchError>> {
        Box::pin(self.0.launch_fargate(request))
    }

    fn terminate<'a>(&'a self, node: &'a str) -> MachineFuture<'a, Result<(), LaunchError>> {
        Box::pin(self.0.stop_node(node))
    }
}

/// Writes the cluster's objects on first start (or brings node groups in line with the file
/// on a later start): add-ons, the VPC (through `cloud`), node groups and Fargate profiles.
/// The CRDs are already installed (`start_eks` does it on every server).
pub(crate) async fn provision(
    client: &Client,
    cloud: &Cloud,
    cluster: &Cluster,
    from_file: bool,
) -> Result<(), UpError> {
    // Add-ons (created once; users may change them afterwards, as on EKS).
    let mut versions = eks::addons::versions(&cluster.version)
        .or_else(|| eks::addons::versions(eks::config::DEFAULT_VERSION))
        .ok_or_else(|| bootstrap_err("no add-on versions"))?;
    // A version the file names is the image tag EKS would run (`latest` and `default` keep
    // the listed one).
    for addon in &cluster.addons {
        let Some(v) = addon
            .version
            .as_deref()
            .filter(|v| !matches!(*v, "latest" | "default" | ""))
        else {
            continue;
        };
        let v = if v.starts_with('v') {
            v.to_string()
        } else {
            format!("v{v}")
        };
        match addon.name.as_str() {
            "vpc-cni" => versions.vpc_cni = v,
            "kube-proxy" => versions.kube_proxy = v,
            "coredns" => versions.coredns = v,
            _ => {}
        }
    }
    let mut env = eks::addons::vpc_cni_default_env();
    env.extend(cluster.vpc_cni_env.clone());
    let wanted: Vec<&str> = cluster.addons.iter().map(|a| a.name.as_str()).collect();
    for obj in eks::addons::manifests(&cluster.region, &versions, &env) {
        let addon = match obj["metadata"]["name"].as_str().unwrap_or_default() {
            "aws-node" => "vpc-cni",
            "kube-proxy" => "kube-proxy",
            _ => "coredns",
        };
        if !wanted.contains(&addon) {
            continue;
        }
        if let Some(api) = dynamic(client, &obj) {
            create_missing(&api, &obj).await?;
        }
    }
    // The VPC: loaded from its objects on a restart, else created from the file.
    let loaded = cloud.load().await.map_err(bootstrap_err)?;
    let mut subnet_ids: BTreeMap<String, String> = BTreeMap::new();
    if loaded {
        for (id, name) in cloud.subnet_names() {
            subnet_ids.insert(name, id);
        }
    } else {
        let cidr: Cidr = cluster
            .vpc
            .cidr
            .to_string()
            .parse()
            .map_err(bootstrap_err)?;
        let requests: Vec<SubnetRequest> = cluster
            .vpc
            .subnets
            .iter()
            .map(|s| {
                Ok(SubnetRequest {
                    name: s.name.clone(),
                    availability_zone: s.az.clone(),
                    availability_zone_id: zone_id(&cluster.region, &s.az),
                    cidr: s.cidr.to_string().parse().map_err(bootstrap_err)?,
                    public: s.public,
                })
            })
            .collect::<Result<_, UpError>>()?;
        let ids = cloud.create_vpc(cidr, &requests).map_err(bootstrap_err)?;
        for (s, id) in cluster.vpc.subnets.iter().zip(ids) {
            subnet_ids.insert(s.name.clone(), id.to_string());
        }
    }
    cloud.set_cni_env(env);
    // The node groups read their subnets' zones from the Subnet objects.
    cloud.flush().await;
    let groups: Api<DynamicObject> =
        Api::all_with(client.clone(), &eks::nodegroup::node_group_resource());
    for g in &cluster.node_groups {
        let subnets: Vec<&String> = g.subnets.iter().filter_map(|n| subnet_ids.get(n)).collect();
        let taints: Vec<Value> = g
            .taints
            .iter()
            .map(|t| json!({"key": t.key, "value": t.value, "effect": t.effect.as_str()}))
            .collect();
        let mut labels = g.labels.clone();
        if !g.managed {
            labels.insert("alpha.eksctl.io/self-managed".into(), "true".into());
        }
        let mut spec = json!({
            "managed": g.managed,
            "instanceTypes": g.instance_types,
            "capacityType": if g.spot { "SPOT" } else { "ON_DEMAND" },
            "scalingConfig": {"minSize": g.min, "maxSize": g.max, "desiredSize": g.desired},
            "subnets": subnets,
            "labels": labels,
            "taints": taints,
            "maxPodsPerNode": g.max_pods_per_node,
            "diskSize": g.volume_gib,
            "amiType": g.ami_family,
        });
        if let Some(map) = spec.as_object_mut() {
            map.retain(|_, v| !v.is_null());
        }
        let mut obj = json!({
            "apiVersion": eks::resources::EKS_API_VERSION, "kind": "NodeGroup",
            "metadata": {"name": g.name},
            "spec": spec.clone(),
        });
        obj["spec"]["launchTemplateVersion"] = json!(1);
        let created = create_missing(&groups, &obj).await?;
        if !created && from_file {
            // The file is the source of truth for sizes and types on a restart.
            let patch = json!({"spec": {
                "instanceTypes": spec["instanceTypes"],
                "scalingConfig": spec["scalingConfig"],
                "labels": spec["labels"],
                "taints": spec["taints"],
            }});
            groups
                .patch(&g.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(bootstrap_err)?;
        }
    }
    let profiles: Api<DynamicObject> =
        Api::all_with(client.clone(), &eks::fargate_runtime::profile_resource());
    for p in &cluster.fargate_profiles {
        let profile = eks::fargate::FargateProfile {
            name: p.name.clone(),
            selectors: p
                .selectors
                .iter()
                .map(|(namespace, labels)| eks::fargate::Selector {
                    namespace: namespace.clone(),
                    labels: labels.clone(),
                })
                .collect(),
            subnets: p
                .subnets
                .iter()
                .filter_map(|n| subnet_ids.get(n).cloned())
                .collect(),
        };
        create_missing(&profiles, &eks::fargate_runtime::profile_object(&profile)).await?;
    }
    Ok(())
}

/// The zone id of `az` from the region table, else derived from its letter.
fn zone_id(region: &str, az: &str) -> String {
    eks::config::regions::availability_zones(region)
        .and_then(|zones| {
            zones
                .iter()
                .find(|z| z.name == az)
                .map(|z| z.id.to_string())
        })
        .unwrap_or_else(|| aws::cloud::zone_id(az))
}

/// The NodeSpec of a Node object written by an earlier run (its kubelet restarts as it was).
pub(crate) fn node_spec_from(node: &Node) -> NodeSpec {
    let status = node.status.clone().unwrap_or_default();
    let info = status.node_info.clone().unwrap_or_default();
    let spec = node.spec.clone().unwrap_or_default();
    NodeSpec {
        name: node.name_any(),
        labels: node.labels().clone(),
        annotations: node
            .annotations()
            .iter()
            .filter(|(k, _)| {
                !k.starts_with("node.alpha.kubernetes.io/ttl")
                    && !k.starts_with("volumes.kubernetes.io")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        taints: spec
            .taints
            .unwrap_or_default()
            .into_iter()
            .filter(|t: &Taint| !t.key.starts_with("node.kubernetes.io/"))
            .collect(),
        capacity: status.capacity.unwrap_or_default(),
        allocatable: status.allocatable.unwrap_or_default(),
        provider_id: spec.provider_id,
        addresses: status.addresses.unwrap_or_default(),
        pod_cidr: spec.pod_cidr,
        architecture: info.architecture,
        os_image: info.os_image,
        kernel_version: info.kernel_version,
        kubelet_version: info.kubelet_version,
        container_runtime_version: info.container_runtime_version,
    }
}

/// Restarts the kubelets of the instances an earlier run launched.
pub(crate) async fn restart_nodes(
    client: &Client,
    cloud: &Cloud,
    agent: &NodeAgent,
) -> Result<(), UpError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let list = nodes
        .list(&ListParams::default())
        .await
        .map_err(bootstrap_err)?;
    for node in list.items {
        let name = node.name_any();
        if cloud.has_node(&name) {
            agent
                .add_node(node_spec_from(&node))
                .await
                .map_err(|source| UpError::Node {
                    node: name,
                    source: Box::new(source),
                })?;
        }
    }
    Ok(())
}

/// The pod network the kubelets call: the simulated cloud of the current term of this
/// server's leadership of the data plane, or none between terms (then the CNI answers as
/// when ipamd is not running).
#[derive(Default)]
pub(crate) struct NetworkSlot(std::sync::RwLock<Option<Cloud>>);

impl NetworkSlot {
    pub fn set(&self, cloud: Option<Cloud>) {
        if let Ok(mut slot) = self.0.write() {
            *slot = cloud;
        }
    }

    fn current(&self) -> Option<Cloud> {
        self.0.read().ok().and_then(|c| c.clone())
    }
}

impl api::cni::PodNetwork for NetworkSlot {
    fn setup<'a>(
        &'a self,
        sandbox: &'a api::cni::Sandbox,
    ) -> api::cni::NetworkFuture<'a, Result<Vec<std::net::IpAddr>, api::cni::NetworkError>> {
        Box::pin(async move {
            match self.current() {
                Some(cloud) => cloud.setup(sandbox).await,
                None => Err(aws::cloud::ipamd_unreachable()),
            }
        })
    }

    fn teardown<'a>(&'a self, sandbox: &'a api::cni::Sandbox) -> api::cni::NetworkFuture<'a, ()> {
        Box::pin(async move {
            if let Some(cloud) = self.current() {
                cloud.teardown(sandbox).await;
            }
        })
    }
}

/// One term of this server's leadership of the data plane (Lease `kube-system/skiff-cloud`):
/// the simulated cloud loaded from its objects (or created), the kubelets of its instances,
/// the node groups and the fargate-scheduler, until the term ends; then this server's
/// kubelets stop, and the next leader starts them again.
#[derive(Clone)]
pub(crate) struct DataPlane {
    pub admin: Client,
    pub aws_client: Client,
    pub nodegroup_client: Client,
    pub fargate_client: Client,
    pub cluster: Cluster,
    pub from_file: bool,
    pub clock: api::clock::Clock,
    pub seed: u64,
    pub slot: Arc<NetworkSlot>,
    pub agent: NodeAgent,
    pub profiles: eks::fargate_runtime::Profiles,
    /// Told how the first term's provisioning went (`up` waits for it).
    pub started: Arc<tokio::sync::watch::Sender<Option<Result<(), String>>>>,
}

impl DataPlane {
    pub async fn run(self, term: tokio_util::sync::CancellationToken) {
        let cloud = loop {
            let cloud = Cloud::new(
                self.aws_client.clone(),
                aws::cloud::CloudConfig {
                    region: self.cluster.region.clone(),
                    cluster_name: self.cluster.name.clone(),
                    clock: self.clock,
                    seed: self.seed,
                },
            );
            match provision(&self.admin, &cloud, &self.cluster, self.from_file).await {
                Ok(()) => break cloud,
                Err(error) => {
                    tracing::error!(%error, "provisioning the EKS data plane failed; retrying");
                    self.started.send_if_modified(|s| {
                        let first = s.is_none();
                        if first {
                            *s = Some(Err(error.to_string()));
                        }
                        first
                    });
                }
            }
            tokio::select! {
                _ = term.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            }
        };
        // The admission applies the file's profiles from the first pod on (its watch may
        // not have seen them yet).
        if let Err(error) = self.profiles.refresh(&self.admin).await {
            tracing::warn!(%error, "reading Fargate profiles failed");
        }
        self.slot.set(Some(cloud.clone()));
        if let Err(error) = restart_nodes(&self.admin, &cloud, &self.agent).await {
            tracing::error!(%error, "restarting the kubelets of the cluster's instances failed");
        }
        self.started.send_if_modified(|s| {
            let first = s.is_none();
            if first {
                *s = Some(Ok(()));
            }
            first
        });
        let machinery = MachineryHandle(Arc::new(Machinery::new(
            cloud.clone(),
            self.agent.clone(),
            self.admin.clone(),
            self.seed,
        )));
        let tasks = [
            tokio::spawn(cloud.run(term.clone())),
            tokio::spawn(eks::nodegroup::run(
                self.nodegroup_client.clone(),
                Arc::new(machinery.clone()),
                self.clock,
                term.clone(),
            )),
            tokio::spawn(eks::fargate_runtime::run(
                self.fargate_client.clone(),
                Arc::new(machinery),
                self.profiles.clone(),
                self.clock,
                term.clone(),
            )),
        ];
        term.cancelled().await;
        for task in tasks {
            let _ = task.await;
        }
        for node in self.agent.node_names() {
            let _ = self.agent.remove_node(&node).await;
        }
        self.slot.set(None);
    }
}
