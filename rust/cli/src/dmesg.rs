// SPDX-License-Identifier: GPL-2.0

//! The kernel log of a dumped kernel, read from its printk ring buffer, as
//! `makedumpfile --dump-dmesg` and crash's `log` do: savecore writes it beside
//! the vmcore, so the first look at a crash needs no debugger.
//!
//! The kernel describes the ring buffer's layout in VMCOREINFO
//! (`kernel/printk/printk.c`, `log_buf_vmcoreinfo_setup`): the address of
//! `prb`, and the sizes and member offsets of `printk_ringbuffer`,
//! `prb_desc_ring`, `prb_desc`, `prb_data_blk_lpos`, `printk_info` and
//! `prb_data_ring`. Nothing here assumes a layout of its own. The walk
//! follows `kernel/printk/printk_ringbuffer.c`: descriptors from the tail id
//! to the head id, each used only if it is committed or finalized and
//! carries the id it is read for; a record's text is in the data ring at its
//! `text_blk_lpos`, after the block's id word, wrapping to the ring's start
//! when `begin` and `next` are a wrap apart.
//!
//! Kernel virtual addresses are translated as x86-64 lays them out: the
//! kernel image (`__START_KERNEL_map` + physical address − `phys_base`, from
//! VMCOREINFO) and the direct map (the dump header's base + physical
//! address).

use std::collections::HashMap;

/// `__START_KERNEL_map` on x86-64.
const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// The top two bits of a descriptor's state word: its state.
const DESC_FLAGS_SHIFT: u32 = 62;
const DESC_ID_MASK: u64 = !(3u64 << DESC_FLAGS_SHIFT);
const DESC_COMMITTED: u64 = 1;
const DESC_FINALIZED: u64 = 2;
/// No log holds more records than this (a corrupt count stops here).
const MAX_RECORDS: u64 = 1 << 20;
/// No log holds more text than its data ring, and no ring more than this
/// (`log_buf_len` is at most 2^25 bytes on 6.12 by default): records that
/// point at the same text over and over (a crafted dump) stop here.
const MAX_TEXT: usize = 64 << 20;

/// Reads dumped RAM by physical address; `None` where the dump has none.
pub trait Ram {
    fn read(&self, phys: u64, len: usize) -> Option<Vec<u8>>;
}

/// Why no log could be read.
#[derive(Debug, PartialEq, Eq)]
pub struct NoLog(pub String);

impl std::fmt::Display for NoLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn missing(what: &str) -> NoLog {
    NoLog(format!("VMCOREINFO lacks {what}"))
}

/// The VMCOREINFO text as a map of its `KEY=value` lines.
pub fn vmcoreinfo_fields(text: &str) -> HashMap<&str, &str> {
    text.lines().filter_map(|l| l.split_once('=')).collect()
}

/// The descriptor text of a VMCOREINFO ELF note (namesz, descsz, type, name,
/// text).
pub fn vmcoreinfo_text(note: &[u8]) -> String {
    let word = |at: usize| note.get(at..at + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let desc_at = 12 + word(0).next_multiple_of(4);
    let text = note.get(desc_at..desc_at + word(4)).unwrap_or(&[]);
    String::from_utf8_lossy(text).into_owned()
}

/// The dumped kernel's memory, by kernel virtual address.
struct Kernel<'a> {
    ram: &'a dyn Ram,
    phys_base: u64,
    page_offset: u64,
}

impl Kernel<'_> {
    fn phys(&self, virt: u64) -> Option<u64> {
        if virt >= START_KERNEL_MAP {
            Some(virt.wrapping_sub(START_KERNEL_MAP).wrapping_add(self.phys_base))
        } else {
            virt.checked_sub(self.page_offset)
        }
    }

    fn read(&self, virt: u64, len: usize) -> Option<Vec<u8>> {
        // A read that crosses a page is read page by page (the pages of a
        // kernel-image range are contiguous physically; those of the direct
        // map are too).
        self.ram.read(self.phys(virt)?, len)
    }

    fn u64_at(&self, virt: u64) -> Option<u64> {
        self.read(virt, 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    }

    fn u32_at(&self, virt: u64) -> Option<u32> {
        self.read(virt, 4).map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
    }

    fn u16_at(&self, virt: u64) -> Option<u16> {
        self.read(virt, 2).map(|b| u16::from_le_bytes(b.try_into().unwrap_or([0; 2])))
    }
}

/// The layout the dumped kernel announced.
struct Layout {
    prb: u64,
    desc_ring: u64,
    text_data_ring: u64,
    count_bits: u64,
    descs: u64,
    infos: u64,
    head_id: u64,
    tail_id: u64,
    desc_size: u64,
    state_var: u64,
    text_blk_lpos: u64,
    lpos_begin: u64,
    lpos_next: u64,
    info_size: u64,
    ts_nsec: u64,
    text_len: u64,
    size_bits: u64,
    data: u64,
    counter: u64,
}

fn number(fields: &HashMap<&str, &str>, key: &str, hex: bool) -> Result<u64, NoLog> {
    let text = fields.get(key).ok_or_else(|| missing(key))?;
    let parsed = if hex {
        u64::from_str_radix(text, 16).ok()
    } else {
        text.parse::<i64>().ok().map(|v| v as u64)
    };
    parsed.ok_or_else(|| NoLog(format!("VMCOREINFO {key}={text} is not a number")))
}

impl Layout {
    fn of(fields: &HashMap<&str, &str>) -> Result<Self, NoLog> {
        let sym = |name: &str| number(fields, &format!("SYMBOL({name})"), true);
        let off = |name: &str| number(fields, &format!("OFFSET({name})"), false);
        let size = |name: &str| number(fields, &format!("SIZE({name})"), false);
        Ok(Self {
            prb: sym("prb")?,
            desc_ring: off("printk_ringbuffer.desc_ring")?,
            text_data_ring: off("printk_ringbuffer.text_data_ring")?,
            count_bits: off("prb_desc_ring.count_bits")?,
            descs: off("prb_desc_ring.descs")?,
            infos: off("prb_desc_ring.infos")?,
            head_id: off("prb_desc_ring.head_id")?,
            tail_id: off("prb_desc_ring.tail_id")?,
            desc_size: size("prb_desc")?,
            state_var: off("prb_desc.state_var")?,
            text_blk_lpos: off("prb_desc.text_blk_lpos")?,
            lpos_begin: off("prb_data_blk_lpos.begin")?,
            lpos_next: off("prb_data_blk_lpos.next")?,
            info_size: size("printk_info")?,
            ts_nsec: off("printk_info.ts_nsec")?,
            text_len: off("printk_info.text_len")?,
            size_bits: off("prb_data_ring.size_bits")?,
            data: off("prb_data_ring.data")?,
            counter: off("atomic_long_t.counter").unwrap_or(0),
        })
    }
}

/// The log's records as `dmesg` prints them: `[seconds.micros] text`, oldest
/// first. `page_offset` is the direct-map base the dump header recorded.
pub fn read(vmcoreinfo: &str, ram: &dyn Ram, page_offset: u64) -> Result<String, NoLog> {
    let fields = vmcoreinfo_fields(vmcoreinfo);
    let layout = Layout::of(&fields)?;
    let phys_base = number(&fields, "NUMBER(phys_base)", false)?;
    let k = Kernel { ram, phys_base, page_offset };
    let unreadable = |what: &str| NoLog(format!("the dump does not hold the ring buffer's {what}"));

    let rb = k.u64_at(layout.prb).ok_or_else(|| unreadable("pointer (prb)"))?;
    let desc_ring = rb + layout.desc_ring;
    let data_ring = rb + layout.text_data_ring;
    let count_bits = k.u32_at(desc_ring + layout.count_bits).ok_or_else(|| unreadable("descriptor ring"))?;
    let size_bits = k.u32_at(data_ring + layout.size_bits).ok_or_else(|| unreadable("data ring"))?;
    if count_bits > 24 || size_bits > 40 {
        return Err(NoLog(format!("implausible ring sizes (2^{count_bits} records, 2^{size_bits} bytes)")));
    }
    let descs = k.u64_at(desc_ring + layout.descs).ok_or_else(|| unreadable("descriptors"))?;
    let infos = k.u64_at(desc_ring + layout.infos).ok_or_else(|| unreadable("infos"))?;
    let data = k.u64_at(data_ring + layout.data).ok_or_else(|| unreadable("data"))?;
    let head = k.u64_at(desc_ring + layout.head_id + layout.counter).ok_or_else(|| unreadable("head id"))? & DESC_ID_MASK;
    let tail = k.u64_at(desc_ring + layout.tail_id + layout.counter).ok_or_else(|| unreadable("tail id"))? & DESC_ID_MASK;
    let (count, size) = (1u64 << count_bits, 1u64 << size_bits);

    let mut out = String::new();
    let mut id = tail;
    for _ in 0..count.min(MAX_RECORDS) {
        let index = id & (count - 1);
        let desc = descs + index * layout.desc_size;
        if let Some(state_var) = k.u64_at(desc + layout.state_var + layout.counter) {
            let state = state_var >> DESC_FLAGS_SHIFT;
            if (state == DESC_COMMITTED || state == DESC_FINALIZED) && state_var & DESC_ID_MASK == id {
                let info = infos + index * layout.info_size;
                let lpos = desc + layout.text_blk_lpos;
                let record = (
                    k.u64_at(info + layout.ts_nsec),
                    k.u16_at(info + layout.text_len),
                    k.u64_at(lpos + layout.lpos_begin),
                    k.u64_at(lpos + layout.lpos_next),
                );
                if let (Some(ts), Some(len), Some(begin), Some(next)) = record {
                    if let Some(text) = record_text(&k, data, size_bits, size, begin, next, usize::from(len)) {
                        if out.len() as u64 + text.len() as u64 > size.min(MAX_TEXT as u64) + 32 * MAX_RECORDS {
                            out.push_str("[coretakeover: the log's records hold more text than its ring: the rest is left out]\n");
                            break;
                        }
                        out.push_str(&format!("[{:5}.{:06}] {}\n", ts / 1_000_000_000, ts % 1_000_000_000 / 1000, text.trim_end_matches('\n')));
                    }
                }
            }
        }
        if id == head {
            break;
        }
        id = (id + 1) & DESC_ID_MASK;
    }
    Ok(out)
}

/// A record's text, as `get_data()` finds it in the data ring.
fn record_text(k: &Kernel<'_>, data: u64, size_bits: u32, size: u64, begin: u64, next: u64, len: usize) -> Option<String> {
    // A data-less record (both positions odd) has no text.
    if begin & 1 == 1 && next & 1 == 1 {
        return None;
    }
    let wraps = |lpos: u64| lpos >> size_bits;
    let index = |lpos: u64| lpos & (size - 1);
    let (block, block_size) = if wraps(begin) == wraps(next) && begin < next {
        (index(begin), next - begin)
    } else if wraps(begin.wrapping_add(size)) == wraps(next) {
        (0, index(next))
    } else {
        return None;
    };
    // The block starts with its id word; the text follows.
    let room = usize::try_from(block_size.checked_sub(8)?).ok()?;
    let text = k.read(data + block + 8, len.min(room))?;
    Some(String::from_utf8_lossy(&text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RAM of a toy machine: a map of physical pages.
    struct Pages(HashMap<u64, Vec<u8>>);

    impl Ram for Pages {
        fn read(&self, phys: u64, len: usize) -> Option<Vec<u8>> {
            let mut out = Vec::with_capacity(len);
            for at in phys..phys + len as u64 {
                out.push(*self.0.get(&(at & !4095))?.get((at & 4095) as usize)?);
            }
            Some(out)
        }
    }

    impl Pages {
        fn write(&mut self, phys: u64, bytes: &[u8]) {
            for (i, b) in bytes.iter().enumerate() {
                let at = phys + i as u64;
                self.0.entry(at & !4095).or_insert_with(|| vec![0; 4096])[(at & 4095) as usize] = *b;
            }
        }
    }

    /// The layout of 6.12 x86-64, as its VMCOREINFO says (a real dump's).
    fn vmcoreinfo(prb: u64, phys_base: i64) -> String {
        format!(
            "OSRELEASE=6.12.117\nSYMBOL(prb)={prb:x}\nOFFSET(printk_ringbuffer.desc_ring)=0\n\
             OFFSET(printk_ringbuffer.text_data_ring)=48\nOFFSET(prb_desc_ring.count_bits)=0\n\
             OFFSET(prb_desc_ring.descs)=8\nOFFSET(prb_desc_ring.infos)=16\nOFFSET(prb_desc_ring.head_id)=24\n\
             OFFSET(prb_desc_ring.tail_id)=32\nSIZE(prb_desc)=24\nOFFSET(prb_desc.state_var)=0\n\
             OFFSET(prb_desc.text_blk_lpos)=8\nOFFSET(prb_data_blk_lpos.begin)=0\nOFFSET(prb_data_blk_lpos.next)=8\n\
             SIZE(printk_info)=88\nOFFSET(printk_info.seq)=0\nOFFSET(printk_info.ts_nsec)=8\n\
             OFFSET(printk_info.text_len)=16\nOFFSET(prb_data_ring.size_bits)=0\nOFFSET(prb_data_ring.data)=8\n\
             OFFSET(atomic_long_t.counter)=0\nNUMBER(phys_base)={phys_base}\n"
        )
    }

    const KASLR_TEXT: u64 = 0xffff_ffff_b000_0000;
    const PAGE_OFFSET: u64 = 0xff4c_0000_0000_0000;

    /// A ring of 4 descriptors and 256 bytes of text, its structures in the
    /// kernel image (phys_base −383778816 as in a real KASLR dump: the image
    /// at virtual 0xffffffffb0000000 is at physical 0x1a200000).
    fn machine(records: &[(u64, u64, &str, u64, u64, u64)], head: u64, tail: u64) -> (Pages, String) {
        let phys_base: i64 = -383_778_816;
        let phys = |v: u64| v.wrapping_sub(START_KERNEL_MAP).wrapping_add(phys_base as u64);
        let (prb, rb, descs, infos, data) = (KASLR_TEXT, KASLR_TEXT + 0x100, KASLR_TEXT + 0x1000, KASLR_TEXT + 0x2000, PAGE_OFFSET + 0x30_0000);
        let mut ram = Pages(HashMap::new());
        ram.write(phys(prb), &rb.to_le_bytes());
        ram.write(phys(rb), &2u32.to_le_bytes());
        ram.write(phys(rb + 8), &descs.to_le_bytes());
        ram.write(phys(rb + 16), &infos.to_le_bytes());
        ram.write(phys(rb + 24), &head.to_le_bytes());
        ram.write(phys(rb + 32), &tail.to_le_bytes());
        ram.write(phys(rb + 48), &8u32.to_le_bytes());
        ram.write(phys(rb + 56), &data.to_le_bytes());
        for &(id, state, text, begin, next, ts) in records {
            let index = id & 3;
            ram.write(phys(descs + index * 24), &((state << 62) | id).to_le_bytes());
            ram.write(phys(descs + index * 24 + 8), &begin.to_le_bytes());
            ram.write(phys(descs + index * 24 + 16), &next.to_le_bytes());
            ram.write(phys(infos + index * 88 + 8), &ts.to_le_bytes());
            ram.write(phys(infos + index * 88 + 16), &(text.len() as u16).to_le_bytes());
            let block = if (begin >> 8) == (next >> 8) { begin & 255 } else { 0 };
            ram.write(data - PAGE_OFFSET + block, &id.to_le_bytes());
            ram.write(data - PAGE_OFFSET + block + 8, text.as_bytes());
        }
        (ram, vmcoreinfo(prb, phys_base))
    }

    #[test]
    fn records_are_read_in_order_with_their_times() {
        let (ram, info) = machine(
            &[
                (5, DESC_FINALIZED, "Linux version 6.12", 0, 32, 0),
                (6, DESC_FINALIZED, "sysrq: Trigger a crash", 32, 64, 8_851_134_000),
                (7, DESC_COMMITTED, "Kernel panic - not syncing: sysrq triggered crash", 64, 128, 8_851_200_999),
            ],
            7,
            5,
        );
        let log = read(&info, &ram, PAGE_OFFSET).unwrap();
        assert_eq!(
            log,
            "[    0.000000] Linux version 6.12\n[    8.851134] sysrq: Trigger a crash\n\
             [    8.851200] Kernel panic - not syncing: sysrq triggered crash\n"
        );
    }

    #[test]
    fn a_record_that_wraps_is_read_from_the_start_and_reused_ones_are_skipped() {
        let (ram, info) = machine(
            &[
                // Reusable: skipped. Reserved: skipped.
                (9, 3, "old", 0, 32, 1),
                (10, 0, "half-written", 32, 64, 2),
                // Begins near the end of wrap 0, continues at the start of wrap 1.
                (11, DESC_FINALIZED, "wrapped record", 240, 256 + 40, 3_000_000_000),
            ],
            11,
            9,
        );
        assert_eq!(read(&info, &ram, PAGE_OFFSET).unwrap(), "[    3.000000] wrapped record\n");
    }

    #[test]
    fn a_dump_without_the_layout_or_the_ring_says_why() {
        let ram = Pages(HashMap::new());
        assert_eq!(read("OSRELEASE=6.12\n", &ram, 0), Err(missing("SYMBOL(prb)")));
        let err = read(&vmcoreinfo(KASLR_TEXT, 0), &ram, PAGE_OFFSET).unwrap_err();
        assert!(err.0.contains("does not hold"), "{err}");
    }
}
