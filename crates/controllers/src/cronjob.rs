//! The CronJob controller, as kube-controller-manager's `cronjob` controller (v2): a Job per
//! scheduled time named `<cronjob>-<minutes since the epoch>`, concurrency policies Allow,
//! Forbid and Replace, `startingDeadlineSeconds`, `suspend`, the active list, last schedule
//! and success times, and the successful/failed job history limits.
//!
//! Time: schedules run on the simulated clock. A CronJob's "now" is its creation time plus
//! the simulated time elapsed since then, so at speed 60 an `@hourly` CronJob fires every real
//! minute; at speed 1 it is the wall clock. Times written to the status are on that timeline.

pub mod schedule;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::workload::{self, Events, Expectations, OwnerIndex, controller_ref};
use crate::{Error, is_not_found};

/// Annotation with the time a Job was scheduled for (RFC 3339, in the CronJob's zone).
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// More missed start times than this raise `TooManyMissedTimes`.
const MAX_MISSED: u32 = 100;
/// Retry delay after a failed reconcile.
const RETRY: Duration = Duration::from_secs(1);
/// Delay before looking again while the cache catches up with our own writes.
const CATCH_UP: Duration = Duration::from_millis(200);

struct Context {
    client: Client,
    clock: api::clock::Clock,
    jobs: OwnerIndex<Job>,
    expectations: Expectations,
    events: Events,
}

/// Runs the controller until `shutdown` is cancelled.
pub async fn run(
    client: Client,
    clock: api::clock::Clock,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let (jobs, job_stream) = workload::reflect_owned(Api::<Job>::all(client.clone()), "CronJob");
    let context = Arc::new(Context {
        client: client.clone(),
        clock,
        jobs,
        expectations: Expectations::default(),
        events: Events::new(client.clone(), "cronjob-controller"),
    });
    Controller::new(Api::<CronJob>::all(client), watcher::Config::default())
        .owns_stream(job_stream)
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile, error_policy, context)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// `<cronjob>-<scheduled time in minutes since the epoch>` (`getJobName`).
pub fn job_name(cronjob: &str, scheduled: jiff::Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

/// The most recent activation in `(earliest, now]` and how many were missed
/// (`mostRecentScheduleTime`); `None` when no activation is due.
pub fn most_recent(
    sched: &schedule::Schedule,
    earliest: jiff::Timestamp,
    now: jiff::Timestamp,
) -> (Option<jiff::Timestamp>, u32) {
    let Some(mut t) = sched.next(earliest) else {
        return (None, 0);
    };
    if t > now {
        return (None, 0);
    }
    let mut missed = 1;
    while let Some(n) = sched.next(t) {
        if n > now {
            break;
        }
        t = n;
        missed += 1;
        if missed > 100_000 {
            break;
        }
    }
    (Some(t), missed)
}

/// A CronJob's "now": its creation time plus the simulated time elapsed since.
pub fn simulated_now(clock: &api::clock::Clock, created: jiff::Timestamp) -> jiff::Timestamp {
    let elapsed = jiff::SignedDuration::try_from(clock.elapsed_since(created))
        .unwrap_or(jiff::SignedDuration::MAX);
    created.checked_add(elapsed).unwrap_or(jiff::Timestamp::MAX)
}

/// RFC 3339 as Go formats it: `Z` for UTC, else the numeric offset.
fn rfc3339_in(ts: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> String {
    let zoned = ts.to_zoned(tz.clone());
    if zoned.offset().seconds() == 0 {
        zoned.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

fn finished(job: &Job) -> Option<String> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.clone())
}

/// The Job for `scheduled` (`getJobFromTemplate2`).
pub fn new_job(cj: &CronJob, scheduled: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> Job {
    let spec = cj.spec.clone().unwrap_or_default();
    let template = spec.job_template;
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.into(), rfc3339_in(scheduled, tz));
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(&cj.name_any(), scheduled)),
            namespace: cj.namespace(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(cj)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

fn reference(job: &Job) -> ObjectReference {
    let mut r = job.object_ref(&());
    r.field_path = None;
    r
}

async fn reconcile(cj: Arc<CronJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    let uid = cj.uid().unwrap_or_default();
    if cj.metadata.deletion_timestamp.is_some() {
        ctx.expectations.forget(&uid);
        return Ok(Action::await_change());
    }
    let ns = cj.namespace().unwrap_or_default();
    let name = cj.name_any();
    let jobs: Vec<Arc<Job>> = ctx.jobs.controlled_by(&uid, &ns);
    if !ctx.expectations.satisfied(&uid, &jobs) {
        return Ok(Action::requeue(CATCH_UP));
    }
    let spec = cj.spec.clone().unwrap_or_default();
    let old_status = cj.status.clone().unwrap_or_default();
    let mut status = old_status.clone();
    let me = workload::reference(&*cj);
    let created = cj
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or_else(|| ctx.clock.now());
    let now = simulated_now(&ctx.clock, created);

    // The active list follows the jobs.
    let mut active: Vec<ObjectReference> = status.active.clone().unwrap_or_default();
    let job_uids: HashSet<String> = jobs.iter().filter_map(|j| j.uid()).collect();
    for r in active.clone() {
        if !r.uid.as_ref().is_some_and(|u| job_uids.contains(u)) {
            ctx.events
                .publish(
                    &me,
                    EventType::Warning,
                    "MissingJob",
                    "Sync",
                    format!(
                        "Active job went missing: {}",
                        r.name.clone().unwrap_or_default()
                    ),
                )
                .await;
            active.retain(|a| a.uid != r.uid);
        }
    }
    let mut successful: Vec<Arc<Job>> = Vec::new();
    let mut failed: Vec<Arc<Job>> = Vec::new();
    for job in &jobs {
        let in_active = active.iter().any(|a| a.uid == job.uid());
        match finished(job) {
            Some(condition) => {
                if in_active {
                    active.retain(|a| a.uid != job.uid());
                    ctx.events
                        .publish(
                            &me,
                            EventType::Normal,
                            "SawCompletedJob",
                            "Sync",
                            format!(
                                "Saw completed job: {}, condition: {condition}",
                                job.name_any()
                            ),
                        )
                        .await;
                }
                if condition == "Complete" {
                    if let Some(done) = job.status.as_ref().and_then(|s| s.completion_time.clone())
                        && status
                            .last_successful_time
                            .as_ref()
                            .is_none_or(|t| t.0 < done.0)
                    {
                        status.last_successful_time = Some(done);
                    }
                    successful.push(job.clone());
                } else {
                    failed.push(job.clone());
                }
            }
            None => {
                if !in_active && job.metadata.deletion_timestamp.is_none() {
                    active.push(reference(job));
                }
            }
        }
    }

    // History limits.
    for (mut list, limit) in [
        (successful, spec.successful_jobs_history_limit.unwrap_or(3)),
        (failed, spec.failed_jobs_history_limit.unwrap_or(1)),
    ] {
        let limit = usize::try_from(limit.max(0)).unwrap_or(0);
        if list.len() <= limit {
            continue;
        }
        // Oldest start first, ties by name (`byJobStartTime`).
        list.sort_by_key(|j| {
            (
                j.status
                    .as_ref()
                    .and_then(|s| s.start_time.clone())
                    .map(|t| t.0),
                j.name_any(),
            )
        });
        let excess = list.len() - limit;
        for job in list.into_iter().take(excess) {
            delete_job(&ctx, &cj, &job).await?;
        }
    }

    let mut requeue: Option<Duration> = None;
    if spec.suspend != Some(true) {
        match schedule::parse(&spec.schedule, spec.time_zone.as_deref()) {
            Err(e) => {
                let (reason, note) = match spec.time_zone.as_deref() {
                    Some(tz) if jiff::tz::TimeZone::get(tz).is_err() => {
                        ("UnknownTimeZone", format!("invalid timeZone: {tz:?}: {e}"))
                    }
                    _ => (
                        "UnparseableSchedule",
                        format!("unparseable schedule: {:?} : {e}", spec.schedule),
                    ),
                };
                ctx.events
                    .publish(&me, EventType::Warning, reason, "Sync", note)
                    .await;
            }
            Ok(sched) => {
                let mut earliest = status
                    .last_schedule_time
                    .as_ref()
                    .map(|t| t.0)
                    .unwrap_or(created);
                if let Some(deadline) = spec.starting_deadline_seconds {
                    let limit = now - jiff::SignedDuration::from_secs(deadline);
                    if limit > earliest {
                        earliest = limit;
                    }
                }
                let (scheduled, missed) = most_recent(&sched, earliest, now);
                if missed > MAX_MISSED {
                    ctx.events
                        .publish(
                            &me,
                            EventType::Warning,
                            "TooManyMissedTimes",
                            "Sync",
                            format!("too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"),
                        )
                        .await;
                }
                if let Some(scheduled) = scheduled {
                    let too_late = spec
                        .starting_deadline_seconds
                        .is_some_and(|d| scheduled + jiff::SignedDuration::from_secs(d) < now);
                    let job_name = job_name(&name, scheduled);
                    let already = active
                        .iter()
                        .any(|a| a.name.as_deref() == Some(job_name.as_str()))
                        || jobs.iter().any(|j| j.name_any() == job_name);
                    if too_late {
                        ctx.events
                            .publish(
                                &me,
                                EventType::Warning,
                                "MissSchedule",
                                "Sync",
                                format!(
                                    "Missed scheduled time to start a job: {}",
                                    scheduled.strftime("%a, %d %b %Y %H:%M:%S %z")
                                ),
                            )
                            .await;
                    } else if already {
                    } else if spec.concurrency_policy.as_deref() == Some("Forbid")
                        && !active.is_empty()
                    {
                        ctx.events
                            .publish(
                                &me,
                                EventType::Normal,
                                "JobAlreadyActive",
                                "Sync",
                                "Not starting job because prior execution is running and concurrency policy is Forbid".into(),
                            )
                            .await;
                    } else {
                        if spec.concurrency_policy.as_deref() == Some("Replace") {
                            for r in active.clone() {
                                if let Some(job) = jobs.iter().find(|j| j.uid() == r.uid) {
                                    delete_job(&ctx, &cj, job).await?;
                                }
                                active.retain(|a| a.uid != r.uid);
                            }
                        }
                        let job = new_job(&cj, scheduled, sched.time_zone());
                        let api = Api::<Job>::namespaced(ctx.client.clone(), &ns);
                        match api.create(&PostParams::default(), &job).await {
                            Ok(created_job) => {
                                ctx.expectations.created(&uid, &created_job.name_any());
                                ctx.events
                                    .publish(
                                        &me,
                                        EventType::Normal,
                                        "SuccessfulCreate",
                                        "Create",
                                        format!("Created job {}", created_job.name_any()),
                                    )
                                    .await;
                                active.push(reference(&created_job));
                                status.last_schedule_time = Some(Time(scheduled));
                            }
                            Err(e) if crate::api_status(&e).is_some_and(|s| s.code == 409) => {
                                status.last_schedule_time = Some(Time(scheduled));
                            }
                            Err(e) => {
                                ctx.events
                                    .publish(
                                        &me,
                                        EventType::Warning,
                                        "FailedCreate",
                                        "Create",
                                        format!("Error creating job: {e}"),
                                    )
                                    .await;
                                return Err(Error::request(
                                    "create",
                                    format!("jobs {ns}/{job_name}"),
                                    e,
                                ));
                            }
                        }
                    }
                }
                if let Some(next) = sched.next(now) {
                    let wait =
                        Duration::try_from(next.duration_since(now)).unwrap_or(Duration::ZERO);
                    requeue = Some(ctx.clock.real(wait) + Duration::from_millis(10));
                }
            }
        }
    }

    status.active = (!active.is_empty()).then_some(active);
    if status != old_status {
        write_status(&ctx, &cj, &status).await?;
    }
    Ok(match requeue {
        Some(wait) => Action::requeue(wait),
        None => Action::await_change(),
    })
}

async fn delete_job(ctx: &Context, cj: &CronJob, job: &Job) -> Result<(), Error> {
    let ns = job.namespace().unwrap_or_default();
    let api = Api::<Job>::namespaced(ctx.client.clone(), &ns);
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    match api.delete(&job.name_any(), &params).await {
        Ok(_) => {
            if let Some(u) = job.uid() {
                ctx.expectations.deleted(&cj.uid().unwrap_or_default(), &u);
            }
            ctx.events
                .publish(
                    &workload::reference(cj),
                    EventType::Normal,
                    "SuccessfulDelete",
                    "Delete",
                    format!("Deleted job {}", job.name_any()),
                )
                .await;
            Ok(())
        }
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => {
            ctx.events
                .publish(
                    &workload::reference(cj),
                    EventType::Warning,
                    "FailedDelete",
                    "Delete",
                    format!("Deleted job: {e}"),
                )
                .await;
            Err(Error::request(
                "delete",
                format!("jobs {ns}/{}", job.name_any()),
                e,
            ))
        }
    }
}

async fn write_status(ctx: &Context, cj: &CronJob, status: &CronJobStatus) -> Result<(), Error> {
    let ns = cj.namespace().unwrap_or_default();
    let api = Api::<CronJob>::namespaced(ctx.client.clone(), &ns);
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": cj.resource_version()},
        "status": {
            "active": status.active,
            "lastScheduleTime": status.last_schedule_time,
            "lastSuccessfulTime": status.last_successful_time,
        }
    });
    match api
        .patch_status(
            &cj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::request(
            "patch",
            format!("cronjobs {ns}/{}/status", cj.name_any()),
            e,
        )),
    }
}

fn error_policy(cj: Arc<CronJob>, error: &Error, _: Arc<Context>) -> Action {
    if error.is_conflict() {
        return Action::requeue(CATCH_UP);
    }
    warn!(cronjob = %workload::key(&*cj), error = %crate::error_chain(error), "syncing cronjob failed");
    Action::requeue(RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn job_names_count_minutes_since_the_epoch() {
        assert_eq!(
            job_name("hello", ts("2026-01-01T10:01:00Z")),
            "hello-29454361"
        );
        assert_eq!(job_name("hello", ts("1970-01-01T00:02:59Z")), "hello-2");
    }

    #[test]
    fn the_most_recent_missed_time_is_found() {
        let s = schedule::parse("*/10 * * * *", None).expect("parse");
        let cases = [
            (
                "nothing due yet",
                "2026-01-01T10:00:00Z",
                "2026-01-01T10:05:00Z",
                None,
                0,
            ),
            (
                "one due",
                "2026-01-01T10:00:00Z",
                "2026-01-01T10:12:00Z",
                Some("2026-01-01T10:10:00Z"),
                1,
            ),
            (
                "three missed",
                "2026-01-01T10:00:00Z",
                "2026-01-01T10:35:00Z",
                Some("2026-01-01T10:30:00Z"),
                3,
            ),
            (
                "due exactly now",
                "2026-01-01T10:00:00Z",
                "2026-01-01T10:10:00Z",
                Some("2026-01-01T10:10:00Z"),
                1,
            ),
        ];
        for (case, earliest, now, want, missed) in cases {
            let (got, n) = most_recent(&s, ts(earliest), ts(now));
            assert_eq!(got, want.map(ts), "{case}");
            assert_eq!(n, missed, "{case}: missed");
        }
    }

    #[test]
    fn scheduled_timestamps_format_like_go_rfc3339() {
        let t = ts("2026-01-01T10:00:00Z");
        assert_eq!(
            rfc3339_in(t, &jiff::tz::TimeZone::UTC),
            "2026-01-01T10:00:00Z"
        );
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").expect("tz");
        assert_eq!(rfc3339_in(t, &berlin), "2026-01-01T11:00:00+01:00");
    }
}
