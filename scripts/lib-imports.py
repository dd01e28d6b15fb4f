#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The import graph of libmortar's modules, from its object files.

scripts/lib-imports.py ARCHIVE [--print]

A module (lib/NAME.c) imports another when it uses a symbol that the other
defines; static inline helpers in headers cost nothing and do not count.
Exits 1 and names the modules when some of them import each other in a
cycle; with --print, also prints every module and what it imports, lowest
layer first.
"""
import subprocess
import sys


def graph(archive):
    out = subprocess.run(["nm", "-A", "--defined-only", archive], check=True,
                         capture_output=True, text=True).stdout
    defined = {}
    for line in out.splitlines():
        where, _, rest = line.rpartition(":")
        parts = rest.split()
        if len(parts) == 3 and parts[1] in "TDBRV":
            defined[parts[2]] = where.rsplit(":", 1)[-1]
    out = subprocess.run(["nm", "-A", "--undefined-only", archive], check=True,
                         capture_output=True, text=True).stdout
    edges = {m: set() for m in set(defined.values())}
    for line in out.splitlines():
        where, _, rest = line.rpartition(":")
        mod = where.rsplit(":", 1)[-1]
        sym = rest.split()[-1]
        edges.setdefault(mod, set())
        if sym in defined and defined[sym] != mod:
            edges[mod].add(defined[sym])
    return {name(m): {name(d) for d in ds} for m, ds in edges.items()}


def name(obj):
    return obj.rsplit("/", 1)[-1].removesuffix(".o").removesuffix(".c")


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
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
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def layers(edges):
    depth = {}

    def d(v, seen=()):
        if v not in depth:
            deps = [w for w in edges.get(v, ()) if w not in seen]
            depth[v] = 1 + max((d(w, seen + (v,)) for w in deps), default=-1)
        return depth[v]

    return sorted(edges, key=lambda v: (d(v), v)), depth


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    edges = graph(sys.argv[1])
    if "--print" in sys.argv[2:]:
        order, depth = layers(edges)
        for v in order:
            print(f"{depth[v]:2} {v:24} {' '.join(sorted(edges[v]))}")
    bad = cycles(edges)
    for comp in bad:
        print("import cycle: " + " <-> ".join(comp), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
