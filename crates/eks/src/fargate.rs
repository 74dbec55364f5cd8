//! EKS on Fargate as pure logic: which pods go to Fargate (profiles), how large a micro-VM
//! each gets (sizing), what Fargate refuses (limits), what the node looks like (node), and
//! what the Fargate scheduler writes on the pod (events).
//!
//! How the pieces fit, as EKS does it:
//! 1. Admission: a pod that [`matching_profile`] sends to a profile gets, from the EKS
//!    webhook, `spec.schedulerName: fargate-scheduler` ([`SCHEDULER_NAME`]), the label
//!    `eks.amazonaws.com/fargate-profile: <name>` ([`PROFILE_LABEL`]) and priority class
//!    `system-node-critical` ([`PRIORITY_CLASS_NAME`], [`PRIORITY`]). Nothing is refused at
//!    admission.
//! 2. The Fargate scheduler: [`check_pod`] (or [`check_pod_with_claims`]) and [`size_pod`];
//!    a refusal leaves the pod `Pending` with a `FailedScheduling` event
//!    ([`unsupported_event`], [`sizing_failed_event`]) and a `PodScheduled=False` condition
//!    with reason [`UNSUPPORTED_REASON`] or [`EXCEEDS_MAX_REASON`].
//! 3. Otherwise a node is registered ([`fargate_node_name`], [`fargate_node_labels`],
//!    [`fargate_node_taint`], [`fargate_node_capacity`], …), the pod is annotated
//!    ([`fargate_pod_annotations`]) and bound, with [`provisioning_events`].
//!
//! Every fact carries its source in the submodule docs, marked VERIFIED or OBSERVED (text seen
//! in real output that AWS or users quoted), or DERIVED (this crate's reading).

pub mod events;
pub mod limits;
pub mod node;
pub mod profile;
pub mod sizing;

pub use events::{
    FargateEvent, LOGGING_CONFIGMAP, LOGGING_NAMESPACE, LoggingState, PRIORITY,
    PRIORITY_CLASS_NAME, SCHEDULER_NAME, fargate_pod_annotations, provisioning_events,
    sizing_failed_event, unsupported_event,
};
pub use limits::{
    ClaimState, UNSUPPORTED_REASON, Unsupported, check_pod, check_pod_with_claims,
    is_ebs_persistent_volume, is_ebs_volume_source, is_efs_persistent_volume,
};
pub use node::{
    COMPUTE_TYPE_FARGATE, COMPUTE_TYPE_LABEL, FargateNodeResources, eks_kubelet_version,
    fargate_node_addresses, fargate_node_capacity, fargate_node_hostname, fargate_node_info,
    fargate_node_labels, fargate_node_name, fargate_node_taint, fargate_provider_id,
    fargate_task_id,
};
pub use profile::{
    COMPUTE_TYPE_ANNOTATION, FargateProfile, PROFILE_LABEL, ProfileError, Selector,
    matching_profile, opts_out_of_fargate,
};
pub use sizing::{
    CAPACITY_ANNOTATION, CONFIGURATIONS, EXCEEDS_MAX_REASON, FargateSize, SizingError, size_pod,
};
