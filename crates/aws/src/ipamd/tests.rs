use std::collections::BTreeSet;

use super::*;
use crate::vpc::Subnet;

fn c(s: &str) -> Cidr {
    match s.parse() {
        Ok(c) => c,
        Err(e) => panic!("{s}: {e}"),
    }
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    match r {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn limits(instance_type: &str, max_enis: u32, ipv4_per_eni: u32, max_pods: u32) -> InstanceLimits {
    InstanceLimits {
        instance_type: instance_type.to_string(),
        max_enis,
        ipv4_per_eni,
        nitro: true,
        max_pods,
    }
}

/// t3.small: 3 ENIs × 4 IPv4 addresses, 11 pods (eni-max-pods.txt).
fn t3_small() -> InstanceLimits {
    limits("t3.small", 3, 4, 11)
}

/// p3dn.24xlarge: 15 ENIs × 50 IPv4 addresses, 96 vCPUs: the EKS AMI caps max pods at 250.
fn p3dn_24xlarge() -> InstanceLimits {
    limits("p3dn.24xlarge", 15, 50, 250)
}

/// m5.4xlarge: 8 ENIs × 30 IPv4 addresses, 16 vCPUs: 110 pods.
fn m5_4xlarge() -> InstanceLimits {
    limits("m5.4xlarge", 8, 30, 110)
}

struct World {
    vpc: Vpc,
    node_subnet: SubnetId,
    now: Duration,
}

impl World {
    fn new(subnet: &str) -> World {
        let mut vpc = ok(Vpc::new(42, c("10.0.0.0/16")));
        let node_subnet = ok(vpc.create_subnet("us-west-2a", "usw2-az1", c(subnet), false));
        World {
            vpc,
            node_subnet,
            now: Duration::from_secs(1000),
        }
    }

    /// Launches an instance: its primary ENI in the node subnet, then ipamd.
    fn launch(&mut self, instance_id: &str, limits: InstanceLimits, config: IpamdConfig) -> Ipamd {
        let eni = ok(self
            .vpc
            .create_network_interface(&self.node_subnet, "Primary network interface"));
        let instance = InstanceNetworking {
            instance_id: instance_id.to_string(),
            instance_type: limits.instance_type.clone(),
            max_enis: limits.max_enis,
            ipv4_per_eni: limits.ipv4_per_eni,
        };
        ok(self.vpc.attach(&eni, &instance, 0));
        Ipamd::new(instance_id, eni, limits, config)
    }

    /// Runs ipamd's loop for three simulated minutes.
    fn settle(&mut self, ipamd: &mut Ipamd) -> Vec<IpamdEvent> {
        let mut events = Vec::new();
        for _ in 0..36 {
            events.extend(ipamd.reconcile(&mut self.vpc, self.now));
            self.now += IP_POOL_MONITOR_INTERVAL;
        }
        events
    }

    fn node_ip(&self, ipamd: &Ipamd) -> Ipv4Addr {
        let enis = self.vpc.instance_network_interfaces(ipamd.instance_id());
        enis.first().map_or(Ipv4Addr::UNSPECIFIED, |e| e.primary_ip)
    }

    fn subnet(&self, id: &SubnetId) -> Subnet {
        ok(self.vpc.subnet(id)).clone()
    }
}

fn config(f: impl FnOnce(&mut IpamdConfig)) -> IpamdConfig {
    let mut c = IpamdConfig::default();
    f(&mut c);
    c
}

/// Addresses (secondary IPs, or prefixes with prefix delegation) per ENI, by device index.
fn per_eni(ipamd: &Ipamd, now: Duration) -> Vec<usize> {
    ipamd
        .enis(now)
        .iter()
        .map(|e| {
            e.cidrs
                .iter()
                .filter(|c| c.prefix == ipamd.prefix_delegation())
                .count()
        })
        .collect()
}

/// One row of the upstream tables: after this many pods, these ENIs with these addresses
/// (or prefixes) each, and this many unused IPs.
struct Row {
    pods: u32,
    per_eni: &'static [usize],
    unused_ips: u32,
}

/// Adds pods one at a time, letting ipamd settle after each, and checks each row.
fn run_table(name: &str, limits: InstanceLimits, cfg: IpamdConfig, rows: &[Row]) {
    let mut w = World::new("10.0.0.0/20");
    let mut ipamd = w.launch("i-0table", limits, cfg);
    w.settle(&mut ipamd);
    let mut pods = 0;
    for row in rows {
        while pods < row.pods {
            let key = format!("pod-{pods}");
            if let Err(e) = ipamd.assign(&mut w.vpc, &key, w.now) {
                panic!("{name}: pod {pods}: {e}");
            }
            pods += 1;
            w.settle(&mut ipamd);
        }
        let stats = ipamd.stats(w.now);
        assert_eq!(
            (per_eni(&ipamd, w.now).as_slice(), stats.available_ips),
            (row.per_eni, row.unused_ips),
            "{name} with {} pods: per-ENI counts and unused IPs",
            row.pods
        );
        assert_eq!(stats.assigned_ips, row.pods, "{name}");
    }
}

// docs/eni-and-ip-target.md

#[test]
fn t3_small_with_warm_eni_target_1_has_3_enis_and_9_ips_at_5_pods() {
    run_table(
        "t3.small WARM_ENI_TARGET=1",
        t3_small(),
        IpamdConfig::default(),
        &[
            Row {
                pods: 0,
                per_eni: &[3],
                unused_ips: 3,
            },
            Row {
                pods: 5,
                per_eni: &[3, 3, 3],
                unused_ips: 4,
            },
            Row {
                pods: 9,
                per_eni: &[3, 3, 3],
                unused_ips: 0,
            },
        ],
    );
}

#[test]
fn t3_small_with_warm_ip_1_and_minimum_ip_1_keeps_one_spare_ip() {
    run_table(
        "t3.small WARM_IP_TARGET=1 MINIMUM_IP_TARGET=1",
        t3_small(),
        config(|c| {
            c.warm_ip_target = Some(1);
            c.minimum_ip_target = Some(1);
        }),
        &[
            Row {
                pods: 0,
                per_eni: &[1],
                unused_ips: 1,
            },
            Row {
                pods: 5,
                per_eni: &[3, 3],
                unused_ips: 1,
            },
            Row {
                pods: 9,
                per_eni: &[3, 3, 3],
                unused_ips: 0,
            },
        ],
    );
}

#[test]
fn t3_small_with_warm_ip_2_and_minimum_ip_5_starts_with_5_ips_on_2_enis() {
    // The doc lists the 0-pod ENIs as "2,3"; ipamd fills the primary ENI first (3), then
    // creates an ENI for the 2 still short.
    run_table(
        "t3.small WARM_IP_TARGET=2 MINIMUM_IP_TARGET=5",
        t3_small(),
        config(|c| {
            c.warm_ip_target = Some(2);
            c.minimum_ip_target = Some(5);
        }),
        &[
            Row {
                pods: 0,
                per_eni: &[3, 2],
                unused_ips: 5,
            },
            Row {
                pods: 5,
                per_eni: &[3, 3, 1],
                unused_ips: 2,
            },
            Row {
                pods: 9,
                per_eni: &[3, 3, 3],
                unused_ips: 0,
            },
        ],
    );
}

#[test]
fn p3dn_24xlarge_with_warm_eni_target_1_adds_a_full_eni_at_a_time() {
    run_table(
        "p3dn.24xlarge WARM_ENI_TARGET=1",
        p3dn_24xlarge(),
        IpamdConfig::default(),
        &[
            Row {
                pods: 0,
                per_eni: &[49],
                unused_ips: 49,
            },
            Row {
                pods: 3,
                per_eni: &[49, 49],
                unused_ips: 95,
            },
            Row {
                pods: 95,
                per_eni: &[49, 49, 49],
                unused_ips: 52,
            },
        ],
    );
}

#[test]
fn p3dn_24xlarge_with_warm_ip_5_and_minimum_ip_10_grows_ip_by_ip() {
    run_table(
        "p3dn.24xlarge WARM_IP_TARGET=5 MINIMUM_IP_TARGET=10",
        p3dn_24xlarge(),
        config(|c| {
            c.warm_ip_target = Some(5);
            c.minimum_ip_target = Some(10);
        }),
        &[
            Row {
                pods: 0,
                per_eni: &[10],
                unused_ips: 10,
            },
            Row {
                pods: 7,
                per_eni: &[12],
                unused_ips: 5,
            },
            Row {
                pods: 15,
                per_eni: &[20],
                unused_ips: 5,
            },
            Row {
                pods: 45,
                per_eni: &[49, 1],
                unused_ips: 5,
            },
        ],
    );
}

// docs/prefix-and-ip-target.md (t3.small: 3 ENIs × 3 prefixes; kubelet max pods raised to
// 110 as the doc assumes).

fn pd(f: impl FnOnce(&mut IpamdConfig)) -> IpamdConfig {
    config(|c| {
        c.prefix_delegation = true;
        f(c);
    })
}

fn t3_small_pd() -> InstanceLimits {
    limits("t3.small", 3, 4, 110)
}

#[test]
fn t3_small_with_warm_prefix_target_1_keeps_one_free_prefix() {
    run_table(
        "t3.small PD WARM_PREFIX_TARGET=1",
        t3_small_pd(),
        pd(|_| {}),
        &[
            Row {
                pods: 0,
                per_eni: &[1],
                unused_ips: 16,
            },
            Row {
                pods: 5,
                per_eni: &[2],
                unused_ips: 27,
            },
            Row {
                pods: 16,
                per_eni: &[2],
                unused_ips: 16,
            },
            Row {
                pods: 17,
                per_eni: &[3],
                unused_ips: 31,
            },
            Row {
                pods: 58,
                per_eni: &[3, 2],
                unused_ips: 22,
            },
        ],
    );
}

#[test]
fn t3_small_with_prefixes_and_warm_ip_1_minimum_ip_1_adds_a_prefix_only_when_full() {
    run_table(
        "t3.small PD WARM_IP_TARGET=1 MINIMUM_IP_TARGET=1",
        t3_small_pd(),
        pd(|c| {
            c.warm_ip_target = Some(1);
            c.minimum_ip_target = Some(1);
        }),
        &[
            Row {
                pods: 0,
                per_eni: &[1],
                unused_ips: 16,
            },
            Row {
                pods: 5,
                per_eni: &[1],
                unused_ips: 11,
            },
            Row {
                pods: 17,
                per_eni: &[2],
                unused_ips: 15,
            },
            Row {
                pods: 58,
                per_eni: &[3, 1],
                unused_ips: 6,
            },
        ],
    );
}

#[test]
fn t3_small_with_prefixes_and_minimum_ip_20_rounds_up_to_2_prefixes() {
    // MINIMUM_IP_TARGET=20 behaves as 32 (2 × 16). The doc's 0-pod row says "1" attached
    // prefix and 16 unused but also "2" prefixes per ENI; the code (and the doc's 5-pod row,
    // 27 unused) give 2 prefixes, 32 unused.
    run_table(
        "t3.small PD WARM_IP_TARGET=7 MINIMUM_IP_TARGET=20",
        t3_small_pd(),
        pd(|c| {
            c.warm_ip_target = Some(7);
            c.minimum_ip_target = Some(20);
        }),
        &[
            Row {
                pods: 0,
                per_eni: &[2],
                unused_ips: 32,
            },
            Row {
                pods: 5,
                per_eni: &[2],
                unused_ips: 27,
            },
            Row {
                pods: 17,
                per_eni: &[2],
                unused_ips: 15,
            },
            Row {
                pods: 58,
                per_eni: &[3, 2],
                unused_ips: 22,
            },
        ],
    );
}

#[test]
fn p3dn_24xlarge_with_prefixes_keeps_every_prefix_on_the_primary_eni() {
    // The doc's ENI column for these rows lists extra ENIs with no prefixes ("3,0", "95,0,0");
    // current ipamd never creates an ENI with nothing to allocate, and the prefix and
    // unused-IP columns match one ENI.
    run_table(
        "p3dn.24xlarge PD WARM_PREFIX_TARGET=1",
        p3dn_24xlarge(),
        pd(|_| {}),
        &[
            Row {
                pods: 0,
                per_eni: &[1],
                unused_ips: 16,
            },
            Row {
                pods: 3,
                per_eni: &[2],
                unused_ips: 29,
            },
            Row {
                pods: 95,
                per_eni: &[7],
                unused_ips: 17,
            },
        ],
    );
    run_table(
        "p3dn.24xlarge PD WARM_IP_TARGET=5 MINIMUM_IP_TARGET=10",
        p3dn_24xlarge(),
        pd(|c| {
            c.warm_ip_target = Some(5);
            c.minimum_ip_target = Some(10);
        }),
        &[
            Row {
                pods: 0,
                per_eni: &[1],
                unused_ips: 16,
            },
            Row {
                pods: 7,
                per_eni: &[1],
                unused_ips: 9,
            },
            Row {
                pods: 15,
                per_eni: &[2],
                unused_ips: 17,
            },
            Row {
                pods: 45,
                per_eni: &[4],
                unused_ips: 19,
            },
        ],
    );
}

#[test]
fn two_m5_4xlarge_nodes_in_a_slash_26_get_57_pod_ips_and_then_the_cni_fails() {
    // A /26 has 64 addresses; AWS reserves 5: 59 available. Each node's primary ENI takes
    // one for the node IP: 59 - 2 = 57 addresses are left for pods, however many the two
    // m5.4xlarge (8 ENIs × 29 secondary IPs) could hold.
    let mut w = World::new("10.0.0.0/26");
    let subnet = w.node_subnet.clone();
    assert_eq!(ok(w.vpc.available_ip_address_count(&subnet)), 59);
    let mut a = w.launch("i-0aaaa", m5_4xlarge(), IpamdConfig::default());
    let mut b = w.launch("i-0bbbb", m5_4xlarge(), IpamdConfig::default());
    assert_eq!(ok(w.vpc.available_ip_address_count(&subnet)), 57);
    let mut events = Vec::new();
    for _ in 0..36 {
        events.extend(a.reconcile(&mut w.vpc, w.now));
        events.extend(b.reconcile(&mut w.vpc, w.now));
        w.now += IP_POOL_MONITOR_INTERVAL;
    }
    // Node a took a full ENI's worth (29); node b asked for 29, got InsufficientFreeAddresses
    // and fell back to one address per pass until the subnet was empty.
    assert_eq!(a.stats(w.now).total_ips, 29);
    assert_eq!(b.stats(w.now).total_ips, 28);
    assert_eq!(ok(w.vpc.available_ip_address_count(&subnet)), 0);
    assert!(events.iter().any(|e| matches!(e,
        IpamdEvent::Ec2CallFailed { operation, error, .. }
            if operation == "CreateNetworkInterface"
                && error.code == Ec2ErrorCode::InsufficientFreeAddressesInSubnet)));
    // 40 pods try each node.
    let mut got = Vec::new();
    let mut failures = Vec::new();
    for i in 0..40 {
        for node in [&mut a, &mut b] {
            let key = format!("{}/pod-{i}", node.instance_id());
            match node.assign(&mut w.vpc, &key, w.now) {
                Ok(ip) => got.push(ip),
                Err(e) => failures.push(e.to_string()),
            }
        }
        w.now += Duration::from_secs(1);
    }
    assert_eq!(got.len(), 57);
    assert_eq!(failures.len(), 80 - 57);
    assert!(
        failures
            .iter()
            .all(|m| m == "add cmd: failed to assign an IP address to container")
    );
    let unique: BTreeSet<Ipv4Addr> = got.iter().copied().collect();
    assert_eq!(unique.len(), 57, "pod IPs are unique");
    let cidr = w.subnet(&subnet).cidr;
    assert!(got.iter().all(|ip| cidr.contains_addr(*ip)
        && *ip != w.node_ip(&a)
        && *ip != w.node_ip(&b)
        && u32::from(*ip) >= u32::from(cidr.network()) + 4
        && *ip != cidr.last()));

    // After InsufficientFreeAddressesInSubnet, node a asks EC2 again only every 2 minutes.
    // (The first pass hands out events of the growth tried by the failed CNI ADDs.)
    a.reconcile(&mut w.vpc, w.now);
    w.now += IP_POOL_MONITOR_INTERVAL;
    let mut attempts = Vec::new();
    for _ in 0..120 {
        for e in a.reconcile(&mut w.vpc, w.now) {
            if matches!(&e, IpamdEvent::Ec2CallFailed { operation, .. } if operation == "CreateNetworkInterface")
            {
                attempts.push(w.now);
            }
        }
        w.now += IP_POOL_MONITOR_INTERVAL;
    }
    assert!(attempts.len() >= 4, "{attempts:?}");
    assert!(
        attempts
            .windows(2)
            .all(|p| p[1] - p[0] > INSUFFICIENT_CIDR_ERROR_COOLDOWN),
        "{attempts:?}"
    );
}

#[test]
fn custom_networking_puts_pod_ips_in_the_eniconfig_subnet_while_the_node_ip_stays() {
    let mut w = World::new("10.0.1.0/24");
    ok(w.vpc.associate_cidr_block(c("100.64.0.0/16")));
    let pods = ok(w
        .vpc
        .create_subnet("us-west-2a", "usw2-az1", c("100.64.0.0/19"), false));
    let cfg = config(|c| {
        c.custom_network_cfg = true;
        c.custom_networking = Some(CustomNetwork {
            subnet: pods.clone(),
        });
    });
    let mut n = w.launch("i-0cust", m5_4xlarge(), cfg);
    let node_ip = w.node_ip(&n);
    w.settle(&mut n);
    let mut ips = Vec::new();
    for i in 0..40 {
        ips.push(ok(n.assign(&mut w.vpc, &format!("pod-{i}"), w.now)));
        w.settle(&mut n);
    }
    let pod_cidr = c("100.64.0.0/19");
    assert!(ips.iter().all(|ip| pod_cidr.contains_addr(*ip)), "{ips:?}");
    assert_eq!(w.node_ip(&n), node_ip);
    assert!(c("10.0.1.0/24").contains_addr(node_ip));
    // The primary ENI carries no pod addresses; the pod ENIs sit in the ENIConfig subnet.
    let enis = w.vpc.instance_network_interfaces("i-0cust");
    assert!(enis[0].secondary_ips.is_empty() && enis[0].ipv4_prefixes.is_empty());
    assert!(enis[1..].iter().all(|e| e.subnet_id == pods));
    assert!(enis[1..].iter().all(|e| e.description == "aws-K8S-i-0cust"));
    // 40 pods on two pod ENIs of 29 leave 18 free, under WARM_ENI_TARGET=1 × 29: a third
    // pod ENI is attached.
    assert_eq!(enis.len(), 1 + 3);
}

#[test]
fn custom_networking_without_an_eniconfig_gives_pods_no_address() {
    let mut w = World::new("10.0.1.0/24");
    let mut n = w.launch(
        "i-0none",
        m5_4xlarge(),
        config(|c| c.custom_network_cfg = true),
    );
    let events = w.settle(&mut n);
    assert!(events.contains(&IpamdEvent::NoEniConfig));
    assert_eq!(n.assign(&mut w.vpc, "pod", w.now), Err(NoAddress));
}

#[test]
fn prefix_delegation_gives_slash_28s_on_nitro_only() {
    let mut w = World::new("10.0.0.0/20");
    let mut nitro = w.launch("i-0nitro", m5_4xlarge(), pd(|_| {}));
    let mut xen_limits = limits("m4.xlarge", 4, 15, 58);
    xen_limits.nitro = false;
    let mut xen = w.launch("i-0xen", xen_limits, pd(|_| {}));
    let events = w.settle(&mut nitro);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, IpamdEvent::PrefixesAllocated { .. }))
    );
    let xen_events = w.settle(&mut xen);
    assert!(
        xen_events.iter().any(|e| matches!(e,
        IpamdEvent::PrefixDelegationUnsupported { instance_type } if instance_type == "m4.xlarge"))
    );
    assert!(nitro.prefix_delegation() && !xen.prefix_delegation());

    let ip = ok(nitro.assign(&mut w.vpc, "pod-a", w.now));
    let nitro_enis = w.vpc.instance_network_interfaces("i-0nitro");
    let prefixes = &nitro_enis[0].ipv4_prefixes;
    assert_eq!(prefixes.len(), 1);
    assert_eq!(prefixes[0].prefix_len(), 28);
    assert_eq!(u32::from(prefixes[0].network()) % 16, 0);
    assert!(prefixes[0].contains_addr(ip));
    assert!(nitro_enis[0].secondary_ips.is_empty());

    let xen_ip = ok(xen.assign(&mut w.vpc, "pod-b", w.now));
    let xen_enis = w.vpc.instance_network_interfaces("i-0xen");
    assert!(xen_enis.iter().all(|e| e.ipv4_prefixes.is_empty()));
    assert_eq!(xen_enis[0].secondary_ips.len(), 14);
    assert!(xen_enis[0].secondary_ips.contains(&xen_ip));
}

#[test]
fn a_released_address_cools_down_for_30_seconds_before_reuse() {
    let mut w = World::new("10.0.0.0/24");
    let mut n = w.launch("i-0cool", t3_small(), IpamdConfig::default());
    w.settle(&mut n);
    let t0 = w.now;
    let first = ok(n.assign(&mut w.vpc, "a", t0));
    assert_eq!(
        n.assign(&mut w.vpc, "a", t0),
        Ok(first),
        "same sandbox, same address"
    );
    assert_eq!(n.release("a", t0), Some(first));
    assert_eq!(n.release("a", t0), None, "releasing twice is not an error");
    assert_eq!(n.stats(t0).cooling_ips, 1);
    let second = ok(n.assign(&mut w.vpc, "b", t0 + Duration::from_secs(30)));
    assert_ne!(second, first, "still cooling at exactly 30 s");
    let third = ok(n.assign(&mut w.vpc, "c", t0 + Duration::from_secs(31)));
    assert_eq!(third, first, "free again after 30 s");
    assert_eq!(n.stats(t0 + Duration::from_secs(31)).cooling_ips, 0);
    assert_eq!(n.address_of("c"), Some(first));
}

#[test]
fn when_every_free_address_is_cooling_the_pod_waits() {
    // WARM_IP_TARGET=1 MINIMUM_IP_TARGET=1: one spare address. A pod replaced within the
    // cooldown finds only the cooling address, which still counts as available, so ipamd
    // does not grow and the CNI fails until the cooldown is over.
    let mut w = World::new("10.0.0.0/24");
    let mut n = w.launch(
        "i-0wait",
        t3_small(),
        config(|c| {
            c.warm_ip_target = Some(1);
            c.minimum_ip_target = Some(1);
        }),
    );
    w.settle(&mut n);
    let ip = ok(n.assign(&mut w.vpc, "old", w.now));
    n.release("old", w.now);
    let t = w.now + Duration::from_secs(5);
    n.reconcile(&mut w.vpc, t);
    assert_eq!(n.stats(t).total_ips, 1);
    assert_eq!(n.assign(&mut w.vpc, "new", t), Err(NoAddress));
    assert_eq!(
        NoAddress.to_string(),
        "add cmd: failed to assign an IP address to container"
    );
    assert_eq!(
        n.assign(&mut w.vpc, "new", t + Duration::from_secs(30)),
        Ok(ip)
    );
}

#[test]
fn ipamd_shrinks_back_to_its_targets_after_pods_leave() {
    let mut w = World::new("10.0.0.0/24");
    let mut n = w.launch("i-0shrink", t3_small(), IpamdConfig::default());
    w.settle(&mut n);
    for i in 0..9 {
        ok(n.assign(&mut w.vpc, &format!("p{i}"), w.now));
        w.settle(&mut n);
    }
    assert_eq!(per_eni(&n, w.now), vec![3, 3, 3]);
    for i in 0..9 {
        n.release(&format!("p{i}"), w.now);
    }
    let events = w.settle(&mut n);
    // WARM_ENI_TARGET=1 keeps one ENI's worth free: 9 available ≥ (1+1) × 3 lets ipamd free
    // ENIs until 3 free addresses are left on the primary ENI.
    assert_eq!(per_eni(&n, w.now), vec![3]);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, IpamdEvent::EniFreed { .. }))
            .count(),
        2
    );
    let subnet = w.node_subnet.clone();
    assert_eq!(ok(w.vpc.available_ip_address_count(&subnet)), 251 - 4);

    // WARM_IP_TARGET releases single addresses above the target.
    let mut m = w.launch(
        "i-0warmip",
        t3_small(),
        config(|c| c.warm_ip_target = Some(1)),
    );
    w.settle(&mut m);
    for i in 0..5 {
        ok(m.assign(&mut w.vpc, &format!("q{i}"), w.now));
        w.settle(&mut m);
    }
    for i in 0..5 {
        m.release(&format!("q{i}"), w.now);
    }
    let events = w.settle(&mut m);
    assert_eq!(m.stats(w.now).total_ips, 1);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, IpamdEvent::IpsReleased { .. }))
    );
}

#[test]
fn turning_on_custom_networking_on_a_running_node_keeps_the_primary_enis_ips_for_pods() {
    let mut w = World::new("10.0.1.0/24");
    ok(w.vpc.associate_cidr_block(c("100.64.0.0/16")));
    let pods = ok(w
        .vpc
        .create_subnet("us-west-2a", "usw2-az1", c("100.64.0.0/19"), false));
    let mut n = w.launch("i-0flip", t3_small(), IpamdConfig::default());
    w.settle(&mut n);
    let before = ok(n.assign(&mut w.vpc, "old", w.now));
    let cfg = config(|c| {
        c.custom_network_cfg = true;
        c.custom_networking = Some(CustomNetwork {
            subnet: pods.clone(),
        });
    });
    let now = w.now;
    n.restart(&mut w.vpc, t3_small(), cfg, now);
    assert_eq!(
        n.address_of("old"),
        Some(before),
        "pods keep their addresses"
    );
    // The two free secondary IPs of the primary ENI still go to pods first.
    let next = ok(n.assign(&mut w.vpc, "new-1", w.now));
    assert!(c("10.0.1.0/24").contains_addr(next));
    ok(n.assign(&mut w.vpc, "new-2", w.now));
    w.settle(&mut n);
    let later = ok(n.assign(&mut w.vpc, "new-3", w.now));
    assert!(c("100.64.0.0/19").contains_addr(later), "{later}");
    let primary = &w.vpc.instance_network_interfaces("i-0flip")[0];
    assert_eq!(
        primary.secondary_ips.len(),
        3,
        "no new addresses on the primary ENI"
    );
}

#[test]
fn enabling_prefix_delegation_on_restart_releases_unused_secondary_ips() {
    let mut w = World::new("10.0.0.0/24");
    let mut n = w.launch("i-0pd", m5_4xlarge(), IpamdConfig::default());
    w.settle(&mut n);
    let held = ok(n.assign(&mut w.vpc, "keep", w.now));
    let now = w.now;
    let events = n.restart(&mut w.vpc, m5_4xlarge(), pd(|_| {}), now);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, IpamdEvent::IpsReleased { ips, .. } if ips.len() == 28))
    );
    let primary = &w.vpc.instance_network_interfaces("i-0pd")[0];
    assert_eq!(primary.secondary_ips, vec![held]);
    w.settle(&mut n);
    let ip = ok(n.assign(&mut w.vpc, "new", w.now));
    let primary = &w.vpc.instance_network_interfaces("i-0pd")[0];
    assert!(primary.ipv4_prefixes.iter().any(|p| p.contains_addr(ip)));
}

#[test]
fn ipamd_round_trips_through_json() {
    let mut w = World::new("10.0.0.0/24");
    let mut n = w.launch("i-0json", t3_small(), IpamdConfig::default());
    w.settle(&mut n);
    ok(n.assign(&mut w.vpc, "a", w.now));
    let json = serde_json::to_string(&n).unwrap_or_default();
    let back: Option<Ipamd> = serde_json::from_str(&json).ok();
    assert_eq!(back.as_ref(), Some(&n));
}

#[test]
fn max_eni_caps_the_enis_ipamd_attaches() {
    let mut w = World::new("10.0.0.0/24");
    let mut n = w.launch("i-0cap", t3_small(), config(|c| c.max_eni = Some(2)));
    w.settle(&mut n);
    for i in 0..6 {
        ok(n.assign(&mut w.vpc, &format!("p{i}"), w.now));
        w.settle(&mut n);
    }
    assert_eq!(per_eni(&n, w.now), vec![3, 3]);
    assert_eq!(n.assign(&mut w.vpc, "p6", w.now), Err(NoAddress));
}
