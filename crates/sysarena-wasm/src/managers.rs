//! The two managers a playground session can drive, over `Vec` tables sized
//! by the learner's settings (a leaf: imports nothing of this crate).

use sysarena::{ArenaManagerIn, HandleSlot, MovableIn, Slot};

/// The plain manager: its table is a `Vec` sized by the learner's
/// "descriptors" setting.
pub type Manager = ArenaManagerIn<Vec<Slot>>;

/// The handle-based manager: as many handles as descriptors (every live
/// allocation has a descriptor, so handles never run out first).
pub type Handles = MovableIn<Vec<Slot>, Vec<HandleSlot>>;
