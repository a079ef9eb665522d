// SPDX-License-Identifier: GPL-2.0

//! A minimal QMP (QEMU Machine Protocol) client over QEMU's Unix socket: the
//! harness uses it to stop and resume a node's vCPUs, throttle its disks, or
//! end it.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Qmp {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

/// Connects to a Unix socket that QEMU creates shortly after starting.
pub fn connect_unix(path: &Path, deadline: Instant) -> Result<UnixStream> {
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("connecting to {}", path.display()))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

impl Qmp {
    pub fn connect(path: &Path, deadline: Instant) -> Result<Self> {
        let stream = connect_unix(path, deadline)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut qmp = Self { writer: stream.try_clone()?, reader: BufReader::new(stream) };
        let greeting = qmp.read_message()?;
        if greeting.get("QMP").is_none() {
            bail!("not a QMP greeting: {greeting}");
        }
        qmp.execute("qmp_capabilities", json!({}))?;
        Ok(qmp)
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            bail!("QMP connection closed");
        }
        Ok(serde_json::from_str(&line)?)
    }

    /// Runs one command and returns its `return` value; events are skipped.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value> {
        let request = json!({ "execute": command, "arguments": arguments });
        writeln!(self.writer, "{request}")?;
        loop {
            let reply = self.read_message()?;
            if let Some(ret) = reply.get("return") {
                return Ok(ret.clone());
            }
            if let Some(err) = reply.get("error") {
                return Err(anyhow!("QMP {command}: {err}"));
            }
        }
    }
}
