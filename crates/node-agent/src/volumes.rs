//! The files a pod's volumes put into its containers, as the kubelet's volume manager mounts
//! them: ConfigMap, Secret, downward API and projected volumes (including the service
//! account token from `TokenRequest`). Other volume types hold no simulated files
//! (`emptyDir` shared between containers is not simulated). A missing object fails the
//! mount with the kubelet's `MountVolume.SetUp failed ...` message.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, DownwardAPIVolumeFile, KeyToPath, Pod, Secret, ServiceAccount, Volume,
};
use kube::api::PostParams;
use kube::{Api, Client, ResourceExt};

/// Each volume's name and files: (path inside the volume, content).
pub type VolumeFiles = Vec<(String, Vec<(String, Arc<str>)>)>;

/// Reads what every volume of `pod` provides; the first failure is the kubelet's message.
pub async fn mount(client: &Client, pod: &Pod) -> Result<VolumeFiles, String> {
    let mut out = VolumeFiles::new();
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let files = volume_files(client, pod, v)
            .await
            .map_err(|e| format!("MountVolume.SetUp failed for volume {:?} : {e}", v.name))?;
        out.retain(|(name, _)| *name != v.name);
        out.push((v.name.clone(), files));
    }
    out.shrink_to_fit();
    Ok(out)
}

/// The contents of mounted files, shared: the cluster's CA and a pod's namespace are the
/// same text in every pod, and a ConfigMap in every pod that mounts it. Each content is held
/// once while any pod holds it; the table forgets contents nobody holds when it has doubled.
fn shared(text: String) -> Arc<str> {
    struct Table {
        by_digest: HashMap<u128, Weak<str>>,
        sweep_at: usize,
    }
    static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(|| {
        Mutex::new(Table {
            by_digest: HashMap::new(),
            sweep_at: 1024,
        })
    });
    let digest = api::digest::of(text.as_str());
    let mut table = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(held) = table.by_digest.get(&digest).and_then(Weak::upgrade)
        && *held == *text
    {
        return held;
    }
    let content: Arc<str> = text.into();
    table.by_digest.insert(digest, Arc::downgrade(&content));
    if table.by_digest.len() >= table.sweep_at {
        table.by_digest.retain(|_, w| w.strong_count() > 0);
        table.sweep_at = (2 * table.by_digest.len()).max(1024);
    }
    content
}

/// A volume's files; contents other than tokens are [`shared`].
async fn volume_files(
    client: &Client,
    pod: &Pod,
    v: &Volume,
) -> Result<Vec<(String, Arc<str>)>, String> {
    let ns = pod.namespace().unwrap_or_default();
    let mut files = Vec::new();
    let shared_all = |found: Vec<(String, String)>| {
        found
            .into_iter()
            .map(|(path, content)| (path, shared(content)))
    };
    if let Some(c) = &v.config_map {
        files.extend(shared_all(
            config_map(client, &ns, &c.name, c.items.as_deref(), c.optional).await?,
        ));
    }
    if let Some(s) = &v.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        files.extend(shared_all(
            secret(client, &ns, &name, s.items.as_deref(), s.optional).await?,
        ));
    }
    if let Some(d) = &v.downward_api {
        files.extend(shared_all(downward(
            pod,
            d.items.as_deref().unwrap_or_default(),
        )));
    }
    if let Some(p) = &v.projected {
        for src in p.sources.iter().flatten() {
            if let Some(c) = &src.config_map {
                files.extend(shared_all(
                    config_map(client, &ns, &c.name, c.items.as_deref(), c.optional).await?,
                ));
            }
            if let Some(s) = &src.secret {
                files.extend(shared_all(
                    secret(client, &ns, &s.name, s.items.as_deref(), s.optional).await?,
                ));
            }
            if let Some(d) = &src.downward_api {
                files.extend(shared_all(downward(
                    pod,
                    d.items.as_deref().unwrap_or_default(),
                )));
            }
            if let Some(t) = &src.service_account_token {
                let sa = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.service_account_name.clone())
                    .unwrap_or_else(|| "default".into());
                let token =
                    request_token(client, &ns, &sa, t.audience.clone(), t.expiration_seconds)
                        .await
                        .map_err(|e| format!("failed to fetch token: {e}"))?;
                files.push((t.path.clone(), token.into()));
            }
        }
    }
    files.shrink_to_fit();
    Ok(files)
}

/// The files of `data` selected by `items` (all keys when absent).
fn select(
    kind: &str,
    data: BTreeMap<String, String>,
    items: Option<&[KeyToPath]>,
    optional: bool,
) -> Result<Vec<(String, String)>, String> {
    match items {
        None => Ok(data.into_iter().collect()),
        Some(items) => {
            let mut out = Vec::new();
            for i in items {
                match data.get(&i.key) {
                    Some(v) => out.push((i.path.clone(), v.clone())),
                    None if optional => {}
                    None => {
                        return Err(format!(
                            "{kind} references non-existent config key: {}",
                            i.key
                        ));
                    }
                }
            }
            Ok(out)
        }
    }
}

async fn config_map(
    client: &Client,
    ns: &str,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
) -> Result<Vec<(String, String)>, String> {
    let optional = optional.unwrap_or(false);
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await.map_err(|e| e.to_string())? {
        Some(cm) => select("configmap", cm.data.unwrap_or_default(), items, optional),
        None if optional => Ok(Vec::new()),
        None => Err(format!("configmap {name:?} not found")),
    }
}

async fn secret(
    client: &Client,
    ns: &str,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
) -> Result<Vec<(String, String)>, String> {
    let optional = optional.unwrap_or(false);
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await.map_err(|e| e.to_string())? {
        Some(s) => {
            let mut data: BTreeMap<String, String> = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                .collect();
            data.extend(s.string_data.unwrap_or_default());
            select("secret", data, items, optional)
        }
        None if optional => Ok(Vec::new()),
        None => Err(format!("secret {name:?} not found")),
    }
}

/// Downward API files from the pod's metadata (`metadata.name`, `.namespace`, `.uid`,
/// `.labels`, `.annotations`, `spec.nodeName`, `spec.serviceAccountName`).
fn downward(pod: &Pod, items: &[DownwardAPIVolumeFile]) -> Vec<(String, String)> {
    let kv = |m: &BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    items
        .iter()
        .filter_map(|i| {
            let field = i.field_ref.as_ref()?.field_path.as_str();
            let value = match field {
                "metadata.name" => pod.name_any(),
                "metadata.namespace" => pod.namespace().unwrap_or_default(),
                "metadata.uid" => pod.uid().unwrap_or_default(),
                "metadata.labels" => kv(pod.labels()),
                "metadata.annotations" => kv(pod.annotations()),
                "spec.nodeName" => pod.spec.as_ref()?.node_name.clone()?,
                "spec.serviceAccountName" => pod.spec.as_ref()?.service_account_name.clone()?,
                _ => return None,
            };
            Some((i.path.clone(), value))
        })
        .collect()
}

async fn request_token(
    client: &Client,
    ns: &str,
    sa: &str,
    audience: Option<String>,
    expiration: Option<i64>,
) -> Result<String, String> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let req = TokenRequest {
        spec: TokenRequestSpec {
            audiences: audience.into_iter().collect(),
            expiration_seconds: Some(expiration.unwrap_or(3607)),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let answer: TokenRequest = api
        .create_subresource("token", sa, &PostParams::default(), &req)
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) => s.message,
            other => other.to_string(),
        })?;
    answer
        .status
        .map(|s| s.token)
        .ok_or_else(|| "the token request returned no token".into())
}

/// The files `container` sees: each mount's volume files under its mount path (a `subPath`
/// picks one file or directory of the volume).
pub fn container_files(
    volumes: &VolumeFiles,
    container: &k8s_openapi::api::core::v1::Container,
) -> Vec<(String, Arc<str>)> {
    let mut out = Vec::new();
    for m in container.volume_mounts.iter().flatten() {
        let Some((_, files)) = volumes.iter().find(|(name, _)| *name == m.name) else {
            continue;
        };
        let base = m.mount_path.trim_end_matches('/');
        let sub = m.sub_path.as_deref().unwrap_or_default().trim_matches('/');
        for (path, content) in files {
            if sub.is_empty() {
                out.push((format!("{base}/{path}"), content.clone()));
            } else if path == sub {
                out.push((base.to_string(), content.clone()));
            } else if let Some(rest) = path.strip_prefix(&format!("{sub}/")) {
                out.push((format!("{base}/{rest}"), content.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_place_files_under_their_paths() {
        let volumes: VolumeFiles = vec![(
            "cfg".to_string(),
            vec![
                ("app.conf".to_string(), "a=1".into()),
                ("dir/x".to_string(), "x".into()),
            ],
        )];
        let c: k8s_openapi::api::core::v1::Container = serde_json::from_value(serde_json::json!({
            "name": "c",
            "volumeMounts": [
                {"name": "cfg", "mountPath": "/etc/app/"},
                {"name": "cfg", "mountPath": "/etc/one.conf", "subPath": "app.conf"},
                {"name": "cfg", "mountPath": "/d", "subPath": "dir"},
                {"name": "missing", "mountPath": "/m"}
            ]
        }))
        .unwrap();
        let got = container_files(&volumes, &c);
        let paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "/etc/app/app.conf",
                "/etc/app/dir/x",
                "/etc/one.conf",
                "/d/x"
            ]
        );
    }

    #[test]
    fn equal_contents_share_one_allocation_while_held() {
        let ca = || format!("-----BEGIN CERTIFICATE-----\n{}\n", "A".repeat(64));
        let first = shared(ca());
        let second = shared(ca());
        assert!(Arc::ptr_eq(&first, &second), "the same text is held once");
        assert_eq!(*first, *ca());
        let other = shared("default".to_string());
        assert!(!Arc::ptr_eq(&first, &other));
        // Once nobody holds a content, the next use of it is a fresh copy.
        let again = {
            let weak = Arc::downgrade(&first);
            drop((first, second));
            assert!(weak.upgrade().is_none());
            shared(ca())
        };
        assert_eq!(*again, *ca());
    }

    #[test]
    fn items_select_keys_and_name_missing_ones() {
        let data: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        let item = |k: &str, p: &str| KeyToPath {
            key: k.into(),
            path: p.into(),
            mode: None,
        };
        assert_eq!(
            select("configmap", data.clone(), Some(&[item("a", "x/a")]), false).unwrap(),
            vec![("x/a".to_string(), "1".to_string())]
        );
        assert_eq!(
            select("configmap", data.clone(), Some(&[item("b", "b")]), false).unwrap_err(),
            "configmap references non-existent config key: b"
        );
        assert!(
            select("configmap", data, Some(&[item("b", "b")]), true)
                .unwrap()
                .is_empty()
        );
    }
}
