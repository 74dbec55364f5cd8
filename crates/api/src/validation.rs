//! Object validation with kube-apiserver v1.33's exact field errors: `field.Error` rendering, the
//! 422 `Invalid` message, name/label/annotation rules, ObjectMeta checks, and the per-kind create
//! and update rules of the built-in resources users most often get wrong.
//!
//! Objects are their JSON form (`serde_json::Value`). Like upstream, the checks expect objects
//! that have been through defaulting; where a field upstream would have defaulted is missing,
//! the default is assumed, so undefaulted input does not produce spurious errors. Values of the
//! wrong JSON type are treated as absent: rejecting them is the decoder's job.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// field.Error
// ---------------------------------------------------------------------------------------------

/// The type of a field error, as apimachinery's `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    /// Malformed value (`FieldValueInvalid`).
    Invalid,
    /// Missing value (`FieldValueRequired`).
    Required,
    /// Value not permitted here (`FieldValueForbidden`).
    Forbidden,
    /// Value outside an enumeration (`FieldValueNotSupported`).
    NotSupported,
    /// Value that must be unique (`FieldValueDuplicate`).
    Duplicate,
    /// Value too long (`FieldValueTooLong`).
    TooLong,
    /// List with too many items (`FieldValueTooMany`).
    TooMany,
    /// Reference to something that does not exist (`FieldValueNotFound`).
    NotFound,
    /// Value of the wrong JSON type (`FieldValueTypeInvalid`).
    TypeInvalid,
}

impl FieldErrorKind {
    /// The `StatusCause.reason` for this kind (`FieldValueInvalid`, …).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Invalid => "FieldValueInvalid",
            Self::Required => "FieldValueRequired",
            Self::Forbidden => "FieldValueForbidden",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Duplicate => "FieldValueDuplicate",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::NotFound => "FieldValueNotFound",
            Self::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// The words a message starts with (`Invalid value`, …), as `ErrorType.String()`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::Required => "Required value",
            Self::Forbidden => "Forbidden",
            Self::NotSupported => "Unsupported value",
            Self::Duplicate => "Duplicate value",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::NotFound => "Not found",
        }
    }
}

/// One invalid field, as apimachinery's field.Error.
///
/// `value` is the bad value: `None` leaves it out of the message (upstream's `omitValue`),
/// JSON strings print Go-quoted, numbers and booleans bare, `null` as `"null"`, string lists as
/// `[]string{…}`, string maps as `map[string]string{…}`, and a [`go_repr`] object verbatim.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The error type.
    pub kind: FieldErrorKind,
    /// The field path, e.g. `spec.containers[0].name`.
    pub field: String,
    /// The offending value, if it is shown.
    pub value: Option<Value>,
    /// The explanation after the value.
    pub detail: String,
}

impl FieldError {
    /// An `Invalid value` error.
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: FieldErrorKind::Invalid,
            field: field.into(),
            value: Some(value.into()),
            detail: detail.into(),
        }
    }

    /// A `FieldValueTypeInvalid` error (shown as `Invalid value`).
    pub fn type_invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: FieldErrorKind::TypeInvalid,
            field: field.into(),
            value: Some(value.into()),
            detail: detail.into(),
        }
    }

    /// A `Required value` error.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind: FieldErrorKind::Required,
            field: field.into(),
            value: None,
            detail: detail.into(),
        }
    }

    /// A `Forbidden` error.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind: FieldErrorKind::Forbidden,
            field: field.into(),
            value: None,
            detail: detail.into(),
        }
    }

    /// An `Unsupported value` error listing the supported values, as `field.NotSupported`.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        supported: &[&str],
    ) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self {
            kind: FieldErrorKind::NotSupported,
            field: field.into(),
            value: Some(value.into()),
            detail,
        }
    }

    /// A `Duplicate value` error.
    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            kind: FieldErrorKind::Duplicate,
            field: field.into(),
            value: Some(value.into()),
            detail: String::new(),
        }
    }

    /// A `Not found` error.
    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            kind: FieldErrorKind::NotFound,
            field: field.into(),
            value: Some(value.into()),
            detail: String::new(),
        }
    }

    /// A `Too long` error for a value over `max_bytes`, as `field.TooLong`.
    pub fn too_long(field: impl Into<String>, max_bytes: i64) -> Self {
        let detail = if max_bytes >= 0 {
            format!("may not be more than {max_bytes} bytes")
        } else {
            "value is too long".to_string()
        };
        Self {
            kind: FieldErrorKind::TooLong,
            field: field.into(),
            value: None,
            detail,
        }
    }

    /// A `Too many` error for a list of `actual` items over `max`, as `field.TooMany`.
    pub fn too_many(field: impl Into<String>, actual: i64, max: i64) -> Self {
        let detail = if max >= 0 {
            format!("must have at most {max} items")
        } else {
            "has too many items".to_string()
        };
        let value = (actual >= 0).then(|| Value::from(actual));
        Self {
            kind: FieldErrorKind::TooMany,
            field: field.into(),
            value,
            detail,
        }
    }

    /// The `StatusCause.reason` (`FieldValueInvalid`, …).
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }

    /// The cause message exactly as upstream `field.Error.ErrorBody()`.
    pub fn message(&self) -> String {
        let label = self.kind.label();
        let mut out = match (self.kind, &self.value) {
            (FieldErrorKind::Required | FieldErrorKind::Forbidden | FieldErrorKind::TooLong, _)
            | (_, None) => label.to_string(),
            (_, Some(value)) => format!("{label}: {}", render_value(value)),
        };
        if !self.detail.is_empty() {
            out.push_str(": ");
            out.push_str(&self.detail);
        }
        out
    }

    /// The whole error as upstream `field.Error.Error()`: `<field>: <message>`.
    pub fn to_string_full(&self) -> String {
        format!("{}: {}", self.field, self.message())
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_full())
    }
}

impl std::error::Error for FieldError {}

/// Key of a one-entry JSON object whose string is printed verbatim as a bad value (see [`go_repr`]).
pub const GO_REPR_KEY: &str = "$goRepr";

/// Wraps Go `%#v` text (e.g. `v1.LabelSelector{…}`) so a [`FieldError`] prints it verbatim.
pub fn go_repr(text: impl Into<String>) -> Value {
    let mut map = Map::new();
    map.insert(GO_REPR_KEY.to_string(), Value::String(text.into()));
    Value::Object(map)
}

/// The errors joined as upstream `ErrorList.ToAggregate().Error()`: duplicates dropped, one error
/// bare, several as `[e1, e2]`; `None` when there are none.
pub fn aggregate_message(errs: &[FieldError]) -> Option<String> {
    let mut seen = BTreeSet::new();
    let mut parts = Vec::new();
    for err in errs {
        let text = err.to_string_full();
        if seen.insert(text.clone()) {
            parts.push(text);
        }
    }
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(format!("[{}]", parts.join(", "))),
    }
}

/// The `Status.message` upstream builds for 422 Invalid (`errors.NewInvalid`):
/// `<Kind> "<name>" is invalid: <errs>`; pass the qualified kind (see [`qualified_kind`]).
pub fn invalid_message(kind: &str, name: &str, errs: &[FieldError]) -> String {
    match aggregate_message(errs) {
        None => format!("{kind} {} is invalid", go_quote(name)),
        Some(msg) => format!("{kind} {} is invalid: {msg}", go_quote(name)),
    }
}

/// `schema.GroupKind.String()`: `Kind` for the core group, `Kind.group` otherwise.
pub fn qualified_kind(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    }
}

// ---------------------------------------------------------------------------------------------
// Go formatting
// ---------------------------------------------------------------------------------------------

/// Quotes `s` as Go's `strconv.Quote` (`%q`), the form upstream messages give strings.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if go_is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Approximates Go's `unicode.IsPrint`: graphic characters and the ASCII space.
fn go_is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x20 || (0x7f..=0x9f).contains(&u) {
        return false;
    }
    if u < 0x7f {
        return true;
    }
    let not_print = matches!(u,
        0xA0 | 0xAD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x1680 | 0x180E | 0x2000..=0x200F | 0x2028..=0x202F | 0x205F..=0x206F | 0x3000
        | 0xD800..=0xF8FF | 0xFDD0..=0xFDEF | 0xFEFF | 0xFFF0..=0xFFFB
        | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0x323B0..=0xE00FF | 0xE01F0..=0x10FFFF);
    !not_print && (u & 0xFFFE) != 0xFFFE
}

/// Formats a float as Go's `%v` (`strconv.FormatFloat(f, 'g', -1, 64)`).
fn go_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, like Go's shortest mode.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.unsigned_abs());
    }
    let dp = exp + 1; // digits before the decimal point
    if dp <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat(dp.unsigned_abs() as usize))
    } else if (dp as usize) >= digits.len() {
        format!("{sign}{digits}{}", "0".repeat(dp as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(dp as usize);
        format!("{sign}{int}.{frac}")
    }
}

/// Renders a bad value as `field.Error.ErrorBody` would print the Go value behind it.
fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                go_float(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::Bool(b) => b.to_string(),
        Value::Null => go_quote("null"),
        Value::Object(map) => {
            if map.len() == 1
                && let Some(Value::String(text)) = map.get(GO_REPR_KEY)
            {
                return text.clone();
            }
            if map.values().all(Value::is_string) {
                go_string_map(Some(map))
            } else {
                value.to_string()
            }
        }
        Value::Array(items) => {
            if items.iter().all(Value::is_string) {
                go_string_slice(Some(items))
            } else {
                value.to_string()
            }
        }
    }
}

/// `%#v` of a `[]string` (`None` is the nil slice).
fn go_string_slice(items: Option<&[Value]>) -> String {
    match items {
        None => "[]string(nil)".to_string(),
        Some(items) => {
            let parts: Vec<String> = items.iter().map(|v| go_quote(&as_text(v))).collect();
            format!("[]string{{{}}}", parts.join(", "))
        }
    }
}

/// `%#v` of a `map[string]string` (`None` is the nil map); Go prints keys sorted.
fn go_string_map(map: Option<&Map<String, Value>>) -> String {
    match map {
        None => "map[string]string(nil)".to_string(),
        Some(map) => {
            let parts: Vec<String> = sorted(map)
                .into_iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(&as_text(v))))
                .collect();
            format!("map[string]string{{{}}}", parts.join(", "))
        }
    }
}

/// `%#v` of a `metav1.LabelSelector` given as JSON.
fn go_label_selector(sel: &Value) -> String {
    let labels = go_string_map(sel.get("matchLabels").and_then(Value::as_object));
    let exprs = match sel.get("matchExpressions").and_then(Value::as_array) {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(list) => {
            let parts: Vec<String> = list
                .iter()
                .map(|e| {
                    let values = e.get("values").and_then(Value::as_array).map(Vec::as_slice);
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        go_quote(text(e, "key")),
                        go_quote(text(e, "operator")),
                        go_string_slice(values)
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", parts.join(", "))
        }
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")
}

/// `%#v` of an `intstr.IntOrString` given as JSON (`None` is the zero value).
fn go_int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => format!(
            "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
            go_quote(s)
        ),
        Some(v) => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            as_int(v).unwrap_or(0)
        ),
        None => "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}".to_string(),
    }
}

/// `%#v` of a `*T` that points at something: Go prints an address, which is arbitrary.
const GO_POINTER: &str = "0xc000010000";

/// `%#v` of a pointer-typed JSON field: `(*T)(nil)` when absent.
fn go_ptr(v: Option<&Value>, ty: &str) -> String {
    match v {
        Some(v) if !v.is_null() => format!("(*{ty})({GO_POINTER})"),
        _ => format!("(*{ty})(nil)"),
    }
}

/// Go's `time.Time.String()` of an RFC 3339 timestamp, in UTC (`metav1.Time` decodes to local
/// time, which is UTC on a server); the zero time for an absent one.
fn go_time(v: Option<&Value>) -> String {
    let Some(raw) = v.and_then(Value::as_str) else {
        return "0001-01-01 00:00:00 +0000 UTC".to_string();
    };
    match raw.parse::<jiff::Timestamp>() {
        Ok(ts) => {
            let base = ts.strftime("%Y-%m-%d %H:%M:%S").to_string();
            let nanos = ts.subsec_nanosecond();
            if nanos == 0 {
                format!("{base} +0000 UTC")
            } else {
                let frac = format!("{nanos:09}");
                format!("{base}.{} +0000 UTC", frac.trim_end_matches('0'))
            }
        }
        Err(_) => raw.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON access (never panics; wrong types read as absent)
// ---------------------------------------------------------------------------------------------

static NULL: Value = Value::Null;

/// The member `key` of `v`, or `null`.
fn member<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&NULL)
}

/// The string member `key` of `v`, or `""`.
fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The string member `key` of `v` if it is a string.
fn opt_text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// An integral JSON number as i64.
fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        let f = v.as_f64()?;
        (f.fract() == 0.0 && f.abs() < 9.0e18).then_some(f as i64)
    })
}

/// The integer member `key` of `v`.
fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(as_int)
}

/// The boolean member `key` of `v`.
fn boolean(v: &Value, key: &str) -> Option<bool> {
    v.get(key).and_then(Value::as_bool)
}

/// The array member `key` of `v`, or an empty slice.
fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The object member `key` of `v`.
fn object<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

/// Whether `v` has a non-null member `key`.
fn present(v: &Value, key: &str) -> bool {
    matches!(v.get(key), Some(x) if !x.is_null())
}

/// A string value as text; other JSON as its serialization.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The entries of a map sorted by key (upstream iterates Go maps; sorting makes errors stable).
fn sorted(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// Whether a JSON value is a Go zero value (null, false, 0, "", empty list or map).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Whether every leaf of `v` is a zero value.
fn deep_zero(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.values().all(deep_zero),
        other => is_zero(other),
    }
}

/// `apiequality.Semantic.DeepEqual` on JSON: absent, null and empty values are equal.
fn sem_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.iter().all(|(k, v)| sem_eq(v, y.get(k).unwrap_or(&NULL)))
                && y.iter().all(|(k, v)| x.contains_key(k) || deep_zero(v))
        }
        (Value::Object(x), other) | (other, Value::Object(x)) if is_zero(other) => {
            x.values().all(deep_zero)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| sem_eq(p, q))
        }
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(p), Some(q)) => p == q,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => (is_zero(a) && is_zero(b)) || a == b,
    }
}

/// A field path joined with a child name.
fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// A field path subscripted by an index or key (`path[i]`).
fn sub(path: &str, index: impl fmt::Display) -> String {
    format!("{path}[{index}]")
}

// ---------------------------------------------------------------------------------------------
// apimachinery/pkg/util/validation
// ---------------------------------------------------------------------------------------------

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const CONFIG_KEY_FMT: &str = "[-._a-zA-Z0-9]+";
const CONFIG_KEY_ERR: &str =
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
const PERCENT_FMT: &str = "[0-9]+%";
const PERCENT_ERR: &str =
    "a valid percent string must be a numeric string followed by an ending '%'";

/// `validation.RegexError`: the message, examples, and the regex.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, example) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(example);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(fmt);
    out.push_str("')");
    out
}

/// `validation.MaxLenError`.
fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// `validation.InclusiveRangeError`.
fn inclusive_range_error(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// Whether `s` matches `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
fn matches_qualified_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Whether `s` matches `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => ok(f) && ok(l) && b.iter().all(|c| ok(c) || *c == b'-'),
        _ => false,
    }
}

/// Whether `s` is dot-joined RFC 1123 labels.
fn matches_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(matches_dns1123_label)
}

/// Whether `s` matches `[a-z]([-a-z0-9]*[a-z0-9])?`.
fn matches_dns1035_label(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_lowercase() && ok(l) && b.iter().all(|c| ok(c) || *c == b'-')
        }
        _ => false,
    }
}

/// `validation.IsQualifiedName`: label keys, annotation keys, finalizers.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    is_dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !matches_qualified_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// `validation.IsValidLabelValue`.
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !value.is_empty() && !matches_qualified_part(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// `validation.IsDNS1123Label`.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// `validation.IsDNS1123Subdomain`.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// `validation.IsDNS1035Label`.
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !matches_dns1035_label(value) {
        errs.push(regex_error(
            DNS1035_LABEL_ERR,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// `validation.IsConfigMapKey`: keys of ConfigMap and Secret data.
pub fn is_config_map_key(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len_error(253));
    }
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'));
    if !ok {
        errs.push(regex_error(
            CONFIG_KEY_ERR,
            CONFIG_KEY_FMT,
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if value == "." {
        errs.push("must not be '.'".to_string());
    } else if value == ".." {
        errs.push("must not be '..'".to_string());
    } else if value.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

/// `validation.IsValidPortName`.
pub fn is_valid_port_name(port: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if port.len() > 15 {
        errs.push(max_len_error(15));
    }
    if port.is_empty()
        || !port
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        errs.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
        );
    }
    if !port.bytes().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if port.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

/// `validation.IsValidPortNum`.
pub fn is_valid_port_num(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec![inclusive_range_error(1, 65535)]
    }
}

/// `validation.IsRelaxedEnvVarName` (the v1.33 default).
fn is_relaxed_env_var_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.is_empty() {
        errs.push("environment variable name must be non-empty".to_string());
    }
    if value
        .chars()
        .any(|c| !c.is_ascii() || !go_is_print(c) || c == '=')
    {
        errs.push("a valid environment variable name must consist only of printable ASCII characters other than '='".to_string());
    }
    errs
}

/// `validation.IsValidPercent`.
fn is_valid_percent(value: &str) -> Vec<String> {
    let ok = value
        .strip_suffix('%')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()));
    if ok {
        Vec::new()
    } else {
        vec![regex_error(PERCENT_ERR, PERCENT_FMT, &["1%", "93%"])]
    }
}

/// `path.IsValidPathSegmentName` / `IsValidPathSegmentPrefix` (RBAC names).
pub fn is_valid_path_segment_name(name: &str, prefix: bool) -> Vec<String> {
    if !prefix {
        for illegal in [".", ".."] {
            if name == illegal {
                return vec![format!("may not be '{illegal}'")];
            }
        }
    }
    ["/", "%"]
        .iter()
        .filter(|s| name.contains(*s))
        .map(|s| format!("may not contain '{s}'"))
        .collect()
}

/// Whether `s` parses as an IP as `netutils.ParseIPSloppy` does (IPv4 octets may have leading zeros).
fn is_ip_sloppy(s: &str) -> bool {
    if s.contains(':') {
        return s.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|c| c.is_ascii_digit())
                && p.trim_start_matches('0').len() <= 3
                && {
                    let digits = p.trim_start_matches('0');
                    digits.is_empty() || digits.parse::<u32>().is_ok_and(|n| n <= 255)
                }
        })
}

// ---------------------------------------------------------------------------------------------
// resource.Quantity
// ---------------------------------------------------------------------------------------------

/// How a quantity's canonical form is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuantityFormat {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// A parsed `resource.Quantity`: its value in nano-units and its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quantity {
    nanos: i128,
    format: QuantityFormat,
}

impl Quantity {
    /// Parses the `resource.ParseQuantity` grammar; `None` for bad or absurdly large input.
    fn parse(s: &str) -> Option<Quantity> {
        let (negative, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let num_end = rest
            .bytes()
            .position(|c| !(c.is_ascii_digit() || c == b'.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(num_end);
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
            return None;
        }
        let digits = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > 30 {
            return None;
        }
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        let frac = frac_part.len() as i32;
        let (format, pow10, pow2): (QuantityFormat, i32, u32) = match suffix {
            "" => (QuantityFormat::DecimalSi, 0, 0),
            "n" => (QuantityFormat::DecimalSi, -9, 0),
            "u" => (QuantityFormat::DecimalSi, -6, 0),
            "m" => (QuantityFormat::DecimalSi, -3, 0),
            "k" => (QuantityFormat::DecimalSi, 3, 0),
            "M" => (QuantityFormat::DecimalSi, 6, 0),
            "G" => (QuantityFormat::DecimalSi, 9, 0),
            "T" => (QuantityFormat::DecimalSi, 12, 0),
            "P" => (QuantityFormat::DecimalSi, 15, 0),
            "E" => (QuantityFormat::DecimalSi, 18, 0),
            "Ki" => (QuantityFormat::BinarySi, 0, 10),
            "Mi" => (QuantityFormat::BinarySi, 0, 20),
            "Gi" => (QuantityFormat::BinarySi, 0, 30),
            "Ti" => (QuantityFormat::BinarySi, 0, 40),
            "Pi" => (QuantityFormat::BinarySi, 0, 50),
            "Ei" => (QuantityFormat::BinarySi, 0, 60),
            other => {
                let exp = other.strip_prefix(['e', 'E'])?;
                let body = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                if body.is_empty() || !body.bytes().all(|c| c.is_ascii_digit()) || body.len() > 3 {
                    return None;
                }
                (QuantityFormat::DecimalExponent, exp.parse().ok()?, 0)
            }
        };
        let mut value = mantissa.checked_mul(1i128.checked_shl(pow2)?)?;
        let scale = pow10.checked_add(9)?.checked_sub(frac)?;
        if scale >= 0 {
            value = value.checked_mul(10i128.checked_pow(scale as u32)?)?;
        } else {
            let div = 10i128
                .checked_pow(scale.unsigned_abs())
                .unwrap_or(i128::MAX);
            value = value.saturating_add(div - 1) / div; // upstream rounds sub-nano values up
        }
        Some(Quantity {
            nanos: if negative { -value } else { value },
            format,
        })
    }

    /// `Quantity.String()`: the canonical form (`0.5` → `500m`, `1536Mi` stays, `2048Ki` → `2Mi`).
    fn canonical(&self) -> String {
        const NANO: i128 = 1_000_000_000;
        if self.nanos == 0 {
            return "0".to_string();
        }
        let mut format = self.format;
        if format == QuantityFormat::BinarySi
            && (self.nanos.abs() < 1024 * NANO || self.nanos % NANO != 0)
        {
            format = QuantityFormat::DecimalSi;
        }
        if format == QuantityFormat::BinarySi {
            let mut value = self.nanos / NANO;
            let mut k = 0;
            while k < 6 && value % 1024 == 0 {
                value /= 1024;
                k += 1;
            }
            return format!("{value}{}", ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k]);
        }
        let mut mantissa = self.nanos;
        let mut exp = -9;
        while exp < 18 && mantissa % 1000 == 0 {
            mantissa /= 1000;
            exp += 3;
        }
        let suffix = match format {
            QuantityFormat::DecimalExponent if exp == 0 => String::new(),
            QuantityFormat::DecimalExponent => format!("e{exp}"),
            _ => match exp {
                -9 => "n",
                -6 => "u",
                -3 => "m",
                3 => "k",
                6 => "M",
                9 => "G",
                12 => "T",
                15 => "P",
                18 => "E",
                _ => "",
            }
            .to_string(),
        };
        format!("{mantissa}{suffix}")
    }
}

/// A JSON quantity (string or number).
fn quantity(v: &Value) -> Option<Quantity> {
    match v {
        Value::String(s) => Quantity::parse(s),
        Value::Number(n) => Quantity::parse(&n.to_string()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Names and scopes
// ---------------------------------------------------------------------------------------------

/// How a resource's `metadata.name` is checked (upstream's `ValidateNameFunc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (`NameIsDNSSubdomain`): most resources.
    Subdomain,
    /// DNS-1123 label (`NameIsDNSLabel`): namespaces, statefulsets.
    Label,
    /// DNS-1035 label (`NameIsDNS1035Label`): services.
    Rfc1035Label,
    /// Path segment (`path.ValidatePathSegmentName`): RBAC roles and bindings.
    PathSegment,
    /// No format rule: core/v1 events, certificate signing requests.
    Unchecked,
}

impl NameRule {
    /// The messages for a name breaking this rule; `prefix` checks a `generateName`.
    pub fn check(self, name: &str, prefix: bool) -> Vec<String> {
        let masked;
        let name = if prefix && matches!(self, Self::Subdomain | Self::Label | Self::Rfc1035Label) {
            masked = mask_trailing_dash(name);
            masked.as_str()
        } else {
            name
        };
        match self {
            Self::Subdomain => is_dns1123_subdomain(name),
            Self::Label => is_dns1123_label(name),
            Self::Rfc1035Label => is_dns1035_label(name),
            Self::PathSegment => is_valid_path_segment_name(name, prefix),
            Self::Unchecked => Vec::new(),
        }
    }
}

/// Upstream's `maskTrailingDash`, byte for byte (it drops two bytes before appending `a`).
fn mask_trailing_dash(name: &str) -> String {
    let b = name.as_bytes();
    if b.len() > 1 && b.ends_with(b"-") {
        let mut out = b[..b.len() - 2].to_vec();
        out.push(b'a');
        String::from_utf8_lossy(&out).into_owned()
    } else {
        name.to_string()
    }
}

/// The name rule upstream applies to a resource's objects.
pub fn name_rule(group: &str, resource: &str) -> NameRule {
    match (group, resource) {
        ("", "namespaces") | ("apps", "statefulsets") => NameRule::Label,
        ("", "services") => NameRule::Rfc1035Label,
        ("", "events") | ("certificates.k8s.io", "certificatesigningrequests") => {
            NameRule::Unchecked
        }
        (
            "rbac.authorization.k8s.io",
            "roles" | "rolebindings" | "clusterroles" | "clusterrolebindings",
        ) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

/// Whether a built-in resource is namespaced; `None` for resources this table does not know.
fn builtin_namespaced(group: &str, resource: &str) -> Option<bool> {
    let namespaced = match (group, resource) {
        (
            "",
            "pods"
            | "services"
            | "configmaps"
            | "secrets"
            | "serviceaccounts"
            | "endpoints"
            | "events"
            | "limitranges"
            | "resourcequotas"
            | "persistentvolumeclaims"
            | "podtemplates"
            | "replicationcontrollers"
            | "bindings",
        ) => true,
        ("", "namespaces" | "nodes" | "persistentvolumes" | "componentstatuses") => false,
        (
            "apps",
            "deployments" | "replicasets" | "statefulsets" | "daemonsets" | "controllerrevisions",
        ) => true,
        ("batch", "jobs" | "cronjobs") => true,
        ("autoscaling", "horizontalpodautoscalers") | ("policy", "poddisruptionbudgets") => true,
        ("networking.k8s.io", "ingresses" | "networkpolicies") => true,
        ("networking.k8s.io", "ingressclasses" | "ipaddresses" | "servicecidrs") => false,
        ("discovery.k8s.io", "endpointslices") | ("coordination.k8s.io", "leases") => true,
        ("events.k8s.io", "events") => true,
        ("rbac.authorization.k8s.io", "roles" | "rolebindings") => true,
        ("rbac.authorization.k8s.io", "clusterroles" | "clusterrolebindings") => false,
        ("storage.k8s.io", "csistoragecapacities") => true,
        (
            "storage.k8s.io",
            "storageclasses"
            | "csidrivers"
            | "csinodes"
            | "volumeattachments"
            | "volumeattributesclasses",
        ) => false,
        ("scheduling.k8s.io", "priorityclasses") | ("node.k8s.io", "runtimeclasses") => false,
        ("apiextensions.k8s.io", "customresourcedefinitions")
        | ("apiregistration.k8s.io", "apiservices") => false,
        ("admissionregistration.k8s.io", _) => false,
        ("certificates.k8s.io", "certificatesigningrequests" | "clustertrustbundles") => false,
        ("flowcontrol.apiserver.k8s.io", "flowschemas" | "prioritylevelconfigurations") => false,
        ("resource.k8s.io", "resourceclaims" | "resourceclaimtemplates") => true,
        ("resource.k8s.io", "deviceclasses" | "resourceslices") => false,
        _ => return None,
    };
    Some(namespaced)
}

// ---------------------------------------------------------------------------------------------
// ObjectMeta
// ---------------------------------------------------------------------------------------------

/// `ValidateNonnegativeField`.
fn nonnegative(value: i64, path: &str) -> Option<FieldError> {
    (value < 0).then(|| FieldError::invalid(path, value, "must be greater than or equal to 0"))
}

/// Upstream's `ValidateLabels` over a JSON map (`null` or absent is empty); errors sit at `path`.
pub fn validate_labels(labels: &Value, path: &str) -> Vec<FieldError> {
    labels_errors(labels.as_object(), path)
}

/// `ValidateLabels` on an optional map.
fn labels_errors(labels: Option<&Map<String, Value>>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (key, value) in labels.map(sorted).unwrap_or_default() {
        for msg in is_qualified_name(key) {
            errs.push(FieldError::invalid(path, key.as_str(), msg));
        }
        let value = as_text(value);
        for msg in is_valid_label_value(&value) {
            errs.push(FieldError::invalid(path, value.as_str(), msg));
        }
    }
    errs
}

/// Upstream's `ValidateAnnotations`: keys are case-insensitive qualified names, total ≤ 256 KiB.
fn annotations_errors(annotations: Option<&Map<String, Value>>, path: &str) -> Vec<FieldError> {
    const LIMIT: usize = 256 * 1024;
    let mut errs = Vec::new();
    let mut total: usize = 0;
    for (key, value) in annotations.map(sorted).unwrap_or_default() {
        for msg in is_qualified_name(&key.to_lowercase()) {
            errs.push(FieldError::invalid(path, key.as_str(), msg));
        }
        let len = value
            .as_str()
            .map_or_else(|| value.to_string().len(), str::len);
        total = total.saturating_add(key.len()).saturating_add(len);
    }
    if total > LIMIT {
        errs.push(FieldError::too_long(path, LIMIT as i64));
    }
    errs
}

/// `schema.ParseGroupVersion`, with unparsable input giving an empty group and version.
fn parse_group_version(gv: &str) -> (&str, &str) {
    if gv.is_empty() || gv == "/" {
        return ("", "");
    }
    match gv.matches('/').count() {
        0 => ("", gv),
        1 => gv.split_once('/').unwrap_or(("", "")),
        _ => ("", ""),
    }
}

/// `%#v` of one `metav1.OwnerReference`.
fn go_owner_ref(r: &Value) -> String {
    format!(
        "v1.OwnerReference{{APIVersion:{}, Kind:{}, Name:{}, UID:{}, Controller:{}, BlockOwnerDeletion:{}}}",
        go_quote(text(r, "apiVersion")),
        go_quote(text(r, "kind")),
        go_quote(text(r, "name")),
        go_quote(text(r, "uid")),
        go_ptr(r.get("controller"), "bool"),
        go_ptr(r.get("blockOwnerDeletion"), "bool"),
    )
}

/// Upstream's `ValidateOwnerReferences` (its per-reference errors use the list path, unindexed).
fn owner_references_errors(refs: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    for r in refs {
        let api_version = text(r, "apiVersion");
        let kind = text(r, "kind");
        let name = text(r, "name");
        let uid = text(r, "uid");
        let (group, version) = parse_group_version(api_version);
        if version.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "kind"),
                kind,
                "kind must not be empty",
            ));
        }
        if name.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "name"),
                name,
                "name must not be empty",
            ));
        }
        if uid.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "uid"),
                uid,
                "uid must not be empty",
            ));
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                go_repr(go_owner_ref(r)),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if boolean(r, "controller") == Some(true) {
            let current = format!("{kind}/{name}");
            match &first_controller {
                Some(first) => {
                    let all: Vec<String> = refs.iter().map(go_owner_ref).collect();
                    errs.push(FieldError::invalid(
                        path,
                        go_repr(format!("[]v1.OwnerReference{{{}}}", all.join(", "))),
                        format!(
                            "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                        ),
                    ));
                }
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

/// Upstream's `ValidateFinalizers` (names checked at the unindexed list path).
fn finalizers_errors(list: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let names: Vec<String> = list.iter().map(as_text).collect();
    for name in &names {
        for msg in is_qualified_name(name) {
            errs.push(FieldError::invalid(path, name.as_str(), msg));
        }
    }
    if names.iter().any(|n| n == "orphan") && names.iter().any(|n| n == "foregroundDeletion") {
        errs.push(FieldError::invalid(
            path,
            Value::Array(list.to_vec()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// Core's `validateKubeFinalizerName`: a name without `/` must be a standard finalizer.
fn kube_finalizer_errors(list: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, name) in list.iter().map(as_text).enumerate() {
        if !name.contains('/')
            && !matches!(
                name.as_str(),
                "kubernetes" | "orphan" | "foregroundDeletion"
            )
        {
            errs.push(FieldError::invalid(
                sub(path, i),
                name.as_str(),
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    errs
}

/// Upstream's `ValidateManagedFields`.
fn managed_fields_errors(list: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let p = sub(path, i);
        let operation = text(entry, "operation");
        if operation != "Apply" && operation != "Update" {
            errs.push(FieldError::invalid(
                child(&p, "operation"),
                operation,
                "must be `Apply` or `Update`",
            ));
        }
        let fields_type = text(entry, "fieldsType");
        if !fields_type.is_empty() && fields_type != "FieldsV1" {
            errs.push(FieldError::invalid(
                child(&p, "fieldsType"),
                fields_type,
                "must be `FieldsV1`",
            ));
        }
        let manager = text(entry, "manager");
        if manager.len() > 128 {
            errs.push(FieldError::too_long(child(&p, "manager"), 128));
        }
        for (pos, c) in manager.char_indices() {
            if !go_is_print(c) {
                errs.push(FieldError::invalid(
                    child(&p, "manager"),
                    manager,
                    format!("invalid character U+{:04X} (at position {pos})", c as u32),
                ));
            }
        }
        if text(entry, "subresource").len() > 256 {
            errs.push(FieldError::too_long(child(&p, "subresource"), 256));
        }
    }
    errs
}

/// Upstream's `ValidateObjectMeta` on create (apimachinery's generic form): name or
/// generateName, namespace presence, generation, labels, annotations, ownerReferences,
/// finalizers and managedFields.
pub fn validate_object_meta(obj: &Value, namespaced: bool, name_rule: NameRule) -> Vec<FieldError> {
    let meta = member(obj, "metadata");
    let mut errs = Vec::new();
    let generate_name = text(meta, "generateName");
    if !generate_name.is_empty() {
        for msg in name_rule.check(generate_name, true) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                generate_name,
                msg,
            ));
        }
    }
    let name = text(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for msg in name_rule.check(name, false) {
            errs.push(FieldError::invalid("metadata.name", name, msg));
        }
    }
    let namespace = text(meta, "namespace");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            for msg in NameRule::Label.check(namespace, false) {
                errs.push(FieldError::invalid("metadata.namespace", namespace, msg));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    if let Some(generation) = int(meta, "generation") {
        errs.extend(nonnegative(generation, "metadata.generation"));
    }
    errs.extend(labels_errors(object(meta, "labels"), "metadata.labels"));
    errs.extend(annotations_errors(
        object(meta, "annotations"),
        "metadata.annotations",
    ));
    errs.extend(owner_references_errors(
        items(meta, "ownerReferences"),
        "metadata.ownerReferences",
    ));
    errs.extend(finalizers_errors(
        items(meta, "finalizers"),
        "metadata.finalizers",
    ));
    errs.extend(managed_fields_errors(
        items(meta, "managedFields"),
        "metadata.managedFields",
    ));
    errs
}

/// Whether two optional RFC 3339 timestamps are the same instant.
fn same_time(a: Option<&Value>, b: Option<&Value>) -> bool {
    let parse = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(|s| (s.parse::<jiff::Timestamp>().ok(), s.to_string()))
    };
    match (parse(a), parse(b)) {
        (None, None) => true,
        (Some((Some(x), _)), Some((Some(y), _))) => x == y,
        (Some((_, x)), Some((_, y))) => x == y,
        _ => false,
    }
}

/// Upstream's `ValidateObjectMetaUpdate`: immutable identity fields, no new finalizers while
/// deleting, no generation decrease, and the create-time label/annotation/owner checks on `new`.
///
/// The `resourceVersion` precondition is the API server's job (it fills it in for
/// unconditional updates before validating) and is not checked here.
pub fn validate_object_meta_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let meta = member(new, "metadata");
    let old_meta = member(old, "metadata");
    let mut errs = Vec::new();
    if present(old_meta, "deletionTimestamp") {
        let old_set: BTreeSet<String> = items(old_meta, "finalizers").iter().map(as_text).collect();
        let extra: BTreeSet<String> = items(meta, "finalizers")
            .iter()
            .map(as_text)
            .filter(|f| !old_set.contains(f))
            .collect();
        if !extra.is_empty() {
            let extra: Vec<Value> = extra.into_iter().map(Value::String).collect();
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    go_string_slice(Some(&extra))
                ),
            ));
        }
    }
    let generation = int(meta, "generation").unwrap_or(0);
    if generation < int(old_meta, "generation").unwrap_or(0) {
        errs.push(FieldError::invalid(
            "metadata.generation",
            generation,
            "must not be decremented",
        ));
    }
    for key in ["name", "namespace", "uid"] {
        if text(meta, key) != text(old_meta, key) {
            errs.push(FieldError::invalid(
                child("metadata", key),
                text(meta, key),
                "field is immutable",
            ));
        }
    }
    if !same_time(
        meta.get("creationTimestamp"),
        old_meta.get("creationTimestamp"),
    ) {
        errs.push(FieldError::invalid(
            "metadata.creationTimestamp",
            go_repr(go_time(meta.get("creationTimestamp"))),
            "field is immutable",
        ));
    }
    let deletion = meta.get("deletionTimestamp").filter(|v| !v.is_null());
    if !same_time(
        deletion,
        old_meta.get("deletionTimestamp").filter(|v| !v.is_null()),
    ) {
        let value = match deletion {
            Some(_) => go_repr(go_time(deletion)),
            None => Value::Null,
        };
        errs.push(FieldError::invalid(
            "metadata.deletionTimestamp",
            value,
            "field is immutable",
        ));
    }
    let grace = int(meta, "deletionGracePeriodSeconds");
    if grace != int(old_meta, "deletionGracePeriodSeconds") {
        errs.push(FieldError::invalid(
            "metadata.deletionGracePeriodSeconds",
            grace.map_or(Value::Null, Value::from),
            "field is immutable",
        ));
    }
    errs.extend(labels_errors(object(meta, "labels"), "metadata.labels"));
    errs.extend(annotations_errors(
        object(meta, "annotations"),
        "metadata.annotations",
    ));
    errs.extend(owner_references_errors(
        items(meta, "ownerReferences"),
        "metadata.ownerReferences",
    ));
    errs.extend(managed_fields_errors(
        items(meta, "managedFields"),
        "metadata.managedFields",
    ));
    errs
}

/// Upstream's `ValidateLabelSelector` for a `metav1.LabelSelector` at `path` (`null` is valid).
pub fn validate_label_selector(selector: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = labels_errors(object(selector, "matchLabels"), &child(path, "matchLabels"));
    let exprs_path = child(path, "matchExpressions");
    for (i, expr) in items(selector, "matchExpressions").iter().enumerate() {
        let p = sub(&exprs_path, i);
        let operator = text(expr, "operator");
        let values = items(expr, "values");
        match operator {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        child(&p, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        child(&p, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            _ => errs.push(FieldError::invalid(
                child(&p, "operator"),
                operator,
                "not a valid selector operator",
            )),
        }
        let key = text(expr, "key");
        for msg in is_qualified_name(key) {
            errs.push(FieldError::invalid(child(&p, "key"), key, msg));
        }
        for (j, value) in values.iter().enumerate() {
            let value = as_text(value);
            for msg in is_valid_label_value(&value) {
                errs.push(FieldError::invalid(
                    sub(&child(&p, "values"), j),
                    value.as_str(),
                    msg,
                ));
            }
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Pods and pod templates
// ---------------------------------------------------------------------------------------------

/// Volume source members in the order upstream checks them, with the name it uses in the
/// "more than 1 volume type" error (sic: `downwarAPI`, `cephFS`).
const VOLUME_SOURCES: &[(&str, &str)] = &[
    ("emptyDir", "emptyDir"),
    ("hostPath", "hostPath"),
    ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd"),
    ("cinder", "cinder"),
    ("cephfs", "cephFS"),
    ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("configMap", "configMap"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("storageos", "storageos"),
    ("projected", "projected"),
    ("scaleIO", "scaleIO"),
    ("csi", "csi"),
    ("ephemeral", "ephemeral"),
    ("image", "image"),
];

/// The required string members of a few volume sources (checked on the first source only).
fn volume_source_errors(key: &str, source: &Value, path: &str) -> Vec<FieldError> {
    let required: &[&str] = match key {
        "hostPath" => &["path"],
        "secret" => &["secretName"],
        "configMap" => &["name"],
        "persistentVolumeClaim" => &["claimName"],
        "nfs" => &["server", "path"],
        _ => &[],
    };
    required
        .iter()
        .filter(|member| text(source, member).is_empty())
        .map(|member| FieldError::required(child(path, member), ""))
        .collect()
}

/// Upstream's `ValidateVolumes`; returns the names of the valid volumes too.
fn volumes_errors(volumes: &[Value], path: &str) -> (BTreeSet<String>, Vec<FieldError>) {
    let mut names = BTreeSet::new();
    let mut errs = Vec::new();
    for (i, volume) in volumes.iter().enumerate() {
        let p = sub(path, i);
        let mut el = Vec::new();
        let mut count = 0;
        for (key, label) in VOLUME_SOURCES {
            if !present(volume, key) {
                continue;
            }
            if count > 0 {
                el.push(FieldError::forbidden(
                    child(&p, label),
                    "may not specify more than 1 volume type",
                ));
            } else {
                count += 1;
                el.extend(volume_source_errors(
                    key,
                    member(volume, key),
                    &child(&p, key),
                ));
            }
        }
        if count == 0 {
            el.push(FieldError::required(
                p.as_str(),
                "must specify a volume type",
            ));
        }
        let name = text(volume, "name");
        let name_path = child(&p, "name");
        if name.is_empty() {
            el.push(FieldError::required(name_path.as_str(), ""));
        } else {
            el.extend(
                is_dns1123_label(name)
                    .into_iter()
                    .map(|m| FieldError::invalid(name_path.as_str(), name, m)),
            );
        }
        if names.contains(name) {
            el.push(FieldError::duplicate(name_path.as_str(), name));
        }
        if el.is_empty() {
            names.insert(name.to_string());
        } else {
            errs.extend(el);
        }
    }
    (names, errs)
}

/// `ValidatePortNumOrName` on an `IntOrString` (absent is the integer 0).
fn port_num_or_name_errors(port: Option<&Value>, path: &str) -> Vec<FieldError> {
    match port {
        Some(Value::String(name)) => is_valid_port_name(name)
            .into_iter()
            .map(|m| FieldError::invalid(path, name.as_str(), m))
            .collect(),
        other => {
            let n = other.and_then(as_int).unwrap_or(0);
            is_valid_port_num(n)
                .into_iter()
                .map(|m| FieldError::invalid(path, n, m))
                .collect()
        }
    }
}

/// Upstream's `validateHandler` for a probe or lifecycle hook.
fn handler_errors(handler: &Value, path: &str, kinds: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut count = 0;
    for kind in kinds {
        if !present(handler, kind) {
            continue;
        }
        let p = child(path, kind);
        if count > 0 {
            errs.push(FieldError::forbidden(
                p,
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        count += 1;
        let action = member(handler, kind);
        match *kind {
            "exec" if items(action, "command").is_empty() => {
                errs.push(FieldError::required(child(&p, "command"), ""));
            }
            "httpGet" => {
                errs.extend(port_num_or_name_errors(
                    action.get("port"),
                    &child(&p, "port"),
                ));
                if let Some(scheme) = opt_text(action, "scheme")
                    && scheme != "HTTP"
                    && scheme != "HTTPS"
                {
                    errs.push(FieldError::not_supported(
                        child(&p, "scheme"),
                        scheme,
                        &["HTTP", "HTTPS"],
                    ));
                }
            }
            "tcpSocket" => errs.extend(port_num_or_name_errors(
                action.get("port"),
                &child(&p, "port"),
            )),
            "grpc" => {
                let n = int(action, "port").unwrap_or(0);
                errs.extend(
                    is_valid_port_num(n)
                        .into_iter()
                        .map(|m| FieldError::invalid(child(&p, "port"), n, m)),
                );
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

/// Which probe a container field is; they differ in a couple of rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

/// Upstream's `validateProbe` plus the liveness/readiness/startup specifics.
fn probe_errors(probe: &Value, path: &str, kind: ProbeKind) -> Vec<FieldError> {
    let mut errs = handler_errors(probe, path, &["exec", "httpGet", "tcpSocket", "grpc"]);
    for field in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        if let Some(v) = int(probe, field) {
            errs.extend(nonnegative(v, &child(path, field)));
        }
    }
    if let Some(grace) = int(probe, "terminationGracePeriodSeconds")
        && grace <= 0
    {
        errs.push(FieldError::invalid(
            child(path, "terminationGracePeriodSeconds"),
            grace,
            "must be greater than 0",
        ));
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            if let Some(threshold) = int(probe, "successThreshold")
                && threshold != 1
            {
                errs.push(FieldError::invalid(
                    child(path, "successThreshold"),
                    threshold,
                    "must be 1",
                ));
            }
        }
        ProbeKind::Readiness => {
            if let Some(grace) = int(probe, "terminationGracePeriodSeconds") {
                errs.push(FieldError::invalid(
                    child(path, "terminationGracePeriodSeconds"),
                    grace,
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
    errs
}

/// Lifecycle hooks, liveness/readiness/startup probes of a regular or sidecar container.
fn lifecycle_and_probe_errors(ctr: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(lifecycle) = ctr.get("lifecycle").filter(|v| !v.is_null()) {
        for hook in ["postStart", "preStop"] {
            if let Some(handler) = lifecycle.get(hook).filter(|v| !v.is_null()) {
                errs.extend(handler_errors(
                    handler,
                    &child(&child(path, "lifecycle"), hook),
                    &["exec", "httpGet", "tcpSocket", "sleep"],
                ));
            }
        }
    }
    for (field, kind) in [
        ("livenessProbe", ProbeKind::Liveness),
        ("readinessProbe", ProbeKind::Readiness),
        ("startupProbe", ProbeKind::Startup),
    ] {
        if let Some(probe) = ctr.get(field).filter(|v| !v.is_null()) {
            errs.extend(probe_errors(probe, &child(path, field), kind));
        }
    }
    errs
}

/// Standard resource names (`helper.IsStandardResourceName`).
fn is_standard_resource_name(name: &str) -> bool {
    matches!(
        name,
        "cpu"
            | "memory"
            | "ephemeral-storage"
            | "requests.cpu"
            | "requests.memory"
            | "requests.ephemeral-storage"
            | "limits.cpu"
            | "limits.memory"
            | "limits.ephemeral-storage"
            | "pods"
            | "resourcequotas"
            | "services"
            | "replicationcontrollers"
            | "secrets"
            | "configmaps"
            | "persistentvolumeclaims"
            | "storage"
            | "requests.storage"
            | "services.nodeports"
            | "services.loadbalancers"
    ) || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
}

/// Whether a resource may be requested below its limit (`helper.IsOvercommitAllowed`).
fn is_overcommit_allowed(name: &str) -> bool {
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    native && !name.starts_with("hugepages-")
}

/// Upstream's `validateContainerResourceName`.
fn container_resource_name_errors(name: &str, path: &str) -> Vec<FieldError> {
    let mut errs: Vec<FieldError> = is_qualified_name(name)
        .into_iter()
        .map(|m| FieldError::invalid(path, name, m))
        .collect();
    if !errs.is_empty() {
        return errs;
    }
    if !name.contains('/') {
        if !is_standard_resource_name(name) {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource type or fully qualified",
            ));
        }
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage")
            && !name.starts_with("hugepages-")
        {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    }
    errs
}

/// Upstream's `validateResourceRequirements` for a container (quantities compared exactly).
fn resources_errors(resources: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let lim_path = child(path, "limits");
    let req_path = child(path, "requests");
    let limits = object(resources, "limits");
    for (name, value) in limits.map(sorted).unwrap_or_default() {
        let p = sub(&lim_path, name);
        errs.extend(container_resource_name_errors(name, &p));
        if let Some(q) = quantity(value)
            && q.nanos < 0
        {
            errs.push(FieldError::invalid(
                p,
                q.canonical(),
                "must be greater than or equal to 0",
            ));
        }
    }
    for (name, value) in object(resources, "requests")
        .map(sorted)
        .unwrap_or_default()
    {
        let p = sub(&req_path, name);
        errs.extend(container_resource_name_errors(name, &p));
        let Some(q) = quantity(value) else { continue };
        if q.nanos < 0 {
            errs.push(FieldError::invalid(
                p,
                q.canonical(),
                "must be greater than or equal to 0",
            ));
        }
        match limits.and_then(|l| l.get(name.as_str())).and_then(quantity) {
            Some(limit) => {
                if q.nanos != limit.nanos && !is_overcommit_allowed(name) {
                    errs.push(FieldError::invalid(
                        req_path.as_str(),
                        q.canonical(),
                        format!("must be equal to {name} limit of {}", limit.canonical()),
                    ));
                } else if q.nanos > limit.nanos {
                    errs.push(FieldError::invalid(
                        req_path.as_str(),
                        q.canonical(),
                        format!(
                            "must be less than or equal to {name} limit of {}",
                            limit.canonical()
                        ),
                    ));
                }
            }
            None if !is_overcommit_allowed(name) => {
                errs.push(FieldError::required(
                    lim_path.as_str(),
                    "Limit must be set for non overcommitable resources",
                ));
            }
            None => {}
        }
    }
    errs
}

/// Upstream's `validateContainerCommon`: name, image, policies, ports, env, mounts, resources.
fn container_common_errors(ctr: &Value, volumes: &BTreeSet<String>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = text(ctr, "name");
    let name_path = child(path, "name");
    if name.is_empty() {
        errs.push(FieldError::required(name_path, ""));
    } else {
        errs.extend(
            is_dns1123_label(name)
                .into_iter()
                .map(|m| FieldError::invalid(name_path.as_str(), name, m)),
        );
    }
    if text(ctr, "image").is_empty() {
        errs.push(FieldError::required(child(path, "image"), ""));
    }
    if let Some(policy) = opt_text(ctr, "terminationMessagePolicy") {
        match policy {
            "File" | "FallbackToLogsOnError" => {}
            "" => errs.push(FieldError::required(
                child(path, "terminationMessagePolicy"),
                "",
            )),
            _ => errs.push(FieldError::not_supported(
                child(path, "terminationMessagePolicy"),
                policy,
                &["File", "FallbackToLogsOnError"],
            )),
        }
    }
    // ports
    let ports_path = child(path, "ports");
    let mut port_names = BTreeSet::new();
    for (i, port) in items(ctr, "ports").iter().enumerate() {
        let p = sub(&ports_path, i);
        let port_name = text(port, "name");
        if !port_name.is_empty() {
            let msgs = is_valid_port_name(port_name);
            if !msgs.is_empty() {
                errs.extend(
                    msgs.into_iter()
                        .map(|m| FieldError::invalid(child(&p, "name"), port_name, m)),
                );
            } else if !port_names.insert(port_name.to_string()) {
                errs.push(FieldError::duplicate(child(&p, "name"), port_name));
            }
        }
        match int(port, "containerPort").unwrap_or(0) {
            0 => errs.push(FieldError::required(child(&p, "containerPort"), "")),
            n => errs.extend(
                is_valid_port_num(n)
                    .into_iter()
                    .map(|m| FieldError::invalid(child(&p, "containerPort"), n, m)),
            ),
        }
        let host_port = int(port, "hostPort").unwrap_or(0);
        if host_port != 0 {
            errs.extend(
                is_valid_port_num(host_port)
                    .into_iter()
                    .map(|m| FieldError::invalid(child(&p, "hostPort"), host_port, m)),
            );
        }
        if let Some(protocol) = opt_text(port, "protocol") {
            match protocol {
                "TCP" | "UDP" | "SCTP" => {}
                "" => errs.push(FieldError::required(child(&p, "protocol"), "")),
                _ => errs.push(FieldError::not_supported(
                    child(&p, "protocol"),
                    protocol,
                    &["SCTP", "TCP", "UDP"],
                )),
            }
        }
    }
    // env
    let env_path = child(path, "env");
    for (i, var) in items(ctr, "env").iter().enumerate() {
        let p = child(&sub(&env_path, i), "name");
        let var_name = text(var, "name");
        if var_name.is_empty() {
            errs.push(FieldError::required(p, ""));
        } else {
            errs.extend(
                is_relaxed_env_var_name(var_name)
                    .into_iter()
                    .map(|m| FieldError::invalid(p.as_str(), var_name, m)),
            );
        }
    }
    // volumeMounts
    let mounts_path = child(path, "volumeMounts");
    let mut mount_points = BTreeSet::new();
    for (i, mount) in items(ctr, "volumeMounts").iter().enumerate() {
        let p = sub(&mounts_path, i);
        let mount_name = text(mount, "name");
        if mount_name.is_empty() {
            errs.push(FieldError::required(child(&p, "name"), ""));
        }
        if !volumes.contains(mount_name) {
            errs.push(FieldError::not_found(child(&p, "name"), mount_name));
        }
        let mount_path = text(mount, "mountPath");
        if mount_path.is_empty() {
            errs.push(FieldError::required(child(&p, "mountPath"), ""));
        }
        if !mount_points.insert(mount_path.to_string()) {
            errs.push(FieldError::invalid(
                child(&p, "mountPath"),
                mount_path,
                "must be unique",
            ));
        }
    }
    if let Some(policy) = opt_text(ctr, "imagePullPolicy") {
        match policy {
            "Always" | "IfNotPresent" | "Never" => {}
            "" => errs.push(FieldError::required(child(path, "imagePullPolicy"), "")),
            _ => errs.push(FieldError::not_supported(
                child(path, "imagePullPolicy"),
                policy,
                &["Always", "IfNotPresent", "Never"],
            )),
        }
    }
    errs.extend(resources_errors(
        member(ctr, "resources"),
        &child(path, "resources"),
    ));
    let sc = member(ctr, "securityContext");
    for field in ["runAsUser", "runAsGroup"] {
        if let Some(id) = int(sc, field)
            && !(0..=i64::from(i32::MAX)).contains(&id)
        {
            errs.push(FieldError::invalid(
                child(&child(path, "securityContext"), field),
                id,
                inclusive_range_error(0, i64::from(i32::MAX)),
            ));
        }
    }
    errs
}

/// `checkHostPortConflicts` over `containers`, keyed `protocol/hostIP/port`.
fn host_port_conflicts(containers: &[&Value], paths: &[String]) -> Vec<FieldError> {
    let mut seen = BTreeSet::new();
    let mut errs = Vec::new();
    for (ctr, path) in containers.iter().zip(paths) {
        for (i, port) in items(ctr, "ports").iter().enumerate() {
            let host_port = int(port, "hostPort").unwrap_or(0);
            if host_port == 0 {
                continue;
            }
            let protocol = opt_text(port, "protocol").unwrap_or("TCP");
            let key = format!("{protocol}/{}/{host_port}", text(port, "hostIP"));
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(
                    child(&sub(&child(path, "ports"), i), "hostPort"),
                    key,
                ));
            }
        }
    }
    errs
}

/// Upstream's `validateContainers`.
fn containers_errors(
    containers: &[Value],
    volumes: &BTreeSet<String>,
    path: &str,
) -> Vec<FieldError> {
    if containers.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    let mut paths = Vec::new();
    for (i, ctr) in containers.iter().enumerate() {
        let p = sub(path, i);
        errs.extend(container_common_errors(ctr, volumes, &p));
        let name = text(ctr, "name");
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(child(&p, "name"), name));
        }
        errs.extend(lifecycle_and_probe_errors(ctr, &p));
        if present(ctr, "restartPolicy") {
            errs.push(FieldError::forbidden(
                child(&p, "restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
        paths.push(p);
    }
    let refs: Vec<&Value> = containers.iter().collect();
    errs.extend(host_port_conflicts(&refs, &paths));
    errs
}

/// Upstream's `validateInitContainers`.
fn init_containers_errors(
    containers: &[Value],
    regular: &[Value],
    volumes: &BTreeSet<String>,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names: BTreeSet<String> = regular
        .iter()
        .map(|c| text(c, "name").to_string())
        .collect();
    for (i, ctr) in containers.iter().enumerate() {
        let p = sub(path, i);
        errs.extend(container_common_errors(ctr, volumes, &p));
        let mut restart_always = false;
        if let Some(policy) = ctr.get("restartPolicy").filter(|v| !v.is_null()) {
            let policy = as_text(policy);
            if policy == "Always" {
                restart_always = true;
            } else {
                errs.push(FieldError::not_supported(
                    child(&p, "restartPolicy"),
                    policy,
                    &["Always"],
                ));
            }
        }
        let name = text(ctr, "name");
        if names.contains(name) {
            errs.push(FieldError::duplicate(child(&p, "name"), name));
        } else if !name.is_empty() {
            names.insert(name.to_string());
        }
        errs.extend(host_port_conflicts(&[ctr], std::slice::from_ref(&p)));
        if restart_always {
            errs.extend(lifecycle_and_probe_errors(ctr, &p));
        } else {
            for field in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if present(ctr, field) {
                    errs.push(FieldError::forbidden(
                        child(&p, field),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    errs
}

/// `%#v` of a `core.Toleration`.
fn go_toleration(t: &Value) -> String {
    format!(
        "core.Toleration{{Key:{}, Operator:{}, Value:{}, Effect:{}, TolerationSeconds:{}}}",
        go_quote(text(t, "key")),
        go_quote(text(t, "operator")),
        go_quote(text(t, "value")),
        go_quote(text(t, "effect")),
        go_ptr(t.get("tolerationSeconds"), "int64"),
    )
}

/// Upstream's `ValidateTolerations`.
fn tolerations_errors(tolerations: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let p = sub(path, i);
        let key = text(t, "key");
        let operator = text(t, "operator");
        let effect = text(t, "effect");
        if !key.is_empty() {
            errs.extend(
                is_qualified_name(key)
                    .into_iter()
                    .map(|m| FieldError::invalid(child(&p, "key"), key, m)),
            );
        }
        if key.is_empty() && operator != "Exists" {
            errs.push(FieldError::invalid(
                child(&p, "operator"),
                operator,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if present(t, "tolerationSeconds") && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                child(&p, "effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            "Equal" | "" => {
                let value = text(t, "value");
                let msgs = is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        child(&p, "operator"),
                        value,
                        msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !text(t, "value").is_empty() {
                    errs.push(FieldError::invalid(
                        child(&p, "operator"),
                        go_repr(go_toleration(t)),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            _ => errs.push(FieldError::not_supported(
                child(&p, "operator"),
                operator,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
        {
            errs.push(FieldError::not_supported(
                child(&p, "effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

/// An enumerated string field: `Required` when empty, `Unsupported` when unknown; absent is fine
/// (it would have been defaulted).
fn enum_errors(v: &Value, key: &str, path: &str, supported: &[&str]) -> Option<FieldError> {
    let value = opt_text(v, key)?;
    if value.is_empty() {
        Some(FieldError::required(child(path, key), ""))
    } else if !supported.contains(&value) {
        Some(FieldError::not_supported(
            child(path, key),
            value,
            supported,
        ))
    } else {
        None
    }
}

/// A name field checked with a name rule, when set.
fn name_field_errors(v: &Value, key: &str, path: &str, rule: NameRule) -> Vec<FieldError> {
    let value = text(v, key);
    if value.is_empty() {
        return Vec::new();
    }
    rule.check(value, false)
        .into_iter()
        .map(|m| FieldError::invalid(child(path, key), value, m))
        .collect()
}

/// Upstream's `ValidatePodSpec` (the commonly hit subset), in upstream's order.
fn pod_spec_errors(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let (volumes, volume_errs) = volumes_errors(items(spec, "volumes"), &child(path, "volumes"));
    errs.extend(volume_errs);
    errs.extend(containers_errors(
        items(spec, "containers"),
        &volumes,
        &child(path, "containers"),
    ));
    errs.extend(init_containers_errors(
        items(spec, "initContainers"),
        items(spec, "containers"),
        &volumes,
        &child(path, "initContainers"),
    ));
    errs.extend(enum_errors(
        spec,
        "restartPolicy",
        path,
        &["Always", "OnFailure", "Never"],
    ));
    errs.extend(enum_errors(
        spec,
        "dnsPolicy",
        path,
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
    ));
    errs.extend(labels_errors(
        object(spec, "nodeSelector"),
        &child(path, "nodeSelector"),
    ));
    if text(spec, "dnsPolicy") == "None" {
        let dns_path = child(path, "dnsConfig");
        match spec.get("dnsConfig").filter(|v| !v.is_null()) {
            None => errs.push(FieldError::required(
                dns_path,
                "must provide `dnsConfig` when `dnsPolicy` is None",
            )),
            Some(config) if items(config, "nameservers").is_empty() => {
                errs.push(FieldError::required(
                    child(&dns_path, "nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                ))
            }
            Some(_) => {}
        }
    }
    let gates_path = child(path, "schedulingGates");
    let mut gates = BTreeSet::new();
    for (i, gate) in items(spec, "schedulingGates").iter().enumerate() {
        let name = text(gate, "name");
        errs.extend(
            is_qualified_name(name)
                .into_iter()
                .map(|m| FieldError::invalid(sub(&gates_path, i), name, m)),
        );
        if !gates.insert(name.to_string()) {
            errs.push(FieldError::duplicate(sub(&gates_path, i), name));
        }
    }
    errs.extend(name_field_errors(
        spec,
        "serviceAccountName",
        path,
        NameRule::Subdomain,
    ));
    errs.extend(name_field_errors(
        spec,
        "nodeName",
        path,
        NameRule::Subdomain,
    ));
    if let Some(deadline) = int(spec, "activeDeadlineSeconds")
        && !(1..=i64::from(i32::MAX)).contains(&deadline)
    {
        errs.push(FieldError::invalid(
            child(path, "activeDeadlineSeconds"),
            deadline,
            inclusive_range_error(1, i64::from(i32::MAX)),
        ));
    }
    for field in ["hostname", "subdomain"] {
        let value = text(spec, field);
        if !value.is_empty() {
            errs.extend(
                is_dns1123_label(value)
                    .into_iter()
                    .map(|m| FieldError::invalid(child(path, field), value, m)),
            );
        }
    }
    errs.extend(tolerations_errors(
        items(spec, "tolerations"),
        &child(path, "tolerations"),
    ));
    errs.extend(name_field_errors(
        spec,
        "priorityClassName",
        path,
        NameRule::Subdomain,
    ));
    errs
}

/// Upstream's `ValidatePodTemplateSpec` (note: labels are reported at `<path>.labels`).
fn pod_template_errors(template: &Value, path: &str) -> Vec<FieldError> {
    let meta = member(template, "metadata");
    let mut errs = labels_errors(object(meta, "labels"), &child(path, "labels"));
    errs.extend(annotations_errors(
        object(meta, "annotations"),
        &child(path, "annotations"),
    ));
    let spec = member(template, "spec");
    errs.extend(pod_spec_errors(spec, &child(path, "spec")));
    if !items(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            child(path, "spec.ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// Upstream's `validatePodMetadataAndSpec`.
fn pod_errors(pod: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(pod, true, NameRule::Subdomain);
    errs.extend(pod_spec_errors(member(pod, "spec"), "spec"));
    errs
}

/// Upstream's `ValidatePodCreate`.
fn pod_create(pod: &Value) -> Vec<FieldError> {
    let mut errs = pod_errors(pod);
    let spec = member(pod, "spec");
    if !items(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            "spec.ephemeralContainers",
            "cannot be set on create",
        ));
    }
    if !text(spec, "nodeName").is_empty() && !items(spec, "schedulingGates").is_empty() {
        errs.push(FieldError::forbidden(
            "spec.nodeName",
            "cannot be set until all schedulingGates have been cleared",
        ));
    }
    errs
}

/// The fields a pod update may change, as upstream lists them in its error.
const UPDATABLE_POD_SPEC_FIELDS: &[&str] = &[
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

/// A short stand-in for the `cmp.Diff` upstream appends: the top-level fields that differ.
fn spec_diff(go_type: &str, old: &Value, new: &Value) -> String {
    let mut keys = BTreeSet::new();
    for v in [old, new] {
        if let Some(map) = v.as_object() {
            keys.extend(map.keys().cloned());
        }
    }
    let mut out = format!("  {go_type}{{\n");
    for key in keys {
        let (a, b) = (member(old, &key), member(new, &key));
        if sem_eq(a, b) {
            continue;
        }
        let mut go_name = key.clone();
        if let Some(first) = go_name.get(..1) {
            go_name = format!("{}{}", first.to_uppercase(), go_name.get(1..).unwrap_or(""));
        }
        out.push_str(&format!("- \t{go_name}: {a},\n+ \t{go_name}: {b},\n"));
    }
    out.push_str("  }\n");
    out
}

/// Upstream's `ValidateContainerUpdates`; `true` when validation must stop.
fn container_updates_errors(
    new: &[Value],
    old: &[Value],
    path: &str,
    errs: &mut Vec<FieldError>,
) -> bool {
    if new.len() != old.len() {
        errs.push(FieldError::forbidden(
            path,
            "pod updates may not add or remove containers",
        ));
        return true;
    }
    for (i, ctr) in new.iter().enumerate() {
        let image = text(ctr, "image");
        let p = child(&sub(path, i), "image");
        if image.is_empty() {
            errs.push(FieldError::required(p.as_str(), ""));
        }
        if image.trim().len() != image.len() {
            errs.push(FieldError::invalid(
                p,
                image,
                "must not have leading or trailing whitespace",
            ));
        }
    }
    false
}

/// Upstream's `ValidatePodUpdate`.
fn pod_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(pod_errors(new));
    let spec = member(new, "spec");
    let old_spec = member(old, "spec");
    if container_updates_errors(
        items(spec, "containers"),
        items(old_spec, "containers"),
        "spec.containers",
        &mut errs,
    ) || container_updates_errors(
        items(spec, "initContainers"),
        items(old_spec, "initContainers"),
        "spec.initContainers",
        &mut errs,
    ) {
        return errs;
    }
    match (
        int(spec, "activeDeadlineSeconds"),
        int(old_spec, "activeDeadlineSeconds"),
    ) {
        (Some(new_deadline), old_deadline) => {
            if !(0..=i64::from(i32::MAX)).contains(&new_deadline) {
                errs.push(FieldError::invalid(
                    "spec.activeDeadlineSeconds",
                    new_deadline,
                    inclusive_range_error(0, i64::from(i32::MAX)),
                ));
                return errs;
            }
            if old_deadline.is_some_and(|o| o < new_deadline) {
                errs.push(FieldError::invalid(
                    "spec.activeDeadlineSeconds",
                    new_deadline,
                    "must be less than or equal to previous value",
                ));
                return errs;
            }
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            "spec.activeDeadlineSeconds",
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        (None, None) => {}
    }
    // Tolerations: only additions (tolerationSeconds may change).
    let new_tolerations = items(spec, "tolerations");
    let strip = |t: &Value| {
        let mut t = t.clone();
        if let Some(map) = t.as_object_mut() {
            map.remove("tolerationSeconds");
        }
        t
    };
    let kept = items(old_spec, "tolerations")
        .iter()
        .all(|o| new_tolerations.iter().any(|n| sem_eq(&strip(o), &strip(n))));
    if !kept {
        errs.push(FieldError::forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    } else {
        errs.extend(tolerations_errors(new_tolerations, "spec.tolerations"));
    }
    // Scheduling gates: only deletions.
    let old_gates: BTreeSet<&str> = items(old_spec, "schedulingGates")
        .iter()
        .map(|g| text(g, "name"))
        .collect();
    for (i, gate) in items(spec, "schedulingGates").iter().enumerate() {
        let name = text(gate, "name");
        if !old_gates.contains(name) {
            errs.push(FieldError::forbidden(
                child(&sub("spec.schedulingGates", i), "name"),
                format!("only deletion is allowed, but found new scheduling gate '{name}'"),
            ));
        }
    }
    if sem_eq(spec, old_spec) {
        return errs;
    }
    // Munge the updatable fields back to their old values and compare the rest.
    let mut munged = spec.clone();
    if let Some(map) = munged.as_object_mut() {
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(ctrs)) = map.get_mut(list) {
                for (ctr, old_ctr) in ctrs.iter_mut().zip(items(old_spec, list)) {
                    if let Some(c) = ctr.as_object_mut() {
                        c.insert("image".into(), member(old_ctr, "image").clone());
                    }
                }
            }
        }
        for field in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
            map.insert(field.into(), member(old_spec, field).clone());
        }
        let old_grace = int(old_spec, "terminationGracePeriodSeconds");
        if old_grace.is_some_and(|g| g < 0) && int(spec, "terminationGracePeriodSeconds") == Some(1)
        {
            map.insert(
                "terminationGracePeriodSeconds".into(),
                member(old_spec, "terminationGracePeriodSeconds").clone(),
            );
        }
        if !items(old_spec, "schedulingGates").is_empty() {
            let old_selector = object(old_spec, "nodeSelector");
            let additions_only = old_selector
                .map(sorted)
                .unwrap_or_default()
                .into_iter()
                .all(|(k, v)| object(spec, "nodeSelector").and_then(|m| m.get(k)) == Some(v));
            if !sem_eq(
                member(spec, "nodeSelector"),
                member(old_spec, "nodeSelector"),
            ) {
                if !additions_only {
                    errs.push(FieldError::invalid(
                        "spec.nodeSelector",
                        member(spec, "nodeSelector").clone(),
                        "only additions to spec.nodeSelector are allowed (no mutations or deletions)",
                    ));
                }
                map.insert(
                    "nodeSelector".into(),
                    member(old_spec, "nodeSelector").clone(),
                );
            }
        }
    }
    if !sem_eq(&munged, old_spec) {
        errs.push(FieldError::forbidden(
            "spec",
            format!(
                "pod updates may not change fields other than {}\n{}",
                UPDATABLE_POD_SPEC_FIELDS.join(","),
                spec_diff("core.PodSpec", old_spec, &munged)
            ),
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Shared per-kind helpers
// ---------------------------------------------------------------------------------------------

/// Core's `ValidateObjectMeta`: the generic checks plus the standard-finalizer rule.
fn core_meta(obj: &Value, namespaced: bool, rule: NameRule) -> Vec<FieldError> {
    let mut errs = validate_object_meta(obj, namespaced, rule);
    errs.extend(kube_finalizer_errors(
        items(member(obj, "metadata"), "finalizers"),
        "metadata.finalizers",
    ));
    errs
}

/// Core's `ValidateObjectMetaUpdate`: the generic checks plus the standard-finalizer rule.
fn core_meta_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(kube_finalizer_errors(
        items(member(new, "metadata"), "finalizers"),
        "metadata.finalizers",
    ));
    errs
}

/// `ValidateImmutableField` on two JSON values (semantic equality); `value` is what is shown.
fn immutable(new: &Value, old: &Value, path: &str, value: Value) -> Option<FieldError> {
    (!sem_eq(new, old)).then(|| FieldError::invalid(path, value, "field is immutable"))
}

/// The bad value upstream shows for an optional scalar: the value, or `"null"` when nil.
fn ptr_value(v: &Value) -> Value {
    if v.is_null() { Value::Null } else { v.clone() }
}

/// Decodes standard base64 (Secret and ConfigMap binary data); `None` if malformed.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut buf: u32 = 0;
    let mut bits: u32 = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b'\r' | b'\n' => continue,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// What Go's `json.Unmarshal` into a `map[string]interface{}` reports for bad bytes, roughly.
fn go_json_map_error(bytes: &[u8]) -> Option<String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(_) | Value::Null) => None,
        Ok(other) => {
            let kind = match other {
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => "array",
            };
            Some(format!(
                "json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
            ))
        }
        Err(e) if e.is_eof() => Some("unexpected end of JSON input".to_string()),
        Err(e) => {
            let text = String::from_utf8_lossy(bytes);
            let line = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
            let c = line
                .chars()
                .nth(e.column().saturating_sub(1))
                .unwrap_or(' ');
            let shown = match c {
                '\'' => "'\\''".to_string(),
                '\\' => "'\\\\'".to_string(),
                c => format!("'{c}'"),
            };
            Some(format!(
                "invalid character {shown} looking for beginning of value"
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ConfigMap and Secret
// ---------------------------------------------------------------------------------------------

/// The size cap on ConfigMap and Secret data (`core.MaxSecretSize`).
const MAX_SECRET_SIZE: usize = 1024 * 1024;

/// Upstream's `ValidateConfigMap`.
fn configmap_errors(cm: &Value) -> Vec<FieldError> {
    let mut errs = core_meta(cm, true, NameRule::Subdomain);
    let binary = object(cm, "binaryData");
    let mut total: usize = 0;
    for (key, value) in object(cm, "data").map(sorted).unwrap_or_default() {
        let p = sub("data", key);
        errs.extend(
            is_config_map_key(key)
                .into_iter()
                .map(|m| FieldError::invalid(p.as_str(), key.as_str(), m)),
        );
        if binary.is_some_and(|b| b.contains_key(key)) {
            errs.push(FieldError::invalid(
                p.as_str(),
                key.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
        total = total.saturating_add(as_text(value).len());
    }
    for (key, value) in binary.map(sorted).unwrap_or_default() {
        let p = sub("binaryData", key);
        errs.extend(
            is_config_map_key(key)
                .into_iter()
                .map(|m| FieldError::invalid(p.as_str(), key.as_str(), m)),
        );
        total = total.saturating_add(
            value
                .as_str()
                .and_then(base64_decode)
                .map_or(0, |b| b.len()),
        );
    }
    if total > MAX_SECRET_SIZE {
        // Upstream reports this at `field.NewPath("")`, which prints as `[]`.
        errs.push(FieldError::too_long("[]", MAX_SECRET_SIZE as i64));
    }
    errs
}

/// Upstream's `ValidateConfigMapUpdate`.
fn configmap_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = core_meta_update(new, old);
    if boolean(old, "immutable") == Some(true) {
        if boolean(new, "immutable") != Some(true) {
            errs.push(FieldError::forbidden(
                "immutable",
                "field is immutable when `immutable` is set",
            ));
        }
        for field in ["data", "binaryData"] {
            if object(new, field) != object(old, field) {
                errs.push(FieldError::forbidden(
                    field,
                    "field is immutable when `immutable` is set",
                ));
            }
        }
    }
    errs.extend(configmap_errors(new));
    errs
}

/// A Secret's data after upstream's conversion: `data` decoded, `stringData` laid over it.
fn secret_data(secret: &Value) -> Option<BTreeMap<String, Vec<u8>>> {
    let data = object(secret, "data");
    let string_data = object(secret, "stringData").filter(|m| !m.is_empty());
    if data.is_none() && string_data.is_none() {
        return None;
    }
    let mut out = BTreeMap::new();
    for (key, value) in data.into_iter().flatten() {
        let bytes = value.as_str().and_then(base64_decode).unwrap_or_default();
        out.insert(key.clone(), bytes);
    }
    for (key, value) in string_data.into_iter().flatten() {
        out.insert(key.clone(), as_text(value).into_bytes());
    }
    Some(out)
}

/// Upstream's `ValidateSecret` (type defaults to `Opaque`).
fn secret_errors(secret: &Value) -> Vec<FieldError> {
    let mut errs = core_meta(secret, true, NameRule::Subdomain);
    let data = secret_data(secret).unwrap_or_default();
    let mut total: usize = 0;
    for (key, value) in &data {
        let p = sub("data", key);
        errs.extend(
            is_config_map_key(key)
                .into_iter()
                .map(|m| FieldError::invalid(p.as_str(), key.as_str(), m)),
        );
        total = total.saturating_add(value.len());
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("data", MAX_SECRET_SIZE as i64));
    }
    let required = |key: &str| FieldError::required(sub("data", key), "");
    match opt_text(secret, "type").unwrap_or("Opaque") {
        "kubernetes.io/service-account-token" => {
            let annotations = object(member(secret, "metadata"), "annotations");
            let name = annotations
                .and_then(|a| a.get("kubernetes.io/service-account.name"))
                .map(as_text);
            if name.unwrap_or_default().is_empty() {
                errs.push(FieldError::required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "",
                ));
            }
        }
        kind @ ("kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson") => {
            let key = if kind == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            match data.get(key) {
                None => errs.push(required(key)),
                Some(bytes) => {
                    if let Some(msg) = go_json_map_error(bytes) {
                        errs.push(FieldError::invalid(
                            sub("data", key),
                            "<secret contents redacted>",
                            msg,
                        ));
                    }
                }
            }
        }
        "kubernetes.io/basic-auth"
            if !data.contains_key("username") && !data.contains_key("password") =>
        {
            errs.push(required("username"));
            errs.push(required("password"));
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").is_none_or(Vec::is_empty) => {
            errs.push(required("ssh-privatekey"));
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !data.contains_key(key) {
                    errs.push(required(key));
                }
            }
        }
        _ => {}
    }
    errs
}

/// Upstream's `ValidateSecretUpdate`.
fn secret_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = core_meta_update(new, old);
    let new_type = opt_text(new, "type").unwrap_or("Opaque");
    if new_type != opt_text(old, "type").unwrap_or("Opaque") {
        errs.push(FieldError::invalid("type", new_type, "field is immutable"));
    }
    if boolean(old, "immutable") == Some(true) {
        if boolean(new, "immutable") != Some(true) {
            errs.push(FieldError::forbidden(
                "immutable",
                "field is immutable when `immutable` is set",
            ));
        }
        if secret_data(new) != secret_data(old) {
            errs.push(FieldError::forbidden(
                "data",
                "field is immutable when `immutable` is set",
            ));
        }
    }
    errs.extend(secret_errors(new));
    errs
}

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

/// `%#v` of the `(protocol, port)` key upstream reports duplicate service ports with.
fn go_service_port_key(protocol: &str, port: i64) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        go_quote(protocol)
    )
}

/// A service's cluster IPs after the strategy's normalization (`clusterIPs` from `clusterIP`).
fn cluster_ips(spec: &Value) -> Vec<String> {
    let list: Vec<String> = items(spec, "clusterIPs").iter().map(as_text).collect();
    if list.is_empty() && !text(spec, "clusterIP").is_empty() {
        return vec![text(spec, "clusterIP").to_string()];
    }
    list
}

/// A string list as a JSON value (for `[]string` bad values).
fn string_list(list: &[String]) -> Value {
    if list.is_empty() {
        go_repr(go_string_slice(None))
    } else {
        Value::Array(list.iter().cloned().map(Value::String).collect())
    }
}

/// Upstream's `validateServicePort`.
fn service_port_errors(
    port: &Value,
    require_name: bool,
    names: &mut BTreeSet<String>,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = text(port, "name");
    if require_name && name.is_empty() {
        errs.push(FieldError::required(child(path, "name"), ""));
    } else if !name.is_empty() {
        errs.extend(
            is_dns1123_label(name)
                .into_iter()
                .map(|m| FieldError::invalid(child(path, "name"), name, m)),
        );
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(child(path, "name"), name));
        }
    }
    let number = int(port, "port").unwrap_or(0);
    errs.extend(
        is_valid_port_num(number)
            .into_iter()
            .map(|m| FieldError::invalid(child(path, "port"), number, m)),
    );
    errs.extend(enum_errors(port, "protocol", path, &["SCTP", "TCP", "UDP"]));
    match port.get("targetPort") {
        // Zero or empty target ports are defaulted to the port.
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(v) if as_int(v) == Some(0) => {}
        target => errs.extend(port_num_or_name_errors(target, &child(path, "targetPort"))),
    }
    if let Some(app) = opt_text(port, "appProtocol") {
        errs.extend(
            is_qualified_name(app)
                .into_iter()
                .map(|m| FieldError::invalid(child(path, "appProtocol"), app, m)),
        );
    }
    errs
}

/// Upstream's `ValidateService` (type defaults to ClusterIP, protocols to TCP).
fn service_errors(svc: &Value) -> Vec<FieldError> {
    let mut errs = core_meta(svc, true, NameRule::Rfc1035Label);
    let spec = member(svc, "spec");
    let service_type = opt_text(spec, "type").unwrap_or("ClusterIP");
    let ips = cluster_ips(spec);
    let headless = ips.len() == 1 && ips[0] == "None";
    let ports = items(spec, "ports");
    if ports.is_empty() && !headless && service_type != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    match service_type {
        "LoadBalancer" | "NodePort" if headless => errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            "None",
            format!("may not be set to 'None' for {service_type} services"),
        )),
        "ExternalName" => {
            if !ips.is_empty() {
                errs.push(FieldError::forbidden(
                    "spec.clusterIPs",
                    "may not be set for ExternalName services",
                ));
            }
            if !items(spec, "ipFamilies").is_empty() {
                errs.push(FieldError::forbidden(
                    "spec.ipFamilies",
                    "may not be set for ExternalName services",
                ));
            }
            if present(spec, "ipFamilyPolicy") {
                errs.push(FieldError::forbidden(
                    "spec.ipFamilyPolicy",
                    "may not be set for ExternalName services",
                ));
            }
            let external = text(spec, "externalName");
            let cname = external.strip_suffix('.').unwrap_or(external);
            if cname.is_empty() {
                errs.push(FieldError::required("spec.externalName", ""));
            } else {
                errs.extend(
                    is_dns1123_subdomain(cname)
                        .into_iter()
                        .map(|m| FieldError::invalid("spec.externalName", cname, m)),
                );
            }
        }
        _ => {}
    }
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        errs.extend(service_port_errors(
            port,
            ports.len() > 1,
            &mut names,
            &sub("spec.ports", i),
        ));
    }
    if present(spec, "selector") {
        errs.extend(labels_errors(object(spec, "selector"), "spec.selector"));
    }
    errs.extend(enum_errors(
        spec,
        "sessionAffinity",
        "spec",
        &["ClientIP", "None"],
    ));
    if opt_text(spec, "sessionAffinity").unwrap_or("None") == "None"
        && present(spec, "sessionAffinityConfig")
    {
        errs.push(FieldError::forbidden(
            "spec.sessionAffinityConfig",
            "must not be set when session affinity is None",
        ));
    }
    if service_type != "ExternalName" {
        errs.extend(cluster_ip_errors(spec, &ips));
    }
    for (i, ip) in items(spec, "externalIPs").iter().map(as_text).enumerate() {
        if !is_ip_sloppy(&ip) {
            errs.push(FieldError::invalid(
                sub("spec.externalIPs", i),
                ip.as_str(),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
    errs.extend(enum_errors(
        spec,
        "type",
        "spec",
        &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
    ));
    let mut node_ports = BTreeSet::new();
    let mut port_keys = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = sub("spec.ports", i);
        let node_port = int(port, "nodePort").unwrap_or(0);
        let protocol = opt_text(port, "protocol").unwrap_or("TCP").to_string();
        if service_type == "ClusterIP" && node_port != 0 {
            errs.push(FieldError::forbidden(
                child(&p, "nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
        if node_port != 0 && !node_ports.insert((protocol.clone(), node_port)) {
            errs.push(FieldError::duplicate(child(&p, "nodePort"), node_port));
        }
        let number = int(port, "port").unwrap_or(0);
        if !port_keys.insert((protocol.clone(), number)) {
            errs.push(FieldError::duplicate(
                p.as_str(),
                go_repr(go_service_port_key(&protocol, number)),
            ));
        }
    }
    if !items(spec, "loadBalancerSourceRanges").is_empty() && service_type != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            "spec.LoadBalancerSourceRanges",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if present(spec, "allocateLoadBalancerNodePorts") && service_type != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            "spec.allocateLoadBalancerNodePorts",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if present(spec, "loadBalancerClass") && service_type != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            "spec.loadBalancerClass",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    let externally_accessible = matches!(service_type, "LoadBalancer" | "NodePort")
        || (service_type == "ClusterIP" && !items(spec, "externalIPs").is_empty());
    if let Some(policy) = opt_text(spec, "externalTrafficPolicy").filter(|p| !p.is_empty()) {
        if !externally_accessible {
            errs.push(FieldError::invalid(
                "spec.externalTrafficPolicy",
                policy,
                "may only be set for externally-accessible services",
            ));
        } else if policy != "Cluster" && policy != "Local" {
            errs.push(FieldError::not_supported(
                "spec.externalTrafficPolicy",
                policy,
                &["Cluster", "Local"],
            ));
        }
    }
    if let Some(policy) = opt_text(spec, "internalTrafficPolicy")
        && policy != "Cluster"
        && policy != "Local"
    {
        errs.push(FieldError::not_supported(
            "spec.internalTrafficPolicy",
            policy,
            &["Cluster", "Local"],
        ));
    }
    errs
}

/// Upstream's `ValidateServiceClusterIPsRelatedFields` (syntax checks).
fn cluster_ip_errors(spec: &Value, ips: &[String]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let cluster_ip = text(spec, "clusterIP");
    let given: Vec<String> = items(spec, "clusterIPs").iter().map(as_text).collect();
    if !cluster_ip.is_empty() {
        if !given.is_empty() && given[0] != cluster_ip {
            errs.push(FieldError::invalid(
                "spec.clusterIPs",
                string_list(&given),
                "first value must match `clusterIP`",
            ));
        }
    } else if !given.is_empty() {
        errs.push(FieldError::invalid(
            "spec.clusterIPs",
            string_list(&given),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let mut families = BTreeSet::new();
    for (i, family) in items(spec, "ipFamilies").iter().map(as_text).enumerate() {
        let p = sub("spec.ipFamilies", i);
        if family != "IPv4" && family != "IPv6" {
            errs.push(FieldError::not_supported(
                p.as_str(),
                family.as_str(),
                &["IPv4", "IPv6"],
            ));
        }
        if !families.insert(family.clone()) {
            errs.push(FieldError::duplicate(p, family));
        }
    }
    if let Some(policy) = opt_text(spec, "ipFamilyPolicy")
        && !matches!(
            policy,
            "PreferDualStack" | "RequireDualStack" | "SingleStack"
        )
    {
        errs.push(FieldError::not_supported(
            "spec.ipFamilyPolicy",
            policy,
            &["PreferDualStack", "RequireDualStack", "SingleStack"],
        ));
    }
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == "None" {
            if ips.len() > 1 {
                errs.push(FieldError::invalid(
                    "spec.clusterIPs",
                    string_list(ips),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        if !is_ip_sloppy(ip) {
            errs.push(FieldError::invalid(
                sub("spec.clusterIPs", i),
                ip.as_str(),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(
            "spec.clusterIPs",
            string_list(ips),
            "may only hold up to 2 values",
        ));
    }
    errs
}

/// Upstream's `ValidateServiceUpdate`, after the registry keeps allocated cluster IPs a client
/// left out and re-syncs `clusterIPs` with a changed `clusterIP`.
fn service_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = core_meta_update(new, old);
    let spec = member(new, "spec");
    let old_spec = member(old, "spec");
    let new_type = opt_text(spec, "type").unwrap_or("ClusterIP");
    let old_type = opt_text(old_spec, "type").unwrap_or("ClusterIP");
    let old_ip = text(old_spec, "clusterIP").to_string();
    let old_ips = cluster_ips(old_spec);
    let mut new_ip = text(spec, "clusterIP").to_string();
    let mut new_ips: Vec<String> = items(spec, "clusterIPs").iter().map(as_text).collect();
    if new_type != "ExternalName" && old_type != "ExternalName" {
        if new_ip.is_empty() {
            new_ip = old_ip.clone();
        }
        if new_ips.is_empty() {
            new_ips = old_ips.clone();
        }
    }
    if new_ip != old_ip {
        if new_ip.is_empty() {
            if new_ips == old_ips {
                new_ips.clear();
            }
        } else if new_ips == old_ips && !new_ips.is_empty() {
            new_ips[0] = new_ip.clone();
        }
    }
    if new_ips.is_empty() && !new_ip.is_empty() {
        new_ips.push(new_ip.clone());
    }
    if new_type != "ExternalName" && old_type != "ExternalName" {
        let is_headless = |ips: &[String]| ips.len() == 1 && ips[0] == "None";
        if !(is_headless(&new_ips) && is_headless(&old_ips)) {
            let changed = FieldError::invalid(
                "spec.clusterIPs[0]",
                string_list(&new_ips),
                "may not change once set",
            );
            if old_ips.len() == new_ips.len() {
                for (i, (a, b)) in old_ips.iter().zip(&new_ips).enumerate() {
                    if a != b {
                        errs.push(FieldError::invalid(
                            sub("spec.clusterIPs", i),
                            string_list(&new_ips),
                            "may not change once set",
                        ));
                    }
                }
            } else if old_ips.len() > new_ips.len() {
                if new_ips.is_empty() {
                    errs.push(FieldError::invalid(
                        "spec.clusterIPs[0]",
                        string_list(&new_ips),
                        "primary clusterIP can not be unset",
                    ));
                } else if new_ips[0] != old_ips[0] {
                    errs.push(changed);
                }
                if new_ips.len() == 1 && opt_text(spec, "ipFamilyPolicy") != Some("SingleStack") {
                    errs.push(FieldError::invalid(
                        "spec.ipFamilyPolicy",
                        ptr_value(member(spec, "ipFamilyPolicy")),
                        "must be set to 'SingleStack' when releasing the secondary clusterIP",
                    ));
                }
            } else if !old_ips.is_empty() && new_ips[0] != old_ips[0] {
                errs.push(changed);
            }
        }
    }
    if new_type == "LoadBalancer"
        && old_type == "LoadBalancer"
        && member(spec, "loadBalancerClass") != member(old_spec, "loadBalancerClass")
    {
        errs.push(FieldError::invalid(
            "spec.loadBalancerClass",
            ptr_value(member(spec, "loadBalancerClass")),
            "may not change once set",
        ));
    }
    let mut patched = new.clone();
    if let Some(spec) = patched.get_mut("spec").and_then(Value::as_object_mut) {
        if !new_ip.is_empty() {
            spec.insert("clusterIP".into(), Value::String(new_ip));
        }
        if !new_ips.is_empty() {
            spec.insert(
                "clusterIPs".into(),
                Value::Array(new_ips.into_iter().map(Value::String).collect()),
            );
        }
    }
    errs.extend(service_errors(&patched));
    errs
}

// ---------------------------------------------------------------------------------------------
// Namespace, Node, PersistentVolumeClaim, ReplicationController, Event
// ---------------------------------------------------------------------------------------------

/// Upstream's `ValidateNamespace` (spec finalizers are reported at the unindexed list path).
fn namespace_errors(ns: &Value) -> Vec<FieldError> {
    let mut errs = core_meta(ns, false, NameRule::Label);
    for name in items(member(ns, "spec"), "finalizers").iter().map(as_text) {
        errs.extend(
            is_qualified_name(&name)
                .into_iter()
                .map(|m| FieldError::invalid("spec.finalizers", name.as_str(), m)),
        );
        if !name.contains('/')
            && !matches!(
                name.as_str(),
                "kubernetes" | "orphan" | "foregroundDeletion"
            )
        {
            errs.push(FieldError::invalid(
                "spec.finalizers",
                name.as_str(),
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    errs
}

/// `%#v` of a `core.Taint`.
fn go_taint(t: &Value) -> String {
    format!(
        "core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:{}}}",
        go_quote(text(t, "key")),
        go_quote(text(t, "value")),
        go_quote(text(t, "effect")),
        go_ptr(t.get("timeAdded"), "v1.Time"),
    )
}

/// Upstream's `validateNodeTaints` (which reports at `metadata.taints`, sic).
fn taints_errors(taints: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for (i, t) in taints.iter().enumerate() {
        let p = sub(path, i);
        let key = text(t, "key");
        errs.extend(
            is_qualified_name(key)
                .into_iter()
                .map(|m| FieldError::invalid(child(&p, "key"), key, m)),
        );
        let value = text(t, "value");
        let msgs = is_valid_label_value(value);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                child(&p, "value"),
                value,
                msgs.join(";"),
            ));
        }
        let effect = text(t, "effect");
        if effect.is_empty() {
            errs.push(FieldError::required(child(&p, "effect"), ""));
        } else if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            errs.push(FieldError::not_supported(
                child(&p, "effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
        if !seen.insert((effect.to_string(), key.to_string())) {
            let mut dup = FieldError::duplicate(p.as_str(), go_repr(go_taint(t)));
            dup.detail = "taints must be unique by key and effect pair".to_string();
            errs.push(dup);
        }
    }
    errs
}

/// Upstream's `ValidateNode` (spec and metadata; status fields are free-form).
fn node_errors(node: &Value) -> Vec<FieldError> {
    let mut errs = core_meta(node, false, NameRule::Subdomain);
    errs.extend(taints_errors(
        items(member(node, "spec"), "taints"),
        "metadata.taints",
    ));
    errs
}

/// Upstream's `ValidateNodeUpdate`.
fn node_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = core_meta_update(new, old);
    let spec = member(new, "spec");
    let old_spec = member(old, "spec");
    let old_cidrs = items(old_spec, "podCIDRs");
    let new_cidrs = items(spec, "podCIDRs");
    let cidr_msg = "node updates may not change podCIDR except from \"\" to valid";
    if !old_cidrs.is_empty() {
        if old_cidrs.len() != new_cidrs.len() {
            errs.push(FieldError::forbidden("spec.podCIDRs", cidr_msg));
        } else {
            for (a, b) in old_cidrs.iter().zip(new_cidrs) {
                if a != b {
                    errs.push(FieldError::forbidden("spec.podCIDRs", cidr_msg));
                }
            }
        }
    }
    let old_provider = text(old_spec, "providerID");
    if !old_provider.is_empty() && old_provider != text(spec, "providerID") {
        errs.push(FieldError::forbidden(
            "spec.providerID",
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
    errs.extend(taints_errors(items(spec, "taints"), "metadata.taints"));
    if text(spec, "externalID") != text(old_spec, "externalID") {
        errs.push(FieldError::forbidden(
            "spec.externalID",
            "may not be updated",
        ));
    }
    errs
}

/// Upstream's `ValidatePersistentVolumeClaimSpec`.
fn pvc_spec_errors(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let modes_path = child(path, "accessModes");
    let modes = items(spec, "accessModes");
    if modes.is_empty() {
        errs.push(FieldError::required(
            modes_path.as_str(),
            "at least 1 access mode is required",
        ));
    }
    if let Some(selector) = spec.get("selector").filter(|v| !v.is_null()) {
        errs.extend(validate_label_selector(selector, &child(path, "selector")));
    }
    let supported = [
        "ReadOnlyMany",
        "ReadWriteMany",
        "ReadWriteOnce",
        "ReadWriteOncePod",
    ];
    let (mut rwop, mut other) = (false, false);
    for mode in modes.iter().map(as_text) {
        if !supported.contains(&mode.as_str()) {
            errs.push(FieldError::not_supported(
                modes_path.as_str(),
                mode.as_str(),
                &supported,
            ));
        } else if mode == "ReadWriteOncePod" {
            rwop = true;
        } else {
            other = true;
        }
    }
    if rwop && other {
        errs.push(FieldError::forbidden(
            modes_path.as_str(),
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    let storage_path = sub(&child(path, "resources"), "storage");
    match object(member(spec, "resources"), "requests").and_then(|r| r.get("storage")) {
        None => errs.push(FieldError::required(storage_path, "")),
        Some(v) => {
            if let Some(q) = quantity(v)
                && q.nanos <= 0
            {
                errs.push(FieldError::invalid(
                    storage_path,
                    q.canonical(),
                    "must be greater than zero",
                ));
            }
        }
    }
    errs.extend(name_field_errors(
        spec,
        "storageClassName",
        path,
        NameRule::Subdomain,
    ));
    if let Some(mode) = opt_text(spec, "volumeMode")
        && mode != "Block"
        && mode != "Filesystem"
    {
        errs.push(FieldError::not_supported(
            child(path, "volumeMode"),
            mode,
            &["Block", "Filesystem"],
        ));
    }
    errs
}

/// Upstream's `ValidatePersistentVolumeClaim`.
fn pvc_errors(pvc: &Value) -> Vec<FieldError> {
    let mut errs = core_meta(pvc, true, NameRule::Subdomain);
    errs.extend(pvc_spec_errors(member(pvc, "spec"), "spec"));
    errs
}

/// Upstream's `ValidatePersistentVolumeClaimUpdate`.
fn pvc_update(new: &Value, old: &Value) -> Vec<FieldError> {
    const CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";
    let mut errs = core_meta_update(new, old);
    errs.extend(pvc_errors(new));
    let spec = member(new, "spec");
    let old_spec = member(old, "spec");
    let mut new_clone = spec.clone();
    let mut old_clone = old_spec.clone();
    let annotation = |obj: &Value| {
        object(member(obj, "metadata"), "annotations")
            .and_then(|a| a.get(CLASS_ANNOTATION))
            .map(as_text)
    };
    let (old_ann, new_ann) = (annotation(old), annotation(new));
    if text(old_spec, "volumeName").is_empty()
        && let Some(o) = old_clone.as_object_mut()
    {
        o.insert("volumeName".into(), member(spec, "volumeName").clone());
    }
    let old_class = opt_text(old_spec, "storageClassName");
    let new_class = opt_text(spec, "storageClassName");
    let upgrade_from_annotation = old_ann.is_some()
        && old_class.is_none()
        && new_class.is_some_and(|c| Some(c) == old_ann.as_deref())
        && (new_ann.is_none() || new_ann == old_ann);
    if upgrade_from_annotation {
        if let Some(n) = new_clone.as_object_mut() {
            n.remove("storageClassName");
        }
    } else {
        if new_ann.clone().unwrap_or_default() != old_ann.clone().unwrap_or_default() {
            errs.push(FieldError::invalid(
                format!("metadata.annotations.{CLASS_ANNOTATION}"),
                new_ann.clone().unwrap_or_default(),
                "field is immutable",
            ));
        }
        let from_nil = new_class.is_some()
            && old_class.is_none()
            && (old_ann.is_none() || new_class == old_ann.as_deref());
        if from_nil && let Some(n) = new_clone.as_object_mut() {
            n.remove("storageClassName");
        }
    }
    let bound = text(member(new, "status"), "phase") == "Bound";
    if bound {
        if let Some(requests) = new_clone
            .pointer_mut("/resources/requests")
            .and_then(Value::as_object_mut)
        {
            requests.insert(
                "storage".into(),
                member(member(member(old_spec, "resources"), "requests"), "storage").clone(),
            );
        }
        if let Some(n) = new_clone.as_object_mut()
            && n.contains_key("volumeAttributesClassName")
        {
            n.insert(
                "volumeAttributesClassName".into(),
                member(old_spec, "volumeAttributesClassName").clone(),
            );
        }
    }
    if !sem_eq(&new_clone, &old_clone) {
        errs.push(FieldError::forbidden(
            "spec",
            format!(
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{}",
                spec_diff("core.PersistentVolumeClaimSpec", &old_clone, &new_clone)
            ),
        ));
    }
    let size = |v: &Value| member(member(member(v, "resources"), "requests"), "storage").clone();
    let status_size = member(member(member(old, "status"), "capacity"), "storage");
    if let (Some(new_size), Some(old_size)) = (quantity(&size(spec)), quantity(&size(old_spec))) {
        let status = quantity(status_size).map_or(0, |q| q.nanos);
        if new_size.nanos < old_size.nanos && new_size.nanos <= status {
            errs.push(FieldError::forbidden(
                "spec.resources.requests.storage",
                "field can not be less than status.capacity",
            ));
        }
    }
    let mode = |v: &Value| {
        opt_text(v, "volumeMode")
            .unwrap_or("Filesystem")
            .to_string()
    };
    if mode(spec) != mode(old_spec) {
        errs.push(FieldError::invalid(
            "volumeMode",
            mode(spec),
            "field is immutable",
        ));
    }
    errs
}

/// The labels of a pod template (`template.metadata.labels`).
fn template_labels(template: &Value) -> Option<&Map<String, Value>> {
    object(member(template, "metadata"), "labels")
}

/// The `selector does not match template labels` error for a template at `template_path`.
fn selector_mismatch(template: &Value, template_path: &str) -> FieldError {
    FieldError::invalid(
        child(template_path, "metadata.labels"),
        go_repr(go_string_map(template_labels(template))),
        "`selector` does not match template `labels`",
    )
}

/// Upstream's `ValidateReplicationController` (an empty selector defaults to the template labels).
fn rc_errors(rc: &Value) -> Vec<FieldError> {
    let mut errs = core_meta(rc, true, NameRule::Subdomain);
    let spec = member(rc, "spec");
    if let Some(v) = int(spec, "minReadySeconds") {
        errs.extend(nonnegative(v, "spec.minReadySeconds"));
    }
    let template = spec.get("template").filter(|t| !t.is_null());
    let selector = object(spec, "selector")
        .filter(|s| !s.is_empty())
        .or_else(|| template.and_then(template_labels))
        .cloned()
        .unwrap_or_default();
    if selector.is_empty() {
        errs.push(FieldError::required("spec.selector", ""));
    }
    if let Some(v) = int(spec, "replicas") {
        errs.extend(nonnegative(v, "spec.replicas"));
    }
    match template {
        None => errs.push(FieldError::required("spec.template", "")),
        Some(template) => {
            let labels = template_labels(template);
            let matches = selector
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)).map(as_text) == Some(as_text(v)));
            if !selector.is_empty() && !matches {
                errs.push(selector_mismatch(template, "spec.template"));
            }
            errs.extend(pod_template_errors(template, "spec.template"));
            errs.extend(restart_always_errors(template, "spec.template"));
            if present(member(template, "spec"), "activeDeadlineSeconds") {
                errs.push(FieldError::forbidden(
                    "spec.template.spec.activeDeadlineSeconds",
                    "activeDeadlineSeconds in ReplicationController is not Supported",
                ));
            }
        }
    }
    errs
}

/// The `restartPolicy` must be `Always` rule of controllers (missing defaults to `Always`).
fn restart_always_errors(template: &Value, template_path: &str) -> Option<FieldError> {
    let policy = opt_text(member(template, "spec"), "restartPolicy").unwrap_or("Always");
    (policy != "Always").then(|| {
        FieldError::not_supported(
            child(template_path, "spec.restartPolicy"),
            policy,
            &["Always"],
        )
    })
}

/// Upstream's legacy event validation (core/v1 events get no ObjectMeta checks).
fn core_event_errors(event: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let namespace = text(member(event, "metadata"), "namespace");
    if !present(event, "eventTime") {
        let involved = text(member(event, "involvedObject"), "namespace");
        let mismatch = if involved.is_empty() {
            !namespace.is_empty() && namespace != "default"
        } else {
            namespace != involved
        };
        if mismatch {
            errs.push(FieldError::invalid(
                "involvedObject.namespace",
                involved,
                "does not match event.namespace",
            ));
        }
    }
    errs.extend(
        is_dns1123_subdomain(namespace)
            .into_iter()
            .map(|m| FieldError::invalid("namespace", namespace, m)),
    );
    errs
}

// ---------------------------------------------------------------------------------------------
// RBAC and CustomResourceDefinition
// ---------------------------------------------------------------------------------------------

/// The RBAC API group.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Upstream's `ValidatePolicyRule`.
fn policy_rule_errors(rule: &Value, namespaced: bool, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if items(rule, "verbs").is_empty() {
        errs.push(FieldError::required(
            child(path, "verbs"),
            "verbs must contain at least one value",
        ));
    }
    let urls = items(rule, "nonResourceURLs");
    if !urls.is_empty() {
        let value = Value::Array(urls.to_vec());
        if namespaced {
            errs.push(FieldError::invalid(
                child(path, "nonResourceURLs"),
                value.clone(),
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if !items(rule, "apiGroups").is_empty()
            || !items(rule, "resources").is_empty()
            || !items(rule, "resourceNames").is_empty()
        {
            errs.push(FieldError::invalid(
                child(path, "nonResourceURLs"),
                value,
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return errs;
    }
    if items(rule, "apiGroups").is_empty() {
        errs.push(FieldError::required(
            child(path, "apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if items(rule, "resources").is_empty() {
        errs.push(FieldError::required(
            child(path, "resources"),
            "resource rules must supply at least one resource",
        ));
    }
    errs
}

/// Upstream's `ValidateRole` / `ValidateClusterRole`.
fn role_errors(role: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = core_meta(role, namespaced, NameRule::PathSegment);
    for (i, rule) in items(role, "rules").iter().enumerate() {
        errs.extend(policy_rule_errors(rule, namespaced, &sub("rules", i)));
    }
    if let Some(aggregation) = role
        .get("aggregationRule")
        .filter(|v| !namespaced && !v.is_null())
    {
        let selectors = items(aggregation, "clusterRoleSelectors");
        if selectors.is_empty() {
            errs.push(FieldError::required(
                "aggregationRule.clusterRoleSelectors",
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            ));
        }
        for (i, selector) in selectors.iter().enumerate() {
            errs.extend(validate_label_selector(
                selector,
                &sub("aggregationRule.clusterRoleSelectors", i),
            ));
        }
    }
    errs
}

/// `%#v` of an `rbac.RoleRef` (its apiGroup defaulted).
fn go_role_ref(r: &Value) -> String {
    let group = opt_text(r, "apiGroup")
        .filter(|g| !g.is_empty())
        .unwrap_or(RBAC_GROUP);
    format!(
        "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
        go_quote(group),
        go_quote(text(r, "kind")),
        go_quote(text(r, "name"))
    )
}

/// Upstream's `ValidateRoleBinding` / `ValidateClusterRoleBinding` (after v1 defaulting).
fn role_binding_errors(binding: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = core_meta(binding, namespaced, NameRule::PathSegment);
    let role_ref = member(binding, "roleRef");
    let group = opt_text(role_ref, "apiGroup")
        .filter(|g| !g.is_empty())
        .unwrap_or(RBAC_GROUP);
    if group != RBAC_GROUP {
        errs.push(FieldError::not_supported(
            "roleRef.apiGroup",
            group,
            &[RBAC_GROUP],
        ));
    }
    let kind = text(role_ref, "kind");
    if namespaced && kind != "Role" && kind != "ClusterRole" {
        errs.push(FieldError::not_supported(
            "roleRef.kind",
            kind,
            &["Role", "ClusterRole"],
        ));
    } else if !namespaced && kind != "ClusterRole" {
        errs.push(FieldError::not_supported(
            "roleRef.kind",
            kind,
            &["ClusterRole"],
        ));
    }
    let name = text(role_ref, "name");
    if name.is_empty() {
        errs.push(FieldError::required("roleRef.name", ""));
    } else {
        errs.extend(
            is_valid_path_segment_name(name, false)
                .into_iter()
                .map(|m| FieldError::invalid("roleRef.name", name, m)),
        );
    }
    for (i, subject) in items(binding, "subjects").iter().enumerate() {
        let p = sub("subjects", i);
        let subject_name = text(subject, "name");
        if subject_name.is_empty() {
            errs.push(FieldError::required(child(&p, "name"), ""));
        }
        let subject_group = text(subject, "apiGroup");
        match text(subject, "kind") {
            "ServiceAccount" => {
                if !subject_name.is_empty() {
                    errs.extend(
                        is_dns1123_subdomain(subject_name)
                            .into_iter()
                            .map(|m| FieldError::invalid(child(&p, "name"), subject_name, m)),
                    );
                }
                if !subject_group.is_empty() {
                    errs.push(FieldError::not_supported(
                        child(&p, "apiGroup"),
                        subject_group,
                        &[""],
                    ));
                }
                if !namespaced && text(subject, "namespace").is_empty() {
                    errs.push(FieldError::required(child(&p, "namespace"), ""));
                }
            }
            "User" | "Group" => {
                let g = if subject_group.is_empty() {
                    RBAC_GROUP
                } else {
                    subject_group
                };
                if g != RBAC_GROUP {
                    errs.push(FieldError::not_supported(
                        child(&p, "apiGroup"),
                        g,
                        &[RBAC_GROUP],
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                child(&p, "kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
    errs
}

/// Upstream's `ValidateRoleBindingUpdate` / `ValidateClusterRoleBindingUpdate`.
fn role_binding_update(new: &Value, old: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = role_binding_errors(new, namespaced);
    errs.extend(core_meta_update(new, old));
    let (a, b) = (member(new, "roleRef"), member(old, "roleRef"));
    if go_role_ref(a) != go_role_ref(b) {
        errs.push(FieldError::invalid(
            "roleRef",
            go_repr(go_role_ref(a)),
            "cannot change roleRef",
        ));
    }
    errs
}

/// A CustomResourceDefinition's name must be `<plural>.<group>`.
fn crd_errors(crd: &Value) -> Vec<FieldError> {
    let mut errs = core_meta(crd, false, NameRule::Subdomain);
    let spec = member(crd, "spec");
    let name = text(member(crd, "metadata"), "name");
    let expected = format!(
        "{}.{}",
        text(member(spec, "names"), "plural"),
        text(spec, "group")
    );
    if name != expected {
        errs.push(FieldError::invalid(
            "metadata.name",
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let versions = items(spec, "versions");
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if storage != 1 {
        // Upstream prints the whole versions slice as the value; it is left out here.
        errs.push(FieldError {
            kind: FieldErrorKind::Invalid,
            field: "spec.versions".into(),
            value: None,
            detail: "must have exactly one version marked as storage version".into(),
        });
    }
    for (i, v) in versions.iter().enumerate() {
        let path = format!("spec.versions[{i}].schema.openAPIV3Schema");
        match v.get("schema").and_then(|s| s.get("openAPIV3Schema")) {
            None | Some(Value::Null) => {
                errs.push(FieldError::required(path, "schemas are required"));
            }
            Some(schema) => {
                if text(schema, "type").is_empty()
                    && schema.get("x-kubernetes-int-or-string").is_none()
                {
                    errs.push(FieldError::required(
                        format!("{path}.type"),
                        "must not be empty at the root",
                    ));
                }
            }
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// apps/v1 workloads
// ---------------------------------------------------------------------------------------------

use crate::selector::LabelSelector;

/// The non-null `spec.selector` of a workload.
fn spec_selector(spec: &Value) -> Option<&Value> {
    spec.get("selector").filter(|v| !v.is_null())
}

/// The selector as upstream's `LabelSelectorAsSelector` sees it (absent selects nothing).
fn as_selector(selector: Option<&Value>) -> Result<LabelSelector, String> {
    selector.map_or_else(|| Ok(LabelSelector::nothing()), LabelSelector::from_value)
}

/// Whether a template's labels satisfy a selector.
fn selector_matches(selector: &LabelSelector, template: &Value) -> bool {
    let empty = Map::new();
    selector.matches(template_labels(template).unwrap_or(&empty))
}

/// The `selector` required / valid / non-empty checks shared by Deployment, ReplicaSet and
/// StatefulSet; `kind` is the word upstream's "empty selector" message uses.
fn required_selector_errors(selector: Option<&Value>, kind: &str) -> Vec<FieldError> {
    match selector {
        None => vec![FieldError::required("spec.selector", "")],
        Some(sel) => {
            let mut errs = validate_label_selector(sel, "spec.selector");
            if object(sel, "matchLabels").map_or(0, Map::len) + items(sel, "matchExpressions").len()
                == 0
            {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    go_repr(go_label_selector(sel)),
                    format!("empty selector is invalid for {kind}"),
                ));
            }
            errs
        }
    }
}

/// The shown value of a possibly-nil `*metav1.LabelSelector`.
fn selector_value(selector: Option<&Value>) -> Value {
    selector.map_or(Value::Null, |s| go_repr(go_label_selector(s)))
}

/// `spec.selector` is immutable (the apps/v1 strategies' rule).
fn selector_immutable(new_spec: &Value, old_spec: &Value) -> Option<FieldError> {
    immutable(
        member(new_spec, "selector"),
        member(old_spec, "selector"),
        "spec.selector",
        selector_value(spec_selector(new_spec)),
    )
}

/// Upstream's `ValidatePodTemplateSpecForReplicaSet` (Deployments and ReplicaSets).
fn replica_set_template_errors(template: &Value, selector: &LabelSelector) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !selector.is_empty() && !selector_matches(selector, template) {
        errs.push(selector_mismatch(template, "spec.template"));
    }
    errs.extend(pod_template_errors(template, "spec.template"));
    errs.extend(restart_always_errors(template, "spec.template"));
    if present(member(template, "spec"), "activeDeadlineSeconds") {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        ));
    }
    errs
}

/// The optional non-negative integer fields of a spec.
fn nonnegative_fields(spec: &Value, fields: &[&str]) -> Vec<FieldError> {
    fields
        .iter()
        .filter_map(|f| int(spec, f).and_then(|v| nonnegative(v, &child("spec", f))))
        .collect()
}

/// An `IntOrString` percentage's value (`getPercentValue`).
fn percent_value(v: &Value) -> Option<i64> {
    v.as_str()?.strip_suffix('%')?.parse().ok()
}

/// `ValidatePositiveIntOrPercent` plus the 100% cap where asked.
fn int_or_percent_errors(v: &Value, path: &str, cap_100: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match v {
        Value::String(s) => {
            errs.extend(
                is_valid_percent(s)
                    .into_iter()
                    .map(|m| FieldError::invalid(path, go_repr(go_int_or_string(Some(v))), m)),
            );
        }
        other => errs.extend(nonnegative(as_int(other).unwrap_or(0), path)),
    }
    if cap_100 && percent_value(v).is_some_and(|p| p > 100) {
        errs.push(FieldError::invalid(
            path,
            go_repr(go_int_or_string(Some(v))),
            "must not be greater than 100%",
        ));
    }
    errs
}

/// Upstream's `ValidateDeploymentStrategy` (type defaults to RollingUpdate with 25%/25%).
fn deployment_strategy_errors(strategy: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match opt_text(strategy, "type").unwrap_or("RollingUpdate") {
        "Recreate" => {
            if present(strategy, "rollingUpdate") {
                errs.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => {
            let rolling = member(strategy, "rollingUpdate");
            let default = Value::String("25%".into());
            let unavailable = rolling
                .get("maxUnavailable")
                .filter(|v| !v.is_null())
                .unwrap_or(&default);
            let surge = rolling
                .get("maxSurge")
                .filter(|v| !v.is_null())
                .unwrap_or(&default);
            let path = "spec.strategy.rollingUpdate";
            errs.extend(int_or_percent_errors(
                unavailable,
                &child(path, "maxUnavailable"),
                false,
            ));
            errs.extend(int_or_percent_errors(
                surge,
                &child(path, "maxSurge"),
                false,
            ));
            let value = |v: &Value| percent_value(v).or_else(|| as_int(v)).unwrap_or(0);
            if value(unavailable) == 0 && value(surge) == 0 {
                errs.push(FieldError::invalid(
                    child(path, "maxUnavailable"),
                    go_repr(go_int_or_string(Some(unavailable))),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
            if percent_value(unavailable).is_some_and(|p| p > 100) {
                errs.push(FieldError::invalid(
                    child(path, "maxUnavailable"),
                    go_repr(go_int_or_string(Some(unavailable))),
                    "must not be greater than 100%",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            "spec.strategy",
            go_repr(format!(
                "apps.DeploymentStrategy{{Type:{}, RollingUpdate:{}}}",
                go_quote(other),
                go_ptr(
                    strategy.get("rollingUpdate"),
                    "apps.RollingUpdateDeployment"
                )
            )),
            &["Recreate", "RollingUpdate"],
        )),
    }
    errs
}

/// Upstream's `ValidateDeploymentSpec`.
fn deployment_spec_errors(spec: &Value) -> Vec<FieldError> {
    let mut errs = nonnegative_fields(spec, &["replicas"]);
    let selector = spec_selector(spec);
    errs.extend(required_selector_errors(selector, "deployment"));
    match as_selector(selector) {
        Err(_) => errs.push(FieldError::invalid(
            "spec.selector",
            selector_value(selector),
            "invalid label selector",
        )),
        Ok(sel) => errs.extend(replica_set_template_errors(member(spec, "template"), &sel)),
    }
    errs.extend(deployment_strategy_errors(member(spec, "strategy")));
    errs.extend(nonnegative_fields(
        spec,
        &["minReadySeconds", "revisionHistoryLimit"],
    ));
    if let Some(deadline) = int(spec, "progressDeadlineSeconds")
        && deadline <= int(spec, "minReadySeconds").unwrap_or(0)
    {
        errs.push(FieldError::invalid(
            "spec.progressDeadlineSeconds",
            deadline,
            "must be greater than minReadySeconds",
        ));
    }
    errs
}

/// Upstream's `ValidateReplicaSetSpec` (whose empty-selector message says "deployment", sic).
fn replica_set_spec_errors(spec: &Value) -> Vec<FieldError> {
    let mut errs = nonnegative_fields(spec, &["replicas", "minReadySeconds"]);
    let selector = spec_selector(spec);
    errs.extend(required_selector_errors(selector, "deployment"));
    match as_selector(selector) {
        Err(_) => errs.push(FieldError::invalid(
            "spec.selector",
            selector_value(selector),
            "invalid label selector",
        )),
        Ok(sel) => errs.extend(replica_set_template_errors(member(spec, "template"), &sel)),
    }
    errs
}

/// Upstream's `ValidateDaemonSetSpec`.
fn daemon_set_spec_errors(spec: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let selector = spec_selector(spec);
    if let Some(sel) = selector {
        errs.extend(validate_label_selector(sel, "spec.selector"));
    }
    let template = member(spec, "template");
    if let Ok(sel) = as_selector(selector)
        && !selector_matches(&sel, template)
    {
        errs.push(selector_mismatch(template, "spec.template"));
    }
    if let Some(sel) = selector
        && object(sel, "matchLabels").map_or(0, Map::len) + items(sel, "matchExpressions").len()
            == 0
    {
        errs.push(FieldError::invalid(
            "spec.selector",
            go_repr(go_label_selector(sel)),
            "empty selector is invalid for daemonset",
        ));
    }
    errs.extend(pod_template_errors(template, "spec.template"));
    errs.extend(restart_always_errors(template, "spec.template"));
    if let Some(deadline) = member(template, "spec")
        .get("activeDeadlineSeconds")
        .filter(|v| !v.is_null())
    {
        errs.push(FieldError::invalid(
            "spec.template.spec.activeDeadlineSeconds",
            deadline.clone(),
            "activeDeadlineSeconds in DaemonSet is not Supported",
        ));
    }
    errs.extend(nonnegative_fields(
        spec,
        &["minReadySeconds", "revisionHistoryLimit"],
    ));
    let strategy = member(spec, "updateStrategy");
    match opt_text(strategy, "type").unwrap_or("RollingUpdate") {
        "OnDelete" => {}
        "RollingUpdate" => {
            if let Some(v) = member(strategy, "rollingUpdate")
                .get("maxUnavailable")
                .filter(|v| !v.is_null())
            {
                errs.extend(int_or_percent_errors(
                    v,
                    "spec.updateStrategy.rollingUpdate.maxUnavailable",
                    true,
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            "spec.updateStrategy",
            go_repr(format!(
                "apps.DaemonSetUpdateStrategy{{Type:{}, RollingUpdate:{}}}",
                go_quote(other),
                go_ptr(strategy.get("rollingUpdate"), "apps.RollingUpdateDaemonSet")
            )),
            &["RollingUpdate", "OnDelete"],
        )),
    }
    errs
}

/// Upstream's `ValidateStatefulSetSpec` (its template's pod spec is not validated upstream).
fn stateful_set_spec_errors(spec: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(policy) = opt_text(spec, "podManagementPolicy") {
        match policy {
            "OrderedReady" | "Parallel" => {}
            "" => errs.push(FieldError::required("spec.podManagementPolicy", "")),
            _ => errs.push(FieldError::invalid(
                "spec.podManagementPolicy",
                policy,
                "must be 'OrderedReady' or 'Parallel'",
            )),
        }
    }
    let strategy = member(spec, "updateStrategy");
    let rolling = strategy.get("rollingUpdate").filter(|v| !v.is_null());
    match opt_text(strategy, "type").unwrap_or("RollingUpdate") {
        "" => errs.push(FieldError::required("spec.updateStrategy", "")),
        "OnDelete" => {
            if let Some(r) = rolling {
                errs.push(FieldError::invalid(
                    "spec.updateStrategy.rollingUpdate",
                    go_repr(format!(
                        "apps.RollingUpdateStatefulSetStrategy{{Partition:{}, MaxUnavailable:{}}}",
                        int(r, "partition").unwrap_or(0),
                        go_ptr(r.get("maxUnavailable"), "intstr.IntOrString")
                    )),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(p) = rolling.and_then(|r| int(r, "partition")) {
                errs.extend(nonnegative(
                    p,
                    "spec.updateStrategy.rollingUpdate.partition",
                ));
            }
        }
        other => errs.push(FieldError::invalid(
            "spec.updateStrategy",
            go_repr(format!(
                "apps.StatefulSetUpdateStrategy{{Type:{}, RollingUpdate:{}}}",
                go_quote(other),
                go_ptr(rolling, "apps.RollingUpdateStatefulSetStrategy")
            )),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    errs.extend(nonnegative_fields(spec, &["replicas", "minReadySeconds"]));
    if let Some(start) = int(member(spec, "ordinals"), "start") {
        errs.extend(nonnegative(start, "spec.ordinals.start"));
    }
    let service_name = text(spec, "serviceName");
    if !service_name.is_empty() {
        errs.extend(
            is_dns1123_label(service_name)
                .into_iter()
                .map(|m| FieldError::invalid("spec.serviceName", service_name, m)),
        );
    }
    let selector = spec_selector(spec);
    errs.extend(required_selector_errors(selector, "statefulset"));
    let template = member(spec, "template");
    match as_selector(selector) {
        Err(_) => errs.push(FieldError::invalid(
            "spec.selector",
            selector_value(selector),
            "",
        )),
        Ok(sel) => {
            if !sel.is_empty() && !selector_matches(&sel, template) {
                errs.push(selector_mismatch(template, "spec.template"));
            }
            let meta = member(template, "metadata");
            errs.extend(labels_errors(
                object(meta, "labels"),
                "spec.template.labels",
            ));
            errs.extend(annotations_errors(
                object(meta, "annotations"),
                "spec.template.annotations",
            ));
        }
    }
    errs.extend(restart_always_errors(template, "spec.template"));
    if present(member(template, "spec"), "activeDeadlineSeconds") {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in StatefulSet is not Supported",
        ));
    }
    errs
}

/// The StatefulSet spec fields an update may change in v1.33.
const STATEFUL_SET_MUTABLE: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

/// Upstream's `ValidateStatefulSetUpdate` (the name is not re-checked).
fn stateful_set_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = core_meta_update(new, old);
    let spec = member(new, "spec");
    let old_spec = member(old, "spec");
    errs.extend(stateful_set_spec_errors(spec));
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(map) = v.as_object_mut() {
            for field in STATEFUL_SET_MUTABLE {
                map.remove(*field);
            }
        }
        v
    };
    if !sem_eq(&strip(spec), &strip(old_spec)) {
        errs.push(FieldError::forbidden(
            "spec",
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ));
    }
    errs
}

/// A workload's create validation: core ObjectMeta plus its spec rules.
fn workload_create(
    obj: &Value,
    rule: NameRule,
    spec_errors: fn(&Value) -> Vec<FieldError>,
) -> Vec<FieldError> {
    let mut errs = core_meta(obj, true, rule);
    errs.extend(spec_errors(member(obj, "spec")));
    errs
}

/// A Deployment/ReplicaSet/DaemonSet update: ObjectMeta update, spec rules, immutable selector.
fn workload_update(
    new: &Value,
    old: &Value,
    spec_errors: fn(&Value) -> Vec<FieldError>,
) -> Vec<FieldError> {
    let mut errs = core_meta_update(new, old);
    let spec = member(new, "spec");
    errs.extend(spec_errors(spec));
    errs.extend(selector_immutable(spec, member(old, "spec")));
    errs
}

// ---------------------------------------------------------------------------------------------
// batch/v1
// ---------------------------------------------------------------------------------------------

/// Upstream's `validateJobSpec` at `path` (a Job's `spec` or a CronJob's `spec.jobTemplate.spec`).
fn job_spec_errors(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ] {
        if let Some(v) = int(spec, field) {
            errs.extend(nonnegative(v, &child(path, field)));
        }
    }
    if let Some(mode) = opt_text(spec, "completionMode") {
        if mode != "NonIndexed" && mode != "Indexed" {
            errs.push(FieldError::not_supported(
                child(path, "completionMode"),
                mode,
                &["NonIndexed", "Indexed"],
            ));
        } else if mode == "Indexed" && !present(spec, "completions") {
            errs.push(FieldError::required(
                child(path, "completions"),
                "when completion mode is Indexed",
            ));
        }
    }
    let template_path = child(path, "template");
    let template = member(spec, "template");
    errs.extend(pod_template_errors(template, &template_path));
    let policy_path = child(&template_path, "spec.restartPolicy");
    match opt_text(member(template, "spec"), "restartPolicy").unwrap_or("Always") {
        "Always" | "" => errs.push(FieldError::required(
            policy_path,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        "OnFailure" | "Never" => {}
        other => errs.push(FieldError::not_supported(
            policy_path,
            other,
            &["OnFailure", "Never"],
        )),
    }
    errs
}

/// Whether a Job picks its own selector (the API server generates it unless `manualSelector`).
fn job_manual_selector(job: &Value) -> bool {
    boolean(member(job, "spec"), "manualSelector") == Some(true)
}

/// The selector rules of `ValidateJobSpec`; skipped for generated selectors, which the API
/// server derives from the Job's UID before validating.
fn job_selector_errors(job: &Value) -> Vec<FieldError> {
    if !job_manual_selector(job) {
        return Vec::new();
    }
    let spec = member(job, "spec");
    let selector = spec_selector(spec);
    let mut errs = match selector {
        None => vec![FieldError::required("spec.selector", "")],
        Some(sel) => validate_label_selector(sel, "spec.selector"),
    };
    let template = member(spec, "template");
    if let Ok(sel) = as_selector(selector)
        && !selector_matches(&sel, template)
    {
        errs.push(selector_mismatch(template, "spec.template"));
    }
    errs
}

/// Upstream's `ValidateJob`.
fn job_create(job: &Value) -> Vec<FieldError> {
    let mut errs = core_meta(job, true, NameRule::Subdomain);
    errs.extend(job_spec_errors(member(job, "spec"), "spec"));
    errs.extend(job_selector_errors(job));
    errs
}

/// Upstream's `ValidateJobUpdate`: completions, selector and (unless a suspended Job has not
/// started) the pod template are immutable.
fn job_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = core_meta_update(new, old);
    let spec = member(new, "spec");
    let old_spec = member(old, "spec");
    errs.extend(job_spec_errors(spec, "spec"));
    errs.extend(job_selector_errors(new));
    let completions = member(spec, "completions");
    if opt_text(spec, "completionMode") == Some("Indexed") {
        if !sem_eq(completions, member(old_spec, "completions"))
            && !completions.is_null()
            && as_int(completions) != int(spec, "parallelism")
        {
            errs.push(FieldError::invalid(
                "spec.completions",
                completions.clone(),
                "can only be modified in tandem with spec.parallelism",
            ));
        }
    } else {
        errs.extend(immutable(
            completions,
            member(old_spec, "completions"),
            "spec.completions",
            ptr_value(completions),
        ));
    }
    errs.extend(selector_immutable(spec, old_spec));
    let template = member(spec, "template");
    let mut old_template = member(old_spec, "template").clone();
    let suspended = boolean(spec, "suspend") == Some(true);
    if suspended && !present(member(old, "status"), "startTime") {
        // Scheduling directives of a suspended, never-started Job may change.
        for pointer in [
            "/metadata/labels",
            "/metadata/annotations",
            "/spec/nodeSelector",
            "/spec/tolerations",
            "/spec/affinity",
            "/spec/schedulingGates",
        ] {
            let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
            let value = template.pointer(pointer).cloned().unwrap_or(Value::Null);
            if let Some(map) = old_template
                .pointer_mut(parent)
                .and_then(Value::as_object_mut)
            {
                map.insert(key.to_string(), value);
            }
        }
    }
    errs.extend(immutable(
        template,
        &old_template,
        "spec.template",
        template.clone(),
    ));
    let mode = member(spec, "completionMode");
    errs.extend(immutable(
        mode,
        member(old_spec, "completionMode"),
        "spec.completionMode",
        ptr_value(mode),
    ));
    errs
}

/// `time.ParseDuration`'s acceptance of `@every` arguments, with its error messages.
fn parse_go_duration(s: &str) -> Result<(), String> {
    let quoted = go_quote(s);
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body == "0" {
        return Ok(());
    }
    if body.is_empty() {
        return Err(format!("time: invalid duration {quoted}"));
    }
    let mut rest = body;
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        let number = &rest[..num_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(format!("time: invalid duration {quoted}"));
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .bytes()
            .take_while(|c| !(c.is_ascii_digit() || *c == b'.'))
            .count();
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {quoted}"));
        }
        if !matches!(unit, "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h") {
            return Err(format!(
                "time: unknown unit {} in duration {quoted}",
                go_quote(unit)
            ));
        }
        rest = &rest[unit_len..];
    }
    Ok(())
}

/// `strconv.Atoi` as robfig/cron's `mustParseInt` uses it.
fn cron_int(expr: &str) -> Result<u64, String> {
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {}: invalid syntax",
            go_quote(expr)
        ));
    }
    let n: i64 = expr.parse().map_err(|_| {
        format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {}: value out of range",
            go_quote(expr)
        )
    })?;
    u64::try_from(n).map_err(|_| format!("negative number ({n}) not allowed: {expr}"))
}

/// One cron field's bounds and names.
struct CronBounds {
    min: u64,
    max: u64,
    names: &'static [(&'static str, u64)],
}

const CRON_MONTHS: &[(&str, u64)] = &[
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("may", 5),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
];
const CRON_DAYS: &[(&str, u64)] = &[
    ("sun", 0),
    ("mon", 1),
    ("tue", 2),
    ("wed", 3),
    ("thu", 4),
    ("fri", 5),
    ("sat", 6),
];

/// robfig/cron's `getRange` for one comma-separated part of a field.
fn cron_range(expr: &str, bounds: &CronBounds) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let int_or_name = |s: &str| -> Result<u64, String> {
        let lower = s.to_lowercase();
        match bounds.names.iter().find(|(name, _)| *name == lower) {
            Some((_, n)) => Ok(*n),
            None => cron_int(s),
        }
    };
    let (start, mut end) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (bounds.min, bounds.max)
    } else {
        let start = int_or_name(low_and_high[0])?;
        match low_and_high.len() {
            1 => (start, start),
            2 => (start, int_or_name(low_and_high[1])?),
            _ => return Err(format!("too many hyphens: {expr}")),
        }
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = cron_int(range_and_step[1])?;
            if single {
                end = bounds.max;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < bounds.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            bounds.min
        ));
    }
    if end > bounds.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            bounds.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(())
}

/// robfig/cron v3 `ParseStandard`'s acceptance of a schedule, with its error messages.
fn parse_cron_standard(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    let mut spec = spec;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        spec = spec.split_once(' ').map_or("", |(_, rest)| rest.trim());
    }
    if let Some(descriptor) = spec.strip_prefix('@') {
        return match descriptor {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            _ => match spec.strip_prefix("@every ") {
                Some(duration) => parse_go_duration(duration)
                    .map_err(|e| format!("failed to parse duration {spec}: {e}")),
                None => Err(format!("unrecognized descriptor: {spec}")),
            },
        };
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    let bounds = [
        CronBounds {
            min: 0,
            max: 59,
            names: &[],
        },
        CronBounds {
            min: 0,
            max: 23,
            names: &[],
        },
        CronBounds {
            min: 1,
            max: 31,
            names: &[],
        },
        CronBounds {
            min: 1,
            max: 12,
            names: CRON_MONTHS,
        },
        CronBounds {
            min: 0,
            max: 6,
            names: CRON_DAYS,
        },
    ];
    for (field, bounds) in fields.iter().zip(&bounds) {
        for part in field.split(',').filter(|p| !p.is_empty()) {
            cron_range(part, bounds)?;
        }
    }
    Ok(())
}

/// Upstream's `validateCronJobSpec`; `old` is the previous spec on update.
fn cron_job_spec_errors(spec: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let schedule = text(spec, "schedule");
    if schedule.is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    } else {
        if let Err(msg) = parse_cron_standard(schedule) {
            errs.push(FieldError::invalid("spec.schedule", schedule, msg));
        }
        let allow_tz = old.is_some_and(|o| text(o, "schedule").contains("TZ"));
        if schedule.contains("TZ") {
            if !allow_tz {
                errs.push(FieldError::invalid(
                    "spec.schedule",
                    schedule,
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                ));
            } else if present(spec, "timeZone") {
                errs.push(FieldError::invalid(
                    "spec.schedule",
                    schedule,
                    "cannot use both timeZone field and TZ or CRON_TZ in schedule",
                ));
            }
        }
    }
    errs.extend(nonnegative_fields(spec, &["startingDeadlineSeconds"]));
    let zone_changed = old.is_none_or(|o| member(o, "timeZone") != member(spec, "timeZone"));
    if zone_changed && opt_text(spec, "timeZone") == Some("") {
        errs.push(FieldError::invalid(
            "spec.timeZone",
            "",
            "timeZone must be nil or non-empty string",
        ));
    }
    errs.extend(enum_errors(
        spec,
        "concurrencyPolicy",
        "spec",
        &["Allow", "Forbid", "Replace"],
    ));
    let job_spec = member(member(spec, "jobTemplate"), "spec");
    errs.extend(job_spec_errors(job_spec, "spec.jobTemplate.spec"));
    if let Some(sel) = spec_selector(job_spec) {
        errs.push(FieldError::invalid(
            "spec.jobTemplate.spec.selector",
            go_repr(go_label_selector(sel)),
            "`selector` will be auto-generated",
        ));
    }
    if boolean(job_spec, "manualSelector") == Some(true) {
        errs.push(FieldError::not_supported(
            "spec.jobTemplate.spec.manualSelector",
            true,
            &["nil", "false"],
        ));
    }
    errs.extend(nonnegative_fields(
        spec,
        &["successfulJobsHistoryLimit", "failedJobsHistoryLimit"],
    ));
    errs
}

/// Upstream's `ValidateCronJobCreate` (names leave room for the 11-character job suffix).
fn cron_job_create(cj: &Value) -> Vec<FieldError> {
    let mut errs = core_meta(cj, true, NameRule::Subdomain);
    errs.extend(cron_job_spec_errors(member(cj, "spec"), None));
    let name = text(member(cj, "metadata"), "name");
    if name.len() > 52 {
        errs.push(FieldError::invalid(
            "metadata.name",
            name,
            "must be no more than 52 characters",
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Validates an object being created in `group`/`resource`, as upstream's strategy `Validate`:
/// ObjectMeta plus the kind's rules; resources without specific rules get the ObjectMeta
/// checks only (namespaced-ness inferred from `metadata.namespace` when the resource is unknown).
pub fn validate_create(group: &str, resource: &str, obj: &Value) -> Vec<FieldError> {
    match (group, resource) {
        ("", "pods") => pod_create(obj),
        ("", "configmaps") => configmap_errors(obj),
        ("", "secrets") => secret_errors(obj),
        ("", "services") => service_errors(obj),
        ("", "namespaces") => namespace_errors(obj),
        ("", "nodes") => node_errors(obj),
        ("", "persistentvolumeclaims") => pvc_errors(obj),
        ("", "replicationcontrollers") => rc_errors(obj),
        ("", "podtemplates") => {
            let mut errs = core_meta(obj, true, NameRule::Subdomain);
            errs.extend(pod_template_errors(member(obj, "template"), "template"));
            errs
        }
        ("", "events") => core_event_errors(obj),
        ("apps", "deployments") => {
            workload_create(obj, NameRule::Subdomain, deployment_spec_errors)
        }
        ("apps", "replicasets") => {
            workload_create(obj, NameRule::Subdomain, replica_set_spec_errors)
        }
        ("apps", "daemonsets") => workload_create(obj, NameRule::Subdomain, daemon_set_spec_errors),
        ("apps", "statefulsets") => workload_create(obj, NameRule::Label, stateful_set_spec_errors),
        ("batch", "jobs") => job_create(obj),
        ("batch", "cronjobs") => cron_job_create(obj),
        (RBAC_GROUP, "roles") => role_errors(obj, true),
        (RBAC_GROUP, "clusterroles") => role_errors(obj, false),
        (RBAC_GROUP, "rolebindings") => role_binding_errors(obj, true),
        (RBAC_GROUP, "clusterrolebindings") => role_binding_errors(obj, false),
        ("apiextensions.k8s.io", "customresourcedefinitions") => crd_errors(obj),
        _ => match builtin_namespaced(group, resource) {
            Some(namespaced) => core_meta(obj, namespaced, name_rule(group, resource)),
            None => {
                let namespaced = !text(member(obj, "metadata"), "namespace").is_empty();
                validate_object_meta(obj, namespaced, name_rule(group, resource))
            }
        },
    }
}

/// Validates an update of `old` to `new` in `group`/`resource`, as upstream's strategy
/// `ValidateUpdate`: ObjectMeta immutability plus the kind's rules and immutable fields.
/// Both objects are expected to be defaulted alike (upstream compares defaulted specs).
pub fn validate_update(group: &str, resource: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    match (group, resource) {
        ("", "pods") => pod_update(new, old),
        ("", "configmaps") => configmap_update(new, old),
        ("", "secrets") => secret_update(new, old),
        ("", "services") => service_update(new, old),
        ("", "nodes") => node_update(new, old),
        ("", "persistentvolumeclaims") => pvc_update(new, old),
        ("", "replicationcontrollers") => {
            let mut errs = core_meta_update(new, old);
            let mut spec_errs = rc_errors(new);
            spec_errs.retain(|e| !e.field.starts_with("metadata."));
            errs.extend(spec_errs);
            errs
        }
        ("", "podtemplates") => {
            let mut errs = core_meta_update(new, old);
            errs.extend(pod_template_errors(member(new, "template"), "template"));
            errs
        }
        ("", "events") => core_event_errors(new),
        ("apps", "deployments") => workload_update(new, old, deployment_spec_errors),
        ("apps", "replicasets") => workload_update(new, old, replica_set_spec_errors),
        ("apps", "daemonsets") => workload_update(new, old, daemon_set_spec_errors),
        ("apps", "statefulsets") => stateful_set_update(new, old),
        ("batch", "jobs") => job_update(new, old),
        ("batch", "cronjobs") => {
            let mut errs = core_meta_update(new, old);
            errs.extend(cron_job_spec_errors(
                member(new, "spec"),
                Some(member(old, "spec")),
            ));
            errs
        }
        (RBAC_GROUP, "roles" | "clusterroles") => {
            let mut errs = role_errors(new, resource == "roles");
            errs.extend(core_meta_update(new, old));
            errs
        }
        (RBAC_GROUP, "rolebindings") => role_binding_update(new, old, true),
        (RBAC_GROUP, "clusterrolebindings") => role_binding_update(new, old, false),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let mut errs = core_meta_update(new, old);
            let mut spec_errs = crd_errors(new);
            spec_errs.retain(|e| !e.field.starts_with("metadata."));
            errs.extend(spec_errs);
            errs
        }
        _ if builtin_namespaced(group, resource).is_some() => core_meta_update(new, old),
        _ => validate_object_meta_update(new, old),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const DNS1035_ERR: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
    const NAME_PART_ERR: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const POD_UPDATE_PREFIX: &str = "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n";

    fn msgs(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(FieldError::to_string_full).collect()
    }

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "default", "uid": "u1"}, "spec": spec})
    }

    fn containers() -> Value {
        json!([{"name": "c", "image": "nginx:1"}])
    }

    fn template(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}, "spec": {"containers": containers()}})
    }

    fn workload(spec: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn web_spec() -> Value {
        json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"}))})
    }

    /// Runs create cases: (name, group, resource, object, expected errors).
    fn check_create(cases: Vec<(&str, &str, &str, Value, Vec<String>)>) {
        for (name, group, resource, obj, want) in cases {
            assert_eq!(
                msgs(&validate_create(group, resource, &obj)),
                want,
                "case {name:?}"
            );
        }
    }

    /// Runs update cases: (name, group, resource, new, old, expected errors).
    fn check_update(cases: Vec<(&str, &str, &str, Value, Value, Vec<String>)>) {
        for (name, group, resource, new, old, want) in cases {
            assert_eq!(
                msgs(&validate_update(group, resource, &new, &old)),
                want,
                "case {name:?}"
            );
        }
    }

    fn s(v: &str) -> String {
        v.to_string()
    }

    #[test]
    fn field_errors_render_like_error_body() {
        let cases: Vec<(&str, FieldError, &str)> = vec![
            (
                "invalid string",
                FieldError::invalid("metadata.name", "Bad_Name", "bad"),
                "metadata.name: Invalid value: \"Bad_Name\": bad",
            ),
            (
                "invalid integer",
                FieldError::invalid("spec.replicas", -1, "neg"),
                "spec.replicas: Invalid value: -1: neg",
            ),
            (
                "invalid bool",
                FieldError::invalid("f", true, "d"),
                "f: Invalid value: true: d",
            ),
            (
                "invalid float",
                FieldError::invalid("f", 1.5, "d"),
                "f: Invalid value: 1.5: d",
            ),
            (
                "invalid null",
                FieldError::invalid("f", Value::Null, "d"),
                "f: Invalid value: \"null\": d",
            ),
            (
                "invalid string list",
                FieldError::invalid("f", json!(["a", "b"]), "d"),
                "f: Invalid value: []string{\"a\", \"b\"}: d",
            ),
            (
                "invalid string map sorted",
                FieldError::invalid("f", json!({"b": "2", "a": "1"}), "d"),
                "f: Invalid value: map[string]string{\"a\":\"1\", \"b\":\"2\"}: d",
            ),
            (
                "invalid go repr",
                FieldError::invalid("f", go_repr("v1.X{}"), "d"),
                "f: Invalid value: v1.X{}: d",
            ),
            (
                "invalid other json",
                FieldError::invalid("f", json!({"a": 1}), "d"),
                "f: Invalid value: {\"a\":1}: d",
            ),
            (
                "required bare",
                FieldError::required("spec.containers", ""),
                "spec.containers: Required value",
            ),
            (
                "required detail",
                FieldError::required("metadata.name", "name or generateName is required"),
                "metadata.name: Required value: name or generateName is required",
            ),
            (
                "forbidden",
                FieldError::forbidden("metadata.namespace", "not allowed on this type"),
                "metadata.namespace: Forbidden: not allowed on this type",
            ),
            (
                "not supported",
                FieldError::not_supported("spec.restartPolicy", "x", &["a", "b"]),
                "spec.restartPolicy: Unsupported value: \"x\": supported values: \"a\", \"b\"",
            ),
            (
                "not supported without list",
                FieldError::not_supported("f", "x", &[]),
                "f: Unsupported value: \"x\"",
            ),
            (
                "duplicate",
                FieldError::duplicate("f", "x"),
                "f: Duplicate value: \"x\"",
            ),
            (
                "not found",
                FieldError::not_found("f", "vol"),
                "f: Not found: \"vol\"",
            ),
            (
                "too long",
                FieldError::too_long("metadata.annotations", 262144),
                "metadata.annotations: Too long: may not be more than 262144 bytes",
            ),
            (
                "too many",
                FieldError::too_many("f", 5, 3),
                "f: Too many: 5: must have at most 3 items",
            ),
            (
                "too many unknown count",
                FieldError::too_many("f", -1, 3),
                "f: Too many: must have at most 3 items",
            ),
            (
                "omitted value",
                FieldError {
                    kind: FieldErrorKind::Invalid,
                    field: s("f"),
                    value: None,
                    detail: s("d"),
                },
                "f: Invalid value: d",
            ),
        ];
        for (name, err, want) in cases {
            assert_eq!(err.to_string_full(), want, "case {name:?}");
            assert_eq!(err.to_string(), want, "case {name:?} (Display)");
        }
        let reasons = [
            (FieldErrorKind::Invalid, "FieldValueInvalid"),
            (FieldErrorKind::Required, "FieldValueRequired"),
            (FieldErrorKind::Forbidden, "FieldValueForbidden"),
            (FieldErrorKind::NotSupported, "FieldValueNotSupported"),
            (FieldErrorKind::Duplicate, "FieldValueDuplicate"),
            (FieldErrorKind::TooLong, "FieldValueTooLong"),
            (FieldErrorKind::TooMany, "FieldValueTooMany"),
            (FieldErrorKind::NotFound, "FieldValueNotFound"),
        ];
        for (kind, want) in reasons {
            assert_eq!(kind.reason(), want, "case {kind:?}");
        }
    }

    #[test]
    fn go_quote_and_float_match_go_fmt() {
        let quotes: &[(&str, &str, &str)] = &[
            ("plain", "abc", "\"abc\""),
            ("quote and backslash", "a\"b\\c", "\"a\\\"b\\\\c\""),
            (
                "controls",
                "\n\t\u{7}\u{0}\u{7f}",
                "\"\\n\\t\\a\\x00\\x7f\"",
            ),
            ("printable unicode", "héllo ✓ 日本", "\"héllo ✓ 日本\""),
            ("zero width space", "\u{200b}", "\"\\u200b\""),
            ("no-break space", "\u{a0}", "\"\\u00a0\""),
            ("private use plane", "\u{F0000}", "\"\\U000f0000\""),
            ("emoji", "😀", "\"😀\""),
        ];
        for (name, input, want) in quotes {
            assert_eq!(go_quote(input), *want, "case {name:?}");
        }
        let floats: &[(&str, f64, &str)] = &[
            ("million", 1e6, "1e+06"),
            ("fraction", 1.5, "1.5"),
            ("small", 0.0001, "0.0001"),
            ("smaller", 0.00001, "1e-05"),
            ("six digits", 123456.0, "123456"),
            ("seven digits", 1234567.0, "1.234567e+06"),
            ("negative", -2.5, "-2.5"),
            ("hundred", 100.0, "100"),
            ("huge", 1e21, "1e+21"),
        ];
        for (name, input, want) in floats {
            assert_eq!(go_float(*input), *want, "case {name:?}");
        }
    }

    #[test]
    fn invalid_message_aggregates_like_new_invalid() {
        let one = [FieldError::required("spec.containers", "")];
        let dup = [
            FieldError::required("a", ""),
            FieldError::required("a", ""),
            FieldError::required("b", ""),
        ];
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "one error",
                invalid_message("Pod", "p", &one),
                "Pod \"p\" is invalid: spec.containers: Required value",
            ),
            (
                "several deduplicated",
                invalid_message(&qualified_kind("apps", "Deployment"), "web", &dup),
                "Deployment.apps \"web\" is invalid: [a: Required value, b: Required value]",
            ),
            (
                "no errors",
                invalid_message("Pod", "p", &[]),
                "Pod \"p\" is invalid",
            ),
            (
                "quoted name",
                invalid_message("Pod", "a\"b", &one),
                "Pod \"a\\\"b\" is invalid: spec.containers: Required value",
            ),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "case {name:?}");
        }
        assert_eq!(qualified_kind("", "Pod"), "Pod", "case \"core kind\"");
        assert_eq!(aggregate_message(&[]), None, "case \"empty aggregate\"");
    }

    #[test]
    fn name_checks_match_apimachinery() {
        let cases: Vec<(&str, Vec<String>, Vec<String>)> = vec![
            ("label ok", is_dns1123_label("my-name"), vec![]),
            (
                "label upper",
                is_dns1123_label("Bad_Name"),
                vec![s(LABEL_ERR)],
            ),
            (
                "label with dots",
                is_dns1123_label("a.b"),
                vec![s("must not contain dots")],
            ),
            (
                "label too long",
                is_dns1123_label(&"a".repeat(64)),
                vec![s("must be no more than 63 characters")],
            ),
            ("label empty", is_dns1123_label(""), vec![s(LABEL_ERR)]),
            ("subdomain ok", is_dns1123_subdomain("a.b-c.d"), vec![]),
            (
                "subdomain trailing dot",
                is_dns1123_subdomain("a."),
                vec![s(SUBDOMAIN_ERR)],
            ),
            (
                "subdomain too long",
                is_dns1123_subdomain(&"a".repeat(254)),
                vec![s("must be no more than 253 characters")],
            ),
            (
                "dns1035 digit start",
                is_dns1035_label("1abc"),
                vec![s(DNS1035_ERR)],
            ),
            (
                "qualified ok",
                is_qualified_name("example.com/MyName"),
                vec![],
            ),
            (
                "qualified bad name",
                is_qualified_name("a_"),
                vec![s(NAME_PART_ERR)],
            ),
            (
                "qualified empty prefix",
                is_qualified_name("/a"),
                vec![s("prefix part must be non-empty")],
            ),
            (
                "qualified bad prefix",
                is_qualified_name("Ex/a"),
                vec![format!("prefix part {SUBDOMAIN_ERR}")],
            ),
            (
                "qualified empty name",
                is_qualified_name("a/"),
                vec![s("name part must be non-empty"), s(NAME_PART_ERR)],
            ),
            ("label value ok", is_valid_label_value(""), vec![]),
            ("config key ok", is_config_map_key("key.name_1-x"), vec![]),
            (
                "config key dots",
                is_config_map_key(".."),
                vec![s("must not be '..'")],
            ),
            (
                "config key dot prefix",
                is_config_map_key("..a"),
                vec![s("must not start with '..'")],
            ),
            ("port name ok", is_valid_port_name("http"), vec![]),
            (
                "port name digits",
                is_valid_port_name("80"),
                vec![s("must contain at least one letter (a-z)")],
            ),
            (
                "port num",
                is_valid_port_num(0),
                vec![s("must be between 1 and 65535, inclusive")],
            ),
            (
                "path segment dots",
                is_valid_path_segment_name("..", false),
                vec![s("may not be '..'")],
            ),
            (
                "path segment slash",
                is_valid_path_segment_name("a/b%", false),
                vec![s("may not contain '/'"), s("may not contain '%'")],
            ),
            (
                "generate name masks dash",
                NameRule::Subdomain.check("web-", true),
                vec![],
            ),
            (
                "unchecked",
                NameRule::Unchecked.check("Any Thing/%", false),
                vec![],
            ),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "case {name:?}");
        }
        let rules: &[(&str, &str, &str, NameRule)] = &[
            ("namespaces", "", "namespaces", NameRule::Label),
            ("services", "", "services", NameRule::Rfc1035Label),
            ("statefulsets", "apps", "statefulsets", NameRule::Label),
            (
                "roles",
                "rbac.authorization.k8s.io",
                "roles",
                NameRule::PathSegment,
            ),
            ("events", "", "events", NameRule::Unchecked),
            ("pods", "", "pods", NameRule::Subdomain),
            ("custom", "example.com", "widgets", NameRule::Subdomain),
        ];
        for (name, group, resource, want) in rules {
            assert_eq!(name_rule(group, resource), *want, "case {name:?}");
        }
    }

    #[test]
    fn quantities_canonicalize_like_resource_quantity() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("half core", "0.5", Some("500m")),
            ("milli to whole", "1000m", Some("1")),
            ("binary kept", "1536Mi", Some("1536Mi")),
            ("binary reduced", "2048Ki", Some("2Mi")),
            ("fractional binary", "1.5Gi", Some("1536Mi")),
            ("exponent", "1e3", Some("1e3")),
            ("plain", "1500", Some("1500")),
            ("thousand", "1000", Some("1k")),
            ("zero", "0Gi", Some("0")),
            ("negative", "-1Gi", Some("-1Gi")),
            ("small binary", "512Ki", Some("512Ki")),
            ("tiny exponent rounds up", "1e-12", Some("1e-9")),
            ("tiny suffix rounds up", "0.1n", Some("1n")),
            ("garbage", "abc", None),
            ("two dots", "1.2.3", None),
            ("empty", "", None),
            ("unknown suffix", "5Zi", None),
            ("overflow", "99999999999999999999999999Ei", None),
        ];
        for (name, input, want) in cases {
            assert_eq!(
                Quantity::parse(input).map(|q| q.canonical()).as_deref(),
                *want,
                "case {name:?}"
            );
        }
    }

    #[test]
    fn object_meta_rules_match_upstream() {
        let refs = json!([
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1", "controller": true},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "2", "controller": true}
        ]);
        let big = "x".repeat(256 * 1024);
        let cases: Vec<(&str, Value, bool, NameRule, Vec<String>)> = vec![
            (
                "valid",
                json!({"metadata": {"name": "a", "namespace": "ns"}}),
                true,
                NameRule::Subdomain,
                vec![],
            ),
            (
                "missing name and namespace",
                json!({"metadata": {}}),
                true,
                NameRule::Subdomain,
                vec![
                    s("metadata.name: Required value: name or generateName is required"),
                    s("metadata.namespace: Required value"),
                ],
            ),
            (
                "no metadata at all",
                json!(5),
                false,
                NameRule::Subdomain,
                vec![s(
                    "metadata.name: Required value: name or generateName is required",
                )],
            ),
            (
                "bad subdomain name",
                json!({"metadata": {"name": "Bad_Name", "namespace": "ns"}}),
                true,
                NameRule::Subdomain,
                vec![format!(
                    "metadata.name: Invalid value: \"Bad_Name\": {SUBDOMAIN_ERR}"
                )],
            ),
            (
                "namespace on cluster-scoped",
                json!({"metadata": {"name": "a", "namespace": "ns"}}),
                false,
                NameRule::Subdomain,
                vec![s("metadata.namespace: Forbidden: not allowed on this type")],
            ),
            (
                "bad namespace",
                json!({"metadata": {"name": "a", "namespace": "Ns"}}),
                true,
                NameRule::Subdomain,
                vec![format!(
                    "metadata.namespace: Invalid value: \"Ns\": {LABEL_ERR}"
                )],
            ),
            (
                "bad generate name",
                json!({"metadata": {"name": "a", "generateName": "Web-"}}),
                false,
                NameRule::Subdomain,
                vec![format!(
                    "metadata.generateName: Invalid value: \"Web-\": {SUBDOMAIN_ERR}"
                )],
            ),
            (
                "negative generation",
                json!({"metadata": {"name": "a", "generation": -1}}),
                false,
                NameRule::Subdomain,
                vec![s(
                    "metadata.generation: Invalid value: -1: must be greater than or equal to 0",
                )],
            ),
            (
                "bad label key and long value",
                json!({"metadata": {"name": "a", "labels": {"a_": "x", "ok": "v".repeat(64)}}}),
                false,
                NameRule::Subdomain,
                vec![
                    format!("metadata.labels: Invalid value: \"a_\": {NAME_PART_ERR}"),
                    format!(
                        "metadata.labels: Invalid value: \"{}\": must be no more than 63 characters",
                        "v".repeat(64)
                    ),
                ],
            ),
            (
                "annotation key is case-insensitive but must be qualified",
                json!({"metadata": {"name": "a", "annotations": {"Example.com/Key": "x", "bad key": "y"}}}),
                false,
                NameRule::Subdomain,
                vec![format!(
                    "metadata.annotations: Invalid value: \"bad key\": {NAME_PART_ERR}"
                )],
            ),
            (
                "annotations too large",
                json!({"metadata": {"name": "a", "annotations": {"k": big}}}),
                false,
                NameRule::Subdomain,
                vec![s(
                    "metadata.annotations: Too long: may not be more than 262144 bytes",
                )],
            ),
            (
                "two controllers",
                json!({"metadata": {"name": "a", "ownerReferences": refs}}),
                false,
                NameRule::Subdomain,
                vec![s(
                    "metadata.ownerReferences: Invalid value: []v1.OwnerReference{v1.OwnerReference{APIVersion:\"apps/v1\", Kind:\"ReplicaSet\", Name:\"a\", UID:\"1\", Controller:(*bool)(0xc000010000), BlockOwnerDeletion:(*bool)(nil)}, v1.OwnerReference{APIVersion:\"apps/v1\", Kind:\"ReplicaSet\", Name:\"b\", UID:\"2\", Controller:(*bool)(0xc000010000), BlockOwnerDeletion:(*bool)(nil)}}: Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/a and ReplicaSet/b",
                )],
            ),
            (
                "empty owner reference",
                json!({"metadata": {"name": "a", "ownerReferences": [{}]}}),
                false,
                NameRule::Subdomain,
                vec![
                    s(
                        "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty",
                    ),
                    s("metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty"),
                    s("metadata.ownerReferences.name: Invalid value: \"\": name must not be empty"),
                    s("metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty"),
                ],
            ),
            (
                "event owner",
                json!({"metadata": {"name": "a", "ownerReferences": [{"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "u"}]}}),
                false,
                NameRule::Subdomain,
                vec![s(
                    "metadata.ownerReferences: Invalid value: v1.OwnerReference{APIVersion:\"v1\", Kind:\"Event\", Name:\"e\", UID:\"u\", Controller:(*bool)(nil), BlockOwnerDeletion:(*bool)(nil)}: /v1, Kind=Event is disallowed from being an owner",
                )],
            ),
            (
                "conflicting finalizers",
                json!({"metadata": {"name": "a", "finalizers": ["orphan", "foregroundDeletion"]}}),
                false,
                NameRule::Subdomain,
                vec![s(
                    "metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\"}: finalizer orphan and foregroundDeletion cannot be both set",
                )],
            ),
            (
                "bad managed fields",
                json!({"metadata": {"name": "a", "managedFields": [{"operation": "Bad", "manager": "m\u{7}"}]}}),
                false,
                NameRule::Subdomain,
                vec![
                    s(
                        "metadata.managedFields[0].operation: Invalid value: \"Bad\": must be `Apply` or `Update`",
                    ),
                    s(
                        "metadata.managedFields[0].manager: Invalid value: \"m\\a\": invalid character U+0007 (at position 1)",
                    ),
                ],
            ),
            (
                "path segment name",
                json!({"metadata": {"name": "a/b"}}),
                false,
                NameRule::PathSegment,
                vec![s(
                    "metadata.name: Invalid value: \"a/b\": may not contain '/'",
                )],
            ),
        ];
        for (name, obj, namespaced, rule, want) in cases {
            assert_eq!(
                msgs(&validate_object_meta(&obj, namespaced, rule)),
                want,
                "case {name:?}"
            );
        }
    }

    #[test]
    fn object_meta_updates_keep_identity() {
        let old = json!({"metadata": {"name": "a", "namespace": "ns", "uid": "u1", "generation": 2,
            "creationTimestamp": "2024-01-02T03:04:05Z"}});
        let with = |patch: Value| {
            let mut v = old.clone();
            if let (Some(meta), Some(p)) = (v["metadata"].as_object_mut(), patch.as_object()) {
                for (k, val) in p {
                    if val.is_null() {
                        meta.remove(k);
                    } else {
                        meta.insert(k.clone(), val.clone());
                    }
                }
            }
            v
        };
        let deleting =
            with(json!({"deletionTimestamp": "2024-01-03T00:00:00Z", "finalizers": ["a/x"]}));
        let cases: Vec<(&str, Value, Value, Vec<String>)> = vec![
            ("unchanged", old.clone(), old.clone(), vec![]),
            (
                "uid changed",
                with(json!({"uid": "u2"})),
                old.clone(),
                vec![s("metadata.uid: Invalid value: \"u2\": field is immutable")],
            ),
            (
                "name changed",
                with(json!({"name": "b"})),
                old.clone(),
                vec![s("metadata.name: Invalid value: \"b\": field is immutable")],
            ),
            (
                "creation time changed",
                with(json!({"creationTimestamp": "2024-01-02T03:04:06Z"})),
                old.clone(),
                vec![s(
                    "metadata.creationTimestamp: Invalid value: 2024-01-02 03:04:06 +0000 UTC: field is immutable",
                )],
            ),
            (
                "creation time dropped",
                with(json!({"creationTimestamp": null})),
                old.clone(),
                vec![s(
                    "metadata.creationTimestamp: Invalid value: 0001-01-01 00:00:00 +0000 UTC: field is immutable",
                )],
            ),
            (
                "same instant other offset",
                with(json!({"creationTimestamp": "2024-01-02T05:04:05+02:00"})),
                old.clone(),
                vec![],
            ),
            (
                "generation decremented",
                with(json!({"generation": 1})),
                old.clone(),
                vec![s(
                    "metadata.generation: Invalid value: 1: must not be decremented",
                )],
            ),
            (
                "finalizer added while deleting",
                with(
                    json!({"deletionTimestamp": "2024-01-03T00:00:00Z", "finalizers": ["a/x", "b/y"]}),
                ),
                deleting.clone(),
                vec![s(
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b/y\"}",
                )],
            ),
            (
                "deletion timestamp removed",
                with(json!({"finalizers": ["a/x"]})),
                deleting.clone(),
                vec![s(
                    "metadata.deletionTimestamp: Invalid value: \"null\": field is immutable",
                )],
            ),
        ];
        for (name, new, old, want) in cases {
            assert_eq!(
                msgs(&validate_object_meta_update(&new, &old)),
                want,
                "case {name:?}"
            );
        }
    }

    #[test]
    fn pod_create_rules_match_upstream() {
        let c = |extra: Value| {
            let mut ctr = json!({"name": "c", "image": "nginx"});
            if let (Some(o), Some(e)) = (ctr.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            json!({"containers": [ctr]})
        };
        let cases: Vec<(&str, &str, &str, Value, Vec<String>)> = vec![
            ("valid", "", "pods", pod(c(json!({}))), vec![]),
            (
                "bad name",
                "",
                "pods",
                json!({"metadata": {"name": "Bad_Name", "namespace": "default"}, "spec": c(json!({}))}),
                vec![format!(
                    "metadata.name: Invalid value: \"Bad_Name\": {SUBDOMAIN_ERR}"
                )],
            ),
            (
                "no containers",
                "",
                "pods",
                pod(json!({})),
                vec![s("spec.containers: Required value")],
            ),
            (
                "container without name and image",
                "",
                "pods",
                pod(json!({"containers": [{}]})),
                vec![
                    s("spec.containers[0].name: Required value"),
                    s("spec.containers[0].image: Required value"),
                ],
            ),
            (
                "bad container name",
                "",
                "pods",
                pod(json!({"containers": [{"name": "Web_1", "image": "x"}]})),
                vec![format!(
                    "spec.containers[0].name: Invalid value: \"Web_1\": {LABEL_ERR}"
                )],
            ),
            (
                "duplicate container names",
                "",
                "pods",
                pod(
                    json!({"containers": [{"name": "c", "image": "x"}, {"name": "c", "image": "y"}]}),
                ),
                vec![s("spec.containers[1].name: Duplicate value: \"c\"")],
            ),
            (
                "init container clashes with container",
                "",
                "pods",
                pod(
                    json!({"containers": [{"name": "c", "image": "x"}], "initContainers": [{"name": "c", "image": "y"}]}),
                ),
                vec![s("spec.initContainers[0].name: Duplicate value: \"c\"")],
            ),
            (
                "port out of range",
                "",
                "pods",
                pod(c(json!({"ports": [{"containerPort": 70000}]}))),
                vec![s(
                    "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                )],
            ),
            (
                "port missing",
                "",
                "pods",
                pod(c(json!({"ports": [{"protocol": "HTTP"}]}))),
                vec![
                    s("spec.containers[0].ports[0].containerPort: Required value"),
                    s(
                        "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                    ),
                ],
            ),
            (
                "bad restart policy",
                "",
                "pods",
                pod(json!({"containers": containers(), "restartPolicy": "Sometimes"})),
                vec![s(
                    "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                )],
            ),
            (
                "mount of a missing volume",
                "",
                "pods",
                pod(c(
                    json!({"volumeMounts": [{"name": "data", "mountPath": "/d"}]}),
                )),
                vec![s(
                    "spec.containers[0].volumeMounts[0].name: Not found: \"data\"",
                )],
            ),
            (
                "volume without source",
                "",
                "pods",
                pod(json!({"containers": containers(), "volumes": [{"name": "v"}]})),
                vec![s(
                    "spec.volumes[0]: Required value: must specify a volume type",
                )],
            ),
            (
                "volume with two sources",
                "",
                "pods",
                pod(
                    json!({"containers": containers(), "volumes": [{"name": "v", "emptyDir": {}, "configMap": {"name": "c"}}]}),
                ),
                vec![s(
                    "spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type",
                )],
            ),
            (
                "requests over limits",
                "",
                "pods",
                pod(c(
                    json!({"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "2"}}}),
                )),
                vec![s(
                    "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
                )],
            ),
            (
                "unknown resource name",
                "",
                "pods",
                pod(c(json!({"resources": {"limits": {"gpu": "1"}}}))),
                vec![
                    s(
                        "spec.containers[0].resources.limits[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified",
                    ),
                    s(
                        "spec.containers[0].resources.limits[gpu]: Invalid value: \"gpu\": must be a standard resource for containers",
                    ),
                ],
            ),
            (
                "probe without handler",
                "",
                "pods",
                pod(c(json!({"livenessProbe": {"periodSeconds": 5}}))),
                vec![s(
                    "spec.containers[0].livenessProbe: Required value: must specify a handler type",
                )],
            ),
            (
                "env name with equals",
                "",
                "pods",
                pod(c(json!({"env": [{"name": "A=B"}]}))),
                vec![s(
                    "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
                )],
            ),
            (
                "bad pull policy",
                "",
                "pods",
                pod(c(json!({"imagePullPolicy": "Sometimes"}))),
                vec![s(
                    "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
                )],
            ),
            (
                "toleration value with exists",
                "",
                "pods",
                pod(
                    json!({"containers": containers(), "tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}),
                ),
                vec![s(
                    "spec.tolerations[0].operator: Invalid value: core.Toleration{Key:\"k\", Operator:\"Exists\", Value:\"v\", Effect:\"\", TolerationSeconds:(*int64)(nil)}: value must be empty when `operator` is 'Exists'",
                )],
            ),
            (
                "ephemeral containers on create",
                "",
                "pods",
                pod(
                    json!({"containers": containers(), "ephemeralContainers": [{"name": "e", "image": "x"}]}),
                ),
                vec![s(
                    "spec.ephemeralContainers: Forbidden: cannot be set on create",
                )],
            ),
            (
                "bad node name",
                "",
                "pods",
                pod(json!({"containers": containers(), "nodeName": "Node_1"})),
                vec![format!(
                    "spec.nodeName: Invalid value: \"Node_1\": {SUBDOMAIN_ERR}"
                )],
            ),
        ];
        check_create(cases);
        let bad = validate_create(
            "",
            "pods",
            &json!({"metadata": {"name": "Bad_Name", "namespace": "default"}, "spec": {}}),
        );
        assert_eq!(
            invalid_message("Pod", "Bad_Name", &bad),
            format!(
                "Pod \"Bad_Name\" is invalid: [metadata.name: Invalid value: \"Bad_Name\": {SUBDOMAIN_ERR}, spec.containers: Required value]"
            ),
            "case \"full pod message\""
        );
    }

    #[test]
    fn pod_updates_only_change_mutable_fields() {
        let old = pod(
            json!({"containers": containers(), "activeDeadlineSeconds": 10,
            "tolerations": [{"key": "k", "operator": "Exists"}]}),
        );
        let edit = |f: &dyn Fn(&mut Value)| {
            let mut v = old.clone();
            f(&mut v);
            v
        };
        let image = edit(&|v| v["spec"]["containers"][0]["image"] = json!("nginx:2"));
        let env =
            edit(&|v| v["spec"]["containers"][0]["env"] = json!([{"name": "A", "value": "1"}]));
        let extra = edit(&|v| {
            v["spec"]["containers"] =
                json!([{"name": "c", "image": "x"}, {"name": "d", "image": "y"}])
        });
        let longer = edit(&|v| v["spec"]["activeDeadlineSeconds"] = json!(20));
        let tol_added = edit(&|v| {
            v["spec"]["tolerations"] =
                json!([{"key": "k", "operator": "Exists"}, {"key": "j", "operator": "Exists"}])
        });
        let tol_removed = edit(&|v| v["spec"]["tolerations"] = json!([]));
        let uid = edit(&|v| v["metadata"]["uid"] = json!("u2"));
        check_update(vec![
            ("image change", "", "pods", image, old.clone(), vec![]),
            (
                "toleration added",
                "",
                "pods",
                tol_added,
                old.clone(),
                vec![],
            ),
            (
                "container added",
                "",
                "pods",
                extra,
                old.clone(),
                vec![s(
                    "spec.containers: Forbidden: pod updates may not add or remove containers",
                )],
            ),
            (
                "deadline raised",
                "",
                "pods",
                longer,
                old.clone(),
                vec![s(
                    "spec.activeDeadlineSeconds: Invalid value: 20: must be less than or equal to previous value",
                )],
            ),
            (
                "toleration removed",
                "",
                "pods",
                tol_removed,
                old.clone(),
                vec![s(
                    "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds",
                )],
            ),
            (
                "uid changed",
                "",
                "pods",
                uid,
                old.clone(),
                vec![s("metadata.uid: Invalid value: \"u2\": field is immutable")],
            ),
        ]);
        let got = msgs(&validate_update("", "pods", &env, &old));
        assert_eq!(got.len(), 1, "case \"env change\": {got:?}");
        assert!(
            got[0].starts_with(POD_UPDATE_PREFIX),
            "case \"env change\": {got:?}"
        );
        assert!(
            got[0].contains("Containers:"),
            "case \"env change diff\": {got:?}"
        );
    }

    #[test]
    fn config_map_and_secret_rules_match_upstream() {
        let cm = |body: Value| {
            let mut v = json!({"metadata": {"name": "cm", "namespace": "ns"}});
            if let (Some(o), Some(b)) = (v.as_object_mut(), body.as_object()) {
                o.extend(b.clone());
            }
            v
        };
        let key_err = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
        check_create(vec![
            (
                "valid config map",
                "",
                "configmaps",
                cm(json!({"data": {"a.b": "1"}})),
                vec![],
            ),
            (
                "bad key",
                "",
                "configmaps",
                cm(json!({"data": {"a b": "1"}})),
                vec![format!("data[a b]: Invalid value: \"a b\": {key_err}")],
            ),
            (
                "key in both maps",
                "",
                "configmaps",
                cm(json!({"data": {"k": "1"}, "binaryData": {"k": "dg=="}})),
                vec![s(
                    "data[k]: Invalid value: \"k\": duplicate of key present in binaryData",
                )],
            ),
            (
                "dot dot key",
                "",
                "configmaps",
                cm(json!({"data": {"..": "1"}})),
                vec![s("data[..]: Invalid value: \"..\": must not be '..'")],
            ),
            (
                "too big",
                "",
                "configmaps",
                cm(json!({"data": {"k": "x".repeat(MAX_SECRET_SIZE + 1)}})),
                vec![s("[]: Too long: may not be more than 1048576 bytes")],
            ),
            (
                "non-standard finalizer",
                "",
                "configmaps",
                json!({"metadata": {"name": "cm", "namespace": "ns", "finalizers": ["foo", "example.com/ok"]}}),
                vec![s(
                    "metadata.finalizers[0]: Invalid value: \"foo\": name is neither a standard finalizer name nor is it fully qualified",
                )],
            ),
            (
                "tls secret missing keys",
                "",
                "secrets",
                cm(json!({"type": "kubernetes.io/tls", "data": {}})),
                vec![
                    s("data[tls.crt]: Required value"),
                    s("data[tls.key]: Required value"),
                ],
            ),
            (
                "docker config not json",
                "",
                "secrets",
                cm(
                    json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "ew=="}}),
                ),
                vec![s(
                    "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": unexpected end of JSON input",
                )],
            ),
            (
                "string data keys are data keys",
                "",
                "secrets",
                cm(json!({"stringData": {"bad key": "x"}})),
                vec![format!(
                    "data[bad key]: Invalid value: \"bad key\": {key_err}"
                )],
            ),
            (
                "service account token needs annotation",
                "",
                "secrets",
                cm(json!({"type": "kubernetes.io/service-account-token"})),
                vec![s(
                    "metadata.annotations[kubernetes.io/service-account.name]: Required value",
                )],
            ),
        ]);
        let frozen = cm(json!({"immutable": true, "data": {"a": "1"}}));
        let frozen_secret = cm(json!({"immutable": true, "data": {"a": "MQ=="}}));
        check_update(vec![
            (
                "mutable change",
                "",
                "configmaps",
                cm(json!({"data": {"a": "2"}})),
                cm(json!({"data": {"a": "1"}})),
                vec![],
            ),
            (
                "immutable change",
                "",
                "configmaps",
                cm(json!({"data": {"a": "2"}})),
                frozen.clone(),
                vec![
                    s("immutable: Forbidden: field is immutable when `immutable` is set"),
                    s("data: Forbidden: field is immutable when `immutable` is set"),
                ],
            ),
            (
                "immutable unchanged",
                "",
                "configmaps",
                frozen.clone(),
                frozen,
                vec![],
            ),
            (
                "secret type changed",
                "",
                "secrets",
                cm(json!({"type": "Opaque"})),
                cm(json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}})),
                vec![s("type: Invalid value: \"Opaque\": field is immutable")],
            ),
            (
                "immutable secret via string data",
                "",
                "secrets",
                cm(json!({"immutable": true, "data": {"a": "MQ=="}, "stringData": {"a": "2"}})),
                frozen_secret.clone(),
                vec![s(
                    "data: Forbidden: field is immutable when `immutable` is set",
                )],
            ),
            (
                "immutable secret same bytes",
                "",
                "secrets",
                cm(json!({"immutable": true, "stringData": {"a": "1"}})),
                frozen_secret,
                vec![],
            ),
        ]);
    }

    #[test]
    fn service_rules_match_upstream() {
        let svc = |spec: Value| json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec});
        let port_key = "core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}";
        check_create(vec![
            (
                "valid",
                "",
                "services",
                svc(json!({"ports": [{"port": 80}], "selector": {"app": "web"}})),
                vec![],
            ),
            (
                "no ports",
                "",
                "services",
                svc(json!({})),
                vec![s("spec.ports: Required value")],
            ),
            (
                "headless without ports",
                "",
                "services",
                svc(json!({"clusterIP": "None"})),
                vec![],
            ),
            (
                "dns-1035 name",
                "",
                "services",
                json!({"metadata": {"name": "1web", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}}),
                vec![format!(
                    "metadata.name: Invalid value: \"1web\": {DNS1035_ERR}"
                )],
            ),
            (
                "port zero",
                "",
                "services",
                svc(json!({"ports": [{"port": 0}]})),
                vec![s(
                    "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                )],
            ),
            (
                "unnamed ports",
                "",
                "services",
                svc(json!({"ports": [{"port": 80}, {"port": 81}]})),
                vec![
                    s("spec.ports[0].name: Required value"),
                    s("spec.ports[1].name: Required value"),
                ],
            ),
            (
                "duplicate ports",
                "",
                "services",
                svc(
                    json!({"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80, "protocol": "TCP"}]}),
                ),
                vec![format!("spec.ports[1]: Duplicate value: {port_key}")],
            ),
            (
                "duplicate port names",
                "",
                "services",
                svc(json!({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]})),
                vec![s("spec.ports[1].name: Duplicate value: \"a\"")],
            ),
            (
                "unknown type",
                "",
                "services",
                svc(json!({"ports": [{"port": 80}], "type": "Foo"})),
                vec![s(
                    "spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
                )],
            ),
            (
                "external name missing",
                "",
                "services",
                svc(json!({"type": "ExternalName"})),
                vec![s("spec.externalName: Required value")],
            ),
            (
                "node port on cluster ip",
                "",
                "services",
                svc(json!({"ports": [{"port": 80, "nodePort": 30000}]})),
                vec![s(
                    "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
                )],
            ),
            (
                "bad cluster ip",
                "",
                "services",
                svc(json!({"ports": [{"port": 80}], "clusterIP": "abc"})),
                vec![s(
                    "spec.clusterIPs[0]: Invalid value: \"abc\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                )],
            ),
            (
                "bad target port name",
                "",
                "services",
                svc(json!({"ports": [{"port": 80, "targetPort": "HTTP"}]})),
                vec![
                    s(
                        "spec.ports[0].targetPort: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                    ),
                    s(
                        "spec.ports[0].targetPort: Invalid value: \"HTTP\": must contain at least one letter (a-z)",
                    ),
                ],
            ),
        ]);
        let old = svc(
            json!({"ports": [{"port": 80}], "clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"]}),
        );
        check_update(vec![
            (
                "cluster ip kept",
                "",
                "services",
                old.clone(),
                old.clone(),
                vec![],
            ),
            (
                "cluster ip omitted",
                "",
                "services",
                svc(json!({"ports": [{"port": 81}]})),
                old.clone(),
                vec![],
            ),
            (
                "cluster ip changed",
                "",
                "services",
                svc(json!({"ports": [{"port": 80}], "clusterIP": "10.0.0.2"})),
                old.clone(),
                vec![s(
                    "spec.clusterIPs[0]: Invalid value: []string{\"10.0.0.2\"}: may not change once set",
                )],
            ),
            (
                "becomes external name",
                "",
                "services",
                svc(json!({"type": "ExternalName", "externalName": "example.com"})),
                old,
                vec![],
            ),
        ]);
    }

    #[test]
    fn workload_rules_match_upstream() {
        let mismatch = |labels: &str| {
            format!(
                "spec.template.metadata.labels: Invalid value: {labels}: `selector` does not match template `labels`"
            )
        };
        let with = |patch: Value| {
            let mut spec = web_spec();
            if let (Some(o), Some(p)) = (spec.as_object_mut(), patch.as_object()) {
                o.extend(p.clone());
            }
            workload(spec)
        };
        check_create(vec![
            (
                "valid deployment",
                "apps",
                "deployments",
                workload(web_spec()),
                vec![],
            ),
            (
                "labels do not match",
                "apps",
                "deployments",
                with(json!({"template": template(json!({"app": "other"}))})),
                vec![mismatch("map[string]string{\"app\":\"other\"}")],
            ),
            (
                "missing selector",
                "apps",
                "deployments",
                workload(json!({"template": template(json!({"app": "web"}))})),
                vec![
                    s("spec.selector: Required value"),
                    mismatch("map[string]string{\"app\":\"web\"}"),
                ],
            ),
            (
                "template without labels",
                "apps",
                "deployments",
                with(json!({"template": {"spec": {"containers": containers()}}})),
                vec![mismatch("map[string]string(nil)")],
            ),
            (
                "negative replicas",
                "apps",
                "deployments",
                with(json!({"replicas": -1})),
                vec![s(
                    "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                )],
            ),
            (
                "empty selector",
                "apps",
                "deployments",
                with(json!({"selector": {}})),
                vec![s(
                    "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment",
                )],
            ),
            (
                "no containers",
                "apps",
                "deployments",
                with(json!({"template": {"metadata": {"labels": {"app": "web"}}, "spec": {}}})),
                vec![s("spec.template.spec.containers: Required value")],
            ),
            (
                "template label key",
                "apps",
                "deployments",
                with(json!({"template": template(json!({"app": "web", "a_": "x"}))})),
                vec![format!(
                    "spec.template.labels: Invalid value: \"a_\": {NAME_PART_ERR}"
                )],
            ),
            (
                "never restart",
                "apps",
                "deployments",
                with(
                    json!({"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers(), "restartPolicy": "Never"}}}),
                ),
                vec![s(
                    "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
                )],
            ),
            (
                "recreate with rolling update",
                "apps",
                "deployments",
                with(json!({"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}})),
                vec![s(
                    "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
                )],
            ),
            (
                "zero surge and unavailable",
                "apps",
                "deployments",
                with(
                    json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}),
                ),
                vec![s(
                    "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0",
                )],
            ),
            (
                "bad selector expression",
                "apps",
                "deployments",
                with(
                    json!({"selector": {"matchExpressions": [{"key": "app", "operator": "Equals", "values": ["web"]}]}}),
                ),
                vec![
                    s(
                        "spec.selector.matchExpressions[0].operator: Invalid value: \"Equals\": not a valid selector operator",
                    ),
                    s(
                        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:\"app\", Operator:\"Equals\", Values:[]string{\"web\"}}}}: invalid label selector",
                    ),
                ],
            ),
            (
                "replicaset empty selector says deployment",
                "apps",
                "replicasets",
                with(json!({"selector": {"matchLabels": {}}})),
                vec![s(
                    "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment",
                )],
            ),
            (
                "daemonset without selector",
                "apps",
                "daemonsets",
                workload(json!({"template": template(json!({"app": "web"}))})),
                vec![mismatch("map[string]string{\"app\":\"web\"}")],
            ),
            (
                "valid statefulset",
                "apps",
                "statefulsets",
                with(json!({"serviceName": "web"})),
                vec![],
            ),
            (
                "statefulset name with dots",
                "apps",
                "statefulsets",
                json!({"metadata": {"name": "web.1", "namespace": "default"}, "spec": web_spec()}),
                vec![s(
                    "metadata.name: Invalid value: \"web.1\": must not contain dots",
                )],
            ),
            (
                "statefulset pod spec is not validated",
                "apps",
                "statefulsets",
                with(json!({"template": {"metadata": {"labels": {"app": "web"}}, "spec": {}}})),
                vec![],
            ),
        ]);
        let other = with(
            json!({"selector": {"matchLabels": {"app": "other"}}, "template": template(json!({"app": "other"}))}),
        );
        check_update(vec![
            (
                "scale deployment",
                "apps",
                "deployments",
                with(json!({"replicas": 5})),
                workload(web_spec()),
                vec![],
            ),
            (
                "selector changed",
                "apps",
                "deployments",
                other.clone(),
                workload(web_spec()),
                vec![s(
                    "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"other\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable",
                )],
            ),
            (
                "replicaset selector changed",
                "apps",
                "replicasets",
                other,
                workload(web_spec()),
                vec![s(
                    "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"other\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable",
                )],
            ),
            (
                "statefulset scale",
                "apps",
                "statefulsets",
                with(json!({"replicas": 3})),
                workload(web_spec()),
                vec![],
            ),
            (
                "statefulset service name changed",
                "apps",
                "statefulsets",
                with(json!({"serviceName": "other"})),
                with(json!({"serviceName": "web"})),
                vec![s(
                    "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                )],
            ),
        ]);
    }

    #[test]
    fn job_and_cron_job_rules_match_upstream() {
        let job = |template_spec: Value| json!({"metadata": {"name": "j", "namespace": "default", "uid": "u"}, "spec": {"template": {"spec": template_spec}}});
        let never = json!({"containers": containers(), "restartPolicy": "Never"});
        let restart_err = s(
            "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
        );
        let cron = |schedule: Value| {
            json!({"metadata": {"name": "c", "namespace": "default"}, "spec": {"schedule": schedule,
                "jobTemplate": {"spec": {"template": {"spec": {"containers": containers(), "restartPolicy": "OnFailure"}}}}}})
        };
        let sched = |v: &str, msg: &str| {
            vec![format!(
                "spec.schedule: Invalid value: {}: {msg}",
                go_quote(v)
            )]
        };
        check_create(vec![
            ("valid job", "batch", "jobs", job(never.clone()), vec![]),
            (
                "default restart policy",
                "batch",
                "jobs",
                job(json!({"containers": containers()})),
                vec![restart_err.clone()],
            ),
            (
                "always restart policy",
                "batch",
                "jobs",
                job(json!({"containers": containers(), "restartPolicy": "Always"})),
                vec![restart_err],
            ),
            (
                "manual selector missing",
                "batch",
                "jobs",
                json!({"metadata": {"name": "j", "namespace": "default"}, "spec": {"manualSelector": true, "template": {"spec": never.clone()}}}),
                vec![
                    s("spec.selector: Required value"),
                    s(
                        "spec.template.metadata.labels: Invalid value: map[string]string(nil): `selector` does not match template `labels`",
                    ),
                ],
            ),
            (
                "valid cron job",
                "batch",
                "cronjobs",
                cron(json!("*/5 * * * *")),
                vec![],
            ),
            (
                "named days",
                "batch",
                "cronjobs",
                cron(json!("0 9 * jan-mar MON-FRI")),
                vec![],
            ),
            (
                "descriptor",
                "batch",
                "cronjobs",
                cron(json!("@weekly")),
                vec![],
            ),
            (
                "every",
                "batch",
                "cronjobs",
                cron(json!("@every 1h30m")),
                vec![],
            ),
            (
                "missing schedule",
                "batch",
                "cronjobs",
                cron(Value::Null),
                vec![s("spec.schedule: Required value")],
            ),
            (
                "too few fields",
                "batch",
                "cronjobs",
                cron(json!("* * *")),
                sched("* * *", "expected exactly 5 fields, found 3: [* * *]"),
            ),
            (
                "minute too big",
                "batch",
                "cronjobs",
                cron(json!("61 * * * *")),
                sched("61 * * * *", "end of range (61) above maximum (59): 61"),
            ),
            (
                "zero step",
                "batch",
                "cronjobs",
                cron(json!("*/0 * * * *")),
                sched(
                    "*/0 * * * *",
                    "step of range should be a positive number: */0",
                ),
            ),
            (
                "not a number",
                "batch",
                "cronjobs",
                cron(json!("a * * * *")),
                sched(
                    "a * * * *",
                    "failed to parse int from a: strconv.Atoi: parsing \"a\": invalid syntax",
                ),
            ),
            (
                "backwards range",
                "batch",
                "cronjobs",
                cron(json!("5-1 * * * *")),
                sched(
                    "5-1 * * * *",
                    "beginning of range (5) beyond end of range (1): 5-1",
                ),
            ),
            (
                "unknown descriptor",
                "batch",
                "cronjobs",
                cron(json!("@fortnightly")),
                sched("@fortnightly", "unrecognized descriptor: @fortnightly"),
            ),
            (
                "bad every",
                "batch",
                "cronjobs",
                cron(json!("@every 5x")),
                sched(
                    "@every 5x",
                    "failed to parse duration @every 5x: time: unknown unit \"x\" in duration \"5x\"",
                ),
            ),
            (
                "time zone in schedule",
                "batch",
                "cronjobs",
                cron(json!("CRON_TZ=UTC 0 * * * *")),
                sched(
                    "CRON_TZ=UTC 0 * * * *",
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                ),
            ),
            (
                "name too long",
                "batch",
                "cronjobs",
                json!({"metadata": {"name": "a".repeat(53), "namespace": "default"}, "spec": cron(json!("@daily"))["spec"].clone()}),
                vec![format!(
                    "metadata.name: Invalid value: \"{}\": must be no more than 52 characters",
                    "a".repeat(53)
                )],
            ),
        ]);
        let old = job(never.clone());
        let mut changed = old.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("other");
        let mut completions_old = old.clone();
        completions_old["spec"]["completions"] = json!(2);
        let mut completions_new = old.clone();
        completions_new["spec"]["completions"] = json!(3);
        let mut suspended_old = old.clone();
        suspended_old["spec"]["suspend"] = json!(true);
        let mut suspended_new = suspended_old.clone();
        suspended_new["spec"]["template"]["spec"]["nodeSelector"] = json!({"zone": "a"});
        check_update(vec![
            (
                "unchanged job",
                "batch",
                "jobs",
                old.clone(),
                old.clone(),
                vec![],
            ),
            (
                "completions changed",
                "batch",
                "jobs",
                completions_new,
                completions_old,
                vec![s("spec.completions: Invalid value: 3: field is immutable")],
            ),
            (
                "suspended job scheduling change",
                "batch",
                "jobs",
                suspended_new,
                suspended_old,
                vec![],
            ),
        ]);
        let got = msgs(&validate_update("batch", "jobs", &changed, &old));
        assert_eq!(got.len(), 1, "case \"template changed\": {got:?}");
        assert!(
            got[0].starts_with("spec.template: Invalid value: ")
                && got[0].ends_with(": field is immutable"),
            "case \"template changed\": {got:?}"
        );
    }

    #[test]
    fn other_kinds_match_upstream() {
        let pvc = |spec: Value, status: Value| json!({"metadata": {"name": "data", "namespace": "ns"}, "spec": spec, "status": status});
        let claim = |size: &str, class: &str| json!({"accessModes": ["ReadWriteOnce"], "storageClassName": class, "resources": {"requests": {"storage": size}}});
        let binding = |role: &str| {
            json!({"metadata": {"name": "b", "namespace": "ns"}, "roleRef": {"kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "User", "name": "u"}]})
        };
        check_create(vec![
            (
                "namespace with dots",
                "",
                "namespaces",
                json!({"metadata": {"name": "bad.name"}}),
                vec![s(
                    "metadata.name: Invalid value: \"bad.name\": must not contain dots",
                )],
            ),
            (
                "namespace upper case",
                "",
                "namespaces",
                json!({"metadata": {"name": "Bad"}}),
                vec![format!(
                    "metadata.name: Invalid value: \"Bad\": {LABEL_ERR}"
                )],
            ),
            (
                "namespace finalizer",
                "",
                "namespaces",
                json!({"metadata": {"name": "ns"}, "spec": {"finalizers": ["foo"]}}),
                vec![s(
                    "spec.finalizers: Invalid value: \"foo\": name is neither a standard finalizer name nor is it fully qualified",
                )],
            ),
            (
                "duplicate taints",
                "",
                "nodes",
                json!({"metadata": {"name": "n"}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "value": "v", "effect": "NoSchedule"}]}}),
                vec![s(
                    "metadata.taints[1]: Duplicate value: core.Taint{Key:\"k\", Value:\"v\", Effect:\"NoSchedule\", TimeAdded:(*v1.Time)(nil)}: taints must be unique by key and effect pair",
                )],
            ),
            (
                "empty claim",
                "",
                "persistentvolumeclaims",
                pvc(json!({}), json!({})),
                vec![
                    s("spec.accessModes: Required value: at least 1 access mode is required"),
                    s("spec.resources[storage]: Required value"),
                ],
            ),
            (
                "zero storage",
                "",
                "persistentvolumeclaims",
                pvc(claim("0Gi", "fast"), json!({})),
                vec![s(
                    "spec.resources[storage]: Invalid value: \"0\": must be greater than zero",
                )],
            ),
            (
                "bad access mode",
                "",
                "persistentvolumeclaims",
                pvc(
                    json!({"accessModes": ["ReadWriteSometimes"], "resources": {"requests": {"storage": "1Gi"}}}),
                    json!({}),
                ),
                vec![s(
                    "spec.accessModes: Unsupported value: \"ReadWriteSometimes\": supported values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"",
                )],
            ),
            (
                "rule without verbs",
                RBAC_GROUP,
                "roles",
                json!({"metadata": {"name": "r", "namespace": "ns"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]}),
                vec![s(
                    "rules[0].verbs: Required value: verbs must contain at least one value",
                )],
            ),
            (
                "role name with slash",
                RBAC_GROUP,
                "clusterroles",
                json!({"metadata": {"name": "a/b"}}),
                vec![s(
                    "metadata.name: Invalid value: \"a/b\": may not contain '/'",
                )],
            ),
            (
                "valid binding",
                RBAC_GROUP,
                "rolebindings",
                binding("view"),
                vec![],
            ),
            (
                "cluster binding service account needs namespace",
                RBAC_GROUP,
                "clusterrolebindings",
                json!({"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}),
                vec![s("subjects[0].namespace: Required value")],
            ),
            (
                "event namespace mismatch",
                "",
                "events",
                json!({"metadata": {"name": "e", "namespace": "ns"}, "involvedObject": {"namespace": "other"}}),
                vec![s(
                    "involvedObject.namespace: Invalid value: \"other\": does not match event.namespace",
                )],
            ),
            (
                "event name unchecked",
                "",
                "events",
                json!({"metadata": {"name": "Any Name!", "namespace": "default"}}),
                vec![],
            ),
            (
                "crd name",
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                json!({"metadata": {"name": "widgets.example.com"}, "spec": {"group": "example.org", "names": {"plural": "widgets"},
                    "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}}),
                vec![s(
                    "metadata.name: Invalid value: \"widgets.example.com\": must be spec.names.plural+\".\"+spec.group",
                )],
            ),
            (
                "custom resource keeps any finalizer",
                "example.com",
                "widgets",
                json!({"metadata": {"name": "w", "namespace": "ns", "finalizers": ["foo"]}}),
                vec![],
            ),
            (
                "custom resource bad name",
                "example.com",
                "widgets",
                json!({"metadata": {"name": "W"}}),
                vec![format!(
                    "metadata.name: Invalid value: \"W\": {SUBDOMAIN_ERR}"
                )],
            ),
            (
                "built-in cluster resource forbids namespace",
                "storage.k8s.io",
                "storageclasses",
                json!({"metadata": {"name": "fast", "namespace": "ns"}}),
                vec![s("metadata.namespace: Forbidden: not allowed on this type")],
            ),
        ]);
        let bound = json!({"phase": "Bound", "capacity": {"storage": "1Gi"}});
        check_update(vec![
            (
                "bound claim grows",
                "",
                "persistentvolumeclaims",
                pvc(claim("2Gi", "fast"), bound.clone()),
                pvc(claim("1Gi", "fast"), bound.clone()),
                vec![],
            ),
            (
                "bound claim shrinks below capacity",
                "",
                "persistentvolumeclaims",
                pvc(claim("500Mi", "fast"), bound.clone()),
                pvc(claim("1Gi", "fast"), bound),
                vec![s(
                    "spec.resources.requests.storage: Forbidden: field can not be less than status.capacity",
                )],
            ),
            (
                "role ref changed",
                RBAC_GROUP,
                "rolebindings",
                binding("edit"),
                binding("view"),
                vec![s(
                    "roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"edit\"}: cannot change roleRef",
                )],
            ),
        ]);
        let got = msgs(&validate_update(
            "",
            "persistentvolumeclaims",
            &pvc(claim("1Gi", "slow"), json!({})),
            &pvc(claim("1Gi", "fast"), json!({})),
        ));
        assert_eq!(got.len(), 1, "case \"class changed\": {got:?}");
        assert!(
            got[0].starts_with("spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n"),
            "case \"class changed\": {got:?}"
        );
    }

    #[test]
    fn hostile_objects_never_panic() {
        let mut deep = json!("leaf");
        for _ in 0..200 {
            deep = json!([deep, {"x": deep.clone()}]);
            if deep.to_string().len() > 1 << 16 {
                deep = json!([deep[0].clone()]);
            }
        }
        let huge = "a".repeat(1 << 20);
        let hostile = vec![
            json!(null),
            json!(true),
            json!(5),
            json!("str"),
            json!([]),
            json!({}),
            json!({"metadata": 5, "spec": "x", "status": [1]}),
            json!({"metadata": {"name": 5, "namespace": [], "labels": [1], "annotations": "x", "ownerReferences": {"a": 1},
                "finalizers": [null, 1, {}], "managedFields": [1, {"manager": "\u{0}é"}], "generation": 1e300,
                "creationTimestamp": "not a time", "deletionTimestamp": 7}}),
            json!({"metadata": {"name": huge.clone(), "generateName": "-", "labels": {"ключ": "значение"}, "annotations": {huge.clone(): huge.clone()}}}),
            json!({"spec": {"containers": "x", "volumes": {}, "initContainers": [null, 1]}}),
            json!({"spec": {"containers": [null, 1, {"name": ["x"], "image": 5, "ports": [{"containerPort": "80", "hostPort": 1e100}, null],
                "resources": {"limits": {"cpu": {}, "memory": "1e999"}, "requests": {"cpu": "1e-999", "memory": "-", "x/y": "."}},
                "env": 1, "volumeMounts": [{"name": {}}], "livenessProbe": [], "readinessProbe": {"httpGet": {"port": -1, "scheme": 1}},
                "securityContext": {"runAsUser": -9223372036854775808_i64}}],
                "activeDeadlineSeconds": 18446744073709551615_u64, "tolerations": [1, {"tolerationSeconds": "x"}], "schedulingGates": 5}}),
            json!({"spec": {"selector": {"matchLabels": "x", "matchExpressions": [1, {"key": [], "operator": {}}]}, "template": deep.clone(),
                "replicas": "3", "strategy": {"type": 5, "rollingUpdate": {"maxSurge": "999999999999999999999%", "maxUnavailable": []}},
                "schedule": "*/99999999999999999999 1-2-3 1/2/3 ? TZ=", "jobTemplate": deep.clone(), "ports": [{"port": 1e10}, "x"],
                "clusterIP": "::::", "clusterIPs": ["None", "None", 5], "type": ["x"], "accessModes": [1], "taints": [{"effect": 1}]}}),
            json!({"spec": deep.clone(), "data": {"k": 5}, "binaryData": {"k": "!!!"}, "stringData": [], "type": 5, "immutable": "yes",
                "rules": [null, {"nonResourceURLs": 5}], "roleRef": 5, "subjects": [5, {"kind": 1}], "involvedObject": 5}),
            json!({"spec": {"schedule": "@every ", "template": {"spec": {"restartPolicy": 5}}}}),
            json!({"spec": {"schedule": "TZ=Europe/Paris", "jobTemplate": {"spec": {"selector": 5, "manualSelector": "x"}}}}),
            json!({"spec": {"schedule": format!("{} * * * *", "1,".repeat(10_000))}}),
        ];
        let resources = [
            ("", "pods"),
            ("", "configmaps"),
            ("", "secrets"),
            ("", "services"),
            ("", "namespaces"),
            ("", "nodes"),
            ("", "persistentvolumeclaims"),
            ("", "replicationcontrollers"),
            ("", "podtemplates"),
            ("", "events"),
            ("", "serviceaccounts"),
            ("apps", "deployments"),
            ("apps", "replicasets"),
            ("apps", "daemonsets"),
            ("apps", "statefulsets"),
            ("batch", "jobs"),
            ("batch", "cronjobs"),
            (RBAC_GROUP, "roles"),
            (RBAC_GROUP, "clusterroles"),
            (RBAC_GROUP, "rolebindings"),
            (RBAC_GROUP, "clusterrolebindings"),
            ("apiextensions.k8s.io", "customresourcedefinitions"),
            ("events.k8s.io", "events"),
            ("example.com", "widgets"),
        ];
        for (group, resource) in resources {
            for (i, new) in hostile.iter().enumerate() {
                let errs = validate_create(group, resource, new);
                let _ = invalid_message(&qualified_kind(group, "Kind"), "n", &errs);
                let old = &hostile[(i + 1) % hostile.len()];
                let _ = msgs(&validate_update(group, resource, new, old));
                let _ = msgs(&validate_update(group, resource, new, new));
            }
        }
        for rule in [
            NameRule::Subdomain,
            NameRule::Label,
            NameRule::Rfc1035Label,
            NameRule::PathSegment,
            NameRule::Unchecked,
        ] {
            for obj in &hostile {
                let _ = validate_object_meta(obj, true, rule);
            }
        }
        for input in [
            "-",
            "+",
            ".",
            "-.",
            "1e",
            "1e+",
            "1Ei",
            "0.000000000000000000000000000000000000001",
            "\u{0}",
            "1é",
        ] {
            let _ = Quantity::parse(input).map(|q| q.canonical());
        }
        for text in [
            "",
            "-",
            "5-",
            "*/",
            "1/2/3",
            "1-2-3",
            "TZ=",
            "@",
            "@every",
            "@every -",
            "@every 1.2.3h",
            "@every 5µs",
        ] {
            let _ = parse_cron_standard(text);
        }
    }
}
