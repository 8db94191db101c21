//! The firmware workload on a bump allocator that never frees: the
//! baseline whose `.text` is subtracted from the others' to give each
//! allocator's own code. Not an allocator to use.
#![no_std]
#![no_main]

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use cortex_m_rt::entry;
use panic_semihosting as _;
use sysarena_firmware::workload;

/// Hands out the region front to back; `dealloc` does nothing.
#[derive(Debug)]
struct Bump {
    next: AtomicUsize,
}

/// Everything the workload ever allocates fits: nothing is reused.
const BUMP_BYTES: usize = 256 * 1024;

static mut MEMORY: [u8; BUMP_BYTES] = [0; BUMP_BYTES];

// SAFETY: each block is a fresh, aligned range inside MEMORY that is
// handed out once (the bump only moves up, under a compare-exchange).
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = core::ptr::addr_of_mut!(MEMORY).cast::<u8>();
        let mut at = self.next.load(Ordering::Relaxed);
        loop {
            let start = (base as usize + at).next_multiple_of(layout.align()) - base as usize;
            let end = start + layout.size();
            if end > BUMP_BYTES {
                return core::ptr::null_mut();
            }
            match self
                .next
                .compare_exchange(at, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return base.wrapping_add(start),
                Err(now) => at = now,
            }
        }
    }

    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}

#[global_allocator]
static HEAP: Bump = Bump {
    next: AtomicUsize::new(0),
};

#[entry]
fn main() -> ! {
    workload::main("a bump allocator (baseline)", &mut || {})
}
