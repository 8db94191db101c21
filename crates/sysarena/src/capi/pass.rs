//! The C ABI's defragmentation passes over a block: plan moves into the
//! caller's array, let the caller carry them out on the device (any order,
//! `memmove` semantics), commit them with the caller's verdicts.

use super::block::{SysarenaBlock, block, code, handle_code};
use super::{SYSARENA_E_BAD_ARGUMENT, SYSARENA_E_NO_PASS, SYSARENA_E_NULL};
use crate::handle::Handle;
use crate::pass::{MoveStatus, PassLimits, PassStop, PlannedMove};

/// A planned move not marked yet (ending the pass skips it).
pub const SYSARENA_MOVE_PENDING: i32 = 0;
/// The caller copied the bytes: the allocation now lives at `to`.
pub const SYSARENA_MOVE_DONE: i32 = 1;
/// Not copied this time; a later pass may plan it again.
pub const SYSARENA_MOVE_SKIPPED: i32 = 2;
/// Not copied, and it must not move: the allocation is pinned (until
/// `sysarena_block_unpin`).
pub const SYSARENA_MOVE_CANCELLED: i32 = 3;

/// Planning walked every arena. With no move planned, the layout has
/// converged.
pub const SYSARENA_PASS_WALKED: i32 = 0;
/// Planning stopped at the move limit.
pub const SYSARENA_PASS_MOVE_LIMIT: i32 = 1;
/// Planning stopped at the byte limit.
pub const SYSARENA_PASS_BYTE_LIMIT: i32 = 2;
/// Planning stopped: the move array (or the block's move capacity) is full.
pub const SYSARENA_PASS_BUFFER_FULL: i32 = 3;
/// Planning stopped: no spare descriptor to reserve another destination.
pub const SYSARENA_PASS_NO_DESCRIPTOR: i32 = 4;

/// One planned move of a pass, as [`sysarena_block_begin_pass`] writes it:
/// copy `len` bytes of the allocation `handle` from offset `from` to offset
/// `to` (ranges may overlap: copy as `memmove`), then set `status`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SysarenaMove {
    /// The allocation that moves.
    pub handle: u64,
    /// Its offset now.
    pub from: usize,
    /// Its offset after the pass.
    pub to: usize,
    /// Bytes to copy.
    pub len: usize,
    /// A `SYSARENA_MOVE_*` value; `SYSARENA_MOVE_PENDING` when planned.
    pub status: i32,
}

/// What [`sysarena_block_begin_pass`] planned.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SysarenaPassPlan {
    /// Moves planned (the first entries of the move array).
    pub moves: usize,
    /// Bytes they move.
    pub bytes: usize,
    /// Why planning stopped: a `SYSARENA_PASS_*` value.
    pub stopped: i32,
    /// 1 when nothing is left to move (no move planned, every arena
    /// walked), else 0.
    pub converged: i32,
}

/// What [`sysarena_block_end_pass`] did.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SysarenaPassReport {
    /// Moves committed.
    pub done: usize,
    /// Moves skipped or left pending.
    pub skipped: usize,
    /// Moves cancelled (those allocations are now pinned, until
    /// `sysarena_block_unpin`).
    pub cancelled: usize,
    /// Moves marked done that could not be committed, or entries the pass
    /// did not plan: nothing changed for them.
    pub rejected: usize,
    /// Bytes of the committed moves.
    pub bytes_moved: usize,
    /// The largest free arena after the pass.
    pub largest_free_after: usize,
}

fn stop_code(s: PassStop) -> i32 {
    match s {
        PassStop::Walked => SYSARENA_PASS_WALKED,
        PassStop::MoveLimit => SYSARENA_PASS_MOVE_LIMIT,
        PassStop::ByteLimit => SYSARENA_PASS_BYTE_LIMIT,
        PassStop::BufferFull => SYSARENA_PASS_BUFFER_FULL,
        #[allow(unreachable_patterns)]
        _ => SYSARENA_PASS_NO_DESCRIPTOR,
    }
}

/// Begins a defragmentation pass: plans at most `max_moves` moves and
/// `max_bytes` bytes (0: no limit) into `moves[0 .. cap]` (at most the
/// block's move capacity), reserves their destinations, and fills `*plan`.
/// Carry out the moves on the device — any order, `memmove` semantics —
/// set each one's `status`, then call [`sysarena_block_end_pass`].
///
/// Returns `SYSARENA_OK`, `SYSARENA_E_NULL`, `SYSARENA_E_BAD_BLOCK`,
/// `SYSARENA_E_PASS_ACTIVE`.
///
/// # Safety
/// As `sysarena_block_free`; `moves` writable for `cap` entries, `plan`
/// writable.
///
/// # Time complexity
/// O(arenas) (the moves it plans and copies out are at most the arenas).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysarena_block_begin_pass(
    b: *mut SysarenaBlock,
    max_moves: usize,
    max_bytes: usize,
    moves: *mut SysarenaMove,
    cap: usize,
    plan: *mut SysarenaPassPlan,
) -> i32 {
    if plan.is_null() || (moves.is_null() && cap > 0) {
        return SYSARENA_E_NULL;
    }
    let limit = |x: usize| if x == 0 { usize::MAX } else { x };
    // SAFETY: forwarded to the caller.
    let b = unsafe { block(b) };
    code(b.and_then(|b| {
        let n = cap.min(b.scratch.len());
        let limits = PassLimits::new(limit(max_moves), limit(max_bytes));
        let p = b
            .movable
            .begin_pass(limits, &mut b.scratch[..n])
            .map_err(handle_code)?;
        for (i, mv) in b.scratch[..p.moves].iter().enumerate() {
            let m = SysarenaMove {
                handle: mv.handle.to_bits(),
                from: mv.from,
                to: mv.to,
                len: mv.len,
                status: SYSARENA_MOVE_PENDING,
            };
            // SAFETY: `i < p.moves <= n <= cap` entries are writable.
            unsafe { moves.add(i).write_unaligned(m) };
        }
        let out = SysarenaPassPlan {
            moves: p.moves,
            bytes: p.bytes,
            stopped: stop_code(p.stopped),
            converged: i32::from(p.converged()),
        };
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { plan.write_unaligned(out) };
        Ok(())
    }))
}

/// Ends the open pass with the caller's verdicts: `moves[0 .. n]` as
/// [`sysarena_block_begin_pass`] wrote them, each `status` set. Moves
/// marked `SYSARENA_MOVE_DONE` are committed (the allocations' offsets
/// change), `SYSARENA_MOVE_CANCELLED` pins the allocation (until
/// `sysarena_block_unpin`), the rest are skipped; an entry the pass did
/// not plan (another handle, or the planned handle's index with another
/// generation) is rejected and changes nothing. `report` may be `NULL`.
///
/// Returns `SYSARENA_OK`, `SYSARENA_E_NULL`, `SYSARENA_E_BAD_BLOCK`,
/// `SYSARENA_E_NO_PASS`, `SYSARENA_E_BAD_ARGUMENT` (a status that is not a
/// `SYSARENA_MOVE_*` value, or more entries than the block's move
/// capacity; the pass stays open then).
///
/// # Safety
/// As `sysarena_block_free`; `moves` readable for `n` entries, `report`
/// `NULL` or writable.
///
/// # Time complexity
/// O(n + arenas): O(1) per entry, plus a walk of the
/// arenas when planned moves were not handed back, and one `stats`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysarena_block_end_pass(
    b: *mut SysarenaBlock,
    moves: *const SysarenaMove,
    n: usize,
    report: *mut SysarenaPassReport,
) -> i32 {
    if moves.is_null() && n > 0 {
        return SYSARENA_E_NULL;
    }
    // SAFETY: forwarded to the caller.
    let b = unsafe { block(b) };
    code(b.and_then(|b| {
        if !b.movable.pass_active() {
            return Err(SYSARENA_E_NO_PASS);
        }
        if n > b.scratch.len() {
            return Err(SYSARENA_E_BAD_ARGUMENT);
        }
        for i in 0..n {
            // SAFETY: `i < n` entries are readable.
            let m = unsafe { moves.add(i).read_unaligned() };
            let status = match m.status {
                SYSARENA_MOVE_PENDING => MoveStatus::Pending,
                SYSARENA_MOVE_DONE => MoveStatus::Done,
                SYSARENA_MOVE_SKIPPED => MoveStatus::Skipped,
                SYSARENA_MOVE_CANCELLED => MoveStatus::Cancelled,
                _ => return Err(SYSARENA_E_BAD_ARGUMENT),
            };
            let mut mv = PlannedMove::EMPTY;
            mv.handle = Handle::from_bits(m.handle);
            mv.from = m.from;
            mv.to = m.to;
            mv.len = m.len;
            mv.status = status;
            b.scratch[i] = mv;
        }
        let r = b.movable.end_pass(&b.scratch[..n]).map_err(handle_code)?;
        if !report.is_null() {
            let out = SysarenaPassReport {
                done: r.done,
                skipped: r.skipped,
                cancelled: r.cancelled,
                rejected: r.rejected,
                bytes_moved: r.bytes_moved,
                largest_free_after: r.largest_free_after,
            };
            // SAFETY: non-null and writable by the caller's contract.
            unsafe { report.write_unaligned(out) };
        }
        Ok(())
    }))
}
