//! `sysarena record -- CMD...`: run a program with sysarena-malloc preloaded
//! in trace mode, then check the trace it wrote.
//!
//! The recorder is the `sysarena-malloc` cdylib: with `SYSARENA_TRACE=path`
//! it writes every `malloc`/`free`/`realloc` call of the program as a line of
//! the native trace format; a forked child writes `path.<pid>`.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;
use sysarena_sim::trace::{TraceFormat, TraceStats};

use super::format::{bytes_exact, thousands};
use super::user_error;

/// The library's file name.
pub const LIB_NAME: &str = "libsysarena_malloc.so";

/// The command that builds it (the `preload` profile: the library as
/// shipped, into `target/preload`).
pub const BUILD: &str = "cargo build --profile preload -p sysarena-malloc";

/// The profile directories looked in, in order: the library as shipped,
/// then a plain release build (which records the same trace).
const PROFILES: [&str; 2] = ["preload", "release"];

/// Options of `record`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "\
Example:
  sysarena record -o ls.trace -- ls -l /usr/lib
  sysarena replay ls.trace

The program must be dynamically linked and must not be setuid (the loader
ignores LD_PRELOAD for those). A child it forks writes FILE.<pid>; those of
an earlier run are removed first, child traces with no events afterwards, and when the program itself made no
allocation (a shell, a launcher such as a pyenv shim) the suggested replay
is the child trace with the most events.")]
pub struct RecordArgs {
    /// Where to write the trace (native format, plain text).
    #[arg(short, long, value_name = "FILE", default_value = "sysarena.trace")]
    pub output: PathBuf,
    /// The sysarena-malloc library [default: `libsysarena_malloc.so` in the
    /// preload, then the release directory of this executable's target
    /// directory, then beside this executable, then in ./target/preload and
    /// ./target/release].
    #[arg(long, value_name = "PATH")]
    pub lib: Option<PathBuf>,
    /// Print one JSON document on stdout instead of text (the program's
    /// own stdout then goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// No progress spinner while the trace is checked.
    #[arg(long, short)]
    pub quiet: bool,
    /// The program to run and its arguments (after `--`).
    #[arg(last = true, required = true, num_args = 1.., value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Where the library is looked for, in order.
pub fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = super::exe_dir() {
        if let Some(target) = dir.parent() {
            out.extend(PROFILES.iter().map(|p| target.join(p).join(LIB_NAME)));
        }
        out.push(dir.join(LIB_NAME));
    }
    out.extend(
        PROFILES
            .iter()
            .map(|p| Path::new("target").join(p).join(LIB_NAME)),
    );
    out.dedup();
    out
}

/// Finds the library, or says exactly how to build it.
pub fn find_lib(explicit: Option<&Path>) -> io::Result<PathBuf> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(absolute(p))
        } else {
            Err(user_error(format!(
                "--lib {}: no such file; build the library with `{BUILD}`",
                p.display()
            )))
        };
    }
    let looked = candidates();
    if let Some(p) = looked.iter().find(|p| p.is_file()) {
        return Ok(absolute(p));
    }
    // The exact command: with --target-dir when this executable was not
    // built into ./target.
    let mut build = BUILD.to_owned();
    if let Some(target) = super::exe_dir().and_then(|d| d.parent().map(Path::to_path_buf)) {
        let here = std::env::current_dir()
            .map(|d| d.join("target"))
            .unwrap_or_default();
        if absolute(&target) != absolute(&here) {
            build.push_str(&format!(" --target-dir {}", target.display()));
        }
    }
    Err(user_error(format!(
        "{LIB_NAME} not found (looked in: {}); build it with `{build}` in the sysarena workspace, or pass --lib PATH",
        looked
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    })
}

#[derive(Debug, Serialize)]
struct Written {
    path: PathBuf,
    stats: TraceStats,
}

#[derive(Serialize)]
struct Json<'a> {
    command: Vec<String>,
    lib: &'a Path,
    exit_code: Option<i32>,
    success: bool,
    trace: &'a Written,
    children: &'a [Written],
    /// Child traces with no events, removed.
    removed_empty_children: usize,
    /// The trace to replay: the one with the most events.
    replay: &'a Path,
}

/// Child traces listed one a line; the rest are summed up.
const LISTED_CHILDREN: usize = 5;

/// Checks that the trace file can be created (or, if it exists, written)
/// without changing it: a file this creates is removed again.
///
/// # Errors
/// `cannot write the trace FILE: ...` when it cannot (a missing directory,
/// no permission, a directory of that name).
pub fn check_writable(path: &Path) -> io::Result<()> {
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| user_error(format!("cannot write the trace {}: {e}", path.display())))?;
    if !existed {
        std::fs::remove_file(path).map_err(|e| user_error(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// Runs `record`.
pub fn run(args: &RecordArgs, mut out: impl Write) -> io::Result<()> {
    let output = absolute(&args.output);
    // A trace that cannot be written must be said before the program runs,
    // not blamed on the program afterwards.
    check_writable(&output)?;
    let lib = find_lib(args.lib.as_deref())?;
    // A stale file must not pass for this run's trace.
    match std::fs::remove_file(&output) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(user_error(format!("{}: {e}", output.display()))),
    }
    // Nor may a stale child trace of an earlier run: every `FILE.<pid>`
    // found afterwards is this run's.
    for stale in child_traces(&output) {
        std::fs::remove_file(&stale)
            .map_err(|e| user_error(format!("{}: {e}", stale.display())))?;
    }
    let mut preload = OsString::from(&lib);
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(":");
        preload.push(old);
    }
    let program = &args.command[0];
    let mut cmd = Command::new(program);
    if args.json {
        // Keep stdout for the JSON document: the program's output goes to
        // stderr.
        cmd.stdout(std::process::Stdio::from(io::stderr()));
    }
    // Ctrl-C reaches the whole process group: the program ends, and this
    // process lives on to check and describe what it recorded (a second
    // Ctrl-C exits at once).
    super::interrupt_flag();
    let status = cmd
        .args(&args.command[1..])
        .env("LD_PRELOAD", &preload)
        .env("SYSARENA_TRACE", &output)
        .status()
        .map_err(|e| user_error(format!("{}: {e}", program.to_string_lossy())))?;
    if !output.is_file() {
        let ended = if status.success() {
            String::new()
        } else {
            format!(" (it {})", how_it_ended(status))
        };
        return Err(user_error(format!(
            "{}: no trace was written: `{}`{ended} made no allocation, or did not load {} (a statically linked or setuid program ignores LD_PRELOAD)",
            output.display(),
            program.to_string_lossy(),
            lib.display()
        )));
    }
    let check = |path: &Path| -> io::Result<Written> {
        let trace = super::load_trace(path, Some(TraceFormat::Native), None, args.quiet)?;
        Ok(Written {
            path: path.to_path_buf(),
            stats: trace.stats(),
        })
    };
    let main = check(&output)?;
    let mut children = Vec::new();
    let mut removed = 0;
    for path in child_traces(&output) {
        let child = check(&path)?;
        if child.stats.events == 0 {
            // A child that made no allocation (an exec'd helper before it
            // loaded anything): its file holds nothing to replay.
            if std::fs::remove_file(&path).is_ok() {
                removed += 1;
                continue;
            }
        }
        children.push(child);
    }
    // Most events first: the child that did the work leads.
    children.sort_by(|a, b| {
        b.stats
            .events
            .cmp(&a.stats.events)
            .then(a.path.cmp(&b.path))
    });
    // The trace to replay: the program's own, unless it made no
    // allocation and a child did.
    let best = match children.first() {
        Some(c) if main.stats.events == 0 && c.stats.events > 0 => c.path.clone(),
        _ => args.output.clone(),
    };
    let command: Vec<String> = args.command.iter().map(|a| quote(a)).collect();
    if args.json {
        super::print_json(
            &mut out,
            &Json {
                command: command.clone(),
                lib: &lib,
                exit_code: status.code(),
                success: status.success(),
                trace: &main,
                children: &children,
                removed_empty_children: removed,
                replay: &best,
            },
        )?;
    } else {
        writeln!(
            out,
            "recorded `{}` with {}",
            command.join(" "),
            lib.display()
        )?;
        describe(&mut out, &main)?;
        for c in children.iter().take(LISTED_CHILDREN) {
            write!(out, "child process: ")?;
            describe(&mut out, c)?;
        }
        if children.len() > LISTED_CHILDREN {
            let rest = &children[LISTED_CHILDREN..];
            writeln!(
                out,
                "… and {} more child traces ({}.<pid>), {} events in all",
                thousands(rest.len()),
                output.display(),
                thousands(rest.iter().map(|c| c.stats.events).sum())
            )?;
        }
        if removed > 0 {
            writeln!(
                out,
                "removed {} child trace{} with no events",
                thousands(removed),
                if removed == 1 { "" } else { "s" }
            )?;
        }
        if best != args.output {
            writeln!(
                out,
                "`{}` itself made no allocation; its child processes did. Replay the busiest:",
                command[0]
            )?;
            writeln!(out, "  sysarena replay {}", best.display())?;
        } else {
            writeln!(
                out,
                "replay it against every subject: sysarena replay {}",
                best.display()
            )?;
        }
    }
    if status.success() {
        Ok(())
    } else {
        Err(user_error(format!(
            "`{}` {} (the trace is kept)",
            command.join(" "),
            how_it_ended(status)
        )))
    }
}

/// How a program that failed ended: `exited with status N` or `ended by
/// signal: 2 (SIGINT)`.
fn how_it_ended(status: std::process::ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => format!("ended by {status}"),
    }
}

/// An argument as a shell would need it: single-quoted when it holds
/// anything but plain characters.
fn quote(arg: &std::ffi::OsStr) -> String {
    let s = arg.to_string_lossy();
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn describe(out: &mut impl Write, w: &Written) -> io::Result<()> {
    let s = &w.stats;
    writeln!(
        out,
        "{}: {} events ({} allocs, {} frees, {} reallocs), peak live {} in at most {} blocks, {} blocks ({}) never freed",
        w.path.display(),
        thousands(s.events),
        thousands(s.allocs),
        thousands(s.frees),
        thousands(s.reallocs),
        bytes_exact(s.peak_live_bytes),
        thousands(s.max_live_blocks),
        thousands(s.live_blocks_at_end),
        bytes_exact(s.live_bytes_at_end),
    )
}

/// The `FILE.<pid>` traces in `FILE`'s directory (forked children write
/// them).
fn child_traces(output: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (output.parent(), output.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix(&prefix)
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}
