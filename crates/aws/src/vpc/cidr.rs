//! An IPv4 CIDR block as EC2 takes it: a network address with every host bit zero and a
//! prefix length, written `10.0.0.0/26`.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IPv4 CIDR block (`10.0.0.0/26`): a network address whose host bits are all zero, and a
/// prefix length from 0 to 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    network: u32,
    prefix_len: u8,
}

/// Why a string is not a CIDR block. The text follows Go's `net.ParseCIDR`
/// (`invalid CIDR address: 10.0.0.0/33`), which the VPC CNI and eksctl print.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not `a.b.c.d/n` with four octets and a prefix length of 0 to 32.
    #[error("invalid CIDR address: {0}")]
    Malformed(String),
    /// Well-formed, but bits after the prefix are set (`10.0.1.0/16`); EC2 refuses those.
    #[error("invalid CIDR address: {input} (host bits set; the network is {network})")]
    HostBitsSet {
        /// The text given.
        input: String,
        /// The block the text lies in.
        network: Cidr,
    },
}

impl Cidr {
    /// The block of `prefix_len` bits holding `addr`, which must be the block's first address.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Cidr, CidrError> {
        if prefix_len > 32 {
            return Err(CidrError::Malformed(format!("{addr}/{prefix_len}")));
        }
        let network = Cidr::containing(addr, prefix_len);
        if network.network != u32::from(addr) {
            return Err(CidrError::HostBitsSet {
                input: format!("{addr}/{prefix_len}"),
                network,
            });
        }
        Ok(network)
    }

    /// The block of `prefix_len` bits (at most 32) that holds `addr`, host bits cleared.
    pub fn containing(addr: Ipv4Addr, prefix_len: u8) -> Cidr {
        let prefix_len = prefix_len.min(32);
        Cidr {
            network: u32::from(addr) & mask(prefix_len),
            prefix_len,
        }
    }

    /// The single address `addr` as a `/32`.
    pub fn host(addr: Ipv4Addr) -> Cidr {
        Cidr {
            network: u32::from(addr),
            prefix_len: 32,
        }
    }

    /// The first address of the block (the network address).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network)
    }

    /// The last address of the block (the broadcast address).
    pub fn last(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.last_u32())
    }

    /// The prefix length (`26` for `10.0.0.0/26`).
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// How many addresses the block spans (`64` for a `/26`).
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix_len))
    }

    /// Whether `addr` lies in the block.
    pub fn contains_addr(&self, addr: Ipv4Addr) -> bool {
        let a = u32::from(addr);
        a >= self.network && a <= self.last_u32()
    }

    /// Whether `other` lies wholly inside this block.
    pub fn contains(&self, other: &Cidr) -> bool {
        other.network >= self.network && other.last_u32() <= self.last_u32()
    }

    /// Whether the two blocks share at least one address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.network <= other.last_u32() && other.network <= self.last_u32()
    }

    /// The `n`th address of the block (0 is the network address), if the block has one.
    pub fn nth(&self, n: u64) -> Option<Ipv4Addr> {
        (n < self.size()).then(|| Ipv4Addr::from(self.network + n as u32))
    }

    /// The blocks of `prefix_len` bits that tile this block, in address order; empty when
    /// `prefix_len` is shorter than the block's own or longer than 32.
    pub fn subdivide(&self, prefix_len: u8) -> Vec<Cidr> {
        if prefix_len < self.prefix_len || prefix_len > 32 {
            return Vec::new();
        }
        let step = 1u64 << (32 - u32::from(prefix_len));
        (0..self.size() / step)
            .map(|i| Cidr {
                network: self.network + (i * step) as u32,
                prefix_len,
            })
            .collect()
    }

    fn last_u32(&self) -> u32 {
        self.network | !mask(self.prefix_len)
    }
}

fn mask(prefix_len: u8) -> u32 {
    if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix_len.min(32)))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix_len)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let malformed = || CidrError::Malformed(s.to_string());
        let (addr, len) = s.split_once('/').ok_or_else(malformed)?;
        // Go's parser takes only plain decimal digits for the length and the octets, with no
        // leading zeros in the octets ("010.0.0.0" is refused).
        if len.is_empty() || len.len() > 2 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let prefix_len: u8 = len.parse().map_err(|_| malformed())?;
        if prefix_len > 32 {
            return Err(malformed());
        }
        let octets: Vec<&str> = addr.split('.').collect();
        if octets.len() != 4
            || octets.iter().any(|o| {
                o.is_empty()
                    || o.len() > 3
                    || !o.bytes().all(|b| b.is_ascii_digit())
                    || (o.len() > 1 && o.starts_with('0'))
            })
        {
            return Err(malformed());
        }
        let addr: Ipv4Addr = addr.parse().map_err(|_| malformed())?;
        Cidr::new(addr, prefix_len).map_err(|e| match e {
            CidrError::HostBitsSet { network, .. } => CidrError::HostBitsSet {
                input: s.to_string(),
                network,
            },
            CidrError::Malformed(_) => malformed(),
        })
    }
}

impl TryFrom<String> for Cidr {
    type Error = CidrError;

    fn try_from(s: String) -> Result<Cidr, CidrError> {
        s.parse()
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        match s.parse() {
            Ok(c) => c,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn a_slash_26_parses_prints_and_spans_64_addresses() {
        let n = c("10.0.0.0/26");
        assert_eq!(n.to_string(), "10.0.0.0/26");
        assert_eq!(n.size(), 64);
        assert_eq!(n.last(), Ipv4Addr::new(10, 0, 0, 63));
        assert!(n.contains_addr(Ipv4Addr::new(10, 0, 0, 63)));
        assert!(!n.contains_addr(Ipv4Addr::new(10, 0, 0, 64)));
    }

    #[test]
    fn bad_cidr_text_is_refused_with_go_like_messages() {
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/24",
            "10.0.0.256/24",
            "a.b.c.d/8",
            "10.0.0.0/",
            "010.0.0.0/8",
            "10.0.0.0/-1",
        ] {
            let err = bad.parse::<Cidr>().err();
            assert_eq!(
                err,
                Some(CidrError::Malformed(bad.to_string())),
                "{bad} should be malformed"
            );
            assert_eq!(
                err.map(|e| e.to_string()),
                Some(format!("invalid CIDR address: {bad}"))
            );
        }
        assert!(matches!(
            "10.0.1.0/16".parse::<Cidr>(),
            Err(CidrError::HostBitsSet { network, .. }) if network == c("10.0.0.0/16")
        ));
    }

    #[test]
    fn overlap_and_containment_follow_the_address_ranges() {
        let vpc = c("10.0.0.0/16");
        assert!(vpc.contains(&c("10.0.255.240/28")));
        assert!(!vpc.contains(&c("10.1.0.0/28")));
        assert!(c("10.0.0.0/24").overlaps(&c("10.0.0.128/25")));
        assert!(!c("10.0.0.0/25").overlaps(&c("10.0.0.128/25")));
        assert_eq!(
            c("10.0.0.0/26").subdivide(28),
            vec![
                c("10.0.0.0/28"),
                c("10.0.0.16/28"),
                c("10.0.0.32/28"),
                c("10.0.0.48/28")
            ]
        );
        assert!(c("10.0.0.0/26").subdivide(25).is_empty());
    }

    #[test]
    fn a_cidr_round_trips_through_json_as_its_text() {
        let n = c("100.64.0.0/19");
        let json = serde_json::to_string(&n).unwrap_or_default();
        assert_eq!(json, "\"100.64.0.0/19\"");
        assert_eq!(serde_json::from_str::<Cidr>(&json).ok(), Some(n));
        assert!(serde_json::from_str::<Cidr>("\"100.64.0.1/19\"").is_err());
    }
}
