// SPDX-License-Identifier: GPL-2.0

//! The `dump_key` line the module parses from userspace (any text a root
//! process writes): never panics; what parses is three hex words whose
//! values print back to the same key.
#![no_main]

use coretakeover_core::dumpkey::DumpKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else { return };
    if let Ok(key) = DumpKey::parse(text) {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let line = format!("{} {} {}", hex(&key.key), hex(&key.public), hex(&key.sealed));
        assert_eq!(DumpKey::parse(&line).map(|k| (k.key, k.public, k.sealed)), Ok((key.key, key.public, key.sealed)));
    }
});
