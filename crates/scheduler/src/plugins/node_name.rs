//! NodeName: a pod that names a node (`spec.nodeName`) only fits that node.

use crate::framework::{CycleState, FilterPlugin, Plugin, Status};
use crate::node_info::{NodeInfo, PodInfo};

/// Upstream `ErrReason`.
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

/// The NodeName plugin.
pub struct NodeName;

impl NodeName {
    /// The plugin's name.
    pub const NAME: &'static str = "NodeName";
}

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        match pod.node_name() {
            Some(n) if n != node.name => Status::unresolvable(ERR_REASON),
            _ => Status::success(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};

    #[test]
    fn only_the_named_node_fits() {
        let cases = [
            (
                "no node name fits any node",
                PodBuilder::new("p").build(),
                "n1",
                true,
            ),
            (
                "matching node name fits",
                PodBuilder::new("p").node_name("n1").build(),
                "n1",
                true,
            ),
            (
                "other node name does not fit",
                PodBuilder::new("p").node_name("n2").build(),
                "n1",
                false,
            ),
        ];
        for (case, pod, node, fits) in cases {
            let node = NodeBuilder::new(node).info();
            let s = NodeName.filter(&CycleState::default(), &pod, &node);
            assert_eq!(s.is_success(), fits, "case {case}: {s:?}");
            if !fits {
                assert_eq!(s.reasons, vec![ERR_REASON.to_string()], "case {case}");
            }
        }
    }
}
