//! What Fargate refuses to run, in the words of the Fargate scheduler.
//!
//! On EKS a pod matching a Fargate profile is not refused at admission: the EKS webhook sets
//! `schedulerName: fargate-scheduler`, the pod is created, and the Fargate scheduler leaves it
//! `Pending` with a `FailedScheduling` warning (reported from `fargate-scheduler`) whose
//! message lists every problem. Real messages seen in user reports (VERIFIED shapes):
//! - `Pod not supported on Fargate: fields not supported: HostNetwork, invalid SecurityContext
//!   fields: Privileged, port contains HostIP or HostPort` (kubernetes-sigs/aws-efs-csi-driver#589)
//! - `Pod not supported on Fargate: invalid SecurityContext fields: Privileged, volumes not
//!   supported: mntdatas3fs is of an unsupported volume Type` (freegroup/kube-s3#14)
//! - `Pod not supported on Fargate: invalid SecurityContext fields: Privileged,Privileged`
//!   (two privileged containers; a Jenkins log prints it after `[POD_UNSUPPORTED_ON_FARGATE]`)
//! - `Pod not supported on Fargate: invalid SecurityContext fields: Capabilities added:
//!   DAC_READ_SEARCH,Capabilities added: DAC_READ_SEARCH`
//! - `Pod not supported on Fargate: invalid SecurityContext fields: AllowPrivilegeEscalation`
//!   (ingress-nginx on Fargate, 2020)
//! - `Pod not supported on Fargate: volumes not supported: data not supported because: PVC
//!   data-loki-backend-0 not bound`
//! - `Pod not supported on Fargate: volumes not supported: persistence not supported because:
//!   persistentvolumeclaim "test-pvc" not found` (aws/containers-roadmap#1382)
//!
//! So: problems join with `", "`; one entry per container in `invalid SecurityContext fields`
//! joins with `","` (no space) and one container's fields with `", "`; the order is top-level
//! fields, security contexts, volumes, ports. A Go pod validator of the same lineage found in
//! the stored index (package `lifecycle`, the Fargate node agent's) adds `DaemonSet not
//! supported`, `HostPID`/`HostIPC` under `fields not supported`, `volumeDevices not supported`,
//! the PVC texts for claims bound to a non-EFS volume, and the default capability list; those
//! texts are DERIVED from that code, not seen in a user report. Where it places volumes before
//! security contexts, the user reports win.
//!
//! GPU and Inferentia requests (`nvidia.com/gpu`, `aws.amazon.com/neuron*`): AWS documents
//! "No GPUs" on Fargate but no scheduler text for it was found; the text
//! `resources not supported: <names>` is DERIVED.
//!
//! Not refused: limits above requests (see [`super::sizing`]).

use k8s_openapi::api::core::v1::{
    Container, PersistentVolume, PersistentVolumeClaim, Pod, SecurityContext, Volume,
};

/// The `PodScheduled` condition reason for a pod Fargate will not run (seen printed before
/// the message in a Jenkins agent log).
pub const UNSUPPORTED_REASON: &str = "POD_UNSUPPORTED_ON_FARGATE";

/// The prefix of every refusal message.
pub const UNSUPPORTED_PREFIX: &str = "Pod not supported on Fargate";

/// The CSI driver name of the EBS CSI driver.
pub const EBS_CSI_DRIVER: &str = "ebs.csi.aws.com";

/// The CSI driver name of the EFS CSI driver, the only driver Fargate mounts.
pub const EFS_CSI_DRIVER: &str = "efs.csi.aws.com";

/// Capabilities a Fargate container may add: the container runtime's default set (as
/// containerd grants it). Anything else is refused as `Capabilities added: <names>`.
pub const PERMITTED_CAPABILITIES: [&str; 14] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Extended resources that mean an accelerator Fargate does not have.
pub fn is_accelerator_resource(name: &str) -> bool {
    name == "nvidia.com/gpu"
        || name.starts_with("nvidia.com/mig-")
        || name == "amd.com/gpu"
        || name.starts_with("aws.amazon.com/neuron")
}

/// Why Fargate will not run a pod: every problem found, in the Fargate scheduler's words.
/// `Display` gives the full `FailedScheduling` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Pod not supported on Fargate: {}", .problems.join(", "))]
pub struct Unsupported {
    /// The problems, in the scheduler's order (`fields not supported: HostNetwork`, ...).
    pub problems: Vec<String>,
}

impl Unsupported {
    /// The `PodScheduled` condition reason, [`UNSUPPORTED_REASON`].
    pub fn reason(&self) -> &'static str {
        UNSUPPORTED_REASON
    }
}

/// What the caller knows of a `persistentVolumeClaim` volume's claim, for
/// [`check_pod_with_claims`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClaimState<'a> {
    /// The claim could not be looked up: treat it as supported (what [`check_pod`] does).
    Unknown,
    /// No claim of that name exists in the pod's namespace.
    Missing,
    /// The claim exists, with its bound volume when it has one.
    Found {
        /// The claim.
        claim: &'a PersistentVolumeClaim,
        /// The volume it is bound to, if it is bound and the volume exists.
        volume: Option<&'a PersistentVolume>,
    },
}

/// Checks a pod against what Fargate runs, treating every `persistentVolumeClaim` volume as
/// supported (the claims cannot be resolved here; see [`check_pod_with_claims`]).
pub fn check_pod(pod: &Pod) -> Result<(), Unsupported> {
    check_pod_with_claims(pod, |_| ClaimState::Unknown)
}

/// Checks a pod against what Fargate runs, asking `claim` about each `persistentVolumeClaim`
/// volume's claim (by claim name, in the pod's namespace).
pub fn check_pod_with_claims<'a>(
    pod: &Pod,
    claim: impl Fn(&str) -> ClaimState<'a>,
) -> Result<(), Unsupported> {
    let mut problems = Vec::new();
    let owned_by_daemonset = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "DaemonSet");
    if owned_by_daemonset {
        problems.push("DaemonSet not supported".to_string());
    }
    let Some(spec) = pod.spec.as_ref() else {
        return finish(problems);
    };

    let mut fields = Vec::new();
    if spec.host_network == Some(true) {
        fields.push("HostNetwork");
    }
    if spec.host_pid == Some(true) {
        fields.push("HostPID");
    }
    if spec.host_ipc == Some(true) {
        fields.push("HostIPC");
    }
    if !fields.is_empty() {
        problems.push(format!("fields not supported: {}", fields.join(", ")));
    }

    let containers: Vec<&Container> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .collect();

    let contexts: Vec<String> = containers
        .iter()
        .filter_map(|c| security_context_problems(c.security_context.as_ref()))
        .collect();
    if !contexts.is_empty() {
        problems.push(format!(
            "invalid SecurityContext fields: {}",
            contexts.join(",")
        ));
    }

    let mut volumes = Vec::new();
    for v in spec.volumes.iter().flatten() {
        if let Some(pvc) = v.persistent_volume_claim.as_ref() {
            if let Some(why) = claim_problem(&pvc.claim_name, claim(&pvc.claim_name)) {
                volumes.push(format!("{} not supported because: {why}", v.name));
            }
        } else if !is_supported_volume_source(v) {
            volumes.push(format!("{} is of an unsupported volume Type", v.name));
        }
    }
    if !volumes.is_empty() {
        problems.push(format!("volumes not supported: {}", volumes.join(", ")));
    }

    if containers
        .iter()
        .any(|c| c.volume_devices.as_ref().is_some_and(|d| !d.is_empty()))
    {
        problems.push("volumeDevices not supported".to_string());
    }

    let host_port = containers.iter().any(|c| {
        c.ports.iter().flatten().any(|p| {
            p.host_port.is_some_and(|hp| hp > 0)
                || p.host_ip.as_deref().is_some_and(|ip| !ip.is_empty())
        })
    });
    if host_port {
        problems.push("port contains HostIP or HostPort".to_string());
    }

    let mut accelerators: Vec<String> = containers
        .iter()
        .filter_map(|c| c.resources.as_ref())
        .flat_map(|r| {
            r.requests
                .iter()
                .chain(r.limits.iter())
                .flat_map(|l| l.keys())
        })
        .filter(|name| is_accelerator_resource(name))
        .cloned()
        .collect();
    accelerators.sort();
    accelerators.dedup();
    if !accelerators.is_empty() {
        problems.push(format!(
            "resources not supported: {}",
            accelerators.join(", ")
        ));
    }

    finish(problems)
}

fn finish(problems: Vec<String>) -> Result<(), Unsupported> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Unsupported { problems })
    }
}

/// One container's refused security-context fields, joined with `", "`, or `None`.
fn security_context_problems(sc: Option<&SecurityContext>) -> Option<String> {
    let sc = sc?;
    let mut fields = Vec::new();
    let added: Vec<&str> = sc
        .capabilities
        .as_ref()
        .and_then(|c| c.add.as_ref())
        .into_iter()
        .flatten()
        .map(String::as_str)
        .filter(|cap| !PERMITTED_CAPABILITIES.contains(cap))
        .collect();
    if !added.is_empty() {
        fields.push(format!("Capabilities added: {}", added.join(", ")));
    }
    if sc.allow_privilege_escalation == Some(true) {
        fields.push("AllowPrivilegeEscalation".to_string());
    }
    if sc.privileged == Some(true) {
        fields.push("Privileged".to_string());
    }
    if fields.is_empty() {
        None
    } else {
        Some(fields.join(", "))
    }
}

/// Whether Fargate mounts this kind of volume: emptyDir, secret, configMap, projected,
/// downwardAPI, nfs, or a persistentVolumeClaim (whose claim must be bound to an EFS volume).
pub fn is_supported_volume_source(v: &Volume) -> bool {
    v.empty_dir.is_some()
        || v.secret.is_some()
        || v.config_map.is_some()
        || v.projected.is_some()
        || v.downward_api.is_some()
        || v.nfs.is_some()
        || v.persistent_volume_claim.is_some()
}

/// Whether a pod volume is an EBS volume: the in-tree `awsElasticBlockStore`, or an inline
/// CSI volume of the EBS CSI driver. Fargate mounts neither.
pub fn is_ebs_volume_source(v: &Volume) -> bool {
    v.aws_elastic_block_store.is_some()
        || v.csi.as_ref().is_some_and(|c| c.driver == EBS_CSI_DRIVER)
}

/// Whether a persistent volume is on EBS (`awsElasticBlockStore` or the EBS CSI driver).
pub fn is_ebs_persistent_volume(pv: &PersistentVolume) -> bool {
    pv.spec.as_ref().is_some_and(|s| {
        s.aws_elastic_block_store.is_some()
            || s.csi.as_ref().is_some_and(|c| c.driver == EBS_CSI_DRIVER)
    })
}

/// Whether a persistent volume is an EFS CSI volume, the only kind Fargate mounts.
pub fn is_efs_persistent_volume(pv: &PersistentVolume) -> bool {
    pv.spec
        .as_ref()
        .and_then(|s| s.csi.as_ref())
        .is_some_and(|c| c.driver == EFS_CSI_DRIVER)
}

/// Why a claim cannot be mounted on Fargate, in the scheduler's words, or `None` if it can.
fn claim_problem(claim_name: &str, state: ClaimState<'_>) -> Option<String> {
    match state {
        ClaimState::Unknown => None,
        ClaimState::Missing => Some(format!("persistentvolumeclaim \"{claim_name}\" not found")),
        ClaimState::Found { claim, volume } => {
            let bound = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
            if !bound {
                return Some(format!("PVC {claim_name} not bound"));
            }
            let pv_name = claim
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.clone())
                .unwrap_or_default();
            let Some(pv) = volume else {
                return Some(format!("persistentvolume \"{pv_name}\" not found"));
            };
            let pv_name = pv.metadata.name.clone().unwrap_or(pv_name);
            match pv.spec.as_ref().and_then(|s| s.csi.as_ref()) {
                None => Some(format!(
                    "PVC {claim_name} bound to invalid PV {pv_name} with nil CSI spec"
                )),
                Some(csi) if csi.driver != EFS_CSI_DRIVER => Some(format!(
                    "PVC {claim_name} bound to invalid PV {pv_name} with CSI Driver: {}",
                    csi.driver
                )),
                Some(_) => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        AWSElasticBlockStoreVolumeSource, CSIPersistentVolumeSource, Capabilities, ContainerPort,
        EmptyDirVolumeSource, HostPathVolumeSource, PersistentVolumeClaimSpec,
        PersistentVolumeClaimStatus, PersistentVolumeClaimVolumeSource, PersistentVolumeSpec,
        PodSpec, ResourceRequirements, VolumeDevice,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn container(name: &str) -> Container {
        Container {
            name: name.into(),
            image: Some("nginx".into()),
            ..Default::default()
        }
    }

    fn privileged(name: &str) -> Container {
        Container {
            security_context: Some(SecurityContext {
                privileged: Some(true),
                ..Default::default()
            }),
            ..container(name)
        }
    }

    fn pod(spec: PodSpec) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(spec),
            ..Default::default()
        }
    }

    fn message(p: &Pod) -> String {
        match check_pod(p) {
            Ok(()) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_plain_pod_runs_on_fargate() {
        let p = pod(PodSpec {
            containers: vec![container("app")],
            volumes: Some(vec![Volume {
                name: "scratch".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Default::default()
            }]),
            ..Default::default()
        });
        assert_eq!(message(&p), "ok");
    }

    #[test]
    fn the_efs_csi_controller_gets_the_message_users_reported() {
        // kubernetes-sigs/aws-efs-csi-driver#589, word for word.
        let mut c = privileged("efs-plugin");
        c.ports = Some(vec![ContainerPort {
            container_port: 9909,
            host_port: Some(9909),
            ..Default::default()
        }]);
        let p = pod(PodSpec {
            host_network: Some(true),
            containers: vec![c],
            ..Default::default()
        });
        assert_eq!(
            message(&p),
            "Pod not supported on Fargate: fields not supported: HostNetwork, invalid SecurityContext fields: Privileged, port contains HostIP or HostPort"
        );
    }

    #[test]
    fn a_privileged_pod_with_a_host_path_gets_the_kube_s3_message() {
        // freegroup/kube-s3#14, word for word.
        let p = pod(PodSpec {
            containers: vec![privileged("s3fuse")],
            volumes: Some(vec![Volume {
                name: "mntdatas3fs".into(),
                host_path: Some(HostPathVolumeSource {
                    path: "/mnt/data-s3-fs".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        });
        assert_eq!(
            message(&p),
            "Pod not supported on Fargate: invalid SecurityContext fields: Privileged, volumes not supported: mntdatas3fs is of an unsupported volume Type"
        );
    }

    #[test]
    fn each_privileged_container_is_listed_and_init_containers_count() {
        let p = pod(PodSpec {
            init_containers: Some(vec![privileged("init")]),
            containers: vec![privileged("dind")],
            ..Default::default()
        });
        let err = check_pod(&p).unwrap_err();
        assert_eq!(err.reason(), "POD_UNSUPPORTED_ON_FARGATE");
        assert_eq!(
            err.to_string(),
            "Pod not supported on Fargate: invalid SecurityContext fields: Privileged,Privileged"
        );
    }

    #[test]
    fn capabilities_beyond_the_default_set_and_privilege_escalation_are_refused() {
        let mut c = container("repo-server");
        c.security_context = Some(SecurityContext {
            capabilities: Some(Capabilities {
                add: Some(vec!["DAC_READ_SEARCH".into(), "DAC_OVERRIDE".into()]),
                ..Default::default()
            }),
            ..Default::default()
        });
        let mut escalating = container("nginx");
        escalating.security_context = Some(SecurityContext {
            allow_privilege_escalation: Some(true),
            ..Default::default()
        });
        let p = pod(PodSpec {
            init_containers: Some(vec![c.clone()]),
            containers: vec![c, escalating],
            ..Default::default()
        });
        assert_eq!(
            message(&p),
            "Pod not supported on Fargate: invalid SecurityContext fields: Capabilities added: DAC_READ_SEARCH,Capabilities added: DAC_READ_SEARCH,AllowPrivilegeEscalation"
        );
    }

    #[test]
    fn host_pid_and_host_ipc_join_host_network_under_fields_not_supported() {
        let p = pod(PodSpec {
            host_network: Some(true),
            host_pid: Some(true),
            host_ipc: Some(true),
            containers: vec![container("app")],
            ..Default::default()
        });
        assert_eq!(
            message(&p),
            "Pod not supported on Fargate: fields not supported: HostNetwork, HostPID, HostIPC"
        );
    }

    #[test]
    fn daemonset_pods_ebs_volumes_gpus_and_block_devices_are_refused() {
        let mut c = container("trainer");
        c.resources = Some(ResourceRequirements {
            limits: Some(
                [("nvidia.com/gpu".to_string(), Quantity("1".into()))]
                    .into_iter()
                    .collect(),
            ),
            requests: Some(
                [(
                    "aws.amazon.com/neuroncore".to_string(),
                    Quantity("2".into()),
                )]
                .into_iter()
                .collect(),
            ),
            ..Default::default()
        });
        c.volume_devices = Some(vec![VolumeDevice {
            name: "raw".into(),
            device_path: "/dev/xvdf".into(),
        }]);
        let mut p = pod(PodSpec {
            containers: vec![c],
            volumes: Some(vec![Volume {
                name: "ebs-vol".into(),
                aws_elastic_block_store: Some(AWSElasticBlockStoreVolumeSource {
                    volume_id: "vol-0123".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        });
        p.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "DaemonSet".into(),
            name: "fluent-bit".into(),
            uid: "u".into(),
            ..Default::default()
        }]);
        assert_eq!(
            message(&p),
            "Pod not supported on Fargate: DaemonSet not supported, volumes not supported: ebs-vol is of an unsupported volume Type, volumeDevices not supported, resources not supported: aws.amazon.com/neuroncore, nvidia.com/gpu"
        );
    }

    #[test]
    fn limits_above_requests_are_not_refused() {
        let mut c = container("stress");
        c.resources = Some(ResourceRequirements {
            requests: Some(
                [("cpu".to_string(), Quantity("3".into()))]
                    .into_iter()
                    .collect(),
            ),
            limits: Some(
                [("cpu".to_string(), Quantity("3500m".into()))]
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        });
        assert_eq!(
            message(&pod(PodSpec {
                containers: vec![c],
                ..Default::default()
            })),
            "ok"
        );
    }

    fn claim(name: &str, phase: &str, volume: &str) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                volume_name: Some(volume.into()),
                ..Default::default()
            }),
            status: Some(PersistentVolumeClaimStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
        }
    }

    fn csi_volume(name: &str, driver: &str) -> PersistentVolume {
        PersistentVolume {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(PersistentVolumeSpec {
                csi: Some(CSIPersistentVolumeSource {
                    driver: driver.into(),
                    volume_handle: "h".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn claims_must_be_bound_to_an_efs_volume() {
        let p = pod(PodSpec {
            containers: vec![container("app")],
            volumes: Some(vec![Volume {
                name: "data".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: "data-loki-backend-0".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        });
        assert_eq!(message(&p), "ok", "check_pod cannot resolve claims");

        let pending = claim("data-loki-backend-0", "Pending", "");
        let err = check_pod_with_claims(&p, |_| ClaimState::Found {
            claim: &pending,
            volume: None,
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Pod not supported on Fargate: volumes not supported: data not supported because: PVC data-loki-backend-0 not bound"
        );

        let bound = claim("data-loki-backend-0", "Bound", "pv-1");
        let ebs = csi_volume("pv-1", EBS_CSI_DRIVER);
        let err = check_pod_with_claims(&p, |_| ClaimState::Found {
            claim: &bound,
            volume: Some(&ebs),
        })
        .unwrap_err();
        assert_eq!(
            err.problems,
            [
                "volumes not supported: data not supported because: PVC data-loki-backend-0 bound to invalid PV pv-1 with CSI Driver: ebs.csi.aws.com"
            ]
        );
        assert!(is_ebs_persistent_volume(&ebs));

        let efs = csi_volume("pv-1", EFS_CSI_DRIVER);
        assert!(is_efs_persistent_volume(&efs));
        assert!(
            check_pod_with_claims(&p, |_| ClaimState::Found {
                claim: &bound,
                volume: Some(&efs),
            })
            .is_ok()
        );
        let err = check_pod_with_claims(&p, |_| ClaimState::Missing).unwrap_err();
        assert_eq!(
            err.problems,
            [
                "volumes not supported: data not supported because: persistentvolumeclaim \"data-loki-backend-0\" not found"
            ]
        );
    }

    #[test]
    fn ebs_volume_sources_are_recognised_in_tree_and_csi() {
        let in_tree = Volume {
            name: "a".into(),
            aws_elastic_block_store: Some(AWSElasticBlockStoreVolumeSource::default()),
            ..Default::default()
        };
        let csi = Volume {
            name: "b".into(),
            csi: Some(k8s_openapi::api::core::v1::CSIVolumeSource {
                driver: EBS_CSI_DRIVER.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let empty = Volume {
            name: "c".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        };
        assert!(is_ebs_volume_source(&in_tree));
        assert!(is_ebs_volume_source(&csi));
        assert!(!is_ebs_volume_source(&empty));
        assert!(!is_supported_volume_source(&csi));
    }
}
