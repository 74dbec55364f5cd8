//! TaintToleration: a node's NoSchedule/NoExecute taints keep off pods that do not tolerate
//! them; PreferNoSchedule taints a pod does not tolerate lower the node's score.

use k8s_openapi::api::core::v1::Toleration;

use crate::framework::{
    CycleState, FilterPlugin, MAX_NODE_SCORE, Plugin, PreScorePlugin, ScorePlugin, Status,
};
use crate::node_info::{NodeInfo, PodInfo, Snapshot, tolerated};

/// The TaintToleration plugin.
pub struct TaintToleration;

impl TaintToleration {
    /// The plugin's name.
    pub const NAME: &'static str = "TaintToleration";
}

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

impl FilterPlugin for TaintToleration {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let untolerated = node.taints.iter().find(|t| {
            (t.effect == "NoSchedule" || t.effect == "NoExecute")
                && !tolerated(pod.tolerations(), t)
        });
        match untolerated {
            None => Status::success(),
            Some(t) => Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or("")
            )),
        }
    }
}

#[derive(Clone)]
struct PreScoreState {
    prefer_tolerations: Vec<Toleration>,
}

impl PreScorePlugin for TaintToleration {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _s: &Snapshot,
        _n: &[&NodeInfo],
    ) -> Status {
        let prefer_tolerations = pod
            .tolerations()
            .iter()
            .filter(|t| {
                matches!(
                    t.effect.as_deref(),
                    None | Some("") | Some("PreferNoSchedule")
                )
            })
            .cloned()
            .collect();
        state.write(Self::NAME, PreScoreState { prefer_tolerations });
        Status::success()
    }
}

impl ScorePlugin for TaintToleration {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let tolerations = match state.read::<PreScoreState>(Self::NAME) {
            Some(s) => &s.prefer_tolerations,
            None => pod.tolerations(),
        };
        Ok(node
            .taints
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule" && !tolerated(tolerations, t))
            .count() as i64)
    }

    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [i64]) -> Status {
        default_normalize(scores, true);
        Status::success()
    }
}

/// Upstream `helper.DefaultNormalizeScore`: scales to 0..=100 by the maximum, reversed if
/// asked (max 0 and reverse gives every node 100).
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = MAX_NODE_SCORE * *s / max;
        if reverse {
            *s = MAX_NODE_SCORE - *s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};

    #[test]
    fn filter_rejects_untolerated_hard_taints() {
        let cases = [
            (
                "no taints",
                NodeBuilder::new("n"),
                PodBuilder::new("p"),
                None,
            ),
            (
                "untolerated NoSchedule",
                NodeBuilder::new("n").taint("dedicated", "gpu", "NoSchedule"),
                PodBuilder::new("p"),
                Some("node(s) had untolerated taint {dedicated: gpu}"),
            ),
            (
                "tolerated by Equal",
                NodeBuilder::new("n").taint("dedicated", "gpu", "NoSchedule"),
                PodBuilder::new("p").toleration("dedicated", "Equal", "gpu", "NoSchedule"),
                None,
            ),
            (
                "wrong value",
                NodeBuilder::new("n").taint("dedicated", "gpu", "NoSchedule"),
                PodBuilder::new("p").toleration("dedicated", "Equal", "cpu", "NoSchedule"),
                Some("node(s) had untolerated taint {dedicated: gpu}"),
            ),
            (
                "not-ready NoExecute",
                NodeBuilder::new("n").taint("node.kubernetes.io/not-ready", "", "NoExecute"),
                PodBuilder::new("p"),
                Some("node(s) had untolerated taint {node.kubernetes.io/not-ready: }"),
            ),
            (
                "exists with empty key tolerates all",
                NodeBuilder::new("n").taint("a", "b", "NoSchedule"),
                PodBuilder::new("p").toleration("", "Exists", "", ""),
                None,
            ),
            (
                "PreferNoSchedule does not filter",
                NodeBuilder::new("n").taint("a", "b", "PreferNoSchedule"),
                PodBuilder::new("p"),
                None,
            ),
        ];
        for (case, node, pod, want) in cases {
            let s = TaintToleration.filter(&CycleState::default(), &pod.build(), &node.info());
            match want {
                None => assert!(s.is_success(), "case {case}: {s:?}"),
                Some(msg) => {
                    assert_eq!(
                        s.code,
                        crate::framework::Code::UnschedulableAndUnresolvable,
                        "case {case}"
                    );
                    assert_eq!(s.message(), msg, "case {case}");
                }
            }
        }
    }

    #[test]
    fn score_counts_untolerated_prefer_no_schedule_taints() {
        let pod = PodBuilder::new("p")
            .toleration("b", "Exists", "", "PreferNoSchedule")
            .build();
        let nodes = [
            NodeBuilder::new("clean").info(),
            NodeBuilder::new("one")
                .taint("a", "x", "PreferNoSchedule")
                .info(),
            NodeBuilder::new("tolerated")
                .taint("b", "x", "PreferNoSchedule")
                .info(),
            NodeBuilder::new("two")
                .taint("a", "x", "PreferNoSchedule")
                .taint("c", "y", "PreferNoSchedule")
                .info(),
        ];
        let mut state = CycleState::default();
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        TaintToleration.pre_score(&mut state, &pod, &Snapshot::default(), &refs);
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| TaintToleration.score(&state, &pod, n).unwrap_or(-1))
            .collect();
        assert_eq!(scores, vec![0, 1, 0, 2], "case raw counts");
        TaintToleration.normalize(&state, &pod, &mut scores);
        assert_eq!(scores, vec![100, 50, 100, 0], "case normalized reversed");
    }
}
