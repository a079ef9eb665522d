// SPDX-License-Identifier: GPL-2.0

//! savecore's walk of the kernel log in dumped RAM (`rust/cli/src/dmesg.rs`,
//! the same file): a crafted VMCOREINFO and crafted RAM never panic it, and
//! what it returns is bounded. The input is the VMCOREINFO text, a NUL, then
//! the RAM from physical address 0.
#![no_main]

#[allow(dead_code)]
#[path = "../../../cli/src/dmesg.rs"]
mod dmesg;

use libfuzzer_sys::fuzz_target;

struct Ram<'a>(&'a [u8]);

impl dmesg::Ram for Ram<'_> {
    fn read(&self, phys: u64, len: usize) -> Option<Vec<u8>> {
        let start = usize::try_from(phys).ok()?;
        self.0.get(start..start.checked_add(len)?).map(<[u8]>::to_vec)
    }
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let text = String::from_utf8_lossy(&data[..split]);
    let ram = Ram(data.get(split + 1..).unwrap_or(&[]));
    if let Ok(log) = dmesg::read(&text, &ram, 0) {
        assert!(log.len() <= 128 << 20, "a log of {} bytes", log.len());
    }
});
