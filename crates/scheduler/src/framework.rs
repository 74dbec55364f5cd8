//! The scheduling framework: extension points as small traits, [`Status`] with its codes,
//! [`CycleState`], the per-node statuses of a failed cycle and the [`FitError`] message.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};

use crate::node_info::{NodeInfo, PodInfo, Snapshot};

/// The outcome class of a plugin call, as upstream's `framework.Code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The plugin ran and is satisfied.
    Success,
    /// The pod does not fit now; preemption or cluster changes may help.
    Unschedulable,
    /// The pod does not fit and preempting pods on this node would not help.
    UnschedulableAndUnresolvable,
    /// An internal error.
    Error,
    /// The plugin has nothing to do for this pod (PreFilter/PreScore); its later points are
    /// skipped.
    Skip,
}

/// A plugin's answer: a code, the reasons (messages) and the plugin that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The outcome class.
    pub code: Code,
    /// Human-readable reasons, as shown in `FailedScheduling` messages.
    pub reasons: Vec<String>,
    /// The plugin that answered, if known.
    pub plugin: &'static str,
}

impl Status {
    /// Success.
    pub fn success() -> Status {
        Status {
            code: Code::Success,
            reasons: Vec::new(),
            plugin: "",
        }
    }
    /// Skip (PreFilter/PreScore: nothing to do).
    pub fn skip() -> Status {
        Status {
            code: Code::Skip,
            reasons: Vec::new(),
            plugin: "",
        }
    }
    /// Unschedulable with one reason.
    pub fn unschedulable(reason: impl Into<String>) -> Status {
        Status {
            code: Code::Unschedulable,
            reasons: vec![reason.into()],
            plugin: "",
        }
    }
    /// UnschedulableAndUnresolvable with one reason.
    pub fn unresolvable(reason: impl Into<String>) -> Status {
        Status {
            code: Code::UnschedulableAndUnresolvable,
            reasons: vec![reason.into()],
            plugin: "",
        }
    }
    /// An internal error.
    pub fn error(reason: impl Into<String>) -> Status {
        Status {
            code: Code::Error,
            reasons: vec![reason.into()],
            plugin: "",
        }
    }
    /// A status of `code` with several reasons.
    pub fn new(code: Code, reasons: Vec<String>) -> Status {
        Status {
            code,
            reasons,
            plugin: "",
        }
    }
    /// The same status, attributed to `plugin`.
    pub fn with_plugin(mut self, plugin: &'static str) -> Status {
        self.plugin = plugin;
        self
    }
    /// Whether the code is Success.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }
    /// Whether the pod was rejected (Unschedulable or UnschedulableAndUnresolvable).
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable
        )
    }
    /// The reasons joined by `, `, as upstream's `Status.Message()`.
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }
}

/// Data a plugin keeps for one scheduling cycle (written at PreFilter/PreScore, read at
/// Filter/Score). Cloned when preemption simulates removing pods.
pub trait StateData: Any + Send + Sync {
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn StateData>;
    /// As `Any`, to downcast.
    fn as_any(&self) -> &dyn Any;
    /// As mutable `Any`, to downcast.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone + Send + Sync> StateData for T {
    fn clone_box(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Per-cycle plugin data, keyed by plugin name.
#[derive(Default)]
pub struct CycleState {
    data: HashMap<&'static str, Box<dyn StateData>>,
    /// Plugins whose PreFilter answered Skip: their Filter is not run.
    pub skip_filter: Vec<&'static str>,
    /// Plugins whose PreScore answered Skip: their Score is not run.
    pub skip_score: Vec<&'static str>,
    /// The nodes PreFilter plugins narrowed the pod to (upstream `PreFilterResult`), and the
    /// plugins that narrowed it; `None` means every node.
    pub pre_filter_nodes: Option<(std::collections::BTreeSet<String>, Vec<&'static str>)>,
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        CycleState {
            data: self
                .data
                .iter()
                .map(|(k, v)| (*k, (**v).clone_box()))
                .collect(),
            skip_filter: self.skip_filter.clone(),
            skip_score: self.skip_score.clone(),
            pre_filter_nodes: self.pre_filter_nodes.clone(),
        }
    }
}

impl CycleState {
    /// Narrows the nodes the pod may go to (a PreFilter result), intersecting with what
    /// other plugins already narrowed.
    pub fn restrict_nodes(
        &mut self,
        plugin: &'static str,
        nodes: std::collections::BTreeSet<String>,
    ) {
        match self.pre_filter_nodes.as_mut() {
            None => self.pre_filter_nodes = Some((nodes, vec![plugin])),
            Some((current, plugins)) => {
                current.retain(|n| nodes.contains(n));
                plugins.push(plugin);
            }
        }
    }

    /// Stores `value` under `key`.
    pub fn write<T: StateData + Clone>(&mut self, key: &'static str, value: T) {
        self.data.insert(key, Box::new(value));
    }
    /// The value under `key`, if it has type `T`.
    pub fn read<T: 'static>(&self, key: &str) -> Option<&T> {
        self.data
            .get(key)
            .and_then(|v| v.as_ref().as_any().downcast_ref())
    }
    /// The value under `key`, mutably, if it has type `T`.
    pub fn read_mut<T: 'static>(&mut self, key: &str) -> Option<&mut T> {
        self.data
            .get_mut(key)
            .and_then(|v| v.as_mut().as_any_mut().downcast_mut())
    }
}

/// The highest score a Score plugin gives after normalization.
pub const MAX_NODE_SCORE: i64 = 100;

/// Every plugin has a name.
pub trait Plugin: Send + Sync {
    /// The plugin's name, as upstream (e.g. `TaintToleration`).
    fn name(&self) -> &'static str;
}

/// PreFilter: computes per-pod state once per cycle; may reject the pod outright.
pub trait PreFilterPlugin: Plugin {
    /// Runs once per cycle before Filter.
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status;
    /// Updates the plugin's state as if `other` were added to `node` (preemption simulation,
    /// nominated pods). The default does nothing (state does not depend on other pods).
    fn add_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _other: &PodInfo, _node: &NodeInfo) {
    }
    /// Updates the plugin's state as if `other` were removed from `node`.
    fn remove_pod(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _other: &PodInfo,
        _node: &NodeInfo,
    ) {
    }
}

/// Filter: can the pod run on this node?
pub trait FilterPlugin: Plugin {
    /// Success, or why the node is rejected.
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;
}

/// What PostFilter decided: a node the pod was nominated to, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostFilterResult {
    /// The nominated node.
    pub nominated_node_name: Option<String>,
}

/// A node's status after Filter, for PostFilter and the FitError.
#[derive(Debug, Clone, Default)]
pub struct NodeToStatus {
    /// Explicit statuses by node name.
    pub statuses: BTreeMap<String, Status>,
    /// The status of nodes not listed (e.g. when PreFilter rejected the pod).
    pub absent: Option<Status>,
}

impl NodeToStatus {
    /// The status of `node`: its own, else the absent-node status, else
    /// UnschedulableAndUnresolvable without reasons (upstream's default).
    pub fn get(&self, node: &str) -> Status {
        self.statuses
            .get(node)
            .cloned()
            .or_else(|| self.absent.clone())
            .unwrap_or(Status {
                code: Code::UnschedulableAndUnresolvable,
                reasons: Vec::new(),
                plugin: "",
            })
    }
}

/// Preemption and other last resorts after no node fits.
pub trait PostFilterPlugin: Plugin {
    /// Tries to make the pod schedulable in a later cycle; the returned status's message
    /// becomes the FitError's PostFilter part.
    fn post_filter(
        &self,
        fw: &crate::Framework,
        state: &CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        statuses: &NodeToStatus,
        actions: &mut Vec<crate::schedule_one::Action>,
    ) -> (Option<PostFilterResult>, Status);
}

/// PreScore: computes scoring state once per cycle over the feasible nodes.
pub trait PreScorePlugin: Plugin {
    /// Runs once per cycle before Score.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        nodes: &[&NodeInfo],
    ) -> Status;
}

/// Score: ranks a feasible node; NormalizeScore rescales all nodes' scores to 0..=100.
pub trait ScorePlugin: Plugin {
    /// The node's raw score.
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status>;
    /// Rescales raw scores (indexed like the feasible nodes) to 0..=[`MAX_NODE_SCORE`]. The
    /// default keeps them.
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, _scores: &mut [i64]) -> Status {
        Status::success()
    }
}

/// Reserve/Unreserve: claim or release per-node resources that live outside the snapshot
/// before binding.
pub trait ReservePlugin: Plugin {
    /// Claims resources for the pod on `node`.
    fn reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Status;
    /// Releases what [`ReservePlugin::reserve`] claimed (binding failed or a later plugin
    /// rejected).
    fn unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str);
}

/// Bind: commits the pod to the node through the API.
pub trait BindPlugin: Plugin {
    /// Binds the pod; runs off the scheduling loop.
    fn bind<'a>(
        &'a self,
        client: &'a kube::Client,
        pod: &'a PodInfo,
        node: &'a str,
    ) -> futures::future::BoxFuture<'a, Status>;
}

/// Why a pod fits no node: builds upstream's `FitError.Error()` message.
#[derive(Debug, Clone, Default)]
pub struct FitError {
    /// How many nodes the snapshot had.
    pub num_all_nodes: usize,
    /// The per-node statuses.
    pub statuses: NodeToStatus,
    /// The message of a PreFilter rejection, if the pod was rejected before Filter.
    pub pre_filter_msg: String,
    /// The PostFilter (preemption) message.
    pub post_filter_msg: String,
}

impl std::fmt::Display for FitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        if !self.pre_filter_msg.is_empty() {
            write!(f, " {}.", self.pre_filter_msg)?;
        } else {
            let mut reasons: HashMap<String, usize> = HashMap::new();
            for status in self.statuses.statuses.values() {
                for r in &status.reasons {
                    *reasons.entry(r.clone()).or_default() += 1;
                }
            }
            let explicit = self.statuses.statuses.len();
            if explicit < self.num_all_nodes {
                let absent = self.statuses.absent.clone().unwrap_or(Status {
                    code: Code::UnschedulableAndUnresolvable,
                    reasons: Vec::new(),
                    plugin: "",
                });
                for r in absent.reasons {
                    *reasons.entry(r).or_default() += self.num_all_nodes - explicit;
                }
            }
            let mut lines: Vec<String> = reasons.iter().map(|(k, v)| format!("{v} {k}")).collect();
            lines.sort();
            if !lines.is_empty() {
                write!(f, " {}.", lines.join(", "))?;
            }
        }
        if !self.post_filter_msg.is_empty() {
            write!(f, " {}", self.post_filter_msg)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(list: &[(&str, Status)]) -> NodeToStatus {
        NodeToStatus {
            statuses: list
                .iter()
                .map(|(n, s)| (n.to_string(), s.clone()))
                .collect(),
            absent: None,
        }
    }

    #[test]
    fn fit_error_aggregates_sorts_and_appends_post_filter() {
        let cpu = Status::unschedulable("Insufficient cpu");
        let pods = Status::unschedulable("Too many pods");
        let both = Status::new(
            Code::Unschedulable,
            vec!["Too many pods".into(), "Insufficient cpu".into()],
        );
        let cases: Vec<(&str, FitError, &str)> = vec![
            (
                "counts aggregated",
                FitError {
                    num_all_nodes: 3,
                    statuses: statuses(&[
                        ("a", cpu.clone()),
                        ("b", cpu.clone()),
                        ("c", cpu.clone()),
                    ]),
                    ..Default::default()
                },
                "0/3 nodes are available: 3 Insufficient cpu.",
            ),
            (
                "several reasons per node, sorted as strings",
                FitError {
                    num_all_nodes: 3,
                    statuses: statuses(&[("a", both), ("b", pods.clone()), ("c", cpu)]),
                    ..Default::default()
                },
                "0/3 nodes are available: 2 Insufficient cpu, 2 Too many pods.",
            ),
            (
                "absent nodes take the absent status",
                FitError {
                    num_all_nodes: 3,
                    statuses: NodeToStatus {
                        absent: Some(Status::unresolvable(
                            "Preemption is not helpful for scheduling",
                        )),
                        ..statuses(&[("a", pods.clone())])
                    },
                    ..Default::default()
                },
                "0/3 nodes are available: 1 Too many pods, 2 Preemption is not helpful for scheduling.",
            ),
            (
                "pre-filter message replaces node reasons",
                FitError {
                    num_all_nodes: 2,
                    statuses: statuses(&[("a", pods)]),
                    pre_filter_msg: "node(s) didn't match pod topology spread constraints".into(),
                    ..Default::default()
                },
                "0/2 nodes are available: node(s) didn't match pod topology spread constraints.",
            ),
            (
                "post-filter message appended without a period",
                FitError {
                    num_all_nodes: 1,
                    statuses: statuses(&[("a", Status::unschedulable("Too many pods"))]),
                    post_filter_msg: "preemption: not eligible due to preemptionPolicy=Never."
                        .into(),
                    ..Default::default()
                },
                "0/1 nodes are available: 1 Too many pods. preemption: not eligible due to preemptionPolicy=Never.",
            ),
        ];
        for (case, err, want) in cases {
            assert_eq!(err.to_string(), want, "case {case}");
        }
    }
}
