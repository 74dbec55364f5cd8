//! EKS on top of the simulated cloud.
//!
//! - [`config`]: eksctl's `ClusterConfig` (`eksctl.io/v1alpha5`): parsing with warnings for
//!   the fields skiff does not model and errors naming invalid fields, and the cluster
//!   `eksctl create cluster` makes when given no file.
//! - [`fargate`]: Fargate profiles (which pods run on Fargate), pod sizing (AWS's vCPU and
//!   memory pairs, the 256 MiB for the node's components) and Fargate's limits.

pub mod addons;
pub mod config;
pub mod fargate;
pub mod fargate_runtime;
pub mod nodegroup;
pub mod resources;
