//! What the API server asks of a node's kubelet: container logs (`pods/log`).
//!
//! Upstream, kube-apiserver opens a connection to the kubelet on the pod's node and streams
//! `/containerLogs/{namespace}/{pod}/{container}`. In skiff the simulated kubelet implements
//! [`KubeletConnection`] and the binary hands it to the API server; the API server validates
//! the request (pod exists, container named) and the kubelet answers the rest, including the
//! kubelet's own errors (`container "x" in pod "y" is waiting to start: ContainerCreating`,
//! `previous terminated container "x" in pod "y" not found`).

use std::future::Future;
use std::pin::Pin;

/// A `pods/log` request as the kubelet receives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogRequest {
    /// The node the pod is bound to.
    pub node: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The pod's uid (a log never crosses to a recreated pod of the same name).
    pub pod_uid: String,
    /// The container (init, regular or ephemeral) chosen by the API server.
    pub container: String,
    /// `follow=true`: keep streaming new lines until the container stops or the client leaves.
    pub follow: bool,
    /// `previous=true`: the log of the container's previous (terminated) instance.
    pub previous: bool,
    /// `tailLines`: only the last N lines.
    pub tail_lines: Option<i64>,
    /// `sinceSeconds`: only lines newer than this many seconds (wall clock).
    pub since_seconds: Option<i64>,
    /// `sinceTime`: only lines at or after this RFC 3339 time.
    pub since_time: Option<jiff::Timestamp>,
    /// `timestamps=true`: prefix each line with its RFC 3339 time and a space.
    pub timestamps: bool,
    /// `limitBytes`: stop after this many bytes.
    pub limit_bytes: Option<i64>,
}

/// Why the kubelet refuses a log request; the API server turns it into a `Status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// 400 Bad Request with the kubelet's message (container waiting, no previous instance).
    #[error("{0}")]
    BadRequest(String),
    /// 404 Not Found (the node has no such pod).
    #[error("{0}")]
    NotFound(String),
    /// The node's kubelet cannot be reached.
    #[error("{0}")]
    Unavailable(String),
}

/// The log's bytes as a stream of chunks; it ends when the log does (for `follow`, when the
/// container stops). An error mid-stream ends the response.
pub type LogStream = Pin<Box<dyn futures_core::Stream<Item = Result<Vec<u8>, LogError>> + Send>>;

/// The connection from the API server to the kubelets.
pub trait KubeletConnection: Send + Sync {
    /// Opens the log of one container.
    fn container_logs(
        &self,
        request: LogRequest,
    ) -> Pin<Box<dyn Future<Output = Result<LogStream, LogError>> + Send + '_>>;
}
