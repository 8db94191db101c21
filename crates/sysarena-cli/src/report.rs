//! `sysarena report`: one self-contained HTML file — inline CSS, JS and
//! JSON, no network — with a timeline slider over the operations, the heap
//! map of every subject at the current step side by side, the curves over
//! time, the free-block histogram and a summary table.
//!
//! The report never embeds every frame: it holds at most `--keyframes`
//! (default 400) captured steps, each heap map a short run-length string
//! (see [`HeapMap::run_length`](crate::heapmap::HeapMap::run_length)), so
//! a 100,000-operation trace gives a report of a few hundred kilobytes
//! that redraws in a millisecond.
//!
//! Opened with `#selftest` the page tests itself: it moves the slider,
//! checks that the heap map changed and that no script error was raised,
//! and writes the verdict into `#selftest-verdict` (the browser test reads it).

use std::io;
use std::path::PathBuf;

use serde_json::json;

use crate::heapmap::{CACHED_RGB, FREE_RGB, LARGEST_RGB, RGB, fmt_bytes};
use crate::viz::capture::{CaptureOptions, SubjectRun, capture, keyframe_steps};
use crate::viz::plots::SUBJECT_RGB;
use crate::viz::svg::{describe_last, esc};
use crate::viz::{SourceArgs, parse_frames, parse_view, write_output};

/// Options of `sysarena report`.
#[derive(Clone, Debug, clap::Args)]
pub struct ReportArgs {
    /// Where the events come from.
    #[command(flatten)]
    pub source: SourceArgs,
    /// The HTML file to write (`-`: standard output).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Steps captured for the slider (heap maps and histograms), 1 to
    /// 10,000: evenly spaced up to the end, after the start (N + 1
    /// positions; fewer for a trace of fewer events). The curves use
    /// every sample of the replay.
    #[arg(long, default_value_t = 400, value_parser = parse_frames)]
    pub keyframes: usize,
    /// Heap-map width, in cells (1 to 4096; narrower than 16 is drawn as 16).
    #[arg(long, default_value_t = 480, value_parser = crate::heapmap::parse_width)]
    pub width: usize,
    /// Show addresses `[0, VIEW)`; default: just past the largest footprint.
    #[arg(long, value_parser = parse_view)]
    pub view: Option<usize>,
}

/// Builds the report as a string.
pub fn render(args: &ReportArgs) -> io::Result<String> {
    let (trace, capacity) = args.source.load()?;
    let n = trace.events.len();
    let names = args.source.subject_names()?;
    let options = CaptureOptions {
        capacity,
        steps: keyframe_steps(n, args.keyframes.max(1)),
        width: args.width.max(16),
        view: args.view,
        table_width: 240,
        quiet: args.source.quiet,
        budget: args.source.budget,
    };
    let (runs, view) = capture(&trace, &names, &options).map_err(io::Error::other)?;
    let stats = trace.stats();
    let title = format!("sysarena report: {}", trace.name);
    let peak_frame = peak_frame(&runs);
    let data = json!({
        "title": title,
        "trace": trace.name,
        "events": n,
        "capacity": capacity,
        "view": view,
        "viewText": fmt_bytes(view),
        "capacityText": fmt_bytes(capacity),
        "steps": options.steps,
        "palette": RGB,
        "free": FREE_RGB,
        "largest": LARGEST_RGB,
        "cached": CACHED_RGB,
        "scale": runs.first().and_then(|r| r.frames.first()).map(|f| f.map.scale_note()),
        "peakLive": stats.peak_live_bytes,
        "peakFrame": peak_frame,
        "subjects": runs.iter().enumerate().map(|(i, r)| subject_json(i, r)).collect::<Vec<_>>(),
    });
    let json = serde_json::to_string(&data)
        .map_err(io::Error::other)?
        .replace("</", "<\\/");
    Ok(TEMPLATE
        .replace("{{TITLE}}", &esc(&title))
        .replace("{{SUMMARY}}", &summary_table(&runs))
        .replace("{{DATA}}", &json))
}

/// The keyframe with the most live bytes (the first such), where the report
/// opens: the end of most traces is a nearly empty heap.
pub fn peak_frame(runs: &[SubjectRun]) -> usize {
    // The first subject that replayed the whole trace: one stopped by its
    // budget has no peak past its stop.
    runs.iter()
        .find(|r| r.summary.stopped.is_none())
        .or(runs.first())
        .and_then(|r| {
            r.frames
                .iter()
                .enumerate()
                .max_by_key(|&(i, f)| (f.live_bytes, std::cmp::Reverse(i)))
                .map(|(i, _)| i)
        })
        .unwrap_or(0)
}

fn subject_json(i: usize, r: &SubjectRun) -> serde_json::Value {
    let (cr, cg, cb) = SUBJECT_RGB[i % SUBJECT_RGB.len()];
    json!({
        "name": r.name,
        "colour": format!("#{cr:02x}{cg:02x}{cb:02x}"),
        "exact": r.exact,
        "maps": r.frames.iter().map(|f| f.map.run_length()).collect::<Vec<_>>(),
        "tables": r.frames.iter().map(|f| f.table.as_ref().map(|t| t.run_length())).collect::<Vec<_>>(),
        "tableNotes": r.frames.iter().map(|f| f.table.as_ref().map(|t| t.note())).collect::<Vec<_>>(),
        "hist": r.frames.iter().map(|f| &f.histogram).collect::<Vec<_>>(),
        "free": r.frames.iter().map(|f| [f.free.0, f.free.1, f.free.2, f.live_bytes]).collect::<Vec<_>>(),
        // The page prefixes "after: ".
        "last": r.frames.iter().map(|f| match f.stopped {
            Some(stop) => format!(
                "event {} of {}, where it stopped: {}",
                stop.at_event, stop.of, stop.reason
            ),
            None => describe_last(f.last),
        }).collect::<Vec<_>>(),
        "series": {
            "event": r.series.iter().map(|s| s.event).collect::<Vec<_>>(),
            "ext": r.series.iter().map(|s| (s.external_fragmentation * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
            "footprint": r.series.iter().map(|s| s.footprint).collect::<Vec<_>>(),
            "live": r.series.iter().map(|s| s.live_bytes).collect::<Vec<_>>(),
        },
    })
}

fn summary_table(runs: &[SubjectRun]) -> String {
    let mut s = String::from(
        "<table><thead><tr><th>subject</th><th>peak live</th><th>footprint at peak</th><th>J&amp;W fragmentation</th><th>max external fragmentation</th><th>failed requests</th><th>… with a fitting gap</th><th>free blocks at end</th><th>free space from</th></tr></thead><tbody>",
    );
    // The best footprint among the subjects that replayed the whole trace
    // (one stopped early has seen less of it), unless none did.
    let any_whole = runs.iter().any(|r| r.summary.stopped.is_none());
    let ranked = |r: &SubjectRun| r.summary.stopped.is_none() || !any_whole;
    let best = runs
        .iter()
        .filter(|r| ranked(r))
        .map(|r| r.summary.footprint_at_peak)
        .min()
        .unwrap_or(0);
    for (i, r) in runs.iter().enumerate() {
        let m = &r.summary;
        let (cr, cg, cb) = SUBJECT_RGB[i % SUBJECT_RGB.len()];
        s.push_str(&format!(
            "<tr><td><span class=\"sw\" style=\"background:#{cr:02x}{cg:02x}{cb:02x}\"></span>{}{}</td><td>{}</td><td{}>{}</td><td>{:.1}%</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.name),
            match m.stopped {
                Some(stop) => format!(
                    " <span class=\"muted\">(stopped at {:.0}%)</span>",
                    stop.percent()
                ),
                None => String::new(),
            },
            fmt_bytes(m.peak_live_bytes),
            if ranked(r) && m.footprint_at_peak == best {
                " class=\"best\""
            } else {
                ""
            },
            fmt_bytes(m.footprint_at_peak),
            m.jw_fragmentation * 100.0,
            m.max_external_fragmentation * 100.0,
            m.failed_requests,
            m.failed_with_fitting_gap,
            m.end.free_blocks,
            if r.exact { "its free arenas" } else { "gaps between live blocks" },
        ));
    }
    s.push_str("</tbody></table>");
    for r in runs {
        if let Some(stop) = r.summary.stopped {
            s.push_str(&format!(
                "<p class=\"muted\">{}: {stop}; its figures, curves and heap maps cover the events it reached (<code>--time-budget</code>).</p>",
                esc(&r.name)
            ));
        }
    }
    s
}

/// Runs `sysarena report`.
pub fn run(args: &ReportArgs, mut out: impl io::Write) -> io::Result<()> {
    let html = render(args)?;
    if args.output.as_os_str() == "-" {
        return out.write_all(html.as_bytes());
    }
    write_output(&args.output, html.as_bytes())?;
    writeln!(
        out,
        "wrote {} ({})",
        args.output.display(),
        fmt_bytes(html.len())
    )
}

const TEMPLATE: &str = include_str!("report.html");

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct P {
        #[command(flatten)]
        a: ReportArgs,
    }

    #[test]
    fn the_report_is_self_contained() {
        let p = P::parse_from([
            "report",
            "--workload",
            "peaks",
            "--ops",
            "3000",
            "-o",
            "unused.html",
            "--keyframes",
            "50",
        ]);
        let html = render(&p.a).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        for bad in ["http://", "https://", "<link", "src=\""] {
            assert!(!html.contains(bad), "report refers outside itself: {bad}");
        }
        assert!(html.contains("\"maps\""));
        // It opens at the peak of live bytes, and says so.
        assert!(html.contains("\"peakFrame\":"));
        assert!(html.contains("opens at the peak"));
        assert!(html.contains("<table>"));
        assert!(!html.contains("{{"));
    }

    #[test]
    fn a_subject_its_budget_stopped_is_marked_and_neither_best_nor_where_the_page_opens() {
        use std::time::Duration;
        use sysarena_sim::workload::{Workload, WorkloadParams};
        let capacity = 1 << 20;
        let trace = Workload::Peaks.generate(&WorkloadParams {
            ops: 3000,
            capacity,
            ..WorkloadParams::default()
        });
        let names = ["sysarena/best-fit/immediate".to_owned()];
        // 400 µs on the test clock stops after about 200 events.
        let options = |budget| {
            CaptureOptions::ticking(capacity, keyframe_steps(trace.events.len(), 20), budget)
        };
        let (mut runs, _) =
            capture(&trace, &names, &options(Some(Duration::from_micros(400)))).unwrap();
        let (whole, _) = capture(&trace, &names, &options(None)).unwrap();
        assert!(runs[0].summary.stopped.is_some());
        // Stopped early, its footprint is the smaller: without the rule it
        // would be marked best.
        assert!(runs[0].summary.footprint_at_peak < whole[0].summary.footprint_at_peak);
        runs.extend(whole);
        let table = summary_table(&runs);
        assert!(table.contains("(stopped at "), "{table}");
        assert_eq!(table.matches("class=\"best\"").count(), 1, "{table}");
        let best = table
            .split("<tr>")
            .map(|row| &row[..row.find("</tr>").unwrap_or(row.len())])
            .find(|row| row.contains("class=\"best\""))
            .unwrap();
        assert!(!best.contains("stopped"), "{best}");
        assert!(table.contains("its figures, curves and heap maps cover the events it reached"));
        // The page opens at the whole run's peak.
        let at = peak_frame(&runs);
        assert_eq!(at, peak_frame(&runs[1..]));
        assert!(runs[1].frames[at].stopped.is_none());
        assert!(
            runs[0].frames[at].stopped.is_some(),
            "the peak lies past the stop"
        );
    }

    #[test]
    fn the_fast_models_cached_arenas_reach_the_report() {
        let p = P::parse_from([
            "report",
            "--workload",
            "uniform",
            "--ops",
            "2000",
            "--subjects",
            "sysarena/segregated-fit/immediate",
            "-o",
            "unused.html",
            "--keyframes",
            "20",
        ]);
        let html = render(&p.a).unwrap();
        // The colour the page draws `~` cells in, and some keyframe with
        // one; the page names it in the legend only then.
        assert!(html.contains(r##""cached":"#9fa8bd""##), "no cached colour");
        assert!(html.contains("if (c === '~') return [D.cached, null];"));
        let maps = html.split("\"maps\":[").nth(1).expect("maps");
        let maps = &maps[..maps.find(']').expect("end of maps")];
        assert!(maps.contains('~'), "no cached cell in {maps}");
    }

    #[test]
    fn a_dash_writes_the_report_to_standard_output_and_no_file() {
        let here = std::env::current_dir().unwrap();
        let p = P::parse_from([
            "report",
            "--workload",
            "peaks",
            "--ops",
            "500",
            "-o",
            "-",
            "--keyframes",
            "5",
            "--quiet",
        ]);
        let mut out = Vec::new();
        run(&p.a, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("<!DOCTYPE html>"), "{}", &out[..80]);
        assert!(!out.contains("wrote -"));
        assert!(!here.join("-").exists(), "a file named '-' was written");
    }
}
