//! Fargate profiles: which pods run on Fargate, and the checks EKS makes on a profile.
//!
//! Sources (awsdocs/amazon-eks-user-guide `latest/ug/nodes/fargate-profile.adoc`, read for
//! `shared/data/aws/fargate.md`, and the EKS service quotas page):
//! - a profile has up to 5 selectors; each selector needs a namespace and may add labels,
//!   and a pod must carry every label of a selector to match it;
//! - namespaces, label keys and label values accept `*` (zero or more characters) and `?`
//!   (exactly one character), no other pattern syntax;
//! - when several profiles match, Fargate takes the first profile name in alphanumeric order;
//! - a pod can name its profile with the label `eks.amazonaws.com/fargate-profile`, and "the
//!   Pod must match a selector in that profile to be scheduled onto Fargate" (EKS workshop's
//!   copy of the same doc page): a pod that names a profile it does not match, or a profile
//!   that does not exist, goes to no profile at all, even when another profile matches;
//! - a pod annotated `eks.amazonaws.com/compute-type: ec2` stays off Fargate (this is how
//!   EKS keeps CoreDNS on EC2 by default; `fargate-getting-started.adoc`, "Update CoreDNS");
//! - AWS re:Post ("Troubleshoot pods assigned to fargate-scheduler") lists `nodeName` and
//!   `schedulerName` set in the pod spec as making EKS skip the pod; a `nodeSelector` is
//!   listed too, but pods commonly select `eks.amazonaws.com/compute-type: fargate`, so it is
//!   not treated as an opt-out here (UNCERTAIN);
//! - service quotas: "Selectors per Fargate profile" 5 (L-D78D8AF8) and "Label pairs per
//!   Fargate profile selector" 5 (L-23414FF3, adjustable).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

/// The pod label that names a pod's Fargate profile. The EKS webhook also sets it on every pod
/// it sends to Fargate (observed in `kubectl describe pod` of Fargate pods:
/// `eks.amazonaws.com/fargate-profile=fp-default`).
pub const PROFILE_LABEL: &str = "eks.amazonaws.com/fargate-profile";

/// The pod annotation that keeps a pod off Fargate when set to `ec2`.
pub const COMPUTE_TYPE_ANNOTATION: &str = "eks.amazonaws.com/compute-type";

/// The most selectors a Fargate profile may have (service quota L-D78D8AF8).
pub const MAX_SELECTORS: usize = 5;

/// The most label pairs one selector may have (service quota L-23414FF3, default 5; AWS can
/// raise it on request).
pub const MAX_SELECTOR_LABELS: usize = 5;

/// A Fargate profile: which pods EKS runs on Fargate, and in which private subnets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FargateProfile {
    /// The profile's name (`fargateProfileName`).
    pub name: String,
    /// The selectors; a pod matching any one of them matches the profile.
    pub selectors: Vec<Selector>,
    /// The private subnets the profile's pods are spread over.
    pub subnets: Vec<String>,
}

/// One selector of a Fargate profile: a namespace pattern and label patterns, all of which a
/// pod must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    /// The namespace pattern (`*` and `?` wildcards allowed). Required.
    pub namespace: String,
    /// Label key pattern to label value pattern (both allow `*` and `?`).
    pub labels: BTreeMap<String, String>,
}

/// A profile field EKS refuses, named by its path in the `CreateFargateProfile` request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// More selectors than the quota allows.
    #[error("selectors: a Fargate profile can have at most {max} selectors, got {got}")]
    TooManySelectors {
        /// The quota.
        max: usize,
        /// How many the profile has.
        got: usize,
    },
    /// A selector without a namespace.
    #[error("selectors[{index}].namespace: a namespace is required for every selector")]
    NamespaceRequired {
        /// The selector's position.
        index: usize,
    },
    /// A selector with more label pairs than the quota allows.
    #[error(
        "selectors[{index}].labels: a Fargate profile selector can have at most {max} label pairs, got {got}"
    )]
    TooManyLabels {
        /// The selector's position.
        index: usize,
        /// The quota.
        max: usize,
        /// How many the selector has.
        got: usize,
    },
    /// A profile without a name.
    #[error("fargateProfileName: a name is required")]
    NameRequired,
}

impl FargateProfile {
    /// Checks the profile as EKS does on `CreateFargateProfile`: a name, at most 5 selectors,
    /// a namespace in every selector, at most 5 label pairs per selector. Returns every
    /// problem found, each naming its field.
    pub fn validate(&self) -> Result<(), Vec<ProfileError>> {
        let mut errors = Vec::new();
        if self.name.is_empty() {
            errors.push(ProfileError::NameRequired);
        }
        if self.selectors.len() > MAX_SELECTORS {
            errors.push(ProfileError::TooManySelectors {
                max: MAX_SELECTORS,
                got: self.selectors.len(),
            });
        }
        for (index, selector) in self.selectors.iter().enumerate() {
            if selector.namespace.is_empty() {
                errors.push(ProfileError::NamespaceRequired { index });
            }
            if selector.labels.len() > MAX_SELECTOR_LABELS {
                errors.push(ProfileError::TooManyLabels {
                    index,
                    max: MAX_SELECTOR_LABELS,
                    got: selector.labels.len(),
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Whether a pod in `namespace` with `labels` matches any selector of this profile.
    pub fn matches(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.selectors.iter().any(|s| s.matches(namespace, labels))
    }
}

impl Selector {
    /// Whether a pod in `namespace` with `labels` matches this selector: the namespace
    /// pattern matches, and every label pattern matches some label of the pod (key pattern
    /// against the key, value pattern against that label's value).
    pub fn matches(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        if self.namespace.is_empty() || !wildcard_match(&self.namespace, namespace) {
            return false;
        }
        self.labels.iter().all(|(key_pattern, value_pattern)| {
            labels.iter().any(|(key, value)| {
                wildcard_match(key_pattern, key) && wildcard_match(value_pattern, value)
            })
        })
    }
}

/// Whether a pod stays off Fargate whatever the profiles say: it is annotated
/// `eks.amazonaws.com/compute-type: ec2`, names a node (`spec.nodeName`), or names a scheduler
/// other than the default one or `fargate-scheduler`.
pub fn opts_out_of_fargate(pod: &Pod) -> bool {
    let annotated_ec2 = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(COMPUTE_TYPE_ANNOTATION))
        .is_some_and(|v| v == "ec2");
    let spec = pod.spec.as_ref();
    let names_node = spec
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    let other_scheduler = spec
        .and_then(|s| s.scheduler_name.as_deref())
        .is_some_and(|n| !n.is_empty() && n != "default-scheduler" && n != super::SCHEDULER_NAME);
    annotated_ec2 || names_node || other_scheduler
}

/// The Fargate profile a pod goes to, if any.
///
/// A pod that [`opts_out_of_fargate`] goes to none.
/// A pod carrying `eks.amazonaws.com/fargate-profile: <name>` goes to that profile only, and
/// only if it matches one of that profile's selectors. Otherwise the matching profile whose
/// name sorts first (byte order, which is alphanumeric order for the names EKS allows:
/// letters, digits, `-` and `_`) wins.
pub fn matching_profile<'a>(
    profiles: &'a [FargateProfile],
    pod: &Pod,
) -> Option<&'a FargateProfile> {
    if opts_out_of_fargate(pod) {
        return None;
    }
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let empty = BTreeMap::new();
    let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
    if let Some(named) = labels.get(PROFILE_LABEL) {
        return profiles
            .iter()
            .find(|p| &p.name == named)
            .filter(|p| p.matches(namespace, labels));
    }
    profiles
        .iter()
        .filter(|p| p.matches(namespace, labels))
        .min_by(|a, b| a.name.cmp(&b.name))
}

/// Whether `text` matches `pattern`, where `*` stands for zero or more characters and `?` for
/// exactly one; every other character matches itself.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Greedy matching with backtracking to the last `*`.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((star_pi, star_ti)) => {
                    pi = star_pi + 1;
                    ti = star_ti + 1;
                    star = Some((star_pi, star_ti + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    const NO_LABELS: &[(&str, &str)] = &[];

    fn pod(namespace: &str, labels: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some(namespace.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn profile(name: &str, selectors: &[(&str, &[(&str, &str)])]) -> FargateProfile {
        FargateProfile {
            name: name.into(),
            selectors: selectors
                .iter()
                .map(|(ns, labels)| Selector {
                    namespace: ns.to_string(),
                    labels: labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                })
                .collect(),
            subnets: vec!["subnet-private-a".into()],
        }
    }

    #[test]
    fn wildcards_match_as_the_docs_describe() {
        let cases = [
            ("prod-*", "prod-", true),
            ("prod-*", "prod-web", true),
            ("prod-*", "staging", false),
            ("?", "a", true),
            ("?", "", false),
            ("?", "ab", false),
            ("team-?-*", "team-a-web", true),
            ("team-?-*", "team--web", false),
            ("*", "", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("default", "default", true),
            ("default", "defaults", false),
            ("*-system", "kube-system", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(wildcard_match(pattern, text), want, "{pattern} vs {text}");
        }
    }

    #[test]
    fn a_namespace_selector_without_labels_takes_every_pod_in_the_namespace() {
        let profiles = [profile("fp-default", &[("default", &[])])];
        let got = matching_profile(&profiles, &pod("default", &[("app", "web")]));
        assert_eq!(got.map(|p| p.name.as_str()), Some("fp-default"));
        assert!(matching_profile(&profiles, &pod("other", &[])).is_none());
    }

    #[test]
    fn a_pod_must_carry_every_label_of_the_selector() {
        let profiles = [profile(
            "checkout",
            &[("checkout", &[("fargate", "yes"), ("tier", "web")])],
        )];
        assert!(matching_profile(&profiles, &pod("checkout", &[("fargate", "yes")])).is_none());
        assert!(
            matching_profile(
                &profiles,
                &pod(
                    "checkout",
                    &[("fargate", "yes"), ("tier", "web"), ("x", "y")]
                )
            )
            .is_some()
        );
    }

    #[test]
    fn label_keys_and_values_take_wildcards() {
        let profiles = [profile(
            "wild",
            &[("*", &[("app.kubernetes.io/*", "web-?")])],
        )];
        assert!(
            matching_profile(
                &profiles,
                &pod("any", &[("app.kubernetes.io/name", "web-1")])
            )
            .is_some()
        );
        assert!(
            matching_profile(
                &profiles,
                &pod("any", &[("app.kubernetes.io/name", "web-12")])
            )
            .is_none()
        );
    }

    #[test]
    fn when_several_profiles_match_the_first_name_in_alphanumeric_order_wins() {
        let profiles = [
            profile("zeta", &[("default", &[])]),
            profile("alpha", &[("default", &[])]),
            profile("beta", &[("*", &[])]),
        ];
        let got = matching_profile(&profiles, &pod("default", &[]));
        assert_eq!(got.map(|p| p.name.as_str()), Some("alpha"));
    }

    #[test]
    fn the_profile_label_picks_a_matching_profile_over_the_alphabetical_one() {
        let profiles = [
            profile("alpha", &[("default", &[])]),
            profile("beta", &[("default", &[])]),
        ];
        let got = matching_profile(&profiles, &pod("default", &[(PROFILE_LABEL, "beta")]));
        assert_eq!(got.map(|p| p.name.as_str()), Some("beta"));
    }

    #[test]
    fn a_pod_naming_a_profile_it_does_not_match_goes_to_no_profile() {
        let profiles = [
            profile("alpha", &[("default", &[])]),
            profile("batch", &[("batch", &[])]),
        ];
        assert!(
            matching_profile(&profiles, &pod("default", &[(PROFILE_LABEL, "batch")])).is_none()
        );
        assert!(matching_profile(&profiles, &pod("default", &[(PROFILE_LABEL, "gone")])).is_none());
    }

    #[test]
    fn a_profile_with_six_selectors_or_an_empty_namespace_is_refused_naming_the_field() {
        let mut p = profile("too-many", &[("a", NO_LABELS); 6]);
        p.selectors[2].namespace.clear();
        p.selectors[4].labels = (0..6).map(|i| (format!("k{i}"), "v".into())).collect();
        let errors = p.validate().unwrap_err();
        let messages: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            messages,
            [
                "selectors: a Fargate profile can have at most 5 selectors, got 6",
                "selectors[2].namespace: a namespace is required for every selector",
                "selectors[4].labels: a Fargate profile selector can have at most 5 label pairs, got 6",
            ]
        );
        assert!(profile("ok", &[("a", NO_LABELS); 5]).validate().is_ok());
    }

    #[test]
    fn a_pod_annotated_ec2_or_bound_to_a_node_or_another_scheduler_stays_off_fargate() {
        use k8s_openapi::api::core::v1::PodSpec;
        let profiles = [profile("kube-system", &[("kube-system", NO_LABELS)])];
        let mut coredns = pod("kube-system", &[("k8s-app", "kube-dns")]);
        assert!(matching_profile(&profiles, &coredns).is_some());
        coredns.metadata.annotations = Some(BTreeMap::from([(
            COMPUTE_TYPE_ANNOTATION.to_string(),
            "ec2".to_string(),
        )]));
        assert!(matching_profile(&profiles, &coredns).is_none());

        let with_spec = |node: Option<&str>, scheduler: Option<&str>| {
            let mut p = pod("kube-system", &[]);
            p.spec = Some(PodSpec {
                node_name: node.map(String::from),
                scheduler_name: scheduler.map(String::from),
                ..Default::default()
            });
            matching_profile(&profiles, &p).is_some()
        };
        assert!(!with_spec(Some("ip-10-0-1-2.ec2.internal"), None));
        assert!(!with_spec(None, Some("my-scheduler")));
        assert!(with_spec(None, Some("default-scheduler")));
        assert!(with_spec(None, Some("fargate-scheduler")));
    }

    #[test]
    fn a_selector_with_an_empty_namespace_matches_nothing() {
        let profiles = [profile("empty", &[("", &[])])];
        assert!(matching_profile(&profiles, &pod("default", &[])).is_none());
    }
}
