// SPDX-License-Identifier: GPL-2.0

//! A filtered dump's page map as savecore reads it, and the page decoder as
//! the panic path runs it: never panic. The runs lie inside the
//! RAM ranges, tile the stream from 0 in order, and count exactly the
//! set bits below the scanned counts.
#![no_main]

mod common;
use common::HostCrc;
use coretakeover_core::header::Header;
use coretakeover_core::pagefilter::{PageLayout, Walker};
use coretakeover_core::plan::PageMap;
use libfuzzer_sys::fuzz_target;

const VMCOREINFO: &[u8] = b"SIZE(page)=64\nOFFSET(page.flags)=0\nOFFSET(page.mapping)=24\nOFFSET(page._mapcount)=48\nOFFSET(page.private)=40\nOFFSET(page.compound_head)=8\nNUMBER(PG_lru)=4\nNUMBER(PAGE_SLAB_MAPCOUNT_VALUE)=-184549376\nNUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456\nNUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)=-201326592\nNUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-251658240\n";

fuzz_target!(|input: (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>)| {
    let (head, pass0, pass1, memmap) = input;

    // Any VMCOREINFO text: an error or a layout, never a panic.
    let _ = PageLayout::from_vmcoreinfo(&memmap);
    // Any memory map, walked in page order.
    let layout = PageLayout::from_vmcoreinfo(VMCOREINFO).expect("the sample layout");
    let base = 0xffea_0000_0000_0000u64;
    let mut walker = Walker::new(layout, base);
    let mut read = |addr: u64, buf: &mut [u8]| {
        let Some(off) = addr.checked_sub(base).and_then(|o| usize::try_from(o).ok()) else { return false };
        match memmap.get(off..off + buf.len()) {
            Some(src) => {
                buf.copy_from_slice(src);
                true
            }
            None => false,
        }
    };
    for pfn in 0..(memmap.len() / 64 + 2) as u64 {
        let _ = walker.class(pfn, &mut read);
    }

    let sealed = common::sealed_header(&head);
    let Ok(h) = Header::parse(sealed.as_slice(), &HostCrc) else { return };
    let ranges: Vec<_> = h.ranges().collect();
    let pages: u64 = ranges.iter().map(|r| r.len / 4096).sum();
    if pages > 1 << 20 {
        return;
    }
    let scanned = [
        h.scanned()[0].min(pass0.len() as u64 * 8),
        h.scanned()[1].min(pass1.len() as u64 * 8),
    ];
    let Some(map) = PageMap::new(&ranges, [&pass0, &pass1], scanned) else {
        assert!(scanned.iter().any(|&s| s > pages));
        return;
    };
    let bits = |bitmap: &[u8], n: u64| (0..n).filter(|&i| bitmap[(i / 8) as usize] & (1 << (i % 8)) != 0).count() as u64;
    let mut next = 0u64;
    for run in map.runs() {
        assert!(run.pages > 0);
        assert_eq!(run.stream_page, next);
        next += run.pages;
        let end = run.phys + run.pages * 4096;
        assert!(ranges.iter().any(|r| run.phys >= r.phys && end <= r.phys + r.len));
    }
    assert_eq!(next, bits(&pass0, scanned[0]) + bits(&pass1, scanned[1]));
    assert_eq!(map.pages(), next);
});
