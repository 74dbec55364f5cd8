//! Lease-based leader election, as kube-scheduler and kube-controller-manager do it with
//! client-go's `leaderelection`: each candidate tries to hold a `coordination.k8s.io/v1`
//! Lease (`kube-system/kube-scheduler`, …); the holder renews it every retry period and runs
//! the component; a standby takes the lease once it has not been renewed for the lease
//! duration, and a holder that cannot renew within the renew deadline stops its component.
//! A holder stopping cleanly releases the lease (an empty holder and a one-second duration),
//! so a standby takes over at once.
//!
//! As client-go does, a candidate judges a lease expired by its own clock: by how long ago it
//! last saw the Lease change (`observedTime`), not by the holder's `renewTime`, so clocks that
//! disagree between servers do not matter. A holder whose tries fail past the renew deadline
//! gives up; a conflicting write to the Lease while renewing is a failed try, not a lost
//! lease.
//!
//! Durations are simulated (`api::clock::Clock`): at `--speed 10` a 15 s lease lasts 1.5 s.

use std::future::Future;
use std::time::Duration;

use api::clock::Clock;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// One election: which Lease, who this candidate is, and its timing.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Lease's namespace (`kube-system`).
    pub namespace: String,
    /// The Lease's name (`kube-scheduler`).
    pub name: String,
    /// This candidate (`<host>_<uuid>`, as client-go's components use).
    pub identity: String,
    /// How long a lease lasts unrenewed (`--leader-elect-lease-duration`, 15 s).
    pub lease_duration: Duration,
    /// How long the holder keeps trying to renew before it gives up (`--leader-elect-renew-deadline`, 10 s).
    pub renew_deadline: Duration,
    /// Between attempts to acquire or renew (`--leader-elect-retry-period`, 2 s).
    pub retry_period: Duration,
    /// The simulation clock.
    pub clock: Clock,
}

impl Config {
    /// An election for `kube-system/<name>` with kube-scheduler's and
    /// kube-controller-manager's default timing.
    pub fn new(name: &str, identity: &str, clock: Clock) -> Config {
        Config {
            namespace: "kube-system".into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            clock,
        }
    }
}

/// What one attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// This candidate holds the lease (acquired or renewed).
    Held,
    /// Another candidate holds a valid lease.
    Taken,
}

/// The last version of the Lease this candidate saw, and when it first saw it (client-go's
/// `observedRecord` and `observedTime`).
struct Observed {
    version: String,
    at: Instant,
}

impl Observed {
    /// Notes `lease` as seen now, unless it is the version seen before.
    fn see(observed: &mut Option<Observed>, lease: &Lease) {
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        if observed.as_ref().is_none_or(|o| o.version != version) {
            *observed = Some(Observed {
                version,
                at: Instant::now(),
            });
        }
    }
}

/// The lease's duration in simulated time.
fn lease_duration(spec: &LeaseSpec) -> Duration {
    Duration::from_secs(u64::try_from(spec.lease_duration_seconds.unwrap_or(15)).unwrap_or(15))
}

/// Whether `spec` names a holder other than this candidate.
fn other_holder(spec: &LeaseSpec, config: &Config) -> bool {
    spec.holder_identity
        .as_deref()
        .is_some_and(|h| !h.is_empty() && h != config.identity)
}

/// Runs `work` while this candidate holds the lease, until `shutdown`: `work` gets a token
/// cancelled when leadership is lost (it must then stop); it is started again on every new
/// term.
pub async fn run<F, Fut>(client: Client, config: Config, shutdown: CancellationToken, mut work: F)
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let leases: Api<Lease> = Api::namespaced(client, &config.namespace);
    let retry = config.clock.real(config.retry_period);
    let mut observed = None;
    loop {
        // Acquire.
        let mut last_error = String::new();
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            match attempt(&leases, &config, &mut observed).await {
                Ok(Attempt::Held) => break,
                Ok(Attempt::Taken) => {}
                Err(error) => {
                    // Said once per distinct error: a candidate that can never acquire
                    // (no permission, no store) must not stand by in silence.
                    let text = error.to_string();
                    if text != last_error {
                        tracing::warn!(lease = %config.name, error = %text, "acquiring the lease failed; retrying");
                        last_error = text;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(retry) => {}
            }
        }
        tracing::info!(lease = %config.name, identity = %config.identity, "became leader");
        let term = shutdown.child_token();
        let handle = tokio::spawn(work(term.clone()));
        // Renew: a holder that has not renewed within the renew deadline gives up.
        let renew_deadline = config.clock.real(config.renew_deadline);
        let mut renewed = Instant::now();
        let (stopping, why) = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break (true, String::new()),
                _ = tokio::time::sleep(retry) => {}
            }
            match attempt(&leases, &config, &mut observed).await {
                Ok(Attempt::Held) => renewed = Instant::now(),
                Ok(Attempt::Taken) => break (false, "another candidate holds it".to_string()),
                Err(error) => {
                    tracing::warn!(lease = %config.name, %error, "renewing the lease failed; retrying");
                    if renewed.elapsed() > renew_deadline {
                        break (
                            false,
                            format!("no renewal within the renew deadline: {error}"),
                        );
                    }
                }
            }
        };
        term.cancel();
        let _ = handle.await;
        if stopping {
            release(&leases, &config).await;
            return;
        }
        tracing::warn!(lease = %config.name, identity = %config.identity, %why, "lost the lease; standing by");
    }
}

/// Whether another candidate holds the election's lease now (a standby need not wait for a
/// term of its own to start).
pub async fn held_by_other(client: &Client, config: &Config) -> bool {
    let leases: Api<Lease> = Api::namespaced(client.clone(), &config.namespace);
    let Ok(Some(lease)) = leases.get_opt(&config.name).await else {
        return false;
    };
    // A first look has no observation to go by: the holder's last renewal decides.
    let spec = lease.spec.unwrap_or_default();
    other_holder(&spec, config)
        && spec
            .renew_time
            .as_ref()
            .is_some_and(|r| config.clock.elapsed_since(r.0) <= lease_duration(&spec))
}

/// One try to acquire or renew the lease.
async fn attempt(
    leases: &Api<Lease>,
    config: &Config,
    observed: &mut Option<Observed>,
) -> Result<Attempt, kube::Error> {
    let duration = i32::try_from(config.lease_duration.as_secs()).unwrap_or(15);
    let now = || MicroTime(config.clock.now());
    let Some(mut lease) = leases.get_opt(&config.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(config.name.clone()),
                namespace: Some(config.namespace.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(config.identity.clone()),
                lease_duration_seconds: Some(duration),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return match leases.create(&PostParams::default(), &lease).await {
            Ok(written) => {
                Observed::see(observed, &written);
                Ok(Attempt::Held)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Taken),
            Err(e) => Err(e),
        };
    };
    Observed::see(observed, &lease);
    let spec = lease.spec.clone().unwrap_or_default();
    let mine = spec.holder_identity.as_deref() == Some(config.identity.as_str());
    let unchanged_for = observed.as_ref().map_or(Duration::ZERO, |o| o.at.elapsed());
    if other_holder(&spec, config) && unchanged_for <= config.clock.real(lease_duration(&spec)) {
        return Ok(Attempt::Taken);
    }
    let mut next = spec;
    if !mine {
        next.acquire_time = Some(now());
        next.lease_transitions = Some(next.lease_transitions.unwrap_or(0) + 1);
    }
    next.holder_identity = Some(config.identity.clone());
    next.lease_duration_seconds = Some(duration);
    next.renew_time = Some(now());
    lease.spec = Some(next);
    match leases
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        Ok(written) => {
            Observed::see(observed, &written);
            Ok(Attempt::Held)
        }
        // Someone else wrote first: while acquiring, they won; while renewing, it is one
        // failed try (client-go retries until the renew deadline).
        Err(kube::Error::Api(s)) if s.code == 409 && !mine => Ok(Attempt::Taken),
        Err(e) => Err(e),
    }
}

/// Gives the lease up (client-go's ReleaseOnCancel): no holder, a one-second duration.
async fn release(leases: &Api<Lease>, config: &Config) {
    let Ok(Some(mut lease)) = leases.get_opt(&config.name).await else {
        return;
    };
    let Some(spec) = lease.spec.as_mut() else {
        return;
    };
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(MicroTime(config.clock.now()));
    if let Err(error) = leases
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        tracing::debug!(lease = %config.name, %error, "releasing the lease failed");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A candidate whose work counts how many terms it is running.
    fn candidate(
        client: &Client,
        identity: &str,
        clock: Clock,
        running: Arc<AtomicUsize>,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let config = Config::new("kube-scheduler", identity, clock);
        tokio::spawn(run(client.clone(), config, shutdown, move |term| {
            let running = running.clone();
            async move {
                running.fetch_add(1, Ordering::SeqCst);
                term.cancelled().await;
                running.fetch_sub(1, Ordering::SeqCst);
            }
        }))
    }

    async fn holder(client: &Client) -> Option<String> {
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
        leases
            .get_opt("kube-scheduler")
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec?.holder_identity)
    }

    async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
        for _ in 0..400 {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_candidate_leads_and_a_standby_takes_over_on_release_and_on_expiry() {
        let stop = CancellationToken::new();
        let (_server, client) =
            apiserver::client::start(Arc::new(store::MemoryBackend::new()), stop.clone())
                .await
                .expect("an API server");
        // At speed 50 the 15 s lease lasts 300 ms.
        let clock = Clock::with_speed(50.0).expect("a clock");
        let (a_runs, b_runs, c_runs) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let a_stop = CancellationToken::new();
        let a = candidate(&client, "a", clock, a_runs.clone(), a_stop.clone());
        until("a to lead", async || a_runs.load(Ordering::SeqCst) == 1).await;
        let b = candidate(
            &client,
            "b",
            clock,
            b_runs.clone(),
            CancellationToken::new(),
        );
        // b stands by while a renews, through several lease durations.
        tokio::time::sleep(clock.real(Duration::from_secs(45))).await;
        assert_eq!(b_runs.load(Ordering::SeqCst), 0, "one leader at a time");
        assert_eq!(holder(&client).await.as_deref(), Some("a"));
        // a stops cleanly: its work ends, the lease is released, b takes over.
        a_stop.cancel();
        let _ = a.await;
        assert_eq!(a_runs.load(Ordering::SeqCst), 0);
        until("b to lead", async || b_runs.load(Ordering::SeqCst) == 1).await;
        assert_eq!(holder(&client).await.as_deref(), Some("b"));
        // b dies without releasing: c takes over once the lease expires.
        b.abort();
        let _ = b.await;
        let c = candidate(
            &client,
            "c",
            clock,
            c_runs.clone(),
            CancellationToken::new(),
        );
        until("c to lead after b's lease expired", async || {
            c_runs.load(Ordering::SeqCst) == 1
        })
        .await;
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
        let lease = leases.get("kube-scheduler").await.expect("the lease");
        let spec = lease.spec.expect("a spec");
        assert_eq!(spec.holder_identity.as_deref(), Some("c"));
        assert_eq!(spec.lease_transitions, Some(2), "a → b → c");
        c.abort();
        stop.cancel();
    }
}
