//! The cluster of the full-size scheduling and scale scenario, laid out as a real EKS cluster
//! of 5,000 nodes has to be. eksctl's default VPC (a `/16` cut into `/19`s) has about 24,000
//! addresses in its node subnets, while 150,000 pods need one each. So, as AWS advises for
//! large clusters:
//! - nodes take their addresses from a `/16` VPC's four private `/18` subnets;
//! - pods take theirs from four secondary CIDR blocks in `100.64.0.0/10`, one `/16` subnet per
//!   zone, through custom networking (an `ENIConfig` per zone, chosen by the zone label);
//! - in `/28` prefixes (prefix delegation, which also raises an m5.large's max pods from 29 to
//!   110), kept close to what the pods use (`WARM_IP_TARGET=1`, `MINIMUM_IP_TARGET=32`);
//! - from managed node groups of at most 450 nodes each, EKS's quota per group.
//!
//! The node groups start empty; they are scaled up once the pod network exists, so every
//! node comes up with its ENIConfig, as AWS's custom-networking guide orders the steps.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

use super::process::SkiffProcess;
use super::{BenchError, kube_err};
use crate::ops;

/// The region and its four zones.
const REGION: &str = "us-west-2";
const ZONES: [&str; 4] = ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"];
/// EKS's default quota of nodes per managed node group.
const GROUP_MAX: usize = 450;

/// How many managed node groups hold `nodes` nodes, and how many nodes group `g` gets.
fn group_sizes(nodes: usize) -> Vec<usize> {
    let groups = nodes.div_ceil(GROUP_MAX).max(1);
    (0..groups)
        .map(|g| nodes / groups + usize::from(g < nodes % groups))
        .collect()
}

/// How many managed node groups hold `nodes` nodes.
pub fn group_count(nodes: usize) -> usize {
    group_sizes(nodes).len()
}

/// The node group names.
fn group_name(g: usize) -> String {
    format!("ng-{}", g + 1)
}

/// The eksctl cluster file: the VPC, the VPC CNI's settings and `groups` empty m5.large
/// managed node groups in private subnets.
fn cluster_file(groups: usize) -> String {
    let mut file = format!(
        "apiVersion: eksctl.io/v1alpha5\n\
         kind: ClusterConfig\n\
         metadata:\n  name: bench\n  region: {REGION}\n\
         vpc:\n  cidr: 10.0.0.0/16\n  subnets:\n    private:\n"
    );
    for (i, zone) in ZONES.iter().enumerate() {
        file.push_str(&format!("      {zone}: {{cidr: 10.0.{}.0/18}}\n", i * 64));
    }
    file.push_str(
        "addons:\n\
         \x20 - name: vpc-cni\n\
         \x20   configurationValues: '{\"env\": {\"ENABLE_PREFIX_DELEGATION\": \"true\", \
         \"WARM_IP_TARGET\": \"1\", \"MINIMUM_IP_TARGET\": \"32\", \
         \"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG\": \"true\", \
         \"ENI_CONFIG_LABEL_DEF\": \"topology.kubernetes.io/zone\"}}'\n\
         \x20 - name: kube-proxy\n\
         \x20 - name: coredns\n\
         managedNodeGroups:\n",
    );
    for g in 0..groups {
        file.push_str(&format!(
            "  - name: {}\n    instanceType: m5.large\n    desiredCapacity: 0\n    minSize: 0\n    \
             maxSize: {GROUP_MAX}\n    privateNetworking: true\n",
            group_name(g)
        ));
    }
    file
}

/// Names a failed cluster operation.
fn ops_err(what: impl Into<String>) -> impl FnOnce(ops::OpsError) -> BenchError {
    let what = what.into();
    move |e| BenchError::Io {
        what: what.clone(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// Starts skiff on the large cluster's file, builds the pod network and asks the node groups
/// for `nodes` nodes in all. Returns once the node groups are scaled (the caller waits for
/// the nodes to be Ready).
pub async fn start(
    bin: &std::path::Path,
    nodes: usize,
    speed: &str,
) -> Result<SkiffProcess, BenchError> {
    let sizes = group_sizes(nodes);
    let file = tempfile::Builder::new()
        .prefix("skiff-bench-cluster-")
        .suffix(".yaml")
        .tempfile()
        .map_err(|source| BenchError::Io {
            what: "creating the cluster file".into(),
            source,
        })?;
    std::fs::write(file.path(), cluster_file(sizes.len())).map_err(|source| BenchError::Io {
        what: "writing the cluster file".into(),
        source,
    })?;
    let args = [
        "-f".to_string(),
        file.path().to_string_lossy().into_owned(),
        "--speed".into(),
        speed.into(),
    ];
    let p = SkiffProcess::start(bin, &args, None).await?;
    let client = p.client().await?;
    let eni_configs: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("crd.k8s.amazonaws.com", "v1alpha1", "ENIConfig"),
            "eniconfigs",
        ),
    );
    for (i, zone) in ZONES.iter().enumerate() {
        let cidr = format!("100.{}.0.0/16", 64 + i);
        ops::vpc_add_cidr(&client, &cidr)
            .await
            .map_err(ops_err(format!("associating {cidr} with the VPC")))?;
        let subnet = ops::vpc_add_subnet(&client, zone, &cidr, false)
            .await
            .map_err(ops_err(format!("creating the pod subnet {cidr}")))?;
        let config = json!({
            "apiVersion": "crd.k8s.amazonaws.com/v1alpha1", "kind": "ENIConfig",
            "metadata": {"name": zone}, "spec": {"subnet": subnet},
        });
        eni_configs
            .patch(
                zone,
                &PatchParams::apply("skiff-bench"),
                &Patch::Apply(&config),
            )
            .await
            .map_err(kube_err(format!("creating the ENIConfig {zone}")))?;
    }
    let groups: Api<DynamicObject> =
        Api::all_with(client.clone(), &eks::nodegroup::node_group_resource());
    for (g, size) in sizes.iter().enumerate() {
        let patch = json!({"spec": {"scalingConfig": {"desiredSize": size}}});
        groups
            .patch(
                &group_name(g),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(kube_err(format!("scaling node group {}", group_name(g))))?;
    }
    // skiff read the file at start; the temporary file goes with this scope.
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_split_into_groups_within_the_quota() {
        assert_eq!(group_sizes(5000).len(), 12);
        assert_eq!(group_sizes(5000).iter().sum::<usize>(), 5000);
        assert!(group_sizes(5000).iter().all(|s| (416..=417).contains(s)));
        assert_eq!(group_sizes(450), vec![450]);
        assert_eq!(group_sizes(451), vec![226, 225]);
        assert_eq!(group_sizes(3), vec![3]);
    }

    #[test]
    fn the_cluster_file_is_one_skiff_accepts() {
        let (cluster, warnings) =
            eks::config::load(&cluster_file(2), 0).expect("the bench's cluster file loads");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(cluster.node_groups.len(), 2);
        assert_eq!(cluster.availability_zones, ZONES);
        assert_eq!(cluster.vpc_cni_env["ENABLE_PREFIX_DELEGATION"], "true");
        assert_eq!(
            cluster.vpc_cni_env["ENI_CONFIG_LABEL_DEF"],
            "topology.kubernetes.io/zone"
        );
    }
}
