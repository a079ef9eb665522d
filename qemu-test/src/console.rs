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
            let mut splicer = Splicer::default();
            loop {
                raw.clear();
                match reader.read_until(b'\n', &mut raw) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let at = epoch.elapsed();
                let text = String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']).to_string();
                // The log keeps the lines as they arrived; the searches see
                // them whole.
                let _ = writeln!(log, "[{:>11.6}] {}", at.as_secs_f64(), text);
                let (lock, cond) = &*state;
                lock.lock().unwrap().lines.extend(splicer.push(text).into_iter().map(|text| Line { at, text }));
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

/// A kernel message printed while a program writes a line to the console
/// cuts that line in two: "coretakeover.ser[  136.533161] coretakeover:
/// partner is alive", then "vice: start done". The splicer gives the kernel
/// message its own line and joins the program's two halves, so that a
/// search for the program's line finds it.
#[derive(Default)]
struct Splicer {
    head: Option<String>,
}

impl Splicer {
    /// The lines that `line`, as it arrived, completes.
    fn push(&mut self, line: String) -> Vec<String> {
        let line = match self.head.take() {
            Some(head) => head + &line,
            None => line,
        };
        match kernel_stamp(&line) {
            Some(at) if at > 0 => {
                self.head = Some(line[..at].to_string());
                vec![line[at..].to_string()]
            }
            _ => vec![line],
        }
    }
}

/// Where the first kernel time stamp ("[  136.533161] ", printk.time's
/// form) starts in `line`.
fn kernel_stamp(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    (0..b.len()).find(|&i| {
        if b[i] != b'[' {
            return false;
        }
        let mut j = i + 1;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        let int = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == int || j >= b.len() || b[j] != b'.' {
            return false;
        }
        let frac = j + 1;
        j = frac;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        j - frac == 6 && b.get(j) == Some(&b']') && b.get(j + 1) == Some(&b' ')
    })
}

/// `deadline`, or `timeout` from now if that comes first.
pub fn within(timeout: Duration, deadline: Instant) -> Instant {
    (Instant::now() + timeout).min(deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_cut_by_a_kernel_message_is_joined_and_the_message_kept() {
        let mut s = Splicer::default();
        assert_eq!(s.push("[    9.101293] coretakeover: version 0.1.0 loaded".into()), ["[    9.101293] coretakeover: version 0.1.0 loaded"]);
        assert_eq!(s.push("coretakeover.ser[  136.533161] coretakeover: partner is alive".into()), ["[  136.533161] coretakeover: partner is alive"]);
        assert_eq!(s.push("vice: start done".into()), ["coretakeover.service: start done"]);
        // Two kernel messages in a row inside one program line.
        assert_eq!(s.push("nfs-a (own): wai[  140.000001] one".into()), ["[  140.000001] one"]);
        assert_eq!(s.push("[  140.000002] two".into()), ["[  140.000002] two"]);
        assert_eq!(s.push("ting: disks".into()), ["nfs-a (own): waiting: disks"]);
        assert_eq!(s.push("plain line".into()), ["plain line"]);
    }

    #[test]
    fn only_printk_time_stamps_count() {
        assert_eq!(kernel_stamp("[    9.101293] x"), Some(0));
        assert_eq!(kernel_stamp("abc[12345.000001] x"), Some(3));
        for other in ["a [1.5] b", "[ 1.1234567] x", "[ 1.123456]x", "array[0] = 1", "[.123456] x", "[ 1.123456"] {
            assert_eq!(kernel_stamp(other), None, "{other}");
        }
    }
}
