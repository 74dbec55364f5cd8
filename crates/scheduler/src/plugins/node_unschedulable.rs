//! NodeUnschedulable: cordoned nodes (`spec.unschedulable`) take only pods that tolerate the
//! `node.kubernetes.io/unschedulable:NoSchedule` taint.

use k8s_openapi::api::core::v1::Taint;

use crate::framework::{CycleState, FilterPlugin, Plugin, Status};
use crate::node_info::{NodeInfo, PodInfo, tolerated};

/// Upstream `ErrReasonUnschedulable`.
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";

/// The NodeUnschedulable plugin.
pub struct NodeUnschedulable;

impl NodeUnschedulable {
    /// The plugin's name.
    pub const NAME: &'static str = "NodeUnschedulable";
}

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if !node.unschedulable {
            return Status::success();
        }
        let taint = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        if tolerated(pod.tolerations(), &taint) {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON_UNSCHEDULABLE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};

    #[test]
    fn cordoned_nodes_take_only_tolerating_pods() {
        let cases = [
            (
                "schedulable node",
                PodBuilder::new("p").build(),
                false,
                true,
            ),
            (
                "cordoned node rejects",
                PodBuilder::new("p").build(),
                true,
                false,
            ),
            (
                "cordoned node accepts toleration",
                PodBuilder::new("p")
                    .toleration(
                        "node.kubernetes.io/unschedulable",
                        "Exists",
                        "",
                        "NoSchedule",
                    )
                    .build(),
                true,
                true,
            ),
        ];
        for (case, pod, cordoned, fits) in cases {
            let node = NodeBuilder::new("n1").unschedulable(cordoned).info();
            let s = NodeUnschedulable.filter(&CycleState::default(), &pod, &node);
            assert_eq!(s.is_success(), fits, "case {case}: {s:?}");
            if !fits {
                assert_eq!(s.message(), ERR_REASON_UNSCHEDULABLE, "case {case}");
            }
        }
    }
}
