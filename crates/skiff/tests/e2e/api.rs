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
    // Like a real cluster, a new namespace soon holds its default service account and the
    // root CA configmap; wait for them so tests see a settled namespace.
    testkit::wait_for_namespace_defaults(&c.client, name)
        .await
        .expect("namespace defaults");
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
            // kube-root-ca.crt, which every namespace holds, has no tier label.
            "inequality selector",
            Some("tier!=web"),
            None,
            &["cache-1", "db-1", "kube-root-ca.crt"],
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
            &["kube-root-ca.crt", "web-1", "web-2"],
        ),
        (
            "exists",
            Some("tier"),
            None,
            &["cache-1", "db-1", "web-1", "web-2"],
        ),
        ("does not exist", Some("!tier"), None, &["kube-root-ca.crt"]),
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
                Some(5),
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
            // 8 objects at the first page's revision, 3 a page: 2 left after the second,
            // none after the last (the object created between pages does not count).
            let want = match seen.len() {
                3 => Some(2),
                _ => None,
            };
            assert_eq!(
                page.metadata.remaining_item_count,
                want,
                "remainingItemCount after {} objects",
                seen.len() + page.items.len()
            );
        }
        seen.extend(page.items.into_iter().filter_map(|o| o.metadata.name));
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    let mut want: Vec<String> = (0..7).map(|i| format!("cm-{i}")).collect();
    want.push("kube-root-ca.crt".into());
    assert_eq!(seen, want, "every object once, in key order");
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
    // (The deployment controller may have written its own status meanwhile; the 7 sent
    // through the main resource never lands.)
    assert!(
        d3.status.as_ref().and_then(|s| s.replicas) != Some(7),
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
    // Upstream's Deployment status strategy keeps annotation changes but not label changes.
    let d5 = deployments
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"deployment.kubernetes.io/revision": "2"}, "labels": {"sneaky": "yes"}}})),
        )
        .await
        .expect("status patch with metadata");
    assert_eq!(
        d5.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("deployment.kubernetes.io/revision"))
            .map(String::as_str),
        Some("2")
    );
    assert!(
        d5.metadata
            .labels
            .as_ref()
            .is_none_or(|l| !l.contains_key("sneaky")),
        "labels are reset on a Deployment status write"
    );
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

    // A Job-like pod held by a finalizer: a second delete may only shorten the grace
    // period, and the pod goes once its grace is 0 and the last finalizer is removed.
    let held: Pod = serde_json::from_value(json!({
        "metadata": {"name": "held", "finalizers": ["batch.kubernetes.io/job-tracking"]},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}]}
    }))
    .expect("pod");
    api.create(&PostParams::default(), &held)
        .await
        .expect("create held pod");
    let delete_with = |grace: Option<u32>| DeleteParams {
        grace_period_seconds: grace,
        ..Default::default()
    };
    let first = api
        .delete("held", &delete_with(None))
        .await
        .expect("graceful delete")
        .left()
        .expect("pod returned");
    assert_eq!(first.metadata.deletion_grace_period_seconds, Some(30));
    let longer = api
        .delete("held", &delete_with(Some(60)))
        .await
        .expect("delete with a longer grace")
        .left()
        .expect("pod returned");
    assert_eq!(
        longer.metadata.deletion_grace_period_seconds,
        Some(30),
        "a longer grace period never extends the running one"
    );
    let shortened = api
        .delete("held", &delete_with(Some(0)))
        .await
        .expect("delete with grace 0")
        .left()
        .expect("a pod held by a finalizer is returned");
    assert_eq!(
        shortened.metadata.deletion_grace_period_seconds,
        Some(0),
        "grace 0 shortens the running grace period"
    );
    let deadline = |p: &Pod| {
        p.metadata
            .deletion_timestamp
            .clone()
            .expect("deletionTimestamp")
            .0
    };
    assert_eq!(
        deadline(&first).duration_since(deadline(&shortened)),
        jiff::SignedDuration::from_secs(30),
        "the deadline moves back by the 30 s cut"
    );
    assert!(
        api.get_opt("held").await.expect("get").is_some(),
        "the finalizer holds it"
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
        "gone once its grace is 0 and its last finalizer is removed"
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
    // The namespaces every cluster relies on cannot be deleted (NamespaceLifecycle).
    for protected in ["default", "kube-system", "kube-public"] {
        let err = api_error(
            namespaces
                .delete(protected, &DeleteParams::default())
                .await
                .expect_err("protected namespace"),
        );
        assert_eq!(
            (err.code, err.message.as_str()),
            (
                403,
                format!(
                    "namespaces \"{protected}\" is forbidden: this namespace may not be deleted"
                )
                .as_str()
            )
        );
    }
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
    let row = table["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["cells"][0] == "t")
        .expect("a row for t");
    assert_eq!(row["cells"][1], 2);
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
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
        vec!["c".to_string(), "kube-root-ca.crt".to_string()],
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
        let body = String::from_utf8_lossy(body)
            .replace("NAME", name)
            .into_bytes();
        async move {
            let uri = format!("/api/v1/namespaces/default/configmaps{mode}");
            let req = http::Request::post(uri)
                .header("content-type", "application/json")
                .body(body)
                .expect("request");
            let resp = c
                .client
                .send(req.map(kube::client::Body::from))
                .await
                .expect("request sent");
            let code = resp.status().as_u16();
            let warnings: Vec<String> = resp
                .headers()
                .get_all("warning")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect();
            let bytes = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .expect("body")
                .to_bytes();
            (
                code,
                warnings,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
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
    assert_eq!(
        warnings,
        vec![
            r#"299 - "unknown field \"metadata.bogus\"""#.to_string(),
            r#"299 - "unknown field \"spec\"""#.to_string()
        ]
    );
    let (code, warnings, _) = send("?fieldValidation=Ignore", "ignored").await;
    assert_eq!((code, warnings.len()), (201, 0));
    let dup = br#"{"metadata":{"name":"dup","name":"dup"}}"#.to_vec();
    let req = http::Request::post("/api/v1/namespaces/default/configmaps?fieldValidation=Strict")
        .header("content-type", "application/json")
        .body(dup)
        .expect("request");
    let (code, status) = raw(&c, req).await;
    assert_eq!(code, 400, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap_or_default()
            .contains("duplicate field \"metadata.name\""),
        "{status}"
    );
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    assert!(
        api.get_opt("strict").await.expect("get").is_none(),
        "strict rejection stored nothing"
    );
    assert!(
        api.get("warned")
            .await
            .expect("warned object stored")
            .metadata
            .annotations
            .is_none()
    );

    // Every request to core/v1 Endpoints carries v1.33's deprecation warning, errors too;
    // EndpointSlices do not.
    let deprecated =
        r#"299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice""#;
    for (case, method, uri, body, want_code, warned) in [
        (
            "create endpoints",
            "POST",
            "/api/v1/namespaces/default/endpoints",
            r#"{"metadata":{"name":"ep"}}"#,
            201,
            true,
        ),
        (
            "list endpoints",
            "GET",
            "/api/v1/namespaces/default/endpoints",
            "",
            200,
            true,
        ),
        (
            "get missing endpoints",
            "GET",
            "/api/v1/namespaces/default/endpoints/nope",
            "",
            404,
            true,
        ),
        (
            "list all endpoints",
            "GET",
            "/api/v1/endpoints?watch=false",
            "",
            200,
            true,
        ),
        (
            "list endpointslices",
            "GET",
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
            "",
            200,
            false,
        ),
    ] {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
            .expect("request");
        let resp = c
            .client
            .send(req.map(kube::client::Body::from))
            .await
            .expect("request sent");
        let warnings: Vec<String> = resp
            .headers()
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        assert_eq!(resp.status().as_u16(), want_code, "{case}");
        let want: Vec<String> = if warned {
            vec![deprecated.to_string()]
        } else {
            vec![]
        };
        assert_eq!(warnings, want, "{case}");
    }
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
    api.create(&PostParams::default(), &d)
        .await
        .expect("create");
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
    let containers = spec["template"]["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        vec!["app", "sidecar"],
        "containers merge by name; the sidecar survives"
    );
    assert_eq!(containers[0]["image"], "nginx:1.27");
    assert_eq!(
        containers[0]["env"],
        json!([{"name": "B", "value": "2"}]),
        "$patch: delete removed env A only"
    );
    assert_eq!(containers[1]["image"], "envoy:1.30");
    assert_eq!(
        spec["strategy"],
        json!({"type": "Recreate"}),
        "$retainKeys dropped rollingUpdate"
    );
    let raw_text = serde_json::to_string(&spec).expect("json");
    assert!(
        !raw_text.contains("$retainKeys") && !raw_text.contains("$patch"),
        "no directive is stored: {raw_text}"
    );
    let bad = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"$patch": "sideways", "name": "app"}]}}}})))
        .await
        .expect_err("unknown patch directive");
    assert!(matches!(api_error(bad).code, 400 | 422 | 500));
    c.stop().await;
}

/// GETs `path` with an Accept header and returns (status code, JSON body).
async fn get_json(c: &TestCluster, path: &str, accept: &str) -> (u16, Value) {
    let req = http::Request::get(path)
        .header("accept", accept)
        .body(Vec::new())
        .expect("request");
    raw(c, req).await
}

/// POSTs a JSON body to `path` and returns (status code, JSON body).
async fn post_json(c: &TestCluster, path: &str, body: &Value) -> (u16, Value) {
    let req = http::Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).expect("json"))
        .expect("request");
    raw(c, req).await
}

#[tokio::test]
async fn scale_subresource_reads_and_writes_replicas_of_the_parent() {
    use k8s_openapi::api::autoscaling::v1::Scale;
    use k8s_openapi::api::core::v1::ReplicationController;
    let c = TestCluster::start().await.expect("cluster starts");
    create_ns(&c, "scale").await;
    let deploys: Api<Deployment> = Api::namespaced(c.client.clone(), "scale");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
            "template": {"metadata": {"labels": {"app": "web", "tier": "a"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }))
    .expect("deployment");
    let d = deploys
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
    // The Deployment controller writes the status meanwhile: read the Scale and the
    // Deployment at one resourceVersion to compare them.
    let (s, current) = loop {
        let s = deploys.get_scale("web").await.expect("get scale");
        let current = deploys.get("web").await.expect("get deployment");
        if s.metadata.resource_version == current.metadata.resource_version {
            break (s, current);
        }
    };
    assert_eq!(s.spec.as_ref().and_then(|s| s.replicas), Some(1));
    let status = s.status.clone().expect("scale status");
    assert_eq!(status.selector.as_deref(), Some("app=web,tier in (a,b)"));
    assert_eq!(
        Some(status.replicas),
        Some(current.status.and_then(|st| st.replicas).unwrap_or(0)),
        "the Scale's status mirrors the Deployment's"
    );
    assert_eq!(
        s.metadata.uid, d.metadata.uid,
        "the Scale carries the parent's uid"
    );
    assert_eq!(s.metadata.creation_timestamp, d.metadata.creation_timestamp);

    // Merge patch (what `kubectl scale` sends) changes spec.replicas through a normal update.
    let s = deploys
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("patch scale");
    assert_eq!(s.spec.as_ref().and_then(|s| s.replicas), Some(3));
    let d2 = deploys.get("web").await.expect("deployment");
    assert_eq!(d2.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(
        d2.metadata.generation,
        Some(2),
        "a replica change bumps the generation"
    );
    assert_eq!(
        d2.spec.as_ref().map(|s| s.template.clone()),
        d.spec.as_ref().map(|s| s.template.clone()),
        "nothing else changes"
    );
    // JSON patch on the Scale form.
    let req = http::Request::patch("/apis/apps/v1/namespaces/scale/deployments/web/scale")
        .header("content-type", "application/json-patch+json")
        .body(
            serde_json::to_vec(&json!([{"op": "replace", "path": "/spec/replicas", "value": 2}]))
                .expect("json"),
        )
        .expect("request");
    let (code, s) = raw(&c, req).await;
    assert_eq!(
        (code, &s["kind"], &s["spec"]["replicas"]),
        (200, &json!("Scale"), &json!(2)),
        "{s}"
    );

    // PUT with a stale resourceVersion conflicts; with the current one it applies.
    let stale: Scale = serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "scale", "resourceVersion": d.metadata.resource_version}, "spec": {"replicas": 5}})).expect("scale");
    let err = api_error(
        deploys
            .replace_scale("web", &PostParams::default(), &stale)
            .await
            .expect_err("stale"),
    );
    assert_eq!(err.code, 409, "{err:?}");
    // The Deployment controller writes the status meanwhile, so a read-modify-write may
    // meet a conflict as it would on any cluster; retry as clients do.
    let mut attempts = 0;
    let s = loop {
        let mut fresh = deploys.get_scale("web").await.expect("get scale");
        fresh.spec = Some(k8s_openapi::api::autoscaling::v1::ScaleSpec { replicas: Some(5) });
        match deploys
            .replace_scale("web", &PostParams::default(), &fresh)
            .await
        {
            Ok(s) => break s,
            Err(kube::Error::Api(st)) if st.code == 409 && attempts < 20 => attempts += 1,
            Err(e) => panic!("replace scale: {e}"),
        }
    };
    assert_eq!(s.spec.as_ref().and_then(|s| s.replicas), Some(5));
    let mut negative = s.clone();
    negative.spec = Some(k8s_openapi::api::autoscaling::v1::ScaleSpec { replicas: Some(-1) });
    let err = api_error(
        deploys
            .replace_scale("web", &PostParams::default(), &negative)
            .await
            .expect_err("negative"),
    );
    assert_eq!(err.code, 422);
    assert_eq!(
        err.message,
        "Scale.autoscaling \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
    let err = api_error(deploys.get_scale("nope").await.expect_err("missing"));
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "deployments/scale.apps \"nope\" not found")
    );

    // Replication controllers select by a label map.
    let rcs: Api<ReplicationController> = Api::namespaced(c.client.clone(), "scale");
    let rc: ReplicationController = serde_json::from_value(json!({
        "metadata": {"name": "rc"},
        "spec": {"replicas": 2, "selector": {"b": "2", "a": "1"}, "template": {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }))
    .expect("rc");
    rcs.create(&PostParams::default(), &rc)
        .await
        .expect("create rc");
    let s = rcs.get_scale("rc").await.expect("rc scale");
    assert_eq!(
        s.status.and_then(|s| s.selector).as_deref(),
        Some("a=1,b=2")
    );
    rcs.patch_scale(
        "rc",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 0}})),
    )
    .await
    .expect("scale rc to zero");
    assert_eq!(
        rcs.get("rc")
            .await
            .expect("rc")
            .spec
            .and_then(|s| s.replicas),
        Some(0)
    );

    // Discovery names the Scale kind in both forms.
    let (code, list) = get_json(&c, "/apis/apps/v1", "application/json").await;
    assert_eq!(code, 200);
    let entry = list["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "deployments/scale")
        .cloned()
        .expect("deployments/scale listed");
    assert_eq!(
        entry,
        json!({"name": "deployments/scale", "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]})
    );
    let (code, agg) = get_json(
        &c,
        "/apis",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    )
    .await;
    assert_eq!(code, 200);
    let apps = agg["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["metadata"]["name"] == "apps")
        .expect("apps group");
    let deployments = apps["versions"][0]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["resource"] == "deployments")
        .expect("deployments");
    let scale = deployments["subresources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["subresource"] == "scale")
        .expect("scale subresource");
    assert_eq!(
        scale["responseKind"],
        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
    );
    c.stop().await;
}

#[tokio::test]
async fn pod_binding_log_and_eviction_subresources_answer_like_kube_apiserver() {
    use kube::api::EvictParams;
    let c = TestCluster::start().await.expect("cluster starts");
    create_ns(&c, "pods").await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "pods");
    let pod = |name: &str, containers: &[&str]| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"containers": containers.iter().map(|c| json!({"name": c, "image": "nginx"})).collect::<Vec<_>>()}})).expect("pod")
    };
    pods.create(&PostParams::default(), &pod("web", &["c"]))
        .await
        .expect("create pod");

    // Logs of a pod without a node: nothing to stream (204); unknown container: 400.
    let req = http::Request::get("/api/v1/namespaces/pods/pods/web/log")
        .body(Vec::new())
        .expect("request");
    let resp = c
        .client
        .send(req.map(kube::client::Body::from))
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 204);
    let (code, status) = get_json(
        &c,
        "/api/v1/namespaces/pods/pods/web/log?container=x",
        "application/json",
    )
    .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (400, Some("container x is not valid for pod web"))
    );

    // Binding assigns the node once.
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"}, "target": {"kind": "Node", "name": "node-1"}});
    let st: Status = pods
        .create_subresource("binding", "web", &PostParams::default(), &binding)
        .await
        .expect("bind");
    assert!(st.is_success(), "{st:?}");
    assert_eq!(st.code, 201);
    let bound = pods.get("web").await.expect("pod");
    assert_eq!(
        bound.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some("node-1")
    );
    let scheduled = bound
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
        .expect("PodScheduled condition");
    assert_eq!(scheduled.status, "True");
    let err = api_error(
        pods.create_subresource::<_, Status>("binding", "web", &PostParams::default(), &binding)
            .await
            .expect_err("already bound"),
    );
    assert_eq!(err.code, 409);
    assert_eq!(
        err.message,
        "Operation cannot be fulfilled on pods/binding \"web\": pod web is already assigned to node \"node-1\""
    );
    let err = api_error(
        pods.create_subresource::<_, Status>("binding", "other", &PostParams::default(), &binding)
            .await
            .expect_err("name mismatch"),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (400, "name in URL does not match name in Binding object")
    );
    // The legacy create-only `bindings` collection does the same.
    pods.create(&PostParams::default(), &pod("multi", &["a", "b"]))
        .await
        .expect("create pod");
    let (code, st) = post_json(
        &c,
        "/api/v1/namespaces/pods/bindings",
        &json!({"metadata": {"name": "multi"}, "target": {"name": "node-2"}}),
    )
    .await;
    assert_eq!(
        (code, st["status"].as_str()),
        (201, Some("Success")),
        "{st}"
    );
    assert_eq!(
        pods.get("multi")
            .await
            .expect("pod")
            .spec
            .and_then(|s| s.node_name)
            .as_deref(),
        Some("node-2")
    );

    // Bound to a node that does not exist: there is no kubelet to ask.
    let (code, status) = get_json(
        &c,
        "/api/v1/namespaces/pods/pods/web/log",
        "application/json",
    )
    .await;
    assert_eq!(code, 404, "{status}");
    assert_eq!(status["message"], "nodes \"node-1\" not found");
    let (code, status) = get_json(
        &c,
        "/api/v1/namespaces/pods/pods/multi/log",
        "application/json",
    )
    .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            400,
            Some("a container name must be specified for pod multi, choose one of: [a b]")
        )
    );

    // exec, attach, port-forward and proxy are routed, and say plainly that no container
    // runs to connect to (kubectl prints the message instead of a bare 404).
    for (method, uri, sub) in [
        (
            "POST",
            "/api/v1/namespaces/pods/pods/multi/exec?command=ls&container=a&stdout=true",
            "pods/exec",
        ),
        (
            "GET",
            "/api/v1/namespaces/pods/pods/multi/attach?container=a",
            "pods/attach",
        ),
        (
            "POST",
            "/api/v1/namespaces/pods/pods/multi/portforward?ports=80",
            "pods/portforward",
        ),
        (
            "GET",
            "/api/v1/namespaces/pods/pods/multi/proxy/healthz",
            "pods/proxy",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/services/kubernetes/proxy/",
            "services/proxy",
        ),
    ] {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Vec::new())
            .expect("request");
        let (code, status) = raw(&c, req).await;
        assert_eq!(
            (code, status["reason"].as_str()),
            (400, Some("BadRequest")),
            "{sub}: {status}"
        );
        assert_eq!(
            status["message"],
            format!("skiff does not run real containers: {sub} is not supported yet"),
            "{sub}"
        );
    }
    // Of an object that does not exist: upstream's NotFound, details naming it.
    let (code, status) = get_json(&c, "/api/v1/nodes/nope/proxy/metrics", "application/json").await;
    assert_eq!(code, 404, "{status}");
    assert_eq!(status["details"], json!({"name": "nope", "kind": "nodes"}));
    // An unknown subresource: the generic 404 still carries (empty) details, which
    // `kubectl debug` reads.
    let (code, status) = get_json(
        &c,
        "/api/v1/namespaces/pods/pods/multi/frobnicate",
        "application/json",
    )
    .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            404,
            Some("the server could not find the requested resource")
        )
    );
    assert_eq!(status["details"], json!({}), "{status}");
    // Discovery lists them as upstream does, with their options kinds and verbs.
    let (_, core) = get_json(&c, "/api/v1", "application/json").await;
    for (name, kind, verbs) in [
        ("pods/exec", "PodExecOptions", json!(["create", "get"])),
        ("pods/attach", "PodAttachOptions", json!(["create", "get"])),
        (
            "pods/portforward",
            "PodPortForwardOptions",
            json!(["create", "get"]),
        ),
        (
            "pods/proxy",
            "PodProxyOptions",
            json!(["create", "delete", "get", "patch", "update"]),
        ),
        (
            "services/proxy",
            "ServiceProxyOptions",
            json!(["create", "delete", "get", "patch", "update"]),
        ),
        (
            "nodes/proxy",
            "NodeProxyOptions",
            json!(["create", "delete", "get", "patch", "update"]),
        ),
    ] {
        let r = core["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} in /api/v1"));
        assert_eq!((&r["kind"], &r["verbs"]), (&json!(kind), &verbs), "{name}");
    }

    // Eviction: a scheduled pod gets the DisruptionTarget condition and a graceful delete.
    let st = pods
        .evict("web", &EvictParams::default())
        .await
        .expect("evict");
    assert!(st.is_success(), "{st:?}");
    let evicted = pods.get("web").await.expect("terminating pod");
    assert!(
        evicted.metadata.deletion_timestamp.is_some(),
        "graceful delete started"
    );
    let target = evicted
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "DisruptionTarget"))
        .expect("DisruptionTarget condition");
    assert_eq!(
        (target.status.as_str(), target.reason.as_deref()),
        ("True", Some("EvictionByEvictionAPI"))
    );
    // Evicting a terminating pod deletes it again, honouring the grace period asked for.
    let evict = |name: &str, opts: Value| json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}, "deleteOptions": opts});
    let (code, st) = post_json(
        &c,
        "/api/v1/namespaces/pods/pods/web/eviction",
        &evict("web", json!({"gracePeriodSeconds": 0})),
    )
    .await;
    assert_eq!(code, 201, "{st}");
    assert_eq!(
        st,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
    );
    assert!(
        pods.get_opt("web").await.expect("get").is_none(),
        "grace period 0 removes the pod"
    );
    let err = api_error(
        pods.evict("web", &EvictParams::default())
            .await
            .expect_err("gone"),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "pods \"web\" not found")
    );
    // Preconditions in deleteOptions are checked.
    let (code, st) = post_json(
        &c,
        "/api/v1/namespaces/pods/pods/multi/eviction",
        &evict("multi", json!({"preconditions": {"uid": "not-the-uid"}})),
    )
    .await;
    assert_eq!(code, 409, "{st}");
    let (code, st) = post_json(
        &c,
        "/api/v1/namespaces/pods/pods/multi/eviction",
        &evict("web", json!({})),
    )
    .await;
    assert_eq!(
        (code, st["message"].as_str()),
        (
            400,
            Some("name in URL does not match name in Eviction object")
        )
    );

    // Discovery: kubectl drain looks for pods/eviction.
    let (_, core) = get_json(&c, "/api/v1", "application/json").await;
    let find = |n: &str| {
        core["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["name"] == n)
            .cloned()
    };
    assert_eq!(
        find("pods/eviction").expect("pods/eviction"),
        json!({"name": "pods/eviction", "singularName": "", "namespaced": true, "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]})
    );
    assert_eq!(
        find("pods/binding").expect("pods/binding")["verbs"],
        json!(["create"])
    );
    assert_eq!(
        find("bindings").expect("bindings")["verbs"],
        json!(["create"])
    );
    assert_eq!(find("pods/log").expect("pods/log")["verbs"], json!(["get"]));
    c.stop().await;
}

#[tokio::test]
async fn service_account_tokens_are_signed_with_a_key_that_survives_restarts() {
    use base64::Engine;
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    let c = TestCluster::start().await.expect("cluster starts");
    create_ns(&c, "tok").await;
    let sas: Api<ServiceAccount> = Api::namespaced(c.client.clone(), "tok");
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "robot"}})).expect("sa");
    let sa = sas
        .create(&PostParams::default(), &sa)
        .await
        .expect("create sa");
    let request = |spec: Value| -> TokenRequest {
        serde_json::from_value(json!({"spec": spec})).expect("token request")
    };
    let payload = |token: &str| -> Value {
        let part = token.split('.').nth(1).expect("a JWT has a payload");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url payload");
        serde_json::from_slice(&bytes).expect("JSON claims")
    };
    let verify = |dir: &std::path::Path, token: &str, aud: &str| -> Value {
        let public = std::fs::read(dir.join("pki/sa.pub")).expect("DIR/pki/sa.pub");
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(&public).expect("RSA public key");
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&[aud]);
        v.set_issuer(&["https://kubernetes.default.svc.cluster.local"]);
        jsonwebtoken::decode::<Value>(token, &key, &v)
            .expect("signature verifies")
            .claims
    };

    let tr = sas
        .create_token_request("robot", &PostParams::default(), &request(json!({})))
        .await
        .expect("token");
    let status = tr.status.clone().expect("status");
    assert_eq!(tr.spec.expiration_seconds, Some(3600), "default lifetime");
    let claims = verify(
        c.data_dir(),
        &status.token,
        "https://kubernetes.default.svc.cluster.local",
    );
    assert_eq!(claims["sub"], "system:serviceaccount:tok:robot");
    assert_eq!(
        claims["aud"],
        json!(["https://kubernetes.default.svc.cluster.local"])
    );
    assert_eq!(
        claims["kubernetes.io"],
        json!({"namespace": "tok", "serviceaccount": {"name": "robot", "uid": sa.metadata.uid}})
    );
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600));
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(status.expiration_timestamp.0.as_second(), iat + 3600);

    // Audiences, lifetime and a bound pod.
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "tok");
    let p: Pod = serde_json::from_value(json!({"metadata": {"name": "runner"}, "spec": {"serviceAccountName": "robot", "containers": [{"name": "c", "image": "nginx"}]}})).expect("pod");
    let p = pods
        .create(&PostParams::default(), &p)
        .await
        .expect("create pod");
    let tr = sas
        .create_token_request("robot", &PostParams::default(), &request(json!({"audiences": ["vault"], "expirationSeconds": 1200, "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "runner"}})))
        .await
        .expect("bound token");
    let claims = payload(&tr.status.expect("status").token);
    assert_eq!(claims["aud"], json!(["vault"]));
    assert_eq!(
        claims["exp"]
            .as_i64()
            .zip(claims["iat"].as_i64())
            .map(|(e, i)| e - i),
        Some(1200)
    );
    assert_eq!(
        claims["kubernetes.io"]["pod"],
        json!({"name": "runner", "uid": p.metadata.uid})
    );
    let err = api_error(
        sas.create_token_request(
            "robot",
            &PostParams::default(),
            &request(json!({"expirationSeconds": 100})),
        )
        .await
        .expect_err("too short"),
    );
    assert_eq!(err.code, 422);
    assert_eq!(
        err.message,
        "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 100: may not specify a duration less than 10 minutes"
    );
    let other: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "other"}})).expect("sa");
    sas.create(&PostParams::default(), &other)
        .await
        .expect("create sa");
    let err = api_error(
        sas.create_token_request(
            "other",
            &PostParams::default(),
            &request(
                json!({"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "runner"}}),
            ),
        )
        .await
        .expect_err("wrong sa"),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (
            400,
            "cannot bind token for serviceaccount \"other\" to pod running with serviceaccount \"robot\""
        )
    );
    let err = api_error(
        sas.create_token_request("ghost", &PostParams::default(), &request(json!({})))
            .await
            .expect_err("no sa"),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "serviceaccounts \"ghost\" not found")
    );

    // The signing key is kept in DIR/pki and used again after a restart.
    let key_before = std::fs::read(c.data_dir().join("pki/sa.key")).expect("DIR/pki/sa.key");
    let c = c.restart().await.expect("restart");
    assert_eq!(
        std::fs::read(c.data_dir().join("pki/sa.key")).expect("sa.key"),
        key_before
    );
    let sas: Api<ServiceAccount> = Api::namespaced(c.client.clone(), "tok");
    let tr = sas
        .create_token_request(
            "robot",
            &PostParams::default(),
            &request(json!({"audiences": ["x"]})),
        )
        .await
        .expect("token after restart");
    let claims = verify(c.data_dir(), &tr.status.expect("status").token, "x");
    assert_eq!(claims["sub"], "system:serviceaccount:tok:robot");
    c.stop().await;
}

#[tokio::test]
async fn self_subject_reviews_answer_for_the_requester() {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    use k8s_openapi::api::authorization::v1::{SelfSubjectAccessReview, SelfSubjectRulesReview};
    let c = TestCluster::start().await.expect("cluster starts");
    let ssar: SelfSubjectAccessReview = serde_json::from_value(json!({"spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}}})).expect("ssar");
    let out = Api::<SelfSubjectAccessReview>::all(c.client.clone())
        .create(&PostParams::default(), &ssar)
        .await
        .expect("ssar");
    let status = out.status.expect("status");
    assert!(
        status.allowed,
        "authenticated users are allowed everything until RBAC is enforced"
    );
    assert!(status.reason.is_some_and(|r| !r.is_empty()));
    assert_eq!(
        out.spec
            .resource_attributes
            .and_then(|r| r.resource)
            .as_deref(),
        Some("pods")
    );
    let both: SelfSubjectAccessReview = serde_json::from_value(json!({"spec": {}})).expect("ssar");
    let err = api_error(
        Api::<SelfSubjectAccessReview>::all(c.client.clone())
            .create(&PostParams::default(), &both)
            .await
            .expect_err("invalid"),
    );
    assert_eq!(err.code, 422);

    let ssrr: SelfSubjectRulesReview =
        serde_json::from_value(json!({"spec": {"namespace": "default"}})).expect("ssrr");
    let out = Api::<SelfSubjectRulesReview>::all(c.client.clone())
        .create(&PostParams::default(), &ssrr)
        .await
        .expect("ssrr");
    let status = serde_json::to_value(out.status.expect("status")).expect("json");
    assert_eq!(
        status,
        json!({
            "incomplete": false,
            "nonResourceRules": [{"nonResourceURLs": ["*"], "verbs": ["*"]}],
            "resourceRules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        })
    );

    let no_ns: SelfSubjectRulesReview = serde_json::from_value(json!({"spec": {}})).expect("ssrr");
    let err = api_error(
        Api::<SelfSubjectRulesReview>::all(c.client.clone())
            .create(&PostParams::default(), &no_ns)
            .await
            .expect_err("no namespace"),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (400, "no namespace on request")
    );

    let ssr: SelfSubjectReview = serde_json::from_value(json!({})).expect("ssr");
    let out = Api::<SelfSubjectReview>::all(c.client.clone())
        .create(&PostParams::default(), &ssr)
        .await
        .expect("ssr");
    let user = out.status.and_then(|s| s.user_info).expect("userInfo");
    assert_eq!(user.username.as_deref(), Some("kubernetes-admin"));
    assert_eq!(
        user.groups,
        Some(vec![
            "system:masters".to_string(),
            "system:authenticated".to_string()
        ])
    );

    // Nothing is stored: reading is not a served verb.
    let (code, _) = get_json(
        &c,
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        "application/json",
    )
    .await;
    assert_eq!(code, 405);
    // Discovery lists the groups with create-only resources.
    let (_, groups) = get_json(&c, "/apis", "application/json").await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert!(
        names.contains(&"authentication.k8s.io") && names.contains(&"authorization.k8s.io"),
        "{names:?}"
    );
    let (_, list) = get_json(&c, "/apis/authorization.k8s.io/v1", "application/json").await;
    let ssar = list["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "selfsubjectaccessreviews")
        .cloned()
        .expect("listed");
    assert_eq!(
        ssar,
        json!({"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview", "namespaced": false, "kind": "SelfSubjectAccessReview", "verbs": ["create"]})
    );
    c.stop().await;
}

/// Where the recorded kube-apiserver exchanges live (`../shared`), if present.
fn replays_dir() -> Option<std::path::PathBuf> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/k8s-openapi-test-replays/v1-33");
    if p.exists() {
        Some(p)
    } else {
        println!(
            "skipping: {} is missing (../shared is not beside the repository)",
            p.display()
        );
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
        let body = ex["request_body"]
            .as_str()
            .unwrap_or("")
            .as_bytes()
            .to_vec();
        let (code, got) = raw(&c, req.body(body).expect("request")).await;
        let want_code = ex["response_status_code"].as_u64().expect("code") as u16;
        let want: Value = serde_json::from_str(ex["response_body"].as_str().unwrap_or("null"))
            .unwrap_or(Value::Null);
        let case = format!("exchange {i}: {method} {url}");
        assert_eq!(code, want_code, "{case}: {got}");
        assert_eq!(got["kind"], want["kind"], "{case}");
        match want["kind"].as_str() {
            // The Deployment as stored (spec with upstream's defaults, generation); status
            // comes from controllers and timing, so it is not compared.
            Some("Deployment") => {
                assert_eq!(got["spec"], want["spec"], "{case}: spec");
                assert_eq!(
                    got["metadata"]["generation"], want["metadata"]["generation"],
                    "{case}: generation"
                );
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

#[tokio::test]
async fn new_namespaces_get_a_default_service_account_and_the_root_ca_configmap() {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let c = TestCluster::start().await.expect("cluster starts");
    create_ns(&c, "fresh").await;
    let sas: Api<ServiceAccount> = Api::namespaced(c.client.clone(), "fresh");
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), "fresh");
    eventually("the default service account in a new namespace", || {
        let sas = sas.clone();
        async move { sas.get_opt("default").await.ok().flatten() }
    })
    .await
    .expect("default service account");
    let ca = eventually("kube-root-ca.crt in a new namespace", || {
        let cms = cms.clone();
        async move { cms.get_opt("kube-root-ca.crt").await.ok().flatten() }
    })
    .await
    .expect("root CA configmap");
    let pem = std::fs::read_to_string(c.data_dir().join("pki/ca.crt")).expect("ca.crt");
    assert_eq!(
        ca.data.unwrap_or_default().get("ca.crt"),
        Some(&pem),
        "the configmap holds the cluster CA"
    );
    sas.delete("default", &DeleteParams::default())
        .await
        .expect("delete default");
    eventually("the default service account to be recreated", || {
        let sas = sas.clone();
        async move { sas.get_opt("default").await.ok().flatten() }
    })
    .await
    .expect("recreated");
    cms.patch(
        "kube-root-ca.crt",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"ca.crt": "tampered"}})),
    )
    .await
    .expect("tamper");
    eventually("kube-root-ca.crt to be restored", || {
        let cms = cms.clone();
        let pem = pem.clone();
        async move {
            let cm = cms.get_opt("kube-root-ca.crt").await.ok().flatten()?;
            (cm.data.unwrap_or_default().get("ca.crt") == Some(&pem)).then_some(())
        }
    })
    .await
    .expect("restored");
    c.stop().await;
}

fn applied_deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ssa", "labels": {"app": "ssa"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "ssa"}},
            "template": {
                "metadata": {"labels": {"app": "ssa"}},
                "spec": {"containers": [{"name": "nginx", "image": image}]}
            }
        }
    })
}

#[tokio::test]
async fn server_side_apply_tracks_managers_conflicts_and_force() {
    let c = TestCluster::start().await.expect("cluster starts");
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    // Apply to a missing object creates it, owned by the applier.
    let created = api
        .patch(
            "ssa",
            &PatchParams::apply("mgr-a"),
            &Patch::Apply(applied_deployment(1, "nginx:1")),
        )
        .await
        .expect("apply creates");
    let mf = created.metadata.managed_fields.clone().unwrap_or_default();
    assert_eq!(mf.len(), 1, "{mf:?}");
    assert_eq!(mf[0].manager.as_deref(), Some("mgr-a"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    assert_eq!(mf[0].api_version.as_deref(), Some("apps/v1"));
    assert_eq!(mf[0].fields_type.as_deref(), Some("FieldsV1"));
    let fields = serde_json::to_value(&mf[0].fields_v1).expect("fieldsV1");
    assert_eq!(fields["f:spec"]["f:replicas"], json!({}));
    assert_eq!(
        fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"]["f:image"],
        json!({})
    );

    // Another manager changing replicas conflicts like upstream.
    let err = api
        .patch(
            "ssa",
            &PatchParams::apply("mgr-b"),
            &Patch::Apply(applied_deployment(3, "nginx:1")),
        )
        .await
        .expect_err("conflict");
    let status = api_error(err);
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"mgr-a\": .spec.replicas"
    );
    let (code, body) = raw(
        &c,
        http::Request::patch("/apis/apps/v1/namespaces/default/deployments/ssa?fieldManager=mgr-b")
            .header("content-type", "application/apply-patch+yaml")
            .body(serde_json::to_vec(&applied_deployment(3, "nginx:1")).expect("json"))
            .expect("request"),
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(
        body["details"]["causes"],
        json!([{"reason": "FieldManagerConflict", "message": "conflict with \"mgr-a\"", "field": ".spec.replicas"}])
    );
    // fieldManager is required for apply.
    let (code, body) = raw(
        &c,
        http::Request::patch("/apis/apps/v1/namespaces/default/deployments/ssa")
            .header("content-type", "application/apply-patch+yaml")
            .body(b"{}".to_vec())
            .expect("request"),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );

    // Force takes ownership of replicas.
    let forced = api
        .patch(
            "ssa",
            &PatchParams::apply("mgr-b").force(),
            &Patch::Apply(applied_deployment(3, "nginx:1")),
        )
        .await
        .expect("forced apply");
    assert_eq!(forced.spec.as_ref().and_then(|s| s.replicas), Some(3));
    let mf = forced.metadata.managed_fields.unwrap_or_default();
    let owns_replicas = |m: &str| {
        mf.iter()
            .filter(|e| e.manager.as_deref() == Some(m))
            .any(|e| {
                serde_json::to_value(&e.fields_v1).expect("fieldsV1")["f:spec"]["f:replicas"]
                    .is_object()
            })
    };
    assert!(owns_replicas("mgr-b"), "{mf:?}");
    assert!(!owns_replicas("mgr-a"), "{mf:?}");

    // An ordinary write is recorded as an Update by its manager.
    let patched = api
        .patch(
            "ssa",
            &PatchParams {
                field_manager: Some("scaler".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .expect("merge patch");
    let mf = patched.metadata.managed_fields.unwrap_or_default();
    let scaler = mf
        .iter()
        .find(|e| e.manager.as_deref() == Some("scaler"))
        .expect("scaler entry");
    assert_eq!(scaler.operation.as_deref(), Some("Update"));

    // Scale writes are recorded under the scale subresource and conflict like others.
    let (code, _) = raw(
        &c,
        http::Request::patch(
            "/apis/apps/v1/namespaces/default/deployments/ssa/scale?fieldManager=hpa",
        )
        .header("content-type", "application/merge-patch+json")
        .body(br#"{"spec":{"replicas":6}}"#.to_vec())
        .expect("request"),
    )
    .await;
    assert_eq!(code, 200);
    let err = api
        .patch(
            "ssa",
            &PatchParams::apply("mgr-b"),
            &Patch::Apply(applied_deployment(3, "nginx:1")),
        )
        .await
        .expect_err("conflict with the scaler");
    assert_eq!(
        api_error(err).message,
        "Apply failed with 1 conflict: conflict with \"hpa\" with subresource \"scale\" using apps/v1: .spec.replicas"
    );

    // Dry-run apply answers without storing.
    let dry = api
        .patch(
            "ssa",
            &PatchParams::apply("mgr-a").force().dry_run(),
            &Patch::Apply(applied_deployment(1, "nginx:2")),
        )
        .await
        .expect("dry-run apply");
    assert_eq!(
        dry.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .map(|s| s.containers[0].image.clone()),
        Some(Some("nginx:2".into()))
    );
    let live = api.get("ssa").await.expect("get");
    assert_eq!(
        live.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .map(|s| s.containers[0].image.clone()),
        Some(Some("nginx:1".into()))
    );
    // The configuration's namespace must be the URL's.
    let mut elsewhere = applied_deployment(1, "nginx:1");
    elsewhere["metadata"]["namespace"] = json!("other");
    let err = api
        .patch(
            "ssa",
            &PatchParams::apply("mgr-a"),
            &Patch::Apply(elsewhere),
        )
        .await
        .expect_err("namespace mismatch");
    assert_eq!(api_error(err).code, 400);
    c.stop().await;
}

#[tokio::test]
async fn recorded_custom_resource_definition_exchanges_replay_with_the_same_answers() {
    let Some(dir) = replays_dir() else { return };
    let Ok(text) = std::fs::read_to_string(dir.join("custom_resource_definition-test.json")) else {
        println!("skipping: custom_resource_definition-test.json is missing");
        return;
    };
    let exchanges: Vec<Value> = serde_json::from_str(&text).expect("replay JSON");
    let c = TestCluster::start().await.expect("cluster starts");
    for (i, ex) in exchanges.iter().enumerate() {
        let method = ex["request_method"].as_str().expect("method");
        let mut url = ex["request_url"].as_str().expect("url").replace("?&", "?");
        if url.contains("watch=true") {
            // The recording's watch was cut off by the client; end ours on the server side.
            url.push_str("&timeoutSeconds=1");
        }
        let mut req = http::Request::builder().method(method).uri(&url);
        if let Some(ct) = ex["request_content_type"].as_str() {
            req = req.header("content-type", ct);
        }
        let body = ex["request_body"]
            .as_str()
            .unwrap_or("")
            .as_bytes()
            .to_vec();
        let (code, got) = raw(&c, req.body(body).expect("request")).await;
        let want_code = ex["response_status_code"].as_u64().expect("code") as u16;
        let want: Value = serde_json::from_str(ex["response_body"].as_str().unwrap_or("null"))
            .unwrap_or(Value::Null);
        let case = format!("exchange {i}: {method} {url}");
        assert_eq!(code, want_code, "{case}: {got}");
        if url.contains("watch=true") {
            continue;
        }
        assert_eq!(got["kind"], want["kind"], "{case}");
        match want["kind"].as_str() {
            Some("Status") if want_code == 422 => assert_eq!(got, want, "{case}"),
            Some("Status") => {
                assert_eq!(got["status"], want["status"], "{case}");
                for k in ["name", "group", "kind"] {
                    assert_eq!(got["details"][k], want["details"][k], "{case}: details.{k}");
                }
            }
            Some("FooBar") => assert_eq!(got["spec"], want["spec"], "{case}: spec"),
            Some("FooBarList") => {
                let names = |v: &Value| -> Vec<Value> {
                    v["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|i| json!([i["metadata"]["name"], i["spec"]]))
                        .collect()
                };
                assert_eq!(names(&got), names(&want), "{case}: items");
            }
            Some("CustomResourceDefinition") => {
                assert_eq!(got["spec"], want["spec"], "{case}: spec");
                assert_eq!(
                    got["metadata"]["finalizers"], want["metadata"]["finalizers"],
                    "{case}: finalizers"
                );
                if i == 1 {
                    assert_eq!(
                        got["status"]["acceptedNames"], want["status"]["acceptedNames"],
                        "{case}: acceptedNames"
                    );
                    let conds = |v: &Value| -> Vec<Value> {
                        v["status"]["conditions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|c| json!([c["type"], c["status"], c["reason"], c["message"]]))
                            .collect()
                    };
                    // The recording caught Established mid-install ("Installing"); skiff
                    // establishes on write, so only NamesAccepted is compared.
                    assert_eq!(conds(&got)[0], conds(&want)[0], "{case}: NamesAccepted");
                    assert_eq!(
                        conds(&got)[1],
                        json!([
                            "Established",
                            "True",
                            "InitialNamesAccepted",
                            "the initial names have been accepted"
                        ]),
                        "{case}: Established"
                    );
                }
            }
            _ => {}
        }
    }
    // The finalizer is dropped once the (already empty) collection is cleaned up.
    let crd_url = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/foobars.k8s-openapi-tests-custom-resource-definition.com";
    eventually("the deleted CRD goes away", || async {
        let req = http::Request::get(crd_url)
            .body(Vec::new())
            .expect("request");
        (raw(&c, req).await.0 == 404).then_some(())
    })
    .await
    .expect("CRD removed after cleanup");
    let req = http::Request::get("/apis/k8s-openapi-tests-custom-resource-definition.com/v1")
        .body(Vec::new())
        .expect("request");
    assert_eq!(raw(&c, req).await.0, 404, "group version no longer served");
    c.stop().await;
}

fn gadget_crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "gadgets", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Ready", "type": "string",
                     "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "integer", "minimum": 1},
                        "mode": {"type": "string", "default": "fast"}}},
                    "status": {"type": "object", "properties": {
                        "conditions": {"type": "array", "items": {"type": "object",
                            "x-kubernetes-preserve-unknown-fields": true}}}}}}}}]}})
}

#[tokio::test]
async fn custom_resources_through_the_dynamic_api_status_split_tables_and_crd_deletion() {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let c = TestCluster::start().await.expect("cluster starts");
    let crd_api: Api<DynamicObject> = Api::all_with(
        c.client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd: DynamicObject = serde_json::from_value(gadget_crd()).expect("crd");
    let created = crd_api
        .create(&PostParams::default(), &crd)
        .await
        .expect("create CRD");
    assert_eq!(
        created.data["status"]["acceptedNames"]["listKind"], "GadgetList",
        "{:?}",
        created.data
    );
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Gadget"),
        "gadgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(c.client.clone(), "default", &ar);
    let mut watch = api
        .watch(&WatchParams::default(), "0")
        .await
        .expect("watch")
        .boxed();
    let g: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1",
        "kind": "Gadget", "metadata": {"name": "g1"},
        "spec": {"size": 2, "unknown": true}, "status": {"ignored": 1}}))
    .expect("gadget");
    let g1 = api
        .create(&PostParams::default(), &g)
        .await
        .expect("create");
    assert_eq!(
        g1.data["spec"],
        json!({"size": 2, "mode": "fast"}),
        "pruned and defaulted"
    );
    assert!(
        g1.data.get("status").is_none(),
        "status is not set on create"
    );
    assert_eq!(g1.metadata.generation, Some(1));
    let ev = within("ADDED event", watch.try_next())
        .await
        .expect("event");
    assert!(
        matches!(ev, Some(WatchEvent::Added(ref o)) if o.metadata.name.as_deref() == Some("g1")),
        "{ev:?}"
    );
    // Invalid values are a 422 with the schema's message.
    let bad: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1",
        "kind": "Gadget", "metadata": {"name": "g2"}, "spec": {"size": 0}}))
    .expect("gadget");
    let err = api_error(
        api.create(&PostParams::default(), &bad)
            .await
            .expect_err("invalid"),
    );
    assert_eq!(err.code, 422);
    assert_eq!(
        err.message,
        "Gadget.example.com \"g2\" is invalid: spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"
    );
    // fieldValidation=Strict rejects what pruning would drop; Warn answers with a warning.
    let body = json!({"apiVersion": "example.com/v1", "kind": "Gadget",
        "metadata": {"name": "g3"}, "spec": {"size": 1, "extra": 1}});
    let (code, status) = raw(
        &c,
        http::Request::post(
            "/apis/example.com/v1/namespaces/default/gadgets?fieldValidation=Strict",
        )
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).expect("json"))
        .expect("request"),
    )
    .await;
    assert_eq!(code, 400, "{status}");
    assert_eq!(
        status["message"],
        "Gadget in version \"v1\" cannot be handled as a Gadget: strict decoding error: unknown field \"spec.extra\""
    );
    // Patch of the main resource bumps generation and ignores status.
    let patched = api
        .patch(
            "g1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 5}, "status": {"conditions": []}})),
        )
        .await
        .expect("patch");
    assert_eq!(patched.data["spec"]["size"], 5);
    assert_eq!(patched.metadata.generation, Some(2));
    assert!(patched.data.get("status").is_none());
    // The status subresource writes status only.
    let with_status = api
        .patch_status("g1", &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 9}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}})))
        .await
        .expect("patch status");
    assert_eq!(with_status.data["spec"]["size"], 5);
    assert_eq!(
        with_status.data["status"]["conditions"][0]["status"],
        "True"
    );
    assert_eq!(with_status.metadata.generation, Some(2));
    let list = api.list(&ListParams::default()).await.expect("list");
    assert_eq!(list.items.len(), 1);
    // Printer columns in a Table.
    let (code, table) = get_json(
        &c,
        "/apis/example.com/v1/namespaces/default/gadgets",
        "application/json;as=Table;v=v1;g=meta.k8s.io",
    )
    .await;
    assert_eq!(code, 200, "{table}");
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(cols, ["Name", "Size", "Ready"]);
    assert_eq!(table["rows"][0]["cells"], json!(["g1", 5, "True"]));
    // Discovery and OpenAPI know the kind.
    let (code, _) = get_json(&c, "/apis/example.com/v1", "application/json").await;
    assert_eq!(code, 200);
    let (code, doc) = get_json(&c, "/openapi/v3/apis/example.com/v1", "application/json").await;
    assert_eq!(code, 200);
    assert!(
        doc["components"]["schemas"]["com.example.v1.Gadget"].is_object(),
        "v3 doc"
    );
    // Deleting the CRD deletes its objects, then the CRD and its discovery entry go away.
    let deleted = crd_api
        .delete("gadgets.example.com", &DeleteParams::default())
        .await
        .expect("delete CRD");
    assert!(deleted.is_left(), "the CRD waits on its cleanup finalizer");
    eventually("CRD removed", || async {
        let (code, _) = get_json(
            &c,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com",
            "application/json",
        )
        .await;
        (code == 404).then_some(())
    })
    .await
    .expect("CRD removed after cleanup");
    // Discovery follows the CRD's removal (as kube-apiserver's, not in the same instant).
    eventually("group version gone from discovery", || async {
        let (code, _) = get_json(&c, "/apis/example.com/v1", "application/json").await;
        (code == 404).then_some(())
    })
    .await
    .expect("group version gone from discovery");
    let (code, groups) = get_json(&c, "/apis", "application/json").await;
    assert_eq!(code, 200);
    assert!(!groups.to_string().contains("example.com"), "{groups}");
    // Recreating the CRD shows no leftover objects.
    crd_api
        .create(&PostParams::default(), &crd)
        .await
        .expect("recreate CRD");
    let list = api.list(&ListParams::default()).await.expect("list");
    assert!(list.items.is_empty(), "objects were deleted with the CRD");
    c.stop().await;
}

#[tokio::test]
async fn every_recorded_exchange_replays_with_the_same_status_code_and_kind() {
    let Some(dir) = replays_dir() else { return };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("replay dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 8,
        "expected the recorded exchanges in {}",
        dir.display()
    );
    for file in files {
        let c = TestCluster::start().await.expect("cluster starts");
        let exchanges: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("JSON");
        for (i, ex) in exchanges.iter().enumerate() {
            let method = ex["request_method"].as_str().expect("method");
            let url = ex["request_url"].as_str().expect("url").replace("?&", "?");
            let case = format!("{} exchange {i}: {method} {url}", file.display());
            let mut req = http::Request::builder().method(method).uri(&url);
            if let Some(ct) = ex["request_content_type"].as_str() {
                req = req.header("content-type", ct);
            }
            let body = ex["request_body"]
                .as_str()
                .unwrap_or("")
                .as_bytes()
                .to_vec();
            let want_code = ex["response_status_code"].as_u64().expect("code") as u16;
            if url.contains("watch=") {
                // A watch stays open: compare the status line, then hang up.
                let resp = within(
                    &format!("{case}: watch response head"),
                    c.client.send(
                        req.body(body)
                            .expect("request")
                            .map(kube::client::Body::from),
                    ),
                )
                .await
                .expect("sent");
                assert_eq!(resp.status().as_u16(), want_code, "{case}");
                continue;
            }
            let (code, got) = raw(&c, req.body(body).expect("request")).await;
            assert_eq!(code, want_code, "{case}: {got}");
            let want: Value = serde_json::from_str(ex["response_body"].as_str().unwrap_or("null"))
                .unwrap_or(Value::Null);
            assert_eq!(got["kind"], want["kind"], "{case}");
        }
        c.stop().await;
    }
}

#[tokio::test]
async fn custom_resource_scale_subresource_reads_and_writes_the_declared_paths() {
    let c = TestCluster::start().await.expect("cluster starts");
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "pools.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "pools", "kind": "Pool"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {
                        "replicas": {"type": "integer"}, "selector": {"type": "string"}}}}}}}]}});
    let post = |path: &str, body: &Value| {
        http::Request::post(path)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).expect("json"))
            .expect("request")
    };
    let (code, body) = raw(
        &c,
        post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            &crd,
        ),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let pool = json!({"apiVersion": "example.com/v1", "kind": "Pool",
        "metadata": {"name": "p"}, "spec": {"replicas": 2}});
    let (code, body) = raw(
        &c,
        post("/apis/example.com/v1/namespaces/default/pools", &pool),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let (code, scale) = get_json(
        &c,
        "/apis/example.com/v1/namespaces/default/pools/p/scale",
        "application/json",
    )
    .await;
    assert_eq!(code, 200, "{scale}");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 2);
    let (code, body) = raw(
        &c,
        http::Request::patch("/apis/example.com/v1/namespaces/default/pools/p/scale")
            .header("content-type", "application/merge-patch+json")
            .body(br#"{"spec":{"replicas":7}}"#.to_vec())
            .expect("request"),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (_, obj) = get_json(
        &c,
        "/apis/example.com/v1/namespaces/default/pools/p",
        "application/json",
    )
    .await;
    assert_eq!(obj["spec"]["replicas"], 7, "{obj}");
    c.stop().await;
}

#[tokio::test]
async fn stored_crds_are_served_again_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let c = TestCluster::start_in(dir.path())
        .await
        .expect("cluster starts");
    let post = |path: &str, body: Value| {
        http::Request::post(path)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).expect("json"))
            .expect("request")
    };
    let (code, body) = raw(
        &c,
        post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            gadget_crd(),
        ),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = raw(
        &c,
        post(
            "/apis/example.com/v1/namespaces/default/gadgets",
            json!({"apiVersion": "example.com/v1", "kind": "Gadget",
                   "metadata": {"name": "kept"}, "spec": {"size": 3}}),
        ),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let c = c.restart().await.expect("restarts");
    let (code, obj) = get_json(
        &c,
        "/apis/example.com/v1/namespaces/default/gadgets/kept",
        "application/json",
    )
    .await;
    assert_eq!(code, 200, "{obj}");
    assert_eq!(obj["spec"], json!({"size": 3, "mode": "fast"}));
    c.stop().await;
}

#[tokio::test]
async fn pods_run_as_a_service_account_that_must_exist_and_get_its_token_volume() {
    let c = TestCluster::start().await.expect("start");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    }))
    .expect("pod");
    let created = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect("create");
    let spec = created.spec.expect("spec");
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    let volume = spec
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.name.starts_with("kube-api-access-"))
        .expect("the projected token volume");
    let sources = volume.projected.and_then(|p| p.sources).unwrap_or_default();
    assert_eq!(sources.len(), 3, "token, CA and namespace");
    let mount = spec.containers[0]
        .volume_mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.name == volume.name)
        .expect("mounted in the container");
    assert_eq!(
        mount.mount_path,
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
    assert_eq!(mount.read_only, Some(true));

    let no_automount: Pod = serde_json::from_value(json!({
        "metadata": {"name": "quiet"},
        "spec": {"automountServiceAccountToken": false, "containers": [{"name": "c", "image": "nginx"}]}
    }))
    .expect("pod");
    let created = pods
        .create(&PostParams::default(), &no_automount)
        .await
        .expect("create");
    assert!(
        created
            .spec
            .and_then(|s| s.volumes)
            .unwrap_or_default()
            .is_empty()
    );

    let missing: Pod = serde_json::from_value(json!({
        "metadata": {"name": "ghost"},
        "spec": {"serviceAccountName": "nobody", "containers": [{"name": "c", "image": "nginx"}]}
    }))
    .expect("pod");
    let err = pods
        .create(&PostParams::default(), &missing)
        .await
        .expect_err("a missing service account is refused");
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 403);
            assert_eq!(
                s.message,
                "pods \"ghost\" is forbidden: error looking up service account default/nobody: serviceaccount \"nobody\" not found"
            );
        }
        other => panic!("unexpected error {other}"),
    }
    c.stop().await;
}
