//! Objects built with the k8s-pb types and encoded with prost, as client-go would send them,
//! transcoded and compared with hand-written Kubernetes JSON; the JSON is also checked
//! against the k8s-openapi types. Plus schema checks and hostile input.

use std::collections::BTreeMap;

use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{RawExtension, TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message as _;
use serde_json::{Value, json};

use super::*;

// ---------------------------------------------------------------------------------------
// helpers

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn smap(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `k8s\0` + runtime.Unknown around an object's protobuf encoding.
fn wrap(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: s(api_version),
            kind: s(kind),
        }),
        raw: Some(raw),
        content_encoding: s(""),
        content_type: s(""),
    };
    let mut out = MAGIC.to_vec();
    out.extend(unknown.encode_to_vec());
    out
}

fn encode<M: prost::Message>(api_version: &str, kind: &str, obj: &M) -> Vec<u8> {
    wrap(api_version, kind, obj.encode_to_vec())
}

fn decode(body: &[u8]) -> Value {
    decode_object(body).unwrap_or_else(|e| panic!("decode failed: {e}"))
}

fn assert_json(got: &Value, want: &Value) {
    assert_eq!(
        got,
        want,
        "\n got: {}\nwant: {}",
        serde_json::to_string_pretty(got).unwrap(),
        serde_json::to_string_pretty(want).unwrap()
    );
}

/// The JSON deserializes into the k8s-openapi type and serializes back unchanged.
fn roundtrip<T: serde::de::DeserializeOwned + serde::Serialize>(json: &Value) {
    let typed: T = serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("not a valid {}: {e}", std::any::type_name::<T>()));
    let back = serde_json::to_value(&typed).unwrap();
    assert_json(&back, json);
}

/// Encodes, transcodes, compares, and checks the expected JSON with k8s-openapi.
fn check<T, M>(api_version: &str, kind: &str, obj: &M, want: Value)
where
    T: serde::de::DeserializeOwned + serde::Serialize,
    M: prost::Message,
{
    let got = decode(&encode(api_version, kind, obj));
    assert_json(&got, &want);
    roundtrip::<T>(&want);
}

/// ObjectMeta as Go encodes it: value fields are always on the wire, zero or not.
fn object_meta(name: &str, namespace: &str) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: s(name),
        generate_name: s(""),
        namespace: s(namespace),
        self_link: s(""),
        uid: s(""),
        resource_version: s(""),
        generation: Some(0),
        creation_timestamp: Some(meta::Time::default()),
        ..Default::default()
    }
}

fn qty(v: &str) -> Quantity {
    Quantity { string: s(v) }
}

fn int_or_int(v: i32) -> IntOrString {
    IntOrString {
        r#type: Some(0),
        int_val: Some(v),
        str_val: s(""),
    }
}

fn int_or_str(v: &str) -> IntOrString {
    IntOrString {
        r#type: Some(1),
        int_val: Some(0),
        str_val: s(v),
    }
}

fn micro(seconds: i64, nanos: i32) -> meta::MicroTime {
    meta::MicroTime {
        seconds: Some(seconds),
        nanos: Some(nanos),
    }
}

fn time(seconds: i64) -> meta::Time {
    meta::Time {
        seconds: Some(seconds),
        nanos: Some(0),
    }
}

// ---------------------------------------------------------------------------------------
// objects

#[test]
fn namespace() {
    use k8s_pb::api::core::v1 as core;
    let mut m = object_meta("demo", "");
    m.labels = smap(&[("team", "a")]);
    let ns = core::Namespace {
        metadata: Some(m),
        spec: Some(core::NamespaceSpec::default()),
        status: Some(core::NamespaceStatus {
            phase: s(""),
            ..Default::default()
        }),
    };
    check::<k8s_openapi::api::core::v1::Namespace, _>(
        "v1",
        "Namespace",
        &ns,
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "demo", "labels": {"team": "a"}},
            "spec": {},
            "status": {}
        }),
    );
}

#[test]
fn config_map_with_binary_data() {
    use k8s_pb::api::core::v1 as core;
    let cm = core::ConfigMap {
        metadata: Some(object_meta("c1", "demo")),
        data: smap(&[("a", "b"), ("file.txt", "line1\nline2\n")]),
        binary_data: [("bin".to_string(), vec![0u8, 1, 2, 255])]
            .into_iter()
            .collect(),
        immutable: Some(false),
    };
    check::<k8s_openapi::api::core::v1::ConfigMap, _>(
        "v1",
        "ConfigMap",
        &cm,
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c1", "namespace": "demo"},
            "data": {"a": "b", "file.txt": "line1\nline2\n"},
            "binaryData": {"bin": "AAEC/w=="},
            // a Go *bool: an explicit false is kept
            "immutable": false
        }),
    );
}

#[test]
fn secret() {
    use k8s_pb::api::core::v1 as core;
    let mut m = object_meta("s1", "demo");
    m.annotations = smap(&[("note", "x")]);
    let secret = core::Secret {
        metadata: Some(m),
        data: [
            ("k".to_string(), b"v".to_vec()),
            ("empty".to_string(), Vec::new()),
        ]
        .into_iter()
        .collect(),
        r#type: s("Opaque"),
        ..Default::default()
    };
    check::<k8s_openapi::api::core::v1::Secret, _>(
        "v1",
        "Secret",
        &secret,
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s1", "namespace": "demo", "annotations": {"note": "x"}},
            "data": {"k": "dg==", "empty": ""},
            "type": "Opaque"
        }),
    );
}

fn pod_template() -> k8s_pb::api::core::v1::PodTemplateSpec {
    use k8s_pb::api::core::v1 as core;
    let mut tm = object_meta("", "");
    tm.labels = smap(&[("app", "web")]);
    let container = core::Container {
        name: s("nginx"),
        image: s("nginx:1.27"),
        command: strings(&["nginx"]),
        args: strings(&["-g", "daemon off;"]),
        working_dir: s(""),
        ports: vec![core::ContainerPort {
            name: s("http"),
            host_port: Some(0),
            container_port: Some(80),
            protocol: s("TCP"),
            host_ip: s(""),
        }],
        env: vec![
            core::EnvVar {
                name: s("MODE"),
                value: s("prod"),
                value_from: None,
            },
            core::EnvVar {
                name: s("FROM_CM"),
                value: s(""),
                value_from: Some(core::EnvVarSource {
                    config_map_key_ref: Some(core::ConfigMapKeySelector {
                        local_object_reference: Some(core::LocalObjectReference { name: s("c1") }),
                        key: s("a"),
                        optional: Some(true),
                    }),
                    ..Default::default()
                }),
            },
            core::EnvVar {
                name: s("POD_IP"),
                value: s(""),
                value_from: Some(core::EnvVarSource {
                    field_ref: Some(core::ObjectFieldSelector {
                        api_version: s("v1"),
                        field_path: s("status.podIP"),
                    }),
                    ..Default::default()
                }),
            },
        ],
        resources: Some(core::ResourceRequirements {
            limits: [
                ("cpu".to_string(), qty("500m")),
                ("memory".to_string(), qty("128Mi")),
            ]
            .into_iter()
            .collect(),
            requests: [("cpu".to_string(), qty("250m"))].into_iter().collect(),
            claims: vec![],
        }),
        volume_mounts: vec![core::VolumeMount {
            name: s("config"),
            read_only: Some(true),
            mount_path: s("/etc/config"),
            sub_path: s(""),
            ..Default::default()
        }],
        liveness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                http_get: Some(core::HttpGetAction {
                    path: s("/healthz"),
                    port: Some(int_or_int(80)),
                    host: s(""),
                    scheme: s("HTTP"),
                    http_headers: vec![core::HttpHeader {
                        name: s("X-Probe"),
                        value: s(""),
                    }],
                }),
                ..Default::default()
            }),
            initial_delay_seconds: Some(5),
            timeout_seconds: Some(1),
            period_seconds: Some(10),
            success_threshold: Some(1),
            failure_threshold: Some(3),
            termination_grace_period_seconds: None,
        }),
        readiness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                tcp_socket: Some(core::TcpSocketAction {
                    port: Some(int_or_str("http")),
                    host: s(""),
                }),
                ..Default::default()
            }),
            initial_delay_seconds: Some(0),
            ..Default::default()
        }),
        termination_message_path: s("/dev/termination-log"),
        termination_message_policy: s("File"),
        image_pull_policy: s("IfNotPresent"),
        security_context: Some(core::SecurityContext {
            allow_privilege_escalation: Some(false),
            run_as_non_root: Some(true),
            run_as_user: Some(0),
            ..Default::default()
        }),
        stdin: Some(false),
        stdin_once: Some(false),
        tty: Some(false),
        ..Default::default()
    };
    core::PodTemplateSpec {
        metadata: Some(tm),
        spec: Some(core::PodSpec {
            volumes: vec![core::Volume {
                name: s("config"),
                volume_source: Some(core::VolumeSource {
                    config_map: Some(core::ConfigMapVolumeSource {
                        local_object_reference: Some(core::LocalObjectReference { name: s("c1") }),
                        default_mode: Some(420),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }],
            containers: vec![container],
            restart_policy: s("Always"),
            termination_grace_period_seconds: Some(0),
            dns_policy: s(""),
            node_selector: smap(&[("kubernetes.io/os", "linux")]),
            service_account_name: s(""),
            automount_service_account_token: Some(false),
            host_network: Some(false),
            security_context: Some(core::PodSecurityContext {
                fs_group: Some(2000),
                supplemental_groups: vec![1000, 3000],
                ..Default::default()
            }),
            affinity: Some(core::Affinity {
                node_affinity: Some(core::NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(core::NodeSelector {
                        node_selector_terms: vec![core::NodeSelectorTerm {
                            match_expressions: vec![core::NodeSelectorRequirement {
                                key: s("zone"),
                                operator: s("In"),
                                values: strings(&["a", "b"]),
                            }],
                            match_fields: vec![],
                        }],
                    }),
                    preferred_during_scheduling_ignored_during_execution: vec![],
                }),
                pod_anti_affinity: Some(core::PodAntiAffinity {
                    preferred_during_scheduling_ignored_during_execution: vec![
                        core::WeightedPodAffinityTerm {
                            weight: Some(100),
                            pod_affinity_term: Some(core::PodAffinityTerm {
                                label_selector: Some(meta::LabelSelector {
                                    match_labels: smap(&[("app", "web")]),
                                    match_expressions: vec![],
                                }),
                                topology_key: s("kubernetes.io/hostname"),
                                ..Default::default()
                            }),
                        },
                    ],
                    ..Default::default()
                }),
                pod_affinity: None,
            }),
            scheduler_name: s("default-scheduler"),
            tolerations: vec![
                core::Toleration {
                    key: s("node.kubernetes.io/not-ready"),
                    operator: s("Exists"),
                    value: s(""),
                    effect: s("NoExecute"),
                    toleration_seconds: Some(300),
                },
                core::Toleration {
                    key: s("dedicated"),
                    operator: s("Equal"),
                    value: s("web"),
                    effect: s("NoSchedule"),
                    toleration_seconds: None,
                },
            ],
            enable_service_links: Some(false),
            ..Default::default()
        }),
    }
}

fn pod_template_json() -> Value {
    json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "volumes": [{"name": "config", "configMap": {"name": "c1", "defaultMode": 420}}],
            "containers": [{
                "name": "nginx",
                "image": "nginx:1.27",
                "command": ["nginx"],
                "args": ["-g", "daemon off;"],
                "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                "env": [
                    {"name": "MODE", "value": "prod"},
                    {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "c1", "key": "a", "optional": true}}},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}
                ],
                "resources": {
                    "limits": {"cpu": "500m", "memory": "128Mi"},
                    "requests": {"cpu": "250m"}
                },
                "volumeMounts": [{"name": "config", "readOnly": true, "mountPath": "/etc/config"}],
                "livenessProbe": {
                    "httpGet": {
                        "path": "/healthz",
                        "port": 80,
                        "scheme": "HTTP",
                        // HTTPHeader.value has no omitempty: Go keeps ""
                        "httpHeaders": [{"name": "X-Probe", "value": ""}]
                    },
                    "initialDelaySeconds": 5,
                    "timeoutSeconds": 1,
                    "periodSeconds": 10,
                    "successThreshold": 1,
                    "failureThreshold": 3
                },
                "readinessProbe": {"tcpSocket": {"port": "http"}},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
                "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true, "runAsUser": 0}
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 0,
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "automountServiceAccountToken": false,
            "securityContext": {"fsGroup": 2000, "supplementalGroups": [1000, 3000]},
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]
                    }
                },
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": {"app": "web"}},
                            "topologyKey": "kubernetes.io/hostname"
                        }
                    }]
                }
            },
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}
            ],
            "enableServiceLinks": false
        }
    })
}

#[test]
fn deployment_with_full_pod_template() {
    use k8s_pb::api::apps::v1 as apps;
    let d = apps::Deployment {
        metadata: Some(object_meta("web", "demo")),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(0),
            selector: Some(meta::LabelSelector {
                match_labels: smap(&[("app", "web")]),
                match_expressions: vec![meta::LabelSelectorRequirement {
                    key: s("tier"),
                    operator: s("NotIn"),
                    values: strings(&["db"]),
                }],
            }),
            template: Some(pod_template()),
            strategy: Some(apps::DeploymentStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_unavailable: Some(int_or_str("25%")),
                    max_surge: Some(int_or_int(1)),
                }),
            }),
            min_ready_seconds: Some(0),
            revision_history_limit: Some(0),
            paused: Some(false),
            progress_deadline_seconds: Some(600),
        }),
        status: Some(apps::DeploymentStatus {
            observed_generation: Some(0),
            replicas: Some(0),
            ..Default::default()
        }),
    };
    check::<k8s_openapi::api::apps::v1::Deployment, _>(
        "apps/v1",
        "Deployment",
        &d,
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {
                // *int32 zeros are explicit choices and survive
                "replicas": 0,
                "selector": {
                    "matchLabels": {"app": "web"},
                    "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]
                },
                "template": pod_template_json(),
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
                "revisionHistoryLimit": 0,
                "progressDeadlineSeconds": 600
            },
            "status": {}
        }),
    );
}

#[test]
fn service_with_int_or_string_ports() {
    use k8s_pb::api::core::v1 as core;
    let svc = core::Service {
        metadata: Some(object_meta("svc1", "demo")),
        spec: Some(core::ServiceSpec {
            ports: vec![
                core::ServicePort {
                    name: s("80-8080"),
                    protocol: s("TCP"),
                    port: Some(80),
                    target_port: Some(int_or_int(8080)),
                    node_port: Some(0),
                    app_protocol: None,
                },
                core::ServicePort {
                    name: s("https"),
                    protocol: s("TCP"),
                    port: Some(443),
                    target_port: Some(int_or_str("https")),
                    node_port: Some(30443),
                    app_protocol: s("kubernetes.io/h2c"),
                },
            ],
            selector: smap(&[("app", "web")]),
            cluster_ip: s("10.96.0.10"),
            cluster_ips: strings(&["10.96.0.10", "fd00::10"]),
            r#type: s("ClusterIP"),
            session_affinity: s("None"),
            external_traffic_policy: s(""),
            health_check_node_port: Some(0),
            publish_not_ready_addresses: Some(false),
            ip_families: strings(&["IPv4", "IPv6"]),
            ip_family_policy: s("PreferDualStack"),
            internal_traffic_policy: s("Cluster"),
            ..Default::default()
        }),
        status: Some(core::ServiceStatus::default()),
    };
    check::<k8s_openapi::api::core::v1::Service, _>(
        "v1",
        "Service",
        &svc,
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc1", "namespace": "demo"},
            "spec": {
                "ports": [
                    {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                    {"name": "https", "protocol": "TCP", "port": 443, "targetPort": "https", "nodePort": 30443, "appProtocol": "kubernetes.io/h2c"}
                ],
                "selector": {"app": "web"},
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10", "fd00::10"],
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "ipFamilies": ["IPv4", "IPv6"],
                "ipFamilyPolicy": "PreferDualStack",
                "internalTrafficPolicy": "Cluster"
            },
            "status": {}
        }),
    );
}

#[test]
fn job() {
    use k8s_pb::api::batch::v1 as batch;
    use k8s_pb::api::core::v1 as core;
    let job = batch::Job {
        metadata: Some(object_meta("j1", "demo")),
        spec: Some(batch::JobSpec {
            parallelism: Some(1),
            completions: Some(1),
            backoff_limit: Some(0),
            ttl_seconds_after_finished: Some(100),
            completion_mode: s("NonIndexed"),
            suspend: Some(false),
            template: Some(core::PodTemplateSpec {
                metadata: Some(object_meta("", "")),
                spec: Some(core::PodSpec {
                    containers: vec![core::Container {
                        name: s("j1"),
                        image: s("busybox"),
                        resources: Some(core::ResourceRequirements::default()),
                        ..Default::default()
                    }],
                    restart_policy: s("Never"),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        status: Some(batch::JobStatus {
            active: Some(0),
            start_time: None,
            ..Default::default()
        }),
    };
    check::<k8s_openapi::api::batch::v1::Job, _>(
        "batch/v1",
        "Job",
        &job,
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "j1", "namespace": "demo"},
            "spec": {
                "parallelism": 1,
                "completions": 1,
                "backoffLimit": 0,
                "ttlSecondsAfterFinished": 100,
                "completionMode": "NonIndexed",
                "suspend": false,
                "template": {
                    "metadata": {},
                    "spec": {
                        "containers": [{"name": "j1", "image": "busybox", "resources": {}}],
                        "restartPolicy": "Never"
                    }
                }
            },
            "status": {}
        }),
    );
}

#[test]
fn horizontal_pod_autoscaler_v2() {
    use k8s_pb::api::autoscaling::v2 as hpa;
    let h = hpa::HorizontalPodAutoscaler {
        metadata: Some(object_meta("web", "demo")),
        spec: Some(hpa::HorizontalPodAutoscalerSpec {
            scale_target_ref: Some(hpa::CrossVersionObjectReference {
                kind: s("Deployment"),
                name: s("web"),
                api_version: s("apps/v1"),
            }),
            min_replicas: Some(1),
            max_replicas: Some(10),
            metrics: vec![hpa::MetricSpec {
                r#type: s("Resource"),
                resource: Some(hpa::ResourceMetricSource {
                    name: s("cpu"),
                    target: Some(hpa::MetricTarget {
                        r#type: s("Utilization"),
                        average_utilization: Some(80),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }],
            behavior: Some(hpa::HorizontalPodAutoscalerBehavior {
                scale_down: Some(hpa::HpaScalingRules {
                    stabilization_window_seconds: Some(300),
                    select_policy: s("Max"),
                    policies: vec![hpa::HpaScalingPolicy {
                        r#type: s("Percent"),
                        value: Some(100),
                        period_seconds: Some(15),
                    }],
                    tolerance: None,
                }),
                scale_up: None,
            }),
        }),
        status: None,
    };
    check::<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler, _>(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        &h,
        json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                "minReplicas": 1,
                "maxReplicas": 10,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}],
                "behavior": {"scaleDown": {
                    "stabilizationWindowSeconds": 300,
                    "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]
                }}
            }
        }),
    );
}

#[test]
fn autoscaling_v1_scale_and_hpa() {
    use k8s_pb::api::autoscaling::v1 as as1;
    let scale = as1::Scale {
        metadata: Some(object_meta("web", "demo")),
        spec: Some(as1::ScaleSpec { replicas: Some(0) }),
        status: Some(as1::ScaleStatus {
            replicas: Some(0),
            selector: s(""),
        }),
    };
    check::<k8s_openapi::api::autoscaling::v1::Scale, _>(
        "autoscaling/v1",
        "Scale",
        &scale,
        json!({
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {"name": "web", "namespace": "demo"},
            // ScaleSpec.replicas is a Go value with omitempty: zero means unset
            "spec": {},
            // ScaleStatus.replicas has no omitempty
            "status": {"replicas": 0}
        }),
    );
    let h = as1::HorizontalPodAutoscaler {
        metadata: Some(object_meta("web", "demo")),
        spec: Some(as1::HorizontalPodAutoscalerSpec {
            scale_target_ref: Some(as1::CrossVersionObjectReference {
                kind: s("Deployment"),
                name: s("web"),
                api_version: s("apps/v1"),
            }),
            min_replicas: Some(2),
            max_replicas: Some(5),
            target_cpu_utilization_percentage: Some(70),
        }),
        status: None,
    };
    check::<k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler, _>(
        "autoscaling/v1",
        "HorizontalPodAutoscaler",
        &h,
        json!({
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                "minReplicas": 2,
                "maxReplicas": 5,
                "targetCPUUtilizationPercentage": 70
            }
        }),
    );
}

fn delete_options() -> meta::DeleteOptions {
    meta::DeleteOptions {
        grace_period_seconds: Some(0),
        preconditions: Some(meta::Preconditions {
            uid: s("6f1c3c1e-0000-4000-8000-000000000001"),
            resource_version: s("42"),
        }),
        orphan_dependents: None,
        propagation_policy: s("Foreground"),
        dry_run: strings(&["All"]),
        ignore_store_read_error_with_cluster_breaking_potential: None,
    }
}

#[test]
fn eviction_with_delete_options() {
    use k8s_pb::api::policy::v1 as policy;
    let ev = policy::Eviction {
        metadata: Some(object_meta("web-1", "demo")),
        delete_options: Some(delete_options()),
    };
    check::<k8s_openapi::api::policy::v1::Eviction, _>(
        "policy/v1",
        "Eviction",
        &ev,
        json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": "web-1", "namespace": "demo"},
            "deleteOptions": {
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": "6f1c3c1e-0000-4000-8000-000000000001", "resourceVersion": "42"},
                "propagationPolicy": "Foreground",
                "dryRun": ["All"]
            }
        }),
    );
}

#[test]
fn delete_options_alone() {
    for api_version in ["meta.k8s.io/v1", "v1", "apps/v1"] {
        check::<k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions, _>(
            api_version,
            "DeleteOptions",
            &delete_options(),
            json!({
                "apiVersion": api_version,
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": "6f1c3c1e-0000-4000-8000-000000000001", "resourceVersion": "42"},
                "propagationPolicy": "Foreground",
                "dryRun": ["All"]
            }),
        );
    }
    let orphan = meta::DeleteOptions {
        orphan_dependents: Some(false),
        ..Default::default()
    };
    assert_json(
        &decode(&encode("meta.k8s.io/v1", "DeleteOptions", &orphan)),
        &json!({"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions", "orphanDependents": false}),
    );
}

#[test]
fn events_v1_event_with_micro_time() {
    use k8s_pb::api::core::v1 as core;
    use k8s_pb::api::events::v1 as events;
    let ev = events::Event {
        metadata: Some(object_meta("web.17a", "demo")),
        event_time: Some(micro(1_700_000_000, 123_456_789)),
        series: Some(events::EventSeries {
            count: Some(2),
            last_observed_time: Some(micro(1_700_000_060, 5_000)),
        }),
        reporting_controller: s("skiff.dev/controller"),
        reporting_instance: s("skiff-1"),
        action: s("Scheduling"),
        reason: s("Scheduled"),
        regarding: Some(core::ObjectReference {
            kind: s("Pod"),
            namespace: s("demo"),
            name: s("web-1"),
            uid: s(""),
            api_version: s("v1"),
            resource_version: s(""),
            field_path: s(""),
        }),
        note: s("Successfully assigned demo/web-1"),
        r#type: s("Normal"),
        deprecated_first_timestamp: Some(meta::Time::default()),
        deprecated_last_timestamp: Some(time(1_700_000_000)),
        deprecated_count: Some(0),
        ..Default::default()
    };
    check::<k8s_openapi::api::events::v1::Event, _>(
        "events.k8s.io/v1",
        "Event",
        &ev,
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "web.17a", "namespace": "demo"},
            "eventTime": "2023-11-14T22:13:20.123456Z",
            "series": {"count": 2, "lastObservedTime": "2023-11-14T22:14:20.000005Z"},
            "reportingController": "skiff.dev/controller",
            "reportingInstance": "skiff-1",
            "action": "Scheduling",
            "reason": "Scheduled",
            "regarding": {"kind": "Pod", "namespace": "demo", "name": "web-1", "apiVersion": "v1"},
            "note": "Successfully assigned demo/web-1",
            "type": "Normal",
            "deprecatedLastTimestamp": "2023-11-14T22:13:20Z"
        }),
    );
}

#[test]
fn core_event_with_times() {
    use k8s_pb::api::core::v1 as core;
    let ev = core::Event {
        metadata: Some(object_meta("web.17b", "demo")),
        involved_object: Some(core::ObjectReference {
            kind: s("Pod"),
            name: s("web-1"),
            ..Default::default()
        }),
        reason: s("Pulled"),
        message: s("pulled"),
        source: Some(core::EventSource {
            component: s("kubelet"),
            host: s("node-1"),
        }),
        first_timestamp: Some(time(951_782_400)),
        last_timestamp: Some(time(951_782_461)),
        count: Some(3),
        r#type: s("Normal"),
        event_time: Some(meta::MicroTime::default()),
        ..Default::default()
    };
    check::<k8s_openapi::api::core::v1::Event, _>(
        "v1",
        "Event",
        &ev,
        json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "web.17b", "namespace": "demo"},
            "involvedObject": {"kind": "Pod", "name": "web-1"},
            "reason": "Pulled",
            "message": "pulled",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2000-02-29T00:00:00Z",
            "lastTimestamp": "2000-02-29T00:01:01Z",
            "count": 3,
            "type": "Normal"
        }),
    );
}

#[test]
fn lease_with_micro_time() {
    use k8s_pb::api::coordination::v1 as coordination;
    let lease = coordination::Lease {
        metadata: Some(object_meta("node-1", "kube-node-lease")),
        spec: Some(coordination::LeaseSpec {
            holder_identity: s("node-1"),
            lease_duration_seconds: Some(40),
            acquire_time: Some(micro(0, 0)),
            renew_time: Some(micro(1_735_689_599, 999_999_999)),
            lease_transitions: Some(0),
            ..Default::default()
        }),
    };
    check::<k8s_openapi::api::coordination::v1::Lease, _>(
        "coordination.k8s.io/v1",
        "Lease",
        &lease,
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": "node-1",
                "leaseDurationSeconds": 40,
                "acquireTime": "1970-01-01T00:00:00.000000Z",
                "renewTime": "2024-12-31T23:59:59.999999Z",
                "leaseTransitions": 0
            }
        }),
    );
}

#[test]
fn role_binding() {
    use k8s_pb::api::rbac::v1 as rbac;
    let rb = rbac::RoleBinding {
        metadata: Some(object_meta("rb1", "demo")),
        subjects: vec![
            rbac::Subject {
                kind: s("User"),
                api_group: s("rbac.authorization.k8s.io"),
                name: s("bob"),
                namespace: s(""),
            },
            rbac::Subject {
                kind: s("ServiceAccount"),
                api_group: s(""),
                name: s("default"),
                namespace: s("demo"),
            },
        ],
        role_ref: Some(rbac::RoleRef {
            api_group: s("rbac.authorization.k8s.io"),
            kind: s("Role"),
            name: s("r1"),
        }),
    };
    check::<k8s_openapi::api::rbac::v1::RoleBinding, _>(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        &rb,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "rb1", "namespace": "demo"},
            "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"},
                {"kind": "ServiceAccount", "name": "default", "namespace": "demo"}
            ],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r1"}
        }),
    );
}

#[test]
fn role_and_priority_class() {
    use k8s_pb::api::rbac::v1 as rbac;
    use k8s_pb::api::scheduling::v1 as scheduling;
    let role = rbac::Role {
        metadata: Some(object_meta("r1", "demo")),
        rules: vec![rbac::PolicyRule {
            verbs: strings(&["get", "list"]),
            api_groups: strings(&[""]),
            resources: strings(&["pods"]),
            resource_names: vec![],
            non_resource_ur_ls: vec![],
        }],
    };
    check::<k8s_openapi::api::rbac::v1::Role, _>(
        "rbac.authorization.k8s.io/v1",
        "Role",
        &role,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "r1", "namespace": "demo"},
            "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]
        }),
    );
    let pc = scheduling::PriorityClass {
        metadata: Some(object_meta("high", "")),
        value: Some(1000),
        global_default: Some(false),
        description: s(""),
        preemption_policy: s("PreemptLowerPriority"),
    };
    check::<k8s_openapi::api::scheduling::v1::PriorityClass, _>(
        "scheduling.k8s.io/v1",
        "PriorityClass",
        &pc,
        json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "high"},
            "value": 1000,
            "preemptionPolicy": "PreemptLowerPriority"
        }),
    );
}

#[test]
fn subject_access_review_extra_values() {
    use k8s_pb::api::authorization::v1 as authz;
    let sar = authz::SubjectAccessReview {
        metadata: Some(object_meta("", "")),
        spec: Some(authz::SubjectAccessReviewSpec {
            resource_attributes: Some(authz::ResourceAttributes {
                namespace: s("demo"),
                verb: s("get"),
                group: s(""),
                version: s(""),
                resource: s("pods"),
                subresource: s(""),
                name: s(""),
                ..Default::default()
            }),
            user: s("bob"),
            groups: strings(&["system:authenticated"]),
            extra: [(
                "scopes".to_string(),
                authz::ExtraValue {
                    items: strings(&["a", "b"]),
                },
            )]
            .into_iter()
            .collect(),
            uid: s(""),
            non_resource_attributes: None,
        }),
        status: Some(authz::SubjectAccessReviewStatus {
            allowed: Some(false),
            denied: Some(false),
            reason: s(""),
            evaluation_error: s(""),
        }),
    };
    check::<k8s_openapi::api::authorization::v1::SubjectAccessReview, _>(
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        &sar,
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "metadata": {},
            "spec": {
                "resourceAttributes": {"namespace": "demo", "verb": "get", "resource": "pods"},
                "user": "bob",
                "groups": ["system:authenticated"],
                // ExtraValue is a Go []string: JSON has the bare array
                "extra": {"scopes": ["a", "b"]}
            },
            // allowed has no omitempty
            "status": {"allowed": false}
        }),
    );
}

#[test]
fn token_review() {
    use k8s_pb::api::authentication::v1 as authn;
    let tr = authn::TokenReview {
        metadata: Some(object_meta("", "")),
        spec: Some(authn::TokenReviewSpec {
            token: s("abc.def"),
            audiences: strings(&["https://kubernetes.default.svc"]),
        }),
        status: None,
    };
    check::<k8s_openapi::api::authentication::v1::TokenReview, _>(
        "authentication.k8s.io/v1",
        "TokenReview",
        &tr,
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "metadata": {},
            "spec": {"token": "abc.def", "audiences": ["https://kubernetes.default.svc"]}
        }),
    );
}

fn props(
    ty: &str,
) -> k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1::JsonSchemaProps {
    k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1::JsonSchemaProps {
        r#type: s(ty),
        ..Default::default()
    }
}

#[test]
fn custom_resource_definition_with_schema() {
    use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
    let raw = |v: Value| ext::Json {
        raw: Some(serde_json::to_vec(&v).unwrap()),
    };
    let mut replicas = props("integer");
    replicas.minimum = Some(0.0);
    replicas.maximum = Some(1.5e3);
    replicas.exclusive_maximum = Some(false);
    replicas.default = Some(raw(json!(1)));
    replicas.format = s("int32");
    let mut mode = props("string");
    mode.r#enum = vec![raw(json!("a")), raw(json!("b"))];
    mode.nullable = Some(true);
    let mut tags = props("array");
    tags.items = Some(Box::new(ext::JsonSchemaPropsOrArray {
        schema: Some(Box::new(props("string"))),
        j_son_schemas: vec![],
    }));
    tags.x_kubernetes_list_type = s("set");
    let mut extra = props("object");
    extra.x_kubernetes_preserve_unknown_fields = Some(true);
    let mut labels = props("object");
    labels.additional_properties = Some(Box::new(ext::JsonSchemaPropsOrBool {
        allows: Some(true),
        schema: Some(Box::new(props("string"))),
    }));
    let mut closed = props("object");
    closed.additional_properties = Some(Box::new(ext::JsonSchemaPropsOrBool {
        allows: Some(false),
        schema: None,
    }));
    let mut port = props("");
    port.x_kubernetes_int_or_string = Some(true);
    port.any_of = vec![props("integer"), props("string")];
    let mut spec = props("object");
    spec.properties = [
        ("replicas", replicas),
        ("mode", mode),
        ("tags", tags),
        ("extra", extra),
        ("labels", labels),
        ("closed", closed),
        ("port", port),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    spec.required = strings(&["replicas"]);
    spec.dependencies = [(
        "mode".to_string(),
        ext::JsonSchemaPropsOrStringArray {
            schema: None,
            property: strings(&["replicas"]),
        },
    )]
    .into_iter()
    .collect();
    spec.x_kubernetes_validations = vec![ext::ValidationRule {
        rule: s("self.replicas >= 0"),
        message: s("replicas must not be negative"),
        ..Default::default()
    }];
    let mut root = props("object");
    root.properties = [("spec".to_string(), spec)].into_iter().collect();
    root.description = s("A widget.");

    let crd = ext::CustomResourceDefinition {
        metadata: Some(object_meta("widgets.example.com", "")),
        spec: Some(ext::CustomResourceDefinitionSpec {
            group: s("example.com"),
            names: Some(ext::CustomResourceDefinitionNames {
                plural: s("widgets"),
                singular: s("widget"),
                short_names: strings(&["wd"]),
                kind: s("Widget"),
                list_kind: s("WidgetList"),
                categories: vec![],
            }),
            scope: s("Namespaced"),
            versions: vec![ext::CustomResourceDefinitionVersion {
                name: s("v1"),
                served: Some(true),
                storage: Some(true),
                deprecated: Some(false),
                schema: Some(ext::CustomResourceValidation {
                    open_apiv3_schema: Some(root),
                }),
                subresources: Some(ext::CustomResourceSubresources {
                    status: Some(ext::CustomResourceSubresourceStatus {}),
                    scale: Some(ext::CustomResourceSubresourceScale {
                        spec_replicas_path: s(".spec.replicas"),
                        status_replicas_path: s(".status.replicas"),
                        label_selector_path: None,
                    }),
                }),
                additional_printer_columns: vec![ext::CustomResourceColumnDefinition {
                    name: s("Replicas"),
                    r#type: s("integer"),
                    format: s(""),
                    description: s(""),
                    priority: Some(0),
                    json_path: s(".spec.replicas"),
                }],
                ..Default::default()
            }],
            conversion: Some(ext::CustomResourceConversion {
                strategy: s("None"),
                webhook: None,
            }),
            preserve_unknown_fields: Some(false),
        }),
        status: None,
    };
    check::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition, _>(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        &crd,
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "names": {"plural": "widgets", "singular": "widget", "shortNames": ["wd"], "kind": "Widget", "listKind": "WidgetList"},
                "scope": "Namespaced",
                "versions": [{
                    "name": "v1",
                    "served": true,
                    "storage": true,
                    "schema": {"openAPIV3Schema": {
                        "type": "object",
                        "description": "A widget.",
                        "properties": {"spec": {
                            "type": "object",
                            "required": ["replicas"],
                            "properties": {
                                "replicas": {"type": "integer", "format": "int32", "default": 1, "minimum": 0.0, "maximum": 1500.0},
                                "mode": {"type": "string", "enum": ["a", "b"], "nullable": true},
                                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                "closed": {"type": "object", "additionalProperties": false},
                                "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}
                            },
                            "dependencies": {"mode": ["replicas"]},
                            "x-kubernetes-validations": [{"rule": "self.replicas >= 0", "message": "replicas must not be negative"}]
                        }}
                    }},
                    "subresources": {
                        "status": {},
                        "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}
                    },
                    "additionalPrinterColumns": [{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}]
                }],
                "conversion": {"strategy": "None"}
            }
        }),
    );
}

#[test]
fn controller_revision_raw_extension_json_and_nested_protobuf() {
    use k8s_pb::api::apps::v1 as apps;
    use k8s_pb::api::core::v1 as core;
    let rev = apps::ControllerRevision {
        metadata: Some(object_meta("web-1", "demo")),
        data: Some(RawExtension {
            raw: Some(br#"{"spec":{"template":{"metadata":{"labels":{"app":"web"}}}}}"#.to_vec()),
        }),
        revision: Some(1),
    };
    check::<k8s_openapi::api::apps::v1::ControllerRevision, _>(
        "apps/v1",
        "ControllerRevision",
        &rev,
        json!({
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {"name": "web-1", "namespace": "demo"},
            "data": {"spec": {"template": {"metadata": {"labels": {"app": "web"}}}}},
            "revision": 1
        }),
    );
    // A RawExtension holding a protobuf-encoded object is transcoded too.
    let inner = core::ConfigMap {
        metadata: Some(object_meta("inner", "")),
        data: smap(&[("x", "y")]),
        ..Default::default()
    };
    let rev = apps::ControllerRevision {
        metadata: Some(object_meta("web-2", "demo")),
        data: Some(RawExtension {
            raw: Some(encode("v1", "ConfigMap", &inner)),
        }),
        revision: Some(2),
    };
    assert_json(
        &decode(&encode("apps/v1", "ControllerRevision", &rev)),
        &json!({
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {"name": "web-2", "namespace": "demo"},
            "data": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inner"}, "data": {"x": "y"}},
            "revision": 2
        }),
    );
}

#[test]
fn managed_fields_fields_v1() {
    use k8s_pb::api::core::v1 as core;
    let mut m = object_meta("c2", "demo");
    m.managed_fields = vec![meta::ManagedFieldsEntry {
        manager: s("kubectl-create"),
        operation: s("Update"),
        api_version: s("v1"),
        time: Some(time(1_700_000_000)),
        fields_type: s("FieldsV1"),
        fields_v1: Some(meta::FieldsV1 {
            raw: Some(br#"{"f:data":{".":{},"f:a":{}}}"#.to_vec()),
        }),
        subresource: s(""),
    }];
    m.owner_references = vec![meta::OwnerReference {
        api_version: s("apps/v1"),
        kind: s("Deployment"),
        name: s("web"),
        uid: s("u-1"),
        controller: Some(true),
        block_owner_deletion: Some(false),
    }];
    m.finalizers = strings(&["example.com/keep"]);
    m.deletion_grace_period_seconds = Some(0);
    let cm = core::ConfigMap {
        metadata: Some(m),
        data: smap(&[("a", "b")]),
        ..Default::default()
    };
    check::<k8s_openapi::api::core::v1::ConfigMap, _>(
        "v1",
        "ConfigMap",
        &cm,
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "c2",
                "namespace": "demo",
                "deletionGracePeriodSeconds": 0,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u-1", "controller": true, "blockOwnerDeletion": false}],
                "finalizers": ["example.com/keep"],
                "managedFields": [{
                    "manager": "kubectl-create",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2023-11-14T22:13:20Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {".": {}, "f:a": {}}}
                }]
            },
            "data": {"a": "b"}
        }),
    );
}

#[test]
fn metrics_duration_window() {
    use k8s_pb::metrics::pkg::apis::metrics::v1beta1 as metrics;
    let pm = metrics::PodMetrics {
        metadata: Some(object_meta("web-1", "demo")),
        timestamp: Some(time(1_700_000_000)),
        window: Some(meta::Duration {
            duration: Some(30_500_000_000),
        }),
        containers: vec![metrics::ContainerMetrics {
            name: s("nginx"),
            usage: [("cpu".to_string(), qty("1m"))].into_iter().collect(),
        }],
    };
    assert_json(
        &decode(&encode("metrics.k8s.io/v1beta1", "PodMetrics", &pm)),
        &json!({
            "apiVersion": "metrics.k8s.io/v1beta1",
            "kind": "PodMetrics",
            "metadata": {"name": "web-1", "namespace": "demo"},
            "timestamp": "2023-11-14T22:13:20Z",
            "window": "30.5s",
            "containers": [{"name": "nginx", "usage": {"cpu": "1m"}}]
        }),
    );
}

#[test]
fn wire_details_unknown_fields_packed_and_merging() {
    // A Namespace with unknown fields of every wire type, which are skipped.
    let mut raw = k8s_pb::api::core::v1::Namespace {
        metadata: Some(object_meta("demo", "")),
        ..Default::default()
    }
    .encode_to_vec();
    raw.extend([0xb8, 0x3e, 0x07]); // field 999 varint
    raw.extend([0xb9, 0x3e, 1, 2, 3, 4, 5, 6, 7, 8]); // field 999 fixed64
    raw.extend([0xba, 0x3e, 0x02, 0xff, 0xff]); // field 999 bytes
    raw.extend([0xbd, 0x3e, 1, 2, 3, 4]); // field 999 fixed32
    // The metadata field again: protobuf merges repeated message fields.
    raw.extend([0x0a, 0x04, 0x1a, 0x02, b'n', b's']); // metadata { namespace: "ns" }
    assert_json(
        &decode(&wrap("v1", "Namespace", raw)),
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo", "namespace": "ns"}}),
    );
    // Packed repeated int64 (PodSecurityContext.supplementalGroups, field 4).
    let sc = [0x22, 0x03, 0x01, 0x96, 0x01];
    let mut spec = vec![0x72, sc.len() as u8];
    spec.extend(sc); // PodSpec field 14: securityContext
    let mut pod = vec![0x12, spec.len() as u8];
    pod.extend(spec); // Pod field 2: spec
    assert_json(
        &decode(&wrap("v1", "Pod", pod)),
        &json!({"apiVersion": "v1", "kind": "Pod", "spec": {"securityContext": {"supplementalGroups": [1, 150]}}}),
    );
    // A zero on an omitzero field after values: the last one wins, so it is unset.
    let raw = [0x0a, 0x08, 0x0a, 0x01, b'a', 0x0a, 0x01, b'b', 0x0a, 0x00];
    assert_json(
        &decode(&wrap("v1", "Namespace", raw.to_vec())),
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {}}),
    );
}

#[test]
fn empty_object_and_type_meta() {
    assert_json(
        &decode(&wrap("v1", "Namespace", Vec::new())),
        &json!({"apiVersion": "v1", "kind": "Namespace"}),
    );
    let body = wrap("batch/v1", "Job", Vec::new());
    assert_eq!(
        type_meta(&body).unwrap(),
        ("batch/v1".to_string(), "Job".to_string())
    );
}

// ---------------------------------------------------------------------------------------
// special values

#[test]
fn go_durations() {
    for (ns, want) in [
        (0, "0s"),
        (1, "1ns"),
        (999, "999ns"),
        (1_500, "1.5µs"),
        (500_000_000, "500ms"),
        (1_000_000_000, "1s"),
        (61_000_000_000, "1m1s"),
        (3_723_000_000_000, "1h2m3s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_661_500_000_000, "1h1m1.5s"),
        (-90_000_000_000, "-1m30s"),
        (i64::MIN, "-2562047h47m16.854775808s"),
        (i64::MAX, "2562047h47m16.854775807s"),
    ] {
        assert_eq!(go_duration(ns), want, "{ns}ns");
    }
}

#[test]
fn times() {
    assert_eq!(format_time(0, 0, false).unwrap(), "1970-01-01T00:00:00Z");
    assert_eq!(
        format_time(951_782_400, 0, false).unwrap(),
        "2000-02-29T00:00:00Z"
    );
    assert_eq!(format_time(-1, 0, false).unwrap(), "1969-12-31T23:59:59Z");
    // nanos out of range normalize as Go's time.Unix does
    assert_eq!(
        format_time(10, -1, true).unwrap(),
        "1970-01-01T00:00:09.999999Z"
    );
    assert_eq!(
        format_time(10, 2_500_000_000, true).unwrap(),
        "1970-01-01T00:00:12.500000Z"
    );
    assert_eq!(
        format_time(253_402_300_799, 0, false).unwrap(),
        "9999-12-31T23:59:59Z"
    );
    assert_eq!(
        format_time(-62_167_219_200, 0, false).unwrap(),
        "0000-01-01T00:00:00Z"
    );
    assert!(format_time(253_402_300_800, 0, false).is_err());
    assert!(format_time(i64::MAX, i64::MAX, false).is_err());
    assert!(format_time(i64::MIN, 0, false).is_err());
}

// ---------------------------------------------------------------------------------------
// the schema table

#[test]
fn schema_parses_and_has_the_served_kinds() {
    let schema = schema().expect("schema.txt parses");
    assert!(
        schema.messages.len() > 1000,
        "{} messages",
        schema.messages.len()
    );
    for (api_version, kind) in [
        ("v1", "Namespace"),
        ("v1", "Pod"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("v1", "Endpoints"),
        ("v1", "Node"),
        ("v1", "ServiceAccount"),
        ("v1", "PersistentVolumeClaim"),
        ("v1", "Binding"),
        ("v1", "DeleteOptions"),
        ("meta.k8s.io/v1", "DeleteOptions"),
        ("v1", "Status"),
        ("authentication.k8s.io/v1", "TokenRequest"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "ReplicaSet"),
        ("batch/v1", "CronJob"),
        ("policy/v1", "Eviction"),
        ("policy/v1", "PodDisruptionBudget"),
        ("autoscaling/v1", "Scale"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("networking.k8s.io/v1", "Ingress"),
        ("networking.k8s.io/v1", "IngressClass"),
        ("storage.k8s.io/v1", "StorageClass"),
        ("storage.k8s.io/v1", "CSIDriver"),
        ("coordination.k8s.io/v1", "Lease"),
        ("events.k8s.io/v1", "Event"),
        ("discovery.k8s.io/v1", "EndpointSlice"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("node.k8s.io/v1", "RuntimeClass"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("authentication.k8s.io/v1", "TokenReview"),
        ("authentication.k8s.io/v1", "SelfSubjectReview"),
        ("authorization.k8s.io/v1", "SubjectAccessReview"),
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
        ("authorization.k8s.io/v1", "LocalSubjectAccessReview"),
        ("certificates.k8s.io/v1", "CertificateSigningRequest"),
        (
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
        ),
        (
            "admissionregistration.k8s.io/v1",
            "ValidatingAdmissionPolicy",
        ),
        ("flowcontrol.apiserver.k8s.io/v1", "FlowSchema"),
        ("resource.k8s.io/v1beta1", "ResourceClaim"),
        ("apiregistration.k8s.io/v1", "APIService"),
    ] {
        let idx = schema
            .find_kind(api_version, kind)
            .unwrap_or_else(|| panic!("no message for {api_version} {kind}"));
        assert!(schema.messages[idx].name.ends_with(&format!(".{kind}")));
    }
    for (api_version, kind) in [
        ("example.com/v1", "Widget"),
        ("v1", "Widget"),
        ("apps/v1", "Pod"),
        ("", "Pod"),
        ("v1", ""),
        ("v1", "../Pod"),
        ("apps/v1/x", "Deployment"),
    ] {
        assert!(
            schema.find_kind(api_version, kind).is_none(),
            "{api_version} {kind}"
        );
    }
    // The special types are present with the shape the decoder expects.
    for name in [
        "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
        "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime",
        "k8s.io.apimachinery.pkg.apis.meta.v1.Duration",
        "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1",
        "k8s.io.apimachinery.pkg.api.resource.Quantity",
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
        "k8s.io.apimachinery.pkg.runtime.RawExtension",
        "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON",
        "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
        "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
        "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
        "k8s.io.apimachinery.pkg.apis.meta.v1.Verbs",
        "k8s.io.api.authentication.v1.ExtraValue",
    ] {
        let idx = schema
            .message(name)
            .unwrap_or_else(|| panic!("missing {name}"));
        assert_ne!(schema.messages[idx].special, Special::None, "{name}");
    }
}

/// Every JSON name the table gives a `k8s.io.api.*` message is a property of the matching
/// definition in the Kubernetes 1.33 OpenAPI spec, and every property of the definition is
/// produced by some field (directly or through embedded messages).
#[test]
fn json_names_match_the_openapi_spec() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("../shared/conformance/openapi-spec/swagger-v1.33.1.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipping: the OpenAPI spec is not at {}", path.display());
        return;
    };
    let spec: Value = serde_json::from_str(&text).expect("the OpenAPI spec parses");
    let definitions = spec["definitions"].as_object().expect("definitions");
    let schema = schema().unwrap();

    // Names a message produces in its own JSON object, following embedded messages; the
    // second set holds names k8s-openapi 1.33 does not know (newer fields).
    type Flags = HashMap<(&'static str, u32), Vec<&'static str>>;
    fn produced(
        schema: &Schema,
        flags: &Flags,
        idx: usize,
        out: &mut Vec<(&'static str, bool)>,
        depth: usize,
    ) {
        for f in &schema.messages[idx].fields {
            if f.inline {
                if let (Kind::Message(m), true) = (f.kind, depth < 8) {
                    produced(schema, flags, m, out, depth + 1);
                }
            } else {
                let unconfirmed = flags
                    .get(&(schema.messages[idx].name, f.tag))
                    .is_some_and(|flags| flags.iter().any(|x| *x == "go" || *x == "guessed"));
                out.push((f.json, unconfirmed));
            }
        }
    }

    let flags = field_flags();
    let mut checked = 0;
    let mut newer = Vec::new();
    let mut failures = Vec::new();
    for (idx, msg) in schema.messages.iter().enumerate() {
        let Some(rest) = msg.name.strip_prefix("k8s.io.api.") else {
            continue;
        };
        let Some(def) = definitions.get(&format!("io.k8s.api.{rest}")) else {
            continue;
        };
        let props = def
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut names = Vec::new();
        produced(schema, &flags, idx, &mut names, 0);
        for (json, unconfirmed) in &names {
            if props.contains_key(*json) {
                continue;
            }
            if *unconfirmed {
                newer.push(format!("{}.{json}", msg.name));
            } else {
                failures.push(format!(
                    "{}: {json:?} is not a property of the definition",
                    msg.name
                ));
            }
        }
        for prop in props.keys() {
            if prop != "apiVersion" && prop != "kind" && !names.iter().any(|(j, _)| j == prop) {
                failures.push(format!(
                    "{}: no field produces the property {prop:?}",
                    msg.name
                ));
            }
        }
        checked += 1;
    }
    // Fields Kubernetes removed after 1.33 (k8s-pb is generated from 1.35).
    let removed = [
        "k8s.io.api.resource.v1alpha3.DeviceTaintSelector: no field produces the property \"deviceClassName\"",
        "k8s.io.api.resource.v1alpha3.DeviceTaintSelector: no field produces the property \"selectors\"",
    ];
    failures.retain(|f| !removed.contains(&f.as_str()));
    eprintln!(
        "checked {checked} definitions; {} fields newer than 1.33: {newer:?}",
        newer.len()
    );
    assert!(checked > 500, "only {checked} definitions checked");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The flags column of each field line, by (message, tag).
fn field_flags() -> HashMap<(&'static str, u32), Vec<&'static str>> {
    let mut out = HashMap::new();
    let mut current = "";
    for line in SCHEMA.lines() {
        if let Some(rest) = line.strip_prefix("message ") {
            current = rest.split_whitespace().next().unwrap_or_default();
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let parts: Vec<&'static str> = line.split_whitespace().collect();
        if let Ok(tag) = parts[0].parse() {
            out.insert((current, tag), parts[4..].to_vec());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// hostile input

fn sample_bodies() -> Vec<Vec<u8>> {
    use k8s_pb::api::apps::v1 as apps;
    let d = apps::Deployment {
        metadata: Some(object_meta("web", "demo")),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(2),
            template: Some(pod_template()),
            ..Default::default()
        }),
        status: None,
    };
    vec![
        encode("apps/v1", "Deployment", &d),
        encode(
            "policy/v1",
            "Eviction",
            &k8s_pb::api::policy::v1::Eviction {
                metadata: Some(object_meta("p", "demo")),
                delete_options: Some(delete_options()),
            },
        ),
    ]
}

#[test]
fn wrong_magic() {
    let good = sample_bodies().remove(0);
    for body in [
        &b""[..],
        b"k8s",
        b"k8s\x01",
        b"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\"}",
        &good[1..],
    ] {
        assert_eq!(decode_object(body), Err(DecodeError::BadMagic));
    }
}

#[test]
fn truncated_bodies_never_panic() {
    for good in sample_bodies() {
        for n in 0..good.len() {
            let _ = decode_object(&good[..n]);
        }
        // Cut inside the object: the envelope's raw length runs past the end.
        assert_eq!(
            decode_object(&good[..good.len() - 20]),
            Err(DecodeError::Truncated)
        );
    }
}

#[test]
fn corrupted_and_random_bodies_never_panic() {
    for good in sample_bodies() {
        for i in 4..good.len() {
            for b in [0x00, 0x01, 0x7f, 0x80, 0xff, good[i] ^ 0x07] {
                let mut bad = good.clone();
                bad[i] = b;
                let _ = decode_object(&bad);
            }
        }
    }
    // xorshift noise behind the magic, raw and inside a valid envelope.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..3000 {
        let len = (next() % 200) as usize;
        let noise: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let mut body = MAGIC.to_vec();
        body.extend(&noise);
        let _ = decode_object(&body);
        let kinds = [
            ("v1", "Pod"),
            ("apps/v1", "Deployment"),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ];
        let (av, k) = kinds[round % kinds.len()];
        let _ = decode_object(&wrap(av, k, noise));
    }
}

#[test]
fn huge_lengths_and_bad_varints() {
    // Envelope field 2 (raw) claiming 2^62 and u64::MAX bytes.
    let mut body = MAGIC.to_vec();
    body.extend([0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]);
    assert_eq!(decode_object(&body), Err(DecodeError::Truncated));
    let mut body = MAGIC.to_vec();
    body.extend([
        0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]);
    assert_eq!(decode_object(&body), Err(DecodeError::Truncated));
    // A length inside the object larger than what is left.
    let raw = vec![0x0a, 0xff, 0xff, 0xff, 0x7f, 0x0a];
    assert_eq!(
        decode_object(&wrap("v1", "Namespace", raw)),
        Err(DecodeError::Truncated)
    );
    // Varints: 11 bytes, and a 10th byte overflowing 64 bits.
    let mut body = MAGIC.to_vec();
    body.extend([0x08].iter().chain([0xff; 10].iter()).chain([0x01].iter()));
    assert_eq!(decode_object(&body), Err(DecodeError::BadVarint));
    let mut body = MAGIC.to_vec();
    body.extend([
        0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
    ]);
    assert_eq!(decode_object(&body), Err(DecodeError::BadVarint));
}

#[test]
fn bad_wire_types_and_field_numbers() {
    for wt in [3u8, 4, 6, 7] {
        let raw = vec![(5 << 3) | wt, 0];
        assert_eq!(
            decode_object(&wrap("v1", "Namespace", raw)),
            Err(DecodeError::BadWireType(wt))
        );
    }
    assert_eq!(
        decode_object(&wrap("v1", "Namespace", vec![0x00, 0x01])),
        Err(DecodeError::BadFieldNumber(0))
    );
    // ObjectMeta.name (a string) sent as a varint.
    let raw = vec![0x0a, 0x02, 0x08, 0x01];
    assert!(matches!(
        decode_object(&wrap("v1", "Namespace", raw)),
        Err(DecodeError::WrongWireType { .. })
    ));
    // The envelope's typeMeta sent as a varint.
    let mut body = MAGIC.to_vec();
    body.extend([0x08, 0x01]);
    assert!(matches!(
        decode_object(&body),
        Err(DecodeError::WrongWireType { .. })
    ));
}

#[test]
fn deep_nesting_is_rejected() {
    use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
    let nested = |levels: usize| {
        let mut p = props("string");
        for _ in 0..levels {
            let mut outer = props("object");
            outer.not = Some(Box::new(p));
            p = outer;
        }
        ext::CustomResourceDefinition {
            spec: Some(ext::CustomResourceDefinitionSpec {
                versions: vec![ext::CustomResourceDefinitionVersion {
                    schema: Some(ext::CustomResourceValidation {
                        open_apiv3_schema: Some(p),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    };
    let ok = decode_object(&encode(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        &nested(40),
    ));
    assert!(ok.is_ok(), "{ok:?}");
    let deep = decode_object(&encode(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        &nested(200),
    ));
    assert_eq!(deep, Err(DecodeError::TooDeep));
    // Hand-made: 10k nested `not` fields (field 28 of JSONSchemaProps) cost no stack.
    let levels = 10_000;
    let mut lens = vec![0usize; levels + 1]; // lens[k]: size of the k innermost levels
    for k in 0..levels {
        lens[k + 1] = 2 + varint(lens[k] as u64).len() + lens[k];
    }
    let mut raw: Vec<u8> = Vec::with_capacity(lens[levels]);
    for k in (0..levels).rev() {
        raw.extend([0xe2, 0x01]); // field 28, wire type 2
        raw.extend(varint(lens[k] as u64));
    }
    assert_eq!(raw.len(), lens[levels]);
    let mut validation = vec![0x0a]; // CustomResourceValidation.openAPIV3Schema
    validation.extend(varint(raw.len() as u64));
    validation.extend(&raw);
    let mut version = vec![0x22]; // CustomResourceDefinitionVersion.schema (field 4)
    version.extend(varint(validation.len() as u64));
    version.extend(validation);
    let mut spec = vec![0x3a]; // CustomResourceDefinitionSpec.versions (field 7)
    spec.extend(varint(version.len() as u64));
    spec.extend(version);
    let mut crd = vec![0x12]; // CustomResourceDefinition.spec (field 2)
    crd.extend(varint(spec.len() as u64));
    crd.extend(spec);
    assert_eq!(
        decode_object(&wrap(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            crd
        )),
        Err(DecodeError::TooDeep)
    );
    // RawExtensions holding protobuf envelopes holding RawExtensions...
    let mut body = wrap("v1", "ConfigMap", Vec::new());
    for _ in 0..100 {
        let rev = k8s_pb::api::apps::v1::ControllerRevision {
            data: Some(RawExtension { raw: Some(body) }),
            ..Default::default()
        };
        body = encode("apps/v1", "ControllerRevision", &rev);
    }
    assert_eq!(decode_object(&body), Err(DecodeError::TooDeep));
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

#[test]
fn envelope_errors() {
    assert_eq!(
        decode_object(&wrap("example.com/v1", "Widget", Vec::new())),
        Err(DecodeError::UnknownKind {
            api_version: "example.com/v1".into(),
            kind: "Widget".into()
        })
    );
    assert!(
        decode_object(&wrap("example.com/v1", "Widget", Vec::new()))
            .unwrap_err()
            .to_string()
            .contains("example.com/v1, Kind=Widget")
    );
    let mut body = MAGIC.to_vec();
    body.extend(
        Unknown {
            raw: Some(vec![]),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    assert_eq!(decode_object(&body), Err(DecodeError::MissingTypeMeta));
    let mut body = MAGIC.to_vec();
    body.extend(
        Unknown {
            type_meta: Some(TypeMeta {
                api_version: s("v1"),
                kind: s("Namespace"),
            }),
            raw: Some(vec![]),
            content_encoding: s("gzip"),
            content_type: None,
        }
        .encode_to_vec(),
    );
    assert_eq!(
        decode_object(&body),
        Err(DecodeError::ContentEncoding("gzip".into()))
    );
}

#[test]
fn invalid_values() {
    use k8s_pb::api::apps::v1 as apps;
    let rev = apps::ControllerRevision {
        data: Some(RawExtension {
            raw: Some(b"{not json".to_vec()),
        }),
        ..Default::default()
    };
    assert!(matches!(
        decode_object(&encode("apps/v1", "ControllerRevision", &rev)),
        Err(DecodeError::InvalidJson { .. })
    ));
    let mut m = object_meta("x", "");
    m.creation_timestamp = Some(time(i64::MAX));
    let ns = k8s_pb::api::core::v1::Namespace {
        metadata: Some(m),
        ..Default::default()
    };
    assert!(matches!(
        decode_object(&encode("v1", "Namespace", &ns)),
        Err(DecodeError::InvalidValue { .. })
    ));
    let mut p = props("number");
    p.minimum = Some(f64::NAN);
    let crd = k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
        spec: Some(k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinitionSpec {
            versions: vec![k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinitionVersion {
                schema: Some(k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceValidation {
                    open_apiv3_schema: Some(p),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(matches!(
        decode_object(&encode(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            &crd
        )),
        Err(DecodeError::InvalidValue { .. })
    ));
}
