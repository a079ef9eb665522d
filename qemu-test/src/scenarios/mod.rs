// SPDX-License-Identifier: GPL-2.0

//! The scenarios: each boots its own cluster, so none can spoil another.

pub(crate) mod dump;
mod bad_input;
mod boot;
mod module_load;
pub(crate) mod held_writes;
pub(crate) mod multipath;
pub(crate) mod nfs;
pub(crate) mod pacemaker;
mod self_fence;
mod timeout;
mod watch;
mod pr_sanity;
pub(crate) mod takeover;

use crate::array::ArrayKind;
use crate::cluster::Env;
use anyhow::Result;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What a scenario gets to run with.
pub struct Ctx<'a> {
    pub env: &'a Env,
    /// This scenario's own results directory (console logs, images).
    pub dir: PathBuf,
    pub deadline: Instant,
    /// Figures and outcomes worth reporting (the demo's summary).
    pub facts: Map<String, Value>,
}

impl Ctx<'_> {
    /// Tells what the scenario does next.
    pub fn step(&self, text: &str) {
        println!("    - {text}");
    }

    pub fn fact(&mut self, key: &str, value: impl Into<Value>) {
        self.facts.insert(key.to_string(), value.into());
    }
}

/// A scenario's body.
pub type Body = Box<dyn Fn(&mut Ctx<'_>) -> Result<()>>;

pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub timeout: Duration,
    pub run: Body,
}

/// Every scenario of `make check`, in order.
/// Runs `write` (a shell command writing a LUN) on `g`; it must fail, and
/// with a reservation conflict: the kernel logs one more "reservation
/// conflict" than before it. A write that fails for another reason (an
/// iSCSI error, a device path that is not there) is not fencing. Returns
/// the command's output.
pub(crate) fn refused_by_reservation(g: &mut crate::guest::Guest, write: &str) -> Result<String> {
    let conflicts = |g: &mut crate::guest::Guest| -> Result<u64> {
        Ok(g.ok("dmesg | grep -c 'reservation conflict' || true")?.trim().parse().unwrap_or(0))
    };
    let before = conflicts(g)?;
    let out = g.fails(write)?;
    let after = conflicts(g)?;
    anyhow::ensure!(after > before, "{}: the write failed, but not with a reservation conflict: {}", g.name, out.trim_end());
    Ok(out)
}

pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "module-load",
            about: "load the module, read and write its sysfs knobs, unload it",
            timeout: Duration::from_secs(180),
            run: Box::new(module_load::run),
        },
        Scenario {
            name: "pr-sanity-lio",
            about: "SCSI-3 PR between the nodes on the LIO array: reserve, conflict, PREEMPT AND ABORT",
            timeout: Duration::from_secs(300),
            run: Box::new(|ctx| pr_sanity::run(ctx, ArrayKind::Lio)),
        },
        Scenario {
            name: "pr-sanity-tgt",
            about: "the same on the tgt array, which lacks PREEMPT AND ABORT: PREEMPT instead",
            timeout: Duration::from_secs(300),
            run: Box::new(|ctx| pr_sanity::run(ctx, ArrayKind::Tgt)),
        },
        Scenario {
            name: "takeover-during-dump",
            about: "A (1 GiB) panics with a throttled coredump disk; B holds A's LUNs while A still dumps",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| takeover::during_dump(ctx, ArrayKind::Lio)),
        },
        Scenario {
            name: "takeover-panic-only",
            about: "B with auto_takeover_on_stale 0 (as under Pacemaker): a hung A is left alone, a panicked A is taken over on its beacon",
            timeout: Duration::from_secs(300),
            run: Box::new(takeover::panic_only),
        },
        Scenario {
            name: "takeover-hung",
            about: "A hangs: B fences it after the heartbeat timeout, A's writes fail; giveback returns the disks",
            timeout: Duration::from_secs(300),
            run: Box::new(|ctx| takeover::hung_partner(ctx, ArrayKind::Lio)),
        },
        Scenario {
            name: "takeover-during-dump-tgt",
            about: "the same on the tgt array (no PREEMPT AND ABORT): the PREEMPT fallback is used and reported",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| takeover::during_dump(ctx, ArrayKind::Tgt)),
        },
        Scenario {
            name: "takeover-hung-tgt",
            about: "a hung A fenced on the tgt array, with the PREEMPT fallback",
            timeout: Duration::from_secs(300),
            run: Box::new(|ctx| takeover::hung_partner(ctx, ArrayKind::Tgt)),
        },
        Scenario {
            name: "partner-disk-lost",
            about: "B loses its path to A's coredump disk: A is unreachable, never taken over on its own",
            timeout: Duration::from_secs(300),
            run: Box::new(takeover::partner_disk_lost),
        },
        Scenario {
            name: "takeover-partial",
            about: "a LUN held by a third party: the takeover is partial, exit 3, EREMOTEIO, each disk's result; then it succeeds",
            timeout: Duration::from_secs(300),
            run: Box::new(takeover::partial),
        },
        Scenario {
            name: "label-change",
            about: "a partner LUN gets a coredump label after it was configured: B's background check sees it, the takeover never preempts it",
            timeout: Duration::from_secs(300),
            run: Box::new(takeover::label_change),
        },
        Scenario {
            name: "rmmod-in-flight",
            about: "rmmod while a takeover waits on a silent array: rmmod waits, both complete, no oops",
            timeout: Duration::from_secs(300),
            run: Box::new(takeover::rmmod_in_flight),
        },
        Scenario {
            name: "split-brain",
            about: "both alive, each believes the other dead: B fences first, A finds itself fenced; one owner per LUN",
            timeout: Duration::from_secs(300),
            run: Box::new(takeover::split_brain),
        },
        Scenario {
            name: "array-restart",
            about: "the array loses power during a takeover, boots again at once and forgets its PRs: B retries, then holds every LUN",
            timeout: Duration::from_secs(300),
            run: Box::new(|ctx| takeover::array_restart(ctx, Duration::ZERO)),
        },
        Scenario {
            name: "array-restart-long",
            about: "as array-restart, the array off 30 s before it boots: B's retries outlast it (counted from the last new answer, not the start)",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| takeover::array_restart(ctx, Duration::from_secs(30))),
        },
        Scenario {
            name: "held-writes",
            about: "A's writes held 8 s in the array (dm-delay under LIO) when A panics: from B's takeover on, no block of A's LUN changes (PREEMPT AND ABORT waits for them)",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| held_writes::run(ctx, held_writes::Fabric::OnePath, held_writes::Case::Panic)),
        },
        Scenario {
            name: "held-writes-multipath",
            about: "A's writes to its map held 8 s in the array when A hangs and B fences it: PREEMPT AND ABORT through a path; no block changes after the takeover",
            timeout: Duration::from_secs(900),
            run: Box::new(|ctx| held_writes::run(ctx, held_writes::Fabric::Multipath, held_writes::Case::Hang)),
        },
        Scenario {
            name: "rehearsal-timeout",
            about: "A's coredump disk holds arming's rehearsal write past its 30 s timeout: arming fails, the bio and its buffers stay allocated; the disk back, A arms again and the late completion touches no freed memory",
            timeout: Duration::from_secs(300),
            run: Box::new(timeout::rehearsal_timeout),
        },
        Scenario {
            name: "crash-notes-namespace",
            about: "arming from a mount namespace that mounts a fake crash_notes file: the module reads the kernel's own (the panic path writes there)",
            timeout: Duration::from_secs(300),
            run: Box::new(timeout::crash_notes_namespace),
        },
        Scenario {
            name: "forged-header",
            about: "a header copy of another disk, and one with generation u64::MAX, saying dumping on A's coredump disk: B ignores both and does not take over; A's header goes on",
            timeout: Duration::from_secs(300),
            run: Box::new(timeout::forged_header),
        },
        Scenario {
            name: "self-fence",
            about: "A (self_fence panic) stopped on purpose loses its LUN and stays up; A hung and fenced by B panics and dumps as soon as it resumes, told by B's heartbeat",
            timeout: Duration::from_secs(600),
            run: Box::new(self_fence::run),
        },
        Scenario {
            name: "watch-while-arming",
            about: "B panics while A (1.5 GiB) arms with dump_codec auto: A holds B's LUN before its arming ends; longest gap between watch turns reported",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| watch::run(ctx, watch::Case::Arming)),
        },
        Scenario {
            name: "watch-while-disk-hangs",
            about: "B panics while A's own coredump disk takes no writes (its heartbeat write hangs): A holds B's LUN at once",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| watch::run(ctx, watch::Case::DiskHang)),
        },
        Scenario {
            name: "multipath-takeover",
            about: "each LUN over two paths (dm-multipath, multipathd): A panics, B takes its maps; B's key through both target ports, A's gone",
            timeout: Duration::from_secs(600),
            run: Box::new(multipath::takeover),
        },
        Scenario {
            name: "multipath-fence",
            about: "B fences a live A over multipath: A's writes fail with a reservation conflict on every path and map, no path failed",
            timeout: Duration::from_secs(600),
            run: Box::new(multipath::fence),
        },
        Scenario {
            name: "multipath-path-down",
            about: "B's path to A's LUNs is down before it registers and when A panics: takeover through the other; the path back, multipathd registers B",
            timeout: Duration::from_secs(600),
            run: Box::new(multipath::path_down),
        },
        Scenario {
            name: "multipath-path-lost",
            about: "B loses a path to each of A's LUNs during the takeover (maps reloaded): B holds all; a rescan brings the paths back, registered",
            timeout: Duration::from_secs(600),
            run: Box::new(multipath::path_lost),
        },
        Scenario {
            name: "pacemaker-failover",
            about: "corosync and Pacemaker on the pair, svc-a's filesystem, export and address as resources: A panics, Pacemaker fences it (fence_coretakeover) and runs svc-a on B while A dumps",
            timeout: Duration::from_secs(900),
            run: Box::new(pacemaker::failover),
        },
        Scenario {
            name: "pacemaker-self-fence",
            about: "Pacemaker: A (self_fence panic) hangs with interrupts off; Pacemaker fences it, svc-a runs on B; A resumes and panics before it answers a client that still reaches svc-a at A",
            timeout: Duration::from_secs(1200),
            run: Box::new(self_fence::under_pacemaker),
        },
        Scenario {
            name: "pacemaker-hang",
            about: "under Pacemaker A hangs: Pacemaker (not the kernel) fences it and runs svc-a on B; A reboots; unfencing (the giveback) waits for svc-a's stop; svc-a back on A",
            timeout: Duration::from_secs(1200),
            run: Box::new(pacemaker::hang),
        },
        Scenario {
            name: "label-copy",
            about: "a copy of A's coredump label on another disk and on a removable one: with its disk id pinned, apply finds the real disk by label and refuses the copy by path; the removable copy is never a candidate nor linked",
            timeout: Duration::from_secs(600),
            run: Box::new(boot::label_copy),
        },
        Scenario {
            name: "boot-flow",
            about: "nodes configured by /etc/coretakeover.conf and their service: A panics, boots, saves its dump, arms, gets its disks back",
            timeout: Duration::from_secs(900),
            run: Box::new(boot::boot_flow),
        },
        Scenario {
            name: "nfs-panic",
            about: "NFSv3 and NFSv4.1 clients write through A's panic (B serves nfs-a) and its giveback: no error, nothing acknowledged lost",
            timeout: Duration::from_secs(1500),
            run: Box::new(nfs::panic_and_giveback),
        },
        Scenario {
            name: "fs-panic",
            about: "below NFS: every file A's ext4 acknowledged (fsync of the file and its directory) is there after A's panic, B's takeover and journal replay",
            timeout: Duration::from_secs(600),
            run: Box::new(takeover::filesystem),
        },
        Scenario {
            name: "nfs-self-fence",
            about: "agent: A (self_fence panic) hangs with interrupts off; B fences it and serves nfs-a; A resumes and panics before it answers a client that still reaches nfs-a at A",
            timeout: Duration::from_secs(1200),
            run: Box::new(self_fence::under_agent),
        },
        Scenario {
            name: "nfs-hang",
            about: "A hangs: B fences it and serves nfs-a; A resumes, finds itself fenced, stops serving; giveback refused until A reboots; giveback; nothing lost",
            timeout: Duration::from_secs(1200),
            run: Box::new(nfs::hang_and_giveback),
        },
        Scenario {
            name: "dump-refusals",
            about: "arming refuses unlabeled, foreign and scheduled disks and bad input, and writes nothing",
            timeout: Duration::from_secs(300),
            run: Box::new(dump::refusals),
        },
        Scenario {
            name: "bad-input",
            about: "every row of Documentation/coretakeover/bad-input.rst: an errno, a reason, no change",
            timeout: Duration::from_secs(300),
            run: Box::new(bad_input::run),
        },
        Scenario {
            name: "dump-sysrq",
            about: "A panics (sysrq-c); B saves A's dump; drgn reads the panic line and a known pattern",
            timeout: Duration::from_secs(900),
            run: Box::new(dump::sysrq),
        },
        Scenario {
            name: "dump-kaslr",
            about: "two boots of A put the kernel and the direct map elsewhere; both dumps are read correctly",
            timeout: Duration::from_secs(600),
            run: Box::new(dump::kaslr),
        },
        Scenario {
            name: "dump-truncated",
            about: "a coredump disk smaller than RAM: the dump is truncated and saved as far as it goes",
            timeout: Duration::from_secs(600),
            run: Box::new(dump::truncated),
        },
        Scenario {
            name: "dump-power-loss",
            about: "A loses power half-way through its dump: savecore saves exactly what the header vouches for",
            timeout: Duration::from_secs(600),
            run: Box::new(dump::power_loss),
        },
        Scenario {
            name: "dump-nested-panic",
            about: "a panic inside the dump (test hook): no second dump, no hang; the header keeps the watermark",
            timeout: Duration::from_secs(300),
            run: Box::new(dump::nested_panic),
        },
        Scenario {
            name: "dump-softirq",
            about: "a panic from a timer softirq is dumped completely",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| dump::interrupt(ctx, "softirq")),
        },
        Scenario {
            name: "dump-hardirq",
            about: "a panic from a hard interrupt timer is dumped completely",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| dump::interrupt(ctx, "hardirq")),
        },
        Scenario {
            name: "dump-nvme",
            about: "both coredump disks on NVMe (nvme.poll_queues): A dumps through the NVMe poll queue, B reads it, savecore and drgn",
            timeout: Duration::from_secs(600),
            run: Box::new(dump::nvme),
        },
        Scenario {
            name: "dump-filter-kernel",
            about: "A dumps kernel pages only: a user and a page-cache pattern are absent from the vmcore, a kernel pattern intact; drgn reads it",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| dump::filtered(ctx, "kernel")),
        },
        Scenario {
            name: "dump-filter-no-cache",
            about: "A dumps without page cache: the user and kernel patterns are intact in the vmcore, the page-cache pattern absent",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| dump::filtered(ctx, "no-cache")),
        },
        Scenario {
            name: "dump-filter-no-free",
            about: "A dumps without free pages: all three patterns intact in a vmcore smaller than RAM",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| dump::filtered(ctx, "no-free")),
        },
        Scenario {
            name: "ocf-agent",
            about: "the OCF agent under ocf-tester on A (meta-data against the DTD, start/stop/monitor, repeated ones); started B sees A alive, stopped B sees it stopped; a typo is OCF_ERR_CONFIGURED",
            timeout: Duration::from_secs(600),
            run: Box::new(boot::ocf_agent),
        },
        Scenario {
            name: "fence-agent",
            about: "fence_coretakeover on B as Pacemaker's fencer runs it: list, status, monitor, refusals; A hangs and off fences it (verified), on gives back once A asks",
            timeout: Duration::from_secs(600),
            run: Box::new(takeover::fence_agent),
        },
        Scenario {
            name: "dump-codec-lz4",
            about: "A dumps every page with lz4 (format version 3): the chunks take less of the disk than the stream, savecore decompresses them, all patterns intact, drgn reads it",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| dump::compressed(ctx, "lz4", "all")),
        },
        Scenario {
            name: "dump-codec-zstd",
            about: "A dumps without free pages with zstd: smaller on the disk, every pattern intact, drgn reads it; the codec's stack use measured at arming",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| dump::compressed(ctx, "zstd", "no-free")),
        },
        Scenario {
            name: "dump-codec-auto",
            about: "A arms with dump_codec auto: every codec measured on sampled RAM, the model's choice dumps kernel pages, savecore and drgn read them",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| dump::compressed(ctx, "auto", "kernel")),
        },
        Scenario {
            name: "dump-encrypted",
            about: "A's dump encrypted for the administrator's key (lz4, no-free, 10 MB/s): B sees dumping and complete without the key; no pattern byte on the raw disk; savecore needs the key, then every pattern is intact; a flipped byte is found",
            timeout: Duration::from_secs(600),
            run: Box::new(dump::encrypted),
        },
        Scenario {
            name: "dump-replan",
            about: "A arms with a budget its full dump meets; its disk slows to 20 MB/s; the dump re-plans to a leaner filter and ends within budget",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| dump::replan(ctx, dump::Slowdown::Replan)),
        },
        Scenario {
            name: "dump-replan-power-loss",
            about: "As dump-replan at 10 MB/s, and A's power fails after the re-plan: savecore saves the cut filtered dump, consistent",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| dump::replan(ctx, dump::Slowdown::PowerLoss)),
        },
        Scenario {
            name: "dump-budget-deadline",
            about: "As dump-replan at 5 MB/s: not even kernel pages fit; the dump stops at its budget, truncated and flagged, and savecore saves what it wrote",
            timeout: Duration::from_secs(600),
            run: Box::new(|ctx| dump::replan(ctx, dump::Slowdown::Deadline)),
        },
        Scenario {
            name: "dump-calibrated",
            about: "A dumps, savecore saves it, A arms the disk again: its predictions are scaled by the earlier dump's measured over predicted time",
            timeout: Duration::from_secs(600),
            run: Box::new(dump::calibrated),
        },
        Scenario {
            name: "dump-nmi",
            about: "A hangs with interrupts off on every CPU; B fences it; an NMI panics A, which dumps from NMI context; drgn reads the hung stacks",
            timeout: Duration::from_secs(600),
            run: Box::new(takeover::nmi_dump),
        },
        Scenario {
            name: "dump-vs-kdump",
            about: "One panic of A dumped twice, by the module and then by kdump's capture kernel: the two vmcores' headers, notes and VMCOREINFO compared; crash, drgn and makedumpfile open both",
            timeout: Duration::from_secs(900),
            run: Box::new(dump::versus_kdump),
        },
    ]
}
