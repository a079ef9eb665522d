// SPDX-License-Identifier: GPL-2.0

//! `ct-cluster bench`: takeover and dump figures, measured side by side in
//! one run on one cluster per LUN count, and written as raw samples
//! (`samples.json`) for `qemu-test/bench_report.py`.
//!
//! One sample is one panic of node A:
//! - *ours*: B takes over on A's panic beacon (the product);
//! - *sequential* ("takeover after a full dump"): B's automatic takeover is
//!   off; the harness tells B to take over the moment A's console says our
//!   dump ended;
//! - *kdump*: kdump with fence_kdump, as a Pacemaker pair runs it: A boots
//!   with `crashkernel=`, loads a capture kernel with `kexec -p`, and is not
//!   armed; its capture kernel sends `fence_kdump_send` messages to B over
//!   the nodes' private network, and B, listening with `fence_kdump`,
//!   preempts A's disks the moment the listener returns.
//!
//! Between samples node A is powered off and booted again (with the RAM the
//! next sample needs), B gives A's disks back, and A reserves them again, so
//! every sample starts from the same state. All times are on the host
//! clock: the console line of A's panic to the console line of B's
//! takeover-done, both stamped by the harness as they arrive.

use crate::array::ArrayKind;
use crate::cluster::{Cluster, ClusterSpec, Env, NodeName};
use crate::scenarios::dump::{configure, parse_dump_line, parse_elapsed, parse_predicted, CLUSTER_ID};
use anyhow::{ensure, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SYSFS: &str = "/sys/kernel/coretakeover";
/// What dd writes for the throughput baseline, in MiB.
const DD_MIB: u64 = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Ours,
    /// The takeover after a full dump (once called the sequential baseline).
    #[serde(rename = "after-full-dump")]
    Sequential,
    Kdump,
}

/// What node A reserves for its capture kernel in the kdump baseline:
/// Debian's kdump-tools default for a machine with 384 MiB or more
/// (`crashkernel=384M-:128M`).
const CRASHKERNEL: &str = "crashkernel=128M";
/// fence_kdump's UDP port (its default), as /proc/net/udp spells it.
const FENCE_KDUMP_PORT_HEX: &str = "1CF2";

/// One panic of node A and what it showed.
#[derive(Debug, Serialize)]
pub struct Sample {
    pub mode: Mode,
    pub luns: usize,
    pub ram_mib: u32,
    pub bios_in_flight: u32,
    /// A's panic line to B's takeover-done line, host clock.
    pub takeover_ms: f64,
    /// The takeover's own time, as B's module logged it.
    pub takeover_ms_module: Option<u64>,
    pub disks_held: usize,
    /// Each disk's preempting PR command, as B's module timed it.
    pub pr_us: Vec<u64>,
    /// Each disk's wait for a worker: from the takeover's start to its work
    /// item's start.
    pub queued_us: Vec<u64>,
    /// A's dump progress when B was done (from B's log line).
    pub dump_percent_at_takeover: Option<f64>,
    /// Panic notifier entry to the beacon on the disk (A's log line; not in
    /// the kdump baseline, where A is not armed).
    pub beacon_latency_us: Option<u64>,
    /// A's panic line to A's beacon-written line, host clock.
    pub panic_to_beacon_ms_host: Option<f64>,
    /// A's panic line to the moment B knows: B's "partner is panicked" line
    /// (ours), or B's line that its fence_kdump listener returned (kdump),
    /// host clock.
    pub notice_ms_host: Option<f64>,
    /// kdump: A's panic line to its capture kernel's first userspace line.
    pub capture_up_ms_host: Option<f64>,
    /// kdump: what A reserved for the capture kernel
    /// (/sys/kernel/kexec_crash_size).
    pub crashkernel_bytes: Option<u64>,
    /// Detection: A's beacon-written line to B's "partner is panicked" line,
    /// host clock (the watch interval bounds it; both lines cross a serial
    /// console).
    pub detect_ms_host: Option<f64>,
    /// The takeover itself, the PR commands on every disk in parallel, as B's
    /// module timed it (`duration_us` of its last takeover).
    pub pr_phase_ms_module: Option<f64>,
    /// After the done line, off the critical path: the read-back of every
    /// preempted disk's reservation (B's "takeover verified" line).
    pub verify_us: Option<u64>,
    pub reserved_bytes: u64,
    /// When the run waited for the dump: its size and time (A's log line),
    /// and dd's rate on the same disk in the same boot.
    pub dump_mib: Option<u64>,
    pub dump_ms: Option<u64>,
    /// The dump's time as arming's rehearsal predicted it (A's dump line).
    pub dump_predicted_ms: Option<u64>,
    pub dd_mib_s: Option<f64>,
    /// The chunk checksum asked for (`dump_checksum`: auto, crc32c, xxh64),
    /// the one armed, and the rates arming measured (MiB/s); none in the
    /// kdump baseline, where A is not armed when it panics.
    pub checksum_asked: &'static str,
    pub chunk_checksum: Option<String>,
    pub crc32c_mib_s: Option<u64>,
    pub xxh64_mib_s: Option<u64>,
    /// The page filter armed (`dump_filter`), and for a filtered dump what
    /// it kept of how much RAM (A's "dump filter" line, MiB).
    pub filter: &'static str,
    pub kept_mib: Option<u64>,
    pub ram_dump_mib: Option<u64>,
    /// The codec asked for, and for a compressed dump, the one in force
    /// and the MiB its chunks took on the disk (the stream's: `dump_mib`).
    pub codec_asked: &'static str,
    pub codec: Option<String>,
    pub stored_mib: Option<u64>,
}

pub struct Options {
    /// Samples of our takeover per configuration.
    pub runs: usize,
    /// Samples of the sequential baseline per RAM size (8 LUNs).
    pub baseline_runs: usize,
    /// Dumps timed against dd per bios-in-flight setting (1 GiB, 8 LUNs).
    pub throughput_runs: usize,
    /// Panics of A under NFS clients, each with its giveback.
    pub nfs_runs: usize,
    /// Hangs of A under NFS clients, each with its giveback.
    pub nfs_hang_runs: usize,
    /// Only the NFS part.
    pub nfs_only: bool,
    /// Samples of the kdump + fence_kdump baseline (8 LUNs, 1 GiB).
    pub kdump_runs: usize,
    /// Passes over the dump-budget grid, and whether to run only that.
    pub budget_runs: usize,
    pub budget_only: bool,
    /// Pairs of takeovers over dm-multipath and over each LUN's first path
    /// alone, on the same two-path fabric; and whether to run only those.
    pub multipath_runs: usize,
    pub multipath_only: bool,
    /// Failovers under Pacemaker (a fresh pair each), and whether to run
    /// only those.
    pub pacemaker_runs: usize,
    pub pacemaker_only: bool,
    /// The capture kernel's initramfs (`initramfs::build_kdump`), its
    /// kernel (the nodes' own) and the guests' extra kernel arguments.
    pub kdump_initramfs: Option<PathBuf>,
    pub kernel: PathBuf,
    pub kernel_args: String,
}

/// The pair under measurement: the LIO array, B, and A booted anew per sample.
struct Bench {
    cluster: Cluster,
    luns: usize,
    a_luns: String,
    a_ram: u32,
    /// Whether A is fresh (booted, never panicked) right now.
    a_fresh: bool,
    /// Whether A's current boot reserved memory for a capture kernel.
    a_crashkernel: bool,
    /// For the kdump baseline: the capture initramfs, kernel and arguments.
    kdump: Option<(PathBuf, PathBuf, String)>,
    b_holding: bool,
    /// Whether B watches A's coredump disk (it must carry A's label first).
    b_watching: bool,
    /// Watch intervals whose cost to measure before the next panic, once.
    watch_costs_due: Vec<u32>,
    watch_costs: Vec<WatchCost>,
}

/// What B's watch of A costs at one `watch_interval_ms`, A alive and B
/// watching: the reads per second on A's coredump disk (two header copies
/// and the heartbeat per turn), the label reads per second on A's LUNs (the
/// background identity check), and the CPU share of B's `coretakeover`
/// thread, over `seconds`.
#[derive(Debug, Serialize)]
pub struct WatchCost {
    pub watch_interval_ms: u32,
    pub seconds: f64,
    pub dump_disk_reads_per_s: f64,
    pub lun_reads_per_s: f64,
    pub thread_cpu_percent: f64,
    pub luns: usize,
}

/// The default `watch_interval_ms`, restored after measuring the others.
const DEFAULT_WATCH_MS: u32 = 20;

fn luns_of(cluster: &Cluster, owner: NodeName) -> String {
    (0..cluster.luns_per_node).map(|k| format!("$(lun_dev {})", cluster.lun_of(owner, k))).collect::<Vec<_>>().join(" ")
}

/// Waits on `node` until its partner_state reads alive.
fn wait_alive(cluster: &mut Cluster, node: NodeName) -> Result<()> {
    cluster
        .node(node)?
        .shell
        .ok(
            &format!("i=0; until [ \"$(cat {SYSFS}/partner_state)\" = alive ]; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done"),
            Duration::from_secs(60),
        )
        .map(drop)
        .with_context(|| format!("node {} never saw its partner's heartbeat move", node.letter()))
}

impl Bench {
    fn start(env: &Env, dir: &Path, luns: usize, a_ram: u32, deadline: Instant, kdump: Option<(PathBuf, PathBuf, String)>) -> Result<Self> {
        println!("    - booting the LIO array ({} LUNs) and nodes A ({a_ram} MiB) and B (1024 MiB)", 2 * luns);
        let spec = ClusterSpec {
            array: Some(ArrayKind::Lio),
            luns_per_node: luns,
            nodes: vec![NodeName::A, NodeName::B],
            node_memory_mib: 1024,
            memory_of: vec![(NodeName::A, a_ram)],
            coredump_mib: 3072,
            clients: 0,
            // The kdump baseline's fence_kdump messages cross it.
            network: kdump.is_some(),
            nvme_coredump: false,
            paths: 1,
            hold_writes: false,
        };
        let mut cluster = Cluster::start(&spec, env, dir, deadline)?;
        let a_luns = luns_of(&cluster, NodeName::A);
        let b_luns = luns_of(&cluster, NodeName::B);
        let b = cluster.node(NodeName::B)?;
        configure(b, NodeName::B)?;
        b.ok(&format!("echo \"{b_luns}\" > {SYSFS}/service_disks && echo 1 > {SYSFS}/partner_id"))?;
        b.ok(&format!("echo \"{a_luns}\" > {SYSFS}/partner_disks"))?;
        Ok(Self {
            cluster,
            luns,
            a_luns,
            a_ram,
            a_fresh: true,
            a_crashkernel: false,
            kdump,
            b_holding: false,
            b_watching: false,
            watch_costs_due: Vec::new(),
            watch_costs: Vec::new(),
        })
    }

    /// One sample: A (with `ram` MiB) armed and holding its LUNs, then its panic.
    /// Measures the watch at `interval_ms` for `seconds` (see [`WatchCost`]),
    /// then restores the default interval.
    fn watch_cost(&mut self, interval_ms: u32, seconds: u32) -> Result<WatchCost> {
        let a_luns = self.a_luns.clone();
        let b = self.cluster.node(NodeName::B)?;
        // Counters: reads completed on the coredump disk and on A's LUNs
        // (/sys/block/*/stat field 1), the thread's utime + stime (clock
        // ticks, /proc/PID/stat fields 14 and 15), the uptime.
        let sample = "set -- $(cat /sys/block/$d/stat); r=$1; l=0; for x in $luns; do set -- $(cat /sys/block/$x/stat); l=$((l + $1)); done; \
             set -- $(cat /proc/$pid/stat); c=$((${14} + ${15})); set -- $(cat /proc/uptime); echo $r $l $c $1";
        let out = b.shell.ok(
            &format!(
                "d=$(basename $(readlink -f $(coredump_dev a))); luns=''; for x in {a_luns}; do luns=\"$luns $(basename $(readlink -f $x))\"; done; \
                 pid=''; for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = coretakeover ] && pid=${{p#/proc/}} && break; done; [ -n \"$pid\" ] || exit 1; \
                 echo {interval_ms} > {SYSFS}/watch_interval_ms && sleep 1 && {sample} && sleep {seconds} && {sample}; echo {DEFAULT_WATCH_MS} > {SYSFS}/watch_interval_ms"
            ),
            Duration::from_secs(u64::from(seconds) + 60),
        )?;
        let v: Vec<f64> = out.split_whitespace().map(str::parse).collect::<Result<_, _>>().with_context(|| format!("watch counters: {out}"))?;
        ensure!(v.len() == 8, "watch counters: {out}");
        let secs = v[7] - v[3];
        ensure!(secs > 0.0, "watch counters: {out}");
        Ok(WatchCost {
            watch_interval_ms: interval_ms,
            seconds: secs,
            dump_disk_reads_per_s: (v[4] - v[0]) / secs,
            lun_reads_per_s: (v[5] - v[1]) / secs,
            // USER_HZ is 100: a tick is 10 ms.
            thread_cpu_percent: (v[6] - v[2]) * 10.0 / (secs * 1000.0) * 100.0,
            luns: self.luns,
        })
    }

    /// The kdump baseline, A armed and holding its disks as in every sample:
    /// A disarms (a kdump node has no panic notifier of ours) and loads its
    /// capture kernel; B stops watching A's coredump disk and starts Debian's
    /// fence_kdump listener for A, and writes `takeover` the moment it
    /// returns 0. Returns what A reserved for the capture kernel.
    fn kdump_arm(&mut self) -> Result<u64> {
        let (initramfs, kernel, extra) = self.kdump.clone().context("this bench cluster has no kdump initramfs")?;
        let (a_ip, b_ip) = (NodeName::A.address(), NodeName::B.address());
        let append = format!(
            "console=ttyS0 ct.ip={a_ip}/{} ct.fence_kdump={b_ip} reset_devices nr_cpus=1 irqpoll nousb panic=-1 loglevel=7 {extra}",
            crate::cluster::NETWORK_PREFIX
        );
        let a = self.cluster.node(NodeName::A)?;
        let loaded = a.ok(&format!(
            "echo none > {SYSFS}/dump_disk && host kexec -p {} --initrd={} --append=\"{append}\" && cat /sys/kernel/kexec_crash_loaded /sys/kernel/kexec_crash_size",
            kernel.display(),
            initramfs.display()
        ))?;
        let v: Vec<u64> = loaded.split_whitespace().map(str::parse).collect::<Result<_, _>>().with_context(|| format!("kexec -p: {loaded}"))?;
        ensure!(v.len() == 2 && v[0] == 1 && v[1] > 0, "A's capture kernel is not loaded: {loaded}");
        let b = self.cluster.node(NodeName::B)?;
        b.ok(&format!(
            "echo none > {SYSFS}/partner_dump_disk && \
             (host /usr/sbin/fence_kdump -n {a_ip} -f ipv4 -t 300 -o off >/tmp/fence_kdump.log 2>&1; rc=$?; \
              echo \"ct-bench: fence_kdump exit $rc\" > /dev/kmsg; [ $rc = 0 ] && echo 1 > {SYSFS}/takeover) </dev/null >/dev/null 2>&1 & \
             i=0; until grep -q ':{FENCE_KDUMP_PORT_HEX} ' /proc/net/udp; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done"
        ))
        .context("B's fence_kdump listener did not start")?;
        Ok(v[1])
    }

    #[allow(clippy::too_many_arguments)]
    fn sample(&mut self, mode: Mode, ram: u32, in_flight: u32, time_dump: bool, checksum: &'static str, filter: &'static str, codec: &'static str) -> Result<Sample> {
        let kdump = mode == Mode::Kdump;
        // "CODEC+encrypted": the same scheme, encrypted (a fresh data key
        // sealed for the bench's key pair, made in `run`).
        let (codec_name, encrypt) = match codec.strip_suffix("+encrypted") {
            Some(c) => (c, true),
            None => (codec, false),
        };
        if !self.a_fresh || self.a_ram != ram || self.a_crashkernel != kdump {
            self.cluster.set_boot_args(NodeName::A, if kdump { CRASHKERNEL } else { "" });
            self.cluster.restart(NodeName::A, ram)?;
            self.a_ram = ram;
            self.a_crashkernel = kdump;
        }
        self.a_fresh = false;
        let deadline = self.cluster.deadline;
        let a = self.cluster.node(NodeName::A)?;
        configure(a, NodeName::A)?;
        a.ok(&format!(
            "echo {in_flight} > {SYSFS}/dump_bios_in_flight && echo {checksum} > {SYSFS}/dump_checksum && echo {filter} > {SYSFS}/dump_filter && echo {codec_name} > {SYSFS}/dump_codec && echo {} > {SYSFS}/dump_encrypt && dump_ready $(coredump_dev a)",
            u8::from(encrypt)
        ))?;
        let dd_mib_s = if time_dump {
            let dd = a.ok(&format!(
                "t0=$(host date +%s%N) && dd if=/dev/zero of=$(coredump_dev a) bs=1M count={DD_MIB} oflag=direct 2>/dev/null && t1=$(host date +%s%N) && echo $t0 $t1"
            ))?;
            Some(DD_MIB as f64 / parse_elapsed(&dd).with_context(|| format!("dd timing: {dd}"))?)
        } else {
            None
        };
        if encrypt {
            a.ok("coretakeover dump-key arm --public /results/admin.key.pub")?;
        }
        // The last panic left a dump: discarded (marked saved), so that a
        // whole one calibrates this arming's model as on a node whose dumps
        // are saved; a disk with no dump to discard (fresh, or after the
        // kdump baseline) is labeled again.
        a.ok(&format!(
            "dev=$(coredump_dev a) && {{ coretakeover savecore --discard --disk $dev >/dev/null 2>&1 || coretakeover label --force --disk $dev --cluster {CLUSTER_ID} --node 1 >/dev/null; }} && echo $dev > {SYSFS}/dump_disk"
        ))?;
        let reserved: u64 = a.ok(&format!("cat {SYSFS}/dump_reserved_bytes"))?.trim().parse()?;
        let (chunk_checksum, crc32c_mib_s, xxh64_mib_s) = crate::scenarios::dump::armed_checksum(a)?;

        if !self.b_watching {
            self.cluster.node(NodeName::B)?.ok(&format!("echo $(coredump_dev a) > {SYSFS}/partner_dump_disk"))?;
            self.b_watching = true;
        }
        let a_luns = self.a_luns.clone();
        if self.b_holding {
            wait_alive(&mut self.cluster, NodeName::B)?;
            // A asks for its disks: it registers on each, then finds them
            // held (EBUSY); the survivor gives back only to a partner
            // registered again.
            let a = self.cluster.node(NodeName::A)?;
            let out = a.ok(&format!("echo \"{a_luns}\" > {SYSFS}/service_disks 2>&1; echo \"exit=$?\""))?;
            ensure!(out.contains("exit=1"), "A's service_disks while B holds them should fail (EBUSY): {out}");
            let b = self.cluster.node(NodeName::B)?;
            b.ok(&format!("echo 1 > {SYSFS}/giveback"))?;
            self.b_holding = false;
        }
        self.cluster.node(NodeName::A)?.ok(&format!("echo \"{a_luns}\" > {SYSFS}/service_disks"))?;
        wait_alive(&mut self.cluster, NodeName::B)?;
        let b = self.cluster.node(NodeName::B)?;
        let auto = u8::from(mode == Mode::Ours);
        b.ok(&format!("echo {auto} > {SYSFS}/auto_takeover"))?;
        let crashkernel_bytes = if kdump { Some(self.kdump_arm()?) } else { None };
        for interval in std::mem::take(&mut self.watch_costs_due) {
            let cost = self.watch_cost(interval, 10)?;
            println!(
                "    - watch every {} ms: {:.0} reads/s on A's coredump disk, {:.1} label reads/s on its {} LUNs, B's thread {:.2} % of a CPU",
                cost.watch_interval_ms, cost.dump_disk_reads_per_s, cost.lun_reads_per_s, cost.luns, cost.thread_cpu_percent
            );
            self.watch_costs.push(cost);
        }
        let a_mark = self.cluster.node(NodeName::A)?.console.mark();
        let b_mark = self.cluster.node(NodeName::B)?.console.mark();
        self.cluster.node(NodeName::A)?.ok("(sleep 0.3; echo c > /proc/sysrq-trigger) </dev/null >/dev/null 2>&1 &")?;
        let a = self.cluster.node(NodeName::A)?;
        let panicked = a.wait_console(a_mark, "Kernel panic - not syncing", Duration::from_secs(30), deadline)?;
        let beacon = if kdump {
            None
        } else {
            let line = a.wait_console(a_mark, "coretakeover: panic beacon written", Duration::from_secs(30), deadline)?;
            let us: u64 = line
                .text
                .split("panic beacon written in ")
                .nth(1)
                .and_then(|t| t.split_whitespace().next()?.parse().ok())
                .with_context(|| format!("beacon line: {}", line.text))?;
            Some((line, us))
        };
        let since_panic = |at: Duration| at.saturating_sub(panicked.at).as_secs_f64() * 1e3;
        let mut notice_ms_host = None;
        let mut capture_up_ms_host = None;
        if kdump {
            // B preempts the moment its listener returns (see kdump_arm).
            let b = self.cluster.node(NodeName::B)?;
            let heard = b.wait_console(b_mark, "ct-bench: fence_kdump exit", Duration::from_secs(120), deadline)?;
            ensure!(heard.text.contains("fence_kdump exit 0"), "B's fence_kdump: {}", heard.text);
            notice_ms_host = Some(since_panic(heard.at));
            let a = self.cluster.node(NodeName::A)?;
            capture_up_ms_host = a.console.find(a_mark, "ct-kdump: capture kernel userspace up").map(|l| since_panic(l.at));
        }
        let mut dump_end = None;
        if mode == Mode::Sequential {
            // The takeover command goes to B the moment A's console says the
            // dump ended: the best a cluster that waits for the dump can do.
            let end = self.cluster.node(NodeName::A)?.wait_console(a_mark, "coretakeover: dump ", Duration::from_secs(300), deadline)?;
            self.cluster.node(NodeName::B)?.ok(&format!("echo 1 > {SYSFS}/takeover"))?;
            dump_end = Some(end);
        }
        if kdump {
            // B watches A's coredump disk again before the next sample.
            self.b_watching = false;
        }
        let b = self.cluster.node(NodeName::B)?;
        let done = b.wait_console(b_mark, "coretakeover: takeover done", Duration::from_secs(300), deadline)?;
        self.b_holding = true;
        let takeover_ms = done.at.saturating_sub(panicked.at).as_secs_f64() * 1e3;
        let verified = b.wait_console(b_mark, "coretakeover: takeover verified", Duration::from_secs(60), deadline)?;
        let verify_us = verified.text.split(" ours in ").nth(1).and_then(|t| t.split_whitespace().next()?.parse().ok());
        let detected = b.console.find(b_mark, "coretakeover: partner is panicked");
        let detect_ms_host = match (&detected, &beacon) {
            (Some(d), Some((line, _))) => Some((d.at.as_secs_f64() - line.at.as_secs_f64()) * 1e3),
            _ => None,
        };
        if mode == Mode::Ours {
            notice_ms_host = detected.as_ref().map(|d| since_panic(d.at));
        }
        let last = crate::scenarios::takeover::last_takeover(b)?;
        let pr_phase_ms_module = last["duration_us"].as_u64().map(|us| us as f64 / 1e3);
        let disks = last["disks"].as_array().cloned().unwrap_or_default();
        let pr_us: Vec<u64> = disks.iter().filter_map(|d| d["pr_us"].as_u64()).collect();
        let queued_us: Vec<u64> = disks.iter().filter_map(|d| d["queued_us"].as_u64()).collect();
        let disks_held = disks.iter().filter(|d| d["held"] == 1 && (d["method"] == "preempt-abort" || d["method"] == "preempt")).count();
        ensure!(disks_held == self.luns, "B took {disks_held} of {} LUNs: {last}", self.luns);
        let (mut dump_mib, mut dump_ms, mut dump_predicted_ms) = (None, None, None);
        if time_dump || mode == Mode::Sequential {
            let end = match dump_end {
                Some(end) => end,
                None => self.cluster.node(NodeName::A)?.wait_console(a_mark, "coretakeover: dump ", Duration::from_secs(300), deadline)?,
            };
            ensure!(end.text.contains("dump complete"), "A's dump: {}", end.text);
            let (mib, ms) = parse_dump_line(&end.text).with_context(|| format!("dump line: {}", end.text))?;
            (dump_mib, dump_ms) = (Some(mib), Some(ms));
            dump_predicted_ms = parse_predicted(&end.text);
        }
        let (mut kept_mib, mut ram_dump_mib) = (None, None);
        if filter != "all" && dump_ms.is_some() {
            // "dump filter F: kept X of Y MiB of RAM (...)"
            let line = self.cluster.node(NodeName::A)?.wait_console(a_mark, "coretakeover: dump filter", Duration::from_secs(30), deadline)?;
            let mut words = line.text.split(": kept ").nth(1).unwrap_or("").split_whitespace();
            kept_mib = words.next().and_then(|w| w.parse().ok());
            ram_dump_mib = words.nth(1).and_then(|w| w.parse().ok());
            ensure!(kept_mib.is_some() && ram_dump_mib.is_some(), "filter line: {}", line.text);
        }
        let (mut codec_used, mut stored_mib) = (None, None);
        if codec_name != "none" && dump_ms.is_some() {
            // "dump codec C: X MiB of stream stored in Y MiB (Z KiB)"
            let a = self.cluster.node(NodeName::A)?;
            a.wait_console(a_mark, "coretakeover: dump filter", Duration::from_secs(30), deadline)?;
            let line = self.cluster.node(NodeName::A)?.console.find(a_mark, "coretakeover: dump codec").context("no codec line")?;
            let rest = line.text.split("dump codec ").nth(1).unwrap_or("");
            codec_used = rest.split(':').next().map(str::to_string);
            stored_mib = rest.split(" stored in ").nth(1).and_then(|t| t.split_whitespace().next()?.parse().ok());
            ensure!(codec_used.is_some() && stored_mib.is_some(), "codec line: {}", line.text);
        }
        let sample = Sample {
            mode,
            luns: self.luns,
            ram_mib: ram,
            bios_in_flight: in_flight,
            takeover_ms,
            takeover_ms_module: done.text.split(" disks held in ").nth(1).and_then(|t| t.split_whitespace().next()?.parse().ok()),
            disks_held,
            pr_us,
            queued_us,
            dump_percent_at_takeover: done
                .text
                .rsplit("partner dump at ")
                .next()
                .filter(|_| done.text.contains("partner dump at "))
                .and_then(|p| p.trim_end_matches('%').trim().parse().ok()),
            beacon_latency_us: beacon.as_ref().map(|(_, us)| *us),
            panic_to_beacon_ms_host: beacon.as_ref().map(|(line, _)| since_panic(line.at)),
            notice_ms_host,
            capture_up_ms_host,
            crashkernel_bytes,
            detect_ms_host,
            pr_phase_ms_module,
            verify_us,
            reserved_bytes: reserved,
            dump_mib,
            dump_ms,
            dump_predicted_ms,
            dd_mib_s,
            checksum_asked: checksum,
            chunk_checksum: (!kdump).then(|| chunk_checksum.clone()),
            crc32c_mib_s: Some(crc32c_mib_s),
            xxh64_mib_s: Some(xxh64_mib_s),
            filter,
            kept_mib,
            ram_dump_mib,
            codec_asked: codec,
            codec: codec_used,
            stored_mib,
        };
        println!(
            "    - {:?} {} LUNs {} MiB: takeover {:.0} ms{}{}",
            mode,
            self.luns,
            ram,
            sample.takeover_ms,
            match (mode, sample.notice_ms_host) {
                (Mode::Kdump, Some(ms)) => format!(" (fence_kdump message after {ms:.0} ms)"),
                _ => String::new(),
            },
            match (sample.dump_mib, sample.dump_ms, sample.dd_mib_s) {
                (Some(mib), Some(ms), Some(dd)) =>
                    format!("; dump {mib} MiB (filter {filter}) in {ms} ms (predicted {} ms) with {in_flight} in flight and {chunk_checksum} ({checksum}), dd {dd:.0} MiB/s", sample.dump_predicted_ms.unwrap_or(0)),
                (Some(mib), Some(ms), None) => format!("; dump {mib} MiB in {ms} ms (predicted {} ms)", sample.dump_predicted_ms.unwrap_or(0)),
                _ => String::new(),
            }
        );
        Ok(sample)
    }
}

/// The NFS failover figures: `nfs_runs` panics of A, each followed by A's
/// reboot and the giveback, then `nfs_hang_runs` hangs, each followed by
/// A's resumption (fenced, it stops serving), a refused giveback, A's reboot
/// and the giveback; clients on NFSv3 and NFSv4.1 throughout. Writes `out/nfs-samples.json` as it goes.
fn nfs(env: &Env, dir: &Path, out: &Path, opts: &Options) -> Result<()> {
    use crate::scenarios::nfs::{NfsPair, MOUNTS};
    let started = Instant::now();
    let mut ctx = crate::scenarios::Ctx { env, dir: dir.join("nfs"), deadline: started + Duration::from_secs(3 * 60 * 60), facts: Default::default() };
    println!("--- bench: NFS failover: {} panics and {} hangs of A, each with its giveback; NFSv3 and NFSv4.1 clients", opts.nfs_runs, opts.nfs_hang_runs);
    let mut pair = NfsPair::start(&mut ctx)?;
    // What emulation adds: the cost of starting one program on B (with the
    // client writing), against the same on this machine.
    let exec_guest = pair.exec_ms(NodeName::B)?;
    let exec_host = {
        let t = Instant::now();
        for _ in 0..20 {
            std::process::Command::new("/bin/true").status()?;
        }
        t.elapsed().as_secs_f64() * 1000.0 / 20.0
    };
    println!("    - starting a program: {exec_guest:.1} ms on node B (TCG), {exec_host:.2} ms on this machine");
    let mut events = Vec::new();
    let mut timeline = serde_json::Value::Null;
    let save_as = |events: &[serde_json::Value], timeline: &serde_json::Value, stopped_by: Option<String>| -> Result<()> {
        let doc = serde_json::json!({
            "commit": measured_commit(),
            "seconds": started.elapsed().as_secs_f64(),
            "exec_ms_guest": exec_guest,
            "exec_ms_host": exec_host,
            "events": events,
            "timeline": timeline,
            "stopped_by": stopped_by,
        });
        std::fs::write(out.join("nfs-samples.json"), serde_json::to_string_pretty(&doc)? + "\n")?;
        Ok(())
    };
    let save = |events: &[serde_json::Value], timeline: &serde_json::Value| save_as(events, timeline, None);
    let print = |o: &crate::scenarios::nfs::Outcome| {
        let stalls: Vec<String> = o.stall_ms.iter().map(|(t, ms)| format!("{t} {ms} ms")).collect();
        println!(
            "    - {}: stall {}; service after {} ms; {} failed, {} replayed, {} records lost, {} operations lost",
            o.event,
            stalls.join(", "),
            o.service_ms.unwrap_or(0),
            o.failed_ops.len(),
            o.replayed_ops.len(),
            o.lost_acked_writes,
            o.lost_acked_ops.len()
        );
    };
    let mut run = |events: &mut Vec<serde_json::Value>, timeline: &mut serde_json::Value| -> Result<()> {
        for i in 0..opts.nfs_runs + opts.nfs_hang_runs {
            let hang = i >= opts.nfs_runs;
            let o = if hang { pair.hang(NodeName::A)? } else { pair.panic(NodeName::A)? };
            if i == 0 {
                // The first panic's acknowledgements around it, for the plot.
                let acks = pair.acks()?;
                let at = pair.cluster.node(NodeName::B)?.console.find(0, "takeover done").map(|l| l.at);
                let panic_at = pair.cluster.node(NodeName::A)?.console.find(0, "sysrq: Trigger a crash").map(|l| l.at).context("no panic line")?;
                let rel = |d: Duration| (d.as_secs_f64() - panic_at.as_secs_f64()) * 1000.0;
                let mut per = serde_json::Map::new();
                for (tag, _, _, _) in MOUNTS {
                    let points: Vec<(f64, u32)> = acks.iter().filter(|a| a.tag == tag).map(|a| (rel(a.at), a.writer)).collect();
                    per.insert(tag.to_string(), serde_json::json!(points));
                }
                *timeline = serde_json::json!({ "acks": per, "takeover_done_ms": at.map(rel), "service_running_ms": o.service_ms });
            }
            if hang {
                pair.resume_fenced(NodeName::A)?;
                pair.giveback_refused(NodeName::A)?;
                pair.reboot(NodeName::A)?;
            } else {
                pair.reboot(NodeName::A)?;
            }
            let o = pair.finish(o)?;
            print(&o);
            events.push(o.to_json());
            pair.start_load()?;
            let mut g = pair.giveback(NodeName::A)?;
            g = pair.finish(g)?;
            g.event = if hang { "giveback-after-hang".into() } else { "giveback".into() };
            print(&g);
            events.push(g.to_json());
            save(&events, &timeline)?;
            // Each reboot saved a dump: it is not what this part measures.
            let _ = std::fs::remove_dir_all(ctx.dir.join("crash-a"));
            pair.start_load()?;
        }
        Ok(())
    };
    if let Err(e) = run(&mut events, &mut timeline) {
        // What was measured stays, with why the run stopped.
        let after = format!("after {} events, {e:#}", events.len());
        save_as(&events, &timeline, Some(after))?;
        return Err(e);
    }
    drop(pair);
    crate::results::tidy_passed(&ctx.dir);
    save(&events, &timeline)?;
    Ok(())
}

/// Runs every measurement; writes `out/samples.json` as it goes.
pub fn run(env: &Env, dir: &Path, out: &Path, opts: &Options) -> Result<()> {
    if opts.nfs_only {
        std::fs::create_dir_all(out)?;
        return nfs(env, dir, out, opts);
    }
    if opts.budget_only {
        std::fs::create_dir_all(out)?;
        return budget(env, dir, out, opts.budget_runs);
    }
    if opts.multipath_only {
        std::fs::create_dir_all(out)?;
        return multipath(env, dir, out, opts.multipath_runs);
    }
    if opts.pacemaker_only {
        std::fs::create_dir_all(out)?;
        return pacemaker(env, dir, out, opts.pacemaker_runs);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60 * 60);
    std::fs::create_dir_all(out)?;
    let disk = crate::results::DiskWatch::start(dir);
    let mut samples: Vec<Sample> = Vec::new();
    let watch_costs: std::cell::RefCell<Vec<WatchCost>> = Default::default();
    let save = |samples: &[Sample]| -> Result<()> {
        let doc = serde_json::json!({
            "commit": measured_commit(),
            "started_unix": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs()
                - started.elapsed().as_secs(),
            "seconds": started.elapsed().as_secs_f64(),
            "runs": opts.runs,
            "baseline_runs": opts.baseline_runs,
            "throughput_runs": opts.throughput_runs,
            "kdump_runs": opts.kdump_runs,
            "crashkernel": CRASHKERNEL,
            "peak_results_bytes": disk.peak(),
            "watch_costs": watch_costs.borrow().as_slice(),
            "samples": samples,
        });
        std::fs::write(out.join("samples.json"), serde_json::to_string_pretty(&doc)? + "\n")?;
        Ok(())
    };

    let kdump = match (&opts.kdump_initramfs, opts.kdump_runs) {
        (Some(initramfs), n) if n > 0 => Some((initramfs.clone(), opts.kernel.clone(), opts.kernel_args.clone())),
        _ => None,
    };
    let mut bench = Bench::start(env, &dir.join("luns-8"), 8, 256, deadline, kdump)?;
    println!(
        "--- bench: 8 LUNs per node; A with 256 MiB, 1 GiB, 2 GiB; ours, the takeover after a full dump{} interleaved",
        if bench.kdump.is_some() { " and (1 GiB) kdump with fence_kdump" } else { "" }
    );
    // Before the first panic, with A alive: what the watch costs B.
    bench.watch_costs_due = vec![10, DEFAULT_WATCH_MS, 50, 100, 200];
    for ram in [256, 1024, 2048] {
        let kdump_runs = if ram == 1024 && bench.kdump.is_some() { opts.kdump_runs } else { 0 };
        for i in 0..opts.runs.max(opts.baseline_runs).max(kdump_runs) {
            if i < opts.runs {
                samples.push(bench.sample(Mode::Ours, ram, 4, false, "auto", "all", "none")?);
            }
            if i < opts.baseline_runs {
                samples.push(bench.sample(Mode::Sequential, ram, 4, ram == 1024, "auto", "all", "none")?);
            }
            if i < kdump_runs {
                samples.push(bench.sample(Mode::Kdump, ram, 4, false, "auto", "all", "none")?);
            }
            watch_costs.borrow_mut().append(&mut bench.watch_costs);
            save(&samples)?;
        }
    }
    println!("--- bench: dump throughput against dd: 1 and 4 bios in flight with the checksum auto chooses, 4 with CRC-32C (A 1 GiB)");
    for _ in 0..opts.throughput_runs {
        for (in_flight, checksum) in [(1, "auto"), (4, "auto"), (4, "crc32c")] {
            samples.push(bench.sample(Mode::Ours, 1024, in_flight, true, checksum, "all", "none")?);
        }
        save(&samples)?;
    }
    println!("--- bench: page filters, A 1 GiB idle: every page, and kernel pages only, side by side (4 in flight, checksum auto)");
    for _ in 0..opts.throughput_runs {
        for filter in ["all", "kernel"] {
            samples.push(bench.sample(Mode::Ours, 1024, 4, true, "auto", filter, "none")?);
        }
        save(&samples)?;
    }
    println!("--- bench: codecs, A 1 GiB idle: every page stored as it is, with lz4, with zstd, and with lz4 encrypted, side by side (4 in flight, checksum auto)");
    let made = std::process::Command::new(&env.cli).args(["dump-key", "new", "--private"]).arg(bench.cluster.dir.join("admin.key")).output()?;
    ensure!(made.status.success(), "dump-key new: {}", String::from_utf8_lossy(&made.stderr));
    for _ in 0..opts.throughput_runs {
        for codec in ["none", "lz4", "zstd", "lz4+encrypted"] {
            samples.push(bench.sample(Mode::Ours, 1024, 4, true, "auto", "all", codec)?);
        }
        save(&samples)?;
    }
    drop(bench);
    crate::results::tidy_passed(&dir.join("luns-8"));

    for luns in [1, 32] {
        println!("--- bench: {luns} LUNs per node, A 1 GiB");
        let mut bench = Bench::start(env, &dir.join(format!("luns-{luns}")), luns, 1024, deadline, None)?;
        for _ in 0..opts.runs {
            samples.push(bench.sample(Mode::Ours, 1024, 4, false, "auto", "all", "none")?);
            save(&samples)?;
        }
        drop(bench);
        crate::results::tidy_passed(&dir.join(format!("luns-{luns}")));
    }
    save(&samples)?;
    if opts.budget_runs > 0 {
        budget(env, dir, out, opts.budget_runs)?;
    }
    if opts.multipath_runs > 0 {
        multipath(env, dir, out, opts.multipath_runs)?;
    }
    if opts.pacemaker_runs > 0 {
        pacemaker(env, dir, out, opts.pacemaker_runs)?;
    }
    if opts.nfs_runs + opts.nfs_hang_runs > 0 {
        nfs(env, dir, out, opts)?;
    }
    save(&samples)?;
    println!("bench: peak disk use under {}: {}", dir.display(), crate::results::human(disk.peak()));
    println!("bench: {} samples in {:.0} s -> {}", samples.len(), started.elapsed().as_secs_f64(), out.join("samples.json").display());
    Ok(())
}

/// One takeover on the two-path fabric (`multipath`).
#[derive(Debug, Serialize)]
pub struct MultipathSample {
    /// 2: the nodes configured with the multipath maps; 1: with each LUN's
    /// first path (`sd`) alone.
    pub paths: u32,
    /// A's panic line to B's takeover-done line (host clock), and the
    /// module's own figure.
    pub takeover_ms: f64,
    pub takeover_ms_module: Option<u64>,
}

/// `runs` pairs of takeovers, side by side on the same fabric (the LIO
/// array's two target ports, each LUN over two iSCSI sessions, multipathd on
/// both nodes, 2 LUNs per node): the nodes configured with the multipath
/// maps, then with each LUN's first path alone; a fresh pair each time,
/// configured by `coretakeover apply` (`scenarios::multipath`). Writes
/// OUT/multipath-samples.json as it goes.
fn multipath(env: &Env, dir: &Path, out: &Path, runs: usize) -> Result<()> {
    use crate::scenarios::multipath::{takeover_sample, Disks};
    let started = Instant::now();
    println!("--- bench: takeover over dm-multipath (2 paths per LUN) and over one path, side by side, {runs} pairs");
    let mut samples = Vec::new();
    for i in 0..runs {
        for (paths, disks) in [(2, Disks::Maps), (1, Disks::FirstPath)] {
            let sub = dir.join(format!("multipath-{i}-{paths}"));
            let mut ctx = crate::scenarios::Ctx {
                env,
                dir: sub.clone(),
                deadline: Instant::now() + Duration::from_secs(600),
                facts: Default::default(),
            };
            let (takeover_ms, takeover_ms_module) = takeover_sample(&mut ctx, disks)?;
            println!("    paths {paths}: {takeover_ms:.0} ms (module: {takeover_ms_module:?} ms)");
            samples.push(MultipathSample { paths, takeover_ms, takeover_ms_module });
            crate::results::tidy_passed(&sub);
            let doc = serde_json::json!({
                "commit": measured_commit(),
                "seconds": started.elapsed().as_secs_f64(),
                "samples": samples,
            });
            std::fs::write(out.join("multipath-samples.json"), serde_json::to_string_pretty(&doc)? + "\n")?;
        }
    }
    held_writes(env, dir, out)
}

/// Writes of the old owner held 8 s in the array when the takeover comes
/// (`scenarios::held_writes`): on one path with A panicking, and through
/// dm-multipath with A hung and fenced. How long the takeover's PREEMPT AND
/// ABORT waited for them, and how many landed after it (must be 0). Writes
/// OUT/held-writes-samples.json.
fn held_writes(env: &Env, dir: &Path, out: &Path) -> Result<()> {
    use crate::scenarios::held_writes::{measure, Case, Fabric};
    let started = Instant::now();
    println!("--- bench: writes held in the array at the takeover, one path (A panics) and multipath (A hangs)");
    let mut samples = Vec::new();
    for (name, fabric, case) in [("one-path", Fabric::OnePath, Case::Panic), ("multipath", Fabric::Multipath, Case::Hang)] {
        let sub = dir.join(format!("held-writes-{name}"));
        let mut ctx =
            crate::scenarios::Ctx { env, dir: sub.clone(), deadline: Instant::now() + Duration::from_secs(900), facts: Default::default() };
        let sample = measure(&mut ctx, fabric, case)?;
        println!(
            "    {name}: {} writes held, PREEMPT AND ABORT waited {:.0} ms, {} landed after",
            sample.held_at_trigger, sample.takeover_pr_ms, sample.landed_after
        );
        samples.push(sample);
        crate::results::tidy_passed(&sub);
        let doc = serde_json::json!({ "commit": measured_commit(), "seconds": started.elapsed().as_secs_f64(), "samples": samples });
        std::fs::write(out.join("held-writes-samples.json"), serde_json::to_string_pretty(&doc)? + "\n")?;
    }
    Ok(())
}

/// `runs` failovers under Pacemaker (`scenarios::pacemaker`), each on a
/// fresh pair: A panics while the client writes over NFSv3. Writes
/// OUT/pacemaker-samples.json as it goes.
fn pacemaker(env: &Env, dir: &Path, out: &Path, runs: usize) -> Result<()> {
    let started = Instant::now();
    println!("--- bench: failovers under Pacemaker (corosync, fence_coretakeover, svc-a's filesystem, export and address), {runs} runs");
    let mut samples = Vec::new();
    for i in 0..runs {
        let sub = dir.join(format!("pacemaker-{i}"));
        let mut ctx = crate::scenarios::Ctx { env, dir: sub.clone(), deadline: Instant::now() + Duration::from_secs(900), facts: Default::default() };
        let f = crate::scenarios::pacemaker::measure_failover(&mut ctx)?;
        println!("    failover {:.0} ms, client stall {} ms", f.failover_ms, f.client_stall_ms);
        samples.push(f);
        crate::results::tidy_passed(&sub);
        let doc = serde_json::json!({ "commit": measured_commit(), "seconds": started.elapsed().as_secs_f64(), "samples": samples });
        std::fs::write(out.join("pacemaker-samples.json"), serde_json::to_string_pretty(&doc)? + "\n")?;
    }
    Ok(())
}

/// One dump under a time budget (`budget`).
#[derive(Debug, Serialize)]
pub struct BudgetSample {
    pub budget_ms: u64,
    pub ram_mib: u32,
    /// The coredump disk's write limit (bytes/s; 0: none), set after arming.
    pub throttle_bytes_s: u64,
    /// The filter arming chose, and the one in force at the end.
    pub chosen: String,
    pub final_filter: String,
    pub replans: u64,
    /// Whether the dump completed, and whether it stopped at its budget
    /// (a deadline: what it wrote, kernel pages first, is kept).
    pub complete: bool,
    pub budget_cut: bool,
    pub dump_mib: u64,
    pub dump_ms: u64,
    pub predicted_ms: u64,
    /// Every filter's prediction at arming (dump_plan).
    pub plan: Vec<(String, u64, u64)>,
}

/// Budgets {1, 3, 10 s} × node RAM {256 MiB, 1, 2 GiB} × the coredump
/// disk's write rate {20 MB/s, 40 MB/s, unthrottled}, `runs` times: node A
/// alone, armed with `dump_filter` all and the budget (the model chooses),
/// its disk throttled after arming (the model never knew), then a panic.
/// Writes OUT/budget-samples.json as it goes.
fn budget(env: &Env, dir: &Path, out: &Path, runs: usize) -> Result<()> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(90 * 60);
    let spec = ClusterSpec {
        array: None,
        luns_per_node: 0,
        nodes: vec![NodeName::A],
        node_memory_mib: 256,
        memory_of: vec![],
        coredump_mib: 3072,
        clients: 0,
        network: false,
        nvme_coredump: false,
        paths: 1,
        hold_writes: false,
    };
    println!("--- bench: dump budgets {{1, 3, 10 s}} x RAM {{256 MiB, 1, 2 GiB}} x disk {{20 MB/s, 40 MB/s, unthrottled}}");
    let dir = dir.join("budget");
    let mut cluster = Cluster::start(&spec, env, &dir, deadline)?;
    let mut samples: Vec<BudgetSample> = Vec::new();
    let mut first = true;
    for _ in 0..runs {
        for ram in [256u32, 1024, 2048] {
            for budget_ms in [1000u64, 3000, 10_000] {
                for throttle in [20_000_000u64, 40_000_000, 0] {
                    if !first || ram != 256 {
                        cluster.restart(NodeName::A, ram)?;
                    }
                    first = false;
                    let a = cluster.node(NodeName::A)?;
                    configure(a, NodeName::A)?;
                    a.ok(&format!(
                        "echo all > {SYSFS}/dump_filter && echo {budget_ms} > {SYSFS}/dump_budget_ms && dev=$(coredump_dev a) && dump_ready $dev && \
                         coretakeover label --force --disk $dev --cluster {CLUSTER_ID} --node 1 >/dev/null && echo $dev > {SYSFS}/dump_disk"
                    ))?;
                    let plan_text = a.ok(&format!("cat {SYSFS}/dump_plan"))?;
                    let mut plan = Vec::new();
                    let mut chosen = String::new();
                    for line in plan_text.lines().skip(1) {
                        let w: Vec<&str> = line.split_whitespace().collect();
                        // Filter rows only (not budget, calibration or codec lines).
                        if w.len() >= 4 && !matches!(w[0], "budget_ms" | "calibration" | "codec") {
                            plan.push((w[0].to_string(), w[1].parse().unwrap_or(0), w[2].parse().unwrap_or(0)));
                            if line.contains(" chosen") {
                                chosen = w[0].to_string();
                            }
                        }
                    }
                    ensure!(!chosen.is_empty(), "no filter chosen: {plan_text}");
                    if throttle > 0 {
                        a.throttle_writes("coredump-a", throttle)?;
                    }
                    let mark = a.console.mark();
                    a.ok("(sleep 0.3; echo c > /proc/sysrq-trigger) </dev/null >/dev/null 2>&1 &")?;
                    let a = cluster.node(NodeName::A)?;
                    // The dump's last line (re-plan lines start alike: wait for this one).
                    let line = a.wait_console(mark, "coretakeover: dump filter", Duration::from_secs(600), deadline)?;
                    let a = cluster.node(NodeName::A)?;
                    let end = a
                        .console
                        .find(mark, "coretakeover: dump complete")
                        .or_else(|| a.console.find(mark, "coretakeover: dump truncated"))
                        .context("A's dump has no end line")?;
                    let complete = end.text.contains("dump complete");
                    let budget_cut = a.console.find(mark, "coretakeover: dump stopped at its budget").is_some();
                    let (dump_mib, dump_ms) = parse_dump_line(&end.text).with_context(|| format!("dump line: {}", end.text))?;
                    let predicted_ms = parse_predicted(&end.text).unwrap_or(0);
                    let final_filter = line.text.split("dump filter ").nth(1).and_then(|t| t.split(':').next()).unwrap_or("").to_string();
                    let replans = line.text.split("; ").last().and_then(|t| t.split_whitespace().next()?.parse().ok()).unwrap_or(0);
                    println!(
                        "    - budget {budget_ms} ms, {ram} MiB, disk {}: chose {chosen}, ended {final_filter} after {replans} re-plans; {dump_mib} MiB in {dump_ms} ms (predicted {predicted_ms} ms){}{}",
                        if throttle > 0 { format!("{} MB/s", throttle / 1_000_000) } else { "unthrottled".into() },
                        if budget_cut { ", stopped at the budget" } else if complete { "" } else { ", truncated" },
                        if dump_ms * 10 > budget_ms * 11 { " OVER" } else { "" }
                    );
                    samples.push(BudgetSample {
                        budget_ms,
                        ram_mib: ram,
                        throttle_bytes_s: throttle,
                        chosen,
                        final_filter,
                        replans,
                        complete,
                        budget_cut,
                        dump_mib,
                        dump_ms,
                        predicted_ms,
                        plan,
                    });
                    let doc = serde_json::json!({
                        "commit": measured_commit(),
                        "seconds": started.elapsed().as_secs_f64(),
                        "samples": samples,
                    });
                    std::fs::write(out.join("budget-samples.json"), serde_json::to_string_pretty(&doc)? + "\n")?;
                }
            }
        }
    }
    drop(cluster);
    crate::results::tidy_passed(&dir);
    Ok(())
}

/// The commit the bench measures, as `scripts/bench.sh` found it
/// (`CT_BENCH_COMMIT`: the hash, with "+changes" if the tree differed).
fn measured_commit() -> String {
    std::env::var("CT_BENCH_COMMIT").unwrap_or_else(|_| "unknown".into())
}
