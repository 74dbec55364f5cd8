//! One scheduling cycle's algorithm, as upstream's `schedule_one.go`: PreFilter, Filter over
//! an adaptive share of the nodes from a round-robin start, PostFilter on failure, PreScore
//! and Score over the feasible nodes, and a seeded tie-break among the best.

use std::sync::Arc;

use crate::Framework;
use crate::framework::{Code, CycleState, FitError, NodeToStatus, Status};
use crate::node_info::{NodeInfo, PodInfo, Snapshot};

/// At least this many feasible nodes are looked for (upstream `minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never drops below this (upstream
/// `minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// Upstream `ErrNoNodesAvailable`.
pub const ERR_NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// Something a PostFilter plugin asks the scheduler to do through the API.
#[derive(Debug, Clone)]
pub enum Action {
    /// Evict `victims` from `node` so `preemptor` can go there; also clear the nomination of
    /// `clear_nominated` (lower-priority pods nominated to the node).
    Preempt {
        /// The preempting pod.
        preemptor: Arc<PodInfo>,
        /// The chosen node.
        node: String,
        /// The pods to evict.
        victims: Vec<Arc<PodInfo>>,
        /// Lower-priority pods nominated to that node whose nomination is cleared.
        clear_nominated: Vec<Arc<PodInfo>>,
    },
}

/// How a cycle ended.
#[derive(Debug)]
pub enum Outcome {
    /// The pod fits `node`.
    Fit {
        /// The selected node.
        node: String,
    },
    /// The pod fits nowhere.
    Unschedulable {
        /// The status code (Unschedulable or UnschedulableAndUnresolvable).
        code: Code,
        /// The message for the condition and the `FailedScheduling` event.
        message: String,
        /// The node preemption nominated, if any.
        nominated_node: Option<String>,
        /// API actions preemption asks for.
        actions: Vec<Action>,
    },
    /// An internal error.
    Error(String),
}

/// A small seeded RNG (SplitMix64) for tie-breaks and preemption offsets: the same seed replays
/// the same choices.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// How many feasible nodes to look for among `num_all` (upstream `numFeasibleNodesToFind`).
pub fn num_feasible_nodes_to_find(percentage: Option<u32>, num_all: usize) -> usize {
    if num_all < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all;
    }
    let pct = match percentage {
        Some(p) if p >= 100 => return num_all,
        Some(p) if p > 0 => p as usize,
        _ => (50usize.saturating_sub(num_all / 125)).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND),
    };
    (num_all * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// The scheduling algorithm's own state between cycles.
#[derive(Debug, Clone)]
pub struct Algorithm {
    /// `percentageOfNodesToScore` (None: adaptive).
    pub percentage: Option<u32>,
    /// Where the next cycle starts looking (round robin).
    pub next_start: usize,
    /// The tie-break RNG.
    pub rng: Rng,
}

impl Algorithm {
    /// A fresh algorithm state.
    pub fn new(percentage: Option<u32>, seed: u64) -> Algorithm {
        Algorithm {
            percentage,
            next_start: 0,
            rng: Rng::new(seed),
        }
    }

    /// Runs one scheduling cycle for `pod` against `snapshot`.
    pub fn schedule(&mut self, fw: &Framework, snapshot: &Snapshot, pod: &PodInfo) -> Outcome {
        let num_all = snapshot.num_nodes();
        if num_all == 0 {
            return Outcome::Unschedulable {
                code: Code::UnschedulableAndUnresolvable,
                message: ERR_NO_NODES_AVAILABLE.into(),
                nominated_node: None,
                actions: Vec::new(),
            };
        }
        let mut state = CycleState::default();
        let mut fit = FitError {
            num_all_nodes: num_all,
            ..Default::default()
        };
        let pre = fw.run_pre_filter(&mut state, pod, snapshot);
        let feasible: Vec<&NodeInfo> = match pre.code {
            Code::Success => self.find_feasible(fw, &state, snapshot, pod, &mut fit.statuses),
            Code::Error => return Outcome::Error(pre.message()),
            _ => {
                fit.pre_filter_msg = pre.message();
                fit.statuses.absent = Some(pre.clone());
                Vec::new()
            }
        };
        if feasible.is_empty() {
            let mut actions = Vec::new();
            let mut nominated_node = None;
            for pf in &fw.post_filter {
                let (result, status) =
                    pf.post_filter(fw, &state, pod, snapshot, &fit.statuses, &mut actions);
                if status.code == Code::Error {
                    return Outcome::Error(status.message());
                }
                fit.post_filter_msg = status.message();
                if let Some(r) = result {
                    nominated_node = r.nominated_node_name;
                }
                if status.is_success() {
                    break;
                }
            }
            let code = if pre.code == Code::UnschedulableAndUnresolvable {
                Code::UnschedulableAndUnresolvable
            } else {
                Code::Unschedulable
            };
            return Outcome::Unschedulable {
                code,
                message: fit.to_string(),
                nominated_node,
                actions,
            };
        }
        if feasible.len() == 1 {
            return Outcome::Fit {
                node: feasible[0].name.clone(),
            };
        }
        let s = fw.run_pre_score(&mut state, pod, snapshot, &feasible);
        if !s.is_success() {
            return Outcome::Error(s.message());
        }
        let scores = match fw.run_score(&state, pod, &feasible) {
            Ok(s) => s,
            Err(s) => return Outcome::Error(s.message()),
        };
        Outcome::Fit {
            node: feasible[self.select_host(&scores)].name.clone(),
        }
    }

    /// The index of a highest score; ties broken by reservoir sampling with the seeded RNG.
    pub fn select_host(&mut self, scores: &[i64]) -> usize {
        let mut best = 0;
        let mut count = 0;
        for (i, s) in scores.iter().enumerate() {
            if i == 0 || *s > scores[best] {
                best = i;
                count = 1;
            } else if *s == scores[best] {
                count += 1;
                if self.rng.below(count) == 0 {
                    best = i;
                }
            }
        }
        best
    }

    fn find_feasible<'s>(
        &mut self,
        fw: &Framework,
        state: &CycleState,
        snapshot: &'s Snapshot,
        pod: &PodInfo,
        statuses: &mut NodeToStatus,
    ) -> Vec<&'s NodeInfo> {
        // A nominated node (after preemption) is tried first and alone.
        if let Some(nn) = pod
            .pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .filter(|n| !n.is_empty())
            && let Some(node) = snapshot.get(nn).filter(|n| n.node.is_some())
            && fw
                .run_filter_with_nominated(state, pod, node, snapshot.nominated_on(nn))
                .is_success()
        {
            return vec![node];
        }
        if let Some((names, plugins)) = state.pre_filter_nodes.as_ref() {
            // Only the nodes PreFilter named are evaluated; the rest share one status.
            let mut sorted = plugins.clone();
            sorted.sort_unstable();
            sorted.dedup();
            statuses.absent = Some(Status::unresolvable(format!(
                "node(s) didn't satisfy plugin(s) [{}]",
                sorted.join(" ")
            )));
            let mut feasible = Vec::new();
            for node in names
                .iter()
                .filter_map(|n| snapshot.get(n))
                .filter(|n| n.node.is_some())
            {
                let s = fw.run_filter_with_nominated(
                    state,
                    pod,
                    node,
                    snapshot.nominated_on(&node.name),
                );
                if s.is_success() {
                    feasible.push(node);
                } else {
                    statuses.statuses.insert(node.name.clone(), s);
                }
            }
            return feasible;
        }
        let slots = snapshot.slots();
        let num_all = snapshot.num_nodes();
        let want = num_feasible_nodes_to_find(self.percentage, num_all);
        let mut feasible = Vec::with_capacity(want.min(num_all));
        let mut processed = 0;
        let start = if slots == 0 {
            0
        } else {
            self.next_start % slots
        };
        for k in 0..slots {
            if feasible.len() >= want {
                break;
            }
            let Some(node) = snapshot.at((start + k) % slots) else {
                continue;
            };
            processed += 1;
            let s =
                fw.run_filter_with_nominated(state, pod, node, snapshot.nominated_on(&node.name));
            if s.is_success() {
                feasible.push(node);
            } else {
                statuses.statuses.insert(node.name.clone(), s);
            }
        }
        let _ = processed;
        // Upstream advances by the nodes processed; slots without nodes are skipped over too.
        let mut advanced = 0;
        let mut seen = 0;
        while seen < processed && advanced < slots {
            if snapshot.at((start + advanced) % slots).is_some() {
                seen += 1;
            }
            advanced += 1;
        }
        self.next_start = if slots == 0 {
            0
        } else {
            (start + advanced) % slots
        };
        feasible
    }
}

/// Runs PreFilter + filter on one node with `victims` removed, reprieving as many victims as
/// possible (upstream `SelectVictimsOnNode`). Returns the victims and how many of them
/// violate a PDB, or the status that makes this node unsuitable.
pub fn select_victims_on_node(
    fw: &Framework,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    snapshot: &Snapshot,
) -> Result<(Vec<Arc<PodInfo>>, usize), Status> {
    let mut potential: Vec<Arc<PodInfo>> = node
        .pods
        .iter()
        .filter(|p| p.priority < pod.priority)
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(
            "No preemption victims found for incoming pod",
        ));
    }
    let mut ni = node.clone();
    let mut st = state.clone();
    for v in &potential {
        ni.remove_pod(&v.uid);
        fw.run_remove_pod(&mut st, pod, v, &ni);
    }
    let s = fw.run_filter_with_nominated(&st, pod, &ni, snapshot.nominated_on(&node.name));
    if !s.is_success() {
        return Err(s);
    }
    // Most important first: higher priority, then earlier start.
    potential.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then_with(|| start_time(a).cmp(&start_time(b)))
    });
    let violates = |p: &PodInfo| {
        snapshot.pdbs.iter().any(|pdb| {
            pdb.namespace == p.namespace
                && pdb.disruptions_allowed <= 0
                && pdb.selector.matches(p.labels())
        })
    };
    let (violating, other): (Vec<_>, Vec<_>) = potential.into_iter().partition(|p| violates(p));
    let mut victims = Vec::new();
    let mut num_violating = 0;
    for (group_violates, group) in [(true, violating), (false, other)] {
        for p in group {
            ni.add_pod(p.clone());
            fw.run_add_pod(&mut st, pod, &p, &ni);
            if !fw
                .run_filter_with_nominated(&st, pod, &ni, snapshot.nominated_on(&node.name))
                .is_success()
            {
                ni.remove_pod(&p.uid);
                fw.run_remove_pod(&mut st, pod, &p, &ni);
                if group_violates {
                    num_violating += 1;
                }
                victims.push(p);
            }
        }
    }
    if victims.is_empty() {
        return Err(Status::error(format!(
            "expected at least one victim pod on node {:?}",
            node.name
        )));
    }
    victims.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then_with(|| start_time(a).cmp(&start_time(b)))
    });
    Ok((victims, num_violating))
}

/// A pod's start time (or creation time) as a sortable string timestamp.
pub fn start_time(p: &PodInfo) -> jiff::Timestamp {
    p.pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0)
        .or_else(|| p.pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feasible_node_count_is_adaptive() {
        let cases = [
            ("small cluster checks all", None, 50, 50),
            ("100 nodes", None, 100, 100),
            ("1000 nodes at 42%", None, 1000, 420),
            ("5000 nodes at 10%", None, 5000, 500),
            ("6000 nodes floor 5%", None, 6000, 300),
            ("configured 100%", Some(100), 5000, 5000),
            ("configured 1% floors at 100 nodes", Some(1), 5000, 100),
        ];
        for (case, pct, all, want) in cases {
            assert_eq!(num_feasible_nodes_to_find(pct, all), want, "case {case}");
        }
    }

    #[test]
    fn ties_are_broken_reproducibly_by_seed() {
        let scores = [5, 9, 9, 1, 9];
        let picks = |seed| {
            let mut a = Algorithm::new(None, seed);
            (0..20).map(|_| a.select_host(&scores)).collect::<Vec<_>>()
        };
        assert_eq!(picks(7), picks(7), "case same seed same picks");
        assert!(
            picks(7).iter().all(|i| [1, 2, 4].contains(i)),
            "case only top scores picked"
        );
        let all = picks(3);
        assert!(
            [1, 2, 4].iter().all(|i| all.contains(i)),
            "case every top node gets picked: {all:?}"
        );
    }
}

#[cfg(test)]
mod perf_probe {
    use super::*;
    use crate::node_info::Selector;
    use crate::testing::{NodeBuilder, PodBuilder};

    #[test]
    #[ignore = "manual throughput probe"]
    fn throughput_at_5000_nodes_with_default_spreading() {
        let nodes: Vec<NodeInfo> = (0..5000)
            .map(|i| {
                NodeBuilder::new(&format!("n{i}"))
                    .label("topology.kubernetes.io/zone", ["a", "b", "c"][i % 3])
                    .info()
            })
            .collect();
        let mut snap = Snapshot::from_nodes(nodes);
        if std::env::var("NOPTS").is_err() {
            snap.workload_selectors
                .entry("default".into())
                .or_default()
                .insert(
                    "ReplicaSet/web".into(),
                    Selector::from_map(&[("app".to_string(), "web".to_string())].into()),
                );
        }
        let fw = crate::registry::default_framework("default-scheduler", 0);
        let mut algo = Algorithm::new(None, 0);
        // Pre-fill 20 pods per node.
        for i in 0..100_000 {
            let p = PodBuilder::new(&format!("f{i}"))
                .label("app", if i % 2 == 0 { "web" } else { "x" })
                .cpu("10m")
                .build();
            let n = format!("n{}", i % 5000);
            let mut obj = (*p.pod).clone();
            obj.spec.as_mut().unwrap().node_name = Some(n.clone());
            snap.get_or_insert(&n)
                .add_pod(Arc::new(PodInfo::new(Arc::new(obj))));
        }
        let start = std::time::Instant::now();
        let n = 2000;
        for i in 0..n {
            let p = PodBuilder::new(&format!("p{i}"))
                .label("app", "web")
                .cpu("10m")
                .build();
            match algo.schedule(&fw, &snap, &p) {
                Outcome::Fit { node } => {
                    let mut obj = (*p.pod).clone();
                    obj.spec.as_mut().unwrap().node_name = Some(node.clone());
                    snap.get_or_insert(&node)
                        .add_pod(Arc::new(PodInfo::new(Arc::new(obj))));
                }
                other => panic!("{other:?}"),
            }
        }
        let el = start.elapsed();
        eprintln!(
            "{n} pods in {el:?}: {:.0} pods/s",
            n as f64 / el.as_secs_f64()
        );
    }
}
