//! `Subject` adapters for real allocator crates from crates.io — one adapter
//! per peer for the whole project (the benchmarks reuse these).
//!
//! Each adapter owns a [`Region`](crate::subject::Region): a zeroed heap
//! buffer of the requested capacity, allocated with `std::alloc` and freed
//! on drop. Offsets are `pointer - region base`.
//! Requests of 0 bytes are passed on as 1 byte (several crates require a
//! non-zero size). A realloc the crate cannot do in place (or has no realloc
//! for) allocates, copies the smaller size and frees, as `realloc` does.
//!
//! | subject | crate | model |
//! |---|---|---|
//! | `talc` | talc 5.1.1 (`base::Talc` with the `Manual` source) | segregated fit, boundary tags, immediate coalescing |
//! | `rlsf` | rlsf 0.2.3 (`Tlsf<u32, u32, 28, 32>`) | TLSF: two-level segregated fit, O(1) |
//! | `buddy` | buddy_system_allocator 0.13.0 (`Heap<32>`) | binary buddy system |
//! | `linked-list` | linked_list_allocator 0.10.6 (`Heap`) | address-ordered first fit, immediate coalescing |
//! | `dlmalloc` | dlmalloc 0.2.14 | Doug Lea's malloc over one region handed out once |
//! | `offset-allocator` | offset-allocator 0.2.0 | Sebastian Aaltonen's O(1) offset allocator; **ignores alignment** |
//! | `slab` | slabmalloc 0.11.0 + rlsf | slab caches for ≤ 128 KiB over pages from a TLSF page allocator |

mod buddy;
mod dlmalloc;
mod layout;
mod linked_list;
mod offset;
mod rlsf;
mod slab;
mod talc;

pub use self::buddy::BuddySubject;
pub use self::dlmalloc::DlmallocSubject;
pub use self::linked_list::LinkedListSubject;
pub use self::offset::OffsetAllocatorSubject;
pub use self::rlsf::RlsfSubject;
pub use self::slab::SlabSubject;
pub use self::talc::TalcSubject;
