//! skiff's Kubernetes API server: the HTTPS surface (discovery, REST verbs, watch, patch,
//! tables, authentication) over a `store::Backend`. Components such as controllers reach it
//! through the same router in-process (`ApiServer::service_for`), never by calling into it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use api::ApiError;
use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{StatusCode, header};
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub mod admission;
pub mod auth;
#[cfg(feature = "client")]
pub mod client;
pub mod clock;
mod codec;
pub mod crd;
pub mod deletion;
pub mod discovery;
pub mod field_manager;
pub mod field_validation;
mod mirror;
pub mod negotiate;
pub mod openapi;
pub mod patch;
pub mod pki;
pub mod protobuf;
pub mod registry;
pub mod request;
pub mod rest;
mod serve;
pub mod service_account_admission;
pub mod services;
pub mod subresources;
pub mod table;
pub mod watch;

pub use auth::Identity;
pub use pki::Pki;
pub use registry::{Registry, Resources};
pub use serve::serve_tls;

/// The Kubernetes version skiff serves.
pub const KUBERNETES_VERSION: &str = "v1.33.5";

/// Namespaces every cluster has from its first start.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// The service CIDR EKS uses when the VPC is not in 10.0.0.0/8.
pub const DEFAULT_SERVICE_CIDR: &str = "10.100.0.0/16";

/// API server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// How often history older than one interval is compacted (kube-apiserver: 5 minutes).
    pub compaction_interval: Duration,
    /// The `host:port` clients reach the server at, advertised by `/api`.
    pub advertise_address: String,
    /// The IPv4 range Service ClusterIPs come from (`--service-cluster-ip-range`).
    pub service_cidr: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            compaction_interval: Duration::from_secs(300),
            advertise_address: "127.0.0.1:6443".into(),
            service_cidr: DEFAULT_SERVICE_CIDR.into(),
        }
    }
}

/// State shared by every request.
pub struct ServerState {
    /// The object registry.
    pub registry: Arc<Registry>,
    /// Address advertised in `/api` (`host:port`).
    pub advertise_address: String,
    /// Cancelled when the server stops; ends watches.
    pub shutdown: CancellationToken,
    ready: AtomicBool,
    admin_token: Option<String>,
    /// Signs service-account tokens; set from the data directory's `sa.key`, or generated
    /// in memory at first use.
    token_signer: std::sync::OnceLock<Arc<pki::TokenSigner>>,
    /// OpenAPI documents of the resource table generation they were built for.
    openapi: std::sync::Mutex<Option<(u64, Arc<openapi::Documents>)>>,
    /// The kubelets' connection (`pods/log`), set once the simulated nodes start.
    kubelet: std::sync::OnceLock<Arc<dyn api::kubelet::KubeletConnection>>,
}

impl ServerState {
    /// The connection to the kubelets, if simulated nodes run.
    pub fn kubelet(&self) -> Option<&Arc<dyn api::kubelet::KubeletConnection>> {
        self.kubelet.get()
    }

    /// The service-account token signer (an in-memory key when none was configured).
    pub fn token_signer(&self) -> Result<Arc<pki::TokenSigner>, ApiError> {
        if let Some(s) = self.token_signer.get() {
            return Ok(s.clone());
        }
        let signer =
            Arc::new(pki::TokenSigner::generate().map_err(|e| ApiError::Internal(e.to_string()))?);
        Ok(self.token_signer.get_or_init(|| signer).clone())
    }
}

/// A configured API server.
#[derive(Clone)]
pub struct ApiServer {
    state: Arc<ServerState>,
    config: Config,
}

impl ApiServer {
    /// An API server over `store`. `admin_token` is accepted as a bearer token for the admin.
    pub fn new(
        store: Arc<dyn store::Backend>,
        config: Config,
        admin_token: Option<String>,
        shutdown: CancellationToken,
    ) -> Self {
        let resources = Arc::new(Resources::builtin());
        let state = Arc::new(ServerState {
            registry: Arc::new(
                Registry::new(store, resources).with_service_cidr(&config.service_cidr),
            ),
            advertise_address: config.advertise_address.clone(),
            shutdown,
            ready: AtomicBool::new(false),
            admin_token,
            token_signer: std::sync::OnceLock::new(),
            openapi: std::sync::Mutex::new(None),
            kubelet: std::sync::OnceLock::new(),
        });
        ApiServer { state, config }
    }

    /// Signs service-account tokens with the RSA key in `private_pem` (`<data dir>/pki/sa.key`).
    pub fn set_service_account_key(&self, private_pem: &str) -> Result<(), pki::PkiError> {
        let signer = pki::TokenSigner::from_pem(private_pem)?;
        // Set once at start-up; a second call keeps the first key.
        let _ = self.state.token_signer.set(Arc::new(signer));
        Ok(())
    }

    /// Hands the API server the kubelets' connection for `pods/log`; the first call wins.
    pub fn set_kubelet(&self, kubelet: Arc<dyn api::kubelet::KubeletConnection>) {
        let _ = self.state.kubelet.set(kubelet);
    }

    /// The registry (for bootstrap and tests).
    pub fn registry(&self) -> &Arc<Registry> {
        &self.state.registry
    }

    /// First-start setup (system namespaces), then marks the server ready and starts the
    /// periodic compactor.
    pub async fn bootstrap(&self) -> Result<(), ApiError> {
        self.state.registry.ensure_cluster_identity().await?;
        for ns in SYSTEM_NAMESPACES {
            self.state.registry.ensure_namespace(ns).await?;
        }
        crd::sync(&self.state.registry).await?;
        admission::ensure_system_priority_classes(&self.state.registry).await?;
        services::ensure_kubernetes_service(&self.state.registry, &self.state.advertise_address)
            .await?;
        self.state
            .registry
            .start_mirrors(self.state.shutdown.clone());
        self.state.ready.store(true, Ordering::SeqCst);
        tokio::spawn(compactor(
            self.state.registry.store().clone(),
            self.config.compaction_interval,
            self.state.shutdown.clone(),
        ));
        Ok(())
    }

    /// The HTTP router (requests must carry an `Identity` extension to be authenticated).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/version", get(version))
            .route("/healthz", get(health))
            .route("/livez", get(health))
            .route("/readyz", get(ready))
            .route("/healthz/{*check}", get(health))
            .route("/livez/{*check}", get(health))
            .route("/readyz/{*check}", get(ready))
            .route("/openapi/v2", get(openapi::v2))
            .route("/openapi/v3", get(openapi::v3_index))
            .route("/openapi/v3/{*path}", get(openapi::v3_document))
            .fallback(dispatch)
            .with_state(self.state.clone())
    }

    /// The router as a service whose every request is made as `identity`: the in-process
    /// transport controllers' clients ride on.
    pub fn service_for(
        &self,
        identity: Identity,
    ) -> impl tower::Service<
        http::Request<axum::body::Body>,
        Response = Response,
        Error = std::convert::Infallible,
        Future = impl Send + 'static,
    > + Clone
    + Send
    + 'static {
        let router = self.router();
        tower::ServiceExt::map_request(router, move |mut req: http::Request<axum::body::Body>| {
            req.extensions_mut().insert(identity.clone());
            req
        })
    }
}

/// A request extension that makes the API server leave `metadata.managedFields` out of the
/// objects it answers with (get, list, watch events, and the objects create, update, patch,
/// apply and delete return). skiff's own
/// components set it on their in-process clients: none of them reads managed fields, and
/// every informer cache would otherwise hold them. It is upstream's informer transform
/// `TransformStripManagedFields` (kube-scheduler and kube-controller-manager strip them from
/// their caches) done once at the source, which also saves encoding and decoding them. It
/// cannot be set over HTTP: external clients always get whole objects. An update sent
/// without managedFields keeps the stored ones, so nothing is lost on writes.
#[derive(Debug, Clone, Copy)]
pub struct LeanReads;

/// The key that coordinates compaction between the servers of one cluster
/// (kube-apiserver's `compact_rev_key`).
pub const COMPACT_KEY: &str = "/skiff.dev/compact-rev";

/// Compacts the store every `every`, coordinated between every server sharing it as
/// kube-apiserver does: each tick a server tries to claim the interval with a
/// compare-and-swap on [`COMPACT_KEY`]; only the winner compacts, up to the revision of one
/// interval earlier (so history is kept for at least one interval), and the others take
/// note of the claim. One compaction per interval, whatever the number of servers.
pub async fn compactor(
    store: Arc<dyn store::Backend>,
    every: Duration,
    shutdown: CancellationToken,
) {
    // The claim key's revision when this server last saw it (`None`: absent).
    let mut seen: Option<i64> = match store.get(COMPACT_KEY, 0).await {
        Ok(kv) => kv.map(|kv| kv.mod_revision),
        Err(_) => None,
    };
    // The revision observed at the previous tick: what the next claim compacts to.
    let mut previous: i64 = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let Ok(current) = store.current_revision().await else {
            continue;
        };
        let value = current.to_string().into_bytes();
        let claim = match seen {
            None => store.create(COMPACT_KEY, value).await,
            Some(revision) => store.update(COMPACT_KEY, value, revision).await,
        };
        match claim {
            Ok(kv) => {
                seen = Some(kv.mod_revision);
                if previous > 0
                    && let Err(e) = store.compact(previous).await
                {
                    tracing::warn!(error = %e, revision = previous, "compaction failed");
                }
            }
            // Another server claimed this interval: follow its claim (a conflict carries it;
            // a vanished key is claimed afresh next time).
            Err(store::Error::Conflict { current, .. }) => {
                seen = current.map(|kv| kv.mod_revision);
            }
            Err(store::Error::NotFound(_)) => seen = None,
            Err(store::Error::KeyExists(_)) => {
                seen = store
                    .get(COMPACT_KEY, 0)
                    .await
                    .ok()
                    .flatten()
                    .map(|kv| kv.mod_revision);
            }
            Err(e) => tracing::warn!(error = %e, "claiming the compaction interval failed"),
        }
        previous = current;
    }
}

async fn version() -> Response {
    let minor = KUBERNETES_VERSION.split('.').nth(1).unwrap_or("33");
    negotiate::json_response(
        StatusCode::OK,
        &json!({
            "major": "1",
            "minor": minor,
            "emulationMajor": "1",
            "emulationMinor": minor,
            "minCompatibilityMajor": "1",
            "minCompatibilityMinor": (minor.parse::<u32>().unwrap_or(33) - 1).to_string(),
            "gitVersion": format!("{KUBERNETES_VERSION}-skiff.{}", env!("CARGO_PKG_VERSION")),
            "gitCommit": "",
            "gitTreeState": "clean",
            "buildDate": "",
            "goVersion": "",
            "compiler": "rustc",
            "platform": format!("{}/{}", std::env::consts::OS, if std::env::consts::ARCH == "x86_64" { "amd64" } else if std::env::consts::ARCH == "aarch64" { "arm64" } else { std::env::consts::ARCH }),
        }),
    )
}

fn text(code: StatusCode, body: String) -> Response {
    let mut r = (code, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    r
}

async fn health(req: Request) -> Response {
    let verbose = req.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "verbose" || p.starts_with("verbose="))
    });
    if verbose {
        text(
            StatusCode::OK,
            "[+]ping ok\n[+]log ok\n[+]etcd ok\nhealthz check passed\n".into(),
        )
    } else {
        text(StatusCode::OK, "ok".into())
    }
}

async fn ready(State(state): State<Arc<ServerState>>, req: Request) -> Response {
    let ready = state.ready.load(Ordering::SeqCst) && !state.shutdown.is_cancelled();
    let verbose = req.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "verbose" || p.starts_with("verbose="))
    });
    let mark = if ready { "[+]" } else { "[-]" };
    let store_line = format!(
        "{mark}etcd-readiness {}\n",
        if ready {
            "ok"
        } else {
            "failed: reason withheld"
        }
    );
    match (ready, verbose) {
        (true, false) => text(StatusCode::OK, "ok".into()),
        (true, true) => text(
            StatusCode::OK,
            format!("[+]ping ok\n{store_line}readyz check passed\n"),
        ),
        (false, _) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("[+]ping ok\n{store_line}readyz check failed\n"),
        ),
    }
}

async fn dispatch(State(state): State<Arc<ServerState>>, mut req: Request) -> Response {
    // Bearer tokens authenticate requests that did not present a client certificate.
    if req.extensions().get::<Identity>().is_none()
        && let Some(auth) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        && let Some(token) = auth.strip_prefix("Bearer ")
    {
        match &state.admin_token {
            Some(t) if t == token.trim() => {
                req.extensions_mut()
                    .insert(Identity::user(pki::ADMIN_USER, &[pki::ADMIN_GROUP]));
            }
            _ => return negotiate::error_response(&ApiError::Unauthorized),
        }
    }
    let path = req.uri().path();
    if path == "/api" || path.starts_with("/api/") || path == "/apis" || path.starts_with("/apis/")
    {
        return rest::handle(state, req).await;
    }
    let who = req
        .extensions()
        .get::<Identity>()
        .cloned()
        .unwrap_or_else(Identity::anonymous);
    if let Err(e) = auth::authorize_path(&who, "get", path) {
        return negotiate::error_response(&e);
    }
    negotiate::error_response(&ApiError::NoSuchPath)
}

#[cfg(test)]
mod compaction_tests {
    use std::sync::Arc;

    /// A store that counts compactions (to see how many servers compacted).
    struct Counting {
        inner: Arc<dyn store::Backend>,
        compactions: Arc<std::sync::atomic::AtomicUsize>,
    }

    #[async_trait::async_trait]
    impl store::Backend for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        async fn get(
            &self,
            key: &str,
            revision: store::Revision,
        ) -> store::Result<Option<store::KeyValue>> {
            self.inner.get(key, revision).await
        }
        async fn list(
            &self,
            prefix: &str,
            opts: store::ListOptions,
        ) -> store::Result<store::ListResult> {
            self.inner.list(prefix, opts).await
        }
        async fn count(&self, prefix: &str) -> store::Result<u64> {
            self.inner.count(prefix).await
        }
        async fn create(&self, key: &str, value: Vec<u8>) -> store::Result<store::KeyValue> {
            self.inner.create(key, value).await
        }
        async fn update(
            &self,
            key: &str,
            value: Vec<u8>,
            expected: store::Revision,
        ) -> store::Result<store::KeyValue> {
            self.inner.update(key, value, expected).await
        }
        async fn delete(
            &self,
            key: &str,
            expected: Option<store::Revision>,
        ) -> store::Result<store::Event> {
            self.inner.delete(key, expected).await
        }
        async fn watch(
            &self,
            prefix: &str,
            from: store::Revision,
        ) -> store::Result<store::WatchStream> {
            self.inner.watch(prefix, from).await
        }
        async fn compact(&self, revision: store::Revision) -> store::Result<()> {
            self.compactions
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.compact(revision).await
        }
        async fn current_revision(&self) -> store::Result<store::Revision> {
            self.inner.current_revision().await
        }
        async fn compacted_revision(&self) -> store::Result<store::Revision> {
            self.inner.compacted_revision().await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn servers_sharing_a_store_compact_once_per_interval_between_them() {
        let shared: Arc<dyn store::Backend> = Arc::new(store::MemoryBackend::new());
        let compactions = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = tokio_util::sync::CancellationToken::new();
        let every = std::time::Duration::from_millis(100);
        let servers: Vec<_> = (0..3)
            .map(|_| {
                let store: Arc<dyn store::Backend> = Arc::new(Counting {
                    inner: shared.clone(),
                    compactions: compactions.clone(),
                });
                tokio::spawn(crate::compactor(store, every, stop.clone()))
            })
            .collect();
        // Writes meanwhile, so there is something to compact.
        for i in 0..40 {
            shared
                .create(&format!("/registry/core/configmaps/default/c{i}"), vec![1])
                .await
                .expect("create");
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        stop.cancel();
        for s in servers {
            let _ = s.await;
        }
        let n = compactions.load(std::sync::atomic::Ordering::SeqCst);
        // About 10 intervals passed: three uncoordinated servers would compact ~27 times.
        assert!(
            (4..=12).contains(&n),
            "{n} compactions in about 10 intervals"
        );
        assert!(shared.compacted_revision().await.expect("compacted") > 0);
    }
}
