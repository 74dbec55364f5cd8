//! kube-rs clients that reach an [`ApiServer`] in-process (no TCP, no TLS), as skiff's own
//! components do, and the bootstrapped server component tests start from.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::{ApiServer, Config, Identity};

/// A kube-rs client over `server`'s in-process transport, authenticated as `user` in
/// `groups`.
pub fn in_process(server: &ApiServer, user: &str, groups: &[&str]) -> kube::Client {
    let svc = tower::ServiceExt::map_request(
        server.service_for(Identity::user(user, groups)),
        |req: http::Request<kube::client::Body>| req.map(axum::body::Body::new),
    );
    kube::Client::new(svc, "default")
}

/// [`in_process`] for skiff's own components: list, get, watch and write responses leave
/// out `metadata.managedFields` (see [`crate::LeanReads`]), and requests carry the user
/// agent the component's upstream counterpart sends (`kubelet/v1.33.5 (linux/amd64)
/// kubernetes/skiff` for `agent` "kubelet"), so its writes are managed by that name.
pub fn in_process_lean(
    server: &ApiServer,
    user: &str,
    groups: &[&str],
    agent: &str,
) -> kube::Client {
    let user_agent = http::HeaderValue::from_str(&format!(
        "{agent}/{} (linux/amd64) kubernetes/skiff",
        crate::KUBERNETES_VERSION
    ))
    .unwrap_or_else(|_| http::HeaderValue::from_static("skiff"));
    let svc = tower::ServiceExt::map_request(
        server.service_for(Identity::user(user, groups)),
        move |req: http::Request<kube::client::Body>| {
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(crate::LeanReads);
            req.headers_mut()
                .entry(http::header::USER_AGENT)
                .or_insert_with(|| user_agent.clone());
            req
        },
    );
    kube::Client::new(svc, "default")
}

/// A bootstrapped API server over `store` (default configuration) and an admin client for
/// it; cancelling `shutdown` stops it.
pub async fn start(
    store: Arc<dyn store::Backend>,
    shutdown: CancellationToken,
) -> Result<(ApiServer, kube::Client), api::ApiError> {
    let server = ApiServer::new(store, Config::default(), None, shutdown);
    server.bootstrap().await?;
    let client = in_process(&server, "admin", &["system:masters"]);
    Ok((server, client))
}

#[cfg(test)]
mod tests {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};

    use super::*;

    #[tokio::test]
    async fn lean_clients_get_objects_without_managed_fields_and_others_get_them_whole() {
        let shutdown = CancellationToken::new();
        let (server, full) = start(Arc::new(store::MemoryBackend::new()), shutdown.clone())
            .await
            .expect("bootstrap");
        let lean = in_process_lean(&server, "admin", &["system:masters"], "skiff");
        let full_api: Api<ConfigMap> = Api::namespaced(full, "default");
        let lean_api: Api<ConfigMap> = Api::namespaced(lean, "default");
        let cm = |name: &str| -> ConfigMap {
            serde_json::from_value(
                serde_json::json!({"metadata": {"name": name}, "data": {"a": "b"}}),
            )
            .expect("configmap")
        };
        let has_fields = |c: &ConfigMap| {
            c.metadata
                .managed_fields
                .as_ref()
                .is_some_and(|m| !m.is_empty())
        };

        let list = lean_api.list(&ListParams::default()).await.expect("list");
        let rv = list.metadata.resource_version.unwrap_or_default();
        let mut watch = lean_api
            .watch(&WatchParams::default(), &rv)
            .await
            .expect("watch")
            .boxed();

        let created = full_api
            .create(&PostParams::default(), &cm("one"))
            .await
            .expect("create");
        assert!(
            has_fields(&created),
            "a whole object for an ordinary client"
        );
        assert!(has_fields(&full_api.get("one").await.expect("get")));

        assert!(!has_fields(&lean_api.get("one").await.expect("lean get")));
        let listed = lean_api
            .list(&ListParams::default())
            .await
            .expect("lean list");
        assert!(listed.items.iter().all(|c| !has_fields(c)), "{listed:?}");
        match watch.try_next().await.expect("a watch event") {
            Some(WatchEvent::Added(c)) => assert!(!has_fields(&c), "{c:?}"),
            other => panic!("expected ADDED, got {other:?}"),
        }
        let made = lean_api
            .create(&PostParams::default(), &cm("two"))
            .await
            .expect("lean create");
        assert!(!has_fields(&made));

        // An update without managedFields keeps the stored ones.
        let mut changed = lean_api.get("one").await.expect("lean get");
        changed.data = Some([("a".to_string(), "c".to_string())].into());
        lean_api
            .replace("one", &PostParams::default(), &changed)
            .await
            .expect("lean update");
        let stored = full_api.get("one").await.expect("get");
        assert!(has_fields(&stored), "{stored:?}");
        // So does a patch, and its answer is lean too.
        let patched = lean_api
            .patch(
                "one",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(serde_json::json!({"data": {"a": "d"}})),
            )
            .await
            .expect("lean patch");
        assert!(!has_fields(&patched), "{patched:?}");
        assert!(has_fields(&full_api.get("one").await.expect("get")));
        shutdown.cancel();
    }
}
