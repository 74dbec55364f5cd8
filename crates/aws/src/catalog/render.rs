//! What `skiff instance-types` prints: the catalog as JSON (`-o json`) or as a kubectl-style
//! table, with the max pods the EKS AMI's calculator recommends in each VPC CNI mode.

use serde_json::{Value, json};

use super::{InstanceType, MaxPodsOptions};

/// The max pods the calculator recommends (ceilings included, CNI 1.20) in its three modes:
/// secondary IPs, custom networking, prefix delegation.
fn recommended_max_pods(it: &InstanceType) -> (u32, u32, u32) {
    let default = MaxPodsOptions::default();
    let custom = MaxPodsOptions {
        custom_networking: true,
        ..default
    };
    let prefix = MaxPodsOptions {
        prefix_delegation: true,
        ..default
    };
    (
        it.max_pods(&default),
        it.max_pods(&custom),
        it.max_pods(&prefix),
    )
}

/// The instance types as a JSON array, one object per type: `name`, `family`, `vcpu`,
/// `memoryMiB`, `architecture` (`amd64`/`arm64`), `gpus`, `maxEnis`, `ipv4PerEni`,
/// `hypervisor`, `bareMetal`, `onDemandPrice` (USD per hour, us-east-1), `eniMaxPods` (the
/// `eni-max-pods.txt` figure) and `maxPods` `{secondaryIp, customNetworking,
/// prefixDelegation}`: what the max-pods calculator recommends in each mode. Unknown facts
/// are `null`.
pub fn instance_types_json<'a>(types: impl IntoIterator<Item = &'a InstanceType>) -> Value {
    Value::Array(
        types
            .into_iter()
            .map(|it| {
                let (secondary, custom, prefix) = recommended_max_pods(it);
                json!({
                    "name": it.name,
                    "family": it.family,
                    "vcpu": it.vcpu,
                    "memoryMiB": it.memory_mib,
                    "architecture": it.architecture.map(|a| a.as_str()),
                    "gpus": it.gpus,
                    "maxEnis": it.max_enis,
                    "ipv4PerEni": it.ipv4_per_eni,
                    "hypervisor": it.hypervisor.as_str(),
                    "bareMetal": it.bare_metal,
                    "onDemandPrice": it.on_demand_price,
                    "eniMaxPods": it.eni_max_pods(),
                    "maxPods": {
                        "secondaryIp": secondary,
                        "customNetworking": custom,
                        "prefixDelegation": prefix,
                    },
                })
            })
            .collect(),
    )
}

/// The text kubectl prints for a value it does not know.
const UNKNOWN: &str = "<unknown>";

/// The instance types as a kubectl-style table: `NAME VCPU MEMORY(MiB) ARCH GPUS ENIS
/// IPS/ENI MAX-PODS PD-MAX-PODS PRICE($/h)`, columns left-aligned and three spaces apart.
/// MAX-PODS is the `eni-max-pods.txt` figure nodeadm gives the kubelet; PD-MAX-PODS is what the
/// calculator recommends with prefix delegation; the price has four decimals (`0.0960`).
pub fn instance_types_table<'a>(types: impl IntoIterator<Item = &'a InstanceType>) -> String {
    let header = [
        "NAME",
        "VCPU",
        "MEMORY(MiB)",
        "ARCH",
        "GPUS",
        "ENIS",
        "IPS/ENI",
        "MAX-PODS",
        "PD-MAX-PODS",
        "PRICE($/h)",
    ]
    .map(String::from);
    let known = |v: Option<String>| v.unwrap_or_else(|| UNKNOWN.to_string());
    let mut rows = vec![header.to_vec()];
    rows.extend(types.into_iter().map(|it| {
        let (_, _, prefix) = recommended_max_pods(it);
        vec![
            it.name.clone(),
            known(it.vcpu.map(|v| v.to_string())),
            known(it.memory_mib.map(|m| m.to_string())),
            known(it.architecture.map(|a| a.as_str().to_string())),
            it.gpus.to_string(),
            it.max_enis.to_string(),
            it.ipv4_per_eni.to_string(),
            it.eni_max_pods().to_string(),
            prefix.to_string(),
            known(it.on_demand_price.map(|p| format!("{p:.4}"))),
        ]
    }));
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::catalog;

    #[test]
    fn the_table_lines_up_under_kubectl_style_headers() {
        let types = ["m5.large", "c5a.metal"].map(|n| catalog().get(n));
        let table = instance_types_table(types.into_iter().flatten());
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("NAME        VCPU"), "{table}");
        assert!(lines[0].ends_with("PRICE($/h)"), "{table}");
        let m5: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            m5,
            [
                "m5.large", "2", "8192", "amd64", "0", "3", "10", "29", "110", "0.0960"
            ]
        );
        assert!(lines[2].contains("<unknown>"), "{table}");
        let price_col = lines[0].find("PRICE").unwrap_or(0);
        assert_eq!(lines[1].find("0.0960"), Some(price_col), "{table}");
    }

    #[test]
    fn the_json_has_nulls_for_unknown_facts() {
        let it = catalog().get("c5a.metal");
        let json = instance_types_json(it);
        assert_eq!(json[0]["vcpu"], Value::Null);
        assert_eq!(json[0]["onDemandPrice"], Value::Null);
        assert_eq!(json[0]["hypervisor"], "unknown");
        assert_eq!(json[0]["eniMaxPods"], 737);
    }
}
