#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""What an ELF vmcore carries, side by side with another one: the program
headers (PT_LOAD segments, their alignment, the kernel-text mapping), the
notes (NT_PRSTATUS per CPU with its pid and registers, NT_PRPSINFO,
VMCOREINFO) and the VMCOREINFO entries each has that the other lacks or
gives another value. Used by the `dump-vs-kdump` scenario on the same panic
dumped twice: by coretakeover's notifier, then by kdump's capture kernel.

    vmcore_compare.py OURS KDUMP   -> JSON on stdout
"""
import json
import struct
import sys

PT_LOAD, PT_NOTE = 1, 4
NT_PRSTATUS, NT_PRPSINFO = 1, 3
START_KERNEL_MAP = 0xFFFFFFFF80000000
REGS = ("r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss "
        "fs_base gs_base ds es fs gs").split()


def read_vmcore(path):
    with open(path, "rb") as f:
        ehdr = f.read(64)
        if ehdr[:4] != b"\x7fELF" or ehdr[4] != 2:
            raise SystemExit(f"{path}: not an ELF64 file")
        (phoff,) = struct.unpack_from("<Q", ehdr, 32)
        (phentsize, phnum) = struct.unpack_from("<HH", ehdr, 54)
        if phentsize != 56 or phnum == 0 or phnum > 1 << 16:
            raise SystemExit(f"{path}: {phnum} program headers of {phentsize} bytes")
        f.seek(phoff)
        table = f.read(56 * phnum)
        loads, notes = [], []
        for i in range(phnum):
            p_type, _flags, off, vaddr, paddr, filesz, memsz, align = struct.unpack_from("<IIQQQQQQ", table, 56 * i)
            if p_type == PT_LOAD:
                loads.append({"offset": off, "vaddr": vaddr, "paddr": paddr, "filesz": filesz, "memsz": memsz, "align": align})
            elif p_type == PT_NOTE:
                if filesz > 16 << 20:
                    raise SystemExit(f"{path}: a note segment of {filesz} bytes")
                f.seek(off)
                notes.extend(parse_notes(f.read(filesz)))
    return loads, notes


def parse_notes(data):
    out, pos = [], 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
        if namesz == 0 and descsz == 0 and ntype == 0:
            break
        name = data[pos + 12:pos + 12 + namesz].rstrip(b"\0").decode(errors="replace")
        desc_at = pos + 12 + ((namesz + 3) & ~3)
        desc = data[desc_at:desc_at + descsz]
        pos = desc_at + ((descsz + 3) & ~3)
        note = {"name": name, "type": ntype, "size": descsz}
        if name == "CORE" and ntype == NT_PRSTATUS and descsz >= 112 + 8 * len(REGS):
            (note["pid"],) = struct.unpack_from("<i", desc, 32)
            regs = dict(zip(REGS, struct.unpack_from(f"<{len(REGS)}Q", desc, 112)))
            note["rip"], note["rsp"], note["cs"] = regs["rip"], regs["rsp"], regs["cs"]
        if name == "VMCOREINFO":
            note["entries"] = dict(l.split("=", 1) for l in desc.decode(errors="replace").splitlines() if "=" in l)
        out.append(note)
    return out


def summary(path):
    loads, notes = read_vmcore(path)
    text = [l for l in loads if l["vaddr"] >= START_KERNEL_MAP]
    direct = [l for l in loads if l["vaddr"] < START_KERNEL_MAP]
    prstatus = [n for n in notes if n["type"] == NT_PRSTATUS and n["name"] == "CORE"]
    info = next((n["entries"] for n in notes if n["name"] == "VMCOREINFO"), {})
    return {
        "path": path,
        "loads": len(loads),
        "first_load_align": loads[0]["align"] if loads else None,
        "first_load_offset_page_aligned": bool(loads) and loads[0]["offset"] % 4096 == 0,
        "aligns": sorted({l["align"] for l in loads}),
        "kernel_text": [{"vaddr": hex(l["vaddr"]), "paddr": hex(l["paddr"]), "bytes": l["memsz"]} for l in text],
        "direct_map_bytes": sum(l["memsz"] for l in direct),
        "direct_map_file_bytes": sum(l["filesz"] for l in direct),
        "direct_map_ranges": [[hex(l["paddr"]), hex(l["paddr"] + l["memsz"])] for l in direct][:64],
        "notes": [f'{n["name"]}/{n["type"]}/{n["size"]}' for n in notes],
        "prstatus": [{"pid": n.get("pid"), "rip": hex(n.get("rip", 0)), "rsp": hex(n.get("rsp", 0))} for n in prstatus],
        "prpsinfo": any(n["type"] == NT_PRPSINFO for n in notes),
        "vmcoreinfo": info,
    }


def main():
    ours, kdump = summary(sys.argv[1]), summary(sys.argv[2])
    a, b = ours.pop("vmcoreinfo"), kdump.pop("vmcoreinfo")
    diff = {
        "only_ours": sorted(k for k in a if k not in b),
        "only_kdump": sorted(k for k in b if k not in a),
        "different": {k: [a[k], b[k]] for k in sorted(a) if k in b and a[k] != b[k]},
        "entries": [len(a), len(b)],
    }
    json.dump({"ours": ours, "kdump": kdump, "vmcoreinfo": diff}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
