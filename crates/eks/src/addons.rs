//! The default add-ons every EKS cluster runs in `kube-system`, as EKS installs them: the
//! Amazon VPC CNI (`aws-node` DaemonSet, whose container environment is the CNI's
//! configuration), `kube-proxy` (DaemonSet) and CoreDNS (`coredns` Deployment of two
//! replicas behind the `kube-dns` Service at the tenth address of the service range).
//!
//! The simulated CNI reads its settings from the `aws-node` DaemonSet's `aws-node`
//! container, as the real ipamd reads its environment, so `kubectl set env daemonset
//! aws-node -n kube-system WARM_IP_TARGET=5` works as on EKS.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The account EKS serves its add-on images from.
pub const EKS_IMAGE_ACCOUNT: &str = "602401143452";
/// Name of the VPC CNI's DaemonSet and of its main container.
pub const AWS_NODE: &str = "aws-node";
/// The kube-system namespace the add-ons live in.
pub const NAMESPACE: &str = "kube-system";
/// The ClusterIP of `kube-dns` in EKS's default service range 10.100.0.0/16.
pub const KUBE_DNS_IP: &str = "10.100.0.10";

/// Versions of the add-ons for one Kubernetes version (EKS's documented add-on versions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonVersions {
    /// `vpc-cni` (`v1.20.1-eksbuild.3`).
    pub vpc_cni: String,
    /// `kube-proxy` (`v1.33.10-eksbuild.2`).
    pub kube_proxy: String,
    /// `coredns` (`v1.13.2-eksbuild.4`).
    pub coredns: String,
}

/// The add-on versions EKS lists for `kubernetes_version` (`1.33`), or `None` for a version
/// outside 1.28–1.35.
pub fn versions(kubernetes_version: &str) -> Option<AddonVersions> {
    let (kube_proxy, coredns) = match kubernetes_version {
        "1.28" => ("v1.28.15-eksbuild.31", "v1.10.1-eksbuild.38"),
        "1.29" => ("v1.29.15-eksbuild.16", "v1.11.4-eksbuild.24"),
        "1.30" => ("v1.30.14-eksbuild.28", "v1.11.4-eksbuild.33"),
        "1.31" => ("v1.31.14-eksbuild.9", "v1.11.4-eksbuild.33"),
        "1.32" => ("v1.32.13-eksbuild.5", "v1.11.4-eksbuild.33"),
        "1.33" => ("v1.33.10-eksbuild.2", "v1.13.2-eksbuild.4"),
        "1.34" => ("v1.34.6-eksbuild.2", "v1.13.2-eksbuild.4"),
        "1.35" => ("v1.35.3-eksbuild.2", "v1.13.2-eksbuild.4"),
        _ => return None,
    };
    Some(AddonVersions {
        vpc_cni: "v1.20.1-eksbuild.3".into(),
        kube_proxy: kube_proxy.into(),
        coredns: coredns.into(),
    })
}

/// The VPC CNI's environment as the EKS add-on's manifest sets it (before the user's
/// `configurationValues`).
pub fn vpc_cni_default_env() -> BTreeMap<String, String> {
    [
        ("ADDITIONAL_ENI_TAGS", "{}"),
        ("ANNOTATE_POD_IP", "false"),
        ("AWS_VPC_CNI_NODE_PORT_SUPPORT", "true"),
        ("AWS_VPC_ENI_MTU", "9001"),
        ("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", "false"),
        ("AWS_VPC_K8S_CNI_EXTERNALSNAT", "false"),
        ("AWS_VPC_K8S_CNI_LOGLEVEL", "DEBUG"),
        (
            "AWS_VPC_K8S_CNI_LOG_FILE",
            "/host/var/log/aws-routed-eni/ipamd.log",
        ),
        ("AWS_VPC_K8S_CNI_RANDOMIZESNAT", "prng"),
        ("AWS_VPC_K8S_CNI_VETHPREFIX", "eni"),
        (
            "AWS_VPC_K8S_PLUGIN_LOG_FILE",
            "/var/log/aws-routed-eni/plugin.log",
        ),
        ("AWS_VPC_K8S_PLUGIN_LOG_LEVEL", "DEBUG"),
        ("DISABLE_INTROSPECTION", "false"),
        ("DISABLE_METRICS", "false"),
        ("DISABLE_NETWORK_RESOURCE_PROVISIONING", "false"),
        ("ENABLE_IPv4", "true"),
        ("ENABLE_IPv6", "false"),
        ("ENABLE_POD_ENI", "false"),
        ("ENABLE_PREFIX_DELEGATION", "false"),
        ("ENABLE_SUBNET_DISCOVERY", "true"),
        ("NETWORK_POLICY_ENFORCING_MODE", "standard"),
        ("VPC_CNI_VERSION", "v1.20.1"),
        ("WARM_ENI_TARGET", "1"),
        ("WARM_PREFIX_TARGET", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The image of an EKS add-on component in `region`'s registry.
fn image(region: &str, repository: &str, tag: &str) -> String {
    format!("{EKS_IMAGE_ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{repository}:{tag}")
}

/// Node affinity that keeps a node daemon off Fargate (and hybrid/auto) nodes, as the EKS
/// add-on manifests have it.
fn ec2_nodes_only() -> Value {
    json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]},
            {"key": "eks.amazonaws.com/compute-type", "operator": "NotIn",
             "values": ["fargate", "hybrid", "auto"]},
        ]}],
    }}})
}

fn labels(name: &str) -> Value {
    json!({"k8s-app": name})
}

/// The `aws-node` DaemonSet with `env` (defaults merged with the cluster file's values).
pub fn aws_node(region: &str, versions: &AddonVersions, env: &BTreeMap<String, String>) -> Value {
    let env: Vec<Value> = env
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .chain([
            json!({"name": "MY_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}),
            json!({"name": "MY_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        ])
        .collect();
    let probe = json!({"exec": {"command": ["/app/grpc-health-probe", "-addr=:50051",
        "-connect-timeout=5s", "-rpc-timeout=5s"]}, "initialDelaySeconds": 1,
        "timeoutSeconds": 10, "periodSeconds": 10, "failureThreshold": 3});
    let mut liveness = probe.clone();
    liveness["initialDelaySeconds"] = json!(60);
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": AWS_NODE, "namespace": NAMESPACE,
            "labels": {"k8s-app": AWS_NODE, "app.kubernetes.io/name": AWS_NODE,
                       "app.kubernetes.io/instance": AWS_NODE,
                       "app.kubernetes.io/version": versions.vpc_cni.split('-').next().unwrap_or_default()}},
        "spec": {
            "selector": {"matchLabels": labels(AWS_NODE)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {
                "metadata": {"labels": {"k8s-app": AWS_NODE, "app.kubernetes.io/name": AWS_NODE,
                                        "app.kubernetes.io/instance": AWS_NODE}},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": AWS_NODE,
                    "hostNetwork": true,
                    "terminationGracePeriodSeconds": 10,
                    "tolerations": [{"operator": "Exists"}],
                    "affinity": ec2_nodes_only(),
                    "initContainers": [{
                        "name": "aws-vpc-cni-init",
                        "image": image(region, "amazon-k8s-cni-init", &versions.vpc_cni),
                        "env": [{"name": "DISABLE_TCP_EARLY_DEMUX", "value": "false"},
                                {"name": "ENABLE_IPv6", "value": "false"}],
                        "resources": {"requests": {"cpu": "25m"}},
                        "securityContext": {"privileged": true},
                    }],
                    "containers": [{
                        "name": AWS_NODE,
                        "image": image(region, "amazon-k8s-cni", &versions.vpc_cni),
                        "ports": [{"containerPort": 61678, "name": "metrics"}],
                        "env": env,
                        "readinessProbe": probe,
                        "livenessProbe": liveness,
                        "resources": {"requests": {"cpu": "25m"}},
                        "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
                    }],
                },
            },
        },
    })
}

/// The `kube-proxy` DaemonSet.
pub fn kube_proxy(region: &str, versions: &AddonVersions) -> Value {
    let tag = versions
        .kube_proxy
        .replacen("-eksbuild", "-minimal-eksbuild", 1);
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "kube-proxy", "namespace": NAMESPACE,
            "labels": {"k8s-app": "kube-proxy", "eks.amazonaws.com/component": "kube-proxy"}},
        "spec": {
            "selector": {"matchLabels": labels("kube-proxy")},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {
                "metadata": {"labels": labels("kube-proxy")},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": "kube-proxy",
                    "hostNetwork": true,
                    "tolerations": [{"operator": "Exists"}],
                    "affinity": ec2_nodes_only(),
                    "containers": [{
                        "name": "kube-proxy",
                        "image": image(region, "eks/kube-proxy", &tag),
                        "command": ["kube-proxy", "--v=2",
                                    "--config=/var/lib/kube-proxy-config/config",
                                    "--hostname-override=$(NODE_NAME)"],
                        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                        "resources": {"requests": {"cpu": "100m"}},
                        "securityContext": {"privileged": true},
                    }],
                },
            },
        },
    })
}

/// The `coredns` Deployment (two replicas, spread over zones and nodes).
pub fn coredns(region: &str, versions: &AddonVersions) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": NAMESPACE,
            "labels": {"k8s-app": "kube-dns", "eks.amazonaws.com/component": "coredns",
                       "kubernetes.io/name": "CoreDNS"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"k8s-app": "kube-dns", "eks.amazonaws.com/component": "coredns"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                // Keeps CoreDNS on EC2 even when a Fargate profile selects kube-system.
                "metadata": {"labels": {"k8s-app": "kube-dns", "eks.amazonaws.com/component": "coredns"},
                             "annotations": {"eks.amazonaws.com/compute-type": "ec2"}},
                "spec": {
                    "priorityClassName": "system-cluster-critical",
                    "serviceAccountName": "coredns",
                    "tolerations": [
                        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                    ],
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchExpressions": [
                                {"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]}},
                    }]}},
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }],
                    "containers": [{
                        "name": "coredns",
                        "image": image(region, "eks/coredns", &versions.coredns),
                        "args": ["-conf", "/etc/coredns/Corefile"],
                        "ports": [
                            {"containerPort": 53, "name": "dns", "protocol": "UDP"},
                            {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                            {"containerPort": 9153, "name": "metrics", "protocol": "TCP"},
                        ],
                        "resources": {"limits": {"memory": "170Mi"},
                                      "requests": {"cpu": "100m", "memory": "70Mi"}},
                        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080},
                            "initialDelaySeconds": 60, "timeoutSeconds": 5, "failureThreshold": 5},
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}},
                    }],
                },
            },
        },
    })
}

/// The `kube-dns` Service in front of CoreDNS.
pub fn kube_dns_service() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": NAMESPACE,
            "labels": {"k8s-app": "kube-dns", "eks.amazonaws.com/component": "kube-dns",
                       "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}},
        "spec": {
            "selector": {"k8s-app": "kube-dns"},
            "clusterIP": KUBE_DNS_IP,
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
        },
    })
}

/// The service accounts the add-ons run as.
pub fn service_accounts() -> Vec<Value> {
    [AWS_NODE, "kube-proxy", "coredns"]
        .into_iter()
        .map(|name| {
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": name, "namespace": NAMESPACE}})
        })
        .collect()
}

/// Every add-on object for a cluster in `region` of `versions`, the CNI configured by `env`
/// (service accounts first, so the pods can be admitted).
pub fn manifests(
    region: &str,
    versions: &AddonVersions,
    vpc_cni_env: &BTreeMap<String, String>,
) -> Vec<Value> {
    let mut objects = service_accounts();
    objects.push(aws_node(region, versions, vpc_cni_env));
    objects.push(kube_proxy(region, versions));
    objects.push(kube_dns_service());
    objects.push(coredns(region, versions));
    objects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_node_carries_the_cni_environment_and_stays_off_fargate() {
        let versions = versions("1.33").unwrap_or_else(|| panic!("1.33 is known"));
        let mut env = vpc_cni_default_env();
        env.insert("WARM_IP_TARGET".into(), "5".into());
        let ds = aws_node("us-east-1", &versions, &env);
        assert_eq!(
            ds["spec"]["template"]["spec"]["containers"][0]["image"],
            "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni:v1.20.1-eksbuild.3"
        );
        let read = aws::cloud::env_of_aws_node(&ds);
        assert_eq!(read.get("WARM_IP_TARGET").map(String::as_str), Some("5"));
        assert_eq!(read.get("WARM_ENI_TARGET").map(String::as_str), Some("1"));
        assert!(
            !read.contains_key("MY_NODE_NAME"),
            "valueFrom entries are not settings"
        );
        let affinity = ds["spec"]["template"]["spec"]["affinity"].to_string();
        assert!(affinity.contains("fargate"), "{affinity}");
    }

    #[test]
    fn kube_proxy_uses_the_minimal_image_and_versions_cover_1_28_to_1_35() {
        for v in [
            "1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34", "1.35",
        ] {
            assert!(versions(v).is_some(), "{v}");
        }
        assert!(versions("1.27").is_none());
        let versions = versions("1.33").unwrap_or_else(|| panic!("1.33 is known"));
        let ds = kube_proxy("us-west-2", &versions);
        assert_eq!(
            ds["spec"]["template"]["spec"]["containers"][0]["image"],
            "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.33.10-minimal-eksbuild.2"
        );
    }
}
