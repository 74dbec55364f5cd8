//! The Job controller, as kube-controller-manager's `job` controller: pods up to
//! `parallelism` until `completions` succeed (NonIndexed, or Indexed with one pod per
//! completion index), finished pods counted through the `batch.kubernetes.io/job-tracking`
//! finalizer and `status.uncountedTerminatedPods`, replacement pods delayed by the failure
//! back-off (10 s doubling, at most 10 min), `backoffLimit`, `activeDeadlineSeconds`,
//! `podFailurePolicy` (FailJob, Ignore, Count), `suspend`, and the conditions
//! `SuccessCriteriaMet`/`Complete` and `FailureTarget`/`Failed`.
//!
//! `ttlSecondsAfterFinished` is upstream's separate controller: [`ttl_after_finished`].
//!
//! Not here: `successPolicy`, `backoffLimitPerIndex` and the `FailIndex` action, `managedBy`. The API
//! server does not generate a Job's selector and template labels yet, so this controller
//! selects a Job's pods by controller reference and labels its pods itself.

pub mod ttl_after_finished;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use informer::SharedInformer;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::{
    EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodSpec, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::workload::{self, Events, Expectations, OwnerIndex, controller_ref};
use crate::{Error, is_not_found};

/// The finalizer that keeps a finished pod until the Job has counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// Annotation and label holding an Indexed Job pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// Label with the Job's uid.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// Label with the Job's name.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// Legacy label with the Job's uid.
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
/// Legacy label with the Job's name.
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
/// First delay before replacing a failed pod (`DefaultJobPodFailureBackOff`).
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(10);
/// Longest delay before replacing a failed pod (`MaxJobPodFailureBackOff`).
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Most pods created or deleted in one sync (`MaxPodCreateDeletePerSync`).
const MAX_PER_SYNC: usize = 500;
/// Retry delay after a failed reconcile.
const RETRY: Duration = Duration::from_secs(1);
/// Delay before looking again while the cache catches up with our own writes.
const CATCH_UP: Duration = Duration::from_millis(200);

/// Failures since the last success, and when the last one happened (`backoffRecord`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffRecord {
    /// Failed pods since the last succeeded one.
    pub failures_after_last_success: u32,
    /// When the last failure happened.
    pub last_failure: Option<jiff::Timestamp>,
}

/// The back-off before the next replacement pod: 10 s doubling per failure since the last
/// success, capped at 10 min (`getRemainingTime` without the elapsed part).
pub fn backoff_delay(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32.checked_shl(failures - 1).unwrap_or(u32::MAX);
    DEFAULT_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

/// Parses `completedIndexes` ("1,3-5") into indexes below `completions`.
pub fn parse_indexes(s: &str, completions: i32) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
            None => (part.parse::<i32>(), part.parse::<i32>()),
        };
        if let (Ok(lo), Ok(hi)) = (lo, hi) {
            for i in lo.max(0)..=hi.min(completions - 1) {
                out.insert(i);
            }
        }
    }
    out
}

/// Formats indexes as `completedIndexes` does: ascending, runs as `a-b`.
pub fn format_indexes(indexes: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if end == start {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

/// The lowest indexes in `0..completions` that are neither succeeded nor active, at most `n`.
pub fn missing_indexes(
    completions: i32,
    succeeded: &BTreeSet<i32>,
    active: &BTreeSet<i32>,
    n: usize,
) -> Vec<i32> {
    (0..completions)
        .filter(|i| !succeeded.contains(i) && !active.contains(i))
        .take(n)
        .collect()
}

/// A pod's completion index, if it has a valid one.
pub fn pod_index(pod: &Pod) -> Option<i32> {
    pod.annotations()
        .get(COMPLETION_INDEX)
        .or_else(|| pod.labels().get(COMPLETION_INDEX))
        .and_then(|v| v.parse().ok())
        .filter(|i: &i32| *i >= 0)
}

/// What a pod failure policy decided for a failed pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyAction {
    /// Fail the whole Job, with this message.
    FailJob(String),
    /// Do not count the failure.
    Ignore,
    /// Count it against the back-off limit (also when no rule matched).
    Count,
}

/// Applies `job.spec.podFailurePolicy` to a failed pod (`matchPodFailurePolicy`).
pub fn match_failure_policy(job: &Job, pod: &Pod) -> PolicyAction {
    let Some(policy) = job
        .spec
        .as_ref()
        .and_then(|s| s.pod_failure_policy.as_ref())
    else {
        return PolicyAction::Count;
    };
    let ns = pod.namespace().unwrap_or_default();
    let pod_name = pod.name_any();
    let status = pod.status.clone().unwrap_or_default();
    let statuses: Vec<_> = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .cloned()
        .collect();
    for (index, rule) in policy.rules.iter().enumerate() {
        let mut message = None;
        if let Some(codes) = &rule.on_exit_codes {
            for cs in &statuses {
                if codes
                    .container_name
                    .as_deref()
                    .is_some_and(|n| n != cs.name)
                {
                    continue;
                }
                let Some(code) = cs
                    .state
                    .as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .map(|t| t.exit_code)
                else {
                    continue;
                };
                if code == 0 {
                    continue;
                }
                let contains = codes.values.contains(&code);
                let matched = match codes.operator.as_str() {
                    "In" => contains,
                    "NotIn" => !contains,
                    _ => false,
                };
                if matched {
                    message = Some(format!(
                        "Container {} for pod {ns}/{pod_name} failed with exit code {code} matching {} rule at index {index}",
                        cs.name, rule.action
                    ));
                    break;
                }
            }
        }
        for pattern in rule.on_pod_conditions.iter().flatten() {
            if message.is_some() {
                break;
            }
            let want = if pattern.status.is_empty() {
                "True"
            } else {
                pattern.status.as_str()
            };
            if status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == pattern.type_ && c.status == want)
            {
                message = Some(format!(
                    "Pod {ns}/{pod_name} has condition {} matching {} rule at index {index}",
                    pattern.type_, rule.action
                ));
            }
        }
        if let Some(message) = message {
            return match rule.action.as_str() {
                "FailJob" => PolicyAction::FailJob(message),
                "Ignore" => PolicyAction::Ignore,
                _ => PolicyAction::Count,
            };
        }
    }
    PolicyAction::Count
}

struct Context {
    client: Client,
    clock: api::clock::Clock,
    pods: OwnerIndex<Pod>,
    expectations: Expectations,
    backoff: Mutex<HashMap<String, BackoffRecord>>,
    /// Per Job, the pods whose tracking finalizer was removed but whose cache entry may
    /// still show it (upstream's finalizer expectations): never counted twice.
    released: Mutex<HashMap<String, HashSet<String>>>,
    events: Events,
}

/// Runs the controller until `shutdown` is cancelled, with a pod watch of its own.
pub async fn run(
    client: Client,
    clock: api::clock::Clock,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let pods = SharedInformer::start(Api::all(client.clone()), shutdown.clone());
    run_with(client, clock, pods, shutdown).await
}

/// Runs the controller until `shutdown` is cancelled, reading pods from a shared watch.
pub async fn run_with(
    client: Client,
    clock: api::clock::Clock,
    shared_pods: SharedInformer<Pod>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let Some((pods, pod_stream)) = workload::owned_pods(&shared_pods, "Job", &shutdown).await
    else {
        return Ok(());
    };
    let context = Arc::new(Context {
        client: client.clone(),
        clock,
        pods,
        expectations: Expectations::default(),
        backoff: Mutex::default(),
        released: Mutex::default(),
        events: Events::new(client.clone(), "job-controller"),
    });
    Controller::new(Api::<Job>::all(client), watcher::Config::default())
        .owns_shared_stream(pod_stream)
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile, error_policy, context)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

fn condition_true(status: &JobStatus, type_: &str) -> Option<JobCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_ && c.status == "True")
        .cloned()
}

fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &Time,
) -> JobCondition {
    JobCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(now.clone()),
        last_transition_time: Some(now.clone()),
    }
}

/// Sets a condition, keeping its transition time when its status does not change.
fn set_condition(status: &mut JobStatus, cond: JobCondition) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    match conditions.iter_mut().find(|c| c.type_ == cond.type_) {
        Some(existing) if existing.status == cond.status => {
            if existing.reason != cond.reason || existing.message != cond.message {
                existing.reason = cond.reason;
                existing.message = cond.message;
                existing.last_probe_time = cond.last_probe_time;
            }
        }
        Some(existing) => *existing = cond,
        None => conditions.push(cond),
    }
}

fn has_finalizer(pod: &Pod) -> bool {
    pod.finalizers().iter().any(|f| f == TRACKING_FINALIZER)
}

/// When a pod finished: its containers' latest `finishedAt`, else now.
fn finish_time(pod: &Pod, now: jiff::Timestamp) -> jiff::Timestamp {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|cs| cs.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max()
        .unwrap_or(now)
}

async fn reconcile(job: Arc<Job>, ctx: Arc<Context>) -> Result<Action, Error> {
    let uid = job.uid().unwrap_or_default();
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let pods: Vec<Arc<Pod>> = ctx.pods.controlled_by(&uid, &ns);
    let status = job.status.clone().unwrap_or_default();
    let finished = condition_true(&status, "Complete").is_some()
        || condition_true(&status, "Failed").is_some();
    if job.metadata.deletion_timestamp.is_some() || finished {
        // Nothing to count any more: release every pod still held.
        let held: Vec<&Arc<Pod>> = pods.iter().filter(|p| has_finalizer(p)).collect();
        for pod in held {
            remove_finalizer(&ctx, pod).await?;
        }
        ctx.expectations.forget(&uid);
        ctx.backoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&uid);
        ctx.released
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&uid);
        return Ok(Action::await_change());
    }
    // Pods released earlier whose cache entry has caught up are forgotten.
    let already_released: HashSet<String> = {
        let mut map = ctx.released.lock().unwrap_or_else(PoisonError::into_inner);
        let set = map.entry(uid.clone()).or_default();
        set.retain(|u| {
            pods.iter()
                .any(|p| p.uid().as_deref() == Some(u.as_str()) && has_finalizer(p))
        });
        set.clone()
    };
    if !ctx.expectations.satisfied(&uid, &pods) {
        return Ok(Action::requeue(CATCH_UP));
    }

    let spec = job.spec.clone().unwrap_or_default();
    let now_ts = ctx.clock.now();
    let now = Time(now_ts);
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let completions = spec.completions;
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let suspended = spec.suspend == Some(true);
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let has_policy = spec.pod_failure_policy.is_some();
    let replace_only_failed = spec.pod_replacement_policy.as_deref() == Some("Failed");

    let mut new_status = status.clone();
    let mut uncounted = status.uncounted_terminated_pods.clone().unwrap_or_default();
    let uncounted_ok: HashSet<String> = uncounted.succeeded.iter().flatten().cloned().collect();
    let uncounted_failed: HashSet<String> = uncounted.failed.iter().flatten().cloned().collect();

    // Classify pods.
    let is_failed = |p: &Pod| {
        workload::phase(p) == "Failed"
            || (!has_policy
                && !replace_only_failed
                && workload::is_terminating(p)
                && workload::phase(p) != "Succeeded")
    };
    let mut active: Vec<Arc<Pod>> = Vec::new();
    let mut terminating = 0;
    let mut new_succeeded: Vec<Arc<Pod>> = Vec::new();
    let mut new_failed: Vec<Arc<Pod>> = Vec::new();
    let mut finish_job: Option<(String, String)> = None;
    for pod in &pods {
        let pod_uid = pod.uid().unwrap_or_default();
        let terminal_phase = workload::is_finished(pod);
        if workload::is_terminating(pod) && !terminal_phase {
            terminating += 1;
        }
        if !terminal_phase && !workload::is_terminating(pod) {
            active.push(pod.clone());
        }
        if !has_finalizer(pod)
            || already_released.contains(&pod_uid)
            || uncounted_ok.contains(&pod_uid)
            || uncounted_failed.contains(&pod_uid)
        {
            continue;
        }
        if workload::phase(pod) == "Succeeded" {
            new_succeeded.push(pod.clone());
        } else if is_failed(pod) {
            new_failed.push(pod.clone());
        }
    }
    let mut ignored: Vec<Arc<Pod>> = Vec::new();
    new_failed.retain(|pod| match match_failure_policy(&job, pod) {
        PolicyAction::FailJob(message) => {
            finish_job.get_or_insert(("PodFailurePolicy".into(), message));
            true
        }
        PolicyAction::Ignore => {
            ignored.push(pod.clone());
            false
        }
        PolicyAction::Count => true,
    });

    // Back-off record, updated by the newly finished pods in finishing order.
    let record = {
        let mut map = ctx.backoff.lock().unwrap_or_else(PoisonError::into_inner);
        let record = map.entry(uid.clone()).or_insert(BackoffRecord {
            failures_after_last_success: 0,
            last_failure: None,
        });
        let mut finished_now: Vec<(jiff::Timestamp, bool)> = new_succeeded
            .iter()
            .map(|p| (finish_time(p, now_ts), true))
            .chain(new_failed.iter().map(|p| (finish_time(p, now_ts), false)))
            .collect();
        finished_now.sort();
        for (at, ok) in finished_now {
            if ok {
                record.failures_after_last_success = 0;
                record.last_failure = None;
            } else {
                record.failures_after_last_success += 1;
                record.last_failure = Some(at);
            }
        }
        *record
    };

    // Counts including what is newly finished.
    for p in &new_succeeded {
        uncounted
            .succeeded
            .get_or_insert_with(Vec::new)
            .push(p.uid().unwrap_or_default());
    }
    for p in &new_failed {
        uncounted
            .failed
            .get_or_insert_with(Vec::new)
            .push(p.uid().unwrap_or_default());
    }
    let succeeded = status.succeeded.unwrap_or(0)
        + i32::try_from(uncounted.succeeded.as_ref().map_or(0, Vec::len)).unwrap_or(i32::MAX);
    let failed = status.failed.unwrap_or(0)
        + i32::try_from(uncounted.failed.as_ref().map_or(0, Vec::len)).unwrap_or(i32::MAX);
    let mut succeeded_indexes = if indexed {
        parse_indexes(
            status.completed_indexes.as_deref().unwrap_or_default(),
            completions.unwrap_or(0),
        )
    } else {
        BTreeSet::new()
    };
    if indexed {
        for p in &new_succeeded {
            if let Some(i) = pod_index(p).filter(|i| *i < completions.unwrap_or(0)) {
                succeeded_indexes.insert(i);
            }
        }
    }

    // Start time.
    if new_status.start_time.is_none() && !suspended {
        new_status.start_time = Some(now.clone());
    }

    // Is the Job finishing?
    let failure_target = condition_true(&status, "FailureTarget");
    let success_met = condition_true(&status, "SuccessCriteriaMet");
    let mut finishing: Option<JobCondition> = failure_target.clone().or(success_met.clone());
    if finishing.is_none() {
        let restarts: i32 = if spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.as_deref())
            == Some("OnFailure")
        {
            active
                .iter()
                .flat_map(|p| {
                    let s = p.status.clone().unwrap_or_default();
                    s.init_container_statuses
                        .into_iter()
                        .flatten()
                        .chain(s.container_statuses.into_iter().flatten())
                })
                .map(|cs| cs.restart_count)
                .sum()
        } else {
            0
        };
        let past_on_failure = restarts > 0
            && if backoff_limit == 0 {
                restarts > 0
            } else {
                restarts >= backoff_limit
            };
        let deadline_exceeded = spec.active_deadline_seconds.is_some_and(|ads| {
            !suspended
                && new_status.start_time.as_ref().is_some_and(|st| {
                    ctx.clock.elapsed_since(st.0)
                        >= Duration::from_secs(u64::try_from(ads).unwrap_or(0))
                })
        });
        let complete = if indexed {
            i32::try_from(succeeded_indexes.len()).unwrap_or(i32::MAX) >= completions.unwrap_or(0)
        } else {
            match completions {
                Some(c) => succeeded >= c,
                None => succeeded > 0 && active.is_empty(),
            }
        };
        if let Some((reason, message)) = finish_job.take() {
            finishing = Some(new_condition(
                "FailureTarget",
                "True",
                &reason,
                &message,
                &now,
            ));
        } else if failed > backoff_limit || past_on_failure {
            finishing = Some(new_condition(
                "FailureTarget",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                &now,
            ));
        } else if deadline_exceeded {
            finishing = Some(new_condition(
                "FailureTarget",
                "True",
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
                &now,
            ));
        } else if complete {
            finishing = Some(new_condition(
                "SuccessCriteriaMet",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                &now,
            ));
        }
        if let Some(c) = &finishing {
            set_condition(&mut new_status, c.clone());
        }
    }

    // Pods to create or delete.
    let mut to_delete: Vec<Arc<Pod>> = Vec::new();
    let mut to_create: Vec<Option<i32>> = Vec::new();
    let mut requeue: Option<Duration> = None;
    if finishing.is_some() || suspended {
        to_delete.extend(active.iter().cloned());
    } else {
        if indexed {
            let total = completions.unwrap_or(0);
            let mut seen: BTreeSet<i32> = BTreeSet::new();
            let mut keep: Vec<Arc<Pod>> = Vec::new();
            for p in &active {
                match pod_index(p) {
                    Some(i) if i < total && !succeeded_indexes.contains(&i) && seen.insert(i) => {
                        keep.push(p.clone())
                    }
                    _ => to_delete.push(p.clone()),
                }
            }
            let busy = i32::try_from(keep.len()).unwrap_or(i32::MAX)
                + if replace_only_failed { terminating } else { 0 };
            if busy > parallelism {
                let excess = usize::try_from(busy - parallelism).unwrap_or(0);
                let mut ranked = keep.clone();
                ranked.sort_by_key(|p| {
                    (
                        workload::is_ready(p),
                        std::cmp::Reverse(workload::phase(p) == "Pending"),
                    )
                });
                to_delete.extend(ranked.into_iter().take(excess));
            } else {
                let want = usize::try_from(parallelism - busy).unwrap_or(0);
                to_create.extend(
                    missing_indexes(total, &succeeded_indexes, &seen, want)
                        .into_iter()
                        .map(Some),
                );
            }
        } else {
            let busy = i32::try_from(active.len()).unwrap_or(i32::MAX)
                + if replace_only_failed { terminating } else { 0 };
            let want = match completions {
                Some(c) => parallelism.min((c - succeeded).max(0)),
                None if succeeded > 0 => i32::try_from(active.len()).unwrap_or(0),
                None => parallelism,
            };
            if busy > want {
                let excess = usize::try_from(busy - want).unwrap_or(0);
                let mut ranked = active.clone();
                ranked.sort_by_key(|p| workload::is_ready(p));
                to_delete.extend(ranked.into_iter().take(excess));
            } else {
                to_create.extend((0..(want - busy)).map(|_| None));
            }
        }
        if !to_create.is_empty() {
            let delay = backoff_delay(record.failures_after_last_success);
            let elapsed = record
                .last_failure
                .map(|t| ctx.clock.elapsed_since(t))
                .unwrap_or(Duration::MAX);
            if delay > elapsed {
                requeue = Some(delay - elapsed);
                to_create.clear();
            }
        }
        if let (Some(ads), Some(st)) = (spec.active_deadline_seconds, &new_status.start_time) {
            let total = Duration::from_secs(u64::try_from(ads).unwrap_or(0));
            let left = total.saturating_sub(ctx.clock.elapsed_since(st.0));
            requeue = Some(requeue.map_or(left, |r| r.min(left)));
        }
    }
    to_create.truncate(MAX_PER_SYNC);
    to_delete.truncate(MAX_PER_SYNC);

    // Suspension.
    let was_suspended = condition_true(&status, "Suspended").is_some();
    if finishing.is_none() {
        if suspended && !was_suspended {
            set_condition(
                &mut new_status,
                new_condition("Suspended", "True", "JobSuspended", "Job suspended", &now),
            );
            ctx.events
                .publish(
                    &workload::reference(&*job),
                    EventType::Normal,
                    "Suspended",
                    "Suspend",
                    "Job suspended".into(),
                )
                .await;
        } else if !suspended && was_suspended {
            set_condition(
                &mut new_status,
                new_condition("Suspended", "False", "JobResumed", "Job resumed", &now),
            );
            new_status.start_time = Some(now.clone());
            ctx.events
                .publish(
                    &workload::reference(&*job),
                    EventType::Normal,
                    "Resumed",
                    "Resume",
                    "Job resumed".into(),
                )
                .await;
        }
    }

    // Act on pods.
    let outcome = manage_pods(&ctx, &job, &to_create, &to_delete).await;
    let deleted: HashSet<String> = to_delete.iter().filter_map(|p| p.uid()).collect();
    let active_count = active
        .iter()
        .filter(|p| !deleted.contains(&p.uid().unwrap_or_default()))
        .count();
    let created = outcome.as_ref().map_or(0, |n| *n);
    let ready = active
        .iter()
        .filter(|p| !deleted.contains(&p.uid().unwrap_or_default()) && workload::is_ready(p))
        .count();

    // Status, first with the newly finished pods as uncounted.
    new_status.active = Some(i32::try_from(active_count + created).unwrap_or(i32::MAX));
    new_status.ready = Some(i32::try_from(ready).unwrap_or(i32::MAX));
    new_status.terminating = Some(terminating + i32::try_from(deleted.len()).unwrap_or(0));
    if indexed {
        // Go omits an empty string: no `completedIndexes` until an index succeeds.
        new_status.completed_indexes =
            Some(format_indexes(&succeeded_indexes)).filter(|s| !s.is_empty());
    }
    new_status.uncounted_terminated_pods = Some(uncounted.clone());
    let rv = write_status(&ctx, &job, &new_status, &status, job.resource_version()).await?;
    let written = new_status.clone();

    // Release the counted pods, then move them from uncounted to the counters.
    let mut released: HashSet<String> = HashSet::new();
    let counted: HashSet<String> = uncounted
        .succeeded
        .iter()
        .flatten()
        .chain(uncounted.failed.iter().flatten())
        .cloned()
        .collect();
    for pod in pods
        .iter()
        .filter(|p| has_finalizer(p) && !already_released.contains(&p.uid().unwrap_or_default()))
    {
        let pod_uid = pod.uid().unwrap_or_default();
        if counted.contains(&pod_uid) || ignored.iter().any(|i| i.uid() == pod.uid()) {
            remove_finalizer(&ctx, pod).await?;
            ctx.released
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(uid.clone())
                .or_default()
                .insert(pod_uid.clone());
            released.insert(pod_uid);
        }
    }
    let present: HashSet<String> = pods
        .iter()
        .filter(|p| has_finalizer(p))
        .filter_map(|p| p.uid())
        .collect();
    let moved = |list: &mut Option<Vec<String>>| -> i32 {
        let before = list.as_ref().map_or(0, Vec::len);
        if let Some(l) = list.as_mut() {
            l.retain(|u| present.contains(u) && !released.contains(u));
        }
        i32::try_from(before - list.as_ref().map_or(0, Vec::len)).unwrap_or(0)
    };
    let mut rest = uncounted.clone();
    let moved_ok = moved(&mut rest.succeeded);
    let moved_failed = moved(&mut rest.failed);
    new_status.succeeded = Some(status.succeeded.unwrap_or(0) + moved_ok);
    new_status.failed = Some(status.failed.unwrap_or(0) + moved_failed);
    new_status.uncounted_terminated_pods = Some(UncountedTerminatedPods {
        succeeded: rest.succeeded.clone().filter(|l| !l.is_empty()),
        failed: rest.failed.clone().filter(|l| !l.is_empty()),
    });
    // The final condition once every pod is gone and counted.
    let all_counted = rest.succeeded.as_ref().is_none_or(Vec::is_empty)
        && rest.failed.as_ref().is_none_or(Vec::is_empty);
    let mut final_event = None;
    if let Some(cond) = &finishing
        && all_counted
        && terminating == 0
        && active_count == 0
        && created == 0
    {
        if cond.type_ == "FailureTarget" {
            set_condition(
                &mut new_status,
                new_condition(
                    "Failed",
                    "True",
                    cond.reason.as_deref().unwrap_or_default(),
                    cond.message.as_deref().unwrap_or_default(),
                    &now,
                ),
            );
            final_event = Some((
                EventType::Warning,
                cond.reason.clone().unwrap_or_default(),
                cond.message.clone().unwrap_or_default(),
            ));
        } else {
            set_condition(
                &mut new_status,
                new_condition(
                    "Complete",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    &now,
                ),
            );
            new_status.completion_time = Some(now.clone());
            final_event = Some((
                EventType::Normal,
                "Completed".into(),
                "Job completed".into(),
            ));
        }
    }
    write_status(&ctx, &job, &new_status, &written, rv).await?;
    if let Some((type_, reason, message)) = final_event {
        ctx.events
            .publish(
                &workload::reference(&*job),
                type_,
                &reason,
                "Finish",
                message,
            )
            .await;
    }
    outcome?;
    let _ = name;
    Ok(match requeue {
        Some(wait) => Action::requeue(ctx.clock.real(wait) + Duration::from_millis(20)),
        None => Action::await_change(),
    })
}

/// The pod for `index` (`None` for NonIndexed Jobs) (`getPodCreationInfo`).
pub fn new_pod(job: &Job, index: Option<i32>) -> Pod {
    let spec = job.spec.clone().unwrap_or_default();
    let name = job.name_any();
    let uid = job.uid().unwrap_or_default();
    let PodTemplateSpec {
        metadata,
        spec: pod_spec,
    } = spec.template;
    let meta = metadata.unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    labels.insert(CONTROLLER_UID_LABEL.into(), uid.clone());
    labels.insert(JOB_NAME_LABEL.into(), name.clone());
    labels.insert(LEGACY_CONTROLLER_UID_LABEL.into(), uid);
    labels.insert(LEGACY_JOB_NAME_LABEL.into(), name.clone());
    let mut annotations = meta.annotations.unwrap_or_default();
    let mut pod_spec: PodSpec = pod_spec.unwrap_or_default();
    let mut generate_name = format!("{name}-");
    if let Some(i) = index {
        annotations.insert(COMPLETION_INDEX.into(), i.to_string());
        labels.insert(COMPLETION_INDEX.into(), i.to_string());
        generate_name = format!("{name}-{i}-");
        if pod_spec.hostname.as_deref().unwrap_or_default().is_empty() {
            pod_spec.hostname = Some(format!("{name}-{i}"));
        }
        let env = EnvVar {
            name: "JOB_COMPLETION_INDEX".into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: None,
                    field_path: format!("metadata.annotations['{COMPLETION_INDEX}']"),
                }),
                ..Default::default()
            }),
        };
        for c in pod_spec
            .init_containers
            .iter_mut()
            .flatten()
            .chain(pod_spec.containers.iter_mut())
        {
            let envs = c.env.get_or_insert_with(Vec::new);
            if !envs.iter().any(|e| e.name == env.name) {
                envs.push(env.clone());
            }
        }
    }
    let mut finalizers = meta.finalizers.unwrap_or_default();
    finalizers.push(TRACKING_FINALIZER.into());
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: job.namespace(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            finalizers: Some(finalizers),
            owner_references: Some(vec![controller_ref(job)]),
            ..Default::default()
        },
        spec: Some(pod_spec),
        status: None,
    }
}

/// Creates and deletes pods; returns how many were created.
async fn manage_pods(
    ctx: &Context,
    job: &Job,
    create: &[Option<i32>],
    delete: &[Arc<Pod>],
) -> Result<usize, Error> {
    let ns = job.namespace().unwrap_or_default();
    let uid = job.uid().unwrap_or_default();
    let api = Api::<Pod>::namespaced(ctx.client.clone(), &ns);
    let reference = workload::reference(job);
    let mut created = 0;
    for pod in delete {
        let pod_name = pod.name_any();
        match api.delete(&pod_name, &DeleteParams::default()).await {
            Ok(_) => {
                if let Some(u) = pod.uid() {
                    ctx.expectations.deleted(&uid, &u);
                }
                ctx.events
                    .publish(
                        &reference,
                        EventType::Normal,
                        "SuccessfulDelete",
                        "Delete",
                        format!("Deleted pod: {pod_name}"),
                    )
                    .await;
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                ctx.events
                    .publish(
                        &reference,
                        EventType::Warning,
                        "FailedDelete",
                        "Delete",
                        format!("Error deleting: {e}"),
                    )
                    .await;
                return Err(Error::request("delete", format!("pods {ns}/{pod_name}"), e));
            }
        }
    }
    for index in create {
        let pod = new_pod(job, *index);
        match api.create(&PostParams::default(), &pod).await {
            Ok(p) => {
                created += 1;
                ctx.expectations.created(&uid, &p.name_any());
                ctx.events
                    .publish(
                        &reference,
                        EventType::Normal,
                        "SuccessfulCreate",
                        "Create",
                        format!("Created pod: {}", p.name_any()),
                    )
                    .await;
            }
            Err(e) => {
                ctx.events
                    .publish(
                        &reference,
                        EventType::Warning,
                        "FailedCreate",
                        "Create",
                        format!("Error creating: {e}"),
                    )
                    .await;
                return Err(Error::request("create", format!("pods {ns}/"), e));
            }
        }
    }
    Ok(created)
}

async fn remove_finalizer(ctx: &Context, pod: &Pod) -> Result<(), Error> {
    let ns = pod.namespace().unwrap_or_default();
    let api = Api::<Pod>::namespaced(ctx.client.clone(), &ns);
    let remaining: Vec<String> = pod
        .finalizers()
        .iter()
        .filter(|f| *f != TRACKING_FINALIZER)
        .cloned()
        .collect();
    let patch = serde_json::json!({"metadata": {
        "finalizers": remaining,
        "resourceVersion": pod.resource_version(),
    }});
    match api
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::request(
            "patch",
            format!("pods {ns}/{}", pod.name_any()),
            e,
        )),
    }
}

/// Writes the status if it changed, guarded by `resource_version` so that a status computed
/// from a stale Job is refused (409) rather than counting pods twice; returns the
/// resourceVersion to guard the next write with.
async fn write_status(
    ctx: &Context,
    job: &Job,
    status: &JobStatus,
    old: &JobStatus,
    resource_version: Option<String>,
) -> Result<Option<String>, Error> {
    if status == old {
        return Ok(resource_version);
    }
    let ns = job.namespace().unwrap_or_default();
    let api = Api::<Job>::namespaced(ctx.client.clone(), &ns);
    let mut updated = job.clone();
    updated.metadata.resource_version = resource_version;
    updated.metadata.managed_fields = None;
    updated.status = Some(status.clone());
    match api
        .replace_status(&job.name_any(), &PostParams::default(), &updated)
        .await
    {
        Ok(updated) => Ok(updated.resource_version()),
        Err(e) => Err(Error::request(
            "update",
            format!("jobs {ns}/{}/status", job.name_any()),
            e,
        )),
    }
}

fn error_policy(job: Arc<Job>, error: &Error, _: Arc<Context>) -> Action {
    if error.is_conflict() {
        // A stale cache: the watch brings the newer object shortly.
        return Action::requeue(CATCH_UP);
    }
    warn!(job = %workload::key(&*job), error = %crate::error_chain(error), "syncing job failed");
    Action::requeue(RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_back_off_doubles_from_ten_seconds_up_to_ten_minutes() {
        let cases = [
            ("no failure, no wait", 0, 0),
            ("first failure", 1, 10),
            ("second", 2, 20),
            ("third", 3, 40),
            ("sixth", 6, 320),
            ("capped", 7, 600),
            ("far past the cap", 40, 600),
        ];
        for (case, failures, secs) in cases {
            assert_eq!(backoff_delay(failures), Duration::from_secs(secs), "{case}");
        }
    }

    #[test]
    fn completed_indexes_round_trip() {
        let cases = [
            ("empty", "", 5, vec![], ""),
            ("single", "3", 5, vec![3], "3"),
            ("runs", "0-2,4", 5, vec![0, 1, 2, 4], "0-2,4"),
            ("unsorted singles merge", "2,1,0", 5, vec![0, 1, 2], "0-2"),
            ("out of range dropped", "3-9", 5, vec![3, 4], "3-4"),
        ];
        for (case, input, completions, want, formatted) in cases {
            let got = parse_indexes(input, completions);
            assert_eq!(got.iter().copied().collect::<Vec<_>>(), want, "{case}");
            assert_eq!(format_indexes(&got), formatted, "{case}: formatted");
        }
    }

    #[test]
    fn missing_indexes_take_the_lowest_free_ones() {
        let succeeded: BTreeSet<i32> = [0, 2].into();
        let active: BTreeSet<i32> = [1].into();
        assert_eq!(missing_indexes(6, &succeeded, &active, 2), vec![3, 4]);
        assert_eq!(
            missing_indexes(3, &succeeded, &active, 5),
            Vec::<i32>::new()
        );
    }

    fn job(extra: serde_json::Value) -> Job {
        let mut base = serde_json::json!({
            "metadata": {"name": "pi", "namespace": "default", "uid": "u1"},
            "spec": {"template": {"metadata": {"labels": {"app": "pi"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "perl"}]}}}
        });
        if let (Some(spec), Some(e)) = (base["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(e.clone());
        }
        serde_json::from_value(base).expect("job")
    }

    #[test]
    fn pods_carry_job_labels_finalizer_and_index() {
        let j = job(serde_json::json!({"completionMode": "Indexed", "completions": 3}));
        let pod = new_pod(&j, Some(2));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("pi-2-"));
        for (k, v) in [
            (CONTROLLER_UID_LABEL, "u1"),
            (JOB_NAME_LABEL, "pi"),
            (LEGACY_CONTROLLER_UID_LABEL, "u1"),
            (LEGACY_JOB_NAME_LABEL, "pi"),
            (COMPLETION_INDEX, "2"),
            ("app", "pi"),
        ] {
            assert_eq!(
                pod.labels().get(k).map(String::as_str),
                Some(v),
                "label {k}"
            );
        }
        assert_eq!(pod.annotations()[COMPLETION_INDEX], "2");
        assert!(has_finalizer(&pod));
        let spec = pod.spec.expect("spec");
        assert_eq!(spec.hostname.as_deref(), Some("pi-2"));
        assert_eq!(
            spec.containers[0].env.as_ref().expect("env")[0].name,
            "JOB_COMPLETION_INDEX"
        );
        let plain = new_pod(&job(serde_json::json!({})), None);
        assert_eq!(plain.metadata.generate_name.as_deref(), Some("pi-"));
        assert!(plain.spec.expect("spec").hostname.is_none());
    }

    #[test]
    fn pod_failure_policy_rules_match_in_order() {
        let policy = serde_json::json!({"podFailurePolicy": {"rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1]}},
        ]}});
        let j = job(policy);
        let pod = |exit: i32, condition: Option<&str>| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "pi-x", "namespace": "default"},
                "status": {"phase": "Failed",
                    "conditions": condition.map(|c| vec![serde_json::json!({"type": c, "status": "True"})]),
                    "containerStatuses": [{"name": "main", "image": "perl", "imageID": "", "ready": false,
                        "restartCount": 0, "state": {"terminated": {"exitCode": exit}}}]}
            }))
            .expect("pod")
        };
        let cases = [
            ("disruption is ignored", pod(42, Some("DisruptionTarget")), PolicyAction::Ignore),
            (
                "exit 42 fails the job",
                pod(42, None),
                PolicyAction::FailJob(
                    "Container main for pod default/pi-x failed with exit code 42 matching FailJob rule at index 1".into(),
                ),
            ),
            ("exit 1 matches no rule and counts", pod(1, None), PolicyAction::Count),
            ("exit 2 counts", pod(2, None), PolicyAction::Count),
        ];
        for (case, p, want) in cases {
            assert_eq!(match_failure_policy(&j, &p), want, "{case}");
        }
    }
}
