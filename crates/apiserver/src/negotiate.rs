//! Content negotiation: which representation an `Accept` header asks for (plain JSON, a
//! server-side `Table`, `PartialObjectMetadata`, aggregated discovery), and the JSON
//! responses every handler returns, including errors as `metav1.Status`.

use api::ApiError;
use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;

/// The representation a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The object(s) as JSON.
    Json,
    /// A `meta.k8s.io/v1` Table (`kubectl get`).
    Table,
    /// `PartialObjectMetadata` (metadata-only clients).
    Metadata,
    /// Aggregated discovery `apidiscovery.k8s.io/v2` (discovery endpoints only).
    Discovery,
}

/// Content type of aggregated discovery responses.
pub const DISCOVERY_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

struct MediaType<'a> {
    essence: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

impl MediaType<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

fn parse_accept(accept: &str) -> Vec<MediaType<'_>> {
    accept
        .split(',')
        .map(|part| {
            let mut pieces = part.split(';').map(str::trim);
            let essence = pieces.next().unwrap_or("");
            let params = pieces
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
                .collect();
            MediaType { essence, params }
        })
        .filter(|m| !m.essence.is_empty())
        .collect()
}

/// Picks the representation for an `Accept` header. `discovery` allows aggregated discovery;
/// `objects` allows Table and metadata forms. 406 when nothing acceptable is offered.
pub fn choose(accept: Option<&str>, discovery: bool, objects: bool) -> Result<Output, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Output::Json);
    };
    for m in parse_accept(accept) {
        let json_like = matches!(m.essence, "application/json" | "*/*" | "application/*");
        if !json_like {
            continue;
        }
        match (m.param("as"), m.param("g"), m.param("v")) {
            (None, _, _) => return Ok(Output::Json),
            (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some("v2"))
                if discovery =>
            {
                return Ok(Output::Discovery);
            }
            (Some("Table"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) if objects => {
                return Ok(Output::Table);
            }
            (
                Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                Some("meta.k8s.io"),
                Some("v1" | "v1beta1"),
            ) if objects => {
                return Ok(Output::Metadata);
            }
            _ => continue,
        }
    }
    Err(ApiError::NotAcceptable(
        "application/json, application/yaml, application/vnd.kubernetes.protobuf".into(),
    ))
}

/// A JSON response with a status code.
pub fn json_response(code: StatusCode, body: &Value) -> Response {
    json_bytes_response(
        code,
        serde_json::to_vec(body).unwrap_or_default(),
        "application/json",
    )
}

/// A response with ready-made JSON bytes and a content type.
pub fn json_bytes_response(code: StatusCode, bytes: Vec<u8>, content_type: &str) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = code;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

/// The one place an error becomes an HTTP response: a `metav1.Status` body.
pub fn error_response(err: &ApiError) -> Response {
    let code = StatusCode::from_u16(err.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json_response(code, &err.to_status());
    if matches!(err, ApiError::TooManyRequests(_) | ApiError::Timeout(_)) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_accept_headers_pick_the_right_form() {
        let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(choose(Some(table), false, true).ok(), Some(Output::Table));
        assert_eq!(choose(Some(table), false, false).ok(), Some(Output::Json));
        let disco = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(
            choose(Some(disco), true, false).ok(),
            Some(Output::Discovery)
        );
        assert_eq!(choose(None, true, true).ok(), Some(Output::Json));
        assert_eq!(choose(Some("*/*"), true, true).ok(), Some(Output::Json));
        assert!(choose(Some("application/vnd.kubernetes.protobuf"), false, true).is_err());
        assert_eq!(
            choose(
                Some("application/vnd.kubernetes.protobuf, application/json"),
                false,
                true
            )
            .ok(),
            Some(Output::Json)
        );
    }
}
