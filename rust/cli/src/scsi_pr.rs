// SPDX-License-Identifier: GPL-2.0

//! Who holds a disk's SCSI-3 persistent reservation, asked from userspace:
//! PERSISTENT RESERVE IN (READ RESERVATION, READ KEYS) through the SG_IO ioctl of the
//! block device (root: the command is not in the unprivileged filter).
//!
//! The agent asks this of every disk of a service it runs, at every
//! monitor: a node whose disks the partner took (it hung, and was fenced)
//! learns it here and stops serving before it does any harm.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// `struct sg_io_hdr` of `<scsi/sg.h>`.
#[repr(C)]
struct SgIoHdr {
    interface_id: libc::c_int,
    dxfer_direction: libc::c_int,
    cmd_len: u8,
    mx_sb_len: u8,
    iovec_count: u16,
    dxfer_len: u32,
    dxferp: *mut libc::c_void,
    cmdp: *const u8,
    sbp: *mut u8,
    timeout: u32,
    flags: u32,
    pack_id: libc::c_int,
    usr_ptr: *mut libc::c_void,
    status: u8,
    masked_status: u8,
    msg_status: u8,
    sb_len_wr: u8,
    host_status: u16,
    driver_status: u16,
    resid: libc::c_int,
    duration: u32,
    info: u32,
}

const SG_IO: libc::c_ulong = 0x2285;
const SG_DXFER_FROM_DEV: libc::c_int = -3;
const PERSISTENT_RESERVE_IN: u8 = 0x5e;
const READ_KEYS: u8 = 0x00;
const READ_RESERVATION: u8 = 0x01;
const CHECK_CONDITION: u8 = 0x02;
const UNIT_ATTENTION: u8 = 0x06;

/// A reservation: the holder's key and the reservation type (SPC-3:
/// 1 Write Exclusive, 3 Exclusive Access, 5/6 Registrants Only, 7/8 All
/// Registrants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub key: u64,
    pub kind: u8,
}

/// Parses READ RESERVATION parameter data: none, or the holder.
pub fn parse_read_reservation(data: &[u8]) -> Result<Option<Reservation>, String> {
    if data.len() < 8 {
        return Err(format!("READ RESERVATION: {} bytes of parameter data, 8 at least", data.len()));
    }
    let additional = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
    if additional == 0 {
        return Ok(None);
    }
    if additional < 16 || data.len() < 24 {
        return Err(format!("READ RESERVATION: additional length {additional} (16 expected)"));
    }
    let key = u64::from_be_bytes(data[8..16].try_into().expect("8 bytes"));
    Ok(Some(Reservation { key, kind: data[21] & 0x0f }))
}

/// Who holds `path`'s reservation. A unit attention (the first command
/// after a reservation change or a reconnect) is retried.
pub fn read_reservation(path: &Path) -> Result<Option<Reservation>, String> {
    let mut data = [0u8; 24];
    let got = persistent_reserve_in(path, READ_RESERVATION, "READ RESERVATION", &mut data)?;
    parse_read_reservation(&data[..got]).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses READ KEYS parameter data: the registered keys (one per I_T
/// nexus: a node with two paths shows its key twice).
pub fn parse_read_keys(data: &[u8]) -> Result<Vec<u64>, String> {
    if data.len() < 8 {
        return Err(format!("READ KEYS: {} bytes of parameter data, 8 at least", data.len()));
    }
    let additional = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
    if !additional.is_multiple_of(8) {
        return Err(format!("READ KEYS: additional length {additional} is not a multiple of 8"));
    }
    let listed = &data[8..];
    if listed.len() < additional {
        return Err(format!("READ KEYS: {additional} bytes of keys announced, {} read (more than the buffer holds?)", listed.len()));
    }
    Ok(listed[..additional].chunks_exact(8).map(|k| u64::from_be_bytes(k.try_into().expect("8 bytes"))).collect())
}

/// The keys registered on `path` (up to 127 of them).
pub fn read_keys(path: &Path) -> Result<Vec<u64>, String> {
    let mut data = [0u8; 8 + 8 * 127];
    let got = persistent_reserve_in(path, READ_KEYS, "READ KEYS", &mut data)?;
    parse_read_keys(&data[..got]).map_err(|e| format!("{}: {e}", path.display()))
}

/// Sends PERSISTENT RESERVE IN with service `action` to `path`; how many
/// bytes of `data` it filled. A unit attention is retried.
fn persistent_reserve_in(path: &Path, action: u8, what: &str, data: &mut [u8]) -> Result<usize, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let len = u16::try_from(data.len()).map_err(|_| format!("{what}: buffer too large"))?;
    let mut last = String::new();
    for _ in 0..4 {
        let mut sense = [0u8; 32];
        let [hi, lo] = len.to_be_bytes();
        let cdb: [u8; 10] = [PERSISTENT_RESERVE_IN, action, 0, 0, 0, 0, 0, hi, lo, 0];
        let mut hdr = SgIoHdr {
            interface_id: libc::c_int::from(b'S'),
            dxfer_direction: SG_DXFER_FROM_DEV,
            cmd_len: cdb.len() as u8,
            mx_sb_len: sense.len() as u8,
            iovec_count: 0,
            dxfer_len: u32::from(len),
            dxferp: data.as_mut_ptr().cast(),
            cmdp: cdb.as_ptr(),
            sbp: sense.as_mut_ptr(),
            timeout: 10_000,
            flags: 0,
            pack_id: 0,
            usr_ptr: std::ptr::null_mut(),
            status: 0,
            masked_status: 0,
            msg_status: 0,
            sb_len_wr: 0,
            host_status: 0,
            driver_status: 0,
            resid: 0,
            duration: 0,
            info: 0,
        };
        // SAFETY: `hdr` points at buffers that live across the call, with
        // their true lengths; the ioctl writes only within them.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), SG_IO as _, &mut hdr as *mut SgIoHdr) };
        if rc < 0 {
            return Err(format!("{}: SG_IO: {}", path.display(), std::io::Error::last_os_error()));
        }
        if hdr.host_status != 0 || ((hdr.driver_status & 0x0f) != 0 && hdr.status != CHECK_CONDITION) {
            last = format!("{}: {what}: host status {:#x}, driver status {:#x}", path.display(), hdr.host_status, hdr.driver_status);
            continue;
        }
        if hdr.status == CHECK_CONDITION {
            let key = sense_key(&sense[..usize::from(hdr.sb_len_wr).min(sense.len())]);
            last = format!("{}: {what}: check condition, sense key {key:#x}", path.display());
            if key == UNIT_ATTENTION {
                continue;
            }
            return Err(last);
        }
        if hdr.status != 0 {
            return Err(format!("{}: {what}: SCSI status {:#x}", path.display(), hdr.status));
        }
        return Ok(data.len() - usize::try_from(hdr.resid.max(0)).unwrap_or(0));
    }
    Err(last)
}

/// The sense key of fixed (0x70/0x71) or descriptor (0x72/0x73) sense data.
fn sense_key(sense: &[u8]) -> u8 {
    match sense.first().map(|b| b & 0x7f) {
        Some(0x70 | 0x71) if sense.len() > 2 => sense[2] & 0x0f,
        Some(0x72 | 0x73) if sense.len() > 1 => sense[1] & 0x0f,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_reservation_and_a_holder() {
        let none = [0, 0, 0, 7, 0, 0, 0, 0];
        assert_eq!(parse_read_reservation(&none), Ok(None));
        let mut held = [0u8; 24];
        held[3] = 9;
        held[7] = 16;
        held[8..16].copy_from_slice(&0x4354_0000_0007_0002u64.to_be_bytes());
        held[21] = 0x01;
        assert_eq!(parse_read_reservation(&held), Ok(Some(Reservation { key: 0x4354_0000_0007_0002, kind: 1 })));
    }

    #[test]
    fn short_or_odd_data_is_an_error() {
        assert!(parse_read_reservation(&[0; 4]).is_err());
        assert!(parse_read_reservation(&[0, 0, 0, 0, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]).is_err());
    }

    #[test]
    fn registered_keys_are_listed() {
        let mut data = vec![0, 0, 0, 5, 0, 0, 0, 16];
        data.extend(0x4354_0000_0007_0001u64.to_be_bytes());
        data.extend(0x4354_0000_0007_0002u64.to_be_bytes());
        assert_eq!(parse_read_keys(&data), Ok(vec![0x4354_0000_0007_0001, 0x4354_0000_0007_0002]));
        assert_eq!(parse_read_keys(&[0, 0, 0, 5, 0, 0, 0, 0]), Ok(vec![]));
    }

    #[test]
    fn read_keys_refuses_odd_or_cut_lists() {
        assert!(parse_read_keys(&[0; 7]).is_err());
        assert!(parse_read_keys(&[0, 0, 0, 0, 0, 0, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]).is_err());
        // 16 bytes announced, 8 there: a list cut by the buffer is not
        // taken for the whole.
        assert!(parse_read_keys(&[0, 0, 0, 0, 0, 0, 0, 16, 1, 2, 3, 4, 5, 6, 7, 8]).is_err());
    }

    #[test]
    fn sense_keys_of_both_formats() {
        assert_eq!(sense_key(&[0x70, 0, 0x06]), UNIT_ATTENTION);
        assert_eq!(sense_key(&[0x72, 0x05]), 0x05);
        assert_eq!(sense_key(&[]), 0);
    }
}
