//! The simulated kubelet (work in progress for the workloads issue).
pub mod behaviour;
