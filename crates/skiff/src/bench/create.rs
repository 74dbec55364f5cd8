//! Create throughput: 64 clients, each on its own HTTPS connection, create ConfigMaps of a
//! fixed size as fast as the server acknowledges them (durable SQLite: every acknowledged
//! create is committed with fsync).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};

use super::process::SkiffProcess;
use super::{BenchError, Report, Size, kube_err, within};

/// Concurrent clients.
pub const CLIENTS: usize = 64;
/// Bytes of each ConfigMap's single data value.
pub const PAYLOAD_BYTES: usize = 1024;
/// How long the whole burst may take.
const TIMEOUT: Duration = Duration::from_secs(900);

/// Runs the burst against `p` and records it as `key` (`createPerSec` for SQLite,
/// `etcdCreatePerSec` for a skiff on etcd).
pub async fn run(
    p: &SkiffProcess,
    size: Size,
    report: &mut Report,
    key: &str,
) -> Result<(), BenchError> {
    let total = match size {
        Size::Smoke => 320,
        Size::Medium => 6_400,
        Size::Full => 64_000,
    };
    let ns = "bench-create";
    super::create_namespace(&p.client().await?, ns).await?;
    let clients = p.clients(CLIENTS).await?;
    // One warm-up create per client so TLS handshakes and HTTP/2 setup are not timed.
    for (i, c) in clients.iter().enumerate() {
        let api: Api<ConfigMap> = Api::namespaced(c.clone(), ns);
        api.create(&PostParams::default(), &configmap(&format!("warm-{i}")))
            .await
            .map_err(kube_err("creating a warm-up ConfigMap"))?;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in clients {
        let next = next.clone();
        let api: Api<ConfigMap> = Api::namespaced(c, ns);
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok(());
                }
                api.create(&PostParams::default(), &configmap(&format!("cm-{i}")))
                    .await
                    .map_err(kube_err(format!("creating ConfigMap cm-{i}")))?;
            }
        }));
    }
    within(TIMEOUT, "the create burst", async {
        for t in tasks {
            match t.await {
                Ok(r) => r?,
                Err(e) => {
                    return Err(BenchError::Io {
                        what: "a create client task".into(),
                        source: std::io::Error::other(e),
                    });
                }
            }
        }
        Ok(())
    })
    .await??;
    let secs = started.elapsed().as_secs_f64();
    report.set(key, total as f64 / secs);
    report.note(
        key,
        format!(
            "{total} ConfigMaps of {PAYLOAD_BYTES} B data by {CLIENTS} clients (one connection each) in {secs:.2} s"
        ),
    );
    Ok(())
}

fn configmap(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "payload".to_string(),
            "x".repeat(PAYLOAD_BYTES),
        )])),
        ..Default::default()
    }
}
