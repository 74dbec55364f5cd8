//! The root CA publisher: every active namespace has a `kube-root-ca.crt` ConfigMap holding
//! the cluster CA (`ca.crt`), kept equal to the cluster's CA, as kube-controller-manager's
//! `root-ca-cert-publisher` does. Pods mount it to verify the API server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::serviceaccount::is_active;
use crate::{Error, api_status, is_not_found};

/// The ConfigMap's name.
pub const CONFIGMAP: &str = "kube-root-ca.crt";
/// The key holding the PEM bundle.
pub const KEY: &str = "ca.crt";
/// Upstream's description annotation.
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";
/// Retry delay after a failed reconcile.
const RETRY: Duration = Duration::from_secs(2);

struct Context {
    client: Client,
    ca_pem: String,
}

/// Runs the publisher for the CA in `ca_pem` until `shutdown` is cancelled.
pub async fn run(client: Client, ca_pem: String, shutdown: CancellationToken) -> Result<(), Error> {
    let context = Arc::new(Context {
        client: client.clone(),
        ca_pem,
    });
    let maps = Api::<ConfigMap>::all(client.clone());
    Controller::new(Api::<Namespace>::all(client), watcher::Config::default())
        .watches(
            maps,
            watcher::Config::default().fields(&format!("metadata.name={CONFIGMAP}")),
            |cm: ConfigMap| cm.namespace().map(|ns| ObjectRef::<Namespace>::new(&ns)),
        )
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile, error_policy, context)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// The ConfigMap as it should be.
pub fn desired(ca_pem: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(CONFIGMAP.into()),
            annotations: Some(BTreeMap::from([(
                "kubernetes.io/description".to_string(),
                DESCRIPTION.to_string(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(KEY.to_string(), ca_pem.to_string())])),
        ..Default::default()
    }
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !is_active(&ns) {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let api = Api::<ConfigMap>::namespaced(ctx.client.clone(), &name);
    let target = format!("configmaps {name}/{CONFIGMAP}");
    let want = desired(&ctx.ca_pem);
    let result = match api
        .get_opt(CONFIGMAP)
        .await
        .map_err(|e| Error::request("get", target.clone(), e))?
    {
        None => api.create(&PostParams::default(), &want).await.map(|_| ()),
        Some(current)
            if current.data.as_ref().and_then(|d| d.get(KEY))
                == want.data.as_ref().and_then(|d| d.get(KEY)) =>
        {
            Ok(())
        }
        Some(mut current) => {
            current.data = want.data.clone();
            api.replace(CONFIGMAP, &PostParams::default(), &current)
                .await
                .map(|_| ())
        }
    };
    match result {
        Ok(()) => Ok(Action::await_change()),
        // A conflict means someone else wrote it meanwhile: look again.
        Err(e) if api_status(&e).is_some_and(|s| s.code == 409) => {
            Ok(Action::requeue(Duration::from_millis(100)))
        }
        // The namespace started terminating or went away.
        Err(e) if api_status(&e).is_some_and(|s| s.code == 403) || is_not_found(&e) => {
            Ok(Action::await_change())
        }
        Err(e) => Err(Error::request("write", target, e)),
    }
}

fn error_policy(ns: Arc<Namespace>, error: &Error, _: Arc<Context>) -> Action {
    warn!(namespace = %ns.name_any(), %error, "publishing the root CA failed");
    Action::requeue(RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configmap_carries_the_ca_under_ca_crt() {
        let cm = desired("PEM");
        assert_eq!(cm.metadata.name.as_deref(), Some("kube-root-ca.crt"));
        assert_eq!(
            cm.data.and_then(|d| d.get("ca.crt").cloned()).as_deref(),
            Some("PEM")
        );
    }
}
