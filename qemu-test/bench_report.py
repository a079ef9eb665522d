#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns `ct-cluster bench` samples into bench/results.json, bench/report.md
and the PNG plots.

    bench_report.py OUT_DIR

Percentiles are nearest-rank: p50 of 10 samples is the 5th smallest, p99 of
fewer than 100 samples is the largest. Every figure is computed from samples
of the same run; nothing is carried over from an earlier one.
"""

import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GOALS = {
    "takeover_ms_p50_8luns": ("<=", 40),
    "takeover_ms_p99_8luns": ("<=", 80),
    "takeover_ratio_ram_2g_over_256m": ("<=", 1.1),
    "takeover_ratio_32_over_1_luns": ("<=", 2),
    "dump_throughput_ratio_vs_dd": (">=", 0.95),
    "dump_model_error_p50": ("<=", 0.15),
    "dump_kernel_only_fraction_of_ram": ("<=", 0.10),
    "dump_speedup_kernel_only_vs_full": (">=", 8),
    "dump_throughput_ratio_encrypted_vs_plain": (">=", 0.9),
    "dump_budget_met_fraction": (">=", 0.95),
    "panic_to_first_write_ms": ("<=", 5),
    "reserved_bytes": ("<=", 1 << 20),
    "nfs_stall_ms_p50": ("<=", 2000),
    "pacemaker_failover_ms_p50": ("<=", 5000),
    "nfs_stall_ms_p99": ("<=", 5000),
    "nfs_failed_ops": ("<=", 0),
    "nfs_lost_acked_writes": ("<=", 0),
    "nfs_lost_acked_ops": ("<=", 0),
}

# The client's mounts: the sample tag and what the report calls it.
NFS_VERSIONS = [("v3", "NFSv3"), ("v41", "NFSv4.1")]


def nfs_figures(doc):
    """The NFS failover keys from nfs-samples.json: per event kind (panic,
    giveback, hang, giveback-after-hang), the stall percentiles per version
    and the worse of the two; errors, replays and losses over every event."""
    events = doc["events"]
    results = {}
    for kind, prefix in [("panic", "nfs"), ("giveback", "nfs_giveback"), ("hang", "nfs_hang"), ("giveback-after-hang", "nfs_giveback_after_hang")]:
        mine = [e for e in events if e["event"] == kind]
        if not mine:
            continue
        results[f"{prefix}_events"] = len(mine)
        for q, name in [(0.5, "p50"), (0.99, "p99")]:
            per = {tag: pct([e["stall_ms"][tag] for e in mine], q) for tag, _ in NFS_VERSIONS}
            for tag, value in per.items():
                results[f"{prefix}_stall_ms_{name}_{tag}"] = value
            results[f"{prefix}_stall_ms_{name}"] = max(per.values())
        services = [e["service_ms"] for e in mine if e.get("service_ms") is not None]
        if services:
            results[f"{prefix}_service_ms_p50"] = pct(services, 0.5)
    results["nfs_failed_ops"] = sum(len(e["failed_ops"]) for e in events)
    # Which operations failed, after which event: "panic 3: v3 write 1041
    # errno 116" (the third panic; the client's "@@ERR TAG OP N ERRNO"
    # line); and stalls far beyond the rest (over 20 s), named: a p99 over
    # 10 samples is the worst one, and says nothing of how often.
    results["nfs_failed_op_list"] = []
    results["nfs_long_stalls"] = []
    seen = {}
    for e in events:
        seen[e["event"]] = seen.get(e["event"], 0) + 1
        which = f"{e['event']} {seen[e['event']]}"
        for op in e["failed_ops"]:
            words = op.split()
            if len(words) >= 5:
                results["nfs_failed_op_list"].append(f"{which}: {' '.join(words[1:4])} errno {words[4]}")
        for tag, ms in sorted(e["stall_ms"].items()):
            if ms > 20000:
                results["nfs_long_stalls"].append(f"{which}: {tag} {ms / 1000:.1f} s")
    results["nfs_replayed_ops"] = sum(len(e["replayed_ops"]) for e in events)
    results["nfs_lost_acked_writes"] = sum(e["lost_acked_writes"] for e in events)
    results["nfs_lost_acked_ops"] = sum(len(e.get("lost_acked_ops", [])) for e in events)
    results["nfs_bench_seconds"] = doc["seconds"]
    if doc.get("stopped_by"):
        results["nfs_note"] = f"The run stopped there: {doc['stopped_by']}."
    results["nfs_exec_ms_guest"] = doc.get("exec_ms_guest")
    results["nfs_exec_ms_host"] = doc.get("exec_ms_host")
    return results


FILTERS = ["all", "no-free", "no-cache", "kernel"]


def budget_figures(doc):
    """The dump-budget grid: the fraction of dumps that ended within their
    budget + 10 %, which filters were chosen and ended, and the model's error
    where nothing slowed the disk after arming."""
    s = doc["samples"]
    met = [x for x in s if x["dump_ms"] <= 1.1 * x["budget_ms"]]
    unthrottled = [x for x in s if not x["throttle_bytes_s"] and x["replans"] == 0 and x["predicted_ms"]]
    errors = [abs(x["predicted_ms"] - x["dump_ms"]) / x["dump_ms"] for x in unthrottled if x["dump_ms"]]
    return {
        "dump_budget_met_fraction": len(met) / len(s) if s else None,
        "dump_budget_samples": len(s),
        "dump_budget_replanned": sum(1 for x in s if x["replans"]),
        "dump_budget_cut": sum(1 for x in s if x.get("budget_cut")),
        "dump_budget_model_error_p50_unthrottled": statistics.median(errors) if errors else None,
        "budget_commit": doc.get("commit", "unknown"),
    }


def budget_plot(out, s):
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for ax, ram in zip(axes, [256, 1024, 2048]):
        for throttle, marker in [(20_000_000, "v"), (40_000_000, "s"), (0, "o")]:
            pts = sorted((x["budget_ms"], x["dump_ms"]) for x in s if x["ram_mib"] == ram and x["throttle_bytes_s"] == throttle)
            if pts:
                label = f"disk {throttle // 1_000_000} MB/s" if throttle else "disk unthrottled"
                ax.plot([p[0] / 1000 for p in pts], [p[1] / 1000 for p in pts], marker=marker, linestyle="-", label=label)
        ax.plot([0, 10], [0, 10], color="gray", linewidth=0.8, linestyle="--", label="budget")
        ax.set_title(f"A with {ram} MiB")
        ax.set_xlabel("budget (s)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("dump time (s)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "dump_time_vs_budget.png"), dpi=110)


def budget_lines(results, goal, s):
    lines = [
        "## Dumps under a time budget",
        "",
        f"{len(s)} dumps of node A alone (code {results['budget_commit']}): budgets 1, 3 and 10 s × RAM 256 MiB, 1 and 2 GiB × "
        "the coredump disk's write rate 20 MB/s, 40 MB/s or unthrottled, the rate set *after* arming (the model "
        "chose for the full-speed disk; the dump must notice and re-plan). `dump_filter` all, so every filter was open to the model. "
        "Plot: `dump_time_vs_budget.png`.",
        "",
        f"| Figure | Key | Value | Goal |",
        "|---|---|---|---|",
        f"| Dumps that ended within budget + 10 % | `dump_budget_met_fraction` | {results['dump_budget_met_fraction']:.2f} | {goal('dump_budget_met_fraction')} |",
    ]
    if results.get("dump_budget_model_error_p50_unthrottled") is not None:
        lines.append(f"| Predicted over measured time, unthrottled and not re-planned, p50 error | `dump_budget_model_error_p50_unthrottled` | "
                     f"{results['dump_budget_model_error_p50_unthrottled']:.2f} | |")
    lines += [
        "",
        f"{results['dump_budget_replanned']} dumps re-planned; {results['dump_budget_cut']} stopped at their budget (a deadline: "
        "what they wrote, kernel pages first, is saved; the rest is lost).",
        "",
        "| RAM | budget | disk | chosen at arming | at the end | re-plans | MiB | dump ms | predicted ms | end | met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in sorted(s, key=lambda x: (x["ram_mib"], x["budget_ms"], -x["throttle_bytes_s"] or 0)):
        disk = f"{x['throttle_bytes_s'] // 1_000_000} MB/s" if x["throttle_bytes_s"] else "full speed"
        lines.append(f"| {x['ram_mib']} MiB | {x['budget_ms'] / 1000:g} s | {disk} | {x['chosen']} | {x['final_filter']} | {x['replans']} | "
                     f"{x['dump_mib']} | {x['dump_ms']} | {x['predicted_ms']} | "
                     f"{'cut at the budget' if x.get('budget_cut') else 'complete' if x.get('complete', True) else 'truncated'} | "
                     f"{'yes' if x['dump_ms'] <= 1.1 * x['budget_ms'] else 'no'} |")
    lines.append("")
    return lines


def multipath_figures(doc):
    """Takeovers over dm-multipath beside takeovers over one path, on the
    same two-path fabric (fresh pairs, alternated): medians on the host
    clock and the module's own, and their ratio."""
    s = doc["samples"]
    two = [x["takeover_ms"] for x in s if x["paths"] == 2]
    one = [x["takeover_ms"] for x in s if x["paths"] == 1]
    two_mod = [x["takeover_ms_module"] for x in s if x["paths"] == 2 and x.get("takeover_ms_module") is not None]
    one_mod = [x["takeover_ms_module"] for x in s if x["paths"] == 1 and x.get("takeover_ms_module") is not None]
    figures = {
        "multipath_takeover_ms_p50": pct(two, 0.5) if two else None,
        "multipath_single_path_takeover_ms_p50": pct(one, 0.5) if one else None,
        "multipath_takeover_ms_module_p50": pct(two_mod, 0.5) if two_mod else None,
        "multipath_single_path_takeover_ms_module_p50": pct(one_mod, 0.5) if one_mod else None,
        "multipath_runs": min(len(two), len(one)),
        "multipath_commit": doc.get("commit", "unknown"),
    }
    if two and one:
        figures["takeover_ratio_multipath_over_single_path"] = pct(two, 0.5) / pct(one, 0.5)
    return figures


def multipath_lines(results, s):
    def show(v, fmt="{:.0f}"):
        return fmt.format(v) if v is not None else "-"

    return [
        "## Takeover over dm-multipath",
        "",
        f"{results['multipath_runs']} pairs of takeovers (code {results['multipath_commit']}), each on a fresh pair "
        "whose 2 LUNs per node reach each node over two iSCSI sessions (the LIO array's two target ports), "
        "multipathd on both nodes, configured by `coretakeover apply`: once with the multipath maps "
        "(PREEMPT AND ABORT through one path of each map, Write Exclusive - Registrants Only), once with each LUN's "
        "first path alone (PREEMPT AND ABORT on the `sd` device), alternated. A's panic line to B's takeover-done "
        "line, host clock.",
        "",
        "| configured with | runs | takeover p50 (ms) | module's own p50 (ms) |",
        "|---|---|---|---|",
        f"| the multipath maps | {sum(1 for x in s if x['paths'] == 2)} | {show(results['multipath_takeover_ms_p50'])} | "
        f"{show(results['multipath_takeover_ms_module_p50'])} |",
        f"| each LUN's first path | {sum(1 for x in s if x['paths'] == 1)} | {show(results['multipath_single_path_takeover_ms_p50'])} | "
        f"{show(results['multipath_single_path_takeover_ms_module_p50'])} |",
        "",
        f"Multipath over single path, p50: {show(results.get('takeover_ratio_multipath_over_single_path'), '{:.2f}')} "
        "(`takeover_ratio_multipath_over_single_path`). Both rows abort the victim's queued commands; the map's row "
        "also finds the map's live paths first.",
        "",
    ]


def samples_doc(out, name, figures, results):
    """The samples document OUT/NAME, its figures added to `results`; None
    when it is missing or has no sample."""
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        doc = json.load(f)
    if not doc["samples"]:
        return None
    results.update(figures(doc))
    return doc


def held_writes_figures(doc):
    """Writes of the old owner held in the array at the takeover: how long
    the PREEMPT AND ABORT waited for them, and how many landed after it."""
    s = {x["fabric"]: x for x in doc["samples"]}
    figures = {"held_writes_commit": doc.get("commit", "unknown")}
    for fabric in ("one-path", "multipath"):
        x = s.get(fabric)
        if x is None:
            continue
        key = fabric.replace("-", "_")
        figures[f"held_writes_{key}_held_at_trigger"] = x["held_at_trigger"]
        figures[f"held_writes_{key}_takeover_pr_ms"] = x["takeover_pr_ms"]
        figures[f"held_writes_{key}_landed_after"] = x["landed_after"]
    return figures


def held_writes_lines(results, s):
    lines = [
        "## Writes held in the array at the takeover",
        "",
        f"Code {results['held_writes_commit']}. The array holds every write to A's LUN 8 s (dm-delay under LIO) while A "
        "writes stamped blocks from 8 threads; A stops, B takes over. The LUN's backing file is read when B's takeover "
        "says held and again 16 s later: nothing may change in between.",
        "",
        "| fabric | A | writes held | method | PREEMPT AND ABORT waited (ms) | landed before | landed after |",
        "|---|---|---|---|---|---|---|",
    ]
    for x in s:
        lines.append(f"| {x['fabric']} | {x['case']} | {x['held_at_trigger']} | {x['method']} | {x['takeover_pr_ms']:.0f} | "
                     f"{x['landed_before']} | {x['landed_after']} |")
    lines.append("")
    return lines


def pacemaker_figures(doc):
    """Failovers under Pacemaker: A's panic line to B's line that svc-a's
    address runs (host clock), the client's stall, and where Pacemaker's
    part went (medians of each phase, B's clock from corosync's loss of A)."""
    s = doc["samples"]
    figures = {
        "pacemaker_failover_ms_p50": pct([x["failover_ms"] for x in s], 0.5),
        "pacemaker_failover_ms_max": max(x["failover_ms"] for x in s),
        "pacemaker_takeover_ms_p50": pct([x["takeover_ms"] for x in s], 0.5),
        "pacemaker_client_stall_ms_p50": pct([x["client_stall_ms"] for x in s], 0.5),
        "pacemaker_runs": len(s),
        "pacemaker_commit": doc.get("commit", "unknown"),
    }
    names = []
    for x in s:
        for name, _ in x["phases_ms"]:
            if name not in names:
                names.append(name)
    figures["pacemaker_phases_ms_p50"] = {
        n: pct([ms for x in s for name, ms in x["phases_ms"] if name == n], 0.5) for n in names
    }
    return figures


def pacemaker_lines(results, goal, s):
    phases = results["pacemaker_phases_ms_p50"]
    return [
        "## Failover under Pacemaker",
        "",
        f"{results['pacemaker_runs']} failovers (code {results['pacemaker_commit']}), each on a fresh pair: Debian's corosync "
        "(knet, token 1000 ms) and Pacemaker 2.1 on both nodes, `ocf:coretakeover:coretakeover` as a clone, "
        "`fence_coretakeover` at fencing level 1, and svc-a (Filesystem, exportfs, IPaddr2, portblock tickling the clients' connections; knfsd NFSv3) preferring A; "
        "a client writes through svc-a's address. A panics (its dump slowed to outlast the failover).",
        "",
        "| figure | key | value | goal |",
        "|---|---|---|---|",
        f"| A's panic line to svc-a running on B (its last member), p50 (ms) | `pacemaker_failover_ms_p50` | {results['pacemaker_failover_ms_p50']:.0f} | {goal('pacemaker_failover_ms_p50')} |",
        f"| the same, worst (ms) | `pacemaker_failover_ms_max` | {results['pacemaker_failover_ms_max']:.0f} | |",
        f"| A's panic line to B's module holding A's LUN, p50 (ms) | `pacemaker_takeover_ms_p50` | {results['pacemaker_takeover_ms_p50']:.0f} | |",
        f"| the client's stall, p50 (ms) | `pacemaker_client_stall_ms_p50` | {results['pacemaker_client_stall_ms_p50']:.0f} | |",
        "",
        "Where Pacemaker's part goes (B's clock, from corosync telling Pacemaker that A is lost, medians): "
        + ", ".join(f"{name} {ms:.0f} ms" for name, ms in phases.items())
        + ". The resource agents are shell scripts that start many programs, each slow under emulation; "
        "fence_kdump's default wait alone is 60 s.",
        "",
    ]


def nfs_plot(out, timeline):
    """The first panic's acknowledgements around it, one row per writer."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    rows = []
    for i, (tag, name) in enumerate(NFS_VERSIONS):
        points = timeline["acks"].get(tag, [])
        for w in sorted({p[1] for p in points}):
            y = len(rows)
            rows.append(f"{name} writer {w}")
            xs = [p[0] / 1000 for p in points if p[1] == w and -10_000 <= p[0] <= 60_000]
            ax.scatter(xs, [y] * len(xs), s=4, color=f"C{i}")
    ax.axvline(0, color="red", lw=1, label="A panics (sysrq line)")
    if timeline.get("takeover_done_ms") is not None:
        ax.axvline(timeline["takeover_done_ms"] / 1000, color="black", lw=1, ls="--", label="B holds A's LUN")
    if timeline.get("service_running_ms") is not None:
        ax.axvline(timeline["service_running_ms"] / 1000, color="green", lw=1, ls=":", label="nfs-a running on B")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("seconds from A's panic (host clock); one dot per acknowledged fsync")
    ax.set_title("The client's acknowledgements across a panic")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "nfs_ack_timeline.png"), dpi=110)


def nfs_lines(results, goal):
    def ms(key):
        return f"{results[key] / 1000:.1f} s" if key in results else "-"

    lines = [
        "## NFS clients across a failover",
        "",
        f"One client guest mounts nfs-a twice, NFSv3 and NFSv4.1, and runs `ct-nfs-load` on both mounts: "
        f"2 writers each, every record acknowledged after its fsync, and a create/rename/read/unlink mix. "
        + (
            f"Code {results.get('nfs_commit', 'unknown')}. "
            if results.get("nfs_commit") == results.get("commit")
            else f"Measured by an earlier run than the figures above (`--nfs-only`), code {results.get('nfs_commit', 'unknown')}. "
        )
        + f"{results.get('nfs_events', 0)} panics of A, each followed by A's reboot and the giveback; "
        f"{results.get('nfs_hang_events', 0)} hang{'' if results.get('nfs_hang_events', 0) == 1 else 's'} of A (vCPUs stopped), each followed by A's resumption (fenced, it "
        f"stops serving), a giveback refused until A's reboot, the reboot and the giveback ({results['nfs_bench_seconds'] / 60:.1f} min)."
        + (f" {results['nfs_note']}" if results.get("nfs_note") else ""),
        "",
        "| Event | Key | NFSv3 | NFSv4.1 | worse | Goal |",
        "|---|---|---|---|---|---|",
    ]
    for prefix, what in [("nfs", "panic"), ("nfs_giveback", "giveback"), ("nfs_hang", "hang"), ("nfs_giveback_after_hang", "giveback after a hang")]:
        for q in ["p50", "p99"]:
            key = f"{prefix}_stall_ms_{q}"
            if key not in results:
                continue
            lines.append(f"| {what}, stall {q} | `{key}` | {ms(key + '_v3')} | {ms(key + '_v41')} | {ms(key)} | {goal(key)} |")
    lines += [
        "",
        f"- Operations that returned an error to the application (`nfs_failed_ops`): {results['nfs_failed_ops']} ({goal('nfs_failed_ops')}).",
    ]
    if results.get("nfs_failed_op_list"):
        lines.append("  They were (the event and its number among its kind; the mount, the operation, its sequence number): "
                     + "; ".join(results["nfs_failed_op_list"]) + ".")
    if results.get("nfs_long_stalls"):
        lines.append("- Stalls over 20 s: " + "; ".join(results["nfs_long_stalls"]) + ".")
    lines += [
        f"- Non-idempotent operations answered as replays (`nfs_replayed_ops`): {results['nfs_replayed_ops']}.",
        f"- Acknowledged records missing or damaged when read back after each event (`nfs_lost_acked_writes`): "
        f"{results['nfs_lost_acked_writes']} ({goal('nfs_lost_acked_writes')}).",
        f"- Acknowledged operations the server no longer had (a renamed file gone before the client removed it, `nfs_lost_acked_ops`): "
        f"{results['nfs_lost_acked_ops']} ({goal('nfs_lost_acked_ops')}).",
        f"- From A's panic to nfs-a running on B (`nfs_service_ms_p50`): {ms('nfs_service_ms_p50')}; "
        f"from A's pause: {ms('nfs_hang_service_ms_p50')}.",
        "",
        "![acknowledgements across a panic](nfs_ack_timeline.png)",
        "",
        "What the emulation adds: every figure above is on TCG, 2 host cores shared by four guests (the array, "
        "A, B, the client). The service's start on B is a chain of programs (mount, nfsdcld, exportfs, rpc.nfsd, "
        "ip, send_arp, tickle_tcp, about 15 with the hook's own), and starting one costs "
        + (f"{results['nfs_exec_ms_guest']:.0f} ms on B against {results['nfs_exec_ms_host']:.1f} ms on this machine; "
           if results.get("nfs_exec_ms_guest") and results.get("nfs_exec_ms_host") else "")
        + "during a panic A's dump (its checksums and copies of all its RAM, emulated) competes with B for the same host cores, and "
        "the journal replay reads and writes through QEMU's iSCSI initiator and an emulated LIO array. "
        "In a typical stall the client's side (reconnect, NFSv4.1 reclaim, the grace period ending as soon as "
        "it reclaimed) takes well under a second; the rest is the hook's programs."
        + (" The stalls over 20 s listed above are not explained by the emulation." if results.get("nfs_long_stalls") else ""),
        "",
    ]
    return lines



def pct(values, q):
    values = sorted(values)
    if not values:
        raise ValueError("no samples")
    return values[max(0, math.ceil(q * len(values)) - 1)]


def select(samples, **want):
    return [s for s in samples if all(s[k] == v for k, v in want.items())]


def after_dump(samples, **want):
    """The takeover after a full dump (mode "after-full-dump"; older runs
    called it "sequential")."""
    return [t for mode in ("after-full-dump", "sequential") for t in [x["takeover_ms"] for x in select(samples, mode=mode, **want)]]


def takeover(samples, **want):
    found = [s["takeover_ms"] for s in select(samples, **want)]
    if not found:
        raise SystemExit(f"bench_report: no samples for {want}")
    return found


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        qemu = "QEMU (version unknown)"
    return f"{os.cpu_count()} x {model}, {platform.system()} {platform.release()}, {qemu} (TCG)"


def main():
    out = sys.argv[1]
    with open(os.path.join(out, "samples.json")) as f:
        doc = json.load(f)
    s = doc["samples"]
    ours = dict(mode="ours", bios_in_flight=4)

    rams = sorted({x["ram_mib"] for x in select(s, mode="ours", luns=8)})
    lun_counts = sorted({x["luns"] for x in select(s, mode="ours", ram_mib=1024)})
    by_ram = {r: takeover(s, luns=8, ram_mib=r, **ours) for r in rams}
    by_ram_seq = {r: after_dump(s, luns=8, ram_mib=r) for r in rams}
    if not all(by_ram_seq.values()):
        raise SystemExit("bench_report: no samples of the takeover after a full dump for some RAM size")
    kdump = select(s, mode="kdump", luns=8, ram_mib=1024)
    by_luns = {n: takeover(s, luns=n, ram_mib=1024, **ours) for n in lun_counts}

    def dump_ratio(in_flight, asked="auto"):
        # Samples from before the checksum choice: the module's default,
        # which was CRC-32C then.
        timed = [x for x in s if x["bios_in_flight"] == in_flight and x["dd_mib_s"] and x["dump_ms"]
                 and x.get("checksum_asked", "auto") == asked and x.get("filter", "all") == "all"
                 and x.get("codec_asked", "none") == "none"]
        if not timed:
            return None, None, None, 0
        ratios = [x["dump_mib"] / (x["dump_ms"] / 1000) / x["dd_mib_s"] for x in timed]
        rates = [x["dump_mib"] / (x["dump_ms"] / 1000) for x in timed]
        dd = [x["dd_mib_s"] for x in timed]
        return statistics.median(ratios), statistics.median(rates), statistics.median(dd), len(timed)

    ratio4, rate4, dd4, n4 = dump_ratio(4)
    ratio1, rate1, dd1, n1 = dump_ratio(1)
    ratio4_crc, rate4_crc, dd4_crc, n4_crc = dump_ratio(4, "crc32c")
    chosen = sorted({x.get("chunk_checksum", "crc32c") for x in s
                     if x.get("checksum_asked", "auto") == "auto" and x["mode"] != "kdump" and x.get("chunk_checksum", "crc32c")})
    # The model: arming's rehearsal predicts the dump's time; every timed
    # dump (full or not, any checksum) against its own prediction.
    model_errors = [abs(x["dump_predicted_ms"] - x["dump_ms"]) / x["dump_ms"]
                    for x in s if x.get("dump_predicted_ms") and x.get("dump_ms")]
    # Page filters: the leanest (kernel pages only) against every page, on
    # the same 1 GiB node, 4 in flight, checksum auto, in the same run.
    kernel_only = [x for x in s if x.get("filter") == "kernel" and x.get("dump_ms") and x.get("kept_mib") is not None]
    full = [x for x in s if x.get("filter", "all") == "all" and x.get("dump_ms") and x["ram_mib"] == 1024
            and x["bios_in_flight"] == 4 and x.get("checksum_asked", "auto") == "auto" and x.get("codec_asked", "none") == "none"]
    # Codecs: every page of the same idle 1 GiB node stored as it is, with
    # lz4 and with zstd, side by side in one run.
    def codec_samples(name):
        return [x for x in s if x.get("codec_asked") == name and x.get("dump_ms") and x.get("filter", "all") == "all"]
    plain_codec = codec_samples("none")
    encrypted = codec_samples("lz4+encrypted")
    plain_lz4 = codec_samples("lz4")
    encrypted_ratio = None
    if encrypted and plain_lz4:
        rate = lambda xs: statistics.median([x["dump_mib"] / (x["dump_ms"] / 1000) for x in xs])
        encrypted_ratio = rate(encrypted) / rate(plain_lz4)
    codec_figures = {}
    for name in ("lz4", "zstd"):
        c = codec_samples(name)
        if c and plain_codec:
            codec_figures[name] = {
                "stored_fraction": statistics.median([x["stored_mib"] / x["dump_mib"] for x in c if x.get("stored_mib") is not None and x["dump_mib"]]),
                "time_ratio": statistics.median([x["dump_ms"] for x in c]) / statistics.median([x["dump_ms"] for x in plain_codec]),
                "ms_p50": statistics.median([x["dump_ms"] for x in c]),
                "n": len(c),
            }
    kernel_fraction = statistics.median([x["kept_mib"] / x["ram_dump_mib"] for x in kernel_only]) if kernel_only else None
    kernel_speedup = (statistics.median([x["dump_ms"] for x in full]) / statistics.median([x["dump_ms"] for x in kernel_only])
                      if kernel_only and full else None)
    probe_crc = [x["crc32c_mib_s"] for x in s if x.get("crc32c_mib_s")]
    probe_xxh = [x["xxh64_mib_s"] for x in s if x.get("xxh64_mib_s")]
    pr_single = [u for x in select(s, mode="ours", luns=1) for u in x["pr_us"]]
    pr_8 = [u for x in select(s, mode="ours", luns=8) for u in x["pr_us"]]
    reserved = {x["bios_in_flight"]: x["reserved_bytes"] for x in select(s, ram_mib=1024)}
    beacon = [x["beacon_latency_us"] / 1000 for x in s if x.get("beacon_latency_us") is not None]
    beacon_host = [x["panic_to_beacon_ms_host"] for x in s if x.get("panic_to_beacon_ms_host") is not None]
    complete = [x for x in s if x["mode"] in ("after-full-dump", "sequential") and x["dump_ms"]]

    results = {
        "takeover_ms_p50_8luns": pct(by_ram[1024], 0.5),
        "takeover_ms_p99_8luns": pct(by_ram[1024], 0.99),
        "takeover_ratio_ram_2g_over_256m": pct(by_ram[2048], 0.5) / pct(by_ram[256], 0.5),
        "takeover_ratio_32_over_1_luns": pct(by_luns[32], 0.5) / pct(by_luns[1], 0.5),
        "takeover_after_full_dump_ms_p50_8luns": pct(by_ram_seq[1024], 0.5),
        "dump_throughput_ratio_vs_dd": ratio4,
        "dump_throughput_ratio_vs_dd_1_in_flight": ratio1,
        "dump_throughput_ratio_vs_dd_crc32c": ratio4_crc,
        "dump_mib_s_4_in_flight_crc32c": rate4_crc,
        "dump_checksum_auto_chose": ", ".join(chosen) or None,
        "dump_model_error_p50": statistics.median(model_errors) if model_errors else None,
        "dump_model_error_max": max(model_errors) if model_errors else None,
        "dump_model_samples": len(model_errors),
        "dump_kernel_only_fraction_of_ram": kernel_fraction,
        "dump_speedup_kernel_only_vs_full": kernel_speedup,
        "dump_kernel_only_ms_p50": statistics.median([x["dump_ms"] for x in kernel_only]) if kernel_only else None,
        "dump_full_ms_p50_1g": statistics.median([x["dump_ms"] for x in full]) if full else None,
        "dump_codec_none_ms_p50_1g": statistics.median([x["dump_ms"] for x in plain_codec]) if plain_codec else None,
        "dump_throughput_ratio_encrypted_vs_plain": encrypted_ratio,
        "dump_lz4_stored_fraction": codec_figures.get("lz4", {}).get("stored_fraction"),
        "dump_lz4_time_over_none": codec_figures.get("lz4", {}).get("time_ratio"),
        "dump_zstd_stored_fraction": codec_figures.get("zstd", {}).get("stored_fraction"),
        "dump_zstd_time_over_none": codec_figures.get("zstd", {}).get("time_ratio"),
        "checksum_probe_crc32c_mib_s_p50": statistics.median(probe_crc) if probe_crc else None,
        "checksum_probe_xxh64_mib_s_p50": statistics.median(probe_xxh) if probe_xxh else None,
        "dump_mib_s_4_in_flight": rate4,
        "dump_mib_s_1_in_flight": rate1,
        "dd_mib_s": statistics.median([d for d in (dd4, dd1, dd4_crc) if d]),
        "panic_to_first_write_ms": statistics.median(beacon),
        "panic_line_to_beacon_line_ms_host": statistics.median(beacon_host),
        "reserved_bytes": reserved.get(4),
        "reserved_bytes_1_in_flight": reserved.get(1),
        "pr_roundtrip_ms": statistics.median(pr_single) / 1000,
        "pr_roundtrip_ms_8_parallel": statistics.median(pr_8) / 1000,
        "samples": len(s),
        "bench_seconds": doc["seconds"],
        "peak_results_bytes": doc.get("peak_results_bytes"),
        "date": datetime.datetime.fromtimestamp(doc["started_unix"], datetime.timezone.utc).strftime("%Y-%m-%d"),
        "commit": doc.get("commit", "unknown"),
        "machine": machine(),
    }
    nfs_path = os.path.join(out, "nfs-samples.json")
    nfs_doc = None
    if os.path.exists(nfs_path):
        with open(nfs_path) as f:
            nfs_doc = json.load(f)
        results.update(nfs_figures(nfs_doc))
        results["nfs_commit"] = nfs_doc.get("commit", "unknown")
        nfs_plot(out, nfs_doc["timeline"])
    budget_path = os.path.join(out, "budget-samples.json")
    budget_doc = None
    if os.path.exists(budget_path):
        with open(budget_path) as f:
            budget_doc = json.load(f)
        if budget_doc["samples"]:
            results.update(budget_figures(budget_doc))
            budget_plot(out, budget_doc["samples"])
        else:
            budget_doc = None
    multipath_doc = samples_doc(out, "multipath-samples.json", multipath_figures, results)
    held_doc = samples_doc(out, "held-writes-samples.json", held_writes_figures, results)
    pacemaker_path = os.path.join(out, "pacemaker-samples.json")
    pacemaker_doc = None
    if os.path.exists(pacemaker_path):
        with open(pacemaker_path) as f:
            pacemaker_doc = json.load(f)
        if pacemaker_doc["samples"]:
            results.update(pacemaker_figures(pacemaker_doc))
        else:
            pacemaker_doc = None
    for r in rams:
        results[f"takeover_ms_p50_8luns_{r}m"] = pct(by_ram[r], 0.5)
        results[f"takeover_ms_p99_8luns_{r}m"] = pct(by_ram[r], 0.99)
        results[f"takeover_after_full_dump_ms_p50_8luns_{r}m"] = pct(by_ram_seq[r], 0.5)
        results[f"after_full_dump_over_ours_p50_8luns_{r}m"] = pct(by_ram_seq[r], 0.5) / pct(by_ram[r], 0.5)
    # kdump with fence_kdump, side by side with ours (8 LUNs, 1 GiB): A's
    # panic line to B knowing (B's "partner is panicked" line; B's line that
    # fence_kdump returned) and to B holding A's LUNs, host clock.
    ours_1g = select(s, luns=8, ram_mib=1024, **ours)
    ours_notice = [x["notice_ms_host"] for x in ours_1g if x.get("notice_ms_host") is not None]
    if kdump:
        kd = [x["takeover_ms"] for x in kdump]
        results["kdump_fence_kdump_ms_p50"] = pct(kd, 0.5)
        results["kdump_fence_kdump_ms_p99"] = pct(kd, 0.99)
        results["kdump_message_ms_p50"] = pct([x["notice_ms_host"] for x in kdump], 0.5)
        ups = [x["capture_up_ms_host"] for x in kdump if x.get("capture_up_ms_host") is not None]
        results["kdump_capture_userspace_ms_p50"] = pct(ups, 0.5) if ups else None
        results["kdump_fence_kdump_over_ours_p50"] = results["kdump_fence_kdump_ms_p50"] / results["takeover_ms_p50_8luns"]
        results["crashkernel_bytes"] = statistics.median(x["crashkernel_bytes"] for x in kdump)
        results["crashkernel_over_reserved_bytes"] = results["crashkernel_bytes"] / results["reserved_bytes"]
        results["kdump_runs"] = len(kdump)
    if ours_notice:
        results["notice_ms_p50_8luns"] = pct(ours_notice, 0.5)
    for n in lun_counts:
        results[f"takeover_ms_p50_{n}luns"] = pct(by_luns[n], 0.5)
        results[f"takeover_ms_p99_{n}luns"] = pct(by_luns[n], 0.99)
    # Where a takeover's time goes, per LUN count (ours, 1 GiB): the medians
    # of each phase over the runs that recorded it. "console and the rest" is
    # what the host clock saw beyond the three measured phases.
    phases = {}
    for n in lun_counts:
        runs = [x for x in select(s, luns=n, ram_mib=1024, **ours) if x.get("detect_ms_host") is not None and x.get("pr_phase_ms_module") is not None]
        if not runs:
            continue
        p = {
            "beacon": statistics.median(x["panic_to_beacon_ms_host"] for x in runs),
            "detection": statistics.median(x["detect_ms_host"] for x in runs),
            "pr": statistics.median(x["pr_phase_ms_module"] for x in runs),
            "rest": statistics.median(x["takeover_ms"] - x["panic_to_beacon_ms_host"] - x["detect_ms_host"] - x["pr_phase_ms_module"] for x in runs),
            "verification": statistics.median(x["verify_us"] / 1000 for x in runs if x.get("verify_us") is not None) if any(x.get("verify_us") is not None for x in runs) else None,
            # Within one takeover the disks' PR round trips: the first and the
            # last to complete (their spread is what serializes them).
            "pr_first": statistics.median(min(x["pr_us"]) / 1000 for x in runs if x["pr_us"]),
            "pr_last": statistics.median(max(x["pr_us"]) / 1000 for x in runs if x["pr_us"]),
            # The last disk's wait for a worker (the workqueue's share).
            "queued_last": statistics.median(max(x["queued_us"]) / 1000 for x in runs if x.get("queued_us")) if any(x.get("queued_us") for x in runs) else None,
            "runs": len(runs),
        }
        phases[n] = p
        for k in ["beacon", "detection", "pr", "rest", "verification", "pr_first", "pr_last", "queued_last"]:
            results[f"phase_{k}_ms_p50_{n}luns"] = p[k]
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")

    # Plots.
    fig, ax = plt.subplots(figsize=(7, 4.5))
    gib = [r / 1024 for r in rams]
    ax.plot(gib, [pct(by_ram[r], 0.5) for r in rams], "o-", label="coretakeover (p50)")
    ax.plot(gib, [pct(by_ram_seq[r], 0.5) for r in rams], "s-", label="takeover after a full dump (p50)")
    if kdump:
        ax.plot([1], [results["kdump_fence_kdump_ms_p50"]], "D", color="C2", label="kdump + fence_kdump (p50)")
        ax.scatter([1] * len(kdump), [x["takeover_ms"] for x in kdump], s=8, color="C2", alpha=0.4)
    for r in rams:
        ax.scatter([r / 1024] * len(by_ram[r]), by_ram[r], s=8, color="C0", alpha=0.4)
        ax.scatter([r / 1024] * len(by_ram_seq[r]), by_ram_seq[r], s=8, color="C1", alpha=0.4)
    ax.set_yscale("log")
    ax.set_xlabel("RAM of the panicking node (GiB)")
    ax.set_ylabel("panic to takeover done (ms, host clock)")
    ax.set_title("Takeover of 8 LUNs against guest RAM")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "takeover_vs_ram.png"), dpi=110)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(lun_counts, [pct(by_luns[n], 0.5) for n in lun_counts], "o-", label="p50")
    ax.plot(lun_counts, [pct(by_luns[n], 0.99) for n in lun_counts], "^--", label="p99")
    for n in lun_counts:
        ax.scatter([n] * len(by_luns[n]), by_luns[n], s=8, color="C0", alpha=0.4)
    ax.set_xscale("log", base=2)
    ax.set_xticks(lun_counts, [str(n) for n in lun_counts])
    ax.set_xlabel("service LUNs taken over")
    ax.set_ylabel("panic to takeover done (ms, host clock)")
    ax.set_title("Takeover against LUN count (1 GiB guest)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "takeover_vs_luns.png"), dpi=110)

    # The report.
    def goal(key):
        if key not in GOALS or key not in results:
            return ""
        op, target = GOALS[key]
        met = results[key] <= target if op == "<=" else results[key] >= target
        return f"{op} {target:g}: {'met' if met else 'missed'}"

    def row(key, what, fmt="{:.1f}"):
        return f"| {what} | `{key}` | {fmt.format(results[key])} | {goal(key)} |"

    n_seq = len(by_ram_seq[1024])
    lines = [
        "# coretakeover benchmark",
        "",
        f"Run of {results['date']} on {results['machine']}, code {results['commit']}; {len(s)} panics in "
        f"{doc['seconds'] / 60:.1f} min (`make bench`). Raw samples: `samples.json`.",
        "",
        "| Figure | Key | Value | Goal |",
        "|---|---|---|---|",
        row("takeover_ms_p50_8luns", f"Takeover, 8 LUNs, 1 GiB, p50 (ms; {len(by_ram[1024])} runs)", "{:.0f}"),
        row("takeover_ms_p99_8luns", "Takeover, 8 LUNs, 1 GiB, p99 (ms)", "{:.0f}"),
        row("takeover_after_full_dump_ms_p50_8luns", f"Takeover after a full dump, 8 LUNs, 1 GiB, p50 (ms; {n_seq} runs)", "{:.0f}"),
    ]
    if kdump:
        lines += [
            row("kdump_fence_kdump_ms_p50", f"kdump + fence_kdump, 8 LUNs, 1 GiB, p50 (ms; {len(kdump)} runs)", "{:.0f}"),
            row("kdump_fence_kdump_over_ours_p50", "kdump + fence_kdump p50 over ours", "{:.1f}"),
        ]
    lines += [
        row("takeover_ratio_ram_2g_over_256m", "Takeover p50, 2 GiB over 256 MiB", "{:.2f}"),
        row("takeover_ratio_32_over_1_luns", "Takeover p50, 32 LUNs over 1 LUN", "{:.2f}"),
        row("dump_throughput_ratio_vs_dd", f"Dump rate over dd's, 4 bios in flight, checksum auto ({results['dump_checksum_auto_chose'] or '?'}; {n4} dumps)", "{:.2f}"),
        row("dump_throughput_ratio_vs_dd_1_in_flight", f"Dump rate over dd's, 1 bio in flight, checksum auto ({n1} dumps)", "{:.2f}"),
    ]
    if n4_crc:
        lines += [
            row("dump_throughput_ratio_vs_dd_crc32c", f"Dump rate over dd's, 4 bios in flight, CRC-32C ({n4_crc} dumps)", "{:.2f}"),
        ]
    if model_errors:
        lines += [
            row("dump_model_error_p50", f"Dump time predicted at arming: error over the measured time, p50 ({len(model_errors)} dumps)", "{:.2f}"),
        ]
    if kernel_only and full:
        lines += [
            row("dump_kernel_only_fraction_of_ram", f"Kernel-only dump: bytes kept over RAM, 1 GiB idle node ({len(kernel_only)} dumps)", "{:.3f}"),
            row("dump_speedup_kernel_only_vs_full", f"Full dump time over kernel-only dump time, 1 GiB ({len(full)} full, {len(kernel_only)} kernel-only; "
                f"p50 {results['dump_full_ms_p50_1g']:.0f} ms and {results['dump_kernel_only_ms_p50']:.0f} ms)", "{:.1f}"),
        ]
    if encrypted_ratio is not None:
        lines += [
            row("dump_throughput_ratio_encrypted_vs_plain", f"Dump rate encrypted over plain, lz4, every page of an idle 1 GiB node ({len(encrypted)} and {len(plain_lz4)} dumps)", "{:.2f}"),
        ]
    for name, f in codec_figures.items():
        lines += [
            row(f"dump_{name}_stored_fraction", f"{name}: bytes on the disk over the stream, every page of an idle 1 GiB node ({f['n']} dumps)", "{:.3f}"),
            row(f"dump_{name}_time_over_none", f"{name}: dump time over the same dump stored as it is (p50 {f['ms_p50']:.0f} ms and "
                f"{results['dump_codec_none_ms_p50_1g']:.0f} ms)", "{:.2f}"),
        ]
    lines += [
        row("panic_to_first_write_ms", "Panic notifier to the beacon on disk (ms)", "{:.2f}"),
        row("reserved_bytes", "Memory reserved while armed (bytes, 4 in flight)", "{:.0f}"),
        row("pr_roundtrip_ms", "One PREEMPT AND ABORT round trip (ms, 1 LUN)", "{:.1f}"),
        "",
        "## Takeover against RAM (8 LUNs) and LUN count (1 GiB)",
        "",
        "| Configuration | runs | p50 (ms) | p99 (ms) | after a full dump, p50 (ms) | after a full dump / ours |",
        "|---|---|---|---|---|---|",
    ]
    for r in rams:
        lines.append(
            f"| 8 LUNs, {r} MiB | {len(by_ram[r])} | {pct(by_ram[r], 0.5):.0f} | {pct(by_ram[r], 0.99):.0f} | "
            f"{pct(by_ram_seq[r], 0.5):.0f} ({len(by_ram_seq[r])} runs) | {pct(by_ram_seq[r], 0.5) / pct(by_ram[r], 0.5):.0f}x |"
        )
    for n in lun_counts:
        lines.append(f"| {n} LUN{'s' if n > 1 else ''}, 1024 MiB | {len(by_luns[n])} | {pct(by_luns[n], 0.5):.0f} | {pct(by_luns[n], 0.99):.0f} | | |")
    if kdump:
        kn = results["kdump_message_ms_p50"]
        up = results["kdump_capture_userspace_ms_p50"]
        lines += [
            "",
            "## Against kdump with fence_kdump (8 LUNs, A 1 GiB, same cluster, interleaved)",
            "",
            "Each row is measured on the host clock from A's `Kernel panic - not syncing` line. *B knows*: B's "
            "\"partner is panicked\" line (ours), or B's line that Debian's `fence_kdump` listener returned 0 "
            "(kdump). *B holds*: B's \"takeover done\" line, every one of A's LUNs preempted. B takes over the "
            "moment its listener returns (a Pacemaker cluster adds its own scheduling to that).",
            "",
            "| Method | runs | B knows, p50 (ms) | B holds A's LUNs, p50 (ms) | p99 (ms) | reserved on A while armed | fences a hung node |",
            "|---|---|---|---|---|---|---|",
            f"| coretakeover (beacon on the coredump disk) | {len(ours_1g)} | {results.get('notice_ms_p50_8luns', float('nan')):.0f} | "
            f"{results['takeover_ms_p50_8luns']:.0f} | {results['takeover_ms_p99_8luns']:.0f} | {results['reserved_bytes'] / 2**10:.0f} KiB | yes (stale heartbeat, PR) |",
            f"| kdump + fence_kdump (`{doc.get('crashkernel', 'crashkernel=')}`) | {len(kdump)} | {kn:.0f} | "
            f"{results['kdump_fence_kdump_ms_p50']:.0f} | {results['kdump_fence_kdump_ms_p99']:.0f} | {results['crashkernel_bytes'] / 2**20:.0f} MiB | no: fence_kdump fences no I/O |",
            "",
            f"- kdump's B knows when the capture kernel has booted, brought up its network and sent its first message: "
            f"A's panic line to the capture kernel's first userspace line took {up:.0f} ms (p50)."
            if up is not None
            else "- The capture kernel's first userspace line was not seen.",
            f"- kdump + fence_kdump holds A's LUNs {results['kdump_fence_kdump_over_ours_p50']:.1f}x later than coretakeover (p50), and reserves "
            f"{results['crashkernel_over_reserved_bytes']:.0f}x the memory.",
            "- What this baseline is not: fence_kdump only tells the partner that a capture kernel runs; it fences no I/O. "
            "A node that hangs instead of panicking never sends the message, so a fence_kdump cluster needs a second, "
            "real fencing device (power or SCSI) and waits for fence_kdump's timeout (60 s by default) before using it.",
        ]
    watch = doc.get("watch_costs") or []
    for w in watch:
        results[f"watch_{w['watch_interval_ms']}ms_dump_disk_reads_per_s"] = w["dump_disk_reads_per_s"]
        results[f"watch_{w['watch_interval_ms']}ms_thread_cpu_percent"] = w["thread_cpu_percent"]
    if phases:
        lines += [
            "",
            "## Where the time goes (ours, 1 GiB; medians)",
            "",
            "Panic line to beacon line on A's console (the oops and the notifier's first write); beacon to B's "
            "\"partner is panicked\" line (detection: the watch interval bounds it); the PR commands of every disk in "
            "parallel as B's module timed them; the rest of the host-clock takeover (serial consoles, the done "
            "line's own printing); and, after the done line and off the critical path, the read-back of every "
            "preempted disk's reservation.",
            "",
            "| LUNs | runs | beacon (ms) | detection (ms) | PR (ms) | one disk's PR, fastest / slowest (ms) | last disk's wait for a worker (ms) | console and the rest (ms) | verification after (ms) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for n, p in phases.items():
            v = f"{p['verification']:.1f}" if p["verification"] is not None else "-"
            q = f"{p['queued_last']:.1f}" if p["queued_last"] is not None else "-"
            lines.append(f"| {n} | {p['runs']} | {p['beacon']:.1f} | {p['detection']:.1f} | {p['pr']:.1f} | {p['pr_first']:.1f} / {p['pr_last']:.1f} | {q} | {p['rest']:.1f} | {v} |")
    if watch:
        lines += [
            "",
            f"## What the watch costs (B watching a live A, {watch[0]['luns']} LUNs, {watch[0]['seconds']:.0f} s each)",
            "",
            "The watch interval bounds how late B sees a panic beacon (detection above is at the default, 20 ms). "
            "Each turn reads A's two dump header copies and its heartbeat block (three 4 KiB direct reads); the "
            "background label check reads each of A's LUNs about once a second whatever the interval.",
            "",
            "| watch_interval_ms | reads/s, A's coredump disk | label reads/s, A's LUNs | B's thread, % of a CPU |",
            "|---|---|---|---|",
        ]
        for w in watch:
            lines.append(f"| {w['watch_interval_ms']} | {w['dump_disk_reads_per_s']:.0f} | {w['lun_reads_per_s']:.1f} | {w['thread_cpu_percent']:.2f} |")
    lines += [
        "",
        "![takeover against RAM](takeover_vs_ram.png) ![takeover against LUNs](takeover_vs_luns.png)",
        "",
        "## Dump",
        "",
        f"- Dump rate {rate4:.0f} MiB/s with 4 bios in flight and {rate1:.0f} MiB/s with 1 (the chunk checksum "
        f"`auto` chose: {results['dump_checksum_auto_chose'] or 'not recorded'})"
        + (f", {rate4_crc:.0f} MiB/s with 4 and CRC-32C" if n4_crc else "")
        + f", against dd {results['dd_mib_s']:.0f} MiB/s (`dd if=/dev/zero bs=1M count=256 oflag=direct` on the same "
        "coredump disk, in the same boot, just before arming).",
        "- Dumps of the runs that took over after a full dump: "
        + ", ".join(f"{x['dump_mib']} MiB in {x['dump_ms'] / 1000:.1f} s" for x in complete)
        + " (one per run, in order).",
        (f"- The checksum probe at arming (the fastest of four 1 MiB rounds over a chunk buffer), median over "
         f"{len(probe_crc)} armings: CRC-32C {results['checksum_probe_crc32c_mib_s_p50']:.0f} MiB/s, "
         f"xxh64 {results['checksum_probe_xxh64_mib_s_p50']:.0f} MiB/s." if probe_crc and probe_xxh else
         "- No checksum probe figures in these samples (measured before the chunk checksum was chosen at arming)."),
        f"- Panic notifier entry to the beacon on disk: median {results['panic_to_first_write_ms']:.2f} ms (A's log line, "
        f"`beacon_latency_us`); console panic line to beacon line on the host clock {results['panic_line_to_beacon_line_ms_host']:.1f} ms "
        "(includes the serial console).",
        f"- Reserved while armed: {results['reserved_bytes']} bytes with 4 bios in flight, "
        f"{results['reserved_bytes_1_in_flight']} with 1 (`dump_reserved_bytes`).",
        f"- PR round trip: {results['pr_roundtrip_ms']:.1f} ms for one PREEMPT AND ABORT alone (1 LUN), "
        f"{results['pr_roundtrip_ms_8_parallel']:.1f} ms each when 8 run in parallel (B's last takeover, per disk: `coretakeover status --json`).",
        "",
    ]
    if budget_doc is not None:
        lines += budget_lines(results, goal, budget_doc["samples"])
    if multipath_doc is not None:
        lines += multipath_lines(results, multipath_doc["samples"])
    if held_doc is not None:
        lines += held_writes_lines(results, held_doc["samples"])
    if pacemaker_doc is not None:
        lines += pacemaker_lines(results, goal, pacemaker_doc["samples"])
    if nfs_doc is not None:
        lines += nfs_lines(results, goal)
    lines += [
        "## Disk",
        "",
        (
            f"- Peak disk use under the run's `results/` directory: {results['peak_results_bytes'] / 2**30:.2f} GiB "
            "(allocated bytes, sampled every second: the LUN and coredump images of the cluster being measured; "
            "each cluster's images are removed when its measurements are done)."
            if results["peak_results_bytes"] is not None
            else "- Peak disk use: not recorded by this run."
        ),
        "",
    ]
    method = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_method.md")
    with open(method) as f:
        lines.append(f.read().rstrip() + "\n")
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines))
    for key in GOALS:
        if results.get(key) is not None:
            print(f"{key:36} {results[key]:12.3f}  {goal(key)}")


if __name__ == "__main__":
    main()
