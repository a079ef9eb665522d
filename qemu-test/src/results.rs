// SPDX-License-Identifier: GPL-2.0

//! The results directory, kept small: one subdirectory per run
//! (`<kind>-<unix time>-<pid>`), the newest few runs of each kind, and in a
//! scenario that passed only what a person reads afterwards (console and
//! shell logs, command lines, JSON findings). A scenario that failed keeps
//! everything, images included, and says so; so does every scenario when
//! `CT_KEEP=1` is set.

use anyhow::{Context, Result};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many runs of one kind stay under the results directory unless
/// `CT_KEEP_RUNS` says otherwise.
const KEEP_RUNS: usize = 3;

/// Files bigger than this (allocated on disk) go when their scenario passes,
/// whatever their name: only logs are exempt.
const BIG_FILE: u64 = 4 << 20;

/// Whether `CT_KEEP` asks to keep everything a scenario made.
pub fn keep_everything() -> bool {
    std::env::var("CT_KEEP").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn keep_runs() -> usize {
    std::env::var("CT_KEEP_RUNS").ok().and_then(|v| v.parse().ok()).filter(|&n| n >= 1).unwrap_or(KEEP_RUNS)
}

/// Bytes allocated on disk under `path` (a sparse image counts what it holds).
pub fn disk_bytes(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if meta.is_dir() {
        std::fs::read_dir(path)
            .map(|entries| entries.flatten().map(|e| disk_bytes(&e.path())).sum())
            .unwrap_or(0)
    } else {
        meta.blocks() * 512
    }
}

/// `bytes` for a person: KiB, MiB or GiB.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// A run's directory name split into its kind and start time, if it is one.
fn parse_run_name(name: &str) -> Option<(&str, u64)> {
    let (rest, pid) = name.rsplit_once('-')?;
    let (kind, stamp) = rest.rsplit_once('-')?;
    pid.parse::<u32>().ok()?;
    Some((kind, stamp.parse().ok()?))
}

/// Creates `results/<kind>-<time>-<pid>` (absolute: QEMU gets paths under
/// it) and removes the oldest runs of the same kind beyond the newest few,
/// saying what went.
pub fn new_run(results: &Path, kind: &str) -> Result<PathBuf> {
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let dir = results.join(format!("{kind}-{stamp}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = std::fs::canonicalize(&dir)?;
    for old in runs_to_prune(results, kind, keep_runs())? {
        let freed = disk_bytes(&old);
        match std::fs::remove_dir_all(&old) {
            Ok(()) => println!("results: removed the older run {} ({})", old.display(), human(freed)),
            Err(e) => println!("results: could not remove the older run {}: {e}", old.display()),
        }
    }
    Ok(dir)
}

/// The runs of `kind` under `results` other than the newest `keep`.
fn runs_to_prune(results: &Path, kind: &str, keep: usize) -> Result<Vec<PathBuf>> {
    let mut runs: Vec<(u64, String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(results)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((k, stamp)) = parse_run_name(&name) {
            if k == kind && entry.file_type()?.is_dir() {
                runs.push((stamp, name, entry.path()));
            }
        }
    }
    runs.sort();
    let excess = runs.len().saturating_sub(keep);
    Ok(runs.into_iter().take(excess).map(|(_, _, path)| path).collect())
}

/// Whether a file of a scenario that passed is worth keeping: the text a
/// person reads, never a disk image, a vmcore or a dump copy.
fn worth_keeping(path: &Path, allocated: u64) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let is_log = name.ends_with(".log");
    let is_bulk = name.ends_with(".img")
        || name.ends_with(".qcow2")
        || name.ends_with(".raw")
        || name.ends_with(".cpio")
        || name.starts_with("vmcore");
    is_log || (!is_bulk && allocated <= BIG_FILE)
}

/// What `tidy` removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tidied {
    pub removed: Vec<String>,
    pub freed: u64,
    pub kept_bytes: u64,
}

/// Calls `visit` with every regular file under `dir`, its path relative to
/// `dir` and its allocated bytes.
fn each_file(dir: &Path, visit: &mut dyn FnMut(&Path, String, u64)) {
    fn walk(top: &Path, dir: &Path, visit: &mut dyn FnMut(&Path, String, u64)) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if meta.is_dir() {
                walk(top, &path, visit);
            } else if meta.is_file() {
                let name = path.strip_prefix(top).unwrap_or(&path).display().to_string();
                visit(&path, name, meta.blocks() * 512);
            }
        }
    }
    walk(dir, dir, visit);
}

/// Removes, under `dir`, every file not worth keeping; returns what went.
pub fn tidy(dir: &Path) -> Tidied {
    let mut out = Tidied::default();
    each_file(dir, &mut |path, name, allocated| {
        if worth_keeping(path, allocated) {
            out.kept_bytes += allocated;
        } else if std::fs::remove_file(path).is_ok() {
            out.freed += allocated;
            out.removed.push(name);
        }
    });
    out
}

/// Tidies the directory of a scenario that passed (unless `CT_KEEP` is set)
/// and says in one line what it removed.
pub fn tidy_passed(dir: &Path) {
    if keep_everything() {
        println!("     kept everything (CT_KEEP): {} in {}", human(disk_bytes(dir)), dir.display());
        return;
    }
    let t = tidy(dir);
    if !t.removed.is_empty() {
        println!("     removed {} ({}), kept {} of logs", t.removed.join(", "), human(t.freed), human(t.kept_bytes));
    }
}

/// The big files a failed scenario kept, for the run's last lines.
pub fn big_files(dir: &Path) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    each_file(dir, &mut |path, name, allocated| {
        if !worth_keeping(path, allocated) {
            found.push((name, allocated));
        }
    });
    found.sort();
    found
}

/// The peak of the bytes allocated under a directory while a run goes on,
/// sampled every second by a thread of its own (for `make bench`).
pub struct DiskWatch {
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DiskWatch {
    pub fn start(dir: &Path) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        let peak = Arc::new(AtomicU64::new(disk_bytes(dir)));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s, d) = (peak.clone(), stop.clone(), dir.to_path_buf());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(disk_bytes(&d), Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        });
        Self { peak, stop, thread: Some(thread) }
    }

    /// The most seen so far.
    pub fn peak(&self) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for DiskWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ct-results-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(path: &Path, bytes: usize) {
        let mut f = std::fs::File::create(path).unwrap();
        f.write_all(&vec![0x5a; bytes]).unwrap();
        f.sync_all().unwrap();
    }

    #[test]
    fn run_names_parse() {
        assert_eq!(parse_run_name("check-1764633000-4242"), Some(("check", 1764633000)));
        assert_eq!(parse_run_name("check-debug-1764633000-4242"), Some(("check-debug", 1764633000)));
        assert_eq!(parse_run_name("check-x-4242"), None);
        assert_eq!(parse_run_name("notes"), None);
        assert_eq!(parse_run_name("check-1764633000-pid"), None);
    }

    #[test]
    fn only_the_oldest_runs_of_the_same_kind_are_pruned() {
        let dir = scratch("prune");
        for name in ["check-100-1", "check-300-1", "check-200-1", "check-400-1", "demo-50-1", "check-debug-10-1", "keepme"] {
            std::fs::create_dir(dir.join(name)).unwrap();
        }
        let mut pruned: Vec<String> = runs_to_prune(&dir, "check", 3)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        pruned.sort();
        assert_eq!(pruned, ["check-100-1"]);
        assert!(runs_to_prune(&dir, "demo", 3).unwrap().is_empty());
        assert!(runs_to_prune(&dir, "check-debug", 1).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tidy_keeps_logs_and_small_findings_and_removes_images_and_vmcores() {
        let dir = scratch("tidy");
        std::fs::create_dir(dir.join("sub")).unwrap();
        write(&dir.join("node-a.console.log"), 8 << 20);
        write(&dir.join("pattern.json"), 1000);
        write(&dir.join("coredump-a.img"), 4096);
        write(&dir.join("vmcore"), 4096);
        write(&dir.join("sub/overlay-a.qcow2"), 4096);
        write(&dir.join("copy.bin"), 5 << 20);
        // A sparse image holds nothing yet: it goes all the same, by name.
        std::fs::File::create(dir.join("lun0.img")).unwrap().set_len(64 << 20).unwrap();
        let big: Vec<String> = big_files(&dir).into_iter().map(|(n, _)| n).collect();
        assert_eq!(big, ["copy.bin", "coredump-a.img", "lun0.img", "sub/overlay-a.qcow2", "vmcore"]);
        let t = tidy(&dir);
        let mut removed = t.removed.clone();
        removed.sort();
        assert_eq!(removed, big);
        assert!(dir.join("node-a.console.log").exists());
        assert!(dir.join("pattern.json").exists());
        assert!(t.freed >= 5 << 20);
        assert!(big_files(&dir).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sizes_read_for_people() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(5 << 30), "5.0 GiB");
    }
}
