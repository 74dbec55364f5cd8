//! The real `skiff` binary as a process: clean stop on SIGTERM, durability across SIGTERM and
//! SIGKILL, the data-directory lock, and port 0.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams, WatchParams};

use crate::support::{EXIT_TIMEOUT, Skiff, client, node_ready, rv_number, wait_for, within};

/// Bound for single API calls made by these tests.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound for one `skiff migrate` run (a hang guard, not a timing target).
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(120);

fn configmap(name: &str, data: BTreeMap<String, String>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

/// Every ConfigMap in `maps` by name, with its resourceVersion.
async fn names_and_versions(maps: &Api<ConfigMap>) -> BTreeMap<String, String> {
    within(
        CALL_TIMEOUT,
        "listing ConfigMaps hangs",
        maps.list(&ListParams::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("listing ConfigMaps: {e}"))
    .items
    .into_iter()
    .map(|m| {
        (
            m.metadata.name.unwrap_or_default(),
            m.metadata.resource_version.unwrap_or_default(),
        )
    })
    .collect()
}

/// Runs `skiff migrate --from FROM --to TO` to completion, killing it and failing if it takes
/// longer than [`MIGRATE_TIMEOUT`].
async fn skiff_migrate(from: &str, to: &str) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_skiff"));
    cmd.args(["migrate", "--from", from, "--to", to])
        .kill_on_drop(true);
    within(MIGRATE_TIMEOUT, "skiff migrate hangs", cmd.output())
        .await
        .expect("run skiff migrate")
}

fn namespace(name: &str) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn create_namespace(client: &kube::Client, name: &str) -> Namespace {
    let api: Api<Namespace> = Api::all(client.clone());
    within(
        CALL_TIMEOUT,
        "creating a namespace hangs",
        api.create(&PostParams::default(), &namespace(name)),
    )
    .await
    .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"))
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_restart_serves_everything_unchanged() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (mut skiff, ready) = Skiff::start(temp.path()).await;
    let c = client(&ready.kubeconfig).await;

    create_namespace(&c, "durable").await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "durable");
    let mut created = Vec::new();
    for i in 0..5 {
        let data: BTreeMap<String, String> = [
            ("index".to_string(), i.to_string()),
            (
                "text".to_string(),
                format!("value of {i} with unicode ✓ and \"quotes\"\nand a newline"),
            ),
        ]
        .into();
        let cm = within(
            CALL_TIMEOUT,
            "creating a ConfigMap hangs",
            cms.create(&PostParams::default(), &configmap(&format!("cm-{i}"), data)),
        )
        .await
        .unwrap_or_else(|e| panic!("creating cm-{i}: {e}"));
        assert_eq!(cm.metadata.namespace.as_deref(), Some("durable"));
        created.push(cm);
    }
    // Update one so that not every object is at its creation version.
    let mut updated = created[2].clone();
    updated
        .data
        .get_or_insert_with(BTreeMap::new)
        .insert("updated".into(), "yes".into());
    created[2] = within(
        CALL_TIMEOUT,
        "replacing a ConfigMap hangs",
        cms.replace("cm-2", &PostParams::default(), &updated),
    )
    .await
    .unwrap_or_else(|e| panic!("replacing cm-2: {e}"));

    let ns_api: Api<Namespace> = Api::all(c.clone());
    let ns_before = within(
        CALL_TIMEOUT,
        "getting a namespace hangs",
        ns_api.get("durable"),
    )
    .await
    .expect("get namespace durable");
    let max_rv = created
        .iter()
        .map(|cm| rv_number("created ConfigMap", cm.metadata.resource_version.as_ref()))
        .chain([rv_number(
            "namespace durable",
            ns_before.metadata.resource_version.as_ref(),
        )])
        .max()
        .expect("objects were created");

    skiff.stop().await;
    drop(c);

    let (mut skiff, ready) = Skiff::start(temp.path()).await;
    let c = client(&ready.kubeconfig).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "durable");
    for before in &created {
        let name = before
            .metadata
            .name
            .as_deref()
            .expect("created objects have names");
        let after = within(
            CALL_TIMEOUT,
            "getting a ConfigMap after restart hangs",
            cms.get(name),
        )
        .await
        .unwrap_or_else(|e| panic!("{name} is gone after a clean restart: {e}"));
        assert_eq!(
            after.metadata.resource_version, before.metadata.resource_version,
            "{name}: resourceVersion changed across a clean restart"
        );
        assert_eq!(
            after.metadata.uid, before.metadata.uid,
            "{name}: uid changed across a clean restart"
        );
        assert_eq!(
            after.data, before.data,
            "{name}: data changed across a clean restart"
        );
        assert_eq!(
            serde_json::to_value(&after).expect("serialize"),
            serde_json::to_value(before).expect("serialize"),
            "{name}: the object is not served exactly as it was before the restart"
        );
    }
    let ns_api: Api<Namespace> = Api::all(c.clone());
    let ns_after = within(
        CALL_TIMEOUT,
        "getting a namespace after restart hangs",
        ns_api.get("durable"),
    )
    .await
    .expect("namespace durable after restart");
    assert_eq!(
        ns_after.metadata.uid, ns_before.metadata.uid,
        "namespace uid changed across a restart"
    );
    assert_eq!(
        ns_after.metadata.resource_version, ns_before.metadata.resource_version,
        "namespace resourceVersion changed across a restart"
    );

    let list = within(
        CALL_TIMEOUT,
        "listing after restart hangs",
        cms.list(&ListParams::default()),
    )
    .await
    .expect("list after restart");
    let names: HashSet<_> = list
        .items
        .iter()
        .filter_map(|cm| cm.metadata.name.clone())
        .collect();
    for i in 0..5 {
        assert!(
            names.contains(&format!("cm-{i}")),
            "cm-{i} missing from the list after restart: {names:?}"
        );
    }
    let list_rv = rv_number(
        "the ConfigMap list",
        list.metadata.resource_version.as_ref(),
    );
    assert!(
        list_rv >= max_rv,
        "list resourceVersion {list_rv} after restart is behind the last write {max_rv} before it"
    );

    let fresh = within(
        CALL_TIMEOUT,
        "creating after restart hangs",
        cms.create(
            &PostParams::default(),
            &configmap("after-restart", BTreeMap::new()),
        ),
    )
    .await
    .expect("a write after the restart");
    let fresh_rv = rv_number(
        "the ConfigMap created after restart",
        fresh.metadata.resource_version.as_ref(),
    );
    assert!(
        fresh_rv > max_rv,
        "a write after restart got resourceVersion {fresh_rv}, not larger than {max_rv} from before the restart \
         (the revision counter restarted?)"
    );

    skiff.stop().await;
}

#[tokio::test]
async fn sigterm_stops_cleanly_while_a_watch_is_open() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (mut skiff, ready) = Skiff::start(temp.path()).await;
    let c = client(&ready.kubeconfig).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let list = within(
        CALL_TIMEOUT,
        "listing hangs",
        cms.list(&ListParams::default()),
    )
    .await
    .expect("list");
    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    let stream = within(
        CALL_TIMEOUT,
        "opening a watch hangs",
        cms.watch(&WatchParams::default().timeout(290), &rv),
    )
    .await
    .expect("open a watch");
    let mut stream = stream.boxed();
    within(
        CALL_TIMEOUT,
        "creating a ConfigMap hangs",
        cms.create(&PostParams::default(), &configmap("seen", BTreeMap::new())),
    )
    .await
    .expect("create");
    let ev = within(
        CALL_TIMEOUT,
        "the open watch did not deliver an ADDED event",
        stream.next(),
    )
    .await;
    assert!(
        ev.is_some(),
        "the watch ended before delivering the ADDED event"
    );

    // The watch connection stays open while skiff is told to stop: shutdown must not wait on it.
    skiff.signal(libc::SIGTERM);
    let st = skiff
        .wait_exit(EXIT_TIMEOUT, "SIGTERM with an open watch does not stop skiff (graceful shutdown waits for watch connections?)")
        .await;
    assert_eq!(
        st.code(),
        Some(0),
        "SIGTERM must stop skiff with exit code 0, got {st:?}\nstderr:\n{}",
        skiff.stderr()
    );
    // The watch then ends (or errors) instead of hanging.
    within(
        CALL_TIMEOUT,
        "the watch stream neither ended nor failed after skiff exited",
        async {
            while let Some(item) = stream.next().await {
                if item.is_err() {
                    break;
                }
            }
        },
    )
    .await;
}

/// The deterministic content of a burst ConfigMap: large enough that a torn write shows.
fn burst_data(name: &str) -> BTreeMap<String, String> {
    [
        ("name".to_string(), name.to_string()),
        ("payload".to_string(), format!("{name};").repeat(200)),
    ]
    .into()
}

#[tokio::test]
async fn kill_9_during_a_write_burst_keeps_every_acknowledged_write() {
    const WRITERS: usize = 8;
    const ACKS_BEFORE_KILL: usize = 200;

    let temp = tempfile::tempdir().expect("temp dir");
    let (mut skiff, ready) = Skiff::start(temp.path()).await;
    let c = client(&ready.kubeconfig).await;
    create_namespace(&c, "burst").await;

    // (name, resourceVersion, uid) of every create that returned success.
    let acked: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "burst");
        let (acked, count, stop) = (acked.clone(), count.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut errors = 0usize;
            for i in 0usize.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let name = format!("w{w}-{i}");
                let res = tokio::time::timeout(
                    CALL_TIMEOUT,
                    cms.create(&PostParams::default(), &configmap(&name, burst_data(&name))),
                )
                .await;
                match res {
                    Ok(Ok(cm)) => {
                        let rv = cm.metadata.resource_version.clone().unwrap_or_default();
                        let uid = cm.metadata.uid.clone().unwrap_or_default();
                        acked.lock().expect("acked lock").push((name, rv, uid));
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    // Once skiff is killed every request fails; stop after a few failures.
                    _ => {
                        errors += 1;
                        if errors >= 3 {
                            break;
                        }
                    }
                }
            }
        }));
    }

    within(
        Duration::from_secs(180),
        "the write burst did not reach 200 acknowledged creates (server stalls or rejects concurrent creates?)",
        async {
            while count.load(Ordering::SeqCst) < ACKS_BEFORE_KILL {
                assert!(!writers.iter().all(|w| w.is_finished()), "every writer gave up before 200 creates were acknowledged");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        },
    )
    .await;
    // Writes are still in flight: the writers keep going until their requests fail.
    let st = skiff.kill9().await;
    assert_eq!(
        st.signal(),
        Some(libc::SIGKILL),
        "skiff should have died of SIGKILL, got {st:?}"
    );
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        within(
            Duration::from_secs(60),
            "a writer did not finish after skiff was killed (client request hangs?)",
            w,
        )
        .await
        .expect("writer task");
    }
    drop(c);
    let acked = acked.lock().expect("acked lock").clone();
    assert!(
        acked.len() >= ACKS_BEFORE_KILL,
        "only {} acknowledged creates",
        acked.len()
    );

    let rvs: HashSet<&str> = acked.iter().map(|(_, rv, _)| rv.as_str()).collect();
    assert_eq!(
        rvs.len(),
        acked.len(),
        "two acknowledged creates got the same resourceVersion"
    );
    let max_acked = acked
        .iter()
        .map(|(n, rv, _)| rv_number(n, Some(rv)))
        .max()
        .expect("acked writes");

    let (mut skiff, ready) = Skiff::start(temp.path()).await;
    let c = client(&ready.kubeconfig).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "burst");

    // Listing decodes every object (a typed list fails on any half-written object).
    let list = within(
        CALL_TIMEOUT,
        "listing after SIGKILL and restart hangs",
        cms.list(&ListParams::default()),
    )
    .await
    .unwrap_or_else(|e| {
        panic!("listing after SIGKILL and restart failed (a corrupt object?): {e}")
    });
    let listed: HashMap<String, &ConfigMap> = list
        .items
        .iter()
        .map(|cm| {
            (
                cm.metadata.name.clone().expect("listed objects have names"),
                cm,
            )
        })
        .collect();
    assert_eq!(
        listed.len(),
        list.items.len(),
        "the list after restart has duplicate names"
    );
    // The burst's own objects (`w<writer>-<n>`); the namespace also holds what controllers
    // put in every namespace, such as kube-root-ca.crt.
    for cm in list.items.iter().filter(|cm| {
        cm.metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with('w'))
    }) {
        let name = cm.metadata.name.as_deref().unwrap_or_default();
        assert_eq!(
            cm.data.as_ref(),
            Some(&burst_data(name)),
            "{name}: data is not intact after SIGKILL"
        );
        rv_number(name, cm.metadata.resource_version.as_ref());
    }

    eprintln!(
        "kill -9 burst: {} creates acknowledged before the kill, {} ConfigMaps listed after restart",
        acked.len(),
        list.items.len()
    );
    let mut missing = Vec::new();
    for (name, rv, uid) in &acked {
        let Some(cm) = listed.get(name) else {
            missing.push(name.clone());
            continue;
        };
        assert_eq!(
            cm.metadata.resource_version.as_ref(),
            Some(rv),
            "{name}: resourceVersion differs from the acknowledged one"
        );
        assert_eq!(
            cm.metadata.uid.as_ref(),
            Some(uid),
            "{name}: uid differs from the acknowledged one"
        );
        let got = within(
            CALL_TIMEOUT,
            "getting a ConfigMap after restart hangs",
            cms.get(name),
        )
        .await
        .unwrap_or_else(|e| {
            panic!("{name} was acknowledged but GET fails after SIGKILL and restart: {e}")
        });
        assert_eq!(
            got.metadata.resource_version.as_ref(),
            Some(rv),
            "{name}: GET returns another resourceVersion"
        );
        assert_eq!(
            got.data,
            Some(burst_data(name)),
            "{name}: GET returns torn data"
        );
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged creates are lost after SIGKILL (commit acknowledged before it was durable?): {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(20)]
    );

    let fresh = within(
        CALL_TIMEOUT,
        "creating after restart hangs",
        cms.create(
            &PostParams::default(),
            &configmap("after-kill", burst_data("after-kill")),
        ),
    )
    .await
    .expect("a write after the restart");
    let fresh_rv = rv_number(
        "the ConfigMap created after restart",
        fresh.metadata.resource_version.as_ref(),
    );
    assert!(
        fresh_rv > max_acked,
        "a write after SIGKILL and restart got resourceVersion {fresh_rv}, not larger than the acknowledged {max_acked}"
    );
    skiff.stop().await;
}

#[tokio::test]
async fn a_second_skiff_on_the_same_data_directory_fails_with_a_clear_message() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (mut first, ready) = Skiff::start(temp.path()).await;
    let kubeconfig_before = std::fs::read_to_string(&ready.kubeconfig).expect("read kubeconfig");

    let mut second = Skiff::spawn(temp.path());
    let st = second
        .wait_exit(EXIT_TIMEOUT, "a second skiff on a data directory in use neither failed nor exited (the directory lock is not enforced?)")
        .await;
    assert!(
        !st.success(),
        "the second skiff on the same data directory must fail, got {st:?}\nstdout:\n{}",
        second.stdout()
    );
    let stderr = second.stderr();
    assert!(
        stderr.contains("in use"),
        "stderr of the second skiff should say the data directory is in use, got:\n{stderr}"
    );
    let dir = second.data_dir().display().to_string();
    assert!(
        stderr.contains(&dir),
        "stderr of the second skiff should name the data directory {dir}, got:\n{stderr}"
    );
    assert!(
        !second.stdout().contains("skiff is ready"),
        "the second skiff claimed to be ready:\n{}",
        second.stdout()
    );

    // The first one is unaffected, and its kubeconfig was not overwritten.
    let kubeconfig_after = std::fs::read_to_string(&ready.kubeconfig).expect("read kubeconfig");
    assert_eq!(
        kubeconfig_after, kubeconfig_before,
        "the failed second skiff rewrote DIR/kubeconfig"
    );
    let c = client(&ready.kubeconfig).await;
    let ns: Api<Namespace> = Api::all(c.clone());
    within(
        CALL_TIMEOUT,
        "the first skiff stopped answering after the second one failed",
        ns.get("default"),
    )
    .await
    .expect("the first skiff still serves reads");
    let cms: Api<ConfigMap> = Api::namespaced(c, "default");
    within(
        CALL_TIMEOUT,
        "the first skiff stopped answering writes",
        cms.create(
            &PostParams::default(),
            &configmap("still-serving", BTreeMap::new()),
        ),
    )
    .await
    .expect("the first skiff still serves writes");
    assert!(first.pid() > 0);
    first.stop().await;
}

#[tokio::test]
async fn port_zero_picks_a_free_port_and_the_kubeconfig_names_it() {
    let temp_a = tempfile::tempdir().expect("temp dir");
    let temp_b = tempfile::tempdir().expect("temp dir");
    let (mut a, ready_a) = Skiff::start(temp_a.path()).await;
    let (mut b, ready_b) = Skiff::start(temp_b.path()).await;

    for (ready, dir) in [(&ready_a, temp_a.path()), (&ready_b, temp_b.path())] {
        assert_eq!(
            ready.kubeconfig,
            dir.join("kubeconfig"),
            "the ready output should point at DIR/kubeconfig"
        );
        let url = http::Uri::try_from(ready.server_url.as_str()).unwrap_or_else(|e| {
            panic!(
                "the ready line's URL {:?} does not parse: {e}",
                ready.server_url
            )
        });
        assert_eq!(url.scheme_str(), Some("https"));
        assert_eq!(url.host(), Some("127.0.0.1"));
        let port = url
            .port_u16()
            .unwrap_or_else(|| panic!("the ready URL {} names no port", ready.server_url));
        assert_ne!(
            port, 0,
            "the ready URL names port 0 instead of the bound port"
        );

        let kc =
            kube::config::Kubeconfig::read_from(&ready.kubeconfig).expect("the kubeconfig parses");
        assert_eq!(
            kc.current_context.as_deref(),
            Some("skiff"),
            "current-context should be skiff"
        );
        let ctx = kc
            .contexts
            .iter()
            .find(|c| c.name == "skiff")
            .expect("a context named skiff");
        let cluster_name = &ctx.context.as_ref().expect("context body").cluster;
        let cluster = kc
            .clusters
            .iter()
            .find(|c| &c.name == cluster_name)
            .and_then(|c| c.cluster.as_ref())
            .expect("the skiff context's cluster");
        assert_eq!(
            cluster.server.as_deref(),
            Some(ready.server_url.as_str()),
            "the kubeconfig server differs from the ready line"
        );
        assert!(
            cluster.certificate_authority_data.is_some() || cluster.certificate_authority.is_some(),
            "the kubeconfig has no CA"
        );

        // The port really serves the API, over TLS verified against the kubeconfig's CA.
        let c = client(&ready.kubeconfig).await;
        let ns: Api<Namespace> = Api::all(c);
        let list = within(
            CALL_TIMEOUT,
            "the API on the picked port does not answer",
            ns.list(&ListParams::default()),
        )
        .await
        .unwrap_or_else(|e| panic!("listing namespaces at {}: {e}", ready.server_url));
        assert!(
            list.items
                .iter()
                .any(|n| n.metadata.name.as_deref() == Some("default"))
        );
    }
    assert_ne!(
        ready_a.server_url, ready_b.server_url,
        "two skiffs on port 0 got the same port"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn migrating_a_stopped_sqlite_cluster_to_etcd_keeps_every_object_and_resource_version() {
    let Some(etcd) = testkit::etcd::TestEtcd::start() else {
        return;
    };
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("data");
    let mut skiff = Skiff::spawn_with(
        &dir,
        &[
            "--listen",
            "127.0.0.1:0",
            "--store",
            "sqlite",
            "--nodes",
            "0",
        ],
    );
    let ready = skiff.ready().await;
    let c = client(&ready.kubeconfig).await;
    let maps: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    for i in 0..20 {
        let cm = configmap(
            &format!("m{i:02}"),
            BTreeMap::from([("i".to_string(), i.to_string())]),
        );
        within(
            CALL_TIMEOUT,
            "create",
            maps.create(&PostParams::default(), &cm),
        )
        .await
        .expect("create a ConfigMap");
    }
    for i in (0..20).step_by(4) {
        within(
            CALL_TIMEOUT,
            "delete",
            maps.delete(&format!("m{i:02}"), &Default::default()),
        )
        .await
        .expect("delete a ConfigMap");
    }
    let before = names_and_versions(&maps).await;
    assert_eq!(before.keys().filter(|k| k.starts_with('m')).count(), 15);
    skiff.stop().await;

    let to = format!("etcd://{}", etcd.endpoint());
    let from = format!("sqlite:{}", dir.display());
    let out = skiff_migrate(&from, &to).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "skiff migrate: {stdout}{stderr}\netcd log:\n{}",
        etcd.log()
    );
    assert!(
        stdout.contains("resourceVersions kept"),
        "{stdout}\nstderr:\n{stderr}"
    );

    let mut skiff = Skiff::spawn_with(
        &dir,
        &["--listen", "127.0.0.1:0", "--store", &to, "--nodes", "0"],
    );
    let ready = skiff.ready().await;
    let c = client(&ready.kubeconfig).await;
    let maps: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let after = names_and_versions(&maps).await;
    assert_eq!(after, before, "every object with its resourceVersion");
    let newest = before
        .values()
        .map(|rv| rv_number("rv", Some(rv)))
        .max()
        .unwrap_or(0);
    let created = maps
        .create(&PostParams::default(), &configmap("after", BTreeMap::new()))
        .await
        .expect("create on etcd");
    assert!(rv_number("rv", created.metadata.resource_version.as_ref()) > newest);
    skiff.stop().await;

    // Into a store that is no longer empty: refused.
    let out = skiff_migrate(&from, &to).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");
}

#[tokio::test]
async fn two_api_servers_on_one_etcd_share_credentials_objects_and_watches() {
    let Some(etcd) = testkit::etcd::TestEtcd::start() else {
        return;
    };
    let store = format!("etcd://{}", etcd.endpoint());
    let temp = tempfile::tempdir().expect("temp dir");
    let mut first = Skiff::spawn_with(
        &temp.path().join("a"),
        &["--listen", "127.0.0.1:0", "--store", &store, "--nodes", "0"],
    );
    let a = first.ready().await;
    let mut second = Skiff::spawn_with(
        &temp.path().join("b"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--store",
            &store,
            "--role",
            "apiserver",
        ],
    );
    let b = second.ready().await;
    // The second server took the cluster's CA from etcd: the first server's kubeconfig,
    // pointed at the second server, works as it is.
    let kubeconfig_a = std::fs::read_to_string(&a.kubeconfig).expect("read kubeconfig a");
    let pointed = temp.path().join("a-at-b");
    std::fs::write(&pointed, kubeconfig_a.replace(&a.server_url, &b.server_url)).expect("write");
    let on_a = client(&a.kubeconfig).await;
    let on_b = client(&pointed).await;
    let maps_a: Api<ConfigMap> = Api::namespaced(on_a.clone(), "default");
    let maps_b: Api<ConfigMap> = Api::namespaced(on_b.clone(), "default");
    // A watch through the second server sees a write through the first.
    let mut watch = maps_b
        .watch(&WatchParams::default(), "0")
        .await
        .expect("watch through b")
        .boxed();
    let created = within(
        CALL_TIMEOUT,
        "create through a",
        maps_a.create(
            &PostParams::default(),
            &configmap("shared", BTreeMap::new()),
        ),
    )
    .await
    .expect("create through a");
    let seen = within(CALL_TIMEOUT, "the watch through b", async {
        while let Some(ev) = watch.next().await {
            if let Ok(kube::api::WatchEvent::Added(cm)) = ev
                && cm.metadata.name.as_deref() == Some("shared")
            {
                return cm;
            }
        }
        panic!("the watch ended");
    })
    .await;
    assert_eq!(
        seen.metadata.resource_version,
        created.metadata.resource_version
    );
    // One resourceVersion sequence: a write through b comes after it.
    let later = within(
        CALL_TIMEOUT,
        "create through b",
        maps_b.create(&PostParams::default(), &configmap("later", BTreeMap::new())),
    )
    .await
    .expect("create through b");
    assert!(
        rv_number("b", later.metadata.resource_version.as_ref())
            > rv_number("a", created.metadata.resource_version.as_ref())
    );
    let names: HashSet<String> = maps_a
        .list(&ListParams::default())
        .await
        .expect("list through a")
        .items
        .into_iter()
        .filter_map(|m| m.metadata.name)
        .collect();
    assert!(
        names.contains("later") && names.contains("shared"),
        "{names:?}"
    );
    second.stop().await;
    first.stop().await;
}

/// Two API-only servers on one store: the first leads the controllers, the second stands
/// by. A `web` Deployment of `replicas` is created through the standby and its pods made by
/// the leader's controllers.
struct LeaderAndStandby {
    leader: Skiff,
    standby: Skiff,
    on_standby: kube::Client,
    /// The standby's ready line (its kubeconfig).
    standby_ready: crate::support::Ready,
    /// Who held kube-controller-manager before the standby started.
    first_holder: String,
}

async fn leader_and_standby(dir: &std::path::Path, store: &str, replicas: i32) -> LeaderAndStandby {
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--store",
        store,
        "--nodes",
        "0",
        "--speed",
        "10",
    ];
    let mut leader = Skiff::spawn_with(&dir.join("a"), &args);
    let a = leader.ready().await;
    let leases: Api<Lease> = Api::namespaced(client(&a.kubeconfig).await, "kube-system");
    let first_holder = lease_holder(&leases, "kube-controller-manager").await;
    let mut standby = Skiff::spawn_with(&dir.join("b"), &args);
    let b = standby.ready().await;
    let on_standby = client(&b.kubeconfig).await;
    Api::<Deployment>::namespaced(on_standby.clone(), "default")
        .create(&PostParams::default(), &web_deployment(replicas))
        .await
        .expect("create the deployment");
    let pods: Api<Pod> = Api::namespaced(on_standby.clone(), "default");
    wait_for(
        &format!("the leader's controllers to create {replicas} pods"),
        Duration::from_secs(60),
        || web_pods_are(&pods, replicas as usize),
    )
    .await;
    LeaderAndStandby {
        leader,
        standby,
        on_standby,
        standby_ready: b,
        first_holder,
    }
}

#[tokio::test]
async fn a_standby_server_takes_over_the_controllers_when_the_leader_is_killed() {
    let Some(etcd) = testkit::etcd::TestEtcd::start() else {
        return;
    };
    let temp = tempfile::tempdir().expect("temp dir");
    let pair = leader_and_standby(temp.path(), &format!("etcd://{}", etcd.endpoint()), 2).await;
    let (mut leader, mut standby, on_b) = (pair.leader, pair.standby, pair.on_standby);
    let first_holder = pair.first_holder;
    let deployments: Api<Deployment> = Api::namespaced(on_b.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(on_b.clone(), "default");
    let count = |n: usize| web_pods_are(&pods, n);
    // The leader dies without releasing its leases.
    leader.kill9().await;
    scale_web(&deployments, 4)
        .await
        .expect("scale through the standby");
    wait_for(
        "the standby's controllers to create 4 pods",
        Duration::from_secs(60),
        || count(4),
    )
    .await;
    let leases: Api<Lease> = Api::namespaced(on_b.clone(), "kube-system");
    let lease = leases
        .get("kube-controller-manager")
        .await
        .expect("the lease");
    let spec = lease.spec.expect("a spec");
    assert_ne!(
        spec.holder_identity,
        Some(first_holder),
        "the standby holds the lease"
    );
    assert_eq!(spec.lease_transitions, Some(1));
    standby.stop().await;
}

#[tokio::test]
async fn an_etcd_member_and_the_leading_server_die_mid_write_and_the_cluster_carries_on() {
    let Some(mut etcd) = testkit::etcd::TestEtcdCluster::start(3) else {
        return;
    };
    let temp = tempfile::tempdir().expect("temp dir");
    let store = format!("etcd://{}", etcd.endpoints().join(","));
    let pair = leader_and_standby(temp.path(), &store, 3).await;
    let (mut leader, mut survivor, on_b) = (pair.leader, pair.standby, pair.on_standby);
    let (first_holder, b) = (pair.first_holder, pair.standby_ready);
    let deployments: Api<Deployment> = Api::namespaced(on_b.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(on_b.clone(), "default");
    let count = |n: usize| web_pods_are(&pods, n);

    // Writes through the survivor while an etcd member and the leading server die.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let maps: Api<ConfigMap> = Api::namespaced(on_b.clone(), "default");
        let acknowledged = acknowledged.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let name = format!("w{i:05}");
                i += 1;
                let cm = configmap(&name, BTreeMap::new());
                let params = PostParams::default();
                let create = maps.create(&params, &cm);
                match tokio::time::timeout(Duration::from_secs(10), create).await {
                    Ok(Ok(_)) => {
                        if let Ok(mut a) = acknowledged.lock() {
                            a.push(name);
                        }
                    }
                    // Refused or timed out while the cluster recovers: back off, do not spin.
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        })
    };
    let acknowledged_count = || acknowledged.lock().map(|a| a.len()).unwrap_or_default();
    wait_for(
        "10 acknowledged writes before the failures",
        Duration::from_secs(60),
        || async { (acknowledged_count() >= 10).then_some(()) },
    )
    .await;
    etcd.kill(0);
    leader.kill9().await;
    let at_failure = acknowledged_count();
    wait_for(
        "10 more acknowledged writes after the failures",
        Duration::from_secs(60),
        || async { (acknowledged_count() >= at_failure + 10).then_some(()) },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    writer.await.expect("the writer");
    let acknowledged = acknowledged.lock().map(|a| a.clone()).unwrap_or_default();

    // Every acknowledged write is there, through the surviving server.
    let maps: Api<ConfigMap> = Api::namespaced(on_b.clone(), "default");
    let listed: HashSet<String> = wait_for(
        "a list after the failures",
        Duration::from_secs(60),
        || async { maps.list(&ListParams::default()).await.ok() },
    )
    .await
    .items
    .into_iter()
    .filter_map(|m| m.metadata.name)
    .collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|n| !listed.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged writes lost: {missing:?}\n{}",
        etcd.logs()
    );
    // The same through kubectl, when it is installed.
    if let Some(bin) = crate::kubectl::kubectl_on_path() {
        let k = crate::kubectl::Kubectl::new(bin, &b);
        let out = k.ok(&["get", "configmaps", "-o", "name"]).await;
        for name in &acknowledged {
            assert!(
                out.contains(&format!("configmap/{name}\n")),
                "kubectl misses {name}"
            );
        }
    } else {
        println!("note: kubectl not installed; checked through kube-rs only");
    }

    // The standby's controllers take over and the workload converges.
    wait_for(
        "the scale to be accepted",
        Duration::from_secs(60),
        || async { scale_web(&deployments, 5).await.ok() },
    )
    .await;
    wait_for(
        "5 pods from the new leader",
        Duration::from_secs(90),
        || count(5),
    )
    .await;
    let leases: Api<Lease> = Api::namespaced(on_b.clone(), "kube-system");
    assert_ne!(
        lease_holder(&leases, "kube-controller-manager").await,
        first_holder,
        "the survivor holds the lease"
    );
    survivor.stop().await;
}

#[tokio::test]
async fn a_standby_server_takes_over_the_simulated_nodes_and_aws_when_the_leader_is_killed() {
    let Some(etcd) = testkit::etcd::TestEtcd::start() else {
        return;
    };
    let store = format!("etcd://{}", etcd.endpoint());
    let temp = tempfile::tempdir().expect("temp dir");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--store",
        &store,
        "--speed",
        "10",
    ];
    let mut leader = Skiff::spawn_with(&temp.path().join("a"), &args);
    let a = leader.ready().await;
    let on_a = client(&a.kubeconfig).await;
    let ready_nodes = |c: kube::Client| async move {
        let nodes: Api<Node> = Api::all(c);
        let l = nodes.list(&ListParams::default()).await.ok()?.items;
        (l.len() == 2 && l.iter().all(node_ready)).then_some(())
    };
    wait_for("two Ready nodes", Duration::from_secs(120), || {
        ready_nodes(on_a.clone())
    })
    .await;
    let mut standby = Skiff::spawn_with(&temp.path().join("b"), &args);
    let b = standby.ready().await;
    let on_b = client(&b.kubeconfig).await;
    let deployments: Api<Deployment> = Api::namespaced(on_b.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(on_b.clone(), "default");
    let deployment = web_deployment(4);
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("create the deployment");
    let before = wait_for(
        "4 Running pods with VPC addresses",
        Duration::from_secs(120),
        || web_pod_ips_running(&pods, 4),
    )
    .await;
    let leases: Api<Lease> = Api::namespaced(on_b.clone(), "kube-system");
    let first = lease_holder(&leases, "skiff-cloud").await;
    // The leading server (its kubelets, its simulated AWS) dies.
    leader.kill9().await;
    wait_for(
        "the standby to take the data plane",
        Duration::from_secs(120),
        || async { (lease_holder(&leases, "skiff-cloud").await != first).then_some(()) },
    )
    .await;
    // Its kubelets run again on the standby. The nodes' last statuses, posted by the dead
    // leader's kubelets, still say Ready, so first wait until every node heartbeat Lease
    // (kube-node-lease) has a renewTime other than the one it had at the takeover: only the
    // new leader's kubelets renew them. Then the nodes are Ready, the pods keep their
    // addresses, and new pods get other ones.
    let node_leases: Api<Lease> = Api::namespaced(on_b.clone(), "kube-node-lease");
    let at_takeover = wait_for("the node heartbeat Leases", CALL_TIMEOUT, || {
        node_lease_renewals(&node_leases)
    })
    .await;
    assert!(
        !at_takeover.is_empty(),
        "no node heartbeat Leases in kube-node-lease"
    );
    wait_for(
        "the standby's kubelets to renew every node heartbeat Lease",
        Duration::from_secs(60),
        || async {
            let now = node_lease_renewals(&node_leases).await?;
            at_takeover
                .iter()
                .all(|(name, then)| now.get(name).is_some_and(|renewed| renewed != then))
                .then_some(())
        },
    )
    .await;
    wait_for("two Ready nodes again", Duration::from_secs(120), || {
        ready_nodes(on_b.clone())
    })
    .await;
    scale_web(&deployments, 8)
        .await
        .expect("scale through the standby");
    let after = wait_for(
        "8 Running pods with unique addresses",
        Duration::from_secs(120),
        || web_pod_ips_running(&pods, 8),
    )
    .await;
    assert!(
        before.is_subset(&after),
        "the first pods kept their addresses: {before:?} {after:?}"
    );
    standby.stop().await;
}

#[tokio::test]
async fn the_control_plane_runs_split_an_apiserver_and_a_controllers_server() {
    let Some(etcd) = testkit::etcd::TestEtcd::start() else {
        return;
    };
    let store = format!("etcd://{}", etcd.endpoint());
    let temp = tempfile::tempdir().expect("temp dir");
    let mut api_server = Skiff::spawn_with(
        &temp.path().join("api"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--store",
            &store,
            "--role",
            "apiserver",
        ],
    );
    let ready = api_server.ready().await;
    let c = client(&ready.kubeconfig).await;
    let controllers_dir = temp.path().join("controllers");
    let mut controllers = Skiff::spawn_with(
        &controllers_dir,
        &[
            "--store",
            &store,
            "--role",
            "controllers",
            "--nodes",
            "0",
            "--speed",
            "10",
        ],
    );
    let deployments: Api<Deployment> = Api::namespaced(c.clone(), "default");
    let deployment = web_deployment(2);
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("create the deployment through the API server");
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    wait_for(
        "the controllers server to create the pods",
        Duration::from_secs(60),
        || web_pods_are(&pods, 2),
    )
    .await;
    let identity = std::fs::read_to_string(controllers_dir.join("leader-identity"))
        .expect("the controllers server's identity");
    let leases: Api<Lease> = Api::namespaced(c.clone(), "kube-system");
    let holder = lease_holder(&leases, "kube-controller-manager").await;
    assert_eq!(holder, identity.trim());
    assert!(
        controllers.stdout().contains("no API served here"),
        "{}",
        controllers.stdout()
    );
    controllers.stop().await;
    api_server.stop().await;
}

/// A Deployment `web` of `replicas` nginx pods.
fn web_deployment(replicas: i32) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .expect("a deployment")
}

/// Scales the Deployment `web` to `replicas` with a merge patch.
async fn scale_web(deployments: &Api<Deployment>, replicas: i32) -> kube::Result<Deployment> {
    let patch = serde_json::json!({"spec": {"replicas": replicas}});
    deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
}

/// The holder of the Lease `name` once some server holds it.
async fn lease_holder(leases: &Api<Lease>, name: &str) -> String {
    wait_for("a server to lead", Duration::from_secs(60), || async {
        leases
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec?.holder_identity)
    })
    .await
}

/// The node heartbeat Leases in `node_leases` (namespace `kube-node-lease`) by name, with
/// their renewTimes; `None` if the list fails.
async fn node_lease_renewals(
    node_leases: &Api<Lease>,
) -> Option<BTreeMap<String, Option<MicroTime>>> {
    let l = node_leases.list(&ListParams::default()).await.ok()?;
    Some(
        l.items
            .into_iter()
            .map(|l| {
                (
                    l.metadata.name.unwrap_or_default(),
                    l.spec.and_then(|s| s.renew_time),
                )
            })
            .collect(),
    )
}

/// `Some` once exactly `n` pods of the `web` Deployment exist.
async fn web_pods_are(pods: &Api<Pod>, n: usize) -> Option<()> {
    let l = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .ok()?;
    (l.items.len() == n).then_some(())
}

/// `Some` with their addresses once the Running pods of the `web` Deployment have exactly `n`
/// distinct IPs.
async fn web_pod_ips_running(pods: &Api<Pod>, n: usize) -> Option<HashSet<String>> {
    let l = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .ok()?
        .items;
    let ips: HashSet<String> = l
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect();
    (ips.len() == n).then_some(ips)
}
