//! Discovery documents: `/api`, `/apis`, `/apis/{group}`, the per group-version resource
//! lists, and the aggregated discovery v2 form kubectl asks for first.

use api::ResourceInfo;
use api::resources::groups;
use serde_json::{Value, json};

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// `/api`: the core group's versions.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_entry(group: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": group_version(group, v), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": vs,
        "preferredVersion": {"groupVersion": group_version(group, versions[0]), "version": versions[0]},
    })
}

/// `/apis`: every named group.
pub fn group_list(table: &[ResourceInfo]) -> Value {
    let gs: Vec<Value> = groups(table)
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_entry(g, &vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs})
}

/// `/apis/{group}`, or `None` when the group is not served.
pub fn group(table: &[ResourceInfo], name: &str) -> Option<Value> {
    let (g, vs) = groups(table)
        .into_iter()
        .find(|(g, _)| *g == name && !g.is_empty())?;
    let mut entry = group_entry(g, &vs);
    entry["kind"] = json!("APIGroup");
    entry["apiVersion"] = json!("v1");
    Some(entry)
}

/// `/api/v1` or `/apis/{group}/{version}`, or `None` when not served.
pub fn resource_list(table: &[ResourceInfo], group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in table
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        resources.push(entry);
        for sub in r.subresources.iter().filter_map(|s| r.subresource(s)) {
            let mut e = json!({
                "name": format!("{}/{}", r.plural, sub.name),
                "singularName": "",
                "namespaced": r.namespaced,
            });
            // The kind's group/version are named only where they differ from the parent's.
            if sub.group != r.group || sub.version != r.version {
                e["group"] = json!(sub.group);
                e["version"] = json!(sub.version);
            }
            e["kind"] = json!(sub.kind);
            e["verbs"] = json!(sub.verbs);
            resources.push(e);
        }
    }
    if resources.is_empty() {
        return None;
    }
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version(group, version), "resources": resources}),
    )
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2` APIGroupDiscoveryList) for `/api`
/// (`core = true`) or `/apis`.
pub fn aggregated(table: &[ResourceInfo], core: bool) -> Value {
    let items: Vec<Value> = groups(table)
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = table
                        .iter()
                        .filter(|r| r.group == g && r.version == *v)
                        .map(|r| {
                            let kind = json!({"group": r.group, "version": r.version, "kind": r.kind});
                            let mut e = json!({
                                "resource": r.plural,
                                "responseKind": kind,
                                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": r.singular,
                                "verbs": r.verbs,
                            });
                            if !r.short_names.is_empty() {
                                e["shortNames"] = json!(r.short_names);
                            }
                            if !r.categories.is_empty() {
                                e["categories"] = json!(r.categories);
                            }
                            if !r.subresources.is_empty() {
                                e["subresources"] = r
                                    .subresources
                                    .iter()
                                    .filter_map(|s| r.subresource(s))
                                    .map(|s| json!({"subresource": s.name, "responseKind": {"group": s.group, "version": s.version, "kind": s.kind}, "verbs": s.verbs}))
                                    .collect();
                            }
                            e
                        })
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_lists_groups_resources_and_subresources() {
        let t = api::resources::builtin();
        let gl = group_list(&t);
        let names: Vec<&str> = gl["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["name"].as_str())
            .collect();
        for g in [
            "apps",
            "batch",
            "policy",
            "rbac.authorization.k8s.io",
            "networking.k8s.io",
            "storage.k8s.io",
            "coordination.k8s.io",
            "events.k8s.io",
            "discovery.k8s.io",
            "autoscaling",
            "scheduling.k8s.io",
            "node.k8s.io",
            "apiextensions.k8s.io",
        ] {
            assert!(names.contains(&g), "group {g} is missing from /apis");
        }
        let autoscaling = group(&t, "autoscaling").expect("autoscaling group");
        assert_eq!(autoscaling["preferredVersion"]["version"], "v2");
        let core = resource_list(&t, "", "v1").expect("core v1");
        let pods = core["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["name"] == "pods")
            .expect("pods");
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert!(
            core["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["name"] == "namespaces/finalize")
        );
        let agg = aggregated(&t, true);
        assert_eq!(agg["items"][0]["metadata"]["name"], "");
        assert!(resource_list(&t, "nope", "v1").is_none());
    }
}
