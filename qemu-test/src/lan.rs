// SPDX-License-Identifier: GPL-2.0

//! The clients' network: a private Ethernet segment between guests, made of
//! QEMU `dgram` backends on unix sockets and a learning switch in the
//! harness. Nothing leaves the host, nothing uses an IP port of the host.
//!
//! Each port is a pair of datagram sockets in a short-lived directory:
//! QEMU binds `qN` and sends its frames to the switch's `sN`; the switch
//! learns source addresses and forwards (unknown and broadcast frames go to
//! every other port). Every frame's first bytes also go to a pcap file,
//! for the record (a gratuitous ARP, a tickle ACK and a reconnect can be
//! read there with tcpdump).

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::SystemTime;

/// Bytes of each frame kept in the capture.
const SNAPLEN: usize = 160;
/// The capture stops growing here.
const PCAP_MAX: u64 = 8 << 20;

struct Capture {
    file: File,
    written: u64,
}

impl Capture {
    fn create(path: &Path) -> Result<Self> {
        let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        // pcap global header: magic, v2.4, GMT 0, accuracy 0, snaplen, Ethernet.
        let mut h = Vec::new();
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&(SNAPLEN as u32).to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        file.write_all(&h)?;
        Ok(Self { file, written: h.len() as u64 })
    }

    fn frame(&mut self, frame: &[u8]) {
        if self.written >= PCAP_MAX {
            return;
        }
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let kept = frame.len().min(SNAPLEN);
        let mut r = Vec::with_capacity(16 + kept);
        r.extend_from_slice(&(now.as_secs() as u32).to_le_bytes());
        r.extend_from_slice(&now.subsec_micros().to_le_bytes());
        r.extend_from_slice(&(kept as u32).to_le_bytes());
        r.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        r.extend_from_slice(&frame[..kept]);
        if self.file.write_all(&r).is_ok() {
            self.written += r.len() as u64;
        }
    }
}

struct Port {
    /// The switch's end.
    socket: UnixDatagram,
    /// QEMU's end.
    guest: PathBuf,
}

/// The segment and its switch. Dropping it stops the switch and removes
/// the sockets.
pub struct Lan {
    dir: PathBuf,
    ports: Arc<Vec<Port>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// The forwarding decision for a frame from `from`: the one port that has
/// its destination, or every other port.
fn destinations(table: &HashMap<[u8; 6], usize>, frame: &[u8], from: usize, ports: usize) -> Vec<usize> {
    let dst: [u8; 6] = frame[..6].try_into().expect("6 bytes");
    match table.get(&dst) {
        Some(&p) if dst[0] & 1 == 0 && p != from => vec![p],
        Some(_) if dst[0] & 1 == 0 => vec![],
        _ => (0..ports).filter(|&p| p != from).collect(),
    }
}

impl Lan {
    /// A segment of `ports` ports; sockets live in a new directory under
    /// the system's temporary directory (unix socket paths are short).
    pub fn start(ports: usize, pcap: Option<&Path>) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("ct-lan-{}-{}", std::process::id(), next_id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut list = Vec::new();
        for i in 0..ports {
            let path = dir.join(format!("s{i}"));
            let socket = UnixDatagram::bind(&path).with_context(|| format!("binding {}", path.display()))?;
            // A guest that reads nothing (paused, or gone) must not hold
            // up the others: a frame it has no room for is dropped, as a
            // congested switch port drops it. Receiving waits in poll(2).
            socket.set_nonblocking(true)?;
            list.push(Port { socket, guest: dir.join(format!("q{i}")) });
        }
        let ports = Arc::new(list);
        let stop = Arc::new(AtomicBool::new(false));
        let table = Arc::new(Mutex::new(HashMap::<[u8; 6], usize>::new()));
        let capture = match pcap {
            Some(p) => Some(Arc::new(Mutex::new(Capture::create(p)?))),
            None => None,
        };
        let mut threads = Vec::new();
        for i in 0..ports.len() {
            let (ports, stop, table, capture) = (ports.clone(), stop.clone(), table.clone(), capture.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    if !readable(&ports[i].socket, 200) {
                        continue;
                    }
                    let Ok(n) = ports[i].socket.recv(&mut buf) else { continue };
                    if n < 14 {
                        continue;
                    }
                    let frame = &buf[..n];
                    if let Some(c) = &capture {
                        c.lock().expect("capture").frame(frame);
                    }
                    let to = {
                        let mut table = table.lock().expect("table");
                        let src: [u8; 6] = frame[6..12].try_into().expect("6 bytes");
                        if src[0] & 1 == 0 {
                            table.insert(src, i);
                        }
                        destinations(&table, frame, i, ports.len())
                    };
                    for p in to {
                        // A guest not started (or gone) drops the frame, as
                        // an unplugged cable would.
                        let _ = ports[p].socket.send_to(frame, &ports[p].guest);
                    }
                }
            }));
        }
        Ok(Self { dir, ports, stop, threads })
    }

    /// QEMU arguments for a virtio NIC with address `mac` on port `port`.
    pub fn nic_args(&self, port: usize, mac: &str) -> Vec<String> {
        let p = &self.ports[port];
        vec![
            "-netdev".into(),
            format!(
                "dgram,id=lan,local.type=unix,local.path={},remote.type=unix,remote.path={}",
                p.guest.display(),
                self.dir.join(format!("s{port}")).display()
            ),
            "-device".into(),
            format!("virtio-net-pci,netdev=lan,mac={mac}"),
        ]
    }

    /// Frees port `port` for a guest started again (QEMU binds its end anew).
    pub fn release(&self, port: usize) {
        let _ = std::fs::remove_file(&self.ports[port].guest);
    }
}

/// Whether `socket` has a datagram within `ms` milliseconds.
fn readable(socket: &UnixDatagram, ms: i32) -> bool {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut fd, 1, ms) > 0 }
}

fn next_id() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Drop for Lan {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x08, 0x06]);
        f.extend_from_slice(&[0; 46]);
        f
    }

    const A: [u8; 6] = [0x52, 0x54, 0, 0xc7, 0, 1];
    const B: [u8; 6] = [0x52, 0x54, 0, 0xc7, 0, 2];
    const BROADCAST: [u8; 6] = [0xff; 6];

    #[test]
    fn learns_floods_unknown_and_broadcast_and_never_reflects() {
        let mut table = HashMap::new();
        assert_eq!(destinations(&table, &frame(B, A), 0, 3), [1, 2]);
        table.insert(B, 1);
        assert_eq!(destinations(&table, &frame(B, A), 0, 3), [1]);
        assert_eq!(destinations(&table, &frame(BROADCAST, A), 0, 3), [1, 2]);
        assert!(destinations(&table, &frame(B, A), 1, 3).is_empty(), "a frame for the port it came from");
    }

    #[test]
    fn frames_cross_between_two_ends() {
        let lan = Lan::start(3, None).unwrap();
        let q0 = UnixDatagram::bind(&lan.ports[0].guest).unwrap();
        let q1 = UnixDatagram::bind(&lan.ports[1].guest).unwrap();
        // Port 2's guest reads nothing at all (a paused guest): the others
        // must still get every frame.
        let _q2 = UnixDatagram::bind(&lan.ports[2].guest).unwrap();
        q1.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 128];
        for _ in 0..2000 {
            q0.send_to(&frame(BROADCAST, A), lan.dir.join("s0")).unwrap();
            let n = q1.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &frame(BROADCAST, A)[..]);
        }
        drop(lan);
    }
}
