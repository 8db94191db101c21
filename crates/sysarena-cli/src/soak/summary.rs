//! What the soak prints while it runs (the progress bar) and at the end
//! (one row of counts per configuration).

use super::*;

/// How often a soak whose stderr is not a terminal (a log file, a CI job,
/// where the bar is not drawn) prints a plain progress line instead.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(60);

/// Where a soak's progress goes: the bar on a terminal; otherwise, unless
/// quiet, a plain line on stderr every [`HEARTBEAT`], so that an hours-long
/// run in a log is seen to run.
pub(super) struct Progress {
    pub(super) bar: ProgressBar,
    /// When the last plain line was printed (`None`: none are).
    plain: Option<Instant>,
}

impl Progress {
    pub(super) fn new(quiet: bool, duration: Option<Duration>) -> Progress {
        let plain = !quiet && !io::IsTerminal::is_terminal(&io::stderr());
        Progress {
            bar: progress_bar(quiet, duration),
            plain: plain.then(Instant::now),
        }
    }
}

/// A plain progress line: how long the soak has run (of how long), then
/// the bar's message.
pub(super) fn plain_line(elapsed: Duration, duration: Option<Duration>, msg: &str) -> String {
    let mins = |d: Duration| format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60);
    match duration {
        Some(d) => format!("soak: {} of {} · {msg}", mins(elapsed), mins(d)),
        None => format!("soak: {} · {msg}", mins(elapsed)),
    }
}

pub(super) fn progress_bar(quiet: bool, duration: Option<Duration>) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(
        duration.map(|d| d.as_millis() as u64),
        ProgressDrawTarget::stderr(),
    );
    let template = if duration.is_some() {
        "{spinner} [{elapsed_precise}/{duration_precise}] {bar:20} {wide_msg}"
    } else {
        "{spinner} [{elapsed_precise}] {wide_msg}"
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("█▉▊▋▌▍▎▏ "),
    );
    bar
}

pub(super) fn draw(
    progress: &mut Progress,
    started: Instant,
    duration: Option<Duration>,
    config: Config,
    ops: u64,
    live: usize,
    c: &Counts,
) {
    let secs = started.elapsed().as_secs_f64();
    let bar = &progress.bar;
    if duration.is_some() {
        bar.set_position(started.elapsed().as_millis() as u64);
    } else {
        bar.tick();
    }
    let msg = format!(
        "{}/{} · {} ops · {}/s · live {} · failed requests {} · violations 0",
        config.policy,
        config.coalescing,
        thousands(ops as usize),
        thousands((ops as f64 / secs.max(1e-9)) as usize),
        fmt_bytes(live),
        thousands((c.oom + c.no_descriptor + c.realloc_oom) as usize),
    );
    if let Some(last) = &mut progress.plain
        && last.elapsed() >= HEARTBEAT
    {
        *last = Instant::now();
        eprintln!("{}", plain_line(started.elapsed(), duration, &msg));
    }
    bar.set_message(msg);
}

pub(super) fn summary(
    out: &mut impl Write,
    configs: &[Config],
    per: &[Counts],
    total_ops: u64,
    elapsed: Duration,
) -> io::Result<()> {
    writeln!(
        out,
        "{:<26} {:>6} {:>13} {:>11} {:>11} {:>11} {:>9} {:>9} {:>8} {:>8} {:>9} {:>7} {:>10}",
        "configuration",
        "epochs",
        "ops",
        "allocs",
        "frees",
        "reallocs",
        "moved",
        "oom",
        "no-desc",
        "defrags",
        "relocates",
        "checks",
        "peak live"
    )?;
    let mut total = Counts::default();
    for (c, n) in configs.iter().zip(per) {
        total.add(n);
        row(out, &format!("{}/{}", c.policy, c.coalescing), n)?;
    }
    if configs.len() > 1 {
        row(out, "all", &total)?;
    }
    let secs = elapsed.as_secs_f64();
    writeln!(
        out,
        "{} operations in {:.1?} ({}/s); {} defragment-and-retry on a failed request, {} blocks moved by relocate, {} failed reallocs (block intact)",
        thousands(total_ops as usize),
        elapsed,
        thousands((total_ops as f64 / secs.max(1e-9)) as usize),
        thousands(total.defrag_retries as usize),
        thousands(total.relocated_blocks as usize),
        thousands(total.realloc_oom as usize),
    )
}

pub(super) fn row(out: &mut impl Write, name: &str, n: &Counts) -> io::Result<()> {
    writeln!(
        out,
        "{:<26} {:>6} {:>13} {:>11} {:>11} {:>11} {:>9} {:>9} {:>8} {:>8} {:>9} {:>7} {:>10}",
        name,
        n.epochs,
        thousands(n.ops as usize),
        thousands(n.allocs as usize),
        thousands(n.frees as usize),
        thousands(n.reallocs as usize),
        thousands(n.moved as usize),
        thousands(n.oom as usize),
        thousands(n.no_descriptor as usize),
        thousands(n.defrags as usize),
        thousands(n.relocates as usize),
        thousands(n.full_checks as usize),
        fmt_bytes(n.peak_live_bytes),
    )
}
