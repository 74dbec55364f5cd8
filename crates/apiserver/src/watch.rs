//! Watch: a stream of `{"type": ..., "object": ...}` lines (ADDED, MODIFIED, DELETED,
//! BOOKMARK, ERROR) with kube-apiserver's semantics: initial state for unset or `0`
//! resourceVersion, resume from an exact resourceVersion, `410 Expired` as an ERROR event
//! once history is compacted, selector transitions reported as ADDED/DELETED, bookmarks,
//! streaming lists (`sendInitialEvents`), and `timeoutSeconds`.

use std::sync::Arc;
use std::time::Duration;

use api::{ApiError, ResourceInfo};
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::codec;
use crate::negotiate::Output;
use crate::registry::{Filter, ListParams, Registry};
use crate::request::Query;
use crate::table::{self, IncludeObject};

/// How often an idle watch that allows bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(30);
/// Default watch lifetime when `timeoutSeconds` is not given (upstream: 30–60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Everything a watch needs, gathered by the handler.
pub struct WatchRequest {
    pub info: ResourceInfo,
    pub namespace: Option<String>,
    pub query: Query,
    pub output: Output,
    pub include: IncludeObject,
    /// Set for `/namespaces/{ns}/{resource}?fieldSelector=metadata.name=x` style single-object watches.
    pub name: Option<String>,
    /// Leave `metadata.managedFields` out of the objects ([`crate::LeanReads`]).
    pub lean: bool,
}

struct Encoder {
    info: ResourceInfo,
    output: Output,
    include: IncludeObject,
    lean: bool,
}

impl Encoder {
    fn object(&self, obj: &Value) -> Value {
        match self.output {
            Output::Table => {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(Value::Null);
                table::table(
                    &self.info,
                    std::slice::from_ref(obj),
                    json!({"resourceVersion": rv}),
                    self.include,
                )
            }
            Output::Metadata => table::partial_metadata(obj),
            _ if self.lean => lean_clone(obj),
            _ => obj.clone(),
        }
    }

    fn line(&self, kind: &str, obj: &Value) -> Bytes {
        let mut out = serde_json::to_vec(&json!({"type": kind, "object": self.object(obj)}))
            .unwrap_or_default();
        out.push(b'\n');
        Bytes::from(out)
    }

    /// Whether events can be written from the stored bytes ([`codec::served_json`]): plain
    /// JSON of an unconverted resource.
    fn raw_ok(&self) -> bool {
        self.output == Output::Json && !self.info.is_converted()
    }

    /// The event line for a stored object, from its bytes; `None` when they do not parse
    /// (the caller takes the decoding path, which reports why).
    fn raw_line(&self, kind: &str, stored: &[u8], revision: i64) -> Option<Bytes> {
        let obj = codec::served_json(stored, revision, self.lean)?;
        let mut out = Vec::with_capacity(obj.len() + 32);
        out.extend_from_slice(br#"{"type":""#);
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(br#"","object":"#);
        out.extend_from_slice(&obj);
        out.extend_from_slice(b"}\n");
        Some(Bytes::from(out))
    }

    fn bookmark(&self, rv: i64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": meta});
        let mut out =
            serde_json::to_vec(&json!({"type": "BOOKMARK", "object": obj})).unwrap_or_default();
        out.push(b'\n');
        Bytes::from(out)
    }
}

/// A copy of `obj` without `metadata.managedFields` (which are not copied at all).
fn lean_clone(obj: &Value) -> Value {
    let Some(map) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = serde_json::Map::with_capacity(map.len());
    for (k, v) in map {
        let v = match (k.as_str(), v.as_object()) {
            ("metadata", Some(meta)) => Value::Object(
                meta.iter()
                    .filter(|(mk, _)| *mk != "managedFields")
                    .map(|(mk, mv)| (mk.clone(), mv.clone()))
                    .collect(),
            ),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

fn error_line(err: &ApiError) -> Bytes {
    let mut out = serde_json::to_vec(&json!({"type": "ERROR", "object": err.to_status()}))
        .unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

/// Starts a watch and returns the streaming response. Errors found before streaming starts
/// (bad selectors, bad parameters) are returned as plain Status errors.
pub async fn start(
    registry: Arc<Registry>,
    req: WatchRequest,
    shutdown: CancellationToken,
) -> Result<Response, ApiError> {
    let q = &req.query;
    let mut field = q.field_selector.clone();
    if let Some(name) = &req.name {
        let by_name = format!("metadata.name={name}");
        field = Some(match field {
            Some(f) => format!("{f},{by_name}"),
            None => by_name,
        });
    }
    let filter = Filter::new(&req.info, q.label_selector.as_deref(), field.as_deref())?;
    let send_initial = q.send_initial_events;
    if send_initial.is_some() {
        if q.resource_version_match.as_deref() != Some("NotOlderThan") {
            return Err(ApiError::Invalid {
                group: String::new(),
                kind: "ListOptions".into(),
                name: String::new(),
                causes: vec![api::validation::FieldError {
                    kind: api::validation::FieldErrorKind::Forbidden,
                    field: "sendInitialEvents".into(),
                    value: None,
                    detail: "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan".into(),
                }],
            });
        }
        if send_initial == Some(true) && !q.allow_watch_bookmarks {
            return Err(ApiError::Invalid {
                group: String::new(),
                kind: "ListOptions".into(),
                name: String::new(),
                causes: vec![api::validation::FieldError {
                    kind: api::validation::FieldErrorKind::Forbidden,
                    field: "allowWatchBookmarks".into(),
                    value: None,
                    detail:
                        "allowWatchBookmarks must be set to true when sendInitialEvents is true"
                            .into(),
                }],
            });
        }
    } else if q.resource_version_match.is_some() {
        return Err(ApiError::BadRequest(
            "resourceVersionMatch is forbidden for watch".into(),
        ));
    }
    let rv = match q.resource_version.as_deref() {
        None | Some("") => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "invalid resource version {v:?}: must be a non-negative integer"
            ))
        })?),
    };
    let initial_state = match (send_initial, rv) {
        (Some(true), _) => true,
        (Some(false), _) => false,
        (None, None) | (None, Some(0)) => true,
        (None, Some(_)) => false,
    };
    let enc = Encoder {
        info: req.info.clone(),
        output: req.output,
        include: req.include,
        lean: req.lean,
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let prefix = match req.namespace.as_deref() {
        Some(ns) if req.info.namespaced => req.info.namespace_prefix(ns),
        _ => req.info.key_prefix(),
    };
    // The initial list and the watch start at the same revision, so nothing falls between.
    let mut initial: Vec<Value> = Vec::new();
    let from = if initial_state {
        let page = registry
            .list(
                &req.info,
                req.namespace.as_deref(),
                &ListParams {
                    label_selector: q.label_selector.clone(),
                    field_selector: field.clone(),
                    ..Default::default()
                },
            )
            .await?;
        initial = page.items;
        page.resource_version
    } else {
        rv.unwrap_or(0)
    };
    let stream = registry.store().watch(&prefix, from).await;
    let timeout = q
        .timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let bookmarks = q.allow_watch_bookmarks && req.output == Output::Json;
    let info = req.info.clone();
    let raw = enc.raw_ok();
    tokio::spawn(async move {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(error_line(&store_error(e))).await;
                return;
            }
        };
        for obj in &initial {
            if tx.send(enc.line("ADDED", obj)).await.is_err() {
                return;
            }
        }
        if send_initial == Some(true) && tx.send(enc.bookmark(from, true)).await.is_err() {
            return;
        }
        let mut last_rv = from;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = shutdown.cancelled() => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(enc.bookmark(last_rv, false)).await.is_err() { return; }
                }
                ev = stream.next() => {
                    let Some(ev) = ev else { return };
                    let ev = match ev {
                        Ok(ev) => ev,
                        Err(e) => { let _ = tx.send(error_line(&store_error(e))).await; return; }
                    };
                    last_rv = ev.revision();
                    if raw && let Some(line) = raw_event(&enc, &filter, &ev) {
                        if let Some(line) = line && tx.send(line).await.is_err() { return; }
                        continue;
                    }
                    match translate(&info, &filter, &ev) {
                        Ok(Some((kind, obj))) => {
                            if tx.send(enc.line(kind, &obj)).await.is_err() { return; }
                        }
                        Ok(None) => {}
                        Err(e) => { let _ = tx.send(error_line(&e)).await; return; }
                    }
                }
            }
        }
    });
    let body = Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<Bytes, std::convert::Infallible>),
    );
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

fn store_error(e: store::Error) -> ApiError {
    match e {
        store::Error::Compacted {
            requested,
            compacted,
        } => ApiError::Expired(format!(
            "too old resource version: {requested} ({compacted})"
        )),
        other => ApiError::Internal(other.to_string()),
    }
}

/// The line (if any) for one store event, written from the stored bytes, with
/// [`translate`]'s semantics: a put is ADDED when the key is new or enters the selection,
/// MODIFIED while it stays in, DELETED (its new state) when it leaves; a delete carries the
/// last state at the delete's revision. Selectors are judged on [`codec::selector_view`]s, so
/// no event is fully decoded. `None` sends the event down the decoding path instead.
fn raw_event(enc: &Encoder, filter: &Filter, ev: &store::Event) -> Option<Option<Bytes>> {
    let matches = |stored: &[u8]| -> Option<bool> {
        if filter.is_empty() {
            return Some(true);
        }
        Some(filter.matches(&codec::selector_view(stored)?))
    };
    match ev.kind {
        store::EventKind::Put => {
            let now = matches(&ev.kv.value)?;
            let before = match &ev.prev {
                Some(prev) => Some(matches(&prev.value)?),
                None => None,
            };
            let kind = match (before, now) {
                (None, true) | (Some(false), true) => "ADDED",
                (Some(true), true) => "MODIFIED",
                (Some(true), false) => "DELETED",
                (_, false) => return Some(None),
            };
            enc.raw_line(kind, &ev.kv.value, ev.kv.mod_revision)
                .map(Some)
        }
        store::EventKind::Delete => {
            let Some(prev) = ev.prev.as_ref() else {
                return Some(None);
            };
            if !matches(&prev.value)? {
                return Some(None);
            }
            enc.raw_line("DELETED", &prev.value, ev.revision())
                .map(Some)
        }
    }
}

/// Turns one store event into the watch event a client sees (if any), applying the
/// selector: an object entering the selection is ADDED, one leaving it is DELETED.
fn translate(
    info: &ResourceInfo,
    filter: &Filter,
    ev: &store::Event,
) -> Result<Option<(&'static str, Value)>, ApiError> {
    let prev = ev
        .prev
        .as_ref()
        .map(|kv| codec::decode(info, kv))
        .transpose()?;
    match ev.kind {
        store::EventKind::Put => {
            let obj = codec::decode(info, &ev.kv)?;
            let now = filter.matches(&obj);
            let before = prev.as_ref().is_some_and(|p| filter.matches(p));
            Ok(match (before, now) {
                (_, true) if prev.is_none() => Some(("ADDED", obj)),
                (true, true) => Some(("MODIFIED", obj)),
                (false, true) => Some(("ADDED", obj)),
                (true, false) => Some(("DELETED", obj)),
                (false, false) => None,
            })
        }
        store::EventKind::Delete => {
            let Some(mut obj) = prev else { return Ok(None) };
            if !filter.matches(&obj) {
                return Ok(None);
            }
            codec::set_resource_version(&mut obj, ev.revision());
            Ok(Some(("DELETED", obj)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::pods;

    fn kv(obj: Option<&Value>, rev: i64) -> store::KeyValue {
        store::KeyValue {
            key: "/registry/core/pods/default/p".into(),
            value: obj
                .map(|o| codec::encode(&pods(), o).expect("encode"))
                .unwrap_or_default(),
            create_revision: 2,
            mod_revision: rev,
        }
    }

    fn pod(node: &str, app: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "p", "namespace": "default", "labels": {"app": app},
                            "managedFields": [{"manager": "m", "operation": "Update"}]},
               "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]},
               "status": {"phase": "Pending"}})
    }

    /// The line the decoding path writes, parsed (or None when it writes nothing).
    fn decoded(enc: &Encoder, filter: &Filter, ev: &store::Event) -> Option<Value> {
        let (kind, obj) = translate(&pods(), filter, ev).expect("translate")?;
        Some(serde_json::from_slice(&enc.line(kind, &obj)).expect("json"))
    }

    #[test]
    fn lines_from_stored_bytes_are_the_decoding_paths_for_every_transition() {
        let (a1, a2, b1) = (pod("", "web"), pod("n1", "web"), pod("n1", "db"));
        let put = |prev: Option<&Value>, now: &Value| store::Event {
            kind: store::EventKind::Put,
            kv: kv(Some(now), 9),
            prev: prev.map(|p| kv(Some(p), 5)),
        };
        let events = [
            put(None, &a1),
            put(Some(&a1), &a2),
            put(Some(&a2), &b1),
            put(Some(&b1), &a2),
            store::Event {
                kind: store::EventKind::Delete,
                kv: kv(None, 11),
                prev: Some(kv(Some(&a2), 9)),
            },
            store::Event {
                kind: store::EventKind::Delete,
                kv: kv(None, 11),
                prev: Some(kv(Some(&b1), 9)),
            },
        ];
        let selectors = [
            (None, None),
            (Some("app=web"), None),
            (None, Some("spec.nodeName=n1")),
            (None, Some("spec.nodeName!=")),
            (Some("app!=web"), Some("spec.nodeName=")),
        ];
        let mut kinds = std::collections::BTreeSet::new();
        for (label, field) in selectors {
            let filter = Filter::new(&pods(), label, field).expect("selector");
            for lean in [false, true] {
                let enc = Encoder {
                    info: pods(),
                    output: Output::Json,
                    include: IncludeObject::Metadata,
                    lean,
                };
                for ev in &events {
                    let raw = raw_event(&enc, &filter, ev)
                        .expect("stored JSON takes the raw path")
                        .map(|line| serde_json::from_slice::<Value>(&line).expect("json"));
                    let want = decoded(&enc, &filter, ev);
                    assert_eq!(raw, want, "{label:?} {field:?} lean={lean} {:?}", ev.kind);
                    if let Some(line) = raw {
                        kinds.insert(line["type"].as_str().unwrap_or_default().to_string());
                        assert_eq!(
                            line["object"]["metadata"].get("managedFields").is_some(),
                            !lean
                        );
                    }
                }
            }
        }
        // Every kind of line was compared, entering and leaving selections included.
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            ["ADDED", "DELETED", "MODIFIED"]
        );
        // What is not JSON goes down the decoding path, which reports it.
        let broken = store::Event {
            kind: store::EventKind::Put,
            kv: store::KeyValue {
                value: b"{not json".to_vec(),
                ..kv(None, 3)
            },
            prev: None,
        };
        let filter = Filter::new(&pods(), None, None).expect("no selector");
        let enc = Encoder {
            info: pods(),
            output: Output::Json,
            include: IncludeObject::Metadata,
            lean: true,
        };
        assert!(raw_event(&enc, &filter, &broken).is_none());
        assert!(translate(&pods(), &filter, &broken).is_err());
    }
}
