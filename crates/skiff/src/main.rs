//! The `skiff` command line: parses arguments, starts the cluster, waits for Ctrl-C or
//! SIGTERM, and stops cleanly. Everything else lives in the library crates.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use skiff::{StoreKind, UpConfig};

/// mimalloc rather than the system allocator: a cluster allocates and frees small objects
/// from many threads at once, where glibc's malloc spent a third of the CPU at 5,000 nodes
/// (arena locks, consolidation) and kept freed memory fragmented. It is the default
/// `mimalloc` feature; builds for heap profilers, which need the system allocator, leave it
/// out.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// skiff: one binary that is an EKS cluster on your laptop or CI runner.
#[derive(Parser, Debug)]
#[command(name = "skiff", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a cluster in the foreground (Ctrl-C or SIGTERM stops it).
    ///
    /// Serves the Kubernetes API over HTTPS, runs the scheduler and the controllers, and
    /// simulates the AWS half of EKS: the cluster of an eksctl ClusterConfig (-f), or the
    /// one `eksctl create cluster` makes by default (a VPC with public and private subnets,
    /// a managed node group of 2 m5.large), with the VPC CNI, kube-proxy and CoreDNS
    /// add-ons. Writes DIR/kubeconfig (context `skiff`) before it reports ready (except with
    /// `--role controllers`, which serves nothing).
    /// Restarting on the same data directory serves every object as it was.
    Up(Box<UpArgs>),
    /// List the EC2 instance types skiff knows, with their limits and max pods.
    ///
    /// maxPods is what the EKS AMI's max-pods calculator recommends in each VPC CNI mode
    /// (secondary IPs, custom networking, prefix delegation; capped at 110, or 250 above
    /// 30 vCPUs); eniMaxPods is the ENI formula of eni-max-pods.txt.
    InstanceTypes {
        /// Output format: a table, or `json`.
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
        output: Output,
        /// Only this family (`m5`).
        #[arg(long)]
        family: Option<String>,
    },
    /// Show the cluster's VPC: subnets with their free addresses, each node's ENIs and IPs.
    Vpc {
        #[command(subcommand)]
        action: Option<VpcAction>,
        /// Output format: a table, or `json`.
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
        output: Output,
        /// The cluster's kubeconfig [default: $KUBECONFIG, else the default data directory's].
        #[arg(long, global = true)]
        kubeconfig: Option<PathBuf>,
    },
    /// Copy a stopped cluster's store into an empty one (SQLite to etcd when a cluster
    /// outgrows one machine), keeping every object and its resourceVersion.
    ///
    /// Then start it with `skiff up --data-dir DIR --store TO` (the credentials travel in the
    /// store and stay in the data directory with the kubeconfig). History before the move is
    /// compacted: watches from before it get 410 Gone and list again.
    Migrate {
        /// The store to read: `sqlite:DIR` (a data directory; skiff must not be running on
        /// it) or `etcd://host:port[,host:port...]`.
        #[arg(long, value_name = "STORE")]
        from: skiff::MigrateStore,
        /// The empty store to write: `etcd://host:port[,host:port...]` or `sqlite:DIR` (created
        /// when missing).
        #[arg(long, value_name = "STORE")]
        to: skiff::MigrateStore,
        /// CA bundle (PEM) that signed etcd's server certificates.
        #[arg(long, value_name = "FILE")]
        etcd_cacert: Option<PathBuf>,
        /// Client certificate (PEM) for etcd; needs --etcd-key.
        #[arg(long, value_name = "FILE", requires = "etcd_key")]
        etcd_cert: Option<PathBuf>,
        /// Client private key (PEM) for etcd; needs --etcd-cert.
        #[arg(long, value_name = "FILE", requires = "etcd_cert")]
        etcd_key: Option<PathBuf>,
    },
    /// Managed node groups.
    Nodegroup {
        #[command(subcommand)]
        action: NodegroupAction,
        /// The cluster's kubeconfig [default: $KUBECONFIG, else the default data directory's].
        #[arg(long, global = true)]
        kubeconfig: Option<PathBuf>,
    },
    /// Measure a real skiff process against the targets of issue 6 and print a table.
    ///
    /// Spawns `SKIFF_BIN up` on temporary data directories and loopback port 0, drives it over
    /// HTTPS with kube-rs clients (boot, idle memory, create throughput, watch fan-out, pod
    /// startup, large list, scheduling, scale) and prints each figure beside its target.
    /// Exits 0 when every scenario ran, whether or not the targets held.
    Bench {
        /// How big: `smoke` runs in seconds; `medium` a tenth of the sizes (500
        /// nodes) in minutes; `full` the sizes (5,000 nodes).
        #[arg(long, value_enum, default_value_t = skiff::bench::Size::Smoke)]
        size: skiff::bench::Size,
        /// Also write the figures as JSON to FILE.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Run only these scenarios (comma-separated); the others' figures are null.
        #[arg(long, value_enum, value_delimiter = ',', value_name = "SCENARIO")]
        only: Vec<skiff::bench::Scenario>,
        /// The skiff executable to measure [default: this executable].
        #[arg(long, value_name = "PATH")]
        skiff_bin: Option<PathBuf>,
    },
}

/// Which parts of the control plane a server runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// The API server, scheduler, controllers, simulated AWS and nodes.
    All,
    /// Only the API server (another skiff on the same etcd runs the rest).
    Apiserver,
    /// The scheduler, controllers, simulated AWS and nodes, serving no API (they use the
    /// cluster's store directly; users reach the cluster through an `apiserver` server).
    Controllers,
}

/// Table or JSON.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    /// Aligned columns.
    Table,
    /// One JSON document.
    Json,
}

#[derive(Subcommand, Debug)]
enum VpcAction {
    /// Associate a secondary CIDR block with the VPC (`aws ec2 associate-vpc-cidr-block`).
    AddCidr {
        /// The block, e.g. 100.64.0.0/16.
        cidr: String,
    },
    /// Create a subnet and print its id (`aws ec2 create-subnet`).
    AddSubnet {
        /// Its availability zone, e.g. us-east-1a.
        #[arg(long)]
        az: String,
        /// Its block, inside one of the VPC's blocks.
        #[arg(long)]
        cidr: String,
        /// Make it a public subnet (instances get public addresses).
        #[arg(long)]
        public: bool,
    },
}

#[derive(Subcommand, Debug)]
enum NodegroupAction {
    /// Set a node group's size and wait until its nodes are Ready (`eksctl scale nodegroup`).
    Scale {
        /// The node group.
        name: String,
        /// The desired number of nodes.
        #[arg(long = "nodes", short = 'N')]
        nodes: i64,
        /// New minimum size.
        #[arg(long = "nodes-min", short = 'm')]
        nodes_min: Option<i64>,
        /// New maximum size.
        #[arg(long = "nodes-max", short = 'M')]
        nodes_max: Option<i64>,
        /// How long to wait, in seconds.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
    },
    /// Replace every node, one at a time, as a launch-template change does on EKS: a new
    /// node first, then the old one cordoned, drained (honouring PodDisruptionBudgets) and
    /// terminated.
    Replace {
        /// The node group.
        name: String,
        /// How long to wait, in seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
}

/// The options of `skiff up`.
#[derive(clap::Args, Debug)]
struct UpArgs {
    /// Directory for the store, credentials and kubeconfig
    /// [default: $XDG_DATA_HOME/skiff or ~/.local/share/skiff].
    #[arg(long, env = "SKIFF_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to serve the API on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:6443", env = "SKIFF_LISTEN")]
    listen: SocketAddr,
    /// Where cluster state is stored: `sqlite` (a file in the data directory), `memory`
    /// (lost when skiff stops) or `etcd://host:port[,host:port...]` (an etcd v3 cluster,
    /// 3.4 or newer; keys under /registry/ as kube-apiserver lays them out). With etcd,
    /// several servers share one cluster: the first stores the cluster's credentials under
    /// /skiff.dev/pki and the others take them into their own data directories (give each
    /// server its own --data-dir).
    #[arg(
        long,
        value_name = "STORE",
        default_value = "sqlite",
        env = "SKIFF_STORE"
    )]
    store: StoreKind,
    /// CA bundle (PEM) that signed etcd's server certificates; talks TLS to etcd.
    #[arg(long, value_name = "FILE", env = "SKIFF_ETCD_CACERT")]
    etcd_cacert: Option<PathBuf>,
    /// Client certificate (PEM) for etcd; needs --etcd-key.
    #[arg(
        long,
        value_name = "FILE",
        requires = "etcd_key",
        env = "SKIFF_ETCD_CERT"
    )]
    etcd_cert: Option<PathBuf>,
    /// Client private key (PEM) for etcd; needs --etcd-cert.
    #[arg(
        long,
        value_name = "FILE",
        requires = "etcd_cert",
        env = "SKIFF_ETCD_KEY"
    )]
    etcd_key: Option<PathBuf>,
    /// An eksctl cluster file (`apiVersion: eksctl.io/v1alpha5`, `kind: ClusterConfig`):
    /// region, version, VPC and subnets, managed and self-managed node groups, Fargate
    /// profiles and add-ons. Fields skiff does not model are printed as warnings.
    #[arg(
        short = 'f',
        long = "config-file",
        value_name = "FILE",
        env = "SKIFF_CONFIG_FILE"
    )]
    config_file: Option<PathBuf>,
    /// Nodes of the default cluster's managed node group (m5.large; 0 for an API server
    /// without nodes or simulated AWS). Not used with -f.
    #[arg(
        long,
        default_value_t = 2,
        env = "SKIFF_NODES",
        conflicts_with = "config_file"
    )]
    nodes: usize,
    /// Run simulated time N times faster: back-offs, probe periods, grace periods,
    /// heartbeats and image pulls take 1/N of their real time. Timestamps stay wall-clock.
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed, env = "SKIFF_SPEED")]
    speed: f64,
    /// Seed of the simulation's random choices (instance IDs, scheduling tie-breaks), so a
    /// scenario replays identically.
    #[arg(long, default_value_t = 0, env = "SKIFF_SEED")]
    seed: u64,
    /// A YAML file of images to add to (or override in) the simulated registry: tags
    /// that exist, sizes, and what their containers do (see docs/workloads.md).
    #[arg(long, value_name = "FILE", env = "SKIFF_IMAGE_CATALOG")]
    image_catalog: Option<PathBuf>,
    /// What this server runs: `all`; `apiserver` alone (for another API server on the same
    /// etcd: it shares the cluster's credentials, which the first server stored there, so
    /// one kubeconfig works against every server); or `controllers`: the scheduler,
    /// controllers and EKS data plane without serving the API (each leader-elected).
    #[arg(long, value_enum, default_value_t = Role::All, env = "SKIFF_ROLE", conflicts_with = "config_file")]
    role: Role,
    /// Log filter (tracing env-filter syntax), e.g. `info` or `apiserver=debug`.
    #[arg(long, default_value = "warn", env = "SKIFF_LOG")]
    log: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Up(args) => {
            let UpArgs {
                data_dir,
                listen,
                mut store,
                etcd_cacert,
                etcd_cert,
                etcd_key,
                config_file,
                nodes,
                role,
                speed,
                seed,
                image_catalog,
                log,
            } = *args;
            let tls_flags = etcd_cacert.is_some() || etcd_cert.is_some() || etcd_key.is_some();
            match &mut store {
                StoreKind::Etcd(etcd) => {
                    etcd.ca = etcd_cacert;
                    etcd.cert = etcd_cert;
                    etcd.key = etcd_key;
                }
                _ if tls_flags => {
                    eprintln!(
                        "skiff: --etcd-cacert, --etcd-cert and --etcd-key need \
                         --store etcd://host:port[,host:port...] (the store is {store})"
                    );
                    return ExitCode::from(2);
                }
                _ => {}
            }
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_new(&log)
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
                )
                .with_writer(std::io::stderr)
                .init();
            let cluster = match &config_file {
                Some(path) => match skiff::load_cluster_file(path, seed) {
                    Ok((cluster, warnings)) => {
                        for w in warnings {
                            eprintln!(
                                "skiff: warning: {}: {}: {}",
                                path.display(),
                                w.path,
                                w.message
                            );
                        }
                        Some(cluster)
                    }
                    Err(e) => {
                        eprintln!("skiff: {e}");
                        return ExitCode::from(2);
                    }
                },
                None => None,
            };
            let apiserver_only = role == Role::Apiserver;
            let serve = role != Role::Controllers;
            let cfg = UpConfig {
                store,
                cluster,
                nodes: if apiserver_only { 0 } else { nodes },
                controllers: !apiserver_only,
                serve,
                seed,
                image_catalog,
                clock: match api::clock::Clock::with_speed(speed) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("skiff: --speed: {e}");
                        return ExitCode::FAILURE;
                    }
                },
                ..UpConfig::new(data_dir.unwrap_or_else(skiff::default_data_dir), listen)
            };
            block_on(run_up(cfg))
        }
        Command::Bench {
            size,
            json,
            only,
            skiff_bin,
        } => {
            let skiff_bin = match skiff_bin.map_or_else(std::env::current_exe, Ok) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("skiff bench: finding this executable (pass --skiff-bin): {e}");
                    return ExitCode::FAILURE;
                }
            };
            let cfg = skiff::bench::BenchConfig {
                size,
                only,
                json,
                skiff_bin,
            };
            block_on(run_bench(cfg))
        }
        Command::InstanceTypes { output, family } => {
            let catalog = aws::catalog::catalog();
            let types: Vec<&aws::catalog::InstanceType> = match &family {
                Some(f) => catalog.family(f).collect(),
                None => catalog.iter().collect(),
            };
            if types.is_empty() {
                eprintln!(
                    "skiff: no instance types in family {:?}",
                    family.unwrap_or_default()
                );
                return ExitCode::FAILURE;
            }
            match output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&aws::catalog::instance_types_json(types))
                        .unwrap_or_default()
                ),
                Output::Table => print!("{}", aws::catalog::instance_types_table(types)),
            }
            ExitCode::SUCCESS
        }
        Command::Vpc {
            action,
            output,
            kubeconfig,
        } => run_ops(kubeconfig, move |client| async move {
            match action {
                None => skiff::ops::vpc_show(&client, output == Output::Json).await,
                Some(VpcAction::AddCidr { cidr }) => skiff::ops::vpc_add_cidr(&client, &cidr).await,
                Some(VpcAction::AddSubnet { az, cidr, public }) => {
                    skiff::ops::vpc_add_subnet(&client, &az, &cidr, public)
                        .await
                        .map(|id| id + "\n")
                }
            }
        }),
        Command::Migrate {
            mut from,
            mut to,
            etcd_cacert,
            etcd_cert,
            etcd_key,
        } => {
            for spec in [&mut from, &mut to] {
                if let skiff::MigrateStore::Etcd(etcd) = spec {
                    etcd.ca = etcd_cacert.clone();
                    etcd.cert = etcd_cert.clone();
                    etcd.key = etcd_key.clone();
                }
            }
            block_on(async move {
                let mut last = 0;
                let result = skiff::migrate(&from, &to, |done, total| {
                    if done == total || done >= last + 1000 {
                        last = done;
                        eprintln!("copied {done}/{total} keys");
                    }
                })
                .await;
                match result {
                    Ok(report) => {
                        println!(
                            "migrated {} keys at revision {}; resourceVersions {}; the target \
                             is at revision {}, compacted there (watches from before the move \
                             get 410 Gone and list again)",
                            report.keys,
                            report.source_revision,
                            if report.exact_revisions {
                                "kept"
                            } else {
                                "renumbered (order kept): clients must list again"
                            },
                            report.target_revision
                        );
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("skiff migrate: {e}");
                        ExitCode::FAILURE
                    }
                }
            })
        }
        Command::Nodegroup { action, kubeconfig } => {
            run_ops(kubeconfig, move |client| async move {
                match action {
                    NodegroupAction::Scale {
                        name,
                        nodes,
                        nodes_min,
                        nodes_max,
                        timeout,
                    } => {
                        skiff::ops::nodegroup_scale(
                            &client,
                            &name,
                            nodes,
                            nodes_min,
                            nodes_max,
                            std::time::Duration::from_secs(timeout),
                        )
                        .await
                    }
                    NodegroupAction::Replace { name, timeout } => {
                        let mut progress = std::io::stderr();
                        skiff::ops::nodegroup_replace(
                            &client,
                            &name,
                            std::time::Duration::from_secs(timeout),
                            &mut progress,
                        )
                        .await
                    }
                }
            })
        }
    }
}

/// Runs `f` to completion on a multi-threaded runtime.
fn block_on(f: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // The blocking pool runs the SQLite store's reads, at most eight at once; idle
        // threads go after a second instead of ten, so a burst's threads (and the memory
        // each keeps for its allocations) do not outlive it.
        .max_blocking_threads(16)
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("skiff: starting the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a subcommand against the running cluster; prints its output or its error.
fn run_ops<F, Fut>(kubeconfig: Option<PathBuf>, f: F) -> ExitCode
where
    F: FnOnce(kube::Client) -> Fut,
    Fut: std::future::Future<Output = Result<String, skiff::ops::OpsError>>,
{
    block_on(async move {
        let client = match skiff::ops::client(kubeconfig.as_deref()).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skiff: {e}");
                return ExitCode::FAILURE;
            }
        };
        match f(client).await {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("skiff: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn run_bench(cfg: skiff::bench::BenchConfig) -> ExitCode {
    let report = skiff::bench::run(&cfg).await;
    println!("{}", report.table());
    if let Some(path) = &cfg.json {
        let text = match serde_json::to_string_pretty(&report.json()) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("skiff bench: encoding the JSON: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("skiff bench: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("skiff bench: {} scenario(s) failed", report.errors.len());
        ExitCode::FAILURE
    }
}

/// `--speed`: a positive factor.
fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    api::clock::Clock::with_speed(v).map(|c| c.speed())
}

async fn run_up(cfg: UpConfig) -> ExitCode {
    let serve = cfg.serve;
    let store = cfg.store.to_string();
    let running = match skiff::up(cfg).await {
        Ok(r) => r,
        Err(e) => {
            let mut msg = format!("skiff: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("{msg}");
            return ExitCode::FAILURE;
        }
    };
    if serve {
        println!(
            "skiff is ready: Kubernetes {} at {}\n  export KUBECONFIG={}\n  kubectl get namespaces",
            apiserver::KUBERNETES_VERSION,
            running.server_url,
            running.kubeconfig.display()
        );
    } else {
        println!(
            "skiff is ready: the scheduler, controllers and EKS data plane of the cluster in {store}, \
             standing by for their Leases (no API served here: use an apiserver's kubeconfig)"
        );
    }
    wait_for_signal().await;
    eprintln!("skiff: stopping");
    running.stop().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
