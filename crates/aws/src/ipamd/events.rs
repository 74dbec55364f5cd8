//! What ipamd did in a pass, for the `aws-node` log and for Kubernetes events.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::vpc::{Cidr, Ec2Error, EniId, SubnetId};

/// One thing ipamd did or failed to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum IpamdEvent {
    /// A new ENI was created and attached with its first addresses or prefixes.
    EniAttached {
        /// The ENI.
        eni: EniId,
        /// Its subnet.
        subnet: SubnetId,
        /// Its device index.
        device_index: u32,
        /// Its secondary IPs.
        ips: Vec<Ipv4Addr>,
        /// Its prefixes.
        prefixes: Vec<Cidr>,
    },
    /// An unused ENI was detached and deleted.
    EniFreed {
        /// The ENI.
        eni: EniId,
    },
    /// Secondary IPs were added to an ENI.
    IpsAllocated {
        /// The ENI.
        eni: EniId,
        /// The addresses.
        ips: Vec<Ipv4Addr>,
    },
    /// Prefixes were added to an ENI.
    PrefixesAllocated {
        /// The ENI.
        eni: EniId,
        /// The prefixes.
        prefixes: Vec<Cidr>,
    },
    /// Unused secondary IPs were given back to the subnet.
    IpsReleased {
        /// The ENI.
        eni: EniId,
        /// The addresses.
        ips: Vec<Ipv4Addr>,
    },
    /// Unused prefixes were given back to the subnet.
    PrefixesReleased {
        /// The ENI.
        eni: EniId,
        /// The prefixes.
        prefixes: Vec<Cidr>,
    },
    /// An EC2 call failed.
    Ec2CallFailed {
        /// The EC2 operation (`AssignPrivateIpAddresses`, `CreateNetworkInterface`, ...).
        operation: String,
        /// The ENI concerned, if any.
        eni: Option<EniId>,
        /// How many addresses or prefixes were asked for (0 when not applicable).
        requested: u32,
        /// EC2's error.
        error: Ec2Error,
    },
    /// Custom networking is on but the node has no ENIConfig: no ENI can be created.
    NoEniConfig,
    /// Prefix delegation was asked for on a non-Nitro instance; secondary IPs are used.
    PrefixDelegationUnsupported {
        /// The instance type.
        instance_type: String,
    },
}

impl IpamdEvent {
    /// Whether this reports a failure (a `Warning` event rather than `Normal`).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            IpamdEvent::Ec2CallFailed { .. }
                | IpamdEvent::NoEniConfig
                | IpamdEvent::PrefixDelegationUnsupported { .. }
        )
    }
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for IpamdEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpamdEvent::EniAttached {
                eni,
                subnet,
                device_index,
                ips,
                prefixes,
            } => {
                write!(
                    f,
                    "Successfully created and attached a new ENI {eni} (device {device_index}, subnet {subnet})"
                )?;
                if prefixes.is_empty() {
                    write!(f, " with {} secondary IPs", ips.len())
                } else {
                    write!(f, " with prefixes [{}]", list(prefixes))
                }
            }
            IpamdEvent::EniFreed { eni } => write!(f, "Successfully freed ENI {eni}"),
            IpamdEvent::IpsAllocated { eni, ips } => {
                write!(
                    f,
                    "Allocated {} private IP addresses on ENI {eni}",
                    ips.len()
                )
            }
            IpamdEvent::PrefixesAllocated { eni, prefixes } => write!(
                f,
                "Allocated {} private IP prefixes on ENI {eni}: [{}]",
                prefixes.len(),
                list(prefixes)
            ),
            IpamdEvent::IpsReleased { eni, ips } => write!(
                f,
                "Successfully decreased IP pool by removing IPs [{}] from ENI {eni}",
                list(ips)
            ),
            IpamdEvent::PrefixesReleased { eni, prefixes } => write!(
                f,
                "Successfully removed prefixes [{}] from ENI {eni}",
                list(prefixes)
            ),
            IpamdEvent::Ec2CallFailed {
                operation,
                eni,
                requested,
                error,
            } => {
                write!(f, "ec2:{operation} failed")?;
                if let Some(eni) = eni {
                    write!(f, " on ENI {eni}")?;
                }
                if *requested > 0 {
                    write!(f, " (asked for {requested})")?;
                }
                write!(f, ": {error}")
            }
            IpamdEvent::NoEniConfig => f.write_str("No ENIConfig could be found for this node"),
            IpamdEvent::PrefixDelegationUnsupported { instance_type } => write!(
                f,
                "Prefix delegation is not supported on non-nitro instance {instance_type} hence falling back to default (secondary IP) mode"
            ),
        }
    }
}
