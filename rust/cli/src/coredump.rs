// SPDX-License-Identifier: GPL-2.0

//! What a coredump disk holds: its label and both dump header copies.

use crate::crc::HostCrc;
use crate::disk::{AlignedBuf, Disk};
use crate::error::Error;
use coretakeover_core::header::{newest, Header, HeaderError, HEADER_COPY_OFFSETS, HEADER_SIZE};
use coretakeover_core::label::{Label, LabelError, LABEL_OFFSET, LABEL_SIZE};

pub struct Inspection {
    pub label: Result<Label, LabelError>,
    pub copies: [Result<Header<Vec<u8>>, HeaderError>; 2],
    newest: Option<usize>,
}

impl Inspection {
    pub fn read(disk: &Disk) -> Result<Self, Error> {
        let block = disk.read(LABEL_OFFSET, LABEL_SIZE)?;
        let label = Label::decode(&block, &HostCrc);
        let copies = HEADER_COPY_OFFSETS.map(|off| -> Result<Result<Header<Vec<u8>>, HeaderError>, Error> {
            let buf = disk.read(off, HEADER_SIZE)?;
            Ok(Header::parse(buf[..HEADER_SIZE].to_vec(), &HostCrc))
        });
        let [a, b] = copies;
        let copies = [a?, b?];
        let newest = newest([&copies[0], &copies[1]]);
        Ok(Self { label, copies, newest })
    }

    /// The valid header copy with the highest generation.
    pub fn header(&self) -> Option<&Header<Vec<u8>>> {
        self.newest.and_then(|i| self.copies[i].as_ref().ok())
    }

    /// The label, or an error saying why the disk is not a coredump disk.
    pub fn require_label(&self, disk: &Disk) -> Result<&Label, Error> {
        self.label.as_ref().map_err(|e| Error::NotCoredumpDisk { path: disk.path.clone(), reason: e.to_string() })
    }
}

/// Writes `header` (sealed, next generation) to the copy its generation
/// belongs to, durably.
pub fn write_next_generation(disk: &Disk, header: &mut Header<Vec<u8>>) -> Result<(), Error> {
    let copy = header.next_generation(&HostCrc);
    let mut buf = AlignedBuf::new(HEADER_SIZE);
    buf[..HEADER_SIZE].copy_from_slice(header.as_bytes());
    disk.write_durably(HEADER_COPY_OFFSETS[copy], &buf)
}
