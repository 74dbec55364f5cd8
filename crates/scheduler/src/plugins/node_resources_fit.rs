//! NodeResourcesFit: a pod fits a node whose allocatable covers the pod's request on top of
//! what is already requested there; scores nodes with the LeastAllocated strategy (cpu and
//! memory, weight 1 each).

use crate::framework::{
    Code, CycleState, FilterPlugin, MAX_NODE_SCORE, Plugin, ScorePlugin, Status,
};
use crate::node_info::{NodeInfo, PodInfo};

/// The NodeResourcesFit plugin.
pub struct NodeResourcesFit;

impl NodeResourcesFit {
    /// The plugin's name.
    pub const NAME: &'static str = "NodeResourcesFit";
}

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

/// One resource that does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsufficientResource {
    /// `Too many pods` or `Insufficient <resource>`.
    pub reason: String,
    /// The pod asks for more than the node's whole allocatable: evicting pods cannot help.
    pub unresolvable: bool,
}

/// Every resource of `pod` that `node` cannot fit, in upstream's order (pods, cpu, memory,
/// ephemeral-storage, scalar resources).
pub fn fits_request(pod: &PodInfo, node: &NodeInfo) -> Vec<InsufficientResource> {
    let mut out = Vec::new();
    if node.pods.len() as i64 + 1 > node.allocatable.allowed_pods {
        out.push(InsufficientResource {
            reason: "Too many pods".into(),
            unresolvable: false,
        });
    }
    let req = &pod.requests;
    if req.is_zero() {
        return out;
    }
    let mut check = |name: &str, want: i64, alloc: i64, used: i64| {
        if want > 0 && want > alloc - used {
            out.push(InsufficientResource {
                reason: format!("Insufficient {name}"),
                unresolvable: want > alloc,
            });
        }
    };
    check(
        "cpu",
        req.milli_cpu,
        node.allocatable.milli_cpu,
        node.requested.milli_cpu,
    );
    check(
        "memory",
        req.memory,
        node.allocatable.memory,
        node.requested.memory,
    );
    check(
        "ephemeral-storage",
        req.ephemeral_storage,
        node.allocatable.ephemeral_storage,
        node.requested.ephemeral_storage,
    );
    for (name, want) in &req.scalar {
        let alloc = node.allocatable.scalar.get(name).copied().unwrap_or(0);
        let used = node.requested.scalar.get(name).copied().unwrap_or(0);
        check(name, *want, alloc, used);
    }
    out
}

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let insufficient = fits_request(pod, node);
        if insufficient.is_empty() {
            return Status::success();
        }
        let code = if insufficient.iter().any(|i| i.unresolvable) {
            Code::UnschedulableAndUnresolvable
        } else {
            Code::Unschedulable
        };
        Status::new(code, insufficient.into_iter().map(|i| i.reason).collect())
    }
}

/// `(allocatable - requested) * 100 / allocatable`, 0 when over-committed.
fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

impl ScorePlugin for NodeResourcesFit {
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let cpu = least_requested(
            node.non_zero_requested.milli_cpu + pod.non_zero_requests.milli_cpu,
            node.allocatable.milli_cpu,
        );
        let mem = least_requested(
            node.non_zero_requested.memory + pod.non_zero_requests.memory,
            node.allocatable.memory,
        );
        Ok((cpu + mem) / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};

    fn node() -> NodeBuilder {
        NodeBuilder::new("n1").cpu("2").memory("4Gi").pods(3)
    }

    #[test]
    fn filter_reports_every_insufficient_resource() {
        let cases: Vec<(&str, PodInfo, NodeBuilder, Code, Vec<&str>)> = vec![
            (
                "fits",
                PodBuilder::new("p").cpu("1").build(),
                node(),
                Code::Success,
                vec![],
            ),
            (
                "cpu short",
                PodBuilder::new("p").cpu("1500m").build(),
                node().pod(PodBuilder::new("e").cpu("1").build()),
                Code::Unschedulable,
                vec!["Insufficient cpu"],
            ),
            (
                "cpu and memory short",
                PodBuilder::new("p").cpu("1500m").memory("3Gi").build(),
                node().pod(PodBuilder::new("e").cpu("1").memory("2Gi").build()),
                Code::Unschedulable,
                vec!["Insufficient cpu", "Insufficient memory"],
            ),
            (
                "too many pods comes first",
                PodBuilder::new("p").cpu("200m").build(),
                node()
                    .pods(1)
                    .pod(PodBuilder::new("e").cpu("1900m").build()),
                Code::Unschedulable,
                vec!["Too many pods", "Insufficient cpu"],
            ),
            (
                "request above allocatable is unresolvable",
                PodBuilder::new("p").cpu("3").build(),
                node(),
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient cpu"],
            ),
            (
                "extended resource",
                PodBuilder::new("p")
                    .resource("example.com/gpu", "1")
                    .build(),
                node(),
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient example.com/gpu"],
            ),
            (
                "ephemeral storage",
                PodBuilder::new("p")
                    .resource("ephemeral-storage", "2Gi")
                    .build(),
                node().resource("ephemeral-storage", "10Gi").pod(
                    PodBuilder::new("e")
                        .resource("ephemeral-storage", "9Gi")
                        .build(),
                ),
                Code::Unschedulable,
                vec!["Insufficient ephemeral-storage"],
            ),
            (
                "init container dominates",
                PodBuilder::new("p").cpu("100m").init_cpu("2500m").build(),
                node(),
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient cpu"],
            ),
            (
                "sidecar adds to containers",
                PodBuilder::new("p").cpu("1").sidecar_cpu("1500m").build(),
                node(),
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient cpu"],
            ),
            (
                "overhead counts",
                PodBuilder::new("p")
                    .cpu("1900m")
                    .overhead_cpu("200m")
                    .build(),
                node(),
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient cpu"],
            ),
        ];
        for (case, pod, node, code, reasons) in cases {
            let s = NodeResourcesFit.filter(&CycleState::default(), &pod, &node.info());
            assert_eq!(s.code, code, "case {case}: {s:?}");
            assert_eq!(s.reasons, reasons, "case {case}");
        }
    }

    #[test]
    fn least_allocated_prefers_emptier_nodes() {
        let pod = PodBuilder::new("p").cpu("1").memory("1Gi").build();
        let empty = node().info();
        let busy = node()
            .pod(PodBuilder::new("e").cpu("500m").memory("1Gi").build())
            .info();
        let s_empty = NodeResourcesFit
            .score(&CycleState::default(), &pod, &empty)
            .unwrap_or(-1);
        let s_busy = NodeResourcesFit
            .score(&CycleState::default(), &pod, &busy)
            .unwrap_or(-1);
        // empty: cpu (2000-1000)/2000 = 50, mem (4-1)/4 = 75 → 62; busy: cpu 25, mem 50 → 37.
        assert_eq!((s_empty, s_busy), (62, 37), "case least allocated scores");
    }
}
