//! The Recreate strategy (upstream's `recreate.go`): scale every old ReplicaSet to zero, wait
//! until none of their pods runs, then create and scale up the new one.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;

use super::Controller;
use super::sync::{deployment_complete, replicas, rs_replicas};
use crate::Error;

/// Whether any pod of an old ReplicaSet may still run (upstream's `oldPodsRunning`): old
/// ReplicaSets report replicas, or a pod not in a terminal phase remains.
pub fn old_pods_running(
    new_rs: Option<&ReplicaSet>,
    old: &[ReplicaSet],
    pods: &[Arc<Pod>],
) -> bool {
    if old
        .iter()
        .map(|rs| rs.status.as_ref().map(|s| s.replicas).unwrap_or(0))
        .sum::<i32>()
        > 0
    {
        return true;
    }
    let new_uid = new_rs.and_then(|rs| rs.metadata.uid.as_deref());
    pods.iter().any(|pod| {
        let owner = crate::replicaset::controller_ref(&pod.metadata).map(|r| r.uid.as_str());
        if owner.is_some() && owner == new_uid {
            return false;
        }
        !matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Failed" | "Succeeded")
        )
    })
}

impl Controller {
    /// Upstream's `rolloutRecreate`; `pods` are the pods of the Deployment's ReplicaSets.
    pub(super) async fn rollout_recreate(
        &self,
        d: &mut Deployment,
        rs_list: &[ReplicaSet],
        pods: &[Arc<Pod>],
    ) -> Result<(), Error> {
        let (mut new_rs, mut old) = self.new_and_old(d, rs_list, false).await?;
        let mut scaled = false;
        for rs in old.iter_mut() {
            if rs_replicas(rs) == 0 {
                continue;
            }
            let (changed, updated) = self.scale_and_record(rs, 0, d).await?;
            if changed {
                *rs = updated;
                scaled = true;
            }
        }
        let mut all = old.clone();
        all.extend(new_rs.clone());
        if scaled {
            return self.sync_rollout_status(&all, new_rs.as_ref(), d).await;
        }
        if old_pods_running(new_rs.as_ref(), &old, pods) {
            return self.sync_rollout_status(&all, new_rs.as_ref(), d).await;
        }
        if new_rs.is_none() {
            (new_rs, old) = self.new_and_old(d, rs_list, true).await?;
            all = old.clone();
            all.extend(new_rs.clone());
        }
        if let Some(rs) = &new_rs {
            let (_, updated) = self.scale_and_record(rs, replicas(d), d).await?;
            new_rs = Some(updated);
            all = old.clone();
            all.extend(new_rs.clone());
        }
        if deployment_complete(d, d.status.as_ref()) {
            self.cleanup(&old, d).await?;
        }
        self.sync_rollout_status(&all, new_rs.as_ref(), d).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(owner: &str, phase: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "p", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": owner, "uid": owner, "controller": true}]},
                "status": {"phase": phase}
            }))
            .expect("pod"),
        )
    }

    fn rs(uid: &str, status_replicas: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": uid, "uid": uid},
            "spec": {"replicas": 0, "selector": {}},
            "status": {"replicas": status_replicas}
        }))
        .expect("rs")
    }

    #[test]
    fn old_pods_block_the_new_replica_set_until_terminal() {
        let new_rs = rs("new", 0);
        let cases = [
            (
                "old RS still reports replicas",
                vec![rs("old", 1)],
                vec![],
                true,
            ),
            (
                "an old pod is running",
                vec![rs("old", 0)],
                vec![pod("old", "Running")],
                true,
            ),
            (
                "an old pod is unknown",
                vec![rs("old", 0)],
                vec![pod("old", "Unknown")],
                true,
            ),
            (
                "old pods finished",
                vec![rs("old", 0)],
                vec![pod("old", "Succeeded"), pod("old", "Failed")],
                false,
            ),
            (
                "only new pods",
                vec![rs("old", 0)],
                vec![pod("new", "Running")],
                false,
            ),
        ];
        for (case, old, pods, want) in cases {
            assert_eq!(old_pods_running(Some(&new_rs), &old, &pods), want, "{case}");
        }
    }
}
