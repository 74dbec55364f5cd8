//! The framework runtime: the profile's plugins per extension point and how each point runs
//! (first rejection wins at PreFilter/Filter, weighted sum at Score).

use std::sync::Arc;

use crate::framework::{
    BindPlugin, Code, CycleState, FilterPlugin, PostFilterPlugin, PreFilterPlugin, PreScorePlugin,
    ReservePlugin, ScorePlugin, Status,
};
use crate::node_info::{NodeInfo, PodInfo, Snapshot};

/// A scheduling profile: the plugins enabled at each extension point.
#[derive(Default, Clone)]
pub struct Framework {
    /// The profile's scheduler name (`spec.schedulerName` it serves).
    pub scheduler_name: String,
    /// PreFilter plugins, in order.
    pub pre_filter: Vec<Arc<dyn PreFilterPlugin>>,
    /// Filter plugins, in order.
    pub filter: Vec<Arc<dyn FilterPlugin>>,
    /// PostFilter plugins, in order.
    pub post_filter: Vec<Arc<dyn PostFilterPlugin>>,
    /// PreScore plugins.
    pub pre_score: Vec<Arc<dyn PreScorePlugin>>,
    /// Score plugins with their weights.
    pub score: Vec<(Arc<dyn ScorePlugin>, i64)>,
    /// Reserve plugins.
    pub reserve: Vec<Arc<dyn ReservePlugin>>,
    /// Bind plugins (the first that does not skip binds).
    pub bind: Vec<Arc<dyn BindPlugin>>,
}

impl Framework {
    /// Runs PreFilter; the first rejection or error is returned, attributed to its plugin.
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Status {
        for p in &self.pre_filter {
            let s = p.pre_filter(state, pod, snapshot);
            match s.code {
                Code::Success => {}
                Code::Skip => {
                    if !state.skip_filter.contains(&p.name()) {
                        state.skip_filter.push(p.name());
                    }
                }
                _ => return s.with_plugin(p.name()),
            }
            if let Some((nodes, plugins)) = state.pre_filter_nodes.as_ref()
                && nodes.is_empty()
            {
                let msg = if plugins.len() == 1 {
                    format!("node(s) didn't satisfy plugin {}", plugins[0])
                } else {
                    format!(
                        "node(s) didn't satisfy plugin(s) [{}] simultaneously",
                        plugins.join(" ")
                    )
                };
                return Status::unschedulable(msg).with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs Filter on one node; the first non-success is returned.
    pub fn run_filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        for p in &self.filter {
            if state.skip_filter.contains(&p.name()) {
                continue;
            }
            let s = p.filter(state, pod, node);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs the PreFilter extensions as if `other` were added to `node`.
    pub fn run_add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        other: &PodInfo,
        node: &NodeInfo,
    ) {
        for p in &self.pre_filter {
            if !state.skip_filter.contains(&p.name()) {
                p.add_pod(state, pod, other, node);
            }
        }
    }

    /// Runs the PreFilter extensions as if `other` were removed from `node`.
    pub fn run_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        other: &PodInfo,
        node: &NodeInfo,
    ) {
        for p in &self.pre_filter {
            if !state.skip_filter.contains(&p.name()) {
                p.remove_pod(state, pod, other, node);
            }
        }
    }

    /// Runs Filter as upstream's `RunFilterPluginsWithNominatedPods`: first with the pods
    /// nominated to this node with priority ≥ the pod's added, then (if any were added and
    /// that passed) without them.
    pub fn run_filter_with_nominated(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        nominated: &[Arc<PodInfo>],
    ) -> Status {
        let relevant: Vec<&Arc<PodInfo>> = nominated
            .iter()
            .filter(|n| n.uid != pod.uid && n.priority >= pod.priority)
            .collect();
        if relevant.is_empty() {
            return self.run_filter(state, pod, node);
        }
        let mut state_with = state.clone();
        let mut node_with = node.clone();
        for n in relevant {
            node_with.add_pod(n.clone());
            self.run_add_pod(&mut state_with, pod, n, &node_with);
        }
        let s = self.run_filter(&state_with, pod, &node_with);
        if !s.is_success() {
            return s;
        }
        self.run_filter(state, pod, node)
    }

    /// Runs PreScore over the feasible nodes (a Skip disables that plugin's Score).
    pub fn run_pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        nodes: &[&NodeInfo],
    ) -> Status {
        for p in &self.pre_score {
            let s = p.pre_score(state, pod, snapshot, nodes);
            match s.code {
                Code::Success => {}
                Code::Skip => {
                    if !state.skip_score.contains(&p.name()) {
                        state.skip_score.push(p.name());
                    }
                }
                _ => return s.with_plugin(p.name()),
            }
        }
        Status::success()
    }

    /// Runs Score and NormalizeScore; returns each node's weighted total.
    pub fn run_score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
    ) -> Result<Vec<i64>, Status> {
        let mut totals = vec![0i64; nodes.len()];
        let mut scores = vec![0i64; nodes.len()];
        for (p, weight) in &self.score {
            if state.skip_score.contains(&p.name()) {
                continue;
            }
            for (i, n) in nodes.iter().enumerate() {
                scores[i] = p
                    .score(state, pod, n)
                    .map_err(|s| s.with_plugin(p.name()))?;
            }
            let s = p.normalize(state, pod, &mut scores);
            if !s.is_success() {
                return Err(s.with_plugin(p.name()));
            }
            for (t, s) in totals.iter_mut().zip(&scores) {
                *t += s * weight;
            }
        }
        Ok(totals)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::framework::CycleState;
    use crate::registry;
    use crate::testing::{NodeBuilder, PodBuilder};

    #[test]
    fn nominated_pods_of_equal_or_higher_priority_reserve_their_room() {
        let fw = registry::default_framework("default-scheduler", 0);
        let node = NodeBuilder::new("n1").cpu("1").info();
        let nominated = vec![Arc::new(
            PodBuilder::new("nominee").cpu("800m").priority(10).build(),
        )];
        let cases = [
            ("lower priority pod is kept out", 5, false),
            ("equal priority pod is kept out", 10, false),
            ("higher priority pod ignores the nomination", 20, true),
        ];
        for (case, priority, fits) in cases {
            let pod = PodBuilder::new("p").cpu("500m").priority(priority).build();
            let s = fw.run_filter_with_nominated(&CycleState::default(), &pod, &node, &nominated);
            assert_eq!(s.is_success(), fits, "case {case}: {s:?}");
        }
    }
}
