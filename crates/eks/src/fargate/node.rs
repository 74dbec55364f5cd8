//! The node object a Fargate pod runs on: its name, labels, taint, provider ID, the capacity
//! it reports and its system info.
//!
//! Every Fargate pod gets its own micro-VM, which registers as its own node. Sources (OBSERVED
//! in `kubectl get nodes` / `kubectl describe node` outputs found with the search tools):
//! - names: `fargate-ip-10-42-11-96.us-west-2.compute.internal` (EKS workshop),
//!   `fargate-ip-192-168-105-82.eu-central-1.compute.internal`, and in us-east-1
//!   `fargate-ip-172-31-192-45.ec2.internal`, `fargate-ip-192-168-77-249.ec2.internal`,
//!   `fargate-ip-10-0-2-55.ec2.internal`: the EC2 private DNS name of the pod's IP with
//!   `fargate-` in front, so us-east-1 uses `ec2.internal` like EC2 does;
//! - labels (eks-workshop `describe node`, eu-central-1 in 2021, aws/containers-roadmap#1476):
//!   `beta.kubernetes.io/arch=amd64`, `beta.kubernetes.io/os=linux`,
//!   `eks.amazonaws.com/compute-type=fargate`, `failure-domain.beta.kubernetes.io/region`,
//!   `failure-domain.beta.kubernetes.io/zone`, `kubernetes.io/arch=amd64`,
//!   `kubernetes.io/hostname=ip-10-42-11-96.us-west-2.compute.internal` (without `fargate-`),
//!   `kubernetes.io/os=linux`, `topology.kubernetes.io/region`, `topology.kubernetes.io/zone`.
//!   No node in those outputs carries `eks.amazonaws.com/fargate-profile`: the profile label
//!   is on the pod, so [`fargate_node_labels`] does not add it;
//! - taint `eks.amazonaws.com/compute-type=fargate:NoSchedule`;
//! - providerID `aws:///eu-central-1b/7b1974769e-0d7cb3f0582c4079908372a2c1d80b16/fargate-ip-192-168-105-82.eu-central-1.compute.internal`
//!   (zone, a 10-hex-32-hex task id, the node name);
//! - addresses `InternalIP` (the pod IP: pod and node share it), `InternalDNS` and `Hostname`
//!   both `ip-…` without `fargate-`;
//! - capacity unrelated to the pod size (AWS: "often larger"): a 0.25 vCPU/0.5 GB coredns pod
//!   on a node reporting `cpu: 2`, `memory: 15649708Ki`, `ephemeral-storage: 30832548Ki`,
//!   `pods: 1`, allocatable memory `15547308Ki` (100 MiB less) and ephemeral storage
//!   `28415276190`; a 3-vCPU pod on a node reporting `cpu: 4`, `memory: 16423900Ki`
//!   (allocatable `16321500Ki`); aws/containers-roadmap#1248 shows another small pod on
//!   `cpu: 2`, `memory: 4037540Ki`;
//! - system info (2021): `OS Image: Amazon Linux 2`, `Kernel Version:
//!   4.14.209-160.335.amzn2.x86_64`, `Container Runtime Version: containerd://1.3.2`,
//!   `Kubelet Version: v1.18.8-eks-7c9bda`; kubelet versions have the EKS shape
//!   `v<major>.<minor>.<patch>-eks-<7 hex>`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{NodeAddress, NodeSystemInfo, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::sizing::FargateSize;

/// The node label (and taint key) that marks Fargate nodes.
pub const COMPUTE_TYPE_LABEL: &str = "eks.amazonaws.com/compute-type";

/// The value of [`COMPUTE_TYPE_LABEL`] on Fargate nodes.
pub const COMPUTE_TYPE_FARGATE: &str = "fargate";

/// The OS image Fargate nodes report.
pub const OS_IMAGE: &str = "Amazon Linux 2";

/// The kernel version a Fargate node reported in the newest full `describe node` found (2021).
pub const OBSERVED_KERNEL_VERSION: &str = "4.14.209-160.335.amzn2.x86_64";

/// The container runtime a Fargate node reported in the same output (2021).
pub const OBSERVED_CONTAINER_RUNTIME: &str = "containerd://1.3.2";

/// The private DNS domain of a region, as EC2 names instances: `ec2.internal` in us-east-1,
/// `<region>.compute.internal` elsewhere.
pub fn private_dns_domain(region: &str) -> String {
    if region == "us-east-1" {
        "ec2.internal".to_string()
    } else {
        format!("{region}.compute.internal")
    }
}

fn dashed(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{a}-{b}-{c}-{d}")
}

/// The Fargate node's name: `fargate-ip-10-0-1-23.us-west-2.compute.internal`, or
/// `fargate-ip-10-0-1-23.ec2.internal` in us-east-1.
pub fn fargate_node_name(ip: Ipv4Addr, region: &str) -> String {
    format!("fargate-ip-{}.{}", dashed(ip), private_dns_domain(region))
}

/// The node's host name (the `kubernetes.io/hostname` label, and its `InternalDNS` and
/// `Hostname` addresses): the EC2 private DNS name, without `fargate-`.
pub fn fargate_node_hostname(ip: Ipv4Addr, region: &str) -> String {
    format!("ip-{}.{}", dashed(ip), private_dns_domain(region))
}

/// The labels a Fargate node carries, as real Fargate nodes show them.
pub fn fargate_node_labels(zone: &str, region: &str, ip: Ipv4Addr) -> BTreeMap<String, String> {
    [
        ("beta.kubernetes.io/arch", "amd64".to_string()),
        ("beta.kubernetes.io/os", "linux".to_string()),
        (COMPUTE_TYPE_LABEL, COMPUTE_TYPE_FARGATE.to_string()),
        (
            "failure-domain.beta.kubernetes.io/region",
            region.to_string(),
        ),
        ("failure-domain.beta.kubernetes.io/zone", zone.to_string()),
        ("kubernetes.io/arch", "amd64".to_string()),
        ("kubernetes.io/hostname", fargate_node_hostname(ip, region)),
        ("kubernetes.io/os", "linux".to_string()),
        ("topology.kubernetes.io/region", region.to_string()),
        ("topology.kubernetes.io/zone", zone.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The taint every Fargate node carries: `eks.amazonaws.com/compute-type=fargate:NoSchedule`.
pub fn fargate_node_taint() -> Taint {
    Taint {
        key: COMPUTE_TYPE_LABEL.to_string(),
        value: Some(COMPUTE_TYPE_FARGATE.to_string()),
        effect: "NoSchedule".to_string(),
        time_added: None,
    }
}

/// The node's addresses: `InternalIP`, `InternalDNS` and `Hostname`.
pub fn fargate_node_addresses(ip: Ipv4Addr, region: &str) -> Vec<NodeAddress> {
    let host = fargate_node_hostname(ip, region);
    vec![
        NodeAddress {
            type_: "InternalIP".into(),
            address: ip.to_string(),
        },
        NodeAddress {
            type_: "InternalDNS".into(),
            address: host.clone(),
        },
        NodeAddress {
            type_: "Hostname".into(),
            address: host,
        },
    ]
}

/// A Fargate task id as it appears in the provider ID (`7b1974769e-0d7cb3f0582c4079908372a2c1d80b16`),
/// made deterministically from a seed.
pub fn fargate_task_id(seed: u64) -> String {
    let mut state = seed;
    let mut next = || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let head = next() & 0xff_ffff_ffff;
    format!("{head:010x}-{:016x}{:016x}", next(), next())
}

/// The node's `spec.providerID`: `aws:///<zone>/<task id>/<node name>`.
pub fn fargate_provider_id(zone: &str, task_id: &str, node_name: &str) -> String {
    format!("aws:///{zone}/{task_id}/{node_name}")
}

/// What a Fargate node reports as its capacity and allocatable resources.
#[derive(Debug, Clone, PartialEq)]
pub struct FargateNodeResources {
    /// `status.capacity`.
    pub capacity: BTreeMap<String, Quantity>,
    /// `status.allocatable`.
    pub allocatable: BTreeMap<String, Quantity>,
}

/// The capacity a Fargate node reports for a pod of `size`. AWS documents only that it has
/// no relation to the pod size and is often larger. DERIVED rule fitted to the observed
/// outputs: the vCPU is the smallest of 2, 4, 8 or 16 that holds the pod's; the memory is a
/// 16, 32, 64, 128 or 256 GiB host (the smallest with at least 1 GiB more than the pod's)
/// less the 1127508 KiB the 16 GiB hosts held back (reports `15649708Ki`); allocatable
/// memory is 100 MiB less; ephemeral storage is the observed `30832548Ki`
/// (`28415276190` allocatable); one pod.
pub fn fargate_node_capacity(size: &FargateSize) -> FargateNodeResources {
    let cpu = [2u32, 4, 8, 16]
        .into_iter()
        .find(|c| c * 1000 >= size.vcpu_millis)
        .unwrap_or(16);
    let host_gib = [16u64, 32, 64, 128, 256]
        .into_iter()
        .find(|g| g * 1024 >= size.memory_mib + 1024)
        .unwrap_or(256);
    let memory_ki = host_gib * 1024 * 1024 - 1_127_508;
    let capacity = BTreeMap::from([
        ("cpu".to_string(), Quantity(cpu.to_string())),
        (
            "ephemeral-storage".to_string(),
            Quantity("30832548Ki".into()),
        ),
        ("hugepages-1Gi".to_string(), Quantity("0".into())),
        ("hugepages-2Mi".to_string(), Quantity("0".into())),
        ("memory".to_string(), Quantity(format!("{memory_ki}Ki"))),
        ("pods".to_string(), Quantity("1".into())),
    ]);
    let mut allocatable = capacity.clone();
    allocatable.insert(
        "memory".to_string(),
        Quantity(format!("{}Ki", memory_ki - 102_400)),
    );
    allocatable.insert(
        "ephemeral-storage".to_string(),
        Quantity("28415276190".into()),
    );
    FargateNodeResources {
        capacity,
        allocatable,
    }
}

/// A kubelet version in EKS's shape: `v1.33.5-eks-3025e55` from `1.33.5` and `3025e55`.
pub fn eks_kubelet_version(kubernetes_version: &str, build: &str) -> String {
    let v = kubernetes_version.trim_start_matches('v');
    format!("v{v}-eks-{build}")
}

/// The node's `status.nodeInfo`, as a Fargate node reports it, for a kubelet version such as
/// `v1.33.5-eks-3025e55`. The kernel and runtime are the newest observed values (2021); the
/// lead may override them.
pub fn fargate_node_info(
    kubelet_version: &str,
    system_uuid: &str,
    boot_id: &str,
) -> NodeSystemInfo {
    NodeSystemInfo {
        architecture: "amd64".into(),
        boot_id: boot_id.into(),
        container_runtime_version: OBSERVED_CONTAINER_RUNTIME.into(),
        kernel_version: OBSERVED_KERNEL_VERSION.into(),
        kube_proxy_version: kubelet_version.into(),
        kubelet_version: kubelet_version.into(),
        machine_id: String::new(),
        operating_system: "linux".into(),
        os_image: OS_IMAGE.into(),
        system_uuid: system_uuid.into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_named_after_the_ec2_private_dns_name_with_fargate_in_front() {
        let ip = Ipv4Addr::new(10, 42, 11, 96);
        assert_eq!(
            fargate_node_name(ip, "us-west-2"),
            "fargate-ip-10-42-11-96.us-west-2.compute.internal"
        );
        assert_eq!(
            fargate_node_name(Ipv4Addr::new(172, 31, 192, 45), "us-east-1"),
            "fargate-ip-172-31-192-45.ec2.internal"
        );
        assert_eq!(
            fargate_node_hostname(Ipv4Addr::new(192, 168, 105, 82), "eu-central-1"),
            "ip-192-168-105-82.eu-central-1.compute.internal"
        );
    }

    #[test]
    fn node_labels_match_a_real_fargate_node() {
        let labels = fargate_node_labels("us-west-2b", "us-west-2", Ipv4Addr::new(10, 42, 11, 96));
        let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            text,
            [
                "beta.kubernetes.io/arch=amd64",
                "beta.kubernetes.io/os=linux",
                "eks.amazonaws.com/compute-type=fargate",
                "failure-domain.beta.kubernetes.io/region=us-west-2",
                "failure-domain.beta.kubernetes.io/zone=us-west-2b",
                "kubernetes.io/arch=amd64",
                "kubernetes.io/hostname=ip-10-42-11-96.us-west-2.compute.internal",
                "kubernetes.io/os=linux",
                "topology.kubernetes.io/region=us-west-2",
                "topology.kubernetes.io/zone=us-west-2b",
            ]
        );
    }

    #[test]
    fn the_taint_keeps_ordinary_pods_off_fargate_nodes() {
        let t = fargate_node_taint();
        assert_eq!(
            (t.key.as_str(), t.value.as_deref(), t.effect.as_str()),
            (
                "eks.amazonaws.com/compute-type",
                Some("fargate"),
                "NoSchedule"
            )
        );
    }

    #[test]
    fn the_provider_id_has_zone_task_id_and_node_name() {
        let id = fargate_task_id(7);
        assert_eq!(id.len(), 43);
        assert_eq!(id.as_bytes()[10], b'-');
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_eq!(fargate_task_id(7), id, "deterministic");
        assert_ne!(fargate_task_id(8), id);
        let name = fargate_node_name(Ipv4Addr::new(192, 168, 105, 82), "eu-central-1");
        assert_eq!(
            fargate_provider_id(
                "eu-central-1b",
                "7b1974769e-0d7cb3f0582c4079908372a2c1d80b16",
                &name
            ),
            "aws:///eu-central-1b/7b1974769e-0d7cb3f0582c4079908372a2c1d80b16/fargate-ip-192-168-105-82.eu-central-1.compute.internal"
        );
    }

    #[test]
    fn a_small_pod_lands_on_a_node_reporting_2_cpus_and_about_15_gib() {
        let r = fargate_node_capacity(&FargateSize::SMALLEST);
        assert_eq!(r.capacity["cpu"].0, "2");
        assert_eq!(r.capacity["memory"].0, "15649708Ki");
        assert_eq!(r.allocatable["memory"].0, "15547308Ki");
        assert_eq!(r.capacity["pods"].0, "1");
        assert_eq!(r.capacity["ephemeral-storage"].0, "30832548Ki");
        assert_eq!(r.allocatable["ephemeral-storage"].0, "28415276190");
    }

    #[test]
    fn a_large_pod_lands_on_a_node_at_least_as_large() {
        let r = fargate_node_capacity(&FargateSize {
            vcpu_millis: 8000,
            memory_mib: 32 * 1024,
        });
        assert_eq!(r.capacity["cpu"].0, "8");
        assert_eq!(
            r.capacity["memory"].0,
            format!("{}Ki", 64 * 1024 * 1024 - 1_127_508)
        );
        let r = fargate_node_capacity(&FargateSize {
            vcpu_millis: 16000,
            memory_mib: 120 * 1024,
        });
        assert_eq!(r.capacity["cpu"].0, "16");
        assert_eq!(
            r.capacity["memory"].0,
            format!("{}Ki", 128 * 1024 * 1024 - 1_127_508)
        );
    }

    #[test]
    fn node_info_looks_like_a_fargate_node() {
        let v = eks_kubelet_version("1.33.5", "3025e55");
        assert_eq!(v, "v1.33.5-eks-3025e55");
        let info = fargate_node_info(&v, "EC2C7130-59B9-D75C-F44C-2CCFAD69C864", "boot");
        assert_eq!(info.os_image, "Amazon Linux 2");
        assert_eq!(info.kubelet_version, "v1.33.5-eks-3025e55");
        assert_eq!(info.operating_system, "linux");
        assert_eq!(info.architecture, "amd64");
    }

    #[test]
    fn addresses_carry_the_pod_ip_and_the_plain_host_name() {
        let a = fargate_node_addresses(Ipv4Addr::new(10, 0, 1, 23), "us-east-1");
        let text: Vec<String> = a
            .iter()
            .map(|a| format!("{}={}", a.type_, a.address))
            .collect();
        assert_eq!(
            text,
            [
                "InternalIP=10.0.1.23",
                "InternalDNS=ip-10-0-1-23.ec2.internal",
                "Hostname=ip-10-0-1-23.ec2.internal",
            ]
        );
    }
}
