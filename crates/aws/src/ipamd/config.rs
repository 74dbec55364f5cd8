//! ipamd's configuration: the `aws-node` container's environment variables, read as
//! upstream reads them (`pkg/ipamd/ipamd.go` getters, `pkg/eniconfig`), with the defaults of
//! the VPC CNI manifest (`config/master/aws-k8s-cni.yaml`) for variables left out.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::vpc::SubnetId;

/// The default node label (and annotation) naming a node's ENIConfig.
pub const DEFAULT_ENI_CONFIG_LABEL: &str = "k8s.amazonaws.com/eniConfig";

/// The ENIConfig resolved for the node under custom networking: the subnet new ENIs go in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomNetwork {
    /// The ENIConfig's `spec.subnet` (in the node's availability zone).
    pub subnet: SubnetId,
}

/// ipamd's settings, one per `aws-node` environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpamdConfig {
    /// `WARM_ENI_TARGET` (manifest 1): free ENIs' worth of addresses to keep; ignored when
    /// `WARM_IP_TARGET` or `MINIMUM_IP_TARGET` is set, and with prefix delegation.
    pub warm_eni_target: u32,
    /// `WARM_IP_TARGET`: free addresses to keep; `None` when unset or ≤ 0.
    pub warm_ip_target: Option<u32>,
    /// `MINIMUM_IP_TARGET`: least total addresses; `None` when unset or ≤ 0.
    pub minimum_ip_target: Option<u32>,
    /// `WARM_PREFIX_TARGET` (manifest 1): free `/28` prefixes to keep with prefix delegation.
    pub warm_prefix_target: u32,
    /// `MAX_ENI`: a cap on ENIs below the instance's limit; `None` when unset or < 1.
    pub max_eni: Option<u32>,
    /// `ENABLE_PREFIX_DELEGATION` (manifest false): `/28` prefixes instead of secondary IPs
    /// (on Nitro instances only; elsewhere ipamd falls back to secondary IPs).
    pub prefix_delegation: bool,
    /// `AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG` (manifest false): pods get addresses from ENIs in
    /// the node's ENIConfig subnet; the primary ENI gets no new addresses.
    pub custom_network_cfg: bool,
    /// The node's ENIConfig, which the caller resolves (see `eni_config_label_def`); with
    /// `custom_network_cfg` on and this `None`, ipamd cannot create ENIs.
    pub custom_networking: Option<CustomNetwork>,
    /// `ENI_CONFIG_LABEL_DEF`: the node label naming its ENIConfig.
    pub eni_config_label_def: String,
    /// `ENI_CONFIG_ANNOTATION_DEF`: the node annotation naming its ENIConfig (it wins over
    /// the label).
    pub eni_config_annotation_def: String,
    /// `ENABLE_SUBNET_DISCOVERY` (manifest true): only its effect on a failed address request
    /// is modelled (ipamd moves on to ENI creation instead of stopping); no subnets tagged
    /// `kubernetes.io/role/cni` are searched.
    pub subnet_discovery: bool,
    /// `IP_COOLDOWN_PERIOD` (default 30 s): how long a released pod address rests before
    /// another pod gets it.
    pub ip_cooldown_period: Duration,
}

impl Default for IpamdConfig {
    fn default() -> IpamdConfig {
        IpamdConfig {
            warm_eni_target: 1,
            warm_ip_target: None,
            minimum_ip_target: None,
            warm_prefix_target: 1,
            max_eni: None,
            prefix_delegation: false,
            custom_network_cfg: false,
            custom_networking: None,
            eni_config_label_def: DEFAULT_ENI_CONFIG_LABEL.to_string(),
            eni_config_annotation_def: DEFAULT_ENI_CONFIG_LABEL.to_string(),
            subnet_discovery: true,
            ip_cooldown_period: Duration::from_secs(30),
        }
    }
}

impl IpamdConfig {
    /// Reads the `aws-node` environment. Values upstream cannot parse fall back as upstream
    /// does (to the code's default, which for `WARM_PREFIX_TARGET` is 0); variables left out
    /// take the manifest's values. Errs only for IPv6 mode, which this model does not
    /// simulate.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<IpamdConfig, String> {
        let get = |k: &str| env.get(k).map(String::as_str);
        if go_bool(get("ENABLE_IPv6"), false) {
            return Err("ENABLE_IPv6=true: IPv6 clusters are not simulated".to_string());
        }
        if !go_bool(get("ENABLE_IPv4"), true) {
            return Err("ENABLE_IPv4=false: IPv4 and IPv6 are both disabled. One of them have to be enabled".to_string());
        }
        let non_negative = |k: &str| get(k).and_then(go_atoi).filter(|v| *v >= 0);
        let warm_eni_target = match get("WARM_ENI_TARGET") {
            None => 1,
            Some(v) => go_atoi(v).filter(|v| *v >= 0).map_or(1, clamp_u32),
        };
        let warm_prefix_target = match get("WARM_PREFIX_TARGET") {
            None => 1,
            Some(v) => go_atoi(v).filter(|v| *v >= 0).map_or(0, clamp_u32),
        };
        let positive = |k: &str| non_negative(k).filter(|v| *v > 0).map(clamp_u32);
        let ip_cooldown_period = match get("IP_COOLDOWN_PERIOD") {
            None => Duration::from_secs(30),
            Some(v) => go_atoi(v).map_or(Duration::from_secs(30), |s| {
                Duration::from_secs(u64::try_from(s).unwrap_or(0))
            }),
        };
        Ok(IpamdConfig {
            warm_eni_target,
            warm_ip_target: positive("WARM_IP_TARGET"),
            minimum_ip_target: positive("MINIMUM_IP_TARGET"),
            warm_prefix_target,
            max_eni: get("MAX_ENI")
                .and_then(go_atoi)
                .filter(|v| *v >= 1)
                .map(clamp_u32),
            prefix_delegation: go_bool(get("ENABLE_PREFIX_DELEGATION"), false),
            custom_network_cfg: go_bool(get("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"), false),
            custom_networking: None,
            eni_config_label_def: get("ENI_CONFIG_LABEL_DEF")
                .unwrap_or(DEFAULT_ENI_CONFIG_LABEL)
                .to_string(),
            eni_config_annotation_def: get("ENI_CONFIG_ANNOTATION_DEF")
                .unwrap_or(DEFAULT_ENI_CONFIG_LABEL)
                .to_string(),
            subnet_discovery: go_bool(get("ENABLE_SUBNET_DISCOVERY"), true),
            ip_cooldown_period,
        })
    }
}

fn clamp_u32(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Go's `strconv.Atoi`: optional sign, decimal digits, nothing else.
fn go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Go's `strconv.ParseBool`, with `default` for an empty or unparsable value.
fn go_bool(s: Option<&str>, default: bool) -> bool {
    match s {
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => true,
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => false,
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_empty_environment_gives_the_manifest_defaults() {
        assert_eq!(IpamdConfig::from_env(&env(&[])), Ok(IpamdConfig::default()));
        let d = IpamdConfig::default();
        assert_eq!((d.warm_eni_target, d.warm_prefix_target), (1, 1));
        assert!(d.subnet_discovery && !d.prefix_delegation && !d.custom_network_cfg);
    }

    #[test]
    fn targets_at_or_below_zero_count_as_unset() {
        let c = IpamdConfig::from_env(&env(&[
            ("WARM_IP_TARGET", "0"),
            ("MINIMUM_IP_TARGET", "-3"),
            ("MAX_ENI", "0"),
            ("WARM_ENI_TARGET", "-1"),
        ]));
        let c = c.unwrap_or_default();
        assert_eq!(c.warm_ip_target, None);
        assert_eq!(c.minimum_ip_target, None);
        assert_eq!(c.max_eni, None);
        assert_eq!(c.warm_eni_target, 1);
        let c = IpamdConfig::from_env(&env(&[
            ("WARM_IP_TARGET", "2"),
            ("MINIMUM_IP_TARGET", "5"),
            ("MAX_ENI", "2"),
            ("WARM_ENI_TARGET", "0"),
            ("WARM_PREFIX_TARGET", "x"),
        ]))
        .unwrap_or_default();
        assert_eq!(
            (
                c.warm_ip_target,
                c.minimum_ip_target,
                c.max_eni,
                c.warm_eni_target
            ),
            (Some(2), Some(5), Some(2), 0)
        );
        // An unparsable WARM_PREFIX_TARGET falls back to the code's default, 0.
        assert_eq!(c.warm_prefix_target, 0);
    }

    #[test]
    fn booleans_parse_like_go_and_eni_config_keys_are_returned() {
        let c = IpamdConfig::from_env(&env(&[
            ("ENABLE_PREFIX_DELEGATION", "True"),
            ("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", "1"),
            ("ENABLE_SUBNET_DISCOVERY", "yes"),
            ("ENI_CONFIG_LABEL_DEF", "topology.kubernetes.io/zone"),
            ("IP_COOLDOWN_PERIOD", "10"),
        ]))
        .unwrap_or_default();
        assert!(c.prefix_delegation && c.custom_network_cfg);
        // "yes" is not a Go boolean: the default (true) stays.
        assert!(c.subnet_discovery);
        assert_eq!(c.eni_config_label_def, "topology.kubernetes.io/zone");
        assert_eq!(c.eni_config_annotation_def, DEFAULT_ENI_CONFIG_LABEL);
        assert_eq!(c.ip_cooldown_period, Duration::from_secs(10));
        assert!(IpamdConfig::from_env(&env(&[("ENABLE_IPv6", "true")])).is_err());
    }
}
