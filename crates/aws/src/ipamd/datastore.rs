//! ipamd's datastore (`pkg/ipamd/datastore`): the instance's ENIs, the secondary IPs
//! (`/32`) and prefixes (`/28`) on each, and per address which sandbox holds it or since
//! when it is free.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::vpc::{Cidr, EniId};

/// The pool's counts (`DataStoreStats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStats {
    /// ENIs in the datastore.
    pub enis: u32,
    /// Addresses of the mode in use (secondary IPs, or 16 per prefix).
    pub total_ips: u32,
    /// Addresses held by pods.
    pub assigned_ips: u32,
    /// Addresses released less than the cooldown ago (not given to new pods yet).
    pub cooling_ips: u32,
    /// `total_ips - assigned_ips` (cooling addresses included, as upstream counts them).
    pub available_ips: u32,
    /// Prefixes on the ENIs.
    pub total_prefixes: u32,
}

/// One address of an ENI for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressView {
    /// The address.
    pub address: Ipv4Addr,
    /// The sandbox holding it.
    pub sandbox: Option<String>,
    /// Whether it was released less than the cooldown ago.
    pub cooling: bool,
}

/// One secondary IP or prefix for display; a prefix lists only addresses in use or cooling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CidrView {
    /// The `/32` or `/28`.
    pub cidr: Cidr,
    /// Whether it is a delegated prefix.
    pub prefix: bool,
    /// Its addresses.
    pub addresses: Vec<AddressView>,
}

/// One ENI of the datastore for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EniView {
    /// The ENI.
    pub id: EniId,
    /// Its device index (0: the primary ENI).
    pub device_index: u32,
    /// Whether it is the instance's primary ENI.
    pub primary: bool,
    /// Its secondary IPs and prefixes, by address.
    pub cidrs: Vec<CidrView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DsAddress {
    pub(super) sandbox: Option<String>,
    pub(super) unassigned_at: Option<Duration>,
}

impl DsAddress {
    fn cooling(&self, now: Duration, cooldown: Duration) -> bool {
        self.sandbox.is_none()
            && self
                .unassigned_at
                .is_some_and(|t| now.saturating_sub(t) <= cooldown)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DsCidr {
    pub(super) cidr: Cidr,
    pub(super) prefix: bool,
    pub(super) addresses: BTreeMap<Ipv4Addr, DsAddress>,
}

impl DsCidr {
    pub(super) fn new(cidr: Cidr, prefix: bool) -> DsCidr {
        DsCidr {
            cidr,
            prefix,
            addresses: BTreeMap::new(),
        }
    }

    pub(super) fn size(&self) -> u32 {
        self.cidr.size() as u32
    }

    pub(super) fn assigned(&self) -> u32 {
        self.addresses
            .values()
            .filter(|a| a.sandbox.is_some())
            .count() as u32
    }

    pub(super) fn cooling(&self, now: Duration, cooldown: Duration) -> u32 {
        self.addresses
            .values()
            .filter(|a| a.cooling(now, cooldown))
            .count() as u32
    }

    /// `getUnusedIP`: the lowest address neither held nor cooling.
    pub(super) fn free_address(&self, now: Duration, cooldown: Duration) -> Option<Ipv4Addr> {
        (0..self.cidr.size())
            .filter_map(|n| self.cidr.nth(n))
            .find(|a| match self.addresses.get(a) {
                None => true,
                Some(d) => d.sandbox.is_none() && !d.cooling(now, cooldown),
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DsEni {
    pub(super) id: EniId,
    pub(super) device_index: u32,
    pub(super) primary: bool,
    pub(super) created_at: Duration,
    /// Sorted by address.
    pub(super) cidrs: Vec<DsCidr>,
}

impl DsEni {
    pub(super) fn assigned(&self) -> u32 {
        self.cidrs.iter().map(DsCidr::assigned).sum()
    }

    pub(super) fn has_cooling(&self, now: Duration, cooldown: Duration) -> bool {
        self.cidrs.iter().any(|c| c.cooling(now, cooldown) > 0)
    }

    pub(super) fn add_cidrs(&mut self, cidrs: &[Cidr], prefix: bool) {
        for c in cidrs {
            if !self.cidrs.iter().any(|d| d.cidr == *c) {
                self.cidrs.push(DsCidr::new(*c, prefix));
            }
        }
        self.cidrs.sort_by_key(|c| c.cidr);
    }

    pub(super) fn view(&self, now: Duration, cooldown: Duration) -> EniView {
        EniView {
            id: self.id.clone(),
            device_index: self.device_index,
            primary: self.primary,
            cidrs: self
                .cidrs
                .iter()
                .map(|c| {
                    let mut addresses: Vec<AddressView> = c
                        .addresses
                        .iter()
                        .map(|(a, d)| AddressView {
                            address: *a,
                            sandbox: d.sandbox.clone(),
                            cooling: d.cooling(now, cooldown),
                        })
                        .collect();
                    if !c.prefix && addresses.is_empty() {
                        addresses.push(AddressView {
                            address: c.cidr.network(),
                            sandbox: None,
                            cooling: false,
                        });
                    }
                    CidrView {
                        cidr: c.cidr,
                        prefix: c.prefix,
                        addresses,
                    }
                })
                .collect(),
        }
    }
}
