//! Running the subjects: each over a fresh region, several at once, each
//! within its time budget; outcomes handed over as they finish; Ctrl-C
//! stops the running replays and keeps what is done.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use indicatif::ProgressBar;
use sysarena::ArenaInfo;
use sysarena_sim::budget;
use sysarena_sim::registry;
use sysarena_sim::replay::{Controls, ReplayError, ReplayOptions, ReplayResult, replay_controlled};
use sysarena_sim::subject::Subject;
use sysarena_sim::sysarena_subject::{self, SysarenaSubject};
use sysarena_sim::trace::Trace;

use super::args::OutputArgs;
use super::format;
use super::ui::{progress, user_error};

/// One subject's replay: its result, or why it could not run, and for a
/// sysarena subject (when asked) its arenas at the end.
#[derive(Debug)]
pub struct Outcome {
    /// The subject's name.
    pub subject: String,
    /// The replay (perhaps stopped early: see its `summary.stopped`), or
    /// why it could not run (a subject that cannot be built for this
    /// region, or one that handed out a bad block), without the subject's
    /// name.
    pub result: Result<ReplayResult, String>,
    /// The arena table at the end, for sysarena subjects when asked.
    pub arenas: Option<Vec<ArenaInfo>>,
}

impl Outcome {
    /// The replay, when it ran to the end of the trace.
    pub fn complete(&self) -> Option<&ReplayResult> {
        self.result
            .as_ref()
            .ok()
            .filter(|r| r.summary.stopped.is_none())
    }
}

/// What [`run_subjects`] did: every subject's outcome in the order asked,
/// and those it never started because Ctrl-C came first.
#[derive(Debug)]
pub struct Run {
    /// The outcomes of the subjects that ran, in the order of the names.
    pub outcomes: Vec<Outcome>,
    /// The subjects not started (Ctrl-C).
    pub not_run: Vec<String>,
}

impl Run {
    /// Whether Ctrl-C cut the run short.
    pub fn interrupted(&self) -> bool {
        !self.not_run.is_empty()
            || self.outcomes.iter().any(|o| {
                o.result.as_ref().is_ok_and(|r| {
                    matches!(
                        r.summary.stopped.map(|s| s.reason),
                        Some(budget::StopReason::Interrupted)
                    )
                })
            })
    }
}

/// The flag Ctrl-C sets: the first Ctrl-C stops the replays at their next
/// event (the finished rows are kept and printed), a second one ends the
/// program at once (exit status 130).
///
/// signal-hook rather than the `ctrlc` crate: it is already in the build
/// (the terminal UI's crossterm uses it), it sets an atomic flag from the
/// signal handler itself with no extra thread, and it has the
/// "second signal exits" rule ready-made (`register_conditional_shutdown`).
pub fn interrupt_flag() -> &'static AtomicBool {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        // The order matters: the shutdown checks the flag before the second
        // registration sets it, so only a second Ctrl-C exits. Without a
        // handler (registration refused) Ctrl-C ends the program as usual.
        let _ = signal_hook::flag::register_conditional_shutdown(
            signal_hook::consts::SIGINT,
            130,
            Arc::clone(&flag),
        )
        .and_then(|_| signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&flag)));
        flag
    })
}

/// Replays `trace` against each named subject, each over a fresh region of
/// `capacity` bytes, `jobs` at a time, each within the time budget, in a
/// progress bar. `on_done` sees every outcome as its subject finishes (in
/// the order they finish, on this thread: it may print). Ctrl-C stops the
/// running replays at their next event and starts no more.
///
/// # Errors
/// Only what `on_done` returns (the first error; the replays then stop).
pub fn run_subjects(
    trace: &Trace,
    names: &[String],
    capacity: usize,
    out: &OutputArgs,
    keep_arenas: bool,
    mut on_done: impl FnMut(&Outcome) -> io::Result<()>,
) -> io::Result<Run> {
    let stop = interrupt_flag();
    let jobs = out
        .jobs
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, names.len().max(1));
    let events = trace.events.len() as u64;
    let bar = progress(out.quiet, Some(names.len() as u64 * events));
    let options = ReplayOptions {
        time_budget: out.budget.time_budget.0,
        ..ReplayOptions::default()
    };
    // The bar's message: who is running, who stopped early.
    let running: Mutex<(Vec<&str>, Vec<String>)> = Mutex::new((Vec::new(), Vec::new()));
    let show = |bar: &ProgressBar, state: &(Vec<&str>, Vec<String>)| {
        let mut msg = format!(
            "replaying {} events: {}",
            format::thousands(trace.events.len()),
            state.0.join(", ")
        );
        if !state.1.is_empty() {
            msg.push_str(&format!(" — stopped: {}", state.1.join(", ")));
        }
        bar.set_message(msg);
    };
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<Outcome>> = names.iter().map(|_| None).collect();
    let mut first_error = None;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Outcome)>();
        for _ in 0..jobs {
            let tx = tx.clone();
            let (bar, running, show, next, options) = (&bar, &running, &show, &next, &options);
            scope.spawn(move || {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = names.get(i) else { break };
                    {
                        let mut r = running.lock().expect("no panics while held");
                        r.0.push(name);
                        show(bar, &r);
                    }
                    let mut done = 0u64;
                    let mut tick = |n: usize| {
                        done += n as u64;
                        bar.inc(n as u64);
                    };
                    let mut clock = out.budget.clock();
                    let mut outcome = run_one(
                        trace,
                        name,
                        capacity,
                        keep_arenas,
                        options,
                        Controls {
                            progress: &mut tick,
                            clock: &mut clock,
                            stop: Some(stop),
                        },
                    );
                    // A subject that stopped early still fills its share.
                    bar.inc(events.saturating_sub(done));
                    if outcome.result.is_err() {
                        outcome.arenas = None;
                    }
                    {
                        let mut r = running.lock().expect("no panics while held");
                        r.0.retain(|n| n != name);
                        if let Ok(Some(stopped)) =
                            outcome.result.as_ref().map(|r| r.summary.stopped)
                        {
                            r.1.push(format!("{name} at {:.0}%", stopped.percent()));
                        }
                        show(bar, &r);
                    }
                    if tx.send((i, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, outcome) in rx {
            if first_error.is_none()
                && let Err(e) = bar.suspend(|| on_done(&outcome))
            {
                // Nobody reads any more (a closed pipe): stop the rest.
                first_error = Some(e);
                stop.store(true, Ordering::Relaxed);
            }
            slots[i] = Some(outcome);
        }
    });
    bar.finish_and_clear();
    if let Some(e) = first_error {
        return Err(e);
    }
    let mut run = Run {
        outcomes: Vec::new(),
        not_run: Vec::new(),
    };
    for (name, slot) in names.iter().zip(slots) {
        match slot {
            Some(o) => run.outcomes.push(o),
            None => run.not_run.push(name.clone()),
        }
    }
    Ok(run)
}

/// What went wrong in a replay, without the subject's name (the row names
/// it).
fn replay_error(e: &ReplayError) -> String {
    match e {
        ReplayError::Violation {
            event, violation, ..
        } => format!("handed out a bad block at event {event}: {violation:?}"),
        other => other.to_string(),
    }
}

fn run_one(
    trace: &Trace,
    name: &str,
    capacity: usize,
    keep_arenas: bool,
    options: &ReplayOptions,
    controls: Controls<'_>,
) -> Outcome {
    let outcome = |result: Result<ReplayResult, String>, arenas| Outcome {
        subject: name.to_owned(),
        result,
        arenas,
    };
    let go = |s: &mut dyn Subject| {
        replay_controlled(trace, s, options, controls).map_err(|e| replay_error(&e))
    };
    if keep_arenas && let Some((config, variant)) = sysarena_subject::parse_name(name) {
        let mut s = match SysarenaSubject::with_config(config, capacity) {
            Ok(s) => s.variant(variant),
            Err(e) => return outcome(Err(e.reason()), None),
        };
        let result = go(&mut s);
        let arenas = s.manager().arenas().collect();
        return outcome(result, Some(arenas));
    }
    match registry::by_name(name, capacity) {
        Ok(mut s) => outcome(go(s.as_mut()), None),
        Err(e) => outcome(Err(e.reason()), None),
    }
}

/// Fails (after the output is printed) when some subject could not run or
/// Ctrl-C cut the run short. Subjects stopped by their time budget are no
/// failure: their rows and notes say so.
pub fn finish(run: &Run) -> io::Result<()> {
    let mut failed: Vec<String> = run
        .outcomes
        .iter()
        .filter_map(|o| {
            o.result
                .as_ref()
                .err()
                .map(|e| format!("{}: {e}", o.subject))
        })
        .collect();
    if run.interrupted() {
        let mut line = "interrupted (Ctrl-C): the rows above are what finished".to_owned();
        if !run.not_run.is_empty() {
            line.push_str(&format!("; not run: {}", run.not_run.join(", ")));
        }
        failed.push(line);
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(user_error(failed.join("\nsysarena: ")))
    }
}

/// Refuses a trace with no events: there is nothing to replay, and a table
/// of zeros would say nothing.
pub fn check_not_empty(trace: &Trace, what: &str) -> io::Result<()> {
    if trace.events.is_empty() {
        return Err(user_error(format!(
            "{what} has no events: nothing to replay"
        )));
    }
    Ok(())
}
