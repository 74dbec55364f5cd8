//! API errors and the `metav1.Status` objects they become, worded as kube-apiserver words them
//! (apimachinery `pkg/api/errors`). This is the one place errors turn into Status bodies.

use serde_json::{Value, json};

use crate::validation::FieldError;

/// Which resource an error is about, as messages name it (`deployments.apps`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupResource {
    /// API group, `""` for core.
    pub group: String,
    /// Plural resource name.
    pub resource: String,
}

impl GroupResource {
    /// A group/resource pair.
    pub fn new(group: &str, resource: &str) -> Self {
        GroupResource {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
}

impl std::fmt::Display for GroupResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// Every failure the API answers with. Each variant maps to one HTTP code and Status reason.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// 400 BadRequest.
    #[error("{0}")]
    BadRequest(String),
    /// 401 Unauthorized.
    #[error("Unauthorized")]
    Unauthorized,
    /// 403 Forbidden about an object (`<resource> "<name>" is forbidden: <detail>`).
    #[error("{resource} {name:?} is forbidden: {detail}")]
    Forbidden {
        resource: GroupResource,
        name: String,
        detail: String,
    },
    /// 403 Forbidden with a ready-made message (non-resource paths, anonymous users).
    #[error("{0}")]
    ForbiddenMessage(String),
    /// 404 NotFound for an object.
    #[error("{resource} {name:?} not found")]
    NotFound {
        resource: GroupResource,
        name: String,
    },
    /// 404 for a path that names no resource.
    #[error("the server could not find the requested resource")]
    NoSuchPath,
    /// 405 MethodNotAllowed.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// 406 NotAcceptable.
    #[error("only the following media types are accepted: {0}")]
    NotAcceptable(String),
    /// 409 AlreadyExists.
    #[error("{resource} {name:?} already exists")]
    AlreadyExists {
        resource: GroupResource,
        name: String,
    },
    /// 409 Conflict (optimistic concurrency and other conflicts).
    #[error("Operation cannot be fulfilled on {resource} {name:?}: {detail}")]
    Conflict {
        resource: GroupResource,
        name: String,
        detail: String,
    },
    /// 410 Expired: a resourceVersion older than the store keeps.
    /// 409 Conflict of a server-side apply with other field managers.
    #[error("{message}")]
    ApplyConflict {
        message: String,
        /// `(message, field)` of each `FieldManagerConflict` cause.
        causes: Vec<(String, String)>,
    },
    #[error("{0}")]
    Expired(String),
    /// 413 RequestEntityTooLarge.
    #[error("Request entity too large: limit is {0}")]
    TooLarge(usize),
    /// 415 UnsupportedMediaType.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422 Invalid with field causes.
    #[error("{}", crate::validation::invalid_message(&crate::validation::qualified_kind(group, kind), name, causes))]
    Invalid {
        group: String,
        kind: String,
        name: String,
        causes: Vec<FieldError>,
    },
    /// 422 Invalid with only a message (a patch that cannot be applied).
    #[error("{0}")]
    Unprocessable(String),
    /// 429 TooManyRequests (e.g. a disruption budget refusing an eviction).
    #[error("{0}")]
    TooManyRequests(String),
    /// 500 InternalError.
    #[error("Internal error occurred: {0}")]
    Internal(String),
    /// 503 ServiceUnavailable.
    #[error("{0}")]
    Unavailable(String),
    /// 504 Timeout.
    #[error("{0}")]
    Timeout(String),
}

impl ApiError {
    /// The stale-write conflict every optimistic-concurrency failure reports.
    pub fn stale(resource: GroupResource, name: &str) -> Self {
        ApiError::Conflict {
            resource,
            name: name.to_string(),
            detail: "the object has been modified; please apply your changes to the latest version and try again".into(),
        }
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden { .. } | ApiError::ForbiddenMessage(_) => 403,
            ApiError::NotFound { .. } | ApiError::NoSuchPath => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::NotAcceptable(_) => 406,
            ApiError::AlreadyExists { .. }
            | ApiError::Conflict { .. }
            | ApiError::ApplyConflict { .. } => 409,
            ApiError::Expired(_) => 410,
            ApiError::TooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Invalid { .. } | ApiError::Unprocessable(_) => 422,
            ApiError::TooManyRequests(_) => 429,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) => 503,
            ApiError::Timeout(_) => 504,
        }
    }

    /// The Status `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden { .. } | ApiError::ForbiddenMessage(_) => "Forbidden",
            ApiError::NotFound { .. } | ApiError::NoSuchPath => "NotFound",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::Expired(_) => "Expired",
            ApiError::TooLarge(_) => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Invalid { .. } | ApiError::Unprocessable(_) => "Invalid",
            ApiError::TooManyRequests(_) => "TooManyRequests",
            ApiError::Internal(_) => "InternalError",
            ApiError::Unavailable(_) => "ServiceUnavailable",
            ApiError::Timeout(_) => "Timeout",
        }
    }

    /// The full `metav1.Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            ApiError::NotFound { resource, name }
            | ApiError::AlreadyExists { resource, name }
            | ApiError::Conflict { resource, name, .. }
            | ApiError::Forbidden { resource, name, .. } => Some(resource_details(resource, name)),
            ApiError::Invalid {
                group,
                kind,
                name,
                causes,
            } => {
                let mut d = json!({ "name": name, "kind": kind });
                if !group.is_empty() {
                    d["group"] = json!(group);
                }
                d["causes"] = causes
                    .iter()
                    .map(
                        |c| json!({"reason": c.reason(), "message": c.message(), "field": c.field}),
                    )
                    .collect();
                Some(d)
            }
            ApiError::Internal(msg) => Some(json!({ "causes": [{ "message": msg }] })),
            // Upstream's generic 404 (`NewGenericServerResponse` with no resource) still
            // carries empty details; clients such as `kubectl debug` read them.
            ApiError::NoSuchPath => Some(json!({})),
            ApiError::ApplyConflict { causes, .. } => Some(json!({ "causes": causes
                .iter()
                .map(|(m, f)| json!({"reason": "FieldManagerConflict", "message": m, "field": f}))
                .collect::<Vec<_>>() })),
            _ => None,
        };
        if let (Some(d), Some(obj)) = (details, status.as_object_mut()) {
            obj.insert("details".into(), d);
            // Keep upstream's field order: details before code.
            if let Some(code) = obj.remove("code") {
                obj.insert("code".into(), code);
            }
        }
        status
    }
}

fn resource_details(resource: &GroupResource, name: &str) -> Value {
    let mut d = json!({ "name": name });
    if !resource.group.is_empty() {
        d["group"] = json!(resource.group);
    }
    d["kind"] = json!(resource.resource);
    d
}

/// The Success Status a delete returns for objects deleted immediately with no body to show.
pub fn success_status(resource: &GroupResource, name: &str, uid: &str) -> Value {
    let mut d = resource_details(resource, name);
    d["uid"] = json!(uid);
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_group_qualified_resource() {
        let e = ApiError::NotFound {
            resource: GroupResource::new("apps", "deployments"),
            name: "web".into(),
        };
        let s = e.to_status();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["group"], "apps");
        assert_eq!(s["details"]["kind"], "deployments");
    }

    #[test]
    fn every_not_found_carries_details() {
        let cases = [
            (
                "object",
                ApiError::NotFound {
                    resource: GroupResource::new("", "pods"),
                    name: "web".into(),
                },
                json!({"name": "web", "kind": "pods"}),
            ),
            ("no such path", ApiError::NoSuchPath, json!({})),
        ];
        for (case, e, details) in cases {
            let s = e.to_status();
            assert_eq!(s["reason"], "NotFound", "{case}");
            assert_eq!(s["details"], details, "{case}");
        }
        assert_eq!(
            ApiError::NoSuchPath.to_status()["message"],
            "the server could not find the requested resource"
        );
    }

    #[test]
    fn stale_update_reads_like_upstream() {
        let e = ApiError::stale(GroupResource::new("", "configmaps"), "c1");
        assert_eq!(
            e.to_string(),
            "Operation cannot be fulfilled on configmaps \"c1\": the object has been modified; please apply your changes to the latest version and try again"
        );
        assert_eq!(e.to_status()["reason"], "Conflict");
    }
}
