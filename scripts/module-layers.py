#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks that the module's files use each other in one direction only.

The layers are the table in the doc comment of rust/coretakeover.rs. Every
other file of rust/ must be in it, and may use (`crate::<file>`) only files
of its own layer or of layers below; the graph of uses must have no cycle.
Prints the uses, then "layers: ok" or each problem; exits 1 on a problem.
"""
import re
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent) / "rust"
module_root = root / "coretakeover.rs"

# `//! | layer | `file.rs` | what |`; a blank layer continues the one above.
row = re.compile(r"^//! \|\s*([\w ]*?)\s*\|\s*`([^`]+)`")
layers, rank, layer = {}, {}, None
for line in module_root.read_text().splitlines():
    m = row.match(line)
    if not m or m.group(2) == "coretakeover.rs":
        continue
    if m.group(1):
        layer = m.group(1)
        rank.setdefault(layer, len(rank))
    name = m.group(2)
    module = "ct_core" if name.startswith("core/") else name.split(".")[0].split("/")[0]
    layers[module] = layer

problems = []
if not layers:
    problems.append(f"{module_root}: no layer table found")
uses = {}
for path in sorted(root.glob("*.rs")):
    module = path.stem
    if module == "coretakeover":
        continue
    if module not in layers:
        problems.append(f"rust/{path.name} is in no layer of the table in rust/coretakeover.rs")
        continue
    code = "\n".join(line.split("//")[0] for line in path.read_text().splitlines())
    used = set(re.findall(r"\bcrate::(\w+)", code)) - {module}
    uses[module] = used
    for other in sorted(used):
        if other not in layers:
            problems.append(f"rust/{path.name} uses crate::{other}, which is in no layer")
        elif rank[layers[other]] < rank[layers[module]]:
            problems.append(f"rust/{path.name} ({layers[module]}) uses {other} ({layers[other]}), a layer above it")

# A cycle among the uses (within a layer too).
state = {}


def visit(module, trail):
    if state.get(module) == "done":
        return
    if state.get(module) == "open":
        cycle = trail[trail.index(module):] + [module]
        problems.append("cycle: " + " -> ".join(cycle))
        return
    state[module] = "open"
    for other in sorted(uses.get(module, ())):
        visit(other, trail + [module])
    state[module] = "done"


for module in sorted(uses):
    visit(module, [])

for module in sorted(uses, key=lambda m: (rank[layers[m]], m)):
    print(f"{layers[module]:>10}  {module:<12} uses {', '.join(sorted(uses[module])) or '-'}")
if problems:
    for p in problems:
        print("layers: " + p)
    sys.exit(1)
print("layers: ok, no use goes up a layer and there is no cycle")
