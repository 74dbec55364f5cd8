//! Server-side table printing: the columns and row cells that a v1.33 kube-apiserver
//! returns for `Accept: application/json;as=Table;g=meta.k8s.io;v=v1`.
//!
//! This mirrors upstream `pkg/printers/internalversion/printers.go` (`AddHandlers` and the
//! `print*` functions), apimachinery's `duration.HumanDuration`, and apiserver's default table
//! convertor (`pkg/registry/rest/table.go`) for resources without a printer. The server always
//! prints with `Wide: true`, so the cells include the priority-1 (wide) columns; kubectl hides
//! those unless asked for `-o wide`.
//!
//! Objects are the versioned JSON form. Where the printer reads a field that the versioned
//! API defaults when decoding (e.g. `spec.replicas`, `spec.type` of a Service, a CronJob's
//! `spec.suspend`), a missing field is read as its default, so an object stored without
//! defaults prints as it would from a real cluster. Wrong JSON types are read as absent:
//! nothing here panics on hostile input.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

/// One column of a server-side Table, as metav1.TableColumnDefinition.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Column {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

const fn col(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 0,
    }
}

const fn wide(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 1,
    }
}

const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: doc::OBJECT_META_NAME,
    priority: 0,
};
const AGE: Column = col("Age", "string", doc::OBJECT_META_CREATION_TIMESTAMP);
const CONTAINERS_DOC: &str = "Names of each container in the template.";
const IMAGES_DOC: &str = "Images referenced by each container in the template.";
const CONTAINERS: Column = wide("Containers", "string", CONTAINERS_DOC);
const IMAGES: Column = wide("Images", "string", IMAGES_DOC);

/// Which upstream print handler serves a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Printer {
    Pod,
    PodTemplate,
    PodDisruptionBudget,
    ReplicationController,
    ReplicaSet,
    DaemonSet,
    Job,
    CronJob,
    Service,
    Ingress,
    IngressClass,
    StatefulSet,
    Endpoints,
    Node,
    Event,
    EventV1,
    Namespace,
    Secret,
    ServiceAccount,
    PersistentVolume,
    PersistentVolumeClaim,
    ComponentStatus,
    Deployment,
    HorizontalPodAutoscaler,
    ConfigMap,
    NetworkPolicy,
    RoleBinding,
    ClusterRoleBinding,
    CertificateSigningRequest,
    ClusterTrustBundle,
    Lease,
    LeaseCandidate,
    StorageClass,
    ControllerRevision,
    ResourceQuota,
    PriorityClass,
    RuntimeClass,
    VolumeAttachment,
    EndpointSlice,
    CsiNode,
    CsiDriver,
    ApiService,
    MutatingWebhookConfiguration,
    ValidatingWebhookConfiguration,
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding,
    MutatingAdmissionPolicy,
    MutatingAdmissionPolicyBinding,
    FlowSchema,
    PriorityLevelConfiguration,
    ServiceCidr,
    IpAddress,
    DeviceClass,
    ResourceClaim,
    ResourceClaimTemplate,
    ResourceSlice,
    /// apiserver's default table convertor: Name and Created At.
    Default,
}

fn printer(group: &str, resource: &str) -> Printer {
    use Printer::*;
    match (group, resource) {
        ("", "pods") => Pod,
        ("", "podtemplates") => PodTemplate,
        ("", "replicationcontrollers") => ReplicationController,
        ("", "services") => Service,
        ("", "endpoints") => Endpoints,
        ("", "nodes") => Node,
        ("", "events") => Event,
        ("", "namespaces") => Namespace,
        ("", "secrets") => Secret,
        ("", "serviceaccounts") => ServiceAccount,
        ("", "persistentvolumes") => PersistentVolume,
        ("", "persistentvolumeclaims") => PersistentVolumeClaim,
        ("", "componentstatuses") => ComponentStatus,
        ("", "configmaps") => ConfigMap,
        ("", "resourcequotas") => ResourceQuota,
        ("apps", "replicasets") => ReplicaSet,
        ("apps", "daemonsets") => DaemonSet,
        ("apps", "statefulsets") => StatefulSet,
        ("apps", "deployments") => Deployment,
        ("apps", "controllerrevisions") => ControllerRevision,
        ("batch", "jobs") => Job,
        ("batch", "cronjobs") => CronJob,
        ("policy", "poddisruptionbudgets") => PodDisruptionBudget,
        ("autoscaling", "horizontalpodautoscalers") => HorizontalPodAutoscaler,
        ("networking.k8s.io", "ingresses") => Ingress,
        ("networking.k8s.io", "ingressclasses") => IngressClass,
        ("networking.k8s.io", "networkpolicies") => NetworkPolicy,
        ("networking.k8s.io", "servicecidrs") => ServiceCidr,
        ("networking.k8s.io", "ipaddresses") => IpAddress,
        ("events.k8s.io", "events") => EventV1,
        ("rbac.authorization.k8s.io", "rolebindings") => RoleBinding,
        ("rbac.authorization.k8s.io", "clusterrolebindings") => ClusterRoleBinding,
        ("certificates.k8s.io", "certificatesigningrequests") => CertificateSigningRequest,
        ("certificates.k8s.io", "clustertrustbundles") => ClusterTrustBundle,
        ("coordination.k8s.io", "leases") => Lease,
        ("coordination.k8s.io", "leasecandidates") => LeaseCandidate,
        ("storage.k8s.io", "storageclasses") => StorageClass,
        ("storage.k8s.io", "volumeattachments") => VolumeAttachment,
        ("storage.k8s.io", "csinodes") => CsiNode,
        ("storage.k8s.io", "csidrivers") => CsiDriver,
        ("scheduling.k8s.io", "priorityclasses") => PriorityClass,
        ("node.k8s.io", "runtimeclasses") => RuntimeClass,
        ("discovery.k8s.io", "endpointslices") => EndpointSlice,
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations") => {
            MutatingWebhookConfiguration
        }
        ("admissionregistration.k8s.io", "validatingwebhookconfigurations") => {
            ValidatingWebhookConfiguration
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicies") => {
            ValidatingAdmissionPolicy
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicybindings") => {
            ValidatingAdmissionPolicyBinding
        }
        ("admissionregistration.k8s.io", "mutatingadmissionpolicies") => MutatingAdmissionPolicy,
        ("admissionregistration.k8s.io", "mutatingadmissionpolicybindings") => {
            MutatingAdmissionPolicyBinding
        }
        ("flowcontrol.apiserver.k8s.io", "flowschemas") => FlowSchema,
        ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations") => {
            PriorityLevelConfiguration
        }
        ("resource.k8s.io", "deviceclasses") => DeviceClass,
        ("resource.k8s.io", "resourceclaims") => ResourceClaim,
        ("resource.k8s.io", "resourceclaimtemplates") => ResourceClaimTemplate,
        ("resource.k8s.io", "resourceslices") => ResourceSlice,
        // kube-aggregator's own table convertor
        ("apiregistration.k8s.io", "apiservices") => ApiService,
        // roles, clusterroles, limitranges and customresourcedefinitions have no printer, and
        // csistoragecapacities registers the default convertor although a printer exists: all
        // are served by the default table convertor, as is everything unknown.
        _ => Default,
    }
}

/// The columns upstream prints for `resource` (plural) of `group` ("" for core), wide
/// (priority 1) columns included. Resources without a printer get apiserver's default table
/// convertor columns: Name and Created At.
pub fn columns(group: &str, resource: &str) -> Vec<Column> {
    use Printer::*;
    let rs_doc = "Number of the pod with ready state";
    match printer(group, resource) {
        Pod => vec![
            NAME,
            col(
                "Ready",
                "string",
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            col(
                "Status",
                "string",
                "The aggregate status of the containers in this pod.",
            ),
            col(
                "Restarts",
                "string",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            AGE,
            wide("IP", "string", doc::POD_STATUS_POD_IP),
            wide("Node", "string", doc::POD_SPEC_NODE_NAME),
            wide(
                "Nominated Node",
                "string",
                doc::POD_STATUS_NOMINATED_NODE_NAME,
            ),
            wide("Readiness Gates", "string", doc::POD_SPEC_READINESS_GATES),
        ],
        PodTemplate => vec![
            NAME,
            col("Containers", "string", CONTAINERS_DOC),
            col("Images", "string", IMAGES_DOC),
            col("Pod Labels", "string", "The labels for the pod template."),
        ],
        PodDisruptionBudget => vec![
            NAME,
            col(
                "Min Available",
                "string",
                "The minimum number of pods that must be available.",
            ),
            col(
                "Max Unavailable",
                "string",
                "The maximum number of pods that may be unavailable.",
            ),
            col(
                "Allowed Disruptions",
                "integer",
                "Calculated number of pods that may be disrupted at this time.",
            ),
            AGE,
        ],
        ReplicationController => vec![
            NAME,
            col(
                "Desired",
                "integer",
                doc::REPLICATION_CONTROLLER_SPEC_REPLICAS,
            ),
            col(
                "Current",
                "integer",
                doc::REPLICATION_CONTROLLER_STATUS_REPLICAS,
            ),
            col(
                "Ready",
                "integer",
                doc::REPLICATION_CONTROLLER_STATUS_READY_REPLICAS,
            ),
            AGE,
            CONTAINERS,
            IMAGES,
            wide(
                "Selector",
                "string",
                doc::REPLICATION_CONTROLLER_SPEC_SELECTOR,
            ),
        ],
        ReplicaSet => vec![
            NAME,
            col("Desired", "integer", doc::REPLICA_SET_SPEC_REPLICAS),
            col("Current", "integer", doc::REPLICA_SET_STATUS_REPLICAS),
            col("Ready", "integer", doc::REPLICA_SET_STATUS_READY_REPLICAS),
            AGE,
            CONTAINERS,
            IMAGES,
            wide("Selector", "string", doc::REPLICA_SET_SPEC_SELECTOR),
        ],
        DaemonSet => vec![
            NAME,
            col(
                "Desired",
                "integer",
                doc::DAEMON_SET_STATUS_DESIRED_NUMBER_SCHEDULED,
            ),
            col(
                "Current",
                "integer",
                doc::DAEMON_SET_STATUS_CURRENT_NUMBER_SCHEDULED,
            ),
            col("Ready", "integer", doc::DAEMON_SET_STATUS_NUMBER_READY),
            col(
                "Up-to-date",
                "integer",
                doc::DAEMON_SET_STATUS_UPDATED_NUMBER_SCHEDULED,
            ),
            col(
                "Available",
                "integer",
                doc::DAEMON_SET_STATUS_NUMBER_AVAILABLE,
            ),
            col("Node Selector", "string", doc::POD_SPEC_NODE_SELECTOR),
            AGE,
            CONTAINERS,
            IMAGES,
            wide("Selector", "string", doc::DAEMON_SET_SPEC_SELECTOR),
        ],
        Job => vec![
            NAME,
            col("Status", "string", "Status of the job."),
            col("Completions", "string", doc::JOB_STATUS_SUCCEEDED),
            col("Duration", "string", "Time required to complete the job."),
            AGE,
            CONTAINERS,
            IMAGES,
            wide("Selector", "string", doc::JOB_SPEC_SELECTOR),
        ],
        CronJob => vec![
            NAME,
            col("Schedule", "string", doc::CRON_JOB_SPEC_SCHEDULE),
            col("Timezone", "string", doc::CRON_JOB_SPEC_TIME_ZONE),
            col("Suspend", "boolean", doc::CRON_JOB_SPEC_SUSPEND),
            col("Active", "integer", doc::CRON_JOB_STATUS_ACTIVE),
            col(
                "Last Schedule",
                "string",
                doc::CRON_JOB_STATUS_LAST_SCHEDULE_TIME,
            ),
            AGE,
            CONTAINERS,
            IMAGES,
            wide("Selector", "string", doc::JOB_SPEC_SELECTOR),
        ],
        Service => vec![
            NAME,
            col("Type", "string", doc::SERVICE_SPEC_TYPE),
            col("Cluster-IP", "string", doc::SERVICE_SPEC_CLUSTER_IP),
            col("External-IP", "string", doc::SERVICE_SPEC_EXTERNAL_IPS),
            col("Port(s)", "string", doc::SERVICE_SPEC_PORTS),
            AGE,
            wide("Selector", "string", doc::SERVICE_SPEC_SELECTOR),
        ],
        Ingress => vec![
            NAME,
            col(
                "Class",
                "string",
                "The name of the IngressClass resource that should be used for additional configuration",
            ),
            col(
                "Hosts",
                "string",
                "Hosts that incoming requests are matched against before the ingress rule",
            ),
            col(
                "Address",
                "string",
                "Address is a list containing ingress points for the load-balancer",
            ),
            col("Ports", "string", "Ports of TLS configurations that open"),
            AGE,
        ],
        IngressClass => vec![
            NAME,
            col(
                "Controller",
                "string",
                "Controller that is responsible for handling this class",
            ),
            col(
                "Parameters",
                "string",
                "A reference to a resource with additional parameters",
            ),
            AGE,
        ],
        StatefulSet => vec![
            NAME,
            col("Ready", "string", rs_doc),
            AGE,
            CONTAINERS,
            IMAGES,
        ],
        Endpoints => vec![
            NAME,
            col("Endpoints", "string", doc::ENDPOINTS_SUBSETS),
            AGE,
        ],
        Node => vec![
            NAME,
            col("Status", "string", "The status of the node"),
            col("Roles", "string", "The roles of the node"),
            AGE,
            col("Version", "string", doc::NODE_SYSTEM_INFO_KUBELET_VERSION),
            wide("Internal-IP", "string", doc::NODE_STATUS_ADDRESSES),
            wide("External-IP", "string", doc::NODE_STATUS_ADDRESSES),
            wide("OS-Image", "string", doc::NODE_SYSTEM_INFO_OS_IMAGE),
            wide(
                "Kernel-Version",
                "string",
                doc::NODE_SYSTEM_INFO_KERNEL_VERSION,
            ),
            wide(
                "Container-Runtime",
                "string",
                doc::NODE_SYSTEM_INFO_CONTAINER_RUNTIME_VERSION,
            ),
        ],
        Event | EventV1 => vec![
            col("Last Seen", "string", doc::EVENT_LAST_TIMESTAMP),
            col("Type", "string", doc::EVENT_TYPE),
            col("Reason", "string", doc::EVENT_REASON),
            col("Object", "string", doc::EVENT_INVOLVED_OBJECT),
            wide("Subobject", "string", doc::OBJECT_REFERENCE_FIELD_PATH),
            wide("Source", "string", doc::EVENT_SOURCE),
            col("Message", "string", doc::EVENT_MESSAGE),
            wide("First Seen", "string", doc::EVENT_FIRST_TIMESTAMP),
            wide("Count", "string", doc::EVENT_COUNT),
            Column {
                priority: 1,
                ..NAME
            },
        ],
        Namespace => vec![
            NAME,
            col("Status", "string", "The status of the namespace"),
            AGE,
        ],
        Secret => vec![
            NAME,
            col("Type", "string", doc::SECRET_TYPE),
            col("Data", "string", doc::SECRET_DATA),
            AGE,
        ],
        ServiceAccount => vec![
            NAME,
            col("Secrets", "string", doc::SERVICE_ACCOUNT_SECRETS),
            AGE,
        ],
        PersistentVolume => vec![
            NAME,
            col("Capacity", "string", doc::PERSISTENT_VOLUME_SPEC_CAPACITY),
            col(
                "Access Modes",
                "string",
                doc::PERSISTENT_VOLUME_SPEC_ACCESS_MODES,
            ),
            col(
                "Reclaim Policy",
                "string",
                doc::PERSISTENT_VOLUME_SPEC_PERSISTENT_VOLUME_RECLAIM_POLICY,
            ),
            col("Status", "string", doc::PERSISTENT_VOLUME_STATUS_PHASE),
            col("Claim", "string", doc::PERSISTENT_VOLUME_SPEC_CLAIM_REF),
            col("StorageClass", "string", "StorageClass of the pv"),
            col(
                "VolumeAttributesClass",
                "string",
                "VolumeAttributesClass of the pv",
            ),
            col("Reason", "string", doc::PERSISTENT_VOLUME_STATUS_REASON),
            AGE,
            wide(
                "VolumeMode",
                "string",
                doc::PERSISTENT_VOLUME_SPEC_VOLUME_MODE,
            ),
        ],
        PersistentVolumeClaim => vec![
            NAME,
            col(
                "Status",
                "string",
                doc::PERSISTENT_VOLUME_CLAIM_STATUS_PHASE,
            ),
            col(
                "Volume",
                "string",
                doc::PERSISTENT_VOLUME_CLAIM_SPEC_VOLUME_NAME,
            ),
            col(
                "Capacity",
                "string",
                doc::PERSISTENT_VOLUME_CLAIM_STATUS_CAPACITY,
            ),
            col(
                "Access Modes",
                "string",
                doc::PERSISTENT_VOLUME_CLAIM_STATUS_ACCESS_MODES,
            ),
            col("StorageClass", "string", "StorageClass of the pvc"),
            col(
                "VolumeAttributesClass",
                "string",
                "VolumeAttributesClass of the pvc",
            ),
            AGE,
            wide(
                "VolumeMode",
                "string",
                doc::PERSISTENT_VOLUME_CLAIM_SPEC_VOLUME_MODE,
            ),
        ],
        ComponentStatus => vec![
            NAME,
            col("Status", "string", "Status of the component conditions"),
            col("Message", "string", "Message of the component conditions"),
            col("Error", "string", "Error of the component conditions"),
        ],
        Deployment => vec![
            NAME,
            col("Ready", "string", rs_doc),
            col(
                "Up-to-date",
                "string",
                doc::DEPLOYMENT_STATUS_UPDATED_REPLICAS,
            ),
            col(
                "Available",
                "string",
                doc::DEPLOYMENT_STATUS_AVAILABLE_REPLICAS,
            ),
            AGE,
            CONTAINERS,
            IMAGES,
            wide("Selector", "string", doc::DEPLOYMENT_SPEC_SELECTOR),
        ],
        HorizontalPodAutoscaler => vec![
            NAME,
            col(
                "Reference",
                "string",
                doc::HORIZONTAL_POD_AUTOSCALER_SPEC_SCALE_TARGET_REF,
            ),
            col(
                "Targets",
                "string",
                doc::HORIZONTAL_POD_AUTOSCALER_SPEC_METRICS,
            ),
            col(
                "MinPods",
                "string",
                doc::HORIZONTAL_POD_AUTOSCALER_SPEC_MIN_REPLICAS,
            ),
            col(
                "MaxPods",
                "string",
                doc::HORIZONTAL_POD_AUTOSCALER_SPEC_MAX_REPLICAS,
            ),
            col(
                "Replicas",
                "string",
                doc::HORIZONTAL_POD_AUTOSCALER_STATUS_CURRENT_REPLICAS,
            ),
            AGE,
        ],
        ConfigMap => vec![NAME, col("Data", "string", doc::CONFIG_MAP_DATA), AGE],
        NetworkPolicy => vec![
            NAME,
            col(
                "Pod-Selector",
                "string",
                doc::NETWORK_POLICY_SPEC_POD_SELECTOR,
            ),
            AGE,
        ],
        RoleBinding => vec![
            NAME,
            col("Role", "string", doc::ROLE_BINDING_ROLE_REF),
            AGE,
            wide("Users", "string", "Users in the roleBinding"),
            wide("Groups", "string", "Groups in the roleBinding"),
            wide(
                "ServiceAccounts",
                "string",
                "ServiceAccounts in the roleBinding",
            ),
        ],
        ClusterRoleBinding => vec![
            NAME,
            col("Role", "string", doc::CLUSTER_ROLE_BINDING_ROLE_REF),
            AGE,
            wide("Users", "string", "Users in the clusterRoleBinding"),
            wide("Groups", "string", "Groups in the clusterRoleBinding"),
            wide(
                "ServiceAccounts",
                "string",
                "ServiceAccounts in the clusterRoleBinding",
            ),
        ],
        CertificateSigningRequest => vec![
            NAME,
            AGE,
            col(
                "SignerName",
                "string",
                doc::CERTIFICATE_SIGNING_REQUEST_SPEC_SIGNER_NAME,
            ),
            col(
                "Requestor",
                "string",
                doc::CERTIFICATE_SIGNING_REQUEST_SPEC_REQUEST,
            ),
            col(
                "RequestedDuration",
                "string",
                doc::CERTIFICATE_SIGNING_REQUEST_SPEC_EXPIRATION_SECONDS,
            ),
            col(
                "Condition",
                "string",
                doc::CERTIFICATE_SIGNING_REQUEST_STATUS_CONDITIONS,
            ),
        ],
        ClusterTrustBundle => vec![
            NAME,
            col(
                "SignerName",
                "string",
                doc::CLUSTER_TRUST_BUNDLE_SPEC_SIGNER_NAME,
            ),
        ],
        Lease => vec![
            NAME,
            col("Holder", "string", doc::LEASE_SPEC_HOLDER_IDENTITY),
            AGE,
        ],
        LeaseCandidate => vec![
            NAME,
            col("LeaseName", "string", doc::LEASE_CANDIDATE_SPEC_LEASE_NAME),
            // upstream reads these descriptions from ObjectMeta's doc map, which has no such keys
            col("BinaryVersion", "string", ""),
            col("EmulationVersion", "string", ""),
            AGE,
        ],
        StorageClass => vec![
            NAME,
            col("Provisioner", "string", doc::STORAGE_CLASS_PROVISIONER),
            col("ReclaimPolicy", "string", doc::STORAGE_CLASS_RECLAIM_POLICY),
            col(
                "VolumeBindingMode",
                "string",
                doc::STORAGE_CLASS_VOLUME_BINDING_MODE,
            ),
            col(
                "AllowVolumeExpansion",
                "string",
                doc::STORAGE_CLASS_ALLOW_VOLUME_EXPANSION,
            ),
            AGE,
        ],
        ControllerRevision => vec![
            NAME,
            col("Controller", "string", "Controller of the object"),
            col("Revision", "string", doc::CONTROLLER_REVISION_REVISION),
            AGE,
        ],
        ResourceQuota => vec![
            NAME,
            col(
                "Request",
                "string",
                "Request represents a minimum amount of cpu/memory that a container may consume.",
            ),
            col(
                "Limit",
                "string",
                "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
            ),
            AGE,
        ],
        PriorityClass => vec![
            NAME,
            col("Value", "integer", doc::PRIORITY_CLASS_VALUE),
            col(
                "Global-Default",
                "boolean",
                doc::PRIORITY_CLASS_GLOBAL_DEFAULT,
            ),
            AGE,
            col(
                "PreemptionPolicy",
                "string",
                doc::PRIORITY_CLASS_PREEMPTION_POLICY,
            ),
        ],
        // upstream reads the Handler description from ObjectMeta's doc map: empty
        RuntimeClass => vec![NAME, col("Handler", "string", ""), AGE],
        VolumeAttachment => vec![
            NAME,
            Column {
                format: "name",
                ..col("Attacher", "string", doc::VOLUME_ATTACHMENT_SPEC_ATTACHER)
            },
            col(
                "PV",
                "string",
                doc::VOLUME_ATTACHMENT_SOURCE_PERSISTENT_VOLUME_NAME,
            ),
            col("Node", "string", doc::VOLUME_ATTACHMENT_SPEC_NODE_NAME),
            col(
                "Attached",
                "boolean",
                doc::VOLUME_ATTACHMENT_STATUS_ATTACHED,
            ),
            AGE,
        ],
        EndpointSlice => vec![
            NAME,
            col("AddressType", "string", doc::ENDPOINT_SLICE_ADDRESS_TYPE),
            col("Ports", "string", doc::ENDPOINT_SLICE_PORTS),
            col("Endpoints", "string", doc::ENDPOINT_SLICE_ENDPOINTS),
            AGE,
        ],
        CsiNode => vec![
            NAME,
            col(
                "Drivers",
                "integer",
                "Drivers indicates the number of CSI drivers registered on the node",
            ),
            AGE,
        ],
        CsiDriver => vec![
            NAME,
            col(
                "AttachRequired",
                "boolean",
                doc::CSIDRIVER_SPEC_ATTACH_REQUIRED,
            ),
            col(
                "PodInfoOnMount",
                "boolean",
                doc::CSIDRIVER_SPEC_POD_INFO_ON_MOUNT,
            ),
            col(
                "StorageCapacity",
                "boolean",
                doc::CSIDRIVER_SPEC_STORAGE_CAPACITY,
            ),
            col(
                "TokenRequests",
                "string",
                doc::CSIDRIVER_SPEC_TOKEN_REQUESTS,
            ),
            col(
                "RequiresRepublish",
                "boolean",
                doc::CSIDRIVER_SPEC_REQUIRES_REPUBLISH,
            ),
            col(
                "Modes",
                "string",
                doc::CSIDRIVER_SPEC_VOLUME_LIFECYCLE_MODES,
            ),
            AGE,
        ],
        ApiService => vec![
            NAME,
            col(
                "Service",
                "string",
                "The reference to the service that hosts this API endpoint.",
            ),
            col("Available", "string", "Whether this service is available."),
            col("Age", "string", doc::OBJECT_META_CREATION_TIMESTAMP),
        ],
        MutatingWebhookConfiguration | ValidatingWebhookConfiguration => vec![
            NAME,
            col(
                "Webhooks",
                "integer",
                "Webhooks indicates the number of webhooks registered in this configuration",
            ),
            AGE,
        ],
        ValidatingAdmissionPolicy => vec![
            NAME,
            col(
                "Validations",
                "integer",
                "Validations indicates the number of validation rules defined in this configuration",
            ),
            col(
                "ParamKind",
                "string",
                "ParamKind specifies the kind of resources used to parameterize this policy",
            ),
            AGE,
        ],
        MutatingAdmissionPolicy => vec![
            NAME,
            col(
                "Mutations",
                "integer",
                "Mutation indicates the number of mutations rules defined in this configuration",
            ),
            col(
                "ParamKind",
                "string",
                "ParamKind specifies the kind of resources used to parameterize this policy",
            ),
            AGE,
        ],
        ValidatingAdmissionPolicyBinding | MutatingAdmissionPolicyBinding => vec![
            NAME,
            col(
                "PolicyName",
                "string",
                "PolicyName indicates the policy definition which the policy binding binded to",
            ),
            col(
                "ParamRef",
                "string",
                "ParamRef indicates the param resource which sets the configration param",
            ),
            AGE,
        ],
        FlowSchema => vec![
            NAME,
            col(
                "PriorityLevel",
                "string",
                doc::PRIORITY_LEVEL_CONFIGURATION_REFERENCE_NAME,
            ),
            col(
                "MatchingPrecedence",
                "string",
                doc::FLOW_SCHEMA_SPEC_MATCHING_PRECEDENCE,
            ),
            col(
                "DistinguisherMethod",
                "string",
                doc::FLOW_SCHEMA_SPEC_DISTINGUISHER_METHOD,
            ),
            AGE,
            col(
                "MissingPL",
                "string",
                "references a broken or non-existent PriorityLevelConfiguration",
            ),
        ],
        PriorityLevelConfiguration => vec![
            NAME,
            col(
                "Type",
                "string",
                doc::PRIORITY_LEVEL_CONFIGURATION_SPEC_TYPE,
            ),
            col(
                "NominalConcurrencyShares",
                "string",
                doc::LIMITED_PRIORITY_LEVEL_CONFIGURATION_NOMINAL_CONCURRENCY_SHARES,
            ),
            col("Queues", "string", doc::QUEUING_CONFIGURATION_QUEUES),
            col("HandSize", "string", doc::QUEUING_CONFIGURATION_HAND_SIZE),
            col(
                "QueueLengthLimit",
                "string",
                doc::QUEUING_CONFIGURATION_QUEUE_LENGTH_LIMIT,
            ),
            AGE,
        ],
        ServiceCidr => vec![
            NAME,
            col("CIDRs", "string", doc::SERVICE_CIDRSPEC_CIDRS),
            AGE,
        ],
        IpAddress => vec![
            NAME,
            col("ParentRef", "string", doc::IPADDRESS_SPEC_PARENT_REF),
        ],
        DeviceClass | ResourceClaimTemplate => vec![NAME, AGE],
        ResourceClaim => vec![
            NAME,
            col(
                "State",
                "string",
                "A summary of the current state (allocated, pending, reserved, etc.).",
            ),
            AGE,
        ],
        ResourceSlice => vec![
            NAME,
            col("Node", "string", doc::RESOURCE_SLICE_SPEC_NODE_NAME),
            col("Driver", "string", doc::RESOURCE_SLICE_SPEC_DRIVER),
            col("Pool", "string", doc::RESOURCE_POOL_NAME),
            AGE,
        ],
        Default => vec![
            NAME,
            col("Created At", "date", doc::OBJECT_META_CREATION_TIMESTAMP),
        ],
    }
}

/// The cells of one row for `obj`, in column order, evaluated at time `now`.
///
/// Cells are what upstream's printer returns: strings, integers (`int64`) and booleans. One
/// upstream quirk is kept: `networking.k8s.io/ipaddresses` declares two columns but prints
/// three cells (the third is the age).
pub fn cells(group: &str, resource: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    let o = J::new(obj);
    let cx = Cx { o, now };
    use Printer::*;
    match printer(group, resource) {
        Pod => pod_cells(&cx),
        PodTemplate => {
            let template = o.at("template");
            let (names, images) = containers(template.at("spec").at("containers"));
            vec![
                cx.name(),
                s(names),
                s(images),
                s(format_labels(template.at("metadata").at("labels"))),
            ]
        }
        PodDisruptionBudget => {
            let spec = o.at("spec");
            let int_or_string = |v: J| match v.0 {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(x)) => x.clone(),
                _ => "N/A".to_string(),
            };
            vec![
                cx.name(),
                s(int_or_string(spec.at("minAvailable"))),
                s(int_or_string(spec.at("maxUnavailable"))),
                int(o.at("status").at("disruptionsAllowed").int()),
                cx.age(),
            ]
        }
        ReplicationController => {
            let spec = o.at("spec");
            let template = spec.at("template");
            let (names, images) = containers(template.at("spec").at("containers"));
            // v1 defaulting: an empty selector is the template's labels
            let mut selector = spec.at("selector");
            if selector.map().is_none_or(Map::is_empty) {
                selector = template.at("metadata").at("labels");
            }
            vec![
                cx.name(),
                int(spec.at("replicas").opt_int().unwrap_or(1)),
                int(o.at("status").at("replicas").int()),
                int(o.at("status").at("readyReplicas").int()),
                cx.age(),
                s(names),
                s(images),
                s(format_labels(selector)),
            ]
        }
        ReplicaSet => {
            let spec = o.at("spec");
            let (names, images) = containers(spec.at("template").at("spec").at("containers"));
            vec![
                cx.name(),
                int(spec.at("replicas").opt_int().unwrap_or(1)),
                int(o.at("status").at("replicas").int()),
                int(o.at("status").at("readyReplicas").int()),
                cx.age(),
                s(names),
                s(images),
                s(format_label_selector(spec.at("selector"))),
            ]
        }
        DaemonSet => {
            let spec = o.at("spec");
            let status = o.at("status");
            let pod_spec = spec.at("template").at("spec");
            let (names, images) = containers(pod_spec.at("containers"));
            vec![
                cx.name(),
                int(status.at("desiredNumberScheduled").int()),
                int(status.at("currentNumberScheduled").int()),
                int(status.at("numberReady").int()),
                int(status.at("updatedNumberScheduled").int()),
                int(status.at("numberAvailable").int()),
                s(format_labels(pod_spec.at("nodeSelector"))),
                cx.age(),
                s(names),
                s(images),
                s(format_label_selector(spec.at("selector"))),
            ]
        }
        Job => job_cells(&cx),
        CronJob => {
            let spec = o.at("spec");
            let last = match o.at("status").at("lastScheduleTime").present() {
                Some(t) => cx.since(t.time()),
                None => "<none>".to_string(),
            };
            let time_zone = spec.at("timeZone").opt_str().unwrap_or("<none>");
            // v1 defaulting: suspend is false when unset
            let suspend = match spec.at("suspend").opt_bool() {
                Some(true) => "True",
                _ => "False",
            };
            let job_spec = spec.at("jobTemplate").at("spec");
            let (names, images) = containers(job_spec.at("template").at("spec").at("containers"));
            vec![
                cx.name(),
                s(spec.at("schedule").str()),
                s(time_zone),
                s(suspend),
                int(len_i64(o.at("status").at("active").items().len())),
                s(last),
                cx.age(),
                s(names),
                s(images),
                s(format_label_selector(job_spec.at("selector"))),
            ]
        }
        Service => service_cells(&cx),
        Ingress => {
            let spec = o.at("spec");
            let class = spec.at("ingressClassName").opt_str().unwrap_or("<none>");
            let ports = if spec.at("tls").items().is_empty() {
                "80"
            } else {
                "80, 443"
            };
            vec![
                cx.name(),
                s(class),
                s(format_hosts(spec.at("rules"))),
                s(load_balancer_ingress(o.at("status").at("loadBalancer"))),
                s(ports),
                cx.age(),
            ]
        }
        IngressClass => {
            let spec = o.at("spec");
            let parameters = match spec.at("parameters").object() {
                None => "<none>".to_string(),
                Some(p) => {
                    let mut out = p.at("kind").str().to_string();
                    if let Some(group) = p.at("apiGroup").opt_str() {
                        out = format!("{out}.{group}");
                    }
                    format!("{out}/{}", p.at("name").str())
                }
            };
            vec![
                cx.name(),
                s(spec.at("controller").str()),
                s(parameters),
                cx.age(),
            ]
        }
        StatefulSet => {
            let spec = o.at("spec");
            let (names, images) = containers(spec.at("template").at("spec").at("containers"));
            let ready = o.at("status").at("readyReplicas").int();
            let desired = spec.at("replicas").opt_int().unwrap_or(1);
            vec![
                cx.name(),
                s(format!("{ready}/{desired}")),
                cx.age(),
                s(names),
                s(images),
            ]
        }
        Endpoints => vec![cx.name(), s(format_endpoints(o.at("subsets"))), cx.age()],
        Node => node_cells(&cx),
        Event => event_cells(&cx, &EventFields::CORE),
        EventV1 => event_cells(&cx, &EventFields::EVENTS_V1),
        Namespace => {
            // v1 defaulting: the phase is Active when unset
            let phase = nonempty_or(o.at("status").at("phase").str(), "Active");
            vec![cx.name(), s(phase), cx.age()]
        }
        Secret => {
            // v1 defaulting: the type is Opaque when unset
            let type_ = nonempty_or(o.at("type").str(), "Opaque");
            vec![
                cx.name(),
                s(type_),
                int(len_i64(o.at("data").map_len())),
                cx.age(),
            ]
        }
        ServiceAccount => {
            vec![
                cx.name(),
                int(len_i64(o.at("secrets").items().len())),
                cx.age(),
            ]
        }
        PersistentVolume => pv_cells(&cx),
        PersistentVolumeClaim => pvc_cells(&cx),
        ComponentStatus => {
            let mut status = "Unknown";
            let mut message = "";
            let mut error = "";
            if let Some(c) = o
                .at("conditions")
                .iter()
                .find(|c| c.at("type").str() == "Healthy")
            {
                status = if c.at("status").str() == "True" {
                    "Healthy"
                } else {
                    "Unhealthy"
                };
                message = c.at("message").str();
                error = c.at("error").str();
            }
            vec![cx.name(), s(status), s(message), s(error)]
        }
        Deployment => {
            let spec = o.at("spec");
            let status = o.at("status");
            let (names, images) = containers(spec.at("template").at("spec").at("containers"));
            let selector = match label_selector(spec.at("selector")) {
                Ok(sel) => sel,
                Err(()) => "<invalid>".to_string(),
            };
            let ready = status.at("readyReplicas").int();
            let desired = spec.at("replicas").opt_int().unwrap_or(1);
            vec![
                cx.name(),
                s(format!("{ready}/{desired}")),
                int(status.at("updatedReplicas").int()),
                int(status.at("availableReplicas").int()),
                cx.age(),
                s(names),
                s(images),
                s(selector),
            ]
        }
        HorizontalPodAutoscaler => hpa_cells(&cx),
        ConfigMap => {
            let n = o
                .at("data")
                .map_len()
                .saturating_add(o.at("binaryData").map_len());
            vec![cx.name(), int(len_i64(n)), cx.age()]
        }
        NetworkPolicy => {
            vec![
                cx.name(),
                s(format_label_selector(o.at("spec").at("podSelector"))),
                cx.age(),
            ]
        }
        RoleBinding | ClusterRoleBinding => {
            let role_ref = o.at("roleRef");
            let role = format!(
                "{}/{}",
                role_ref.at("kind").str(),
                role_ref.at("name").str()
            );
            let (mut users, mut groups, mut sas) = (vec![], vec![], vec![]);
            for subject in o.at("subjects").iter() {
                let name = subject.at("name").str();
                match subject.at("kind").str() {
                    "ServiceAccount" => {
                        sas.push(format!("{}/{}", subject.at("namespace").str(), name));
                    }
                    "User" => users.push(name.to_string()),
                    "Group" => groups.push(name.to_string()),
                    _ => {}
                }
            }
            vec![
                cx.name(),
                s(role),
                cx.age(),
                s(users.join(", ")),
                s(groups.join(", ")),
                s(sas.join(", ")),
            ]
        }
        CertificateSigningRequest => csr_cells(&cx),
        ClusterTrustBundle => {
            let signer = nonempty_or(o.at("spec").at("signerName").str(), "<none>");
            vec![cx.name(), s(signer)]
        }
        Lease => vec![
            cx.name(),
            s(o.at("spec").at("holderIdentity").str()),
            cx.age(),
        ],
        LeaseCandidate => {
            let spec = o.at("spec");
            vec![
                cx.name(),
                s(spec.at("leaseName").str()),
                s(spec.at("binaryVersion").str()),
                s(spec.at("emulationVersion").str()),
                cx.age(),
            ]
        }
        StorageClass => {
            let mut name = cx.name_str().to_string();
            let annotations = o.at("metadata").at("annotations");
            if annotations
                .at("storageclass.kubernetes.io/is-default-class")
                .str()
                == "true"
                || annotations
                    .at("storageclass.beta.kubernetes.io/is-default-class")
                    .str()
                    == "true"
            {
                name.push_str(" (default)");
            }
            vec![
                s(name),
                s(o.at("provisioner").str()),
                s(nonempty_or(o.at("reclaimPolicy").str(), "Delete")),
                s(nonempty_or(o.at("volumeBindingMode").str(), "Immediate")),
                Value::Bool(o.at("allowVolumeExpansion").bool()),
                cx.age(),
            ]
        }
        ControllerRevision => {
            let controller = controller_name(o.at("metadata").at("ownerReferences"));
            vec![
                cx.name(),
                s(controller),
                int(o.at("revision").int()),
                cx.age(),
            ]
        }
        ResourceQuota => resource_quota_cells(&cx),
        PriorityClass => {
            let policy = nonempty_or(o.at("preemptionPolicy").str(), "PreemptLowerPriority");
            vec![
                cx.name(),
                int(o.at("value").int()),
                Value::Bool(o.at("globalDefault").bool()),
                cx.age(),
                s(policy),
            ]
        }
        RuntimeClass => vec![cx.name(), s(o.at("handler").str()), cx.age()],
        VolumeAttachment => {
            let spec = o.at("spec");
            vec![
                cx.name(),
                s(spec.at("attacher").str()),
                s(spec.at("source").at("persistentVolumeName").str()),
                s(spec.at("nodeName").str()),
                Value::Bool(o.at("status").at("attached").bool()),
                cx.age(),
            ]
        }
        EndpointSlice => vec![
            cx.name(),
            s(o.at("addressType").str()),
            s(format_slice_ports(o.at("ports"))),
            s(format_slice_endpoints(o.at("endpoints"))),
            cx.age(),
        ],
        CsiNode => vec![
            cx.name(),
            int(len_i64(o.at("spec").at("drivers").items().len())),
            cx.age(),
        ],
        CsiDriver => csi_driver_cells(&cx),
        ApiService => {
            let service = match o.at("spec").at("service").object() {
                Some(svc) => format!("{}/{}", svc.at("namespace").str(), svc.at("name").str()),
                None => "Local".to_string(),
            };
            let available = o
                .at("status")
                .at("conditions")
                .iter()
                .find(|c| c.at("type").str() == "Available");
            let status = match available {
                None => "Unknown".to_string(),
                Some(c) => match (c.at("status").str(), c.at("reason").str()) {
                    ("True", _) | (_, "") => c.at("status").str().to_string(),
                    (status, reason) => format!("{status} ({reason})"),
                },
            };
            vec![cx.name(), s(service), s(status), cx.age()]
        }
        MutatingWebhookConfiguration | ValidatingWebhookConfiguration => {
            vec![
                cx.name(),
                int(len_i64(o.at("webhooks").items().len())),
                cx.age(),
            ]
        }
        ValidatingAdmissionPolicy | MutatingAdmissionPolicy => {
            let spec = o.at("spec");
            let rules = if printer(group, resource) == ValidatingAdmissionPolicy {
                "validations"
            } else {
                "mutations"
            };
            let param_kind = match spec.at("paramKind").object() {
                Some(p) => format!("{}/{}", p.at("apiVersion").str(), p.at("kind").str()),
                None => "<unset>".to_string(),
            };
            vec![
                cx.name(),
                int(len_i64(spec.at(rules).items().len())),
                s(param_kind),
                cx.age(),
            ]
        }
        ValidatingAdmissionPolicyBinding | MutatingAdmissionPolicyBinding => {
            let spec = o.at("spec");
            let mut param = "<unset>".to_string();
            if let Some(pr) = spec.at("paramRef").object() {
                let name = pr.at("name").str();
                if !name.is_empty() {
                    let ns = pr.at("namespace").str();
                    param = if ns.is_empty() {
                        format!("*/{name}")
                    } else {
                        format!("{ns}/{name}")
                    };
                } else if let Some(sel) = pr.at("selector").object() {
                    param = go_label_selector_string(sel);
                }
            }
            vec![
                cx.name(),
                s(spec.at("policyName").str()),
                s(param),
                cx.age(),
            ]
        }
        FlowSchema => {
            let spec = o.at("spec");
            // v1 defaulting: a zero matchingPrecedence is 1000
            let precedence = match spec.at("matchingPrecedence").int() {
                0 => 1000,
                p => p,
            };
            let distinguisher = match spec.at("distinguisherMethod").object() {
                Some(d) => d.at("type").str().to_string(),
                None => "<none>".to_string(),
            };
            let missing = o
                .at("status")
                .at("conditions")
                .iter()
                .find(|c| c.at("type").str() == "Dangling")
                .map_or("?", |c| c.at("status").str());
            vec![
                cx.name(),
                s(spec.at("priorityLevelConfiguration").at("name").str()),
                int(precedence),
                s(distinguisher),
                cx.age(),
                s(missing),
            ]
        }
        PriorityLevelConfiguration => plc_cells(&cx),
        ServiceCidr => {
            let cidrs: Vec<&str> = o.at("spec").at("cidrs").iter().map(J::str).collect();
            vec![cx.name(), s(cidrs.join(",")), cx.age()]
        }
        IpAddress => {
            let parent = match o.at("spec").at("parentRef").object() {
                None => "<none>".to_string(),
                Some(p) => {
                    let (group, resource) = (p.at("group").str(), p.at("resource").str());
                    let mut out = if group.is_empty() {
                        resource.to_lowercase()
                    } else {
                        format!("{resource}.{group}").to_lowercase()
                    };
                    let ns = p.at("namespace").str();
                    if !ns.is_empty() {
                        out = format!("{out}/{ns}");
                    }
                    format!("{out}/{}", p.at("name").str())
                }
            };
            vec![cx.name(), s(parent), cx.age()]
        }
        DeviceClass | ResourceClaimTemplate => vec![cx.name(), cx.age()],
        ResourceClaim => {
            let mut states = vec![];
            let deleting = cx.deleting();
            if deleting {
                states.push("deleted");
            }
            let status = o.at("status");
            if status.at("allocation").present().is_none() {
                if !deleting {
                    states.push("pending");
                }
            } else {
                states.push("allocated");
                if !status.at("reservedFor").items().is_empty() {
                    states.push("reserved");
                }
            }
            vec![cx.name(), s(states.join(",")), cx.age()]
        }
        ResourceSlice => {
            let spec = o.at("spec");
            vec![
                cx.name(),
                s(spec.at("nodeName").str()),
                s(spec.at("driver").str()),
                s(spec.at("pool").at("name").str()),
                cx.age(),
            ]
        }
        Default => {
            let created = o.at("metadata").at("creationTimestamp").time();
            vec![cx.name(), s(rfc3339_utc(created))]
        }
    }
}

/// Upstream `metav1.TableRowCondition`s for a row, if any: pods that finished carry a
/// `Completed` condition (upstream `podSuccessConditions` / `podFailedConditions`).
pub fn row_conditions(group: &str, resource: &str, obj: &Value) -> Option<Value> {
    if printer(group, resource) != Printer::Pod {
        return None;
    }
    let (reason, message) = match J::new(obj).at("status").at("phase").str() {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

/// apimachinery `duration.HumanDuration`: a succinct duration with ~2-3 significant figures,
/// e.g. "5s", "3m20s", "4h", "2d3h", "245d", "3y12d".
pub fn human_duration(d: std::time::Duration) -> String {
    human_nanos(i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

/// `translateTimestampSince`: "<unknown>" for a missing (or zero, or unparseable) timestamp,
/// else the human duration from `ts` to `now`.
pub fn age(ts: Option<&str>, now: Timestamp) -> String {
    since(ts.and_then(parse_time), now)
}

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// `duration.HumanDuration` over a signed nanosecond count, as Go's `time.Duration`.
fn human_nanos(d: i128) -> String {
    // Go: int(d.Seconds()), truncating toward zero
    let seconds = d / NANOS_PER_SECOND;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

/// A metav1.Time or MicroTime from JSON. Go's zero time (year 1) counts as absent, as does
/// anything that does not parse.
fn parse_time(s: &str) -> Option<Timestamp> {
    let t: Timestamp = s.parse().ok()?;
    // 0001-01-01T00:00:00Z, Go's time.Time{}
    const GO_ZERO_SECONDS: i64 = -62_135_596_800;
    (t.as_second() != GO_ZERO_SECONDS || t.subsec_nanosecond() != 0).then_some(t)
}

/// `translateTimestampSince` over a parsed time.
fn since(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        None => "<unknown>".to_string(),
        Some(t) => human_nanos(now.as_nanosecond() - t.as_nanosecond()),
    }
}

/// Go's `t.UTC().Format(time.RFC3339)`, with the zero time for a missing timestamp.
fn rfc3339_utc(t: Option<Timestamp>) -> String {
    let Some(t) = t else {
        return "0001-01-01T00:00:00Z".to_string();
    };
    let dt = jiff::tz::Offset::UTC.to_datetime(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

fn int(v: i64) -> Value {
    Value::from(v)
}

fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn nonempty_or<'a>(v: &'a str, default: &'a str) -> &'a str {
    if v.is_empty() { default } else { v }
}

/// A lenient view into JSON: a missing field or a value of the wrong type reads as absent.
#[derive(Clone, Copy)]
struct J<'a>(Option<&'a Value>);

impl<'a> J<'a> {
    fn new(v: &'a Value) -> Self {
        J(Some(v))
    }

    /// The member `key` of an object.
    fn at(self, key: &str) -> J<'a> {
        J(self.0.and_then(Value::as_object).and_then(|m| m.get(key)))
    }

    /// Some if the value exists and is not null (a Go pointer that is set).
    fn present(self) -> Option<J<'a>> {
        match self.0 {
            None | Some(Value::Null) => None,
            Some(_) => Some(self),
        }
    }

    /// Some if the value is an object (a Go struct pointer that is set).
    fn object(self) -> Option<J<'a>> {
        self.0.filter(|v| v.is_object()).map(|_| self)
    }

    fn map(self) -> Option<&'a Map<String, Value>> {
        self.0.and_then(Value::as_object)
    }

    fn map_len(self) -> usize {
        self.map().map_or(0, Map::len)
    }

    fn str(self) -> &'a str {
        self.opt_str().unwrap_or("")
    }

    fn opt_str(self) -> Option<&'a str> {
        self.0.and_then(Value::as_str)
    }

    fn opt_int(self) -> Option<i64> {
        let v = self.0?;
        if let Some(i) = v.as_i64() {
            Some(i)
        } else if v.as_u64().is_some() {
            Some(i64::MAX)
        } else {
            // a float that holds an integer, as Go's decoder accepts for integer fields
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }
    }

    fn int(self) -> i64 {
        self.opt_int().unwrap_or(0)
    }

    fn opt_bool(self) -> Option<bool> {
        self.0.and_then(Value::as_bool)
    }

    fn bool(self) -> bool {
        self.opt_bool().unwrap_or(false)
    }

    fn items(self) -> &'a [Value] {
        self.0.and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }

    fn iter(self) -> impl DoubleEndedIterator<Item = J<'a>> + 'a {
        self.items().iter().map(|v| J(Some(v)))
    }

    fn time(self) -> Option<Timestamp> {
        self.opt_str().and_then(parse_time)
    }
}

/// The object being printed and the time it is printed at.
struct Cx<'a> {
    o: J<'a>,
    now: Timestamp,
}

impl Cx<'_> {
    fn name_str(&self) -> &str {
        self.o.at("metadata").at("name").str()
    }

    fn name(&self) -> Value {
        s(self.name_str())
    }

    fn age(&self) -> Value {
        s(self.since(self.o.at("metadata").at("creationTimestamp").time()))
    }

    fn since(&self, t: Option<Timestamp>) -> String {
        since(t, self.now)
    }

    fn deleting(&self) -> bool {
        self.o
            .at("metadata")
            .at("deletionTimestamp")
            .present()
            .is_some()
    }
}

/// `layoutContainerCells`: container names and images, comma-joined.
fn containers(list: J) -> (String, String) {
    let names: Vec<&str> = list.iter().map(|c| c.at("name").str()).collect();
    let images: Vec<&str> = list.iter().map(|c| c.at("image").str()).collect();
    (names.join(","), images.join(","))
}

/// `labels.FormatLabels`: sorted `k=v` pairs, or "<none>".
fn format_labels(labels: J) -> String {
    let mut pairs: Vec<String> = labels
        .map()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

/// `metav1.FormatLabelSelector`: the selector string, "<none>" if it selects everything or
/// nothing, "<error>" if it is invalid.
fn format_label_selector(selector: J) -> String {
    match label_selector(selector) {
        Ok(sel) if sel.is_empty() => "<none>".to_string(),
        Ok(sel) => sel,
        Err(()) => "<error>".to_string(),
    }
}

/// `metav1.LabelSelectorAsSelector(sel).String()`: requirements sorted by key; a nil
/// selector (nothing) and an empty one (everything) both print as "".
fn label_selector(selector: J) -> Result<String, ()> {
    let Some(sel) = selector.object() else {
        return Ok(String::new());
    };
    // (key, rendered requirement)
    let mut reqs: Vec<(&str, String)> = Vec::new();
    for (key, value) in sel.at("matchLabels").map().into_iter().flatten() {
        let value = value.as_str().unwrap_or("");
        if !is_qualified_name(key) || !is_label_value(value) {
            return Err(());
        }
        reqs.push((key, format!("{key}={value}")));
    }
    for expr in sel.at("matchExpressions").iter() {
        let key = expr.at("key").str();
        let values: Vec<&str> = expr.at("values").iter().map(J::str).collect();
        if !is_qualified_name(key) || !values.iter().all(|v| is_label_value(v)) {
            return Err(());
        }
        let rendered = match expr.at("operator").str() {
            op @ ("In" | "NotIn") => {
                if values.is_empty() {
                    return Err(());
                }
                let mut sorted = values.clone();
                sorted.sort_unstable();
                let word = if op == "In" { "in" } else { "notin" };
                format!("{key} {word} ({})", sorted.join(","))
            }
            op @ ("Exists" | "DoesNotExist") => {
                if !values.is_empty() {
                    return Err(());
                }
                if op == "Exists" {
                    key.to_string()
                } else {
                    format!("!{key}")
                }
            }
            _ => return Err(()),
        };
        reqs.push((key, rendered));
    }
    reqs.sort_by(|a, b| a.0.cmp(b.0));
    Ok(reqs
        .into_iter()
        .map(|(_, r)| r)
        .collect::<Vec<_>>()
        .join(","))
}

/// The gogo-protobuf `String()` of a `*metav1.LabelSelector`, which upstream prints for an
/// admission policy binding's `paramRef.selector`.
fn go_label_selector_string(sel: J) -> String {
    let mut keys: Vec<(&String, &Value)> =
        sel.at("matchLabels").map().into_iter().flatten().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    let labels: String = keys
        .iter()
        .map(|(k, v)| format!("{k}: {},", v.as_str().unwrap_or("")))
        .collect();
    let exprs: String = sel
        .at("matchExpressions")
        .iter()
        .map(|e| {
            let values: Vec<&str> = e.at("values").iter().map(J::str).collect();
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                e.at("key").str(),
                e.at("operator").str(),
                values.join(" ")
            )
        })
        .collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )
}

/// apimachinery `validation.IsQualifiedName`: `[prefix/]name`.
fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if name.contains('/') {
        return false;
    }
    if let Some(prefix) = prefix
        && (prefix.is_empty() || !is_dns1123_subdomain(prefix))
    {
        return false;
    }
    !name.is_empty() && name.len() <= 63 && is_label_shaped(name)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_label_shaped(v: &str) -> bool {
    let b = v.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// apimachinery `validation.IsValidLabelValue`.
fn is_label_value(v: &str) -> bool {
    v.is_empty() || (v.len() <= 63 && is_label_shaped(v))
}

/// apimachinery `validation.IsDNS1123Subdomain`.
fn is_dns1123_subdomain(v: &str) -> bool {
    v.len() <= 253
        && v.split('.').all(|label| {
            let b = label.as_bytes();
            match (b.first(), b.last()) {
                (Some(f), Some(l)) => {
                    (f.is_ascii_lowercase() || f.is_ascii_digit())
                        && (l.is_ascii_lowercase() || l.is_ascii_digit())
                        && b.iter()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                }
                _ => false,
            }
        })
}

/// A `*resource.Quantity`'s `String()`: "<nil>" when unset. Quantities are printed as stored;
/// a real apiserver stores them canonicalized.
fn quantity_ptr(q: J) -> String {
    match q.present() {
        Some(q) => quantity(q),
        None => "<nil>".to_string(),
    }
}

/// A `resource.Quantity`'s `String()`: "0" when unset.
fn quantity_or_zero(q: J) -> String {
    match q.present() {
        Some(q) => quantity(q),
        None => "0".to_string(),
    }
}

fn quantity(q: J) -> String {
    match q.0 {
        Some(Value::String(v)) => v.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".to_string(),
    }
}

/// `printPod`: readiness, the aggregate status reason, restarts, age and the wide columns.
fn pod_cells(cx: &Cx) -> Vec<Value> {
    let o = cx.o;
    let spec = o.at("spec");
    let status = o.at("status");
    let init_specs = spec.at("initContainers");

    let mut restarts: i64 = 0;
    let mut restartable_init_restarts: i64 = 0;
    let mut total = len_i64(spec.at("containers").items().len());
    let mut ready: i64 = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_restartable_init_restart: Option<Timestamp> = None;

    let phase = status.at("phase").str();
    let status_reason = status.at("reason").str();
    let mut reason = nonempty_or(status_reason, phase).to_string();

    // a Pod carrying {type:PodScheduled, reason:SchedulingGated} is SchedulingGated
    for condition in status.at("conditions").iter() {
        if condition.at("type").str() == "PodScheduled"
            && condition.at("reason").str() == "SchedulingGated"
        {
            reason = "SchedulingGated".to_string();
        }
    }

    // upstream keys init containers by name in a map: the last one of a name wins
    let is_restartable = |name: &str| {
        init_specs
            .iter()
            .rev()
            .find(|c| c.at("name").str() == name)
            .is_some_and(|c| c.at("restartPolicy").str() == "Always")
    };
    for c in init_specs.iter() {
        if c.at("restartPolicy").str() == "Always" {
            total = total.saturating_add(1);
        }
    }
    // lastState.terminated.finishedAt; absent reads as Go's zero time, which is never later
    let last_terminated = |c: J| {
        c.at("lastState")
            .at("terminated")
            .object()
            .and_then(|t| t.at("finishedAt").time())
    };

    let mut initializing = false;
    let init_count = init_specs.items().len();
    for (i, c) in status.at("initContainerStatuses").iter().enumerate() {
        let restart_count = c.at("restartCount").int();
        restarts = restarts.saturating_add(restart_count);
        let finished = last_terminated(c);
        if last_restart < finished {
            last_restart = finished;
        }
        let restartable = is_restartable(c.at("name").str());
        if restartable {
            restartable_init_restarts = restartable_init_restarts.saturating_add(restart_count);
            if last_restartable_init_restart < finished {
                last_restartable_init_restart = finished;
            }
        }
        let terminated = c.at("state").at("terminated").object();
        let waiting = c.at("state").at("waiting").object();
        if terminated.is_some_and(|t| t.at("exitCode").int() == 0) {
            continue;
        }
        if restartable && c.at("started").opt_bool() == Some(true) {
            if c.at("ready").bool() {
                ready = ready.saturating_add(1);
            }
            continue;
        }
        if let Some(t) = terminated {
            // initialization failed
            let r = t.at("reason").str();
            reason = if !r.is_empty() {
                format!("Init:{r}")
            } else if t.at("signal").int() != 0 {
                format!("Init:Signal:{}", t.at("signal").int())
            } else {
                format!("Init:ExitCode:{}", t.at("exitCode").int())
            };
        } else if let Some(w) = waiting.filter(|w| {
            !w.at("reason").str().is_empty() && w.at("reason").str() != "PodInitializing"
        }) {
            reason = format!("Init:{}", w.at("reason").str());
        } else {
            reason = format!("Init:{i}/{init_count}");
        }
        initializing = true;
        break;
    }

    let initialized = status
        .at("conditions")
        .iter()
        .find(|c| c.at("type").str() == "Initialized")
        .is_some_and(|c| c.at("status").str() == "True");
    if !initializing || initialized {
        restarts = restartable_init_restarts;
        last_restart = last_restartable_init_restart;
        let mut has_running = false;
        for c in status.at("containerStatuses").iter().rev() {
            restarts = restarts.saturating_add(c.at("restartCount").int());
            let finished = last_terminated(c);
            if last_restart < finished {
                last_restart = finished;
            }
            let waiting = c.at("state").at("waiting").object();
            let terminated = c.at("state").at("terminated").object();
            if let Some(w) = waiting.filter(|w| !w.at("reason").str().is_empty()) {
                reason = w.at("reason").str().to_string();
            } else if let Some(t) = terminated {
                let r = t.at("reason").str();
                reason = if !r.is_empty() {
                    r.to_string()
                } else if t.at("signal").int() != 0 {
                    format!("Signal:{}", t.at("signal").int())
                } else {
                    format!("ExitCode:{}", t.at("exitCode").int())
                };
            } else if c.at("ready").bool() && c.at("state").at("running").object().is_some() {
                has_running = true;
                ready = ready.saturating_add(1);
            }
        }
        // back to "Running" if at least one container is still reporting as running
        if reason == "Completed" && has_running {
            let pod_ready = status
                .at("conditions")
                .iter()
                .any(|c| c.at("type").str() == "Ready" && c.at("status").str() == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.to_string();
        }
    }

    if cx.deleting() && status_reason == "NodeLost" {
        reason = "Unknown".to_string();
    } else if cx.deleting() && phase != "Failed" && phase != "Succeeded" {
        reason = "Terminating".to_string();
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", cx.since(Some(t))),
        _ => restarts.to_string(),
    };

    // v1 → internal conversion: podIP wins over podIPs[0]
    let pod_ip = match status.at("podIP").str() {
        "" => status
            .at("podIPs")
            .iter()
            .next()
            .map_or("", |ip| ip.at("ip").str()),
        ip => ip,
    };
    let readiness_gates = spec.at("readinessGates").items();
    let gates = if readiness_gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_conditions = readiness_gates
            .iter()
            .filter(|gate| {
                let gate_type = J::new(gate).at("conditionType").str();
                status
                    .at("conditions")
                    .iter()
                    .find(|c| c.at("type").str() == gate_type)
                    .is_some_and(|c| c.at("status").str() == "True")
            })
            .count();
        format!("{true_conditions}/{}", readiness_gates.len())
    };

    vec![
        cx.name(),
        s(format!("{ready}/{total}")),
        s(reason),
        s(restarts_cell),
        cx.age(),
        s(nonempty_or(pod_ip, "<none>")),
        s(nonempty_or(spec.at("nodeName").str(), "<none>")),
        s(nonempty_or(status.at("nominatedNodeName").str(), "<none>")),
        s(gates),
    ]
}

/// `printJob`.
fn job_cells(cx: &Cx) -> Vec<Value> {
    let o = cx.o;
    let spec = o.at("spec");
    let status = o.at("status");
    let succeeded = status.at("succeeded").int();
    let completions = match spec.at("completions").opt_int() {
        Some(c) => format!("{succeeded}/{c}"),
        None => match spec.at("parallelism").int() {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = status.at("startTime").time();
    let completion = status.at("completionTime").time();
    let duration = match (start, completion) {
        (None, _) => String::new(),
        (Some(start), None) => cx.since(Some(start)),
        (Some(start), Some(end)) => human_nanos(end.as_nanosecond() - start.as_nanosecond()),
    };
    // the first condition of a type decides
    let has = |kind: &str| {
        status
            .at("conditions")
            .iter()
            .find(|c| c.at("type").str() == kind)
            .is_some_and(|c| c.at("status").str() == "True")
    };
    let state = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if cx.deleting() {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = containers(spec.at("template").at("spec").at("containers"));
    vec![
        cx.name(),
        s(state),
        s(completions),
        s(duration),
        cx.age(),
        s(names),
        s(images),
        s(format_label_selector(spec.at("selector"))),
    ]
}

/// `printService`.
fn service_cells(cx: &Cx) -> Vec<Value> {
    let o = cx.o;
    let spec = o.at("spec");
    // v1 defaulting: type ClusterIP, port protocol TCP, clusterIPs from clusterIP
    let svc_type = nonempty_or(spec.at("type").str(), "ClusterIP");
    let cluster_ip = match spec.at("clusterIPs").iter().next() {
        Some(ip) => ip.str(),
        None => nonempty_or(spec.at("clusterIP").str(), "<none>"),
    };
    let external_ips: Vec<&str> = spec.at("externalIPs").iter().map(J::str).collect();
    let external = match svc_type {
        "ClusterIP" | "NodePort" if !external_ips.is_empty() => external_ips.join(","),
        "ClusterIP" | "NodePort" => "<none>".to_string(),
        "LoadBalancer" => {
            let lb = load_balancer_ingress(o.at("status").at("loadBalancer"));
            if !external_ips.is_empty() {
                let mut all: Vec<&str> = if lb.is_empty() {
                    vec![]
                } else {
                    lb.split(',').collect()
                };
                all.extend(external_ips.iter().copied());
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => spec.at("externalName").str().to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = spec
        .at("ports")
        .iter()
        .map(|p| {
            let port = p.at("port").int();
            let protocol = nonempty_or(p.at("protocol").str(), "TCP");
            match p.at("nodePort").int() {
                n if n > 0 => format!("{port}:{n}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        cx.name(),
        s(svc_type),
        s(cluster_ip),
        s(external),
        s(ports),
        cx.age(),
        s(format_labels(spec.at("selector"))),
    ]
}

/// `loadBalancerStatusStringer` (wide): the sorted, de-duplicated IPs or hostnames.
fn load_balancer_ingress(status: J) -> String {
    let mut out: Vec<&str> = status
        .at("ingress")
        .iter()
        .filter_map(|i| match (i.at("ip").str(), i.at("hostname").str()) {
            ("", "") => None,
            ("", host) => Some(host),
            (ip, _) => Some(ip),
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out.join(",")
}

/// `formatHosts` for an Ingress.
fn format_hosts(rules: J) -> String {
    const MAX: usize = 3;
    let rules = rules.items();
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == MAX {
            more = true;
        }
        let host = J::new(rule).at("host").str();
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_string();
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", rules.len() - MAX)
    } else {
        ret
    }
}

/// `formatEndpoints` for core Endpoints, all ports.
fn format_endpoints(subsets: J) -> String {
    const MAX: usize = 3;
    if subsets.items().is_empty() {
        return "<none>".to_string();
    }
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count: usize = 0;
    for subset in subsets.iter() {
        let addresses = subset.at("addresses").items();
        let ports = subset.at("ports").items();
        if ports.is_empty() {
            // headless services with no ports
            count = count.saturating_add(addresses.len());
            for address in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(J::new(address).at("ip").str().to_string());
            }
            continue;
        }
        for port in ports {
            count = count.saturating_add(addresses.len());
            for address in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                let ip = J::new(address).at("ip").str();
                let port = J::new(port).at("port").int();
                // net.JoinHostPort
                list.push(if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                });
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count.saturating_sub(MAX))
    } else {
        ret
    }
}

/// `listWithMoreString`.
fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count.saturating_sub(max))
    } else if ret.is_empty() {
        "<unset>".to_string()
    } else {
        ret
    }
}

/// `formatDiscoveryPorts` for an EndpointSlice.
fn format_slice_ports(ports: J) -> String {
    const MAX: usize = 3;
    let mut list = Vec::new();
    let mut more = false;
    let mut count = 0;
    for port in ports.iter() {
        if list.len() < MAX {
            list.push(
                match (port.at("port").opt_int(), port.at("name").opt_str()) {
                    (Some(n), _) => n.to_string(),
                    (None, Some(name)) => name.to_string(),
                    (None, None) => "*".to_string(),
                },
            );
        } else if list.len() == MAX {
            more = true;
        }
        count += 1;
    }
    list_with_more(&list, more, count, MAX)
}

/// `formatDiscoveryEndpoints` for an EndpointSlice.
fn format_slice_endpoints(endpoints: J) -> String {
    const MAX: usize = 3;
    let mut list = Vec::new();
    let mut more = false;
    let mut count = 0;
    for endpoint in endpoints.iter() {
        for address in endpoint.at("addresses").iter() {
            if list.len() < MAX {
                list.push(address.str().to_string());
            } else if list.len() == MAX {
                more = true;
            }
            count += 1;
        }
    }
    list_with_more(&list, more, count, MAX)
}

/// `printNode`.
fn node_cells(cx: &Cx) -> Vec<Value> {
    let o = cx.o;
    let status = o.at("status");
    // upstream builds a map by condition type: the last Ready condition wins
    let ready = status
        .at("conditions")
        .iter()
        .rev()
        .find(|c| c.at("type").str() == "Ready");
    let mut states = vec![match ready {
        None => "Unknown",
        Some(c) if c.at("status").str() == "True" => "Ready",
        Some(_) => "NotReady",
    }];
    if o.at("spec").at("unschedulable").bool() {
        states.push("SchedulingDisabled");
    }

    let mut roles: Vec<&str> = Vec::new();
    for (key, value) in o.at("metadata").at("labels").map().into_iter().flatten() {
        if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.push(role);
            }
        } else if key == "kubernetes.io/role"
            && let Some(role) = value.as_str().filter(|v| !v.is_empty())
        {
            roles.push(role);
        }
    }
    roles.sort_unstable();
    roles.dedup();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };

    let info = status.at("nodeInfo");
    let address = |kind: &str| {
        status
            .at("addresses")
            .iter()
            .find(|a| a.at("type").str() == kind)
            .map_or("<none>", |a| a.at("address").str())
    };
    vec![
        cx.name(),
        s(states.join(",")),
        s(roles),
        cx.age(),
        s(info.at("kubeletVersion").str()),
        s(address("InternalIP")),
        s(address("ExternalIP")),
        s(nonempty_or(info.at("osImage").str(), "<unknown>")),
        s(nonempty_or(info.at("kernelVersion").str(), "<unknown>")),
        s(nonempty_or(
            info.at("containerRuntimeVersion").str(),
            "<unknown>",
        )),
    ]
}

/// Where an Event's fields are in its JSON: core/v1 and events.k8s.io/v1 name them apart; the
/// server prints both through the internal (core) type.
struct EventFields {
    involved_object: &'static str,
    message: &'static str,
    source: &'static str,
    first_timestamp: &'static str,
    last_timestamp: &'static str,
    count: &'static str,
    reporting_controller: &'static str,
}

impl EventFields {
    const CORE: EventFields = EventFields {
        involved_object: "involvedObject",
        message: "message",
        source: "source",
        first_timestamp: "firstTimestamp",
        last_timestamp: "lastTimestamp",
        count: "count",
        reporting_controller: "reportingComponent",
    };
    const EVENTS_V1: EventFields = EventFields {
        involved_object: "regarding",
        message: "note",
        source: "deprecatedSource",
        first_timestamp: "deprecatedFirstTimestamp",
        last_timestamp: "deprecatedLastTimestamp",
        count: "deprecatedCount",
        reporting_controller: "reportingController",
    };
}

/// `printEvent`.
fn event_cells(cx: &Cx, f: &EventFields) -> Vec<Value> {
    let o = cx.o;
    let first = match o.at(f.first_timestamp).time() {
        Some(t) => cx.since(Some(t)),
        None => cx.since(o.at("eventTime").time()),
    };
    let mut last = match o.at(f.last_timestamp).time() {
        Some(t) => cx.since(Some(t)),
        None => first.clone(),
    };
    let mut count = o.at(f.count).int();
    if let Some(series) = o.at("series").object() {
        last = cx.since(series.at("lastObservedTime").time());
        count = series.at("count").int();
    } else if count == 0 {
        // singleton events don't have a count set in the new API
        count = 1;
    }
    let involved = o.at(f.involved_object);
    let kind = involved.at("kind").str().to_lowercase();
    let target = match involved.at("name").str() {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let source = o.at(f.source);
    let component = nonempty_or(
        source.at("component").str(),
        o.at(f.reporting_controller).str(),
    );
    let instance = nonempty_or(source.at("host").str(), o.at("reportingInstance").str());
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        s(last),
        s(o.at("type").str()),
        s(o.at("reason").str()),
        s(target),
        s(involved.at("fieldPath").str()),
        s(source),
        s(o.at(f.message).str().trim()),
        s(first),
        int(count),
        cx.name(),
    ]
}

/// `helper.GetAccessModesAsString`.
fn access_modes(modes: J) -> String {
    let modes: Vec<&str> = modes.iter().map(J::str).collect();
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| modes.contains(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The beta storage-class annotation wins over `spec.storageClassName`, even when empty.
fn storage_class<'a>(o: J<'a>) -> &'a str {
    match o
        .at("metadata")
        .at("annotations")
        .at("volume.beta.kubernetes.io/storage-class")
        .opt_str()
    {
        Some(class) => class,
        None => o.at("spec").at("storageClassName").str(),
    }
}

/// `printPersistentVolume`.
fn pv_cells(cx: &Cx) -> Vec<Value> {
    let o = cx.o;
    let spec = o.at("spec");
    let claim = match spec.at("claimRef").object() {
        Some(c) => format!("{}/{}", c.at("namespace").str(), c.at("name").str()),
        None => String::new(),
    };
    // v1 defaulting: reclaim policy Retain, phase Pending, volume mode Filesystem
    let phase = if cx.deleting() {
        "Terminating"
    } else {
        nonempty_or(o.at("status").at("phase").str(), "Pending")
    };
    let volume_attributes_class = spec
        .at("volumeAttributesClassName")
        .opt_str()
        .unwrap_or("<unset>");
    vec![
        cx.name(),
        s(quantity_or_zero(spec.at("capacity").at("storage"))),
        s(access_modes(spec.at("accessModes"))),
        s(nonempty_or(
            spec.at("persistentVolumeReclaimPolicy").str(),
            "Retain",
        )),
        s(phase),
        s(claim),
        s(storage_class(o)),
        s(volume_attributes_class),
        s(o.at("status").at("reason").str()),
        cx.age(),
        s(spec.at("volumeMode").opt_str().unwrap_or("Filesystem")),
    ]
}

/// `printPersistentVolumeClaim`.
fn pvc_cells(cx: &Cx) -> Vec<Value> {
    let o = cx.o;
    let spec = o.at("spec");
    let status = o.at("status");
    let phase = if cx.deleting() {
        "Terminating"
    } else {
        nonempty_or(status.at("phase").str(), "Pending")
    };
    let volume = spec.at("volumeName").str();
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity_or_zero(status.at("capacity").at("storage")),
            access_modes(status.at("accessModes")),
        )
    };
    let volume_attributes_class = spec
        .at("volumeAttributesClassName")
        .opt_str()
        .unwrap_or("<unset>");
    vec![
        cx.name(),
        s(phase),
        s(volume),
        s(capacity),
        s(modes),
        s(storage_class(o)),
        s(volume_attributes_class),
        cx.age(),
        s(spec.at("volumeMode").opt_str().unwrap_or("Filesystem")),
    ]
}

/// `printHorizontalPodAutoscaler`, over autoscaling/v2 or autoscaling/v1 JSON.
fn hpa_cells(cx: &Cx) -> Vec<Value> {
    let o = cx.o;
    let spec = o.at("spec");
    let status = o.at("status");
    let target = spec.at("scaleTargetRef");
    let reference = format!("{}/{}", target.at("kind").str(), target.at("name").str());
    let v1 = o.at("apiVersion").str() == "autoscaling/v1"
        || spec
            .at("targetCPUUtilizationPercentage")
            .present()
            .is_some()
        || status
            .at("currentCPUUtilizationPercentage")
            .present()
            .is_some();
    let metrics = if v1 {
        let current = match status.at("currentCPUUtilizationPercentage").opt_int() {
            Some(u) => format!("{u}%"),
            None => "<unknown>".to_string(),
        };
        // the v2 storage version defaults an HPA without metrics to 80% CPU
        let target = spec
            .at("targetCPUUtilizationPercentage")
            .opt_int()
            .unwrap_or(80);
        format!("cpu: {current}/{target}%")
    } else {
        format_hpa_metrics(spec.at("metrics"), status.at("currentMetrics"))
    };
    let min_pods = spec.at("minReplicas").opt_int().unwrap_or(1);
    vec![
        cx.name(),
        s(reference),
        s(metrics),
        s(min_pods.to_string()),
        int(spec.at("maxReplicas").int()),
        int(status.at("currentReplicas").int()),
        cx.age(),
    ]
}

/// `formatHPAMetrics` over autoscaling/v2 `spec.metrics` and `status.currentMetrics`.
fn format_hpa_metrics(specs: J, statuses: J) -> String {
    const MAX: usize = 2;
    let specs = specs.items();
    if specs.is_empty() {
        // autoscaling/v2 defaulting: no metrics means 80% average CPU utilization
        return "cpu: <unknown>/80%".to_string();
    }
    let statuses = statuses.items();
    let mut list: Vec<String> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let spec = J::new(spec);
        let status = J(statuses.get(i));
        let utilization = |v: J| v.opt_int().map(|u| format!("{u}%"));
        let entry = match spec.at("type").str() {
            "External" | "Object" => {
                let key = if spec.at("type").str() == "External" {
                    "external"
                } else {
                    "object"
                };
                let target = spec.at(key).at("target");
                let current = status.at(key).object().map(|s| s.at("current"));
                if target.at("averageValue").present().is_some() {
                    let current = current
                        .and_then(|c| c.at("averageValue").present())
                        .map_or("<unknown>".to_string(), quantity);
                    format!(
                        "{current}/{} (avg)",
                        quantity_ptr(target.at("averageValue"))
                    )
                } else {
                    let current =
                        current.map_or("<unknown>".to_string(), |c| quantity_ptr(c.at("value")));
                    format!("{current}/{}", quantity_ptr(target.at("value")))
                }
            }
            "Pods" => {
                let current = status
                    .at("pods")
                    .object()
                    .map_or("<unknown>".to_string(), |p| {
                        quantity_ptr(p.at("current").at("averageValue"))
                    });
                format!(
                    "{current}/{}",
                    quantity_ptr(spec.at("pods").at("target").at("averageValue"))
                )
            }
            kind @ ("Resource" | "ContainerResource") => {
                let key = if kind == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let source = spec.at(key);
                let target = source.at("target");
                let current = status.at(key).object().map(|s| s.at("current"));
                let name = source.at("name").str();
                if target.at("averageValue").present().is_some() {
                    let current = current.map_or("<unknown>".to_string(), |c| {
                        quantity_ptr(c.at("averageValue"))
                    });
                    format!(
                        "{name}: {current}/{}",
                        quantity_ptr(target.at("averageValue"))
                    )
                } else {
                    let current = current
                        .and_then(|c| utilization(c.at("averageUtilization")))
                        .unwrap_or_else(|| "<unknown>".to_string());
                    let target = utilization(target.at("averageUtilization"))
                        .unwrap_or_else(|| "<auto>".to_string());
                    format!("{name}: {current}/{target}")
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(entry);
    }
    let count = list.len();
    if count > MAX {
        list.truncate(MAX);
        return format!("{} + {} more...", list.join(", "), count - MAX);
    }
    list.join(", ")
}

/// `printCertificateSigningRequest`.
fn csr_cells(cx: &Cx) -> Vec<Value> {
    let o = cx.o;
    let spec = o.at("spec");
    let status = o.at("status");
    let has = |kind: &str| {
        status
            .at("conditions")
            .iter()
            .any(|c| c.at("type").str() == kind)
    };
    let mut condition = if has("Denied") {
        "Denied"
    } else if has("Approved") {
        "Approved"
    } else {
        "Pending"
    }
    .to_string();
    if has("Failed") {
        condition.push_str(",Failed");
    }
    if !status.at("certificate").str().is_empty() {
        condition.push_str(",Issued");
    }
    let requested = match spec.at("expirationSeconds").opt_int() {
        Some(secs) => human_nanos(i128::from(secs) * NANOS_PER_SECOND),
        None => "<none>".to_string(),
    };
    vec![
        cx.name(),
        cx.age(),
        s(nonempty_or(spec.at("signerName").str(), "<none>")),
        s(spec.at("username").str()),
        s(requested),
        s(condition),
    ]
}

/// `printControllerRevision`'s Controller column: `kind[.group]/name` of the controller.
fn controller_name(owner_refs: J) -> String {
    let Some(owner) = owner_refs
        .iter()
        .find(|r| r.at("controller").opt_bool() == Some(true))
    else {
        return "<none>".to_string();
    };
    // schema.ParseGroupVersion: "v1" has no group, "apps/v1" has "apps"
    let api_version = owner.at("apiVersion").str();
    let group = match api_version.split_once('/') {
        Some((group, _)) if api_version != "/" => group,
        _ => "",
    };
    let kind = owner.at("kind").str();
    let name = owner.at("name").str();
    match (group, kind) {
        ("", "") => name.to_string(),
        ("", kind) => format!("{}/{name}", kind.to_lowercase()),
        (group, kind) => format!("{}/{name}", format!("{kind}.{group}").to_lowercase()),
    }
}

/// `printResourceQuota`: `resource: used/hard` pairs, requests and limits apart.
fn resource_quota_cells(cx: &Cx) -> Vec<Value> {
    let o = cx.o;
    let status = o.at("status");
    let mut resources: Vec<&String> = status
        .at("hard")
        .map()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .collect();
    resources.sort();
    let mut requests: Vec<String> = Vec::new();
    let mut limits: Vec<String> = Vec::new();
    for resource in resources {
        let used = quantity_or_zero(status.at("used").at(resource));
        let hard = quantity_or_zero(status.at("hard").at(resource));
        let entry = format!("{resource}: {used}/{hard}");
        let mut pieces = resource.split('.');
        let is_limit = pieces.next() == Some("limits") && pieces.next().is_some();
        if is_limit {
            limits.push(entry)
        } else {
            requests.push(entry)
        }
    }
    vec![
        cx.name(),
        s(requests.join(", ")),
        s(limits.join(", ")),
        cx.age(),
    ]
}

/// `printCSIDriver`, with storage/v1 defaults for unset fields.
fn csi_driver_cells(cx: &Cx) -> Vec<Value> {
    let spec = cx.o.at("spec");
    let modes: Vec<&str> = spec.at("volumeLifecycleModes").iter().map(J::str).collect();
    let modes = if modes.is_empty() {
        "Persistent".to_string()
    } else {
        modes.join(",")
    };
    let token_requests = match spec.at("tokenRequests").present() {
        Some(list) => list
            .iter()
            .map(|t| t.at("audience").str())
            .collect::<Vec<_>>()
            .join(","),
        None => "<unset>".to_string(),
    };
    vec![
        cx.name(),
        Value::Bool(spec.at("attachRequired").opt_bool().unwrap_or(true)),
        Value::Bool(spec.at("podInfoOnMount").bool()),
        Value::Bool(spec.at("storageCapacity").bool()),
        s(token_requests),
        Value::Bool(spec.at("requiresRepublish").bool()),
        s(modes),
        cx.age(),
    ]
}

/// `printPriorityLevelConfiguration`, with flowcontrol/v1 defaults for unset fields.
fn plc_cells(cx: &Cx) -> Vec<Value> {
    let spec = cx.o.at("spec");
    let none = || s("<none>");
    let (mut ncs, mut queues, mut hand_size, mut queue_length) = (none(), none(), none(), none());
    if let Some(limited) = spec.at("limited").object() {
        ncs = int(limited
            .at("nominalConcurrencyShares")
            .opt_int()
            .unwrap_or(30));
        let response = limited.at("limitResponse");
        let queuing = response.at("queuing").object();
        if queuing.is_some() || response.at("type").str() == "Queue" {
            let field = |name: &str, default: i64| match queuing.map_or(0, |q| q.at(name).int()) {
                0 => default,
                v => v,
            };
            queues = int(field("queues", 64));
            hand_size = int(field("handSize", 8));
            queue_length = int(field("queueLengthLimit", 50));
        }
    }
    vec![
        cx.name(),
        s(spec.at("type").str()),
        ncs,
        queues,
        hand_size,
        queue_length,
        cx.age(),
    ]
}

/// Upstream column descriptions: the `SwaggerDoc()` texts of k8s.io/api and apimachinery
/// v0.33 that `AddHandlers` uses (from `types_swagger_doc_generated.go`).
mod doc {
    /// `ObjectMeta.name` (meta/v1).
    pub const OBJECT_META_NAME: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
    /// `ObjectMeta.creationTimestamp` (meta/v1).
    pub const OBJECT_META_CREATION_TIMESTAMP: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
    /// `PodStatus.podIP` (core/v1).
    pub const POD_STATUS_POD_IP: &str = "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.";
    /// `PodStatus.nominatedNodeName` (core/v1).
    pub const POD_STATUS_NOMINATED_NODE_NAME: &str = "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.";
    /// `PodSpec.nodeName` (core/v1).
    pub const POD_SPEC_NODE_NAME: &str = "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename";
    /// `PodSpec.readinessGates` (core/v1).
    pub const POD_SPEC_READINESS_GATES: &str = "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates";
    /// `PodSpec.nodeSelector` (core/v1).
    pub const POD_SPEC_NODE_SELECTOR: &str = "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/";
    /// `ReplicationControllerSpec.replicas` (core/v1).
    pub const REPLICATION_CONTROLLER_SPEC_REPLICAS: &str = "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller";
    /// `ReplicationControllerSpec.selector` (core/v1).
    pub const REPLICATION_CONTROLLER_SPEC_SELECTOR: &str = "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template. Label keys and values that must match in order to be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
    /// `ReplicationControllerStatus.replicas` (core/v1).
    pub const REPLICATION_CONTROLLER_STATUS_REPLICAS: &str = "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller";
    /// `ReplicationControllerStatus.readyReplicas` (core/v1).
    pub const REPLICATION_CONTROLLER_STATUS_READY_REPLICAS: &str =
        "The number of ready replicas for this replication controller.";
    /// `ReplicaSetSpec.replicas` (extensions/v1beta1).
    pub const REPLICA_SET_SPEC_REPLICAS: &str = "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
    /// `ReplicaSetSpec.selector` (extensions/v1beta1).
    pub const REPLICA_SET_SPEC_SELECTOR: &str = "Selector is a label query over pods that should match the replica count. If the selector is empty, it is defaulted to the labels present on the pod template. Label keys and values that must match in order to be controlled by this replica set. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
    /// `ReplicaSetStatus.replicas` (extensions/v1beta1).
    pub const REPLICA_SET_STATUS_REPLICAS: &str = "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
    /// `ReplicaSetStatus.readyReplicas` (extensions/v1beta1).
    pub const REPLICA_SET_STATUS_READY_REPLICAS: &str =
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.";
    /// `DaemonSetStatus.desiredNumberScheduled` (extensions/v1beta1).
    pub const DAEMON_SET_STATUS_DESIRED_NUMBER_SCHEDULED: &str = "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/";
    /// `DaemonSetStatus.currentNumberScheduled` (extensions/v1beta1).
    pub const DAEMON_SET_STATUS_CURRENT_NUMBER_SCHEDULED: &str = "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/";
    /// `DaemonSetStatus.numberReady` (extensions/v1beta1).
    pub const DAEMON_SET_STATUS_NUMBER_READY: &str = "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.";
    /// `DaemonSetStatus.updatedNumberScheduled` (extensions/v1beta1).
    pub const DAEMON_SET_STATUS_UPDATED_NUMBER_SCHEDULED: &str =
        "The total number of nodes that are running updated daemon pod";
    /// `DaemonSetStatus.numberAvailable` (extensions/v1beta1).
    pub const DAEMON_SET_STATUS_NUMBER_AVAILABLE: &str = "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)";
    /// `DaemonSetSpec.selector` (extensions/v1beta1).
    pub const DAEMON_SET_SPEC_SELECTOR: &str = "A label query over pods that are managed by the daemon set. Must match in order to be controlled. If empty, defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
    /// `JobStatus.succeeded` (batch/v1).
    pub const JOB_STATUS_SUCCEEDED: &str = "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.";
    /// `JobSpec.selector` (batch/v1).
    pub const JOB_SPEC_SELECTOR: &str = "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
    /// `CronJobSpec.schedule` (batch/v1beta1).
    pub const CRON_JOB_SPEC_SCHEDULE: &str =
        "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.";
    /// `CronJobSpec.timeZone` (batch/v1beta1).
    pub const CRON_JOB_SPEC_TIME_ZONE: &str = "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones";
    /// `CronJobSpec.suspend` (batch/v1beta1).
    pub const CRON_JOB_SPEC_SUSPEND: &str = "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.";
    /// `CronJobStatus.active` (batch/v1beta1).
    pub const CRON_JOB_STATUS_ACTIVE: &str = "A list of pointers to currently running jobs.";
    /// `CronJobStatus.lastScheduleTime` (batch/v1beta1).
    pub const CRON_JOB_STATUS_LAST_SCHEDULE_TIME: &str =
        "Information when was the last time the job was successfully scheduled.";
    /// `ServiceSpec.type` (core/v1).
    pub const SERVICE_SPEC_TYPE: &str = "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types";
    /// `ServiceSpec.clusterIP` (core/v1).
    pub const SERVICE_SPEC_CLUSTER_IP: &str = "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
    /// `ServiceSpec.externalIPs` (core/v1).
    pub const SERVICE_SPEC_EXTERNAL_IPS: &str = "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.";
    /// `ServiceSpec.ports` (core/v1).
    pub const SERVICE_SPEC_PORTS: &str = "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
    /// `ServiceSpec.selector` (core/v1).
    pub const SERVICE_SPEC_SELECTOR: &str = "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/";
    /// `Endpoints.subsets` (core/v1).
    pub const ENDPOINTS_SUBSETS: &str = "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.";
    /// `NodeSystemInfo.kubeletVersion` (core/v1).
    pub const NODE_SYSTEM_INFO_KUBELET_VERSION: &str = "Kubelet Version reported by the node.";
    /// `NodeSystemInfo.osImage` (core/v1).
    pub const NODE_SYSTEM_INFO_OS_IMAGE: &str =
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).";
    /// `NodeSystemInfo.kernelVersion` (core/v1).
    pub const NODE_SYSTEM_INFO_KERNEL_VERSION: &str =
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).";
    /// `NodeSystemInfo.containerRuntimeVersion` (core/v1).
    pub const NODE_SYSTEM_INFO_CONTAINER_RUNTIME_VERSION: &str = "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).";
    /// `NodeStatus.addresses` (core/v1).
    pub const NODE_STATUS_ADDRESSES: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";
    /// `Event.lastTimestamp` (core/v1).
    pub const EVENT_LAST_TIMESTAMP: &str =
        "The time at which the most recent occurrence of this event was recorded.";
    /// `Event.type` (core/v1).
    pub const EVENT_TYPE: &str =
        "Type of this event (Normal, Warning), new types could be added in the future";
    /// `Event.reason` (core/v1).
    pub const EVENT_REASON: &str = "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.";
    /// `Event.involvedObject` (core/v1).
    pub const EVENT_INVOLVED_OBJECT: &str = "The object that this event is about.";
    /// `Event.source` (core/v1).
    pub const EVENT_SOURCE: &str =
        "The component reporting this event. Should be a short machine understandable string.";
    /// `Event.message` (core/v1).
    pub const EVENT_MESSAGE: &str = "A human-readable description of the status of this operation.";
    /// `Event.firstTimestamp` (core/v1).
    pub const EVENT_FIRST_TIMESTAMP: &str =
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)";
    /// `Event.count` (core/v1).
    pub const EVENT_COUNT: &str = "The number of times this event has occurred.";
    /// `ObjectReference.fieldPath` (core/v1).
    pub const OBJECT_REFERENCE_FIELD_PATH: &str = "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.";
    /// `Secret.type` (core/v1).
    pub const SECRET_TYPE: &str = "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types";
    /// `Secret.data` (core/v1).
    pub const SECRET_DATA: &str = "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4";
    /// `ServiceAccount.secrets` (core/v1).
    pub const SERVICE_ACCOUNT_SECRETS: &str = "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret";
    /// `PersistentVolumeSpec.capacity` (core/v1).
    pub const PERSISTENT_VOLUME_SPEC_CAPACITY: &str = "capacity is the description of the persistent volume's resources and capacity. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity";
    /// `PersistentVolumeSpec.accessModes` (core/v1).
    pub const PERSISTENT_VOLUME_SPEC_ACCESS_MODES: &str = "accessModes contains all ways the volume can be mounted. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes";
    /// `PersistentVolumeSpec.persistentVolumeReclaimPolicy` (core/v1).
    pub const PERSISTENT_VOLUME_SPEC_PERSISTENT_VOLUME_RECLAIM_POLICY: &str = "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim. Valid options are Retain (default for manually created PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the volume plugin underlying this PersistentVolume. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming";
    /// `PersistentVolumeSpec.claimRef` (core/v1).
    pub const PERSISTENT_VOLUME_SPEC_CLAIM_REF: &str = "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding";
    /// `PersistentVolumeSpec.volumeMode` (core/v1).
    pub const PERSISTENT_VOLUME_SPEC_VOLUME_MODE: &str = "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state. Value of Filesystem is implied when not included in spec.";
    /// `PersistentVolumeStatus.phase` (core/v1).
    pub const PERSISTENT_VOLUME_STATUS_PHASE: &str = "phase indicates if a volume is available, bound to a claim, or released by a claim. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase";
    /// `PersistentVolumeStatus.reason` (core/v1).
    pub const PERSISTENT_VOLUME_STATUS_REASON: &str = "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.";
    /// `PersistentVolumeClaimStatus.phase` (core/v1).
    pub const PERSISTENT_VOLUME_CLAIM_STATUS_PHASE: &str =
        "phase represents the current phase of PersistentVolumeClaim.";
    /// `PersistentVolumeClaimStatus.capacity` (core/v1).
    pub const PERSISTENT_VOLUME_CLAIM_STATUS_CAPACITY: &str =
        "capacity represents the actual resources of the underlying volume.";
    /// `PersistentVolumeClaimStatus.accessModes` (core/v1).
    pub const PERSISTENT_VOLUME_CLAIM_STATUS_ACCESS_MODES: &str = "accessModes contains the actual access modes the volume backing the PVC has. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1";
    /// `PersistentVolumeClaimSpec.volumeName` (core/v1).
    pub const PERSISTENT_VOLUME_CLAIM_SPEC_VOLUME_NAME: &str =
        "volumeName is the binding reference to the PersistentVolume backing this claim.";
    /// `PersistentVolumeClaimSpec.volumeMode` (core/v1).
    pub const PERSISTENT_VOLUME_CLAIM_SPEC_VOLUME_MODE: &str = "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec.";
    /// `DeploymentStatus.updatedReplicas` (extensions/v1beta1).
    pub const DEPLOYMENT_STATUS_UPDATED_REPLICAS: &str = "Total number of non-terminating pods targeted by this deployment that have the desired template spec.";
    /// `DeploymentStatus.availableReplicas` (extensions/v1beta1).
    pub const DEPLOYMENT_STATUS_AVAILABLE_REPLICAS: &str = "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.";
    /// `DeploymentSpec.selector` (extensions/v1beta1).
    pub const DEPLOYMENT_SPEC_SELECTOR: &str = "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.";
    /// `HorizontalPodAutoscalerSpec.scaleTargetRef` (autoscaling/v2beta1).
    pub const HORIZONTAL_POD_AUTOSCALER_SPEC_SCALE_TARGET_REF: &str = "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.";
    /// `HorizontalPodAutoscalerSpec.metrics` (autoscaling/v2beta1).
    pub const HORIZONTAL_POD_AUTOSCALER_SPEC_METRICS: &str = "metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).  The desired replica count is calculated multiplying the ratio between the target value and the current value by the current number of pods.  Ergo, metrics used must decrease as the pod count is increased, and vice-versa.  See the individual metric source types for more information about how each type of metric must respond.";
    /// `HorizontalPodAutoscalerSpec.minReplicas` (autoscaling/v2beta1).
    pub const HORIZONTAL_POD_AUTOSCALER_SPEC_MIN_REPLICAS: &str = "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.  It defaults to 1 pod.  minReplicas is allowed to be 0 if the alpha feature gate HPAScaleToZero is enabled and at least one Object or External metric is configured.  Scaling is active as long as at least one metric value is available.";
    /// `HorizontalPodAutoscalerSpec.maxReplicas` (autoscaling/v2beta1).
    pub const HORIZONTAL_POD_AUTOSCALER_SPEC_MAX_REPLICAS: &str = "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up. It cannot be less that minReplicas.";
    /// `HorizontalPodAutoscalerStatus.currentReplicas` (autoscaling/v2beta1).
    pub const HORIZONTAL_POD_AUTOSCALER_STATUS_CURRENT_REPLICAS: &str = "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.";
    /// `ConfigMap.data` (core/v1).
    pub const CONFIG_MAP_DATA: &str = "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.";
    /// `NetworkPolicySpec.podSelector` (extensions/v1beta1).
    pub const NETWORK_POLICY_SPEC_POD_SELECTOR: &str = "Selects the pods to which this NetworkPolicy object applies.  The array of ingress rules is applied to any pods selected by this field. Multiple network policies can select the same set of pods.  In this case, the ingress rules for each are combined additively. This field is NOT optional and follows standard label selector semantics. An empty podSelector matches all pods in this namespace.";
    /// `RoleBinding.roleRef` (rbac/v1beta1).
    pub const ROLE_BINDING_ROLE_REF: &str = "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.";
    /// `ClusterRoleBinding.roleRef` (rbac/v1beta1).
    pub const CLUSTER_ROLE_BINDING_ROLE_REF: &str = "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.";
    /// `LeaseSpec.holderIdentity` (coordination/v1).
    pub const LEASE_SPEC_HOLDER_IDENTITY: &str = "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.";
    /// `StorageClass.provisioner` (storage/v1).
    pub const STORAGE_CLASS_PROVISIONER: &str =
        "provisioner indicates the type of the provisioner.";
    /// `StorageClass.reclaimPolicy` (storage/v1).
    pub const STORAGE_CLASS_RECLAIM_POLICY: &str = "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.";
    /// `StorageClass.volumeBindingMode` (storage/v1).
    pub const STORAGE_CLASS_VOLUME_BINDING_MODE: &str = "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature.";
    /// `StorageClass.allowVolumeExpansion` (storage/v1).
    pub const STORAGE_CLASS_ALLOW_VOLUME_EXPANSION: &str =
        "allowVolumeExpansion shows whether the storage class allow volume expand.";
    /// `ControllerRevision.revision` (apps/v1beta1).
    pub const CONTROLLER_REVISION_REVISION: &str =
        "revision indicates the revision of the state represented by Data.";
    /// `PriorityClass.value` (scheduling/v1).
    pub const PRIORITY_CLASS_VALUE: &str = "value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.";
    /// `PriorityClass.globalDefault` (scheduling/v1).
    pub const PRIORITY_CLASS_GLOBAL_DEFAULT: &str = "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority.";
    /// `PriorityClass.preemptionPolicy` (scheduling/v1).
    pub const PRIORITY_CLASS_PREEMPTION_POLICY: &str = "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.";
    /// `VolumeAttachmentSpec.attacher` (storage/v1).
    pub const VOLUME_ATTACHMENT_SPEC_ATTACHER: &str = "attacher indicates the name of the volume driver that MUST handle this request. This is the name returned by GetPluginName().";
    /// `VolumeAttachmentSpec.nodeName` (storage/v1).
    pub const VOLUME_ATTACHMENT_SPEC_NODE_NAME: &str =
        "nodeName represents the node that the volume should be attached to.";
    /// `VolumeAttachmentSource.persistentVolumeName` (storage/v1).
    pub const VOLUME_ATTACHMENT_SOURCE_PERSISTENT_VOLUME_NAME: &str =
        "persistentVolumeName represents the name of the persistent volume to attach.";
    /// `VolumeAttachmentStatus.attached` (storage/v1).
    pub const VOLUME_ATTACHMENT_STATUS_ATTACHED: &str = "attached indicates the volume is successfully attached. This field must only be set by the entity completing the attach operation, i.e. the external-attacher.";
    /// `EndpointSlice.addressType` (discovery/v1beta1).
    pub const ENDPOINT_SLICE_ADDRESS_TYPE: &str = "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.";
    /// `EndpointSlice.ports` (discovery/v1beta1).
    pub const ENDPOINT_SLICE_PORTS: &str = "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates \"all ports\". Each slice may include a maximum of 100 ports.";
    /// `EndpointSlice.endpoints` (discovery/v1beta1).
    pub const ENDPOINT_SLICE_ENDPOINTS: &str = "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.";
    /// `CSIDriverSpec.attachRequired` (storage/v1).
    pub const CSIDRIVER_SPEC_ATTACH_REQUIRED: &str = "attachRequired indicates this CSI volume driver requires an attach operation (because it implements the CSI ControllerPublishVolume() method), and that the Kubernetes attach detach controller should call the attach volume interface which checks the volumeattachment status and waits until the volume is attached before proceeding to mounting. The CSI external-attacher coordinates with CSI volume driver and updates the volumeattachment status when the attach operation is complete. If the CSIDriverRegistry feature gate is enabled and the value is specified to false, the attach operation will be skipped. Otherwise the attach operation will be called.\n\nThis field is immutable.";
    /// `CSIDriverSpec.podInfoOnMount` (storage/v1).
    pub const CSIDRIVER_SPEC_POD_INFO_ON_MOUNT: &str = "podInfoOnMount indicates this CSI volume driver requires additional pod information (like podName, podUID, etc.) during mount operations, if set to true. If set to false, pod information will not be passed on mount. Default is false.\n\nThe CSI driver specifies podInfoOnMount as part of driver deployment. If true, Kubelet will pass pod information as VolumeContext in the CSI NodePublishVolume() calls. The CSI driver is responsible for parsing and validating the information passed in as VolumeContext.\n\nThe following VolumeContext will be passed if podInfoOnMount is set to true. This list might grow, but the prefix will be used. \"csi.storage.k8s.io/pod.name\": pod.Name \"csi.storage.k8s.io/pod.namespace\": pod.Namespace \"csi.storage.k8s.io/pod.uid\": string(pod.UID) \"csi.storage.k8s.io/ephemeral\": \"true\" if the volume is an ephemeral inline volume\n                                defined by a CSIVolumeSource, otherwise \"false\"\n\n\"csi.storage.k8s.io/ephemeral\" is a new feature in Kubernetes 1.16. It is only required for drivers which support both the \"Persistent\" and \"Ephemeral\" VolumeLifecycleMode. Other drivers can leave pod info disabled and/or ignore this field. As Kubernetes 1.15 doesn't support this field, drivers can only support one mode when deployed on such a cluster and the deployment determines which mode that is, for example via a command line parameter of the driver.\n\nThis field was immutable in Kubernetes < 1.29 and now is mutable.";
    /// `CSIDriverSpec.storageCapacity` (storage/v1).
    pub const CSIDRIVER_SPEC_STORAGE_CAPACITY: &str = "storageCapacity indicates that the CSI volume driver wants pod scheduling to consider the storage capacity that the driver deployment will report by creating CSIStorageCapacity objects with capacity information, if set to true.\n\nThe check can be enabled immediately when deploying a driver. In that case, provisioning new volumes with late binding will pause until the driver deployment has published some suitable CSIStorageCapacity object.\n\nAlternatively, the driver can be deployed with the field unset or false and it can be flipped later when storage capacity information has been published.\n\nThis field was immutable in Kubernetes <= 1.22 and now is mutable.";
    /// `CSIDriverSpec.tokenRequests` (storage/v1).
    pub const CSIDRIVER_SPEC_TOKEN_REQUESTS: &str = "tokenRequests indicates the CSI driver needs pods' service account tokens it is mounting volume for to do necessary authentication. Kubelet will pass the tokens in VolumeContext in the CSI NodePublishVolume calls. The CSI driver should parse and validate the following VolumeContext: \"csi.storage.k8s.io/serviceAccount.tokens\": {\n  \"<audience>\": {\n    \"token\": <token>,\n    \"expirationTimestamp\": <expiration timestamp in RFC3339>,\n  },\n  ...\n}\n\nNote: Audience in each TokenRequest should be different and at most one token is empty string. To receive a new token after expiry, RequiresRepublish can be used to trigger NodePublishVolume periodically.";
    /// `CSIDriverSpec.requiresRepublish` (storage/v1).
    pub const CSIDRIVER_SPEC_REQUIRES_REPUBLISH: &str = "requiresRepublish indicates the CSI driver wants `NodePublishVolume` being periodically called to reflect any possible change in the mounted volume. This field defaults to false.\n\nNote: After a successful initial NodePublishVolume call, subsequent calls to NodePublishVolume should only update the contents of the volume. New mount points will not be seen by a running container.";
    /// `CSIDriverSpec.volumeLifecycleModes` (storage/v1).
    pub const CSIDRIVER_SPEC_VOLUME_LIFECYCLE_MODES: &str = "volumeLifecycleModes defines what kind of volumes this CSI volume driver supports. The default if the list is empty is \"Persistent\", which is the usage defined by the CSI specification and implemented in Kubernetes via the usual PV/PVC mechanism.\n\nThe other mode is \"Ephemeral\". In this mode, volumes are defined inline inside the pod spec with CSIVolumeSource and their lifecycle is tied to the lifecycle of that pod. A driver has to be aware of this because it is only going to get a NodePublishVolume call for such a volume.\n\nFor more information about implementing this mode, see https://kubernetes-csi.github.io/docs/ephemeral-local-volumes.html A driver can support one or more of these modes and more modes may be added in the future.\n\nThis field is beta. This field is immutable.";
    /// `CertificateSigningRequestSpec.signerName` (certificates/v1beta1).
    pub const CERTIFICATE_SIGNING_REQUEST_SPEC_SIGNER_NAME: &str = "Requested signer for the request. It is a qualified name in the form: `scope-hostname.io/name`. If empty, it will be defaulted:\n 1. If it's a kubelet client certificate, it is assigned\n    \"kubernetes.io/kube-apiserver-client-kubelet\".\n 2. If it's a kubelet serving certificate, it is assigned\n    \"kubernetes.io/kubelet-serving\".\n 3. Otherwise, it is assigned \"kubernetes.io/legacy-unknown\".\nDistribution of trust for signers happens out of band. You can select on this field using `spec.signerName`.";
    /// `CertificateSigningRequestSpec.request` (certificates/v1beta1).
    pub const CERTIFICATE_SIGNING_REQUEST_SPEC_REQUEST: &str = "Base64-encoded PKCS#10 CSR data";
    /// `CertificateSigningRequestSpec.expirationSeconds` (certificates/v1beta1).
    pub const CERTIFICATE_SIGNING_REQUEST_SPEC_EXPIRATION_SECONDS: &str = "expirationSeconds is the requested duration of validity of the issued certificate. The certificate signer may issue a certificate with a different validity duration so a client must check the delta between the notBefore and and notAfter fields in the issued certificate to determine the actual duration.\n\nThe v1.22+ in-tree implementations of the well-known Kubernetes signers will honor this field as long as the requested duration is not greater than the maximum duration they will honor per the --cluster-signing-duration CLI flag to the Kubernetes controller manager.\n\nCertificate signers may not honor this field for various reasons:\n\n  1. Old signer that is unaware of the field (such as the in-tree\n     implementations prior to v1.22)\n  2. Signer whose configured maximum is shorter than the requested duration\n  3. Signer whose configured minimum is longer than the requested duration\n\nThe minimum valid value for expirationSeconds is 600, i.e. 10 minutes.";
    /// `CertificateSigningRequestStatus.conditions` (certificates/v1beta1).
    pub const CERTIFICATE_SIGNING_REQUEST_STATUS_CONDITIONS: &str =
        "Conditions applied to the request, such as approval or denial.";
    /// `ClusterTrustBundleSpec.signerName` (certificates/v1alpha1).
    pub const CLUSTER_TRUST_BUNDLE_SPEC_SIGNER_NAME: &str = "signerName indicates the associated signer, if any.\n\nIn order to create or update a ClusterTrustBundle that sets signerName, you must have the following cluster-scoped permission: group=certificates.k8s.io resource=signers resourceName=<the signer name> verb=attest.\n\nIf signerName is not empty, then the ClusterTrustBundle object must be named with the signer name as a prefix (translating slashes to colons). For example, for the signer name `example.com/foo`, valid ClusterTrustBundle object names include `example.com:foo:abc` and `example.com:foo:v1`.\n\nIf signerName is empty, then the ClusterTrustBundle object's name must not have such a prefix.\n\nList/watch requests for ClusterTrustBundles can filter on this field using a `spec.signerName=NAME` field selector.";
    /// `LeaseCandidateSpec.leaseName` (coordination/v1alpha2).
    pub const LEASE_CANDIDATE_SPEC_LEASE_NAME: &str = "LeaseName is the name of the lease for which this candidate is contending. This field is immutable.";
    /// `PriorityLevelConfigurationReference.name` (flowcontrol/v1).
    pub const PRIORITY_LEVEL_CONFIGURATION_REFERENCE_NAME: &str =
        "`name` is the name of the priority level configuration being referenced Required.";
    /// `FlowSchemaSpec.matchingPrecedence` (flowcontrol/v1).
    pub const FLOW_SCHEMA_SPEC_MATCHING_PRECEDENCE: &str = "`matchingPrecedence` is used to choose among the FlowSchemas that match a given request. The chosen FlowSchema is among those with the numerically lowest (which we take to be logically highest) MatchingPrecedence.  Each MatchingPrecedence value must be ranged in [1,10000]. Note that if the precedence is not specified, it will be set to 1000 as default.";
    /// `FlowSchemaSpec.distinguisherMethod` (flowcontrol/v1).
    pub const FLOW_SCHEMA_SPEC_DISTINGUISHER_METHOD: &str = "`distinguisherMethod` defines how to compute the flow distinguisher for requests that match this schema. `nil` specifies that the distinguisher is disabled and thus will always be the empty string.";
    /// `PriorityLevelConfigurationSpec.type` (flowcontrol/v1).
    pub const PRIORITY_LEVEL_CONFIGURATION_SPEC_TYPE: &str = "`type` indicates whether this priority level is subject to limitation on request execution.  A value of `\"Exempt\"` means that requests of this priority level are not subject to a limit (and thus are never queued) and do not detract from the capacity made available to other priority levels.  A value of `\"Limited\"` means that (a) requests of this priority level _are_ subject to limits and (b) some of the server's limited capacity is made available exclusively to this priority level. Required.";
    /// `LimitedPriorityLevelConfiguration.nominalConcurrencyShares` (flowcontrol/v1).
    pub const LIMITED_PRIORITY_LEVEL_CONFIGURATION_NOMINAL_CONCURRENCY_SHARES: &str = "`nominalConcurrencyShares` (NCS) contributes to the computation of the NominalConcurrencyLimit (NominalCL) of this level. This is the number of execution seats available at this priority level. This is used both for requests dispatched from this priority level as well as requests dispatched from other priority levels borrowing seats from this level. The server's concurrency limit (ServerCL) is divided among the Limited priority levels in proportion to their NCS values:\n\nNominalCL(i)  = ceil( ServerCL * NCS(i) / sum_ncs ) sum_ncs = sum[priority level k] NCS(k)\n\nBigger numbers mean a larger nominal concurrency limit, at the expense of every other priority level.\n\nIf not specified, this field defaults to a value of 30.\n\nSetting this field to zero supports the construction of a \"jail\" for this priority level that is used to hold some request(s)";
    /// `QueuingConfiguration.queues` (flowcontrol/v1).
    pub const QUEUING_CONFIGURATION_QUEUES: &str = "`queues` is the number of queues for this priority level. The queues exist independently at each apiserver. The value must be positive.  Setting it to 1 effectively precludes shufflesharding and thus makes the distinguisher method of associated flow schemas irrelevant.  This field has a default value of 64.";
    /// `QueuingConfiguration.handSize` (flowcontrol/v1).
    pub const QUEUING_CONFIGURATION_HAND_SIZE: &str = "`handSize` is a small positive number that configures the shuffle sharding of requests into queues.  When enqueuing a request at this priority level the request's flow identifier (a string pair) is hashed and the hash value is used to shuffle the list of queues and deal a hand of the size specified here.  The request is put into one of the shortest queues in that hand. `handSize` must be no larger than `queues`, and should be significantly smaller (so that a few heavy flows do not saturate most of the queues).  See the user-facing documentation for more extensive guidance on setting this field.  This field has a default value of 8.";
    /// `QueuingConfiguration.queueLengthLimit` (flowcontrol/v1).
    pub const QUEUING_CONFIGURATION_QUEUE_LENGTH_LIMIT: &str = "`queueLengthLimit` is the maximum number of requests allowed to be waiting in a given queue of this priority level at a time; excess requests are rejected.  This value must be positive.  If not specified, it will be defaulted to 50.";
    /// `ResourceSliceSpec.nodeName` (resource/v1beta1).
    pub const RESOURCE_SLICE_SPEC_NODE_NAME: &str = "NodeName identifies the node which provides the resources in this pool. A field selector can be used to list only ResourceSlice objects belonging to a certain node.\n\nThis field can be used to limit access from nodes to ResourceSlices with the same node name. It also indicates to autoscalers that adding new nodes of the same type as some old node might also make new resources available.\n\nExactly one of NodeName, NodeSelector, AllNodes, and PerDeviceNodeSelection must be set. This field is immutable.";
    /// `ResourceSliceSpec.driver` (resource/v1beta1).
    pub const RESOURCE_SLICE_SPEC_DRIVER: &str = "Driver identifies the DRA driver providing the capacity information. A field selector can be used to list only ResourceSlice objects with a certain driver name.\n\nMust be a DNS subdomain and should end with a DNS domain owned by the vendor of the driver. This field is immutable.";
    /// `ResourcePool.name` (resource/v1beta1).
    pub const RESOURCE_POOL_NAME: &str = "Name is used to identify the pool. For node-local devices, this is often the node name, but this is not required.\n\nIt must not be longer than 253 characters and must consist of one or more DNS sub-domains separated by slashes. This field is immutable.";
    /// `ServiceCIDRSpec.cidrs` (networking/v1beta1).
    pub const SERVICE_CIDRSPEC_CIDRS: &str = "CIDRs defines the IP blocks in CIDR notation (e.g. \"192.168.0.0/24\" or \"2001:db8::/64\") from which to assign service cluster IPs. Max of two CIDRs is allowed, one of each IP family. This field is immutable.";
    /// `IPAddressSpec.parentRef` (networking/v1beta1).
    pub const IPADDRESS_SPEC_PARENT_REF: &str = "ParentRef references the resource that an IPAddress is attached to. An IPAddress must reference a parent object.";
}

/// The printer columns of a custom resource version (apiextensions' table convertor): Name,
/// then the version's `additionalPrinterColumns`, or Age when it declares none.
fn custom_columns(cr: &crate::crd::CustomResource) -> Vec<Value> {
    if cr.printer_columns.is_empty() {
        return vec![
            json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
            "description": doc::OBJECT_META_CREATION_TIMESTAMP}),
        ];
    }
    cr.printer_columns.clone()
}

/// Column definitions of a custom resource's Table.
pub fn custom_column_definitions(cr: &crate::crd::CustomResource) -> Vec<Value> {
    let mut out = vec![json!({"name": "Name", "type": "string", "format": "name",
        "description": doc::OBJECT_META_NAME, "priority": 0})];
    for c in custom_columns(cr) {
        let path = c["jsonPath"].as_str().unwrap_or_default();
        let description = match c["description"].as_str() {
            Some(d) if !d.is_empty() => d.to_string(),
            _ => format!("Custom resource definition column (in JSONPath format): {path}"),
        };
        out.push(json!({
            "name": c["name"],
            "type": c["type"],
            "format": c["format"].as_str().unwrap_or_default(),
            "description": description,
            "priority": c["priority"].as_i64().unwrap_or(0),
        }));
    }
    out
}

/// Row cells of a custom resource: its name, then each column's JSONPath value (`null` when
/// absent; strings printed, dates as ages, other types as JSON values).
pub fn custom_cells(cr: &crate::crd::CustomResource, obj: &Value, now: Timestamp) -> Vec<Value> {
    let mut out = vec![obj["metadata"]["name"].clone()];
    for c in custom_columns(cr) {
        let path = c["jsonPath"].as_str().unwrap_or_default();
        let Some(v) = crate::crd::json_path(obj, path) else {
            out.push(Value::Null);
            continue;
        };
        out.push(match (c["type"].as_str().unwrap_or_default(), v) {
            ("date", Value::String(s)) => json!(age(Some(s), now)),
            ("string", Value::String(s)) => json!(s),
            ("string", other) => json!(other.to_string()),
            (_, other) => other.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NOW: &str = "2026-11-24T18:00:00Z";

    fn now() -> Timestamp {
        NOW.parse().unwrap()
    }

    /// RFC 3339 for `secs` seconds before NOW.
    fn ago(secs: i64) -> String {
        let t = now()
            .checked_sub(jiff::SignedDuration::from_secs(secs))
            .unwrap();
        rfc3339_utc(Some(t))
    }

    fn strs(cells: &[Value]) -> Vec<String> {
        cells
            .iter()
            .map(|c| match c {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    const MIN: u64 = 60;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    const YEAR: u64 = 365 * DAY;

    #[test]
    fn human_duration_boundaries() {
        let cases: &[(&str, u64, &str)] = &[
            ("zero", 0, "0s"),
            ("one second", 1, "1s"),
            ("just under two minutes", 119, "119s"),
            ("two minutes", 2 * MIN, "2m"),
            ("two minutes one second", 2 * MIN + 1, "2m1s"),
            ("three minutes twenty", 200, "3m20s"),
            ("just under ten minutes", 10 * MIN - 1, "9m59s"),
            ("ten minutes drops seconds", 10 * MIN + 30, "10m"),
            ("just under three hours", 3 * HOUR - 1, "179m"),
            ("three hours", 3 * HOUR, "3h"),
            ("three hours one minute", 3 * HOUR + MIN, "3h1m"),
            ("just under eight hours", 8 * HOUR - 1, "7h59m"),
            ("eight hours drops minutes", 8 * HOUR + 59 * MIN, "8h"),
            ("just under two days", 48 * HOUR - 1, "47h"),
            ("two days", 2 * DAY, "2d"),
            ("two days three hours", 2 * DAY + 3 * HOUR, "2d3h"),
            ("just under eight days", 8 * DAY - 1, "7d23h"),
            ("eight days drops hours", 8 * DAY + 5 * HOUR, "8d"),
            ("245 days", 245 * DAY, "245d"),
            ("just under two years", 2 * YEAR - 1, "729d"),
            ("two years", 2 * YEAR, "2y"),
            ("three years twelve days", 3 * YEAR + 12 * DAY, "3y12d"),
            ("just under eight years", 8 * YEAR - 1, "7y364d"),
            ("eight years drops days", 8 * YEAR + 100 * DAY, "8y"),
            ("a century", 100 * YEAR, "100y"),
        ];
        for (name, secs, want) in cases {
            assert_eq!(human_duration(Duration::from_secs(*secs)), *want, "{name}");
        }
        assert_eq!(
            human_duration(Duration::from_millis(1999)),
            "1s",
            "truncates"
        );
        assert_eq!(
            human_duration(Duration::MAX).chars().last(),
            Some('y'),
            "huge"
        );
    }

    #[test]
    fn human_duration_negative_skew() {
        let cases: &[(&str, i128, &str)] = &[
            ("half a second ahead", -500_000_000, "0s"),
            ("1.9s ahead is tolerated", -1_900_000_000, "0s"),
            ("two seconds ahead is invalid", -2_000_000_000, "<invalid>"),
            ("an hour ahead", -3_600 * NANOS_PER_SECOND, "<invalid>"),
        ];
        for (name, nanos, want) in cases {
            assert_eq!(human_nanos(*nanos), *want, "{name}");
        }
    }

    #[test]
    fn age_cases() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("missing", None, "<unknown>"),
            ("empty", Some(""), "<unknown>"),
            ("garbage", Some("yesterday"), "<unknown>"),
            ("go zero time", Some("0001-01-01T00:00:00Z"), "<unknown>"),
            ("now", Some(NOW), "0s"),
            ("five minutes", Some("2026-11-24T17:55:00Z"), "5m"),
            ("offset form", Some("2026-11-24T18:55:00+01:00"), "5m"),
            ("fractional", Some("2026-11-24T17:59:58.5Z"), "1s"),
            ("one second ahead", Some("2026-11-24T18:00:01Z"), "0s"),
            (
                "ten seconds ahead",
                Some("2026-11-24T18:00:10Z"),
                "<invalid>",
            ),
            ("two days three hours", Some("2026-11-22T15:00:00Z"), "2d3h"),
        ];
        for (name, ts, want) in cases {
            assert_eq!(age(*ts, now()), *want, "{name}");
        }
    }

    fn pod_cells_of(pod: Value) -> Vec<String> {
        strs(&cells("", "pods", &pod, now()))
    }

    fn running(ready: bool) -> Value {
        json!({"ready": ready, "restartCount": 0, "state": {"running": {"startedAt": ago(600)}}})
    }

    fn waiting(reason: &str) -> Value {
        json!({"ready": false, "restartCount": 0, "state": {"waiting": {"reason": reason}}})
    }

    fn terminated(reason: &str, exit_code: i64) -> Value {
        json!({"ready": false, "restartCount": 0,
               "state": {"terminated": {"reason": reason, "exitCode": exit_code, "finishedAt": ago(60)}}})
    }

    fn with_name(mut status: Value, name: &str) -> Value {
        status["name"] = json!(name);
        status
    }

    fn pod(
        containers: &[&str],
        init: &[(&str, Option<&str>)],
        phase: &str,
        statuses: Vec<Value>,
        init_statuses: Vec<Value>,
    ) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "creationTimestamp": ago(3600)},
            "spec": {
                "containers": containers.iter().map(|n| json!({"name": n, "image": "busybox"})).collect::<Vec<_>>(),
                "initContainers": init.iter().map(|(n, policy)| match policy {
                    Some(p) => json!({"name": n, "image": "busybox", "restartPolicy": p}),
                    None => json!({"name": n, "image": "busybox"}),
                }).collect::<Vec<_>>(),
            },
            "status": {"phase": phase, "containerStatuses": statuses, "initContainerStatuses": init_statuses},
        })
    }

    #[test]
    fn pod_status_reasons() {
        let mut crash = waiting("CrashLoopBackOff");
        crash["restartCount"] = json!(5);
        crash["lastState"] =
            json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(180)}});

        let mut deleting = pod(&["c"], &[], "Running", vec![running(true)], vec![]);
        deleting["metadata"]["deletionTimestamp"] = json!(ago(5));
        let mut deleting_done = pod(
            &["c"],
            &[],
            "Succeeded",
            vec![terminated("Completed", 0)],
            vec![],
        );
        deleting_done["metadata"]["deletionTimestamp"] = json!(ago(5));
        let mut node_lost = pod(&["c"], &[], "Running", vec![running(true)], vec![]);
        node_lost["status"]["reason"] = json!("NodeLost");
        let mut node_lost_deleting = node_lost.clone();
        node_lost_deleting["metadata"]["deletionTimestamp"] = json!(ago(5));
        let mut evicted = pod(&["c"], &[], "Failed", vec![], vec![]);
        evicted["status"]["reason"] = json!("Evicted");
        let mut gated = pod(&["c"], &[], "Pending", vec![], vec![]);
        gated["status"]["conditions"] =
            json!([{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]);

        let two_init = [("init-a", None), ("init-b", None)];
        let initialized = |mut p: Value| {
            p["status"]["conditions"] = json!([{"type": "Initialized", "status": "True"}]);
            p
        };
        let mut partly_done = pod(
            &["c", "d"],
            &[],
            "Running",
            vec![terminated("Completed", 0), running(true)],
            vec![],
        );
        let mut partly_done_ready = partly_done.clone();
        partly_done_ready["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
        partly_done["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);

        let cases: Vec<(&str, Value, [&str; 3])> = vec![
            (
                "Pending",
                pod(&["c"], &[], "Pending", vec![], vec![]),
                ["0/1", "Pending", "0"],
            ),
            (
                "ContainerCreating",
                pod(
                    &["c"],
                    &[],
                    "Pending",
                    vec![waiting("ContainerCreating")],
                    vec![],
                ),
                ["0/1", "ContainerCreating", "0"],
            ),
            (
                "Running",
                pod(&["c"], &[], "Running", vec![running(true)], vec![]),
                ["1/1", "Running", "0"],
            ),
            (
                "Running but not ready",
                pod(&["c"], &[], "Running", vec![running(false)], vec![]),
                ["0/1", "Running", "0"],
            ),
            (
                "CrashLoopBackOff",
                pod(&["c"], &[], "Running", vec![crash], vec![]),
                ["0/1", "CrashLoopBackOff", "5 (3m ago)"],
            ),
            (
                "ImagePullBackOff",
                pod(
                    &["c"],
                    &[],
                    "Pending",
                    vec![waiting("ImagePullBackOff")],
                    vec![],
                ),
                ["0/1", "ImagePullBackOff", "0"],
            ),
            (
                "ErrImagePull",
                pod(
                    &["c"],
                    &[],
                    "Pending",
                    vec![waiting("ErrImagePull")],
                    vec![],
                ),
                ["0/1", "ErrImagePull", "0"],
            ),
            (
                "OOMKilled",
                pod(
                    &["c"],
                    &[],
                    "Running",
                    vec![terminated("OOMKilled", 137)],
                    vec![],
                ),
                ["0/1", "OOMKilled", "0"],
            ),
            (
                "Completed",
                pod(
                    &["c"],
                    &[],
                    "Succeeded",
                    vec![terminated("Completed", 0)],
                    vec![],
                ),
                ["0/1", "Completed", "0"],
            ),
            (
                "Error",
                pod(&["c"], &[], "Failed", vec![terminated("Error", 1)], vec![]),
                ["0/1", "Error", "0"],
            ),
            (
                "ExitCode without reason",
                pod(&["c"], &[], "Failed", vec![terminated("", 2)], vec![]),
                ["0/1", "ExitCode:2", "0"],
            ),
            (
                "Signal without reason",
                pod(
                    &["c"],
                    &[],
                    "Failed",
                    vec![json!({"state": {"terminated": {"exitCode": 137, "signal": 9}}})],
                    vec![],
                ),
                ["0/1", "Signal:9", "0"],
            ),
            ("Terminating", deleting, ["1/1", "Terminating", "0"]),
            (
                "deleted after completion stays Completed",
                deleting_done,
                ["0/1", "Completed", "0"],
            ),
            ("NodeLost", node_lost, ["1/1", "NodeLost", "0"]),
            (
                "NodeLost while deleting is Unknown",
                node_lost_deleting,
                ["1/1", "Unknown", "0"],
            ),
            ("Evicted", evicted, ["0/1", "Evicted", "0"]),
            ("SchedulingGated", gated, ["0/1", "SchedulingGated", "0"]),
            (
                "Init:0/2",
                pod(
                    &["c"],
                    &two_init,
                    "Pending",
                    vec![waiting("PodInitializing")],
                    vec![
                        with_name(running(false), "init-a"),
                        with_name(waiting(""), "init-b"),
                    ],
                ),
                ["0/1", "Init:0/2", "0"],
            ),
            (
                "Init:1/2",
                pod(
                    &["c"],
                    &two_init,
                    "Pending",
                    vec![waiting("PodInitializing")],
                    vec![
                        with_name(terminated("Completed", 0), "init-a"),
                        with_name(running(false), "init-b"),
                    ],
                ),
                ["0/1", "Init:1/2", "0"],
            ),
            (
                "Init:Error",
                pod(
                    &["c"],
                    &two_init,
                    "Pending",
                    vec![waiting("PodInitializing")],
                    vec![
                        with_name(terminated("Error", 1), "init-a"),
                        with_name(waiting("PodInitializing"), "init-b"),
                    ],
                ),
                ["0/1", "Init:Error", "0"],
            ),
            (
                "Init:ExitCode",
                pod(
                    &["c"],
                    &two_init,
                    "Pending",
                    vec![],
                    vec![with_name(terminated("", 3), "init-a")],
                ),
                ["0/1", "Init:ExitCode:3", "0"],
            ),
            (
                "Init:CrashLoopBackOff",
                pod(
                    &["c"],
                    &two_init,
                    "Pending",
                    vec![],
                    vec![with_name(waiting("CrashLoopBackOff"), "init-a")],
                ),
                ["0/1", "Init:CrashLoopBackOff", "0"],
            ),
            (
                "PodInitializing",
                initialized(pod(
                    &["c"],
                    &two_init,
                    "Pending",
                    vec![waiting("PodInitializing")],
                    vec![
                        with_name(terminated("Completed", 0), "init-a"),
                        with_name(terminated("Completed", 0), "init-b"),
                    ],
                )),
                ["0/1", "PodInitializing", "0"],
            ),
            (
                "Completed container with a running one, pod Ready",
                partly_done_ready,
                ["1/2", "Running", "0"],
            ),
            (
                "Completed container with a running one, pod not Ready",
                partly_done,
                ["1/2", "NotReady", "0"],
            ),
        ];
        for (name, p, want) in cases {
            let got = pod_cells_of(p);
            assert_eq!(&got[1..4], &want, "{name}");
        }
    }

    #[test]
    fn pod_sidecars_and_restarts() {
        let sidecar_spec = [("proxy", Some("Always"))];
        let mut sidecar = with_name(running(true), "proxy");
        sidecar["started"] = json!(true);
        sidecar["restartCount"] = json!(2);
        sidecar["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": ago(3600)}});
        let mut app = running(true);
        app["restartCount"] = json!(1);
        app["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": ago(600)}});
        let mut running_pod = pod(
            &["app"],
            &sidecar_spec,
            "Running",
            vec![app],
            vec![sidecar.clone()],
        );
        running_pod["status"]["conditions"] = json!([{"type": "Initialized", "status": "True"}]);

        let mut unstarted = with_name(running(false), "proxy");
        unstarted["started"] = json!(false);
        let starting = pod(
            &["app"],
            &sidecar_spec,
            "Pending",
            vec![waiting("PodInitializing")],
            vec![unstarted],
        );

        let mut started_not_ready = sidecar.clone();
        started_not_ready["ready"] = json!(false);
        let mut not_ready = pod(
            &["app"],
            &[("proxy", Some("Always")), ("migrate", None)],
            "Pending",
            vec![],
            vec![started_not_ready, with_name(running(false), "migrate")],
        );
        not_ready["status"]["conditions"] = json!([{"type": "Initialized", "status": "False"}]);

        let cases: Vec<(&str, Value, [&str; 3])> = vec![
            (
                "sidecar counts in ready and restarts",
                running_pod,
                ["2/2", "Running", "3 (10m ago)"],
            ),
            (
                "sidecar not started yet",
                starting,
                ["0/2", "Init:0/1", "0"],
            ),
            (
                "sidecar started, next init running",
                not_ready,
                ["0/2", "Init:1/2", "2 (60m ago)"],
            ),
        ];
        for (name, p, want) in cases {
            let got = pod_cells_of(p);
            assert_eq!(&got[1..4], &want, "{name}");
        }
    }

    #[test]
    fn pod_full_row() {
        let p = json!({
            "metadata": {"name": "web-0", "creationTimestamp": ago(4 * 3600)},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c"}],
                     "readinessGates": [{"conditionType": "example.com/gate"}, {"conditionType": "other"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}],
                       "conditions": [{"type": "example.com/gate", "status": "True"}, {"type": "other", "status": "False"}],
                       "containerStatuses": [running(true)]},
        });
        let got = cells("", "pods", &p, now());
        assert_eq!(
            got,
            vec![
                json!("web-0"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("4h"),
                json!("10.0.0.5"),
                json!("node-1"),
                json!("<none>"),
                json!("1/2")
            ]
        );
        let bare = cells("", "pods", &json!({"metadata": {"name": "x"}}), now());
        assert_eq!(
            strs(&bare),
            [
                "x",
                "0/0",
                "",
                "0",
                "<unknown>",
                "<none>",
                "<none>",
                "<none>",
                "<none>"
            ]
        );
        let ips_only = json!({"status": {"podIPs": [{"ip": "fd00::7"}]}});
        assert_eq!(cells("", "pods", &ips_only, now())[5], json!("fd00::7"));
    }

    #[test]
    fn pod_row_conditions() {
        let done = json!({"status": {"phase": "Succeeded"}});
        let want = json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                           "message": "The pod has completed successfully."}]);
        assert_eq!(row_conditions("", "pods", &done), Some(want));
        assert_eq!(
            row_conditions("", "pods", &json!({"status": {"phase": "Running"}})),
            None
        );
        assert_eq!(row_conditions("apps", "deployments", &done), None);
    }

    #[test]
    fn deployment_cells() {
        let d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "creationTimestamp": ago(300)},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web", "tier": "fe"},
                             "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                                                  {"key": "canary", "operator": "DoesNotExist"}]},
                "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"},
                                                     {"name": "sidecar", "image": "envoy:1"}]}},
            },
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
        });
        assert_eq!(
            cells("apps", "deployments", &d, now()),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("5m"),
                json!("nginx,sidecar"),
                json!("nginx:1.27,envoy:1"),
                json!("app=web,!canary,env in (dev,prod),tier=fe"),
            ]
        );
        let cases: Vec<(&str, Value, [&str; 3])> = vec![
            (
                "defaults",
                json!({"metadata": {"name": "d"}}),
                ["0/1", "0", ""],
            ),
            (
                "zero replicas",
                json!({"spec": {"replicas": 0}}),
                ["0/0", "0", ""],
            ),
            (
                "empty selector",
                json!({"spec": {"selector": {}}}),
                ["0/1", "0", ""],
            ),
            (
                "bad operator",
                json!({"spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Bogus"}]}}}),
                ["0/1", "0", "<invalid>"],
            ),
            (
                "bad key",
                json!({"spec": {"selector": {"matchLabels": {"-a": "b"}}}}),
                ["0/1", "0", "<invalid>"],
            ),
        ];
        for (name, d, want) in cases {
            let got = strs(&cells("apps", "deployments", &d, now()));
            assert_eq!([&*got[1], &*got[2], &*got[7]], want, "{name}");
        }
        let names: Vec<_> = columns("apps", "deployments")
            .iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Ready",
                "Up-to-date",
                "Available",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
    }

    #[test]
    fn service_cells_by_type() {
        let svc = |spec: Value, status: Value| json!({"metadata": {"name": "s", "creationTimestamp": ago(59)}, "spec": spec, "status": status});
        let cases: Vec<(&str, Value, [&str; 7])> = vec![
            (
                "ClusterIP",
                svc(
                    json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                           "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                           "selector": {"k8s-app": "kube-dns"}}),
                    json!({}),
                ),
                [
                    "s",
                    "ClusterIP",
                    "10.96.0.10",
                    "<none>",
                    "53/UDP,53/TCP",
                    "59s",
                    "k8s-app=kube-dns",
                ],
            ),
            (
                "NodePort with external IPs",
                svc(
                    json!({"type": "NodePort", "clusterIPs": ["10.96.1.1"], "externalIPs": ["1.2.3.4", "5.6.7.8"],
                           "ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "nodePort": 30443, "protocol": "TCP"}]}),
                    json!({}),
                ),
                [
                    "s",
                    "NodePort",
                    "10.96.1.1",
                    "1.2.3.4,5.6.7.8",
                    "80/TCP,443:30443/TCP",
                    "59s",
                    "<none>",
                ],
            ),
            (
                "LoadBalancer pending",
                svc(
                    json!({"type": "LoadBalancer", "clusterIPs": ["10.96.2.2"],
                           "ports": [{"port": 80, "nodePort": 31000, "protocol": "TCP"}]}),
                    json!({}),
                ),
                [
                    "s",
                    "LoadBalancer",
                    "10.96.2.2",
                    "<pending>",
                    "80:31000/TCP",
                    "59s",
                    "<none>",
                ],
            ),
            (
                "LoadBalancer with ingress",
                svc(
                    json!({"type": "LoadBalancer", "clusterIPs": ["10.96.2.2"], "externalIPs": ["9.9.9.9"]}),
                    json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}, {"ip": "203.0.113.9"}]}}),
                ),
                [
                    "s",
                    "LoadBalancer",
                    "10.96.2.2",
                    "203.0.113.9,lb.example.com,9.9.9.9",
                    "<none>",
                    "59s",
                    "<none>",
                ],
            ),
            (
                "ExternalName",
                svc(
                    json!({"type": "ExternalName", "externalName": "db.example.com"}),
                    json!({}),
                ),
                [
                    "s",
                    "ExternalName",
                    "<none>",
                    "db.example.com",
                    "<none>",
                    "59s",
                    "<none>",
                ],
            ),
            (
                "headless, defaults",
                svc(
                    json!({"clusterIP": "None", "ports": [{"port": 5432}]}),
                    json!({}),
                ),
                [
                    "s",
                    "ClusterIP",
                    "None",
                    "<none>",
                    "5432/TCP",
                    "59s",
                    "<none>",
                ],
            ),
        ];
        for (name, obj, want) in cases {
            assert_eq!(strs(&cells("", "services", &obj, now())), want, "{name}");
        }
    }

    #[test]
    fn node_cells_cases() {
        let node = |labels: Value, unschedulable: bool, conditions: Value| {
            json!({
                "metadata": {"name": "n1", "creationTimestamp": ago(3 * 86400), "labels": labels},
                "spec": {"unschedulable": unschedulable},
                "status": {
                    "conditions": conditions,
                    "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "172.18.0.2"}],
                    "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                 "kernelVersion": "6.8.0", "containerRuntimeVersion": "containerd://2.1.1"},
                },
            })
        };
        let ready = json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]);
        let cases: Vec<(&str, Value, [&str; 3])> = vec![
            (
                "control plane",
                node(
                    json!({"node-role.kubernetes.io/control-plane": "", "kubernetes.io/os": "linux"}),
                    false,
                    ready.clone(),
                ),
                ["Ready", "control-plane", "3d"],
            ),
            (
                "cordoned, several roles",
                node(
                    json!({"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "infra",
                            "node-role.kubernetes.io/": "x"}),
                    true,
                    ready.clone(),
                ),
                ["Ready,SchedulingDisabled", "infra,worker", "3d"],
            ),
            (
                "not ready",
                node(
                    json!({}),
                    false,
                    json!([{"type": "Ready", "status": "Unknown"}]),
                ),
                ["NotReady", "<none>", "3d"],
            ),
            (
                "no conditions",
                node(json!(null), true, json!(null)),
                ["Unknown,SchedulingDisabled", "<none>", "3d"],
            ),
        ];
        for (name, obj, want) in cases {
            let got = strs(&cells("", "nodes", &obj, now()));
            assert_eq!([&*got[1], &*got[2], &*got[3]], want, "{name}");
            assert_eq!(
                &got[4..],
                [
                    "v1.33.1",
                    "172.18.0.2",
                    "<none>",
                    "Debian GNU/Linux 12 (bookworm)",
                    "6.8.0",
                    "containerd://2.1.1"
                ],
                "{name}"
            );
        }
        let bare = strs(&cells("", "nodes", &json!({}), now()));
        assert_eq!(&bare[7..], ["<unknown>", "<unknown>", "<unknown>"]);
    }

    #[test]
    fn job_cells_cases() {
        let job = |spec: Value, status: Value| json!({"metadata": {"name": "j"}, "spec": spec, "status": status});
        let cond = |t: &str, s: &str| json!({"type": t, "status": s});
        let mut terminating = job(json!({"completions": 1}), json!({"startTime": ago(30)}));
        terminating["metadata"]["deletionTimestamp"] = json!(ago(1));
        let cases: Vec<(&str, Value, [&str; 3])> = vec![
            (
                "complete",
                job(
                    json!({"completions": 1}),
                    json!({"succeeded": 1, "startTime": ago(100), "completionTime": ago(90),
                    "conditions": [cond("SuccessCriteriaMet", "True"), cond("Complete", "True")]}),
                ),
                ["Complete", "1/1", "10s"],
            ),
            (
                "failed",
                job(
                    json!({"completions": 3}),
                    json!({"failed": 6, "startTime": ago(400),
                    "conditions": [cond("FailureTarget", "True"), cond("Failed", "True")]}),
                ),
                ["Failed", "0/3", "6m40s"],
            ),
            (
                "running",
                job(
                    json!({"completions": 5}),
                    json!({"succeeded": 2, "startTime": ago(60)}),
                ),
                ["Running", "2/5", "60s"],
            ),
            (
                "suspended, not started",
                job(
                    json!({"parallelism": 4}),
                    json!({"conditions": [cond("Suspended", "True")]}),
                ),
                ["Suspended", "0/1 of 4", ""],
            ),
            (
                "failure target",
                job(
                    json!({}),
                    json!({"startTime": ago(5), "conditions": [cond("FailureTarget", "True")]}),
                ),
                ["FailureTarget", "0/1", "5s"],
            ),
            (
                "false condition",
                job(
                    json!({"completions": 1}),
                    json!({"conditions": [cond("Complete", "False")]}),
                ),
                ["Running", "0/1", ""],
            ),
            ("terminating", terminating, ["Terminating", "0/1", "30s"]),
        ];
        for (name, obj, want) in cases {
            let got = strs(&cells("batch", "jobs", &obj, now()));
            assert_eq!([&*got[1], &*got[2], &*got[3]], want, "{name}");
        }
    }

    #[test]
    fn event_cells_core_and_events_v1() {
        let core = json!({
            "metadata": {"name": "web.17a", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{nginx}"},
            "reason": "Pulled", "type": "Normal", "message": "  Successfully pulled image\n",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": ago(600), "lastTimestamp": ago(60), "count": 4,
        });
        assert_eq!(
            strs(&cells("", "events", &core, now())),
            [
                "60s",
                "Normal",
                "Pulled",
                "pod/web-0",
                "spec.containers{nginx}",
                "kubelet, node-1",
                "Successfully pulled image",
                "10m",
                "4",
                "web.17a"
            ]
        );
        let v1 = json!({
            "metadata": {"name": "web.17b"},
            "regarding": {"kind": "Deployment", "name": "web"},
            "reason": "ScalingReplicaSet", "type": "Normal", "note": "Scaled up",
            "reportingController": "deployment-controller",
            "eventTime": "2026-11-24T17:58:59.500000Z",
        });
        assert_eq!(
            strs(&cells("events.k8s.io", "events", &v1, now())),
            [
                "60s",
                "Normal",
                "ScalingReplicaSet",
                "deployment/web",
                "",
                "deployment-controller",
                "Scaled up",
                "60s",
                "1",
                "web.17b"
            ]
        );
        let series = json!({"involvedObject": {"kind": "Node"}, "eventTime": ago(3600), "reportingInstance": "n1",
                            "series": {"count": 7, "lastObservedTime": ago(120)}});
        let got = strs(&cells("", "events", &series, now()));
        assert_eq!(
            [&*got[0], &*got[3], &*got[5], &*got[7], &*got[8]],
            ["2m", "node", ", n1", "60m", "7"]
        );
        assert_eq!(
            strs(&cells("", "events", &json!({}), now()))[0],
            "<unknown>"
        );
        let names: Vec<_> = columns("", "events")
            .iter()
            .map(|c| (c.name, c.priority))
            .collect();
        assert_eq!(names[0], ("Last Seen", 0));
        assert_eq!(names[9], ("Name", 1));
    }

    #[test]
    fn default_fallback() {
        let cols = columns("rbac.authorization.k8s.io", "roles");
        assert_eq!(cols.len(), 2);
        assert_eq!(
            (cols[0].name, cols[0].type_, cols[0].format),
            ("Name", "string", "name")
        );
        assert!(
            cols[0]
                .description
                .starts_with("Name must be unique within a namespace. ")
        );
        assert_eq!(
            (cols[1].name, cols[1].type_, cols[1].format),
            ("Created At", "date", "")
        );
        assert!(
            cols[1]
                .description
                .starts_with("CreationTimestamp is a timestamp")
        );
        let cases: Vec<(&str, &str, &str, Value, [&str; 2])> = vec![
            (
                "role",
                "rbac.authorization.k8s.io",
                "roles",
                json!({"metadata": {"name": "r", "creationTimestamp": "2026-01-02T03:04:05Z"}}),
                ["r", "2026-01-02T03:04:05Z"],
            ),
            (
                "crd, offset and fraction normalised",
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                json!({"metadata": {"name": "widgets.example.com", "creationTimestamp": "2026-01-02T05:04:05.25+02:00"}}),
                ["widgets.example.com", "2026-01-02T03:04:05Z"],
            ),
            (
                "missing timestamp",
                "",
                "limitranges",
                json!({"metadata": {"name": "l"}}),
                ["l", "0001-01-01T00:00:00Z"],
            ),
            (
                "unknown group",
                "example.com",
                "widgets",
                json!(null),
                ["", "0001-01-01T00:00:00Z"],
            ),
        ];
        for (name, group, resource, obj, want) in cases {
            assert_eq!(columns(group, resource), cols, "{name}");
            assert_eq!(strs(&cells(group, resource, &obj, now())), want, "{name}");
        }
    }

    #[test]
    fn column_serialization() {
        let v = serde_json::to_value(&columns("", "pods")[5]).unwrap();
        assert_eq!(v["name"], "IP");
        assert_eq!(v["type"], "string");
        assert_eq!(v["format"], "");
        assert_eq!(v["priority"], 1);
        assert!(
            v["description"]
                .as_str()
                .unwrap()
                .starts_with("podIP address")
        );
        assert_eq!(
            serde_json::to_value(&columns("", "pods")[0]).unwrap()["format"],
            "name"
        );
    }

    #[test]
    fn hpa_targets() {
        let hpa = |spec: Value, status: Value| {
            json!({"apiVersion": "autoscaling/v2", "metadata": {"name": "h"},
                   "spec": spec, "status": status})
        };
        let cases: Vec<(&str, Value, [&str; 4])> = vec![
            (
                "cpu utilization",
                hpa(
                    json!({"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 10,
                           "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}),
                    json!({"currentReplicas": 3, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 23, "averageValue": "115m"}}}]}),
                ),
                ["Deployment/web", "cpu: 23%/50%", "2", "10"],
            ),
            (
                "no metrics defaults to cpu 80%",
                hpa(
                    json!({"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 4}),
                    json!({}),
                ),
                ["Deployment/web", "cpu: <unknown>/80%", "1", "4"],
            ),
            (
                "three metrics",
                hpa(
                    json!({"maxReplicas": 5, "metrics": [
                        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
                        {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
                        {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}}}]}),
                    json!({"currentMetrics": [{"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "200Mi"}}}]}),
                ),
                [
                    "/",
                    "memory: 200Mi/500Mi, <unknown>/1k + 1 more...",
                    "1",
                    "5",
                ],
            ),
            (
                "v1 form",
                json!({"apiVersion": "autoscaling/v1", "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"},
                       "minReplicas": 1, "maxReplicas": 3, "targetCPUUtilizationPercentage": 60},
                       "status": {"currentCPUUtilizationPercentage": 12, "currentReplicas": 1}}),
                ["Deployment/api", "cpu: 12%/60%", "1", "3"],
            ),
        ];
        for (name, obj, want) in cases {
            let got = strs(&cells(
                "autoscaling",
                "horizontalpodautoscalers",
                &obj,
                now(),
            ));
            assert_eq!([&*got[1], &*got[2], &*got[3], &*got[4]], want, "{name}");
        }
    }

    #[test]
    fn misc_printers() {
        let cases: Vec<(&str, &str, &str, Value, Vec<&str>)> = vec![
            (
                "configmap counts data and binaryData",
                "",
                "configmaps",
                json!({"metadata": {"name": "cm"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
                vec!["cm", "3", "<unknown>"],
            ),
            (
                "secret defaults to Opaque",
                "",
                "secrets",
                json!({"metadata": {"name": "s"}, "data": {"a": "YQ=="}}),
                vec!["s", "Opaque", "1", "<unknown>"],
            ),
            (
                "namespace defaults to Active",
                "",
                "namespaces",
                json!({"metadata": {"name": "ns"}}),
                vec!["ns", "Active", "<unknown>"],
            ),
            (
                "statefulset",
                "apps",
                "statefulsets",
                json!({"metadata": {"name": "db"}, "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "pg", "image": "postgres:17"}]}}},
                       "status": {"readyReplicas": 1}}),
                vec!["db", "1/3", "<unknown>", "pg", "postgres:17"],
            ),
            (
                "daemonset",
                "apps",
                "daemonsets",
                json!({"metadata": {"name": "ds"}, "spec": {"selector": {"matchLabels": {"app": "ds"}},
                       "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "a", "image": "i"}]}}},
                       "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}}),
                vec![
                    "ds",
                    "3",
                    "3",
                    "2",
                    "3",
                    "2",
                    "kubernetes.io/os=linux",
                    "<unknown>",
                    "a",
                    "i",
                    "app=ds",
                ],
            ),
            (
                "replicaset",
                "apps",
                "replicasets",
                json!({"metadata": {"name": "rs"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "x"}}}, "status": {"replicas": 2, "readyReplicas": 1}}),
                vec!["rs", "2", "2", "1", "<unknown>", "", "", "app=x"],
            ),
            (
                "replicationcontroller selector defaults to template labels",
                "",
                "replicationcontrollers",
                json!({"metadata": {"name": "rc"}, "spec": {"template": {"metadata": {"labels": {"b": "2", "a": "1"}}}}}),
                vec!["rc", "1", "0", "0", "<unknown>", "", "", "a=1,b=2"],
            ),
            (
                "cronjob",
                "batch",
                "cronjobs",
                json!({"metadata": {"name": "cj"}, "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}},
                       "status": {"active": [{"name": "cj-1"}], "lastScheduleTime": ago(120)}}),
                vec![
                    "cj",
                    "*/5 * * * *",
                    "<none>",
                    "False",
                    "1",
                    "2m",
                    "<unknown>",
                    "c",
                    "busybox",
                    "<none>",
                ],
            ),
            (
                "pdb",
                "policy",
                "poddisruptionbudgets",
                json!({"metadata": {"name": "pdb"}, "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}}),
                vec!["pdb", "50%", "N/A", "1", "<unknown>"],
            ),
            (
                "endpoints",
                "",
                "endpoints",
                json!({"metadata": {"name": "ep"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}, {"ip": "10.0.0.3"}],
                       "ports": [{"port": 80}, {"port": 443}]}]}),
                vec![
                    "ep",
                    "10.0.0.1:80,[fd00::1]:80,10.0.0.3:80 + 3 more...",
                    "<unknown>",
                ],
            ),
            (
                "endpointslice",
                "discovery.k8s.io",
                "endpointslices",
                json!({"metadata": {"name": "es"}, "addressType": "IPv4", "ports": [{"port": 80}, {"name": "http"}, {}],
                       "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]}),
                vec!["es", "IPv4", "80,http,*", "10.0.0.1,10.0.0.2", "<unknown>"],
            ),
            (
                "endpointslice without endpoints",
                "discovery.k8s.io",
                "endpointslices",
                json!({"metadata": {"name": "es"}, "addressType": "IPv6"}),
                vec!["es", "IPv6", "<unset>", "<unset>", "<unknown>"],
            ),
            (
                "ingress",
                "networking.k8s.io",
                "ingresses",
                json!({"metadata": {"name": "ing"}, "spec": {"ingressClassName": "nginx", "tls": [{}],
                       "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {}, {"host": "c.example.com"}, {"host": "d.example.com"}]},
                       "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}),
                vec![
                    "ing",
                    "nginx",
                    "a.example.com,b.example.com,c.example.com + 2 more...",
                    "192.0.2.10",
                    "80, 443",
                    "<unknown>",
                ],
            ),
            (
                "ingressclass",
                "networking.k8s.io",
                "ingressclasses",
                json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx",
                       "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}}),
                vec![
                    "nginx",
                    "k8s.io/ingress-nginx",
                    "IngressParameters.k8s.example.com/p",
                    "<unknown>",
                ],
            ),
            (
                "networkpolicy",
                "networking.k8s.io",
                "networkpolicies",
                json!({"metadata": {"name": "deny"}, "spec": {"podSelector": {}}}),
                vec!["deny", "<none>", "<unknown>"],
            ),
            (
                "pv",
                "",
                "persistentvolumes",
                json!({"metadata": {"name": "pv1", "annotations": {"volume.beta.kubernetes.io/storage-class": "slow"}},
                       "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
                                "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "fast",
                                "claimRef": {"namespace": "default", "name": "data"}},
                       "status": {"phase": "Bound"}}),
                vec![
                    "pv1",
                    "10Gi",
                    "RWO,RWX",
                    "Delete",
                    "Bound",
                    "default/data",
                    "slow",
                    "<unset>",
                    "",
                    "<unknown>",
                    "Filesystem",
                ],
            ),
            (
                "pvc pending",
                "",
                "persistentvolumeclaims",
                json!({"metadata": {"name": "data"}, "spec": {"storageClassName": "standard", "resources": {"requests": {"storage": "1Gi"}}}}),
                vec![
                    "data",
                    "Pending",
                    "",
                    "",
                    "",
                    "standard",
                    "<unset>",
                    "<unknown>",
                    "Filesystem",
                ],
            ),
            (
                "pvc bound",
                "",
                "persistentvolumeclaims",
                json!({"metadata": {"name": "data"}, "spec": {"volumeName": "pv1", "volumeMode": "Block"},
                       "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOncePod"]}}),
                vec![
                    "data",
                    "Bound",
                    "pv1",
                    "1Gi",
                    "RWOP",
                    "",
                    "<unset>",
                    "<unknown>",
                    "Block",
                ],
            ),
            (
                "storageclass default",
                "storage.k8s.io",
                "storageclasses",
                json!({"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                       "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}),
                vec![
                    "standard (default)",
                    "rancher.io/local-path",
                    "Delete",
                    "WaitForFirstConsumer",
                    "false",
                    "<unknown>",
                ],
            ),
            (
                "rolebinding",
                "rbac.authorization.k8s.io",
                "rolebindings",
                json!({"metadata": {"name": "rb"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
                       "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "namespace": "ci", "name": "bot"},
                                    {"kind": "Group", "name": "devs"}, {"kind": "User", "name": "bob"}]}),
                vec![
                    "rb",
                    "ClusterRole/view",
                    "<unknown>",
                    "alice, bob",
                    "devs",
                    "ci/bot",
                ],
            ),
            (
                "controllerrevision",
                "apps",
                "controllerrevisions",
                json!({"metadata": {"name": "web-5d4", "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Pod", "name": "other"},
                    {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]}, "revision": 2}),
                vec!["web-5d4", "statefulset.apps/web", "2", "<unknown>"],
            ),
            (
                "resourcequota",
                "",
                "resourcequotas",
                json!({"metadata": {"name": "q"}, "status": {"hard": {"pods": "10", "limits.cpu": "4", "requests.cpu": "2", "limits": "1"},
                       "used": {"pods": "3", "requests.cpu": "500m"}}}),
                vec![
                    "q",
                    "limits: 0/1, pods: 3/10, requests.cpu: 500m/2",
                    "limits.cpu: 0/4",
                    "<unknown>",
                ],
            ),
            (
                "priorityclass",
                "scheduling.k8s.io",
                "priorityclasses",
                json!({"metadata": {"name": "system-node-critical"}, "value": 2000001000}),
                vec![
                    "system-node-critical",
                    "2000001000",
                    "false",
                    "<unknown>",
                    "PreemptLowerPriority",
                ],
            ),
            (
                "csidriver defaults",
                "storage.k8s.io",
                "csidrivers",
                json!({"metadata": {"name": "csi.example.com"}, "spec": {"tokenRequests": [{"audience": "a"}, {"audience": "b"}]}}),
                vec![
                    "csi.example.com",
                    "true",
                    "false",
                    "false",
                    "a,b",
                    "false",
                    "Persistent",
                    "<unknown>",
                ],
            ),
            (
                "lease",
                "coordination.k8s.io",
                "leases",
                json!({"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "cp_1234"}}),
                vec!["kube-scheduler", "cp_1234", "<unknown>"],
            ),
            (
                "volumeattachment",
                "storage.k8s.io",
                "volumeattachments",
                json!({"metadata": {"name": "csi-1"}, "spec": {"attacher": "csi.example.com", "nodeName": "n1",
                       "source": {"persistentVolumeName": "pv1"}}, "status": {"attached": true}}),
                vec!["csi-1", "csi.example.com", "pv1", "n1", "true", "<unknown>"],
            ),
            (
                "csr",
                "certificates.k8s.io",
                "certificatesigningrequests",
                json!({"metadata": {"name": "csr-1"}, "spec": {"signerName": "kubernetes.io/kube-apiserver-client",
                       "username": "alice", "expirationSeconds": 86400},
                       "status": {"conditions": [{"type": "Approved"}], "certificate": "LS0t"}}),
                vec![
                    "csr-1",
                    "<unknown>",
                    "kubernetes.io/kube-apiserver-client",
                    "alice",
                    "24h",
                    "Approved,Issued",
                ],
            ),
            (
                "prioritylevelconfiguration",
                "flowcontrol.apiserver.k8s.io",
                "prioritylevelconfigurations",
                json!({"metadata": {"name": "workload-low"}, "spec": {"type": "Limited",
                       "limited": {"nominalConcurrencyShares": 100, "limitResponse": {"type": "Queue", "queuing": {"queues": 128}}}}}),
                vec![
                    "workload-low",
                    "Limited",
                    "100",
                    "128",
                    "8",
                    "50",
                    "<unknown>",
                ],
            ),
            (
                "exempt prioritylevelconfiguration",
                "flowcontrol.apiserver.k8s.io",
                "prioritylevelconfigurations",
                json!({"metadata": {"name": "exempt"}, "spec": {"type": "Exempt"}}),
                vec![
                    "exempt",
                    "Exempt",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<none>",
                    "<unknown>",
                ],
            ),
            (
                "flowschema",
                "flowcontrol.apiserver.k8s.io",
                "flowschemas",
                json!({"metadata": {"name": "exempt"}, "spec": {"priorityLevelConfiguration": {"name": "exempt"}, "matchingPrecedence": 1,
                       "distinguisherMethod": {"type": "ByUser"}}, "status": {"conditions": [{"type": "Dangling", "status": "False"}]}}),
                vec!["exempt", "exempt", "1", "ByUser", "<unknown>", "False"],
            ),
            (
                "validating admission policy binding with selector",
                "admissionregistration.k8s.io",
                "validatingadmissionpolicybindings",
                json!({"metadata": {"name": "b"}, "spec": {"policyName": "p", "paramRef": {"selector": {
                    "matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]}}}}),
                vec![
                    "b",
                    "p",
                    "&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:k,Operator:In,Values:[x y],},},}",
                    "<unknown>",
                ],
            ),
            (
                "ipaddress prints an extra age cell, as upstream",
                "networking.k8s.io",
                "ipaddresses",
                json!({"metadata": {"name": "10.96.0.1"}, "spec": {"parentRef": {"group": "", "resource": "services", "namespace": "default", "name": "kubernetes"}}}),
                vec!["10.96.0.1", "services/default/kubernetes", "<unknown>"],
            ),
            (
                "csistoragecapacity uses the default convertor",
                "storage.k8s.io",
                "csistoragecapacities",
                json!({"metadata": {"name": "cap", "creationTimestamp": "2026-11-24T17:00:00Z"}, "storageClassName": "sc", "capacity": "1Gi"}),
                vec!["cap", "2026-11-24T17:00:00Z"],
            ),
            (
                "apiservice local",
                "apiregistration.k8s.io",
                "apiservices",
                json!({"metadata": {"name": "v1.apps"}, "spec": {"group": "apps", "version": "v1"},
                       "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local"}]}}),
                vec!["v1.apps", "Local", "True", "<unknown>"],
            ),
            (
                "apiservice unavailable",
                "apiregistration.k8s.io",
                "apiservices",
                json!({"metadata": {"name": "v1beta1.metrics.k8s.io"}, "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
                       "status": {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}}),
                vec![
                    "v1beta1.metrics.k8s.io",
                    "kube-system/metrics-server",
                    "False (MissingEndpoints)",
                    "<unknown>",
                ],
            ),
            (
                "apiservice without conditions",
                "apiregistration.k8s.io",
                "apiservices",
                json!({"metadata": {"name": "v1.x"}}),
                vec!["v1.x", "Local", "Unknown", "<unknown>"],
            ),
            (
                "resourceclaim",
                "resource.k8s.io",
                "resourceclaims",
                json!({"metadata": {"name": "gpu"}, "status": {"allocation": {}, "reservedFor": [{"name": "p"}]}}),
                vec!["gpu", "allocated,reserved", "<unknown>"],
            ),
        ];
        for (name, group, resource, obj, want) in cases {
            assert_eq!(strs(&cells(group, resource, &obj, now())), want, "{name}");
        }
    }

    #[test]
    fn label_selector_strings() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("nil", json!(null), "<none>"),
            ("empty", json!({}), "<none>"),
            (
                "match labels sorted",
                json!({"matchLabels": {"b": "2", "a": "1"}}),
                "a=1,b=2",
            ),
            (
                "prefixed key",
                json!({"matchLabels": {"app.kubernetes.io/name": "x"}}),
                "app.kubernetes.io/name=x",
            ),
            ("empty value", json!({"matchLabels": {"a": ""}}), "a="),
            (
                "expressions",
                json!({"matchExpressions": [{"key": "z", "operator": "NotIn", "values": ["b", "a"]}, {"key": "y", "operator": "Exists"}]}),
                "y,z notin (a,b)",
            ),
            (
                "in without values",
                json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
                "<error>",
            ),
            (
                "exists with values",
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
                "<error>",
            ),
            (
                "bad value",
                json!({"matchLabels": {"a": "has space"}}),
                "<error>",
            ),
            (
                "bad prefix",
                json!({"matchLabels": {"Example.com/a": "x"}}),
                "<error>",
            ),
            (
                "two slashes",
                json!({"matchLabels": {"a/b/c": "x"}}),
                "<error>",
            ),
            (
                "long name",
                json!({"matchLabels": {"a".repeat(64): "x"}}),
                "<error>",
            ),
        ];
        for (name, sel, want) in cases {
            assert_eq!(format_label_selector(J::new(&sel)), want, "{name}");
        }
    }

    /// A container status: readiness, restart count and state, as upstream's test fixtures.
    fn cs(ready: bool, restarts: i64, state: Value) -> Value {
        json!({"ready": ready, "restartCount": restarts, "state": state})
    }

    /// `c` with a last termination `secs` seconds ago.
    fn last_ago(mut c: Value, secs: i64) -> Value {
        c["lastState"] = json!({"terminated": {"finishedAt": ago(secs)}});
        c
    }

    /// A pod shaped like upstream's printer test fixtures (containers without names).
    fn fixture(containers: usize, init: Value, status: Value) -> Value {
        json!({"metadata": {"name": "test"},
               "spec": {"containers": vec![json!({}); containers], "initContainers": init},
               "status": status})
    }

    /// Cases ported from upstream's `TestPrintPod` and
    /// `TestPrintPodWithRestartableInitContainer` (pkg/printers/internalversion).
    #[test]
    fn upstream_print_pod_cases() {
        let run = json!({"running": {}});
        let wait = json!({"waiting": {}});
        let always = |name: &str| json!({"name": name, "restartPolicy": "Always"});
        let named = |mut c: Value, name: &str| {
            c["name"] = json!(name);
            c
        };
        let started = |mut c: Value, started: bool| {
            c["started"] = json!(started);
            c
        };
        let two_plain_init = json!([{}, {}]);
        let two_sidecars = json!([always("restartable-init-1"), always("restartable-init-2")]);
        let cases: Vec<(&str, Value, [&str; 3])> = vec![
            (
                "test1 ready and restarts",
                fixture(
                    2,
                    json!([]),
                    json!({"phase": "podPhase",
                    "containerStatuses": [cs(true, 3, run.clone()), cs(false, 3, json!({}))]}),
                ),
                ["1/2", "podPhase", "6"],
            ),
            (
                "test2 container error overwrites pod phase",
                fixture(
                    2,
                    json!([]),
                    json!({"phase": "podPhase",
                    "containerStatuses": [cs(true, 3, run.clone()),
                                          cs(false, 3, json!({"waiting": {"reason": "ContainerWaitingReason"}}))]}),
                ),
                ["1/2", "ContainerWaitingReason", "6"],
            ),
            (
                "test3 the first container overwrites the rest",
                fixture(
                    2,
                    json!([]),
                    json!({"phase": "podPhase",
                    "containerStatuses": [cs(false, 3, json!({"waiting": {"reason": "ContainerWaitingReason"}})),
                                          cs(false, 3, json!({"terminated": {"reason": "ContainerTerminatedReason"}}))]}),
                ),
                ["0/2", "ContainerWaitingReason", "6"],
            ),
            (
                "test4 ready is not enough for running",
                fixture(
                    2,
                    json!([]),
                    json!({"phase": "podPhase",
                    "containerStatuses": [cs(true, 3, run.clone()), cs(true, 3, json!({}))]}),
                ),
                ["1/2", "podPhase", "6"],
            ),
            (
                "test5 pod reason",
                fixture(
                    2,
                    json!([]),
                    json!({"phase": "podPhase", "reason": "podReason",
                    "containerStatuses": [cs(true, 3, run.clone()), cs(true, 3, json!({}))]}),
                ),
                ["1/2", "podReason", "6"],
            ),
            (
                "test7 init container restarting",
                fixture(
                    1,
                    json!([{}]),
                    json!({"phase": "podPhase",
                    "initContainerStatuses": [last_ago(cs(false, 3, run.clone()), 10)],
                    "containerStatuses": [cs(false, 0, wait.clone())]}),
                ),
                ["0/1", "Init:0/1", "3 (10s ago)"],
            ),
            (
                "test8 two init containers, first restarting",
                fixture(
                    1,
                    two_plain_init.clone(),
                    json!({"phase": "podPhase",
                    "initContainerStatuses": [last_ago(cs(false, 3, run.clone()), 10), cs(false, 0, wait.clone())],
                    "containerStatuses": [cs(false, 0, wait.clone())]}),
                ),
                ["0/1", "Init:0/2", "3 (10s ago)"],
            ),
            (
                "test9 first init done, second restarting",
                fixture(
                    1,
                    two_plain_init.clone(),
                    json!({"phase": "podPhase",
                    "initContainerStatuses": [cs(false, 0, json!({"terminated": {}})), last_ago(cs(false, 3, run.clone()), 10)],
                    "containerStatuses": [cs(false, 0, wait.clone())]}),
                ),
                ["0/1", "Init:1/2", "3 (10s ago)"],
            ),
            (
                "test10 restarts of both init containers add up",
                fixture(
                    1,
                    two_plain_init.clone(),
                    json!({"phase": "podPhase",
                    "initContainerStatuses": [last_ago(cs(false, 2, json!({"terminated": {}})), 120),
                                              last_ago(cs(false, 3, run.clone()), 10)],
                    "containerStatuses": [cs(false, 0, wait.clone())]}),
                ),
                ["0/1", "Init:1/2", "5 (10s ago)"],
            ),
            (
                "test11 init restarts are not counted once initialized",
                fixture(
                    1,
                    json!([{}]),
                    json!({"phase": "Running",
                    "initContainerStatuses": [last_ago(cs(false, 2, json!({"terminated": {}})), 120)],
                    "containerStatuses": [last_ago(cs(false, 4, run.clone()), 20)]}),
                ),
                ["0/1", "Running", "4 (20s ago)"],
            ),
            (
                "test12 restarted five days ago",
                fixture(
                    1,
                    json!([]),
                    json!({"phase": "Running",
                    "containerStatuses": [last_ago(cs(true, 3, run.clone()), 5 * 86400)]}),
                ),
                ["1/1", "Running", "3 (5d ago)"],
            ),
            (
                "test14 the latest restart wins",
                fixture(
                    2,
                    json!([]),
                    json!({"phase": "Running",
                    "containerStatuses": [last_ago(cs(true, 6, run.clone()), 5 * 86400),
                                          last_ago(cs(true, 3, run.clone()), 20 * 86400)]}),
                ),
                ["2/2", "Running", "9 (5d ago)"],
            ),
            (
                "sidecars: first running but not started",
                fixture(
                    1,
                    two_sidecars.clone(),
                    json!({"phase": "Pending",
                    "initContainerStatuses": [
                        started(named(last_ago(cs(false, 3, run.clone()), 10), "restartable-init-1"), false),
                        started(named(cs(false, 0, wait.clone()), "restartable-init-2"), false)],
                    "containerStatuses": [cs(false, 0, wait.clone())],
                    "conditions": [{"type": "Initialized", "status": "False"}]}),
                ),
                ["0/3", "Init:0/2", "3 (10s ago)"],
            ),
            (
                "sidecars: first started, second running but not started",
                fixture(
                    1,
                    two_sidecars.clone(),
                    json!({"phase": "Pending",
                    "initContainerStatuses": [
                        started(named(last_ago(cs(false, 3, run.clone()), 10), "restartable-init-1"), true),
                        started(named(cs(false, 0, run.clone()), "restartable-init-2"), false)],
                    "containerStatuses": [cs(false, 0, wait.clone())],
                    "conditions": [{"type": "Initialized", "status": "False"}]}),
                ),
                ["0/3", "Init:1/2", "3 (10s ago)"],
            ),
            (
                "sidecars: both started, one container running",
                fixture(
                    1,
                    two_sidecars.clone(),
                    json!({"phase": "Running",
                    "initContainerStatuses": [
                        started(named(last_ago(cs(false, 3, run.clone()), 10), "restartable-init-1"), true),
                        started(named(cs(false, 0, run.clone()), "restartable-init-2"), true)],
                    "containerStatuses": [last_ago(cs(true, 4, run.clone()), 20)],
                    "conditions": [{"type": "Initialized", "status": "True"}]}),
                ),
                ["1/3", "Running", "7 (10s ago)"],
            ),
            (
                "sidecars: both failed, container completed",
                fixture(
                    1,
                    two_sidecars.clone(),
                    json!({"phase": "Succeeded",
                    "initContainerStatuses": [
                        started(named(last_ago(cs(false, 3, json!({"terminated": {"reason": "Error", "exitCode": 137}})), 10), "restartable-init-1"), false),
                        started(named(cs(false, 0, json!({"terminated": {"reason": "Error", "exitCode": 137}})), "restartable-init-2"), false)],
                    "containerStatuses": [last_ago(cs(false, 4, json!({"terminated": {"reason": "Completed", "exitCode": 0}})), 20)],
                    "conditions": [{"type": "Initialized", "status": "True"}]}),
                ),
                ["0/3", "Completed", "7 (10s ago)"],
            ),
            (
                "statuses for containers that do not exist",
                json!({"metadata": {"name": "test4"},
                       "spec": {"initContainers": [{"name": "init1"}, {"name": "sidecar1", "restartPolicy": "Always"}],
                                "containers": [{"name": "container1"}]},
                       "status": {"phase": "Running",
                                  "initContainerStatuses": [{"name": "initinvalid"}, {"name": "init1"}, {"name": "sidecar1"}],
                                  "containerStatuses": [{"name": "containerinvalid"}, {"name": "container1"}]}}),
                ["0/2", "Init:0/2", "0"],
            ),
        ];
        for (name, p, want) in cases {
            let got = pod_cells_of(p);
            assert_eq!(&got[1..4], &want, "{name}");
        }
    }

    /// Every (group, resource) with a printer, and a few without.
    const RESOURCES: &[(&str, &str)] = &[
        ("", "pods"),
        ("", "podtemplates"),
        ("", "replicationcontrollers"),
        ("", "services"),
        ("", "endpoints"),
        ("", "nodes"),
        ("", "events"),
        ("", "namespaces"),
        ("", "secrets"),
        ("", "serviceaccounts"),
        ("", "persistentvolumes"),
        ("", "persistentvolumeclaims"),
        ("", "componentstatuses"),
        ("", "configmaps"),
        ("", "resourcequotas"),
        ("", "limitranges"),
        ("apps", "replicasets"),
        ("apps", "daemonsets"),
        ("apps", "statefulsets"),
        ("apps", "deployments"),
        ("apps", "controllerrevisions"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
        ("policy", "poddisruptionbudgets"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "ingressclasses"),
        ("networking.k8s.io", "networkpolicies"),
        ("networking.k8s.io", "servicecidrs"),
        ("networking.k8s.io", "ipaddresses"),
        ("events.k8s.io", "events"),
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "clusterroles"),
        ("rbac.authorization.k8s.io", "rolebindings"),
        ("rbac.authorization.k8s.io", "clusterrolebindings"),
        ("certificates.k8s.io", "certificatesigningrequests"),
        ("certificates.k8s.io", "clustertrustbundles"),
        ("coordination.k8s.io", "leases"),
        ("coordination.k8s.io", "leasecandidates"),
        ("storage.k8s.io", "storageclasses"),
        ("storage.k8s.io", "volumeattachments"),
        ("storage.k8s.io", "csinodes"),
        ("storage.k8s.io", "csidrivers"),
        ("storage.k8s.io", "csistoragecapacities"),
        ("apiregistration.k8s.io", "apiservices"),
        ("scheduling.k8s.io", "priorityclasses"),
        ("node.k8s.io", "runtimeclasses"),
        ("discovery.k8s.io", "endpointslices"),
        (
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
        ),
        (
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
        ),
        (
            "admissionregistration.k8s.io",
            "validatingadmissionpolicies",
        ),
        (
            "admissionregistration.k8s.io",
            "validatingadmissionpolicybindings",
        ),
        ("admissionregistration.k8s.io", "mutatingadmissionpolicies"),
        (
            "admissionregistration.k8s.io",
            "mutatingadmissionpolicybindings",
        ),
        ("flowcontrol.apiserver.k8s.io", "flowschemas"),
        (
            "flowcontrol.apiserver.k8s.io",
            "prioritylevelconfigurations",
        ),
        ("resource.k8s.io", "deviceclasses"),
        ("resource.k8s.io", "resourceclaims"),
        ("resource.k8s.io", "resourceclaimtemplates"),
        ("resource.k8s.io", "resourceslices"),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("example.com", "widgets"),
    ];

    /// A plausible object touching most fields the printers read.
    fn rich_object() -> Value {
        let mut spec = json!({
            "replicas": 2, "completions": 1, "parallelism": 2, "suspend": true, "timeZone": "UTC", "schedule": "@daily",
            "selector": {"matchLabels": {"a": "b"}, "matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]},
            "podSelector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}], "nodeSelector": {"x": "y"}}},
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
            "containers": [{"name": "c", "image": "i"}],
            "initContainers": [{"name": "i", "restartPolicy": "Always"}, {"name": "j"}],
            "readinessGates": [{"conditionType": "g"}],
            "type": "LoadBalancer", "clusterIPs": ["10.0.0.1"], "externalIPs": ["1.1.1.1"],
            "ports": [{"port": 80, "nodePort": 30000, "protocol": "TCP"}],
            "rules": [{"host": "h"}], "tls": [{}], "ingressClassName": "c",
        });
        let spec2 = json!({
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "claimRef": {"namespace": "a", "name": "b"},
            "volumeName": "pv", "resources": {"requests": {"storage": "1Gi"}},
            "scaleTargetRef": {"kind": "Deployment", "name": "d"}, "minReplicas": 1, "maxReplicas": 3,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": 50}}},
                {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "c", "target": {"averageValue": "100m"}}},
                {"type": "Object", "object": {"target": {"averageValue": "1"}}},
                {"type": "External", "external": {"target": {"value": "1"}}},
                {"type": "Pods", "pods": {"target": {"averageValue": "1"}}},
                {"type": "Weird"}],
            "drivers": [{"name": "d"}], "tokenRequests": [{"audience": "a"}],
        });
        let spec3 = json!({
            "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"}, "validations": [{}], "mutations": [{}],
            "paramRef": {"name": "p", "namespace": "n"}, "policyName": "p",
            "priorityLevelConfiguration": {"name": "p"}, "distinguisherMethod": {"type": "ByUser"},
            "limited": {"limitResponse": {"type": "Queue"}},
            "cidrs": ["10.0.0.0/16"], "parentRef": {"group": "", "resource": "services", "name": "s"},
            "signerName": "s", "expirationSeconds": 600, "holderIdentity": "h", "leaseName": "l",
            "source": {"persistentVolumeName": "pv"}, "attacher": "a", "nodeName": "n",
            "pool": {"name": "p"}, "driver": "d", "unschedulable": true,
        });
        let mut status = json!({
            "phase": "Running", "podIP": "10.1.1.1", "nominatedNodeName": "n2",
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"},
                           {"type": "Complete", "status": "True"}, {"type": "Approved"}],
            "containerStatuses": [{"name": "c", "ready": true, "restartCount": 1, "state": {"running": {}},
                                   "lastState": {"terminated": {"finishedAt": ago(5)}}}],
            "initContainerStatuses": [{"name": "i", "started": true, "ready": true, "state": {"running": {}}},
                                      {"name": "j", "state": {"terminated": {"exitCode": 0}}}],
        });
        let status2 = json!({
            "replicas": 2, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1,
            "succeeded": 1, "startTime": ago(9), "completionTime": ago(2), "active": [{}], "lastScheduleTime": ago(3),
            "loadBalancer": {"ingress": [{"ip": "2.2.2.2"}]}, "addresses": [{"type": "InternalIP", "address": "1.2.3.4"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0"}, "currentReplicas": 2,
            "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 5}}}],
            "hard": {"pods": "1"}, "used": {"pods": "1"}, "allocation": {}, "reservedFor": [{}],
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "attached": true, "disruptionsAllowed": 1,
        });
        let mut o = json!({
            "apiVersion": "v1",
            "metadata": {"name": "n", "creationTimestamp": ago(10), "deletionTimestamp": ago(1),
                         "labels": {"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "x"},
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "d", "controller": true}]},
            "subsets": [{"addresses": [{"ip": "1.1.1.1"}], "ports": [{"port": 1}]}],
            "ports": [{"port": 1}], "endpoints": [{"addresses": ["1.1.1.1"]}], "addressType": "IPv4",
            "data": {"a": "b"}, "binaryData": {"c": "d"}, "secrets": [{}], "webhooks": [{}], "type": "Opaque",
        });
        let top2 = json!({
            "involvedObject": {"kind": "Pod", "name": "p"}, "regarding": {"kind": "Pod", "name": "p"},
            "series": {"count": 2, "lastObservedTime": ago(1)}, "eventTime": ago(4), "count": 3,
            "roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "u"}],
            "provisioner": "p", "value": 1, "globalDefault": true, "handler": "runc", "revision": 1,
            "storageClassName": "sc", "capacity": "1Gi",
        });
        let merge = |into: &mut Value, from: Value| {
            if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
                into.extend(from);
            }
        };
        merge(&mut spec, spec2);
        merge(&mut spec, spec3);
        merge(&mut status, status2);
        merge(&mut o, top2);
        o["spec"] = spec;
        o["status"] = status;
        o
    }

    /// Every leaf and every container of `v`, replaced in turn by each hostile value.
    fn mutations(v: &Value, hostile: &[Value]) -> Vec<Value> {
        fn walk(v: &Value, path: &mut Vec<PathSeg>, out: &mut Vec<Vec<PathSeg>>) {
            out.push(path.clone());
            match v {
                Value::Object(m) => {
                    for (k, child) in m {
                        path.push(PathSeg::Key(k.clone()));
                        walk(child, path, out);
                        path.pop();
                    }
                }
                Value::Array(a) => {
                    for (i, child) in a.iter().enumerate() {
                        path.push(PathSeg::Index(i));
                        walk(child, path, out);
                        path.pop();
                    }
                }
                _ => {}
            }
        }
        let mut paths = Vec::new();
        walk(v, &mut Vec::new(), &mut paths);
        let mut out = Vec::new();
        for path in paths.iter().skip(1) {
            for h in hostile {
                let mut copy = v.clone();
                let mut slot = &mut copy;
                for seg in path {
                    slot = match seg {
                        PathSeg::Key(k) => &mut slot[k.as_str()],
                        PathSeg::Index(i) => &mut slot[*i],
                    };
                }
                *slot = h.clone();
                out.push(copy);
            }
        }
        out
    }

    #[derive(Clone)]
    enum PathSeg {
        Key(String),
        Index(usize),
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let hostile = [
            json!(null),
            json!(-1),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(1.5),
            json!(true),
            json!(""),
            json!("zzz"),
            json!([]),
            json!([null, 1]),
            json!({}),
            json!({"a": [1]}),
        ];
        let mut objects: Vec<Value> = hostile.to_vec();
        objects.push(json!({"metadata": 5, "spec": "x", "status": [1]}));
        objects.push(json!({"metadata": {"name": 5, "creationTimestamp": 7, "labels": [1]}}));
        let rich = rich_object();
        objects.push(rich.clone());
        objects.extend(mutations(&rich, &hostile));
        assert!(objects.len() > 1000);
        for (group, resource) in RESOURCES {
            let cols = columns(group, resource);
            for obj in &objects {
                let row = cells(group, resource, obj, now());
                let want = if *resource == "ipaddresses" {
                    cols.len() + 1
                } else {
                    cols.len()
                };
                assert_eq!(row.len(), want, "{group}/{resource}");
                let _ = row_conditions(group, resource, obj);
            }
        }
    }

    #[test]
    fn every_printer_has_named_first_column() {
        for (group, resource) in RESOURCES {
            let cols = columns(group, resource);
            let names: Vec<_> = cols.iter().filter(|c| c.name == "Name").collect();
            assert_eq!(names.len(), 1, "{group}/{resource}");
            assert!(
                cols.iter()
                    .all(|c| matches!(c.type_, "string" | "integer" | "boolean" | "date"))
            );
            assert!(cols.iter().all(|c| c.priority == 0 || c.priority == 1));
        }
    }
}
