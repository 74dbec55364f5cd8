//! The built-in mutating admission plugins kube-apiserver runs on creates, after defaulting
//! and before validation: `Priority` (a pod's `priorityClassName` resolved to
//! `spec.priority` and `spec.preemptionPolicy`) and `DefaultTolerationSeconds` (pods
//! tolerate `not-ready` and `unreachable` for five minutes unless they say otherwise).
//! The bootstrap PriorityClasses the scheduling API creates at start live here too.

use api::{ApiError, GroupResource, ResourceInfo};
use serde_json::{Value, json};

use crate::registry::{ListParams, Registry, WriteOptions};

/// The taint a node gets when its Ready condition is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint a node gets when its Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// `--default-not-ready-toleration-seconds` and `--default-unreachable-toleration-seconds`.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;
/// The priority of pods without a class when no class is the global default.
pub const DEFAULT_PRIORITY: i64 = 0;
/// The preemption policy a class (and so a pod) has unless it says otherwise.
pub const DEFAULT_PREEMPTION_POLICY: &str = "PreemptLowerPriority";

/// The PriorityClasses every cluster has (upstream's `SystemPriorityClasses`).
pub fn system_priority_classes() -> Vec<Value> {
    [
        (
            "system-node-critical",
            2_000_001_000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
        (
            "system-cluster-critical",
            2_000_000_000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
    ]
    .into_iter()
    .map(|(name, value, description)| {
        json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value, "globalDefault": false,
            "description": description, "preemptionPolicy": DEFAULT_PREEMPTION_POLICY})
    })
    .collect()
}

/// Creates the system PriorityClasses that are missing (the scheduling API's post-start hook).
pub async fn ensure_system_priority_classes(registry: &Registry) -> Result<(), ApiError> {
    let Some(info) = registry
        .resources()
        .find("scheduling.k8s.io", "v1", "priorityclasses")
    else {
        return Ok(());
    };
    for class in system_priority_classes() {
        match registry
            .create(&info, None, class, &WriteOptions::default())
            .await
        {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Runs the mutating admission plugins on an object about to be created.
pub async fn admit_create(
    registry: &Registry,
    info: &ResourceInfo,
    obj: &mut Value,
) -> Result<(), ApiError> {
    if (info.group, info.plural) == ("", "pods") {
        let classes = match registry
            .resources()
            .find("scheduling.k8s.io", "v1", "priorityclasses")
        {
            Some(pc) => registry.all_for_admission(&pc).await?,
            None => Vec::new(),
        };
        admit_pod_priority(obj, &classes)?;
        default_toleration_seconds(obj);
    }
    if (info.group, info.plural) == ("scheduling.k8s.io", "priorityclasses")
        && obj["globalDefault"] == true
    {
        let classes = registry
            .list(info, None, &ListParams::default())
            .await?
            .items;
        check_single_default(obj, &classes)?;
    }
    Ok(())
}

/// The `Priority` plugin on a PriorityClass create: only one class may be the global default.
pub fn check_single_default(class: &Value, classes: &[Value]) -> Result<(), ApiError> {
    let name = class["metadata"]["name"].as_str().unwrap_or_default();
    if let Some(other) = classes
        .iter()
        .filter(|c| c["globalDefault"] == true)
        .find(|c| c["metadata"]["name"].as_str() != Some(name))
    {
        return Err(ApiError::Forbidden {
            resource: GroupResource::new("scheduling.k8s.io", "priorityclasses"),
            name: name.to_string(),
            detail: format!(
                "PriorityClass {} is already marked as default. Only one default can exist",
                other["metadata"]["name"].as_str().unwrap_or_default()
            ),
        });
    }
    Ok(())
}

fn pod_forbidden(pod: &Value, detail: String) -> ApiError {
    ApiError::Forbidden {
        resource: GroupResource::new("", "pods"),
        name: pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        detail,
    }
}

/// The `Priority` plugin on a pod create: the named class (403 if missing) or the global
/// default (the lowest-valued one if several claim it) sets `spec.priority` and
/// `spec.preemptionPolicy`; values the pod states itself must agree.
pub fn admit_pod_priority(pod: &mut Value, classes: &[Value]) -> Result<(), ApiError> {
    let name = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let class = if name.is_empty() {
        classes
            .iter()
            .filter(|c| c["globalDefault"] == true)
            .min_by_key(|c| c["value"].as_i64().unwrap_or(0))
    } else {
        match classes
            .iter()
            .find(|c| c["metadata"]["name"] == name.as_str())
        {
            Some(c) => Some(c),
            None => {
                return Err(pod_forbidden(
                    pod,
                    format!("no PriorityClass with name {name} was found"),
                ));
            }
        }
    };
    let (class_name, priority, policy) = match class {
        Some(c) => (
            c["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            c["value"].as_i64().unwrap_or(0),
            c["preemptionPolicy"]
                .as_str()
                .unwrap_or(DEFAULT_PREEMPTION_POLICY)
                .to_string(),
        ),
        None => (
            String::new(),
            DEFAULT_PRIORITY,
            DEFAULT_PREEMPTION_POLICY.to_string(),
        ),
    };
    if let Some(given) = pod.pointer("/spec/priority").and_then(Value::as_i64)
        && given != priority
    {
        return Err(pod_forbidden(
            pod,
            format!(
                "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
            ),
        ));
    }
    if let Some(given) = pod
        .pointer("/spec/preemptionPolicy")
        .and_then(Value::as_str)
        && given != policy
    {
        return Err(pod_forbidden(
            pod,
            format!(
                "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"
            ),
        ));
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if !class_name.is_empty() {
        spec.insert("priorityClassName".into(), json!(class_name));
    }
    spec.insert("priority".into(), json!(priority));
    spec.insert("preemptionPolicy".into(), json!(policy));
    Ok(())
}

/// The `DefaultTolerationSeconds` plugin: unless a toleration already covers it (same key
/// or any key, NoExecute or any effect), a pod tolerates `not-ready` and `unreachable`
/// NoExecute taints for [`DEFAULT_TOLERATION_SECONDS`].
pub fn default_toleration_seconds(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if !tolerations.is_array() {
        *tolerations = json!([]);
    }
    let Some(list) = tolerations.as_array_mut() else {
        return;
    };
    let covers = |list: &[Value], key: &str| {
        list.iter().any(|t| {
            let k = t["key"].as_str().unwrap_or_default();
            let e = t["effect"].as_str().unwrap_or_default();
            (k == key || k.is_empty()) && (e == "NoExecute" || e.is_empty())
        })
    };
    for key in [TAINT_NOT_READY, TAINT_UNREACHABLE] {
        if !covers(list, key) {
            list.push(
                json!({"key": key, "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS}),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, value: i64, default: bool) -> Value {
        json!({"metadata": {"name": name}, "value": value, "globalDefault": default, "preemptionPolicy": "PreemptLowerPriority"})
    }

    #[test]
    fn pods_get_the_default_tolerations_unless_covered() {
        let keys = |pod: &Value| -> Vec<String> {
            pod["spec"]["tolerations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    format!(
                        "{}:{}:{}",
                        t["key"].as_str().unwrap_or("*"),
                        t["effect"].as_str().unwrap_or("*"),
                        t["tolerationSeconds"]
                    )
                })
                .collect()
        };
        let cases = [
            (
                "none given: both added",
                json!({"spec": {}}),
                vec![
                    "node.kubernetes.io/not-ready:NoExecute:300",
                    "node.kubernetes.io/unreachable:NoExecute:300",
                ],
            ),
            (
                "one given: the other added",
                json!({"spec": {"tolerations": [{"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]}}),
                vec![
                    "node.kubernetes.io/unreachable:NoExecute:5",
                    "node.kubernetes.io/not-ready:NoExecute:300",
                ],
            ),
            (
                "tolerate everything: nothing added",
                json!({"spec": {"tolerations": [{"operator": "Exists"}]}}),
                vec!["*:*:null"],
            ),
            (
                "a NoSchedule toleration does not cover",
                json!({"spec": {"tolerations": [{"key": TAINT_NOT_READY, "operator": "Exists", "effect": "NoSchedule"}]}}),
                vec![
                    "node.kubernetes.io/not-ready:NoSchedule:null",
                    "node.kubernetes.io/not-ready:NoExecute:300",
                    "node.kubernetes.io/unreachable:NoExecute:300",
                ],
            ),
        ];
        for (case, mut pod, want) in cases {
            default_toleration_seconds(&mut pod);
            assert_eq!(keys(&pod), want, "{case}");
        }
    }

    #[test]
    fn only_one_class_may_be_the_global_default() {
        let existing = [class("a", 1, true), class("b", 2, false)];
        let err =
            check_single_default(&class("c", 3, true), &existing).expect_err("second default");
        assert_eq!(
            err.to_string(),
            "priorityclasses.scheduling.k8s.io \"c\" is forbidden: PriorityClass a is already marked as default. Only one default can exist"
        );
        assert!(
            check_single_default(&class("a", 1, true), &existing).is_ok(),
            "itself"
        );
        assert!(
            check_single_default(&class("c", 3, true), &existing[1..]).is_ok(),
            "no default yet"
        );
    }

    #[test]
    fn priority_comes_from_the_class_or_the_global_default() {
        let classes = [
            class("high", 1000, false),
            class("default-a", 10, true),
            class("default-b", 5, true),
        ];
        let cases: [(&str, Value, Result<(i64, Option<&str>), &str>); 6] = [
            (
                "a named class",
                json!({"spec": {"priorityClassName": "high"}}),
                Ok((1000, Some("high"))),
            ),
            (
                "the lowest global default",
                json!({"spec": {}}),
                Ok((5, Some("default-b"))),
            ),
            (
                "a missing class is forbidden",
                json!({"metadata": {"name": "p"}, "spec": {"priorityClassName": "nope"}}),
                Err("pods \"p\" is forbidden: no PriorityClass with name nope was found"),
            ),
            (
                "an agreeing priority",
                json!({"spec": {"priorityClassName": "high", "priority": 1000}}),
                Ok((1000, Some("high"))),
            ),
            (
                "a disagreeing priority is forbidden",
                json!({"metadata": {"name": "p"}, "spec": {"priorityClassName": "high", "priority": 7}}),
                Err(
                    "pods \"p\" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name",
                ),
            ),
            (
                "a disagreeing preemption policy is forbidden",
                json!({"metadata": {"name": "p"}, "spec": {"priorityClassName": "high", "preemptionPolicy": "Never"}}),
                Err(
                    "pods \"p\" is forbidden: the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority admission controller computed PreemptLowerPriority from the given PriorityClass name",
                ),
            ),
        ];
        for (case, mut pod, want) in cases {
            let got = admit_pod_priority(&mut pod, &classes).map(|()| {
                (
                    pod["spec"]["priority"].as_i64().unwrap_or(-1),
                    pod["spec"]["priorityClassName"]
                        .as_str()
                        .map(str::to_string),
                )
            });
            match (got, want) {
                (Ok((p, n)), Ok((wp, wn))) => {
                    assert_eq!((p, n.as_deref()), (wp, wn), "{case}");
                    assert_eq!(
                        pod["spec"]["preemptionPolicy"], "PreemptLowerPriority",
                        "{case}"
                    );
                }
                (Err(e), Err(msg)) => {
                    assert_eq!(e.code(), 403, "{case}");
                    assert_eq!(e.to_string(), msg, "{case}");
                }
                (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
            }
        }
        let mut pod = json!({"spec": {}});
        admit_pod_priority(&mut pod, &[]).expect("no classes");
        assert_eq!(pod["spec"]["priority"], 0, "no default class: priority 0");
        assert!(pod["spec"].get("priorityClassName").is_none());
    }
}
