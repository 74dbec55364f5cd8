//! NodeResourcesBalancedAllocation: prefers nodes where cpu and memory would be used in
//! similar fractions after placing the pod.

use crate::framework::{CycleState, MAX_NODE_SCORE, Plugin, PreScorePlugin, ScorePlugin, Status};
use crate::node_info::{NodeInfo, PodInfo, Snapshot};

/// The NodeResourcesBalancedAllocation plugin.
pub struct BalancedAllocation;

impl BalancedAllocation {
    /// The plugin's name.
    pub const NAME: &'static str = "NodeResourcesBalancedAllocation";
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

impl PreScorePlugin for BalancedAllocation {
    fn pre_score(
        &self,
        _s: &mut CycleState,
        pod: &PodInfo,
        _snap: &Snapshot,
        _n: &[&NodeInfo],
    ) -> Status {
        // Best-effort pods (no cpu or memory request) are skipped, as upstream.
        if pod.requests.milli_cpu == 0 && pod.requests.memory == 0 {
            Status::skip()
        } else {
            Status::success()
        }
    }
}

impl ScorePlugin for BalancedAllocation {
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let fraction = |req: i64, alloc: i64| {
            if alloc == 0 {
                return None;
            }
            Some((req as f64 / alloc as f64).min(1.0))
        };
        let fr: Vec<f64> = [
            fraction(
                node.requested.milli_cpu + pod.requests.milli_cpu,
                node.allocatable.milli_cpu,
            ),
            fraction(
                node.requested.memory + pod.requests.memory,
                node.allocatable.memory,
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        let std = if fr.len() == 2 {
            (fr[0] - fr[1]).abs() / 2.0
        } else if fr.len() > 2 {
            let mean = fr.iter().sum::<f64>() / fr.len() as f64;
            (fr.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / fr.len() as f64).sqrt()
        } else {
            0.0
        };
        Ok(((1.0 - std) * MAX_NODE_SCORE as f64) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};

    #[test]
    fn balanced_usage_scores_higher() {
        let cases = [
            (
                "perfectly balanced",
                PodBuilder::new("p").cpu("1").memory("2Gi").build(),
                100,
            ),
            (
                "all cpu",
                PodBuilder::new("p").cpu("2").memory("0").build(),
                50,
            ),
            (
                "three quarters apart",
                PodBuilder::new("p").cpu("2").memory("1Gi").build(),
                62,
            ),
        ];
        for (case, pod, want) in cases {
            let node = NodeBuilder::new("n").cpu("2").memory("4Gi").info();
            let got = BalancedAllocation
                .score(&CycleState::default(), &pod, &node)
                .unwrap_or(-1);
            assert_eq!(got, want, "case {case}");
        }
    }
}
