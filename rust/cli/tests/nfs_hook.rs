// SPDX-License-Identifier: GPL-2.0

//! The NFS hook's refusals, on the host: each comes before anything is
//! created (the QEMU scenarios nfs-panic and nfs-hang run it for real).

use std::path::{Path, PathBuf};
use std::process::Command;

fn hook() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/deploy/hooks/nfs")
}

/// A test's configuration directory, removed when the test ends, passed
/// or failed.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn conf_dir(test: &str, text: Option<&str>) -> Scratch {
    let d = std::env::temp_dir().join(format!("ct-nfs-hook-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    if let Some(text) = text {
        std::fs::write(d.join("ct-test-svc.conf"), text).unwrap();
    }
    Scratch(d)
}

/// Programs the hook would change the machine with: in these tests they
/// are stand-ins that only say they were called (a refusal must come
/// before any of them, and nothing here may touch the host).
const GUARDED: &[&str] = &["ip", "mount", "umount", "mountpoint", "unshare", "nsenter", "mkdir", "rm", "kill"];

fn guard(dir: &Path) -> PathBuf {
    let bin = dir.join("guard");
    std::fs::create_dir_all(&bin).unwrap();
    for name in GUARDED {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\necho \"GUARD: {name} $*\" >&2\nexit 99\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// Runs the hook; its exit status and what it printed.
fn run(dir: &Path, args: &[&str], disks: &str) -> (i32, String) {
    let path = format!("{}:{}", guard(dir).display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("sh")
        .arg(hook())
        .args(args)
        .env("PATH", path)
        .env("CORETAKEOVER_NFS_CONF_DIR", dir)
        .env("CORETAKEOVER_DISKS", disks)
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

const CONF: &str = "DEVICE=/dev/disk/by-id/ct-test-not-a-disk\nMOUNTPOINT=/srv/ct-test-svc\n\
                    EXPORTS='/srv/ct-test-svc 10.0.0.0/24(rw,fsid=0)'\nADDRESS=10.0.0.11/24\n";

#[test]
fn bad_invocations_and_configurations_are_refused() {
    let d = conf_dir("bad", None);
    let (code, out) = run(&d, &[], "");
    assert_ne!(code, 0, "{out}");
    let (code, out) = run(&d, &["start", "ct-test-svc"], "");
    assert_eq!(code, 1);
    assert!(out.contains("no configuration"), "{out}");
    let d = conf_dir("incomplete", Some(&CONF.replace("ADDRESS=10.0.0.11/24\n", "")));
    let (code, out) = run(&d, &["start", "ct-test-svc"], "/dev/disk/by-id/ct-test-not-a-disk");
    assert_eq!(code, 1);
    assert!(out.contains("ADDRESS is not set"), "{out}");
    let d = conf_dir("event", Some(CONF));
    let (code, out) = run(&d, &["restart", "ct-test-svc"], "");
    assert_eq!(code, 1);
    assert!(out.contains("unknown event"), "{out}");
    // The configuration is sourced as root: writable by others, or a link,
    // it is refused before it is read.
    use std::os::unix::fs::PermissionsExt;
    let d = conf_dir("mode", Some(CONF));
    let conf = d.join("ct-test-svc.conf");
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, out) = run(&d, &["start", "ct-test-svc"], "");
    assert!(code == 1 && out.contains("writable by its group or others (mode 666)"), "{out}");
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&*d, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (code, out) = run(&d, &["start", "ct-test-svc"], "");
    assert!(code == 1 && out.contains("writable by its group or others (mode 777)"), "{out}");
    std::fs::set_permissions(&*d, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&conf, d.join("real.conf")).unwrap();
    std::os::unix::fs::symlink(d.join("real.conf"), &conf).unwrap();
    let (code, out) = run(&d, &["start", "ct-test-svc"], "");
    assert!(code == 1 && out.contains("is a symbolic link: refused"), "{out}");
    // The export is a subdirectory: the instance's state is never in it.
    for bad in [".", "..", "/srv", "a/../b"] {
        let d = conf_dir("export-dir", Some(&format!("{CONF}EXPORT_DIR={bad}\n")));
        let (code, out) = run(&d, &["start", "ct-test-svc"], "");
        assert!(code == 1 && out.contains("EXPORT_DIR must be a subdirectory"), "{bad}: {out}");
    }
}

#[test]
fn a_filesystem_on_a_disk_not_held_is_never_mounted() {
    let d = conf_dir("held", Some(CONF));
    // A configured device that is no block device is refused first.
    let (code, out) = run(&d, &["start", "ct-test-svc"], "/dev/disk/by-id/ct-test-not-a-disk");
    assert_eq!(code, 1);
    assert!(out.contains("is not a block device") && !out.contains("GUARD"), "{out}");
    // A block device this node does not hold: refused.
    let real = std::fs::read_dir("/sys/class/block")
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| PathBuf::from("/dev").join(e.file_name()))
        .find(|p| p.exists());
    if let Some(real) = real {
        let d = conf_dir("held-real", Some(&CONF.replace("/dev/disk/by-id/ct-test-not-a-disk", &real.to_string_lossy())));
        for disks in ["/dev/disk/by-id/some-other-disk", ""] {
            let (code, out) = run(&d, &["start", "ct-test-svc"], disks);
            assert_eq!(code, 1, "{out}");
            assert!(out.contains("is not among the disks this node holds") && !out.contains("GUARD"), "{out}");
        }
        std::fs::remove_dir_all(d).unwrap();
    }
    assert!(!Path::new("/run/coretakeover/nfs/ct-test-svc").exists(), "the refusal created the instance's directory");
    // A service that does not run here: monitor says so, stop has nothing to do.
    let (code, out) = run(&d, &["monitor", "ct-test-svc"], "");
    assert_eq!(code, 1);
    assert!(out.contains("not running"), "{out}");
    std::fs::remove_dir_all(d).unwrap();
}
