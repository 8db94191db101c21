//! Result tables (printed as Markdown, written as CSV) and the progress line
//! on stderr.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write as _};
use std::path::Path;
use std::time::Instant;

/// One result table: a title, a header row, rows of cells and notes.
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// Shown above the table.
    pub title: String,
    /// Column names.
    pub headers: Vec<String>,
    /// Cells, one `Vec` per row, as many as `headers`.
    pub rows: Vec<Vec<String>>,
    /// Lines shown under the table (what a reader must know).
    pub notes: Vec<String>,
}

impl Table {
    /// An empty table with `title` and `headers`.
    pub fn new(title: impl Into<String>, headers: &[&str]) -> Table {
        Table {
            title: title.into(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    /// Adds a note, once.
    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// The table as Markdown (title, aligned pipe table, notes).
    pub fn to_markdown(&self) -> String {
        let cols = self.headers.len();
        let mut width = vec![3; cols];
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let _ = writeln!(out, "### {}\n", self.title);
        let line = |out: &mut String, row: &[String]| {
            out.push('|');
            for (i, (cell, w)) in row.iter().zip(&width).enumerate() {
                let pad = w - cell.chars().count();
                if i == 0 {
                    let _ = write!(out, " {cell}{} |", " ".repeat(pad));
                } else {
                    let _ = write!(out, " {}{cell} |", " ".repeat(pad));
                }
            }
            out.push('\n');
        };
        line(&mut out, &self.headers);
        out.push('|');
        for (i, w) in width.iter().enumerate() {
            if i == 0 {
                let _ = write!(out, "{}|", "-".repeat(w + 2));
            } else {
                let _ = write!(out, "{}:|", "-".repeat(w + 1));
            }
        }
        out.push('\n');
        for row in &self.rows {
            line(&mut out, row);
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }

    /// Writes the table as CSV to `dir/name` (cells quoted where needed;
    /// notes are left to the Markdown).
    pub fn write_csv(&self, dir: &Path, name: &str) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
            let _ = writeln!(out, "{}", cells.join(","));
        }
        std::fs::write(dir.join(name), out)
    }
}

fn csv_cell(cell: &str) -> String {
    if cell.contains([',', '"', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

/// `value / base` to two decimals, or `-` without a base.
pub fn ratio(value: f64, base: Option<f64>) -> String {
    match base {
        Some(b) if b > 0.0 && value.is_finite() => format!("{:.2}", value / b),
        _ => "-".to_owned(),
    }
}

/// A progress line on stderr: rewritten in place on a terminal, one line
/// per step otherwise.
#[derive(Debug)]
pub struct Progress {
    start: Instant,
    tty: bool,
    dirty: bool,
}

impl Progress {
    /// Starts the clock.
    pub fn new() -> Progress {
        Progress {
            start: Instant::now(),
            tty: io::stderr().is_terminal(),
            dirty: false,
        }
    }

    /// Shows what is running now.
    pub fn step(&mut self, what: &str) {
        let t = self.start.elapsed().as_secs_f64();
        let mut err = io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K[{t:7.1}s] {what}");
            self.dirty = true;
        } else {
            let _ = writeln!(err, "[{t:7.1}s] {what}");
        }
        let _ = err.flush();
    }

    /// Ends an in-place line before normal output.
    pub fn clear(&mut self) {
        if self.dirty {
            let _ = write!(io::stderr(), "\r\x1b[2K");
            self.dirty = false;
        }
    }

    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// The median of `v` (sorted in place); 0 when empty.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_and_csv() {
        let mut t = Table::new("demo", &["subject", "x"]);
        t.row(vec!["talc".into(), "1.00".into()]);
        t.note("a, note");
        let md = t.to_markdown();
        assert!(md.contains("| talc    | 1.00 |"), "{md}");
        assert!(md.contains("- a, note"));
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(ratio(2.0, Some(4.0)), "0.50");
        assert_eq!(ratio(2.0, None), "-");
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
    }
}
