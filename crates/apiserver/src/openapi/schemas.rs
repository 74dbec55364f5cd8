//! The schema definitions: k8s-openapi's `schemars` schemas (shapes and field descriptions,
//! already named like upstream: `io.k8s.api.apps.v1.Deployment`), list kinds built here (the
//! model's `List<T>` has no schema), and the Kubernetes extensions added from skiff's own
//! table of facts (`api::schema`).
//!
//! The output is one map of definitions in a neutral form: `$ref`s point at
//! `#/components/schemas/<name>` and may have sibling keys (`description`); the v2 and v3
//! renderers in `document` turn that into each format's conventions.

use std::collections::BTreeMap;

use api::ResourceInfo;
use api::schema;
use k8s_openapi::Resource;
use k8s_openapi::schemars::JsonSchema;
use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

/// Prefix of references in the neutral form.
pub const REF_PREFIX: &str = "#/components/schemas/";

/// Meta definitions every group-version document refers to.
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
pub const API_GROUP: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup";
pub const API_GROUP_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList";
pub const API_VERSIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions";
/// Quantity and IntOrString are rendered differently in v2 and v3.
pub const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
pub const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// A typed kind skiff knows how to describe: its group/version/kind and how to add its
/// schema (and everything it refers to) to a generator.
struct Typed {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    add: fn(&mut SchemaGenerator) -> String,
}

fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

fn typed<T: Resource + JsonSchema>() -> Typed {
    Typed {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        add: add::<T>,
    }
}

/// Every built-in kind with a schema. The resource table (`api::resources`) decides which of
/// them are served; a served kind missing here is caught by a test.
fn typed_kinds() -> Vec<Typed> {
    use k8s_openapi::api::{
        apps, authentication, authorization, autoscaling, batch, coordination, core, discovery,
        events, networking, node, policy, rbac, scheduling, storage,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
    vec![
        typed::<core::v1::Binding>(),
        typed::<authentication::v1::SelfSubjectReview>(),
        typed::<authentication::v1::TokenRequest>(),
        typed::<authorization::v1::SelfSubjectAccessReview>(),
        typed::<authorization::v1::SelfSubjectRulesReview>(),
        typed::<autoscaling::v1::Scale>(),
        typed::<policy::v1::Eviction>(),
        typed::<core::v1::ConfigMap>(),
        typed::<core::v1::Endpoints>(),
        typed::<core::v1::Event>(),
        typed::<core::v1::LimitRange>(),
        typed::<core::v1::Namespace>(),
        typed::<core::v1::Node>(),
        typed::<core::v1::PersistentVolumeClaim>(),
        typed::<core::v1::PersistentVolume>(),
        typed::<core::v1::Pod>(),
        typed::<core::v1::PodTemplate>(),
        typed::<core::v1::ReplicationController>(),
        typed::<core::v1::ResourceQuota>(),
        typed::<core::v1::Secret>(),
        typed::<core::v1::ServiceAccount>(),
        typed::<core::v1::Service>(),
        typed::<apps::v1::ControllerRevision>(),
        typed::<apps::v1::DaemonSet>(),
        typed::<apps::v1::Deployment>(),
        typed::<apps::v1::ReplicaSet>(),
        typed::<apps::v1::StatefulSet>(),
        typed::<autoscaling::v2::HorizontalPodAutoscaler>(),
        typed::<autoscaling::v1::HorizontalPodAutoscaler>(),
        typed::<batch::v1::CronJob>(),
        typed::<batch::v1::Job>(),
        typed::<coordination::v1::Lease>(),
        typed::<discovery::v1::EndpointSlice>(),
        typed::<events::v1::Event>(),
        typed::<networking::v1::IngressClass>(),
        typed::<networking::v1::Ingress>(),
        typed::<networking::v1::IPAddress>(),
        typed::<networking::v1::NetworkPolicy>(),
        typed::<networking::v1::ServiceCIDR>(),
        typed::<node::v1::RuntimeClass>(),
        typed::<policy::v1::PodDisruptionBudget>(),
        typed::<rbac::v1::ClusterRoleBinding>(),
        typed::<rbac::v1::ClusterRole>(),
        typed::<rbac::v1::RoleBinding>(),
        typed::<rbac::v1::Role>(),
        typed::<scheduling::v1::PriorityClass>(),
        typed::<storage::v1::CSIDriver>(),
        typed::<storage::v1::CSINode>(),
        typed::<storage::v1::CSIStorageCapacity>(),
        typed::<storage::v1::StorageClass>(),
        typed::<storage::v1::VolumeAttachment>(),
        typed::<apiextensions::v1::CustomResourceDefinition>(),
    ]
}

/// The definition names of one served resource.
#[derive(Debug, Clone)]
pub struct KindNames {
    /// e.g. `io.k8s.api.apps.v1.Deployment`.
    pub kind: String,
    /// e.g. `io.k8s.api.apps.v1.DeploymentList`; `None` for create-only kinds.
    pub list: Option<String>,
}

/// All definitions for a resource table, plus each served resource's definition names
/// (keyed by `(group, version, kind)`).
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    /// Definition name → schema (neutral form).
    pub schemas: BTreeMap<String, Value>,
    /// `(group, version, kind)` → names.
    pub kinds: BTreeMap<(String, String, String), KindNames>,
}

impl Definitions {
    /// The names of one served kind.
    pub fn names(&self, r: &ResourceInfo) -> Option<&KindNames> {
        self.names_of(r.group, r.version, r.kind)
    }

    /// The names of a kind by group/version/kind.
    pub fn names_of(&self, group: &str, version: &str, kind: &str) -> Option<&KindNames> {
        self.kinds
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
    }

    /// `names` plus every definition reachable from them, in name order.
    pub fn closure<'a>(&self, roots: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut seen = std::collections::BTreeSet::new();
        let mut todo: Vec<String> = roots.into_iter().map(str::to_string).collect();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(s) = self.schemas.get(&name) {
                collect_refs(s, &mut todo);
            }
        }
        seen.into_iter()
            .filter(|n| self.schemas.contains_key(n))
            .collect()
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    if let Some(name) = x.as_str().and_then(|s| s.strip_prefix(REF_PREFIX)) {
                        out.push(name.to_string());
                    }
                } else {
                    collect_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Builds every definition the served resources of `table` need.
pub fn build(table: &[ResourceInfo]) -> Definitions {
    let settings = SchemaSettings::openapi3().with(|s| {
        s.meta_schema = None;
        // Keep `$ref` siblings (descriptions) and plain JSON Schema; the renderers adapt them.
        s.transforms.clear();
    });
    let mut generator = SchemaGenerator::new(settings);
    let known = typed_kinds();
    let mut out = Definitions::default();
    let mut gvks: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut lists: Vec<(String, String, &ResourceInfo)> = Vec::new();
    // The served kinds, and the kinds of their subresources (`Scale`, `Eviction`, ...).
    let mut wanted: Vec<(&str, &str, &str, Option<&ResourceInfo>)> = Vec::new();
    for r in table {
        wanted.push((r.group, r.version, r.kind, Some(r)));
        for sub in r.subresources {
            if let Some(s) = r.subresource(sub) {
                wanted.push((s.group, s.version, s.kind, None));
            }
        }
    }
    for (group, version, kind, resource) in wanted {
        let key = (group.to_string(), version.to_string(), kind.to_string());
        if out.kinds.contains_key(&key) {
            continue;
        }
        let Some(t) = known
            .iter()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
        else {
            continue;
        };
        let kind_name = (t.add)(&mut generator);
        gvks.entry(kind_name.clone())
            .or_default()
            .push(json!({"group": group, "kind": kind, "version": version}));
        let list = resource.filter(|r| !r.list_kind.is_empty()).map(|r| {
            let list_name = format!(
                "{}{}",
                kind_name.strip_suffix(t.kind).unwrap_or(&kind_name),
                r.list_kind
            );
            gvks.entry(list_name.clone())
                .or_default()
                .push(json!({"group": r.group, "kind": r.list_kind, "version": r.version}));
            lists.push((kind_name.clone(), list_name.clone(), r));
            list_name
        });
        out.kinds.insert(
            key,
            KindNames {
                kind: kind_name,
                list,
            },
        );
    }
    add::<k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>(&mut generator);
    add::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>(&mut generator);
    add::<k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent<Value>>(&mut generator);
    add::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Patch>(&mut generator);
    add::<k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList>(&mut generator);
    add::<k8s_openapi::apimachinery::pkg::apis::meta::v1::APIGroup>(&mut generator);
    add::<k8s_openapi::apimachinery::pkg::apis::meta::v1::APIGroupList>(&mut generator);
    add::<k8s_openapi::apimachinery::pkg::apis::meta::v1::APIVersions>(&mut generator);
    add::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta>(&mut generator);

    // Every served group-version accepts DeleteOptions and streams WatchEvents.
    let mut gvs: Vec<(&str, &str)> = Vec::new();
    for r in table {
        if !gvs.contains(&(r.group, r.version)) {
            gvs.push((r.group, r.version));
        }
    }
    gvs.sort();
    for (g, v) in &gvs {
        for (def, kind) in [
            (DELETE_OPTIONS, "DeleteOptions"),
            (WATCH_EVENT, "WatchEvent"),
        ] {
            gvks.entry(def.to_string())
                .or_default()
                .push(json!({"group": g, "kind": kind, "version": v}));
        }
    }

    for (name, schema) in generator.definitions() {
        out.schemas.insert(name.clone(), schema.clone());
    }
    for (kind_name, list_name, r) in lists {
        if out.schemas.contains_key(&list_name) {
            continue;
        }
        let list = list_schema(out.schemas.get(&kind_name), &kind_name, r);
        out.schemas.insert(list_name, list);
    }
    // Custom resources: the served version's openAPIV3Schema, named as upstream
    // (reversed group, version, kind: `com.example.v1.Foo`), with the object envelope.
    for r in table {
        let Some(cr) = &r.custom else { continue };
        let reversed: Vec<&str> = r.group.split('.').rev().collect();
        let kind_name = format!("{}.{}.{}", reversed.join("."), r.version, r.kind);
        let list_name = format!("{}.{}.{}", reversed.join("."), r.version, r.list_kind);
        let mut schema = cr
            .schema
            .clone()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({"type": "object"}));
        schema["properties"]["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"});
        schema["properties"]["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"});
        schema["properties"]["metadata"] = json!({"$ref": format!("{REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"), "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"});
        let list = list_schema(Some(&schema), &kind_name, r);
        gvks.entry(kind_name.clone())
            .or_default()
            .push(json!({"group": r.group, "kind": r.kind, "version": r.version}));
        gvks.entry(list_name.clone())
            .or_default()
            .push(json!({"group": r.group, "kind": r.list_kind, "version": r.version}));
        out.schemas.insert(kind_name.clone(), schema);
        out.schemas.insert(list_name.clone(), list);
        out.kinds.insert(
            (
                r.group.to_string(),
                r.version.to_string(),
                r.kind.to_string(),
            ),
            KindNames {
                kind: kind_name,
                list: Some(list_name),
            },
        );
    }
    for (name, schema) in out.schemas.iter_mut() {
        decorate(name, schema);
        if let Some(list) = gvks.get(name)
            && let Some(obj) = schema.as_object_mut()
        {
            obj.insert(
                "x-kubernetes-group-version-kind".into(),
                Value::Array(list.clone()),
            );
        }
    }
    out
}

/// The schema of `<Kind>List`: `apiVersion`, `kind`, `metadata` (ListMeta) and `items`.
fn list_schema(kind: Option<&Value>, kind_name: &str, r: &ResourceInfo) -> Value {
    let prop = |p: &str| {
        kind.and_then(|k| k.pointer(&format!("/properties/{p}")))
            .cloned()
            .unwrap_or_else(|| json!({"type": "string"}))
    };
    json!({
        "description": format!("{} is a list of {} objects.", r.list_kind, r.kind),
        "type": "object",
        "properties": {
            "apiVersion": prop("apiVersion"),
            "items": {
                "description": format!("Items is the list of {} objects.", r.kind),
                "type": "array",
                "items": {"$ref": format!("{REF_PREFIX}{kind_name}")},
            },
            "kind": prop("kind"),
            "metadata": {
                "$ref": format!("{REF_PREFIX}{LIST_META}"),
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            },
        },
        "required": ["items"],
    })
}

/// Extension facts upstream publishes that `api::schema`'s table does not carry (yet). Each
/// applies only where the table gave the property no value for that extension, so entries
/// become inert once the table has them.
/// * `metav1.Status.details` is tagged `+listType=atomic` although it is not a list.
/// * `PersistentVolumeSpec.claimRef` is tagged `+mapType=granular` (the table has no marker).
const LOCAL_FACTS: &[(&str, &str, &str, &str)] = &[
    (
        "io.k8s.api.core.v1.PersistentVolumeSpec",
        "claimRef",
        "x-kubernetes-map-type",
        "granular",
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
        "details",
        LIST_TYPE,
        "atomic",
    ),
];
const LIST_TYPE: &str = "x-kubernetes-list-type";

/// `required` lists where k8s-openapi's model differs from the API: it marks fields with a
/// Go default (`LocalObjectReference.name`, `""`) required and fields that may be unset in
/// some versions optional. Upstream's lists, by definition.
const REQUIRED: &[(&str, &[&str])] = &[
    ("io.k8s.api.core.v1.ConfigMapEnvSource", &[]),
    ("io.k8s.api.core.v1.ConfigMapKeySelector", &["key"]),
    ("io.k8s.api.core.v1.ConfigMapProjection", &[]),
    ("io.k8s.api.core.v1.ConfigMapVolumeSource", &[]),
    ("io.k8s.api.core.v1.Event", &["metadata", "involvedObject"]),
    ("io.k8s.api.core.v1.LocalObjectReference", &[]),
    ("io.k8s.api.core.v1.SecretEnvSource", &[]),
    ("io.k8s.api.core.v1.SecretKeySelector", &["key"]),
    ("io.k8s.api.core.v1.SecretProjection", &[]),
    ("io.k8s.api.events.v1.Event", &["eventTime"]),
    (
        "io.k8s.api.networking.v1.NetworkPolicySpec",
        &["podSelector"],
    ),
];

fn apply_local_facts(name: &str, obj: &mut Map<String, Value>) {
    for (def_name, field, ext, value) in LOCAL_FACTS {
        if *def_name == name
            && let Some(Value::Object(p)) =
                obj.get_mut("properties").and_then(|p| p.get_mut(*field))
        {
            p.entry(*ext).or_insert_with(|| (*value).into());
        }
    }
}

/// Adds the Kubernetes extensions from skiff's facts table to one definition, and fixes up
/// what the model's schema says differently from the API (top-level `metadata` is optional
/// on the wire; Quantity is a string or a number).
fn decorate(name: &str, schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if name == QUANTITY {
        // Like upstream's v3 documents; the v2 renderer turns it into `type: string`.
        obj.remove("x-kubernetes-int-or-string");
        obj.insert(
            "oneOf".into(),
            json!([{"type": "string"}, {"type": "number"}]),
        );
    }
    let is_kind = obj
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.contains_key("apiVersion") && p.contains_key("kind"));
    if is_kind && let Some(Value::Array(req)) = obj.get_mut("required") {
        req.retain(|f| f != "metadata");
        if req.is_empty() {
            obj.remove("required");
        }
    }
    if let Some((_, required)) = REQUIRED.iter().find(|(n, _)| *n == name) {
        if required.is_empty() {
            obj.remove("required");
        } else {
            obj.insert("required".into(), json!(required));
        }
    }
    let Some(def) = schema::definition(name) else {
        apply_local_facts(name, obj);
        return;
    };
    if let Some(t) = def.struct_type {
        obj.insert("x-kubernetes-map-type".into(), t.as_str().into());
    }
    let Some(Value::Object(props)) = obj.get_mut("properties") else {
        apply_local_facts(name, obj);
        return;
    };
    for (field_name, prop) in props.iter_mut() {
        let Some(field) = def.field(field_name) else {
            continue;
        };
        let Some(p) = prop.as_object_mut() else {
            continue;
        };
        if let Some(s) = field.patch_strategy {
            p.insert("x-kubernetes-patch-strategy".into(), s.as_str().into());
        }
        if let Some(k) = field.patch_merge_key {
            p.insert("x-kubernetes-patch-merge-key".into(), k.into());
        }
        if let Some(t) = field.list_type {
            p.insert("x-kubernetes-list-type".into(), t.as_str().into());
        }
        if !field.map_keys.is_empty() {
            p.insert(
                "x-kubernetes-list-map-keys".into(),
                Value::Array(field.map_keys.iter().map(|k| (*k).into()).collect()),
            );
        }
        if let Some(t) = field.map_type {
            p.insert("x-kubernetes-map-type".into(), t.as_str().into());
        }
    }
    apply_local_facts(name, obj);
}

/// Keys sorted recursively, so documents are stable and diff cleanly.
pub fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}
