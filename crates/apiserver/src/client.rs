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
/// out `metadata.managedFields` (see [`crate::LeanReads`]).
pub fn in_process_lean(server: &ApiServer, user: &str, groups: &[&str]) -> kube::Client {
    let svc = tower::ServiceExt::map_request(
        server.service_for(Identity::user(user, groups)),
        |req: http::Request<kube::client::Body>| {
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(crate::LeanReads);
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
