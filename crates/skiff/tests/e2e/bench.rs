//! `skiff bench --size smoke` as a process: it runs every scenario against a real skiff it
//! spawns, exits 0, and writes JSON with every figure of issue 6. Timings are not checked.

use std::time::Duration;

use serde_json::Value;

/// How long the smoke run may take on a loaded two-core machine (it aims for seconds).
const SMOKE_TIMEOUT: Duration = Duration::from_secs(300);

/// Keys whose value must be a number.
const NUMBER_KEYS: &[&str] = &[
    "bootMs",
    "idleRssMiB",
    "createPerSec",
    "schedulePodsPerSec",
    "podStartupP99Ms",
    "watchFanoutP99Ms",
    "scaleRssMiB",
    "scaleNodes",
    "scalePods",
];

/// `skiff bench ARGS --json JSON`, killed if the test gives up on it.
fn bench_command(args: &[&str], json: &std::path::Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_skiff"));
    cmd.arg("bench")
        .args(args)
        .arg("--json")
        .arg(json)
        .env_remove("SKIFF_DATA_DIR")
        .env_remove("SKIFF_LISTEN")
        .kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn bench_smoke_runs_every_scenario_and_writes_json_with_every_key() {
    let temp = tempfile::tempdir().expect("temp dir");
    let json_path = temp.path().join("bench.json");
    let started = std::time::Instant::now();
    let mut cmd = bench_command(&["--size", "smoke"], &json_path);
    let out = tokio::time::timeout(SMOKE_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| {
            panic!("skiff bench --size smoke did not finish within {SMOKE_TIMEOUT:?} (a scenario hangs?)")
        })
        .expect("running skiff bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "skiff bench --size smoke failed with {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    eprintln!(
        "skiff bench --size smoke took {:.1} s\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    for row in [
        "boot",
        "idle memory",
        "create",
        "watch fan-out",
        "pod startup",
        "large list",
        "scheduling",
        "scale",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(row)),
            "the table has no {row:?} row:\n{stdout}"
        );
    }
    let etcd_installed = std::process::Command::new("etcd")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !etcd_installed {
        assert!(
            stdout.contains("etcd binary is not installed"),
            "the table does not say why etcd was not measured:\n{stdout}"
        );
    }

    let text = std::fs::read_to_string(&json_path)
        .unwrap_or_else(|e| panic!("skiff bench wrote no {}: {e}", json_path.display()));
    let doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the bench JSON does not parse: {e}\n{text}"));
    for key in NUMBER_KEYS {
        assert!(
            doc[key].is_number(),
            "{key} should be a number, got {}\n{text}",
            doc[key]
        );
    }
    for key in ["scaleNodes", "scalePods"] {
        assert!(
            doc[key].is_u64(),
            "{key} should be an integer, got {}",
            doc[key]
        );
    }
    // The etcd comparison runs when etcd is installed (CI installs it), else it is null.
    assert_eq!(
        doc["etcdCreatePerSec"].is_number(),
        etcd_installed,
        "etcdCreatePerSec: {}",
        doc["etcdCreatePerSec"]
    );
    assert_eq!(doc["size"], "smoke", "size");
    let machine = &doc["machine"];
    assert!(machine["cores"].is_u64(), "machine.cores: {machine}");
    assert!(
        machine["memoryMiB"].is_u64(),
        "machine.memoryMiB: {machine}"
    );
    assert!(
        machine["cpuModel"].is_string(),
        "machine.cpuModel: {machine}"
    );
    assert!(
        doc["errors"].as_array().is_some_and(|e| e.is_empty()),
        "errors: {}",
        doc["errors"]
    );
}

#[tokio::test]
async fn bench_only_runs_the_scenarios_named_and_leaves_the_others_null() {
    let temp = tempfile::tempdir().expect("temp dir");
    let json_path = temp.path().join("bench.json");
    let mut cmd = bench_command(&["--only", "startup"], &json_path);
    let out = tokio::time::timeout(SMOKE_TIMEOUT, cmd.output())
        .await
        .expect("skiff bench --only startup finishes")
        .expect("running skiff bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "skiff bench --only startup failed with {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json"))
        .expect("the bench JSON parses");
    assert!(doc["podStartupP99Ms"].is_number(), "{doc}");
    assert_eq!(doc["only"], serde_json::json!(["startup"]));
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("boot") && l.ends_with("not run")),
        "rows left out say so:\n{stdout}"
    );
    // The startup note splits each pod's time at its binding.
    let note = doc["notes"]["podStartupP99Ms"].as_str().unwrap_or_default();
    assert!(note.contains("create → bound"), "{note}");
    for key in [
        "bootMs",
        "createPerSec",
        "etcdCreatePerSec",
        "schedulePodsPerSec",
        "watchFanoutP99Ms",
        "listPagedMs",
    ] {
        assert!(doc[key].is_null(), "{key} ran: {}", doc[key]);
    }

    // An unknown scenario is a usage error naming the choices.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["bench", "--only", "bogus"])
        .output()
        .expect("running skiff bench");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("possible values") && stderr.contains("schedule"),
        "{stderr}"
    );
}
