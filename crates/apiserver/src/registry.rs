//! The generic object registry: create, get, list, update, delete for every resource over the
//! store, with the metadata rules kube-apiserver applies (uid, creationTimestamp, generation,
//! generateName, optimistic concurrency, status split, finalizers, graceful deletion,
//! namespace lifecycle, dry run).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use api::{ApiError, GroupResource, ResourceInfo, selector, validation};
use base64::Engine;
use serde_json::{Value, json};
use store::{Backend, ListOptions};

use crate::codec::{self, meta_mut, meta_str};
use crate::mirror::Mirror;

/// Finalizer the server adds on `propagationPolicy=Orphan`.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// Finalizer the server adds on `propagationPolicy=Foreground`.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// The namespace spec finalizer the namespace controller removes once contents are gone.
pub const NAMESPACE_FINALIZER: &str = "kubernetes";
/// Largest page a list serves at once, whatever `limit` asks.
const MAX_PAGE: usize = 10_000;
/// How many times a write retries after losing a race with another writer.
const MAX_RETRIES: usize = 16;

/// The table of served resources: the built-ins plus the served versions of established
/// CustomResourceDefinitions. Readers take a cheap snapshot; a CRD change swaps the table and
/// bumps `generation` (OpenAPI documents are cached per generation).
#[derive(Debug)]
pub struct Resources {
    builtin: Vec<ResourceInfo>,
    table: RwLock<Arc<Vec<ResourceInfo>>>,
    generation: AtomicU64,
}

impl Resources {
    /// The built-in resources.
    pub fn builtin() -> Self {
        let builtin = api::resources::builtin();
        Resources {
            table: RwLock::new(Arc::new(builtin.clone())),
            builtin,
            generation: AtomicU64::new(0),
        }
    }

    /// Every served resource in discovery order (a snapshot).
    pub fn all(&self) -> Arc<Vec<ResourceInfo>> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counts table changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Replaces the custom resources with `custom` (built-ins always win a clash).
    pub fn set_custom(&self, custom: Vec<ResourceInfo>) {
        let mut list = self.builtin.clone();
        for r in custom {
            if !list
                .iter()
                .any(|b| b.group == r.group && b.version == r.version && b.plural == r.plural)
            {
                list.push(r);
            }
        }
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        let changed = table.len() != list.len()
            || table.iter().zip(&list).any(|(a, b)| {
                (
                    a.group,
                    a.version,
                    a.plural,
                    a.kind,
                    a.namespaced,
                    a.subresources,
                    a.short_names,
                ) != (
                    b.group,
                    b.version,
                    b.plural,
                    b.kind,
                    b.namespaced,
                    b.subresources,
                    b.short_names,
                ) || a.custom != b.custom
            });
        if changed {
            *table = Arc::new(list);
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The resource served at group/version/plural.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<ResourceInfo> {
        self.all()
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .cloned()
    }

    /// Whether a group/version is served at all.
    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.all()
            .iter()
            .any(|r| r.group == group && r.version == version)
    }

    /// The namespaces resource.
    pub fn namespaces(&self) -> Option<ResourceInfo> {
        self.find("", "v1", "namespaces")
    }
}

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: validate and answer, but store nothing.
    pub dry_run: bool,
    /// The field manager the write's changed fields are recorded for (operation
    /// `Update`); `None` keeps the body's `managedFields` as they are.
    pub manager: Option<String>,
    /// The subresource a write through the main resource's storage is recorded under
    /// (`scale`), instead of the one it is stored through.
    pub manager_subresource: Option<String>,
}

/// What a delete asked for (query parameters and/or a DeleteOptions body).
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

/// How a delete ended.
#[derive(Debug)]
pub enum Deleted {
    /// Removed from storage; the last state of the object.
    Gone(Value),
    /// Marked for deletion (deletionTimestamp set); finalizers or a grace period remain.
    Pending(Value),
}

/// Parameters of a list (and of a watch's initial state).
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub limit: Option<i64>,
    pub continue_token: Option<String>,
}

/// A page of a list.
#[derive(Debug)]
pub struct ListPage {
    pub items: Vec<Value>,
    pub resource_version: i64,
    pub continue_token: Option<String>,
    pub remaining: Option<u64>,
}

/// Parsed selectors of a list or watch.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    label: Option<selector::LabelSelector>,
    field: Option<selector::FieldSelector>,
    group: &'static str,
    plural: &'static str,
}

impl Filter {
    /// Parses `labelSelector` / `fieldSelector`; 400 when either is malformed or unsupported.
    pub fn new(
        info: &ResourceInfo,
        label: Option<&str>,
        field: Option<&str>,
    ) -> Result<Filter, ApiError> {
        let label = label
            .map(selector::LabelSelector::parse)
            .transpose()
            .map_err(ApiError::BadRequest)?;
        let field = field
            .map(selector::FieldSelector::parse)
            .transpose()
            .map_err(ApiError::BadRequest)?;
        if let Some(f) = &field {
            selector::check_supported(info.group, info.plural, f).map_err(ApiError::BadRequest)?;
        }
        Ok(Filter {
            label,
            field,
            group: info.group,
            plural: info.plural,
        })
    }

    /// True when nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.label.is_none() && self.field.is_none()
    }

    /// Whether an object passes both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(l) = &self.label
            && !l.matches(&codec::labels(obj))
        {
            return false;
        }
        if let Some(f) = &self.field
            && !f.matches(|field| selector::field_value(self.group, self.plural, obj, field))
        {
            return false;
        }
        true
    }
}

/// The object registry over one store.
pub struct Registry {
    store: Arc<dyn Backend>,
    resources: Arc<Resources>,
    /// The service CIDR, or why the configured one is unusable.
    service_cidr: Result<crate::services::ServiceCidr, String>,
    /// Held while a Service's addresses are chosen and it is stored.
    service_allocation: tokio::sync::Mutex<()>,
    /// Admission plugins the binary added, run in order after the built-in ones.
    plugins: std::sync::RwLock<Vec<Arc<dyn api::admission::AdmissionPlugin>>>,
    /// Held while the custom part of the resource table is rebuilt, so a rebuild from an
    /// older list of CRDs never lands after a newer one.
    custom_refresh: tokio::sync::Mutex<()>,
    /// Live copies of what admission reads on every create: namespaces, service accounts,
    /// priority classes.
    mirrors: Vec<Arc<Mirror>>,
    /// Set once the mirrors' watches are started.
    mirrors_started: std::sync::atomic::AtomicBool,
}

/// The resources (group, plural; version v1) admission reads on every create, kept in
/// [`Mirror`]s.
const MIRRORED: [(&str, &str); 3] = [
    ("", "namespaces"),
    ("", "serviceaccounts"),
    ("scheduling.k8s.io", "priorityclasses"),
];

/// The key of the cluster's identity, outside the object keyspace.
pub const CLUSTER_KEY: &str = "/skiff.dev/cluster";

fn now_rfc3339() -> String {
    crate::clock::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn gr(info: &ResourceInfo) -> GroupResource {
    GroupResource::new(info.group, info.plural)
}

fn qualified_kind(info: &ResourceInfo) -> String {
    info.kind.to_string()
}

fn store_err(e: store::Error) -> ApiError {
    match e {
        store::Error::Compacted {
            requested,
            compacted,
        } => ApiError::Expired(format!(
            "too old resource version: {requested} ({compacted})"
        )),
        store::Error::FutureRevision { requested, current } => ApiError::Timeout(format!(
            "Too large resource version: {requested}, current: {current}"
        )),
        store::Error::Closed => {
            ApiError::Unavailable("the storage backend is shutting down".into())
        }
        other => ApiError::Internal(other.to_string()),
    }
}

/// Resources whose objects carry `metadata.generation` (those with a desired-state spec).
fn tracks_generation(info: &ResourceInfo) -> bool {
    matches!(
        (info.group, info.plural),
        ("apps", _)
            | ("batch", _)
            | ("", "pods")
            | ("", "replicationcontrollers")
            | ("autoscaling", _)
            | ("policy", "poddisruptionbudgets")
            | ("networking.k8s.io", "ingresses" | "networkpolicies")
            | ("apiextensions.k8s.io", _)
    ) || info.custom.is_some()
}

/// Whether `info` is the CustomResourceDefinitions resource.
pub fn is_crd(info: &ResourceInfo) -> bool {
    info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions"
}

/// The propagation policy a delete gets when it names none, where upstream's strategy is not
/// the usual Background: batch/v1 Jobs and core ReplicationControllers keep their dependents
/// (`DefaultGarbageCollectionPolicy` returns OrphanDependents for them).
pub fn default_propagation(info: &ResourceInfo) -> Option<&'static str> {
    match (info.group, info.plural) {
        ("batch", "jobs") | ("", "replicationcontrollers") => Some("Orphan"),
        _ => None,
    }
}

/// Resources whose PUT may create a missing object (upstream `AllowCreateOnUpdate`).
fn allows_create_on_update(info: &ResourceInfo) -> bool {
    matches!(
        (info.group, info.plural),
        ("", "endpoints" | "events")
            | ("coordination.k8s.io", "leases")
            | ("events.k8s.io", "events")
            | ("rbac.authorization.k8s.io", _)
            | ("discovery.k8s.io", "endpointslices")
    )
}

/// Everything but metadata and status: what a generation change tracks.
fn desired_state(obj: &Value) -> Value {
    match obj.as_object() {
        Some(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        None => Value::Null,
    }
}

/// Random suffix for generateName, from the same alphabet upstream uses.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: i64,
    start: String,
    /// The objects after `start` at `rv`, when the page that issued the token counted them
    /// (lists without selectors): every page is read at `rv`, so the next page's
    /// `remainingItemCount` follows without counting again. Not in upstream's token, whose
    /// `remainingItemCount` comes from etcd's count of the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remaining: Option<u64>,
}

/// Whether a stored object may pass `filter`: judged on its [`codec::selector_view`] for
/// resources served in their storage form (the view answers as the whole object would), else
/// left to the caller's judgement of the decoded object.
fn may_match(info: &ResourceInfo, filter: &Filter, kv: &store::KeyValue) -> bool {
    if filter.is_empty() || info.is_converted() {
        return true;
    }
    codec::selector_view(&kv.value).is_none_or(|view| filter.matches(&view))
}

fn encode_continue(rv: i64, start: &str, remaining: Option<u64>) -> String {
    let token = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: start.to_string(),
        remaining,
    };
    base64::engine::general_purpose::URL_SAFE.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_continue(token: &str) -> Result<ContinueToken, ApiError> {
    let bad = || {
        ApiError::BadRequest("continue key is not valid: the continue token is malformed".into())
    };
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .map_err(|_| bad())?;
    let t: ContinueToken = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if t.v != "meta.k8s.io/v1" || t.rv <= 0 || t.start.contains("..") {
        return Err(bad());
    }
    Ok(t)
}

fn parse_rv(rv: &str) -> Result<i64, ApiError> {
    rv.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "invalid resource version {rv:?}: must be a non-negative integer"
        ))
    })
}

impl Registry {
    /// A registry over `store` serving `resources`.
    pub fn new(store: Arc<dyn Backend>, resources: Arc<Resources>) -> Self {
        let mirrors = MIRRORED
            .iter()
            .filter_map(|(group, plural)| resources.find(group, "v1", plural))
            .map(|info| Arc::new(Mirror::new(info)))
            .collect();
        Registry {
            store,
            resources,
            service_cidr: crate::services::ServiceCidr::parse(crate::DEFAULT_SERVICE_CIDR),
            service_allocation: tokio::sync::Mutex::new(()),
            plugins: std::sync::RwLock::new(Vec::new()),
            custom_refresh: tokio::sync::Mutex::new(()),
            mirrors,
            mirrors_started: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Starts following the mirrored resources (once; later calls do nothing).
    pub fn start_mirrors(&self, shutdown: tokio_util::sync::CancellationToken) {
        if self.mirrors_started.swap(true, Ordering::SeqCst) {
            return;
        }
        for mirror in &self.mirrors {
            tokio::spawn(mirror.clone().run(self.store.clone(), shutdown.clone()));
        }
    }

    fn mirror_of(&self, key: &str) -> Option<&Arc<Mirror>> {
        self.mirrors.iter().find(|m| m.holds(key))
    }

    /// Tells the mirrors about a version this server stored.
    fn stored(&self, kv: &store::KeyValue) {
        if let Some(mirror) = self.mirror_of(&kv.key) {
            mirror.put(kv);
        }
    }

    /// Tells the mirrors about a delete this server made.
    fn removed(&self, key: &str, revision: i64) {
        if let Some(mirror) = self.mirror_of(key) {
            mirror.deleted(key, revision);
        }
    }

    /// An object as admission reads it: from the mirror of its resource when that holds it,
    /// else from the store (as [`Registry::get`]).
    pub async fn get_for_admission(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let key = Self::key(info, ns, name);
        if let Some(object) = self.mirror_of(&key).and_then(|m| m.get(&key)) {
            return Ok(Value::clone(&object));
        }
        self.get(info, ns, name, None).await
    }

    /// Every object of a cluster-scoped resource as admission reads them: from its mirror
    /// when that is filled, else listed from the store.
    pub async fn all_for_admission(&self, info: &ResourceInfo) -> Result<Vec<Value>, ApiError> {
        if let Some(objects) = self.mirror_of(&info.key_prefix()).and_then(|m| m.objects()) {
            return Ok(objects.iter().map(|o| Value::clone(o)).collect());
        }
        Ok(self.list(info, None, &ListParams::default()).await?.items)
    }

    /// Adds an admission plugin, run on creates after the built-in plugins.
    pub fn add_admission_plugin(&self, plugin: Arc<dyn api::admission::AdmissionPlugin>) {
        if let Ok(mut plugins) = self.plugins.write() {
            plugins.push(plugin);
        }
    }

    /// Runs the added admission plugins on an object about to be created.
    async fn run_admission_plugins(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        dry_run: bool,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        let plugins = match self.plugins.read() {
            Ok(plugins) => plugins.clone(),
            Err(_) => return Ok(()),
        };
        for plugin in plugins {
            let request = api::admission::CreateRequest {
                group: info.group,
                resource: info.plural,
                namespace: ns,
                dry_run,
            };
            plugin.admit_create(request, obj).await?;
        }
        Ok(())
    }

    /// Sets the service CIDR (`a.b.c.d/n`) ClusterIPs are allocated from.
    pub fn with_service_cidr(mut self, cidr: &str) -> Self {
        self.service_cidr = crate::services::ServiceCidr::parse(cidr);
        self
    }

    /// The service CIDR; 500 when the configured one is unusable.
    pub fn service_cidr(&self) -> Result<crate::services::ServiceCidr, ApiError> {
        self.service_cidr.clone().map_err(ApiError::Internal)
    }

    /// The served resources.
    pub fn resources(&self) -> &Arc<Resources> {
        &self.resources
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn Backend> {
        &self.store
    }

    fn key(info: &ResourceInfo, ns: Option<&str>, name: &str) -> String {
        info.key(ns, name)
    }

    /// Every stored CustomResourceDefinition.
    pub async fn list_crds(&self) -> Result<Vec<Value>, ApiError> {
        let Some(info) =
            self.resources
                .find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        else {
            return Ok(Vec::new());
        };
        let page = self
            .store
            .list(&info.key_prefix(), ListOptions::default())
            .await
            .map_err(store_err)?;
        page.items
            .iter()
            .map(|kv| codec::decode(&info, kv))
            .collect()
    }

    /// Rebuilds the custom part of the resource table from the stored CRDs: the served
    /// versions of every established CRD (terminating ones stay served until removed).
    pub async fn refresh_custom_resources(&self) -> Result<(), ApiError> {
        let _serial = self.custom_refresh.lock().await;
        let crds = self.list_crds().await?;
        let custom = crds
            .iter()
            .filter(|c| api::crd::is_established(c))
            .flat_map(api::crd::resources_for)
            .collect();
        self.resources.set_custom(custom);
        Ok(())
    }

    /// Reads one object (`resourceVersion` semantics of GET: unset/0 = latest; N = not older than N).
    pub async fn get(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        rv: Option<&str>,
    ) -> Result<Value, ApiError> {
        if let Some(rv) = rv {
            let want = parse_rv(rv)?;
            let current = self.store.current_revision().await.map_err(store_err)?;
            if want > current {
                return Err(store_err(store::Error::FutureRevision {
                    requested: want,
                    current,
                }));
            }
        }
        let kv = self
            .store
            .get(&Self::key(info, ns, name), 0)
            .await
            .map_err(store_err)?;
        match kv {
            Some(kv) => codec::decode(info, &kv),
            None => Err(ApiError::NotFound {
                resource: gr(info),
                name: name.to_string(),
            }),
        }
    }

    /// Lists objects of `info` (in `ns`, or all namespaces) with selectors and paging.
    pub async fn list(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        params: &ListParams,
    ) -> Result<ListPage, ApiError> {
        let filter = Filter::new(
            info,
            params.label_selector.as_deref(),
            params.field_selector.as_deref(),
        )?;
        let prefix = match ns {
            Some(ns) if info.namespaced => info.namespace_prefix(ns),
            _ => info.key_prefix(),
        };
        let (mut revision, mut after) = (0i64, None::<String>);
        let mut carried: Option<u64> = None;
        if let Some(token) = &params.continue_token {
            if params
                .resource_version
                .as_deref()
                .is_some_and(|rv| !rv.is_empty() && rv != "0")
            {
                return Err(ApiError::BadRequest(
                    "specifying resource version is not allowed when using continue".into(),
                ));
            }
            let t = decode_continue(token)?;
            revision = t.rv;
            after = Some(format!("{prefix}{}", t.start));
            carried = t.remaining.filter(|_| filter.is_empty());
        } else if let Some(rv) = params.resource_version.as_deref() {
            let want = parse_rv(rv)?;
            match params.resource_version_match.as_deref() {
                Some("Exact") => {
                    if want == 0 {
                        return Err(ApiError::BadRequest(
                            "resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\""
                                .into(),
                        ));
                    }
                    revision = want;
                }
                None | Some("NotOlderThan") => {
                    let current = self.store.current_revision().await.map_err(store_err)?;
                    if want > current {
                        return Err(store_err(store::Error::FutureRevision {
                            requested: want,
                            current,
                        }));
                    }
                }
                Some(other) => {
                    return Err(ApiError::BadRequest(format!(
                        "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
                    )));
                }
            }
        } else if params.resource_version_match.is_some() {
            return Err(ApiError::BadRequest(
                "resourceVersionMatch is forbidden unless resourceVersion is provided".into(),
            ));
        }
        let limit = params
            .limit
            .map(|l| (l as usize).min(MAX_PAGE))
            .unwrap_or(0);
        let mut items = Vec::new();
        let mut served_revision;
        let mut last_key: Option<String>;
        let mut more;
        let mut remaining = None;
        loop {
            let page = self
                .store
                .list(
                    &prefix,
                    ListOptions {
                        revision,
                        limit: if limit == 0 { 0 } else { limit.max(1) },
                        after: after.clone(),
                        // A filtered list reports no count; a later page of an unfiltered
                        // one knows it from the token.
                        skip_count: !filter.is_empty() || carried.is_some(),
                    },
                )
                .await
                .map_err(|e| match (e, &params.continue_token) {
                    (store::Error::Compacted { .. }, Some(_)) => ApiError::Expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".into(),
                    ),
                    (e, _) => store_err(e),
                })?;
            served_revision = page.revision;
            revision = page.revision;
            more = page.more;
            last_key = page.items.last().map(|kv| kv.key.clone());
            for kv in &page.items {
                // Selectors are judged on the cheap view where the stored form is the served
                // one, so a selective list decodes only what it returns.
                if !may_match(info, &filter, kv) {
                    continue;
                }
                let obj = codec::decode(info, kv)?;
                if filter.matches(&obj) {
                    items.push(obj);
                    if limit > 0 && items.len() >= limit {
                        // Stop here: anything after this key belongs to the next page.
                        let cut_at = kv.key.clone();
                        more = more || page.items.last().map(|l| l.key != cut_at).unwrap_or(false);
                        last_key = Some(cut_at);
                        break;
                    }
                }
            }
            if filter.is_empty() && more {
                remaining = Some(match carried {
                    Some(before) => before.saturating_sub(page.items.len() as u64),
                    None => page.remaining,
                });
            }
            if limit == 0 || items.len() >= limit || !more {
                break;
            }
            after = last_key.clone();
        }
        let continue_token = match (more, &last_key) {
            (true, Some(k)) => Some(encode_continue(
                served_revision,
                k.strip_prefix(&prefix).unwrap_or(k),
                remaining,
            )),
            _ => None,
        };
        Ok(ListPage {
            items,
            resource_version: served_revision,
            continue_token,
            remaining: if more { remaining } else { None },
        })
    }

    /// The namespace an object is created or changed in must exist and not be terminating.
    async fn check_namespace_open(
        &self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        let Some(ns_info) = self.resources.namespaces() else {
            return Ok(());
        };
        // A missing namespace answers `namespaces "<ns>" not found`, as the get does.
        let obj = self.get_for_admission(&ns_info, None, ns).await?;
        if meta_str(&obj, "deletionTimestamp").is_some() || obj["status"]["phase"] == "Terminating"
        {
            return Err(ApiError::Forbidden {
                resource: gr(info),
                name: name.to_string(),
                detail: format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            });
        }
        Ok(())
    }

    /// Checks apiVersion/kind of a request body against the endpoint, filling them when absent.
    fn check_type(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
        let Some(map) = obj.as_object_mut() else {
            return Err(ApiError::BadRequest(format!(
                "the body of the request is not a {} object: expected a JSON object",
                info.kind
            )));
        };
        let api_version = info.api_version();
        match map.get("apiVersion").and_then(Value::as_str) {
            None | Some("") => {
                map.insert("apiVersion".into(), json!(api_version));
            }
            Some(v) if v == api_version => {}
            Some(v) => {
                return Err(ApiError::BadRequest(format!(
                    "the API version in the data ({v}) does not match the expected API version ({api_version})"
                )));
            }
        }
        match map.get("kind").and_then(Value::as_str) {
            None | Some("") => {
                map.insert("kind".into(), json!(info.kind));
            }
            Some(k) if k == info.kind => {}
            Some(k) => {
                return Err(ApiError::BadRequest(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    info.kind
                )));
            }
        }
        Ok(())
    }

    /// Decodes through the typed model: wrong field types are a 400 as upstream's decoder gives.
    fn normalize(info: &ResourceInfo, mut obj: Value) -> Result<Value, ApiError> {
        if let Some(cr) = &info.custom {
            // Custom resources: structural pruning and defaulting instead of a typed decode.
            api::crd::process(&mut obj, cr);
            return Ok(obj);
        }
        (info.normalize)(obj).map_err(|e| {
            ApiError::BadRequest(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}",
                kind = info.kind,
                version = info.version
            ))
        })
    }

    fn invalid(info: &ResourceInfo, name: &str, causes: Vec<validation::FieldError>) -> ApiError {
        ApiError::Invalid {
            group: info.group.to_string(),
            kind: qualified_kind(info),
            name: name.to_string(),
            causes,
        }
    }

    /// Creates an object (POST).
    pub async fn create(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        Self::check_type(info, &mut obj)?;
        let is_service = (info.group, info.plural) == ("", "services");
        // Addresses are chosen and stored under one lock, so no two Services get the same.
        let _allocation = if is_service {
            Some(self.service_allocation.lock().await)
        } else {
            None
        };
        let meta = meta_mut(&mut obj)
            .ok_or_else(|| ApiError::BadRequest("metadata must be an object".into()))?;
        if info.namespaced {
            let url_ns = ns.unwrap_or_default();
            match meta.get("namespace").and_then(Value::as_str) {
                Some(body_ns) if !body_ns.is_empty() && body_ns != url_ns => {
                    return Err(ApiError::BadRequest(
                        "the namespace of the provided object does not match the namespace sent on the request".into(),
                    ));
                }
                _ => {
                    meta.insert("namespace".into(), json!(url_ns));
                }
            }
        } else {
            meta.remove("namespace");
        }
        for field in [
            "uid",
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "generation",
        ] {
            meta.remove(field);
        }
        let generated = meta
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            && meta
                .get("generateName")
                .and_then(Value::as_str)
                .is_some_and(|g| !g.is_empty());
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        if tracks_generation(info) {
            meta.insert("generation".into(), json!(1));
        }
        prepare_for_create(info, &mut obj);
        let mut obj = Self::normalize(info, obj)?;
        api::defaults::apply(info.group, info.plural, &mut obj);
        crate::admission::admit_create(self, info, &mut obj).await?;
        if info.group.is_empty() && info.plural == "pods" {
            crate::service_account_admission::admit_pod(
                self,
                ns.unwrap_or_default(),
                &mut obj,
                &random_suffix(),
            )
            .await?;
        }
        self.run_admission_plugins(info, ns, opts.dry_run, &mut obj)
            .await?;
        if is_service {
            crate::services::allocate_create(self, &mut obj).await?;
        }
        if is_crd(info) {
            api::crd::apply_crd_defaults(&mut obj);
            let others = self.list_crds().await?;
            let conflict = api::crd::name_conflict(&obj, &others);
            api::crd::set_status(&mut obj, conflict, &now_rfc3339());
        }
        if let Some(manager) = &opts.manager {
            crate::field_manager::track_update(info, None, None, &mut obj, manager, &now_rfc3339());
        }
        let attempts = if generated { 8 } else { 1 };
        for attempt in 0..attempts {
            if generated && let Some(meta) = meta_mut(&mut obj) {
                let base = meta
                    .get("generateName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                meta.insert("name".into(), json!(format!("{base}{}", random_suffix())));
            }
            let name = meta_str(&obj, "name").unwrap_or_default().to_string();
            if attempt == 0 && info.group == "batch" && info.plural == "jobs" {
                generate_job_selector(&mut obj);
            }
            let mut errs = validation::validate_create(info.group, info.plural, &obj);
            if let Some(cr) = &info.custom {
                errs.extend(api::crd::validate(&obj, cr));
            }
            if !errs.is_empty() {
                return Err(Self::invalid(info, &name, errs));
            }
            if info.namespaced {
                self.check_namespace_open(info, ns.unwrap_or_default(), &name)
                    .await?;
            }
            let key = Self::key(info, ns, &name);
            if opts.dry_run {
                if self.store.get(&key, 0).await.map_err(store_err)?.is_some() {
                    return Err(ApiError::AlreadyExists {
                        resource: gr(info),
                        name,
                    });
                }
                return Ok(obj);
            }
            match self.store.create(&key, codec::encode(info, &obj)?).await {
                Ok(kv) => {
                    self.stored(&kv);
                    codec::set_resource_version(&mut obj, kv.mod_revision);
                    return Ok(obj);
                }
                Err(store::Error::KeyExists(_)) if generated && attempt + 1 < attempts => continue,
                Err(store::Error::KeyExists(_)) => {
                    return Err(ApiError::AlreadyExists {
                        resource: gr(info),
                        name,
                    });
                }
                Err(e) => return Err(store_err(e)),
            }
        }
        Err(ApiError::Internal(
            "could not generate a unique name".into(),
        ))
    }

    /// Checks a request body's apiVersion/kind, name and namespace against the URL of an
    /// existing object (PUT, apply), filling in the ones the body leaves out.
    fn check_identity(
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        body: &mut Value,
    ) -> Result<(), ApiError> {
        Self::check_type(info, body)?;
        let meta = meta_mut(body)
            .ok_or_else(|| ApiError::BadRequest("metadata must be an object".into()))?;
        match meta.get("name").and_then(Value::as_str) {
            Some(n) if n == name => {}
            None | Some("") => {
                meta.insert("name".into(), json!(name));
            }
            Some(n) => {
                return Err(ApiError::BadRequest(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
        }
        if info.namespaced {
            match meta.get("namespace").and_then(Value::as_str) {
                Some(b) if !b.is_empty() && Some(b) != ns => {
                    return Err(ApiError::BadRequest(
                        "the namespace of the provided object does not match the namespace sent on the request".into(),
                    ));
                }
                _ => {
                    meta.insert("namespace".into(), json!(ns.unwrap_or_default()));
                }
            }
        }
        Ok(())
    }

    /// Replaces an object (PUT), on the main resource or a subresource (`status`, `finalize`).
    /// Returns the stored object and whether it was created.
    pub async fn update(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        mut body: Value,
        opts: &WriteOptions,
    ) -> Result<(Value, bool), ApiError> {
        Self::check_identity(info, ns, name, &mut body)?;
        let precondition = match meta_str(&body, "resourceVersion") {
            Some(rv) if !rv.is_empty() => Some(parse_rv(rv).map_err(|_| {
                Self::invalid(
                    info,
                    name,
                    vec![validation::FieldError {
                        kind: validation::FieldErrorKind::Invalid,
                        field: "metadata.resourceVersion".into(),
                        value: Some(json!(rv)),
                        detail: "must be specified for an update".into(),
                    }],
                )
            })?),
            _ => None,
        };
        let key = Self::key(info, ns, name);
        for _ in 0..MAX_RETRIES {
            let current = self.store.get(&key, 0).await.map_err(store_err)?;
            let Some(current) = current else {
                if subresource.is_none() && allows_create_on_update(info) {
                    let created = self.create(info, ns, body.clone(), opts).await?;
                    return Ok((created, true));
                }
                return Err(ApiError::NotFound {
                    resource: gr(info),
                    name: name.to_string(),
                });
            };
            if let Some(want) = precondition
                && want != current.mod_revision
            {
                return Err(ApiError::stale(gr(info), name));
            }
            let old = codec::decode(info, &current)?;
            let mut new = self.prepare_update(info, subresource, &old, body.clone())?;
            Self::track(info, subresource, &old, &mut new, opts);
            match self
                .write_update(info, &key, &old, new, current.mod_revision, opts)
                .await
            {
                Err(WriteError::Conflict) if precondition.is_none() => continue,
                Err(WriteError::Conflict) => return Err(ApiError::stale(gr(info), name)),
                Err(WriteError::Api(e)) => return Err(e),
                Ok(obj) => return Ok((obj, false)),
            }
        }
        Err(ApiError::Conflict {
            resource: gr(info),
            name: name.to_string(),
            detail: "too many concurrent writers; please retry".into(),
        })
    }

    /// Reads the current object, lets `mutate` change it, and writes it back with the usual
    /// update rules; retries when another writer got in between. Used by patch and internal
    /// callers. `mutate` gets the served form and returns the new body.
    pub async fn read_modify_write<F>(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        opts: &WriteOptions,
        mut mutate: F,
    ) -> Result<Value, ApiError>
    where
        F: FnMut(&Value) -> Result<Value, ApiError>,
    {
        let key = Self::key(info, ns, name);
        for _ in 0..MAX_RETRIES {
            let Some(current) = self.store.get(&key, 0).await.map_err(store_err)? else {
                return Err(ApiError::NotFound {
                    resource: gr(info),
                    name: name.to_string(),
                });
            };
            let old = codec::decode(info, &current)?;
            let mut body = mutate(&old)?;
            Self::check_type(info, &mut body)?;
            if meta_str(&body, "name").is_some_and(|n| n != name) {
                return Err(ApiError::BadRequest(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    meta_str(&body, "name").unwrap_or_default()
                )));
            }
            let explicit = meta_str(&body, "resourceVersion")
                .filter(|rv| !rv.is_empty())
                .map(parse_rv)
                .transpose()?;
            if let Some(want) = explicit
                && want != current.mod_revision
            {
                return Err(ApiError::stale(gr(info), name));
            }
            let mut new = self.prepare_update(info, subresource, &old, body)?;
            Self::track(info, subresource, &old, &mut new, opts);
            match self
                .write_update(info, &key, &old, new, current.mod_revision, opts)
                .await
            {
                Err(WriteError::Conflict) => continue,
                Err(WriteError::Api(e)) => return Err(e),
                Ok(obj) => return Ok(obj),
            }
        }
        Err(ApiError::Conflict {
            resource: gr(info),
            name: name.to_string(),
            detail: "too many concurrent writers; please retry".into(),
        })
    }

    /// Records the fields an update changed for its manager.
    fn track(
        info: &ResourceInfo,
        subresource: Option<&str>,
        old: &Value,
        new: &mut Value,
        opts: &WriteOptions,
    ) {
        if let Some(manager) = &opts.manager {
            crate::field_manager::track_update(
                info,
                opts.manager_subresource.as_deref().or(subresource),
                Some(old),
                new,
                manager,
                &now_rfc3339(),
            );
        }
    }

    /// Server-side apply (PATCH with `application/apply-patch+yaml`): merges `config` into
    /// the object for `manager`, creating the object when it does not exist. Returns the
    /// object and whether it was created.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        mut config: Value,
        manager: &str,
        force: bool,
        opts: &WriteOptions,
    ) -> Result<(Value, bool), ApiError> {
        Self::check_identity(info, ns, name, &mut config)?;
        let inner = WriteOptions {
            dry_run: opts.dry_run,
            ..WriteOptions::default()
        };
        for _ in 0..MAX_RETRIES {
            let now = now_rfc3339();
            let result = self
                .read_modify_write(info, ns, name, subresource, &inner, |current| {
                    crate::field_manager::apply(
                        info,
                        subresource,
                        Some(current),
                        &config,
                        manager,
                        force,
                        &now,
                    )
                })
                .await;
            match result {
                Err(ApiError::NotFound { .. }) if subresource.is_none() => {
                    let obj = crate::field_manager::apply(
                        info, None, None, &config, manager, force, &now,
                    )?;
                    match self.create(info, ns, obj, &inner).await {
                        Err(ApiError::AlreadyExists { .. }) => continue,
                        r => return r.map(|o| (o, true)),
                    }
                }
                r => return r.map(|o| (o, false)),
            }
        }
        Err(ApiError::Conflict {
            resource: gr(info),
            name: name.to_string(),
            detail: "too many concurrent writers; please retry".into(),
        })
    }

    /// Applies the update rules to a new body given the old object.
    fn prepare_update(
        &self,
        info: &ResourceInfo,
        subresource: Option<&str>,
        old: &Value,
        mut new: Value,
    ) -> Result<Value, ApiError> {
        let name = meta_str(old, "name").unwrap_or_default().to_string();
        match subresource {
            None => {
                if info.has_subresource("status") {
                    match old.get("status") {
                        Some(s) => new["status"] = s.clone(),
                        None => {
                            if let Some(m) = new.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                }
            }
            Some("status") => {
                let status = new.get("status").cloned();
                let mut merged = old.clone();
                let new_meta = new.get("metadata").cloned().unwrap_or_else(|| json!({}));
                if let (Some(m), Some(nm)) = (
                    merged.get_mut("metadata").and_then(Value::as_object_mut),
                    new_meta.as_object(),
                ) {
                    // As upstream's status strategies: a status write keeps the spec but may
                    // change labels, annotations, finalizers and owners, except that pods
                    // keep their owners (old kubelets corrupted them) and Deployments
                    // their labels. System fields never change here.
                    let kept_too: &[&str] = match (info.group, info.plural) {
                        ("", "pods") => &["ownerReferences"],
                        ("apps", "deployments") => &["labels"],
                        _ => &[],
                    };
                    for (k, v) in nm {
                        let system = matches!(
                            k.as_str(),
                            "deletionTimestamp"
                                | "deletionGracePeriodSeconds"
                                | "generation"
                                | "uid"
                                | "creationTimestamp"
                                | "name"
                                | "namespace"
                        );
                        if !system && !kept_too.contains(&k.as_str()) {
                            m.insert(k.clone(), v.clone());
                        }
                    }
                }
                match status {
                    Some(s) => merged["status"] = s,
                    None => {
                        if let Some(m) = merged.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                new = merged;
            }
            Some("finalize") if info.plural == "namespaces" => {
                let finalizers = new
                    .pointer("/spec/finalizers")
                    .cloned()
                    .unwrap_or_else(|| json!([]));
                let mut merged = old.clone();
                merged["spec"]["finalizers"] = finalizers;
                new = merged;
            }
            Some("binding") if info.group.is_empty() && info.plural == "pods" => {
                // A binding writes straight to storage as upstream's BindingREST does: only
                // the node, the binding's annotations and the PodScheduled condition change,
                // and spec.nodeName's immutability does not apply.
                let mut merged = old.clone();
                merged["spec"]["nodeName"] = new
                    .pointer("/spec/nodeName")
                    .cloned()
                    .unwrap_or(Value::Null);
                if let Some(a) = new.pointer("/metadata/annotations") {
                    merged["metadata"]["annotations"] = a.clone();
                }
                if let Some(c) = new.pointer("/status/conditions") {
                    merged["status"]["conditions"] = c.clone();
                }
                new = merged;
            }
            Some(other) => {
                return Err(ApiError::NotFound {
                    resource: GroupResource::new(info.group, &format!("{}/{other}", info.plural)),
                    name,
                });
            }
        }
        let new_meta = meta_mut(&mut new)
            .ok_or_else(|| ApiError::BadRequest("the body must be an object".into()))?;
        if let Some(uid) = new_meta
            .get("uid")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            && Some(uid) != meta_str(old, "uid")
        {
            return Err(ApiError::Conflict {
                resource: gr(info),
                name: name.clone(),
                detail: format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(old, "uid").unwrap_or_default()
                ),
            });
        }
        // Fields only the server sets.
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old.get("metadata").and_then(|m| m.get(field)) {
                Some(v) => {
                    new_meta.insert(field.into(), v.clone());
                }
                None => {
                    new_meta.remove(field);
                }
            }
        }
        new_meta.remove("selfLink");
        if info.plural == "namespaces" && subresource.is_none() {
            // The namespace's finalizers change only through /finalize.
            if let Some(f) = old.pointer("/spec/finalizers") {
                new["spec"]["finalizers"] = f.clone();
            }
        }
        let mut new = Self::normalize(info, new)?;
        api::defaults::apply(info.group, info.plural, &mut new);
        if (info.group, info.plural) == ("", "services") && subresource.is_none() {
            crate::services::patch_allocated_values(old, &mut new);
        }
        if is_crd(info) && subresource.is_none() {
            api::crd::apply_crd_defaults(&mut new);
            // Names may change with the spec; keep status in step (no conflict re-check).
            let conflict = old["status"]["conditions"]
                .as_array()
                .and_then(|c| {
                    c.iter()
                        .find(|c| c["type"] == "NamesAccepted" && c["status"] == "False")
                })
                .and_then(|c| c["message"].as_str())
                .map(str::to_string);
            api::crd::set_status(&mut new, conflict, &now_rfc3339());
        }
        if tracks_generation(info) && desired_state(&new) != desired_state(old) {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                + 1;
            if let Some(m) = meta_mut(&mut new) {
                m.insert("generation".into(), json!(generation));
            }
        }
        let errs = if subresource == Some("binding") {
            Vec::new()
        } else {
            let mut errs = validation::validate_update(info.group, info.plural, &new, old);
            if let Some(cr) = &info.custom {
                errs.extend(api::crd::validate(&new, cr));
            }
            errs
        };
        if !errs.is_empty() {
            return Err(Self::invalid(info, &name, errs));
        }
        Ok(new)
    }

    /// Writes an updated object with compare-and-swap on `expected`. An object that is being
    /// deleted and has no finalizers left is removed instead. A no-op write is skipped.
    async fn write_update(
        &self,
        info: &ResourceInfo,
        key: &str,
        old: &Value,
        mut new: Value,
        expected: i64,
        opts: &WriteOptions,
    ) -> Result<Value, WriteError> {
        let is_service = (info.group, info.plural) == ("", "services");
        let _allocation = if is_service {
            Some(self.service_allocation.lock().await)
        } else {
            None
        };
        if is_service {
            crate::services::allocate_update(self, old, &mut new)
                .await
                .map_err(WriteError::Api)?;
        }
        let old_bytes = codec::encode(info, old).map_err(WriteError::Api)?;
        let new_bytes = codec::encode(info, &new).map_err(WriteError::Api)?;
        if old_bytes == new_bytes {
            return Ok(old.clone());
        }
        let finalize_now = crate::deletion::delete_during_update(info, old, &new);
        if opts.dry_run {
            codec::set_resource_version(&mut new, expected);
            return Ok(new);
        }
        if finalize_now {
            return match self.store.delete(key, Some(expected)).await {
                Ok(ev) => {
                    self.removed(key, ev.kv.mod_revision);
                    codec::set_resource_version(&mut new, ev.kv.mod_revision);
                    Ok(new)
                }
                Err(store::Error::Conflict { .. }) | Err(store::Error::NotFound(_)) => {
                    Err(WriteError::Conflict)
                }
                Err(e) => Err(WriteError::Api(store_err(e))),
            };
        }
        match self.store.update(key, new_bytes, expected).await {
            Ok(kv) => {
                self.stored(&kv);
                codec::set_resource_version(&mut new, kv.mod_revision);
                Ok(new)
            }
            Err(store::Error::Conflict { .. }) | Err(store::Error::NotFound(_)) => {
                Err(WriteError::Conflict)
            }
            Err(e) => Err(WriteError::Api(store_err(e))),
        }
    }

    /// Deletes an object (DELETE), honouring preconditions, propagation policy, finalizers,
    /// graceful deletion of pods and the namespace lifecycle.
    pub async fn delete(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        // NamespaceLifecycle: the namespaces every cluster relies on cannot be deleted.
        if info.group.is_empty()
            && info.plural == "namespaces"
            && matches!(name, "default" | "kube-system" | "kube-public")
        {
            return Err(ApiError::Forbidden {
                resource: gr(info),
                name: name.to_string(),
                detail: "this namespace may not be deleted".into(),
            });
        }
        let key = Self::key(info, ns, name);
        let policy = match opts.propagation_policy.as_deref() {
            None | Some("") => default_propagation(info).map(str::to_string),
            Some(p @ ("Orphan" | "Foreground" | "Background")) => Some(p.to_string()),
            Some(other) => {
                return Err(Self::invalid(
                    info,
                    name,
                    vec![validation::FieldError {
                        kind: validation::FieldErrorKind::NotSupported,
                        field: "propagationPolicy".into(),
                        value: Some(json!(other)),
                        detail:
                            "supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                                .into(),
                    }],
                ));
            }
        };
        for _ in 0..MAX_RETRIES {
            let Some(current) = self.store.get(&key, 0).await.map_err(store_err)? else {
                return Err(ApiError::NotFound {
                    resource: gr(info),
                    name: name.to_string(),
                });
            };
            let old = codec::decode(info, &current)?;
            if let Some(uid) = &opts.precondition_uid
                && Some(uid.as_str()) != meta_str(&old, "uid")
            {
                return Err(ApiError::Conflict {
                    resource: gr(info),
                    name: name.to_string(),
                    detail: format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        meta_str(&old, "uid").unwrap_or_default()
                    ),
                });
            }
            if let Some(rv) = &opts.precondition_resource_version
                && *rv != current.mod_revision.to_string()
            {
                return Err(ApiError::Conflict {
                    resource: gr(info),
                    name: name.to_string(),
                    detail: format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        current.mod_revision
                    ),
                });
            }
            let plan = crate::deletion::plan(
                info,
                &old,
                crate::deletion::Request {
                    policy: policy.as_deref(),
                    grace_period_seconds: opts.grace_period_seconds,
                    now: crate::clock::now(),
                },
            );
            let mut new = match plan {
                crate::deletion::Plan::Unchanged => return Ok(Deleted::Pending(old)),
                crate::deletion::Plan::Remove(last) => {
                    if opts.dry_run {
                        return Ok(Deleted::Gone(last));
                    }
                    match self.store.delete(&key, Some(current.mod_revision)).await {
                        Ok(ev) => {
                            self.removed(&key, ev.kv.mod_revision);
                            return Ok(Deleted::Gone(last));
                        }
                        Err(store::Error::Conflict { .. }) | Err(store::Error::NotFound(_)) => {
                            continue;
                        }
                        Err(e) => return Err(store_err(e)),
                    }
                }
                crate::deletion::Plan::Mark(new) => new,
            };
            if new == old {
                return Ok(Deleted::Pending(old));
            }
            if opts.dry_run {
                return Ok(Deleted::Pending(new));
            }
            let bytes = codec::encode(info, &new)?;
            match self.store.update(&key, bytes, current.mod_revision).await {
                Ok(kv) => {
                    self.stored(&kv);
                    codec::set_resource_version(&mut new, kv.mod_revision);
                    return Ok(Deleted::Pending(new));
                }
                Err(store::Error::Conflict { .. }) | Err(store::Error::NotFound(_)) => continue,
                Err(e) => return Err(store_err(e)),
            }
        }
        Err(ApiError::Conflict {
            resource: gr(info),
            name: name.to_string(),
            detail: "too many concurrent writers; please retry".into(),
        })
    }

    /// Writes the cluster's identity (`/skiff.dev/cluster`: a uid and when the cluster was
    /// created) on a fresh store, before any object, so objects' resourceVersions start above
    /// an empty etcd's revision and `skiff migrate` can keep them exactly. The uid names the
    /// cluster for people reading the store; nothing in skiff reads it.
    pub async fn ensure_cluster_identity(&self) -> Result<(), ApiError> {
        // Once there, it stays: a failed create writes nothing.
        let identity = json!({"uid": uuid::Uuid::new_v4().to_string(), "created": now_rfc3339()});
        match self
            .store
            .create(CLUSTER_KEY, identity.to_string().into_bytes())
            .await
        {
            Ok(_) | Err(store::Error::KeyExists(_)) => Ok(()),
            Err(e) => Err(store_err(e)),
        }
    }

    /// Creates a namespace at first start if it does not exist (`default`, `kube-system`...).
    pub async fn ensure_namespace(&self, name: &str) -> Result<(), ApiError> {
        let Some(info) = self.resources.namespaces() else {
            return Ok(());
        };
        match self
            .create(
                &info,
                None,
                json!({"metadata": {"name": name}}),
                &WriteOptions::default(),
            )
            .await
        {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Why a compare-and-swap write did not happen.
enum WriteError {
    /// Another writer changed the object first.
    Conflict,
    /// Any other failure.
    Api(ApiError),
}

/// Server-side defaults and resets applied on create.
/// A Job without `spec.manualSelector: true` gets upstream's generated selector: its pod
/// template is labelled with the job's name and uid (`batch.kubernetes.io/job-name`,
/// `batch.kubernetes.io/controller-uid` and their legacy unprefixed forms), and the
/// selector matches the uid label. Labels the user set are kept (validation then catches a
/// selector that no longer matches).
fn generate_job_selector(job: &mut Value) {
    if job.pointer("/spec/manualSelector") == Some(&Value::Bool(true)) {
        return;
    }
    let name = meta_str(job, "name").unwrap_or_default().to_string();
    let uid = meta_str(job, "uid").unwrap_or_default().to_string();
    let Some(spec) = job.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let template = spec.entry("template").or_insert_with(|| json!({}));
    if let Some(t) = template.as_object_mut() {
        let meta = t.entry("metadata").or_insert_with(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            let labels = m.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                for (key, value) in [
                    ("job-name", &name),
                    ("batch.kubernetes.io/job-name", &name),
                    ("controller-uid", &uid),
                    ("batch.kubernetes.io/controller-uid", &uid),
                ] {
                    l.entry(key).or_insert_with(|| json!(value));
                }
            }
        }
    }
    let selector = spec.entry("selector").or_insert_with(|| json!({}));
    if let Some(sel) = selector.as_object_mut() {
        let labels = sel.entry("matchLabels").or_insert_with(|| json!({}));
        if let Some(l) = labels.as_object_mut() {
            l.entry("batch.kubernetes.io/controller-uid")
                .or_insert_with(|| json!(uid));
        }
    }
}

fn prepare_for_create(info: &ResourceInfo, obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    match (info.group, info.plural) {
        ("", "namespaces") => {
            let name = map
                .get("metadata")
                .and_then(|m| m.get("name"))
                .cloned()
                .unwrap_or(Value::Null);
            if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut()
                    && name.is_string()
                {
                    l.insert("kubernetes.io/metadata.name".into(), name);
                }
            }
            map.insert("spec".into(), json!({"finalizers": [NAMESPACE_FINALIZER]}));
            map.insert("status".into(), json!({"phase": "Active"}));
        }
        ("", "pods") => {
            map.insert(
                "status".into(),
                json!({"phase": "Pending", "qosClass": qos_class(map.get("spec"))}),
            );
        }
        // Custom resources with a status subresource drop status on create.
        _ if info.custom.is_some() && info.has_subresource("status") => {
            map.remove("status");
        }
        _ if info.has_subresource("status") => {
            map.insert("status".into(), json!({}));
        }
        _ => {}
    }
}

/// A pod's QoS class from its containers' requests and limits (upstream `GetPodQOS`).
fn qos_class(spec: Option<&Value>) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec.and_then(|s| s.get(*k)).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let requests = c.pointer("/resources/requests").and_then(Value::as_object);
        let limits = c.pointer("/resources/limits").and_then(Value::as_object);
        for res in ["cpu", "memory"] {
            let r = requests
                .and_then(|m| m.get(res))
                .or_else(|| limits.and_then(|m| m.get(res)));
            let l = limits.and_then(|m| m.get(res));
            if r.is_some() || l.is_some() {
                any = true;
            }
            if l.is_none() || r != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mirrors learn this server's writes as they succeed, without their watch.
    #[tokio::test]
    async fn this_servers_writes_reach_the_mirrors_without_a_watch() {
        let registry = Registry::new(
            Arc::new(store::MemoryBackend::new()),
            Arc::new(Resources::builtin()),
        );
        for mirror in &registry.mirrors {
            mirror.fill_for_test();
        }
        let namespaces = registry.resources().namespaces().expect("namespaces");
        let accounts = registry
            .resources()
            .find("", "v1", "serviceaccounts")
            .expect("serviceaccounts");
        let mirrored = |key: String| registry.mirror_of(&key).and_then(|m| m.get(&key));
        let opts = WriteOptions::default();
        registry
            .create(&namespaces, None, json!({"metadata": {"name": "n"}}), &opts)
            .await
            .expect("create the namespace");
        registry
            .create(
                &accounts,
                Some("n"),
                json!({"metadata": {"name": "robot"}}),
                &opts,
            )
            .await
            .expect("create the account");
        assert!(mirrored(namespaces.key(None, "n")).is_some());
        let account = mirrored(accounts.key(Some("n"), "robot")).expect("the account");
        assert_eq!(account["metadata"]["name"], "robot");

        registry
            .delete(&accounts, Some("n"), "robot", &DeleteOptions::default())
            .await
            .expect("delete the account");
        assert!(mirrored(accounts.key(Some("n"), "robot")).is_none());
        // The namespace's finalizer keeps it, Terminating.
        registry
            .delete(&namespaces, None, "n", &DeleteOptions::default())
            .await
            .expect("delete the namespace");
        let ns = mirrored(namespaces.key(None, "n")).expect("still there");
        assert_eq!(ns["status"]["phase"], "Terminating");
        let err = registry
            .get_for_admission(&accounts, Some("n"), "robot")
            .await
            .expect_err("gone");
        assert!(matches!(err, ApiError::NotFound { .. }), "{err:?}");
    }

    #[test]
    fn qos_class_follows_requests_and_limits() {
        let cases = [
            (
                "no resources is best effort",
                json!({"containers": [{"name": "a"}]}),
                "BestEffort",
            ),
            (
                "equal requests and limits is guaranteed",
                json!({"containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}),
                "Guaranteed",
            ),
            (
                "requests only is burstable",
                json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}),
                "Burstable",
            ),
        ];
        for (name, spec, want) in cases {
            assert_eq!(qos_class(Some(&spec)), want, "{name}");
        }
    }

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let t = encode_continue(42, "demo/c1", None);
        let d = decode_continue(&t).expect("valid token");
        assert_eq!((d.rv, d.start.as_str(), d.remaining), (42, "demo/c1", None));
        let counted = decode_continue(&encode_continue(42, "demo/c1", Some(7))).expect("valid");
        assert_eq!(counted.remaining, Some(7));
        assert!(decode_continue("not-base64!").is_err());
        assert!(
            decode_continue(
                &base64::engine::general_purpose::URL_SAFE
                    .encode(b"{\"v\":\"x\",\"rv\":1,\"start\":\"\"}")
            )
            .is_err()
        );
    }
}
