//! The service account controller: every active namespace has a `default` ServiceAccount,
//! recreated if it is deleted, as kube-controller-manager's `serviceaccount` controller does.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::{Error, api_status, is_not_found};

/// The account every namespace gets.
pub const DEFAULT_ACCOUNT: &str = "default";
/// Retry delay after a failed reconcile.
const RETRY: Duration = Duration::from_secs(2);

struct Context {
    client: Client,
}

/// Runs the controller until `shutdown` is cancelled.
pub async fn run(client: Client, shutdown: CancellationToken) -> Result<(), Error> {
    let context = Arc::new(Context {
        client: client.clone(),
    });
    let accounts = Api::<ServiceAccount>::all(client.clone());
    Controller::new(Api::<Namespace>::all(client), watcher::Config::default())
        .watches(
            accounts,
            watcher::Config::default(),
            |sa: ServiceAccount| match sa.namespace() {
                Some(ns) if sa.name_any() == DEFAULT_ACCOUNT => {
                    Some(ObjectRef::<Namespace>::new(&ns))
                }
                _ => None,
            },
        )
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile, error_policy, context)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// Whether a namespace accepts new content.
pub fn is_active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none()
        && ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating")
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !is_active(&ns) {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let api = Api::<ServiceAccount>::namespaced(ctx.client.clone(), &name);
    let target = format!("serviceaccounts {name}/{DEFAULT_ACCOUNT}");
    if api
        .get_opt(DEFAULT_ACCOUNT)
        .await
        .map_err(|e| Error::request("get", target.clone(), e))?
        .is_some()
    {
        return Ok(Action::await_change());
    }
    let account = ServiceAccount {
        metadata: kube::api::ObjectMeta {
            name: Some(DEFAULT_ACCOUNT.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &account).await {
        Ok(_) => Ok(Action::await_change()),
        // Created meanwhile, or the namespace started terminating / went away.
        Err(e)
            if api_status(&e).is_some_and(|s| s.code == 409 || s.code == 403)
                || is_not_found(&e) =>
        {
            Ok(Action::await_change())
        }
        Err(e) => Err(Error::request("create", target, e)),
    }
}

fn error_policy(ns: Arc<Namespace>, error: &Error, _: Arc<Context>) -> Action {
    warn!(namespace = %ns.name_any(), %error, "ensuring the default service account failed");
    Action::requeue(RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_namespaces_get_accounts() {
        let active: Namespace = serde_json::from_value(
            serde_json::json!({"metadata": {"name": "a"}, "status": {"phase": "Active"}}),
        )
        .expect("ns");
        let terminating: Namespace = serde_json::from_value(
            serde_json::json!({"metadata": {"name": "t"}, "status": {"phase": "Terminating"}}),
        )
        .expect("ns");
        let deleting: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "d", "deletionTimestamp": "2026-01-01T00:00:00Z"}})).expect("ns");
        assert!(is_active(&active));
        assert!(!is_active(&terminating));
        assert!(!is_active(&deleting));
    }
}
