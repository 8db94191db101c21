//! What the soak prints while it runs (the progress bar) and at the end
//! (one row of counts per configuration).

use super::*;

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
    bar: &ProgressBar,
    started: Instant,
    duration: Option<Duration>,
    config: Config,
    ops: u64,
    live: usize,
    c: &Counts,
) {
    let secs = started.elapsed().as_secs_f64();
    if duration.is_some() {
        bar.set_position(started.elapsed().as_millis() as u64);
    } else {
        bar.tick();
    }
    bar.set_message(format!(
        "{}/{} · {} ops · {}/s · live {} · failed requests {} · violations 0",
        config.policy,
        config.coalescing,
        thousands(ops as usize),
        thousands((ops as f64 / secs.max(1e-9)) as usize),
        fmt_bytes(live),
        thousands((c.oom + c.no_descriptor + c.realloc_oom) as usize),
    ));
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
