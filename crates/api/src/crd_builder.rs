//! Building the CustomResourceDefinitions skiff installs for its own API groups (the
//! simulated cloud's `ec2.skiff.dev`, EKS's `eks.skiff.dev`) and for the upstream CRDs EKS
//! users know (`ENIConfig`), so each definition reads as its facts and nothing else.

use serde_json::{Value, json};

/// One printer column (`kubectl get` shows it; `priority` 1 columns only with `-o wide`).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Header.
    pub name: &'static str,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: &'static str,
    /// JSONPath of the value (`.spec.cidrBlock`).
    pub json_path: &'static str,
    /// 0 = always shown, 1 = only with `-o wide`.
    pub priority: u8,
}

impl Column {
    /// A column always shown.
    pub const fn new(name: &'static str, type_: &'static str, json_path: &'static str) -> Column {
        Column {
            name,
            type_,
            json_path,
            priority: 0,
        }
    }

    /// A column shown only with `-o wide`.
    pub const fn wide(name: &'static str, type_: &'static str, json_path: &'static str) -> Column {
        Column {
            name,
            type_,
            json_path,
            priority: 1,
        }
    }
}

/// The facts of one single-version CRD.
#[derive(Debug, Clone)]
pub struct CrdSpec {
    /// API group.
    pub group: &'static str,
    /// The one served and stored version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural resource name.
    pub plural: &'static str,
    /// Short names (`kubectl get eni`).
    pub short_names: &'static [&'static str],
    /// Categories (`kubectl get aws`).
    pub categories: &'static [&'static str],
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// The version's `openAPIV3Schema`.
    pub schema: Value,
    /// Printer columns (Age is appended).
    pub columns: Vec<Column>,
    /// Whether the version has the `status` subresource.
    pub status_subresource: bool,
}

impl CrdSpec {
    /// The CustomResourceDefinition object.
    pub fn to_crd(&self) -> Value {
        let mut columns: Vec<Value> = self
            .columns
            .iter()
            .map(|c| {
                let mut col = json!({"name": c.name, "type": c.type_, "jsonPath": c.json_path});
                if c.priority > 0 {
                    col["priority"] = json!(c.priority);
                }
                col
            })
            .collect();
        columns.push(
            json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
        );
        let mut version = json!({
            "name": self.version,
            "served": true,
            "storage": true,
            "schema": {"openAPIV3Schema": self.schema},
            "additionalPrinterColumns": columns,
        });
        if self.status_subresource {
            version["subresources"] = json!({"status": {}});
        }
        let singular = self.kind.to_ascii_lowercase();
        let mut names = json!({
            "kind": self.kind,
            "listKind": format!("{}List", self.kind),
            "plural": self.plural,
            "singular": singular,
        });
        if !self.short_names.is_empty() {
            names["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            names["categories"] = json!(self.categories);
        }
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{}.{}", self.plural, self.group)},
            "spec": {
                "group": self.group,
                "scope": if self.namespaced { "Namespaced" } else { "Cluster" },
                "names": names,
                "versions": [version],
            },
        })
    }
}

/// An object schema with these properties (each a schema) and required fields.
pub fn object(properties: Value, required: &[&str]) -> Value {
    let mut schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

/// A string schema.
pub fn string() -> Value {
    json!({"type": "string"})
}

/// An integer schema.
pub fn integer() -> Value {
    json!({"type": "integer"})
}

/// A boolean schema.
pub fn boolean() -> Value {
    json!({"type": "boolean"})
}

/// An array of `items`.
pub fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

/// A map of strings.
pub fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crd_spec_becomes_a_v1_crd_with_age_last() {
        let spec = CrdSpec {
            group: "ec2.skiff.dev",
            version: "v1alpha1",
            kind: "Subnet",
            plural: "subnets",
            short_names: &[],
            categories: &["aws"],
            namespaced: false,
            schema: object(
                json!({"spec": object(json!({"cidrBlock": string()}), &["cidrBlock"])}),
                &[],
            ),
            columns: vec![Column::new("CIDR", "string", ".spec.cidrBlock")],
            status_subresource: true,
        };
        let crd = spec.to_crd();
        assert_eq!(crd["metadata"]["name"], "subnets.ec2.skiff.dev");
        assert_eq!(crd["spec"]["scope"], "Cluster");
        assert_eq!(crd["spec"]["names"]["singular"], "subnet");
        let cols = crd["spec"]["versions"][0]["additionalPrinterColumns"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(cols.len(), 2);
        assert_eq!(cols[1]["name"], "Age");
        assert_eq!(
            crd["spec"]["versions"][0]["subresources"],
            json!({"status": {}})
        );
    }
}
