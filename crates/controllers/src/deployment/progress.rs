//! Rollout progress (upstream's `progress.go` and `checkPausedConditions`): the
//! `Progressing` condition (`NewReplicaSetAvailable`, `ReplicaSetUpdated`,
//! `ProgressDeadlineExceeded`, `DeploymentPaused`/`DeploymentResumed`), promotion of
//! ReplicaSet failures, and the requeue that notices a missed progress deadline.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use kube::ResourceExt;

use super::Controller;
use super::sync::{
    NEW_RS_AVAILABLE, PAUSED, REPLICA_SET_UPDATED, RESUMED, TIMED_OUT, calculate_status,
    deployment_complete, deployment_progressing, deployment_timed_out, get_condition,
    has_progress_deadline, new_condition, remove_condition, set_condition,
};
use crate::Error;
use crate::replicaset::key_of;

/// The Progressing condition a paused or resumed Deployment gets, if it must change
/// (upstream's `checkPausedConditions`).
pub fn paused_condition(clock: &api::clock::Clock, d: &Deployment) -> Option<DeploymentCondition> {
    if !has_progress_deadline(d) {
        return None;
    }
    let current = get_condition(d.status.as_ref(), "Progressing");
    if current.is_some_and(|c| c.reason.as_deref() == Some(TIMED_OUT)) {
        return None;
    }
    let paused_exists = current.is_some_and(|c| c.reason.as_deref() == Some(PAUSED));
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    if paused && !paused_exists {
        Some(new_condition(
            clock,
            "Progressing",
            "Unknown",
            PAUSED,
            "Deployment is paused".into(),
        ))
    } else if !paused && paused_exists {
        Some(new_condition(
            clock,
            "Progressing",
            "Unknown",
            RESUMED,
            "Deployment is resumed".into(),
        ))
    } else {
        None
    }
}

/// The rollout status with progress estimated (upstream's `syncRolloutStatus` without the
/// write).
pub fn rollout_status(
    clock: &api::clock::Clock,
    all: &[ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    d: &Deployment,
) -> DeploymentStatus {
    let mut status = calculate_status(clock, all, new_rs, d);
    if !has_progress_deadline(d) {
        remove_condition(&mut status, "Progressing");
    }
    let current = get_condition(d.status.as_ref(), "Progressing").cloned();
    let complete_before = status.replicas == status.updated_replicas
        && current
            .as_ref()
            .is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
    if has_progress_deadline(d) && !complete_before {
        let subject = |what: &str| match new_rs {
            Some(rs) => format!("ReplicaSet \"{}\" {what}", rs.name_any()),
            None => format!("Deployment \"{}\" {what}", d.name_any()),
        };
        if deployment_complete(d, Some(&status)) {
            let c = new_condition(
                clock,
                "Progressing",
                "True",
                NEW_RS_AVAILABLE,
                subject("has successfully progressed."),
            );
            set_condition(&mut status, c);
        } else if deployment_progressing(d, &status) {
            let mut c = new_condition(
                clock,
                "Progressing",
                "True",
                REPLICA_SET_UPDATED,
                subject("is progressing."),
            );
            if let Some(current) = &current {
                if current.status == "True" {
                    c.last_transition_time = current.last_transition_time.clone();
                }
                remove_condition(&mut status, "Progressing");
            }
            set_condition(&mut status, c);
        } else if deployment_timed_out(clock, d, &status) {
            let c = new_condition(
                clock,
                "Progressing",
                "False",
                TIMED_OUT,
                subject("has timed out progressing."),
            );
            set_condition(&mut status, c);
        }
    }
    match replica_failure(all, new_rs) {
        Some(c) => set_condition(&mut status, c),
        None => remove_condition(&mut status, "ReplicaFailure"),
    }
    status
}

/// The first `ReplicaFailure` of the new ReplicaSet, else of any (upstream's
/// `getReplicaFailures`).
fn replica_failure(all: &[ReplicaSet], new_rs: Option<&ReplicaSet>) -> Option<DeploymentCondition> {
    let failure = |rs: &ReplicaSet| {
        rs.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "ReplicaFailure"))
            .map(|c| DeploymentCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                last_transition_time: c.last_transition_time.clone(),
                last_update_time: c.last_transition_time.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
            })
    };
    new_rs
        .and_then(failure)
        .or_else(|| all.iter().find_map(failure))
}

/// How long (simulated) until the Deployment must be checked for a missed deadline, if at
/// all (upstream's `requeueStuckDeployment`).
pub fn stuck_requeue(
    clock: &api::clock::Clock,
    d: &Deployment,
    new: &DeploymentStatus,
) -> Option<Duration> {
    let current = get_condition(d.status.as_ref(), "Progressing")?;
    if !has_progress_deadline(d) {
        return None;
    }
    if deployment_complete(d, Some(new)) || current.reason.as_deref() == Some(TIMED_OUT) {
        return None;
    }
    let deadline = Duration::from_secs(
        d.spec
            .as_ref()
            .and_then(|s| s.progress_deadline_seconds)
            .unwrap_or(600)
            .max(0) as u64,
    );
    let since = current
        .last_update_time
        .as_ref()
        .map(|t| clock.elapsed_since(t.0))
        .unwrap_or_default();
    let after = deadline.saturating_sub(since);
    if after < Duration::from_secs(1) {
        Some(Duration::from_secs(1))
    } else {
        Some(after + Duration::from_secs(1))
    }
}

impl Controller {
    /// Writes the paused/resumed condition if needed.
    pub(super) async fn check_paused_conditions(&self, d: &mut Deployment) -> Result<(), Error> {
        let Some(c) = paused_condition(&self.clock, d) else {
            return Ok(());
        };
        set_condition(d.status.get_or_insert_with(Default::default), c);
        self.update_deployment(d).await
    }

    /// Computes and writes the rollout status, scheduling a deadline check when nothing
    /// changed (upstream's `syncRolloutStatus`).
    pub(super) async fn sync_rollout_status(
        &self,
        all: &[ReplicaSet],
        new_rs: Option<&ReplicaSet>,
        d: &mut Deployment,
    ) -> Result<(), Error> {
        let status = rollout_status(&self.clock, all, new_rs, d);
        if d.status.as_ref() == Some(&status) {
            if let Some(after) = stuck_requeue(&self.clock, d, &status) {
                let key = key_of(&d.namespace().unwrap_or_default(), &d.name_any());
                crate::replicaset::add_after(
                    &self.queue,
                    &self.timers,
                    key,
                    self.clock.real(after),
                    &self.shutdown,
                );
            }
            return Ok(());
        }
        d.status = Some(status);
        self.update_deployment(d).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;

    fn deployment(status: serde_json::Value, paused: bool) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "generation": 2},
            "spec": {"replicas": 2, "paused": paused, "progressDeadlineSeconds": 60,
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}}},
            "status": status
        }))
        .expect("deployment")
    }

    fn rs(replicas: i32, available: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web-abc", "namespace": "ns"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": replicas, "readyReplicas": available, "availableReplicas": available}
        }))
        .expect("rs")
    }

    fn progressing(reason: &str, secs_ago: i64) -> serde_json::Value {
        let t = Time(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs_ago));
        json!({"type": "Progressing", "status": "True", "reason": reason, "message": "m",
               "lastUpdateTime": t, "lastTransitionTime": t})
    }

    #[test]
    fn progressing_condition_transitions() {
        let clock = api::clock::Clock::REAL_TIME;
        let cases = [
            (
                "complete rollout",
                json!({"replicas": 2, "updatedReplicas": 1, "conditions": [progressing("ReplicaSetUpdated", 5)]}),
                rs(2, 2),
                "True",
                NEW_RS_AVAILABLE,
                "ReplicaSet \"web-abc\" has successfully progressed.",
            ),
            (
                "more pods available is progress",
                json!({"replicas": 2, "updatedReplicas": 2, "availableReplicas": 0, "conditions": [progressing("NewReplicaSetCreated", 5)]}),
                rs(2, 1),
                "True",
                REPLICA_SET_UPDATED,
                "ReplicaSet \"web-abc\" is progressing.",
            ),
            (
                "no progress past the deadline",
                json!({"replicas": 2, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 2,
                       "conditions": [progressing("ReplicaSetUpdated", 120)]}),
                rs(2, 1),
                "False",
                TIMED_OUT,
                "ReplicaSet \"web-abc\" has timed out progressing.",
            ),
            (
                "no progress within the deadline keeps the condition",
                json!({"replicas": 2, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 2,
                       "conditions": [progressing("ReplicaSetUpdated", 10)]}),
                rs(2, 1),
                "True",
                REPLICA_SET_UPDATED,
                "m",
            ),
        ];
        for (case, status, rs, want_status, want_reason, want_message) in cases {
            let d = deployment(status, false);
            let s = rollout_status(&clock, std::slice::from_ref(&rs), Some(&rs), &d);
            let c = get_condition(Some(&s), "Progressing").expect("progressing");
            assert_eq!(c.status, want_status, "{case}");
            assert_eq!(c.reason.as_deref(), Some(want_reason), "{case}");
            assert_eq!(c.message.as_deref(), Some(want_message), "{case}");
        }
    }

    #[test]
    fn pausing_and_resuming_set_unknown_progress() {
        let clock = api::clock::Clock::REAL_TIME;
        let c = paused_condition(&clock, &deployment(json!({}), true)).expect("paused");
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("Unknown", Some(PAUSED))
        );
        assert_eq!(c.message.as_deref(), Some("Deployment is paused"));
        let was_paused =
            json!({"conditions": [{"type": "Progressing", "status": "Unknown", "reason": PAUSED}]});
        let c = paused_condition(&clock, &deployment(was_paused.clone(), false)).expect("resumed");
        assert_eq!(c.reason.as_deref(), Some(RESUMED));
        assert!(
            paused_condition(&clock, &deployment(was_paused, true)).is_none(),
            "already paused"
        );
        let timed_out = json!({"conditions": [{"type": "Progressing", "status": "False", "reason": TIMED_OUT}]});
        assert!(
            paused_condition(&clock, &deployment(timed_out, true)).is_none(),
            "timeout wins"
        );
    }

    #[test]
    fn stuck_deployments_are_checked_at_the_deadline() {
        let clock = api::clock::Clock::REAL_TIME;
        let d = deployment(
            json!({"conditions": [progressing("ReplicaSetUpdated", 20)]}),
            false,
        );
        let s = DeploymentStatus::default();
        let after = stuck_requeue(&clock, &d, &s).expect("requeue");
        assert!(
            after > Duration::from_secs(35) && after <= Duration::from_secs(41),
            "{after:?}"
        );
        let done = deployment(json!({"conditions": [progressing(TIMED_OUT, 20)]}), false);
        assert!(stuck_requeue(&clock, &done, &s).is_none());
    }
}
