// SPDX-License-Identifier: GPL-2.0

//! The test client's workload on an NFS mount, and its own check.
//!
//! `ct-nfs-load run DIR TAG [WRITERS] [INTERVAL_MS]` starts WRITERS threads
//! (2 by default); writer *i* appends 64-byte records to `DIR/TAG-wI.rec`,
//! each with its sequence number and a CRC32C, and after the record's
//! `fsync` returns prints
//!
//! ```text
//! @@ACK TAG wI SEQ
//! ```
//!
//! An acknowledged record is one the application was told is on stable
//! storage: it must survive anything the pair does. One more thread runs a
//! mix of non-idempotent operations in `DIR/TAG-ops/`: create (exclusive),
//! write, fsync, rename, read back and check, unlink the previous file; it
//! prints `@@OPS TAG N` per round. An error returned to the application is
//! printed `@@ERR TAG WHAT N ERRNO`, except the answers a replayed
//! non-idempotent request gets after a server moved (the first execution's
//! reply was lost with the server, the retry finds its effect done):
//! unlink answered ENOENT, rename answered ENOENT with the target in place,
//! exclusive create answered EEXIST on our own empty file; those print
//! `@@REPLAY TAG WHAT N ERRNO`. Before it unlinks the previous round's
//! file it looks it up: a file whose rename was acknowledged and that the
//! server no longer has is an acknowledged operation lost, printed
//! `@@LOST TAG rename N ERRNO` (and the directory's listing, `@@DIAG`).
//! Lines are written whole, one per write;
//! the harness stamps each with the host's clock. SIGTERM ends it after
//! the operations in flight.
//!
//! `ct-nfs-load verify DIR TAG WRITERS` reads every writer's file back and
//! prints `@@VERIFY TAG wI good=G records=R bad=SEQ,...`: G valid records
//! in a row from the start, R records in the file, and the first few
//! invalid ones. The harness compares G with the last SEQ acknowledged.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

const RECORD: usize = 64;
const MAGIC: &[u8; 4] = b"CTR1";

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// One line, written whole.
fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("{line}\n").as_bytes());
    let _ = out.flush();
}

fn record(writer: u32, seq: u64) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[..4].copy_from_slice(MAGIC);
    r[4..8].copy_from_slice(&writer.to_le_bytes());
    r[8..16].copy_from_slice(&seq.to_le_bytes());
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    r[16..24].copy_from_slice(&now.to_le_bytes());
    for (i, b) in r[24..60].iter_mut().enumerate() {
        *b = (seq.wrapping_mul(31).wrapping_add(i as u64) ^ u64::from(writer)) as u8;
    }
    let crc = crc32c::crc32c(&r[..60]);
    r[60..].copy_from_slice(&crc.to_le_bytes());
    r
}

/// Whether `r` is writer `writer`'s record number `seq`, intact.
fn valid(r: &[u8], writer: u32, seq: u64) -> bool {
    r.len() == RECORD
        && &r[..4] == MAGIC
        && r[4..8] == writer.to_le_bytes()
        && r[8..16] == seq.to_le_bytes()
        && r[60..] == crc32c::crc32c(&r[..60]).to_le_bytes()
        && r[24..60].iter().enumerate().all(|(i, b)| *b == (seq.wrapping_mul(31).wrapping_add(i as u64) ^ u64::from(writer)) as u8)
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(-1)
}

fn writer_path(dir: &Path, tag: &str, w: u32) -> PathBuf {
    dir.join(format!("{tag}-w{w}.rec"))
}

fn writer(dir: PathBuf, tag: String, w: u32, interval: Duration) {
    let path = writer_path(&dir, &tag, w);
    let file = loop {
        match OpenOptions::new().write(true).create(true).truncate(false).open(&path) {
            Ok(f) => break f,
            Err(e) => {
                say(format!("@@ERR {tag} w{w}-open 0 {}", errno(&e)));
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    };
    // Continue after what is there (a run after a failover appends).
    let mut seq = file.metadata().map_or(0, |m| m.len() / RECORD as u64);
    while !STOP.load(Ordering::SeqCst) {
        let r = record(w, seq);
        if let Err(e) = file.write_all_at(&r, seq * RECORD as u64) {
            say(format!("@@ERR {tag} w{w}-write {seq} {}", errno(&e)));
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        if let Err(e) = file.sync_all() {
            say(format!("@@ERR {tag} w{w}-fsync {seq} {}", errno(&e)));
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        say(format!("@@ACK {tag} w{w} {seq}"));
        seq += 1;
        std::thread::sleep(interval);
    }
}

fn content(n: u64) -> Vec<u8> {
    format!("coretakeover op {n}\n").repeat(32).into_bytes()
}

/// What the server lists of the operations' directory around round `n`
/// (a fresh READDIR), for the record of a failure.
fn listing(d: &Path, tag: &str, n: u64) {
    let names = match std::fs::read_dir(d) {
        Ok(entries) => {
            let mut v: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            v.sort();
            v.join(",")
        }
        Err(e) => format!("error {}", errno(&e)),
    };
    say(format!("@@DIAG {tag} {n} listing {names}"));
}

/// One failed or replayed operation.
fn op_error(tag: &str, what: &str, n: u64, e: &std::io::Error, replayed: bool) {
    let kind = if replayed { "REPLAY" } else { "ERR" };
    say(format!("@@{kind} {tag} {what} {n} {}", errno(e)));
}

fn ops(dir: PathBuf, tag: String, interval: Duration) {
    let d = dir.join(format!("{tag}-ops"));
    while let Err(e) = std::fs::create_dir_all(&d) {
        op_error(&tag, "mkdir", 0, &e, false);
        std::thread::sleep(Duration::from_millis(500));
    }
    // Continue after what an earlier run left.
    let mut n = 0;
    if let Ok(entries) = std::fs::read_dir(&d) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(i) = name.strip_prefix('f').and_then(|s| s.parse::<u64>().ok()) {
                n = n.max(i + 1);
            }
            if name.starts_with('t') {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    while !STOP.load(Ordering::SeqCst) {
        let tmp = d.join(format!("t{n}"));
        let fin = d.join(format!("f{n}"));
        let body = content(n);
        // Exclusive create, write, fsync.
        let created = OpenOptions::new().write(true).create_new(true).mode(0o644).open(&tmp);
        let file = match created {
            Ok(f) => Some(f),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                // Our own create, replayed: the file is there and empty.
                let ours = std::fs::metadata(&tmp).is_ok_and(|m| m.len() == 0);
                op_error(&tag, "create", n, &e, ours);
                if ours {
                    OpenOptions::new().write(true).open(&tmp).ok()
                } else {
                    None
                }
            }
            Err(e) => {
                op_error(&tag, "create", n, &e, false);
                None
            }
        };
        let Some(file) = file else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        let written = file.write_all_at(&body, 0).and_then(|()| file.sync_all());
        drop(file);
        if let Err(e) = written {
            op_error(&tag, "write", n, &e, false);
            let _ = std::fs::remove_file(&tmp);
            continue;
        }
        if let Err(e) = std::fs::rename(&tmp, &fin) {
            let done = e.raw_os_error() == Some(libc::ENOENT) && std::fs::read(&fin).is_ok_and(|b| b == body);
            op_error(&tag, "rename", n, &e, done);
            if !done {
                let _ = std::fs::remove_file(&tmp);
                continue;
            }
        }
        match std::fs::read(&fin) {
            Ok(b) if b == body => {}
            Ok(b) => say(format!("@@ERR {tag} read-mismatch {n} {}", b.len())),
            Err(e) => {
                op_error(&tag, "read", n, &e, false);
                listing(&d, &tag, n);
            }
        }
        if n > 0 {
            let prev = d.join(format!("f{}", n - 1));
            // The previous round's rename was acknowledged and nothing has
            // removed its file since: a lookup (idempotent, never a replay)
            // that finds it gone means the server lost an acknowledged
            // operation. (Without this look, the unlink's ENOENT below
            // would pass for a replay.)
            if let Err(e) = std::fs::symlink_metadata(&prev) {
                if e.raw_os_error() == Some(libc::ENOENT) {
                    say(format!("@@LOST {tag} rename {} {}", n - 1, errno(&e)));
                    listing(&d, &tag, n);
                }
            }
            if let Err(e) = std::fs::remove_file(&prev) {
                // The previous file was there (this loop made it): ENOENT
                // is our own unlink, replayed.
                op_error(&tag, "unlink", n - 1, &e, e.raw_os_error() == Some(libc::ENOENT));
            }
        }
        say(format!("@@OPS {tag} {n}"));
        n += 1;
        std::thread::sleep(interval);
    }
}

fn run(dir: PathBuf, tag: String, writers: u32, interval: Duration) {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    say(format!("@@START {tag} {writers} writers"));
    let mut threads = Vec::new();
    for w in 0..writers {
        let (dir, tag) = (dir.clone(), tag.clone());
        threads.push(std::thread::spawn(move || writer(dir, tag, w, interval)));
    }
    let (d, t) = (dir.clone(), tag.clone());
    threads.push(std::thread::spawn(move || ops(d, t, interval)));
    for t in threads {
        let _ = t.join();
    }
    say(format!("@@STOP {tag}"));
}

fn verify(dir: &Path, tag: &str, writers: u32) -> bool {
    let mut ok = true;
    for w in 0..writers {
        let path = writer_path(dir, tag, w);
        let mut data = Vec::new();
        if let Err(e) = File::open(&path).and_then(|mut f| f.read_to_end(&mut data)) {
            say(format!("@@VERIFY {tag} w{w} error={}", errno(&e)));
            ok = false;
            continue;
        }
        let records = data.len() / RECORD;
        let mut good = 0;
        let mut bad = Vec::new();
        for (seq, r) in data.chunks(RECORD).enumerate() {
            if valid(r, w, seq as u64) {
                if bad.is_empty() {
                    good = seq + 1;
                }
            } else if bad.len() < 5 {
                bad.push(seq.to_string());
            }
        }
        say(format!("@@VERIFY {tag} w{w} good={good} records={records} bad={}", if bad.is_empty() { "-".into() } else { bad.join(",") }));
    }
    ok
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: ct-nfs-load run DIR TAG [WRITERS] [INTERVAL_MS] | verify DIR TAG WRITERS";
    let number = |i: usize, default: u64| args.get(i).map_or(Some(default), |s| s.parse().ok());
    match (args.get(1).map(String::as_str), args.get(2), args.get(3)) {
        (Some("run"), Some(dir), Some(tag)) => {
            let (Some(writers), Some(ms)) = (number(4, 2), number(5, 20)) else {
                eprintln!("{usage}");
                return std::process::ExitCode::from(2);
            };
            run(PathBuf::from(dir), tag.clone(), writers as u32, Duration::from_millis(ms));
            std::process::ExitCode::SUCCESS
        }
        (Some("verify"), Some(dir), Some(tag)) => {
            let Some(writers) = number(4, 2) else {
                eprintln!("{usage}");
                return std::process::ExitCode::from(2);
            };
            if verify(Path::new(dir), tag, writers as u32) {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!("{usage}");
            std::process::ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_check_themselves() {
        let r = record(1, 42);
        assert!(valid(&r, 1, 42));
        assert!(!valid(&r, 0, 42), "another writer's record");
        assert!(!valid(&r, 1, 43), "another sequence number");
        let mut torn = r;
        torn[30] ^= 1;
        assert!(!valid(&torn, 1, 42));
        assert!(!valid(&[0u8; RECORD], 1, 42));
    }

    #[test]
    fn a_run_and_its_verification_on_a_local_directory() {
        let dir = std::env::temp_dir().join(format!("ct-nfs-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.clone();
        let t = std::thread::spawn(move || writer(d, "t".into(), 0, Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(100));
        STOP.store(true, Ordering::SeqCst);
        t.join().unwrap();
        let data = std::fs::read(writer_path(&dir, "t", 0)).unwrap();
        assert!(data.len() >= RECORD && data.len().is_multiple_of(RECORD));
        assert!(data.chunks(RECORD).enumerate().all(|(i, r)| valid(r, 0, i as u64)));
        // A damaged record in the middle is found.
        let mut f = OpenOptions::new().write(true).open(writer_path(&dir, "t", 0)).unwrap();
        f.write_all_at(&[0xff; 4], 8).unwrap();
        f.flush().unwrap();
        assert!(!valid(&std::fs::read(writer_path(&dir, "t", 0)).unwrap()[..RECORD], 0, 0));
        STOP.store(false, Ordering::SeqCst);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
