// SPDX-License-Identifier: GPL-2.0

//! sysfs directories under `/sys/kernel/` whose attributes are Rust code.
//!
//! Linux 6.12 has no Rust sysfs abstraction, so this file is the only one of
//! the module that calls the C sysfs API. Everything else declares attributes
//! as `static`s built by `const fn`s, with safe callbacks:
//!
//! - an [`Attribute`] wraps `struct kobj_attribute`; its callbacks are the
//!   [`Show`] (and, if writable, [`Store`]) implementation of a type;
//! - an [`AttributeList`] is the NULL-terminated pointer array sysfs wants;
//! - a [`Group`] wraps `struct attribute_group`;
//! - a [`Directory`] creates a kobject under `/sys/kernel/` with a group, and
//!   removes both when dropped.
//!
//! ```ignore
//! struct Answer;
//! impl Show for Answer {
//!     fn show(out: &mut Page<'_>) -> Result {
//!         out.line(format_args!("42"))
//!     }
//! }
//! static ANSWER: Attribute = Attribute::read_only::<Answer>(c_str!("answer"));
//! static ATTRS: AttributeList<1> = AttributeList::new([&ANSWER]);
//! static GROUP: Group = Group::new(&ATTRS);
//! let dir = Directory::create(c_str!("example"), &GROUP)?;
//! ```

use core::fmt::{self, Write};
use core::mem::MaybeUninit;
use core::ptr::{null_mut, NonNull};
use kernel::bindings;
use kernel::error::{from_result, to_result};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// The buffer a `show` callback fills: one page, as sysfs hands it over.
pub(crate) struct Page<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Page<'_> {
    /// Appends formatted text; `EFBIG` if the page is full.
    pub(crate) fn put(&mut self, args: fmt::Arguments<'_>) -> Result {
        self.write_fmt(args).map_err(|_| EFBIG)
    }

    /// Appends formatted text and a newline; `EFBIG` if the page is full
    /// (nothing is truncated silently).
    pub(crate) fn line(&mut self, args: fmt::Arguments<'_>) -> Result {
        self.write_fmt(args).and_then(|()| self.write_str("\n")).map_err(|_| EFBIG)
    }
}

impl Write for Page<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dest = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// What a readable attribute shows.
pub(crate) trait Show {
    /// Writes the attribute's value, ending in a newline.
    fn show(out: &mut Page<'_>) -> Result;
}

/// What a writable attribute does with what is written to it.
pub(crate) trait Store {
    /// Applies `input` (valid UTF-8, possibly ending in a newline). On error
    /// nothing may have changed; the error is what `write(2)` returns.
    fn store(input: &str) -> Result;
}

/// `struct kobj_attribute`, built at compile time.
///
/// # Invariants
///
/// `name` points to a `'static` NUL-terminated string, and `show`/`store` are
/// the trampolines of this file for the types given to the constructor.
#[repr(transparent)]
pub(crate) struct Attribute(Opaque<bindings::kobj_attribute>);

// SAFETY: An `Attribute` is never written after construction; sysfs only reads
// its name, mode and function pointers, from any thread.
unsafe impl Sync for Attribute {}

impl Attribute {
    /// A world-readable attribute.
    pub(crate) const fn read_only<T: Show>(name: &'static CStr) -> Self {
        let mut raw = Self::zeroed(name, 0o444);
        raw.show = Some(show_callback::<T>);
        // INVARIANT: `name` is `'static`; `show` is this file's trampoline.
        Self(Opaque::new(raw))
    }

    /// An attribute everyone may read and only root may write.
    pub(crate) const fn read_write<T: Show + Store>(name: &'static CStr) -> Self {
        let mut raw = Self::zeroed(name, 0o644);
        raw.show = Some(show_callback::<T>);
        raw.store = Some(store_callback::<T>);
        // INVARIANT: `name` is `'static`; `show` and `store` are this file's trampolines.
        Self(Opaque::new(raw))
    }

    /// An attribute only root may write and nobody reads (a command).
    pub(crate) const fn write_only<T: Store>(name: &'static CStr) -> Self {
        let mut raw = Self::zeroed(name, 0o200);
        raw.store = Some(store_callback::<T>);
        // INVARIANT: `name` is `'static`; `store` is this file's trampoline.
        Self(Opaque::new(raw))
    }

    const fn zeroed(name: &'static CStr, mode: u16) -> bindings::kobj_attribute {
        // SAFETY: `kobj_attribute` is plain C data: null pointers, `None`
        // callbacks and zero numbers are valid values for all of its fields.
        let mut raw: bindings::kobj_attribute = unsafe { MaybeUninit::zeroed().assume_init() };
        raw.attr.name = name.as_char_ptr();
        raw.attr.mode = mode;
        raw
    }
}

/// The NULL-terminated array of attribute pointers that a [`Group`] lists.
#[repr(C)]
pub(crate) struct AttributeList<const N: usize> {
    attrs: [*mut bindings::attribute; N],
    // `repr(C)` places this right after the array: the terminating NULL.
    end: *mut bindings::attribute,
}

// SAFETY: The list is never written after construction and only points to
// `'static` attributes, which are `Sync`.
unsafe impl<const N: usize> Sync for AttributeList<N> {}

impl<const N: usize> AttributeList<N> {
    /// Lists `attrs`, in order.
    pub(crate) const fn new(attrs: [&'static Attribute; N]) -> Self {
        let mut raw = [null_mut(); N];
        let mut i = 0;
        while i < N {
            // CAST: `struct attribute` is the first member of `struct kobj_attribute`.
            raw[i] = attrs[i].0.get().cast::<bindings::attribute>();
            i += 1;
        }
        Self { attrs: raw, end: null_mut() }
    }
}

/// `struct attribute_group` without a subdirectory name.
#[repr(transparent)]
pub(crate) struct Group(Opaque<bindings::attribute_group>);

// SAFETY: Never written after construction; sysfs only reads it.
unsafe impl Sync for Group {}

impl Group {
    /// The group of the attributes in `list`.
    pub(crate) const fn new<const N: usize>(list: &'static AttributeList<N>) -> Self {
        // SAFETY: `attribute_group` is plain C data for which zero is valid.
        let mut raw: bindings::attribute_group = unsafe { MaybeUninit::zeroed().assume_init() };
        raw.attrs = (list as *const AttributeList<N>).cast_mut().cast();
        Self(Opaque::new(raw))
    }
}

/// A directory `/sys/kernel/<name>/` holding one attribute group.
///
/// # Invariants
///
/// `kobj` is a live kobject we hold a reference to, with `group` created on it.
pub(crate) struct Directory {
    kobj: NonNull<bindings::kobject>,
    group: &'static Group,
}

// SAFETY: The kobject is reference counted and the sysfs calls made on it
// (notify, remove, put) may come from any thread.
unsafe impl Send for Directory {}
// SAFETY: `&Directory` only allows `sysfs_notify`, which is thread-safe.
unsafe impl Sync for Directory {}

impl Directory {
    /// Creates `/sys/kernel/<name>/` with the attributes of `group`.
    ///
    /// Fails with `ENOMEM` if the kobject cannot be created (also when the
    /// name is taken: the kernel logs that case).
    pub(crate) fn create(name: &'static CStr, group: &'static Group) -> Result<Self> {
        // SAFETY: `kernel_kobj` is set at boot, before any module can load, and never changes.
        let parent = unsafe { bindings::kernel_kobj };
        // SAFETY: `name` is NUL-terminated and outlives the kobject; `parent` is a live kobject.
        let raw = unsafe { bindings::kobject_create_and_add(name.as_char_ptr(), parent) };
        let kobj = NonNull::new(raw).ok_or(ENOMEM)?;
        // SAFETY: `kobj` was just created; `group` and all it points to are `'static`.
        let created = to_result(unsafe { bindings::sysfs_create_group(kobj.as_ptr(), group.0.get()) });
        if let Err(e) = created {
            // SAFETY: We own the one reference `kobject_create_and_add` gave us.
            unsafe { bindings::kobject_put(kobj.as_ptr()) };
            return Err(e);
        }
        // INVARIANT: The kobject is live and the group was created on it.
        Ok(Self { kobj, group })
    }

    /// The kobject, for `changed` from code that outlives no directory.
    pub(crate) fn kobject(&self) -> *mut bindings::kobject {
        self.kobj.as_ptr()
    }
}

/// Wakes the `poll(2)`ers of attribute `name` of `kobj`.
///
/// # Safety
///
/// `kobj` must be the kobject of a live `Directory` for the whole call.
pub(crate) unsafe fn notify(kobj: *mut bindings::kobject, name: &CStr) {
    // SAFETY: By the function's safety requirements `kobj` is live; `name`
    // is NUL-terminated.
    unsafe { bindings::sysfs_notify(kobj, core::ptr::null(), name.as_char_ptr()) };
}

/// Reads up to `buf.len()` bytes of the sysfs attribute at `path`, as
/// userspace would; returns how many were read. For kernel state that only
/// sysfs tells a module (a CPU's `crash_notes` address: the symbol is not
/// exported), in process context.
pub(crate) fn read_attribute(path: &CStr, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: `path` is NUL-terminated; O_RDONLY opens without side effects.
    let file = kernel::error::from_err_ptr(unsafe { bindings::filp_open(path.as_char_ptr(), 0, 0) })?;
    let mut pos: bindings::loff_t = 0;
    // SAFETY: `file` was just opened; `buf` is valid for `buf.len()` bytes.
    let read = unsafe { bindings::kernel_read(file, buf.as_mut_ptr().cast(), buf.len(), &mut pos) };
    // SAFETY: Opened above, closed once; no owner id (not a task's table).
    unsafe { bindings::filp_close(file, null_mut()) };
    usize::try_from(read).map_err(|_| Error::from_errno(read as i32))
}

/// The most environment variables [`uevent_change`] adds.
pub(crate) const MAX_UEVENT_ENV: usize = 4;

/// Sends a change uevent for `kobj`, which must belong to a kset (a
/// directory made by [`Directory::create`] does not: the kernel sends no
/// uevent for it), with `env` ("KEY=value" strings) added to the kernel's
/// own variables (ACTION, DEVPATH, SUBSYSTEM, SEQNUM).
///
/// # Safety
///
/// `kobj` must be a live kobject for the whole call.
pub(crate) unsafe fn uevent_change(kobj: *mut bindings::kobject, env: &[&CStr]) -> Result {
    let mut envp = [null_mut::<kernel::ffi::c_char>(); MAX_UEVENT_ENV + 1];
    if env.len() > MAX_UEVENT_ENV {
        return Err(E2BIG);
    }
    for (slot, var) in envp.iter_mut().zip(env) {
        *slot = var.as_char_ptr().cast_mut();
    }
    // SAFETY: By the function's safety requirements `kobj` is live; `envp`
    // is a NULL-terminated array of NUL-terminated strings that outlive the
    // call, which only reads them.
    to_result(unsafe { bindings::kobject_uevent_env(kobj, bindings::kobject_action_KOBJ_CHANGE, envp.as_mut_ptr()) })
}

impl Drop for Directory {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the group exists on this live kobject.
        unsafe { bindings::sysfs_remove_group(self.kobj.as_ptr(), self.group.0.get()) };
        // SAFETY: We own one reference, given up here; removal of the
        // attributes above has waited for every running callback.
        unsafe { bindings::kobject_put(self.kobj.as_ptr()) };
    }
}

/// sysfs's `show` entry point for attributes whose values `T` shows.
///
/// # Safety
///
/// `buf` must point to `PAGE_SIZE` writable bytes that nothing else uses
/// during the call (sysfs guarantees this).
unsafe extern "C" fn show_callback<T: Show>(
    _kobj: *mut bindings::kobject,
    _attr: *mut bindings::kobj_attribute,
    buf: *mut kernel::ffi::c_char,
) -> isize {
    // SAFETY: The function's safety requirements.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), PAGE_SIZE) };
    let mut page = Page { buf, len: 0 };
    from_result(|| {
        T::show(&mut page)?;
        // CAST: `len` is at most `PAGE_SIZE`.
        Ok(page.len as isize)
    })
}

/// sysfs's `store` entry point for attributes that `T` updates.
///
/// # Safety
///
/// `buf` must point to `count` readable bytes (sysfs guarantees this).
unsafe extern "C" fn store_callback<T: Store>(
    _kobj: *mut bindings::kobject,
    _attr: *mut bindings::kobj_attribute,
    buf: *const kernel::ffi::c_char,
    count: usize,
) -> isize {
    // SAFETY: The function's safety requirements.
    let bytes = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), count) };
    from_result(|| {
        let input = core::str::from_utf8(bytes).map_err(|_| EINVAL)?;
        T::store(input)?;
        // CAST: sysfs never passes more than `PAGE_SIZE` bytes.
        Ok(count as isize)
    })
}
