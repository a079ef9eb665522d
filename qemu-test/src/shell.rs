// SPDX-License-Identifier: GPL-2.0

//! The command channel to a guest: its second serial port, where
//! `guest/serve.sh` runs one command per line and answers with the output and
//! a line `@@CT-DONE <status>`. Kernel messages never mix in (they go to the
//! first serial port).

use crate::qmp::connect_unix;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

const DONE: &str = "@@CT-DONE ";
/// The guest's answer to a line that arrived garbled (its length prefix
/// does not match): nothing was run, the harness sends it again.
const GARBLED: &str = "@@CT-GARBLED";

/// What a command printed (stdout and stderr together) and its exit status.
#[derive(Debug)]
pub struct Output {
    pub status: i32,
    pub text: String,
}

pub struct Shell {
    name: String,
    writer: UnixStream,
    lines: Receiver<String>,
    log: File,
    epoch: Instant,
    /// Commands that timed out but may still finish: their output and
    /// markers are skipped before the next command's.
    pending: usize,
}

impl Shell {
    pub fn connect(name: &str, path: &Path, deadline: Instant, log: File, epoch: Instant) -> Result<Self> {
        let stream = connect_unix(path, deadline)?;
        let reader = BufReader::new(stream.try_clone()?);
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in reader.split(b'\n') {
                let Ok(line) = line else { break };
                if tx.send(String::from_utf8_lossy(&line).into_owned()).is_err() {
                    break;
                }
            }
        });
        Ok(Self { name: name.to_string(), writer: stream, lines: rx, log, epoch, pending: 0 })
    }

    /// Skips what earlier, timed-out commands print when they finish late.
    fn skip_pending(&mut self, deadline: Instant) -> Result<()> {
        while self.pending > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let _ = writeln!(self.log, "[{:>11.6}] (late) {line}", self.epoch.elapsed().as_secs_f64());
                    if line.contains(DONE) {
                        self.pending -= 1;
                    }
                }
                Err(_) => bail!("{}: an earlier command is still running", self.name),
            }
        }
        Ok(())
    }

    /// Runs `command` (one line of shell) and returns its output and status.
    pub fn run(&mut self, command: &str, timeout: Duration) -> Result<Output> {
        if command.contains('\n') {
            bail!("a guest command is one line: {command:?}");
        }
        self.skip_pending(Instant::now() + timeout)?;
        let _ = writeln!(self.log, "[{:>11.6}] $ {command}", self.epoch.elapsed().as_secs_f64());
        // Each line carries its length: a serial line can lose bytes under
        // load, and a shortened command must not run.
        let send = |w: &mut UnixStream| writeln!(w, "{} {command}", command.len());
        send(&mut self.writer).with_context(|| format!("{}: sending command", self.name))?;
        let deadline = Instant::now() + timeout;
        let mut text = String::new();
        let mut resent = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    self.pending += 1;
                    bail!("{}: `{command}` did not finish within {timeout:?}; output so far:\n{text}", self.name)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    bail!("{}: command channel closed during `{command}`; output so far:\n{text}", self.name)
                }
            };
            let _ = writeln!(self.log, "[{:>11.6}] {line}", self.epoch.elapsed().as_secs_f64());
            if line.trim() == GARBLED && resent < 5 {
                resent += 1;
                send(&mut self.writer).with_context(|| format!("{}: sending command", self.name))?;
                continue;
            }
            // Output without a final newline runs into the marker: split it off.
            if let Some(pos) = line.find(DONE) {
                text.push_str(&line[..pos]);
                let status = line[pos + DONE.len()..].trim().parse().unwrap_or(-1);
                return Ok(Output { status, text });
            }
            text.push_str(&line);
            text.push('\n');
        }
    }

    /// Runs `command`, which must succeed; returns its output.
    pub fn ok(&mut self, command: &str, timeout: Duration) -> Result<String> {
        let out = self.run(command, timeout)?;
        if out.status != 0 {
            bail!("{}: `{command}` failed with status {}:\n{}", self.name, out.status, out.text.trim_end());
        }
        Ok(out.text)
    }

    /// Runs `command`, which must fail; returns its output.
    pub fn fails(&mut self, command: &str, timeout: Duration) -> Result<String> {
        let out = self.run(command, timeout)?;
        if out.status == 0 {
            bail!("{}: `{command}` succeeded but must fail:\n{}", self.name, out.text.trim_end());
        }
        Ok(out.text)
    }
}
