//! The controllers against a real in-process API server, driven with kube-rs; each test
//! plays the scheduler and kubelet itself by patching pods.

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
            let server = apiserver::ApiServer::new(
                store.clone(),
                apiserver::Config::default(),
                None,
                shutdown.clone(),
            );
            server.bootstrap().await.expect("bootstrap");
            let svc = tower::ServiceExt::map_request(
                server.service_for(apiserver::auth::Identity::user(
                    "admin",
                    &["system:masters"],
                )),
                |req: http::Request<kube::client::Body>| req.map(axum::body::Body::new),
            );
            Cluster {
                client: Client::new(svc, "default"),
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
        tokio::spawn(controllers::endpoints::run(
            c.client.clone(),
            c.shutdown.clone(),
        ));
        tokio::spawn(controllers::endpointslice::run(
            c.client.clone(),
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
