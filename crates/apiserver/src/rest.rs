//! The REST surface under `/api` and `/apis`: routes a request to discovery or to a verb
//! (get, list, watch, create, update, patch, delete, deletecollection) on a resource, reads
//! and checks the body, and renders the answer in the representation the client asked for.

use std::sync::Arc;

use api::{ApiError, GroupResource, ResourceInfo};
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode, header};
use serde_json::{Value, json};

use crate::auth::{self, Identity};
use crate::negotiate::{self, DISCOVERY_V2, Output, error_response, json_response};
use crate::registry::{DeleteOptions, Deleted, ListParams, WriteOptions};
use crate::request::{ApiPath, Query, ResourcePath, parse_path, verb};
use crate::table::{self, IncludeObject};
use crate::{ServerState, discovery, field_validation, subresources, watch};

/// Largest request body accepted (kube-apiserver's 3 MiB limit).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Handles any request under `/api` or `/apis`.
pub async fn handle(state: Arc<ServerState>, req: Request) -> Response {
    match route(state, req).await {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

async fn route(state: Arc<ServerState>, req: Request) -> Result<Response, ApiError> {
    let who = req
        .extensions()
        .get::<Identity>()
        .cloned()
        .unwrap_or_else(Identity::anonymous);
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query())?;
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(api_path) = parse_path(&path) else {
        return Err(ApiError::NoSuchPath);
    };
    let resources = state.registry.resources().clone();
    let table = resources.all();
    match api_path {
        ApiPath::CoreVersions
        | ApiPath::Groups
        | ApiPath::Group(_)
        | ApiPath::GroupVersion { .. } => {
            auth::authorize_path(&who, "get", &path)?;
            if req.method() != Method::GET && req.method() != Method::HEAD {
                return Err(ApiError::MethodNotAllowed);
            }
            let output = negotiate::choose(
                accept.as_deref(),
                matches!(api_path, ApiPath::CoreVersions | ApiPath::Groups),
                false,
            )?;
            let body = match (&api_path, output) {
                (ApiPath::CoreVersions, Output::Discovery) => {
                    return Ok(discovery_response(discovery::aggregated(&table, true)));
                }
                (ApiPath::Groups, Output::Discovery) => {
                    return Ok(discovery_response(discovery::aggregated(&table, false)));
                }
                (ApiPath::CoreVersions, _) => discovery::core_versions(&state.advertise_address),
                (ApiPath::Groups, _) => discovery::group_list(&table),
                (ApiPath::Group(g), _) => {
                    discovery::group(&table, g).ok_or(ApiError::NoSuchPath)?
                }
                (ApiPath::GroupVersion { group, version }, _) => {
                    discovery::resource_list(&table, group, version).ok_or(ApiError::NoSuchPath)?
                }
                (ApiPath::Resource(_), _) => return Err(ApiError::NoSuchPath),
            };
            Ok(json_response(StatusCode::OK, &body))
        }
        ApiPath::Resource(rp) => {
            let crd_write = crate::crd::is_crd_path(&rp.group, &rp.resource)
                && !matches!(*req.method(), Method::GET | Method::HEAD);
            let registry = state.registry.clone();
            let warning = deprecation_warning(&rp);
            let out = resource(state, who, rp, query, accept, req).await;
            if crd_write {
                // The CRD's versions become (or stop being) served at once.
                crate::crd::sync(&registry).await?;
            }
            match warning {
                // As upstream's per-route warnings handler: every answer the resource's
                // handlers give, errors included (not the authorizer's or the router's).
                Some(w) => match out {
                    Err(
                        e @ (ApiError::Forbidden { .. }
                        | ApiError::ForbiddenMessage(_)
                        | ApiError::Unauthorized
                        | ApiError::NoSuchPath),
                    ) => Err(e),
                    out => Ok(field_validation::with_warnings(
                        out.unwrap_or_else(|e| error_response(&e)),
                        &[w.to_string()],
                    )),
                },
                None => out,
            }
        }
    }
}

/// `obj` without `metadata.managedFields` when the request asked for lean objects
/// ([`crate::LeanReads`]).
fn lean_object(mut obj: Value, lean: bool) -> Value {
    if lean && let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    obj
}

/// The deprecation warning kube-apiserver v1.33 gives on every request to a resource it
/// marks deprecated (core/v1 Endpoints, in favour of EndpointSlice).
pub fn deprecation_warning(rp: &ResourcePath) -> Option<&'static str> {
    match (rp.group.as_str(), rp.version.as_str(), rp.resource.as_str()) {
        ("", "v1", "endpoints") => {
            Some("v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice")
        }
        _ => None,
    }
}

fn discovery_response(body: Value) -> Response {
    negotiate::json_bytes_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
        DISCOVERY_V2,
    )
}

async fn resource(
    state: Arc<ServerState>,
    who: Identity,
    rp: ResourcePath,
    query: Query,
    accept: Option<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let resources = state.registry.resources().clone();
    let Some(info) = resources.find(&rp.group, &rp.version, &rp.resource) else {
        return Err(ApiError::NoSuchPath);
    };
    let method = req.method().clone();
    let mut query = query;
    if rp.legacy_watch {
        query.watch = true;
    }
    let verb = verb(&method, rp.name.is_some(), &query);
    // POST names a collection; only create-style subresources (eviction, binding, token)
    // take it on an object.
    if verb.is_empty() || (verb == "create" && rp.name.is_some() && rp.subresource.is_none()) {
        return Err(ApiError::MethodNotAllowed);
    }
    let ns = if info.namespaced {
        rp.namespace.clone()
    } else {
        None
    };
    if !info.namespaced && rp.namespace.is_some() {
        return Err(ApiError::NoSuchPath);
    }
    if info.namespaced && rp.name.is_some() && ns.is_none() {
        return Err(ApiError::NoSuchPath);
    }
    if info.namespaced && ns.is_none() && matches!(verb, "create" | "deletecollection") {
        return Err(ApiError::NoSuchPath);
    }
    auth::authorize_resource(&who, verb, info.group, info.plural, ns.as_deref())?;
    if verb == "create" && info.custom.as_ref().is_some_and(|c| c.terminating) {
        // Upstream: no new objects while the CRD's objects are being deleted.
        return Err(ApiError::MethodNotAllowed);
    }
    if let Some(sub) = &rp.subresource {
        if !info.has_subresource(sub) {
            return Err(ApiError::NoSuchPath);
        }
        let allowed = info
            .subresource(sub)
            .is_some_and(|s| s.verbs.contains(&verb));
        if !allowed {
            return Err(ApiError::MethodNotAllowed);
        }
    } else if !info.supports(verb) {
        return Err(ApiError::MethodNotAllowed);
    }
    if subresources::serves(&info, rp.subresource.as_deref()) {
        let call = subresources::Call {
            info: &info,
            namespace: ns.as_deref(),
            name: rp.name.as_deref().unwrap_or_default(),
            subresource: rp.subresource.as_deref(),
            verb,
            who: &who,
            query: &query,
        };
        return subresources::handle(&state, call, req).await;
    }
    let output = negotiate::choose(
        accept.as_deref(),
        false,
        matches!(verb, "get" | "list" | "watch"),
    )?;
    let include = IncludeObject::parse(query.include_object.as_deref())?;
    let lean = req.extensions().get::<crate::LeanReads>().is_some();
    // Every answer that is one object goes through here, so lean clients never get
    // managedFields, whatever the verb.
    let respond = |code: StatusCode, obj: Value| json_response(code, &lean_object(obj, lean));
    let name = rp.name.clone().unwrap_or_default();
    let registry = state.registry.clone();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let manager = query
        .field_manager
        .clone()
        .unwrap_or_else(|| crate::field_manager::manager_from_user_agent(user_agent));
    let opts = WriteOptions {
        dry_run: query.dry_run,
        manager: Some(manager),
        manager_subresource: None,
    };
    let field_mode = field_validation::Mode::from_query(query.field_validation.as_deref());
    let sub = rp.subresource.as_deref();
    match verb {
        "get" => {
            let obj = registry
                .get(
                    &info,
                    ns.as_deref(),
                    &name,
                    query.resource_version.as_deref(),
                )
                .await?;
            Ok(render_one(&info, &lean_object(obj, lean), output, include))
        }
        "list" => {
            let page = registry
                .list(&info, ns.as_deref(), &list_params(&query))
                .await?;
            let mut meta = json!({"resourceVersion": page.resource_version.to_string()});
            if let Some(c) = &page.continue_token {
                meta["continue"] = json!(c);
            }
            if let Some(r) = page.remaining {
                meta["remainingItemCount"] = json!(r);
            }
            let body = match output {
                Output::Table => table::table(&info, &page.items, meta, include),
                Output::Metadata => table::partial_metadata_list(&page.items, meta),
                _ => {
                    let items: Vec<Value> = page
                        .items
                        .into_iter()
                        .map(|o| lean_object(strip_type(o), lean))
                        .collect();
                    json!({"kind": info.list_kind, "apiVersion": info.api_version(), "metadata": meta, "items": items})
                }
            };
            Ok(json_response(StatusCode::OK, &body))
        }
        "watch" => {
            let wr = watch::WatchRequest {
                info,
                namespace: ns,
                query,
                output,
                include,
                name: rp.name.clone(),
                lean,
            };
            watch::start(registry, wr, state.shutdown.clone()).await
        }
        "create" => {
            let (body, duplicates) = read_json_body(req.headers().clone(), req.into_body()).await?;
            let warnings = field_validation::check(field_mode, &info, &body, &duplicates)?;
            let obj = registry.create(&info, ns.as_deref(), body, &opts).await?;
            Ok(field_validation::with_warnings(
                respond(StatusCode::CREATED, obj),
                &warnings,
            ))
        }
        "update" => {
            let (body, duplicates) = read_json_body(req.headers().clone(), req.into_body()).await?;
            let warnings = field_validation::check(field_mode, &info, &body, &duplicates)?;
            let (obj, created) = registry
                .update(&info, ns.as_deref(), &name, sub, body, &opts)
                .await?;
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(field_validation::with_warnings(
                respond(code, obj),
                &warnings,
            ))
        }
        "patch" => {
            let content_type = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let bytes = read_body(req.into_body()).await?;
            let patch = crate::patch::Patch::parse(&content_type, &bytes)?;
            let is_apply = matches!(patch, crate::patch::Patch::Apply(_));
            if query.force && !is_apply {
                return Err(patch_options_invalid(
                    api::validation::FieldErrorKind::Forbidden,
                    "force",
                    Some(json!(true)),
                    "may not be specified for non-apply patch",
                ));
            }
            if let crate::patch::Patch::Apply(config) = patch {
                let Some(manager) = query.field_manager.as_deref() else {
                    return Err(patch_options_invalid(
                        api::validation::FieldErrorKind::Required,
                        "fieldManager",
                        None,
                        "is required for apply patch",
                    ));
                };
                let (obj, created) = registry
                    .apply(
                        &info,
                        ns.as_deref(),
                        &name,
                        sub,
                        config,
                        manager,
                        query.force,
                        &opts,
                    )
                    .await?;
                let code = if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                return Ok(respond(code, obj));
            }
            let obj = registry
                .read_modify_write(&info, ns.as_deref(), &name, sub, &opts, |current| {
                    patch.apply(current, &info)
                })
                .await?;
            Ok(respond(StatusCode::OK, obj))
        }
        "delete" => {
            // Bodies of unknown media types are read as JSON, as before.
            let format = BodyFormat::of(req.headers()).unwrap_or(BodyFormat::Json);
            let body = read_body(req.into_body()).await?;
            let dopts = delete_options(&query, format, &body)?;
            // Upstream warns that a Job deleted without a policy keeps its pods.
            let warnings: Vec<String> = if dopts
                .propagation_policy
                .as_deref()
                .is_none_or(str::is_empty)
                && info.group == "batch"
                && info.plural == "jobs"
            {
                vec!["child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning".into()]
            } else {
                Vec::new()
            };
            match registry.delete(&info, ns.as_deref(), &name, &dopts).await? {
                Deleted::Pending(obj) => Ok(field_validation::with_warnings(
                    respond(StatusCode::OK, obj),
                    &warnings,
                )),
                Deleted::Gone(obj) => {
                    if returns_deleted_object(&info) {
                        Ok(respond(StatusCode::OK, obj))
                    } else {
                        let uid = obj
                            .pointer("/metadata/uid")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        Ok(json_response(
                            StatusCode::OK,
                            &api::status::success_status(
                                &GroupResource::new(info.group, info.plural),
                                &name,
                                uid,
                            ),
                        ))
                    }
                }
            }
        }
        "deletecollection" => {
            // Bodies of unknown media types are read as JSON, as before.
            let format = BodyFormat::of(req.headers()).unwrap_or(BodyFormat::Json);
            let body = read_body(req.into_body()).await?;
            let dopts = delete_options(&query, format, &body)?;
            let page = registry
                .list(&info, ns.as_deref(), &list_params(&query))
                .await?;
            let mut deleted = Vec::new();
            for obj in page.items {
                let n = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let item_ns = obj
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                match registry
                    .delete(&info, item_ns.as_deref().or(ns.as_deref()), &n, &dopts)
                    .await
                {
                    Ok(Deleted::Gone(o)) | Ok(Deleted::Pending(o)) => {
                        deleted.push(lean_object(strip_type(o), lean))
                    }
                    Err(ApiError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let rv = registry
                .store()
                .current_revision()
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let body = json!({"kind": info.list_kind, "apiVersion": info.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": deleted});
            Ok(json_response(StatusCode::OK, &body))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// Upstream returns the deleted object (not a Status) for these resources.
fn returns_deleted_object(info: &ResourceInfo) -> bool {
    info.group.is_empty() && matches!(info.plural, "pods" | "services" | "namespaces")
}

/// List items carry no apiVersion/kind on the wire, as upstream encodes typed lists.
fn strip_type(mut obj: Value) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
    }
    obj
}

fn render_one(
    info: &ResourceInfo,
    obj: &Value,
    output: Output,
    include: IncludeObject,
) -> Response {
    let body = match output {
        Output::Table => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(Value::Null);
            table::table(
                info,
                std::slice::from_ref(obj),
                json!({"resourceVersion": rv}),
                include,
            )
        }
        Output::Metadata => table::partial_metadata(obj),
        _ => obj.clone(),
    };
    json_response(StatusCode::OK, &body)
}

fn list_params(q: &Query) -> ListParams {
    ListParams {
        label_selector: q.label_selector.clone(),
        field_selector: q.field_selector.clone(),
        resource_version: q.resource_version.clone(),
        resource_version_match: q.resource_version_match.clone(),
        limit: q.limit,
        continue_token: q.continue_token.clone(),
    }
}

/// Reads a body up to the size limit; 413 beyond it.
pub async fn read_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_large {
            ApiError::TooLarge(MAX_BODY)
        } else {
            ApiError::BadRequest(format!("reading the request body: {e}"))
        }
    })
}

/// Reads and parses an object body (create/update): JSON, YAML, or Kubernetes protobuf
/// (transcoded to JSON). 415 for other media types.
/// Reads and decodes a create/update body; also returns the paths of duplicate JSON fields.
pub(crate) async fn read_json_body(
    headers: HeaderMap,
    body: Body,
) -> Result<(Value, Vec<String>), ApiError> {
    let format = BodyFormat::of(&headers)?;
    let bytes = read_body(body).await?;
    let value = parse_body(format, &bytes)?;
    let duplicates = match format {
        BodyFormat::Json => field_validation::duplicate_fields(&bytes),
        _ => Vec::new(),
    };
    Ok((value, duplicates))
}

/// The media types an object body may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFormat {
    Json,
    Yaml,
    Protobuf,
}

impl BodyFormat {
    fn of(headers: &HeaderMap) -> Result<BodyFormat, ApiError> {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json");
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" | "" | "*/*" => Ok(BodyFormat::Json),
            "application/yaml" => Ok(BodyFormat::Yaml),
            crate::protobuf::MEDIA_TYPE => Ok(BodyFormat::Protobuf),
            _ => Err(ApiError::UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types include: \
                 application/json, application/yaml, application/vnd.kubernetes.protobuf"
                    .into(),
            )),
        }
    }
}

/// Parses an object body in the given format to its JSON form.
fn parse_body(format: BodyFormat, bytes: &[u8]) -> Result<Value, ApiError> {
    match format {
        BodyFormat::Json => parse_object(bytes),
        BodyFormat::Yaml => {
            let mut opts = serde_saphyr::Options::default();
            opts.legacy_octal_numbers = true;
            let v: Value = serde_saphyr::from_slice_with_options(bytes, opts).map_err(|e| {
                ApiError::BadRequest(format!("couldn't get version/kind; yaml parse error: {e}"))
            })?;
            if !v.is_object() {
                return Err(ApiError::BadRequest(
                    "couldn't get version/kind; yaml parse error: the request body must be an object"
                        .into(),
                ));
            }
            Ok(v)
        }
        BodyFormat::Protobuf => crate::protobuf::decode_object(bytes).map_err(|e| {
            if let crate::protobuf::DecodeError::UnknownKind { .. } = e {
                return ApiError::UnsupportedMediaType(format!(
                    "{e}: the body of the request was in an unknown format - accepted media \
                     types include: application/json, application/yaml"
                ));
            }
            let what = crate::protobuf::type_meta(bytes)
                .map(|(api_version, kind)| format!("{api_version}, Kind={kind}"))
                .unwrap_or_else(|_| "a Kubernetes object".into());
            ApiError::BadRequest(format!(
                "the body of the request could not be decoded as {what}: {e}"
            ))
        }),
    }
}

/// Parses a JSON object as kube-apiserver's decoder would report failures.
pub fn parse_object(bytes: &[u8]) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::BadRequest(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    if !v.is_object() {
        return Err(ApiError::BadRequest(
            "couldn't get version/kind; json parse error: the request body must be a JSON object"
                .into(),
        ));
    }
    Ok(v)
}

/// Delete options from the query and an optional DeleteOptions body (JSON, YAML or protobuf).
fn delete_options(q: &Query, format: BodyFormat, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut opts = DeleteOptions {
        propagation_policy: q.propagation_policy.clone(),
        grace_period_seconds: q.grace_period_seconds,
        dry_run: q.dry_run,
        ..Default::default()
    };
    if let Some(orphan) = q.orphan_dependents
        && opts.propagation_policy.is_none()
    {
        opts.propagation_policy = Some(if orphan { "Orphan" } else { "Background" }.into());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(opts);
    }
    let b = parse_body(format, body)?;
    if let Some(p) = b.get("propagationPolicy").and_then(Value::as_str) {
        opts.propagation_policy = Some(p.to_string());
    } else if let Some(o) = b.get("orphanDependents").and_then(Value::as_bool) {
        opts.propagation_policy = Some(if o { "Orphan" } else { "Background" }.into());
    }
    if let Some(g) = b.get("gracePeriodSeconds").and_then(Value::as_i64) {
        opts.grace_period_seconds = Some(g);
    }
    if let Some(pre) = b.get("preconditions") {
        opts.precondition_uid = pre.get("uid").and_then(Value::as_str).map(str::to_string);
        opts.precondition_resource_version = pre
            .get("resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    if let Some(dry) = b.get("dryRun").and_then(Value::as_array) {
        for d in dry {
            match d.as_str() {
                Some("All") => opts.dry_run = true,
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "invalid dry run option: {other:?}: supported values: \"All\""
                    )));
                }
            }
        }
    }
    Ok(opts)
}

/// A `PatchOptions.meta.k8s.io "" is invalid` error, as upstream's patch handler gives.
fn patch_options_invalid(
    kind: api::validation::FieldErrorKind,
    field: &str,
    value: Option<Value>,
    detail: &str,
) -> ApiError {
    ApiError::Invalid {
        group: "meta.k8s.io".into(),
        kind: "PatchOptions".into(),
        name: String::new(),
        causes: vec![api::validation::FieldError {
            kind,
            field: field.into(),
            value,
            detail: detail.into(),
        }],
    }
}
