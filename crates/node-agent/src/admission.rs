//! Pod admission on the node (the kubelet's `lifecycle/predicate.go` resource fit): a pod
//! whose requests do not fit the node's allocatable next to the pods already admitted is
//! rejected with `OutOfcpu`/`OutOfmemory`/`OutOfpods`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::util::parse_milli;

/// A pod's resource requests, in thousandths (millicores, milli-bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    /// cpu in millicores.
    pub cpu_milli: i128,
    /// memory in thousandths of a byte.
    pub memory_milli: i128,
}

fn request_of(c: &Container, resource: &str) -> i128 {
    let r = c.resources.as_ref();
    let q = r
        .and_then(|r| r.requests.as_ref())
        .and_then(|m| m.get(resource))
        .or_else(|| {
            r.and_then(|r| r.limits.as_ref())
                .and_then(|m| m.get(resource))
        });
    q.and_then(|q| parse_milli(&q.0)).unwrap_or(0)
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The pod's effective requests: max(regular + sidecars, each init with the sidecars started
/// before it) plus overhead, as `resourcehelper.PodRequests` computes them.
pub fn pod_requests(pod: &Pod) -> Requests {
    let Some(spec) = pod.spec.as_ref() else {
        return Requests::default();
    };
    let mut out = Requests::default();
    for resource in ["cpu", "memory"] {
        let regular: i128 = spec
            .containers
            .iter()
            .map(|c| request_of(c, resource))
            .sum();
        let mut sidecars = 0i128;
        let mut init_max = 0i128;
        for c in spec.init_containers.iter().flatten() {
            let r = request_of(c, resource);
            if is_sidecar(c) {
                sidecars += r;
                init_max = init_max.max(sidecars);
            } else {
                init_max = init_max.max(sidecars + r);
            }
        }
        let overhead = spec
            .overhead
            .as_ref()
            .and_then(|o| o.get(resource))
            .and_then(|q| parse_milli(&q.0))
            .unwrap_or(0);
        let total = (regular + sidecars).max(init_max) + overhead;
        match resource {
            "cpu" => out.cpu_milli = total,
            _ => out.memory_milli = total,
        }
    }
    out
}

/// Why a pod was rejected: the event reason and the message (`Pod was rejected: ` is
/// prefixed in the pod's status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `OutOfcpu`, `OutOfmemory`, `OutOfpods`.
    pub reason: String,
    /// `Node didn't have enough resource: cpu, requested: 2000, used: 500, capacity: 1930`.
    pub message: String,
}

/// Checks `pod` against `allocatable` given the requests of the pods already admitted.
pub fn admit(
    pod: &Requests,
    admitted: &[Requests],
    allocatable: &BTreeMap<String, i128>,
) -> Result<(), Rejection> {
    let reject = |name: &str, requested: i128, used: i128, capacity: i128| Rejection {
        reason: format!("OutOf{name}"),
        message: format!(
            "Node didn't have enough resource: {name}, requested: {requested}, used: {used}, capacity: {capacity}"
        ),
    };
    if let Some(&pods) = allocatable.get("pods") {
        let pods = pods / 1000;
        let used = admitted.len() as i128;
        if used + 1 > pods {
            return Err(reject("pods", 1, used, pods));
        }
    }
    if let Some(&cap) = allocatable.get("cpu")
        && pod.cpu_milli > 0
    {
        let used: i128 = admitted.iter().map(|r| r.cpu_milli).sum();
        if used + pod.cpu_milli > cap {
            return Err(reject("cpu", pod.cpu_milli, used, cap));
        }
    }
    if let Some(&cap) = allocatable.get("memory")
        && pod.memory_milli > 0
    {
        let used: i128 = admitted.iter().map(|r| r.memory_milli).sum();
        if used + pod.memory_milli > cap {
            return Err(reject(
                "memory",
                pod.memory_milli / 1000,
                used / 1000,
                cap / 1000,
            ));
        }
    }
    Ok(())
}

/// Allocatable as thousandths per resource (cpu in millicores, memory in milli-bytes,
/// pods in thousandths of a pod).
pub fn allocatable_milli(
    allocatable: &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
) -> BTreeMap<String, i128> {
    allocatable
        .iter()
        .filter_map(|(k, q)| parse_milli(&q.0).map(|v| (k.clone(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(cpu: i128, mem_bytes: i128) -> Requests {
        Requests {
            cpu_milli: cpu,
            memory_milli: mem_bytes * 1000,
        }
    }

    #[test]
    fn rejections_read_as_upstream() {
        let alloc: BTreeMap<String, i128> = [
            ("cpu".to_string(), 1930),
            ("memory".to_string(), 1_000_000 * 1000),
            ("pods".to_string(), 2000),
        ]
        .into();
        let cases = vec![
            ("fits", req(500, 100), vec![req(500, 100)], Ok(())),
            (
                "cpu",
                req(2000, 0),
                vec![req(500, 0)],
                Err((
                    "OutOfcpu",
                    "Node didn't have enough resource: cpu, requested: 2000, used: 500, capacity: 1930",
                )),
            ),
            (
                "memory",
                req(0, 600_000),
                vec![req(0, 500_000)],
                Err((
                    "OutOfmemory",
                    "Node didn't have enough resource: memory, requested: 600000, used: 500000, capacity: 1000000",
                )),
            ),
            (
                "pods",
                req(0, 0),
                vec![req(0, 0), req(0, 0)],
                Err((
                    "OutOfpods",
                    "Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2",
                )),
            ),
        ];
        for (name, pod, admitted, want) in cases {
            let got = admit(&pod, &admitted, &alloc);
            let got = got
                .as_ref()
                .map_err(|r| (r.reason.as_str(), r.message.as_str()))
                .copied();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn init_containers_and_sidecars_count_as_upstream() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "initContainers": [
                    {"name": "big-init", "image": "i", "resources": {"requests": {"cpu": "2"}}},
                    {"name": "side", "image": "i", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}}
                ],
                "containers": [
                    {"name": "a", "image": "i", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
                    {"name": "b", "image": "i", "resources": {"limits": {"cpu": "250m"}}}
                ]
            }
        }))
        .unwrap();
        let r = pod_requests(&pod);
        assert_eq!(r.cpu_milli, 2000);
        assert_eq!(r.memory_milli, 64 * 1024 * 1024 * 1000);
    }
}
