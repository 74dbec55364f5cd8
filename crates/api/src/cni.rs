//! What the simulated kubelet asks of the pod network when it creates and removes a pod
//! sandbox, as a real kubelet runs the CNI plugin (on EKS, the AWS VPC CNI).
//!
//! The binary hands the kubelet an implementation: a simple per-node address range for the
//! generic cluster, the VPC CNI's ENI and IP allocation for EKS node groups. A setup that
//! fails (no free IP on the node's ENIs, subnet exhausted) leaves the pod in
//! `ContainerCreating` with a `FailedCreatePodSandBox` event carrying the plugin's message,
//! and the kubelet retries.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

/// One pod sandbox on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// The node the pod runs on.
    pub node: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The pod's uid.
    pub pod_uid: String,
}

/// Why the network could not be set up, in the plugin's own words (for EKS:
/// `add cmd: failed to assign an IP address to container`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NetworkError {
    /// The plugin's type as the runtime names it (`aws-cni`, `host-local`).
    pub plugin: String,
    /// The plugin's message.
    pub message: String,
}

/// A boxed future, as the network's methods return.
pub type NetworkFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The pod network of the cluster's nodes.
pub trait PodNetwork: Send + Sync {
    /// Gives the sandbox its addresses (first the primary `status.podIP`). Calling it again
    /// for a sandbox that already has addresses returns the same ones.
    fn setup<'a>(
        &'a self,
        sandbox: &'a Sandbox,
    ) -> NetworkFuture<'a, Result<Vec<IpAddr>, NetworkError>>;
    /// Releases the sandbox's addresses; releasing an unknown sandbox is not an error.
    fn teardown<'a>(&'a self, sandbox: &'a Sandbox) -> NetworkFuture<'a, ()>;
}
