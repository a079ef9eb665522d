// SPDX-License-Identifier: GPL-2.0

//! `ct-cluster`: boots the coretakeover test cluster under QEMU (an iSCSI
//! array and two storage nodes) and runs scenarios on it.
//!
//! ```text
//! ct-cluster check [SCENARIO...]   run scenarios (all by default); ends "N passed, N failed"
//! ct-cluster demo                  boot the pair, load the module, show PR fencing
//! ct-cluster bench                 takeover and dump figures (raw samples)
//! ct-cluster list                  name the scenarios
//! ```

mod array;
mod bench;
mod cluster;
mod crash_tool;
mod console;
mod guest;
mod initramfs;
mod lan;
mod procs;
mod qmp;
mod results;
mod scenarios;
mod shell;

use anyhow::{bail, ensure, Context, Result};
use clap::{Parser, Subcommand};
use cluster::Env;
use scenarios::{Ctx, Scenario};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Parser)]
#[command(name = "ct-cluster")]
struct Cli {
    /// The guest kernel (bzImage of the test kernel).
    #[arg(long)]
    kernel: PathBuf,
    /// The module to load in the nodes.
    #[arg(long)]
    module: PathBuf,
    /// The static coretakeover CLI for the guests (it runs on the host too).
    #[arg(long)]
    cli: PathBuf,
    /// The test-only panic trigger module.
    #[arg(long)]
    test_module: PathBuf,
    /// The guest kernel's vmlinux (debug info for drgn).
    #[arg(long)]
    vmlinux: PathBuf,
    /// A python with drgn (the test venv's).
    #[arg(long)]
    python: PathBuf,
    /// The root crash runs in (scripts/setup.sh's debootstrap of Debian 13
    /// with crash); the dump scenarios open their vmcores with it.
    #[arg(long)]
    crash_root: Option<PathBuf>,
    /// A static busybox for the guests.
    #[arg(long, default_value = "/bin/busybox")]
    busybox: PathBuf,
    /// Extra kernel command-line arguments for every guest.
    #[arg(long, default_value = "")]
    kernel_args: String,
    /// Where logs, images and results go (one subdirectory per run; the
    /// newest 3 runs of each kind stay, or CT_KEEP_RUNS).
    #[arg(long, default_value = "results")]
    results: PathBuf,
    /// The kind of run, which names its directory and groups it for pruning
    /// (by default the command: check, demo or bench).
    #[arg(long)]
    run_kind: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios and count them.
    Check {
        /// Scenario names (all when none is given).
        scenarios: Vec<String>,
    },
    /// Boot the pair, load the module on both nodes, show PR fencing.
    Demo {
        /// Where the summary goes.
        #[arg(long, default_value = "demo-out")]
        out: PathBuf,
    },
    /// Measure takeover and dump side by side; writes OUT/samples.json.
    Bench {
        #[arg(long, default_value = "bench")]
        out: PathBuf,
        /// Samples of our takeover per configuration.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Samples of the sequential baseline per RAM size.
        #[arg(long, default_value_t = 5)]
        baseline_runs: usize,
        /// Dumps timed against dd per bios-in-flight setting.
        #[arg(long, default_value_t = 2)]
        throughput_runs: usize,
        /// Panics of A under NFS clients (each with its giveback).
        #[arg(long, default_value_t = 10)]
        nfs_runs: usize,
        /// Hangs of A under NFS clients (each with its giveback).
        #[arg(long, default_value_t = 3)]
        nfs_hang_runs: usize,
        /// Only the NFS failover part (its samples go to OUT/nfs-samples.json
        /// either way).
        #[arg(long)]
        nfs_only: bool,
        /// Samples of the kdump + fence_kdump baseline (8 LUNs, 1 GiB).
        #[arg(long, default_value_t = 10)]
        kdump_runs: usize,
        /// Passes over the dump-budget grid (budgets × RAM × disk rates);
        /// 0 skips it.
        #[arg(long, default_value_t = 1)]
        budget_runs: usize,
        /// Only the dump-budget grid (its samples go to
        /// OUT/budget-samples.json either way).
        #[arg(long)]
        budget_only: bool,
        /// Pairs of takeovers over dm-multipath and over one path, side by
        /// side (OUT/multipath-samples.json); 0 skips them.
        #[arg(long, default_value_t = 3)]
        multipath_runs: usize,
        /// Only those.
        #[arg(long)]
        multipath_only: bool,
        /// Failovers under Pacemaker (OUT/pacemaker-samples.json); 0 skips
        /// them.
        #[arg(long, default_value_t = 3)]
        pacemaker_runs: usize,
        /// Only those.
        #[arg(long)]
        pacemaker_only: bool,
    },
    /// List the scenarios.
    List,
}

/// Runs one scenario; returns whether it passed. Its directory is left as
/// it is: the caller tidies it (`results::tidy_passed`) or reports it.
fn run_scenario(scenario: &Scenario, env: &Env, dir: PathBuf) -> (bool, serde_json::Map<String, serde_json::Value>) {
    println!("--- {}: {}", scenario.name, scenario.about);
    let started = Instant::now();
    let mut ctx = Ctx { env, dir: dir.clone(), deadline: started + env.scaled(scenario.timeout), facts: Default::default() };
    // A panic in a scenario is a failure of that scenario; the processes it
    // started are killed by their owners' Drop while unwinding.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (scenario.run)(&mut ctx)));
    let secs = started.elapsed().as_secs_f64();
    let error = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("{e:#}")),
        Err(_) => Some("the scenario panicked".to_string()),
    };
    match &error {
        None => println!("PASS {} ({secs:.1} s)", scenario.name),
        Some(e) => {
            println!("FAIL {} ({secs:.1} s): {e}", scenario.name);
            println!("     logs and images kept: {}", dir.display());
        }
    }
    (error.is_none(), ctx.facts)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let all = scenarios::all();
    if let Command::List = cli.command {
        for s in &all {
            println!("{:<16} {}", s.name, s.about);
        }
        return Ok(());
    }
    let kind = cli.run_kind.clone().unwrap_or_else(|| {
        match cli.command {
            Command::Demo { .. } => "demo",
            Command::Bench { .. } => "bench",
            _ => "check",
        }
        .to_string()
    });
    ensure!(
        !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
        "--run-kind {kind:?}: letters, digits and '-' only"
    );
    std::fs::create_dir_all(&cli.results).with_context(|| format!("creating {}", cli.results.display()))?;
    let root = results::new_run(&cli.results, &kind)?;
    let initramfs = root.join("initramfs.cpio");
    let absolute = |p: &PathBuf| std::fs::canonicalize(p).with_context(|| format!("{} not found", p.display()));
    let kernel_tree = absolute(&cli.kernel)?.ancestors().nth(4).context("the kernel tree above bzImage")?.to_path_buf();
    let spec = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../Documentation/netlink/specs/coretakeover.yaml"));
    let release_file = kernel_tree.join("include/config/kernel.release");
    let release = std::fs::read_to_string(&release_file).with_context(|| format!("reading {}", release_file.display()))?;
    initramfs::build(
        &initramfs,
        &initramfs::Parts {
            busybox: &cli.busybox,
            module: &cli.module,
            test_module: &cli.test_module,
            cli: &cli.cli,
            nfs_load: &cli.cli.with_file_name("ct-nfs-load"),
            ynl: &kernel_tree.join("tools/net/ynl"),
            spec: &spec,
            release: release.trim(),
        },
    )?;
    let env = Env {
        kernel: absolute(&cli.kernel)?,
        initramfs,
        vmlinux: absolute(&cli.vmlinux)?,
        python: cli.python.clone(),
        crash_root: cli.crash_root.as_ref().map(|p| absolute(p)).transpose()?,
        busybox: absolute(&cli.busybox)?,
        cli: absolute(&cli.cli)?,
        modules: vec![absolute(&cli.module)?, absolute(&cli.test_module)?],
        kernel_args: cli.kernel_args.clone(),
        slow: Env::slowness_of(&cli.vmlinux),
    };
    if env.slow > 1 {
        println!("this kernel has KASAN: deadlines, long waits and the beacon scenarios' stale timeout are {}x the default kernel's", env.slow);
    }

    match cli.command {
        Command::List => unreachable!("handled above"),
        Command::Check { scenarios } => {
            let selected: Vec<&Scenario> = if scenarios.is_empty() {
                all.iter().collect()
            } else {
                let mut picked = Vec::new();
                for name in &scenarios {
                    match all.iter().find(|s| s.name == name) {
                        Some(s) => picked.push(s),
                        None => bail!("no scenario named {name:?} (see `ct-cluster list`)"),
                    }
                }
                picked
            };
            let (mut passed, mut failed) = (0, Vec::new());
            for scenario in selected {
                let dir = root.join(scenario.name);
                let (ok, _) = run_scenario(scenario, &env, dir.clone());
                if ok {
                    passed += 1;
                    results::tidy_passed(&dir);
                } else {
                    failed.push(dir);
                }
            }
            if failed.is_empty() && !results::keep_everything() {
                // The guests' initramfs is rebuilt by every run.
                let _ = std::fs::remove_file(root.join("initramfs.cpio"));
            }
            for dir in &failed {
                let big = results::big_files(dir);
                let total: u64 = big.iter().map(|(_, b)| b).sum();
                println!("kept for the failed scenario {}: {} of images and vmcores in {}", dir.file_name().unwrap_or_default().to_string_lossy(), results::human(total), dir.display());
                for (name, bytes) in big {
                    println!("    {name} ({})", results::human(bytes));
                }
            }
            println!("results: {} ({})", root.display(), results::human(results::disk_bytes(&root)));
            // A run that ran nothing proved nothing: it fails.
            let failed = if passed == 0 && failed.is_empty() {
                println!("no scenario ran");
                1
            } else {
                failed.len()
            };
            println!("{passed} passed, {failed} failed");
            if failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Demo { out } => demo(&all, &env, &root, &out),
        Command::Bench {
            out,
            runs,
            baseline_runs,
            throughput_runs,
            nfs_runs,
            nfs_hang_runs,
            nfs_only,
            kdump_runs,
            budget_runs,
            budget_only,
            multipath_runs,
            multipath_only,
            pacemaker_runs,
            pacemaker_only,
        } => {
            let kdump_initramfs = if kdump_runs > 0 && !nfs_only && !budget_only && !multipath_only && !pacemaker_only {
                let path = root.join("kdump.cpio");
                initramfs::build_kdump(&path, &cli.busybox)?;
                Some(path)
            } else {
                None
            };
            bench::run(
                &env,
                &root,
                &out,
                &bench::Options {
                    runs,
                    baseline_runs,
                    throughput_runs,
                    nfs_runs,
                    nfs_hang_runs,
                    nfs_only,
                    kdump_runs,
                    budget_runs,
                    budget_only,
                    multipath_runs,
                    multipath_only,
                    pacemaker_runs,
                    pacemaker_only,
                    kdump_initramfs,
                    kernel: env.kernel.clone(),
                    kernel_args: env.kernel_args.clone(),
                },
            )
        }
    }
}

/// `make demo`: persistent-reservation fencing between the nodes on the LIO
/// array; node A's panic with B taking over while A dumps; then a panic
/// whose dump is saved and read by drgn - told as a story.
fn demo(all: &[Scenario], env: &Env, root: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let started = Instant::now();
    let mut facts = serde_json::Map::new();
    let mut ok = true;
    for name in ["pr-sanity-lio", "takeover-during-dump", "dump-sysrq", "nfs-panic"] {
        let scenario = all.iter().find(|s| s.name == name).with_context(|| format!("{name} missing"))?;
        let dir = root.join(scenario.name);
        let (passed, mut found) = run_scenario(scenario, env, dir.clone());
        if passed {
            // The vmcore is what the demo hands over: it moves (a rename, no
            // copy) to OUT before the scenario's images are removed.
            if let Some(vmcore) = found.get("vmcore").and_then(|v| v.as_str()).map(PathBuf::from) {
                std::fs::create_dir_all(out)?;
                let kept = std::fs::canonicalize(out)?.join("vmcore");
                std::fs::rename(&vmcore, &kept).with_context(|| format!("moving {} to {}", vmcore.display(), kept.display()))?;
                found.insert("vmcore".into(), kept.display().to_string().into());
            }
            results::tidy_passed(&dir);
        }
        facts.extend(found);
        facts.insert(format!("{name}_ok"), passed.into());
        ok &= passed;
        println!();
    }
    if ok && !results::keep_everything() {
        let _ = std::fs::remove_file(root.join("initramfs.cpio"));
    }
    facts.insert("ok".into(), ok.into());
    facts.insert("seconds".into(), started.elapsed().as_secs_f64().into());
    facts.insert("logs".into(), root.display().to_string().into());
    std::fs::create_dir_all(out)?;
    let summary = out.join("summary.json");
    std::fs::write(&summary, serde_json::to_string_pretty(&facts)? + "\n")?;
    println!("==> summary ({})", summary.display());
    let fact = |k: &str| facts.get(k).map_or("-".to_string(), |v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
    println!("  kernel            {}", fact("kernel_release"));
    println!("  PR fencing        B preempted A with {} in {} ms; A's writes then failed", fact("preempt_command"), fact("preempt_ms_host").split('.').next().unwrap_or("-"));
    println!(
        "  takeover          B held {} of A's LUNs {} ms after A's panic (host clock), A's dump at {}%",
        fact("luns_taken_over"),
        fact("takeover_ms").split('.').next().unwrap_or("-"),
        fact("dump_percent_at_takeover")
    );
    println!("  panic             node {} (sysrq-c); beacon on disk {} ms later (host clock)", fact("panic_node"), fact("panic_to_beacon_ms_host").split('.').next().unwrap_or("-"));
    println!("  dump              {} bytes in {} s, state {}", fact("dump_bytes"), fact("dump_seconds"), fact("dump_state_final"));
    println!(
        "  dump plan         chunk checksum {} (arming measured crc32c {} MiB/s, xxh64 {} MiB/s); rehearsal {} MiB/s predicted {} ms",
        fact("chunk_checksum"),
        fact("crc32c_mib_per_s_at_arming"),
        fact("xxh64_mib_per_s_at_arming"),
        fact("rehearsal_mib_per_s"),
        fact("dump_predicted_ms")
    );
    println!("  vmcore            {} (savecore ok: {})", fact("vmcore"), fact("savecore_ok"));
    println!("  readers of it     drgn: {}", fact("drgn_panic_line"));
    println!("                    {}", fact("crash_full_vmcore"));
    println!(
        "                    makedumpfile -c -d 23: {} MiB, which crash opens as well",
        facts.get("makedumpfile_bytes").and_then(|b| b.as_u64()).map_or("-".to_string(), |b| (b >> 20).to_string())
    );
    let frames: Vec<String> = facts
        .get("crashed_frames")
        .and_then(|f| f.as_array())
        .map(|f| f.iter().filter_map(|n| n.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    println!("  crashed thread    {}", if frames.is_empty() { "-".to_string() } else { frames.join(" < ") });
    println!("  KASLR             kernel text at offset {}, direct map at {} (read from the dump)", fact("kaslr_offset"), fact("direct_map_base"));
    println!("  memory reserved   {} bytes while armed", fact("reserved_bytes"));
    for (event, what) in [("nfs_panic", "A's panic"), ("nfs_giveback", "the giveback")] {
        let Some(o) = facts.get(event) else { continue };
        let outcome = &o["outcome"];
        let stall = |tag: &str| outcome["stall_ms"][tag].as_u64().map_or("-".to_string(), |ms| format!("{:.1} s", ms as f64 / 1000.0));
        println!(
            "  NFS clients       across {what}: NFSv3 stalled {}, NFSv4.1 {}; {} failed operations, {} acknowledged writes lost",
            stall("v3"),
            stall("v41"),
            outcome["failed_ops"].as_array().map_or(0, Vec::len),
            o["lost_acked_writes"]
        );
    }
    if !ok {
        bail!("the demo failed; logs in {}", root.display());
    }
    Ok(())
}
