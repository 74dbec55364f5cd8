//! Conversion between served versions and the stored version for resources served in more
//! than one form: `events.k8s.io/v1` Events (stored as core/v1 Events) and
//! `autoscaling/v1` HorizontalPodAutoscalers (stored as autoscaling/v2), following upstream's
//! conversion functions.

use serde_json::{Map, Value, json};

use crate::resources::ResourceInfo;

/// Field renames between events.k8s.io/v1 (left) and core/v1 (right).
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Annotation upstream keeps autoscaling/v2 metrics in when served as autoscaling/v1.
const HPA_METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
/// Annotation for v2 status metrics in the v1 form.
const HPA_CURRENT_METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
/// Annotation for v2 status conditions in the v1 form.
const HPA_CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
/// Annotation for v2 behavior in the v1 form.
const HPA_BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";

/// Converts an object in `info`'s served form to its stored form.
pub fn to_storage(info: &ResourceInfo, mut obj: Value) -> Value {
    if info.custom.is_some() {
        // Custom resources: conversion strategy None rewrites apiVersion only.
        obj["apiVersion"] =
            Value::String(format!("{}/{}", info.storage_group, info.storage_version));
        return obj;
    }
    match (info.group, info.version, info.plural) {
        ("events.k8s.io", "v1", "events") => rename_fields(obj, EVENT_FIELDS, false, "v1", "Event"),
        ("autoscaling", "v1", "horizontalpodautoscalers") => hpa_v1_to_v2(obj),
        _ => obj,
    }
}

/// Converts a stored object to `info`'s served form.
pub fn from_storage(info: &ResourceInfo, mut obj: Value) -> Value {
    if info.custom.is_some() {
        obj["apiVersion"] = Value::String(info.api_version());
        return obj;
    }
    match (info.group, info.version, info.plural) {
        ("events.k8s.io", "v1", "events") => {
            rename_fields(obj, EVENT_FIELDS, true, "events.k8s.io/v1", "Event")
        }
        ("autoscaling", "v1", "horizontalpodautoscalers") => hpa_v2_to_v1(obj),
        _ => obj,
    }
}

fn rename_fields(
    mut obj: Value,
    pairs: &[(&str, &str)],
    to_left: bool,
    api_version: &str,
    kind: &str,
) -> Value {
    if let Some(map) = obj.as_object_mut() {
        for (left, right) in pairs {
            let (from, to) = if to_left {
                (*right, *left)
            } else {
                (*left, *right)
            };
            if let Some(v) = map.remove(from) {
                map.insert(to.to_string(), v);
            }
        }
        map.insert("apiVersion".into(), json!(api_version));
        map.insert("kind".into(), json!(kind));
    }
    obj
}

fn annotations(obj: &mut Map<String, Value>) -> Option<&mut Map<String, Value>> {
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()?;
    meta.entry("annotations")
        .or_insert_with(|| json!({}))
        .as_object_mut()
}

fn is_cpu_utilization(metric: &Value) -> bool {
    metric["type"] == "Resource"
        && metric["resource"]["name"] == "cpu"
        && metric["resource"]["target"]["type"] == "Utilization"
}

fn hpa_v1_to_v2(mut obj: Value) -> Value {
    let Some(map) = obj.as_object_mut() else {
        return obj;
    };
    map.insert("apiVersion".into(), json!("autoscaling/v2"));
    let mut metrics: Vec<Value> = Vec::new();
    let mut stash = |key: &str| -> Option<Value> {
        let ann = annotations(map)?;
        let raw = ann.remove(key)?;
        raw.as_str().and_then(|s| serde_json::from_str(s).ok())
    };
    let extra_metrics = stash(HPA_METRICS_ANNOTATION);
    let current_metrics = stash(HPA_CURRENT_METRICS_ANNOTATION);
    let conditions = stash(HPA_CONDITIONS_ANNOTATION);
    let behavior = stash(HPA_BEHAVIOR_ANNOTATION);
    if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut)
        && meta
            .get("annotations")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        meta.remove("annotations");
    }
    if let Some(spec) = map.get_mut("spec").and_then(Value::as_object_mut) {
        if let Some(cpu) = spec.remove("targetCPUUtilizationPercentage") {
            metrics.push(json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}));
        }
        if let Some(Value::Array(extra)) = extra_metrics {
            metrics.extend(extra);
        }
        if !metrics.is_empty() {
            spec.insert("metrics".into(), Value::Array(metrics));
        }
        if let Some(b) = behavior {
            spec.insert("behavior".into(), b);
        }
    }
    if let Some(status) = map.get_mut("status").and_then(Value::as_object_mut) {
        let mut current = Vec::new();
        if let Some(cpu) = status.remove("currentCPUUtilizationPercentage") {
            current.push(json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": cpu}}}));
        }
        if let Some(Value::Array(extra)) = current_metrics {
            current.extend(extra);
        }
        if !current.is_empty() {
            status.insert("currentMetrics".into(), Value::Array(current));
        }
        if let Some(c) = conditions {
            status.insert("conditions".into(), c);
        }
    }
    obj
}

fn hpa_v2_to_v1(mut obj: Value) -> Value {
    let Some(map) = obj.as_object_mut() else {
        return obj;
    };
    map.insert("apiVersion".into(), json!("autoscaling/v1"));
    let put_annotation = |map: &mut Map<String, Value>, key: &str, v: Value| {
        if let Some(ann) = annotations(map) {
            ann.insert(key.into(), json!(v.to_string()));
        }
    };
    let spec = map
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .map(std::mem::take);
    if let Some(mut spec) = spec {
        let metrics = spec
            .remove("metrics")
            .and_then(|m| {
                if let Value::Array(a) = m {
                    Some(a)
                } else {
                    None
                }
            })
            .unwrap_or_default();
        let (cpu, other): (Vec<Value>, Vec<Value>) =
            metrics.into_iter().partition(is_cpu_utilization);
        if let Some(pct) = cpu
            .first()
            .map(|m| m["resource"]["target"]["averageUtilization"].clone())
            .filter(|v| !v.is_null())
        {
            spec.insert("targetCPUUtilizationPercentage".into(), pct);
        }
        if !other.is_empty() {
            put_annotation(map, HPA_METRICS_ANNOTATION, Value::Array(other));
        }
        if let Some(b) = spec.remove("behavior") {
            put_annotation(map, HPA_BEHAVIOR_ANNOTATION, b);
        }
        map.insert("spec".into(), Value::Object(spec));
    }
    let status = map
        .get_mut("status")
        .and_then(Value::as_object_mut)
        .map(std::mem::take);
    if let Some(mut status) = status {
        let current = status
            .remove("currentMetrics")
            .and_then(|m| {
                if let Value::Array(a) = m {
                    Some(a)
                } else {
                    None
                }
            })
            .unwrap_or_default();
        let (cpu, other): (Vec<Value>, Vec<Value>) = current
            .into_iter()
            .partition(|m| m["type"] == "Resource" && m["resource"]["name"] == "cpu");
        if let Some(pct) = cpu
            .first()
            .map(|m| m["resource"]["current"]["averageUtilization"].clone())
            .filter(|v| !v.is_null())
        {
            status.insert("currentCPUUtilizationPercentage".into(), pct);
        }
        if !other.is_empty() {
            put_annotation(map, HPA_CURRENT_METRICS_ANNOTATION, Value::Array(other));
        }
        if let Some(c) = status.remove("conditions") {
            put_annotation(map, HPA_CONDITIONS_ANNOTATION, c);
        }
        map.insert("status".into(), Value::Object(status));
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin;

    fn info(group: &str, version: &str, plural: &str) -> ResourceInfo {
        builtin()
            .into_iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .expect("resource in table")
    }

    #[test]
    fn events_round_trip_between_events_k8s_io_and_core() {
        let ev = info("events.k8s.io", "v1", "events");
        let served = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"}, "note": "hi", "regarding": {"kind": "Pod", "name": "p"}, "deprecatedCount": 3});
        let stored = to_storage(&ev, served.clone());
        assert_eq!(stored["apiVersion"], "v1");
        assert_eq!(stored["message"], "hi");
        assert_eq!(stored["involvedObject"]["name"], "p");
        assert_eq!(stored["count"], 3);
        assert_eq!(from_storage(&ev, stored), served);
    }

    #[test]
    fn hpa_v1_target_cpu_becomes_a_v2_utilization_metric_and_back() {
        let hpa = info("autoscaling", "v1", "horizontalpodautoscalers");
        let served = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5, "targetCPUUtilizationPercentage": 60}});
        let stored = to_storage(&hpa, served.clone());
        assert_eq!(
            stored["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            60
        );
        assert!(
            stored["spec"]
                .get("targetCPUUtilizationPercentage")
                .is_none()
        );
        assert_eq!(from_storage(&hpa, stored), served);
    }

    #[test]
    fn hpa_v2_memory_metric_survives_a_v1_round_trip_in_an_annotation() {
        let hpa = info("autoscaling", "v1", "horizontalpodautoscalers");
        let stored = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
            "spec": {"maxReplicas": 5, "metrics": [{"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 70}}}]}});
        let served = from_storage(&hpa, stored.clone());
        assert!(served["metadata"]["annotations"][HPA_METRICS_ANNOTATION].is_string());
        assert_eq!(to_storage(&hpa, served), stored);
    }
}
