// SPDX-License-Identifier: GPL-2.0

//! The two-node cluster: the array, then nodes A and B booted concurrently.
//!
//! Every node sees every service LUN (its own and its partner's: A owns LUNs
//! 0..n, B owns n..2n) as SCSI target id = LUN index on its virtio-scsi bus,
//! through QEMU's iSCSI initiator with a distinct initiator name per node, and
//! both coredump disks (one per node, virtio-blk, shared read-write between
//! the two QEMUs), with polled queues enabled.

use crate::array::{Array, ArrayKind};
use crate::guest::{boot_or_retry, Guest, GuestSpec};
use crate::lan::Lan;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The programs the guests run.
pub struct Env {
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    /// The kernel's vmlinux with debug info, for drgn.
    pub vmlinux: PathBuf,
    /// The test venv's python (with drgn).
    pub python: PathBuf,
    /// crash's root (Debian 13's crash), when given.
    pub crash_root: Option<PathBuf>,
    /// The static busybox the guests' and capture kernel's initramfs hold.
    pub busybox: PathBuf,
    /// The coretakeover CLI, which also runs on the host.
    pub cli: PathBuf,
    /// The modules the nodes load (coretakeover and the test trigger), whose
    /// debug info drgn needs to unwind through their frames.
    pub modules: Vec<PathBuf>,
    /// Extra kernel command-line arguments for every guest.
    pub kernel_args: String,
    /// How much slower than the default kernel this one runs: 1, or 3 for a
    /// kernel with KASAN (the debug flavour), whose every memory access is
    /// checked. Scenario deadlines, the long waits and the stale timeout a
    /// scenario needs to see the panic beacon first are scaled by it.
    pub slow: u32,
}

impl Env {
    /// The slowness of the kernel whose vmlinux is `vmlinux`: its tree's
    /// .config (next to vmlinux) says whether it has KASAN.
    pub fn slowness_of(vmlinux: &std::path::Path) -> u32 {
        let config = vmlinux.parent().map(|d| d.join(".config")).and_then(|c| std::fs::read_to_string(c).ok()).unwrap_or_default();
        if config.lines().any(|l| l == "CONFIG_KASAN=y") {
            3
        } else {
            1
        }
    }

    /// `d` scaled by the kernel's slowness.
    pub fn scaled(&self, d: Duration) -> Duration {
        d * self.slow
    }
}

/// A node of the pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeName {
    A,
    B,
}

impl NodeName {
    pub fn letter(self) -> char {
        match self {
            Self::A => 'a',
            Self::B => 'b',
        }
    }

    /// The node id the scenarios configure (A is 1, B is 2).
    pub fn id(self) -> u16 {
        match self {
            Self::A => 1,
            Self::B => 2,
        }
    }

    pub fn initiator(self) -> String {
        format!("iqn.2026-11.org.coretakeover:node-{}", self.letter())
    }

    /// The node's port on the clients' network.
    fn port(self) -> usize {
        usize::from(self.id()) - 1
    }

    /// The node's fixed address on the clients' network.
    pub fn address(self) -> String {
        format!("10.0.0.{}", self.id())
    }
}

/// The clients' network: 10.0.0.0/24. Nodes are 10.0.0.1 and .2, their
/// services' floating addresses .11 and .12, clients .100 on.
pub const NETWORK_PREFIX: u8 = 24;

/// Client `i`'s address.
pub fn client_address(i: usize) -> String {
    format!("10.0.0.{}", 100 + i)
}

pub struct ClusterSpec {
    /// `None`: no array and no service LUNs.
    pub array: Option<ArrayKind>,
    pub luns_per_node: usize,
    pub nodes: Vec<NodeName>,
    pub node_memory_mib: u32,
    /// Nodes whose RAM differs from `node_memory_mib`, in MiB.
    pub memory_of: Vec<(NodeName, u32)>,
    pub coredump_mib: u64,
    /// Client guests; with any, the nodes and clients share a private
    /// network (`lan.rs`).
    pub clients: usize,
    /// The nodes' private network even without clients (the bench's kdump
    /// baseline sends fence_kdump messages over it).
    pub network: bool,
    /// Coredump disks on QEMU's NVMe controller (polled through
    /// `nvme.poll_queues`) instead of virtio-blk.
    pub nvme_coredump: bool,
    /// I_T nexuses per service LUN (1, or 2 for dm-multipath): path `p` of
    /// LUN `i` logs in to the array's target port `p + 1` and is SCSI target
    /// id `i + 64 p` on the node's virtio-scsi bus.
    pub paths: usize,
    /// Every LUN of the LIO array on a dm-delay device in the array guest,
    /// so that a scenario can hold the writes that reach it.
    pub hold_writes: bool,
}

/// The SCSI target id of path `p` of service LUN `i` (`lun_path_dev` in
/// `guest/lib.sh`).
pub const PATH_TARGET_STRIDE: usize = 64;

/// What a client guest gets.
const CLIENT_MIB: u32 = 256;

/// What every node's QEMU is started with.
struct NodeEnv {
    kernel_args: String,
    kernel: PathBuf,
    initramfs: PathBuf,
    /// The service LUNs' iSCSI URLs, per path.
    lun_urls: Vec<Vec<String>>,
    coredumps: Vec<(NodeName, PathBuf)>,
    /// Coredump disks on NVMe (`ClusterSpec::nvme_coredump`).
    nvme_coredump: bool,
    dir: PathBuf,
    epoch: Instant,
    /// NIC arguments per port, when there is a network.
    nics: Vec<Vec<String>>,
    /// Kernel arguments of one node's next boots (`Cluster::set_boot_args`).
    boot_args: Vec<(NodeName, String)>,
    /// Removable SCSI disks of one node's next boots (image, serial;
    /// `Cluster::add_removable_disk`).
    removable: Vec<(NodeName, PathBuf, String)>,
}

impl NodeEnv {
    /// Every node sees every service LUN and both coredump disks.
    fn spec(&self, node: NodeName, memory_mib: u32, name: String) -> GuestSpec {
        let mut devices = vec!["-iscsi".to_string(), format!("initiator-name={}", node.initiator())];
        if !self.lun_urls.is_empty() {
            devices.extend(["-device".into(), "virtio-scsi-pci,id=scsi0".into()]);
            for (p, urls) in self.lun_urls.iter().enumerate() {
                for (i, url) in urls.iter().enumerate() {
                    let (id, target) = if p == 0 { (format!("lun{i}"), i) } else { (format!("lun{i}p{p}"), i + p * PATH_TARGET_STRIDE) };
                    devices.push("-drive".into());
                    devices.push(format!("file={url},if=none,id={id},format=raw,cache=none"));
                    devices.push("-device".into());
                    devices.push(format!("scsi-block,drive={id},bus=scsi0.0,channel=0,scsi-id={target},lun=0"));
                }
            }
        }
        // A removable disk (the SCSI INQUIRY's RMB bit, so the kernel's
        // sysfs `removable` is 1), as a USB stick or a card reader shows.
        for (i, (_, image, serial)) in self.removable.iter().filter(|(n, _, _)| *n == node).enumerate() {
            if self.lun_urls.is_empty() && i == 0 {
                devices.extend(["-device".into(), "virtio-scsi-pci,id=scsi0".into()]);
            }
            let id = format!("removable{i}");
            devices.push("-drive".into());
            devices.push(format!("file={},if=none,id={id},format=raw,cache=none", image.display()));
            devices.push("-device".into());
            devices.push(format!("scsi-hd,drive={id},bus=scsi0.0,channel=0,scsi-id={},lun=0,removable=on,serial={serial}", 250 - i));
        }
        for (owner, image) in &self.coredumps {
            let l = owner.letter();
            devices.push("-drive".into());
            devices.push(format!("file={},if=none,id=coredump-{l},format=raw,cache=none,file.locking=off", image.display()));
            devices.push("-device".into());
            if self.nvme_coredump {
                devices.push(format!("nvme,drive=coredump-{l},share-rw=on,serial=coredump-{l}"));
            } else {
                // No indirect descriptors: with them the virtio driver
                // allocates a descriptor table for every request, also in the
                // panic path, and a panic from an NMI must not allocate
                // (arming warns).
                devices.push(format!("virtio-blk-pci,drive=coredump-{l},share-rw=on,serial=coredump-{l},indirect_desc=off"));
            }
        }
        devices.extend(self.shared_dirs());
        let mut ip = String::new();
        if let Some(nic) = self.nics.get(node.port()) {
            devices.extend(nic.iter().cloned());
            ip = format!(" ct.ip={}/{NETWORK_PREFIX}", node.address());
        }
        GuestSpec {
            name,
            memory_mib,
            cpus: 2,
            kernel: self.kernel.clone(),
            initramfs: self.initramfs.clone(),
            // crash_kexec_post_notifiers: a panic saves the registers of the
            // CPUs it stops, as a node configured by the admin guide does.
            append: format!(
                "ct.role=node ct.node={} ct.luns={}{ip} virtio_blk.poll_queues=1 nvme.poll_queues=1 panic=-1 loglevel=7 crash_kexec_post_notifiers {}{}",
                node.letter(),
                self.lun_urls.first().map_or(0, Vec::len),
                self.kernel_args,
                self.boot_args.iter().filter(|(n, _)| *n == node).map(|(_, a)| format!(" {a}")).collect::<String>()
            ),
            devices,
        }
    }

    /// The host's root (read-only) and the results directory, over 9p.
    fn shared_dirs(&self) -> Vec<String> {
        vec![
            "-virtfs".into(),
            "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap".into(),
            "-virtfs".into(),
            format!("local,path={},mount_tag=results,security_model=none,multidevs=remap", self.dir.display()),
        ]
    }

    /// Client `i`: one CPU, a NIC, the host's programs.
    fn client_spec(&self, i: usize) -> GuestSpec {
        let mut devices = self.shared_dirs();
        devices.extend(self.nics[2 + i].iter().cloned());
        GuestSpec {
            name: format!("client-{}", i + 1),
            memory_mib: CLIENT_MIB,
            cpus: 1,
            kernel: self.kernel.clone(),
            initramfs: self.initramfs.clone(),
            append: format!("ct.role=client ct.ip={}/{NETWORK_PREFIX} loglevel=4 {}", client_address(i), self.kernel_args),
            devices,
        }
    }
}

pub struct Cluster {
    pub deadline: Instant,
    pub dir: PathBuf,
    pub luns_per_node: usize,
    lun_images: Vec<PathBuf>,
    /// What a node is started with, to start one again.
    node_env: NodeEnv,
    restarts: u32,
    // Dropped after the nodes (fields drop in order): nodes go first, so they
    // never see their array vanish.
    nodes: Vec<(NodeName, Guest)>,
    clients: Vec<Guest>,
    array: Option<Array>,
    lan: Option<Lan>,
    /// When each guest became ready, from the epoch.
    pub boot_times: Vec<(String, Duration)>,
    /// The kernel's slowness (`Env::slow`).
    pub slow: u32,
}

/// A sparse image of `mib` MiB.
fn sparse_image(path: &Path, mib: u64) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.set_len(mib << 20)?;
    Ok(())
}

impl Cluster {
    /// Starts the array (if any), then the nodes, and waits until all are ready.
    pub fn start(spec: &ClusterSpec, env: &Env, dir: &Path, deadline: Instant) -> Result<Self> {
        let epoch = Instant::now();
        std::fs::create_dir_all(dir)?;
        let mut boot_times = Vec::new();
        let lun_count = if spec.array.is_some() { 2 * spec.luns_per_node } else { 0 };
        let mut lun_images = Vec::new();
        for i in 0..lun_count {
            let path = dir.join(format!("lun{i}.img"));
            sparse_image(&path, 64)?;
            lun_images.push(path);
        }
        let array = match spec.array {
            Some(kind) => {
                let array = Array::start(kind, &lun_images, spec.hold_writes, env, dir, epoch, deadline)?;
                boot_times.push((format!("array ({})", kind.name()), epoch.elapsed()));
                Some(array)
            }
            None => None,
        };

        let mut coredumps = Vec::new();
        for node in &spec.nodes {
            let path = dir.join(format!("coredump-{}.img", node.letter()));
            sparse_image(&path, spec.coredump_mib)?;
            coredumps.push((*node, path));
        }

        // The clients' network: A, B, then the clients.
        let lan = if spec.clients > 0 || spec.network { Some(Lan::start(2 + spec.clients, Some(&dir.join("lan.pcap")))?) } else { None };
        let nics = match &lan {
            Some(lan) => (0..2 + spec.clients).map(|p| lan.nic_args(p, &format!("52:54:00:c7:00:{:02x}", if p < 2 { p + 1 } else { 0x64 + p - 2 }))).collect(),
            None => Vec::new(),
        };
        anyhow::ensure!((1..=2).contains(&spec.paths), "a cluster has 1 or 2 paths per LUN");
        let lun_urls: Vec<Vec<String>> = match &array {
            Some(array) => (0..spec.paths).map(|p| (0..lun_count).map(|i| array.lun_url(i, p)).collect()).collect::<Result<_>>()?,
            None => Vec::new(),
        };
        let node_env = NodeEnv {
            kernel_args: env.kernel_args.clone(),
            kernel: env.kernel.clone(),
            initramfs: env.initramfs.clone(),
            lun_urls,
            coredumps,
            nvme_coredump: spec.nvme_coredump,
            dir: dir.to_path_buf(),
            epoch,
            nics,
            boot_args: Vec::new(),
            removable: Vec::new(),
        };
        let mut starting = Vec::new();
        for &node in &spec.nodes {
            let memory = spec.memory_of.iter().find(|(n, _)| *n == node).map_or(spec.node_memory_mib, |(_, m)| *m);
            starting.push((node, memory, node_env.spec(node, memory, format!("node-{}", node.letter())).start(dir, epoch)?));
        }
        let mut starting_clients = Vec::new();
        for i in 0..spec.clients {
            starting_clients.push(node_env.client_spec(i).start(dir, epoch)?);
        }
        let mut nodes = Vec::new();
        for (node, memory, guest) in starting {
            let guest = boot_or_retry(guest, deadline, |name| {
                if let Some(lan) = &lan {
                    lan.release(node.port());
                }
                node_env.spec(node, memory, name.to_string()).start(dir, epoch)
            })?;
            boot_times.push((guest.name.clone(), epoch.elapsed()));
            nodes.push((node, guest));
        }
        let mut clients = Vec::new();
        for (i, guest) in starting_clients.into_iter().enumerate() {
            let guest = boot_or_retry(guest, deadline, |name| {
                if let Some(lan) = &lan {
                    lan.release(2 + i);
                }
                let mut spec = node_env.client_spec(i);
                spec.name = name.to_string();
                spec.start(dir, epoch)
            })?;
            boot_times.push((guest.name.clone(), epoch.elapsed()));
            clients.push(guest);
        }
        let mut cluster = Self {
            node_env,
            restarts: 0,
            deadline,
            dir: dir.to_path_buf(),
            luns_per_node: spec.luns_per_node,
            lun_images,
            nodes,
            clients,
            array,
            lan,
            boot_times,
            slow: env.slow,
        };
        if lun_count > 0 {
            for node in spec.nodes.clone() {
                cluster.node(node)?.ok(&format!("wait_luns {lun_count} {}", spec.paths))?;
            }
        }
        Ok(cluster)
    }

    /// Ends `name`'s QEMU at once (as a power loss would) and boots the node
    /// again with `memory_mib` of RAM, on the same disks and the same clock.
    /// Its logs go to `node-<letter>-r<N>.*`.
    pub fn restart(&mut self, name: NodeName, memory_mib: u32) -> Result<()> {
        let index = self.nodes.iter().position(|(n, _)| *n == name).context("no such node")?;
        // Dropping the guest kills its QEMU by PID and reaps it.
        drop(self.nodes.remove(index));
        if let Some(lan) = &self.lan {
            lan.release(name.port());
        }
        self.restarts += 1;
        let guest_name = format!("node-{}-r{}", name.letter(), self.restarts);
        let first = self.node_env.spec(name, memory_mib, guest_name).start(&self.dir, self.node_env.epoch)?;
        let lan = &self.lan;
        let guest = boot_or_retry(first, self.deadline, |again| {
            if let Some(lan) = lan {
                lan.release(name.port());
            }
            self.node_env.spec(name, memory_mib, again.to_string()).start(&self.dir, self.node_env.epoch)
        })?;
        self.nodes.push((name, guest));
        let luns = self.node_env.lun_urls.first().map_or(0, Vec::len);
        if luns > 0 {
            let paths = self.node_env.lun_urls.len();
            self.node(name)?.ok(&format!("wait_luns {luns} {paths}"))?;
        }
        Ok(())
    }

    /// A removable SCSI disk of `mib` MiB (a new sparse image in the
    /// cluster's directory) for `name`'s next boots (`restart`).
    pub fn add_removable_disk(&mut self, name: NodeName, serial: &str, mib: u64) -> Result<PathBuf> {
        let image = self.dir.join(format!("{serial}.img"));
        sparse_image(&image, mib)?;
        self.node_env.removable.push((name, image.clone(), serial.to_string()));
        Ok(image)
    }

    /// Kernel arguments for `name`'s next boots (`restart`), beside the
    /// usual ones; empty for none.
    pub fn set_boot_args(&mut self, name: NodeName, args: &str) {
        self.node_env.boot_args.retain(|(n, _)| *n != name);
        if !args.is_empty() {
            self.node_env.boot_args.push((name, args.to_string()));
        }
    }

    /// Powers the LIO array off and boots it again (same port, same images).
    pub fn restart_array(&mut self, env: &Env) -> Result<()> {
        let array = self.array.as_mut().context("this cluster has no array")?;
        array.restart(&self.lun_images, env, &self.dir, self.node_env.epoch, self.deadline)
    }

    /// The LIO array's guest.
    pub fn array_guest(&mut self) -> Result<&mut Guest> {
        self.array.as_mut().and_then(Array::guest).context("this cluster has no LIO array guest")
    }

    pub fn node(&mut self, name: NodeName) -> Result<&mut Guest> {
        match self.nodes.iter_mut().find(|(n, _)| *n == name) {
            Some((_, guest)) => Ok(guest),
            None => bail!("node {} is not part of this cluster", name.letter()),
        }
    }

    /// Client guest `i` (from 0).
    pub fn client(&mut self, i: usize) -> Result<&mut Guest> {
        self.clients.get_mut(i).context("no such client")
    }

    /// The index of the `k`-th service LUN owned by `owner`.
    pub fn lun_of(&self, owner: NodeName, k: usize) -> usize {
        match owner {
            NodeName::A => k,
            NodeName::B => self.luns_per_node + k,
        }
    }

    /// The host file behind service LUN `index`.
    pub fn lun_image(&self, index: usize) -> &Path {
        &self.lun_images[index]
    }

    /// The host file behind `node`'s coredump disk.
    pub fn coredump_image(&self, node: NodeName) -> PathBuf {
        self.dir.join(format!("coredump-{}.img", node.letter()))
    }

    /// Now, on the clock of the consoles' time stamps.
    pub fn now(&self) -> Duration {
        self.node_env.epoch.elapsed()
    }

    /// Scales a wait so that it never outlasts the scenario.
    pub fn until(&self, timeout: Duration) -> Instant {
        crate::console::within(timeout, self.deadline)
    }
}
