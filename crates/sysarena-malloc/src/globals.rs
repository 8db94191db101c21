//! The published [`Settings`]: one process-wide cell and the state of its
//! initialisation (not yet, under way, ready, failed). Only the data and
//! the once-only protocol live here; what initialisation does is
//! `init`'s.

use core::sync::atomic::{AtomicU8, Ordering};

use crate::settings::Settings;
use crate::sys::SyncCell;

const UNINIT: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;
const FAILED: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static GLOBALS: SyncCell<Settings> = SyncCell::new(Settings::UNSET);

/// The settings if the allocator is initialised, without initialising it.
#[inline]
pub(crate) fn get_if_ready() -> Option<&'static Settings> {
    // SAFETY: READY is stored (release) after GLOBALS is written for the
    // last time; this acquire load orders our read after that write.
    (STATE.load(Ordering::Acquire) == READY).then(|| unsafe { &*GLOBALS.get() })
}

/// Runs `init` on the settings if no thread has yet, and publishes them if
/// it succeeds; waits while another thread runs it. Returns the settings
/// (`None`: initialisation failed) and whether this call ran `init`.
pub(crate) fn init_once(
    init: impl FnOnce(&mut Settings) -> bool,
) -> (Option<&'static Settings>, bool) {
    loop {
        match STATE.compare_exchange(UNINIT, BUSY, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => {
                // SAFETY: we won the race: no other thread reads or writes
                // GLOBALS until STATE leaves BUSY.
                let ok = init(unsafe { &mut *GLOBALS.get() });
                STATE.store(if ok { READY } else { FAILED }, Ordering::Release);
                return (get_if_ready(), true);
            }
            Err(READY) => return (get_if_ready(), false),
            Err(FAILED) => return (None, false),
            // Another thread is initialising (init itself never calls
            // malloc, so this is never our own thread): wait for it.
            Err(_) => core::hint::spin_loop(),
        }
    }
}
