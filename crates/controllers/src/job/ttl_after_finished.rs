//! The TTL-after-finished controller, as kube-controller-manager's `ttlafterfinished`
//! controller: a finished Job (`Complete` or `Failed`) with `ttlSecondsAfterFinished` is
//! deleted, with its pods (foreground propagation), once that many simulated seconds have
//! passed since it finished.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, Preconditions, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::{Error, is_conflict, is_not_found};

/// Retry delay after a failed reconcile.
const RETRY: Duration = Duration::from_secs(1);

struct Context {
    client: Client,
    clock: api::clock::Clock,
}

/// Runs the controller until `shutdown` is cancelled.
pub async fn run(
    client: Client,
    clock: api::clock::Clock,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let context = Arc::new(Context {
        client: client.clone(),
        clock,
    });
    Controller::new(Api::<Job>::all(client), watcher::Config::default())
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile, error_policy, context)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// When the Job finished: the transition time of its `Complete` or `Failed` condition
/// (`jobFinishTime`).
pub fn finish_time(job: &Job) -> Option<jiff::Timestamp> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| {
            c.last_transition_time
                .as_ref()
                .map(|t| t.0)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        })
}

/// How much simulated time is left before `job` expires: `None` if it never does (no TTL,
/// not finished, being deleted), zero if it has.
pub fn time_left(job: &Job, clock: &api::clock::Clock) -> Option<Duration> {
    if job.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    let finished = finish_time(job)?;
    let ttl = Duration::from_secs(u64::try_from(ttl).unwrap_or(0));
    Some(ttl.saturating_sub(clock.elapsed_since(finished)))
}

async fn reconcile(job: Arc<Job>, ctx: Arc<Context>) -> Result<Action, Error> {
    let Some(left) = time_left(&job, &ctx.clock) else {
        return Ok(Action::await_change());
    };
    if !left.is_zero() {
        return Ok(Action::requeue(
            ctx.clock.real(left) + Duration::from_millis(10),
        ));
    }
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let api = Api::<Job>::namespaced(ctx.client.clone(), &ns);
    // Check a fresh copy: the TTL or the finish may have changed since the cache saw it.
    let fresh = api
        .get_opt(&name)
        .await
        .map_err(|e| Error::request("get", format!("jobs {ns}/{name}"), e))?;
    let Some(fresh) = fresh else {
        return Ok(Action::await_change());
    };
    match time_left(&fresh, &ctx.clock) {
        None => return Ok(Action::await_change()),
        Some(left) if !left.is_zero() => {
            return Ok(Action::requeue(
                ctx.clock.real(left) + Duration::from_millis(10),
            ));
        }
        Some(_) => {}
    }
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        preconditions: Some(Preconditions {
            uid: fresh.uid(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => Ok(Action::await_change()),
        Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(Action::await_change()),
        Err(e) => Err(Error::request("delete", format!("jobs {ns}/{name}"), e)),
    }
}

fn error_policy(job: Arc<Job>, error: &Error, _: Arc<Context>) -> Action {
    warn!(job = %crate::workload::key(&*job), error = %crate::error_chain(error), "cleaning up finished job failed");
    Action::requeue(RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(ttl: Option<i64>, finished_secs_ago: Option<i64>, condition: &str) -> Job {
        let conditions = finished_secs_ago.map(|ago| {
            let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(ago);
            vec![serde_json::json!({"type": condition, "status": "True", "lastTransitionTime": at.to_string()})]
        });
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "j"},
            "spec": {"ttlSecondsAfterFinished": ttl, "template": {"spec": {"containers": []}}},
            "status": {"conditions": conditions}
        }))
        .expect("job")
    }

    #[test]
    fn jobs_expire_ttl_seconds_after_they_finish() {
        let clock = api::clock::Clock::REAL_TIME;
        let cases = [
            (
                "no ttl never expires",
                job(None, Some(100), "Complete"),
                None,
            ),
            (
                "unfinished never expires",
                job(Some(10), None, "Complete"),
                None,
            ),
            (
                "a suspended condition is not a finish",
                job(Some(10), Some(100), "Suspended"),
                None,
            ),
            (
                "expired complete job",
                job(Some(10), Some(100), "Complete"),
                Some(true),
            ),
            (
                "expired failed job",
                job(Some(0), Some(1), "Failed"),
                Some(true),
            ),
            (
                "still waiting",
                job(Some(3600), Some(1), "Complete"),
                Some(false),
            ),
        ];
        for (case, j, want) in cases {
            assert_eq!(time_left(&j, &clock).map(|d| d.is_zero()), want, "{case}");
        }
    }
}
