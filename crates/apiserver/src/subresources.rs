//! Subresources whose kind differs from their parent's, and create-only resources that are
//! never stored, as kube-apiserver serves them:
//!
//! * `scale` (autoscaling/v1 Scale) of deployments, replicasets, statefulsets and
//!   replicationcontrollers: a view of `spec.replicas`, `status.replicas` and the selector;
//! * `pods/eviction` (policy/v1 Eviction): a delete that disruption budgets may refuse;
//! * `pods/binding` and the legacy `bindings` collection (v1 Binding): assigns a pod to a node;
//! * `pods/log`: answered as the kubelet answers for a container that has not started;
//! * `pods/exec`, `pods/attach`, `pods/portforward`, `pods/proxy`, `services/proxy` and
//!   `nodes/proxy`: routed and listed in discovery, but skiff runs no real containers, so
//!   they answer 400 saying so (404 first if the object does not exist);
//! * `serviceaccounts/token` (authentication.k8s.io/v1 TokenRequest): a signed, bound token;
//! * `selfsubjectaccessreviews`, `selfsubjectrulesreviews` (authorization.k8s.io/v1) and
//!   `selfsubjectreviews` (authentication.k8s.io/v1): questions about the requester.
//!
//! Authorization: skiff enforces no RBAC yet. Every authenticated user may do everything
//! (anonymous users are refused before they get here), so access reviews answer `allowed`
//! and rules reviews list everything; they change once RBAC is enforced.

use std::sync::Arc;

use api::validation::FieldError;
use api::{ApiError, GroupResource, ResourceInfo, selector::LabelSelector};
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{StatusCode, header};
use serde_json::{Value, json};

use crate::ServerState;
use crate::auth::Identity;
use crate::negotiate::{self, Output, json_response};
use crate::registry::{DeleteOptions, Deleted, Registry, WriteOptions};
use crate::request::{Query, form_urlencoded_pairs};
use crate::rest::{read_body, read_json_body};
use crate::table::{self, IncludeObject};

/// The issuer of service-account tokens (kube-apiserver's `--service-account-issuer` as
/// clusters are commonly set up); also the default audience.
pub const TOKEN_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// Default and minimum token lifetimes (seconds), as upstream defaults and validates them.
const DEFAULT_TOKEN_SECONDS: i64 = 3600;
const MIN_TOKEN_SECONDS: i64 = 600;
const MAX_TOKEN_SECONDS: i64 = 1 << 32;

/// One request routed here.
pub struct Call<'a> {
    pub info: &'a ResourceInfo,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    pub subresource: Option<&'a str>,
    pub verb: &'static str,
    pub who: &'a Identity,
    pub query: &'a Query,
}

/// Whether this module answers the request (the rest is the generic registry's).
pub fn serves(info: &ResourceInfo, subresource: Option<&str>) -> bool {
    match subresource {
        None => info.is_virtual(),
        Some(sub) => matches!(
            sub,
            "scale"
                | "eviction"
                | "binding"
                | "log"
                | "token"
                | "exec"
                | "attach"
                | "portforward"
                | "proxy"
        ),
    }
}

/// Answers a request [`serves`] accepted; verbs were checked against discovery already.
pub async fn handle(
    state: &Arc<ServerState>,
    call: Call<'_>,
    req: Request,
) -> Result<Response, ApiError> {
    let registry = state.registry.clone();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // Scale writes are recorded in managedFields under the `scale` subresource.
    let opts = WriteOptions {
        dry_run: call.query.dry_run,
        manager: (call.subresource == Some("scale")).then(|| {
            call.query
                .field_manager
                .clone()
                .unwrap_or_else(|| crate::field_manager::manager_from_user_agent(user_agent))
        }),
        manager_subresource: Some("scale".into()).filter(|_| call.subresource == Some("scale")),
    };
    match (call.subresource, call.verb) {
        (Some("scale"), "get") => {
            let parent = registry
                .get(
                    call.info,
                    call.namespace,
                    call.name,
                    call.query.resource_version.as_deref(),
                )
                .await
                .map_err(|e| scale_not_found(call.info, call.name, e))?;
            let scale = scale_of(call.info, &parent)?;
            let accept = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            let body = match negotiate::choose(accept, false, true)? {
                Output::Table => {
                    let include = IncludeObject::parse(call.query.include_object.as_deref())?;
                    scale_table(call.info, &scale, include)
                }
                Output::Metadata => table::partial_metadata(&scale),
                _ => scale,
            };
            Ok(json_response(StatusCode::OK, &body))
        }
        (Some("scale"), "update") => {
            let (body, _) = read_json_body(req.headers().clone(), req.into_body()).await?;
            let scale = normalize_scale(body)?;
            // As for any PUT, the body names the object on the URL.
            let body_name = scale
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if body_name != call.name {
                return Err(ApiError::BadRequest(format!(
                    "the name of the object ({body_name}) does not match the name on the URL ({})",
                    call.name
                )));
            }
            let parent = write_scale(&registry, &call, &opts, |_| Ok(scale.clone())).await?;
            Ok(json_response(
                StatusCode::OK,
                &scale_of(call.info, &parent)?,
            ))
        }
        (Some("scale"), "patch") => {
            let content_type = content_type(&req);
            let bytes = read_body(req.into_body()).await?;
            let patch = crate::patch::Patch::parse(&content_type, &bytes)?;
            // The patch applies to the Scale form (its own strategic-merge schema).
            let mut scale_info = call.info.clone();
            (scale_info.group, scale_info.version, scale_info.kind) =
                ("autoscaling", "v1", "Scale");
            let parent = write_scale(&registry, &call, &opts, |old| {
                normalize_scale(patch.apply(old, &scale_info)?)
            })
            .await?;
            Ok(json_response(
                StatusCode::OK,
                &scale_of(call.info, &parent)?,
            ))
        }
        (Some("eviction"), "create") => {
            let (body, _) = read_json_body(req.headers().clone(), req.into_body()).await?;
            evict(&registry, &call, body).await
        }
        (Some("binding"), "create") => {
            let (body, _) = read_json_body(req.headers().clone(), req.into_body()).await?;
            bind(&registry, &call, call.name, body, &opts).await
        }
        (None, "create") if call.info.plural == "bindings" && call.info.group.is_empty() => {
            let (body, _) = read_json_body(req.headers().clone(), req.into_body()).await?;
            let name = body
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            bind(&registry, &call, &name, body, &opts).await
        }
        (Some("log"), "get") => {
            let pairs = form_urlencoded_pairs(req.uri().query().unwrap_or_default());
            let options = LogOptions::parse(&pairs)?;
            pod_log(state, &call, options).await
        }
        (Some(sub @ ("exec" | "attach" | "portforward" | "proxy")), _) => {
            Err(no_real_containers(call.info, call.namespace, call.name, sub, &registry).await)
        }
        (Some("token"), "create") => {
            let (body, _) = read_json_body(req.headers().clone(), req.into_body()).await?;
            token_request(state, &call, body).await
        }
        (None, "create") => {
            let (body, _) = read_json_body(req.headers().clone(), req.into_body()).await?;
            let body = typed(call.info, body)?;
            let answer = match call.info.plural {
                "selfsubjectaccessreviews" => self_subject_access_review(call.who, body)?,
                "selfsubjectrulesreviews" => self_subject_rules_review(body)?,
                "selfsubjectreviews" => self_subject_review(call.who),
                _ => return Err(ApiError::MethodNotAllowed),
            };
            Ok(json_response(StatusCode::CREATED, &answer))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// The answer to exec, attach, port-forward and proxy: the object must exist (404 as
/// upstream otherwise), and then skiff says plainly that nothing runs to connect to.
async fn no_real_containers(
    info: &ResourceInfo,
    namespace: Option<&str>,
    name: &str,
    sub: &str,
    registry: &crate::registry::Registry,
) -> ApiError {
    if let Err(e) = registry.get(info, namespace, name, None).await {
        return e;
    }
    ApiError::BadRequest(format!(
        "skiff does not run real containers: {}/{sub} is not supported yet",
        info.plural
    ))
}

fn content_type(req: &Request) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Decodes a body as the resource's kind (types checked, unknown fields dropped) and sets
/// its apiVersion/kind.
fn typed(info: &ResourceInfo, mut body: Value) -> Result<Value, ApiError> {
    body["apiVersion"] = json!(info.api_version());
    body["kind"] = json!(info.kind);
    let mut out = (info.normalize)(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}",
            kind = info.kind,
            version = info.version
        ))
    })?;
    if out.get("metadata").is_none() {
        out["metadata"] = json!({});
    }
    Ok(out)
}

/// The `Success` Status create-style subresources answer with (code 201, as upstream's
/// create handler fills in).
fn created_status() -> Response {
    json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

fn now_rfc3339() -> String {
    crate::clock::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

// ---------------------------------------------------------------------------------------
// scale

/// `deployments/scale.apps "web" not found`: upstream answers any read failure of the parent
/// with a NotFound on the scale subresource.
fn scale_not_found(info: &ResourceInfo, name: &str, err: ApiError) -> ApiError {
    match err {
        ApiError::NotFound { .. } => ApiError::NotFound {
            resource: GroupResource::new(info.group, &format!("{}/scale", info.plural)),
            name: name.to_string(),
        },
        other => other,
    }
}

/// The label selector of a scalable resource as its string form: a `LabelSelector` for the
/// apps resources, a plain label map for replication controllers.
fn selector_string(info: &ResourceInfo, parent: &Value) -> Result<String, ApiError> {
    let sel = parent.pointer("/spec/selector").unwrap_or(&Value::Null);
    if info.group.is_empty() {
        let labels = sel.as_object().cloned().unwrap_or_default();
        return Ok(LabelSelector::from_labels(&labels).to_string());
    }
    if sel.is_null() {
        return Ok(String::new());
    }
    LabelSelector::from_value(sel)
        .map(|s| s.to_string())
        .map_err(|e| ApiError::BadRequest(format!("invalid label selector: {e}")))
}

/// The autoscaling/v1 Scale view of a deployment, replica set, stateful set or replication
/// controller.
pub fn scale_of(info: &ResourceInfo, parent: &Value) -> Result<Value, ApiError> {
    let mut meta = serde_json::Map::new();
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = parent.get("metadata").and_then(|m| m.get(field)) {
            meta.insert(field.into(), v.clone());
        }
    }
    if let Some(paths) = info.custom.as_ref().and_then(|c| c.scale.as_ref()) {
        // A custom resource's scale reads the CRD's declared JSON paths.
        let at = |key: &str| {
            paths[key]
                .as_str()
                .and_then(|p| api::crd::json_path(parent, p))
        };
        let replicas = at("specReplicasPath").and_then(Value::as_i64).unwrap_or(0);
        let current = at("statusReplicasPath")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let mut status = json!({"replicas": current});
        if let Some(sel) = at("labelSelectorPath").and_then(Value::as_str) {
            status["selector"] = json!(sel);
        }
        return Ok(json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": meta,
            "spec": {"replicas": replicas},
            "status": status,
        }));
    }
    let replicas = parent
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let current = parent
        .pointer("/status/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": replicas},
        "status": {"replicas": current, "selector": selector_string(info, parent)?},
    }))
}

/// The Table kubectl asks for (`kubectl get deploy web --subresource=scale`): upstream's
/// Scale columns Name, Desired, Available.
fn scale_table(info: &ResourceInfo, scale: &Value, include: IncludeObject) -> Value {
    let name_column = api::printers::columns(info.group, info.plural)
        .first()
        .and_then(|c| serde_json::to_value(c).ok())
        .unwrap_or_else(|| json!({"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}));
    let mut row = json!({"cells": [
        scale.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
        scale.pointer("/spec/replicas").cloned().unwrap_or(Value::Null),
        scale.pointer("/status/replicas").cloned().unwrap_or(Value::Null),
    ]});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = table::partial_metadata(scale),
        IncludeObject::Object => row["object"] = scale.clone(),
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": scale.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null)},
        "columnDefinitions": [
            name_column,
            {"name": "Desired", "type": "integer", "format": "", "description": "replicas is the desired number of instances for the scaled object.", "priority": 0},
            {"name": "Available", "type": "integer", "format": "", "description": "replicas is the actual number of observed instances of the scaled object.", "priority": 0},
        ],
        "rows": [row],
    })
}

/// Checks a Scale body's types (as decoding into autoscaling/v1 Scale would).
fn normalize_scale(body: Value) -> Result<Value, ApiError> {
    use k8s_openapi::api::autoscaling::v1::Scale;
    let typed: Scale = serde_json::from_value(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "Scale in version \"v1\" cannot be handled as a Scale: {e}"
        ))
    })?;
    serde_json::to_value(typed).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Changes the parent's `spec.replicas` to what `new_scale` (given the current Scale) asks
/// for, through the normal update path (resourceVersion precondition, generation).
async fn write_scale<F>(
    registry: &Registry,
    call: &Call<'_>,
    opts: &WriteOptions,
    new_scale: F,
) -> Result<Value, ApiError>
where
    F: Fn(&Value) -> Result<Value, ApiError>,
{
    let info = call.info;
    let name = call.name;
    registry
        .read_modify_write(info, call.namespace, name, None, opts, |current| {
            let old = scale_of(info, current)?;
            let scale = new_scale(&old)?;
            if let Some(n) = scale.pointer("/metadata/name").and_then(Value::as_str)
                && !n.is_empty()
                && n != name
            {
                return Err(ApiError::BadRequest(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            let replicas = scale
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if replicas < 0 {
                return Err(ApiError::Invalid {
                    group: "autoscaling".into(),
                    kind: "Scale".into(),
                    name: name.to_string(),
                    causes: vec![FieldError::invalid(
                        "spec.replicas",
                        replicas,
                        "must be greater than or equal to 0",
                    )],
                });
            }
            let mut parent = current.clone();
            match info
                .custom
                .as_ref()
                .and_then(|c| c.scale.as_ref())
                .and_then(|p| p["specReplicasPath"].as_str())
            {
                Some(path) => {
                    // `.spec.replicas` → parent["spec"]["replicas"], creating objects.
                    let mut slot = &mut parent;
                    for part in path.trim_start_matches('.').split('.') {
                        if !slot.is_object() {
                            *slot = json!({});
                        }
                        slot = &mut slot[part];
                    }
                    *slot = json!(replicas);
                }
                None => parent["spec"]["replicas"] = json!(replicas),
            }
            // The Scale's resourceVersion is the precondition; none means unconditional.
            match scale
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .filter(|rv| !rv.is_empty())
            {
                Some(rv) => parent["metadata"]["resourceVersion"] = json!(rv),
                None => {
                    if let Some(m) = parent["metadata"].as_object_mut() {
                        m.remove("resourceVersion");
                    }
                }
            }
            Ok(parent)
        })
        .await
        .map_err(|e| scale_not_found(info, name, e))
}

// ---------------------------------------------------------------------------------------
// eviction

fn pods_info(registry: &Registry) -> Result<ResourceInfo, ApiError> {
    registry
        .resources()
        .find("", "v1", "pods")
        .ok_or_else(|| ApiError::Internal("pods are not served".into()))
}

/// The delete options an Eviction carries, merged with the request's `dryRun`.
fn eviction_delete_options(body: &Value, query_dry_run: bool) -> Result<DeleteOptions, ApiError> {
    let d = body.get("deleteOptions").unwrap_or(&Value::Null);
    let mut opts = DeleteOptions {
        dry_run: query_dry_run,
        grace_period_seconds: d.get("gracePeriodSeconds").and_then(Value::as_i64),
        propagation_policy: d
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..Default::default()
    };
    if opts.propagation_policy.is_none()
        && let Some(o) = d.get("orphanDependents").and_then(Value::as_bool)
    {
        opts.propagation_policy = Some(if o { "Orphan" } else { "Background" }.into());
    }
    if let Some(pre) = d.get("preconditions") {
        opts.precondition_uid = pre.get("uid").and_then(Value::as_str).map(str::to_string);
        opts.precondition_resource_version = pre
            .get("resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    for dry in d
        .get("dryRun")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match dry.as_str() {
            Some("All") => opts.dry_run = true,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "invalid dry run option: {other:?}: supported values: \"All\""
                )));
            }
        }
    }
    Ok(opts)
}

/// Pods whose eviction cannot disrupt anything more: finished, not yet running, or already
/// being deleted (upstream's `canIgnorePDB`).
fn can_ignore_pdb(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed" | "Pending")
    ) || pod.pointer("/metadata/deletionTimestamp").is_some()
}

/// Whether deleting an ignorable pod must carry its resourceVersion, so a pod that becomes
/// ready meanwhile is not deleted behind its budget's back (upstream's
/// `shouldEnforceResourceVersion`): all but terminal and terminating pods.
fn should_enforce_resource_version(pod: &Value) -> bool {
    !matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    ) && pod.pointer("/metadata/deletionTimestamp").is_none()
}

/// Whether the pod's `Ready` condition is `True`.
fn pod_is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Upstream's `MaxDisruptedPodSize`: evictions the disruption controller has not yet seen.
const MAX_DISRUPTED_POD_SIZE: usize = 2000;
/// Conflict retries of a budget write (upstream's `EvictionsRetry` has 20 steps).
const EVICTION_RETRIES: usize = 20;
/// Upstream's message of every eviction a budget refuses.
const EVICTION_REFUSED: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

/// Why a budget refuses an eviction (upstream's `checkAndDecrement` errors).
#[derive(Debug, Clone, PartialEq)]
enum Refusal {
    /// The controller has not yet processed the budget's current generation: 429, retry in 10 s.
    StillProcessing { budget: String },
    /// No disruption allowed: 429.
    Insufficient {
        budget: String,
        desired: i64,
        current: i64,
    },
    /// `disruptionsAllowed` below zero: 403.
    Negative { budget: String },
    /// Too many evictions the controller has not confirmed yet: 403.
    TooManyDisrupted { budget: String },
}

impl Refusal {
    /// The response upstream answers with.
    fn response(&self) -> Response {
        let too_many = |retry_after: u32, cause: String| {
            let mut details = json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]});
            if retry_after > 0 {
                details["retryAfterSeconds"] = json!(retry_after);
            }
            let mut resp = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": EVICTION_REFUSED, "reason": "TooManyRequests", "details": details, "code": 429}),
            );
            if retry_after > 0
                && let Ok(v) = http::HeaderValue::from_str(&retry_after.to_string())
            {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        };
        let forbidden = |budget: &str, detail: &str| {
            negotiate::error_response(&ApiError::Forbidden {
                resource: GroupResource::new("policy", "poddisruptionbudget"),
                name: budget.to_string(),
                detail: detail.to_string(),
            })
        };
        match self {
            Refusal::StillProcessing { budget } => too_many(
                10,
                format!("The disruption budget {budget} is still being processed by the server."),
            ),
            Refusal::Insufficient {
                budget,
                desired,
                current,
            } => too_many(
                0,
                format!(
                    "The disruption budget {budget} needs {desired} healthy pods and has {current} currently"
                ),
            ),
            Refusal::Negative { budget } => {
                forbidden(budget, "pdb disruptions allowed is negative")
            }
            Refusal::TooManyDisrupted { budget } => forbidden(
                budget,
                "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
            ),
        }
    }
}

/// Whether a budget selects a pod for eviction purposes: a missing or empty selector
/// selects nothing here (upstream's `getPodDisruptionBudgets`), as does an invalid one.
fn budget_selects(pdb: &Value, pod: &Value) -> bool {
    let Some(sel) = pdb.pointer("/spec/selector").filter(|s| !s.is_null()) else {
        return false;
    };
    match LabelSelector::from_value(sel) {
        Ok(s) if !s.is_empty() && !s.is_nothing() => s.matches_object(pod),
        _ => false,
    }
}

fn i64_at(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// Whether a pod that is not ready may go without spending the budget (upstream: always
/// with `unhealthyPodEvictionPolicy: AlwaysAllow`; with `IfHealthyBudget` or unset, when
/// the budget is met and non-zero). The delete then carries the pod's resourceVersion.
fn unready_pod_may_go(pdb: &Value, pod: &Value) -> bool {
    if pod_is_ready(pod) {
        return false;
    }
    if pdb
        .pointer("/spec/unhealthyPodEvictionPolicy")
        .and_then(Value::as_str)
        == Some("AlwaysAllow")
    {
        return true;
    }
    let desired = i64_at(pdb, "/status/desiredHealthy");
    i64_at(pdb, "/status/currentHealthy") >= desired && desired > 0
}

/// Upstream's `checkAndDecrement`: refuses, or returns the budget with one disruption spent
/// and (unless `dry_run`) the pod recorded in `status.disruptedPods` at `now`.
fn check_and_decrement(
    pdb: &Value,
    pod_name: &str,
    dry_run: bool,
    now: &str,
) -> Result<Value, Refusal> {
    let budget = pdb
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if i64_at(pdb, "/status/observedGeneration") < i64_at(pdb, "/metadata/generation") {
        return Err(Refusal::StillProcessing { budget });
    }
    let allowed = i64_at(pdb, "/status/disruptionsAllowed");
    if allowed < 0 {
        return Err(Refusal::Negative { budget });
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .map_or(0, |m| m.len());
    if disrupted > MAX_DISRUPTED_POD_SIZE {
        return Err(Refusal::TooManyDisrupted { budget });
    }
    if allowed == 0 {
        return Err(Refusal::Insufficient {
            budget,
            desired: i64_at(pdb, "/status/desiredHealthy"),
            current: i64_at(pdb, "/status/currentHealthy"),
        });
    }
    let mut new = pdb.clone();
    if !new["status"].is_object() {
        new["status"] = json!({});
    }
    new["status"]["disruptionsAllowed"] = json!(allowed - 1);
    if allowed - 1 == 0 {
        set_disruption_allowed_condition(&mut new, now);
    }
    if !dry_run {
        let pods = &mut new["status"]["disruptedPods"];
        if !pods.is_object() {
            *pods = json!({});
        }
        pods[pod_name] = json!(now);
    }
    Ok(new)
}

/// Upstream's `UpdateDisruptionAllowedCondition`: `DisruptionAllowed` True/`SufficientPods`
/// while disruptions are allowed, else False/`InsufficientPods`; the transition time moves
/// only when the status changes.
fn set_disruption_allowed_condition(pdb: &mut Value, now: &str) {
    let allowed = i64_at(pdb, "/status/disruptionsAllowed") > 0;
    let observed = i64_at(pdb, "/status/observedGeneration");
    let (status, reason) = if allowed {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    let conditions = &mut pdb["status"]["conditions"];
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Some(list) = conditions.as_array_mut() else {
        return;
    };
    let mut condition = json!({"type": "DisruptionAllowed", "status": status, "observedGeneration": observed,
        "lastTransitionTime": now, "reason": reason, "message": ""});
    match list.iter_mut().find(|c| c["type"] == "DisruptionAllowed") {
        Some(existing) => {
            if existing["status"] == status {
                condition["lastTransitionTime"] = existing["lastTransitionTime"].clone();
            }
            *existing = condition;
        }
        None => list.push(condition),
    }
}

/// What the budgets say about evicting a running pod.
enum BudgetOutcome {
    /// Delete the pod (the budget, if any, was charged).
    Delete,
    /// Delete the pod only if it is unchanged (it is not ready and the budget can spare it).
    DeleteIfUnchanged { budget: String },
    /// Answer this instead of deleting.
    Answer(Response),
}

/// Checks the budgets guarding a running pod as upstream's eviction subresource does: more
/// than one → 500; the one budget refuses (429/403) or is charged one disruption with the
/// pod recorded in `status.disruptedPods`, written with a resourceVersion precondition and
/// retried on conflict (not written at all for a dry run).
async fn check_disruption_budgets(
    registry: &Registry,
    namespace: Option<&str>,
    pod: &Value,
    dry_run: bool,
) -> Result<BudgetOutcome, ApiError> {
    let info = registry
        .resources()
        .find("policy", "v1", "poddisruptionbudgets")
        .ok_or_else(|| ApiError::Internal("poddisruptionbudgets are not served".into()))?;
    let budgets: Vec<Value> = registry
        .list(&info, namespace, &Default::default())
        .await?
        .items
        .into_iter()
        .filter(|pdb| budget_selects(pdb, pod))
        .collect();
    let mut pdb = match budgets.as_slice() {
        [] => return Ok(BudgetOutcome::Delete),
        [one] => one.clone(),
        _ => {
            return Ok(BudgetOutcome::Answer(json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
                    "code": 500}),
            )));
        }
    };
    let budget = pdb
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if unready_pod_may_go(&pdb, pod) {
        return Ok(BudgetOutcome::DeleteIfUnchanged { budget });
    }
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    for attempt in 0..EVICTION_RETRIES {
        if attempt > 0 {
            pdb = registry.get(&info, namespace, &budget, None).await?;
        }
        let charged = match check_and_decrement(&pdb, pod_name, dry_run, &now_rfc3339()) {
            Ok(charged) => charged,
            Err(refusal) => return Ok(BudgetOutcome::Answer(refusal.response())),
        };
        if dry_run {
            return Ok(BudgetOutcome::Delete);
        }
        // The body carries the resourceVersion read: a concurrent eviction makes this a
        // conflict, and the budget is read again.
        match registry
            .update(
                &info,
                namespace,
                &budget,
                Some("status"),
                charged,
                &WriteOptions::default(),
            )
            .await
        {
            Ok(_) => return Ok(BudgetOutcome::Delete),
            Err(ApiError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::Timeout(format!(
        "Timeout: couldn't update PodDisruptionBudget {budget:?} due to conflicts"
    )))
}

/// `POST pods/{name}/eviction` (upstream's `EvictionREST.Create`).
async fn evict(registry: &Registry, call: &Call<'_>, body: Value) -> Result<Response, ApiError> {
    let name = call.name;
    if body.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
        return Err(ApiError::BadRequest(
            "name in URL does not match name in Eviction object".into(),
        ));
    }
    let kind_ok = matches!(
        (
            body.get("apiVersion").and_then(Value::as_str),
            body.get("kind").and_then(Value::as_str)
        ),
        (
            None | Some("policy/v1" | "policy/v1beta1"),
            None | Some("Eviction")
        )
    );
    if !kind_ok {
        return Err(ApiError::BadRequest(format!(
            "not an Eviction object: {}/{}",
            body.get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            body.get("kind").and_then(Value::as_str).unwrap_or_default()
        )));
    }
    let dopts = eviction_delete_options(&body, call.query.dry_run)?;
    let caller_pinned_version = dopts.precondition_resource_version.is_some();
    let pods = pods_info(registry)?;
    // Pods that cannot disrupt anything more are deleted directly, pinned to the version
    // read; a conflict is retried unless the caller pinned a version itself.
    let mut attempt = 0;
    let pod = loop {
        let pod = registry.get(&pods, call.namespace, name, None).await?;
        if !can_ignore_pdb(&pod) {
            break pod;
        }
        let mut options = dopts.clone();
        if should_enforce_resource_version(&pod) && !caller_pinned_version {
            options.precondition_resource_version = pod
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        match delete_evicted_pod(registry, &pods, call.namespace, name, &pod, options).await {
            Err(ApiError::Conflict { .. })
                if !caller_pinned_version && attempt + 1 < EVICTION_RETRIES =>
            {
                attempt += 1;
            }
            Err(e) => return Err(e),
            Ok(()) => return Ok(created_status()),
        }
    };
    let mut options = dopts;
    match check_disruption_budgets(registry, call.namespace, &pod, options.dry_run).await? {
        BudgetOutcome::Answer(response) => Ok(response),
        BudgetOutcome::Delete => {
            delete_evicted_pod(registry, &pods, call.namespace, name, &pod, options).await?;
            Ok(created_status())
        }
        BudgetOutcome::DeleteIfUnchanged { budget } => {
            if !caller_pinned_version {
                options.precondition_resource_version = pod
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            match delete_evicted_pod(registry, &pods, call.namespace, name, &pod, options).await {
                Err(ApiError::Conflict { .. }) if !caller_pinned_version => {
                    Ok(Refusal::StillProcessing { budget }.response())
                }
                Err(e) => Err(e),
                Ok(()) => Ok(created_status()),
            }
        }
    }
}

/// Marks the pod with the `DisruptionTarget` condition (as upstream does before an eviction
/// deletes) and deletes it with the eviction's options.
async fn delete_evicted_pod(
    registry: &Registry,
    pods: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    pod: &Value,
    mut dopts: DeleteOptions,
) -> Result<(), ApiError> {
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let rv = pod
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(want) = &dopts.precondition_uid
        && want != uid
    {
        return Err(ApiError::Conflict {
            resource: GroupResource::new("", "pods"),
            name: name.to_string(),
            detail: format!(
                "Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"
            ),
        });
    }
    if let Some(want) = &dopts.precondition_resource_version
        && want != rv
    {
        return Err(ApiError::Conflict {
            resource: GroupResource::new("", "pods"),
            name: name.to_string(),
            detail: format!(
                "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rv}"
            ),
        });
    }
    if !dopts.dry_run {
        let updated = registry
            .read_modify_write(
                pods,
                ns,
                name,
                Some("status"),
                &WriteOptions::default(),
                |current| {
                    // The version the caller (or the budget check) pinned must still be the
                    // current one when the condition is written.
                    let current_rv = current
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if let Some(want) = &dopts.precondition_resource_version
                        && want != current_rv
                    {
                        return Err(ApiError::Conflict {
                            resource: GroupResource::new("", "pods"),
                            name: name.to_string(),
                            detail: format!(
                                "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {current_rv}"
                            ),
                        });
                    }
                    let mut p = current.clone();
                    set_pod_condition(
                        &mut p,
                        json!({"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting"}),
                    );
                    if let Some(m) = p["metadata"].as_object_mut() {
                        m.remove("resourceVersion");
                    }
                    Ok(p)
                },
            )
            .await?;
        // The condition write is ours: the caller's resourceVersion precondition moves on.
        if dopts.precondition_resource_version.is_some() {
            dopts.precondition_resource_version = updated
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    }
    match registry.delete(pods, ns, name, &dopts).await? {
        Deleted::Gone(_) | Deleted::Pending(_) => Ok(()),
    }
}

/// Sets a pod condition as upstream's `UpdatePodCondition`: replaces one of the same type
/// (keeping its transition time when the status is unchanged) or appends it.
fn set_pod_condition(pod: &mut Value, mut condition: Value) {
    let now = now_rfc3339();
    condition["lastTransitionTime"] = json!(now);
    if !pod["status"].is_object() {
        pod["status"] = json!({});
    }
    let conditions = &mut pod["status"]["conditions"];
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Some(list) = conditions.as_array_mut() else {
        return;
    };
    match list.iter_mut().find(|c| c["type"] == condition["type"]) {
        Some(existing) => {
            if existing["status"] == condition["status"]
                && let Some(t) = existing.get("lastTransitionTime")
            {
                condition["lastTransitionTime"] = t.clone();
            }
            *existing = condition;
        }
        None => list.push(condition),
    }
}

// ---------------------------------------------------------------------------------------
// binding

/// `POST pods/{name}/binding` and `POST bindings`: assigns the pod to the target node.
async fn bind(
    registry: &Registry,
    call: &Call<'_>,
    name: &str,
    body: Value,
    opts: &WriteOptions,
) -> Result<Response, ApiError> {
    let Some(binding_info) = registry.resources().find("", "v1", "bindings") else {
        return Err(ApiError::Internal("bindings are not served".into()));
    };
    let binding = typed(&binding_info, body)?;
    if binding.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
        return Err(ApiError::BadRequest(
            "name in URL does not match name in Binding object".into(),
        ));
    }
    if let Some(ns) = binding
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        && Some(ns) != call.namespace
    {
        return Err(ApiError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        ));
    }
    let target_kind = binding
        .pointer("/target/kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut errs = Vec::new();
    if !target_kind.is_empty() && target_kind != "Node" {
        errs.push(FieldError::not_supported(
            "target.kind",
            target_kind,
            &["Node", "<empty>"],
        ));
    }
    if node.is_empty() {
        errs.push(FieldError::required("target.name", ""));
    }
    if !errs.is_empty() {
        // Upstream returns the aggregated field errors as a plain (500) error.
        let msg: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        return Err(ApiError::Internal(if msg.len() == 1 {
            msg[0].clone()
        } else {
            format!("[{}]", msg.join(", "))
        }));
    }
    let want_uid = binding
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    let want_rv = binding
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    let annotations = binding
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let pods = pods_info(registry)?;
    let conflict = |detail: String| ApiError::Conflict {
        resource: GroupResource::new("", "pods/binding"),
        name: name.to_string(),
        detail,
    };
    registry
        .read_modify_write(&pods, call.namespace, name, Some("binding"), opts, |current| {
            let uid = current
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if let Some(want) = &want_uid
                && want != uid
            {
                return Err(ApiError::Conflict {
                    resource: GroupResource::new("", "pods"),
                    name: name.to_string(),
                    detail: format!(
                        "Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"
                    ),
                });
            }
            if current.pointer("/metadata/deletionTimestamp").is_some() {
                return Err(conflict(format!(
                    "pod {name} is being deleted, cannot be assigned to a host"
                )));
            }
            if let Some(n) = current
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                return Err(conflict(format!(
                    "pod {name} is already assigned to node {n:?}"
                )));
            }
            if current
                .pointer("/spec/schedulingGates")
                .and_then(Value::as_array)
                .is_some_and(|g| !g.is_empty())
            {
                return Err(conflict(format!(
                    "pod {name} has non-empty .spec.schedulingGates"
                )));
            }
            let mut pod = current.clone();
            pod["spec"]["nodeName"] = json!(node);
            if !annotations.is_empty() {
                if !pod["metadata"]["annotations"].is_object() {
                    pod["metadata"]["annotations"] = json!({});
                }
                for (k, v) in &annotations {
                    pod["metadata"]["annotations"][k] = v.clone();
                }
            }
            set_pod_condition(&mut pod, json!({"type": "PodScheduled", "status": "True"}));
            match &want_rv {
                Some(rv) => pod["metadata"]["resourceVersion"] = json!(rv),
                None => {
                    if let Some(m) = pod["metadata"].as_object_mut() {
                        m.remove("resourceVersion");
                    }
                }
            }
            Ok(pod)
        })
        .await?;
    Ok(created_status())
}

// ---------------------------------------------------------------------------------------
// log

/// `GET pods/{name}/log`: picks the container as upstream's `LogLocation` does, then asks
/// the pod's node for the log.
async fn pod_log(
    state: &Arc<ServerState>,
    call: &Call<'_>,
    options: LogOptions,
) -> Result<Response, ApiError> {
    let registry = &state.registry;
    let container = options.container.as_deref();
    let pods = pods_info(registry)?;
    let pod = registry.get(&pods, call.namespace, call.name, None).await?;
    let name = call.name;
    let names = |list: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    let containers = names("containers");
    let container = match container.filter(|c| !c.is_empty()) {
        Some(c) => {
            let known = containers.iter().any(|n| n == c)
                || names("initContainers").iter().any(|n| n == c)
                || names("ephemeralContainers").iter().any(|n| n == c);
            if !known {
                return Err(ApiError::BadRequest(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.to_string()
        }
        None => match containers.as_slice() {
            [only] => only.clone(),
            [] => {
                return Err(ApiError::BadRequest(format!(
                    "a container name must be specified for pod {name}"
                )));
            }
            many => {
                let mut msg = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    many.join(" ")
                );
                let init = names("initContainers");
                if !init.is_empty() {
                    msg.push_str(&format!(
                        " or one of the init containers: [{}]",
                        init.join(" ")
                    ));
                }
                return Err(ApiError::BadRequest(msg));
            }
        },
    };
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if node.is_empty() {
        // No node yet: upstream has no location to stream from and answers 204 No Content.
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        return Ok(resp);
    }
    // Upstream resolves the node's kubelet address first; a pod bound to a node that does
    // not exist has nowhere to read logs from.
    let nodes = registry
        .resources()
        .find("", "v1", "nodes")
        .ok_or_else(|| ApiError::Internal("nodes are not served".into()))?;
    registry.get(&nodes, None, node, None).await?;
    let Some(kubelet) = state.kubelet() else {
        return Err(ApiError::Unavailable(format!(
            "no kubelet serves node {node:?}: this server runs without simulated nodes"
        )));
    };
    let meta = |p: &str| {
        pod.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let request = api::kubelet::LogRequest {
        node: node.to_string(),
        namespace: meta("/metadata/namespace"),
        pod: name.to_string(),
        pod_uid: meta("/metadata/uid"),
        container,
        follow: options.follow,
        previous: options.previous,
        tail_lines: options.tail_lines,
        since_seconds: options.since_seconds,
        since_time: options.since_time,
        timestamps: options.timestamps,
        limit_bytes: options.limit_bytes,
    };
    let stream = kubelet
        .container_logs(request)
        .await
        .map_err(|e| kubelet_error(e, name))?;
    let body = Body::from_stream(futures::StreamExt::map(stream, |chunk| {
        chunk
            .map(bytes::Bytes::from)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }));
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    Ok(resp)
}

fn kubelet_error(error: api::kubelet::LogError, pod: &str) -> ApiError {
    use api::kubelet::LogError;
    match error {
        LogError::BadRequest(m) => ApiError::BadRequest(m),
        LogError::NotFound(_) => ApiError::NotFound {
            resource: GroupResource::new("", "pods"),
            name: pod.to_string(),
        },
        LogError::Unavailable(m) => ApiError::Unavailable(m),
    }
}

/// The query of `pods/log` (`PodLogOptions`), checked as upstream's validation does.
#[derive(Debug, Default)]
struct LogOptions {
    container: Option<String>,
    follow: bool,
    previous: bool,
    timestamps: bool,
    tail_lines: Option<i64>,
    since_seconds: Option<i64>,
    since_time: Option<jiff::Timestamp>,
    limit_bytes: Option<i64>,
}

impl LogOptions {
    fn parse(pairs: &[(String, String)]) -> Result<LogOptions, ApiError> {
        let mut o = LogOptions::default();
        let mut causes = Vec::new();
        let int = |k: &str, v: &str| -> Result<i64, ApiError> {
            v.parse().map_err(|_| {
                ApiError::BadRequest(format!("invalid value {v:?} for query parameter {k}"))
            })
        };
        let boolean = |k: &str, v: &str| -> Result<bool, ApiError> {
            match v {
                "" | "true" | "1" | "True" | "TRUE" | "t" | "T" => Ok(true),
                "false" | "0" | "False" | "FALSE" | "f" | "F" => Ok(false),
                _ => Err(ApiError::BadRequest(format!(
                    "invalid value {v:?} for query parameter {k}"
                ))),
            }
        };
        for (k, v) in pairs {
            match k.as_str() {
                "container" => o.container = Some(v.clone()),
                "follow" => o.follow = boolean(k, v)?,
                "previous" => o.previous = boolean(k, v)?,
                "timestamps" => o.timestamps = boolean(k, v)?,
                "tailLines" => o.tail_lines = Some(int(k, v)?),
                "sinceSeconds" => o.since_seconds = Some(int(k, v)?),
                "limitBytes" => o.limit_bytes = Some(int(k, v)?),
                "sinceTime" => {
                    o.since_time = Some(v.parse().map_err(|_| {
                        ApiError::BadRequest(format!(
                            "invalid value {v:?} for query parameter sinceTime"
                        ))
                    })?)
                }
                _ => {}
            }
        }
        if o.since_seconds.is_some() && o.since_time.is_some() {
            causes.push(FieldError::forbidden(
                "sinceSeconds",
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            ));
        }
        if let Some(n) = o.since_seconds.filter(|n| *n < 1) {
            causes.push(FieldError::invalid(
                "sinceSeconds",
                json!(n),
                "must be greater than 0",
            ));
        }
        if let Some(n) = o.tail_lines.filter(|n| *n < 0) {
            causes.push(FieldError::invalid(
                "tailLines",
                json!(n),
                "must be greater than or equal to 0",
            ));
        }
        if let Some(n) = o.limit_bytes.filter(|n| *n < 1) {
            causes.push(FieldError::invalid(
                "limitBytes",
                json!(n),
                "must be greater than 0",
            ));
        }
        if !causes.is_empty() {
            return Err(ApiError::Invalid {
                group: String::new(),
                kind: "PodLogOptions".into(),
                name: String::new(),
                causes,
            });
        }
        Ok(o)
    }
}

// ---------------------------------------------------------------------------------------
// token

/// `POST serviceaccounts/{name}/token`: a TokenRequest answered with a signed token.
async fn token_request(
    state: &Arc<ServerState>,
    call: &Call<'_>,
    body: Value,
) -> Result<Response, ApiError> {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    let registry = &state.registry;
    let name = call.name;
    let ns = call.namespace.unwrap_or_default();
    let mut req: Value = {
        let mut b = body;
        b["apiVersion"] = json!("authentication.k8s.io/v1");
        b["kind"] = json!("TokenRequest");
        if !b.get("spec").is_some_and(Value::is_object) {
            b["spec"] = json!({});
        }
        // The status is the server's to fill in (clients send an empty one).
        if let Some(m) = b.as_object_mut() {
            m.remove("status");
        }
        let t: TokenRequest = serde_json::from_value(b).map_err(|e| {
            ApiError::BadRequest(format!(
                "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: {e}"
            ))
        })?;
        serde_json::to_value(t).map_err(|e| ApiError::Internal(e.to_string()))?
    };
    if !req["metadata"].is_object() {
        req["metadata"] = json!({});
    }
    match req.pointer("/metadata/name").and_then(Value::as_str) {
        None | Some("") => req["metadata"]["name"] = json!(name),
        Some(n) if n == name => {}
        Some(n) => {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    match req.pointer("/metadata/namespace").and_then(Value::as_str) {
        None | Some("") => req["metadata"]["namespace"] = json!(ns),
        Some(n) if n == ns => {}
        Some(_) => {
            return Err(ApiError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
    }
    let seconds = req
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_TOKEN_SECONDS);
    req["spec"]["expirationSeconds"] = json!(seconds);
    let invalid = |detail: &str| ApiError::Invalid {
        group: "authentication.k8s.io".into(),
        kind: "TokenRequest".into(),
        name: String::new(),
        causes: vec![FieldError::invalid(
            "spec.expirationSeconds",
            seconds,
            detail,
        )],
    };
    if seconds < MIN_TOKEN_SECONDS {
        return Err(invalid("may not specify a duration less than 10 minutes"));
    }
    if seconds > MAX_TOKEN_SECONDS {
        return Err(invalid(
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let find = |plural: &str| {
        registry
            .resources()
            .find("", "v1", plural)
            .ok_or_else(|| ApiError::Internal(format!("{plural} are not served")))
    };
    let sa = registry
        .get_for_admission(&find("serviceaccounts")?, Some(ns), name)
        .await?;
    let sa_uid = sa
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut k8s = json!({"namespace": ns, "serviceaccount": {"name": name, "uid": sa_uid}});
    let object_ref = |o: &Value| {
        json!({
            "name": o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default(),
            "uid": o.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default(),
        })
    };
    if let Some(bound) = req
        .pointer("/spec/boundObjectRef")
        .filter(|b| b.is_object())
        .cloned()
    {
        let api_version = bound
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = bound
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let ref_name = bound
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let (obj, claim) = match (group, kind) {
            ("", "Pod") => {
                let pod = registry
                    .get(&find("pods")?, Some(ns), ref_name, None)
                    .await?;
                let pod_sa = pod
                    .pointer("/spec/serviceAccountName")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if pod_sa != name {
                    return Err(ApiError::BadRequest(format!(
                        "cannot bind token for serviceaccount {name:?} to pod running with serviceaccount {pod_sa:?}"
                    )));
                }
                // A scheduled pod's token also names its node (ServiceAccountTokenPodNodeInfo).
                if let Some(node_name) = pod
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                {
                    match registry.get(&find("nodes")?, None, node_name, None).await {
                        Ok(node) => k8s["node"] = object_ref(&node),
                        Err(ApiError::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                (pod, "pod")
            }
            ("", "Secret") => (
                registry
                    .get(&find("secrets")?, Some(ns), ref_name, None)
                    .await?,
                "secret",
            ),
            ("", "Node") => (
                registry.get(&find("nodes")?, None, ref_name, None).await?,
                "node",
            ),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "cannot bind token to object of type {group}/{version}, Kind={kind}"
                )));
            }
        };
        let uid = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(want) = bound
            .get("uid")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            && want != uid
        {
            return Err(ApiError::Conflict {
                resource: GroupResource::new(group, kind),
                name: ref_name.to_string(),
                detail: format!(
                    "the UID in the bound object reference ({want}) does not match the UID in record ({uid}). The object might have been deleted and then recreated"
                ),
            });
        }
        k8s[claim] = object_ref(&obj);
    }
    let audiences = match req.pointer("/spec/audiences").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a.clone(),
        _ => vec![json!(TOKEN_ISSUER)],
    };
    req["spec"]["audiences"] = json!(audiences);
    let now = crate::clock::now();
    let iat = now.as_second();
    let exp = iat + seconds;
    let claims = json!({
        "aud": audiences,
        "exp": exp,
        "iat": iat,
        "iss": TOKEN_ISSUER,
        "jti": uuid::Uuid::new_v4().to_string(),
        "kubernetes.io": k8s,
        "nbf": iat,
        "sub": format!("system:serviceaccount:{ns}:{name}"),
    });
    let token = state
        .token_signer()?
        .sign(&claims)
        .map_err(|e| ApiError::Internal(format!("failed to generate token: {e}")))?;
    let expires = jiff::Timestamp::from_second(exp)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    req["status"] = json!({"token": token, "expirationTimestamp": expires});
    Ok(json_response(StatusCode::CREATED, &req))
}

// ---------------------------------------------------------------------------------------
// reviews

/// A SelfSubjectAccessReview: every authenticated user is allowed everything until RBAC is
/// enforced.
fn self_subject_access_review(who: &Identity, mut review: Value) -> Result<Value, ApiError> {
    let resource = review.pointer("/spec/resourceAttributes").cloned();
    let non_resource = review.pointer("/spec/nonResourceAttributes").cloned();
    let mut errs = Vec::new();
    match (&resource, &non_resource) {
        (Some(_), Some(n)) => errs.push(FieldError::invalid(
            "spec.nonResourceAttributes",
            n.clone(),
            "cannot be specified in combination with resourceAttributes",
        )),
        (None, None) => errs.push(FieldError::invalid(
            "spec.resourceAttributes",
            Value::Null,
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        _ => {}
    }
    if !errs.is_empty() {
        return Err(ApiError::Invalid {
            group: "authorization.k8s.io".into(),
            kind: "SelfSubjectAccessReview".into(),
            name: String::new(),
            causes: errs,
        });
    }
    review["status"] = json!({
        "allowed": true,
        "reason": format!("skiff does not enforce RBAC yet: every authenticated user (here {:?}) is allowed", who.user),
    });
    Ok(review)
}

/// A SelfSubjectRulesReview: everything, on every resource and path.
fn self_subject_rules_review(review: Value) -> Result<Value, ApiError> {
    let ns = review
        .pointer("/spec/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if ns.is_empty() {
        return Err(ApiError::BadRequest("no namespace on request".into()));
    }
    // Upstream answers with a new review carrying only the status.
    Ok(json!({
        "kind": "SelfSubjectRulesReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {},
        "spec": {},
        "status": {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        },
    }))
}

/// A SelfSubjectReview: who the requester is.
fn self_subject_review(who: &Identity) -> Value {
    json!({
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": now_rfc3339()},
        "status": {"userInfo": {"username": who.user, "groups": who.groups}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(plural: &str) -> ResourceInfo {
        api::resources::builtin()
            .into_iter()
            .find(|r| r.plural == plural)
            .expect("resource in table")
    }

    #[test]
    fn scale_views_carry_replicas_and_selector() {
        let deploy = json!({"metadata": {"name": "web", "namespace": "d", "uid": "u", "resourceVersion": "5", "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"x": "y"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]}},
            "status": {"replicas": 2}});
        let s = scale_of(&info("deployments"), &deploy).expect("scale");
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=web,tier in (a,b)");
        assert_eq!(s["metadata"]["resourceVersion"], "5");
        assert!(s["metadata"].get("labels").is_none());
        let rc = json!({"metadata": {"name": "rc"}, "spec": {"selector": {"b": "2", "a": "1"}}});
        let s = scale_of(&info("replicationcontrollers"), &rc).expect("rc scale");
        assert_eq!(s["status"]["selector"], "a=1,b=2");
        assert_eq!(s["spec"]["replicas"], 1);
    }

    #[test]
    fn pod_conditions_are_replaced_or_appended() {
        let mut pod = json!({"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}});
        set_pod_condition(&mut pod, json!({"type": "PodScheduled", "status": "True"}));
        set_pod_condition(
            &mut pod,
            json!({"type": "DisruptionTarget", "status": "True"}),
        );
        let c = pod["status"]["conditions"].as_array().expect("conditions");
        assert_eq!(c.len(), 2);
        assert_eq!(c[0]["status"], "True");
        assert!(c[0].get("reason").is_none());
    }

    fn budget(generation: i64, observed: i64, allowed: i64, desired: i64, current: i64) -> Value {
        json!({"metadata": {"name": "web", "generation": generation},
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
            "status": {"observedGeneration": observed, "disruptionsAllowed": allowed,
                "desiredHealthy": desired, "currentHealthy": current, "expectedPods": 3}})
    }

    #[test]
    fn budgets_refuse_or_charge_evictions_as_upstream() {
        let now = "2026-01-01T00:00:00Z";
        let cases = [
            (
                "a budget not yet processed asks to retry",
                budget(2, 1, 1, 2, 3),
                false,
                Err(Refusal::StillProcessing {
                    budget: "web".into(),
                }),
            ),
            (
                "no disruption allowed is refused with the counts",
                budget(1, 1, 0, 2, 2),
                false,
                Err(Refusal::Insufficient {
                    budget: "web".into(),
                    desired: 2,
                    current: 2,
                }),
            ),
            (
                "a negative allowance is forbidden",
                budget(1, 1, -1, 2, 1),
                false,
                Err(Refusal::Negative {
                    budget: "web".into(),
                }),
            ),
            ("an allowance is spent", budget(1, 1, 2, 1, 3), false, Ok(1)),
            (
                "the last allowance is spent",
                budget(1, 1, 1, 2, 3),
                false,
                Ok(0),
            ),
            (
                "a dry run spends without recording",
                budget(1, 1, 1, 2, 3),
                true,
                Ok(0),
            ),
        ];
        for (case, pdb, dry_run, want) in cases {
            let got = check_and_decrement(&pdb, "web-1", dry_run, now);
            match (got, want) {
                (Err(got), Err(want)) => assert_eq!(got, want, "{case}"),
                (Ok(new), Ok(left)) => {
                    assert_eq!(new["status"]["disruptionsAllowed"], left, "{case}");
                    let recorded = new.pointer("/status/disruptedPods/web-1").cloned();
                    assert_eq!(recorded, (!dry_run).then(|| json!(now)), "{case}");
                    if left == 0 {
                        let c = &new["status"]["conditions"][0];
                        assert_eq!(
                            (&c["type"], &c["status"], &c["reason"]),
                            (
                                &json!("DisruptionAllowed"),
                                &json!("False"),
                                &json!("InsufficientPods")
                            ),
                            "{case}"
                        );
                    }
                }
                (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn unready_pods_go_per_the_unhealthy_pod_eviction_policy() {
        let ready = json!({"metadata": {"labels": {"app": "web"}}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        let unready = json!({"metadata": {"labels": {"app": "web"}}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}});
        let mut always = budget(1, 1, 0, 3, 2);
        always["spec"]["unhealthyPodEvictionPolicy"] = json!("AlwaysAllow");
        let cases = [
            (
                "a ready pod always spends the budget",
                budget(1, 1, 1, 2, 3),
                &ready,
                false,
            ),
            (
                "an unready pod goes when the budget is met",
                budget(1, 1, 1, 2, 2),
                &unready,
                true,
            ),
            (
                "an unready pod stays when the budget is not met",
                budget(1, 1, 0, 3, 2),
                &unready,
                false,
            ),
            (
                "an unready pod stays when nothing is desired",
                budget(1, 1, 0, 0, 0),
                &unready,
                false,
            ),
            ("AlwaysAllow lets unready pods go", always, &unready, true),
        ];
        for (case, pdb, pod, want) in cases {
            assert_eq!(unready_pod_may_go(&pdb, pod), want, "{case}");
        }
    }

    #[test]
    fn only_non_empty_selectors_guard_pods_against_eviction() {
        let pod = json!({"metadata": {"labels": {"app": "web"}}});
        let cases = [
            (
                "matching labels",
                json!({"matchLabels": {"app": "web"}}),
                true,
            ),
            ("other labels", json!({"matchLabels": {"app": "db"}}), false),
            ("an empty selector", json!({}), false),
            ("no selector", Value::Null, false),
        ];
        for (case, selector, want) in cases {
            let pdb = json!({"spec": {"selector": selector}});
            assert_eq!(budget_selects(&pdb, &pod), want, "{case}");
        }
        assert!(can_ignore_pdb(&json!({"status": {"phase": "Succeeded"}})));
        assert!(!can_ignore_pdb(&json!({"status": {"phase": "Running"}})));
        assert!(should_enforce_resource_version(
            &json!({"status": {"phase": "Pending"}})
        ));
        assert!(!should_enforce_resource_version(
            &json!({"status": {"phase": "Failed"}})
        ));
    }

    #[test]
    fn access_reviews_need_exactly_one_attribute_set() {
        let who = Identity::user("kubernetes-admin", &["system:masters"]);
        let ok = self_subject_access_review(
            &who,
            json!({"spec": {"resourceAttributes": {"verb": "create", "resource": "pods"}}}),
        )
        .expect("allowed");
        assert_eq!(ok["status"]["allowed"], true);
        let err = self_subject_access_review(&who, json!({"spec": {}})).expect_err("invalid");
        assert_eq!(err.code(), 422);
    }
}
