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
mod tests {
    use super::*;

    fn pods() -> ResourceInfo {
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
