// SPDX-License-Identifier: GPL-2.0

//! The page filter: which pages of RAM a dump keeps, decided in the
//! panicking kernel from each page's `struct page`.
//!
//! Every page of the stream falls in one [`Class`], as makedumpfile's dump
//! levels see them: kernel pages (everything a debugger of the panic needs:
//! slab, page tables, the kernel image, the memory map, stacks, reserved
//! memory), page cache, user (anonymous, hugetlb) pages, free (buddy) pages,
//! and zero pages (a content property, found while copying; only pages of
//! the other classes are dropped for it: a kernel page of zeros is kept,
//! since readers take a page missing from the vmcore for unknown, not
//! zero). A [`Filter`]
//! keeps some classes; the leanest keeps kernel pages only.
//!
//! The decoding is pure: the module reads the raw `struct page` bytes with a
//! no-fault accessor and hands them here with the offsets VMCOREINFO carries
//! ([`PageLayout::from_vmcoreinfo`]). Whatever cannot be read or looks
//! implausible (a buddy order out of range or misaligned, a tail page whose
//! head is not a plausible page of the map) is a kernel page: dumped, never
//! dropped.
//!
//! | struct page says                                     | class  |
//! |------------------------------------------------------|--------|
//! | tail of a compound page (`compound_head` bit 0)      | its head's |
//! | page type buddy, order ≤ 10 and aligned              | free, with the block's 2^order pages |
//! | page type offline                                    | free   |
//! | page type hugetlb                                    | user   |
//! | any other page type (slab, page table, ...)          | kernel |
//! | `mapping` bit 0 (`PAGE_MAPPING_ANON`)                | user   |
//! | `mapping` set, not movable-ops, `PG_lru` set         | cache  |
//! | anything else                                        | kernel |

/// What a page is, for the filter. The numbers index the census.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Kernel = 0,
    Cache = 1,
    User = 2,
    Free = 3,
    Zero = 4,
}

impl Class {
    pub const ALL: [Self; 5] = [Self::Kernel, Self::Cache, Self::User, Self::Free, Self::Zero];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Kernel => "kernel",
            Self::Cache => "cache",
            Self::User => "user",
            Self::Free => "free",
            Self::Zero => "zero",
        }
    }
}

/// Which pages a dump keeps, richest first. The numbers are the on-disk
/// encoding (dump header, offset 16104).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Every page, in physical order (format version 1: no page map).
    All = 0,
    /// All but free and zero pages.
    NoFree = 1,
    /// Kernel and user pages (no page cache, free or zero pages).
    NoCache = 2,
    /// Kernel pages only (zero ones included).
    Kernel = 3,
}

impl Filter {
    /// Every filter, richest first.
    pub const ALL: [Self; 4] = [Self::All, Self::NoFree, Self::NoCache, Self::Kernel];

    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::All),
            1 => Some(Self::NoFree),
            2 => Some(Self::NoCache),
            3 => Some(Self::Kernel),
            _ => None,
        }
    }

    /// The name used in sysfs, the configuration file, the CLI and the
    /// documentation.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::NoFree => "no-free",
            Self::NoCache => "no-cache",
            Self::Kernel => "kernel",
        }
    }

    /// The filter named `name` (surrounding white space ignored).
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// Whether pages are chosen one by one (with a page map on the disk).
    pub const fn filters(self) -> bool {
        !matches!(self, Self::All)
    }

    /// Whether the filter keeps pages of `class`.
    pub const fn keeps(self, class: Class) -> bool {
        match (self, class) {
            (Self::All, _) => true,
            (_, Class::Kernel) => true,
            (_, Class::Zero | Class::Free) => false,
            (Self::NoFree, _) => true,
            (Self::NoCache, Class::User) => true,
            _ => false,
        }
    }
}

/// The largest buddy order (`MAX_PAGE_ORDER` of x86-64).
pub const MAX_BUDDY_ORDER: u32 = 10;
/// The most pages a compound page (a 1 GiB hugetlb page) spans.
pub const MAX_COMPOUND_PAGES: u64 = 1 << 18;
/// The largest `struct page` the decoder accepts.
pub const MAX_STRUCT_PAGE: usize = 128;

const PAGE_MAPPING_ANON: u64 = 1;
const PAGE_MAPPING_MOVABLE: u64 = 2;
/// The page type byte values (`enum pagetype`, 6.12), as VMCOREINFO gives
/// them shifted into the top byte.
const PGTY_FIRST: u32 = 0xf0;
const PGTY_MAPCOUNT_UNDERFLOW: u32 = 0xff;

/// Where `struct page`'s fields are, and the numbers the decoder needs, as
/// the dumped kernel's VMCOREINFO states them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLayout {
    pub size: usize,
    pub flags: usize,
    pub compound_head: usize,
    pub mapping: usize,
    pub private: usize,
    pub mapcount: usize,
    /// `PG_lru`'s bit number.
    pub pg_lru: u32,
    /// Page type bytes (the top byte of `page_type`).
    pub buddy: u32,
    pub offline: u32,
    pub hugetlb: u32,
    pub slab: u32,
}

/// Why VMCOREINFO does not give a usable layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// A line the decoder needs is absent (its key is given).
    Missing(&'static str),
    /// A value is out of range (its key is given).
    Implausible(&'static str),
}

impl core::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Missing(key) => write!(f, "VMCOREINFO has no {key}"),
            Self::Implausible(key) => write!(f, "VMCOREINFO's {key} is implausible"),
        }
    }
}

/// The value of `KEY=VALUE` line `key` in VMCOREINFO text (a decimal,
/// possibly negative, number).
fn number(text: &[u8], key: &'static str) -> Result<i64, LayoutError> {
    for line in text.split(|&b| b == b'\n') {
        let Some(value) = line.strip_prefix(key.as_bytes()).and_then(|rest| rest.strip_prefix(b"=")) else {
            continue;
        };
        let (negative, digits) = match value.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, value),
        };
        if digits.is_empty() || digits.len() > 19 {
            return Err(LayoutError::Implausible(key));
        }
        let mut v: i64 = 0;
        for &d in digits {
            if !d.is_ascii_digit() {
                return Err(LayoutError::Implausible(key));
            }
            v = v.checked_mul(10).and_then(|v| v.checked_add(i64::from(d - b'0'))).ok_or(LayoutError::Implausible(key))?;
        }
        return Ok(if negative { -v } else { v });
    }
    Err(LayoutError::Missing(key))
}

impl PageLayout {
    /// The layout VMCOREINFO text (the note's payload, or the whole note:
    /// lines are matched whole) describes.
    pub fn from_vmcoreinfo(text: &[u8]) -> Result<Self, LayoutError> {
        let size = number(text, "SIZE(page)")?;
        if !(32..=MAX_STRUCT_PAGE as i64).contains(&size) || size % 8 != 0 {
            return Err(LayoutError::Implausible("SIZE(page)"));
        }
        let size = size as usize;
        let field = |key: &'static str, width: usize| -> Result<usize, LayoutError> {
            let off = number(text, key)?;
            if off < 0 || off as usize + width > size {
                return Err(LayoutError::Implausible(key));
            }
            Ok(off as usize)
        };
        let bit = |key: &'static str| -> Result<u32, LayoutError> {
            let v = number(text, key)?;
            if !(0..64).contains(&v) {
                return Err(LayoutError::Implausible(key));
            }
            Ok(v as u32)
        };
        let page_type = |key: &'static str| -> Result<u32, LayoutError> {
            // `(PGTY_x << 24)`, printed as a long: possibly sign-extended.
            let top = (number(text, key)? as u32) >> 24;
            if !(PGTY_FIRST..PGTY_MAPCOUNT_UNDERFLOW).contains(&top) {
                return Err(LayoutError::Implausible(key));
            }
            Ok(top)
        };
        Ok(Self {
            size,
            flags: field("OFFSET(page.flags)", 8)?,
            compound_head: field("OFFSET(page.compound_head)", 8)?,
            mapping: field("OFFSET(page.mapping)", 8)?,
            private: field("OFFSET(page.private)", 8)?,
            mapcount: field("OFFSET(page._mapcount)", 4)?,
            pg_lru: bit("NUMBER(PG_lru)")?,
            buddy: page_type("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)")?,
            offline: page_type("NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)")?,
            hugetlb: page_type("NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)")?,
            slab: page_type("NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)")?,
        })
    }

    fn u64_at(&self, raw: &[u8], off: usize) -> Option<u64> {
        Some(u64::from_le_bytes(raw.get(off..off + 8)?.try_into().ok()?))
    }

    fn u32_at(&self, raw: &[u8], off: usize) -> Option<u32> {
        Some(u32::from_le_bytes(raw.get(off..off + 4)?.try_into().ok()?))
    }

    /// What one `struct page` (its `size` raw bytes) says.
    pub fn decode(&self, raw: &[u8]) -> Decoded {
        let (Some(flags), Some(head), Some(mapping), Some(private), Some(page_type)) = (
            self.u64_at(raw, self.flags),
            self.u64_at(raw, self.compound_head),
            self.u64_at(raw, self.mapping),
            self.u64_at(raw, self.private),
            self.u32_at(raw, self.mapcount),
        ) else {
            return Decoded::Class(Class::Kernel);
        };
        if head & 1 != 0 {
            return Decoded::Tail { head: head - 1 };
        }
        let top = page_type >> 24;
        if (PGTY_FIRST..PGTY_MAPCOUNT_UNDERFLOW).contains(&top) {
            return match top {
                t if t == self.buddy => match u32::try_from(private) {
                    Ok(order) if order <= MAX_BUDDY_ORDER => Decoded::Buddy { order },
                    _ => Decoded::Class(Class::Kernel),
                },
                t if t == self.offline => Decoded::Class(Class::Free),
                t if t == self.hugetlb => Decoded::Class(Class::User),
                _ => Decoded::Class(Class::Kernel),
            };
        }
        if mapping & PAGE_MAPPING_ANON != 0 {
            return Decoded::Class(Class::User);
        }
        if mapping != 0 && mapping & PAGE_MAPPING_MOVABLE == 0 && flags & (1 << self.pg_lru) != 0 {
            return Decoded::Class(Class::Cache);
        }
        Decoded::Class(Class::Kernel)
    }
}

/// What one `struct page` says, before its neighbours are considered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    Class(Class),
    /// The first page of a free block of 2^order pages.
    Buddy { order: u32 },
    /// A tail page; `head` is the address of its head's `struct page`.
    Tail { head: u64 },
}

/// Classifies the pages of the stream, in ascending page frame order: it
/// remembers the free block it is in and the last compound head it read.
#[derive(Clone, Copy, Debug)]
pub struct Walker {
    layout: PageLayout,
    /// The virtual address of page frame 0's `struct page`.
    memmap: u64,
    /// Page frames below this (from `free_from` on) are in a free block.
    free_from: u64,
    free_until: u64,
    /// The last head read for a tail page, and its class.
    head: Option<(u64, Class)>,
}

impl Walker {
    pub const fn new(layout: PageLayout, memmap: u64) -> Self {
        Self { layout, memmap, free_from: 0, free_until: 0, head: None }
    }

    pub const fn layout(&self) -> &PageLayout {
        &self.layout
    }

    /// Forgets what it remembers (a new pass over the stream).
    pub fn reset(&mut self) {
        self.free_from = 0;
        self.free_until = 0;
        self.head = None;
    }

    /// The address of `pfn`'s `struct page`.
    pub fn page_address(&self, pfn: u64) -> Option<u64> {
        pfn.checked_mul(self.layout.size as u64)?.checked_add(self.memmap)
    }

    /// The class of page frame `pfn`; `read(address, buffer)` fills the
    /// buffer with the `struct page` at the address, or says it cannot.
    pub fn class(&mut self, pfn: u64, read: &mut impl FnMut(u64, &mut [u8]) -> bool) -> Class {
        if (self.free_from..self.free_until).contains(&pfn) {
            return Class::Free;
        }
        let mut raw = [0u8; MAX_STRUCT_PAGE];
        let size = self.layout.size.min(MAX_STRUCT_PAGE);
        let Some(addr) = self.page_address(pfn) else { return Class::Kernel };
        let Some(buf) = raw.get_mut(..size) else { return Class::Kernel };
        if !read(addr, buf) {
            return Class::Kernel;
        }
        match self.layout.decode(buf) {
            Decoded::Class(class) => class,
            Decoded::Buddy { order } => {
                let pages = 1u64 << order;
                if pfn & (pages - 1) != 0 {
                    return Class::Kernel;
                }
                self.free_from = pfn;
                self.free_until = pfn.saturating_add(pages);
                Class::Free
            }
            Decoded::Tail { head } => self.tail_class(pfn, head, read),
        }
    }

    fn tail_class(&mut self, pfn: u64, head: u64, read: &mut impl FnMut(u64, &mut [u8]) -> bool) -> Class {
        if let Some((addr, class)) = self.head {
            if addr == head {
                return class;
            }
        }
        // The head must be a page of the map, below the tail and close.
        let size = self.layout.size as u64;
        let plausible = head
            .checked_sub(self.memmap)
            .filter(|off| off.checked_rem(size) == Some(0))
            .and_then(|off| off.checked_div(size))
            .is_some_and(|head_pfn| head_pfn < pfn && pfn - head_pfn < MAX_COMPOUND_PAGES);
        let class = if !plausible {
            Class::Kernel
        } else {
            let mut raw = [0u8; MAX_STRUCT_PAGE];
            let size = self.layout.size.min(MAX_STRUCT_PAGE);
            let read_ok = raw.get_mut(..size).is_some_and(|buf| read(head, buf));
            match raw.get(..size).filter(|_| read_ok).map(|buf| self.layout.decode(buf)) {
                Some(Decoded::Class(class)) => class,
                // Unreadable, or a head that is free or a tail itself.
                _ => Class::Kernel,
            }
        };
        self.head = Some((head, class));
        class
    }
}

/// Pages counted by class; index with `Class as usize`.
pub type Census = [u64; 5];

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const VMCOREINFO: &[u8] = b"OSRELEASE=6.12.0\nPAGESIZE=4096\nSIZE(page)=64\nOFFSET(page.flags)=0\nOFFSET(page._refcount)=52\nOFFSET(page.mapping)=24\nOFFSET(page.lru)=8\nOFFSET(page._mapcount)=48\nOFFSET(page.private)=40\nOFFSET(page.compound_head)=8\nNUMBER(PG_lru)=4\nNUMBER(PAGE_SLAB_MAPCOUNT_VALUE)=-184549376\nNUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456\nNUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)=-201326592\nNUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-251658240\n";

    fn layout() -> PageLayout {
        PageLayout::from_vmcoreinfo(VMCOREINFO).unwrap()
    }

    fn page(flags: u64, head: u64, mapping: u64, private: u64, page_type: u32) -> [u8; 64] {
        let mut p = [0u8; 64];
        p[0..8].copy_from_slice(&flags.to_le_bytes());
        p[8..16].copy_from_slice(&head.to_le_bytes());
        p[24..32].copy_from_slice(&mapping.to_le_bytes());
        p[40..48].copy_from_slice(&private.to_le_bytes());
        p[48..52].copy_from_slice(&page_type.to_le_bytes());
        p
    }

    #[test]
    fn the_layout_is_read_from_vmcoreinfo() {
        let l = layout();
        assert_eq!((l.size, l.flags, l.compound_head, l.mapping, l.private, l.mapcount, l.pg_lru), (64, 0, 8, 24, 40, 48, 4));
        assert_eq!((l.buddy, l.offline, l.hugetlb, l.slab), (0xf0, 0xf1, 0xf4, 0xf5));
    }

    #[test]
    fn a_missing_or_bad_line_is_an_error() {
        let text = core::str::from_utf8(VMCOREINFO).unwrap();
        let mut buf = [0u8; 1024];
        let mut with = |from: &str, to: &str| {
            let t = text.replacen(from, to, 1);
            buf[..t.len()].copy_from_slice(t.as_bytes());
            PageLayout::from_vmcoreinfo(&buf[..t.len()])
        };
        assert_eq!(with("NUMBER(PG_lru)=4", "X=1"), Err(LayoutError::Missing("NUMBER(PG_lru)")));
        assert_eq!(with("SIZE(page)=64", "SIZE(page)=4096"), Err(LayoutError::Implausible("SIZE(page)")));
        assert_eq!(with("OFFSET(page.private)=40", "OFFSET(page.private)=60"), Err(LayoutError::Implausible("OFFSET(page.private)")));
        assert_eq!(with("=-268435456", "=12"), Err(LayoutError::Implausible("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)")));
        assert_eq!(with("NUMBER(PG_lru)=4", "NUMBER(PG_lru)=4x"), Err(LayoutError::Implausible("NUMBER(PG_lru)")));
    }

    #[test]
    fn pages_decode_by_the_table() {
        let l = layout();
        let none = 0xffff_ffff; // _mapcount -1: no type
        assert_eq!(l.decode(&page(0, 0, 0, 0, none)), Decoded::Class(Class::Kernel));
        assert_eq!(l.decode(&page(0, 0, 0xffff_8880_0000_1001, 0, none)), Decoded::Class(Class::User));
        assert_eq!(l.decode(&page(1 << 4, 0, 0xffff_8880_0000_1000, 0, none)), Decoded::Class(Class::Cache));
        // A mapping but not on the LRU, or a movable-ops mapping: kernel.
        assert_eq!(l.decode(&page(0, 0, 0xffff_8880_0000_1000, 0, none)), Decoded::Class(Class::Kernel));
        assert_eq!(l.decode(&page(1 << 4, 0, 0xffff_8880_0000_1002, 0, none)), Decoded::Class(Class::Kernel));
        assert_eq!(l.decode(&page(0, 0, 0, 3, 0xf000_0000)), Decoded::Buddy { order: 3 });
        assert_eq!(l.decode(&page(0, 0, 0, 11, 0xf000_0000)), Decoded::Class(Class::Kernel));
        assert_eq!(l.decode(&page(0, 0, 0, 0, 0xf100_0000)), Decoded::Class(Class::Free));
        assert_eq!(l.decode(&page(0, 0, 0, 0, 0xf400_0000)), Decoded::Class(Class::User));
        // A slab page's list pointer lies where `mapping` is: its type wins.
        assert_eq!(l.decode(&page(1 << 4, 0, 0xffff_8880_0000_1000, 0, 0xf500_0000)), Decoded::Class(Class::Kernel));
        assert_eq!(l.decode(&page(0, 0xffea_0000_0000_0041, 0, 0, none)), Decoded::Tail { head: 0xffea_0000_0000_0040 });
        assert_eq!(l.decode(&[0u8; 16]), Decoded::Class(Class::Kernel));
    }

    /// A memory map in an array: `read` serves it, counting reads.
    struct Map {
        pages: [[u8; 64]; 64],
        reads: usize,
    }

    const BASE: u64 = 0xffea_0000_0000_0000;

    impl Map {
        fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
            self.reads += 1;
            let Some(i) = addr.checked_sub(BASE).map(|o| (o / 64) as usize) else { return false };
            match self.pages.get(i) {
                Some(p) => {
                    buf.copy_from_slice(p);
                    true
                }
                None => false,
            }
        }
    }

    #[test]
    fn the_walker_spans_free_blocks_and_compound_pages() {
        let none = 0xffff_ffff;
        let mut map = Map { pages: [page(0, 0, 0, 0, none); 64], reads: 0 };
        map.pages[8] = page(0, 0, 0, 3, 0xf000_0000); // pages 8..16 free
        map.pages[16] = page(1 << 4, 0, 0xffff_8880_0000_1000, 0, none); // a cache folio's head
        for i in 17..20 {
            map.pages[i] = page(0, BASE + 16 * 64 + 1, 0, 0, none);
        }
        map.pages[20] = page(0, BASE + 30 * 64 + 1, 0, 0, none); // head above the tail
        map.pages[21] = page(0, 0, 0, 2, 0xf000_0000); // order 2 at 21: misaligned
        let mut w = Walker::new(layout(), BASE);
        let mut read = |a: u64, b: &mut [u8]| map.read(a, b);
        let classes: [Class; 24] = core::array::from_fn(|pfn| w.class(pfn as u64, &mut read));
        assert!(classes[..8].iter().all(|&c| c == Class::Kernel));
        assert!(classes[8..16].iter().all(|&c| c == Class::Free));
        assert!(classes[16..20].iter().all(|&c| c == Class::Cache));
        assert_eq!(classes[20], Class::Kernel);
        assert_eq!(classes[21], Class::Kernel);
        // The free block's tails and the folio's tails after the first cost no reads of the head.
        // Pages 0..8, the block head, the folio head, tail 17 and its head, tails 18 and 19,
        // 20 (its head implausible: not read), 21, 22, 23.
        assert_eq!(map.reads, 8 + 1 + 1 + 2 + 2 + 1 + 1 + 2);
        // Beyond the map: unreadable, so kernel.
        let mut w = Walker::new(layout(), BASE);
        assert_eq!(w.class(1000, &mut |a, b| map.read(a, b)), Class::Kernel);
    }

    #[test]
    fn filters_keep_what_their_names_say() {
        use Class::*;
        let keeps = |f: Filter| Class::ALL.map(|c| f.keeps(c));
        assert_eq!(keeps(Filter::All), [true; 5]);
        assert_eq!(keeps(Filter::NoFree), [true, true, true, false, false]);
        assert_eq!(keeps(Filter::NoCache), [true, false, true, false, false]);
        assert_eq!(keeps(Filter::Kernel), [true, false, false, false, false]);
        for f in Filter::ALL {
            assert_eq!(Filter::parse(f.as_str()), Some(f));
            assert_eq!(Filter::from_u32(f as u32), Some(f));
            assert!(f.keeps(Kernel));
        }
        assert_eq!(Filter::parse(" kernel\n"), Some(Filter::Kernel));
        assert_eq!(Filter::parse("kernel-only"), None);
        assert_eq!(Filter::from_u32(4), None);
        let _ = (Cache, User, Free, Zero);
    }
}
