//! The EndpointSlice controller: every Service with a selector has discovery.k8s.io/v1
//! EndpointSlices (named `<service>-<suffix>`, labelled `kubernetes.io/service-name` and
//! `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, owned by the
//! Service) listing its pods with `ready`/`serving`/`terminating` conditions, the node and
//! its zone, at most 100 endpoints per slice, as kube-controller-manager's
//! `endpointslice-controller` writes them. A Service without endpoints keeps one empty
//! placeholder slice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};

use informer::SharedInformer;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::endpoints::{
    HEADLESS_LABEL, TRIGGER_TIME_ANNOTATION, endpoint_hostname, find_port, is_headless, is_managed,
    is_pod_ready, pod_ip, service_selects, services_for_pod, should_pod_be_in_endpoints,
    trigger_time,
};
use crate::{Error, workload};

/// The label naming a slice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label naming who manages a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's `managed-by` value.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// Most endpoints in one slice (`--max-endpoints-per-slice`).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// The node label carrying its zone.
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Retry delay after a failed sync (or a pod on a node not yet known).
const RETRY: Duration = Duration::from_secs(5);

/// One slice's worth of content: ports and endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredSlice {
    /// The ports the endpoints resolve to (`None` for the placeholder).
    pub ports: Option<Vec<EndpointPort>>,
    /// The endpoints, sorted by address.
    pub endpoints: Vec<Endpoint>,
}

/// The endpoint of a pod (upstream's `podToEndpoint`): ready only when the pod is ready
/// and not terminating (or the service publishes not-ready addresses), serving when
/// ready regardless of termination.
pub fn pod_endpoint(service: &Service, pod: &Pod, node: Option<&Node>) -> Option<Endpoint> {
    let ip = pod_ip(pod)?;
    let publish = service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let serving = publish || is_pod_ready(pod);
    let ready = serving && (!terminating || publish);
    Some(Endpoint {
        addresses: vec![ip.to_string()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname: endpoint_hostname(pod, service),
        node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        zone: node.and_then(|n| n.labels().get(ZONE_LABEL).cloned()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.namespace(),
            name: Some(pod.name_any()),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The slices a service should have: endpoints grouped by the ports they resolve to, in
/// chunks of [`MAX_ENDPOINTS_PER_SLICE`]; one empty placeholder when there are none.
/// `nodes` looks a node up by name; pods on unknown nodes are left out (and reported).
pub fn desired_slices<'a>(
    service: &Service,
    pods: &[&Pod],
    nodes: impl Fn(&str) -> Option<&'a Node>,
) -> (Vec<DesiredSlice>, Vec<String>) {
    let ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let mut groups: BTreeMap<Vec<(String, i32, String)>, (Vec<EndpointPort>, Vec<Endpoint>)> =
        BTreeMap::new();
    let mut missing_nodes = Vec::new();
    for pod in pods {
        if !should_pod_be_in_endpoints(pod, true) {
            continue;
        }
        let node_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or_default();
        let Some(node) = nodes(node_name) else {
            missing_nodes.push(format!(
                "skipping Pod {} for Service {}/{}: Node {node_name} Not Found",
                pod.name_any(),
                service.namespace().unwrap_or_default(),
                service.name_any()
            ));
            continue;
        };
        let slice_ports: Vec<EndpointPort> = ports
            .iter()
            .filter_map(|p| {
                find_port(pod, p).map(|port| EndpointPort {
                    name: Some(p.name.clone().unwrap_or_default()),
                    port: Some(port),
                    protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: p.app_protocol.clone(),
                })
            })
            .collect();
        let mut key: Vec<(String, i32, String)> = slice_ports
            .iter()
            .map(|p| {
                (
                    p.name.clone().unwrap_or_default(),
                    p.port.unwrap_or(0),
                    p.protocol.clone().unwrap_or_default(),
                )
            })
            .collect();
        key.sort();
        let Some(endpoint) = pod_endpoint(service, pod, Some(node)) else {
            continue;
        };
        groups
            .entry(key)
            .or_insert_with(|| (slice_ports, Vec::new()))
            .1
            .push(endpoint);
    }
    let mut out = Vec::new();
    for (_, (ports, mut endpoints)) in groups {
        endpoints.sort_by(|a, b| a.addresses.cmp(&b.addresses));
        for chunk in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE) {
            out.push(DesiredSlice {
                ports: Some(ports.clone()),
                endpoints: chunk.to_vec(),
            });
        }
    }
    if out.is_empty() {
        out.push(DesiredSlice {
            ports: None,
            endpoints: Vec::new(),
        });
    }
    (out, missing_nodes)
}

/// The labels of a service's slices.
pub fn slice_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.labels().clone();
    labels.insert(SERVICE_NAME_LABEL.into(), service.name_any());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    if is_headless(service) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    } else {
        labels.remove(HEADLESS_LABEL);
    }
    labels
}

/// The port set of a slice, order-independent, for matching existing slices to desired.
fn port_key(ports: &Option<Vec<EndpointPort>>) -> Vec<(String, i32, String)> {
    let mut key: Vec<_> = ports
        .iter()
        .flatten()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port.unwrap_or(0),
                p.protocol.clone().unwrap_or_default(),
            )
        })
        .collect();
    key.sort();
    key
}

/// Upstream's slice name prefix: the service name and a dash, cut to leave room for the
/// generated suffix.
fn name_prefix(service: &str) -> String {
    let mut prefix = format!("{service}-");
    if prefix.len() > 58 {
        prefix.truncate(57);
        prefix.push('-');
    }
    prefix
}

struct Context {
    client: Client,
    pods: Store<Pod>,
    nodes: Store<Node>,
}

/// Runs the controller until `shutdown` is cancelled, with its own watch of the pods.
pub async fn run(client: Client, shutdown: CancellationToken) -> Result<(), Error> {
    let pods = SharedInformer::start(Api::all(client.clone()), shutdown.clone());
    run_with(client, pods, shutdown).await
}

/// Runs the controller until `shutdown` is cancelled, reading pods from a shared watch.
pub async fn run_with(
    client: Client,
    shared_pods: SharedInformer<Pod>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let Some((pod_events, pods)) = shared_pods.subscribe_when_ready(&shutdown).await else {
        return Ok(());
    };
    let (nodes, node_writer) = reflector::store();
    // Endpoints name their node's zone, and a node that is gone drops its pods' endpoints:
    // only a node first seen, with a new zone, or deleted changes them. (Every node status
    // change, walking all pods for each, cost 8 % of the CPU at 5,000 nodes.)
    let node_events = workload::changed_nodes(
        reflector(
            node_writer,
            watcher(Api::<Node>::all(client.clone()), watcher::Config::default()),
        )
        .default_backoff(),
        zone_fingerprint,
    );
    let controller = Controller::new(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    );
    let services = controller.store();
    let services_for_node = services.clone();
    let pod_cache = pods.clone();
    let context = Arc::new(Context {
        client: client.clone(),
        pods,
        nodes,
    });
    controller
        .owns(
            Api::<EndpointSlice>::all(client),
            watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}")),
        )
        .watches_shared_stream(pod_events, move |pod: Arc<Pod>| {
            services_for_pod(&services, &pod)
        })
        // A node appearing, changing zone or going changes its pods' endpoints.
        .watches_stream(node_events, move |node: Node| {
            let name = node.name_any();
            pod_cache
                .state()
                .iter()
                .filter(|p| {
                    p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str())
                })
                .flat_map(|p| services_for_pod(&services_for_node, p))
                .collect::<Vec<ObjectRef<Service>>>()
        })
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile, error_policy, context)
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

/// What endpoints read of a node: its zone label, hashed.
fn zone_fingerprint(node: &Node) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    node.labels().get(ZONE_LABEL).hash(&mut hasher);
    hasher.finish()
}

async fn reconcile(service: Arc<Service>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !is_managed(&service) || service.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let _ = ctx.pods.wait_until_ready().await;
    let _ = ctx.nodes.wait_until_ready().await;
    let ns = service.namespace().unwrap_or_default();
    let name = service.name_any();
    let all = ctx.pods.state();
    let pods: Vec<&Pod> = all
        .iter()
        .map(Arc::as_ref)
        .filter(|p| service_selects(&service, p))
        .collect();
    let nodes = ctx.nodes.state();
    let (desired, missing) = desired_slices(&service, &pods, |n| {
        nodes
            .iter()
            .map(Arc::as_ref)
            .find(|node| node.name_any() == n)
    });
    let api = Api::<EndpointSlice>::namespaced(ctx.client.clone(), &ns);
    let existing = api
        .list(&ListParams::default().labels(&format!(
            "{SERVICE_NAME_LABEL}={name},{MANAGED_BY_LABEL}={MANAGED_BY}"
        )))
        .await
        .map_err(|e| Error::request("list", format!("endpointslices.discovery.k8s.io {ns}"), e))?
        .items;
    let labels = slice_labels(&service);
    let owner = OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: name.clone(),
        uid: service.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let trigger =
        trigger_time(&service, &pods).map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.fZ").to_string());
    // Reuse existing slices with the same ports, in name order; create or delete the rest.
    let mut pool: BTreeMap<Vec<(String, i32, String)>, Vec<EndpointSlice>> = BTreeMap::new();
    let mut sorted = existing;
    sorted.sort_by_key(|s| s.name_any());
    for slice in sorted {
        let owned = slice
            .owner_references()
            .iter()
            .any(|o| Some(&o.uid) == service.metadata.uid.as_ref());
        pool.entry(if owned {
            port_key(&slice.ports)
        } else {
            vec![("\0stale".into(), 0, String::new())]
        })
        .or_default()
        .push(slice);
    }
    for want in desired {
        let reuse = pool.get_mut(&port_key(&want.ports)).and_then(|v| {
            if v.is_empty() {
                None
            } else {
                Some(v.remove(0))
            }
        });
        match reuse {
            Some(mut slice) => {
                if slice.endpoints == want.endpoints
                    && slice.ports == want.ports
                    && slice.metadata.labels.as_ref() == Some(&labels)
                {
                    continue;
                }
                slice.endpoints = want.endpoints;
                slice.ports = want.ports;
                slice.metadata.labels = Some(labels.clone());
                set_trigger(&mut slice.metadata, trigger.as_deref());
                let slice_name = slice.name_any();
                api.replace(&slice_name, &PostParams::default(), &slice)
                    .await
                    .map_err(|e| {
                        Error::request(
                            "update",
                            format!("endpointslices.discovery.k8s.io {ns}/{slice_name}"),
                            e,
                        )
                    })?;
            }
            None => {
                let mut metadata = ObjectMeta {
                    generate_name: Some(name_prefix(&name)),
                    namespace: Some(ns.clone()),
                    labels: Some(labels.clone()),
                    owner_references: Some(vec![owner.clone()]),
                    ..Default::default()
                };
                set_trigger(&mut metadata, trigger.as_deref());
                let slice = EndpointSlice {
                    metadata,
                    address_type: "IPv4".into(),
                    endpoints: want.endpoints,
                    ports: want.ports,
                };
                match api.create(&PostParams::default(), &slice).await {
                    Ok(_) => {}
                    // The namespace is going away: nothing to do.
                    Err(kube::Error::Api(s)) if s.code == 403 => return Ok(Action::await_change()),
                    Err(e) => {
                        return Err(Error::request(
                            "create",
                            format!("endpointslices.discovery.k8s.io {ns}"),
                            e,
                        ));
                    }
                }
            }
        }
    }
    for slice in pool.into_values().flatten() {
        let slice_name = slice.name_any();
        match api.delete(&slice_name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if crate::is_not_found(&e) => {}
            Err(e) => {
                return Err(Error::request(
                    "delete",
                    format!("endpointslices.discovery.k8s.io {ns}/{slice_name}"),
                    e,
                ));
            }
        }
    }
    if missing.is_empty() {
        Ok(Action::await_change())
    } else {
        warn!(service = %format!("{ns}/{name}"), problems = %missing.join("; "), "some pods were left out of the service's slices");
        Ok(Action::requeue(RETRY))
    }
}

fn set_trigger(meta: &mut ObjectMeta, trigger: Option<&str>) {
    let annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
    match trigger {
        Some(t) => {
            annotations.insert(TRIGGER_TIME_ANNOTATION.into(), t.to_string());
        }
        None => {
            annotations.remove(TRIGGER_TIME_ANNOTATION);
        }
    }
    if annotations.is_empty() {
        meta.annotations = None;
    }
}

fn error_policy(service: Arc<Service>, error: &Error, _: Arc<Context>) -> Action {
    if !error.is_conflict() {
        warn!(service = %service.name_any(), %error, "syncing endpoint slices failed");
    }
    Action::requeue(RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn only_a_new_node_a_new_zone_or_a_deleted_node_touches_endpoints() {
        use kube::runtime::watcher::Event;
        let node = |zone: Option<&str>, ready: &str| -> Node {
            let mut n = json!({"metadata": {"name": "node-1"},
                "status": {"conditions": [{"type": "Ready", "status": ready}]}});
            if let Some(z) = zone {
                n["metadata"]["labels"] = json!({ZONE_LABEL: z});
            }
            serde_json::from_value(n).expect("node")
        };
        // Passed through: the first sight, the new zone, the zone removed, the delete and
        // the node's return; not the two status-only changes or the list markers.
        let events = vec![
            Event::Init,
            Event::InitApply(node(Some("us-east-1a"), "True")),
            Event::InitDone,
            Event::Apply(node(Some("us-east-1a"), "False")),
            Event::Apply(node(Some("us-east-1b"), "False")),
            Event::Apply(node(None, "False")),
            Event::Apply(node(None, "True")),
            Event::Delete(node(None, "True")),
            Event::Apply(node(None, "True")),
        ];
        let passed: Vec<Node> = workload::changed_nodes(
            futures::stream::iter(events.into_iter().map(Ok)),
            zone_fingerprint,
        )
        .map(|n| n.expect("no error"))
        .collect()
        .await;
        let zones: Vec<Option<String>> = passed
            .iter()
            .map(|n| n.labels().get(ZONE_LABEL).cloned())
            .collect();
        assert_eq!(
            zones,
            [
                Some("us-east-1a".to_string()),
                Some("us-east-1b".to_string()),
                None,
                None,
                None
            ]
        );
    }

    fn pod(name: &str, ip: &str, ready: bool, terminating: bool) -> Pod {
        let mut p: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "d", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
        .expect("pod");
        if terminating {
            p.metadata.deletion_timestamp = Some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
            );
        }
        p
    }

    fn service(publish: bool) -> Service {
        serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "d", "labels": {"team": "a"}},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.100.0.20", "publishNotReadyAddresses": publish,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}))
        .expect("service")
    }

    fn node() -> Node {
        serde_json::from_value(json!({"metadata": {"name": "node-1", "labels": {"topology.kubernetes.io/zone": "us-east-1a"}}}))
            .expect("node")
    }

    #[test]
    fn endpoint_conditions_follow_readiness_and_termination() {
        let n = node();
        let cases = [
            ("ready", false, true, false, (true, true, false)),
            ("not ready", false, false, false, (false, false, false)),
            (
                "ready but terminating",
                false,
                true,
                true,
                (false, true, true),
            ),
            (
                "published not ready",
                true,
                false,
                false,
                (true, true, false),
            ),
            (
                "published terminating",
                true,
                false,
                true,
                (true, true, true),
            ),
        ];
        for (case, publish, ready, terminating, want) in cases {
            let e = pod_endpoint(
                &service(publish),
                &pod("a", "10.0.0.1", ready, terminating),
                Some(&n),
            )
            .expect("endpoint");
            let c = e.conditions.expect("conditions");
            assert_eq!(
                (c.ready, c.serving, c.terminating),
                (Some(want.0), Some(want.1), Some(want.2)),
                "{case}"
            );
            assert_eq!(e.zone.as_deref(), Some("us-east-1a"), "{case}");
            assert_eq!(e.node_name.as_deref(), Some("node-1"), "{case}");
        }
    }

    #[test]
    fn slices_hold_at_most_a_hundred_endpoints_and_a_placeholder_when_empty() {
        let n = node();
        let svc = service(false);
        let pods: Vec<Pod> = (0..250)
            .map(|i| {
                pod(
                    &format!("p{i}"),
                    &format!("10.0.{}.{}", i / 200, i % 200 + 1),
                    true,
                    false,
                )
            })
            .collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let (slices, missing) =
            desired_slices(&svc, &refs, |name| (name == "node-1").then_some(&n));
        assert!(missing.is_empty());
        assert_eq!(
            slices.iter().map(|s| s.endpoints.len()).collect::<Vec<_>>(),
            vec![100, 100, 50]
        );
        assert_eq!(
            slices[0].ports,
            Some(vec![EndpointPort {
                name: Some("http".into()),
                port: Some(8080),
                protocol: Some("TCP".into()),
                app_protocol: None
            }])
        );
        let (empty, _) = desired_slices(&svc, &[], |_| None);
        assert_eq!(
            empty,
            vec![DesiredSlice {
                ports: None,
                endpoints: vec![]
            }]
        );
        let (none, missing) = desired_slices(&svc, &refs[..1], |_| None);
        assert!(
            none[0].endpoints.is_empty(),
            "pods on unknown nodes are left out"
        );
        assert_eq!(
            missing,
            vec!["skipping Pod p0 for Service d/web: Node node-1 Not Found".to_string()]
        );
        let labels = slice_labels(&svc);
        assert_eq!(
            labels.get(SERVICE_NAME_LABEL).map(String::as_str),
            Some("web")
        );
        assert_eq!(
            labels.get(MANAGED_BY_LABEL).map(String::as_str),
            Some(MANAGED_BY)
        );
        assert_eq!(labels.get("team").map(String::as_str), Some("a"));
        assert_eq!(name_prefix("web"), "web-");
    }
}
