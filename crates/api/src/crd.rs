//! CustomResourceDefinitions: turning a CRD's served versions into resource table entries, and
//! the structural-schema processing custom resources go through instead of a typed round trip
//! (pruning of unknown fields, defaulting from `default`, and validation against
//! `openAPIV3Schema` with apiextensions-apiserver's messages).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::resources::{ALL_VERBS, ResourceInfo};
use crate::validation::{FieldError, FieldErrorKind};

/// Finalizer the API server adds to a CRD on delete; removed once its objects are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// What a custom resource version carries beyond the plain resource table facts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomResource {
    /// The version's `schema.openAPIV3Schema`, when given.
    pub schema: Option<Value>,
    /// `additionalPrinterColumns` of the version.
    pub printer_columns: Vec<Value>,
    /// `subresources.scale` (specReplicasPath, statusReplicasPath, labelSelectorPath).
    pub scale: Option<Value>,
    /// The CRD's name (`<plural>.<group>`).
    pub crd_name: String,
    /// The CRD is being deleted: its objects are being removed and no new ones are taken.
    pub terminating: bool,
}

/// Interns `s` as `&'static str`. Resource table entries use static strings; the names of
/// custom resources are leaked once per distinct string (so the leak is bounded by the
/// distinct names CRDs ever used, not by the number of CRD writes).
fn leak(s: &str) -> &'static str {
    static INTERNED: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut set = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = set.get(s) {
        return existing;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// Interns a list of names (see [`leak`]).
fn leak_list(v: Option<&Value>) -> &'static [&'static str] {
    static INTERNED: std::sync::Mutex<Vec<&'static [&'static str]>> =
        std::sync::Mutex::new(Vec::new());
    let items: Vec<&'static str> = v
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(leak).collect())
        .unwrap_or_default();
    if items.is_empty() {
        return &[];
    }
    let mut lists = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = lists.iter().find(|l| **l == items.as_slice()) {
        return existing;
    }
    let leaked: &'static [&'static str] = Box::leak(items.into_boxed_slice());
    lists.push(leaked);
    leaked
}

fn identity(v: Value) -> Result<Value, String> {
    Ok(v)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = match cur.get(p) {
            Some(c) => c,
            None => return "",
        };
    }
    cur.as_str().unwrap_or_default()
}

/// Whether a CRD is established (its names accepted): only those are served.
pub fn is_established(crd: &Value) -> bool {
    crd["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    })
}

/// The resource table entries for a CRD's served versions.
pub fn resources_for(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let group = str_at(spec, &["group"]);
    let plural = str_at(names, &["plural"]);
    let kind = str_at(names, &["kind"]);
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Vec::new();
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    let storage = versions
        .iter()
        .find(|v| v["storage"] == true)
        .map(|v| str_at(v, &["name"]))
        .unwrap_or_default();
    let list_kind = match str_at(names, &["listKind"]) {
        "" => format!("{kind}List"),
        l => l.to_string(),
    };
    let singular = match str_at(names, &["singular"]) {
        "" => kind.to_ascii_lowercase(),
        s => s.to_string(),
    };
    let (group_s, plural_s, kind_s, list_kind_s) =
        (leak(group), leak(plural), leak(kind), leak(&list_kind));
    let short_names = leak_list(names.get("shortNames"));
    let categories = leak_list(names.get("categories"));
    let storage_version = leak(storage);
    let namespaced = str_at(spec, &["scope"]) != "Cluster";
    let crd_name = str_at(crd, &["metadata", "name"]).to_string();
    let terminating = crd["metadata"]["deletionTimestamp"].is_string();
    versions
        .iter()
        .filter(|v| v["served"] == true)
        .map(|v| {
            let subs = &v["subresources"];
            let mut subresources = Vec::new();
            if subs.get("status").is_some_and(|s| !s.is_null()) {
                subresources.push("status");
            }
            let scale = subs.get("scale").filter(|s| !s.is_null()).cloned();
            if scale.is_some() {
                subresources.push("scale");
            }
            let subresources: &'static [&'static str] = match subresources.as_slice() {
                [] => &[],
                ["status"] => &["status"],
                ["scale"] => &["scale"],
                _ => &["status", "scale"],
            };
            ResourceInfo {
                group: group_s,
                version: leak(str_at(v, &["name"])),
                kind: kind_s,
                list_kind: list_kind_s,
                plural: plural_s,
                singular: singular.clone(),
                namespaced,
                verbs: ALL_VERBS,
                short_names,
                categories,
                subresources,
                storage_group: group_s,
                storage_version,
                normalize: identity,
                custom: Some(Arc::new(CustomResource {
                    schema: v["schema"].get("openAPIV3Schema").cloned(),
                    printer_columns: v["additionalPrinterColumns"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                    scale,
                    crd_name: crd_name.clone(),
                    terminating,
                })),
            }
        })
        .collect()
}

/// Upstream's CRD defaults: `names.singular`, `names.listKind`, `conversion.strategy`.
pub fn apply_crd_defaults(crd: &mut Value) {
    let kind = str_at(&crd["spec"]["names"], &["kind"]).to_string();
    if kind.is_empty() || !crd["spec"]["names"].is_object() {
        return;
    }
    let names = &mut crd["spec"]["names"];
    if str_at(names, &["singular"]).is_empty() {
        names["singular"] = json!(kind.to_ascii_lowercase());
    }
    if str_at(names, &["listKind"]).is_empty() {
        names["listKind"] = json!(format!("{kind}List"));
    }
    if crd["spec"]["conversion"].is_null() {
        crd["spec"]["conversion"] = json!({"strategy": "None"});
    }
}

/// The accepted names of a CRD (`status.acceptedNames`), with upstream's defaults filled.
pub fn accepted_names(crd: &Value) -> Value {
    let names = &crd["spec"]["names"];
    let kind = str_at(names, &["kind"]);
    let mut out = json!({
        "plural": names["plural"],
        "singular": match str_at(names, &["singular"]) {
            "" => kind.to_ascii_lowercase(),
            s => s.to_string(),
        },
        "kind": kind,
        "listKind": match str_at(names, &["listKind"]) {
            "" => format!("{kind}List"),
            l => l.to_string(),
        },
    });
    for key in ["shortNames", "categories"] {
        if let Some(v) = names
            .get(key)
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        {
            out[key] = v.clone();
        }
    }
    out
}

/// Sets a CRD's status as the naming and establishing controllers would: names accepted
/// unless `conflict` names a clash, Established when accepted, storedVersions including the
/// storage version.
pub fn set_status(crd: &mut Value, conflict: Option<String>, now: &str) {
    let old_conditions = crd["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let transition = |ty: &str, status: &str| -> String {
        old_conditions
            .iter()
            .find(|c| c["type"] == ty && c["status"] == status)
            .and_then(|c| c["lastTransitionTime"].as_str())
            .unwrap_or(now)
            .to_string()
    };
    let storage = crd["spec"]["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["storage"] == true))
        .and_then(|v| v["name"].as_str())
        .map(str::to_string);
    let mut stored: Vec<Value> = crd["status"]["storedVersions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if let Some(s) = storage
        && !stored.iter().any(|v| v == s.as_str())
    {
        stored.push(json!(s));
    }
    let (names_cond, established_cond, accepted) = match conflict {
        None => (
            json!({"type": "NamesAccepted", "status": "True",
                   "lastTransitionTime": transition("NamesAccepted", "True"),
                   "reason": "NoConflicts", "message": "no conflicts found"}),
            json!({"type": "Established", "status": "True",
                   "lastTransitionTime": transition("Established", "True"),
                   "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}),
            accepted_names(crd),
        ),
        Some(msg) => (
            json!({"type": "NamesAccepted", "status": "False",
                   "lastTransitionTime": transition("NamesAccepted", "False"),
                   "reason": "NameConflict", "message": msg}),
            json!({"type": "Established", "status": "False",
                   "lastTransitionTime": transition("Established", "False"),
                   "reason": "NotAccepted", "message": "not all names are accepted"}),
            json!({"plural": "", "kind": ""}),
        ),
    };
    crd["status"] = json!({
        "conditions": [names_cond, established_cond],
        "acceptedNames": accepted,
        "storedVersions": stored,
    });
}

/// The name clash between `crd` and another established CRD of the same group, if any, in
/// the naming controller's words.
pub fn name_conflict(crd: &Value, others: &[Value]) -> Option<String> {
    let spec = &crd["spec"];
    let group = str_at(spec, &["group"]);
    let me = str_at(crd, &["metadata", "name"]);
    let names = accepted_names(crd);
    for other in others {
        if str_at(other, &["metadata", "name"]) == me || str_at(&other["spec"], &["group"]) != group
        {
            continue;
        }
        let theirs = &other["status"]["acceptedNames"];
        for (field, what) in [
            ("plural", "plural"),
            ("singular", "singular"),
            ("kind", "kind"),
            ("listKind", "listKind"),
        ] {
            let mine = names[field].as_str().unwrap_or_default();
            if !mine.is_empty()
                && (theirs["plural"] == mine
                    || theirs["singular"] == mine
                    || theirs["kind"] == mine
                    || theirs["listKind"] == mine)
            {
                return Some(format!("{what} {mine:?} is already in use"));
            }
        }
        for short in names["shortNames"].as_array().into_iter().flatten() {
            if theirs["shortNames"]
                .as_array()
                .is_some_and(|a| a.contains(short))
            {
                return Some(format!(
                    "\"{}\" is already in use",
                    short.as_str().unwrap_or_default()
                ));
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Structural schema processing
// ---------------------------------------------------------------------------------------------

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Drops fields the schema does not specify (unless `x-kubernetes-preserve-unknown-fields`)
/// and returns the paths dropped, as upstream's pruning does. `apiVersion`, `kind` and
/// `metadata` of the root (and of embedded resources) are always kept.
pub fn prune(obj: &mut Value, schema: &Value) -> Vec<String> {
    let mut pruned = Vec::new();
    prune_at(obj, schema, "", true, &mut pruned);
    pruned
}

fn prune_at(obj: &mut Value, schema: &Value, path: &str, root: bool, out: &mut Vec<String>) {
    match obj {
        Value::Object(map) => {
            let embedded = root || flag(schema, "x-kubernetes-embedded-resource");
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if embedded && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    if let Some(sub) = props.and_then(|p| p.get(&key))
                        && key != "metadata"
                        && let Some(v) = map.get_mut(&key)
                    {
                        prune_at(v, sub, &join(path, &key), false, out);
                    }
                    continue;
                }
                let sub = props.and_then(|p| p.get(&key)).or(match additional {
                    Some(a) if a.is_object() => Some(a),
                    _ => None,
                });
                match sub {
                    Some(sub) => {
                        if let Some(v) = map.get_mut(&key) {
                            prune_at(v, sub, &join(path, &key), false, out);
                        }
                    }
                    None if preserve || additional == Some(&Value::Bool(true)) => {}
                    None => {
                        map.remove(&key);
                        out.push(join(path, &key));
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, v) in items.iter_mut().enumerate() {
                    prune_at(v, item_schema, &format!("{path}[{i}]"), false, out);
                }
            }
        }
        _ => {}
    }
}

/// Fills absent fields that have a `default` in the schema, recursively.
pub fn apply_defaults(obj: &mut Value, schema: &Value) {
    match obj {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (key, sub) in props {
                    if !map.contains_key(key)
                        && let Some(d) = sub.get("default")
                    {
                        map.insert(key.clone(), d.clone());
                    }
                    if let Some(v) = map.get_mut(key) {
                        apply_defaults(v, sub);
                    }
                }
            } else if let Some(a) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for v in map.values_mut() {
                    apply_defaults(v, a);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for v in items {
                    apply_defaults(v, item_schema);
                }
            }
        }
        _ => {}
    }
}

/// Prunes then defaults (upstream's decode path for custom resources); returns pruned paths.
pub fn process(obj: &mut Value, cr: &CustomResource) -> Vec<String> {
    let Some(schema) = &cr.schema else {
        return Vec::new();
    };
    let pruned = prune(obj, schema);
    apply_defaults(obj, schema);
    // Defaults may carry unknown fields of their own: upstream prunes them too.
    prune(obj, schema);
    pruned
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_ok(want: &str, v: &Value) -> bool {
    match want {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => type_name(v) == "integer",
        "number" => v.is_number(),
        _ => true,
    }
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn show_num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// Validates a custom resource against its version's schema; the root's `apiVersion`,
/// `kind` and `metadata` are checked elsewhere.
pub fn validate(obj: &Value, cr: &CustomResource) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(schema) = &cr.schema
        && let Some(map) = obj.as_object()
    {
        let mut body = map.clone();
        for k in ["apiVersion", "kind", "metadata"] {
            body.remove(k);
        }
        validate_at(&Value::Object(body), schema, "", &mut errs);
    }
    errs
}

fn validate_at(v: &Value, schema: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let shown = if path.is_empty() { "body" } else { path };
    if v.is_null() {
        if flag(schema, "nullable") {
            return;
        }
        if let Some(t) = schema.get("type").and_then(Value::as_str) {
            errs.push(FieldError::type_invalid(
                shown,
                "null",
                format!("{shown} in body must be of type {t}: \"null\""),
            ));
        }
        return;
    }
    if flag(schema, "x-kubernetes-int-or-string") {
        let ok = v.is_string() || type_name(v) == "integer";
        if !ok {
            let got = type_name(v);
            errs.push(FieldError::type_invalid(
                shown,
                got,
                format!("{shown} in body must be of type integer,string: \"{got}\""),
            ));
            return;
        }
    } else if let Some(t) = schema.get("type").and_then(Value::as_str)
        && !type_ok(t, v)
    {
        let got = type_name(v);
        errs.push(FieldError::type_invalid(
            shown,
            got,
            format!("{shown} in body must be of type {t}: \"{got}\""),
        ));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed
            .iter()
            .map(|a| match a {
                Value::String(s) => format!("{s:?}"),
                other => other.to_string(),
            })
            .collect();
        errs.push(FieldError {
            kind: FieldErrorKind::NotSupported,
            field: shown.to_string(),
            value: Some(v.clone()),
            detail: format!("supported values: {}", list.join(", ")),
        });
    }
    match v {
        Value::Number(_) => {
            let x = num(v).unwrap_or_default();
            if let Some(min) = schema.get("minimum").and_then(num) {
                let excl = flag(schema, "exclusiveMinimum");
                if x < min || (excl && x == min) {
                    let rel = if excl {
                        "greater than"
                    } else {
                        "greater than or equal to"
                    };
                    errs.push(FieldError::invalid(
                        shown,
                        v.clone(),
                        format!("{shown} in body should be {rel} {}", show_num(min)),
                    ));
                }
            }
            if let Some(max) = schema.get("maximum").and_then(num) {
                let excl = flag(schema, "exclusiveMaximum");
                if x > max || (excl && x == max) {
                    let rel = if excl {
                        "less than"
                    } else {
                        "less than or equal to"
                    };
                    errs.push(FieldError::invalid(
                        shown,
                        v.clone(),
                        format!("{shown} in body should be {rel} {}", show_num(max)),
                    ));
                }
            }
        }
        Value::String(s) => {
            let len = s.chars().count() as i64;
            if let Some(min) = schema.get("minLength").and_then(Value::as_i64)
                && len < min
            {
                errs.push(FieldError::invalid(
                    shown,
                    v.clone(),
                    format!("{shown} in body should be at least {min} chars long"),
                ));
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_i64)
                && len > max
            {
                errs.push(FieldError::too_long(shown, max));
            }
            if let Some(p) = schema.get("pattern").and_then(Value::as_str)
                && let Ok(re) = regex::Regex::new(p)
                && !re.is_match(s)
            {
                errs.push(FieldError::invalid(
                    shown,
                    v.clone(),
                    format!("{shown} in body should match '{p}'"),
                ));
            }
        }
        Value::Array(items) => {
            let n = items.len() as i64;
            if let Some(min) = schema.get("minItems").and_then(Value::as_i64)
                && n < min
            {
                errs.push(FieldError::invalid(
                    shown,
                    n,
                    format!("{shown} in body should have at least {min} items"),
                ));
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_i64)
                && n > max
            {
                errs.push(FieldError::too_many(shown, n, max));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_at(item, item_schema, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Value::Object(map) => {
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(r) = req.as_str()
                    && !map.contains_key(r)
                {
                    errs.push(FieldError::required(join(path, r), ""));
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let embedded = flag(schema, "x-kubernetes-embedded-resource");
            for (k, child) in map {
                if embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(sub) = props.and_then(|p| p.get(k)).or(additional) {
                    validate_at(child, sub, &join(path, k), errs);
                }
            }
        }
        _ => {}
    }
}

/// Reads a simple JSONPath (`.spec.x`, `.status.conditions[0].y`,
/// `.status.conditions[?(@.type=="Ready")].status`) out of an object.
pub fn json_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut cur = obj;
    let mut rest = path.trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (field, want) = filter.split_once("==")?;
                let want = want.trim().trim_matches(|c| c == '"' || c == '\'');
                cur = cur
                    .as_array()?
                    .iter()
                    .find(|item| item.get(field.trim()).and_then(Value::as_str) == Some(want))?;
            } else {
                cur = cur.get(inner.parse::<usize>().ok()?)?;
            }
        } else {
            return None;
        }
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cr(schema: Value) -> CustomResource {
        CustomResource {
            schema: Some(schema),
            ..CustomResource::default()
        }
    }

    fn foobar_schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object",
            "required": ["prop1", "prop2", "prop4", "prop5"],
            "properties": {
                "prop1": {"type": "string"},
                "prop2": {"type": "array", "items": {"type": "boolean"}},
                "prop3": {"type": "integer", "format": "int32"},
                "prop4": {"x-kubernetes-int-or-string": true},
                "prop5": {"x-kubernetes-int-or-string": true}}}}})
    }

    #[test]
    fn validation_cases() {
        let cases: Vec<(&str, Value, Value, Vec<&str>)> = vec![
            (
                "valid object",
                foobar_schema(),
                json!({"spec": {"prop1": "a", "prop2": [true], "prop4": 6, "prop5": "7"}}),
                vec![],
            ),
            (
                "missing required",
                foobar_schema(),
                json!({"spec": {"prop1": "a", "prop4": 6, "prop5": "7"}}),
                vec!["spec.prop2: Required value"],
            ),
            (
                "wrong type",
                foobar_schema(),
                json!({"spec": {"prop1": "a", "prop2": true, "prop4": 6, "prop5": "7"}}),
                vec![
                    "spec.prop2: Invalid value: \"boolean\": spec.prop2 in body must be of type array: \"boolean\"",
                ],
            ),
            (
                "int-or-string rejects boolean",
                foobar_schema(),
                json!({"spec": {"prop1": "a", "prop2": [], "prop4": true, "prop5": "7"}}),
                vec![
                    "spec.prop4: Invalid value: \"boolean\": spec.prop4 in body must be of type integer,string: \"boolean\"",
                ],
            ),
            (
                "array item type",
                foobar_schema(),
                json!({"spec": {"prop1": "a", "prop2": [true, "x"], "prop4": 1, "prop5": 1}}),
                vec![
                    "spec.prop2[1]: Invalid value: \"string\": spec.prop2[1] in body must be of type boolean: \"string\"",
                ],
            ),
            (
                "enum",
                json!({"type": "object", "properties": {"m": {"type": "string", "enum": ["a", "b"]}}}),
                json!({"m": "c"}),
                vec!["m: Unsupported value: \"c\": supported values: \"a\", \"b\""],
            ),
            (
                "minimum and maximum",
                json!({"type": "object", "properties": {
                    "lo": {"type": "integer", "minimum": 1},
                    "hi": {"type": "integer", "maximum": 3}}}),
                json!({"lo": 0, "hi": 4}),
                vec![
                    "hi: Invalid value: 4: hi in body should be less than or equal to 3",
                    "lo: Invalid value: 0: lo in body should be greater than or equal to 1",
                ],
            ),
            (
                "string length and pattern",
                json!({"type": "object", "properties": {
                    "a": {"type": "string", "minLength": 2},
                    "b": {"type": "string", "maxLength": 1},
                    "c": {"type": "string", "pattern": "^x+$"}}}),
                json!({"a": "q", "b": "qq", "c": "y"}),
                vec![
                    "a: Invalid value: \"q\": a in body should be at least 2 chars long",
                    "b: Too long: may not be more than 1 bytes",
                    "c: Invalid value: \"y\": c in body should match '^x+$'",
                ],
            ),
            (
                "item counts",
                json!({"type": "object", "properties": {
                    "a": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "b": {"type": "array", "maxItems": 1, "items": {"type": "string"}}}}),
                json!({"a": [], "b": ["x", "y"]}),
                vec![
                    "a: Invalid value: 0: a in body should have at least 1 items",
                    "b: Too many: 2: must have at most 1 items",
                ],
            ),
            (
                "nullable",
                json!({"type": "object", "properties": {
                    "a": {"type": "string", "nullable": true},
                    "b": {"type": "string"}}}),
                json!({"a": null, "b": null}),
                vec!["b: Invalid value: \"null\": b in body must be of type string: \"null\""],
            ),
            (
                "additionalProperties schema",
                json!({"type": "object", "properties": {"m": {"type": "object",
                    "additionalProperties": {"type": "integer"}}}}),
                json!({"m": {"x": 1, "y": "z"}}),
                vec![
                    "m.y: Invalid value: \"string\": m.y in body must be of type integer: \"string\"",
                ],
            ),
        ];
        for (name, schema, obj, want) in cases {
            let mut got: Vec<String> = validate(&obj, &cr(schema))
                .iter()
                .map(FieldError::to_string_full)
                .collect();
            got.sort();
            assert_eq!(got, want, "case {name}");
        }
    }

    #[test]
    fn type_invalid_reason() {
        let errs = validate(
            &json!({"spec": {"prop1": "a", "prop2": true, "prop4": 1, "prop5": 1}}),
            &cr(foobar_schema()),
        );
        assert_eq!(errs[0].reason(), "FieldValueTypeInvalid");
    }

    #[test]
    fn pruning_and_defaulting_cases() {
        let cases: Vec<(&str, Value, Value, Value, Vec<&str>)> = vec![
            (
                "unknown fields dropped, root meta kept",
                json!({"type": "object", "properties": {"spec": {"type": "object",
                    "properties": {"a": {"type": "string"}}}}}),
                json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n"},
                       "spec": {"a": "x", "b": 1}, "extra": true}),
                json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n"},
                       "spec": {"a": "x"}}),
                vec!["extra", "spec.b"],
            ),
            (
                "preserve unknown fields",
                json!({"type": "object", "properties": {"spec": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}),
                json!({"spec": {"anything": {"goes": 1}}}),
                json!({"spec": {"anything": {"goes": 1}}}),
                vec![],
            ),
            (
                "embedded resource keeps its meta",
                json!({"type": "object", "properties": {"t": {"type": "object",
                    "x-kubernetes-embedded-resource": true,
                    "properties": {"spec": {"type": "object"}}}}}),
                json!({"t": {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {}, "zz": 1}}),
                json!({"t": {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {}}}),
                vec!["t.zz"],
            ),
            (
                "items pruned",
                json!({"type": "object", "properties": {"l": {"type": "array",
                    "items": {"type": "object", "properties": {"a": {"type": "integer"}}}}}}),
                json!({"l": [{"a": 1, "b": 2}]}),
                json!({"l": [{"a": 1}]}),
                vec!["l[0].b"],
            ),
            (
                "defaults filled",
                json!({"type": "object", "properties": {"spec": {"type": "object",
                    "properties": {"replicas": {"type": "integer", "default": 1},
                                   "mode": {"type": "string", "default": "fast"}}}}}),
                json!({"spec": {"mode": "slow"}}),
                json!({"spec": {"mode": "slow", "replicas": 1}}),
                vec![],
            ),
        ];
        for (name, schema, mut obj, want, want_pruned) in cases {
            let pruned = process(&mut obj, &cr(schema));
            assert_eq!(obj, want, "case {name}");
            let mut pruned = pruned;
            pruned.sort();
            assert_eq!(pruned, want_pruned, "case {name}");
        }
    }

    #[test]
    fn json_paths() {
        let obj = json!({"spec": {"x": 3}, "status": {"conditions": [
            {"type": "Other", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(json_path(&obj, ".spec.x"), Some(&json!(3)));
        assert_eq!(
            json_path(&obj, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(&json!("True"))
        );
        assert_eq!(
            json_path(&obj, ".status.conditions[0].type"),
            Some(&json!("Other"))
        );
        assert_eq!(json_path(&obj, ".spec.missing"), None);
    }

    /// A change to a valid CRD, for table-driven cases.
    type Edit = Box<dyn Fn(&mut Value)>;

    #[test]
    fn crd_validation_cases() {
        let base = || {
            json!({"metadata": {"name": "foos.example.com"}, "spec": {
                "group": "example.com", "scope": "Namespaced",
                "names": {"plural": "foos", "kind": "Foo"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object"}}}]}})
        };
        let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
            ("valid", Box::new(|_| {}), vec![]),
            (
                "name must match",
                Box::new(|c| c["metadata"]["name"] = json!("bars.example.com")),
                vec![
                    "metadata.name: Invalid value: \"bars.example.com\": must be spec.names.plural+\".\"+spec.group",
                ],
            ),
            (
                "no storage version",
                Box::new(|c| c["spec"]["versions"][0]["storage"] = json!(false)),
                vec![
                    "spec.versions: Invalid value: must have exactly one version marked as storage version",
                ],
            ),
            (
                "schema required",
                Box::new(|c| c["spec"]["versions"][0]["schema"] = Value::Null),
                vec![
                    "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required",
                ],
            ),
            (
                "root type required",
                Box::new(|c| c["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = json!({})),
                vec![
                    "spec.versions[0].schema.openAPIV3Schema.type: Required value: must not be empty at the root",
                ],
            ),
        ];
        for (name, edit, want) in cases {
            let mut crd = base();
            edit(&mut crd);
            let got: Vec<String> = crate::validation::validate_create(
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                &crd,
            )
            .iter()
            .map(FieldError::to_string_full)
            .collect();
            assert_eq!(got, want, "case {name}");
        }
    }

    #[test]
    fn resources_from_a_crd() {
        let crd = json!({"metadata": {"name": "foos.example.com"}, "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "foos", "kind": "Foo", "shortNames": ["fo"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}},
                {"name": "v2", "served": true, "storage": false},
                {"name": "v0", "served": false, "storage": false}]}});
        let rs = resources_for(&crd);
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].list_kind, "FooList");
        assert_eq!(rs[0].singular, "foo");
        assert_eq!(rs[0].short_names, &["fo"]);
        assert_eq!(rs[0].subresources, &["status"]);
        assert_eq!(rs[1].storage_version, "v1");
        assert!(rs[1].is_converted());
        assert_eq!(
            rs[0].key(Some("ns"), "a"),
            "/registry/example.com/foos/ns/a"
        );
    }
}
