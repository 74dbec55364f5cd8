//! Control loops that are ordinary API clients of the skiff API server, as the ones in
//! kube-controller-manager are: the [`garbage_collector`] (owner references, foreground and
//! orphan deletion), the [`namespace`] lifecycle controller (deleting a namespace's content),
//! the [`serviceaccount`] controller (a `default` account per namespace) and the
//! [`root_ca_publisher`] (`kube-root-ca.crt` per namespace).
//!
//! Each controller is one module with a `run` function; [`run_all`] runs them all under
//! one shutdown token and restarts a failed one after a back-off.

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
mod discovery;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod garbage_collector;
pub mod history;
pub mod job;
pub mod namespace;
pub mod node_lifecycle;
pub mod replicaset;
pub mod root_ca_publisher;
pub mod serviceaccount;
pub mod statefulset;
mod workload;

use std::future::Future;
use std::time::Duration;

use kube::Client;
use kube::core::Status;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// What went wrong in a controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server's group lists (`/api`, `/apis`) could not be read.
    #[error("discovering the API server's resources failed")]
    Discovery(#[source] kube::Error),
    /// An API request failed.
    #[error("{verb} {target} failed")]
    Request {
        /// The verb, e.g. `get`, `patch`, `delete`, `finalize`.
        verb: &'static str,
        /// What was addressed, e.g. `replicasets.apps default/web-1`.
        target: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// Some of a terminating namespace's content could not be deleted (or discovered).
    #[error("deleting the content of namespace {namespace} failed: {}", .failures.join("; "))]
    NamespaceContent {
        /// The namespace.
        namespace: String,
        /// One message per failure.
        failures: Vec<String>,
    },
    /// A namespace was deleted and recreated under the same name while being finalized.
    #[error("namespace {name} was replaced (its uid changed) while being finalized")]
    NamespaceReplaced {
        /// The namespace's name.
        name: String,
    },
    /// A workload controller could not bring an object to its desired state (pods or replica
    /// sets could not be created, scaled or deleted); retried with back-off.
    #[error("syncing {object} failed: {message}")]
    Workload {
        /// What was synced, e.g. `replicaset default/web-5d4b9c8f5`.
        object: String,
        /// What went wrong.
        message: String,
    },
    /// An object the controller built could not be represented (a bug in the controller).
    #[error("building {what} failed: {detail}")]
    Invalid {
        /// What was built.
        what: String,
        /// Why it failed.
        detail: String,
    },
    /// An internal task of a controller ended before shutdown.
    #[error("{task} ended unexpectedly")]
    TaskEnded {
        /// Which task.
        task: &'static str,
        /// Its panic or cancellation, if it did not just return.
        #[source]
        source: Option<tokio::task::JoinError>,
    },
}

impl Error {
    fn request(verb: &'static str, target: String, source: kube::Error) -> Self {
        Error::Request {
            verb,
            target,
            source,
        }
    }

    /// Whether the API server answered 409 Conflict: the object changed meanwhile.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Request { source, .. } if is_conflict(source))
    }

    /// Whether the API server answered 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Request { source, .. } if is_not_found(source))
    }
}

fn api_status(error: &kube::Error) -> Option<&Status> {
    match error {
        kube::Error::Api(status) => Some(status),
        _ => None,
    }
}

/// 404 Not Found.
fn is_not_found(error: &kube::Error) -> bool {
    api_status(error).is_some_and(Status::is_not_found)
}

/// 409 Conflict (a resourceVersion or uid precondition failed).
fn is_conflict(error: &kube::Error) -> bool {
    api_status(error).is_some_and(Status::is_conflict)
}

/// 405 Method Not Allowed (the verb is not supported on the resource).
fn is_method_not_supported(error: &kube::Error) -> bool {
    api_status(error).is_some_and(|s| s.code == 405 || s.reason == "MethodNotAllowed")
}

/// An error and its causes, joined by `: `, for logs.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// How long a controller may take to stop after shutdown before it is aborted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// A controller that ran this long before failing restarts without accumulated back-off.
const HEALTHY_RUN: Duration = Duration::from_secs(300);
/// Longest wait before restarting a failed controller.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);

/// What the controllers need to know about the cluster beyond its API.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The cluster CA (PEM) the root CA publisher puts in every namespace; `None` skips it.
    pub root_ca_pem: Option<String>,
    /// The simulation clock (durations such as progress deadlines and grace periods).
    pub clock: api::clock::Clock,
}

/// Runs every controller until `shutdown` is cancelled; a controller that fails or panics is
/// logged and restarted after a back-off (1 s doubling up to 60 s).
///
/// `pods` is the shared watch of every pod: every controller that reads pods reads them
/// there (one watch and one decode of each pod change for all of them).
pub async fn run_all(
    client: Client,
    config: Config,
    pods: informer::SharedInformer<k8s_openapi::api::core::v1::Pod>,
    shutdown: CancellationToken,
) {
    let (disruption_pods, endpoints_pods, slice_pods, lifecycle_pods) =
        (pods.clone(), pods.clone(), pods.clone(), pods.clone());
    let (set_pods, daemon_pods, job_pods, rs_pods, deployment_pods, gc_pods) = (
        pods.clone(),
        pods.clone(),
        pods.clone(),
        pods.clone(),
        pods.clone(),
        pods,
    );
    let mut handles = vec![
        tokio::spawn(supervise(
            "garbage collector",
            client.clone(),
            shutdown.clone(),
            move |c, s| garbage_collector::run_with(c, Some(gc_pods.clone()), s),
        )),
        tokio::spawn(supervise(
            "namespace controller",
            client.clone(),
            shutdown.clone(),
            namespace::run,
        )),
        tokio::spawn(supervise(
            "service account controller",
            client.clone(),
            shutdown.clone(),
            serviceaccount::run,
        )),
        tokio::spawn(supervise(
            "replicaset controller",
            client.clone(),
            shutdown.clone(),
            move |c, s| replicaset::run_with(c, config.clock, rs_pods.clone(), s),
        )),
        tokio::spawn(supervise(
            "deployment controller",
            client.clone(),
            shutdown.clone(),
            move |c, s| deployment::run_with(c, config.clock, deployment_pods.clone(), s),
        )),
        tokio::spawn(supervise(
            "disruption controller",
            client.clone(),
            shutdown.clone(),
            move |c, s| disruption::run_with(c, config.clock, disruption_pods.clone(), s),
        )),
        tokio::spawn(supervise(
            "endpoints controller",
            client.clone(),
            shutdown.clone(),
            move |c, s| endpoints::run_with(c, endpoints_pods.clone(), s),
        )),
        tokio::spawn(supervise(
            "endpointslice controller",
            client.clone(),
            shutdown.clone(),
            move |c, s| endpointslice::run_with(c, slice_pods.clone(), s),
        )),
        tokio::spawn(supervise(
            "node lifecycle controller",
            client.clone(),
            shutdown.clone(),
            move |c, s| {
                let settings = node_lifecycle::Settings {
                    clock: config.clock,
                    ..Default::default()
                };
                node_lifecycle::run_with(c, settings, lifecycle_pods.clone(), s)
            },
        )),
    ];
    let clock = config.clock;
    handles.push(tokio::spawn(supervise(
        "statefulset controller",
        client.clone(),
        shutdown.clone(),
        move |c, s| statefulset::run_with(c, clock, set_pods.clone(), s),
    )));
    handles.push(tokio::spawn(supervise(
        "daemonset controller",
        client.clone(),
        shutdown.clone(),
        move |c, s| daemonset::run_with(c, clock, daemon_pods.clone(), s),
    )));
    handles.push(tokio::spawn(supervise(
        "job controller",
        client.clone(),
        shutdown.clone(),
        move |c, s| job::run_with(c, clock, job_pods.clone(), s),
    )));
    handles.push(tokio::spawn(supervise(
        "ttl-after-finished controller",
        client.clone(),
        shutdown.clone(),
        move |c, s| job::ttl_after_finished::run(c, clock, s),
    )));
    handles.push(tokio::spawn(supervise(
        "cronjob controller",
        client.clone(),
        shutdown.clone(),
        move |c, s| cronjob::run(c, clock, s),
    )));
    if let Some(pem) = config.root_ca_pem {
        handles.push(tokio::spawn(supervise(
            "root CA publisher",
            client,
            shutdown,
            move |c, s| root_ca_publisher::run(c, pem.clone(), s),
        )));
    }
    for handle in handles {
        if let Err(error) = handle.await {
            error!(%error, "controller supervisor failed");
        }
    }
}

/// Runs `run` in its own task, restarting it with back-off until `shutdown`.
async fn supervise<F, Fut>(name: &'static str, client: Client, shutdown: CancellationToken, run: F)
where
    F: Fn(Client, CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    let mut failures: u32 = 0;
    loop {
        let started = Instant::now();
        let mut attempt = tokio::spawn(run(client.clone(), shutdown.clone()));
        let outcome = tokio::select! {
            outcome = &mut attempt => outcome,
            _ = shutdown.cancelled() => match tokio::time::timeout(SHUTDOWN_GRACE, &mut attempt).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    warn!(controller = name, "controller did not stop in time; aborting it");
                    attempt.abort();
                    return;
                }
            },
        };
        if shutdown.is_cancelled() {
            if let Ok(Err(error)) = &outcome {
                warn!(controller = name, error = %error_chain(error), "controller failed while stopping");
            }
            info!(controller = name, "controller stopped");
            return;
        }
        match outcome {
            Ok(Ok(())) => warn!(controller = name, "controller returned before shutdown"),
            Ok(Err(error)) => {
                error!(controller = name, error = %error_chain(&error), "controller failed")
            }
            Err(error) => error!(controller = name, %error, "controller panicked"),
        }
        if started.elapsed() >= HEALTHY_RUN {
            failures = 0;
        }
        let delay = restart_delay(failures);
        failures = failures.saturating_add(1);
        info!(controller = name, retry_in = ?delay, "restarting controller");
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// `1s * 2^failures`, capped at [`MAX_RESTART_DELAY`].
fn restart_delay(failures: u32) -> Duration {
    let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
    Duration::from_secs(1)
        .saturating_mul(factor)
        .min(MAX_RESTART_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(
            Status {
                code,
                reason: reason.to_string(),
                ..Status::default()
            }
            .boxed(),
        )
    }

    #[test]
    fn api_errors_are_classified_by_status() {
        let cases = [
            (
                "404 is not found",
                api_error(404, "NotFound"),
                true,
                false,
                false,
            ),
            (
                "409 is a conflict",
                api_error(409, "Conflict"),
                false,
                true,
                false,
            ),
            (
                "405 is method not supported",
                api_error(405, "MethodNotAllowed"),
                false,
                false,
                true,
            ),
            (
                "500 is none of them",
                api_error(500, "InternalError"),
                false,
                false,
                false,
            ),
        ];
        for (case, error, not_found, conflict, method) in cases {
            assert_eq!(is_not_found(&error), not_found, "{case}");
            assert_eq!(is_conflict(&error), conflict, "{case}");
            assert_eq!(is_method_not_supported(&error), method, "{case}");
            let wrapped = Error::request("get", "configmaps. default/x".into(), error);
            assert_eq!(wrapped.is_not_found(), not_found, "{case}: wrapped");
            assert_eq!(wrapped.is_conflict(), conflict, "{case}: wrapped");
        }
    }

    #[test]
    fn error_chains_name_every_cause() {
        let error = Error::request(
            "delete",
            "pods. default/web".into(),
            api_error(409, "Conflict"),
        );
        let chain = error_chain(&error);
        assert!(
            chain.starts_with("delete pods. default/web failed: "),
            "{chain}"
        );
    }

    #[test]
    fn restarts_back_off_up_to_a_minute() {
        let cases = [
            (
                "the first restart waits a second",
                0,
                Duration::from_secs(1),
            ),
            ("restarts double", 2, Duration::from_secs(4)),
            ("restarts wait at most a minute", 30, MAX_RESTART_DELAY),
        ];
        for (case, failures, want) in cases {
            assert_eq!(restart_delay(failures), want, "{case}");
        }
    }
}
