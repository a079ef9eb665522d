// SPDX-License-Identifier: GPL-2.0

//! Signatures of file systems, volume managers and partition tables, so that
//! `coretakeover label` does not destroy a disk in use. Each is a magic at a
//! fixed byte offset (as libblkid probes them).

/// (name, byte offset, magic)
const SIGNATURES: &[(&str, usize, &[u8])] = &[
    ("GPT partition table", 512, b"EFI PART"),
    ("LVM2 physical volume", 512 + 24, b"LVM2 001"),
    ("LVM2 physical volume", 24, b"LVM2 001"),
    ("ext2/3/4 file system", 1080, &[0x53, 0xef]),
    ("XFS file system", 0, b"XFSB"),
    ("btrfs file system", 65536 + 64, b"_BHRfS_M"),
    ("swap space", 4086, b"SWAPSPACE2"),
    ("swap space", 4086, b"SWAP-SPACE"),
    ("LUKS encrypted volume", 0, b"LUKS\xba\xbe"),
    ("ISO 9660 file system", 32769, b"CD001"),
    ("MD RAID member (1.1)", 0, &[0xfc, 0x4e, 0x2b, 0xa9]),
    ("MD RAID member (1.2)", 4096, &[0xfc, 0x4e, 0x2b, 0xa9]),
    ("bcache member", 4096 + 24, &[0xc6, 0x85, 0x73, 0xf6, 0x4e, 0x1a, 0x45, 0xca]),
    ("F2FS file system", 1024, &[0x10, 0x20, 0xf5, 0xf2]),
    ("ZFS member", 8192 + 0x20000, &[0x0c, 0xb1, 0xba, 0x00]),
];

/// How many leading bytes `find` needs to see every signature.
pub const PROBE_BYTES: usize = 256 << 10;

/// The first signature found in the disk's first bytes, if any.
pub fn find(head: &[u8]) -> Option<&'static str> {
    for (name, offset, magic) in SIGNATURES {
        if head.get(*offset..offset + magic.len()) == Some(magic) {
            return Some(name);
        }
    }
    // An MBR (DOS) partition table: boot signature and a non-empty entry.
    if head.get(510..512) == Some(&[0x55, 0xaa]) {
        let has_partition = (0..4).any(|i| head.get(446 + 16 * i + 4).is_some_and(|&t| t != 0));
        if has_partition {
            return Some("MBR partition table");
        }
    }
    // FAT: boot signature and a FAT type string.
    if head.get(510..512) == Some(&[0x55, 0xaa])
        && (head.get(54..59) == Some(b"FAT12") || head.get(54..59) == Some(b"FAT16") || head.get(82..87) == Some(b"FAT32"))
    {
        return Some("FAT file system");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> Vec<u8> {
        vec![0u8; PROBE_BYTES]
    }

    #[test]
    fn a_blank_disk_has_no_signature() {
        assert_eq!(find(&blank()), None);
    }

    #[test]
    fn finds_common_signatures() {
        let mut ext4 = blank();
        ext4[1080..1082].copy_from_slice(&[0x53, 0xef]);
        assert_eq!(find(&ext4), Some("ext2/3/4 file system"));
        let mut xfs = blank();
        xfs[..4].copy_from_slice(b"XFSB");
        assert_eq!(find(&xfs), Some("XFS file system"));
        let mut gpt = blank();
        gpt[512..520].copy_from_slice(b"EFI PART");
        assert_eq!(find(&gpt), Some("GPT partition table"));
        let mut mbr = blank();
        mbr[510..512].copy_from_slice(&[0x55, 0xaa]);
        assert_eq!(find(&mbr), None, "a boot signature alone is not a partition table");
        mbr[446 + 4] = 0x83;
        assert_eq!(find(&mbr), Some("MBR partition table"));
    }

    #[test]
    fn a_short_head_is_probed_as_far_as_it_goes() {
        assert_eq!(find(&[0u8; 100]), None);
    }
}
