//! How long a replay may run: a time budget per subject, the [`Clock`] that
//! measures it, and the [`Stopped`] record of a replay that ended early.
//!
//! Some subjects are slow on long traces by nature (linked-list walks its
//! free list on every call: O(free blocks) per operation); a replay must
//! not hold the rest of a comparison hostage. So every replay has a time
//! budget by default ([`DEFAULT_TIME_BUDGET`], `None` for no limit): before
//! each event the replay reads how long it has run, and once the budget is
//! spent it stops there. The result is still a result — its figures cover
//! the events replayed — and says where and why it stopped. A flag set from outside (a
//! Ctrl-C handler) stops it the same way.
//!
//! The budget is checked between events: one call into a subject is never
//! interrupted, so a replay overruns its budget by at most one call (and the
//! sample taken at the stop).
//!
//! Time comes from a [`Clock`]: [`SystemClock`] in real runs; tests and
//! reproducible runs use [`TickClock`], whose time advances by a fixed step
//! at every reading — a budget then counts work (clock readings, two per
//! subject call), not seconds, and the replay stops at the same event on
//! every machine.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The time budget every subject gets unless told otherwise: 30 seconds.
///
/// With it, a 1.6 M-event trace replays against every default subject in
/// about a minute on two cores: most subjects take 1–5 s, and each of the
/// few that are slow on long traces stops at its 30 s.
pub const DEFAULT_TIME_BUDGET: Duration = Duration::from_secs(30);

/// A monotonic source of time for a replay.
pub trait Clock {
    /// The time since this clock's origin; never less than the last reading.
    fn now(&mut self) -> Duration;
}

/// Wall-clock time since the clock was made.
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&mut self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that advances by a fixed step at every reading: time as a count
/// of readings, for budgets that count work instead of seconds.
///
/// ```
/// use std::time::Duration;
/// use sysarena_sim::budget::{Clock, TickClock};
///
/// let mut clock = TickClock::new(Duration::from_nanos(10));
/// assert_eq!(clock.now(), Duration::from_nanos(10));
/// assert_eq!(clock.now(), Duration::from_nanos(20));
/// assert_eq!(clock.readings(), 2);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TickClock {
    step: Duration,
    now: Duration,
    readings: u64,
}

impl TickClock {
    /// A clock at zero that advances `step` per reading.
    pub fn new(step: Duration) -> Self {
        TickClock {
            step,
            now: Duration::ZERO,
            readings: 0,
        }
    }

    /// How many times it was read.
    pub fn readings(&self) -> u64 {
        self.readings
    }
}

impl Clock for TickClock {
    fn now(&mut self) -> Duration {
        self.readings += 1;
        self.now = self.now.saturating_add(self.step);
        self.now
    }
}

/// The clock a replay is timed on: the real one, or a [`TickClock`] whose
/// budget counts work (for tests and reproducible runs, as the command
/// line's hidden `--tick-clock NS` asks).
///
/// ```
/// use std::time::Duration;
/// use sysarena_sim::budget::{Clock, ReplayClock};
///
/// let mut ticks = ReplayClock::new(Some(Duration::from_nanos(10)));
/// assert_eq!(ticks.now(), Duration::from_nanos(10));
/// let mut real = ReplayClock::new(None);
/// assert!(real.now() < Duration::from_secs(60));
/// ```
#[derive(Clone, Copy, Debug)]
pub enum ReplayClock {
    /// Wall-clock time.
    System(SystemClock),
    /// A fixed step per reading.
    Tick(TickClock),
}

impl ReplayClock {
    /// A [`TickClock`] of `tick` per reading, or the real clock for `None`.
    pub fn new(tick: Option<Duration>) -> Self {
        match tick {
            Some(step) => ReplayClock::Tick(TickClock::new(step)),
            None => ReplayClock::System(SystemClock::new()),
        }
    }
}

impl Clock for ReplayClock {
    fn now(&mut self) -> Duration {
        match self {
            ReplayClock::System(c) => c.now(),
            ReplayClock::Tick(c) => c.now(),
        }
    }
}

/// Why a replay stopped before the end of its trace.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
#[non_exhaustive]
pub enum StopReason {
    /// Its time budget ran out.
    TimeBudget {
        /// The budget, in seconds.
        seconds: f64,
    },
    /// It was asked to stop (Ctrl-C).
    Interrupted,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::TimeBudget { seconds } => {
                write!(f, "its time budget of {} ran out", seconds_text(*seconds))
            }
            StopReason::Interrupted => f.write_str("interrupted"),
        }
    }
}

/// `30 s`, `1.5 s`, `250 ms`, `400 µs`.
fn seconds_text(s: f64) -> String {
    if s >= 1.0 {
        let text = format!("{s:.1}");
        format!("{} s", text.trim_end_matches(".0"))
    } else if s >= 1e-3 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

/// Where and why a replay stopped early. Its figures cover the events
/// before [`Stopped::at_event`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stopped {
    /// Events replayed before the stop: the next event, 1-based, would have
    /// been `at_event + 1`.
    pub at_event: usize,
    /// Events in the trace.
    pub of: usize,
    /// Why.
    #[serde(flatten)]
    pub reason: StopReason,
}

impl Stopped {
    /// The share of the trace replayed, 0 to 1.
    pub fn fraction(&self) -> f64 {
        if self.of == 0 {
            1.0
        } else {
            self.at_event as f64 / self.of as f64
        }
    }

    /// The share replayed in whole percent, rounded down: 99.6 % replayed
    /// is not "100 %". What every note and table row prints.
    pub fn percent(&self) -> f64 {
        (self.fraction() * 100.0).floor()
    }
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stopped after event {} of {} ({:.0}%): {}",
            self.at_event,
            self.of,
            self.percent(),
            self.reason
        )
    }
}

/// Parses a budget as a user writes it: `30s`, `90` (seconds), `2m`,
/// `500ms`, `1.5s`; `0` (in any unit) or `none` means no budget (`None`).
///
/// ```
/// use std::time::Duration;
/// use sysarena_sim::budget::parse_budget;
///
/// assert_eq!(parse_budget("30s"), Ok(Some(Duration::from_secs(30))));
/// assert_eq!(parse_budget("2m"), Ok(Some(Duration::from_secs(120))));
/// assert_eq!(parse_budget("250ms"), Ok(Some(Duration::from_millis(250))));
/// assert_eq!(parse_budget("0"), Ok(None));
/// assert!(parse_budget("soon").is_err());
/// ```
///
/// # Errors
/// A message naming the text when it is not a duration.
pub fn parse_budget(text: &str) -> Result<Option<Duration>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("`{text}` is not a duration (try 30s, 2m, 500ms, or 0 for none)");
    let value: f64 = num.parse().map_err(|_| bad())?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 1e-3,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    let seconds = value * scale;
    if !seconds.is_finite() || seconds > 1e9 {
        return Err(format!(
            "`{text}` is too long (at most 1e9 seconds; 0 for none)"
        ));
    }
    Ok((seconds > 0.0).then(|| Duration::from_secs_f64(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_read_as_sentences() {
        let s = Stopped {
            at_event: 250,
            of: 1000,
            reason: StopReason::TimeBudget { seconds: 30.0 },
        };
        assert_eq!(
            s.to_string(),
            "stopped after event 250 of 1000 (25%): its time budget of 30 s ran out"
        );
        let nearly = Stopped { at_event: 996, ..s };
        assert_eq!(nearly.percent(), 99.0, "rounded down, never 100 % early");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"at_event":250,"of":1000,"reason":"time_budget","seconds":30.0}"#
        );
        assert_eq!(serde_json::from_str::<Stopped>(&json).unwrap(), s);
        assert_eq!(seconds_text(0.25), "250 ms");
        assert_eq!(seconds_text(0.0004), "400 µs");
        assert_eq!(seconds_text(1.5), "1.5 s");
    }

    #[test]
    fn budgets_parse_and_refuse_nonsense() {
        assert_eq!(parse_budget("1.5s"), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(parse_budget(" 90 "), Ok(Some(Duration::from_secs(90))));
        assert_eq!(parse_budget("none"), Ok(None));
        assert_eq!(parse_budget("0ms"), Ok(None));
        for bad in [
            "",
            "s",
            "-1s",
            "1e999",
            "10 parsecs",
            "1.2.3s",
            "99999999999999h",
        ] {
            assert!(parse_budget(bad).is_err(), "{bad}");
        }
    }
}
