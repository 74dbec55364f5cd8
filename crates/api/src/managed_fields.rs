//! Server-side apply field ownership, after kubernetes-sigs/structured-merge-diff: field
//! sets in the `FieldsV1` form, computed from objects with the schema facts
//! ([`crate::schema`]), the set algebra, comparison of two objects, the apply merge and
//! the removal of fields an applier stopped applying.
//!
//! Path elements are kept in their `FieldsV1` spelling: `f:<field>`, `k:<json keys>` for
//! an item of an associative list, `v:<json>` for an item of a set, `i:<index>`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::schema::{Definition, Field, FieldType, ListType, MapType, Scalar};

/// A set of field paths, as a tree: `member` says the path of this node is in the set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// This node's own path is a member.
    pub member: bool,
    /// Child path elements.
    pub children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    /// True when no path is a member.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Inserts a path.
    pub fn insert(&mut self, path: &[String]) {
        let mut node = self;
        for pe in path {
            node = node.children.entry(pe.clone()).or_default();
        }
        node.member = true;
    }

    /// True when the path is a member.
    pub fn has(&self, path: &[String]) -> bool {
        let mut node = self;
        for pe in path {
            match node.children.get(pe) {
                Some(n) => node = n,
                None => return false,
            }
        }
        node.member
    }

    /// The union of two sets.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.member |= other.member;
        for (k, v) in &other.children {
            let merged = match out.children.get(k) {
                Some(mine) => mine.union(v),
                None => v.clone(),
            };
            out.children.insert(k.clone(), merged);
        }
        out.prune();
        out
    }

    /// The paths of `self` that are not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (k, v) in &self.children {
            let d = match other.children.get(k) {
                Some(o) => v.difference(o),
                None => v.clone(),
            };
            out.children.insert(k.clone(), d);
        }
        out.prune();
        out
    }

    /// The paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (k, v) in &self.children {
            if let Some(o) = other.children.get(k) {
                out.children.insert(k.clone(), v.intersection(o));
            }
        }
        out.prune();
        out
    }

    /// Every member path, depth first in element order.
    pub fn paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (k, v) in &self.children {
            prefix.push(k.clone());
            v.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    fn prune(&mut self) {
        self.children.retain(|_, v| {
            v.prune();
            !v.is_empty()
        });
    }

    /// The `FieldsV1` JSON form.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, v) in &self.children {
            if v.is_empty() {
                continue;
            }
            m.insert(k.clone(), v.to_fields_v1());
        }
        Value::Object(m)
    }

    /// Parses the `FieldsV1` JSON form; `None` when it is malformed.
    pub fn from_fields_v1(v: &Value) -> Option<FieldSet> {
        let mut root = Self::parse_node(v)?;
        // The root itself is never a member.
        root.member = false;
        Some(root)
    }

    fn parse_node(v: &Value) -> Option<FieldSet> {
        let m = v.as_object()?;
        let mut out = FieldSet {
            member: m.is_empty(),
            children: BTreeMap::new(),
        };
        for (k, child) in m {
            if k == "." {
                out.member = true;
                continue;
            }
            if !(k.starts_with("f:")
                || k.starts_with("k:")
                || k.starts_with("v:")
                || k.starts_with("i:"))
            {
                return None;
            }
            out.children.insert(k.clone(), Self::parse_node(child)?);
        }
        Some(out)
    }
}

/// Renders a path as upstream's conflict messages do: `.spec.replicas`,
/// `.spec.containers[name="nginx"].image`, `.metadata.finalizers[="a"]`.
pub fn path_string(path: &[String]) -> String {
    let mut s = String::new();
    for pe in path {
        if let Some(f) = pe.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = pe.strip_prefix("k:") {
            let parts: Vec<String> = match serde_json::from_str::<Map<String, Value>>(k) {
                Ok(m) => m.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                Err(_) => vec![k.to_string()],
            };
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = pe.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        } else if let Some(i) = pe.strip_prefix("i:") {
            s.push_str(&format!("[{i}]"));
        }
    }
    s
}

/// How a value at some position is merged and owned.
#[derive(Debug, Clone)]
pub enum Shape {
    /// Scalars, atomic lists, atomic maps and atomic structs: owned as a whole.
    Leaf,
    /// An object with declared fields.
    Struct(&'static Definition),
    /// A granular map of values of the inner shape.
    Map(Box<Shape>),
    /// An associative list keyed by these fields.
    AssocList(Vec<&'static str>, Box<Shape>),
    /// A set of scalars.
    Set,
    /// A free-form value: objects are granular, lists atomic.
    Untyped,
}

impl Shape {
    /// The shape of a root object of a definition (untyped for unknown kinds).
    pub fn root(def: Option<&'static Definition>) -> Shape {
        match def {
            Some(d) => Shape::Struct(d),
            None => Shape::Untyped,
        }
    }

    fn of_field(f: &Field) -> Shape {
        Self::of_type(&f.ty, Some(f))
    }

    fn of_type(ty: &FieldType, f: Option<&Field>) -> Shape {
        match ty {
            FieldType::Scalar(Scalar::Object) => Shape::Untyped,
            FieldType::Scalar(_) => Shape::Leaf,
            FieldType::Ref(name) => match crate::schema::definition(name) {
                Some(d)
                    if d.struct_type != Some(MapType::Atomic)
                        && f.and_then(|f| f.map_type) != Some(MapType::Atomic) =>
                {
                    Shape::Struct(d)
                }
                Some(_) => Shape::Leaf,
                None => Shape::Untyped,
            },
            FieldType::Map(inner) => {
                if f.and_then(|f| f.map_type) == Some(MapType::Atomic) {
                    Shape::Leaf
                } else {
                    Shape::Map(Box::new(Self::of_type(inner, None)))
                }
            }
            FieldType::List(inner) => {
                let Some(f) = f else { return Shape::Leaf };
                let (kind, keys) = match f.list_type {
                    Some(ListType::Map) => (ListType::Map, f.map_keys.clone()),
                    Some(other) => (other, Vec::new()),
                    None => match (f.patch_strategy, f.patch_merge_key) {
                        (Some(s), Some(k)) if s.merges() => (ListType::Map, vec![k]),
                        (Some(s), None) if s.merges() => (ListType::Set, Vec::new()),
                        _ => (ListType::Atomic, Vec::new()),
                    },
                };
                match kind {
                    ListType::Atomic => Shape::Leaf,
                    ListType::Set => Shape::Set,
                    ListType::Map => Shape::AssocList(keys, Box::new(Self::of_type(inner, None))),
                }
            }
        }
    }

    /// The shape of a child value by path element name (a field or map key).
    fn child(&self, key: &str) -> Shape {
        match self {
            Shape::Struct(d) => d.field(key).map(Shape::of_field).unwrap_or(Shape::Untyped),
            Shape::Map(inner) => (**inner).clone(),
            Shape::Untyped => Shape::Untyped,
            _ => Shape::Leaf,
        }
    }

    fn item(&self) -> Shape {
        match self {
            Shape::AssocList(_, inner) => (**inner).clone(),
            _ => Shape::Leaf,
        }
    }

    /// True when a value of this shape is owned as a whole.
    fn is_leaf_for(&self, v: &Value) -> bool {
        match self {
            Shape::Leaf => true,
            Shape::Struct(_) | Shape::Map(_) | Shape::Untyped => !v.is_object(),
            Shape::AssocList(..) | Shape::Set => !v.is_array(),
        }
    }

    fn is_struct(&self) -> bool {
        matches!(self, Shape::Struct(_))
    }
}

/// The path element of a list item.
fn item_element(shape: &Shape, item: &Value, index: usize) -> String {
    match shape {
        Shape::AssocList(keys, _) if !keys.is_empty() => {
            let mut fields: Vec<(&str, &Value)> = keys
                .iter()
                .filter_map(|k| item.get(*k).map(|v| (*k, v)))
                .collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            let mut m = Map::new();
            for (k, v) in fields {
                m.insert(k.to_string(), v.clone());
            }
            format!("k:{}", Value::Object(m))
        }
        Shape::Set | Shape::AssocList(..) => format!("v:{item}"),
        _ => format!("i:{index}"),
    }
}

/// The set of fields a (partial) object specifies, as upstream's `ToFieldSet`.
pub fn field_set(obj: &Value, shape: &Shape) -> FieldSet {
    let mut set = FieldSet::default();
    collect(obj, shape, &mut set);
    set.member = false;
    set.prune();
    set
}

fn collect(v: &Value, shape: &Shape, node: &mut FieldSet) {
    if shape.is_leaf_for(v) {
        node.member = true;
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let cs = shape.child(k);
                let declared = matches!(shape, Shape::Struct(d) if d.field(k).is_some());
                let n = node.children.entry(format!("f:{k}")).or_default();
                collect(child, &cs, n);
                let empty = child.is_null() || child.as_object().is_some_and(Map::is_empty);
                if empty || !declared {
                    n.member = true;
                }
            }
        }
        Value::Array(items) => {
            let is = shape.item();
            for (i, item) in items.iter().enumerate() {
                let n = node
                    .children
                    .entry(item_element(shape, item, i))
                    .or_default();
                if !matches!(shape, Shape::Set) {
                    collect(item, &is, n);
                }
                n.member = true;
            }
        }
        _ => node.member = true,
    }
}

/// What changed between two objects: paths added, modified and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

/// Compares two objects of the same shape as upstream's `TypedValue.Compare`.
pub fn compare(old: &Value, new: &Value, shape: &Shape) -> Comparison {
    let mut c = Comparison::default();
    compare_at(Some(old), Some(new), shape, &mut Vec::new(), &mut c);
    c.added.member = false;
    c.modified.member = false;
    c.removed.member = false;
    c.added.prune();
    c.modified.prune();
    c.removed.prune();
    c
}

fn compare_at(
    l: Option<&Value>,
    r: Option<&Value>,
    shape: &Shape,
    path: &mut Vec<String>,
    c: &mut Comparison,
) {
    let leaf = l.is_some_and(|v| shape.is_leaf_for(v))
        || r.is_some_and(|v| shape.is_leaf_for(v))
        || (l.is_none_or(is_empty_container) && r.is_none_or(is_empty_container));
    if leaf {
        match (l, r) {
            (None, Some(_)) => c.added.insert(path),
            (Some(_), None) => c.removed.insert(path),
            (Some(a), Some(b)) if a != b => c.modified.insert(path),
            _ => {}
        }
        return;
    }
    let value = r.or(l).unwrap_or(&Value::Null);
    match value {
        Value::Object(_) => {
            let lm = l.and_then(Value::as_object);
            let rm = r.and_then(Value::as_object);
            let mut keys: Vec<&String> = lm.map(|m| m.keys().collect()).unwrap_or_default();
            for k in rm.map(|m| m.keys().collect::<Vec<_>>()).unwrap_or_default() {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            for k in keys {
                path.push(format!("f:{k}"));
                compare_at(
                    lm.and_then(|m| m.get(k)),
                    rm.and_then(|m| m.get(k)),
                    &shape.child(k),
                    path,
                    c,
                );
                path.pop();
            }
        }
        Value::Array(_) => {
            let la = l
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let ra = r
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let lk: Vec<(String, &Value)> = la
                .iter()
                .enumerate()
                .map(|(i, v)| (item_element(shape, v, i), v))
                .collect();
            let rk: Vec<(String, &Value)> = ra
                .iter()
                .enumerate()
                .map(|(i, v)| (item_element(shape, v, i), v))
                .collect();
            let mut keys: Vec<&String> = lk.iter().map(|(k, _)| k).collect();
            for (k, _) in &rk {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            let is = shape.item();
            for k in keys {
                let lv = lk.iter().find(|(x, _)| x == k).map(|(_, v)| *v);
                let rv = rk.iter().find(|(x, _)| x == k).map(|(_, v)| *v);
                path.push(k.clone());
                if matches!(shape, Shape::Set) {
                    match (lv, rv) {
                        (None, Some(_)) => c.added.insert(path),
                        (Some(_), None) => c.removed.insert(path),
                        _ => {}
                    }
                } else {
                    compare_at(lv, rv, &is, path, c);
                }
                path.pop();
            }
        }
        _ => {}
    }
    // Containers that appear or disappear are members themselves, except the structs Go
    // embeds by value (an empty object of the kind already has them).
    // Go also always serializes `containers` (no omitempty): `null` in an empty PodSpec.
    let by_value = path.last().is_some_and(|pe| pe == "f:containers")
        || shape.is_struct()
            && path.last().is_some_and(|pe| {
                matches!(
                    pe.as_str(),
                    "f:metadata"
                        | "f:spec"
                        | "f:status"
                        | "f:template"
                        | "f:strategy"
                        | "f:updateStrategy"
                        | "f:jobTemplate"
                )
            });
    if !by_value {
        match (l, r) {
            (None, Some(_)) => c.added.insert(path),
            (Some(_), None) => c.removed.insert(path),
            _ => {}
        }
    }
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Merges an applied configuration into the live object: objects merge by key,
/// associative lists by their keys, sets are unioned, everything else is replaced.
pub fn merge(live: &Value, config: &Value, shape: &Shape) -> Value {
    if shape.is_leaf_for(config) || shape.is_leaf_for(live) {
        return config.clone();
    }
    match (live, config) {
        (Value::Object(lm), Value::Object(cm)) => {
            let mut out = lm.clone();
            for (k, cv) in cm {
                let merged = match lm.get(k) {
                    Some(lv) => merge(lv, cv, &shape.child(k)),
                    None => cv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(la), Value::Array(ca)) => Value::Array(merge_items(la, ca, shape)),
        _ => config.clone(),
    }
}

/// Merges list items by path element as structured-merge-diff orders them: live-only
/// items keep their place, applied items come in applied order, and items in both are
/// placed where the applied order puts them.
fn merge_items(live: &[Value], applied: &[Value], shape: &Shape) -> Vec<Value> {
    let keyed = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .enumerate()
            .map(|(i, v)| item_element(shape, v, i))
            .collect()
    };
    let (lk, rk) = (keyed(live), keyed(applied));
    let in_live = |k: &String| lk.iter().position(|x| x == k);
    let in_applied = |k: &String| rk.iter().position(|x| x == k);
    let item = shape.item();
    let merge_one = |l: Option<usize>, r: usize| match l {
        Some(l) if !matches!(shape, Shape::Set) => merge(&live[l], &applied[r], &item),
        _ => applied[r].clone(),
    };
    let mut shared = rk.iter().filter(|k| in_live(k).is_some());
    let mut next_shared = shared.next();
    let mut out = Vec::with_capacity(lk.len().max(rk.len()));
    let (mut li, mut ri) = (0, 0);
    while li < lk.len() || ri < rk.len() {
        if li < lk.len() && ri < rk.len() {
            if lk[li] == rk[ri] {
                out.push(merge_one(Some(li), ri));
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            if in_applied(&lk[li]).is_some() && next_shared.is_some_and(|n| *n != lk[li]) {
                li += 1;
                continue;
            }
        }
        if li < lk.len() && in_applied(&lk[li]).is_none() {
            out.push(live[li].clone());
            li += 1;
            continue;
        }
        if ri < rk.len() {
            out.push(merge_one(in_live(&rk[ri]), ri));
            if next_shared.is_some_and(|n| *n == rk[ri]) {
                next_shared = shared.next();
            }
            ri += 1;
            continue;
        }
        // A live item also applied, already placed.
        li += 1;
    }
    out
}

/// Removes the member paths of `set` from `obj`.
pub fn remove(obj: &mut Value, set: &FieldSet, shape: &Shape) {
    match obj {
        Value::Object(m) => {
            for (pe, node) in &set.children {
                let Some(k) = pe.strip_prefix("f:") else {
                    continue;
                };
                if node.member {
                    m.remove(k);
                } else if let Some(child) = m.get_mut(k) {
                    remove(child, node, &shape.child(k));
                }
            }
        }
        Value::Array(items) => {
            let is = shape.item();
            let keys: Vec<String> = items
                .iter()
                .enumerate()
                .map(|(i, v)| item_element(shape, v, i))
                .collect();
            let mut keep = Vec::new();
            for (mut item, key) in std::mem::take(items).into_iter().zip(keys) {
                match set.children.get(&key) {
                    Some(node) if node.member => continue,
                    Some(node) => remove(&mut item, node, &is),
                    None => {}
                }
                keep.push(item);
            }
            *items = keep;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy_shape() -> Shape {
        Shape::root(crate::schema::definition_for("apps", "v1", "Deployment"))
    }

    fn deployment(image: &str, replicas: i64) -> Value {
        json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": image,
                        "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}
                }
            }
        })
    }

    #[test]
    fn field_set_of_a_deployment_matches_upstream_form() {
        let set = field_set(&deployment("nginx:1", 2), &deploy_shape());
        assert_eq!(
            set.to_fields_v1(),
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                            ".": {}, "f:image": {}, "f:name": {},
                            "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                ".": {}, "f:containerPort": {}, "f:protocol": {}
                            }}
                        }}}
                    }
                }
            })
        );
        let back = FieldSet::from_fields_v1(&set.to_fields_v1()).expect("parses");
        assert_eq!(back, set);
    }

    #[test]
    fn paths_render_like_upstream() {
        let set = field_set(&deployment("nginx:1", 2), &deploy_shape());
        let rendered: Vec<String> = set.paths().iter().map(|p| path_string(p)).collect();
        assert!(rendered.contains(&".spec.replicas".to_string()));
        assert!(
            rendered.contains(&".spec.template.spec.containers[name=\"nginx\"].image".to_string())
        );
        assert_eq!(
            path_string(&["f:metadata".into(), "f:finalizers".into(), "v:\"a\"".into()]),
            ".metadata.finalizers[=\"a\"]"
        );
    }

    #[test]
    fn compare_finds_changed_fields_and_conflicts_intersect() {
        let shape = deploy_shape();
        let c = compare(&deployment("nginx:1", 2), &deployment("nginx:1", 3), &shape);
        let replicas = vec!["f:spec".to_string(), "f:replicas".to_string()];
        assert!(c.modified.has(&replicas));
        assert!(c.added.is_empty() && c.removed.is_empty());
        let owner = field_set(&deployment("nginx:1", 2), &shape);
        let conflicts = owner.intersection(&c.modified.union(&c.added));
        assert_eq!(conflicts.paths(), vec![replicas]);
    }

    #[test]
    fn associative_lists_merge_by_key_and_unapplied_fields_are_removed() {
        let shape = deploy_shape();
        let live = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1", "command": ["x"]}
        ]}}}});
        let config = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}
        ]}}}});
        let mut merged = merge(&live, &config, &shape);
        assert_eq!(
            merged.pointer("/spec/template/spec/containers"),
            Some(&json!([{"name": "a", "image": "a:1"},
                {"name": "b", "image": "b:2", "command": ["x"]},
                {"name": "c", "image": "c:1"}]))
        );
        // The applier used to own container a; it no longer applies it.
        let last = field_set(&live, &shape);
        let now = field_set(&config, &shape);
        remove(&mut merged, &last.difference(&now), &shape);
        assert_eq!(
            merged.pointer("/spec/template/spec/containers"),
            Some(&json!([{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]))
        );
    }

    #[test]
    fn shared_items_follow_the_applied_order() {
        let shape = deploy_shape();
        let c = |names: &[&str]| {
            json!({"spec": {"template": {"spec": {"containers":
                names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}}}})
        };
        let merged = merge(&c(&["a", "x", "b"]), &c(&["b", "a", "n"]), &shape);
        assert_eq!(merged, c(&["x", "b", "a", "n"]));
    }

    #[test]
    fn sets_union_and_added_maps_are_members() {
        let shape = Shape::root(crate::schema::definition_for("", "v1", "ConfigMap"));
        let c = compare(
            &json!({"metadata": {}}),
            &json!({"metadata": {"finalizers": ["a"]}, "data": {"k": "v"}}),
            &shape,
        );
        assert_eq!(
            c.added.to_fields_v1(),
            json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:finalizers": {".": {}, "v:\"a\"": {}}}})
        );
        let merged = merge(
            &json!({"metadata": {"finalizers": ["a"]}}),
            &json!({"metadata": {"finalizers": ["b", "a"]}}),
            &shape,
        );
        // Applied order wins for items in both, as upstream merges.
        assert_eq!(merged, json!({"metadata": {"finalizers": ["b", "a"]}}));
    }
}
