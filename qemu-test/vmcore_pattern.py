#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks the pattern pages of qemu-test/guest/pattern.py in a vmcore,
without drgn (which needs the kernel's memory, and a truncated vmcore may
not hold it): every pattern page inside a PT_LOAD must be intact.

    vmcore_pattern.py VMCORE PATTERN.json
Prints {"inside": N, "outside": N, "intact": N, "first_bad": ...}.
"""
import json
import struct
import sys

PAGE = 4096
vmcore, pattern = sys.argv[1], json.load(open(sys.argv[2]))
with open(vmcore, "rb") as f:
    ident = f.read(64)
    if ident[:4] != b"\x7fELF" or ident[4] != 2:
        sys.exit("not an ELF64 file")
    phoff, = struct.unpack_from("<Q", ident, 32)
    phentsize, phnum = struct.unpack_from("<HH", ident, 54)
    loads = []
    for i in range(phnum):
        f.seek(phoff + i * phentsize)
        p_type, _, p_offset, _, p_paddr, p_filesz = struct.unpack("<IIQQQQ", f.read(40))
        if p_type == 1:
            loads.append((p_paddr, p_filesz, p_offset))
    inside = intact = 0
    first_bad = None
    for i, phys in enumerate(pattern["pages"]):
        hit = next(((p, s, o) for p, s, o in loads if p <= phys and phys + PAGE <= p + s), None)
        if hit is None:
            continue
        inside += 1
        f.seek(hit[2] + phys - hit[0])
        if f.read(PAGE) == struct.pack("<QQ", pattern["magic"], i) * (PAGE // 16):
            intact += 1
        elif first_bad is None:
            first_bad = {"page": i, "phys": phys}
print(json.dumps({"inside": inside, "outside": len(pattern["pages"]) - inside, "intact": intact,
                  "first_bad": first_bad, "loads": len(loads)}))
