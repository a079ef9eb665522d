// SPDX-License-Identifier: GPL-2.0

//! The command channel to a guest: its second serial port, where
//! `guest/serve.sh` runs one command per line and answers with the output and
//! a line `@@CT-DONE <status> <bytes>`. Kernel messages never mix in (they go
//! to the first serial port). Both directions are checked: a command carries
//! its length (a shortened one is not run, and is sent again), and a reply
//! the number of bytes the guest sent (a reply that lost bytes on the way is
//! an error, never parsed as if whole).

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

/// A thread reading `stream` line by line: each line as text, and its
/// length on the wire (without the newline).
fn read_lines(stream: UnixStream) -> Receiver<(String, usize)> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).split(b'\n') {
            let Ok(line) = line else { break };
            if tx.send((String::from_utf8_lossy(&line).into_owned(), line.len())).is_err() {
                break;
            }
        }
    });
    rx
}

/// The exit status and the byte count of a `@@CT-DONE` line's rest.
fn parse_done(rest: &str) -> Option<(i32, usize)> {
    let mut words = rest.split_whitespace();
    let status = words.next()?.parse().ok()?;
    let sent = words.next()?.parse().ok()?;
    words.next().is_none().then_some((status, sent))
}

/// What a command printed (stdout and stderr together) and its exit status.
#[derive(Debug)]
pub struct Output {
    pub status: i32,
    pub text: String,
}

pub struct Shell {
    name: String,
    writer: UnixStream,
    /// Each line as text, and how many bytes it had on the wire.
    lines: Receiver<(String, usize)>,
    log: File,
    epoch: Instant,
    /// Commands that timed out but may still finish: their output and
    /// markers are skipped before the next command's.
    pending: usize,
}

impl Shell {
    pub fn connect(name: &str, path: &Path, deadline: Instant, log: File, epoch: Instant) -> Result<Self> {
        let stream = connect_unix(path, deadline)?;
        let lines = read_lines(stream.try_clone()?);
        Ok(Self { name: name.to_string(), writer: stream, lines, log, epoch, pending: 0 })
    }

    /// Skips what earlier, timed-out commands print when they finish late.
    fn skip_pending(&mut self, deadline: Instant) -> Result<()> {
        while self.pending > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((line, _)) => {
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
        let mut received = 0usize;
        let mut resent = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (line, wire) = match self.lines.recv_timeout(left) {
                Ok(got) => got,
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
                // The marker is ASCII: what came before it on the wire is
                // the line's bytes less the marker's.
                received += wire - (line.len() - pos);
                let (status, sent) = parse_done(&line[pos + DONE.len()..])
                    .with_context(|| format!("{}: a malformed end of reply to `{command}`: {line:?}", self.name))?;
                if sent != received {
                    bail!("{}: the reply to `{command}` lost bytes on the way: the guest sent {sent}, {received} arrived:\n{text}", self.name);
                }
                return Ok(Output { status, text });
            }
            text.push_str(&line);
            text.push('\n');
            received += wire + 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_done_line_gives_the_status_and_the_bytes_sent() {
        assert_eq!(parse_done("0 123"), Some((0, 123)));
        assert_eq!(parse_done("3 0\r"), Some((3, 0)));
        assert_eq!(parse_done("0"), None, "no byte count: an older guest, or a cut line");
        assert_eq!(parse_done("0 12x"), None);
        assert_eq!(parse_done("0 12 7"), None);
    }

    /// A guest on the other end of a socket pair, answering one command.
    fn answer(reply: &'static [u8]) -> Shell {
        let (ours, theirs) = UnixStream::pair().unwrap();
        std::thread::spawn(move || {
            let mut theirs = theirs;
            let mut line = String::new();
            BufReader::new(theirs.try_clone().unwrap()).read_line(&mut line).unwrap();
            theirs.write_all(reply).unwrap();
        });
        let path = std::env::temp_dir().join(format!("ct-shell-test-{}-{}", std::process::id(), reply.len()));
        let log = File::create(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let lines = read_lines(ours.try_clone().unwrap());
        Shell { name: "guest".into(), writer: ours, lines, log, epoch: Instant::now(), pending: 0 }
    }

    #[test]
    fn a_whole_reply_is_taken_and_one_that_lost_bytes_is_an_error() {
        let out = answer(b"hello\nno newline@@CT-DONE 2 16\n").run("x", Duration::from_secs(5)).unwrap();
        assert_eq!((out.status, out.text.as_str()), (2, "hello\nno newline"));
        // Bytes that are not UTF-8 count as they were sent.
        let out = answer(b"\xff\xfe\n@@CT-DONE 0 3\n").run("x", Duration::from_secs(5)).unwrap();
        assert_eq!(out.status, 0);
        let lost = answer(b"helo\n@@CT-DONE 0 6\n").run("x", Duration::from_secs(5)).unwrap_err();
        assert!(format!("{lost:#}").contains("the guest sent 6, 5 arrived"), "{lost:#}");
    }
}
