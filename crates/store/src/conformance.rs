//! The one conformance suite every [`Backend`] must pass (memory, SQLite, and any future etcd
//! backend): etcd v3 semantics for writes, revisions, reads at a revision, paging, watch and
//! compaction.
//!
//! Each case takes a fresh, empty backend and panics with a message naming the case and the
//! broken rule. A backend's test calls [`run_all`] with a function making fresh backends; the
//! cases are listed once, in [`CASES`]. Cases assume they are the only writer, but never assume
//! absolute revision numbers (etcd starts at revision 1, the in-tree backends at 0).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};

use crate::{Backend, Error, Event, EventKind, KeyValue, ListOptions, Revision, WatchStream};

/// One conformance case: runs against a fresh backend and panics on a violation.
pub type Case = fn(Arc<dyn Backend>) -> BoxFuture<'static, ()>;

/// Longest wait for any single step (a write, a read, a watch event) before declaring it hung.
const STEP: Duration = Duration::from_secs(60);
/// Longest a whole case may take before [`run_all`] declares it hung.
const CASE: Duration = Duration::from_secs(300);

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        /// Every conformance case, by name, in the order [`run_all`] runs them.
        pub const CASES: &[(&str, Case)] = &[$((stringify!($name), |b| $name(b).boxed())),*];
    };
}

cases![
    create_then_get_returns_the_stored_version,
    update_succeeds_only_with_the_current_revision,
    delete_honours_the_expected_revision_and_returns_the_previous_value,
    every_successful_write_advances_the_revision_by_exactly_one,
    list_by_prefix_isolates_sibling_prefixes,
    list_at_an_older_revision_sees_keys_as_they_were,
    list_pages_with_limit_after_more_and_remaining,
    get_at_a_revision_returns_the_version_live_then,
    count_counts_live_keys_under_a_prefix,
    reads_above_the_current_revision_answer_future_revision,
    watch_from_zero_sees_only_new_events,
    watch_from_an_older_revision_replays_history_then_continues_live,
    watch_tells_added_from_modified,
    watch_filters_by_prefix,
    watch_from_a_future_revision_waits_for_it,
    concurrent_creates_get_distinct_consecutive_revisions,
    concurrent_cas_updates_on_one_key_lose_nothing,
    watcher_sees_every_concurrent_write_exactly_once_in_order,
    lagging_watcher_still_receives_every_event_in_order,
    compaction_answers_compacted_for_older_reads_and_watches,
    compacting_away_the_newest_write_keeps_the_revision_counter,
];

/// Run every case in [`CASES`], each against a fresh backend from `make`, and panic listing
/// every failed case.
pub async fn run_all<F, Fut, B>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = B>,
    B: Backend,
{
    let mut failures = Vec::new();
    for (name, case) in CASES {
        let backend: Arc<dyn Backend> = Arc::new(make().await);
        let run = tokio::spawn(case(backend));
        match tokio::time::timeout(CASE, run).await {
            Ok(Ok(())) => {}
            Ok(Err(join)) => {
                let why = match join.try_into_panic() {
                    Ok(panic) => panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panicked".to_owned()),
                    Err(join) => join.to_string(),
                };
                failures.push(format!("{name}: {why}"));
            }
            Err(_) => failures.push(format!(
                "{name}: did not finish within {CASE:?} (a write, read or watch hangs)"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} conformance cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Await `fut`, panicking with `what` (the suspected bug) if it does not finish in time.
async fn step<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {STEP:?}: {what}"),
    }
}

async fn current(b: &dyn Backend) -> Revision {
    step("current_revision hangs", b.current_revision())
        .await
        .expect("current_revision failed")
}

async fn create(b: &dyn Backend, key: &str, value: &str) -> KeyValue {
    step(
        &format!("create {key} hangs (writer stuck?)"),
        b.create(key, value.into()),
    )
    .await
    .unwrap_or_else(|e| panic!("create {key} failed: {e}"))
}

async fn update(b: &dyn Backend, key: &str, value: &str, expected: Revision) -> KeyValue {
    step(
        &format!("update {key} hangs (writer stuck?)"),
        b.update(key, value.into(), expected),
    )
    .await
    .unwrap_or_else(|e| panic!("update {key} at {expected} failed: {e}"))
}

async fn delete(b: &dyn Backend, key: &str) -> Event {
    step(
        &format!("delete {key} hangs (writer stuck?)"),
        b.delete(key, None),
    )
    .await
    .unwrap_or_else(|e| panic!("delete {key} failed: {e}"))
}

async fn get(b: &dyn Backend, key: &str, revision: Revision) -> Option<KeyValue> {
    step(&format!("get {key} hangs"), b.get(key, revision))
        .await
        .unwrap_or_else(|e| panic!("get {key} at {revision} failed: {e}"))
}

async fn list(b: &dyn Backend, prefix: &str, opts: ListOptions) -> crate::ListResult {
    step(
        &format!("list {prefix} hangs"),
        b.list(prefix, opts.clone()),
    )
    .await
    .unwrap_or_else(|e| panic!("list {prefix} with {opts:?} failed: {e}"))
}

async fn watch(b: &dyn Backend, prefix: &str, from: Revision) -> WatchStream {
    step(
        &format!("starting a watch of {prefix} from {from} hangs"),
        b.watch(prefix, from),
    )
    .await
    .unwrap_or_else(|e| panic!("watch {prefix} from {from} failed: {e}"))
}

/// The next event, or a panic naming `what` was expected.
async fn next_event(stream: &mut WatchStream, what: &str) -> Event {
    match step(
        &format!("no watch event arrived; expected {what}"),
        stream.next(),
    )
    .await
    {
        Some(Ok(event)) => event,
        Some(Err(e)) => panic!("watch failed while expecting {what}: {e}"),
        None => panic!("watch ended while expecting {what}"),
    }
}

fn keys(items: &[KeyValue]) -> Vec<&str> {
    items.iter().map(|kv| kv.key.as_str()).collect()
}

fn at(revision: Revision) -> ListOptions {
    ListOptions {
        revision,
        ..ListOptions::default()
    }
}

/// Assert that watching `prefix` from `from` answers `Compacted` (at once or as the first item).
async fn assert_watch_compacted(b: &dyn Backend, prefix: &str, from: Revision) {
    match step("watch of compacted history hangs", b.watch(prefix, from)).await {
        Err(Error::Compacted { .. }) => {}
        Err(e) => panic!("watch from compacted revision {from}: expected Compacted, got {e}"),
        Ok(mut stream) => match step("compacted watch never answers", stream.next()).await {
            Some(Err(Error::Compacted { .. })) => {}
            other => {
                panic!("watch from compacted revision {from}: expected Compacted, got {other:?}")
            }
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Writes and revisions

/// create stores the value at the next revision; get returns it; a second create is KeyExists.
pub async fn create_then_get_returns_the_stored_version(b: Arc<dyn Backend>) {
    let b = &*b;
    let r0 = current(b).await;
    assert_eq!(
        get(b, "/c/k", 0).await,
        None,
        "get of a missing key must be None"
    );
    let kv = create(b, "/c/k", "v1").await;
    let want = KeyValue {
        key: "/c/k".into(),
        value: b"v1".to_vec(),
        create_revision: r0 + 1,
        mod_revision: r0 + 1,
    };
    assert_eq!(
        kv, want,
        "create must return the stored version at the next revision"
    );
    assert_eq!(
        get(b, "/c/k", 0).await,
        Some(want.clone()),
        "get must return what create stored"
    );
    match b.create("/c/k", b"v2".to_vec()).await {
        Err(Error::KeyExists(key)) => assert_eq!(key, "/c/k"),
        other => panic!("second create of /c/k: expected KeyExists, got {other:?}"),
    }
    assert_eq!(
        get(b, "/c/k", 0).await,
        Some(want),
        "a failed create must not change the key"
    );
    assert_eq!(
        current(b).await,
        r0 + 1,
        "a failed create must not use a revision"
    );
}

/// update is a compare-and-swap on mod_revision; a stale one is Conflict with the current version.
pub async fn update_succeeds_only_with_the_current_revision(b: Arc<dyn Backend>) {
    let b = &*b;
    match b.update("/u/missing", b"x".to_vec(), 1).await {
        Err(Error::NotFound(key)) => assert_eq!(key, "/u/missing"),
        other => panic!("update of a missing key: expected NotFound, got {other:?}"),
    }
    let v1 = create(b, "/u/k", "v1").await;
    let v2 = update(b, "/u/k", "v2", v1.mod_revision).await;
    assert_eq!(v2.value, b"v2");
    assert_eq!(
        v2.create_revision, v1.create_revision,
        "update must keep create_revision"
    );
    assert_eq!(
        v2.mod_revision,
        v1.mod_revision + 1,
        "update must take the next revision"
    );
    match b.update("/u/k", b"v3".to_vec(), v1.mod_revision).await {
        Err(Error::Conflict {
            key,
            expected,
            current,
        }) => {
            assert_eq!(key, "/u/k");
            assert_eq!(expected, v1.mod_revision);
            assert_eq!(
                current.as_deref(),
                Some(&v2),
                "Conflict must carry the current version"
            );
        }
        other => panic!("stale update: expected Conflict, got {other:?}"),
    }
    assert_eq!(
        get(b, "/u/k", 0).await,
        Some(v2.clone()),
        "a failed update must not write"
    );
    assert_eq!(
        current(b).await,
        v2.mod_revision,
        "a failed update must not use a revision"
    );
}

/// delete checks the expected revision when given, returns the delete event with prev.
pub async fn delete_honours_the_expected_revision_and_returns_the_previous_value(
    b: Arc<dyn Backend>,
) {
    let b = &*b;
    match b.delete("/d/missing", None).await {
        Err(Error::NotFound(key)) => assert_eq!(key, "/d/missing"),
        other => panic!("delete of a missing key: expected NotFound, got {other:?}"),
    }
    let kv = create(b, "/d/k", "v1").await;
    match b.delete("/d/k", Some(kv.mod_revision + 100)).await {
        Err(Error::Conflict { current, .. }) => {
            assert_eq!(
                current.as_deref(),
                Some(&kv),
                "Conflict must carry the current version"
            )
        }
        other => panic!("delete with a wrong revision: expected Conflict, got {other:?}"),
    }
    let event = step("delete hangs", b.delete("/d/k", Some(kv.mod_revision)))
        .await
        .expect("delete with the right revision failed");
    assert_eq!(event.kind, EventKind::Delete);
    assert_eq!(event.kv.key, "/d/k");
    assert!(
        event.kv.value.is_empty(),
        "a delete event's kv carries no value"
    );
    assert_eq!(
        event.kv.mod_revision,
        kv.mod_revision + 1,
        "delete takes the next revision"
    );
    assert_eq!(
        event.prev,
        Some(kv.clone()),
        "a delete event carries the last value as prev"
    );
    assert_eq!(get(b, "/d/k", 0).await, None, "a deleted key must be gone");
    match b.delete("/d/k", None).await {
        Err(Error::NotFound(_)) => {}
        other => panic!("second delete: expected NotFound, got {other:?}"),
    }
    let again = create(b, "/d/k", "v2").await;
    assert_eq!(
        again.create_revision, again.mod_revision,
        "re-created key starts a new life"
    );
    assert_eq!(again.create_revision, event.kv.mod_revision + 1);
    let event = delete(b, "/d/k").await;
    assert_eq!(
        event.prev,
        Some(again),
        "unconditional delete carries prev too"
    );
}

/// Each successful write takes exactly the next revision; failed writes take none.
pub async fn every_successful_write_advances_the_revision_by_exactly_one(b: Arc<dyn Backend>) {
    let b = &*b;
    let r0 = current(b).await;
    let a = create(b, "/r/a", "1").await;
    assert_eq!(a.mod_revision, r0 + 1);
    let a2 = update(b, "/r/a", "2", a.mod_revision).await;
    assert_eq!(a2.mod_revision, r0 + 2);
    let bee = create(b, "/r/b", "1").await;
    assert_eq!(bee.mod_revision, r0 + 3);
    let gone = delete(b, "/r/a").await;
    assert_eq!(gone.revision(), r0 + 4);
    assert!(
        b.create("/r/b", b"x".to_vec()).await.is_err(),
        "create of a live key must fail"
    );
    assert!(
        b.update("/r/a", b"x".to_vec(), a2.mod_revision)
            .await
            .is_err()
    );
    assert!(b.update("/r/b", b"x".to_vec(), r0).await.is_err());
    assert!(b.delete("/r/a", None).await.is_err());
    assert!(b.delete("/r/b", Some(r0)).await.is_err());
    assert_eq!(
        current(b).await,
        r0 + 4,
        "failed writes must not use revisions"
    );
    assert_eq!(create(b, "/r/c", "1").await.mod_revision, r0 + 5);
}

// ---------------------------------------------------------------------------------------------
// Reads

/// A prefix ending in '/' matches its own subtree only; results come in key order.
pub async fn list_by_prefix_isolates_sibling_prefixes(b: Arc<dyn Backend>) {
    let b = &*b;
    for key in [
        "/l/a/2", "/l/ab/1", "/l/a/1", "/l/b/1", "/l/a", "/m/a/1", "/l/a/3",
    ] {
        create(b, key, key).await;
    }
    delete(b, "/l/a/3").await;
    let now = current(b).await;
    let res = list(b, "/l/a/", ListOptions::default()).await;
    assert_eq!(
        keys(&res.items),
        ["/l/a/1", "/l/a/2"],
        "/l/a/ must not match /l/ab/ or /l/a"
    );
    assert_eq!(
        res.revision, now,
        "a list at revision 0 reports the current revision"
    );
    assert!(!res.more);
    assert_eq!(res.remaining, 0);
    assert_eq!(res.items[0].value, b"/l/a/1");
    let res = list(b, "/l/ab/", ListOptions::default()).await;
    assert_eq!(keys(&res.items), ["/l/ab/1"]);
    let res = list(b, "/l/", ListOptions::default()).await;
    assert_eq!(
        keys(&res.items),
        ["/l/a", "/l/a/1", "/l/a/2", "/l/ab/1", "/l/b/1"]
    );
    let res = list(b, "/nothing/", ListOptions::default()).await;
    assert!(res.items.is_empty(), "an unused prefix lists nothing");
    assert_eq!(res.revision, now);
}

/// A list at an older revision returns the keys (and values) live then, deleted ones included.
pub async fn list_at_an_older_revision_sees_keys_as_they_were(b: Arc<dyn Backend>) {
    let b = &*b;
    let a = create(b, "/o/a", "a1").await;
    let bee = create(b, "/o/b", "b1").await;
    let then = current(b).await;
    update(b, "/o/a", "a2", a.mod_revision).await;
    delete(b, "/o/b").await;
    create(b, "/o/c", "c1").await;
    let old = list(b, "/o/", at(then)).await;
    assert_eq!(
        old.revision, then,
        "the list must be served at the asked revision"
    );
    assert_eq!(
        old.items,
        vec![a, bee],
        "the old list must show /o/a's old value and /o/b"
    );
    let now = list(b, "/o/", ListOptions::default()).await;
    assert_eq!(keys(&now.items), ["/o/a", "/o/c"]);
    assert_eq!(now.items[0].value, b"a2");
}

/// limit cuts a list; `after` continues it; `more`/`remaining` report what is left.
pub async fn list_pages_with_limit_after_more_and_remaining(b: Arc<dyn Backend>) {
    let b = &*b;
    for i in 0..10 {
        create(b, &format!("/p/{i:02}"), "x").await;
    }
    create(b, "/q/outside", "x").await;
    delete(b, "/p/05").await;
    let page = |after: Option<&str>, revision| ListOptions {
        revision,
        limit: 4,
        after: after.map(str::to_owned),
        skip_count: false,
    };
    let first = list(b, "/p/", page(None, 0)).await;
    assert_eq!(keys(&first.items), ["/p/00", "/p/01", "/p/02", "/p/03"]);
    assert!(first.more, "a cut list must say more");
    assert_eq!(
        first.remaining, 5,
        "remaining counts live keys after the page"
    );
    // A write between pages must not show up in later pages served at the first's revision.
    create(b, "/p/045", "x").await;
    let second = list(b, "/p/", page(Some("/p/03"), first.revision)).await;
    assert_eq!(keys(&second.items), ["/p/04", "/p/06", "/p/07", "/p/08"]);
    assert!(second.more);
    assert_eq!(second.remaining, 1);
    assert_eq!(second.revision, first.revision);
    // Without the count, the same page and the same `more`.
    let uncounted = list(
        b,
        "/p/",
        ListOptions {
            skip_count: true,
            ..page(Some("/p/03"), first.revision)
        },
    )
    .await;
    assert_eq!(keys(&uncounted.items), keys(&second.items));
    assert!(uncounted.more, "a cut list says more without counting");
    let uncounted_last = list(
        b,
        "/p/",
        ListOptions {
            skip_count: true,
            ..page(Some("/p/08"), first.revision)
        },
    )
    .await;
    assert_eq!(keys(&uncounted_last.items), ["/p/09"]);
    assert!(!uncounted_last.more);
    let third = list(b, "/p/", page(Some("/p/08"), first.revision)).await;
    assert_eq!(keys(&third.items), ["/p/09"]);
    assert!(!third.more, "the last page must not say more");
    assert_eq!(third.remaining, 0);
    let exact = list(
        b,
        "/p/",
        ListOptions {
            limit: 10,
            ..at(first.revision)
        },
    )
    .await;
    assert_eq!(exact.items.len(), 9);
    assert!(
        !exact.more,
        "a limit equal to the count leaves nothing more"
    );
    let all = list(b, "/p/", ListOptions::default()).await;
    assert_eq!(all.items.len(), 10, "limit 0 lists everything");
    assert!(!all.more);
    let past = list(b, "/p/", page(Some("/p/99"), 0)).await;
    assert!(past.items.is_empty() && !past.more);
    let before = list(b, "/p/", page(Some("/a"), 0)).await;
    assert_eq!(
        keys(&before.items),
        ["/p/00", "/p/01", "/p/02", "/p/03"],
        "after below the prefix"
    );
}

/// get at a revision returns the version live at that revision.
pub async fn get_at_a_revision_returns_the_version_live_then(b: Arc<dyn Backend>) {
    let b = &*b;
    create(b, "/g/filler", "x").await;
    let v1 = create(b, "/g/k", "v1").await;
    let v2 = update(b, "/g/k", "v2", v1.mod_revision).await;
    let gone = delete(b, "/g/k").await;
    let v3 = create(b, "/g/k", "v3").await;
    create(b, "/g/other", "x").await;
    assert_eq!(
        get(b, "/g/k", v1.mod_revision - 1).await,
        None,
        "before creation"
    );
    assert_eq!(get(b, "/g/k", v1.mod_revision).await, Some(v1.clone()));
    assert_eq!(get(b, "/g/k", v2.mod_revision).await, Some(v2.clone()));
    assert_eq!(
        get(b, "/g/k", gone.revision()).await,
        None,
        "deleted at that revision"
    );
    assert_eq!(get(b, "/g/k", v3.mod_revision).await, Some(v3.clone()));
    assert_eq!(get(b, "/g/k", 0).await, Some(v3), "revision 0 means now");
}

/// count counts live keys under a prefix now.
pub async fn count_counts_live_keys_under_a_prefix(b: Arc<dyn Backend>) {
    let b = &*b;
    for key in ["/n/a/1", "/n/a/2", "/n/a/3", "/n/ab/1"] {
        create(b, key, "x").await;
    }
    delete(b, "/n/a/2").await;
    let count = |prefix: &'static str| async move {
        step("count hangs", b.count(prefix))
            .await
            .expect("count failed")
    };
    assert_eq!(count("/n/a/").await, 2);
    assert_eq!(count("/n/").await, 3);
    assert_eq!(count("/zzz/").await, 0);
}

/// Reads at a revision above the current one answer FutureRevision.
pub async fn reads_above_the_current_revision_answer_future_revision(b: Arc<dyn Backend>) {
    let b = &*b;
    create(b, "/f/k", "x").await;
    let now = current(b).await;
    match b.get("/f/k", now + 1).await {
        Err(Error::FutureRevision { requested, current }) => {
            assert_eq!((requested, current), (now + 1, now))
        }
        other => panic!("get above the current revision: expected FutureRevision, got {other:?}"),
    }
    match b.list("/f/", at(now + 5)).await {
        Err(Error::FutureRevision { .. }) => {}
        other => panic!("list above the current revision: expected FutureRevision, got {other:?}"),
    }
    assert!(
        get(b, "/f/k", now).await.is_some(),
        "the current revision itself is readable"
    );
}

// ---------------------------------------------------------------------------------------------
// Watch

/// A watch from 0 starts now: it delivers later changes only.
pub async fn watch_from_zero_sees_only_new_events(b: Arc<dyn Backend>) {
    let b = &*b;
    create(b, "/w/old", "x").await;
    let mut stream = watch(b, "/w/", 0).await;
    let new = create(b, "/w/new", "y").await;
    let event = next_event(
        &mut stream,
        "the create of /w/new (watch from 0 replayed history?)",
    )
    .await;
    assert_eq!(
        event.kv, new,
        "watch from 0 must skip /w/old and deliver /w/new"
    );
    assert_eq!(event.kind, EventKind::Put);
    assert_eq!(event.prev, None);
}

/// A watch from an older revision replays history in order (with prev values), then goes live.
pub async fn watch_from_an_older_revision_replays_history_then_continues_live(b: Arc<dyn Backend>) {
    let b = &*b;
    create(b, "/x/filler", "x").await;
    let r0 = current(b).await;
    let a1 = create(b, "/h/a", "a1").await;
    let a2 = update(b, "/h/a", "a2", a1.mod_revision).await;
    let gone = delete(b, "/h/a").await;
    let b1 = create(b, "/h/b", "b1").await;

    let mut stream = watch(b, "/h/", r0).await;
    let e = next_event(&mut stream, "replay of the create of /h/a").await;
    assert_eq!((e.kind, &e.kv, &e.prev), (EventKind::Put, &a1, &None));
    let e = next_event(&mut stream, "replay of the update of /h/a").await;
    assert_eq!((e.kind, &e.kv), (EventKind::Put, &a2));
    assert_eq!(
        e.prev,
        Some(a1),
        "an update event carries the previous version"
    );
    let e = next_event(&mut stream, "replay of the delete of /h/a").await;
    assert_eq!(e.kind, EventKind::Delete);
    assert_eq!(e.kv.key, "/h/a");
    assert_eq!(e.kv.mod_revision, gone.revision());
    assert!(e.kv.value.is_empty());
    assert_eq!(
        e.prev,
        Some(a2.clone()),
        "a delete event carries the last value"
    );
    let e = next_event(&mut stream, "replay of the create of /h/b").await;
    assert_eq!(e.kv, b1);
    let b2 = update(b, "/h/b", "b2", b1.mod_revision).await;
    let e = next_event(&mut stream, "the live update of /h/b after the replay").await;
    assert_eq!(e.kv, b2);
    assert_eq!(e.prev, Some(b1));

    let mut later = watch(b, "/h/", a2.mod_revision).await;
    let e = next_event(&mut later, "replay starting after the update of /h/a").await;
    assert_eq!(
        e.revision(),
        gone.revision(),
        "watch from R starts strictly after R"
    );
}

/// ADDED and MODIFIED are told apart by create_revision == mod_revision.
pub async fn watch_tells_added_from_modified(b: Arc<dyn Backend>) {
    let b = &*b;
    let mut stream = watch(b, "/am/", 0).await;
    let kv = create(b, "/am/k", "1").await;
    update(b, "/am/k", "2", kv.mod_revision).await;
    let added = next_event(&mut stream, "the create of /am/k").await;
    assert_eq!(added.kind, EventKind::Put);
    assert_eq!(
        added.kv.create_revision, added.kv.mod_revision,
        "a create looks like ADDED"
    );
    assert_eq!(added.prev, None);
    let modified = next_event(&mut stream, "the update of /am/k").await;
    assert_eq!(modified.kind, EventKind::Put);
    assert!(
        modified.kv.create_revision < modified.kv.mod_revision,
        "an update looks MODIFIED"
    );
}

/// A watch delivers only keys under its prefix, live and from history.
pub async fn watch_filters_by_prefix(b: Arc<dyn Backend>) {
    let b = &*b;
    // A filler write so `r0` is a real revision (a watch from 0 would mean "from now").
    create(b, "/x/filler", "x").await;
    let r0 = current(b).await;
    let mut live = watch(b, "/fw/a/", 0).await;
    for key in ["/fw/ab/x", "/fw/b/y", "/fw/a", "/fw/a/z"] {
        create(b, key, "v").await;
    }
    let e = next_event(&mut live, "the create of /fw/a/z").await;
    assert_eq!(
        e.kv.key, "/fw/a/z",
        "a watch must skip keys outside its prefix"
    );
    let mut replay = watch(b, "/fw/a/", r0).await;
    let e = next_event(&mut replay, "the replayed create of /fw/a/z").await;
    assert_eq!(
        e.kv.key, "/fw/a/z",
        "a replay must skip keys outside its prefix"
    );
}

/// A watch from a revision above the current one waits and delivers what comes after it.
pub async fn watch_from_a_future_revision_waits_for_it(b: Arc<dyn Backend>) {
    let b = &*b;
    let now = current(b).await;
    let mut stream = watch(b, "/fut/", now + 2).await;
    create(b, "/fut/1", "x").await;
    create(b, "/fut/2", "x").await;
    let third = create(b, "/fut/3", "x").await;
    let e = next_event(&mut stream, "the first write after the future revision").await;
    assert_eq!(
        e.kv, third,
        "a watch from R delivers only revisions above R"
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency

/// Concurrent creates all succeed, each with its own revision, with no gaps.
pub async fn concurrent_creates_get_distinct_consecutive_revisions(b: Arc<dyn Backend>) {
    const TASKS: usize = 16;
    const EACH: usize = 50;
    let r0 = current(&*b).await;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let b = b.clone();
        tasks.spawn(async move {
            let mut revisions = Vec::new();
            for i in 0..EACH {
                revisions.push(
                    create(&*b, &format!("/cc/{t:02}/{i:03}"), "x")
                        .await
                        .mod_revision,
                );
            }
            revisions
        });
    }
    let mut revisions = Vec::new();
    while let Some(done) = step("a concurrent creator hangs", tasks.join_next()).await {
        revisions.extend(done.expect("a concurrent creator failed"));
    }
    revisions.sort_unstable();
    let total = (TASKS * EACH) as Revision;
    let want: Vec<Revision> = (r0 + 1..=r0 + total).collect();
    assert_eq!(
        revisions, want,
        "concurrent creates must take consecutive, distinct revisions"
    );
    assert_eq!(current(&*b).await, r0 + total);
    let count = step("count hangs", b.count("/cc/"))
        .await
        .expect("count failed");
    assert_eq!(
        count, total as u64,
        "every concurrent create must be stored"
    );
}

/// Concurrent compare-and-swap increments: every success advances the revision, none is lost.
pub async fn concurrent_cas_updates_on_one_key_lose_nothing(b: Arc<dyn Backend>) {
    const TASKS: usize = 8;
    const EACH: usize = 25;
    let start = create(&*b, "/cas/counter", "0").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let b = b.clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            let mut seen = get(&*b, "/cas/counter", 0).await.expect("counter vanished");
            for _ in 0..EACH {
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    assert!(attempts < 100_000, "CAS retry livelock on /cas/counter");
                    let n: u64 = String::from_utf8_lossy(&seen.value)
                        .parse()
                        .expect("counter");
                    let next = (n + 1).to_string();
                    match step(
                        "CAS update hangs",
                        b.update("/cas/counter", next.into(), seen.mod_revision),
                    )
                    .await
                    {
                        Ok(kv) => {
                            mine.push(kv.mod_revision);
                            seen = kv;
                            break;
                        }
                        Err(Error::Conflict {
                            current: Some(current),
                            ..
                        }) => seen = *current,
                        Err(e) => panic!("CAS update failed unexpectedly: {e}"),
                    }
                }
            }
            mine
        });
    }
    let mut revisions = Vec::new();
    while let Some(done) = step("a CAS task hangs", tasks.join_next()).await {
        revisions.extend(done.expect("a CAS task failed"));
    }
    revisions.sort_unstable();
    let total = (TASKS * EACH) as Revision;
    let want: Vec<Revision> = (start.mod_revision + 1..=start.mod_revision + total).collect();
    assert_eq!(
        revisions, want,
        "only successful updates take revisions, each exactly one"
    );
    let end = get(&*b, "/cas/counter", 0).await.expect("counter vanished");
    assert_eq!(
        end.value,
        total.to_string().into_bytes(),
        "an increment was lost"
    );
    assert_eq!(end.create_revision, start.create_revision);
}

/// A watcher started before concurrent writes gets every one exactly once, in revision order.
pub async fn watcher_sees_every_concurrent_write_exactly_once_in_order(b: Arc<dyn Backend>) {
    const TASKS: usize = 16;
    const EACH: usize = 25;
    let mut stream = watch(&*b, "/cw/", 0).await;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let b = b.clone();
        tasks.spawn(async move {
            let mut acked = Vec::new();
            for i in 0..EACH {
                let key = format!("/cw/{t:02}/{i:03}");
                let kv = create(&*b, &key, "1").await;
                acked.push((kv.mod_revision, key.clone()));
                if i % 5 == 0 {
                    let kv = update(&*b, &key, "2", kv.mod_revision).await;
                    acked.push((kv.mod_revision, key.clone()));
                }
                create(&*b, &format!("/other/{t:02}/{i:03}"), "x").await;
            }
            acked
        });
    }
    let mut acked = BTreeMap::new();
    while let Some(done) = step("a concurrent writer hangs", tasks.join_next()).await {
        acked.extend(done.expect("a concurrent writer failed"));
    }
    let sentinel = create(&*b, "/cw/~sentinel", "end").await;
    let mut seen = BTreeMap::new();
    let mut last = 0;
    loop {
        let e = next_event(&mut stream, "a concurrent write (an event was lost?)").await;
        assert!(
            e.revision() > last,
            "events out of order: {} after {last}",
            e.revision()
        );
        last = e.revision();
        if e.kv.key == sentinel.key {
            break;
        }
        assert!(
            e.kv.key.starts_with("/cw/"),
            "event outside the prefix: {}",
            e.kv.key
        );
        assert!(
            seen.insert(e.revision(), e.kv.key).is_none(),
            "duplicate event"
        );
    }
    assert_eq!(
        seen, acked,
        "the watch must deliver exactly the acknowledged writes"
    );
}

/// A watcher that stops reading while many writes happen still gets all of them, in order.
pub async fn lagging_watcher_still_receives_every_event_in_order(b: Arc<dyn Backend>) {
    const TASKS: usize = 64;
    const EACH: usize = 40;
    let mut stream = watch(&*b, "/lag/", 0).await;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let b = b.clone();
        tasks.spawn(async move {
            for i in 0..EACH {
                create(&*b, &format!("/lag/{t:02}/{i:03}"), "x").await;
            }
        });
    }
    while let Some(done) = step("a writer hangs", tasks.join_next()).await {
        done.expect("a writer failed");
    }
    let sentinel = create(&*b, "/lag/~sentinel", "end").await;
    let mut keys = BTreeSet::new();
    let mut last = 0;
    loop {
        let e = next_event(&mut stream, "an event the lagging watcher must recover").await;
        assert!(
            e.revision() > last,
            "events out of order: {} after {last}",
            e.revision()
        );
        last = e.revision();
        if e.kv.key == sentinel.key {
            break;
        }
        assert!(keys.insert(e.kv.key), "duplicate event");
    }
    assert_eq!(keys.len(), TASKS * EACH, "a lagging watcher lost events");
}

// ---------------------------------------------------------------------------------------------
// Compaction

/// After compact(C): reads before C and watches from before C answer Compacted; the state at C,
/// later history and the current revision are intact.
pub async fn compaction_answers_compacted_for_older_reads_and_watches(b: Arc<dyn Backend>) {
    let b = &*b;
    create(b, "/x/filler", "x").await;
    let keep1 = create(b, "/cp/keep", "k1").await;
    let gone = create(b, "/cp/gone", "g1").await;
    let keep2 = update(b, "/cp/keep", "k2", keep1.mod_revision).await;
    let old = create(b, "/cp/old", "o1").await;
    let gone_at = delete(b, "/cp/gone").await.revision();
    let late = create(b, "/cp/late", "l1").await;
    let now = current(b).await;
    let c = gone_at;

    step("compact hangs", b.compact(c))
        .await
        .expect("compact failed");
    let compacted = step("compacted_revision hangs", b.compacted_revision()).await;
    assert_eq!(compacted.expect("compacted_revision failed"), c);
    assert_eq!(
        current(b).await,
        now,
        "compaction must not change the current revision"
    );

    match b.get("/cp/keep", keep1.mod_revision).await {
        Err(Error::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!((requested, compacted), (keep1.mod_revision, c))
        }
        other => panic!("get before the compacted revision: expected Compacted, got {other:?}"),
    }
    match b.list("/cp/", at(c - 1)).await {
        Err(Error::Compacted { .. }) => {}
        other => panic!("list before the compacted revision: expected Compacted, got {other:?}"),
    }
    assert_watch_compacted(b, "/cp/", c - 1).await;
    assert_watch_compacted(b, "/cp/", gone.mod_revision).await;

    assert_eq!(
        get(b, "/cp/keep", c).await,
        Some(keep2.clone()),
        "state at C must survive"
    );
    assert_eq!(get(b, "/cp/gone", c).await, None);
    let at_c = list(b, "/cp/", at(c)).await;
    assert_eq!(
        at_c.items,
        vec![keep2.clone(), old.clone()],
        "the list at C must survive"
    );
    let now_list = list(b, "/cp/", ListOptions::default()).await;
    assert_eq!(keys(&now_list.items), ["/cp/keep", "/cp/late", "/cp/old"]);

    let mut stream = watch(b, "/cp/", c).await;
    let e = next_event(
        &mut stream,
        "the create of /cp/late after the compacted revision",
    )
    .await;
    assert_eq!(e.kv, late, "a watch from C must replay history after C");
    let keep3 = update(b, "/cp/keep", "k3", keep2.mod_revision).await;
    let e = next_event(&mut stream, "the update of /cp/keep after compaction").await;
    assert_eq!(e.kv, keep3);
    assert_eq!(
        e.prev,
        Some(keep2),
        "prev of a version written before C must survive"
    );
    let removed = delete(b, "/cp/old").await;
    assert_eq!(removed.prev, Some(old.clone()));
    let e = next_event(&mut stream, "the delete of /cp/old after compaction").await;
    assert_eq!(e.kind, EventKind::Delete);
    assert_eq!(
        e.prev,
        Some(old),
        "the delete event of a key written before C carries prev"
    );
    assert_eq!(
        e.revision(),
        now + 2,
        "writes continue the revision sequence after compaction"
    );

    match b.compact(now + 100).await {
        Err(Error::FutureRevision { .. }) => {}
        other => {
            panic!("compact above the current revision: expected FutureRevision, got {other:?}")
        }
    }
}

/// Compaction may drop the newest row (a delete tombstone); the revision counter must not move.
pub async fn compacting_away_the_newest_write_keeps_the_revision_counter(b: Arc<dyn Backend>) {
    let b = &*b;
    create(b, "/t/a", "x").await;
    let gone = delete(b, "/t/a").await;
    let now = current(b).await;
    assert_eq!(now, gone.revision());
    step("compact hangs", b.compact(now))
        .await
        .expect("compact at the current revision failed");
    assert_eq!(
        current(b).await,
        now,
        "compaction must not move the current revision back"
    );
    assert_eq!(get(b, "/t/a", 0).await, None);
    let list_now = list(b, "/t/", ListOptions::default()).await;
    assert!(list_now.items.is_empty());
    assert_eq!(list_now.revision, now);
    let mut stream = watch(b, "/t/", now).await;
    let next = create(b, "/t/a", "y").await;
    assert_eq!(
        next.mod_revision,
        now + 1,
        "the next write takes the next revision"
    );
    let e = next_event(&mut stream, "the re-create of /t/a after compaction").await;
    assert_eq!(e.kv, next);
}
