//! Watch fan-out: N watchers (one connection each) watch ConfigMaps in one namespace; one
//! client creates a ConfigMap, and each watcher's receipt is timed from the moment the create
//! was acknowledged. A receipt before the acknowledgement counts as 0 ms. The first change
//! is a warm-up and is not counted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams, WatchEvent, WatchParams};
use tokio::sync::mpsc;

use super::process::SkiffProcess;
use super::report::percentile;
use super::{BenchError, Report, Size, kube_err, within};

/// How long every watcher may take to receive one change.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(p: &SkiffProcess, size: Size, report: &mut Report) -> Result<(), BenchError> {
    let (watchers, changes) = match size {
        Size::Smoke => (20, 5),
        Size::Medium => (100, 20),
        Size::Full => (100, 50),
    };
    let ns = "bench-watch";
    let writer = p.client().await?;
    super::create_namespace(&writer, ns).await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, Instant)>();
    let mut tasks = Vec::new();
    for c in p.clients(watchers).await? {
        let api: Api<ConfigMap> = Api::namespaced(c, ns);
        let stream = api
            .watch(&WatchParams::default().timeout(3600), "0")
            .await
            .map_err(kube_err("starting a watch"))?;
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(ev) = stream.next().await {
                let at = Instant::now();
                if let Ok(WatchEvent::Added(cm)) = ev
                    && let Some(name) = cm.metadata.name
                    && name.starts_with("fanout-")
                    && tx.send((name, at)).is_err()
                {
                    return;
                }
            }
        }));
    }
    drop(tx);
    let api: Api<ConfigMap> = Api::namespaced(writer, ns);
    let mut samples = Vec::new();
    let mut from_send = Vec::new();
    for round in 0..=changes {
        let name = format!("fanout-{round}");
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([("round".to_string(), round.to_string())])),
            ..Default::default()
        };
        let sent = Instant::now();
        api.create(&PostParams::default(), &cm)
            .await
            .map_err(kube_err("creating the watched ConfigMap"))?;
        let acked = Instant::now();
        let mut got = 0;
        within(
            RECEIVE_TIMEOUT,
            &format!("{watchers} watchers to receive {name}"),
            async {
                while got < watchers {
                    match rx.recv().await {
                        Some((n, at)) if n == name => {
                            got += 1;
                            if round > 0 {
                                let ms = at.saturating_duration_since(acked).as_secs_f64() * 1000.0;
                                samples.push(ms);
                                from_send.push(
                                    at.saturating_duration_since(sent).as_secs_f64() * 1000.0,
                                );
                            }
                        }
                        Some(_) => {}
                        None => return,
                    }
                }
            },
        )
        .await?;
        if got < watchers {
            return Err(BenchError::Timeout {
                what: format!("{watchers} watchers to receive {name} (a watch stream ended)"),
                after: RECEIVE_TIMEOUT,
            });
        }
    }
    for t in tasks {
        t.abort();
    }
    report.set("watchFanoutWatchers", watchers as f64);
    let p50 = percentile(&mut samples, 50.0);
    let sent_p99 = percentile(&mut from_send, 99.0);
    let early = samples.iter().filter(|&&ms| ms == 0.0).count();
    report.set("watchFanoutP99Ms", percentile(&mut samples, 99.0));
    report.note(
        "watchFanoutP99Ms",
        format!(
            "{changes} changes × {watchers} watchers, one connection each; p50 {p50:.2} ms; \
             {early} of {} receipts came before the writer saw its acknowledgement (counted \
             as 0); p99 from sending the create {sent_p99:.2} ms",
            samples.len()
        ),
    );
    Ok(())
}
