// SPDX-License-Identifier: GPL-2.0

//! The processes the harness starts (QEMU, tgtd), and how they end: by PID,
//! with SIGKILL, when their owner is dropped, whether the scenario passed,
//! failed or panicked. Should the harness itself be killed, the kernel sends
//! its children SIGKILL too (`PR_SET_PDEATHSIG`).

use anyhow::{Context, Result};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// A child process that is killed, by its PID, when this value is dropped.
pub struct Spawned {
    name: String,
    child: Child,
}

impl Spawned {
    /// Starts `cmd`. Start it from a thread that outlives the child (the
    /// main thread): the parent-death signal follows the spawning thread.
    pub fn start(name: &str, mut cmd: Command) -> Result<Self> {
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        Ok(Self { name: name.to_string(), child })
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Whether the process has exited (and reaps it if so).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `limit` for the process to exit; its status if it did.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let until = std::time::Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if std::time::Instant::now() < until => std::thread::sleep(std::time::Duration::from_millis(50)),
                _ => return None,
            }
        }
    }

    /// Sets the scheduling priority (nice) of every thread of the process
    /// (on Linux nice is per thread).
    pub fn set_nice(&mut self, nice: i32) -> Result<()> {
        let pid = self.child.id();
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).with_context(|| format!("threads of {}", self.name))? {
            let Ok(tid) = task?.file_name().to_string_lossy().parse::<libc::id_t>() else { continue };
            // SAFETY: setpriority(2) on a thread of our own child.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) };
        }
        Ok(())
    }

    /// Kills the process by PID now and reaps it.
    pub fn kill(&mut self) {
        if self.has_exited() {
            return;
        }
        // CAST: PIDs fit in pid_t.
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a PID of our own unreaped child: it cannot have
        // been reused for another process.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        if let Err(e) = self.child.wait() {
            eprintln!("warning: reaping {} (pid {pid}): {e}", self.name);
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill();
    }
}
