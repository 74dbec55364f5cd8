//! [`HostLocalNetwork`]: the generic cluster's pod network, as the CNI `host-local` IPAM
//! plugin allocates it: per node, addresses from the node's `spec.podCIDR` (network + 2 on,
//! the first host address being the gateway), handed out round robin, released on teardown,
//! and an error when the range is full.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

use api::cni::{NetworkError, NetworkFuture, PodNetwork, Sandbox};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

const PLUGIN: &str = "host-local";

/// Per-node address allocation from each node's `spec.podCIDR` (read from the API the first
/// time a node sets up a sandbox, together with the addresses its unfinished pods already
/// hold, which stay theirs).
pub struct HostLocalNetwork {
    client: Client,
    nodes: Mutex<HashMap<String, NodeRange>>,
}

impl std::fmt::Debug for HostLocalNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostLocalNetwork").finish_non_exhaustive()
    }
}

/// One node's address range and its allocations.
#[derive(Debug, Clone)]
pub struct NodeRange {
    v6: bool,
    first: u128,
    last: u128,
    next: u128,
    used: BTreeSet<u128>,
    by_sandbox: HashMap<String, u128>,
}

impl NodeRange {
    /// The range of `cidr` (e.g. `10.0.1.0/24`).
    pub fn parse(cidr: &str) -> Result<NodeRange, String> {
        let (addr, len) = cidr
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR address: {cidr}"))?;
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("invalid CIDR address: {cidr}"))?;
        let len: u32 = len
            .parse()
            .map_err(|_| format!("invalid CIDR address: {cidr}"))?;
        let (v6, bits, value) = match ip {
            IpAddr::V4(a) => (false, 32u32, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, 128u32, u128::from(a)),
        };
        if len > bits || bits - len < 2 {
            return Err(format!("invalid CIDR address: {cidr}"));
        }
        let host_bits = bits - len;
        let mask = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        let network = value & !mask;
        let broadcast = network | mask;
        let first = network + 2;
        let last = if v6 { broadcast } else { broadcast - 1 };
        Ok(NodeRange {
            v6,
            first,
            last,
            next: first,
            used: BTreeSet::new(),
            by_sandbox: HashMap::new(),
        })
    }

    fn ip(&self, v: u128) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(v))
        } else {
            IpAddr::V4(Ipv4Addr::from(v as u32))
        }
    }

    /// Allocates an address for `sandbox` (the same one again if it has one).
    pub fn allocate(&mut self, sandbox: &str) -> Result<IpAddr, String> {
        if let Some(v) = self.by_sandbox.get(sandbox) {
            return Ok(self.ip(*v));
        }
        let size = self.last - self.first + 1;
        let mut candidate = self.next;
        for _ in 0..size.min(1 << 20) {
            if !self.used.contains(&candidate) {
                self.used.insert(candidate);
                self.by_sandbox.insert(sandbox.to_string(), candidate);
                self.next = if candidate >= self.last {
                    self.first
                } else {
                    candidate + 1
                };
                return Ok(self.ip(candidate));
            }
            candidate = if candidate >= self.last {
                self.first
            } else {
                candidate + 1
            };
        }
        Err(format!(
            "failed to allocate for range 0: no IP addresses available in range set: {}-{}",
            self.ip(self.first - 1),
            self.ip(self.last)
        ))
    }

    /// Records that `sandbox` already holds `ip` (a pod found running after a restart);
    /// `false` when the address is outside the range or taken.
    pub fn reserve(&mut self, sandbox: &str, ip: IpAddr) -> bool {
        let v = match (ip, self.v6) {
            (IpAddr::V4(a), false) => u128::from(u32::from(a)),
            (IpAddr::V6(a), true) => u128::from(a),
            _ => return false,
        };
        if v < self.first || v > self.last || self.used.contains(&v) {
            return false;
        }
        self.used.insert(v);
        self.by_sandbox.insert(sandbox.to_string(), v);
        true
    }

    /// Releases `sandbox`'s address.
    pub fn release(&mut self, sandbox: &str) {
        if let Some(v) = self.by_sandbox.remove(sandbox) {
            self.used.remove(&v);
        }
    }
}

impl HostLocalNetwork {
    /// A network that reads each node's `spec.podCIDR` through `client`.
    pub fn new(client: Client) -> HostLocalNetwork {
        HostLocalNetwork {
            client,
            nodes: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, NodeRange>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn range_for(&self, node: &str) -> Result<(), NetworkError> {
        if self.lock().contains_key(node) {
            return Ok(());
        }
        let err = |message: String| NetworkError {
            plugin: PLUGIN.into(),
            message,
        };
        let n = Api::<Node>::all(self.client.clone())
            .get(node)
            .await
            .map_err(|e| err(format!("failed to read node {node}: {e}")))?;
        let cidr = n
            .spec
            .and_then(|s| s.pod_cidr)
            .ok_or_else(|| err("no IP ranges specified".into()))?;
        let mut range = NodeRange::parse(&cidr).map_err(err)?;
        // Addresses the node's running pods already hold (skiff restarted) stay theirs.
        let pods: Api<Pod> = Api::all(self.client.clone());
        let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
        let list = pods
            .list(&lp)
            .await
            .map_err(|e| err(format!("failed to list the pods of node {node}: {e}")))?;
        for p in list.items {
            let finished = matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            );
            let host = p
                .spec
                .as_ref()
                .and_then(|s| s.host_network)
                .unwrap_or(false);
            let ip = p
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.as_deref())
                .and_then(|ip| ip.parse().ok());
            if let (false, false, Some(ip), Some(uid)) = (finished, host, ip, p.uid()) {
                range.reserve(&uid, ip);
            }
        }
        self.lock().entry(node.to_string()).or_insert(range);
        Ok(())
    }
}

impl PodNetwork for HostLocalNetwork {
    fn setup<'a>(
        &'a self,
        sandbox: &'a Sandbox,
    ) -> NetworkFuture<'a, Result<Vec<IpAddr>, NetworkError>> {
        Box::pin(async move {
            self.range_for(&sandbox.node).await?;
            let mut nodes = self.lock();
            let range = nodes.get_mut(&sandbox.node).ok_or_else(|| NetworkError {
                plugin: PLUGIN.into(),
                message: "no IP ranges specified".into(),
            })?;
            range
                .allocate(&sandbox.pod_uid)
                .map(|ip| vec![ip])
                .map_err(|message| NetworkError {
                    plugin: PLUGIN.into(),
                    message,
                })
        })
    }

    fn teardown<'a>(&'a self, sandbox: &'a Sandbox) -> NetworkFuture<'a, ()> {
        Box::pin(async move {
            if let Some(r) = self.lock().get_mut(&sandbox.node) {
                r.release(&sandbox.pod_uid);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_from_network_plus_two_and_reuses_released_addresses_last() {
        let mut r = NodeRange::parse("10.0.1.0/29").unwrap();
        let got: Vec<String> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|s| r.allocate(s).unwrap().to_string())
            .collect();
        assert_eq!(
            got,
            vec!["10.0.1.2", "10.0.1.3", "10.0.1.4", "10.0.1.5", "10.0.1.6"]
        );
        assert_eq!(
            r.allocate("a").unwrap().to_string(),
            "10.0.1.2",
            "same sandbox, same ip"
        );
        assert_eq!(
            r.allocate("f").unwrap_err(),
            "failed to allocate for range 0: no IP addresses available in range set: 10.0.1.1-10.0.1.6"
        );
        r.release("c");
        assert_eq!(r.allocate("f").unwrap().to_string(), "10.0.1.4");
        let mut r = NodeRange::parse("10.0.1.0/29").unwrap();
        assert!(r.reserve("kept", "10.0.1.2".parse().unwrap()));
        assert!(!r.reserve("other", "10.0.1.2".parse().unwrap()), "taken");
        assert!(!r.reserve("outside", "10.0.2.2".parse().unwrap()));
        assert_eq!(r.allocate("kept").unwrap().to_string(), "10.0.1.2");
        assert_eq!(r.allocate("new").unwrap().to_string(), "10.0.1.3");
    }

    #[test]
    fn bad_cidrs_are_refused() {
        for c in ["10.0.0.0", "10.0.0.0/31", "x/24", "10.0.0.0/33"] {
            assert!(NodeRange::parse(c).is_err(), "{c}");
        }
        assert!(NodeRange::parse("fd00::/120").is_ok());
    }
}
