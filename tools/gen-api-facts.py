#!/usr/bin/env python3
"""Generate skiff's Kubernetes API schema facts table.

Strategic merge patch needs, for every field of every served type, its JSON type and its
patch strategy and merge key; OpenAPI generation needs the same plus the list/map/struct
markers (`x-kubernetes-list-type` and friends). This script derives one compact table from
local sources and writes `crates/api/src/schema/facts.txt`:

    def <definition name> [structType=atomic|granular]
    <jsonName> <type> [listType=atomic|set|map] [mapKeys=a,b] [mapType=atomic|granular]
        [patchStrategy=merge|replace|retainKeys|merge,retainKeys] [patchMergeKey=k]

(one field line per field, attributes only when present). <type> is one of
    ref:<definition>  []ref:<definition>  map:ref:<definition>
    string  integer  number  boolean  bytes  object (RawExtension, JSON, FieldsV1, ...)
    int-or-string  quantity  time  microtime  duration
and the list/map forms of scalars (`[]string`, `map:string`, `map:[]string`, `[][]string`).

Sources:
  * k8s-openapi 0.29.0, feature v1_33: the definitions (from each file's
    `// Generated from definition io.k8s...` line), their fields' JSON names (the serde
    keys `"podIP" => Field::Key_pod_ip`) and Rust types, which give the JSON types. Embedded
    Go structs are already flattened there.
  * the Go sources of k8s.io/api, k8s.io/apimachinery and k8s.io/apiextensions-apiserver:
    struct tags `patchStrategy:"merge" patchMergeKey:"name"` and the comment markers
    `+listType=`, `+listMapKey=`, `+mapType=`, `+structType=` (and `+patchStrategy=` /
    `+patchMergeKey=` where a tag is missing). Embedded (`json:",inline"`) structs are
    flattened into their parent. Fields newer than Kubernetes 1.33 are ignored; 1.33 fields
    missing from the Go sources get no markers.

Usage:
    tools/gen-api-facts.py [--k8s-openapi DIR] [--go-src DIR]... [--out FILE]

--go-src defaults to /tmp/gosrc/{api,apimachinery,apiextensions-apiserver}; each is the root
of a checkout of one Go module (its go.mod names it). The k8s-openapi directory defaults to
the local cargo registry.
"""

import argparse
import glob
import os
import re
import sys

K8S_OPENAPI_VERSION = "0.29.0"
K8S_OPENAPI_FEATURE = "v1_33"

# Served API groups: k8s-openapi module prefixes (under src/v1_33) whose definitions go in.
SERVED = [
    ("api", "core"), ("api", "apps"), ("api", "batch"), ("api", "policy"),
    ("api", "autoscaling"), ("api", "rbac"), ("api", "networking"), ("api", "storage"),
    ("api", "coordination"), ("api", "events"), ("api", "discovery"), ("api", "scheduling"),
    ("api", "node"), ("api", "authentication"), ("api", "authorization"),
    ("apiextensions_apiserver", "pkg", "apis", "apiextensions", "v1"),
    ("apimachinery", "pkg", "apis", "meta", "v1"), ("apimachinery", "pkg", "util", "intstr"),
    ("apimachinery", "pkg", "api", "resource"), ("apimachinery", "pkg", "runtime"),
]

# Definitions whose JSON form is a scalar or free-form JSON rather than an object with fields.
SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "int-or-string",
    "io.k8s.apimachinery.pkg.api.resource.Quantity": "quantity",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": "time",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": "microtime",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Duration": "duration",
    "io.k8s.apimachinery.pkg.runtime.RawExtension": "object",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": "object",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON": "object",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": "object",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": "object",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray":
        "object",
}

RUST_SCALARS = {
    "std::string::String": "string", "String": "string", "i32": "integer", "i64": "integer",
    "f64": "number", "bool": "boolean", "crate::ByteString": "bytes",
    "crate::serde_json::Value": "object",
}

GO_MODULES = {
    "k8s.io/api": "api",
    "k8s.io/apimachinery": "apimachinery",
    "k8s.io/apiextensions-apiserver": "apiextensions-apiserver",
}

DEF_RE = re.compile(r"^// Generated from definition (\S+)")
STRUCT_RE = re.compile(r"^pub (struct|enum) (\w+)")
RFIELD_RE = re.compile(r"^    pub (r#\w+|\w+): (.*),\s*$")
KEY_RE = re.compile(r'^\s*"([^"]+)" => Field::Key_(\w+),')


def find_crate(name, version):
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    hits = sorted(glob.glob(os.path.join(home, "registry", "src", "*", f"{name}-{version}")))
    if not hits:
        sys.exit(f"error: {name}-{version} not found in the cargo registry under {home}")
    return hits[0]


# ---------------------------------------------------------------------------------------
# k8s-openapi


def load_openapi(root):
    """Returns ({definition: [(json, rust type)]}, {rust path: definition}, {definition: kind})."""
    base = os.path.join(root, "src", K8S_OPENAPI_FEATURE)
    defs, by_path, kinds = {}, {}, {}
    for dirpath, _, files in os.walk(base):
        rel = os.path.relpath(dirpath, base)
        module = () if rel == "." else tuple(rel.split(os.sep))
        for f in sorted(files):
            if not f.endswith(".rs") or f == "mod.rs":
                continue
            definition = struct = kind = None
            rust_types, keys, in_struct = {}, [], False
            with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                for line in fh:
                    m = DEF_RE.match(line)
                    if m and definition is None:
                        definition = m.group(1)
                        continue
                    m = STRUCT_RE.match(line)
                    if m and struct is None:
                        kind, struct = m.group(1), m.group(2)
                        in_struct = kind == "struct" and line.rstrip().endswith("{")
                        continue
                    if in_struct:
                        if line.startswith("}"):
                            in_struct = False
                            continue
                        m = RFIELD_RE.match(line)
                        if m:
                            rust_types[m.group(1)] = m.group(2)
                        continue
                    m = KEY_RE.match(line)
                    if m:
                        keys.append((m.group(1), m.group(2)))
            if definition is None or struct is None:
                continue
            by_path["crate::" + "::".join(module + (struct,))] = definition
            kinds[definition] = (module, kind)
            fields, seen = [], set()
            for json_name, rust in keys:
                ty = rust_types.get(rust) or rust_types.get("r#" + rust)
                if ty is None or json_name in seen:
                    continue
                seen.add(json_name)
                fields.append((json_name, ty))
            defs[definition] = fields
    return defs, by_path, kinds


def json_type(rust, by_path):
    """Maps a k8s-openapi Rust field type to a facts type."""
    rust = rust.strip()
    m = re.fullmatch(r"(?:Option|(?:std::boxed::)?Box)<(.*)>", rust)
    if m:
        return json_type(m.group(1), by_path)
    m = re.fullmatch(r"(?:std::vec::)?Vec<(.*)>", rust)
    if m:
        return "[]" + json_type(m.group(1), by_path)
    m = re.fullmatch(r"(?:std::collections::)?BTreeMap<(?:std::string::)?String, (.*)>", rust)
    if m:
        return "map:" + json_type(m.group(1), by_path)
    if rust in RUST_SCALARS:
        return RUST_SCALARS[rust]
    definition = by_path.get(rust)
    if definition is None:
        sys.exit(f"error: unknown Rust type {rust!r}")
    return SPECIAL.get(definition, "ref:" + definition)


# ---------------------------------------------------------------------------------------
# Go sources: struct tags and markers

GO_STRUCT_RE = re.compile(r"^type (\w+) struct \{")
GO_FIELD_RE = re.compile(r"^\t(?:(\w+)\s+)?(\S+)\s+`([^`]*)`")
GO_IMPORT_RE = re.compile(r'^\s*(?:(\w+)\s+)?"(k8s\.io/[^"]+)"')
MARKER_RE = re.compile(r"^\s*// \+(\w+)=(\S+)")


def load_go(roots):
    """Returns {(dir, struct): {"markers": {...}, "fields": [...]}} for every Go struct."""
    structs = {}
    for root in roots:
        module = None
        with open(os.path.join(root, "go.mod"), encoding="utf-8") as fh:
            for line in fh:
                m = re.match(r"^module\s+(\S+)", line)
                if m:
                    module = m.group(1)
                    break
        if module not in GO_MODULES:
            sys.exit(f"error: {root}: not a checkout of one of {', '.join(GO_MODULES)}")
        for dirpath, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in ("vendor", "testdata", ".git")]
            rel = os.path.relpath(dirpath, root)
            pkg = module + ("" if rel == "." else "/" + rel.replace(os.sep, "/"))
            for f in sorted(files):
                if not f.endswith(".go") or f.endswith("_test.go") or "generated" in f:
                    continue
                parse_go_file(os.path.join(dirpath, f), pkg, structs)
    return structs


def parse_go_file(path, pkg, structs):
    imports = {}
    cur, markers = None, {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if cur is None:
                m = GO_IMPORT_RE.match(line)
                if m and (line.startswith("\t") or line.startswith("import")):
                    imports[m.group(1) or m.group(2).rsplit("/", 1)[-1]] = m.group(2)
                    continue
            m = MARKER_RE.match(line)
            if m:
                markers.setdefault(m.group(1), []).append(m.group(2))
                continue
            if line.strip().startswith("//"):
                continue
            m = GO_STRUCT_RE.match(line)
            if m:
                cur = {"markers": markers, "fields": [], "imports": imports}
                structs[(pkg, m.group(1))] = cur
                markers = {}
                continue
            if cur is None:
                markers = {}
                continue
            if line.startswith("}"):
                cur, markers = None, {}
                continue
            m = GO_FIELD_RE.match(line)
            if m:
                tag = m.group(3)
                js = re.search(r'json:"([^"]*)"', tag)
                jparts = (js.group(1) if js else "").split(",")
                ps = re.search(r'patchStrategy:"([^"]*)"', tag)
                pk = re.search(r'patchMergeKey:"([^"]*)"', tag)
                cur["fields"].append({
                    "name": m.group(1),
                    "type": m.group(2),
                    "json": jparts[0],
                    "inline": m.group(1) is None or "inline" in jparts[1:],
                    "patchStrategy": ps.group(1) if ps else None,
                    "patchMergeKey": pk.group(1) if pk else None,
                    "markers": markers,
                })
            markers = {}
    return structs


def go_fields(structs, pkg, name, depth=0):
    """The JSON-visible fields of a Go struct, embedded structs flattened: {json: field}."""
    info = structs.get((pkg, name))
    out = {}
    if info is None or depth > 8:
        return out
    for f in info["fields"]:
        if f["json"] == "-":
            continue
        if f["inline"] and not f["json"]:
            ty = f["type"].lstrip("*")
            if "." in ty:
                alias, tname = ty.split(".", 1)
                target = info["imports"].get(alias)
            else:
                target, tname = pkg, ty
            if target:
                for k, v in go_fields(structs, target, tname, depth + 1).items():
                    out.setdefault(k, v)
            continue
        if f["json"]:
            out.setdefault(f["json"], f)
    return out


def go_location(definition):
    """io.k8s.api.apps.v1.DeploymentSpec -> ("k8s.io/api/apps/v1", "DeploymentSpec")."""
    rest = definition[len("io.k8s."):]
    pkg, name = rest.rsplit(".", 1)
    head, _, tail = pkg.partition(".")
    return "k8s.io/" + head + "/" + tail.replace(".", "/"), name


# ---------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k8s-openapi", help="k8s-openapi-0.29.0 crate directory")
    ap.add_argument("--go-src", action="append", help="Go module checkout (repeatable)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "crates",
                                                  "api", "src", "schema", "facts.txt"))
    args = ap.parse_args()
    oa_root = args.k8s_openapi or find_crate("k8s-openapi", K8S_OPENAPI_VERSION)
    go_roots = args.go_src or [f"/tmp/gosrc/{d}" for d in
                               ("api", "apimachinery", "apiextensions-apiserver")]

    defs, by_path, kinds = load_openapi(oa_root)
    structs = load_go(go_roots)

    out = [
        "# Generated by tools/gen-api-facts.py from k8s-openapi 0.29.0 (v1_33) and the Go",
        "# sources of k8s.io/{api,apimachinery,apiextensions-apiserver}. Do not edit.",
        "# def <definition> [structType=..]; then <jsonName> <type> [listType=..] [mapKeys=..]",
        "# [mapType=..] [patchStrategy=..] [patchMergeKey=..]",
    ]
    missing_go, n_defs, n_fields = [], 0, 0
    for definition in sorted(defs):
        module, kind = kinds[definition]
        if kind != "struct" or definition in SPECIAL:
            continue
        if not any(module[:len(p)] == p for p in SERVED):
            continue
        pkg, name = go_location(definition)
        info = structs.get((pkg, name))
        if info is None:
            missing_go.append(definition)
        gofs = go_fields(structs, pkg, name) if info else {}
        head = f"def {definition}"
        st = (info or {}).get("markers", {}).get("structType")
        if st:
            head += f" structType={st[-1]}"
        out.append(head)
        n_defs += 1
        for json_name, rust in defs[definition]:
            line = f"{json_name} {json_type(rust, by_path)}"
            g = gofs.get(json_name)
            if g:
                mk = g["markers"]
                if "listType" in mk:
                    line += f" listType={mk['listType'][-1]}"
                if "listMapKey" in mk:
                    line += f" mapKeys={','.join(mk['listMapKey'])}"
                if "mapType" in mk:
                    line += f" mapType={mk['mapType'][-1]}"
                ps = g["patchStrategy"] or (mk.get("patchStrategy") or [None])[-1]
                pk = g["patchMergeKey"] or (mk.get("patchMergeKey") or [None])[-1]
                if ps:
                    line += f" patchStrategy={ps}"
                if pk:
                    line += f" patchMergeKey={pk}"
            out.append(line)
            n_fields += 1
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write("\n".join(out) + "\n")
    print(f"wrote {args.out}: {n_defs} definitions, {n_fields} fields", file=sys.stderr)
    if missing_go:
        print(f"note: no Go struct for {len(missing_go)} definitions: "
              f"{', '.join(missing_go[:8])}{' ...' if len(missing_go) > 8 else ''}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
