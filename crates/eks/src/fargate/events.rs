//! What the Fargate scheduler writes on a pod: its events, its annotations, and the fields
//! the EKS webhook sets on pods that match a profile.
//!
//! Sources (OBSERVED in `kubectl describe pod` outputs of Fargate pods; the logging texts are
//! also in AWS's `fargate-logging` troubleshooting section):
//! ```text
//! Priority:             2000001000
//! Priority Class Name:  system-node-critical
//! Node:                 fargate-ip-192-168-184-112.ap-northeast-2.compute.internal/192.168.184.112
//! Labels:               app=nginx
//!                       eks.amazonaws.com/fargate-profile=fp-default
//! Annotations:          CapacityProvisioned: 0.25vCPU 0.5GB
//!                       Logging: LoggingDisabled: LOGGING_CONFIGMAP_NOT_FOUND
//! Events:
//!   Warning  LoggingDisabled  10m    fargate-scheduler  Disabled logging because aws-logging configmap was not found. configmap "aws-logging" not found
//!   Normal   Scheduled        9m48s  fargate-scheduler  Successfully assigned checkout/checkout-78fbb666b-fftl5 to fargate-ip-10-42-11-96.us-west-2.compute.internal
//!   Normal   Pulling          9m48s  kubelet            Pulling image "…"
//! ```
//! With an `aws-logging` ConfigMap in `aws-observability`, the annotation is
//! `Logging: LoggingEnabled` and the event `Normal LoggingEnabled fargate-scheduler
//! Successfully enabled logging for pod`. A pod Fargate will not run gets
//! `Warning FailedScheduling fargate-scheduler Pod not supported on Fargate: …`.
//! The logging event comes first, about 40–60 s before `Scheduled`, while the micro-VM starts.

use std::collections::BTreeMap;

use super::limits::Unsupported;
use super::sizing::{CAPACITY_ANNOTATION, FargateSize, SizingError};

/// The scheduler that places Fargate pods; the EKS webhook sets it as the pod's
/// `spec.schedulerName`, and it is the `source.component` of its events.
pub const SCHEDULER_NAME: &str = "fargate-scheduler";

/// The priority class every Fargate pod shows.
pub const PRIORITY_CLASS_NAME: &str = "system-node-critical";

/// The priority every Fargate pod shows (that of `system-node-critical`).
pub const PRIORITY: i32 = 2_000_001_000;

/// The pod annotation that records whether Fargate's log router is on.
pub const LOGGING_ANNOTATION: &str = "Logging";

/// The namespace and ConfigMap that turn on Fargate logging.
pub const LOGGING_NAMESPACE: &str = "aws-observability";

/// The ConfigMap in [`LOGGING_NAMESPACE`] that turns on Fargate logging.
pub const LOGGING_CONFIGMAP: &str = "aws-logging";

/// Whether Fargate's built-in log router runs for a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoggingState {
    /// The `aws-observability/aws-logging` ConfigMap exists.
    Enabled,
    /// There is no `aws-observability/aws-logging` ConfigMap.
    ConfigMapNotFound,
}

impl LoggingState {
    /// The `Logging` annotation value: `LoggingEnabled` or
    /// `LoggingDisabled: LOGGING_CONFIGMAP_NOT_FOUND`.
    pub fn annotation(&self) -> &'static str {
        match self {
            LoggingState::Enabled => "LoggingEnabled",
            LoggingState::ConfigMapNotFound => "LoggingDisabled: LOGGING_CONFIGMAP_NOT_FOUND",
        }
    }

    /// The event the Fargate scheduler records for this state.
    pub fn event(&self) -> FargateEvent {
        match self {
            LoggingState::Enabled => FargateEvent::normal(
                "LoggingEnabled",
                "Successfully enabled logging for pod".to_string(),
            ),
            LoggingState::ConfigMapNotFound => FargateEvent::warning(
                "LoggingDisabled",
                "Disabled logging because aws-logging configmap was not found. configmap \"aws-logging\" not found"
                    .to_string(),
            ),
        }
    }
}

/// One event the Fargate scheduler records on a pod (`source.component` is
/// [`SCHEDULER_NAME`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FargateEvent {
    /// `Normal` or `Warning`.
    pub event_type: &'static str,
    /// The event reason (`Scheduled`, `LoggingDisabled`, …).
    pub reason: &'static str,
    /// The event message.
    pub message: String,
}

impl FargateEvent {
    fn normal(reason: &'static str, message: String) -> Self {
        FargateEvent {
            event_type: "Normal",
            reason,
            message,
        }
    }

    fn warning(reason: &'static str, message: String) -> Self {
        FargateEvent {
            event_type: "Warning",
            reason,
            message,
        }
    }
}

/// The events the Fargate scheduler records while it places a pod, in order: the logging
/// event, then `Scheduled` (`Successfully assigned <ns>/<pod> to <node>`).
pub fn provisioning_events(
    namespace: &str,
    pod: &str,
    node_name: &str,
    logging: LoggingState,
) -> Vec<FargateEvent> {
    vec![
        logging.event(),
        FargateEvent::normal(
            "Scheduled",
            format!("Successfully assigned {namespace}/{pod} to {node_name}"),
        ),
    ]
}

/// The `FailedScheduling` warning for a pod Fargate will not run.
pub fn unsupported_event(unsupported: &Unsupported) -> FargateEvent {
    FargateEvent::warning("FailedScheduling", unsupported.to_string())
}

/// The `FailedScheduling` warning for a pod that fits no Fargate size. DERIVED: only the
/// `PodScheduled` condition text of this case was found; the event repeats it.
pub fn sizing_failed_event(error: &SizingError) -> FargateEvent {
    FargateEvent::warning("FailedScheduling", error.to_string())
}

/// The annotations the Fargate scheduler sets on a pod it places: `CapacityProvisioned` and
/// `Logging`.
pub fn fargate_pod_annotations(
    size: &FargateSize,
    logging: LoggingState,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (CAPACITY_ANNOTATION.to_string(), size.annotation()),
        (
            LOGGING_ANNOTATION.to_string(),
            logging.annotation().to_string(),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fargate::limits::Unsupported;

    #[test]
    fn placing_a_pod_without_logging_records_the_events_users_see() {
        let events = provisioning_events(
            "checkout",
            "checkout-78fbb666b-fftl5",
            "fargate-ip-10-42-11-96.us-west-2.compute.internal",
            LoggingState::ConfigMapNotFound,
        );
        let text: Vec<String> = events
            .iter()
            .map(|e| format!("{} {} {}", e.event_type, e.reason, e.message))
            .collect();
        assert_eq!(
            text,
            [
                "Warning LoggingDisabled Disabled logging because aws-logging configmap was not found. configmap \"aws-logging\" not found",
                "Normal Scheduled Successfully assigned checkout/checkout-78fbb666b-fftl5 to fargate-ip-10-42-11-96.us-west-2.compute.internal",
            ]
        );
    }

    #[test]
    fn placing_a_pod_with_logging_records_logging_enabled() {
        let events = provisioning_events("default", "test", "n", LoggingState::Enabled);
        assert_eq!(events[0].reason, "LoggingEnabled");
        assert_eq!(events[0].event_type, "Normal");
        assert_eq!(events[0].message, "Successfully enabled logging for pod");
    }

    #[test]
    fn the_annotations_match_a_described_fargate_pod() {
        let a = fargate_pod_annotations(&FargateSize::SMALLEST, LoggingState::ConfigMapNotFound);
        assert_eq!(a["CapacityProvisioned"], "0.25vCPU 0.5GB");
        assert_eq!(a["Logging"], "LoggingDisabled: LOGGING_CONFIGMAP_NOT_FOUND");
        let a = fargate_pod_annotations(&FargateSize::SMALLEST, LoggingState::Enabled);
        assert_eq!(a["Logging"], "LoggingEnabled");
    }

    #[test]
    fn a_refused_pod_gets_a_failed_scheduling_warning() {
        let e = unsupported_event(&Unsupported {
            problems: vec!["fields not supported: HostNetwork".into()],
        });
        assert_eq!(e.event_type, "Warning");
        assert_eq!(e.reason, "FailedScheduling");
        assert_eq!(
            e.message,
            "Pod not supported on Fargate: fields not supported: HostNetwork"
        );
    }
}
