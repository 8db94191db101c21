//! Curves and histograms with plotters' SVG backend (the built-in text
//! metrics, no system fonts: the output is the same on every machine).

use plotters::prelude::*;

use super::capture::SubjectRun;

/// Colours of subjects in curves, histograms and the report.
pub const SUBJECT_RGB: [(u8, u8, u8); 8] = [
    (31, 119, 180),
    (214, 39, 40),
    (44, 160, 44),
    (148, 103, 189),
    (255, 127, 14),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
];

/// The colour of the `i`-th subject.
pub fn subject_colour(i: usize) -> RGBColor {
    let (r, g, b) = SUBJECT_RGB[i % SUBJECT_RGB.len()];
    RGBColor(r, g, b)
}

fn err(e: impl std::fmt::Display) -> String {
    format!("plot: {e}")
}

/// External fragmentation (top) and footprint against live bytes (bottom)
/// over the events, one line a subject.
pub fn curves_svg(runs: &[SubjectRun], title: &str) -> Result<String, String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (960, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let root = root.titled(title, ("sans-serif", 18)).map_err(err)?;
        let (top, bottom) = root.split_vertically(300);
        let events = runs
            .iter()
            .filter_map(|r| r.series.last().map(|s| s.event))
            .max()
            .unwrap_or(1)
            .max(1) as f64;

        let mut chart = ChartBuilder::on(&top)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .caption(
                "external fragmentation: 1 − largest free / free bytes",
                ("sans-serif", 14),
            )
            .build_cartesian_2d(0f64..events, 0f64..1f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("events")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .draw()
            .map_err(err)?;
        for (i, r) in runs.iter().enumerate() {
            let c = subject_colour(i);
            chart
                .draw_series(LineSeries::new(
                    r.series
                        .iter()
                        .map(|s| (s.event as f64, s.external_fragmentation)),
                    c.stroke_width(2),
                ))
                .map_err(err)?
                .label(r.label())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;

        let mib = 1024.0 * 1024.0;
        let peak = runs
            .iter()
            .flat_map(|r| r.series.iter().map(|s| s.footprint.max(s.live_bytes)))
            .max()
            .unwrap_or(1)
            .max(1) as f64
            / mib;
        let mut chart = ChartBuilder::on(&bottom)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .caption(
                "footprint (highest end of a live block) vs live bytes (black, dashed), MiB",
                ("sans-serif", 14),
            )
            .build_cartesian_2d(0f64..events, 0f64..peak * 1.05)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("events")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .draw()
            .map_err(err)?;
        for (i, r) in runs.iter().enumerate() {
            let c = subject_colour(i);
            chart
                .draw_series(LineSeries::new(
                    r.series
                        .iter()
                        .map(|s| (s.event as f64, s.footprint as f64 / mib)),
                    c.stroke_width(2),
                ))
                .map_err(err)?;
        }
        if let Some(r) = runs.first() {
            chart
                .draw_series(DashedLineSeries::new(
                    r.series
                        .iter()
                        .map(|s| (s.event as f64, s.live_bytes as f64 / mib)),
                    6,
                    4,
                    BLACK.stroke_width(1),
                ))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(buf)
}

/// The free-block size histogram of every run at frame `index`: bars per
/// power-of-two size class, one colour a subject.
pub fn histogram_svg(runs: &[SubjectRun], index: usize, title: &str) -> Result<String, String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (960, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let classes = runs
            .iter()
            .map(|r| r.frames[index].histogram.len())
            .max()
            .unwrap_or(0)
            .max(1);
        let top = runs
            .iter()
            .flat_map(|r| r.frames[index].histogram.iter().copied())
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let n = runs.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .caption(title, ("sans-serif", 16))
            .build_cartesian_2d(0f64..classes as f64, 0f64..top * 1.1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(classes.min(32))
            .x_label_formatter(&|v| {
                let k = v.floor() as u32;
                if (v - v.floor()).abs() < 1e-9 && k < 64 {
                    crate::heapmap::fmt_bytes(1usize << k)
                        .replace(".0 ", " ")
                        .replace(' ', "")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| format!("{v:.0}"))
            .x_desc("free-block size class (≥ label, < next label)")
            .y_desc("free blocks")
            .draw()
            .map_err(err)?;
        for (i, r) in runs.iter().enumerate() {
            let c = subject_colour(i);
            let hist = &r.frames[index].histogram;
            chart
                .draw_series(
                    hist.iter()
                        .enumerate()
                        .filter(|(_, v)| **v > 0)
                        .map(|(k, &v)| {
                            let x0 = k as f64 + 0.1 + 0.8 * i as f64 / n;
                            let x1 = x0 + 0.8 / n;
                            Rectangle::new([(x0, 0.0), (x1, v as f64)], c.filled())
                        }),
                )
                .map_err(err)?
                .label(r.label_for(r.frames[index].stopped))
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(buf)
}
