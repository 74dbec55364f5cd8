//! The Deployment controller, as kube-controller-manager's `deployment` controller: it owns
//! ReplicaSets named `<deployment>-<pod-template-hash>`, rolls the template out with the
//! RollingUpdate ([`rolling`]) or Recreate ([`recreate`]) strategy, scales proportionally
//! during a rollout, honours `spec.paused`, keeps `revisionHistoryLimit` old ReplicaSets with
//! their `deployment.kubernetes.io/revision` annotations (so `kubectl rollout history/undo`
//! work), and reports `status` with the `Progressing` and `Available` conditions
//! ([`progress`]), measuring progress deadlines on the simulation clock.
//!
//! Not supported: the deprecated `extensions/v1beta1` rollback request
//! (`deprecated.deployment.rollback.to`); `kubectl rollout undo` works client-side.

pub mod progress;
pub mod recreate;
pub mod rolling;
pub mod sync;

use std::collections::BTreeMap;
use std::sync::Arc;

use informer::SharedInformer;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::SelectorExt;
use kube::runtime::events::EventType;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::garbage_collector::queue::WorkQueue;
use crate::replicaset::{
    EventSink, Informer, Seen, Timers, api_message, controller_ref, informer, key_of, labels_of,
    new_controller_ref, record, run_workers, selector_of, shared_informer, split_key,
};
use crate::{Error, is_not_found};

/// The reporting controller name of the events this controller writes.
pub const CONTROLLER_NAME: &str = "deployment-controller";
/// Concurrent syncs (upstream's `--concurrent-deployment-syncs` default).
pub const WORKERS: usize = 5;

/// The controller's state, shared by its workers.
pub(crate) struct Controller {
    client: Client,
    clock: api::clock::Clock,
    deployments: Informer<Deployment>,
    replica_sets: Informer<ReplicaSet>,
    pods: Informer<Pod>,
    queue: Arc<WorkQueue>,
    timers: Arc<Timers>,
    recorder: EventSink,
    shutdown: CancellationToken,
}

/// Whether a selector selects everything (empty).
fn selects_everything(d: &Deployment) -> bool {
    d.spec.as_ref().is_some_and(|s| {
        s.selector
            .match_labels
            .as_ref()
            .is_none_or(|m| m.is_empty())
            && s.selector
                .match_expressions
                .as_ref()
                .is_none_or(|m| m.is_empty())
    })
}

/// Keys of the Deployments of `ns` whose selector matches `labels` (for orphans).
fn matching_deployments(
    deployments: &Informer<Deployment>,
    ns: &str,
    labels: &BTreeMap<String, String>,
) -> Vec<String> {
    deployments
        .in_namespace(ns)
        .into_iter()
        .filter(|d| {
            !selects_everything(d)
                && selector_of(d.spec.as_ref().map(|s| &s.selector))
                    .is_some_and(|s| s.matches(labels))
        })
        .map(|d| key_of(ns, &d.name_any()))
        .collect()
}

/// The key of the Deployment controlling `rs`, if cached with the referenced uid.
fn owning_deployment(deployments: &Informer<Deployment>, rs: &ReplicaSet) -> Option<String> {
    let r = controller_ref(&rs.metadata)?;
    if r.kind != "Deployment" {
        return None;
    }
    let ns = rs.namespace().unwrap_or_default();
    let d = deployments.get(&ns, &r.name)?;
    (d.metadata.uid.as_deref() == Some(r.uid.as_str())).then(|| key_of(&ns, &r.name))
}

/// ReplicaSet event handler (upstream's add/update/deleteReplicaSet).
fn on_replica_set(
    deployments: &Informer<Deployment>,
    queue: &WorkQueue,
    old: Option<&ReplicaSet>,
    seen: Seen<'_, ReplicaSet>,
) {
    match seen {
        Seen::Applied(rs) => {
            if let Some(old) = old
                && controller_ref(&old.metadata) != controller_ref(&rs.metadata)
            {
                queue.add_all(owning_deployment(deployments, old));
            }
            if controller_ref(&rs.metadata).is_some() {
                queue.add_all(owning_deployment(deployments, rs));
                return;
            }
            let changed = old.is_none_or(|o| {
                o.metadata.labels != rs.metadata.labels
                    || controller_ref(&o.metadata) != controller_ref(&rs.metadata)
            });
            if changed {
                let ns = rs.namespace().unwrap_or_default();
                queue.add_all(matching_deployments(
                    deployments,
                    &ns,
                    &labels_of(&rs.metadata),
                ));
            }
        }
        Seen::Deleted(rs) => queue.add_all(owning_deployment(deployments, rs)),
        Seen::Listed => {}
    }
}

/// Runs the Deployment controller until `shutdown` is cancelled, with a pod watch of its own.
pub async fn run(
    client: Client,
    clock: api::clock::Clock,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let pods = SharedInformer::start(Api::all(client.clone()), shutdown.clone());
    run_with(client, clock, pods, shutdown).await
}

/// Runs the Deployment controller until `shutdown` is cancelled, reading pods from a shared
/// watch.
pub async fn run_with(
    client: Client,
    clock: api::clock::Clock,
    shared_pods: SharedInformer<Pod>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let queue = Arc::new(WorkQueue::default());
    let timers = Arc::new(Timers::default());
    let mut tasks = JoinSet::new();
    let (deployments, d_task) = {
        let queue = Arc::clone(&queue);
        informer(
            Api::<Deployment>::all(client.clone()),
            |_| {},
            move |_, seen: Seen<'_, Deployment>| match seen {
                Seen::Applied(d) | Seen::Deleted(d) => {
                    queue.add(key_of(&d.namespace().unwrap_or_default(), &d.name_any()))
                }
                Seen::Listed => {}
            },
        )
    };
    tasks.spawn(d_task);
    let (replica_sets, rs_task) = {
        let queue = Arc::clone(&queue);
        let deployments = deployments.clone();
        informer(
            Api::<ReplicaSet>::all(client.clone()),
            |_| {},
            move |old, seen| on_replica_set(&deployments, &queue, old, seen),
        )
    };
    tasks.spawn(rs_task);
    let (pods, pod_task) = {
        let queue = Arc::clone(&queue);
        let deployments = deployments.clone();
        let replica_sets = replica_sets.clone();
        shared_informer(&shared_pods, move |_, seen: Seen<'_, Pod>| {
            // A Recreate rollout waits for old pods to go away.
            if let Seen::Deleted(pod) = seen {
                let ns = pod.namespace().unwrap_or_default();
                let rs = controller_ref(&pod.metadata)
                    .filter(|r| r.kind == "ReplicaSet")
                    .and_then(|r| replica_sets.get(&ns, &r.name));
                if let Some(rs) = rs {
                    queue.add_all(owning_deployment(&deployments, &rs));
                }
            }
        })
    };
    tasks.spawn(pod_task);

    tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        _ = async { deployments.ready().await; replica_sets.ready().await; pods.ready().await } => {}
    }
    info!("deployment controller: caches synced");
    let controller = Arc::new(Controller {
        recorder: EventSink::new(client.clone(), CONTROLLER_NAME),
        client,
        clock,
        deployments,
        replica_sets,
        pods,
        queue: Arc::clone(&queue),
        timers: Arc::clone(&timers),
        shutdown: shutdown.clone(),
    });
    run_workers(
        "deployment controller",
        queue,
        timers,
        tasks,
        WORKERS,
        shutdown,
        move |key| {
            let controller = Arc::clone(&controller);
            async move { controller.sync_deployment(&key).await }
        },
    )
    .await
}

impl Controller {
    /// An object reference to the Deployment, for events.
    fn reference(&self, d: &Deployment) -> ObjectReference {
        d.object_ref(&())
    }

    /// Upstream's `syncDeployment`.
    async fn sync_deployment(&self, key: &str) -> Result<(), Error> {
        let (ns, name) = split_key(key);
        let Some(cached) = self.deployments.get(ns, name) else {
            return Ok(());
        };
        let mut d = (*cached).clone();
        if selects_everything(&d) {
            record(
                &self.recorder,
                &self.reference(&d),
                EventType::Warning,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.".into(),
            )
            .await;
            let observed = d.status.as_ref().and_then(|s| s.observed_generation);
            if observed < d.metadata.generation {
                d.status
                    .get_or_insert_with(Default::default)
                    .observed_generation = d.metadata.generation;
                self.update_deployment(&mut d).await?;
            }
            return Ok(());
        }
        let mut rs_list = self.replica_sets_for(&d).await?;
        let pods = self.pods_for(&d, &rs_list);

        if d.metadata.deletion_timestamp.is_some() {
            let (new_rs, old) = self.new_and_old(&mut d, &rs_list, false).await?;
            let mut all = old;
            all.extend(new_rs.clone());
            return self.sync_status(&all, new_rs.as_ref(), &mut d).await;
        }
        self.check_paused_conditions(&mut d).await?;
        if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
            return self.sync_scale(&mut d, &rs_list).await;
        }
        if self.is_scaling_event(&mut d, &mut rs_list).await? {
            return self.sync_scale(&mut d, &rs_list).await;
        }
        match sync::strategy_type(&d) {
            "Recreate" => self.rollout_recreate(&mut d, &rs_list, &pods).await,
            "RollingUpdate" => self.rollout_rolling(&mut d, &rs_list).await,
            other => Err(Error::Workload {
                object: format!("deployment {key}"),
                message: format!("unexpected deployment strategy type: {other}"),
            }),
        }
    }

    /// Whether `spec.replicas` changed since the active ReplicaSets were last scaled
    /// (upstream's `isScalingEvent`).
    async fn is_scaling_event(
        &self,
        d: &mut Deployment,
        rs_list: &mut [ReplicaSet],
    ) -> Result<bool, Error> {
        let (new_rs, old) = self.new_and_old(d, rs_list, false).await?;
        // Later steps must see the new ReplicaSet as just written (revision, annotations).
        if let Some(new_rs) = &new_rs
            && let Some(slot) = rs_list
                .iter_mut()
                .find(|rs| rs.metadata.uid == new_rs.metadata.uid)
        {
            *slot = new_rs.clone();
        }
        let mut all = old;
        all.extend(new_rs);
        Ok(sync::active(&all).iter().any(|rs| {
            rs.annotations()
                .get(sync::DESIRED_REPLICAS)
                .and_then(|v| v.parse::<i32>().ok())
                .is_some_and(|desired| desired != sync::replicas(d))
        }))
    }

    /// The Deployment's ReplicaSets, adopting matching orphans and releasing owned ones that
    /// no longer match (upstream's `getReplicaSetsForDeployment`).
    async fn replica_sets_for(&self, d: &Deployment) -> Result<Vec<ReplicaSet>, Error> {
        let ns = d.namespace().unwrap_or_default();
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let Some(selector) = selector_of(d.spec.as_ref().map(|s| &s.selector)) else {
            return Err(Error::Workload {
                object: format!("deployment {ns}/{}", d.name_any()),
                message: "deployment has invalid label selector".into(),
            });
        };
        let api = Api::<ReplicaSet>::namespaced(self.client.clone(), &ns);
        let mut owned = Vec::new();
        let mut can_adopt: Option<bool> = None;
        let candidates = self
            .replica_sets
            .owned_by(&uid)
            .into_iter()
            .chain(self.replica_sets.orphans(&ns))
            .filter(|rs| rs.metadata.namespace.as_deref() == Some(ns.as_str()));
        for rs in candidates {
            let matches = selector.matches(&labels_of(&rs.metadata));
            let name = rs.name_any();
            let target = format!("replicasets.apps {ns}/{name}");
            let rs_uid = rs.metadata.uid.clone().unwrap_or_default();
            match controller_ref(&rs.metadata) {
                Some(r) if r.uid != uid => {}
                Some(_) if matches => owned.push((*rs).clone()),
                Some(_) => {
                    if d.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    let patch = json!({"metadata": {
                        "ownerReferences": [{"$patch": "delete", "uid": uid}], "uid": rs_uid}});
                    match api
                        .patch(&name, &PatchParams::default(), &Patch::Strategic(&patch))
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(Error::request("patch", target, e)),
                    }
                }
                None => {
                    if d.metadata.deletion_timestamp.is_some()
                        || !matches
                        || rs.metadata.deletion_timestamp.is_some()
                    {
                        continue;
                    }
                    let adopt = match can_adopt {
                        Some(a) => a,
                        None => {
                            let a = self.recheck(d).await;
                            can_adopt = Some(a);
                            a
                        }
                    };
                    if !adopt {
                        continue;
                    }
                    let owner = new_controller_ref(&d.metadata, "apps/v1", "Deployment");
                    let patch = json!({"metadata": {"ownerReferences": [owner], "uid": rs_uid}});
                    match api
                        .patch(&name, &PatchParams::default(), &Patch::Strategic(&patch))
                        .await
                    {
                        Ok(rs) => owned.push(rs),
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(Error::request("patch", target, e)),
                    }
                }
            }
        }
        Ok(owned)
    }

    /// A fresh read confirming the Deployment still exists and is not being deleted.
    async fn recheck(&self, d: &Deployment) -> bool {
        let ns = d.namespace().unwrap_or_default();
        match Api::<Deployment>::namespaced(self.client.clone(), &ns)
            .get(&d.name_any())
            .await
        {
            Ok(fresh) => {
                fresh.metadata.uid == d.metadata.uid && fresh.metadata.deletion_timestamp.is_none()
            }
            Err(e) => {
                tracing::debug!(error = %api_message(&e), "rechecking a deployment before adoption failed");
                false
            }
        }
    }

    /// The pods of the Deployment's ReplicaSets.
    fn pods_for(&self, d: &Deployment, rs_list: &[ReplicaSet]) -> Vec<Arc<Pod>> {
        let selector = selector_of(d.spec.as_ref().map(|s| &s.selector));
        rs_list
            .iter()
            .filter_map(|rs| rs.metadata.uid.as_deref())
            .flat_map(|uid| self.pods.owned_by(uid))
            .filter(|p| {
                selector
                    .as_ref()
                    .is_some_and(|s| s.matches(&labels_of(&p.metadata)))
            })
            .collect()
    }

    /// Writes the Deployment's status and annotations (the revision annotation travels with
    /// the status, as the API server's Deployment status strategy keeps annotation changes),
    /// keeping `d` at the stored version.
    pub(super) async fn update_deployment(&self, d: &mut Deployment) -> Result<(), Error> {
        let ns = d.namespace().unwrap_or_default();
        let name = d.name_any();
        let target = format!("deployments.apps {ns}/{name}");
        let api = Api::<Deployment>::namespaced(self.client.clone(), &ns);
        let stored = api
            .replace_status(&name, &PostParams::default(), d)
            .await
            .map_err(|e| Error::request("update status", target, e))?;
        *d = stored;
        Ok(())
    }
}
