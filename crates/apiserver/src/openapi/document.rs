//! Renders the operations (`paths`) and definitions (`schemas`) as a Swagger 2.0 document
//! (`/openapi/v2`) and as OpenAPI 3.0 documents (`/openapi/v3/<api|apis/...>`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::paths::{In, Operation, Param, PathItem, STRING};
use super::schemas::{self, Definitions, REF_PREFIX};

const V2_PREFIX: &str = "#/definitions/";

fn info() -> Value {
    json!({"title": "Kubernetes", "version": crate::KUBERNETES_VERSION})
}

fn response_description(code: &str) -> &'static str {
    match code {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        _ => "",
    }
}

/// All definitions referenced by the operations of `items`, with their closure.
fn used_definitions(items: &[PathItem], defs: &Definitions) -> Vec<String> {
    let mut roots: Vec<String> = Vec::new();
    for item in items {
        for op in &item.operations {
            if let Some(b) = &op.body {
                roots.push(b.schema.clone());
            }
            for (_, s) in &op.responses {
                if let Some(s) = s {
                    roots.push(s.clone());
                }
            }
        }
    }
    defs.closure(roots.iter().map(String::as_str))
}

fn gvk(op: &Operation) -> Option<Value> {
    op.gvk
        .as_ref()
        .map(|(g, v, k)| json!({"group": g, "kind": k, "version": v}))
}

// ---- Swagger 2.0 ----

fn v2_param(p: &Param) -> Value {
    let mut m = Map::new();
    m.insert("description".into(), p.description.clone().into());
    m.insert(
        "in".into(),
        match p.location {
            In::Path => "path",
            In::Query => "query",
        }
        .into(),
    );
    m.insert("name".into(), p.name.into());
    if p.required {
        m.insert("required".into(), true.into());
    }
    m.insert("type".into(), p.ty.into());
    m.insert("uniqueItems".into(), true.into());
    Value::Object(m)
}

fn v2_ref(name: &str) -> Value {
    if name == STRING {
        return json!({"type": "string"});
    }
    json!({"$ref": format!("{V2_PREFIX}{name}")})
}

fn v2_operation(op: &Operation) -> Value {
    let mut params: Vec<Value> = Vec::new();
    if let Some(b) = &op.body {
        let mut body = json!({"in": "body", "name": "body", "schema": v2_ref(&b.schema)});
        if b.required {
            body["required"] = true.into();
        }
        params.push(body);
    }
    params.extend(op.params.iter().map(v2_param));
    let mut responses = Map::new();
    for (code, schema) in &op.responses {
        let mut r = json!({"description": response_description(code)});
        if let Some(s) = schema {
            r["schema"] = v2_ref(s);
        }
        responses.insert((*code).into(), r);
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    let mut m = Map::new();
    m.insert(
        "consumes".into(),
        json!(op.body.as_ref().map(|b| b.consumes).unwrap_or(&["*/*"])),
    );
    m.insert("description".into(), op.description.clone().into());
    m.insert("operationId".into(), op.id.clone().into());
    if !params.is_empty() {
        m.insert("parameters".into(), Value::Array(params));
    }
    m.insert("produces".into(), json!(op.produces));
    m.insert("responses".into(), Value::Object(responses));
    m.insert("schemes".into(), json!(["https"]));
    m.insert("tags".into(), json!([op.tag]));
    if let Some(a) = op.action {
        m.insert("x-kubernetes-action".into(), a.into());
    }
    if let Some(g) = gvk(op) {
        m.insert("x-kubernetes-group-version-kind".into(), g);
    }
    Value::Object(m)
}

fn path_item(item: &PathItem, param: fn(&Param) -> Value, op: fn(&Operation) -> Value) -> Value {
    let mut m = Map::new();
    for o in &item.operations {
        m.insert(o.method.into(), op(o));
    }
    if !item.params.is_empty() {
        m.insert(
            "parameters".into(),
            Value::Array(item.params.iter().map(param).collect()),
        );
    }
    Value::Object(m)
}

/// Rewrites a neutral schema into Swagger 2.0 form.
fn v2_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                match (k.as_str(), x) {
                    // Property names are not schema keywords.
                    ("properties", Value::Object(props)) => {
                        out.insert(
                            k.clone(),
                            Value::Object(
                                props
                                    .iter()
                                    .map(|(name, p)| (name.clone(), v2_schema(p)))
                                    .collect(),
                            ),
                        );
                    }
                    ("$ref", Value::String(s)) => {
                        let name = s.strip_prefix(REF_PREFIX).unwrap_or(s);
                        out.insert(k.clone(), format!("{V2_PREFIX}{name}").into());
                    }
                    _ => {
                        out.insert(k.clone(), v2_schema(x));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(v2_schema).collect()),
        other => other.clone(),
    }
}

/// The Swagger 2.0 document of everything served.
pub fn v2(items: &[PathItem], defs: &Definitions) -> Value {
    let mut paths = BTreeMap::new();
    for item in items {
        paths.insert(item.path.clone(), path_item(item, v2_param, v2_operation));
    }
    let mut definitions = Map::new();
    for name in used_definitions(items, defs) {
        if let Some(s) = defs.schemas.get(&name) {
            let mut s = v2_schema(s);
            if let Some(obj) = s.as_object_mut() {
                // Swagger 2.0 has no `oneOf` and no int-or-string extension: upstream says
                // `type: string` (with `format: int-or-string` for IntOrString).
                if name == schemas::QUANTITY {
                    obj.remove("oneOf");
                    obj.insert("type".into(), "string".into());
                }
                if name == schemas::INT_OR_STRING {
                    obj.remove("x-kubernetes-int-or-string");
                    obj.insert("type".into(), "string".into());
                    obj.insert("format".into(), "int-or-string".into());
                }
            }
            definitions.insert(name, s);
        }
    }
    schemas::sorted(json!({
        "definitions": definitions,
        "info": info(),
        "paths": paths,
        "security": [{"BearerToken": []}],
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey",
            }
        },
        "swagger": "2.0",
    }))
}

// ---- OpenAPI 3.0 ----

fn v3_param(p: &Param) -> Value {
    let mut m = Map::new();
    m.insert("description".into(), p.description.clone().into());
    m.insert(
        "in".into(),
        match p.location {
            In::Path => "path",
            In::Query => "query",
        }
        .into(),
    );
    m.insert("name".into(), p.name.into());
    if p.required {
        m.insert("required".into(), true.into());
    }
    m.insert("schema".into(), json!({"type": p.ty, "uniqueItems": true}));
    Value::Object(m)
}

fn v3_content(types: &[&str], schema: &str) -> Value {
    let mut m = Map::new();
    let schema = if schema == STRING {
        json!({"type": "string"})
    } else {
        json!({"$ref": format!("{REF_PREFIX}{schema}")})
    };
    for t in types {
        m.insert((*t).into(), json!({ "schema": schema }));
    }
    Value::Object(m)
}

fn v3_operation(op: &Operation) -> Value {
    let mut m = Map::new();
    m.insert("description".into(), op.description.clone().into());
    m.insert("operationId".into(), op.id.clone().into());
    if !op.params.is_empty() {
        m.insert(
            "parameters".into(),
            Value::Array(op.params.iter().map(v3_param).collect()),
        );
    }
    if let Some(b) = &op.body {
        m.insert(
            "requestBody".into(),
            json!({"content": v3_content(b.consumes, &b.schema), "required": b.required}),
        );
    }
    let mut responses = Map::new();
    for (code, schema) in &op.responses {
        let mut r = json!({"description": response_description(code)});
        if let Some(s) = schema {
            r["content"] = v3_content(op.produces, s);
        }
        responses.insert((*code).into(), r);
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    m.insert("responses".into(), Value::Object(responses));
    m.insert("tags".into(), json!([op.tag]));
    if let Some(a) = op.action {
        m.insert("x-kubernetes-action".into(), a.into());
    }
    if let Some(g) = gvk(op) {
        m.insert("x-kubernetes-group-version-kind".into(), g);
    }
    Value::Object(m)
}

/// Rewrites a neutral schema into OpenAPI 3.0 form: a `$ref` with siblings becomes
/// `allOf: [{$ref}]` plus the siblings (3.0 ignores `$ref` siblings), like upstream.
fn v3_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.get("$ref").is_some_and(Value::is_string) && m.len() > 1 => {
            let mut out = Map::new();
            for (k, x) in m {
                if k == "$ref" {
                    out.insert("allOf".into(), json!([{"$ref": x}]));
                } else {
                    out.insert(k.clone(), v3_schema(x));
                }
            }
            out.insert("default".into(), json!({}));
            Value::Object(out)
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| match (k.as_str(), x) {
                    // Property names are not schema keywords (JSONSchemaProps has `$ref`).
                    ("properties", Value::Object(props)) => (
                        k.clone(),
                        Value::Object(
                            props
                                .iter()
                                .map(|(name, p)| (name.clone(), v3_schema(p)))
                                .collect(),
                        ),
                    ),
                    _ => (k.clone(), v3_schema(x)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(v3_schema).collect()),
        other => other.clone(),
    }
}

/// One OpenAPI 3.0 document over `items`.
pub fn v3(items: &[PathItem], defs: &Definitions) -> Value {
    let mut paths = BTreeMap::new();
    for item in items {
        paths.insert(item.path.clone(), path_item(item, v3_param, v3_operation));
    }
    let mut components = Map::new();
    for name in used_definitions(items, defs) {
        if let Some(s) = defs.schemas.get(&name) {
            components.insert(name, v3_schema(s));
        }
    }
    schemas::sorted(json!({
        "components": {
            "schemas": components,
            "securitySchemes": {
                "BearerToken": {
                    "description": "Bearer Token authentication",
                    "in": "header",
                    "name": "authorization",
                    "type": "apiKey",
                }
            }
        },
        "info": info(),
        "openapi": "3.0.0",
        "paths": paths,
    }))
}
