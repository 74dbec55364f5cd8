//! The VPC as EC2 models it (IPv4 only): the VPC's CIDR blocks, subnets per availability
//! zone with the five addresses AWS reserves in each, ENIs with a primary and secondary
//! private IPs and `/28` prefixes, their attachment to instances, and EC2's error codes and
//! messages when a request breaks a rule or a subnet or an instance runs out.
//!
//! Everything is deterministic: ids come from a seed, and where EC2 picks "an available
//! address" this model picks the lowest available one (and the lowest wholly free aligned
//! `/28` for a prefix).

mod cidr;
mod error;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

pub use cidr::{Cidr, CidrError};
pub use error::{Ec2Error, Ec2ErrorCode};

/// The smallest VPC or subnet block EC2 accepts (`/16`).
pub const MIN_BLOCK_PREFIX: u8 = 16;
/// The largest prefix length (smallest block) EC2 accepts for a VPC or subnet (`/28`).
pub const MAX_BLOCK_PREFIX: u8 = 28;
/// How many IPv4 CIDR blocks a VPC may have by default (the primary and four more); the
/// quota "IPv4 CIDR blocks per VPC" is adjustable up to 50.
pub const DEFAULT_MAX_CIDR_BLOCKS: u32 = 5;
/// Addresses AWS reserves in every subnet: the first four and the last.
pub const RESERVED_ADDRESSES_PER_SUBNET: u64 = 5;
/// The prefix length of an IPv4 prefix delegated to an ENI.
pub const IPV4_PREFIX_LEN: u8 = 28;

/// A VPC id (`vpc-0123456789abcdef0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VpcId(pub String);

/// A subnet id (`subnet-0123456789abcdef0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SubnetId(pub String);

/// A network interface (ENI) id (`eni-0123456789abcdef0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EniId(pub String);

macro_rules! id_display {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl $t {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    )*};
}
id_display!(VpcId, SubnetId, EniId);

/// A subnet: one CIDR block of the VPC in one availability zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    /// The subnet's id.
    pub id: SubnetId,
    /// The availability zone name (`us-west-2a`).
    pub availability_zone: String,
    /// The availability zone id (`usw2-az1`).
    pub availability_zone_id: String,
    /// The subnet's IPv4 block.
    pub cidr: Cidr,
    /// Whether instances launched here get a public IPv4 address (`MapPublicIpOnLaunch`).
    pub map_public_ip_on_launch: bool,
}

/// An ENI's attachment to an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// The instance the ENI is attached to.
    pub instance_id: String,
    /// The instance's type (for EC2's `AttachmentLimitExceeded` message).
    pub instance_type: String,
    /// The device index (0 is the primary ENI).
    pub device_index: u32,
    /// IPv4 addresses per interface for the instance type: the primary address, every
    /// secondary address and every `/28` prefix count against it.
    pub ipv4_per_eni: u32,
}

/// A network interface (ENI): a primary private IPv4 address, secondary addresses and
/// delegated `/28` prefixes, all from its subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    /// The ENI's id.
    pub id: EniId,
    /// The subnet its addresses come from.
    pub subnet_id: SubnetId,
    /// The description (the VPC CNI writes `aws-K8S-<instance id>`).
    pub description: String,
    /// The primary private IPv4 address (a node's IP when this is its primary ENI).
    pub primary_ip: Ipv4Addr,
    /// Secondary private IPv4 addresses, in the order they were assigned.
    pub secondary_ips: Vec<Ipv4Addr>,
    /// Delegated IPv4 prefixes (`/28`), in the order they were assigned.
    pub ipv4_prefixes: Vec<Cidr>,
    /// The attachment, when attached to an instance.
    pub attachment: Option<Attachment>,
}

impl NetworkInterface {
    /// How many entries count against the per-interface IPv4 limit: the primary address,
    /// every secondary address and every prefix.
    pub fn ipv4_entries(&self) -> u32 {
        1 + self.secondary_ips.len() as u32 + self.ipv4_prefixes.len() as u32
    }

    fn used_addresses(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::once(u32::from(self.primary_ip))
            .chain(self.secondary_ips.iter().map(|a| u32::from(*a)))
            .chain(self.ipv4_prefixes.iter().flat_map(|p| {
                let start = u32::from(p.network());
                (0..p.size() as u32).map(move |i| start + i)
            }))
    }
}

/// What an instance brings to an ENI attachment: its id and type, and its type's ENI and
/// per-ENI IPv4 limits (from the instance-type catalog).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceNetworking {
    /// The instance id (`i-0123456789abcdef0`).
    pub instance_id: String,
    /// The instance type (`m5.large`).
    pub instance_type: String,
    /// Network interfaces the instance can have (default network card).
    pub max_enis: u32,
    /// IPv4 addresses per interface.
    pub ipv4_per_eni: u32,
}

/// What to give a new ENI besides its primary address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRequest {
    /// Only the primary address.
    None,
    /// This many secondary addresses (`SecondaryPrivateIpAddressCount`).
    SecondaryIps(u32),
    /// This many `/28` prefixes (`Ipv4PrefixCount`).
    Ipv4Prefixes(u32),
}

/// A VPC: its IPv4 CIDR blocks, subnets and network interfaces. Serializes whole to JSON so
/// it can be persisted and reloaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "VpcRecord")]
pub struct Vpc {
    id: VpcId,
    cidr_blocks: Vec<Cidr>,
    max_cidr_blocks: u32,
    subnets: BTreeMap<SubnetId, Subnet>,
    network_interfaces: BTreeMap<EniId, NetworkInterface>,
    id_state: u64,
    /// Instance id → the ENIs attached to it (derived from `network_interfaces`, so a pod's
    /// address lookup does not scan every ENI of the VPC).
    #[serde(skip)]
    attached: BTreeMap<String, BTreeSet<EniId>>,
}

/// A [`Vpc`] as stored: its fields without the derived index.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VpcRecord {
    id: VpcId,
    cidr_blocks: Vec<Cidr>,
    max_cidr_blocks: u32,
    subnets: BTreeMap<SubnetId, Subnet>,
    network_interfaces: BTreeMap<EniId, NetworkInterface>,
    id_state: u64,
}

impl From<VpcRecord> for Vpc {
    fn from(r: VpcRecord) -> Vpc {
        let mut attached: BTreeMap<String, BTreeSet<EniId>> = BTreeMap::new();
        for e in r.network_interfaces.values() {
            if let Some(a) = &e.attachment {
                attached
                    .entry(a.instance_id.clone())
                    .or_default()
                    .insert(e.id.clone());
            }
        }
        Vpc {
            id: r.id,
            cidr_blocks: r.cidr_blocks,
            max_cidr_blocks: r.max_cidr_blocks,
            subnets: r.subnets,
            network_interfaces: r.network_interfaces,
            id_state: r.id_state,
            attached,
        }
    }
}

impl Vpc {
    /// Creates a VPC with `primary_cidr` (`/16` to `/28`); ids of the VPC and of everything
    /// created in it derive from `id_seed`.
    pub fn new(id_seed: u64, primary_cidr: Cidr) -> Result<Vpc, Ec2Error> {
        if !(MIN_BLOCK_PREFIX..=MAX_BLOCK_PREFIX).contains(&primary_cidr.prefix_len()) {
            return Err(Ec2Error::invalid_vpc_range(&primary_cidr));
        }
        let mut vpc = Vpc {
            id: VpcId(String::new()),
            cidr_blocks: vec![primary_cidr],
            max_cidr_blocks: DEFAULT_MAX_CIDR_BLOCKS,
            subnets: BTreeMap::new(),
            network_interfaces: BTreeMap::new(),
            id_state: id_seed,
            attached: BTreeMap::new(),
        };
        vpc.id = VpcId(vpc.next_id("vpc"));
        Ok(vpc)
    }

    /// The VPC's id.
    pub fn id(&self) -> &VpcId {
        &self.id
    }

    /// The VPC's IPv4 CIDR blocks, the primary first.
    pub fn cidr_blocks(&self) -> &[Cidr] {
        &self.cidr_blocks
    }

    /// Raises or lowers the "IPv4 CIDR blocks per VPC" quota (default 5, AWS allows up to 50).
    pub fn set_max_cidr_blocks(&mut self, max: u32) {
        self.max_cidr_blocks = max;
    }

    /// Associates a secondary IPv4 CIDR block (`AssociateVpcCidrBlock`) under EC2's rules:
    /// `/16` to `/28`, no overlap with the VPC's blocks, the quota on blocks per VPC, and the
    /// restrictions by the range the primary block lies in (a VPC whose primary block is in
    /// one RFC 1918 range cannot add a block from another RFC 1918 range; `100.64.0.0/10`
    /// and publicly routable blocks are allowed; see [`restricted_association`]).
    pub fn associate_cidr_block(&mut self, cidr: Cidr) -> Result<(), Ec2Error> {
        if !(MIN_BLOCK_PREFIX..=MAX_BLOCK_PREFIX).contains(&cidr.prefix_len()) {
            return Err(Ec2Error::invalid_vpc_range(&cidr));
        }
        if self.cidr_blocks.len() as u32 >= self.max_cidr_blocks {
            return Err(Ec2Error::cidr_limit_exceeded(
                &self.id,
                self.max_cidr_blocks,
            ));
        }
        if let Some(existing) = self.cidr_blocks.iter().find(|b| b.overlaps(&cidr)) {
            return Err(Ec2Error::cidr_conflict(&cidr, existing));
        }
        if restricted_association(&self.cidr_blocks[0], &cidr) {
            return Err(Ec2Error::cidr_restricted(&cidr));
        }
        self.cidr_blocks.push(cidr);
        Ok(())
    }

    /// Creates a subnet (`CreateSubnet`) in one availability zone: the block must be `/16`
    /// to `/28`, inside one of the VPC's blocks and clear of every other subnet.
    pub fn create_subnet(
        &mut self,
        az: &str,
        az_id: &str,
        cidr: Cidr,
        public: bool,
    ) -> Result<SubnetId, Ec2Error> {
        let id = SubnetId(self.next_id("subnet"));
        self.create_subnet_with_id(id.clone(), az, az_id, cidr, public)?;
        Ok(id)
    }

    /// [`Vpc::create_subnet`] under an id the caller chose (a subnet requested through the
    /// API, whose object name is its id).
    pub fn create_subnet_with_id(
        &mut self,
        id: SubnetId,
        az: &str,
        az_id: &str,
        cidr: Cidr,
        public: bool,
    ) -> Result<(), Ec2Error> {
        if !(MIN_BLOCK_PREFIX..=MAX_BLOCK_PREFIX).contains(&cidr.prefix_len())
            || !self.cidr_blocks.iter().any(|b| b.contains(&cidr))
        {
            return Err(Ec2Error::invalid_subnet_range(&cidr));
        }
        if self.subnets.values().any(|s| s.cidr.overlaps(&cidr)) {
            return Err(Ec2Error::invalid_subnet_conflict(&cidr));
        }
        self.insert_subnet(id, az, az_id, cidr, public);
        Ok(())
    }

    fn insert_subnet(&mut self, id: SubnetId, az: &str, az_id: &str, cidr: Cidr, public: bool) {
        self.subnets.insert(
            id.clone(),
            Subnet {
                id: id.clone(),
                availability_zone: az.to_string(),
                availability_zone_id: az_id.to_string(),
                cidr,
                map_public_ip_on_launch: public,
            },
        );
    }

    /// The VPC's subnets, by id.
    pub fn subnets(&self) -> impl Iterator<Item = &Subnet> {
        self.subnets.values()
    }

    /// One subnet.
    pub fn subnet(&self, id: &SubnetId) -> Result<&Subnet, Ec2Error> {
        self.subnets
            .get(id)
            .ok_or_else(|| Ec2Error::subnet_not_found(id))
    }

    /// The subnet's free addresses as EC2 reports `AvailableIpAddressCount`: its size less
    /// the five reserved addresses, every ENI's primary and secondary addresses and all 16
    /// addresses of every delegated prefix. A `/26` with nothing in it has 59.
    pub fn available_ip_address_count(&self, id: &SubnetId) -> Result<u64, Ec2Error> {
        let subnet = self.subnet(id)?;
        let used = self.used_addresses(id).len() as u64;
        Ok(subnet
            .cidr
            .size()
            .saturating_sub(RESERVED_ADDRESSES_PER_SUBNET + used))
    }

    /// Creates an ENI in the subnet (`CreateNetworkInterface`) with only its primary
    /// address, the lowest available one.
    pub fn create_network_interface(
        &mut self,
        subnet: &SubnetId,
        description: &str,
    ) -> Result<EniId, Ec2Error> {
        self.create_network_interface_with(subnet, description, AddressRequest::None)
    }

    /// Creates an ENI in the subnet with its primary address and, in the same request,
    /// secondary addresses or prefixes. All or nothing, like EC2:
    /// `InsufficientFreeAddressesInSubnet` when the subnet cannot give the primary and all
    /// secondary addresses, `InsufficientCidrBlocks` when it has too few free aligned `/28`s.
    pub fn create_network_interface_with(
        &mut self,
        subnet: &SubnetId,
        description: &str,
        request: AddressRequest,
    ) -> Result<EniId, Ec2Error> {
        self.subnet(subnet)?;
        let (ips, prefixes) = match request {
            AddressRequest::None => (self.free_addresses(subnet, 1)?, Vec::new()),
            AddressRequest::SecondaryIps(n) => {
                (self.free_addresses(subnet, n as usize + 1)?, Vec::new())
            }
            AddressRequest::Ipv4Prefixes(n) => {
                let prefixes = self.free_prefixes(subnet, n as usize)?;
                let mut used = self.used_addresses(subnet);
                used.extend(prefixes.iter().flat_map(|p| {
                    let s = u32::from(p.network());
                    s..s + 16
                }));
                let primary = self.lowest_free(subnet, &used, 1)?;
                (primary, prefixes)
            }
        };
        let mut ips = ips.into_iter();
        let Some(primary_ip) = ips.next() else {
            return Err(Ec2Error::insufficient_free_addresses());
        };
        let id = EniId(self.next_id("eni"));
        self.network_interfaces.insert(
            id.clone(),
            NetworkInterface {
                id: id.clone(),
                subnet_id: subnet.clone(),
                description: description.to_string(),
                primary_ip,
                secondary_ips: ips.collect(),
                ipv4_prefixes: prefixes,
                attachment: None,
            },
        );
        Ok(id)
    }

    /// One ENI.
    pub fn network_interface(&self, id: &EniId) -> Result<&NetworkInterface, Ec2Error> {
        self.network_interfaces
            .get(id)
            .ok_or_else(|| Ec2Error::eni_not_found(id))
    }

    /// Every ENI in the VPC, by id.
    pub fn network_interfaces(&self) -> impl Iterator<Item = &NetworkInterface> {
        self.network_interfaces.values()
    }

    /// The ENIs attached to an instance, by device index.
    pub fn instance_network_interfaces(&self, instance_id: &str) -> Vec<&NetworkInterface> {
        let mut enis: Vec<&NetworkInterface> = self
            .attached
            .get(instance_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.network_interfaces.get(id))
            .collect();
        enis.sort_by_key(|e| e.attachment.as_ref().map(|a| a.device_index));
        enis
    }

    /// Attaches an ENI to an instance at a device index (`AttachNetworkInterface`), recording
    /// the instance type's per-ENI IPv4 limit on the ENI. `AttachmentLimitExceeded` when the
    /// instance already has its maximum number of ENIs.
    pub fn attach(
        &mut self,
        eni: &EniId,
        instance: &InstanceNetworking,
        device_index: u32,
    ) -> Result<(), Ec2Error> {
        let current = self.network_interface(eni)?;
        if current.attachment.is_some() {
            return Err(Ec2Error::eni_in_use(eni));
        }
        let attached = self.instance_network_interfaces(&instance.instance_id);
        if attached
            .iter()
            .any(|e| e.attachment.as_ref().map(|a| a.device_index) == Some(device_index))
        {
            return Err(Ec2Error::device_index_in_use(
                &instance.instance_id,
                device_index,
            ));
        }
        if attached.len() as u32 >= instance.max_enis {
            return Err(Ec2Error::attachment_limit_exceeded(
                attached.len() as u32 + 1,
                &instance.instance_type,
            ));
        }
        if let Some(e) = self.network_interfaces.get_mut(eni) {
            e.attachment = Some(Attachment {
                instance_id: instance.instance_id.clone(),
                instance_type: instance.instance_type.clone(),
                device_index,
                ipv4_per_eni: instance.ipv4_per_eni,
            });
            self.attached
                .entry(instance.instance_id.clone())
                .or_default()
                .insert(eni.clone());
        }
        Ok(())
    }

    /// The lowest device index not used by the instance's ENIs (how the VPC CNI picks one).
    pub fn free_device_index(&self, instance_id: &str) -> u32 {
        let used: BTreeSet<u32> = self
            .instance_network_interfaces(instance_id)
            .iter()
            .filter_map(|e| e.attachment.as_ref().map(|a| a.device_index))
            .collect();
        (0..).find(|i| !used.contains(i)).unwrap_or(0)
    }

    /// Detaches an ENI (`DetachNetworkInterface`); the primary ENI (device index 0) cannot
    /// be detached.
    pub fn detach(&mut self, eni: &EniId) -> Result<(), Ec2Error> {
        let current = self.network_interface(eni)?;
        match &current.attachment {
            None => Err(Ec2Error::not_attached(eni)),
            Some(a) if a.device_index == 0 => Err(Ec2Error::primary_detach()),
            Some(a) => {
                let instance = a.instance_id.clone();
                if let Some(e) = self.network_interfaces.get_mut(eni) {
                    e.attachment = None;
                }
                if let Some(set) = self.attached.get_mut(&instance) {
                    set.remove(eni);
                    if set.is_empty() {
                        self.attached.remove(&instance);
                    }
                }
                Ok(())
            }
        }
    }

    /// Deletes a detached ENI (`DeleteNetworkInterface`), returning its addresses to the
    /// subnet.
    pub fn delete_network_interface(&mut self, eni: &EniId) -> Result<(), Ec2Error> {
        if self.network_interface(eni)?.attachment.is_some() {
            return Err(Ec2Error::eni_in_use(eni));
        }
        self.network_interfaces.remove(eni);
        Ok(())
    }

    /// Deletes every ENI attached to a terminated instance (EKS node ENIs are
    /// `DeleteOnTermination`), returning their addresses to their subnets.
    pub fn terminate_instance(&mut self, instance_id: &str) -> Vec<EniId> {
        let ids: Vec<EniId> = self
            .instance_network_interfaces(instance_id)
            .iter()
            .map(|e| e.id.clone())
            .collect();
        for id in &ids {
            self.network_interfaces.remove(id);
        }
        self.attached.remove(instance_id);
        ids
    }

    /// Assigns `count` secondary private addresses to an ENI (`AssignPrivateIpAddresses`
    /// with `SecondaryPrivateIpAddressCount`), the lowest available ones. All or nothing:
    /// `PrivateIpAddressLimitExceeded` when the ENI would pass its instance type's per-ENI
    /// limit, `InsufficientFreeAddressesInSubnet` when the subnet has fewer than `count` free.
    pub fn assign_private_ip_addresses(
        &mut self,
        eni: &EniId,
        count: u32,
    ) -> Result<Vec<Ipv4Addr>, Ec2Error> {
        let current = self.network_interface(eni)?;
        check_ipv4_limit(current, count)?;
        let subnet = current.subnet_id.clone();
        let ips = self.free_addresses(&subnet, count as usize)?;
        if let Some(e) = self.network_interfaces.get_mut(eni) {
            e.secondary_ips.extend(ips.iter().copied());
        }
        Ok(ips)
    }

    /// Unassigns secondary addresses from an ENI (`UnassignPrivateIpAddresses`); every
    /// address must be a secondary address of that ENI.
    pub fn unassign_private_ip_addresses(
        &mut self,
        eni: &EniId,
        ips: &[Ipv4Addr],
    ) -> Result<(), Ec2Error> {
        let current = self.network_interface(eni)?;
        if let Some(missing) = ips.iter().find(|ip| !current.secondary_ips.contains(ip)) {
            return Err(Ec2Error::address_not_assigned(eni, &missing.to_string()));
        }
        if let Some(e) = self.network_interfaces.get_mut(eni) {
            e.secondary_ips.retain(|ip| !ips.contains(ip));
        }
        Ok(())
    }

    /// Assigns `count` IPv4 prefixes to an ENI (`AssignPrivateIpAddresses` with
    /// `Ipv4PrefixCount`): aligned `/28` blocks of the subnet none of whose 16 addresses is
    /// reserved or in use, the lowest first. All or nothing: `PrivateIpAddressLimitExceeded`
    /// over the per-ENI limit, `InsufficientCidrBlocks` when the subnet has too few.
    pub fn assign_ipv4_prefixes(&mut self, eni: &EniId, count: u32) -> Result<Vec<Cidr>, Ec2Error> {
        let current = self.network_interface(eni)?;
        check_ipv4_limit(current, count)?;
        let subnet = current.subnet_id.clone();
        let prefixes = self.free_prefixes(&subnet, count as usize)?;
        if let Some(e) = self.network_interfaces.get_mut(eni) {
            e.ipv4_prefixes.extend(prefixes.iter().copied());
        }
        Ok(prefixes)
    }

    /// Unassigns IPv4 prefixes from an ENI (`UnassignPrivateIpAddresses` with
    /// `Ipv4Prefixes`).
    pub fn unassign_ipv4_prefixes(
        &mut self,
        eni: &EniId,
        prefixes: &[Cidr],
    ) -> Result<(), Ec2Error> {
        let current = self.network_interface(eni)?;
        if let Some(missing) = prefixes.iter().find(|p| !current.ipv4_prefixes.contains(p)) {
            return Err(Ec2Error::address_not_assigned(eni, &missing.to_string()));
        }
        if let Some(e) = self.network_interfaces.get_mut(eni) {
            e.ipv4_prefixes.retain(|p| !prefixes.contains(p));
        }
        Ok(())
    }

    fn used_addresses(&self, subnet: &SubnetId) -> BTreeSet<u32> {
        self.network_interfaces
            .values()
            .filter(|e| &e.subnet_id == subnet)
            .flat_map(|e| e.used_addresses())
            .collect()
    }

    fn free_addresses(&self, subnet: &SubnetId, count: usize) -> Result<Vec<Ipv4Addr>, Ec2Error> {
        let used = self.used_addresses(subnet);
        self.lowest_free(subnet, &used, count)
    }

    fn lowest_free(
        &self,
        subnet: &SubnetId,
        used: &BTreeSet<u32>,
        count: usize,
    ) -> Result<Vec<Ipv4Addr>, Ec2Error> {
        let cidr = self.subnet(subnet)?.cidr;
        let start = u32::from(cidr.network()) + 4;
        let end = u32::from(cidr.last()); // the broadcast address is reserved
        let found: Vec<Ipv4Addr> = (start..end)
            .filter(|a| !used.contains(a))
            .take(count)
            .map(Ipv4Addr::from)
            .collect();
        if found.len() < count {
            return Err(Ec2Error::insufficient_free_addresses());
        }
        Ok(found)
    }

    fn free_prefixes(&self, subnet: &SubnetId, count: usize) -> Result<Vec<Cidr>, Ec2Error> {
        let cidr = self.subnet(subnet)?.cidr;
        let used = self.used_addresses(subnet);
        let first_usable = u32::from(cidr.network()) + 4;
        let last_usable = u32::from(cidr.last()) - 1;
        let found: Vec<Cidr> = cidr
            .subdivide(IPV4_PREFIX_LEN)
            .into_iter()
            .filter(|p| {
                let s = u32::from(p.network());
                let e = u32::from(p.last());
                s >= first_usable && e <= last_usable && used.range(s..=e).next().is_none()
            })
            .take(count)
            .collect();
        if found.len() < count {
            return Err(Ec2Error::insufficient_cidr_blocks());
        }
        Ok(found)
    }

    fn next_id(&mut self, kind: &str) -> String {
        // splitmix64: a deterministic stream from the seed.
        self.id_state = self.id_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.id_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        format!("{kind}-0{z:016x}")
    }
}

fn check_ipv4_limit(eni: &NetworkInterface, count: u32) -> Result<(), Ec2Error> {
    if let Some(a) = &eni.attachment
        && eni.ipv4_entries() + count > a.ipv4_per_eni
    {
        return Err(Ec2Error::private_ip_address_limit_exceeded());
    }
    Ok(())
}

const RFC1918: [(u32, u8); 3] = [
    (0x0A00_0000, 8),  // 10.0.0.0/8
    (0xAC10_0000, 12), // 172.16.0.0/12
    (0xC0A8_0000, 16), // 192.168.0.0/16
];

fn range_of(c: &Cidr) -> Option<usize> {
    RFC1918
        .iter()
        .position(|(n, len)| Cidr::containing(Ipv4Addr::from(*n), *len).contains(c))
}

/// Whether EC2 refuses to associate `new` with a VPC whose primary block is `primary`
/// (the "IPv4 CIDR block association restrictions" table of the VPC user guide):
/// - primary in an RFC 1918 range: blocks from the other RFC 1918 ranges and from
///   `198.19.0.0/16` are restricted; `100.64.0.0/10` and publicly routable blocks are permitted;
/// - primary in `198.19.0.0/16`: RFC 1918 blocks are restricted;
/// - primary publicly routable or in `100.64.0.0/10`: RFC 1918 blocks and `198.19.0.0/16`
///   are restricted.
pub fn restricted_association(primary: &Cidr, new: &Cidr) -> bool {
    let benchmark = Cidr::containing(Ipv4Addr::new(198, 19, 0, 0), 16);
    let in_benchmark = |c: &Cidr| benchmark.overlaps(c);
    match range_of(primary) {
        Some(range) => {
            let other_rfc1918 = RFC1918.iter().enumerate().any(|(i, (n, len))| {
                i != range && Cidr::containing(Ipv4Addr::from(*n), *len).overlaps(new)
            });
            other_rfc1918 || in_benchmark(new)
        }
        None if in_benchmark(primary) => range_of(new).is_some(),
        None => range_of(new).is_some() || in_benchmark(new),
    }
}

#[cfg(test)]
mod tests;
