//! DefaultPreemption (PostFilter): when no node fits, find nodes where evicting
//! lower-priority pods makes the pod fit, pick one by upstream's criteria and ask for the
//! victims' eviction; the pod is nominated to that node.

use std::sync::Arc;

use crate::Framework;
use crate::framework::{
    Code, CycleState, FitError, NodeToStatus, Plugin, PostFilterPlugin, PostFilterResult, Status,
};
use crate::node_info::{PodInfo, Snapshot};
use crate::schedule_one::{Action, Rng, select_victims_on_node, start_time};

/// The DefaultPreemption plugin.
pub struct DefaultPreemption {
    rng: std::sync::Mutex<Rng>,
}

impl DefaultPreemption {
    /// The plugin's name.
    pub const NAME: &'static str = "DefaultPreemption";

    /// The plugin, with a seeded RNG for the candidate search offset.
    pub fn new(seed: u64) -> DefaultPreemption {
        DefaultPreemption {
            rng: std::sync::Mutex::new(Rng::new(seed ^ 0x5EED)),
        }
    }
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

/// A node where preemption would work.
struct Candidate {
    node: String,
    victims: Vec<Arc<PodInfo>>,
    num_pdb_violations: usize,
}

fn not_helpful(num_all: usize, statuses: NodeToStatus) -> String {
    let mut statuses = statuses;
    statuses.absent = Some(Status::unresolvable(
        "Preemption is not helpful for scheduling",
    ));
    let fit = FitError {
        num_all_nodes: num_all,
        statuses,
        ..Default::default()
    };
    format!("preemption: {fit}")
}

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(
        &self,
        fw: &Framework,
        state: &CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        statuses: &NodeToStatus,
        actions: &mut Vec<Action>,
    ) -> (Option<PostFilterResult>, Status) {
        let spec = pod.pod.spec.as_ref();
        if spec.and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
            return (
                None,
                Status::unschedulable("preemption: not eligible due to preemptionPolicy=Never."),
            );
        }
        if let Some(nn) = pod
            .pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .filter(|n| !n.is_empty())
            && statuses.get(nn).code != Code::UnschedulableAndUnresolvable
            && let Some(node) = snapshot.get(nn)
            && node
                .pods
                .iter()
                .any(|p| p.priority < pod.priority && p.is_terminating())
        {
            return (
                None,
                Status::unschedulable(
                    "preemption: not eligible due to a terminating pod on the nominated node.",
                ),
            );
        }
        let num_all = snapshot.num_nodes();
        let potential: Vec<_> = snapshot
            .nodes()
            .filter(|n| statuses.get(&n.name).code != Code::UnschedulableAndUnresolvable)
            .collect();
        if potential.is_empty() {
            return (
                None,
                Status::unschedulable(not_helpful(num_all, NodeToStatus::default())),
            );
        }
        // Upstream looks for max(10% of nodes, 100) candidates from a random offset.
        let want = (num_all / 10).max(100).min(potential.len());
        let offset = self
            .rng
            .lock()
            .map(|mut r| r.below(potential.len()))
            .unwrap_or(0);
        let mut candidates = Vec::new();
        let mut dry_run = NodeToStatus::default();
        for k in 0..potential.len() {
            if candidates.len() >= want {
                break;
            }
            let node = potential[(offset + k) % potential.len()];
            match select_victims_on_node(fw, state, pod, node, snapshot) {
                Ok((victims, num_pdb_violations)) => candidates.push(Candidate {
                    node: node.name.clone(),
                    victims,
                    num_pdb_violations,
                }),
                Err(s) if s.code == Code::Error => return (None, s),
                Err(s) => {
                    dry_run.statuses.insert(node.name.clone(), s);
                }
            }
        }
        let Some(best) = pick_one(candidates) else {
            return (None, Status::unschedulable(not_helpful(num_all, dry_run)));
        };
        let clear_nominated = snapshot
            .nominated_on(&best.node)
            .iter()
            .filter(|p| p.priority < pod.priority && p.uid != pod.uid)
            .cloned()
            .collect();
        actions.push(Action::Preempt {
            preemptor: Arc::new(pod.clone()),
            node: best.node.clone(),
            victims: best.victims,
            clear_nominated,
        });
        (
            Some(PostFilterResult {
                nominated_node_name: Some(best.node),
            }),
            Status::success(),
        )
    }
}

/// Upstream `pickOneNodeForPreemption`: fewest PDB violations, then lowest highest victim
/// priority, then smallest priority sum, then fewest victims, then latest start of the
/// highest-priority victims, then the first.
fn pick_one(mut candidates: Vec<Candidate>) -> Option<Candidate> {
    if candidates.is_empty() {
        return None;
    }
    let key = |c: &Candidate| {
        let highest = c.victims.first().map(|v| v.priority).unwrap_or(i32::MIN);
        let sum: i64 = c
            .victims
            .iter()
            .map(|v| i64::from(v.priority) + i64::from(i32::MAX) + 1)
            .sum();
        let earliest = c
            .victims
            .iter()
            .filter(|v| v.priority == highest)
            .map(|v| start_time(v))
            .min()
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        (
            c.num_pdb_violations,
            highest,
            sum,
            c.victims.len(),
            std::cmp::Reverse(earliest),
        )
    };
    let mut best = 0;
    for i in 1..candidates.len() {
        if key(&candidates[i]) < key(&candidates[best]) {
            best = i;
        }
    }
    Some(candidates.swap_remove(best))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry;
    use crate::schedule_one::{Algorithm, Outcome};
    use crate::testing::{NodeBuilder, PodBuilder, snapshot};

    fn full_nodes(priority: i32) -> Snapshot {
        snapshot(
            ["n1", "n2", "n3"]
                .iter()
                .map(|n| {
                    NodeBuilder::new(n)
                        .cpu("1")
                        .pods(2)
                        .pod(
                            PodBuilder::new(&format!("{n}-a"))
                                .cpu("400m")
                                .priority(priority)
                                .build(),
                        )
                        .pod(
                            PodBuilder::new(&format!("{n}-b"))
                                .cpu("400m")
                                .priority(priority)
                                .build(),
                        )
                })
                .collect(),
        )
    }

    #[test]
    fn fit_error_messages_include_preemption_outcome() {
        let fw = registry::default_framework("default-scheduler", 1);
        let cases: Vec<(&str, Snapshot, PodInfo, &str)> = vec![
            (
                "equal priority: no victims",
                full_nodes(0),
                PodBuilder::new("p").cpu("100m").build(),
                "0/3 nodes are available: 3 Too many pods. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
            ),
            (
                "unresolvable reasons: preemption not helpful",
                full_nodes(0),
                PodBuilder::new("p")
                    .cpu("100m")
                    .node_selector("disk", "ssd")
                    .build(),
                "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
            ),
            (
                "insufficient cpu everywhere",
                snapshot(vec![
                    NodeBuilder::new("n1")
                        .cpu("1")
                        .pod(PodBuilder::new("a").cpu("900m").build()),
                    NodeBuilder::new("n2")
                        .cpu("1")
                        .pod(PodBuilder::new("b").cpu("900m").build()),
                    NodeBuilder::new("n3")
                        .cpu("1")
                        .pod(PodBuilder::new("c").cpu("900m").build()),
                ]),
                PodBuilder::new("p").cpu("500m").build(),
                "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
            ),
            (
                "pinned to one node by metadata.name (DaemonSet)",
                full_nodes(0),
                PodBuilder::new("p")
                    .cpu("100m")
                    .node_name_affinity("n1")
                    .build(),
                "0/3 nodes are available: 1 Too many pods, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.",
            ),
            (
                "preemptionPolicy Never",
                full_nodes(0),
                PodBuilder::new("p")
                    .cpu("100m")
                    .priority(100)
                    .preemption_policy("Never")
                    .build(),
                "0/3 nodes are available: 3 Too many pods. preemption: not eligible due to preemptionPolicy=Never.",
            ),
            (
                "mixed reasons sorted and counted",
                snapshot(vec![
                    NodeBuilder::new("n1")
                        .cpu("1")
                        .pod(PodBuilder::new("a").cpu("900m").build()),
                    NodeBuilder::new("n2").taint("dedicated", "db", "NoSchedule"),
                    NodeBuilder::new("n3")
                        .cpu("1")
                        .pod(PodBuilder::new("c").cpu("900m").build()),
                ]),
                PodBuilder::new("p").cpu("500m").build(),
                "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
            ),
        ];
        for (case, snap, pod, want) in cases {
            match Algorithm::new(None, 0).schedule(&fw, &snap, &pod) {
                Outcome::Unschedulable { message, .. } => assert_eq!(message, want, "case {case}"),
                other => panic!("case {case}: expected unschedulable, got {other:?}"),
            }
        }
    }

    #[test]
    fn higher_priority_pod_preempts_the_fewest_lowest_victims() {
        let fw = registry::default_framework("default-scheduler", 1);
        let snap = snapshot(vec![
            NodeBuilder::new("n1")
                .cpu("1")
                .pod(PodBuilder::new("low1").cpu("500m").priority(1).build())
                .pod(PodBuilder::new("low2").cpu("500m").priority(1).build()),
            NodeBuilder::new("n2")
                .cpu("1")
                .pod(PodBuilder::new("mid").cpu("500m").priority(5).build())
                .pod(PodBuilder::new("low3").cpu("500m").priority(1).build()),
        ]);
        let pod = PodBuilder::new("p").cpu("500m").priority(10).build();
        match Algorithm::new(None, 0).schedule(&fw, &snap, &pod) {
            Outcome::Unschedulable {
                nominated_node,
                actions,
                message,
                ..
            } => {
                assert_eq!(
                    nominated_node.as_deref(),
                    Some("n1"),
                    "case nominated node (lowest highest victim)"
                );
                assert_eq!(
                    message, "0/2 nodes are available: 2 Insufficient cpu.",
                    "case message without preemption part"
                );
                let Action::Preempt { victims, .. } = &actions[0];
                let names: Vec<&str> = victims.iter().map(|v| v.name.as_str()).collect();
                assert_eq!(names.len(), 1, "case one victim suffices: {names:?}");
            }
            other => panic!("case preempt: expected unschedulable with nomination, got {other:?}"),
        }
    }

    #[test]
    fn preemption_avoids_victims_protected_by_a_pdb() {
        let fw = registry::default_framework("default-scheduler", 1);
        let mut snap = snapshot(vec![
            NodeBuilder::new("n1").cpu("1").pod(
                PodBuilder::new("guarded")
                    .label("app", "db")
                    .cpu("800m")
                    .priority(1)
                    .build(),
            ),
            NodeBuilder::new("n2").cpu("1").pod(
                PodBuilder::new("free")
                    .label("app", "batch")
                    .cpu("800m")
                    .priority(1)
                    .build(),
            ),
        ]);
        snap.pdbs.push(crate::node_info::PdbInfo {
            namespace: "default".into(),
            selector: crate::node_info::Selector::from_map(
                &[("app".to_string(), "db".to_string())].into(),
            ),
            disruptions_allowed: 0,
        });
        let pod = PodBuilder::new("p").cpu("500m").priority(10).build();
        for seed in 0..4 {
            match Algorithm::new(None, seed).schedule(&fw, &snap, &pod) {
                Outcome::Unschedulable { nominated_node, .. } => {
                    assert_eq!(
                        nominated_node.as_deref(),
                        Some("n2"),
                        "case seed {seed}: the PDB-free node is chosen"
                    )
                }
                other => panic!("case seed {seed}: expected a nomination, got {other:?}"),
            }
        }
    }
}
