//! Service address allocation, as kube-apiserver's service REST storage does it on create:
//! a ClusterIP from the service CIDR (`clusterIP`, `clusterIPs`, `ipFamilies: [IPv4]`,
//! `ipFamilyPolicy: SingleStack`; `None` for headless services), node ports from
//! 30000-32767 for NodePort and LoadBalancer services and a `healthCheckNodePort` for
//! LoadBalancers with `externalTrafficPolicy: Local`. Requested addresses are checked
//! against the range and the addresses in use.
//!
//! What is in use is derived from the stored Services at each allocation (under one lock),
//! so allocations survive a restart exactly as upstream's repair loop restores them; a
//! deleted Service's addresses are free again. Also here: the `kubernetes` Service and its
//! Endpoints and EndpointSlice, created at bootstrap.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use api::ApiError;
use api::validation::FieldError;
use serde_json::{Value, json};

use crate::registry::{ListParams, Registry, WriteOptions};

/// The node port range (`--service-node-port-range`).
pub const NODE_PORT_RANGE: (i64, i64) = (30000, 32767);

/// An IPv4 service CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceCidr {
    base: u32,
    prefix: u8,
}

impl ServiceCidr {
    /// Parses `a.b.c.d/n` (n from 8 to 30, host bits zero).
    pub fn parse(text: &str) -> Result<ServiceCidr, String> {
        let (ip, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("invalid service CIDR {text:?}: missing /prefix"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("invalid service CIDR {text:?}: not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(|| format!("invalid service CIDR {text:?}: prefix must be 8 to 30"))?;
        let base = u32::from(ip);
        if base & !mask(prefix) != 0 {
            return Err(format!(
                "invalid service CIDR {text:?}: host bits must be zero"
            ));
        }
        Ok(ServiceCidr { base, prefix })
    }

    /// Addresses in the range, network and broadcast addresses included.
    fn size(&self) -> u32 {
        1u32 << (32 - self.prefix)
    }

    /// Whether `ip` may be allocated: inside the range, neither network nor broadcast.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let ip = u32::from(ip);
        ip & mask(self.prefix) == self.base && ip != self.base && ip != self.base + self.size() - 1
    }

    /// The first allocatable address (the `kubernetes` Service's).
    pub fn first(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    /// Upstream's lower band reserved for static allocation: size/16, at least 16, at most 256.
    fn static_band(&self) -> u32 {
        (self.size() / 16).clamp(16, 256)
    }

    /// A free address, preferring the dynamic band above the static one; `None` when full.
    pub fn allocate(&self, used: &HashSet<Ipv4Addr>, random: u64) -> Option<Ipv4Addr> {
        let usable = self.size() - 2;
        let band = self.static_band().min(usable);
        let upper = usable - band;
        let pick = |offset_base: u32, count: u32| -> Option<Ipv4Addr> {
            if count == 0 {
                return None;
            }
            let start = u32::try_from(random % u64::from(count)).unwrap_or(0);
            (0..count)
                .map(|i| Ipv4Addr::from(self.base + 1 + offset_base + (start + i) % count))
                .find(|ip| !used.contains(ip))
        };
        pick(band, upper).or_else(|| pick(0, band))
    }
}

impl std::fmt::Display for ServiceCidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

/// The addresses and node ports the given Services hold.
pub fn in_use(services: &[Value]) -> (HashSet<Ipv4Addr>, HashSet<i64>) {
    let mut ips = HashSet::new();
    let mut ports = HashSet::new();
    for svc in services {
        let spec = &svc["spec"];
        let listed = spec["clusterIPs"].as_array().cloned().unwrap_or_default();
        for ip in listed.iter().chain(std::iter::once(&spec["clusterIP"])) {
            if let Some(ip) = ip.as_str().and_then(|s| s.parse::<Ipv4Addr>().ok()) {
                ips.insert(ip);
            }
        }
        for port in spec["ports"].as_array().into_iter().flatten() {
            if let Some(p) = port["nodePort"].as_i64() {
                ports.insert(p);
            }
        }
        if let Some(p) = spec["healthCheckNodePort"].as_i64() {
            ports.insert(p);
        }
    }
    (ips, ports)
}

fn free_port(used: &HashSet<i64>, random: u64) -> Option<i64> {
    let (lo, hi) = NODE_PORT_RANGE;
    let count = u64::try_from(hi - lo + 1).unwrap_or(1);
    let start = random % count;
    (0..count)
        .map(|i| lo + i64::try_from((start + i) % count).unwrap_or(0))
        .find(|p| !used.contains(p))
}

fn check_port(port: i64, used: &HashSet<i64>) -> Result<(), String> {
    let (lo, hi) = NODE_PORT_RANGE;
    if !(lo..=hi).contains(&port) {
        return Err(format!(
            "provided port is not in the valid range. The range of valid ports is {lo}-{hi}"
        ));
    }
    if used.contains(&port) {
        return Err("provided port is already allocated".into());
    }
    Ok(())
}

/// Allocates a new Service's cluster IP and node ports in place; errors are field errors
/// as upstream words them. `random` seeds the choice of free addresses.
pub fn allocate(
    svc: &mut Value,
    cidr: &ServiceCidr,
    used_ips: &HashSet<Ipv4Addr>,
    used_ports: &HashSet<i64>,
    mut random: impl FnMut() -> u64,
) -> Result<(), Vec<FieldError>> {
    let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let service_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if service_type == "ExternalName" {
        return Ok(());
    }
    let requested: Vec<String> = match spec.get("clusterIPs").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| vec![s.to_string()])
            .unwrap_or_default(),
    };
    if spec.get("ipFamilyPolicy").and_then(Value::as_str) == Some("RequireDualStack") {
        return Err(vec![FieldError::invalid(
            "spec.ipFamilyPolicy",
            "RequireDualStack",
            "this cluster is not configured for dual-stack services",
        )]);
    }
    let ip = match requested.first().map(String::as_str) {
        Some("None") => "None".to_string(),
        Some(text) => {
            // Unparseable addresses are left to validation.
            let Ok(ip) = text.parse::<Ipv4Addr>() else {
                return Ok(());
            };
            let failure = if !cidr.contains(ip) {
                Some(format!(
                    "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {cidr}"
                ))
            } else if used_ips.contains(&ip) {
                Some("provided IP is already allocated".to_string())
            } else {
                None
            };
            if let Some(detail) = failure {
                return Err(vec![FieldError::invalid(
                    "spec.clusterIPs",
                    json!(requested),
                    format!("failed to allocate IP {ip}: {detail}"),
                )]);
            }
            ip.to_string()
        }
        None => match cidr.allocate(used_ips, random()) {
            Some(ip) => ip.to_string(),
            None => {
                return Err(vec![FieldError {
                    kind: api::validation::FieldErrorKind::Invalid,
                    field: "spec.clusterIPs".into(),
                    value: Some(json!(requested)),
                    detail: "failed to allocate a serviceIP: range is full".to_string(),
                }]);
            }
        },
    };
    spec.insert("clusterIP".into(), json!(ip));
    spec.insert("clusterIPs".into(), json!([ip]));
    spec.insert("ipFamilies".into(), json!(["IPv4"]));
    if !spec.contains_key("ipFamilyPolicy") {
        spec.insert("ipFamilyPolicy".into(), json!("SingleStack"));
    }
    let wants_node_ports = match service_type.as_str() {
        "NodePort" => true,
        "LoadBalancer" => spec
            .get("allocateLoadBalancerNodePorts")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        _ => false,
    };
    let mut taken = used_ports.clone();
    let mut errors = Vec::new();
    if matches!(service_type.as_str(), "NodePort" | "LoadBalancer")
        && let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut)
    {
        for (i, port) in ports.iter_mut().enumerate() {
            match port
                .get("nodePort")
                .and_then(Value::as_i64)
                .filter(|p| *p != 0)
            {
                Some(p) => match check_port(p, &taken) {
                    Ok(()) => {
                        taken.insert(p);
                    }
                    Err(detail) => errors.push(FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        p,
                        detail,
                    )),
                },
                None if wants_node_ports => match free_port(&taken, random()) {
                    Some(p) => {
                        taken.insert(p);
                        port["nodePort"] = json!(p);
                    }
                    None => errors.push(FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        0,
                        "range is full",
                    )),
                },
                None => {}
            }
        }
    }
    if service_type == "LoadBalancer"
        && spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local")
    {
        match spec
            .get("healthCheckNodePort")
            .and_then(Value::as_i64)
            .filter(|p| *p != 0)
        {
            Some(p) => {
                if let Err(detail) = check_port(p, &taken) {
                    errors.push(FieldError::invalid("spec.healthCheckNodePort", p, detail));
                }
            }
            None => match free_port(&taken, random()) {
                Some(p) => {
                    spec.insert("healthCheckNodePort".into(), json!(p));
                }
                None => errors.push(FieldError::invalid(
                    "spec.healthCheckNodePort",
                    0,
                    "range is full",
                )),
            },
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn service_type(svc: &Value) -> &str {
    svc.pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

fn needs_cluster_ip(svc: &Value) -> bool {
    service_type(svc) != "ExternalName"
}

fn needs_node_ports(svc: &Value) -> bool {
    matches!(service_type(svc), "NodePort" | "LoadBalancer")
}

fn needs_health_check_port(svc: &Value) -> bool {
    service_type(svc) == "LoadBalancer"
        && svc
            .pointer("/spec/externalTrafficPolicy")
            .and_then(Value::as_str)
            == Some("Local")
}

/// Upstream's `patchAllocatedValues` on update: a client that leaves out the cluster IPs,
/// IP families, node ports (matched by port name, or the only port) or health-check port
/// keeps the allocated ones, as long as the old and new types both need them.
pub fn patch_allocated_values(old: &Value, new: &mut Value) {
    let old_spec = old.get("spec").cloned().unwrap_or_else(|| json!({}));
    let keep_ip = needs_cluster_ip(old) && needs_cluster_ip(new);
    let keep_ports = needs_node_ports(old) && needs_node_ports(new);
    let keep_hc = needs_health_check_port(old) && needs_health_check_port(new);
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    };
    if keep_ip {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if empty(spec.get(field)) && !empty(old_spec.get(field)) {
                spec.insert(field.into(), old_spec[field].clone());
            }
        }
    }
    if keep_ports {
        let old_ports = old_spec["ports"].as_array().cloned().unwrap_or_default();
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            let only = ports.len() == 1 && old_ports.len() == 1;
            for port in ports.iter_mut() {
                if port.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
                    continue;
                }
                let matching = if only {
                    old_ports.first()
                } else {
                    old_ports.iter().find(|o| o["name"] == port["name"])
                };
                if let Some(np) = matching
                    .and_then(|o| o.get("nodePort"))
                    .filter(|v| v.as_i64().unwrap_or(0) != 0)
                {
                    port["nodePort"] = np.clone();
                }
            }
        }
    }
    if keep_hc
        && empty(spec.get("healthCheckNodePort"))
        && !empty(old_spec.get("healthCheckNodePort"))
    {
        spec.insert(
            "healthCheckNodePort".into(),
            old_spec["healthCheckNodePort"].clone(),
        );
    }
    drop_type_dependent_fields(old, new);
}

/// Upstream's `dropTypeDependentFields`: values the old type needed and the new one does not
/// are cleared when the client left them as they were.
fn drop_type_dependent_fields(old: &Value, new: &mut Value) {
    let old_spec = old.get("spec").cloned().unwrap_or_else(|| json!({}));
    let drop_ip = needs_cluster_ip(old) && !needs_cluster_ip(new);
    let drop_ports = needs_node_ports(old) && !needs_node_ports(new);
    let drop_hc = needs_health_check_port(old) && !needs_health_check_port(new);
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if drop_ip && spec.get("clusterIP") == old_spec.get("clusterIP") {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            spec.remove(field);
        }
    }
    if drop_ports {
        let old_ports: Vec<Value> = old_spec["ports"].as_array().cloned().unwrap_or_default();
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports.iter_mut() {
                let np = port.get("nodePort").cloned();
                if np.is_some()
                    && old_ports.iter().any(|o| o.get("nodePort") == np.as_ref())
                    && let Some(p) = port.as_object_mut()
                {
                    p.remove("nodePort");
                }
            }
        }
    }
    if drop_hc && spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort") {
        spec.remove("healthCheckNodePort");
    }
}

/// Allocates what an updated Service newly needs (a cluster IP after ExternalName, node
/// ports after ClusterIP, a health-check port) and checks node ports it newly asks for,
/// against every other stored Service.
pub async fn allocate_update(
    registry: &Registry,
    old: &Value,
    new: &mut Value,
) -> Result<(), ApiError> {
    let changed = [
        "type",
        "clusterIP",
        "clusterIPs",
        "ports",
        "healthCheckNodePort",
        "externalTrafficPolicy",
    ]
    .iter()
    .any(|f| old["spec"].get(*f) != new["spec"].get(*f));
    if !changed {
        return Ok(());
    }
    let cidr = registry.service_cidr()?;
    let Some(info) = registry.resources().find("", "v1", "services") else {
        return Ok(());
    };
    let me = (
        old.pointer("/metadata/namespace").cloned(),
        old.pointer("/metadata/name").cloned(),
    );
    let others: Vec<Value> = registry
        .list(&info, None, &ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|s| {
            (
                s.pointer("/metadata/namespace").cloned(),
                s.pointer("/metadata/name").cloned(),
            ) != me
        })
        .collect();
    let (ips, ports) = in_use(&others);
    // A cluster IP kept from before is not checked again (the range may have changed since).
    let kept_ip = needs_cluster_ip(old)
        && needs_cluster_ip(new)
        && old["spec"]["clusterIP"] == new["spec"]["clusterIP"];
    let mut candidate = new.clone();
    if kept_ip && let Some(spec) = candidate["spec"].as_object_mut() {
        spec.insert("clusterIP".into(), json!(""));
        spec.remove("clusterIPs");
    }
    let name = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    // With the kept IP blanked, a throwaway address is chosen: only the ports matter then.
    allocate(&mut candidate, &cidr, &ips, &ports, random).map_err(|causes| ApiError::Invalid {
        group: String::new(),
        kind: "Service".into(),
        name,
        causes,
    })?;
    if kept_ip {
        for field in ["clusterIP", "clusterIPs"] {
            candidate["spec"][field] = new["spec"][field].clone();
        }
    }
    *new = candidate;
    Ok(())
}

/// A random number for address choice.
pub fn random() -> u64 {
    let bits = uuid::Uuid::new_v4().as_u128();
    (bits >> 64) as u64 ^ bits as u64
}

/// Allocates a Service about to be created, against every stored Service.
pub async fn allocate_create(registry: &Registry, svc: &mut Value) -> Result<(), ApiError> {
    let cidr = registry.service_cidr()?;
    let Some(info) = registry.resources().find("", "v1", "services") else {
        return Ok(());
    };
    let services = registry
        .list(&info, None, &ListParams::default())
        .await?
        .items;
    let (ips, ports) = in_use(&services);
    let name = svc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    allocate(svc, &cidr, &ips, &ports, random).map_err(|causes| ApiError::Invalid {
        group: String::new(),
        kind: "Service".into(),
        name,
        causes,
    })
}

/// The `host` part of `host:port` (brackets of IPv6 literals removed).
fn advertise_host(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Creates the `kubernetes` Service in `default` (the first address of the range, 443 →
/// 443) and the Endpoints and EndpointSlice pointing at the advertised address, unless they
/// exist.
pub async fn ensure_kubernetes_service(
    registry: &Registry,
    advertise_address: &str,
) -> Result<(), ApiError> {
    let cidr = registry.service_cidr()?;
    let host = advertise_host(advertise_address);
    let objects = [
        (
            ("", "v1", "services"),
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"type": "ClusterIP", "clusterIP": cidr.first().to_string(), "sessionAffinity": "None",
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}]}}),
        ),
        (
            ("", "v1", "endpoints"),
            json!({"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                "subsets": [{"addresses": [{"ip": host}], "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}]}),
        ),
        (
            ("discovery.k8s.io", "v1", "endpointslices"),
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": [host], "conditions": {"ready": true}}],
                "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}),
        ),
    ];
    for ((group, version, plural), body) in objects {
        let Some(info) = registry.resources().find(group, version, plural) else {
            continue;
        };
        // Kept as they are once made (a restart must not ask for the address again).
        match registry
            .get(&info, Some("default"), "kubernetes", None)
            .await
        {
            Ok(_) => continue,
            Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        match registry
            .create(&info, Some("default"), body, &WriteOptions::default())
            .await
        {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr() -> ServiceCidr {
        ServiceCidr::parse("10.100.0.0/16").expect("cidr")
    }

    #[test]
    fn cidrs_parse_and_bound_their_addresses() {
        let c = cidr();
        assert_eq!(c.to_string(), "10.100.0.0/16");
        assert_eq!(c.first(), Ipv4Addr::new(10, 100, 0, 1));
        let cases = [
            ("the network address", "10.100.0.0", false),
            ("the first host", "10.100.0.1", true),
            ("the last host", "10.100.255.254", true),
            ("the broadcast address", "10.100.255.255", false),
            ("outside", "10.0.0.5", false),
        ];
        for (case, ip, want) in cases {
            assert_eq!(c.contains(ip.parse().expect("ip")), want, "{case}");
        }
        for bad in ["10.100.0.0", "10.100.0.1/16", "x/16", "10.0.0.0/31"] {
            assert!(ServiceCidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dynamic_addresses_avoid_the_static_band_and_used_ones() {
        let c = ServiceCidr::parse("10.0.0.0/24").expect("cidr");
        // 254 usable, static band 16: dynamic picks from .17-.254.
        let mut used = HashSet::new();
        for r in 0..300u64 {
            let ip = c.allocate(&used, r * 7919).expect("free address");
            assert!(
                u32::from(ip) > u32::from(Ipv4Addr::new(10, 0, 0, 16)),
                "{ip}"
            );
            assert!(
                used.insert(ip) || used.len() >= 238,
                "{ip} handed out twice"
            );
            if used.len() == 238 {
                break;
            }
        }
        // With the upper band full the static band is used, then nothing is left.
        let ip = c.allocate(&used, 1).expect("static band");
        assert!(
            u32::from(ip) <= u32::from(Ipv4Addr::new(10, 0, 0, 16)),
            "{ip}"
        );
        for i in 1..=16 {
            used.insert(Ipv4Addr::new(10, 0, 0, i));
        }
        assert_eq!(c.allocate(&used, 1), None);
    }

    #[test]
    fn services_get_addresses_and_node_ports_as_upstream() {
        let used_ips: HashSet<Ipv4Addr> = [Ipv4Addr::new(10, 100, 0, 1)].into();
        let used_ports: HashSet<i64> = [30080].into();
        let run = |svc: Value| {
            let mut svc = svc;
            let mut n = 0u64;
            allocate(&mut svc, &cidr(), &used_ips, &used_ports, || {
                n += 1;
                n
            })
            .map(|()| svc)
            .map_err(|errs| {
                errs.iter()
                    .map(|e| {
                        format!(
                            "{}: {}: {}",
                            e.field,
                            e.value.clone().unwrap_or_default(),
                            e.detail
                        )
                    })
                    .collect::<Vec<_>>()
            })
        };
        let ok = run(json!({"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}))
            .expect("clusterip");
        let ip: Ipv4Addr = ok["spec"]["clusterIP"]
            .as_str()
            .expect("ip")
            .parse()
            .expect("ip");
        assert!(cidr().contains(ip));
        assert_eq!(ok["spec"]["clusterIPs"], json!([ip.to_string()]));
        assert_eq!(ok["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(ok["spec"]["ipFamilyPolicy"], "SingleStack");

        let headless = run(json!({"spec": {"clusterIP": "None"}})).expect("headless");
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));

        let cases = [
            (
                "a taken address",
                json!({"spec": {"clusterIPs": ["10.100.0.1"]}}),
                "spec.clusterIPs: [\"10.100.0.1\"]: failed to allocate IP 10.100.0.1: provided IP is already allocated",
            ),
            (
                "an address out of range",
                json!({"spec": {"clusterIP": "10.0.0.5"}}),
                "spec.clusterIPs: [\"10.0.0.5\"]: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.100.0.0/16",
            ),
            (
                "a taken node port",
                json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}}),
                "spec.ports[0].nodePort: 30080: provided port is already allocated",
            ),
            (
                "a node port out of range",
                json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}}),
                "spec.ports[0].nodePort: 80: provided port is not in the valid range. The range of valid ports is 30000-32767",
            ),
        ];
        for (case, svc, want) in cases {
            assert_eq!(run(svc), Err(vec![want.to_string()]), "{case}");
        }

        let np = run(json!({"spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 80}, {"port": 443, "nodePort": 30443}]}})).expect("lb");
        let first = np["spec"]["ports"][0]["nodePort"]
            .as_i64()
            .expect("allocated");
        assert!((30000..=32767).contains(&first) && first != 30080 && first != 30443);
        assert_eq!(np["spec"]["ports"][1]["nodePort"], 30443);
        let hc = np["spec"]["healthCheckNodePort"]
            .as_i64()
            .expect("health check port");
        assert!(hc != first && hc != 30443);

        let external =
            run(json!({"spec": {"type": "ExternalName", "externalName": "example.com"}}))
                .expect("external");
        assert!(external["spec"].get("clusterIP").is_none());
    }

    #[test]
    fn updates_keep_allocated_values_and_drop_ones_the_new_type_does_not_need() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.100.0.9", "clusterIPs": ["10.100.0.9"],
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "http", "port": 80, "nodePort": 31000}]}});
        let mut same_type =
            json!({"spec": {"type": "NodePort", "ports": [{"name": "http", "port": 8080}]}});
        patch_allocated_values(&old, &mut same_type);
        assert_eq!(same_type["spec"]["clusterIP"], "10.100.0.9");
        assert_eq!(same_type["spec"]["clusterIPs"], json!(["10.100.0.9"]));
        assert_eq!(same_type["spec"]["ports"][0]["nodePort"], 31000);
        let mut to_cluster_ip = json!({"spec": {"type": "ClusterIP", "clusterIP": "10.100.0.9",
            "ports": [{"name": "http", "port": 80, "nodePort": 31000}]}});
        patch_allocated_values(&old, &mut to_cluster_ip);
        assert!(to_cluster_ip["spec"]["ports"][0].get("nodePort").is_none());
        assert_eq!(to_cluster_ip["spec"]["clusterIP"], "10.100.0.9");
        let mut to_external = json!({"spec": {"type": "ExternalName", "externalName": "example.com", "clusterIP": "10.100.0.9",
            "ports": [{"name": "http", "port": 80, "nodePort": 31000}]}});
        patch_allocated_values(&old, &mut to_external);
        assert!(to_external["spec"].get("clusterIP").is_none());
        assert!(to_external["spec"].get("clusterIPs").is_none());
    }

    #[test]
    fn in_use_collects_addresses_and_ports() {
        let (ips, ports) = in_use(&[
            json!({"spec": {"clusterIP": "10.100.0.10", "clusterIPs": ["10.100.0.10"], "ports": [{"nodePort": 31000}], "healthCheckNodePort": 32000}}),
            json!({"spec": {"clusterIP": "None"}}),
        ]);
        assert_eq!(ips, [Ipv4Addr::new(10, 100, 0, 10)].into());
        assert_eq!(ports, [31000, 32000].into());
    }
}
