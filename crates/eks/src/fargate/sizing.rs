//! Fargate pod sizing: the pod's request, the 256 MiB Fargate adds for the node's
//! components, and the rounding up to one of the 74 valid vCPU/memory pairs.
//!
//! Documented rules (awsdocs/amazon-eks-user-guide `latest/ug/nodes/fargate-pod-configuration.adoc`,
//! restated in `shared/data/aws/fargate.md`):
//! 1. the largest request among init containers, per resource;
//! 2. the sum of the long-running containers' requests, per resource;
//! 3. the pod's request is the larger of the two, per resource;
//! 4. Fargate adds 256 MB of memory for kubelet, kube-proxy and containerd;
//! 5. Fargate rounds up to the configuration that most closely matches;
//! 6. no vCPU or memory requested: the smallest configuration, 0.25 vCPU and 0.5 GB;
//! 7. documented example: 1 vCPU and 8 GB becomes 2 vCPU and 9 GB.
//!
//! Choices made here (DERIVED, not documented by AWS):
//! - Rounding: the smallest vCPU tier that has both enough vCPU and a memory size of at least
//!   the request plus 256 MiB, then the smallest such memory size in that tier. This gives the
//!   documented example and is also the cheapest pair.
//! - A container with a limit but no request for a resource counts its limit, as the API
//!   server's defaulting sets the request to the limit.
//! - Sidecars (init containers with `restartPolicy: Always`, which AWS's page predates) count
//!   as upstream's `PodRequests` counts them: they run alongside the app containers, so they
//!   add to the long-running sum, and each init container that starts after a sidecar runs
//!   alongside it, so the init figure for that container includes the sidecars started
//!   before it.
//! - `spec.overhead` is not added: Fargate pods have no RuntimeClass, and AWS documents its
//!   own 256 MiB instead.
//! - Limits above requests are not refused. AWS says the requests "must be equal to the
//!   limit", but real Fargate pods run with limits above requests (Datadog's Fargate
//!   monitoring post shows `my-fargate-pod` with `cpu: 3500m` limit and `3` request running
//!   on `fargate-ip-192-168-85-85.ec2.internal`); only the requests size the pod.
//! - Above 16 vCPU or 120 GB: what AWS does is not documented in the user guide; a 2020
//!   `PodScheduled` condition quoted in aws/eks-distro-prow-jobs#11 shows the reason
//!   `POD_CPU_MEM_EXCEEDS_MAX_FARGATE_SIZE` and the message "Your pod's cpu/memory
//!   requirements exceed the max Fargate configuration", which [`SizingError`] reproduces.

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// The pod annotation that records the size Fargate provisioned (`CapacityProvisioned`).
pub const CAPACITY_ANNOTATION: &str = "CapacityProvisioned";

/// The memory Fargate adds to every pod's request for the node's Kubernetes components.
pub const COMPONENT_MEMORY_MIB: u64 = 256;

/// The `PodScheduled` condition reason Fargate gives a pod too large for any configuration.
pub const EXCEEDS_MAX_REASON: &str = "POD_CPU_MEM_EXCEEDS_MAX_FARGATE_SIZE";

/// The message that goes with [`EXCEEDS_MAX_REASON`].
pub const EXCEEDS_MAX_MESSAGE: &str =
    "Your pod's cpu/memory requirements exceed the max Fargate configuration";

/// The 74 vCPU/memory pairs Fargate offers, as (vCPU in millicores, memory in MiB with
/// 1 GB = 1024 MiB), smallest first.
pub const CONFIGURATIONS: [(u32, u64); 74] = configurations();

const fn configurations() -> [(u32, u64); 74] {
    // (vCPU millicores, first GB, last GB, step GB); 0.5 GB is handled as the first entry.
    const TIERS: [(u32, u64, u64, u64); 7] = [
        (250, 1, 2, 1),
        (500, 1, 4, 1),
        (1000, 2, 8, 1),
        (2000, 4, 16, 1),
        (4000, 8, 30, 1),
        (8000, 16, 60, 4),
        (16000, 32, 120, 8),
    ];
    let mut out = [(0u32, 0u64); 74];
    out[0] = (250, 512);
    let mut n = 1;
    let mut t = 0;
    while t < TIERS.len() {
        let (vcpu, first, last, step) = TIERS[t];
        let mut gb = first;
        while gb <= last {
            out[n] = (vcpu, gb * 1024);
            n += 1;
            gb += step;
        }
        t += 1;
    }
    out
}

/// The size Fargate provisions for a pod: one of the 74 valid vCPU/memory pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FargateSize {
    /// vCPU in millicores (250, 500, 1000, 2000, 4000, 8000 or 16000).
    pub vcpu_millis: u32,
    /// Memory in MiB (512, or a whole number of GB at 1024 MiB each).
    pub memory_mib: u64,
}

impl FargateSize {
    /// The smallest configuration, which Fargate gives a pod that requests nothing.
    pub const SMALLEST: FargateSize = FargateSize {
        vcpu_millis: 250,
        memory_mib: 512,
    };

    /// The `CapacityProvisioned` annotation value, exactly as AWS writes it:
    /// `0.25vCPU 0.5GB`, `1vCPU 5GB`, `2vCPU 9GB` (all seen on real Fargate pods).
    pub fn annotation(&self) -> String {
        format!(
            "{}vCPU {}GB",
            vcpu_text(self.vcpu_millis),
            gb_text(self.memory_mib)
        )
    }

    /// The provisioned vCPU as a Kubernetes quantity (`250m`, `2`).
    pub fn cpu_quantity(&self) -> Quantity {
        if self.vcpu_millis.is_multiple_of(1000) {
            Quantity((self.vcpu_millis / 1000).to_string())
        } else {
            Quantity(format!("{}m", self.vcpu_millis))
        }
    }

    /// The provisioned memory as a Kubernetes quantity (`512Mi`, `9Gi`).
    pub fn memory_quantity(&self) -> Quantity {
        if self.memory_mib.is_multiple_of(1024) {
            Quantity(format!("{}Gi", self.memory_mib / 1024))
        } else {
            Quantity(format!("{}Mi", self.memory_mib))
        }
    }
}

fn vcpu_text(millis: u32) -> String {
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        let text = format!("{}.{:03}", millis / 1000, millis % 1000);
        text.trim_end_matches('0').to_string()
    }
}

fn gb_text(mib: u64) -> String {
    if mib.is_multiple_of(1024) {
        (mib / 1024).to_string()
    } else {
        let text = format!("{}.{:03}", mib / 1024, (mib % 1024) * 1000 / 1024);
        text.trim_end_matches('0').to_string()
    }
}

/// Why a pod cannot be given a Fargate size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizingError {
    /// The request, plus the 256 MiB, is larger than the largest configuration (16 vCPU,
    /// 120 GB). The text is Fargate's `PodScheduled` condition message for this case.
    #[error(
        "Your pod's cpu/memory requirements exceed the max Fargate configuration \
         (requested {vcpu_millis}m vCPU and {memory_mib}Mi memory including Fargate's 256Mi; \
         the largest configuration is 16 vCPU and 120 GB)"
    )]
    ExceedsMaxFargateSize {
        /// The pod's vCPU request in millicores.
        vcpu_millis: u64,
        /// The pod's memory request in MiB, including the 256 MiB Fargate adds.
        memory_mib: u64,
    },
    /// A request or limit that is not a Kubernetes quantity.
    #[error("container {container}: {resource} quantity {value:?} is not a valid quantity")]
    InvalidQuantity {
        /// The container's name.
        container: String,
        /// The resource (`cpu`, `memory`).
        resource: String,
        /// The text found.
        value: String,
    },
}

impl SizingError {
    /// The `PodScheduled` condition reason Fargate uses for this error, when there is one.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            SizingError::ExceedsMaxFargateSize { .. } => Some(EXCEEDS_MAX_REASON),
            SizingError::InvalidQuantity { .. } => None,
        }
    }
}

/// The Fargate size for a pod: max(largest init request, sum of app requests) per resource,
/// plus 256 MiB of memory, rounded up to the smallest valid pair. See the module docs for the
/// rules and the choices made where AWS documents none.
pub fn size_pod(pod: &Pod) -> Result<FargateSize, SizingError> {
    let (vcpu_millis, memory_bytes) = pod_request(pod)?;
    let memory_mib = memory_bytes.div_ceil(1 << 20) + COMPONENT_MEMORY_MIB;
    smallest_fitting(vcpu_millis, memory_mib).ok_or(SizingError::ExceedsMaxFargateSize {
        vcpu_millis,
        memory_mib,
    })
}

/// The smallest configuration with at least `vcpu_millis` and at least `memory_mib` (already
/// including the 256 MiB), or `None` when even the largest is too small.
pub fn smallest_fitting(vcpu_millis: u64, memory_mib: u64) -> Option<FargateSize> {
    CONFIGURATIONS
        .iter()
        .find(|(v, m)| u64::from(*v) >= vcpu_millis && *m >= memory_mib)
        .map(|&(vcpu_millis, memory_mib)| FargateSize {
            vcpu_millis,
            memory_mib,
        })
}

/// The pod's (vCPU millicores, memory bytes) request as Fargate sizes it, before the 256 MiB.
pub fn pod_request(pod: &Pod) -> Result<(u64, u64), SizingError> {
    let Some(spec) = pod.spec.as_ref() else {
        return Ok((0, 0));
    };
    let mut long_running = Request::default();
    for c in &spec.containers {
        long_running.add(container_request(c)?);
    }
    let mut sidecars = Request::default();
    let mut init = Request::default();
    for c in spec.init_containers.iter().flatten() {
        let r = container_request(c)?;
        if c.restart_policy.as_deref() == Some("Always") {
            long_running.add(r);
            sidecars.add(r);
            init.max_with(sidecars);
        } else {
            let mut running = r;
            running.add(sidecars);
            init.max_with(running);
        }
    }
    long_running.max_with(init);
    Ok((long_running.cpu_millis, long_running.memory_bytes))
}

#[derive(Debug, Clone, Copy, Default)]
struct Request {
    cpu_millis: u64,
    memory_bytes: u64,
}

impl Request {
    fn add(&mut self, o: Request) {
        self.cpu_millis = self.cpu_millis.saturating_add(o.cpu_millis);
        self.memory_bytes = self.memory_bytes.saturating_add(o.memory_bytes);
    }

    fn max_with(&mut self, o: Request) {
        self.cpu_millis = self.cpu_millis.max(o.cpu_millis);
        self.memory_bytes = self.memory_bytes.max(o.memory_bytes);
    }
}

/// A container's request per resource: the request, or the limit when only a limit is set.
fn container_request(c: &Container) -> Result<Request, SizingError> {
    let resources = c.resources.as_ref();
    let requests = resources.and_then(|r| r.requests.as_ref());
    let limits = resources.and_then(|r| r.limits.as_ref());
    let pick = |name: &str| -> Option<&Quantity> {
        requests
            .and_then(|l| l.get(name))
            .or_else(|| limits.and_then(|l| l.get(name)))
    };
    let parse = |name: &str, scale: i32| -> Result<u64, SizingError> {
        match pick(name) {
            None => Ok(0),
            Some(q) => scaled_ceil(&q.0, scale).ok_or_else(|| SizingError::InvalidQuantity {
                container: c.name.clone(),
                resource: name.to_string(),
                value: q.0.clone(),
            }),
        }
    };
    Ok(Request {
        cpu_millis: parse("cpu", 3)?,
        memory_bytes: parse("memory", 0)?,
    })
}

/// A quantity's value times 10^`scale`, rounded up (`scale` 3 gives milli-units, as
/// `Quantity.MilliValue`; 0 gives whole units, as `Quantity.Value`). `None` for text that is
/// not a non-negative quantity, or a value too large to count.
pub fn scaled_ceil(text: &str, scale: i32) -> Option<u64> {
    let s = text.trim();
    let body = s.strip_prefix('+').unwrap_or(s);
    let number_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if fraction.contains('.') {
        return None;
    }
    let (pow10, pow2): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        e if e.starts_with(['e', 'E']) => (e[1..].parse().ok()?, 0),
        _ => return None,
    };
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some(0);
    }
    if digits.len() > 30 {
        return None;
    }
    let mantissa: u128 = digits.parse().ok()?;
    let exponent = pow10
        .checked_add(scale)?
        .checked_sub(i32::try_from(fraction.len()).ok()?)?;
    let value = mantissa.checked_mul(1u128.checked_shl(pow2)?)?;
    let scaled = if exponent >= 0 {
        value.checked_mul(10u128.checked_pow(exponent.unsigned_abs())?)?
    } else {
        match 10u128.checked_pow(exponent.unsigned_abs()) {
            Some(div) => value.div_ceil(div),
            None => 1,
        }
    };
    u64::try_from(scaled).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};
    use std::collections::BTreeMap;

    fn resources(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, Quantity>> {
        if pairs.is_empty() {
            return None;
        }
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect(),
        )
    }

    fn container(name: &str, requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        Container {
            name: name.into(),
            resources: Some(ResourceRequirements {
                requests: resources(requests),
                limits: resources(limits),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(containers: Vec<Container>, init: Vec<Container>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers,
                init_containers: if init.is_empty() { None } else { Some(init) },
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn app(cpu: &str, memory: &str) -> Pod {
        pod(
            vec![container("app", &[("cpu", cpu), ("memory", memory)], &[])],
            vec![],
        )
    }

    fn annotation(p: &Pod) -> String {
        match size_pod(p) {
            Ok(size) => size.annotation(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn the_worked_results_of_fargate_md_hold() {
        let cases = [
            (
                "no requests",
                pod(vec![container("app", &[], &[])], vec![]),
                "0.25vCPU 0.5GB",
            ),
            ("250m/512Mi", app("250m", "512Mi"), "0.25vCPU 1GB"),
            ("500m/1Gi", app("500m", "1Gi"), "0.5vCPU 2GB"),
            ("1/8Gi (documented)", app("1", "8Gi"), "2vCPU 9GB"),
            ("2/16Gi", app("2", "16Gi"), "4vCPU 17GB"),
            ("4/30Gi", app("4", "30Gi"), "8vCPU 32GB"),
        ];
        for (name, p, want) in cases {
            assert_eq!(annotation(&p), want, "{name}");
        }
    }

    #[test]
    fn the_annotation_is_written_like_aws_writes_it() {
        let cases = [
            (250, 512, "0.25vCPU 0.5GB"),
            (500, 1024, "0.5vCPU 1GB"),
            (1000, 5120, "1vCPU 5GB"),
            (2000, 4096, "2vCPU 4GB"),
            (2000, 9216, "2vCPU 9GB"),
            (16000, 122880, "16vCPU 120GB"),
        ];
        for (vcpu_millis, memory_mib, want) in cases {
            let size = FargateSize {
                vcpu_millis,
                memory_mib,
            };
            assert_eq!(size.annotation(), want);
        }
    }

    #[test]
    fn the_pair_table_has_74_pairs_smallest_first() {
        assert_eq!(CONFIGURATIONS.len(), 74);
        assert_eq!(CONFIGURATIONS[0], (250, 512));
        assert_eq!(CONFIGURATIONS[73], (16000, 122880));
        assert!(CONFIGURATIONS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_pair_table_equals_the_shared_csv() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/aws/fargate-configurations.csv"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("skipping: {path} is not present");
            return;
        };
        let mut rows = Vec::new();
        for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let cols: Vec<&str> = line.split(',').collect();
            assert_eq!(cols.len(), 4, "row {line:?}");
            let millis: u32 = cols[1].parse().expect("vcpu_millicores");
            let mib: u64 = cols[3].parse().expect("memory_mib");
            rows.push((millis, mib));
            // The annotation text of the pair matches the CSV's vcpu and memory_gb columns.
            let size = FargateSize {
                vcpu_millis: millis,
                memory_mib: mib,
            };
            assert_eq!(size.annotation(), format!("{}vCPU {}GB", cols[0], cols[2]));
        }
        assert_eq!(rows, CONFIGURATIONS.to_vec());
    }

    #[test]
    fn a_limit_without_a_request_counts_as_the_request() {
        let p = pod(
            vec![container("app", &[], &[("cpu", "1"), ("memory", "2Gi")])],
            vec![],
        );
        assert_eq!(annotation(&p), "1vCPU 3GB");
        // A request present wins over a larger limit.
        let p = pod(
            vec![container(
                "app",
                &[("cpu", "3"), ("memory", "1Gi")],
                &[("cpu", "3500m"), ("memory", "2Gi")],
            )],
            vec![],
        );
        assert_eq!(annotation(&p), "4vCPU 8GB");
    }

    #[test]
    fn app_containers_add_up_and_the_largest_init_container_competes() {
        let p = pod(
            vec![
                container("a", &[("cpu", "500m"), ("memory", "1Gi")], &[]),
                container("b", &[("cpu", "500m"), ("memory", "1Gi")], &[]),
            ],
            vec![
                container("init-big-cpu", &[("cpu", "2"), ("memory", "512Mi")], &[]),
                container("init-small", &[("cpu", "100m"), ("memory", "3Gi")], &[]),
            ],
        );
        // cpu max(2, 1) = 2; memory max(3Gi, 2Gi) = 3Gi + 256Mi → 2 vCPU 4 GB.
        assert_eq!(pod_request(&p).unwrap(), (2000, 3 << 30));
        assert_eq!(annotation(&p), "2vCPU 4GB");
    }

    #[test]
    fn sidecars_count_with_the_app_and_with_later_init_containers() {
        let mut sidecar = container("proxy", &[("cpu", "250m"), ("memory", "256Mi")], &[]);
        sidecar.restart_policy = Some("Always".into());
        let p = pod(
            vec![container("app", &[("cpu", "500m"), ("memory", "1Gi")], &[])],
            vec![
                container("before", &[("cpu", "1"), ("memory", "1Gi")], &[]),
                sidecar,
                container("after", &[("cpu", "1"), ("memory", "2Gi")], &[]),
            ],
        );
        // long-running: 750m, 1280Mi; init: max(1 + 0, 1 + 250m) = 1250m, max(1Gi, 2Gi+256Mi).
        assert_eq!(pod_request(&p).unwrap(), (1250, (2 << 30) + (256 << 20)));
        assert_eq!(annotation(&p), "2vCPU 4GB");
    }

    #[test]
    fn a_pod_beyond_16_vcpu_or_120_gb_is_refused_with_fargates_message() {
        for (cpu, memory) in [("17", "1Gi"), ("1", "120Gi"), ("16", "119.8Gi")] {
            let err = size_pod(&app(cpu, memory)).unwrap_err();
            assert_eq!(err.reason(), Some(EXCEEDS_MAX_REASON));
            assert!(err.to_string().starts_with(EXCEEDS_MAX_MESSAGE), "{err}");
        }
        assert_eq!(annotation(&app("16", "119Gi")), "16vCPU 120GB");
    }

    #[test]
    fn decimal_and_binary_memory_units_are_told_apart() {
        // 8G is 7629.4 MiB: with 256 MiB it still fits 1 vCPU 8 GB, unlike 8Gi.
        assert_eq!(annotation(&app("1", "8G")), "1vCPU 8GB");
        assert_eq!(annotation(&app("1", "8Gi")), "2vCPU 9GB");
    }

    #[test]
    fn quantities_scale_and_round_up() {
        let cases = [
            ("500m", 3, Some(500)),
            ("0.5", 3, Some(500)),
            ("1", 3, Some(1000)),
            ("1.5", 3, Some(1500)),
            ("100u", 3, Some(1)),
            ("1Ki", 0, Some(1024)),
            ("1.5Gi", 0, Some(1_610_612_736)),
            ("1e3", 0, Some(1000)),
            ("128974848", 0, Some(128_974_848)),
            ("129M", 0, Some(129_000_000)),
            ("0", 3, Some(0)),
            ("", 0, None),
            ("abc", 0, None),
            ("-1", 0, None),
            ("1.2.3", 0, None),
            ("1Xi", 0, None),
        ];
        for (text, scale, want) in cases {
            assert_eq!(scaled_ceil(text, scale), want, "{text}");
        }
    }

    #[test]
    fn an_unparsable_quantity_names_its_container() {
        let err = size_pod(&app("lots", "1Gi")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "container app: cpu quantity \"lots\" is not a valid quantity"
        );
    }

    #[test]
    fn sizes_render_as_kubernetes_quantities() {
        assert_eq!(FargateSize::SMALLEST.cpu_quantity().0, "250m");
        assert_eq!(FargateSize::SMALLEST.memory_quantity().0, "512Mi");
        let size = FargateSize {
            vcpu_millis: 2000,
            memory_mib: 9216,
        };
        assert_eq!(size.cpu_quantity().0, "2");
        assert_eq!(size.memory_quantity().0, "9Gi");
    }
}
