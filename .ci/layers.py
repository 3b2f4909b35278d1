#!/usr/bin/env python3
"""The import graph of src/: no cycle between top-level modules, and no
import from a lower layer to a higher one. Each module's layer is listed
below; a module not listed fails the check (place it when you add it).
Code after `#[cfg(test)]` is not counted: unit tests may reach anything.

    python3 .ci/layers.py [--graph]
"""
import pathlib
import re
import sys

# Lowest first. A module may import modules of lower layers and of its own
# layer (as long as no cycle forms), never of a higher one.
LAYERS = [
    # foundations: no knowledge of tokenmint's settings
    ["clock", "crypto", "pem", "ca", "secret_hash", "scope", "jose", "x509"],
    # what the operator wrote, validated
    ["config"],
    # keys, tokens, clients, limits: each knows config, none knows OAuth requests
    ["keys", "jwks", "token", "tls", "clients", "throttle", "store"],
    # the OAuth protocol and client authentication
    ["oauth", "auth", "dpop", "metrics"],
    # one consistent view for a request
    ["state"],
    # HTTP: policies, routes, logging
    ["http", "telemetry"],
    ["routes"],
    # reloads, wiring, commands
    ["reload", "startup", "commands", "cli"],
]
LAYER = {m: i for i, names in enumerate(LAYERS) for m in names}

root = pathlib.Path(__file__).resolve().parent.parent / "src"
edges = {}
for path in sorted(root.rglob("*.rs")):
    rel = path.relative_to(root)
    module = rel.parts[0].removesuffix(".rs")
    if module in ("lib", "main"):
        continue
    text = path.read_text()
    text = text.split("#[cfg(test)]", 1)[0]
    text = re.sub(r"//[^\n]*", "", text)
    for target in set(re.findall(r"\bcrate::([a-z_0-9]+)", text)):
        if target != module:
            edges.setdefault(module, set()).add((target, str(rel)))

problems = []
for module in sorted({m for m in edges} | {t for ts in edges.values() for t, _ in ts}):
    if module not in LAYER:
        problems.append(f"{module}: not placed in a layer (.ci/layers.py)")
for module, targets in sorted(edges.items()):
    for target, file in sorted(targets):
        if module in LAYER and target in LAYER and LAYER[target] > LAYER[module]:
            problems.append(f"src/{file}: {module} (layer {LAYER[module]}) imports {target} (layer {LAYER[target]})")

# Cycles among top-level modules (depth-first search).
graph = {m: {t for t, _ in ts} for m, ts in edges.items()}
state, stack = {}, []
def visit(m):
    state[m] = 1
    stack.append(m)
    for t in sorted(graph.get(m, ())):
        if state.get(t) == 1:
            problems.append("cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
        elif t not in state:
            visit(t)
    stack.pop()
    state[m] = 2
for m in sorted(graph):
    if m not in state:
        visit(m)

if "--graph" in sys.argv:
    for m, ts in sorted(graph.items()):
        print(f"{m} -> {', '.join(sorted(ts))}")
for p in problems:
    print(p)
print(f"{len(graph)} modules, {sum(len(t) for t in graph.values())} imports, {len(problems)} problems")
sys.exit(1 if problems else 0)
