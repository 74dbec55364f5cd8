//! The protobuf form of `/openapi/v2` (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`):
//! the Swagger 2.0 JSON document encoded as gnostic's `openapi.v2.Document` message, which
//! client-go's `OpenAPISchema()` asks for. A small hand-written encoder over the JSON
//! document; field numbers are those of gnostic's `openapiv2/OpenAPIv2.proto`.
//!
//! Vendor extensions (`x-kubernetes-*`) are `NamedAny`s whose `Any.yaml` holds the value's
//! JSON text (JSON is YAML), as gnostic's compiler stores them.

use serde_json::{Map, Value};

/// A protobuf message being written.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    /// A proto3 string: omitted when empty.
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    fn str_of(&mut self, field: u32, v: Option<&Value>) {
        if let Some(s) = v.and_then(Value::as_str) {
            self.string(field, s);
        }
    }

    fn strings(&mut self, field: u32, v: Option<&Value>) {
        for s in v.and_then(Value::as_array).into_iter().flatten() {
            if let Some(s) = s.as_str() {
                self.bytes(field, s.as_bytes());
            }
        }
    }

    fn boolean(&mut self, field: u32, b: bool) {
        if b {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn bool_of(&mut self, field: u32, v: Option<&Value>) {
        self.boolean(field, v.and_then(Value::as_bool).unwrap_or(false));
    }

    fn int_of(&mut self, field: u32, v: Option<&Value>) {
        if let Some(n) = v.and_then(Value::as_i64)
            && n != 0
        {
            self.key(field, 0);
            self.varint(n as u64);
        }
    }

    fn double_of(&mut self, field: u32, v: Option<&Value>) {
        if let Some(n) = v.and_then(Value::as_f64)
            && n != 0.0
        {
            self.key(field, 1);
            self.0.extend_from_slice(&n.to_le_bytes());
        }
    }

    fn message(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }
}

/// `Any { yaml = 2 }` holding a JSON value's text.
fn any(v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(2, &serde_json::to_string(v).unwrap_or_default());
    m
}

/// `NamedAny`s for every `x-` key of `obj`.
fn vendor_extensions(m: &mut Msg, field: u32, obj: &Map<String, Value>) {
    for (k, v) in obj {
        if k.starts_with("x-") {
            let mut named = Msg::default();
            named.string(1, k);
            named.message(2, any(v));
            m.message(field, named);
        }
    }
}

fn named(name: &str, value: Msg) -> Msg {
    let mut m = Msg::default();
    m.string(1, name);
    m.message(2, value);
    m
}

/// `Schema`.
fn schema(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else {
        return m;
    };
    m.str_of(1, o.get("$ref"));
    m.str_of(2, o.get("format"));
    m.str_of(3, o.get("title"));
    m.str_of(4, o.get("description"));
    if let Some(d) = o.get("default") {
        m.message(5, any(d));
    }
    m.double_of(6, o.get("multipleOf"));
    m.double_of(7, o.get("maximum"));
    m.bool_of(8, o.get("exclusiveMaximum"));
    m.double_of(9, o.get("minimum"));
    m.bool_of(10, o.get("exclusiveMinimum"));
    m.int_of(11, o.get("maxLength"));
    m.int_of(12, o.get("minLength"));
    m.str_of(13, o.get("pattern"));
    m.int_of(14, o.get("maxItems"));
    m.int_of(15, o.get("minItems"));
    m.bool_of(16, o.get("uniqueItems"));
    m.int_of(17, o.get("maxProperties"));
    m.int_of(18, o.get("minProperties"));
    m.strings(19, o.get("required"));
    for e in o
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(20, any(e));
    }
    match o.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut a = Msg::default();
            a.key(2, 0);
            a.varint(u64::from(*b));
            m.message(21, a);
        }
        Some(s @ Value::Object(_)) => {
            let mut a = Msg::default();
            a.message(1, schema(s));
            m.message(21, a);
        }
        _ => {}
    }
    match o.get("type") {
        Some(Value::String(t)) => {
            let mut ty = Msg::default();
            ty.string(1, t);
            m.message(22, ty);
        }
        Some(t @ Value::Array(_)) => {
            let mut ty = Msg::default();
            ty.strings(1, Some(t));
            m.message(22, ty);
        }
        _ => {}
    }
    match o.get("items") {
        Some(Value::Array(items)) => {
            let mut it = Msg::default();
            for i in items {
                it.message(1, schema(i));
            }
            m.message(23, it);
        }
        Some(i @ Value::Object(_)) => {
            let mut it = Msg::default();
            it.message(1, schema(i));
            m.message(23, it);
        }
        _ => {}
    }
    for s in o
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(24, schema(s));
    }
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        let mut p = Msg::default();
        for (name, s) in props {
            p.message(1, named(name, schema(s)));
        }
        m.message(25, p);
    }
    m.bool_of(27, o.get("readOnly"));
    if let Some(e) = o.get("example") {
        m.message(30, any(e));
    }
    vendor_extensions(&mut m, 31, o);
    m
}

/// `ParametersItem` from a parameter object.
fn parameter(p: &Value) -> Msg {
    let mut item = Msg::default();
    if let Some(r) = p.get("$ref").and_then(Value::as_str) {
        let mut j = Msg::default();
        j.string(1, r);
        item.message(2, j);
        return item;
    }
    let mut param = Msg::default();
    match p.get("in").and_then(Value::as_str) {
        Some("body") => {
            let mut b = Msg::default();
            b.str_of(1, p.get("description"));
            b.str_of(2, p.get("name"));
            b.string(3, "body");
            b.bool_of(4, p.get("required"));
            if let Some(s) = p.get("schema") {
                b.message(5, schema(s));
            }
            param.message(1, b);
        }
        Some(location) => {
            // Query, path, header and form-data sub-schemas share their first fields;
            // `type` and `uniqueItems` sit at different numbers.
            let (oneof, type_field, unique_field) = match location {
                "header" => (1, 5, 19),
                "formData" => (2, 6, 20),
                "path" => (4, 5, 19),
                _ => (3, 6, 20),
            };
            let mut s = Msg::default();
            s.bool_of(1, p.get("required"));
            s.string(2, location);
            s.str_of(3, p.get("description"));
            s.str_of(4, p.get("name"));
            s.str_of(type_field, p.get("type"));
            s.str_of(type_field + 1, p.get("format"));
            s.bool_of(unique_field, p.get("uniqueItems"));
            let mut non_body = Msg::default();
            non_body.message(oneof, s);
            param.message(2, non_body);
        }
        None => {}
    }
    item.message(1, param);
    item
}

fn operation(op: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = op.as_object() else {
        return m;
    };
    m.strings(1, o.get("tags"));
    m.str_of(2, o.get("summary"));
    m.str_of(3, o.get("description"));
    m.str_of(5, o.get("operationId"));
    m.strings(6, o.get("produces"));
    m.strings(7, o.get("consumes"));
    for p in o
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(8, parameter(p));
    }
    if let Some(rs) = o.get("responses").and_then(Value::as_object) {
        let mut responses = Msg::default();
        for (code, r) in rs {
            let mut response = Msg::default();
            response.str_of(1, r.get("description"));
            if let Some(s) = r.get("schema") {
                let mut item = Msg::default();
                item.message(1, schema(s));
                response.message(2, item);
            }
            let mut value = Msg::default();
            value.message(1, response);
            responses.message(1, named(code, value));
        }
        m.message(9, responses);
    }
    m.strings(10, o.get("schemes"));
    m.bool_of(11, o.get("deprecated"));
    vendor_extensions(&mut m, 13, o);
    m
}

fn path_item(item: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = item.as_object() else {
        return m;
    };
    m.str_of(1, o.get("$ref"));
    for (method, field) in [
        ("get", 2),
        ("put", 3),
        ("post", 4),
        ("delete", 5),
        ("options", 6),
        ("head", 7),
        ("patch", 8),
    ] {
        if let Some(op) = o.get(method) {
            m.message(field, operation(op));
        }
    }
    for p in o
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(9, parameter(p));
    }
    vendor_extensions(&mut m, 10, o);
    m
}

/// Encodes a Swagger 2.0 JSON document as gnostic's `openapi.v2.Document`.
pub fn encode(doc: &Value) -> Vec<u8> {
    let mut m = Msg::default();
    let empty = Map::new();
    let o = doc.as_object().unwrap_or(&empty);
    m.str_of(1, o.get("swagger"));
    if let Some(info) = o.get("info") {
        let mut i = Msg::default();
        i.str_of(1, info.get("title"));
        i.str_of(2, info.get("version"));
        i.str_of(3, info.get("description"));
        m.message(2, i);
    }
    m.str_of(3, o.get("host"));
    m.str_of(4, o.get("basePath"));
    m.strings(5, o.get("schemes"));
    m.strings(6, o.get("consumes"));
    m.strings(7, o.get("produces"));
    if let Some(paths) = o.get("paths").and_then(Value::as_object) {
        let mut p = Msg::default();
        for (path, item) in paths {
            p.message(2, named(path, path_item(item)));
        }
        m.message(8, p);
    }
    if let Some(defs) = o.get("definitions").and_then(Value::as_object) {
        let mut d = Msg::default();
        for (name, s) in defs {
            d.message(1, named(name, schema(s)));
        }
        m.message(9, d);
    }
    for req in o
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut r = Msg::default();
        for (name, scopes) in req.as_object().into_iter().flatten() {
            let mut arr = Msg::default();
            arr.strings(1, Some(scopes));
            r.message(1, named(name, arr));
        }
        m.message(12, r);
    }
    if let Some(defs) = o.get("securityDefinitions").and_then(Value::as_object) {
        let mut d = Msg::default();
        for (name, s) in defs {
            let mut item = Msg::default();
            if s.get("type").and_then(Value::as_str) == Some("apiKey") {
                let mut k = Msg::default();
                k.string(1, "apiKey");
                k.str_of(2, s.get("name"));
                k.str_of(3, s.get("in"));
                k.str_of(4, s.get("description"));
                item.message(2, k);
            } else {
                let mut b = Msg::default();
                b.str_of(1, s.get("type"));
                b.str_of(2, s.get("description"));
                item.message(1, b);
            }
            d.message(1, named(name, item));
        }
        m.message(13, d);
    }
    vendor_extensions(&mut m, 16, o);
    m.0
}
