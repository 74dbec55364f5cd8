//! The default cluster `skiff up` starts without a cluster file: simulated m5.large EKS
//! worker nodes spread over the zones of `us-west-2`, each with the labels, addresses,
//! provider ID and allocatable an EKS-optimised AMI node reports.
//!
//! Allocatable follows the EKS AMI's bootstrap formulas: kube-reserved memory is
//! `11 MiB × max pods + 255 MiB`, kube-reserved CPU is 6 % of the first core, 1 % of the
//! second, 0.5 % of the third and fourth and 0.25 % of every further core, kube-reserved
//! ephemeral storage is 1 GiB, and the kubelet's hard eviction thresholds
//! (`memory.available<100Mi`, `nodefs.available<10%`) come off the top too.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::NodeAddress;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use node_agent::NodeSpec;

/// The region of the default cluster.
pub const REGION: &str = "us-west-2";
/// Its availability zones, with their zone IDs.
pub const ZONES: [(&str, &str); 3] = [
    ("us-west-2a", "usw2-az1"),
    ("us-west-2b", "usw2-az2"),
    ("us-west-2c", "usw2-az3"),
];

/// What an instance type offers a node (the subset of the EC2 catalog the default needs).
#[derive(Debug, Clone, Copy)]
pub struct InstanceShape {
    /// The type's name.
    pub name: &'static str,
    /// vCPUs.
    pub vcpu: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Max pods with the VPC CNI's secondary-IP mode: ENIs × (IPs per ENI − 1) + 2.
    pub max_pods: u32,
}

/// The m5.large: 2 vCPU, 8 GiB, 3 ENIs of 10 IPv4 addresses → 29 pods.
pub const M5_LARGE: InstanceShape = InstanceShape {
    name: "m5.large",
    vcpu: 2,
    memory_mib: 8192,
    max_pods: 29,
};

/// The EBS root volume of a managed node group node (GiB).
pub const ROOT_VOLUME_GIB: u64 = 20;

/// The EKS AMI's kube-reserved CPU in millicores for `vcpu` cores.
pub fn kube_reserved_cpu_millis(vcpu: u32) -> u64 {
    let cores = u64::from(vcpu);
    // Per-core shares in hundredths of a percent of 1000 millicores.
    let mut reserved_tenths = 0u64; // tenths of a millicore
    for core in 1..=cores {
        reserved_tenths += match core {
            1 => 600,
            2 => 100,
            3 | 4 => 50,
            _ => 25,
        };
    }
    reserved_tenths / 10
}

/// The EKS AMI's kube-reserved memory in MiB for a node of `max_pods`.
pub fn kube_reserved_memory_mib(max_pods: u32) -> u64 {
    11 * u64::from(max_pods) + 255
}

/// The kubelet's `memory.available` hard eviction threshold (MiB).
const EVICTION_HARD_MEMORY_MIB: u64 = 100;

/// Capacity and allocatable of a node of `shape` with a root volume of `disk_gib`.
pub fn resources(
    shape: &InstanceShape,
    disk_gib: u64,
) -> (BTreeMap<String, Quantity>, BTreeMap<String, Quantity>) {
    let q = |s: String| Quantity(s);
    let disk_bytes = disk_gib << 30;
    let mut capacity = BTreeMap::new();
    capacity.insert("cpu".to_string(), q(shape.vcpu.to_string()));
    capacity.insert(
        "memory".to_string(),
        q(format!("{}Ki", shape.memory_mib * 1024)),
    );
    capacity.insert("pods".to_string(), q(shape.max_pods.to_string()));
    capacity.insert(
        "ephemeral-storage".to_string(),
        q(format!("{}Ki", disk_bytes >> 10)),
    );
    capacity.insert("hugepages-1Gi".to_string(), q("0".into()));
    capacity.insert("hugepages-2Mi".to_string(), q("0".into()));

    let mut allocatable = capacity.clone();
    let cpu = u64::from(shape.vcpu) * 1000 - kube_reserved_cpu_millis(shape.vcpu);
    allocatable.insert("cpu".to_string(), q(format!("{cpu}m")));
    let mem_mib =
        shape.memory_mib - kube_reserved_memory_mib(shape.max_pods) - EVICTION_HARD_MEMORY_MIB;
    allocatable.insert("memory".to_string(), q(format!("{}Ki", mem_mib * 1024)));
    // nodefs.available<10% and 1 GiB kube-reserved ephemeral storage.
    let eph = disk_bytes - disk_bytes / 10 - (1 << 30);
    allocatable.insert("ephemeral-storage".to_string(), q(eph.to_string()));
    (capacity, allocatable)
}

/// A deterministic instance ID (`i-` and 17 hex digits) for node `index` of the seed.
fn instance_id(seed: u64, index: usize) -> String {
    // SplitMix64: a fixed, well-mixed sequence per seed.
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(index as u64 + 1));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    format!("i-0{:016x}", z)
}

/// The default cluster's nodes: `count` m5.large nodes round-robin over the three zones,
/// in the private subnets of eksctl's default VPC (192.168.0.0/16, one /19 per zone).
pub fn default_nodes(count: usize, seed: u64) -> Vec<NodeSpec> {
    let (capacity, allocatable) = resources(&M5_LARGE, ROOT_VOLUME_GIB);
    (0..count)
        .map(|i| {
            let zone_index = i % ZONES.len();
            let (zone, zone_id) = ZONES[zone_index];
            // Private subnets 192.168.96.0/19, 192.168.128.0/19, 192.168.160.0/19; nodes
            // take addresses from the first /24 of theirs, pods from the following ones.
            let third = 96 + 32 * zone_index as u32;
            let host = 10 + (i / ZONES.len()) as u32;
            let ip = format!("192.168.{third}.{host}");
            let dns = format!("ip-192-168-{third}-{host}.{REGION}.compute.internal");
            let pod_block = third + 1 + (i / ZONES.len()) as u32;
            let labels: BTreeMap<String, String> = [
                ("beta.kubernetes.io/arch", "amd64"),
                ("beta.kubernetes.io/instance-type", M5_LARGE.name),
                ("beta.kubernetes.io/os", "linux"),
                ("eks.amazonaws.com/capacityType", "ON_DEMAND"),
                ("eks.amazonaws.com/nodegroup", "ng-default"),
                ("eks.amazonaws.com/nodegroup-image", "ami-0a1b2c3d4e5f60718"),
                ("failure-domain.beta.kubernetes.io/region", REGION),
                ("failure-domain.beta.kubernetes.io/zone", zone),
                (
                    "k8s.io/cloud-provider-aws",
                    "a1b2c3d4e5f60718293a4b5c6d7e8f90",
                ),
                ("kubernetes.io/arch", "amd64"),
                ("kubernetes.io/hostname", dns.as_str()),
                ("kubernetes.io/os", "linux"),
                ("node.kubernetes.io/instance-type", M5_LARGE.name),
                ("topology.k8s.aws/zone-id", zone_id),
                ("topology.kubernetes.io/region", REGION),
                ("topology.kubernetes.io/zone", zone),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            let address = |type_: &str, address: &str| NodeAddress {
                type_: type_.to_string(),
                address: address.to_string(),
            };
            NodeSpec {
                name: dns.clone(),
                labels,
                annotations: BTreeMap::from([(
                    "alpha.kubernetes.io/provided-node-ip".to_string(),
                    ip.clone(),
                )]),
                taints: Vec::new(),
                capacity: capacity.clone(),
                allocatable: allocatable.clone(),
                provider_id: Some(format!("aws:///{zone}/{}", instance_id(seed, i))),
                addresses: vec![
                    address("InternalIP", &ip),
                    address("InternalDNS", &dns),
                    address("Hostname", &dns),
                ],
                pod_cidr: Some(format!("192.168.{pod_block}.0/24")),
                architecture: "amd64".into(),
                os_image: "Amazon Linux 2023.9.20251110".into(),
                kernel_version: "6.12.53-69.119.amzn2023.x86_64".into(),
                kubelet_version: format!("{}-eks-3025e55", apiserver::KUBERNETES_VERSION),
                container_runtime_version: "containerd://2.1.4".into(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_reserved_cpu_follows_the_eks_ami_shares() {
        for (vcpu, millis) in [(1, 60), (2, 70), (4, 80), (8, 90), (16, 110), (96, 310)] {
            assert_eq!(kube_reserved_cpu_millis(vcpu), millis, "{vcpu} vCPU");
        }
    }

    #[test]
    fn an_m5_large_has_1930m_cpu_29_pods_and_574_mib_reserved() {
        assert_eq!(kube_reserved_memory_mib(29), 574);
        let (cap, alloc) = resources(&M5_LARGE, 20);
        assert_eq!(cap["cpu"].0, "2");
        assert_eq!(alloc["cpu"].0, "1930m");
        assert_eq!(alloc["pods"].0, "29");
        assert_eq!(
            alloc["memory"].0,
            format!("{}Ki", (8192 - 574 - 100) * 1024)
        );
        assert_eq!(cap["ephemeral-storage"].0, "20971520Ki");
    }

    #[test]
    fn default_nodes_spread_over_three_zones_with_unique_names_and_ids() {
        let nodes = default_nodes(6, 7);
        let zones: std::collections::BTreeSet<_> = nodes
            .iter()
            .map(|n| n.labels["topology.kubernetes.io/zone"].clone())
            .collect();
        assert_eq!(zones.len(), 3);
        let names: std::collections::BTreeSet<_> = nodes.iter().map(|n| n.name.clone()).collect();
        assert_eq!(names.len(), 6);
        let ids: std::collections::BTreeSet<_> =
            nodes.iter().map(|n| n.provider_id.clone()).collect();
        assert_eq!(ids.len(), 6);
        assert!(
            nodes[0]
                .provider_id
                .as_deref()
                .unwrap_or_default()
                .starts_with("aws:///us-west-2a/i-0")
        );
        assert_eq!(
            default_nodes(6, 7)[3].provider_id,
            nodes[3].provider_id,
            "deterministic per seed"
        );
    }
}
