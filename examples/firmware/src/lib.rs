//! sysarena on a bare-metal Cortex-M: the parts the example programs share.
//!
//! The programs in `src/bin/` run on QEMU's `mps2-an385` machine (a
//! Cortex-M3, `thumbv7m-none-eabi`) and talk over semihosting:
//!
//! - `heap`: sysarena is the `#[global_allocator]`; a firmware workload, the
//!   seed's fragmentation story (classic [`Heap`](sysarena::Heap), then
//!   [`HandleHeap`](sysarena::HandleHeap) compaction) and bad input.
//! - `device`: the [`Movable`](sysarena::Movable) offset manager over a
//!   "device buffer", one bounded defragmentation pass per frame.
//! - `workload-*`: the same [`workload`] on sysarena and on its peers
//!   (talc, embedded-alloc's two heaps, a bump baseline), to compare flash
//!   and RAM.
//!
//! Everything here prints through [`Line`], a stack buffer, so that
//! printing never allocates from the heap it reports on.
#![no_std]

extern crate alloc;

pub mod checks;
pub mod counted;
pub mod line;
pub mod map;
pub mod workload;

pub use checks::Checks;
pub use line::Line;
