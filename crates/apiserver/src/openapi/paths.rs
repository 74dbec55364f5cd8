//! The operations skiff serves, derived from the resource table: for every resource the
//! collection, object, legacy watch and subresource paths with upstream's `operationId`s,
//! `x-kubernetes-action`s and query parameters. Format-neutral; `document` renders them.

use api::ResourceInfo;

use super::schemas::{
    API_GROUP, API_GROUP_LIST, API_RESOURCE_LIST, API_VERSIONS, DELETE_OPTIONS, Definitions, PATCH,
    STATUS, WATCH_EVENT,
};

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
}

/// One parameter.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    pub ty: &'static str,
    pub required: bool,
    pub description: String,
}

/// The request body of an operation.
#[derive(Debug, Clone)]
pub struct Body {
    pub schema: String,
    pub required: bool,
    pub consumes: &'static [&'static str],
}

/// One operation (method on a path).
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: &'static str,
    pub id: String,
    pub description: String,
    pub action: Option<&'static str>,
    pub gvk: Option<(String, String, String)>,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    /// Status code → response schema.
    pub responses: Vec<(&'static str, Option<String>)>,
    pub produces: &'static [&'static str],
    pub tag: String,
}

/// One path with its operations and path-level parameters.
#[derive(Debug, Clone)]
pub struct PathItem {
    pub path: String,
    pub params: Vec<Param>,
    pub operations: Vec<Operation>,
}

const PRODUCES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/cbor",
];
const PRODUCES_WATCH: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/cbor",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
    "application/cbor-seq",
];
const PRODUCES_LOG: &[&str] = &[
    "text/plain",
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/cbor",
];
const CONSUMES_ANY: &[&str] = &["*/*"];

/// Connect subresources (exec, attach, port-forward, proxy): routed, but answered only
/// with a Status saying skiff runs no containers, so not described in the spec.
pub(crate) fn is_connect(sub: &str) -> bool {
    matches!(sub, "exec" | "attach" | "portforward" | "proxy")
}

/// The response "schema" of plain-string answers (`pods/log`): rendered as `type: string`.
pub const STRING: &str = "";
const CONSUMES_PATCH: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/apply-patch+cbor",
];
const PRODUCES_DISCOVERY: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

fn q(name: &'static str, ty: &'static str, description: &str) -> Param {
    Param {
        name,
        location: In::Query,
        ty,
        required: false,
        description: description.to_string(),
    }
}

fn pretty() -> Param {
    q(
        "pretty",
        "string",
        "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).",
    )
}

fn namespace() -> Param {
    Param {
        name: "namespace",
        location: In::Path,
        ty: "string",
        required: true,
        description: "object name and auth scope, such as for teams and projects".into(),
    }
}

fn name(kind: &str) -> Param {
    Param {
        name: "name",
        location: In::Path,
        ty: "string",
        required: true,
        description: format!("name of the {kind}"),
    }
}

fn list_params() -> Vec<Param> {
    vec![
        q(
            "allowWatchBookmarks",
            "boolean",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers may send bookmarks at their discretion; ignored unless watching.",
        ),
        q(
            "continue",
            "string",
            "The continue token returned by a previous paginated list with otherwise identical parameters; a list restarted from an expired token answers 410 ResourceExpired.",
        ),
        q(
            "fieldSelector",
            "string",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
        ),
        q(
            "labelSelector",
            "string",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
        ),
        q(
            "limit",
            "integer",
            "The maximum number of responses to return for a list call. When more items exist, the list metadata carries a `continue` token to fetch the next chunk.",
        ),
        q(
            "resourceVersion",
            "string",
            "resourceVersion sets a constraint on what resource versions a request may be served from. Defaults to unset.",
        ),
        q(
            "resourceVersionMatch",
            "string",
            "resourceVersionMatch determines how resourceVersion is applied to list calls (`Exact` or `NotOlderThan`). Defaults to unset.",
        ),
        q(
            "sendInitialEvents",
            "boolean",
            "With watch=true, sendInitialEvents=true starts the watch stream with synthetic ADDED events for the current state, followed by a BOOKMARK annotated `k8s.io/initial-events-end`.",
        ),
        q(
            "timeoutSeconds",
            "integer",
            "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.",
        ),
        q(
            "watch",
            "boolean",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.",
        ),
    ]
}

fn dry_run() -> Param {
    q(
        "dryRun",
        "string",
        "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed",
    )
}

fn field_manager() -> Param {
    q(
        "fieldManager",
        "string",
        "fieldManager is a name associated with the actor or entity that is making these changes. At most 128 printable characters.",
    )
}

fn field_validation() -> Param {
    q(
        "fieldValidation",
        "string",
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: unknown fields are silently dropped. - Warn: a warning is sent for each unknown or duplicate field (the default). - Strict: the request fails with a BadRequest error listing the unknown and duplicate fields.",
    )
}

fn delete_params() -> Vec<Param> {
    vec![
        q(
            "gracePeriodSeconds",
            "integer",
            "The duration in seconds before the object should be deleted. Zero means delete immediately. Defaults to the per-object value if not specified.",
        ),
        q(
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            "boolean",
            "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error.",
        ),
        q(
            "orphanDependents",
            "boolean",
            "Deprecated: please use the PropagationPolicy. Should the dependent objects be orphaned.",
        ),
        q(
            "propagationPolicy",
            "string",
            "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'.",
        ),
    ]
}

/// `rbac.authorization.k8s.io` → `RbacAuthorization`, `""` → `Core`.
pub fn group_ident(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    let g = group.strip_suffix(".k8s.io").unwrap_or(group);
    g.split(['.', '-']).map(capitalize).collect()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// `core_v1`, `apps_v1`, `rbacAuthorization_v1` (upstream's tags).
fn tag(group: &str, version: &str) -> String {
    let g = group_ident(group);
    let mut c = g.chars();
    let first = c.next().map(|f| f.to_lowercase().collect::<String>());
    format!("{}{}_{version}", first.unwrap_or_default(), c.as_str())
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

struct Ctx<'a> {
    r: &'a ResourceInfo,
    ident: String,
    kind_def: String,
    list_def: String,
    tag: String,
}

impl Ctx<'_> {
    fn op(
        &self,
        method: &'static str,
        verb: &str,
        scope: &str,
        suffix: &str,
        description: String,
        action: &'static str,
    ) -> Operation {
        Operation {
            method,
            id: format!("{verb}{}{scope}{}{suffix}", self.ident, self.r.kind),
            description,
            action: Some(action),
            gvk: Some((
                self.r.group.to_string(),
                self.r.version.to_string(),
                self.r.kind.to_string(),
            )),
            params: Vec::new(),
            body: None,
            responses: Vec::new(),
            produces: PRODUCES,
            tag: self.tag.clone(),
        }
    }
}

/// The paths of one served resource.
pub fn resource_paths(r: &ResourceInfo, defs: &Definitions) -> Vec<PathItem> {
    let Some(names) = defs.names(r) else {
        return Vec::new();
    };
    let c = Ctx {
        r,
        ident: format!("{}{}", group_ident(r.group), capitalize(r.version)),
        kind_def: names.kind.clone(),
        list_def: names.list.clone().unwrap_or_else(|| names.kind.clone()),
        tag: tag(r.group, r.version),
    };
    let kind = r.kind;
    let pfx = prefix(r.group, r.version);
    let (base, watch_base, scope) = if r.namespaced {
        (
            format!("{pfx}/namespaces/{{namespace}}/{}", r.plural),
            format!("{pfx}/watch/namespaces/{{namespace}}/{}", r.plural),
            "Namespaced",
        )
    } else {
        (
            format!("{pfx}/{}", r.plural),
            format!("{pfx}/watch/{}", r.plural),
            "",
        )
    };
    let scope_params = || {
        if r.namespaced {
            vec![namespace(), pretty()]
        } else {
            vec![pretty()]
        }
    };
    let mut out = Vec::new();

    // The collection.
    let mut coll = PathItem {
        path: base.clone(),
        params: scope_params(),
        operations: Vec::new(),
    };
    if r.supports("list") && names.list.is_some() {
        let mut op = c.op(
            "get",
            "list",
            scope,
            "",
            format!("list or watch objects of kind {kind}"),
            "list",
        );
        op.params = list_params();
        op.responses = vec![("200", Some(c.list_def.clone()))];
        op.produces = PRODUCES_WATCH;
        coll.operations.push(op);
    }
    if r.supports("create") {
        let mut op = c.op(
            "post",
            "create",
            scope,
            "",
            format!("create a {kind}"),
            "post",
        );
        op.params = vec![dry_run(), field_manager(), field_validation()];
        op.body = Some(Body {
            schema: c.kind_def.clone(),
            required: true,
            consumes: CONSUMES_ANY,
        });
        op.responses = vec![
            ("200", Some(c.kind_def.clone())),
            ("201", Some(c.kind_def.clone())),
            ("202", Some(c.kind_def.clone())),
        ];
        coll.operations.push(op);
    }
    if r.supports("deletecollection") {
        let mut op = c.op(
            "delete",
            "delete",
            &format!("Collection{scope}"),
            "",
            format!("delete collection of {kind}"),
            "deletecollection",
        );
        op.params = vec![
            q("continue", "string", &list_params()[1].description),
            dry_run(),
        ];
        op.params.extend(list_params().into_iter().filter(|p| {
            matches!(
                p.name,
                "fieldSelector"
                    | "labelSelector"
                    | "limit"
                    | "resourceVersion"
                    | "resourceVersionMatch"
                    | "sendInitialEvents"
                    | "timeoutSeconds"
            )
        }));
        op.params.extend(delete_params());
        op.params.sort_by_key(|p| p.name);
        op.body = Some(Body {
            schema: DELETE_OPTIONS.into(),
            required: false,
            consumes: CONSUMES_ANY,
        });
        op.responses = vec![("200", Some(STATUS.into()))];
        coll.operations.push(op);
    }
    if r.supports("create") && !r.supports("list") {
        // Create-only kinds (bindings, reviews): upstream lists the write parameters on the path.
        for op in &mut coll.operations {
            coll.params.append(&mut op.params);
        }
        coll.params.sort_by_key(|p| p.name);
    }
    out.push(coll);

    // One object.
    let mut item = PathItem {
        path: format!("{base}/{{name}}"),
        params: [vec![name(kind)], scope_params()].concat(),
        operations: Vec::new(),
    };
    if r.supports("get") {
        let mut op = c.op(
            "get",
            "read",
            scope,
            "",
            format!("read the specified {kind}"),
            "get",
        );
        op.responses = vec![("200", Some(c.kind_def.clone()))];
        item.operations.push(op);
    }
    if r.supports("update") {
        item.operations.push(replace(
            &c,
            scope,
            "",
            format!("replace the specified {kind}"),
        ));
    }
    if r.supports("patch") {
        item.operations.push(patch(
            &c,
            scope,
            "",
            format!("partially update the specified {kind}"),
        ));
    }
    if r.supports("delete") {
        let mut op = c.op(
            "delete",
            "delete",
            scope,
            "",
            format!("delete a {kind}"),
            "delete",
        );
        op.params = vec![dry_run()];
        op.params.extend(delete_params());
        op.params.sort_by_key(|p| p.name);
        op.body = Some(Body {
            schema: DELETE_OPTIONS.into(),
            required: false,
            consumes: CONSUMES_ANY,
        });
        op.responses = vec![("200", Some(STATUS.into())), ("202", Some(STATUS.into()))];
        item.operations.push(op);
    }
    out.push(item);

    // Subresources.
    for sub in r.subresources {
        let Some(info) = r.subresource(sub) else {
            continue;
        };
        if is_connect(sub) {
            continue;
        }
        let path = format!("{base}/{{name}}/{sub}");
        let mut params = [vec![name(kind)], scope_params()].concat();
        let suffix = capitalize(sub);
        let sub_kind = defs
            .names_of(info.group, info.version, info.kind)
            .map(|n| n.kind.clone())
            .unwrap_or_else(|| c.kind_def.clone());
        let sub_ctx = Ctx {
            r,
            ident: c.ident.clone(),
            kind_def: sub_kind.clone(),
            list_def: c.list_def.clone(),
            tag: c.tag.clone(),
        };
        let gvk = Some((
            info.group.to_string(),
            info.version.to_string(),
            info.kind.to_string(),
        ));
        let mut ops = Vec::new();
        if *sub == "log" {
            let mut op = c.op(
                "get",
                "read",
                scope,
                &suffix,
                format!("read log of the specified {kind}"),
                "get",
            );
            op.responses = vec![("200", Some(STRING.into()))];
            op.produces = PRODUCES_LOG;
            ops.push(op);
            params.extend(log_params());
            params.sort_by_key(|p| p.name);
        }
        if *sub != "log" && info.verbs.contains(&"get") {
            let mut op = sub_ctx.op(
                "get",
                "read",
                scope,
                &suffix,
                format!("read {sub} of the specified {kind}"),
                "get",
            );
            op.responses = vec![("200", Some(sub_kind.clone()))];
            ops.push(op);
        }
        if info.verbs.contains(&"update") {
            ops.push(replace(
                &sub_ctx,
                scope,
                &suffix,
                format!("replace {sub} of the specified {kind}"),
            ));
        }
        if info.verbs.contains(&"patch") {
            ops.push(patch(
                &sub_ctx,
                scope,
                &suffix,
                format!("partially update {sub} of the specified {kind}"),
            ));
        }
        if info.verbs.contains(&"create") {
            let mut op = sub_ctx.op(
                "post",
                "create",
                scope,
                &suffix,
                format!("create {sub} of a {kind}"),
                "post",
            );
            op.body = Some(Body {
                schema: sub_kind.clone(),
                required: true,
                consumes: CONSUMES_ANY,
            });
            op.responses = vec![
                ("200", Some(sub_kind.clone())),
                ("201", Some(sub_kind.clone())),
                ("202", Some(sub_kind.clone())),
            ];
            params.extend([dry_run(), field_manager(), field_validation()]);
            params.sort_by_key(|p| p.name);
            ops.push(op);
        }
        for op in &mut ops {
            op.gvk.clone_from(&gvk);
        }
        out.push(PathItem {
            path,
            params,
            operations: ops,
        });
    }

    // All namespaces and legacy watch paths.
    if names.list.is_some() && (r.supports("watch") || r.supports("list")) {
        let all_params = || {
            let mut p = list_params();
            p.push(pretty());
            p.sort_by_key(|p| p.name);
            p
        };
        if r.namespaced && r.supports("list") {
            let mut op = c.op(
                "get",
                "list",
                "",
                "ForAllNamespaces",
                format!("list or watch objects of kind {kind}"),
                "list",
            );
            op.responses = vec![("200", Some(c.list_def.clone()))];
            op.produces = PRODUCES_WATCH;
            out.push(PathItem {
                path: format!("{pfx}/{}", r.plural),
                params: all_params(),
                operations: vec![op],
            });
        }
        if r.supports("watch") {
            let watch_op = |scope: &str, suffix: &str, description: String, action| {
                let mut op = c.op("get", "watch", scope, suffix, description, action);
                op.responses = vec![("200", Some(WATCH_EVENT.into()))];
                op.produces = PRODUCES_WATCH;
                op
            };
            let with_ns = |mut p: Vec<Param>| {
                if r.namespaced {
                    p.push(namespace());
                }
                p.sort_by_key(|p| p.name);
                p
            };
            out.push(PathItem {
                path: watch_base.clone(),
                params: with_ns(all_params()),
                operations: vec![watch_op(
                    scope,
                    "List",
                    format!("watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."),
                    "watchlist",
                )],
            });
            let mut p = all_params();
            p.push(name(kind));
            out.push(PathItem {
                path: format!("{watch_base}/{{name}}"),
                params: with_ns(p),
                operations: vec![watch_op(
                    scope,
                    "",
                    format!("watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."),
                    "watch",
                )],
            });
            if r.namespaced {
                out.push(PathItem {
                    path: format!("{pfx}/watch/{}", r.plural),
                    params: all_params(),
                    operations: vec![watch_op(
                        "",
                        "ListForAllNamespaces",
                        format!("watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."),
                        "watchlist",
                    )],
                });
            }
        }
    }
    out.retain(|item| !item.operations.is_empty());
    out
}

fn log_params() -> Vec<Param> {
    vec![
        q(
            "container",
            "string",
            "The container for which to stream logs. Defaults to only container if there is one container in the pod.",
        ),
        q(
            "follow",
            "boolean",
            "Follow the log stream of the pod. Defaults to false.",
        ),
        q(
            "insecureSkipTLSVerifyBackend",
            "boolean",
            "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the validity of the serving certificate of the backend it is connecting to.",
        ),
        q(
            "limitBytes",
            "integer",
            "If set, the number of bytes to read from the server before terminating the log output.",
        ),
        q(
            "previous",
            "boolean",
            "Return previous terminated container logs. Defaults to false.",
        ),
        q(
            "sinceSeconds",
            "integer",
            "A relative time in seconds before the current time from which to show logs.",
        ),
        q(
            "stream",
            "string",
            "Specify which container log stream to return to the client: All, Stdout or Stderr. Defaults to All.",
        ),
        q(
            "tailLines",
            "integer",
            "If set, the number of lines from the end of the logs to show.",
        ),
        q(
            "timestamps",
            "boolean",
            "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false.",
        ),
    ]
}

fn replace(c: &Ctx<'_>, scope: &str, suffix: &str, description: String) -> Operation {
    let mut op = c.op("put", "replace", scope, suffix, description, "put");
    op.params = vec![dry_run(), field_manager(), field_validation()];
    op.body = Some(Body {
        schema: c.kind_def.clone(),
        required: true,
        consumes: CONSUMES_ANY,
    });
    op.responses = vec![
        ("200", Some(c.kind_def.clone())),
        ("201", Some(c.kind_def.clone())),
    ];
    op
}

fn patch(c: &Ctx<'_>, scope: &str, suffix: &str, description: String) -> Operation {
    let mut op = c.op("patch", "patch", scope, suffix, description, "patch");
    op.params = vec![
        dry_run(),
        field_manager(),
        field_validation(),
        q(
            "force",
            "boolean",
            "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
        ),
    ];
    op.body = Some(Body {
        schema: PATCH.into(),
        required: true,
        consumes: CONSUMES_PATCH,
    });
    op.responses = vec![
        ("200", Some(c.kind_def.clone())),
        ("201", Some(c.kind_def.clone())),
    ];
    op
}

fn discovery_op(id: String, description: &str, schema: &str, tag: String) -> Operation {
    Operation {
        method: "get",
        id,
        description: description.into(),
        action: None,
        gvk: None,
        params: Vec::new(),
        body: None,
        responses: vec![("200", Some(schema.into()))],
        produces: PRODUCES_DISCOVERY,
        tag,
    }
}

/// `GET /api/v1/` or `/apis/<group>/<version>/`: the group-version's resource list.
pub fn group_version_discovery(group: &str, version: &str) -> PathItem {
    PathItem {
        path: format!("{}/", prefix(group, version)),
        params: Vec::new(),
        operations: vec![discovery_op(
            format!(
                "get{}{}APIResources",
                group_ident(group),
                capitalize(version)
            ),
            "get available resources",
            API_RESOURCE_LIST,
            tag(group, version),
        )],
    }
}

/// `GET /api/` (core versions).
pub fn core_versions() -> PathItem {
    PathItem {
        path: "/api/".into(),
        params: Vec::new(),
        operations: vec![discovery_op(
            "getCoreAPIVersions".into(),
            "get available API versions",
            API_VERSIONS,
            "core".into(),
        )],
    }
}

/// `GET /apis/` (groups).
pub fn api_versions() -> PathItem {
    PathItem {
        path: "/apis/".into(),
        params: Vec::new(),
        operations: vec![discovery_op(
            "getAPIVersions".into(),
            "get available API versions",
            API_GROUP_LIST,
            "apis".into(),
        )],
    }
}

/// `GET /apis/<group>/`.
pub fn group_discovery(group: &str) -> PathItem {
    let ident = group_ident(group);
    let mut c = ident.chars();
    let lower = c
        .next()
        .map(|f| f.to_lowercase().collect::<String>())
        .unwrap_or_default()
        + c.as_str();
    PathItem {
        path: format!("/apis/{group}/"),
        params: Vec::new(),
        operations: vec![discovery_op(
            format!("get{ident}APIGroup"),
            "get information of a group",
            API_GROUP,
            lower,
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_identifiers_match_upstream() {
        assert_eq!(group_ident(""), "Core");
        assert_eq!(group_ident("apps"), "Apps");
        assert_eq!(
            group_ident("rbac.authorization.k8s.io"),
            "RbacAuthorization"
        );
        assert_eq!(group_ident("apiextensions.k8s.io"), "Apiextensions");
        assert_eq!(
            tag("rbac.authorization.k8s.io", "v1"),
            "rbacAuthorization_v1"
        );
        assert_eq!(tag("", "v1"), "core_v1");
    }
}
