//! [`Counted`]: a `GlobalAlloc` wrapper that counts the bytes and blocks
//! callers hold, so the metadata an allocator spends can be told from what
//! it was asked for (feature `measure-ram`).

use core::alloc::{GlobalAlloc, Layout};
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Forwards to `inner`, counting the live requested bytes and blocks.
pub struct Counted<A: 'static> {
    inner: &'static A,
    bytes: AtomicUsize,
    blocks: AtomicUsize,
}

impl<A> Counted<A> {
    /// A counter in front of `inner`.
    pub const fn new(inner: &'static A) -> Self {
        Counted {
            inner,
            bytes: AtomicUsize::new(0),
            blocks: AtomicUsize::new(0),
        }
    }

    /// Bytes callers asked for and still hold.
    pub fn live_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Blocks callers still hold.
    pub fn live_blocks(&self) -> usize {
        self.blocks.load(Ordering::Relaxed)
    }
}

impl<A> fmt::Debug for Counted<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counted")
            .field("bytes", &self.live_bytes())
            .field("blocks", &self.live_blocks())
            .finish()
    }
}

// SAFETY: every call is forwarded unchanged to `inner`, which upholds the
// `GlobalAlloc` contract; the counters only observe.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counted<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            self.bytes.fetch_add(layout.size(), Ordering::Relaxed);
            self.blocks.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `ptr` came from `alloc` with `layout`.
        unsafe { self.inner.dealloc(ptr, layout) };
        self.bytes.fetch_sub(layout.size(), Ordering::Relaxed);
        self.blocks.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `realloc`'s contract.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.bytes.fetch_add(new_size, Ordering::Relaxed);
            self.bytes.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}
