// SPDX-License-Identifier: GPL-2.0

//! A guest's serial console, read line by line, each line stamped with the
//! host's monotonic clock as it arrives (before any buffering of ours), so
//! events on different guests can be compared on one clock.

use anyhow::{bail, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One console line and when the host received it.
#[derive(Clone, Debug)]
pub struct Line {
    /// Host monotonic time since the cluster's epoch.
    pub at: Duration,
    pub text: String,
}

#[derive(Default)]
struct Lines {
    lines: Vec<Line>,
    closed: bool,
}

/// The lines a guest printed so far; cheap to clone and share.
#[derive(Clone)]
pub struct Console {
    name: String,
    state: Arc<(Mutex<Lines>, Condvar)>,
}

impl Console {
    /// Starts a thread reading `source` until it closes, logging every line
    /// with its time stamp to `log`.
    pub fn capture(name: &str, source: impl Read + Send + 'static, epoch: Instant, mut log: File) -> Self {
        let console = Self { name: name.to_string(), state: Arc::default() };
        let state = console.state.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(source);
            let mut raw = Vec::new();
            loop {
                raw.clear();
                match reader.read_until(b'\n', &mut raw) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let at = epoch.elapsed();
                let text = String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']).to_string();
                let _ = writeln!(log, "[{:>11.6}] {}", at.as_secs_f64(), text);
                let (lock, cond) = &*state;
                lock.lock().unwrap().lines.push(Line { at, text });
                cond.notify_all();
            }
            let (lock, cond) = &*state;
            lock.lock().unwrap().closed = true;
            cond.notify_all();
        });
        console
    }

    /// How many lines have arrived; a position to search from.
    pub fn mark(&self) -> usize {
        self.state.0.lock().unwrap().lines.len()
    }

    /// The first line at or after position `from` containing `needle`.
    pub fn find(&self, from: usize, needle: &str) -> Option<Line> {
        let lines = self.state.0.lock().unwrap();
        lines.lines.iter().skip(from).find(|l| l.text.contains(needle)).cloned()
    }

    /// Waits until a line at or after `from` contains `needle`.
    pub fn wait_for(&self, from: usize, needle: &str, deadline: Instant) -> Result<Line> {
        let (lock, cond) = &*self.state;
        let mut lines = lock.lock().unwrap();
        loop {
            if let Some(line) = lines.lines.iter().skip(from).find(|l| l.text.contains(needle)) {
                return Ok(line.clone());
            }
            if lines.closed {
                bail!("{}: console closed (guest gone) before {needle:?}", self.name);
            }
            let now = Instant::now();
            if now >= deadline {
                bail!("{}: timed out waiting for {needle:?} on the console", self.name);
            }
            lines = cond.wait_timeout(lines, deadline - now).unwrap().0;
        }
    }

    /// Every line from position `from` on.
    pub fn lines_from(&self, from: usize) -> Vec<Line> {
        let lines = self.state.0.lock().unwrap();
        lines.lines.iter().skip(from).cloned().collect()
    }

    /// The last `n` lines, for error reports.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let lines = self.state.0.lock().unwrap();
        let start = lines.lines.len().saturating_sub(n);
        lines.lines[start..].iter().map(|l| l.text.clone()).collect()
    }
}

/// `deadline`, or `timeout` from now if that comes first.
pub fn within(timeout: Duration, deadline: Instant) -> Instant {
    (Instant::now() + timeout).min(deadline)
}
