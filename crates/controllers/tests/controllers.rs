//! The controllers against a real in-process API server, driven with kube-rs. No scheduler or
//! kubelet runs: the tests play them (binding pods, writing their status).

/// Creates the `default` ServiceAccount in `namespace`, as the ServiceAccount controller
/// would (the API server's ServiceAccount admission refuses pods without one); an existing
/// one is fine.
async fn default_service_account(client: &kube::Client, namespace: &str) {
    let sa: k8s_openapi::api::core::v1::ServiceAccount =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "default"}}))
            .expect("service account");
    let _ = kube::Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(
        client.clone(),
        namespace,
    )
    .create(&kube::api::PostParams::default(), &sa)
    .await;
}

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

    /// A fresh API server with the ReplicaSet, Deployment and garbage collector controllers
    /// reading one shared pod watch (as `run_all` has them), on a clock running 20 times
    /// faster than real time.
    async fn start() -> Cluster {
        let shutdown = CancellationToken::new();
        let (server, client) =
            apiserver::client::start(Arc::new(store::MemoryBackend::new()), shutdown.clone())
                .await
                .expect("bootstrap");
        crate::default_service_account(&client, "default").await;
        let clock = api::clock::Clock::with_speed(20.0).expect("clock");
        let pods = informer::SharedInformer::start(Api::all(client.clone()), shutdown.clone());
        tokio::spawn(controllers::replicaset::run_with(
            client.clone(),
            clock,
            pods.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(controllers::deployment::run_with(
            client.clone(),
            clock,
            pods.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(controllers::garbage_collector::run_with(
            client.clone(),
            Some(pods),
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
        // At speed 20 the default 600 s progress deadline is 30 real seconds, which a loaded
        // CI machine can cross; a day keeps `rollout status` from reporting a stall that is
        // only the machine's.
        k(&[
            "patch",
            "deployment/web",
            "--type=merge",
            "-p",
            r#"{"spec":{"progressDeadlineSeconds":86400}}"#,
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
        let (_server, client) =
            apiserver::client::start(Arc::new(store::MemoryBackend::new()), shutdown.clone())
                .await
                .expect("bootstrap");
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

mod support_svc {
    //! The fixture of the disruption, node lifecycle and endpoints tests.

    use std::future::Future;
    use std::sync::Arc;
    use std::time::Duration;

    use k8s_openapi::api::core::v1::Namespace;
    use kube::Client;
    use kube::api::{Api, Patch, PatchParams, PostParams};
    use serde_json::{Value, json};
    use tokio_util::sync::CancellationToken;

    /// How long a test waits for a condition before failing.
    pub const PATIENCE: Duration = Duration::from_secs(20);

    /// An API server in process, with an admin client.
    #[allow(dead_code)]
    pub struct Cluster {
        pub client: Client,
        pub server: apiserver::ApiServer,
        pub store: Arc<dyn store::Backend>,
        pub shutdown: CancellationToken,
    }

    impl Cluster {
        /// Starts a server over a fresh memory store.
        pub async fn start() -> Cluster {
            Cluster::over(Arc::new(store::MemoryBackend::new())).await
        }

        /// Starts a server over `store` (a restart when the store has content).
        pub async fn over(store: Arc<dyn store::Backend>) -> Cluster {
            let shutdown = CancellationToken::new();
            let (server, client) = apiserver::client::start(store.clone(), shutdown.clone())
                .await
                .expect("bootstrap");
            crate::default_service_account(&client, "default").await;
            Cluster {
                client,
                server,
                store,
                shutdown,
            }
        }

        /// Creates a namespace.
        pub async fn namespace(&self, name: &str) {
            let ns: Namespace =
                serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
            Api::<Namespace>::all(self.client.clone())
                .create(&PostParams::default(), &ns)
                .await
                .expect("create namespace");
            crate::default_service_account(&self.client, name).await;
        }

        /// Creates an object from JSON through the dynamic API of its kind.
        pub async fn create<K>(&self, ns: &str, body: Value) -> K
        where
            K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
                + Clone
                + serde::de::DeserializeOwned
                + serde::Serialize
                + std::fmt::Debug,
        {
            let obj: K = serde_json::from_value(body).expect("object");
            Api::<K>::namespaced(self.client.clone(), ns)
                .create(&PostParams::default(), &obj)
                .await
                .expect("create")
        }

        /// Marks a pod Running and Ready (or not) on `node`, as the kubelet would.
        pub async fn run_pod(&self, ns: &str, name: &str, node: &str, ip: &str, ready: bool) {
            let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(self.client.clone(), ns);
            let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                "target": {"kind": "Node", "name": node}});
            pods.create_subresource::<_, k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>(
                "binding",
                name,
                &PostParams::default(),
                &binding,
            )
            .await
            .expect("bind pod");
            let state = if ready { "True" } else { "False" };
            pods.patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                    "conditions": [{"type": "Ready", "status": state}, {"type": "ContainersReady", "status": state}]}})),
            )
            .await
            .expect("patch pod status");
        }

        /// Stops the server and everything started on its token.
        pub fn stop(&self) {
            self.shutdown.cancel();
        }
    }

    /// Polls `check` until it returns `Some`, failing with `what` after [`PATIENCE`].
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
}

mod disruption {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use kube::api::{Api, EvictParams};
    use serde_json::json;

    use crate::support_svc::{Cluster, eventually};

    fn pod(name: &str, owner: Option<(&str, &str)>) -> serde_json::Value {
        let mut p = json!({"metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        if let Some((rs, uid)) = owner {
            p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": uid, "controller": true}]);
        }
        p
    }

    async fn status_of(pdbs: &Api<PodDisruptionBudget>, name: &str) -> serde_json::Value {
        let pdb = pdbs.get(name).await.expect("get pdb");
        serde_json::to_value(pdb.status).expect("status")
    }

    #[tokio::test]
    async fn an_eviction_spends_the_budget_and_the_next_one_gets_429() {
        let c = Cluster::start().await;
        tokio::spawn(controllers::disruption::run(
            c.client.clone(),
            api::clock::Clock::REAL_TIME,
            c.shutdown.clone(),
        ));
        c.namespace("pdb").await;
        for name in ["web-a", "web-b", "web-c"] {
            let _: Pod = c.create("pdb", pod(name, None)).await;
            c.run_pod("pdb", name, "node-1", "10.0.0.1", true).await;
        }
        let _: PodDisruptionBudget = c
            .create(
                "pdb",
                json!({"metadata": {"name": "web"}, "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}),
            )
            .await;
        let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.client.clone(), "pdb");
        let status = eventually("the budget to allow one disruption", || async {
            let s = status_of(&pdbs, "web").await;
            (s["disruptionsAllowed"] == 1).then_some(s)
        })
        .await;
        assert_eq!(
            (
                &status["currentHealthy"],
                &status["desiredHealthy"],
                &status["expectedPods"],
                &status["observedGeneration"]
            ),
            (&json!(3), &json!(2), &json!(3), &json!(1))
        );
        let condition = &status["conditions"][0];
        assert_eq!(
            (
                &condition["type"],
                &condition["status"],
                &condition["reason"]
            ),
            (
                &json!("DisruptionAllowed"),
                &json!("True"),
                &json!("SufficientPods")
            )
        );

        let pods: Api<Pod> = Api::namespaced(c.client.clone(), "pdb");
        pods.evict("web-a", &EvictParams::default())
            .await
            .expect("the first eviction is allowed");
        let status = status_of(&pdbs, "web").await;
        assert_eq!(status["disruptionsAllowed"], 0, "{status}");
        assert!(status["disruptedPods"].get("web-a").is_some(), "{status}");

        // The controller sees web-a terminating and counts two healthy pods.
        eventually("the controller to count web-a out", || async {
            (status_of(&pdbs, "web").await["currentHealthy"] == 2).then_some(())
        })
        .await;
        let err = pods
            .evict("web-b", &EvictParams::default())
            .await
            .expect_err("the second eviction would violate the budget");
        let kube::Error::Api(s) = err else {
            panic!("not an API error: {err:?}")
        };
        assert_eq!(s.code, 429);
        assert_eq!(s.reason, "TooManyRequests");
        assert_eq!(
            s.message,
            "Cannot evict pod as it would violate the pod's disruption budget."
        );
        let cause = s
            .details
            .as_ref()
            .and_then(|d| d.causes.first())
            .expect("a cause");
        assert_eq!(cause.reason, "DisruptionBudget");
        assert_eq!(
            cause.message,
            "The disruption budget web needs 2 healthy pods and has 2 currently"
        );
        assert!(
            pods.get("web-b")
                .await
                .expect("web-b")
                .metadata
                .deletion_timestamp
                .is_none(),
            "a refused eviction deletes nothing"
        );

        // A second budget over the same pods: the eviction subresource refuses with 500.
        let _: PodDisruptionBudget = c
            .create(
                "pdb",
                json!({"metadata": {"name": "web-2"}, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}}),
            )
            .await;
        let err = pods
            .evict("web-c", &EvictParams::default())
            .await
            .expect_err("two budgets");
        let kube::Error::Api(s) = err else {
            panic!("not an API error: {err:?}")
        };
        assert_eq!(
            (s.code, s.message.as_str()),
            (
                500,
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
            )
        );
        c.stop();
    }

    #[tokio::test]
    async fn percentages_count_against_the_controllers_scale() {
        let c = Cluster::start().await;
        tokio::spawn(controllers::disruption::run(
            c.client.clone(),
            api::clock::Clock::REAL_TIME,
            c.shutdown.clone(),
        ));
        c.namespace("scale").await;
        let rs: ReplicaSet = c
            .create(
                "scale",
                json!({"metadata": {"name": "web"}, "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}),
            )
            .await;
        let uid = rs.metadata.uid.clone().expect("uid");
        for name in ["web-1", "web-2", "web-3"] {
            let _: Pod = c.create("scale", pod(name, Some(("web", &uid)))).await;
            c.run_pod("scale", name, "node-1", "10.0.0.2", true).await;
        }
        let _: PodDisruptionBudget = c
            .create(
                "scale",
                json!({"metadata": {"name": "web"}, "spec": {"maxUnavailable": "50%", "selector": {"matchLabels": {"app": "web"}}}}),
            )
            .await;
        let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.client.clone(), "scale");
        let status = eventually("the budget's status", || async {
            let s = status_of(&pdbs, "web").await;
            (s["observedGeneration"] == 1).then_some(s)
        })
        .await;
        // 4 expected (the ReplicaSet's scale), 2 desired, 3 healthy: 1 allowed.
        assert_eq!(
            (
                &status["expectedPods"],
                &status["desiredHealthy"],
                &status["currentHealthy"],
                &status["disruptionsAllowed"]
            ),
            (&json!(4), &json!(2), &json!(3), &json!(1)),
            "{status}"
        );

        // A pod without a controller under a percentage cannot be counted.
        let _: Pod = c
            .create("scale", pod("stray", Some(("gone", "no-such-uid"))))
            .await;
        let status = eventually("the budget to fail safe", || async {
            let s = status_of(&pdbs, "web").await;
            (s["conditions"][0]["reason"] == "SyncFailed").then_some(s)
        })
        .await;
        assert_eq!(status["disruptionsAllowed"], 0);
        assert_eq!(
            status["conditions"][0]["message"],
            "found no controllers for pod \"stray\""
        );
        c.stop();
    }
}

mod node_lifecycle {
    use std::time::Duration;

    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::core::v1::{Node, Pod};
    use kube::api::{Api, Patch, PatchParams, PostParams};
    use serde_json::json;

    use crate::support_svc::{Cluster, eventually};

    fn stamp(t: jiff::Timestamp) -> String {
        t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    #[tokio::test]
    async fn a_node_whose_lease_goes_stale_is_tainted_and_its_pods_evicted() {
        let c = Cluster::start().await;
        // 200x: the 50 s grace period is a quarter second, the default 300 s of toleration
        // 1.5 s.
        let clock = api::clock::Clock::with_speed(200.0).expect("clock");
        let settings = controllers::node_lifecycle::Settings {
            clock,
            ..Default::default()
        };
        tokio::spawn(controllers::node_lifecycle::run(
            c.client.clone(),
            settings,
            c.shutdown.clone(),
        ));
        let now = jiff::Timestamp::now();
        let nodes: Api<Node> = Api::all(c.client.clone());
        let node: Node =
            serde_json::from_value(json!({"metadata": {"name": "node-1"}})).expect("node");
        nodes
            .create(&PostParams::default(), &node)
            .await
            .expect("create node");
        nodes
            .patch_status(
                "node-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"conditions": [
                    {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                     "lastHeartbeatTime": stamp(now), "lastTransitionTime": stamp(now)},
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                     "lastHeartbeatTime": stamp(now), "lastTransitionTime": stamp(now)}]}})),
            )
            .await
            .expect("node status");
        let leases: Api<Lease> = Api::namespaced(c.client.clone(), "kube-node-lease");
        let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "node-1"},
            "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40,
                     "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()}}))
        .expect("lease");
        leases
            .create(&PostParams::default(), &lease)
            .await
            .expect("create lease");

        c.namespace("work").await;
        let pod = |name: &str, tolerations: serde_json::Value| json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "nginx"}], "tolerations": tolerations}});
        let cases = [
            // DefaultTolerationSeconds admission gives it 300 s.
            ("default", json!([])),
            (
                "brief",
                json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}]),
            ),
            ("forever", json!([{"operator": "Exists"}])),
        ];
        for (name, tolerations) in cases {
            let _: Pod = c.create("work", pod(name, tolerations)).await;
            c.run_pod("work", name, "node-1", "10.0.1.1", true).await;
        }

        // Nobody renews the lease: within a second of real time the node is Unknown.
        let node = eventually("the node to become Unknown", || async {
            let n = nodes.get("node-1").await.expect("node");
            let unknown = controllers::node_lifecycle::ready_status(&n) == Some("Unknown");
            let tainted = n
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .is_some_and(|t| t.len() == 2);
            (unknown && tainted).then_some(n)
        })
        .await;
        let conditions = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .expect("conditions");
        for condition in &conditions {
            assert_eq!(condition.status, "Unknown", "{}", condition.type_);
        }
        let ready = conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .expect("Ready");
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        let taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .expect("taints");
        let mut keys: Vec<String> = taints
            .iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            vec![
                "node.kubernetes.io/unreachable:NoExecute",
                "node.kubernetes.io/unreachable:NoSchedule"
            ]
        );
        assert!(taints.iter().all(|t| t.time_added.is_some()));

        let pods: Api<Pod> = Api::namespaced(c.client.clone(), "work");
        let deleting = |name: &'static str| {
            let pods = pods.clone();
            async move {
                pods.get(name)
                    .await
                    .expect("pod")
                    .metadata
                    .deletion_timestamp
                    .is_some()
            }
        };
        let default = pods.get("default").await.expect("default");
        let tolerations = default
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.clone())
            .unwrap_or_default();
        assert!(
            tolerations.iter().any(
                |t| t.key.as_deref() == Some("node.kubernetes.io/unreachable")
                    && t.toleration_seconds == Some(300)
            ),
            "{tolerations:?}"
        );
        eventually("the pod tolerating 300 s to be deleted", || async {
            deleting("default").await.then_some(())
        })
        .await;
        eventually("the briefly tolerating pod to be deleted", || async {
            deleting("brief").await.then_some(())
        })
        .await;
        let brief = pods.get("brief").await.expect("brief");
        let target = brief
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "DisruptionTarget"))
            .expect("DisruptionTarget");
        assert_eq!(target.reason.as_deref(), Some("DeletionByTaintManager"));
        // The pod tolerating forever stays, but is no longer Ready.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let forever = pods.get("forever").await.expect("forever");
        assert!(forever.metadata.deletion_timestamp.is_none());
        let ready = forever
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .expect("Ready");
        assert_eq!(ready.status, "False");

        // The kubelet comes back: the taints go.
        let later = jiff::Timestamp::now();
        leases
            .patch(
                "node-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"renewTime": later.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()}})),
            )
            .await
            .expect("renew");
        nodes
            .patch_status(
                "node-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"conditions": [
                    {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                     "lastHeartbeatTime": stamp(later), "lastTransitionTime": stamp(later)}]}})),
            )
            .await
            .expect("node status");
        eventually("the taints to be removed", || async {
            let n = nodes.get("node-1").await.expect("node");
            n.spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .is_none_or(|t| t.is_empty())
                .then_some(())
        })
        .await;
        c.stop();
    }

    #[tokio::test]
    async fn pods_on_nodes_that_no_longer_exist_are_force_deleted() {
        let c = Cluster::start().await;
        let clock = api::clock::Clock::with_speed(50.0).expect("clock");
        tokio::spawn(controllers::node_lifecycle::run(
            c.client.clone(),
            controllers::node_lifecycle::Settings {
                clock,
                ..Default::default()
            },
            c.shutdown.clone(),
        ));
        c.namespace("gc").await;
        let _: Pod = c
            .create(
                "gc",
                json!({"metadata": {"name": "orphan"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
            )
            .await;
        c.run_pod("gc", "orphan", "gone-node", "10.0.2.1", true)
            .await;
        let pods: Api<Pod> = Api::namespaced(c.client.clone(), "gc");
        eventually("the orphaned pod to be gone", || async {
            pods.get_opt("orphan")
                .await
                .expect("get")
                .is_none()
                .then_some(())
        })
        .await;
        c.stop();
    }
}

mod shared {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::time::Duration;

    use futures::{Stream, StreamExt};
    use k8s_openapi::api::core::v1::Pod;
    use kube::ResourceExt;
    use kube::api::{Api, DeleteParams};
    use kube::runtime::reflector::ObjectRef;
    use serde_json::json;

    use informer::Change;

    use crate::support_svc::Cluster;

    /// The next object named `name` a subscriber is handed.
    async fn next_named(
        s: &mut Pin<Box<dyn Stream<Item = Arc<Pod>> + Send>>,
        name: &str,
    ) -> Arc<Pod> {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let pod = s.next().await.expect("the subscription ended");
                if pod.name_any() == name {
                    return pod;
                }
            }
        })
        .await
        .expect("no event for the pod in 20 s")
    }

    async fn next_change(s: &mut Pin<Box<dyn Stream<Item = Change<Pod>> + Send>>) -> Change<Pod> {
        tokio::time::timeout(Duration::from_secs(20), s.next())
            .await
            .expect("no change in 20 s")
            .expect("the subscription ended")
    }

    #[tokio::test]
    async fn one_watch_hands_every_subscriber_the_cached_object_and_each_deletion() {
        let c = Cluster::start().await;
        let informer =
            informer::SharedInformer::<Pod>::start(Api::all(c.client.clone()), c.shutdown.clone());
        let mut first: Pin<Box<dyn Stream<Item = Arc<Pod>> + Send>> =
            Box::pin(informer.subscribe());
        let mut second: Pin<Box<dyn Stream<Item = Arc<Pod>> + Send>> =
            Box::pin(informer.subscribe());
        // Several tasks waiting at once are all woken.
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let informer = informer.clone();
                tokio::spawn(async move { informer.wait_until_ready().await })
            })
            .collect();
        for waiter in waiters {
            let ready = tokio::time::timeout(Duration::from_secs(20), waiter)
                .await
                .expect("a waiter was never woken")
                .expect("the waiter");
            assert!(ready);
        }
        c.namespace("shared").await;
        let _: Pod = c
            .create(
                "shared",
                json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
            )
            .await;
        let a = next_named(&mut first, "p").await;
        let b = next_named(&mut second, "p").await;
        // Nothing else writes the pod, so both saw its one version, held once.
        assert!(Arc::ptr_eq(&a, &b), "each subscriber got its own copy");
        let cached = informer
            .store()
            .get(&ObjectRef::new("p").within("shared"))
            .expect("the pod is cached");
        assert!(Arc::ptr_eq(&a, &cached), "the cache holds another copy");

        // A subscriber that joins later sees changes from then on, deletions included.
        let mut third: Pin<Box<dyn Stream<Item = Arc<Pod>> + Send>> =
            Box::pin(informer.subscribe());
        Api::<Pod>::namespaced(c.client.clone(), "shared")
            .delete("p", &DeleteParams::default())
            .await
            .expect("delete the pod");
        for s in [&mut first, &mut second, &mut third] {
            let gone = next_named(s, "p").await;
            assert_eq!(gone.uid(), a.uid());
        }
        assert!(
            informer
                .store()
                .get(&ObjectRef::new("p").within("shared"))
                .is_none(),
            "the deleted pod is still cached"
        );

        // A change subscription made once the cache is filled starts with all of it, then
        // tells additions from deletions.
        let _: Pod = c
            .create(
                "shared",
                json!({"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
            )
            .await;
        let q = next_named(&mut first, "q").await;
        let mut changes: Pin<Box<dyn Stream<Item = Change<Pod>> + Send>> =
            Box::pin(informer.changes());
        match next_change(&mut changes).await {
            Change::Listed(all) => {
                assert_eq!(all.len(), 1, "{all:?}");
                assert!(
                    Arc::ptr_eq(&all[0], &q),
                    "the list is not the cache's objects"
                );
            }
            other => panic!("expected the whole list first, got {other:?}"),
        }
        Api::<Pod>::namespaced(c.client.clone(), "shared")
            .delete("q", &DeleteParams::default())
            .await
            .expect("delete the pod");
        match next_change(&mut changes).await {
            Change::Deleted(gone) => assert_eq!(gone.uid(), q.uid()),
            other => panic!("expected the deletion, got {other:?}"),
        }
    }
}

mod endpoints {
    use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use kube::ResourceExt;
    use kube::api::{Api, ListParams, PostParams};
    use serde_json::json;

    use crate::support_svc::{Cluster, eventually};

    #[tokio::test]
    async fn a_service_gets_a_cluster_ip_endpoints_and_a_slice_of_its_ready_pods() {
        let c = Cluster::start().await;
        // Both read pods from one shared watch, as in skiff.
        let pods = informer::SharedInformer::start(Api::all(c.client.clone()), c.shutdown.clone());
        tokio::spawn(controllers::endpoints::run_with(
            c.client.clone(),
            pods.clone(),
            c.shutdown.clone(),
        ));
        tokio::spawn(controllers::endpointslice::run_with(
            c.client.clone(),
            pods,
            c.shutdown.clone(),
        ));
        // The bootstrap Service of the API server.
        let default: Api<Service> = Api::namespaced(c.client.clone(), "default");
        let kubernetes = default.get("kubernetes").await.expect("kubernetes service");
        let spec = kubernetes.spec.expect("spec");
        assert_eq!(spec.cluster_ip.as_deref(), Some("10.100.0.1"));

        let node: Node = serde_json::from_value(json!({"metadata": {"name": "node-1", "labels": {"topology.kubernetes.io/zone": "us-east-1a"}}}))
            .expect("node");
        Api::<Node>::all(c.client.clone())
            .create(&PostParams::default(), &node)
            .await
            .expect("node");
        c.namespace("svc").await;
        for (name, ip, ready) in [
            ("web-1", "192.168.0.11", true),
            ("web-2", "192.168.0.12", false),
        ] {
            let _: Pod = c
                .create(
                    "svc",
                    json!({"metadata": {"name": name, "labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}]}}),
                )
                .await;
            c.run_pod("svc", name, "node-1", ip, ready).await;
        }
        let svc: Service = c
            .create(
                "svc",
                json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
            )
            .await;
        let spec = svc.spec.clone().expect("spec");
        let ip = spec.cluster_ip.clone().expect("a cluster IP");
        assert!(ip.starts_with("10.100."), "{ip}");
        assert_eq!(spec.cluster_ips, Some(vec![ip.clone()]));
        assert_eq!(spec.ip_families, Some(vec!["IPv4".to_string()]));
        assert_eq!(spec.ip_family_policy.as_deref(), Some("SingleStack"));

        let eps: Api<Endpoints> = Api::namespaced(c.client.clone(), "svc");
        let ep = eventually("the endpoints", || async {
            eps.get_opt("web")
                .await
                .expect("get")
                .filter(|e| e.subsets.is_some())
        })
        .await;
        let subset = &ep.subsets.expect("subsets")[0];
        let ready: Vec<_> = subset
            .addresses
            .iter()
            .flatten()
            .map(|a| a.ip.clone())
            .collect();
        let not_ready: Vec<_> = subset
            .not_ready_addresses
            .iter()
            .flatten()
            .map(|a| a.ip.clone())
            .collect();
        assert_eq!(
            (ready, not_ready),
            (
                vec!["192.168.0.11".to_string()],
                vec!["192.168.0.12".to_string()]
            )
        );
        assert_eq!(subset.ports.as_ref().expect("ports")[0].port, 8080);
        assert!(
            ep.metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key("endpoints.kubernetes.io/last-change-trigger-time"))
        );

        let slices: Api<EndpointSlice> = Api::namespaced(c.client.clone(), "svc");
        let slice = eventually("the endpoint slice", || async {
            slices
                .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
                .await
                .expect("list")
                .items
                .into_iter()
                .find(|s| s.endpoints.len() == 2)
        })
        .await;
        assert!(
            slice
                .metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("web-"))
        );
        assert_eq!(
            slice
                .labels()
                .get("endpointslice.kubernetes.io/managed-by")
                .map(String::as_str),
            Some("endpointslice-controller.k8s.io")
        );
        let ready: Vec<_> = slice
            .endpoints
            .iter()
            .map(|e| {
                (
                    e.addresses[0].clone(),
                    e.conditions.as_ref().and_then(|c| c.ready),
                    e.zone.clone(),
                )
            })
            .collect();
        assert_eq!(
            ready,
            vec![
                (
                    "192.168.0.11".to_string(),
                    Some(true),
                    Some("us-east-1a".to_string())
                ),
                (
                    "192.168.0.12".to_string(),
                    Some(false),
                    Some("us-east-1a".to_string())
                ),
            ]
        );

        // A second Service asking for the first one's address is refused.
        let services: Api<Service> = Api::namespaced(c.client.clone(), "svc");
        let dup: Service = serde_json::from_value(json!({"metadata": {"name": "dup"},
            "spec": {"clusterIP": ip, "ports": [{"port": 80}]}}))
        .expect("service");
        let err = services
            .create(&PostParams::default(), &dup)
            .await
            .expect_err("the address is taken");
        let kube::Error::Api(s) = err else {
            panic!("not an API error: {err:?}")
        };
        assert_eq!(s.code, 422);
        assert_eq!(
            s.message,
            // Go's %#v of a []string, as v1.33's field errors print it.
            format!(
                "Service \"dup\" is invalid: spec.clusterIPs: Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: provided IP is already allocated"
            )
        );
        c.stop();

        // After a restart over the same store the address is still taken.
        let again = Cluster::over(c.store.clone()).await;
        let services: Api<Service> = Api::namespaced(again.client.clone(), "svc");
        let err = services
            .create(&PostParams::default(), &dup)
            .await
            .expect_err("still taken after a restart");
        assert!(
            matches!(&err, kube::Error::Api(s) if s.code == 422),
            "{err:?}"
        );
        let other: Service = serde_json::from_value(json!({"metadata": {"name": "other"},
            "spec": {"type": "NodePort", "ports": [{"port": 80}]}}))
        .expect("service");
        let other = services
            .create(&PostParams::default(), &other)
            .await
            .expect("another service");
        let other_spec = other.spec.expect("spec");
        assert_ne!(other_spec.cluster_ip.as_deref(), Some(ip.as_str()));
        let node_port = other_spec.ports.expect("ports")[0]
            .node_port
            .expect("a node port");
        assert!((30000..=32767).contains(&node_port), "{node_port}");
        again.stop();
    }
}

mod node_lifecycle_real_time {
    use std::time::Duration;

    use k8s_openapi::api::core::v1::Node;
    use kube::api::{Api, PostParams};
    use serde_json::json;

    use crate::support_svc::Cluster;

    #[tokio::test]
    async fn a_new_node_is_left_alone_during_its_startup_grace_period() {
        let c = Cluster::start().await;
        tokio::spawn(controllers::node_lifecycle::run(
            c.client.clone(),
            controllers::node_lifecycle::Settings::default(),
            c.shutdown.clone(),
        ));
        let nodes: Api<Node> = Api::all(c.client.clone());
        let node: Node =
            serde_json::from_value(json!({"metadata": {"name": "new"}})).expect("node");
        nodes
            .create(&PostParams::default(), &node)
            .await
            .expect("node");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let n = nodes.get("new").await.expect("node");
        assert!(
            n.spec.and_then(|s| s.taints).is_none_or(|t| t.is_empty()),
            "{:?}",
            n.status
        );
        c.stop();
    }
}
