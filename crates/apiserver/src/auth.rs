//! Authentication and authorization. Users come from the TLS client certificate (CN → user,
//! O → groups), the admin bearer token, or the in-process transport; anyone else is
//! `system:anonymous`, who may only read the public health and version endpoints (as
//! kube-apiserver's `system:public-info-viewer` role allows). Full RBAC comes later.

use api::ApiError;

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User name (`kubernetes-admin`, `system:anonymous`, ...).
    pub user: String,
    /// Groups (`system:masters`, `system:authenticated`, ...).
    pub groups: Vec<String>,
}

impl Identity {
    /// An authenticated user with the given groups (`system:authenticated` is added).
    pub fn user(user: &str, groups: &[&str]) -> Identity {
        let mut gs: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        if !gs.iter().any(|g| g == "system:authenticated") {
            gs.push("system:authenticated".into());
        }
        Identity {
            user: user.to_string(),
            groups: gs,
        }
    }

    /// The anonymous user.
    pub fn anonymous() -> Identity {
        Identity {
            user: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        }
    }

    /// True for the anonymous user.
    pub fn is_anonymous(&self) -> bool {
        self.user == "system:anonymous"
    }
}

/// Paths anonymous users may read.
fn public_path(path: &str) -> bool {
    ["/healthz", "/livez", "/readyz", "/version"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Decides whether `who` may call a non-resource path.
pub fn authorize_path(who: &Identity, verb: &str, path: &str) -> Result<(), ApiError> {
    if who.is_anonymous() && !public_path(path) {
        return Err(ApiError::ForbiddenMessage(format!(
            "forbidden: User \"{}\" cannot {verb} path \"{path}\"",
            who.user
        )));
    }
    Ok(())
}

/// Decides whether `who` may use `verb` on a resource.
pub fn authorize_resource(
    who: &Identity,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> Result<(), ApiError> {
    if !who.is_anonymous() {
        return Ok(());
    }
    let scope = match namespace {
        Some(ns) => format!(" in the namespace \"{ns}\""),
        None => " at the cluster scope".into(),
    };
    Err(ApiError::ForbiddenMessage(format!(
        "{resource} is forbidden: User \"{}\" cannot {verb} resource \"{resource}\" in API group \"{group}\"{scope}",
        who.user
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_users_only_see_public_info() {
        let anon = Identity::anonymous();
        assert!(authorize_path(&anon, "get", "/version").is_ok());
        assert!(authorize_path(&anon, "get", "/readyz/ping").is_ok());
        let err = authorize_path(&anon, "get", "/api").expect_err("discovery needs authentication");
        assert_eq!(err.code(), 403);
        let err = authorize_resource(&anon, "list", "", "configmaps", Some("demo"))
            .expect_err("anonymous list");
        assert_eq!(
            err.to_string(),
            "configmaps is forbidden: User \"system:anonymous\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"demo\""
        );
        let admin = Identity::user("kubernetes-admin", &["system:masters"]);
        assert!(authorize_resource(&admin, "delete", "apps", "deployments", None).is_ok());
    }
}
