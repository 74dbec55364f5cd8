//! One pod's worker on its node (the kubelet's `pod_workers.go` + `kuberuntime_manager.go`):
//! admission, the sandbox and its network, image pulls with back-off, init containers,
//! sidecars, containers and their restarts with back-off, OOM kills, probes, termination with
//! preStop and grace period, and the batched `pods/status` writes.
//!
//! The worker is a discrete-event loop: every future step (a process event, a probe, the end
//! of a back-off or a pull) is a timer on a heap; the worker sleeps until the earliest one or
//! until the pod changes, so an idle pod costs nothing.

mod lifecycle;
mod probes;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use api::cni::Sandbox;
use k8s_openapi::api::core::v1::{Container, ObjectReference, Pod, PodCondition, Probe};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::debug;

use crate::backoff::Backoff;
use crate::behaviour::{
    ExecResult, HttpAnswer, ImageInfo, Launch, OnTerm, Process, ProcessEvent, PullError,
};
use crate::logs::{LogLine, PodLogs, View};
use crate::node::NodeCtx;
use crate::status::{self, CState, CStatus, ConditionInputs, RestartPolicy, Term};
use crate::util::{Rng, go_duration, parse_milli};

/// How long the kubelet waits before retrying a failed sandbox (`workerBackOffPeriod`).
const SANDBOX_RETRY: Duration = Duration::from_secs(10);
/// How soon after a failed pull the next sync reports `ImagePullBackOff`.
const RESYNC: Duration = Duration::from_secs(1);
/// How long a failing registry takes to answer.
const PULL_FAILURE_LATENCY: Duration = Duration::from_secs(1);
/// How soon the final delete of a terminated pod is retried (the status manager's sync
/// period).
const DELETE_RETRY: Duration = Duration::from_secs(10);
/// The default termination grace period.
const DEFAULT_GRACE: i64 = 30;

/// `imageID` of a pulled image: `docker.io/library/nginx@sha256:...`.
pub fn image_id(i: &ImageInfo) -> String {
    let r = &i.reference;
    let repo = match (r.rfind(':'), r.rfind('/')) {
        (Some(c), Some(s)) if c > s => &r[..c],
        (Some(c), None) => &r[..c],
        _ => r.as_str(),
    };
    let repo = repo.split('@').next().unwrap_or(repo);
    format!("{repo}@{}", i.digest)
}

/// The pull policy the API server defaults when the spec has none: `Always` for `:latest`
/// or untagged images, otherwise `IfNotPresent`.
pub fn pull_policy(c: &Container) -> &str {
    if let Some(p) = c.image_pull_policy.as_deref().filter(|p| !p.is_empty()) {
        return p;
    }
    let image = c.image.as_deref().unwrap_or_default();
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    fn title(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }

    fn probe(self, c: &Container) -> Option<&Probe> {
        match self {
            ProbeKind::Startup => c.startup_probe.as_ref(),
            ProbeKind::Liveness => c.liveness_probe.as_ref(),
            ProbeKind::Readiness => c.readiness_probe.as_ref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    /// Retry the sandbox.
    Sandbox,
    /// A pull finished.
    PullDone,
    /// The sync after a failed pull: report `ImagePullBackOff`.
    PullBackOffState,
    /// The pull back-off ended.
    PullRetry,
    /// The process's pending event is due.
    Proc,
    /// A probe is due.
    Probe(ProbeKind),
    /// The crash back-off ended: restart.
    Restart,
    /// preStop finished: send SIGTERM.
    Term,
    /// A killed process exits with this code.
    KillDone(i32),
    /// The sync after an exit: restart now or back off.
    Resync,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    at: Instant,
    seq: u64,
    idx: usize,
    generation: u64,
    step: Step,
}

#[derive(Debug, Default, Clone, Copy)]
struct ProbeState {
    successes: i32,
    failures: i32,
}

/// What a container is doing, beyond its API status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    NotStarted,
    Pulling,
    PullBackOff,
    Running,
    /// Being stopped (probe failure or pod deletion).
    Killing,
    Exited,
    CrashBackOff,
    /// Will not run again.
    Done,
}

/// A container's spec as the worker began with it: a place in a version of the pod rather
/// than a copy (k8s-openapi's `Container` is over two kilobytes before its strings), moved
/// to each newer version of the pod that holds the same spec for it.
struct SpecRef {
    pod: Arc<Pod>,
    init: bool,
    idx: usize,
}

impl SpecRef {
    fn in_pod(pod: &Pod, init: bool, idx: usize) -> Option<&Container> {
        let spec = pod.spec.as_ref()?;
        if init {
            spec.init_containers.as_ref()?.get(idx)
        } else {
            spec.containers.get(idx)
        }
    }

    /// Moves to `pod` if it holds the same spec for this container.
    fn follow(&mut self, pod: &Arc<Pod>) {
        if !Arc::ptr_eq(&self.pod, pod)
            && Self::in_pod(pod, self.init, self.idx).is_some_and(|c| *c == **self)
        {
            self.pod = pod.clone();
        }
    }
}

impl std::ops::Deref for SpecRef {
    type Target = Container;

    fn deref(&self) -> &Container {
        static NONE: std::sync::LazyLock<Container> = std::sync::LazyLock::new(Container::default);
        // Made only for a container the pod has, and a pod version never changes.
        Self::in_pod(&self.pod, self.init, self.idx).unwrap_or(&NONE)
    }
}

struct Ctr {
    spec: SpecRef,
    init: bool,
    sidecar: bool,
    st: CStatus,
    phase: Phase,
    /// Invalidates timers of earlier instances/steps.
    generation: u64,
    process: Option<Process>,
    pending: Option<ProcessEvent>,
    container_id: String,
    image: Option<ImageInfo>,
    pull_result: Option<Result<ImageInfo, PullError>>,
    /// How long the last pull took including its wait in the node's pull queue.
    pull_waited: Duration,
    /// How long the last pull itself took.
    pull_time: Duration,
    pull_backoff: Backoff,
    pull_failed_at: Duration,
    prev_pull_err: String,
    crash_backoff: Backoff,
    finished_at: Duration,
    started_real: Option<Instant>,
    probes: BTreeMap<ProbeKind, ProbeState>,
    /// Why the current instance is being killed (for the exit's reason).
    kill_deadline: Option<Instant>,
    /// The last preStop hook failed (reported once).
    pre_stop_failed: bool,
    /// A container an earlier kubelet life left running (from the pod's status), taken
    /// over without new events when it starts.
    adopt: Option<Adopted>,
}

/// A running container found in the pod's status when the worker starts.
#[derive(Debug, Clone)]
struct Adopted {
    container_id: String,
    started_at: jiff::Timestamp,
}

impl Ctr {
    fn field_path(&self) -> String {
        if self.init {
            format!("spec.initContainers{{{}}}", self.spec.name)
        } else {
            format!("spec.containers{{{}}}", self.spec.name)
        }
    }

    fn image_name(&self) -> &str {
        self.spec.image.as_deref().unwrap_or_default()
    }

    fn memory_limit(&self) -> Option<u64> {
        let q = self
            .spec
            .resources
            .as_ref()?
            .limits
            .as_ref()?
            .get("memory")?;
        parse_milli(&q.0).map(|m| (m / 1000).max(0) as u64)
    }
}

/// The worker of one pod.
pub struct PodWorker {
    ctx: Arc<NodeCtx>,
    rx: watch::Receiver<Option<Arc<Pod>>>,
    pod: Arc<Pod>,
    uid: String,
    ns: String,
    name: String,
    logs: Arc<PodLogs>,
    rng: Rng,
    policy: RestartPolicy,
    ips: Vec<IpAddr>,
    sandbox_ready: bool,
    sandbox_id: String,
    ctrs: Vec<Ctr>,
    init_failed: bool,
    timers: BinaryHeap<Reverse<Timer>>,
    seq: u64,
    last_written: Option<Written>,
    /// The resourceVersion our last status write produced.
    last_written_rv: Option<u64>,
    /// Whether the kubelet is stopped (a clone of the node's flag, watched by the loop).
    stopped_rx: watch::Receiver<bool>,
    /// Due kubelet work (restarts, probes, pulls) held while the kubelet is stopped.
    parked: Vec<Timer>,
    start_time: jiff::Timestamp,
    epoch: Instant,
    terminating: bool,
    /// When the grace period of a deletion ends.
    grace_deadline: Option<Instant>,
    /// The pod reached a terminal phase: nothing restarts any more.
    finished: bool,
    /// The event just handled changed nothing in the status (a log line, a memory reading).
    quiet: bool,
    /// The mounted volumes' files, once mounted.
    volumes: Option<crate::volumes::VolumeFiles>,
    /// The wait before the next mount attempt.
    mount_retry: Duration,
    deleted: bool,
    rejected: Option<(String, String)>,
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

impl PodWorker {
    /// A worker for `pod`, fed with its updates (and `None` when it is gone) by `rx`.
    pub fn new(
        ctx: Arc<NodeCtx>,
        pod: Arc<Pod>,
        rx: watch::Receiver<Option<Arc<Pod>>>,
    ) -> PodWorker {
        let uid = pod.uid().unwrap_or_default();
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let logs = ctx
            .logs()
            .entry(uid.clone())
            .or_insert_with(|| PodLogs::new(&name))
            .clone();
        let spec = pod.spec.as_ref();
        let init_containers = spec
            .and_then(|s| s.init_containers.as_deref())
            .unwrap_or_default();
        let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
        let mut ctrs = Vec::with_capacity(init_containers.len() + containers.len());
        for idx in 0..init_containers.len() {
            ctrs.push(new_ctr(&pod, true, idx, "PodInitializing"));
        }
        for idx in 0..containers.len() {
            ctrs.push(new_ctr(
                &pod,
                false,
                idx,
                if init_containers.is_empty() {
                    "ContainerCreating"
                } else {
                    "PodInitializing"
                },
            ));
        }
        let policy = RestartPolicy::parse(spec.and_then(|s| s.restart_policy.as_deref()));
        adopt_statuses(&pod, &mut ctrs);
        for c in ctrs
            .iter_mut()
            .filter(|c| c.init && c.phase == Phase::NotStarted)
        {
            c.st.state = CState::Waiting {
                reason: "PodInitializing".into(),
                message: None,
            };
        }
        let mut stopped_rx = ctx.stopped.clone();
        stopped_rx.borrow_and_update();
        PodWorker {
            rng: Rng::new(ctx.seed, &uid),
            policy,
            ctx,
            rx,
            pod,
            uid,
            ns,
            name,
            logs,
            ips: Vec::new(),
            sandbox_ready: false,
            sandbox_id: String::new(),
            ctrs,
            init_failed: false,
            timers: BinaryHeap::new(),
            seq: 0,
            last_written: None,
            last_written_rv: None,
            stopped_rx,
            parked: Vec::new(),
            start_time: jiff::Timestamp::now(),
            epoch: Instant::now(),
            terminating: false,
            grace_deadline: None,
            quiet: false,
            finished: false,
            volumes: None,
            mount_retry: Duration::from_millis(500),
            deleted: false,
            rejected: None,
        }
    }

    /// Takes a newer version of the pod; the containers' specs move to it where unchanged,
    /// so that the older version can go.
    fn set_pod(&mut self, pod: Arc<Pod>) {
        for c in &mut self.ctrs {
            c.spec.follow(&pod);
        }
        self.pod = pod;
    }

    fn sim_now(&self) -> Duration {
        self.ctx.clock.simulated(self.epoch.elapsed())
    }

    fn after(&self, d: Duration) -> Instant {
        Instant::now() + self.ctx.clock.real(d)
    }

    fn schedule(&mut self, idx: usize, d: Duration, step: Step) {
        let at = self.after(d);
        self.seq += 1;
        let generation = self.ctrs.get(idx).map_or(0, |c| c.generation);
        self.timers.push(Reverse(Timer {
            at,
            seq: self.seq,
            idx,
            generation,
            step,
        }));
    }

    fn pod_ref(&self, field_path: Option<String>) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(self.name.clone()),
            namespace: Some(self.ns.clone()),
            uid: Some(self.uid.clone()),
            field_path,
            ..ObjectReference::default()
        }
    }

    async fn event(&self, idx: Option<usize>, warning: bool, reason: &str, note: String) {
        let path = idx.and_then(|i| self.ctrs.get(i)).map(Ctr::field_path);
        self.ctx
            .event(&self.pod_ref(path), warning, reason, note)
            .await;
    }

    fn format_pod(&self) -> String {
        format!("{}_{}({})", self.name, self.ns, self.uid)
    }

    /// Runs the worker until the pod is gone or the kubelet stops.
    pub async fn run(mut self) {
        if !self.ctx.alive().await {
            return;
        }
        if is_terminal(&self.pod) {
            // A finished pod (from an earlier kubelet life): only its deletion is left.
            Box::pin(self.deleted_or_wait_deletion()).await;
            return;
        }
        if !Box::pin(self.admit()).await {
            Box::pin(self.deleted_or_wait_deletion()).await;
            return;
        }
        if self.pod.metadata.deletion_timestamp.is_some() {
            Box::pin(self.finish_deletion()).await;
            return;
        }
        self.main_loop().await;
        Box::pin(self.cleanup()).await;
    }

    /// Admission against the node's allocatable; a rejection fails the pod.
    async fn admit(&mut self) -> bool {
        let requests = crate::admission::pod_requests(&self.pod);
        let verdict = {
            let mut admitted = self.ctx.admitted.lock().unwrap_or_else(|p| p.into_inner());
            let others: Vec<_> = admitted
                .iter()
                .filter(|(k, _)| **k != self.uid)
                .map(|(_, v)| *v)
                .collect();
            // A pod an earlier kubelet life already runs stays admitted.
            let running =
                self.pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
            let v = if running {
                Ok(())
            } else {
                crate::admission::admit(&requests, &others, &self.ctx.allocatable)
            };
            if v.is_ok() {
                admitted.insert(self.uid.clone(), requests);
            }
            v
        };
        match verdict {
            Ok(()) => true,
            Err(r) => {
                self.event(None, true, &r.reason, r.message.clone()).await;
                self.rejected = Some((r.reason, format!("Pod was rejected: {}", r.message)));
                self.write_status().await;
                false
            }
        }
    }

    fn holds_admission(&self) -> bool {
        self.ctx
            .admitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&self.uid)
    }

    fn release_admission(&self) {
        self.ctx
            .admitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.uid);
    }

    fn sandbox(&self) -> Sandbox {
        Sandbox {
            node: self.ctx.name.clone(),
            namespace: self.ns.clone(),
            pod: self.name.clone(),
            pod_uid: self.uid.clone(),
        }
    }

    /// Mounts the volumes (the kubelet waits for them before the sandbox), retrying a
    /// failure with the volume manager's back-off (0.5 s doubling to 2 min 2 s).
    async fn prepare(&mut self) {
        if self.volumes.is_none() {
            match crate::volumes::mount(&self.ctx.client, &self.pod).await {
                Ok(v) => self.volumes = Some(v),
                Err(msg) => {
                    self.event(None, true, "FailedMount", msg).await;
                    let d = self.mount_retry;
                    self.mount_retry = (d * 2).min(Duration::from_millis(122_000));
                    self.schedule(usize::MAX, d, Step::Sandbox);
                    return;
                }
            }
        }
        self.setup_sandbox().await;
    }

    async fn setup_sandbox(&mut self) {
        if self.sandbox_id.is_empty() {
            self.sandbox_id = self.rng.hex64();
        }
        let host_network = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let result = if host_network {
            Ok(self
                .ctx
                .host_ips
                .iter()
                .filter_map(|i| i.parse().ok())
                .collect())
        } else {
            let sb = self.sandbox();
            self.ctx.network.setup(&sb).await
        };
        match result {
            Ok(ips) => {
                self.ips = ips;
                self.sandbox_ready = true;
                self.advance().await;
            }
            Err(e) => {
                let msg = format!(
                    "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"{}\": plugin type=\"{}\" name=\"{}\" failed (add): {}",
                    self.sandbox_id, e.plugin, e.plugin, e.message
                );
                self.event(None, true, "FailedCreatePodSandBox", msg).await;
                self.sandbox_id = self.rng.hex64();
                self.schedule(usize::MAX, SANDBOX_RETRY, Step::Sandbox);
            }
        }
    }

    async fn main_loop(&mut self) {
        Box::pin(self.prepare()).await;
        // Whether the last wake-up may have changed the status (a log line does not).
        let mut dirty = true;
        loop {
            if dirty {
                Box::pin(self.write_status()).await;
            }
            dirty = true;
            if self.deleted {
                return;
            }
            let stopped = *self.stopped_rx.borrow();
            let terminal = !stopped
                && self
                    .last_written
                    .as_ref()
                    .and_then(|w| w.phase.as_deref())
                    .is_some_and(|p| p == "Succeeded" || p == "Failed");
            if terminal && !self.terminating {
                // A finished pod's sidecars stop; then it gives back its sandbox (and IP)
                // and its resources.
                self.finished = true;
                let grace = self.pod_grace();
                for i in (0..self.ctrs.len()).rev() {
                    if self.ctrs[i].sidecar && self.ctrs[i].phase == Phase::Running {
                        let name = self.ctrs[i].spec.name.clone();
                        Box::pin(self.event(
                            Some(i),
                            false,
                            "Killing",
                            format!("Stopping container {name}"),
                        ))
                        .await;
                        let pre_stop = Box::pin(self.run_pre_stop(i)).await;
                        Box::pin(self.kill(i, grace, pre_stop)).await;
                    }
                }
                if self.all_stopped() && (self.sandbox_ready || self.holds_admission()) {
                    Box::pin(self.teardown()).await;
                }
            }
            if self.terminating && !stopped {
                Box::pin(self.stop_sidecars()).await;
            }
            if self.terminating && !stopped && self.all_stopped() {
                Box::pin(self.finish_deletion()).await;
                return;
            }
            let deadline = self.timers.peek().map(|Reverse(t)| t.at);
            let cancel = self.ctx.cancel.clone();
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let pod = self.rx.borrow_and_update().clone();
                    match pod {
                        None => { self.deleted = true; return; }
                        Some(p) => {
                            self.set_pod(p);
                            self.reconcile_with_api();
                            if self.pod.metadata.deletion_timestamp.is_some()
                                && !self.terminating
                                && !*self.stopped_rx.borrow()
                            {
                                Box::pin(self.begin_termination()).await;
                            }
                        }
                    }
                }
                r = self.stopped_rx.changed() => {
                    if r.is_err() {
                        return;
                    }
                    let now_stopped = *self.stopped_rx.borrow_and_update();
                    if !now_stopped {
                        Box::pin(self.resumed()).await;
                    }
                }
                _ = sleep_until_opt(deadline) => {
                    let now = Instant::now();
                    dirty = false;
                    let stopped = *self.stopped_rx.borrow();
                    while let Some(Reverse(t)) = self.timers.peek() {
                        if t.at > now { break; }
                        let Some(Reverse(t)) = self.timers.pop() else { break };
                        if stopped && !matches!(t.step, Step::Proc | Step::KillDone(_)) {
                            // The kubelet's own work waits for it to come back; the
                            // containers' processes run on (see `resumed`).
                            self.parked.push(t);
                            continue;
                        }
                        self.quiet = false;
                        Box::pin(self.fire(t)).await;
                        dirty |= !self.quiet;
                    }
                }
            }
        }
    }

    /// The kubelet came back: its status manager posts the whole status again (the API's
    /// copy may have been changed meanwhile, e.g. `Ready=False` from the node lifecycle
    /// controller), and the work it could not do while dead (restarts, probes, pulls,
    /// starting the next container, a deletion) is done now.
    async fn resumed(&mut self) {
        self.last_written = None;
        let now = Instant::now();
        for mut t in self.parked.drain(..) {
            t.at = now;
            self.timers.push(Reverse(t));
        }
        if self.init_failed {
            self.stop_all_for_failure().await;
        } else {
            self.advance().await;
        }
        if self.pod.metadata.deletion_timestamp.is_some() && !self.terminating {
            self.begin_termination().await;
        }
    }

    /// The status manager's reconcile: when the API's copy of the pod, newer than our last
    /// write, disagrees with what we last wrote (phase, or the status of a condition the
    /// kubelet owns), the next sync writes the whole status again.
    fn reconcile_with_api(&mut self) {
        let Some(written) = &self.last_written else {
            return;
        };
        let rv = |p: &Pod| {
            p.metadata
                .resource_version
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
        };
        match (rv(&self.pod), self.last_written_rv) {
            (Some(now), Some(ours)) if now > ours => {}
            _ => return,
        }
        let Some(status) = self.pod.status.as_ref() else {
            self.last_written = None;
            return;
        };
        if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
            // A terminal phase is never taken back (the status manager refuses to).
            return;
        }
        let phase_differs = written.phase.as_deref() != status.phase.as_deref();
        let conditions_differ = written
            .conditions
            .iter()
            .filter(|(kind, _)| {
                matches!(
                    kind.as_str(),
                    "PodReadyToStartContainers" | "Initialized" | "ContainersReady" | "Ready"
                )
            })
            .any(|(kind, written_status)| {
                let api = status
                    .conditions
                    .iter()
                    .flatten()
                    .find(|a| &a.type_ == kind);
                api.map(|a| a.status.as_str()) != Some(written_status.as_str())
            });
        if phase_differs || conditions_differ {
            self.last_written = None;
        }
    }

    fn all_stopped(&self) -> bool {
        self.ctrs
            .iter()
            .all(|c| !matches!(c.phase, Phase::Running | Phase::Killing))
    }

    async fn fire(&mut self, t: Timer) {
        if t.step == Step::Sandbox {
            if !self.sandbox_ready && !self.terminating {
                self.prepare().await;
            }
            return;
        }
        let Some(c) = self.ctrs.get(t.idx) else {
            return;
        };
        if c.generation != t.generation {
            return;
        }
        match t.step {
            Step::Sandbox => {}
            Step::PullDone => self.pull_done(t.idx).await,
            Step::PullBackOffState => self.pull_backoff_state(t.idx).await,
            Step::PullRetry => {
                if !self.terminating && !self.finished {
                    self.start_container(t.idx).await;
                }
            }
            Step::Restart => {
                if !self.terminating && !self.finished {
                    self.restart_after_crash(t.idx).await;
                }
            }
            Step::Proc => self.process_event(t.idx).await,
            Step::Resync => {
                if !self.terminating && !self.finished {
                    self.crash_restart(t.idx).await;
                }
            }
            Step::Probe(kind) => self.probe(t.idx, kind).await,
            Step::Term => self.send_term(t.idx),
            Step::KillDone(code) => {
                let reason = if code == 0 { "Completed" } else { "Error" };
                self.exited(t.idx, code, reason, None).await;
            }
        }
    }

    /// Starts whatever can start now: init containers in order (sidecars stay running),
    /// then every regular container.
    async fn advance(&mut self) {
        if self.terminating || !self.sandbox_ready || self.init_failed || *self.ctx.stopped.borrow()
        {
            return;
        }
        for i in 0..self.ctrs.len() {
            if !self.ctrs[i].init {
                break;
            }
            let c = &self.ctrs[i];
            if c.sidecar {
                match c.phase {
                    Phase::NotStarted => {
                        self.start_container(i).await;
                        return;
                    }
                    Phase::Running if c.st.started => continue,
                    _ if c.st.restart_count > 0 || c.st.last.is_some() => continue,
                    _ => return,
                }
            }
            match c.phase {
                Phase::Done if c.st.succeeded() => continue,
                Phase::NotStarted => {
                    self.start_container(i).await;
                    return;
                }
                _ => return,
            }
        }
        for i in 0..self.ctrs.len() {
            if !self.ctrs[i].init && self.ctrs[i].phase == Phase::NotStarted {
                self.start_container(i).await;
            }
        }
    }

    /// Ensures the image, then creates and starts the container.
    fn start_container(
        &mut self,
        idx: usize,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(self.start_container_now(idx))
    }

    async fn start_container_now(&mut self, idx: usize) {
        let policy = pull_policy(&self.ctrs[idx].spec).to_string();
        let image = self.ctrs[idx].image_name().to_string();
        if let Some(adopted) = self.ctrs[idx].adopt.take()
            && let Ok(info) = self.ctx.catalog.resolve(&image)
        {
            let newly = self
                .ctx
                .images
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(info.reference.clone(), info.clone())
                .is_none();
            if newly {
                self.ctx.images_changed.notify_one();
            }
            self.create_as(idx, info, Some(adopted)).await;
            return;
        }
        if let Err(e) = self.ctx.catalog.resolve(&image)
            && e.code == "InvalidImageName"
        {
            // The kubelet refuses the name before any pull.
            self.event(Some(idx), true, "InspectFailed", e.message.clone())
                .await;
            self.event(Some(idx), true, "Failed", "Error: InvalidImageName".into())
                .await;
            let c = &mut self.ctrs[idx];
            c.phase = Phase::PullBackOff;
            c.st.state = CState::Waiting {
                reason: "InvalidImageName".into(),
                message: Some(e.message.clone()),
            };
            self.sync_view(idx);
            return;
        }
        let present = self.ctx.catalog.resolve(&image).ok().filter(|info| {
            self.ctx
                .images
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&info.reference)
        });
        match (policy.as_str(), present) {
            ("Never", None) => {
                let msg =
                    format!("Container image {image:?} is not present with pull policy of Never");
                self.event(Some(idx), true, "ErrImageNeverPull", msg.clone())
                    .await;
                self.event(Some(idx), true, "Failed", "Error: ErrImageNeverPull".into())
                    .await;
                let c = &mut self.ctrs[idx];
                c.phase = Phase::PullBackOff;
                c.st.state = CState::Waiting {
                    reason: "ErrImageNeverPull".into(),
                    message: Some(msg),
                };
                self.sync_view(idx);
            }
            ("Never" | "IfNotPresent", Some(info)) => {
                self.event(
                    Some(idx),
                    false,
                    "Pulled",
                    format!("Container image {image:?} already present on machine"),
                )
                .await;
                self.create(idx, info).await;
            }
            _ => {
                let now = self.sim_now();
                let c = &self.ctrs[idx];
                if c.pull_backoff.in_backoff_since(c.pull_failed_at, now) {
                    let wait = c.pull_backoff.until(c.pull_failed_at).saturating_sub(now);
                    self.ctrs[idx].phase = Phase::PullBackOff;
                    self.schedule(idx, wait, Step::PullRetry);
                    return;
                }
                self.event(
                    Some(idx),
                    false,
                    "Pulling",
                    format!("Pulling image {image:?}"),
                )
                .await;
                let result = self.ctx.catalog.resolve(&image);
                let d = match &result {
                    Ok(info) => info.pull_duration,
                    Err(_) => PULL_FAILURE_LATENCY,
                };
                // The kubelet pulls one image at a time (serializeImagePulls): a pull waits
                // for the ones before it; a pull of an image already being pulled finishes
                // with it (the layers are there by then).
                let now = Instant::now();
                let reference = result.as_ref().ok().map(|i| i.reference.clone());
                let (done_at, pull_time) = {
                    let mut puller = self.ctx.puller.lock().unwrap_or_else(|p| p.into_inner());
                    let joined = reference
                        .as_ref()
                        .and_then(|r| puller.in_flight.get(r))
                        .copied()
                        .filter(|end| *end > now);
                    match joined {
                        Some(end) => (end, Duration::ZERO),
                        None => {
                            let start = puller.free_at.map_or(now, |f| f.max(now));
                            let end = start + self.ctx.clock.real(d);
                            puller.free_at = Some(end);
                            if let Some(r) = reference {
                                puller.in_flight.retain(|_, e| *e > now);
                                puller.in_flight.insert(r, end);
                            }
                            (end, d)
                        }
                    }
                };
                let wait = self
                    .ctx
                    .clock
                    .simulated(done_at.saturating_duration_since(now));
                let c = &mut self.ctrs[idx];
                c.phase = Phase::Pulling;
                c.pull_result = Some(result);
                c.pull_waited = wait;
                c.pull_time = pull_time;
                // The status keeps its default waiting reason while pulling
                // (`PodInitializing` in pods with init containers, else `ContainerCreating`),
                // or the back-off state the last sync reported.
                self.schedule(idx, wait, Step::PullDone);
            }
        }
    }

    async fn pull_done(&mut self, idx: usize) {
        let image = self.ctrs[idx].image_name().to_string();
        let Some(result) = self.ctrs[idx].pull_result.take() else {
            return;
        };
        match result {
            Ok(info) => {
                let took = self.ctrs[idx].pull_waited;
                let pull = truncate_ms(self.ctrs[idx].pull_time);
                let total = truncate_ms(took.max(info.pull_duration));
                self.event(
                    Some(idx),
                    false,
                    "Pulled",
                    format!(
                        "Successfully pulled image {image:?} in {} ({} including waiting). Image size: {} bytes.",
                        go_duration(pull),
                        go_duration(total),
                        info.size_bytes
                    ),
                )
                .await;
                let newly = self
                    .ctx
                    .images
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(info.reference.clone(), info.clone())
                    .is_none();
                if newly {
                    self.ctx.images_changed.notify_one();
                }
                self.create(idx, info).await;
            }
            Err(e) => {
                let err = format!("rpc error: code = {} desc = {}", e.code, e.message);
                self.event(
                    Some(idx),
                    true,
                    "Failed",
                    format!("Failed to pull image {image:?}: {err}"),
                )
                .await;
                self.event(Some(idx), true, "Failed", "Error: ErrImagePull".into())
                    .await;
                let now = self.sim_now();
                let c = &mut self.ctrs[idx];
                c.pull_backoff.next(now, now);
                c.pull_failed_at = now;
                c.prev_pull_err = format!("ErrImagePull: {err}");
                c.phase = Phase::PullBackOff;
                c.st.state = CState::Waiting {
                    reason: "ErrImagePull".into(),
                    message: Some(err),
                };
                self.sync_view(idx);
                self.schedule(idx, RESYNC, Step::PullBackOffState);
            }
        }
    }

    async fn pull_backoff_state(&mut self, idx: usize) {
        let image = self.ctrs[idx].image_name().to_string();
        let msg = format!("Back-off pulling image {image:?}");
        self.event(Some(idx), false, "BackOff", msg.clone()).await;
        self.event(Some(idx), true, "Failed", "Error: ImagePullBackOff".into())
            .await;
        let now = self.sim_now();
        let c = &mut self.ctrs[idx];
        c.st.state = CState::Waiting {
            reason: "ImagePullBackOff".into(),
            message: Some(format!("{msg}: {}", c.prev_pull_err)),
        };
        let wait = c.pull_backoff.until(c.pull_failed_at).saturating_sub(now);
        self.sync_view(idx);
        self.schedule(idx, wait, Step::PullRetry);
    }

    fn launch(&self, c: &Container) -> Launch {
        let env = c
            .env
            .iter()
            .flatten()
            .filter_map(|e| e.value.as_ref().map(|v| (e.name.clone(), v.clone())))
            .collect();
        // Only the simulation's own annotations (`sim.skiff.dev/...`) steer the process.
        let overrides = self
            .pod
            .annotations()
            .iter()
            .filter(|(k, _)| k.starts_with(crate::behaviour::OVERRIDE_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Launch {
            command: c.command.clone().unwrap_or_default(),
            args: c.args.clone().unwrap_or_default(),
            env,
            overrides,
        }
    }

    /// Creates and starts the container from a present image.
    async fn create(&mut self, idx: usize, info: ImageInfo) {
        self.create_as(idx, info, None).await;
    }

    /// Creates and starts the container, or takes over `adopted` silently.
    async fn create_as(&mut self, idx: usize, info: ImageInfo, adopted: Option<Adopted>) {
        let launch = self.launch(&self.ctrs[idx].spec);
        let id = match &adopted {
            Some(a) => a.container_id.clone(),
            None => format!("containerd://{}", self.rng.hex64()),
        };
        let name = self.ctrs[idx].spec.name.clone();
        {
            let c = &mut self.ctrs[idx];
            c.generation += 1;
            c.st.image_id = image_id(&info);
            // containerd reports the normalised reference (`docker.io/library/nginx:1.27`).
            c.st.image = info.reference.clone();
            c.image = Some(info.clone());
            c.container_id = id.clone();
            c.probes.clear();
            if adopted.is_none() && (c.st.last.is_some() || c.phase == Phase::CrashBackOff) {
                c.st.restart_count += 1;
            }
        }
        if adopted.is_none() {
            self.event(
                Some(idx),
                false,
                "Created",
                format!("Created container: {name}"),
            )
            .await;
        }
        match Process::start(&info, &launch) {
            Err(e) => {
                // The runtime's message, e.g. `failed to create containerd task: ...: unknown`.
                let msg = e.message;
                self.event(Some(idx), true, "Failed", format!("Error: {msg}"))
                    .await;
                self.logs.start_instance(&name, &id);
                self.ctrs[idx].phase = Phase::Running;
                self.exited(idx, e.exit_code, "StartError", Some(msg)).await;
            }
            Ok(process) => {
                let now = adopted
                    .as_ref()
                    .map_or(self.ctx.clock.now(), |a| a.started_at);
                let process = process.with_clock(self.ctx.clock, now);
                if adopted.is_none() {
                    self.event(
                        Some(idx),
                        false,
                        "Started",
                        format!("Started container {name}"),
                    )
                    .await;
                }
                self.logs.start_instance(&name, &id);
                let mut process = process;
                let files = self
                    .volumes
                    .as_ref()
                    .map(|v| crate::volumes::container_files(v, &self.ctrs[idx].spec))
                    .unwrap_or_default();
                for (path, content) in files {
                    process.add_file(&path, content);
                }
                let ran = self.ctx.clock.real(self.ctx.clock.elapsed_since(now));
                let c = &mut self.ctrs[idx];
                c.process = Some(process);
                c.phase = Phase::Running;
                c.started_real = Some(Instant::now().checked_sub(ran).unwrap_or_else(Instant::now));
                c.st.state = CState::Running {
                    started_at: now,
                    container_id: id,
                };
                let has_startup = c.spec.startup_probe.is_some();
                let has_readiness = c.spec.readiness_probe.is_some();
                c.st.started = !has_startup;
                c.st.ready = !has_startup && !has_readiness && (!c.init || c.sidecar);
                self.sync_view(idx);
                let memory = self.ctrs[idx]
                    .process
                    .as_ref()
                    .map_or(0, Process::memory_bytes);
                if self.ctrs[idx]
                    .memory_limit()
                    .is_some_and(|limit| memory > limit)
                {
                    self.exited(idx, 137, "OOMKilled", None).await;
                    return;
                }
                self.schedule_next_event(idx);
                if !self.post_start(idx) {
                    // The kubelet keeps the hook's output out of the event (it may hold
                    // secrets) and kills the container, which then restarts with back-off.
                    self.event(
                        Some(idx),
                        true,
                        "FailedPostStartHook",
                        "PostStartHook failed".into(),
                    )
                    .await;
                    self.event(Some(idx), false, "Killing", "FailedPostStartHook".into())
                        .await;
                    let grace = self.pod_grace();
                    self.kill(idx, grace, None).await;
                    return;
                }
                if has_startup {
                    self.schedule_probe(idx, ProbeKind::Startup, true);
                } else {
                    self.schedule_probe(idx, ProbeKind::Liveness, true);
                    self.schedule_probe(idx, ProbeKind::Readiness, true);
                }
                if self.ctrs[idx].sidecar && self.ctrs[idx].st.started {
                    self.advance_boxed().await;
                }
            }
        }
    }

    fn advance_boxed(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(self.advance())
    }

    fn schedule_next_event(&mut self, idx: usize) {
        let next = self.ctrs[idx].process.as_mut().and_then(Process::next);
        if let Some((d, ev)) = next {
            self.ctrs[idx].pending = Some(ev);
            self.schedule(idx, d, Step::Proc);
        }
    }

    async fn process_event(&mut self, idx: usize) {
        let Some(ev) = self.ctrs[idx].pending.take() else {
            return;
        };
        match ev {
            ProcessEvent::Log { line, .. } => {
                let c = &self.ctrs[idx];
                self.logs.append(
                    &c.spec.name,
                    &c.container_id,
                    LogLine {
                        time: self.ctx.clock.now(),
                        text: line,
                    },
                );
                self.quiet = true;
                self.schedule_next_event(idx);
            }
            ProcessEvent::Memory(bytes) => {
                if self.ctrs[idx]
                    .memory_limit()
                    .is_some_and(|limit| bytes > limit)
                {
                    self.exited(idx, 137, "OOMKilled", None).await;
                } else {
                    self.quiet = true;
                    self.schedule_next_event(idx);
                }
            }
            ProcessEvent::Exit(code) => {
                let reason = if code == 0 { "Completed" } else { "Error" };
                self.exited(idx, code, reason, None).await;
            }
        }
    }

    /// The current instance ended.
    async fn exited(&mut self, idx: usize, code: i32, reason: &str, message: Option<String>) {
        let now = self.ctx.clock.now();
        let sim_now = self.sim_now();
        let name = self.ctrs[idx].spec.name.clone();
        if !matches!(self.ctrs[idx].phase, Phase::Running | Phase::Killing) {
            return;
        }
        let message = message.or_else(|| self.termination_message(idx, code));
        let c = &mut self.ctrs[idx];
        c.generation += 1;
        c.process = None;
        c.pending = None;
        c.kill_deadline = None;
        let started_at = match &c.st.state {
            CState::Running { started_at, .. } => Some(started_at).copied(),
            _ => None,
        };
        let term = Term {
            exit_code: code,
            reason: reason.into(),
            message,
            started_at: started_at.or(Some(jiff::Timestamp::UNIX_EPOCH)),
            finished_at: now,
            container_id: c.container_id.clone(),
        };
        c.st.state = CState::Terminated(term);
        c.st.ready = false;
        c.st.started = false;
        c.finished_at = sim_now;
        c.phase = Phase::Exited;
        self.logs
            .end_instance(&name, &self.ctrs[idx].container_id.clone());
        self.sync_view(idx);
        if self.terminating || self.finished {
            self.ctrs[idx].phase = Phase::Done;
            return;
        }
        let c = &self.ctrs[idx];
        let (init, sidecar) = (c.init, c.sidecar);
        let restarts = if c.sidecar {
            true
        } else if c.init {
            code != 0 && self.policy != RestartPolicy::Never
        } else {
            self.policy.restarts(code)
        };
        if !restarts {
            self.ctrs[idx].phase = Phase::Done;
            if init && !sidecar {
                if code != 0 {
                    self.init_failed = true;
                    self.stop_all_for_failure().await;
                } else {
                    self.advance().await;
                }
            }
            return;
        }
        if reason == "StartError" {
            // The failed start is reported as `RunContainerError` until the next sync.
            let c = &mut self.ctrs[idx];
            if let CState::Terminated(t) = &c.st.state {
                let message = t.message.clone();
                c.st.last = Some(t.clone());
                c.st.state = CState::Waiting {
                    reason: "RunContainerError".into(),
                    message,
                };
            }
            self.sync_view(idx);
        }
        // The next sync (after the runtime reports the exit) decides on the restart, so the
        // terminated state shows in between (`Error`, `Completed` in `kubectl get pods`).
        self.schedule(idx, RESYNC, Step::Resync);
    }

    /// The terminated state's message: the container's termination message file
    /// (`terminationMessagePath`, 4 KiB at most), or with `FallbackToLogsOnError` after a
    /// failure, the end of its log (80 lines, 2 KiB at most).
    fn termination_message(&mut self, idx: usize, code: i32) -> Option<String> {
        let c = &mut self.ctrs[idx];
        let path = c
            .spec
            .termination_message_path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/dev/termination-log".into());
        if let Some(p) = c.process.as_mut() {
            let r = p.exec(&["cat".to_string(), path]);
            if r.exit_code == 0 && !r.output.is_empty() {
                return Some(cut_front(&r.output, 4096));
            }
        }
        let fallback =
            c.spec.termination_message_policy.as_deref() == Some("FallbackToLogsOnError");
        if fallback && code != 0 {
            let text = self.logs.tail_text(&c.spec.name, &c.container_id, 80);
            return (!text.is_empty()).then(|| cut_front(&text, 2048));
        }
        None
    }

    /// `doBackOff`: restart now if outside the back-off window, else wait in
    /// `CrashLoopBackOff`.
    async fn crash_restart(&mut self, idx: usize) {
        let now = self.sim_now();
        let pod = self.format_pod();
        let c = &mut self.ctrs[idx];
        let term = match &c.st.state {
            CState::Terminated(t) => Some(t.clone()),
            _ => c.st.last.clone(),
        };
        c.st.last = term;
        if c.crash_backoff.in_backoff_since(c.finished_at, now) {
            let d = c.crash_backoff.current();
            let name = c.spec.name.clone();
            c.st.state = CState::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: Some(format!(
                    "back-off {} restarting failed container={name} pod={pod}",
                    go_duration(d)
                )),
            };
            c.phase = Phase::CrashBackOff;
            let wait = c.crash_backoff.until(c.finished_at).saturating_sub(now);
            self.sync_view(idx);
            self.event(
                Some(idx),
                true,
                "BackOff",
                format!("Back-off restarting failed container {name} in pod {pod}"),
            )
            .await;
            self.schedule(idx, wait, Step::Restart);
        } else {
            self.restart_after_crash(idx).await;
        }
    }

    /// The sync after the back-off window (or outside one): `backOff.Next(key, finishedAt)`
    /// doubles the window for the next crash, then the container starts again.
    async fn restart_after_crash(&mut self, idx: usize) {
        let now = self.sim_now();
        let c = &mut self.ctrs[idx];
        let finished = c.finished_at;
        c.crash_backoff.next(finished, now);
        c.phase = Phase::CrashBackOff;
        self.start_container(idx).await;
    }

    /// An init container failed for good: the pod fails, running sidecars are stopped.
    async fn stop_all_for_failure(&mut self) {
        if *self.ctx.stopped.borrow() {
            // Done when the kubelet comes back (`resumed`).
            return;
        }
        for i in 0..self.ctrs.len() {
            if matches!(self.ctrs[i].phase, Phase::Running) {
                self.kill(i, DEFAULT_GRACE, None).await;
            }
        }
    }

    /// All containers stopped after a deletion: terminal status, network teardown, and the
    /// final delete (grace 0, uid precondition) as the status manager does.
    async fn finish_deletion(&mut self) {
        self.terminating = true;
        self.write_status().await;
        self.teardown().await;
        self.delete_until_gone().await;
    }

    /// The final delete (grace 0, uid precondition), retried as the status manager's
    /// periodic sync does until the pod is gone from the API or replaced by another of the
    /// same name: after an error (conflict, a transient failure), or when the pod is still
    /// there after a successful call without a finalizer to wait for, again after
    /// [`DELETE_RETRY`]; while finalizers hold it, again when it changes (at most once per
    /// [`DELETE_RETRY`]).
    async fn delete_until_gone(&mut self) {
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(self.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let mut next_try = Some(Instant::now());
        let mut last_try = Instant::now();
        loop {
            tokio::select! {
                _ = self.ctx.cancel.cancelled() => return,
                r = self.rx.changed() => {
                    if r.is_err() {
                        return;
                    }
                    let pod = self.rx.borrow_and_update().clone();
                    match pod {
                        None => {
                            self.cleanup().await;
                            return;
                        }
                        Some(p) => {
                            self.set_pod(p);
                            if next_try.is_none() {
                                next_try = Some(last_try + self.ctx.clock.real(DELETE_RETRY));
                            }
                        }
                    }
                }
                _ = sleep_until_opt(next_try) => {
                    next_try = None;
                    if *self.stopped_rx.borrow() {
                        // A dead kubelet deletes nothing; try again once it is back.
                        next_try = Some(Instant::now() + self.ctx.clock.real(DELETE_RETRY));
                        continue;
                    }
                    last_try = Instant::now();
                    match api.delete(&self.name, &dp).await {
                        Ok(either) => {
                            let held = either.left().is_some_and(|p| {
                                p.uid().as_deref() == Some(self.uid.as_str())
                                    && p.finalizers().is_empty()
                            });
                            if held {
                                next_try = Some(last_try + self.ctx.clock.real(DELETE_RETRY));
                            }
                        }
                        Err(kube::Error::Api(st)) if st.is_not_found() => {}
                        Err(e) => {
                            debug!(pod = %self.name, ns = %self.ns, "deleting the terminated pod failed, retrying: {e}");
                            next_try = Some(last_try + self.ctx.clock.real(DELETE_RETRY));
                        }
                    }
                }
            }
        }
    }

    async fn deleted_or_wait_deletion(&mut self) {
        loop {
            if self.pod.metadata.deletion_timestamp.is_some() {
                self.release_admission();
                self.finish_deletion().await;
                return;
            }
            tokio::select! {
                _ = self.ctx.cancel.cancelled() => return,
                r = self.rx.changed() => {
                    if r.is_err() { return; }
                    let p = self.rx.borrow_and_update().clone();
                    match p {
                        None => { self.cleanup().await; return; }
                        Some(p) => self.set_pod(p),
                    }
                }
            }
            if !self.ctx.alive().await {
                return;
            }
        }
    }

    async fn teardown(&mut self) {
        if self.sandbox_ready {
            let sb = self.sandbox();
            self.ctx.network.teardown(&sb).await;
            self.sandbox_ready = false;
        }
        self.release_admission();
    }

    async fn cleanup(&mut self) {
        if self.ctx.cancel.is_cancelled() {
            return;
        }
        self.teardown().await;
        self.logs.end_all();
        self.ctx.logs().remove(&self.uid);
    }

    fn incomplete_init(&self) -> Vec<String> {
        self.ctrs
            .iter()
            .filter(|c| c.init)
            .filter(|c| {
                if c.sidecar {
                    // A sidecar counts once it has started (later stops do not undo that).
                    match &c.st.state {
                        CState::Running { .. } => !c.st.started,
                        CState::Terminated(_) => false,
                        CState::Waiting { .. } => c.st.restart_count == 0 && c.st.last.is_none(),
                    }
                } else {
                    !c.st.succeeded()
                }
            })
            .map(|c| c.spec.name.clone())
            .collect()
    }

    fn sync_view(&self, idx: usize) {
        let c = &self.ctrs[idx];
        let view = match &c.st.state {
            CState::Waiting { reason, .. } => View::Waiting(reason.clone()),
            CState::Running { container_id, .. } => View::Running(container_id.clone()),
            CState::Terminated(t) => View::Terminated(t.container_id.clone()),
        };
        self.logs.set_view(
            &c.spec.name,
            view,
            c.st.last.as_ref().map(|t| t.container_id.clone()),
        );
    }

    fn build_status(&self) -> serde_json::Value {
        let previous: Vec<PodCondition> = self
            .pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let qos = self.pod.status.as_ref().and_then(|s| s.qos_class.clone());
        if let Some((reason, message)) = &self.rejected {
            return json!({"status": {"phase": "Failed", "reason": reason, "message": message,
                "qosClass": qos, "startTime": Time(self.start_time)}});
        }
        let regular: Vec<CStatus> = self
            .ctrs
            .iter()
            .filter(|c| !c.init)
            .map(|c| c.st.clone())
            .collect();
        let incomplete = self.incomplete_init();
        let mut phase = status::phase(
            &regular,
            self.policy,
            incomplete.is_empty(),
            self.init_failed,
        );
        if self.terminating && self.all_stopped() && !self.ctrs.is_empty() {
            // A deleted pod whose containers all stopped is terminal.
            phase = if self
                .ctrs
                .iter()
                .filter(|c| !c.init)
                .all(|c| c.st.succeeded())
            {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        let unready: Vec<String> = self
            .ctrs
            .iter()
            .filter(|c| !c.init || c.sidecar)
            .filter(|c| !c.st.ready)
            .map(|c| c.spec.name.clone())
            .collect();
        let sandbox_ready = self.sandbox_ready && !matches!(phase, "Succeeded" | "Failed");
        let conditions = status::conditions(
            ConditionInputs {
                sandbox_ready,
                incomplete_init: &incomplete,
                unready: &unready,
                phase,
            },
            &previous,
            self.start_time,
        );
        let conditions: Vec<PodCondition> = conditions
            .into_iter()
            .map(|mut c| {
                if c.last_transition_time.as_ref().map(|t| t.0) == Some(self.start_time)
                    && !previous
                        .iter()
                        .any(|p| p.type_ == c.type_ && p.status == c.status)
                {
                    c.last_transition_time = Some(Time(self.ctx.clock.now()));
                }
                c
            })
            .collect();
        let init: Vec<_> = self
            .ctrs
            .iter()
            .filter(|c| c.init)
            .map(|c| status::container_status(&c.st))
            .collect();
        let regular: Vec<_> = self
            .ctrs
            .iter()
            .filter(|c| !c.init)
            .map(|c| status::container_status(&c.st))
            .collect();
        let ips: Vec<_> = self
            .ips
            .iter()
            .map(|ip| json!({"ip": ip.to_string()}))
            .collect();
        let host_ips: Vec<_> = self
            .ctx
            .host_ips
            .iter()
            .map(|ip| json!({"ip": ip}))
            .collect();
        let mut st = json!({
            "phase": phase,
            "conditions": conditions,
            "hostIP": self.ctx.host_ips.first(),
            "hostIPs": host_ips,
            "startTime": Time(self.start_time),
            "containerStatuses": regular,
            "qosClass": qos,
        });
        if !init.is_empty() {
            st["initContainerStatuses"] = json!(init);
        }
        if !self.ips.is_empty() {
            st["podIP"] = json!(self.ips[0].to_string());
            st["podIPs"] = json!(ips);
        }
        json!({ "status": st })
    }

    /// One `pods/status` patch when anything changed since the last write.
    async fn write_status(&mut self) {
        if self.deleted || *self.ctx.stopped.borrow() {
            return;
        }
        let mut body = self.build_status();
        strip_nulls(&mut body);
        let written = Written::of(&body);
        if self
            .last_written
            .as_ref()
            .is_some_and(|prev| prev.untimed == written.untimed)
        {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        match api
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&body))
            .await
        {
            Ok(p) => {
                if p.uid().as_deref() == Some(self.uid.as_str()) {
                    let rv = |p: &Pod| {
                        p.metadata
                            .resource_version
                            .as_deref()
                            .and_then(|v| v.parse::<u64>().ok())
                    };
                    self.last_written_rv = rv(&p);
                    // Unless the watch already brought this version or a newer one: then
                    // keep the shared cache's copy instead of holding a second one.
                    if rv(&p) > rv(&self.pod) {
                        self.set_pod(Arc::new(p));
                    }
                }
                self.last_written = Some(written);
            }
            Err(kube::Error::Api(st)) if st.is_not_found() => self.deleted = true,
            Err(e) => debug!(pod = %self.name, "writing the pod status failed: {e}"),
        }
    }
}

fn new_ctr(pod: &Arc<Pod>, init: bool, idx: usize, reason: &str) -> Ctr {
    let spec = SpecRef {
        pod: pod.clone(),
        init,
        idx,
    };
    let sidecar = init && spec.restart_policy.as_deref() == Some("Always");
    let st = CStatus::waiting(
        &spec.name,
        spec.image.as_deref().unwrap_or_default(),
        reason,
    );
    Ctr {
        spec,
        init,
        sidecar,
        st,
        phase: Phase::NotStarted,
        generation: 0,
        process: None,
        pending: None,
        container_id: String::new(),
        image: None,
        pull_result: None,
        pull_waited: Duration::ZERO,
        pull_time: Duration::ZERO,
        pull_backoff: Backoff::default(),
        pull_failed_at: Duration::ZERO,
        prev_pull_err: String::new(),
        crash_backoff: Backoff::default(),
        finished_at: Duration::ZERO,
        started_real: None,
        probes: BTreeMap::new(),
        kill_deadline: None,
        pre_stop_failed: false,
        adopt: None,
    }
}

/// Takes over what the pod's status says of its containers from an earlier kubelet life:
/// restart counts, last terminations, completed init containers, running containers.
fn adopt_statuses(pod: &Pod, ctrs: &mut [Ctr]) {
    let Some(status) = pod.status.as_ref() else {
        return;
    };
    let all = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for s in all {
        let Some(c) = ctrs.iter_mut().find(|c| c.spec.name == s.name) else {
            continue;
        };
        c.st.restart_count = s.restart_count;
        c.st.image_id = s.image_id.clone();
        c.st.last = s
            .last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .map(term_from_api);
        let state = s.state.as_ref();
        if let Some(r) = state.and_then(|st| st.running.as_ref())
            && let Some(id) = s.container_id.clone()
        {
            c.adopt = Some(Adopted {
                container_id: id,
                started_at: r
                    .started_at
                    .as_ref()
                    .map_or(jiff::Timestamp::now(), |t| t.0),
            });
        } else if let Some(t) = state.and_then(|st| st.terminated.as_ref())
            && c.init
            && !c.sidecar
            && t.exit_code == 0
        {
            c.st.state = CState::Terminated(term_from_api(t));
            c.phase = Phase::Done;
        }
    }
}

fn term_from_api(t: &k8s_openapi::api::core::v1::ContainerStateTerminated) -> Term {
    Term {
        exit_code: t.exit_code,
        reason: t.reason.clone().unwrap_or_default(),
        message: t.message.clone(),
        started_at: t.started_at.as_ref().map(|x| x.0),
        finished_at: t
            .finished_at
            .as_ref()
            .map_or(jiff::Timestamp::UNIX_EPOCH, |x| x.0),
        container_id: t.container_id.clone().unwrap_or_default(),
    }
}

/// Whether two status bodies differ only in condition transition times.
/// What the last status write said, kept small (it is held for every pod): a 128-bit digest
/// of the status without its conditions' transition times, which tells whether a new status
/// differs by more than times (the JSON itself was 1.5 KB a pod); its phase; and each
/// condition's type and status, which the status manager's reconcile compares with the API's
/// copy.
struct Written {
    untimed: u128,
    phase: Option<String>,
    conditions: Vec<(String, String)>,
}

impl Written {
    fn of(body: &serde_json::Value) -> Written {
        let mut untimed = body.clone();
        let conditions = untimed
            .pointer_mut("/status/conditions")
            .and_then(|c| c.as_array_mut())
            .map(|cs| {
                cs.iter_mut()
                    .filter_map(|c| {
                        let o = c.as_object_mut()?;
                        o.remove("lastTransitionTime");
                        Some((
                            o.get("type")?.as_str()?.to_string(),
                            o.get("status")?.as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Written {
            untimed: api::digest::of(&serde_json::to_vec(&untimed).unwrap_or_default()),
            phase: body
                .pointer("/status/phase")
                .and_then(|p| p.as_str())
                .map(str::to_string),
            conditions,
        }
    }
}

fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// The last `max` bytes of `s` (on a character boundary).
fn cut_front(s: &str, max: usize) -> String {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

fn truncate_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// A probe's port: a number, or a named container port.
fn resolve_port(
    c: &Container,
    port: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString,
) -> u16 {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match port {
        IntOrString::Int(p) => (*p).clamp(0, 65535) as u16,
        IntOrString::String(name) => name.parse().ok().unwrap_or_else(|| {
            c.ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map_or(0, |p| p.container_port.clamp(0, 65535) as u16)
        }),
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_containers_spec_follows_newer_pods_only_while_it_is_the_same() {
        let pod = |image: &str, phase: &str| -> Arc<Pod> {
            Arc::new(
                serde_json::from_value(serde_json::json!({
                    "metadata": {"name": "p", "uid": "u"},
                    "spec": {
                        "initContainers": [{"name": "init", "image": "busybox"}],
                        "containers": [{"name": "app", "image": image}, {"name": "side", "image": "b"}]
                    },
                    "status": {"phase": phase}
                }))
                .unwrap(),
            )
        };
        let first = pod("nginx:1.25", "Pending");
        let mut init = SpecRef {
            pod: first.clone(),
            init: true,
            idx: 0,
        };
        let mut side = SpecRef {
            pod: first.clone(),
            init: false,
            idx: 1,
        };
        assert_eq!((init.name.as_str(), side.name.as_str()), ("init", "side"));
        // A status write: both move to the new version, so the first one can go.
        let second = pod("nginx:1.25", "Running");
        init.follow(&second);
        side.follow(&second);
        assert!(Arc::ptr_eq(&init.pod, &second) && Arc::ptr_eq(&side.pod, &second));
        assert_eq!(
            Arc::strong_count(&first),
            1,
            "nothing holds the first version"
        );
        // The app's image changed: a spec that changed stays where it was.
        let mut app = SpecRef {
            pod: second.clone(),
            init: false,
            idx: 0,
        };
        let third = pod("nginx:1.26", "Running");
        app.follow(&third);
        side.follow(&third);
        assert!(Arc::ptr_eq(&app.pod, &second));
        assert_eq!(app.image.as_deref(), Some("nginx:1.25"));
        assert!(Arc::ptr_eq(&side.pod, &third));
    }

    #[test]
    fn a_status_differing_only_in_transition_times_is_not_written_again() {
        let status = |phase: &str, ready: &str, at: &str| {
            serde_json::json!({"status": {"phase": phase, "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": at},
                {"type": "Ready", "status": ready, "lastTransitionTime": at}]}})
        };
        let first = Written::of(&status("Running", "True", "2026-01-01T00:00:00Z"));
        let later = Written::of(&status("Running", "True", "2026-01-01T00:05:00Z"));
        assert_eq!(first.untimed, later.untimed);
        assert_ne!(
            first.untimed,
            Written::of(&status("Running", "False", "2026-01-01T00:00:00Z")).untimed
        );
        assert_ne!(
            first.untimed,
            Written::of(&status("Succeeded", "True", "2026-01-01T00:00:00Z")).untimed
        );
        assert_eq!(first.phase.as_deref(), Some("Running"));
        assert_eq!(
            first.conditions,
            [
                ("PodScheduled".to_string(), "True".to_string()),
                ("Ready".to_string(), "True".to_string())
            ]
        );
    }

    #[test]
    fn pull_policy_defaults_per_tag() {
        let cases = [
            ("nginx", None, "Always"),
            ("nginx:latest", None, "Always"),
            ("nginx:1.27", None, "IfNotPresent"),
            ("localhost:5000/app", None, "Always"),
            ("localhost:5000/app:v1", None, "IfNotPresent"),
            ("nginx@sha256:abc", None, "IfNotPresent"),
            ("nginx:1.27", Some("Always"), "Always"),
        ];
        for (image, policy, want) in cases {
            let c = Container {
                name: "c".into(),
                image: Some(image.into()),
                image_pull_policy: policy.map(str::to_string),
                ..Container::default()
            };
            assert_eq!(pull_policy(&c), want, "{image} {policy:?}");
        }
    }

    #[test]
    fn image_ids_use_the_repository_and_digest() {
        let i = ImageInfo {
            reference: "docker.io/library/nginx:1.27".into(),
            digest: "sha256:ab".into(),
            size_bytes: 1,
            pull_duration: Duration::ZERO,
            definition: Default::default(),
        };
        assert_eq!(image_id(&i), "docker.io/library/nginx@sha256:ab");
        let j = ImageInfo {
            reference: "localhost:5000/app".into(),
            ..i
        };
        assert_eq!(image_id(&j), "localhost:5000/app@sha256:ab");
    }

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, F: std::future::Future>(_: fn(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every pod has a worker task for its whole life, and the task's memory is the size of
    /// its future, the largest state of everything it awaits inline. With the rarely taken
    /// steps inline it was 4,800 B (heaptrack: 5 KB of every pod's 46 KB live heap); they are
    /// boxed while they run, and the task holds the worker and its idle wait (1,568 B).
    #[test]
    fn a_pod_workers_task_stays_small() {
        let run = future_size(PodWorker::run);
        let worker = std::mem::size_of::<PodWorker>();
        assert!(
            run < 2048,
            "the worker ({worker} B) runs in a future of {run} B"
        );
    }
}
