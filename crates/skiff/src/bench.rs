//! `skiff bench`: measures a real skiff process (spawned from `--skiff-bin`) over HTTPS with
//! kube-rs clients, prints a table of figures beside the targets of issue 6 and writes the same
//! figures as JSON. Timings are measured, never asserted: a run succeeds when every scenario
//! ran, whether or not its target held.

mod boot;
mod create;
pub mod etcd;
mod large;
mod list;
mod pods;
mod process;
mod report;
mod watch_fanout;

use std::path::PathBuf;
use std::time::Duration;

pub use report::{Figure, Report, Target};

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Size {
    /// Seconds: every scenario at a tiny size, so the code paths run (CI).
    Smoke,
    /// Minutes: a tenth of the sizes (500 nodes, 15,000 pods), within reach of a
    /// laptop; the step between smoke and full.
    Medium,
    /// The sizes of issue 6 (5,000 nodes, 150,000 pods): takes long and needs memory.
    Full,
}

impl Size {
    /// The name used in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Size::Smoke => "smoke",
            Size::Medium => "medium",
            Size::Full => "full",
        }
    }
}

/// A scenario `skiff bench --only` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Boot (cold and warm) and idle memory.
    Boot,
    /// Create throughput on SQLite.
    Create,
    /// Watch fan-out.
    Watch,
    /// Large list.
    List,
    /// Create throughput on etcd.
    Etcd,
    /// Pod startup.
    Startup,
    /// Scheduling, then scale on the same cluster.
    #[value(alias = "scale")]
    Schedule,
}

impl Scenario {
    /// Every scenario, in run order.
    const ALL: [Scenario; 7] = [
        Scenario::Boot,
        Scenario::Create,
        Scenario::Watch,
        Scenario::List,
        Scenario::Etcd,
        Scenario::Startup,
        Scenario::Schedule,
    ];

    /// Its name on the command line and in the JSON's `only`.
    fn name(self) -> &'static str {
        match self {
            Scenario::Boot => "boot",
            Scenario::Create => "create",
            Scenario::Watch => "watch",
            Scenario::List => "list",
            Scenario::Etcd => "etcd",
            Scenario::Startup => "startup",
            Scenario::Schedule => "schedule",
        }
    }

    /// The JSON keys of its figures.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Scenario::Boot => &["bootMs", "bootWarmMs", "idleRssMiB"],
            Scenario::Create => &["createPerSec"],
            Scenario::Watch => &["watchFanoutWatchers", "watchFanoutP99Ms"],
            Scenario::List => &["listPods", "listPagedMs", "listUnpagedMs"],
            Scenario::Etcd => &["etcdCreatePerSec"],
            Scenario::Startup => &["podStartupP50Ms", "podStartupP99Ms"],
            Scenario::Schedule => &[
                "scheduleNodes",
                "schedulePods",
                "schedulePodsPerSec",
                "scaleNodes",
                "scalePods",
                "scaleRssMiB",
            ],
        }
    }
}

/// Settings of `skiff bench`.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Scenario sizes.
    pub size: Size,
    /// The scenarios to run (empty: all). Figures of the others stay `null`.
    pub only: Vec<Scenario>,
    /// Where to write the JSON figures, if anywhere.
    pub json: Option<PathBuf>,
    /// The `skiff` executable to measure.
    pub skiff_bin: PathBuf,
}

/// Why a scenario could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The skiff executable could not be started.
    #[error("starting {bin}: {source}")]
    Spawn {
        bin: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The skiff process never reported ready.
    #[error("skiff did not become ready ({why}); its stderr ends with:\n{stderr}")]
    NotReady { why: String, stderr: String },
    /// The kubeconfig skiff wrote could not be loaded.
    #[error("loading the kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// An API call failed.
    #[error("{what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// A local file operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Something expected did not happen in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
}

/// Waits on `fut` for at most `after`, naming `what` when it does not finish.
pub(crate) async fn within<T>(
    after: Duration,
    what: &str,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, BenchError> {
    tokio::time::timeout(after, fut)
        .await
        .map_err(|_| BenchError::Timeout {
            what: what.to_string(),
            after,
        })
}

/// Names a failed API call.
pub(crate) fn kube_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> BenchError {
    let what = what.into();
    move |source| BenchError::Kube { what, source }
}

/// Creates namespace `name`.
pub(crate) async fn create_namespace(client: &kube::Client, name: &str) -> Result<(), BenchError> {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    let ns =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).map_err(|e| {
            BenchError::Io {
                what: "building a namespace".into(),
                source: e.into(),
            }
        })?;
    api.create(&kube::api::PostParams::default(), &ns)
        .await
        .map_err(kube_err(format!("creating namespace {name}")))?;
    Ok(())
}

/// Waits until the `default` ServiceAccount of `ns` exists (pods are refused before).
pub(crate) async fn wait_for_service_account(
    client: &kube::Client,
    ns: &str,
) -> Result<(), BenchError> {
    let api: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
        kube::Api::namespaced(client.clone(), ns);
    within(
        Duration::from_secs(60),
        &format!("the default ServiceAccount of namespace {ns}"),
        async {
            while !matches!(api.get_opt("default").await, Ok(Some(_))) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        },
    )
    .await
}

/// A pause pod labelled `bench=<label>`, with optional (cpu, memory) requests and extra
/// fields merged into its spec.
pub(crate) fn pod(
    name: &str,
    label: &str,
    requests: Option<(&str, &str)>,
    extra_spec: serde_json::Value,
) -> k8s_openapi::api::core::v1::Pod {
    let mut container = serde_json::json!({"name": "pause", "image": "registry.k8s.io/pause:3.9"});
    if let Some((cpu, memory)) = requests {
        container["resources"] = serde_json::json!({"requests": {"cpu": cpu, "memory": memory}});
    }
    let mut spec =
        serde_json::json!({"containers": [container], "terminationGracePeriodSeconds": 0});
    if let (Some(s), serde_json::Value::Object(extra)) = (spec.as_object_mut(), extra_spec) {
        s.extend(extra);
    }
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": label}},
        "spec": spec,
    });
    // The document above is a valid Pod by construction.
    serde_json::from_value(doc).unwrap_or_default()
}

/// Creates `total` objects made by `make(i)` in `ns`, spreading the creates over `clients`
/// (one task each, pulling the next index). Returns the elapsed time.
pub(crate) async fn create_all<K>(
    clients: &[kube::Client],
    ns: &str,
    total: usize,
    make: impl Fn(usize) -> K + Send + Sync + 'static,
) -> Result<Duration, BenchError>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default,
{
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let started = std::time::Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let make = Arc::new(make);
    let mut tasks = Vec::new();
    for c in clients {
        let api: kube::Api<K> = kube::Api::namespaced(c.clone(), ns);
        let (next, make) = (next.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok(());
                }
                api.create(&kube::api::PostParams::default(), &make(i))
                    .await
                    .map_err(kube_err(format!("creating object {i}")))?;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| BenchError::Io {
            what: "a create task".into(),
            source: std::io::Error::other(e),
        })??;
    }
    Ok(started.elapsed())
}

/// Runs every scenario, prints the table and writes the JSON. Returns the report; a scenario
/// that failed leaves its figures empty and its error in `Report::errors`.
pub async fn run(cfg: &BenchConfig) -> Report {
    let mut report = Report::new(cfg.size);
    let bin = cfg.skiff_bin.as_path();
    eprintln!(
        "skiff bench --size {}: measuring {} ({} build of the bench driver)",
        cfg.size.name(),
        bin.display(),
        report::build_profile()
    );
    let wanted = |s: Scenario| cfg.only.is_empty() || cfg.only.contains(&s);
    report.only = cfg.only.iter().map(|s| s.name()).collect();
    for s in Scenario::ALL.into_iter().filter(|s| !wanted(*s)) {
        for key in s.keys() {
            report.skip(key);
        }
    }
    macro_rules! scenario {
        ($name:literal, $call:expr) => {{
            eprintln!("  {} …", $name);
            let started = std::time::Instant::now();
            match $call.await {
                Ok(()) => eprintln!(
                    "  {} done in {:.1} s",
                    $name,
                    started.elapsed().as_secs_f64()
                ),
                Err(e) => {
                    eprintln!("  {} FAILED: {}", $name, report::error_chain(&e));
                    report
                        .errors
                        .push(format!("{}: {}", $name, report::error_chain(&e)));
                }
            }
        }};
    }
    if wanted(Scenario::Boot) {
        scenario!(
            "boot and idle memory",
            boot::run(bin, cfg.size, &mut report)
        );
    }
    // Create, watch and list share one API-only skiff (`--nodes 0`; controllers and the
    // scheduler still run).
    let api_only = [Scenario::Create, Scenario::Watch, Scenario::List];
    if api_only.iter().any(|s| wanted(*s)) {
        match process::SkiffProcess::start(bin, &["--nodes".into(), "0".into()], None).await {
            Ok(p) => {
                eprintln!("  started an API-only skiff (--nodes 0)");
                if wanted(Scenario::Create) {
                    scenario!(
                        "create throughput",
                        create::run(&p, cfg.size, &mut report, "createPerSec")
                    );
                }
                if wanted(Scenario::Watch) {
                    scenario!(
                        "watch fan-out",
                        watch_fanout::run(&p, cfg.size, &mut report)
                    );
                }
                if wanted(Scenario::List) {
                    scenario!("large list", list::run(&p, cfg.size, &mut report));
                }
                p.stop().await;
            }
            Err(e) => {
                eprintln!("  the API-only skiff FAILED: {}", report::error_chain(&e));
                report.errors.push(format!(
                    "create, watch fan-out, large list: {}",
                    report::error_chain(&e)
                ));
            }
        }
    }
    // The same burst against a skiff on etcd (Debian's etcd-server on loopback), side by side.
    match wanted(Scenario::Etcd).then(etcd::TestEtcd::start) {
        None => {}
        Some(None) => report.note(
            "etcdCreatePerSec",
            "not measured: the etcd binary is not installed (apt-get install etcd-server)",
        ),
        Some(Some(etcd)) => {
            eprintln!("  starting an API-only skiff on etcd …");
            let args = vec![
                "--nodes".to_string(),
                "0".into(),
                "--store".into(),
                format!("etcd://{}", etcd.endpoint()),
            ];
            match process::SkiffProcess::start(bin, &args, None).await {
                Ok(p) => {
                    scenario!(
                        "create throughput on etcd",
                        create::run(&p, cfg.size, &mut report, "etcdCreatePerSec")
                    );
                    p.stop().await;
                    if let (Some(sqlite), Some(on_etcd)) =
                        (report.get("createPerSec"), report.get("etcdCreatePerSec"))
                        && on_etcd > 0.0
                    {
                        report.note(
                            "etcdCreatePerSec",
                            format!(
                                "the same burst on a skiff with --store etcd:// (etcd on loopback, one member); SQLite/etcd = {:.2}",
                                sqlite / on_etcd
                            ),
                        );
                    }
                }
                Err(e) => {
                    eprintln!("  the skiff on etcd FAILED: {}", report::error_chain(&e));
                    report.errors.push(format!(
                        "create throughput on etcd: {}",
                        report::error_chain(&e)
                    ));
                }
            }
        }
    }
    if wanted(Scenario::Startup) {
        scenario!("pod startup", pods::startup(bin, cfg.size, &mut report));
    }
    if wanted(Scenario::Schedule) {
        scenario!(
            "scheduling and scale",
            pods::schedule_and_scale(bin, cfg.size, &mut report)
        );
    }
    report
}
