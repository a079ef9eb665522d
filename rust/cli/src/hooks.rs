// SPDX-License-Identifier: GPL-2.0

//! Hook programs: what `coretakeover agent` runs to start, stop and check a
//! service (as keepalived's notify scripts and CTDB's event scripts).
//!
//! Every executable of the hooks directory whose name is made of letters,
//! digits, '-' and '_' (run-parts' rule: no editor backups, no
//! `.dpkg-old`) is a hook. For an event the hooks run one at a time, as
//! `HOOK EVENT SERVICE`, with the environment below:
//!
//! - `start`: in name order; the first failure ends the event (the agent
//!   then runs `stop` to undo what the earlier hooks did);
//! - `stop`: in reverse name order, every hook even after a failure;
//! - `monitor`: in name order, every hook;
//! - `prepare`: in name order, every hook: get ready to start fast (the
//!   partner's service on a node that may take it over); a hook with
//!   nothing to prepare exits 0.
//!
//! A hook that outlives its time limit gets SIGTERM, then SIGKILL 5 s
//! later, with every process of its process group. Its output (stdout and
//! stderr) is logged line by line, prefixed with its name.
//!
//! Hooks run as root: whoever can change one runs code as root. The agent
//! runs none from a hooks directory, and no hook, that someone else than
//! root (or the agent's own user) owns or that its group or others can
//! write; such a hook is not started, which fails the event (a refused
//! directory fails it for every hook). A symlink is judged by what it
//! points to.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a hook is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Prepare,
    Start,
    Stop,
    Monitor,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prepare => "prepare",
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Monitor => "monitor",
        }
    }
}

/// Whose service it is, from this node's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// This node's own service.
    Own,
    /// The partner's service, run here after a takeover.
    Partner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Own => "own",
            Self::Partner => "partner",
        }
    }
}

/// Everything a hook is told, in its arguments and environment.
pub struct Context<'a> {
    pub event: Event,
    pub service: &'a str,
    pub role: Role,
    /// Why: boot, panic-beacon, stale-heartbeat, command, giveback,
    /// shutdown, fenced, ...
    pub reason: &'a str,
    /// The service's disks (every one held by this node for `start`).
    pub disks: &'a [PathBuf],
    pub cluster_id: u32,
    pub node_id: u16,
    pub partner_id: Option<u16>,
    pub timeout: Duration,
}

/// How one hook ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    /// It could not be started at all (the reason).
    NotStarted(String),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Run {
    pub hook: String,
    pub ending: Ending,
    pub ms: u64,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.ending == Ending::Exited(0)
    }

    pub fn describe(&self) -> String {
        match &self.ending {
            Ending::Exited(0) => format!("{} succeeded in {} ms", self.hook, self.ms),
            Ending::Exited(code) => format!("{} exited {code} after {} ms", self.hook, self.ms),
            Ending::Signaled(sig) => format!("{} killed by signal {sig} after {} ms", self.hook, self.ms),
            Ending::TimedOut => format!("{} timed out after {} ms (killed)", self.hook, self.ms),
            Ending::NotStarted(why) => format!("{} could not be started: {why}", self.hook),
        }
    }
}

/// Whether `name` is a hook's name (run-parts' rule).
fn hook_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The hooks of `dir`, in name order. A missing directory has none.
pub fn list(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut hooks = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| hook_name(n)) else { continue };
        let path = dir.join(name);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => hooks.push(path),
            _ => {}
        }
    }
    hooks.sort();
    Ok(hooks)
}

/// Why `path` must not be run as this process, if it must not: owned by
/// another user than root or this process's, or writable by its group or
/// by others.
fn untrusted(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Some(format!("{}: {e}", path.display())),
    };
    // SAFETY: geteuid() has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if m.uid() != 0 && m.uid() != euid {
        return Some(format!("{} belongs to uid {}, not root: refused", path.display(), m.uid()));
    }
    if m.mode() & 0o022 != 0 {
        return Some(format!(
            "{} is writable by its group or others (mode {:04o}): refused",
            path.display(),
            m.mode() & 0o7777
        ));
    }
    None
}

/// Runs the hooks of `dir` for `ctx`; `log` gets every line of their
/// output and what became of each. Returns each hook's run; the event
/// failed if any did not succeed. A directory that could have been changed
/// by someone else than root is an error (once it has hooks in it).
pub fn run(dir: &Path, ctx: &Context<'_>, log: &mut dyn FnMut(&str)) -> Result<Vec<Run>, String> {
    let mut hooks = list(dir)?;
    if !hooks.is_empty() {
        if let Some(why) = untrusted(dir) {
            return Err(why);
        }
    }
    if ctx.event == Event::Stop {
        hooks.reverse();
    }
    let mut runs = Vec::new();
    for hook in hooks {
        let run = run_one(&hook, ctx, log);
        log(&format!("{} {} {}: {}", ctx.event.as_str(), ctx.service, ctx.role.as_str(), run.describe()));
        let failed = !run.ok();
        runs.push(run);
        if failed && ctx.event == Event::Start {
            break;
        }
    }
    Ok(runs)
}

fn run_one(hook: &Path, ctx: &Context<'_>, log: &mut dyn FnMut(&str)) -> Run {
    let name = hook.file_name().map_or_else(|| hook.display().to_string(), |n| n.to_string_lossy().into_owned());
    if let Some(why) = untrusted(hook) {
        return Run { hook: name, ending: Ending::NotStarted(why), ms: 0 };
    }
    let started = Instant::now();
    let ms = |t: Instant| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return Run { hook: name, ending: Ending::NotStarted(format!("pipe: {e}")), ms: 0 },
    };
    let stderr = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return Run { hook: name, ending: Ending::NotStarted(format!("pipe: {e}")), ms: 0 },
    };
    let disks: Vec<String> = ctx.disks.iter().map(|d| d.display().to_string()).collect();
    let mut cmd = Command::new(hook);
    // A cleared environment: what the hook needs and nothing the agent was
    // started with (a variable a hook's shell or a program of it reads,
    // such as BASH_ENV, LD_PRELOAD or a conf directory override, cannot
    // come from the agent's caller).
    cmd.env_clear()
        .env("PATH", HOOK_PATH)
        .env("LANG", "C.UTF-8")
        .arg(ctx.event.as_str())
        .arg(ctx.service)
        .env("CORETAKEOVER_EVENT", ctx.event.as_str())
        .env("CORETAKEOVER_SERVICE", ctx.service)
        .env("CORETAKEOVER_ROLE", ctx.role.as_str())
        .env("CORETAKEOVER_REASON", ctx.reason)
        .env("CORETAKEOVER_DISKS", disks.join(" "))
        .env("CORETAKEOVER_CLUSTER_ID", ctx.cluster_id.to_string())
        .env("CORETAKEOVER_NODE_ID", ctx.node_id.to_string())
        .env("CORETAKEOVER_TIMEOUT_S", ctx.timeout.as_secs().to_string())
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(stderr)
        .process_group(0);
    if let Some(p) = ctx.partner_id {
        cmd.env("CORETAKEOVER_PARTNER_ID", p.to_string());
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Run { hook: name, ending: Ending::NotStarted(e.to_string()), ms: ms(started) },
    };
    // The pipe's write ends now live only in the hook (and whatever it
    // starts): lines come through a thread until they close.
    drop(cmd);
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let pgid = child.id() as libc::pid_t;
    let deadline = started + ctx.timeout;
    let mut killed_at: Option<Instant> = None;
    let ending = loop {
        for line in rx.try_iter() {
            log(&format!("{name}: {line}"));
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                break match (status.code(), status.signal()) {
                    _ if killed_at.is_some() => Ending::TimedOut,
                    (Some(code), _) => Ending::Exited(code),
                    (None, Some(sig)) => Ending::Signaled(sig),
                    (None, None) => Ending::Exited(-1),
                };
            }
            Ok(None) => {}
            Err(e) => break Ending::NotStarted(format!("wait: {e}")),
        }
        let now = Instant::now();
        match killed_at {
            None if now >= deadline => {
                log(&format!("{name}: {} s time limit reached: SIGTERM to its process group", ctx.timeout.as_secs()));
                // SAFETY: signalling a process group we created.
                unsafe { libc::kill(-pgid, libc::SIGTERM) };
                killed_at = Some(now);
            }
            Some(t) if now >= t + Duration::from_secs(5) => {
                // SAFETY: as above.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // What the hook wrote last (a daemon it started may keep the pipe open:
    // wait for the rest only briefly).
    let until = Instant::now() + Duration::from_millis(200);
    while let Ok(line) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        log(&format!("{name}: {line}"));
    }
    Run { hook: name, ending, ms: ms(started) }
}

/// The hooks' PATH: the system's directories only.
pub const HOOK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn dir(test: &str, hooks: &[(&str, &str, u32)]) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ct-hooks-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        for (name, body, mode) in hooks {
            let p = d.join(name);
            fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).unwrap();
        }
        d
    }

    fn ctx(event: Event, timeout_ms: u64) -> Context<'static> {
        const DISKS: &[PathBuf] = &[];
        Context {
            event,
            service: "nfs-a",
            role: Role::Partner,
            reason: "panic-beacon",
            disks: DISKS,
            cluster_id: 7,
            node_id: 2,
            partner_id: Some(1),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[test]
    fn only_executables_with_plain_names_run_in_order_and_stop_reverses() {
        let d = dir(
            "order",
            &[
                ("20-b", "echo b $1 $2 $CORETAKEOVER_ROLE $CORETAKEOVER_REASON $CORETAKEOVER_PARTNER_ID", 0o755),
                ("10-a", "echo a", 0o755),
                ("30-c.dpkg-old", "echo never", 0o755),
                ("40-d~", "echo never", 0o755),
                ("50-e", "echo not executable", 0o644),
            ],
        );
        let mut lines = Vec::new();
        let runs = run(&d, &ctx(Event::Start, 5000), &mut |l| lines.push(l.to_string())).unwrap();
        assert_eq!(runs.iter().map(|r| r.hook.as_str()).collect::<Vec<_>>(), ["10-a", "20-b"]);
        assert!(runs.iter().all(Run::ok));
        assert!(lines.contains(&"20-b: b start nfs-a partner panic-beacon 1".to_string()), "{lines:?}");
        let runs = run(&d, &ctx(Event::Stop, 5000), &mut |_| {}).unwrap();
        assert_eq!(runs.iter().map(|r| r.hook.as_str()).collect::<Vec<_>>(), ["20-b", "10-a"]);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn hooks_get_a_cleared_environment() {
        let d = dir("env", &[("10-env", "env | sort", 0o755)]);
        // SAFETY: Set once in this test thread before the hook starts;
        // nothing else in this test reads it.
        unsafe { std::env::set_var("CT_TEST_LEAK", "leaked") };
        let mut lines = Vec::new();
        let runs = run(&d, &ctx(Event::Start, 5000), &mut |l| lines.push(l.to_string())).unwrap();
        assert!(runs.iter().all(Run::ok), "{runs:?}");
        let names: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix("10-env: ")).filter_map(|l| l.split('=').next()).collect();
        assert!(!names.contains(&"CT_TEST_LEAK") && !names.contains(&"HOME"), "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("CORETAKEOVER_") || ["PATH", "LANG", "PWD", "SHLVL", "_"].contains(n)), "{names:?}");
        assert!(lines.contains(&format!("10-env: PATH={HOOK_PATH}")), "{lines:?}");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_failing_start_ends_the_event_but_stop_runs_everything() {
        let d = dir("fail", &[("10-a", "exit 3", 0o755), ("20-b", "echo ran", 0o755)]);
        let runs = run(&d, &ctx(Event::Start, 5000), &mut |_| {}).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].ending, Ending::Exited(3));
        let runs = run(&d, &ctx(Event::Stop, 5000), &mut |_| {}).unwrap();
        assert_eq!(runs.len(), 2);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_hook_over_its_time_is_killed_with_its_children() {
        let d = dir("slow", &[("10-slow", "sleep 30 & sleep 30; echo never", 0o755)]);
        let t = Instant::now();
        let runs = run(&d, &ctx(Event::Monitor, 300), &mut |_| {}).unwrap();
        assert_eq!(runs[0].ending, Ending::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_hook_or_directory_others_can_write_is_not_run() {
        let d = dir("modes", &[("10-a", "echo a", 0o755), ("20-b", "echo b", 0o775)]);
        let mut lines = Vec::new();
        let runs = run(&d, &ctx(Event::Start, 5000), &mut |l| lines.push(l.to_string())).unwrap();
        assert_eq!(runs.len(), 2);
        assert!(runs[0].ok());
        let Ending::NotStarted(why) = &runs[1].ending else { panic!("{:?}", runs[1]) };
        assert!(why.contains("writable by its group or others (mode 0775)"), "{why}");
        assert!(!lines.iter().any(|l| l.contains("20-b: b")), "{lines:?}");
        // A symlink to a hook others can write is refused as the hook is.
        fs::set_permissions(d.join("20-b"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(d.join("other.sh"), "#!/bin/sh\necho other\n").unwrap();
        fs::set_permissions(d.join("other.sh"), fs::Permissions::from_mode(0o757)).unwrap();
        std::os::unix::fs::symlink(d.join("other.sh"), d.join("30-link")).unwrap();
        let runs = run(&d, &ctx(Event::Stop, 5000), &mut |_| {}).unwrap();
        assert_eq!(runs.iter().filter(|r| r.ok()).count(), 2, "{runs:?}");
        assert!(matches!(&runs[0].ending, Ending::NotStarted(w) if w.contains("mode 0757")), "{runs:?}");
        // A directory others can write runs nothing at all.
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        let e = run(&d, &ctx(Event::Start, 5000), &mut |_| {}).unwrap_err();
        assert!(e.contains("writable by its group or others (mode 0777)"), "{e}");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_missing_directory_has_no_hooks() {
        assert!(list(Path::new("/nonexistent/coretakeover-hooks")).unwrap().is_empty());
    }
}
