//! etcd v3 backend: every [`Backend`] call maps onto one etcd request (or a short sequence of
//! them), so the store's revision *is* etcd's revision and several skiff processes can share one
//! etcd cluster.
//!
//! Mapping:
//! - keys are stored as given (`/registry/...`, the layout kube-apiserver uses), behind an
//!   optional [`EtcdOptions::prefix`] that is stripped again from everything returned;
//! - `create` is a `Txn` comparing `create_revision == 0` then `put`; `update`/`delete` compare
//!   `mod_revision == expected` (and `version > 0`, so a missing key is `NotFound`), with a `get`
//!   in the else branch that yields the current version for `Conflict`;
//! - `get`/`list` are range requests at `revision`; `list` pages with `limit` from the key after
//!   `after` and reports etcd's `count` minus the page as `remaining`; a list without a limit is
//!   read in pages of [`LIST_PAGE`] keys at one revision; `count` is a `count_only` range;
//! - `watch(prefix, from)` is an etcd watch with `prev_kv` starting *at* `from` (events at `from`
//!   itself are dropped), so etcd's own compaction check (`start < compacted`) is exactly the
//!   trait's rule; its `compact_revision` answer becomes `Compacted`;
//! - `compact` is etcd's compaction (`physical`, so it returns once history is gone).
//!
//! etcd 3.4 has no request that returns the compacted revision. The backend remembers the
//! highest one it has seen (its own compactions, `compact_revision` in watch answers, compaction
//! refused as already done) and [`Backend::compacted_revision`] confirms it against etcd: a range
//! at revision `r` fails exactly when `r` is below the compacted revision, so a binary search of
//! `count_only` probes between the remembered value and the current revision finds it (one probe
//! when nothing else compacted). etcd answers both "compacted" and "future revision" with gRPC
//! `OUT_OF_RANGE`; the backend tells them apart by comparing with the current revision, never by
//! the message text.
//!
//! Lost connections: the gRPC channel reconnects on its own (HTTP/2 keep-alives notice a dead
//! peer). Reads retry with back-off for up to [`EtcdOptions::request_timeout`] and then answer
//! `Storage`; writes are not retried (a write whose connection broke may still have been applied,
//! as with any etcd client). A watch whose stream breaks resumes from the last revision it
//! delivered, with the same back-off and budget; then it ends with `Storage`. Dropping the
//! backend ends its watches with `Closed`.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, ConnectOptions, GetOptions, GetResponse,
    KvClient, PutOptions, Txn, TxnOp, TxnOpResponse, TxnResponse, WatchClient, WatchOptions,
};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::{
    Backend, Error, Event, EventKind, KeyValue, ListOptions, ListResult, Result, Revision,
    WatchStream,
};

/// Keys per range request when a list has no limit (kube-apiserver pages similarly).
pub const LIST_PAGE: i64 = 1000;
/// Largest gRPC message accepted from etcd: etcd's own default send limit (`math.MaxInt32`), so
/// no answer etcd can send is refused (tonic's default is 4 MiB).
const MAX_DECODE: usize = i32::MAX as usize;
/// A key no caller uses, for requests that only want a revision or a compaction check.
const PROBE_KEY: &[u8] = b"\0";
/// First and longest pause between retries.
const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// TLS material for talking to etcd (PEM files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdTls {
    /// CA bundle that signed etcd's server certificate (`--etcd-cacert`). skiff carries no
    /// system roots, so without it no server certificate verifies.
    pub ca: Option<PathBuf>,
    /// Client certificate (`--etcd-cert`), given together with `key`.
    pub cert: Option<PathBuf>,
    /// Client private key (`--etcd-key`).
    pub key: Option<PathBuf>,
}

/// How to reach etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdOptions {
    /// TLS settings; `None` talks plain HTTP/2 to `http://` endpoints.
    pub tls: Option<EtcdTls>,
    /// Prepended to every key (empty: keys as given, the kube-apiserver layout). Lets several
    /// independent stores share one etcd.
    pub prefix: String,
    /// How long [`EtcdBackend::connect`] keeps trying to reach etcd.
    pub connect_timeout: Duration,
    /// Longest a single call waits (including read retries) before answering `Storage`.
    pub request_timeout: Duration,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        Self {
            tls: None,
            prefix: String::new(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(15),
        }
    }
}

/// A store kept in an etcd v3 cluster (3.4 or newer).
///
/// Revisions are etcd's: an empty etcd is at revision 1, not 0. `compact` at or below the
/// already compacted revision is a no-op.
pub struct EtcdBackend {
    kv: KvClient,
    watch: WatchClient,
    prefix: String,
    endpoints: Vec<String>,
    request_timeout: Duration,
    /// Highest compacted revision seen (a lower bound of etcd's).
    compacted: Arc<AtomicI64>,
    /// Cancelled when the backend is dropped: watches end with `Closed`.
    closed: CancellationToken,
}

impl std::fmt::Debug for EtcdBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdBackend")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Drop for EtcdBackend {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

/// How an etcd call failed.
enum Rpc {
    /// gRPC `OUT_OF_RANGE`: the revision asked for is compacted or in the future.
    OutOfRange,
    /// The connection is down or etcd has no leader; worth retrying a read.
    Transient(etcd_client::Error),
    /// Anything else.
    Other(etcd_client::Error),
    /// The call did not finish within the request timeout.
    Timeout,
}

impl From<etcd_client::Error> for Rpc {
    fn from(e: etcd_client::Error) -> Self {
        match &e {
            etcd_client::Error::GRpcStatus(s) if s.code() == tonic::Code::OutOfRange => {
                Rpc::OutOfRange
            }
            etcd_client::Error::GRpcStatus(s)
                if matches!(
                    s.code(),
                    tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
                ) =>
            {
                Rpc::Transient(e)
            }
            etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => {
                Rpc::Transient(e)
            }
            _ => Rpc::Other(e),
        }
    }
}

impl Rpc {
    /// The store error for a failure that is not about revisions.
    fn into_error(self, what: &str) -> Error {
        match self {
            Rpc::OutOfRange => storage(format!("{what}: etcd answered OUT_OF_RANGE")),
            Rpc::Transient(e) | Rpc::Other(e) => storage(format!("{what}: {}", describe(&e))),
            Rpc::Timeout => storage(format!("{what}: etcd did not answer in time")),
        }
    }
}

/// A one-line cause: gRPC code and message, and the innermost cause (e.g. "Connection refused").
fn describe(e: &etcd_client::Error) -> String {
    let (mut text, mut source) = match e {
        etcd_client::Error::GRpcStatus(s) => (
            format!("{:?}: {}", s.code(), s.message()),
            std::error::Error::source(s),
        ),
        etcd_client::Error::TransportError(t) => (t.to_string(), std::error::Error::source(t)),
        other => (other.to_string(), None),
    };
    let mut innermost = None;
    while let Some(s) = source {
        innermost = Some(s.to_string());
        source = s.source();
    }
    if let Some(cause) = innermost.filter(|c| !text.contains(c.as_str())) {
        text.push_str(&format!(" ({cause})"));
    }
    text
}

fn storage(message: String) -> Error {
    Error::Storage(message.into())
}

impl EtcdBackend {
    /// Connect to the etcd cluster at `endpoints` (`host:port`, or `http(s)://host:port`) and
    /// check that it answers, retrying for up to `options.connect_timeout`.
    pub async fn connect(endpoints: &[String], options: EtcdOptions) -> Result<EtcdBackend> {
        if endpoints.is_empty() {
            return Err(storage("no etcd endpoints given".into()));
        }
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(options.connect_timeout)
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
        if let Some(tls) = &options.tls {
            connect = connect.with_tls(tls_config(tls)?);
        }
        let client = Client::connect(endpoints, Some(connect))
            .await
            .map_err(|e| {
                storage(format!(
                    "connecting to etcd at {}: {e}",
                    endpoints.join(",")
                ))
            })?;
        let mut backend = EtcdBackend {
            kv: client.kv_client().max_decoding_message_size(MAX_DECODE),
            watch: client.watch_client().max_decoding_message_size(MAX_DECODE),
            prefix: options.prefix,
            endpoints: endpoints.to_vec(),
            request_timeout: options.connect_timeout.max(Duration::from_millis(100)),
            compacted: Arc::new(AtomicI64::new(0)),
            closed: CancellationToken::new(),
        };
        let revision = match backend.current_revision().await {
            Ok(revision) => revision,
            Err(Error::Storage(cause)) => {
                return Err(storage(format!(
                    "etcd at {} did not answer within {:?}: {cause}",
                    endpoints.join(","),
                    options.connect_timeout
                )));
            }
            Err(e) => return Err(e),
        };
        tracing::info!(endpoints = %endpoints.join(","), revision, "connected to etcd");
        backend.request_timeout = options.request_timeout;
        Ok(backend)
    }

    fn full_key(&self, key: &str) -> Vec<u8> {
        format!("{}{key}", self.prefix).into_bytes()
    }

    /// A stored key-value as the trait's, with the backend prefix removed.
    fn to_kv(&self, kv: &etcd_client::KeyValue) -> Result<KeyValue> {
        convert(&self.prefix, kv)
    }

    /// One range request, retried on transient failures within the request timeout.
    async fn range(&self, key: Vec<u8>, opts: GetOptions) -> Result<GetResponse, Rpc> {
        let kv = self.kv.clone();
        retry_reads(self.request_timeout, move || {
            let mut kv = kv.clone();
            let key = key.clone();
            let opts = opts.clone();
            async move { kv.get(key, Some(opts)).await }
        })
        .await
    }

    /// One transaction; not retried (it may have been applied when the connection broke).
    async fn txn(&self, txn: Txn, what: &str) -> Result<TxnResponse> {
        let mut kv = self.kv.clone();
        match tokio::time::timeout(self.request_timeout, kv.txn(txn)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(Rpc::from(e).into_error(what)),
            Err(_) => Err(Rpc::Timeout.into_error(what)),
        }
    }

    /// The error for a read at `requested` that etcd refused as out of range.
    async fn revision_error(&self, requested: Revision) -> Error {
        let current = match self.current_revision().await {
            Ok(current) => current,
            Err(e) => return e,
        };
        if requested > current {
            return Error::FutureRevision { requested, current };
        }
        // tonic also reports an oversized message as OUT_OF_RANGE: only a revision that really
        // is unreadable now makes this `Compacted`.
        match self.readable(requested).await {
            Ok(false) if requested > 0 => {}
            Ok(_) => {
                return storage(format!(
                    "etcd answered OUT_OF_RANGE for a read at revision {requested} (current \
                     {current}), which is not compacted; an answer over the message size limit?"
                ));
            }
            Err(e) => return e,
        }
        self.note_compacted(requested + 1);
        match self.compacted_revision().await {
            Ok(compacted) => Error::Compacted {
                requested,
                compacted,
            },
            Err(e) => e,
        }
    }

    fn note_compacted(&self, revision: Revision) {
        self.compacted.fetch_max(revision, Ordering::Relaxed);
    }

    /// Whether a read at `revision` is still served (not compacted away).
    async fn readable(&self, revision: Revision) -> Result<bool> {
        let opts = GetOptions::new().with_revision(revision).with_count_only();
        match self.range(PROBE_KEY.to_vec(), opts).await {
            Ok(_) => Ok(true),
            Err(Rpc::OutOfRange) => Ok(false),
            Err(e) => Err(e.into_error("probing etcd's compacted revision")),
        }
    }

    /// The revision a list is read at and its first page.
    async fn list_page(
        &self,
        start: Vec<u8>,
        end: &[u8],
        revision: Revision,
        limit: i64,
    ) -> Result<GetResponse> {
        let opts = GetOptions::new()
            .with_range(end.to_vec())
            .with_revision(revision.max(0))
            .with_limit(limit);
        match self.range(start, opts).await {
            Ok(resp) => Ok(resp),
            Err(Rpc::OutOfRange) => Err(self.revision_error(revision).await),
            Err(e) => Err(e.into_error("listing from etcd")),
        }
    }
}

/// Build tonic's TLS settings from PEM files.
fn tls_config(tls: &EtcdTls) -> Result<etcd_client::TlsOptions> {
    let read = |path: &PathBuf, what: &str| {
        std::fs::read(path)
            .map_err(|e| storage(format!("reading the etcd {what} {}: {e}", path.display())))
    };
    let mut config = etcd_client::TlsOptions::new();
    if let Some(ca) = &tls.ca {
        config = config.ca_certificate(etcd_client::Certificate::from_pem(read(ca, "CA")?));
    }
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            config = config.identity(etcd_client::Identity::from_pem(
                read(cert, "client certificate")?,
                read(key, "client key")?,
            ));
        }
        (None, None) => {}
        _ => {
            return Err(storage(
                "an etcd client certificate and key must be given together".into(),
            ));
        }
    }
    Ok(config)
}

/// Run a read, retrying transient failures with back-off until `budget` is spent.
async fn retry_reads<T, F, Fut>(budget: Duration, mut call: F) -> Result<T, Rpc>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    let deadline = tokio::time::Instant::now() + budget;
    let mut pause = BACKOFF_START;
    loop {
        let failure = match tokio::time::timeout_at(deadline, call()).await {
            Err(_) => return Err(Rpc::Timeout),
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => Rpc::from(e),
        };
        match failure {
            Rpc::Transient(e) if tokio::time::Instant::now() + pause < deadline => {
                tracing::debug!(error = %e, "etcd read failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(BACKOFF_MAX);
            }
            other => return Err(other),
        }
    }
}

/// `key` without the backend prefix, as UTF-8.
fn strip(prefix: &str, key: &[u8]) -> Result<String> {
    let key = std::str::from_utf8(key)
        .map_err(|e| storage(format!("a key stored in etcd is not UTF-8: {e}")))?;
    key.strip_prefix(prefix).map(str::to_owned).ok_or_else(|| {
        storage(format!(
            "etcd returned {key:?}, outside the prefix {prefix:?}"
        ))
    })
}

/// The end of the etcd range holding every key that starts with `prefix` (etcd's
/// `GetPrefixRangeEnd`; `\0` means "to the end" for the empty prefix).
fn range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The first key of the range of keys starting with `prefix`: etcd refuses an empty key, and
/// `\0` is the smallest non-empty one.
fn range_start(prefix: Vec<u8>) -> Vec<u8> {
    if prefix.is_empty() { vec![0] } else { prefix }
}

/// The first response of a transaction's branch.
fn first_op(resp: &TxnResponse) -> Option<TxnOpResponse> {
    resp.op_responses().into_iter().next()
}

fn header_revision(resp: &TxnResponse) -> Result<Revision> {
    resp.header()
        .map(|h| h.revision())
        .ok_or_else(|| storage("etcd answered without a response header".into()))
}

#[async_trait::async_trait]
impl Backend for EtcdBackend {
    fn name(&self) -> &'static str {
        "etcd"
    }

    async fn get(&self, key: &str, revision: Revision) -> Result<Option<KeyValue>> {
        let opts = GetOptions::new().with_revision(revision.max(0));
        match self.range(self.full_key(key), opts).await {
            Ok(resp) => resp.kvs().first().map(|kv| self.to_kv(kv)).transpose(),
            Err(Rpc::OutOfRange) => Err(self.revision_error(revision).await),
            Err(e) => Err(e.into_error(&format!("reading {key:?} from etcd"))),
        }
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        let full_prefix = self.full_key(prefix);
        let end = range_end(&full_prefix);
        let mut start = match &opts.after {
            Some(after) if after.as_str() >= prefix => {
                let mut next = self.full_key(after);
                next.push(0);
                next
            }
            _ => range_start(full_prefix),
        };
        let limit = i64::try_from(opts.limit).unwrap_or(i64::MAX);
        if limit > 0 {
            let resp = self.list_page(start, &end, opts.revision, limit).await?;
            let items = resp
                .kvs()
                .iter()
                .map(|kv| self.to_kv(kv))
                .collect::<Result<Vec<_>>>()?;
            let remaining = u64::try_from(resp.count())
                .unwrap_or(0)
                .saturating_sub(items.len() as u64);
            let revision = match opts.revision {
                r if r > 0 => r,
                _ => resp.header().map_or(0, |h| h.revision()),
            };
            return Ok(ListResult {
                items,
                revision,
                more: resp.more(),
                remaining,
            });
        }
        // No limit: read every page at the revision of the first.
        let mut revision = opts.revision;
        let mut items = Vec::new();
        loop {
            let resp = self.list_page(start, &end, revision, LIST_PAGE).await?;
            if revision <= 0 {
                revision = resp.header().map_or(0, |h| h.revision());
            }
            for kv in resp.kvs() {
                items.push(self.to_kv(kv)?);
            }
            match resp.kvs().last() {
                Some(last) if resp.more() => {
                    start = last.key().to_vec();
                    start.push(0);
                }
                _ => break,
            }
        }
        Ok(ListResult {
            items,
            revision,
            more: false,
            remaining: 0,
        })
    }

    async fn count(&self, prefix: &str) -> Result<u64> {
        let full_prefix = self.full_key(prefix);
        let opts = GetOptions::new()
            .with_range(range_end(&full_prefix))
            .with_count_only();
        match self.range(range_start(full_prefix), opts).await {
            Ok(resp) => Ok(u64::try_from(resp.count()).unwrap_or(0)),
            Err(e) => Err(e.into_error(&format!("counting {prefix:?} in etcd"))),
        }
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        let full = self.full_key(key);
        let txn = Txn::new()
            .when([Compare::create_revision(full.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(full, value.clone(), None)]);
        let resp = self.txn(txn, &format!("creating {key:?} in etcd")).await?;
        if !resp.succeeded() {
            return Err(Error::KeyExists(key.to_owned()));
        }
        let revision = header_revision(&resp)?;
        Ok(KeyValue {
            key: key.to_owned(),
            value,
            create_revision: revision,
            mod_revision: revision,
        })
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue> {
        let full = self.full_key(key);
        let txn = Txn::new()
            .when([
                Compare::version(full.clone(), CompareOp::Greater, 0),
                Compare::mod_revision(full.clone(), CompareOp::Equal, expected),
            ])
            .and_then([TxnOp::put(
                full.clone(),
                value.clone(),
                Some(PutOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(full, None)]);
        let resp = self.txn(txn, &format!("updating {key:?} in etcd")).await?;
        if !resp.succeeded() {
            return Err(self.failed_compare(key, expected, &resp)?);
        }
        let revision = header_revision(&resp)?;
        let create_revision = match first_op(&resp) {
            Some(TxnOpResponse::Put(put)) => put.prev_key().map(|kv| kv.create_revision()),
            _ => None,
        }
        .ok_or_else(|| {
            storage(format!(
                "etcd's update of {key:?} returned no previous value"
            ))
        })?;
        Ok(KeyValue {
            key: key.to_owned(),
            value,
            create_revision,
            mod_revision: revision,
        })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Event> {
        let full = self.full_key(key);
        let mut compares = vec![Compare::version(full.clone(), CompareOp::Greater, 0)];
        if let Some(expected) = expected {
            compares.push(Compare::mod_revision(
                full.clone(),
                CompareOp::Equal,
                expected,
            ));
        }
        let txn = Txn::new()
            .when(compares)
            .and_then([TxnOp::delete(
                full.clone(),
                Some(etcd_client::DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(full, None)]);
        let resp = self
            .txn(txn, &format!("deleting {key:?} from etcd"))
            .await?;
        if !resp.succeeded() {
            return Err(self.failed_compare(key, expected.unwrap_or(0), &resp)?);
        }
        let revision = header_revision(&resp)?;
        let prev = match first_op(&resp) {
            Some(TxnOpResponse::Delete(del)) => del.prev_kvs().first().map(|kv| self.to_kv(kv)),
            _ => None,
        }
        .transpose()?
        .ok_or_else(|| {
            storage(format!(
                "etcd's delete of {key:?} returned no previous value"
            ))
        })?;
        Ok(Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                key: key.to_owned(),
                value: Vec::new(),
                create_revision: prev.create_revision,
                mod_revision: revision,
            },
            prev: Some(prev),
        })
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream> {
        // "From now" is from the current revision, read before the watch starts, so nothing
        // written after this call returns can be missed.
        let from = match from {
            f if f > 0 => f,
            _ => self.current_revision().await?,
        };
        let key = self.full_key(prefix);
        let mut watch = EtcdWatch {
            client: self.watch.clone(),
            end: range_end(&key),
            key: range_start(key),
            prefix: self.prefix.clone(),
            stream: None,
            watermark: from,
            pending: VecDeque::new(),
            compacted: self.compacted.clone(),
            closed: self.closed.clone(),
            budget: self.request_timeout,
            failure: None,
            done: false,
        };
        watch.open_with_retry().await?;
        let stream = futures::stream::unfold(watch, |mut watch| async move {
            let item = watch.next().await?;
            Some((item, watch))
        });
        Ok(stream.boxed())
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let mut kv = self.kv.clone();
        let opts = CompactionOptions::new().with_physical();
        let answer = tokio::time::timeout(self.request_timeout, kv.compact(revision, Some(opts)));
        match answer
            .await
            .map_err(|_| Rpc::Timeout)
            .and_then(|r| r.map_err(Rpc::from))
        {
            Ok(_) => {
                self.note_compacted(revision);
                Ok(())
            }
            Err(Rpc::OutOfRange) => {
                let current = self.current_revision().await?;
                if revision > current {
                    return Err(Error::FutureRevision {
                        requested: revision,
                        current,
                    });
                }
                // Already compacted at or past `revision`: a no-op, as the trait allows.
                self.note_compacted(revision);
                Ok(())
            }
            Err(e) => Err(e.into_error(&format!("compacting etcd to revision {revision}"))),
        }
    }

    async fn current_revision(&self) -> Result<Revision> {
        let opts = GetOptions::new().with_count_only();
        let resp = self
            .range(PROBE_KEY.to_vec(), opts)
            .await
            .map_err(|e| e.into_error("reading etcd's current revision"))?;
        resp.header()
            .map(|h| h.revision())
            .ok_or_else(|| storage("etcd answered without a response header".into()))
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        // Smallest readable revision in [known, current]: `current` is always readable.
        let known = self.compacted.load(Ordering::Relaxed);
        let mut hi = self.current_revision().await?;
        let mut lo = known.max(1);
        if lo >= hi || self.readable(lo).await? {
            // Revision 1 readable: nothing was ever compacted away (or only etcd's empty
            // initial revision), reported as `known` (0 unless this backend compacted to 1).
            let found = lo.min(hi);
            return Ok(if found <= 1 { known } else { found });
        }
        // Invariant: `lo` is compacted, `hi` is readable.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.readable(mid).await? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        self.note_compacted(hi);
        Ok(hi)
    }
}

impl EtcdBackend {
    /// The error for a compare that failed: `NotFound` when the else branch read nothing,
    /// `Conflict` carrying the current version otherwise.
    fn failed_compare(&self, key: &str, expected: Revision, resp: &TxnResponse) -> Result<Error> {
        let current = match first_op(resp) {
            Some(TxnOpResponse::Get(get)) => get.kvs().first().map(|kv| self.to_kv(kv)),
            _ => None,
        }
        .transpose()?;
        Ok(match current {
            None => Error::NotFound(key.to_owned()),
            Some(current) => Error::Conflict {
                key: key.to_owned(),
                expected,
                current: Some(Box::new(current)),
            },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Watch

/// One watch's progress over (possibly several, after reconnects) etcd watch streams.
struct EtcdWatch {
    client: WatchClient,
    key: Vec<u8>,
    end: Vec<u8>,
    /// The backend prefix stripped from keys.
    prefix: String,
    stream: Option<etcd_client::WatchStream>,
    /// Every event at or below this revision has been delivered or queued.
    watermark: Revision,
    pending: VecDeque<Event>,
    compacted: Arc<AtomicI64>,
    closed: CancellationToken,
    /// How long to keep trying to re-establish a broken stream.
    budget: Duration,
    /// The error to deliver once the queued events are out.
    failure: Option<Error>,
    done: bool,
}

impl EtcdWatch {
    /// Start an etcd watch at `watermark` (events at it are dropped, see the module docs) and
    /// wait until etcd confirms it, so later writes are seen.
    async fn open(&mut self) -> Result<(), Rpc> {
        let opts = WatchOptions::new()
            .with_range(self.end.clone())
            .with_prev_key()
            .with_start_revision(self.watermark);
        let mut client = self.client.clone();
        let mut stream = client.watch(self.key.clone(), Some(opts)).await?;
        loop {
            let Some(resp) = stream.message().await? else {
                return Err(Rpc::Transient(etcd_client::Error::WatchError(
                    "etcd closed the watch before confirming it".into(),
                )));
            };
            let created = resp.created();
            if let Err(e) = self.absorb(resp) {
                // Refused (etcd 3.5 reports compaction at creation): the stream's first item.
                self.failure = Some(e);
                return Ok(());
            }
            if created {
                self.stream = Some(stream);
                return Ok(());
            }
        }
    }

    /// [`Self::open`], retried with back-off within the budget.
    async fn open_with_retry(&mut self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.budget;
        let mut pause = BACKOFF_START;
        loop {
            let attempt = tokio::time::timeout_at(deadline, self.open()).await;
            let failure = match attempt {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => e,
                Err(_) => Rpc::Timeout,
            };
            match failure {
                Rpc::Transient(e) if tokio::time::Instant::now() + pause < deadline => {
                    tracing::debug!(error = %e, "starting an etcd watch failed; retrying");
                    tokio::select! {
                        _ = self.closed.cancelled() => return Err(Error::Closed),
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(BACKOFF_MAX);
                }
                other => return Err(other.into_error("watching etcd")),
            }
        }
    }

    /// Queue a response's events (or turn its cancellation into the error ending the watch).
    fn absorb(&mut self, resp: etcd_client::WatchResponse) -> Result<()> {
        if resp.compact_revision() > 0 {
            let compacted = resp.compact_revision();
            self.compacted.fetch_max(compacted, Ordering::Relaxed);
            self.done = true;
            return Err(Error::Compacted {
                requested: self.watermark,
                compacted,
            });
        }
        if resp.canceled() {
            self.done = true;
            return Err(storage(format!(
                "etcd cancelled the watch: {}",
                resp.cancel_reason()
            )));
        }
        let mut newest = self.watermark;
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            let revision = kv.mod_revision();
            if revision <= self.watermark {
                continue;
            }
            newest = newest.max(revision);
            let prev = ev.prev_kv().map(|p| convert(&self.prefix, p)).transpose()?;
            let event = match ev.event_type() {
                etcd_client::EventType::Put => Event {
                    kind: EventKind::Put,
                    kv: convert(&self.prefix, kv)?,
                    prev,
                },
                etcd_client::EventType::Delete => Event {
                    kind: EventKind::Delete,
                    kv: KeyValue {
                        key: strip(&self.prefix, kv.key())?,
                        value: Vec::new(),
                        create_revision: prev.as_ref().map_or(0, |p| p.create_revision),
                        mod_revision: revision,
                    },
                    prev,
                },
            };
            self.pending.push_back(event);
        }
        self.watermark = newest;
        Ok(())
    }

    /// The next event (or the error that ends the watch); `None` once it has ended.
    async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if let Some(failure) = self.failure.take() {
                return Some(Err(failure));
            }
            if self.done {
                return None;
            }
            let Some(stream) = self.stream.as_mut() else {
                if let Err(e) = self.open_with_retry().await {
                    self.done = true;
                    return Some(Err(e));
                }
                continue;
            };
            let message = tokio::select! {
                _ = self.closed.cancelled() => {
                    self.done = true;
                    return Some(Err(Error::Closed));
                }
                message = stream.message() => message,
            };
            match message {
                Ok(Some(resp)) => {
                    if let Err(e) = self.absorb(resp) {
                        return Some(Err(e));
                    }
                }
                Ok(None) => {
                    tracing::debug!("etcd ended a watch stream; resuming");
                    self.stream = None;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "an etcd watch stream broke; resuming");
                    self.stream = None;
                }
            }
        }
    }
}

/// A stored key-value as the trait's, with `prefix` removed from its key.
fn convert(prefix: &str, kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    Ok(KeyValue {
        key: strip(prefix, kv.key())?,
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_end_covers_exactly_the_prefix() {
        assert_eq!(range_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(range_end(b""), vec![0]);
        assert_eq!(range_end(b"a\xff"), b"b".to_vec());
        assert_eq!(range_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn strip_removes_the_prefix_or_fails() {
        assert_eq!(strip("/t1", b"/t1/registry/x").unwrap(), "/registry/x");
        assert_eq!(strip("", b"/registry/x").unwrap(), "/registry/x");
        assert!(matches!(strip("/t1", b"/t2/x"), Err(Error::Storage(_))));
    }
}
