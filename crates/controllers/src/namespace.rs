//! The namespace lifecycle controller: for a namespace being deleted, deletes all its content,
//! reports progress in its status conditions, and releases the `kubernetes` finalizer through
//! the `finalize` subresource once the namespace is empty, as kube-controller-manager's
//! `namespace` controller (`namespaced_resources_deleter.go`) does.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition, NamespaceSpec, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::discovery::{self, DiscoveredResources, ServedResource};
use crate::{Error, error_chain, is_conflict, is_method_not_supported, is_not_found};

/// The finalizer token this controller owns in `spec.finalizers`.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";
/// Phase the API server (and this controller) give a namespace being deleted.
pub const TERMINATING_PHASE: &str = "Terminating";
/// Upstream's default wait when remaining content carries finalizers.
pub const FINALIZER_ESTIMATE_SECONDS: i64 = 15;
/// Concurrent namespace reconciles.
const CONCURRENCY: u16 = 4;
/// Attempts of a namespace write that meets 409 Conflict.
const CONFLICT_RETRIES: usize = 5;
/// First retry delay after a failed reconcile.
const ERROR_BASE_DELAY: Duration = Duration::from_millis(500);
/// Longest retry delay after failed reconciles.
const ERROR_MAX_DELAY: Duration = Duration::from_secs(60);

/// Condition types this controller maintains, in upstream's order.
pub const CONDITION_TYPES: [&str; 5] = [
    "NamespaceDeletionDiscoveryFailure",
    "NamespaceDeletionGroupVersionParsingFailure",
    "NamespaceDeletionContentFailure",
    "NamespaceContentRemaining",
    "NamespaceFinalizersRemaining",
];

/// Runs the namespace controller until `shutdown` is cancelled.
pub async fn run(client: Client, shutdown: CancellationToken) -> Result<(), Error> {
    let context = Arc::new(Context {
        client: client.clone(),
        failures: Mutex::new(HashMap::new()),
    });
    let stop = shutdown.clone();
    Controller::new(Api::<Namespace>::all(client), watcher::Config::default())
        .with_config(
            controller::Config::default()
                .concurrency(CONCURRENCY)
                .debounce(Duration::from_millis(500)),
        )
        .graceful_shutdown_on(async move { stop.cancelled().await })
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            match result {
                Ok(_) => {}
                Err(controller::Error::ObjectNotFound(object)) => {
                    debug!(namespace = %object.name, "namespace controller: namespace already gone");
                }
                Err(controller::Error::ReconcilerFailed(error, object)) => {
                    warn!(namespace = %object.name, error = %error_chain(&error), "namespace controller: deletion not finished; retrying");
                }
                Err(error) => {
                    warn!(error = %error_chain(&error), "namespace controller: watch or queue failed; retrying");
                }
            }
        })
        .await;
    info!("namespace controller stopped");
    Ok(())
}

/// What reconciles share.
struct Context {
    client: Client,
    /// Consecutive failures per namespace name, for the retry back-off.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    fn forget(&self, name: &str) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }

    fn failure_delay(&self, name: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let count = failures.entry(name.to_string()).or_insert(0);
        let factor = 1u32.checked_shl((*count).min(31)).unwrap_or(u32::MAX);
        *count = count.saturating_add(1);
        ERROR_BASE_DELAY.saturating_mul(factor).min(ERROR_MAX_DELAY)
    }
}

fn error_policy(namespace: Arc<Namespace>, _error: &Error, context: Arc<Context>) -> Action {
    Action::requeue(context.failure_delay(&namespace.name_any()))
}

/// Upstream's `namespacedResourcesDeleter.Delete` for one namespace.
async fn reconcile(namespace: Arc<Namespace>, context: Arc<Context>) -> Result<Action, Error> {
    let name = namespace.name_any();
    if namespace.metadata.deletion_timestamp.is_none() {
        context.forget(&name);
        return Ok(Action::await_change());
    }
    let api = Api::<Namespace>::all(context.client.clone());
    // Several actors edit a namespace during termination: act on its latest state.
    let live = match api.get_opt(&name).await {
        Ok(Some(live)) => live,
        Ok(None) => {
            context.forget(&name);
            return Ok(Action::await_change());
        }
        Err(error) => return Err(Error::request("get", format!("namespace {name}"), error)),
    };
    let Some(deleted_at) = live.metadata.deletion_timestamp.clone() else {
        return Ok(Action::await_change());
    };
    let Some(mut live) = ensure_terminating(&api, live).await? else {
        context.forget(&name);
        return Ok(Action::await_change());
    };
    if !has_kubernetes_finalizer(&live) {
        context.forget(&name);
        return Ok(Action::await_change());
    }

    let now = Timestamp::now();
    let content = delete_all_content(&context.client, &name, deleted_at.0, now).await;

    let mut updated = live.clone();
    let status = updated.status.get_or_insert_with(NamespaceStatus::default);
    if update_conditions(status, &content.conditions, now) {
        match api
            .replace_status(&name, &PostParams::default(), &updated)
            .await
        {
            Ok(written) => live = written,
            Err(error) if is_not_found(&error) => {
                context.forget(&name);
                return Ok(Action::await_change());
            }
            Err(error) => {
                warn!(namespace = %name, error = %error_chain(&error), "namespace controller: updating status conditions failed");
            }
        }
    }
    if !content.errors.is_empty() {
        return Err(Error::NamespaceContent {
            namespace: name,
            failures: content.errors,
        });
    }
    if content.estimate > 0 {
        let delay = requeue_delay(content.estimate);
        info!(namespace = %name, estimate_seconds = content.estimate, retry_in = ?delay, "namespace controller: content remains; waiting for it to go");
        context.forget(&name);
        return Ok(Action::requeue(delay));
    }
    finalize(&api, live).await?;
    info!(namespace = %name, "namespace controller: namespace is empty; removed the kubernetes finalizer");
    context.forget(&name);
    Ok(Action::await_change())
}

/// Sets `status.phase: Terminating` if it is not yet; `None` if the namespace is gone.
async fn ensure_terminating(
    api: &Api<Namespace>,
    mut namespace: Namespace,
) -> Result<Option<Namespace>, Error> {
    let name = namespace.name_any();
    let mut attempt = 1;
    loop {
        let phase = namespace.status.as_ref().and_then(|s| s.phase.as_deref());
        if phase == Some(TERMINATING_PHASE) {
            return Ok(Some(namespace));
        }
        let mut updated = namespace.clone();
        updated
            .status
            .get_or_insert_with(NamespaceStatus::default)
            .phase = Some(TERMINATING_PHASE.to_string());
        match api
            .replace_status(&name, &PostParams::default(), &updated)
            .await
        {
            Ok(written) => return Ok(Some(written)),
            Err(error) if is_not_found(&error) => return Ok(None),
            Err(error) if is_conflict(&error) && attempt < CONFLICT_RETRIES => {
                attempt += 1;
                namespace = match latest_same_uid(api, &namespace).await? {
                    Some(latest) => latest,
                    None => return Ok(None),
                };
            }
            Err(error) => {
                return Err(Error::request(
                    "update status of",
                    format!("namespace {name}"),
                    error,
                ));
            }
        }
    }
}

/// Calls `PUT /api/v1/namespaces/{name}/finalize` without the `kubernetes` finalizer,
/// retrying on conflict.
async fn finalize(api: &Api<Namespace>, mut namespace: Namespace) -> Result<(), Error> {
    let name = namespace.name_any();
    let mut attempt = 1;
    loop {
        if !has_kubernetes_finalizer(&namespace) {
            return Ok(());
        }
        let request = without_kubernetes_finalizer(&namespace);
        match api
            .replace_subresource::<Namespace>("finalize", &name, &PostParams::default(), &request)
            .await
        {
            Ok(_) => return Ok(()),
            Err(error) if is_not_found(&error) => return Ok(()),
            Err(error) if is_conflict(&error) && attempt < CONFLICT_RETRIES => {
                attempt += 1;
                namespace = match latest_same_uid(api, &namespace).await? {
                    Some(latest) => latest,
                    None => return Ok(()),
                };
            }
            Err(error) => {
                return Err(Error::request(
                    "finalize",
                    format!("namespace {name}"),
                    error,
                ));
            }
        }
    }
}

/// The namespace's latest state; `None` if gone; an error if it was replaced meanwhile.
async fn latest_same_uid(
    api: &Api<Namespace>,
    namespace: &Namespace,
) -> Result<Option<Namespace>, Error> {
    let name = namespace.name_any();
    let latest = api
        .get_opt(&name)
        .await
        .map_err(|error| Error::request("get", format!("namespace {name}"), error))?;
    match latest {
        Some(latest) if latest.metadata.uid != namespace.metadata.uid => {
            Err(Error::NamespaceReplaced { name })
        }
        other => Ok(other),
    }
}

fn has_kubernetes_finalizer(namespace: &Namespace) -> bool {
    namespace
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|f| f == KUBERNETES_FINALIZER))
}

/// The body of a `finalize` call: the namespace's metadata (with its resourceVersion) and spec
/// whose finalizers no longer contain `kubernetes` (deduplicated and sorted, as upstream).
pub fn without_kubernetes_finalizer(namespace: &Namespace) -> Namespace {
    let remaining: BTreeSet<String> = namespace
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f != KUBERNETES_FINALIZER)
        .collect();
    Namespace {
        metadata: namespace.metadata.clone(),
        spec: Some(NamespaceSpec {
            finalizers: Some(remaining.into_iter().collect()),
        }),
        status: None,
    }
}

/// What one pass over a namespace's content found.
#[derive(Debug, Default)]
struct ContentOutcome {
    /// Seconds to wait before content is expected to be gone; 0 when none remains.
    estimate: i64,
    /// Failure conditions to set (success variants are filled in by [`update_conditions`]).
    conditions: Vec<NamespaceCondition>,
    /// Every failure, discovery and content; non-empty blocks finalization.
    errors: Vec<String>,
}

/// Upstream's `deleteAllContent`: deletes every namespaced resource's objects in `namespace`.
async fn delete_all_content(
    client: &Client,
    namespace: &str,
    deleted_at: Timestamp,
    now: Timestamp,
) -> ContentOutcome {
    let mut outcome = ContentOutcome::default();
    let found = match discovery::discover(client).await {
        Ok(found) => found,
        Err(error) => {
            let message = error_chain(&error);
            outcome.conditions.push(failure_condition(
                CONDITION_TYPES[0],
                "DiscoveryFailed",
                message.clone(),
                now,
            ));
            outcome.errors.push(message);
            DiscoveredResources::default()
        }
    };
    if let Some(message) = partial_discovery_message(&found) {
        outcome.conditions.push(failure_condition(
            CONDITION_TYPES[0],
            "DiscoveryFailed",
            message.clone(),
            now,
        ));
        outcome.errors.push(message);
    }
    if !found.parse_failures().is_empty() {
        let message = found.parse_failures().join(", ");
        outcome.conditions.push(failure_condition(
            CONDITION_TYPES[1],
            "GroupVersionParsingFailed",
            message.clone(),
            now,
        ));
        outcome.errors.push(message);
    }

    let mut deletable: Vec<&ServedResource> = found
        .preferred()
        .iter()
        .filter(|r| r.namespaced && r.supports("delete"))
        .collect();
    deletable.sort_by_key(|r| r.group_resource());

    let mut totals = ContentTotals::default();
    let mut content_errors = Vec::new();
    for resource in deletable {
        let result = delete_resource_content(client, namespace, resource, deleted_at, now).await;
        outcome.estimate = outcome.estimate.max(result.estimate);
        if result.remaining > 0 {
            totals.add(resource, &result);
        }
        if let Some(error) = result.error {
            content_errors.push(error);
        }
    }
    outcome.conditions.extend(content_conditions(&totals, now));
    if let Some(condition) = content_failure_condition(&content_errors, now) {
        outcome.conditions.push(condition);
    }
    outcome.errors.extend(content_errors);
    outcome
}

/// Upstream's message for a partial discovery failure, if any group-version failed.
fn partial_discovery_message(found: &DiscoveredResources) -> Option<String> {
    let failures = found.failures();
    if failures.is_empty() {
        return None;
    }
    let groups: BTreeSet<&str> = failures.iter().map(|f| f.group_version.as_str()).collect();
    let details: Vec<String> = failures
        .iter()
        .map(|f| format!("{}: {}", f.group_version, f.message))
        .collect();
    Some(format!(
        "Discovery failed for some groups, {} failing: unable to retrieve the complete list of server APIs: {}",
        groups.len(),
        details.join(", ")
    ))
}

/// What deleting one resource's objects in a namespace left behind.
#[derive(Debug, Default, PartialEq, Eq)]
struct ResourceOutcome {
    /// Seconds to wait before the remaining objects are expected to be gone.
    estimate: i64,
    /// Objects still present.
    remaining: usize,
    /// Finalizer → number of remaining objects carrying it.
    finalizers: BTreeMap<String, usize>,
    /// Why deletion failed, if it did.
    error: Option<String>,
}

impl ResourceOutcome {
    fn failed(estimate: i64, error: String) -> Self {
        ResourceOutcome {
            estimate,
            error: Some(error),
            ..ResourceOutcome::default()
        }
    }
}

/// Upstream's `deleteAllContentForGroupVersionResource`.
async fn delete_resource_content(
    client: &Client,
    namespace: &str,
    resource: &ServedResource,
    deleted_at: Timestamp,
    now: Timestamp,
) -> ResourceOutcome {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource.api);
    let describe = |error: &kube::Error| format!("{}: {}", resource.group_resource(), error);
    let listable = resource.supports("list");

    // Pods get time to terminate gracefully before their presence counts as a failure.
    let mut estimate = 0;
    if resource.api.group.is_empty() && resource.api.plural == "pods" && listable {
        match api.list(&ListParams::default()).await {
            Ok(pods) => {
                estimate = graceful_estimate(pod_grace_estimate(&pods.items), deleted_at, now)
            }
            Err(error) if is_not_found(&error) || is_method_not_supported(&error) => {}
            Err(error) => return ResourceOutcome::failed(0, describe(&error)),
        }
    }

    let mut collection_deleted = false;
    if resource.supports("deletecollection") {
        match api
            .delete_collection(&DeleteParams::background(), &ListParams::default())
            .await
        {
            Ok(_) => collection_deleted = true,
            Err(error) if is_not_found(&error) || is_method_not_supported(&error) => {}
            Err(error) => return ResourceOutcome::failed(estimate, describe(&error)),
        }
    }
    if !collection_deleted && listable {
        match api.list(&ListParams::default()).await {
            Ok(items) => {
                for item in items.items {
                    let Some(name) = item.metadata.name.as_deref() else {
                        continue;
                    };
                    match api.delete(name, &DeleteParams::background()).await {
                        Ok(_) => {}
                        Err(error) if is_not_found(&error) || is_method_not_supported(&error) => {}
                        Err(error) => return ResourceOutcome::failed(estimate, describe(&error)),
                    }
                }
            }
            Err(error) if is_not_found(&error) || is_method_not_supported(&error) => {}
            Err(error) => return ResourceOutcome::failed(estimate, describe(&error)),
        }
    }
    if !listable {
        return ResourceOutcome {
            estimate,
            ..ResourceOutcome::default()
        };
    }
    match api.list(&ListParams::default()).await {
        Ok(items) => {
            let finalizers: Vec<Vec<String>> = items
                .items
                .into_iter()
                .map(|item| item.metadata.finalizers.unwrap_or_default())
                .collect();
            judge_remaining(namespace, resource, estimate, &finalizers)
        }
        Err(error) if is_not_found(&error) || is_method_not_supported(&error) => ResourceOutcome {
            estimate,
            ..ResourceOutcome::default()
        },
        Err(error) => ResourceOutcome::failed(estimate, describe(&error)),
    }
}

/// Upstream's verdict on objects still listed after deletion: fine while an estimate is
/// running or they carry finalizers (wait [`FINALIZER_ESTIMATE_SECONDS`]), an error otherwise.
fn judge_remaining(
    namespace: &str,
    resource: &ServedResource,
    estimate: i64,
    remaining: &[Vec<String>],
) -> ResourceOutcome {
    if remaining.is_empty() {
        return ResourceOutcome::default();
    }
    let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
    for item in remaining {
        for finalizer in item {
            *finalizers.entry(finalizer.clone()).or_default() += 1;
        }
    }
    let (estimate, error) = if estimate != 0 {
        (estimate, None)
    } else if !finalizers.is_empty() {
        (FINALIZER_ESTIMATE_SECONDS, None)
    } else {
        let gvr = format!(
            "{{{} {} {}}}",
            resource.api.group, resource.api.version, resource.api.plural
        );
        (
            0,
            Some(format!(
                "unexpected items still remain in namespace: {namespace} for gvr: {gvr}"
            )),
        )
    };
    ResourceOutcome {
        estimate,
        remaining: remaining.len(),
        finalizers,
        error,
    }
}

/// The longest `terminationGracePeriodSeconds` of pods not yet succeeded or failed.
fn pod_grace_estimate(pods: &[DynamicObject]) -> i64 {
    pods.iter()
        .filter(|pod| {
            let phase = pod.data.pointer("/status/phase").and_then(|p| p.as_str());
            !matches!(phase, Some("Succeeded") | Some("Failed"))
        })
        .filter_map(|pod| {
            pod.data
                .pointer("/spec/terminationGracePeriodSeconds")
                .and_then(|g| g.as_i64())
        })
        .max()
        .unwrap_or(0)
        .max(0)
}

/// Upstream's `estimateGracefulTermination`: the estimate stands only while less time than
/// it has passed since the namespace's deletion.
fn graceful_estimate(estimate: i64, deleted_at: Timestamp, now: Timestamp) -> i64 {
    let elapsed = now.as_second().saturating_sub(deleted_at.as_second());
    if elapsed >= estimate { 0 } else { estimate }
}

/// Upstream requeues after half the estimate.
fn requeue_delay(estimate_seconds: i64) -> Duration {
    Duration::from_secs(u64::try_from(estimate_seconds / 2).unwrap_or(0).max(1))
}

/// Remaining objects across all resources.
#[derive(Debug, Default)]
struct ContentTotals {
    /// `plural.group` → remaining objects.
    remaining: BTreeMap<String, usize>,
    /// Finalizer → remaining objects carrying it.
    finalizers: BTreeMap<String, usize>,
}

impl ContentTotals {
    fn add(&mut self, resource: &ServedResource, outcome: &ResourceOutcome) {
        *self.remaining.entry(resource.group_resource()).or_default() += outcome.remaining;
        for (finalizer, count) in &outcome.finalizers {
            *self.finalizers.entry(finalizer.clone()).or_default() += count;
        }
    }
}

fn failure_condition(
    type_: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> NamespaceCondition {
    NamespaceCondition {
        type_: type_.to_string(),
        status: "True".to_string(),
        reason: Some(reason.to_string()),
        message: Some(message),
        last_transition_time: Some(Time(now)),
    }
}

/// Upstream's `ProcessContentTotals`: `NamespaceContentRemaining` and
/// `NamespaceFinalizersRemaining` conditions for what is left.
fn content_conditions(totals: &ContentTotals, now: Timestamp) -> Vec<NamespaceCondition> {
    let mut conditions = Vec::new();
    let resources: Vec<String> = totals
        .remaining
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(gr, n)| format!("{gr} has {n} resource instances"))
        .collect();
    if !resources.is_empty() {
        conditions.push(failure_condition(
            CONDITION_TYPES[3],
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", resources.join(", ")),
            now,
        ));
    }
    let finalizers: Vec<String> = totals
        .finalizers
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(f, n)| format!("{f} in {n} resource instances"))
        .collect();
    if !finalizers.is_empty() {
        conditions.push(failure_condition(
            CONDITION_TYPES[4],
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                finalizers.join(", ")
            ),
            now,
        ));
    }
    conditions
}

/// Upstream's `NamespaceDeletionContentFailure` condition, if any resource failed.
fn content_failure_condition(errors: &[String], now: Timestamp) -> Option<NamespaceCondition> {
    if errors.is_empty() {
        return None;
    }
    let mut messages = errors.to_vec();
    messages.sort();
    Some(failure_condition(
        CONDITION_TYPES[2],
        "ContentDeletionFailed",
        format!(
            "Failed to delete all resource types, {} remaining: {}",
            errors.len(),
            messages.join(", ")
        ),
        now,
    ))
}

/// The "all is well" variant of a condition type.
fn success_condition(type_: &str, now: Timestamp) -> NamespaceCondition {
    let (reason, message) = match type_ {
        "NamespaceDeletionDiscoveryFailure" => (
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        "NamespaceDeletionGroupVersionParsingFailure" => (
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        "NamespaceDeletionContentFailure" => (
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
        "NamespaceContentRemaining" => ("ContentRemoved", "All content successfully removed"),
        _ => (
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished",
        ),
    };
    NamespaceCondition {
        type_: type_.to_string(),
        status: "False".to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_transition_time: Some(Time(now)),
    }
}

/// Upstream's `updateConditions`: sets each maintained condition type to its failure variant
/// from `failures` or else its success variant; the transition time moves only when the status
/// does. Returns whether anything changed.
fn update_conditions(
    status: &mut NamespaceStatus,
    failures: &[NamespaceCondition],
    now: Timestamp,
) -> bool {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let mut changed = false;
    for type_ in CONDITION_TYPES {
        let wanted = failures
            .iter()
            .find(|c| c.type_ == type_)
            .cloned()
            .unwrap_or_else(|| success_condition(type_, now));
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            None => {
                conditions.push(wanted);
                changed = true;
            }
            Some(existing) => {
                if existing.status != wanted.status
                    || existing.reason != wanted.reason
                    || existing.message != wanted.message
                {
                    if existing.status != wanted.status {
                        existing.last_transition_time = Some(Time(now));
                    }
                    existing.status = wanted.status;
                    existing.reason = wanted.reason;
                    existing.message = wanted.message;
                    changed = true;
                }
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::tests::sample;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn served(group: &str, plural: &str) -> ServedResource {
        sample()
            .preferred()
            .iter()
            .find(|r| r.api.group == group && r.api.plural == plural)
            .cloned()
            .unwrap_or_else(|| panic!("sample serves {plural}.{group}"))
    }

    fn condition<'a>(status: &'a NamespaceStatus, type_: &str) -> &'a NamespaceCondition {
        status
            .conditions
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.type_ == type_))
            .unwrap_or_else(|| panic!("condition {type_} is set"))
    }

    #[test]
    fn remaining_content_is_reported_like_upstream() {
        let configmaps = served("", "configmaps");
        let deployments = served("apps", "deployments");
        let mut totals = ContentTotals::default();
        totals.add(
            &configmaps,
            &judge_remaining(
                "team",
                &configmaps,
                0,
                &[vec!["example.com/hold".into()], vec![]],
            ),
        );
        totals.add(
            &deployments,
            &judge_remaining("team", &deployments, 0, &[vec!["example.com/hold".into()]]),
        );
        let conditions = content_conditions(&totals, at(0));
        let messages: Vec<(&str, &str)> = conditions
            .iter()
            .map(|c| (c.type_.as_str(), c.message.as_deref().unwrap_or_default()))
            .collect();
        assert_eq!(
            messages,
            vec![
                (
                    "NamespaceContentRemaining",
                    "Some resources are remaining: configmaps. has 2 resource instances, deployments.apps has 1 resource instances"
                ),
                (
                    "NamespaceFinalizersRemaining",
                    "Some content in the namespace has finalizers remaining: example.com/hold in 2 resource instances"
                ),
            ]
        );
        assert!(
            content_conditions(&ContentTotals::default(), at(0)).is_empty(),
            "no content, no failure conditions"
        );
    }

    #[test]
    fn remaining_objects_are_judged_like_upstream() {
        let configmaps = served("", "configmaps");
        let held = vec!["example.com/hold".to_string()];
        struct Case {
            name: &'static str,
            estimate: i64,
            remaining: Vec<Vec<String>>,
            want_estimate: i64,
            want_error: bool,
        }
        let cases = [
            Case {
                name: "nothing remaining is done",
                estimate: 0,
                remaining: vec![],
                want_estimate: 0,
                want_error: false,
            },
            Case {
                name: "nothing remaining ignores a running estimate",
                estimate: 30,
                remaining: vec![],
                want_estimate: 0,
                want_error: false,
            },
            Case {
                name: "objects within a graceful estimate wait for it",
                estimate: 30,
                remaining: vec![vec![]],
                want_estimate: 30,
                want_error: false,
            },
            Case {
                name: "objects with finalizers wait the finalizer estimate",
                estimate: 0,
                remaining: vec![held.clone()],
                want_estimate: FINALIZER_ESTIMATE_SECONDS,
                want_error: false,
            },
            Case {
                name: "objects without finalizers or estimate are an error",
                estimate: 0,
                remaining: vec![vec![]],
                want_estimate: 0,
                want_error: true,
            },
        ];
        for case in cases {
            let outcome = judge_remaining("team", &configmaps, case.estimate, &case.remaining);
            assert_eq!(outcome.estimate, case.want_estimate, "{}", case.name);
            assert_eq!(outcome.error.is_some(), case.want_error, "{}", case.name);
            assert_eq!(outcome.remaining, case.remaining.len(), "{}", case.name);
        }
        let error = judge_remaining("team", &configmaps, 0, &[vec![]]).error;
        assert_eq!(
            error.as_deref(),
            Some("unexpected items still remain in namespace: team for gvr: { v1 configmaps}")
        );
    }

    #[test]
    fn pod_estimates_follow_grace_periods_and_elapsed_time() {
        let pod = |grace: i64, phase: &str| DynamicObject {
            types: None,
            metadata: ObjectMeta::default(),
            data: serde_json::json!({"spec": {"terminationGracePeriodSeconds": grace}, "status": {"phase": phase}}),
        };
        let cases = [
            ("no pods, no estimate", vec![], 0),
            (
                "the longest grace period of running pods",
                vec![pod(30, "Running"), pod(60, "Pending")],
                60,
            ),
            (
                "finished pods do not count",
                vec![
                    pod(30, "Running"),
                    pod(600, "Succeeded"),
                    pod(600, "Failed"),
                ],
                30,
            ),
        ];
        for (case, pods, want) in cases {
            assert_eq!(pod_grace_estimate(&pods), want, "{case}");
        }
        let graceful = [
            ("an estimate stands while time remains", 30, 10, 30),
            ("an estimate lapses once its time has passed", 30, 30, 0),
            ("no estimate stays none", 0, 0, 0),
        ];
        for (case, estimate, elapsed, want) in graceful {
            assert_eq!(
                graceful_estimate(estimate, at(1_000), at(1_000 + elapsed)),
                want,
                "{case}"
            );
        }
        assert_eq!(
            requeue_delay(15),
            Duration::from_secs(7),
            "requeue after half the estimate"
        );
        assert_eq!(
            requeue_delay(1),
            Duration::from_secs(1),
            "never requeue sooner than a second"
        );
    }

    #[test]
    fn conditions_update_like_upstream() {
        let mut status = NamespaceStatus::default();
        assert!(
            update_conditions(&mut status, &[], at(10)),
            "a fresh status gains all five conditions"
        );
        assert_eq!(status.conditions.as_ref().map(Vec::len), Some(5));
        let ok = condition(&status, "NamespaceContentRemaining");
        assert_eq!(
            (ok.status.as_str(), ok.reason.as_deref()),
            ("False", Some("ContentRemoved"))
        );

        assert!(
            !update_conditions(&mut status, &[], at(20)),
            "the same state changes nothing"
        );

        let remaining = failure_condition(
            "NamespaceContentRemaining",
            "SomeResourcesRemain",
            "Some resources are remaining: configmaps. has 2 resource instances".into(),
            at(30),
        );
        assert!(
            update_conditions(&mut status, std::slice::from_ref(&remaining), at(30)),
            "a failure flips the condition"
        );
        let flipped = condition(&status, "NamespaceContentRemaining");
        assert_eq!(flipped.status, "True");
        assert_eq!(
            flipped.last_transition_time,
            Some(Time(at(30))),
            "a status flip moves the transition time"
        );

        let fewer = failure_condition(
            "NamespaceContentRemaining",
            "SomeResourcesRemain",
            "Some resources are remaining: configmaps. has 1 resource instances".into(),
            at(40),
        );
        assert!(
            update_conditions(&mut status, &[fewer], at(40)),
            "a new message is a change"
        );
        let updated = condition(&status, "NamespaceContentRemaining");
        assert_eq!(
            updated.message.as_deref(),
            Some("Some resources are remaining: configmaps. has 1 resource instances")
        );
        assert_eq!(
            updated.last_transition_time,
            Some(Time(at(30))),
            "a message change keeps the transition time"
        );
        assert_eq!(
            condition(&status, "NamespaceDeletionDiscoveryFailure").status,
            "False",
            "other conditions stay successful"
        );
    }

    #[test]
    fn content_failures_are_aggregated_sorted() {
        let errors = vec!["pods.: boom".to_string(), "configmaps.: bang".to_string()];
        let condition = content_failure_condition(&errors, at(0));
        assert_eq!(
            condition.and_then(|c| c.message),
            Some(
                "Failed to delete all resource types, 2 remaining: configmaps.: bang, pods.: boom"
                    .to_string()
            )
        );
        assert!(
            content_failure_condition(&[], at(0)).is_none(),
            "no errors, no condition"
        );
    }

    #[test]
    fn partial_discovery_is_reported_per_group_version() {
        let message = partial_discovery_message(&sample());
        assert_eq!(
            message.as_deref(),
            Some(
                "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: service unavailable"
            )
        );
        assert!(
            partial_discovery_message(&DiscoveredResources::default()).is_none(),
            "complete discovery reports nothing"
        );
    }

    #[test]
    fn finalize_drops_only_the_kubernetes_finalizer() {
        let namespace = |finalizers: &[&str]| Namespace {
            metadata: ObjectMeta {
                name: Some("team".into()),
                resource_version: Some("9".into()),
                ..ObjectMeta::default()
            },
            spec: Some(NamespaceSpec {
                finalizers: Some(finalizers.iter().map(|f| f.to_string()).collect()),
            }),
            status: Some(NamespaceStatus {
                phase: Some(TERMINATING_PHASE.into()),
                conditions: None,
            }),
        };
        let cases: [(&str, &[&str], &[&str]); 3] = [
            ("only kubernetes leaves an empty list", &["kubernetes"], &[]),
            (
                "other finalizers stay, sorted and deduplicated",
                &["z.example/x", "kubernetes", "a.example/y", "z.example/x"],
                &["a.example/y", "z.example/x"],
            ),
            ("no finalizers stay none", &[], &[]),
        ];
        for (case, before, after) in cases {
            let request = without_kubernetes_finalizer(&namespace(before));
            let got = request.spec.and_then(|s| s.finalizers);
            let want: Vec<String> = after.iter().map(|f| f.to_string()).collect();
            assert_eq!(got, Some(want), "{case}");
            assert_eq!(
                request.metadata.resource_version.as_deref(),
                Some("9"),
                "{case}: the resourceVersion guards the call"
            );
        }
        assert!(has_kubernetes_finalizer(&namespace(&["kubernetes"])));
        assert!(!has_kubernetes_finalizer(&namespace(&["other"])));
    }
}
