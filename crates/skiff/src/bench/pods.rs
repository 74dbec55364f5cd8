//! Pod scenarios on a skiff with simulated nodes. Pod startup: pods created at a fixed rate,
//! each timed from its create request to the watch event that shows it Running. Scheduling:
//! P pods of mixed requests (some with zone affinity or zone spread) created by 16 clients,
//! timed from the first create to the last binding seen by watch. Scale: more pods on the
//! same cluster until every one is Running, then the process's RSS.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use tokio::sync::mpsc;

use super::process::SkiffProcess;
use super::report::percentile;
use super::{BenchError, Report, Size, boot, kube_err, within};

/// Pods per second created by the pod-startup scenario.
const STARTUP_RATE: u64 = 100;
/// The pod-startup cluster runs at normal speed (node heartbeats and controller periods as
/// on a real cluster); the pause image is pulled onto every node by a warm-up pod first, so
/// the measured pods find it present and no simulated delay is left in their startup: what
/// is measured is skiff's own work.
const STARTUP_SPEED: &str = "1";
/// DaemonSet pods on every node of the default cluster (aws-node, kube-proxy).
const DAEMON_PODS_PER_NODE: usize = 2;
/// CoreDNS replicas of the default cluster.
const COREDNS_REPLICAS: usize = 2;

/// What a pod watch reports: the pod's name and when an event showed it bound or Running.
#[derive(Debug)]
enum Seen {
    Bound(String, Instant),
    Running(String, Instant),
}

pub async fn startup(bin: &Path, size: Size, report: &mut Report) -> Result<(), BenchError> {
    let (nodes, pods) = match size {
        Size::Smoke => (3, 10),
        Size::Medium | Size::Full => (20, 500),
    };
    let args = [
        "--nodes".to_string(),
        nodes.to_string(),
        "--speed".into(),
        STARTUP_SPEED.into(),
    ];
    let p = SkiffProcess::start(bin, &args, None).await?;
    let client = p.client().await?;
    within(
        Duration::from_secs(120),
        "the pod-startup cluster's nodes Ready",
        boot::wait_ready(&client, nodes),
    )
    .await?;
    super::wait_for_service_account(&client, "default").await?;
    warm_up_image(&client).await?;
    let mut seen = watch_pods(&client, "bench=startup").await?;
    let clients = p.clients(8).await?;
    let mut created: HashMap<String, Instant> = HashMap::new();
    let mut tasks = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / STARTUP_RATE));
    for i in 0..pods {
        tick.tick().await;
        let name = format!("startup-{i}");
        let pod = super::pod(&name, "startup", None, json!({}));
        let api: Api<Pod> = Api::namespaced(clients[i % clients.len()].clone(), "default");
        created.insert(name.clone(), Instant::now());
        tasks.push(tokio::spawn(async move {
            api.create(&PostParams::default(), &pod)
                .await
                .map(|_| ())
                .map_err(kube_err(format!("creating pod {name}")))
        }));
    }
    for t in tasks {
        if let Ok(r) = t.await {
            r?;
        }
    }
    let mut running = HashMap::new();
    let mut bound = HashMap::new();
    within(
        Duration::from_secs(120),
        &format!("{pods} pods Running"),
        async {
            while running.len() < pods {
                match seen.recv().await {
                    Some(Seen::Running(name, at)) => {
                        bound.entry(name.clone()).or_insert(at);
                        running.entry(name).or_insert(at);
                    }
                    Some(Seen::Bound(name, at)) => {
                        bound.entry(name).or_insert(at);
                    }
                    None => return,
                }
            }
        },
    )
    .await?;
    // Each pod's startup split at its binding: create → bound (the API server and the
    // scheduler) and bound → Running (the kubelet, the network and the status write).
    let since = |from: &HashMap<String, Instant>, to: &HashMap<String, Instant>| -> Vec<f64> {
        to.iter()
            .filter_map(|(name, at)| {
                let start = from.get(name)?;
                Some(at.saturating_duration_since(*start).as_secs_f64() * 1000.0)
            })
            .collect()
    };
    let mut samples = since(&created, &running);
    let mut to_bound = since(&created, &bound);
    let mut to_running = since(&bound, &running);
    report.set("podStartupP50Ms", percentile(&mut samples, 50.0));
    report.set("podStartupP99Ms", percentile(&mut samples, 99.0));
    report.note(
        "podStartupP99Ms",
        format!(
            "{pods} pause pods at {STARTUP_RATE}/s on {nodes} nodes, skiff up --speed {STARTUP_SPEED}, \
             the image already on every node (no simulated pull); create → bound \
             p50 {:.1} ms, p99 {:.1} ms; bound → Running p50 {:.1} ms, p99 {:.1} ms",
            percentile(&mut to_bound, 50.0),
            percentile(&mut to_bound, 99.0),
            percentile(&mut to_running, 50.0),
            percentile(&mut to_running, 99.0),
        ),
    );
    p.stop().await;
    Ok(())
}

pub async fn schedule_and_scale(
    bin: &Path,
    size: Size,
    report: &mut Report,
) -> Result<(), BenchError> {
    let (nodes, sched_pods, scale_pods, speed, wait) = match size {
        Size::Smoke => (5, 20, 40, "10", Duration::from_secs(120)),
        Size::Medium => (500, 5_000, 15_000, "1", Duration::from_secs(3600)),
        Size::Full => (5000, 50_000, 150_000, "1", Duration::from_secs(4 * 3600)),
    };
    let boot_started = Instant::now();
    // The full size needs a cluster laid out for 150,000 pod addresses (see `large`); the
    // smaller ones run on the default cluster.
    let p = if size == Size::Full {
        super::large::start(bin, nodes, speed).await?
    } else {
        let args = [
            "--nodes".to_string(),
            nodes.to_string(),
            "--speed".into(),
            speed.into(),
        ];
        SkiffProcess::start(bin, &args, None).await?
    };
    let client = p.client().await?;
    within(
        wait,
        &format!("{nodes} nodes Ready"),
        boot::wait_ready(&client, nodes),
    )
    .await?;
    let boot_secs = boot_started.elapsed().as_secs_f64();
    // A node takes workloads once its aws-node (the VPC CNI) and kube-proxy run: the
    // scheduling figure starts from a settled cluster, as kube-scheduler's scheduler_perf does.
    within(
        wait,
        "the DaemonSets' pods available on every node",
        daemon_sets_available(&client, nodes),
    )
    .await??;
    let settled_secs = boot_started.elapsed().as_secs_f64();
    // Each node also runs aws-node and kube-proxy, and two nodes CoreDNS: what is left for
    // the bench's pods.
    let admitted = admitted_pods(&client).await?;
    let room = admitted.saturating_sub(nodes * DAEMON_PODS_PER_NODE + COREDNS_REPLICAS);
    let scale_pods = if scale_pods > room {
        report.note(
            "scalePods",
            format!(
                "{scale_pods} pods asked, but the {nodes} nodes admit {admitted} pods (their max pods), \
                 {DAEMON_PODS_PER_NODE} a node taken by aws-node and kube-proxy and \
                 {COREDNS_REPLICAS} by CoreDNS: created {room}"
            ),
        );
        room
    } else {
        scale_pods
    };
    super::wait_for_service_account(&client, "default").await?;
    let mut seen = watch_pods(&client, "bench").await?;
    let clients = p.clients(16).await?;

    let started = Instant::now();
    super::create_all(&clients, "default", sched_pods, sched_pod).await?;
    let created_secs = started.elapsed().as_secs_f64();
    let mut bound: HashMap<String, Instant> = HashMap::new();
    let mut running: HashMap<String, Instant> = HashMap::new();
    within(wait, &format!("{sched_pods} pods bound"), async {
        while bound.len() < sched_pods {
            match seen.recv().await {
                Some(Seen::Bound(n, at)) => {
                    bound.entry(n).or_insert(at);
                }
                Some(Seen::Running(n, at)) => {
                    running.entry(n.clone()).or_insert(at);
                    bound.entry(n).or_insert(at);
                }
                None => return,
            }
        }
    })
    .await?;
    let last = bound.values().max().copied().unwrap_or(started);
    let secs = last.saturating_duration_since(started).as_secs_f64();
    report.set("scheduleNodes", nodes as f64);
    report.set("schedulePods", sched_pods as f64);
    report.set("schedulePodsPerSec", sched_pods as f64 / secs.max(1e-9));
    report.note(
        "schedulePodsPerSec",
        format!(
            "{nodes} nodes booted in {boot_secs:.1} s, their DaemonSets' pods available \
             {settled_secs:.1} s after the start; {sched_pods} pods (requests 10m–100m CPU, \
             every 10th zone-spread, every 10th zone affinity) created by 16 clients in \
             {created_secs:.2} s, all bound {secs:.2} s after the first create"
        ),
    );

    let more = scale_pods.saturating_sub(sched_pods);
    let scale_started = Instant::now();
    super::create_all(&clients, "default", more, |i| {
        super::pod(&format!("scale-{i}"), "scale", None, json!({}))
    })
    .await?;
    within(wait, &format!("{scale_pods} pods Running"), async {
        while running.len() < scale_pods {
            match seen.recv().await {
                Some(Seen::Running(n, at)) => {
                    running.entry(n).or_insert(at);
                }
                Some(Seen::Bound(..)) => {}
                None => return,
            }
        }
    })
    .await?;
    let running_secs = scale_started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.set("scaleNodes", nodes as f64);
    report.set("scalePods", running.len() as f64);
    report.set("scaleRssMiB", p.rss_mib()?);
    report.note(
        "scaleRssMiB",
        format!(
            "{}; {more} more pods created, all {scale_pods} Running {running_secs:.1} s later",
            if size == Size::Full {
                format!(
                    "skiff up -f (the large cluster of bench/large.rs: {} managed node groups of \
                     m5.large, custom networking, prefix delegation) --speed {speed}",
                    super::large::group_count(nodes)
                )
            } else {
                format!("skiff up --nodes {nodes} --speed {speed}")
            }
        ),
    );
    p.stop().await;
    Ok(())
}

/// Waits until every DaemonSet has an available pod on each of the `nodes` nodes.
async fn daemon_sets_available(client: &kube::Client, nodes: usize) -> Result<(), BenchError> {
    let api: Api<k8s_openapi::api::apps::v1::DaemonSet> = Api::all(client.clone());
    loop {
        let sets = api
            .list(&ListParams::default())
            .await
            .map_err(kube_err("listing DaemonSets"))?;
        let settled = sets.items.iter().all(|d| {
            d.status.as_ref().is_some_and(|s| {
                s.desired_number_scheduled as usize == nodes
                    && s.number_available.unwrap_or(0) == s.desired_number_scheduled
            })
        });
        if settled {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// How many pods the cluster's nodes admit in all (the sum of their allocatable `pods`).
async fn admitted_pods(client: &kube::Client) -> Result<usize, BenchError> {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let list = nodes
        .list(&ListParams::default())
        .await
        .map_err(kube_err("listing nodes"))?;
    Ok(list
        .items
        .iter()
        .filter_map(|n| n.status.as_ref()?.allocatable.as_ref()?.get("pods"))
        .filter_map(|q| q.0.parse::<usize>().ok())
        .sum())
}

/// Runs one pause pod on every node (bound by `nodeName`, so the scheduler plays no part)
/// and waits until all are Running, so every node has the pause image.
async fn warm_up_image(client: &kube::Client) -> Result<(), BenchError> {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let names: Vec<String> = nodes
        .list(&ListParams::default())
        .await
        .map_err(kube_err("listing nodes"))?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    let mut seen = watch_pods(client, "bench=warm-up").await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (i, node) in names.iter().enumerate() {
        let pod = super::pod(
            &format!("warm-up-{i}"),
            "warm-up",
            None,
            json!({"nodeName": node}),
        );
        api.create(&PostParams::default(), &pod)
            .await
            .map_err(kube_err(format!("creating the warm-up pod of {node}")))?;
    }
    let mut running = std::collections::HashSet::new();
    within(
        Duration::from_secs(120),
        "the warm-up pods Running",
        async {
            while running.len() < names.len() {
                match seen.recv().await {
                    Some(Seen::Running(name, _)) => {
                        running.insert(name);
                    }
                    Some(Seen::Bound(..)) => {}
                    None => return,
                }
            }
        },
    )
    .await
}

/// Pod `i` of the scheduling scenario: mixed requests, some spread over zones, some with a
/// required zone affinity.
fn sched_pod(i: usize) -> Pod {
    let requests = [("10m", "16Mi"), ("50m", "32Mi"), ("100m", "64Mi")][i % 3];
    let extra = match i % 10 {
        0 => json!({"topologySpreadConstraints": [{
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"bench": "sched"}},
        }]}),
        5 => {
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{
                    "key": "topology.kubernetes.io/zone",
                    "operator": "In",
                    "values": ["us-west-2a", "us-west-2b"],
                }]}]
            }}}})
        }
        _ => json!({}),
    };
    super::pod(&format!("sched-{i}"), "sched", Some(requests), extra)
}

/// Watches pods in `default` matching `selector` (re-watching from the last resourceVersion
/// when a watch ends) and reports every pod's first binding and first Running. Returns once the
/// first watch is established.
async fn watch_pods(
    client: &kube::Client,
    selector: &str,
) -> Result<mpsc::UnboundedReceiver<Seen>, BenchError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let list = api
        .list(&ListParams::default().labels(selector).limit(1))
        .await
        .map_err(kube_err("listing pods to start a watch"))?;
    let mut rv = list.metadata.resource_version.unwrap_or_default();
    let wp = WatchParams::default().labels(selector).timeout(290);
    let first = api
        .watch(&wp, &rv)
        .await
        .map_err(kube_err("watching pods"))?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = first.boxed();
        loop {
            while let Some(ev) = stream.next().await {
                let at = Instant::now();
                let pod = match ev {
                    Ok(WatchEvent::Added(p) | WatchEvent::Modified(p)) => p,
                    Ok(WatchEvent::Bookmark(b)) => {
                        rv = b.metadata.resource_version;
                        continue;
                    }
                    Ok(WatchEvent::Deleted(_)) => continue,
                    // 410 Gone or a broken stream: nothing sensible to resume; the waiting
                    // side times out and says what it was waiting for.
                    Ok(WatchEvent::Error(_)) | Err(_) => return,
                };
                if let Some(v) = &pod.metadata.resource_version {
                    rv = v.clone();
                }
                let name = pod.metadata.name.clone().unwrap_or_default();
                let bound = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_ref())
                    .is_some();
                let is_running =
                    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
                let send = if is_running {
                    tx.send(Seen::Running(name, at))
                } else if bound {
                    tx.send(Seen::Bound(name, at))
                } else {
                    Ok(())
                };
                if send.is_err() {
                    return;
                }
            }
            match api.watch(&wp, &rv).await {
                Ok(s) => stream = s.boxed(),
                Err(_) => return,
            }
        }
    });
    Ok(rx)
}
