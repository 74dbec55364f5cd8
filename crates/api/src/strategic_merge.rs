//! Strategic merge patch (`application/strategic-merge-patch+json`): applying a patch to an
//! object the way apimachinery's `strategicpatch.StrategicMergePatch` does (the apply
//! direction only; skiff never computes patches).
//!
//! Maps merge recursively and `null` deletes a key. Lists follow their field's patch
//! strategy: `merge` lists of objects merge element-wise by the merge key, `merge` lists of
//! scalars are unions, every other list is replaced. Directives:
//!
//! * `$patch: replace | delete` in a map (replace the map / make it empty) or as a list
//!   element (`replace` the list, `delete` the element with that merge key);
//! * `$retainKeys: [..]` clears the keys of the original map not listed, then merges;
//! * `$setElementOrder/<list>: [..]` orders a merged list;
//! * `$deleteFromPrimitiveList/<list>: [..]` removes values from a list of scalars.
//!
//! The schema ([`PatchSchema`]) supplies the strategies and merge keys; fields it does not
//! know get merge-patch behaviour for maps and replacement for lists. The built-in types'
//! schema is [`crate::schema::Definition`]. Errors carry upstream's messages; see
//! [`SmpError::status_code`] for the HTTP status kube-apiserver answers with.

use crate::schema::{self, Definition, FieldType, PatchStrategy};
use serde_json::{Map, Value};

/// How deep patches and objects may nest before [`apply`] gives up (serde_json's parser
/// stops at 128 anyway; this bounds recursion for values built in memory).
pub const MAX_DEPTH: usize = 256;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// A strategic-merge-patch failure. Messages match apimachinery's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmpError {
    /// The original or the patch is not a JSON object.
    #[error("invalid JSON document")]
    BadJsonDoc,
    /// A list whose elements are lists.
    #[error("lists of lists are not supported")]
    NoListOfLists,
    /// A malformed `$deleteFromPrimitiveList/<field>` key.
    #[error("invalid patch format of primitive list")]
    BadPatchFormatForPrimitiveList,
    /// `$retainKeys` is not a list, or the patch sets a key it does not list.
    #[error("invalid patch format of retainKeys")]
    BadPatchFormatForRetainKeys,
    /// A malformed `$setElementOrder/<field>` key or list.
    #[error("invalid patch format of setElementOrder list")]
    BadPatchFormatForSetElementOrderList,
    /// A `$patch` value other than `replace`/`delete` (or `merge` in lists).
    #[error("unknown patch type: {patch_type} in map: {map}")]
    UnknownPatchType {
        /// The directive's value, Go-formatted.
        patch_type: String,
        /// The map holding it, Go-formatted.
        map: String,
    },
    /// `$patch: merge` as a list element.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    /// An element of a keyed list lacks the merge key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey {
        /// The element, Go-formatted.
        map: String,
        /// The merge key.
        key: String,
    },
    /// A value of the wrong JSON type where a map or list was required.
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType {
        /// The Go type expected.
        expected: &'static str,
        /// The Go type found.
        actual: &'static str,
    },
    /// A `merge` list of objects whose field declares no merge key.
    #[error("cannot merge lists without merge key for {0}")]
    NoMergeKeyInSchema(String),
    /// A list mixing element types.
    #[error("list element types are not identical: {0}")]
    MixedElementTypes(String),
    /// Ordering lists that are both empty.
    #[error("no elements in any of the given slices")]
    NoElements,
    /// A keyed list holds something other than maps.
    #[error("value for key {0} is not a map")]
    NotAMap(usize),
    /// The patch list's order contradicts its `$setElementOrder` list.
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    OrderMismatch {
        /// The patch list, Go-formatted.
        patch: String,
        /// The `$setElementOrder` list, Go-formatted.
        order: String,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("the patch or object is nested more than {MAX_DEPTH} levels deep")]
    TooDeep,
}

impl SmpError {
    /// The HTTP status kube-apiserver answers with (`interpretStrategicMergePatchError`):
    /// 400 for malformed documents and directives it classifies, 422 for lists of lists,
    /// 500 for the rest (upstream passes them through unclassified).
    pub fn status_code(&self) -> u16 {
        match self {
            SmpError::BadJsonDoc
            | SmpError::BadPatchFormatForPrimitiveList
            | SmpError::BadPatchFormatForRetainKeys
            | SmpError::BadPatchFormatForSetElementOrderList
            | SmpError::TooDeep => 400,
            SmpError::NoListOfLists => 422,
            _ => 500,
        }
    }
}

/// The patch metadata of one field, and the schema of its value (of its elements, for
/// lists).
pub struct FieldMeta<'a> {
    /// The field's patch strategy.
    pub strategy: Option<PatchStrategy>,
    /// The merge key of a list of objects.
    pub merge_key: Option<&'a str>,
    /// The schema of the value (list element) if it is an object the schema describes.
    pub schema: Option<Box<dyn PatchSchema + 'a>>,
}

impl FieldMeta<'_> {
    /// Metadata of a field the schema knows nothing about.
    pub fn unknown() -> Self {
        FieldMeta {
            strategy: None,
            merge_key: None,
            schema: None,
        }
    }

    fn merges(&self) -> bool {
        self.strategy.is_some_and(PatchStrategy::merges)
    }

    fn replaces(&self) -> bool {
        self.strategy == Some(PatchStrategy::Replace)
    }
}

/// Navigation over the type being patched (upstream's `LookupPatchMeta`).
pub trait PatchSchema {
    /// The metadata of field `key` of the object this schema describes; for a list field,
    /// `schema` describes its elements. Unknown fields give [`FieldMeta::unknown`].
    fn lookup(&self, key: &str) -> FieldMeta<'_>;
    /// The type's name, for error messages.
    fn name(&self) -> String;
}

impl<T: PatchSchema + ?Sized> PatchSchema for &T {
    fn lookup(&self, key: &str) -> FieldMeta<'_> {
        (**self).lookup(key)
    }
    fn name(&self) -> String {
        (**self).name()
    }
}

impl PatchSchema for Definition {
    fn lookup(&self, key: &str) -> FieldMeta<'_> {
        let Some(field) = self.field(key) else {
            return FieldMeta::unknown();
        };
        let schema: Option<Box<dyn PatchSchema>> = match &field.ty {
            FieldType::Ref(_) | FieldType::List(_) => field
                .element_definition()
                .map(|d| Box::new(d) as Box<dyn PatchSchema>),
            FieldType::Map(_) => field
                .element_definition()
                .map(|d| Box::new(MapOf(d)) as Box<dyn PatchSchema>),
            FieldType::Scalar(_) => None,
        };
        FieldMeta {
            strategy: field.patch_strategy,
            merge_key: field.patch_merge_key,
            schema,
        }
    }

    fn name(&self) -> String {
        self.name.to_string()
    }
}

/// A map whose values are all objects of one definition (`map[string]T`).
struct MapOf(&'static Definition);

impl PatchSchema for MapOf {
    fn lookup(&self, _key: &str) -> FieldMeta<'_> {
        FieldMeta {
            strategy: None,
            merge_key: None,
            schema: Some(Box::new(self.0)),
        }
    }

    fn name(&self) -> String {
        format!("map[string]{}", self.0.name)
    }
}

/// A schema that knows no fields: the patch merges like a JSON merge patch, except that
/// directives are still honoured.
pub struct NoSchema;

impl PatchSchema for NoSchema {
    fn lookup(&self, _key: &str) -> FieldMeta<'_> {
        FieldMeta::unknown()
    }
    fn name(&self) -> String {
        "object".into()
    }
}

/// The schema of a served built-in kind, if skiff knows it (see
/// [`schema::definition_for`]).
pub fn schema_for(group: &str, version: &str, kind: &str) -> Option<&'static Definition> {
    schema::definition_for(group, version, kind)
}

/// Applies strategic merge `patch` to `original` (both JSON objects) and returns the result.
pub fn apply(original: &Value, patch: &Value, schema: &dyn PatchSchema) -> Result<Value, SmpError> {
    if depth_exceeds(patch, MAX_DEPTH) {
        return Err(SmpError::TooDeep);
    }
    let (Value::Object(original), Value::Object(patch)) = (original, patch) else {
        return Err(SmpError::BadJsonDoc);
    };
    merge_map(original.clone(), patch.clone(), Some(schema), 0).map(Value::Object)
}

/// Removes directive keys that upstream copies verbatim into new values (`$retainKeys`,
/// `$setElementOrder/..`, `$deleteFromPrimitiveList/..` inside maps added whole, `$patch`
/// under `replace` strategies). kube-apiserver drops them when it decodes the result into
/// the typed object; a server keeping JSON should call this on the result.
pub fn remove_leftover_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !is_directive_key(k));
            for v in map.values_mut() {
                remove_leftover_directives(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(remove_leftover_directives),
        _ => {}
    }
}

fn is_directive_key(k: &str) -> bool {
    k == DIRECTIVE
        || k == RETAIN_KEYS
        || k.starts_with(&format!("{SET_ELEMENT_ORDER}/"))
        || k.starts_with(&format!("{DELETE_FROM_PRIMITIVE_LIST}/"))
}

fn depth_exceeds(v: &Value, budget: usize) -> bool {
    match v {
        Value::Object(_) | Value::Array(_) if budget == 0 => true,
        Value::Object(m) => m.values().any(|v| depth_exceeds(v, budget - 1)),
        Value::Array(a) => a.iter().any(|v| depth_exceeds(v, budget - 1)),
        _ => false,
    }
}

type Schema<'a> = Option<&'a dyn PatchSchema>;

fn lookup<'a>(schema: Schema<'a>, key: &str) -> FieldMeta<'a> {
    schema.map_or_else(FieldMeta::unknown, |s| s.lookup(key))
}

/// upstream `mergeMap` with MergeParallelList and IgnoreUnmatchedNulls.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Schema<'_>,
    depth: usize,
) -> Result<Map<String, Value>, SmpError> {
    if depth > MAX_DEPTH {
        return Err(SmpError::TooDeep);
    }
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(unknown_patch_type(directive, &patch)),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    apply_set_element_order(&mut original, &mut patch, schema, depth)?;

    for (key, patch_value) in patch {
        let (key, is_delete_list) = match key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            Some(rest) => match rest.strip_prefix('/') {
                Some(field) => (field.to_string(), true),
                None => return Err(SmpError::BadPatchFormatForPrimitiveList),
            },
            None => (key, false),
        };
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let same_type = original
            .get(&key)
            .is_some_and(|o| go_type(o) == go_type(&patch_value));
        if !same_type {
            if !is_delete_list {
                let mut v = patch_value;
                discard_nulls(&mut v);
                match remove_directives(v) {
                    Some(v) => {
                        original.insert(key, v);
                    }
                    None => {
                        original.remove(&key);
                    }
                }
            }
            continue;
        }
        let Some(current) = original.get_mut(&key) else {
            continue;
        };
        match (current.take(), patch_value) {
            (Value::Object(o), Value::Object(p)) => {
                let meta = lookup(schema, &key);
                *current = if meta.replaces() {
                    Value::Object(p)
                } else {
                    Value::Object(merge_map(o, p, meta.schema.as_deref(), depth + 1)?)
                };
            }
            (Value::Array(o), Value::Array(p)) => {
                let meta = lookup(schema, &key);
                *current = Value::Array(merge_slice_handler(o, p, &meta, is_delete_list, depth)?);
            }
            (_, p) => match remove_directives(p) {
                Some(v) => *current = v,
                None => {
                    original.remove(&key);
                }
            },
        }
    }
    Ok(original)
}

/// upstream `applyRetainKeysDirective`.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), SmpError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(SmpError::BadPatchFormatForRetainKeys);
    };
    let retained = |k: &str| retain.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !retained(k) {
            return Err(SmpError::BadPatchFormatForRetainKeys);
        }
    }
    original.retain(|k, _| retained(k));
    Ok(())
}

/// upstream `mergePatchIntoOriginal`: merges each list that has a `$setElementOrder`
/// directive together with its patch list, then orders it.
fn apply_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: Schema<'_>,
    depth: usize,
) -> Result<(), SmpError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(bad_arg(GO_SLICE, &order));
        };
        let field = match key.split_once('/') {
            Some((SET_ELEMENT_ORDER, field)) => field.to_string(),
            _ => return Err(SmpError::BadPatchFormatForSetElementOrderList),
        };
        let original_list = match original.get(&field) {
            None => None,
            Some(Value::Array(l)) => Some(l.clone()),
            Some(other) => return Err(bad_arg(GO_SLICE, other)),
        };
        let patch_list = match patch.get(&field) {
            None => None,
            Some(Value::Array(l)) => Some(l.clone()),
            Some(other) => return Err(bad_arg(GO_SLICE, other)),
        };
        let meta = lookup(schema, &field);
        let merge_key = meta.merge_key.unwrap_or("");
        validate_patch_with_order(patch_list.as_deref().unwrap_or(&[]), &order, merge_key)?;
        let merged = match (&original_list, &patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => match remove_directives(Value::Array(p.clone())) {
                Some(Value::Array(v)) => v,
                _ => continue,
            },
            (Some(o), Some(p)) => merge_slice_handler(o.clone(), p.clone(), &meta, false, depth)?,
            (None, None) => continue,
        };
        let (patch_items, server_only) = if merge_key.is_empty() {
            partition_primitives(merged, &order)
        } else {
            partition_maps(merged, &order, merge_key)?
        };
        let original_list = original_list.unwrap_or_default();
        let kind = element_kind(&[&original_list, patch_list.as_deref().unwrap_or(&[])])?;
        let both = normalize_element_order(
            patch_items,
            server_only,
            &order,
            &original_list,
            merge_key,
            kind,
        )?;
        original.insert(field.clone(), Value::Array(both));
        patch.remove(&field);
    }
    Ok(())
}

/// upstream `validatePatchWithSetOrderList`.
fn validate_patch_with_order(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<(), SmpError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete: Vec<&Value> = if merge_key.is_empty() {
        patch_list.iter().collect()
    } else {
        let mut kept = Vec::new();
        for v in patch_list {
            let Value::Object(m) = v else {
                return Err(bad_arg(GO_MAP, v));
            };
            if m.get(DIRECTIVE).and_then(Value::as_str) != Some("delete") {
                kept.push(v);
            }
        }
        kept
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < non_delete.len() && oi < order.len() {
        if non_delete[pi]
            .as_object()
            .is_some_and(|m| m.contains_key(DIRECTIVE))
        {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(non_delete[pi], &order[oi], merge_key)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < non_delete.len() && oi >= order.len() {
        return Err(SmpError::OrderMismatch {
            patch: go_fmt(&Value::Array(patch_list.to_vec())),
            order: go_fmt(&Value::Array(order.to_vec())),
        });
    }
    Ok(())
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool, SmpError> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let Value::Object(l) = left else {
        return Err(bad_arg(GO_MAP, left));
    };
    let Value::Object(r) = right else {
        return Err(bad_arg(GO_MAP, right));
    };
    let lv = l.get(merge_key).ok_or_else(|| no_merge_key(l, merge_key))?;
    let rv = r.get(merge_key).ok_or_else(|| no_merge_key(r, merge_key))?;
    Ok(lv == rv)
}

/// upstream `mergeSliceHandler`: `merge` lists (and deletion lists) merge, others replace.
fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: &FieldMeta<'_>,
    is_delete_list: bool,
    depth: usize,
) -> Result<Vec<Value>, SmpError> {
    if meta.merges() || is_delete_list {
        merge_slice(original, patch, meta, is_delete_list, depth)
    } else {
        Ok(patch)
    }
}

/// The element kind that matters for ordering: maps are matched by merge key, everything
/// else by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Scalar,
}

/// upstream `mergeSlice`.
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: &FieldMeta<'_>,
    is_delete_list: bool,
    depth: usize,
) -> Result<Vec<Value>, SmpError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = element_kind(&[&original, &patch])?;
    let merge_key = meta.merge_key.unwrap_or("");
    let (merged, original, patch) = if kind == Kind::Scalar {
        if is_delete_list {
            return Ok(original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect());
        }
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.iter().chain(patch.iter()) {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        (merged, original, patch)
    } else {
        if merge_key.is_empty() {
            let name = meta
                .schema
                .as_ref()
                .map_or_else(|| "object".to_string(), |s| s.name());
            return Err(SmpError::NoMergeKeyInSchema(name));
        }
        let (original, patch) = merge_slice_with_special_elements(original, patch, merge_key)?;
        let merged = merge_slice_without_special_elements(
            original.clone(),
            &patch,
            merge_key,
            meta.schema.as_deref(),
            depth,
        )?;
        (merged, original, patch)
    };
    let (patch_items, server_only) = if merge_key.is_empty() {
        partition_primitives(merged, &patch)
    } else {
        partition_maps(merged, &patch, merge_key)?
    };
    normalize_element_order(patch_items, server_only, &patch, &original, merge_key, kind)
}

/// upstream `mergeSliceWithSpecialElements`: applies `$patch: delete` elements to
/// `original` and handles `$patch: replace`; returns the new original and the plain patch
/// elements.
fn merge_slice_with_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), SmpError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for v in patch {
        let Value::Object(m) = &v else {
            return Err(bad_arg(GO_MAP, &v));
        };
        let Some(directive) = m.get(DIRECTIVE) else {
            plain.push(v);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let key_value = m.get(merge_key).ok_or_else(|| no_merge_key(m, merge_key))?;
                for (i, item) in original.iter().enumerate() {
                    if !item.is_object() {
                        return Err(SmpError::NotAMap(i));
                    }
                }
                original.retain(|item| item.get(merge_key) != Some(key_value));
            }
            Some("replace") => replace = true,
            Some("merge") => return Err(SmpError::MergeDirectiveInList),
            _ => return Err(unknown_patch_type(directive, m)),
        }
    }
    if replace {
        return Ok((plain, Vec::new()));
    }
    Ok((original, plain))
}

/// upstream `mergeSliceWithoutSpecialElements`: merges each patch element into the
/// original element with the same merge key, or appends it.
fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    schema: Schema<'_>,
    depth: usize,
) -> Result<Vec<Value>, SmpError> {
    for v in patch {
        let Value::Object(m) = v else {
            return Err(bad_arg(GO_MAP, v));
        };
        let key_value = m.get(merge_key).ok_or_else(|| no_merge_key(m, merge_key))?;
        match find_by_key(&original, merge_key, key_value)? {
            Some(i) => {
                let Value::Object(o) = original[i].take() else {
                    return Err(SmpError::NotAMap(i));
                };
                original[i] = Value::Object(merge_map(o, m.clone(), schema, depth + 1)?);
            }
            None => original.push(v.clone()),
        }
    }
    Ok(original)
}

/// upstream `findMapInSliceBasedOnKeyValue`.
fn find_by_key(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>, SmpError> {
    for (i, item) in list.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(SmpError::NotAMap(i));
        };
        if m.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// upstream `partitionPrimitivesByPresentInList`.
fn partition_primitives(merged: Vec<Value>, by: &[Value]) -> (Vec<Value>, Vec<Value>) {
    merged.into_iter().partition(|v| by.contains(v))
}

/// upstream `partitionMapsByPresentInList`.
fn partition_maps(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), SmpError> {
    let (mut in_patch, mut server_only) = (Vec::new(), Vec::new());
    for v in merged {
        let Value::Object(m) = &v else {
            return Err(bad_arg(GO_MAP, &v));
        };
        let key_value = m.get(merge_key).ok_or_else(|| no_merge_key(m, merge_key))?;
        if find_by_key(by, merge_key, key_value)?.is_some() {
            in_patch.push(v);
        } else {
            server_only.push(v);
        }
    }
    Ok((in_patch, server_only))
}

/// upstream `normalizeElementOrder`: sorts the patch items by `patch_order` and the
/// server-only items by `server_order`, then interleaves them.
fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>, SmpError> {
    let patch = normalize_slice_order(patch, patch_order, merge_key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, kind)?;
    Ok(merge_sorted(
        server_only,
        patch,
        server_order,
        merge_key,
        kind,
    ))
}

/// Position of `item` in `list`, matching maps by merge key (upstream `index`).
fn index_of(list: &[Value], item: &Value, merge_key: &str, kind: Kind) -> Option<usize> {
    let key_of = |v: &Value| match kind {
        Kind::Map => v.get(merge_key).cloned().unwrap_or(Value::Null),
        Kind::Scalar => v.clone(),
    };
    let wanted = key_of(item);
    list.iter().position(|v| key_of(v) == wanted)
}

/// upstream `normalizeSliceOrder`: `$patch: delete` elements go last.
fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>, SmpError> {
    let (mut keep, deleted) = if kind == Kind::Map {
        for v in to_sort.iter().chain(order) {
            let Value::Object(m) = v else {
                return Err(bad_arg(GO_MAP, v));
            };
            if !m.contains_key(merge_key) {
                return Err(no_merge_key(m, merge_key));
            }
        }
        to_sort
            .into_iter()
            .partition(|v| v.get(DIRECTIVE).and_then(Value::as_str) != Some("delete"))
    } else {
        (to_sort, Vec::new())
    };
    keep.sort_by_key(|v| index_of(order, v, merge_key, kind).unwrap_or(usize::MAX));
    keep.extend(deleted);
    Ok(keep)
}

/// upstream `mergeSortedSlice`: inserts each `left` item into `right` before the first
/// item the server order puts after it, keeping both lists' relative orders.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (
                    index_of(server_order, l, merge_key, kind),
                    index_of(server_order, r, merge_key, kind)
                ),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// upstream `sliceElementType`: all elements share one JSON type, and none is a list.
fn element_kind(lists: &[&[Value]]) -> Result<Kind, SmpError> {
    let mut seen: Option<GoType> = None;
    for v in lists.iter().flat_map(|l| l.iter()) {
        let t = go_type(v);
        match seen {
            None if t == GoType::Slice => return Err(SmpError::NoListOfLists),
            None => seen = Some(t),
            Some(prev) if prev != t => {
                let all: Vec<Value> = lists.iter().map(|l| Value::Array(l.to_vec())).collect();
                return Err(SmpError::MixedElementTypes(go_fmt(&Value::Array(all))));
            }
            Some(_) => {}
        }
    }
    match seen {
        None => Err(SmpError::NoElements),
        Some(GoType::Map) => Ok(Kind::Map),
        Some(_) => Ok(Kind::Scalar),
    }
}

/// upstream `removeDirectives`: `None` when the value itself is a `$patch` map.
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE) {
                return None;
            }
            Some(Value::Object(
                m.into_iter()
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// upstream `discardNullValuesFromPatch`.
fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// The Go type a JSON value decodes to (`json.Unmarshal` into `interface{}` with
/// apimachinery's int64 conversion); values of different types never merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GoType {
    Nil,
    Bool,
    Int,
    Float,
    String,
    Slice,
    Map,
}

const GO_MAP: &str = "map[string]interface {}";
const GO_SLICE: &str = "[]interface {}";

fn go_type(v: &Value) -> GoType {
    match v {
        Value::Null => GoType::Nil,
        Value::Bool(_) => GoType::Bool,
        Value::Number(n) if n.is_f64() => GoType::Float,
        Value::Number(_) => GoType::Int,
        Value::String(_) => GoType::String,
        Value::Array(_) => GoType::Slice,
        Value::Object(_) => GoType::Map,
    }
}

fn go_type_name(v: &Value) -> &'static str {
    match go_type(v) {
        GoType::Nil => "<nil>",
        GoType::Bool => "bool",
        GoType::Int => "int64",
        GoType::Float => "float64",
        GoType::String => "string",
        GoType::Slice => GO_SLICE,
        GoType::Map => GO_MAP,
    }
}

/// A value formatted like Go's `%v` of its decoded form (`map[a:1 b:[x y]]`).
fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_fmt).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(m) => go_fmt_map(m),
    }
}

fn go_fmt_map(m: &Map<String, Value>) -> String {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    let parts: Vec<String> = keys
        .into_iter()
        .map(|k| format!("{k}:{}", go_fmt(&m[k])))
        .collect();
    format!("map[{}]", parts.join(" "))
}

fn bad_arg(expected: &'static str, actual: &Value) -> SmpError {
    SmpError::BadArgType {
        expected,
        actual: go_type_name(actual),
    }
}

fn no_merge_key(m: &Map<String, Value>, key: &str) -> SmpError {
    SmpError::NoMergeKey {
        map: go_fmt_map(m),
        key: key.to_string(),
    }
}

fn unknown_patch_type(directive: &Value, m: &Map<String, Value>) -> SmpError {
    SmpError::UnknownPatchType {
        patch_type: go_fmt(directive),
        map: go_fmt_map(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The upstream test schema (`mergeItem`, Swagger 2.0), navigated by `$ref`.
    struct SwaggerDef<'a> {
        defs: &'a Map<String, Value>,
        name: String,
    }

    impl PatchSchema for SwaggerDef<'_> {
        fn lookup(&self, key: &str) -> FieldMeta<'_> {
            let Some(prop) = self.defs[&self.name].pointer(&format!("/properties/{key}")) else {
                return FieldMeta::unknown();
            };
            let target = prop
                .get("$ref")
                .or_else(|| prop.pointer("/items/$ref"))
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/definitions/"))
                .filter(|d| self.defs.contains_key(*d));
            FieldMeta {
                strategy: prop["x-kubernetes-patch-strategy"]
                    .as_str()
                    .and_then(PatchStrategy::parse),
                merge_key: prop["x-kubernetes-patch-merge-key"].as_str(),
                schema: target.map(|d| {
                    Box::new(SwaggerDef {
                        defs: self.defs,
                        name: d.to_string(),
                    }) as Box<dyn PatchSchema>
                }),
            }
        }

        fn name(&self) -> String {
            self.name.clone()
        }
    }

    /// Loads `swagger-merge-item.json` from ../shared (it has a trailing comma, as upstream
    /// reads it with a YAML parser); `None`, with the reason printed, when it is missing.
    fn merge_item_definitions() -> Option<Map<String, Value>> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/conformance/strategic-merge-patch/testdata/swagger-merge-item.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("skipping: {path} is not present");
            return None;
        };
        let mut lenient = String::with_capacity(text.len());
        let mut pending_comma = false;
        for c in text.chars() {
            if pending_comma && !c.is_whitespace() {
                if c != '}' && c != ']' {
                    lenient.push(',');
                }
                pending_comma = false;
            }
            if c == ',' {
                pending_comma = true;
            } else {
                lenient.push(c);
            }
        }
        let doc: Value = serde_json::from_str(&lenient).expect("swagger-merge-item.json parses");
        match doc.get("definitions") {
            Some(Value::Object(defs)) => Some(defs.clone()),
            _ => panic!("swagger-merge-item.json has no definitions"),
        }
    }

    /// One apply case: `original` + `patch` gives `want` (a result or an error message).
    struct Case {
        name: &'static str,
        original: Value,
        patch: Value,
        want: Result<Value, &'static str>,
    }

    fn case(name: &'static str, original: Value, patch: Value, want: Value) -> Case {
        Case {
            name,
            original,
            patch,
            want: Ok(want),
        }
    }

    fn fails(name: &'static str, original: Value, patch: Value, message: &'static str) -> Case {
        Case {
            name,
            original,
            patch,
            want: Err(message),
        }
    }

    fn run(cases: Vec<Case>, schema: &dyn PatchSchema) {
        for c in cases {
            let got = apply(&c.original, &c.patch, schema);
            match (&c.want, got) {
                (Ok(want), Ok(got)) => assert_eq!(&got, want, "case {:?}", c.name),
                (Err(want), Err(err)) => {
                    assert_eq!(err.to_string(), *want, "case {:?}", c.name)
                }
                (want, got) => panic!("case {:?}: want {want:?}, got {got:?}", c.name),
            }
        }
    }

    #[test]
    fn merge_item_schema_cases_match_upstream_semantics() {
        let Some(defs) = merge_item_definitions() else {
            return;
        };
        let schema = SwaggerDef {
            defs: &defs,
            name: "mergeItem".into(),
        };
        let cases = vec![
            case(
                "null deletes a key",
                json!({"name": "1", "value": "1"}),
                json!({"value": null}),
                json!({"name": "1"}),
            ),
            case(
                "null for a missing key is ignored",
                json!({"name": "1"}),
                json!({"value": null}),
                json!({"name": "1"}),
            ),
            case(
                "maps merge recursively",
                json!({"simpleMap": {"a": "1", "b": "2"}}),
                json!({"simpleMap": {"b": null, "c": "3"}}),
                json!({"simpleMap": {"a": "1", "c": "3"}}),
            ),
            case(
                "$patch replace on a map replaces it",
                json!({"simpleMap": {"a": "1", "b": "2"}, "name": "x"}),
                json!({"simpleMap": {"$patch": "replace", "c": "3"}}),
                json!({"simpleMap": {"c": "3"}, "name": "x"}),
            ),
            case(
                "$patch delete on a present map empties it",
                json!({"simpleMap": {"a": "1"}, "name": "x"}),
                json!({"simpleMap": {"$patch": "delete"}}),
                json!({"simpleMap": {}, "name": "x"}),
            ),
            case(
                "$patch delete on an absent map leaves it absent",
                json!({"name": "x"}),
                json!({"simpleMap": {"$patch": "delete"}}),
                json!({"name": "x"}),
            ),
            case(
                "$patch delete at the top empties the object",
                json!({"name": "x", "value": "y"}),
                json!({"$patch": "delete"}),
                json!({}),
            ),
            case(
                "$patch replace at the top replaces the object",
                json!({"name": "x", "value": "y"}),
                json!({"$patch": "replace", "other": "z"}),
                json!({"other": "z"}),
            ),
            case(
                "merging list merges by key; patch order wins over server order",
                json!({"mergingList": [{"name": "1", "value": "a"}, {"name": "2", "value": "b"}]}),
                json!({"mergingList": [{"name": "4"}, {"name": "2", "value": "c"}, {"name": "3"}]}),
                json!({"mergingList": [
                    {"name": "4"}, {"name": "1", "value": "a"}, {"name": "2", "value": "c"}, {"name": "3"}
                ]}),
            ),
            case(
                "merged elements drop keys patched to null",
                json!({"mergingList": [{"name": "1", "value": "a", "other": "b"}]}),
                json!({"mergingList": [{"name": "1", "value": null}]}),
                json!({"mergingList": [{"name": "1", "other": "b"}]}),
            ),
            case(
                "$patch delete element removes by merge key",
                json!({"mergingList": [{"name": "1"}, {"name": "2", "other": "b"}]}),
                json!({"mergingList": [{"name": "1", "$patch": "delete"}]}),
                json!({"mergingList": [{"name": "2", "other": "b"}]}),
            ),
            case(
                "$patch delete of a missing element is a no-op",
                json!({"mergingList": [{"name": "2"}]}),
                json!({"mergingList": [{"name": "9", "$patch": "delete"}]}),
                json!({"mergingList": [{"name": "2"}]}),
            ),
            case(
                "$patch replace element replaces the whole list",
                json!({"mergingList": [{"name": "1"}, {"name": "2"}]}),
                json!({"mergingList": [{"name": "3", "value": "x"}, {"$patch": "replace"}]}),
                json!({"mergingList": [{"name": "3", "value": "x"}]}),
            ),
            case(
                "non-merging list is replaced",
                json!({"nonMergingList": [{"name": "1"}, {"name": "2"}]}),
                json!({"nonMergingList": [{"name": "3"}]}),
                json!({"nonMergingList": [{"name": "3"}]}),
            ),
            case(
                "merging primitive list is a union keeping order",
                json!({"mergingIntList": [1, 2]}),
                json!({"mergingIntList": [2, 3]}),
                json!({"mergingIntList": [1, 2, 3]}),
            ),
            case(
                "non-merging primitive list is replaced",
                json!({"nonMergingIntList": [1, 2]}),
                json!({"nonMergingIntList": [3]}),
                json!({"nonMergingIntList": [3]}),
            ),
            case(
                "$deleteFromPrimitiveList removes values",
                json!({"mergingIntList": [1, 2, 3]}),
                json!({"$deleteFromPrimitiveList/mergingIntList": [2, 7]}),
                json!({"mergingIntList": [1, 3]}),
            ),
            case(
                "$deleteFromPrimitiveList on an absent list adds nothing",
                json!({"name": "x"}),
                json!({"$deleteFromPrimitiveList/mergingIntList": [2]}),
                json!({"name": "x"}),
            ),
            case(
                "$setElementOrder reorders a keyed list without other changes",
                json!({"mergingList": [{"name": "1"}, {"name": "2"}, {"name": "3"}]}),
                json!({"$setElementOrder/mergingList": [{"name": "3"}, {"name": "1"}, {"name": "2"}]}),
                json!({"mergingList": [{"name": "3"}, {"name": "1"}, {"name": "2"}]}),
            ),
            case(
                "$setElementOrder places a new element",
                json!({"mergingList": [{"name": "1", "value": "a"}, {"name": "2"}]}),
                json!({
                    "$setElementOrder/mergingList": [{"name": "1"}, {"name": "3"}, {"name": "2"}],
                    "mergingList": [{"name": "3", "value": "c"}]
                }),
                json!({"mergingList": [{"name": "1", "value": "a"}, {"name": "3", "value": "c"}, {"name": "2"}]}),
            ),
            case(
                "$setElementOrder with a deleted element",
                json!({"mergingList": [{"name": "1"}, {"name": "2"}, {"name": "3"}]}),
                json!({
                    "$setElementOrder/mergingList": [{"name": "3"}, {"name": "1"}],
                    "mergingList": [{"name": "2", "$patch": "delete"}]
                }),
                json!({"mergingList": [{"name": "3"}, {"name": "1"}]}),
            ),
            case(
                "$setElementOrder reorders a primitive list",
                json!({"mergingIntList": [1, 2, 3]}),
                json!({"$setElementOrder/mergingIntList": [3, 1, 2]}),
                json!({"mergingIntList": [3, 1, 2]}),
            ),
            case(
                "$setElementOrder for a list only the patch has",
                json!({}),
                json!({
                    "$setElementOrder/mergingIntList": [2, 1],
                    "mergingIntList": [2, 1]
                }),
                json!({"mergingIntList": [2, 1]}),
            ),
            case(
                "$retainKeys drops unlisted keys, then merges",
                json!({"retainKeysMap": {"name": "a", "value": "b", "other": "c"}}),
                json!({"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "x"}}),
                json!({"retainKeysMap": {"name": "a", "value": "x"}}),
            ),
            case(
                "$retainKeys in merging list elements",
                json!({"retainKeysMergingList": [{"name": "1", "value": "a", "other": "b"}, {"name": "2"}]}),
                json!({"retainKeysMergingList": [{"name": "1", "$retainKeys": ["name", "other"]}]}),
                json!({"retainKeysMergingList": [{"name": "1", "other": "b"}, {"name": "2"}]}),
            ),
            case(
                "replace strategy replaces a map",
                json!({"replacingItem": {"a": 1, "b": 2}}),
                json!({"replacingItem": {"c": 3}}),
                json!({"replacingItem": {"c": 3}}),
            ),
            case(
                "a new value loses nulls and directives",
                json!({}),
                json!({
                    "simpleMap": {"a": null, "b": "x"},
                    "mergingList": [{"name": "1"}, {"name": "2", "$patch": "delete"}]
                }),
                json!({"simpleMap": {"b": "x"}, "mergingList": [{"name": "1"}]}),
            ),
            case(
                "a value of a different type is replaced",
                json!({"simpleMap": "scalar"}),
                json!({"simpleMap": {"a": "1"}}),
                json!({"simpleMap": {"a": "1"}}),
            ),
            case(
                "without $setElementOrder new elements go before server-only elements",
                json!({"mergingList": [{"name": "1"}, {"name": "2"}]}),
                json!({"mergingList": [{"name": "3"}]}),
                json!({"mergingList": [{"name": "3"}, {"name": "1"}, {"name": "2"}]}),
            ),
            case(
                "fields without schema merge maps and replace lists",
                json!({"unknown": {"a": 1, "l": [1, 2]}}),
                json!({"unknown": {"b": 2, "l": [3]}}),
                json!({"unknown": {"a": 1, "b": 2, "l": [3]}}),
            ),
            fails(
                "unknown $patch on a map",
                json!({}),
                json!({"$patch": "foo"}),
                "unknown patch type: foo in map: map[$patch:foo]",
            ),
            fails(
                "unknown $patch in a list element",
                json!({"mergingList": [{"name": "1"}]}),
                json!({"mergingList": [{"name": "1", "$patch": "bogus"}]}),
                "unknown patch type: bogus in map: map[$patch:bogus name:1]",
            ),
            fails(
                "$patch merge in a list",
                json!({"mergingList": [{"name": "1"}]}),
                json!({"mergingList": [{"$patch": "merge"}]}),
                "merging lists cannot yet be specified in the patch",
            ),
            fails(
                "element without merge key",
                json!({"mergingList": [{"name": "1"}]}),
                json!({"mergingList": [{"value": "a"}]}),
                "map: map[value:a] does not contain declared merge key: name",
            ),
            fails(
                "$patch delete element without merge key",
                json!({"mergingList": [{"name": "1"}]}),
                json!({"mergingList": [{"$patch": "delete"}]}),
                "map: map[$patch:delete] does not contain declared merge key: name",
            ),
            fails(
                "$retainKeys not a list",
                json!({"retainKeysMap": {"name": "a"}}),
                json!({"retainKeysMap": {"$retainKeys": "name"}}),
                "invalid patch format of retainKeys",
            ),
            fails(
                "patch sets a key $retainKeys does not list",
                json!({"retainKeysMap": {"name": "a"}}),
                json!({"retainKeysMap": {"$retainKeys": ["name"], "value": "b"}}),
                "invalid patch format of retainKeys",
            ),
            fails(
                "$setElementOrder without a field",
                json!({}),
                json!({"$setElementOrder": [1]}),
                "invalid patch format of setElementOrder list",
            ),
            fails(
                "$setElementOrder not a list",
                json!({"mergingIntList": [1]}),
                json!({"$setElementOrder/mergingIntList": "1"}),
                "expected a []interface {}, but received a string",
            ),
            fails(
                "$setElementOrder contradicting the patch order",
                json!({"mergingList": [{"name": "1"}, {"name": "2"}]}),
                json!({
                    "$setElementOrder/mergingList": [{"name": "1"}, {"name": "2"}],
                    "mergingList": [{"name": "2"}, {"name": "1"}]
                }),
                "The order in patch list:\n[map[name:2] map[name:1]]\n doesn't match $setElementOrder list:\n[map[name:1] map[name:2]]\n",
            ),
            fails(
                "$deleteFromPrimitiveList without a field",
                json!({"mergingIntList": [1]}),
                json!({"$deleteFromPrimitiveList": [1]}),
                "invalid patch format of primitive list",
            ),
            fails(
                "lists of lists",
                json!({"mergingIntList": [[1]]}),
                json!({"mergingIntList": [[2]]}),
                "lists of lists are not supported",
            ),
            fails(
                "mixed element types",
                json!({"mergingIntList": [1]}),
                json!({"mergingIntList": ["a"]}),
                "list element types are not identical: [[1] [a]]",
            ),
            fails(
                "a patch that is not an object",
                json!({}),
                json!([1]),
                "invalid JSON document",
            ),
        ];
        run(cases, &schema);
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let mut deep = json!({"x": 1});
        for _ in 0..(MAX_DEPTH + 10) {
            deep = json!({ "unknown": deep });
        }
        let err = apply(&deep, &deep, &NoSchema).expect_err("too deep");
        assert_eq!(err, SmpError::TooDeep);
        assert_eq!(err.status_code(), 400);
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}, "finalizers": ["a"]},
            "spec": {
                "replicas": 2,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {"spec": {
                    "containers": [
                        {
                            "name": "app", "image": "app:1",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "name": "http"}]
                        },
                        {"name": "sidecar", "image": "side:1"}
                    ],
                    "tolerations": [{"key": "k1", "operator": "Exists"}],
                    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "conf", "configMap": {"name": "c"}}]
                }}
            }
        })
    }

    /// Sets `value` at the JSON pointer `path` of a copy of `doc`.
    fn with(doc: &Value, path: &str, value: Value) -> Value {
        let mut doc = doc.clone();
        *doc.pointer_mut(path).expect("path exists") = value;
        doc
    }

    #[test]
    fn deployment_patches_follow_the_kubernetes_field_strategies() {
        let schema = schema_for("apps", "v1", "Deployment").expect("Deployment schema");
        let d = deployment();
        let containers = "/spec/template/spec/containers";
        let cases = vec![
            case(
                "changing one container's image keeps the other container",
                d.clone(),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "side:2"}]}}}}),
                with(
                    &d,
                    "/spec/template/spec/containers/1/image",
                    json!("side:2"),
                ),
            ),
            case(
                "$patch delete removes one env var",
                d.clone(),
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "app", "env": [{"name": "A", "$patch": "delete"}]}
                ]}}}}),
                with(
                    &d,
                    "/spec/template/spec/containers/0/env",
                    json!([{"name": "B", "value": "2"}]),
                ),
            ),
            case(
                "ports merge by containerPort",
                d.clone(),
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "app", "ports": [{"containerPort": 443, "name": "https"}, {"containerPort": 80, "protocol": "TCP"}]}
                ]}}}}),
                with(
                    &d,
                    "/spec/template/spec/containers/0/ports",
                    json!([
                        {"containerPort": 443, "name": "https"},
                        {"containerPort": 80, "name": "http", "protocol": "TCP"}
                    ]),
                ),
            ),
            case(
                "tolerations are replaced as a whole",
                d.clone(),
                json!({"spec": {"template": {"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}}}}),
                with(
                    &d,
                    "/spec/template/spec/tolerations",
                    json!([{"key": "k2", "operator": "Exists"}]),
                ),
            ),
            case(
                "volumes merge by name",
                d.clone(),
                json!({"spec": {"template": {"spec": {"volumes": [{"name": "cache", "emptyDir": {}}]}}}}),
                with(
                    &d,
                    "/spec/template/spec/volumes",
                    json!([
                        {"name": "cache", "emptyDir": {}},
                        {"name": "data", "emptyDir": {}},
                        {"name": "conf", "configMap": {"name": "c"}}
                    ]),
                ),
            ),
            case(
                "$retainKeys on the strategy drops rollingUpdate",
                d.clone(),
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
                with(&d, "/spec/strategy", json!({"type": "Recreate"})),
            ),
            case(
                "$setElementOrder/containers reorders containers",
                d.clone(),
                json!({"spec": {"template": {"spec": {
                    "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]
                }}}}),
                with(
                    &d,
                    containers,
                    json!([
                        d.pointer("/spec/template/spec/containers/1").cloned(),
                        d.pointer("/spec/template/spec/containers/0").cloned()
                    ]),
                ),
            ),
            case(
                "labels merge like a map, finalizers as a set in patch order",
                d.clone(),
                json!({"metadata": {"labels": {"tier": null, "env": "prod"}, "finalizers": ["b", "a"]}}),
                with(
                    &with(&d, "/metadata/labels", json!({"app": "web", "env": "prod"})),
                    "/metadata/finalizers",
                    json!(["b", "a"]),
                ),
            ),
            fails(
                "a container without a name",
                d.clone(),
                json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
                "map: map[image:x] does not contain declared merge key: name",
            ),
        ];
        run(cases, &schema);
    }

    #[test]
    fn leftover_directives_are_removed_from_results() {
        let mut v =
            json!({"a": {"$retainKeys": ["x"], "x": 1, "l": [{"$setElementOrder/y": [], "y": 2}]}});
        remove_leftover_directives(&mut v);
        assert_eq!(v, json!({"a": {"x": 1, "l": [{"y": 2}]}}));
    }

    #[test]
    fn error_status_codes_follow_kube_apiserver() {
        assert_eq!(SmpError::BadPatchFormatForRetainKeys.status_code(), 400);
        assert_eq!(SmpError::NoListOfLists.status_code(), 422);
        assert_eq!(SmpError::MergeDirectiveInList.status_code(), 500);
    }
}
