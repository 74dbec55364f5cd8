//! Large list: N pods in one namespace of a node-less skiff, listed paged by 500 (following
//! `continue` tokens) and unpaged. A figure only; no target.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use super::process::SkiffProcess;
use super::report::median;
use super::{BenchError, Report, Size, kube_err, within};

/// Items per page of the paged list.
const PAGE: u32 = 500;
/// Timed repetitions of each list (the median is reported).
const REPEATS: usize = 3;

pub async fn run(p: &SkiffProcess, size: Size, report: &mut Report) -> Result<(), BenchError> {
    let total = match size {
        Size::Smoke => 50,
        Size::Medium => 5_000,
        Size::Full => 50_000,
    };
    let ns = "bench-list";
    let client = p.client().await?;
    super::create_namespace(&client, ns).await?;
    super::wait_for_service_account(&client, ns).await?;
    let clients = p.clients(16).await?;
    super::create_all(&clients, ns, total, |i| {
        super::pod(&format!("list-{i}"), "list", None, serde_json::json!({}))
    })
    .await?;
    let api: Api<Pod> = Api::namespaced(client, ns);
    let mut paged = Vec::new();
    let mut unpaged = Vec::new();
    for _ in 0..REPEATS {
        let started = Instant::now();
        let mut n = 0;
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(PAGE);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let page = within(Duration::from_secs(300), "a page of pods", api.list(&lp))
                .await?
                .map_err(kube_err("listing a page of pods"))?;
            n += page.items.len();
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        paged.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let all = within(
            Duration::from_secs(300),
            "an unpaged list of pods",
            api.list(&ListParams::default()),
        )
        .await?
        .map_err(kube_err("listing every pod"))?;
        unpaged.push(started.elapsed().as_secs_f64() * 1000.0);
        if n != total || all.items.len() != total {
            report.note(
                "listPods",
                format!(
                    "expected {total} pods, the paged list returned {n} and the unpaged {}",
                    all.items.len()
                ),
            );
        }
    }
    report.set("listPods", total as f64);
    report.set("listPagedMs", median(&mut paged));
    report.set("listUnpagedMs", median(&mut unpaged));
    report.note(
        "listPagedMs",
        format!("median of {REPEATS}, pages of {PAGE}, pause pods without nodes (Pending)"),
    );
    Ok(())
}
