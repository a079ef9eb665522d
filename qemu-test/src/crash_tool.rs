// SPDX-License-Identifier: GPL-2.0

//! crash, the kdump reader most kernel engineers reach for first, run on a
//! vmcore on the host: Debian 13's crash (8.0.6) in its own debootstrap root
//! under the cache (scripts/setup.sh fetches it once per machine; Debian 12's
//! crash cannot read a 6.4+ dump). The vmcore and vmlinux are hard-linked
//! into the root (copied if they are on another filesystem) for the run, and
//! removed after it, whatever happened.

use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::procs::Spawned;

/// The commands a kernel engineer starts with, each with the file crash
/// writes its output to (crash redirects to files itself; it would need a
/// shell in the root to pipe).
const COMMANDS: [(&str, &str); 6] =
    [("sys", "sys"), ("bt", "bt"), ("bt -a", "bt-a"), ("kmem -i", "kmem-i"), ("kmem -s", "kmem-s"), ("log", "log")];

/// What crash printed: its own messages (opening the dump, errors) and each
/// command's output.
#[derive(Debug, Default)]
pub struct CrashRun {
    pub console: String,
    pub sys: String,
    pub bt: String,
    pub bt_all: String,
    pub kmem_i: String,
    pub kmem_s: String,
    pub log: String,
}

/// A directory inside crash's root for one run, removed when dropped.
struct Work {
    dir: PathBuf,
}

impl Drop for Work {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Links `from` to `to`, or copies it when they are on different filesystems.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).with_context(|| format!("copying {} into crash's root", from.display()))?;
    }
    Ok(())
}

/// Runs crash on `vmcore` with `vmlinux`; bails if crash does not finish
/// within `limit` (it is killed by its PID then).
pub fn run(root: &Path, vmcore: &Path, vmlinux: &Path, limit: Duration) -> Result<CrashRun> {
    ensure!(root.join("usr/bin/crash").exists(), "no crash in {} (scripts/setup.sh fetches it)", root.display());
    let name = format!("ct-{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos());
    let work = Work { dir: root.join("tmp").join(&name) };
    std::fs::create_dir_all(&work.dir)?;
    link_or_copy(vmcore, &work.dir.join("vmcore"))?;
    link_or_copy(vmlinux, &work.dir.join("vmlinux"))?;
    let inside = format!("/tmp/{name}");
    let mut script = String::new();
    for (command, file) in COMMANDS {
        script.push_str(&format!("{command} > {inside}/{file}.txt\n"));
    }
    script.push_str("exit\n");
    std::fs::write(work.dir.join("commands"), script)?;
    let console_path = work.dir.join("console.txt");
    let console = std::fs::File::create(&console_path)?;
    let mut cmd = Command::new("chroot");
    cmd.arg(root).arg("crash").arg("-s").arg("-i").arg(format!("{inside}/commands"));
    cmd.arg(format!("{inside}/vmlinux")).arg(format!("{inside}/vmcore"));
    cmd.stdin(Stdio::null()).stdout(console.try_clone()?).stderr(console);
    let mut crash = Spawned::start("crash", cmd)?;
    let status = crash.wait_exit(limit);
    if status.is_none() {
        crash.kill();
        bail!("crash did not finish within {} s: {}", limit.as_secs(), std::fs::read_to_string(&console_path).unwrap_or_default());
    }
    let read = |file: &str| std::fs::read_to_string(work.dir.join(format!("{file}.txt"))).unwrap_or_default();
    Ok(CrashRun {
        console: read("console"),
        sys: read("sys"),
        bt: read("bt"),
        bt_all: read("bt-a"),
        kmem_i: read("kmem-i"),
        kmem_s: read("kmem-s"),
        log: read("log"),
    })
}

/// One task's backtrace in `bt` output: its header line and frame names.
#[derive(Debug)]
pub struct Backtrace {
    pub cpu: Option<u32>,
    pub header: String,
    pub frames: Vec<String>,
    /// Lines crash printed inside the block that are not frames or
    /// register dumps, such as "bt: cannot transition from ...".
    pub complaints: Vec<String>,
}

/// The backtraces in a `bt` or `bt -a` output.
pub fn backtraces(text: &str) -> Vec<Backtrace> {
    let mut out: Vec<Backtrace> = Vec::new();
    for line in text.lines() {
        if line.starts_with("PID: ") {
            let cpu = line.split("CPU: ").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse().ok());
            out.push(Backtrace { cpu, header: line.to_string(), frames: Vec::new(), complaints: Vec::new() });
            continue;
        }
        let Some(bt) = out.last_mut() else { continue };
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix('#') {
            // " #3 [ffffc90000003e50] panic at ffffffff8105d23e"
            if let Some(name) = rest.split_whitespace().nth(2) {
                bt.frames.push(name.to_string());
            }
        } else if trimmed.starts_with("bt:") || trimmed.starts_with("crash:") {
            bt.complaints.push(trimmed.to_string());
        }
    }
    out
}

/// What a scenario expects crash to show.
pub struct Expect<'a> {
    /// A piece of the panic message (in `sys` and in `log`).
    pub panic_text: &'a str,
    /// Frames the panic task's backtrace must show, in order from the top of
    /// the stack (the innermost first), e.g. ["panic", "sysrq_handle_crash"].
    pub panic_frames: &'a [&'a str],
    /// For each other CPU: one of these frames must appear in its backtrace
    /// (where it was stopped).
    pub stopped_frames: &'a [&'a str],
}

/// Checks crash's findings; returns a one-line summary for the report.
pub fn check(run: &CrashRun, expect: &Expect<'_>) -> Result<String> {
    let errors: Vec<&str> = run
        .console
        .lines()
        .chain(run.sys.lines())
        .chain(run.kmem_i.lines())
        .filter(|l| l.starts_with("crash:") || l.starts_with("sys:") || l.starts_with("kmem:"))
        .collect();
    ensure!(errors.is_empty(), "crash reported errors: {errors:?}\n{}", run.console);
    let panic_line = run.sys.lines().find(|l| l.trim_start().starts_with("PANIC:")).with_context(|| format!("crash's sys shows no PANIC line:\n{}{}", run.console, run.sys))?;
    ensure!(panic_line.contains(expect.panic_text), "crash's sys: {panic_line:?}, not {:?}", expect.panic_text);
    let cpus: u32 = run
        .sys
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("CPUS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("crash's sys shows no CPUS line")?;
    ensure!(!run.sys.contains("OFFLINE"), "crash sees CPUs offline: {}", run.sys);

    let panic_bt = backtraces(&run.bt);
    let panic_bt = panic_bt.first().with_context(|| format!("crash's bt shows no task:\n{}", run.bt))?;
    ensure!(panic_bt.complaints.is_empty(), "crash's bt of the panic task: {:?}", panic_bt.complaints);
    let mut at = 0;
    for want in expect.panic_frames {
        match panic_bt.frames[at..].iter().position(|f| f == want) {
            Some(i) => at += i + 1,
            None => bail!("crash's bt of the panic task lacks {want} (in this order: {:?}): {:?}", expect.panic_frames, panic_bt.frames),
        }
    }

    let all = backtraces(&run.bt_all);
    for cpu in 0..cpus {
        let bt = all.iter().find(|b| b.cpu == Some(cpu)).with_context(|| format!("crash's bt -a shows no task on CPU {cpu}:\n{}", run.bt_all))?;
        ensure!(bt.complaints.is_empty(), "crash's bt -a, CPU {cpu}: {:?}", bt.complaints);
        ensure!(bt.frames.len() >= 2, "crash's bt -a, CPU {cpu}: no stack ({:?})", bt.frames);
        if bt.header == panic_bt.header {
            continue;
        }
        ensure!(
            bt.frames.iter().any(|f| expect.stopped_frames.contains(&f.as_str())),
            "crash's bt -a, CPU {cpu} (stopped by the panic): none of {:?} in {:?}",
            expect.stopped_frames,
            bt.frames
        );
    }

    ensure!(run.kmem_i.contains("TOTAL MEM"), "crash's kmem -i: {}", run.kmem_i);
    let caches = run.kmem_s.lines().filter(|l| l.starts_with("ff")).count();
    ensure!(caches > 10, "crash's kmem -s lists {caches} slab caches: {}", run.kmem_s.lines().take(5).collect::<Vec<_>>().join("\n"));
    ensure!(run.log.contains(expect.panic_text), "crash's log lacks {:?}: ...{}", expect.panic_text, run.log.lines().rev().take(5).collect::<Vec<_>>().join("\n"));
    let others: Vec<String> =
        all.iter().filter(|b| b.header != panic_bt.header).map(|b| format!("CPU {}: {}", b.cpu.unwrap_or(u32::MAX), b.frames.iter().take(3).cloned().collect::<Vec<_>>().join(" < "))).collect();
    Ok(format!(
        "crash: {}; panic task {}; {}; {caches} slab caches",
        panic_line.trim(),
        panic_bt.frames.iter().take(4).cloned().collect::<Vec<_>>().join(" < "),
        others.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from crash 8.0.6 on a dump-sysrq vmcore (2026-12-07).
    const SYS: &str = "        CPUS: 2\n       PANIC: \"Kernel panic - not syncing: sysrq triggered crash\"\n";
    const BT: &str = "PID: 143      TASK: ff176778109f3f00  CPU: 0    COMMAND: \"serve.sh\"
 #0 [ff6c64cf803f74e0] _RNvNtCs3fNySCdYVpn_12coretakeover10panic_dump8on_panic at ffffffffc0365466 [coretakeover]
 #1 [ff6c64cf803f7d10] notifier_call_chain at ffffffff8e887eb4
 #2 [ff6c64cf803f7d40] atomic_notifier_call_chain at ffffffff8e888048
 #3 [ff6c64cf803f7d60] vpanic at ffffffff8e867935
 #4 [ff6c64cf803f7de8] __handle_sysrq at ffffffff8ecb0723
 #5 [ff6c64cf803f7e18] write_sysrq_trigger at ffffffff8ecb0c3f
    RIP: 000000000047b7a0  RSP: 00007fffc604e528  RFLAGS: 00000202
";
    const STOPPED: &str = "
PID: 0        TASK: ff17677810098000  CPU: 1    COMMAND: \"swapper/1\"
 #0 [fffffe0e676e6ea0] crash_nmi_callback at ffffffff8e843305
 #1 [fffffe0e676e6ea8] default_do_nmi at ffffffff8ef4b024
 #2 [fffffe0e676e6ed0] exc_nmi at ffffffff8ef4b312
    [exception RIP: pv_native_safe_halt+23]
--- <NMI exception stack> ---
 #4 [ff6c64cf8016bef0] pv_native_safe_halt at ffffffff8ef4d03a
";

    fn run() -> CrashRun {
        CrashRun {
            console: String::new(),
            sys: SYS.into(),
            bt: BT.into(),
            bt_all: format!("{BT}{STOPPED}"),
            kmem_i: "    TOTAL MEM   123613     482.9 MB         ----\n".into(),
            kmem_s: "CACHE  OBJSIZE\n".to_string() + &"ff17677800aee100      152  p9_req_t\n".repeat(20),
            log: "[    7.37] Kernel panic - not syncing: sysrq triggered crash\n".into(),
        }
    }

    const EXPECT: Expect<'static> = Expect { panic_text: "sysrq triggered crash", panic_frames: &["vpanic", "__handle_sysrq"], stopped_frames: &["crash_nmi_callback"] };

    #[test]
    fn backtraces_are_parsed_per_cpu() {
        let all = backtraces(&format!("{BT}{STOPPED}"));
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].cpu, Some(0));
        assert_eq!(all[0].frames[3], "vpanic");
        assert_eq!(all[1].cpu, Some(1));
        assert_eq!(all[1].frames, ["crash_nmi_callback", "default_do_nmi", "exc_nmi", "pv_native_safe_halt"]);
    }

    #[test]
    fn what_crash_showed_of_a_good_dump_passes() {
        let summary = check(&run(), &EXPECT).unwrap();
        assert!(summary.contains("CPU 1: crash_nmi_callback"), "{summary}");
    }

    #[test]
    fn each_thing_a_broken_dump_shows_fails() {
        let mut r = run();
        r.console = "crash: invalid size request: 0  type: \"stack contents\"\n".into();
        assert!(check(&r, &EXPECT).is_err(), "an error while opening");
        let mut r = run();
        r.sys = "        CPUS: 2\n".into();
        assert!(check(&r, &EXPECT).is_err(), "no PANIC line");
        let mut r = run();
        r.bt_all = BT.into();
        assert!(check(&r, &EXPECT).is_err(), "a CPU without a stack");
        let mut r = run();
        r.bt_all = format!("{BT}{}", STOPPED.replace("crash_nmi_callback", "native_halt"));
        assert!(check(&r, &EXPECT).is_err(), "a stopped CPU not where the panic stopped it");
        let mut r = run();
        r.bt = BT.replace("vpanic", "something_else");
        assert!(check(&r, &EXPECT).is_err(), "a panic stack without vpanic");
        let mut r = run();
        r.bt_all = format!("{BT}{STOPPED}bt: cannot transition from exception stack to current process stack\n");
        assert!(check(&r, &EXPECT).is_err(), "a complaint inside bt -a");
        let mut r = run();
        r.kmem_s = "CACHE  OBJSIZE\n".into();
        assert!(check(&r, &EXPECT).is_err(), "no slab caches");
        let mut r = run();
        r.sys = format!("{SYS}        CPUS: 2 [OFFLINE: 1]\n");
        assert!(check(&r, &EXPECT).is_err(), "an offline CPU");
    }
}
