//! Data-driven tests of the `aws` crate against the reference data in `../shared/data/aws`
//! (skipped, with a printed reason, where that folder is absent).

use std::collections::{BTreeMap, BTreeSet};

use aws::catalog::{Arch, Hypervisor, InstanceType, MaxPodsOptions, catalog, instance_types_json};
use serde_json::json;

/// The reference data folder, next to the repository.
const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/aws");

/// The rows of a reference CSV as column → value maps, or `None` (after saying why) when the
/// file is not there.
fn read_csv(name: &str) -> Option<Vec<BTreeMap<String, String>>> {
    let path = format!("{SHARED}/{name}");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("skipping: reference data {path} is not readable ({e})");
            return None;
        }
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    Some(
        lines
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let cells: Vec<&str> = line.split(',').collect();
                assert_eq!(cells.len(), header.len(), "{name}: {line}");
                header
                    .iter()
                    .zip(cells)
                    .map(|(h, c)| (h.to_string(), c.to_string()))
                    .collect()
            })
            .collect(),
    )
}

/// A number cell, `None` when empty.
fn num<T: std::str::FromStr>(row: &BTreeMap<String, String>, column: &str) -> Option<T> {
    let cell = &row[column];
    if cell.is_empty() {
        return None;
    }
    match cell.parse() {
        Ok(v) => Some(v),
        Err(_) => panic!("{}: {column} = {cell:?} is not a number", row["name"]),
    }
}

fn get(name: &str) -> &'static InstanceType {
    catalog()
        .get(name)
        .unwrap_or_else(|| panic!("{name} is not in the catalog"))
}

#[test]
fn the_catalog_holds_exactly_the_types_of_the_reference_table() {
    let Some(rows) = read_csv("instance-types.csv") else {
        return;
    };
    let reference: BTreeSet<&str> = rows.iter().map(|r| r["name"].as_str()).collect();
    let ours: BTreeSet<&str> = catalog().iter().map(|it| it.name.as_str()).collect();
    let missing: Vec<_> = reference.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&reference).collect();
    assert!(missing.is_empty(), "missing from the catalog: {missing:?}");
    assert!(extra.is_empty(), "not in the reference table: {extra:?}");
    assert_eq!(catalog().len(), 1391);
    assert_eq!(rows.len(), 1391);
}

#[test]
fn every_reference_row_agrees_with_the_catalog() {
    let Some(rows) = read_csv("instance-types.csv") else {
        return;
    };
    for row in &rows {
        let name = row["name"].as_str();
        let Some(it) = catalog().get(name) else {
            panic!("{name} is not in the catalog");
        };
        assert_eq!(it.family, row["family"], "{name} family");
        assert_eq!(it.vcpu, num(row, "vcpu"), "{name} vcpu");
        assert_eq!(it.memory_mib, num(row, "memory_mib"), "{name} memory");
        let arch = match row["architecture"].as_str() {
            "amd64" => Some(Arch::Amd64),
            "arm64" => Some(Arch::Arm64),
            "" => None,
            other => panic!("{name}: architecture {other}"),
        };
        assert_eq!(it.architecture, arch, "{name} architecture");
        assert_eq!(Some(it.max_enis), num(row, "max_enis"), "{name} ENIs");
        assert_eq!(
            Some(it.ipv4_per_eni),
            num(row, "ipv4_per_eni"),
            "{name} IPv4 per ENI"
        );
        assert_eq!(
            Some(it.eni_max_pods()),
            num(row, "max_pods"),
            "{name} eni-max-pods"
        );
        assert_eq!(
            Some(it.network_cards),
            num(row, "network_cards"),
            "{name} network cards"
        );
        assert_eq!(
            Some(it.max_enis_all_cards),
            num(row, "max_enis_all_cards"),
            "{name} ENIs over all cards"
        );
        let hypervisor = match row["hypervisor"].as_str() {
            "nitro" => Hypervisor::Nitro,
            "xen" => Hypervisor::Xen,
            "unknown" => Hypervisor::Unknown,
            other => panic!("{name}: hypervisor {other}"),
        };
        assert_eq!(it.hypervisor, hypervisor, "{name} hypervisor");
        assert_eq!(
            it.bare_metal,
            row["bare_metal"] == "true",
            "{name} bare metal"
        );
        assert_eq!(
            it.branch_enis,
            num(row, "branch_enis"),
            "{name} branch ENIs"
        );
        let price: Option<f64> = num(row, "on_demand_usd_per_hour");
        match (it.on_demand_price, price) {
            (Some(ours), Some(theirs)) => {
                assert!((ours - theirs).abs() < 1e-6, "{name} price {ours} {theirs}")
            }
            (ours, theirs) => assert_eq!(ours, theirs, "{name} price"),
        }
        assert_eq!(it.gpus, num(row, "gpu_count").unwrap_or(0), "{name} GPUs");
        let opt = |c: &str| Some(row[c].clone()).filter(|s| !s.is_empty());
        assert_eq!(
            it.gpu_manufacturer,
            opt("gpu_manufacturer"),
            "{name} GPU maker"
        );
        assert_eq!(it.gpu_name, opt("gpu_name"), "{name} GPU name");
        assert_eq!(
            it.gpu_memory_mib,
            num(row, "gpu_memory_mib").unwrap_or(0),
            "{name} GPU memory"
        );
    }
}

#[test]
fn every_max_pods_example_matches_the_calculator_in_every_mode() {
    let Some(rows) = read_csv("max-pods-examples.csv") else {
        return;
    };
    assert!(!rows.is_empty());
    let default = MaxPodsOptions::default();
    let modes: [(&str, MaxPodsOptions); 7] = [
        (
            "calc_secondary_ip_max_allowed",
            MaxPodsOptions {
                show_max_allowed: true,
                ..default
            },
        ),
        ("calc_secondary_ip_recommended", default),
        (
            "calc_custom_networking_max_allowed",
            MaxPodsOptions {
                custom_networking: true,
                show_max_allowed: true,
                ..default
            },
        ),
        (
            "calc_custom_networking_recommended",
            MaxPodsOptions {
                custom_networking: true,
                ..default
            },
        ),
        (
            "calc_prefix_delegation_max_allowed",
            MaxPodsOptions {
                prefix_delegation: true,
                show_max_allowed: true,
                ..default
            },
        ),
        (
            "calc_prefix_delegation_recommended",
            MaxPodsOptions {
                prefix_delegation: true,
                ..default
            },
        ),
        (
            "calc_pd_plus_custom_networking_recommended",
            MaxPodsOptions {
                prefix_delegation: true,
                custom_networking: true,
                ..default
            },
        ),
    ];
    for row in &rows {
        let name = row["instance_type"].as_str();
        let it = get(name);
        assert_eq!(it.vcpu, num(row, "vcpu"), "{name} vcpu");
        assert_eq!(
            it.hypervisor.as_str(),
            row["hypervisor"],
            "{name} hypervisor"
        );
        assert_eq!(Some(it.max_enis), num(row, "max_enis"), "{name} ENIs");
        assert_eq!(
            Some(it.ipv4_per_eni),
            num(row, "ipv4_per_eni"),
            "{name} IPs"
        );
        assert_eq!(
            Some(it.eni_max_pods()),
            num(row, "eni_max_pods_txt"),
            "{name} eni-max-pods.txt"
        );
        for (column, opts) in &modes {
            assert_eq!(Some(it.max_pods(opts)), num(row, column), "{name} {column}");
        }
    }
}

#[test]
fn an_m5_large_renders_29_eni_max_pods_and_29_20_110_recommended() {
    let json = instance_types_json([get("m5.large")]);
    assert_eq!(
        json,
        json!([{
            "name": "m5.large",
            "family": "m5",
            "vcpu": 2,
            "memoryMiB": 8192,
            "architecture": "amd64",
            "gpus": 0,
            "maxEnis": 3,
            "ipv4PerEni": 10,
            "hypervisor": "nitro",
            "bareMetal": false,
            "onDemandPrice": 0.096,
            "eniMaxPods": 29,
            "maxPods": {"secondaryIp": 29, "customNetworking": 20, "prefixDelegation": 110},
        }])
    );
}

#[test]
fn big_xen_and_bare_metal_types_render_their_ceilings_and_fallbacks() {
    let json =
        instance_types_json(["m5.24xlarge", "m4.xlarge", "m5.metal", "p5.48xlarge"].map(get));
    let max_pods = |i: usize| {
        (
            json[i]["eniMaxPods"].clone(),
            json[i]["maxPods"]["secondaryIp"].clone(),
            json[i]["maxPods"]["customNetworking"].clone(),
            json[i]["maxPods"]["prefixDelegation"].clone(),
        )
    };
    // m5.24xlarge: 737 in eni-max-pods.txt, 250 recommended in every mode.
    assert_eq!(
        max_pods(0),
        (json!(737), json!(250), json!(250), json!(250))
    );
    // m4.xlarge is Xen: prefix delegation does not apply.
    assert_eq!(max_pods(1), (json!(58), json!(58), json!(44), json!(58)));
    assert_eq!(json[1]["hypervisor"], "xen");
    // m5.metal reports no hypervisor: no prefix delegation either, but the 250 ceiling.
    assert_eq!(
        max_pods(2),
        (json!(737), json!(250), json!(250), json!(250))
    );
    assert_eq!(json[2]["bareMetal"], true);
    // p5.48xlarge: only the default card's 2 ENIs count.
    assert_eq!(max_pods(3), (json!(100), json!(100), json!(51), json!(250)));
}
