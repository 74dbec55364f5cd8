//! The skiff scheduler (work in progress for the workloads issue).
