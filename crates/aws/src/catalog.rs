//! skiff's EC2 instance-type catalog (vCPU, memory, ENI and IP limits, hypervisor, price), the
//! EKS AMI's max-pods calculator in every VPC CNI mode, and the capacity and allocatable a node
//! of a type reports when it runs an EKS-optimised AMI.
//!
//! The facts live in `crates/aws/data/instance-types.txt` (its header says what every column
//! is and where it comes from); they are embedded in the binary and parsed once, on first use
//! of [`catalog`].

mod render;
mod resources;

use std::sync::LazyLock;

pub use render::{instance_types_json, instance_types_table};
pub use resources::{
    EVICTION_HARD_MEMORY_MIB, EVICTION_HARD_NODEFS_PERCENT, KUBE_RESERVED_EPHEMERAL_GIB,
    NEURON_CORE_RESOURCE, NEURON_RESOURCE, NVIDIA_GPU_RESOURCE, NodeResources,
    kube_reserved_cpu_millis, kube_reserved_memory_mib, node_resources,
};

/// The catalog file, embedded at build time.
const CATALOG_TEXT: &str = include_str!("../data/instance-types.txt");

/// The parsed catalog, built on first use.
static CATALOG: LazyLock<Catalog> = LazyLock::new(|| match Catalog::parse(CATALOG_TEXT) {
    Ok(catalog) => catalog,
    // The file is part of the source tree and a test parses it, so this cannot happen in a
    // build that passed its tests.
    Err(e) => panic!("crates/aws/data/instance-types.txt is malformed: {e}"),
});

/// skiff's catalog of every EC2 instance type the VPC CNI knows (1391 types), parsed once.
pub fn catalog() -> &'static Catalog {
    &CATALOG
}

/// A processor architecture, by its Kubernetes name (the `kubernetes.io/arch` node label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// 64-bit x86 (EC2's `x86_64`), `kubernetes.io/arch=amd64`.
    Amd64,
    /// 64-bit ARM, AWS Graviton (EC2's `arm64`), `kubernetes.io/arch=arm64`.
    Arm64,
}

impl Arch {
    /// The value of the `kubernetes.io/arch` label: `amd64` or `arm64`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// EC2's name for it in `ProcessorInfo.SupportedArchitectures`: `x86_64` or `arm64`.
    pub fn ec2_name(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// The hypervisor EC2 reports for an instance type (`Hypervisor` in DescribeInstanceTypes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hypervisor {
    /// The Nitro system: the only hypervisor on which the VPC CNI can assign /28 prefixes.
    Nitro,
    /// The older Xen hypervisor (m4, c4, p3, t2, …).
    Xen,
    /// EC2 reports no hypervisor: bare-metal types (and the macs). The VPC CNI's limits
    /// table calls this "unknown".
    Unknown,
}

impl Hypervisor {
    /// The name as the VPC CNI's limits table writes it: `nitro`, `xen` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Hypervisor::Nitro => "nitro",
            Hypervisor::Xen => "xen",
            Hypervisor::Unknown => "unknown",
        }
    }
}

/// One EC2 instance type: its size, its network limits and its price.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceType {
    /// The instance type, e.g. `m5.large`.
    pub name: String,
    /// Its family: the part of the name before the first `.`, e.g. `m5` (Karpenter's
    /// `karpenter.k8s.aws/instance-family`).
    pub family: String,
    /// Default vCPUs (`VCpuInfo.DefaultVCpus`); `None` for the few types skiff has no figure for.
    pub vcpu: Option<u32>,
    /// Memory in MiB (`MemoryInfo.SizeInMiB`); `None` when unknown.
    pub memory_mib: Option<u64>,
    /// Processor architecture; `None` when unknown (the Apple-silicon macs among others).
    pub architecture: Option<Arch>,
    /// Total GPUs (0 for none, and for the types whose GPUs skiff does not know).
    pub gpus: u32,
    /// GPU manufacturer in lower case (`nvidia`, `amd`, `habana`); `None` without GPUs.
    pub gpu_manufacturer: Option<String>,
    /// GPU model in lower case (`a10g`, `h100`); `None` without GPUs.
    pub gpu_name: Option<String>,
    /// Memory of each GPU in MiB; 0 without GPUs.
    pub gpu_memory_mib: u64,
    /// Accelerators other than GPUs: AWS Inferentia and Trainium (Neuron devices), Qualcomm
    /// AI 100 (0 for none, and for the types skiff does not know).
    pub accelerators: u32,
    /// Accelerator manufacturer in lower case (`aws`, `qualcomm`); `None` without any.
    pub accelerator_manufacturer: Option<String>,
    /// Accelerator model in lower case (`inferentia2`, `trainium`); `None` without any.
    pub accelerator_name: Option<String>,
    /// NeuronCores over all the type's Inferentia/Trainium devices; 0 without them.
    pub neuron_cores: u32,
    /// Network cards (`NetworkInfo.NetworkCards`); the default card is card 0 for every type.
    pub network_cards: u32,
    /// ENIs the default network card takes: the limit the VPC CNI and the max-pods
    /// calculator use.
    pub max_enis: u32,
    /// ENIs over all network cards.
    pub max_enis_all_cards: u32,
    /// Private IPv4 addresses per ENI (`NetworkInfo.Ipv4AddressesPerInterface`), the primary
    /// address included.
    pub ipv4_per_eni: u32,
    /// The hypervisor.
    pub hypervisor: Hypervisor,
    /// Whether it is a bare-metal type.
    pub bare_metal: bool,
    /// Branch ENIs available to security groups for pods (`vpc.amazonaws.com/pod-eni`);
    /// `None` when unknown.
    pub branch_enis: Option<u32>,
    /// On-demand price in US dollars per hour (Linux, us-east-1); `None` when AWS lists none.
    pub on_demand_price: Option<f64>,
}

/// Pods the max-pods calculator never exceeds on a type of at most 30 vCPUs, unless asked for
/// the maximum allowed.
pub const MAX_PODS_CEILING_LOW_CPU: u32 = 110;
/// Pods the max-pods calculator never exceeds on a type of more than 30 vCPUs, unless asked
/// for the maximum allowed.
pub const MAX_PODS_CEILING_HIGH_CPU: u32 = 250;
/// The vCPU count above which the higher ceiling applies.
pub const MAX_PODS_HIGH_CPU_ABOVE: u32 = 30;
/// IPv4 addresses in one prefix the VPC CNI assigns to an ENI slot with prefix delegation
/// (a /28).
pub const IPS_PER_PREFIX: u32 = 16;

/// The VPC CNI setup the EKS AMI's `max-pods-calculator.sh` is asked about (its flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPodsOptions {
    /// `--cni-custom-networking-enabled`: pods use ENIs in ENIConfig subnets, so the primary
    /// ENI carries none.
    pub custom_networking: bool,
    /// `--cni-prefix-delegation-enabled`: each ENI slot holds a /28 prefix instead of one IP.
    pub prefix_delegation: bool,
    /// `--cni-version` as (major, minor); prefix delegation needs 1.9 or newer. Default 1.20.
    pub cni_version: (u32, u32),
    /// `--cni-max-eni`: use at most this many ENIs.
    pub max_eni: Option<u32>,
    /// `--show-max-allowed`: the uncapped figure instead of the recommended one.
    pub show_max_allowed: bool,
}

impl Default for MaxPodsOptions {
    fn default() -> Self {
        MaxPodsOptions {
            custom_networking: false,
            prefix_delegation: false,
            cni_version: (1, 20),
            max_eni: None,
            show_max_allowed: false,
        }
    }
}

impl MaxPodsOptions {
    /// Whether the CNI version supports prefix delegation: newer than 1.8, as the calculator
    /// tests it (major > 1, or major 1 and minor > 8).
    pub fn prefix_delegation_supported(&self) -> bool {
        let (major, minor) = self.cni_version;
        major > 1 || (major == 1 && minor > 8)
    }
}

impl InstanceType {
    /// The type's line in `eni-max-pods.txt`: ENIs on the default card × (IPv4 per ENI − 1) + 2.
    /// This is the max pods nodeadm (AL2023) and the AL2 bootstrap give the kubelet by default,
    /// with no 110/250 ceiling.
    pub fn eni_max_pods(&self) -> u32 {
        self.max_enis
            .saturating_mul(self.ipv4_per_eni.saturating_sub(1))
            .saturating_add(2)
    }

    /// What the EKS AMI's `max-pods-calculator.sh` prints for this type with `opts`.
    ///
    /// 1. ENIs = the default card's ENIs, or `--cni-max-eni` if smaller; one fewer with custom
    ///    networking (the primary ENI carries no pods).
    /// 2. With prefix delegation on a CNI of 1.9 or newer and a `nitro` hypervisor: ENIs ×
    ///    (IPv4 per ENI − 1) × 16 + 2. Otherwise ENIs × (IPv4 per ENI − 1) + 2. Bare-metal
    ///    types report no hypervisor, so they fall back to the secondary-IP figure.
    /// 3. With `show_max_allowed` that figure as is; otherwise at most 250 when the type has
    ///    more than 30 vCPUs, else at most 110 (in every mode, not only prefix delegation).
    ///
    /// For the five types whose vCPU count skiff does not know, the 110 ceiling applies: that
    /// is what the script itself does when `CpuCount` is not a number (`[ "null" -gt 30 ]`
    /// fails, so it takes the `else` branch). The script's arithmetic can go below zero
    /// (custom networking with `--cni-max-eni 0`); this returns 0 there.
    pub fn max_pods(&self, opts: &MaxPodsOptions) -> u32 {
        let mut enis = i64::from(self.max_enis);
        if let Some(max_eni) = opts.max_eni {
            enis = enis.min(i64::from(max_eni));
        }
        if opts.custom_networking {
            enis -= 1;
        }
        let ips = i64::from(self.ipv4_per_eni) - 1;
        let prefix_delegation = self.hypervisor == Hypervisor::Nitro
            && opts.prefix_delegation
            && opts.prefix_delegation_supported();
        let max = if prefix_delegation {
            enis * (ips * i64::from(IPS_PER_PREFIX)) + 2
        } else {
            enis * ips + 2
        };
        let max = if opts.show_max_allowed {
            max
        } else {
            max.min(i64::from(self.max_pods_ceiling()))
        };
        u32::try_from(max.max(0)).unwrap_or(u32::MAX)
    }

    /// The calculator's recommended ceiling for this type: 250 above 30 vCPUs, else 110
    /// (also 110 when the vCPU count is unknown, as in the script).
    pub fn max_pods_ceiling(&self) -> u32 {
        match self.vcpu {
            Some(vcpu) if vcpu > MAX_PODS_HIGH_CPU_ABOVE => MAX_PODS_CEILING_HIGH_CPU,
            _ => MAX_PODS_CEILING_LOW_CPU,
        }
    }

    /// Whether its GPUs are NVIDIA GPUs (a node advertises them as `nvidia.com/gpu`).
    pub fn has_nvidia_gpus(&self) -> bool {
        self.gpus > 0 && self.gpu_manufacturer.as_deref() == Some("nvidia")
    }

    /// Its AWS Neuron devices (Inferentia, Trainium), which the Neuron device plugin
    /// advertises as `aws.amazon.com/neuron`; 0 for other types.
    pub fn neuron_devices(&self) -> u32 {
        if self.accelerator_manufacturer.as_deref() == Some("aws") {
            self.accelerators
        } else {
            0
        }
    }
}

/// Why an instance type cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// Names that are no EC2 instance type, in EC2's words. EC2 answers DescribeInstanceTypes
    /// with this message under the code `InvalidInstanceType`, other EC2 calls (e.g.
    /// ModifyInstanceAttribute) under `InvalidParameterValue`, and EKS's CreateNodegroup
    /// under `InvalidParameterException`.
    #[error("The following supplied instance types do not exist: [{}]", .names.join(", "))]
    UnknownInstanceTypes {
        /// The unknown names, in the order supplied.
        names: Vec<String>,
    },
    /// A type skiff knows but whose vCPU count or memory it lacks, so it cannot size a node.
    #[error(
        "skiff's instance-type catalog has no {missing} figure for {instance_type}, so it cannot size a node of that type"
    )]
    UnknownShape {
        /// The instance type.
        instance_type: String,
        /// What is missing: `vCPU` or `memory`.
        missing: &'static str,
    },
}

/// A line of the catalog file that does not read as an instance type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("instance-types.txt line {line}: {reason}")]
pub struct ParseError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// A catalog of EC2 instance types, sorted by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// The types, sorted by name, names unique.
    types: Vec<InstanceType>,
}

impl Catalog {
    /// Reads a catalog in the format of `crates/aws/data/instance-types.txt`.
    pub fn parse(text: &str) -> Result<Catalog, ParseError> {
        let mut types = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let it = parse_line(line).map_err(|reason| ParseError {
                line: line_no,
                reason,
            })?;
            types.push((line_no, it));
        }
        types.sort_by(|(_, a), (_, b)| a.name.cmp(&b.name));
        if let Some(pair) = types.windows(2).find(|w| w[0].1.name == w[1].1.name) {
            return Err(ParseError {
                line: pair[1].0,
                reason: format!("{} is listed twice", pair[1].1.name),
            });
        }
        Ok(Catalog {
            types: types.into_iter().map(|(_, it)| it).collect(),
        })
    }

    /// The instance type of that name, if EC2 has one.
    pub fn get(&self, name: &str) -> Option<&InstanceType> {
        self.types
            .binary_search_by(|it| it.name.as_str().cmp(name))
            .ok()
            .and_then(|i| self.types.get(i))
    }

    /// The instance type of that name, or EC2's error for an unknown type.
    pub fn lookup(&self, name: &str) -> Result<&InstanceType, CatalogError> {
        self.get(name)
            .ok_or_else(|| CatalogError::UnknownInstanceTypes {
                names: vec![name.to_string()],
            })
    }

    /// The instance types of those names, in the order given, or EC2's error naming every
    /// unknown one.
    pub fn lookup_all<S: AsRef<str>>(
        &self,
        names: &[S],
    ) -> Result<Vec<&InstanceType>, CatalogError> {
        let mut found = Vec::with_capacity(names.len());
        let mut unknown = Vec::new();
        for name in names {
            match self.get(name.as_ref()) {
                Some(it) => found.push(it),
                None => unknown.push(name.as_ref().to_string()),
            }
        }
        if unknown.is_empty() {
            Ok(found)
        } else {
            Err(CatalogError::UnknownInstanceTypes { names: unknown })
        }
    }

    /// Every instance type, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &InstanceType> {
        self.types.iter()
    }

    /// The instance types of one family (`m5`: m5.large … m5.metal, not m5d or m5n), sorted
    /// by name.
    pub fn family<'a>(&'a self, family: &'a str) -> impl Iterator<Item = &'a InstanceType> {
        self.types.iter().filter(move |it| it.family == family)
    }

    /// How many instance types it holds.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

/// Reads one data line (18 whitespace-separated columns, see the file's header).
fn parse_line(line: &str) -> Result<InstanceType, String> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    let [
        name,
        vcpu,
        mem,
        arch,
        cards,
        enis,
        enis_all,
        ipv4,
        hyp,
        metal,
        branch,
        price,
        gpus,
        gpu_mem,
        accels,
        neuron_cores,
        accel,
        gpu,
    ] = cols.as_slice()
    else {
        return Err(format!("expected 18 columns, found {}", cols.len()));
    };
    let name = name.to_string();
    let family = match name.split_once('.') {
        Some((family, size)) if !family.is_empty() && !size.is_empty() => family.to_string(),
        _ => return Err(format!("{name} is not a family.size instance type name")),
    };
    let architecture = match *arch {
        "-" => None,
        "x86_64" => Some(Arch::Amd64),
        "arm64" => Some(Arch::Arm64),
        other => return Err(format!("unknown architecture {other}")),
    };
    let hypervisor = match *hyp {
        "nitro" => Hypervisor::Nitro,
        "xen" => Hypervisor::Xen,
        "unknown" => Hypervisor::Unknown,
        other => return Err(format!("unknown hypervisor {other}")),
    };
    let bare_metal = match *metal {
        "y" => true,
        "n" => false,
        other => return Err(format!("bare metal must be y or n, not {other}")),
    };
    let (gpu_manufacturer, gpu_name) = maker_and_model(gpu, "GPU")?;
    let (accelerator_manufacturer, accelerator_name) = maker_and_model(accel, "accelerator")?;
    let on_demand_price = match optional::<f64>(price, "price")? {
        Some(p) if !(p.is_finite() && p >= 0.0) => return Err(format!("bad price {price}")),
        p => p,
    };
    Ok(InstanceType {
        family,
        vcpu: optional(vcpu, "vcpu")?,
        memory_mib: optional(mem, "memory")?,
        architecture,
        gpus: optional(gpus, "gpus")?.unwrap_or(0),
        gpu_manufacturer,
        gpu_name,
        gpu_memory_mib: required(gpu_mem, "GPU memory")?,
        accelerators: optional(accels, "accelerators")?.unwrap_or(0),
        accelerator_manufacturer,
        accelerator_name,
        neuron_cores: optional(neuron_cores, "NeuronCores")?.unwrap_or(0),
        network_cards: required(cards, "network cards")?,
        max_enis: required(enis, "ENIs")?,
        max_enis_all_cards: required(enis_all, "ENIs over all cards")?,
        ipv4_per_eni: required(ipv4, "IPv4 per ENI")?,
        hypervisor,
        bare_metal,
        branch_enis: optional(branch, "branch ENIs")?,
        on_demand_price,
        name,
    })
}

/// A `manufacturer/model` column, or neither for `-`.
fn maker_and_model(field: &str, what: &str) -> Result<(Option<String>, Option<String>), String> {
    match field {
        "-" => Ok((None, None)),
        other => match other.split_once('/') {
            Some((maker, model)) => Ok((Some(maker.to_string()), Some(model.to_string()))),
            None => Err(format!("{what} {other} is not manufacturer/name")),
        },
    }
}

/// A number, or `None` for `-`.
fn optional<T: std::str::FromStr>(field: &str, what: &str) -> Result<Option<T>, String> {
    if field == "-" {
        return Ok(None);
    }
    field
        .parse()
        .map(Some)
        .map_err(|_| format!("{what} {field} is not a number"))
}

/// A number that must be there.
fn required<T: std::str::FromStr>(field: &str, what: &str) -> Result<T, String> {
    optional(field, what)?.ok_or_else(|| format!("{what} must be known"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m5_large() -> &'static InstanceType {
        catalog()
            .get("m5.large")
            .unwrap_or_else(|| panic!("m5.large is missing"))
    }

    #[test]
    fn the_embedded_catalog_parses_with_1391_types() {
        let parsed = Catalog::parse(CATALOG_TEXT);
        assert!(parsed.is_ok(), "{parsed:?}");
        assert_eq!(catalog().len(), 1391);
    }

    #[test]
    fn an_m5_large_is_2_vcpu_8_gib_3_enis_of_10_ips_at_0_096_dollars() {
        let it = m5_large();
        assert_eq!(it.family, "m5");
        assert_eq!(it.vcpu, Some(2));
        assert_eq!(it.memory_mib, Some(8192));
        assert_eq!(it.architecture, Some(Arch::Amd64));
        assert_eq!((it.max_enis, it.ipv4_per_eni), (3, 10));
        assert_eq!(it.hypervisor, Hypervisor::Nitro);
        assert_eq!(it.on_demand_price, Some(0.096));
        assert_eq!(it.eni_max_pods(), 29);
    }

    #[test]
    fn a_graviton_type_is_arm64_and_a_g5_has_one_nvidia_gpu() {
        let a1 = catalog().get("a1.large");
        assert_eq!(a1.and_then(|it| it.architecture), Some(Arch::Arm64));
        assert_eq!(Arch::Arm64.as_str(), "arm64");
        let g5 = catalog().get("g5.xlarge");
        assert_eq!(g5.map(|it| it.gpus), Some(1));
        assert!(g5.is_some_and(InstanceType::has_nvidia_gpus));
        assert_eq!(
            g5.and_then(|it| it.gpu_name.clone()).as_deref(),
            Some("a10g")
        );
    }

    #[test]
    fn inferentia_and_trainium_types_have_neuron_devices_and_cores() {
        let neuron = |name: &str| {
            catalog()
                .get(name)
                .map(|it| (it.neuron_devices(), it.neuron_cores))
        };
        assert_eq!(neuron("inf2.xlarge"), Some((1, 2)));
        assert_eq!(neuron("inf1.24xlarge"), Some((16, 64)));
        assert_eq!(neuron("trn2.48xlarge"), Some((16, 128)));
        assert_eq!(neuron("m5.large"), Some((0, 0)));
        let dl2q = catalog().get("dl2q.24xlarge");
        assert_eq!(
            dl2q.map(|it| (it.accelerators, it.neuron_devices())),
            Some((8, 0))
        );
    }

    #[test]
    fn the_catalog_is_sorted_by_name() {
        let names: Vec<&str> = catalog().iter().map(|it| it.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    #[test]
    fn an_unknown_type_fails_with_ec2s_message() {
        let err = catalog().lookup("m9.huge").err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("The following supplied instance types do not exist: [m9.huge]")
        );
        let err = catalog()
            .lookup_all(&["m5.large", "m9.huge", "x.y"])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("The following supplied instance types do not exist: [m9.huge, x.y]")
        );
    }

    #[test]
    fn the_m5_family_filter_holds_only_m5_types() {
        let names: Vec<&str> = catalog().family("m5").map(|it| it.name.as_str()).collect();
        assert!(names.contains(&"m5.large"));
        assert!(names.contains(&"m5.metal"));
        assert!(names.iter().all(|n| n.starts_with("m5.")), "{names:?}");
    }

    #[test]
    fn max_pods_follows_the_calculator_in_every_mode() {
        let it = m5_large();
        let default = MaxPodsOptions::default();
        assert_eq!(it.max_pods(&default), 29);
        let custom = MaxPodsOptions {
            custom_networking: true,
            ..default
        };
        assert_eq!(it.max_pods(&custom), 20);
        let pd = MaxPodsOptions {
            prefix_delegation: true,
            ..default
        };
        assert_eq!(it.max_pods(&pd), 110);
        let pd_max = MaxPodsOptions {
            show_max_allowed: true,
            ..pd
        };
        assert_eq!(it.max_pods(&pd_max), 434);
        let old_cni = MaxPodsOptions {
            cni_version: (1, 8),
            ..pd_max
        };
        assert_eq!(it.max_pods(&old_cni), 29, "PD needs CNI 1.9");
        let two_enis = MaxPodsOptions {
            max_eni: Some(2),
            ..default
        };
        assert_eq!(it.max_pods(&two_enis), 20);
        let none_left = MaxPodsOptions {
            max_eni: Some(0),
            custom_networking: true,
            show_max_allowed: true,
            ..default
        };
        assert_eq!(
            it.max_pods(&none_left),
            0,
            "negative arithmetic floors at 0"
        );
    }

    #[test]
    fn a_type_of_unknown_vcpu_gets_the_110_ceiling_like_the_script() {
        let it = catalog().get("c7i.32xlarge");
        assert_eq!(it.and_then(|it| it.vcpu), None);
        assert_eq!(it.map(|it| it.eni_max_pods()), Some(737));
        assert_eq!(
            it.map(|it| it.max_pods(&MaxPodsOptions::default())),
            Some(110)
        );
    }

    #[test]
    fn a_malformed_line_is_reported_with_its_number() {
        let err = Catalog::parse("# header\nm5.large 2 8192 x86_64 1 3\n").err();
        assert_eq!(err.map(|e| e.line), Some(2));
        let dup = "a.b 1 1 arm64 1 1 1 2 nitro n - - 0 0 0 0 - -\n".repeat(2);
        assert!(
            Catalog::parse(&dup)
                .err()
                .is_some_and(|e| e.reason.contains("twice"))
        );
    }
}
