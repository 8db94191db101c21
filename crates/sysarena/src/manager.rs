//! [`ArenaManager`]: the arena model on offsets.
//!
//! One concept per file, in layer order (a file uses only those above it):
//! `state` (the struct) → `offset_map` → `links`, `free_index` (table upkeep) →
//! `split_merge`, `fits`, `segregated_fit` → `quick_lists` → `table_compaction`,
//! `relocation`, `operations` → `realloc`, `construction`, `reading`, `invariants` →
//! `passes` (relocation passes planned for [`Movable`](crate::Movable); the
//! classic defragment is `operations`' merge and `table_compaction`).

#[allow(unsafe_code)] // `from_empty_table`: an unsafe contract on the table's contents
mod construction;
mod fits;
mod free_index;
mod invariants;
mod links;
#[allow(unsafe_code)] // the dense bucket heads: `u32` words inside never-used slots
mod offset_map;
mod operations;
pub(crate) mod passes;
mod quick_lists;
mod reading;
mod realloc;
mod relocation;
mod segregated_fit;
mod split_merge;
#[allow(unsafe_code)] // `slot`/`slot_mut`: unchecked indexing under the link invariant
mod state;
mod table_compaction;

pub use quick_lists::{
    QUICK_DEPTH, QUICK_GRANULE, QUICK_LIMIT, QUICK_MAX_BYTES, QUICK_NEAR_SHARE, QUICK_SHARE,
    quick_near_sizes, quick_serves_smaller,
};
pub use reading::Arenas;
pub use state::{ArenaManager, SliceManager};
