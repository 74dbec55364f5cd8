//! Deployment bookkeeping shared by every strategy (upstream's `sync.go` and
//! `util/deployment_util.go`): the pod-template hash, revisions and annotations, finding the
//! new and old ReplicaSets, creating the new one, proportional scaling, history cleanup and
//! the status computation.

use std::cmp::Ordering;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::events::EventType;
use serde_json::{Map, Value};

use super::Controller;
use crate::replicaset::{
    api_message, has_status_cause, new_controller_ref, non_zero, now_time, record,
};
use crate::{Error, is_not_found};

/// The label (and selector key) every ReplicaSet of a Deployment carries.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The rollout sequence number of a ReplicaSet.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The revisions a ReplicaSet served before (after rollbacks).
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas plus maxSurge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// kubectl's last-applied configuration, never copied to ReplicaSets.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The deprecated rollback request annotation, never copied.
const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
/// Longest revision-history annotation kept (upstream's `maxRevHistoryLengthInChars`).
const MAX_REV_HISTORY_CHARS: usize = 2000;

/// Progressing reasons.
pub const REPLICA_SET_UPDATED: &str = "ReplicaSetUpdated";
/// A new ReplicaSet could not be created.
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
/// A new ReplicaSet was created.
pub const NEW_REPLICA_SET: &str = "NewReplicaSetCreated";
/// An existing ReplicaSet matches the template.
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
/// The rollout completed.
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
/// No progress within progressDeadlineSeconds.
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
/// The Deployment is paused.
pub const PAUSED: &str = "DeploymentPaused";
/// The Deployment was resumed.
pub const RESUMED: &str = "DeploymentResumed";
/// Available reasons.
pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
/// Fewer than replicas - maxUnavailable pods are available.
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

// ---------------------------------------------------------------------------------------------
// Hash
// ---------------------------------------------------------------------------------------------

/// Characters upstream's `rand.SafeEncodeString` maps bytes to (no vowels, no confusables).
const SAFE_ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Upstream's `rand.SafeEncodeString`.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHANUMS[b as usize % SAFE_ALPHANUMS.len()] as char)
        .collect()
}

/// 32-bit FNV-1a.
fn fnv32a(data: &[u8], mut hash: u32) -> u32 {
    for b in data {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

const FNV32_OFFSET: u32 = 0x811c_9dc5;

/// Drops nulls, empty lists and empty maps (recursively), as semantic equality treats them
/// like absent fields.
fn normalize(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Array(a) if a.is_empty() => None,
        Value::Array(a) => Some(Value::Array(
            a.iter()
                .map(|x| normalize(x).unwrap_or(Value::Null))
                .collect(),
        )),
        Value::Object(m) => {
            let out: Map<String, Value> = m
                .iter()
                .filter_map(|(k, x)| normalize(x).map(|x| (k.clone(), x)))
                .collect();
            (!out.is_empty()).then_some(Value::Object(out))
        }
        other => Some(other.clone()),
    }
}

/// Writes `v` as JSON with object keys sorted.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A template as a comparable, canonical value (pod-template-hash label removed).
fn template_value(template: &PodTemplateSpec) -> Value {
    let mut v = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(labels) = v
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    normalize(&v).unwrap_or(Value::Null)
}

/// The pod-template hash of a Deployment's template: FNV-1a (32 bit) over a canonical
/// encoding of the template, then the collision count's 4 little-endian bytes (upstream writes
/// `uint32` into an 8-byte buffer and hashes all 8), printed in decimal and passed through
/// `SafeEncodeString` like upstream's `controller.ComputeHash`. Upstream hashes Go's `spew`
/// dump of the struct, which cannot be reproduced here, so values differ from a real cluster's
/// but have the same shape and are stable across restarts.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut text = String::new();
    canonical(&template_value(template), &mut text);
    let mut hash = fnv32a(text.as_bytes(), FNV32_OFFSET);
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(count as u32).to_le_bytes());
        hash = fnv32a(&bytes, hash);
    }
    safe_encode(&hash.to_string())
}

/// Whether two templates are equal ignoring the pod-template-hash label (upstream's
/// `EqualIgnoreHash` with semantic equality).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    template_value(a) == template_value(b)
}

// ---------------------------------------------------------------------------------------------
// Spec accessors and fenceposts
// ---------------------------------------------------------------------------------------------

/// `spec.replicas` (defaulted to 1).
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// A ReplicaSet's `spec.replicas`.
pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn rs_status(rs: &ReplicaSet) -> (i32, i32, i32) {
    let s = rs.status.as_ref();
    (
        s.map(|s| s.replicas).unwrap_or(0),
        s.and_then(|s| s.ready_replicas).unwrap_or(0),
        s.and_then(|s| s.available_replicas).unwrap_or(0),
    )
}

/// A ReplicaSet's available replicas.
pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs_status(rs).2
}

/// The strategy type (`RollingUpdate` by default).
pub fn strategy_type(d: &Deployment) -> &str {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
}

/// Whether the strategy is a rolling update.
pub fn is_rolling_update(d: &Deployment) -> bool {
    strategy_type(d) == "RollingUpdate"
}

/// Upstream's `intstr.GetScaledValueFromIntOrPercent`.
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match v {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let Some(p) = s.strip_suffix('%') else {
                return Err(format!("invalid type: string is not a percentage: {s:?}"));
            };
            let p: i64 = p
                .parse()
                .map_err(|_| format!("invalid value for IntOrString: invalid value {s:?}"))?;
            let product = p * i64::from(total);
            let v = if round_up {
                (product as f64 / 100.0).ceil()
            } else {
                (product as f64 / 100.0).floor()
            };
            Ok(v as i32)
        }
    }
}

/// Resolves maxSurge (rounded up) and maxUnavailable (rounded down) against `desired`; both
/// zero becomes maxUnavailable 1 (upstream's `ResolveFenceposts`).
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), String> {
    let zero = IntOrString::Int(0);
    let surge = scaled_value(max_surge.unwrap_or(&zero), desired, true)?;
    let mut unavailable = scaled_value(max_unavailable.unwrap_or(&zero), desired, false)?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

fn fenceposts(d: &Deployment) -> (i32, i32) {
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    resolve_fenceposts(
        ru.and_then(|r| r.max_surge.as_ref()),
        ru.and_then(|r| r.max_unavailable.as_ref()),
        replicas(d),
    )
    .unwrap_or((0, 1))
}

/// The most pods a rolling Deployment may lack (upstream's `MaxUnavailable`).
pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling_update(d) || replicas(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas(d))
}

/// The most extra pods a rolling Deployment may have (upstream's `MaxSurge`).
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling_update(d) {
        return 0;
    }
    fenceposts(d).0
}

/// Whether the Deployment reports `ProgressDeadlineExceeded` at all.
pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .is_some_and(|s| s != i32::MAX)
}

// ---------------------------------------------------------------------------------------------
// Replica set lists
// ---------------------------------------------------------------------------------------------

fn created(rs: &ReplicaSet) -> Option<jiff::Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Oldest first, then by name (upstream's `ReplicaSetsByCreationTimestamp`).
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(a)
        .cmp(&created(b))
        .then_with(|| a.name_any().cmp(&b.name_any()))
}

/// Larger first; equal sizes newer first (upstream's `ReplicaSetsBySizeNewer`).
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b)
        .cmp(&rs_replicas(a))
        .then_with(|| by_creation(b, a))
}

/// Larger first; equal sizes older first (upstream's `ReplicaSetsBySizeOlder`).
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b)
        .cmp(&rs_replicas(a))
        .then_with(|| by_creation(a, b))
}

/// The revision annotation of a ReplicaSet (0 when absent, `None` when unparsable).
pub fn revision(rs: &ReplicaSet) -> Option<i64> {
    match rs.annotations().get(REVISION) {
        None => Some(0),
        Some(v) => v.parse().ok(),
    }
}

/// The highest revision among `rss`.
pub fn max_revision(rss: &[ReplicaSet]) -> i64 {
    rss.iter().filter_map(revision).max().unwrap_or(0).max(0)
}

/// Index of the new ReplicaSet: the oldest whose template equals the Deployment's.
pub fn find_new_replica_set(d: &Deployment, rss: &[ReplicaSet]) -> Option<usize> {
    let template = d.spec.as_ref().map(|s| &s.template)?;
    let mut order: Vec<usize> = (0..rss.len()).collect();
    order.sort_by(|&a, &b| by_creation(&rss[a], &rss[b]));
    order.into_iter().find(|&i| {
        rss[i]
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .is_some_and(|t| equal_ignore_hash(t, template))
    })
}

/// ReplicaSets with replicas.
pub fn active(rss: &[ReplicaSet]) -> Vec<ReplicaSet> {
    rss.iter()
        .filter(|rs| rs_replicas(rs) > 0)
        .cloned()
        .collect()
}

/// Sum of spec replicas.
pub fn spec_replicas_sum(rss: &[ReplicaSet]) -> i32 {
    rss.iter().map(rs_replicas).sum()
}

/// Sum of available replicas.
pub fn available_sum(rss: &[ReplicaSet]) -> i32 {
    rss.iter().map(rs_available).sum()
}

// ---------------------------------------------------------------------------------------------
// Annotations
// ---------------------------------------------------------------------------------------------

fn skip_copy(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED | REVISION | REVISION_HISTORY | DESIRED_REPLICAS | MAX_REPLICAS | ROLLBACK_TO
    )
}

/// Sets desired/max replicas annotations; whether anything changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.annotations_mut();
    let mut changed = false;
    for (key, value) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.into(), value);
            changed = true;
        }
    }
    changed
}

/// Whether the desired/max replicas annotations differ.
pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    let a = rs.annotations();
    a.get(DESIRED_REPLICAS) != Some(&desired.to_string())
        || a.get(MAX_REPLICAS) != Some(&max.to_string())
}

/// Copies the Deployment's annotations to the new ReplicaSet and bumps its revision to
/// `new_revision` if lower, remembering earlier revisions (upstream's
/// `SetNewReplicaSetAnnotations`); whether anything changed.
pub fn set_new_replica_set_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = false;
    let annotations = rs.annotations_mut();
    for (k, v) in d.annotations() {
        if skip_copy(k) || annotations.get(k) == Some(v) {
            continue;
        }
        annotations.insert(k.clone(), v.clone());
        changed = true;
    }
    let old = annotations.get(REVISION).cloned();
    let old_int = match old.as_deref() {
        None | Some("") => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(v) => v,
            Err(_) => return false,
        },
    };
    if old_int < new_revision {
        annotations.insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = annotations
                .get(REVISION_HISTORY)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                annotations.insert(REVISION_HISTORY.into(), old);
            } else {
                let mut parts: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REV_HISTORY_CHARS && start < parts.len() {
                    total -= parts[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REV_HISTORY_CHARS {
                    parts = parts.split_off(start);
                    parts.push(&old);
                    let joined = parts.join(",");
                    annotations.insert(REVISION_HISTORY.into(), joined);
                }
            }
        }
    }
    if !exists {
        let desired = replicas(d);
        changed |= set_replicas_annotations(rs, desired, desired + max_surge(d));
    }
    changed
}

// ---------------------------------------------------------------------------------------------
// Scaling arithmetic
// ---------------------------------------------------------------------------------------------

/// How many replicas the new ReplicaSet should have now (upstream's `NewRSNewReplicas`).
pub fn new_rs_new_replicas(
    d: &Deployment,
    all: &[ReplicaSet],
    new_rs: &ReplicaSet,
) -> Result<i32, String> {
    match strategy_type(d) {
        "RollingUpdate" => {
            let surge = max_surge(d);
            let current = spec_replicas_sum(all);
            let max_total = replicas(d) + surge;
            if current >= max_total {
                return Ok(rs_replicas(new_rs));
            }
            let up = (max_total - current).min(replicas(d) - rs_replicas(new_rs));
            Ok(rs_replicas(new_rs) + up)
        }
        "Recreate" => Ok(replicas(d)),
        other => Err(format!("deployment type {other} isn't supported")),
    }
}

/// Whether the new ReplicaSet has all desired replicas available (upstream's `IsSaturated`).
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else { return false };
    let Some(desired) = rs
        .annotations()
        .get(DESIRED_REPLICAS)
        .and_then(|v| v.parse::<i32>().ok())
    else {
        return false;
    };
    rs_replicas(rs) == replicas(d) && desired == replicas(d) && rs_available(rs) == replicas(d)
}

/// The share of `to_add` replicas `rs` gets in a proportional scale (upstream's
/// `GetReplicaSetProportion`).
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    if replicas(d) == 0 {
        return -rs_replicas(rs);
    }
    let deployment_replicas = replicas(d) + max_surge(d);
    let annotated = rs
        .annotations()
        .get(MAX_REPLICAS)
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
    if annotated == 0 {
        return 0;
    }
    let size = f64::from(rs_replicas(rs)) * f64::from(deployment_replicas) / f64::from(annotated);
    // Go's integer.RoundToInt32 rounds half away from zero, as f64::round does.
    size.round() as i32 - rs_replicas(rs)
}

/// The sizes a proportional scale gives each active ReplicaSet (upstream's `scale` for
/// rolling Deployments), in the order scaled: `(name, new size)`.
pub fn proportional_sizes(d: &Deployment, mut active: Vec<ReplicaSet>) -> Vec<(String, i32)> {
    let current = spec_replicas_sum(&active);
    let allowed = if replicas(d) > 0 {
        replicas(d) + max_surge(d)
    } else {
        0
    };
    let to_add = allowed - current;
    match to_add.cmp(&0) {
        Ordering::Greater => active.sort_by(by_size_newer),
        Ordering::Less => active.sort_by(by_size_older),
        Ordering::Equal => {}
    }
    let mut added = 0;
    let mut sizes: Vec<(String, i32)> = Vec::new();
    for rs in &active {
        if to_add != 0 {
            let p = proportion(rs, d, to_add, added);
            sizes.push((rs.name_any(), rs_replicas(rs) + p));
            added += p;
        } else {
            sizes.push((rs.name_any(), rs_replicas(rs)));
        }
    }
    if to_add != 0 && !sizes.is_empty() {
        let leftover = to_add - added;
        sizes[0].1 = (sizes[0].1 + leftover).max(0);
    }
    sizes
}

// ---------------------------------------------------------------------------------------------
// Conditions and status
// ---------------------------------------------------------------------------------------------

/// A condition stamped now.
pub fn new_condition(
    clock: &api::clock::Clock,
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
) -> DeploymentCondition {
    let now = now_time(clock);
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

/// The condition of `type_`.
pub fn get_condition<'a>(
    status: Option<&'a DeploymentStatus>,
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    status?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Sets a condition unless one of the same status and reason exists; keeps the transition
/// time when only the reason changes (upstream's `SetDeploymentCondition`).
pub fn set_condition(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = get_condition(Some(status), &condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &condition.type_);
    status
        .conditions
        .get_or_insert_with(Vec::new)
        .push(condition);
}

/// Removes the condition of `type_`.
pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

/// The status the Deployment has given its ReplicaSets (upstream's `calculateStatus`).
pub fn calculate_status(
    clock: &api::clock::Clock,
    all: &[ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    d: &Deployment,
) -> DeploymentStatus {
    let available = available_sum(all);
    let total = spec_replicas_sum(all);
    let unavailable = (total - available).max(0);
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: non_zero(all.iter().map(|rs| rs_status(rs).0).sum()),
        updated_replicas: non_zero(new_rs.map(|rs| rs_status(rs).0).unwrap_or(0)),
        ready_replicas: non_zero(all.iter().map(|rs| rs_status(rs).1).sum()),
        available_replicas: non_zero(available),
        unavailable_replicas: non_zero(unavailable),
        collision_count: d.status.as_ref().and_then(|s| s.collision_count),
        conditions: d.status.as_ref().and_then(|s| s.conditions.clone()),
        terminating_replicas: None,
    };
    if available >= replicas(d) - max_unavailable(d) {
        set_condition(
            &mut status,
            new_condition(
                clock,
                "Available",
                "True",
                MINIMUM_REPLICAS_AVAILABLE,
                "Deployment has minimum availability.".into(),
            ),
        );
    } else {
        set_condition(
            &mut status,
            new_condition(
                clock,
                "Available",
                "False",
                MINIMUM_REPLICAS_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
            ),
        );
    }
    status
}

fn st(status: Option<&DeploymentStatus>) -> (i32, i32, i32, i32, i64) {
    let s = status.cloned().unwrap_or_default();
    (
        s.replicas.unwrap_or(0),
        s.updated_replicas.unwrap_or(0),
        s.ready_replicas.unwrap_or(0),
        s.available_replicas.unwrap_or(0),
        s.observed_generation.unwrap_or(0),
    )
}

/// All replicas updated and available, no old ones left (upstream's `DeploymentComplete`).
pub fn deployment_complete(d: &Deployment, status: Option<&DeploymentStatus>) -> bool {
    let (replicas_, updated, _, available, observed) = st(status);
    let want = replicas(d);
    updated == want
        && replicas_ == want
        && available == want
        && observed >= d.metadata.generation.unwrap_or(0)
}

/// Whether `new` shows progress over the Deployment's current status (upstream's
/// `DeploymentProgressing`).
pub fn deployment_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let (old_r, old_u, old_ready, old_a, _) = st(d.status.as_ref());
    let (new_r, new_u, new_ready, new_a, _) = st(Some(new));
    new_u > old_u || (new_r - new_u) < (old_r - old_u) || new_ready > old_ready || new_a > old_a
}

/// Whether the rollout has made no progress for progressDeadlineSeconds of simulated time
/// (upstream's `DeploymentTimedOut`).
pub fn deployment_timed_out(
    clock: &api::clock::Clock,
    d: &Deployment,
    new: &DeploymentStatus,
) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(c) = get_condition(Some(new), "Progressing") else {
        return false;
    };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => {
            let deadline = d
                .spec
                .as_ref()
                .and_then(|s| s.progress_deadline_seconds)
                .unwrap_or(600)
                .max(0) as u64;
            c.last_update_time.as_ref().is_some_and(|t| {
                clock.elapsed_since(t.0) > std::time::Duration::from_secs(deadline)
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------

impl Controller {
    /// Returns the new ReplicaSet (creating it when asked and missing) and all old ones,
    /// syncing revisions (upstream's `getAllReplicaSetsAndSyncRevision` + `getNewReplicaSet`).
    pub(super) async fn new_and_old(
        &self,
        d: &mut Deployment,
        rs_list: &[ReplicaSet],
        create: bool,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), Error> {
        let new_index = find_new_replica_set(d, rs_list);
        let old: Vec<ReplicaSet> = rs_list
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != new_index)
            .map(|(_, rs)| rs.clone())
            .collect();
        let new_revision = max_revision(&old) + 1;
        let ns = d.namespace().unwrap_or_default();
        let rs_api = Api::<ReplicaSet>::namespaced(self.client.clone(), &ns);

        if let Some(i) = new_index {
            let mut rs = rs_list[i].clone();
            let annotations_updated =
                set_new_replica_set_annotations(d, &mut rs, new_revision, true);
            let min_ready = d.spec.as_ref().and_then(|s| s.min_ready_seconds);
            let spec = rs.spec.get_or_insert_with(ReplicaSetSpec::default);
            let min_ready_changed = spec.min_ready_seconds.unwrap_or(0) != min_ready.unwrap_or(0);
            if annotations_updated || min_ready_changed {
                spec.min_ready_seconds = min_ready;
                let name = rs.name_any();
                let updated = rs_api
                    .replace(&name, &PostParams::default(), &rs)
                    .await
                    .map_err(|e| {
                        Error::request("update", format!("replicasets.apps {ns}/{name}"), e)
                    })?;
                return Ok((Some(updated), old));
            }
            let rs_revision = rs.annotations().get(REVISION).cloned().unwrap_or_default();
            let revision_changed = set_deployment_revision(d, &rs_revision);
            let mut needs_update = revision_changed;
            if has_progress_deadline(d) && get_condition(d.status.as_ref(), "Progressing").is_none()
            {
                let c = new_condition(
                    &self.clock,
                    "Progressing",
                    "True",
                    FOUND_NEW_RS,
                    format!("Found new replica set \"{}\"", rs.name_any()),
                );
                set_condition(d.status.get_or_insert_with(Default::default), c);
                needs_update = true;
            }
            if needs_update {
                self.update_deployment(d).await?;
            }
            return Ok((Some(rs), old));
        }
        if !create {
            return Ok((None, old));
        }

        let spec = d.spec.clone().unwrap_or_default();
        let collision = d.status.as_ref().and_then(|s| s.collision_count);
        let hash = compute_hash(&spec.template, collision);
        let mut template = spec.template.clone();
        let tmeta = template.metadata.get_or_insert_with(ObjectMeta::default);
        let mut labels = tmeta.labels.clone().unwrap_or_default();
        labels.insert(POD_TEMPLATE_HASH.into(), hash.clone());
        tmeta.labels = Some(labels.clone());
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let name = format!("{}-{hash}", d.name_any());
        let mut new_rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                owner_references: Some(vec![new_controller_ref(
                    &d.metadata,
                    "apps/v1",
                    "Deployment",
                )]),
                labels: Some(labels),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let mut all = old.clone();
        all.push(new_rs.clone());
        let count = new_rs_new_replicas(d, &all, &new_rs).map_err(|message| Error::Workload {
            object: format!("deployment {ns}/{}", d.name_any()),
            message,
        })?;
        if let Some(s) = new_rs.spec.as_mut() {
            s.replicas = Some(count);
        }
        set_new_replica_set_annotations(d, &mut new_rs, new_revision, false);
        let mut already_exists = false;
        let created = match rs_api.create(&PostParams::default(), &new_rs).await {
            Ok(rs) => rs,
            Err(e) if crate::api_status(&e).is_some_and(|s| s.code == 409) => {
                already_exists = true;
                let existing = rs_api.get(&name).await.map_err(|e| {
                    Error::request("get", format!("replicasets.apps {ns}/{name}"), e)
                })?;
                let ours = crate::replicaset::controller_ref(&existing.metadata)
                    .is_some_and(|r| Some(&r.uid) == d.metadata.uid.as_ref());
                let same = existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| equal_ignore_hash(t, &spec.template));
                if ours && same {
                    existing
                } else {
                    let status = d.status.get_or_insert_with(Default::default);
                    status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                    self.update_deployment(d).await?;
                    return Err(Error::request(
                        "create",
                        format!("replicasets.apps {ns}/{name}"),
                        e,
                    ));
                }
            }
            Err(e) if has_status_cause(&e, "NamespaceTerminating") => {
                return Err(Error::request(
                    "create",
                    format!("replicasets.apps {ns}/{name}"),
                    e,
                ));
            }
            Err(e) => {
                let message = format!(
                    "Failed to create new replica set \"{name}\": {}",
                    api_message(&e)
                );
                if has_progress_deadline(d) {
                    let c = new_condition(
                        &self.clock,
                        "Progressing",
                        "False",
                        FAILED_RS_CREATE,
                        message.clone(),
                    );
                    set_condition(d.status.get_or_insert_with(Default::default), c);
                    let _ = self.update_deployment(d).await;
                }
                record(
                    &self.recorder,
                    &self.reference(d),
                    EventType::Warning,
                    FAILED_RS_CREATE,
                    message,
                )
                .await;
                return Err(Error::request(
                    "create",
                    format!("replicasets.apps {ns}/{name}"),
                    e,
                ));
            }
        };
        if !already_exists && count > 0 {
            record(
                &self.recorder,
                &self.reference(d),
                EventType::Normal,
                "ScalingReplicaSet",
                format!(
                    "Scaled up replica set {} from 0 to {count}",
                    created.name_any()
                ),
            )
            .await;
        }
        let revision_changed = set_deployment_revision(d, &new_revision.to_string());
        let mut needs_update = revision_changed;
        if !already_exists && has_progress_deadline(d) {
            let c = new_condition(
                &self.clock,
                "Progressing",
                "True",
                NEW_REPLICA_SET,
                format!("Created new replica set \"{}\"", created.name_any()),
            );
            set_condition(d.status.get_or_insert_with(Default::default), c);
            needs_update = true;
        }
        if needs_update {
            self.update_deployment(d).await?;
        }
        Ok((Some(created), old))
    }

    /// Scales `rs` to `new_scale`, refreshing its replicas annotations, with a
    /// `ScalingReplicaSet` event (upstream's `scaleReplicaSet`); returns whether the size
    /// changed and the updated ReplicaSet.
    pub(super) async fn scale_replica_set(
        &self,
        rs: &ReplicaSet,
        new_scale: i32,
        d: &Deployment,
    ) -> Result<(bool, ReplicaSet), Error> {
        let old_scale = rs_replicas(rs);
        let size_changed = old_scale != new_scale;
        let desired = replicas(d);
        let max = desired + max_surge(d);
        if !size_changed && !replicas_annotations_need_update(rs, desired, max) {
            return Ok((false, rs.clone()));
        }
        let mut copy = rs.clone();
        copy.spec.get_or_insert_with(Default::default).replicas = Some(new_scale);
        set_replicas_annotations(&mut copy, desired, max);
        let ns = rs.namespace().unwrap_or_default();
        let name = rs.name_any();
        let updated = Api::<ReplicaSet>::namespaced(self.client.clone(), &ns)
            .replace(&name, &PostParams::default(), &copy)
            .await
            .map_err(|e| Error::request("update", format!("replicasets.apps {ns}/{name}"), e))?;
        if size_changed {
            let op = if old_scale < new_scale { "up" } else { "down" };
            record(
                &self.recorder,
                &self.reference(d),
                EventType::Normal,
                "ScalingReplicaSet",
                format!("Scaled {op} replica set {name} from {old_scale} to {new_scale}"),
            )
            .await;
        }
        Ok((size_changed, updated))
    }

    /// [`Controller::scale_replica_set`] unless the size is already right.
    pub(super) async fn scale_and_record(
        &self,
        rs: &ReplicaSet,
        new_scale: i32,
        d: &Deployment,
    ) -> Result<(bool, ReplicaSet), Error> {
        if rs_replicas(rs) == new_scale {
            return Ok((false, rs.clone()));
        }
        self.scale_replica_set(rs, new_scale, d).await
    }

    /// Scales for a changed `spec.replicas` (upstream's `scale`).
    pub(super) async fn scale(
        &self,
        d: &Deployment,
        new_rs: Option<&ReplicaSet>,
        old: &[ReplicaSet],
    ) -> Result<(), Error> {
        if let Some(target) = active_or_latest(new_rs, old) {
            if rs_replicas(&target) == replicas(d) {
                return Ok(());
            }
            self.scale_and_record(&target, replicas(d), d).await?;
            return Ok(());
        }
        if is_saturated(d, new_rs) {
            for rs in active(old) {
                self.scale_and_record(&rs, 0, d).await?;
            }
            return Ok(());
        }
        if is_rolling_update(d) {
            let mut all: Vec<ReplicaSet> = old.to_vec();
            all.extend(new_rs.cloned());
            let all = active(&all);
            for (name, size) in proportional_sizes(d, all.clone()) {
                if let Some(rs) = all.iter().find(|rs| rs.name_any() == name) {
                    self.scale_replica_set(rs, size, d).await?;
                }
            }
        }
        Ok(())
    }

    /// Deletes the oldest unused ReplicaSets beyond revisionHistoryLimit (upstream's
    /// `cleanupDeployment`).
    pub(super) async fn cleanup(&self, old: &[ReplicaSet], d: &Deployment) -> Result<(), Error> {
        let Some(limit) = d
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .filter(|l| *l != i32::MAX)
        else {
            return Ok(());
        };
        let mut cleanable: Vec<&ReplicaSet> = old
            .iter()
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .collect();
        let diff = cleanable.len() as i32 - limit;
        if diff <= 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| {
            revision(a)
                .unwrap_or(0)
                .cmp(&revision(b).unwrap_or(0))
                .then_with(|| by_creation(a, b))
        });
        for rs in cleanable.into_iter().take(diff as usize) {
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            if rs_status(rs).0 != 0
                || rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            let ns = rs.namespace().unwrap_or_default();
            let name = rs.name_any();
            match Api::<ReplicaSet>::namespaced(self.client.clone(), &ns)
                .delete(&name, &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(Error::request(
                        "delete",
                        format!("replicasets.apps {ns}/{name}"),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Scales, cleans up when paused and writes the status (upstream's `sync`).
    pub(super) async fn sync_scale(
        &self,
        d: &mut Deployment,
        rs_list: &[ReplicaSet],
    ) -> Result<(), Error> {
        let (new_rs, old) = self.new_and_old(d, rs_list, false).await?;
        self.scale(d, new_rs.as_ref(), &old).await?;
        if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
            self.cleanup(&old, d).await?;
        }
        let mut all = old;
        all.extend(new_rs.clone());
        self.sync_status(&all, new_rs.as_ref(), d).await
    }

    /// Writes the computed status if it changed (upstream's `syncDeploymentStatus`).
    pub(super) async fn sync_status(
        &self,
        all: &[ReplicaSet],
        new_rs: Option<&ReplicaSet>,
        d: &mut Deployment,
    ) -> Result<(), Error> {
        let status = calculate_status(&self.clock, all, new_rs, d);
        if d.status.as_ref() == Some(&status) {
            return Ok(());
        }
        d.status = Some(status);
        self.update_deployment(d).await
    }
}

/// The only active ReplicaSet, or the newest when none is active (upstream's
/// `FindActiveOrLatest`); `None` when several are active.
pub fn active_or_latest(new_rs: Option<&ReplicaSet>, old: &[ReplicaSet]) -> Option<ReplicaSet> {
    if new_rs.is_none() && old.is_empty() {
        return None;
    }
    let mut sorted: Vec<ReplicaSet> = old.to_vec();
    sorted.sort_by(|a, b| by_creation(b, a));
    let mut all = sorted.clone();
    all.extend(new_rs.cloned());
    let active = active(&all);
    match active.len() {
        0 => new_rs.cloned().or_else(|| sorted.first().cloned()),
        1 => active.into_iter().next(),
        _ => None,
    }
}

/// Sets the Deployment's revision annotation; whether it changed.
fn set_deployment_revision(d: &mut Deployment, revision: &str) -> bool {
    let annotations = d.annotations_mut();
    if annotations.get(REVISION).map(String::as_str) == Some(revision) {
        return false;
    }
    annotations.insert(REVISION.into(), revision.into());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i32, surge: Value, unavailable: Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "generation": 1},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}
        }))
        .expect("deployment")
    }

    fn rs(name: &str, replicas: i32, available: i32, age: i64) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns",
                         "creationTimestamp": (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(age)).to_string()},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": replicas, "availableReplicas": available}
        }))
        .expect("rs")
    }

    #[test]
    fn the_new_replica_set_is_the_oldest_with_the_same_template() {
        let d = deployment(3, json!(1), json!(1));
        let template = d.spec.as_ref().expect("spec").template.clone();
        let with_template = |name: &str, age: i64, image: &str| {
            let mut r = rs(name, 1, 1, age);
            let mut t = template.clone();
            t.spec.as_mut().expect("spec").containers[0].image = Some(image.into());
            t.metadata
                .as_mut()
                .expect("meta")
                .labels
                .as_mut()
                .expect("labels")
                .insert(POD_TEMPLATE_HASH.into(), name.into());
            r.spec.as_mut().expect("spec").template = Some(t);
            r
        };
        let cases = [
            ("none matches", vec![with_template("a", 10, "other")], None),
            (
                "hash label ignored",
                vec![with_template("a", 10, "nginx:1")],
                Some(0),
            ),
            (
                "oldest duplicate wins",
                vec![
                    with_template("young", 5, "nginx:1"),
                    with_template("old", 50, "nginx:1"),
                ],
                Some(1),
            ),
        ];
        for (case, rss, want) in cases {
            assert_eq!(find_new_replica_set(&d, &rss), want, "{case}");
        }
    }

    #[test]
    fn scaling_targets_the_only_active_or_newest_replica_set() {
        let cases = [
            (
                "one active old",
                None,
                vec![rs("a", 3, 3, 100), rs("b", 0, 0, 50)],
                Some("a"),
            ),
            (
                "none active: new",
                Some(rs("n", 0, 0, 1)),
                vec![rs("a", 0, 0, 100)],
                Some("n"),
            ),
            (
                "none active, no new: newest old",
                None,
                vec![rs("a", 0, 0, 100), rs("b", 0, 0, 50)],
                Some("b"),
            ),
            (
                "two active: proportional",
                Some(rs("n", 1, 0, 1)),
                vec![rs("a", 3, 3, 100)],
                None,
            ),
        ];
        for (case, new_rs, old, want) in cases {
            let got = active_or_latest(new_rs.as_ref(), &old).map(|r| r.name_any());
            assert_eq!(got.as_deref(), want, "{case}");
        }
    }

    #[test]
    fn safe_encoding_maps_digits_like_upstream() {
        // '0'..'9' are bytes 48..57: 48 % 27 = 21 -> '4', ..., 54 % 27 = 0 -> 'b'.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn hashes_are_stable_and_depend_on_template_and_collisions() {
        let d = deployment(3, json!(1), json!(1));
        let t = d.spec.as_ref().expect("spec").template.clone();
        let h = compute_hash(&t, None);
        assert_eq!(h, compute_hash(&t, None), "deterministic");
        assert!(h.chars().all(|c| "456789bcdf".contains(c)), "{h}");
        assert_ne!(
            h,
            compute_hash(&t, Some(1)),
            "collision count changes the hash"
        );
        let mut t2 = t.clone();
        t2.spec.as_mut().expect("spec").containers[0].image = Some("nginx:2".into());
        assert_ne!(h, compute_hash(&t2, None), "template changes the hash");
        let mut t3 = t.clone();
        t3.metadata
            .as_mut()
            .expect("meta")
            .labels
            .as_mut()
            .expect("labels")
            .insert(POD_TEMPLATE_HASH.into(), h.clone());
        assert_eq!(h, compute_hash(&t3, None), "the hash label is ignored");
        assert!(equal_ignore_hash(&t, &t3));
        assert!(!equal_ignore_hash(&t, &t2));
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        let p = |s: &str| IntOrString::String(s.into());
        let i = IntOrString::Int;
        let cases = [
            ("25% of 10", Some(p("25%")), Some(p("25%")), 10, (3, 2)),
            ("25% of 4", Some(p("25%")), Some(p("25%")), 4, (1, 1)),
            ("25% of 1", Some(p("25%")), Some(p("25%")), 1, (1, 0)),
            ("ints", Some(i(3)), Some(i(2)), 10, (3, 2)),
            (
                "both zero becomes unavailable 1",
                Some(i(0)),
                Some(p("1%")),
                10,
                (0, 1),
            ),
            ("unset means zero", None, None, 5, (0, 1)),
            ("100% surge", Some(p("100%")), Some(i(0)), 5, (5, 0)),
        ];
        for (case, surge, unav, desired, want) in cases {
            assert_eq!(
                resolve_fenceposts(surge.as_ref(), unav.as_ref(), desired),
                Ok(want),
                "{case}"
            );
        }
        assert!(resolve_fenceposts(Some(&p("x")), None, 3).is_err());
    }

    #[test]
    fn max_unavailable_is_capped_by_replicas_and_zero_for_recreate() {
        assert_eq!(max_unavailable(&deployment(2, json!(0), json!(5))), 2);
        let mut d = deployment(5, json!(1), json!(1));
        d.spec.as_mut().expect("spec").strategy = Some(Default::default());
        d.spec
            .as_mut()
            .expect("spec")
            .strategy
            .as_mut()
            .expect("s")
            .type_ = Some("Recreate".into());
        assert_eq!((max_unavailable(&d), max_surge(&d)), (0, 0));
    }

    #[test]
    fn new_replica_set_scales_up_within_surge() {
        // Upstream's TestNewRSNewReplicas-style table: (replicas, surge, new rs, old rs, want).
        let cases = [
            ("can surge by 1", 10, 1, 0, 10, 1),
            ("at max total", 10, 1, 1, 10, 1),
            ("old scaled down, room", 10, 1, 3, 5, 6),
            ("never above desired", 5, 3, 4, 0, 5),
        ];
        for (case, replicas, surge, new_count, old_count, want) in cases {
            let d = deployment(replicas, json!(surge), json!(0));
            let new_rs = rs("new", new_count, 0, 1);
            let all = vec![rs("old", old_count, old_count, 100), new_rs.clone()];
            assert_eq!(new_rs_new_replicas(&d, &all, &new_rs), Ok(want), "{case}");
        }
    }

    #[test]
    fn proportional_scaling_distributes_by_size() {
        // Upstream's "proportional scaling: 5 -> 10" style cases.
        let cases: Vec<(&str, i32, Vec<ReplicaSet>, Vec<(&str, i32)>)> = vec![
            (
                "scale up 10 -> 20 across 5/5",
                20,
                vec![rs("a", 5, 5, 100), rs("b", 5, 0, 10)],
                vec![("b", 10), ("a", 10)],
            ),
            (
                "scale down 10 -> 5 across 6/4",
                5,
                vec![rs("a", 6, 6, 100), rs("b", 4, 0, 10)],
                vec![("a", 3), ("b", 2)],
            ),
            (
                "scale to zero",
                0,
                vec![rs("a", 6, 6, 100), rs("b", 4, 0, 10)],
                vec![("a", 0), ("b", 0)],
            ),
        ];
        for (case, replicas, rss, want) in cases {
            let mut d = deployment(replicas, json!(0), json!(1));
            let mut rss = rss;
            let old_total: i32 = rss.iter().map(rs_replicas).sum();
            for r in &mut rss {
                set_replicas_annotations(r, old_total, old_total);
            }
            d.status = Some(DeploymentStatus {
                replicas: Some(old_total),
                ..Default::default()
            });
            let got = proportional_sizes(&d, rss);
            let got: Vec<(&str, i32)> = got.iter().map(|(n, s)| (n.as_str(), *s)).collect();
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn revisions_bump_and_keep_history_on_rollback() {
        let d = deployment(3, json!(1), json!(1));
        let mut r = rs("a", 1, 1, 10);
        assert!(set_new_replica_set_annotations(&d, &mut r, 1, false));
        assert_eq!(r.annotations().get(REVISION).map(String::as_str), Some("1"));
        assert_eq!(
            r.annotations().get(DESIRED_REPLICAS).map(String::as_str),
            Some("3")
        );
        assert_eq!(
            r.annotations().get(MAX_REPLICAS).map(String::as_str),
            Some("4")
        );
        assert!(
            !set_new_replica_set_annotations(&d, &mut r, 1, true),
            "unchanged"
        );
        assert!(
            set_new_replica_set_annotations(&d, &mut r, 3, true),
            "rolled back to"
        );
        assert_eq!(r.annotations().get(REVISION).map(String::as_str), Some("3"));
        assert_eq!(
            r.annotations().get(REVISION_HISTORY).map(String::as_str),
            Some("1")
        );
        assert!(set_new_replica_set_annotations(&d, &mut r, 5, true));
        assert_eq!(
            r.annotations().get(REVISION_HISTORY).map(String::as_str),
            Some("1,3")
        );
    }

    #[test]
    fn conditions_keep_transition_time_when_status_is_unchanged() {
        let clock = api::clock::Clock::REAL_TIME;
        let mut status = DeploymentStatus::default();
        let mut first = new_condition(&clock, "Progressing", "True", NEW_REPLICA_SET, "a".into());
        first.last_transition_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::UNIX_EPOCH,
        ));
        set_condition(&mut status, first);
        set_condition(
            &mut status,
            new_condition(&clock, "Progressing", "True", NEW_RS_AVAILABLE, "b".into()),
        );
        let c = get_condition(Some(&status), "Progressing").expect("cond");
        assert_eq!(c.reason.as_deref(), Some(NEW_RS_AVAILABLE));
        assert_eq!(
            c.last_transition_time.as_ref().map(|t| t.0),
            Some(jiff::Timestamp::UNIX_EPOCH)
        );
        set_condition(
            &mut status,
            new_condition(&clock, "Progressing", "False", TIMED_OUT, "c".into()),
        );
        let c = get_condition(Some(&status), "Progressing").expect("cond");
        assert_ne!(
            c.last_transition_time.as_ref().map(|t| t.0),
            Some(jiff::Timestamp::UNIX_EPOCH)
        );
        assert_eq!(status.conditions.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn availability_condition_follows_max_unavailable() {
        let clock = api::clock::Clock::REAL_TIME;
        let d = deployment(4, json!(1), json!(1));
        let cases = [
            ("3 of 4 available", 3, "True"),
            ("2 of 4 available", 2, "False"),
        ];
        for (case, available, want) in cases {
            let all = vec![rs("a", 4, available, 10)];
            let s = calculate_status(&clock, &all, Some(&all[0]), &d);
            let c = get_condition(Some(&s), "Available").expect("available");
            assert_eq!(c.status, want, "{case}");
            assert_eq!(s.unavailable_replicas, non_zero(4 - available), "{case}");
        }
    }
}
