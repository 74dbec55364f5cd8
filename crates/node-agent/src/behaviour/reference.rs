//! Image references as containerd reads them: Docker Hub short names normalised
//! (`nginx` → `docker.io/library/nginx:latest`), tags and `@sha256:` digests split off, and
//! the kubelet's "invalid reference format" answers.

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// Registry host, e.g. `docker.io`, `registry.k8s.io`, `localhost:5000`.
    pub(crate) domain: String,
    /// Repository path inside the registry, e.g. `library/nginx`.
    pub(crate) path: String,
    /// The tag (`latest` when neither tag nor digest was given; `None` with a digest).
    pub(crate) tag: Option<String>,
    /// The digest, `sha256:<64 hex>`.
    pub(crate) digest: Option<String>,
}

impl Reference {
    /// `domain/path`, e.g. `docker.io/library/nginx`.
    pub(crate) fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Parses `image` as containerd's `ParseDockerRef` does. The error is the text after
/// `invalid reference format` in the kubelet's message (possibly empty).
pub(crate) fn parse(image: &str) -> Result<Reference, String> {
    let invalid = |detail: &str| {
        if detail.is_empty() {
            "invalid reference format".to_string()
        } else {
            format!("invalid reference format: {detail}")
        }
    };
    if image.is_empty() || image.len() > 255 {
        return Err(invalid(""));
    }
    let (name_and_tag, digest) = match image.split_once('@') {
        Some((name, digest)) => {
            let hex = digest.strip_prefix("sha256:").ok_or_else(|| invalid(""))?;
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(""));
            }
            (name, Some(format!("sha256:{}", hex.to_ascii_lowercase())))
        }
        None => (image, None),
    };
    // The tag is after the last ':' that comes after the last '/'.
    let last_slash = name_and_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_and_tag[..last_slash + i],
            Some(&name_and_tag[last_slash + i + 1..]),
        ),
        None => (name_and_tag, None),
    };
    if let Some(tag) = tag {
        let valid = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
        if !valid {
            return Err(invalid(""));
        }
    }
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io".to_string()
    } else {
        domain
    };
    let path = if domain == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(invalid(&format!(
            "repository name ({path}) must be lowercase"
        )));
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    };
    let domain_ok = !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b));
    if !domain_ok || !path.split('/').all(component_ok) {
        return Err(invalid(""));
    }
    let tag = match (tag, &digest) {
        // Tagged and digested: containerd keeps only the digest.
        (_, Some(_)) => None,
        (Some(tag), None) => Some(tag.to_string()),
        (None, None) => Some("latest".to_string()),
    };
    Ok(Reference {
        domain,
        path,
        tag,
        digest,
    })
}
