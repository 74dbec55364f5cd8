//! Event recording for skiff's components, with client-go's semantics.
//!
//! Upstream components write events in one of two ways, and skiff's do the same:
//!
//! - the kubelet and kube-controller-manager use the core/v1 recorder
//!   ([`Recorder::new`]): `source` {component, host}, `firstTimestamp`, `lastTimestamp` and
//!   `count`; an identical event seen again increments `count` and moves `lastTimestamp`, so
//!   `kubectl get events --sort-by=.lastTimestamp` orders them;
//! - kube-scheduler uses `events.k8s.io/v1` ([`Recorder::events_v1`]): `eventTime`,
//!   `reportingController`, `action`, and an identical event seen again within six minutes
//!   becomes a `series` on the first one.
//!
//! Either way `kubectl describe` shows repeats as `(x5 over 2m)`, and events that differ in
//! their message are distinct events (`Created pod: a` and `Created pod: b`), as client-go
//! keys them. kube-runtime's recorder keys its series without the message, folding
//! different messages into the first one, which is why skiff has its own.
//!
//! Publishing never fails or delays a caller's work. As client-go's broadcaster does, an event
//! is queued (at most 1,000 waiting per recorder; beyond that new ones are dropped with a
//! warning) and a background task writes it; an event that cannot be written is logged and
//! dropped. Repeats of one event are written in order, so series and counts stay exact;
//! different events are written concurrently. [`Recorder::flush`] waits until everything
//! published so far has been written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use k8s_openapi::api::core::v1::{Event as CoreEvent, EventSource, ObjectReference};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

pub use kube::runtime::events::EventType;

/// How long after its last occurrence an event can still grow a series.
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// Most distinct events remembered; older ones are forgotten first.
const MEMORY: usize = 4096;
/// Upstream's limit on a note (longer notes are cut).
const MAX_NOTE_BYTES: usize = 1024;
/// Events waiting to be written per recorder before new ones are dropped (client-go's
/// `maxQueuedEvents`).
const MAX_QUEUED: usize = 1000;
/// Events one recorder writes at the same time (repeats of one event never overlap).
const CONCURRENT_WRITES: usize = 32;

/// What makes two events the same event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    regarding: (String, String, String, String),
    type_: &'static str,
    reason: String,
    action: String,
    note: String,
    related: Option<(String, String, String, String)>,
}

/// What an event says.
struct What<'a> {
    type_: &'a str,
    reason: &'a str,
    action: &'a str,
    note: &'a str,
}

/// A written event and its series so far.
#[derive(Debug, Clone)]
struct Written {
    name: String,
    namespace: String,
    count: i32,
    last: jiff::Timestamp,
}

/// Which API a recorder writes its events to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// core/v1 Events with `source`, `count` and first/last timestamps.
    Core,
    /// `events.k8s.io/v1` Events with `eventTime` and `series`.
    EventsV1,
}

/// Records events for one reporting component (e.g. `default-scheduler`, `kubelet`).
/// Clones share one queue and one memory of written events.
#[derive(Clone)]
pub struct Recorder {
    writer: Arc<Writer>,
    /// The queue to the background writer, started by the first publish.
    queue: Arc<OnceLock<mpsc::Sender<Job>>>,
}

/// What the background task of a recorder writes with.
struct Writer {
    client: kube::Client,
    flavor: Flavor,
    controller: String,
    instance: Option<String>,
    /// The events written, by their key's digest (the keys themselves, with their notes,
    /// would cost about half a kilobyte each, and a kubelet remembers thousands).
    written: Mutex<HashMap<u128, Written>>,
}

/// One queued event, or a request to report when everything before it is written.
enum Job {
    Event(Box<Pending>),
    Flush(oneshot::Sender<()>),
}

/// An event waiting to be written.
struct Pending {
    key: Key,
    regarding: ObjectReference,
    related: Option<ObjectReference>,
    /// When it happened (its timestamps), not when it is written.
    at: jiff::Timestamp,
}

impl Recorder {
    /// A core/v1 recorder (the kubelet's and kube-controller-manager's), reporting as
    /// component `controller` from host `instance` (the kubelet's node; none for
    /// controllers).
    pub fn new(client: kube::Client, controller: &str, instance: Option<&str>) -> Recorder {
        Recorder::with_flavor(client, Flavor::Core, controller, instance)
    }

    /// An `events.k8s.io/v1` recorder (kube-scheduler's), reporting as `controller` from
    /// `instance` (defaults to the controller's name).
    pub fn events_v1(client: kube::Client, controller: &str, instance: Option<&str>) -> Recorder {
        Recorder::with_flavor(client, Flavor::EventsV1, controller, instance)
    }

    fn with_flavor(
        client: kube::Client,
        flavor: Flavor,
        controller: &str,
        instance: Option<&str>,
    ) -> Recorder {
        Recorder {
            writer: Arc::new(Writer {
                client,
                flavor,
                controller: controller.to_string(),
                instance: instance.map(str::to_string),
                written: Mutex::default(),
            }),
            queue: Arc::default(),
        }
    }

    /// Records that `action` happened to `regarding` for `reason`, explained by `note`.
    /// Cluster-scoped objects' events go to the `default` namespace, as upstream. The event
    /// is queued and written in the background.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: impl Into<String>,
    ) {
        self.publish_related(regarding, None, type_, reason, action, note)
            .await;
    }

    /// [`Recorder::publish`] with a second object involved (`related`, e.g. the preemptor of
    /// a preempted pod).
    pub async fn publish_related(
        &self,
        regarding: &ObjectReference,
        related: Option<&ObjectReference>,
        type_: EventType,
        reason: &str,
        action: &str,
        note: impl Into<String>,
    ) {
        let mut note = note.into();
        truncate(&mut note, MAX_NOTE_BYTES);
        let type_ = match type_ {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        let key = Key {
            regarding: identity(regarding),
            type_,
            reason: reason.to_string(),
            action: action.to_string(),
            note,
            related: related.map(identity),
        };
        let job = Job::Event(Box::new(Pending {
            key,
            regarding: regarding.clone(),
            related: related.cloned(),
            at: jiff::Timestamp::now(),
        }));
        if let Err(mpsc::error::TrySendError::Full(Job::Event(p))) = self.sender().try_send(job) {
            tracing::warn!(
                reason = %p.key.reason,
                object = ?p.regarding.name,
                "{MAX_QUEUED} events are waiting to be written; dropping this one"
            );
        }
    }

    /// Waits until every event published before this call has been written (or dropped).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.sender().send(Job::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The queue, starting the background writer on first use.
    fn sender(&self) -> &mpsc::Sender<Job> {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(MAX_QUEUED);
            tokio::spawn(write_queued(self.writer.clone(), rx));
            tx
        })
    }
}

/// A referenced object's identity as events key it.
fn identity(r: &ObjectReference) -> (String, String, String, String) {
    (
        r.uid.clone().unwrap_or_default(),
        r.kind.clone().unwrap_or_default(),
        r.namespace.clone().unwrap_or_default(),
        r.name.clone().unwrap_or_default(),
    )
}

/// The background writer of one recorder: takes whatever is queued, writes repeats of one
/// event in order and different events concurrently, then takes the next batch. Ends when
/// every clone of the recorder is gone and the queue is drained.
async fn write_queued(writer: Arc<Writer>, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, MAX_QUEUED).await > 0 {
        let mut groups: Vec<Vec<Pending>> = Vec::new();
        let mut group_of: HashMap<Key, usize> = HashMap::new();
        let mut flushes = Vec::new();
        for job in batch.drain(..) {
            match job {
                Job::Flush(done) => flushes.push(done),
                Job::Event(p) => match group_of.get(&p.key) {
                    Some(&g) => groups[g].push(*p),
                    None => {
                        group_of.insert(p.key.clone(), groups.len());
                        groups.push(vec![*p]);
                    }
                },
            }
        }
        futures::stream::iter(groups)
            .for_each_concurrent(CONCURRENT_WRITES, |group| {
                let writer = &writer;
                async move {
                    for p in group {
                        writer.write(p).await;
                    }
                }
            })
            .await;
        for done in flushes {
            let _ = done.send(());
        }
    }
}

impl Writer {
    /// Writes one event: a new Event, or the next occurrence in the series of an identical
    /// one written before.
    async fn write(&self, p: Pending) {
        let Pending {
            key,
            regarding,
            related,
            at,
        } = p;
        let id = api::digest::of(&key);
        let earlier = self.remembered(id, at);
        let outcome = match earlier {
            Some(w) => self.extend_series(w, at).await,
            None => Err(None),
        };
        let written = match outcome {
            Ok(w) => Ok(w),
            // First occurrence, or the earlier event is gone (expired or deleted).
            Err(_) => {
                let what = What {
                    type_: key.type_,
                    reason: &key.reason,
                    action: &key.action,
                    note: &key.note,
                };
                self.create(&regarding, related.as_ref(), what, at).await
            }
        };
        match written {
            Ok(w) => self.remember(id, w),
            Err(error) => tracing::warn!(
                reason = %key.reason,
                object = ?regarding.name,
                error = %error,
                "could not record an event; dropping it"
            ),
        }
    }

    fn remembered(&self, key: u128, now: jiff::Timestamp) -> Option<Written> {
        let map = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&key)
            .filter(|w| {
                now.duration_since(w.last)
                    .try_into()
                    .is_ok_and(|d: Duration| d <= SERIES_WINDOW)
            })
            .cloned()
    }

    fn remember(&self, key: u128, written: Written) {
        let mut map = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MEMORY && !map.contains_key(&key) {
            let now = written.last;
            map.retain(|_, w| {
                now.duration_since(w.last)
                    .try_into()
                    .is_ok_and(|d: Duration| d <= SERIES_WINDOW)
            });
            if map.len() >= MEMORY {
                map.clear();
            }
        }
        map.insert(key, written);
    }

    async fn extend_series(
        &self,
        mut w: Written,
        now: jiff::Timestamp,
    ) -> Result<Written, Option<kube::Error>> {
        w.count += 1;
        w.last = now;
        let patch = match self.flavor {
            Flavor::Core => serde_json::json!({"count": w.count, "lastTimestamp": Time(now)}),
            Flavor::EventsV1 => serde_json::json!({
                "series": {"count": w.count, "lastObservedTime": MicroTime(now)}
            }),
        };
        let params = PatchParams::default();
        let result = match self.flavor {
            Flavor::Core => Api::<CoreEvent>::namespaced(self.client.clone(), &w.namespace)
                .patch(&w.name, &params, &Patch::Merge(&patch))
                .await
                .map(|_| ()),
            Flavor::EventsV1 => Api::<Event>::namespaced(self.client.clone(), &w.namespace)
                .patch(&w.name, &params, &Patch::Merge(&patch))
                .await
                .map(|_| ()),
        };
        result.map(|()| w).map_err(Some)
    }

    async fn create(
        &self,
        regarding: &ObjectReference,
        related: Option<&ObjectReference>,
        what: What<'_>,
        now: jiff::Timestamp,
    ) -> Result<Written, kube::Error> {
        let What {
            type_,
            reason,
            action,
            note,
        } = what;
        let namespace = regarding
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_string());
        let name = format!(
            "{}.{:x}",
            regarding.name.as_deref().unwrap_or(&self.controller),
            now.as_nanosecond()
        );
        let metadata = ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            ..Default::default()
        };
        match self.flavor {
            Flavor::Core => {
                let event = CoreEvent {
                    metadata,
                    involved_object: regarding.clone(),
                    related: related.cloned(),
                    reason: Some(reason.to_string()),
                    message: Some(note.to_string()),
                    type_: Some(type_.to_string()),
                    source: Some(EventSource {
                        component: Some(self.controller.clone()),
                        host: self.instance.clone(),
                    }),
                    first_timestamp: Some(Time(now)),
                    last_timestamp: Some(Time(now)),
                    count: Some(1),
                    reporting_component: Some(self.controller.clone()),
                    reporting_instance: Some(self.instance.clone().unwrap_or_default()),
                    ..Default::default()
                };
                Api::<CoreEvent>::namespaced(self.client.clone(), &namespace)
                    .create(&PostParams::default(), &event)
                    .await?;
            }
            Flavor::EventsV1 => {
                let event = Event {
                    metadata,
                    event_time: Some(MicroTime(now)),
                    action: Some(action.to_string()),
                    reason: Some(reason.to_string()),
                    note: Some(note.to_string()),
                    type_: Some(type_.to_string()),
                    regarding: Some(regarding.clone()),
                    related: related.cloned(),
                    reporting_controller: Some(self.controller.clone()),
                    reporting_instance: Some(
                        self.instance
                            .clone()
                            .unwrap_or_else(|| self.controller.clone()),
                    ),
                    ..Default::default()
                };
                Api::<Event>::namespaced(self.client.clone(), &namespace)
                    .create(&PostParams::default(), &event)
                    .await?;
            }
        }
        Ok(Written {
            name,
            namespace,
            count: 1,
            last: now,
        })
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_on_a_character_boundary() {
        let mut s = "é".repeat(600);
        truncate(&mut s, MAX_NOTE_BYTES);
        assert_eq!(s.len(), 1024);
        let mut s = format!("a{}", "é".repeat(600));
        truncate(&mut s, MAX_NOTE_BYTES);
        assert_eq!(s.len(), 1023);
        let mut short = "short".to_string();
        truncate(&mut short, MAX_NOTE_BYTES);
        assert_eq!(short, "short");
    }
}
