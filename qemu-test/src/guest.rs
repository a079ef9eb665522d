// SPDX-License-Identifier: GPL-2.0

//! One QEMU guest (the array or a node) under TCG: its command line, console,
//! QMP monitor and command channel.

use crate::console::{within, Console};
use crate::procs::Spawned;
use crate::qmp::Qmp;
use crate::shell::Shell;
use anyhow::{Context, Result};
use serde_json::json;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the guest boots with and what is attached to it.
#[derive(Clone)]
pub struct GuestSpec {
    pub name: String,
    pub memory_mib: u32,
    pub cpus: u32,
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    pub append: String,
    /// Extra QEMU arguments: disks, network, iSCSI initiator name.
    pub devices: Vec<String>,
}

pub struct Guest {
    pub name: String,
    pub console: Console,
    pub shell: Shell,
    qmp: Qmp,
    process: Spawned,
    /// The scenario's directory (logs).
    dir: PathBuf,
}

impl GuestSpec {
    fn command(&self, dir: &Path) -> Command {
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-accel", "tcg,thread=multi", "-cpu", "max", "-nodefaults", "-no-user-config"]);
        cmd.args(["-display", "none", "-no-reboot"]);
        cmd.args(["-m", &self.memory_mib.to_string()]);
        cmd.args(topology_args(self.memory_mib, self.cpus));
        cmd.arg("-kernel").arg(&self.kernel);
        cmd.arg("-initrd").arg(&self.initramfs);
        cmd.args(["-append", &format!("console=ttyS0 {}", self.append)]);
        // ttyS0: the kernel console, on QEMU's stdout. ttyS1: the command channel.
        cmd.args(["-serial", "stdio"]);
        let shell = dir.join(format!("{}.shell", self.name));
        cmd.args(["-chardev", &format!("socket,id=shell,path={},server=on,wait=off", shell.display())]);
        cmd.args(["-serial", "chardev:shell"]);
        let qmp = dir.join(format!("{}.qmp", self.name));
        cmd.args(["-qmp", &format!("unix:{},server=on,wait=off", qmp.display())]);
        // Why a vCPU was reset ("Triple fault"): -no-reboot turns a reset
        // into QEMU's exit, which would otherwise say nothing.
        let debug = dir.join(format!("{}.qemu-debug.log", self.name));
        cmd.args(["-d", "cpu_reset", "-D"]).arg(debug);
        cmd.args(&self.devices);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        cmd
    }

    /// Starts QEMU and captures its console. Call `Guest::ready` next.
    pub fn start(self, dir: &Path, epoch: Instant) -> Result<Starting> {
        let mut cmd = self.command(dir);
        std::fs::write(dir.join(format!("{}.cmdline", self.name)), format!("{cmd:?}\n"))?;
        let stderr = File::create(dir.join(format!("{}.qemu-stderr.log", self.name)))?;
        cmd.stderr(stderr);
        let mut process = Spawned::start(&self.name, cmd)?;
        let stdout = process.child_mut().stdout.take().context("QEMU stdout")?;
        let log = File::create(dir.join(format!("{}.console.log", self.name)))?;
        let console = Console::capture(&self.name, stdout, epoch, log);
        Ok(Starting { name: self.name, dir: dir.to_path_buf(), epoch, console, process })
    }
}

/// The smallest guest split into two NUMA nodes (each gets half).
const NUMA_MIN_MIB: u32 = 512;

/// The CPU topology and NUMA arguments of a guest. One with an even number
/// of CPUs (two or more) and at least `NUMA_MIN_MIB` of RAM is a two-socket
/// machine with one NUMA node per socket, half the CPUs and half the RAM
/// each, as a storage node's kernel sees its sockets: several RAM ranges and
/// a struct page array per node. (With both CPUs in one socket, QEMU's
/// default, the kernel warns that last-level-cache siblings sit on different
/// nodes.) Other guests (the array) are one socket, one node.
fn topology_args(memory_mib: u32, cpus: u32) -> Vec<String> {
    if cpus < 2 || !cpus.is_multiple_of(2) || memory_mib < NUMA_MIN_MIB {
        return vec!["-smp".to_string(), cpus.to_string()];
    }
    let per_socket = cpus / 2;
    let mut args = vec!["-smp".to_string(), format!("{cpus},sockets=2,cores={per_socket},threads=1")];
    let first = memory_mib / 2;
    for (node, mib) in [(0, first), (1, memory_mib - first)] {
        let (lo, hi) = (node * per_socket, node * per_socket + per_socket - 1);
        args.push("-object".to_string());
        args.push(format!("memory-backend-ram,id=ram{node},size={mib}M"));
        args.push("-numa".to_string());
        args.push(format!("node,nodeid={node},cpus={lo}-{hi},memdev=ram{node}"));
    }
    args
}

/// A guest whose QEMU runs but whose init may not be ready yet.
pub struct Starting {
    name: String,
    dir: PathBuf,
    epoch: Instant,
    pub console: Console,
    process: Spawned,
}

impl Starting {
    /// Waits for the guest's init to report ready, then connects to its
    /// monitor and command channel.
    pub fn ready(self, deadline: Instant) -> Result<Guest> {
        match self.boot(deadline)? {
            Boot::Ready(guest) => Ok(*guest),
            Boot::Lost(e) => Err(e),
        }
    }

    /// Like `ready`, but tells apart a QEMU that exited while the kernel
    /// was still booting, before any program of ours ran (`Boot::Lost`).
    pub fn boot(mut self, deadline: Instant) -> Result<Boot> {
        if let Err(e) = self.console.wait_for(0, "coretakeover-guest: ready", deadline) {
            let tail = self.console.tail(15).join("\n");
            let exit = self.process.wait_exit(Duration::from_secs(2));
            let stderr = std::fs::read_to_string(self.dir.join(format!("{}.qemu-stderr.log", self.name))).unwrap_or_default();
            let stderr: Vec<&str> = stderr.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect();
            let debug = std::fs::read_to_string(self.dir.join(format!("{}.qemu-debug.log", self.name))).unwrap_or_default();
            let how = match exit {
                None => "QEMU still runs".to_string(),
                Some(status) => format!(
                    "QEMU exited ({status}){}{}",
                    if debug.contains("Triple fault") { " after a triple fault of a vCPU" } else { "" },
                    if stderr.is_empty() { String::new() } else { format!(", its stderr: {}", stderr.join(" | ")) }
                ),
            };
            let e = e.context(format!("{} did not boot ({how}); console tail:\n{tail}", self.name));
            let ours_ran = ["Run /init", "coretakeover-guest:", "Kernel panic", "BUG:", "Oops"]
                .iter()
                .any(|needle| self.console.find(0, needle).is_some());
            return match exit {
                Some(_) if !ours_ran => Ok(Boot::Lost(e)),
                _ => Err(e),
            };
        }
        let qmp = Qmp::connect(&self.dir.join(format!("{}.qmp", self.name)), deadline)?;
        let log = File::create(self.dir.join(format!("{}.shell.log", self.name)))?;
        let shell_path = self.dir.join(format!("{}.shell", self.name));
        let shell = Shell::connect(&self.name, &shell_path, deadline, log, self.epoch)?;
        Ok(Boot::Ready(Box::new(Guest { name: self.name, console: self.console, shell, qmp, process: self.process, dir: self.dir })))
    }
}

/// How a guest's boot ended.
pub enum Boot {
    Ready(Box<Guest>),
    /// QEMU exited while the kernel was still booting, before our init (or
    /// anything of ours) ran, and without a kernel panic: the emulator, not
    /// the code under test. CI saw it once (a node's QEMU gone 1.09 s into
    /// the kernel's PCI scan, no message).
    Lost(anyhow::Error),
}

/// Boots a guest; if it is `Boot::Lost`, says why and boots it once more
/// with `again(name)`, under the name `<name>-boot2` (the first boot's logs
/// stay). A second loss, or any other failure, fails.
pub fn boot_or_retry(first: Starting, deadline: Instant, again: impl FnOnce(&str) -> Result<Starting>) -> Result<Guest> {
    let name = first.name.clone();
    match first.boot(deadline)? {
        Boot::Ready(guest) => Ok(*guest),
        Boot::Lost(e) => {
            println!("    ! {name}: QEMU exited before the kernel ran init, so nothing under test ran; booting it once more");
            println!("      {}", format!("{e:#}").lines().next().unwrap_or(""));
            again(&format!("{name}-boot2"))?.ready(deadline)
        }
    }
}

impl Guest {
    /// Runs a command that must succeed (60 s at most).
    pub fn ok(&mut self, command: &str) -> Result<String> {
        self.shell.ok(command, Duration::from_secs(60))
    }

    /// Runs a command that must fail (60 s at most).
    pub fn fails(&mut self, command: &str) -> Result<String> {
        self.shell.fails(command, Duration::from_secs(60))
    }

    /// QEMU's run state ("running", "paused", ...).
    pub fn run_state(&mut self) -> Result<String> {
        let status = self.qmp.execute("query-status", json!({}))?;
        Ok(status["status"].as_str().unwrap_or("unknown").to_string())
    }

    /// Limits writes to the drive `drive` (QEMU's drive id) to `bytes_per_s`.
    pub fn throttle_writes(&mut self, drive: &str, bytes_per_s: u64) -> Result<()> {
        self.qmp
            .execute(
                "block_set_io_throttle",
                json!({ "device": drive, "bps": 0, "bps_rd": 0, "bps_wr": bytes_per_s, "iops": 0, "iops_rd": 0, "iops_wr": 0 }),
            )
            .map(drop)
    }

    /// Sends the guest's later writes to drive `drive` into a new private
    /// qcow2 overlay at `overlay`: the guest sees its writes, nobody else
    /// sharing the image does (a write path broken one way).
    pub fn divert_writes(&mut self, drive: &str, overlay: &Path) -> Result<()> {
        self.qmp
            .execute(
                "blockdev-snapshot-sync",
                json!({ "device": drive, "snapshot-file": overlay.display().to_string(), "format": "qcow2" }),
            )
            .map(drop)
    }

    /// Stops the guest's vCPUs (the guest hangs, as far as anyone can tell).
    pub fn pause(&mut self) -> Result<()> {
        self.qmp.execute("stop", json!({})).map(drop)
    }

    /// Resumes the guest's vCPUs.
    /// Sends the guest an NMI (QMP `inject-nmi`: every CPU on x86).
    pub fn inject_nmi(&mut self) -> Result<()> {
        self.qmp.execute("inject-nmi", json!({})).map(drop)
    }

    pub fn resume(&mut self) -> Result<()> {
        self.qmp.execute("cont", json!({})).map(drop)
    }

    /// Lowers the guest's share of the host's CPUs (nice 10 on every QEMU
    /// thread): a panicked node dumping on emulated CPUs must not take its
    /// partner's, as on real machines each has its own.
    pub fn yield_host_cpu(&mut self) -> Result<()> {
        self.process.set_nice(10)
    }

    /// Ends the guest at once, as a power loss would.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Whether the guest's QEMU has exited.
    pub fn has_exited(&mut self) -> bool {
        self.process.has_exited()
    }

    /// Like `wait_console`, for a line the panic path prints: if it does not
    /// come, each vCPU's registers are read twice, a second apart, into
    /// `<name>.cpus-at-timeout.txt`, and the error names each vCPU's RIP (a
    /// stuck vCPU shows the same RIP twice, one that spins shows a loop).
    pub fn wait_panic_line(&mut self, from: usize, needle: &str, timeout: Duration, deadline: Instant) -> Result<crate::console::Line> {
        match self.wait_console(from, needle, timeout, deadline) {
            Ok(line) => Ok(line),
            Err(e) => {
                let mut probes = Vec::new();
                for k in 0..2 {
                    if k > 0 {
                        std::thread::sleep(Duration::from_secs(1));
                    }
                    let out = self.qmp.execute("human-monitor-command", json!({ "command-line": "info registers -a" }));
                    probes.push(out.ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default());
                }
                let path = self.dir.join(format!("{}.cpus-at-timeout.txt", self.name));
                let _ = std::fs::write(&path, probes.join("\n=== one second later ===\n"));
                let rips: Vec<Vec<&str>> = probes
                    .iter()
                    .map(|p| p.split_whitespace().filter_map(|w| w.strip_prefix("RIP=")).collect())
                    .collect();
                Err(e.context(format!("vCPU RIPs {:?} then {:?} (registers in {})", rips[0], rips[1], path.display())))
            }
        }
    }

    /// Waits until the guest's console shows `needle` (searching from `from`).
    pub fn wait_console(&self, from: usize, needle: &str, timeout: Duration, deadline: Instant) -> Result<crate::console::Line> {
        self.console.wait_for(from, needle, within(timeout, deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::topology_args;

    #[test]
    fn two_sockets_two_nodes_cover_all_ram_and_cpus() {
        assert_eq!(topology_args(384, 1), ["-smp", "1"]);
        assert_eq!(topology_args(256, 2), ["-smp", "2"]);
        assert_eq!(topology_args(1024, 3), ["-smp", "3"]);
        assert_eq!(
            topology_args(1025, 2),
            [
                "-smp", "2,sockets=2,cores=1,threads=1",
                "-object", "memory-backend-ram,id=ram0,size=512M", "-numa", "node,nodeid=0,cpus=0-0,memdev=ram0",
                "-object", "memory-backend-ram,id=ram1,size=513M", "-numa", "node,nodeid=1,cpus=1-1,memdev=ram1",
            ]
        );
        assert_eq!(topology_args(2048, 4)[5], "node,nodeid=0,cpus=0-1,memdev=ram0");
        assert_eq!(topology_args(2048, 4)[9], "node,nodeid=1,cpus=2-3,memdev=ram1");
    }
}
