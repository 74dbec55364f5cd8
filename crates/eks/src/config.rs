//! eksctl's `ClusterConfig` (`apiVersion: eksctl.io/v1alpha5`, `kind: ClusterConfig`): the file
//! `skiff up -f cluster.yaml` reads, with eksctl's field names, defaults and messages.
//!
//! - [`parse`] reads YAML or JSON into a typed [`ClusterConfig`]. Keys eksctl does not know are
//!   errors (eksctl decodes strictly); keys eksctl knows but skiff does not simulate become
//!   [`Warning`]s naming the field, never silently dropped.
//! - [`resolve`] applies eksctl's defaults and validation and returns the [`Cluster`] skiff
//!   builds: the VPC with its subnets, node groups with their sizes and subnets, Fargate
//!   profiles, add-ons and the VPC CNI's environment. Invalid files get a [`ConfigError`]
//!   listing every [`FieldError`] found, each naming its field.
//! - [`load`] does both; [`default_cluster`] is what `eksctl create cluster` makes with no
//!   flags.
//!
//! Sources: eksctl-io/eksctl @ 99984adb6164, `pkg/apis/eksctl.io/v1alpha5/{types,defaults,
//! validation,vpc,addon,known_addons}.go`, `pkg/vpc/vpc.go` (subnet split and node group
//! subnets), `pkg/az/az.go` (zone choice), `pkg/cfn/builder/nodegroup.go` (unmanaged sizes),
//! `pkg/ctl/cmdutils/configfile.go` (required metadata), `pkg/eks/api.go` (strict decoding),
//! `pkg/eks/versions_manager.go` (version messages), `pkg/utils/taints/taints.go`.

mod cidr;
pub mod regions;
mod schema;
mod walk;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use cidr::{CidrParseError, Ipv4Cidr};
use walk::Coverage;

/// The only `apiVersion` skiff reads.
pub const API_VERSION: &str = "eksctl.io/v1alpha5";
/// The only `kind` skiff reads.
pub const KIND: &str = "ClusterConfig";
/// The Kubernetes version a cluster gets when `metadata.version` is unset or `auto`. skiff's
/// choice; eksctl @ 99984adb6164 defaults to 1.34 (`DefaultVersion` in `types.go`).
pub const DEFAULT_VERSION: &str = "1.33";
/// The EKS versions skiff creates clusters at, oldest first (`latest` means the last).
pub const SUPPORTED_VERSIONS: &[&str] = &["1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34"];
/// eksctl's `DefaultRegion`, used by [`default_cluster`] callers with no region of their own.
pub const DEFAULT_REGION: &str = "us-west-2";
/// eksctl's `DefaultCIDR()`: the VPC CIDR when `vpc.cidr` is unset.
pub const DEFAULT_VPC_CIDR: &str = "192.168.0.0/16";
/// eksctl's `DefaultNodeType`.
pub const DEFAULT_NODE_TYPE: &str = "m5.large";
/// eksctl's `DefaultNodeCount`: the node count when no size is given.
pub const DEFAULT_NODE_COUNT: u32 = 2;
/// eksctl's `DefaultNodeVolumeSize`, in GiB.
pub const DEFAULT_VOLUME_SIZE_GIB: u32 = 80;
/// eksctl's `DefaultNodeImageFamily`.
pub const DEFAULT_AMI_FAMILY: &str = "AmazonLinux2023";
/// The most selectors one Fargate profile may have (EKS's limit).
pub const MAX_FARGATE_SELECTORS: usize = 5;
/// The add-ons skiff runs; other add-ons in a file are warned about and ignored.
pub const MODELLED_ADDONS: &[&str] = &["vpc-cni", "coredns", "kube-proxy"];

/// eksctl's `SupportedAMIFamilies()`.
const SUPPORTED_AMI_FAMILIES: &[&str] = &[
    "AmazonLinux2023",
    "AmazonLinux2",
    "UbuntuPro2604",
    "Ubuntu2604",
    "UbuntuPro2404",
    "Ubuntu2404",
    "UbuntuPro2204",
    "Ubuntu2204",
    "UbuntuPro2004",
    "Ubuntu2004",
    "Bottlerocket",
    "BottlerocketFips",
    "WindowsServer2019CoreContainer",
    "WindowsServer2019FullContainer",
    "WindowsServer2022CoreContainer",
    "WindowsServer2022FullContainer",
    "WindowsServer2025CoreContainer",
    "WindowsServer2025FullContainer",
];

// ---------------------------------------------------------------------------------------------
// Findings
// ---------------------------------------------------------------------------------------------

/// A field in the file that skiff accepted but does not simulate, or a choice worth knowing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The field, as eksctl names paths (`managedNodeGroups[0].ssh`).
    pub path: String,
    /// What skiff does with it.
    pub message: String,
}

/// One thing wrong with a ClusterConfig, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field (`managedNodeGroups[1].desiredCapacity`); empty for the whole document.
    pub path: String,
    /// eksctl's (or EC2's) message where one exists.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A ClusterConfig skiff cannot use, with everything found wrong in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_errors(.errors))]
pub struct ConfigError {
    /// Every problem found, in file order where possible.
    pub errors: Vec<FieldError>,
}

fn render_errors(errors: &[FieldError]) -> String {
    let mut out = format!(
        "invalid ClusterConfig ({} error{}):",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    for error in errors {
        out.push_str("\n  ");
        out.push_str(&error.to_string());
    }
    out
}

impl ConfigError {
    fn one(path: &str, message: impl Into<String>) -> Self {
        ConfigError {
            errors: vec![FieldError {
                path: path.to_string(),
                message: message.into(),
            }],
        }
    }

    /// The first error naming `path`, if any (for tests and callers that branch on a field).
    pub fn at(&self, path: &str) -> Option<&FieldError> {
        self.errors.iter().find(|e| e.path == path)
    }
}

// ---------------------------------------------------------------------------------------------
// The typed file
// ---------------------------------------------------------------------------------------------

/// eksctl's `ClusterConfig`, limited to the fields skiff simulates (field names as eksctl's).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfig {
    /// Must be `eksctl.io/v1alpha5`.
    #[serde(default)]
    pub api_version: String,
    /// Must be `ClusterConfig`.
    #[serde(default)]
    pub kind: String,
    /// Name, region, version and tags of the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ClusterMeta>,
    /// The VPC eksctl creates (or the subnets it is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<ClusterVpc>,
    /// The zones to create subnets in; cannot be combined with `vpc.subnets`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub availability_zones: Vec<String>,
    /// EKS managed node groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_node_groups: Vec<ManagedNodeGroup>,
    /// Self-managed (eksctl "unmanaged") node groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_groups: Vec<NodeGroup>,
    /// Fargate profiles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fargate_profiles: Vec<FargateProfile>,
    /// EKS add-ons; when empty, the default add-ons are installed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addons: Vec<Addon>,
    /// Add-on settings for the whole cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addons_config: Option<AddonsConfig>,
    /// Cluster IAM; skiff reads only `withOIDC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<ClusterIam>,
}

/// eksctl's `ClusterMeta`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterMeta {
    /// The cluster name (required).
    #[serde(default)]
    pub name: String,
    /// The AWS region (required in a config file).
    #[serde(default)]
    pub region: String,
    /// The Kubernetes version (`"1.33"`, `auto`, `latest`); unset means [`DEFAULT_VERSION`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Tags for the AWS resources of the cluster.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// eksctl's `ClusterVPC`, limited to what skiff simulates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterVpc {
    /// The ID of an existing VPC; skiff simulates a VPC with this ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The VPC's IPv4 CIDR; unset means [`DEFAULT_VPC_CIDR`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    /// Subnets given explicitly, by AZ or by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnets: Option<ClusterSubnets>,
    /// The NAT gateway mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<ClusterNat>,
}

/// eksctl's `ClusterSubnets`: maps from an AZ (or a subnet name) to the subnet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSubnets {
    /// Private subnets (no route to an internet gateway).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub private: BTreeMap<String, SubnetSpec>,
    /// Public subnets (routed to an internet gateway).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub public: BTreeMap<String, SubnetSpec>,
}

/// eksctl's `AZSubnetSpec`. When `az` is unset the map key is the AZ.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubnetSpec {
    /// The subnet ID (kept as the simulated subnet's ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The availability zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub az: Option<String>,
    /// The subnet's IPv4 CIDR (skiff needs it: there is no real subnet to look up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
}

/// eksctl's `ClusterNAT`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNat {
    /// `Single` (default), `HighlyAvailable` or `Disable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// One taint in eksctl's list form.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeGroupTaint {
    /// The taint key.
    #[serde(default)]
    pub key: String,
    /// The taint value (may be empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[serde(default)]
    pub effect: String,
}

/// Self-managed node group taints: eksctl accepts a list or a `key: "value:Effect"` map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Taints {
    /// `[{key, value, effect}]`.
    List(Vec<NodeGroupTaint>),
    /// `{key: "value:Effect"}` or `{key: "Effect"}`.
    Map(BTreeMap<String, String>),
}

/// The fields managed and self-managed node groups share (eksctl's `NodeGroupBase`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeGroupBase {
    /// The node group name (required, unique across both kinds).
    #[serde(default)]
    pub name: String,
    /// The AMI family; unset means [`DEFAULT_AMI_FAMILY`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ami_family: Option<String>,
    /// The instance type; unset means [`DEFAULT_NODE_TYPE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    /// Zones to place nodes in (excludes `subnets`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub availability_zones: Vec<String>,
    /// Subnets (by name in `vpc.subnets`, or ID) to place nodes in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    /// The desired node count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_capacity: Option<i64>,
    /// The minimum node count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<i64>,
    /// The maximum node count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<i64>,
    /// Root volume size in GiB; unset means [`DEFAULT_VOLUME_SIZE_GIB`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_size: Option<i64>,
    /// Kubernetes labels for the nodes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Whether nodes go in private subnets (else public ones).
    #[serde(default)]
    pub private_networking: bool,
    /// Tags for the node group's AWS resources.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The kubelet's `--max-pods`; unset or 0 means the AMI's calculated value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pods_per_node: Option<i64>,
}

/// eksctl's `ManagedNodeGroup`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedNodeGroup {
    /// The shared node group fields.
    #[serde(flatten)]
    pub base: NodeGroupBase,
    /// Several instance types (excludes `instanceType`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_types: Vec<String>,
    /// Spot capacity.
    #[serde(default)]
    pub spot: bool,
    /// Taints, as a list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<NodeGroupTaint>,
}

/// eksctl's `NodeGroupInstancesDistribution`, limited to its instance types.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstancesDistribution {
    /// The instance types of a mixed-instances group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_types: Vec<String>,
}

/// eksctl's `NodeGroup` (self-managed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeGroup {
    /// The shared node group fields.
    #[serde(flatten)]
    pub base: NodeGroupBase,
    /// Mixed instance types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances_distribution: Option<InstancesDistribution>,
    /// Taints, as a list or a map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taints: Option<Taints>,
}

/// eksctl's `FargateProfile`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FargateProfile {
    /// The profile name.
    #[serde(default)]
    pub name: String,
    /// The pod execution role (kept; IAM is not simulated).
    #[serde(
        default,
        rename = "podExecutionRoleARN",
        skip_serializing_if = "Option::is_none"
    )]
    pub pod_execution_role_arn: Option<String>,
    /// Which pods run on Fargate (at most 5).
    #[serde(default)]
    pub selectors: Vec<FargateProfileSelector>,
    /// Private subnets for the pods; unset means all private subnets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    /// Tags for the profile.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// eksctl's `FargateProfileSelector`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FargateProfileSelector {
    /// The namespace (required; `*` and `?` wildcards allowed).
    #[serde(default)]
    pub namespace: String,
    /// Labels a pod must all carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// eksctl's `Addon`, limited to what skiff reads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Addon {
    /// The add-on name (`vpc-cni`).
    #[serde(default)]
    pub name: String,
    /// The add-on version (`v1.20.1-eksbuild.3`, `latest`); unset means the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The add-on configuration, a JSON or YAML document in a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_values: Option<String>,
    /// `none`, `overwrite` or `preserve`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_conflicts: Option<String>,
}

/// eksctl's `AddonsConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonsConfig {
    /// Skip the default add-ons (vpc-cni, coredns, kube-proxy).
    #[serde(default)]
    pub disable_default_addons: bool,
}

/// eksctl's `ClusterIAM`, limited to `withOIDC`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterIam {
    /// Whether the cluster gets an IAM OIDC provider.
    #[serde(default, rename = "withOIDC", skip_serializing_if = "Option::is_none")]
    pub with_oidc: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// The resolved cluster
// ---------------------------------------------------------------------------------------------

/// The cluster skiff builds from a ClusterConfig, with every default applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cluster {
    /// The cluster name.
    pub name: String,
    /// The region.
    pub region: String,
    /// The Kubernetes minor version (`1.33`).
    pub version: String,
    /// `metadata.tags`.
    pub tags: BTreeMap<String, String>,
    /// The cluster's availability zones, in subnet order.
    pub availability_zones: Vec<String>,
    /// The VPC and its subnets.
    pub vpc: ResolvedVpc,
    /// Managed node groups first, then self-managed ones, each in file order.
    pub node_groups: Vec<ResolvedNodeGroup>,
    /// Fargate profiles in file order.
    pub fargate_profiles: Vec<FargateProfileSpec>,
    /// The add-ons skiff runs.
    pub addons: Vec<ResolvedAddon>,
    /// The VPC CNI's environment from the vpc-cni add-on's `configurationValues.env`.
    pub vpc_cni_env: BTreeMap<String, String>,
    /// `iam.withOIDC` (default false).
    pub with_oidc: bool,
}

/// The NAT gateway mode of the VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NatGateway {
    /// One NAT gateway, in the first zone's public subnet (eksctl's default).
    Single,
    /// One NAT gateway per zone.
    HighlyAvailable,
    /// No NAT gateway.
    Disable,
}

/// The VPC skiff simulates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedVpc {
    /// The VPC ID given in the file, if any.
    pub id: Option<String>,
    /// The VPC's IPv4 CIDR.
    pub cidr: Ipv4Cidr,
    /// Public subnets first, then private ones.
    pub subnets: Vec<ResolvedSubnet>,
    /// The NAT gateway mode.
    pub nat: NatGateway,
}

impl ResolvedVpc {
    /// The subnet with this [`ResolvedSubnet::name`].
    pub fn subnet(&self, name: &str) -> Option<&ResolvedSubnet> {
        self.subnets.iter().find(|s| s.name == name)
    }
}

/// One subnet of the VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedSubnet {
    /// The unique name, eksctl's CloudFormation logical ID: `Subnet` + `Public`/`Private` +
    /// the key upper-cased without dashes (`SubnetPrivateUSEAST1A`).
    pub name: String,
    /// The key in `vpc.subnets.public|private` (an AZ or a subnet name).
    pub key: String,
    /// The subnet ID given in the file, if any.
    pub id: Option<String>,
    /// The availability zone.
    pub az: String,
    /// The subnet's IPv4 CIDR.
    pub cidr: Ipv4Cidr,
    /// Whether the subnet routes to an internet gateway.
    pub public: bool,
}

/// A taint effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TaintEffect {
    /// `NoSchedule`.
    NoSchedule,
    /// `PreferNoSchedule`.
    PreferNoSchedule,
    /// `NoExecute`.
    NoExecute,
}

impl TaintEffect {
    /// The Kubernetes spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "NoSchedule" => Some(TaintEffect::NoSchedule),
            "PreferNoSchedule" => Some(TaintEffect::PreferNoSchedule),
            "NoExecute" => Some(TaintEffect::NoExecute),
            _ => None,
        }
    }
}

/// A node taint after validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Taint {
    /// The key.
    pub key: String,
    /// The value (may be empty).
    pub value: String,
    /// The effect.
    pub effect: TaintEffect,
}

/// A node group with eksctl's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedNodeGroup {
    /// The name.
    pub name: String,
    /// EKS managed (true) or self-managed (false).
    pub managed: bool,
    /// The instance types (one unless `instanceTypes` or a mixed distribution).
    pub instance_types: Vec<String>,
    /// The desired node count.
    pub desired: u32,
    /// The minimum node count.
    pub min: u32,
    /// The maximum node count.
    pub max: u32,
    /// Root volume size in GiB.
    pub volume_gib: u32,
    /// Node labels from the file (eksctl adds `alpha.eksctl.io/cluster-name` and
    /// `alpha.eksctl.io/nodegroup-name`, which are included here).
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Spot capacity (managed node groups).
    pub spot: bool,
    /// The kubelet's `--max-pods` override.
    pub max_pods_per_node: Option<u32>,
    /// The zones the node group's subnets are in.
    pub azs: Vec<String>,
    /// Whether nodes use private subnets.
    pub private_networking: bool,
    /// The names ([`ResolvedSubnet::name`]) of the subnets nodes launch into.
    pub subnets: Vec<String>,
    /// The AMI family.
    pub ami_family: String,
    /// Tags from the file.
    pub tags: BTreeMap<String, String>,
}

/// A Fargate profile after validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FargateProfileSpec {
    /// The profile name.
    pub name: String,
    /// `(namespace, labels)` per selector.
    pub selectors: Vec<(String, BTreeMap<String, String>)>,
    /// The names ([`ResolvedSubnet::name`]) of the private subnets pods run in.
    pub subnets: Vec<String>,
    /// The pod execution role, if given.
    pub pod_execution_role_arn: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// An add-on skiff runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedAddon {
    /// `vpc-cni`, `coredns` or `kube-proxy`.
    pub name: String,
    /// The version asked for; `None` means the default version.
    pub version: Option<String>,
    /// `configurationValues` as a document.
    pub configuration_values: Option<Value>,
    /// `resolveConflicts`, lower-cased.
    pub resolve_conflicts: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Which fields skiff reads. Patterns write list items as `[]` and map entries as `*`.
fn coverage(pattern: &str) -> Coverage {
    const NODE_GROUP_FIELDS: &[&str] = &[
        "name",
        "amiFamily",
        "instanceType",
        "availabilityZones",
        "subnets",
        "desiredCapacity",
        "minSize",
        "maxSize",
        "volumeSize",
        "labels",
        "taints",
        "privateNetworking",
        "tags",
        "maxPodsPerNode",
    ];
    match pattern {
        "apiVersion" | "kind" | "availabilityZones" => Coverage::Whole,
        "metadata"
        | "vpc"
        | "managedNodeGroups"
        | "nodeGroups"
        | "fargateProfiles"
        | "addons"
        | "addonsConfig"
        | "iam"
        | "nodeGroups[].instancesDistribution" => Coverage::Partly,
        "metadata.name" | "metadata.region" | "metadata.version" | "metadata.tags" => {
            Coverage::Whole
        }
        "vpc.id" | "vpc.cidr" | "vpc.subnets" | "vpc.nat" => Coverage::Whole,
        "addonsConfig.disableDefaultAddons" | "iam.withOIDC" => Coverage::Whole,
        "nodeGroups[].instancesDistribution.instanceTypes" => Coverage::Whole,
        "managedNodeGroups[].instanceTypes" | "managedNodeGroups[].spot" => Coverage::Whole,
        "fargateProfiles[].name"
        | "fargateProfiles[].podExecutionRoleARN"
        | "fargateProfiles[].selectors"
        | "fargateProfiles[].subnets"
        | "fargateProfiles[].tags" => Coverage::Whole,
        "addons[].name"
        | "addons[].version"
        | "addons[].configurationValues"
        | "addons[].resolveConflicts" => Coverage::Whole,
        _ => {
            let field = pattern
                .strip_prefix("managedNodeGroups[].")
                .or_else(|| pattern.strip_prefix("nodeGroups[]."));
            match field {
                Some(field) if NODE_GROUP_FIELDS.contains(&field) => Coverage::Whole,
                _ => Coverage::Ignored(ignored_message(pattern)),
            }
        }
    }
}

fn ignored_message(pattern: &str) -> &'static str {
    let last = pattern.rsplit('.').next().unwrap_or(pattern);
    match (pattern, last) {
        ("vpc.clusterEndpoints", _) => {
            "skiff serves the Kubernetes API on localhost; endpoint access settings are ignored"
        }
        ("cloudWatch", _) => "control plane logging to CloudWatch is not simulated; ignored",
        ("secretsEncryption", _) => "KMS encryption of Secrets is not simulated; ignored",
        ("gitops", _) => "GitOps (Flux) bootstrap is not run by skiff; ignored",
        ("karpenter", _) => "skiff does not install Karpenter from the ClusterConfig; ignored",
        ("privateCluster", _) => "fully-private clusters are not simulated; ignored",
        ("kubernetesNetworkConfig", _) => {
            "skiff uses an IPv4 cluster with EKS's default service CIDR; ignored"
        }
        (_, "ssh") => "simulated nodes accept no SSH connections; ignored",
        (p, _) if p.starts_with("nodeGroups[].instancesDistribution.") => {
            "the On-Demand and Spot split of mixed-instance groups is not simulated; ignored"
        }
        (_, "iam") => "IAM is not simulated; ignored",
        (_, "launchTemplate") => {
            "launch templates are not simulated; the node group is built from its own fields"
        }
        _ => "skiff does not simulate this field; ignored",
    }
}

fn to_document(text: &str) -> Result<Value, ConfigError> {
    if text.trim_start().starts_with('{')
        && let Ok(document) = serde_json::from_str::<Value>(text)
    {
        return Ok(document);
    }
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ConfigError::one("", format!("error converting YAML to JSON: {e}")))
}

/// Reads a ClusterConfig (YAML or JSON) into its typed form, with a warning for each field
/// skiff does not simulate. Unknown keys, wrong types and a document that is not a mapping
/// are errors; eksctl's defaults and validation are applied by [`resolve`].
pub fn parse(text: &str) -> Result<(ClusterConfig, Vec<Warning>), ConfigError> {
    let mut document = to_document(text)?;
    if document.is_null() {
        return Err(ConfigError::one("", "metadata must be set"));
    }
    if !document.is_object() {
        return Err(ConfigError::one(
            "",
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal non-object into Go value of type v1alpha5.ClusterConfig",
        ));
    }
    let mut errors = Vec::new();
    if let Some(version @ Value::Number(_)) = document.pointer("/metadata/version") {
        errors.push(FieldError {
            path: "metadata.version".into(),
            message: format!(
                "YAML reads an unquoted version as the number {version} (1.30 becomes 1.3); quote it: version: \"1.30\""
            ),
        });
    }
    let findings = walk::walk(&mut document, &coverage);
    errors.extend(findings.errors);
    if !errors.is_empty() {
        return Err(ConfigError { errors });
    }
    let config: ClusterConfig = serde_json::from_value(document)
        .map_err(|e| ConfigError::one("", format!("error unmarshaling JSON: {e}")))?;
    Ok((config, findings.warnings))
}

/// Reads and resolves a ClusterConfig: [`parse`] then [`resolve`], with the warnings of both.
/// `seed` is passed to [`resolve`].
pub fn load(text: &str, seed: u64) -> Result<(Cluster, Vec<Warning>), ConfigError> {
    let (config, mut warnings) = parse(text)?;
    let (cluster, more) = resolve(&config, seed)?;
    warnings.extend(more);
    Ok((cluster, warnings))
}

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

/// A small deterministic generator (SplitMix64) for names derived from a seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick(&mut self, chars: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| {
                let i = (self.next() % chars.len() as u64) as usize;
                char::from(chars[i])
            })
            .collect()
    }
}

/// eksctl's generated node group name: `ng-` and 8 characters of `abcdef0123456789`
/// (`pkg/utils/names`), drawn from `seed` instead of the clock.
pub fn node_group_name(seed: u64) -> String {
    let mut rng = SplitMix(seed);
    format!("ng-{}", rng.pick(b"abcdef0123456789", 8))
}

/// A generated cluster name shaped like eksctl's (`<adjective>-<noun>-<10 digits>`, where
/// eksctl uses the Unix time), drawn from `seed`.
pub fn cluster_name(seed: u64) -> String {
    const ADJECTIVES: &[&str] = &[
        "attractive",
        "beautiful",
        "exciting",
        "fabulous",
        "hilarious",
        "ridiculous",
        "scrumptious",
        "wonderful",
    ];
    const NOUNS: &[&str] = &[
        "badger",
        "creature",
        "hideout",
        "mushroom",
        "painting",
        "sculpture",
        "unicorn",
        "wardrobe",
    ];
    let mut rng = SplitMix(seed ^ 0x0063_6c75_7374_6572);
    let adjective = ADJECTIVES[(rng.next() % ADJECTIVES.len() as u64) as usize];
    let noun = NOUNS[(rng.next() % NOUNS.len() as u64) as usize];
    let number = 1_000_000_000 + rng.next() % 9_000_000_000;
    format!("{adjective}-{noun}-{number}")
}

/// What `eksctl create cluster --region <region>` makes with no other flags: a generated
/// name, the default version, a 192.168.0.0/16 VPC with a public and a private subnet per
/// zone and a single NAT gateway, the zones eksctl would pick (deterministically), and one
/// managed node group `ng-xxxxxxxx` of 2 m5.large nodes (min 2, max 2, 80 GiB) in the public
/// subnets. The default add-ons (vpc-cni, coredns, kube-proxy) come from [`resolve`].
pub fn default_cluster(region: &str, seed: u64) -> ClusterConfig {
    ClusterConfig {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        metadata: Some(ClusterMeta {
            name: cluster_name(seed),
            region: region.into(),
            version: Some(DEFAULT_VERSION.into()),
            tags: BTreeMap::new(),
        }),
        vpc: Some(ClusterVpc {
            id: None,
            cidr: Some(DEFAULT_VPC_CIDR.into()),
            subnets: None,
            nat: Some(ClusterNat {
                gateway: Some("Single".into()),
            }),
        }),
        availability_zones: regions::default_availability_zones(region).unwrap_or_default(),
        managed_node_groups: vec![ManagedNodeGroup {
            base: NodeGroupBase {
                name: node_group_name(seed),
                ami_family: Some(DEFAULT_AMI_FAMILY.into()),
                instance_type: Some(DEFAULT_NODE_TYPE.into()),
                desired_capacity: Some(i64::from(DEFAULT_NODE_COUNT)),
                min_size: Some(i64::from(DEFAULT_NODE_COUNT)),
                max_size: Some(i64::from(DEFAULT_NODE_COUNT)),
                volume_size: Some(i64::from(DEFAULT_VOLUME_SIZE_GIB)),
                ..NodeGroupBase::default()
            },
            ..ManagedNodeGroup::default()
        }],
        ..ClusterConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Report {
    errors: Vec<FieldError>,
    warnings: Vec<Warning>,
}

impl Report {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// eksctl's `IsInvalidNameArg`: only letters, digits and `-`.
fn is_invalid_name(name: &str) -> bool {
    !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// eksctl's `ErrInvalidName`.
fn invalid_name_message(name: &str) -> String {
    format!(
        "validation for {name} failed, name must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"
    )
}

fn resolve_version(version: Option<&str>, report: &mut Report) -> String {
    let supported = SUPPORTED_VERSIONS.join(", ");
    match version.map(str::trim) {
        None | Some("") | Some("auto") => DEFAULT_VERSION.to_string(),
        Some("latest") => SUPPORTED_VERSIONS
            .last()
            .copied()
            .unwrap_or(DEFAULT_VERSION)
            .to_string(),
        Some(v) if SUPPORTED_VERSIONS.contains(&v) => v.to_string(),
        Some(v) => {
            let deprecated = v
                .strip_prefix("1.")
                .and_then(|minor| minor.parse::<u32>().ok())
                .zip(
                    SUPPORTED_VERSIONS
                        .first()
                        .and_then(|o| o.strip_prefix("1."))
                        .and_then(|m| m.parse::<u32>().ok()),
                )
                .is_some_and(|(minor, oldest)| (10..oldest).contains(&minor));
            if deprecated {
                report.error(
                    "metadata.version",
                    format!(
                        "invalid version, {v} is no longer supported, supported values: {supported}\nsee also: https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html"
                    ),
                );
            } else {
                report.error(
                    "metadata.version",
                    format!("invalid version, supported values: {supported}"),
                );
            }
            DEFAULT_VERSION.to_string()
        }
    }
}

/// Go's `%v` of a `[]string`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

fn az_not_in_region_message(az: &str, region: &str) -> String {
    let zones: Vec<&str> = regions::availability_zones(region)
        .map(|zones| zones.iter().map(|z| z.name).collect())
        .unwrap_or_default();
    format!(
        "Value ({az}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: {}.",
        zones.join(", ")
    )
}

fn logical_subnet_name(public: bool, key: &str) -> String {
    format!(
        "Subnet{}{}",
        if public { "Public" } else { "Private" },
        key.replace('-', "").to_uppercase()
    )
}

fn parse_cidr(text: &str, path: &str, parameter: &str, report: &mut Report) -> Option<Ipv4Cidr> {
    match text.trim().parse::<Ipv4Cidr>() {
        Err(e) => {
            report.error(path, e.to_string());
            None
        }
        Ok(cidr) if cidr.has_host_bits() => {
            report.error(
                path,
                format!(
                    "Value ({text}) for parameter {parameter} is invalid. This is not a valid CIDR block."
                ),
            );
            None
        }
        Ok(cidr) => Some(cidr),
    }
}

/// Builds the VPC: the subnets from the file, or eksctl's split of the VPC CIDR.
fn resolve_vpc(
    config: &ClusterConfig,
    region: Option<&str>,
    report: &mut Report,
) -> (ResolvedVpc, Vec<String>) {
    let vpc = config.vpc.clone().unwrap_or_default();
    let cidr_text = vpc.cidr.clone().unwrap_or_else(|| DEFAULT_VPC_CIDR.into());
    let parsed = parse_cidr(&cidr_text, "vpc.cidr", "cidrBlock", report);
    if let Some(cidr) = parsed
        && !(16..=28).contains(&cidr.prefix())
    {
        report.error(
            "vpc.cidr",
            format!(
                "Value ({cidr}) for parameter cidrBlock is invalid. The CIDR block size must be between a /16 netmask and /28 netmask."
            ),
        );
    }
    let cidr_ok = parsed.is_some();
    let vpc_cidr = parsed.unwrap_or(Ipv4Cidr::clamped(
        std::net::Ipv4Addr::new(192, 168, 0, 0),
        16,
    ));

    let nat = match vpc.nat.as_ref().and_then(|n| n.gateway.as_deref()) {
        None | Some("") | Some("Single") => NatGateway::Single,
        Some("HighlyAvailable") => NatGateway::HighlyAvailable,
        Some("Disable") => NatGateway::Disable,
        Some(other) => {
            report.error(
                "vpc.nat.gateway",
                format!("{other} is not a valid NAT gateway mode"),
            );
            NatGateway::Single
        }
    };

    let subnets_given = vpc
        .subnets
        .as_ref()
        .is_some_and(|s| !s.public.is_empty() || !s.private.is_empty());
    let mut subnets = Vec::new();
    let mut zones: Vec<String> = Vec::new();

    if subnets_given {
        if !config.availability_zones.is_empty() {
            report.error(
                "availabilityZones",
                "vpc.subnets and availabilityZones cannot be set at the same time",
            );
        }
        let given = vpc.subnets.clone().unwrap_or_default();
        for (public, map) in [(true, &given.public), (false, &given.private)] {
            let kind = if public { "public" } else { "private" };
            for (key, spec) in map {
                let path = format!("vpc.subnets.{kind}.{key}");
                let az = spec
                    .az
                    .clone()
                    .filter(|a| !a.is_empty())
                    .unwrap_or_else(|| key.clone());
                if let Some(region) = region
                    && regions::availability_zones(region)
                        .is_some_and(|zones| !zones.iter().any(|z| z.name == az))
                {
                    let field = if spec.az.is_some() {
                        format!("{path}.az")
                    } else {
                        path.clone()
                    };
                    report.error(field, az_not_in_region_message(&az, region));
                    continue;
                }
                let Some(cidr_text) = spec.cidr.as_deref().filter(|c| !c.is_empty()) else {
                    report.error(
                        format!("{path}.cidr"),
                        match &spec.id {
                            Some(id) => format!(
                                "must be set: skiff simulates the VPC and cannot look up the CIDR of subnet {id}"
                            ),
                            None => "must be set: skiff needs each given subnet's CIDR".to_string(),
                        },
                    );
                    continue;
                };
                let cidr_path = format!("{path}.cidr");
                let Some(cidr) = parse_cidr(cidr_text, &cidr_path, "cidrBlock", report) else {
                    continue;
                };
                if cidr_ok && (!vpc_cidr.contains(&cidr) || !(16..=28).contains(&cidr.prefix())) {
                    report.error(
                        cidr_path,
                        format!(
                            "The CIDR '{cidr}' is invalid. (VPC CIDR {vpc_cidr}; subnets must lie inside it and be /16 to /28)"
                        ),
                    );
                    continue;
                }
                if let Some(other) = subnets
                    .iter()
                    .find(|s: &&ResolvedSubnet| s.cidr.overlaps(&cidr))
                {
                    report.error(
                        cidr_path,
                        format!(
                            "The CIDR '{cidr}' conflicts with another subnet ({} {})",
                            if other.public { "public" } else { "private" },
                            other.key
                        ),
                    );
                    continue;
                }
                if !zones.contains(&az) {
                    zones.push(az.clone());
                }
                subnets.push(ResolvedSubnet {
                    name: logical_subnet_name(public, key),
                    key: key.clone(),
                    id: spec.id.clone().filter(|i| !i.is_empty()),
                    az,
                    cidr,
                    public,
                });
            }
        }
        let count = |public: bool| given_count(&given, public);
        if count(true) == 1 || count(false) == 1 {
            report.error(
                "vpc.subnets",
                "insufficient number of subnets, at least 2x public and/or 2x private subnets are required",
            );
        }
        zones.sort();
    } else {
        zones = if config.availability_zones.is_empty() {
            region
                .and_then(regions::default_availability_zones)
                .unwrap_or_default()
        } else {
            let mut unique = Vec::new();
            for (i, az) in config.availability_zones.iter().enumerate() {
                if let Some(region) = region
                    && regions::availability_zones(region)
                        .is_some_and(|zones| !zones.iter().any(|z| z.name == *az))
                {
                    report.error(
                        format!("availabilityZones[{i}]"),
                        az_not_in_region_message(az, region),
                    );
                }
                if !unique.contains(az) {
                    unique.push(az.clone());
                }
            }
            if config.availability_zones.len() < regions::MIN_REQUIRED_AVAILABILITY_ZONES {
                report.error(
                    "availabilityZones",
                    format!(
                        "only {} zone(s) specified {}, {} are required (can be non-unique)",
                        config.availability_zones.len(),
                        go_list(&config.availability_zones),
                        regions::MIN_REQUIRED_AVAILABILITY_ZONES
                    ),
                );
            }
            unique
        };
        if cidr_ok && !zones.is_empty() {
            subnets = split_vpc(vpc_cidr, &zones, report);
        }
    }

    (
        ResolvedVpc {
            id: vpc.id.filter(|i| !i.is_empty()),
            cidr: vpc_cidr,
            subnets,
            nat,
        },
        zones,
    )
}

fn given_count(given: &ClusterSubnets, public: bool) -> usize {
    if public {
        given.public.len()
    } else {
        given.private.len()
    }
}

/// eksctl's `SetSubnets` and `getSubnetNetworkSize` (`pkg/vpc/vpc.go`): a public and a private
/// subnet per zone, public ones first, laid out from the VPC CIDR's start.
fn split_vpc(vpc: Ipv4Cidr, zones: &[String], report: &mut Report) -> Vec<ResolvedSubnet> {
    if !(16..=24).contains(&vpc.prefix()) {
        report.error("vpc.cidr", "VPC CIDR prefix must be between /16 and /24");
        return Vec::new();
    }
    let total = zones.len() * 2;
    let (count, prefix) = match total {
        2 => (2, vpc.prefix() + 3),
        t if t <= 8 => (8, vpc.prefix() + 3),
        t if t <= 16 => (16, vpc.prefix() + 4),
        t => {
            report.error(
                "availabilityZones",
                format!("cannot create more than 16 subnets, {t} requested"),
            );
            return Vec::new();
        }
    };
    let blocks = vpc.split_into(count, prefix);
    let mut subnets = Vec::new();
    for (public, offset) in [(true, 0), (false, zones.len())] {
        for (i, zone) in zones.iter().enumerate() {
            if let Some(cidr) = blocks.get(offset + i) {
                subnets.push(ResolvedSubnet {
                    name: logical_subnet_name(public, zone),
                    key: zone.clone(),
                    id: None,
                    az: zone.clone(),
                    cidr: *cidr,
                    public,
                });
            }
        }
    }
    subnets
}

fn check_labels(labels: &BTreeMap<String, String>, path: &str, report: &mut Report) {
    let mut disallowed = Vec::new();
    for (key, value) in labels {
        let parts: Vec<&str> = key.split('/').collect();
        if parts.len() > 2 {
            report.error(
                format!("{path}.labels"),
                format!(
                    "node label key \"{key}\" is of invalid format, can only use one '/' separator"
                ),
            );
            continue;
        }
        let errs = api::validation::is_qualified_name(key);
        if !errs.is_empty() {
            report.error(
                format!("{path}.labels"),
                format!("label \"{key}\" is invalid - [{}]", errs.join(" ")),
            );
            continue;
        }
        let errs = api::validation::is_valid_label_value(value);
        if !errs.is_empty() {
            report.error(
                format!("{path}.labels"),
                format!(
                    "label \"{key}\" has invalid value \"{value}\" - [{}]",
                    errs.join(" ")
                ),
            );
            continue;
        }
        if let [namespace, _] = parts.as_slice() {
            let kubernetes = *namespace == "kubernetes.io"
                || namespace.ends_with(".kubernetes.io")
                || *namespace == "k8s.io"
                || namespace.ends_with(".k8s.io");
            if kubernetes && !is_kubelet_label(key, namespace) {
                disallowed.push(key.clone());
            }
        }
    }
    if !disallowed.is_empty() {
        report.error(
            format!("{path}.labels"),
            format!(
                "the following nodegroup labels are disallowed as they have reserved prefixes [kubernetes.io/, k8s.io/]: {}",
                go_list(&disallowed)
            ),
        );
    }
}

/// `kubeletapis.IsKubeletLabel`: labels a kubelet may set on its own Node.
fn is_kubelet_label(key: &str, namespace: &str) -> bool {
    const KUBELET_LABELS: &[&str] = &[
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "kubernetes.io/os",
        "kubernetes.io/arch",
    ];
    KUBELET_LABELS.contains(&key)
        || ["kubelet.kubernetes.io", "node.kubernetes.io"]
            .iter()
            .any(|allowed| namespace == *allowed || namespace.ends_with(&format!(".{allowed}")))
}

/// eksctl's `taints.Validate`.
fn check_taint(taint: &NodeGroupTaint, path: &str, report: &mut Report) -> Option<Taint> {
    if taint.key.is_empty() {
        report.error(path, "taint key must be non-empty");
        return None;
    }
    let errs = api::validation::is_qualified_name(&taint.key);
    if !errs.is_empty() {
        report.error(
            path,
            format!("invalid taint key: {}, {}", taint.key, errs.join("; ")),
        );
        return None;
    }
    if !taint.value.is_empty() {
        let errs = api::validation::is_valid_label_value(&taint.value);
        if !errs.is_empty() {
            report.error(
                path,
                format!("invalid taint value: {}, {}", taint.value, errs.join("; ")),
            );
            return None;
        }
    }
    let Some(effect) = TaintEffect::parse(&taint.effect) else {
        report.error(
            format!("{path}.effect"),
            format!(
                "invalid taint effect: {}, unsupported taint effect. Valid taint effects are: NoSchedule, NoExecute and PreferNoSchedule",
                taint.effect
            ),
        );
        return None;
    };
    Some(Taint {
        key: taint.key.clone(),
        value: taint.value.clone(),
        effect,
    })
}

/// eksctl's `parseTaint`: `value:Effect` or `Effect`.
fn taint_from_map_entry(key: &str, value_effect: &str) -> NodeGroupTaint {
    let parts: Vec<&str> = value_effect.split(':').collect();
    let (value, effect) = match parts.as_slice() {
        [effect] => ("", *effect),
        [value, effect] => (*value, *effect),
        _ => ("", ""),
    };
    NodeGroupTaint {
        key: key.to_string(),
        value: value.to_string(),
        effect: effect.to_string(),
    }
}

fn non_negative(value: Option<i64>, path: &str, report: &mut Report) -> Option<u32> {
    match value {
        None => None,
        Some(v) => match u32::try_from(v) {
            Ok(v) => Some(v),
            Err(_) => {
                report.error(path, format!("must be a non-negative integer, got {v}"));
                Some(0)
            }
        },
    }
}

/// eksctl's size defaults and checks (`ValidateManagedNodeGroup` for managed groups, the
/// CloudFormation builder's for self-managed ones). Returns `(desired, min, max)`.
fn resolve_sizes(
    base: &NodeGroupBase,
    managed: bool,
    path: &str,
    report: &mut Report,
) -> (u32, u32, u32) {
    let desired = non_negative(
        base.desired_capacity,
        &format!("{path}.desiredCapacity"),
        report,
    );
    let min = non_negative(base.min_size, &format!("{path}.minSize"), report);
    let max = non_negative(base.max_size, &format!("{path}.maxSize"), report);

    let min = match (min, desired) {
        (None, None) => DEFAULT_NODE_COUNT,
        (None, Some(d)) => d,
        (Some(m), Some(d)) if d < m => {
            report.error(
                format!("{path}.desiredCapacity"),
                if managed {
                    format!("cannot use --nodes-min={m} and --nodes={d} at the same time")
                } else {
                    format!("--nodes value ({d}) cannot be lower than --nodes-min value ({m})")
                },
            );
            m
        }
        (Some(m), _) => m,
    };
    let max = match max {
        None => {
            let max = desired.unwrap_or(min);
            if managed && max == 0 { 1 } else { max }
        }
        Some(x) => {
            if let Some(d) = desired.filter(|d| *d > x) {
                report.error(
                    format!("{path}.desiredCapacity"),
                    if managed {
                        format!("cannot use --nodes-max={x} and --nodes={d} at the same time")
                    } else {
                        format!(
                            "--nodes value ({d}) cannot be greater than --nodes-max value ({x})"
                        )
                    },
                );
            } else if x < min {
                report.error(
                    format!("{path}.maxSize"),
                    if managed {
                        format!("cannot use --nodes-min={min} and --nodes-max={x} at the same time")
                    } else {
                        format!("--nodes-min value ({min}) cannot be greater than --nodes-max value ({x})")
                    },
                );
            }
            x
        }
    };
    (desired.unwrap_or(min), min, max)
}

/// Which subnets a node group's nodes use (eksctl's `AssignSubnets` and
/// `SelectNodeGroupSubnets`): its `subnets`, else its zones' subnets, else every subnet of
/// its kind (private with `privateNetworking`, else public).
fn node_group_subnets(
    base: &NodeGroupBase,
    managed: bool,
    vpc: &ResolvedVpc,
    path: &str,
    report: &mut Report,
) -> Vec<String> {
    let private = base.private_networking;
    let kind = if private { "private" } else { "public" };
    let of_kind: Vec<&ResolvedSubnet> =
        vpc.subnets.iter().filter(|s| s.public != private).collect();
    if !base.subnets.is_empty() {
        if !base.availability_zones.is_empty() {
            report.error(
                path,
                format!("only one of {path}.subnets or {path}.availabilityZones should be set"),
            );
        }
        let mut chosen = Vec::new();
        for (i, wanted) in base.subnets.iter().enumerate() {
            let matches =
                |s: &ResolvedSubnet| s.key == *wanted || s.id.as_deref() == Some(wanted.as_str());
            if let Some(subnet) = of_kind.iter().find(|s| matches(s)) {
                if !chosen.contains(&subnet.name) {
                    chosen.push(subnet.name.clone());
                }
            } else if let Some(subnet) = vpc.subnets.iter().find(|s| matches(s)) {
                if private {
                    report.warn(
                        format!("{path}.subnets[{i}]"),
                        format!(
                            "public subnet {wanted} is being used with `privateNetworking` enabled, please ensure this is the desired behaviour"
                        ),
                    );
                    chosen.push(subnet.name.clone());
                } else {
                    report.error(
                        format!("{path}.subnets[{i}]"),
                        format!(
                            "subnet {wanted} is specified as private in ClusterConfig, thus must only be used when `privateNetworking` is enabled"
                        ),
                    );
                }
            } else {
                report.error(
                    format!("{path}.subnets[{i}]"),
                    format!("subnet with ID \"{wanted}\" not found"),
                );
            }
        }
        return chosen;
    }
    if !base.availability_zones.is_empty() {
        let mut chosen = Vec::new();
        for (i, zone) in base.availability_zones.iter().enumerate() {
            let in_zone: Vec<String> = of_kind
                .iter()
                .filter(|s| s.az == *zone)
                .map(|s| s.name.clone())
                .collect();
            if in_zone.is_empty() {
                report.error(
                    format!("{path}.availabilityZones[{i}]"),
                    format!(
                        "could not find {kind} subnets for zones [\"{zone}\"]: mapping does not have subnet with zone \"{zone}\""
                    ),
                );
            }
            chosen.extend(in_zone);
        }
        return chosen;
    }
    if !managed && private && of_kind.len() < regions::MIN_REQUIRED_AVAILABILITY_ZONES {
        report.error(
            format!("{path}.privateNetworking"),
            "none or too few private subnets to use with --node-private-networking",
        );
    } else if of_kind.is_empty() {
        report.error(
            format!("{path}.privateNetworking"),
            format!(
                "the VPC has no {kind} subnets for this node group ({})",
                if private {
                    "add vpc.subnets.private"
                } else {
                    "set privateNetworking: true or add vpc.subnets.public"
                }
            ),
        );
    }
    of_kind.iter().map(|s| s.name.clone()).collect()
}

struct NodeGroupInput<'a> {
    base: &'a NodeGroupBase,
    managed: bool,
    path: String,
    instance_types: Vec<String>,
    spot: bool,
    taints: Vec<(String, NodeGroupTaint)>,
}

fn resolve_node_group(
    input: NodeGroupInput<'_>,
    cluster_name: &str,
    version: &str,
    vpc: &ResolvedVpc,
    report: &mut Report,
) -> ResolvedNodeGroup {
    let NodeGroupInput {
        base,
        managed,
        path,
        instance_types,
        spot,
        taints,
    } = input;
    if !base.name.is_empty() && is_invalid_name(&base.name) {
        report.error(format!("{path}.name"), invalid_name_message(&base.name));
    }
    let (desired, min, max) = resolve_sizes(base, managed, &path, report);
    let volume_gib = match base.volume_size {
        None => DEFAULT_VOLUME_SIZE_GIB,
        Some(v) if (1..=16_384).contains(&v) => v as u32,
        Some(v) => {
            report.error(
                format!("{path}.volumeSize"),
                format!("must be between 1 and 16384 GiB (an EBS gp3 volume), got {v}"),
            );
            DEFAULT_VOLUME_SIZE_GIB
        }
    };
    let max_pods_per_node = match base.max_pods_per_node {
        None | Some(0) => None,
        Some(v) if v < 0 => {
            report.error(
                format!("{path}.maxPodsPerNode"),
                format!("{path}.maxPodsPerNode cannot be negative"),
            );
            None
        }
        Some(v) => u32::try_from(v).ok(),
    };
    let ami_family = base
        .ami_family
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| DEFAULT_AMI_FAMILY.into());
    if !SUPPORTED_AMI_FAMILIES.contains(&ami_family.as_str()) {
        report.error(
            format!("{path}.amiFamily"),
            format!(
                "AMI Family {ami_family} is not supported - use one of: {}",
                SUPPORTED_AMI_FAMILIES.join(", ")
            ),
        );
    } else if ami_family == "AmazonLinux2" && version_at_least(version, 33) {
        report.error(
            format!("{path}.amiFamily"),
            format!("AmazonLinux2 is not supported for Kubernetes version {version}"),
        );
    }
    check_labels(&base.labels, &path, report);
    let taints = taints
        .iter()
        .filter_map(|(taint_path, taint)| check_taint(taint, taint_path, report))
        .collect();
    let subnets = node_group_subnets(base, managed, vpc, &path, report);
    let azs = if base.availability_zones.is_empty() {
        let mut azs: Vec<String> = Vec::new();
        for name in &subnets {
            if let Some(subnet) = vpc.subnets.iter().find(|s| s.name == *name)
                && !azs.contains(&subnet.az)
            {
                azs.push(subnet.az.clone());
            }
        }
        azs
    } else {
        base.availability_zones.clone()
    };
    let mut labels = base.labels.clone();
    labels.insert("alpha.eksctl.io/cluster-name".into(), cluster_name.into());
    labels.insert("alpha.eksctl.io/nodegroup-name".into(), base.name.clone());
    ResolvedNodeGroup {
        name: base.name.clone(),
        managed,
        instance_types,
        desired,
        min,
        max,
        volume_gib,
        labels,
        taints,
        spot,
        max_pods_per_node,
        azs,
        private_networking: base.private_networking,
        subnets,
        ami_family,
        tags: base.tags.clone(),
    }
}

fn version_at_least(version: &str, minor: u32) -> bool {
    version
        .strip_prefix("1.")
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|m| m >= minor)
}

fn resolve_fargate(
    profiles: &[FargateProfile],
    vpc: &ResolvedVpc,
    report: &mut Report,
) -> Vec<FargateProfileSpec> {
    let mut names: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (i, profile) in profiles.iter().enumerate() {
        let path = format!("fargateProfiles[{i}]");
        let name = profile.name.as_str();
        if name.is_empty() {
            report.error(
                format!("{path}.name"),
                "invalid Fargate profile: empty name",
            );
            continue;
        }
        if names.contains(&name) {
            report.error(
                format!("{path}.name"),
                format!("{path}.name \"{name}\" is not unique"),
            );
        }
        names.push(name);
        if name.starts_with("eks-") {
            report.error(
                format!("{path}.name"),
                format!("invalid Fargate profile \"{name}\": name should NOT start with \"eks-\""),
            );
        }
        if profile.selectors.is_empty() {
            report.error(
                format!("{path}.selectors"),
                format!("invalid Fargate profile \"{name}\": no profile selector"),
            );
        }
        if profile.selectors.len() > MAX_FARGATE_SELECTORS {
            report.error(
                format!("{path}.selectors"),
                format!(
                    "invalid Fargate profile \"{name}\": a Fargate profile can have at most {MAX_FARGATE_SELECTORS} selectors, got {}",
                    profile.selectors.len()
                ),
            );
        }
        for (j, selector) in profile.selectors.iter().enumerate() {
            if selector.namespace.is_empty() {
                report.error(
                    format!("{path}.selectors[{j}].namespace"),
                    format!(
                        "invalid Fargate profile \"{name}\": invalid profile selector at index #{j}: empty namespace"
                    ),
                );
            }
        }
        let private: Vec<&ResolvedSubnet> = vpc.subnets.iter().filter(|s| !s.public).collect();
        let subnets = if profile.subnets.is_empty() {
            if private.is_empty() {
                report.error(
                    path.clone(),
                    format!(
                        "Fargate profile \"{name}\" needs private subnets (Fargate pods run only in private subnets) and the VPC has none"
                    ),
                );
            }
            private.iter().map(|s| s.name.clone()).collect()
        } else {
            let mut chosen = Vec::new();
            for (j, wanted) in profile.subnets.iter().enumerate() {
                let matches = |s: &&ResolvedSubnet| {
                    s.key == *wanted || s.id.as_deref() == Some(wanted.as_str())
                };
                let found = private
                    .iter()
                    .copied()
                    .find(matches)
                    .or_else(|| vpc.subnets.iter().find(matches));
                match found {
                    Some(subnet) if !subnet.public => chosen.push(subnet.name.clone()),
                    Some(_) => report.error(
                        format!("{path}.subnets[{j}]"),
                        format!(
                            "Subnet {wanted} provided in Fargate Profile is not a private subnet"
                        ),
                    ),
                    None => report.error(
                        format!("{path}.subnets[{j}]"),
                        format!("subnet with ID \"{wanted}\" not found"),
                    ),
                }
            }
            chosen
        };
        out.push(FargateProfileSpec {
            name: name.to_string(),
            selectors: profile
                .selectors
                .iter()
                .map(|s| (s.namespace.clone(), s.labels.clone()))
                .collect(),
            subnets,
            pod_execution_role_arn: profile
                .pod_execution_role_arn
                .clone()
                .filter(|a| !a.is_empty()),
            tags: profile.tags.clone(),
        });
    }
    out
}

/// Reads `configurationValues` as eksctl does: JSON, else YAML.
fn configuration_document(text: &str) -> Option<Value> {
    if text.trim().is_empty() {
        return Some(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str::<Value>(text)
        .ok()
        .or_else(|| serde_saphyr::from_str::<Value>(text).ok())
        .filter(|v| v.is_object() || v.is_null())
}

fn resolve_addons(
    config: &ClusterConfig,
    report: &mut Report,
) -> (Vec<ResolvedAddon>, BTreeMap<String, String>) {
    let mut addons = Vec::new();
    let mut env = BTreeMap::new();
    let disable_defaults = config
        .addons_config
        .as_ref()
        .is_some_and(|c| c.disable_default_addons);
    for (i, addon) in config.addons.iter().enumerate() {
        let path = format!("addons[{i}]");
        let name = addon.name.to_lowercase();
        if name.is_empty() {
            report.error(
                format!("{path}.name"),
                "invalid configuration for \"\" addon: name is required",
            );
            continue;
        }
        let document = match addon.configuration_values.as_deref() {
            None => None,
            Some(text) => match configuration_document(text) {
                Some(doc) => Some(doc),
                None => {
                    report.error(
                        format!("{path}.configurationValues"),
                        format!(
                            "invalid configuration for \"{}\" addon: configurationValues: {:?} is not valid, supported format(s) are: JSON and YAML",
                            addon.name, text
                        ),
                    );
                    None
                }
            },
        };
        let resolve_conflicts = match addon.resolve_conflicts.as_deref().map(str::to_lowercase) {
            None => None,
            Some(v) if ["none", "overwrite", "preserve"].contains(&v.as_str()) => Some(v),
            Some(v) => {
                report.error(
                    format!("{path}.resolveConflicts"),
                    format!("invalid value \"{v}\"; must be one of none, overwrite, preserve"),
                );
                None
            }
        };
        if !MODELLED_ADDONS.contains(&name.as_str()) {
            report.warn(
                path,
                format!("skiff does not run the {} add-on; ignored", addon.name),
            );
            continue;
        }
        if name == "vpc-cni"
            && let Some(Value::Object(doc)) = &document
            && let Some(found) = doc.get("env")
        {
            match found {
                Value::Object(vars) => {
                    for (key, value) in vars {
                        match value {
                            Value::String(s) => {
                                env.insert(key.clone(), s.clone());
                            }
                            other => report.error(
                                format!("{path}.configurationValues"),
                                format!(
                                    "ConfigurationValue provided in request is not supported: Json schema validation failed with error: [$.env.{key}: {} found, string expected]",
                                    json_type_name(other)
                                ),
                            ),
                        }
                    }
                }
                other => report.error(
                    format!("{path}.configurationValues"),
                    format!(
                        "ConfigurationValue provided in request is not supported: Json schema validation failed with error: [$.env: {} found, object expected]",
                        json_type_name(other)
                    ),
                ),
            }
        }
        addons.push(ResolvedAddon {
            name,
            version: addon.version.clone().filter(|v| !v.is_empty()),
            configuration_values: document,
            resolve_conflicts,
        });
    }
    if !disable_defaults {
        for default in ["vpc-cni", "coredns", "kube-proxy"] {
            if !addons.iter().any(|a| a.name == default) {
                addons.push(ResolvedAddon {
                    name: default.into(),
                    version: None,
                    configuration_values: None,
                    resolve_conflicts: None,
                });
            }
        }
    }
    (addons, env)
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Applies eksctl's defaults and validation to a parsed ClusterConfig and builds the
/// [`Cluster`]. Every problem found is reported, each naming its field. `seed` is for
/// generated names; a config file must name its node groups and profiles (eksctl refuses
/// unnamed ones), so nothing is generated today and the result does not depend on it.
pub fn resolve(config: &ClusterConfig, seed: u64) -> Result<(Cluster, Vec<Warning>), ConfigError> {
    let _ = seed;
    let mut report = Report::default();

    if config.api_version.is_empty() {
        report.error("apiVersion", "apiVersion must be set");
    } else if config.api_version != API_VERSION {
        report.error(
            "apiVersion",
            format!(
                "no kind \"{}\" is registered for version \"{}\" in scheme (skiff reads {API_VERSION})",
                if config.kind.is_empty() { KIND } else { &config.kind },
                config.api_version
            ),
        );
    }
    if config.kind.is_empty() {
        report.error("kind", "kind must be set");
    } else if config.kind != KIND {
        report.error(
            "kind",
            format!(
                "no kind \"{}\" is registered for version \"{}\" in scheme (skiff reads kind {KIND})",
                config.kind, config.api_version
            ),
        );
    }

    let meta = config.metadata.clone().unwrap_or_default();
    if config.metadata.is_none() {
        report.error("metadata", "metadata must be set");
    } else {
        if meta.name.is_empty() {
            report.error("metadata.name", "metadata.name must be set");
        } else if is_invalid_name(&meta.name) {
            report.error("metadata.name", invalid_name_message(&meta.name));
        }
        if meta.region.is_empty() {
            report.error("metadata.region", "metadata.region must be set");
        }
    }
    let region = if meta.region.is_empty() {
        None
    } else if regions::availability_zones(&meta.region).is_none() {
        report.error(
            "metadata.region",
            format!(
                "skiff has no availability zones for region \"{}\"; known regions: {}",
                meta.region,
                regions::known_regions().collect::<Vec<_>>().join(", ")
            ),
        );
        None
    } else {
        Some(meta.region.as_str())
    };
    let version = resolve_version(meta.version.as_deref(), &mut report);

    let (vpc, zones) = resolve_vpc(config, region, &mut report);

    let mut node_groups = Vec::new();
    // eksctl's ValidateClusterConfig: names unique across both kinds, self-managed first.
    let mut seen_names: Vec<&str> = Vec::new();
    let named = config
        .node_groups
        .iter()
        .enumerate()
        .map(|(i, ng)| (format!("nodeGroups[{i}]"), ng.base.name.as_str()))
        .chain(
            config
                .managed_node_groups
                .iter()
                .enumerate()
                .map(|(i, ng)| (format!("managedNodeGroups[{i}]"), ng.base.name.as_str())),
        );
    for (path, name) in named {
        if name.is_empty() {
            report.error(format!("{path}.name"), format!("{path}.name must be set"));
        } else if seen_names.contains(&name) {
            report.error(
                format!("{path}.name"),
                format!("{path}.name \"{name}\" is not unique"),
            );
        } else {
            seen_names.push(name);
        }
    }
    for (i, ng) in config.managed_node_groups.iter().enumerate() {
        let path = format!("managedNodeGroups[{i}]");
        let instance_types = match (&ng.base.instance_type, ng.instance_types.is_empty()) {
            (Some(t), false) if !t.is_empty() => {
                report.error(
                    format!("{path}.instanceTypes"),
                    format!("only one of instanceType or instanceTypes can be specified ({path})"),
                );
                ng.instance_types.clone()
            }
            (_, false) => ng.instance_types.clone(),
            (Some(t), true) if !t.is_empty() => vec![t.clone()],
            _ => vec![DEFAULT_NODE_TYPE.to_string()],
        };
        let taints = ng
            .taints
            .iter()
            .enumerate()
            .map(|(j, t)| (format!("{path}.taints[{j}]"), t.clone()))
            .collect();
        let input = NodeGroupInput {
            base: &ng.base,
            managed: true,
            path,
            instance_types,
            spot: ng.spot,
            taints,
        };
        node_groups.push(resolve_node_group(
            input,
            &meta.name,
            &version,
            &vpc,
            &mut report,
        ));
    }
    for (i, ng) in config.node_groups.iter().enumerate() {
        let path = format!("nodeGroups[{i}]");
        let mixed = ng
            .instances_distribution
            .as_ref()
            .map(|d| d.instance_types.clone())
            .unwrap_or_default();
        let instance_types = match ng.base.instance_type.as_deref() {
            _ if !mixed.is_empty() => {
                if let Some(t) = ng
                    .base
                    .instance_type
                    .as_deref()
                    .filter(|t| !t.is_empty() && *t != "mixed")
                {
                    report.error(
                        format!("{path}.instanceType"),
                        format!("instanceType should be \"mixed\" or unset when using the instances distribution feature (got {t})"),
                    );
                }
                mixed
            }
            Some(t) if !t.is_empty() => vec![t.to_string()],
            _ => vec![DEFAULT_NODE_TYPE.to_string()],
        };
        let taints = match &ng.taints {
            None => Vec::new(),
            Some(Taints::List(list)) => list
                .iter()
                .enumerate()
                .map(|(j, t)| (format!("{path}.taints[{j}]"), t.clone()))
                .collect(),
            Some(Taints::Map(map)) => map
                .iter()
                .map(|(k, v)| (format!("{path}.taints.{k}"), taint_from_map_entry(k, v)))
                .collect(),
        };
        let input = NodeGroupInput {
            base: &ng.base,
            managed: false,
            path,
            instance_types,
            spot: false,
            taints,
        };
        node_groups.push(resolve_node_group(
            input,
            &meta.name,
            &version,
            &vpc,
            &mut report,
        ));
    }

    let fargate_profiles = resolve_fargate(&config.fargate_profiles, &vpc, &mut report);
    let (addons, vpc_cni_env) = resolve_addons(config, &mut report);

    if !report.errors.is_empty() {
        return Err(ConfigError {
            errors: report.errors,
        });
    }
    let cluster = Cluster {
        name: meta.name.clone(),
        region: meta.region.clone(),
        version,
        tags: meta.tags.clone(),
        availability_zones: zones,
        vpc,
        node_groups,
        fargate_profiles,
        addons,
        vpc_cni_env,
        with_oidc: config
            .iam
            .as_ref()
            .and_then(|i| i.with_oidc)
            .unwrap_or(false),
    };
    Ok((cluster, report.warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_node_group_names_look_like_eksctls_and_follow_the_seed() {
        let name = node_group_name(7);
        assert_eq!(name.len(), 11, "{name}");
        assert!(name.starts_with("ng-"), "{name}");
        assert!(
            name[3..].bytes().all(|b| b"abcdef0123456789".contains(&b)),
            "{name}"
        );
        assert_eq!(name, node_group_name(7));
        assert_ne!(name, node_group_name(8));
    }

    #[test]
    fn unmanaged_sizes_use_the_cloudformation_builders_messages() {
        let mut report = Report::default();
        let base = NodeGroupBase {
            desired_capacity: Some(5),
            max_size: Some(3),
            ..NodeGroupBase::default()
        };
        resolve_sizes(&base, false, "nodeGroups[0]", &mut report);
        assert_eq!(
            report.errors[0].message,
            "--nodes value (5) cannot be greater than --nodes-max value (3)"
        );
    }

    #[test]
    fn a_managed_group_with_zero_nodes_gets_max_size_one() {
        let mut report = Report::default();
        let base = NodeGroupBase {
            desired_capacity: Some(0),
            ..NodeGroupBase::default()
        };
        assert_eq!(resolve_sizes(&base, true, "m", &mut report), (0, 0, 1));
        assert!(report.errors.is_empty());
    }

    #[test]
    fn map_form_taints_split_value_and_effect() {
        let t = taint_from_map_entry("dedicated", "gpu:NoSchedule");
        assert_eq!((t.value.as_str(), t.effect.as_str()), ("gpu", "NoSchedule"));
        let t = taint_from_map_entry("spot", "NoExecute");
        assert_eq!((t.value.as_str(), t.effect.as_str()), ("", "NoExecute"));
    }
}
