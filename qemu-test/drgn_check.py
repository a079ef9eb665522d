# Opens a vmcore with drgn, the kernel's vmlinux and the modules' debug info,
# and prints what the tests check, as JSON: the kernel release, whether the
# panic line is in the printk ring, where KASLR put the kernel text and the
# direct map, the NUMA nodes, the crashed thread and its stack, the stack of
# every other online CPU, and whether the pattern pages (if given) hold the
# pattern.
#   python drgn_check.py VMCORE VMLINUX PANIC-TEXT [--pattern JSON] [--module KO]...
import argparse, json, struct

import drgn
from drgn.helpers.linux.cpumask import for_each_online_cpu
from drgn.helpers.linux.printk import get_dmesg
from drgn.helpers.linux.sched import cpu_curr

parser = argparse.ArgumentParser()
parser.add_argument("vmcore")
parser.add_argument("vmlinux")
parser.add_argument("panic_text")
parser.add_argument("--pattern")
parser.add_argument("--module", action="append", default=[])
args = parser.parse_args()

prog = drgn.Program()
prog.set_core_dump(args.vmcore)
prog.load_debug_info([args.vmlinux] + args.module)
result = {
    "release": prog["init_uts_ns"].name.release.string_().decode(),
}
dmesg = get_dmesg(prog).decode(errors="replace")
lines = [l for l in dmesg.splitlines() if args.panic_text in l]
result["panic_line"] = lines[-1] if lines else None
result["dmesg_lines"] = len(dmesg.splitlines())

# KASLR, seen two ways that must agree: the KERNELOFFSET line the kernel put
# in its VMCOREINFO (read from the kernel's own buffer in the dump), and the
# address of _text against its link-time address (__START_KERNEL_map plus
# CONFIG_PHYSICAL_START, 0xffffffff81000000 on x86_64).
# kdump's vmcore leaves out the crashkernel region, where the buffer lives
# once a capture kernel is loaded: that is reported, not fatal.
try:
    info = prog["vmcoreinfo_data"].string_().decode()
    fields = dict(l.split("=", 1) for l in info.splitlines() if "=" in l)
    result["vmcoreinfo_kerneloffset"] = int(fields.get("KERNELOFFSET", "0"), 16)
except drgn.FaultError as e:
    result["vmcoreinfo_kerneloffset"] = None
    result["vmcoreinfo_error"] = str(e)
result["text_offset"] = prog.symbol("_text").address - 0xFFFFFFFF81000000
result["page_offset_base"] = prog["page_offset_base"].value_()
try:
    from drgn.helpers.linux.nodemask import for_each_online_node
    result["numa_nodes"] = len(list(for_each_online_node(prog)))
except ImportError:
    result["numa_nodes"] = None


def frames(trace):
    return [frame.name or hex(frame.pc) for frame in trace]


# The crashed thread: the task that panicked, unwound from the registers the
# vmcore's NT_PRSTATUS note for its CPU holds.
try:
    thread = prog.crashed_thread()
    result["crashed_pid"] = thread.tid
    result["crashed_comm"] = thread.object.comm.string_().decode() if thread.object else None
    result["crashed_frames"] = frames(thread.stack_trace())
except Exception as e:  # drgn says why: no registers, no such thread
    result["crashed_error"] = "%s: %s" % (type(e).__name__, e)

# Every other online CPU: the task it ran when it was stopped.
panic_cpu = prog["panic_cpu"].counter.value_()
result["panic_cpu"] = panic_cpu
result["cpus"] = {}
for cpu in for_each_online_cpu(prog):
    if cpu == panic_cpu:
        continue
    task = cpu_curr(prog, cpu)
    entry = {"comm": task.comm.string_().decode(), "pid": task.pid.value_()}
    try:
        entry["frames"] = frames(prog.stack_trace(task))
    except Exception as e:
        entry["error"] = "%s: %s" % (type(e).__name__, e)
    result["cpus"][str(cpu)] = entry

if args.pattern:
    with open(args.pattern) as f:
        pattern = json.load(f)
    bad = []
    for i, phys in enumerate(pattern["pages"]):
        data = prog.read(phys, 4096, True)
        if data != struct.pack("<QQ", pattern["magic"], i) * 256:
            bad.append(i)
    result["pattern_pages"] = len(pattern["pages"])
    result["pattern_bad_pages"] = bad
print(json.dumps(result))
