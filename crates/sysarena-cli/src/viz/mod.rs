//! `sysarena viz`: SVG pictures of a trace or workload replayed against
//! subjects — the heap map at a step, the heap map over time, the
//! fragmentation curves and the free-block histogram.

pub mod capture;
pub mod plots;
pub mod svg;
pub mod tracker;

use std::io;
use std::path::PathBuf;

use sysarena_sim::registry::DEFAULT_CAPACITY;
use sysarena_sim::trace::Trace;

use crate::sim::SubjectArgs;
use sysarena_sim::workload::{Workload, WorkloadParams};

use capture::{CaptureOptions, capture, keyframe_steps};

/// The subjects compared when none are named.
pub const DEFAULT_SUBJECTS: &str =
    "sysarena/first-fit/deferred,sysarena/best-fit/immediate,talc,buddy";

/// Where the events come from: a trace file or a generated workload (one
/// of them is required, and a missing one is named as `<TRACE|--workload
/// <WORKLOAD>>`, as in `compare`).
#[derive(Clone, Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["trace", "workload"])))]
pub struct SourceArgs {
    /// A trace file (native, malloc-lab `.rep` or OSTEP op list; gzip is
    /// detected).
    #[arg(conflicts_with = "workload")]
    pub trace: Option<PathBuf>,
    /// A generated workload instead of a trace (uniform, exponential,
    /// random, ramp, peaks, plateau, checkerboard).
    #[arg(long)]
    pub workload: Option<Workload>,
    /// Steps of the workload (1 to 10,000,000; `20k`, `1M`).
    #[arg(long, default_value = "2000", value_parser = crate::sim::parse_ops, conflicts_with = "trace")]
    pub ops: usize,
    /// Seed of the workload.
    #[arg(long, default_value_t = 0x5eed, conflicts_with = "trace")]
    pub seed: u64,
    /// Smallest request of the workload [units: K, M, G, T, P, E].
    #[arg(long, default_value = "16", value_parser = crate::sim::format::parse_size, conflicts_with = "trace")]
    pub min_size: usize,
    /// Largest request of the workload (`checkerboard`: the size of its
    /// blocks) [units: K, M, G, T, P, E].
    #[arg(long, default_value = "4096", value_parser = crate::sim::format::parse_size, conflicts_with = "trace")]
    pub max_size: usize,
    /// Read only the first N events of the trace (`20000`, `20k`, `1M`).
    #[arg(long, short = 'n', value_name = "N", value_parser = crate::sim::parse_max_events)]
    pub max_events: Option<usize>,
    /// Region size of every subject, in bytes (suffixes K, M, G); default
    /// 128 MiB for a trace, 1 MiB for a workload.
    #[arg(long, value_parser = crate::sim::format::parse_capacity)]
    pub capacity: Option<usize>,
    /// The subjects drawn [default: sysarena/first-fit/deferred,
    /// sysarena/best-fit/immediate, talc, buddy].
    #[command(flatten)]
    pub subjects: SubjectArgs,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long, short)]
    pub quiet: bool,
    /// Each subject's time budget. One that runs out is drawn at the
    /// event it reached, and says so; drawing it up to that event takes
    /// about as long again.
    #[command(flatten)]
    pub budget: crate::sim::BudgetArgs,
}

impl SourceArgs {
    /// The subjects asked for (groups expanded, names checked), or the
    /// default four; an empty list is an error, as in every verb.
    pub fn subject_names(&self) -> io::Result<Vec<String>> {
        match self.subjects.resolve()? {
            None => Ok(DEFAULT_SUBJECTS.split(',').map(str::to_owned).collect()),
            Some(names) if names.is_empty() => Err(crate::sim::user_error(
                "--subjects names no subject (try `all`, `sysarena`, `peers` or a name)",
            )),
            Some(names) => Ok(names),
        }
    }

    /// Loads the trace (or generates the workload) and picks the capacity;
    /// a source with no events (an empty file, `-n 0`, `--ops 0`) is an
    /// error, not a picture of nothing.
    pub fn load(&self) -> io::Result<(Trace, usize)> {
        let (trace, capacity) = self.load_any()?;
        crate::sim::check_not_empty(&trace, &trace.name)?;
        Ok((trace, capacity))
    }

    fn load_any(&self) -> io::Result<(Trace, usize)> {
        if let Some(w) = self.workload {
            crate::sim::check_size_range(self.min_size, self.max_size)?;
            let capacity = self.capacity.unwrap_or(1 << 20);
            let params = WorkloadParams {
                seed: self.seed,
                ops: self.ops,
                min_size: self.min_size,
                max_size: self.max_size,
                capacity,
                ..WorkloadParams::default()
            };
            let mut t = w.generate(&params);
            if let Some(m) = self.max_events {
                t.events.truncate(m);
            }
            Ok((t, capacity))
        } else {
            let path = self
                .trace
                .as_ref()
                .expect("clap requires a trace or a workload");
            let t = crate::sim::load_trace(path, None, self.max_events, self.quiet)?;
            Ok((t, self.capacity.unwrap_or(DEFAULT_CAPACITY)))
        }
    }
}

/// `--view`: [`parse_size`], at least one byte.
pub fn parse_view(s: &str) -> Result<usize, String> {
    match parse_size(s)? {
        0 => Err("a view of 0 bytes shows nothing: give at least 1 byte".to_owned()),
        n => Ok(n),
    }
}

/// The most keyframes or timeline rows a picture holds.
pub const MAX_FRAMES: usize = 10_000;

/// `--keyframes`, `--rows`: 1 to [`MAX_FRAMES`].
pub fn parse_frames(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_FRAMES).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a count from 1 to {MAX_FRAMES}")),
    }
}

/// `12K`, `3M`, `1G`, `4096` → bytes.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mul) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1usize << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("`{s}` is not a size (e.g. 4096, 64K, 16M)"))
}

/// An error writing an output file, naming the file.
pub fn output_error(path: &std::path::Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
}

/// Writes `bytes` to `path` whole or not at all: into a temporary file
/// beside it (`tempfile`), renamed over `path` on success and removed on
/// failure, so a failed write (a full disk, a file-size limit) leaves no
/// partial file and an older file stays as it was. A new file gets the
/// usual permissions (0666 less the umask), a replaced one keeps its own.
/// A path that exists and is not a regular file (`/dev/stdout`, a pipe)
/// is written directly; a symbolic link is followed, so the file it names
/// is replaced.
///
/// # Errors
///
/// The error of creating, writing or renaming the file, naming `path`.
pub fn write_output(path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let err = |e| output_error(path, e);
    let (target, permissions) = match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => return std::fs::write(path, bytes).map_err(err),
        Ok(m) => (
            std::fs::canonicalize(path).map_err(err)?,
            Some(m.permissions()),
        ),
        Err(_) => (path.to_path_buf(), new_file_permissions()),
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".sysarena-");
    if let Some(p) = permissions {
        builder.permissions(p);
    }
    let mut tmp = builder.tempfile_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    // On failure the temporary is dropped, and so removed.
    tmp.persist(&target).map_err(|e| err(e.error))?;
    Ok(())
}

/// The permissions a new output file is made with, before the umask
/// (0666, as `File::create`'s); elsewhere than Unix, `tempfile`'s.
fn new_file_permissions() -> Option<std::fs::Permissions> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        Some(std::fs::Permissions::from_mode(0o666))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Which picture `viz` draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// The heap map of every subject at `--step`.
    Map,
    /// The heap map over time: time down, addresses across.
    Timeline,
    /// Fragmentation and footprint over time.
    Curves,
    /// Free-block sizes at `--step`.
    Histogram,
}

/// Options of `sysarena viz`.
#[derive(Clone, Debug, clap::Args)]
pub struct VizArgs {
    /// Where the events come from.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Write the SVG here (`-` for standard output).
    #[arg(long)]
    pub svg: PathBuf,
    /// The picture.
    #[arg(long, value_enum, default_value = "map")]
    pub kind: Kind,
    /// The step (events applied) for `map` and `histogram`; default: the end.
    #[arg(long)]
    pub step: Option<usize>,
    /// Sampled steps of the timeline, 1 to 10,000: evenly spaced up to the
    /// end, drawn under a first row for the start (N + 1 rows; fewer for
    /// a trace of fewer events).
    #[arg(long, default_value_t = 200, value_parser = parse_frames)]
    pub rows: usize,
    /// Heap-map width in cells (`map`; the timeline uses 240), 1 to 4096.
    #[arg(long, default_value_t = 160, value_parser = crate::heapmap::parse_width)]
    pub width: usize,
    /// Show addresses `[0, VIEW)`; default: just past the largest footprint.
    #[arg(long, value_parser = parse_view)]
    pub view: Option<usize>,
}

/// Renders the SVG `args` asks for, as a string.
pub fn render(args: &VizArgs) -> io::Result<String> {
    if let (Some(_), Kind::Timeline | Kind::Curves) = (args.step, args.kind) {
        return Err(crate::sim::user_error(
            "--step applies to --kind map and histogram only: the timeline and the curves show every step",
        ));
    }
    let (trace, capacity) = args.source.load()?;
    let n = trace.events.len();
    let step = match args.step {
        Some(step) if step > n => {
            return Err(crate::sim::user_error(format!(
                "--step {step} is past the end: {} has {n} events (give 0 to {n})",
                trace.name
            )));
        }
        step => step.unwrap_or(n),
    };
    let (steps, width, table_width) = match args.kind {
        Kind::Map => (vec![step], args.width, 96),
        Kind::Histogram => (vec![step], 8, 0),
        Kind::Timeline => (keyframe_steps(n, args.rows.max(1)), 240, 0),
        Kind::Curves => (vec![n], 8, 0),
    };
    let names = args.source.subject_names()?;
    let options = CaptureOptions {
        capacity,
        steps,
        width,
        view: args.view,
        table_width,
        quiet: args.source.quiet,
        budget: args.source.budget,
    };
    let (runs, view) = capture(&trace, &names, &options).map_err(io::Error::other)?;
    let name = &trace.name;
    Ok(match args.kind {
        Kind::Map => svg::heap_map_svg(
            &runs,
            0,
            view,
            capacity,
            &format!("Heap map of {name} after {step} of {n} events"),
        ),
        Kind::Timeline => svg::timeline_svg(
            &runs,
            view,
            capacity,
            &format!("Heap map over time: {name} ({n} events)"),
        ),
        Kind::Curves => plots::curves_svg(&runs, &format!("{name}: fragmentation over time"))
            .map_err(io::Error::other)?,
        Kind::Histogram => plots::histogram_svg(
            &runs,
            0,
            &format!("{name}: free-block sizes after {step} of {n} events"),
        )
        .map_err(io::Error::other)?,
    })
}

/// Runs `sysarena viz`.
pub fn run(args: &VizArgs, mut out: impl io::Write) -> io::Result<()> {
    let svg = render(args)?;
    if args.svg.as_os_str() == "-" {
        out.write_all(svg.as_bytes())
    } else {
        write_output(&args.svg, svg.as_bytes())?;
        writeln!(out, "wrote {}", args.svg.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("lots").is_err());
    }

    #[derive(clap::Parser)]
    struct P {
        #[command(flatten)]
        a: VizArgs,
    }

    fn map_note(view: Option<&str>) -> String {
        use clap::Parser;
        let mut args = vec![
            "viz",
            "--workload",
            "random",
            "--ops",
            "300",
            "-q",
            "--svg",
            "-",
        ];
        args.extend(view.map(|v| ["--view", v]).into_iter().flatten());
        let svg = render(&P::parse_from(args).a).unwrap();
        let at = svg.find("addresses [").expect("a note");
        svg[at..at + svg[at..].find('<').unwrap()].to_owned()
    }

    #[test]
    fn the_map_says_no_block_reaches_past_the_view_only_when_none_does() {
        assert_eq!(
            map_note(None),
            "addresses [0, 256.0 KiB) of a 1.0 MiB region across (no subject's blocks reach further)"
        );
        assert_eq!(
            map_note(Some("1")),
            "addresses [0, 1 B) of a 1.0 MiB region across"
        );
        assert_eq!(
            map_note(Some("1M")),
            "addresses [0, 1.0 MiB) of a 1.0 MiB region across"
        );
    }

    #[test]
    fn a_timeline_leaves_the_rows_past_a_stop_empty_and_says_why() {
        use clap::Parser;
        let svg = render(
            &P::parse_from([
                "viz",
                "--workload",
                "random",
                "--ops",
                "2000",
                "-q",
                "--subjects",
                "talc,buddy",
                "--kind",
                "timeline",
                "--rows",
                "10",
                "--tick-clock",
                "1000",
                "--time-budget",
                "1ms",
                "--svg",
                "-",
            ])
            .a,
        )
        .unwrap();
        // Both stop at about event 500 of 2000, in the third row: each
        // column says so once, and the step labels are the rows' steps.
        assert_eq!(svg.matches("stopped after event").count(), 2, "{svg}");
        assert_eq!(svg.matches("its time budget of 1 ms ran out").count(), 2);
        assert!(svg.contains(">2000</text>"), "the last row's label");
    }

    #[test]
    fn a_written_file_replaces_the_old_one_whole_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("sysarena-write-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.svg");
        std::fs::write(&path, "an older, longer picture").unwrap();
        write_output(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.svg"]);
        let missing = dir.join("no/such/dir/out.svg");
        let e = write_output(&missing, b"x").unwrap_err();
        assert!(e.to_string().starts_with("cannot write "), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn arena(offset: usize, size: usize, in_use: bool, cached: bool) -> sysarena::ArenaInfo {
        sysarena::ArenaInfo {
            offset,
            size,
            used: if in_use { size } else { 0 },
            in_use,
            cached,
            slot: 0,
        }
    }

    #[test]
    fn the_svg_legend_names_cached_arenas_only_when_a_row_shows_one() {
        let entry = r##"<rect x="808.6" y="50" width="12" height="10" fill="#9fa8bd"/><text x="824.6" y="60.0" font-size="11" font-weight="normal" fill="#222">cached (quick list)</text>"##;
        let plain = crate::heapmap::HeapMap::new(
            &[arena(0, 32, true, false), arena(32, 32, false, false)],
            64,
            8,
            |_| Some(0),
        );
        let cached = crate::heapmap::HeapMap::new(
            &[arena(0, 32, true, false), arena(32, 32, false, true)],
            64,
            8,
            |_| Some(0),
        );
        let without = svg::rows_svg(&[("a", &plain, "s")], "t");
        let with = svg::rows_svg(&[("a", &plain, "s"), ("b", &cached, "s")], "t");
        assert!(!without.contains("#9fa8bd"), "{without}");
        assert!(with.contains(entry), "{with}");
    }
}
