//! What the scheduler knows about nodes and pods: [`PodInfo`] (a pod pre-parsed once),
//! [`NodeInfo`] (a node with its pods' requests, used host ports and pods with affinity) and
//! the [`Snapshot`] of all nodes, updated incrementally.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, PodAffinityTerm, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::resources::{Resource, pod_requests};

/// Labels as a sorted map.
pub type Labels = BTreeMap<String, String>;

/// The labels of an object without any.
static NO_LABELS: Labels = BTreeMap::new();

/// A compiled label selector (`matchLabels` + `matchExpressions`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// Selects nothing (a nil selector, or one that failed to parse).
    Nothing,
    /// Every requirement must hold (an empty list selects everything).
    Requirements(Vec<Requirement>),
}

/// One selector requirement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// The operator.
    pub op: SelectorOp,
    /// The values (for In/NotIn).
    pub values: Vec<String>,
}

/// Label selector operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SelectorOp {
    /// Label value is one of the values.
    In,
    /// Label absent or not one of the values.
    NotIn,
    /// Label present.
    Exists,
    /// Label absent.
    DoesNotExist,
}

impl Selector {
    /// Compiles a metav1 LabelSelector; `None` selects nothing, `{}` selects everything.
    pub fn from_label_selector(sel: Option<&LabelSelector>) -> Selector {
        let Some(sel) = sel else {
            return Selector::Nothing;
        };
        let mut reqs = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            reqs.push(Requirement {
                key: k.clone(),
                op: SelectorOp::In,
                values: vec![v.clone()],
            });
        }
        for e in sel.match_expressions.iter().flatten() {
            let op = match e.operator.as_str() {
                "In" => SelectorOp::In,
                "NotIn" => SelectorOp::NotIn,
                "Exists" => SelectorOp::Exists,
                "DoesNotExist" => SelectorOp::DoesNotExist,
                _ => return Selector::Nothing,
            };
            reqs.push(Requirement {
                key: e.key.clone(),
                op,
                values: e.values.clone().unwrap_or_default(),
            });
        }
        Selector::Requirements(reqs)
    }

    /// A selector from `matchLabels` only (e.g. a Service's selector); empty selects nothing
    /// as upstream's `SelectorFromValidatedSet` of an empty set would select everything, so
    /// callers check emptiness themselves.
    pub fn from_map(map: &BTreeMap<String, String>) -> Selector {
        Selector::Requirements(
            map.iter()
                .map(|(k, v)| Requirement {
                    key: k.clone(),
                    op: SelectorOp::In,
                    values: vec![v.clone()],
                })
                .collect(),
        )
    }

    /// Whether `labels` match.
    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::Requirements(reqs) => reqs.iter().all(|r| {
                let v = labels.get(&r.key);
                match r.op {
                    SelectorOp::In => v.is_some_and(|v| r.values.contains(v)),
                    SelectorOp::NotIn => v.is_none_or(|v| !r.values.contains(v)),
                    SelectorOp::Exists => v.is_some(),
                    SelectorOp::DoesNotExist => v.is_none(),
                }
            }),
        }
    }

    /// Whether this selects everything.
    pub fn is_everything(&self) -> bool {
        matches!(self, Selector::Requirements(r) if r.is_empty())
    }

    /// Adds a requirement (used by matchLabelKeys).
    pub fn push(&mut self, r: Requirement) {
        if let Selector::Requirements(reqs) = self {
            reqs.push(r);
        }
    }
}

/// A pod affinity term, compiled: which namespaces, which pods, which topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinityTerm {
    /// Namespaces named explicitly (or the pod's own when none and no selector).
    pub namespaces: HashSet<String>,
    /// A namespace selector, if given.
    pub namespace_selector: Option<Selector>,
    /// The pod label selector.
    pub selector: Selector,
    /// The topology key.
    pub topology_key: String,
}

impl AffinityTerm {
    fn new(pod_ns: &str, term: &PodAffinityTerm, pod_labels: &Labels) -> AffinityTerm {
        let mut namespaces: HashSet<String> = term.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && term.namespace_selector.is_none() {
            namespaces.insert(pod_ns.to_string());
        }
        let mut selector = Selector::from_label_selector(term.label_selector.as_ref());
        // matchLabelKeys / mismatchLabelKeys merge the incoming pod's label values.
        for k in term.match_label_keys.iter().flatten() {
            if let Some(v) = pod_labels.get(k) {
                selector.push(Requirement {
                    key: k.clone(),
                    op: SelectorOp::In,
                    values: vec![v.clone()],
                });
            }
        }
        for k in term.mismatch_label_keys.iter().flatten() {
            if let Some(v) = pod_labels.get(k) {
                selector.push(Requirement {
                    key: k.clone(),
                    op: SelectorOp::NotIn,
                    values: vec![v.clone()],
                });
            }
        }
        AffinityTerm {
            namespaces,
            namespace_selector: term
                .namespace_selector
                .as_ref()
                .map(|s| Selector::from_label_selector(Some(s))),
            selector,
            topology_key: term.topology_key.clone(),
        }
    }

    /// Whether `pod` (with its namespace's labels) is selected by this term.
    pub fn matches(&self, pod: &PodInfo, ns_labels: Option<&Labels>) -> bool {
        let ns_ok = self.namespaces.contains(&pod.namespace)
            || self
                .namespace_selector
                .as_ref()
                .is_some_and(|s| s.matches(ns_labels.unwrap_or(&Labels::new())));
        ns_ok && self.selector.matches(pod.labels())
    }
}

/// A host port a pod asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The host IP (`0.0.0.0` when unset).
    pub ip: String,
    /// TCP, UDP or SCTP.
    pub protocol: String,
    /// The port.
    pub port: i32,
}

impl HostPort {
    /// Whether two host ports collide (same protocol and port, and an IP in common).
    pub fn conflicts(&self, o: &HostPort) -> bool {
        self.port == o.port
            && self.protocol == o.protocol
            && (self.ip == o.ip || self.ip == "0.0.0.0" || o.ip == "0.0.0.0")
    }
}

/// A pod pre-parsed once for every plugin.
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// The pod object.
    pub pod: Arc<Pod>,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
    /// `spec.priority` (0 when absent).
    pub priority: i32,
    /// The effective request.
    pub requests: Resource,
    /// The effective request with the scoring defaults for unset cpu/memory.
    pub non_zero_requests: Resource,
    /// Host ports asked for.
    pub host_ports: Vec<HostPort>,
    /// Required pod affinity terms.
    pub required_affinity: Vec<AffinityTerm>,
    /// Required pod anti-affinity terms.
    pub required_anti_affinity: Vec<AffinityTerm>,
    /// Preferred pod affinity terms with weights.
    pub preferred_affinity: Vec<(AffinityTerm, i32)>,
    /// Preferred pod anti-affinity terms with weights.
    pub preferred_anti_affinity: Vec<(AffinityTerm, i32)>,
}

impl PodInfo {
    /// Parses a pod.
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let labels = pod.metadata.labels.as_ref().unwrap_or(&NO_LABELS);
        let spec = pod.spec.as_ref();
        let affinity = spec.and_then(|s| s.affinity.as_ref());
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let terms = |ts: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            ts.into_iter()
                .flatten()
                .map(|t| AffinityTerm::new(&namespace, t, labels))
                .collect()
        };
        let required_affinity = terms(pa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let required_anti_affinity = terms(paa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let preferred_affinity = pa
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .map(|w| {
                (
                    AffinityTerm::new(&namespace, &w.pod_affinity_term, labels),
                    w.weight,
                )
            })
            .collect();
        let preferred_anti_affinity = paa
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .map(|w| {
                (
                    AffinityTerm::new(&namespace, &w.pod_affinity_term, labels),
                    w.weight,
                )
            })
            .collect();
        let mut host_ports = Vec::new();
        for c in spec.into_iter().flat_map(|s| {
            s.containers.iter().chain(
                s.init_containers
                    .iter()
                    .flatten()
                    .filter(|c| c.restart_policy.as_deref() == Some("Always")),
            )
        }) {
            for p in c.ports.iter().flatten() {
                if let Some(hp) = p.host_port.filter(|hp| *hp > 0) {
                    host_ports.push(HostPort {
                        ip: p
                            .host_ip
                            .clone()
                            .filter(|ip| !ip.is_empty())
                            .unwrap_or_else(|| "0.0.0.0".into()),
                        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        port: hp,
                    });
                }
            }
        }
        PodInfo {
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            priority: spec.and_then(|s| s.priority).unwrap_or(0),
            requests: pod_requests(&pod, false),
            non_zero_requests: pod_requests(&pod, true),
            host_ports,
            required_affinity,
            required_anti_affinity,
            preferred_affinity,
            preferred_anti_affinity,
            namespace,
            pod,
        }
    }

    /// Its labels (read from the pod: a copy would cost a map node per pod).
    pub fn labels(&self) -> &Labels {
        self.pod.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
    }

    /// Its tolerations.
    pub fn tolerations(&self) -> &[Toleration] {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or_default()
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether the pod has any pod affinity or anti-affinity term.
    pub fn has_affinity(&self) -> bool {
        !self.required_affinity.is_empty()
            || !self.required_anti_affinity.is_empty()
            || !self.preferred_affinity.is_empty()
            || !self.preferred_anti_affinity.is_empty()
    }

    /// The pod's `spec.nodeName`, if set.
    pub fn node_name(&self) -> Option<&str> {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
    }

    /// Whether the pod is being deleted.
    pub fn is_terminating(&self) -> bool {
        self.pod.metadata.deletion_timestamp.is_some()
    }
}

/// A node and what runs on it.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    /// The node's name.
    pub name: String,
    /// The node object (`None` while only pods bound to it are known).
    pub node: Option<Arc<Node>>,
    /// The node's labels.
    pub labels: Labels,
    /// The node's taints.
    pub taints: Vec<Taint>,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
    /// `status.allocatable`.
    pub allocatable: Resource,
    /// Sum of the pods' requests.
    pub requested: Resource,
    /// Sum of the pods' requests with the scoring defaults.
    pub non_zero_requested: Resource,
    /// The pods on the node (bound or assumed).
    pub pods: Vec<Arc<PodInfo>>,
    /// How many of them have pod affinity or anti-affinity terms.
    pub pods_with_affinity: usize,
    /// How many of them have required anti-affinity terms.
    pub pods_with_required_anti_affinity: usize,
    /// Host ports in use.
    pub used_ports: Vec<HostPort>,
}

impl NodeInfo {
    /// An empty node info named `name`.
    pub fn named(name: &str) -> NodeInfo {
        NodeInfo {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// Sets (or replaces) the node object.
    pub fn set_node(&mut self, node: Arc<Node>) {
        self.labels = node.metadata.labels.clone().unwrap_or_default();
        let spec = node.spec.as_ref();
        self.taints = spec.and_then(|s| s.taints.clone()).unwrap_or_default();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        self.allocatable = node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .map(Resource::from_list)
            .unwrap_or_default();
        self.node = Some(node);
    }

    /// Adds a pod's requests, ports and affinity.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.add(&pod.non_zero_requests);
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if pod.has_affinity() {
            self.pods_with_affinity += 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity += 1;
        }
        self.pods.push(pod);
    }

    /// Removes the pod with `uid`; returns it if it was there.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.uid == uid)?;
        let pod = self.pods.swap_remove(i);
        self.requested.sub(&pod.requests);
        self.non_zero_requested.sub(&pod.non_zero_requests);
        for hp in &pod.host_ports {
            if let Some(j) = self.used_ports.iter().position(|u| u == hp) {
                self.used_ports.swap_remove(j);
            }
        }
        if pod.has_affinity() {
            self.pods_with_affinity -= 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity -= 1;
        }
        Some(pod)
    }
}

/// All nodes, indexed by name, plus namespace labels for namespace selectors.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    /// Labels of each namespace.
    pub namespace_labels: HashMap<String, Labels>,
    /// Pods nominated to each node (`status.nominatedNodeName`) that are not bound yet.
    pub nominated: HashMap<String, Vec<Arc<PodInfo>>>,
    /// PodDisruptionBudgets, for preemption.
    pub pdbs: Vec<PdbInfo>,
    /// Selectors of Services, ReplicationControllers, ReplicaSets and StatefulSets, by
    /// namespace then `kind/name`, for the default topology spread constraints.
    pub workload_selectors: HashMap<String, HashMap<String, Selector>>,
    /// Per-node counts of pods matching recently used selectors (topology spreading), kept
    /// current as pods come and go so a cycle does not walk every pod.
    spread_counts: SpreadCounts,
}

/// Matching-pod counts per node for the selectors topology spreading asked about, by
/// namespace. Filled lazily; a clone starts empty (it is only a cache).
#[derive(Debug, Default)]
struct SpreadCounts(std::sync::Mutex<HashMap<String, Vec<SpreadEntry>>>);

/// Counts for one selector: per node, and per domain of the topology keys asked about.
#[derive(Debug)]
struct SpreadEntry {
    selector: Selector,
    per_node: Arc<HashMap<String, i64>>,
    per_domain: HashMap<String, Arc<HashMap<String, i64>>>,
}

impl Clone for SpreadCounts {
    fn clone(&self) -> Self {
        SpreadCounts::default()
    }
}

/// Selectors remembered per namespace before the oldest is dropped.
const SPREAD_SELECTORS_PER_NAMESPACE: usize = 64;

/// What preemption needs of a PodDisruptionBudget.
#[derive(Debug, Clone)]
pub struct PdbInfo {
    /// Its namespace.
    pub namespace: String,
    /// Its pod selector.
    pub selector: Selector,
    /// `status.disruptionsAllowed`.
    pub disruptions_allowed: i32,
}

impl Snapshot {
    /// A snapshot of these node infos (tests, preemption).
    pub fn from_nodes(nodes: Vec<NodeInfo>) -> Snapshot {
        let index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        Snapshot {
            nodes,
            index,
            ..Default::default()
        }
    }

    /// Every node info whose node object is known.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.iter().filter(|n| n.node.is_some())
    }

    /// Slot count (including node infos without a node object); indices are stable until a
    /// node is removed.
    pub fn slots(&self) -> usize {
        self.nodes.len()
    }

    /// The node info at slot `i`, if it has a node object.
    pub fn at(&self, i: usize) -> Option<&NodeInfo> {
        self.nodes.get(i).filter(|n| n.node.is_some())
    }

    /// How many nodes are known.
    pub fn num_nodes(&self) -> usize {
        self.nodes().count()
    }

    /// The node info named `name`.
    pub fn get(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|i| &self.nodes[*i])
    }

    /// The node info named `name`, created empty if missing.
    pub fn get_or_insert(&mut self, name: &str) -> &mut NodeInfo {
        let i = match self.index.get(name) {
            Some(i) => *i,
            None => {
                self.nodes.push(NodeInfo::named(name));
                self.index.insert(name.to_string(), self.nodes.len() - 1);
                self.nodes.len() - 1
            }
        };
        &mut self.nodes[i]
    }

    /// The node info named `name`, mutably.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut NodeInfo> {
        let i = *self.index.get(name)?;
        Some(&mut self.nodes[i])
    }

    /// Adds a pod to `node` (created if unknown), keeping the spread counts current.
    pub fn add_pod(&mut self, node: &str, pod: Arc<PodInfo>) {
        self.update_spread_counts(node, &pod, 1);
        self.get_or_insert(node).add_pod(pod);
    }

    fn update_spread_counts(&mut self, node: &str, pod: &PodInfo, delta: i64) {
        if pod.is_terminating() {
            return;
        }
        let labels = self.get(node).map(|n| &n.labels);
        let mut cache = self
            .spread_counts
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some(entries) = cache.get_mut(&pod.namespace) else {
            return;
        };
        for e in entries
            .iter_mut()
            .filter(|e| e.selector.matches(pod.labels()))
        {
            let counts = Arc::make_mut(&mut e.per_node);
            let c = counts.entry(node.to_string()).or_default();
            *c += delta;
            if *c == 0 {
                counts.remove(node);
            }
            for (key, domains) in e.per_domain.iter_mut() {
                if let Some(v) = labels.and_then(|l| l.get(key)) {
                    *Arc::make_mut(domains).entry(v.clone()).or_default() += delta;
                }
            }
        }
    }

    /// Drops the spread counts (a node's labels changed, or a node came or went).
    pub fn invalidate_spread_counts(&mut self) {
        self.spread_counts
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn spread_entry<'c>(
        &self,
        cache: &'c mut HashMap<String, Vec<SpreadEntry>>,
        namespace: &str,
        selector: &Selector,
    ) -> &'c mut SpreadEntry {
        let entries = cache.entry(namespace.to_string()).or_default();
        if let Some(i) = entries.iter().position(|e| &e.selector == selector) {
            return &mut entries[i];
        }
        let mut counts = HashMap::new();
        for n in &self.nodes {
            let c = n
                .pods
                .iter()
                .filter(|p| {
                    p.namespace == namespace && !p.is_terminating() && selector.matches(p.labels())
                })
                .count() as i64;
            if c > 0 {
                counts.insert(n.name.clone(), c);
            }
        }
        if entries.len() >= SPREAD_SELECTORS_PER_NAMESPACE {
            entries.remove(0);
        }
        entries.push(SpreadEntry {
            selector: selector.clone(),
            per_node: Arc::new(counts),
            per_domain: HashMap::new(),
        });
        let last = entries.len() - 1;
        &mut entries[last]
    }

    /// How many pods (not terminating) in `namespace` matching `selector` each node has;
    /// nodes without any are absent.
    pub fn matching_counts(
        &self,
        namespace: &str,
        selector: &Selector,
    ) -> Arc<HashMap<String, i64>> {
        let mut cache = self
            .spread_counts
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.spread_entry(&mut cache, namespace, selector)
            .per_node
            .clone()
    }

    /// How many pods (not terminating) in `namespace` matching `selector` run in each domain
    /// (value of the node label `key`), over every node carrying that label.
    pub fn domain_counts(
        &self,
        namespace: &str,
        selector: &Selector,
        key: &str,
    ) -> Arc<HashMap<String, i64>> {
        let mut cache = self
            .spread_counts
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let entry = self.spread_entry(&mut cache, namespace, selector);
        if let Some(d) = entry.per_domain.get(key) {
            return d.clone();
        }
        let mut domains: HashMap<String, i64> = HashMap::new();
        for (name, c) in entry.per_node.iter() {
            if let Some(v) = self
                .get(name)
                .filter(|n| n.node.is_some())
                .and_then(|n| n.labels.get(key))
            {
                *domains.entry(v.clone()).or_default() += c;
            }
        }
        let domains = Arc::new(domains);
        entry.per_domain.insert(key.to_string(), domains.clone());
        domains
    }

    /// Forgets the node object; the slot goes away once it has no pods.
    pub fn remove_node(&mut self, name: &str) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        self.nodes[i].node = None;
        if self.nodes[i].pods.is_empty() {
            self.remove_slot(i);
        }
    }

    fn remove_slot(&mut self, i: usize) {
        let gone = self.nodes.swap_remove(i);
        self.index.remove(&gone.name);
        if i < self.nodes.len() {
            self.index.insert(self.nodes[i].name.clone(), i);
        }
    }

    /// Removes a pod from `node`; drops the slot if it was only kept for pods.
    pub fn remove_pod(&mut self, node: &str, uid: &str) -> Option<Arc<PodInfo>> {
        let &i = self.index.get(node)?;
        let p = self.nodes[i].remove_pod(uid);
        if let Some(p) = p.as_ref() {
            self.update_spread_counts(node, p, -1);
        }
        if self.nodes[i].node.is_none() && self.nodes[i].pods.is_empty() {
            self.remove_slot(i);
        }
        p
    }

    /// Upstream `DefaultSelector`: the requirements of every Service, ReplicationController,
    /// ReplicaSet and StatefulSet in the pod's namespace that selects it, merged; `None` when
    /// nothing selects the pod.
    pub fn default_selector(&self, pod: &PodInfo) -> Option<Selector> {
        let mut reqs = Vec::new();
        for sel in self.workload_selectors.get(&pod.namespace)?.values() {
            if sel.matches(pod.labels())
                && let Selector::Requirements(r) = sel
            {
                reqs.extend(r.iter().cloned());
            }
        }
        (!reqs.is_empty()).then_some(Selector::Requirements(reqs))
    }

    /// The pods nominated to `node`.
    pub fn nominated_on(&self, node: &str) -> &[Arc<PodInfo>] {
        self.nominated.get(node).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The labels of `namespace`.
    pub fn ns_labels(&self, namespace: &str) -> Option<&Labels> {
        self.namespace_labels.get(namespace)
    }
}

/// Whether `toleration` tolerates `taint` (upstream `Toleration.ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(e) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && e != taint.effect
    {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// Whether any toleration tolerates `taint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NodeBuilder, PodBuilder};

    #[test]
    fn spread_counts_stay_equal_to_a_fresh_count_as_pods_come_and_go() {
        let zone = "topology.kubernetes.io/zone";
        let mut snap = Snapshot::from_nodes(vec![
            NodeBuilder::new("a1").label(zone, "a").info(),
            NodeBuilder::new("a2").label(zone, "a").info(),
            NodeBuilder::new("b1").label(zone, "b").info(),
        ]);
        let web = Selector::from_map(&[("app".to_string(), "web".to_string())].into());
        let pod = |name: &str, app: &str| Arc::new(PodBuilder::new(name).label("app", app).build());
        // Prime the caches, then change pods.
        assert!(
            snap.matching_counts("default", &web).is_empty(),
            "case empty at first"
        );
        assert!(
            snap.domain_counts("default", &web, zone).is_empty(),
            "case no domains at first"
        );
        snap.add_pod("a1", pod("w1", "web"));
        snap.add_pod("a2", pod("w2", "web"));
        snap.add_pod("b1", pod("w3", "web"));
        snap.add_pod("b1", pod("d1", "db"));
        snap.remove_pod("a2", "uid-w2");
        let per_node = snap.matching_counts("default", &web);
        let per_domain = snap.domain_counts("default", &web, zone);
        let want_nodes: HashMap<String, i64> =
            [("a1".to_string(), 1), ("b1".to_string(), 1)].into();
        let want_domains: HashMap<String, i64> =
            [("a".to_string(), 1), ("b".to_string(), 1)].into();
        assert_eq!(*per_node, want_nodes, "case incremental per-node counts");
        assert_eq!(
            *per_domain, want_domains,
            "case incremental per-domain counts"
        );
        snap.invalidate_spread_counts();
        assert_eq!(
            *snap.matching_counts("default", &web),
            want_nodes,
            "case recount per node agrees"
        );
        assert_eq!(
            *snap.domain_counts("default", &web, zone),
            want_domains,
            "case recount per domain agrees"
        );
    }
}
