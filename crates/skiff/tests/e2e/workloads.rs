//! Workloads come alive, through kube-rs against a whole in-process cluster (three simulated
//! m5.large nodes, the scheduler, the controllers, the simulated kubelet) on a fast clock:
//! nodes register Ready, pods are scheduled and run, workload controllers converge, and the
//! Kubernetes documentation's failure reproductions (crash loops, bad images, failing
//! liveness probes, OOM kills) show the states and events a real cluster shows.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use testkit::{ClusterOptions, TestCluster};

use crate::support::{node_ready, wait_for};

/// Simulated time runs this many times faster than real time in these tests: back-offs,
/// probe periods and tolerations pass in seconds, while the node monitor's 50 s grace period
/// (5 s real) still tolerates a heavily loaded test machine.
const SPEED: f64 = 10.0;

/// Patience for scenarios that step through several simulated minutes or run a hundred
/// pods (a debug build on a loaded two-core machine is slow; this bounds a hang, it is not
/// a timing target).
const SLOW: Duration = Duration::from_secs(180);

async fn cluster() -> TestCluster {
    TestCluster::start_with(ClusterOptions {
        nodes: 3,
        speed: SPEED,
        ..ClusterOptions::default()
    })
    .await
    .expect("start a cluster with three nodes")
}

fn from_json<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid object")
}

async fn create<T>(api: &Api<T>, v: Value) -> T
where
    T: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.create(&PostParams::default(), &from_json(v))
        .await
        .expect("create")
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn container_status(p: &Pod) -> Option<&k8s_openapi::api::core::v1::ContainerStatus> {
    p.status.as_ref()?.container_statuses.as_ref()?.first()
}

async fn events_for(client: &kube::Client, ns: &str, pod: &str) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    events
        .list(&ListParams::default().fields(&format!("involvedObject.name={pod}")))
        .await
        .expect("list events")
        .items
}

fn has_event(events: &[Event], reason: &str, message_part: &str) -> bool {
    events.iter().any(|e| {
        e.reason.as_deref() == Some(reason)
            && e.message
                .as_deref()
                .unwrap_or_default()
                .contains(message_part)
    })
}

#[tokio::test]
async fn three_nodes_register_ready_with_m5_large_allocatable_across_three_zones() {
    let c = cluster().await;
    let nodes: Api<Node> = Api::all(c.client.clone());
    let list = wait_for("three Ready nodes", SLOW, || {
        let nodes = nodes.clone();
        async move {
            let l = nodes.list(&ListParams::default()).await.ok()?.items;
            let ready = l.iter().filter(|n| node_ready(n)).count();
            (ready == 3).then_some(l)
        }
    })
    .await;
    let mut zones = BTreeSet::new();
    for n in &list {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        let name = n.metadata.name.clone().unwrap_or_default();
        assert_eq!(
            labels
                .get("node.kubernetes.io/instance-type")
                .map(String::as_str),
            Some("m5.large"),
            "{name}"
        );
        assert_eq!(
            labels.get("kubernetes.io/os").map(String::as_str),
            Some("linux")
        );
        assert_eq!(
            labels.get("kubernetes.io/arch").map(String::as_str),
            Some("amd64")
        );
        assert_eq!(labels.get("kubernetes.io/hostname"), Some(&name));
        zones.insert(
            labels
                .get("topology.kubernetes.io/zone")
                .cloned()
                .unwrap_or_default(),
        );
        let status = n.status.clone().unwrap_or_default();
        let alloc = status.allocatable.unwrap_or_default();
        let cap = status.capacity.unwrap_or_default();
        assert_eq!(cap.get("cpu").map(|q| q.0.as_str()), Some("2"), "{name}");
        assert_eq!(
            alloc.get("cpu").map(|q| q.0.as_str()),
            Some("1930m"),
            "{name}"
        );
        assert_eq!(
            alloc.get("pods").map(|q| q.0.as_str()),
            Some("29"),
            "{name}"
        );
        assert!(name.ends_with(".compute.internal"), "{name}");
    }
    assert_eq!(zones.len(), 3, "one node per zone: {zones:?}");
    // Each node keeps a Lease in kube-node-lease.
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(c.client.clone(), "kube-node-lease");
    for n in &list {
        let name = n.metadata.name.clone().unwrap_or_default();
        let lease = leases.get(&name).await.expect("node lease");
        assert_eq!(
            lease.spec.and_then(|s| s.holder_identity).as_deref(),
            Some(name.as_str())
        );
    }
    c.stop().await;
}

#[tokio::test]
async fn a_deployment_of_100_fills_three_nodes_and_leaves_21_pending_with_too_many_pods() {
    // Three m5.large nodes hold 29 pods each (3 ENIs × 9 secondary IPs + 2). Each already
    // runs aws-node and kube-proxy, and CoreDNS's two replicas sit somewhere: 87 − 6 − 2 =
    // 79 web pods fit, 21 stay Pending.
    let c = cluster().await;
    let deploys: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    create(
        &deploys,
        json!({
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 100,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}
                }
            }
        }),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let (running_pods, pending) = wait_for("79 Running and 21 Pending pods", SLOW, || {
        let pods = pods.clone();
        async move {
            let l = pods
                .list(&ListParams::default().labels("app=web"))
                .await
                .ok()?
                .items;
            let running: Vec<Pod> = l
                .iter()
                .filter(|p| phase(p) == "Running")
                .cloned()
                .collect();
            let pending: Vec<Pod> = l
                .iter()
                .filter(|p| phase(p) == "Pending")
                .cloned()
                .collect();
            (running.len() == 79 && pending.len() == 21 && l.len() == 100)
                .then_some((running, pending))
        }
    })
    .await;
    // Every node is full: 29 Running pods each, add-ons included (theirs may still be
    // pulling their images when the web pods have settled).
    let all: Api<Pod> = Api::all(c.client.clone());
    wait_for("29 Running pods on each node", SLOW, || {
        let all = all.clone();
        async move {
            let everything = all.list(&ListParams::default()).await.ok()?.items;
            let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
            for p in everything.iter().filter(|p| phase(p) == "Running") {
                let node = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .unwrap_or_default();
                *per_node.entry(node).or_default() += 1;
            }
            (per_node.values().copied().collect::<Vec<_>>() == vec![29, 29, 29]).then_some(())
        }
    })
    .await;
    let stuck = pending[0].metadata.name.clone().unwrap_or_default();
    let expected = "0/3 nodes are available: 3 Too many pods.";
    let events = wait_for("a FailedScheduling event", SLOW, || {
        let client = c.client.clone();
        let stuck = stuck.clone();
        async move {
            let e = events_for(&client, "default", &stuck).await;
            has_event(&e, "FailedScheduling", expected).then_some(e)
        }
    })
    .await;
    let msg = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .and_then(|e| e.message.clone())
        .unwrap_or_default();
    assert!(msg.starts_with(expected), "{msg}");
    assert!(msg.contains("preemption: 0/3 nodes are available"), "{msg}");
    let pod = pods.get(&stuck).await.expect("pending pod");
    let cond = pod
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .expect("PodScheduled condition");
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_deref()),
        ("False", Some("Unschedulable"))
    );
    // Each component's writes are managed by its upstream counterpart's name, as
    // `kubectl get -o yaml --show-managed-fields` shows on a real cluster.
    let managers = |mf: Option<Vec<ManagedFieldsEntry>>| -> Vec<(String, String)> {
        mf.unwrap_or_default()
            .into_iter()
            .map(|e| {
                (
                    e.manager.unwrap_or_default(),
                    e.subresource.unwrap_or_default(),
                )
            })
            .collect()
    };
    let running = running_pods[0].metadata.name.clone().unwrap_or_default();
    let expected_managers = [
        ("kubelet", pods.get(&running).await.expect("pod").metadata),
        (
            "kube-scheduler",
            pods.get(&stuck).await.expect("pod").metadata,
        ),
        (
            "kube-controller-manager",
            deploys.get("web").await.expect("deployment").metadata,
        ),
    ];
    for (manager, meta) in expected_managers {
        let found = managers(meta.managed_fields);
        assert!(
            found.contains(&(manager.to_string(), "status".to_string())),
            "{:?}: {found:?}",
            meta.name
        );
    }
    c.stop().await;
}

#[tokio::test]
async fn a_statefulset_starts_in_order_a_daemonset_covers_every_node_and_a_job_completes() {
    let c = cluster().await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    // Record, as each StatefulSet pod first appears, which of its elders were Ready.
    let watch = tokio::spawn({
        let pods = pods.clone();
        async move {
            let mut ready: BTreeSet<String> = BTreeSet::new();
            let mut order: Vec<(String, BTreeSet<String>)> = Vec::new();
            let mut seen: BTreeSet<String> = BTreeSet::new();
            let mut stream = watcher(pods, watcher::Config::default().labels("app=db"))
                .applied_objects()
                .boxed();
            while let Ok(Some(p)) = stream.try_next().await {
                let name = p.metadata.name.clone().unwrap_or_default();
                if seen.insert(name.clone()) {
                    order.push((name.clone(), ready.clone()));
                }
                if is_ready(&p) {
                    ready.insert(name);
                }
                if ready.len() == 3 {
                    return order;
                }
            }
            order
        }
    });
    let sets: Api<StatefulSet> = Api::namespaced(c.client.clone(), "default");
    create(
        &sets,
        json!({
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 3,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": {
                    "metadata": {"labels": {"app": "db"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}
                }
            }
        }),
    )
    .await;
    let order = tokio::time::timeout(SLOW, watch)
        .await
        .expect("three StatefulSet pods Ready in time")
        .expect("watch task");
    let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["db-0", "db-1", "db-2"], "created in ordinal order");
    assert!(
        order[1].1.contains("db-0"),
        "db-1 created only after db-0 was Ready: {order:?}"
    );
    assert!(
        order[2].1.contains("db-1"),
        "db-2 created only after db-1 was Ready: {order:?}"
    );

    let daemons: Api<DaemonSet> = Api::namespaced(c.client.clone(), "default");
    create(
        &daemons,
        json!({
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "agent", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}
                }
            }
        }),
    )
    .await;
    let nodes_used = wait_for("one Running agent pod per node", SLOW, || {
        let pods = pods.clone();
        async move {
            let l = pods
                .list(&ListParams::default().labels("app=agent"))
                .await
                .ok()?
                .items;
            let nodes: BTreeSet<String> = l
                .iter()
                .filter(|p| phase(p) == "Running")
                .filter_map(|p| p.spec.as_ref()?.node_name.clone())
                .collect();
            (l.len() == 3 && nodes.len() == 3).then_some(nodes)
        }
    })
    .await;
    assert_eq!(nodes_used.len(), 3);

    let jobs: Api<Job> = Api::namespaced(c.client.clone(), "default");
    create(
        &jobs,
        json!({
            "metadata": {"name": "pi"},
            "spec": {
                "completions": 3,
                "parallelism": 1,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "pi", "image": "busybox:1.36", "command": ["sh", "-c", "echo done; sleep 2"]}]
                    }
                }
            }
        }),
    )
    .await;
    let job = wait_for("the Job to complete", SLOW, || {
        let jobs = jobs.clone();
        async move {
            let j = jobs.get("pi").await.ok()?;
            let complete = j
                .status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .any(|c| c.type_ == "Complete" && c.status == "True");
            complete.then_some(j)
        }
    })
    .await;
    assert_eq!(job.status.and_then(|s| s.succeeded), Some(3));
    c.stop().await;
}

/// Waits until the pod's first container status satisfies `check`.
async fn wait_container(
    pods: &Api<Pod>,
    name: &str,
    what: &str,
    check: impl Fn(&Pod) -> bool,
) -> Pod {
    wait_for(what, SLOW, || {
        let pods = pods.clone();
        let name = name.to_string();
        let ok = &check;
        async move {
            let p = pods.get(&name).await.ok()?;
            ok(&p).then_some(p)
        }
    })
    .await
}

#[tokio::test]
async fn the_docs_failure_reproductions_crash_loop_bad_image_liveness_and_oom() {
    let c = cluster().await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    // kubectl run crash --image=busybox -- /bin/sh -c 'exit 1'
    create(
        &pods,
        json!({"metadata": {"name": "crash"}, "spec": {"containers": [{"name": "crash", "image": "busybox", "args": ["/bin/sh", "-c", "exit 1"]}]}}),
    )
    .await;
    // kubectl run bad --image=nginx:doesnotexist
    create(
        &pods,
        json!({"metadata": {"name": "bad"}, "spec": {"containers": [{"name": "bad", "image": "nginx:doesnotexist"}]}}),
    )
    .await;
    // The docs' liveness-exec example.
    create(
        &pods,
        json!({"metadata": {"name": "liveness-exec", "labels": {"test": "liveness"}}, "spec": {"containers": [{
            "name": "liveness",
            "image": "registry.k8s.io/busybox",
            "args": ["/bin/sh", "-c", "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600"],
            "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5, "periodSeconds": 5}
        }]}}),
    )
    .await;
    // The docs' memory-limit example.
    create(
        &pods,
        json!({"metadata": {"name": "memory-demo-2"}, "spec": {"containers": [{
            "name": "memory-demo-2-ctr",
            "image": "polinux/stress",
            "resources": {"requests": {"memory": "50Mi"}, "limits": {"memory": "100Mi"}},
            "command": ["stress"],
            "args": ["--vm", "1", "--vm-bytes", "250M", "--vm-hang", "1"]
        }]}}),
    )
    .await;

    let crash = wait_container(
        &pods,
        "crash",
        "crash in CrashLoopBackOff with restarts",
        |p| {
            container_status(p).is_some_and(|s| {
                s.restart_count >= 2
                    && s.state
                        .as_ref()
                        .and_then(|st| st.waiting.as_ref())
                        .and_then(|w| w.reason.as_deref())
                        == Some("CrashLoopBackOff")
            })
        },
    )
    .await;
    let cs = container_status(&crash).expect("status");
    let last = cs
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .expect("last state terminated");
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    let waiting = cs
        .state
        .as_ref()
        .and_then(|s| s.waiting.as_ref())
        .expect("waiting");
    assert!(
        waiting
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("restarting failed container=crash pod=crash_default("),
        "{waiting:?}"
    );
    let events = events_for(&c.client, "default", "crash").await;
    assert!(
        has_event(
            &events,
            "BackOff",
            "Back-off restarting failed container crash in pod crash_default("
        ),
        "{events:?}"
    );
    for reason in ["Scheduled", "Pulled", "Created", "Started"] {
        assert!(
            events.iter().any(|e| e.reason.as_deref() == Some(reason)),
            "{reason}: {events:?}"
        );
    }

    wait_container(&pods, "bad", "bad in ImagePullBackOff", |p| {
        container_status(p).is_some_and(|s| {
            s.state
                .as_ref()
                .and_then(|st| st.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                == Some("ImagePullBackOff")
        })
    })
    .await;
    let events = events_for(&c.client, "default", "bad").await;
    assert!(
        has_event(
            &events,
            "Failed",
            "Failed to pull image \"nginx:doesnotexist\""
        ),
        "{events:?}"
    );
    assert!(
        has_event(
            &events,
            "BackOff",
            "Back-off pulling image \"nginx:doesnotexist\""
        ),
        "{events:?}"
    );

    wait_container(
        &pods,
        "liveness-exec",
        "the liveness probe restarts the container",
        |p| container_status(p).is_some_and(|s| s.restart_count >= 1),
    )
    .await;
    let events = events_for(&c.client, "default", "liveness-exec").await;
    assert!(
        has_event(
            &events,
            "Unhealthy",
            "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory"
        ),
        "{events:?}"
    );
    assert!(
        has_event(
            &events,
            "Killing",
            "Container liveness failed liveness probe, will be restarted"
        ),
        "{events:?}"
    );

    let oom = wait_container(
        &pods,
        "memory-demo-2",
        "the stress container is OOMKilled",
        |p| {
            container_status(p).is_some_and(|s| {
                let term = |st: Option<&k8s_openapi::api::core::v1::ContainerState>| {
                    st.and_then(|st| st.terminated.as_ref())
                        .and_then(|t| t.reason.as_deref())
                        == Some("OOMKilled")
                };
                term(s.state.as_ref()) || term(s.last_state.as_ref())
            })
        },
    )
    .await;
    let cs = container_status(&oom).expect("status");
    let t = cs
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .or(cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()))
        .expect("terminated");
    assert_eq!(t.exit_code, 137);
    c.stop().await;
}

#[tokio::test]
async fn a_node_whose_kubelet_stops_goes_unknown_is_tainted_and_its_pods_move() {
    let c = cluster().await;
    let deploys: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    create(
        &deploys,
        json!({
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 6,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}],
                        "containers": [{"name": "nginx", "image": "nginx:1.27"}]
                    }
                }
            }
        }),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let running = wait_for("six Running pods", SLOW, || {
        let pods = pods.clone();
        async move {
            let l = pods
                .list(&ListParams::default().labels("app=web"))
                .await
                .ok()?
                .items;
            let r: Vec<Pod> = l.into_iter().filter(|p| phase(p) == "Running").collect();
            (r.len() == 6).then_some(r)
        }
    })
    .await;
    let victim_node = running[0]
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .expect("bound");
    let nodes: Api<Node> = Api::all(c.client.clone());
    nodes
        .patch(
            &victim_node,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"node.skiff.dev/kubelet": "stopped"}}}),
            ),
        )
        .await
        .expect("stop the node's kubelet");
    wait_for(
        "the node goes Unknown and is tainted unreachable",
        SLOW,
        || {
            let nodes = nodes.clone();
            let victim = victim_node.clone();
            async move {
                let n = nodes.get(&victim).await.ok()?;
                let unknown = n
                    .status
                    .as_ref()?
                    .conditions
                    .as_ref()?
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "Unknown");
                let tainted =
                    n.spec.as_ref()?.taints.as_ref()?.iter().any(|t| {
                        t.key == "node.kubernetes.io/unreachable" && t.effect == "NoExecute"
                    });
                (unknown && tainted).then_some(())
            }
        },
    )
    .await;
    wait_for("six Running pods on the healthy nodes", SLOW, || {
        let pods = pods.clone();
        let victim = victim_node.clone();
        async move {
            let l = pods
                .list(&ListParams::default().labels("app=web"))
                .await
                .ok()?
                .items;
            let elsewhere = l
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none() && phase(p) == "Running")
                .filter(|p| {
                    p.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(victim.as_str())
                })
                .count();
            (elsewhere == 6).then_some(())
        }
    })
    .await;
    c.stop().await;
}
