//! The simulated AWS half of EKS.
//!
//! - [`catalog`]: skiff's EC2 instance-type catalog (vCPU, memory, ENI and IP limits,
//!   hypervisor, price), the EKS AMI's max-pods calculator in every VPC CNI mode, and the
//!   node capacity and allocatable an EKS AMI node of a type reports.
//! - [`vpc`]: the VPC as EC2 models it: CIDR blocks, subnets per availability zone (with the
//!   five addresses AWS reserves in each), ENIs with primary and secondary private IPs and
//!   /28 prefixes, and EC2's errors when a subnet or an instance runs out.
//! - [`ipamd`]: the VPC CNI's per-node IP address manager: the warm pool (`WARM_ENI_TARGET`,
//!   `WARM_IP_TARGET`, `MINIMUM_IP_TARGET`, `WARM_PREFIX_TARGET`), custom networking and
//!   prefix delegation, assigning pod IPs the way the real plugin does.

pub mod catalog;
pub mod cloud;
pub mod ipamd;
pub mod resources;
pub mod vpc;
