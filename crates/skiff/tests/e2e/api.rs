//! The API server through kube-rs over real HTTPS: discovery, verbs, selectors, paging,
//! watch, metadata rules, status split, errors as Status, garbage collection, namespace
//! lifecycle, and persistence across restarts.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::Status;
use serde_json::{Value, json};
use testkit::{TestCluster, eventually};

/// Waits on `fut`, failing with a message naming the suspected bug.
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(testkit::PATIENCE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

fn cm(name: &str, labels: &[(&str, &str)], data: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()},
        "data": data.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
    }))
    .expect("valid ConfigMap")
}

async fn create_ns(c: &TestCluster, name: &str) {
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
    Api::<Namespace>::all(c.client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

fn api_error(e: kube::Error) -> Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error Status, got {other:?}"),
    }
}

/// Sends a raw request and returns (status code, JSON body).
async fn raw(c: &TestCluster, req: http::Request<Vec<u8>>) -> (u16, Value) {
    let resp = c
        .client
        .send(req.map(kube::client::Body::from))
        .await
        .expect("request sent");
    let code = resp.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("body read")
        .to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn server_reports_kubernetes_1_33_and_system_namespaces_exist() {
    let c = TestCluster::start().await.expect("cluster starts");
    let v = c.client.apiserver_version().await.expect("version");
    assert_eq!((v.major.as_str(), v.minor.as_str()), ("1", "33"));
    assert!(
        v.git_version.starts_with("v1.33."),
        "gitVersion {}",
        v.git_version
    );
    let names: Vec<String> = Api::<Namespace>::all(c.client.clone())
        .list(&ListParams::default())
        .await
        .expect("list namespaces")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            names.contains(&ns.to_string()),
            "namespace {ns} missing: {names:?}"
        );
    }
    c.stop().await;
}

#[tokio::test]
async fn discovery_serves_every_builtin_group_with_scopes_and_short_names() {
    let c = TestCluster::start().await.expect("cluster starts");
    let discovery = kube::discovery::Discovery::new(c.client.clone())
        .run()
        .await
        .expect("discovery runs");
    let groups: Vec<String> = discovery.groups().map(|g| g.name().to_string()).collect();
    for g in [
        "",
        "apps",
        "batch",
        "policy",
        "rbac.authorization.k8s.io",
        "networking.k8s.io",
        "storage.k8s.io",
        "coordination.k8s.io",
        "events.k8s.io",
        "discovery.k8s.io",
        "autoscaling",
        "scheduling.k8s.io",
        "node.k8s.io",
        "apiextensions.k8s.io",
    ] {
        assert!(
            groups.contains(&g.to_string()),
            "group {g:?} not discovered: {groups:?}"
        );
    }
    let (code, core) = raw(
        &c,
        http::Request::get("/api/v1").body(vec![]).expect("request"),
    )
    .await;
    assert_eq!(code, 200);
    let pods = core["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "pods")
        .expect("pods listed");
    assert_eq!(pods["namespaced"], true);
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]));
    let ns = core["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "namespaces")
        .expect("namespaces listed");
    assert_eq!(ns["namespaced"], false);
    c.stop().await;
}

#[tokio::test]
async fn configmaps_round_trip_with_label_and_field_selectors() {
    let c = TestCluster::start().await.expect("cluster starts");
    create_ns(&c, "demo").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "demo");
    for (name, tier) in [
        ("web-1", "web"),
        ("web-2", "web"),
        ("db-1", "db"),
        ("cache-1", "cache"),
    ] {
        api.create(
            &PostParams::default(),
            &cm(name, &[("tier", tier)], &[("a", "b")]),
        )
        .await
        .expect("create");
    }
    let got = api.get("web-1").await.expect("get");
    assert_eq!(
        got.data
            .as_ref()
            .and_then(|d| d.get("a"))
            .map(String::as_str),
        Some("b")
    );
    assert!(
        got.metadata.uid.is_some()
            && got.metadata.creation_timestamp.is_some()
            && got.metadata.resource_version.is_some()
    );
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .collect::<Vec<_>>()
    };
    type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [&'a str]);
    let cases: &[Case] = &[
        (
            "equality selector",
            Some("tier=web"),
            None,
            &["web-1", "web-2"],
        ),
        (
            "inequality selector",
            Some("tier!=web"),
            None,
            &["cache-1", "db-1"],
        ),
        (
            "set-based in",
            Some("tier in (db,cache)"),
            None,
            &["cache-1", "db-1"],
        ),
        (
            "set-based notin",
            Some("tier notin (db,cache)"),
            None,
            &["web-1", "web-2"],
        ),
        (
            "exists",
            Some("tier"),
            None,
            &["cache-1", "db-1", "web-1", "web-2"],
        ),
        ("does not exist", Some("!tier"), None, &[]),
        (
            "field selector by name",
            None,
            Some("metadata.name=db-1"),
            &["db-1"],
        ),
        (
            "both selectors",
            Some("tier=web"),
            Some("metadata.name!=web-1"),
            &["web-2"],
        ),
    ];
    for (case, labels, fields, want) in cases {
        let mut lp = ListParams::default();
        if let Some(l) = labels {
            lp = lp.labels(l);
        }
        if let Some(f) = fields {
            lp = lp.fields(f);
        }
        let got = names(
            api.list(&lp)
                .await
                .unwrap_or_else(|e| panic!("{case}: list failed: {e}")),
        );
        assert_eq!(
            got,
            want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "{case}"
        );
    }
    let err = api
        .list(&ListParams::default().fields("data.a=b"))
        .await
        .expect_err("unsupported field selector");
    let s = api_error(err);
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"));
    assert!(
        s.message.contains("\"data.a\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""),
        "{}",
        s.message
    );
    c.stop().await;
}

#[tokio::test]
async fn paging_with_limit_and_continue_returns_every_object_once_at_one_revision() {
    let c = TestCluster::start().await.expect("cluster starts");
    create_ns(&c, "paging").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "paging");
    for i in 0..7 {
        api.create(
            &PostParams::default(),
            &cm(
                &format!("cm-{i}"),
                &[("n", if i % 2 == 0 { "even" } else { "odd" })],
                &[],
            ),
        )
        .await
        .expect("create");
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut first_rv = None;
    loop {
        let mut lp = ListParams::default().limit(3);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await.expect("page");
        if first_rv.is_none() {
            first_rv = page.metadata.resource_version.clone();
            assert_eq!(
                page.metadata.remaining_item_count,
                Some(4),
                "remainingItemCount after the first page"
            );
            // A write between pages must not show up in later pages.
            api.create(&PostParams::default(), &cm("cm-late", &[], &[]))
                .await
                .expect("create between pages");
        } else {
            assert_eq!(
                page.metadata.resource_version, first_rv,
                "every page is served at the first page's revision"
            );
        }
        seen.extend(page.items.into_iter().filter_map(|o| o.metadata.name));
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    assert_eq!(seen, (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>());
    let odd = api
        .list(&ListParams::default().labels("n=odd").limit(2))
        .await
        .expect("filtered page");
    assert_eq!(
        odd.items.len(),
        2,
        "a filtered page is filled up to the limit"
    );
    let bad = api
        .list(&ListParams::default().limit(2).continue_token("garbage"))
        .await
        .expect_err("bad continue token");
    assert_eq!(api_error(bad).code, 400);
    c.stop().await;
}

#[tokio::test]
async fn watch_sees_added_modified_and_deleted_in_order() {
    let c = TestCluster::start().await.expect("cluster starts");
    create_ns(&c, "w").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "w");
    let first = api
        .create(&PostParams::default(), &cm("c1", &[], &[("a", "b")]))
        .await
        .expect("create");
    let rv = first.metadata.resource_version.clone().expect("rv");
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .expect("watch starts")
        .boxed();
    api.patch(
        "c1",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "c"}})),
    )
    .await
    .expect("merge patch");
    api.create(&PostParams::default(), &cm("c2", &[], &[]))
        .await
        .expect("create c2");
    api.delete("c1", &DeleteParams::default())
        .await
        .expect("delete");
    let mut got = Vec::new();
    while got.len() < 3 {
        let ev = within("watch event after writes", stream.try_next())
            .await
            .expect("watch stream")
            .expect("stream open");
        got.push(match ev {
            WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.unwrap_or_default()),
            WatchEvent::Modified(o) => format!(
                "MODIFIED {} a={}",
                o.metadata.name.unwrap_or_default(),
                o.data
                    .unwrap_or_default()
                    .get("a")
                    .cloned()
                    .unwrap_or_default()
            ),
            WatchEvent::Deleted(o) => format!("DELETED {}", o.metadata.name.unwrap_or_default()),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        });
    }
    assert_eq!(got, vec!["MODIFIED c1 a=c", "ADDED c2", "DELETED c1"]);
    c.stop().await;
}

#[tokio::test]
async fn watch_with_a_selector_reports_objects_entering_and_leaving_it() {
    let c = TestCluster::start().await.expect("cluster starts");
    create_ns(&c, "sel").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "sel");
    let o = api
        .create(&PostParams::default(), &cm("c1", &[("tier", "db")], &[]))
        .await
        .expect("create");
    let rv = o.metadata.resource_version.expect("rv");
    let mut stream = api
        .watch(&WatchParams::default().labels("tier=web"), &rv)
        .await
        .expect("watch")
        .boxed();
    api.patch(
        "c1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "web"}}})),
    )
    .await
    .expect("label web");
    api.patch(
        "c1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "db"}}})),
    )
    .await
    .expect("label db");
    let first = within("selector enter event", stream.try_next())
        .await
        .expect("stream")
        .expect("open");
    assert!(
        matches!(first, WatchEvent::Added(_)),
        "entering the selector is ADDED: {first:?}"
    );
    let second = within("selector leave event", stream.try_next())
        .await
        .expect("stream")
        .expect("open");
    assert!(
        matches!(second, WatchEvent::Deleted(_)),
        "leaving the selector is DELETED: {second:?}"
    );
    c.stop().await;
}

#[tokio::test]
async fn watch_from_a_compacted_revision_answers_410_expired() {
    let c = TestCluster::start().await.expect("cluster starts");
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let o = api
        .create(&PostParams::default(), &cm("old", &[], &[]))
        .await
        .expect("create");
    let old_rv = o.metadata.resource_version.expect("rv");
    for i in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("n{i}"), &[], &[]))
            .await
            .expect("create");
    }
    let store = c.running().server.registry().store().clone();
    let current = store.current_revision().await.expect("revision");
    store.compact(current).await.expect("compact");
    let mut stream = api
        .watch(&WatchParams::default(), &old_rv)
        .await
        .expect("watch request accepted")
        .boxed();
    let ev = within("ERROR event for a compacted revision", stream.try_next())
        .await
        .expect("stream")
        .expect("one event");
    match ev {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    let err = api
        .list(
            &ListParams::default()
                .at(&old_rv)
                .matching(kube::api::VersionMatch::Exact),
        )
        .await
        .expect_err("exact list at compacted rv");
    assert_eq!(api_error(err).code, 410);
    c.stop().await;
}

#[tokio::test]
async fn runtime_watcher_with_streaming_lists_gets_initial_state_then_changes() {
    let c = TestCluster::start().await.expect("cluster starts");
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    api.create(&PostParams::default(), &cm("before", &[], &[]))
        .await
        .expect("create");
    let cfg = kube::runtime::watcher::Config::default().streaming_lists();
    let mut events = kube::runtime::watcher(api.clone(), cfg).boxed();
    let mut saw_init_done = false;
    let mut saw_before = false;
    while !saw_init_done {
        match within("initial events", events.try_next())
            .await
            .expect("watcher")
            .expect("open")
        {
            kube::runtime::watcher::Event::InitApply(o)
                if o.metadata.name.as_deref() == Some("before") =>
            {
                saw_before = true
            }
            kube::runtime::watcher::Event::InitDone => saw_init_done = true,
            _ => {}
        }
    }
    assert!(saw_before, "the initial state includes the existing object");
    api.create(&PostParams::default(), &cm("after", &[], &[]))
        .await
        .expect("create");
    loop {
        if let kube::runtime::watcher::Event::Apply(o) = within("live event", events.try_next())
            .await
            .expect("watcher")
            .expect("open")
            && o.metadata.name.as_deref() == Some("after")
        {
            break;
        }
    }
    c.stop().await;
}

#[tokio::test]
async fn stale_updates_conflict_with_409_and_change_nothing() {
    let c = TestCluster::start().await.expect("cluster starts");
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let original = api
        .create(&PostParams::default(), &cm("c", &[], &[("v", "1")]))
        .await
        .expect("create");
    let mut first = original.clone();
    first.data = Some(BTreeMap::from([("v".to_string(), "2".to_string())]));
    let updated = api
        .replace("c", &PostParams::default(), &first)
        .await
        .expect("first update");
    assert_ne!(
        updated.metadata.resource_version,
        original.metadata.resource_version
    );
    let mut stale = original.clone();
    stale.data = Some(BTreeMap::from([("v".to_string(), "3".to_string())]));
    let s = api_error(
        api.replace("c", &PostParams::default(), &stale)
            .await
            .expect_err("stale update"),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        s.message,
        "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let now = api.get("c").await.expect("get");
    assert_eq!(
        now.data.unwrap_or_default().get("v").map(String::as_str),
        Some("2")
    );
    assert_eq!(
        now.metadata.resource_version, updated.metadata.resource_version,
        "the failed write changed nothing"
    );
    let dup = api_error(
        api.create(&PostParams::default(), &cm("c", &[], &[]))
            .await
            .expect_err("duplicate create"),
    );
    assert_eq!(
        (dup.code, dup.reason.as_str(), dup.message.as_str()),
        (409, "AlreadyExists", "configmaps \"c\" already exists")
    );
    c.stop().await;
}

#[tokio::test]
async fn bad_input_gets_the_status_a_real_server_gives_and_stores_nothing() {
    let c = TestCluster::start().await.expect("cluster starts");
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let before = c
        .running()
        .server
        .registry()
        .store()
        .current_revision()
        .await
        .expect("revision");
    let invalid = api_error(
        api.create(&PostParams::default(), &cm("Bad_Name", &[], &[]))
            .await
            .expect_err("invalid name"),
    );
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
    assert!(
        invalid.message.starts_with(
            "ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""
        ),
        "{}",
        invalid.message
    );
    let (code, status) = raw(
        &c,
        http::Request::post("/api/v1/namespaces/default/configmaps")
            .header("content-type", "application/json")
            .body(b"{\"metadata\": {\"name\": \"x\"".to_vec())
            .expect("request"),
    )
    .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (400, Some("BadRequest")),
        "malformed JSON: {status}"
    );
    let (code, status) = raw(
        &c,
        http::Request::post("/api/v1/namespaces/default/configmaps")
            .header("content-type", "application/json")
            .body(b"[1,2]".to_vec())
            .expect("request"),
    )
    .await;
    assert_eq!(code, 400, "a JSON array body: {status}");
    let (code, status) = raw(
        &c,
        http::Request::post("/api/v1/namespaces/default/configmaps")
            .header("content-type", "application/json")
            .body(br#"{"metadata":{"name":"t"},"data":{"a":5}}"#.to_vec())
            .expect("request"),
    )
    .await;
    assert_eq!(code, 400, "a wrongly typed field: {status}");
    let (code, status) = raw(
        &c,
        http::Request::post("/api/v1/namespaces/default/configmaps")
            .header("content-type", "application/json")
            .body(vec![b' '; 4 * 1024 * 1024])
            .expect("request"),
    )
    .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (413, Some("RequestEntityTooLarge")),
        "oversize body: {status}"
    );
    let (code, status) = raw(
        &c,
        http::Request::patch("/api/v1/namespaces/default/configmaps/whatever")
            .header("content-type", "text/plain")
            .body(b"{}".to_vec())
            .expect("request"),
    )
    .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (415, Some("UnsupportedMediaType")),
        "unknown patch type: {status}"
    );
    let (code, status) = raw(
        &c,
        http::Request::get("/api/v1/namespaces/default/widgets")
            .body(vec![])
            .expect("request"),
    )
    .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (404, Some("NotFound")),
        "unknown resource: {status}"
    );
    let (code, status) = raw(
        &c,
        http::Request::post("/api/v1/namespaces/default/configmaps/c1")
            .body(b"{}".to_vec())
            .expect("request"),
    )
    .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (405, Some("MethodNotAllowed")),
        "POST to an object: {status}"
    );
    let missing = api_error(api.get("nope").await.expect_err("missing object"));
    assert_eq!(
        (missing.code, missing.message.as_str()),
        (404, "configmaps \"nope\" not found")
    );
    let in_missing_ns = api_error(
        Api::<ConfigMap>::namespaced(c.client.clone(), "no-such-ns")
            .create(&PostParams::default(), &cm("x", &[], &[]))
            .await
            .expect_err("missing namespace"),
    );
    assert_eq!(
        (in_missing_ns.code, in_missing_ns.message.as_str()),
        (404, "namespaces \"no-such-ns\" not found")
    );
    let after = c
        .running()
        .server
        .registry()
        .store()
        .current_revision()
        .await
        .expect("revision");
    assert_eq!(before, after, "no rejected request wrote anything");
    c.stop().await;
}

#[tokio::test]
async fn generate_name_dry_run_and_generation_follow_upstream_rules() {
    let c = TestCluster::start().await.expect("cluster starts");
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let gen_cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "job-"}})).expect("cm");
    let a = api
        .create(&PostParams::default(), &gen_cm)
        .await
        .expect("generated 1");
    let b = api
        .create(&PostParams::default(), &gen_cm)
        .await
        .expect("generated 2");
    let (an, bn) = (
        a.metadata.name.unwrap_or_default(),
        b.metadata.name.unwrap_or_default(),
    );
    assert!(
        an.starts_with("job-") && an.len() == 9 && an != bn,
        "generated names {an} {bn}"
    );
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(&dry, &cm("dry", &[], &[]))
        .await
        .expect("dry-run create");
    assert!(
        api.get_opt("dry").await.expect("get").is_none(),
        "dry run stored nothing"
    );

    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        "status": {"replicas": 99}
    }))
    .expect("deployment");
    let d = deployments
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
    assert_eq!(d.metadata.generation, Some(1));
    assert!(
        d.status.as_ref().and_then(|s| s.replicas).is_none(),
        "status is not set on create"
    );
    let d2 = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .expect("label");
    assert_eq!(
        d2.metadata.generation,
        Some(1),
        "metadata changes do not bump generation"
    );
    let d3 = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}, "status": {"replicas": 7}})),
        )
        .await
        .expect("scale");
    assert_eq!(
        d3.metadata.generation,
        Some(2),
        "spec changes bump generation"
    );
    assert!(
        d3.status.as_ref().and_then(|s| s.replicas).is_none(),
        "the main resource ignores status"
    );
    let d4 = deployments
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 10}, "status": {"replicas": 3}})),
        )
        .await
        .expect("status patch");
    assert_eq!(d4.status.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(
        d4.spec.as_ref().and_then(|s| s.replicas),
        Some(3),
        "the status subresource ignores spec"
    );
    assert_eq!(d4.metadata.generation, Some(2));
    let immutable = deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"selector": {"matchLabels": {"app": "other"}}, "template": {"metadata": {"labels": {"app": "other"}}}}})))
        .await
        .expect_err("selector is immutable");
    let s = api_error(immutable);
    assert_eq!(s.code, 422, "{}", s.message);
    assert!(
        s.message.contains("spec.selector") && s.message.contains("field is immutable"),
        "{}",
        s.message
    );
    c.stop().await;
}

fn owned_cm(name: &str, owner: &ConfigMap, block: bool) -> ConfigMap {
    let mut o = cm(name, &[], &[]);
    o.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: owner.metadata.name.clone().unwrap_or_default(),
        uid: owner.metadata.uid.clone().unwrap_or_default(),
        block_owner_deletion: Some(block),
        controller: Some(true),
    }]);
    o
}

#[tokio::test]
async fn garbage_collection_follows_background_foreground_and_orphan_policies() {
    let c = TestCluster::start().await.expect("cluster starts");
    create_ns(&c, "gc").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "gc");
    let pp = PostParams::default();
    let cases = [
        ("background", kube::api::PropagationPolicy::Background),
        ("foreground", kube::api::PropagationPolicy::Foreground),
        ("orphan", kube::api::PropagationPolicy::Orphan),
    ];
    for (prefix, policy) in cases {
        let owner = api
            .create(&pp, &cm(&format!("{prefix}-owner"), &[], &[]))
            .await
            .expect("owner");
        api.create(&pp, &owned_cm(&format!("{prefix}-child"), &owner, true))
            .await
            .expect("child");
        let dp = DeleteParams {
            propagation_policy: Some(policy.clone()),
            ..Default::default()
        };
        api.delete(&format!("{prefix}-owner"), &dp)
            .await
            .unwrap_or_else(|e| panic!("{prefix}: delete owner: {e}"));
    }
    let child_gone = |name: &'static str| {
        let api = api.clone();
        async move {
            api.get_opt(name)
                .await
                .ok()
                .and_then(|o| if o.is_none() { Some(()) } else { None })
        }
    };
    eventually(
        "background: the dependent is deleted after its owner",
        || child_gone("background-child"),
    )
    .await
    .expect("background");
    eventually("foreground: the dependent is deleted", || {
        child_gone("foreground-child")
    })
    .await
    .expect("foreground child");
    eventually(
        "foreground: the owner goes once its dependents are gone",
        || child_gone("foreground-owner"),
    )
    .await
    .expect("foreground owner");
    eventually("orphan: the owner is deleted", || {
        child_gone("orphan-owner")
    })
    .await
    .expect("orphan owner");
    let orphan = api
        .get("orphan-child")
        .await
        .expect("orphaned dependent survives");
    assert!(
        orphan
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty(),
        "the orphan lost its owner reference"
    );
    c.stop().await;
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let c = TestCluster::start().await.expect("cluster starts");
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let mut o = cm("held", &[], &[]);
    o.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &o)
        .await
        .expect("create");
    let res = api
        .delete("held", &DeleteParams::default())
        .await
        .expect("delete accepted");
    let pending = res.left().expect("a held object is returned, not a Status");
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert!(
        api.get_opt("held").await.expect("get").is_some(),
        "still present while the finalizer remains"
    );
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("remove finalizer");
    assert!(
        api.get_opt("held").await.expect("get").is_none(),
        "gone once its last finalizer is removed"
    );
    c.stop().await;
}

#[tokio::test]
async fn scheduled_pods_delete_gracefully_and_force_deletes_at_once() {
    let c = TestCluster::start().await.expect("cluster starts");
    let api: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "nginx"}]}
    }))
    .expect("pod");
    let created = api
        .create(&PostParams::default(), &pod)
        .await
        .expect("create pod");
    assert_eq!(
        created.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Pending")
    );
    assert_eq!(
        created.status.as_ref().and_then(|s| s.qos_class.as_deref()),
        Some("BestEffort")
    );
    let first = api
        .delete("p", &DeleteParams::default())
        .await
        .expect("graceful delete")
        .left()
        .expect("pod returned");
    assert_eq!(first.metadata.deletion_grace_period_seconds, Some(30));
    assert!(
        api.get_opt("p").await.expect("get").is_some(),
        "a scheduled pod waits for its kubelet"
    );
    api.delete(
        "p",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .expect("force delete");
    assert!(
        api.get_opt("p").await.expect("get").is_none(),
        "grace period 0 removes it"
    );
    c.stop().await;
}

#[tokio::test]
async fn deleting_a_namespace_empties_it_and_then_removes_it() {
    let c = TestCluster::start().await.expect("cluster starts");
    create_ns(&c, "doomed").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "doomed");
    for i in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), &[], &[]))
            .await
            .expect("create");
    }
    let namespaces: Api<Namespace> = Api::all(c.client.clone());
    let ns = namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .expect("delete namespace");
    if let Some(ns) = ns.left() {
        assert_eq!(
            ns.status.and_then(|s| s.phase).as_deref(),
            Some("Terminating")
        );
    }
    if let Err(e) = api
        .create(&PostParams::default(), &cm("late", &[], &[]))
        .await
    {
        let s = api_error(e);
        assert!(
            s.code == 403 || s.code == 404,
            "creating in a terminating namespace: {s:?}"
        );
        if s.code == 403 {
            assert!(
                s.message.contains("because it is being terminated"),
                "{}",
                s.message
            );
        }
    }
    eventually("the namespace disappears after its contents", || {
        let namespaces = namespaces.clone();
        async move {
            namespaces
                .get_opt("doomed")
                .await
                .ok()
                .and_then(|n| if n.is_none() { Some(()) } else { None })
        }
    })
    .await
    .expect("namespace deleted");
    let all: Api<ConfigMap> = Api::all(c.client.clone());
    let left: Vec<_> = all
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter(|o| o.metadata.namespace.as_deref() == Some("doomed"))
        .collect();
    assert!(left.is_empty(), "contents were deleted: {left:?}");
    c.stop().await;
}

#[tokio::test]
async fn restart_serves_every_object_with_the_same_resource_version() {
    let c = TestCluster::start().await.expect("cluster starts");
    create_ns(&c, "keep").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "keep");
    let mut before = Vec::new();
    for i in 0..5 {
        let o = api
            .create(
                &PostParams::default(),
                &cm(&format!("c{i}"), &[], &[("i", &i.to_string())]),
            )
            .await
            .expect("create");
        before.push((
            o.metadata.name.clone().unwrap_or_default(),
            o.metadata.resource_version.clone().unwrap_or_default(),
        ));
    }
    let c = c.restart().await.expect("restart");
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "keep");
    for (name, rv) in &before {
        let o = api
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("{name} after restart: {e}"));
        assert_eq!(
            o.metadata.resource_version.as_deref(),
            Some(rv.as_str()),
            "{name} keeps its resourceVersion"
        );
    }
    let newer = api
        .create(&PostParams::default(), &cm("after", &[], &[]))
        .await
        .expect("create after restart");
    let last: i64 = before
        .last()
        .map(|(_, rv)| rv.parse().unwrap_or(0))
        .unwrap_or(0);
    assert!(
        newer
            .metadata
            .resource_version
            .and_then(|r| r.parse::<i64>().ok())
            .unwrap_or(0)
            > last,
        "revisions keep increasing"
    );
    c.stop().await;
}

#[tokio::test]
async fn kubectl_get_tables_carry_upstream_columns() {
    let c = TestCluster::start().await.expect("cluster starts");
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    api.create(
        &PostParams::default(),
        &cm("t", &[], &[("a", "1"), ("b", "2")]),
    )
    .await
    .expect("create");
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let (code, table) = raw(
        &c,
        http::Request::get("/api/v1/namespaces/default/configmaps")
            .header("accept", accept)
            .body(vec![])
            .expect("request"),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(table["kind"], "Table");
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(cols, vec!["Name", "Data", "Age"]);
    assert_eq!(table["rows"][0]["cells"][0], "t");
    assert_eq!(table["rows"][0]["cells"][1], 2);
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    let (code, _) = raw(
        &c,
        http::Request::get("/api/v1/namespaces/default/configmaps")
            .header("accept", "application/vnd.kubernetes.protobuf")
            .body(vec![])
            .expect("request"),
    )
    .await;
    assert_eq!(code, 406, "protobuf alone is not acceptable");
    c.stop().await;
}

#[tokio::test]
async fn events_are_served_in_both_core_and_events_k8s_io_forms() {
    let c = TestCluster::start().await.expect("cluster starts");
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(c.client.clone(), "default");
    let ev: k8s_openapi::api::core::v1::Event = serde_json::from_value(json!({
        "metadata": {"name": "e1"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
        "reason": "Started", "message": "Started container c", "type": "Normal", "count": 1
    }))
    .expect("event");
    core.create(&PostParams::default(), &ev)
        .await
        .expect("create core event");
    let new: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(c.client.clone(), "default");
    let got = new.get("e1").await.expect("same event via events.k8s.io");
    assert_eq!(got.note.as_deref(), Some("Started container c"));
    assert_eq!(got.regarding.and_then(|r| r.name).as_deref(), Some("p"));
    let by_field = core
        .list(&ListParams::default().fields("involvedObject.name=p,reason=Started"))
        .await
        .expect("field selector on events");
    assert_eq!(by_field.items.len(), 1);
    tokio::time::sleep(Duration::from_millis(1)).await;
    c.stop().await;
}

#[tokio::test]
async fn delete_collection_honours_selectors_and_dry_run_changes_nothing() {
    let c = TestCluster::start().await.expect("cluster starts");
    create_ns(&c, "coll").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "coll");
    for (name, tier) in [("a", "web"), ("b", "web"), ("c", "db")] {
        api.create(
            &PostParams::default(),
            &cm(name, &[("tier", tier)], &[("k", "v")]),
        )
        .await
        .expect("create");
    }
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let mut changed = api.get("a").await.expect("get");
    changed.data = Some(BTreeMap::from([("k".to_string(), "dry".to_string())]));
    api.replace("a", &dry, &changed)
        .await
        .expect("dry-run update");
    let dry_patch = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    api.patch(
        "a",
        &dry_patch,
        &Patch::Merge(json!({"data": {"k": "dry"}})),
    )
    .await
    .expect("dry-run patch");
    api.delete(
        "a",
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .expect("dry-run delete");
    let a = api.get("a").await.expect("a still exists after dry runs");
    assert_eq!(
        a.data.unwrap_or_default().get("k").map(String::as_str),
        Some("v"),
        "dry runs stored nothing"
    );

    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("tier=web"),
    )
    .await
    .expect("delete collection");
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .collect();
    assert_eq!(
        left,
        vec!["c".to_string()],
        "only the selected objects were deleted"
    );
    c.stop().await;
}

#[tokio::test]
async fn watch_ends_after_timeout_seconds_and_future_versions_are_refused() {
    let c = TestCluster::start().await.expect("cluster starts");
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let o = api
        .create(&PostParams::default(), &cm("t", &[], &[]))
        .await
        .expect("create");
    let rv = o.metadata.resource_version.expect("rv");
    let mut stream = api
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .expect("watch")
        .boxed();
    let end = within("the watch to end after timeoutSeconds=1", stream.try_next()).await;
    assert!(matches!(end, Ok(None)), "the stream ends cleanly: {end:?}");
    // kube-rs retries 504s, so ask the registry directly for the answer the client would get.
    let future = (rv.parse::<i64>().expect("numeric rv") + 1000).to_string();
    let registry = c.running().server.registry().clone();
    let info = registry
        .resources()
        .find("", "v1", "configmaps")
        .cloned()
        .expect("configmaps");
    let err = registry
        .get(&info, Some("default"), "t", Some(&future))
        .await
        .expect_err("a resourceVersion from the future");
    assert_eq!((err.code(), err.reason()), (504, "Timeout"), "{err}");
    assert!(
        err.to_string().starts_with("Too large resource version"),
        "{err}"
    );
    c.stop().await;
}

#[tokio::test]
async fn anonymous_clients_may_read_version_and_health_but_nothing_else() {
    let c = TestCluster::start().await.expect("cluster starts");
    let kc = kube::config::Kubeconfig::read_from(c.kubeconfig()).expect("kubeconfig");
    let mut config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("config");
    config.auth_info = kube::config::AuthInfo::default();
    let anon = kube::Client::try_from(config).expect("anonymous client");
    let v = anon
        .apiserver_version()
        .await
        .expect("anonymous /version is public");
    assert_eq!(v.minor, "33");
    let err = Api::<ConfigMap>::namespaced(anon.clone(), "default")
        .list(&ListParams::default())
        .await
        .expect_err("anonymous list");
    let s = api_error(err);
    assert_eq!(s.code, 403);
    assert!(s.message.contains("system:anonymous"), "{}", s.message);
    c.stop().await;
}

#[tokio::test]
async fn hostile_bodies_get_client_errors_and_never_write() {
    let c = TestCluster::start().await.expect("cluster starts");
    let store = c.running().server.registry().store().clone();
    let before = store.current_revision().await.expect("revision");
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let long_name = format!(r#"{{"metadata":{{"name":"{}"}}}}"#, "a".repeat(300));
    let cases: Vec<(&str, &str, &str, &str, Vec<u8>)> = vec![
        (
            "empty body",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            vec![],
        ),
        (
            "null body",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            b"null".to_vec(),
        ),
        (
            "deeply nested array",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            deep.into_bytes(),
        ),
        (
            "metadata is a string",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            br#"{"metadata":"x"}"#.to_vec(),
        ),
        (
            "name is a number",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            br#"{"metadata":{"name":5}}"#.to_vec(),
        ),
        (
            "name too long",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            long_name.into_bytes(),
        ),
        (
            "wrong kind",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            br#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"k"}}"#.to_vec(),
        ),
        (
            "wrong apiVersion",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            br#"{"kind":"ConfigMap","apiVersion":"apps/v1","metadata":{"name":"k"}}"#.to_vec(),
        ),
        (
            "namespace mismatch",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            br#"{"metadata":{"name":"k","namespace":"other"}}"#.to_vec(),
        ),
        (
            "invalid UTF-8",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            vec![b'{', 0xff, 0xfe, b'}'],
        ),
        (
            "garbage protobuf",
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/vnd.kubernetes.protobuf",
            b"k8s\x00\xff\xff\xff\xff".to_vec(),
        ),
        (
            "update of a missing object",
            "PUT",
            "/api/v1/namespaces/default/configmaps/missing",
            "application/json",
            br#"{"metadata":{"name":"missing"}}"#.to_vec(),
        ),
        (
            "update with a non-numeric resourceVersion",
            "PUT",
            "/api/v1/namespaces/default/configmaps/missing",
            "application/json",
            br#"{"metadata":{"name":"missing","resourceVersion":"abc"}}"#.to_vec(),
        ),
        (
            "json patch that is not a list",
            "PATCH",
            "/api/v1/namespaces/kube-system",
            "application/json-patch+json",
            br#"{"op":"add"}"#.to_vec(),
        ),
        (
            "merge patch on a missing object",
            "PATCH",
            "/api/v1/namespaces/nope",
            "application/merge-patch+json",
            b"{}".to_vec(),
        ),
        (
            "merge patch that is an array",
            "PATCH",
            "/api/v1/namespaces/kube-system",
            "application/merge-patch+json",
            b"[]".to_vec(),
        ),
        (
            "bad propagation policy",
            "DELETE",
            "/api/v1/namespaces/kube-public",
            "application/json",
            br#"{"propagationPolicy":"Sideways"}"#.to_vec(),
        ),
        (
            "negative grace period",
            "DELETE",
            "/api/v1/namespaces/kube-public",
            "application/json",
            br#"{"gracePeriodSeconds":-5}"#.to_vec(),
        ),
        (
            "bad dry run",
            "POST",
            "/api/v1/namespaces/default/configmaps?dryRun=Maybe",
            "application/json",
            br#"{"metadata":{"name":"d"}}"#.to_vec(),
        ),
        (
            "bad limit",
            "GET",
            "/api/v1/configmaps?limit=lots",
            "application/json",
            vec![],
        ),
        (
            "bad label selector",
            "GET",
            "/api/v1/configmaps?labelSelector=a%20in%20(",
            "application/json",
            vec![],
        ),
        (
            "bad field selector",
            "GET",
            "/api/v1/pods?fieldSelector=spec.nodeName",
            "application/json",
            vec![],
        ),
        (
            "bad resourceVersion",
            "GET",
            "/api/v1/configmaps?resourceVersion=-3",
            "application/json",
            vec![],
        ),
        (
            "bad resourceVersionMatch",
            "GET",
            "/api/v1/configmaps?resourceVersion=1&resourceVersionMatch=Later",
            "application/json",
            vec![],
        ),
        (
            "bad continue token",
            "GET",
            "/api/v1/configmaps?limit=1&continue=%00%01",
            "application/json",
            vec![],
        ),
        (
            "watch with a bad resourceVersion",
            "GET",
            "/api/v1/configmaps?watch=1&resourceVersion=x",
            "application/json",
            vec![],
        ),
        (
            "unknown group",
            "GET",
            "/apis/nope.example.com/v1/things",
            "application/json",
            vec![],
        ),
        (
            "path traversal in a name",
            "GET",
            "/api/v1/namespaces/default/configmaps/..%2F..%2Fetc",
            "application/json",
            vec![],
        ),
    ];
    for (case, method, uri, content_type, body) in cases {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", content_type)
            .body(body)
            .expect("request");
        let (code, status) = raw(&c, req).await;
        assert!(
            (400..500).contains(&code),
            "{case}: expected a 4xx Status, got {code}: {status}"
        );
        assert_eq!(
            status["kind"], "Status",
            "{case}: the answer is a Status: {status}"
        );
        assert_eq!(
            status["code"], code,
            "{case}: Status.code matches the HTTP code"
        );
    }
    let after = store.current_revision().await.expect("revision");
    assert_eq!(before, after, "no hostile request wrote anything");
    let ns = Api::<Namespace>::all(c.client.clone())
        .get("kube-public")
        .await
        .expect("kube-public still served");
    assert!(ns.metadata.deletion_timestamp.is_none());
    c.stop().await;
}

#[tokio::test]
async fn field_validation_strict_rejects_warn_warns_and_ignore_accepts_unknown_fields() {
    let c = TestCluster::start().await.expect("cluster starts");
    let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"NAME","bogus":1},"data":{"a":"b"},"spec":{"x":1}}"#;
    let send = |mode: &'static str, name: &'static str| {
        let c = &c;
        let body = String::from_utf8_lossy(body).replace("NAME", name).into_bytes();
        async move {
            let uri = format!("/api/v1/namespaces/default/configmaps{mode}");
            let req = http::Request::post(uri).header("content-type", "application/json").body(body).expect("request");
            let resp = c.client.send(req.map(kube::client::Body::from)).await.expect("request sent");
            let code = resp.status().as_u16();
            let warnings: Vec<String> =
                resp.headers().get_all("warning").iter().filter_map(|v| v.to_str().ok().map(str::to_string)).collect();
            let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.expect("body").to_bytes();
            (code, warnings, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
        }
    };
    let (code, _, status) = send("?fieldValidation=Strict", "strict").await;
    assert_eq!(code, 400, "{status}");
    assert_eq!(
        status["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"metadata.bogus\", unknown field \"spec\""
    );
    let (code, warnings, _) = send("", "warned").await;
    assert_eq!(code, 201);
    assert_eq!(warnings, vec![r#"299 - "unknown field \"metadata.bogus\"""#.to_string(), r#"299 - "unknown field \"spec\"""#.to_string()]);
    let (code, warnings, _) = send("?fieldValidation=Ignore", "ignored").await;
    assert_eq!((code, warnings.len()), (201, 0));
    let dup = br#"{"metadata":{"name":"dup","name":"dup"}}"#.to_vec();
    let req = http::Request::post("/api/v1/namespaces/default/configmaps?fieldValidation=Strict").header("content-type", "application/json").body(dup).expect("request");
    let (code, status) = raw(&c, req).await;
    assert_eq!(code, 400, "{status}");
    assert!(status["message"].as_str().unwrap_or_default().contains("duplicate field \"metadata.name\""), "{status}");
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    assert!(api.get_opt("strict").await.expect("get").is_none(), "strict rejection stored nothing");
    assert!(api.get("warned").await.expect("warned object stored").metadata.annotations.is_none());
    c.stop().await;
}

#[tokio::test]
async fn strategic_merge_patch_merges_containers_by_name_and_honours_directives() {
    let c = TestCluster::start().await.expect("cluster starts");
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                     {"name": "app", "image": "nginx:1.25", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                     {"name": "sidecar", "image": "envoy:1.30"}]}}}
    }))
    .expect("deployment");
    api.create(&PostParams::default(), &d).await.expect("create");
    let patched = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {
                "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27", "env": [{"name": "A", "$patch": "delete"}]}]}}}})),
        )
        .await
        .expect("strategic merge patch");
    let spec = serde_json::to_value(patched.spec.expect("spec")).expect("json");
    let containers = spec["template"]["spec"]["containers"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = containers.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, vec!["app", "sidecar"], "containers merge by name; the sidecar survives");
    assert_eq!(containers[0]["image"], "nginx:1.27");
    assert_eq!(containers[0]["env"], json!([{"name": "B", "value": "2"}]), "$patch: delete removed env A only");
    assert_eq!(containers[1]["image"], "envoy:1.30");
    assert_eq!(spec["strategy"], json!({"type": "Recreate"}), "$retainKeys dropped rollingUpdate");
    let raw_text = serde_json::to_string(&spec).expect("json");
    assert!(!raw_text.contains("$retainKeys") && !raw_text.contains("$patch"), "no directive is stored: {raw_text}");
    let bad = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"$patch": "sideways", "name": "app"}]}}}})))
        .await
        .expect_err("unknown patch directive");
    assert!(matches!(api_error(bad).code, 400 | 422 | 500));
    c.stop().await;
}

/// Where the recorded kube-apiserver exchanges live (`../shared`), if present.
fn replays_dir() -> Option<std::path::PathBuf> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/k8s-openapi-test-replays/v1-33");
    if p.exists() {
        Some(p)
    } else {
        println!("skipping: {} is missing (../shared is not beside the repository)", p.display());
        None
    }
}

#[tokio::test]
async fn recorded_patch_deployment_exchanges_replay_with_the_same_answers() {
    let Some(dir) = replays_dir() else { return };
    let text = std::fs::read_to_string(dir.join("patch-deployment.json")).expect("replay file");
    let exchanges: Vec<Value> = serde_json::from_str(&text).expect("replay JSON");
    let c = TestCluster::start().await.expect("cluster starts");
    for (i, ex) in exchanges.iter().enumerate() {
        let method = ex["request_method"].as_str().expect("method");
        let url = ex["request_url"].as_str().expect("url").replace("?&", "?");
        let mut req = http::Request::builder().method(method).uri(&url);
        if let Some(ct) = ex["request_content_type"].as_str() {
            req = req.header("content-type", ct);
        }
        let body = ex["request_body"].as_str().unwrap_or("").as_bytes().to_vec();
        let (code, got) = raw(&c, req.body(body).expect("request")).await;
        let want_code = ex["response_status_code"].as_u64().expect("code") as u16;
        let want: Value = serde_json::from_str(ex["response_body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
        let case = format!("exchange {i}: {method} {url}");
        assert_eq!(code, want_code, "{case}: {got}");
        assert_eq!(got["kind"], want["kind"], "{case}");
        match want["kind"].as_str() {
            // The Deployment as stored (spec with upstream's defaults, generation); status
            // comes from controllers and timing, so it is not compared.
            Some("Deployment") => {
                assert_eq!(got["spec"], want["spec"], "{case}: spec");
                assert_eq!(got["metadata"]["generation"], want["metadata"]["generation"], "{case}: generation");
                assert_eq!(got["metadata"]["name"], want["metadata"]["name"], "{case}");
            }
            Some("Status") => {
                assert_eq!(got["status"], want["status"], "{case}");
                for k in ["name", "group", "kind"] {
                    assert_eq!(got["details"][k], want["details"][k], "{case}: details.{k}");
                }
            }
            _ => {}
        }
    }
    c.stop().await;
}
