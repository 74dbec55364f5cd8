//! Defaulting: the values kube-apiserver fills in when it decodes an object (the
//! `SetDefaults_*` functions of each API group), so objects read back exactly as they do from
//! EKS (`kubectl get -o yaml`) and controllers can rely on them.

use serde_json::{Map, Value, json};

/// Fills in upstream's defaults for an object of `group`/`resource` (plural), in place.
pub fn apply(group: &str, resource: &str, obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    match (group, resource) {
        ("", "pods") => {
            if let Some(spec) = obj_mut(root, "spec") {
                pod_spec(spec);
                set(spec, "enableServiceLinks", json!(true));
            }
        }
        ("", "podtemplates") => template(root),
        ("", "replicationcontrollers") => {
            if let Some(spec) = obj_mut(root, "spec") {
                set(spec, "replicas", json!(1));
                set(spec, "minReadySeconds", json!(0));
                template(spec);
            }
        }
        ("", "services") => {
            if let Some(spec) = obj_mut(root, "spec") {
                service_spec(spec);
            }
        }
        ("", "secrets") => {
            set(root, "type", json!("Opaque"));
        }
        ("", "persistentvolumeclaims") => {
            if let Some(spec) = obj_mut(root, "spec") {
                set(spec, "volumeMode", json!("Filesystem"));
            }
        }
        ("", "persistentvolumes") => {
            if let Some(spec) = obj_mut(root, "spec") {
                set(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
                set(spec, "volumeMode", json!("Filesystem"));
            }
        }
        ("apps", "deployments") => {
            if let Some(spec) = obj_mut(root, "spec") {
                set(spec, "replicas", json!(1));
                let strategy = obj_mut(spec, "strategy");
                if let Some(strategy) = strategy {
                    set(strategy, "type", json!("RollingUpdate"));
                    if strategy.get("type") == Some(&json!("RollingUpdate")) {
                        let ru = entry_obj(strategy, "rollingUpdate");
                        set(ru, "maxUnavailable", json!("25%"));
                        set(ru, "maxSurge", json!("25%"));
                    }
                }
                set(spec, "revisionHistoryLimit", json!(10));
                set(spec, "progressDeadlineSeconds", json!(600));
                template(spec);
            }
        }
        ("apps", "replicasets") => {
            if let Some(spec) = obj_mut(root, "spec") {
                set(spec, "replicas", json!(1));
                template(spec);
            }
        }
        ("apps", "statefulsets") => {
            if let Some(spec) = obj_mut(root, "spec") {
                set(spec, "replicas", json!(1));
                set(spec, "podManagementPolicy", json!("OrderedReady"));
                if let Some(us) = obj_mut(spec, "updateStrategy") {
                    set(us, "type", json!("RollingUpdate"));
                    if us.get("type") == Some(&json!("RollingUpdate")) {
                        set(entry_obj(us, "rollingUpdate"), "partition", json!(0));
                    }
                }
                set(spec, "revisionHistoryLimit", json!(10));
                let retention = entry_obj(spec, "persistentVolumeClaimRetentionPolicy");
                set(retention, "whenDeleted", json!("Retain"));
                set(retention, "whenScaled", json!("Retain"));
                template(spec);
            }
        }
        ("apps", "daemonsets") => {
            if let Some(spec) = obj_mut(root, "spec") {
                if let Some(us) = obj_mut(spec, "updateStrategy") {
                    set(us, "type", json!("RollingUpdate"));
                    if us.get("type") == Some(&json!("RollingUpdate")) {
                        let ru = entry_obj(us, "rollingUpdate");
                        set(ru, "maxUnavailable", json!(1));
                        set(ru, "maxSurge", json!(0));
                    }
                }
                set(spec, "revisionHistoryLimit", json!(10));
                template(spec);
            }
        }
        ("batch", "jobs") => {
            if let Some(spec) = obj_mut(root, "spec") {
                job_spec(spec);
            }
        }
        ("batch", "cronjobs") => {
            if let Some(spec) = obj_mut(root, "spec") {
                set(spec, "concurrencyPolicy", json!("Allow"));
                set(spec, "suspend", json!(false));
                set(spec, "successfulJobsHistoryLimit", json!(3));
                set(spec, "failedJobsHistoryLimit", json!(1));
                if let Some(jt) = obj_mut(spec, "jobTemplate") {
                    null_creation_timestamp(jt);
                    if let Some(job) = obj_mut(jt, "spec") {
                        job_spec(job);
                    }
                }
            }
        }
        _ => {}
    }
}

/// The object at `key` if it is an object (creating it when absent), else `None`.
fn obj_mut<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    let v = m.entry(key).or_insert_with(|| json!({}));
    if v.is_null() {
        *v = json!({});
    }
    v.as_object_mut()
}

/// Like [`obj_mut`] for places where a wrong type was already rejected by decoding.
fn entry_obj<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = m.entry(key).or_insert_with(|| json!({}));
    if !v.is_object() {
        *v = json!({});
    }
    match v.as_object_mut() {
        Some(o) => o,
        None => unreachable!("the value was just made an object"),
    }
}

/// Sets `key` when it is absent or null.
fn set(m: &mut Map<String, Value>, key: &str, value: Value) {
    match m.get(key) {
        None | Some(Value::Null) => {
            m.insert(key.to_string(), value);
        }
        Some(_) => {}
    }
}

fn template(spec: &mut Map<String, Value>) {
    if let Some(t) = obj_mut(spec, "template") {
        null_creation_timestamp(t);
        if let Some(ps) = obj_mut(t, "spec") {
            pod_spec(ps);
        }
    }
}

/// Embedded templates read back with `metadata.creationTimestamp: null`, as Go encodes an
/// unset (non-pointer) timestamp.
fn null_creation_timestamp(template: &mut Map<String, Value>) {
    entry_obj(template, "metadata")
        .entry("creationTimestamp")
        .or_insert(Value::Null);
}

fn job_spec(spec: &mut Map<String, Value>) {
    let indexed = spec.get("completionMode") == Some(&json!("Indexed"));
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        set(spec, "completions", json!(1));
    }
    set(spec, "parallelism", json!(1));
    set(spec, "backoffLimit", json!(6));
    set(spec, "completionMode", json!("NonIndexed"));
    set(spec, "suspend", json!(false));
    if spec.get("podFailurePolicy").is_none_or(Value::is_null) {
        set(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    }
    if indexed
        && spec
            .get("backoffLimitPerIndex")
            .is_some_and(|v| !v.is_null())
    {
        spec.remove("backoffLimit");
        set(spec, "backoffLimit", json!(i32::MAX));
    }
    template(spec);
}

fn pod_spec(spec: &mut Map<String, Value>) {
    set(spec, "dnsPolicy", json!("ClusterFirst"));
    set(spec, "restartPolicy", json!("Always"));
    set(spec, "terminationGracePeriodSeconds", json!(30));
    set(spec, "securityContext", json!({}));
    set(spec, "schedulerName", json!("default-scheduler"));
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                container(c);
            }
        }
    }
    if let Some(Value::Array(vols)) = spec.get_mut("volumes") {
        for v in vols.iter_mut().filter_map(Value::as_object_mut) {
            for source in ["configMap", "secret", "downwardAPI", "projected"] {
                if let Some(s) = v.get_mut(source).and_then(Value::as_object_mut) {
                    set(s, "defaultMode", json!(420));
                }
            }
            if let Some(hp) = v.get_mut("hostPath").and_then(Value::as_object_mut) {
                set(hp, "type", json!(""));
            }
        }
    }
}

/// The image's tag is `latest` or missing (digests count as pinned).
fn floating_tag(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) => tag == "latest",
        None => true,
    }
}

fn container(c: &mut Map<String, Value>) {
    set(c, "terminationMessagePath", json!("/dev/termination-log"));
    set(c, "terminationMessagePolicy", json!("File"));
    let pull = if c
        .get("image")
        .and_then(Value::as_str)
        .is_some_and(floating_tag)
    {
        "Always"
    } else {
        "IfNotPresent"
    };
    set(c, "imagePullPolicy", json!(pull));
    set(c, "resources", json!({}));
    if let Some(Value::Array(ports)) = c.get_mut("ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set(p, "protocol", json!("TCP"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).and_then(Value::as_object_mut) {
            set(p, "timeoutSeconds", json!(1));
            set(p, "periodSeconds", json!(10));
            set(p, "successThreshold", json!(1));
            set(p, "failureThreshold", json!(3));
            if let Some(h) = p.get_mut("httpGet").and_then(Value::as_object_mut) {
                set(h, "scheme", json!("HTTP"));
            }
        }
    }
}

fn service_spec(spec: &mut Map<String, Value>) {
    set(spec, "type", json!("ClusterIP"));
    set(spec, "sessionAffinity", json!("None"));
    let external_name = spec.get("type") == Some(&json!("ExternalName"));
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set(p, "protocol", json!("TCP"));
            if let Some(port) = p.get("port").cloned() {
                set(p, "targetPort", port);
            }
        }
    }
    if !external_name {
        set(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if matches!(
        spec.get("type").and_then(Value::as_str),
        Some("NodePort" | "LoadBalancer")
    ) {
        set(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if spec.get("type") == Some(&json!("LoadBalancer")) {
        set(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_defaults_match_what_kubectl_get_shows_on_a_real_cluster() {
        let mut d = json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": [
            {"name": "c", "image": "nginx", "ports": [{"containerPort": 80}], "readinessProbe": {"httpGet": {"port": 80}}}]}}}});
        apply("apps", "deployments", &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Always");
        assert_eq!(pod["dnsPolicy"], "ClusterFirst");
        assert_eq!(pod["schedulerName"], "default-scheduler");
        assert_eq!(pod["terminationGracePeriodSeconds"], 30);
        let c = &pod["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always", "an untagged image floats");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(c["readinessProbe"]["periodSeconds"], 10);
        assert_eq!(c["readinessProbe"]["httpGet"]["scheme"], "HTTP");
        assert!(
            pod.get("enableServiceLinks").is_none(),
            "only pods get enableServiceLinks"
        );
    }

    #[test]
    fn explicit_values_and_recreate_strategies_are_kept() {
        let mut d = json!({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}, "template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.27", "imagePullPolicy": "Never"}]}}}});
        apply("apps", "deployments", &mut d);
        assert_eq!(d["spec"]["replicas"], 0);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "Never"
        );
        let cases = [
            ("nginx:1.27", false),
            ("nginx", true),
            ("nginx:latest", true),
            ("registry:5000/app", true),
            ("registry:5000/app:v1", false),
            ("app@sha256:abc", false),
        ];
        for (image, floating) in cases {
            assert_eq!(floating_tag(image), floating, "{image}");
        }
    }

    #[test]
    fn services_jobs_and_secrets_get_their_defaults_and_hostile_shapes_do_not_panic() {
        let mut s = json!({"spec": {"ports": [{"port": 80}]}});
        apply("", "services", &mut s);
        assert_eq!(s["spec"]["type"], "ClusterIP");
        assert_eq!(
            s["spec"]["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        let mut j =
            json!({"spec": {"template": {"spec": {"containers": [], "restartPolicy": "Never"}}}});
        apply("batch", "jobs", &mut j);
        assert_eq!(
            (
                j["spec"]["completions"].clone(),
                j["spec"]["parallelism"].clone(),
                j["spec"]["backoffLimit"].clone()
            ),
            (json!(1), json!(1), json!(6))
        );
        assert_eq!(j["spec"]["template"]["spec"]["restartPolicy"], "Never");
        let mut sec = json!({"data": {}});
        apply("", "secrets", &mut sec);
        assert_eq!(sec["type"], "Opaque");
        for hostile in [
            json!(null),
            json!([]),
            json!({"spec": 5}),
            json!({"spec": {"template": []}}),
            json!({"spec": {"ports": "x"}}),
        ] {
            for (g, r) in [
                ("", "pods"),
                ("apps", "deployments"),
                ("", "services"),
                ("batch", "cronjobs"),
            ] {
                let mut h = hostile.clone();
                apply(g, r, &mut h);
            }
        }
    }
}
