//! Workload scenarios with the real kubectl against a real `skiff up` process (three
//! simulated nodes, a fast clock): rollouts, history and undo, `describe` and `logs` of the
//! documentation's failure reproductions, and `kubectl drain` honouring a disruption budget.
//! Each test skips with a printed reason when kubectl is not installed.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use crate::kubectl::{Kubectl, kubectl_on_path, table};
use crate::support::{Ready, Skiff, client};

/// Simulated time runs this many times faster than real time in these tests.
const SPEED: &str = "10";

/// Starts `skiff up` with three nodes on a fast clock, and kubectl for it.
async fn setup(dir: &Path) -> Option<(Skiff, Kubectl, Ready)> {
    let Some(bin) = kubectl_on_path() else {
        println!("skipping: kubectl not installed");
        return None;
    };
    let mut skiff = Skiff::spawn_with(
        dir,
        &[
            "--listen",
            "127.0.0.1:0",
            "--store",
            "sqlite",
            "--speed",
            SPEED,
            "--nodes",
            "3",
        ],
    );
    let ready = skiff.ready().await;
    let k = Kubectl::new(bin, &ready);
    Some((skiff, k, ready))
}

/// Runs kubectl until its stdout satisfies `check` (or fails after a minute).
async fn until(k: &Kubectl, args: &[&str], what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = k.run(args).await;
        if out.code == Some(0) && check(&out.stdout) {
            return out.stdout;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; last: {}",
            out.describe()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn kubectl_get_nodes_shows_three_ready_nodes() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, _)) = setup(temp.path()).await else {
        return;
    };
    let out = until(&k, &["get", "nodes"], "three Ready nodes", |out| {
        let rows = table(out);
        rows.len() == 4
            && rows[1..]
                .iter()
                .all(|r| r.get(1).map(String::as_str) == Some("Ready"))
    })
    .await;
    let rows = table(&out);
    assert_eq!(
        rows[0],
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        "{out}"
    );
    for r in &rows[1..] {
        assert!(r[0].ends_with(".compute.internal"), "{out}");
        assert_eq!(r[2], "<none>", "{out}");
        assert!(r[4].starts_with("v1.33."), "{out}");
    }
    let out = k
        .ok(&[
            "get",
            "nodes",
            "-L",
            "node.kubernetes.io/instance-type,topology.kubernetes.io/zone",
        ])
        .await;
    let rows = table(&out);
    assert!(rows[1..].iter().all(|r| r[5] == "m5.large"), "{out}");
    skiff.stop().await;
}

#[tokio::test]
async fn kubectl_rollout_status_set_image_history_and_undo() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, ready)) = setup(temp.path()).await else {
        return;
    };
    let out = k
        .ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=5",
        ])
        .await;
    assert_eq!(out.trim(), "deployment.apps/web created");
    let out = k
        .ok(&["rollout", "status", "deploy/web", "--timeout=60s"])
        .await;
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );

    // Sample availability while the new image rolls out: maxUnavailable 25% of 5 rounds
    // down to 1, so at least 4 replicas stay available throughout.
    let c = client(&ready.kubeconfig).await;
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), "default");
    let lowest = Arc::new(AtomicI32::new(i32::MAX));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn({
        let (lowest, sampling, deploys) = (lowest.clone(), sampling.clone(), deploys.clone());
        async move {
            while sampling.load(Ordering::SeqCst) {
                if let Ok(d) = deploys.get("web").await {
                    let avail = d.status.and_then(|s| s.available_replicas).unwrap_or(0);
                    lowest.fetch_min(avail, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let out = k
        .ok(&["set", "image", "deploy/web", "nginx=nginx:1.28"])
        .await;
    assert_eq!(out.trim(), "deployment.apps/web image updated");
    let out = k
        .ok(&["rollout", "status", "deploy/web", "--timeout=60s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    sampling.store(false, Ordering::SeqCst);
    sampler.await.expect("sampler");
    assert!(
        lowest.load(Ordering::SeqCst) >= 4,
        "availability fell to {} during the rollout (maxUnavailable is 1)",
        lowest.load(Ordering::SeqCst)
    );

    let out = k.ok(&["rollout", "history", "deploy/web"]).await;
    let revisions: Vec<String> = table(&out)
        .into_iter()
        .skip_while(|r| r.first().map(String::as_str) != Some("REVISION"))
        .skip(1)
        .filter_map(|r| r.first().cloned())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{out}");

    let out = k.ok(&["rollout", "undo", "deploy/web"]).await;
    assert_eq!(out.trim(), "deployment.apps/web rolled back");
    k.ok(&["rollout", "status", "deploy/web", "--timeout=60s"])
        .await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .expect("pods")
            .items;
        let live: Vec<&Pod> = list
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let images: Vec<String> = live
            .iter()
            .filter_map(|p| p.spec.as_ref()?.containers.first()?.image.clone())
            .collect();
        if images.len() == 5 && images.iter().all(|i| i == "nginx:1.27") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pods after undo: {images:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = k.ok(&["rollout", "history", "deploy/web"]).await;
    let revisions: Vec<String> = table(&out)
        .into_iter()
        .skip_while(|r| r.first().map(String::as_str) != Some("REVISION"))
        .skip(1)
        .filter_map(|r| r.first().cloned())
        .collect();
    assert_eq!(
        revisions,
        ["2", "3"],
        "undo reuses revision 1's ReplicaSet as revision 3: {out}"
    );
    skiff.stop().await;
}

#[tokio::test]
async fn kubectl_describe_and_logs_show_what_a_real_cluster_shows() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, _)) = setup(temp.path()).await else {
        return;
    };
    k.ok(&[
        "run",
        "crash",
        "--image=busybox",
        "--",
        "/bin/sh",
        "-c",
        "echo starting; exit 1",
    ])
    .await;
    k.ok(&[
        "run",
        "echo",
        "--image=busybox",
        "--",
        "sh",
        "-c",
        "echo hello; sleep 3600",
    ])
    .await;
    k.ok(&["run", "bad", "--image=nginx:doesnotexist"]).await;

    until(
        &k,
        &[
            "get",
            "pod",
            "crash",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
        ],
        "crash in CrashLoopBackOff",
        |out| out == "CrashLoopBackOff",
    )
    .await;
    let out = until(&k, &["get", "pod", "crash"], "the STATUS column", |out| {
        out.contains("CrashLoopBackOff")
    })
    .await;
    assert_eq!(
        table(&out)[0],
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{out}"
    );
    // The container alternates between short runs and ever longer back-offs; describe it
    // while it waits.
    let describe = until(
        &k,
        &["describe", "pod", "crash"],
        "describe in CrashLoopBackOff",
        |o| o.contains("Reason:       CrashLoopBackOff"),
    )
    .await;
    for needle in [
        "Reason:       CrashLoopBackOff",
        "Last State:     Terminated",
        "Reason:       Error",
        "Exit Code:    1",
        "Back-off restarting failed container crash in pod crash_default(",
        "Successfully assigned default/crash to ",
    ] {
        assert!(
            describe.contains(needle),
            "describe lacks {needle:?}:\n{describe}"
        );
    }
    let out = k.ok(&["logs", "crash", "--previous"]).await;
    assert_eq!(out, "starting\n");

    let out = until(&k, &["logs", "echo"], "echo's log", |out| out == "hello\n").await;
    assert_eq!(out, "hello\n");
    let out = k.ok(&["logs", "echo", "--timestamps"]).await;
    let (ts, line) = out.trim_end().split_once(' ').expect("timestamped line");
    assert!(ts.parse::<jiff::Timestamp>().is_ok(), "{out}");
    assert_eq!(line, "hello");

    until(
        &k,
        &["get", "pod", "bad"],
        "bad in ImagePullBackOff",
        |out| out.contains("ImagePullBackOff") || out.contains("ErrImagePull"),
    )
    .await;
    let describe = k.ok(&["describe", "pod", "bad"]).await;
    assert!(
        describe.contains("Failed to pull image \"nginx:doesnotexist\""),
        "{describe}"
    );
    // The kubelet's answer depends on the moment: ErrImagePull or ImagePullBackOff.
    let out = k.fails(&["logs", "bad"]).await;
    assert!(
        out.stderr.contains(
            "container \"bad\" in pod \"bad\" is waiting to start: trying and failing to pull image"
        ) || out.stderr.contains(
            "container \"bad\" in pod \"bad\" is waiting to start: image can't be pulled"
        ),
        "{}",
        out.describe()
    );
    skiff.stop().await;
}

#[tokio::test]
async fn kubectl_drain_retries_while_a_pdb_refuses_and_pods_reschedule() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, ready)) = setup(temp.path()).await else {
        return;
    };
    let out = until(&k, &["get", "nodes", "-o", "name"], "three nodes", |out| {
        out.lines().count() == 3
    })
    .await;
    let target = out
        .lines()
        .next()
        .expect("a node")
        .trim_start_matches("node/")
        .to_string();
    // Four replicas that prefer the target node, guarded by a budget of three.
    let manifest = format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      affinity:
        nodeAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            preference:
              matchFields:
              - {{key: metadata.name, operator: In, values: [{target}]}}
      containers:
      - name: nginx
        image: nginx:1.27
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 3
  selector:
    matchLabels: {{app: web}}
"#
    );
    let file = temp.path().join("web.yaml");
    std::fs::write(&file, manifest).expect("write manifest");
    k.ok(&["apply", "-f", file.to_str().expect("utf-8 path")])
        .await;
    k.ok(&["rollout", "status", "deploy/web", "--timeout=60s"])
        .await;
    let c = client(&ready.kubeconfig).await;
    let pods: Api<Pod> = Api::namespaced(c, "default");
    let on_target = |list: &[Pod]| {
        list.iter()
            .filter(|p| {
                p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(target.as_str())
            })
            .count()
    };
    let list = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("pods")
        .items;
    assert!(
        on_target(&list) >= 2,
        "the preferred node holds most replicas"
    );
    until(
        &k,
        &[
            "get",
            "pdb",
            "web",
            "-o",
            "jsonpath={.status.disruptionsAllowed}",
        ],
        "the budget's status",
        |o| o == "1",
    )
    .await;

    let out = k
        .run(&[
            "drain",
            &target,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=120s",
        ])
        .await;
    assert_eq!(out.code, Some(0), "drain: {}", out.describe());
    assert!(
        out.stderr
            .contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "drain met the budget and retried: {}",
        out.describe()
    );
    assert!(
        out.stdout.contains(&format!("node/{target} drained")),
        "{}",
        out.describe()
    );
    let out = k.ok(&["get", "node", &target]).await;
    assert!(out.contains("SchedulingDisabled"), "{out}");
    // The node lifecycle controller taints the cordoned node, as on EKS.
    until(
        &k,
        &[
            "get",
            "node",
            &target,
            "-o",
            "jsonpath={.spec.taints[*].key}",
        ],
        "the unschedulable taint",
        |o| o.contains("node.kubernetes.io/unschedulable"),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .expect("pods")
            .items;
        let live: Vec<Pod> = list
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let running_elsewhere = live
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        if on_target(&live) == 0 && running_elsewhere == 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pods after drain did not settle"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    skiff.stop().await;
}
