//! The controllers against a real in-process API server, driven with kube-rs. No scheduler or
//! kubelet runs: tests play the kubelet by patching pods' status.

mod deployment {
    use std::future::Future;
    use std::sync::Arc;
    use std::time::Duration;

    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
    use kube::{Client, ResourceExt};
    use serde_json::json;
    use tokio_util::sync::CancellationToken;

    const NS: &str = "default";
    const PATIENCE: Duration = Duration::from_secs(30);

    struct Cluster {
        client: Client,
        server: apiserver::ApiServer,
        shutdown: CancellationToken,
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            self.shutdown.cancel();
        }
    }

    /// A fresh API server with the ReplicaSet, Deployment and garbage collector controllers,
    /// on a clock running 20 times faster than real time.
    async fn start() -> Cluster {
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
        let clock = api::clock::Clock::with_speed(20.0).expect("clock");
        tokio::spawn(controllers::replicaset::run(
            client.clone(),
            clock,
            shutdown.clone(),
        ));
        tokio::spawn(controllers::deployment::run(
            client.clone(),
            clock,
            shutdown.clone(),
        ));
        tokio::spawn(controllers::garbage_collector::run(
            client.clone(),
            shutdown.clone(),
        ));
        Cluster {
            client,
            server,
            shutdown,
        }
    }

    /// Polls `check` until it yields a value, failing with `what` after [`PATIENCE`].
    async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn deployment(
        name: &str,
        replicas: i32,
        image: &str,
        strategy: serde_json::Value,
    ) -> Deployment {
        serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "strategy": strategy,
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": image}]}
                }
            }
        }))
        .expect("deployment")
    }

    fn rolling(surge: i32, unavailable: i32) -> serde_json::Value {
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
    }

    async fn create(c: &Cluster, d: &Deployment) {
        Api::<Deployment>::namespaced(c.client.clone(), NS)
            .create(&PostParams::default(), d)
            .await
            .expect("create deployment");
    }

    async fn get(c: &Cluster, name: &str) -> Deployment {
        Api::<Deployment>::namespaced(c.client.clone(), NS)
            .get(name)
            .await
            .expect("get deployment")
    }

    async fn patch(c: &Cluster, name: &str, patch: serde_json::Value) {
        Api::<Deployment>::namespaced(c.client.clone(), NS)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch deployment");
    }

    async fn set_image(c: &Cluster, name: &str, image: &str) {
        patch(
            c,
            name,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}),
        )
        .await;
    }

    async fn pods(c: &Cluster, app: &str) -> Vec<Pod> {
        pods_of(&c.client, app).await
    }

    async fn pods_of(client: &Client, app: &str) -> Vec<Pod> {
        Api::<Pod>::namespaced(client.clone(), NS)
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .expect("list pods")
            .items
    }

    async fn replica_sets(c: &Cluster, app: &str) -> Vec<ReplicaSet> {
        let mut rss = Api::<ReplicaSet>::namespaced(c.client.clone(), NS)
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .expect("list replicasets")
            .items;
        rss.sort_by_key(|rs| rs.metadata.creation_timestamp.clone().map(|t| t.0));
        rss
    }

    fn is_ready(pod: &Pod) -> bool {
        pod.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    }

    fn revision(rs: &ReplicaSet) -> Option<String> {
        rs.annotations()
            .get("deployment.kubernetes.io/revision")
            .cloned()
    }

    fn owner_uid(pod: &Pod) -> Option<String> {
        pod.owner_references()
            .iter()
            .find(|r| r.controller == Some(true))
            .map(|r| r.uid.clone())
    }

    /// Plays the kubelet for one pod: Running and Ready.
    async fn mark_ready(c: &Cluster, pod: &Pod) {
        mark_ready_with(&c.client, pod).await
    }

    /// [`mark_ready`] with a client.
    async fn mark_ready_with(client: &Client, pod: &Pod) {
        let now = jiff::Timestamp::now().to_string();
        let status = json!({"status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": now}
            ]
        }});
        let _ = Api::<Pod>::namespaced(client.clone(), NS)
            .patch_status(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&status),
            )
            .await;
    }

    /// Marks every pod of `app` ready.
    async fn mark_all_ready(c: &Cluster, app: &str) {
        mark_all_ready_with(&c.client, app).await
    }

    /// [`mark_all_ready`] with a client.
    async fn mark_all_ready_with(client: &Client, app: &str) {
        for pod in pods_of(client, app).await {
            if !is_ready(&pod) && pod.metadata.deletion_timestamp.is_none() {
                mark_ready_with(client, &pod).await;
            }
        }
    }

    /// What `kubectl rollout status` waits for.
    fn rolled_out(d: &Deployment) -> bool {
        let s = d.status.clone().unwrap_or_default();
        let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
            && s.updated_replicas.unwrap_or(0) == want
            && s.replicas.unwrap_or(0) == want
            && s.available_replicas.unwrap_or(0) == want
    }

    fn condition(d: &Deployment, type_: &str) -> Option<(String, String, String)> {
        d.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| {
                (
                    c.status.clone(),
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default(),
                )
            })
    }

    /// Marks pods ready until the Deployment is rolled out.
    async fn roll_out(c: &Cluster, name: &str) -> Deployment {
        wait_for(&format!("deployment {name} rolled out"), || async {
            mark_all_ready(c, name).await;
            let d = get(c, name).await;
            rolled_out(&d).then_some(d)
        })
        .await
    }

    async fn scaling_events(c: &Cluster) -> Vec<String> {
        Api::<k8s_openapi::api::events::v1::Event>::namespaced(c.client.clone(), NS)
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("ScalingReplicaSet"))
            .filter_map(|e| e.note)
            .collect()
    }

    #[tokio::test]
    async fn a_deployment_of_five_creates_one_replica_set_and_converges_to_available() {
        let c = start().await;
        create(&c, &deployment("web", 5, "nginx:1.25", rolling(1, 1))).await;
        let rss = wait_for("one replica set with 5 pods", || async {
            let rss = replica_sets(&c, "web").await;
            (rss.len() == 1 && pods(&c, "web").await.len() == 5).then_some(rss)
        })
        .await;
        let rs = &rss[0];
        let hash = rs
            .labels()
            .get("pod-template-hash")
            .cloned()
            .expect("hash label");
        assert_eq!(rs.name_any(), format!("web-{hash}"));
        assert_eq!(revision(rs).as_deref(), Some("1"));
        assert_eq!(
            rs.annotations()
                .get("deployment.kubernetes.io/desired-replicas")
                .map(String::as_str),
            Some("5")
        );
        assert_eq!(
            rs.annotations()
                .get("deployment.kubernetes.io/max-replicas")
                .map(String::as_str),
            Some("6")
        );
        let selector = rs
            .spec
            .as_ref()
            .expect("spec")
            .selector
            .match_labels
            .clone();
        assert_eq!(
            selector.and_then(|m| m.get("pod-template-hash").cloned()),
            Some(hash.clone())
        );
        for pod in pods(&c, "web").await {
            assert!(
                pod.name_any().starts_with(&format!("web-{hash}-")),
                "{}",
                pod.name_any()
            );
            assert_eq!(owner_uid(&pod), rs.metadata.uid, "pods are owned by the RS");
        }
        let d = roll_out(&c, "web").await;
        assert_eq!(
            condition(&d, "Available"),
            Some((
                "True".into(),
                "MinimumReplicasAvailable".into(),
                "Deployment has minimum availability.".into()
            ))
        );
        assert_eq!(
            condition(&d, "Progressing"),
            Some((
                "True".into(),
                "NewReplicaSetAvailable".into(),
                format!("ReplicaSet \"web-{hash}\" has successfully progressed.")
            ))
        );
        assert_eq!(
            d.annotations()
                .get("deployment.kubernetes.io/revision")
                .map(String::as_str),
            Some("1")
        );
        let rs = &replica_sets(&c, "web").await[0];
        let st = rs.status.clone().expect("rs status");
        assert_eq!(
            (
                st.replicas,
                st.ready_replicas,
                st.available_replicas,
                st.fully_labeled_replicas
            ),
            (5, Some(5), Some(5), Some(5))
        );
        // Converged means quiet: no further writes to the Deployment or its ReplicaSet.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let versions = || async {
            (
                get(&c, "web").await.metadata.resource_version,
                replica_sets(&c, "web").await[0]
                    .metadata
                    .resource_version
                    .clone(),
            )
        };
        let before = versions().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            versions().await,
            before,
            "controllers keep writing after convergence"
        );
        let events = wait_for("the scale-up event", || async {
            let e = scaling_events(&c).await;
            (!e.is_empty()).then_some(e)
        })
        .await;
        assert!(
            events.contains(&format!("Scaled up replica set web-{hash} from 0 to 5")),
            "{events:?}"
        );
        // Deleting the Deployment removes its ReplicaSet and pods (garbage collector).
        Api::<Deployment>::namespaced(c.client.clone(), NS)
            .delete("web", &kube::api::DeleteParams::default())
            .await
            .expect("delete");
        wait_for("the replica set and pods collected", || async {
            (replica_sets(&c, "web").await.is_empty() && pods(&c, "web").await.is_empty())
                .then_some(())
        })
        .await;
    }

    #[tokio::test]
    async fn an_image_change_rolls_out_within_max_unavailable_and_undo_reuses_the_first_replica_set()
     {
        let c = start().await;
        create(&c, &deployment("web", 5, "nginx:1.25", rolling(1, 1))).await;
        roll_out(&c, "web").await;
        let first = replica_sets(&c, "web").await.remove(0);

        set_image(&c, "web", "nginx:1.26").await;
        // Mark new pods ready one at a time; at no point may fewer than 5 - 1 pods be ready.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let all = pods(&c, "web").await;
            let ready = all
                .iter()
                .filter(|p| is_ready(p) && p.metadata.deletion_timestamp.is_none())
                .count();
            assert!(ready >= 4, "only {ready} ready pods during the rollout");
            let d = get(&c, "web").await;
            if rolled_out(&d) && replica_sets(&c, "web").await.len() == 2 {
                break;
            }
            if let Some(p) = all.iter().find(|p| !is_ready(p)) {
                mark_ready(&c, p).await;
            }
            assert!(tokio::time::Instant::now() < deadline, "rollout timed out");
            for _ in 0..6 {
                tokio::time::sleep(Duration::from_millis(25)).await;
                let ready = pods(&c, "web")
                    .await
                    .iter()
                    .filter(|p| is_ready(p) && p.metadata.deletion_timestamp.is_none())
                    .count();
                assert!(ready >= 4, "only {ready} ready pods during the rollout");
            }
        }
        let rss = replica_sets(&c, "web").await;
        assert_eq!(rss.len(), 2);
        assert_eq!(rss[0].metadata.uid, first.metadata.uid);
        assert_eq!(revision(&rss[0]).as_deref(), Some("1"));
        assert_eq!(revision(&rss[1]).as_deref(), Some("2"));
        assert_eq!(rss[0].spec.as_ref().and_then(|s| s.replicas), Some(0));
        assert_eq!(rss[1].spec.as_ref().and_then(|s| s.replicas), Some(5));
        let second_name = rss[1].name_any();
        let events = scaling_events(&c).await;
        assert!(
            events.iter().any(|e| e.starts_with(&format!(
                "Scaled down replica set {} from",
                first.name_any()
            ))),
            "{events:?}"
        );

        // kubectl rollout undo: copy revision 1's template (without the hash label) back.
        let mut template = first
            .spec
            .clone()
            .expect("spec")
            .template
            .expect("template");
        if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove("pod-template-hash");
        }
        let api = Api::<Deployment>::namespaced(c.client.clone(), NS);
        let mut d = get(&c, "web").await;
        d.spec.as_mut().expect("spec").template = template;
        api.replace("web", &PostParams::default(), &d)
            .await
            .expect("undo");
        roll_out(&c, "web").await;
        let rss = wait_for("the first replica set back at 5 and revision 3", || async {
            let rss = replica_sets(&c, "web").await;
            (rss.len() == 2
                && rss[0].spec.as_ref().and_then(|s| s.replicas) == Some(5)
                && revision(&rss[0]).as_deref() == Some("3"))
            .then_some(rss)
        })
        .await;
        assert_eq!(
            rss[0].metadata.uid, first.metadata.uid,
            "the old RS is reused"
        );
        assert_eq!(
            rss[0]
                .annotations()
                .get("deployment.kubernetes.io/revision-history")
                .map(String::as_str),
            Some("1")
        );
        assert_eq!(rss[1].name_any(), second_name);
        assert_eq!(revision(&rss[1]).as_deref(), Some("2"));
        let d = wait_for("deployment revision 3", || async {
            let d = get(&c, "web").await;
            (d.annotations()
                .get("deployment.kubernetes.io/revision")
                .map(String::as_str)
                == Some("3"))
            .then_some(d)
        })
        .await;
        assert!(rolled_out(&d));
    }

    #[tokio::test]
    async fn scaling_to_one_hundred_creates_one_hundred_pods() {
        let c = start().await;
        create(&c, &deployment("big", 2, "nginx", rolling(1, 1))).await;
        roll_out(&c, "big").await;
        patch(&c, "big", json!({"spec": {"replicas": 100}})).await;
        wait_for("100 pods", || async {
            let n = pods(&c, "big").await.len();
            (n == 100).then_some(())
        })
        .await;
        let rss = replica_sets(&c, "big").await;
        assert_eq!(rss.len(), 1, "scaling does not roll out");
        assert_eq!(rss[0].spec.as_ref().and_then(|s| s.replicas), Some(100));
        let d = roll_out(&c, "big").await;
        assert_eq!(d.status.and_then(|s| s.available_replicas), Some(100));
        // Settle: no extra pods appear after the watches catch up.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(pods(&c, "big").await.len(), 100);
    }

    #[tokio::test]
    async fn recreate_deletes_old_pods_before_creating_new_ones() {
        let c = start().await;
        create(
            &c,
            &deployment("db", 3, "postgres:15", json!({"type": "Recreate"})),
        )
        .await;
        roll_out(&c, "db").await;
        let old_uid = replica_sets(&c, "db").await[0].metadata.uid.clone();
        set_image(&c, "db", "postgres:16").await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let all = pods(&c, "db").await;
            let old = all.iter().filter(|p| owner_uid(p) == old_uid).count();
            let new = all.len() - old;
            assert!(old == 0 || new == 0, "{old} old and {new} new pods at once");
            mark_all_ready(&c, "db").await;
            let d = get(&c, "db").await;
            if rolled_out(&d) && replica_sets(&c, "db").await.len() == 2 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "recreate timed out");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let rss = replica_sets(&c, "db").await;
        assert_eq!(rss[0].spec.as_ref().and_then(|s| s.replicas), Some(0));
        assert_eq!(rss[1].spec.as_ref().and_then(|s| s.replicas), Some(3));
    }

    #[tokio::test]
    async fn a_paused_deployment_does_not_roll_out_until_resumed() {
        let c = start().await;
        create(&c, &deployment("api", 2, "app:1", rolling(1, 0))).await;
        roll_out(&c, "api").await;
        patch(&c, "api", json!({"spec": {"paused": true}})).await;
        wait_for("the paused condition", || async {
            let d = get(&c, "api").await;
            (condition(&d, "Progressing")
                == Some((
                    "Unknown".into(),
                    "DeploymentPaused".into(),
                    "Deployment is paused".into(),
                )))
            .then_some(())
        })
        .await;
        set_image(&c, "api", "app:2").await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(
            replica_sets(&c, "api").await.len(),
            1,
            "no rollout while paused"
        );
        patch(&c, "api", json!({"spec": {"paused": false}})).await;
        wait_for("a second replica set after resume", || async {
            (replica_sets(&c, "api").await.len() == 2).then_some(())
        })
        .await;
        roll_out(&c, "api").await;
    }

    #[tokio::test]
    async fn unready_pods_exceed_a_one_second_progress_deadline() {
        let c = start().await;
        let mut d = deployment("slow", 2, "app:1", rolling(1, 0));
        d.spec.as_mut().expect("spec").progress_deadline_seconds = Some(1);
        create(&c, &d).await;
        let d = wait_for("ProgressDeadlineExceeded", || async {
            let d = get(&c, "slow").await;
            condition(&d, "Progressing")
                .is_some_and(|(s, r, _)| s == "False" && r == "ProgressDeadlineExceeded")
                .then_some(d)
        })
        .await;
        let rs = replica_sets(&c, "slow").await.remove(0);
        assert_eq!(
            condition(&d, "Progressing").map(|c| c.2),
            Some(format!(
                "ReplicaSet \"{}\" has timed out progressing.",
                rs.name_any()
            ))
        );
    }

    async fn events_with_reason(c: &Cluster, reason: &str) -> Vec<String> {
        Api::<k8s_openapi::api::events::v1::Event>::namespaced(c.client.clone(), NS)
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .filter(|e| e.reporting_controller.as_deref() == Some("replicaset-controller"))
            .filter_map(|e| e.note)
            .collect()
    }

    #[tokio::test]
    async fn a_replica_set_adopts_orphans_and_deletes_unready_pods_first() {
        let c = start().await;
        let pods_api = Api::<Pod>::namespaced(c.client.clone(), NS);
        let orphan: Pod = serde_json::from_value(json!({
            "metadata": {"name": "orphan", "labels": {"app": "bare"}},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]}
        }))
        .expect("pod");
        let orphan = pods_api
            .create(&PostParams::default(), &orphan)
            .await
            .expect("orphan");
        mark_ready(&c, &orphan).await;
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "bare", "namespace": NS},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "bare"}},
                     "template": {"metadata": {"labels": {"app": "bare"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}
        }))
        .expect("rs");
        let rs_api = Api::<ReplicaSet>::namespaced(c.client.clone(), NS);
        let rs = rs_api
            .create(&PostParams::default(), &rs)
            .await
            .expect("create rs");
        let all = wait_for("the orphan adopted and two pods created", || async {
            let all = pods(&c, "bare").await;
            (all.len() == 3 && all.iter().all(|p| owner_uid(p) == rs.metadata.uid)).then_some(all)
        })
        .await;
        let adopted = all
            .iter()
            .find(|p| p.name_any() == "orphan")
            .expect("orphan");
        let owner = adopted.owner_references()[0].clone();
        assert_eq!(
            (
                owner.kind.as_str(),
                owner.controller,
                owner.block_owner_deletion
            ),
            ("ReplicaSet", Some(true), Some(true))
        );
        let created: Vec<&Pod> = all.iter().filter(|p| p.name_any() != "orphan").collect();
        for p in &created {
            assert!(p.name_any().starts_with("bare-"), "{}", p.name_any());
        }
        // One created pod becomes ready, the other stays unready: it goes first.
        mark_ready(&c, created[0]).await;
        let unready = created[1].name_any();
        wait_for("two ready replicas", || async {
            let rs = rs_api.get("bare").await.expect("rs");
            (rs.status.and_then(|s| s.ready_replicas) == Some(2)).then_some(())
        })
        .await;
        rs_api
            .patch(
                "bare",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"replicas": 2}})),
            )
            .await
            .expect("scale");
        let left = wait_for("two pods left", || async {
            let all = pods(&c, "bare").await;
            (all.len() == 2).then_some(all)
        })
        .await;
        assert!(
            left.iter().all(|p| p.name_any() != unready),
            "the unready pod was deleted"
        );
        let created_events = events_with_reason(&c, "SuccessfulCreate").await;
        for p in &created {
            assert!(
                created_events.contains(&format!("Created pod: {}", p.name_any())),
                "{created_events:?}"
            );
        }
        let deleted = wait_for("the delete event", || async {
            let e = events_with_reason(&c, "SuccessfulDelete").await;
            (!e.is_empty()).then_some(e)
        })
        .await;
        assert_eq!(deleted, vec![format!("Deleted pod: {unready}")]);
        let status = wait_for("status with observed generation", || async {
            let rs = rs_api.get("bare").await.expect("rs");
            let s = rs.status.clone().unwrap_or_default();
            (s.observed_generation == rs.metadata.generation && s.replicas == 2).then_some(s)
        })
        .await;
        assert_eq!(
            (
                status.ready_replicas,
                status.available_replicas,
                status.fully_labeled_replicas
            ),
            (Some(2), Some(2), Some(2))
        );
        // Releasing: a pod whose labels stop matching is orphaned and replaced.
        pods_api
            .patch(
                "orphan",
                &PatchParams::default(),
                &Patch::Merge(&json!({"metadata": {"labels": {"app": "other"}}})),
            )
            .await
            .expect("relabel");
        wait_for("the relabelled pod released", || async {
            let p = pods_api.get("orphan").await.expect("pod");
            p.owner_references().is_empty().then_some(())
        })
        .await;
        wait_for("a replacement pod", || async {
            (pods(&c, "bare").await.len() == 2).then_some(())
        })
        .await;
    }

    #[tokio::test]
    async fn pods_count_as_available_only_after_min_ready_seconds() {
        let c = start().await;
        let mut d = deployment("warm", 2, "app:1", rolling(1, 0));
        // 60 simulated seconds are three real seconds at speed 20 (timestamps have second
        // precision, so shorter spans would pass before they are measured).
        d.spec.as_mut().expect("spec").min_ready_seconds = Some(60);
        create(&c, &d).await;
        wait_for("two pods", || async {
            (pods(&c, "warm").await.len() == 2).then_some(())
        })
        .await;
        mark_all_ready(&c, "warm").await;
        let rs = wait_for("ready but not yet available", || async {
            let rs = replica_sets(&c, "warm").await.remove(0);
            (rs.status.as_ref().and_then(|s| s.ready_replicas) == Some(2)).then_some(rs)
        })
        .await;
        assert_eq!(rs.spec.as_ref().and_then(|s| s.min_ready_seconds), Some(60));
        assert_eq!(rs.status.as_ref().and_then(|s| s.available_replicas), None);
        // Nothing else happens: only the controllers' own requeue makes them available.
        let d = roll_out(&c, "warm").await;
        assert_eq!(d.status.and_then(|s| s.available_replicas), Some(2));
    }

    #[tokio::test]
    async fn old_replica_sets_beyond_the_revision_history_limit_are_deleted() {
        let c = start().await;
        let mut d = deployment("hist", 1, "app:1", rolling(1, 0));
        d.spec.as_mut().expect("spec").revision_history_limit = Some(1);
        create(&c, &d).await;
        roll_out(&c, "hist").await;
        for (i, image) in ["app:2", "app:3", "app:4"].into_iter().enumerate() {
            set_image(&c, "hist", image).await;
            wait_for(&format!("rollout {}", i + 2), || async {
                mark_all_ready(&c, "hist").await;
                let d = get(&c, "hist").await;
                let rev = d
                    .annotations()
                    .get("deployment.kubernetes.io/revision")
                    .cloned();
                (rolled_out(&d) && rev == Some((i + 2).to_string())).then_some(())
            })
            .await;
        }
        let rss = wait_for("one old replica set kept", || async {
            let rss = replica_sets(&c, "hist").await;
            (rss.len() == 2).then_some(rss)
        })
        .await;
        let revisions: Vec<Option<String>> = rss.iter().map(revision).collect();
        assert_eq!(revisions, vec![Some("3".into()), Some("4".into())]);
    }

    #[tokio::test]
    async fn scaling_during_a_rollout_is_proportional() {
        let c = start().await;
        create(&c, &deployment("prop", 10, "app:1", rolling(3, 2))).await;
        roll_out(&c, "prop").await;
        set_image(&c, "prop", "app:2").await;
        // New pods never become ready: the rollout stalls at old 8, new 5 (10 + surge 3).
        let rss = wait_for("the stalled rollout", || async {
            let rss = replica_sets(&c, "prop").await;
            let sizes: Vec<i32> = rss
                .iter()
                .filter_map(|r| r.spec.as_ref()?.replicas)
                .collect();
            (sizes == vec![8, 5]).then_some(rss)
        })
        .await;
        assert_eq!(rss.len(), 2);
        patch(&c, "prop", json!({"spec": {"replicas": 20}})).await;
        // 13 -> 23 (20 + surge 3): 8 * 23/13 = 14.2 -> 14 (+6), the new one gets the other 4.
        let sizes = wait_for("proportional sizes", || async {
            let rss = replica_sets(&c, "prop").await;
            let sizes: Vec<i32> = rss
                .iter()
                .filter_map(|r| r.spec.as_ref()?.replicas)
                .collect();
            (sizes.iter().sum::<i32>() == 23).then_some(sizes)
        })
        .await;
        assert_eq!(sizes, vec![14, 9]);
    }

    /// `kubectl` on PATH, if any.
    fn kubectl_on_path() -> Option<std::path::PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|d| d.join("kubectl"))
            .find(|p| p.is_file())
    }

    /// Serves the cluster's API over plain HTTP on loopback, every request as the admin, and
    /// returns a kubeconfig file for it.
    async fn serve_for_kubectl(c: &Cluster, name: &str) -> std::path::PathBuf {
        let router = c.server.router().layer(axum::middleware::from_fn(
            |mut req: axum::extract::Request, next: axum::middleware::Next| async move {
                req.extensions_mut().insert(apiserver::auth::Identity::user(
                    "admin",
                    &["system:masters"],
                ));
                next.run(req).await
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let shutdown = c.shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
        });
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{addr}\n\
             users:\n- name: u\n  user: {{}}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n    namespace: default\n\
             current-context: x\n"
        );
        let path = std::env::temp_dir().join(format!(
            "skiff-controllers-{name}-{}.kubeconfig",
            std::process::id()
        ));
        std::fs::write(&path, config).expect("write kubeconfig");
        path
    }

    /// Runs kubectl; returns (success, stdout + stderr).
    async fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> (bool, String) {
        let run = tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("kubectl hung")
            .expect("run kubectl");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kubectl_rollout_status_history_and_undo_work() {
        if kubectl_on_path().is_none() {
            eprintln!("skipping: kubectl not installed");
            return;
        }
        let c = start().await;
        let kubeconfig = serve_for_kubectl(&c, "rollout").await;
        // Play the kubelet for every pod of the Deployment, all along.
        let kubelet = {
            let client = c.client.clone();
            let shutdown = c.shutdown.clone();
            tokio::spawn(async move {
                while !shutdown.is_cancelled() {
                    mark_all_ready_with(&client, "web").await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        let k = |args: &'static [&'static str]| {
            let kubeconfig = kubeconfig.clone();
            async move {
                let (ok, out) = kubectl(&kubeconfig, args).await;
                assert!(ok, "kubectl {}: {out}", args.join(" "));
                out
            }
        };
        k(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.25",
            "--replicas=3",
        ])
        .await;
        let out = k(&["rollout", "status", "deployment/web", "--timeout=30s"]).await;
        assert!(
            out.contains("deployment \"web\" successfully rolled out"),
            "{out}"
        );
        k(&["set", "image", "deployment/web", "nginx=nginx:1.26"]).await;
        k(&["rollout", "status", "deployment/web", "--timeout=30s"]).await;
        let history = k(&["rollout", "history", "deployment/web"]).await;
        let revisions: Vec<&str> = history
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
            .collect();
        assert_eq!(revisions, vec!["1", "2"], "{history}");
        k(&["rollout", "undo", "deployment/web"]).await;
        k(&["rollout", "status", "deployment/web", "--timeout=30s"]).await;
        let history = k(&["rollout", "history", "deployment/web"]).await;
        let revisions: Vec<&str> = history
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
            .collect();
        assert_eq!(revisions, vec!["2", "3"], "{history}");
        let image = k(&[
            "get",
            "deployment/web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .await;
        assert_eq!(image.trim(), "nginx:1.25");
        assert_eq!(
            replica_sets(&c, "web").await.len(),
            2,
            "undo reused the first RS"
        );
        k(&["rollout", "restart", "deployment/web"]).await;
        k(&["rollout", "status", "deployment/web", "--timeout=30s"]).await;
        assert_eq!(
            replica_sets(&c, "web").await.len(),
            3,
            "restart made a new RS"
        );
        kubelet.abort();
        let _ = std::fs::remove_file(&kubeconfig);
    }
}
