//! The capacity and allocatable a node of an instance type reports when it runs an
//! EKS-optimised AMI, with the kubelet settings nodeadm (AL2023) writes.
//!
//! nodeadm (`nodeadm/internal/kubelet/config.go`) reserves for Kubernetes:
//! - CPU: 6 % of the first core, 1 % of the second, 0.5 % each of the third and fourth and
//!   0.25 % of every further core, in whole millicores (each range rounded down);
//! - memory: `11 MiB × max pods + 255 MiB`;
//! - ephemeral storage: 1 GiB;
//!
//! and sets the hard eviction thresholds `memory.available<100Mi` and `nodefs.available<10%`,
//! which the kubelet also takes off allocatable. The kubelet floors allocatable at zero.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{CatalogError, InstanceType};

/// The kubelet's `memory.available` hard eviction threshold on an EKS AMI node (MiB).
pub const EVICTION_HARD_MEMORY_MIB: u64 = 100;
/// The kubelet's `nodefs.available` hard eviction threshold on an EKS AMI node (percent).
pub const EVICTION_HARD_NODEFS_PERCENT: u64 = 10;
/// Ephemeral storage nodeadm reserves for Kubernetes (GiB).
pub const KUBE_RESERVED_EPHEMERAL_GIB: u64 = 1;
/// The extended resource the NVIDIA device plugin advertises GPUs as.
pub const NVIDIA_GPU_RESOURCE: &str = "nvidia.com/gpu";
/// The extended resource the AWS Neuron device plugin advertises Inferentia and Trainium
/// devices as.
pub const NEURON_RESOURCE: &str = "aws.amazon.com/neuron";
/// The extended resource the AWS Neuron device plugin advertises NeuronCores as.
pub const NEURON_CORE_RESOURCE: &str = "aws.amazon.com/neuroncore";

/// What a node reports in `status.capacity` and `status.allocatable`, and the kubelet's
/// `kubeReserved` behind the difference.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeResources {
    /// `status.capacity`: cpu, memory, pods, ephemeral-storage, hugepages-1Gi, hugepages-2Mi,
    /// `nvidia.com/gpu` on NVIDIA GPU types and `aws.amazon.com/neuron` and
    /// `aws.amazon.com/neuroncore` on Inferentia and Trainium types.
    pub capacity: BTreeMap<String, Quantity>,
    /// `status.allocatable`: capacity less kube-reserved and the hard eviction thresholds.
    pub allocatable: BTreeMap<String, Quantity>,
    /// The kubelet's `kubeReserved` as nodeadm writes it: cpu, memory, ephemeral-storage.
    pub kube_reserved: BTreeMap<String, Quantity>,
}

/// nodeadm's kube-reserved CPU in millicores for a node of `vcpu` cores.
pub fn kube_reserved_cpu_millis(vcpu: u32) -> u64 {
    let total = u64::from(vcpu) * 1000;
    // (start, end, share in hundredths of a percent) of each range of millicores.
    let ranges = [
        (0, 1000, 600),
        (1000, 2000, 100),
        (2000, 4000, 50),
        (4000, total, 25),
    ];
    ranges
        .iter()
        .filter(|(start, _, _)| total > *start)
        .map(|&(start, end, share)| (total.min(end) - start) * share / 10_000)
        .sum()
}

/// nodeadm's kube-reserved memory in MiB for a node of `max_pods`: `11 × max_pods + 255`.
pub fn kube_reserved_memory_mib(max_pods: u32) -> u64 {
    11 * u64::from(max_pods) + 255
}

/// The capacity and allocatable of a node of instance type `it` whose kubelet runs with
/// `max_pods` and whose root volume is `root_volume_gib` GiB.
///
/// Capacity: cpu = vCPUs, memory = the type's memory (in Ki), pods = `max_pods`,
/// ephemeral-storage = the root volume (in Ki), no huge pages, and `nvidia.com/gpu` = the GPU
/// count on types with NVIDIA GPUs. (A real node reports slightly less memory and disk than
/// the type and volume sizes, for the kernel and the filesystem; skiff uses the nominal
/// sizes.) Inferentia and Trainium types also get `aws.amazon.com/neuron` (devices) and
/// `aws.amazon.com/neuroncore`, as Karpenter lists them. Allocatable takes off kube-reserved, `memory.available` 100Mi, and for ephemeral
/// storage 10 % and 1 GiB; like a real kubelet it writes allocatable ephemeral storage in
/// bytes. Fails for a type whose vCPU count or memory skiff does not know.
pub fn node_resources(
    it: &InstanceType,
    max_pods: u32,
    root_volume_gib: u64,
) -> Result<NodeResources, CatalogError> {
    let unknown = |missing| CatalogError::UnknownShape {
        instance_type: it.name.clone(),
        missing,
    };
    let vcpu = it.vcpu.ok_or_else(|| unknown("vCPU"))?;
    let memory_mib = it.memory_mib.ok_or_else(|| unknown("memory"))?;
    let q = |s: String| Quantity(s);
    let disk_bytes = root_volume_gib.saturating_mul(1 << 30);

    let mut capacity = BTreeMap::new();
    capacity.insert("cpu".to_string(), q(vcpu.to_string()));
    capacity.insert(
        "memory".to_string(),
        q(format!("{}Ki", memory_mib.saturating_mul(1024))),
    );
    capacity.insert("pods".to_string(), q(max_pods.to_string()));
    capacity.insert(
        "ephemeral-storage".to_string(),
        q(format!("{}Ki", disk_bytes >> 10)),
    );
    capacity.insert("hugepages-1Gi".to_string(), q("0".to_string()));
    capacity.insert("hugepages-2Mi".to_string(), q("0".to_string()));
    if it.has_nvidia_gpus() {
        capacity.insert(NVIDIA_GPU_RESOURCE.to_string(), q(it.gpus.to_string()));
    }
    if it.neuron_devices() > 0 {
        capacity.insert(
            NEURON_RESOURCE.to_string(),
            q(it.neuron_devices().to_string()),
        );
        capacity.insert(
            NEURON_CORE_RESOURCE.to_string(),
            q(it.neuron_cores.to_string()),
        );
    }

    let reserved_cpu = kube_reserved_cpu_millis(vcpu);
    let reserved_memory = kube_reserved_memory_mib(max_pods);
    let mut kube_reserved = BTreeMap::new();
    kube_reserved.insert("cpu".to_string(), q(format!("{reserved_cpu}m")));
    kube_reserved.insert("memory".to_string(), q(format!("{reserved_memory}Mi")));
    kube_reserved.insert(
        "ephemeral-storage".to_string(),
        q(format!("{KUBE_RESERVED_EPHEMERAL_GIB}Gi")),
    );

    let mut allocatable = capacity.clone();
    let cpu = (u64::from(vcpu) * 1000).saturating_sub(reserved_cpu);
    allocatable.insert("cpu".to_string(), q(format!("{cpu}m")));
    let memory = memory_mib
        .saturating_sub(reserved_memory)
        .saturating_sub(EVICTION_HARD_MEMORY_MIB);
    allocatable.insert("memory".to_string(), q(format!("{}Ki", memory * 1024)));
    let ephemeral = disk_bytes
        .saturating_sub(disk_bytes.saturating_mul(EVICTION_HARD_NODEFS_PERCENT) / 100)
        .saturating_sub(KUBE_RESERVED_EPHEMERAL_GIB << 30);
    allocatable.insert("ephemeral-storage".to_string(), q(ephemeral.to_string()));

    Ok(NodeResources {
        capacity,
        allocatable,
        kube_reserved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{MaxPodsOptions, catalog};

    fn resources(name: &str, max_pods: u32, disk_gib: u64) -> NodeResources {
        let it = catalog()
            .get(name)
            .unwrap_or_else(|| panic!("{name} is missing"));
        node_resources(it, max_pods, disk_gib).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn kube_reserved_cpu_follows_the_eks_ami_shares() {
        for (vcpu, millis) in [
            (1, 60),
            (2, 70),
            (3, 75),
            (4, 80),
            (5, 82),
            (8, 90),
            (16, 110),
            (96, 310),
        ] {
            assert_eq!(kube_reserved_cpu_millis(vcpu), millis, "{vcpu} vCPU");
        }
    }

    #[test]
    fn an_m5_large_has_1930m_cpu_29_pods_and_574_mib_reserved() {
        assert_eq!(kube_reserved_memory_mib(29), 574);
        let r = resources("m5.large", 29, 20);
        assert_eq!(r.capacity["cpu"].0, "2");
        assert_eq!(r.capacity["memory"].0, "8388608Ki");
        assert_eq!(r.capacity["pods"].0, "29");
        assert_eq!(r.capacity["ephemeral-storage"].0, "20971520Ki");
        assert_eq!(r.capacity["hugepages-2Mi"].0, "0");
        assert_eq!(r.allocatable["cpu"].0, "1930m");
        assert_eq!(r.allocatable["pods"].0, "29");
        assert_eq!(
            r.allocatable["memory"].0,
            format!("{}Ki", (8192 - 574 - 100) * 1024)
        );
        // 20 GiB − 10 % − 1 GiB = 17 GiB, in bytes.
        assert_eq!(
            r.allocatable["ephemeral-storage"].0,
            (17u64 << 30).to_string()
        );
        assert_eq!(r.kube_reserved["memory"].0, "574Mi");
        assert_eq!(r.kube_reserved["cpu"].0, "70m");
        assert!(!r.capacity.contains_key(NVIDIA_GPU_RESOURCE));
    }

    #[test]
    fn an_m4_xlarge_with_custom_networking_reserves_739_mib_like_the_nodeadm_e2e_case() {
        let it = catalog().get("m4.xlarge");
        let opts = MaxPodsOptions {
            custom_networking: true,
            ..MaxPodsOptions::default()
        };
        let max_pods = it.map(|it| it.max_pods(&opts));
        assert_eq!(max_pods, Some(44));
        let r = resources("m4.xlarge", 44, 20);
        assert_eq!(r.kube_reserved["memory"].0, "739Mi");
        assert_eq!(r.allocatable["pods"].0, "44");
    }

    #[test]
    fn a_g5_xlarge_advertises_its_nvidia_gpu() {
        let r = resources("g5.xlarge", 58, 80);
        assert_eq!(r.capacity[NVIDIA_GPU_RESOURCE].0, "1");
        assert_eq!(r.allocatable[NVIDIA_GPU_RESOURCE].0, "1");
        let amd = resources("g4ad.xlarge", 8, 80);
        assert!(!amd.capacity.contains_key(NVIDIA_GPU_RESOURCE));
    }

    #[test]
    fn an_inf2_xlarge_advertises_one_neuron_device_of_two_cores() {
        let r = resources("inf2.xlarge", 58, 20);
        assert_eq!(r.capacity[NEURON_RESOURCE].0, "1");
        assert_eq!(r.allocatable[NEURON_CORE_RESOURCE].0, "2");
        // Karpenter's reference lists 3920m allocatable CPU for it, as nodeadm reserves.
        assert_eq!(r.allocatable["cpu"].0, "3920m");
    }

    #[test]
    fn allocatable_floors_at_zero_when_reservations_exceed_capacity() {
        // t3.nano: 512 MiB, but 110 pods reserve 1465 MiB.
        let r = resources("t3.nano", 110, 0);
        assert_eq!(r.allocatable["memory"].0, "0Ki");
        assert_eq!(r.allocatable["ephemeral-storage"].0, "0");
    }

    #[test]
    fn a_type_of_unknown_size_cannot_be_sized() {
        let it = catalog().get("trn2.3xlarge");
        let err = it.map(|it| node_resources(it, 30, 20));
        match err {
            Some(Err(e)) => assert!(e.to_string().contains("trn2.3xlarge"), "{e}"),
            other => panic!("expected an error, got {other:?}"),
        }
    }
}
