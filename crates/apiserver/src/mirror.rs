//! Live copies of the few small resources admission reads on every create (namespaces,
//! service accounts, priority classes), as kube-apiserver's admission plugins read them from
//! informers rather than from etcd.
//!
//! A [`Mirror`] lists its prefix, then follows it with a store watch. This server's own writes
//! are applied as they succeed, so a client that creates a namespace or a service account and
//! then a pod in it is admitted against what it just wrote; writes of other servers sharing
//! the store arrive through the watch. An entry is replaced only by a newer revision, whichever
//! way it arrives. Until the first list is in, and after the watch fails until the relist, the
//! mirror answers nothing and callers read the store, as they do for a key it does not hold.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use api::ResourceInfo;
use futures::StreamExt;
use serde_json::Value;
use store::{Backend, EventKind, KeyValue, ListOptions, Revision};
use tokio_util::sync::CancellationToken;

use crate::codec;

/// How long the mirror waits before listing again after its watch failed.
const RELIST_DELAY: Duration = Duration::from_millis(500);

/// The stored objects of one resource, kept current.
#[derive(Debug)]
pub(crate) struct Mirror {
    info: ResourceInfo,
    prefix: String,
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    synced: bool,
    entries: HashMap<String, Entry>,
}

/// A key's newest known version: its object, or `None` once deleted (kept until the watch
/// delivers that delete, so an older event cannot bring the object back).
#[derive(Debug, Clone)]
struct Entry {
    revision: Revision,
    object: Option<Arc<Value>>,
}

impl Mirror {
    /// A mirror of `info`'s objects (not filled until [`Mirror::run`] has listed them).
    pub(crate) fn new(info: ResourceInfo) -> Mirror {
        let prefix = info.key_prefix();
        Mirror {
            info,
            prefix,
            state: RwLock::new(State::default()),
        }
    }

    /// The object at `key`, when the mirror is filled and holds it.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<Value>> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        if !state.synced {
            return None;
        }
        state.entries.get(key)?.object.clone()
    }

    /// Every object, when the mirror is filled.
    pub(crate) fn objects(&self) -> Option<Vec<Arc<Value>>> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state.synced.then(|| {
            state
                .entries
                .values()
                .filter_map(|e| e.object.clone())
                .collect()
        })
    }

    /// Whether `key` is one of this mirror's.
    pub(crate) fn holds(&self, key: &str) -> bool {
        key.starts_with(&self.prefix)
    }

    /// Applies a stored version of one of its keys (a write of this server, or a watch event).
    /// The watch brings this server's own writes again: those are not decoded twice.
    pub(crate) fn put(&self, kv: &KeyValue) {
        if !self.is_newer(&kv.key, kv.mod_revision) {
            return;
        }
        let Ok(object) = codec::decode(&self.info, kv) else {
            return;
        };
        self.offer(&kv.key, kv.mod_revision, Some(Arc::new(object)));
    }

    /// Applies a delete of this server's at `revision`.
    pub(crate) fn deleted(&self, key: &str, revision: Revision) {
        self.offer(key, revision, None);
    }

    fn is_newer(&self, key: &str, revision: Revision) -> bool {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state.entries.get(key).is_none_or(|e| e.revision < revision)
    }

    /// Records `object` (`None`: deleted) as `key`'s version at `revision` unless a newer one
    /// is known.
    fn offer(&self, key: &str, revision: Revision, object: Option<Arc<Value>>) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.entries.get(key).is_none_or(|e| e.revision < revision) {
            state
                .entries
                .insert(key.to_string(), Entry { revision, object });
        }
    }

    /// Applies a delete the watch delivered: the key goes, unless a newer version is known.
    fn watched_delete(&self, key: &str, revision: Revision) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state
            .entries
            .get(key)
            .is_some_and(|e| e.revision <= revision)
        {
            state.entries.remove(key);
        }
    }

    /// Replaces the entries with a list at `revision`, keeping versions newer than it.
    fn fill(&self, items: Vec<KeyValue>, revision: Revision) {
        let mut entries = HashMap::with_capacity(items.len());
        for kv in &items {
            if let Ok(object) = codec::decode(&self.info, kv) {
                entries.insert(
                    kv.key.clone(),
                    Entry {
                        revision: kv.mod_revision,
                        object: Some(Arc::new(object)),
                    },
                );
            }
        }
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        for (key, entry) in state.entries.drain() {
            if entry.revision > revision {
                entries.insert(key, entry);
            }
        }
        state.entries = entries;
        state.synced = true;
    }

    /// Marks the mirror filled (and empty) without a store, for tests of what writes do.
    #[cfg(test)]
    pub(crate) fn fill_for_test(&self) {
        self.fill(Vec::new(), 0);
    }

    fn unsync(&self) {
        self.state.write().unwrap_or_else(|e| e.into_inner()).synced = false;
    }

    /// Lists, then follows the store until `shutdown`; lists again when the watch fails.
    pub(crate) async fn run(self: Arc<Self>, store: Arc<dyn Backend>, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.follow(&*store, &shutdown).await {
                tracing::debug!(prefix = %self.prefix, %error, "mirror watch ended; listing again");
            }
            self.unsync();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(RELIST_DELAY) => {}
            }
        }
    }

    /// One list and the watch after it; returns when the watch fails (never `Ok` before
    /// `shutdown`).
    async fn follow(&self, store: &dyn Backend, shutdown: &CancellationToken) -> store::Result<()> {
        let list = store.list(&self.prefix, ListOptions::default()).await?;
        let mut watch = store.watch(&self.prefix, list.revision).await?;
        self.fill(list.items, list.revision);
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                event = watch.next() => event,
            };
            let event = event.ok_or(store::Error::Closed)??;
            match event.kind {
                EventKind::Put => self.put(&event.kv),
                EventKind::Delete => self.watched_delete(&event.kv.key, event.revision()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ResourceInfo {
        api::resources::builtin()
            .into_iter()
            .find(|r| r.group.is_empty() && r.plural == "namespaces")
            .expect("namespaces")
    }

    fn kv(key: &str, revision: Revision, phase: &str) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: serde_json::to_vec(&serde_json::json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": key.rsplit('/').next()},
                "status": {"phase": phase}}))
            .expect("json"),
            create_revision: revision,
            mod_revision: revision,
        }
    }

    fn phase(m: &Mirror, key: &str) -> Option<String> {
        m.get(key)
            .and_then(|o| o["status"]["phase"].as_str().map(str::to_string))
    }

    #[test]
    fn answers_nothing_until_filled_and_only_newer_versions_replace_entries() {
        let m = Mirror::new(info());
        let key = "/registry/core/namespaces/a";
        assert!(m.holds(key) && !m.holds("/registry/core/pods/a/p"));
        m.put(&kv(key, 5, "Active"));
        assert_eq!(m.get(key), None, "not filled yet");
        assert_eq!(m.objects(), None);

        // The list is older than this server's own write at 5: the write stays.
        m.fill(
            vec![
                kv(key, 3, "Old"),
                kv("/registry/core/namespaces/b", 2, "Active"),
            ],
            4,
        );
        assert_eq!(phase(&m, key).as_deref(), Some("Active"));
        assert_eq!(m.objects().map(|o| o.len()), Some(2));

        // The watch brings the older event of the same write later: ignored.
        m.put(&kv(key, 4, "Older"));
        assert_eq!(phase(&m, key).as_deref(), Some("Active"));
        m.put(&kv(key, 6, "Terminating"));
        assert_eq!(phase(&m, key).as_deref(), Some("Terminating"));

        // This server deletes it at 8; a watch event of 6 or 7 cannot bring it back, and the
        // watch's own delete at 8 removes the entry.
        m.deleted(key, 8);
        assert_eq!(m.get(key), None);
        m.put(&kv(key, 7, "Active"));
        assert_eq!(m.get(key), None);
        m.watched_delete(key, 8);
        assert_eq!(m.objects().map(|o| o.len()), Some(1));
        // Recreated at 9.
        m.put(&kv(key, 9, "Active"));
        assert_eq!(phase(&m, key).as_deref(), Some("Active"));

        m.unsync();
        assert_eq!(
            m.get(key),
            None,
            "a failed watch answers nothing until the relist"
        );
    }

    /// Through a real client: what a client just wrote is what admission sees next, whether
    /// the mirror's watch has caught up or not.
    #[cfg(feature = "client")]
    #[tokio::test]
    async fn admission_sees_this_servers_writes_at_once() {
        use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ServiceAccount};
        use k8s_openapi::api::scheduling::v1::PriorityClass;
        use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
        let shutdown = CancellationToken::new();
        let (_server, client) =
            crate::client::start(Arc::new(store::MemoryBackend::new()), shutdown.clone())
                .await
                .expect("bootstrap");
        let post = PostParams::default();
        let pod = |name: &str, extra: serde_json::Value| -> Pod {
            let mut p = serde_json::json!({"metadata": {"name": name},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
            if let (Some(spec), Some(extra)) = (p["spec"].as_object_mut(), extra.as_object()) {
                spec.extend(extra.clone());
            }
            serde_json::from_value(p).expect("pod")
        };
        let forbidden = |e: kube::Error| match e {
            kube::Error::Api(s) if s.code == 403 => s.message,
            other => panic!("expected 403, got {other}"),
        };
        let namespaces: Api<Namespace> = Api::all(client.clone());
        for round in 0..20 {
            let ns = format!("n{round}");
            namespaces
                .create(
                    &post,
                    &serde_json::from_value(serde_json::json!({"metadata": {"name": ns}}))
                        .expect("ns"),
                )
                .await
                .expect("create the namespace");
            // A service account and a priority class, used at once.
            let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
            accounts
                .create(
                    &post,
                    &serde_json::from_value(serde_json::json!({"metadata": {"name": "robot"}}))
                        .expect("sa"),
                )
                .await
                .expect("create the service account");
            let classes: Api<PriorityClass> = Api::all(client.clone());
            let class = format!("high-{round}");
            classes
                .create(
                    &post,
                    &serde_json::from_value(
                        serde_json::json!({"metadata": {"name": class}, "value": 1000 + round}),
                    )
                    .expect("pc"),
                )
                .await
                .expect("create the priority class");
            let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let created = pods
                .create(&post, &pod("a", serde_json::json!({"serviceAccountName": "robot", "priorityClassName": class})))
                .await
                .expect("admitted with the new account and class");
            assert_eq!(created.spec.and_then(|s| s.priority), Some(1000 + round));
            // The account's automount turned off applies to the next pod.
            accounts
                .patch(
                    "robot",
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({"automountServiceAccountToken": false})),
                )
                .await
                .expect("patch the account");
            let created = pods
                .create(
                    &post,
                    &pod("b", serde_json::json!({"serviceAccountName": "robot"})),
                )
                .await
                .expect("admitted");
            assert!(
                created
                    .spec
                    .and_then(|s| s.volumes)
                    .unwrap_or_default()
                    .is_empty()
            );
            // A deleted account refuses the next pod.
            accounts
                .delete("robot", &DeleteParams::default())
                .await
                .expect("delete the account");
            let err = pods
                .create(
                    &post,
                    &pod("c", serde_json::json!({"serviceAccountName": "robot"})),
                )
                .await
                .expect_err("the account is gone");
            assert!(forbidden(err).contains("serviceaccount \"robot\" not found"));
            // A namespace being deleted (its finalizer keeps it) refuses new content at once.
            namespaces
                .delete(&ns, &DeleteParams::default())
                .await
                .expect("delete the namespace");
            let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
            let err = maps
                .create(
                    &post,
                    &serde_json::from_value(serde_json::json!({"metadata": {"name": "late"}}))
                        .expect("cm"),
                )
                .await
                .expect_err("the namespace is terminating");
            assert!(forbidden(err).contains("because it is being terminated"));
        }
        shutdown.cancel();
    }

    #[tokio::test]
    async fn follows_the_store_and_lists_again() {
        let store: Arc<dyn Backend> = Arc::new(store::MemoryBackend::new());
        let key = "/registry/core/namespaces/a";
        store
            .create(key, kv(key, 0, "Active").value)
            .await
            .expect("create");
        let m = Arc::new(Mirror::new(info()));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(m.clone().run(store.clone(), shutdown.clone()));
        let wait = |f: Box<dyn Fn() -> bool + Send>| async move {
            for _ in 0..500 {
                if f() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("the mirror did not catch up");
        };
        let m2 = m.clone();
        wait(Box::new(move || {
            phase(&m2, key).as_deref() == Some("Active")
        }))
        .await;
        let current = store.get(key, 0).await.expect("get").expect("live");
        store
            .update(key, kv(key, 0, "Terminating").value, current.mod_revision)
            .await
            .expect("update");
        let m2 = m.clone();
        wait(Box::new(move || {
            phase(&m2, key).as_deref() == Some("Terminating")
        }))
        .await;
        store.delete(key, None).await.expect("delete");
        let m2 = m.clone();
        wait(Box::new(move || m2.objects().is_some_and(|o| o.is_empty()))).await;
        shutdown.cancel();
        task.await.expect("the mirror stops");
    }
}
