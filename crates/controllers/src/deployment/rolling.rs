//! The RollingUpdate strategy (upstream's `rolling.go`): scale the new ReplicaSet up within
//! maxSurge, then old ones down within maxUnavailable, unhealthy old replicas first.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::Controller;
use super::sync::{
    active, available_sum, by_creation, deployment_complete, max_unavailable, new_rs_new_replicas,
    replicas, rs_available, rs_replicas, spec_replicas_sum,
};
use crate::Error;

/// How many old replicas may go now: total pods minus the minimum available minus the new
/// ReplicaSet's unavailable pods (upstream's `maxScaledDown`).
pub fn max_scaled_down(d: &Deployment, all: &[ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    let min_available = replicas(d) - max_unavailable(d);
    let new_unavailable = rs_replicas(new_rs) - rs_available(new_rs);
    spec_replicas_sum(all) - min_available - new_unavailable
}

/// New sizes for old ReplicaSets with unhealthy replicas, oldest first, removing at most
/// `max_cleanup` (upstream's `cleanupUnhealthyReplicas`): `(index into old, new size)`.
pub fn unhealthy_cleanup(old: &[ReplicaSet], max_cleanup: i32) -> (Vec<(usize, i32)>, i32) {
    let mut order: Vec<usize> = (0..old.len()).collect();
    order.sort_by(|&a, &b| by_creation(&old[a], &old[b]));
    let mut total = 0;
    let mut out = Vec::new();
    for i in order {
        if total >= max_cleanup {
            break;
        }
        let rs = &old[i];
        if rs_replicas(rs) == 0 || rs_replicas(rs) == rs_available(rs) {
            continue;
        }
        let down = (max_cleanup - total).min(rs_replicas(rs) - rs_available(rs));
        out.push((i, rs_replicas(rs) - down));
        total += down;
    }
    (out, total)
}

/// New sizes for old ReplicaSets when available pods exceed the minimum, oldest first
/// (upstream's `scaleDownOldReplicaSetsForRollingUpdate`).
pub fn scale_down_old(d: &Deployment, all: &[ReplicaSet], old: &[ReplicaSet]) -> Vec<(usize, i32)> {
    let min_available = replicas(d) - max_unavailable(d);
    let available = available_sum(all);
    if available <= min_available {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..old.len()).collect();
    order.sort_by(|&a, &b| by_creation(&old[a], &old[b]));
    let target = available - min_available;
    let mut total = 0;
    let mut out = Vec::new();
    for i in order {
        if total >= target {
            break;
        }
        let rs = &old[i];
        if rs_replicas(rs) == 0 {
            continue;
        }
        let down = rs_replicas(rs).min(target - total);
        out.push((i, rs_replicas(rs) - down));
        total += down;
    }
    out
}

impl Controller {
    /// Upstream's `rolloutRolling`.
    pub(super) async fn rollout_rolling(
        &self,
        d: &mut Deployment,
        rs_list: &[ReplicaSet],
    ) -> Result<(), Error> {
        let (new_rs, old) = self.new_and_old(d, rs_list, true).await?;
        let Some(mut new_rs) = new_rs else {
            return Ok(());
        };
        let mut all = old.clone();
        all.push(new_rs.clone());

        // Scale up, if we can.
        if rs_replicas(&new_rs) != replicas(d) {
            let target = if rs_replicas(&new_rs) > replicas(d) {
                replicas(d)
            } else {
                new_rs_new_replicas(d, &all, &new_rs).map_err(|message| Error::Workload {
                    object: format!("deployment {}", kube::ResourceExt::name_any(d)),
                    message,
                })?
            };
            let (scaled, updated) = self.scale_and_record(&new_rs, target, d).await?;
            if scaled {
                new_rs = updated;
                let mut all = old.clone();
                all.push(new_rs.clone());
                return self.sync_rollout_status(&all, Some(&new_rs), d).await;
            }
        }

        // Scale down, if we can.
        let mut active_old = active(&old);
        if spec_replicas_sum(&active_old) > 0 {
            let max_down = max_scaled_down(d, &all, &new_rs);
            if max_down > 0 {
                let (cleanup, cleaned) = unhealthy_cleanup(&active_old, max_down);
                for (i, size) in cleanup {
                    let (_, updated) = self.scale_and_record(&active_old[i], size, d).await?;
                    active_old[i] = updated;
                }
                let mut all_now = active_old.clone();
                all_now.push(new_rs.clone());
                let mut scaled_down = 0;
                for (i, size) in scale_down_old(d, &all_now, &active_old) {
                    let before = rs_replicas(&active_old[i]);
                    let (_, updated) = self.scale_and_record(&active_old[i], size, d).await?;
                    scaled_down += before - size;
                    active_old[i] = updated;
                }
                if cleaned + scaled_down > 0 {
                    let mut all = old
                        .iter()
                        .map(|rs| {
                            active_old
                                .iter()
                                .find(|a| a.metadata.uid == rs.metadata.uid)
                                .cloned()
                                .unwrap_or_else(|| rs.clone())
                        })
                        .collect::<Vec<_>>();
                    all.push(new_rs.clone());
                    return self.sync_rollout_status(&all, Some(&new_rs), d).await;
                }
            }
        }

        if deployment_complete(d, d.status.as_ref()) {
            self.cleanup(&old, d).await?;
        }
        self.sync_rollout_status(&all, Some(&new_rs), d).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i32, surge: i32, unavailable: i32) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}
        }))
        .expect("deployment")
    }

    fn rs(name: &str, replicas: i32, available: i32, age: i64) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": name,
                         "creationTimestamp": (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(age)).to_string()},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": replicas, "availableReplicas": available}
        }))
        .expect("rs")
    }

    #[test]
    fn old_replica_sets_scale_down_only_above_minimum_availability() {
        // Upstream's TestDeploymentController_reconcileOldReplicaSets-style table:
        // (replicas, maxUnavailable, old replicas/available, new replicas/available, want old size)
        let cases = [
            (
                "no room: all old available, new not ready",
                10,
                0,
                (10, 10),
                (1, 0),
                None,
            ),
            (
                "one new available frees one old",
                10,
                0,
                (10, 10),
                (1, 1),
                Some(9),
            ),
            (
                "maxUnavailable 2 allows two",
                10,
                2,
                (10, 10),
                (0, 0),
                Some(8),
            ),
            (
                "unhealthy old pods go first",
                10,
                0,
                (10, 8),
                (2, 2),
                Some(8),
            ),
        ];
        for (case, replicas, unavailable, (old_n, old_a), (new_n, new_a), want) in cases {
            let d = deployment(replicas, 1, unavailable);
            let old = vec![rs("old", old_n, old_a, 100)];
            let new_rs = rs("new", new_n, new_a, 1);
            let mut all = old.clone();
            all.push(new_rs.clone());
            let max_down = max_scaled_down(&d, &all, &new_rs);
            let mut old_now = old.clone();
            let mut size = None;
            if max_down > 0 {
                let (cleanup, _) = unhealthy_cleanup(&old_now, max_down);
                for (i, s) in cleanup {
                    old_now[i] = rs("old", s, old_a.min(s), 100);
                    size = Some(s);
                }
                let mut all_now = old_now.clone();
                all_now.push(new_rs.clone());
                for (_, s) in scale_down_old(&d, &all_now, &old_now) {
                    size = Some(s);
                }
            }
            assert_eq!(size, want, "{case}");
        }
    }

    #[test]
    fn cleanup_takes_oldest_replica_sets_first_up_to_the_limit() {
        let old = vec![rs("newer", 3, 1, 10), rs("older", 2, 0, 100)];
        let (sizes, total) = unhealthy_cleanup(&old, 3);
        assert_eq!(sizes, vec![(1, 0), (0, 2)]);
        assert_eq!(total, 3);
    }
}
