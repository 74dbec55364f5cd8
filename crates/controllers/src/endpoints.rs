//! The endpoints controller: every Service with a selector has a core/v1 Endpoints object
//! of the same name listing its pods' addresses (ready ones in `addresses`, others in
//! `notReadyAddresses`, all with `targetRef` and `nodeName`) and the ports its target ports
//! resolve to, as kube-controller-manager's `endpoint-controller` writes them. The pieces
//! shared with the [`crate::endpointslice`] controller (which pods belong, how a target
//! port resolves) live here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
    ServicePort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};

use informer::SharedInformer;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::{Error, is_not_found};

/// The annotation carrying when the change that led to this state happened.
pub const TRIGGER_TIME_ANNOTATION: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// The label marking headless services' endpoints.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// Retry delay after a failed sync.
const RETRY: Duration = Duration::from_secs(5);

/// Whether a pod's `Ready` condition is `True`.
pub fn is_pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The pod's IP, if it has one.
pub fn pod_ip(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .filter(|ip| !ip.is_empty())
}

/// Upstream's `ShouldPodBeInEndpoints`: pods with an IP that are not finished (and, unless
/// `include_terminating`, not being deleted).
pub fn should_pod_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return false;
    }
    if pod_ip(pod).is_none() {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

/// Whether a service's selector selects the pod (same namespace; services without a
/// selector select nothing here).
pub fn service_selects(service: &Service, pod: &Pod) -> bool {
    let Some(selector) = service.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    if service.namespace() != pod.namespace() {
        return false;
    }
    let labels = pod.labels();
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Whether the controllers manage endpoints for the service: it has a selector and is not
/// an ExternalName service.
pub fn is_managed(service: &Service) -> bool {
    let spec = service.spec.as_ref();
    spec.and_then(|s| s.selector.as_ref()).is_some()
        && spec.and_then(|s| s.type_.as_deref()) != Some("ExternalName")
}

/// Whether the service is headless (`clusterIP: None`).
pub fn is_headless(service: &Service) -> bool {
    service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// Upstream's `FindPort`: a numeric target port is itself; a named one is the pod's
/// container port of that name and protocol.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match port.target_port.as_ref() {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            pod.spec
                .iter()
                .flat_map(|s| s.containers.iter())
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// The hostname a pod's endpoint gets: its `spec.hostname` when it sits in the headless
/// service's subdomain.
pub fn endpoint_hostname(pod: &Pod, service: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == Some(service.name_any().as_str()) && is_headless(service))
        .then(|| hostname.to_string())
}

/// The latest change among the service and its pods (creation, readiness transitions), for
/// the trigger-time annotation.
pub fn trigger_time(service: &Service, pods: &[&Pod]) -> Option<jiff::Timestamp> {
    let service_time = service.metadata.creation_timestamp.as_ref().map(|t| t.0);
    pods.iter()
        .flat_map(|p| {
            let created = p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            let ready = p
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
                .and_then(|c| c.last_transition_time.as_ref())
                .map(|t: &Time| t.0);
            [created, ready]
        })
        .chain(std::iter::once(service_time))
        .flatten()
        .max()
}

/// The subsets of a service's Endpoints (upstream's `syncService` then `RepackSubsets`):
/// addresses grouped by the ports they resolve to, sorted by IP.
pub fn build_subsets(service: &Service, pods: &[&Pod]) -> Vec<EndpointSubset> {
    let spec = service.spec.clone().unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    let ports = spec.ports.clone().unwrap_or_default();
    // port set (sorted) → (ready, not ready) addresses
    type Group = (Vec<EndpointAddress>, Vec<EndpointAddress>);
    let mut groups: BTreeMap<Vec<(String, i32, String)>, (Vec<EndpointPort>, Group)> =
        BTreeMap::new();
    for pod in pods {
        if !should_pod_be_in_endpoints(pod, publish_not_ready) {
            continue;
        }
        let Some(ip) = pod_ip(pod) else { continue };
        let address = EndpointAddress {
            ip: ip.to_string(),
            hostname: endpoint_hostname(pod, service),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".into()),
                namespace: pod.namespace(),
                name: Some(pod.name_any()),
                uid: pod.metadata.uid.clone(),
                ..Default::default()
            }),
        };
        let endpoint_ports: Vec<EndpointPort> = ports
            .iter()
            .filter_map(|p| {
                find_port(pod, p).map(|port| EndpointPort {
                    name: p.name.clone().filter(|n| !n.is_empty()),
                    port,
                    protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: p.app_protocol.clone(),
                })
            })
            .collect();
        if endpoint_ports.is_empty() && !ports.is_empty() {
            continue;
        }
        let mut key: Vec<(String, i32, String)> = endpoint_ports
            .iter()
            .map(|p| {
                (
                    p.name.clone().unwrap_or_default(),
                    p.port,
                    p.protocol.clone().unwrap_or_default(),
                )
            })
            .collect();
        key.sort();
        let entry = groups
            .entry(key)
            .or_insert_with(|| (endpoint_ports, (Vec::new(), Vec::new())));
        if publish_not_ready || is_pod_ready(pod) {
            entry.1.0.push(address);
        } else {
            entry.1.1.push(address);
        }
    }
    groups
        .into_values()
        .map(|(mut ports, (mut ready, mut not_ready))| {
            ports.sort_by(|a, b| (&a.name, a.port).cmp(&(&b.name, b.port)));
            ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            not_ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect()
}

/// The labels of a service's Endpoints: the service's, plus the headless marker.
pub fn endpoint_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.labels().clone();
    if is_headless(service) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    } else {
        labels.remove(HEADLESS_LABEL);
    }
    labels
}

struct Context {
    client: Client,
    pods: Store<Pod>,
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
    let controller = Controller::new(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    );
    let services = controller.store();
    let context = Arc::new(Context {
        client: client.clone(),
        pods,
    });
    let cleanup = delete_leftover_endpoints(client, services.clone(), shutdown.clone());
    let control = controller
        .watches_shared_stream(pod_events, move |pod: Arc<Pod>| {
            services_for_pod(&services, &pod)
        })
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile, error_policy, context)
        .for_each(|_| futures::future::ready(()));
    futures::future::join(control, cleanup).await;
    Ok(())
}

/// The services selecting a pod.
pub fn services_for_pod(services: &Store<Service>, pod: &Pod) -> Vec<ObjectRef<Service>> {
    services
        .state()
        .iter()
        .filter(|s| service_selects(s, pod))
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

/// Deletes Endpoints whose Service is gone: leftovers once at start (as upstream's
/// `checkLeftoverEndpoints`), then those of each Service deleted.
async fn delete_leftover_endpoints(
    client: Client,
    services: Store<Service>,
    shutdown: CancellationToken,
) {
    let _ = services.wait_until_ready().await;
    match Api::<Endpoints>::all(client.clone())
        .list(&Default::default())
        .await
    {
        Ok(list) => {
            for ep in list.items {
                // Leader-election records are not service endpoints.
                if ep
                    .annotations()
                    .contains_key("control-plane.alpha.kubernetes.io/leader")
                {
                    continue;
                }
                let ns = ep.namespace().unwrap_or_default();
                let name = ep.name_any();
                if services
                    .get(&ObjectRef::<Service>::new(&name).within(&ns))
                    .is_none()
                {
                    delete_endpoints_without_service(&client, &ns, &name).await;
                }
            }
        }
        Err(e) => warn!(error = %e, "listing endpoints failed"),
    }
    let deletions = watcher(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .filter_map(|event| async move {
        match event {
            Ok(watcher::Event::Delete(svc)) => Some(svc),
            _ => None,
        }
    });
    let mut deletions = std::pin::pin!(deletions);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            next = deletions.next() => match next {
                Some(svc) => {
                    delete_endpoints_without_service(&client, &svc.namespace().unwrap_or_default(), &svc.name_any()).await;
                }
                None => return,
            },
        }
    }
}

/// Deletes the Endpoints `ns/name` if no Service of that name exists (checked against the
/// API, as the cache may lag behind a Service just recreated).
async fn delete_endpoints_without_service(client: &Client, ns: &str, name: &str) {
    let svc_api = Api::<Service>::namespaced(client.clone(), ns);
    if !matches!(svc_api.get_opt(name).await, Ok(None)) {
        return;
    }
    let eps = Api::<Endpoints>::namespaced(client.clone(), ns);
    if let Err(e) = eps.delete(name, &DeleteParams::default()).await
        && !is_not_found(&e)
    {
        warn!(endpoints = %format!("{ns}/{name}"), error = %e, "deleting endpoints of a deleted service failed");
    }
}

async fn reconcile(service: Arc<Service>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !is_managed(&service) {
        return Ok(Action::await_change());
    }
    let _ = ctx.pods.wait_until_ready().await;
    let ns = service.namespace().unwrap_or_default();
    let name = service.name_any();
    let all = ctx.pods.state();
    let pods: Vec<&Pod> = all
        .iter()
        .map(Arc::as_ref)
        .filter(|p| service_selects(&service, p))
        .collect();
    let subsets = build_subsets(&service, &pods);
    let labels = endpoint_labels(&service);
    let api = Api::<Endpoints>::namespaced(ctx.client.clone(), &ns);
    let target = format!("endpoints {ns}/{name}");
    let current = api
        .get_opt(&name)
        .await
        .map_err(|e| Error::request("get", target.clone(), e))?;
    let current_subsets = current
        .as_ref()
        .and_then(|e| e.subsets.clone())
        .unwrap_or_default();
    if let Some(existing) = &current
        && current_subsets == subsets
        && existing.labels() == &labels
    {
        return Ok(Action::await_change());
    }
    let mut endpoints = current.clone().unwrap_or_default();
    endpoints.metadata.name = Some(name.clone());
    endpoints.metadata.namespace = Some(ns.clone());
    endpoints.metadata.labels = Some(labels);
    let annotations = endpoints
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    match trigger_time(&service, &pods) {
        Some(t) => {
            annotations.insert(
                TRIGGER_TIME_ANNOTATION.into(),
                t.strftime("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
            );
        }
        None => {
            annotations.remove(TRIGGER_TIME_ANNOTATION);
        }
    }
    endpoints.subsets = (!subsets.is_empty()).then_some(subsets);
    let result = if current.is_some() {
        api.replace(&name, &PostParams::default(), &endpoints)
            .await
            .map(|_| ())
            .map_err(|e| Error::request("update", target, e))
    } else {
        match api.create(&PostParams::default(), &endpoints).await {
            Ok(_) => Ok(()),
            // The namespace is going away: nothing to do.
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(()),
            Err(e) => Err(Error::request("create", target, e)),
        }
    };
    result.map(|()| Action::await_change())
}

fn error_policy(service: Arc<Service>, error: &Error, _: Arc<Context>) -> Action {
    if !error.is_conflict() {
        warn!(service = %service.name_any(), %error, "syncing endpoints failed");
    }
    Action::requeue(RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn pod(name: &str, ip: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "d", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
        .expect("pod")
    }

    pub(crate) fn service(v: serde_json::Value) -> Service {
        let mut s = json!({"metadata": {"name": "web", "namespace": "d"}, "spec": {"selector": {"app": "web"}, "clusterIP": "10.100.0.20",
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}});
        if let (Some(base), Some(extra)) = (s["spec"].as_object_mut(), v.as_object()) {
            for (k, val) in extra {
                base.insert(k.clone(), val.clone());
            }
        }
        serde_json::from_value(s).expect("service")
    }

    #[test]
    fn target_ports_resolve_by_number_or_container_port_name() {
        let p = pod("a", "10.0.0.1", true);
        let port = |target: serde_json::Value| -> ServicePort {
            serde_json::from_value(json!({"port": 80, "targetPort": target})).expect("port")
        };
        let cases = [
            ("a number", port(json!(9090)), Some(9090)),
            ("a name", port(json!("http")), Some(8080)),
            ("an unknown name", port(json!("grpc")), None),
        ];
        for (case, sp, want) in cases {
            assert_eq!(find_port(&p, &sp), want, "{case}");
        }
    }

    #[test]
    fn subsets_split_ready_and_not_ready_pods() {
        let a = pod("a", "10.0.0.2", true);
        let b = pod("b", "10.0.0.1", true);
        let c = pod("c", "10.0.0.3", false);
        let mut done = pod("d", "10.0.0.4", true);
        done.status.as_mut().expect("status").phase = Some("Succeeded".into());
        let mut no_ip = pod("e", "", true);
        no_ip.status.as_mut().expect("status").pod_ip = None;
        let pods = [&a, &b, &c, &done, &no_ip];
        let subsets = build_subsets(&service(json!({})), &pods);
        assert_eq!(subsets.len(), 1);
        let s = &subsets[0];
        let ips = |list: &Option<Vec<EndpointAddress>>| {
            list.iter()
                .flatten()
                .map(|a| a.ip.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ips(&s.addresses), vec!["10.0.0.1", "10.0.0.2"]);
        assert_eq!(ips(&s.not_ready_addresses), vec!["10.0.0.3"]);
        let first = &s.addresses.as_ref().expect("addresses")[0];
        assert_eq!(first.node_name.as_deref(), Some("node-1"));
        assert_eq!(
            first.target_ref.as_ref().and_then(|r| r.name.as_deref()),
            Some("b")
        );
        assert_eq!(
            s.ports,
            Some(vec![EndpointPort {
                name: Some("http".into()),
                port: 8080,
                protocol: Some("TCP".into()),
                app_protocol: None
            }])
        );
        // publishNotReadyAddresses lists every pod as ready.
        let subsets = build_subsets(&service(json!({"publishNotReadyAddresses": true})), &pods);
        assert_eq!(
            ips(&subsets[0].addresses),
            vec!["10.0.0.1", "10.0.0.2", "10.0.0.3"]
        );
        assert!(subsets[0].not_ready_addresses.is_none());
    }

    #[test]
    fn services_without_selectors_or_external_names_are_not_managed() {
        assert!(is_managed(&service(json!({}))));
        let mut no_selector = service(json!({}));
        no_selector.spec.as_mut().expect("spec").selector = None;
        assert!(!is_managed(&no_selector));
        assert!(!is_managed(&service(
            json!({"type": "ExternalName", "externalName": "example.com"})
        )));
        let headless = service(json!({"clusterIP": "None"}));
        assert_eq!(
            endpoint_labels(&headless).get(HEADLESS_LABEL),
            Some(&String::new())
        );
    }
}
