//! The seal on the storage traits ([`TableStorage`](crate::TableStorage),
//! [`HandleStorage`](crate::HandleStorage)): the types whose `as_ref` and
//! `as_mut` are known to return one stable slice.
//!
//! A leaf module, generic over the element type, so that it names nothing
//! in the crate.

#[cfg(feature = "alloc")]
use alloc::{boxed::Box, vec::Vec};

/// Implemented only here, for storage whose `as_ref` and `as_mut` return
/// the same slice, of the same length, at every call: arrays, slices,
/// exclusive borrows of slices, and (with `alloc`) boxed slices and
/// vectors. The module is private, so no other crate can implement it.
pub trait Sealed<E> {}

impl<E, const N: usize> Sealed<E> for [E; N] {}
impl<E> Sealed<E> for [E] {}
impl<E> Sealed<E> for &mut [E] {}
#[cfg(feature = "alloc")]
impl<E> Sealed<E> for Box<[E]> {}
#[cfg(feature = "alloc")]
impl<E> Sealed<E> for Vec<E> {}
