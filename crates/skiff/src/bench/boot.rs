//! Boot and idle memory: spawn `skiff up` (the default three-node cluster) and time until
//! `/readyz` answers `ok` over HTTPS and every node is Ready; then read the settled process's
//! RSS. Cold boots start on a fresh data directory (credentials are generated); warm boots
//! restart on the directory of the last cold one.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

use super::process::SkiffProcess;
use super::report::median;
use super::{BenchError, Report, Size, within};

/// Nodes of the default cluster.
const NODES: usize = 2;
/// How long a booted skiff may take to be ready with its nodes.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between readiness polls.
const POLL: Duration = Duration::from_millis(2);
/// Pause between node-list polls of a big cluster (each list carries every node).
const POLL_BIG: Duration = Duration::from_millis(500);

pub async fn run(bin: &Path, size: Size, report: &mut Report) -> Result<(), BenchError> {
    let (runs, settle) = match size {
        Size::Smoke => (2, Duration::from_secs(1)),
        Size::Medium => (3, Duration::from_secs(5)),
        Size::Full => (7, Duration::from_secs(10)),
    };
    let mut cold = Vec::new();
    let mut last = None;
    for i in 0..runs {
        let (p, ms) = boot_once(bin, None).await?;
        cold.push(ms);
        if i + 1 == runs {
            last = Some(p);
        } else {
            p.stop().await;
        }
    }
    let Some(p) = last else {
        return Ok(());
    };
    tokio::time::sleep(settle).await;
    report.set("idleRssMiB", p.rss_mib()?);
    report.note(
        "idleRssMiB",
        format!(
            "VmRSS {} s after boot, {NODES} nodes, no workload",
            settle.as_secs()
        ),
    );
    let mut dir = p.stop().await;
    let mut warm = Vec::new();
    for _ in 0..runs {
        let (p, ms) = boot_once(bin, dir.take()).await?;
        warm.push(ms);
        dir = p.stop().await;
    }
    report.set("bootMs", median(&mut cold));
    report.set("bootWarmMs", median(&mut warm));
    report.note(
        "bootMs",
        format!(
            "median of {runs}; cold runs {}",
            cold.iter()
                .map(|v| format!("{v:.0}"))
                .collect::<Vec<_>>()
                .join("/")
        ),
    );
    Ok(())
}

/// Boots once; returns the process and the milliseconds from spawn to ready.
async fn boot_once(
    bin: &Path,
    dir: Option<tempfile::TempDir>,
) -> Result<(SkiffProcess, f64), BenchError> {
    let p = SkiffProcess::start(bin, &[], dir).await?;
    let after_line = Instant::now();
    let client = p.client().await?;
    within(
        READY_TIMEOUT,
        "/readyz ok and the default nodes Ready",
        wait_ready(&client, NODES),
    )
    .await?;
    let ms = (p.to_ready_line + after_line.elapsed()).as_secs_f64() * 1000.0;
    Ok((p, ms))
}

/// Polls `/readyz` until it answers, then the node list until `nodes` nodes are Ready.
pub async fn wait_ready(client: &kube::Client, nodes: usize) {
    loop {
        let req = http::Request::get("/readyz").body(Vec::new());
        if let Ok(req) = req
            && let Ok(body) = client.request_text(req).await
            && body.trim() == "ok"
        {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let api: Api<Node> = Api::all(client.clone());
    let poll = if nodes > 100 { POLL_BIG } else { POLL };
    loop {
        if let Ok(list) = api.list(&ListParams::default()).await
            && list
                .items
                .iter()
                .filter(|n| crate::ops::node_ready(n))
                .count()
                >= nodes
        {
            return;
        }
        tokio::time::sleep(poll).await;
    }
}
