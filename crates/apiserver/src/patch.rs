//! PATCH bodies: JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7396) applied to the
//! object as served. Strategic merge patch and server-side apply are answered with 415 and
//! the list of supported patch types until they are implemented.

use api::ApiError;
use serde_json::Value;

/// A parsed patch, ready to apply to the current object.
#[derive(Debug, Clone)]
pub enum Patch {
    /// `application/json-patch+json`.
    Json(json_patch::Patch),
    /// `application/merge-patch+json`.
    Merge(Value),
}

const SUPPORTED: &str = "application/json-patch+json, application/merge-patch+json";

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
            "application/strategic-merge-patch+json"
            | "application/apply-patch+yaml"
            | "application/apply-patch+cbor" => Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: {SUPPORTED} ({essence} is not supported by this skiff version yet)"
            ))),
            _ => Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: {SUPPORTED}"
            ))),
        }
    }

    /// Applies the patch to `current`, returning the patched object.
    pub fn apply(&self, current: &Value) -> Result<Value, ApiError> {
        let mut doc = current.clone();
        match self {
            Patch::Json(p) => {
                json_patch::patch(&mut doc, p).map_err(|e| {
                    ApiError::Unprocessable(format!(
                        "the server rejected our request due to an error in our request: {e}"
                    ))
                })?;
            }
            Patch::Merge(p) => json_patch::merge(&mut doc, p),
        }
        if !doc.is_object() {
            return Err(ApiError::Unprocessable("the server rejected our request due to an error in our request: the patched object is not a JSON object".into()));
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_sets_and_removes_fields() {
        let p = Patch::parse(
            "application/merge-patch+json",
            br#"{"data":{"a":null,"b":"2"}}"#,
        )
        .expect("valid merge patch");
        let out = p.apply(&json!({"data": {"a": "1"}})).expect("applies");
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
            .apply(&json!({"data": {"a": "1"}}))
            .expect_err("test op fails");
        assert_eq!(err.code(), 422);
    }

    #[test]
    fn unsupported_and_malformed_patches_get_415_and_400() {
        assert_eq!(
            Patch::parse("application/strategic-merge-patch+json", b"{}")
                .expect_err("smp")
                .code(),
            415
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
}
