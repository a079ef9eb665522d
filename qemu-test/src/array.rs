// SPDX-License-Identifier: GPL-2.0

//! The shared storage: the service LUNs of both nodes, served over iSCSI on a
//! port of 127.0.0.1 that is free for this run. Two kinds:
//!
//! - `lio`: a third guest, the *array*, running the kernel's own SCSI target
//!   (full SPC-3 persistent reservations, PREEMPT AND ABORT included); QEMU
//!   forwards only its iSCSI port to the host's loopback;
//! - `tgt`: `tgtd` on the host, lighter, without PREEMPT AND ABORT.
//!
//! Either way each LUN is a sparse image on the host, so a test can check what
//! reached the media.

use crate::console::within;
use crate::guest::{boot_or_retry, Guest, GuestSpec};
use crate::procs::Spawned;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The iSCSI target name under which the array exports all service LUNs.
pub const ARRAY_IQN: &str = "iqn.2026-11.org.coretakeover:array";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ArrayKind {
    /// LIO in a guest: SPC-3 PR with PREEMPT AND ABORT.
    Lio,
    /// tgtd on the host: PR without PREEMPT AND ABORT.
    Tgt,
}

impl ArrayKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Lio => "lio",
            Self::Tgt => "tgt",
        }
    }

    /// Whether PERSISTENT RESERVE OUT with PREEMPT AND ABORT is implemented.
    pub fn has_preempt_abort(self) -> bool {
        self == Self::Lio
    }
}

pub struct Array {
    pub kind: ArrayKind,
    pub port: u16,
    /// The LIO array's second target port (portal group 2), on 127.0.0.1.
    pub port2: u16,
    /// The array guest (LIO); held so that it lives as long as the array.
    guest: Option<Guest>,
    _tgtd: Option<Spawned>,
    restarts: u32,
    /// Every LUN of the LIO array sits on a dm-delay device, so that a
    /// scenario can hold the writes that reach it (`hold_writes` in
    /// `guest/lib.sh`).
    hold: bool,
}

impl Array {
    /// The LIO array's guest (none for tgt, which runs on the host).
    pub fn guest(&mut self) -> Option<&mut Guest> {
        self.guest.as_mut()
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

impl Array {
    /// Starts the array with one LUN per image, in order.
    /// With `hold`, every LUN of the LIO array sits on a dm-delay device
    /// (delay 0 until a scenario sets one), the host's programs (dmsetup)
    /// reachable in the array guest.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        kind: ArrayKind,
        luns: &[PathBuf],
        hold: bool,
        env: &crate::cluster::Env,
        dir: &Path,
        epoch: Instant,
        deadline: Instant,
    ) -> Result<Self> {
        if hold && kind != ArrayKind::Lio {
            bail!("writes can be held only in the LIO array (tgtd writes its backing files from the host)");
        }
        Self::start_on(kind, (free_port()?, free_port()?), "array", luns, hold, env, dir, epoch, deadline)
    }

    /// Powers the LIO array off and boots it again on the same port and
    /// images: its persistent-reservation state is gone (it lives in the
    /// guest's memory), the data is not.
    pub fn restart(&mut self, luns: &[PathBuf], env: &crate::cluster::Env, dir: &Path, epoch: Instant, deadline: Instant) -> Result<()> {
        if let Some(mut guest) = self.guest.take() {
            guest.kill();
        }
        self.restarts += 1;
        let name = format!("array-r{}", self.restarts);
        let restarts = self.restarts;
        *self = Self::start_on(self.kind, (self.port, self.port2), &name, luns, self.hold, env, dir, epoch, deadline)?;
        self.restarts = restarts;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn start_on(
        kind: ArrayKind,
        (port, port2): (u16, u16),
        name: &str,
        luns: &[PathBuf],
        hold: bool,
        env: &crate::cluster::Env,
        dir: &Path,
        epoch: Instant,
        deadline: Instant,
    ) -> Result<Self> {
        match kind {
            ArrayKind::Lio => {
                let mut devices = vec!["-device".into(), "virtio-scsi-pci,id=scsi0".into()];
                for (i, image) in luns.iter().enumerate() {
                    devices.push("-drive".into());
                    devices.push(format!(
                        "file={},if=none,id=lun{i},format=raw,cache=none,aio=threads",
                        image.display()
                    ));
                    devices.push("-device".into());
                    devices.push(format!("scsi-hd,drive=lun{i},bus=scsi0.0,channel=0,scsi-id={i},lun=0"));
                }
                devices.push("-netdev".into());
                devices.push(format!("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:3260,hostfwd=tcp:127.0.0.1:{port2}-:3261"));
                devices.push("-device".into());
                devices.push("virtio-net-pci,netdev=n0".into());
                if hold {
                    devices.push("-virtfs".into());
                    devices.push("local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap".into());
                }
                let spec = GuestSpec {
                    name: name.into(),
                    memory_mib: 384,
                    cpus: 1,
                    kernel: env.kernel.clone(),
                    initramfs: env.initramfs.clone(),
                    append: format!("ct.role=array ct.luns={} ct.hold={} quiet panic=-1 {}", luns.len(), u8::from(hold), env.kernel_args),
                    devices,
                };
                let again = GuestSpec { name: String::new(), ..spec.clone() };
                let guest = boot_or_retry(spec.start(dir, epoch)?, within(Duration::from_secs(120), deadline), |name| {
                    GuestSpec { name: name.to_string(), ..again }.start(dir, epoch)
                })?;
                Ok(Self { kind, port, port2, guest: Some(guest), _tgtd: None, restarts: 0, hold })
            }
            ArrayKind::Tgt => {
                let tgtd = start_tgtd(port, luns, dir, deadline)?;
                Ok(Self { kind, port, port2, guest: None, _tgtd: Some(tgtd), restarts: 0, hold })
            }
        }
    }

    /// The number by which initiators address LUN `index` (tgt keeps LUN 0
    /// for its controller).
    fn lun_number(&self, index: usize) -> usize {
        match self.kind {
            ArrayKind::Lio => index,
            ArrayKind::Tgt => index + 1,
        }
    }

    /// QEMU's iSCSI URL of LUN `index` through target port `path + 1`.
    pub fn lun_url(&self, index: usize, path: usize) -> Result<String> {
        let port = match (path, self.kind) {
            (0, _) => self.port,
            (1, ArrayKind::Lio) => self.port2,
            _ => bail!("the {} array has no target port {}", self.kind.name(), path + 1),
        };
        Ok(format!("iscsi://127.0.0.1:{}/{}/{}", port, ARRAY_IQN, self.lun_number(index)))
    }
}

fn start_tgtd(port: u16, luns: &[PathBuf], dir: &Path, deadline: Instant) -> Result<Spawned> {
    // The control port only names tgtd's control socket (0..=32767); the TCP
    // port is unique for this run, so it makes a unique control port too.
    let control = (port % 32768).to_string();
    let log = File::create(dir.join("tgtd.log"))?;
    let mut cmd = Command::new("tgtd");
    cmd.args(["-f", "-C", &control, "--iscsi", &format!("portal=127.0.0.1:{port}")]);
    cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    let mut tgtd = Spawned::start("tgtd", cmd)?;
    let tgtadm = |args: &[&str]| -> Result<()> {
        let out = Command::new("tgtadm").args(["--lld", "iscsi", "-C", &control]).args(args).output()?;
        if !out.status.success() {
            bail!("tgtadm {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    };
    let ready_by = within(Duration::from_secs(15), deadline);
    while tgtadm(&["--op", "show", "--mode", "target"]).is_err() {
        if tgtd.has_exited() || Instant::now() >= ready_by {
            bail!("tgtd did not start (see tgtd.log)");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    tgtadm(&["--op", "new", "--mode", "target", "--tid", "1", "-T", ARRAY_IQN])?;
    for (i, image) in luns.iter().enumerate() {
        let lun = (i + 1).to_string();
        let path = image.to_str().context("LUN image path is not UTF-8")?;
        tgtadm(&["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", &lun, "-b", path])?;
    }
    tgtadm(&["--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"])?;
    Ok(tgtd)
}
