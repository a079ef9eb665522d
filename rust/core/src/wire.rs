// SPDX-License-Identifier: GPL-2.0

//! Little-endian fields at fixed byte offsets of on-disk structures.
//!
//! Writers are given buffers of the structure's exact size and constant
//! offsets, so an out-of-range field cannot happen; should one anyway, it is
//! skipped rather than panicking (this code runs in the panic path).
//! Readers return `None` for a field beyond the end of the input.

pub(crate) fn put_bytes(buf: &mut [u8], off: usize, value: &[u8]) {
    if let Some(dst) = off.checked_add(value.len()).and_then(|end| buf.get_mut(off..end)) {
        dst.copy_from_slice(value);
    }
}

pub(crate) fn put_u16(buf: &mut [u8], off: usize, value: u16) {
    put_bytes(buf, off, &value.to_le_bytes());
}

pub(crate) fn put_u32(buf: &mut [u8], off: usize, value: u32) {
    put_bytes(buf, off, &value.to_le_bytes());
}

pub(crate) fn put_u64(buf: &mut [u8], off: usize, value: u64) {
    put_bytes(buf, off, &value.to_le_bytes());
}

/// Writes `text` into a NUL-padded field of `len` bytes, truncated at a
/// character boundary so that the field always holds valid UTF-8.
pub(crate) fn put_str(buf: &mut [u8], off: usize, len: usize, text: &str) {
    let mut end = text.len().min(len);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if let Some(field) = off.checked_add(len).and_then(|e| buf.get_mut(off..e)) {
        field.fill(0);
        if let (Some(dst), Some(src)) = (field.get_mut(..end), text.as_bytes().get(..end)) {
            dst.copy_from_slice(src);
        }
    }
}

pub(crate) fn get_bytes<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    buf.get(off..off.checked_add(N)?)?.try_into().ok()
}

pub(crate) fn get_u16(buf: &[u8], off: usize) -> Option<u16> {
    get_bytes(buf, off).map(u16::from_le_bytes)
}

pub(crate) fn get_u32(buf: &[u8], off: usize) -> Option<u32> {
    get_bytes(buf, off).map(u32::from_le_bytes)
}

pub(crate) fn get_u64(buf: &[u8], off: usize) -> Option<u64> {
    get_bytes(buf, off).map(u64::from_le_bytes)
}

/// A NUL-padded text field: the bytes before the first NUL.
pub(crate) fn get_str(buf: &[u8], off: usize, len: usize) -> Option<&[u8]> {
    let field = buf.get(off..off.checked_add(len)?)?;
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    field.get(..end)
}
