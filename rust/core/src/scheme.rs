// SPDX-License-Identifier: GPL-2.0

//! The dump's time model, and the choice of a page filter under a time
//! budget: at arming (the richest filter predicted to fit) and during the
//! dump (a leaner one for the rest when the dump is projected to overrun).
//!
//! The model has two measured costs, both taken at arming on this node:
//! the write rate of the panic path's own pipeline (the rehearsal) and the
//! cost of visiting one page (classifying it from its `struct page`: the
//! census's time over the pages it visited); and the census of page classes.
//! A filtered dump visits every page twice (two passes; once for a
//! kernel-only filter, which keeps nothing of pass 1) and writes what its
//! filter keeps, so from any point of the dump:
//!
//! ```text
//! remaining(filter) = pages still to visit × visit cost
//!                   + bytes still to write under the filter / write rate
//! ```
//!
//! With a codec, every byte a filter keeps is also compressed (a CPU cost
//! per byte, measured at arming on sampled RAM) and only its compressed
//! share (the ratio measured on the same sample) is written:
//!
//! ```text
//! write(bytes) = bytes / compress rate + bytes × stored share / write rate
//! ```
//!
//! with a stored share and a compression rate for each of three kinds of
//! page, which compress very differently: kernel pages (pass 0), the page
//! cache and user pages a filter keeps, and free pages (only `all` keeps
//! them; mostly zeros on an idle node, which a codec makes almost nothing of,
//! fast). [`Bucket`] names them.
//!
//! During the dump, the work done so far has a model time too; the ratio of
//! the time it really took to that corrects the rest (a throttled disk, a
//! slower host): `projected = elapsed + ratio × remaining(filter)`. When the
//! projection overruns the budget, the dump switches to the richest leaner
//! filter whose projection fits (the leanest if none does) for the rest of
//! its stream; it never goes back to a richer one. Kernel pages are never
//! dropped for time: they are the first pass. Everything is integer
//! arithmetic, saturating, and no division can panic (`checked_div`): the
//! model runs in the panic path.

use super::pagefilter::{Census, Class, Filter};

const PAGE: u64 = 4096;

/// What the model knows of this node, measured at arming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Model {
    /// Pages of the RAM ranges (each pass visits all of them).
    pub pages: u64,
    /// Pages by class (`Class as usize`), arming's census or the dump's.
    pub census: Census,
    /// Nanoseconds to visit one page, ×1024 (fixed point).
    pub visit_ns_x1024: u64,
    /// Bytes the pipeline writes per millisecond (at least 1).
    pub write_bytes_per_ms: u64,
    /// With a codec, by [`Bucket`]: stored bytes per stream byte, ×1024
    /// (1024 without).
    pub store_x1024: [u64; 3],
    /// With a codec, by [`Bucket`]: stream bytes it compresses per
    /// millisecond (0: no cost, as without a codec).
    pub compress_bytes_per_ms: [u64; 3],
}

/// The kinds of page a codec's costs are measured for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    /// Kernel pages (pass 0).
    Kernel = 0,
    /// Page cache and user pages (pass 1).
    Other = 1,
    /// Free pages (pass 1, `all` only).
    Free = 2,
}

/// Where a filtered dump stands: the pass and the pages of it visited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub pass: usize,
    pub visited: u64,
}

impl Position {
    pub const START: Self = Self { pass: 0, visited: 0 };
}

impl Model {
    /// The model of a node with `pages` pages whose census `census` took
    /// `census_ns` (one visit of every page) and whose rehearsal wrote
    /// `write_bytes_per_ms`.
    pub fn new(pages: u64, census: Census, census_ns: u64, write_bytes_per_ms: u64) -> Self {
        let visit_ns_x1024 = census_ns.saturating_mul(1024).checked_div(pages).unwrap_or(0);
        Self { pages, census, visit_ns_x1024, write_bytes_per_ms: write_bytes_per_ms.max(1), store_x1024: [1024; 3], compress_bytes_per_ms: [0; 3] }
    }

    /// The model with a codec that stores `store_x1024[b]`/1024 of each
    /// byte of bucket `b` and compresses `compress_bytes_per_ms[b]` of them
    /// a millisecond (both measured at arming). A codec never grows the
    /// bytes (a chunk that does not shrink is stored raw).
    pub fn with_codec(self, store_x1024: [u64; 3], compress_bytes_per_ms: [u64; 3]) -> Self {
        Self { store_x1024: store_x1024.map(|s| s.clamp(1, 1024)), compress_bytes_per_ms, ..self }
    }

    /// The bytes `bytes` of bucket `b` take on the disk (whole bytes: the
    /// product stays within 64 bits below 2^54 bytes).
    pub fn stored(&self, b: Bucket, bytes: u64) -> u64 {
        bytes.saturating_mul(self.store_x1024.get(b as usize).copied().unwrap_or(1024)) / 1024
    }

    /// Bytes of each bucket the whole dump writes under `filter`.
    fn buckets(&self, filter: Filter) -> [u64; 3] {
        let free = if filter.keeps(Class::Free) { self.count(Class::Free).saturating_mul(PAGE) } else { 0 };
        [self.count(Class::Kernel).saturating_mul(PAGE), self.pass1_bytes(filter).saturating_sub(free), free]
    }

    /// Bytes of the whole dump on the disk under `filter`.
    pub fn stored_bytes(&self, filter: Filter) -> u64 {
        let b = self.buckets(filter);
        [Bucket::Kernel, Bucket::Other, Bucket::Free].iter().map(|&k| self.stored(k, b[k as usize])).fold(0u64, u64::saturating_add)
    }

    /// Pages of class `class` the census counted.
    fn count(&self, class: Class) -> u64 {
        self.census.get(class as usize).copied().unwrap_or(0)
    }

    /// Bytes of pass 1 (every class but kernel) `filter` keeps. Zero pages
    /// are counted in their class: a filter that drops them writes less.
    pub fn pass1_bytes(&self, filter: Filter) -> u64 {
        [Class::Cache, Class::User, Class::Free]
            .iter()
            .filter(|&&c| filter.keeps(c))
            .map(|&c| self.count(c))
            .fold(0u64, u64::saturating_add)
            .saturating_mul(PAGE)
    }

    /// Bytes of the whole dump under `filter`.
    pub fn bytes(&self, filter: Filter) -> u64 {
        self.count(Class::Kernel).saturating_mul(PAGE).saturating_add(self.pass1_bytes(filter))
    }

    /// The share of a pass still ahead of `visited` pages, applied to `v`
    /// bytes (in whole pages: their product stays within 64 bits for any
    /// machine below 2^32 pages of RAM; beyond, it saturates).
    fn ahead(&self, v: u64, visited: u64) -> u64 {
        let left = self.pages.saturating_sub(visited);
        (v / PAGE).saturating_mul(left).checked_div(self.pages).unwrap_or(0).saturating_mul(PAGE)
    }

    fn visit_ms(&self, pages: u64) -> u64 {
        pages.saturating_mul(self.visit_ns_x1024) / 1024 / 1_000_000
    }

    /// Model milliseconds to compress and write `bytes[b]` of each bucket.
    fn write_ms(&self, bytes: [u64; 3]) -> u64 {
        let mut stored = 0u64;
        let mut compress = 0u64;
        for k in [Bucket::Kernel, Bucket::Other, Bucket::Free] {
            let b = bytes[k as usize];
            stored = stored.saturating_add(self.stored(k, b));
            let rate = self.compress_bytes_per_ms.get(k as usize).copied().unwrap_or(0);
            compress = compress.saturating_add(b.checked_div(rate).unwrap_or(0));
        }
        stored.checked_div(self.write_bytes_per_ms).unwrap_or(stored).saturating_add(compress)
    }

    /// Model milliseconds from `at` to the end of the dump under `filter`:
    /// visiting pages, and writing bytes.
    pub fn remaining(&self, filter: Filter, at: Position) -> (u64, u64) {
        let kernel = self.count(Class::Kernel).saturating_mul(PAGE);
        // A kernel-only dump skips pass 1: it would keep nothing there.
        let pass1_visits = if filter == Filter::Kernel { 0 } else { self.pages };
        let [_, other, free] = self.buckets(filter);
        let (visits, bytes) = match at.pass {
            0 => (self.pages.saturating_sub(at.visited).saturating_add(pass1_visits), [self.ahead(kernel, at.visited), other, free]),
            1 if filter == Filter::Kernel => (0, [0; 3]),
            1 => (self.pages.saturating_sub(at.visited), [0, self.ahead(other, at.visited), self.ahead(free, at.visited)]),
            _ => (0, [0; 3]),
        };
        (self.visit_ms(visits), self.write_ms(bytes))
    }

    /// Their sum.
    pub fn remaining_ms(&self, filter: Filter, at: Position) -> u64 {
        let (visit, write) = self.remaining(filter, at);
        visit.saturating_add(write)
    }

    /// The whole dump's predicted milliseconds under `filter`.
    pub fn predict_ms(&self, filter: Filter) -> u64 {
        self.remaining_ms(filter, Position::START)
    }

    /// Model milliseconds of work done under `filter`: `visited` page
    /// visits in all, and `written` bytes of stream written (kernel pages
    /// first; the rest of pass 1's buckets in proportion, as they lie mixed
    /// in RAM).
    pub fn done(&self, filter: Filter, visited: u64, written: u64) -> (u64, u64) {
        let kernel = self.count(Class::Kernel).saturating_mul(PAGE).min(written);
        let rest = written - kernel;
        let [_, other, free] = self.buckets(filter);
        let free_part = (rest / PAGE).saturating_mul(free / PAGE).checked_div((other.saturating_add(free)) / PAGE).unwrap_or(0).saturating_mul(PAGE).min(rest);
        (self.visit_ms(visited), self.write_ms([kernel, rest - free_part, free_part]))
    }

    /// The richest filter, at most as rich as `richest`, whose predicted
    /// time fits `budget_ms` (0: no budget) and whose bytes fit
    /// `capacity`; the leanest when none does. Also says whether it fits.
    pub fn choose(&self, richest: Filter, budget_ms: u64, capacity: u64) -> (Filter, bool) {
        for f in Filter::ALL.into_iter().filter(|f| *f as u32 >= richest as u32) {
            let fits_time = budget_ms == 0 || self.predict_ms(f) <= budget_ms;
            if fits_time && self.stored_bytes(f) <= capacity {
                return (f, true);
            }
        }
        (Filter::Kernel, false)
    }
}

/// The bounds of a calibration factor (×1024): an earlier dump can say the
/// model was off by 4× either way, not more (a disk replaced since, a
/// dump on a node that was busy dying differently).
pub const CALIBRATION_MIN: u32 = 256;
pub const CALIBRATION_MAX: u32 = 4096;

/// The factor (×1024) by which an earlier dump on this disk says the model's
/// write time is off: its measured time over its predicted time, bounded.
pub fn calibration_x1024(predicted_ms: u32, measured_ms: u32) -> Option<u32> {
    let f = u64::from(measured_ms).saturating_mul(1024).checked_div(u64::from(predicted_ms))?;
    Some((f.min(u64::from(u32::MAX)) as u32).clamp(CALIBRATION_MIN, CALIBRATION_MAX))
}

/// `rate` (bytes per ms) corrected by a calibration factor (×1024).
pub fn calibrated_rate(rate: u64, factor_x1024: u32) -> u64 {
    rate.saturating_mul(1024).checked_div(u64::from(factor_x1024)).unwrap_or(rate).max(1)
}

/// A re-plan: the dump switches to `to`, projected (under the filter it
/// had) to take `projected_ms` in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switch {
    pub to: Filter,
    pub projected_ms: u64,
}

/// At `at`, `elapsed_ms` into the dump, with `visited` page visits and
/// `written` bytes done: whether the dump, now under `current`, must switch
/// to a leaner filter to end within `budget_ms` (0: no budget), and to
/// which. `None` when it is on time or already as lean as it gets.
///
/// Visits cost CPU time only; what the dump took beyond the visits' model
/// time went to writing, and its ratio to the writes' model time (at least
/// 1: a fast start buys nothing) scales the writes still to come.
pub fn replan(model: &Model, current: Filter, budget_ms: u64, at: Position, elapsed_ms: u64, visited: u64, written: u64) -> Option<Switch> {
    if budget_ms == 0 || current == Filter::Kernel {
        return None;
    }
    let (visit_done, write_done) = model.done(current, visited, written);
    let write_real = elapsed_ms.saturating_sub(visit_done);
    let ratio_x1024 = write_real.saturating_mul(1024).checked_div(write_done.max(1)).unwrap_or(0).max(1024);
    let project = |f: Filter| {
        let (visit, write) = model.remaining(f, at);
        elapsed_ms.saturating_add(visit).saturating_add(write.saturating_mul(ratio_x1024) / 1024)
    };
    let projected_ms = project(current);
    if projected_ms <= budget_ms {
        return None;
    }
    let to = Filter::ALL
        .into_iter()
        .filter(|f| *f as u32 > current as u32)
        .find(|&f| project(f) <= budget_ms)
        .unwrap_or(Filter::Kernel);
    Some(Switch { to, projected_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1 GiB: 40 MiB kernel, 100 MiB cache, 60 MiB user, the rest free;
    /// 250 ns a visit, 400 MiB/s.
    fn model() -> Model {
        let mib = 256;
        Model::new(262_144, [40 * mib, 100 * mib, 60 * mib, 824 * mib, 0], 262_144 * 250, (400 << 20) / 1000)
    }

    #[test]
    fn a_codec_adds_its_cpu_time_and_writes_its_share() {
        let m = model();
        let bytes = m.bytes(Filter::NoFree);
        // lz4-like: a quarter stored, compressing at 800 MiB/s.
        let rate = (800 << 20) / 1000;
        let c = m.with_codec([256; 3], [rate; 3]);
        assert_eq!(c.stored_bytes(Filter::NoFree), bytes / 4);
        let write = (bytes / 4) / m.write_bytes_per_ms + (40 << 20) / rate + (160 << 20) / rate;
        assert_eq!(c.predict_ms(Filter::NoFree), m.predict_ms(Filter::NoFree) - bytes / m.write_bytes_per_ms + write);
        // Kernel pages and the rest have their own shares.
        let k = m.with_codec([512, 128, 8], [0; 3]);
        assert_eq!(k.stored_bytes(Filter::NoFree), (40 << 20) / 2 + (160 << 20) / 8);
        assert_eq!(k.stored_bytes(Filter::Kernel), 20 << 20);
        // Free pages count only where the filter keeps them.
        assert_eq!(k.stored_bytes(Filter::All), (40 << 20) / 2 + (160 << 20) / 8 + (824 << 20) / 128);
        // Zero-ish free pages compressed fast: their CPU time is their own.
        let z = m.with_codec([1024, 1024, 1024], [0, 0, (8000 << 20) / 1000]);
        assert_eq!(z.predict_ms(Filter::All), m.predict_ms(Filter::All) + (824 << 20) / ((8000 << 20) / 1000));
        // A disk that holds the compressed dump and not the raw one.
        assert_eq!(m.choose(Filter::NoFree, 0, 100 << 20).0, Filter::NoCache);
        assert_eq!(c.choose(Filter::NoFree, 0, 100 << 20), (Filter::NoFree, true));
        // Out-of-range ratios are bounded: a codec never grows the bytes.
        assert_eq!(m.with_codec([4096; 3], [1; 3]).stored(Bucket::Other, 1000), 1000);
        assert_eq!(m.with_codec([0; 3], [1; 3]).stored(Bucket::Kernel, 1 << 20), 1024);
        // No codec: no CPU term.
        assert_eq!(m.with_codec([1024; 3], [0; 3]).predict_ms(Filter::All), m.predict_ms(Filter::All));
    }

    #[test]
    fn predictions_add_two_visits_of_every_page_and_the_kept_bytes() {
        let m = model();
        // 262144 × 250 ns = 65 ms a pass; kernel-only makes one.
        assert_eq!(m.remaining_ms(Filter::Kernel, Position { pass: 2, visited: 0 }), 0);
        assert_eq!(m.remaining_ms(Filter::Kernel, Position { pass: 1, visited: 0 }), 0);
        assert_eq!(m.predict_ms(Filter::Kernel), 65 + (40 << 20) / m.write_bytes_per_ms);
        assert_eq!(m.predict_ms(Filter::NoCache), 131 + (100 << 20) / m.write_bytes_per_ms);
        assert_eq!(m.bytes(Filter::All), 1 << 30);
        assert_eq!(m.bytes(Filter::NoFree), 200 << 20);
        assert_eq!(m.bytes(Filter::NoCache), 100 << 20);
        assert_eq!(m.bytes(Filter::Kernel), 40 << 20);
        // Richer is never faster.
        let t = Filter::ALL.map(|f| m.predict_ms(f));
        assert!(t.windows(2).all(|w| w[0] >= w[1]), "{t:?}");
        // Half-way through pass 1: half its visits, half its bytes.
        let half = m.remaining_ms(Filter::NoFree, Position { pass: 1, visited: 131_072 });
        assert_eq!(half, 32 + (80 << 20) / m.write_bytes_per_ms);
    }

    #[test]
    fn the_richest_filter_that_fits_is_chosen() {
        let m = model();
        let all = m.predict_ms(Filter::All);
        assert_eq!(m.choose(Filter::All, 0, 1 << 40), (Filter::All, true));
        assert_eq!(m.choose(Filter::All, all, 1 << 40), (Filter::All, true));
        assert_eq!(m.choose(Filter::All, all - 1, 1 << 40), (Filter::NoFree, true));
        assert_eq!(m.choose(Filter::NoCache, 0, 1 << 40), (Filter::NoCache, true));
        // The disk decides too.
        assert_eq!(m.choose(Filter::All, 0, 150 << 20), (Filter::NoCache, true));
        // Nothing fits: the leanest, said so.
        assert_eq!(m.choose(Filter::All, 1, 1 << 40), (Filter::Kernel, false));
    }

    #[test]
    fn an_overrun_switches_to_the_richest_leaner_filter_that_fits() {
        let m = model();
        let at = Position { pass: 0, visited: 65_536 };
        let (visited, written) = (65_536, 10 << 20);
        let (visit, write) = m.done(Filter::All, visited, written);
        // On the model's pace, within budget: no switch.
        let budget = m.predict_ms(Filter::All) + 100;
        assert_eq!(replan(&m, Filter::All, budget, at, visit + write, visited, written), None);
        // No budget, or already kernel-only: never.
        assert_eq!(replan(&m, Filter::All, 0, at, 1 << 40, visited, written), None);
        assert_eq!(replan(&m, Filter::Kernel, 1, at, 1 << 40, visited, written), None);
        // Writes ten times slower than the model (a throttled disk): the
        // writes to come project at ten times their model time, the visits not.
        let slow = visit + 10 * write;
        let s = replan(&m, Filter::All, 3000, at, slow, visited, written).expect("a switch");
        assert!(s.projected_ms > 3000);
        let project = |f| {
            let (v, w) = m.remaining(f, at);
            slow + v + 10 * w
        };
        assert!(project(s.to) <= 3000, "{s:?}");
        let richer = Filter::from_u32(s.to as u32 - 1).unwrap();
        assert!(richer == Filter::All || project(richer) > 3000, "{s:?}");
        // A budget nothing meets: the leanest.
        assert_eq!(replan(&m, Filter::All, 1, at, slow, visited, written).map(|s| s.to), Some(Filter::Kernel));
    }

    #[test]
    fn an_earlier_dump_calibrates_within_bounds() {
        assert_eq!(calibration_x1024(1000, 800), Some(819));
        assert_eq!(calibration_x1024(1000, 1000), Some(1024));
        assert_eq!(calibration_x1024(100, 10_000), Some(CALIBRATION_MAX));
        assert_eq!(calibration_x1024(10_000, 1), Some(CALIBRATION_MIN));
        assert_eq!(calibration_x1024(0, 100), None);
        assert_eq!(calibrated_rate(1000, 819), 1250);
        assert_eq!(calibrated_rate(1000, 0), 1000);
        assert_eq!(calibrated_rate(0, 4096), 1);
    }

    #[test]
    fn the_model_never_overflows() {
        let m = Model::new(u64::MAX, [u64::MAX; 5], u64::MAX, u64::MAX);
        for f in Filter::ALL {
            let _ = m.predict_ms(f);
            let _ = replan(&m, f, 1, Position { pass: 1, visited: u64::MAX }, u64::MAX, u64::MAX, u64::MAX);
        }
        let m = Model::new(0, [0; 5], 0, 0);
        assert_eq!(m.predict_ms(Filter::All), 0);
    }
}
