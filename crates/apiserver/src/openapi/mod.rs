//! The OpenAPI documents: `/openapi/v2` (Swagger 2.0, one document) and `/openapi/v3`
//! (an index of OpenAPI 3.0 documents, one per group-version plus `api`, `apis` and
//! `apis/<group>`), which kubectl uses for `explain`, for field-validation support
//! detection (`--validate=strict`) and for apply's patch metadata.
//!
//! skiff generates them itself: shapes and descriptions from k8s-openapi's `schemars`
//! schemas, operations from the resource table, and the `x-kubernetes-*` extensions from
//! `api::schema`'s facts (see `schemas`). Documents are built once from the resource table
//! ([`Documents::build`]) and cached; each is served with an `ETag` (and `If-None-Match`
//! answered with 304), v3 documents also under their `?hash=` URL.

mod document;
mod gnostic;
mod paths;
mod schemas;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use api::{ApiError, ResourceInfo};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::negotiate::error_response;
use crate::{Identity, ServerState, auth};

/// One serialised document with its hash.
#[derive(Debug, Clone)]
pub struct Cached {
    /// JSON bytes.
    pub body: bytes::Bytes,
    /// Upper-case hex digest of `body` (the v3 `hash` parameter and the `ETag`).
    pub hash: String,
}

impl Cached {
    fn new(v: &Value) -> Cached {
        Cached::from_bytes(serde_json::to_vec(v).unwrap_or_default())
    }

    fn from_bytes(body: Vec<u8>) -> Cached {
        let hash = digest(&body);
        Cached {
            body: body.into(),
            hash,
        }
    }
}

/// The media type kubectl asks `/openapi/v2` for, and the one upstream answers with.
const MIME_PB: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
const MIME_PB_ALT: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Every OpenAPI document for one resource table.
#[derive(Debug, Clone)]
pub struct Documents {
    /// `/openapi/v2` (JSON).
    pub v2: Cached,
    /// `/openapi/v2` as gnostic protobuf.
    pub v2_protobuf: Cached,
    /// `/openapi/v3/<key>` by key (`api`, `api/v1`, `apis`, `apis/apps`, `apis/apps/v1`).
    pub v3: BTreeMap<String, Cached>,
    /// `/openapi/v3` (the index).
    pub v3_index: Cached,
}

impl Documents {
    /// Builds all documents from a resource table.
    pub fn build(table: &[ResourceInfo]) -> Documents {
        let defs = schemas::build(table);
        let mut all_items = vec![paths::core_versions(), paths::api_versions()];
        let mut v3 = BTreeMap::new();
        let mut v3_values: Vec<(String, Value)> = Vec::new();
        v3_values.push(("api".into(), document::v3(&[paths::core_versions()], &defs)));
        v3_values.push(("apis".into(), document::v3(&[paths::api_versions()], &defs)));
        for (group, versions) in api::resources::groups(table) {
            if !group.is_empty() {
                let item = paths::group_discovery(group);
                v3_values.push((
                    format!("apis/{group}"),
                    document::v3(std::slice::from_ref(&item), &defs),
                ));
                all_items.push(item);
            }
            for version in versions {
                let mut items = vec![paths::group_version_discovery(group, version)];
                for r in table
                    .iter()
                    .filter(|r| r.group == group && r.version == version)
                {
                    items.extend(paths::resource_paths(r, &defs));
                }
                let key = paths::prefix(group, version)
                    .trim_start_matches('/')
                    .to_string();
                v3_values.push((key, document::v3(&items, &defs)));
                all_items.extend(items);
            }
        }
        let mut index = serde_json::Map::new();
        for (key, value) in v3_values {
            let cached = Cached::new(&value);
            index.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", cached.hash)}),
            );
            v3.insert(key, cached);
        }
        let v2 = document::v2(&all_items, &defs);
        Documents {
            v2_protobuf: Cached::from_bytes(gnostic::encode(&v2)),
            v2: Cached::new(&v2),
            v3,
            v3_index: Cached::new(&json!({"paths": index})),
        }
    }
}

/// The documents for the server's resource table, rebuilt when the table changes (a CRD
/// was established, changed or removed): cached per table generation.
fn documents(state: &ServerState) -> Arc<Documents> {
    let resources = state.registry.resources();
    let generation = resources.generation();
    let mut cache = state.openapi.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((g, docs)) = cache.as_ref()
        && *g == generation
    {
        return docs.clone();
    }
    let docs = Arc::new(Documents::build(&resources.all()));
    *cache = Some((generation, docs.clone()));
    docs
}

/// 64-bit FNV-1a twice (two offsets), as 32 upper-case hex digits: stable across builds.
fn digest(bytes: &[u8]) -> String {
    let fnv = |seed: u64| {
        bytes.iter().fold(seed, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    format!(
        "{:016X}{:016X}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x6c62_272e_07bb_0142)
    )
}

fn if_none_match(req: &Request, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == etag || t == "*")
        })
}

fn send(req: &Request, doc: &Cached, content_type: &str, immutable: bool) -> Response {
    let etag = format!("\"{}\"", doc.hash);
    let mut resp = if if_none_match(req, &etag) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Body::from(doc.body.clone()));
        if let Ok(v) = HeaderValue::from_str(content_type) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable {
            "public, immutable"
        } else {
            "no-cache, private"
        }),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

/// Whether an `Accept` header allows JSON (absent, `application/json`, `application/*`,
/// `*/*`, with or without parameters).
fn accepts_json(req: &Request) -> bool {
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    accept.split(',').any(|part| {
        let essence = part.split(';').next().unwrap_or("").trim();
        matches!(essence, "" | "application/json" | "application/*" | "*/*")
    })
}

/// What `/openapi/v2` answers for an `Accept` header: the first listed type skiff can
/// produce (`*/*` and `application/*` mean JSON); JSON when the header is absent.
fn v2_format(req: &Request) -> Option<bool> {
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return Some(false);
    };
    let mut clauses: Vec<(f32, usize, &str)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut pieces = part.split(';').map(str::trim);
            let essence = pieces.next().unwrap_or("");
            let q = pieces
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0 && !essence.is_empty()).then_some((q, i, essence))
        })
        .collect();
    clauses.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    clauses
        .into_iter()
        .find_map(|(_, _, essence)| match essence {
            "application/json" | "application/*" | "*/*" => Some(false),
            MIME_PB | MIME_PB_ALT => Some(true),
            _ => None,
        })
}

/// Like the REST surface: a client certificate's identity, else the admin bearer token, else
/// anonymous — who may not read the OpenAPI documents (upstream grants them to
/// `system:authenticated` through `system:discovery`).
fn authorize(state: &ServerState, req: &Request) -> Result<(), ApiError> {
    if req.extensions().get::<Identity>().is_some() {
        return Ok(());
    }
    if let Some(token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return match &state.admin_token {
            Some(t) if t == token.trim() => Ok(()),
            _ => Err(ApiError::Unauthorized),
        };
    }
    auth::authorize_path(&Identity::anonymous(), "get", req.uri().path())
}

/// `GET /openapi/v2`: JSON, or gnostic protobuf for kubectl.
pub async fn v2(State(state): State<Arc<ServerState>>, req: Request) -> Response {
    if let Err(e) = authorize(&state, &req) {
        return error_response(&e);
    }
    let docs = documents(&state);
    match v2_format(&req) {
        Some(false) => send(&req, &docs.v2, "application/json", false),
        Some(true) => send(&req, &docs.v2_protobuf, MIME_PB_ALT, false),
        None => error_response(&ApiError::NotAcceptable(
            "only application/json and application/com.github.proto-openapi.spec.v2@v1.0+protobuf are supported for /openapi/v2".into(),
        )),
    }
}

/// `GET /openapi/v3`: the index of group-version documents.
pub async fn v3_index(State(state): State<Arc<ServerState>>, req: Request) -> Response {
    if let Err(e) = authorize(&state, &req) {
        return error_response(&e);
    }
    let docs = documents(&state);
    if !accepts_json(&req) {
        return error_response(&ApiError::NotAcceptable(
            "only application/json is supported for /openapi/v3".into(),
        ));
    }
    send(&req, &docs.v3_index, "application/json", false)
}

/// `GET /openapi/v3/<api/v1 | apis/<group>/<version> | ...>`.
pub async fn v3_document(State(state): State<Arc<ServerState>>, req: Request) -> Response {
    if let Err(e) = authorize(&state, &req) {
        return error_response(&e);
    }
    let docs = documents(&state);
    let key = req
        .uri()
        .path()
        .trim_start_matches("/openapi/v3/")
        .trim_end_matches('/');
    let Some(doc) = docs.v3.get(key) else {
        return error_response(&ApiError::NoSuchPath);
    };
    if !accepts_json(&req) {
        return error_response(&ApiError::NotAcceptable(
            "only application/json is supported for /openapi/v3".into(),
        ));
    }
    let hash = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|p| p.strip_prefix("hash="))
            .map(str::to_string)
    });
    match hash {
        Some(h) if h == doc.hash => send(&req, doc, "application/json", true),
        Some(_) => {
            // Like upstream: an outdated hash redirects to the current one.
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
            if let Ok(v) = HeaderValue::from_str(&format!("/openapi/v3/{key}?hash={}", doc.hash)) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => send(&req, doc, "application/json", false),
    }
}
