//! [`Checks`]: every claim a program makes about the heap, counted, so that
//! it exits with success only if all of them held.

use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};

use crate::say;

/// A tally of checks.
#[derive(Debug, Default)]
pub struct Checks {
    passed: usize,
    failed: usize,
}

impl Checks {
    /// No checks yet.
    pub const fn new() -> Self {
        Checks {
            passed: 0,
            failed: 0,
        }
    }

    /// Records `held` for the claim `what`; a failed one is printed.
    pub fn check(&mut self, held: bool, what: &str) {
        if held {
            self.passed += 1;
        } else {
            self.failed += 1;
            say!("CHECK FAILED: {}", what);
        }
    }

    /// Checks passed so far.
    pub fn passed(&self) -> usize {
        self.passed
    }

    /// Checks failed so far.
    pub fn failed(&self) -> usize {
        self.failed
    }

    /// Prints the tally and ends the program through semihosting: exit
    /// status 0 only if every check held.
    pub fn finish(&self) -> ! {
        say!("checks: {} held, {} failed", self.passed, self.failed);
        debug::exit(if self.failed == 0 {
            EXIT_SUCCESS
        } else {
            EXIT_FAILURE
        });
        // Without a semihosting host (real hardware, no debugger) `exit`
        // returns: stop here.
        loop {
            cortex_m::asm::wfi();
        }
    }
}
