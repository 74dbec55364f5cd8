//! NodePorts: a pod asking for host ports fits only nodes where those ports are free.

use crate::framework::{CycleState, FilterPlugin, Plugin, Status};
use crate::node_info::{NodeInfo, PodInfo};

/// Upstream `ErrReason`.
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// The NodePorts plugin.
pub struct NodePorts;

impl NodePorts {
    /// The plugin's name.
    pub const NAME: &'static str = "NodePorts";
}

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

impl FilterPlugin for NodePorts {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let conflict = pod
            .host_ports
            .iter()
            .any(|want| node.used_ports.iter().any(|used| used.conflicts(want)));
        if conflict {
            Status::unschedulable(ERR_REASON)
        } else {
            Status::success()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};

    #[test]
    fn host_ports_conflict_by_protocol_port_and_ip() {
        let cases = [
            (
                "free port",
                PodBuilder::new("p").host_port(8080, "TCP", "").build(),
                vec![],
                true,
            ),
            (
                "same port taken",
                PodBuilder::new("p").host_port(8080, "TCP", "").build(),
                vec![(8080, "TCP", "")],
                false,
            ),
            (
                "other protocol",
                PodBuilder::new("p").host_port(8080, "UDP", "").build(),
                vec![(8080, "TCP", "")],
                true,
            ),
            (
                "different specific ips",
                PodBuilder::new("p")
                    .host_port(8080, "TCP", "10.0.0.1")
                    .build(),
                vec![(8080, "TCP", "10.0.0.2")],
                true,
            ),
            (
                "wildcard ip collides with specific",
                PodBuilder::new("p")
                    .host_port(8080, "TCP", "10.0.0.1")
                    .build(),
                vec![(8080, "TCP", "")],
                false,
            ),
        ];
        for (case, pod, existing, fits) in cases {
            let mut b = NodeBuilder::new("n1");
            for (i, (port, proto, ip)) in existing.into_iter().enumerate() {
                b = b.pod(
                    PodBuilder::new(&format!("e{i}"))
                        .host_port(port, proto, ip)
                        .build(),
                );
            }
            let node = b.info();
            let s = NodePorts.filter(&CycleState::default(), &pod, &node);
            assert_eq!(s.is_success(), fits, "case {case}: {s:?}");
        }
    }
}
