//! The subcommands that act on a running cluster through its API, as the AWS CLI and eksctl
//! act on EKS: `skiff vpc` (subnets, ENIs and addresses), `skiff vpc add-cidr`,
//! `skiff vpc add-subnet`, `skiff nodegroup scale` and `skiff nodegroup replace`.
//!
//! EC2 changes are asynchronous, as in AWS: the command writes the request (a CIDR block on
//! the VPC, a new Subnet object) and waits for the simulated EC2 to accept or refuse it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// What went wrong in a cluster subcommand (printed as `skiff: <message>`).
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The kubeconfig could not be read.
    #[error("reading the kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    /// An API request failed.
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// EC2 (or EKS) refused the request.
    #[error("An error occurred ({code}) when calling the {operation} operation: {message}")]
    Aws {
        code: String,
        operation: &'static str,
        message: String,
    },
    /// The request is invalid before it reaches the cluster.
    #[error("{0}")]
    Invalid(String),
    /// The cluster did not finish in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

/// A client for the cluster of `kubeconfig` (or `$KUBECONFIG`, or the default data
/// directory's kubeconfig).
pub async fn client(kubeconfig: Option<&Path>) -> Result<Client, OpsError> {
    let path = match kubeconfig {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(v) => std::env::split_paths(&v)
                .next()
                .unwrap_or_else(|| crate::kubeconfig_path(&crate::default_data_dir())),
            None => crate::kubeconfig_path(&crate::default_data_dir()),
        },
    };
    let err = |message: String| OpsError::Kubeconfig {
        path: path.display().to_string(),
        message,
    };
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).map_err(|e| err(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| err(e.to_string()))?;
    Client::try_from(config).map_err(OpsError::Api)
}

fn resource(group: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1alpha1", kind), plural)
}

fn vpcs(client: &Client) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &resource(aws::resources::EC2_GROUP, "VPC", "vpcs"),
    )
}

fn subnets(client: &Client) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &resource(aws::resources::EC2_GROUP, "Subnet", "subnets"),
    )
}

fn enis(client: &Client) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &resource(
            aws::resources::EC2_GROUP,
            "NetworkInterface",
            "networkinterfaces",
        ),
    )
}

fn instances(client: &Client) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &resource(aws::resources::EC2_GROUP, "Instance", "instances"),
    )
}

fn node_groups(client: &Client) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &eks::nodegroup::node_group_resource())
}

/// The cluster's one VPC.
async fn the_vpc(client: &Client) -> Result<DynamicObject, OpsError> {
    let mut list = vpcs(client).list(&ListParams::default()).await?.items;
    match list.len() {
        1 => Ok(list.remove(0)),
        0 => Err(OpsError::Invalid(
            "the cluster has no VPC (it runs without simulated AWS networking)".into(),
        )),
        n => Err(OpsError::Invalid(format!(
            "the cluster has {n} VPCs; expected one"
        ))),
    }
}

/// Polls `check` every 100 ms until it gives a value or `timeout` passes.
async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> Result<T, OpsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, OpsError>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if start.elapsed() > timeout {
            return Err(OpsError::Timeout(timeout, what.to_string()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `skiff vpc`: the VPC, its subnets with their free addresses, and each node's ENIs and
/// addresses, as a table or (`json`) one JSON document.
pub async fn vpc_show(client: &Client, json_output: bool) -> Result<String, OpsError> {
    let vpc = the_vpc(client).await?;
    let mut subnet_list = subnets(client).list(&ListParams::default()).await?.items;
    subnet_list.sort_by(|a, b| {
        let key = |o: &DynamicObject| {
            (
                o.data["spec"]["availabilityZone"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                o.data["spec"]["cidrBlock"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
    let mut eni_list = enis(client).list(&ListParams::default()).await?.items;
    eni_list.sort_by_key(|e| {
        (
            e.data["spec"]["nodeName"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            e.data["spec"]["deviceIndex"].as_i64().unwrap_or_default(),
        )
    });
    let instance_types: BTreeMap<String, String> = instances(client)
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|i| {
            (
                i.name_any(),
                i.data["spec"]["instanceType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let subnet_json: Vec<Value> = subnet_list
        .iter()
        .map(|s| {
            json!({
                "id": s.name_any(),
                "availabilityZone": s.data["spec"]["availabilityZone"],
                "cidrBlock": s.data["spec"]["cidrBlock"],
                "public": s.data["spec"]["mapPublicIpOnLaunch"].as_bool().unwrap_or(false),
                "availableIpAddressCount": s.data["status"]["availableIpAddressCount"],
                "state": s.data["status"]["state"],
            })
        })
        .collect();
    let mut nodes: BTreeMap<String, Value> = BTreeMap::new();
    for e in &eni_list {
        let node = e.data["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let instance = e.data["spec"]["instanceId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let entry = nodes.entry(node.clone()).or_insert_with(|| {
            json!({"name": node, "instanceId": instance,
                   "instanceType": instance_types.get(&instance).cloned().unwrap_or_default(),
                   "networkInterfaces": []})
        });
        let addresses: Vec<Value> = e.data["status"]["privateIpAddresses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(list) = entry["networkInterfaces"].as_array_mut() {
            list.push(json!({
                "id": e.name_any(),
                "deviceIndex": e.data["spec"]["deviceIndex"],
                "subnetId": e.data["spec"]["subnetId"],
                "primaryIp": e.data["status"]["privateIpAddress"],
                "addresses": addresses,
                "ipv4Prefixes": e.data["status"]["ipv4Prefixes"],
            }));
        }
    }
    let doc = json!({
        "vpc": {"id": vpc.name_any(), "cidrBlock": vpc.data["spec"]["cidrBlock"],
                "cidrBlocks": vpc.data["spec"]["cidrBlocks"],
                "region": vpc.data["spec"]["region"]},
        "subnets": subnet_json,
        "nodes": nodes.values().cloned().collect::<Vec<_>>(),
    });
    if json_output {
        return Ok(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n");
    }
    let mut out = String::new();
    let blocks: Vec<String> = std::iter::once(
        vpc.data["spec"]["cidrBlock"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
    .chain(
        vpc.data["spec"]["cidrBlocks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b.as_str().map(str::to_string)),
    )
    .collect();
    out.push_str(&format!(
        "VPC {} ({}) in {}\n\n",
        vpc.name_any(),
        blocks.join(", "),
        vpc.data["spec"]["region"].as_str().unwrap_or_default()
    ));
    let mut rows = vec![vec![
        "SUBNET".to_string(),
        "AZ".into(),
        "CIDR".into(),
        "TYPE".into(),
        "FREE-IPS".into(),
        "STATE".into(),
    ]];
    for s in &subnet_json {
        rows.push(vec![
            s["id"].as_str().unwrap_or_default().into(),
            s["availabilityZone"].as_str().unwrap_or_default().into(),
            s["cidrBlock"].as_str().unwrap_or_default().into(),
            if s["public"].as_bool().unwrap_or(false) {
                "public"
            } else {
                "private"
            }
            .into(),
            s["availableIpAddressCount"]
                .as_i64()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            s["state"].as_str().unwrap_or_default().into(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push('\n');
    let mut rows = vec![vec![
        "NODE".to_string(),
        "INSTANCE".into(),
        "TYPE".into(),
        "ENI".into(),
        "DEVICE".into(),
        "SUBNET".into(),
        "PRIMARY-IP".into(),
        "IPS".into(),
        "PODS".into(),
    ]];
    for e in &eni_list {
        let instance = e.data["spec"]["instanceId"].as_str().unwrap_or_default();
        rows.push(vec![
            e.data["spec"]["nodeName"]
                .as_str()
                .unwrap_or_default()
                .into(),
            instance.into(),
            instance_types.get(instance).cloned().unwrap_or_default(),
            e.name_any(),
            e.data["spec"]["deviceIndex"]
                .as_i64()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            e.data["spec"]["subnetId"]
                .as_str()
                .unwrap_or_default()
                .into(),
            e.data["status"]["privateIpAddress"]
                .as_str()
                .unwrap_or_default()
                .into(),
            e.data["status"]["addressCount"]
                .as_i64()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            e.data["status"]["podCount"]
                .as_i64()
                .map(|n| n.to_string())
                .unwrap_or_default(),
        ]);
    }
    out.push_str(&table(&rows));
    Ok(out)
}

/// Left-aligned columns separated by three spaces, as kubectl prints.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}   ", width = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `skiff vpc add-cidr CIDR`: associates a secondary CIDR block with the VPC and waits
/// until EC2 has associated it (or refused it).
pub async fn vpc_add_cidr(client: &Client, cidr: &str) -> Result<String, OpsError> {
    let block: aws::vpc::Cidr = cidr.parse().map_err(|_| {
        let e = aws::vpc::Ec2Error::invalid_cidr_block_parameter(cidr);
        OpsError::Aws {
            code: e.code.to_string(),
            operation: "AssociateVpcCidrBlock",
            message: e.message,
        }
    })?;
    let block = block.to_string();
    let vpc = the_vpc(client).await?;
    let id = vpc.name_any();
    let mut blocks: Vec<String> = vpc.data["spec"]["cidrBlocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b.as_str().map(str::to_string))
        .collect();
    if !blocks.contains(&block) {
        blocks.push(block.clone());
    }
    let patch = json!({"spec": {"cidrBlocks": blocks}});
    vpcs(client)
        .patch(&id, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let api = vpcs(client);
    wait_for(
        Duration::from_secs(30),
        "the CIDR block association",
        || {
            let api = api.clone();
            let id = id.clone();
            let block = block.clone();
            async move {
                let vpc = api.get(&id).await?;
                let assoc = vpc.data["status"]["cidrBlockAssociations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|a| a["cidrBlock"] == block.as_str())
                    .cloned();
                match assoc.as_ref().and_then(|a| a["state"].as_str()) {
                    Some("associated") => Ok(Some(())),
                    Some("failed") => {
                        let a = assoc.unwrap_or_default();
                        Err(OpsError::Aws {
                            code: a["code"].as_str().unwrap_or("InvalidVpc.Range").to_string(),
                            operation: "AssociateVpcCidrBlock",
                            message: a["statusMessage"].as_str().unwrap_or_default().to_string(),
                        })
                    }
                    _ => Ok(None),
                }
            }
        },
    )
    .await?;
    Ok(format!("{block} associated with {id}\n"))
}

/// A new EC2-style id (`subnet-0` and 16 hex digits).
fn new_id(prefix: &str) -> String {
    let n = uuid_like();
    format!("{prefix}-0{n:016x}")
}

fn uuid_like() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

/// `skiff vpc add-subnet --az AZ --cidr CIDR`: creates a subnet and waits until it is
/// available; returns its id.
pub async fn vpc_add_subnet(
    client: &Client,
    az: &str,
    cidr: &str,
    public: bool,
) -> Result<String, OpsError> {
    let block: aws::vpc::Cidr = cidr.parse().map_err(|_| {
        let e = aws::vpc::Ec2Error::invalid_cidr_block_parameter(cidr);
        OpsError::Aws {
            code: e.code.to_string(),
            operation: "CreateSubnet",
            message: e.message,
        }
    })?;
    let vpc = the_vpc(client).await?;
    let id = new_id("subnet");
    let subnet = json!({
        "apiVersion": aws::resources::EC2_API_VERSION, "kind": "Subnet",
        "metadata": {"name": id},
        "spec": {"vpcId": vpc.name_any(), "availabilityZone": az,
                 "cidrBlock": block.to_string(), "mapPublicIpOnLaunch": public},
    });
    let obj: DynamicObject =
        serde_json::from_value(subnet).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let api = subnets(client);
    api.create(&PostParams::default(), &obj).await?;
    let result = wait_for(Duration::from_secs(30), "the subnet", || {
        let api = api.clone();
        let id = id.clone();
        async move {
            let s = api.get(&id).await?;
            match s.data["status"]["state"].as_str() {
                Some("available") => Ok(Some(())),
                Some("failed") => Err(OpsError::Aws {
                    code: s.data["status"]["code"]
                        .as_str()
                        .unwrap_or("InvalidSubnet")
                        .to_string(),
                    operation: "CreateSubnet",
                    message: s.data["status"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                }),
                _ => Ok(None),
            }
        }
    })
    .await;
    if result.is_err() {
        // A refused subnet does not exist in EC2: remove the request.
        let _ = api.delete(&id, &Default::default()).await;
    }
    result.map(|()| id)
}

/// The node group `name`, or EKS's answer when there is none.
async fn node_group(api: &Api<DynamicObject>, name: &str) -> Result<DynamicObject, OpsError> {
    api.get_opt(name).await?.ok_or_else(|| OpsError::Aws {
        code: "ResourceNotFoundException".into(),
        operation: "DescribeNodegroup",
        message: format!("No node group found for name: {name}."),
    })
}

/// `skiff nodegroup scale NAME --nodes N`: sets the group's desired size (within its
/// minimum and maximum, which `--nodes-min`/`--nodes-max` may change) and waits until that
/// many nodes are Ready.
pub async fn nodegroup_scale(
    client: &Client,
    name: &str,
    nodes: i64,
    min: Option<i64>,
    max: Option<i64>,
    timeout: Duration,
) -> Result<String, OpsError> {
    let api = node_groups(client);
    let group = node_group(&api, name).await?;
    let scaling = &group.data["spec"]["scalingConfig"];
    let min = min.or(scaling["minSize"].as_i64()).unwrap_or(0);
    let max = max.or(scaling["maxSize"].as_i64()).unwrap_or(nodes);
    if nodes < 0 || min < 0 {
        return Err(OpsError::Invalid(
            "number of nodes must be 0 or greater".into(),
        ));
    }
    if nodes > max {
        return Err(OpsError::Invalid(format!(
            "the desired nodes {nodes} is greater than current nodes-max/maxSize {max}"
        )));
    }
    if nodes < min {
        return Err(OpsError::Invalid(format!(
            "the desired nodes {nodes} is less than current nodes-min/minSize {min}"
        )));
    }
    let patch =
        json!({"spec": {"scalingConfig": {"desiredSize": nodes, "minSize": min, "maxSize": max}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let want = usize::try_from(nodes).unwrap_or(0);
    wait_for(
        timeout,
        &format!("node group {name} to have {nodes} Ready nodes"),
        || {
            let client = client.clone();
            let name = name.to_string();
            async move {
                let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client);
                let list = nodes
                    .list(
                        &ListParams::default()
                            .labels(&format!("{}={name}", eks::nodegroup::NODEGROUP_LABEL)),
                    )
                    .await?;
                let ready = list.items.iter().filter(|n| node_ready(n)).count();
                Ok((list.items.len() == want && ready == want).then_some(()))
            }
        },
    )
    .await?;
    Ok(format!("node group {name} scaled to {nodes} node(s)\n"))
}

/// Whether `node` reports the condition `Ready=True`.
pub fn node_ready(node: &k8s_openapi::api::core::v1::Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// `skiff nodegroup replace NAME`: raises the group's launch-template version, as a
/// launch-template change does, and waits until every node runs the new version; progress
/// lines go to `progress`.
pub async fn nodegroup_replace(
    client: &Client,
    name: &str,
    timeout: Duration,
    progress: &mut (dyn std::io::Write + Send),
) -> Result<String, OpsError> {
    let api = node_groups(client);
    let group = node_group(&api, name).await?;
    let version = group.data["spec"]["launchTemplateVersion"]
        .as_i64()
        .unwrap_or(1)
        + 1;
    let patch = json!({"spec": {"launchTemplateVersion": version}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let _ = writeln!(
        progress,
        "replacing the nodes of {name} with launch template version {version}"
    );
    let mut last = String::new();
    let mut seen_updating = false;
    let start = Instant::now();
    loop {
        let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
        let list = nodes
            .list(
                &ListParams::default()
                    .labels(&format!("{}={name}", eks::nodegroup::NODEGROUP_LABEL)),
            )
            .await?;
        let group = node_group(&api, name).await?;
        let desired = group.data["spec"]["scalingConfig"]["desiredSize"]
            .as_i64()
            .unwrap_or(0);
        if group.data["status"]["status"] == "UPDATING" {
            seen_updating = true;
        }
        // A failure of this update (not a stale one from before it began).
        if seen_updating && group.data["status"]["status"] == "DEGRADED" {
            let message = group.data["status"]["message"].as_str().unwrap_or_default();
            if let Some((code, message)) = message.split_once(": ") {
                return Err(OpsError::Aws {
                    code: code.to_string(),
                    operation: "UpdateNodegroupVersion",
                    message: message.to_string(),
                });
            }
        }
        let updated = list
            .items
            .iter()
            .filter(|n| {
                n.labels()
                    .get(eks::nodegroup::LAUNCH_TEMPLATE_VERSION_LABEL)
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(1)
                    >= version
                    && node_ready(n)
            })
            .count();
        let line = format!(
            "{updated}/{desired} nodes updated ({} nodes in the group)",
            list.items.len()
        );
        if line != last {
            let _ = writeln!(progress, "{line}");
            last = line;
        }
        if i64::try_from(updated).unwrap_or(0) >= desired
            && i64::try_from(list.items.len()).unwrap_or(0) == desired
        {
            return Ok(format!(
                "node group {name} replaced: {desired} node(s) on launch template version {version}\n"
            ));
        }
        if start.elapsed() > timeout {
            return Err(OpsError::Timeout(
                timeout,
                format!("node group {name} to be replaced"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
