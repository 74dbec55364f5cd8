//! The alternative representations kubectl and metadata clients ask for: server-side
//! `meta.k8s.io/v1` Tables (columns from `api::printers`) and `PartialObjectMetadata`.

use api::{ResourceInfo, printers};
use serde_json::{Value, json};

/// `includeObject` of a Table request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object in rows.
    None,
    /// `PartialObjectMetadata` in rows (the default).
    Metadata,
    /// The whole object in rows.
    Object,
}

impl IncludeObject {
    /// Parses the query parameter (default `Metadata`).
    pub fn parse(v: Option<&str>) -> Result<IncludeObject, api::ApiError> {
        match v {
            None | Some("") | Some("Metadata") => Ok(IncludeObject::Metadata),
            Some("None") => Ok(IncludeObject::None),
            Some("Object") => Ok(IncludeObject::Object),
            Some(other) => Err(api::ApiError::BadRequest(format!(
                "includeObject: Unsupported value: {other:?}: supported values: \"Metadata\", \"None\", \"Object\""
            ))),
        }
    }
}

/// The `PartialObjectMetadata` form of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A `PartialObjectMetadataList` of objects.
pub fn partial_metadata_list(items: &[Value], list_meta: Value) -> Value {
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "items": items.iter().map(partial_metadata).collect::<Vec<_>>(),
    })
}

/// A Table of `items` with the resource's columns.
pub fn table(
    info: &ResourceInfo,
    items: &[Value],
    list_meta: Value,
    include: IncludeObject,
) -> Value {
    let now = crate::clock::now();
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            let cells = match &info.custom {
                Some(cr) => printers::custom_cells(cr, obj, now),
                None => printers::cells(info.group, info.plural, obj, now),
            };
            let mut row = json!({ "cells": cells });
            if let Some(conditions) = printers::row_conditions(info.group, info.plural, obj) {
                row["conditions"] = conditions;
            }
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => row["object"] = partial_metadata(obj),
                IncludeObject::Object => row["object"] = obj.clone(),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": match &info.custom {
            Some(cr) => json!(printers::custom_column_definitions(cr)),
            None => json!(printers::columns(info.group, info.plural)),
        },
        "rows": rows,
    })
}
