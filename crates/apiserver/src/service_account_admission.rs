//! The `ServiceAccount` admission plugin, as kube-apiserver runs it on every pod create:
//! the pod runs as the namespace's `default` account unless it names one, the account must
//! exist, and unless automounting is switched off (on the pod or the account) the pod gets
//! the projected `kube-api-access-<suffix>` volume (a bound token, the cluster CA from
//! `kube-root-ca.crt`, the namespace) mounted read-only in every container at
//! `/var/run/secrets/kubernetes.io/serviceaccount`.

use api::{ApiError, GroupResource};
use serde_json::{Value, json};

use crate::registry::Registry;

/// Where the token volume is mounted.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The projected token's lifetime the plugin asks for (kubelet refreshes it).
const TOKEN_EXPIRATION_SECONDS: i64 = 3607;

/// Admits a pod being created in `namespace`: mutates it in place or refuses it.
pub async fn admit_pod(
    registry: &Registry,
    namespace: &str,
    pod: &mut Value,
    suffix: &str,
) -> Result<(), ApiError> {
    // Mirror pods (static pods the kubelet reflects) are left alone.
    if pod
        .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some()
    {
        return Ok(());
    }
    let spec = pod
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ApiError::BadRequest("pod spec must be an object".into()))?;
    let account = match spec.get("serviceAccountName").and_then(Value::as_str) {
        Some(a) if !a.is_empty() => a.to_string(),
        _ => {
            spec.insert("serviceAccountName".into(), json!("default"));
            "default".to_string()
        }
    };
    // `serviceAccount` is the deprecated alias the API server keeps in step.
    spec.insert("serviceAccount".into(), json!(account));
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .or_else(|| {
            pod.pointer("/metadata/generateName")
                .and_then(Value::as_str)
        })
        .unwrap_or_default()
        .to_string();
    let accounts = registry
        .resources()
        .find("", "v1", "serviceaccounts")
        .ok_or_else(|| ApiError::Internal("serviceaccounts are not served".into()))?;
    let sa = match registry
        .get_for_admission(&accounts, Some(namespace), &account)
        .await
    {
        Ok(sa) => sa,
        Err(ApiError::NotFound { .. }) => {
            return Err(ApiError::Forbidden {
                resource: GroupResource::new("", "pods"),
                name,
                detail: format!(
                    "error looking up service account {namespace}/{account}: serviceaccount \"{account}\" not found"
                ),
            });
        }
        Err(e) => return Err(e),
    };
    let pod_says = pod
        .pointer("/spec/automountServiceAccountToken")
        .and_then(Value::as_bool);
    let account_says = sa
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool);
    if !pod_says.or(account_says).unwrap_or(true) {
        return Ok(());
    }
    mount_token_volume(pod, suffix);
    Ok(())
}

/// Adds the projected token volume and mounts it in every container that does not already
/// mount something at [`MOUNT_PATH`].
fn mount_token_volume(pod: &mut Value, suffix: &str) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let mounted_already = |c: &Value| {
        c.get("volumeMounts")
            .and_then(Value::as_array)
            .is_some_and(|ms| {
                ms.iter()
                    .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(MOUNT_PATH))
            })
    };
    let lists = ["initContainers", "containers"];
    let needs_mount = lists.iter().any(|l| {
        spec.get(*l)
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| !mounted_already(c)))
    });
    if !needs_mount {
        return;
    }
    let volume_name = format!("kube-api-access-{suffix}");
    let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
    if let Some(vs) = volumes.as_array_mut() {
        vs.push(json!({
            "name": volume_name,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ]
            }
        }));
    }
    for l in lists {
        let Some(cs) = spec.get_mut(l).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in cs.iter_mut() {
            if mounted_already(c) {
                continue;
            }
            let Some(c) = c.as_object_mut() else { continue };
            let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
            if let Some(ms) = mounts.as_array_mut() {
                ms.push(json!({"name": volume_name, "readOnly": true, "mountPath": MOUNT_PATH}));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_volume_is_mounted_in_every_container_once() {
        let mut pod = json!({"spec": {
            "initContainers": [{"name": "init"}],
            "containers": [
                {"name": "a"},
                {"name": "b", "volumeMounts": [{"name": "mine", "mountPath": MOUNT_PATH}]}
            ]
        }});
        mount_token_volume(&mut pod, "x7k2p");
        let vols = pod["spec"]["volumes"].as_array().expect("volumes");
        assert_eq!(vols.len(), 1);
        assert_eq!(vols[0]["name"], "kube-api-access-x7k2p");
        assert_eq!(
            vols[0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3607
        );
        assert_eq!(
            pod["spec"]["initContainers"][0]["volumeMounts"][0]["mountPath"],
            MOUNT_PATH
        );
        assert_eq!(
            pod["spec"]["containers"][0]["volumeMounts"][0]["readOnly"],
            true
        );
        assert_eq!(
            pod["spec"]["containers"][1]["volumeMounts"]
                .as_array()
                .map(Vec::len),
            Some(1),
            "a container that mounts the path itself is left alone"
        );
    }

    #[test]
    fn nothing_is_added_when_every_container_mounts_the_path() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "b", "volumeMounts": [{"name": "mine", "mountPath": MOUNT_PATH}]}
        ]}});
        mount_token_volume(&mut pod, "x7k2p");
        assert!(pod["spec"].get("volumes").is_none());
    }
}
