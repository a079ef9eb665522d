// SPDX-License-Identifier: GPL-2.0

//! The dump plan from arbitrary RAM resources, chunk sizes and disk sizes:
//! never panics, and a plan covers exactly the pages it claims.
#![no_main]

use coretakeover_core::header::{RamRange, MAX_RANGES};
use coretakeover_core::plan::{collect_ranges, PageCursor, Plan, PAGE_SIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<(u64, u64)>, u32, u64)| {
    let (mut raw, chunk, disk) = input;
    // Mostly well-formed resources (sorted, first ≤ last), as the kernel
    // reports them, so the plan is reached; collect_ranges checks the rest.
    for r in raw.iter_mut() {
        *r = (r.0.min(r.1), r.0.max(r.1));
    }
    raw.sort_unstable();
    let mut ranges = [RamRange::default(); MAX_RANGES];
    let Ok(n) = collect_ranges(raw.iter().copied(), &mut ranges) else { return };
    let Ok(plan) = Plan::new(&mut ranges[..n], chunk, disk) else { return };
    assert!(plan.capacity() <= plan.dump_bytes());
    // Walking a huge plan page by page would time out: bound the walk.
    let limit = plan.capacity().min(1 << 24);
    let pages = PageCursor::new(plan.ranges(), limit).count() as u64;
    assert_eq!(pages, limit / PAGE_SIZE);
});
