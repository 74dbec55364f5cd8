//! Data-driven tests of the eks crate: ClusterConfig files in `tests/fixtures` (written for
//! skiff in the style of eksctl's examples) load into the expected clusters and warnings, and
//! the files in `tests/fixtures/invalid` fail naming the expected fields.

use std::collections::BTreeMap;

use eks::config::{
    self, Cluster, ConfigError, NatGateway, ResolvedNodeGroup, ResolvedSubnet, TaintEffect, Warning,
};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn load(name: &str) -> (Cluster, Vec<Warning>) {
    config::load(&fixture(name), 1).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn load_err(name: &str) -> ConfigError {
    match config::load(&fixture(&format!("invalid/{name}")), 1) {
        Ok((cluster, _)) => panic!("{name}: expected an error, got {cluster:#?}"),
        Err(e) => e,
    }
}

fn subnet<'a>(cluster: &'a Cluster, name: &str) -> &'a ResolvedSubnet {
    cluster
        .vpc
        .subnets
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no subnet {name} in {:#?}", cluster.vpc.subnets))
}

fn node_group<'a>(cluster: &'a Cluster, name: &str) -> &'a ResolvedNodeGroup {
    cluster
        .node_groups
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no node group {name}"))
}

fn warned_paths(warnings: &[Warning]) -> Vec<&str> {
    warnings.iter().map(|w| w.path.as_str()).collect()
}

fn subnet_layout(cluster: &Cluster) -> Vec<(String, String, String, bool)> {
    cluster
        .vpc
        .subnets
        .iter()
        .map(|s| (s.name.clone(), s.az.clone(), s.cidr.to_string(), s.public))
        .collect()
}

fn row(name: &str, az: &str, cidr: &str, public: bool) -> (String, String, String, bool) {
    (name.into(), az.into(), cidr.into(), public)
}

// ---------------------------------------------------------------------------------------------
// Valid files
// ---------------------------------------------------------------------------------------------

#[test]
fn a_simple_cluster_gets_three_zones_and_eksctls_slash_19_subnets() {
    let (cluster, warnings) = load("simple-cluster.yaml");
    assert_eq!(cluster.name, "tiny");
    assert_eq!(cluster.region, "eu-north-1");
    assert_eq!(cluster.version, config::DEFAULT_VERSION);
    assert_eq!(
        cluster.availability_zones,
        ["eu-north-1a", "eu-north-1b", "eu-north-1c"]
    );
    assert_eq!(cluster.vpc.cidr.to_string(), "192.168.0.0/16");
    assert_eq!(cluster.vpc.nat, NatGateway::Single);
    assert_eq!(
        subnet_layout(&cluster),
        [
            row(
                "SubnetPublicEUNORTH1A",
                "eu-north-1a",
                "192.168.0.0/19",
                true
            ),
            row(
                "SubnetPublicEUNORTH1B",
                "eu-north-1b",
                "192.168.32.0/19",
                true
            ),
            row(
                "SubnetPublicEUNORTH1C",
                "eu-north-1c",
                "192.168.64.0/19",
                true
            ),
            row(
                "SubnetPrivateEUNORTH1A",
                "eu-north-1a",
                "192.168.96.0/19",
                false
            ),
            row(
                "SubnetPrivateEUNORTH1B",
                "eu-north-1b",
                "192.168.128.0/19",
                false
            ),
            row(
                "SubnetPrivateEUNORTH1C",
                "eu-north-1c",
                "192.168.160.0/19",
                false
            ),
        ]
    );
    let ng = node_group(&cluster, "workers");
    assert!(!ng.managed);
    assert_eq!(ng.instance_types, ["t3.large"]);
    assert_eq!((ng.desired, ng.min, ng.max), (1, 1, 1));
    assert_eq!(ng.volume_gib, 80);
    assert_eq!(ng.ami_family, "AmazonLinux2023");
    assert!(!ng.private_networking);
    assert_eq!(
        ng.subnets,
        [
            "SubnetPublicEUNORTH1A",
            "SubnetPublicEUNORTH1B",
            "SubnetPublicEUNORTH1C"
        ]
    );
    assert_eq!(ng.azs, cluster.availability_zones);
    assert_eq!(
        ng.labels
            .get("alpha.eksctl.io/nodegroup-name")
            .map(String::as_str),
        Some("workers")
    );
    let addons: Vec<&str> = cluster.addons.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(addons, ["vpc-cni", "coredns", "kube-proxy"]);
    assert_eq!(warned_paths(&warnings), ["cloudWatch"]);
}

#[test]
fn the_same_cluster_written_as_json_loads_the_same() {
    let (from_yaml, yaml_warnings) = load("simple-cluster.yaml");
    let (from_json, json_warnings) = load("simple-cluster.json");
    assert_eq!(from_yaml, from_json);
    assert_eq!(yaml_warnings, json_warnings);
}

#[test]
fn advanced_self_managed_groups_resolve_zones_taints_and_mixed_types() {
    let (cluster, warnings) = load("advanced-nodegroups.yaml");
    assert_eq!(cluster.version, "1.31");
    assert_eq!(
        cluster.tags.get("team").map(String::as_str),
        Some("payments")
    );

    let web = node_group(&cluster, "web");
    assert_eq!((web.desired, web.min, web.max), (2, 2, 6), "desired = min");
    assert_eq!(web.volume_gib, 120);
    assert_eq!(web.subnets.len(), 3);
    assert!(web.subnets.iter().all(|s| s.starts_with("SubnetPublic")));

    let batch = node_group(&cluster, "batch");
    assert_eq!((batch.desired, batch.min, batch.max), (3, 3, 3));
    assert!(batch.private_networking);
    assert!(batch.subnets.iter().all(|s| s.starts_with("SubnetPrivate")));
    assert_eq!(batch.taints.len(), 1);
    assert_eq!(batch.taints[0].key, "dedicated");
    assert_eq!(batch.taints[0].value, "batch");
    assert_eq!(batch.taints[0].effect, TaintEffect::NoSchedule);

    let analytics = node_group(&cluster, "analytics");
    assert_eq!(analytics.instance_types, ["m5.2xlarge", "m5a.2xlarge"]);
    assert_eq!(analytics.azs, ["eu-west-2b"]);
    assert_eq!(analytics.subnets, ["SubnetPrivateEUWEST2B"]);
    assert_eq!(
        subnet(&cluster, "SubnetPrivateEUWEST2B").cidr.to_string(),
        "192.168.128.0/19"
    );
    assert_eq!(analytics.max_pods_per_node, Some(50));
    assert_eq!(analytics.taints[0].effect, TaintEffect::NoExecute);

    assert_eq!(
        warned_paths(&warnings),
        [
            "nodeGroups[0].volumeType",
            "nodeGroups[0].iam",
            "nodeGroups[1].preBootstrapCommands",
            "nodeGroups[2].instancesDistribution.onDemandBaseCapacity",
        ]
    );
}

#[test]
fn managed_groups_keep_their_sizes_zones_and_spot_and_warn_about_the_rest() {
    let (cluster, warnings) = load("managed-nodes.yaml");
    let general = node_group(&cluster, "general");
    assert!(general.managed);
    assert_eq!((general.desired, general.min, general.max), (3, 1, 5));
    assert_eq!(general.volume_gib, 50);
    assert_eq!(general.azs, ["us-west-2a", "us-west-2b"]);
    assert_eq!(
        general.subnets,
        ["SubnetPublicUSWEST2A", "SubnetPublicUSWEST2B"]
    );
    let taints: Vec<(&str, &str, TaintEffect)> = general
        .taints
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str(), t.effect))
        .collect();
    assert_eq!(
        taints,
        [
            ("example.com/general", "yes", TaintEffect::PreferNoSchedule),
            ("example.com/drain", "", TaintEffect::NoExecute),
        ]
    );
    assert_eq!(
        general.tags.get("cost-center").map(String::as_str),
        Some("1234")
    );

    let spot = node_group(&cluster, "private-spot");
    assert!(spot.spot);
    assert_eq!(spot.instance_types, ["c5.large", "c5a.large", "c6i.large"]);
    assert_eq!((spot.desired, spot.min, spot.max), (2, 2, 2));
    assert_eq!(spot.ami_family, "Bottlerocket");
    assert_eq!(spot.subnets.len(), 3);
    assert!(spot.subnets.iter().all(|s| s.starts_with("SubnetPrivate")));

    let templated = node_group(&cluster, "from-template");
    assert_eq!(templated.instance_types, ["m5.large"]);

    assert_eq!(
        warned_paths(&warnings),
        [
            "managedNodeGroups[0].updateConfig",
            "managedNodeGroups[0].ssh",
            "managedNodeGroups[0].iam",
            "managedNodeGroups[2].launchTemplate",
        ]
    );
    assert!(
        warnings[1].message.contains("SSH"),
        "{}",
        warnings[1].message
    );
}

#[test]
fn fargate_profiles_run_in_the_private_subnets() {
    let (cluster, warnings) = load("fargate-profiles.yaml");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(cluster.fargate_profiles.len(), 2);
    let default = &cluster.fargate_profiles[0];
    assert_eq!(default.name, "fp-default");
    assert_eq!(
        default.selectors,
        [
            ("default".to_string(), BTreeMap::new()),
            (
                "kube-system".to_string(),
                BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())])
            ),
        ]
    );
    assert_eq!(
        default.subnets,
        [
            "SubnetPrivateAPSOUTHEAST1A",
            "SubnetPrivateAPSOUTHEAST1B",
            "SubnetPrivateAPSOUTHEAST1C"
        ]
    );
    let jobs = &cluster.fargate_profiles[1];
    assert_eq!(jobs.subnets, ["SubnetPrivateAPSOUTHEAST1A"]);
    assert_eq!(jobs.selectors[0].0, "jobs-*");
    assert_eq!(jobs.selectors[0].1.len(), 2);
    assert_eq!(
        jobs.pod_execution_role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/fargate-pods")
    );
    let system = node_group(&cluster, "system");
    assert_eq!((system.desired, system.min, system.max), (1, 1, 1));
}

#[test]
fn named_subnets_keep_their_zones_cidrs_and_ids() {
    let (cluster, warnings) = load("custom-subnets.yaml");
    assert_eq!(cluster.vpc.id.as_deref(), Some("vpc-0a1b2c3d4e5f60718"));
    assert_eq!(cluster.vpc.cidr.to_string(), "10.20.0.0/16");
    assert_eq!(cluster.vpc.nat, NatGateway::HighlyAvailable);
    assert_eq!(
        cluster.availability_zones,
        ["us-east-2a", "us-east-2b", "us-east-2c"]
    );
    assert_eq!(
        subnet_layout(&cluster),
        [
            row("SubnetPublicEDGEA", "us-east-2a", "10.20.0.0/24", true),
            row("SubnetPublicEDGEB", "us-east-2b", "10.20.1.0/24", true),
            row("SubnetPrivateAPPSA", "us-east-2a", "10.20.64.0/20", false),
            row("SubnetPrivateAPPSB", "us-east-2b", "10.20.80.0/20", false),
            row("SubnetPrivateAPPSC", "us-east-2c", "10.20.96.0/20", false),
        ]
    );
    assert_eq!(
        subnet(&cluster, "SubnetPrivateAPPSA").id.as_deref(),
        Some("subnet-0aaaaaaaaaaaaaaaa")
    );
    let apps = node_group(&cluster, "apps");
    assert_eq!(apps.subnets, ["SubnetPrivateAPPSA", "SubnetPrivateAPPSC"]);
    assert_eq!(apps.azs, ["us-east-2a", "us-east-2c"]);
    let edge = node_group(&cluster, "edge");
    assert_eq!(edge.subnets, ["SubnetPublicEDGEB"]);
    assert_eq!(warned_paths(&warnings), ["vpc.clusterEndpoints"]);
}

#[test]
fn the_issues_cluster_puts_four_m5_4xlarge_in_two_slash_26_private_subnets() {
    let (cluster, warnings) = load("ip-exhaustion.yaml");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(cluster.region, "us-east-1");
    assert_eq!(cluster.version, "1.33");
    assert_eq!(cluster.vpc.cidr.to_string(), "10.0.0.0/16");
    assert_eq!(
        subnet_layout(&cluster),
        [
            row("SubnetPrivateUSEAST1A", "us-east-1a", "10.0.0.0/26", false),
            row("SubnetPrivateUSEAST1B", "us-east-1b", "10.0.0.64/26", false),
        ]
    );
    assert_eq!(cluster.node_groups.len(), 1);
    let big = &cluster.node_groups[0];
    assert_eq!(big.name, "big");
    assert!(big.managed);
    assert_eq!(big.instance_types, ["m5.4xlarge"]);
    assert_eq!((big.desired, big.min, big.max), (4, 4, 4));
    assert!(big.private_networking);
    assert_eq!(
        big.subnets,
        ["SubnetPrivateUSEAST1A", "SubnetPrivateUSEAST1B"]
    );
    assert_eq!(big.azs, ["us-east-1a", "us-east-1b"]);
    assert!(cluster.vpc_cni_env.is_empty());
}

#[test]
fn the_vpc_cni_environment_comes_from_its_configuration_values() {
    let (cluster, warnings) = load("addons.yaml");
    assert!(cluster.with_oidc);
    assert_eq!(
        cluster.vpc_cni_env,
        BTreeMap::from([
            ("ENABLE_PREFIX_DELEGATION".to_string(), "true".to_string()),
            ("WARM_IP_TARGET".to_string(), "5".to_string()),
        ])
    );
    let addons: Vec<(&str, Option<&str>)> = cluster
        .addons
        .iter()
        .map(|a| (a.name.as_str(), a.version.as_deref()))
        .collect();
    assert_eq!(
        addons,
        [
            ("vpc-cni", Some("v1.20.1-eksbuild.3")),
            ("coredns", None),
            ("kube-proxy", None),
        ]
    );
    assert_eq!(
        cluster.addons[0].resolve_conflicts.as_deref(),
        Some("overwrite")
    );
    assert_eq!(
        cluster.addons[1]
            .configuration_values
            .as_ref()
            .and_then(|v| v.get("replicaCount"))
            .and_then(|v| v.as_i64()),
        Some(3)
    );
    assert_eq!(
        warned_paths(&warnings),
        ["addons[2].wellKnownPolicies", "addons[2]"]
    );
}

#[test]
fn the_default_cluster_is_what_eksctl_create_cluster_makes_without_flags() {
    let config = config::default_cluster("us-west-2", 42);
    let (cluster, warnings) = config::resolve(&config, 42).unwrap_or_else(|e| panic!("{e}"));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(cluster.version, "1.33");
    assert_eq!(
        cluster.availability_zones,
        ["us-west-2a", "us-west-2b", "us-west-2c"]
    );
    let cidrs: Vec<String> = cluster
        .vpc
        .subnets
        .iter()
        .map(|s| s.cidr.to_string())
        .collect();
    assert_eq!(
        cidrs,
        [
            "192.168.0.0/19",
            "192.168.32.0/19",
            "192.168.64.0/19",
            "192.168.96.0/19",
            "192.168.128.0/19",
            "192.168.160.0/19"
        ]
    );
    assert_eq!(cluster.node_groups.len(), 1);
    let ng = &cluster.node_groups[0];
    assert_eq!(ng.name, config::node_group_name(42));
    assert!(ng.managed);
    assert_eq!(ng.instance_types, ["m5.large"]);
    assert_eq!((ng.desired, ng.min, ng.max), (2, 2, 2));
    assert!(!ng.private_networking);
    assert!(ng.subnets.iter().all(|s| s.starts_with("SubnetPublic")));
    assert_eq!(cluster.addons.len(), 3);

    let east = config::default_cluster("us-east-1", 42);
    assert_eq!(east.availability_zones, ["us-east-1a", "us-east-1b"]);
    assert_ne!(
        config::default_cluster("us-west-2", 43)
            .metadata
            .map(|m| m.name),
        config.metadata.map(|m| m.name)
    );
}

#[test]
fn the_default_cluster_written_out_as_yaml_loads_back() {
    let config = config::default_cluster("eu-west-1", 7);
    let yaml = serde_saphyr::to_string(&config).unwrap_or_else(|e| panic!("{e}"));
    let (parsed, warnings) = config::parse(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(parsed, config);
}

// ---------------------------------------------------------------------------------------------
// Invalid files
// ---------------------------------------------------------------------------------------------

/// Each invalid file with the errors it must produce: (path, a fragment of the message).
fn invalid_cases() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        (
            "old-api-version.yaml",
            vec![(
                "apiVersion",
                "no kind \"ClusterConfig\" is registered for version \"eksctl.io/v1alpha4\"",
            )],
        ),
        (
            "wrong-kind.yaml",
            vec![("kind", "no kind \"NodeGroupConfig\" is registered")],
        ),
        (
            "unknown-field.yaml",
            vec![(
                "managedNodeGroups[0].desiredCapcity",
                "error unmarshaling JSON: while decoding JSON: json: unknown field \"desiredCapcity\"",
            )],
        ),
        (
            "missing-metadata.yaml",
            vec![
                ("metadata.name", "metadata.name must be set"),
                ("metadata.region", "metadata.region must be set"),
            ],
        ),
        (
            "bad-cluster-name.yaml",
            vec![(
                "metadata.name",
                "validation for my_cluster failed, name must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*",
            )],
        ),
        (
            "retired-version.yaml",
            vec![(
                "metadata.version",
                "invalid version, 1.27 is no longer supported, supported values: 1.28, 1.29, 1.30, 1.31, 1.32, 1.33, 1.34",
            )],
        ),
        (
            "unknown-version.yaml",
            vec![(
                "metadata.version",
                "invalid version, supported values: 1.28, 1.29, 1.30, 1.31, 1.32, 1.33, 1.34",
            )],
        ),
        (
            "unquoted-version.yaml",
            vec![("metadata.version", "quote it")],
        ),
        (
            "bad-sizes.yaml",
            vec![
                (
                    "managedNodeGroups[0].desiredCapacity",
                    "cannot use --nodes-min=3 and --nodes=2 at the same time",
                ),
                (
                    "managedNodeGroups[1].desiredCapacity",
                    "cannot use --nodes-max=3 and --nodes=5 at the same time",
                ),
                (
                    "nodeGroups[0].maxSize",
                    "--nodes-min value (4) cannot be greater than --nodes-max value (2)",
                ),
            ],
        ),
        (
            "bad-vpc-cidr.yaml",
            vec![("vpc.cidr", "invalid CIDR address: 10.0.0.0/33")],
        ),
        (
            "subnet-outside-vpc.yaml",
            vec![(
                "vpc.subnets.private.us-east-1b.cidr",
                "The CIDR '10.1.0.0/24' is invalid.",
            )],
        ),
        (
            "overlapping-subnets.yaml",
            vec![(
                "vpc.subnets.private.us-east-1b.cidr",
                "The CIDR '10.0.0.128/25' conflicts with another subnet",
            )],
        ),
        (
            "zone-not-in-region.yaml",
            vec![(
                "availabilityZones[1]",
                "Value (eu-west-1b) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: us-east-1a,",
            )],
        ),
        (
            "one-zone.yaml",
            vec![(
                "availabilityZones",
                "only 1 zone(s) specified [us-west-2a], 2 are required (can be non-unique)",
            )],
        ),
        (
            "duplicate-nodegroup-names.yaml",
            vec![(
                "managedNodeGroups[0].name",
                "managedNodeGroups[0].name \"workers\" is not unique",
            )],
        ),
        (
            "bad-taint-effect.yaml",
            vec![(
                "managedNodeGroups[0].taints[0].effect",
                "invalid taint effect: NoScheduleAtAll, unsupported taint effect. Valid taint effects are: NoSchedule, NoExecute and PreferNoSchedule",
            )],
        ),
        (
            "managed-taints-as-map.yaml",
            vec![(
                "managedNodeGroups[0].taints",
                "json: cannot unmarshal object into Go value of type []v1alpha5.NodeGroupTaint",
            )],
        ),
        (
            "bad-fargate-profiles.yaml",
            vec![
                (
                    "fargateProfiles[0].selectors",
                    "invalid Fargate profile \"empty\": no profile selector",
                ),
                ("fargateProfiles[1].selectors", "at most 5 selectors, got 6"),
                (
                    "fargateProfiles[2].selectors[0].namespace",
                    "invalid Fargate profile \"nameless-selector\": invalid profile selector at index #0: empty namespace",
                ),
            ],
        ),
        (
            "wrong-types.yaml",
            vec![
                (
                    "managedNodeGroups[0].desiredCapacity",
                    "json: cannot unmarshal string into Go value of type int",
                ),
                (
                    "managedNodeGroups[0].privateNetworking",
                    "json: cannot unmarshal string into Go value of type bool",
                ),
            ],
        ),
        (
            "subnets-and-zones.yaml",
            vec![(
                "availabilityZones",
                "vpc.subnets and availabilityZones cannot be set at the same time",
            )],
        ),
        (
            "nodegroup-subnets.yaml",
            vec![
                (
                    "managedNodeGroups[0].subnets[0]",
                    "subnet apps-a is specified as private in ClusterConfig, thus must only be used when `privateNetworking` is enabled",
                ),
                (
                    "managedNodeGroups[1].availabilityZones[0]",
                    "could not find private subnets for zones [\"us-east-2c\"]",
                ),
            ],
        ),
        (
            "bad-ami-family.yaml",
            vec![
                (
                    "managedNodeGroups[0].amiFamily",
                    "AmazonLinux2 is not supported for Kubernetes version 1.33",
                ),
                (
                    "nodeGroups[0].amiFamily",
                    "AMI Family CentOS7 is not supported - use one of: AmazonLinux2023, AmazonLinux2, ",
                ),
            ],
        ),
        (
            "bad-labels.yaml",
            vec![
                (
                    "managedNodeGroups[0].labels",
                    "the following nodegroup labels are disallowed as they have reserved prefixes [kubernetes.io/, k8s.io/]: [kubernetes.io/role]",
                ),
                (
                    "managedNodeGroups[1].labels",
                    "label \"bad key!\" is invalid - [name part must consist of alphanumeric characters",
                ),
            ],
        ),
        (
            "bad-addon-configuration.yaml",
            vec![
                (
                    "addons[0].configurationValues",
                    "[$.env.WARM_IP_TARGET: integer found, string expected]",
                ),
                (
                    "addons[1].configurationValues",
                    "invalid configuration for \"coredns\" addon: configurationValues: \"{not json: [}\" is not valid, supported format(s) are: JSON and YAML",
                ),
            ],
        ),
    ]
}

#[test]
fn every_invalid_file_fails_naming_the_field() {
    let mut failures = Vec::new();
    for (file, expected) in invalid_cases() {
        let err = load_err(file);
        for (path, fragment) in &expected {
            match err.at(path) {
                Some(found) if found.message.contains(fragment) => {}
                Some(found) => failures.push(format!(
                    "{file}: {path}: message {:?} lacks {fragment:?}",
                    found.message
                )),
                None => failures.push(format!("{file}: no error at {path}; got:\n{err}")),
            }
        }
        if err.errors.len() != expected.len() {
            failures.push(format!(
                "{file}: expected {} error(s), got:\n{err}",
                expected.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_error_lists_every_problem_one_per_line() {
    let err = load_err("bad-sizes.yaml");
    let text = err.to_string();
    assert!(
        text.starts_with("invalid ClusterConfig (3 errors):"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(
        text.contains("\n  managedNodeGroups[1].desiredCapacity: cannot use"),
        "{text}"
    );
}

#[test]
fn a_private_group_given_a_public_subnet_is_warned_not_refused() {
    let text = fixture("custom-subnets.yaml").replace(
        "subnets: [\"apps-a\", \"subnet-0aaaaaaaaaaaaaaaa\", \"apps-c\"]",
        "subnets: [\"apps-a\", \"edge-b\"]",
    );
    let (cluster, warnings) = config::load(&text, 1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        node_group(&cluster, "apps").subnets,
        ["SubnetPrivateAPPSA", "SubnetPublicEDGEB"]
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.path == "managedNodeGroups[0].subnets[1]"
                && w.message.contains(
                    "public subnet edge-b is being used with `privateNetworking` enabled"
                )),
        "{warnings:?}"
    );
}

#[test]
fn an_empty_file_and_a_list_are_refused() {
    let empty = config::load("", 1).err().map(|e| e.to_string());
    assert_eq!(
        empty.as_deref(),
        Some("invalid ClusterConfig (1 error):\n  metadata must be set")
    );
    let list = config::load("- a\n- b\n", 1).err().map(|e| e.errors);
    assert!(
        list.is_some_and(|errors| errors[0].message.contains("cannot unmarshal non-object")),
        "a list is not a ClusterConfig"
    );
}

#[test]
fn a_yaml_flow_mapping_is_read_as_yaml() {
    let text = "{apiVersion: eksctl.io/v1alpha5, kind: ClusterConfig, metadata: {name: flow, region: us-west-2}}";
    let (cluster, _) = config::load(text, 1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cluster.name, "flow");
}

#[test]
fn a_typo_inside_a_section_skiff_ignores_is_still_an_error() {
    let text = fixture("simple-cluster.yaml").replace("clusterLogging:", "clusterLoging:");
    let err = config::load(&text, 1)
        .err()
        .unwrap_or_else(|| panic!("loaded"));
    assert_eq!(
        err.at("cloudWatch.clusterLoging")
            .map(|e| e.message.as_str()),
        Some("error unmarshaling JSON: while decoding JSON: json: unknown field \"clusterLoging\"")
    );
}
