//! Fluent builders for pods and nodes in unit tests (as upstream's `testing/wrappers.go`).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, NodeSpec, NodeStatus, Pod, PodAffinity, PodAffinityTerm, PodAntiAffinity,
    PodSpec, PreferredSchedulingTerm, ResourceRequirements, Taint, Toleration,
    TopologySpreadConstraint, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::node_info::{NodeInfo, PodInfo, Snapshot};

/// Builds a pod.
pub struct PodBuilder {
    pod: Pod,
}

fn container(name: &str) -> Container {
    Container {
        name: name.into(),
        image: Some("busybox".into()),
        ..Default::default()
    }
}

fn set_request(c: &mut Container, name: &str, q: &str) {
    c.resources
        .get_or_insert_with(ResourceRequirements::default)
        .requests
        .get_or_insert_with(BTreeMap::new)
        .insert(name.into(), Quantity(q.into()));
}

impl PodBuilder {
    /// A pod named `name` in `default` with one container and uid `uid-<name>`.
    pub fn new(name: &str) -> PodBuilder {
        PodBuilder {
            pod: Pod {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    namespace: Some("default".into()),
                    uid: Some(format!("uid-{name}")),
                    ..Default::default()
                },
                spec: Some(PodSpec {
                    containers: vec![container("c")],
                    ..Default::default()
                }),
                status: None,
            },
        }
    }
    fn spec(&mut self) -> &mut PodSpec {
        self.pod.spec.get_or_insert_with(Default::default)
    }
    fn affinity(&mut self) -> &mut Affinity {
        self.spec().affinity.get_or_insert_with(Default::default)
    }
    /// Requests cpu in the first container.
    pub fn cpu(self, q: &str) -> Self {
        self.resource("cpu", q)
    }
    /// Requests memory in the first container.
    pub fn memory(self, q: &str) -> Self {
        self.resource("memory", q)
    }
    /// Requests any resource in the first container.
    pub fn resource(mut self, name: &str, q: &str) -> Self {
        set_request(&mut self.spec().containers[0], name, q);
        self
    }
    /// Adds a plain init container requesting cpu.
    pub fn init_cpu(mut self, q: &str) -> Self {
        let mut c = container("init");
        set_request(&mut c, "cpu", q);
        self.spec()
            .init_containers
            .get_or_insert_with(Vec::new)
            .push(c);
        self
    }
    /// Adds a sidecar (restartable init container) requesting cpu.
    pub fn sidecar_cpu(mut self, q: &str) -> Self {
        let mut c = container("sidecar");
        c.restart_policy = Some("Always".into());
        set_request(&mut c, "cpu", q);
        self.spec()
            .init_containers
            .get_or_insert_with(Vec::new)
            .push(c);
        self
    }
    /// Sets a cpu pod overhead.
    pub fn overhead_cpu(mut self, q: &str) -> Self {
        self.spec()
            .overhead
            .get_or_insert_with(BTreeMap::new)
            .insert("cpu".into(), Quantity(q.into()));
        self
    }
    /// Adds a label.
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.pod
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(k.into(), v.into());
        self
    }
    /// Sets `spec.nodeName`.
    pub fn node_name(mut self, n: &str) -> Self {
        self.spec().node_name = Some(n.into());
        self
    }
    /// Sets `spec.priority`.
    pub fn priority(mut self, p: i32) -> Self {
        self.spec().priority = Some(p);
        self
    }
    /// Sets `spec.preemptionPolicy`.
    pub fn preemption_policy(mut self, p: &str) -> Self {
        self.spec().preemption_policy = Some(p.into());
        self
    }
    /// Adds a toleration (empty strings leave fields unset).
    pub fn toleration(mut self, key: &str, op: &str, value: &str, effect: &str) -> Self {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        self.spec()
            .tolerations
            .get_or_insert_with(Vec::new)
            .push(Toleration {
                key: opt(key),
                operator: opt(op),
                value: opt(value),
                effect: opt(effect),
                toleration_seconds: None,
            });
        self
    }
    /// Adds a host port to the first container.
    pub fn host_port(mut self, port: i32, protocol: &str, ip: &str) -> Self {
        self.spec().containers[0]
            .ports
            .get_or_insert_with(Vec::new)
            .push(ContainerPort {
                container_port: port,
                host_port: Some(port),
                protocol: Some(protocol.into()),
                host_ip: (!ip.is_empty()).then(|| ip.to_string()),
                ..Default::default()
            });
        self
    }
    /// Adds a nodeSelector entry.
    pub fn node_selector(mut self, k: &str, v: &str) -> Self {
        self.spec()
            .node_selector
            .get_or_insert_with(BTreeMap::new)
            .insert(k.into(), v.into());
        self
    }
    /// Adds a required node affinity term with one expression.
    pub fn required_node_affinity(mut self, key: &str, op: &str, values: &[&str]) -> Self {
        let na = self
            .affinity()
            .node_affinity
            .get_or_insert_with(NodeAffinity::default);
        na.required_during_scheduling_ignored_during_execution
            .get_or_insert_with(|| NodeSelector {
                node_selector_terms: vec![],
            })
            .node_selector_terms
            .push(NodeSelectorTerm {
                match_expressions: Some(vec![req(key, op, values)]),
                match_fields: None,
            });
        self
    }
    /// Pins the pod to `node` with a `metadata.name` field affinity term, as the DaemonSet
    /// controller does.
    pub fn node_name_affinity(mut self, node: &str) -> Self {
        let na = self
            .affinity()
            .node_affinity
            .get_or_insert_with(NodeAffinity::default);
        na.required_during_scheduling_ignored_during_execution
            .get_or_insert_with(|| NodeSelector {
                node_selector_terms: vec![],
            })
            .node_selector_terms
            .push(NodeSelectorTerm {
                match_expressions: None,
                match_fields: Some(vec![req("metadata.name", "In", &[node])]),
            });
        self
    }
    /// Adds a preferred node affinity term with one expression.
    pub fn preferred_node_affinity(
        mut self,
        weight: i32,
        key: &str,
        op: &str,
        values: &[&str],
    ) -> Self {
        let na = self
            .affinity()
            .node_affinity
            .get_or_insert_with(NodeAffinity::default);
        na.preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(PreferredSchedulingTerm {
                weight,
                preference: NodeSelectorTerm {
                    match_expressions: Some(vec![req(key, op, values)]),
                    match_fields: None,
                },
            });
        self
    }
    /// Adds a required pod affinity term selecting `k=v` over `topology_key`.
    pub fn pod_affinity(mut self, k: &str, v: &str, topology_key: &str) -> Self {
        let t = affinity_term(k, v, topology_key);
        self.affinity()
            .pod_affinity
            .get_or_insert_with(PodAffinity::default)
            .required_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(t);
        self
    }
    /// Adds a required pod anti-affinity term selecting `k=v` over `topology_key`.
    pub fn pod_anti_affinity(mut self, k: &str, v: &str, topology_key: &str) -> Self {
        let t = affinity_term(k, v, topology_key);
        self.affinity()
            .pod_anti_affinity
            .get_or_insert_with(PodAntiAffinity::default)
            .required_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(t);
        self
    }
    /// Adds a preferred pod affinity term.
    pub fn preferred_pod_affinity(
        mut self,
        weight: i32,
        k: &str,
        v: &str,
        topology_key: &str,
    ) -> Self {
        let t = affinity_term(k, v, topology_key);
        self.affinity()
            .pod_affinity
            .get_or_insert_with(PodAffinity::default)
            .preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(WeightedPodAffinityTerm {
                weight,
                pod_affinity_term: t,
            });
        self
    }
    /// Adds a topology spread constraint selecting `k=v`.
    pub fn spread(
        mut self,
        max_skew: i32,
        topology_key: &str,
        when: &str,
        k: &str,
        v: &str,
    ) -> Self {
        self.spec()
            .topology_spread_constraints
            .get_or_insert_with(Vec::new)
            .push(TopologySpreadConstraint {
                max_skew,
                topology_key: topology_key.into(),
                when_unsatisfiable: when.into(),
                label_selector: Some(LabelSelector {
                    match_labels: Some([(k.to_string(), v.to_string())].into()),
                    match_expressions: None,
                }),
                ..Default::default()
            });
        self
    }
    /// Sets minDomains on the last spread constraint.
    pub fn min_domains(mut self, n: i32) -> Self {
        if let Some(c) = self
            .spec()
            .topology_spread_constraints
            .as_mut()
            .and_then(|c| c.last_mut())
        {
            c.min_domains = Some(n);
        }
        self
    }
    /// The parsed pod.
    pub fn build(self) -> PodInfo {
        PodInfo::new(Arc::new(self.pod))
    }
}

fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.into(),
        operator: op.into(),
        values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
    }
}

fn affinity_term(k: &str, v: &str, topology_key: &str) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_labels: Some([(k.to_string(), v.to_string())].into()),
            match_expressions: None,
        }),
        topology_key: topology_key.into(),
        ..Default::default()
    }
}

/// Builds a node (default allocatable: 4 cpu, 8Gi memory, 110 pods) and its pods.
pub struct NodeBuilder {
    node: Node,
    pods: Vec<PodInfo>,
}

impl NodeBuilder {
    /// A node named `name`, labelled `kubernetes.io/hostname=<name>`.
    pub fn new(name: &str) -> NodeBuilder {
        let alloc: BTreeMap<String, Quantity> = [
            ("cpu".to_string(), Quantity("4".into())),
            ("memory".to_string(), Quantity("8Gi".into())),
            ("pods".to_string(), Quantity("110".into())),
        ]
        .into();
        NodeBuilder {
            node: Node {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    labels: Some([("kubernetes.io/hostname".to_string(), name.to_string())].into()),
                    ..Default::default()
                },
                spec: Some(NodeSpec::default()),
                status: Some(NodeStatus {
                    allocatable: Some(alloc.clone()),
                    capacity: Some(alloc),
                    ..Default::default()
                }),
            },
            pods: Vec::new(),
        }
    }
    fn alloc(&mut self, name: &str, q: &str) {
        if let Some(a) = self
            .node
            .status
            .as_mut()
            .and_then(|s| s.allocatable.as_mut())
        {
            a.insert(name.into(), Quantity(q.into()));
        }
    }
    /// Sets allocatable cpu.
    pub fn cpu(mut self, q: &str) -> Self {
        self.alloc("cpu", q);
        self
    }
    /// Sets allocatable memory.
    pub fn memory(mut self, q: &str) -> Self {
        self.alloc("memory", q);
        self
    }
    /// Sets allocatable pods.
    pub fn pods(mut self, n: i64) -> Self {
        self.alloc("pods", &n.to_string());
        self
    }
    /// Sets any allocatable resource.
    pub fn resource(mut self, name: &str, q: &str) -> Self {
        self.alloc(name, q);
        self
    }
    /// Adds a label.
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.node
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(k.into(), v.into());
        self
    }
    /// Adds a taint.
    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        self.node
            .spec
            .get_or_insert_with(Default::default)
            .taints
            .get_or_insert_with(Vec::new)
            .push(Taint {
                key: key.into(),
                value: (!value.is_empty()).then(|| value.to_string()),
                effect: effect.into(),
                time_added: None,
            });
        self
    }
    /// Sets `spec.unschedulable`.
    pub fn unschedulable(mut self, u: bool) -> Self {
        self.node
            .spec
            .get_or_insert_with(Default::default)
            .unschedulable = Some(u);
        self
    }
    /// Places a pod on the node.
    pub fn pod(mut self, pod: PodInfo) -> Self {
        self.pods.push(pod);
        self
    }
    /// The node info with its pods.
    pub fn info(self) -> NodeInfo {
        let name = self.node.metadata.name.clone().unwrap_or_default();
        let mut ni = NodeInfo::named(&name);
        ni.set_node(Arc::new(self.node));
        for p in self.pods {
            let mut obj = (*p.pod).clone();
            obj.spec.get_or_insert_with(Default::default).node_name = Some(name.clone());
            ni.add_pod(Arc::new(PodInfo::new(Arc::new(obj))));
        }
        ni
    }
}

/// A snapshot of these nodes.
pub fn snapshot(nodes: Vec<NodeBuilder>) -> Snapshot {
    Snapshot::from_nodes(nodes.into_iter().map(NodeBuilder::info).collect())
}
