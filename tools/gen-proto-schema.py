#!/usr/bin/env python3
"""Generate skiff's Kubernetes protobuf schema table.

skiff transcodes `application/vnd.kubernetes.protobuf` request bodies to Kubernetes JSON. It
needs, for every protobuf message, each field's number, wire type and JSON name. This script
derives that table from local sources and writes `crates/apiserver/src/protobuf/schema.txt`:

    message <full.proto.name> [array]
    <tag> <jsonName> <opt|rep|map> <type> [flags...]

<type> is a scalar (string, int32, int64, bool, bytes, double, float), `msg:<full.proto.name>`,
or for maps `map:<keytype>,<valuetype|msg:...>`. jsonName `*` marks an embedded Go struct
(`json:",inline"`): its fields merge into the parent's JSON object. A message marked `array`
is a Go named slice (`type Verbs []string`) whose JSON form is the array of its field 1.
Flags:
    omitzero  a Go value field with `omitempty`: a zero scalar on the wire means "unset"
              (Go always encodes value fields) and is left out of the JSON, as Go's JSON
              encoder would. Fields without it (Go pointers, fields without omitempty) keep
              zeros, so an explicit `replicas: 0` or `gracePeriodSeconds: 0` survives.
    go        the JSON name comes from the Go struct tag: k8s-openapi v1_33 lacks the field
              (newer than Kubernetes 1.33).
    guessed   the JSON name is a lowerCamelCase guess (no k8s-openapi or Go source for it).

Sources:
  * k8s-pb 0.9.0 (prost types generated from upstream's go-to-protobuf generated.proto):
    messages, field numbers and types. Proto packages mirror the module path
    (`api::core::v1` -> `k8s.io.api.core.v1`).
  * k8s-openapi 0.29.0, feature v1_33: JSON names, from each struct's serde field keys
    (`"podIP" => Field::Key_pod_ip`), matched on the Rust field name; message names (Go
    type names) from the `// Generated from definition` line.
  * optional, recommended: the Go sources of k8s.io/api, k8s.io/apimachinery and
    k8s.io/apiextensions-apiserver at the release k8s-pb was generated from (v0.35.x), for
    pointer-vs-value fields (omitzero), embedded structs and named slices. Without them the
    table has no omitzero flags and embedded structs are inferred from k8s-openapi.

Usage:
    tools/gen-proto-schema.py [K8S_PB_DIR] [--k8s-openapi DIR] [--go-src DIR]... [--out FILE]
                              [--verbose]

The checked-in schema.txt was generated with --go-src checkouts of the v0.35.7 tags of
kubernetes/api, kubernetes/apimachinery and kubernetes/apiextensions-apiserver.

K8S_PB_DIR and the k8s-openapi directory default to the local cargo registry
(~/.cargo/registry/src/*/k8s-pb-0.9.0, .../k8s-openapi-0.29.0). Each --go-src is the root of
a checkout of one of the Go modules (its go.mod names it), e.g.
    git clone --depth 1 -b v0.35.7 https://github.com/kubernetes/api
"""

import argparse
import glob
import os
import re
import sys

K8S_PB_VERSION = "0.9.0"
K8S_OPENAPI_VERSION = "0.29.0"
K8S_OPENAPI_FEATURE = "v1_33"

SCALARS = {"string", "int32", "int64", "bool", "bytes", "double", "float", "uint32", "uint64",
           "sint32", "sint64", "fixed32", "fixed64", "sfixed32", "sfixed64"}

GO_MODULES = {
    "k8s.io/api": ("api",),
    "k8s.io/apimachinery": ("apimachinery",),
    "k8s.io/apiextensions-apiserver": ("apiextensions_apiserver",),
    "k8s.io/kube-aggregator": ("kube_aggregator",),
    "k8s.io/metrics": ("metrics",),
}


def find_crate(name, version):
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    hits = sorted(glob.glob(os.path.join(home, "registry", "src", "*", f"{name}-{version}")))
    if not hits:
        sys.exit(f"error: {name}-{version} not found in the cargo registry under {home}; "
                 f"run `cargo fetch` or pass its directory explicitly")
    return hits[0]


def norm(name):
    """Normalizes a Rust or JSON field name for matching: no r#, no punctuation, lowercase."""
    if name.startswith("r#"):
        name = name[2:]
    return re.sub(r"[^0-9a-zA-Z]", "", name).lower()


def lower_camel(snake):
    if snake.startswith("r#"):
        snake = snake[2:]
    parts = [p for p in snake.split("_") if p]
    if not parts:
        return snake
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def package(module):
    return "k8s.io." + ".".join(module)


# ---------------------------------------------------------------------------------------
# k8s-openapi: (module path, lowercased struct name) -> definition name and JSON names

DEF_RE = re.compile(r"^// Generated from definition (\S+)")
STRUCT_RE = re.compile(r"^pub (?:struct|enum) (\w+)")
KEY_RE = re.compile(r'^\s*"([^"]+)" => Field::Key_(\w+),')


def load_openapi(root):
    base = os.path.join(root, "src", K8S_OPENAPI_FEATURE)
    index = {}
    for dirpath, _, files in os.walk(base):
        rel = os.path.relpath(dirpath, base)
        module = () if rel == "." else tuple(rel.split(os.sep))
        for f in files:
            if not f.endswith(".rs") or f == "mod.rs":
                continue
            definition = struct = None
            keys = []
            with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                for line in fh:
                    m = DEF_RE.match(line)
                    if m and definition is None:
                        definition = m.group(1)
                        continue
                    m = STRUCT_RE.match(line)
                    if m and struct is None:
                        struct = m.group(1)
                        continue
                    m = KEY_RE.match(line)
                    if m:
                        keys.append((m.group(1), m.group(2)))
            if definition is None or struct is None:
                continue
            by_rust, by_norm, by_json = {}, {}, {}
            for json_name, rust in keys:
                by_rust.setdefault(rust, json_name)
                by_norm.setdefault(norm(rust), json_name)
                by_json.setdefault(norm(json_name), json_name)
            index[(module, struct.lower())] = {
                "definition": definition,
                "go_name": definition.rsplit(".", 1)[-1],
                "by_rust": by_rust,
                "by_norm": by_norm,
                "by_json": by_json,
            }
    return index


def openapi_lookup(oa, fname):
    key = fname[2:] if fname.startswith("r#") else fname
    return (oa["by_rust"].get(key) or oa["by_rust"].get(key + "_")
            or oa["by_norm"].get(norm(fname)) or oa["by_json"].get(norm(fname)))


# ---------------------------------------------------------------------------------------
# k8s-pb: prost structs

PB_STRUCT_RE = re.compile(r"^pub struct (\w+) \{")
PB_ATTR_RE = re.compile(r"^\s*#\[prost\((.*)\)\]\s*$")
PB_FIELD_RE = re.compile(r"^\s*pub (r#\w+|\w+):\s*(.*)$")
PB_RESOURCE_RE = re.compile(r"^impl crate::Resource for (\w+) \{")
PB_KIND_RE = re.compile(r'^\s*const KIND: &\'static str = "(\w+)";')


def parse_attr(attr):
    """Parses `message, optional, tag = "1"` or `btree_map = "string, message", tag = "2"`."""
    out = {"flags": []}
    for t in re.findall(r'(\w+(?:\s*=\s*"[^"]*")?)', attr):
        if "=" in t:
            k, v = t.split("=", 1)
            out[k.strip()] = v.strip().strip('"')
        else:
            out["flags"].append(t.strip())
    return out


def load_pb(root):
    base = os.path.join(root, "src")
    messages = []  # (module tuple, rust name, [(field, attr, rust type)])
    kinds = {}  # (module, rust name) -> KIND
    for dirpath, _, files in os.walk(base):
        if "mod.rs" not in files:
            continue
        rel = os.path.relpath(dirpath, base)
        if rel == ".":
            continue
        module = tuple(rel.split(os.sep))
        with open(os.path.join(dirpath, "mod.rs"), encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        i = 0
        cur = pending = resource = None
        while i < len(lines):
            line = lines[i]
            m = PB_STRUCT_RE.match(line)
            if m:
                cur = (module, m.group(1), [])
                messages.append(cur)
                i += 1
                continue
            if cur is not None and line.startswith("}"):
                cur = None
                i += 1
                continue
            m = PB_RESOURCE_RE.match(line)
            if m:
                resource = m.group(1)
            m = PB_KIND_RE.match(line)
            if m and resource:
                kinds[(module, resource)] = m.group(1)
                resource = None
            if cur is not None:
                m = PB_ATTR_RE.match(line)
                if m:
                    pending = parse_attr(m.group(1))
                    i += 1
                    continue
                m = PB_FIELD_RE.match(line)
                if m and pending is not None:
                    ty = m.group(2)
                    # The type may wrap onto following lines, up to the trailing comma
                    # outside any generic brackets.
                    while (not ty.rstrip().endswith(",") or ty.count("<") != ty.count(">")) \
                            and i + 1 < len(lines):
                        i += 1
                        ty += " " + lines[i].strip()
                    cur[2].append((m.group(1), pending, ty.rstrip().rstrip(",").strip()))
                    pending = None
            i += 1
    return messages, kinds


def innermost_path(ty):
    """The message type path inside Option<...>/Vec<...>/Box<...>/BTreeMap<K, V>."""
    ty = ty.replace(" ", "").replace(",>", ">")
    m = re.search(r"BTreeMap<[^,]+,(.+)>$", ty)
    if m:
        ty = m.group(1)
    while True:
        m = re.match(r"^(?:::)?(?:core::option::Option|prost::alloc::vec::Vec|"
                     r"prost::alloc::boxed::Box)<(.+)>$", ty)
        if not m:
            break
        ty = m.group(1)
    return ty.lstrip(":")


def resolve(module, path):
    parts = path.split("::")
    if parts[0] == "crate":
        mod = []
        parts = parts[1:]
    else:
        mod = list(module)
        while parts and parts[0] == "super":
            mod.pop()
            parts = parts[1:]
        if parts and parts[0] == "self":
            parts = parts[1:]
    return tuple(mod + parts[:-1]), parts[-1]


# ---------------------------------------------------------------------------------------
# Go sources: per struct, field number -> pointer?, omitempty?, JSON name, inline?

GO_STRUCT_RE = re.compile(r"^type (\w+) struct \{")
GO_SLICE_RE = re.compile(r"^type (\w+) \[\](\S+)\s*$")
GO_FIELD_RE = re.compile(r"^\s+(?:(\w+)\s+)?(\*?[\w.\[\]*]+)\s+`([^`]*)`")


def load_go(roots):
    structs = {}  # (module, struct) -> {tag: field info}
    slices = set()  # (module, type name)
    for root in roots:
        gomod = os.path.join(root, "go.mod")
        prefix = None
        if os.path.exists(gomod):
            with open(gomod, encoding="utf-8") as fh:
                for line in fh:
                    m = re.match(r"^module\s+(\S+)", line)
                    if m:
                        prefix = GO_MODULES.get(m.group(1))
                        break
        if prefix is None:
            sys.exit(f"error: {root}: not a checkout of one of {', '.join(GO_MODULES)}")
        for dirpath, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in ("vendor", "testdata", ".git")]
            rel = os.path.relpath(dirpath, root)
            module = prefix + (() if rel == "." else tuple(rel.split(os.sep)))
            for f in files:
                if not f.endswith(".go") or f.endswith("_test.go") or "generated" in f:
                    continue
                with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                    cur = None
                    for line in fh:
                        m = GO_SLICE_RE.match(line)
                        if m:
                            slices.add((module, m.group(1)))
                            continue
                        m = GO_STRUCT_RE.match(line)
                        if m:
                            cur = structs.setdefault((module, m.group(1)), {})
                            continue
                        if cur is None:
                            continue
                        if line.startswith("}"):
                            cur = None
                            continue
                        m = GO_FIELD_RE.match(line)
                        if not m:
                            continue
                        tag = m.group(3)
                        pb = re.search(r'protobuf:"([^"]*)"', tag)
                        js = re.search(r'json:"([^"]*)"', tag)
                        if not pb:
                            continue
                        parts = pb.group(1).split(",")
                        if len(parts) < 2 or not parts[1].isdigit():
                            continue
                        jparts = (js.group(1) if js else "").split(",")
                        cur[int(parts[1])] = {
                            "go_field": m.group(1) or m.group(2),
                            "pointer": m.group(2).startswith("*"),
                            "omitempty": "omitempty" in jparts[1:],
                            "inline": "inline" in jparts[1:],
                            "json": jparts[0],
                        }
    return structs, slices


# ---------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pb_dir", nargs="?", help="k8s-pb crate directory")
    ap.add_argument("--k8s-openapi", dest="openapi", help="k8s-openapi crate directory")
    ap.add_argument("--go-src", action="append", default=[],
                    help="root of a k8s.io/api, apimachinery or apiextensions-apiserver checkout")
    ap.add_argument("--out", help="output file")
    ap.add_argument("--verbose", "-v", action="store_true", help="list every fallback")
    args = ap.parse_args()

    pb_root = args.pb_dir or find_crate("k8s-pb", K8S_PB_VERSION)
    oa_root = args.openapi or find_crate("k8s-openapi", K8S_OPENAPI_VERSION)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = args.out or os.path.join(repo, "crates", "apiserver", "src", "protobuf", "schema.txt")

    openapi = load_openapi(oa_root)
    messages, kinds = load_pb(pb_root)
    go_structs, go_slices = load_go(args.go_src)
    by_key = {(m[0], m[1]): m for m in messages}
    notes = []

    def note(kind, text):
        notes.append((kind, text))

    # The k8s-openapi struct giving a message's JSON names: the same module's struct of the
    # same name; else (API versions Kubernetes 1.33 no longer or not yet serves) the struct
    # of the same name in the newest other version of the same group.
    def version_rank(v):
        m = re.match(r"v(\d+)(?:(alpha|beta)(\d+))?$", v)
        if not m:
            return (3, 0, 0)
        return ({None: 0, "beta": 1, "alpha": 2}[m.group(2)], -int(m.group(1)), -int(m.group(3) or 0))

    def sibling_modules(module):
        parents = [module[:-1]]
        if module[:2] == ("api", "extensions"):
            parents += [("api", g) for g in ("apps", "networking", "policy")]
        cands = sorted({mod for (mod, _) in openapi if mod[:-1] in parents and mod != module},
                       key=lambda m: (parents.index(m[:-1]), version_rank(m[-1])))
        return cands

    names_from = {}  # message key -> (openapi entry, how, source module or None)
    for module, rust, _ in messages:
        oa = openapi.get((module, rust.lower()))
        if oa is not None:
            names_from[(module, rust)] = (oa, "exact", None)
            continue
        for mod in sibling_modules(module):
            oa = openapi.get((mod, rust.lower()))
            if oa is not None:
                names_from[(module, rust)] = (oa, "other version " + ".".join(mod), mod)
                break

    # Proto message names: a resource's kind, else k8s-openapi's definition (the Go type
    # name), else the prost struct name (prost may have re-cased initialisms; the Go
    # sources then tell the real name).
    go_names = {}
    for (mod, name) in list(go_structs) + list(go_slices):
        go_names.setdefault((mod, name.lower()), name)
    short = {}
    for module, rust, _ in messages:
        nf = names_from.get((module, rust))
        if (module, rust) in kinds:
            name = kinds[(module, rust)]
        elif nf is not None:
            name = nf[0]["go_name"]
        else:
            name = go_names.get((module, rust.lower()), rust)
        short[(module, rust)] = name
    proto_name = {k: f"{package(k[0])}.{v}" for k, v in short.items()}

    def go_info(key):
        return go_structs.get((key[0], short[key]))

    def target_of(module, ty):
        mod, name = resolve(module, innermost_path(ty))
        return (mod, name) if (mod, name) in by_key else None

    # Embedded Go structs (`json:",inline"`) are a message field in protobuf whose fields
    # merge into the parent's JSON object. The Go sources say so; without them, a field is
    # taken as embedded when the parent's k8s-openapi struct lacks it but has most of the
    # embedded message's fields (counting those of messages embedded in turn).
    inline = set()

    def flat_fields(key, depth=0):
        out = []
        module, rust, fields = by_key[key]
        for fname, attr, ty in fields:
            tgt = target_of(module, ty) if "message" in attr["flags"] else None
            if (module, rust, fname) in inline and tgt is not None and depth < 8:
                out += flat_fields(tgt, depth + 1)
            else:
                out.append(fname)
        return out

    changed = True
    while changed:
        changed = False
        for module, rust, fields in messages:
            nf = names_from.get((module, rust))
            gi = go_info((module, rust))
            for fname, attr, ty in fields:
                key = (module, rust, fname)
                if key in inline or "message" not in attr["flags"] or "repeated" in attr["flags"]:
                    continue
                tgt = target_of(module, ty)
                if tgt is None:
                    continue
                gf = gi.get(int(attr["tag"])) if gi is not None else None
                if gf is not None:
                    is_inline = gf["inline"]
                elif nf is None or openapi_lookup(nf[0], fname) is not None:
                    is_inline = False
                elif nf[2] is not None:
                    is_inline = (nf[2], rust, fname) in inline
                else:
                    sub = flat_fields(tgt)
                    known = sum(1 for f in sub if openapi_lookup(nf[0], f) is not None)
                    is_inline = bool(sub) and known * 4 >= len(sub) * 3
                if is_inline:
                    inline.add(key)
                    changed = True
                    if tgt not in names_from and nf is not None:
                        names_from[tgt] = (nf[0], "embedded in " + proto_name[(module, rust)], None)

    # Cross-check: every JSON name of a k8s-openapi struct should come from some field.
    for module, rust, fields in messages:
        nf = names_from.get((module, rust))
        if nf is None or nf[1] != "exact" or rust == "WatchEvent":
            continue
        produced = set()
        for f in flat_fields((module, rust)):
            j = openapi_lookup(nf[0], f)
            if j:
                produced.add(j)
        for j in nf[0]["by_json"].values():
            if j not in produced and j not in ("apiVersion", "kind"):
                note("uncovered", f"{proto_name[(module, rust)]}: k8s-openapi has {j!r}, "
                                  f"k8s-pb {K8S_PB_VERSION} has no such field")

    lines = [
        "# Kubernetes protobuf schema for skiff's request-body transcoder. Generated by",
        f"# tools/gen-proto-schema.py from k8s-pb {K8S_PB_VERSION} (field numbers, types), "
        f"k8s-openapi {K8S_OPENAPI_VERSION} {K8S_OPENAPI_FEATURE}",
        "# (JSON names) and " + ("the Go API sources (pointer fields, embedded structs)."
                                 if args.go_src else "no Go API sources.") + " Do not edit.",
        "# message <full.proto.name> [array]",
        "# <tag> <jsonName|*> <opt|rep|map> <type> [omitzero] [go|guessed]",
    ]
    counts = {"fields": 0, "omitzero": 0, "go": 0, "guessed": 0, "no_go_info": 0}
    for module, rust, fields in sorted(messages, key=lambda m: proto_name[(m[0], m[1])]):
        key = (module, rust)
        full = proto_name[key]
        nf = names_from.get(key)
        gi = go_info(key)
        array = (module, short[key]) in go_slices and gi is None
        if not args.go_src and nf is None and not short[key].endswith("List"):
            # Without Go sources: a message whose only field is `repeated items = 1` and
            # that k8s-openapi does not know is taken for a named slice.
            only = fields[0] if len(fields) == 1 else None
            array = only is not None and only[0] == "items" and only[1]["tag"] == "1" \
                and "repeated" in only[1]["flags"]
        if nf is None and not array:
            note("no-struct", full)
        elif nf is not None and nf[1] != "exact":
            note("borrowed", f"{full} ({nf[1]})")
        if gi is None and not array and args.go_src and module[0] in ("api", "apimachinery",
                                                                     "apiextensions_apiserver"):
            note("no-go", full)
        lines.append(f"message {full}" + (" array" if array else ""))
        if array:
            note("array", full)
        for fname, attr, ty in sorted(fields, key=lambda f: int(f[1]["tag"])):
            tag = attr["tag"]
            flags = attr["flags"]
            gf = gi.get(int(tag)) if gi is not None else None
            scalar = False
            if "btree_map" in attr or "map" in attr or "hash_map" in attr:
                spec = attr.get("btree_map") or attr.get("map") or attr.get("hash_map")
                kt, vt = [s.strip() for s in spec.split(",")]
                label = "map"
                if vt == "message":
                    tgt = target_of(module, ty)
                    if tgt is None:
                        sys.exit(f"error: {full}.{fname}: cannot resolve {ty}")
                    vt = f"msg:{proto_name[tgt]}"
                elif vt not in SCALARS:
                    sys.exit(f"error: {full}.{fname}: map value type {vt}")
                typ = f"map:{kt},{vt}"
            else:
                label = "rep" if "repeated" in flags else "opt"
                kind = next((f for f in flags if f in SCALARS or f == "message"), None)
                if kind is None and "bytes" in attr:
                    kind = "bytes"
                if kind == "message":
                    tgt = target_of(module, ty)
                    if tgt is None:
                        sys.exit(f"error: {full}.{fname}: cannot resolve {ty}")
                    typ = f"msg:{proto_name[tgt]}"
                elif kind in SCALARS:
                    typ = kind
                    scalar = label == "opt"
                else:
                    sys.exit(f"error: {full}.{fname}: unsupported field {attr}")
            suffix = []
            if scalar and gf is not None and not gf["pointer"] and gf["omitempty"]:
                suffix.append("omitzero")
                counts["omitzero"] += 1
            if scalar and gf is None and gi is None and not array:
                counts["no_go_info"] += 1
            if (module, rust, fname) in inline:
                json_name = "*"
            else:
                json_name = openapi_lookup(nf[0], fname) if nf is not None else None
                if json_name is not None and nf[1] != "exact" and gf is not None \
                        and gf["json"] not in ("", "-") and gf["json"] != json_name:
                    # Borrowed from another version; this version's Go tag decides.
                    note("go-name", f"{full}.{fname} -> {gf['json']} (not {json_name!r} as in "
                                    f"{nf[1]})")
                    json_name = gf["json"]
                    suffix.append("go")
                    counts["go"] += 1
                elif json_name is not None and gf is not None and gf["json"] \
                        and gf["json"] != json_name:
                    note("mismatch", f"{full}.{fname}: k8s-openapi {json_name!r}, "
                                     f"Go {gf['json']!r} (using k8s-openapi's)")
                if json_name is None and gf is not None and gf["json"] not in ("", "-"):
                    json_name = gf["json"]
                    suffix.append("go")
                    counts["go"] += 1
                    note("go-name", f"{full}.{fname} -> {json_name}")
                if json_name is None:
                    json_name = lower_camel(fname)
                    suffix.append("guessed")
                    counts["guessed"] += 1
                    note("guessed", f"{full}.{fname} -> {json_name}")
            lines.append(" ".join([tag, json_name, label, typ] + suffix))
            counts["fields"] += 1

    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text)

    def count(kind):
        return sum(1 for k, _ in notes if k == kind)

    err = sys.stderr
    print(f"wrote {out}: {len(messages)} messages, {counts['fields']} fields, "
          f"{len(text)} bytes", file=err)
    if not args.go_src:
        print("  WARNING: no --go-src given: no omitzero flags (zero scalars are kept), "
              "embedded structs inferred", file=err)
    print(f"  {len(inline)} embedded (inline) fields, {count('array')} named-slice messages, "
          f"{counts['omitzero']} omitzero fields", file=err)
    print(f"  JSON names not from k8s-openapi {K8S_OPENAPI_FEATURE}: {counts['go']} from Go tags, "
          f"{counts['guessed']} lowerCamelCase guesses", file=err)
    print(f"  {count('no-struct')} messages without a k8s-openapi struct (mostly *List and "
          f"options types), {count('borrowed')} named via another version's struct", file=err)
    if args.go_src:
        print(f"  {count('no-go')} messages without Go struct info, "
              f"{counts['no_go_info']} scalar fields without Go info", file=err)
    print(f"  {count('mismatch')} k8s-openapi/Go JSON name mismatches, "
          f"{count('uncovered')} k8s-openapi names without a field", file=err)
    for kind, text in notes:
        if args.verbose or kind in ("mismatch", "uncovered"):
            print(f"    {kind}: {text}", file=err)


if __name__ == "__main__":
    main()
