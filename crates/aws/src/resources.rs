//! The simulated cloud's state as API objects, so `kubectl get subnets,networkinterfaces`
//! shows it: skiff's own `ec2.skiff.dev/v1alpha1` group (VPCs, subnets, ENIs, instances,
//! cluster-scoped and named by their EC2 ids) and the VPC CNI's upstream `ENIConfig`
//! (`crd.k8s.amazonaws.com/v1alpha1`, with the schema of the CNI's Helm chart).

use api::crd_builder::{Column, CrdSpec, array, boolean, integer, object, string, string_map};
use serde_json::{Value, json};

/// skiff's EC2 API group.
pub const EC2_GROUP: &str = "ec2.skiff.dev";
/// Its version.
pub const EC2_VERSION: &str = "v1alpha1";
/// `apiVersion` of skiff's EC2 objects.
pub const EC2_API_VERSION: &str = "ec2.skiff.dev/v1alpha1";
/// The VPC CNI's ENIConfig group.
pub const ENI_CONFIG_GROUP: &str = "crd.k8s.amazonaws.com";
/// `apiVersion` of ENIConfigs.
pub const ENI_CONFIG_API_VERSION: &str = "crd.k8s.amazonaws.com/v1alpha1";

fn ec2(
    kind: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    spec: Value,
    status: Value,
    columns: Vec<Column>,
) -> CrdSpec {
    CrdSpec {
        group: EC2_GROUP,
        version: EC2_VERSION,
        kind,
        plural,
        short_names,
        categories: &["aws", "ec2"],
        namespaced: false,
        schema: object(json!({"spec": spec, "status": status}), &[]),
        columns,
        status_subresource: true,
    }
}

/// Every CRD of the simulated cloud.
pub fn crds() -> Vec<Value> {
    let tags = string_map();
    let vpc = ec2(
        "VPC",
        "vpcs",
        &[],
        object(
            json!({"cidrBlock": string(), "cidrBlocks": array(string()), "region": string(),
                   "tags": tags}),
            &["cidrBlock"],
        ),
        object(
            json!({"state": string(), "idState": integer(),
                   "cidrBlockAssociations": array(object(
                       json!({"cidrBlock": string(), "state": string(), "code": string(),
                              "statusMessage": string()}), &[]))}),
            &[],
        ),
        vec![
            Column::new("CIDR", "string", ".spec.cidrBlock"),
            Column::new("Secondary-CIDRs", "string", ".spec.cidrBlocks"),
            Column::new("Region", "string", ".spec.region"),
            Column::new("State", "string", ".status.state"),
        ],
    );
    let subnet = ec2(
        "Subnet",
        "subnets",
        &[],
        object(
            json!({"vpcId": string(), "availabilityZone": string(),
                   "availabilityZoneId": string(), "cidrBlock": string(),
                   "mapPublicIpOnLaunch": boolean(), "tags": string_map()}),
            &["availabilityZone", "cidrBlock"],
        ),
        object(
            json!({"state": string(), "availableIpAddressCount": integer(),
                   "code": string(), "message": string()}),
            &[],
        ),
        vec![
            Column::new("VPC", "string", ".spec.vpcId"),
            Column::new("AZ", "string", ".spec.availabilityZone"),
            Column::new("CIDR", "string", ".spec.cidrBlock"),
            Column::new(
                "Available-IPs",
                "integer",
                ".status.availableIpAddressCount",
            ),
            Column::new("Public", "boolean", ".spec.mapPublicIpOnLaunch"),
            Column::new("State", "string", ".status.state"),
        ],
    );
    let address = object(
        json!({"privateIpAddress": string(), "primary": boolean(), "pod": string()}),
        &[],
    );
    let holder = object(
        json!({"privateIpAddress": string(), "pod": string(), "podUid": string()}),
        &[],
    );
    let eni = ec2(
        "NetworkInterface",
        "networkinterfaces",
        &["eni"],
        object(
            json!({"subnetId": string(), "vpcId": string(), "availabilityZone": string(),
                   "description": string(), "instanceId": string(), "nodeName": string(),
                   "deviceIndex": integer(), "ipv4PerInterface": integer()}),
            &["subnetId"],
        ),
        object(
            json!({"status": string(), "privateIpAddress": string(),
                   "privateIpAddresses": array(address),
                   "ipv4Prefixes": array(string()),
                   "pods": array(holder),
                   "addressCount": integer(), "podCount": integer()}),
            &[],
        ),
        vec![
            Column::new("Node", "string", ".spec.nodeName"),
            Column::new("Device", "integer", ".spec.deviceIndex"),
            Column::new("Subnet", "string", ".spec.subnetId"),
            Column::new("Primary-IP", "string", ".status.privateIpAddress"),
            Column::new("IPs", "integer", ".status.addressCount"),
            Column::new("Pods", "integer", ".status.podCount"),
            Column::wide("Instance", "string", ".spec.instanceId"),
            Column::wide("Prefixes", "string", ".status.ipv4Prefixes"),
        ],
    );
    let instance = ec2(
        "Instance",
        "instances",
        &["ec2"],
        object(
            json!({"instanceType": string(), "availabilityZone": string(),
                   "subnetId": string(), "nodeGroup": string(), "capacityType": string(),
                   "nodeName": string(), "tags": string_map()}),
            &["instanceType"],
        ),
        object(
            json!({"state": string(), "privateIpAddress": string(),
                   "privateDnsName": string(), "launchTime": string(), "message": string()}),
            &[],
        ),
        vec![
            Column::new("Type", "string", ".spec.instanceType"),
            Column::new("AZ", "string", ".spec.availabilityZone"),
            Column::new("Private-IP", "string", ".status.privateIpAddress"),
            Column::new("Node-Group", "string", ".spec.nodeGroup"),
            Column::new("State", "string", ".status.state"),
            Column::wide("Node", "string", ".spec.nodeName"),
        ],
    );
    let eni_config = CrdSpec {
        group: ENI_CONFIG_GROUP,
        version: "v1alpha1",
        kind: "ENIConfig",
        plural: "eniconfigs",
        short_names: &[],
        categories: &[],
        namespaced: false,
        schema: {
            let mut schema = object(
                json!({"spec": object(
                    json!({"subnet": string(), "securityGroups": array(string())}),
                    &["subnet"]),
                    "status": {"type": "object"}}),
                &[],
            );
            schema["x-kubernetes-preserve-unknown-fields"] = json!(true);
            schema
        },
        columns: Vec::new(),
        status_subresource: false,
    };
    // ENIs and instances are written whole by the simulated EC2 (no status subresource).
    let mut eni = eni;
    eni.status_subresource = false;
    let mut instance = instance;
    instance.status_subresource = false;
    [vpc, subnet, eni, instance, eni_config]
        .iter()
        .map(CrdSpec::to_crd)
        .collect()
}
