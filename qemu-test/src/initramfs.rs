// SPDX-License-Identifier: GPL-2.0

//! The guest initramfs: busybox, the guest scripts of `qemu-test/guest/`, the
//! module and the CLI, written directly as a "newc" cpio archive (so building
//! it needs neither root for `/dev/console` nor a cpio program).

use anyhow::{Context, Result};
use std::path::Path;

/// The guest scripts, compiled into the harness.
const GUEST_FILES: &[(&str, &str)] = &[
    ("init", include_str!("../guest/init")),
    ("ct/serve.sh", include_str!("../guest/serve.sh")),
    ("ct/lib.sh", include_str!("../guest/lib.sh")),
    ("ct/array-setup.sh", include_str!("../guest/array-setup.sh")),
    ("ct/pattern.py", include_str!("../guest/pattern.py")),
    ("ct/poll_attr.py", include_str!("../guest/poll_attr.py")),
    ("ct/stamp_writer.py", include_str!("../guest/stamp_writer.py")),
    ("ct/uevent_listen.py", include_str!("../guest/uevent_listen.py")),
    ("ct/ynl_events.py", include_str!("../guest/ynl_events.py")),
    ("ct/badinput.py", include_str!("../guest/badinput.py")),
    ("ct/bad-input.rst", include_str!("../../Documentation/coretakeover/bad-input.rst")),
];

/// A "newc" (SVR4 without CRC) cpio archive being written into memory.
pub struct Cpio {
    data: Vec<u8>,
    next_ino: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

impl Cpio {
    pub fn new() -> Self {
        Self { data: Vec::new(), next_ino: 1 }
    }

    fn pad(&mut self) {
        while !self.data.len().is_multiple_of(4) {
            self.data.push(0);
        }
    }

    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), body: &[u8]) {
        let ino = self.next_ino;
        self.next_ino += 1;
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        let fields = [
            ino, mode, 0, 0, nlink, 0, body.len() as u32, 0, 0, rdev.0, rdev.1,
            name.len() as u32 + 1, 0,
        ];
        self.data.extend_from_slice(b"070701");
        for f in fields {
            self.data.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.data.extend_from_slice(name.as_bytes());
        self.data.push(0);
        self.pad();
        self.data.extend_from_slice(body);
        self.pad();
    }

    pub fn dir(&mut self, name: &str) {
        self.entry(name, S_IFDIR | 0o755, (0, 0), &[]);
    }

    pub fn file(&mut self, name: &str, mode: u32, body: &[u8]) {
        self.entry(name, S_IFREG | mode, (0, 0), body);
    }

    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, S_IFLNK | 0o777, (0, 0), target.as_bytes());
    }

    pub fn char_device(&mut self, name: &str, major: u32, minor: u32) {
        self.entry(name, S_IFCHR | 0o600, (major, minor), &[]);
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.data
    }
}

/// What the initramfs is built from.
pub struct Parts<'a> {
    pub busybox: &'a Path,
    pub module: &'a Path,
    pub test_module: &'a Path,
    pub cli: &'a Path,
    /// The test client's NFS workload (static).
    pub nfs_load: &'a Path,
    /// The kernel tree's `tools/net/ynl` (its cli.py and library go to
    /// `ct/ynl/`, with the family's spec), so guests need no host path.
    pub ynl: &'a Path,
    pub spec: &'a Path,
    /// The kernel's release: the module is also installed as a node would
    /// have it, under /lib/modules/RELEASE/extra.
    pub release: &'a str,
}

/// The files of `scripts/deploy/` a node has installed.
const DEPLOYED: &[(&str, &str)] = &[
    ("lib/systemd/system/coretakeover.service", include_str!("../../scripts/deploy/coretakeover.service")),
    ("lib/systemd/system/coretakeover-agent.service", include_str!("../../scripts/deploy/coretakeover-agent.service")),
];

/// The hooks a node has installed (executable).
const HOOKS: &[(&str, &str)] = &[
    ("usr/lib/coretakeover/hooks/nfs", include_str!("../../scripts/deploy/hooks/nfs")),
    ("usr/sbin/fence_coretakeover", include_str!("../../scripts/deploy/fence_coretakeover")),
    ("usr/lib/ocf/resource.d/coretakeover/coretakeover", include_str!("../../scripts/deploy/ocf/coretakeover")),
];

/// Builds the initramfs shared by the array and both nodes.
pub fn build(out: &Path, parts: &Parts<'_>) -> Result<()> {
    let Parts { busybox, module, test_module, cli, nfs_load, ynl, spec, release } = *parts;
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let mut cpio = Cpio::new();
    for dir in ["bin", "sbin", "usr", "usr/sbin", "etc", "dev", "proc", "sys", "tmp", "host", "results", "ct", "lib", "lib/systemd", "lib/systemd/system", "lib/modules", "usr/lib", "usr/lib/coretakeover", "usr/lib/coretakeover/hooks", "usr/lib/ocf", "usr/lib/ocf/resource.d", "usr/lib/ocf/resource.d/coretakeover"] {
        cpio.dir(dir);
    }
    // Installed as on a node: the command, modprobe, the module, the unit.
    cpio.symlink("usr/sbin/coretakeover", "/bin/coretakeover");
    cpio.symlink("sbin/modprobe", "/bin/busybox");
    cpio.symlink("sbin/depmod", "/bin/busybox");
    let extra = format!("lib/modules/{release}/extra");
    cpio.dir(&format!("lib/modules/{release}"));
    cpio.dir(&extra);
    cpio.symlink(&format!("{extra}/coretakeover.ko"), "/ct/coretakeover.ko");
    for (name, text) in DEPLOYED {
        cpio.file(name, 0o644, text.as_bytes());
    }
    for (name, text) in HOOKS {
        cpio.file(name, 0o755, text.as_bytes());
    }
    cpio.file("ct/ct-nfs-load", 0o755, &read(nfs_load)?);
    cpio.char_device("dev/console", 5, 1);
    cpio.file("bin/busybox", 0o755, &read(busybox)?);
    for (name, text) in GUEST_FILES {
        cpio.file(name, 0o755, text.as_bytes());
    }
    cpio.file("ct/coretakeover.ko", 0o644, &read(module)?);
    cpio.file("ct/ct_panic_trigger.ko", 0o644, &read(test_module)?);
    cpio.file("bin/coretakeover", 0o755, &read(cli)?);
    cpio.dir("ct/ynl");
    cpio.dir("ct/ynl/lib");
    cpio.file("ct/ynl/cli.py", 0o755, &read(&ynl.join("cli.py"))?);
    cpio.file("ct/ynl/coretakeover.yaml", 0o644, &read(spec)?);
    let mut libs: Vec<_> = std::fs::read_dir(ynl.join("lib"))?.collect::<Result<_, _>>()?;
    libs.sort_by_key(|e| e.file_name());
    for entry in libs {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".py") {
            cpio.file(&format!("ct/ynl/lib/{name}"), 0o644, &read(&entry.path())?);
        }
    }
    std::fs::write(out, cpio.finish()).with_context(|| format!("writing {}", out.display()))
}

/// Where Debian's fence-agents installs the capture kernel's sender.
pub const FENCE_KDUMP_SEND: &str = "/usr/libexec/fence-agents/fence_kdump_send";

/// The shared libraries `program` loads (its interpreter included), from
/// `ldd`, as absolute paths.
fn shared_libraries(program: &Path) -> Result<Vec<String>> {
    let out = std::process::Command::new("ldd").arg(program).output().context("running ldd")?;
    anyhow::ensure!(out.status.success(), "ldd {}: {}", program.display(), String::from_utf8_lossy(&out.stderr).trim());
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with('/')).map(str::to_string))
        .collect())
}

/// Builds node A's kdump capture initramfs (the bench's kdump baseline):
/// busybox, `guest/kdump-init` as /init, and Debian's `fence_kdump_send`
/// with the libraries it loads, as dracut's kdump module packs it.
pub fn build_kdump(out: &Path, busybox: &Path) -> Result<()> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let sender = Path::new(FENCE_KDUMP_SEND);
    anyhow::ensure!(sender.exists(), "{FENCE_KDUMP_SEND} not found (Debian's fence-agents; scripts/setup.sh installs it)");
    let mut cpio = Cpio::new();
    for dir in ["bin", "sbin", "dev", "proc", "sys", "tmp", "usr", "usr/libexec", "usr/libexec/fence-agents"] {
        cpio.dir(dir);
    }
    cpio.char_device("dev/console", 5, 1);
    cpio.file("bin/busybox", 0o755, &read(busybox)?);
    cpio.file("init", 0o755, include_bytes!("../guest/kdump-init"));
    cpio.file(FENCE_KDUMP_SEND.trim_start_matches('/'), 0o755, &read(sender)?);
    let mut dirs: Vec<String> = Vec::new();
    for lib in shared_libraries(sender)? {
        let rel = lib.trim_start_matches('/');
        // Parent directories first, once each.
        let mut parent = String::new();
        for part in rel.split('/').collect::<Vec<_>>().split_last().map(|(_, p)| p.to_vec()).unwrap_or_default() {
            parent = if parent.is_empty() { part.to_string() } else { format!("{parent}/{part}") };
            if !dirs.contains(&parent) && !["usr", "usr/libexec"].contains(&parent.as_str()) {
                cpio.dir(&parent);
                dirs.push(parent.clone());
            }
        }
        cpio.file(rel, 0o755, &read(Path::new(&lib))?);
    }
    std::fs::write(out, cpio.finish()).with_context(|| format!("writing {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_entries_are_aligned_and_terminated() {
        let mut cpio = Cpio::new();
        cpio.dir("ct");
        cpio.file("ct/x", 0o644, b"hello");
        let data = cpio.finish();
        assert_eq!(&data[..6], b"070701");
        assert_eq!(data.len() % 4, 0);
        // The second entry follows the first header (110 bytes) and "ct\0",
        // padded from 113 to 116 bytes.
        let second = 116;
        assert_eq!(&data[second..second + 6], b"070701");
        // File size field of the second entry (7th field) is 5.
        let size = &data[second + 6 + 6 * 8..second + 6 + 7 * 8];
        assert_eq!(size, b"00000005");
        assert!(data.windows(10).any(|w| w == b"TRAILER!!!"));
    }

    #[test]
    fn the_kdump_initramfs_holds_its_init_the_sender_and_what_it_loads() {
        // scripts/setup.sh installs fence-agents and busybox-static.
        let dir = std::env::temp_dir().join(format!("ct-kdump-cpio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let archive = dir.join("kdump.cpio");
        build_kdump(&archive, Path::new("/bin/busybox")).unwrap();
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("cd {} && cpio -id --quiet < kdump.cpio", dir.display()))
            .status()
            .unwrap();
        assert!(status.success());
        assert!(std::fs::read_to_string(dir.join("init")).unwrap().contains("fence_kdump_send -i 1 -c 0"));
        let sender = dir.join(FENCE_KDUMP_SEND.trim_start_matches('/'));
        assert!(std::fs::metadata(&sender).unwrap().len() > 0);
        // Every library the sender loads is in the archive, at its path.
        let libs = shared_libraries(Path::new(FENCE_KDUMP_SEND)).unwrap();
        assert!(libs.iter().any(|l| l.contains("libc.so")), "{libs:?}");
        for lib in libs {
            assert!(dir.join(lib.trim_start_matches('/')).is_file(), "{lib} missing from the archive");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_archive_unpacks_with_cpio() {
        // Not skipped when cpio is missing (a skip would count as a pass):
        // scripts/setup.sh installs it for `make check`.
        assert!(
            std::process::Command::new("cpio").arg("--version").output().is_ok(),
            "cpio is not installed: this test needs it (scripts/setup.sh installs it)"
        );
        let dir = std::env::temp_dir().join(format!("ct-cpio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cpio = Cpio::new();
        cpio.dir("ct");
        cpio.file("ct/hello", 0o644, b"coretakeover\n");
        let archive = dir.join("a.cpio");
        std::fs::write(&archive, cpio.finish()).unwrap();
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("cd {} && cpio -id --quiet < a.cpio", dir.display()))
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(std::fs::read_to_string(dir.join("ct/hello")).unwrap(), "coretakeover\n");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
