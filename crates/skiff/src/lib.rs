//! Wiring for `skiff up`: open the store, set up credentials, start the API server, then the
//! components (as in-process API clients) in readiness order, all stopped by one token.
//! `main.rs` only parses the command line and calls into here; tests start the same cluster.

pub mod bench;
mod eks_cluster;
pub mod ops;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use apiserver::{ApiServer, Pki};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Which store backs the cluster (`--store`): `sqlite`, `memory` or
/// `etcd://host:port[,host:port...]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreKind {
    /// SQLite file in the data directory (durable; the default).
    #[default]
    Sqlite,
    /// In memory only: everything is lost when skiff stops.
    Memory,
    /// An etcd v3 cluster (3.4 or newer).
    Etcd(EtcdStore),
}

/// Where etcd is and how to authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EtcdStore {
    /// `host:port` of each member to talk to.
    pub endpoints: Vec<String>,
    /// CA bundle (PEM) that signed etcd's server certificates; any TLS file switches to TLS.
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM), given together with `key`.
    pub cert: Option<PathBuf>,
    /// Client private key (PEM).
    pub key: Option<PathBuf>,
}

impl EtcdStore {
    /// Whether any TLS file is set (then every endpoint is spoken to over TLS).
    pub fn uses_tls(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some()
    }
}

impl std::str::FromStr for StoreKind {
    type Err = String;

    fn from_str(s: &str) -> Result<StoreKind, String> {
        match s {
            "sqlite" => return Ok(StoreKind::Sqlite),
            "memory" => return Ok(StoreKind::Memory),
            _ => {}
        }
        let Some(list) = s.strip_prefix("etcd://") else {
            return Err(format!(
                "invalid store {s:?}: expected sqlite, memory or etcd://host:port[,host:port...]"
            ));
        };
        let mut endpoints = Vec::new();
        for endpoint in list.split(',') {
            let valid = endpoint
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
                && !endpoint.contains('/');
            if !valid {
                return Err(format!(
                    "invalid etcd endpoint {endpoint:?} in {s:?}: expected host:port"
                ));
            }
            endpoints.push(endpoint.to_owned());
        }
        Ok(StoreKind::Etcd(EtcdStore {
            endpoints,
            ..EtcdStore::default()
        }))
    }
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreKind::Sqlite => f.write_str("sqlite"),
            StoreKind::Memory => f.write_str("memory"),
            StoreKind::Etcd(etcd) => write!(f, "etcd://{}", etcd.endpoints.join(",")),
        }
    }
}

/// Settings of `skiff up`.
#[derive(Debug, Clone)]
pub struct UpConfig {
    /// Where the store, credentials and kubeconfig live.
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Store backend.
    pub store: StoreKind,
    /// Start the control plane's components: the controllers and the scheduler.
    pub controllers: bool,
    /// Serve the API over HTTPS on `listen` (false for `--role controllers`: the components
    /// use an in-process API server over the shared store).
    pub serve: bool,
    /// The EKS cluster to run (`skiff up -f`, parsed with [`load_cluster_file`]); without
    /// one, eksctl's default cluster with `nodes` nodes in its node group.
    pub cluster: Option<eks::config::Cluster>,
    /// How many nodes the default cluster's node group has (0: none, an API-only server
    /// without the simulated AWS). Ignored when `cluster` is given.
    pub nodes: usize,
    /// The simulation clock (its speed compresses back-offs, probes, grace periods).
    pub clock: api::clock::Clock,
    /// Seed of every random choice of the simulation (instance IDs, tie-breaks).
    pub seed: u64,
    /// A YAML file of images to add to the simulated registry's catalog.
    pub image_catalog: Option<PathBuf>,
}

impl UpConfig {
    /// eksctl's default cluster (two m5.large nodes, real time) in `data_dir` on `listen`.
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> UpConfig {
        UpConfig {
            data_dir,
            listen,
            store: StoreKind::Sqlite,
            controllers: true,
            serve: true,
            cluster: None,
            nodes: 2,
            clock: api::clock::Clock::REAL_TIME,
            seed: 0,
            image_catalog: None,
        }
    }
}

/// Why `skiff up` could not start.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// The data directory could not be created.
    #[error("creating the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The store could not be opened (includes "in use by another skiff").
    #[error("opening the store in {path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: store::Error,
    },
    /// etcd could not be reached (or this skiff was built without the `etcd` feature).
    #[error("opening the etcd store {store}")]
    Etcd {
        store: String,
        #[source]
        source: store::Error,
    },
    /// The listen address could not be bound.
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Credentials could not be created or loaded.
    #[error("setting up credentials: {0}")]
    Pki(#[from] apiserver::pki::PkiError),
    /// First-start bootstrap failed.
    #[error("bootstrapping the cluster: {0}")]
    Bootstrap(#[from] api::ApiError),
    /// The cluster file could not be read or is invalid.
    #[error("reading the cluster file {path}: {message}")]
    ClusterFile { path: PathBuf, message: String },
    /// The user's image catalog could not be read or parsed.
    #[error("reading the image catalog {path}: {message}")]
    ImageCatalog { path: PathBuf, message: String },
    /// A simulated node could not be registered.
    #[error("starting simulated node {node}: {source}")]
    Node {
        node: String,
        #[source]
        source: Box<node_agent::Error>,
    },
}

/// A running cluster.
pub struct Running {
    /// `https://host:port` of the API server.
    pub server_url: String,
    /// The address actually bound.
    pub addr: SocketAddr,
    /// Path of the admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// The API server (for in-process clients).
    pub server: ApiServer,
    /// The simulated kubelets, when the cluster has nodes.
    pub node_agent: Option<node_agent::NodeAgent>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    /// Held for the cluster's life when the store does not lock the data directory itself.
    _dir_lock: Option<store::DirLock>,
}

impl Running {
    /// A kube-rs client that reaches the API in-process as `user`/`groups` (no TCP).
    pub fn in_process_client(&self, user: &str, groups: &[&str]) -> kube::Client {
        in_process_client(&self.server, user, groups)
    }

    /// The token that stops everything.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops every component and the server, waiting for them to finish.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// A kube-rs client over the in-process transport of `server`.
pub fn in_process_client(server: &ApiServer, user: &str, groups: &[&str]) -> kube::Client {
    apiserver::client::in_process(server, user, groups)
}

/// The in-process client of one of skiff's own components: objects come without
/// `managedFields`, which no component reads ([`apiserver::LeanReads`]); its writes are
/// managed by `agent` (`kubelet`, `kube-scheduler`, ...), as the upstream component's are.
fn component_client(server: &ApiServer, user: &str, groups: &[&str], agent: &str) -> kube::Client {
    apiserver::client::in_process_lean(server, user, groups, agent)
}

/// The default data directory: `$XDG_DATA_HOME/skiff`, else `~/.local/share/skiff`.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("skiff");
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/skiff"),
        None => PathBuf::from(".skiff"),
    }
}

/// The store key holding the cluster's shared credentials.
const PKI_KEY: &str = "/skiff.dev/pki";

/// The cluster's credentials: the ones the store holds (written by the first server of the
/// cluster, so every server on one etcd has the same CA, admin token and service-account key,
/// and one kubeconfig works against all of them), else this data directory's, which are
/// then stored for the others. The serving certificate is this server's own, signed by the
/// shared CA.
async fn shared_pki(
    store: &dyn store::Backend,
    data_dir: &Path,
    ip: std::net::IpAddr,
) -> Result<Pki, UpError> {
    let storage = |e: store::Error| UpError::Bootstrap(api::ApiError::Internal(e.to_string()));
    for _ in 0..3 {
        if let Some(kv) = store.get(PKI_KEY, 0).await.map_err(storage)? {
            let shared: serde_json::Value = serde_json::from_slice(&kv.value).map_err(|e| {
                UpError::Bootstrap(api::ApiError::Internal(format!(
                    "the stored credentials ({PKI_KEY}) are not JSON: {e}"
                )))
            })?;
            apiserver::pki::import_shared(data_dir, &shared)?;
            return Ok(Pki::load_or_create(data_dir, Some(ip))?);
        }
        let pki = Pki::load_or_create(data_dir, Some(ip))?;
        let shared = apiserver::pki::export_shared(data_dir)?;
        match store.create(PKI_KEY, shared.to_string().into_bytes()).await {
            Ok(_) => return Ok(pki),
            // Another server stored its credentials first: use those.
            Err(store::Error::KeyExists(_)) => continue,
            Err(e) => return Err(storage(e)),
        }
    }
    Err(UpError::Bootstrap(api::ApiError::Internal(
        "the cluster's credentials could not be agreed on with the other servers".into(),
    )))
}

/// Opens the configured store.
async fn open_store(cfg: &UpConfig) -> Result<Arc<dyn store::Backend>, UpError> {
    Ok(match &cfg.store {
        StoreKind::Memory => Arc::new(store::MemoryBackend::new()),
        StoreKind::Sqlite => {
            let path = cfg.data_dir.join("state.db");
            let backend = store::SqliteBackend::open(&path).map_err(|source| UpError::Store {
                path: path.clone(),
                source,
            })?;
            Arc::new(backend)
        }
        StoreKind::Etcd(etcd) => open_etcd(etcd).await.map_err(|source| UpError::Etcd {
            store: cfg.store.to_string(),
            source,
        })?,
    })
}

#[cfg(feature = "etcd")]
async fn open_etcd(etcd: &EtcdStore) -> Result<Arc<dyn store::Backend>, store::Error> {
    let tls = etcd.uses_tls().then(|| store::EtcdTls {
        ca: etcd.ca.clone(),
        cert: etcd.cert.clone(),
        key: etcd.key.clone(),
    });
    let options = store::EtcdOptions {
        tls,
        ..Default::default()
    };
    Ok(Arc::new(
        store::EtcdBackend::connect(&etcd.endpoints, options).await?,
    ))
}

#[cfg(not(feature = "etcd"))]
async fn open_etcd(_: &EtcdStore) -> Result<Arc<dyn store::Backend>, store::Error> {
    Err(store::Error::Unsupported {
        backend: "etcd",
        what: "this skiff was built without the `etcd` feature".into(),
    })
}

/// Starts a cluster: returns once the API is ready and the kubeconfig is written.
pub async fn up(cfg: UpConfig) -> Result<Running, UpError> {
    let catalog = image_catalog(cfg.image_catalog.as_deref())?;
    std::fs::create_dir_all(&cfg.data_dir).map_err(|source| UpError::DataDir {
        path: cfg.data_dir.clone(),
        source,
    })?;
    // The SQLite backend locks the data directory itself; on another store, skiff does: two
    // servers on one directory would share a leader identity and both lead.
    let dir_lock = match cfg.store {
        StoreKind::Sqlite => None,
        _ => {
            let path = cfg.data_dir.join("state.db");
            Some(store::DirLock::acquire(&path).map_err(|source| UpError::Store { path, source })?)
        }
    };
    let store = open_store(&cfg).await?;
    let listener = if cfg.serve {
        Some(
            TcpListener::bind(cfg.listen)
                .await
                .map_err(|source| UpError::Listen {
                    addr: cfg.listen,
                    source,
                })?,
        )
    } else {
        None
    };
    let addr = match &listener {
        Some(l) => l.local_addr().map_err(|source| UpError::Listen {
            addr: cfg.listen,
            source,
        })?,
        // Not serving: the in-process API server advertises the usual port.
        None => SocketAddr::from(([127, 0, 0, 1], 6443)),
    };
    let pki = shared_pki(store.as_ref(), &cfg.data_dir, addr.ip()).await?;
    let tls = pki.server_config()?;
    let client_host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        fmt_host(addr)
    };
    let server_url = format!("https://{client_host}:{}", addr.port());
    let shutdown = CancellationToken::new();
    let config = apiserver::Config {
        advertise_address: format!("{client_host}:{}", addr.port()),
        ..Default::default()
    };
    let server = ApiServer::new(
        store,
        config,
        Some(pki.admin_token.clone()),
        shutdown.clone(),
    );
    server.set_service_account_key(&pki.sa_key_pem)?;
    server.bootstrap().await?;
    let kubeconfig = cfg.data_dir.join("kubeconfig");
    let mut tasks = Vec::new();
    if let Some(listener) = listener {
        apiserver::pki::write_private(&kubeconfig, &pki.kubeconfig(&server_url))?;
        tasks.push(tokio::spawn(apiserver::serve_tls(
            listener,
            tls,
            server.clone(),
            shutdown.clone(),
        )));
    }
    // This server's name in every election, kept in the data directory.
    let identity = leader_identity(&cfg.data_dir);
    let cluster = match &cfg.cluster {
        Some(c) => Some(c.clone()),
        None if cfg.nodes > 0 => Some(default_cluster(cfg.nodes, cfg.seed)?),
        None => None,
    };
    // One watch and one cache of every pod for this server's controllers, scheduler and
    // kubelets (upstream's shared informers, here shared across components too).
    let pods = (cfg.controllers || cluster.is_some()).then(|| {
        let client = component_client(
            &server,
            "system:kube-controller-manager",
            &[],
            "kube-controller-manager",
        );
        informer::SharedInformer::start(kube::Api::all(client), shutdown.clone())
    });
    if let Some(pods) = pods.clone().filter(|_| cfg.controllers) {
        // The scheduler and the controllers run while this server holds their Leases
        // (kube-system/kube-scheduler, kube-system/kube-controller-manager), so several
        // servers on one etcd stand by for each other.
        let client = component_client(
            &server,
            "system:kube-controller-manager",
            &[],
            "kube-controller-manager",
        );
        let config = controllers::Config {
            root_ca_pem: Some(pki.ca_pem.clone()),
            clock: cfg.clock,
        };
        let election = leader::Config::new("kube-controller-manager", &identity, cfg.clock);
        let work_client = client.clone();
        let controller_pods = pods.clone();
        tasks.push(tokio::spawn(leader::run(
            client,
            election,
            shutdown.clone(),
            move |term| {
                controllers::run_all(
                    work_client.clone(),
                    config.clone(),
                    controller_pods.clone(),
                    term,
                )
            },
        )));
        let client = component_client(&server, "system:kube-scheduler", &[], "kube-scheduler");
        let config = scheduler::Config {
            clock: cfg.clock,
            seed: cfg.seed,
            ..Default::default()
        };
        let election = leader::Config::new("kube-scheduler", &identity, cfg.clock);
        let work_client = client.clone();
        tasks.push(tokio::spawn(leader::run(
            client,
            election,
            shutdown.clone(),
            move |term| run_scheduler(work_client.clone(), config.clone(), pods.clone(), term),
        )));
    }
    let node_agent = match (cluster, pods) {
        (Some(cluster), Some(pods)) => Some(
            start_eks(
                &server,
                &cfg,
                &identity,
                DataPlaneParts {
                    cluster,
                    catalog,
                    pods,
                },
                &shutdown,
                &mut tasks,
            )
            .await?,
        ),
        _ => None,
    };
    Ok(Running {
        server_url,
        addr,
        kubeconfig,
        server,
        node_agent,
        shutdown,
        tasks,
        _dir_lock: dir_lock,
    })
}

/// A store `skiff migrate` reads or writes: `sqlite:DIR` (the store of data directory DIR)
/// or `etcd://host:port[,host:port...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrateStore {
    /// The SQLite store of a data directory.
    Sqlite(PathBuf),
    /// An etcd cluster.
    Etcd(EtcdStore),
}

impl std::str::FromStr for MigrateStore {
    type Err = String;

    fn from_str(s: &str) -> Result<MigrateStore, String> {
        if let Some(dir) = s.strip_prefix("sqlite:") {
            if dir.is_empty() {
                return Err(format!(
                    "invalid store {s:?}: sqlite:DIR needs a data directory"
                ));
            }
            return Ok(MigrateStore::Sqlite(PathBuf::from(dir)));
        }
        match s.parse::<StoreKind>()? {
            StoreKind::Etcd(etcd) => Ok(MigrateStore::Etcd(etcd)),
            _ => Err(format!(
                "invalid store {s:?}: expected sqlite:DIR or etcd://host:port[,host:port...]"
            )),
        }
    }
}

/// Why `skiff migrate` failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateCommandError {
    /// A store could not be opened.
    #[error("opening {store}: {source}")]
    Open {
        store: String,
        #[source]
        source: store::Error,
    },
    /// `--from sqlite:DIR` names a directory without a store.
    #[error(
        "no skiff store in {} ({} is missing): pass the --data-dir of the stopped cluster",
        dir.display(),
        dir.join("state.db").display()
    )]
    NoSource { dir: PathBuf },
    /// A directory for `--to sqlite:DIR` could not be created.
    #[error("creating {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The copy failed.
    #[error(transparent)]
    Migrate(#[from] store::MigrateError),
}

/// Opens one side of a migration: the source must exist; an SQLite target is created (its
/// directory too) when missing.
async fn open_migrate_store(
    spec: &MigrateStore,
    source_side: bool,
) -> Result<Arc<dyn store::Backend>, MigrateCommandError> {
    match spec {
        MigrateStore::Sqlite(dir) => {
            let path = dir.join("state.db");
            if source_side && !path.exists() {
                return Err(MigrateCommandError::NoSource { dir: dir.clone() });
            }
            if !source_side {
                std::fs::create_dir_all(dir).map_err(|source| MigrateCommandError::CreateDir {
                    dir: dir.clone(),
                    source,
                })?;
            }
            store::SqliteBackend::open(&path)
                .map(|b| Arc::new(b) as Arc<dyn store::Backend>)
                .map_err(|source| MigrateCommandError::Open {
                    store: format!("sqlite:{}", dir.display()),
                    source,
                })
        }
        MigrateStore::Etcd(etcd) => {
            open_etcd(etcd)
                .await
                .map_err(|source| MigrateCommandError::Open {
                    store: StoreKind::Etcd(etcd.clone()).to_string(),
                    source,
                })
        }
    }
}

/// `skiff migrate --from FROM --to TO`: copies every object of a stopped cluster's store into
/// an empty one, keeping their resourceVersions when the target starts behind the source
/// (see `store::migrate`). The credentials travel in the store (`/skiff.dev/pki`) and stay in
/// the data directory: run `skiff up --data-dir DIR --store TO` afterwards.
pub async fn migrate(
    from: &MigrateStore,
    to: &MigrateStore,
    progress: impl FnMut(u64, u64),
) -> Result<store::MigrateReport, MigrateCommandError> {
    let source = open_migrate_store(from, true).await?;
    let target = open_migrate_store(to, false).await?;
    Ok(store::migrate(source.as_ref(), target.as_ref(), progress).await?)
}

/// Reads an eksctl cluster file (`skiff up -f`): the cluster, and a warning for each field
/// skiff does not model.
pub fn load_cluster_file(
    path: &Path,
    seed: u64,
) -> Result<(eks::config::Cluster, Vec<eks::config::Warning>), UpError> {
    let err = |message: String| UpError::ClusterFile {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    eks::config::load(&text, seed).map_err(|e| err(e.to_string()))
}

/// eksctl's default cluster in skiff's default region, its node group of `nodes` nodes.
fn default_cluster(nodes: usize, seed: u64) -> Result<eks::config::Cluster, UpError> {
    let config = eks::config::default_cluster(eks::config::DEFAULT_REGION, seed);
    let (mut cluster, _) =
        eks::config::resolve(&config, seed).map_err(|e| UpError::ClusterFile {
            path: PathBuf::from("(eksctl's default cluster)"),
            message: e.to_string(),
        })?;
    let n = u32::try_from(nodes).unwrap_or(u32::MAX);
    if let Some(group) = cluster.node_groups.first_mut() {
        group.desired = n;
        group.min = n;
        group.max = n;
    }
    Ok(cluster)
}

/// What the EKS data plane is made of: the cluster, the images its kubelets know, and the
/// server's shared pod watch its kubelets read.
struct DataPlaneParts {
    cluster: eks::config::Cluster,
    catalog: node_agent::behaviour::Catalog,
    pods: informer::SharedInformer<k8s_openapi::api::core::v1::Pod>,
}

/// Starts the EKS data plane: the simulated cloud, the kubelets of its instances, the node
/// groups and the fargate-scheduler.
async fn start_eks(
    server: &ApiServer,
    cfg: &UpConfig,
    identity: &str,
    parts: DataPlaneParts,
    shutdown: &CancellationToken,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<node_agent::NodeAgent, UpError> {
    let DataPlaneParts {
        cluster,
        catalog,
        pods,
    } = parts;
    let cluster = &cluster;
    let admin = component_client(server, "system:admin", &["system:masters"], "skiff");
    eks_cluster::install_crds(&admin).await?;
    // Every server admits Fargate pods, from the profiles as they are now.
    let profiles = eks::fargate_runtime::Profiles::default();
    if let Err(e) = profiles.refresh(&admin).await {
        tracing::warn!(error = %e, "reading Fargate profiles failed");
    }
    server
        .registry()
        .add_admission_plugin(Arc::new(eks::fargate_runtime::FargateAdmission::new(
            profiles.clone(),
        )));
    tasks.push(tokio::spawn({
        let (profiles, admin, shutdown) = (profiles.clone(), admin.clone(), shutdown.clone());
        async move { profiles.follow(admin, shutdown).await }
    }));
    let slot = Arc::new(eks_cluster::NetworkSlot::default());
    let (started_tx, mut started_rx) = tokio::sync::watch::channel(None);
    let client = component_client(server, "system:node-agent", &["system:nodes"], "kubelet");
    let config = node_agent::Config {
        clock: cfg.clock,
        catalog,
        network: slot.clone(),
        seed: cfg.seed,
    };
    let agent = node_agent::NodeAgent::start_with(client, config, pods, shutdown.clone());
    server.set_kubelet(Arc::new(agent.clone()));
    // The simulated AWS and the kubelets run while this server holds kube-system/skiff-cloud.
    let plane = eks_cluster::DataPlane {
        admin: admin.clone(),
        aws_client: component_client(server, "system:aws", &["system:masters"], "skiff-aws"),
        nodegroup_client: component_client(
            server,
            "eks:nodegroup-controller",
            &["system:masters"],
            "eks-nodegroup-controller",
        ),
        fargate_client: component_client(
            server,
            "eks:fargate-scheduler",
            &["system:masters"],
            "fargate-scheduler",
        ),
        cluster: cluster.clone(),
        from_file: cfg.cluster.is_some(),
        clock: cfg.clock,
        seed: cfg.seed,
        slot,
        agent: agent.clone(),
        profiles,
        started: Arc::new(started_tx),
    };
    let election = leader::Config::new("skiff-cloud", identity, cfg.clock);
    let standby = leader::held_by_other(&admin, &election).await;
    tasks.push(tokio::spawn(leader::run(
        admin,
        election,
        shutdown.clone(),
        move |term| plane.clone().run(term),
    )));
    // Unless another server leads the data plane, ready means provisioned, with the
    // instances' kubelets running again (as a single server always was).
    if !standby {
        let first = tokio::time::timeout(
            std::time::Duration::from_secs(120),
            started_rx.wait_for(Option::is_some),
        )
        .await;
        if let Ok(Ok(state)) = first
            && let Some(Err(message)) = state.clone()
        {
            return Err(UpError::Bootstrap(api::ApiError::Internal(message)));
        }
    }
    Ok(agent)
}

/// The built-in image catalog, extended with the user's file if one is given.
fn image_catalog(path: Option<&Path>) -> Result<node_agent::behaviour::Catalog, UpError> {
    let mut catalog = node_agent::behaviour::Catalog::builtin();
    if let Some(path) = path {
        let err = |message: String| UpError::ImageCatalog {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        catalog
            .extend_from_yaml(&text)
            .map_err(|e| err(e.to_string()))?;
    }
    Ok(catalog)
}

/// Runs the scheduler until shutdown, restarting it after a back-off when it fails.
async fn run_scheduler(
    client: kube::Client,
    config: scheduler::Config,
    pods: informer::SharedInformer<k8s_openapi::api::core::v1::Pod>,
    shutdown: CancellationToken,
) {
    let mut delay = std::time::Duration::from_secs(1);
    loop {
        match scheduler::run_with(
            client.clone(),
            config.clone(),
            pods.clone(),
            shutdown.clone(),
        )
        .await
        {
            Ok(()) if shutdown.is_cancelled() => return,
            Ok(()) => tracing::warn!("the scheduler stopped unexpectedly; restarting it"),
            Err(error) => tracing::error!(error = %error, "the scheduler failed; restarting it"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(std::time::Duration::from_secs(60));
    }
}

/// This server's identity in leader elections: `<hostname>_<uuid>` as client-go builds it,
/// kept in the data directory, so a server restarted after a crash takes its leases back at
/// once instead of waiting for them to expire.
fn leader_identity(data_dir: &Path) -> String {
    let path = data_dir.join("leader-identity");
    if let Ok(id) = std::fs::read_to_string(&path)
        && !id.trim().is_empty()
    {
        return id.trim().to_string();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "skiff".into());
    let id = format!("{host}_{}", uuid::Uuid::new_v4());
    if let Err(e) = std::fs::write(&path, &id) {
        tracing::warn!(path = %path.display(), error = %e, "could not keep the leader identity");
    }
    id
}

fn fmt_host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

/// Reads the admin kubeconfig written by `up`.
pub fn kubeconfig_path(data_dir: &Path) -> PathBuf {
    data_dir.join("kubeconfig")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_values_parse_the_two_words_and_the_etcd_url_form() {
        let etcd = |endpoints: &[&str]| {
            StoreKind::Etcd(EtcdStore {
                endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
                ..EtcdStore::default()
            })
        };
        let cases: &[(&str, StoreKind)] = &[
            ("sqlite", StoreKind::Sqlite),
            ("memory", StoreKind::Memory),
            ("etcd://127.0.0.1:2379", etcd(&["127.0.0.1:2379"])),
            (
                "etcd://a:2379,b.example:2379,[::1]:2379",
                etcd(&["a:2379", "b.example:2379", "[::1]:2379"]),
            ),
        ];
        for (input, want) in cases {
            let got: StoreKind = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(&got, want, "{input}");
            assert_eq!(got.to_string(), *input, "{input} must print as given");
        }
    }

    #[test]
    fn bad_store_values_are_named_in_the_error() {
        for (input, names) in [
            ("postgres", "\"postgres\""),
            ("Sqlite", "\"Sqlite\""),
            ("etcd://", "\"\""),
            ("etcd://host", "\"host\""),
            ("etcd://a:1,b:notaport", "\"b:notaport\""),
            ("etcd://a:1/path", "\"a:1/path\""),
            ("etcd://:2379", "\":2379\""),
        ] {
            let err = input.parse::<StoreKind>().expect_err(input);
            assert!(
                err.contains(names),
                "{input}: error {err:?} must name {names}"
            );
        }
    }
}
