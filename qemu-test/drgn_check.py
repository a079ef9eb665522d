# Opens a vmcore with drgn and the kernel's vmlinux, and prints what the
# tests check, as JSON: the kernel release, whether the panic line is in the
# printk ring, where KASLR put the kernel text and the direct map, the NUMA
# nodes, and whether the pattern pages (if given) hold the pattern.
#   python drgn_check.py VMCORE VMLINUX PANIC-TEXT [PATTERN-JSON]
import json, struct, sys

import drgn
from drgn.helpers.linux.printk import get_dmesg

vmcore, vmlinux, panic_text = sys.argv[1:4]
prog = drgn.Program()
prog.set_core_dump(vmcore)
prog.load_debug_info([vmlinux])
result = {
    "release": prog["init_uts_ns"].name.release.string_().decode(),
}
dmesg = get_dmesg(prog).decode(errors="replace")
lines = [l for l in dmesg.splitlines() if panic_text in l]
result["panic_line"] = lines[-1] if lines else None
result["dmesg_lines"] = len(dmesg.splitlines())

# KASLR, seen two ways that must agree: the KERNELOFFSET line the kernel put
# in its VMCOREINFO (read from the kernel's own buffer in the dump), and the
# address of _text against its link-time address (__START_KERNEL_map plus
# CONFIG_PHYSICAL_START, 0xffffffff81000000 on x86_64).
info = prog["vmcoreinfo_data"].string_().decode()
fields = dict(l.split("=", 1) for l in info.splitlines() if "=" in l)
result["vmcoreinfo_kerneloffset"] = int(fields.get("KERNELOFFSET", "0"), 16)
result["text_offset"] = prog.symbol("_text").address - 0xFFFFFFFF81000000
result["page_offset_base"] = prog["page_offset_base"].value_()
try:
    from drgn.helpers.linux.nodemask import for_each_online_node
    result["numa_nodes"] = len(list(for_each_online_node(prog)))
except ImportError:
    result["numa_nodes"] = None
if len(sys.argv) > 4:
    with open(sys.argv[4]) as f:
        pattern = json.load(f)
    bad = []
    for i, phys in enumerate(pattern["pages"]):
        data = prog.read(phys, 4096, True)
        if data != struct.pack("<QQ", pattern["magic"], i) * 256:
            bad.append(i)
    result["pattern_pages"] = len(pattern["pages"])
    result["pattern_bad_pages"] = bad
print(json.dumps(result))
