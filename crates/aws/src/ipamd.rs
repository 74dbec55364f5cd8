//! One node's VPC CNI IP address manager (ipamd, in the `aws-node` pod): a warm pool of
//! secondary IPs or `/28` prefixes on the instance's ENIs, kept to `WARM_ENI_TARGET`,
//! `WARM_IP_TARGET`/`MINIMUM_IP_TARGET` or `WARM_PREFIX_TARGET`, grown and shrunk through
//! the simulated EC2 ([`Vpc`]), and the addresses handed to pod sandboxes.
//!
//! A pure state machine: the caller drives it with the simulated time (`now`, since any
//! fixed epoch) and the VPC. The logic restates `aws/amazon-vpc-cni-k8s` (v1.23.1,
//! `pkg/ipamd/ipamd.go`, `pkg/ipamd/datastore/data_store.go`, `pkg/awsutils/awsutils.go`)
//! for the default network card in IPv4 mode. Where upstream iterates Go maps (random
//! order), this model is deterministic: ENIs by device index and addresses lowest first when
//! assigning, newest ENI and highest address first when releasing.

mod config;
mod datastore;
mod events;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::vpc::{
    AddressRequest, Cidr, Ec2Error, Ec2ErrorCode, EniId, InstanceNetworking, SubnetId, Vpc,
};

pub use config::{CustomNetwork, DEFAULT_ENI_CONFIG_LABEL, IpamdConfig};
pub use datastore::{AddressView, CidrView, EniView, PoolStats};
pub use events::IpamdEvent;

use datastore::{DsAddress, DsCidr, DsEni};

/// The CNI plugin's type as the container runtime names it in sandbox errors.
pub const CNI_PLUGIN_TYPE: &str = "aws-cni";
/// The CNI plugin's message when ipamd has no address for a new pod
/// (`cmd/routed-eni-cni-plugin/cni.go`, `add`).
pub const NO_ADDRESS_MESSAGE: &str = "add cmd: failed to assign an IP address to container";
/// The description the VPC CNI gives the ENIs it creates, before the instance id.
pub const ENI_DESCRIPTION_PREFIX: &str = "aws-K8S-";
/// Addresses in a delegated IPv4 prefix (a `/28`).
pub const IPS_PER_PREFIX: u32 = 16;
/// How long a new ENI is kept before it may be freed (`minENILifeTime`).
pub const MIN_ENI_LIFETIME: Duration = Duration::from_secs(60);
/// The least time between two pool decreases (`decreaseIPPoolInterval`).
pub const DECREASE_IP_POOL_INTERVAL: Duration = Duration::from_secs(30);
/// How long ipamd stops asking EC2 for addresses after the subnet ran out
/// (`insufficientCidrErrorCooldown`).
pub const INSUFFICIENT_CIDR_ERROR_COOLDOWN: Duration = Duration::from_secs(120);
/// How often ipamd checks its pool (`ipPoolMonitorInterval`); callers drive [`Ipamd::reconcile`]
/// at about this interval.
pub const IP_POOL_MONITOR_INTERVAL: Duration = Duration::from_secs(5);

/// What ipamd knows of its instance type: ENIs and IPv4 addresses per ENI on the default
/// network card, whether prefix delegation is possible, and the node's pod capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceLimits {
    /// The instance type (`m5.large`), for EC2's messages.
    pub instance_type: String,
    /// Network interfaces on the default network card.
    pub max_enis: u32,
    /// IPv4 addresses per interface (the primary address included).
    pub ipv4_per_eni: u32,
    /// Whether the type is Nitro-based (or bare metal): prefix delegation works only there.
    pub nitro: bool,
    /// The node's `status.capacity.pods`: ipamd stops growing its pool at this many IPs.
    pub max_pods: u32,
}

/// The CNI `ADD` found no address for the pod: the plugin's message, which the kubelet puts
/// in the `FailedCreatePodSandBox` event (`... plugin type="aws-cni" name="aws-cni" failed
/// (add): add cmd: failed to assign an IP address to container`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", NO_ADDRESS_MESSAGE)]
pub struct NoAddress;

/// One node's ipamd: its instance, configuration and datastore (ENIs, their addresses or
/// prefixes, and which sandbox holds each address). Serializes to JSON for persistence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ipamd {
    instance_id: String,
    primary_eni: EniId,
    limits: InstanceLimits,
    config: IpamdConfig,
    /// Prefix delegation in effect (configured, and the instance is Nitro).
    prefix_delegation: bool,
    enis: Vec<DsEni>,
    last_insufficient_cidr_error: Option<Duration>,
    last_decrease: Option<Duration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pending_events: Vec<IpamdEvent>,
}

impl Ipamd {
    /// ipamd for a freshly launched instance whose primary ENI (the node IP is its primary
    /// address) exists and carries no secondary addresses or prefixes yet.
    pub fn new(
        instance_id: &str,
        primary_eni: EniId,
        limits: InstanceLimits,
        config: IpamdConfig,
    ) -> Ipamd {
        let prefix_delegation = config.prefix_delegation && limits.nitro;
        let mut pending_events = Vec::new();
        if config.prefix_delegation && !limits.nitro {
            pending_events.push(IpamdEvent::PrefixDelegationUnsupported {
                instance_type: limits.instance_type.clone(),
            });
        }
        Ipamd {
            instance_id: instance_id.to_string(),
            enis: vec![DsEni {
                id: primary_eni.clone(),
                device_index: 0,
                primary: true,
                created_at: Duration::ZERO,
                cidrs: Vec::new(),
            }],
            primary_eni,
            limits,
            config,
            prefix_delegation,
            last_insufficient_cidr_error: None,
            last_decrease: None,
            pending_events,
        }
    }

    /// ipamd restarted (the `aws-node` pod replaced, e.g. after its environment changed):
    /// `nodeInit` rebuilds the datastore from the instance's ENIs in EC2, keeping the pods'
    /// addresses (the checkpoint file) and forgetting timers. ENIs count as new (their
    /// minimum lifetime restarts). Then, as upstream:
    /// - with prefix delegation on, secondary IPs no pod holds are unassigned from every ENI;
    ///   with it off, unused prefixes are;
    /// - with custom networking on, the primary ENI's prefixes are not read at all, but its
    ///   secondary IPs are: they stay in the pool and are still handed to pods, while new
    ///   addresses only go to ENIs in the ENIConfig subnet (AWS says to replace nodes when
    ///   turning custom networking on).
    pub fn restart(
        &mut self,
        vpc: &mut Vpc,
        limits: InstanceLimits,
        config: IpamdConfig,
        now: Duration,
    ) -> Vec<IpamdEvent> {
        let mut kept: BTreeMap<Ipv4Addr, DsAddress> = BTreeMap::new();
        for eni in &self.enis {
            for c in &eni.cidrs {
                kept.extend(c.addresses.iter().map(|(a, d)| (*a, d.clone())));
            }
        }
        let mut events = std::mem::take(&mut self.pending_events);
        self.prefix_delegation = config.prefix_delegation && limits.nitro;
        if config.prefix_delegation && !limits.nitro {
            events.push(IpamdEvent::PrefixDelegationUnsupported {
                instance_type: limits.instance_type.clone(),
            });
        }
        self.limits = limits;
        self.config = config;
        self.last_insufficient_cidr_error = None;
        self.last_decrease = None;
        let custom = self.config.custom_network_cfg;
        self.enis = vpc
            .instance_network_interfaces(&self.instance_id)
            .into_iter()
            .map(|e| {
                let device_index = e.attachment.as_ref().map_or(0, |a| a.device_index);
                let primary = device_index == 0;
                let mut cidrs: Vec<DsCidr> = e
                    .secondary_ips
                    .iter()
                    .map(|ip| DsCidr::new(Cidr::host(*ip), false))
                    .collect();
                if !(primary && custom) {
                    cidrs.extend(e.ipv4_prefixes.iter().map(|p| DsCidr::new(*p, true)));
                }
                for c in &mut cidrs {
                    for (a, d) in &kept {
                        if c.cidr.contains_addr(*a) {
                            c.addresses.insert(*a, d.clone());
                        }
                    }
                }
                cidrs.sort_by_key(|c| c.cidr);
                DsEni {
                    id: e.id.clone(),
                    device_index,
                    primary,
                    created_at: now,
                    cidrs,
                }
            })
            .collect();
        if let Some(p) = self.enis.iter().find(|e| e.primary) {
            self.primary_eni = p.id.clone();
        }
        // Secondary IPs after enabling prefix delegation, prefixes after disabling it.
        let drop_prefixes = !self.prefix_delegation;
        for i in 0..self.enis.len() {
            let eni_id = self.enis[i].id.clone();
            let freeable: Vec<Cidr> = self.enis[i]
                .cidrs
                .iter()
                .filter(|c| c.prefix == drop_prefixes && c.assigned() == 0)
                .map(|c| c.cidr)
                .collect();
            if freeable.is_empty() {
                continue;
            }
            self.enis[i].cidrs.retain(|c| !freeable.contains(&c.cidr));
            self.dealloc(vpc, &eni_id, &freeable, &mut events);
        }
        events
    }

    /// The instance this ipamd runs on.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The instance's primary ENI (its primary address is the node IP).
    pub fn primary_eni(&self) -> &EniId {
        &self.primary_eni
    }

    /// The instance limits in effect.
    pub fn limits(&self) -> &InstanceLimits {
        &self.limits
    }

    /// The configuration in effect.
    pub fn config(&self) -> &IpamdConfig {
        &self.config
    }

    /// Whether addresses come from `/28` prefixes (configured and the instance is Nitro).
    pub fn prefix_delegation(&self) -> bool {
        self.prefix_delegation
    }

    /// One pass of ipamd's pool manager (`updateIPPoolIfRequired`): grow the pool when it is
    /// below target (more addresses or prefixes on an ENI with room, else a new ENI, in the
    /// ENIConfig subnet with custom networking), shrink it when above `WARM_IP_TARGET`/
    /// `WARM_PREFIX_TARGET` (at most every 30 s), and free an unused ENI when one is not
    /// needed. Returns what happened, for logs and events.
    pub fn reconcile(&mut self, vpc: &mut Vpc, now: Duration) -> Vec<IpamdEvent> {
        let mut events = std::mem::take(&mut self.pending_events);
        let stats = self.stats(now);
        let mut scaled_down = false;
        if self.pool_too_low(&stats) {
            self.increase_pool(vpc, now, &mut events);
        } else if self.pool_too_high(&stats) && !self.skip_decrease(now) {
            scaled_down = true;
            self.decrease_pool(vpc, &mut events);
        }
        if self.should_remove_extra_enis(&stats) {
            self.try_free_eni(vpc, now, &mut events);
        }
        if scaled_down {
            self.last_decrease = Some(now);
        }
        events
    }

    /// The CNI `ADD`: the sandbox's address (the same one when asked again). Takes a free
    /// address that is not cooling down, ENIs by device index, lowest address first; when
    /// there is none, runs the pool-growth step once (as ipamd's 5 s loop would before the
    /// kubelet's retry) and tries again. Events of that growth come out of the next
    /// [`Ipamd::reconcile`].
    pub fn assign(
        &mut self,
        vpc: &mut Vpc,
        sandbox_key: &str,
        now: Duration,
    ) -> Result<Ipv4Addr, NoAddress> {
        if let Some(ip) = self.address_of(sandbox_key) {
            return Ok(ip);
        }
        if let Some(ip) = self.take_free(sandbox_key, now) {
            return Ok(ip);
        }
        let stats = self.stats(now);
        if self.pool_too_low(&stats) {
            let mut events = Vec::new();
            self.increase_pool(vpc, now, &mut events);
            self.pending_events.extend(events);
        }
        self.take_free(sandbox_key, now).ok_or(NoAddress)
    }

    /// Records that `sandbox_key` holds `ip`, as ipamd's checkpoint file restores the pods'
    /// addresses when it starts again (skiff restarted with pods running). `false` when no
    /// ENI of the node carries `ip`.
    pub fn adopt(&mut self, sandbox_key: &str, ip: Ipv4Addr) -> bool {
        for eni in &mut self.enis {
            for c in &mut eni.cidrs {
                if c.cidr.contains_addr(ip) {
                    c.addresses.insert(
                        ip,
                        DsAddress {
                            sandbox: Some(sandbox_key.to_string()),
                            unassigned_at: None,
                        },
                    );
                    return true;
                }
            }
        }
        false
    }

    /// The CNI `DEL`: the sandbox's address goes back to the pool and cools down for
    /// `IP_COOLDOWN_PERIOD` (30 s) before another pod may get it. Returns the address, or
    /// `None` for an unknown sandbox (not an error).
    pub fn release(&mut self, sandbox_key: &str, now: Duration) -> Option<Ipv4Addr> {
        for eni in &mut self.enis {
            for c in &mut eni.cidrs {
                for (a, d) in c.addresses.iter_mut() {
                    if d.sandbox.as_deref() == Some(sandbox_key) {
                        d.sandbox = None;
                        d.unassigned_at = Some(now);
                        return Some(*a);
                    }
                }
            }
        }
        None
    }

    /// The address a sandbox holds.
    pub fn address_of(&self, sandbox_key: &str) -> Option<Ipv4Addr> {
        self.enis.iter().flat_map(|e| &e.cidrs).find_map(|c| {
            c.addresses
                .iter()
                .find(|(_, d)| d.sandbox.as_deref() == Some(sandbox_key))
                .map(|(a, _)| *a)
        })
    }

    /// The pool's counts as ipamd reports them: addresses of the mode in use (secondary IPs,
    /// or prefixes' addresses), assigned, cooling, and available (= total − assigned; cooling
    /// addresses count as available for the warm targets, as upstream).
    pub fn stats(&self, now: Duration) -> PoolStats {
        let mut s = PoolStats {
            enis: self.enis.len() as u32,
            ..PoolStats::default()
        };
        for c in self.enis.iter().flat_map(|e| &e.cidrs) {
            if c.prefix {
                s.total_prefixes += 1;
            }
            if c.prefix == self.prefix_delegation {
                s.total_ips += c.size();
                s.assigned_ips += c.assigned();
                s.cooling_ips += c.cooling(now, self.config.ip_cooldown_period);
            }
        }
        s.available_ips = s.total_ips - s.assigned_ips;
        s
    }

    /// The datastore for display: each ENI with its addresses or prefixes and who holds what.
    pub fn enis(&self, now: Duration) -> Vec<EniView> {
        self.enis
            .iter()
            .map(|e| e.view(now, self.config.ip_cooldown_period))
            .collect()
    }

    // ---- pool sizing (ipamd.go) ----

    fn max_cidrs_per_eni(&self) -> u32 {
        self.limits.ipv4_per_eni.saturating_sub(1)
    }

    /// `maxIPsPerENI`: secondary IPs per ENI, or prefixes × 16 with prefix delegation.
    fn max_ips_per_eni(&self) -> i64 {
        let per = i64::from(self.max_cidrs_per_eni());
        if self.prefix_delegation {
            per * i64::from(IPS_PER_PREFIX)
        } else {
            per
        }
    }

    fn max_eni(&self) -> u32 {
        match self.config.max_eni {
            Some(m) if m >= 1 && m < self.limits.max_enis => m,
            _ => self.limits.max_enis,
        }
    }

    fn warm_ip_targets_defined(&self) -> bool {
        self.config.warm_ip_target.is_some() || self.config.minimum_ip_target.is_some()
    }

    fn free_prefixes(&self) -> i64 {
        self.enis
            .iter()
            .flat_map(|e| &e.cidrs)
            .filter(|c| c.prefix && c.assigned() == 0)
            .count() as i64
    }

    /// `datastoreTargetState`: addresses (prefixes with prefix delegation) short of and over
    /// `WARM_IP_TARGET`/`MINIMUM_IP_TARGET`, and whether those targets are set.
    fn target_state(&self, stats: &PoolStats) -> (i64, i64, bool) {
        if !self.warm_ip_targets_defined() {
            return (0, 0, false);
        }
        let warm = i64::from(self.config.warm_ip_target.unwrap_or(0));
        let min = i64::from(self.config.minimum_ip_target.unwrap_or(0));
        let total = i64::from(stats.total_ips);
        let available = i64::from(stats.available_ips);
        let short = (warm - available).max(0).max(min - total);
        let over = (available - warm).max(0).min(total - min).max(0);
        if self.prefix_delegation {
            let per = i64::from(IPS_PER_PREFIX);
            let short_prefix = div_ceil(short, per);
            let for_warm = div_ceil(i64::from(stats.assigned_ips) + warm, per);
            let for_min = div_ceil(min, per);
            let total_prefixes = i64::from(stats.total_prefixes);
            let over_prefix = self
                .free_prefixes()
                .min(total_prefixes - for_warm)
                .max(0)
                .min(total_prefixes - for_min)
                .max(0);
            return (short_prefix, over_prefix, true);
        }
        (short, over, true)
    }

    /// `isDatastorePoolTooLow`.
    fn pool_too_low(&self, stats: &PoolStats) -> bool {
        if stats.total_ips >= self.limits.max_pods {
            return false;
        }
        let (short, _, defined) = self.target_state(stats);
        if defined {
            return short > 0;
        }
        let available = i64::from(stats.available_ips);
        let (warm, per) = if self.prefix_delegation {
            (
                i64::from(self.config.warm_prefix_target),
                i64::from(IPS_PER_PREFIX),
            )
        } else {
            (
                i64::from(self.config.warm_eni_target),
                self.max_ips_per_eni(),
            )
        };
        available < per * warm || (warm == 0 && available == 0)
    }

    /// `isDatastorePoolTooHigh`.
    fn pool_too_high(&self, stats: &PoolStats) -> bool {
        let (_, over, defined) = self.target_state(stats);
        if defined {
            return over > 0;
        }
        self.prefix_delegation && self.free_prefixes() > i64::from(self.config.warm_prefix_target)
    }

    fn skip_decrease(&self, now: Duration) -> bool {
        self.last_decrease
            .is_some_and(|t| now.saturating_sub(t) <= DECREASE_IP_POOL_INTERVAL)
    }

    /// `getPrefixesNeeded`.
    fn prefixes_needed(&self, now: Duration) -> i64 {
        let (short, _, ip_defined) = self.target_state(&self.stats(now));
        if ip_defined {
            return short.max(1);
        }
        if self.prefix_delegation {
            let short_prefixes =
                (i64::from(self.config.warm_prefix_target) - self.free_prefixes()).max(0);
            return short_prefixes.max(1);
        }
        1
    }

    /// `increaseDatastorePool`.
    fn increase_pool(&mut self, vpc: &mut Vpc, now: Duration, events: &mut Vec<IpamdEvent>) {
        if self
            .last_insufficient_cidr_error
            .is_some_and(|t| now.saturating_sub(t) <= INSUFFICIENT_CIDR_ERROR_COOLDOWN)
        {
            return;
        }
        match self.try_assign_cidrs(vpc, now, events) {
            Err(e) => {
                if e.is_subnet_exhausted() {
                    self.last_insufficient_cidr_error = Some(now);
                }
            }
            Ok(true) => {}
            Ok(false) => {
                if self.has_room_for_eni() {
                    self.try_allocate_eni(vpc, now, events);
                }
            }
        }
    }

    /// `tryAssignIPs` / `tryAssignPrefixes`: more addresses (prefixes) on the first ENI with
    /// room, all it can take up to the target; on failure, one; `Ok(false)` when no ENI has
    /// room.
    fn try_assign_cidrs(
        &mut self,
        vpc: &mut Vpc,
        now: Duration,
        events: &mut Vec<IpamdEvent>,
    ) -> Result<bool, Ec2Error> {
        let to_allocate = if self.prefix_delegation {
            self.prefixes_needed(now)
        } else {
            let (short, _, defined) = self.target_state(&self.stats(now));
            if defined && short == 0 {
                return Ok(false);
            }
            if defined {
                short
            } else {
                self.max_ips_per_eni()
            }
        };
        let max = self.max_cidrs_per_eni();
        let skip_primary = self.config.custom_network_cfg;
        let candidates: Vec<(usize, u32)> = self
            .enis
            .iter()
            .enumerate()
            .filter(|(_, e)| !(skip_primary && e.primary) && (e.cidrs.len() as u32) < max)
            .map(|(i, e)| (i, e.cidrs.len() as u32))
            .collect();
        for (i, have) in candidates {
            let eni_id = self.enis[i].id.clone();
            let want = i64::from(max - have).min(to_allocate).max(1) as u32;
            let mut result = self.ec2_assign(vpc, &eni_id, want);
            if let Err(e) = &result
                && e.code != Ec2ErrorCode::PrivateIpAddressLimitExceeded
            {
                events.push(IpamdEvent::Ec2CallFailed {
                    operation: "AssignPrivateIpAddresses".to_string(),
                    eni: Some(eni_id.clone()),
                    requested: want,
                    error: e.clone(),
                });
                result = self.ec2_assign(vpc, &eni_id, 1);
                if let Err(e) = &result
                    && e.code != Ec2ErrorCode::PrivateIpAddressLimitExceeded
                {
                    events.push(IpamdEvent::Ec2CallFailed {
                        operation: "AssignPrivateIpAddresses".to_string(),
                        eni: Some(eni_id.clone()),
                        requested: 1,
                        error: e.clone(),
                    });
                    if self.config.subnet_discovery && e.is_subnet_exhausted() {
                        continue;
                    }
                    return Err(e.clone());
                }
            }
            match result {
                Ok(cidrs) => {
                    events.push(if self.prefix_delegation {
                        IpamdEvent::PrefixesAllocated {
                            eni: eni_id.clone(),
                            prefixes: cidrs.clone(),
                        }
                    } else {
                        IpamdEvent::IpsAllocated {
                            eni: eni_id.clone(),
                            ips: cidrs.iter().map(|c| c.network()).collect(),
                        }
                    });
                    self.enis[i].add_cidrs(&cidrs, self.prefix_delegation);
                }
                Err(_) => {
                    // PrivateIpAddressLimitExceeded: the datastore was behind EC2; take
                    // EC2's view of the ENI.
                    self.sync_eni_from_ec2(vpc, i);
                }
            }
            return Ok(true);
        }
        Ok(false)
    }

    fn ec2_assign(&self, vpc: &mut Vpc, eni: &EniId, count: u32) -> Result<Vec<Cidr>, Ec2Error> {
        if self.prefix_delegation {
            vpc.assign_ipv4_prefixes(eni, count)
        } else {
            vpc.assign_private_ip_addresses(eni, count)
                .map(|ips| ips.into_iter().map(Cidr::host).collect())
        }
    }

    fn sync_eni_from_ec2(&mut self, vpc: &Vpc, i: usize) {
        let Ok(e) = vpc.network_interface(&self.enis[i].id) else {
            return;
        };
        let ips: Vec<Cidr> = e.secondary_ips.iter().map(|ip| Cidr::host(*ip)).collect();
        let prefixes = e.ipv4_prefixes.clone();
        self.enis[i].add_cidrs(&ips, false);
        self.enis[i].add_cidrs(&prefixes, true);
    }

    /// `hasRoomForEni`.
    fn has_room_for_eni(&self) -> bool {
        (self.enis.len() as u32) < self.max_eni()
    }

    /// `tryAllocateENI`: create an ENI with the addresses (prefixes) the targets call for,
    /// in the node's subnet or the ENIConfig subnet, and attach it at the lowest free device
    /// index.
    fn try_allocate_eni(&mut self, vpc: &mut Vpc, now: Duration, events: &mut Vec<IpamdEvent>) {
        let subnet: SubnetId = if self.config.custom_network_cfg {
            match &self.config.custom_networking {
                Some(c) => c.subnet.clone(),
                None => {
                    events.push(IpamdEvent::NoEniConfig);
                    return;
                }
            }
        } else {
            match vpc.network_interface(&self.primary_eni) {
                Ok(e) => e.subnet_id.clone(),
                Err(e) => {
                    events.push(IpamdEvent::Ec2CallFailed {
                        operation: "DescribeNetworkInterfaces".to_string(),
                        eni: Some(self.primary_eni.clone()),
                        requested: 0,
                        error: e,
                    });
                    return;
                }
            }
        };
        let resources = if self.prefix_delegation {
            self.prefixes_needed(now)
                .min(i64::from(self.max_cidrs_per_eni()))
        } else {
            let (short, _, defined) = self.target_state(&self.stats(now));
            let max = self.max_ips_per_eni();
            if defined { short.min(max) } else { max }
        };
        if resources <= 0 {
            return;
        }
        // createENI caps the request at the per-ENI limit.
        let need = (resources as u32).min(self.max_cidrs_per_eni());
        let request = if self.prefix_delegation {
            AddressRequest::Ipv4Prefixes(need)
        } else {
            AddressRequest::SecondaryIps(need)
        };
        let description = format!("{ENI_DESCRIPTION_PREFIX}{}", self.instance_id);
        let eni_id = match vpc.create_network_interface_with(&subnet, &description, request) {
            Ok(id) => id,
            Err(e) => {
                if e.is_subnet_exhausted() {
                    self.last_insufficient_cidr_error = Some(now);
                }
                events.push(IpamdEvent::Ec2CallFailed {
                    operation: "CreateNetworkInterface".to_string(),
                    eni: None,
                    requested: need,
                    error: e,
                });
                return;
            }
        };
        let device_index = vpc.free_device_index(&self.instance_id);
        let instance = InstanceNetworking {
            instance_id: self.instance_id.clone(),
            instance_type: self.limits.instance_type.clone(),
            max_enis: self.limits.max_enis,
            ipv4_per_eni: self.limits.ipv4_per_eni,
        };
        if let Err(e) = vpc.attach(&eni_id, &instance, device_index) {
            // The VPC CNI deletes the ENI it could not attach.
            let _ = vpc.delete_network_interface(&eni_id);
            events.push(IpamdEvent::Ec2CallFailed {
                operation: "AttachNetworkInterface".to_string(),
                eni: Some(eni_id),
                requested: 0,
                error: e,
            });
            return;
        }
        let (ips, prefixes) = match vpc.network_interface(&eni_id) {
            Ok(e) => (e.secondary_ips.clone(), e.ipv4_prefixes.clone()),
            Err(_) => (Vec::new(), Vec::new()),
        };
        let mut eni = DsEni {
            id: eni_id.clone(),
            device_index,
            primary: false,
            created_at: now,
            cidrs: Vec::new(),
        };
        eni.add_cidrs(
            &ips.iter().map(|ip| Cidr::host(*ip)).collect::<Vec<_>>(),
            false,
        );
        eni.add_cidrs(&prefixes, true);
        self.enis.push(eni);
        self.enis.sort_by_key(|e| e.device_index);
        events.push(IpamdEvent::EniAttached {
            eni: eni_id,
            subnet,
            device_index,
            ips,
            prefixes,
        });
    }

    /// `decreaseDatastorePool` (`tryUnassignCidrsFromAll`): release addresses (prefixes)
    /// over the target that no pod holds.
    fn decrease_pool(&mut self, vpc: &mut Vpc, events: &mut Vec<IpamdEvent>) {
        let stats = self.stats(Duration::ZERO);
        let (_, mut over, defined) = self.target_state(&stats);
        if !defined {
            over = if self.prefix_delegation {
                (self.free_prefixes() - i64::from(self.config.warm_prefix_target)).max(0)
            } else {
                0
            };
        }
        if over <= 0 {
            return;
        }
        for i in (0..self.enis.len()).rev() {
            let eni_id = self.enis[i].id.clone();
            let freeable: Vec<Cidr> = self.enis[i]
                .cidrs
                .iter()
                .rev()
                .filter(|c| c.assigned() == 0)
                .take(over as usize)
                .map(|c| c.cidr)
                .collect();
            if freeable.is_empty() {
                continue;
            }
            self.enis[i].cidrs.retain(|c| !freeable.contains(&c.cidr));
            over -= freeable.len() as i64;
            self.dealloc(vpc, &eni_id, &freeable, events);
            if over <= 0 {
                break;
            }
        }
    }

    fn dealloc(&self, vpc: &mut Vpc, eni: &EniId, cidrs: &[Cidr], events: &mut Vec<IpamdEvent>) {
        let (prefixes, ips): (Vec<Cidr>, Vec<Cidr>) =
            cidrs.iter().partition(|c| c.prefix_len() < 32);
        let ips: Vec<Ipv4Addr> = ips.iter().map(|c| c.network()).collect();
        if !prefixes.is_empty() {
            match vpc.unassign_ipv4_prefixes(eni, &prefixes) {
                Ok(()) => events.push(IpamdEvent::PrefixesReleased {
                    eni: eni.clone(),
                    prefixes,
                }),
                Err(e) => events.push(IpamdEvent::Ec2CallFailed {
                    operation: "UnassignPrivateIpAddresses".to_string(),
                    eni: Some(eni.clone()),
                    requested: 0,
                    error: e,
                }),
            }
        }
        if !ips.is_empty() {
            match vpc.unassign_private_ip_addresses(eni, &ips) {
                Ok(()) => events.push(IpamdEvent::IpsReleased {
                    eni: eni.clone(),
                    ips,
                }),
                Err(e) => events.push(IpamdEvent::Ec2CallFailed {
                    operation: "UnassignPrivateIpAddresses".to_string(),
                    eni: Some(eni.clone()),
                    requested: 0,
                    error: e,
                }),
            }
        }
    }

    /// `shouldRemoveExtraENIs`.
    fn should_remove_extra_enis(&self, stats: &PoolStats) -> bool {
        if self.warm_ip_targets_defined() {
            return true;
        }
        let warm = if self.prefix_delegation {
            self.config.warm_prefix_target
        } else {
            self.config.warm_eni_target
        };
        let extra =
            i64::from(stats.available_ips) >= (i64::from(warm) + 1) * self.max_ips_per_eni();
        if extra {
            return true;
        }
        // CheckFreeableENIexists
        self.prefix_delegation && self.enis.iter().any(|e| !e.primary && e.assigned() == 0)
    }

    /// `tryFreeENI`: free one ENI no pod uses, old enough, with nothing cooling, and not
    /// needed for the warm targets (`getDeletableENI`).
    fn try_free_eni(&mut self, vpc: &mut Vpc, now: Duration, events: &mut Vec<IpamdEvent>) {
        let cooldown = self.config.ip_cooldown_period;
        let warm_ip = i64::from(self.config.warm_ip_target.unwrap_or(0));
        let min_ip = i64::from(self.config.minimum_ip_target.unwrap_or(0));
        let warm_prefix = i64::from(self.config.warm_prefix_target);
        let per = i64::from(IPS_PER_PREFIX);
        let round = |n: i64| {
            if self.prefix_delegation {
                div_ceil(n, per) * per
            } else {
                n
            }
        };
        let pd = self.prefix_delegation;
        let deletable = self.enis.iter().enumerate().rev().find(|(i, e)| {
            if e.primary
                || now.saturating_sub(e.created_at) < MIN_ENI_LIFETIME
                || e.has_cooling(now, cooldown)
                || e.assigned() > 0
            {
                return false;
            }
            let others = self
                .enis
                .iter()
                .enumerate()
                .filter(|(j, _)| j != i)
                .flat_map(|(_, o)| &o.cidrs);
            let mode = |c: &&DsCidr| c.prefix == pd;
            let other_free: i64 = others
                .clone()
                .filter(mode)
                .map(|c| i64::from(c.size() - c.assigned()))
                .sum();
            let other_total: i64 = others
                .clone()
                .filter(mode)
                .map(|c| i64::from(c.size()))
                .sum();
            let other_free_prefixes = others.filter(|c| c.assigned() == 0).count() as i64;
            if warm_ip != 0 && other_free < round(warm_ip) {
                return false;
            }
            if min_ip != 0 && other_total < round(min_ip) {
                return false;
            }
            if pd && warm_prefix != 0 && other_free_prefixes < warm_prefix {
                return false;
            }
            true
        });
        let Some((i, _)) = deletable else {
            return;
        };
        let eni = self.enis.remove(i);
        let result = vpc
            .detach(&eni.id)
            .and_then(|()| vpc.delete_network_interface(&eni.id));
        match result {
            Ok(()) => events.push(IpamdEvent::EniFreed { eni: eni.id }),
            Err(e) => events.push(IpamdEvent::Ec2CallFailed {
                operation: "DeleteNetworkInterface".to_string(),
                eni: Some(eni.id),
                requested: 0,
                error: e,
            }),
        }
    }

    /// `AssignPodIPv4Address`: the lowest address neither assigned nor cooling, ENIs by
    /// device index.
    fn take_free(&mut self, sandbox_key: &str, now: Duration) -> Option<Ipv4Addr> {
        let cooldown = self.config.ip_cooldown_period;
        let pd = self.prefix_delegation;
        for eni in &mut self.enis {
            for c in eni.cidrs.iter_mut().filter(|c| c.prefix == pd) {
                if let Some(a) = c.free_address(now, cooldown) {
                    c.addresses.insert(
                        a,
                        DsAddress {
                            sandbox: Some(sandbox_key.to_string()),
                            unassigned_at: None,
                        },
                    );
                    return Some(a);
                }
            }
        }
        None
    }
}

fn div_ceil(x: i64, y: i64) -> i64 {
    (x + y - 1).div_euclid(y)
}

#[cfg(test)]
mod tests;
