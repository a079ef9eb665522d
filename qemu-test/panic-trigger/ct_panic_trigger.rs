// SPDX-License-Identifier: GPL-2.0

//! Test only: panics the machine from interrupt context, so the tests can
//! show that coretakeover's dump works when the panic does not come from a
//! task (sysrq-c does). Writing to `/sys/kernel/ct_panic_trigger/panic`:
//!
//! - `softirq`: a `timer_list` callback (timer softirq) calls `panic()`;
//! - `hardirq`: an `hrtimer` in hard interrupt mode calls `panic()`;
//! - `hang`: every online CPU arms an `hrtimer` in hard interrupt mode whose
//!   callback spins forever: the node hangs with interrupts off everywhere,
//!   and only an NMI (with `kernel.unknown_nmi_panic`) gets a dump out of it;
//! - `hang MS`: the same, but every CPU spins only until one common moment,
//!   MS ms after the hang began (on the node's monotonic clock), then goes
//!   on: a node that hung and resumes, its clock having run meanwhile.
//!
//!
//! It also holds a pattern in kernel memory from loading on (16 pages,
//! physically contiguous, page `i` holding 256 copies of the little-endian
//! pair (`KERNEL_MAGIC`, `i`)); `/sys/kernel/ct_panic_trigger/kernel_pattern`
//! gives its magic and the virtual address of each page, so that a test
//! can look for it in a dump of any page filter (kernel pages are in all).
//!
//! The production module has no such hook; this one is built only for the
//! QEMU tests and reuses the production sysfs wrapper.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use kernel::bindings;
use kernel::c_str;
use kernel::prelude::*;
use kernel::types::Opaque;

// The production wrapper; this module uses part of it.
#[allow(dead_code)]
#[path = "../../rust/sysfs.rs"]
mod sysfs;

use sysfs::{Attribute, AttributeList, Directory, Group, Page, Show, Store};

module! {
    type: PanicTrigger,
    name: "ct_panic_trigger",
    author: "The coretakeover authors",
    description: "Test only: panic from a timer callback, or hang every CPU",
    license: "GPL",
}

/// The most CPUs `hang` can hang (one timer each).
const MAX_CPUS: usize = 8;

/// Timers that only fire once armed by a write; all are static.
struct Timers {
    softirq: Opaque<bindings::timer_list>,
    hardirq: Opaque<bindings::hrtimer>,
    hang: [Opaque<bindings::hrtimer>; MAX_CPUS],
}

// SAFETY: The timers are initialised once in `init`, armed at most once
// (`ARMED`), and cancelled in `drop`; the timer code synchronises the rest.
unsafe impl Sync for Timers {}

static TIMERS: Timers = Timers {
    softirq: Opaque::uninit(),
    hardirq: Opaque::uninit(),
    hang: [const { Opaque::uninit() }; MAX_CPUS],
};
static ARMED: AtomicBool = AtomicBool::new(false);
/// Hang timers taken so far (one per CPU).
static HANG_TIMERS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn softirq_fired(_timer: *mut bindings::timer_list) {
    // SAFETY: A constant format string without arguments.
    unsafe { bindings::panic(c_str!("ct_panic_trigger: panic from a timer softirq").as_char_ptr()) }
}

/// How long after the write that arms it a timer panics.
const DELAY_MS: u32 = 1000;

unsafe extern "C" fn hardirq_fired(_timer: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
    // SAFETY: A constant format string without arguments.
    unsafe { bindings::panic(c_str!("ct_panic_trigger: panic from a hard interrupt timer").as_char_ptr()) }
}

/// How long `hang MS` lasts (0: for ever).
static HANG_MS: AtomicU64 = AtomicU64::new(0);
/// When the CPUs of `hang MS` go on (monotonic ns), set by the first.
static HANG_UNTIL: AtomicU64 = AtomicU64::new(0);
/// CPUs in the hang.
static HUNG: AtomicUsize = AtomicUsize::new(0);

/// Where a hung CPU spins, with interrupts off, until an NMI comes, or
/// until the hang's end.
unsafe extern "C" fn hang_fired(_timer: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
    let ms = HANG_MS.load(Ordering::Acquire);
    // SAFETY: Lock-free clock read, any context.
    let now = || unsafe { bindings::ktime_get_mono_fast_ns() };
    let start = now();
    // The first CPU in sets the end for all, and says when it began (its
    // line's time stamp), so that a test can tell when the hang ended.
    if HANG_UNTIL.compare_exchange(0, start + ms * 1_000_000, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        pr_emerg!("the hang begins: every CPU stops here for {} ms\n", ms);
    }
    let until = HANG_UNTIL.load(Ordering::Acquire);
    let cpus = HANG_TIMERS.load(Ordering::Acquire);
    if HUNG.fetch_add(1, Ordering::AcqRel) + 1 == cpus {
        pr_emerg!("all {} CPUs hang with interrupts off\n", cpus);
    }
    while ms == 0 || now() < until {
        core::hint::spin_loop();
    }
    bindings::hrtimer_restart_HRTIMER_NORESTART
}

/// Runs on every online CPU (IPI, interrupts off): arms this CPU's hang
/// timer, so that every CPU stops a second after the write returned.
unsafe extern "C" fn arm_hang(_info: *mut core::ffi::c_void) {
    // Each CPU takes the next timer; a pinned timer fires on the CPU that
    // started it.
    let index = HANG_TIMERS.fetch_add(1, Ordering::AcqRel);
    if let Some(timer) = TIMERS.hang.get(index) {
        // SAFETY: Initialised in `init`; armed once (`ARMED`, and one index
        // per CPU), on this CPU (`HRTIMER_MODE_PINNED`).
        unsafe {
            bindings::hrtimer_start_range_ns(
                timer.get(),
                i64::from(DELAY_MS) * 1_000_000,
                0,
                bindings::hrtimer_mode_HRTIMER_MODE_REL_PINNED_HARD,
            )
        };
    }
}

/// "ctkernel", little-endian.
const KERNEL_MAGIC: u64 = 0x6c65_6e72_656b_7463;
const PATTERN_PAGES: usize = 16;
/// The pattern's address (0 until loaded).
static PATTERN: AtomicUsize = AtomicUsize::new(0);

struct KernelPattern;

impl Show for KernelPattern {
    fn show(out: &mut Page<'_>) -> Result {
        let base = PATTERN.load(Ordering::Acquire);
        out.line(format_args!(
            "{{\"magic\": {}, \"virt\": [{}]}}",
            KERNEL_MAGIC,
            VirtList(base)
        ))
    }
}

/// The pattern pages' addresses, comma-separated.
struct VirtList(usize);

impl core::fmt::Display for VirtList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for i in 0..PATTERN_PAGES {
            write!(f, "{}{}", if i > 0 { ", " } else { "" }, self.0 + i * 4096)?;
        }
        Ok(())
    }
}

struct Trigger;

impl Show for Trigger {
    fn show(out: &mut Page<'_>) -> Result {
        out.line(format_args!("softirq hardirq hang [MS]"))
    }
}

impl Store for Trigger {
    fn store(input: &str) -> Result {
        let mut words = input.split_whitespace();
        let which = words.next().unwrap_or("");
        if which != "softirq" && which != "hardirq" && which != "hang" {
            return Err(EINVAL);
        }
        let ms = match (which, words.next(), words.next()) {
            (_, None, _) => 0,
            ("hang", Some(ms), None) => match ms.parse::<u64>() {
                Ok(ms) if (1..=600_000).contains(&ms) => ms,
                _ => return Err(EINVAL),
            },
            _ => return Err(EINVAL),
        };
        HANG_MS.store(ms, Ordering::Release);
        if ARMED.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        if which == "hang" {
            if ms == 0 {
                pr_emerg!("every CPU hangs with interrupts off in {} ms\n", DELAY_MS);
            } else {
                pr_emerg!("every CPU hangs with interrupts off in {} ms, for {} ms\n", DELAY_MS, ms);
            }
        } else {
            pr_emerg!("arming a {} timer to panic in {} ms\n", which, DELAY_MS);
        }
        if which == "hang" {
            // SAFETY: `arm_hang` only arms this CPU's static timer; process
            // context with interrupts on, as the call wants.
            unsafe { bindings::on_each_cpu_cond_mask(None, Some(arm_hang), core::ptr::null_mut(), true, &raw const bindings::__cpu_online_mask) };
            if HANG_TIMERS.load(Ordering::Acquire) > MAX_CPUS {
                pr_emerg!("more than {} CPUs: not all of them would hang; nothing armed\n", MAX_CPUS);
                for timer in &TIMERS.hang {
                    // SAFETY: Initialised in `init`.
                    unsafe { bindings::hrtimer_cancel(timer.get()) };
                }
                return Err(EINVAL);
            }
        } else if which == "softirq" {
            // SAFETY: Initialised in `init`; fires in a second, after the
            // write that armed it has returned and its reply has left (200 ms
            // was too short on the debug kernel).
            unsafe { bindings::mod_timer(TIMERS.softirq.get(), bindings::jiffies + bindings::__msecs_to_jiffies(DELAY_MS)) };
        } else {
            // SAFETY: Initialised in `init`; fires in a second, in hard
            // interrupt context, after the write that armed it has returned.
            unsafe {
                bindings::hrtimer_start_range_ns(
                    TIMERS.hardirq.get(),
                    i64::from(DELAY_MS) * 1_000_000,
                    0,
                    bindings::hrtimer_mode_HRTIMER_MODE_REL | bindings::hrtimer_mode_HRTIMER_MODE_HARD,
                )
            };
        }
        Ok(())
    }
}

static PANIC_ATTR: Attribute = Attribute::read_write::<Trigger>(c_str!("panic"));
static PATTERN_ATTR: Attribute = Attribute::read_only::<KernelPattern>(c_str!("kernel_pattern"));
static ATTRS: AttributeList<2> = AttributeList::new([&PANIC_ATTR, &PATTERN_ATTR]);
static GROUP: Group = Group::new(&ATTRS);

/// The softirq timer's lock class: lockdep wants a static key for every timer.
struct TimerKey(kernel::types::Opaque<bindings::lock_class_key>);

// SAFETY: lockdep synchronises its own use of the key.
unsafe impl Sync for TimerKey {}

static TIMER_KEY: TimerKey = TimerKey(kernel::types::Opaque::uninit());

struct PanicTrigger {
    _dir: Directory,
    /// The kernel pattern: one kmalloc allocation, so physically contiguous.
    _pattern: KVec<u64>,
}

impl kernel::Module for PanicTrigger {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: The static timers are initialised once, before the sysfs
        // file that arms them exists.
        unsafe {
            bindings::init_timer_key(
                TIMERS.softirq.get(),
                Some(softirq_fired),
                0,
                c_str!("ct_panic_trigger").as_char_ptr(),
                TIMER_KEY.0.get(),
            );
            bindings::hrtimer_init(
                TIMERS.hardirq.get(),
                bindings::CLOCK_MONOTONIC as i32,
                bindings::hrtimer_mode_HRTIMER_MODE_REL | bindings::hrtimer_mode_HRTIMER_MODE_HARD,
            );
            (*TIMERS.hardirq.get()).function = Some(hardirq_fired);
            for timer in &TIMERS.hang {
                bindings::hrtimer_init(
                    timer.get(),
                    bindings::CLOCK_MONOTONIC as i32,
                    bindings::hrtimer_mode_HRTIMER_MODE_REL_PINNED_HARD,
                );
                (*timer.get()).function = Some(hang_fired);
            }
        }
        let words = PATTERN_PAGES * 4096 / 8;
        let mut pattern = KVec::with_capacity(words, GFP_KERNEL)?;
        for w in 0..words {
            let page = (w * 8 / 4096) as u64;
            pattern.push(if w % 2 == 0 { KERNEL_MAGIC } else { page }, GFP_KERNEL)?;
        }
        PATTERN.store(pattern.as_ptr() as usize, Ordering::Release);
        Ok(Self { _dir: Directory::create(c_str!("ct_panic_trigger"), &GROUP)?, _pattern: pattern })
    }
}

impl Drop for PanicTrigger {
    fn drop(&mut self) {
        // SAFETY: Initialised in `init`; cancelling waits for a running callback.
        unsafe {
            bindings::timer_delete_sync(TIMERS.softirq.get());
            bindings::hrtimer_cancel(TIMERS.hardirq.get());
            for timer in &TIMERS.hang {
                bindings::hrtimer_cancel(timer.get());
            }
        }
    }
}
