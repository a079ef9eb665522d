// SPDX-License-Identifier: GPL-2.0

//! ELF notes of a kernel crash dump: the `NT_PRSTATUS` note that holds a
//! CPU's registers, as kdump's `/proc/vmcore` carries one per CPU.
//!
//! The kernel keeps a per-CPU buffer, `crash_notes`, which `crash_save_cpu()`
//! fills with such a note when it stops a CPU for a crash dump (on x86 with
//! `crash_kexec_post_notifiers`, before the panic notifiers run); the
//! buffer's physical address is what `/sys/devices/system/cpu/cpuN/crash_notes`
//! shows. savecore reads each buffer from the dump with [`parse_crash_note`],
//! and makes the panicking CPU's note, which nobody saved, from the registers
//! the dump header holds with [`prstatus_note`].
//!
//! An ELF note: `namesz`, `descsz`, `type` (u32 each), the name padded to 4
//! bytes, the descriptor padded to 4 bytes. `struct elf_prstatus` on x86-64
//! (336 bytes):
//!
//! | offset | size | field                                        |
//! |--------|------|----------------------------------------------|
//! | 0      | 12   | `pr_info` (signal number, code, errno)       |
//! | 12     | 2    | `pr_cursig`                                  |
//! | 16     | 8    | `pr_sigpend`                                 |
//! | 24     | 8    | `pr_sighold`                                 |
//! | 32     | 4    | `pr_pid`                                     |
//! | 36     | 12   | `pr_ppid`, `pr_pgrp`, `pr_sid`               |
//! | 48     | 64   | `pr_utime`, `pr_stime`, `pr_cutime`, `pr_cstime` |
//! | 112    | 216  | `pr_reg`: 27 registers (`user_regs_struct`)  |
//! | 328    | 4    | `pr_fpvalid`                                 |
//! | 332    | 4    | padding                                      |

use super::header::{PanicRegisters, ELF_NGREG};
use super::wire::{get_u32, get_u64, put_bytes, put_u32, put_u64};
use core::fmt;

/// `NT_PRSTATUS`.
pub const NT_PRSTATUS: u32 = 1;
/// The size of `struct elf_prstatus` on x86-64.
pub const PRSTATUS_SIZE: usize = 336;
/// Offsets in `struct elf_prstatus`.
const PR_PID: usize = 32;
const PR_REG: usize = 112;
/// The note name of `NT_PRSTATUS`, with its NUL, padded to 4 bytes.
const CORE_NAME: &[u8; 8] = b"CORE\0\0\0\0";
/// A whole `NT_PRSTATUS` note: header, padded name, descriptor.
pub const PRSTATUS_NOTE_SIZE: usize = 12 + CORE_NAME.len() + PRSTATUS_SIZE;
/// What `crash_save_cpu()` puts in a CPU's `crash_notes`: the
/// `NT_PRSTATUS` note, then an empty note that ends the list.
pub const CRASH_NOTE_SIZE: usize = PRSTATUS_NOTE_SIZE + 12;
/// Index of `rip` and `rsp` in the register set.
pub const RIP: usize = 16;
pub const RSP: usize = 19;

/// Why a `crash_notes` buffer holds no usable note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteError {
    /// Shorter than one `NT_PRSTATUS` note.
    Short,
    /// The buffer is empty: nobody saved this CPU's registers.
    Empty,
    /// A note, but not an x86-64 `NT_PRSTATUS` of the `CORE` name.
    Unexpected { namesz: u32, descsz: u32, kind: u32 },
}

impl fmt::Display for NoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short => f.write_str("too short for a note"),
            Self::Empty => f.write_str("empty: the CPU's registers were not saved"),
            Self::Unexpected { namesz, descsz, kind } => {
                write!(f, "not an NT_PRSTATUS note (name size {namesz}, size {descsz}, type {kind})")
            }
        }
    }
}

/// The first note of a `crash_notes` buffer, checked to be an x86-64
/// `NT_PRSTATUS` note: the whole note, ready to go into a vmcore.
pub fn parse_crash_note(buf: &[u8]) -> Result<&[u8], NoteError> {
    let note = buf.get(..PRSTATUS_NOTE_SIZE).ok_or(NoteError::Short)?;
    let (namesz, descsz, kind) = (get_u32(note, 0), get_u32(note, 4), get_u32(note, 8));
    let (Some(namesz), Some(descsz), Some(kind)) = (namesz, descsz, kind) else { return Err(NoteError::Short) };
    if namesz == 0 && descsz == 0 && kind == 0 {
        return Err(NoteError::Empty);
    }
    if namesz != 5 || descsz as usize != PRSTATUS_SIZE || kind != NT_PRSTATUS || note.get(12..17) != Some(&CORE_NAME[..5]) {
        return Err(NoteError::Unexpected { namesz, descsz, kind });
    }
    Ok(note)
}

/// The PID and the registers an `NT_PRSTATUS` note (as [`parse_crash_note`]
/// returned it) holds.
pub fn note_registers(note: &[u8]) -> Option<PanicRegisters> {
    let desc = note.get(12 + CORE_NAME.len()..)?;
    let mut regs = [0u64; ELF_NGREG];
    for (i, r) in regs.iter_mut().enumerate() {
        *r = get_u64(desc, PR_REG + 8 * i)?;
    }
    Some(PanicRegisters { pid: get_u32(desc, PR_PID)?, regs })
}

/// An `NT_PRSTATUS` note for `registers`, as `crash_save_cpu()` makes it
/// (only the PID and the registers are set).
pub fn prstatus_note(registers: &PanicRegisters) -> [u8; PRSTATUS_NOTE_SIZE] {
    let mut note = [0u8; PRSTATUS_NOTE_SIZE];
    put_u32(&mut note, 0, 5);
    put_u32(&mut note, 4, PRSTATUS_SIZE as u32);
    put_u32(&mut note, 8, NT_PRSTATUS);
    put_bytes(&mut note, 12, CORE_NAME);
    let desc = 12 + CORE_NAME.len();
    put_u32(&mut note, desc + PR_PID, registers.pid);
    for (i, r) in registers.regs.iter().enumerate() {
        put_u64(&mut note, desc + PR_REG + 8 * i, *r);
    }
    note
}

/// The contents of a `crash_notes` buffer for `registers`, as
/// `crash_save_cpu()` fills it.
pub fn crash_note(registers: &PanicRegisters) -> [u8; CRASH_NOTE_SIZE] {
    let mut buf = [0u8; CRASH_NOTE_SIZE];
    put_bytes(&mut buf, 0, &prstatus_note(registers));
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registers() -> PanicRegisters {
        let mut regs = [0u64; ELF_NGREG];
        for (i, r) in regs.iter_mut().enumerate() {
            *r = 0x1000 + i as u64;
        }
        PanicRegisters { pid: 4242, regs }
    }

    #[test]
    fn a_note_made_is_a_note_read() {
        let note = prstatus_note(&registers());
        assert_eq!(note.len(), 356);
        assert_eq!(&note[..12], &[5, 0, 0, 0, 0x50, 1, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&note[12..20], b"CORE\0\0\0\0");
        // pr_pid at descriptor byte 32, rip (register 16) at 112 + 128.
        assert_eq!(&note[20 + 32..20 + 36], &4242u32.to_le_bytes());
        assert_eq!(&note[20 + 240..20 + 248], &0x1010u64.to_le_bytes());
        let read = parse_crash_note(&note).expect("a valid note");
        assert_eq!(note_registers(read), Some(registers()));
    }

    #[test]
    fn a_crash_note_buffer_holds_the_note_then_an_empty_one() {
        let buf = crash_note(&registers());
        assert_eq!(buf.len(), 368);
        let note = parse_crash_note(&buf).unwrap();
        assert_eq!(note_registers(note), Some(registers()));
        assert_eq!(&buf[356..], &[0u8; 12]);
    }

    #[test]
    fn an_empty_or_foreign_buffer_is_refused() {
        assert_eq!(parse_crash_note(&[0u8; 400]), Err(NoteError::Empty));
        assert_eq!(parse_crash_note(&[0u8; 100]), Err(NoteError::Short));
        let mut note = prstatus_note(&registers());
        note[8] = 6;
        assert_eq!(parse_crash_note(&note), Err(NoteError::Unexpected { namesz: 5, descsz: 336, kind: 6 }));
        let mut note = prstatus_note(&registers());
        note[12] = b'X';
        assert!(matches!(parse_crash_note(&note), Err(NoteError::Unexpected { .. })));
    }
}
