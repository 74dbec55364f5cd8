//! Walks a parsed ClusterConfig document against eksctl's own field list: keys eksctl does not
//! know are errors (as eksctl's strict decoding makes them), keys eksctl knows but skiff does
//! not simulate are warnings, and scalars are coerced the way `sigs.k8s.io/yaml` does before
//! Go decodes them (a YAML number or boolean in a string field becomes a string).

use serde_json::Value;

use super::schema::DEFINITIONS;
use super::{FieldError, Warning};

/// The type of the items of a scalar list in eksctl's schema (eksctl has only string lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scalar {
    /// A Go `string`.
    Str,
}

/// The shape of one field's value in eksctl's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// A string.
    Str,
    /// An integer.
    Int,
    /// A floating-point number.
    Num,
    /// A boolean.
    Bool,
    /// Any document (eksctl's `InlineDocument`, ARNs).
    Any,
    /// `map[string]string`.
    StrMap,
    /// Node group taints: a list of `{key, value, effect}` or a `key: value:effect` map.
    Taints,
    /// An object of the named definition.
    Obj(&'static str),
    /// A list of objects of the named definition.
    ArrObj(&'static str),
    /// A list of scalars.
    ArrOf(Scalar),
    /// A map from any key to objects of the named definition.
    MapOf(&'static str),
}

/// How skiff treats the value at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Coverage {
    /// Skiff reads some fields below this one: look at each child.
    Partly,
    /// Skiff reads this value and everything in it.
    Whole,
    /// Skiff ignores this value; the message says what is lost.
    Ignored(&'static str),
}

/// What the walk found.
#[derive(Debug, Default)]
pub(super) struct Findings {
    pub(super) errors: Vec<FieldError>,
    pub(super) warnings: Vec<Warning>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Check,
    Whole,
    Ignored,
}

/// Walks `root` (a whole ClusterConfig document) and coerces its scalars in place.
/// `coverage` maps a path pattern (`managedNodeGroups[].ssh`, `vpc.subnets.private.*.cidr`)
/// to how skiff treats it.
pub(super) fn walk(root: &mut Value, coverage: &dyn Fn(&str) -> Coverage) -> Findings {
    let mut walker = Walker {
        coverage,
        findings: Findings::default(),
    };
    walker.value(root, Shape::Obj("ClusterConfig"), "", "", Mode::Check);
    walker.findings
}

struct Walker<'a> {
    coverage: &'a dyn Fn(&str) -> Coverage,
    findings: Findings,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn go_type(shape: Shape) -> String {
    match shape {
        Shape::Str => "string".into(),
        Shape::Int => "int".into(),
        Shape::Num => "float64".into(),
        Shape::Bool => "bool".into(),
        Shape::Any => "interface {}".into(),
        Shape::StrMap => "map[string]string".into(),
        Shape::Taints => "v1alpha5.taintsWrapper".into(),
        Shape::Obj(name) => format!("v1alpha5.{name}"),
        Shape::ArrObj(name) => format!("[]v1alpha5.{name}"),
        Shape::ArrOf(scalar) => format!("[]{}", go_type(scalar_shape(scalar))),
        Shape::MapOf(name) => format!("map[string]v1alpha5.{name}"),
    }
}

fn scalar_shape(scalar: Scalar) -> Shape {
    match scalar {
        Scalar::Str => Shape::Str,
    }
}

impl Walker<'_> {
    fn error(&mut self, path: &str, message: String) {
        self.findings.errors.push(FieldError {
            path: path.to_string(),
            message,
        });
    }

    fn mismatch(&mut self, path: &str, value: &Value, shape: Shape) {
        let found = match value {
            Value::Number(n) if matches!(shape, Shape::Int) => format!("number {n}"),
            other => kind_of(other).to_string(),
        };
        self.error(
            path,
            format!(
                "json: cannot unmarshal {found} into Go value of type {}",
                go_type(shape)
            ),
        );
    }

    fn value(&mut self, value: &mut Value, shape: Shape, path: &str, pattern: &str, mode: Mode) {
        if value.is_null() {
            return;
        }
        match shape {
            Shape::Any => {}
            Shape::Str => {
                let text = match value {
                    Value::String(_) => return,
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => {
                        let snapshot = value.clone();
                        self.mismatch(path, &snapshot, shape);
                        return;
                    }
                };
                *value = Value::String(text);
            }
            Shape::Int => {
                if !(value.is_i64() || value.is_u64()) {
                    let snapshot = value.clone();
                    self.mismatch(path, &snapshot, shape);
                }
            }
            Shape::Num => {
                if !value.is_number() {
                    let snapshot = value.clone();
                    self.mismatch(path, &snapshot, shape);
                }
            }
            Shape::Bool => {
                if !value.is_boolean() {
                    let snapshot = value.clone();
                    self.mismatch(path, &snapshot, shape);
                }
            }
            Shape::StrMap => match value {
                Value::Object(map) => {
                    let keys: Vec<String> = map.keys().cloned().collect();
                    for key in keys {
                        if let Some(child) = map.get_mut(&key) {
                            self.value(child, Shape::Str, &join(path, &key), pattern, mode);
                        }
                    }
                }
                _ => {
                    let snapshot = value.clone();
                    self.mismatch(path, &snapshot, shape);
                }
            },
            Shape::Taints => match value {
                Value::Object(_) => self.value(value, Shape::StrMap, path, pattern, mode),
                Value::Array(_) => {
                    self.value(value, Shape::ArrObj("NodeGroupTaint"), path, pattern, mode)
                }
                _ => {
                    let snapshot = value.clone();
                    self.error(
                        path,
                        format!(
                            "taints must be a {{string: string}} or a [{{key, value, effect}}]: json: cannot unmarshal {} into Go value of type []v1alpha5.NodeGroupTaint",
                            kind_of(&snapshot)
                        ),
                    );
                }
            },
            Shape::ArrOf(scalar) => match value {
                Value::Array(items) => {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.value(
                            item,
                            scalar_shape(scalar),
                            &format!("{path}[{i}]"),
                            pattern,
                            mode,
                        );
                    }
                }
                _ => {
                    let snapshot = value.clone();
                    self.mismatch(path, &snapshot, shape);
                }
            },
            Shape::ArrObj(name) => match value {
                Value::Array(items) => {
                    let item_pattern = format!("{pattern}[]");
                    for (i, item) in items.iter_mut().enumerate() {
                        let item_path = format!("{path}[{i}]");
                        if item.is_null() {
                            self.error(
                                &item_path,
                                format!("invalid ClusterConfig: {item_path} is not set"),
                            );
                            continue;
                        }
                        self.value(item, Shape::Obj(name), &item_path, &item_pattern, mode);
                    }
                }
                _ => {
                    let snapshot = value.clone();
                    self.mismatch(path, &snapshot, shape);
                }
            },
            Shape::MapOf(name) => match value {
                Value::Object(map) => {
                    let entry_pattern = join(pattern, "*");
                    let keys: Vec<String> = map.keys().cloned().collect();
                    for key in keys {
                        if let Some(child) = map.get_mut(&key) {
                            self.value(
                                child,
                                Shape::Obj(name),
                                &join(path, &key),
                                &entry_pattern,
                                mode,
                            );
                        }
                    }
                }
                _ => {
                    let snapshot = value.clone();
                    self.mismatch(path, &snapshot, shape);
                }
            },
            Shape::Obj(name) => self.object(value, name, path, pattern, mode),
        }
    }

    fn object(&mut self, value: &mut Value, name: &str, path: &str, pattern: &str, mode: Mode) {
        let Some(definition) = DEFINITIONS.iter().find(|d| d.name == name) else {
            return;
        };
        let Value::Object(map) = value else {
            let snapshot = value.clone();
            self.mismatch(path, &snapshot, Shape::Obj(definition.name));
            return;
        };
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            let child_path = join(path, &key);
            let Some((_, shape)) = definition.fields.iter().find(|(field, _)| *field == key) else {
                self.error(
                    &child_path,
                    format!(
                        "error unmarshaling JSON: while decoding JSON: json: unknown field \"{key}\""
                    ),
                );
                continue;
            };
            let Some(child) = map.get_mut(&key) else {
                continue;
            };
            let child_pattern = join(pattern, &key);
            let child_mode = match mode {
                Mode::Check => match (self.coverage)(&child_pattern) {
                    Coverage::Partly => Mode::Check,
                    Coverage::Whole => Mode::Whole,
                    Coverage::Ignored(message) => {
                        if !child.is_null() {
                            self.findings.warnings.push(Warning {
                                path: child_path.clone(),
                                message: message.to_string(),
                            });
                        }
                        Mode::Ignored
                    }
                },
                other => other,
            };
            self.value(child, *shape, &child_path, &child_pattern, child_mode);
        }
    }
}
