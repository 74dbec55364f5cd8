//! EC2's errors for the VPC calls this model serves: the error code and AWS's message. The
//! AWS CLI shows them as `An error occurred (<code>) when calling the <Operation> operation:
//! <message>`; SDK-based tools (the VPC CNI, Terraform) as `<code>: <message>`, which is
//! what [`Ec2Error`] displays.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Cidr, EniId, SubnetId, VpcId};

/// An EC2 error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Ec2ErrorCode {
    /// `InvalidParameterValue`: a parameter's value is not acceptable.
    InvalidParameterValue,
    /// `InvalidVpc.Range`: a VPC CIDR block is the wrong size or restricted.
    InvalidVpcRange,
    /// `CidrConflict`: a secondary block overlaps a block of the VPC.
    CidrConflict,
    /// `CidrLimitExceeded`: the VPC has its maximum number of CIDR blocks.
    CidrLimitExceeded,
    /// `InvalidSubnet.Range`: a subnet block is the wrong size or outside the VPC.
    InvalidSubnetRange,
    /// `InvalidSubnet.Conflict`: a subnet block overlaps another subnet.
    InvalidSubnetConflict,
    /// `InvalidSubnetID.NotFound`.
    InvalidSubnetIdNotFound,
    /// `InvalidNetworkInterfaceID.NotFound`.
    InvalidNetworkInterfaceIdNotFound,
    /// `InsufficientFreeAddressesInSubnet`: the subnet lacks free addresses.
    InsufficientFreeAddressesInSubnet,
    /// `InsufficientCidrBlocks`: the subnet lacks free aligned `/28` blocks.
    InsufficientCidrBlocks,
    /// `PrivateIpAddressLimitExceeded`: the ENI would pass its per-interface limit.
    PrivateIpAddressLimitExceeded,
    /// `AttachmentLimitExceeded`: the instance has its maximum number of ENIs.
    AttachmentLimitExceeded,
    /// `OperationNotPermitted`.
    OperationNotPermitted,
}

impl Ec2ErrorCode {
    /// The code as EC2 writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Ec2ErrorCode::InvalidParameterValue => "InvalidParameterValue",
            Ec2ErrorCode::InvalidVpcRange => "InvalidVpc.Range",
            Ec2ErrorCode::CidrConflict => "CidrConflict",
            Ec2ErrorCode::CidrLimitExceeded => "CidrLimitExceeded",
            Ec2ErrorCode::InvalidSubnetRange => "InvalidSubnet.Range",
            Ec2ErrorCode::InvalidSubnetConflict => "InvalidSubnet.Conflict",
            Ec2ErrorCode::InvalidSubnetIdNotFound => "InvalidSubnetID.NotFound",
            Ec2ErrorCode::InvalidNetworkInterfaceIdNotFound => "InvalidNetworkInterfaceID.NotFound",
            Ec2ErrorCode::InsufficientFreeAddressesInSubnet => "InsufficientFreeAddressesInSubnet",
            Ec2ErrorCode::InsufficientCidrBlocks => "InsufficientCidrBlocks",
            Ec2ErrorCode::PrivateIpAddressLimitExceeded => "PrivateIpAddressLimitExceeded",
            Ec2ErrorCode::AttachmentLimitExceeded => "AttachmentLimitExceeded",
            Ec2ErrorCode::OperationNotPermitted => "OperationNotPermitted",
        }
    }
}

impl fmt::Display for Ec2ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error EC2 returns: its code and message (`InsufficientFreeAddressesInSubnet: The
/// specified subnet does not have enough free addresses to satisfy the request.`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Ec2Error {
    /// The error code.
    pub code: Ec2ErrorCode,
    /// AWS's message.
    pub message: String,
}

impl Ec2Error {
    fn new(code: Ec2ErrorCode, message: impl Into<String>) -> Ec2Error {
        Ec2Error {
            code,
            message: message.into(),
        }
    }

    /// `InvalidParameterValue` with EC2's message.
    pub fn invalid_parameter_value(message: &str) -> Ec2Error {
        Ec2Error::new(Ec2ErrorCode::InvalidParameterValue, message)
    }

    /// Text that is not a CIDR block given as `CidrBlock` (message as moto models it).
    pub fn invalid_cidr_block_parameter(text: &str) -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::InvalidParameterValue,
            format!(
                "Value ({text}) for parameter cidrBlock is invalid. This is not a valid CIDR block."
            ),
        )
    }

    /// A VPC block outside `/16`..`/28` (seen from AWS: "The CIDR '10.0.0.0/8' is invalid.").
    pub fn invalid_vpc_range(cidr: &Cidr) -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::InvalidVpcRange,
            format!("The CIDR '{cidr}' is invalid."),
        )
    }

    /// A secondary block restricted by the primary block's range (AWS's text, as the CLI
    /// shows it on `associate-vpc-cidr-block`).
    pub fn cidr_restricted(cidr: &Cidr) -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::InvalidVpcRange,
            format!(
                "The CIDR '{cidr}' is restricted. Use a CIDR from the same private address range \
                 as the current VPC CIDR, or use a publicly-routable CIDR. For additional \
                 restrictions, see https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html"
            ),
        )
    }

    /// A secondary block overlapping a block of the VPC (message not verified against AWS).
    pub fn cidr_conflict(cidr: &Cidr, existing: &Cidr) -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::CidrConflict,
            format!("The CIDR '{cidr}' conflicts with another CIDR '{existing}' in the VPC."),
        )
    }

    /// The VPC already has its maximum number of CIDR blocks.
    pub fn cidr_limit_exceeded(vpc: &VpcId, max: u32) -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::CidrLimitExceeded,
            format!("This network '{vpc}' has met its maximum number of allowed CIDRs: {max}"),
        )
    }

    /// A subnet block of the wrong size or outside the VPC's blocks.
    pub fn invalid_subnet_range(cidr: &Cidr) -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::InvalidSubnetRange,
            format!("The CIDR '{cidr}' is invalid."),
        )
    }

    /// A subnet block overlapping another subnet.
    pub fn invalid_subnet_conflict(cidr: &Cidr) -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::InvalidSubnetConflict,
            format!("The CIDR '{cidr}' conflicts with another subnet"),
        )
    }

    /// An unknown subnet id.
    pub fn subnet_not_found(id: &SubnetId) -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::InvalidSubnetIdNotFound,
            format!("The subnet ID '{id}' does not exist"),
        )
    }

    /// An unknown ENI id.
    pub fn eni_not_found(id: &EniId) -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::InvalidNetworkInterfaceIdNotFound,
            format!("The networkInterface ID '{id}' does not exist"),
        )
    }

    /// Deleting or attaching an ENI that is attached (message not verified against AWS).
    pub fn eni_in_use(id: &EniId) -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::InvalidParameterValue,
            format!("Network interface '{id}' is currently in use."),
        )
    }

    /// Detaching an ENI that is not attached (message not verified against AWS).
    pub fn not_attached(id: &EniId) -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::InvalidParameterValue,
            format!("Network interface '{id}' is not attached."),
        )
    }

    /// Detaching an instance's primary ENI.
    pub fn primary_detach() -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::OperationNotPermitted,
            "The network interface at device index 0 and networkCard index 0 cannot be detached.",
        )
    }

    /// Attaching at a device index already used (message not verified against AWS).
    pub fn device_index_in_use(instance_id: &str, device_index: u32) -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::InvalidParameterValue,
            format!(
                "Instance '{instance_id}' already has an interface attached at device index '{device_index}'."
            ),
        )
    }

    /// Unassigning an address or prefix the ENI does not have (message not verified).
    pub fn address_not_assigned(eni: &EniId, what: &str) -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::InvalidParameterValue,
            format!("Some of the specified addresses are not assigned to interface {eni}: {what}"),
        )
    }

    /// The subnet lacks free addresses for the request.
    pub fn insufficient_free_addresses() -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::InsufficientFreeAddressesInSubnet,
            "The specified subnet does not have enough free addresses to satisfy the request.",
        )
    }

    /// The subnet lacks free aligned `/28` blocks for the request.
    pub fn insufficient_cidr_blocks() -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::InsufficientCidrBlocks,
            "There are not enough free cidr blocks in the specified subnet to satisfy the request.",
        )
    }

    /// The ENI would pass its instance type's per-interface IPv4 limit.
    pub fn private_ip_address_limit_exceeded() -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::PrivateIpAddressLimitExceeded,
            "Number of private addresses will exceed limit.",
        )
    }

    /// The instance already has its maximum number of ENIs.
    pub fn attachment_limit_exceeded(count: u32, instance_type: &str) -> Ec2Error {
        Ec2Error::new(
            Ec2ErrorCode::AttachmentLimitExceeded,
            format!("Interface count {count} exceeds the limit for {instance_type}"),
        )
    }

    /// Whether the subnet ran out (of addresses or of `/28` blocks): the errors after which
    /// the VPC CNI waits two minutes before asking again.
    pub fn is_subnet_exhausted(&self) -> bool {
        matches!(
            self.code,
            Ec2ErrorCode::InsufficientFreeAddressesInSubnet | Ec2ErrorCode::InsufficientCidrBlocks
        )
    }
}
