//! Unit tests of the generated documents, the HTTP behaviour (ETag, hash, Accept), and the
//! comparison of `/openapi/v2` with the upstream v1.33.1 spec in `../shared`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use http::{Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use super::*;

fn docs() -> &'static Documents {
    static D: OnceLock<Documents> = OnceLock::new();
    D.get_or_init(|| Documents::build(&api::resources::builtin()))
}

fn json(c: &Cached) -> Value {
    serde_json::from_slice(&c.body).expect("valid JSON")
}

#[test]
fn every_served_kind_has_a_schema() {
    let table = api::resources::builtin();
    let defs = schemas::build(&table);
    for r in &table {
        let names = defs
            .names(r)
            .unwrap_or_else(|| panic!("no schema for {}/{} {}", r.group, r.version, r.kind));
        assert!(defs.schemas.contains_key(&names.kind), "{}", names.kind);
        if let Some(list) = &names.list {
            assert!(defs.schemas.contains_key(list), "{list}");
        } else {
            assert!(r.list_kind.is_empty(), "{} has no list schema", r.kind);
        }
    }
}

#[test]
fn v3_index_lists_every_group_version() {
    let index = json(&docs().v3_index);
    for key in [
        "api",
        "api/v1",
        "apis",
        "apis/apps",
        "apis/apps/v1",
        "apis/autoscaling/v2",
    ] {
        let url = index["paths"][key]["serverRelativeURL"]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing from the index"));
        let hash = &docs().v3[key].hash;
        assert_eq!(url, format!("/openapi/v3/{key}?hash={hash}"));
    }
}

#[test]
fn apps_v1_document_describes_deployments() {
    let doc = json(&docs().v3["apis/apps/v1"]);
    assert_eq!(doc["openapi"], "3.0.0");
    let schemas = &doc["components"]["schemas"];
    let deploy = &schemas["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deploy["x-kubernetes-group-version-kind"][0],
        serde_json::json!({"group": "apps", "kind": "Deployment", "version": "v1"})
    );
    assert_eq!(
        deploy["properties"]["spec"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
    );
    let rolling = &schemas["io.k8s.api.apps.v1.RollingUpdateDeployment"];
    assert!(
        rolling["properties"]["maxSurge"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("maximum number of pods"))
    );
    let ios = &schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(ios["x-kubernetes-int-or-string"], true);
    assert!(ios.get("type").is_none());
    let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(containers["x-kubernetes-list-map-keys"][0], "name");
    assert!(schemas["io.k8s.api.apps.v1.DeploymentList"]["properties"]["items"].is_object());
    // Nothing outside apps/v1's closure.
    assert!(schemas.get("io.k8s.api.batch.v1.Job").is_none());

    let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
    assert_eq!(patch["x-kubernetes-action"], "patch");
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["kind"],
        "Deployment"
    );
    let params: Vec<&str> = patch["parameters"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(params.contains(&"fieldValidation"), "{params:?}");
    assert!(
        patch["requestBody"]["content"]["application/strategic-merge-patch+json"]["schema"]["$ref"]
            .is_string()
    );
}

#[test]
fn v2_document_uses_definitions_refs() {
    let doc = json(&docs().v2);
    assert_eq!(doc["swagger"], "2.0");
    let spec = &doc["definitions"]["io.k8s.api.apps.v1.DeploymentSpec"];
    assert_eq!(
        spec["properties"]["template"]["$ref"],
        "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"
    );
    assert_eq!(
        doc["definitions"]["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"],
        "string"
    );
    let ios = &doc["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(ios["format"], "int-or-string");
    assert!(ios.get("x-kubernetes-int-or-string").is_none());
    let text = String::from_utf8_lossy(&docs().v2.body);
    assert!(!text.contains("#/components/schemas/"));
    let list = &doc["paths"]["/api/v1/namespaces/{namespace}/pods"]["get"];
    assert_eq!(list["operationId"], "listCoreV1NamespacedPod");
}

async fn server() -> axum::Router {
    let store: Arc<dyn store::Backend> = Arc::new(store::memory::MemoryBackend::new());
    let server = crate::ApiServer::new(
        store,
        crate::Config::default(),
        Some("secret".into()),
        tokio_util::sync::CancellationToken::new(),
    );
    server.router()
}

async fn get(router: &axum::Router, uri: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = Request::get(uri).header("authorization", "Bearer secret");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    router
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response")
}

#[tokio::test]
async fn http_etag_hash_and_accept() {
    let router = server().await;
    let resp = get(&router, "/openapi/v2", &[("accept", "application/json")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let etag = resp.headers()[header::ETAG]
        .to_str()
        .expect("etag")
        .to_string();
    let resp = get(&router, "/openapi/v2", &[("if-none-match", &etag)]).await;
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    let resp = get(
        &router,
        "/openapi/v2",
        &[(
            "accept",
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    );
    let resp = get(&router, "/openapi/v2", &[("accept", "application/yaml")]).await;
    assert_eq!(resp.status(), StatusCode::NOT_ACCEPTABLE);

    let resp = get(&router, "/openapi/v3", &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let index: Value = serde_json::from_slice(&body).expect("json");
    let url = index["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .expect("api/v1")
        .to_string();
    let resp = get(&router, &url, &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, immutable");
    let resp = get(&router, "/openapi/v3/api/v1?hash=stale", &[]).await;
    assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(resp.headers()[header::LOCATION], url.as_str());
    let resp = get(&router, "/openapi/v3/apis/nope/v1", &[]).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // Anonymous users may not read the documents; a wrong token is refused.
    let anonymous = |uri: &str, token: Option<&str>| {
        let mut req = Request::get(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        router
            .clone()
            .oneshot(req.body(Body::empty()).expect("request"))
    };
    let resp = anonymous("/openapi/v2", None).await.expect("response");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = anonymous("/openapi/v3", Some("wrong"))
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

// ---- comparison with the upstream spec ----

/// Subresources skiff may not serve yet; upstream paths under those a resource does not
/// serve are not compared (any other unserved subresource is a mismatch).
const NOT_SERVED_SUBRESOURCES: &[&str] = &[
    "exec",
    "attach",
    "portforward",
    "proxy",
    "log",
    "eviction",
    "binding",
    "ephemeralcontainers",
    "resize",
    "scale",
    "token",
];

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    if let Some(s) = x.as_str().and_then(|s| s.strip_prefix("#/definitions/")) {
                        out.push(s.to_string());
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

/// `Some((plural, subresource))` when `rest` (the path after a group-version prefix) names
/// a resource path.
fn resource_of(rest: &str) -> Option<(String, Option<String>)> {
    let mut segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    if segs.first() == Some(&"watch") {
        segs.remove(0);
    }
    if segs.len() >= 3 && segs[0] == "namespaces" && segs[1] == "{namespace}" {
        segs.drain(..2);
    }
    let plural = segs.first().filter(|s| !s.is_empty())?.to_string();
    Some((plural, segs.get(2).map(|s| s.to_string())))
}

const EXTENSIONS: &[&str] = &[
    "x-kubernetes-patch-strategy",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "type",
    "format",
    "$ref",
];

#[test]
fn v2_matches_upstream_spec() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/openapi-spec/swagger-v1.33.1.json"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        println!("skipping: ../shared missing");
        return;
    };
    let upstream: Value = serde_json::from_str(&text).expect("upstream spec parses");
    let ours = json(&docs().v2);
    let table = api::resources::builtin();

    let mut gv_plurals: BTreeMap<String, BTreeMap<&str, &api::ResourceInfo>> = BTreeMap::new();
    for r in &table {
        gv_plurals
            .entry(paths::prefix(r.group, r.version))
            .or_default()
            .insert(r.plural, r);
    }
    let mut mismatches: Vec<String> = Vec::new();
    let mut excluded: Vec<String> = Vec::new();
    let mut compared_paths = 0;
    let mut roots: Vec<String> = Vec::new();
    let empty = serde_json::Map::new();
    for (p, item) in upstream["paths"].as_object().unwrap_or(&empty) {
        let Some((prefix, rest)) = gv_plurals
            .keys()
            .find_map(|pfx| p.strip_prefix(pfx.as_str()).map(|rest| (pfx, rest)))
        else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            continue; // `/apis/apps/v1beta1` is not `/apis/apps/v1`
        }
        if !rest.is_empty() && rest != "/" {
            let Some((plural, sub)) = resource_of(rest) else {
                continue;
            };
            let Some(r) = gv_plurals[prefix].get(plural.as_str()) else {
                continue;
            };
            if let Some(sub) = sub
                && (!r.has_subresource(&sub) || crate::openapi::paths::is_connect(&sub))
            {
                if !NOT_SERVED_SUBRESOURCES.contains(&sub.as_str()) {
                    mismatches.push(format!("{p}: subresource {sub} is not served"));
                }
                excluded.push(p.clone());
                continue;
            }
        }
        compared_paths += 1;
        let ops = item.as_object().unwrap_or(&empty);
        let Some(mine) = ours["paths"].get(p) else {
            mismatches.push(format!("missing path {p}"));
            continue;
        };
        for (method, op) in ops {
            if method == "parameters" {
                continue;
            }
            collect_refs(op, &mut roots);
            let Some(my_op) = mine.get(method) else {
                mismatches.push(format!("{p}: missing method {method}"));
                continue;
            };
            for key in ["x-kubernetes-action", "operationId"] {
                if op.get(key) != my_op.get(key) {
                    mismatches.push(format!(
                        "{p} {method}: {key} upstream {} skiff {}",
                        op.get(key).unwrap_or(&Value::Null),
                        my_op.get(key).unwrap_or(&Value::Null)
                    ));
                }
            }
        }
        for method in mine.as_object().unwrap_or(&empty).keys() {
            if method != "parameters" && !ops.contains_key(method) {
                mismatches.push(format!("{p}: extra method {method}"));
            }
        }
    }

    // Definitions reachable from the compared operations.
    let defs = upstream["definitions"].as_object().unwrap_or(&empty);
    let mut seen = BTreeSet::new();
    while let Some(name) = roots.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(d) = defs.get(&name) {
            collect_refs(d, &mut roots);
        }
    }
    for name in &seen {
        let Some(up) = defs.get(name) else {
            continue;
        };
        let Some(my) = ours["definitions"].get(name) else {
            mismatches.push(format!("missing definition {name}"));
            continue;
        };
        let required = |d: &Value| -> BTreeSet<String> {
            d["required"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        if required(up) != required(my) {
            mismatches.push(format!(
                "{name}: required upstream {:?} skiff {:?}",
                required(up),
                required(my)
            ));
        }
        if up.get("x-kubernetes-map-type") != my.get("x-kubernetes-map-type") {
            mismatches.push(format!("{name}: x-kubernetes-map-type differs"));
        }
        let up_props = up["properties"].as_object().unwrap_or(&empty);
        let my_props = my["properties"].as_object().unwrap_or(&empty);
        let up_names: BTreeSet<&String> = up_props.keys().collect();
        let my_names: BTreeSet<&String> = my_props.keys().collect();
        if up_names != my_names {
            mismatches.push(format!(
                "{name}: properties differ: only upstream {:?}, only skiff {:?}",
                up_names.difference(&my_names).collect::<Vec<_>>(),
                my_names.difference(&up_names).collect::<Vec<_>>()
            ));
        }
        for (prop, up_p) in up_props {
            let my_p = my_props.get(prop).unwrap_or(&Value::Null);
            for ext in EXTENSIONS {
                if up_p.get(*ext) != my_p.get(*ext) {
                    mismatches.push(format!(
                        "{name}.{prop}: {ext} upstream {} skiff {}",
                        up_p.get(*ext).unwrap_or(&Value::Null),
                        my_p.get(*ext).unwrap_or(&Value::Null)
                    ));
                }
            }
        }
    }
    println!(
        "compared {compared_paths} upstream paths and {} definitions; excluded {} paths of subresources not served (allowed: {}):",
        seen.len(),
        excluded.len(),
        NOT_SERVED_SUBRESOURCES.join(", ")
    );
    for p in &excluded {
        println!("  excluded {p}");
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches with upstream:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// A few gnostic `openapi.v2` messages (field numbers from gnostic's OpenAPIv2.proto), enough
/// to read the protobuf form back.
mod gnostic_model {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Document {
        #[prost(string, tag = "1")]
        pub swagger: String,
        #[prost(message, optional, tag = "8")]
        pub paths: Option<Paths>,
        #[prost(message, optional, tag = "9")]
        pub definitions: Option<Definitions>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Paths {
        #[prost(message, repeated, tag = "2")]
        pub path: Vec<NamedPathItem>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NamedPathItem {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<PathItem>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PathItem {
        #[prost(message, optional, tag = "8")]
        pub patch: Option<Operation>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Operation {
        #[prost(string, tag = "5")]
        pub operation_id: String,
        #[prost(message, repeated, tag = "13")]
        pub vendor_extension: Vec<NamedAny>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Definitions {
        #[prost(message, repeated, tag = "1")]
        pub additional_properties: Vec<NamedSchema>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NamedSchema {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<Schema>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Schema {
        #[prost(string, tag = "1")]
        pub r#ref: String,
        #[prost(string, tag = "4")]
        pub description: String,
        #[prost(message, optional, tag = "22")]
        pub r#type: Option<TypeItem>,
        #[prost(message, optional, tag = "25")]
        pub properties: Option<Properties>,
        #[prost(message, repeated, tag = "31")]
        pub vendor_extension: Vec<NamedAny>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeItem {
        #[prost(string, repeated, tag = "1")]
        pub value: Vec<String>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Properties {
        #[prost(message, repeated, tag = "1")]
        pub additional_properties: Vec<NamedSchema>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NamedAny {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<Any>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Any {
        #[prost(string, tag = "2")]
        pub yaml: String,
    }
}

#[test]
fn v2_protobuf_decodes_as_a_gnostic_document() {
    use prost::Message;
    let doc = gnostic_model::Document::decode(docs().v2_protobuf.body.clone())
        .expect("a gnostic openapi.v2.Document");
    assert_eq!(doc.swagger, "2.0");
    let defs = doc.definitions.expect("definitions").additional_properties;
    let json_doc = json(&docs().v2);
    assert_eq!(
        defs.len(),
        json_doc["definitions"].as_object().map_or(0, |m| m.len())
    );
    let deploy = defs
        .iter()
        .find(|d| d.name == "io.k8s.api.apps.v1.Deployment")
        .and_then(|d| d.value.clone())
        .expect("Deployment");
    assert_eq!(deploy.r#type.expect("type").value, vec!["object"]);
    let gvk = deploy
        .vendor_extension
        .iter()
        .find(|e| e.name == "x-kubernetes-group-version-kind")
        .and_then(|e| e.value.clone())
        .expect("gvk extension");
    let gvk: Value = serde_json::from_str(&gvk.yaml).expect("JSON text");
    assert_eq!(gvk[0]["kind"], "Deployment");
    let spec = deploy
        .properties
        .expect("properties")
        .additional_properties
        .into_iter()
        .find(|p| p.name == "spec")
        .and_then(|p| p.value)
        .expect("spec");
    assert_eq!(
        spec.r#ref,
        "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    );
    let paths = doc.paths.expect("paths").path;
    let item = paths
        .iter()
        .find(|p| p.name == "/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
        .and_then(|p| p.value.clone())
        .expect("deployment path");
    let patch = item.patch.expect("patch operation");
    assert_eq!(patch.operation_id, "patchAppsV1NamespacedDeployment");
    assert!(
        patch
            .vendor_extension
            .iter()
            .any(|e| e.name == "x-kubernetes-action"
                && e.value.as_ref().is_some_and(|v| v.yaml == "\"patch\""))
    );
}
