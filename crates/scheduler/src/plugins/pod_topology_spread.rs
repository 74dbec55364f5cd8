//! PodTopologySpread: `whenUnsatisfiable: DoNotSchedule` constraints filter nodes whose
//! domain would exceed `maxSkew` (honouring minDomains, nodeAffinityPolicy, nodeTaintsPolicy
//! and matchLabelKeys); `ScheduleAnyway` constraints (or the cluster defaults: zone skew 5,
//! hostname skew 3, for pods selected by a Service, ReplicationController, ReplicaSet or
//! StatefulSet) score nodes.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;

use crate::framework::{
    CycleState, FilterPlugin, MAX_NODE_SCORE, Plugin, PreFilterPlugin, PreScorePlugin, ScorePlugin,
    Status,
};
use crate::node_info::{NodeInfo, PodInfo, Requirement, Selector, SelectorOp, Snapshot, tolerated};
use crate::plugins::node_affinity::required_matches;

/// Upstream `ErrReasonConstraintsNotMatch`.
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// Upstream `ErrReasonNodeLabelNotMatch`.
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

const HOSTNAME: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

/// The PodTopologySpread plugin.
pub struct PodTopologySpread;

impl PodTopologySpread {
    /// The plugin's name.
    pub const NAME: &'static str = "PodTopologySpread";
    const SCORE_KEY: &'static str = "PreScorePodTopologySpread";
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

/// A compiled constraint.
#[derive(Debug, Clone)]
pub struct Constraint {
    max_skew: i64,
    topology_key: String,
    selector: Selector,
    min_domains: i64,
    honor_node_affinity: bool,
    honor_taints: bool,
}

fn compile(pod: &PodInfo, c: &TopologySpreadConstraint) -> Constraint {
    let mut selector = Selector::from_label_selector(c.label_selector.as_ref());
    for k in c.match_label_keys.iter().flatten() {
        if let Some(v) = pod.labels().get(k) {
            selector.push(Requirement {
                key: k.clone(),
                op: SelectorOp::In,
                values: vec![v.clone()],
            });
        }
    }
    Constraint {
        max_skew: i64::from(c.max_skew),
        topology_key: c.topology_key.clone(),
        selector,
        min_domains: i64::from(c.min_domains.unwrap_or(1)),
        honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
        honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
    }
}

/// The pod's constraints with `whenUnsatisfiable` = `when`; for ScheduleAnyway and a pod
/// without constraints, the cluster defaults applied to its workload selector.
pub fn constraints(pod: &PodInfo, snapshot: &Snapshot, when: &str) -> Vec<Constraint> {
    let own = pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref());
    match own {
        Some(cs) if !cs.is_empty() => cs
            .iter()
            .filter(|c| c.when_unsatisfiable == when)
            .map(|c| compile(pod, c))
            .collect(),
        _ if when == "ScheduleAnyway" => {
            let Some(selector) = snapshot.default_selector(pod) else {
                return Vec::new();
            };
            [(ZONE, 5), (HOSTNAME, 3)]
                .into_iter()
                .map(|(key, skew)| Constraint {
                    max_skew: skew,
                    topology_key: key.into(),
                    selector: selector.clone(),
                    min_domains: 1,
                    honor_node_affinity: true,
                    honor_taints: false,
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Whether the pod restricts nodes by nodeSelector or required node affinity.
fn has_required_node_constraints(pod: &PodInfo) -> bool {
    pod.pod.spec.as_ref().is_some_and(|s| {
        s.node_selector.as_ref().is_some_and(|m| !m.is_empty())
            || s.affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .is_some_and(|na| {
                    na.required_during_scheduling_ignored_during_execution
                        .is_some()
                })
    })
}

fn node_eligible(c: &Constraint, pod: &PodInfo, node: &NodeInfo) -> bool {
    if c.honor_node_affinity && !required_matches(pod, node) {
        return false;
    }
    if c.honor_taints
        && node.taints.iter().any(|t| {
            (t.effect == "NoSchedule" || t.effect == "NoExecute")
                && !tolerated(pod.tolerations(), t)
        })
    {
        return false;
    }
    true
}

#[derive(Clone, Default)]
struct PreFilterState {
    constraints: Vec<Constraint>,
    /// Matching pods per (constraint index, domain value).
    counts: Vec<HashMap<String, i64>>,
    /// The smallest count per constraint.
    min: Vec<i64>,
}

impl PreFilterState {
    fn recompute_min(&mut self) {
        self.min = self
            .counts
            .iter()
            .map(|m| m.values().copied().min().unwrap_or(0))
            .collect();
    }
    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        if other.namespace != pod.namespace {
            return;
        }
        if !self
            .constraints
            .iter()
            .all(|c| node.labels.contains_key(&c.topology_key))
        {
            return;
        }
        let mut changed = false;
        for (i, c) in self.constraints.iter().enumerate() {
            if !node_eligible(c, pod, node) || !c.selector.matches(other.labels()) {
                continue;
            }
            if let Some(v) = node.labels.get(&c.topology_key) {
                *self.counts[i].entry(v.clone()).or_default() += delta;
                changed = true;
            }
        }
        if changed {
            self.recompute_min();
        }
    }
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status {
        let cs = constraints(pod, snapshot, "DoNotSchedule");
        if cs.is_empty() {
            return Status::skip();
        }
        let mut counts = vec![HashMap::new(); cs.len()];
        // Every eligible domain counts (at 0 if empty) for the minimum.
        for node in snapshot.nodes() {
            if !cs.iter().all(|c| node.labels.contains_key(&c.topology_key)) {
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                if node_eligible(c, pod, node) {
                    counts[i]
                        .entry(node.labels[&c.topology_key].clone())
                        .or_insert(0);
                }
            }
        }
        for (i, c) in cs.iter().enumerate() {
            for (name, n) in snapshot.matching_counts(&pod.namespace, &c.selector).iter() {
                let Some(node) = snapshot.get(name).filter(|n| n.node.is_some()) else {
                    continue;
                };
                if !cs.iter().all(|c| node.labels.contains_key(&c.topology_key))
                    || !node_eligible(c, pod, node)
                {
                    continue;
                }
                *counts[i]
                    .entry(node.labels[&c.topology_key].clone())
                    .or_default() += n;
            }
        }
        let mut s = PreFilterState {
            constraints: cs,
            counts,
            min: Vec::new(),
        };
        s.recompute_min();
        state.write(Self::NAME, s);
        Status::success()
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        if let Some(s) = state.read_mut::<PreFilterState>(Self::NAME) {
            s.update(pod, other, node, 1);
        }
    }

    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        if let Some(s) = state.read_mut::<PreFilterState>(Self::NAME) {
            s.update(pod, other, node, -1);
        }
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(Self::NAME) else {
            return Status::success();
        };
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(v) = node.labels.get(&c.topology_key) else {
                return Status::unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH);
            };
            let self_match = i64::from(c.selector.matches(pod.labels()));
            let match_num = s.counts[i].get(v).copied().unwrap_or(0);
            let mut min = s.min[i];
            if (s.counts[i].len() as i64) < c.min_domains {
                min = 0;
            }
            if match_num + self_match - min > c.max_skew {
                return Status::unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}

#[derive(Clone, Default)]
struct PreScoreState {
    constraints: Vec<Constraint>,
    /// Nodes without every topology key: scored 0.
    ignored: std::collections::HashSet<String>,
    /// Matching pods per (constraint index, domain) for non-hostname keys.
    counts: Vec<HashMap<String, i64>>,
    /// Matching pods per node for hostname constraints.
    host_counts: Vec<Option<Arc<HashMap<String, i64>>>>,
    weights: Vec<f64>,
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        nodes: &[&NodeInfo],
    ) -> Status {
        let cs = constraints(pod, snapshot, "ScheduleAnyway");
        if cs.is_empty() {
            return Status::skip();
        }
        let mut s = PreScoreState {
            counts: vec![HashMap::new(); cs.len()],
            weights: vec![0.0; cs.len()],
            host_counts: vec![None; cs.len()],
            ..Default::default()
        };
        let mut domains: Vec<std::collections::HashSet<&str>> = vec![Default::default(); cs.len()];
        for node in nodes {
            if !cs.iter().all(|c| node.labels.contains_key(&c.topology_key)) {
                s.ignored.insert(node.name.clone());
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                let v = &node.labels[&c.topology_key];
                domains[i].insert(v.as_str());
                if c.topology_key != HOSTNAME {
                    s.counts[i].entry(v.clone()).or_insert(0);
                }
            }
        }
        for (i, c) in cs.iter().enumerate() {
            let size = if c.topology_key == HOSTNAME {
                nodes.len() - s.ignored.len()
            } else {
                domains[i].len()
            };
            s.weights[i] = ((size + 2) as f64).ln();
        }
        // Without node affinity or taints to honour, every node with the key is eligible and
        // the per-domain totals are kept incrementally.
        let no_node_constraints = !has_required_node_constraints(pod);
        for (i, c) in cs.iter().enumerate() {
            if c.topology_key == HOSTNAME {
                s.host_counts[i] = Some(snapshot.matching_counts(&pod.namespace, &c.selector));
                continue;
            }
            if !c.honor_taints && (no_node_constraints || !c.honor_node_affinity) {
                let dc = snapshot.domain_counts(&pod.namespace, &c.selector, &c.topology_key);
                for (domain, total) in s.counts[i].iter_mut() {
                    *total = dc.get(domain).copied().unwrap_or(0);
                }
                continue;
            }
            let mc = snapshot.matching_counts(&pod.namespace, &c.selector);
            for (name, n) in mc.iter() {
                let Some(node) = snapshot.get(name).filter(|n| n.node.is_some()) else {
                    continue;
                };
                if !cs.iter().all(|c| node.labels.contains_key(&c.topology_key))
                    || !node_eligible(c, pod, node)
                {
                    continue;
                }
                if let Some(total) = s.counts[i].get_mut(&node.labels[&c.topology_key]) {
                    *total += n;
                }
            }
        }
        s.constraints = cs;
        state.write(Self::SCORE_KEY, s);
        Status::success()
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(s) = state.read::<PreScoreState>(Self::SCORE_KEY) else {
            return Ok(0);
        };
        if s.ignored.contains(&node.name) {
            // Marks the node as ignored for NormalizeScore (real scores are never negative).
            return Ok(-1);
        }
        let mut score = 0.0;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(v) = node.labels.get(&c.topology_key) else {
                continue;
            };
            let cnt = if let Some(hc) = s.host_counts[i].as_ref() {
                hc.get(&node.name).copied().unwrap_or(0)
            } else {
                s.counts[i].get(v).copied().unwrap_or(0)
            };
            score += cnt as f64 * s.weights[i] + (c.max_skew - 1) as f64;
        }
        Ok(score.round() as i64)
    }

    fn normalize(&self, state: &CycleState, _pod: &PodInfo, scores: &mut [i64]) -> Status {
        if state.read::<PreScoreState>(Self::SCORE_KEY).is_none() {
            return Status::success();
        }
        // Ignored nodes (marked -1) score 0 and take no part in min/max.
        let (mut min, mut max) = (i64::MAX, 0);
        for v in scores.iter().filter(|v| **v >= 0) {
            min = min.min(*v);
            max = max.max(*v);
        }
        for v in scores.iter_mut() {
            if *v < 0 {
                *v = 0;
                continue;
            }
            if max == 0 {
                *v = MAX_NODE_SCORE;
                continue;
            }
            *v = MAX_NODE_SCORE * (max + min - *v) / max;
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder, snapshot};

    fn web(name: &str) -> PodInfo {
        PodBuilder::new(name).label("app", "web").build()
    }

    fn filter_all(pod: &PodInfo, snap: &Snapshot) -> Vec<String> {
        let mut state = CycleState::default();
        let pre = PodTopologySpread.pre_filter(&mut state, pod, snap);
        snap.nodes()
            .map(|n| {
                if pre.code == crate::framework::Code::Skip {
                    String::new()
                } else {
                    PodTopologySpread.filter(&state, pod, n).message()
                }
            })
            .collect()
    }

    #[test]
    fn do_not_schedule_limits_skew() {
        let nodes = || {
            vec![
                NodeBuilder::new("a1")
                    .label(ZONE, "a")
                    .pod(web("w1"))
                    .pod(web("w2")),
                NodeBuilder::new("b1").label(ZONE, "b").pod(web("w3")),
                NodeBuilder::new("c1").label(ZONE, "c"),
                NodeBuilder::new("nolabel"),
            ]
        };
        let no = ERR_REASON_CONSTRAINTS_NOT_MATCH.to_string();
        let missing = ERR_REASON_NODE_LABEL_NOT_MATCH.to_string();
        let cases: Vec<(&str, PodInfo, Vec<String>)> = vec![
            (
                "max skew 1 sends the pod to the empty zone",
                PodBuilder::new("p")
                    .label("app", "web")
                    .spread(1, ZONE, "DoNotSchedule", "app", "web")
                    .build(),
                vec![no.clone(), no.clone(), String::new(), missing.clone()],
            ),
            (
                "max skew 2 also allows the middle zone",
                PodBuilder::new("p")
                    .label("app", "web")
                    .spread(2, ZONE, "DoNotSchedule", "app", "web")
                    .build(),
                vec![no.clone(), String::new(), String::new(), missing.clone()],
            ),
            (
                "minDomains above the domain count treats the minimum as 0",
                PodBuilder::new("p")
                    .label("app", "web")
                    .spread(2, ZONE, "DoNotSchedule", "app", "web")
                    .min_domains(4)
                    .build(),
                vec![no.clone(), String::new(), String::new(), missing.clone()],
            ),
            (
                "ScheduleAnyway does not filter",
                PodBuilder::new("p")
                    .label("app", "web")
                    .spread(1, ZONE, "ScheduleAnyway", "app", "web")
                    .build(),
                vec![String::new(), String::new(), String::new(), String::new()],
            ),
        ];
        for (case, pod, want) in cases {
            assert_eq!(filter_all(&pod, &snapshot(nodes())), want, "case {case}");
        }
    }

    #[test]
    fn schedule_anyway_scores_emptier_domains_higher() {
        let snap = snapshot(vec![
            NodeBuilder::new("a1")
                .label(ZONE, "a")
                .pod(web("w1"))
                .pod(web("w2")),
            NodeBuilder::new("b1").label(ZONE, "b").pod(web("w3")),
            NodeBuilder::new("c1").label(ZONE, "c"),
        ]);
        let pod = PodBuilder::new("p")
            .label("app", "web")
            .spread(1, ZONE, "ScheduleAnyway", "app", "web")
            .build();
        let mut state = CycleState::default();
        let nodes: Vec<&NodeInfo> = snap.nodes().collect();
        PodTopologySpread.pre_score(&mut state, &pod, &snap, &nodes);
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| PodTopologySpread.score(&state, &pod, n).unwrap_or(-1))
            .collect();
        PodTopologySpread.normalize(&state, &pod, &mut scores);
        assert!(
            scores[2] > scores[1] && scores[1] > scores[0],
            "case emptier zone scores higher: {scores:?}"
        );
        assert_eq!(scores[2], 100, "case the emptiest node gets the maximum");
    }

    #[test]
    fn cluster_default_constraints_apply_to_pods_selected_by_a_workload() {
        let mut snap = snapshot(vec![NodeBuilder::new("n1").label(ZONE, "a")]);
        snap.workload_selectors
            .entry("default".into())
            .or_default()
            .insert(
                "ReplicaSet/web-abc".into(),
                Selector::from_map(&[("app".to_string(), "web".to_string())].into()),
            );
        let cases: Vec<(&str, PodInfo, Vec<(&str, i64)>)> = vec![
            (
                "selected pod gets zone 5 and hostname 3",
                web("p"),
                vec![(ZONE, 5), (HOSTNAME, 3)],
            ),
            (
                "unselected pod gets none",
                PodBuilder::new("p").label("app", "db").build(),
                vec![],
            ),
            (
                "own constraints win over defaults",
                PodBuilder::new("p")
                    .label("app", "web")
                    .spread(2, ZONE, "ScheduleAnyway", "app", "web")
                    .build(),
                vec![(ZONE, 2)],
            ),
            (
                "own DoNotSchedule constraints disable the defaults",
                PodBuilder::new("p")
                    .label("app", "web")
                    .spread(1, ZONE, "DoNotSchedule", "app", "web")
                    .build(),
                vec![],
            ),
        ];
        for (case, pod, want) in cases {
            let got: Vec<(String, i64)> = constraints(&pod, &snap, "ScheduleAnyway")
                .into_iter()
                .map(|c| (c.topology_key, c.max_skew))
                .collect();
            let want: Vec<(String, i64)> =
                want.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            assert_eq!(got, want, "case {case}");
        }
    }
}
