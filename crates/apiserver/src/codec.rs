//! Encoding objects to and from storage: the stored bytes are the storage version's JSON
//! without `resourceVersion` (the store's revision supplies it on every read).

use api::{ApiError, ResourceInfo, convert};
use serde_json::{Value, json};
use store::KeyValue;

/// Turns a stored key/value into the object as `info` serves it.
pub fn decode(info: &ResourceInfo, kv: &KeyValue) -> Result<Value, ApiError> {
    let mut obj: Value = serde_json::from_slice(&kv.value).map_err(|e| {
        ApiError::Internal(format!("stored object {} is not valid JSON: {e}", kv.key))
    })?;
    set_resource_version(&mut obj, kv.mod_revision);
    Ok(if info.is_converted() {
        convert::from_storage(info, obj)
    } else {
        obj
    })
}

/// Turns an object in `info`'s served form into the bytes to store.
pub fn encode(info: &ResourceInfo, obj: &Value) -> Result<Vec<u8>, ApiError> {
    let mut stored = if info.is_converted() {
        convert::to_storage(info, obj.clone())
    } else {
        obj.clone()
    };
    if let Some(meta) = stored.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    serde_json::to_vec(&stored).map_err(|e| ApiError::Internal(format!("encoding object: {e}")))
}

/// Sets `metadata.resourceVersion` to the given revision.
pub fn set_resource_version(obj: &mut Value, revision: i64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), json!(revision.to_string()));
    }
}

/// Reads a metadata string field.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// Mutable access to `metadata`, creating it when absent; `None` if `obj` is not an object.
pub fn meta_mut(obj: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    let map = obj.as_object_mut()?;
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut()
}

/// The object's finalizers.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The object's labels (an empty map when unset).
pub fn labels(obj: &Value) -> serde_json::Map<String, Value> {
    obj.get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The JSON of a stored object as a client sees it, written straight from the stored bytes:
/// `metadata.resourceVersion` set to `revision` and, when `lean`, `metadata.managedFields`
/// left out. Every other member is copied as it is stored, without building a [`Value`],
/// which is what makes a watch event cheap to send to many watchers. `None` when the bytes are
/// not a JSON object with an object `metadata` (the caller then decodes, and reports the error).
///
/// Only for resources served in their storage form (not [`ResourceInfo::is_converted`]).
pub fn served_json(stored: &[u8], revision: i64, lean: bool) -> Option<Vec<u8>> {
    let top: Members = serde_json::from_slice(stored).ok()?;
    let mut out = Vec::with_capacity(stored.len() + 48);
    out.push(b'{');
    let mut saw_metadata = false;
    for (i, (key, value)) in top.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, key).ok()?;
        out.push(b':');
        if key != "metadata" {
            out.extend_from_slice(value.get().as_bytes());
            continue;
        }
        saw_metadata = true;
        let meta: Members = serde_json::from_str(value.get()).ok()?;
        out.push(b'{');
        let mut first = true;
        for (mk, mv) in &meta.0 {
            if mk == "resourceVersion" || (lean && mk == "managedFields") {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut out, mk).ok()?;
            out.push(b':');
            out.extend_from_slice(mv.get().as_bytes());
        }
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(br#""resourceVersion":""#);
        out.extend_from_slice(revision.to_string().as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.push(b'}');
    saw_metadata.then_some(out)
}

/// A stored object decoded only as far as selectors look: everything a label selector or a
/// field selector can name (`metadata` without `managedFields`, every object member and
/// scalar) with arrays left out, except that an array directly inside a top-level member keeps
/// its elements' scalars (`status.podIPs[0].ip`). Field selectors name scalars by path and never
/// reach into other arrays, so [`crate::registry::Filter::matches`] judges this as it judges
/// the whole object, without decoding a pod's containers, volumes and conditions. `None` when
/// the bytes are not a JSON object.
///
/// Only for resources served in their storage form (not [`ResourceInfo::is_converted`]).
pub fn selector_view(stored: &[u8]) -> Option<Value> {
    let top: Members = serde_json::from_slice(stored).ok()?;
    sparse_object(top, 0)
}

fn sparse_object(members: Members<'_>, depth: usize) -> Option<Value> {
    let mut out = serde_json::Map::with_capacity(members.0.len());
    for (key, raw) in members.0 {
        if depth == 1 && key == "managedFields" {
            continue;
        }
        let text = raw.get();
        let value = match text.as_bytes().first() {
            Some(b'{') => sparse_object(serde_json::from_str(text).ok()?, depth + 1)?,
            Some(b'[') if depth == 1 => {
                let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).ok()?;
                Value::Array(
                    items
                        .into_iter()
                        .map(|item| match item.get().as_bytes().first() {
                            Some(b'{') => scalars_only(serde_json::from_str(item.get()).ok()?),
                            _ => serde_json::from_str(item.get()).ok(),
                        })
                        .collect::<Option<Vec<Value>>>()?,
                )
            }
            Some(b'[') => continue,
            _ => serde_json::from_str(text).ok()?,
        };
        out.insert(key, value);
    }
    Some(Value::Object(out))
}

fn scalars_only(members: Members<'_>) -> Option<Value> {
    let mut out = serde_json::Map::new();
    for (key, raw) in members.0 {
        if !matches!(raw.get().as_bytes().first(), Some(b'{' | b'[')) {
            out.insert(key, serde_json::from_str(raw.get()).ok()?);
        }
    }
    Some(Value::Object(out))
}

/// A JSON object's members in order, each value left as raw JSON text.
struct Members<'a>(Vec<(String, &'a serde_json::value::RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Members<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Members<'a>, M::Error> {
                let mut members = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some(entry) = m.next_entry()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The built-in pods resource (for this module's and the watch tests).
    pub(crate) fn pods() -> ResourceInfo {
        crate::registry::Resources::builtin()
            .find("", "v1", "pods")
            .expect("builtin resource")
    }

    fn stored(obj: &Value) -> KeyValue {
        KeyValue {
            key: "/registry/core/pods/default/p".into(),
            value: encode(&pods(), obj).expect("encode"),
            create_revision: 3,
            mod_revision: 7,
        }
    }

    fn pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "p", "namespace": "default", "resourceVersion": "5",
                "labels": {"app": "web", "quote\"d": "x\u{e9}"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply",
                                   "fieldsV1": {"f:spec": {}}}],
                "uid": "u-1",
            },
            "spec": {"containers": [{"name": "c", "image": "nginx", "args": ["a\nb", "\u{1F600}"]}]},
            "status": {"phase": "Pending"},
        })
    }

    #[test]
    fn served_json_is_what_decoding_serves() {
        let kv = stored(&pod());
        let whole: Value =
            serde_json::from_slice(&served_json(&kv.value, 7, false).expect("served"))
                .expect("json");
        assert_eq!(whole, decode(&pods(), &kv).expect("decode"));
        assert_eq!(whole["metadata"]["resourceVersion"], "7");
        // Member order is kept, with resourceVersion last in metadata as decoding puts it.
        let keys: Vec<&String> = whole["metadata"]
            .as_object()
            .expect("meta")
            .keys()
            .collect();
        assert_eq!(keys.last().map(|k| k.as_str()), Some("resourceVersion"));
        assert_eq!(keys[0], "name");

        let lean: Value = serde_json::from_slice(&served_json(&kv.value, 7, true).expect("served"))
            .expect("json");
        let mut want = whole.clone();
        want["metadata"]
            .as_object_mut()
            .expect("meta")
            .remove("managedFields");
        assert_eq!(lean, want);
    }

    #[test]
    fn served_json_replaces_a_stored_resource_version_and_takes_any_revision() {
        let raw = br#"{"metadata":{"resourceVersion":"1","name":"x"},"data":{"k":"v"}}"#;
        let out: Value =
            serde_json::from_slice(&served_json(raw, 42, true).expect("served")).expect("json");
        assert_eq!(
            out,
            json!({"metadata": {"name": "x", "resourceVersion": "42"}, "data": {"k": "v"}})
        );
        let empty: Value =
            serde_json::from_slice(&served_json(br#"{"metadata":{}}"#, 1, false).expect("served"))
                .expect("json");
        assert_eq!(empty, json!({"metadata": {"resourceVersion": "1"}}));
    }

    #[test]
    fn selectors_judge_the_selector_view_as_they_judge_the_whole_object() {
        use crate::registry::Filter;
        let resources = crate::registry::Resources::builtin();
        let running = json!({
            "metadata": {"name": "p", "namespace": "default", "labels": {"app": "web", "tier": "b"},
                         "managedFields": [{"manager": "m", "fieldsV1": {}}]},
            "spec": {"nodeName": "n1", "schedulerName": "default-scheduler", "serviceAccount": "old",
                     "hostNetwork": false, "restartPolicy": "Always",
                     "containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}],
                     "affinity": {"nodeAffinity": {}}},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}],
                       "conditions": [{"type": "Ready", "status": "True"}]},
        });
        let pending = json!({"metadata": {"name": "q", "namespace": "default"},
                             "spec": {"containers": []}, "status": {"phase": "Pending"}});
        let event = json!({"metadata": {"name": "e", "namespace": "default"},
                           "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Started",
                           "source": {"component": "kubelet"}, "type": "Normal"});
        let cases: &[(&str, &Value, Option<&str>, Option<&str>)] = &[
            ("pods", &running, None, Some("spec.nodeName=n1")),
            ("pods", &running, None, Some("spec.nodeName!=")),
            ("pods", &pending, None, Some("spec.nodeName!=")),
            ("pods", &pending, None, Some("spec.nodeName=")),
            ("pods", &running, None, Some("status.podIP=10.0.0.5")),
            (
                "pods",
                &running,
                None,
                Some("status.phase=Running,metadata.name=p"),
            ),
            ("pods", &running, None, Some("spec.serviceAccountName=old")),
            ("pods", &running, None, Some("spec.hostNetwork=false")),
            (
                "pods",
                &running,
                None,
                Some("spec.schedulerName=fargate-scheduler"),
            ),
            ("pods", &running, None, Some("spec.restartPolicy=Always")),
            ("pods", &running, Some("app=web,tier notin (a)"), None),
            ("pods", &pending, Some("app=web"), None),
            (
                "pods",
                &running,
                Some("!missing"),
                Some("metadata.namespace=default"),
            ),
            (
                "events",
                &event,
                None,
                Some("involvedObject.kind=Pod,involvedObject.name=p"),
            ),
            (
                "events",
                &event,
                None,
                Some("source=kubelet,reason=Started,type=Normal"),
            ),
        ];
        let mut matched = 0;
        for (plural, obj, label, field) in cases {
            let info = resources.find("", "v1", plural).expect("resource");
            let filter = Filter::new(&info, *label, *field).expect("selector");
            let kv = KeyValue {
                key: format!("/registry/core/{plural}/default/x"),
                value: encode(&info, obj).expect("encode"),
                create_revision: 1,
                mod_revision: 1,
            };
            let whole = filter.matches(&decode(&info, &kv).expect("decode"));
            let view = filter.matches(&selector_view(&kv.value).expect("view"));
            assert_eq!(view, whole, "{plural} {label:?} {field:?}");
            matched += usize::from(whole);
        }
        // Both outcomes are exercised.
        assert!(matched > 3 && matched < cases.len(), "{matched}");
        let view = selector_view(
            &encode(&resources.find("", "v1", "pods").expect("pods"), &running).expect("encode"),
        )
        .expect("view");
        assert!(view["metadata"].get("managedFields").is_none());
        assert_eq!(
            view["spec"]["containers"],
            json!([{"name": "c", "image": "nginx"}])
        );
        assert!(selector_view(b"[1]").is_none() && selector_view(b"{").is_none());
    }

    #[test]
    fn served_json_refuses_what_is_not_an_object_with_metadata() {
        for bad in [
            &b""[..],
            b"not json",
            b"[1,2]",
            br#"{"metadata": 5}"#,
            br#"{"kind": "Pod"}"#,
            br#"{"metadata": {"name": "x"}"#,
            br#"{"metadata": {"name": "x"}} trailing"#,
        ] {
            assert_eq!(
                served_json(bad, 1, false),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
