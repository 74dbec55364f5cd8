use super::*;

fn c(s: &str) -> Cidr {
    match s.parse() {
        Ok(c) => c,
        Err(e) => panic!("{s}: {e}"),
    }
}

fn vpc(primary: &str) -> Vpc {
    match Vpc::new(7, c(primary)) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

fn ok<T>(r: Result<T, Ec2Error>) -> T {
    match r {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn code<T: std::fmt::Debug>(r: Result<T, Ec2Error>) -> Ec2ErrorCode {
    match r {
        Ok(t) => panic!("expected an error, got {t:?}"),
        Err(e) => e.code,
    }
}

fn m5_4xlarge(id: &str) -> InstanceNetworking {
    InstanceNetworking {
        instance_id: id.to_string(),
        instance_type: "m5.4xlarge".to_string(),
        max_enis: 8,
        ipv4_per_eni: 30,
    }
}

#[test]
fn ids_are_deterministic_from_the_seed_and_shaped_like_aws_ids() {
    let mut a = vpc("10.0.0.0/16");
    let mut b = vpc("10.0.0.0/16");
    assert_eq!(a.id(), b.id());
    assert!(a.id().as_str().starts_with("vpc-0"));
    assert_eq!(a.id().as_str().len(), "vpc-".len() + 17);
    let sa = ok(a.create_subnet("us-west-2a", "usw2-az1", c("10.0.0.0/24"), false));
    let sb = ok(b.create_subnet("us-west-2a", "usw2-az1", c("10.0.0.0/24"), false));
    assert_eq!(sa, sb);
    assert!(sa.as_str().starts_with("subnet-0"));
    let e = ok(a.create_network_interface(&sa, "x"));
    assert!(e.as_str().starts_with("eni-0") && e.as_str().len() == 21);
    assert_ne!(
        Vpc::new(8, c("10.0.0.0/16")).map(|v| v.id().clone()).ok(),
        Some(a.id().clone())
    );
}

#[test]
fn a_vpc_block_must_be_between_slash_16_and_slash_28() {
    let e = Vpc::new(1, c("10.0.0.0/8")).err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some("InvalidVpc.Range: The CIDR '10.0.0.0/8' is invalid.".to_string())
    );
    assert_eq!(
        code(Vpc::new(1, c("10.0.0.0/29"))),
        Ec2ErrorCode::InvalidVpcRange
    );
    assert!(Vpc::new(1, c("10.0.0.0/28")).is_ok());
}

#[test]
fn secondary_blocks_follow_the_association_rules() {
    let mut v = vpc("10.0.0.0/16");
    // 100.64.0.0/10 space is allowed for a 10/8 VPC (the custom networking setup).
    ok(v.associate_cidr_block(c("100.64.0.0/16")));
    // Another block of the same RFC 1918 range is allowed.
    ok(v.associate_cidr_block(c("10.1.0.0/16")));
    // Other RFC 1918 ranges are restricted.
    let e = v.associate_cidr_block(c("192.168.0.0/16")).err();
    assert_eq!(
        e.as_ref().map(|e| e.code),
        Some(Ec2ErrorCode::InvalidVpcRange)
    );
    assert!(e.is_some_and(|e| e.message.starts_with(
        "The CIDR '192.168.0.0/16' is restricted. Use a CIDR from the same private address range"
    )));
    assert_eq!(
        code(v.associate_cidr_block(c("172.16.0.0/16"))),
        Ec2ErrorCode::InvalidVpcRange
    );
    assert_eq!(
        code(v.associate_cidr_block(c("198.19.0.0/16"))),
        Ec2ErrorCode::InvalidVpcRange
    );
    // Overlap with an existing block.
    assert_eq!(
        code(v.associate_cidr_block(c("10.0.128.0/17"))),
        Ec2ErrorCode::CidrConflict
    );
    // Size.
    assert_eq!(
        code(v.associate_cidr_block(c("10.2.0.0/29"))),
        Ec2ErrorCode::InvalidVpcRange
    );
    // Publicly routable space is allowed; then the default quota of 5 blocks is reached.
    ok(v.associate_cidr_block(c("52.0.0.0/16")));
    ok(v.associate_cidr_block(c("10.2.0.0/16")));
    let e = v.associate_cidr_block(c("10.3.0.0/16")).err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(format!(
            "CidrLimitExceeded: This network '{}' has met its maximum number of allowed CIDRs: 5",
            v.id()
        ))
    );
    assert_eq!(v.cidr_blocks().len(), 5);
    // A 100.64 primary cannot take RFC 1918 blocks.
    let mut w = vpc("100.64.0.0/16");
    assert_eq!(
        code(w.associate_cidr_block(c("10.0.0.0/16"))),
        Ec2ErrorCode::InvalidVpcRange
    );
    ok(w.associate_cidr_block(c("100.65.0.0/16")));
}

#[test]
fn subnets_must_fit_a_vpc_block_and_not_overlap() {
    let mut v = vpc("10.0.0.0/16");
    ok(v.associate_cidr_block(c("100.64.0.0/16")));
    ok(v.create_subnet("us-west-2a", "usw2-az1", c("10.0.0.0/24"), false));
    ok(v.create_subnet("us-west-2a", "usw2-az1", c("100.64.0.0/19"), false));
    let e = v
        .create_subnet("us-west-2b", "usw2-az2", c("10.0.0.128/25"), false)
        .err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(
            "InvalidSubnet.Conflict: The CIDR '10.0.0.128/25' conflicts with another subnet"
                .to_string()
        )
    );
    let e = v
        .create_subnet("us-west-2b", "usw2-az2", c("10.1.0.0/24"), false)
        .err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some("InvalidSubnet.Range: The CIDR '10.1.0.0/24' is invalid.".to_string())
    );
    assert_eq!(
        code(v.create_subnet("us-west-2b", "usw2-az2", c("10.0.1.0/29"), false)),
        Ec2ErrorCode::InvalidSubnetRange
    );
}

#[test]
fn a_slash_26_subnet_has_59_available_addresses_and_hands_out_the_lowest_first() {
    let mut v = vpc("10.0.0.0/16");
    let s = ok(v.create_subnet("us-west-2a", "usw2-az1", c("10.0.0.0/26"), false));
    assert_eq!(ok(v.available_ip_address_count(&s)), 59);
    let eni = ok(v.create_network_interface(&s, "node"));
    // .0-.3 are reserved: the first address handed out is .4.
    assert_eq!(
        ok(v.network_interface(&eni)).primary_ip,
        Ipv4Addr::new(10, 0, 0, 4)
    );
    ok(v.attach(&eni, &m5_4xlarge("i-1"), 0));
    let ips = ok(v.assign_private_ip_addresses(&eni, 3));
    assert_eq!(
        ips,
        vec![
            Ipv4Addr::new(10, 0, 0, 5),
            Ipv4Addr::new(10, 0, 0, 6),
            Ipv4Addr::new(10, 0, 0, 7)
        ]
    );
    assert_eq!(ok(v.available_ip_address_count(&s)), 55);
    ok(v.unassign_private_ip_addresses(&eni, &[Ipv4Addr::new(10, 0, 0, 6)]));
    assert_eq!(ok(v.available_ip_address_count(&s)), 56);
    assert_eq!(
        ok(v.assign_private_ip_addresses(&eni, 1)),
        vec![Ipv4Addr::new(10, 0, 0, 6)]
    );
}

#[test]
fn assigning_addresses_is_all_or_nothing_and_respects_the_per_eni_limit() {
    let mut v = vpc("10.0.0.0/16");
    let s = ok(v.create_subnet("us-west-2a", "usw2-az1", c("10.0.0.0/26"), false));
    let a = ok(v.create_network_interface(&s, "a"));
    ok(v.attach(&a, &m5_4xlarge("i-1"), 0));
    // 30 IPv4 addresses per ENI: the primary and 29 secondaries.
    let e = v.assign_private_ip_addresses(&a, 30).err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(
            "PrivateIpAddressLimitExceeded: Number of private addresses will exceed limit."
                .to_string()
        )
    );
    assert_eq!(ok(v.assign_private_ip_addresses(&a, 29)).len(), 29);
    let b = ok(v.create_network_interface(&s, "b"));
    ok(v.attach(&b, &m5_4xlarge("i-2"), 0));
    // 59 - 30 - 1 = 28 left: asking for 29 gets nothing.
    assert_eq!(ok(v.available_ip_address_count(&s)), 28);
    let e = v.assign_private_ip_addresses(&b, 29).err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(
            "InsufficientFreeAddressesInSubnet: The specified subnet does not have enough free addresses to satisfy the request."
                .to_string()
        )
    );
    assert_eq!(ok(v.available_ip_address_count(&s)), 28);
    assert_eq!(ok(v.assign_private_ip_addresses(&b, 28)).len(), 28);
    assert_eq!(ok(v.available_ip_address_count(&s)), 0);
    assert_eq!(
        code(v.create_network_interface(&s, "c")),
        Ec2ErrorCode::InsufficientFreeAddressesInSubnet
    );
}

#[test]
fn prefixes_are_aligned_wholly_free_slash_28s_and_count_16_addresses() {
    let mut v = vpc("10.0.0.0/16");
    let s = ok(v.create_subnet("us-west-2a", "usw2-az1", c("10.0.0.0/26"), false));
    let a = ok(v.create_network_interface(&s, "a"));
    ok(v.attach(&a, &m5_4xlarge("i-1"), 0));
    // The primary is 10.0.0.4, inside the first /28 (which also holds the reserved .0-.3);
    // the last /28 holds the reserved broadcast address: two /28s are usable.
    let p = ok(v.assign_ipv4_prefixes(&a, 1));
    assert_eq!(p, vec![c("10.0.0.16/28")]);
    assert_eq!(ok(v.available_ip_address_count(&s)), 59 - 1 - 16);
    // A secondary address from the lowest free one leaves the third /28 alone.
    assert_eq!(
        ok(v.assign_private_ip_addresses(&a, 1)),
        vec![Ipv4Addr::new(10, 0, 0, 5)]
    );
    assert_eq!(ok(v.assign_ipv4_prefixes(&a, 1)), vec![c("10.0.0.32/28")]);
    let e = v.assign_ipv4_prefixes(&a, 1).err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(
            "InsufficientCidrBlocks: There are not enough free cidr blocks in the specified subnet to satisfy the request."
                .to_string()
        )
    );
    // 59 - 1 - 1 - 32 = 25 single addresses are still free.
    assert_eq!(ok(v.available_ip_address_count(&s)), 25);
    ok(v.unassign_ipv4_prefixes(&a, &[c("10.0.0.16/28")]));
    assert_eq!(ok(v.available_ip_address_count(&s)), 41);
}

#[test]
fn attachments_respect_the_instance_eni_limit_and_the_primary_stays() {
    let mut v = vpc("10.0.0.0/16");
    let s = ok(v.create_subnet("us-west-2a", "usw2-az1", c("10.0.0.0/24"), false));
    let small = InstanceNetworking {
        instance_id: "i-1".to_string(),
        instance_type: "t3.small".to_string(),
        max_enis: 3,
        ipv4_per_eni: 4,
    };
    let mut enis = Vec::new();
    for i in 0..3 {
        let e = ok(v.create_network_interface(&s, "x"));
        assert_eq!(v.free_device_index("i-1"), i);
        ok(v.attach(&e, &small, i));
        enis.push(e);
    }
    let extra = ok(v.create_network_interface(&s, "x"));
    let e = v.attach(&extra, &small, 3).err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(
            "AttachmentLimitExceeded: Interface count 4 exceeds the limit for t3.small".to_string()
        )
    );
    assert_eq!(
        code(v.detach(&enis[0])),
        Ec2ErrorCode::OperationNotPermitted
    );
    assert_eq!(
        code(v.delete_network_interface(&enis[1])),
        Ec2ErrorCode::InvalidParameterValue
    );
    ok(v.detach(&enis[1]));
    assert_eq!(v.free_device_index("i-1"), 1);
    assert_eq!(v.instance_network_interfaces("i-1").len(), 2);
    ok(v.delete_network_interface(&enis[1]));
    assert_eq!(v.instance_network_interfaces("i-1").len(), 2);
    assert_eq!(v.terminate_instance("i-1").len(), 2);
    assert!(v.instance_network_interfaces("i-1").is_empty());
    // The instance → ENI index equals one rebuilt from the ENIs (as a reload does).
    let rebuilt: Option<Vpc> = serde_json::to_string(&v)
        .ok()
        .and_then(|json| serde_json::from_str(&json).ok());
    assert_eq!(rebuilt.as_ref(), Some(&v));
    assert_eq!(ok(v.available_ip_address_count(&s)), 251 - 1);
}

#[test]
fn the_whole_vpc_round_trips_through_json() {
    let mut v = vpc("10.0.0.0/16");
    let s = ok(v.create_subnet("us-west-2a", "usw2-az1", c("10.0.0.0/24"), true));
    let e = ok(v.create_network_interface(&s, "x"));
    ok(v.attach(&e, &m5_4xlarge("i-1"), 0));
    ok(v.assign_ipv4_prefixes(&e, 2));
    let json = serde_json::to_string(&v).unwrap_or_default();
    let back: Option<Vpc> = serde_json::from_str(&json).ok();
    // Equal includes the instance → ENI index, rebuilt from the ENIs on reload.
    assert_eq!(back.as_ref(), Some(&v));
    assert_eq!(
        back.as_ref()
            .map(|b| b.instance_network_interfaces("i-1").len()),
        Some(1)
    );
    // Ids keep coming from the same stream after a reload.
    if let Some(mut back) = back {
        assert_eq!(
            back.create_subnet("us-west-2b", "usw2-az2", c("10.0.1.0/24"), false)
                .ok(),
            v.create_subnet("us-west-2b", "usw2-az2", c("10.0.1.0/24"), false)
                .ok()
        );
    }
}
