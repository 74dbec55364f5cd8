//! The simulated kubelet against a real in-process API server, with a fast clock: node
//! registration and Lease, pods running with their events, IPs and logs, deletion, the
//! stopped-kubelet annotation, and the failure paths (crash loops, image pull back-off, OOM,
//! probes) that depend on the image behaviour.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeAddress, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use node_agent::{Config, HostLocalNetwork, NodeAgent, NodeSpec};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// How long a condition may take before a test gives up.
const PATIENCE: Duration = Duration::from_secs(20);
/// Simulated seconds per real second.
const SPEED: f64 = 50.0;

struct Fixture {
    client: Client,
    agent: NodeAgent,
    shutdown: CancellationToken,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn fixture() -> Fixture {
    let shutdown = CancellationToken::new();
    let (server, client) =
        apiserver::client::start(Arc::new(store::MemoryBackend::new()), shutdown.clone())
            .await
            .expect("bootstrap");
    default_service_account(&client).await;
    let config = Config {
        clock: api::clock::Clock::with_speed(SPEED).expect("speed"),
        catalog: node_agent::behaviour::Catalog::builtin(),
        network: Arc::new(HostLocalNetwork::new(client.clone())),
        seed: 42,
    };
    let agent = NodeAgent::start(client.clone(), config, shutdown.clone());
    server.set_kubelet(Arc::new(agent.clone()));
    Fixture {
        client,
        agent,
        shutdown,
    }
}

fn q(s: &str) -> Quantity {
    Quantity(s.into())
}

fn node_spec(name: &str, cidr: &str, ip: &str) -> NodeSpec {
    let resources: BTreeMap<String, Quantity> = [
        ("cpu".to_string(), q("2")),
        ("memory".to_string(), q("4Gi")),
        ("pods".to_string(), q("110")),
    ]
    .into();
    NodeSpec {
        name: name.into(),
        labels: [(
            "node.kubernetes.io/instance-type".to_string(),
            "m5.large".to_string(),
        )]
        .into(),
        capacity: resources.clone(),
        allocatable: resources,
        addresses: vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: ip.into(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: name.into(),
            },
        ],
        pod_cidr: Some(cidr.into()),
        architecture: "amd64".into(),
        os_image: "Amazon Linux 2023".into(),
        kernel_version: "6.1.0".into(),
        kubelet_version: "v1.33.0".into(),
        container_runtime_version: "containerd://1.7.27".into(),
        ..NodeSpec::default()
    }
}

/// Polls `f` until it returns `Some`, or fails naming `what`.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn create_pod(client: &Client, pod: serde_json::Value) -> Pod {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(pod).expect("pod json");
    api.create(&PostParams::default(), &pod)
        .await
        .expect("create pod")
}

fn pod_on(name: &str, node: &str, containers: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node, "containers": containers, "terminationGracePeriodSeconds": 5}
    })
}

async fn get_pod(client: &Client, name: &str) -> Option<Pod> {
    Api::<Pod>::namespaced(client.clone(), "default")
        .get_opt(name)
        .await
        .expect("get pod")
}

/// `(reason, note)` of the events about `name`, oldest first.
async fn events_of(client: &Client, name: &str) -> Vec<(String, String)> {
    let api: Api<Event> = Api::namespaced(client.clone(), "default");
    let mut list: Vec<Event> = api
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect();
    list.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
    list.into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn container_state(p: &Pod, c: &str) -> serde_json::Value {
    let statuses = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    statuses
        .into_iter()
        .find(|s| s.name == c)
        .map(|s| serde_json::to_value(s).expect("status json"))
        .unwrap_or(serde_json::Value::Null)
}

#[tokio::test]
async fn a_node_registers_with_its_status_and_keeps_its_lease_fresh() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-a", "10.0.1.0/24", "192.168.0.10"))
        .await
        .expect("add node");
    let nodes: Api<Node> = Api::all(f.client.clone());
    let node = eventually("node Ready", || async {
        let n = nodes.get_opt("node-a").await.ok().flatten()?;
        let ready = n
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        ready.then_some(n)
    })
    .await;
    let labels = node.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("kubernetes.io/hostname").map(String::as_str),
        Some("node-a")
    );
    assert_eq!(
        labels.get("kubernetes.io/arch").map(String::as_str),
        Some("amd64")
    );
    assert_eq!(
        labels.get("kubernetes.io/os").map(String::as_str),
        Some("linux")
    );
    let status = node.status.clone().expect("status");
    let ready = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(ready.reason.as_deref(), Some("KubeletReady"));
    assert_eq!(
        ready.message.as_deref(),
        Some("kubelet is posting ready status")
    );
    let info = status.node_info.expect("nodeInfo");
    assert_eq!(info.kubelet_version, "v1.33.0");
    assert!(!info.boot_id.is_empty());
    assert_eq!(
        status
            .daemon_endpoints
            .and_then(|d| d.kubelet_endpoint)
            .map(|e| e.port),
        Some(10250)
    );
    assert_eq!(
        node.spec.and_then(|s| s.pod_cidr).as_deref(),
        Some("10.0.1.0/24")
    );

    let leases: Api<Lease> = Api::namespaced(f.client.clone(), "kube-node-lease");
    let first = eventually("the lease", || async {
        let l = leases.get_opt("node-a").await.ok().flatten()?;
        l.spec?.renew_time
    })
    .await;
    let lease = leases.get("node-a").await.expect("lease");
    let spec = lease.spec.clone().expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("node-a"));
    assert_eq!(spec.lease_duration_seconds, Some(40));
    let owner = &lease.metadata.owner_references.expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Node", "node-a")
    );
    eventually("a lease renewal", || async {
        let t = leases.get("node-a").await.ok()?.spec?.renew_time?;
        (t.0 > first.0).then_some(())
    })
    .await;
    let events = eventually("node events", || async {
        let api: Api<Event> = Api::all(f.client.clone());
        let reasons: Vec<String> = api
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("Node"))
            .filter_map(|e| e.reason)
            .collect();
        reasons.iter().any(|r| r == "NodeReady").then_some(reasons)
    })
    .await;
    for want in ["Starting", "NodeHasSufficientMemory", "NodeReady"] {
        assert!(events.iter().any(|r| r == want), "{want} in {events:?}");
    }
}

#[tokio::test]
async fn a_bound_pod_runs_with_events_an_ip_and_logs_then_terminates_on_delete() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-b", "10.0.2.0/24", "192.168.0.11"))
        .await
        .expect("add node");
    let mut web = pod_on(
        "web",
        "node-b",
        json!([{"name": "nginx", "image": "nginx:1.27"}]),
    );
    // Annotations other than the simulation's own do not reach the process.
    web["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"});
    create_pod(&f.client, web).await;
    let pod = eventually("pod Running and Ready", || async {
        let p = get_pod(&f.client, "web").await?;
        let ready = p
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        (phase(&p) == "Running" && ready).then_some(p)
    })
    .await;
    let status = pod.status.clone().expect("status");
    let ip = status.pod_ip.clone().expect("pod ip");
    assert!(ip.starts_with("10.0.2."), "{ip}");
    assert_eq!(status.host_ip.as_deref(), Some("192.168.0.11"));
    assert!(status.start_time.is_some());
    let cs = &status.container_statuses.expect("statuses")[0];
    assert!(cs.ready);
    assert_eq!(cs.started, Some(true));
    assert_eq!(cs.image, "docker.io/library/nginx:1.27");
    assert!(
        cs.image_id.starts_with("docker.io/library/nginx@sha256:"),
        "{}",
        cs.image_id
    );
    assert!(
        cs.container_id
            .as_deref()
            .is_some_and(|id| id.starts_with("containerd://") && id.len() == 13 + 64)
    );
    for kind in [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
    ] {
        assert!(
            status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == kind && c.status == "True"),
            "{kind}"
        );
    }
    let events = eventually("Started event", || async {
        let ev = events_of(&f.client, "web").await;
        ev.iter().any(|(r, _)| r == "Started").then_some(ev)
    })
    .await;
    let find = |reason: &str| {
        events
            .iter()
            .find(|(r, _)| r == reason)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| panic!("{reason} in {events:?}"))
    };
    assert_eq!(find("Pulling"), "Pulling image \"nginx:1.27\"");
    assert!(
        find("Pulled").starts_with("Successfully pulled image \"nginx:1.27\" in "),
        "{events:?}"
    );
    let pulled = find("Pulled");
    let took = pulled
        .strip_prefix("Successfully pulled image \"nginx:1.27\" in ")
        .and_then(|r| r.split_once(" ("))
        .expect("pull time");
    let waited = took
        .1
        .split_once(" including waiting). Image size: ")
        .expect("waiting time");
    assert_eq!(took.0, waited.0, "a lone pull waits for nothing: {pulled}");
    assert!(
        waited.1.ends_with(" bytes.")
            && waited.1.trim_end_matches(" bytes.").parse::<u64>().is_ok(),
        "{pulled}"
    );
    assert_eq!(find("Created"), "Created container: nginx");
    assert_eq!(find("Started"), "Started container nginx");

    // Logs come through the API server's pods/log.
    let api: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    let logs = eventually("nginx's start-up lines", || async {
        let l = api.logs("web", &LogParams::default()).await.ok()?;
        l.contains("start worker processes").then_some(l)
    })
    .await;
    assert!(
        logs.contains("Configuration complete; ready for start up"),
        "{logs}"
    );
    let tail = api
        .logs(
            "web",
            &LogParams {
                tail_lines: Some(1),
                timestamps: true,
                ..LogParams::default()
            },
        )
        .await
        .expect("tail");
    assert_eq!(tail.lines().count(), 1, "{tail}");
    let (stamp, _) = tail.split_once(' ').expect("a timestamp and a space");
    assert!(
        stamp.parse::<jiff::Timestamp>().is_ok() && stamp.ends_with('Z'),
        "{stamp}"
    );
    let previous = api
        .logs(
            "web",
            &LogParams {
                previous: true,
                ..LogParams::default()
            },
        )
        .await
        .expect_err("no previous instance");
    assert!(
        previous
            .to_string()
            .contains("previous terminated container \"nginx\" in pod \"web\" not found"),
        "{previous}"
    );

    api.delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("the pod removed", || async {
        get_pod(&f.client, "web").await.is_none().then_some(())
    })
    .await;
    let events = events_of(&f.client, "web").await;
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "Killing" && n == "Stopping container nginx"),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_pod_that_does_not_fit_is_rejected_as_out_of_cpu() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-c", "10.0.3.0/24", "192.168.0.12"))
        .await
        .expect("add node");
    create_pod(
        &f.client,
        pod_on(
            "big",
            "node-c",
            json!([{"name": "c", "image": "nginx:1.27", "resources": {"requests": {"cpu": "3"}}}]),
        ),
    )
    .await;
    let p = eventually("the pod Failed", || async {
        let p = get_pod(&f.client, "big").await?;
        (phase(&p) == "Failed").then_some(p)
    })
    .await;
    let status = p.status.expect("status");
    assert_eq!(status.reason.as_deref(), Some("OutOfcpu"));
    assert_eq!(
        status.message.as_deref(),
        Some(
            "Pod was rejected: Node didn't have enough resource: cpu, requested: 3000, used: 0, capacity: 2000"
        )
    );
}

#[tokio::test]
async fn the_stopped_annotation_halts_lease_renewal_until_removed() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-d", "10.0.4.0/24", "192.168.0.13"))
        .await
        .expect("add node");
    let leases: Api<Lease> = Api::namespaced(f.client.clone(), "kube-node-lease");
    let nodes: Api<Node> = Api::all(f.client.clone());
    eventually("the lease", || async {
        leases.get_opt("node-d").await.ok().flatten()
    })
    .await;
    let patch = json!({"metadata": {"annotations": {"node.skiff.dev/kubelet": "stopped"}}});
    nodes
        .patch("node-d", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate");
    let renew = |l: Lease| l.spec.and_then(|s| s.renew_time).map(|t| t.0);
    // Once the kubelet has seen it (a renewal may be in flight), renewals stop.
    let frozen = eventually("renewals to stop", || async {
        let before = renew(leases.get("node-d").await.ok()?);
        tokio::time::sleep(Duration::from_secs_f64(30.0 / SPEED)).await;
        let after = renew(leases.get("node-d").await.ok()?);
        (before == after).then_some(after)
    })
    .await;
    // Ten renewal periods (10 s simulated each) pass.
    tokio::time::sleep(Duration::from_secs_f64(100.0 / SPEED)).await;
    assert_eq!(
        renew(leases.get("node-d").await.expect("lease")),
        frozen,
        "a stopped kubelet renewed its lease"
    );
    let patch = json!({"metadata": {"annotations": {"node.skiff.dev/kubelet": null}}});
    nodes
        .patch("node-d", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("remove annotation");
    eventually("renewal after resuming", || async {
        (renew(leases.get("node-d").await.ok()?) > frozen).then_some(())
    })
    .await;
}

// ---- Failure paths driven by the image behaviour (busybox, nginx:doesnotexist, stress). ----

#[tokio::test]
async fn a_crashing_container_goes_into_crash_loop_back_off() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-e", "10.0.5.0/24", "192.168.0.14"))
        .await
        .expect("add node");
    create_pod(
        &f.client,
        pod_on(
            "crash",
            "node-e",
            json!([{"name": "c", "image": "busybox:1.36", "command": ["sh", "-c", "echo boom; exit 1"]}]),
        ),
    )
    .await;
    let p = eventually("CrashLoopBackOff", || async {
        let p = get_pod(&f.client, "crash").await?;
        let s = container_state(&p, "c");
        (s.pointer("/state/waiting/reason")? == "CrashLoopBackOff").then_some(p)
    })
    .await;
    let s = container_state(&p, "c");
    let uid = p.metadata.uid.clone().expect("uid");
    let msg = s
        .pointer("/state/waiting/message")
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    assert!(
        msg.starts_with("back-off ")
            && msg.ends_with(&format!(
                " restarting failed container=c pod=crash_default({uid})"
            )),
        "{msg}"
    );
    assert_eq!(s.pointer("/lastState/terminated/exitCode"), Some(&json!(1)));
    assert_eq!(
        s.pointer("/lastState/terminated/reason"),
        Some(&json!("Error"))
    );
    assert!(s["restartCount"].as_i64().unwrap_or(0) >= 1);
    let events = events_of(&f.client, "crash").await;
    assert!(
        events.iter().any(|(r, n)| r == "BackOff"
            && *n == format!("Back-off restarting failed container c in pod crash_default({uid})")),
        "{events:?}"
    );
    let api: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    let logs = api
        .logs(
            "crash",
            &LogParams {
                previous: true,
                ..LogParams::default()
            },
        )
        .await
        .expect("previous logs");
    assert_eq!(logs, "boom\n");
}

#[tokio::test]
async fn a_missing_image_goes_into_image_pull_back_off() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-f", "10.0.6.0/24", "192.168.0.15"))
        .await
        .expect("add node");
    create_pod(
        &f.client,
        pod_on(
            "bad",
            "node-f",
            json!([{"name": "c", "image": "nginx:doesnotexist"}]),
        ),
    )
    .await;
    let p = eventually("ImagePullBackOff", || async {
        let p = get_pod(&f.client, "bad").await?;
        let s = container_state(&p, "c");
        (s.pointer("/state/waiting/reason")? == "ImagePullBackOff").then_some(p)
    })
    .await;
    let s = container_state(&p, "c");
    let msg = s
        .pointer("/state/waiting/message")
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    assert!(
        msg.starts_with("Back-off pulling image \"nginx:doesnotexist\": ErrImagePull: "),
        "{msg}"
    );
    let events = events_of(&f.client, "bad").await;
    assert!(
        events.iter().any(|(r, n)| r == "Failed"
            && n.starts_with("Failed to pull image \"nginx:doesnotexist\": ")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "Failed" && n == "Error: ErrImagePull"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "BackOff" && n == "Back-off pulling image \"nginx:doesnotexist\""),
        "{events:?}"
    );
    let api: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    let err = api
        .logs("bad", &LogParams::default())
        .await
        .expect_err("waiting");
    assert!(
        err.to_string().contains(
            "container \"c\" in pod \"bad\" is waiting to start: trying and failing to pull image"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn memory_over_the_limit_is_oom_killed() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-g", "10.0.7.0/24", "192.168.0.16"))
        .await
        .expect("add node");
    create_pod(
        &f.client,
        pod_on(
            "oom",
            "node-g",
            json!([{"name": "stress", "image": "polinux/stress",
                    "command": ["stress"], "args": ["--vm", "1", "--vm-bytes", "250M", "--vm-hang", "1"],
                    "resources": {"limits": {"memory": "100Mi"}}}]),
        ),
    )
    .await;
    let p = eventually("OOMKilled", || async {
        let p = get_pod(&f.client, "oom").await?;
        let s = container_state(&p, "stress");
        let reason = s
            .pointer("/lastState/terminated/reason")
            .or_else(|| s.pointer("/state/terminated/reason"))?;
        (reason == "OOMKilled").then_some(p)
    })
    .await;
    let s = container_state(&p, "stress");
    let code = s
        .pointer("/lastState/terminated/exitCode")
        .or_else(|| s.pointer("/state/terminated/exitCode"));
    assert_eq!(code, Some(&json!(137)));
}

#[tokio::test]
async fn a_failing_liveness_probe_restarts_the_container() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-h", "10.0.8.0/24", "192.168.0.17"))
        .await
        .expect("add node");
    create_pod(
        &f.client,
        pod_on(
            "live",
            "node-h",
            json!([{"name": "c", "image": "busybox:1.36",
                    "command": ["sh", "-c", "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600"],
                    "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5, "periodSeconds": 5}}]),
        ),
    )
    .await;
    eventually("a liveness restart", || async {
        let p = get_pod(&f.client, "live").await?;
        (container_state(&p, "c")["restartCount"].as_i64()? >= 1).then_some(())
    })
    .await;
    let events = events_of(&f.client, "live").await;
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "Unhealthy" && n.starts_with("Liveness probe failed: ")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "Killing"
                && n == "Container c failed liveness probe, will be restarted"),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_full_pod_network_fails_the_sandbox_until_an_address_is_free() {
    let f = fixture().await;
    // A /30 holds a single pod address (network + 2).
    f.agent
        .add_node(node_spec("node-i", "10.0.9.0/30", "192.168.0.18"))
        .await
        .expect("add node");
    let api: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    create_pod(
        &f.client,
        pod_on(
            "first",
            "node-i",
            json!([{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]),
        ),
    )
    .await;
    eventually("the first pod's IP", || async {
        get_pod(&f.client, "first").await?.status?.pod_ip
    })
    .await;
    create_pod(
        &f.client,
        pod_on(
            "second",
            "node-i",
            json!([{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]),
        ),
    )
    .await;
    let note = eventually("FailedCreatePodSandBox", || async {
        events_of(&f.client, "second")
            .await
            .into_iter()
            .find(|(r, _)| r == "FailedCreatePodSandBox")
            .map(|(_, n)| n)
    })
    .await;
    assert!(
        note.starts_with("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \""),
        "{note}"
    );
    assert!(
        note.ends_with("plugin type=\"host-local\" name=\"host-local\" failed (add): failed to allocate for range 0: no IP addresses available in range set: 10.0.9.1-10.0.9.2"),
        "{note}"
    );
    let second = get_pod(&f.client, "second").await.expect("second");
    assert_eq!(phase(&second), "Pending");
    assert!(second.status.and_then(|s| s.pod_ip).is_none());
    let err = api
        .logs("second", &LogParams::default())
        .await
        .expect_err("no container yet");
    assert!(
        err.to_string()
            .contains("container \"c\" in pod \"second\" is waiting to start: ContainerCreating"),
        "{err}"
    );
    api.delete("first", &DeleteParams::default())
        .await
        .expect("delete first");
    let ip = eventually("the second pod's IP after the retry", || async {
        get_pod(&f.client, "second").await?.status?.pod_ip
    })
    .await;
    assert_eq!(ip, "10.0.9.2");
}

#[tokio::test]
async fn init_containers_run_first_and_a_never_restarting_pod_succeeds() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-j", "10.0.10.0/24", "192.168.0.19"))
        .await
        .expect("add node");
    let mut pod = pod_on(
        "job",
        "node-j",
        json!([{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "echo done"]}]),
    );
    pod["spec"]["restartPolicy"] = json!("Never");
    pod["spec"]["initContainers"] = json!([
        {"name": "init-a", "image": "busybox:1.36", "command": ["sh", "-c", "echo a; sleep 2"]},
        {"name": "init-b", "image": "busybox:1.36", "command": ["sh", "-c", "echo b"]}
    ]);
    create_pod(&f.client, pod).await;
    let p = eventually("the pod Succeeded", || async {
        let p = get_pod(&f.client, "job").await?;
        (phase(&p) == "Succeeded").then_some(p)
    })
    .await;
    let status = p.status.expect("status");
    let init = status.init_container_statuses.expect("init statuses");
    for s in &init {
        let t = s
            .state
            .as_ref()
            .and_then(|st| st.terminated.as_ref())
            .expect("terminated");
        assert_eq!(
            (t.exit_code, t.reason.as_deref()),
            (0, Some("Completed")),
            "{}",
            s.name
        );
    }
    let started = |name: &str| {
        init.iter()
            .find(|s| s.name == name)
            .and_then(|s| s.state.as_ref()?.terminated.as_ref()?.finished_at.clone())
    };
    assert!(
        started("init-a") <= started("init-b"),
        "init containers in order"
    );
    let ready = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("False", Some("PodCompleted"))
    );
    let api: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    assert_eq!(
        api.logs("job", &LogParams::default()).await.expect("logs"),
        "done\n"
    );
    let init_logs = api
        .logs(
            "job",
            &LogParams {
                container: Some("init-a".into()),
                ..LogParams::default()
            },
        )
        .await
        .expect("init logs");
    assert_eq!(init_logs, "a\n");
}

#[tokio::test]
async fn a_failing_readiness_probe_keeps_the_pod_unready() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-k", "10.0.11.0/24", "192.168.0.20"))
        .await
        .expect("add node");
    create_pod(
        &f.client,
        pod_on(
            "unready",
            "node-k",
            json!([{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5}}]),
        ),
    )
    .await;
    let note = eventually("a readiness failure", || async {
        events_of(&f.client, "unready")
            .await
            .into_iter()
            .find(|(r, _)| r == "Unhealthy")
            .map(|(_, n)| n)
    })
    .await;
    let p = get_pod(&f.client, "unready").await.expect("pod");
    let ip = p
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .expect("ip");
    assert_eq!(
        note,
        format!(
            "Readiness probe failed: Get \"http://{ip}:8080/healthz\": dial tcp {ip}:8080: connect: connection refused"
        )
    );
    assert_eq!(phase(&p), "Running");
    let s = container_state(&p, "c");
    assert_eq!(
        (s["ready"].clone(), s["started"].clone()),
        (json!(false), json!(true))
    );
}

#[tokio::test]
async fn a_sidecar_starts_before_the_app_and_stops_after_it() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-l", "10.0.12.0/24", "192.168.0.21"))
        .await
        .expect("add node");
    let mut pod = pod_on(
        "sidecar",
        "node-l",
        json!([{"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"]}]),
    );
    pod["spec"]["initContainers"] = json!([
        {"name": "proxy", "image": "busybox:1.36", "restartPolicy": "Always", "command": ["sleep", "3600"]}
    ]);
    create_pod(&f.client, pod).await;
    let p = eventually("the pod Ready", || async {
        let p = get_pod(&f.client, "sidecar").await?;
        let ready = p
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        ready.then_some(p)
    })
    .await;
    let init = &p
        .status
        .as_ref()
        .and_then(|s| s.init_container_statuses.clone())
        .expect("init")[0];
    assert!(
        init.state.as_ref().is_some_and(|s| s.running.is_some()),
        "{init:?}"
    );
    assert!(init.ready);
    let api: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    api.delete("sidecar", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("the pod removed", || async {
        get_pod(&f.client, "sidecar").await.is_none().then_some(())
    })
    .await;
    let killing: Vec<String> = events_of(&f.client, "sidecar")
        .await
        .into_iter()
        .filter(|(r, _)| r == "Killing")
        .map(|(_, n)| n)
        .collect();
    assert_eq!(
        killing,
        vec!["Stopping container app", "Stopping container proxy"]
    );
}

#[tokio::test]
async fn a_pod_bound_later_runs_and_follow_streams_its_log_until_it_exits() {
    use futures::{AsyncBufReadExt, TryStreamExt};
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-m", "10.0.13.0/24", "192.168.0.22"))
        .await
        .expect("add node");
    let mut pod = pod_on(
        "ticker",
        "node-m",
        json!([{"name": "c", "image": "busybox:1.36",
                "command": ["sh", "-c", "for i in 1 2 3 4 5; do echo tick $i; sleep 10; done"]}]),
    );
    pod["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("nodeName");
    create_pod(&f.client, pod).await;
    let api: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "ticker"},
                         "target": {"apiVersion": "v1", "kind": "Node", "name": "node-m"}});
    let _: serde_json::Value = api
        .create_subresource("binding", "ticker", &PostParams::default(), &binding)
        .await
        .expect("bind");
    eventually("the pod Running", || async {
        let p = get_pod(&f.client, "ticker").await?;
        (phase(&p) == "Running").then_some(())
    })
    .await;
    let stream = api
        .log_stream(
            "ticker",
            &LogParams {
                follow: true,
                ..LogParams::default()
            },
        )
        .await
        .expect("follow");
    let lines: Vec<String> = tokio::time::timeout(PATIENCE, stream.lines().try_collect())
        .await
        .expect("the followed log ends when the container exits")
        .expect("read lines");
    assert_eq!(
        lines,
        vec!["tick 1", "tick 2", "tick 3", "tick 4", "tick 5"]
    );
    // The node reports the pulled image.
    let nodes: Api<Node> = Api::all(f.client.clone());
    eventually("busybox in node.status.images", || async {
        let n = nodes.get("node-m").await.ok()?;
        let images = n.status?.images?;
        images
            .iter()
            .any(|i| {
                i.names
                    .iter()
                    .flatten()
                    .any(|n| n == "docker.io/library/busybox:1.36")
            })
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_deleted_node_registers_again() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-n", "10.0.14.0/24", "192.168.0.23"))
        .await
        .expect("add node");
    let nodes: Api<Node> = Api::all(f.client.clone());
    let first = nodes.get("node-n").await.expect("node").metadata.uid;
    nodes
        .delete("node-n", &DeleteParams::default())
        .await
        .expect("delete node");
    let again = eventually("the node registered again", || async {
        let n = nodes.get_opt("node-n").await.ok().flatten()?;
        (n.metadata.uid != first).then_some(n)
    })
    .await;
    assert_eq!(
        again
            .metadata
            .labels
            .unwrap_or_default()
            .get("kubernetes.io/hostname")
            .map(String::as_str),
        Some("node-n")
    );
    f.agent.remove_node("node-n").await.expect("remove");
    assert!(
        f.agent.remove_node("node-n").await.is_err(),
        "a second remove names the unknown node"
    );
}

#[tokio::test]
async fn a_failing_post_start_hook_kills_the_container() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-o", "10.0.15.0/24", "192.168.0.24"))
        .await
        .expect("add node");
    create_pod(
        &f.client,
        pod_on(
            "hook",
            "node-o",
            json!([{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"],
                    "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "exit 1"]}}}}]),
        ),
    )
    .await;
    let events = eventually("FailedPostStartHook and the kill", || async {
        let ev = events_of(&f.client, "hook").await;
        ev.iter()
            .any(|(r, n)| r == "Killing" && n == "FailedPostStartHook")
            .then_some(ev)
    })
    .await;
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "FailedPostStartHook" && n == "PostStartHook failed"),
        "{events:?}"
    );
    eventually("a restart after the kill", || async {
        let p = get_pod(&f.client, "hook").await?;
        (container_state(&p, "c")["restartCount"].as_i64()? >= 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_restarted_kubelet_takes_over_its_running_pods() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-p", "10.0.16.0/24", "192.168.0.25"))
        .await
        .expect("add node");
    create_pod(
        &f.client,
        pod_on(
            "keep",
            "node-p",
            json!([{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]),
        ),
    )
    .await;
    let before = eventually("the pod Running", || async {
        let p = get_pod(&f.client, "keep").await?;
        (phase(&p) == "Running").then_some(p)
    })
    .await;
    f.agent
        .remove_node("node-p")
        .await
        .expect("stop the kubelet");
    // A new agent (skiff restarted) brings the node back.
    let again = NodeAgent::start(
        f.client.clone(),
        Config {
            clock: api::clock::Clock::with_speed(SPEED).expect("speed"),
            catalog: node_agent::behaviour::Catalog::builtin(),
            network: Arc::new(HostLocalNetwork::new(f.client.clone())),
            seed: 43,
        },
        f.shutdown.clone(),
    );
    again
        .add_node(node_spec("node-p", "10.0.16.0/24", "192.168.0.25"))
        .await
        .expect("add the node again");
    // Give the new kubelet time to sync the pod, then compare.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = get_pod(&f.client, "keep").await.expect("pod");
    assert_eq!(phase(&after), "Running");
    let (b, a) = (container_state(&before, "c"), container_state(&after, "c"));
    assert_eq!(a["containerID"], b["containerID"], "the same container");
    assert_eq!(a["restartCount"], json!(0));
    assert_eq!(
        after.status.as_ref().and_then(|s| s.pod_ip.clone()),
        before.status.as_ref().and_then(|s| s.pod_ip.clone()),
        "the pod keeps its address"
    );
    assert_eq!(
        a.pointer("/state/running/startedAt"),
        b.pointer("/state/running/startedAt")
    );
    let started = events_of(&f.client, "keep")
        .await
        .into_iter()
        .filter(|(r, _)| r == "Started")
        .count();
    assert_eq!(started, 1, "no second Started event");
    // The new kubelet owns the pod: deleting it stops that same container.
    let api: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    api.delete("keep", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("the pod removed by the new kubelet", || async {
        get_pod(&f.client, "keep").await.is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_missing_config_map_blocks_the_mount_until_it_exists_then_its_files_are_seen() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-q", "10.0.17.0/24", "192.168.0.26"))
        .await
        .expect("add node");
    let mut pod = pod_on(
        "cfg",
        "node-q",
        json!([{"name": "c", "image": "busybox:1.36",
                "command": ["cat", "/etc/app/greeting"],
                "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}]}]),
    );
    pod["spec"]["volumes"] = json!([{"name": "config", "configMap": {"name": "app-config"}}]);
    pod["spec"]["restartPolicy"] = json!("Never");
    create_pod(&f.client, pod).await;
    let note = eventually("FailedMount", || async {
        events_of(&f.client, "cfg")
            .await
            .into_iter()
            .find(|(r, _)| r == "FailedMount")
            .map(|(_, n)| n)
    })
    .await;
    assert_eq!(
        note,
        "MountVolume.SetUp failed for volume \"config\" : configmap \"app-config\" not found"
    );
    let p = get_pod(&f.client, "cfg").await.expect("pod");
    assert_eq!(phase(&p), "Pending");
    let cms: Api<ConfigMap> = Api::namespaced(f.client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "app-config"}, "data": {"greeting": "hello from the config map"}
    }))
    .expect("cm");
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create cm");
    let api: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    let logs = eventually("the file in the log", || async {
        let l = api.logs("cfg", &LogParams::default()).await.ok()?;
        (!l.is_empty()).then_some(l)
    })
    .await;
    assert_eq!(logs, "hello from the config map\n");
}

#[tokio::test]
async fn a_startup_probe_gates_readiness_and_an_http_readiness_probe_passes() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-r", "10.0.18.0/24", "192.168.0.27"))
        .await
        .expect("add node");
    create_pod(
        &f.client,
        pod_on(
            "slow",
            "node-r",
            json!([
                {"name": "app", "image": "busybox:1.36",
                 "command": ["sh", "-c", "sleep 20; touch /tmp/started; sleep 3600"],
                 "startupProbe": {"exec": {"command": ["cat", "/tmp/started"]}, "periodSeconds": 5, "failureThreshold": 30}},
                {"name": "web", "image": "nginx:1.27",
                 "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5}}
            ]),
        ),
    )
    .await;
    let early = eventually("web ready while app is starting", || async {
        let p = get_pod(&f.client, "slow").await?;
        (container_state(&p, "web")["ready"] == json!(true)).then_some(p)
    })
    .await;
    let app = container_state(&early, "app");
    if app["started"] == json!(false) {
        assert_eq!(app["ready"], json!(false), "not ready before started");
    }
    let p = eventually("app started and ready", || async {
        let p = get_pod(&f.client, "slow").await?;
        let s = container_state(&p, "app");
        (s["started"] == json!(true) && s["ready"] == json!(true)).then_some(p)
    })
    .await;
    assert_eq!(container_state(&p, "app")["restartCount"], json!(0));
    let events = events_of(&f.client, "slow").await;
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "Unhealthy" && n.starts_with("Startup probe failed: ")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_finished_job_pod_stops_its_sidecar_and_succeeds() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-s", "10.0.19.0/24", "192.168.0.28"))
        .await
        .expect("add node");
    let mut pod = pod_on(
        "job-sidecar",
        "node-s",
        json!([{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 5; echo done"]}]),
    );
    pod["spec"]["restartPolicy"] = json!("Never");
    pod["spec"]["initContainers"] = json!([
        {"name": "proxy", "image": "busybox:1.36", "restartPolicy": "Always", "command": ["sleep", "3600"]}
    ]);
    create_pod(&f.client, pod).await;
    let p = eventually("the pod Succeeded with its sidecar stopped", || async {
        let p = get_pod(&f.client, "job-sidecar").await?;
        let sidecar = p
            .status
            .as_ref()?
            .init_container_statuses
            .as_ref()?
            .first()?
            .clone();
        let stopped = sidecar.state.as_ref()?.terminated.is_some();
        (phase(&p) == "Succeeded" && stopped).then_some(p)
    })
    .await;
    let ready = p
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "PodReadyToStartContainers")
        .expect("condition");
    assert_eq!(ready.status, "False", "the sandbox is gone");
}

#[tokio::test]
async fn termination_messages_come_from_the_file_or_the_log() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-t", "10.0.20.0/24", "192.168.0.29"))
        .await
        .expect("add node");
    let mut pod = pod_on(
        "messages",
        "node-t",
        json!([
            {"name": "file", "image": "busybox:1.36",
             "command": ["sh", "-c", "echo -n all good > /dev/termination-log"]},
            {"name": "logs", "image": "busybox:1.36", "terminationMessagePolicy": "FallbackToLogsOnError",
             "command": ["sh", "-c", "echo first; echo it broke; exit 3"]}
        ]),
    );
    pod["spec"]["restartPolicy"] = json!("Never");
    create_pod(&f.client, pod).await;
    let p = eventually("the pod Failed", || async {
        let p = get_pod(&f.client, "messages").await?;
        (phase(&p) == "Failed").then_some(p)
    })
    .await;
    let file = container_state(&p, "file");
    assert_eq!(
        file.pointer("/state/terminated/message"),
        Some(&json!("all good")),
        "{file}"
    );
    let logs = container_state(&p, "logs");
    assert_eq!(logs.pointer("/state/terminated/exitCode"), Some(&json!(3)));
    assert_eq!(
        logs.pointer("/state/terminated/message"),
        Some(&json!("first\nit broke\n")),
        "{logs}"
    );
}

#[tokio::test]
async fn a_missing_executable_fails_the_start_and_a_never_policy_image_is_not_pulled() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-u", "10.0.21.0/24", "192.168.0.30"))
        .await
        .expect("add node");
    create_pod(
        &f.client,
        pod_on(
            "noexec",
            "node-u",
            json!([
                {"name": "bad", "image": "busybox:1.36", "command": ["no-such-binary"]},
                {"name": "local", "image": "alpine:3.20", "imagePullPolicy": "Never", "command": ["sleep", "60"]}
            ]),
        ),
    )
    .await;
    let p = eventually("StartError in lastState", || async {
        let p = get_pod(&f.client, "noexec").await?;
        let s = container_state(&p, "bad");
        (s.pointer("/lastState/terminated/reason")? == "StartError").then_some(p)
    })
    .await;
    let s = container_state(&p, "bad");
    assert_eq!(
        s.pointer("/lastState/terminated/exitCode"),
        Some(&json!(128))
    );
    let msg = s
        .pointer("/lastState/terminated/message")
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    assert!(
        msg.contains("exec: \"no-such-binary\": executable file not found in $PATH"),
        "{msg}"
    );
    let local = container_state(&p, "local");
    assert_eq!(
        local.pointer("/state/waiting/reason"),
        Some(&json!("ErrImageNeverPull"))
    );
    assert_eq!(
        local.pointer("/state/waiting/message"),
        Some(&json!(
            "Container image \"alpine:3.20\" is not present with pull policy of Never"
        ))
    );
    let events = events_of(&f.client, "noexec").await;
    assert!(
        events.iter().any(|(r, n)| r == "Failed"
            && n.starts_with("Error: ")
            && n.contains("no-such-binary")),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|(r, n)| r == "Pulling" && n.contains("alpine")),
        "{events:?}"
    );
}

/// Creates the `default` ServiceAccount the API server's admission requires of pods and
/// the `kube-root-ca.crt` ConfigMap its token volume projects (no ServiceAccount controller
/// or root CA publisher runs in this fixture).
async fn default_service_account(client: &kube::Client) {
    let ca: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(
        serde_json::json!({"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": "test CA"}}),
    )
    .expect("configmap");
    kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), "default")
        .create(&kube::api::PostParams::default(), &ca)
        .await
        .expect("create kube-root-ca.crt");
    let sa: k8s_openapi::api::core::v1::ServiceAccount =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "default"}}))
            .expect("service account");
    kube::Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(client.clone(), "default")
        .create(&kube::api::PostParams::default(), &sa)
        .await
        .expect("create the default service account");
}

// ---- QA findings: back-off growth, resuming, deletion retries, terminal conditions,
// cordon events, log rotation. ----

/// Annotates (`Some("stopped")`) or clears the node's stopped-kubelet annotation.
async fn set_stopped(client: &Client, node: &str, stopped: bool) {
    let value = if stopped {
        json!("stopped")
    } else {
        json!(null)
    };
    let patch = json!({"metadata": {"annotations": {"node.skiff.dev/kubelet": value}}});
    Api::<Node>::all(client.clone())
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate node");
}

fn condition<'a>(p: &'a Pod, kind: &str) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
}

#[tokio::test]
async fn crash_loop_back_off_doubles_per_restart_and_keeps_the_container_id() {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-q1", "10.1.1.0/24", "192.168.1.1"))
        .await
        .expect("add node");
    let api: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    let cfg = watcher::Config::default().fields("metadata.name=doubling");
    let mut pods = std::pin::pin!(watcher::watcher(api.clone(), cfg).applied_objects());
    create_pod(
        &f.client,
        pod_on(
            "doubling",
            "node-q1",
            json!([{"name": "c", "image": "busybox:1.36", "command": ["sh", "-c", "echo boom; exit 1"]}]),
        ),
    )
    .await;
    // Every back-off the status reports, in order, until the third.
    let mut seen: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while seen.len() < 3 {
        let p = tokio::time::timeout_at(deadline, pods.next())
            .await
            .expect("three back-offs in time")
            .expect("watch open")
            .expect("watch event");
        let s = container_state(&p, "c");
        if s.pointer("/state/waiting/reason") != Some(&json!("CrashLoopBackOff")) {
            continue;
        }
        let msg = s["state"]["waiting"]["message"]
            .as_str()
            .unwrap_or_default();
        let d = msg
            .strip_prefix("back-off ")
            .and_then(|m| m.split(' ').next())
            .unwrap_or_default()
            .to_string();
        // The waiting container keeps its last instance's ids (describe's `Container ID`).
        assert_eq!(
            s["containerID"], s["lastState"]["terminated"]["containerID"],
            "{s}"
        );
        assert!(
            s["containerID"]
                .as_str()
                .is_some_and(|id| id.starts_with("containerd://")),
            "{s}"
        );
        assert!(
            s["imageID"]
                .as_str()
                .is_some_and(|id| id.contains("@sha256:")),
            "{s}"
        );
        if seen.last() != Some(&d) {
            seen.push(d);
        }
    }
    assert_eq!(seen, vec!["10s", "20s", "40s"]);
}

#[tokio::test]
async fn a_resumed_kubelet_posts_its_pods_true_status_again() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-q2", "10.1.2.0/24", "192.168.1.2"))
        .await
        .expect("add node");
    create_pod(
        &f.client,
        pod_on(
            "steady",
            "node-q2",
            json!([{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]),
        ),
    )
    .await;
    let ready = |p: &Pod| condition(p, "Ready").map(|c| c.status.clone());
    eventually("Ready", || async {
        let p = get_pod(&f.client, "steady").await?;
        (ready(&p)? == "True").then_some(())
    })
    .await;
    set_stopped(&f.client, "node-q2", true).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // What the node lifecycle controller does to a silent node's pods.
    let mut p = get_pod(&f.client, "steady").await.expect("pod");
    let mut conditions = p
        .status
        .as_mut()
        .and_then(|s| s.conditions.take())
        .unwrap_or_default();
    for c in &mut conditions {
        if c.type_ == "Ready" {
            c.status = "False".into();
            c.reason = Some("NodeStatusUnknown".into());
        }
    }
    Api::<Pod>::namespaced(f.client.clone(), "default")
        .patch_status(
            "steady",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": conditions}})),
        )
        .await
        .expect("mark not ready");
    // A stopped kubelet posts nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let p = get_pod(&f.client, "steady").await.expect("pod");
    assert_eq!(ready(&p).as_deref(), Some("False"));
    set_stopped(&f.client, "node-q2", false).await;
    eventually("Ready again after resuming", || async {
        let p = get_pod(&f.client, "steady").await?;
        (ready(&p)? == "True").then_some(())
    })
    .await;
}

#[tokio::test]
async fn containers_run_on_while_the_kubelet_is_stopped() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-q3", "10.1.3.0/24", "192.168.1.3"))
        .await
        .expect("add node");
    let mut pod = pod_on(
        "runs-on",
        "node-q3",
        json!([{"name": "c", "image": "busybox:1.36",
                "command": ["sh", "-c", "echo start; sleep 20; echo done; exit 3"]}]),
    );
    pod["spec"]["restartPolicy"] = json!("Never");
    create_pod(&f.client, pod).await;
    eventually("Running", || async {
        let p = get_pod(&f.client, "runs-on").await?;
        (phase(&p) == "Running").then_some(())
    })
    .await;
    set_stopped(&f.client, "node-q3", true).await;
    // 125 simulated seconds: the process finishes 20 s after its start.
    tokio::time::sleep(Duration::from_secs_f64(125.0 / SPEED)).await;
    let p = get_pod(&f.client, "runs-on").await.expect("pod");
    assert_eq!(phase(&p), "Running", "a stopped kubelet reports nothing");
    let resumed_at = jiff::Timestamp::now();
    set_stopped(&f.client, "node-q3", false).await;
    let p = eventually("Failed after resuming", || async {
        let p = get_pod(&f.client, "runs-on").await?;
        (phase(&p) == "Failed").then_some(p)
    })
    .await;
    let s = container_state(&p, "c");
    assert_eq!(s.pointer("/state/terminated/exitCode"), Some(&json!(3)));
    let logs = Api::<Pod>::namespaced(f.client.clone(), "default")
        .logs(
            "runs-on",
            &LogParams {
                timestamps: true,
                ..LogParams::default()
            },
        )
        .await
        .expect("logs");
    let done: jiff::Timestamp = logs
        .lines()
        .find(|l| l.ends_with(" done"))
        .and_then(|l| l.split(' ').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no timestamped `done` line in {logs:?}"));
    assert!(
        done < resumed_at,
        "the process waited for the kubelet: `done` at {done}, resumed at {resumed_at}"
    );
}

#[tokio::test]
async fn the_final_delete_is_retried_until_the_pod_is_gone() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-q4", "10.1.4.0/24", "192.168.1.4"))
        .await
        .expect("add node");
    let mut pod = pod_on(
        "held",
        "node-q4",
        json!([{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]),
    );
    pod["metadata"]["finalizers"] = json!(["example.com/hold"]);
    create_pod(&f.client, pod).await;
    eventually("Running", || async {
        let p = get_pod(&f.client, "held").await?;
        (phase(&p) == "Running").then_some(())
    })
    .await;
    let api: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    api.delete("held", &DeleteParams::default())
        .await
        .expect("delete");
    // The containers stop; the kubelet's final delete cannot remove a pod with a finalizer.
    eventually("terminal while held", || async {
        let p = get_pod(&f.client, "held").await?;
        matches!(phase(&p), "Succeeded" | "Failed").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs_f64(20.0 / SPEED)).await;
    assert!(
        get_pod(&f.client, "held").await.is_some(),
        "the finalizer holds it"
    );
    let patch = json!({"metadata": {"finalizers": null}});
    api.patch("held", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("remove the finalizer");
    eventually("the pod gone", || async {
        get_pod(&f.client, "held").await.is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn terminal_pods_are_not_ready_with_pod_completed_or_pod_failed() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-q5", "10.1.5.0/24", "192.168.1.5"))
        .await
        .expect("add node");
    for (name, code) in [("ok", 0), ("bad", 1)] {
        let mut pod = pod_on(
            name,
            "node-q5",
            json!([{"name": "c", "image": "busybox:1.36",
                    "command": ["sh", "-c", format!("exit {code}")]}]),
        );
        pod["spec"]["restartPolicy"] = json!("Never");
        create_pod(&f.client, pod).await;
    }
    for (name, want_phase, want_reason) in [
        ("ok", "Succeeded", "PodCompleted"),
        ("bad", "Failed", "PodFailed"),
    ] {
        let p = eventually(want_phase, || async {
            let p = get_pod(&f.client, name).await?;
            (phase(&p) == want_phase).then_some(p)
        })
        .await;
        for kind in ["Ready", "ContainersReady"] {
            let c = condition(&p, kind).expect("condition");
            assert_eq!(
                (c.status.as_str(), c.reason.as_deref(), c.message.as_deref()),
                ("False", Some(want_reason), None),
                "{name} {kind}"
            );
        }
    }
}

#[tokio::test]
async fn cordoning_the_node_is_reported_as_events() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-q6", "10.1.6.0/24", "192.168.1.6"))
        .await
        .expect("add node");
    let nodes: Api<Node> = Api::all(f.client.clone());
    for (unschedulable, reason) in [(true, "NodeNotSchedulable"), (false, "NodeSchedulable")] {
        let patch = json!({"spec": {"unschedulable": unschedulable}});
        nodes
            .patch("node-q6", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("cordon");
        let note = format!("Node node-q6 status is now: {reason}");
        eventually(reason, || async {
            let events = events_of(&f.client, "node-q6").await;
            events
                .iter()
                .any(|(r, n)| r == reason && *n == note)
                .then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn logs_are_kept_by_size_not_by_a_line_count() {
    let f = fixture().await;
    f.agent
        .add_node(node_spec("node-q7", "10.1.7.0/24", "192.168.1.7"))
        .await
        .expect("add node");
    create_pod(
        &f.client,
        pod_on(
            "chatty",
            "node-q7",
            json!([{"name": "c", "image": "busybox:1.36",
                    "command": ["sh", "-c", "seq 1 6000; sleep 3600"]}]),
        ),
    )
    .await;
    let api: Api<Pod> = Api::namespaced(f.client.clone(), "default");
    let logs = eventually("6000 lines logged", || async {
        let logs = api.logs("chatty", &LogParams::default()).await.ok()?;
        logs.ends_with("6000\n").then_some(logs)
    })
    .await;
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(
        lines.len(),
        6000,
        "{} lines, from {:?}",
        lines.len(),
        lines.first()
    );
    assert_eq!(lines[0], "1");
}
