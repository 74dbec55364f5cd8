//! The garbage collector's ownership graph (objects keyed by uid, with a reverse index from
//! owner uid to dependents) and the pure decisions taken on it: what a node needs next, and,
//! once its owners have been looked up live, whether to keep, detach or delete it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::PropagationPolicy;
use kube::discovery::ApiResource;

use crate::discovery::{DiscoveredResources, parse_api_version};

/// Finalizer asking the garbage collector to detach dependents before the owner goes.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// Finalizer asking the garbage collector to delete blocking dependents before the owner goes.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// What the graph knows about one object.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The resource the object was observed through.
    pub resource: Arc<ApiResource>,
    /// The object's namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
    /// The object's uid, the graph key.
    pub uid: String,
    /// `metadata.ownerReferences`.
    pub owners: Vec<OwnerReference>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub being_deleted: bool,
    /// `metadata.finalizers`.
    pub finalizers: Vec<String>,
}

impl Node {
    /// Reads a node from a watched object's metadata; `None` if it has no uid or name.
    pub fn from_meta(resource: &Arc<ApiResource>, meta: &ObjectMeta) -> Option<Node> {
        Some(Node {
            resource: Arc::clone(resource),
            namespace: meta.namespace.clone().filter(|ns| !ns.is_empty()),
            name: meta.name.clone()?,
            uid: meta.uid.clone().filter(|uid| !uid.is_empty())?,
            owners: meta.owner_references.clone().unwrap_or_default(),
            being_deleted: meta.deletion_timestamp.is_some(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
        })
    }

    /// Whether `finalizer` is in the node's finalizers.
    pub fn has_finalizer(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }

    /// Being deleted in the foreground: waiting for its blocking dependents to go.
    pub fn deleting_dependents(&self) -> bool {
        self.being_deleted && self.has_finalizer(FOREGROUND_FINALIZER)
    }

    /// Being deleted with the orphan policy: waiting for its dependents to be detached.
    pub fn orphaning(&self) -> bool {
        self.being_deleted && self.has_finalizer(ORPHAN_FINALIZER)
    }

    /// `kind namespace/name (uid)` for logs.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {}/{} ({})", self.resource.kind, ns, self.name, self.uid),
            None => format!("{} {} ({})", self.resource.kind, self.name, self.uid),
        }
    }

    /// Whether `reference` (held by a dependent) names this node by the coordinates it was
    /// observed with: same name, kind and API group.
    fn matches_coordinates(&self, reference: &OwnerReference) -> bool {
        let group = parse_api_version(&reference.api_version).map(|(group, _)| group);
        reference.name == self.name
            && reference.kind == self.resource.kind
            && group == Some(self.resource.group.as_str())
    }

    fn same_graph_facts(&self, other: &Node) -> bool {
        self.owners == other.owners
            && self.being_deleted == other.being_deleted
            && self.finalizers == other.finalizers
            && self.namespace == other.namespace
            && self.name == other.name
            && self.resource == other.resource
    }
}

/// Objects by uid plus the reverse ownership index.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    /// owner uid → uids of observed nodes that reference it (the owner need not be observed).
    dependents: HashMap<String, BTreeSet<String>>,
}

/// What a node needs next, decided from the graph alone.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Nothing to do now; a later change or resync re-evaluates it.
    Nothing,
    /// The node is being deleted with the orphan policy: detach it from these dependents,
    /// then remove the `orphan` finalizer.
    Orphan {
        /// The owner whose finalizer is removed at the end.
        owner: Node,
        /// Dependents whose reference to `owner` must go.
        dependents: Vec<Node>,
    },
    /// The node is being deleted in the foreground and blocking dependents remain:
    /// evaluate these dependents (they are deleted or detached as their own plans say).
    AwaitDependents {
        /// Dependents not yet being deleted.
        dependents: Vec<String>,
    },
    /// The node is being deleted in the foreground and no blocking dependent remains:
    /// remove the `foregroundDeletion` finalizer.
    FinishForeground {
        /// The owner to finalize.
        owner: Node,
    },
    /// Some owner is not known to exist (or is waiting for its dependents): look the owners
    /// up live and [`decide`].
    VerifyOwners {
        /// The dependent to verify.
        dependent: Node,
        /// References whose owner the graph holds in another namespace, which upstream
        /// reports as `OwnerRefInvalidNamespace`.
        invalid_namespace: Vec<OwnerReference>,
    },
    /// A cluster-scoped node references a namespaced owner kind: invalid, left alone.
    InvalidClusterScopedDependent {
        /// The dependent holding the reference.
        dependent: Node,
        /// The invalid reference.
        reference: OwnerReference,
    },
    /// An owner reference names a kind the server does not serve: nothing can be verified.
    UnknownOwnerKind {
        /// The dependent holding the reference.
        dependent: Node,
        /// The reference that does not resolve.
        reference: OwnerReference,
    },
}

impl Graph {
    /// The node with `uid`, if observed.
    #[cfg(test)]
    pub fn node(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// Number of observed nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Observed nodes that reference `owner_uid`.
    pub fn dependents_of<'a>(&'a self, owner_uid: &str) -> impl Iterator<Item = &'a Node> + 'a {
        self.dependents
            .get(owner_uid)
            .into_iter()
            .flatten()
            .filter_map(|uid| self.nodes.get(uid))
    }

    /// Whether any observed node references `owner_uid`.
    pub fn has_dependents(&self, owner_uid: &str) -> bool {
        self.dependents_of(owner_uid).next().is_some()
    }

    /// Whether any observed dependent of `owner_uid` is itself deleting its dependents
    /// (a possible cycle of foreground deletions).
    pub fn has_dependent_deleting_dependents(&self, owner_uid: &str) -> bool {
        self.dependents_of(owner_uid).any(Node::deleting_dependents)
    }

    /// Uids worth re-evaluating on a periodic resync: nodes with owners or being deleted.
    pub fn resync_candidates(&self) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| !n.owners.is_empty() || n.being_deleted)
            .map(|n| n.uid.clone())
            .collect()
    }

    /// Inserts or updates a node; returns the uids to re-evaluate.
    pub fn upsert(&mut self, node: Node) -> Vec<String> {
        let uid = node.uid.clone();
        let old = self.nodes.get(&uid);
        if old.is_some_and(|old| old.same_graph_facts(&node)) {
            return Vec::new();
        }
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        dirty.insert(uid.clone());
        // Owners, old and new: a foreground owner may be waiting on this dependent.
        let old_owner_uids: Vec<String> = old
            .map(|o| o.owners.iter().map(|r| r.uid.clone()).collect())
            .unwrap_or_default();
        dirty.extend(old_owner_uids.iter().cloned());
        dirty.extend(node.owners.iter().map(|r| r.uid.clone()));
        // Dependents see their owner appear, start or stop deleting.
        let deletion_changed = old.is_none_or(|o| {
            o.being_deleted != node.being_deleted || o.finalizers != node.finalizers
        });
        if deletion_changed || node.being_deleted {
            dirty.extend(self.dependents.get(&uid).into_iter().flatten().cloned());
        }
        for owner_uid in &old_owner_uids {
            self.unindex(owner_uid, &uid);
        }
        for reference in &node.owners {
            self.dependents
                .entry(reference.uid.clone())
                .or_default()
                .insert(uid.clone());
        }
        self.nodes.insert(uid, node);
        dirty.into_iter().collect()
    }

    /// Removes the node with `uid` (its object is gone); returns the uids to re-evaluate.
    pub fn remove(&mut self, uid: &str) -> Vec<String> {
        let Some(node) = self.nodes.remove(uid) else {
            return Vec::new();
        };
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        for reference in &node.owners {
            self.unindex(&reference.uid, uid);
            dirty.insert(reference.uid.clone());
        }
        dirty.extend(self.dependents.get(uid).into_iter().flatten().cloned());
        dirty.into_iter().collect()
    }

    /// Removes every node observed through `group`/`plural` whose uid is not in `keep`
    /// (after a relist), or all of them when `keep` is `None` (the resource is no longer
    /// watched); returns the uids to re-evaluate.
    pub fn prune_resource(
        &mut self,
        group: &str,
        plural: &str,
        keep: Option<&HashSet<String>>,
    ) -> Vec<String> {
        let stale: Vec<String> = self
            .nodes
            .values()
            .filter(|n| n.resource.group == group && n.resource.plural == plural)
            .filter(|n| keep.is_none_or(|keep| !keep.contains(&n.uid)))
            .map(|n| n.uid.clone())
            .collect();
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        for uid in stale {
            dirty.extend(self.remove(&uid));
        }
        dirty.into_iter().collect()
    }

    fn unindex(&mut self, owner_uid: &str, dependent_uid: &str) {
        if let Some(set) = self.dependents.get_mut(owner_uid) {
            set.remove(dependent_uid);
            if set.is_empty() {
                self.dependents.remove(owner_uid);
            }
        }
    }

    /// Decides what the node with `uid` needs next, from the graph and discovery alone.
    pub fn plan(&self, uid: &str, resources: &DiscoveredResources) -> Plan {
        let Some(node) = self.nodes.get(uid) else {
            return Plan::Nothing;
        };
        if node.orphaning() {
            return Plan::Orphan {
                owner: node.clone(),
                dependents: self.dependents_of(uid).cloned().collect(),
            };
        }
        if node.deleting_dependents() {
            let blocking = self.dependents_of(uid).any(|d| {
                d.owners
                    .iter()
                    .any(|r| r.uid == node.uid && r.block_owner_deletion == Some(true))
            });
            if !blocking {
                return Plan::FinishForeground {
                    owner: node.clone(),
                };
            }
            let dependents: Vec<String> = self
                .dependents_of(uid)
                .filter(|d| !d.being_deleted)
                .map(|d| d.uid.clone())
                .collect();
            return Plan::AwaitDependents { dependents };
        }
        if node.being_deleted || node.owners.is_empty() {
            // Being deleted is a one-way trip: wait for the object to go.
            return Plan::Nothing;
        }
        let mut needs_live_check = false;
        let mut invalid_namespace = Vec::new();
        for reference in &node.owners {
            let Some(kind) = resources.lookup_kind(&reference.api_version, &reference.kind) else {
                return Plan::UnknownOwnerKind {
                    dependent: node.clone(),
                    reference: reference.clone(),
                };
            };
            if node.namespace.is_none() && kind.namespaced {
                return Plan::InvalidClusterScopedDependent {
                    dependent: node.clone(),
                    reference: reference.clone(),
                };
            }
            match self.nodes.get(&reference.uid) {
                None => needs_live_check = true,
                Some(owner) => {
                    if owner.namespace.is_some() && owner.namespace != node.namespace {
                        invalid_namespace.push(reference.clone());
                        needs_live_check = true;
                    } else if !owner.matches_coordinates(reference) || owner.deleting_dependents() {
                        needs_live_check = true;
                    }
                }
            }
        }
        if needs_live_check {
            Plan::VerifyOwners {
                dependent: node.clone(),
                invalid_namespace,
            }
        } else {
            Plan::Nothing
        }
    }
}

/// What a live lookup of one owner found.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnerLookup {
    /// No object by that name (404).
    NotFound,
    /// An object by that name exists.
    Found {
        /// Its uid.
        uid: String,
        /// Whether its deletionTimestamp is set.
        being_deleted: bool,
        /// Its finalizers.
        finalizers: Vec<String>,
    },
}

/// How one owner reference stands, after a live lookup (upstream's `classifyReferences`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerState {
    /// The owner exists and is not waiting for its dependents to be deleted.
    Solid,
    /// No object with the referenced uid exists.
    Dangling,
    /// The owner exists and is being deleted in the foreground.
    WaitingForDependents,
}

/// Classifies one owner reference from its live lookup.
pub fn classify_owner(reference: &OwnerReference, lookup: &OwnerLookup) -> OwnerState {
    match lookup {
        OwnerLookup::NotFound => OwnerState::Dangling,
        OwnerLookup::Found { uid, .. } if *uid != reference.uid => OwnerState::Dangling,
        OwnerLookup::Found {
            being_deleted: true,
            finalizers,
            ..
        } if finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) => {
            OwnerState::WaitingForDependents
        }
        OwnerLookup::Found { .. } => OwnerState::Solid,
    }
}

/// What to do with a dependent whose owners were looked up live.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// At least one owner is solid and no reference needs removing.
    Keep,
    /// Some owner is solid: drop the references to these owner uids (dangling ones, and
    /// ones waiting for dependents, which would otherwise block them forever).
    RemoveOwnerReferences(Vec<String>),
    /// Delete the dependent.
    Delete {
        /// The propagation policy for its own dependents.
        policy: PropagationPolicy,
        /// First set `blockOwnerDeletion: false` on its references, to break a possible
        /// cycle of foreground deletions.
        unblock_first: bool,
    },
}

/// Facts about a dependent that [`decide`] needs beyond its owners' states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DependentFacts {
    /// The dependent has dependents of its own in the graph.
    pub has_dependents: bool,
    /// One of those is itself deleting its dependents.
    pub has_dependent_deleting_dependents: bool,
    /// The dependent already carries the `orphan` finalizer.
    pub has_orphan_finalizer: bool,
    /// The dependent already carries the `foregroundDeletion` finalizer.
    pub has_foreground_finalizer: bool,
}

/// Upstream's `attemptToDeleteItem` decision, given each reference and its state.
pub fn decide(owners: &[(OwnerReference, OwnerState)], facts: DependentFacts) -> Decision {
    let of = |state: OwnerState| -> Vec<String> {
        owners
            .iter()
            .filter(|(_, s)| *s == state)
            .map(|(r, _)| r.uid.clone())
            .collect()
    };
    let solid = of(OwnerState::Solid);
    let dangling = of(OwnerState::Dangling);
    let waiting = of(OwnerState::WaitingForDependents);
    if owners.is_empty() {
        return Decision::Keep;
    }
    if !solid.is_empty() {
        if dangling.is_empty() && waiting.is_empty() {
            return Decision::Keep;
        }
        let mut remove = dangling;
        remove.extend(waiting);
        return Decision::RemoveOwnerReferences(remove);
    }
    if !waiting.is_empty() && facts.has_dependents {
        return Decision::Delete {
            policy: PropagationPolicy::Foreground,
            unblock_first: facts.has_dependent_deleting_dependents,
        };
    }
    let policy = if facts.has_orphan_finalizer {
        PropagationPolicy::Orphan
    } else if facts.has_foreground_finalizer {
        PropagationPolicy::Foreground
    } else {
        PropagationPolicy::Background
    };
    Decision::Delete {
        policy,
        unblock_first: false,
    }
}

/// `ownerReferences` without the references to `owner_uids`.
pub fn without_owners(references: &[OwnerReference], owner_uids: &[String]) -> Vec<OwnerReference> {
    references
        .iter()
        .filter(|r| !owner_uids.contains(&r.uid))
        .cloned()
        .collect()
}

/// `ownerReferences` with every `blockOwnerDeletion` set to false.
pub fn unblocked(references: &[OwnerReference]) -> Vec<OwnerReference> {
    references
        .iter()
        .cloned()
        .map(|mut r| {
            if r.block_owner_deletion.is_some() {
                r.block_owner_deletion = Some(false);
            }
            r
        })
        .collect()
}

/// A JSON merge patch replacing `metadata.ownerReferences`, guarded by the object's uid and
/// resourceVersion so it fails with 409 Conflict if the object changed since it was read.
pub fn owner_references_patch(
    uid: &str,
    resource_version: &str,
    references: &[OwnerReference],
) -> serde_json::Value {
    let references = if references.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::to_value(references).unwrap_or(serde_json::Value::Null)
    };
    serde_json::json!({
        "metadata": {
            "uid": uid,
            "resourceVersion": resource_version,
            "ownerReferences": references,
        }
    })
}

/// A JSON merge patch replacing `metadata.finalizers`, guarded like [`owner_references_patch`].
pub fn finalizers_patch(
    uid: &str,
    resource_version: &str,
    finalizers: &[String],
) -> serde_json::Value {
    let finalizers = if finalizers.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::Value::from(finalizers.to_vec())
    };
    serde_json::json!({
        "metadata": {
            "uid": uid,
            "resourceVersion": resource_version,
            "finalizers": finalizers,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::tests::sample;

    fn resource(api_version: &str, kind: &str, plural: &str) -> Arc<ApiResource> {
        let (group, version) = parse_api_version(api_version).unwrap_or(("", "v1"));
        Arc::new(ApiResource {
            group: group.to_string(),
            version: version.to_string(),
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
        })
    }

    /// Fluent builder for graph nodes.
    struct NodeBuilder(Node);

    fn node(kind: &str, name: &str) -> NodeBuilder {
        let res = match kind {
            "Deployment" => resource("apps/v1", "Deployment", "deployments"),
            "ReplicaSet" => resource("apps/v1", "ReplicaSet", "replicasets"),
            "Pod" => resource("v1", "Pod", "pods"),
            "Namespace" => resource("v1", "Namespace", "namespaces"),
            other => resource("v1", other, "others"),
        };
        let namespace = (kind != "Namespace").then(|| "default".to_string());
        NodeBuilder(Node {
            resource: res,
            namespace,
            name: name.to_string(),
            uid: format!("uid-{name}"),
            owners: Vec::new(),
            being_deleted: false,
            finalizers: Vec::new(),
        })
    }

    impl NodeBuilder {
        fn ns(mut self, ns: &str) -> Self {
            self.0.namespace = Some(ns.to_string());
            self
        }
        fn cluster_scoped(mut self) -> Self {
            self.0.namespace = None;
            self
        }
        fn owned_by(mut self, owner: &Node, block: bool) -> Self {
            self.0.owners.push(reference_to(owner, block));
            self
        }
        fn owned_by_ref(mut self, reference: OwnerReference) -> Self {
            self.0.owners.push(reference);
            self
        }
        fn deleting(mut self, finalizers: &[&str]) -> Self {
            self.0.being_deleted = true;
            self.0.finalizers = finalizers.iter().map(|f| f.to_string()).collect();
            self
        }
        fn build(self) -> Node {
            self.0
        }
    }

    fn reference_to(owner: &Node, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: owner.resource.api_version.clone(),
            kind: owner.resource.kind.clone(),
            name: owner.name.clone(),
            uid: owner.uid.clone(),
            block_owner_deletion: block.then_some(true),
            controller: Some(true),
        }
    }

    fn graph(nodes: &[&Node]) -> Graph {
        let mut g = Graph::default();
        for n in nodes {
            g.upsert((*n).clone());
        }
        g
    }

    fn uids(plan: &Plan) -> Vec<String> {
        match plan {
            Plan::Orphan { dependents, .. } => dependents.iter().map(|d| d.uid.clone()).collect(),
            Plan::AwaitDependents { dependents } => dependents.clone(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn plans_follow_upstream_semantics() {
        let deploy = node("Deployment", "web").build();
        let rs = node("ReplicaSet", "web-1").owned_by(&deploy, true).build();
        let pod = node("Pod", "web-1-a").owned_by(&rs, true).build();
        let orphaning_deploy = node("Deployment", "web")
            .deleting(&[ORPHAN_FINALIZER])
            .build();
        let fg_deploy = node("Deployment", "web")
            .deleting(&[FOREGROUND_FINALIZER])
            .build();
        let ns_a_owner = node("ConfigMap", "owner").ns("a").build();
        let ns_b_dependent = node("ConfigMap", "dep")
            .ns("b")
            .owned_by(&ns_a_owner, false)
            .build();
        let namespace = node("Namespace", "team").build();
        let cluster_dep_of_ns_owner = node("Node", "n1")
            .cluster_scoped()
            .owned_by(&rs, false)
            .build();
        let cluster_dep_of_cluster_owner = node("Other", "c1")
            .cluster_scoped()
            .owned_by(&namespace, false)
            .build();
        let unknown_kind_dep = node("Pod", "weird")
            .owned_by_ref(OwnerReference {
                api_version: "example.com/v1".into(),
                kind: "Widget".into(),
                name: "w".into(),
                uid: "uid-w".into(),
                ..Default::default()
            })
            .build();
        let renamed_ref_dep = node("Pod", "renamed")
            .owned_by_ref(OwnerReference {
                name: "not-web-1".into(),
                ..reference_to(&rs, false)
            })
            .build();
        let non_blocking_pod = node("Pod", "loose").owned_by(&fg_deploy, false).build();
        let blocking_rs = node("ReplicaSet", "web-2")
            .owned_by(&fg_deploy, true)
            .build();
        let blocking_rs_deleting = node("ReplicaSet", "web-3")
            .owned_by(&fg_deploy, true)
            .deleting(&[])
            .build();

        struct Case<'a> {
            name: &'a str,
            nodes: Vec<&'a Node>,
            subject: &'a str,
            want: &'a str,
            want_uids: Vec<&'a str>,
        }
        let cases = vec![
            Case {
                name: "an object not in the graph needs nothing",
                nodes: vec![],
                subject: "uid-nope",
                want: "Nothing",
                want_uids: vec![],
            },
            Case {
                name: "an object without owner references needs nothing",
                nodes: vec![&deploy],
                subject: "uid-web",
                want: "Nothing",
                want_uids: vec![],
            },
            Case {
                name: "a dependent whose owners are all observed and alive needs nothing",
                nodes: vec![&deploy, &rs, &pod],
                subject: "uid-web-1-a",
                want: "Nothing",
                want_uids: vec![],
            },
            Case {
                name: "a dependent whose owner is not in the graph is verified live",
                nodes: vec![&pod],
                subject: "uid-web-1-a",
                want: "VerifyOwners",
                want_uids: vec![],
            },
            Case {
                name: "a dependent of an owner in foreground deletion is verified live",
                nodes: vec![&fg_deploy, &rs],
                subject: "uid-web-1",
                want: "VerifyOwners",
                want_uids: vec![],
            },
            Case {
                name: "a dependent whose reference names the owner differently is verified live",
                nodes: vec![&rs, &renamed_ref_dep],
                subject: "uid-renamed",
                want: "VerifyOwners",
                want_uids: vec![],
            },
            Case {
                name: "a dependent whose owner lives in another namespace is verified live",
                nodes: vec![&ns_a_owner, &ns_b_dependent],
                subject: "uid-dep",
                want: "VerifyOwners",
                want_uids: vec![],
            },
            Case {
                name: "a cluster-scoped dependent of a namespaced owner kind is invalid",
                nodes: vec![&rs, &cluster_dep_of_ns_owner],
                subject: "uid-n1",
                want: "InvalidClusterScopedDependent",
                want_uids: vec![],
            },
            Case {
                name: "a cluster-scoped dependent of a cluster-scoped owner needs nothing",
                nodes: vec![&namespace, &cluster_dep_of_cluster_owner],
                subject: "uid-c1",
                want: "Nothing",
                want_uids: vec![],
            },
            Case {
                name: "an owner reference of an unserved kind cannot be verified",
                nodes: vec![&unknown_kind_dep],
                subject: "uid-weird",
                want: "UnknownOwnerKind",
                want_uids: vec![],
            },
            Case {
                name: "an owner deleted with the orphan policy orphans its dependents",
                nodes: vec![&orphaning_deploy, &rs],
                subject: "uid-web",
                want: "Orphan",
                want_uids: vec!["uid-web-1"],
            },
            Case {
                name: "an orphaning owner without dependents still finishes",
                nodes: vec![&orphaning_deploy],
                subject: "uid-web",
                want: "Orphan",
                want_uids: vec![],
            },
            Case {
                name: "a foreground owner with only non-blocking dependents finishes",
                nodes: vec![&fg_deploy, &non_blocking_pod],
                subject: "uid-web",
                want: "FinishForeground",
                want_uids: vec![],
            },
            Case {
                name: "a foreground owner without dependents finishes",
                nodes: vec![&fg_deploy],
                subject: "uid-web",
                want: "FinishForeground",
                want_uids: vec![],
            },
            Case {
                name: "a foreground owner with a blocking dependent re-evaluates its live dependents",
                nodes: vec![&fg_deploy, &blocking_rs, &non_blocking_pod],
                subject: "uid-web",
                want: "AwaitDependents",
                want_uids: vec!["uid-loose", "uid-web-2"],
            },
            Case {
                name: "a foreground owner whose blocking dependent is already going waits",
                nodes: vec![&fg_deploy, &blocking_rs_deleting],
                subject: "uid-web",
                want: "AwaitDependents",
                want_uids: vec![],
            },
            Case {
                name: "an object being deleted without gc finalizers waits",
                nodes: vec![&blocking_rs_deleting],
                subject: "uid-web-3",
                want: "Nothing",
                want_uids: vec![],
            },
        ];
        let resources = sample();
        for case in cases {
            let g = graph(&case.nodes);
            let plan = g.plan(case.subject, &resources);
            let got = format!("{plan:?}");
            assert!(got.starts_with(case.want), "{}: got {got}", case.name);
            let mut got_uids = uids(&plan);
            got_uids.sort();
            assert_eq!(got_uids, case.want_uids, "{}", case.name);
        }
    }

    #[test]
    fn cross_namespace_owner_references_are_reported() {
        let owner = node("ConfigMap", "owner").ns("a").build();
        let dependent = node("ConfigMap", "dep")
            .ns("b")
            .owned_by(&owner, false)
            .build();
        let g = graph(&[&owner, &dependent]);
        match g.plan("uid-dep", &sample()) {
            Plan::VerifyOwners {
                invalid_namespace, ..
            } => {
                assert_eq!(invalid_namespace, vec![reference_to(&owner, false)]);
            }
            other => panic!("expected VerifyOwners, got {other:?}"),
        }
    }

    #[test]
    fn graph_changes_mark_the_right_nodes_dirty() {
        let deploy = node("Deployment", "web").build();
        let rs = node("ReplicaSet", "web-1").owned_by(&deploy, true).build();
        let pod = node("Pod", "web-1-a").owned_by(&rs, true).build();

        let mut g = graph(&[&deploy, &rs]);
        assert_eq!(
            g.upsert(pod.clone()),
            vec!["uid-web-1", "uid-web-1-a"],
            "a new dependent marks itself and its owner"
        );
        assert_eq!(
            g.upsert(pod.clone()),
            Vec::<String>::new(),
            "an update that changes no graph fact marks nothing"
        );

        let rs_fg = NodeBuilder(rs.clone())
            .deleting(&[FOREGROUND_FINALIZER])
            .build();
        assert_eq!(
            g.upsert(rs_fg),
            vec!["uid-web", "uid-web-1", "uid-web-1-a"],
            "an owner starting deletion marks itself, its owner and its dependents"
        );

        let detached = Node {
            owners: Vec::new(),
            ..pod.clone()
        };
        assert_eq!(
            g.upsert(detached),
            vec!["uid-web-1", "uid-web-1-a"],
            "dropping a reference marks the former owner"
        );
        assert!(
            !g.has_dependents("uid-web-1"),
            "the reverse index forgets a dropped reference"
        );

        assert_eq!(
            g.remove("uid-web-1"),
            vec!["uid-web"],
            "removing a node marks its owners"
        );
        assert_eq!(
            g.remove("uid-web"),
            Vec::<String>::new(),
            "removing a node without dependents marks nothing else"
        );
        assert_eq!(
            g.remove("uid-web"),
            Vec::<String>::new(),
            "removing an unknown node is a no-op"
        );
    }

    #[test]
    fn removing_an_owner_marks_its_dependents() {
        let deploy = node("Deployment", "web").build();
        let rs = node("ReplicaSet", "web-1").owned_by(&deploy, true).build();
        let mut g = graph(&[&deploy, &rs]);
        assert_eq!(g.remove("uid-web"), vec!["uid-web-1"]);
        assert!(
            g.has_dependents("uid-web"),
            "dependents of a vanished owner stay indexed"
        );
    }

    #[test]
    fn relist_prunes_only_unlisted_nodes_of_that_resource() {
        let deploy = node("Deployment", "web").build();
        let rs = node("ReplicaSet", "web-1").owned_by(&deploy, true).build();
        let rs2 = node("ReplicaSet", "web-2").build();
        let mut g = graph(&[&deploy, &rs, &rs2]);
        let keep: HashSet<String> = ["uid-web-2".to_string()].into();
        assert_eq!(
            g.prune_resource("apps", "replicasets", Some(&keep)),
            vec!["uid-web"]
        );
        assert!(g.node("uid-web-1").is_none(), "an unlisted node is pruned");
        assert!(g.node("uid-web-2").is_some(), "a listed node stays");
        assert!(g.node("uid-web").is_some(), "other resources are untouched");
        g.prune_resource("apps", "deployments", None);
        assert_eq!(
            g.len(),
            1,
            "pruning without a keep set drops the whole resource"
        );
    }

    #[test]
    fn owners_are_classified_from_live_lookups() {
        let owner = node("Deployment", "web").build();
        let reference = reference_to(&owner, true);
        let found = |uid: &str, deleting: bool, finalizers: &[&str]| OwnerLookup::Found {
            uid: uid.to_string(),
            being_deleted: deleting,
            finalizers: finalizers.iter().map(|f| f.to_string()).collect(),
        };
        let cases = [
            (
                "a missing owner is dangling",
                OwnerLookup::NotFound,
                OwnerState::Dangling,
            ),
            (
                "an owner recreated with another uid is dangling",
                found("uid-other", false, &[]),
                OwnerState::Dangling,
            ),
            (
                "a live owner is solid",
                found("uid-web", false, &[]),
                OwnerState::Solid,
            ),
            (
                "an owner in background deletion is still solid",
                found("uid-web", true, &[]),
                OwnerState::Solid,
            ),
            (
                "an owner being orphan-deleted is still solid",
                found("uid-web", true, &[ORPHAN_FINALIZER]),
                OwnerState::Solid,
            ),
            (
                "an owner in foreground deletion waits for its dependents",
                found("uid-web", true, &[FOREGROUND_FINALIZER]),
                OwnerState::WaitingForDependents,
            ),
        ];
        for (case, lookup, want) in cases {
            assert_eq!(classify_owner(&reference, &lookup), want, "{case}");
        }
    }

    #[test]
    fn decisions_follow_attempt_to_delete_item() {
        let r = |uid: &str| OwnerReference {
            uid: uid.to_string(),
            ..Default::default()
        };
        use OwnerState::*;
        let leaf = DependentFacts::default();
        let parent = DependentFacts {
            has_dependents: true,
            ..Default::default()
        };
        let background = Decision::Delete {
            policy: PropagationPolicy::Background,
            unblock_first: false,
        };
        let foreground = Decision::Delete {
            policy: PropagationPolicy::Foreground,
            unblock_first: false,
        };
        let cases = vec![
            (
                "no references keeps the object",
                vec![],
                leaf,
                Decision::Keep,
            ),
            (
                "all solid owners keep the object",
                vec![(r("a"), Solid), (r("b"), Solid)],
                leaf,
                Decision::Keep,
            ),
            (
                "all dangling owners delete in the background",
                vec![(r("a"), Dangling), (r("b"), Dangling)],
                leaf,
                background.clone(),
            ),
            (
                "some dangling owners are detached",
                vec![(r("a"), Solid), (r("b"), Dangling)],
                leaf,
                Decision::RemoveOwnerReferences(vec!["b".into()]),
            ),
            (
                "a waiting owner next to a solid one is detached",
                vec![
                    (r("a"), Solid),
                    (r("b"), WaitingForDependents),
                    (r("c"), Dangling),
                ],
                leaf,
                Decision::RemoveOwnerReferences(vec!["c".into(), "b".into()]),
            ),
            (
                "a waiting owner deletes a dependent with dependents in the foreground",
                vec![(r("a"), WaitingForDependents)],
                parent,
                foreground.clone(),
            ),
            (
                "a waiting owner deletes a leaf dependent in the background",
                vec![(r("a"), WaitingForDependents)],
                leaf,
                background.clone(),
            ),
            (
                "a cycle of foreground deletions is unblocked first",
                vec![(r("a"), WaitingForDependents)],
                DependentFacts {
                    has_dependent_deleting_dependents: true,
                    ..parent
                },
                Decision::Delete {
                    policy: PropagationPolicy::Foreground,
                    unblock_first: true,
                },
            ),
            (
                "an existing orphan finalizer is honoured",
                vec![(r("a"), Dangling)],
                DependentFacts {
                    has_orphan_finalizer: true,
                    ..leaf
                },
                Decision::Delete {
                    policy: PropagationPolicy::Orphan,
                    unblock_first: false,
                },
            ),
            (
                "an existing foreground finalizer is honoured",
                vec![(r("a"), Dangling)],
                DependentFacts {
                    has_foreground_finalizer: true,
                    ..leaf
                },
                foreground.clone(),
            ),
        ];
        for (case, owners, facts, want) in cases {
            assert_eq!(decide(&owners, facts), want, "{case}");
        }
    }

    #[test]
    fn patches_are_guarded_merge_patches() {
        let owner = node("Deployment", "web").build();
        let keep = reference_to(&owner, true);
        let gone = OwnerReference {
            uid: "uid-gone".into(),
            ..keep.clone()
        };
        let remaining = without_owners(&[keep.clone(), gone], &["uid-gone".to_string()]);
        assert_eq!(
            remaining,
            vec![keep.clone()],
            "only the named owners are dropped"
        );
        let patch = owner_references_patch("uid-dep", "42", &remaining);
        assert_eq!(patch["metadata"]["resourceVersion"], "42");
        assert_eq!(patch["metadata"]["uid"], "uid-dep");
        assert_eq!(patch["metadata"]["ownerReferences"][0]["uid"], "uid-web");
        assert_eq!(
            patch["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
            true
        );
        assert!(
            owner_references_patch("u", "1", &[])["metadata"]["ownerReferences"].is_null(),
            "an empty list removes the field"
        );

        let unblocked = unblocked(&[keep]);
        assert_eq!(
            unblocked[0].block_owner_deletion,
            Some(false),
            "unblocking clears blockOwnerDeletion"
        );

        let patch = finalizers_patch("uid-web", "7", &["example.com/keep".to_string()]);
        assert_eq!(
            patch["metadata"]["finalizers"],
            serde_json::json!(["example.com/keep"])
        );
        assert!(
            finalizers_patch("u", "1", &[])["metadata"]["finalizers"].is_null(),
            "the last finalizer removes the field"
        );
    }
}
