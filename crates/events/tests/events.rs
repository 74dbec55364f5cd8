//! The recorder against a real in-process API server, in both of upstream's flavours:
//! repeats of one event form a series (`events.k8s.io`) or a count (core/v1), different
//! messages are different events, and cluster-scoped objects' events land in `default`.

use std::sync::Arc;

use events::{EventType, Recorder};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;

async fn client() -> (kube::Client, tokio_util::sync::CancellationToken) {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (_, client) =
        apiserver::client::start(Arc::new(store::MemoryBackend::new()), shutdown.clone())
            .await
            .expect("bootstrap");
    (client, shutdown)
}

fn pod(name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        namespace: Some("default".into()),
        name: Some(name.into()),
        uid: Some(format!("uid-{name}")),
        ..Default::default()
    }
}

async fn events(client: &kube::Client, ns: &str) -> Vec<Event> {
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
}

#[tokio::test]
async fn repeats_form_a_series_and_different_notes_are_different_events() {
    let (client, shutdown) = client().await;
    let recorder = Recorder::events_v1(client.clone(), "default-scheduler", None);
    for _ in 0..3 {
        recorder
            .publish(
                &pod("web"),
                EventType::Warning,
                "FailedScheduling",
                "Scheduling",
                "0/3 nodes are available: 3 Insufficient cpu.",
            )
            .await;
    }
    recorder
        .publish(
            &pod("web"),
            EventType::Warning,
            "FailedScheduling",
            "Scheduling",
            "0/3 nodes are available: 3 Too many pods.",
        )
        .await;
    // Publishing queues; the writes happen in the background.
    recorder.flush().await;
    let mut list = events(&client, "default").await;
    list.sort_by_key(|e| e.note.clone());
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(
        list[0].note.as_deref(),
        Some("0/3 nodes are available: 3 Insufficient cpu.")
    );
    assert_eq!(list[0].series.as_ref().map(|s| s.count), Some(3));
    assert_eq!(
        list[1].note.as_deref(),
        Some("0/3 nodes are available: 3 Too many pods.")
    );
    assert!(list[1].series.is_none(), "a first occurrence has no series");
    assert_eq!(
        list[0].reporting_controller.as_deref(),
        Some("default-scheduler")
    );
    assert_eq!(
        list[0].reporting_instance.as_deref(),
        Some("default-scheduler")
    );
    assert_eq!(
        list[0].regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("web")
    );

    // The kubelet's core/v1 events: source, count and timestamps; a node's go to `default`.
    let node = ObjectReference {
        kind: Some("Node".into()),
        name: Some("n1".into()),
        uid: Some("n1".into()),
        ..Default::default()
    };
    let kubelet = Recorder::new(client.clone(), "kubelet", Some("n1"));
    for _ in 0..2 {
        kubelet
            .publish(
                &node,
                EventType::Normal,
                "NodeReady",
                "NodeReady",
                "Node n1 status is now: NodeReady",
            )
            .await;
    }
    kubelet
        .publish_related(
            &pod("web"),
            Some(&pod("other")),
            EventType::Warning,
            "BackOff",
            "BackOff",
            "Back-off restarting failed container c in pod web_default(uid-web)",
        )
        .await;
    kubelet.flush().await;
    let core: Vec<k8s_openapi::api::core::v1::Event> =
        Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), "default")
            .list(&ListParams::default().fields("source=kubelet"))
            .await
            .expect("list core events")
            .items;
    let ready = core
        .iter()
        .find(|e| e.reason.as_deref() == Some("NodeReady"))
        .expect("the node's event");
    assert_eq!(ready.count, Some(2), "{ready:?}");
    assert_eq!(
        ready.source.as_ref().and_then(|s| s.host.as_deref()),
        Some("n1")
    );
    assert!(ready.first_timestamp.is_some() && ready.last_timestamp.is_some());
    assert_eq!(ready.reporting_component.as_deref(), Some("kubelet"));
    let backoff = core
        .iter()
        .find(|e| e.reason.as_deref() == Some("BackOff"))
        .expect("the pod's event");
    assert_eq!(backoff.count, Some(1));
    assert_eq!(
        backoff.related.as_ref().and_then(|r| r.name.as_deref()),
        Some("other")
    );
    shutdown.cancel();
}

#[tokio::test]
async fn publishing_returns_before_the_write_and_repeats_keep_their_order() {
    let (client, shutdown) = client().await;
    let recorder = Recorder::new(client.clone(), "kubelet", Some("n1"));
    // Many repeats of one event and many distinct events, published without waiting.
    for i in 0..50 {
        recorder
            .publish(&pod("web"), EventType::Normal, "Pulling", "Pulling", "same")
            .await;
        recorder
            .publish(
                &pod("web"),
                EventType::Normal,
                "Created",
                "Created",
                format!("distinct {i}"),
            )
            .await;
    }
    recorder.flush().await;
    let core: Vec<k8s_openapi::api::core::v1::Event> =
        Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), "default")
            .list(&ListParams::default())
            .await
            .expect("list core events")
            .items;
    let pulling: Vec<_> = core
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Pulling"))
        .collect();
    assert_eq!(pulling.len(), 1, "repeats are one event: {pulling:?}");
    assert_eq!(pulling[0].count, Some(50));
    let created = core
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Created"))
        .count();
    assert_eq!(created, 50);
    shutdown.cancel();
}
