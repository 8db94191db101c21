//! [`TraceFormat`]: the input formats and their names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The input formats [`Trace::read`](super::Trace::read) understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TraceFormat {
    /// sysarena's native format (see the module docs).
    Native,
    /// CS:APP malloc-lab `.rep`: four header numbers (suggested heap size,
    /// number of ids, number of ops, weight), then `a id size`, `f id`,
    /// `r id size`. An id may be allocated again once freed.
    MallocLab,
    /// OSTEP `malloc.py -A` op list: `+N` allocates N bytes, `-K` frees the
    /// K-th allocation made (counting from 0); separated by commas or white
    /// space.
    Ostep,
}

impl TraceFormat {
    /// Every format, for help texts.
    pub const ALL: [TraceFormat; 3] = [
        TraceFormat::Native,
        TraceFormat::MallocLab,
        TraceFormat::Ostep,
    ];

    /// The format's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Native => "native",
            TraceFormat::MallocLab => "malloc-lab",
            TraceFormat::Ostep => "ostep",
        }
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TraceFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "native" | "trace" => Ok(TraceFormat::Native),
            "malloc-lab" | "rep" | "csapp" => Ok(TraceFormat::MallocLab),
            "ostep" => Ok(TraceFormat::Ostep),
            _ => Err(format!(
                "unknown trace format `{s}` (expected native, malloc-lab or ostep)"
            )),
        }
    }
}
