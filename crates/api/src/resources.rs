//! The resource table: every built-in resource skiff serves, with the facts discovery,
//! routing, storage and validation need (group/version/kind, plural, scope, verbs, short
//! names, categories, subresources, where it is stored and how its JSON is normalised).

use k8s_openapi::{ClusterResourceScope, ListableResource, NamespaceResourceScope, Resource};
use serde_json::Value;

/// The verbs a normal (fully served) resource supports, in discovery order.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Namespaces have no `deletecollection`.
const NAMESPACE_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// Decodes a JSON object through its typed model and re-encodes it: checks field types and
/// drops unknown fields the way the real server's decoding does. `Err` is the decode error.
pub type NormalizeFn = fn(Value) -> Result<Value, String>;

/// Everything skiff knows about one served resource (one group/version/plural).
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    /// API group, `""` for the core group.
    pub group: &'static str,
    /// Served version, e.g. `v1`.
    pub version: &'static str,
    /// Kind, e.g. `ConfigMap`.
    pub kind: &'static str,
    /// List kind, e.g. `ConfigMapList`.
    pub list_kind: &'static str,
    /// Plural resource name used in URLs, e.g. `configmaps`.
    pub plural: &'static str,
    /// Singular name, lower-case kind.
    pub singular: String,
    /// True for namespaced resources.
    pub namespaced: bool,
    /// Verbs on the collection/object.
    pub verbs: &'static [&'static str],
    /// Short names (`cm`), as `kubectl api-resources` shows them.
    pub short_names: &'static [&'static str],
    /// Categories (`all`).
    pub categories: &'static [&'static str],
    /// Subresources served (`status`, `scale`, ...).
    pub subresources: &'static [&'static str],
    /// The group/version objects are stored as (equal to group/version unless converted).
    pub storage_group: &'static str,
    /// See `storage_group`.
    pub storage_version: &'static str,
    /// Typed normalisation of the JSON form (identity for custom resources, which go
    /// through structural-schema processing instead, see `custom`).
    pub normalize: NormalizeFn,
    /// For custom resources: the CRD version's schema, printer columns and subresources.
    pub custom: Option<std::sync::Arc<crate::crd::CustomResource>>,
}

impl ResourceInfo {
    /// `apiVersion` as it appears in objects: `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `configmaps` or `deployments.apps`, the resource as messages name it.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// True when objects of this resource are stored in another group/version's form.
    pub fn is_converted(&self) -> bool {
        self.group != self.storage_group || self.version != self.storage_version
    }

    /// Whether a verb is served.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// Whether the subresource is served.
    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.contains(&sub)
    }

    /// True for create-only resources that are never stored (access reviews, bindings): the
    /// request is answered (or acted on) and nothing of that kind is kept. They have no list
    /// kind.
    pub fn is_virtual(&self) -> bool {
        self.list_kind.is_empty()
    }

    /// What a served subresource is: its kind (which may differ from the parent's, like
    /// `deployments/scale` → `autoscaling/v1 Scale`) and its verbs.
    pub fn subresource(&self, sub: &str) -> Option<SubresourceInfo> {
        if !self.has_subresource(sub) {
            return None;
        }
        let (group, version, kind, verbs): (&str, &str, &str, &[&str]) = match sub {
            "scale" => ("autoscaling", "v1", "Scale", GET_PATCH_UPDATE),
            "eviction" => ("policy", "v1", "Eviction", CREATE),
            "binding" => ("", "v1", "Binding", CREATE),
            "token" => ("authentication.k8s.io", "v1", "TokenRequest", CREATE),
            "log" => (self.group, self.version, self.kind, &["get"]),
            "exec" => ("", "v1", "PodExecOptions", &["create", "get"]),
            "attach" => ("", "v1", "PodAttachOptions", &["create", "get"]),
            "portforward" => ("", "v1", "PodPortForwardOptions", &["create", "get"]),
            "proxy" => (
                "",
                "v1",
                match self.kind {
                    "Pod" => "PodProxyOptions",
                    "Node" => "NodeProxyOptions",
                    _ => "ServiceProxyOptions",
                },
                &["create", "delete", "get", "patch", "update"],
            ),
            "finalize" => (self.group, self.version, self.kind, &["update"]),
            _ => (self.group, self.version, self.kind, GET_PATCH_UPDATE),
        };
        Some(SubresourceInfo {
            name: self.subresources.iter().find(|s| **s == sub)?,
            group,
            version,
            kind,
            verbs,
        })
    }

    /// The storage key prefix for all objects of this resource: `/registry/<group>/<plural>/`.
    pub fn key_prefix(&self) -> String {
        let group = if self.storage_group.is_empty() {
            "core"
        } else {
            self.storage_group
        };
        format!("/registry/{group}/{}/", self.plural)
    }

    /// The storage key prefix for one namespace (namespaced resources).
    pub fn namespace_prefix(&self, namespace: &str) -> String {
        format!("{}{namespace}/", self.key_prefix())
    }

    /// The storage key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/{name}", self.key_prefix()),
            _ => format!("{}{name}", self.key_prefix()),
        }
    }
}

/// A subresource as discovery describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubresourceInfo {
    /// `scale`, `status`, ...
    pub name: &'static str,
    /// Group of the subresource's kind (`autoscaling` for `scale`).
    pub group: &'static str,
    /// Version of the subresource's kind.
    pub version: &'static str,
    /// Kind sent and answered (`Scale`, `Eviction`, or the parent's kind).
    pub kind: &'static str,
    /// Verbs the subresource serves.
    pub verbs: &'static [&'static str],
}

/// Verbs of read/write subresources (`status`, `scale`).
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];
/// Verbs of create-only resources and subresources (reviews, `eviction`, `binding`, `token`).
pub const CREATE: &[&str] = &["create"];

/// Marks k8s-openapi scope types so the table can read a resource's scope.
trait ScopeInfo {
    const NAMESPACED: bool;
}
impl ScopeInfo for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl ScopeInfo for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

fn normalize<T: serde::de::DeserializeOwned + serde::Serialize>(v: Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(v).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// Extra facts the k8s-openapi model does not carry.
struct Extra {
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [&'static str],
    verbs: &'static [&'static str],
    storage: Option<(&'static str, &'static str)>,
}

const DEFAULT_EXTRA: Extra = Extra {
    short_names: &[],
    categories: &[],
    subresources: &[],
    verbs: ALL_VERBS,
    storage: None,
};

fn entry<T>(extra: Extra) -> ResourceInfo
where
    T: Resource + ListableResource + serde::de::DeserializeOwned + serde::Serialize,
    T::Scope: ScopeInfo,
{
    let (storage_group, storage_version) = extra.storage.unwrap_or((T::GROUP, T::VERSION));
    ResourceInfo {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        list_kind: T::LIST_KIND,
        plural: T::URL_PATH_SEGMENT,
        singular: T::KIND.to_ascii_lowercase(),
        namespaced: <T::Scope as ScopeInfo>::NAMESPACED,
        verbs: extra.verbs,
        short_names: extra.short_names,
        categories: extra.categories,
        subresources: extra.subresources,
        storage_group,
        storage_version,
        normalize: normalize::<T>,
        custom: None,
    }
}

/// A create-only resource that is never stored (reviews, bindings): no list kind, verbs
/// `create` only.
fn virtual_entry<T>(extra: Extra) -> ResourceInfo
where
    T: Resource + serde::de::DeserializeOwned + serde::Serialize,
    T::Scope: ScopeInfo,
{
    ResourceInfo {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        list_kind: "",
        plural: T::URL_PATH_SEGMENT,
        singular: T::KIND.to_ascii_lowercase(),
        namespaced: <T::Scope as ScopeInfo>::NAMESPACED,
        verbs: CREATE,
        short_names: extra.short_names,
        categories: extra.categories,
        subresources: extra.subresources,
        storage_group: T::GROUP,
        storage_version: T::VERSION,
        normalize: normalize::<T>,
        custom: None,
    }
}

macro_rules! table {
    ($( $(#[$virt:ident])? $ty:ty $({ $($field:ident : $value:expr),* $(,)? })? ;)*) => {
        vec![$( table!(@entry $($virt)? $ty, Extra { $($($field: $value,)*)? ..DEFAULT_EXTRA }) ),*]
    };
    (@entry virtual_resource $ty:ty, $extra:expr) => { virtual_entry::<$ty>($extra) };
    (@entry $ty:ty, $extra:expr) => { entry::<$ty>($extra) };
}

const STATUS: &[&str] = &["status"];
const SCALE_STATUS: &[&str] = &["scale", "status"];
const ALL: &[&str] = &["all"];

/// The built-in resources, in discovery order (group order of `kubectl api-resources`).
pub fn builtin() -> Vec<ResourceInfo> {
    use k8s_openapi::api::{
        apps, authentication, authorization, autoscaling, batch, coordination, core, discovery,
        events, networking, node, policy, rbac, scheduling, storage,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
    table! {
        #[virtual_resource] core::v1::Binding;
        core::v1::ConfigMap { short_names: &["cm"] };
        core::v1::Endpoints { short_names: &["ep"] };
        core::v1::Event { short_names: &["ev"] };
        core::v1::LimitRange { short_names: &["limits"] };
        core::v1::Namespace { short_names: &["ns"], subresources: &["finalize", "status"], verbs: NAMESPACE_VERBS };
        core::v1::Node { short_names: &["no"], subresources: &["proxy", "status"] };
        core::v1::PersistentVolumeClaim { short_names: &["pvc"], subresources: STATUS };
        core::v1::PersistentVolume { short_names: &["pv"], subresources: STATUS };
        core::v1::Pod { short_names: &["po"], categories: ALL, subresources: &["attach", "binding", "eviction", "exec", "log", "portforward", "proxy", "status"] };
        core::v1::PodTemplate;
        core::v1::ReplicationController { short_names: &["rc"], categories: ALL, subresources: SCALE_STATUS };
        core::v1::ResourceQuota { short_names: &["quota"], subresources: STATUS };
        core::v1::Secret;
        core::v1::ServiceAccount { short_names: &["sa"], subresources: &["token"] };
        core::v1::Service { short_names: &["svc"], categories: ALL, subresources: &["proxy", "status"] };
        apps::v1::ControllerRevision;
        apps::v1::DaemonSet { short_names: &["ds"], categories: ALL, subresources: STATUS };
        apps::v1::Deployment { short_names: &["deploy"], categories: ALL, subresources: SCALE_STATUS };
        apps::v1::ReplicaSet { short_names: &["rs"], categories: ALL, subresources: SCALE_STATUS };
        apps::v1::StatefulSet { short_names: &["sts"], categories: ALL, subresources: SCALE_STATUS };
        #[virtual_resource] authentication::v1::SelfSubjectReview;
        #[virtual_resource] authorization::v1::SelfSubjectAccessReview;
        #[virtual_resource] authorization::v1::SelfSubjectRulesReview;
        autoscaling::v2::HorizontalPodAutoscaler { short_names: &["hpa"], categories: ALL, subresources: STATUS };
        autoscaling::v1::HorizontalPodAutoscaler { short_names: &["hpa"], categories: ALL, subresources: STATUS, storage: Some(("autoscaling", "v2")) };
        batch::v1::CronJob { short_names: &["cj"], categories: ALL, subresources: STATUS };
        batch::v1::Job { categories: ALL, subresources: STATUS };
        coordination::v1::Lease;
        discovery::v1::EndpointSlice;
        events::v1::Event { short_names: &["ev"], storage: Some(("", "v1")) };
        networking::v1::IngressClass;
        networking::v1::Ingress { short_names: &["ing"], subresources: STATUS };
        networking::v1::IPAddress { short_names: &["ip"] };
        networking::v1::NetworkPolicy { short_names: &["netpol"] };
        networking::v1::ServiceCIDR { subresources: STATUS };
        node::v1::RuntimeClass;
        policy::v1::PodDisruptionBudget { short_names: &["pdb"], subresources: STATUS };
        rbac::v1::ClusterRoleBinding;
        rbac::v1::ClusterRole;
        rbac::v1::RoleBinding;
        rbac::v1::Role;
        scheduling::v1::PriorityClass { short_names: &["pc"] };
        storage::v1::CSIDriver;
        storage::v1::CSINode;
        storage::v1::CSIStorageCapacity;
        storage::v1::StorageClass { short_names: &["sc"] };
        storage::v1::VolumeAttachment { subresources: STATUS };
        apiextensions::v1::CustomResourceDefinition { short_names: &["crd", "crds"], categories: &["api-extensions"], subresources: STATUS };
    }
}

/// The preferred version of each group, in discovery order (first listed version wins).
pub fn preferred_version(table: &[ResourceInfo], group: &str) -> Option<&'static str> {
    table.iter().find(|r| r.group == group).map(|r| r.version)
}

/// Groups in discovery order, each with its versions in preference order.
pub fn groups(table: &[ResourceInfo]) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in table {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) => {
                if !versions.contains(&r.version) {
                    versions.push(r.version);
                }
            }
            None => out.push((r.group, vec![r.version])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_upstream_scopes_and_names() {
        let t = builtin();
        let find = |g: &str, v: &str, p: &str| {
            t.iter()
                .find(|r| r.group == g && r.version == v && r.plural == p)
                .cloned()
        };
        let cm = find("", "v1", "configmaps").expect("configmaps");
        assert!(cm.namespaced);
        assert_eq!(cm.kind, "ConfigMap");
        assert_eq!(cm.list_kind, "ConfigMapList");
        let ns = find("", "v1", "namespaces").expect("namespaces");
        assert!(!ns.namespaced);
        assert!(!ns.supports("deletecollection"));
        let deploy = find("apps", "v1", "deployments").expect("deployments");
        assert_eq!(deploy.short_names, &["deploy"]);
        assert_eq!(
            deploy.key("demo".into(), "web"),
            "/registry/apps/deployments/demo/web"
        );
        let ev2 = find("events.k8s.io", "v1", "events").expect("events.k8s.io events");
        assert!(ev2.is_converted());
        assert_eq!(ev2.key_prefix(), "/registry/core/events/");
        assert_eq!(
            groups(&t)
                .iter()
                .find(|(g, _)| *g == "autoscaling")
                .map(|(_, v)| v.clone()),
            Some(vec!["v2", "v1"])
        );
    }

    #[test]
    fn normalize_drops_unknown_fields_and_rejects_wrong_types() {
        let t = builtin();
        let cm = t
            .iter()
            .find(|r| r.plural == "configmaps")
            .expect("configmaps");
        let out = (cm.normalize)(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}, "bogus": 1}))
            .expect("valid configmap");
        assert!(out.get("bogus").is_none());
        assert_eq!(out["data"]["k"], "v");
        assert!(
            (cm.normalize)(serde_json::json!({"metadata": {"name": "a"}, "data": {"k": 5}}))
                .is_err()
        );
    }
}
