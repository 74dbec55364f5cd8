//! What a DELETE (and an update of an object being deleted) does to an object, decided as
//! kube-apiserver's generic store does: `rest.BeforeDelete` with the pod strategy's
//! `CheckGracefulDelete`, `updateForGracefulDeletionAndFinalizers` and
//! `ShouldDeleteDuringUpdate`. Pure: the registry reads, decides here, then writes.

use api::ResourceInfo;
use serde_json::{Value, json};

use crate::codec::{self, meta_str};
use crate::registry::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};

/// The outcome of a DELETE on one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// A graceful deletion is already under way and the request does not shorten it:
    /// nothing changes (not even finalizers), the object is returned as it is.
    Unchanged,
    /// Remove the object from storage now; its last state.
    Remove(Value),
    /// Store this object (deletion marked, finalizers as the policy says) and keep it.
    Mark(Value),
}

/// The deletion request as far as the plan needs it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The propagation policy in force (after the resource's default).
    pub policy: Option<&'a str>,
    /// `gracePeriodSeconds` asked for (a negative one counts as 1).
    pub grace_period_seconds: Option<i64>,
    /// The server's time now.
    pub now: jiff::Timestamp,
}

/// Decides what deleting `old` does.
pub fn plan(info: &ResourceInfo, old: &Value, req: Request<'_>) -> Plan {
    // A negative grace period counts as 1 s on the delete path.
    let req = Request {
        grace_period_seconds: req.grace_period_seconds.map(|g| if g < 0 { 1 } else { g }),
        ..req
    };
    let mut new = old.clone();
    let already_deleting = meta_str(old, "deletionTimestamp").is_some();
    // `BeforeDelete`: only pods have a graceful delete strategy.
    let (graceful, last_grace) = if is_pod(info) {
        if already_deleting {
            match deletion_grace(old) {
                // Deleted before with no (or a zero) grace period: go on at once.
                None | Some(0) => (false, 0),
                Some(current) => match req.grace_period_seconds {
                    // Only a shorter grace period may be asked for; the deadline moves
                    // back by the difference.
                    Some(g) if g < current => {
                        let deadline = meta_str(old, "deletionTimestamp")
                            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                            .and_then(|ts| {
                                ts.checked_add(jiff::SignedDuration::from_secs(g - current))
                                    .ok()
                            })
                            .unwrap_or(req.now);
                        set_meta(&mut new, "deletionTimestamp", json!(rfc3339(deadline)));
                        set_meta(&mut new, "deletionGracePeriodSeconds", json!(g));
                        (true, g)
                    }
                    _ => return Plan::Unchanged,
                },
            }
        } else {
            let g = pod_grace_period(old, req.grace_period_seconds);
            let deadline = req
                .now
                .checked_add(jiff::SignedDuration::from_secs(g))
                .unwrap_or(req.now);
            set_meta(&mut new, "deletionTimestamp", json!(rfc3339(deadline)));
            set_meta(&mut new, "deletionGracePeriodSeconds", json!(g));
            bump_generation(&mut new);
            (true, g)
        }
    } else {
        (false, 0)
    };

    // `deletionFinalizersForGarbageCollection`, and the CRD storage's cleanup finalizer.
    let mut finalizers = codec::finalizers(&new);
    match req.policy {
        Some("Orphan") if !finalizers.iter().any(|f| f == ORPHAN_FINALIZER) => {
            finalizers.retain(|f| f != FOREGROUND_FINALIZER);
            finalizers.push(ORPHAN_FINALIZER.into());
        }
        Some("Foreground") if !finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) => {
            finalizers.retain(|f| f != ORPHAN_FINALIZER);
            finalizers.push(FOREGROUND_FINALIZER.into());
        }
        Some("Background") => {
            finalizers.retain(|f| f != ORPHAN_FINALIZER && f != FOREGROUND_FINALIZER)
        }
        _ => {}
    }
    if crate::registry::is_crd(info)
        && !already_deleting
        && !finalizers.iter().any(|f| f == api::crd::CLEANUP_FINALIZER)
    {
        // Deleting a CRD marks it; the cleanup finalizer holds it until its custom
        // resources are gone.
        finalizers.push(api::crd::CLEANUP_FINALIZER.into());
    }
    if let Some(meta) = codec::meta_mut(&mut new) {
        if finalizers.is_empty() {
            meta.remove("finalizers");
        } else {
            meta.insert("finalizers".into(), json!(finalizers));
        }
    }
    let is_namespace = info.group.is_empty() && info.plural == "namespaces";
    let pending_finalizers =
        !finalizers.is_empty() || (is_namespace && namespace_has_spec_finalizers(&new));
    if !pending_finalizers && last_grace == 0 {
        return Plan::Remove(new);
    }
    if !graceful {
        // Held by finalizers without a graceful strategy: marked with a zero grace period.
        set_meta(&mut new, "deletionGracePeriodSeconds", json!(0));
        if !already_deleting {
            set_meta(&mut new, "deletionTimestamp", json!(rfc3339(req.now)));
            bump_generation(&mut new);
        }
    }
    if is_namespace {
        new["status"]["phase"] = json!("Terminating");
    }
    Plan::Mark(new)
}

/// Upstream's `ShouldDeleteDuringUpdate` (with the namespace storage's extra condition): an
/// update removes the object instead of storing it when the stored object is being deleted
/// with no (or a zero) grace period and the new one has no finalizers left.
pub fn delete_during_update(info: &ResourceInfo, old: &Value, new: &Value) -> bool {
    let is_namespace = info.group.is_empty() && info.plural == "namespaces";
    codec::finalizers(new).is_empty()
        && !(is_namespace && namespace_has_spec_finalizers(new))
        && meta_str(old, "deletionTimestamp").is_some()
        && matches!(deletion_grace(old), None | Some(0))
}

/// Whether a namespace still has spec finalizers (`kubernetes`) to run.
pub fn namespace_has_spec_finalizers(ns: &Value) -> bool {
    ns.pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

/// The pod strategy's `CheckGracefulDelete`: the period asked for, else the pod's
/// `terminationGracePeriodSeconds`, else 0; 0 for a pod not yet scheduled or already
/// finished; a negative period counts as 1.
fn pod_grace_period(pod: &Value, requested: Option<i64>) -> i64 {
    let mut period = requested
        .or_else(|| {
            pod.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(0);
    let scheduled = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if !scheduled || finished {
        period = 0;
    }
    if period < 0 { 1 } else { period }
}

fn is_pod(info: &ResourceInfo) -> bool {
    info.group.is_empty() && info.plural == "pods"
}

/// `deletionGracePeriodSeconds`, a negative one counting as 1 as upstream reads it.
fn deletion_grace(obj: &Value) -> Option<i64> {
    obj.pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .map(|g| if g < 0 { 1 } else { g })
}

fn bump_generation(obj: &mut Value) {
    if let Some(meta) = codec::meta_mut(obj)
        && let Some(g) = meta.get("generation").and_then(Value::as_i64)
        && g > 0
    {
        meta.insert("generation".into(), json!(g + 1));
    }
}

fn set_meta(obj: &mut Value, field: &str, value: Value) {
    if let Some(meta) = codec::meta_mut(obj) {
        meta.insert(field.into(), value);
    }
}

fn rfc3339(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(plural: &str) -> ResourceInfo {
        crate::registry::Resources::builtin()
            .find("", "v1", plural)
            .expect("builtin resource")
    }

    fn now() -> jiff::Timestamp {
        "2026-01-01T00:00:00Z".parse().expect("timestamp")
    }

    fn req(grace: Option<i64>) -> Request<'static> {
        Request {
            policy: None,
            grace_period_seconds: grace,
            now: now(),
        }
    }

    /// A scheduled, running pod with optional finalizers and deletion marks.
    fn pod(finalizers: &[&str], deleting: Option<(&str, i64)>, phase: &str, node: &str) -> Value {
        let mut p = json!({
            "metadata": {"name": "p", "finalizers": finalizers},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 30},
            "status": {"phase": phase},
        });
        if finalizers.is_empty() {
            p["metadata"]
                .as_object_mut()
                .map(|m| m.remove("finalizers"));
        }
        if let Some((ts, g)) = deleting {
            p["metadata"]["deletionTimestamp"] = json!(ts);
            p["metadata"]["deletionGracePeriodSeconds"] = json!(g);
        }
        p
    }

    fn marks(plan: &Plan) -> Option<(String, i64)> {
        let obj = match plan {
            Plan::Mark(o) | Plan::Remove(o) => o,
            Plan::Unchanged => return None,
        };
        Some((
            meta_str(obj, "deletionTimestamp")?.to_string(),
            obj.pointer("/metadata/deletionGracePeriodSeconds")?
                .as_i64()?,
        ))
    }

    #[test]
    fn pod_deletes_follow_before_delete_and_check_graceful_delete() {
        let deleting = Some(("2026-01-01T00:00:30Z", 30));
        // (case, pod, grace asked, expected plan kind, expected (deletionTimestamp, grace))
        let cases: Vec<(&str, Value, Option<i64>, &str, Option<(&str, i64)>)> = vec![
            (
                "running pod waits its termination grace period",
                pod(&[], None, "Running", "n1"),
                None,
                "mark",
                Some(("2026-01-01T00:00:30Z", 30)),
            ),
            (
                "grace asked for wins over the pod's",
                pod(&[], None, "Running", "n1"),
                Some(5),
                "mark",
                Some(("2026-01-01T00:00:05Z", 5)),
            ),
            (
                "unscheduled pod goes at once",
                pod(&[], None, "Pending", ""),
                None,
                "remove",
                Some(("2026-01-01T00:00:00Z", 0)),
            ),
            (
                "finished pod goes at once",
                pod(&[], None, "Succeeded", "n1"),
                Some(10),
                "remove",
                Some(("2026-01-01T00:00:00Z", 0)),
            ),
            (
                "finished pod with a finalizer is marked with grace 0",
                pod(&["batch.kubernetes.io/job-tracking"], None, "Failed", "n1"),
                None,
                "mark",
                Some(("2026-01-01T00:00:00Z", 0)),
            ),
            (
                "a negative grace counts as 1",
                pod(&[], None, "Running", "n1"),
                Some(-5),
                "mark",
                Some(("2026-01-01T00:00:01Z", 1)),
            ),
            (
                "second delete with no grace changes nothing",
                pod(&[], deleting, "Running", "n1"),
                None,
                "unchanged",
                None,
            ),
            (
                "second delete with a longer grace never extends",
                pod(&[], deleting, "Running", "n1"),
                Some(60),
                "unchanged",
                None,
            ),
            (
                "second delete with a shorter grace moves the deadline back",
                pod(&[], deleting, "Running", "n1"),
                Some(10),
                "mark",
                Some(("2026-01-01T00:00:10Z", 10)),
            ),
            (
                "second delete with grace 0 removes a pod without finalizers",
                pod(&[], deleting, "Running", "n1"),
                Some(0),
                "remove",
                Some(("2026-01-01T00:00:00Z", 0)),
            ),
            (
                "second delete with grace 0 shortens a pod held by a finalizer",
                pod(&["example.com/hold"], deleting, "Running", "n1"),
                Some(0),
                "mark",
                Some(("2026-01-01T00:00:00Z", 0)),
            ),
        ];
        for (case, old, grace, kind, want) in cases {
            let got = plan(&info("pods"), &old, req(grace));
            let got_kind = match got {
                Plan::Unchanged => "unchanged",
                Plan::Remove(_) => "remove",
                Plan::Mark(_) => "mark",
            };
            assert_eq!(got_kind, kind, "{case}");
            assert_eq!(
                marks(&got),
                want.map(|(ts, g)| (ts.to_string(), g)),
                "{case}"
            );
        }
    }

    #[test]
    fn objects_without_a_graceful_strategy_are_held_only_by_finalizers() {
        let cm = json!({"metadata": {"name": "c", "generation": 1, "finalizers": ["x/y"]}});
        let Plan::Mark(marked) = plan(&info("configmaps"), &cm, req(Some(30))) else {
            panic!("a held configmap is marked");
        };
        assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], json!(0));
        assert_eq!(
            marked["metadata"]["deletionTimestamp"],
            json!("2026-01-01T00:00:00Z")
        );
        assert_eq!(marked["metadata"]["generation"], json!(2));
        let free = json!({"metadata": {"name": "c"}});
        assert!(matches!(
            plan(&info("configmaps"), &free, req(None)),
            Plan::Remove(_)
        ));
        let orphan = plan(
            &info("configmaps"),
            &free,
            Request {
                policy: Some("Orphan"),
                ..req(None)
            },
        );
        let Plan::Mark(o) = orphan else {
            panic!("orphan policy holds the object");
        };
        assert_eq!(o["metadata"]["finalizers"], json!(["orphan"]));
    }

    #[test]
    fn updates_delete_only_once_the_grace_period_is_zero_and_finalizers_are_gone() {
        let cases = [
            ("not being deleted", pod(&[], None, "Running", "n1"), false),
            (
                "pod inside its grace period waits for the kubelet",
                pod(&[], Some(("2026-01-01T00:00:30Z", 30)), "Running", "n1"),
                false,
            ),
            (
                "pod with grace 0 goes",
                pod(&[], Some(("2026-01-01T00:00:00Z", 0)), "Running", "n1"),
                true,
            ),
        ];
        for (case, old, want) in cases {
            let mut new = old.clone();
            new["metadata"]
                .as_object_mut()
                .map(|m| m.remove("finalizers"));
            assert_eq!(
                delete_during_update(&info("pods"), &old, &new),
                want,
                "{case}"
            );
        }
        let held = pod(&["a/b"], Some(("2026-01-01T00:00:00Z", 0)), "Running", "n1");
        assert!(
            !delete_during_update(&info("pods"), &held, &held),
            "a finalizer left keeps it"
        );
    }
}
