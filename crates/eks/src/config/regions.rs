//! The availability zones of the regions skiff simulates, and eksctl's choice of zones for a
//! new cluster.
//!
//! Zone names are region code plus a letter; zone IDs are the first three letters of the
//! region code, its trailing number, `-az` and a number (`use1-az1`), as AWS documents. In the
//! oldest regions AWS maps names to IDs independently per account (accounts created before
//! November 2025), so no single mapping is "the" real one: the pairs below are one fixed
//! mapping for skiff's simulated account, following the documented pattern. Zone IDs matter
//! because eksctl avoids zones by ID (`pkg/az/az.go`).

/// One availability zone: its name in the account (`us-east-1a`) and its AZ ID (`use1-az1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvailabilityZone {
    /// The zone name, region code plus a letter.
    pub name: &'static str,
    /// The AZ ID, the same physical zone in every account.
    pub id: &'static str,
}

const fn az(name: &'static str, id: &'static str) -> AvailabilityZone {
    AvailabilityZone { name, id }
}

/// The regions skiff knows with their zones, in name order.
static REGIONS: &[(&str, &[AvailabilityZone])] = &[
    (
        "us-east-1",
        &[
            az("us-east-1a", "use1-az1"),
            az("us-east-1b", "use1-az2"),
            az("us-east-1c", "use1-az4"),
            az("us-east-1d", "use1-az6"),
            az("us-east-1e", "use1-az3"),
            az("us-east-1f", "use1-az5"),
        ],
    ),
    (
        "us-east-2",
        &[
            az("us-east-2a", "use2-az1"),
            az("us-east-2b", "use2-az2"),
            az("us-east-2c", "use2-az3"),
        ],
    ),
    (
        "us-west-1",
        &[
            az("us-west-1a", "usw1-az1"),
            az("us-west-1b", "usw1-az2"),
            az("us-west-1c", "usw1-az3"),
        ],
    ),
    (
        "us-west-2",
        &[
            az("us-west-2a", "usw2-az1"),
            az("us-west-2b", "usw2-az2"),
            az("us-west-2c", "usw2-az3"),
            az("us-west-2d", "usw2-az4"),
        ],
    ),
    (
        "ca-central-1",
        &[
            az("ca-central-1a", "cac1-az1"),
            az("ca-central-1b", "cac1-az2"),
            az("ca-central-1d", "cac1-az4"),
        ],
    ),
    (
        "eu-west-1",
        &[
            az("eu-west-1a", "euw1-az1"),
            az("eu-west-1b", "euw1-az2"),
            az("eu-west-1c", "euw1-az3"),
        ],
    ),
    (
        "eu-west-2",
        &[
            az("eu-west-2a", "euw2-az2"),
            az("eu-west-2b", "euw2-az3"),
            az("eu-west-2c", "euw2-az1"),
        ],
    ),
    (
        "eu-central-1",
        &[
            az("eu-central-1a", "euc1-az2"),
            az("eu-central-1b", "euc1-az3"),
            az("eu-central-1c", "euc1-az1"),
        ],
    ),
    (
        "eu-north-1",
        &[
            az("eu-north-1a", "eun1-az1"),
            az("eu-north-1b", "eun1-az2"),
            az("eu-north-1c", "eun1-az3"),
        ],
    ),
    (
        "ap-southeast-1",
        &[
            az("ap-southeast-1a", "apse1-az1"),
            az("ap-southeast-1b", "apse1-az2"),
            az("ap-southeast-1c", "apse1-az3"),
        ],
    ),
    (
        "ap-southeast-2",
        &[
            az("ap-southeast-2a", "apse2-az1"),
            az("ap-southeast-2b", "apse2-az3"),
            az("ap-southeast-2c", "apse2-az2"),
        ],
    ),
    (
        "ap-northeast-1",
        &[
            az("ap-northeast-1a", "apne1-az4"),
            az("ap-northeast-1c", "apne1-az1"),
            az("ap-northeast-1d", "apne1-az2"),
        ],
    ),
    (
        "ap-south-1",
        &[
            az("ap-south-1a", "aps1-az1"),
            az("ap-south-1b", "aps1-az3"),
            az("ap-south-1c", "aps1-az2"),
        ],
    ),
    (
        "sa-east-1",
        &[
            az("sa-east-1a", "sae1-az1"),
            az("sa-east-1b", "sae1-az2"),
            az("sa-east-1c", "sae1-az3"),
        ],
    ),
];

/// Zone IDs eksctl never picks on its own (`zoneIDsToAvoid` in eksctl's `pkg/az/az.go`):
/// zones that lack newer instance types. A user may still name them.
static ZONE_IDS_TO_AVOID: &[(&str, &str)] = &[
    ("us-east-1", "use1-az3"),
    ("us-west-1", "usw1-az2"),
    ("ca-central-1", "cac1-az3"),
];

/// eksctl's `MinRequiredAvailabilityZones`.
pub const MIN_REQUIRED_AVAILABILITY_ZONES: usize = 2;

/// eksctl's `RecommendedAvailabilityZones`: how many zones it picks, except in us-east-1.
pub const RECOMMENDED_AVAILABILITY_ZONES: usize = 3;

/// The regions skiff has zone data for.
pub fn known_regions() -> impl Iterator<Item = &'static str> {
    REGIONS.iter().map(|(region, _)| *region)
}

/// The zones of `region`, or `None` for a region skiff does not know.
pub fn availability_zones(region: &str) -> Option<&'static [AvailabilityZone]> {
    REGIONS
        .iter()
        .find(|(name, _)| *name == region)
        .map(|(_, zones)| *zones)
}

/// The zones a new cluster gets when the file names none: eksctl takes the region's zones
/// minus the ones it avoids and picks 3 of them at random (2 in us-east-1), or all of them
/// when fewer than 3 remain. Skiff picks the first ones in name order, so the choice is
/// deterministic. `None` for an unknown region.
pub fn default_availability_zones(region: &str) -> Option<Vec<String>> {
    let zones = availability_zones(region)?;
    let usable: Vec<&AvailabilityZone> = zones
        .iter()
        .filter(|zone| {
            !ZONE_IDS_TO_AVOID
                .iter()
                .any(|(r, id)| *r == region && *id == zone.id)
        })
        .collect();
    let wanted = if region == "us-east-1" {
        MIN_REQUIRED_AVAILABILITY_ZONES
    } else {
        RECOMMENDED_AVAILABILITY_ZONES
    };
    Some(
        usable
            .iter()
            .take(wanted)
            .map(|zone| zone.name.to_string())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_east_1_gets_two_zones_and_us_west_2_three() {
        assert_eq!(
            default_availability_zones("us-east-1"),
            Some(vec!["us-east-1a".to_string(), "us-east-1b".to_string()])
        );
        assert_eq!(
            default_availability_zones("us-west-2").map(|z| z.len()),
            Some(3)
        );
    }

    #[test]
    fn the_zone_eksctl_avoids_is_never_picked() {
        assert_eq!(
            default_availability_zones("us-west-1"),
            Some(vec!["us-west-1a".to_string(), "us-west-1c".to_string()])
        );
    }

    #[test]
    fn every_zone_id_follows_the_documented_pattern() {
        for (region, zones) in REGIONS {
            let number = region.rsplit('-').next().unwrap_or_default();
            for zone in *zones {
                assert!(zone.name.starts_with(region), "{}", zone.name);
                assert!(zone.id.starts_with(&region[..2]), "{}", zone.id);
                assert!(zone.id.contains(&format!("{number}-az")), "{}", zone.id);
            }
        }
    }
}
