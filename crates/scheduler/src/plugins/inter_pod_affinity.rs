//! InterPodAffinity: required pod affinity and anti-affinity (the incoming pod's and, for
//! anti-affinity, existing pods' terms) filter nodes by topology domain; preferred terms of
//! both sides score them.

use std::collections::HashMap;

use crate::framework::{
    CycleState, FilterPlugin, MAX_NODE_SCORE, Plugin, PreFilterPlugin, PreScorePlugin, ScorePlugin,
    Status,
};
use crate::node_info::{Labels, NodeInfo, PodInfo, Snapshot};

/// Upstream `ErrReasonExistingAntiAffinityRulesNotMatch`.
pub const ERR_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
/// Upstream `ErrReasonAffinityRulesNotMatch`.
pub const ERR_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Upstream `ErrReasonAntiAffinityRulesNotMatch`.
pub const ERR_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";

/// Weight of an existing pod's *required* affinity term matching the incoming pod, when
/// scoring (upstream `hardPodAffinityWeight` default).
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// The InterPodAffinity plugin.
pub struct InterPodAffinity;

impl InterPodAffinity {
    /// The plugin's name.
    pub const NAME: &'static str = "InterPodAffinity";
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

type Pair = (String, String);

#[derive(Clone, Default)]
struct PreFilterState {
    /// Existing pods' required anti-affinity terms matching the incoming pod, per domain.
    existing_anti_affinity: HashMap<Pair, i64>,
    /// Existing pods matching all the incoming pod's affinity terms, per (term key, domain).
    affinity: HashMap<Pair, i64>,
    /// Existing pods matching each incoming anti-affinity term, per domain.
    anti_affinity: HashMap<Pair, i64>,
}

fn update_with(
    state: &mut PreFilterState,
    pod: &PodInfo,
    other: &PodInfo,
    node: &NodeInfo,
    ns: Option<&Labels>,
    own_ns: Option<&Labels>,
    delta: i64,
) {
    for t in &other.required_anti_affinity {
        if let Some(v) = node.labels.get(&t.topology_key)
            && t.matches(pod, own_ns)
        {
            *state
                .existing_anti_affinity
                .entry((t.topology_key.clone(), v.clone()))
                .or_default() += delta;
        }
    }
    if !pod.required_affinity.is_empty()
        && pod.required_affinity.iter().all(|t| t.matches(other, ns))
    {
        for t in &pod.required_affinity {
            if let Some(v) = node.labels.get(&t.topology_key) {
                *state
                    .affinity
                    .entry((t.topology_key.clone(), v.clone()))
                    .or_default() += delta;
            }
        }
    }
    for t in &pod.required_anti_affinity {
        if let Some(v) = node.labels.get(&t.topology_key)
            && t.matches(other, ns)
        {
            *state
                .anti_affinity
                .entry((t.topology_key.clone(), v.clone()))
                .or_default() += delta;
        }
    }
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status {
        let mut s = PreFilterState::default();
        let own_ns = snapshot.ns_labels(&pod.namespace);
        let incoming_terms =
            !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        for node in snapshot.nodes() {
            if !incoming_terms && node.pods_with_required_anti_affinity == 0 {
                continue;
            }
            for other in &node.pods {
                if !incoming_terms && other.required_anti_affinity.is_empty() {
                    continue;
                }
                let ns = snapshot.ns_labels(&other.namespace);
                update_with(&mut s, pod, other, node, ns, own_ns, 1);
            }
        }
        if !incoming_terms && s.existing_anti_affinity.is_empty() {
            state.skip_filter.push(Self::NAME);
            return Status::skip();
        }
        state.write(Self::NAME, s);
        Status::success()
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        if let Some(s) = state.read_mut::<PreFilterState>(Self::NAME) {
            update_with(s, pod, other, node, None, None, 1);
        }
    }

    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        if let Some(s) = state.read_mut::<PreFilterState>(Self::NAME) {
            update_with(s, pod, other, node, None, None, -1);
        }
    }
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(Self::NAME) else {
            return Status::success();
        };
        // The pod's affinity.
        if !pod.required_affinity.is_empty() {
            let satisfied = pod.required_affinity.iter().all(|t| {
                node.labels.get(&t.topology_key).is_some_and(|v| {
                    s.affinity
                        .get(&(t.topology_key.clone(), v.clone()))
                        .copied()
                        .unwrap_or(0)
                        > 0
                })
            });
            if !satisfied {
                // The first pod of a group that selects itself may go anywhere the topology
                // keys exist.
                let total: i64 = s.affinity.values().sum();
                let self_match = pod.required_affinity.iter().all(|t| t.matches(pod, None));
                let keys_present = pod
                    .required_affinity
                    .iter()
                    .all(|t| node.labels.contains_key(&t.topology_key));
                if !(total == 0 && self_match && keys_present) {
                    return Status::unresolvable(ERR_AFFINITY);
                }
            }
        }
        // The pod's anti-affinity.
        for t in &pod.required_anti_affinity {
            if let Some(v) = node.labels.get(&t.topology_key)
                && s.anti_affinity
                    .get(&(t.topology_key.clone(), v.clone()))
                    .copied()
                    .unwrap_or(0)
                    > 0
            {
                return Status::unschedulable(ERR_ANTI_AFFINITY);
            }
        }
        // Existing pods' anti-affinity (checked last, as upstream).
        for (k, v) in &node.labels {
            if s.existing_anti_affinity
                .get(&(k.clone(), v.clone()))
                .copied()
                .unwrap_or(0)
                > 0
            {
                return Status::unschedulable(ERR_EXISTING_ANTI_AFFINITY);
            }
        }
        Status::success()
    }
}

#[derive(Clone, Default)]
struct PreScoreState {
    topology_score: HashMap<String, HashMap<String, i64>>,
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        nodes: &[&NodeInfo],
    ) -> Status {
        let has_preferred =
            !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        let mut s = PreScoreState::default();
        let own_ns = snapshot.ns_labels(&pod.namespace);
        let mut add = |key: &str, node: &NodeInfo, w: i64| {
            if let Some(v) = node.labels.get(key) {
                *s.topology_score
                    .entry(key.to_string())
                    .or_default()
                    .entry(v.clone())
                    .or_default() += w;
            }
        };
        let mut any = false;
        for node in snapshot.nodes() {
            if !has_preferred && node.pods_with_affinity == 0 {
                continue;
            }
            for other in &node.pods {
                let ns = snapshot.ns_labels(&other.namespace);
                for (t, w) in &pod.preferred_affinity {
                    if t.matches(other, ns) {
                        add(&t.topology_key, node, i64::from(*w));
                        any = true;
                    }
                }
                for (t, w) in &pod.preferred_anti_affinity {
                    if t.matches(other, ns) {
                        add(&t.topology_key, node, -i64::from(*w));
                        any = true;
                    }
                }
                for t in &other.required_affinity {
                    if t.matches(pod, own_ns) {
                        add(&t.topology_key, node, HARD_POD_AFFINITY_WEIGHT);
                        any = true;
                    }
                }
                for (t, w) in &other.preferred_affinity {
                    if t.matches(pod, own_ns) {
                        add(&t.topology_key, node, i64::from(*w));
                        any = true;
                    }
                }
                for (t, w) in &other.preferred_anti_affinity {
                    if t.matches(pod, own_ns) {
                        add(&t.topology_key, node, -i64::from(*w));
                        any = true;
                    }
                }
            }
        }
        let _ = nodes;
        if !any {
            state.skip_score.push(Self::NAME);
            return Status::skip();
        }
        state.write(Self::NAME, s);
        Status::success()
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(s) = state.read::<PreScoreState>(Self::NAME) else {
            return Ok(0);
        };
        Ok(s.topology_score
            .iter()
            .filter_map(|(k, by_value)| node.labels.get(k).and_then(|v| by_value.get(v)))
            .sum())
    }

    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [i64]) -> Status {
        let (Some(min), Some(max)) = (scores.iter().min().copied(), scores.iter().max().copied())
        else {
            return Status::success();
        };
        let diff = max - min;
        for s in scores.iter_mut() {
            *s = if diff > 0 {
                MAX_NODE_SCORE * (*s - min) / diff
            } else {
                0
            };
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder, snapshot};

    const ZONE: &str = "topology.kubernetes.io/zone";
    const HOST: &str = "kubernetes.io/hostname";

    fn run(pod: &PodInfo, snap: &Snapshot) -> Vec<Status> {
        let mut state = CycleState::default();
        let pre = InterPodAffinity.pre_filter(&mut state, pod, snap);
        snap.nodes()
            .map(|n| {
                if pre.code == crate::framework::Code::Skip {
                    Status::success()
                } else {
                    InterPodAffinity.filter(&state, pod, n)
                }
            })
            .collect()
    }

    #[test]
    fn required_affinity_and_anti_affinity_filter_by_domain() {
        let web = || PodBuilder::new("w").label("app", "web").build();
        let nodes = || {
            vec![
                NodeBuilder::new("a1").label(ZONE, "a").pod(web()),
                NodeBuilder::new("a2").label(ZONE, "a"),
                NodeBuilder::new("b1").label(ZONE, "b"),
            ]
        };
        let cases: Vec<(&str, PodInfo, Vec<Option<&str>>)> = vec![
            (
                "affinity to web in zone",
                PodBuilder::new("p")
                    .pod_affinity("app", "web", ZONE)
                    .build(),
                vec![None, None, Some(ERR_AFFINITY)],
            ),
            (
                "anti-affinity to web per host",
                PodBuilder::new("p")
                    .pod_anti_affinity("app", "web", HOST)
                    .build(),
                vec![Some(ERR_ANTI_AFFINITY), None, None],
            ),
            (
                "anti-affinity to web per zone",
                PodBuilder::new("p")
                    .pod_anti_affinity("app", "web", ZONE)
                    .build(),
                vec![Some(ERR_ANTI_AFFINITY), Some(ERR_ANTI_AFFINITY), None],
            ),
            (
                "first pod of a self-affine group goes anywhere",
                PodBuilder::new("p")
                    .label("app", "db")
                    .pod_affinity("app", "db", ZONE)
                    .build(),
                vec![None, None, None],
            ),
            (
                "affinity to nothing existing fails everywhere",
                PodBuilder::new("p").pod_affinity("app", "db", ZONE).build(),
                vec![Some(ERR_AFFINITY), Some(ERR_AFFINITY), Some(ERR_AFFINITY)],
            ),
        ];
        for (case, pod, want) in cases {
            let got = run(&pod, &snapshot(nodes()));
            let got: Vec<Option<String>> = got
                .iter()
                .map(|s| (!s.is_success()).then(|| s.message()))
                .collect();
            let want: Vec<Option<String>> = want.into_iter().map(|w| w.map(String::from)).collect();
            assert_eq!(got, want, "case {case}");
        }
    }

    #[test]
    fn existing_pods_anti_affinity_is_respected() {
        let guard = PodBuilder::new("g")
            .pod_anti_affinity("app", "web", HOST)
            .build();
        let snap = snapshot(vec![
            NodeBuilder::new("n1").pod(guard),
            NodeBuilder::new("n2"),
        ]);
        let got: Vec<String> = run(&PodBuilder::new("p").label("app", "web").build(), &snap)
            .iter()
            .map(|s| s.message())
            .collect();
        assert_eq!(
            got,
            vec![ERR_EXISTING_ANTI_AFFINITY.to_string(), String::new()],
            "case existing anti-affinity"
        );
    }

    #[test]
    fn preferred_terms_score_domains() {
        let snap = snapshot(vec![
            NodeBuilder::new("n1")
                .label(ZONE, "a")
                .pod(PodBuilder::new("w").label("app", "web").build()),
            NodeBuilder::new("n2").label(ZONE, "a"),
            NodeBuilder::new("n3").label(ZONE, "b"),
        ]);
        let pod = PodBuilder::new("p")
            .preferred_pod_affinity(50, "app", "web", ZONE)
            .build();
        let mut state = CycleState::default();
        let nodes: Vec<&NodeInfo> = snap.nodes().collect();
        InterPodAffinity.pre_score(&mut state, &pod, &snap, &nodes);
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| InterPodAffinity.score(&state, &pod, n).unwrap_or(-1))
            .collect();
        InterPodAffinity.normalize(&state, &pod, &mut scores);
        assert_eq!(scores, vec![100, 100, 0], "case preferred affinity by zone");
    }
}
