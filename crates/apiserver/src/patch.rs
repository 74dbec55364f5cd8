//! PATCH bodies: JSON Patch (RFC 6902), JSON Merge Patch (RFC 7396) and strategic merge
//! patch applied to the object as served. Server-side apply configurations are parsed
//! here and merged by [`crate::registry::Registry::apply`].

use api::strategic_merge::{self, NoSchema, SmpError};
use api::{ApiError, ResourceInfo};
use serde_json::Value;

/// A parsed patch, ready to apply to the current object.
#[derive(Debug, Clone)]
pub enum Patch {
    /// `application/json-patch+json`.
    Json(json_patch::Patch),
    /// `application/merge-patch+json`.
    Merge(Value),
    /// `application/strategic-merge-patch+json`.
    Strategic(Value),
    /// `application/apply-patch+yaml`: a server-side apply configuration (YAML or JSON).
    Apply(Value),
}

const SUPPORTED: &str = "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml";

impl Patch {
    /// Parses a patch body by its content type.
    pub fn parse(content_type: &str, body: &[u8]) -> Result<Patch, ApiError> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        match essence {
            "application/json-patch+json" => {
                let v: Value = serde_json::from_slice(body)
                    .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?;
                let p: json_patch::Patch = serde_json::from_value(v)
                    .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?;
                Ok(Patch::Json(p))
            }
            "application/merge-patch+json" => {
                let v: Value = serde_json::from_slice(body)
                    .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?;
                if !v.is_object() {
                    return Err(ApiError::BadRequest(
                        "error decoding patch: a merge patch must be a JSON object".into(),
                    ));
                }
                Ok(Patch::Merge(v))
            }
            "application/strategic-merge-patch+json" => {
                let v: Value = serde_json::from_slice(body)
                    .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?;
                if !v.is_object() {
                    return Err(ApiError::BadRequest(SmpError::BadJsonDoc.to_string()));
                }
                Ok(Patch::Strategic(v))
            }
            "application/apply-patch+yaml" => {
                // JSON is the common case (kubectl, client-go, kube-rs); block YAML also works.
                let v: Value = match serde_json::from_slice(body) {
                    Ok(v) => v,
                    Err(_) => {
                        let mut opts = serde_saphyr::Options::default();
                        opts.legacy_octal_numbers = true;
                        serde_saphyr::from_slice_with_options(body, opts).map_err(|e| {
                            ApiError::BadRequest(format!("error decoding YAML: {e}"))
                        })?
                    }
                };
                if !v.is_object() {
                    return Err(ApiError::BadRequest(
                        "error decoding YAML: the apply configuration must be an object".into(),
                    ));
                }
                Ok(Patch::Apply(v))
            }
            _ => Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: {SUPPORTED}"
            ))),
        }
    }

    /// Applies the patch to `current`, an object of the resource `info` (whose kind selects
    /// the strategic-merge-patch schema), returning the patched object.
    pub fn apply(&self, current: &Value, info: &ResourceInfo) -> Result<Value, ApiError> {
        let mut doc = current.clone();
        match self {
            Patch::Json(p) => {
                json_patch::patch(&mut doc, p).map_err(|e| {
                    ApiError::Unprocessable(format!(
                        "the server rejected our request due to an error in our request: {e}"
                    ))
                })?;
            }
            Patch::Merge(p) | Patch::Apply(p) => json_patch::merge(&mut doc, p),
            Patch::Strategic(p) => {
                let schema = strategic_merge::schema_for(info.group, info.version, info.kind);
                let result = match schema {
                    Some(def) => strategic_merge::apply(&doc, p, def),
                    None => strategic_merge::apply(&doc, p, &NoSchema),
                };
                doc = result.map_err(smp_error)?;
                strategic_merge::remove_leftover_directives(&mut doc);
            }
        }
        if !doc.is_object() {
            return Err(ApiError::Unprocessable("the server rejected our request due to an error in our request: the patched object is not a JSON object".into()));
        }
        Ok(doc)
    }
}

/// Maps a strategic-merge-patch failure to the status kube-apiserver answers with
/// (`interpretStrategicMergePatchError`).
fn smp_error(e: SmpError) -> ApiError {
    match e.status_code() {
        400 => ApiError::BadRequest(e.to_string()),
        422 => ApiError::Unprocessable(e.to_string()),
        _ => ApiError::Internal(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resource(kind: &str) -> ResourceInfo {
        api::resources::builtin()
            .into_iter()
            .find(|r| r.kind == kind)
            .expect("built-in kind")
    }

    #[test]
    fn apply_configurations_may_be_block_yaml_or_json() {
        let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  mode: 0644\n";
        match Patch::parse("application/apply-patch+yaml", yaml).expect("block YAML") {
            Patch::Apply(v) => assert_eq!(v["metadata"]["name"], "c"),
            other => panic!("expected an apply patch, got {other:?}"),
        }
        assert!(matches!(
            Patch::parse("application/apply-patch+yaml", br#"{"kind":"ConfigMap"}"#),
            Ok(Patch::Apply(_))
        ));
        assert_eq!(
            Patch::parse("application/apply-patch+yaml", b"- a\n- b\n")
                .expect_err("a list")
                .code(),
            400
        );
        assert_eq!(
            Patch::parse("application/apply-patch+yaml", b"a: [unclosed")
                .expect_err("bad YAML")
                .code(),
            400
        );
    }

    #[test]
    fn merge_patch_sets_and_removes_fields() {
        let p = Patch::parse(
            "application/merge-patch+json",
            br#"{"data":{"a":null,"b":"2"}}"#,
        )
        .expect("valid merge patch");
        let out = p
            .apply(&json!({"data": {"a": "1"}}), &resource("ConfigMap"))
            .expect("applies");
        assert_eq!(out, json!({"data": {"b": "2"}}));
    }

    #[test]
    fn json_patch_test_failure_is_unprocessable() {
        let p = Patch::parse(
            "application/json-patch+json",
            br#"[{"op":"test","path":"/data/a","value":"x"}]"#,
        )
        .expect("valid json patch");
        let err = p
            .apply(&json!({"data": {"a": "1"}}), &resource("ConfigMap"))
            .expect_err("test op fails");
        assert_eq!(err.code(), 422);
    }

    #[test]
    fn unsupported_and_malformed_patches_get_415_and_400() {
        assert_eq!(
            Patch::parse("application/apply-patch+cbor", b"{}")
                .expect_err("apply cbor")
                .code(),
            415
        );
        assert_eq!(
            Patch::parse("application/strategic-merge-patch+json", b"[1]")
                .expect_err("smp list")
                .code(),
            400
        );
        assert_eq!(
            Patch::parse("text/plain", b"{}").expect_err("text").code(),
            415
        );
        assert_eq!(
            Patch::parse("application/merge-patch+json", b"{nope")
                .expect_err("bad json")
                .code(),
            400
        );
        assert_eq!(
            Patch::parse("application/json-patch+json", br#"{"op":"add"}"#)
                .expect_err("not a list")
                .code(),
            400
        );
    }

    #[test]
    fn strategic_patch_merges_containers_by_name() {
        let p = Patch::parse(
            "application/strategic-merge-patch+json",
            br#"{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"b:2"}]}}}}"#,
        )
        .expect("valid strategic patch");
        let current = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}
        ]}}}});
        let out = p.apply(&current, &resource("Deployment")).expect("applies");
        assert_eq!(
            out.pointer("/spec/template/spec/containers"),
            Some(&json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}]))
        );
    }

    #[test]
    fn strategic_patch_errors_map_to_upstream_codes() {
        let cm = resource("ConfigMap");
        let bad_retain = Patch::parse(
            "application/strategic-merge-patch+json",
            br#"{"$retainKeys":"x"}"#,
        )
        .expect("parses");
        assert_eq!(
            bad_retain.apply(&json!({}), &cm).expect_err("400").code(),
            400
        );
        let bad_type = Patch::parse(
            "application/strategic-merge-patch+json",
            br#"{"$patch":"x"}"#,
        )
        .expect("parses");
        assert_eq!(
            bad_type.apply(&json!({}), &cm).expect_err("500").code(),
            500
        );
    }
}
