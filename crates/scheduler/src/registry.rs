//! The one list of plugins and the default profile (upstream's default plugins and score
//! weights). ImageLocality is not included: skiff nodes do not report images yet.

use std::sync::Arc;

use crate::Framework;
use crate::plugins::{
    balanced_allocation::BalancedAllocation, default_binder::DefaultBinder,
    default_preemption::DefaultPreemption, inter_pod_affinity::InterPodAffinity,
    node_affinity::NodeAffinity, node_name::NodeName, node_ports::NodePorts,
    node_resources_fit::NodeResourcesFit, node_unschedulable::NodeUnschedulable,
    pod_topology_spread::PodTopologySpread, taint_toleration::TaintToleration,
};

/// The default profile for `scheduler_name`; `seed` feeds preemption's RNG.
pub fn default_framework(scheduler_name: &str, seed: u64) -> Framework {
    let fit = Arc::new(NodeResourcesFit);
    let taints = Arc::new(TaintToleration);
    let node_affinity = Arc::new(NodeAffinity);
    let ipa = Arc::new(InterPodAffinity);
    let pts = Arc::new(PodTopologySpread);
    let balanced = Arc::new(BalancedAllocation);
    Framework {
        scheduler_name: scheduler_name.to_string(),
        pre_filter: vec![node_affinity.clone(), pts.clone(), ipa.clone()],
        filter: vec![
            Arc::new(NodeUnschedulable),
            Arc::new(NodeName),
            taints.clone(),
            node_affinity.clone(),
            Arc::new(NodePorts),
            fit.clone(),
            pts.clone(),
            ipa.clone(),
        ],
        post_filter: vec![Arc::new(DefaultPreemption::new(seed))],
        pre_score: vec![
            taints.clone(),
            node_affinity.clone(),
            pts.clone(),
            ipa.clone(),
            balanced.clone(),
        ],
        score: vec![
            (taints, 3),
            (node_affinity, 2),
            (fit, 1),
            (pts, 2),
            (ipa, 2),
            (balanced, 1),
        ],
        reserve: Vec::new(),
        bind: vec![Arc::new(DefaultBinder)],
    }
}
