//! The controllers against a real in-process API server, with the tests playing scheduler and
//! kubelet (binding pods, writing their status).

mod support_sts {
    use std::future::Future;
    use std::sync::Arc;
    use std::time::Duration;

    use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
    use kube::api::{Api, Patch, PatchParams, PostParams};
    use kube::{Client, ResourceExt};
    use tokio_util::sync::CancellationToken;

    /// How long a test waits for a controller to act.
    pub const PATIENCE: Duration = Duration::from_secs(20);

    /// A running API server and the token that stops it and the controllers.
    pub struct Cluster {
        pub client: Client,
        pub shutdown: CancellationToken,
        pub clock: api::clock::Clock,
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            self.shutdown.cancel();
        }
    }

    /// Starts an API server with a clock of `speed`.
    pub async fn cluster(speed: f64) -> Cluster {
        let shutdown = CancellationToken::new();
        let store: Arc<dyn store::Backend> = Arc::new(store::MemoryBackend::new());
        let server =
            apiserver::ApiServer::new(store, apiserver::Config::default(), None, shutdown.clone());
        server.bootstrap().await.expect("bootstrap");
        let svc = tower::ServiceExt::map_request(
            server.service_for(apiserver::auth::Identity::user(
                "admin",
                &["system:masters"],
            )),
            |req: http::Request<kube::client::Body>| req.map(axum::body::Body::new),
        );
        let client = Client::new(svc, "default");
        let sa: ServiceAccount = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "default"}
        }))
        .expect("sa");
        let _ = Api::<ServiceAccount>::namespaced(client.clone(), "default")
            .create(&PostParams::default(), &sa)
            .await;
        Cluster {
            client,
            shutdown,
            clock: api::clock::Clock::with_speed(speed).expect("speed"),
        }
    }

    /// Polls `check` until it yields a value; panics naming `what` after [`PATIENCE`].
    pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Plays the kubelet: the pod is Running and Ready (or finished with `phase`).
    pub async fn set_phase(client: &Client, pod: &Pod, phase: &str) {
        let ns = pod.namespace().unwrap_or_default();
        let api = Api::<Pod>::namespaced(client.clone(), &ns);
        let now = jiff::Timestamp::now().to_string();
        let ready = if phase == "Running" { "True" } else { "False" };
        let status = serde_json::json!({"status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": now}],
        }});
        api.patch_status(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .expect("patch pod status");
    }

    /// Plays the scheduler: binds the pod to `node`.
    pub async fn bind(client: &Client, pod: &Pod, node: &str) {
        let ns = pod.namespace().unwrap_or_default();
        let api = Api::<Pod>::namespaced(client.clone(), &ns);
        let binding = serde_json::json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": pod.name_any()},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}
        });
        let body = &binding;
        let _: serde_json::Value = api
            .create_subresource("binding", &pod.name_any(), &PostParams::default(), body)
            .await
            .expect("bind pod");
    }

    /// Plays scheduler and kubelet for pods matching `selector` until `shutdown`: binds each
    /// pending pod to the node its affinity pins it to (or `default_node`), makes bound pods
    /// Running and Ready, and finishes the deletion of terminating pods.
    pub fn fake_kubelet(
        client: Client,
        selector: &str,
        default_node: Option<&str>,
        shutdown: CancellationToken,
    ) {
        let selector = selector.to_string();
        let default_node = default_node.map(String::from);
        tokio::spawn(async move {
            let api = Api::<Pod>::namespaced(client.clone(), "default");
            while !shutdown.is_cancelled() {
                let params = kube::api::ListParams::default().labels(&selector);
                if let Ok(list) = api.list(&params).await {
                    for p in list.items {
                        if p.metadata.deletion_timestamp.is_some() {
                            let _ = api
                                .delete(
                                    &p.name_any(),
                                    &kube::api::DeleteParams::default().grace_period(0),
                                )
                                .await;
                            continue;
                        }
                        let spec = p.spec.clone().unwrap_or_default();
                        if spec.node_name.as_deref().unwrap_or_default().is_empty() {
                            let target = spec
                                .affinity
                                .and_then(|a| a.node_affinity)
                                .and_then(|a| a.required_during_scheduling_ignored_during_execution)
                                .and_then(|r| r.node_selector_terms.into_iter().next())
                                .and_then(|t| t.match_fields)
                                .and_then(|f| f.into_iter().next())
                                .and_then(|r| r.values)
                                .and_then(|v| v.into_iter().next())
                                .or_else(|| default_node.clone());
                            if let Some(node) = target {
                                bind(&client, &p, &node).await;
                            }
                            continue;
                        }
                        if p.status
                            .as_ref()
                            .and_then(|s| s.phase.as_deref())
                            .is_none_or(|ph| ph == "Pending")
                        {
                            set_phase(&client, &p, "Running").await;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }

    /// The pod named `name` in default, if it exists.
    pub async fn pod(client: &Client, name: &str) -> Option<Pod> {
        Api::<Pod>::namespaced(client.clone(), "default")
            .get_opt(name)
            .await
            .expect("get pod")
    }

    /// Event notes about objects named `name` with `reason`.
    pub async fn event_notes(client: &Client, reason: &str) -> Vec<String> {
        let events =
            Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), "default")
                .list(&Default::default())
                .await
                .expect("list events");
        events
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .filter_map(|e| e.note)
            .collect()
    }
}

mod statefulset {
    use std::time::Duration;

    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;
    use kube::ResourceExt;
    use kube::api::{Api, Patch, PatchParams, PostParams};

    use super::support_sts::*;

    fn web(replicas: i32) -> StatefulSet {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {
                "replicas": replicas,
                "serviceName": "nginx",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}}}]
            }
        }))
        .expect("statefulset")
    }

    async fn start() -> Cluster {
        let c = cluster(1.0).await;
        tokio::spawn(controllers::statefulset::run(
            c.client.clone(),
            c.clock,
            c.shutdown.clone(),
        ));
        c
    }

    async fn ready(c: &Cluster, name: &str) {
        let p = eventually(&format!("pod {name} to be created"), || {
            pod(&c.client, name)
        })
        .await;
        set_phase(&c.client, &p, "Running").await;
    }

    #[tokio::test]
    async fn ordered_ready_creates_each_pod_after_the_previous_is_ready_with_claims() {
        let c = start().await;
        let sets = Api::<StatefulSet>::namespaced(c.client.clone(), "default");
        sets.create(&PostParams::default(), &web(3))
            .await
            .expect("create");
        let web0 = eventually("web-0 to be created", || pod(&c.client, "web-0")).await;
        assert_eq!(web0.labels()["statefulset.kubernetes.io/pod-name"], "web-0");
        assert_eq!(web0.labels()["apps.kubernetes.io/pod-index"], "0");
        let spec = web0.spec.clone().expect("spec");
        assert_eq!(spec.hostname.as_deref(), Some("web-0"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            pod(&c.client, "web-1").await.is_none(),
            "web-1 must wait for web-0 to be ready"
        );
        ready(&c, "web-0").await;
        eventually("web-1 after web-0 is ready", || pod(&c.client, "web-1")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            pod(&c.client, "web-2").await.is_none(),
            "web-2 must wait for web-1 to be ready"
        );
        ready(&c, "web-1").await;
        ready(&c, "web-2").await;
        let set = eventually("status to show 3 ready replicas", || async {
            let s = sets.get("web").await.ok()?;
            let st = s.status.clone()?;
            (st.ready_replicas == Some(3)
                && st.current_revision == st.update_revision
                && st.observed_generation == s.metadata.generation)
                .then_some(s)
        })
        .await;
        let status = set.status.expect("status");
        assert_eq!(status.replicas, 3);
        assert_eq!(status.updated_replicas, Some(3));
        assert_eq!(status.current_replicas, Some(3));
        let revision = status.update_revision.expect("update revision");
        assert!(revision.starts_with("web-"), "{revision}");
        assert_eq!(web0.labels()["controller-revision-hash"], revision);
        let claims = Api::<PersistentVolumeClaim>::namespaced(c.client.clone(), "default");
        for n in ["data-web-0", "data-web-1", "data-web-2"] {
            let claim = claims.get(n).await.expect("claim exists");
            assert_eq!(claim.labels()["app"], "web", "{n} labels");
        }
        let notes = event_notes(&c.client, "SuccessfulCreate").await;
        assert!(
            notes.contains(&"create Pod web-0 in StatefulSet web successful".to_string()),
            "{notes:?}"
        );
        assert!(
            notes.contains(
                &"create Claim data-web-0 Pod web-0 in StatefulSet web success".to_string()
            ),
            "{notes:?}"
        );
    }

    #[tokio::test]
    async fn a_rolling_update_with_partition_two_updates_only_the_last_pod() {
        let c = start().await;
        let sets = Api::<StatefulSet>::namespaced(c.client.clone(), "default");
        sets.create(&PostParams::default(), &web(3))
            .await
            .expect("create");
        for n in ["web-0", "web-1", "web-2"] {
            ready(&c, n).await;
        }
        let old = eventually("the first rollout to finish", || async {
            let st = sets.get("web").await.ok()?.status?;
            (st.ready_replicas == Some(3) && st.current_revision == st.update_revision)
                .then_some(st.current_revision?)
        })
        .await;
        let patch = serde_json::json!({"spec": {
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.28"}]}}
        }});
        sets.patch("web", &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .expect("update template");
        let new_web2 = eventually("web-2 to be recreated at the new revision", || async {
            let p = pod(&c.client, "web-2").await?;
            (p.labels()["controller-revision-hash"] != old).then_some(p)
        })
        .await;
        let image = new_web2.spec.as_ref().expect("spec").containers[0]
            .image
            .clone();
        assert_eq!(image.as_deref(), Some("nginx:1.28"));
        set_phase(&c.client, &new_web2, "Running").await;
        let status = eventually("status to count one updated replica", || async {
            let st = sets.get("web").await.ok()?.status?;
            (st.updated_replicas == Some(1) && st.ready_replicas == Some(3)).then_some(st)
        })
        .await;
        assert_eq!(status.current_revision.as_deref(), Some(old.as_str()));
        assert_ne!(status.update_revision.as_deref(), Some(old.as_str()));
        tokio::time::sleep(Duration::from_millis(500)).await;
        for n in ["web-0", "web-1"] {
            let p = pod(&c.client, n).await.expect("pod stays");
            assert_eq!(
                p.labels()["controller-revision-hash"],
                old,
                "{n} is below the partition"
            );
        }
        let notes = event_notes(&c.client, "SuccessfulDelete").await;
        assert!(
            notes.contains(&"delete Pod web-2 in StatefulSet web successful".to_string()),
            "{notes:?}"
        );
    }

    #[tokio::test]
    async fn parallel_pod_management_creates_every_pod_at_once_and_claims_can_be_owned() {
        let c = start().await;
        let sets = Api::<StatefulSet>::namespaced(c.client.clone(), "default");
        let mut set = web(3);
        let spec = set.spec.as_mut().expect("spec");
        spec.pod_management_policy = Some("Parallel".into());
        spec.ordinals = Some(k8s_openapi::api::apps::v1::StatefulSetOrdinals { start: Some(5) });
        spec.persistent_volume_claim_retention_policy = Some(
            k8s_openapi::api::apps::v1::StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some("Delete".into()),
                when_scaled: Some("Retain".into()),
            },
        );
        sets.create(&PostParams::default(), &set)
            .await
            .expect("create");
        for n in ["web-5", "web-6", "web-7"] {
            eventually(&format!("{n} without waiting for the others"), || {
                pod(&c.client, n)
            })
            .await;
        }
        let claims = Api::<PersistentVolumeClaim>::namespaced(c.client.clone(), "default");
        let claim = eventually("claim data-web-5", || async {
            claims.get_opt("data-web-5").await.ok().flatten()
        })
        .await;
        let owner = &claim.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("StatefulSet", "web"),
            "whenDeleted: Delete"
        );
        assert!(
            pod(&c.client, "web-0").await.is_none(),
            "ordinals start at 5"
        );
    }

    #[tokio::test]
    async fn failed_pods_are_recreated_and_scale_down_goes_from_the_top() {
        let c = start().await;
        let sets = Api::<StatefulSet>::namespaced(c.client.clone(), "default");
        sets.create(&PostParams::default(), &web(2))
            .await
            .expect("create");
        ready(&c, "web-0").await;
        ready(&c, "web-1").await;
        let web0 = pod(&c.client, "web-0").await.expect("web-0");
        set_phase(&c.client, &web0, "Failed").await;
        eventually("web-0 to be recreated", || async {
            let p = pod(&c.client, "web-0").await?;
            (p.uid() != web0.uid()).then_some(())
        })
        .await;
        ready(&c, "web-0").await;
        sets.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 1}})),
        )
        .await
        .expect("scale down");
        eventually("web-1 to be deleted", || async {
            pod(&c.client, "web-1").await.is_none().then_some(())
        })
        .await;
        assert!(pod(&c.client, "web-0").await.is_some(), "web-0 stays");
    }
}

mod daemonset {
    use std::time::Duration;

    use k8s_openapi::api::apps::v1::DaemonSet;
    use k8s_openapi::api::core::v1::{Node, Pod};
    use kube::ResourceExt;
    use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};

    use super::support_sts::*;

    fn node(name: &str, taints: serde_json::Value) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"taints": taints}
        }))
        .expect("node")
    }

    fn agent() -> DaemonSet {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {"metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "agent", "image": "agent:1"}]}}
            }
        }))
        .expect("daemonset")
    }

    fn target(p: &Pod) -> String {
        p.spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|r| {
                r.node_selector_terms[0]
                    .match_fields
                    .as_ref()
                    .expect("matchFields")[0]
                    .values
                    .as_ref()
                    .expect("values")[0]
                    .clone()
            })
            .expect("pinned by node affinity")
    }

    async fn agent_pods(c: &Cluster) -> Vec<Pod> {
        Api::<Pod>::namespaced(c.client.clone(), "default")
            .list(&ListParams::default().labels("app=agent"))
            .await
            .expect("list")
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect()
    }

    #[tokio::test]
    async fn one_pod_per_eligible_node_follows_nodes_and_rolls_out() {
        let c = cluster(1.0).await;
        let nodes = Api::<Node>::all(c.client.clone());
        for n in ["n1", "n2", "n3"] {
            nodes
                .create(&PostParams::default(), &node(n, serde_json::json!([])))
                .await
                .expect("node");
        }
        let tainted = node(
            "gpu",
            serde_json::json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        );
        nodes
            .create(&PostParams::default(), &tainted)
            .await
            .expect("node");
        tokio::spawn(controllers::daemonset::run(
            c.client.clone(),
            c.clock,
            c.shutdown.clone(),
        ));
        let sets = Api::<DaemonSet>::namespaced(c.client.clone(), "default");
        sets.create(&PostParams::default(), &agent())
            .await
            .expect("create");
        let pods = eventually("three daemon pods", || async {
            let pods = agent_pods(&c).await;
            (pods.len() == 3).then_some(pods)
        })
        .await;
        let mut targets: Vec<String> = pods.iter().map(target).collect();
        targets.sort();
        assert_eq!(targets, ["n1", "n2", "n3"], "one pod per untainted node");
        let tolerations = pods[0]
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.clone())
            .expect("tolerations");
        assert!(
            tolerations
                .iter()
                .any(|t| t.key.as_deref() == Some("node.kubernetes.io/unschedulable")),
            "{tolerations:?}"
        );
        assert!(pods[0].name_any().starts_with("agent-"));
        assert!(pods[0].labels().contains_key("controller-revision-hash"));
        assert_eq!(pods[0].labels()["pod-template-generation"], "1");
        fake_kubelet(c.client.clone(), "app=agent", None, c.shutdown.clone());
        eventually("status to show 3 available", || async {
            let st = sets.get("agent").await.ok()?.status?;
            (st.desired_number_scheduled == 3
                && st.number_available == Some(3)
                && st.number_ready == 3
                && st.updated_number_scheduled == Some(3)
                && st.current_number_scheduled == 3
                && st.number_misscheduled == 0)
                .then_some(())
        })
        .await;

        nodes
            .create(&PostParams::default(), &node("n4", serde_json::json!([])))
            .await
            .expect("node");
        eventually("a pod for the new node", || async {
            agent_pods(&c)
                .await
                .iter()
                .any(|p| target(p) == "n4")
                .then_some(())
        })
        .await;
        nodes
            .delete("n4", &DeleteParams::default())
            .await
            .expect("delete node");
        eventually("the removed node's pod to go", || async {
            let pods = agent_pods(&c).await;
            (pods.len() == 3 && !pods.iter().any(|p| target(p) == "n4")).then_some(())
        })
        .await;

        // A rolling update replaces every pod, one at a time.
        let old_hash = pods[0].labels()["controller-revision-hash"].clone();
        let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "agent:2"}]}}}});
        sets.patch("agent", &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .expect("update");
        eventually("every pod at the new revision and available", || async {
            let s = sets.get("agent").await.ok()?;
            let st = s.status.clone()?;
            let pods = agent_pods(&c).await;
            (st.observed_generation == s.metadata.generation
                && st.updated_number_scheduled == Some(3)
                && st.number_available == Some(3)
                && pods.len() == 3
                && pods
                    .iter()
                    .all(|p| p.labels()["controller-revision-hash"] != old_hash))
            .then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let notes = event_notes(&c.client, "SuccessfulCreate").await;
        assert!(
            notes.iter().any(|n| n.starts_with("Created pod: agent-")),
            "{notes:?}"
        );
        let deleted = event_notes(&c.client, "SuccessfulDelete").await;
        assert!(
            deleted.iter().any(|n| n.starts_with("Deleted pod: agent-")),
            "{deleted:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_daemon_pod_is_replaced() {
        let c = cluster(1.0).await;
        let nodes = Api::<Node>::all(c.client.clone());
        nodes
            .create(&PostParams::default(), &node("n1", serde_json::json!([])))
            .await
            .expect("node");
        tokio::spawn(controllers::daemonset::run(
            c.client.clone(),
            c.clock,
            c.shutdown.clone(),
        ));
        let sets = Api::<DaemonSet>::namespaced(c.client.clone(), "default");
        sets.create(&PostParams::default(), &agent())
            .await
            .expect("create");
        let first = eventually("the daemon pod", || async {
            agent_pods(&c).await.into_iter().next()
        })
        .await;
        bind(&c.client, &first, "n1").await;
        set_phase(&c.client, &first, "Failed").await;
        fake_kubelet(c.client.clone(), "app=agent", None, c.shutdown.clone());
        eventually("a replacement pod", || async {
            agent_pods(&c)
                .await
                .iter()
                .any(|p| p.uid() != first.uid())
                .then_some(())
        })
        .await;
        let notes = event_notes(&c.client, "FailedDaemonPod").await;
        assert_eq!(
            notes,
            [format!(
                "Found failed daemon pod default/{} on node n1, will try to kill it",
                first.name_any()
            )]
        );
    }
}

mod job {
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::api::core::v1::Pod;
    use kube::ResourceExt;
    use kube::api::{Api, ListParams, PostParams};

    use super::support_sts::*;

    fn job(name: &str, spec: serde_json::Value) -> Job {
        let mut base = serde_json::json!({
            "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox"}]}}}
        });
        if let (Some(s), Some(e)) = (base["spec"].as_object_mut(), spec.as_object()) {
            s.extend(e.clone());
        }
        serde_json::from_value(base).expect("job")
    }

    async fn start(speed: f64) -> Cluster {
        let c = cluster(speed).await;
        tokio::spawn(controllers::job::run(
            c.client.clone(),
            c.clock,
            c.shutdown.clone(),
        ));
        c
    }

    async fn pods_of(c: &Cluster, name: &str) -> Vec<Pod> {
        Api::<Pod>::namespaced(c.client.clone(), "default")
            .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={name}")))
            .await
            .expect("list")
            .items
    }

    fn running(p: &Pod) -> bool {
        p.metadata.deletion_timestamp.is_none()
            && !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
    }

    /// Finishes every running pod of the job with `phase` until the job has a condition of
    /// type `until`; returns the job and the most pods seen running at once.
    async fn drive(c: &Cluster, name: &str, phase: &str, until: &str) -> (Job, usize) {
        let jobs = Api::<Job>::namespaced(c.client.clone(), "default");
        let mut most = 0;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let j = jobs.get(name).await.expect("job");
            let done = j
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == until && c.status == "True"));
            if done {
                return (j, most);
            }
            let pods: Vec<Pod> = pods_of(c, name).await.into_iter().filter(running).collect();
            most = most.max(pods.len());
            for p in &pods {
                set_phase(&c.client, p, phase).await;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out driving job {name} to {until}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    fn condition_types(j: &Job) -> Vec<String> {
        j.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .map(|c| c.type_.clone())
            .collect()
    }

    #[tokio::test]
    async fn a_job_with_completions_three_one_at_a_time_completes() {
        let c = start(1.0).await;
        let jobs = Api::<Job>::namespaced(c.client.clone(), "default");
        jobs.create(
            &PostParams::default(),
            &job(
                "pi",
                serde_json::json!({"completions": 3, "parallelism": 1}),
            ),
        )
        .await
        .expect("create");
        let first = eventually("the first pod", || async {
            pods_of(&c, "pi").await.into_iter().next()
        })
        .await;
        assert!(first.name_any().starts_with("pi-"));
        assert!(
            first
                .finalizers()
                .contains(&"batch.kubernetes.io/job-tracking".to_string())
        );
        for l in [
            "batch.kubernetes.io/controller-uid",
            "controller-uid",
            "job-name",
        ] {
            assert!(first.labels().contains_key(l), "label {l}");
        }
        let (j, most) = drive(&c, "pi", "Succeeded", "Complete").await;
        assert_eq!(most, 1, "parallelism 1 runs one pod at a time");
        let st = j.status.clone().expect("status");
        assert_eq!(st.succeeded, Some(3));
        assert_eq!(st.active, Some(0));
        assert!(st.completion_time.is_some() && st.start_time.is_some());
        assert_eq!(condition_types(&j), ["SuccessCriteriaMet", "Complete"]);
        let pods = pods_of(&c, "pi").await;
        assert_eq!(pods.len(), 3);
        assert!(
            pods.iter().all(|p| p.finalizers().is_empty()),
            "counted pods are released"
        );
        let notes = event_notes(&c.client, "Completed").await;
        assert_eq!(notes, ["Job completed"]);
        let created = event_notes(&c.client, "SuccessfulCreate").await;
        assert!(
            created.iter().any(|n| n.starts_with("Created pod: pi-")),
            "{created:?}"
        );
    }

    #[tokio::test]
    async fn a_job_with_parallelism_three_runs_three_pods_at_once() {
        let c = start(1.0).await;
        let jobs = Api::<Job>::namespaced(c.client.clone(), "default");
        jobs.create(
            &PostParams::default(),
            &job(
                "par",
                serde_json::json!({"completions": 3, "parallelism": 3}),
            ),
        )
        .await
        .expect("create");
        eventually("three pods", || async {
            (pods_of(&c, "par").await.len() == 3).then_some(())
        })
        .await;
        let (j, most) = drive(&c, "par", "Succeeded", "Complete").await;
        assert_eq!(most, 3);
        assert_eq!(j.status.and_then(|s| s.succeeded), Some(3));
    }

    #[tokio::test]
    async fn a_failing_job_hits_the_backoff_limit() {
        let c = start(100.0).await;
        let jobs = Api::<Job>::namespaced(c.client.clone(), "default");
        jobs.create(
            &PostParams::default(),
            &job("fail", serde_json::json!({"backoffLimit": 1})),
        )
        .await
        .expect("create");
        let (j, _) = drive(&c, "fail", "Failed", "Failed").await;
        let st = j.status.clone().expect("status");
        assert_eq!(st.failed, Some(2), "backoffLimit 1 allows one retry");
        assert_eq!(condition_types(&j), ["FailureTarget", "Failed"]);
        let failed = st
            .conditions
            .expect("conditions")
            .into_iter()
            .find(|c| c.type_ == "Failed")
            .expect("Failed");
        assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
        assert_eq!(
            failed.message.as_deref(),
            Some("Job has reached the specified backoff limit")
        );
        let notes = event_notes(&c.client, "BackoffLimitExceeded").await;
        assert_eq!(notes, ["Job has reached the specified backoff limit"]);
    }

    #[tokio::test]
    async fn an_indexed_job_runs_each_index_once() {
        let c = start(1.0).await;
        let jobs = Api::<Job>::namespaced(c.client.clone(), "default");
        jobs.create(
            &PostParams::default(),
            &job(
                "idx",
                serde_json::json!({
            "completions": 3, "parallelism": 2, "completionMode": "Indexed"}),
            ),
        )
        .await
        .expect("create");
        let pods = eventually("two indexed pods", || async {
            let p = pods_of(&c, "idx").await;
            (p.len() == 2).then_some(p)
        })
        .await;
        let mut indexes: Vec<String> = pods
            .iter()
            .map(|p| p.annotations()["batch.kubernetes.io/job-completion-index"].clone())
            .collect();
        indexes.sort();
        assert_eq!(indexes, ["0", "1"]);
        for p in &pods {
            let i = &p.labels()["batch.kubernetes.io/job-completion-index"];
            assert!(
                p.name_any().starts_with(&format!("idx-{i}-")),
                "{}",
                p.name_any()
            );
            assert_eq!(
                p.spec.as_ref().and_then(|s| s.hostname.clone()),
                Some(format!("idx-{i}"))
            );
        }
        let (j, _) = drive(&c, "idx", "Succeeded", "Complete").await;
        let st = j.status.expect("status");
        assert_eq!(st.completed_indexes.as_deref(), Some("0-2"));
        assert_eq!(st.succeeded, Some(3));
    }

    #[tokio::test]
    async fn a_finished_job_with_a_ttl_is_deleted_with_its_pods() {
        let c = start(100.0).await;
        tokio::spawn(controllers::job::ttl_after_finished::run(
            c.client.clone(),
            c.clock,
            c.shutdown.clone(),
        ));
        tokio::spawn(controllers::garbage_collector::run(
            c.client.clone(),
            c.shutdown.clone(),
        ));
        let jobs = Api::<Job>::namespaced(c.client.clone(), "default");
        jobs.create(
            &PostParams::default(),
            &job("ttl", serde_json::json!({"ttlSecondsAfterFinished": 200})),
        )
        .await
        .expect("create");
        drive(&c, "ttl", "Succeeded", "Complete").await;
        eventually(
            "the job and its pod to be deleted after the TTL",
            || async {
                let gone = jobs.get_opt("ttl").await.ok()?.is_none();
                (gone && pods_of(&c, "ttl").await.is_empty()).then_some(())
            },
        )
        .await;
    }

    #[tokio::test]
    async fn a_suspended_job_deletes_its_pods_and_resumes() {
        // Pods deleted by the suspension count as failed (as upstream), so the resumed Job
        // waits out the failure back-off: a fast clock keeps that short.
        let c = start(100.0).await;
        let jobs = Api::<Job>::namespaced(c.client.clone(), "default");
        jobs.create(
            &PostParams::default(),
            &job(
                "nap",
                serde_json::json!({"parallelism": 2, "completions": 2}),
            ),
        )
        .await
        .expect("create");
        eventually("two pods", || async {
            (pods_of(&c, "nap")
                .await
                .iter()
                .filter(|p| running(p))
                .count()
                == 2)
                .then_some(())
        })
        .await;
        let suspend = serde_json::json!({"spec": {"suspend": true}});
        jobs.patch(
            "nap",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&suspend),
        )
        .await
        .expect("suspend");
        let j = eventually("the job to be suspended without pods", || async {
            let j = jobs.get("nap").await.ok()?;
            let suspended = condition_types(&j).contains(&"Suspended".to_string());
            (suspended && pods_of(&c, "nap").await.iter().all(|p| !running(p))).then_some(j)
        })
        .await;
        let cond = j
            .status
            .and_then(|s| s.conditions)
            .into_iter()
            .flatten()
            .find(|c| c.type_ == "Suspended")
            .expect("cond");
        assert_eq!(
            (cond.status.as_str(), cond.reason.as_deref()),
            ("True", Some("JobSuspended"))
        );
        let resume = serde_json::json!({"spec": {"suspend": false}});
        jobs.patch(
            "nap",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&resume),
        )
        .await
        .expect("resume");
        let (j, _) = drive(&c, "nap", "Succeeded", "Complete").await;
        let cond = j
            .status
            .and_then(|s| s.conditions)
            .into_iter()
            .flatten()
            .find(|c| c.type_ == "Suspended")
            .expect("cond");
        assert_eq!(
            (cond.status.as_str(), cond.reason.as_deref()),
            ("False", Some("JobResumed"))
        );
        assert_eq!(event_notes(&c.client, "Suspended").await, ["Job suspended"]);
        assert_eq!(event_notes(&c.client, "Resumed").await, ["Job resumed"]);
    }

    #[tokio::test]
    async fn an_active_deadline_fails_the_job() {
        let c = start(100.0).await;
        let jobs = Api::<Job>::namespaced(c.client.clone(), "default");
        jobs.create(
            &PostParams::default(),
            &job("slow", serde_json::json!({"activeDeadlineSeconds": 30})),
        )
        .await
        .expect("create");
        let j = eventually("the job to fail", || async {
            let j = jobs.get("slow").await.ok()?;
            condition_types(&j)
                .contains(&"Failed".to_string())
                .then_some(j)
        })
        .await;
        let failed = j
            .status
            .and_then(|s| s.conditions)
            .into_iter()
            .flatten()
            .find(|c| c.type_ == "Failed")
            .expect("Failed");
        assert_eq!(failed.reason.as_deref(), Some("DeadlineExceeded"));
        assert_eq!(
            failed.message.as_deref(),
            Some("Job was active longer than specified deadline")
        );
        assert!(
            pods_of(&c, "slow").await.iter().all(|p| !running(p)),
            "active pods are deleted"
        );
    }
}

mod cronjob {
    use std::time::Duration;

    use k8s_openapi::api::batch::v1::{CronJob, Job};
    use kube::ResourceExt;
    use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};

    use super::support_sts::*;

    fn cronjob(name: &str, policy: &str) -> CronJob {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {
                "schedule": "* * * * *",
                "concurrencyPolicy": policy,
                "successfulJobsHistoryLimit": 1,
                "jobTemplate": {"metadata": {"labels": {"app": name}},
                    "spec": {"template": {"spec": {"restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "busybox"}]}}}}
            }
        }))
        .expect("cronjob")
    }

    /// Speed 120: a simulated minute passes in half a real second.
    async fn start() -> Cluster {
        let c = cluster(120.0).await;
        tokio::spawn(controllers::cronjob::run(
            c.client.clone(),
            c.clock,
            c.shutdown.clone(),
        ));
        c
    }

    async fn jobs_of(c: &Cluster, name: &str) -> Vec<Job> {
        let mut jobs = Api::<Job>::namespaced(c.client.clone(), "default")
            .list(&ListParams::default().labels(&format!("app={name}")))
            .await
            .expect("list")
            .items;
        jobs.sort_by_key(|j| j.name_any());
        jobs
    }

    async fn complete(c: &Cluster, job: &Job) {
        let now = jiff::Timestamp::now().to_string();
        let status = serde_json::json!({"status": {
            "startTime": now, "completionTime": now, "succeeded": 1,
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
                {"type": "Complete", "status": "True", "lastTransitionTime": now}]
        }});
        Api::<Job>::namespaced(c.client.clone(), "default")
            .patch_status(
                &job.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&status),
            )
            .await
            .expect("complete job");
    }

    #[tokio::test]
    async fn a_cronjob_on_a_fast_clock_creates_jobs_and_keeps_history() {
        let c = start().await;
        let cronjobs = Api::<CronJob>::namespaced(c.client.clone(), "default");
        cronjobs
            .create(&PostParams::default(), &cronjob("hello", "Allow"))
            .await
            .expect("create");
        let first = eventually("the first job", || async {
            jobs_of(&c, "hello").await.into_iter().next()
        })
        .await;
        let minutes: i64 = first
            .name_any()
            .strip_prefix("hello-")
            .expect("prefix")
            .parse()
            .expect("minutes");
        let stamp: jiff::Timestamp =
            first.annotations()["batch.kubernetes.io/cronjob-scheduled-timestamp"]
                .parse()
                .expect("rfc3339");
        assert_eq!(
            stamp.as_second(),
            minutes * 60,
            "the name counts the scheduled minute"
        );
        assert_eq!(first.owner_references()[0].kind, "CronJob");
        let st = eventually("status to list the active job", || async {
            let st = cronjobs.get("hello").await.ok()?.status?;
            (st.active.as_ref().is_some_and(|a| !a.is_empty()) && st.last_schedule_time.is_some())
                .then_some(st)
        })
        .await;
        assert_eq!(st.active.expect("active")[0].kind.as_deref(), Some("Job"));
        complete(&c, &first).await;
        eventually("the completed job to leave the active list", || async {
            let st = cronjobs.get("hello").await.ok()?.status?;
            (st.last_successful_time.is_some()
                && !st
                    .active
                    .unwrap_or_default()
                    .iter()
                    .any(|a| a.uid == first.uid()))
            .then_some(())
        })
        .await;
        let second = eventually("a second job", || async {
            jobs_of(&c, "hello")
                .await
                .into_iter()
                .find(|j| j.uid() != first.uid())
        })
        .await;
        complete(&c, &second).await;
        eventually(
            "the oldest successful job to be deleted (limit 1)",
            || async {
                let jobs = jobs_of(&c, "hello").await;
                (!jobs.iter().any(|j| j.uid() == first.uid())
                    && jobs.iter().any(|j| j.uid() == second.uid()))
                .then_some(())
            },
        )
        .await;
        let created = event_notes(&c.client, "SuccessfulCreate").await;
        assert!(
            created.contains(&format!("Created job {}", first.name_any())),
            "{created:?}"
        );
        let saw = event_notes(&c.client, "SawCompletedJob").await;
        assert!(
            saw.contains(&format!(
                "Saw completed job: {}, condition: Complete",
                first.name_any()
            )),
            "{saw:?}"
        );
        let deleted = event_notes(&c.client, "SuccessfulDelete").await;
        assert!(
            deleted.contains(&format!("Deleted job {}", first.name_any())),
            "{deleted:?}"
        );
    }

    #[tokio::test]
    async fn forbid_starts_no_job_while_one_runs() {
        let c = start().await;
        let cronjobs = Api::<CronJob>::namespaced(c.client.clone(), "default");
        cronjobs
            .create(&PostParams::default(), &cronjob("solo", "Forbid"))
            .await
            .expect("create");
        eventually("the first job", || async {
            jobs_of(&c, "solo").await.into_iter().next()
        })
        .await;
        eventually("the controller to refuse a second one", || async {
            let notes = event_notes(&c.client, "JobAlreadyActive").await;
            notes.contains(&"Not starting job because prior execution is running and concurrency policy is Forbid".to_string()).then_some(())
        }).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(jobs_of(&c, "solo").await.len(), 1, "Forbid keeps one job");
    }
}
