//! Building a pod's status from the kubelet's view of its containers: container statuses,
//! the phase (`getPhase`) and the conditions (`status/generate.go`), as pure functions.

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, PodCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// A terminated container instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Exit code.
    pub exit_code: i32,
    /// `Completed`, `Error`, `OOMKilled`, `StartError`.
    pub reason: String,
    /// Message, if any.
    pub message: Option<String>,
    /// When it started (absent when it never did).
    pub started_at: Option<jiff::Timestamp>,
    /// When it finished.
    pub finished_at: jiff::Timestamp,
    /// Its id, `containerd://<64 hex>`.
    pub container_id: String,
}

/// A container's current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CState {
    /// Waiting with a reason and message.
    Waiting {
        /// e.g. `ContainerCreating`, `CrashLoopBackOff`.
        reason: String,
        /// e.g. `back-off 10s restarting failed container=...`.
        message: Option<String>,
    },
    /// Running.
    Running {
        /// When it started.
        started_at: jiff::Timestamp,
        /// Its id.
        container_id: String,
    },
    /// Terminated.
    Terminated(Term),
}

/// The kubelet's view of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CStatus {
    /// Container name.
    pub name: String,
    /// The spec's image.
    pub image: String,
    /// The pulled image's id (`docker.io/library/nginx@sha256:...`), empty before a pull.
    pub image_id: String,
    /// Current state.
    pub state: CState,
    /// `lastState.terminated`.
    pub last: Option<Term>,
    /// Readiness.
    pub ready: bool,
    /// Whether the startup probe passed (or there is none) while running.
    pub started: bool,
    /// Restarts so far.
    pub restart_count: i32,
}

impl CStatus {
    /// A container not yet started, waiting for `reason`.
    pub fn waiting(name: &str, image: &str, reason: &str) -> CStatus {
        CStatus {
            name: name.into(),
            image: image.into(),
            image_id: String::new(),
            state: CState::Waiting {
                reason: reason.into(),
                message: None,
            },
            last: None,
            ready: false,
            started: false,
            restart_count: 0,
        }
    }

    /// Whether it is running.
    pub fn is_running(&self) -> bool {
        matches!(self.state, CState::Running { .. })
    }

    /// Whether its current instance terminated with exit code 0.
    pub fn succeeded(&self) -> bool {
        matches!(&self.state, CState::Terminated(t) if t.exit_code == 0)
    }
}

fn time(t: jiff::Timestamp) -> Time {
    Time(t)
}

fn term_api(t: &Term) -> ContainerStateTerminated {
    ContainerStateTerminated {
        exit_code: t.exit_code,
        reason: Some(t.reason.clone()),
        message: t.message.clone(),
        started_at: t.started_at.map(time),
        finished_at: Some(time(t.finished_at)),
        container_id: (!t.container_id.is_empty()).then(|| t.container_id.clone()),
        signal: None,
    }
}

/// The API's container status.
pub fn container_status(c: &CStatus) -> ContainerStatus {
    let state = match &c.state {
        CState::Waiting { reason, message } => ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.clone()),
                message: message.clone(),
            }),
            ..ContainerState::default()
        },
        CState::Running { started_at, .. } => ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(time(*started_at)),
            }),
            ..ContainerState::default()
        },
        CState::Terminated(t) => ContainerState {
            terminated: Some(term_api(t)),
            ..ContainerState::default()
        },
    };
    let container_id = match &c.state {
        CState::Running { container_id, .. } => Some(container_id.clone()),
        CState::Terminated(t) if !t.container_id.is_empty() => Some(t.container_id.clone()),
        // A waiting container keeps the id of its last instance (the runtime still reports
        // the exited container; the kubelet only overrides the state).
        CState::Waiting { .. } => c
            .last
            .as_ref()
            .filter(|t| !t.container_id.is_empty())
            .map(|t| t.container_id.clone()),
        _ => None,
    };
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        image_id: c.image_id.clone(),
        container_id,
        ready: c.ready,
        started: Some(c.started && c.is_running()),
        restart_count: c.restart_count,
        state: Some(state),
        last_state: Some(ContainerState {
            terminated: c.last.as_ref().map(term_api),
            ..ContainerState::default()
        }),
        ..ContainerStatus::default()
    }
}

/// The pod's restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Always restart.
    Always,
    /// Restart on non-zero exit.
    OnFailure,
    /// Never restart.
    Never,
}

impl RestartPolicy {
    /// From the spec's string (default Always).
    pub fn parse(s: Option<&str>) -> RestartPolicy {
        match s {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        }
    }

    /// Whether a container that exited with `code` is restarted.
    pub fn restarts(self, code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// The pod phase from the regular containers (`getPhase`), given whether initialization is
/// done and whether an init container failed for good.
pub fn phase(
    containers: &[CStatus],
    policy: RestartPolicy,
    initialized: bool,
    init_failed: bool,
) -> &'static str {
    if init_failed {
        return "Failed";
    }
    if !initialized {
        return "Pending";
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in containers {
        match &c.state {
            CState::Running { .. } => running += 1,
            CState::Terminated(t) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            CState::Waiting { .. } if c.last.is_some() => stopped += 1,
            CState::Waiting { .. } => waiting += 1,
        }
    }
    if waiting > 0 {
        "Pending"
    } else if running > 0 {
        "Running"
    } else if stopped > 0 {
        if policy == RestartPolicy::Always {
            "Running"
        } else if stopped == succeeded {
            "Succeeded"
        } else if policy == RestartPolicy::Never {
            "Failed"
        } else {
            "Running"
        }
    } else {
        "Pending"
    }
}

/// A condition, with `lastTransitionTime` kept from `previous` when its status is unchanged.
fn condition(
    kind: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    previous: &[PodCondition],
    now: jiff::Timestamp,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let since = previous
        .iter()
        .find(|c| c.type_ == kind && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    PodCondition {
        type_: kind.into(),
        status: status.into(),
        reason: reason.map(str::to_string),
        message,
        last_transition_time: Some(since),
        last_probe_time: None,
        observed_generation: None,
    }
}

/// Inputs of the kubelet-owned conditions.
#[derive(Debug, Clone, Copy)]
pub struct ConditionInputs<'a> {
    /// Whether the sandbox (network) is up.
    pub sandbox_ready: bool,
    /// Init containers not yet done, in order.
    pub incomplete_init: &'a [String],
    /// Regular (and sidecar) containers not ready, in order.
    pub unready: &'a [String],
    /// The phase.
    pub phase: &'a str,
}

/// `PodReadyToStartContainers`, `Initialized`, `ContainersReady`, `Ready`, keeping other
/// writers' conditions (`PodScheduled`, `DisruptionTarget`) from `previous`.
pub fn conditions(
    inputs: ConditionInputs<'_>,
    previous: &[PodCondition],
    now: jiff::Timestamp,
) -> Vec<PodCondition> {
    const OURS: [&str; 4] = [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
    ];
    let mut out: Vec<PodCondition> = Vec::new();
    out.push(condition(
        "PodReadyToStartContainers",
        inputs.sandbox_ready,
        None,
        None,
        previous,
        now,
    ));
    let completed = inputs.phase == "Succeeded";
    if completed {
        out.push(condition(
            "Initialized",
            true,
            Some("PodCompleted"),
            None,
            previous,
            now,
        ));
    } else if inputs.incomplete_init.is_empty() {
        out.push(condition("Initialized", true, None, None, previous, now));
    } else {
        out.push(condition(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: [{}]",
                inputs.incomplete_init.join(" ")
            )),
            previous,
            now,
        ));
    }
    // Terminal pods: `PodCompleted` for Succeeded, `PodFailed` for Failed
    // (`generateContainersReadyConditionForTerminalPhase`, and Ready mirrors it).
    let terminal = match inputs.phase {
        "Succeeded" => Some("PodCompleted"),
        "Failed" => Some("PodFailed"),
        _ => None,
    };
    for kind in ["ContainersReady", "Ready"] {
        let c = if let Some(reason) = terminal {
            condition(kind, false, Some(reason), None, previous, now)
        } else if !inputs.incomplete_init.is_empty() {
            condition(
                kind,
                false,
                Some("ContainersNotReady"),
                Some(format!(
                    "containers with unready status: [{}]",
                    inputs.unready.join(" ")
                )),
                previous,
                now,
            )
        } else if inputs.unready.is_empty() {
            condition(kind, true, None, None, previous, now)
        } else {
            condition(
                kind,
                false,
                Some("ContainersNotReady"),
                Some(format!(
                    "containers with unready status: [{}]",
                    inputs.unready.join(" ")
                )),
                previous,
                now,
            )
        };
        out.push(c);
    }
    let mut merged: Vec<PodCondition> = previous
        .iter()
        .filter(|c| !OURS.contains(&c.type_.as_str()))
        .cloned()
        .collect();
    merged.extend(out);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(name: &str) -> CStatus {
        CStatus {
            state: CState::Running {
                started_at: jiff::Timestamp::UNIX_EPOCH,
                container_id: "containerd://x".into(),
            },
            ..CStatus::waiting(name, "i", "")
        }
    }

    fn exited(name: &str, code: i32) -> CStatus {
        CStatus {
            state: CState::Terminated(Term {
                exit_code: code,
                reason: if code == 0 { "Completed" } else { "Error" }.into(),
                message: None,
                started_at: None,
                finished_at: jiff::Timestamp::UNIX_EPOCH,
                container_id: "containerd://x".into(),
            }),
            ..CStatus::waiting(name, "i", "")
        }
    }

    #[test]
    fn phase_follows_get_phase() {
        use RestartPolicy::*;
        let crash = CStatus {
            last: match exited("c", 1).state {
                CState::Terminated(t) => Some(t),
                _ => None,
            },
            ..CStatus::waiting("c", "i", "CrashLoopBackOff")
        };
        let cases = vec![
            (
                "creating",
                vec![CStatus::waiting("c", "i", "ContainerCreating")],
                Always,
                true,
                false,
                "Pending",
            ),
            ("init running", vec![], Always, false, false, "Pending"),
            ("init failed", vec![], Never, false, true, "Failed"),
            (
                "running",
                vec![running("a"), exited("b", 0)],
                Never,
                true,
                false,
                "Running",
            ),
            (
                "crash loop is running",
                vec![crash],
                Always,
                true,
                false,
                "Running",
            ),
            (
                "job done",
                vec![exited("a", 0)],
                OnFailure,
                true,
                false,
                "Succeeded",
            ),
            (
                "never failed",
                vec![exited("a", 0), exited("b", 2)],
                Never,
                true,
                false,
                "Failed",
            ),
            (
                "on failure retries",
                vec![exited("a", 2)],
                OnFailure,
                true,
                false,
                "Running",
            ),
            (
                "always after exit 0",
                vec![exited("a", 0)],
                Always,
                true,
                false,
                "Running",
            ),
        ];
        for (name, cs, policy, init, init_failed, want) in cases {
            assert_eq!(phase(&cs, policy, init, init_failed), want, "{name}");
        }
    }

    #[test]
    fn conditions_name_the_unready_containers() {
        let now = jiff::Timestamp::UNIX_EPOCH;
        let init = vec!["init-db".to_string()];
        let unready = vec!["web".to_string()];
        let got = conditions(
            ConditionInputs {
                sandbox_ready: true,
                incomplete_init: &init,
                unready: &unready,
                phase: "Pending",
            },
            &[],
            now,
        );
        let find = |t: &str| got.iter().find(|c| c.type_ == t).unwrap().clone();
        assert_eq!(find("PodReadyToStartContainers").status, "True");
        assert_eq!(
            find("Initialized").message.as_deref(),
            Some("containers with incomplete status: [init-db]")
        );
        assert_eq!(find("Ready").reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(
            find("ContainersReady").message.as_deref(),
            Some("containers with unready status: [web]")
        );
        let done = conditions(
            ConditionInputs {
                sandbox_ready: false,
                incomplete_init: &[],
                unready: &unready,
                phase: "Succeeded",
            },
            &got,
            now,
        );
        let ready = done.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_deref()),
            ("False", Some("PodCompleted"))
        );
        let failed = conditions(
            ConditionInputs {
                sandbox_ready: false,
                incomplete_init: &[],
                unready: &unready,
                phase: "Failed",
            },
            &got,
            now,
        );
        for kind in ["Ready", "ContainersReady"] {
            let c = failed.iter().find(|c| c.type_ == kind).unwrap();
            assert_eq!(
                (c.status.as_str(), c.reason.as_deref(), c.message.as_deref()),
                ("False", Some("PodFailed"), None),
                "{kind}"
            );
        }
    }

    #[test]
    fn restart_policy_decides_on_the_exit_code() {
        let cases = [
            (RestartPolicy::Always, 0, true),
            (RestartPolicy::OnFailure, 0, false),
            (RestartPolicy::OnFailure, 1, true),
            (RestartPolicy::Never, 1, false),
        ];
        for (p, code, want) in cases {
            assert_eq!(p.restarts(code), want, "{p:?} {code}");
        }
    }
}
