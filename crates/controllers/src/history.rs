//! ControllerRevisions, the snapshots of a pod template that StatefulSets and DaemonSets keep
//! to tell old pods from new ones and to roll back, as upstream's
//! `pkg/controller/history/controller_history.go`: the revision's `data` is the patch
//! `{"spec":{"template":{…,"$patch":"replace"}}}`, its name `<owner>-<hash>` where the hash is
//! FNV-1 (32 bit) of the data and the collision count, encoded with `SafeEncodeString`.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use serde_json::{Map, Value};

use crate::{Error, is_conflict};

/// The label upstream's history package puts on every revision it creates: the hash alone.
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";
/// The label a StatefulSet's and DaemonSet's pods carry naming their revision
/// (`apps.ControllerRevisionHashLabelKey`).
pub const REVISION_LABEL: &str = "controller-revision-hash";
/// Revisions kept by default (`spec.revisionHistoryLimit`).
pub const DEFAULT_HISTORY_LIMIT: i32 = 10;
/// Longest owner-name prefix of a revision name, so that the name fits in 253 bytes.
const MAX_PREFIX: usize = 223;

/// The alphabet of `k8s.io/apimachinery/pkg/util/rand.SafeEncodeString`: no vowels, no
/// confusable digits, so that no generated string spells a word.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Maps every byte of `s` into the safe alphabet, as upstream's `SafeEncodeString`.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// 32-bit FNV-1 (Go's `hash/fnv.New32`).
pub fn fnv1_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, b| {
        hash.wrapping_mul(0x0100_0193) ^ u32::from(*b)
    })
}

/// The hash of a revision's data and the owner's collision count
/// (`history.HashControllerRevision`).
pub fn hash_revision(data: &[u8], collision_count: Option<i32>) -> String {
    let mut bytes = data.to_vec();
    if let Some(probe) = collision_count {
        bytes.extend_from_slice(probe.to_string().as_bytes());
    }
    safe_encode(&fnv1_32(&bytes).to_string())
}

/// `<prefix>-<hash>`, the prefix cut to 223 bytes (`history.ControllerRevisionName`).
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let mut cut = prefix.len().min(MAX_PREFIX);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{hash}", &prefix[..cut])
}

/// Recursively sorts object keys, as Go's `json.Marshal` of a map does.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(sorted.into_iter().collect::<Map<String, Value>>())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The revision data of a template: `{"spec":{"template":{…,"$patch":"replace"}}}` with keys
/// in Go's order and the template's unset `creationTimestamp` written as `null`, as the
/// StatefulSet and DaemonSet controllers' `getPatch` produce.
pub fn template_patch(template: &PodTemplateSpec) -> Vec<u8> {
    let mut template = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(t) = template.as_object_mut() {
        let meta = t
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            meta.entry("creationTimestamp").or_insert(Value::Null);
        }
        t.insert("$patch".into(), Value::String("replace".into()));
    }
    let patch = serde_json::json!({ "spec": { "template": template } });
    serde_json::to_vec(&sorted(patch)).unwrap_or_default()
}

/// The template a revision's data holds, if it holds one.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut template = revision
        .data
        .as_ref()?
        .0
        .get("spec")?
        .get("template")?
        .clone();
    if let Some(t) = template.as_object_mut() {
        t.remove("$patch");
    }
    serde_json::from_value(template).ok()
}

/// The raw bytes of a revision's data, for comparing revisions.
fn data_bytes(revision: &ControllerRevision) -> Vec<u8> {
    revision
        .data
        .as_ref()
        .map(|d| serde_json::to_vec(&sorted(d.0.clone())).unwrap_or_default())
        .unwrap_or_default()
}

/// Whether two revisions hold the same data (`history.EqualRevision`).
pub fn equal_data(revision: &ControllerRevision, data: &[u8]) -> bool {
    let ours: Option<Value> = serde_json::from_slice(data).ok();
    let ours = ours.map(|v| serde_json::to_vec(&sorted(v)).unwrap_or_default());
    ours.is_some_and(|o| o == data_bytes(revision))
}

/// A new revision of `owner` (not yet created): labels copied from the template plus
/// `hash_label` = hash, the owner as controller, name `<owner>-<hash>`.
#[allow(clippy::too_many_arguments)]
pub fn new_revision(
    owner_name: &str,
    namespace: &str,
    owner: OwnerReference,
    template_labels: Option<&BTreeMap<String, String>>,
    hash_label: &str,
    data: &[u8],
    number: i64,
    collision_count: Option<i32>,
) -> ControllerRevision {
    let hash = hash_revision(data, collision_count);
    let mut labels = template_labels.cloned().unwrap_or_default();
    labels.insert(hash_label.to_string(), hash.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(owner_name, &hash)),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        data: serde_json::from_slice(data).ok().map(RawExtension),
        revision: number,
    }
}

/// The highest revision number among `revisions` (0 if none).
pub fn max_revision(revisions: &[ControllerRevision]) -> i64 {
    revisions.iter().map(|r| r.revision).max().unwrap_or(0)
}

/// What [`ensure_revision`] settled on.
pub struct Ensured {
    /// The revision matching the current template.
    pub revision: ControllerRevision,
    /// The collision count to store in the owner's status.
    pub collision_count: i32,
}

/// Finds or creates the revision for `data` (`history.CreateControllerRevision` plus the
/// controllers' reuse of an equal older revision, whose number is bumped to the newest).
/// On a name collision with different data the collision count is raised and the hash
/// recomputed, as upstream.
#[allow(clippy::too_many_arguments)]
pub async fn ensure_revision(
    api: &Api<ControllerRevision>,
    owner_name: &str,
    namespace: &str,
    owner: OwnerReference,
    template_labels: Option<&BTreeMap<String, String>>,
    hash_label: &str,
    data: &[u8],
    revisions: &[ControllerRevision],
    collision_count: i32,
) -> Result<Ensured, Error> {
    let next = max_revision(revisions) + 1;
    // An equal revision already exists: reuse it (a rollback), making it the newest.
    let mut equal: Vec<&ControllerRevision> =
        revisions.iter().filter(|r| equal_data(r, data)).collect();
    equal.sort_by_key(|r| r.revision);
    if let Some(existing) = equal.last() {
        let mut revision = (*existing).clone();
        if revision.revision != max_revision(revisions) {
            revision.revision = next;
            let name = revision.metadata.name.clone().unwrap_or_default();
            revision = api
                .replace(&name, &PostParams::default(), &revision)
                .await
                .map_err(|e| {
                    Error::request(
                        "update",
                        format!("controllerrevisions {namespace}/{name}"),
                        e,
                    )
                })?;
        }
        return Ok(Ensured {
            revision,
            collision_count,
        });
    }
    let mut collisions = collision_count;
    loop {
        let candidate = new_revision(
            owner_name,
            namespace,
            owner.clone(),
            template_labels,
            hash_label,
            data,
            next,
            Some(collisions),
        );
        let name = candidate.metadata.name.clone().unwrap_or_default();
        match api.create(&PostParams::default(), &candidate).await {
            Ok(revision) => {
                return Ok(Ensured {
                    revision,
                    collision_count: collisions,
                });
            }
            Err(e) if is_conflict(&e) => {
                let existing = api.get_opt(&name).await.map_err(|e| {
                    Error::request("get", format!("controllerrevisions {namespace}/{name}"), e)
                })?;
                match existing {
                    Some(r)
                        if equal_data(&r, data)
                            && r.metadata
                                .owner_references
                                .iter()
                                .flatten()
                                .any(|o| o.uid == owner.uid) =>
                    {
                        return Ok(Ensured {
                            revision: r,
                            collision_count: collisions,
                        });
                    }
                    _ => collisions = collisions.saturating_add(1),
                }
            }
            Err(e) => {
                return Err(Error::request(
                    "create",
                    format!("controllerrevisions {namespace}/{name}"),
                    e,
                ));
            }
        }
    }
}

/// The revisions to delete so that at most `limit` revisions not in `live` remain, oldest
/// first (the controllers' `truncateHistory`).
pub fn revisions_to_prune<'a>(
    revisions: &'a [ControllerRevision],
    live: &HashSet<String>,
    limit: i32,
) -> Vec<&'a ControllerRevision> {
    let mut historic: Vec<&ControllerRevision> = revisions
        .iter()
        .filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or_default()))
        .collect();
    let limit = usize::try_from(limit.max(0)).unwrap_or(0);
    if historic.len() <= limit {
        return Vec::new();
    }
    historic.sort_by_key(|r| r.revision);
    let excess = historic.len() - limit;
    historic.truncate(excess);
    historic
}

/// Deletes the revisions [`revisions_to_prune`] picks.
pub async fn prune(
    api: &Api<ControllerRevision>,
    revisions: &[ControllerRevision],
    live: &HashSet<String>,
    limit: i32,
) -> Result<(), Error> {
    for r in revisions_to_prune(revisions, live, limit) {
        let name = r.metadata.name.clone().unwrap_or_default();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if crate::is_not_found(&e) => {}
            Err(e) => {
                return Err(Error::request(
                    "delete",
                    format!(
                        "controllerrevisions {}/{name}",
                        r.metadata.namespace.as_deref().unwrap_or_default()
                    ),
                    e,
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(name: &str, number: i64) -> ControllerRevision {
        ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: None,
            revision: number,
        }
    }

    #[test]
    fn fnv1_matches_go_hash_fnv_new32() {
        // Reference values of Go's fnv.New32 (FNV-1, not FNV-1a).
        let cases = [
            ("empty input is the offset basis", "", 0x811c_9dc5_u32),
            ("a", "a", 0x050c_5d7e),
            ("foobar", "foobar", 0x31f0_b262),
        ];
        for (case, input, want) in cases {
            assert_eq!(fnv1_32(input.as_bytes()), want, "{case}");
        }
    }

    #[test]
    fn safe_encoding_uses_only_the_safe_alphabet() {
        let cases = [
            ("digits map by byte value", "0123", "4567"),
            ("wraps around the alphabet", "9", "f"),
        ];
        for (case, input, want) in cases {
            assert_eq!(safe_encode(input), want, "{case}");
        }
    }

    #[test]
    fn revision_hashes_depend_on_data_and_collisions() {
        let a = hash_revision(b"{}", None);
        let b = hash_revision(b"{}", Some(0));
        let c = hash_revision(b"{}", Some(1));
        let d = hash_revision(b"{\"x\":1}", Some(0));
        assert_ne!(a, b, "a probe changes the hash");
        assert_ne!(b, c, "a different collision count changes the hash");
        assert_ne!(b, d, "different data changes the hash");
        assert_eq!(b, hash_revision(b"{}", Some(0)), "hashing is stable");
        assert!(
            b.bytes().all(|x| SAFE_ALPHABET.contains(&x)),
            "safe alphabet: {b}"
        );
    }

    #[test]
    fn revision_names_cut_long_prefixes() {
        assert_eq!(revision_name("web", "abc"), "web-abc");
        let long = "x".repeat(300);
        assert_eq!(revision_name(&long, "h").len(), MAX_PREFIX + 2);
    }

    #[test]
    fn template_patches_are_sorted_and_replace() {
        let template: PodTemplateSpec = serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }))
        .expect("template");
        let data = String::from_utf8(template_patch(&template)).expect("utf8");
        assert_eq!(
            data,
            r#"{"spec":{"template":{"$patch":"replace","metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"image":"nginx","name":"c"}]}}}}"#
        );
        let r = new_revision(
            "web",
            "default",
            OwnerReference::default(),
            None,
            HASH_LABEL,
            data.as_bytes(),
            1,
            Some(0),
        );
        assert!(
            equal_data(&r, data.as_bytes()),
            "a revision equals its data"
        );
        assert_eq!(template_of(&r), Some(template), "the template round-trips");
    }

    #[test]
    fn pruning_keeps_live_revisions_and_the_newest_history() {
        let revisions = vec![rev("a", 1), rev("b", 2), rev("c", 3), rev("d", 4)];
        let cases = [
            ("under the limit nothing goes", vec![], 10, vec![]),
            ("oldest go first", vec![], 2, vec!["a", "b"]),
            ("live revisions stay", vec!["a"], 1, vec!["b", "c"]),
            (
                "a zero limit keeps only live ones",
                vec!["d"],
                0,
                vec!["a", "b", "c"],
            ),
        ];
        for (case, live, limit, want) in cases {
            let live: HashSet<String> = live.into_iter().map(String::from).collect();
            let got: Vec<&str> = revisions_to_prune(&revisions, &live, limit)
                .into_iter()
                .map(|r| r.metadata.name.as_deref().unwrap_or_default())
                .collect();
            assert_eq!(got, want, "{case}");
        }
    }
}
