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
}
