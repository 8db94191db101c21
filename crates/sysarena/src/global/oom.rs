//! The out-of-memory vocabulary: what a handler answers ([`OomAction`](crate::global::OomAction))
//! and how often one request may call it ([`MAX_RESCUES`](crate::global::MAX_RESCUES)). The handler's
//! type and its view of the heap, [`Rescue`](super::Rescue), live with the
//! state they reach into (`state.rs`).

/// The most times one request calls the OOM handler before it fails, so a
/// handler that keeps answering [`OomAction::Retry`](crate::global::OomAction::Retry) without adding memory
/// cannot hang the program.
pub const MAX_RESCUES: usize = 16;

/// What an [`OomHandler`](crate::global::OomHandler) tells the heap to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OomAction {
    /// Memory was added (or freed up): try the request again.
    Retry,
    /// Give up: the request fails.
    Fail,
}
