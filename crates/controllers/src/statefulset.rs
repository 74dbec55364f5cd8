//! The StatefulSet controller, as kube-controller-manager's `statefulset` controller: pods
//! with stable names `<set>-<ordinal>` and identities (hostname, subdomain), their
//! PersistentVolumeClaims from `volumeClaimTemplates`, OrderedReady and Parallel pod
//! management, RollingUpdate (highest ordinal first, above `partition`) and OnDelete updates
//! tracked by ControllerRevisions, and the set's status.
//!
//! `maxUnavailable` is ignored: its feature gate (`MaxUnavailableStatefulSet`) is off by
//! default in v1.33, so upstream updates one pod at a time too. Orphan pods matching the
//! selector are not adopted (only pods whose controller reference is the set are managed).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use informer::SharedInformer;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::history;
use crate::workload::{self, Events, Expectations, OwnerIndex, controller_ref};
use crate::{Error, is_conflict, is_not_found};

/// Pod label naming the pod (`apps.StatefulSetPodNameLabel`).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// Pod label holding the ordinal (`apps.PodIndexLabel`).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// Retry delay after a failed reconcile.
const RETRY: Duration = Duration::from_secs(1);
/// Delay before looking again while the cache catches up with our own writes.
const CATCH_UP: Duration = Duration::from_millis(200);

struct Context {
    client: Client,
    clock: api::clock::Clock,
    pods: OwnerIndex<Pod>,
    revisions: OwnerIndex<ControllerRevision>,
    claims: Store<PersistentVolumeClaim>,
    expectations: Expectations,
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
    let Some((pods, pod_stream)) =
        workload::owned_pods(&shared_pods, "StatefulSet", &shutdown).await
    else {
        return Ok(());
    };
    let (revisions, revision_stream) = workload::reflect_owned(
        Api::<ControllerRevision>::all(client.clone()),
        "StatefulSet",
    );
    let (claims, claim_stream) =
        workload::reflect(Api::<PersistentVolumeClaim>::all(client.clone()));
    let context = Arc::new(Context {
        client: client.clone(),
        clock,
        pods,
        revisions,
        claims,
        expectations: Expectations::default(),
        events: Events::new(client.clone(), "statefulset-controller"),
    });
    Controller::new(Api::<StatefulSet>::all(client), watcher::Config::default())
        .owns_shared_stream(pod_stream)
        .owns_stream(revision_stream)
        .watches_stream(claim_stream, |_| None::<ObjectRef<StatefulSet>>)
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile, error_policy, context)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// The ordinal of `pod_name` if it is `<set_name>-<ordinal>` (`getParentNameAndOrdinal`).
pub fn parse_ordinal(set_name: &str, pod_name: &str) -> Option<i32> {
    let (parent, ordinal) = pod_name.rsplit_once('-')?;
    if parent != set_name || ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    ordinal.parse().ok()
}

/// `<set>-<ordinal>`.
pub fn pod_name(set_name: &str, ordinal: i32) -> String {
    format!("{set_name}-{ordinal}")
}

/// `<claim template>-<set>-<ordinal>`.
pub fn claim_name(template: &str, set_name: &str, ordinal: i32) -> String {
    format!("{template}-{}", pod_name(set_name, ordinal))
}

/// Whether a new pod at `ordinal` is created from the current revision rather than the
/// update revision (`newVersionedStatefulSetPod`): under RollingUpdate, ordinals below the
/// partition (or, without a rollingUpdate block, below the current replica count) keep the
/// current revision.
pub fn uses_current_revision(
    rolling_update: bool,
    partition: Option<i32>,
    start: i32,
    current_replicas: i32,
    ordinal: i32,
) -> bool {
    match partition {
        _ if !rolling_update => false,
        None => ordinal < start + current_replicas,
        Some(p) => ordinal < start + p,
    }
}

/// What a rolling update does next, given the replicas from the highest ordinal down to the
/// partition as (ordinal, is the update revision, terminating, healthy).
#[derive(Debug, PartialEq, Eq)]
pub enum RollingStep {
    /// Delete this ordinal's pod so it is recreated at the update revision.
    Delete(i32),
    /// Wait for this ordinal's pod to become healthy.
    Wait(i32),
    /// Every pod above the partition is updated and healthy.
    Done,
}

/// The next rolling-update step (upstream's loop from the last replica down to `updateMin`).
pub fn rolling_step(targets: &[(i32, bool, bool, bool)]) -> RollingStep {
    for &(ordinal, updated, terminating, healthy) in targets {
        if !updated && !terminating {
            return RollingStep::Delete(ordinal);
        }
        if !healthy {
            return RollingStep::Wait(ordinal);
        }
    }
    RollingStep::Done
}

fn revision_of(pod: &Pod) -> Option<&str> {
    pod.labels()
        .get(history::REVISION_LABEL)
        .map(String::as_str)
}

async fn reconcile(set: Arc<StatefulSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let uid = set.uid().unwrap_or_default();
    if set.metadata.deletion_timestamp.is_some() {
        ctx.expectations.forget(&uid);
        return Ok(Action::await_change());
    }
    let ns = set.namespace().unwrap_or_default();
    let name = set.name_any();
    let pods: Vec<Arc<Pod>> = ctx.pods.controlled_by(&uid, &ns);
    if !ctx.expectations.satisfied(&uid, &pods) {
        return Ok(Action::requeue(CATCH_UP));
    }
    let spec = set.spec.clone().unwrap_or_default();
    let status = set.status.clone().unwrap_or_default();

    // Revisions: the update revision is the current template's; the current one is the one
    // the status names, if it still exists.
    let revision_api = Api::<ControllerRevision>::namespaced(ctx.client.clone(), &ns);
    let revisions: Vec<ControllerRevision> = ctx
        .revisions
        .controlled_by(&uid, &ns)
        .iter()
        .map(|r| (**r).clone())
        .collect();
    let data = history::template_patch(&spec.template);
    let ensured = history::ensure_revision(
        &revision_api,
        &name,
        &ns,
        controller_ref(&*set),
        spec.template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref()),
        history::HASH_LABEL,
        &data,
        &revisions,
        status.collision_count.unwrap_or(0),
    )
    .await?;
    let update_revision = ensured.revision;
    let update_name = update_revision.name_any();
    let current_revision = status
        .current_revision
        .as_deref()
        .and_then(|n| revisions.iter().find(|r| r.name_any() == n))
        .cloned()
        .unwrap_or_else(|| update_revision.clone());
    let current_name = current_revision.name_any();
    let current_template =
        history::template_of(&current_revision).unwrap_or_else(|| spec.template.clone());

    let replicas = spec.replicas.unwrap_or(1).max(0);
    let start = spec
        .ordinals
        .as_ref()
        .and_then(|o| o.start)
        .unwrap_or(0)
        .max(0);
    let end = start + replicas;
    let monotonic = spec.pod_management_policy.as_deref() != Some("Parallel");
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let rolling = strategy.type_.as_deref() != Some("OnDelete");
    let partition = strategy.rolling_update.as_ref().and_then(|r| r.partition);

    let mut slots: BTreeMap<i32, Arc<Pod>> = BTreeMap::new();
    let mut condemned: Vec<(i32, Arc<Pod>)> = Vec::new();
    for pod in &pods {
        match parse_ordinal(&name, &pod.name_any()) {
            Some(o) if (start..end).contains(&o) => {
                slots.insert(o, pod.clone());
            }
            Some(o) => condemned.push((o, pod.clone())),
            None => {}
        }
    }
    condemned.sort_by_key(|(o, _)| std::cmp::Reverse(*o));

    let new_status = compute_status(
        &set,
        &pods,
        &current_name,
        &update_name,
        ensured.collision_count,
        min_ready,
        rolling,
        &ctx.clock,
    );
    let mut requeue = None;
    let healthy = |pod: &Pod| {
        workload::is_running_and_ready(pod)
            && workload::is_available(pod, min_ready, &ctx.clock)
            && !workload::is_terminating(pod)
    };
    for pod in pods.iter() {
        if workload::is_running_and_ready(pod)
            && let Some(wait) = workload::until_available(pod, min_ready, &ctx.clock)
        {
            requeue = Some(requeue.map_or(wait, |r: Duration| r.min(wait)));
        }
    }

    let outcome = manage(
        &ctx,
        &set,
        &spec,
        &slots,
        &condemned,
        (start, end),
        monotonic,
        rolling,
        partition,
        (&current_template, &current_name, status.current_replicas),
        &update_name,
        &healthy,
    )
    .await;
    // Status and history are written even when managing pods stopped early.
    write_status(&ctx, &set, &new_status).await?;
    let mut live_revisions: HashSet<String> = [current_name.clone(), update_name.clone()].into();
    live_revisions.extend(pods.iter().filter_map(|p| revision_of(p).map(String::from)));
    let limit = spec
        .revision_history_limit
        .unwrap_or(history::DEFAULT_HISTORY_LIMIT);
    history::prune(&revision_api, &revisions, &live_revisions, limit).await?;
    outcome?;
    Ok(match requeue {
        Some(wait) => Action::requeue(ctx.clock.real(wait) + Duration::from_millis(50)),
        None => Action::await_change(),
    })
}

/// Creates, deletes and updates pods; returns early (Ok) when it has to wait.
#[allow(clippy::too_many_arguments)]
async fn manage(
    ctx: &Context,
    set: &StatefulSet,
    spec: &k8s_openapi::api::apps::v1::StatefulSetSpec,
    slots: &BTreeMap<i32, Arc<Pod>>,
    condemned: &[(i32, Arc<Pod>)],
    (start, end): (i32, i32),
    monotonic: bool,
    rolling: bool,
    partition: Option<i32>,
    (current_template, current_name, current_replicas): (&PodTemplateSpec, &str, Option<i32>),
    update_name: &str,
    healthy: &(dyn Fn(&Pod) -> bool + Sync),
) -> Result<(), Error> {
    let name = set.name_any();
    // Replicas, lowest ordinal first.
    let mut unhealthy_first: Option<i32> = None;
    for ordinal in start..end {
        match slots.get(&ordinal) {
            Some(pod) if workload::is_finished(pod) && !workload::is_terminating(pod) => {
                delete_pod(ctx, set, pod).await?;
                if monotonic {
                    return Ok(());
                }
            }
            Some(pod) => {
                if !healthy(pod) {
                    unhealthy_first.get_or_insert(ordinal);
                    if monotonic {
                        return Ok(());
                    }
                }
            }
            None => {
                let use_current = uses_current_revision(
                    rolling,
                    partition,
                    start,
                    current_replicas.unwrap_or(0),
                    ordinal,
                );
                let (template, revision) = if use_current {
                    (current_template, current_name)
                } else {
                    (&spec.template, update_name)
                };
                create_pod(ctx, set, spec, template, revision, ordinal).await?;
                if monotonic {
                    return Ok(());
                }
            }
        }
    }
    // Condemned pods, highest ordinal first; one at a time under OrderedReady.
    for (ordinal, pod) in condemned {
        if workload::is_terminating(pod) {
            if monotonic {
                return Ok(());
            }
            continue;
        }
        if monotonic && unhealthy_first.is_some_and(|o| o != *ordinal) {
            return Ok(());
        }
        if spec
            .persistent_volume_claim_retention_policy
            .as_ref()
            .and_then(|p| p.when_scaled.as_deref())
            == Some("Delete")
        {
            own_claims_by_pod(ctx, set, spec, *ordinal, pod).await?;
        }
        delete_pod(ctx, set, pod).await?;
        if monotonic {
            return Ok(());
        }
    }
    if !rolling {
        return Ok(());
    }
    // RollingUpdate: from the highest ordinal down to the partition, one pod at a time.
    let update_min = start + partition.unwrap_or(0).max(0);
    let targets: Vec<(i32, bool, bool, bool)> = (update_min.max(start)..end)
        .rev()
        .filter_map(|o| {
            slots.get(&o).map(|p| {
                (
                    o,
                    revision_of(p) == Some(update_name),
                    workload::is_terminating(p),
                    healthy(p),
                )
            })
        })
        .collect();
    if let RollingStep::Delete(ordinal) = rolling_step(&targets)
        && let Some(pod) = slots.get(&ordinal)
    {
        delete_pod(ctx, set, pod).await?;
    }
    let _ = name;
    Ok(())
}

/// The pod for `ordinal` from `template` at `revision` (`newVersionedStatefulSetPod`).
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, revision: &str, ordinal: i32) -> Pod {
    let name = set.name_any();
    let spec = set.spec.clone().unwrap_or_default();
    let pod_name = pod_name(&name, ordinal);
    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut labels = template_meta.labels.unwrap_or_default();
    labels.insert(POD_NAME_LABEL.into(), pod_name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    labels.insert(history::REVISION_LABEL.into(), revision.to_string());
    let mut pod_spec = template.spec.clone().unwrap_or_default();
    pod_spec.hostname = Some(pod_name.clone());
    if !spec.service_name.as_deref().unwrap_or_default().is_empty() {
        pod_spec.subdomain = spec.service_name.clone();
    }
    for claim in spec.volume_claim_templates.iter().flatten() {
        let template_name = claim.name_any();
        let volume = Volume {
            name: template_name.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(&template_name, &name, ordinal),
                read_only: None,
            }),
            ..Default::default()
        };
        let volumes = pod_spec.volumes.get_or_insert_with(Vec::new);
        volumes.retain(|v| v.name != template_name);
        volumes.push(volume);
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(pod_name),
            namespace: set.namespace(),
            labels: Some(labels),
            annotations: template_meta.annotations,
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![controller_ref(set)]),
            ..Default::default()
        },
        spec: Some(pod_spec),
        status: None,
    }
}

/// The claims of `ordinal` (`getPersistentVolumeClaims`): labels from the template and the
/// set's selector, owned by the set when `whenDeleted` is `Delete`.
pub fn new_claims(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let spec = set.spec.clone().unwrap_or_default();
    let set_name = set.name_any();
    let owned = spec
        .persistent_volume_claim_retention_policy
        .as_ref()
        .and_then(|p| p.when_deleted.as_deref())
        == Some("Delete");
    spec.volume_claim_templates
        .iter()
        .flatten()
        .map(|template| {
            let mut claim = template.clone();
            let mut labels = claim.metadata.labels.take().unwrap_or_default();
            labels.extend(spec.selector.match_labels.clone().unwrap_or_default());
            claim.metadata = ObjectMeta {
                name: Some(claim_name(&template.name_any(), &set_name, ordinal)),
                namespace: set.namespace(),
                labels: Some(labels),
                annotations: claim.metadata.annotations.take(),
                owner_references: owned.then(|| vec![controller_ref(set)]),
                ..Default::default()
            };
            claim.status = None;
            claim
        })
        .collect()
}

async fn create_pod(
    ctx: &Context,
    set: &StatefulSet,
    _spec: &k8s_openapi::api::apps::v1::StatefulSetSpec,
    template: &PodTemplateSpec,
    revision: &str,
    ordinal: i32,
) -> Result<(), Error> {
    let ns = set.namespace().unwrap_or_default();
    let set_name = set.name_any();
    let pod = new_pod(set, template, revision, ordinal);
    let pod_name = pod.name_any();
    let claims_api = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &ns);
    for claim in new_claims(set, ordinal) {
        let claim_name = claim.name_any();
        let cached = ctx
            .claims
            .get(&ObjectRef::new(&claim_name).within(&ns))
            .is_some();
        if cached {
            continue;
        }
        match claims_api.create(&PostParams::default(), &claim).await {
            Ok(_) => {
                ctx.events
                    .publish(
                        &workload::reference(set),
                        EventType::Normal,
                        "SuccessfulCreate",
                        "Create",
                        format!(
                            "create Claim {claim_name} Pod {pod_name} in StatefulSet {set_name} success"
                        ),
                    )
                    .await;
            }
            Err(e) if is_conflict(&e) || already_exists(&e) => {}
            Err(e) => {
                ctx.events
                    .publish(
                        &workload::reference(set),
                        EventType::Warning,
                        "FailedCreate",
                        "Create",
                        format!(
                            "create Claim {claim_name} for Pod {pod_name} in StatefulSet {set_name} failed error: {e}"
                        ),
                    )
                    .await;
                return Err(Error::request(
                    "create",
                    format!("persistentvolumeclaims {ns}/{claim_name}"),
                    e,
                ));
            }
        }
    }
    let api = Api::<Pod>::namespaced(ctx.client.clone(), &ns);
    let uid = set.uid().unwrap_or_default();
    ctx.expectations.created(&uid, &pod_name);
    match api.create(&PostParams::default(), &pod).await {
        Ok(_) => {
            ctx.events
                .publish(
                    &workload::reference(set),
                    EventType::Normal,
                    "SuccessfulCreate",
                    "Create",
                    format!("create Pod {pod_name} in StatefulSet {set_name} successful"),
                )
                .await;
            Ok(())
        }
        // The old pod of this ordinal is still being deleted.
        Err(e) if already_exists(&e) => {
            ctx.expectations.forget(&uid);
            Ok(())
        }
        Err(e) => {
            ctx.expectations.forget(&uid);
            ctx.events
                .publish(
                    &workload::reference(set),
                    EventType::Warning,
                    "FailedCreate",
                    "Create",
                    format!("create Pod {pod_name} in StatefulSet {set_name} failed error: {e}"),
                )
                .await;
            Err(Error::request("create", format!("pods {ns}/{pod_name}"), e))
        }
    }
}

fn already_exists(e: &kube::Error) -> bool {
    crate::api_status(e).is_some_and(|s| s.reason == "AlreadyExists" || s.code == 409)
}

async fn delete_pod(ctx: &Context, set: &StatefulSet, pod: &Pod) -> Result<(), Error> {
    let ns = set.namespace().unwrap_or_default();
    let pod_name = pod.name_any();
    let uid = set.uid().unwrap_or_default();
    let api = Api::<Pod>::namespaced(ctx.client.clone(), &ns);
    let params = DeleteParams {
        preconditions: pod.uid().map(|u| kube::api::Preconditions {
            uid: Some(u),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&pod_name, &params).await {
        Ok(_) => {
            if let Some(pod_uid) = pod.uid() {
                ctx.expectations.deleted(&uid, &pod_uid);
            }
            ctx.events
                .publish(
                    &workload::reference(set),
                    EventType::Normal,
                    "SuccessfulDelete",
                    "Delete",
                    format!(
                        "delete Pod {pod_name} in StatefulSet {} successful",
                        set.name_any()
                    ),
                )
                .await;
            Ok(())
        }
        Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(()),
        Err(e) => {
            ctx.events
                .publish(
                    &workload::reference(set),
                    EventType::Warning,
                    "FailedDelete",
                    "Delete",
                    format!(
                        "delete Pod {pod_name} in StatefulSet {} failed error: {e}",
                        set.name_any()
                    ),
                )
                .await;
            Err(Error::request("delete", format!("pods {ns}/{pod_name}"), e))
        }
    }
}

/// `whenScaled: Delete`: a condemned pod's claims get the pod as owner, so the garbage
/// collector removes them with it.
async fn own_claims_by_pod(
    ctx: &Context,
    set: &StatefulSet,
    spec: &k8s_openapi::api::apps::v1::StatefulSetSpec,
    ordinal: i32,
    pod: &Pod,
) -> Result<(), Error> {
    let ns = set.namespace().unwrap_or_default();
    let api = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &ns);
    for template in spec.volume_claim_templates.iter().flatten() {
        let name = claim_name(&template.name_any(), &set.name_any(), ordinal);
        let Some(claim) = ctx.claims.get(&ObjectRef::new(&name).within(&ns)) else {
            continue;
        };
        let pod_uid = pod.uid().unwrap_or_default();
        let mut refs = claim.metadata.owner_references.clone().unwrap_or_default();
        if refs.iter().any(|r| r.uid == pod_uid) {
            continue;
        }
        refs.push(OwnerReference {
            api_version: "v1".into(),
            kind: "Pod".into(),
            name: pod.name_any(),
            uid: pod_uid,
            controller: None,
            block_owner_deletion: None,
        });
        let patch = serde_json::json!({"metadata": {"ownerReferences": refs}});
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(Error::request(
                    "patch",
                    format!("persistentvolumeclaims {ns}/{name}"),
                    e,
                ));
            }
        }
    }
    Ok(())
}

/// The set's status from its pods (`computeReplicaStatus` and `completeRollingUpdate`).
#[allow(clippy::too_many_arguments)]
fn compute_status(
    set: &StatefulSet,
    pods: &[Arc<Pod>],
    current: &str,
    update: &str,
    collision_count: i32,
    min_ready: i32,
    rolling: bool,
    clock: &api::clock::Clock,
) -> StatefulSetStatus {
    let mut status = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        collision_count: Some(collision_count),
        current_revision: Some(current.to_string()),
        update_revision: Some(update.to_string()),
        conditions: set.status.as_ref().and_then(|s| s.conditions.clone()),
        ..Default::default()
    };
    let (mut replicas, mut ready, mut available, mut current_n, mut updated_n) = (0, 0, 0, 0, 0);
    for pod in pods {
        replicas += 1;
        let terminating = workload::is_terminating(pod);
        if workload::is_running_and_ready(pod) && !terminating {
            ready += 1;
            if workload::is_available(pod, min_ready, clock) {
                available += 1;
            }
        }
        if !terminating {
            if revision_of(pod) == Some(current) {
                current_n += 1;
            }
            if revision_of(pod) == Some(update) {
                updated_n += 1;
            }
        }
    }
    status.replicas = replicas;
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status.current_replicas = Some(current_n);
    status.updated_replicas = Some(updated_n);
    if rolling && updated_n == replicas && ready == replicas {
        status.current_replicas = Some(updated_n);
        status.current_revision = Some(update.to_string());
    }
    status
}

async fn write_status(
    ctx: &Context,
    set: &StatefulSet,
    status: &StatefulSetStatus,
) -> Result<(), Error> {
    if set.status.as_ref() == Some(status) {
        return Ok(());
    }
    let ns = set.namespace().unwrap_or_default();
    let api = Api::<StatefulSet>::namespaced(ctx.client.clone(), &ns);
    let patch = serde_json::json!({ "status": status });
    match api
        .patch_status(
            &set.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::request(
            "patch",
            format!("statefulsets {ns}/{}/status", set.name_any()),
            e,
        )),
    }
}

fn error_policy(set: Arc<StatefulSet>, error: &Error, _: Arc<Context>) -> Action {
    if !error.is_conflict() {
        warn!(statefulset = %workload::key(&*set), error = %crate::error_chain(error), "syncing statefulset failed");
    }
    Action::requeue(RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_parse_only_from_the_sets_own_pod_names() {
        let cases = [
            ("plain", "web", "web-0", Some(0)),
            ("multi digit", "web", "web-12", Some(12)),
            ("dashed set name", "my-web", "my-web-3", Some(3)),
            ("another set", "web", "webx-1", None),
            ("prefix of another set", "web", "web-db-1", None),
            ("no ordinal", "web", "web-", None),
            ("not a number", "web", "web-a", None),
        ];
        for (case, set, pod, want) in cases {
            assert_eq!(parse_ordinal(set, pod), want, "{case}");
        }
        assert_eq!(pod_name("web", 2), "web-2");
        assert_eq!(claim_name("data", "web", 0), "data-web-0");
    }

    #[test]
    fn new_pods_keep_the_current_revision_below_the_partition() {
        let cases = [
            (
                "on delete uses the update revision",
                false,
                Some(2),
                0,
                3,
                0,
                false,
            ),
            ("below the partition", true, Some(2), 0, 3, 1, true),
            ("at the partition", true, Some(2), 0, 3, 2, false),
            (
                "partition counts from the start ordinal",
                true,
                Some(2),
                5,
                3,
                6,
                true,
            ),
            (
                "no partition: below current replicas",
                true,
                None,
                0,
                2,
                1,
                true,
            ),
            (
                "no partition: above current replicas",
                true,
                None,
                0,
                2,
                2,
                false,
            ),
        ];
        for (case, rolling, partition, start, current, ordinal, want) in cases {
            assert_eq!(
                uses_current_revision(rolling, partition, start, current, ordinal),
                want,
                "{case}"
            );
        }
    }

    #[test]
    fn rolling_updates_go_one_pod_at_a_time_from_the_top() {
        let cases = [
            (
                "the highest old pod goes first",
                vec![(2, false, false, true), (1, false, false, true)],
                RollingStep::Delete(2),
            ),
            (
                "an unhealthy updated pod blocks",
                vec![(2, true, false, false), (1, false, false, true)],
                RollingStep::Wait(2),
            ),
            (
                "a terminating old pod is waited for",
                vec![(2, false, true, false)],
                RollingStep::Wait(2),
            ),
            (
                "next old pod after a healthy updated one",
                vec![(2, true, false, true), (1, false, false, true)],
                RollingStep::Delete(1),
            ),
            (
                "all updated",
                vec![(2, true, false, true)],
                RollingStep::Done,
            ),
        ];
        for (case, targets, want) in cases {
            assert_eq!(rolling_step(&targets), want, "{case}");
        }
    }

    fn set() -> StatefulSet {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {
                "replicas": 3,
                "serviceName": "nginx",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"]}}]
            }
        }))
        .expect("set")
    }

    #[test]
    fn pods_get_stable_identity_and_their_claims() {
        let s = set();
        let spec = s.spec.clone().expect("spec");
        let pod = new_pod(&s, &spec.template, "web-abc", 1);
        let labels = pod.labels();
        assert_eq!(pod.name_any(), "web-1");
        assert_eq!(labels[POD_NAME_LABEL], "web-1");
        assert_eq!(labels[POD_INDEX_LABEL], "1");
        assert_eq!(labels[history::REVISION_LABEL], "web-abc");
        let ps = pod.spec.expect("spec");
        assert_eq!(ps.hostname.as_deref(), Some("web-1"));
        assert_eq!(ps.subdomain.as_deref(), Some("nginx"));
        let volume = &ps.volumes.expect("volumes")[0];
        assert_eq!(
            volume
                .persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.as_str()),
            Some("data-web-1")
        );
        let claims = new_claims(&s, 1);
        assert_eq!(claims[0].name_any(), "data-web-1");
        assert_eq!(claims[0].labels()["app"], "web");
        assert!(
            claims[0].metadata.owner_references.is_none(),
            "Retain keeps claims unowned"
        );
    }
}
