//! Server-side field validation (`fieldValidation=Strict|Warn|Ignore`): unknown fields (those
//! the typed model does not know, which decoding would silently drop) and duplicate fields in a
//! JSON body are rejected (`Strict`, 400), reported as `Warning` headers (`Warn`, the default)
//! or ignored, as kube-apiserver does since 1.27.

use std::fmt;

use api::{ApiError, ResourceInfo};
use axum::response::Response;
use http::HeaderValue;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// How a request wants field problems handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reject the request (400).
    Strict,
    /// Accept it and return `Warning` headers (the server default).
    Warn,
    /// Accept it silently.
    Ignore,
}

impl Mode {
    /// The mode for a `fieldValidation` query value (already checked to be a known one).
    pub fn from_query(v: Option<&str>) -> Mode {
        match v {
            Some("Strict") => Mode::Strict,
            Some("Ignore") => Mode::Ignore,
            _ => Mode::Warn,
        }
    }
}

/// Paths (`metadata.name`, `spec.containers[0].image`) of keys that appear more than once in
/// one JSON object of `bytes`. Malformed JSON yields no paths (parsing reports it elsewhere).
pub fn duplicate_fields(bytes: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = DupSeed {
        path: String::new(),
        found: &mut found,
    }
    .deserialize(&mut de);
    found
}

struct DupSeed<'a> {
    path: String,
    found: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for DupSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl<'de> Visitor<'de> for DupSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        while seq
            .next_element_seed(DupSeed {
                path: format!("{}[{i}]", self.path),
                found: &mut *self.found,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = child(&self.path, &key);
            if !seen.insert(key) {
                self.found.push(path.clone());
            }
            map.next_value_seed(DupSeed {
                path,
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }
}

/// Paths of fields in `obj` (the served form, with apiVersion/kind) that the resource's typed
/// model does not know. Empty when the object does not decode at all (that is a 400 elsewhere).
pub fn unknown_fields(info: &ResourceInfo, obj: &Value) -> Vec<String> {
    if let Some(cr) = &info.custom {
        // Custom resources: what structural pruning drops is unknown.
        let Some(schema) = &cr.schema else {
            return Vec::new();
        };
        let mut pruned = obj.clone();
        return api::crd::prune(&mut pruned, schema);
    }
    let mut typed = obj.clone();
    if let Some(m) = typed.as_object_mut() {
        m.entry("apiVersion")
            .or_insert_with(|| Value::String(info.api_version()));
        m.entry("kind")
            .or_insert_with(|| Value::String(info.kind.to_string()));
    }
    let Ok(known) = (info.normalize)(typed.clone()) else {
        return Vec::new();
    };
    let obj = &typed;
    let mut out = Vec::new();
    diff(obj, &known, "", &mut out);
    out
}

fn diff(input: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(i), Value::Object(k)) => {
            for (key, v) in i {
                let p = child(path, key);
                match k.get(key) {
                    Some(kv) => diff(v, kv, &p, out),
                    None if v.is_null() => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(i), Value::Array(k)) => {
            for (n, (iv, kv)) in i.iter().zip(k.iter()).enumerate() {
                diff(iv, kv, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

/// Applies `mode` to the problems found in a request body: `Err` (400) in Strict mode when
/// there are any, otherwise the warnings to return (none in Ignore mode).
pub fn check(
    mode: Mode,
    info: &ResourceInfo,
    obj: &Value,
    duplicates: &[String],
) -> Result<Vec<String>, ApiError> {
    if mode == Mode::Ignore {
        return Ok(Vec::new());
    }
    let mut problems: Vec<String> = duplicates
        .iter()
        .map(|d| format!("duplicate field \"{d}\""))
        .collect();
    problems.extend(
        unknown_fields(info, obj)
            .into_iter()
            .map(|u| format!("unknown field \"{u}\"")),
    );
    if problems.is_empty() {
        return Ok(Vec::new());
    }
    match mode {
        Mode::Strict => Err(ApiError::BadRequest(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            problems.join(", "),
            kind = info.kind,
            version = info.version
        ))),
        _ => Ok(problems),
    }
}

/// Adds one `Warning: 299 - "<text>"` header per warning, as kube-apiserver does.
pub fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployments() -> ResourceInfo {
        api::resources::builtin()
            .into_iter()
            .find(|r| r.plural == "deployments")
            .expect("deployments")
    }

    #[test]
    fn duplicate_keys_are_found_at_every_depth() {
        let cases = [
            ("no duplicates", r#"{"a":1,"b":{"c":2}}"#, vec![]),
            ("top level", r#"{"a":1,"a":2}"#, vec!["a"]),
            (
                "nested in a list",
                r#"{"spec":{"containers":[{"name":"x","name":"y"}]}}"#,
                vec!["spec.containers[0].name"],
            ),
            (
                "malformed JSON still reports what it read",
                r#"{"a":1,"a""#,
                vec!["a"],
            ),
        ];
        for (case, body, want) in cases {
            assert_eq!(duplicate_fields(body.as_bytes()), want, "{case}");
        }
    }

    #[test]
    fn unknown_fields_are_reported_with_paths_and_strict_rejects_them() {
        let info = deployments();
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "bogus": 1},
            "spec": {"bogus": true, "template": {"spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicyy": "x"}]}}, "replicas": null}});
        assert_eq!(
            unknown_fields(&info, &obj),
            vec![
                "metadata.bogus",
                "spec.bogus",
                "spec.template.spec.containers[0].imagePullPolicyy"
            ]
        );
        let err = check(Mode::Strict, &info, &obj, &[]).expect_err("strict rejects");
        assert_eq!(err.code(), 400);
        assert!(err.to_string().starts_with("Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"metadata.bogus\""), "{err}");
        let warnings =
            check(Mode::Warn, &info, &obj, &["spec.replicas".into()]).expect("warn accepts");
        assert_eq!(warnings[0], "duplicate field \"spec.replicas\"");
        assert_eq!(warnings.len(), 4);
        assert!(
            check(Mode::Ignore, &info, &obj, &[])
                .expect("ignore")
                .is_empty()
        );
    }
}
