//! CustomResourceDefinition lifecycle in the API server: after every CRD write the resource
//! table is rebuilt (so routing, discovery and OpenAPI see the change at once), and a deleted
//! CRD's custom resources are removed before its cleanup finalizer is dropped (upstream's
//! finalizing controller, run here as a task per deleted CRD).

use std::sync::Arc;
use std::time::Duration;

use api::ApiError;
use serde_json::Value;

use crate::registry::{DeleteOptions, ListParams, Registry, WriteOptions};

const CRD_GROUP: &str = "apiextensions.k8s.io";
const CRDS: &str = "customresourcedefinitions";

/// Whether a request path names the CRD resource.
pub fn is_crd_path(group: &str, resource: &str) -> bool {
    group == CRD_GROUP && resource == CRDS
}

/// Rebuilds the table and starts cleanup for every terminating CRD (after a CRD write and
/// at start-up).
pub async fn sync(registry: &Arc<Registry>) -> Result<(), ApiError> {
    registry.refresh_custom_resources().await?;
    for crd in registry.list_crds().await? {
        if crd["metadata"]["deletionTimestamp"].is_string() && has_cleanup_finalizer(&crd) {
            let name = crd["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            start_cleanup(registry.clone(), name);
        }
    }
    Ok(())
}

fn has_cleanup_finalizer(crd: &Value) -> bool {
    crd["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == api::crd::CLEANUP_FINALIZER))
}

fn running() -> &'static std::sync::Mutex<std::collections::HashSet<(usize, String)>> {
    static RUNNING: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashSet<(usize, String)>>,
    > = std::sync::OnceLock::new();
    RUNNING.get_or_init(Default::default)
}

/// Starts (once per registry and CRD) the task deleting a terminating CRD's objects.
fn start_cleanup(registry: Arc<Registry>, name: String) {
    let id = (Arc::as_ptr(&registry) as usize, name.clone());
    if !running()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone())
    {
        return;
    }
    tokio::spawn(async move {
        for _ in 0..600 {
            match cleanup_step(&registry, &name).await {
                Ok(true) => break,
                Ok(false) | Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let _ = registry.refresh_custom_resources().await;
        running()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    });
}

/// One pass: deletes remaining custom resources; once none are left, drops the finalizer.
/// `Ok(true)` when done.
async fn cleanup_step(registry: &Arc<Registry>, name: &str) -> Result<bool, ApiError> {
    let Some(crd_info) = registry.resources().find(CRD_GROUP, "v1", CRDS) else {
        return Ok(true);
    };
    let crd = match registry.get(&crd_info, None, name, None).await {
        Ok(c) => c,
        Err(ApiError::NotFound { .. }) => return Ok(true),
        Err(e) => return Err(e),
    };
    if !crd["metadata"]["deletionTimestamp"].is_string() || !has_cleanup_finalizer(&crd) {
        return Ok(true);
    }
    let mut remaining = 0;
    if let Some(info) = api::crd::resources_for(&crd).into_iter().next() {
        let page = registry.list(&info, None, &ListParams::default()).await?;
        for item in &page.items {
            remaining += 1;
            let ns = item["metadata"]["namespace"].as_str();
            let item_name = item["metadata"]["name"].as_str().unwrap_or_default();
            if item["metadata"]["deletionTimestamp"].is_string() {
                continue;
            }
            let _ = registry
                .delete(&info, ns, item_name, &DeleteOptions::default())
                .await;
        }
    }
    if remaining > 0 {
        return Ok(false);
    }
    registry
        .read_modify_write(
            &crd_info,
            None,
            name,
            None,
            &WriteOptions::default(),
            |old| {
                let mut new = old.clone();
                if let Some(f) = new["metadata"]["finalizers"].as_array_mut() {
                    f.retain(|f| f != api::crd::CLEANUP_FINALIZER);
                }
                Ok(new)
            },
        )
        .await
        .map(|_| true)
        .or_else(|e| match e {
            ApiError::NotFound { .. } => Ok(true),
            e => Err(e),
        })
}
