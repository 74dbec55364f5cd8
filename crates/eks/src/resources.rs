//! EKS's own objects as API objects of skiff's `eks.skiff.dev/v1alpha1` group: managed node
//! groups (`kubectl get nodegroups`) and Fargate profiles, named as in the EKS API.

use api::crd_builder::{Column, CrdSpec, array, integer, object, string, string_map};
use kube::api::ApiResource;
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

/// skiff's EKS API group.
pub const EKS_GROUP: &str = "eks.skiff.dev";
/// `apiVersion` of its objects.
pub const EKS_API_VERSION: &str = "eks.skiff.dev/v1alpha1";

/// The API resource of one of skiff's EKS kinds (`NodeGroup`/`nodegroups`).
pub fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(EKS_GROUP, "v1alpha1", kind), plural)
}

/// The CRDs of the EKS objects.
pub fn crds() -> Vec<Value> {
    let taint = object(
        json!({"key": string(), "value": string(), "effect": string()}),
        &["key", "effect"],
    );
    let node_group = CrdSpec {
        group: EKS_GROUP,
        version: "v1alpha1",
        kind: "NodeGroup",
        plural: "nodegroups",
        short_names: &["ng"],
        categories: &["aws", "eks"],
        namespaced: false,
        schema: object(
            json!({
                "spec": object(json!({
                    "managed": {"type": "boolean"},
                    "instanceTypes": array(string()),
                    "capacityType": string(),
                    "scalingConfig": object(json!({"minSize": integer(), "maxSize": integer(),
                                                   "desiredSize": integer()}), &[]),
                    "subnets": array(string()),
                    "labels": string_map(),
                    "taints": array(taint),
                    "maxPodsPerNode": integer(),
                    "diskSize": integer(),
                    "amiType": string(),
                    "launchTemplateVersion": integer(),
                    "updateConfig": object(json!({"maxUnavailable": integer()}), &[]),
                }), &["instanceTypes"]),
                "status": object(json!({
                    "status": string(), "nodes": integer(), "readyNodes": integer(),
                    "updatedNodes": integer(), "message": string(),
                }), &[]),
            }),
            &[],
        ),
        columns: vec![
            Column::new("Instance-Types", "string", ".spec.instanceTypes"),
            Column::new("Desired", "integer", ".spec.scalingConfig.desiredSize"),
            Column::new("Min", "integer", ".spec.scalingConfig.minSize"),
            Column::new("Max", "integer", ".spec.scalingConfig.maxSize"),
            Column::new("Nodes", "integer", ".status.nodes"),
            Column::new("Ready", "integer", ".status.readyNodes"),
            Column::new("Status", "string", ".status.status"),
            Column::wide("Capacity-Type", "string", ".spec.capacityType"),
        ],
        status_subresource: true,
    };
    let selector = object(
        json!({"namespace": string(), "labels": string_map()}),
        &["namespace"],
    );
    let fargate_profile = CrdSpec {
        group: EKS_GROUP,
        version: "v1alpha1",
        kind: "FargateProfile",
        plural: "fargateprofiles",
        short_names: &[],
        categories: &["aws", "eks"],
        namespaced: false,
        schema: object(
            json!({
                "spec": object(json!({
                    "selectors": array(selector),
                    "subnets": array(string()),
                    "podExecutionRoleArn": string(),
                }), &["selectors"]),
                "status": object(json!({"status": string()}), &[]),
            }),
            &[],
        ),
        columns: vec![
            Column::new("Selectors", "string", ".spec.selectors"),
            Column::new("Status", "string", ".status.status"),
        ],
        status_subresource: true,
    };
    [node_group, fargate_profile]
        .iter()
        .map(CrdSpec::to_crd)
        .collect()
}
