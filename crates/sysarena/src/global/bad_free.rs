//! Invalid and double frees: `GlobalAlloc::dealloc` cannot return an
//! error, so a pointer that is not a live block is counted and handed to a
//! [`BadFreeHandler`](crate::global::BadFreeHandler) (after the lock is released) instead of being freed.

use core::alloc::Layout;

use crate::error::FreeError;

/// An invalid or double free seen by `dealloc` (or a `realloc` of a pointer
/// that is not a live allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadFree {
    /// The pointer passed in.
    pub ptr: *mut u8,
    /// The layout passed in.
    pub layout: Layout,
    /// Why it is not a live allocation of this heap.
    pub error: FreeError,
}

/// Called, after the lock is released, with every invalid or double free.
/// The heap has already counted it and left its table untouched. It may
/// log, panic in a `panic = "abort"` build, or abort; it must not unwind
/// (unwinding out of a global allocator is undefined behaviour).
pub type BadFreeHandler = fn(&BadFree);

/// The default [`BadFreeHandler`](crate::global::BadFreeHandler): [`abort_on_bad_free`](crate::global::abort_on_bad_free) when
/// `debug_assertions` are on, [`ignore_bad_free`](crate::global::ignore_bad_free) otherwise.
///
/// # Time complexity
/// O(1).
pub const fn default_bad_free_handler() -> BadFreeHandler {
    if cfg!(debug_assertions) {
        abort_on_bad_free
    } else {
        ignore_bad_free
    }
}

/// A [`BadFreeHandler`](crate::global::BadFreeHandler) that ignores the free (it is still counted).
///
/// # Time complexity
/// O(1).
pub fn ignore_bad_free(_: &BadFree) {}

/// A [`BadFreeHandler`](crate::global::BadFreeHandler) that stops the program with a message naming the
/// pointer and the error, without unwinding.
///
/// With the `std` feature it writes the message to stderr and aborts the
/// process: nothing is allocated on the way. Without it, it panics with a
/// guard whose drop panics again (with `panic = "abort"`, or in `no_std`,
/// the first panic already stops). Under `std` that second panic's report
/// prints a backtrace, which allocates — from this heap when it is the
/// global allocator, and std's out-of-memory hook can then wait for ever
/// on the lock the backtrace holds. So a program with `std` that uses
/// sysarena as its global allocator should enable the `std` feature.
///
/// # Time complexity
/// O(1) before it stops the program (formatting a short message, then
/// the panic handler's work); it does not return.
pub fn abort_on_bad_free(bad: &BadFree) {
    #[cfg(feature = "std")]
    {
        // `eprintln!` formats straight into the unbuffered stderr: no
        // allocation, and no panic whose report would make one.
        std::eprintln!(
            "sysarena: {} (pointer {:p}, layout size {} align {}); the heap is unchanged; aborting",
            bad.error,
            bad.ptr,
            bad.layout.size(),
            bad.layout.align()
        );
        std::process::abort();
    }
    #[cfg(not(feature = "std"))]
    stop_by_double_panic(bad);
}

/// [`abort_on_bad_free`] without `std`: a panic that cannot unwind out of
/// the allocator.
#[cfg(not(feature = "std"))]
fn stop_by_double_panic(bad: &BadFree) {
    let _guard = super::state::AbortOnUnwind;
    panic!(
        "sysarena: {} (pointer {:p}, layout size {} align {}); the heap is unchanged",
        bad.error,
        bad.ptr,
        bad.layout.size(),
        bad.layout.align()
    );
}
