//! API discovery shared by the controllers: which resources the server serves, in which
//! versions and with which verbs, read from `/api`, `/apis` and the per-group-version resource
//! lists, tolerating the failure of single group-versions like client-go's
//! `ServerPreferredResources` does.

use std::collections::{BTreeMap, HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::Client;
use kube::discovery::ApiResource;

use crate::Error;

/// One top-level resource (never a subresource) served at one group-version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedResource {
    /// Group, version, kind and plural, ready for `Api::<DynamicObject>::*_with`.
    pub api: ApiResource,
    /// Whether objects of this resource live in namespaces.
    pub namespaced: bool,
    /// The verbs discovery lists for the resource (`get`, `list`, `watch`, `delete`, ...).
    pub verbs: Vec<String>,
}

impl ServedResource {
    /// Whether discovery lists `verb` for this resource.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// Whether discovery lists every one of `verbs` for this resource.
    pub fn supports_all(&self, verbs: &[&str]) -> bool {
        verbs.iter().all(|verb| self.supports(verb))
    }

    /// `plural.group` (`deployments.apps`, `configmaps.` for the core group), as upstream
    /// prints a group-resource in messages.
    pub fn group_resource(&self) -> String {
        format!("{}.{}", self.api.plural, self.api.group)
    }
}

/// A group-version whose resource list could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupVersionFailure {
    /// The group's name (`""` for the core group).
    pub group: String,
    /// `group/version` (or `v1` for the core group).
    pub group_version: String,
    /// What went wrong, for conditions and logs.
    pub message: String,
}

/// Everything one discovery pass found.
#[derive(Clone, Debug, Default)]
pub struct DiscoveredResources {
    /// One entry per group + resource: the group's preferred version if it serves the
    /// resource, else the first version (in the server's order) that does.
    preferred: Vec<ServedResource>,
    /// Every resource at every served version.
    all: Vec<ServedResource>,
    /// `(apiVersion, kind)` → index into `all`.
    by_version_kind: HashMap<(String, String), usize>,
    /// `(group, kind)` → index into `preferred`.
    by_group_kind: HashMap<(String, String), usize>,
    /// Group-versions whose resource lists failed to load.
    failures: Vec<GroupVersionFailure>,
    /// Resource lists whose `groupVersion` could not be parsed.
    parse_failures: Vec<String>,
}

/// What the server said about one group: its versions in the server's order and, for each,
/// the resource list or why it could not be read. The input of [`DiscoveredResources::assemble`].
#[derive(Clone, Debug)]
pub struct GroupListing {
    /// The group's name (`""` for the core group).
    pub name: String,
    /// The version the server prefers for this group, if it says.
    pub preferred_version: Option<String>,
    /// `(version, resource list or error message)` in the server's order.
    pub versions: Vec<(String, Result<APIResourceList, String>)>,
}

impl DiscoveredResources {
    /// Builds the result from raw listings. Pure: unit tests feed it directly.
    pub fn assemble(groups: Vec<GroupListing>) -> Self {
        let mut out = DiscoveredResources::default();
        // group-resource → (index into preferred, came from the preferred version?)
        let mut chosen: BTreeMap<(String, String), (usize, bool)> = BTreeMap::new();
        for group in groups {
            for (version, listing) in group.versions {
                let group_version = if group.name.is_empty() {
                    version.clone()
                } else {
                    format!("{}/{}", group.name, version)
                };
                let list = match listing {
                    Ok(list) => list,
                    Err(message) => {
                        out.failures.push(GroupVersionFailure {
                            group: group.name.clone(),
                            group_version,
                            message,
                        });
                        continue;
                    }
                };
                if parse_api_version(&list.group_version).is_none() {
                    out.parse_failures.push(format!(
                        "unexpected GroupVersion string: {}",
                        list.group_version
                    ));
                    continue;
                }
                let is_preferred = group.preferred_version.as_deref() == Some(version.as_str());
                for resource in &list.resources {
                    if resource.name.contains('/') {
                        continue; // a subresource such as pods/status
                    }
                    let served = ServedResource {
                        api: ApiResource {
                            group: group.name.clone(),
                            version: version.clone(),
                            api_version: group_version.clone(),
                            kind: resource.kind.clone(),
                            plural: resource.name.clone(),
                        },
                        namespaced: resource.namespaced,
                        verbs: resource.verbs.clone(),
                    };
                    out.by_version_kind
                        .entry((group_version.clone(), resource.kind.clone()))
                        .or_insert(out.all.len());
                    out.all.push(served.clone());
                    let key = (group.name.clone(), resource.name.clone());
                    match chosen.get(&key) {
                        None => {
                            chosen.insert(key, (out.preferred.len(), is_preferred));
                            out.preferred.push(served);
                        }
                        Some(&(index, false)) if is_preferred => {
                            chosen.insert(key, (index, true));
                            out.preferred[index] = served;
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        for (index, served) in out.preferred.iter().enumerate() {
            out.by_group_kind
                .entry((served.api.group.clone(), served.api.kind.clone()))
                .or_insert(index);
        }
        out
    }

    /// One entry per group + resource, at the version to use for it.
    pub fn preferred(&self) -> &[ServedResource] {
        &self.preferred
    }

    /// The resource serving `kind` at `api_version`, as an owner reference names it. If that
    /// exact version is not served, falls back to the same group and kind at the preferred
    /// version: it is the same object under another version.
    pub fn lookup_kind(&self, api_version: &str, kind: &str) -> Option<&ServedResource> {
        if let Some(&index) = self
            .by_version_kind
            .get(&(api_version.to_string(), kind.to_string()))
        {
            return self.all.get(index);
        }
        let (group, _) = parse_api_version(api_version)?;
        let index = *self
            .by_group_kind
            .get(&(group.to_string(), kind.to_string()))?;
        self.preferred.get(index)
    }

    /// Group-versions whose resource lists failed to load.
    pub fn failures(&self) -> &[GroupVersionFailure] {
        &self.failures
    }

    /// Groups with at least one failed group-version.
    pub fn failed_groups(&self) -> HashSet<&str> {
        self.failures.iter().map(|f| f.group.as_str()).collect()
    }

    /// Resource lists whose `groupVersion` could not be parsed, as messages.
    pub fn parse_failures(&self) -> &[String] {
        &self.parse_failures
    }
}

/// Splits `apps/v1` into `("apps", "v1")` and `v1` into `("", "v1")`; `None` if malformed.
pub fn parse_api_version(api_version: &str) -> Option<(&str, &str)> {
    let (group, version) = match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    };
    if version.is_empty()
        || version.contains('/')
        || (api_version.contains('/') && group.is_empty())
    {
        return None;
    }
    Some((group, version))
}

/// Runs one discovery pass against the server. Fails only if the group lists themselves
/// (`/api`, `/apis`) cannot be read; a failing group-version is recorded in the result.
pub async fn discover(client: &Client) -> Result<DiscoveredResources, Error> {
    let mut groups = Vec::new();

    let core = client
        .list_core_api_versions()
        .await
        .map_err(Error::Discovery)?;
    let mut core_versions = Vec::new();
    for version in &core.versions {
        let listing = client
            .list_core_api_resources(version)
            .await
            .map_err(|e| e.to_string());
        core_versions.push((version.clone(), listing));
    }
    groups.push(GroupListing {
        name: String::new(),
        preferred_version: Some("v1".to_string()),
        versions: core_versions,
    });

    let api_groups = client.list_api_groups().await.map_err(Error::Discovery)?;
    for group in api_groups.groups {
        let mut versions = Vec::new();
        for version in &group.versions {
            let listing = client
                .list_api_group_resources(&version.group_version)
                .await
                .map_err(|e| e.to_string());
            versions.push((version.version.clone(), listing));
        }
        groups.push(GroupListing {
            preferred_version: group.preferred_version.map(|v| v.version),
            name: group.name,
            versions,
        });
    }
    Ok(DiscoveredResources::assemble(groups))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource;

    /// An `APIResource` entry as a discovery document lists it.
    pub(crate) fn api_resource(
        name: &str,
        kind: &str,
        namespaced: bool,
        verbs: &[&str],
    ) -> APIResource {
        APIResource {
            name: name.to_string(),
            kind: kind.to_string(),
            namespaced,
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        }
    }

    /// A resource list for one group-version.
    pub(crate) fn list(group_version: &str, resources: Vec<APIResource>) -> APIResourceList {
        APIResourceList {
            group_version: group_version.to_string(),
            resources,
        }
    }

    const ALL_VERBS: &[&str] = &[
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];

    /// A small server: core v1, apps v1, autoscaling v2 (preferred) + v1, a broken metrics group.
    pub(crate) fn sample() -> DiscoveredResources {
        DiscoveredResources::assemble(vec![
            GroupListing {
                name: String::new(),
                preferred_version: Some("v1".into()),
                versions: vec![(
                    "v1".into(),
                    Ok(list(
                        "v1",
                        vec![
                            api_resource("pods", "Pod", true, ALL_VERBS),
                            api_resource("pods/status", "Pod", true, &["get", "patch", "update"]),
                            api_resource("configmaps", "ConfigMap", true, ALL_VERBS),
                            api_resource("events", "Event", true, ALL_VERBS),
                            api_resource(
                                "namespaces",
                                "Namespace",
                                false,
                                &[
                                    "create", "delete", "get", "list", "patch", "update", "watch",
                                ],
                            ),
                            api_resource("bindings", "Binding", true, &["create"]),
                        ],
                    )),
                )],
            },
            GroupListing {
                name: "apps".into(),
                preferred_version: Some("v1".into()),
                versions: vec![(
                    "v1".into(),
                    Ok(list(
                        "apps/v1",
                        vec![
                            api_resource("deployments", "Deployment", true, ALL_VERBS),
                            api_resource("replicasets", "ReplicaSet", true, ALL_VERBS),
                        ],
                    )),
                )],
            },
            GroupListing {
                name: "autoscaling".into(),
                preferred_version: Some("v2".into()),
                versions: vec![
                    (
                        "v1".into(),
                        Ok(list(
                            "autoscaling/v1",
                            vec![
                                api_resource(
                                    "horizontalpodautoscalers",
                                    "HorizontalPodAutoscaler",
                                    true,
                                    ALL_VERBS,
                                ),
                                api_resource("onlyinv1s", "OnlyInV1", false, ALL_VERBS),
                            ],
                        )),
                    ),
                    (
                        "v2".into(),
                        Ok(list(
                            "autoscaling/v2",
                            vec![api_resource(
                                "horizontalpodautoscalers",
                                "HorizontalPodAutoscaler",
                                true,
                                ALL_VERBS,
                            )],
                        )),
                    ),
                ],
            },
            GroupListing {
                name: "metrics.k8s.io".into(),
                preferred_version: Some("v1beta1".into()),
                versions: vec![("v1beta1".into(), Err("service unavailable".into()))],
            },
            GroupListing {
                name: "broken".into(),
                preferred_version: Some("v1".into()),
                versions: vec![("v1".into(), Ok(list("broken/v1/extra", vec![])))],
            },
        ])
    }

    fn preferred_of(found: &DiscoveredResources, group: &str, plural: &str) -> Option<String> {
        found
            .preferred()
            .iter()
            .find(|r| r.api.group == group && r.api.plural == plural)
            .map(|r| r.api.api_version.clone())
    }

    #[test]
    fn preferred_version_wins_for_resources_served_twice() {
        let found = sample();
        let cases = [
            (
                "hpa is taken from the preferred autoscaling/v2",
                "autoscaling",
                "horizontalpodautoscalers",
                Some("autoscaling/v2"),
            ),
            (
                "a resource only in a non-preferred version is still listed",
                "autoscaling",
                "onlyinv1s",
                Some("autoscaling/v1"),
            ),
            ("core pods come from v1", "", "pods", Some("v1")),
            (
                "subresources are never listed as resources",
                "",
                "pods/status",
                None,
            ),
            (
                "a group whose list failed contributes nothing",
                "metrics.k8s.io",
                "pods",
                None,
            ),
        ];
        for (case, group, plural, want) in cases {
            assert_eq!(
                preferred_of(&found, group, plural).as_deref(),
                want,
                "{case}"
            );
        }
        let hpas = found
            .preferred()
            .iter()
            .filter(|r| r.api.plural == "horizontalpodautoscalers")
            .count();
        assert_eq!(hpas, 1, "each group-resource appears once");
    }

    #[test]
    fn failures_are_recorded_per_group_version() {
        let found = sample();
        assert_eq!(found.failures().len(), 1);
        assert_eq!(found.failures()[0].group_version, "metrics.k8s.io/v1beta1");
        assert!(found.failed_groups().contains("metrics.k8s.io"));
        assert_eq!(
            found.parse_failures(),
            ["unexpected GroupVersion string: broken/v1/extra"]
        );
    }

    #[test]
    fn owner_kinds_resolve_at_exact_or_fallback_versions() {
        let found = sample();
        let cases = [
            (
                "exact version resolves",
                "apps/v1",
                "ReplicaSet",
                Some("apps/v1"),
            ),
            (
                "non-preferred served version resolves exactly",
                "autoscaling/v1",
                "HorizontalPodAutoscaler",
                Some("autoscaling/v1"),
            ),
            (
                "unserved version of a served kind falls back to the preferred one",
                "apps/v1beta2",
                "Deployment",
                Some("apps/v1"),
            ),
            ("core kinds resolve", "v1", "ConfigMap", Some("v1")),
            (
                "unknown kinds do not resolve",
                "example.com/v1",
                "Widget",
                None,
            ),
            (
                "malformed apiVersions do not resolve",
                "a/b/c",
                "Deployment",
                None,
            ),
        ];
        for (case, api_version, kind, want) in cases {
            let got = found
                .lookup_kind(api_version, kind)
                .map(|r| r.api.api_version.clone());
            assert_eq!(got.as_deref(), want, "{case}");
        }
    }

    #[test]
    fn api_versions_parse_like_upstream() {
        let cases = [
            ("core version has an empty group", "v1", Some(("", "v1"))),
            (
                "group version splits at the slash",
                "apps/v1",
                Some(("apps", "v1")),
            ),
            ("two slashes are malformed", "a/b/c", None),
            ("an empty version is malformed", "apps/", None),
            ("an empty group with a slash is malformed", "/v1", None),
            ("the empty string is malformed", "", None),
        ];
        for (case, input, want) in cases {
            assert_eq!(parse_api_version(input), want, "{case}");
        }
    }
}
