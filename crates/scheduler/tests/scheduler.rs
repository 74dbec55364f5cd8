//! The scheduler against a real in-process API server: binding and events, capacity limits
//! with FailedScheduling, preemption, anti-affinity spreading, nodeSelector and taints.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const PATIENCE: Duration = Duration::from_secs(20);

struct Cluster {
    client: kube::Client,
    shutdown: CancellationToken,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start() -> Cluster {
    let shutdown = CancellationToken::new();
    let (_server, client) =
        apiserver::client::start(Arc::new(store::MemoryBackend::new()), shutdown.clone())
            .await
            .expect("bootstrap the API server");
    default_service_account(&client).await;
    let config = scheduler::Config {
        clock: api::clock::Clock::with_speed(50.0).expect("a valid speed"),
        seed: 42,
        ..Default::default()
    };
    let (c, s) = (client.clone(), shutdown.clone());
    tokio::spawn(async move {
        if let Err(e) = scheduler::run(c, config, s).await {
            panic!("scheduler stopped: {e}");
        }
    });
    Cluster { client, shutdown }
}

fn node_json(name: &str, zone: &str) -> Value {
    let res = json!({"cpu": "1930m", "memory": "7518Mi", "pods": "29", "ephemeral-storage": "18242267924"});
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone,
            "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        }},
        "spec": {},
        "status": {
            "capacity": res, "allocatable": res,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        },
    })
}

async fn create_nodes(c: &Cluster, extra: impl Fn(&str, &mut Value)) {
    let api: Api<Node> = Api::all(c.client.clone());
    for (name, zone) in [
        ("node-a", "us-west-2a"),
        ("node-b", "us-west-2b"),
        ("node-c", "us-west-2c"),
    ] {
        let mut obj = node_json(name, zone);
        extra(name, &mut obj);
        let node: Node = serde_json::from_value(obj.clone()).expect("node json");
        let created = api
            .create(&PostParams::default(), &node)
            .await
            .expect("create node");
        if created
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .is_none()
        {
            let mut with_status = created.clone();
            with_status.status = node.status.clone();
            api.replace_status(name, &PostParams::default(), &with_status)
                .await
                .expect("write node status");
        }
    }
}

async fn create_pod(c: &Cluster, spec: Value) -> Pod {
    let api: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let mut obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {
        "containers": [{"name": "app", "image": "nginx"}],
    }});
    merge(&mut obj, spec);
    let pod: Pod = serde_json::from_value(obj).expect("pod json");
    api.create(&PostParams::default(), &pod)
        .await
        .expect("create pod")
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

async fn pods(c: &Cluster) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    api.list(&ListParams::default())
        .await
        .expect("list pods")
        .items
}

fn node_of(p: &Pod) -> Option<&str> {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

fn name_of(p: &Pod) -> &str {
    p.metadata.name.as_deref().unwrap_or("")
}

fn pod_scheduled(p: &Pod) -> Option<(String, String, String)> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

async fn events(c: &Cluster) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(c.client.clone(), "default");
    api.list(&ListParams::default())
        .await
        .expect("list events")
        .items
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match check().await {
            Ok(()) => return,
            Err(last) if tokio::time::Instant::now() > deadline => {
                panic!("timed out waiting for {what} (scheduler stuck or wrong?): {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_bound_and_a_scheduled_event_is_recorded() {
    let c = start().await;
    create_nodes(&c, |_, _| {}).await;
    create_pod(&c, json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "app", "image": "nginx",
        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}]}}))
    .await;
    wait_for("web to be bound", || async {
        let ps = pods(&c).await;
        let p = ps.iter().find(|p| name_of(p) == "web").ok_or("no pod")?;
        node_of(p)
            .map(|_| ())
            .ok_or_else(|| format!("{:?}", pod_scheduled(p)))
    })
    .await;
    let ps = pods(&c).await;
    let node = node_of(&ps[0]).expect("bound").to_string();
    assert_eq!(
        pod_scheduled(&ps[0]).map(|c| c.0),
        Some("True".into()),
        "PodScheduled=True after binding"
    );
    wait_for("the Scheduled event", || async {
        let evs = events(&c).await;
        let want = format!("Successfully assigned default/web to {node}");
        evs.iter()
            .find(|e| e.reason.as_deref() == Some("Scheduled"))
            .map(|e| {
                assert_eq!(
                    e.note.as_deref(),
                    Some(want.as_str()),
                    "Scheduled event message"
                );
                assert_eq!(e.type_.as_deref(), Some("Normal"), "Scheduled event type");
                assert_eq!(
                    e.reporting_controller.as_deref(),
                    Some("default-scheduler"),
                    "reporting controller"
                );
            })
            .ok_or_else(|| format!("{} events", evs.len()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_pods_on_three_nodes_of_29_bind_87_and_leave_13_pending() {
    let c = start().await;
    create_nodes(&c, |_, _| {}).await;
    for i in 0..100 {
        create_pod(&c, json!({"metadata": {"name": format!("p-{i:03}")}})).await;
    }
    wait_for("87 bound and 13 marked unschedulable", || async {
        let ps = pods(&c).await;
        let bound = ps.iter().filter(|p| node_of(p).is_some()).count();
        let pending: Vec<_> = ps
            .iter()
            .filter(|p| node_of(p).is_none())
            .filter(|p| pod_scheduled(p).is_some_and(|c| c.0 == "False" && c.1 == "Unschedulable"))
            .collect();
        if bound == 87 && pending.len() == 13 {
            Ok(())
        } else {
            Err(format!("bound {bound}, unschedulable {}", pending.len()))
        }
    })
    .await;
    let ps = pods(&c).await;
    for n in ["node-a", "node-b", "node-c"] {
        assert_eq!(
            ps.iter().filter(|p| node_of(p) == Some(n)).count(),
            29,
            "{n} is full with 29 pods"
        );
    }
    let want = "0/3 nodes are available: 3 Too many pods. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.";
    for p in ps.iter().filter(|p| node_of(p).is_none()) {
        assert_eq!(
            pod_scheduled(p).map(|c| c.2),
            Some(want.to_string()),
            "condition message of {}",
            name_of(p)
        );
    }
    // A pod tried before the scheduler's node watch had all three nodes may fail with another
    // message first (as with kube-scheduler): each pod left pending must have an event that
    // names "Too many pods", and every FailedScheduling event is a warning.
    let pending: Vec<String> = ps
        .iter()
        .filter(|p| node_of(p).is_none())
        .map(|p| name_of(p).to_string())
        .collect();
    wait_for("FailedScheduling events naming Too many pods", || async {
        let evs = events(&c).await;
        let failed: Vec<_> = evs
            .iter()
            .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
            .collect();
        if let Some(e) = failed
            .iter()
            .find(|e| e.type_.as_deref() != Some("Warning"))
        {
            return Err(format!("a FailedScheduling event of type {:?}", e.type_));
        }
        let about = |name: &str| {
            failed
                .iter()
                .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
                .map(|e| e.note.clone().unwrap_or_default())
                .collect::<Vec<_>>()
        };
        match pending
            .iter()
            .map(|name| (name, about(name)))
            .find(|(_, notes)| !notes.iter().any(|n| n == want))
        {
            Some((name, notes)) => Err(format!("{name}: FailedScheduling events {notes:?}")),
            None => Ok(()),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_priority_pod_preempts_a_low_priority_one_when_the_cluster_is_full() {
    let c = start().await;
    create_nodes(&c, |_, _| {}).await;
    for i in 0..3 {
        create_pod(&c, json!({"metadata": {"name": format!("low-{i}")}, "spec": {
            "priority": 0, "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "1500m"}}}]}}))
        .await;
    }
    wait_for("the low-priority pods to fill the nodes", || async {
        let n = pods(&c)
            .await
            .iter()
            .filter(|p| node_of(p).is_some())
            .count();
        if n == 3 {
            Ok(())
        } else {
            Err(format!("{n} bound"))
        }
    })
    .await;
    // The API server's Priority admission resolves the class into `spec.priority`.
    let class: k8s_openapi::api::scheduling::v1::PriorityClass =
        serde_json::from_value(json!({"metadata": {"name": "high"}, "value": 1000}))
            .expect("priority class");
    Api::<k8s_openapi::api::scheduling::v1::PriorityClass>::all(c.client.clone())
        .create(&PostParams::default(), &class)
        .await
        .expect("create the priority class");
    let high = create_pod(&c, json!({"metadata": {"name": "high"}, "spec": {
        "priorityClassName": "high",
        "containers": [{"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "1000m"}}}]}}))
    .await;
    wait_for("high to be bound after preempting one low pod", || async {
        let ps = pods(&c).await;
        let h = ps
            .iter()
            .find(|p| name_of(p) == "high")
            .ok_or("no high pod")?;
        let lows = ps.iter().filter(|p| name_of(p).starts_with("low-")).count();
        if node_of(h).is_some() && lows == 2 {
            Ok(())
        } else {
            Err(format!("high {:?}, {lows} low pods", pod_scheduled(h)))
        }
    })
    .await;
    let uid = high.metadata.uid.clone().unwrap_or_default();
    wait_for("the Preempted event", || async {
        let evs = events(&c).await;
        let e = evs
            .iter()
            .find(|e| e.reason.as_deref() == Some("Preempted"))
            .ok_or("none yet")?;
        let note = e.note.clone().unwrap_or_default();
        let node = pods(&c)
            .await
            .iter()
            .find(|p| name_of(p) == "high")
            .and_then(|p| node_of(p).map(String::from));
        assert_eq!(
            Some(note),
            node.map(|n| format!("Preempted by pod {uid} on node {n}")),
            "Preempted message"
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_anti_affinity_spreads_one_pod_per_node() {
    let c = start().await;
    create_nodes(&c, |_, _| {}).await;
    for i in 0..4 {
        create_pod(&c, json!({"metadata": {"name": format!("spread-{i}"), "labels": {"app": "spread"}}, "spec": {
            "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": {"app": "spread"}}, "topologyKey": "kubernetes.io/hostname"}]}}}}))
        .await;
    }
    wait_for("three spread pods bound and one unschedulable", || async {
        let ps = pods(&c).await;
        let mut nodes: Vec<&str> = ps.iter().filter_map(node_of).collect();
        nodes.sort();
        let pending = ps.iter().find(|p| node_of(p).is_none()).and_then(pod_scheduled);
        match pending {
            Some((_, _, msg)) if nodes == ["node-a", "node-b", "node-c"] => {
                assert_eq!(
                    msg,
                    "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
                    "anti-affinity message"
                );
                Ok(())
            }
            other => Err(format!("nodes {nodes:?}, pending {other:?}")),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_selector_and_taints_are_respected() {
    let c = start().await;
    create_nodes(&c, |name, obj| {
        if name == "node-a" {
            obj["spec"]["taints"] =
                json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]);
        }
    })
    .await;
    create_pod(&c, json!({"metadata": {"name": "in-b"}, "spec": {"nodeSelector": {"topology.kubernetes.io/zone": "us-west-2b"}}})).await;
    create_pod(&c, json!({"metadata": {"name": "db"}, "spec": {
        "nodeSelector": {"kubernetes.io/hostname": "node-a"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]}}))
    .await;
    create_pod(&c, json!({"metadata": {"name": "not-db"}, "spec": {"nodeSelector": {"kubernetes.io/hostname": "node-a"}}})).await;
    for i in 0..6 {
        create_pod(&c, json!({"metadata": {"name": format!("any-{i}")}})).await;
    }
    wait_for("placements honouring selectors and taints", || async {
        let ps = pods(&c).await;
        let at = |n: &str| ps.iter().find(|p| name_of(p) == n).and_then(node_of).map(String::from);
        let any_on_a = ps.iter().filter(|p| name_of(p).starts_with("any-")).any(|p| node_of(p) == Some("node-a"));
        let any_bound = ps.iter().filter(|p| name_of(p).starts_with("any-") && node_of(p).is_some()).count();
        let not_db = ps.iter().find(|p| name_of(p) == "not-db").and_then(pod_scheduled);
        if at("in-b").as_deref() == Some("node-b") && at("db").as_deref() == Some("node-a") && any_bound == 6 && not_db.is_some() {
            assert!(!any_on_a, "no pod without the toleration lands on the tainted node");
            let msg = not_db.map(|c| c.2).unwrap_or_default();
            assert_eq!(
                msg,
                "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
                "taint + selector message"
            );
            Ok(())
        } else {
            Err(format!("in-b {:?}, db {:?}, any bound {any_bound}, not-db {not_db:?}", at("in-b"), at("db")))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gated_pods_wait_and_unschedulable_pods_wake_when_a_node_arrives() {
    let c = start().await;
    create_pod(&c, json!({"metadata": {"name": "gated"}, "spec": {"schedulingGates": [{"name": "example.com/wait"}]}})).await;
    create_pod(&c, json!({"metadata": {"name": "early"}})).await;
    wait_for(
        "gated marked SchedulingGated and early unschedulable",
        || async {
            let ps = pods(&c).await;
            let cond = |n: &str| ps.iter().find(|p| name_of(p) == n).and_then(pod_scheduled);
            match (cond("gated"), cond("early")) {
                (Some(g), Some(e)) if g.1 == "SchedulingGated" && e.1 == "Unschedulable" => {
                    assert_eq!(
                        g.2, "Scheduling is blocked due to non-empty scheduling gates",
                        "gated message"
                    );
                    assert_eq!(
                        e.2, "no nodes available to schedule pods",
                        "no-node message"
                    );
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    create_nodes(&c, |_, _| {}).await;
    wait_for(
        "early bound once nodes exist, gated still pending",
        || async {
            let ps = pods(&c).await;
            let node = |n: &str| {
                ps.iter()
                    .find(|p| name_of(p) == n)
                    .and_then(node_of)
                    .map(String::from)
            };
            match (node("early"), node("gated")) {
                (Some(_), None) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let api: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    api.patch(
        "gated",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"spec": {"schedulingGates": null}})),
    )
    .await
    .expect("remove the scheduling gate");
    wait_for("gated bound after its gate is removed", || async {
        let ps = pods(&c).await;
        let p = ps.iter().find(|p| name_of(p) == "gated").ok_or("no pod")?;
        node_of(p)
            .map(|_| ())
            .ok_or_else(|| format!("{:?}", pod_scheduled(p)))
    })
    .await;
}

/// Creates the `default` ServiceAccount the API server's admission requires of pods (no
/// ServiceAccount controller runs in this fixture).
async fn default_service_account(client: &kube::Client) {
    let sa: k8s_openapi::api::core::v1::ServiceAccount =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "default"}}))
            .expect("service account");
    kube::Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(client.clone(), "default")
        .create(&kube::api::PostParams::default(), &sa)
        .await
        .expect("create the default service account");
}
