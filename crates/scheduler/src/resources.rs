//! Resource quantities as the scheduler counts them: parsing `resource.Quantity` strings and
//! a pod's effective request (containers, sidecars, init containers, overhead).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// CPU assumed for a container without a CPU request when scoring (upstream
/// `DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory assumed for a container without a memory request when scoring (200 MiB, upstream
/// `DefaultMemoryRequest`).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Parses a `resource.Quantity` into thousandths of its unit (`500m` → 500, `1Ki` → 1,024,000).
/// `None` for text that is not a quantity.
pub fn parse_milli(s: &str) -> Option<i128> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (sign, body) = match s.as_bytes()[0] {
        b'-' => (-1i128, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(num_end);
    if num.is_empty() || num == "." {
        return None;
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    if frac_part.contains('.') {
        return None;
    }
    // Value as (digits, power of ten) so fractions stay exact.
    let digits: String = format!("{int_part}{frac_part}");
    let mut mantissa: i128 = 0;
    for c in digits.chars().take(30) {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(i128::from(c as u8 - b'0'))?;
    }
    let mut pow10: i32 = -(frac_part.len().min(30) as i32);
    if digits.len() > 30 {
        pow10 += (digits.len() - 30) as i32;
    }
    let mut pow2: u32 = 0;
    match suffix {
        "" => {}
        "n" => pow10 -= 9,
        "u" => pow10 -= 6,
        "m" => pow10 -= 3,
        "k" => pow10 += 3,
        "M" => pow10 += 6,
        "G" => pow10 += 9,
        "T" => pow10 += 12,
        "P" => pow10 += 15,
        "E" => pow10 += 18,
        "Ki" => pow2 = 10,
        "Mi" => pow2 = 20,
        "Gi" => pow2 = 30,
        "Ti" => pow2 = 40,
        "Pi" => pow2 = 50,
        "Ei" => pow2 = 60,
        e if e.starts_with(['e', 'E']) => pow10 = pow10.checked_add(e[1..].parse::<i32>().ok()?)?,
        _ => return None,
    }
    // Scale to milli-units, rounding up like Quantity.MilliValue.
    let mut value = mantissa.checked_mul(1i128.checked_shl(pow2)?)?;
    let exp = pow10.checked_add(3)?;
    if exp >= 0 {
        value = value.checked_mul(10i128.checked_pow(exp as u32)?)?;
    } else {
        value = match 10i128.checked_pow(exp.unsigned_abs()) {
            Some(div) => value / div + i128::from(value % div != 0),
            // Smaller than any representable fraction: rounds up to one milli-unit.
            None => i128::from(value != 0),
        };
    }
    Some(sign * value)
}

/// A quantity's `MilliValue()`, 0 when unparsable.
pub fn milli_value(q: &Quantity) -> i64 {
    parse_milli(&q.0)
        .map(|v| v.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
        .unwrap_or(0)
}

/// A quantity's `Value()` (rounded up to a whole unit), 0 when unparsable.
pub fn value(q: &Quantity) -> i64 {
    parse_milli(&q.0)
        .map(|v| {
            let whole = if v >= 0 { (v + 999) / 1000 } else { v / 1000 };
            whole.clamp(i64::MIN as i128, i64::MAX as i128) as i64
        })
        .unwrap_or(0)
}

/// Whether a resource name is a "scalar" resource the scheduler counts besides cpu, memory,
/// ephemeral-storage and pods: extended resources (`example.com/gpu`), hugepages, attachable
/// volumes.
pub fn is_scalar_resource(name: &str) -> bool {
    if name.starts_with("hugepages-") || name.starts_with("attachable-volumes-") {
        return true;
    }
    match name.split_once('/') {
        Some((domain, _)) => {
            domain != "kubernetes.io"
                && !domain.ends_with(".kubernetes.io")
                && domain != "requests.kubernetes.io"
        }
        None => false,
    }
}

/// Counted resources: a node's allocatable, a node's requested total, or a pod's request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// Pod count (only meaningful for allocatable).
    pub allowed_pods: i64,
    /// Extended and other scalar resources, by name.
    pub scalar: BTreeMap<String, i64>,
}

impl Resource {
    /// Sums a resource list into this one.
    pub fn add_list(&mut self, list: &BTreeMap<String, Quantity>) {
        for (name, q) in list {
            match name.as_str() {
                "cpu" => self.milli_cpu += milli_value(q),
                "memory" => self.memory += value(q),
                "ephemeral-storage" => self.ephemeral_storage += value(q),
                "pods" => self.allowed_pods += value(q),
                n if is_scalar_resource(n) => {
                    *self.scalar.entry(n.to_string()).or_default() += value(q)
                }
                _ => {}
            }
        }
    }

    /// A resource list as counted resources.
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Resource {
        let mut r = Resource::default();
        r.add_list(list);
        r
    }

    /// Adds another resource to this one.
    pub fn add(&mut self, o: &Resource) {
        self.milli_cpu += o.milli_cpu;
        self.memory += o.memory;
        self.ephemeral_storage += o.ephemeral_storage;
        self.allowed_pods += o.allowed_pods;
        for (k, v) in &o.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    /// Subtracts another resource from this one.
    pub fn sub(&mut self, o: &Resource) {
        self.milli_cpu -= o.milli_cpu;
        self.memory -= o.memory;
        self.ephemeral_storage -= o.ephemeral_storage;
        self.allowed_pods -= o.allowed_pods;
        for (k, v) in &o.scalar {
            *self.scalar.entry(k.clone()).or_default() -= v;
        }
    }

    /// Takes the per-resource maximum of this one and another.
    pub fn max_with(&mut self, o: &Resource) {
        self.milli_cpu = self.milli_cpu.max(o.milli_cpu);
        self.memory = self.memory.max(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(o.ephemeral_storage);
        for (k, v) in &o.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    /// Whether nothing is requested.
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.values().all(|v| *v == 0)
    }
}

fn container_requests(c: &Container, non_zero: bool) -> Resource {
    let mut r = c
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .map(Resource::from_list)
        .unwrap_or_default();
    if non_zero {
        let has = |name: &str| {
            c.resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .is_some_and(|l| l.contains_key(name))
        };
        if !has("cpu") {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !has("memory") {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

/// A pod's effective request as upstream's `PodRequests`: max(sum of containers and sidecar
/// (restartable) init containers, the largest init container plus the sidecars started before
/// it) plus the pod overhead. With `non_zero`, containers without a cpu/memory request count
/// the scoring defaults (100m, 200Mi).
pub fn pod_requests(pod: &Pod, non_zero: bool) -> Resource {
    let Some(spec) = pod.spec.as_ref() else {
        return Resource::default();
    };
    let mut reqs = Resource::default();
    for c in &spec.containers {
        reqs.add(&container_requests(c, non_zero));
    }
    let mut sidecars = Resource::default();
    let mut init_max = Resource::default();
    for c in spec.init_containers.iter().flatten() {
        let r = container_requests(c, non_zero);
        if c.restart_policy.as_deref() == Some("Always") {
            reqs.add(&r);
            sidecars.add(&r);
            init_max.max_with(&sidecars);
        } else {
            let mut tmp = r;
            tmp.add(&sidecars);
            init_max.max_with(&tmp);
        }
    }
    reqs.max_with(&init_max);
    if let Some(overhead) = spec.overhead.as_ref() {
        reqs.add_list(overhead);
    }
    reqs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_as_upstream() {
        let cases: &[(&str, Option<i128>)] = &[
            ("500m", Some(500)),
            ("1", Some(1000)),
            ("1.5", Some(1500)),
            ("1930m", Some(1930)),
            ("1Ki", Some(1_024_000)),
            ("7518Mi", Some(7518 * 1024 * 1024 * 1000)),
            ("1k", Some(1_000_000)),
            ("1e3", Some(1_000_000)),
            ("100n", Some(1)),
            ("", None),
            ("abc", None),
            ("1Qi", None),
            ("1e-99999", Some(1)),
            ("1e2147483647", None),
            ("1.5.3", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_milli(input), *want, "case {input:?}");
        }
    }

    #[test]
    fn scalar_resource_names() {
        for (name, want) in [
            ("example.com/gpu", true),
            ("hugepages-2Mi", true),
            ("nvidia.com/gpu", true),
            ("cpu", false),
            ("kubernetes.io/something", false),
        ] {
            assert_eq!(is_scalar_resource(name), want, "case {name}");
        }
    }
}
