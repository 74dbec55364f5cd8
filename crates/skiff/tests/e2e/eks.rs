//! The EKS data plane end to end: eksctl cluster files, the default cluster's EC2 nodes, the
//! VPC CNI's IP allocation (exhaustion, then the custom-networking fix done as on EKS),
//! Fargate sizing and limits, and `skiff instance-types` against the reference data. The
//! scenarios drive a real `skiff up` process with the real kubectl and the `skiff` CLI
//! (skipping with a printed reason without kubectl), or an in-process cluster with kube-rs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};
use testkit::{ClusterOptions, TestCluster};

use crate::kubectl::{Kubectl, kubectl_on_path, table};
use crate::support::{Skiff, client, node_ready, wait_for};

/// Simulated time runs this many times faster than real time (see workloads.rs).
const SPEED: &str = "10";
/// Patience for the big scenarios (a debug build on a loaded two-core machine; this bounds
/// a hang, it is not a timing target).
const SLOW: Duration = Duration::from_secs(300);

/// The issue's cluster: two /26 private subnets in us-east-1a/b and a managed node group of
/// four m5.4xlarge with private networking.
const IP_EXHAUSTION: &str = r#"
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata:
  name: ip-exhaustion
  region: us-east-1
  version: "1.33"
vpc:
  cidr: 10.0.0.0/16
  subnets:
    private:
      us-east-1a: {cidr: 10.0.0.0/26}
      us-east-1b: {cidr: 10.0.0.64/26}
managedNodeGroups:
  - name: big
    instanceType: m5.4xlarge
    desiredCapacity: 4
    privateNetworking: true
"#;

/// A cluster in the style of eksctl's Fargate example, with fields skiff warns about.
const FARGATE: &str = r#"
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata:
  name: fargate-cluster
  region: us-west-2
iam:
  withOIDC: true
managedNodeGroups:
  - name: ng-1
    instanceType: m5.large
    desiredCapacity: 2
    ssh:
      allow: false
fargateProfiles:
  - name: fp-serverless
    selectors:
      - namespace: serverless
addons:
  - name: coredns
    version: v1.11.4-eksbuild.24
"#;

/// How long one `skiff` CLI command may take: a hang guard, not a timing target (`nodegroup
/// replace` of four nodes takes about a minute in a debug build on a loaded two-core machine).
const CLI_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs `skiff ARGS --kubeconfig KUBECONFIG`; returns (exit code, stdout, stderr). Kills the
/// command and fails if it runs longer than [`CLI_TIMEOUT`].
async fn skiff_cli(kubeconfig: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_skiff"));
    cmd.args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(CLI_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "`skiff {}` did not finish within {CLI_TIMEOUT:?}",
                args.join(" ")
            )
        })
        .expect("run the skiff CLI");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn internal_ip(node: &Node) -> Ipv4Addr {
    node.status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
        .find(|a| a.type_ == "InternalIP")
        .and_then(|a| a.address.parse().ok())
        .expect("a node has an InternalIP")
}

fn in_cidr(ip: Ipv4Addr, cidr: &str) -> bool {
    let (net, len) = cidr.split_once('/').expect("a CIDR");
    let net: Ipv4Addr = net.parse().expect("a network address");
    let len: u32 = len.parse().expect("a prefix length");
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(net) & mask
}

fn phase_counts(pods: &[Pod]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for p in pods {
        let phase = p
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        *counts.entry(phase).or_default() += 1;
    }
    counts
}

fn pod_ip(p: &Pod) -> Option<Ipv4Addr> {
    p.status.as_ref()?.pod_ip.as_ref()?.parse().ok()
}

async fn web_pods(client: &kube::Client) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.list(&ListParams::default().labels("app=web"))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

#[tokio::test]
async fn ip_exhaustion_then_the_custom_networking_fix_as_on_eks() {
    let Some(bin) = kubectl_on_path() else {
        println!("skipping: kubectl not installed");
        return;
    };
    let temp = tempfile::tempdir().expect("temp dir");
    let file = temp.path().join("cluster.yaml");
    std::fs::write(&file, IP_EXHAUSTION).expect("write the cluster file");
    let data = temp.path().join("data");
    let file_arg = file.to_string_lossy().into_owned();
    let mut skiff = Skiff::spawn_with(
        &data,
        &["-f", &file_arg, "--listen", "127.0.0.1:0", "--speed", SPEED],
    );
    let ready_info = skiff.ready().await;
    let k = Kubectl::new(bin, &ready_info);
    let kubeconfig: PathBuf = ready_info.kubeconfig.clone();
    let c = client(&kubeconfig).await;
    let nodes: Api<Node> = Api::all(c.clone());
    let node_list = wait_for("four Ready m5.4xlarge nodes", SLOW, || async {
        let l = nodes.list(&ListParams::default()).await.ok()?.items;
        (l.len() == 4 && l.iter().all(node_ready)).then_some(l)
    })
    .await;
    // Node IPs: the primary address of each instance's primary ENI, in its zone's /26.
    let subnet_of_zone = |zone: &str| match zone {
        "us-east-1a" => "10.0.0.0/26",
        _ => "10.0.0.64/26",
    };
    let mut node_subnet: BTreeMap<String, &str> = BTreeMap::new();
    for n in &node_list {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels["node.kubernetes.io/instance-type"], "m5.4xlarge");
        assert_eq!(labels["eks.amazonaws.com/nodegroup"], "big");
        let zone = labels["topology.kubernetes.io/zone"].clone();
        let ip = internal_ip(n);
        assert!(in_cidr(ip, subnet_of_zone(&zone)), "{ip} in {zone}");
        let name = n.metadata.name.clone().unwrap_or_default();
        assert_eq!(
            name,
            format!("ip-{}.ec2.internal", ip.to_string().replace('.', "-"))
        );
        node_subnet.insert(name, subnet_of_zone(&zone));
    }
    // The four launches of one pass are balanced over the zones, as an Auto Scaling group's
    // AZ rebalancing does.
    let mut per_zone: BTreeMap<&str, usize> = BTreeMap::new();
    for subnet in node_subnet.values() {
        *per_zone.entry(subnet).or_default() += 1;
    }
    assert_eq!(
        per_zone,
        BTreeMap::from([("10.0.0.0/26", 2), ("10.0.0.64/26", 2)]),
        "the group spreads evenly over both zones"
    );

    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=200",
    ])
    .await;
    // The arithmetic. A /26 has 64 addresses; AWS reserves 5 → 59 usable per subnet. Each
    // zone has two nodes, whose primary ENIs take one address each → 57 left. WARM_ENI_TARGET=1
    // makes the first node's ipamd fill its primary ENI (29 secondary IPs of an m5.4xlarge's
    // 30 per ENI); the second node gets the other 28 (EC2 refuses a batch the subnet cannot
    // hold; ipamd falls back to one address at a time). No new ENI fits (an ENI needs its
    // own primary address). So 2 × 57 = 114 pods can get an address; CoreDNS's two replicas
    // hold 2 of them → 112 web pods Running, 88 stuck in ContainerCreating.
    let pods = wait_for(
        "112 web pods Running and 88 waiting for an address",
        SLOW,
        || async {
            let pods = web_pods(&c).await;
            let counts = phase_counts(&pods);
            (pods.len() == 200
                && counts.get("Running") == Some(&112)
                && counts.get("Pending") == Some(&88))
            .then_some(pods)
        },
    )
    .await;
    let mut seen = BTreeSet::new();
    for p in &pods {
        let Some(ip) = pod_ip(p) else { continue };
        assert!(seen.insert(ip), "pod IP {ip} is unique");
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        assert!(
            in_cidr(ip, node_subnet[&node]),
            "{ip} is in {node}'s subnet"
        );
    }
    assert_eq!(seen.len(), 112);
    let waiting = pods
        .iter()
        .find(|p| pod_ip(p).is_none())
        .expect("a pod without an address");
    let waiting_name = waiting.metadata.name.clone().unwrap_or_default();
    let events: Api<Event> = Api::namespaced(c.clone(), "default");
    let message = wait_for("the CNI's FailedCreatePodSandBox event", SLOW, || async {
        let l = events
            .list(&ListParams::default().fields(&format!(
                "involvedObject.name={waiting_name},reason=FailedCreatePodSandBox"
            )))
            .await
            .ok()?
            .items;
        l.first().and_then(|e| e.message.clone())
    })
    .await;
    assert!(
        message.contains("plugin type=\"aws-cni\" name=\"aws-cni\" failed (add): add cmd: failed to assign an IP address to container"),
        "{message}"
    );
    let describe = k.ok(&["describe", "pod", &waiting_name]).await;
    assert!(describe.contains("ContainerCreating"), "{describe}");
    let vpc = k.ok(&["get", "subnets"]).await;
    let rows = table(&vpc);
    assert!(
        rows[1..].iter().all(|r| r[4] == "0"),
        "both subnets are full: {vpc}"
    );

    // The fix, as on EKS: a secondary CIDR, a subnet per zone in it, an ENIConfig per zone
    // named after the zone, custom networking on, and new nodes.
    let (code, out, err) = skiff_cli(&kubeconfig, &["vpc", "add-cidr", "100.64.0.0/16"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    let mut subnet_ids = BTreeMap::new();
    for (zone, cidr) in [
        ("us-east-1a", "100.64.0.0/19"),
        ("us-east-1b", "100.64.32.0/19"),
    ] {
        let (code, out, err) = skiff_cli(
            &kubeconfig,
            &["vpc", "add-subnet", "--az", zone, "--cidr", cidr],
        )
        .await;
        assert_eq!(code, Some(0), "{out}{err}");
        let id = out.trim().to_string();
        assert!(id.starts_with("subnet-0") && id.len() == 24, "{out:?}");
        subnet_ids.insert(zone, id);
    }
    // A subnet that overlaps is refused with EC2's error.
    let (code, _, err) = skiff_cli(
        &kubeconfig,
        &[
            "vpc",
            "add-subnet",
            "--az",
            "us-east-1a",
            "--cidr",
            "100.64.16.0/20",
        ],
    )
    .await;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("InvalidSubnet.Conflict"), "{err}");
    let manifests = temp.path().join("eniconfigs.yaml");
    let docs: Vec<String> = subnet_ids
        .iter()
        .map(|(zone, id)| {
            format!(
                "apiVersion: crd.k8s.amazonaws.com/v1alpha1\nkind: ENIConfig\nmetadata:\n  name: {zone}\nspec:\n  subnet: {id}\n"
            )
        })
        .collect();
    std::fs::write(&manifests, docs.join("---\n")).expect("write the ENIConfigs");
    k.ok(&["apply", "-f", &manifests.to_string_lossy()]).await;
    k.ok(&[
        "set",
        "env",
        "daemonset",
        "aws-node",
        "-n",
        "kube-system",
        "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=true",
        "ENI_CONFIG_LABEL_DEF=topology.kubernetes.io/zone",
    ])
    .await;
    let (code, out, err) = skiff_cli(&kubeconfig, &["nodegroup", "replace", "big"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    let pods = wait_for(
        "all 200 web pods Running on the new nodes",
        SLOW,
        || async {
            let pods = web_pods(&c).await;
            let running = pods
                .iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .count();
            (pods.len() == 200 && running == 200).then_some(pods)
        },
    )
    .await;
    let node_list = nodes
        .list(&ListParams::default())
        .await
        .expect("nodes")
        .items;
    assert_eq!(node_list.len(), 4);
    let mut node_zone = BTreeMap::new();
    for n in &node_list {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels["eks.amazonaws.com/sourceLaunchTemplateVersion"], "2");
        let zone = labels["topology.kubernetes.io/zone"].clone();
        assert!(
            in_cidr(internal_ip(n), subnet_of_zone(&zone)),
            "node IPs stay in the /26s"
        );
        node_zone.insert(n.metadata.name.clone().unwrap_or_default(), zone);
    }
    let mut seen = BTreeSet::new();
    for p in &pods {
        let ip = pod_ip(p).expect("a running pod has an IP");
        assert!(seen.insert(ip), "pod IP {ip} is unique");
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let want = if node_zone[&node] == "us-east-1a" {
            "100.64.0.0/19"
        } else {
            "100.64.32.0/19"
        };
        assert!(
            in_cidr(ip, want),
            "{ip} of a pod on {node} is in its ENIConfig's subnet {want}"
        );
    }
    // The old instances' ENIs are gone once the cloud has written its last changes.
    let doc = wait_for("skiff vpc to show the four nodes", SLOW, || async {
        let (code, out, _) = skiff_cli(&kubeconfig, &["vpc", "-o", "json"]).await;
        let doc: Value = serde_json::from_str(&out).ok()?;
        (code == Some(0) && doc["nodes"].as_array().map(Vec::len) == Some(4)).then_some(doc)
    })
    .await;
    assert_eq!(doc["vpc"]["cidrBlocks"], json!(["100.64.0.0/16"]));
    skiff.stop().await;
}

/// The EC2 resources a test reads.
fn ec2(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("ec2.skiff.dev", "v1alpha1", kind),
        plural,
    )
}

#[tokio::test]
async fn the_default_cluster_is_eksctls_with_real_ec2_nodes() {
    let c = TestCluster::start_with(ClusterOptions {
        nodes: 2,
        speed: 10.0,
        ..ClusterOptions::default()
    })
    .await
    .expect("start the default cluster");
    let nodes: Api<Node> = Api::all(c.client.clone());
    let list = wait_for("two Ready nodes", SLOW, || async {
        let l = nodes.list(&ListParams::default()).await.ok()?.items;
        (l.len() == 2 && l.iter().all(node_ready)).then_some(l)
    })
    .await;
    let subnets: Api<DynamicObject> = Api::all_with(c.client.clone(), &ec2("Subnet", "subnets"));
    let subnet_list = subnets
        .list(&ListParams::default())
        .await
        .expect("subnets")
        .items;
    assert_eq!(
        subnet_list.len(),
        6,
        "a public and a private /19 in each of three zones"
    );
    let public: BTreeSet<String> = subnet_list
        .iter()
        .filter(|s| s.data["spec"]["mapPublicIpOnLaunch"] == true)
        .map(|s| {
            s.data["spec"]["cidrBlock"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        public,
        BTreeSet::from([
            "192.168.0.0/19".to_string(),
            "192.168.32.0/19".into(),
            "192.168.64.0/19".into()
        ])
    );
    for n in &list {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        for (k, v) in [
            ("node.kubernetes.io/instance-type", "m5.large"),
            ("topology.kubernetes.io/region", "us-west-2"),
            ("eks.amazonaws.com/capacityType", "ON_DEMAND"),
            ("kubernetes.io/arch", "amd64"),
            ("kubernetes.io/os", "linux"),
        ] {
            assert_eq!(labels.get(k).map(String::as_str), Some(v), "{k}");
        }
        assert!(labels["eks.amazonaws.com/nodegroup"].starts_with("ng-"));
        let zone = &labels["topology.kubernetes.io/zone"];
        let provider = n
            .spec
            .as_ref()
            .and_then(|s| s.provider_id.clone())
            .unwrap_or_default();
        assert!(
            provider.starts_with(&format!("aws:///{zone}/i-0")),
            "{provider}"
        );
        let ip = internal_ip(n);
        // eksctl puts a default node group in the public subnets.
        assert!(public.iter().any(|p| in_cidr(ip, p)), "{ip}");
        assert_eq!(
            n.metadata.name.clone().unwrap_or_default(),
            format!(
                "ip-{}.us-west-2.compute.internal",
                ip.to_string().replace('.', "-")
            )
        );
        // Allocatable per the EKS AMI: cpu 2000m − 70m; memory 8192 Mi − (11 × 29 + 255) Mi
        // kube-reserved − 100 Mi eviction; 29 pods (3 ENIs × (10 − 1) + 2).
        let alloc = n
            .status
            .as_ref()
            .and_then(|s| s.allocatable.clone())
            .unwrap_or_default();
        assert_eq!(alloc["cpu"].0, "1930m");
        assert_eq!(
            alloc["memory"].0,
            format!("{}Ki", (8192 - 574 - 100) * 1024)
        );
        assert_eq!(alloc["pods"].0, "29");
    }
    // The add-ons run, and pods get addresses from their node's subnet.
    let ds: Api<DaemonSet> = Api::namespaced(c.client.clone(), "kube-system");
    for name in ["aws-node", "kube-proxy"] {
        wait_for(&format!("{name} on both nodes"), SLOW, || async {
            let d = ds.get(name).await.ok()?;
            (d.status?.number_ready == 2).then_some(())
        })
        .await;
    }
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "kube-system");
    let coredns = wait_for("CoreDNS Running with VPC addresses", SLOW, || async {
        let l = pods
            .list(&ListParams::default().labels("k8s-app=kube-dns"))
            .await
            .ok()?
            .items;
        (l.len() == 2 && l.iter().all(|p| pod_ip(p).is_some())).then_some(l)
    })
    .await;
    for p in &coredns {
        let ip = pod_ip(p).expect("an IP");
        let host: Ipv4Addr = p
            .status
            .as_ref()
            .and_then(|s| s.host_ip.clone())
            .and_then(|h| h.parse().ok())
            .expect("a host IP");
        let subnet = public
            .iter()
            .find(|s| in_cidr(host, s))
            .expect("the node's subnet");
        assert!(in_cidr(ip, subnet), "{ip} is in the node's subnet {subnet}");
    }
    let enis: Api<DynamicObject> = Api::all_with(
        c.client.clone(),
        &ec2("NetworkInterface", "networkinterfaces"),
    );
    // The cloud writes ENI objects after the sandboxes are set up, asynchronously.
    wait_for(
        "the ENIs to record the two pods holding their addresses",
        SLOW,
        || async {
            let held: usize = enis
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .iter()
                .map(|e| e.data["status"]["podCount"].as_u64().unwrap_or(0) as usize)
                .sum();
            (held == 2).then_some(())
        },
    )
    .await;

    // Prefix delegation, turned on as on EKS (the aws-node environment), applies to a new
    // node: the calculator's 110 pods for an m5.large, and /28 prefixes on its ENIs.
    let patch = json!({"spec": {"template": {"spec": {"containers": [{
        "name": "aws-node", "env": [{"name": "ENABLE_PREFIX_DELEGATION", "value": "true"}]}]}}}});
    ds.patch(
        "aws-node",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Strategic(&patch),
    )
    .await
    .expect("turn prefix delegation on");
    let group =
        list[0].metadata.labels.clone().unwrap_or_default()["eks.amazonaws.com/nodegroup"].clone();
    let before: BTreeSet<String> = list
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    // The cloud reads the new environment within a poll; give it a moment before scaling.
    wait_for("the CNI to read prefix delegation", SLOW, || async {
        let d = ds.get("aws-node").await.ok()?;
        let env = d.spec?.template.spec?.containers.first()?.env.clone()?;
        env.iter()
            .any(|e| e.name == "ENABLE_PREFIX_DELEGATION" && e.value.as_deref() == Some("true"))
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    skiff::ops::nodegroup_scale(&c.client, &group, 3, None, Some(3), SLOW)
        .await
        .expect("scale the node group to 3");
    let new_node = nodes
        .list(&ListParams::default())
        .await
        .expect("nodes")
        .items
        .into_iter()
        .find(|n| !before.contains(n.metadata.name.as_deref().unwrap_or_default()))
        .expect("the new node");
    let alloc = new_node
        .status
        .as_ref()
        .and_then(|s| s.allocatable.clone())
        .unwrap_or_default();
    assert_eq!(alloc["pods"].0, "110", "an m5.large with prefix delegation");
    let new_name = new_node.metadata.name.clone().unwrap_or_default();
    let prefixes = wait_for("a /28 prefix on the new node's ENI", SLOW, || async {
        let l = enis.list(&ListParams::default()).await.ok()?.items;
        let p: Vec<String> = l
            .iter()
            .filter(|e| e.data["spec"]["nodeName"] == new_name.as_str())
            .flat_map(|e| {
                e.data["status"]["ipv4Prefixes"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert!(prefixes.iter().all(|p| p.ends_with("/28")), "{prefixes:?}");
    c.stop().await;
}

#[tokio::test]
async fn fargate_pods_get_their_own_right_sized_node_and_refusals_name_fargate() {
    let c = TestCluster::start_with(ClusterOptions {
        speed: 10.0,
        cluster_yaml: Some(FARGATE),
        ..ClusterOptions::default()
    })
    .await
    .expect("start a cluster with a Fargate profile");
    let nodes: Api<Node> = Api::all(c.client.clone());
    wait_for("two Ready EC2 nodes", SLOW, || async {
        let l = nodes.list(&ListParams::default()).await.ok()?.items;
        (l.len() == 2 && l.iter().all(node_ready)).then_some(())
    })
    .await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "serverless"}})).expect("ns"),
        )
        .await
        .expect("create the namespace");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "serverless");
    wait_for("the namespace's default service account", SLOW, || async {
        let sa: Api<k8s_openapi::api::core::v1::ServiceAccount> =
            Api::namespaced(c.client.clone(), "serverless");
        sa.get_opt("default").await.ok()?.map(|_| ())
    })
    .await;
    let big = json!({"metadata": {"name": "big"}, "spec": {"containers": [{
        "name": "app", "image": "nginx",
        "resources": {"requests": {"cpu": "1", "memory": "8Gi"},
                      "limits": {"cpu": "1", "memory": "8Gi"}}}]}});
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(big).expect("pod"),
    )
    .await
    .expect("create the pod");
    let pod = wait_for("the pod Running on Fargate", SLOW, || async {
        let p = pods.get("big").await.ok()?;
        (p.status.as_ref()?.phase.as_deref() == Some("Running")).then_some(p)
    })
    .await;
    let spec = pod.spec.clone().unwrap_or_default();
    assert_eq!(spec.scheduler_name.as_deref(), Some("fargate-scheduler"));
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    // 1 vCPU and 8 GiB + 256 MiB: no 1-vCPU size has 9 GB, so 2 vCPU / 9 GB (AWS's example).
    assert_eq!(
        annotations.get("CapacityProvisioned").map(String::as_str),
        Some("2vCPU 9GB")
    );
    let node_name = spec.node_name.unwrap_or_default();
    assert!(
        node_name.starts_with("fargate-ip-") && node_name.ends_with(".us-west-2.compute.internal"),
        "{node_name}"
    );
    let node = nodes.get(&node_name).await.expect("the Fargate node");
    assert_eq!(
        node.metadata
            .labels
            .clone()
            .unwrap_or_default()
            .get("eks.amazonaws.com/compute-type")
            .map(String::as_str),
        Some("fargate")
    );
    assert_eq!(
        pod_ip(&pod),
        Some(internal_ip(&node)),
        "a Fargate pod's IP is its node's"
    );

    // A DaemonSet places no pod on the Fargate node.
    let ds: Api<DaemonSet> = Api::namespaced(c.client.clone(), "default");
    let daemon = json!({"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": {"metadata": {"labels": {"app": "agent"}},
                     "spec": {"containers": [{"name": "a", "image": "busybox", "command": ["sleep", "3600"]}]}}}});
    ds.create(
        &PostParams::default(),
        &serde_json::from_value(daemon).expect("ds"),
    )
    .await
    .expect("create the DaemonSet");
    wait_for("the DaemonSet on the two EC2 nodes only", SLOW, || async {
        let d = ds.get("agent").await.ok()?;
        let s = d.status?;
        (s.desired_number_scheduled == 2 && s.number_ready == 2).then_some(())
    })
    .await;

    // A privileged pod in the namespace is refused, with a message naming Fargate.
    let privileged = json!({"metadata": {"name": "priv"}, "spec": {"containers": [{
        "name": "app", "image": "nginx", "securityContext": {"privileged": true}}]}});
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(privileged).expect("pod"),
    )
    .await
    .expect("create the privileged pod");
    let events: Api<Event> = Api::namespaced(c.client.clone(), "serverless");
    let message = wait_for("the fargate-scheduler's refusal", SLOW, || async {
        let l = events
            .list(&ListParams::default().fields("involvedObject.name=priv,reason=FailedScheduling"))
            .await
            .ok()?
            .items;
        l.first().and_then(|e| e.message.clone())
    })
    .await;
    assert_eq!(
        message,
        "Pod not supported on Fargate: invalid SecurityContext fields: Privileged"
    );
    let p = pods.get("priv").await.expect("the pod");
    assert_eq!(p.status.and_then(|s| s.phase).as_deref(), Some("Pending"));

    // A Fargate node lives as long as its pod: deleting the pod stops the micro-VM.
    pods.delete("big", &DeleteParams::default())
        .await
        .expect("delete the Fargate pod");
    wait_for("the Fargate node gone with its pod", SLOW, || async {
        nodes
            .get_opt(&node_name)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;

    // The add-on version the file names is the one running.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(c.client.clone(), "kube-system");
    let coredns = deployments.get("coredns").await.expect("coredns");
    let image = coredns
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.first().and_then(|c| c.image.clone()))
        .unwrap_or_default();
    assert_eq!(
        image,
        "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/coredns:v1.11.4-eksbuild.24"
    );

    // A profile made through the API applies to the pods created after it, and stops
    // applying once deleted (a dry-run create shows the admission's mutation).
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "batch"}})).expect("ns"),
        )
        .await
        .expect("create the namespace");
    let batch: Api<Pod> = Api::namespaced(c.client.clone(), "batch");
    let gvk = GroupVersionKind::gvk("eks.skiff.dev", "v1alpha1", "FargateProfile");
    let profiles: Api<DynamicObject> =
        Api::all_with(c.client.clone(), &ApiResource::from_gvk(&gvk));
    let profile = json!({"apiVersion": "eks.skiff.dev/v1alpha1", "kind": "FargateProfile",
        "metadata": {"name": "fp-batch"},
        "spec": {"selectors": [{"namespace": "batch", "labels": {"tier": "jobs"}}]}});
    profiles
        .create(
            &PostParams::default(),
            &serde_json::from_value(profile).expect("profile"),
        )
        .await
        .expect("create the profile");
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let job_pod: Pod = serde_json::from_value(
        json!({"metadata": {"name": "job", "labels": {"tier": "jobs"}},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]}}),
    )
    .expect("pod");
    let admitted_to = |p: Pod| {
        p.metadata
            .labels
            .unwrap_or_default()
            .get("eks.amazonaws.com/fargate-profile")
            .cloned()
    };
    let admitted = wait_for(
        "the API-made profile applied to a new pod",
        SLOW,
        || async {
            let p = batch.create(&dry_run, &job_pod).await.ok()?;
            (p.spec.as_ref()?.scheduler_name.as_deref() == Some("fargate-scheduler")).then_some(p)
        },
    )
    .await;
    assert_eq!(admitted_to(admitted).as_deref(), Some("fp-batch"));
    profiles
        .delete("fp-batch", &DeleteParams::default())
        .await
        .expect("delete the profile");
    let left = wait_for("the deleted profile no longer applied", SLOW, || async {
        let p = batch.create(&dry_run, &job_pod).await.ok()?;
        (p.spec.as_ref()?.scheduler_name.as_deref() == Some("default-scheduler")).then_some(p)
    })
    .await;
    assert_eq!(admitted_to(left), None);
    c.stop().await;
}

#[tokio::test]
async fn a_cluster_file_with_unmodelled_fields_starts_with_warnings_and_node_groups_scale() {
    let temp = tempfile::tempdir().expect("temp dir");
    let file = temp.path().join("cluster.yaml");
    std::fs::write(&file, FARGATE).expect("write the cluster file");
    let file_arg = file.to_string_lossy().into_owned();
    let mut skiff = Skiff::spawn_with(
        &temp.path().join("data"),
        &["-f", &file_arg, "--listen", "127.0.0.1:0", "--speed", SPEED],
    );
    let ready_info = skiff.ready().await;
    let stderr = skiff.stderr();
    assert!(
        stderr.contains("warning") && stderr.contains("managedNodeGroups[0].ssh"),
        "{stderr}"
    );
    let kubeconfig = ready_info.kubeconfig.clone();
    let (code, out, err) = skiff_cli(
        &kubeconfig,
        &[
            "nodegroup",
            "scale",
            "ng-1",
            "--nodes",
            "3",
            "--nodes-max",
            "3",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{out}{err}");
    let c = client(&kubeconfig).await;
    let nodes: Api<Node> = Api::all(c.clone());
    let l = nodes
        .list(&ListParams::default().labels("eks.amazonaws.com/nodegroup=ng-1"))
        .await
        .expect("nodes")
        .items;
    assert_eq!(l.len(), 3);
    assert!(l.iter().all(node_ready));
    // An unknown group: EKS's answer.
    let (code, _, err) =
        skiff_cli(&kubeconfig, &["nodegroup", "scale", "nope", "--nodes", "1"]).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("(ResourceNotFoundException) when calling the DescribeNodegroup operation: No node group found for name: nope."),
        "{err}"
    );
    // Beyond the maximum: eksctl's message, nothing changes.
    let (code, _, err) =
        skiff_cli(&kubeconfig, &["nodegroup", "scale", "ng-1", "--nodes", "9"]).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("the desired nodes 9 is greater than current nodes-max/maxSize 3"),
        "{err}"
    );
    let (code, out, err) = skiff_cli(
        &kubeconfig,
        &[
            "nodegroup",
            "scale",
            "ng-1",
            "--nodes",
            "1",
            "--nodes-min",
            "1",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{out}{err}");
    let instances: Api<DynamicObject> = Api::all_with(c.clone(), &ec2("Instance", "instances"));
    wait_for("the terminated instances gone", SLOW, || async {
        let l = instances.list(&ListParams::default()).await.ok()?.items;
        (l.len() == 1).then_some(())
    })
    .await;
    skiff.stop().await;

    // The cluster file is the node group's source of truth on the next start: back to its
    // desiredCapacity of 2.
    let mut skiff = Skiff::spawn_with(
        &temp.path().join("data"),
        &["-f", &file_arg, "--listen", "127.0.0.1:0", "--speed", SPEED],
    );
    let ready_info = skiff.ready().await;
    let c = client(&ready_info.kubeconfig).await;
    let nodes: Api<Node> = Api::all(c.clone());
    wait_for("two Ready nodes after the restart", SLOW, || async {
        let l = nodes
            .list(&ListParams::default().labels("eks.amazonaws.com/nodegroup=ng-1"))
            .await
            .ok()?
            .items;
        (l.len() == 2 && l.iter().all(node_ready)).then_some(())
    })
    .await;
    // Deleting the node group drains and terminates its nodes.
    let groups: Api<DynamicObject> = Api::all_with(
        c.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("eks.skiff.dev", "v1alpha1", "NodeGroup"),
            "nodegroups",
        ),
    );
    groups
        .delete("ng-1", &Default::default())
        .await
        .expect("delete the node group");
    wait_for("the node group's nodes gone", SLOW, || async {
        let l = nodes
            .list(&ListParams::default().labels("eks.amazonaws.com/nodegroup=ng-1"))
            .await
            .ok()?
            .items;
        l.is_empty().then_some(())
    })
    .await;
    skiff.stop().await;

    // An invalid file: an error naming the field, exit code 2.
    let bad = temp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        FARGATE.replace("desiredCapacity: 2", "desiredCapacity: -1"),
    )
    .expect("write");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["up", "-f"])
        .arg(&bad)
        .arg("--data-dir")
        .arg(temp.path().join("bad-data"))
        .output()
        .await
        .expect("run skiff up");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("managedNodeGroups[0].desiredCapacity"),
        "{err}"
    );
}

#[tokio::test]
async fn instance_types_json_agrees_with_the_reference_data() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/aws");
    let Ok(csv) = std::fs::read_to_string(root.join("instance-types.csv")) else {
        println!("skipping: ../shared/data/aws/instance-types.csv not found");
        return;
    };
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["instance-types", "-o", "json"])
        .output()
        .await
        .expect("run skiff instance-types");
    assert!(out.status.success());
    let types: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    let by_name: BTreeMap<&str, &Value> = types
        .iter()
        .map(|t| (t["name"].as_str().unwrap_or_default(), t))
        .collect();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect("a column");
    let (name, vcpu, memory, max_pods, price) = (
        col("name"),
        col("vcpu"),
        col("memory_mib"),
        col("max_pods"),
        col("on_demand_usd_per_hour"),
    );
    let mut rows = 0;
    for line in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let t = by_name
            .get(f[name])
            .unwrap_or_else(|| panic!("{} is listed", f[name]));
        rows += 1;
        assert_eq!(
            t["eniMaxPods"].to_string(),
            f[max_pods],
            "{} eniMaxPods",
            f[name]
        );
        if !f[vcpu].is_empty() {
            assert_eq!(t["vcpu"].to_string(), f[vcpu], "{} vcpu", f[name]);
            assert_eq!(t["memoryMiB"].to_string(), f[memory], "{} memory", f[name]);
        }
        match f[price].parse::<f64>() {
            Ok(p) => {
                let got = t["onDemandPrice"].as_f64().expect("a price");
                assert!((got - p).abs() < 1e-6, "{} price {got} vs {p}", f[name]);
            }
            Err(_) => assert!(t["onDemandPrice"].is_null(), "{} has no price", f[name]),
        }
    }
    assert_eq!(rows, types.len(), "no type missing or extra");
    let Ok(examples) = std::fs::read_to_string(root.join("max-pods-examples.csv")) else {
        println!("skipping the max-pods examples: max-pods-examples.csv not found");
        return;
    };
    let mut lines = examples.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect("a column");
    for line in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let t = by_name[f[col("instance_type")]];
        for (field, column) in [
            ("secondaryIp", "calc_secondary_ip_recommended"),
            ("customNetworking", "calc_custom_networking_recommended"),
            ("prefixDelegation", "calc_prefix_delegation_recommended"),
        ] {
            assert_eq!(
                t["maxPods"][field].to_string(),
                f[col(column)],
                "{} {field}",
                f[col("instance_type")]
            );
        }
    }
}
