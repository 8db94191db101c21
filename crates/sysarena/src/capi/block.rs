//! The C ABI for foreign memory: a *block* is a [`Movable`] manager over a
//! capacity of offsets, with its tables in memory the caller provides —
//! made, allocated from, freed, walked and checked here; its
//! defragmentation passes are in `pass.rs`.

use core::mem::{align_of, size_of};
use core::ptr;

use super::{
    SYSARENA_E_BAD_ALIGN, SYSARENA_E_BAD_ARGUMENT, SYSARENA_E_BAD_BLOCK, SYSARENA_E_INTERNAL,
    SYSARENA_E_NO_DESCRIPTOR, SYSARENA_E_NO_HANDLE, SYSARENA_E_NO_PASS, SYSARENA_E_NULL,
    SYSARENA_E_PASS_ACTIVE, SYSARENA_E_PINNED, SYSARENA_E_STALE_HANDLE, SYSARENA_OK, SysarenaStats,
    alloc_code,
};
use crate::config::Config;
use crate::error::HandleError;
use crate::handle::{Handle, HandleSlot};
use crate::manager::ArenaManager;
use crate::movable::Movable;
use crate::pass::PlannedMove;
use crate::table::Slot;

/// Marks a live block (`"sysarena"` in ASCII).
const MAGIC: u64 = 0x7379_7361_7265_6e61;

/// A block: the manager and its tables, inside memory the caller gave to
/// [`sysarena_block_init`]. Opaque to C.
#[derive(Debug)]
pub struct SysarenaBlock {
    magic: u64,
    pub(super) movable: Movable<0, 0, &'static mut [Slot], &'static mut [HandleSlot]>,
    /// Where a pass plans its moves before they are copied out to C.
    pub(super) scratch: &'static mut [PlannedMove],
}

/// One arena of a block, as [`sysarena_block_walk`] writes it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SysarenaArena {
    /// First offset of the arena.
    pub offset: usize,
    /// Bytes it covers.
    pub size: usize,
    /// Bytes requested (0 when free).
    pub used: usize,
    /// 1 if handed out, else 0.
    pub in_use: i32,
}

/// Where the parts of a block lie in the caller's memory, from its start:
/// the block, the descriptor table, the handle table, the move scratch.
struct Parts {
    block: usize,
    slots: usize,
    handles: usize,
    moves: usize,
    end: usize,
}

fn round_up(x: usize, align: usize) -> Option<usize> {
    Some(x.checked_add(align - 1)? & !(align - 1))
}

/// The layout of a block's memory starting at address `start`.
fn parts(start: usize, n_desc: usize, n_handles: usize, n_moves: usize) -> Option<Parts> {
    if n_desc == 0 || n_handles == 0 || n_moves == 0 || n_desc >= u32::MAX as usize - 1 {
        return None;
    }
    let block = round_up(start, align_of::<SysarenaBlock>())?;
    let slots = round_up(
        block.checked_add(size_of::<SysarenaBlock>())?,
        align_of::<Slot>(),
    )?;
    let handles = round_up(
        slots.checked_add(n_desc.checked_mul(size_of::<Slot>())?)?,
        align_of::<HandleSlot>(),
    )?;
    let moves = round_up(
        handles.checked_add(n_handles.checked_mul(size_of::<HandleSlot>())?)?,
        align_of::<PlannedMove>(),
    )?;
    let end = moves.checked_add(n_moves.checked_mul(size_of::<PlannedMove>())?)?;
    Some(Parts {
        block,
        slots,
        handles,
        moves,
        end,
    })
}

/// The bytes of memory [`sysarena_block_init`] needs for a block of
/// `n_desc` arena descriptors, `n_handles` handles and passes of at most
/// `n_moves` moves, at any alignment; 0 if a count is 0 or the size
/// overflows.
///
/// # Time complexity
/// O(1).
#[unsafe(no_mangle)]
pub extern "C" fn sysarena_block_size_for(
    n_desc: usize,
    n_handles: usize,
    n_moves: usize,
) -> usize {
    // The worst start needs `align - 1` bytes of padding in front.
    let worst = align_of::<SysarenaBlock>() - 1;
    parts(worst, n_desc, n_handles, n_moves).map_or(0, |p| p.end)
}

/// Makes a block managing `capacity` offsets (`[0, capacity)`) inside the
/// `len` bytes at `mem`, and stores its pointer in `*out`. Nothing else is
/// allocated: `mem` holds the block and its tables until the caller stops
/// using it (the block needs no clean-up: just stop using `mem`). The
/// block runs the fast model (O(1) segregated fit, immediate coalescing).
///
/// Returns `SYSARENA_OK`, `SYSARENA_E_NULL` (`mem` or `out`),
/// `SYSARENA_E_BAD_ARGUMENT` (a count is 0, or the block and its tables do
/// not fit in `len` bytes at `mem`'s alignment; `sysarena_block_size_for`
/// bytes always fit, at any alignment, and a well-aligned `mem` may need a
/// little less).
///
/// # Safety
/// `mem .. mem + len` must be writable memory that nothing else uses while
/// the block is used; `out` must be `NULL` or writable.
///
/// # Time complexity
/// O(n_desc + n_handles + n_moves): every table is written once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysarena_block_init(
    mem: *mut core::ffi::c_void,
    len: usize,
    capacity: usize,
    n_desc: usize,
    n_handles: usize,
    n_moves: usize,
    out: *mut *mut SysarenaBlock,
) -> i32 {
    if mem.is_null() || out.is_null() {
        return SYSARENA_E_NULL;
    }
    let start = mem as usize;
    let Some(p) = parts(start, n_desc, n_handles, n_moves) else {
        return SYSARENA_E_BAD_ARGUMENT;
    };
    if p.end - start > len {
        return SYSARENA_E_BAD_ARGUMENT;
    }
    let mem = mem.cast::<u8>();
    // SAFETY: each part lies inside `mem .. mem + len` (checked above), is
    // aligned for its type (`parts` rounds up), and the parts do not
    // overlap; the caller gives us this memory for as long as the block is
    // used, which is what `'static` stands for here.
    let (slots, handles, scratch) = unsafe {
        let slots = mem.add(p.slots - start).cast::<Slot>();
        for i in 0..n_desc {
            slots.add(i).write(Slot::EMPTY);
        }
        let handles = mem.add(p.handles - start).cast::<HandleSlot>();
        for i in 0..n_handles {
            handles.add(i).write(HandleSlot::EMPTY);
        }
        let moves = mem.add(p.moves - start).cast::<PlannedMove>();
        for i in 0..n_moves {
            moves.add(i).write(PlannedMove::EMPTY);
        }
        (
            core::slice::from_raw_parts_mut(slots, n_desc),
            core::slice::from_raw_parts_mut(handles, n_handles),
            core::slice::from_raw_parts_mut(moves, n_moves),
        )
    };
    // SAFETY: every slot was just written as `Slot::EMPTY`.
    let manager = match unsafe { ArenaManager::from_empty_table(slots, capacity, Config::fast()) } {
        Ok(m) => m,
        Err(_) => return SYSARENA_E_BAD_ARGUMENT,
    };
    let Ok(movable) = Movable::from_parts(manager, handles) else {
        return SYSARENA_E_BAD_ARGUMENT;
    };
    let block = mem.wrapping_add(p.block - start).cast::<SysarenaBlock>();
    // SAFETY: `block` is aligned and inside `mem` (as above); `out` is
    // writable by the caller's contract.
    unsafe {
        block.write(SysarenaBlock {
            magic: MAGIC,
            movable,
            scratch,
        });
        out.write(block);
    }
    SYSARENA_OK
}

/// The block behind `b`, if it looks like one.
///
/// # Safety
/// `b` must be `NULL` or a pointer `sysarena_block_init` stored, whose
/// memory is still the block's.
pub(super) unsafe fn block<'a>(b: *mut SysarenaBlock) -> Result<&'a mut SysarenaBlock, i32> {
    if b.is_null() {
        return Err(SYSARENA_E_NULL);
    }
    if !(b as usize).is_multiple_of(align_of::<SysarenaBlock>()) {
        return Err(SYSARENA_E_BAD_BLOCK);
    }
    // SAFETY: by the caller's contract `b` points to a block's memory; the
    // magic number (read without making a reference first) catches a
    // block that was overwritten or never made.
    if unsafe { ptr::addr_of!((*b).magic).read() } != MAGIC {
        return Err(SYSARENA_E_BAD_BLOCK);
    }
    // SAFETY: as above, and the magic number says a block lives there.
    Ok(unsafe { &mut *b })
}

pub(super) fn handle_code(e: HandleError) -> i32 {
    match e {
        HandleError::Stale { .. } => SYSARENA_E_STALE_HANDLE,
        HandleError::Pinned { .. } | HandleError::Moving { .. } => SYSARENA_E_PINNED,
        HandleError::NoSpareHandle { .. } => SYSARENA_E_NO_HANDLE,
        HandleError::Alloc(e) => alloc_code(e),
        HandleError::NoSpareDescriptor => SYSARENA_E_NO_DESCRIPTOR,
        HandleError::PassActive => SYSARENA_E_PASS_ACTIVE,
        HandleError::NoPass => SYSARENA_E_NO_PASS,
        HandleError::NotPinned { .. } | HandleError::PinOverflow { .. } => SYSARENA_E_BAD_ARGUMENT,
        _ => SYSARENA_E_INTERNAL,
    }
}

/// The return code of an operation.
pub(super) fn code(r: Result<(), i32>) -> i32 {
    match r {
        Ok(()) => SYSARENA_OK,
        Err(code) => code,
    }
}

/// Allocates `size` bytes at an offset aligned to `align` (a power of
/// two); stores the allocation's handle in `*out_handle` and its offset in
/// `*out_offset` (the offset changes only when a pass moves it).
///
/// Returns `SYSARENA_OK`, `SYSARENA_E_NULL`, `SYSARENA_E_BAD_BLOCK`,
/// `SYSARENA_E_BAD_ALIGN`, `SYSARENA_E_TOO_LARGE` (also a `size` of 0),
/// `SYSARENA_E_OUT_OF_MEMORY`, `SYSARENA_E_NO_DESCRIPTOR`,
/// `SYSARENA_E_NO_HANDLE`. On error nothing changes.
///
/// # Safety
/// `b` as [`sysarena_block_free`]; the out pointers writable.
///
/// # Time complexity
/// O(1) (segregated fit with quick lists). Before it fails, an allocation
/// empties the quick lists (a bounded amount of work) and tries again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysarena_block_alloc(
    b: *mut SysarenaBlock,
    size: usize,
    align: usize,
    out_handle: *mut u64,
    out_offset: *mut usize,
) -> i32 {
    if out_handle.is_null() || out_offset.is_null() {
        return SYSARENA_E_NULL;
    }
    if !align.is_power_of_two() {
        return SYSARENA_E_BAD_ALIGN;
    }
    // SAFETY: forwarded to the caller.
    let b = unsafe { block(b) };
    code(b.and_then(|b| {
        let h = b.movable.alloc(size, align).map_err(handle_code)?;
        let offset = b.movable.offset(h).map_err(handle_code)?;
        // SAFETY: non-null and writable by the caller's contract.
        unsafe {
            out_handle.write(h.to_bits());
            out_offset.write(offset);
        }
        Ok(())
    }))
}

/// Frees the allocation `handle`.
///
/// Returns `SYSARENA_OK`, `SYSARENA_E_NULL`, `SYSARENA_E_BAD_BLOCK`,
/// `SYSARENA_E_STALE_HANDLE` (freed already, or never handed out),
/// `SYSARENA_E_PINNED` (pinned, or moving in the open pass). On error
/// nothing changes.
///
/// # Safety
/// `b` must be `NULL` or the pointer `sysarena_block_init` stored, with
/// its memory still the block's; no other thread may use the block during
/// the call.
///
/// # Time complexity
/// O(1) (the handle names the allocation's descriptor).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysarena_block_free(b: *mut SysarenaBlock, handle: u64) -> i32 {
    // SAFETY: forwarded to the caller.
    let b = unsafe { block(b) };
    code(b.and_then(|b| {
        b.movable
            .free(Handle::from_bits(handle))
            .map_err(handle_code)
    }))
}

/// Pins the allocation `handle`: no defragmentation pass moves it, and it
/// cannot be freed, until as many `sysarena_block_unpin` calls. Stores its
/// offset in `*out` when `out` is not `NULL` (it stays there while pinned).
///
/// Returns `SYSARENA_OK`, `SYSARENA_E_BAD_BLOCK`,
/// `SYSARENA_E_STALE_HANDLE`, `SYSARENA_E_PINNED` (it has a move planned
/// in the open pass), `SYSARENA_E_BAD_ARGUMENT` (pinned 2^32 - 1 times
/// already). On error nothing changes.
///
/// # Safety
/// As [`sysarena_block_free`]; `out` `NULL` or writable.
///
/// # Time complexity
/// O(1).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysarena_block_pin(
    b: *mut SysarenaBlock,
    handle: u64,
    out: *mut usize,
) -> i32 {
    // SAFETY: forwarded to the caller.
    let b = unsafe { block(b) };
    code(b.and_then(|b| {
        let off = b
            .movable
            .pin(Handle::from_bits(handle))
            .map_err(handle_code)?;
        if !out.is_null() {
            // SAFETY: non-null, so writable by the caller's contract.
            unsafe { out.write_unaligned(off) };
        }
        Ok(())
    }))
}

/// Undoes one pin of the allocation `handle`: one `sysarena_block_pin`, or
/// the pin that a move marked `SYSARENA_MOVE_CANCELLED` left — the way to
/// make that allocation movable and freeable again.
///
/// Returns `SYSARENA_OK`, `SYSARENA_E_BAD_BLOCK`,
/// `SYSARENA_E_STALE_HANDLE`, `SYSARENA_E_BAD_ARGUMENT` (not pinned). On
/// error nothing changes.
///
/// # Safety
/// As [`sysarena_block_free`].
///
/// # Time complexity
/// O(1).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysarena_block_unpin(b: *mut SysarenaBlock, handle: u64) -> i32 {
    // SAFETY: forwarded to the caller.
    let b = unsafe { block(b) };
    code(b.and_then(|b| {
        b.movable
            .unpin(Handle::from_bits(handle))
            .map_err(handle_code)
    }))
}

/// Stores the current offset of the allocation `handle` in `*out`.
///
/// Returns `SYSARENA_OK`, `SYSARENA_E_NULL`, `SYSARENA_E_BAD_BLOCK`,
/// `SYSARENA_E_STALE_HANDLE`.
///
/// # Safety
/// As [`sysarena_block_free`]; `out` writable.
///
/// # Time complexity
/// O(1).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysarena_block_offset(
    b: *mut SysarenaBlock,
    handle: u64,
    out: *mut usize,
) -> i32 {
    if out.is_null() {
        return SYSARENA_E_NULL;
    }
    // SAFETY: forwarded to the caller.
    let b = unsafe { block(b) };
    code(b.and_then(|b| {
        let off = b
            .movable
            .offset(Handle::from_bits(handle))
            .map_err(handle_code)?;
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { out.write(off) };
        Ok(())
    }))
}

/// Fills `*out` with the block's accounting (`capacity` is the block's
/// offsets).
///
/// Returns `SYSARENA_OK`, `SYSARENA_E_NULL`, `SYSARENA_E_BAD_BLOCK`.
///
/// # Safety
/// As [`sysarena_block_free`]; `out` writable.
///
/// # Time complexity
/// O(1), except a rare walk of one size class
/// (see there).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysarena_block_stats(
    b: *mut SysarenaBlock,
    out: *mut SysarenaStats,
) -> i32 {
    if out.is_null() {
        return SYSARENA_E_NULL;
    }
    // SAFETY: forwarded to the caller.
    let b = unsafe { block(b) };
    code(b.map(|b| {
        let stats = SysarenaStats::from(b.movable.stats());
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { out.write_unaligned(stats) };
    }))
}

/// The heap walk: writes the block's arenas, in offset order, to
/// `out[0 .. cap]` and the number of arenas to `*count` (which may exceed
/// `cap`: call again with a larger array). `out` may be `NULL` when `cap`
/// is 0.
///
/// Returns `SYSARENA_OK`, `SYSARENA_E_NULL`, `SYSARENA_E_BAD_BLOCK`.
///
/// # Safety
/// As [`sysarena_block_free`]; `out` writable for `cap` entries, `count`
/// writable.
///
/// # Time complexity
/// O(arenas), whatever `cap`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysarena_block_walk(
    b: *mut SysarenaBlock,
    out: *mut SysarenaArena,
    cap: usize,
    count: *mut usize,
) -> i32 {
    if count.is_null() || (out.is_null() && cap > 0) {
        return SYSARENA_E_NULL;
    }
    // SAFETY: forwarded to the caller.
    let b = unsafe { block(b) };
    code(b.map(|b| {
        let mut n = 0;
        for a in b.movable.manager().arenas() {
            if n < cap {
                let arena = SysarenaArena {
                    offset: a.offset,
                    size: a.size,
                    used: a.used,
                    in_use: i32::from(a.in_use),
                };
                // SAFETY: `n < cap` entries of `out` are writable.
                unsafe { out.add(n).write_unaligned(arena) };
            }
            n += 1;
        }
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { count.write(n) };
    }))
}

/// The arena that starts at `offset`, written to `*out`.
///
/// Returns `SYSARENA_OK`, `SYSARENA_E_NULL`, `SYSARENA_E_BAD_BLOCK`,
/// `SYSARENA_E_BAD_ARGUMENT` (`offset` is past the capacity, or no arena
/// starts there).
///
/// # Safety
/// As [`sysarena_block_free`]; `out` writable.
///
/// # Time complexity
/// O(arenas): a block finds its allocations by handle and keeps no offset
/// map, so it walks the arenas below `offset`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysarena_block_arena_at(
    b: *mut SysarenaBlock,
    offset: usize,
    out: *mut SysarenaArena,
) -> i32 {
    if out.is_null() {
        return SYSARENA_E_NULL;
    }
    // SAFETY: forwarded to the caller.
    let b = unsafe { block(b) };
    code(b.and_then(|b| {
        let m = b.movable.manager();
        if offset >= m.capacity() {
            return Err(SYSARENA_E_BAD_ARGUMENT);
        }
        let a = m.arena_at(offset).ok_or(SYSARENA_E_BAD_ARGUMENT)?;
        let arena = SysarenaArena {
            offset: a.offset,
            size: a.size,
            used: a.used,
            in_use: i32::from(a.in_use),
        };
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { out.write_unaligned(arena) };
        Ok(())
    }))
}

/// Checks the block's invariants (a bug in sysarena if one is broken).
///
/// Returns `SYSARENA_OK`, `SYSARENA_E_NULL`, `SYSARENA_E_BAD_BLOCK`,
/// `SYSARENA_E_INTERNAL`.
///
/// # Safety
/// As [`sysarena_block_free`].
///
/// # Time complexity
/// O(arenas + descriptors + handles).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysarena_block_check(b: *mut SysarenaBlock) -> i32 {
    // SAFETY: forwarded to the caller.
    let b = unsafe { block(b) };
    code(b.and_then(|b| {
        b.movable
            .check_invariants()
            .map_err(|_| SYSARENA_E_INTERNAL)
    }))
}
