//! The real kubectl against the real `skiff` binary: version, discovery, namespaces,
//! ConfigMap CRUD with selectors, watch, errors, and namespace deletion.
//! Each test passes with `skipping: kubectl not installed` when kubectl is not on PATH.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::support::{Ready, Skiff, client, within};

/// Bound for one kubectl invocation.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for creating a fixture through kube-rs.
const FIXTURE_TIMEOUT: Duration = Duration::from_secs(30);

/// `kubectl` on PATH, if any.
pub(crate) fn kubectl_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// The result of one kubectl run.
pub(crate) struct Out {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    cmdline: String,
}

impl Out {
    pub(crate) fn describe(&self) -> String {
        format!(
            "`{}` exited {:?}\nstdout:\n{}\nstderr:\n{}",
            self.cmdline, self.code, self.stdout, self.stderr
        )
    }
}

/// kubectl wired to one skiff: its kubeconfig, a private HOME and discovery cache.
pub(crate) struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    home: tempfile::TempDir,
}

impl Kubectl {
    pub(crate) fn new(bin: PathBuf, ready: &Ready) -> Kubectl {
        Kubectl {
            bin,
            kubeconfig: ready.kubeconfig.clone(),
            home: tempfile::tempdir().expect("temp HOME for kubectl"),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .arg("--cache-dir")
            .arg(self.home.path().join("kube-cache"))
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.home.path())
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    fn cmdline(args: &[&str]) -> String {
        format!("kubectl {}", args.join(" "))
    }

    /// Runs kubectl with `args`, bounded by [`KUBECTL_TIMEOUT`].
    pub(crate) async fn run(&self, args: &[&str]) -> Out {
        let cmdline = Self::cmdline(args);
        let child = self
            .command(args)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning `{cmdline}`: {e}"));
        let out = match tokio::time::timeout(KUBECTL_TIMEOUT, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => panic!("running `{cmdline}`: {e}"),
            Err(_) => panic!(
                "`{cmdline}` did not finish within {KUBECTL_TIMEOUT:?} (the server never answers or never ends a response?)"
            ),
        };
        Out {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            cmdline,
        }
    }

    /// Runs kubectl and asserts it succeeds; returns stdout.
    pub(crate) async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert_eq!(out.code, Some(0), "expected success: {}", out.describe());
        out.stdout
    }

    /// Runs kubectl and asserts it fails; returns the output.
    pub(crate) async fn fails(&self, args: &[&str]) -> Out {
        let out = self.run(args).await;
        assert!(
            out.code.is_some() && out.code != Some(0),
            "expected failure: {}",
            out.describe()
        );
        out
    }
}

/// Starts skiff and kubectl for it, or `None` (after printing the skip notice) without kubectl.
async fn setup(dir: &Path) -> Option<(Skiff, Kubectl, Ready)> {
    let Some(bin) = kubectl_on_path() else {
        println!("skipping: kubectl not installed");
        return None;
    };
    let (skiff, ready) = Skiff::start(dir).await;
    let k = Kubectl::new(bin, &ready);
    Some((skiff, k, ready))
}

/// Lines of `-o name` output.
fn names(stdout: &str) -> Vec<String> {
    let mut v: Vec<String> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// Rows of a kubectl table (header first), split on whitespace.
pub(crate) fn table(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[tokio::test]
async fn kubectl_version_says_1_33_and_api_resources_lists_the_builtin_kinds() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, _)) = setup(temp.path()).await else {
        return;
    };

    let out = k.ok(&["version", "-o", "json"]).await;
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("`kubectl version -o json` printed invalid JSON ({e}):\n{out}"));
    assert_eq!(
        v["serverVersion"]["major"], "1",
        "serverVersion.major in:\n{out}"
    );
    assert_eq!(
        v["serverVersion"]["minor"], "33",
        "serverVersion.minor in:\n{out}"
    );
    let git = v["serverVersion"]["gitVersion"]
        .as_str()
        .unwrap_or_default();
    assert!(
        git.starts_with("v1.33."),
        "serverVersion.gitVersion should be v1.33.x, got {git:?}"
    );

    let out = k.ok(&["api-resources"]).await;
    let rows = table(&out);
    assert_eq!(
        rows.first().map(|r| r.join(" ")).as_deref(),
        Some("NAME SHORTNAMES APIVERSION NAMESPACED KIND"),
        "api-resources header in:\n{out}"
    );
    // (name, shortnames, apiVersion, namespaced, kind); "" means no short names.
    let expected = [
        ("configmaps", "cm", "v1", "true", "ConfigMap"),
        ("pods", "po", "v1", "true", "Pod"),
        ("namespaces", "ns", "v1", "false", "Namespace"),
        ("deployments", "deploy", "apps/v1", "true", "Deployment"),
        ("cronjobs", "cj", "batch/v1", "true", "CronJob"),
        (
            "poddisruptionbudgets",
            "pdb",
            "policy/v1",
            "true",
            "PodDisruptionBudget",
        ),
        ("roles", "", "rbac.authorization.k8s.io/v1", "true", "Role"),
        (
            "ingresses",
            "ing",
            "networking.k8s.io/v1",
            "true",
            "Ingress",
        ),
        (
            "storageclasses",
            "sc",
            "storage.k8s.io/v1",
            "false",
            "StorageClass",
        ),
        ("leases", "", "coordination.k8s.io/v1", "true", "Lease"),
        ("events", "ev", "events.k8s.io/v1", "true", "Event"),
        (
            "endpointslices",
            "",
            "discovery.k8s.io/v1",
            "true",
            "EndpointSlice",
        ),
        (
            "horizontalpodautoscalers",
            "hpa",
            "autoscaling/v2",
            "true",
            "HorizontalPodAutoscaler",
        ),
        (
            "priorityclasses",
            "pc",
            "scheduling.k8s.io/v1",
            "false",
            "PriorityClass",
        ),
        (
            "runtimeclasses",
            "",
            "node.k8s.io/v1",
            "false",
            "RuntimeClass",
        ),
        (
            "customresourcedefinitions",
            "crd,crds",
            "apiextensions.k8s.io/v1",
            "false",
            "CustomResourceDefinition",
        ),
    ];
    for (name, short, api_version, namespaced, kind) in expected {
        let want: Vec<&str> = if short.is_empty() {
            vec![name, api_version, namespaced, kind]
        } else {
            vec![name, short, api_version, namespaced, kind]
        };
        let found = rows
            .iter()
            .any(|r| r.iter().map(String::as_str).eq(want.iter().copied()));
        assert!(
            found,
            "`kubectl api-resources` lacks the row {:?}; output:\n{out}",
            want.join(" ")
        );
    }

    skiff.stop().await;
}

#[tokio::test]
async fn kubectl_get_ns_shows_the_four_system_namespaces_active() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, _)) = setup(temp.path()).await else {
        return;
    };

    let out = k.ok(&["get", "ns"]).await;
    let rows = table(&out);
    assert_eq!(
        rows.first().map(|r| r.join(" ")).as_deref(),
        Some("NAME STATUS AGE"),
        "`kubectl get ns` header in:\n{out}"
    );
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let row = rows
            .iter()
            .find(|r| r.first().map(String::as_str) == Some(ns))
            .unwrap_or_else(|| panic!("`kubectl get ns` does not list {ns}:\n{out}"));
        assert_eq!(
            row.get(1).map(String::as_str),
            Some("Active"),
            "{ns} is not Active:\n{out}"
        );
    }

    skiff.stop().await;
}

/// A fixture ConfigMap: name, labels, data.
type FixtureConfigMap<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [(&'a str, &'a str)]);

/// Creates namespace `ns` and ConfigMaps `(name, labels, data)` in it through kube-rs (JSON), so
/// that a test of one kubectl behaviour does not depend on `kubectl create` working.
async fn fixtures(ready: &Ready, ns: &str, cms: &[FixtureConfigMap<'_>]) {
    let c = client(&ready.kubeconfig).await;
    let nss: Api<Namespace> = Api::all(c.clone());
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
    within(
        FIXTURE_TIMEOUT,
        "creating a fixture namespace hangs",
        nss.create(&PostParams::default(), &namespace),
    )
    .await
    .unwrap_or_else(|e| panic!("creating fixture namespace {ns}: {e}"));
    let api: Api<ConfigMap> = Api::namespaced(c, ns);
    for (name, labels, data) in cms {
        let labels: BTreeMap<_, _> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let data: BTreeMap<_, _> = data
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": name, "labels": labels}, "data": data}),
        )
        .expect("configmap");
        within(
            FIXTURE_TIMEOUT,
            "creating a fixture ConfigMap hangs",
            api.create(&PostParams::default(), &cm),
        )
        .await
        .unwrap_or_else(|e| panic!("creating fixture ConfigMap {ns}/{name}: {e}"));
    }
}

#[tokio::test]
async fn kubectl_create_ns_and_configmap_then_get_them() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, _)) = setup(temp.path()).await else {
        return;
    };

    let out = k.ok(&["create", "ns", "demo"]).await;
    assert_eq!(out.trim(), "namespace/demo created");
    let out = k
        .ok(&[
            "create",
            "configmap",
            "c1",
            "-n",
            "demo",
            "--from-literal=a=b",
        ])
        .await;
    assert_eq!(out.trim(), "configmap/c1 created");
    let out = k
        .ok(&["get", "cm", "c1", "-n", "demo", "-o", "jsonpath={.data.a}"])
        .await;
    assert_eq!(out, "b", "jsonpath {{.data.a}} of c1");

    // The upstream table columns.
    let out = k.ok(&["get", "cm", "-n", "demo"]).await;
    let rows = table(&out);
    assert_eq!(
        rows.first().map(|r| r.join(" ")).as_deref(),
        Some("NAME DATA AGE"),
        "`kubectl get cm` header in:\n{out}"
    );
    let row = rows
        .iter()
        .find(|r| r.first().map(String::as_str) == Some("c1"))
        .unwrap_or_else(|| panic!("`kubectl get cm -n demo` does not list c1:\n{out}"));
    assert_eq!(
        row.get(1).map(String::as_str),
        Some("1"),
        "DATA column of c1:\n{out}"
    );
    assert_eq!(row.len(), 3, "c1 row should have NAME DATA AGE:\n{out}");

    skiff.stop().await;
}

#[tokio::test]
async fn kubectl_label_then_label_and_field_selectors_filter_configmaps() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, ready)) = setup(temp.path()).await else {
        return;
    };
    fixtures(
        &ready,
        "demo",
        &[
            ("c1", &[], &[("a", "b")]),
            ("c2", &[("tier", "api")], &[("x", "y")]),
            ("c3", &[], &[]),
        ],
    )
    .await;

    let out = k.ok(&["label", "cm", "c1", "-n", "demo", "tier=web"]).await;
    assert_eq!(out.trim(), "configmap/c1 labeled");
    let out = k
        .ok(&[
            "get",
            "cm",
            "c1",
            "-n",
            "demo",
            "-o",
            "jsonpath={.metadata.labels.tier}",
        ])
        .await;
    assert_eq!(out, "web", "the label kubectl set");

    let out = k
        .ok(&["get", "cm", "-n", "demo", "-l", "tier=web", "-o", "name"])
        .await;
    assert_eq!(names(&out), ["configmap/c1"], "-l tier=web");
    let out = k.ok(&["get", "cm", "-n", "demo", "-l", "tier=web"]).await;
    assert!(
        table(&out)
            .iter()
            .any(|r| r.first().map(String::as_str) == Some("c1")),
        "-l tier=web table:\n{out}"
    );

    let out = k.run(&["get", "cm", "-n", "demo", "-l", "tier=db"]).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(
        out.stdout.trim(),
        "",
        "-l tier=db should list nothing: {}",
        out.describe()
    );
    assert!(
        out.stderr.contains("No resources found in demo namespace."),
        "-l tier=db: {}",
        out.describe()
    );

    let out = k
        .ok(&[
            "get",
            "cm",
            "-n",
            "demo",
            "-l",
            "tier in (web,api)",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(
        names(&out),
        ["configmap/c1", "configmap/c2"],
        "-l 'tier in (web,api)'"
    );
    let out = k
        .ok(&[
            "get",
            "cm",
            "-n",
            "demo",
            "-l",
            "tier notin (web),tier",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(names(&out), ["configmap/c2"], "-l 'tier notin (web),tier'");
    let out = k
        .ok(&["get", "cm", "-n", "demo", "-l", "!tier", "-o", "name"])
        .await;
    let got = names(&out);
    assert!(
        got.contains(&"configmap/c3".to_string())
            && !got
                .iter()
                .any(|n| n == "configmap/c1" || n == "configmap/c2"),
        "-l '!tier' should list c3 and neither c1 nor c2:\n{out}"
    );

    let out = k
        .ok(&[
            "get",
            "cm",
            "-n",
            "demo",
            "--field-selector",
            "metadata.name=c1",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(
        names(&out),
        ["configmap/c1"],
        "--field-selector metadata.name=c1"
    );
    let out = k
        .ok(&[
            "get",
            "cm",
            "-n",
            "demo",
            "--field-selector",
            "metadata.name!=c1",
            "-o",
            "name",
        ])
        .await;
    let got = names(&out);
    assert!(
        !got.contains(&"configmap/c1".to_string()) && got.contains(&"configmap/c2".to_string()),
        "--field-selector metadata.name!=c1 listed:\n{out}"
    );
    let out = k
        .ok(&[
            "get",
            "cm",
            "-A",
            "--field-selector",
            "metadata.namespace=demo,metadata.name=c2",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(
        names(&out),
        ["configmap/c2"],
        "-A --field-selector metadata.namespace=demo,metadata.name=c2"
    );
    let out = k
        .ok(&[
            "get",
            "cm",
            "-n",
            "demo",
            "-l",
            "tier=web",
            "--field-selector",
            "metadata.name=c2",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(
        names(&out),
        Vec::<String>::new(),
        "a label and a field selector together must both apply"
    );

    skiff.stop().await;
}

#[tokio::test]
async fn kubectl_create_with_an_invalid_name_says_it_is_invalid() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, ready)) = setup(temp.path()).await else {
        return;
    };
    fixtures(&ready, "demo", &[]).await;

    let out = k
        .fails(&["create", "configmap", "Bad_Name", "-n", "demo"])
        .await;
    assert!(
        out.stderr.contains("is invalid") && out.stderr.contains("metadata.name"),
        "an invalid name should be reported as `is invalid` on metadata.name: {}",
        out.describe()
    );

    skiff.stop().await;
}

#[tokio::test]
async fn kubectl_replace_of_a_stale_object_says_the_object_has_been_modified() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, ready)) = setup(temp.path()).await else {
        return;
    };
    fixtures(&ready, "demo", &[("c1", &[], &[("a", "b")])]).await;

    let stale = k.ok(&["get", "cm", "c1", "-n", "demo", "-o", "json"]).await;
    let mut obj: Value = serde_json::from_str(&stale)
        .unwrap_or_else(|e| panic!("`get -o json` printed invalid JSON ({e}):\n{stale}"));
    assert!(
        obj["metadata"]["resourceVersion"].is_string(),
        "no resourceVersion in:\n{stale}"
    );
    obj["data"]["a"] = Value::from("replaced");
    let file = temp.path().join("c1-stale.json");
    std::fs::write(&file, serde_json::to_string_pretty(&obj).expect("json"))
        .expect("write stale JSON");
    let file_arg = file.to_str().expect("utf-8 temp path");
    // Client-side validation needs /openapi/v3, which skiff does not serve yet (the kubectl
    // surface issue adds it); the stale-write check is the server's either way.
    let out = k.ok(&["replace", "--validate=false", "-f", file_arg]).await;
    assert_eq!(out.trim(), "configmap/c1 replaced");
    let out = k
        .ok(&["get", "cm", "c1", "-n", "demo", "-o", "jsonpath={.data.a}"])
        .await;
    assert_eq!(out, "replaced", "data after replace");
    let out = k
        .fails(&["replace", "--validate=false", "-f", file_arg])
        .await;
    assert!(
        out.stderr.contains("the object has been modified"),
        "replacing with a stale resourceVersion should conflict: {}",
        out.describe()
    );

    skiff.stop().await;
}

#[tokio::test]
async fn kubectl_delete_ns_waits_until_the_namespace_and_its_configmaps_are_gone() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, ready)) = setup(temp.path()).await else {
        return;
    };
    fixtures(
        &ready,
        "demo",
        &[("c1", &[], &[("a", "b")]), ("c2", &[], &[])],
    )
    .await;
    let out = k.ok(&["get", "cm", "-A", "-o", "name"]).await;
    assert!(
        names(&out).contains(&"configmap/c1".to_string()),
        "c1 is not listed before the deletion:\n{out}"
    );

    let out = k.ok(&["delete", "ns", "demo"]).await;
    assert_eq!(out.trim(), "namespace \"demo\" deleted");
    let out = k.fails(&["get", "ns", "demo"]).await;
    assert!(
        out.stderr.contains("NotFound") && out.stderr.contains("namespaces \"demo\" not found"),
        "`kubectl get ns demo` after deletion: {}",
        out.describe()
    );
    let out = k.ok(&["get", "cm", "-A"]).await;
    assert!(
        !table(&out)
            .iter()
            .any(|r| r.first().map(String::as_str) == Some("demo")),
        "ConfigMaps of the deleted namespace demo are still listed:\n{out}"
    );
    let out = k.ok(&["get", "cm", "-A", "-o", "name"]).await;
    assert!(
        !names(&out).contains(&"configmap/c1".to_string()),
        "c1 still exists after deleting demo:\n{out}"
    );

    skiff.stop().await;
}

/// Complete JSON values in `buf`, leaving an incomplete tail in place.
fn drain_json_values(buf: &mut Vec<u8>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
    let mut consumed = 0;
    loop {
        match stream.next() {
            Some(Ok(v)) => {
                consumed = stream.byte_offset();
                out.push(v);
            }
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(e)) => panic!(
                "the watch printed invalid JSON ({e}):\n{}",
                String::from_utf8_lossy(buf)
            ),
            None => break,
        }
    }
    buf.drain(..consumed);
    out
}

#[tokio::test]
async fn kubectl_watch_prints_a_patch() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, ready)) = setup(temp.path()).await else {
        return;
    };
    fixtures(&ready, "demo", &[("c1", &[], &[("a", "b")])]).await;

    let args = [
        "get",
        "cm",
        "-n",
        "demo",
        "-w",
        "--output-watch-events",
        "-o",
        "json",
    ];
    let mut watch = k.command(&args).spawn().expect("spawning kubectl get -w");
    let mut stdout = watch.stdout.take().expect("piped stdout");
    let mut stderr = watch.stderr.take().expect("piped stderr");
    let stderr_log = Arc::new(Mutex::new(String::new()));
    let log = stderr_log.clone();
    tokio::spawn(async move {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s).await;
        if let Ok(mut l) = log.lock() {
            l.push_str(&s);
        }
    });
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match stdout.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    for v in drain_json_values(&mut buf) {
                        let _ = tx.send(v);
                    }
                }
            }
        }
    });

    let mut seen = Vec::new();
    let wait_for = |want_type: &'static str, want_a: &'static str| {
        move |v: &Value| {
            v["type"] == want_type
                && v["object"]["metadata"]["name"] == "c1"
                && v["object"]["data"]["a"] == want_a
        }
    };
    let added = wait_for("ADDED", "b");
    within(
        Duration::from_secs(60),
        "`kubectl get -w` did not print the initial ADDED event for c1 (list or watch broken?)",
        async {
            loop {
                let v = events
                    .recv()
                    .await
                    .expect("kubectl get -w exited before printing ADDED for c1");
                let hit = added(&v);
                seen.push(v);
                if hit {
                    break;
                }
            }
        },
    )
    .await;

    let out = k
        .ok(&[
            "patch",
            "cm",
            "c1",
            "-n",
            "demo",
            "--type=merge",
            "-p",
            r#"{"data":{"a":"c"}}"#,
        ])
        .await;
    assert_eq!(out.trim(), "configmap/c1 patched");

    let modified = wait_for("MODIFIED", "c");
    let res = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let Some(v) = events.recv().await else {
                return false;
            };
            let hit = modified(&v);
            seen.push(v);
            if hit {
                return true;
            }
        }
    })
    .await;
    let stderr = stderr_log.lock().map(|s| s.clone()).unwrap_or_default();
    match res {
        Ok(true) => {}
        Ok(false) => panic!(
            "`kubectl get -w` exited before printing the MODIFIED event for the patch (watch stream closed early?)\nevents: {seen:#?}\nstderr:\n{stderr}"
        ),
        Err(_) => panic!(
            "`kubectl get -w` did not print a MODIFIED event with data.a=c after the patch (watch does not deliver updates?)\nevents: {seen:#?}\nstderr:\n{stderr}"
        ),
    }

    let _ = watch.start_kill();
    let _ = within(
        Duration::from_secs(30),
        "kubectl get -w did not die after SIGKILL",
        watch.wait(),
    )
    .await;
    skiff.stop().await;
}

#[tokio::test]
async fn kubectl_patch_defaults_to_strategic_merge_and_rollout_restart_works() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, _)) = setup(temp.path()).await else {
        return;
    };
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.25",
        "--replicas=2",
    ])
    .await;
    let out = k
        .ok(&["patch", "deploy", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}}}"#])
        .await;
    assert_eq!(out.trim(), "deployment.apps/web patched");
    let out = k
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].image}",
        ])
        .await;
    assert_eq!(
        out, "nginx:1.27",
        "the default (strategic) patch merged the container by name"
    );
    let out = k
        .ok(&[
            "patch",
            "deploy",
            "web",
            "--type=strategic",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"envoy"}]}}}}"#,
        ])
        .await;
    assert_eq!(out.trim(), "deployment.apps/web patched");
    let out = k
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].name}",
        ])
        .await;
    assert_eq!(
        out, "sidecar nginx",
        "a new container is added, the existing one kept (upstream order)"
    );
    let out = k.ok(&["rollout", "restart", "deploy/web"]).await;
    assert_eq!(out.trim(), "deployment.apps/web restarted");
    let out = k
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}",
        ])
        .await;
    assert!(
        !out.trim().is_empty(),
        "rollout restart stamped the template"
    );
    skiff.stop().await;
}

#[tokio::test]
async fn kubectl_scale_auth_can_i_whoami_and_create_token_work() {
    use base64::Engine;
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, _)) = setup(temp.path()).await else {
        return;
    };
    // `kubectl scale` PATCHes deployments/web/scale with a merge patch.
    k.ok(&["create", "deployment", "web", "--image=nginx"])
        .await;
    let out = k.ok(&["scale", "deploy", "web", "--replicas=3"]).await;
    assert_eq!(out.trim(), "deployment.apps/web scaled");
    let out = k
        .ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])
        .await;
    assert_eq!(out, "3");
    // The three replicas run on the simulated nodes; the Scale table shows them.
    k.ok(&["rollout", "status", "deploy/web", "--timeout=60s"])
        .await;
    let out = k.ok(&["get", "deploy", "web", "--subresource=scale"]).await;
    assert_eq!(
        table(&out),
        vec![vec!["NAME", "DESIRED", "AVAILABLE"], vec!["web", "3", "3"]],
        "the Scale table:\n{out}"
    );
    let out = k
        .fails(&[
            "scale",
            "deploy",
            "web",
            "--replicas=2",
            "--resource-version=1",
        ])
        .await;
    assert!(
        out.stderr.contains("resource version"),
        "a stale precondition is refused: {}",
        out.describe()
    );

    let out = k.ok(&["auth", "can-i", "create", "pods"]).await;
    assert_eq!(out.trim(), "yes");
    let out = k.ok(&["auth", "whoami"]).await;
    let rows = table(&out);
    assert!(
        rows.iter()
            .any(|r| r.join(" ") == "Username kubernetes-admin"),
        "whoami user in:\n{out}"
    );
    assert!(
        rows.iter()
            .any(|r| r.join(" ") == "Groups [system:masters system:authenticated]"),
        "whoami groups in:\n{out}"
    );

    let out = k.ok(&["api-resources"]).await;
    let rows = table(&out);
    for (name, version, kind) in [
        (
            "selfsubjectaccessreviews",
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
        ),
        (
            "selfsubjectrulesreviews",
            "authorization.k8s.io/v1",
            "SelfSubjectRulesReview",
        ),
        (
            "selfsubjectreviews",
            "authentication.k8s.io/v1",
            "SelfSubjectReview",
        ),
        ("bindings", "v1", "Binding"),
    ] {
        assert!(
            rows.iter()
                .any(|r| r.first().map(String::as_str) == Some(name)
                    && r.contains(&version.to_string())
                    && r.last().map(String::as_str) == Some(kind)),
            "api-resources lists {name}:\n{out}"
        );
    }
    let out = k
        .ok(&[
            "api-resources",
            "--verbs=create",
            "--api-group=authorization.k8s.io",
            "-o",
            "name",
        ])
        .await;
    assert!(
        out.lines()
            .any(|l| l.trim() == "selfsubjectaccessreviews.authorization.k8s.io"),
        "{out}"
    );

    // No service-account controller yet: make the `default` account the controller would.
    // The service account controller creates `default` in every namespace.
    let mut exists = false;
    for _ in 0..100 {
        if k.run(&["get", "serviceaccount", "default"]).await.code == Some(0) {
            exists = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        exists,
        "the default service account never appeared (service account controller not running?)"
    );
    let out = k.ok(&["create", "token", "default"]).await;
    let token = out.trim();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .expect("base64url payload"),
    )
    .expect("JSON claims");
    assert_eq!(payload["sub"], "system:serviceaccount:default:default");
    let out = k
        .fails(&["create", "token", "default", "--duration=5m"])
        .await;
    assert!(
        out.stderr
            .contains("may not specify a duration less than 10 minutes"),
        "{}",
        out.describe()
    );
    skiff.stop().await;
}

#[tokio::test]
async fn kubectl_explain_apply_and_strict_validation_use_the_openapi_documents() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, _)) = setup(temp.path()).await else {
        return;
    };
    // `kubectl explain` reads /openapi/v3 and the apps/v1 document.
    let out = k
        .ok(&["explain", "deployment.spec.strategy.rollingUpdate"])
        .await;
    assert!(
        out.contains("KIND:       Deployment"),
        "explain header:\n{out}"
    );
    assert!(
        out.contains("maxSurge\t<IntOrString>"),
        "explain lists maxSurge:\n{out}"
    );
    assert!(
        out.contains("The maximum number of pods that can be scheduled above the desired number"),
        "explain prints the field documentation:\n{out}"
    );
    // The Swagger 2.0 form, which kubectl reads as gnostic protobuf.
    let out = k
        .ok(&[
            "explain",
            "deployment.spec.strategy.rollingUpdate",
            "--output=plaintext-openapiv2",
        ])
        .await;
    assert!(
        out.contains("maxSurge\t<string>"),
        "explain (openapi v2) lists maxSurge:\n{out}"
    );

    // Default flags: --validate=strict, which needs the OpenAPI documents to detect
    // server-side field validation.
    let manifest = temp.path().join("app.yaml");
    std::fs::write(
        &manifest,
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: openapi-demo
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: openapi-demo
data:
  a: "1"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: openapi-demo
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
"#,
    )
    .expect("write manifest");
    let path = manifest.to_str().expect("utf-8 path");
    let out = k.ok(&["apply", "-f", path]).await;
    assert_eq!(
        names(&out),
        vec![
            "configmap/cfg created",
            "deployment.apps/web created",
            "namespace/openapi-demo created",
        ],
        "apply output:\n{out}"
    );
    // A second apply with a change patches (the patch metadata comes from /openapi/v3).
    let changed = std::fs::read_to_string(&manifest)
        .expect("read manifest")
        .replace("replicas: 1", "replicas: 2");
    std::fs::write(&manifest, changed).expect("write manifest");
    let out = k.ok(&["apply", "-f", path]).await;
    assert!(
        out.contains("deployment.apps/web configured"),
        "re-apply:\n{out}"
    );
    let out = k
        .ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "openapi-demo",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .await;
    assert_eq!(out, "2");

    // An unknown field fails strict validation like upstream.
    let bad = temp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
  namespace: openapi-demo
spec:
  bogus: 1
  selector:
    matchLabels: {app: bad}
  template:
    metadata:
      labels: {app: bad}
    spec:
      containers:
      - name: c
        image: nginx
"#,
    )
    .expect("write manifest");
    let out = k
        .fails(&["create", "-f", bad.to_str().expect("utf-8 path")])
        .await;
    assert!(
        out.stderr
            .contains(r#"strict decoding error: unknown field "spec.bogus""#),
        "strict field validation: {}",
        out.describe()
    );
    skiff.stop().await;
}

#[tokio::test]
async fn kubectl_server_side_apply_conflicts_force_and_diff() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, _)) = setup(temp.path()).await else {
        return;
    };
    let manifest = temp.path().join("web.yaml");
    let deployment = |replicas: u32, image: &str| {
        format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: nginx
        image: {image}
"#
        )
    };
    std::fs::write(&manifest, deployment(1, "nginx:1")).expect("write manifest");
    let path = manifest.to_str().expect("utf-8 path");
    let out = k.ok(&["apply", "--server-side", "-f", path]).await;
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    let out = k
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "yaml",
            "--show-managed-fields",
        ])
        .await;
    assert!(out.contains("manager: kubectl"), "{out}");
    assert!(out.contains("operation: Apply"), "{out}");
    assert!(out.contains("f:replicas: {}"), "{out}");

    // Another field manager changing replicas conflicts.
    std::fs::write(&manifest, deployment(3, "nginx:1")).expect("write manifest");
    let out = k
        .fails(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            path,
        ])
        .await;
    assert!(
        out.stderr
            .contains(r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas"#),
        "{}",
        out.describe()
    );
    let out = k
        .ok(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            path,
        ])
        .await;
    assert!(out.contains("serverside-applied"), "{out}");
    let out = k
        .ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])
        .await;
    assert_eq!(out, "3");

    // Dry-run on the server stores nothing.
    std::fs::write(&manifest, deployment(3, "nginx:2")).expect("write manifest");
    k.ok(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "--dry-run=server",
        "-f",
        path,
    ])
    .await;
    let out = k
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .await;
    assert_eq!(out, "nginx:1");

    // kubectl diff shows the pending image change (exit code 1: differences).
    let out = k.run(&["diff", "-f", path]).await;
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stdout.contains("+      - image: nginx:2"),
        "{}",
        out.describe()
    );
    let out = k
        .run(&[
            "diff",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            path,
        ])
        .await;
    assert_eq!(out.code, Some(1), "{}", out.describe());

    // Client-side apply then server-side apply: kubectl upgrades the ownership.
    let cm = temp.path().join("cm.yaml");
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: migrate\n  namespace: default\ndata:\n  a: \"1\"\n",
    )
    .expect("write manifest");
    let cm_path = cm.to_str().expect("utf-8 path");
    k.ok(&["apply", "-f", cm_path]).await;
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: migrate\n  namespace: default\ndata:\n  a: \"2\"\n",
    )
    .expect("write manifest");
    let out = k.ok(&["apply", "--server-side", "-f", cm_path]).await;
    assert!(out.contains("serverside-applied"), "{out}");
    let out = k
        .ok(&["get", "cm", "migrate", "-o", "jsonpath={.data.a}"])
        .await;
    assert_eq!(out, "2");
    let out = k
        .ok(&[
            "get",
            "cm",
            "migrate",
            "-o",
            "yaml",
            "--show-managed-fields",
        ])
        .await;
    assert!(!out.contains("kubectl-client-side-apply"), "{out}");
    assert!(out.contains("operation: Apply"), "{out}");
    // The client-side annotation follows the server-side applied configuration.
    assert!(out.contains(r#""data":{"a":"2"}"#), "{out}");
    skiff.stop().await;
}

const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    - name: Color
      type: string
      jsonPath: .spec.color
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: The widget's desired shape.
            properties:
              size:
                type: integer
                description: How big the widget is.
              color:
                type: string
                default: blue
"#;

#[tokio::test]
async fn kubectl_apply_of_a_crd_and_its_object_then_get_and_explain() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, _)) = setup(temp.path()).await else {
        return;
    };
    let crd_file = temp.path().join("crd.yaml");
    std::fs::write(&crd_file, WIDGET_CRD).expect("write CRD");
    let out = k
        .ok(&["apply", "-f", crd_file.to_str().expect("utf-8")])
        .await;
    assert_eq!(
        out.trim(),
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
    );
    // Served at once: api-resources lists it.
    let out = k.ok(&["api-resources", "--api-group=example.com"]).await;
    assert!(
        out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["widgets", "wd", "example.com/v1", "true", "Widget"]),
        "api-resources:\n{out}"
    );
    let obj_file = temp.path().join("w.yaml");
    std::fs::write(
        &obj_file,
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: default\nspec:\n  size: 3\n",
    )
    .expect("write widget");
    let out = k
        .ok(&["apply", "-f", obj_file.to_str().expect("utf-8")])
        .await;
    assert_eq!(out.trim(), "widget.example.com/w1 created");
    let out = k.ok(&["get", "widgets", "-n", "default"]).await;
    let rows = table(&out);
    assert_eq!(rows[0].join(" "), "NAME SIZE COLOR", "header:\n{out}");
    assert_eq!(
        rows[1].join(" "),
        "w1 3 blue",
        "row (color defaulted):\n{out}"
    );
    let out = k.ok(&["explain", "widget.spec"]).await;
    assert!(
        out.contains("The widget's desired shape."),
        "explain:\n{out}"
    );
    assert!(out.contains("How big the widget is."), "explain:\n{out}");
    skiff.stop().await;
}

const SHOP_MANIFEST: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  mode: fast
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports:
  - port: 80
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
---
apiVersion: example.com/v1
kind: Gadget
metadata:
  name: g1
  namespace: shop
spec:
  size: 3
"#;

#[tokio::test]
async fn kubectl_apply_edit_reapply_edit_patch_dry_run_and_diff_a_multi_document_manifest() {
    let temp = tempfile::tempdir().expect("temp dir");
    let Some((mut skiff, k, _)) = setup(temp.path()).await else {
        return;
    };
    let file = temp.path().join("shop.yaml");
    let path = file.to_str().expect("utf-8 path").to_string();
    std::fs::write(&file, SHOP_MANIFEST).expect("write manifest");
    // As on any cluster, the first pass cannot map the custom resource before its CRD exists.
    let first = k.run(&["apply", "-f", &path]).await;
    assert!(
        first
            .stdout
            .contains("customresourcedefinition.apiextensions.k8s.io/gadgets.example.com created"),
        "{}",
        first.describe()
    );
    assert!(
        first.stderr.contains("ensure CRDs are installed first"),
        "{}",
        first.describe()
    );
    let out = k.ok(&["apply", "-f", &path]).await;
    assert!(
        out.contains("gadget.example.com/g1 created"),
        "second apply:\n{out}"
    );
    let out = k.ok(&["get", "deploy,svc,gadgets", "-n", "shop"]).await;
    for header in [
        "NAME READY UP-TO-DATE AVAILABLE AGE",
        "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE",
        "NAME SIZE",
    ] {
        assert!(
            table(&out).iter().any(|r| r.join(" ") == header),
            "header {header:?} in:\n{out}"
        );
    }
    assert!(
        table(&out)
            .iter()
            .any(|r| r.join(" ") == "gadget.example.com/g1 3"),
        "printer column row in:\n{out}"
    );

    k.ok(&["label", "deploy", "web", "-n", "shop", "team=blue"])
        .await;
    let edited = SHOP_MANIFEST
        .replace("nginx:1.25", "nginx:1.27")
        .replace("        - {name: B, value: \"2\"}\n", "")
        .replace(
            "        - containerPort: 80\n",
            "        - containerPort: 80\n        - containerPort: 443\n",
        );
    std::fs::write(&file, &edited).expect("write edited manifest");
    let out = k.ok(&["apply", "-f", &path]).await;
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let jp = "jsonpath={.metadata.labels.team} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[*].name} {.spec.template.spec.containers[0].ports[*].containerPort}";
    let out = k
        .ok(&["get", "deploy", "web", "-n", "shop", "-o", jp])
        .await;
    assert_eq!(
        out, "blue nginx:1.27 A 80 443",
        "exactly the edited fields changed and the label survived"
    );

    let mut edit = k.command(&["edit", "deploy", "web", "-n", "shop"]);
    edit.env("EDITOR", "sed -i s/nginx:1.27/nginx:1.28/");
    let status = tokio::time::timeout(KUBECTL_TIMEOUT, edit.output())
        .await
        .expect("kubectl edit finished")
        .expect("kubectl edit ran");
    assert!(
        status.status.success(),
        "kubectl edit: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let out = k
        .ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .await;
    assert_eq!(out, "nginx:1.28");

    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#,
    ])
    .await;
    let out = k
        .ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .await;
    assert_eq!(out, "4");
    let out = k
        .ok(&[
            "create",
            "configmap",
            "dry",
            "-n",
            "shop",
            "--from-literal=a=b",
            "--dry-run=server",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(out.trim(), "configmap/dry");
    k.fails(&["get", "configmap", "dry", "-n", "shop"]).await;

    let diff = k.run(&["diff", "-f", &path]).await;
    assert_eq!(
        diff.code,
        Some(1),
        "kubectl diff exits 1 when there are differences: {}",
        diff.describe()
    );
    assert!(
        diff.stdout.contains("+        image: nginx:1.27")
            && diff.stdout.contains("-        image: nginx:1.28"),
        "{}",
        diff.describe()
    );
    skiff.stop().await;
}
