//! NodeAffinity: `spec.nodeSelector` and required node affinity filter nodes; preferred node
//! affinity terms add their weights to a node's score.

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};

use crate::framework::{
    CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreScorePlugin, ScorePlugin, Status,
};
use crate::node_info::{NodeInfo, PodInfo, Snapshot};
use crate::plugins::taint_toleration::default_normalize;

/// Upstream `ErrReasonPod`.
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";

/// The NodeAffinity plugin.
pub struct NodeAffinity;

impl NodeAffinity {
    /// The plugin's name.
    pub const NAME: &'static str = "NodeAffinity";
}

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// Whether one node selector term matches (all its expressions and fields; an empty term
/// matches nothing).
pub fn term_matches(term: &NodeSelectorTerm, node: &NodeInfo) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs
        .iter()
        .all(|r| requirement_matches(r, node.labels.get(&r.key).map(String::as_str)))
        && fields
            .iter()
            .all(|r| r.key == "metadata.name" && requirement_matches(r, Some(node.name.as_str())))
}

/// Whether the pod's nodeSelector and required node affinity match the node.
pub fn required_matches(pod: &PodInfo, node: &NodeInfo) -> bool {
    let Some(spec) = pod.pod.spec.as_ref() else {
        return true;
    };
    if let Some(sel) = spec.node_selector.as_ref()
        && !sel.iter().all(|(k, v)| node.labels.get(k) == Some(v))
    {
        return false;
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        Some(r) => r.node_selector_terms.iter().any(|t| term_matches(t, node)),
        None => true,
    }
}

/// Upstream `errReasonConflict`: required terms name disjoint node sets.
pub const ERR_REASON_CONFLICT: &str = "pod affinity terms conflict";

impl PreFilterPlugin for NodeAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, _snapshot: &Snapshot) -> Status {
        let spec = pod.pod.spec.as_ref();
        let required = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        let Some(required) = required else {
            if spec.and_then(|s| s.node_selector.as_ref()).is_none() {
                return Status::skip();
            }
            return Status::success();
        };
        // Terms are ORed; a term naming nodes by `metadata.name In` restricts to those (its
        // requirements ANDed); one term without such a field means every node is possible.
        let mut names: std::collections::BTreeSet<String> = Default::default();
        for t in &required.node_selector_terms {
            let mut term_names: Option<std::collections::BTreeSet<String>> = None;
            for r in t.match_fields.iter().flatten() {
                if r.key == "metadata.name" && r.operator == "In" {
                    let set: std::collections::BTreeSet<String> =
                        r.values.iter().flatten().cloned().collect();
                    term_names = Some(match term_names {
                        None => set,
                        Some(prev) => prev.intersection(&set).cloned().collect(),
                    });
                }
            }
            match term_names {
                None => return Status::success(),
                Some(n) => names.extend(n),
            }
        }
        if names.is_empty() {
            return Status::unresolvable(ERR_REASON_CONFLICT);
        }
        state.restrict_nodes(Self::NAME, names);
        Status::success()
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if required_matches(pod, node) {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON_POD)
        }
    }
}

impl PreScorePlugin for NodeAffinity {
    fn pre_score(
        &self,
        _s: &mut CycleState,
        pod: &PodInfo,
        _snap: &Snapshot,
        _n: &[&NodeInfo],
    ) -> Status {
        let has_preferred = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .is_some_and(|p| !p.is_empty());
        if has_preferred {
            Status::success()
        } else {
            Status::skip()
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let preferred = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        Ok(preferred
            .into_iter()
            .flatten()
            .filter(|p| p.weight != 0 && term_matches(&p.preference, node))
            .map(|p| i64::from(p.weight))
            .sum())
    }

    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [i64]) -> Status {
        default_normalize(scores, false);
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};

    #[test]
    fn node_selector_and_required_affinity_filter() {
        let node = || {
            NodeBuilder::new("n1")
                .label("disk", "ssd")
                .label("zone", "a")
                .label("cores", "8")
        };
        let cases = [
            ("no constraints", PodBuilder::new("p"), true),
            (
                "selector matches",
                PodBuilder::new("p").node_selector("disk", "ssd"),
                true,
            ),
            (
                "selector mismatches",
                PodBuilder::new("p").node_selector("disk", "hdd"),
                false,
            ),
            (
                "In matches",
                PodBuilder::new("p").required_node_affinity("zone", "In", &["a", "b"]),
                true,
            ),
            (
                "In mismatches",
                PodBuilder::new("p").required_node_affinity("zone", "In", &["c"]),
                false,
            ),
            (
                "NotIn",
                PodBuilder::new("p").required_node_affinity("zone", "NotIn", &["a"]),
                false,
            ),
            (
                "Exists",
                PodBuilder::new("p").required_node_affinity("disk", "Exists", &[]),
                true,
            ),
            (
                "DoesNotExist",
                PodBuilder::new("p").required_node_affinity("gpu", "DoesNotExist", &[]),
                true,
            ),
            (
                "Gt",
                PodBuilder::new("p").required_node_affinity("cores", "Gt", &["4"]),
                true,
            ),
            (
                "Lt",
                PodBuilder::new("p").required_node_affinity("cores", "Lt", &["4"]),
                false,
            ),
        ];
        for (case, pod, fits) in cases {
            let s = NodeAffinity.filter(&CycleState::default(), &pod.build(), &node().info());
            assert_eq!(s.is_success(), fits, "case {case}: {s:?}");
            if !fits {
                assert_eq!(s.message(), ERR_REASON_POD, "case {case}");
            }
        }
    }

    #[test]
    fn preferred_terms_add_weights_then_normalize() {
        let pod = PodBuilder::new("p")
            .preferred_node_affinity(10, "zone", "In", &["a"])
            .preferred_node_affinity(30, "disk", "In", &["ssd"])
            .build();
        let nodes = [
            NodeBuilder::new("both")
                .label("zone", "a")
                .label("disk", "ssd")
                .info(),
            NodeBuilder::new("zone").label("zone", "a").info(),
            NodeBuilder::new("none").info(),
        ];
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| {
                NodeAffinity
                    .score(&CycleState::default(), &pod, n)
                    .unwrap_or(-1)
            })
            .collect();
        assert_eq!(scores, vec![40, 10, 0], "case raw");
        NodeAffinity.normalize(&CycleState::default(), &pod, &mut scores);
        assert_eq!(scores, vec![100, 25, 0], "case normalized");
    }
}
