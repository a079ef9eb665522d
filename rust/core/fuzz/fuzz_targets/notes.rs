// SPDX-License-Identifier: GPL-2.0

//! `crash_notes` buffers as savecore reads them from a dump: parsing never
//! panics, and a note that parses carries registers that make the same note.
#![no_main]

use coretakeover_core::notes::{note_registers, parse_crash_note, prstatus_note};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(note) = parse_crash_note(data) {
        let registers = note_registers(note).expect("a parsed note has registers");
        let made = prstatus_note(&registers);
        // What savecore writes for these registers reads back the same.
        assert_eq!(note_registers(&made), Some(registers));
        assert_eq!(&made[..20], &note[..20]);
    }
});
