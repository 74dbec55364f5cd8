//! Test support: start a real skiff cluster in-process on a loopback port with a durable
//! store in a temporary directory, and talk to it over HTTPS with kube-rs exactly as a user
//! would (the client is built from the kubeconfig skiff writes).

/// Throwaway etcd processes (shared with the benchmark).
pub mod etcd {
    pub use skiff::bench::etcd::{TestEtcd, TestEtcdCluster};
}

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use skiff::{Running, StoreKind, UpConfig};

/// How long a test waits for something the cluster should do promptly.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A running cluster for one test.
pub struct TestCluster {
    /// A kube-rs client over real HTTPS, authenticated as the kubeconfig's admin.
    pub client: kube::Client,
    running: Option<Running>,
    dir: PathBuf,
    options: ClusterOptions,
    _temp: Option<tempfile::TempDir>,
}

/// What kind of cluster a test starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterOptions {
    /// Simulated nodes (0: the API server and controllers only, no scheduler work to see).
    pub nodes: usize,
    /// Speed of the simulation clock.
    pub speed: f64,
    /// An eksctl ClusterConfig to run instead of the default cluster (`nodes` is then
    /// ignored).
    pub cluster_yaml: Option<&'static str>,
}

impl Default for ClusterOptions {
    /// An API server with its controllers and scheduler but no nodes, on real time.
    fn default() -> Self {
        ClusterOptions {
            nodes: 0,
            speed: 1.0,
            cluster_yaml: None,
        }
    }
}

impl TestCluster {
    /// Starts a cluster without nodes on SQLite in a fresh temporary directory.
    pub async fn start() -> anyhow::Result<TestCluster> {
        Self::start_with(ClusterOptions::default()).await
    }

    /// Starts a cluster of `options` on SQLite in a fresh temporary directory.
    pub async fn start_with(options: ClusterOptions) -> anyhow::Result<TestCluster> {
        let temp = tempfile::tempdir().context("creating a temporary data directory")?;
        let dir = temp.path().to_path_buf();
        let mut c = Self::start_in_with(&dir, options).await?;
        c._temp = Some(temp);
        Ok(c)
    }

    /// Starts a cluster without nodes on SQLite in `dir` (reusing whatever state is there).
    pub async fn start_in(dir: &Path) -> anyhow::Result<TestCluster> {
        Self::start_in_with(dir, ClusterOptions::default()).await
    }

    /// Starts a cluster of `options` on SQLite in `dir` (reusing whatever state is there).
    pub async fn start_in_with(dir: &Path, options: ClusterOptions) -> anyhow::Result<TestCluster> {
        let clock = api::clock::Clock::with_speed(options.speed).map_err(anyhow::Error::msg)?;
        let cluster = match options.cluster_yaml {
            Some(yaml) => Some(
                eks::config::load(yaml, 0)
                    .map_err(|e| anyhow::anyhow!("the test's cluster file: {e}"))?
                    .0,
            ),
            None => None,
        };
        let cfg = UpConfig {
            store: StoreKind::Sqlite,
            nodes: options.nodes,
            cluster,
            clock,
            ..UpConfig::new(
                dir.to_path_buf(),
                "127.0.0.1:0".parse().context("loopback address")?,
            )
        };
        let running = skiff::up(cfg).await.context("skiff up")?;
        let client = client_from_kubeconfig(&running.kubeconfig).await?;
        // Tests start from a settled cluster: the controllers have put the default service
        // account and the root CA configmap in every system namespace.
        for ns in apiserver::SYSTEM_NAMESPACES {
            wait_for_namespace_defaults(&client, ns).await?;
        }
        Ok(TestCluster {
            client,
            running: Some(running),
            dir: dir.to_path_buf(),
            options,
            _temp: None,
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// The admin kubeconfig skiff wrote.
    pub fn kubeconfig(&self) -> PathBuf {
        skiff::kubeconfig_path(&self.dir)
    }

    /// The running cluster.
    pub fn running(&self) -> &Running {
        match &self.running {
            Some(r) => r,
            None => unreachable!("a TestCluster always holds its cluster until stopped"),
        }
    }

    /// Stops the cluster and starts it again on the same data directory.
    pub async fn restart(mut self) -> anyhow::Result<TestCluster> {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        let temp = self._temp.take();
        let mut c = Self::start_in_with(&self.dir, self.options).await?;
        c._temp = temp;
        Ok(c)
    }

    /// Stops the cluster.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// A kube-rs client from a kubeconfig file (real HTTPS, client-certificate auth).
pub async fn client_from_kubeconfig(path: &Path) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .context("loading the kubeconfig")?;
    kube::Client::try_from(config).context("building the client")
}

/// Waits until namespace `ns` holds what controllers put in every namespace: the `default`
/// ServiceAccount and the `kube-root-ca.crt` ConfigMap.
pub async fn wait_for_namespace_defaults(client: &kube::Client, ns: &str) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
    let sas: kube::Api<ServiceAccount> = kube::Api::namespaced(client.clone(), ns);
    let cms: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), ns);
    eventually(
        &format!("the default service account and kube-root-ca.crt in namespace {ns}"),
        || {
            let (sas, cms) = (sas.clone(), cms.clone());
            async move {
                let sa = sas.get_opt("default").await.ok().flatten();
                let cm = cms.get_opt("kube-root-ca.crt").await.ok().flatten();
                (sa.is_some() && cm.is_some()).then_some(())
            }
        },
    )
    .await
}

/// Waits for `check` to return `Some`, polling; fails with `what` after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
