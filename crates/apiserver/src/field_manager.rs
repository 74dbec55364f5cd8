//! `metadata.managedFields` bookkeeping, after k8s.io/apiserver's fieldmanager: every write
//! records the fields its manager set (operation `Update`), and server-side apply
//! (operation `Apply`) merges an applied configuration, drops fields the applier stopped
//! applying and refuses to change fields other managers own unless forced.

use api::managed_fields::{self, FieldSet, Shape};
use api::{ApiError, ResourceInfo};
use serde_json::{Map, Value, json};

/// The manager kubectl's client-side apply records its writes under.
pub const CLIENT_SIDE_APPLY: &str = "kubectl-client-side-apply";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: String,
    pub fields: FieldSet,
}

impl Entry {
    fn same_identity(&self, manager: &str, operation: &str, api_version: &str, sub: &str) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource == sub
            && (operation == "Apply" || self.api_version == api_version)
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }

    /// How upstream prints a manager in conflict messages.
    fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {:?}", self.subresource);
        }
        if self.operation == "Update" {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }
}

/// Parses `metadata.managedFields`; `None` when any entry is malformed.
pub fn decode(obj: &Value) -> Option<Vec<Entry>> {
    let Some(list) = obj.pointer("/metadata/managedFields") else {
        return Some(Vec::new());
    };
    if list.is_null() {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    for e in list.as_array()? {
        let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
        let operation = s("operation")?;
        if operation != "Apply" && operation != "Update" {
            return None;
        }
        // Upstream's decoder: a fieldsType of FieldsV1 and an apiVersion are required.
        if s("fieldsType").as_deref() != Some("FieldsV1")
            || s("apiVersion").is_none_or(|v| v.is_empty())
        {
            return None;
        }
        let fields = match e.get("fieldsV1") {
            Some(v) => FieldSet::from_fields_v1(v)?,
            None => FieldSet::default(),
        };
        out.push(Entry {
            manager: s("manager").unwrap_or_default(),
            operation,
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time"),
            subresource: s("subresource").unwrap_or_default(),
            fields,
        });
    }
    Some(out)
}

/// Writes entries back, sorted as upstream (operation, time, manager, apiVersion,
/// subresource) and without empty ones.
fn encode(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(|a, b| {
        (
            &a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                &b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert(
                "managedFields".into(),
                Value::Array(entries.iter().map(Entry::to_json).collect()),
            );
        }
    }
}

/// The manager name upstream derives from a User-Agent: the part before the first `/`.
pub fn manager_from_user_agent(ua: &str) -> String {
    let prefix = ua.split('/').next().unwrap_or_default().trim();
    if prefix.is_empty() {
        return "unknown".into();
    }
    prefix.chars().take(128).collect()
}

fn shape(info: &ResourceInfo) -> Shape {
    Shape::root(api::schema::definition_for(
        info.group,
        info.version,
        info.kind,
    ))
}

/// The part of an object field ownership covers: no type or identity metadata, and only
/// what the endpoint (main resource or `status`) may change.
fn strip(info: &ResourceInfo, sub: &str, obj: &Value) -> Value {
    let mut v = obj.clone();
    drop_null_timestamps(&mut v);
    if let Some(m) = v.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
        if info.has_subresource("status") {
            if sub == "status" {
                m.retain(|k, _| k == "status");
            } else {
                m.remove("status");
            }
        }
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in [
                "name",
                "namespace",
                "creationTimestamp",
                "selfLink",
                "uid",
                "generation",
                "managedFields",
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                meta.remove(f);
            }
        }
    }
    v
}

/// Removes `creationTimestamp: null` (Go's empty `metav1.Time` in embedded metadata such
/// as a pod template's), which no manager owns.
fn drop_null_timestamps(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("creationTimestamp").is_some_and(Value::is_null) {
                m.remove("creationTimestamp");
            }
            m.values_mut().for_each(drop_null_timestamps);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_null_timestamps),
        _ => {}
    }
}

/// Records the fields a non-apply write changed for `manager` (operation `Update`).
/// `old` is `None` on create. The request's own `managedFields` are kept when they are
/// valid and differ from the stored ones (kubectl's client-side to server-side upgrade
/// rewrites them this way); otherwise the stored ones are the base.
pub fn track_update(
    info: &ResourceInfo,
    sub: Option<&str>,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    now: &str,
) {
    let sub = sub.unwrap_or_default();
    let shape = shape(info);
    let stored = old.and_then(decode).unwrap_or_default();
    let sent = decode(new);
    let mut entries = match sent {
        Some(e) if !e.is_empty() && e != stored => e,
        _ => stored,
    };
    let skeleton = json!({"metadata": {}, "spec": {}});
    let old_s = match old {
        Some(o) => strip(info, sub, o),
        None => skeleton,
    };
    let cmp = managed_fields::compare(&old_s, &strip(info, sub, new), &shape);
    let changed = cmp.added.union(&cmp.modified);
    let api_version = info.api_version();
    for e in entries.iter_mut() {
        if !e.same_identity(manager, "Update", &api_version, sub) {
            e.fields = e.fields.difference(&changed).difference(&cmp.removed);
        }
    }
    let idx = entries
        .iter()
        .position(|e| e.same_identity(manager, "Update", &api_version, sub));
    let prev = idx.map(|i| entries[i].fields.clone()).unwrap_or_default();
    let set = prev.difference(&cmp.removed).union(&changed);
    match idx {
        Some(i) => {
            // The time moves when this write changed something (upstream's
            // managedFieldsUpdater), not on a no-op.
            if entries[i].fields != set || !changed.is_empty() || !cmp.removed.is_empty() {
                entries[i].time = Some(now.to_string());
            }
            entries[i].fields = set;
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: "Update".into(),
            api_version,
            time: Some(now.to_string()),
            subresource: sub.to_string(),
            fields: set,
        }),
    }
    cap_update_managers(&mut entries);
    encode(new, entries);
}

/// Upstream keeps at most this many `Update` entries; older ones fold into
/// [`ANCIENT_CHANGES`] buckets, one per apiVersion.
const MAX_UPDATE_MANAGERS: usize = 10;
const ANCIENT_CHANGES: &str = "ancient-changes";

/// Folds the oldest `Update` entries into per-apiVersion `ancient-changes` buckets until at
/// most [`MAX_UPDATE_MANAGERS`] remain (upstream's capManagersManager).
fn cap_update_managers(entries: &mut Vec<Entry>) {
    let mut updaters: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].operation == "Update")
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by(|&a, &b| entries[a].time.cmp(&entries[b].time));
    let mut remaining = updaters.len();
    let mut first_of_version: Vec<(String, usize)> = Vec::new();
    let mut drop = vec![false; entries.len()];
    for &i in &updaters {
        if remaining <= MAX_UPDATE_MANAGERS {
            break;
        }
        let version = entries[i].api_version.clone();
        let Some(&(_, first)) = first_of_version.iter().find(|(v, _)| *v == version) else {
            first_of_version.push((version, i));
            continue;
        };
        let bucket = entries.iter().position(|e| {
            e.manager == ANCIENT_CHANGES
                && e.operation == "Update"
                && e.api_version == version
                && e.subresource.is_empty()
        });
        let bucket = match bucket {
            Some(b) => b,
            None => {
                // The first entry of this version becomes the bucket.
                let e = &mut entries[first];
                e.manager = ANCIENT_CHANGES.into();
                e.subresource = String::new();
                first
            }
        };
        if bucket == i {
            continue;
        }
        let folded = entries[i].fields.clone();
        entries[bucket].fields = entries[bucket].fields.union(&folded);
        entries[bucket].time = entries[i].time.clone();
        drop[i] = true;
        remaining -= 1;
    }
    let mut idx = 0;
    entries.retain(|_| {
        let keep = !drop[idx];
        idx += 1;
        keep
    });
}

/// Server-side apply of `config` by `manager` onto `live` (`None`: the object is created
/// from the configuration). Returns the object to write, managedFields included.
pub fn apply(
    info: &ResourceInfo,
    sub: Option<&str>,
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApiError> {
    let sub = sub.unwrap_or_default();
    let shape = shape(info);
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApiError::BadRequest(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let cfg_set = managed_fields::field_set(&strip(info, sub, config), &shape);
    let api_version = info.api_version();
    let new_entry = Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version: api_version.clone(),
        time: Some(now.to_string()),
        subresource: sub.to_string(),
        fields: cfg_set.clone(),
    };
    let Some(live) = live else {
        let mut obj = config.clone();
        encode(&mut obj, vec![new_entry]);
        return Ok(obj);
    };
    let mut entries = decode(live).unwrap_or_default();
    let mine = entries
        .iter()
        .position(|e| e.same_identity(manager, "Apply", &api_version, sub));
    let last = mine.map(|i| entries.remove(i));
    let mut merged = managed_fields::merge(live, config, &shape);
    // Fields this manager applied before and no longer applies go, unless others own them.
    if let Some(last) = &last {
        let mut others = FieldSet::default();
        for e in &entries {
            others = others.union(&e.fields);
        }
        let owned = others.union(&cfg_set);
        let mut gone = last.fields.difference(&owned);
        spare_owned_parents(&mut gone, Some(&owned));
        if !gone.is_empty() {
            managed_fields::remove(&mut merged, &gone, &shape);
        }
    }
    let cmp = managed_fields::compare(&strip(info, sub, live), &strip(info, sub, &merged), &shape);
    let changed = cmp.added.union(&cmp.modified);
    let upgrading = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .is_some();
    let mut conflicts: Vec<(String, String)> = Vec::new();
    for e in entries.iter_mut() {
        let clash = e.fields.intersection(&changed);
        let migrates = upgrading && e.manager == CLIENT_SIDE_APPLY && e.operation == "Update";
        if !clash.is_empty() && !force && !migrates {
            for p in clash.paths() {
                conflicts.push((e.describe(), managed_fields::path_string(&p)));
            }
        }
        e.fields = e.fields.difference(&clash).difference(&cmp.removed);
    }
    if !conflicts.is_empty() {
        conflicts.sort();
        return Err(conflict_error(&conflicts));
    }
    let unchanged_object = strip(info, sub, live) == strip(info, sub, &merged);
    let mut entry = new_entry;
    if let Some(last) = last
        && last.fields == entry.fields
        && unchanged_object
    {
        entry.time = last.time;
    }
    entries.push(entry);
    encode(&mut merged, entries);
    // kubectl's server-side apply keeps an existing client-side apply annotation in step,
    // so a later client-side apply computes the right patch (upstream's
    // lastAppliedUpdater).
    if manager == "kubectl"
        && let Some(annotations) = merged
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        && annotations.contains_key(LAST_APPLIED)
    {
        annotations.insert(LAST_APPLIED.into(), json!(last_applied(config)));
    }
    Ok(merged)
}

/// The applied configuration as kubectl's annotation holds it: without the annotation
/// itself, keys sorted as Go marshals maps.
fn last_applied(config: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut c = config.clone();
    if let Some(meta) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        let now_empty = match meta.get_mut("annotations").and_then(Value::as_object_mut) {
            Some(a) => {
                a.remove(LAST_APPLIED);
                a.is_empty()
            }
            None => false,
        };
        if now_empty {
            meta.remove("annotations");
        }
    }
    sorted(&c).to_string()
}

/// A container the applier no longer applies stays when anyone still owns something
/// inside it (upstream adds owned items back after pruning).
fn spare_owned_parents(gone: &mut FieldSet, owned: Option<&FieldSet>) {
    if gone.member && owned.is_some_and(|o| !o.children.is_empty() && !o.is_empty()) {
        gone.member = false;
    }
    for (k, child) in gone.children.iter_mut() {
        spare_owned_parents(child, owned.and_then(|o| o.children.get(k)));
    }
}

/// Upstream's apply conflict error (`NewConflictError`).
fn conflict_error(conflicts: &[(String, String)]) -> ApiError {
    let causes = conflicts
        .iter()
        .map(|(m, f)| (format!("conflict with {m}"), f.clone()))
        .collect();
    let message = if let [(m, f)] = conflicts {
        format!("Apply failed with 1 conflict: conflict with {m}: {f}")
    } else {
        let mut lines = Vec::new();
        let mut current: Option<&str> = None;
        for (m, f) in conflicts {
            if current != Some(m) {
                lines.push(format!("conflicts with {m}:"));
                current = Some(m);
            }
            lines.push(format!("- {f}"));
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    ApiError::ApplyConflict { message, causes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployments() -> ResourceInfo {
        api::resources::builtin()
            .into_iter()
            .find(|r| r.kind == "Deployment")
            .expect("Deployment")
    }

    fn config(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": image}]}}}})
    }

    #[test]
    fn create_records_defaulted_fields_like_kube_apiserver() {
        let info = deployments();
        let mut obj = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},
            "spec":{"replicas":1,"selector":{"matchLabels":{"k":"v"}},
            "template":{"metadata":{"labels":{"k":"v"}},
            "spec":{"containers":[{"image":"alpine:3.6","name":"c"}]}}}});
        api::defaults::apply(info.group, info.plural, &mut obj);
        track_update(&info, None, None, &mut obj, "unknown", "t1");
        assert_eq!(
            obj["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:spec": {"f:progressDeadlineSeconds": {}, "f:replicas": {}, "f:revisionHistoryLimit": {}, "f:selector": {},
                "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
                "f:template": {"f:metadata": {"f:labels": {".": {}, "f:k": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                    "f:resources": {}, "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}}},
                "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {},
                "f:terminationGracePeriodSeconds": {}}}}})
        );
        assert_eq!(
            manager_from_user_agent("kubectl/v1.33.0 (linux/amd64)"),
            "kubectl"
        );
        assert_eq!(manager_from_user_agent(""), "unknown");
    }

    #[test]
    fn update_managers_are_capped_at_ten() {
        let info = deployments();
        let mut obj =
            apply(&info, None, None, &config(1, "nginx:1"), "a", false, "t00").expect("create");
        for n in 0..12 {
            let old = obj.clone();
            obj["metadata"]["labels"][format!("l{n}")] = json!("x");
            track_update(
                &info,
                None,
                Some(&old),
                &mut obj,
                &format!("m{n:02}"),
                &format!("t{:02}", n + 1),
            );
        }
        let entries = decode(&obj).expect("valid");
        let updates: Vec<&Entry> = entries.iter().filter(|e| e.operation == "Update").collect();
        assert_eq!(updates.len(), MAX_UPDATE_MANAGERS, "{updates:?}");
        assert!(entries.iter().any(|e| e.manager == "m11"));
        let bucket = entries
            .iter()
            .find(|e| e.manager == ANCIENT_CHANGES)
            .expect("bucket");
        assert!(
            bucket
                .fields
                .has(&["f:metadata".into(), "f:labels".into(), "f:l0".into()])
        );
        assert!(
            bucket
                .fields
                .has(&["f:metadata".into(), "f:labels".into(), "f:l2".into()])
        );
    }

    #[test]
    fn apply_conflicts_with_other_managers_unless_forced() {
        let info = deployments();
        let created =
            apply(&info, None, None, &config(1, "nginx:1"), "a", false, "t1").expect("create");
        assert_eq!(created["metadata"]["managedFields"][0]["manager"], "a");
        let err = apply(
            &info,
            None,
            Some(&created),
            &config(2, "nginx:1"),
            "b",
            false,
            "t2",
        )
        .expect_err("conflict");
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas"
        );
        assert_eq!(err.code(), 409);
        let status = err.to_status();
        assert_eq!(
            status["details"]["causes"][0]["reason"],
            "FieldManagerConflict"
        );
        assert_eq!(status["details"]["causes"][0]["field"], ".spec.replicas");
        // The same values are shared ownership, not a conflict.
        let shared = apply(
            &info,
            None,
            Some(&created),
            &config(1, "nginx:1"),
            "b",
            false,
            "t2",
        )
        .expect("no conflict");
        assert_eq!(
            shared["metadata"]["managedFields"].as_array().map(Vec::len),
            Some(2)
        );
        let forced = apply(
            &info,
            None,
            Some(&created),
            &config(2, "nginx:1"),
            "b",
            true,
            "t2",
        )
        .expect("forced");
        assert_eq!(forced["spec"]["replicas"], 2);
        let a = decode(&forced).expect("valid");
        let owner_a = a.iter().find(|e| e.manager == "a").expect("a");
        assert!(!owner_a.fields.has(&["f:spec".into(), "f:replicas".into()]));
    }

    #[test]
    fn apply_removes_fields_no_longer_applied() {
        let info = deployments();
        let mut with_label = config(1, "nginx:1");
        with_label["metadata"]["labels"] = json!({"tier": "front"});
        let created = apply(&info, None, None, &with_label, "a", false, "t1").expect("create");
        let again = apply(
            &info,
            None,
            Some(&created),
            &config(1, "nginx:1"),
            "a",
            false,
            "t2",
        )
        .expect("reapply");
        assert!(again.pointer("/metadata/labels/tier").is_none());
    }

    #[test]
    fn dropping_a_map_entry_keeps_the_map_others_own_entries_of() {
        let info = deployments();
        let mut cfg = config(1, "nginx:1");
        cfg["metadata"]["labels"] = json!({"a": "1", "b": "2"});
        let mut created = apply(&info, None, None, &cfg, "a", false, "t1").expect("create");
        // The applier's set also names the labels map itself (as upgraded entries do).
        created["metadata"]["managedFields"][0]["fieldsV1"]["f:metadata"]["f:labels"]["."] =
            json!({});
        cfg["metadata"]["labels"] = json!({"a": "1"});
        let again = apply(&info, None, Some(&created), &cfg, "a", false, "t2").expect("reapply");
        assert_eq!(again["metadata"]["labels"], json!({"a": "1"}));
    }

    #[test]
    fn updates_record_changed_fields_and_take_them_from_others() {
        let info = deployments();
        let created =
            apply(&info, None, None, &config(1, "nginx:1"), "a", false, "t1").expect("create");
        let mut updated = created.clone();
        updated["spec"]["replicas"] = json!(5);
        track_update(&info, None, Some(&created), &mut updated, "kubectl", "t2");
        let entries = decode(&updated).expect("valid");
        let k = entries
            .iter()
            .find(|e| e.manager == "kubectl")
            .expect("kubectl");
        assert_eq!(k.operation, "Update");
        assert_eq!(
            k.fields.to_fields_v1(),
            json!({"f:spec": {"f:replicas": {}}})
        );
        let a = entries.iter().find(|e| e.manager == "a").expect("a");
        assert!(!a.fields.has(&["f:spec".into(), "f:replicas".into()]));
        let err = apply(
            &info,
            None,
            Some(&updated),
            &config(1, "nginx:1"),
            "a",
            false,
            "t3",
        )
        .expect_err("conflict");
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas"
        );
    }
}
