//! The layout every peer is asked for.

use std::alloc::Layout;

/// The layout a peer is asked for: size at least 1; `None` when `align` is
/// not a power of two or the size overflows.
pub(crate) fn layout(size: usize, align: usize) -> Option<Layout> {
    Layout::from_size_align(size.max(1), align).ok()
}
