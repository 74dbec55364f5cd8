//! Runs the conformance suite against every backend (etcd against an `etcd` process the test
//! starts, skipped with a note when `etcd` is not installed), plus the SQLite backend's
//! durability tests: reopen, the data-directory lock, and crash safety under SIGKILL.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use futures::StreamExt;
use store::{
    Backend, Error, EventKind, ListOptions, MemoryBackend, Revision, SqliteBackend, conformance,
};

/// Longest wait for one step before declaring it hung.
const STEP: Duration = Duration::from_secs(60);

async fn step<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {STEP:?}: {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_backend_passes_the_conformance_suite() {
    conformance::run_all(|| async { MemoryBackend::new() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_backend_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("creating a temp dir");
    let mut n = 0;
    conformance::run_all(|| {
        n += 1;
        let path = dir.path().join(format!("case{n}")).join("store.db");
        async move { SqliteBackend::open(&path).expect("opening a fresh sqlite store") }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// etcd: a real `etcd` process on free loopback ports, killed by its guard.

/// A running `etcd` with its own data directory; dropping it kills the process (also when the
/// test panics) and removes the directory.
#[cfg(feature = "etcd")]
struct EtcdProcess {
    child: Child,
    endpoint: String,
    dir: tempfile::TempDir,
}

#[cfg(feature = "etcd")]
impl Drop for EtcdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(feature = "etcd")]
impl EtcdProcess {
    /// Start etcd, or `None` (after printing why) when the `etcd` binary is not installed.
    fn start() -> Option<EtcdProcess> {
        match Command::new("etcd").arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                eprintln!("skipping: `etcd --version` failed: {:?}", out.status);
                return None;
            }
            Err(e) => {
                eprintln!(
                    "skipping: the etcd binary is not installed ({e}); `apt-get install etcd-server`"
                );
                return None;
            }
        }
        let dir = tempfile::tempdir().expect("creating a temp dir for etcd");
        let free_port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("finding a free loopback port")
                .port()
        };
        let (client, peer) = (free_port(), free_port());
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).expect("creating etcd.log");
        let child = Command::new("etcd")
            .args(["--name", "skiff-test", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("skiff-test={peer_url}")])
            .args(["--logger", "zap", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning the log handle"))
            .stderr(log)
            .spawn()
            .expect("starting etcd");
        Some(EtcdProcess {
            child,
            endpoint: format!("127.0.0.1:{client}"),
            dir,
        })
    }

    /// A backend on this etcd whose keys live under `prefix`.
    async fn connect(&mut self, prefix: &str) -> store::EtcdBackend {
        let options = store::EtcdOptions {
            prefix: prefix.to_owned(),
            ..Default::default()
        };
        match store::EtcdBackend::connect(std::slice::from_ref(&self.endpoint), options).await {
            Ok(backend) => backend,
            Err(e) => {
                let status = self.child.try_wait();
                let log =
                    std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
                panic!(
                    "connecting to the test etcd failed: {e}\netcd status {status:?}, log:\n{log}"
                )
            }
        }
    }
}

/// Every case gets a fresh, empty keyspace: its own prefix on one etcd (revisions are shared,
/// which the suite allows: it never assumes absolute revision numbers).
#[cfg(feature = "etcd")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn etcd_backend_passes_the_conformance_suite() {
    let Some(etcd) = EtcdProcess::start() else {
        return;
    };
    let etcd = Arc::new(tokio::sync::Mutex::new(etcd));
    let started = std::time::Instant::now();
    let mut n = 0;
    conformance::run_all(|| {
        n += 1;
        let etcd = etcd.clone();
        async move {
            etcd.lock()
                .await
                .connect(&format!("/conformance{n:02}"))
                .await
        }
    })
    .await;
    eprintln!("etcd conformance suite took {:?}", started.elapsed());
}

/// Keys are stored exactly as given (the kube-apiserver layout); a prefix only prepends.
#[cfg(feature = "etcd")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_stores_keys_as_given_and_a_prefix_only_prepends() {
    let Some(mut etcd) = EtcdProcess::start() else {
        return;
    };
    let plain = etcd.connect("").await;
    let under_registry = etcd.connect("/registry").await;
    let kv = step(
        "create hangs",
        plain.create("/registry/core/configmaps/demo/c1", b"x".to_vec()),
    )
    .await
    .expect("create");
    let seen = step(
        "get hangs",
        under_registry.get("/core/configmaps/demo/c1", 0),
    )
    .await
    .expect("get")
    .expect("the key must be stored verbatim as /registry/core/configmaps/demo/c1");
    assert_eq!(seen.mod_revision, kv.mod_revision);
    assert_eq!(
        seen.key, "/core/configmaps/demo/c1",
        "the prefix is stripped"
    );
    let other = etcd.connect("/elsewhere").await;
    let listed = step("list hangs", other.list("/", ListOptions::default()))
        .await
        .expect("list");
    assert!(listed.items.is_empty(), "prefixes must isolate stores");
    // The empty prefix is the whole keyspace (etcd refuses an empty range key).
    let everything = step("list hangs", plain.list("", ListOptions::default()))
        .await
        .expect("list of the empty prefix");
    assert_eq!(everything.items, vec![kv]);
    assert_eq!(
        step("count hangs", plain.count("")).await.expect("count"),
        1
    );
    let mut all = step("watch hangs", plain.watch("", 0))
        .await
        .expect("watch");
    let next = step("create hangs", plain.create("/z", b"z".to_vec()))
        .await
        .expect("create");
    let e = step("no event from a watch of everything", all.next()).await;
    assert_eq!(e.expect("watch ended").expect("watch failed").kv, next);
}

/// A list bigger than tonic's default 4 MiB message limit comes back whole, paged or not.
#[cfg(feature = "etcd")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_lists_bigger_than_four_mebibytes() {
    let Some(mut etcd) = EtcdProcess::start() else {
        return;
    };
    let store = etcd.connect("").await;
    // 12 values of 1 MiB (etcd refuses requests over 1.5 MiB): 12 MiB in one range.
    let value = vec![b'v'; 1024 * 1024];
    for i in 0..12 {
        step(
            "create hangs",
            store.create(&format!("/big/{i:02}"), value.clone()),
        )
        .await
        .expect("create of a 1 MiB value");
    }
    let all = step("list hangs", store.list("/big/", ListOptions::default()))
        .await
        .expect("a 12 MiB list must not hit the decode limit");
    assert_eq!(all.items.len(), 12);
    assert!(all.items.iter().all(|kv| kv.value == value));
    let page = ListOptions {
        limit: 10,
        ..ListOptions::default()
    };
    let first = step("list hangs", store.list("/big/", page))
        .await
        .expect("a 10 MiB page must not hit the decode limit");
    assert_eq!(
        (first.items.len(), first.more, first.remaining),
        (10, true, 2)
    );
}

/// Losing etcd answers `Storage` within the request timeout (no hang, no panic) and ends
/// watches with an error once resuming them has used the same budget.
#[cfg(feature = "etcd")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_outage_answers_storage_errors_without_hanging() {
    let Some(mut etcd) = EtcdProcess::start() else {
        return;
    };
    let options = store::EtcdOptions {
        request_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let store = store::EtcdBackend::connect(std::slice::from_ref(&etcd.endpoint), options)
        .await
        .expect("connect");
    step("create hangs", store.create("/o/k", b"1".to_vec()))
        .await
        .expect("create");
    let mut watch = step("watch hangs", store.watch("/o/", 0))
        .await
        .expect("watch");
    etcd.child.kill().expect("killing etcd");
    etcd.child.wait().expect("reaping etcd");
    match step("get during the outage hangs", store.get("/o/k", 0)).await {
        Err(Error::Storage(_)) => {}
        other => panic!("get without etcd: expected Storage, got {other:?}"),
    }
    match step(
        "create during the outage hangs",
        store.create("/o/j", b"x".to_vec()),
    )
    .await
    {
        Err(Error::Storage(_)) => {}
        other => panic!("create without etcd: expected Storage, got {other:?}"),
    }
    match step("the watch never notices the outage", watch.next()).await {
        Some(Err(Error::Storage(_))) => {}
        other => panic!("watch without etcd: expected a Storage error, got {other:?}"),
    }
}

/// Prints create throughput against a local etcd, one writer and 32 concurrent writers
/// (`cargo test -p store --test backends -- --ignored --nocapture etcd_create_throughput`).
#[cfg(feature = "etcd")]
#[ignore = "a measurement, not a check"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn etcd_create_throughput() {
    let Some(mut etcd) = EtcdProcess::start() else {
        return;
    };
    let store = Arc::new(etcd.connect("").await);
    let value = vec![b'x'; 1024];
    let started = std::time::Instant::now();
    for i in 0..500 {
        store
            .create(&format!("/seq/{i:05}"), value.clone())
            .await
            .expect("create");
    }
    let sequential = 500.0 / started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..32 {
        let (store, value) = (store.clone(), value.clone());
        tasks.spawn(async move {
            for i in 0..100 {
                store
                    .create(&format!("/par/{t:02}/{i:03}"), value.clone())
                    .await
                    .expect("create");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("writer");
    }
    let concurrent = 3200.0 / started.elapsed().as_secs_f64();
    eprintln!(
        "etcd creates/s (1 KiB values): {sequential:.0} sequential, {concurrent:.0} with 32 writers"
    );
}

fn open(path: &Path) -> SqliteBackend {
    SqliteBackend::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reopen_after_drop_keeps_every_write_and_continues_revisions() {
    let dir = tempfile::tempdir().expect("creating a temp dir");
    let path = dir.path().join("data").join("store.db");
    let (written, last, removed) = {
        let store = open(&path);
        let mut written = Vec::new();
        for i in 0..20 {
            let key = format!("/re/{i:02}");
            let kv = step("create hangs", store.create(&key, key.clone().into_bytes())).await;
            written.push(kv.expect("create failed"));
        }
        let first = written[0].clone();
        let updated = step(
            "update hangs",
            store.update(&first.key, b"new".to_vec(), first.mod_revision),
        )
        .await
        .expect("update failed");
        written[0] = updated;
        let removed = step("delete hangs", store.delete("/re/19", None))
            .await
            .expect("delete failed");
        written.pop();
        let last = step("current_revision hangs", store.current_revision())
            .await
            .expect("revision");
        (written, last, removed)
    };
    let store = open(&path);
    assert_eq!(
        step("current_revision hangs", store.current_revision())
            .await
            .expect("revision"),
        last
    );
    let listed = step("list hangs", store.list("/re/", ListOptions::default()))
        .await
        .expect("list");
    assert_eq!(
        listed.items, written,
        "every write must survive a reopen unchanged"
    );
    assert_eq!(listed.revision, last);
    // History survives too: a watch from before the delete replays it with its previous value.
    let mut stream = step("watch hangs", store.watch("/re/", removed.revision() - 1))
        .await
        .expect("watch");
    let e = step("replayed delete never arrives", stream.next())
        .await
        .expect("watch ended")
        .expect("watch failed");
    assert_eq!(e.kind, EventKind::Delete);
    assert_eq!(e.prev, removed.prev);
    let next = step("create hangs", store.create("/re/next", b"x".to_vec()))
        .await
        .expect("create");
    assert_eq!(
        next.mod_revision,
        last + 1,
        "new writes must continue the revision sequence"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_revision_survives_compaction_of_the_newest_rows_and_restart() {
    let dir = tempfile::tempdir().expect("creating a temp dir");
    let path = dir.path().join("store.db");
    let last = {
        let store = open(&path);
        step("create hangs", store.create("/t/a", b"x".to_vec()))
            .await
            .expect("create");
        let gone = step("delete hangs", store.delete("/t/a", None))
            .await
            .expect("delete");
        step("compact hangs", store.compact(gone.revision()))
            .await
            .expect("compact");
        gone.revision()
    };
    let store = open(&path);
    assert_eq!(
        step("current_revision hangs", store.current_revision())
            .await
            .expect("revision"),
        last
    );
    assert_eq!(
        step("compacted_revision hangs", store.compacted_revision())
            .await
            .expect("compacted"),
        last
    );
    let kv = step("create hangs", store.create("/t/b", b"y".to_vec()))
        .await
        .expect("create");
    assert_eq!(
        kv.mod_revision,
        last + 1,
        "a revision must never be reused after compaction and restart"
    );
}

#[test]
fn sqlite_second_open_of_the_same_store_fails_with_locked() {
    let dir = tempfile::tempdir().expect("creating a temp dir");
    let path = dir.path().join("store.db");
    let first = open(&path);
    match SqliteBackend::open(&path) {
        Err(Error::Locked(message)) => {
            assert!(
                message.contains("in use by another skiff process"),
                "unclear message: {message}"
            );
            assert!(
                message.contains(&format!("pid {}", std::process::id())),
                "no pid in: {message}"
            );
            assert!(
                message.contains(&dir.path().display().to_string()),
                "no directory in: {message}"
            );
        }
        Err(e) => panic!("second open: expected Locked, got {e}"),
        Ok(_) => panic!("second open of a store in use must fail with Locked"),
    }
    drop(first);
    let again = SqliteBackend::open(&path);
    assert!(
        again.is_ok(),
        "the lock must be released when the store is dropped: {:?}",
        again.err()
    );
}

// ---------------------------------------------------------------------------------------------
// Crash safety: a child process (this test binary re-executed) writes until SIGKILLed.

/// Tells the child-entry test where the store is; without it that test does nothing.
const CRASH_CHILD_DB: &str = "SKIFF_STORE_CRASH_CHILD_DB";
/// Name of the child-entry test, as libtest's `--exact` filter wants it.
const CRASH_CHILD_TEST: &str = "sqlite_crash_child_writes_until_killed";
/// Acknowledged writes to wait for before killing the child.
const KILL_AFTER_ACKS: usize = 300;

/// FNV-1a, enough to detect a torn or mixed-up value.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A value naming its key and sequence number, padded, sealed with a checksum.
fn sealed_value(key: &str, seq: u64) -> Vec<u8> {
    let pad = "x".repeat((seq as usize * 37) % 3000);
    let body = format!("{key}|{seq}|{pad}");
    format!("{body}#{:016x}", checksum(body.as_bytes())).into_bytes()
}

/// Check a value made by [`sealed_value`] for `key`.
fn verify_value(key: &str, value: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(value).map_err(|_| format!("{key}: value is not UTF-8"))?;
    let (body, sum) = text
        .rsplit_once('#')
        .ok_or_else(|| format!("{key}: value has no checksum"))?;
    if format!("{:016x}", checksum(body.as_bytes())) != sum {
        return Err(format!("{key}: checksum mismatch (torn value?)"));
    }
    if body.split('|').next() != Some(key) {
        return Err(format!("{key}: value belongs to another key"));
    }
    Ok(())
}

/// Kills the child if the parent test fails before doing so.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One acknowledged write the child reported.
#[derive(Debug, Clone)]
struct Ack {
    op: String,
    key: String,
    revision: Revision,
}

fn parse_ack(line: &str) -> Option<Ack> {
    // libtest may print its "test … " prefix on the same line, so search rather than match.
    let rest = &line[line.find("ACK ")? + 4..];
    let mut parts = rest.split_whitespace();
    let op = parts.next()?.to_owned();
    let key = parts.next()?.to_owned();
    let revision = parts.next()?.parse().ok()?;
    Some(Ack { op, key, revision })
}

#[test]
fn sqlite_store_killed_mid_write_restarts_with_every_acknowledged_write() {
    let dir = tempfile::tempdir().expect("creating a temp dir");
    let path = dir.path().join("store.db");
    let exe = std::env::current_exe().expect("locating the test binary");
    let child = Command::new(exe)
        .args([
            "--exact",
            CRASH_CHILD_TEST,
            "--nocapture",
            "--include-ignored",
            "--test-threads",
            "1",
        ])
        .env(CRASH_CHILD_DB, &path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("re-executing the test binary as the crash child");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("child stdout is piped");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(ack) = parse_ack(&line)
                && tx.send(ack).is_err()
            {
                break;
            }
        }
    });

    let mut acks = Vec::new();
    while acks.len() < KILL_AFTER_ACKS {
        match rx.recv_timeout(STEP) {
            Ok(ack) => acks.push(ack),
            Err(RecvTimeoutError::Timeout) => panic!(
                "the crash child acknowledged only {} writes in {STEP:?} (writer stuck?)",
                acks.len()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "the crash child exited after {} acknowledgements instead of writing until killed",
                acks.len()
            ),
        }
    }
    let pid = i32::try_from(child.0.id()).expect("pid fits in i32");
    // SAFETY: sending a signal to our own child process, which has not been reaped yet.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(
        rc,
        0,
        "SIGKILL of the crash child failed: {}",
        std::io::Error::last_os_error()
    );
    let status = child.0.wait().expect("waiting for the killed child");
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "the child must die of SIGKILL: {status:?}"
    );
    // Everything the child printed before dying was acknowledged, so it counts too.
    loop {
        match rx.recv_timeout(STEP) {
            Ok(ack) => acks.push(ack),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                panic!("the child's stdout never closed after SIGKILL")
            }
        }
    }
    reader.join().expect("the ack reader thread panicked");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building a runtime");
    runtime.block_on(verify_after_crash(&path, &acks));
}

/// Reopen the store a killed child wrote and check every acknowledged write and every value.
async fn verify_after_crash(path: &Path, acks: &[Ack]) {
    let store =
        SqliteBackend::open(path).expect("reopening the store after SIGKILL (lock released?)");
    let current = step("current_revision hangs", store.current_revision())
        .await
        .expect("revision");
    let max_ack = acks.iter().map(|a| a.revision).max().unwrap_or(0);
    assert!(
        current >= max_ack,
        "acknowledged revision {max_ack} lost: store is at {current}"
    );

    let mut live_keys = BTreeMap::new();
    for ack in acks {
        match ack.op.as_str() {
            "create" | "update" => {
                let kv = step("get hangs", store.get(&ack.key, ack.revision)).await;
                let kv = kv.unwrap_or_else(|e| panic!("get {} at {}: {e}", ack.key, ack.revision));
                let kv = kv.unwrap_or_else(|| panic!("acknowledged {ack:?} is missing"));
                assert_eq!(
                    kv.mod_revision, ack.revision,
                    "acknowledged {ack:?} has another revision"
                );
                verify_value(&ack.key, &kv.value).unwrap_or_else(|e| panic!("{e}"));
                let newest = live_keys.entry(ack.key.clone()).or_insert(ack.revision);
                *newest = (*newest).max(ack.revision);
            }
            "delete" => {
                let kv = step("get hangs", store.get(&ack.key, 0))
                    .await
                    .expect("get");
                assert_eq!(kv, None, "acknowledged delete {ack:?} was undone");
                live_keys.remove(&ack.key);
            }
            other => panic!("unknown ack op {other}"),
        }
    }
    for (key, revision) in &live_keys {
        if key.starts_with("/crash/tmp/") {
            // Its delete may have committed without its acknowledgement reaching us.
            continue;
        }
        let kv = step("get hangs", store.get(key, 0)).await.expect("get");
        let kv = kv.unwrap_or_else(|| panic!("acknowledged key {key} is missing now"));
        assert!(
            kv.mod_revision >= *revision,
            "{key} went back from {revision} to {}",
            kv.mod_revision
        );
    }

    // Every stored value is whole, and the history has no gaps and no half-written rows.
    let listed = step("list hangs", store.list("/crash/", ListOptions::default()))
        .await
        .expect("list");
    for kv in &listed.items {
        verify_value(&kv.key, &kv.value).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut stream = step("watch hangs", store.watch("/crash/", 1))
        .await
        .expect("watch from 1");
    let mut expected = 2;
    while expected <= current {
        let event = step("history replay stalls", stream.next()).await;
        let event = event.expect("watch ended").expect("watch failed");
        assert_eq!(
            event.revision(),
            expected,
            "the revision history has a gap or disorder"
        );
        if event.kind == EventKind::Put {
            verify_value(&event.kv.key, &event.kv.value).unwrap_or_else(|e| panic!("{e}"));
        }
        expected += 1;
    }
    let next = step("create hangs", store.create("/after/crash", b"x".to_vec()))
        .await
        .expect("create");
    assert_eq!(
        next.mod_revision,
        current + 1,
        "writes after a crash continue the sequence"
    );
}

/// The crash child: a no-op unless [`CRASH_CHILD_DB`] is set, in which case it writes (creates,
/// CAS updates, deletes) from many tasks and prints `ACK <op> <key> <revision>` after each
/// acknowledged write, until it is killed.
#[test]
fn sqlite_crash_child_writes_until_killed() {
    let Some(path) = std::env::var_os(CRASH_CHILD_DB) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("building the child runtime");
    runtime.block_on(async move {
        let store =
            Arc::new(SqliteBackend::open(Path::new(&path)).expect("child opening the store"));
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..16 {
            tasks.spawn(child_writer(store.clone(), t));
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("a child writer failed");
        }
    });
}

/// Print one acknowledgement; if the parent is gone, stop the whole child.
fn ack(op: &str, key: &str, revision: Revision) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "ACK {op} {key} {revision}")
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

async fn child_writer(store: Arc<SqliteBackend>, t: u64) {
    let shared = format!("/crash/shared/{t:02}");
    let mut shared_rev = None;
    // Bounded so an orphaned child cannot run forever.
    for n in 0..200_000u64 {
        let key = format!("/crash/w{t:02}/{n:07}");
        let kv = store
            .create(&key, sealed_value(&key, n))
            .await
            .expect("child create");
        ack("create", &key, kv.mod_revision);
        if n % 3 == 0 {
            let kv = match shared_rev {
                None => store.create(&shared, sealed_value(&shared, n)).await,
                Some(rev) => store.update(&shared, sealed_value(&shared, n), rev).await,
            }
            .expect("child shared write");
            ack(
                if shared_rev.is_none() {
                    "create"
                } else {
                    "update"
                },
                &shared,
                kv.mod_revision,
            );
            shared_rev = Some(kv.mod_revision);
        }
        if n % 5 == 0 {
            let tmp = format!("/crash/tmp/{t:02}/{n:07}");
            let kv = store
                .create(&tmp, sealed_value(&tmp, n))
                .await
                .expect("child tmp create");
            ack("create", &tmp, kv.mod_revision);
            let gone = store
                .delete(&tmp, Some(kv.mod_revision))
                .await
                .expect("child delete");
            ack("delete", &tmp, gone.revision());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Migration between backends.

/// Writes a history with gaps (updates, deletes) and returns the live keys with their
/// revisions.
async fn history(source: &dyn Backend) -> BTreeMap<String, (Revision, Vec<u8>)> {
    for i in 0..30 {
        source
            .create(
                &format!("/registry/core/configmaps/default/c{i:02}"),
                vec![i as u8],
            )
            .await
            .expect("create");
    }
    for i in (0..30).step_by(3) {
        let key = format!("/registry/core/configmaps/default/c{i:02}");
        let kv = source.get(&key, 0).await.expect("get").expect("present");
        source
            .update(&key, vec![100 + i as u8], kv.mod_revision)
            .await
            .expect("update");
    }
    for i in (1..30).step_by(7) {
        source
            .delete(&format!("/registry/core/configmaps/default/c{i:02}"), None)
            .await
            .expect("delete");
    }
    let list = source
        .list("/", ListOptions::default())
        .await
        .expect("list");
    list.items
        .into_iter()
        .map(|kv| (kv.key, (kv.mod_revision, kv.value)))
        .collect()
}

async fn assert_migrated(target: &dyn Backend, want: &BTreeMap<String, (Revision, Vec<u8>)>) {
    let got: BTreeMap<String, (Revision, Vec<u8>)> = target
        .list("/", ListOptions::default())
        .await
        .expect("list the target")
        .items
        .into_iter()
        .map(|kv| (kv.key, (kv.mod_revision, kv.value)))
        .collect();
    assert_eq!(&got, want, "every key, value and revision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrating_memory_to_sqlite_keeps_every_key_and_revision() {
    let source = MemoryBackend::new();
    let want = history(&source).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let target = SqliteBackend::open(&dir.path().join("state.db")).expect("sqlite");
    let mut calls = 0;
    let report = store::migrate(&source, &target, |_, _| calls += 1)
        .await
        .expect("migrate");
    assert_eq!(report.keys, want.len() as u64);
    assert_eq!(calls, want.len());
    assert!(report.exact_revisions, "{report:?}");
    assert!(
        report.padding_writes > 0,
        "the gaps were padded: {report:?}"
    );
    assert_migrated(&target, &want).await;
    // The history ended in deletes after the last live key; the target is not behind the
    // source all the same, and the history it never received is compacted, not served.
    let source_revision = source.current_revision().await.expect("revision");
    assert_eq!(report.source_revision, source_revision);
    assert!(report.target_revision >= source_revision, "{report:?}");
    assert_eq!(
        target.current_revision().await.expect("revision"),
        report.target_revision
    );
    match target.watch("/", 1).await {
        Err(store::Error::Compacted { .. }) => {}
        Err(other) => panic!("a watch from before the move: expected Compacted, got {other}"),
        Ok(_) => panic!("a watch from before the move was served a history the copy never had"),
    }
    // A second migration into the now non-empty store is refused.
    let err = store::migrate(&source, &target, |_, _| {})
        .await
        .expect_err("a non-empty target");
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[cfg(feature = "etcd")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrating_sqlite_to_etcd_keeps_every_key_and_revision() {
    let Some(mut etcd) = EtcdProcess::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let source = SqliteBackend::open(&dir.path().join("state.db")).expect("sqlite");
    let want = history(&source).await;
    let target = etcd.connect("").await;
    let report = step("migrate", store::migrate(&source, &target, |_, _| {}))
        .await
        .expect("migrate");
    assert!(report.exact_revisions, "{report:?}");
    assert_migrated(&target, &want).await;
}
