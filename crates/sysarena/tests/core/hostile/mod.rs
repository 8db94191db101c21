//! Hostile input and the out-of-band metadata proof (issue 8, "Never
//! corrupt, never lose"): every hostile input gets its documented error and
//! changes nothing; garbage over every byte of the region changes nothing.

pub mod common;
mod inputs;
mod out_of_band;
