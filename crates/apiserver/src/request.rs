//! Parsing a request into what it asks for: the API path (group, version, namespace,
//! resource, name, subresource) as kube-apiserver's RequestInfoFactory reads it, the verb,
//! and the query parameters the verbs understand.

use std::collections::HashMap;

use api::ApiError;
use http::Method;

/// Subresources of namespaces that follow `/namespaces/{name}/` (anything else there is a
/// namespaced resource).
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// A resource request path, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourcePath {
    /// `""` for `/api`.
    pub group: String,
    /// `v1`, `v2`...
    pub version: String,
    /// The namespace from `/namespaces/{ns}/...` (or the namespace object's own name).
    pub namespace: Option<String>,
    /// Plural resource name.
    pub resource: String,
    /// Object name, when addressing one object.
    pub name: Option<String>,
    /// Subresource (`status`, `scale`, ...).
    pub subresource: Option<String>,
    /// Legacy `/watch/` path prefix was used.
    pub legacy_watch: bool,
}

/// What a path under `/api` or `/apis` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiPath {
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`
    GroupVersion { group: String, version: String },
    /// A resource or object.
    Resource(ResourcePath),
}

/// Parses a path that starts with `/api` or `/apis`; `None` for anything else.
pub fn parse_path(path: &str) -> Option<ApiPath> {
    let trimmed = path.trim_end_matches('/');
    let mut parts: Vec<&str> = trimmed.split('/').skip(1).collect();
    let prefix = parts.first().copied()?;
    parts.remove(0);
    let (group, rest): (String, Vec<&str>) = match prefix {
        "api" => {
            if parts.is_empty() {
                return Some(ApiPath::CoreVersions);
            }
            (String::new(), parts)
        }
        "apis" => {
            if parts.is_empty() {
                return Some(ApiPath::Groups);
            }
            let g = parts.remove(0).to_string();
            if parts.is_empty() {
                return Some(ApiPath::Group(g));
            }
            (g, parts)
        }
        _ => return None,
    };
    if rest.iter().any(|p| p.is_empty()) {
        return Some(ApiPath::Resource(ResourcePath {
            resource: String::new(),
            ..Default::default()
        }));
    }
    let version = rest[0].to_string();
    let mut cur: Vec<&str> = rest[1..].to_vec();
    if cur.is_empty() {
        return Some(ApiPath::GroupVersion { group, version });
    }
    let mut rp = ResourcePath {
        group,
        version,
        ..Default::default()
    };
    if cur[0] == "watch" {
        rp.legacy_watch = true;
        cur.remove(0);
    }
    if cur.first() == Some(&"namespaces") && cur.len() > 1 {
        rp.namespace = Some(cur[1].to_string());
        if cur.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&cur[2]) {
            cur.drain(0..2);
        }
    }
    match cur.len() {
        0 => return None,
        1 => rp.resource = cur[0].to_string(),
        2 => {
            rp.resource = cur[0].to_string();
            rp.name = Some(cur[1].to_string());
        }
        3 => {
            rp.resource = cur[0].to_string();
            rp.name = Some(cur[1].to_string());
            rp.subresource = Some(cur[2].to_string());
        }
        // `.../{name}/proxy/{path...}`: the proxy subresource with a path on the target.
        _ if cur[2] == "proxy" => {
            rp.resource = cur[0].to_string();
            rp.name = Some(cur[1].to_string());
            rp.subresource = Some(cur[2].to_string());
        }
        _ => rp.resource = String::new(),
    }
    if rp.resource == "namespaces" {
        // `/api/v1/namespaces/{name}` names the namespace object itself.
        rp.namespace = None;
    }
    Some(ApiPath::Resource(rp))
}

/// The API verb a method + path + query asks for.
pub fn verb(method: &Method, has_name: bool, query: &Query) -> &'static str {
    match *method {
        Method::GET | Method::HEAD if query.watch => "watch",
        Method::GET | Method::HEAD if has_name => "get",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if has_name => "delete",
        Method::DELETE => "deletecollection",
        _ => "",
    }
}

/// Query parameters shared by the verbs.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub watch: bool,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub limit: Option<i64>,
    pub continue_token: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub allow_watch_bookmarks: bool,
    pub send_initial_events: Option<bool>,
    pub dry_run: bool,
    pub field_manager: Option<String>,
    /// `force` of a server-side apply.
    pub force: bool,
    pub field_validation: Option<String>,
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub orphan_dependents: Option<bool>,
    pub include_object: Option<String>,
    pub pretty: bool,
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" | "1" | "True" | "TRUE" | "t" | "T" => Ok(true),
        "false" | "0" | "False" | "FALSE" | "f" | "F" | "" => Ok(false),
        _ => Err(ApiError::BadRequest(format!(
            "invalid value for {name}: {v:?}: must be true or false"
        ))),
    }
}

fn parse_int(name: &str, v: &str) -> Result<i64, ApiError> {
    v.parse::<i64>().map_err(|_| {
        ApiError::BadRequest(format!(
            "invalid value for {name}: {v:?}: must be an integer"
        ))
    })
}

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut q = Query::default();
        let pairs: HashMap<String, String> = raw
            .map(form_urlencoded_pairs)
            .unwrap_or_default()
            .into_iter()
            .collect();
        for (k, v) in &pairs {
            match k.as_str() {
                "watch" => q.watch = parse_bool(k, v)?,
                "labelSelector" => q.label_selector = Some(v.clone()).filter(|s| !s.is_empty()),
                "fieldSelector" => q.field_selector = Some(v.clone()).filter(|s| !s.is_empty()),
                "resourceVersion" => q.resource_version = Some(v.clone()).filter(|s| !s.is_empty()),
                "resourceVersionMatch" => {
                    q.resource_version_match = Some(v.clone()).filter(|s| !s.is_empty())
                }
                "limit" => q.limit = Some(parse_int(k, v)?).filter(|l| *l > 0),
                "continue" => q.continue_token = Some(v.clone()).filter(|s| !s.is_empty()),
                "timeoutSeconds" => q.timeout_seconds = Some(parse_int(k, v)?.max(0) as u64),
                "allowWatchBookmarks" => q.allow_watch_bookmarks = parse_bool(k, v)?,
                "sendInitialEvents" => q.send_initial_events = Some(parse_bool(k, v)?),
                "dryRun" => {
                    if v != "All" {
                        return Err(ApiError::BadRequest(format!(
                            "invalid dry run option: {v:?}: supported values: \"All\""
                        )));
                    }
                    q.dry_run = true;
                }
                "fieldManager" => q.field_manager = Some(v.clone()).filter(|s| !s.is_empty()),
                "force" => q.force = parse_bool(k, v)?,
                "fieldValidation" => {
                    if !matches!(v.as_str(), "Strict" | "Warn" | "Ignore" | "") {
                        return Err(ApiError::BadRequest(format!(
                            "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {v:?}"
                        )));
                    }
                    q.field_validation = Some(v.clone());
                }
                "propagationPolicy" => q.propagation_policy = Some(v.clone()),
                "gracePeriodSeconds" => q.grace_period_seconds = Some(parse_int(k, v)?),
                "orphanDependents" => q.orphan_dependents = Some(parse_bool(k, v)?),
                "includeObject" => q.include_object = Some(v.clone()),
                "pretty" => q.pretty = parse_bool(k, v).unwrap_or(false),
                _ => {}
            }
        }
        Ok(q)
    }
}

/// Splits `a=b&c=d` into decoded pairs (`+` is a space, `%XX` escapes).
pub fn form_urlencoded_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse_path(path) {
            Some(ApiPath::Resource(r)) => r,
            other => panic!("{path}: expected a resource path, got {other:?}"),
        }
    }

    #[test]
    fn paths_parse_like_request_info_factory() {
        let r = res("/api/v1/namespaces/demo/configmaps/c1");
        assert_eq!(
            (
                r.group.as_str(),
                r.namespace.as_deref(),
                r.resource.as_str(),
                r.name.as_deref()
            ),
            ("", Some("demo"), "configmaps", Some("c1"))
        );
        let r = res("/api/v1/namespaces/demo");
        assert_eq!(
            (
                r.resource.as_str(),
                r.name.as_deref(),
                r.namespace.as_deref()
            ),
            ("namespaces", Some("demo"), None)
        );
        let r = res("/api/v1/namespaces/demo/finalize");
        assert_eq!(
            (
                r.resource.as_str(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            ("namespaces", Some("demo"), Some("finalize"))
        );
        let r = res("/apis/apps/v1/namespaces/x/deployments/web/status");
        assert_eq!(
            (r.group.as_str(), r.subresource.as_deref()),
            ("apps", Some("status"))
        );
        let r = res("/api/v1/watch/namespaces/x/pods");
        assert!(r.legacy_watch);
        assert_eq!(r.resource, "pods");
        assert_eq!(
            parse_path("/apis/apps"),
            Some(ApiPath::Group("apps".into()))
        );
        assert_eq!(
            parse_path("/apis/apps/v1"),
            Some(ApiPath::GroupVersion {
                group: "apps".into(),
                version: "v1".into()
            })
        );
        assert_eq!(parse_path("/version"), None);
    }

    #[test]
    fn query_decoding_handles_escapes_and_rejects_bad_values() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb%2Ctier+in+(a)&limit=5&watch=1",
        ))
        .expect("valid query");
        assert_eq!(q.label_selector.as_deref(), Some("app=web,tier in (a)"));
        assert_eq!(q.limit, Some(5));
        assert!(q.watch);
        assert!(Query::parse(Some("limit=abc")).is_err());
        assert!(Query::parse(Some("dryRun=Some")).is_err());
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
