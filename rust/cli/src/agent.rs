// SPDX-License-Identifier: GPL-2.0

//! `coretakeover agent`: runs a node's services on the disks it holds.
//!
//! A pair without a cluster manager needs something to start the
//! partner's service once its disks are taken over, to stop it before they
//! are given back, and to start this node's own service when its disks are
//! its own. The agent does that with hook programs (`hooks.rs`), as
//! keepalived and CTDB run theirs. It is the one owner of the services'
//! state on its node:
//!
//! - **own service** (`service.name`): started when every one of its disks
//!   is reserved by this node's key (at start, or after the partner's
//!   giveback: the agent reserves them itself as soon as nobody holds them);
//! - **partner's service** (`partner.service`): started on `takeover-done`
//!   when the takeover result says every one of its disks is held and a
//!   READ RESERVATION on each says so too; a partial takeover starts
//!   nothing; stopped before a giveback (`coretakeover giveback` asks the
//!   agent, which stops the service, then gives the disks back);
//! - **every running service** is checked at each monitor interval: its
//!   disks must still be reserved by this node (a node that hung and was
//!   fenced learns it here and stops serving at once), then the `monitor`
//!   hooks run; `monitor_failures` failures in a row mark it failed.
//!
//! Lost notifications cannot leave it wrong: every tick also compares the
//! module's takeover state with what runs. SIGTERM stops every service
//! (partner's first) and exits.

use crate::config::{Config, Hooks, DEFAULT_PATH};
use crate::error::Error;
use crate::genl::{self, cmd, event_name, Client, Message};
use crate::hooks::{self, Context, Event, Role};
use crate::scsi_pr::{read_keys, read_reservation};
use coretakeover_core::ids::{ClusterId, NodeId};
use coretakeover_core::keys::RegistrationKey;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

/// Where the agent listens for `giveback` (root only).
pub const SOCKET: &str = "/run/coretakeover/agent.sock";
/// The services' state, rewritten on every change (`coretakeover status`).
pub const STATE: &str = "/run/coretakeover/agent.json";
/// Beside the state file: written when the agent finds this node fenced
/// (a running service's disk reserved by another key). /run is emptied at
/// boot, so it says "fenced in this boot": until the reboot neither the
/// agent nor `coretakeover apply` asks for this node's disks again, since
/// its page cache and journal state are those of before the fence.
pub fn fenced_marker(state: &Path) -> PathBuf {
    state.with_file_name("fenced")
}

/// Why this node must not ask for its disks, if it was fenced in this boot.
pub fn fenced_in_this_boot(state: &Path) -> Option<String> {
    std::fs::read_to_string(fenced_marker(state)).ok().map(|why| {
        format!("fenced in this boot ({}): reboot this node before it takes its disks back", why.trim())
    })
}

/// How often a node whose own service waits for its disks looks at them.
const WAIT_POLL: Duration = Duration::from_millis(250);

/// Run this node's services on the disks it holds (hooks from
/// /etc/coretakeover.conf's [hooks]).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file.
    #[arg(long, default_value = DEFAULT_PATH)]
    config: PathBuf,
    /// The control socket.
    #[arg(long, default_value = SOCKET)]
    socket: PathBuf,
    /// The state file.
    #[arg(long, default_value = STATE)]
    state: PathBuf,
}

/// Where a service is, on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "why", rename_all = "kebab-case")]
pub enum State {
    /// Not running here; nothing to do (partner's service, not taken over).
    Down,
    /// Not running here: its disks are held by someone else.
    Waiting(String),
    Running,
    /// Its start, stop or monitor failed; nothing more is tried until the
    /// agent is restarted (or, for the partner's service, the next takeover).
    Failed(String),
    /// Taken over only in part: not started (it never mounts what it does
    /// not hold).
    Blocked(String),
}

#[derive(Debug, Serialize)]
struct Service {
    name: String,
    role: Role,
    disks: Vec<PathBuf>,
    #[serde(flatten)]
    state: State,
    /// Why it was last started or stopped.
    reason: String,
    /// Unix time of the last change.
    since: u64,
    #[serde(skip)]
    monitor_failures: u32,
    /// Whether its `prepare` hooks ran since it last stopped.
    #[serde(skip)]
    prepared: bool,
}

/// A request on the control socket (one JSON line).
#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    Giveback,
}

/// The answer (one JSON line).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Reply {
    pub ok: bool,
    pub takeover_state: Option<String>,
    pub errno: Option<i32>,
    pub message: Option<String>,
    /// What the hooks did.
    pub hooks: Vec<String>,
}

enum Msg {
    Events(Vec<Message>),
    /// A monitor ended: the service, whether every hook succeeded, and
    /// what each did.
    Monitored(usize, bool, Vec<String>),
    EventsLost(String),
    Control(Request, mpsc::Sender<Reply>),
    Signal(i32),
}

fn log(text: &str) {
    eprintln!("coretakeover-agent: {text}");
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A key as people read it: the node it belongs to, or its value.
fn holder_name(key: u64) -> String {
    match RegistrationKey::from_raw(key).decode() {
        Some((c, n)) => format!("node {n} of cluster {c} (key {key:#018x})"),
        None => format!("key {key:#018x}"),
    }
}

/// The same disk, whatever path names it.
fn same_disk(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Who holds each of `disks`, against `ours`: Ok if all are ours; else the
/// first that is not, and by whom (None: nobody holds it).
fn check_held(disks: &[PathBuf], ours: u64) -> Result<(), (PathBuf, Result<Option<u64>, String>)> {
    for d in disks {
        match read_reservation(d) {
            Ok(Some(r)) if r.key == ours => {}
            Ok(other) => return Err((d.clone(), Ok(other.map(|r| r.key)))),
            Err(e) => return Err((d.clone(), Err(e))),
        }
    }
    Ok(())
}

fn describe_not_held(disk: &Path, why: &Result<Option<u64>, String>) -> String {
    match why {
        Ok(Some(key)) => format!("{} is held by {}", disk.display(), holder_name(*key)),
        Ok(None) => format!("{} is reserved by nobody", disk.display()),
        Err(e) => format!("{} cannot be read: {e}", disk.display()),
    }
}

struct Agent {
    config: Config,
    hooks: Hooks,
    key: u64,
    state_path: PathBuf,
    services: Vec<Service>,
    client: Client,
    /// Monitors run beside the main loop (a takeover must never wait for
    /// a monitor of another service): the one in flight per service.
    monitoring: Vec<Option<std::thread::JoinHandle<()>>>,
    tx: mpsc::Sender<Msg>,
}

impl Agent {
    fn context<'a>(&self, s: &'a Service, event: Event, reason: &'a str) -> Context<'a> {
        let timeout = match event {
            Event::Start | Event::Prepare => self.hooks.start_timeout_s,
            Event::Stop => self.hooks.stop_timeout_s,
            Event::Monitor => self.hooks.monitor_timeout_s,
        };
        Context {
            event,
            service: &s.name,
            role: s.role,
            reason,
            disks: &s.disks,
            cluster_id: self.config.cluster_id,
            node_id: self.config.node_id,
            partner_id: self.config.partner.as_ref().map(|p| p.node_id),
            timeout: Duration::from_secs(u64::from(timeout)),
        }
    }

    /// Runs the hooks of `event` for service `i`: whether all succeeded,
    /// and a line per hook.
    fn run_hooks(&self, i: usize, event: Event, reason: &str) -> (bool, Vec<String>) {
        let s = &self.services[i];
        let ctx = self.context(s, event, reason);
        let prefix = format!("{} ({})", s.name, s.role.as_str());
        let mut lines = Vec::new();
        match hooks::run(&self.hooks.dir, &ctx, &mut |line| log(&format!("{prefix}: {line}"))) {
            Ok(runs) if runs.is_empty() && matches!(event, Event::Start | Event::Stop) => {
                log(&format!("{prefix}: {}: no hooks in {}", event.as_str(), self.hooks.dir.display()));
                (true, lines)
            }
            Ok(runs) => {
                lines.extend(runs.iter().map(hooks::Run::describe));
                (runs.iter().all(hooks::Run::ok), lines)
            }
            Err(e) => {
                log(&format!("{prefix}: {}: {e}", event.as_str()));
                lines.push(e);
                (false, lines)
            }
        }
    }

    fn set(&mut self, i: usize, state: State, reason: &str) {
        let s = &mut self.services[i];
        if s.state != state || s.reason != reason {
            log(&format!("{} ({}): {} ({reason})", s.name, s.role.as_str(), describe_state(&state)));
            s.state = state;
            s.reason = reason.to_string();
            s.since = unix_now();
            self.save();
        }
    }

    fn save(&self) {
        let json = serde_json::json!({ "pid": std::process::id(), "services": self.services });
        let tmp = self.state_path.with_extension("json.tmp");
        let written = std::fs::write(&tmp, format!("{json}\n")).and_then(|()| std::fs::rename(&tmp, &self.state_path));
        if let Err(e) = written {
            log(&format!("{}: {e}", self.state_path.display()));
        }
    }

    fn index(&self, role: Role) -> Option<usize> {
        self.services.iter().position(|s| s.role == role)
    }

    /// Starts service `i` (its disks are held: the caller checked). A
    /// failed start is undone with `stop`.
    fn start(&mut self, i: usize, reason: &str) -> Vec<String> {
        let t = Instant::now();
        log(&format!("{} ({}): starting ({reason})", self.services[i].name, self.services[i].role.as_str()));
        let (ok, mut lines) = self.run_hooks(i, Event::Start, reason);
        self.services[i].prepared = false;
        if ok {
            self.services[i].monitor_failures = 0;
            self.set(i, State::Running, reason);
            log(&format!("{}: started in {} ms", self.services[i].name, t.elapsed().as_millis()));
        } else {
            let (_, undo) = self.run_hooks(i, Event::Stop, "start-failed");
            lines.extend(undo);
            self.set(i, State::Failed(format!("start failed: {}", lines.first().cloned().unwrap_or_default())), reason);
        }
        lines
    }

    /// Gets service `i` ready to start fast (it is not running here: the
    /// partner's, or this node's own while the partner holds it). A failed
    /// prepare is only logged: `start` does everything anyway.
    fn prepare(&mut self, i: usize) {
        if self.services[i].prepared {
            return;
        }
        let (ok, lines) = self.run_hooks(i, Event::Prepare, "standby");
        self.services[i].prepared = ok;
        if !ok {
            log(&format!("{}: prepare failed ({}); a start will do it all", self.services[i].name, lines.join("; ")));
        }
    }

    /// Stops service `i`: whether every hook succeeded.
    fn stop(&mut self, i: usize, reason: &str, after: State) -> (bool, Vec<String>) {
        // A monitor still running goes on beside the stop (it fails, and is
        // then ignored): the stop does not wait for it.
        let t = Instant::now();
        log(&format!("{} ({}): stopping ({reason})", self.services[i].name, self.services[i].role.as_str()));
        let (ok, lines) = self.run_hooks(i, Event::Stop, reason);
        self.services[i].prepared = false;
        if ok {
            self.set(i, after, reason);
            log(&format!("{}: stopped in {} ms", self.services[i].name, t.elapsed().as_millis()));
        } else {
            self.set(i, State::Failed(format!("stop failed: {}", lines.join("; "))), reason);
        }
        (ok, lines)
    }

    fn status(&mut self) -> Result<Message, Error> {
        self.client.request(cmd::GET_STATUS, vec![])
    }

    /// This node's own service: running if its disks are ours; reserved
    /// here if nobody holds them (after a giveback).
    fn reconcile_own(&mut self, reason: &str) {
        let Some(i) = self.index(Role::Own) else { return };
        if matches!(self.services[i].state, State::Running | State::Failed(_)) {
            return;
        }
        if let Some(why) = fenced_in_this_boot(&self.state_path) {
            self.set(i, State::Waiting(why), reason);
            return;
        }
        let disks = self.services[i].disks.clone();
        match check_held(&disks, self.key) {
            Ok(()) => {
                self.start(i, reason);
            }
            Err((disk, Ok(None))) => {
                // Nobody holds it: the partner gave it back. Reserve (the
                // module registers and reserves, as `apply` does).
                let attrs = disks.iter().map(|d| genl::disk_path("service-disk", &d.to_string_lossy())).collect();
                match self.client.request(cmd::SET_CONFIG, attrs) {
                    Ok(_) => {
                        log(&format!("{}: reserved its disks ({} was free)", self.services[i].name, disk.display()));
                        if check_held(&disks, self.key).is_ok() {
                            self.start(i, "giveback");
                        }
                    }
                    Err(e) => self.set(i, State::Waiting(format!("reserving: {e}")), reason),
                }
            }
            Err((disk, why)) => {
                let text = describe_not_held(&disk, &why);
                self.set(i, State::Waiting(text), reason);
            }
        }
    }

    /// The partner's service against the module's takeover state.
    fn reconcile_partner(&mut self, status: &Message, reason: &str) {
        let Some(i) = self.index(Role::Partner) else { return };
        let phase = status.str("takeover-state").unwrap_or("idle").to_string();
        let running = self.services[i].state == State::Running;
        match phase.as_str() {
            "holding" if !running && !matches!(self.services[i].state, State::Failed(_)) => {
                let disks = self.services[i].disks.clone();
                match check_held(&disks, self.key) {
                    Ok(()) => {
                        self.start(i, reason);
                    }
                    Err((disk, why)) => {
                        let text = describe_not_held(&disk, &why);
                        self.set(i, State::Blocked(format!("takeover says holding, but {text}")), reason);
                    }
                }
            }
            "partial" if !running => {
                let text = "the takeover holds only part of its disks (coretakeover takeover retries)".to_string();
                self.set(i, State::Blocked(text), reason);
            }
            "holding" | "partial" | "taking-over" => {}
            _ if running => {
                // The disks went back behind the agent's back (sysfs
                // giveback): stop at once, they are no longer ours.
                log(&format!("{}: running, but the module's takeover state is {phase}: stopping now", self.services[i].name));
                self.stop(i, "disks-released", State::Down);
            }
            _ => {
                if !matches!(self.services[i].state, State::Down) {
                    self.set(i, State::Down, reason);
                }
            }
        }
    }

    /// `takeover-done`: the result names each disk; the service starts only
    /// if every one of its disks is held.
    fn on_takeover_done(&mut self, event: &Message) {
        let Some(i) = self.index(Role::Partner) else { return };
        if self.services[i].state == State::Running {
            return;
        }
        let reason = event.str("reason").unwrap_or("takeover").to_string();
        let results = event.nests("takeover-disk");
        let missing = self.services[i].disks.iter().find(|d| {
            !results.iter().any(|r| {
                r.get("held").and_then(serde_json::Value::as_u64) == Some(1)
                    && r.get("path").and_then(serde_json::Value::as_str).is_some_and(|p| same_disk(Path::new(p), d))
            })
        });
        if let Some(d) = missing {
            let text = format!("takeover did not hold {}", d.display());
            self.set(i, State::Blocked(text), &reason);
            return;
        }
        let disks = self.services[i].disks.clone();
        match check_held(&disks, self.key) {
            Ok(()) => {
                self.start(i, &reason);
            }
            Err((disk, why)) => {
                let text = describe_not_held(&disk, &why);
                self.set(i, State::Blocked(text), &reason);
            }
        }
    }

    /// Every running service: its disks still ours, then its monitor.
    fn monitor(&mut self) {
        for i in 0..self.services.len() {
            if self.services[i].state != State::Running || self.monitoring[i].as_ref().is_some_and(|t| !t.is_finished()) {
                continue;
            }
            let disks = self.services[i].disks.clone();
            if let Err((disk, why)) = check_held(&disks, self.key) {
                let text = describe_not_held(&disk, &why);
                // A read error is not proof of a lost reservation; a
                // reservation held by another key is.
                if why.is_ok() {
                    log(&format!("{}: {text}: this node no longer holds it; stopping now", self.services[i].name));
                    let marker = fenced_marker(&self.state_path);
                    let note = format!("{text}, found by the agent at {}", unix_now());
                    if let Err(e) = std::fs::write(&marker, format!("{note}\n")) {
                        log(&format!("{}: {e}", marker.display()));
                    }
                    self.stop(i, "fenced", State::Waiting(text));
                    continue;
                }
                log(&format!("{}: {text}", self.services[i].name));
            }
            // The hooks run in a thread of their own; what they found comes
            // back as a message.
            let s = &self.services[i];
            let (dir, name, role, disks) = (self.hooks.dir.clone(), s.name.clone(), s.role, s.disks.clone());
            let (cluster_id, node_id) = (self.config.cluster_id, self.config.node_id);
            let partner_id = self.config.partner.as_ref().map(|p| p.node_id);
            let timeout = Duration::from_secs(u64::from(self.hooks.monitor_timeout_s));
            let tx = self.tx.clone();
            self.monitoring[i] = Some(std::thread::spawn(move || {
                let ctx = Context { event: Event::Monitor, service: &name, role, reason: "monitor", disks: &disks, cluster_id, node_id, partner_id, timeout };
                let prefix = format!("{name} ({})", role.as_str());
                let (ok, lines) = match hooks::run(&dir, &ctx, &mut |line| log(&format!("{prefix}: {line}"))) {
                    Ok(runs) => (runs.iter().all(hooks::Run::ok), runs.iter().map(hooks::Run::describe).collect()),
                    Err(e) => (false, vec![e]),
                };
                let _ = tx.send(Msg::Monitored(i, ok, lines));
            }));
        }
    }

    /// What a monitor found (it may have ended after its service stopped).
    fn monitored(&mut self, i: usize, ok: bool, lines: Vec<String>) {
        if self.services[i].state != State::Running {
            return;
        }
        if ok {
            self.services[i].monitor_failures = 0;
            return;
        }
        self.services[i].monitor_failures += 1;
        if self.services[i].monitor_failures >= self.hooks.monitor_failures {
            let text = format!("{} failed monitors in a row: {}", self.services[i].monitor_failures, lines.join("; "));
            self.set(i, State::Failed(text), "monitor");
        }
    }

    /// Every service that is not running here gets ready to (standby).
    fn standby(&mut self) {
        for i in 0..self.services.len() {
            if matches!(self.services[i].state, State::Down | State::Waiting(_)) {
                self.prepare(i);
            }
        }
    }

    fn tick(&mut self) {
        match self.status() {
            Ok(status) => self.reconcile_partner(&status, "takeover"),
            Err(e) => log(&format!("get-status: {e}")),
        }
        self.monitor();
        self.reconcile_own("disks-returned");
    }

    fn giveback(&mut self) -> Reply {
        let status = match self.status() {
            Ok(s) => s,
            Err(e) => return Reply { message: Some(e.to_string()), errno: Some(libc::EIO), ..Reply::default() },
        };
        let phase = status.str("takeover-state").unwrap_or("idle");
        let partner = status.str("partner-state").unwrap_or("unknown");
        if !matches!(phase, "holding" | "partial") {
            let message = format!("giveback: refused: not holding the partner's disks (takeover state {phase})");
            return Reply { errno: Some(libc::EINVAL), message: Some(message), ..Reply::default() };
        }
        if partner != "alive" {
            let message = format!("giveback: refused: the partner is {partner}, not alive; its service stays here");
            return Reply { errno: Some(libc::EAGAIN), message: Some(message), ..Reply::default() };
        }
        // Checked before the service stops, as the module checks it: a
        // refused giveback must not leave the partner's clients without
        // their service.
        if let Some(message) = self.partner_unregistered() {
            return Reply { errno: Some(libc::EAGAIN), message: Some(message), ..Reply::default() };
        }
        let mut hooks = Vec::new();
        if let Some(i) = self.index(Role::Partner) {
            if self.services[i].state == State::Running || matches!(self.services[i].state, State::Failed(_)) {
                let (ok, lines) = self.stop(i, "giveback", State::Down);
                hooks.extend(lines);
                if !ok {
                    let message = format!("giveback: refused: stopping {} failed; its disks stay held", self.services[i].name);
                    return Reply { errno: Some(libc::EBUSY), message: Some(message), hooks, ..Reply::default() };
                }
            }
        }
        match self.client.ask(cmd::GIVEBACK, vec![]) {
            Ok(answer) => match answer.result {
                Ok(()) => {
                    let state = answer.reply.as_ref().and_then(|r| r.str("takeover-state")).map(str::to_string);
                    if let Some(i) = self.index(Role::Partner) {
                        self.set(i, State::Down, "giveback");
                    }
                    Reply { ok: true, takeover_state: state, hooks, ..Reply::default() }
                }
                Err(e) => {
                    // The disks stay here: so does the service.
                    if let Some(i) = self.index(Role::Partner) {
                        if self.services[i].state == State::Down {
                            hooks.extend(self.start(i, "giveback-refused"));
                        }
                    }
                    let (errno, message) = match e {
                        Error::Module { errno, message } => (errno, message),
                        e => (libc::EIO, Some(e.to_string())),
                    };
                    Reply { errno: Some(errno), message, hooks, ..Reply::default() }
                }
            },
            Err(e) => Reply { errno: Some(libc::EIO), message: Some(e.to_string()), hooks, ..Reply::default() },
        }
    }

    /// Why the partner cannot have its disks back yet: it has not
    /// registered on one of them since the takeover removed its key (it
    /// registers when it asks for them; a node fenced after a hang asks
    /// after its reboot).
    fn partner_unregistered(&self) -> Option<String> {
        let partner = self.config.partner.as_ref()?;
        let theirs = RegistrationKey::derive(ClusterId::new(self.config.cluster_id)?, NodeId::new(partner.node_id)?).get();
        let i = self.index(Role::Partner)?;
        for disk in &self.services[i].disks {
            match read_keys(disk) {
                Ok(keys) if keys.contains(&theirs) => {}
                Ok(_) => {
                    return Some(format!(
                        "giveback: refused: node {} has not registered on {} since the takeover (it registers when it asks for its disks; a node fenced after a hang asks after its reboot); its service stays here",
                        partner.node_id,
                        disk.display()
                    ))
                }
                Err(e) => return Some(format!("giveback: refused: cannot read the registrations: {e}; its service stays here")),
            }
        }
        None
    }

    fn shutdown(&mut self) {
        for role in [Role::Partner, Role::Own] {
            if let Some(i) = self.index(role) {
                if self.services[i].state == State::Running {
                    self.stop(i, "shutdown", State::Down);
                }
            }
        }
    }
}

fn describe_state(s: &State) -> String {
    match s {
        State::Down => "down".into(),
        State::Waiting(w) => format!("waiting: {w}"),
        State::Running => "running".into(),
        State::Failed(w) => format!("FAILED: {w}"),
        State::Blocked(w) => format!("blocked: {w}"),
    }
}

/// SIGTERM, SIGINT and SIGHUP arrive as messages (blocked in every thread,
/// taken by one with sigwait). Hooks start with an empty mask.
fn signals(tx: mpsc::Sender<Msg>) {
    // SAFETY: plain libc signal-set calls on a local set.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || loop {
        let mut sig = 0;
        // SAFETY: `set` is initialized; `sig` is written by sigwait.
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 && tx.send(Msg::Signal(sig)).is_err() {
            break;
        }
    });
}

/// The module's notifications, through a socket of their own; when some
/// are lost (the socket overran), the main loop is told to look afresh.
fn events(tx: mpsc::Sender<Msg>) -> Result<(), Error> {
    let mut client = Client::connect()?;
    client.subscribe()?;
    std::thread::spawn(move || loop {
        match client.next_events() {
            Ok(events) => {
                if tx.send(Msg::Events(events)).is_err() {
                    break;
                }
            }
            Err(e) => {
                if tx.send(Msg::EventsLost(e.to_string())).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    Ok(())
}

/// The control socket: root only; one JSON request and reply per
/// connection.
fn control(path: &Path, tx: mpsc::Sender<Msg>) -> Result<(), Error> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    if UnixStream::connect(path).is_ok() {
        return Err(Error::Refused { path: path.to_path_buf(), reason: "another agent is running".into() });
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut line = String::new();
            if BufReader::new(&conn).read_line(&mut line).is_err() {
                continue;
            }
            let reply = match serde_json::from_str::<Request>(&line) {
                Ok(request) => {
                    let (rtx, rrx) = mpsc::channel();
                    if tx.send(Msg::Control(request, rtx)).is_err() {
                        break;
                    }
                    rrx.recv().unwrap_or_default()
                }
                Err(e) => Reply { errno: Some(libc::EINVAL), message: Some(format!("bad request: {e}")), ..Reply::default() },
            };
            let _ = writeln!(conn, "{}", serde_json::to_string(&reply).unwrap_or_default());
        }
    });
    Ok(())
}

/// Asks a running agent; `None` if no agent listens at `path`.
pub fn ask(path: &Path, request: &Request) -> Result<Option<Reply>, Error> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let mut conn = match UnixStream::connect(path) {
        Ok(c) => c,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    writeln!(conn, "{}", serde_json::to_string(request).map_err(std::io::Error::from).map_err(io)?).map_err(io)?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line).map_err(io)?;
    serde_json::from_str(&line).map(Some).map_err(|e| Error::Netlink(format!("agent reply: {e}")))
}

pub fn run(args: &Args) -> Result<(), Error> {
    let config = Config::load(&args.config)?;
    let Some(hooks) = config.hooks.clone() else {
        return Err(Error::Config { path: args.config.clone(), reason: "no [hooks] section: the agent has nothing to run".into() });
    };
    let cluster = ClusterId::new(config.cluster_id).ok_or_else(|| Error::InvalidArgument { what: "cluster_id", reason: "0".into() })?;
    let node = NodeId::new(config.node_id).ok_or_else(|| Error::InvalidArgument { what: "node_id", reason: "0".into() })?;
    let key = RegistrationKey::derive(cluster, node).get();
    let mut services = Vec::new();
    if let Some(name) = &config.service.name {
        services.push(Service { name: name.clone(), role: Role::Own, disks: config.service.disks.clone(), state: State::Down, reason: "agent-start".into(), since: unix_now(), monitor_failures: 0, prepared: false });
    }
    if let Some(p) = &config.partner {
        if let Some(name) = &p.service {
            services.push(Service { name: name.clone(), role: Role::Partner, disks: p.disks.clone(), state: State::Down, reason: "agent-start".into(), since: unix_now(), monitor_failures: 0, prepared: false });
        }
    }
    let (tx, rx) = mpsc::channel();
    signals(tx.clone());
    let client = Client::connect()?;
    events(tx.clone())?;
    control(&args.socket, tx.clone())?;
    let monitoring = services.iter().map(|_| None).collect();
    let mut agent = Agent { config, hooks, key, state_path: args.state.clone(), services, client, monitoring, tx: tx.clone() };
    agent.save();
    let names: Vec<String> = agent.services.iter().map(|s| format!("{} ({})", s.name, s.role.as_str())).collect();
    log(&format!("running hooks of {} for {}; monitor every {} s", agent.hooks.dir.display(), names.join(", "), agent.hooks.monitor_interval_s));

    // What is true now: a restarted agent picks up where things are.
    agent.reconcile_own("agent-start");
    if let Ok(status) = agent.status() {
        agent.reconcile_partner(&status, "agent-start");
    }
    agent.standby();
    let interval = Duration::from_secs(u64::from(agent.hooks.monitor_interval_s));
    let mut next_tick = Instant::now() + interval;
    loop {
        // While this node's own service waits for its disks, look every
        // WAIT_POLL (a READ RESERVATION per disk): the giveback's outage
        // ends as soon as the partner lets go.
        let waiting = agent.index(Role::Own).is_some_and(|i| matches!(agent.services[i].state, State::Waiting(_)));
        let wake = if waiting { next_tick.min(Instant::now() + WAIT_POLL) } else { next_tick };
        let msg = match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(msg) => msg,
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < next_tick => {
                agent.reconcile_own("disks-returned");
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                agent.tick();
                agent.standby();
                next_tick = Instant::now() + interval;
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match msg {
            Msg::Events(events) => {
                for event in events {
                    let name = event_name(event.cmd);
                    if name == "takeover-done" {
                        agent.on_takeover_done(&event);
                    } else if name == "giveback-done" || name == "takeover-state" {
                        if let Ok(status) = agent.status() {
                            agent.reconcile_partner(&status, "takeover");
                        }
                    }
                }
            }
            Msg::Monitored(i, ok, lines) => agent.monitored(i, ok, lines),
            Msg::EventsLost(e) => {
                log(&format!("notifications: {e}; looking afresh"));
                agent.tick();
            }
            Msg::Control(Request::Giveback, reply) => {
                let answer = agent.giveback();
                let _ = reply.send(answer);
                agent.standby();
            }
            Msg::Signal(libc::SIGHUP) => log("SIGHUP: the configuration is read at start; restart the agent to change it"),
            Msg::Signal(sig) => {
                log(&format!("signal {sig}: stopping the services"));
                agent.shutdown();
                break;
            }
        }
    }
    let _ = std::fs::remove_file(&args.socket);
    let _ = std::fs::remove_file(&args.state);
    log("exiting");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_fenced_in_this_boot_says_so_until_the_marker_goes() {
        let dir = std::env::temp_dir().join(format!("ct-agent-fenced-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let state = dir.join("agent.json");
        assert_eq!(fenced_in_this_boot(&state), None);
        std::fs::write(fenced_marker(&state), "/dev/sda is held by node 2 of cluster 7 (key 0x4354000000070002), found by the agent at 1\n").unwrap();
        let why = fenced_in_this_boot(&state).unwrap();
        assert!(why.starts_with("fenced in this boot (/dev/sda is held by node 2"), "{why}");
        assert!(why.ends_with("reboot this node before it takes its disks back"), "{why}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(fenced_in_this_boot(&state), None);
    }
}
