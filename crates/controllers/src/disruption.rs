//! The disruption controller: keeps every PodDisruptionBudget's status (expected, desired
//! and currently healthy pods, disruptions allowed, the `DisruptionAllowed` condition)
//! current, and forgets evictions recorded in `status.disruptedPods` whose pods were not
//! deleted in time, as kube-controller-manager's `disruption` controller does. The eviction
//! subresource of the API server spends what this controller allows.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use events::{EventType, Recorder};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};

use informer::SharedInformer;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::{Error, is_not_found};

/// How long an eviction recorded in `status.disruptedPods` keeps its pod out of the
/// healthy count while the pod is not deleted (upstream's `DeletionTimeout`).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(2 * 60);
/// The event reporter name, as upstream.
pub const REPORTER: &str = "disruption-controller";
/// Retry delay after a failed sync.
const RETRY: Duration = Duration::from_secs(5);

struct Context {
    client: Client,
    pods: Store<Pod>,
    recorder: Recorder,
    clock: api::clock::Clock,
}

/// Runs the controller until `shutdown` is cancelled; durations (the deletion timeout)
/// run on `clock`.
pub async fn run(
    client: Client,
    clock: api::clock::Clock,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let pods = SharedInformer::start(Api::all(client.clone()), shutdown.clone());
    run_with(client, clock, pods, shutdown).await
}

/// [`run`], reading pods from a shared watch.
pub async fn run_with(
    client: Client,
    clock: api::clock::Clock,
    shared_pods: SharedInformer<Pod>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let Some((pod_events, pods)) = shared_pods.subscribe_when_ready(&shutdown).await else {
        return Ok(());
    };
    let controller = Controller::new(
        Api::<PodDisruptionBudget>::all(client.clone()),
        watcher::Config::default(),
    );
    let budgets = controller.store();
    let context = Arc::new(Context {
        client: client.clone(),
        pods,
        recorder: Recorder::new(client, REPORTER, None),
        clock,
    });
    controller
        .watches_shared_stream(pod_events, move |pod: Arc<Pod>| {
            budgets_for_pod(&budgets, &pod)
        })
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile, error_policy, context)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// The budgets (in the pod's namespace) whose selector matches the pod.
fn budgets_for_pod(
    budgets: &Store<PodDisruptionBudget>,
    pod: &Pod,
) -> Vec<ObjectRef<PodDisruptionBudget>> {
    let ns = pod.namespace();
    budgets
        .state()
        .iter()
        .filter(|b| {
            b.namespace() == ns && selects(b.spec.as_ref().and_then(|s| s.selector.as_ref()), pod)
        })
        .map(|b| ObjectRef::from_obj(b.as_ref()))
        .collect()
}

/// Whether a budget's selector selects a pod, as the controller reads it: a missing
/// selector selects nothing, an empty one everything, an invalid one nothing.
fn selects(selector: Option<&LabelSelector>, pod: &Pod) -> bool {
    let Some(selector) = selector else {
        return false;
    };
    let Ok(value) = serde_json::to_value(selector) else {
        return false;
    };
    let Ok(parsed) = api::selector::LabelSelector::from_value(&value) else {
        return false;
    };
    let labels: serde_json::Map<String, Value> = pod
        .labels()
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    parsed.matches(&labels)
}

/// Whether a pod's `Ready` condition is `True`.
pub fn is_pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Upstream's `GetScaledValueFromIntOrPercent`: an integer as is, `N%` of `total`
/// (rounded up or down).
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let percent = s
                .strip_suffix('%')
                .and_then(|p| p.parse::<i64>().ok())
                .ok_or_else(|| {
                    "invalid value for IntOrString: invalid type: string is not a percentage"
                        .to_string()
                })?;
            let product = percent * i64::from(total);
            let scaled = if round_up {
                (product + 99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(scaled).map_err(|_| format!("invalid value {s:?}: out of range"))
        }
    }
}

/// What a budget's spec asks of its pods, given how many are expected.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    /// `minAvailable` as a number: the desired count, expected = the matching pods.
    MinAvailableCount(i32),
    /// `minAvailable` as a percentage of the controllers' scale.
    MinAvailableShare(IntOrString),
    /// `maxUnavailable` (number or percentage) of the controllers' scale.
    MaxUnavailable(IntOrString),
    /// Neither is set: nothing is desired.
    Nothing,
}

impl Requirement {
    /// The requirement of a budget's spec (`maxUnavailable` wins, as upstream reads it).
    pub fn of(pdb: &PodDisruptionBudget) -> Requirement {
        let spec = pdb.spec.as_ref();
        if let Some(max) = spec.and_then(|s| s.max_unavailable.as_ref()) {
            return Requirement::MaxUnavailable(max.clone());
        }
        match spec.and_then(|s| s.min_available.as_ref()) {
            Some(IntOrString::Int(i)) => Requirement::MinAvailableCount(*i),
            Some(share) => Requirement::MinAvailableShare(share.clone()),
            None => Requirement::Nothing,
        }
    }

    /// Whether the expected count comes from the pods' controllers' scale.
    pub fn needs_scale(&self) -> bool {
        matches!(
            self,
            Requirement::MinAvailableShare(_) | Requirement::MaxUnavailable(_)
        )
    }

    /// `(expectedPods, desiredHealthy)` given the matching pods and the controllers' total
    /// scale (upstream's `getExpectedPodCount`).
    pub fn counts(&self, matching_pods: i32, scale: i32) -> Result<(i32, i32), String> {
        Ok(match self {
            Requirement::MaxUnavailable(max) => {
                let unavailable = scaled_value(max, scale, true)?;
                (scale, (scale - unavailable).max(0))
            }
            Requirement::MinAvailableCount(min) => (matching_pods, *min),
            Requirement::MinAvailableShare(min) => (scale, scaled_value(min, scale, true)?),
            Requirement::Nothing => (0, 0),
        })
    }
}

/// The status numbers of a budget, computed from its pods.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// Pods ready, not being deleted and not recently evicted.
    pub current_healthy: i32,
    /// Recorded evictions still awaiting their pod's deletion: pod name → eviction time.
    pub disrupted_pods: BTreeMap<String, jiff::Timestamp>,
    /// When the earliest of those expires, if any.
    pub recheck_at: Option<jiff::Timestamp>,
    /// Pods recorded as evicted but not deleted within the timeout.
    pub not_deleted: Vec<String>,
}

/// Upstream's `buildDisruptedPodMap` and `countHealthyPods`: entries of `disruptedPods`
/// survive while their pod exists, is not being deleted and the deletion timeout (simulated
/// on `clock`) has not passed.
pub fn health(
    pods: &[&Pod],
    recorded: &BTreeMap<String, jiff::Timestamp>,
    clock: &api::clock::Clock,
    now: jiff::Timestamp,
) -> Health {
    let mut disrupted_pods = BTreeMap::new();
    let mut recheck_at: Option<jiff::Timestamp> = None;
    let mut not_deleted = Vec::new();
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.name_any();
        let Some(at) = recorded.get(&name) else {
            continue;
        };
        let expected_deletion = clock.after(*at, DELETION_TIMEOUT);
        if expected_deletion < now {
            not_deleted.push(name);
        } else {
            recheck_at = Some(recheck_at.map_or(expected_deletion, |r| r.min(expected_deletion)));
            disrupted_pods.insert(name, *at);
        }
    }
    let current_healthy = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            recorded
                .get(&p.name_any())
                .is_none_or(|at| clock.after(*at, DELETION_TIMEOUT) <= now)
        })
        .filter(|p| is_pod_ready(p))
        .count();
    Health {
        current_healthy: i32::try_from(current_healthy).unwrap_or(i32::MAX),
        disrupted_pods,
        recheck_at,
        not_deleted,
    }
}

/// `disruptionsAllowed`: healthy beyond desired, and zero while no pods are expected.
pub fn disruptions_allowed(current_healthy: i32, desired_healthy: i32, expected: i32) -> i32 {
    let allowed = current_healthy - desired_healthy;
    if expected <= 0 || allowed <= 0 {
        0
    } else {
        allowed
    }
}

/// The `DisruptionAllowed` condition for a status (upstream's `UpdateDisruptionAllowedCondition`
/// and, with a failure message, `failSafe`), keeping the transition time when unchanged.
fn set_condition(status: &mut Value, failure: Option<&str>, now: &str) {
    let allowed = status["disruptionsAllowed"].as_i64().unwrap_or(0) > 0;
    let (state, reason, message) = match failure {
        Some(m) => ("False", "SyncFailed", m),
        None if allowed => ("True", "SufficientPods", ""),
        None => ("False", "InsufficientPods", ""),
    };
    let observed = status["observedGeneration"].clone();
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let Some(list) = status["conditions"].as_array_mut() else {
        return;
    };
    let mut condition = json!({"type": "DisruptionAllowed", "status": state, "observedGeneration": observed,
        "lastTransitionTime": now, "reason": reason, "message": message});
    match list.iter_mut().find(|c| c["type"] == "DisruptionAllowed") {
        Some(existing) => {
            if existing["status"] == state {
                condition["lastTransitionTime"] = existing["lastTransitionTime"].clone();
            }
            *existing = condition;
        }
        None => list.push(condition),
    }
}

/// Go's `%v` of a `*metav1.LabelSelector`, as upstream's `UnmanagedPods` event prints it.
fn go_selector(selector: Option<&LabelSelector>) -> String {
    let Some(s) = selector else {
        return "nil".into();
    };
    let labels: Vec<String> = s
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}: {v},"))
        .collect();
    let expressions: Vec<String> = s
        .match_expressions
        .iter()
        .flatten()
        .map(|e| {
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                e.key,
                e.operator,
                e.values.clone().unwrap_or_default().join(" ")
            )
        })
        .collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{}}},MatchExpressions:[]LabelSelectorRequirement{{{}}},}}",
        labels.join(""),
        expressions.join("")
    )
}

fn timestamp_string(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

async fn publish(
    ctx: &Context,
    reference: k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: String,
) {
    ctx.recorder
        .publish(&reference, type_, reason, reason, note)
        .await;
}

/// The scale of the controller of a pod (upstream's finders): a ReplicaSet owned by a
/// Deployment counts as the Deployment; any other controller is read through its `scale`
/// subresource. `None` when the controller is gone or is another object of that name.
async fn controller_scale(
    ctx: &Context,
    namespace: &str,
    owner: &OwnerReference,
) -> Result<Option<(String, i32)>, String> {
    let mut owner = owner.clone();
    if owner.kind == "ReplicaSet" && owner.api_version == "apps/v1" {
        let sets = Api::<k8s_openapi::api::apps::v1::ReplicaSet>::namespaced(
            ctx.client.clone(),
            namespace,
        );
        match sets.get_opt(&owner.name).await {
            Ok(Some(rs)) if rs.metadata.uid.as_deref() == Some(owner.uid.as_str()) => {
                if let Some(deployment) = rs
                    .owner_references()
                    .iter()
                    .find(|o| o.controller == Some(true) && o.kind == "Deployment")
                {
                    owner = deployment.clone();
                }
            }
            Ok(_) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        }
    }
    let (group, version) = match owner.api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), owner.api_version.clone()),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, &owner.kind);
    let resource = match builtin_plural(&group, &owner.kind) {
        Some(plural) => ApiResource::from_gvk_with_plural(&gvk, plural),
        None => {
            kube::discovery::pinned_kind(&ctx.client, &gvk)
                .await
                .map_err(|e| e.to_string())?
                .0
        }
    };
    let api = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), namespace, &resource);
    let scale = match api.get_subresource("scale", &owner.name).await {
        Ok(scale) => scale,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(kube::Error::Api(s)) if s.code == 405 => {
            return Err(format!(
                "{}.{} does not implement the scale subresource",
                resource.plural, group
            ));
        }
        Err(e) => return Err(e.to_string()),
    };
    if scale.metadata.uid.as_deref() != Some(owner.uid.as_str()) {
        return Ok(None);
    }
    let replicas = scale
        .data
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    Ok(Some((
        owner.uid.clone(),
        i32::try_from(replicas).unwrap_or(i32::MAX),
    )))
}

fn builtin_plural(group: &str, kind: &str) -> Option<&'static str> {
    match (group, kind) {
        ("apps", "Deployment") => Some("deployments"),
        ("apps", "ReplicaSet") => Some("replicasets"),
        ("apps", "StatefulSet") => Some("statefulsets"),
        ("", "ReplicationController") => Some("replicationcontrollers"),
        _ => None,
    }
}

/// Upstream's `getExpectedScale`: the sum of the scales of the pods' controllers, and the
/// names of pods without one.
async fn expected_scale(ctx: &Context, pods: &[&Pod]) -> Result<(i32, Vec<String>), String> {
    let mut scales: HashMap<String, i32> = HashMap::new();
    let mut seen_refs: HashMap<String, ()> = HashMap::new();
    let mut unmanaged = Vec::new();
    for pod in pods {
        let Some(owner) = pod
            .owner_references()
            .iter()
            .find(|o| o.controller == Some(true))
        else {
            unmanaged.push(pod.name_any());
            continue;
        };
        if seen_refs.insert(owner.uid.clone(), ()).is_some() {
            continue;
        }
        let ns = pod.namespace().unwrap_or_default();
        match controller_scale(ctx, &ns, owner).await? {
            Some((uid, scale)) => {
                scales.insert(uid, scale);
            }
            None => return Err(format!("found no controllers for pod {:?}", pod.name_any())),
        }
    }
    Ok((scales.values().sum(), unmanaged))
}

async fn reconcile(pdb: Arc<PodDisruptionBudget>, ctx: Arc<Context>) -> Result<Action, Error> {
    if pdb.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    ctx.pods.wait_until_ready().await.ok();
    let ns = pdb.namespace().unwrap_or_default();
    let name = pdb.name_any();
    let selector = pdb.spec.as_ref().and_then(|s| s.selector.as_ref());
    let all = ctx.pods.state();
    let pods: Vec<&Pod> = all
        .iter()
        .map(Arc::as_ref)
        .filter(|p| p.namespace().as_deref() == Some(ns.as_str()) && selects(selector, p))
        .collect();
    let reference = pdb.object_ref(&());
    if pods.is_empty() {
        publish(
            &ctx,
            reference.clone(),
            EventType::Normal,
            "NoPods",
            "No matching pods found".into(),
        )
        .await;
    }
    let requirement = Requirement::of(&pdb);
    let counted = async {
        let (scale, unmanaged) = if requirement.needs_scale() {
            expected_scale(&ctx, &pods).await?
        } else {
            (0, Vec::new())
        };
        let (expected, desired) =
            requirement.counts(i32::try_from(pods.len()).unwrap_or(i32::MAX), scale)?;
        Ok::<_, String>((expected, desired, unmanaged))
    }
    .await;
    let now = ctx.clock.now();
    let now_text = timestamp_string(now);
    let mut status =
        serde_json::to_value(pdb.status.clone().unwrap_or_default()).unwrap_or_else(|_| json!({}));
    let generation = pdb.metadata.generation.unwrap_or(0);
    let mut recheck = None;
    match counted {
        Err(message) => {
            publish(
                &ctx,
                reference,
                EventType::Warning,
                "CalculateExpectedPodCountFailed",
                format!("Failed to calculate the number of expected pods: {message}"),
            )
            .await;
            // failSafe: nothing may be disrupted while the status cannot be computed.
            status["disruptionsAllowed"] = json!(0);
            set_condition(&mut status, Some(&message), &now_text);
        }
        Ok((expected, desired, unmanaged)) => {
            if !unmanaged.is_empty() {
                publish(&ctx, reference, EventType::Warning, "UnmanagedPods", format!(
                    "Pods selected by this PodDisruptionBudget (selector: {}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.",
                    go_selector(selector)
                )).await;
            }
            let recorded: BTreeMap<String, jiff::Timestamp> = pdb
                .status
                .as_ref()
                .and_then(|s| s.disrupted_pods.as_ref())
                .into_iter()
                .flatten()
                .map(|(k, t)| (k.clone(), t.0))
                .collect();
            let h = health(&pods, &recorded, &ctx.clock, now);
            for pod_name in &h.not_deleted {
                if let Some(pod) = pods.iter().find(|p| &p.name_any() == pod_name) {
                    publish(
                        &ctx,
                        pod.object_ref(&()),
                        EventType::Warning,
                        "NotDeleted",
                        format!("Pod was expected by PDB {ns}/{ns} to be deleted but it wasn't"),
                    )
                    .await;
                }
            }
            let allowed = disruptions_allowed(h.current_healthy, desired, expected);
            let disrupted: serde_json::Map<String, Value> = h
                .disrupted_pods
                .iter()
                .map(|(k, t)| (k.clone(), json!(timestamp_string(*t))))
                .collect();
            status["currentHealthy"] = json!(h.current_healthy);
            status["desiredHealthy"] = json!(desired);
            status["expectedPods"] = json!(expected);
            status["disruptionsAllowed"] = json!(allowed);
            status["observedGeneration"] = json!(generation);
            if disrupted.is_empty() {
                if let Some(m) = status.as_object_mut() {
                    m.remove("disruptedPods");
                }
            } else {
                status["disruptedPods"] = Value::Object(disrupted);
            }
            set_condition(&mut status, None, &now_text);
            recheck = h.recheck_at;
        }
    }
    let status: PodDisruptionBudgetStatus =
        serde_json::from_value(status).map_err(|e| Error::Invalid {
            what: format!("poddisruptionbudgets.policy {ns}/{name} status"),
            detail: e.to_string(),
        })?;
    if pdb.status.as_ref() != Some(&status) {
        let api = Api::<PodDisruptionBudget>::namespaced(ctx.client.clone(), &ns);
        let mut body = pdb.as_ref().clone();
        body.status = Some(status);
        api.replace_status(&name, &PostParams::default(), &body)
            .await
            .map_err(|e| {
                Error::request(
                    "update",
                    format!("poddisruptionbudgets.policy {ns}/{name} status"),
                    e,
                )
            })?;
    }
    Ok(match recheck {
        Some(at) => {
            let wait = at.duration_since(now);
            let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
            // `at` is a wall-clock instant already scaled by the clock.
            Action::requeue(wait + Duration::from_millis(10))
        }
        None => Action::await_change(),
    })
}

fn error_policy(pdb: Arc<PodDisruptionBudget>, error: &Error, _: Arc<Context>) -> Action {
    if !error.is_conflict() {
        warn!(budget = %pdb.name_any(), %error, "syncing a PodDisruptionBudget failed");
    }
    Action::requeue(RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ready: bool, deleting: bool) -> Pod {
        let mut p: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": "web"}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
        .expect("pod");
        if deleting {
            p.metadata.deletion_timestamp = Some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
            );
        }
        p
    }

    #[test]
    fn percentages_scale_and_round_as_upstream() {
        let cases = [
            ("an integer is itself", IntOrString::Int(2), 10, true, Ok(2)),
            (
                "50% of 3 rounds up",
                IntOrString::String("50%".into()),
                3,
                true,
                Ok(2),
            ),
            (
                "50% of 3 rounds down",
                IntOrString::String("50%".into()),
                3,
                false,
                Ok(1),
            ),
            (
                "0% is zero",
                IntOrString::String("0%".into()),
                7,
                true,
                Ok(0),
            ),
            (
                "100% is all",
                IntOrString::String("100%".into()),
                7,
                true,
                Ok(7),
            ),
            (
                "a bare string is refused",
                IntOrString::String("x".into()),
                3,
                true,
                Err(()),
            ),
        ];
        for (case, value, total, up, want) in cases {
            assert_eq!(
                scaled_value(&value, total, up).map_err(|_| ()),
                want,
                "{case}"
            );
        }
    }

    #[test]
    fn budgets_count_expected_and_desired_pods_as_upstream() {
        let share = |s: &str| IntOrString::String(s.into());
        let cases = [
            (
                "minAvailable 2 of 3 pods",
                Requirement::MinAvailableCount(2),
                3,
                5,
                (3, 2),
            ),
            (
                "minAvailable 50% of scale 5",
                Requirement::MinAvailableShare(share("50%")),
                3,
                5,
                (5, 3),
            ),
            (
                "maxUnavailable 1 of scale 4",
                Requirement::MaxUnavailable(IntOrString::Int(1)),
                3,
                4,
                (4, 3),
            ),
            (
                "maxUnavailable 30% of scale 4 rounds up",
                Requirement::MaxUnavailable(share("30%")),
                4,
                4,
                (4, 2),
            ),
            (
                "maxUnavailable above scale desires none",
                Requirement::MaxUnavailable(IntOrString::Int(9)),
                2,
                2,
                (2, 0),
            ),
            ("no requirement", Requirement::Nothing, 2, 2, (0, 0)),
        ];
        for (case, req, pods, scale, want) in cases {
            assert_eq!(req.counts(pods, scale), Ok(want), "{case}");
        }
        let cases = [
            ("one spare", 3, 2, 3, 1),
            ("none spare", 2, 2, 3, 0),
            ("short", 1, 2, 3, 0),
            ("nothing expected", 3, 0, 0, 0),
        ];
        for (case, healthy, desired, expected, want) in cases {
            assert_eq!(
                disruptions_allowed(healthy, desired, expected),
                want,
                "{case}"
            );
        }
    }

    #[test]
    fn recent_evictions_do_not_count_as_healthy_until_they_expire() {
        let clock = api::clock::Clock::REAL_TIME;
        let now = jiff::Timestamp::now();
        let recent = now - jiff::SignedDuration::from_secs(30);
        let old = now - jiff::SignedDuration::from_secs(600);
        let pods = [
            pod("ready", true, false),
            pod("unready", false, false),
            pod("deleting", true, true),
            pod("evicted-recently", true, false),
            pod("evicted-long-ago", true, false),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let recorded = BTreeMap::from([
            ("evicted-recently".to_string(), recent),
            ("evicted-long-ago".to_string(), old),
            ("deleting".to_string(), recent),
            ("gone".to_string(), recent),
        ]);
        let h = health(&refs, &recorded, &clock, now);
        assert_eq!(h.current_healthy, 2, "ready and evicted-long-ago count");
        assert_eq!(
            h.disrupted_pods.keys().collect::<Vec<_>>(),
            vec!["evicted-recently"],
            "only live, unexpired entries stay"
        );
        assert_eq!(h.not_deleted, vec!["evicted-long-ago".to_string()]);
        assert_eq!(h.recheck_at, Some(clock.after(recent, DELETION_TIMEOUT)));
        // A fast clock expires the same entry sooner.
        let fast = api::clock::Clock::with_speed(10.0).expect("clock");
        let h = health(&refs, &recorded, &fast, now);
        assert!(h.disrupted_pods.is_empty(), "30 s real is 5 min simulated");
    }

    #[test]
    fn the_condition_follows_the_allowance_and_failures() {
        let mut status = json!({"disruptionsAllowed": 1, "observedGeneration": 2});
        set_condition(&mut status, None, "t1");
        assert_eq!(status["conditions"][0]["reason"], "SufficientPods");
        assert_eq!(status["conditions"][0]["observedGeneration"], 2);
        status["disruptionsAllowed"] = json!(0);
        set_condition(&mut status, None, "t2");
        assert_eq!(status["conditions"][0]["reason"], "InsufficientPods");
        assert_eq!(status["conditions"][0]["lastTransitionTime"], "t2");
        set_condition(
            &mut status,
            Some("found no controllers for pod \"x\""),
            "t3",
        );
        let c = &status["conditions"][0];
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str()),
            (Some("False"), Some("SyncFailed"))
        );
        assert_eq!(c["lastTransitionTime"], "t2", "still False: time kept");
        assert_eq!(status["conditions"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn selectors_select_as_the_controller_reads_them() {
        let p = pod("a", true, false);
        let sel = |v: Value| -> LabelSelector { serde_json::from_value(v).expect("selector") };
        assert!(selects(
            Some(&sel(json!({"matchLabels": {"app": "web"}}))),
            &p
        ));
        assert!(!selects(
            Some(&sel(json!({"matchLabels": {"app": "db"}}))),
            &p
        ));
        assert!(selects(Some(&sel(json!({}))), &p), "empty selects all");
        assert!(!selects(None, &p), "none selects nothing");
        assert_eq!(
            go_selector(Some(&sel(json!({"matchLabels": {"app": "web"}})))),
            "&LabelSelector{MatchLabels:map[string]string{app: web,},MatchExpressions:[]LabelSelectorRequirement{},}"
        );
    }
}
