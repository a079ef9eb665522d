// SPDX-License-Identifier: GPL-2.0

//! savecore's whole read path (`rust/cli/src/savecore.rs` through the CLI's
//! library: the label, both header copies, the RAM ranges, page map, chunk
//! table and checksum table, the CPUs' notes, decompression, the ELF writer)
//! over a crafted coredump disk image: it never panics, and with libFuzzer's
//! `-rss_limit_mb` never takes more than that much memory.
//!
//! The input: a dump header (sealed with a valid checksum, as the `header`
//! target does, and given the label's disk UUID so that it is not refused
//! as another disk's), then the bytes of the disk from 1 MiB on, where the
//! module puts the page map, tables and data. The image is a sparse file of
//! 64 MiB on a filesystem that takes O_DIRECT (savecore opens disks so):
//! the system's temporary directory, or CT_FUZZ_DIR.
#![no_main]

#[path = "common.rs"]
mod common;

use coretakeover_cli::savecore;
use coretakeover_core::header::{Header, HEADER_COPY_OFFSETS, HEADER_SIZE};
use coretakeover_core::ids::{ClusterId, NodeId};
use coretakeover_core::label::{Label, LABEL_OFFSET};
use libfuzzer_sys::fuzz_target;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

const IMAGE_BYTES: u64 = 16 << 20;
const BODY_OFFSET: u64 = 1 << 20;
const UUID: [u8; 16] = *b"ct-fuzz-savecore";

/// A directory of this process's own under `parent`, mode 0700 (savecore
/// refuses to write where others can).
fn private_dir(parent: PathBuf) -> PathBuf {
    use std::os::unix::fs::DirBuilderExt;
    let dir = parent.join(format!("ct-fuzz-savecore-{}", std::process::id()));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    dir
}

fuzz_target!(|data: &[u8]| {
    let dir = private_dir(std::env::var_os("CT_FUZZ_DIR").map_or_else(std::env::temp_dir, PathBuf::from));
    let image = dir.join("image");
    let shm = PathBuf::from("/dev/shm");
    let vmcore = if shm.is_dir() { private_dir(shm) } else { dir.clone() }.join("vmcore");
    let split = data.len().min(HEADER_SIZE);
    let mut header = Header::from_unchecked(common::sealed_header(&data[..split]));
    let cluster = ClusterId::new(header.cluster_id()).unwrap_or(ClusterId::new(1).expect("1 is an id"));
    let node = NodeId::new(header.node_id()).unwrap_or(NodeId::new(1).expect("1 is an id"));
    header.set_identity(&UUID, cluster.get(), node.get());
    header.seal(&common::HostCrc);
    let label = Label { cluster, node, disk_uuid: UUID, usable_bytes: IMAGE_BYTES, created_unix: 0 };
    // A fresh image each run: nothing of the last input stays.
    let _ = std::fs::remove_file(&image);
    let _ = std::fs::remove_file(&vmcore);
    let file = std::fs::File::create(&image).expect("the fuzz image");
    file.set_len(IMAGE_BYTES).expect("the fuzz image's size");
    file.write_all_at(&label.encode(&common::HostCrc), LABEL_OFFSET).expect("label");
    for at in HEADER_COPY_OFFSETS {
        file.write_all_at(header.as_bytes(), at).expect("header");
    }
    file.write_all_at(&data[split..], BODY_OFFSET).expect("body");
    drop(file);
    let args = savecore::Args::for_image(image.clone(), vmcore.clone());
    let result = savecore::run(&args, &mut std::io::sink());
    if std::env::var_os("CT_FUZZ_VERBOSE").is_some() {
        eprintln!("savecore: {result:?}");
    }
    // Nothing stays behind, whatever savecore made of the input.
    for file in [&vmcore, &image] {
        let _ = std::fs::remove_file(file);
        if let Some(parent) = file.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
});
