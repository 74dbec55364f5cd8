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
