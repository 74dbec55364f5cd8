//! IPv4 CIDR blocks as eksctl and EC2 read them, and eksctl's split of a VPC CIDR into subnets.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 CIDR block (`192.168.0.0/16`): a network address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

/// Why a string is not an IPv4 CIDR block; the message is Go's `net.ParseCIDR` error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR address: {0}")]
pub struct CidrParseError(pub String);

impl Ipv4Cidr {
    /// The block with this address and prefix length (the address is kept as given).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then_some(Self { addr, prefix })
    }

    /// The block with this address and prefix length, the prefix capped at 32.
    pub const fn clamped(addr: Ipv4Addr, prefix: u8) -> Self {
        Self {
            addr,
            prefix: if prefix > 32 { 32 } else { prefix },
        }
    }

    /// The address as written (for a well-formed block, the network address).
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length (`16` in `/16`).
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// The network address (the address with its host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// Whether the address has host bits set (`10.0.0.1/16`), which EC2 rejects.
    pub fn has_host_bits(&self) -> bool {
        self.network() != self.addr
    }

    /// The number of addresses in the block.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    fn first(&self) -> u64 {
        u64::from(u32::from(self.network()))
    }

    fn last(&self) -> u64 {
        self.first() + self.size() - 1
    }

    /// Whether `other` lies wholly inside this block.
    pub fn contains(&self, other: &Ipv4Cidr) -> bool {
        other.first() >= self.first() && other.last() <= self.last()
    }

    /// Whether the two blocks share any address.
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// eksctl's `SplitInto` (`pkg/vpc/vpc.go`): the first `count` blocks of length
    /// `prefix` laid end to end from this block's address.
    pub fn split_into(&self, count: usize, prefix: u8) -> Vec<Ipv4Cidr> {
        let step = 1u64 << (32 - u32::from(prefix));
        (0..count as u64)
            .filter_map(|i| u32::try_from(self.first() + i * step).ok())
            .map(|n| Ipv4Cidr {
                addr: Ipv4Addr::from(n),
                prefix,
            })
            .collect()
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl serde::Serialize for Ipv4Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || CidrParseError(text.to_string());
        let (addr, prefix) = text.split_once('/').ok_or_else(err)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| err())?;
        if prefix.is_empty() || prefix.len() > 2 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let prefix: u8 = prefix.parse().map_err(|_| err())?;
        Ipv4Cidr::new(addr, prefix).ok_or_else(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Ipv4Cidr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn a_slash_16_splits_into_slash_19s_the_way_eksctl_does() {
        let parts: Vec<String> = cidr("192.168.0.0/16")
            .split_into(8, 19)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            parts,
            [
                "192.168.0.0/19",
                "192.168.32.0/19",
                "192.168.64.0/19",
                "192.168.96.0/19",
                "192.168.128.0/19",
                "192.168.160.0/19",
                "192.168.192.0/19",
                "192.168.224.0/19"
            ]
        );
    }

    #[test]
    fn containment_and_overlap_follow_the_address_ranges() {
        let vpc = cidr("10.0.0.0/16");
        assert!(vpc.contains(&cidr("10.0.0.64/26")));
        assert!(!vpc.contains(&cidr("10.1.0.0/24")));
        assert!(cidr("10.0.0.0/25").overlaps(&cidr("10.0.0.64/26")));
        assert!(!cidr("10.0.0.0/26").overlaps(&cidr("10.0.0.64/26")));
    }

    #[test]
    fn malformed_blocks_get_gos_parse_cidr_message() {
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/16", "10.0.0.0/", "x/8"] {
            let err = bad.parse::<Ipv4Cidr>().err().map(|e| e.to_string());
            assert_eq!(err, Some(format!("invalid CIDR address: {bad}")), "{bad}");
        }
        assert!(cidr("10.0.0.1/16").has_host_bits());
    }
}
