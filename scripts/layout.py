#!/usr/bin/env python3
"""Prints src/'s import floors and fails on an import circle.

    python3 scripts/layout.py          # floors, top first
    python3 scripts/layout.py --check  # circles only (CI runs this)

A file's floor is one above the highest floor it imports from (its
top-level `use crate::`, `super::`, `self::` lines, braces expanded; a
leaf is floor 0), so arrows point down. A circle (files that import each other, directly or round a loop)
has no floor: it is printed and the script exits 1.
"""
import glob, os, re, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
# A file's own imports: `use` and `pub(crate) use` at the top level. A
# `pub use` is a facade's re-export (lib.rs, a directory's mod.rs), not a
# dependency of its code, and `use` lines inside a nested module (tests)
# belong to that module.
USE = re.compile(r"^(?:pub\(crate\) )?use ((?:crate|super|self|[a-z_]+)::[^;]+);", re.M)


def module_of(path):
    name = path[len("src/"):-len(".rs")]
    return name[:-len("/mod")].replace("/", "::") if name.endswith("/mod") else name.replace("/", "::")


def paths(prefix, text):
    """`a::{b, c::{d}}` -> ["a::b", "a::c::d"]."""
    text = text.strip()
    brace = text.find("{")
    if brace < 0 or ("," in text and text.index(",") < brace):
        return [f"{prefix}::{text}".strip(":")]
    head = text[:brace].rstrip(":").strip()
    parts, depth, cur = [], 0, ""
    for ch in text[brace + 1:text.rindex("}")]:
        depth += (ch == "{") - (ch == "}")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for part in parts if part.strip() for p in paths(f"{prefix}::{head}".strip(":"), part)]


def imports():
    os.chdir(ROOT)
    files = sorted(glob.glob("src/**/*.rs", recursive=True))
    modules = {module_of(f): f for f in files if f != "src/lib.rs"}
    graph = {}
    for f in files:
        targets = set()
        here = module_of(f).split("::") if f != "src/lib.rs" else []
        for m in USE.finditer(open(f).read()):
            for p in paths("", m.group(1).replace("\n", " ")):
                segs = p.split("::")
                if segs[0] == "crate":
                    segs = segs[1:]
                elif segs[0] == "super":
                    segs = here[:-1] + segs[1:]
                elif segs[0] == "self":
                    segs = here + segs[1:]
                elif "::".join(here + segs[:1]) in modules:
                    segs = here + segs  # a child module, named bare
                else:
                    continue  # another crate
                segs = [s for s in segs if s != "self"]
                for k in range(len(segs), 0, -1):
                    if "::".join(segs[:k]) in modules:
                        targets.add(modules["::".join(segs[:k])])
                        break
        targets.discard(f)
        graph[f] = targets
    return graph


def circles(graph):
    index, low, stack, on, found, n = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def main():
    graph = imports()
    found = circles(graph)
    for c in found:
        print("import circle: " + " <-> ".join(c))
    if found:
        sys.exit(1)
    floor = {}

    def floor_of(f):
        if f not in floor:
            floor[f] = 1 + max((floor_of(g) for g in graph[f]), default=-1)
        return floor[f]

    del graph["src/lib.rs"]  # the facade: `mod` and `pub use` only
    for f in graph:
        floor_of(f)
    top = max(floor.values())
    if sys.argv[1:] != ["--check"]:
        print(f"{top + 1:2}  lib.rs (the facade)")
        for level in range(top, -1, -1):
            print(f"{level:2}  " + "  ".join(f[4:] for f in sorted(graph) if floor[f] == level))
    print(f"{len(graph) + 1} files on {top + 2} floors, no import circle")


main()
