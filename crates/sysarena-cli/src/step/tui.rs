//! The interactive view of `sysarena step` (ratatui): the heap map, the
//! arena-table strip, the log and an input line, redrawn after every
//! command; and [`render_tui_text`], one frame of it as text for docs and
//! tests.

use ratatui::Frame;
use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::*;

struct Tui {
    terminal: ratatui::DefaultTerminal,
    input: String,
    quit: bool,
}

/// Draws one frame of the session.
pub(super) fn draw(f: &mut Frame<'_>, st: &State, m: &SliceManager<'_>, input: &str) {
    let area = f.area();
    let [head, map_area, mid, log_area, input_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(6),
        Constraint::Min(6),
        Constraint::Length(6),
        Constraint::Length(3),
    ])
    .areas(area);
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                " sysarena step ",
                Style::default().add_modifier(Modifier::REVERSED),
            ),
            Span::raw(format!(
                "  {} · {} · {} coalescing{}",
                st.step_label(),
                st.config.policy.name(),
                st.config.coalescing.name(),
                if st.quiz {
                    format!(" · quiz {}/{}", st.score.0, st.score.1)
                } else {
                    String::new()
                }
            )),
        ])),
        head,
    );
    let width = map_area.width.saturating_sub(2).max(8) as usize;
    let arenas: Vec<ArenaInfo> = m.arenas().collect();
    let key = |a: &ArenaInfo| st.names.get(&a.offset).map(|t| t.key);
    let map = HeapMap::fit(&arenas, m.capacity(), width, key);
    let cells: Vec<Span<'_>> = map
        .cells
        .iter()
        .map(|c| {
            let (style, ch) = cell_style(c);
            Span::styled(ch.to_string(), style)
        })
        .collect();
    let entries = table_entries(m);
    let strip = TableStrip::new(&entries, m.stats().descriptors, width, key);
    let strip_spans: Vec<Span<'_>> = strip
        .cells
        .iter()
        .map(|c| match c {
            crate::heapmap::SlotKind::Used(k) => Span::styled(
                label(k.unwrap_or(0)).to_string(),
                Style::default().fg(Color::Black).bg(Color::Gray),
            ),
            crate::heapmap::SlotKind::Free => {
                Span::styled("·", Style::default().fg(Color::DarkGray))
            }
            crate::heapmap::SlotKind::Cached => {
                Span::styled("○", Style::default().fg(Color::LightBlue))
            }
            crate::heapmap::SlotKind::Spare => Span::raw("_"),
        })
        .collect();
    f.render_widget(
        Paragraph::new(vec![
            Line::from(cells),
            Line::from(Span::styled(
                if map.has_cached() {
                    format!(
                        "{}; ○∘ cached: freed, waiting whole in a quick list",
                        map.scale_note()
                    )
                } else {
                    map.scale_note()
                },
                Style::default().fg(Color::DarkGray),
            )),
            Line::from(strip_spans),
            Line::from(Span::styled(
                format!("{} {}", strip.note(), strip.key_note()),
                Style::default().fg(Color::DarkGray),
            )),
        ])
        .block(Block::bordered().title(" heap map (addresses →) and arena table (slots →) ")),
        map_area,
    );
    let [table_area, right] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(mid);
    let mut rows = vec![Line::from(Span::styled(
        "slot   offset     size     used  state",
        Style::default().add_modifier(Modifier::BOLD),
    ))];
    for e in entries
        .iter()
        .take(table_area.height.saturating_sub(3) as usize)
    {
        rows.push(Line::from(match e.arena {
            Some(a) => format!(
                "{:>4} {:>8} {:>8} {:>8}  {}",
                e.slot,
                a.offset,
                a.size,
                a.used,
                if a.in_use {
                    st.names
                        .get(&a.offset)
                        .map_or_else(|| "in use".to_owned(), |&t| st.tag_name(t))
                } else {
                    frame::arena_state(&a).to_owned()
                }
            ),
            None => format!("{:>4} {:>8} {:>8} {:>8}  spare", e.slot, "-", "-", "-"),
        }));
    }
    f.render_widget(
        Paragraph::new(rows).block(Block::bordered().title(" arena table ")),
        table_area,
    );
    let free: Vec<ArenaInfo> = arenas.iter().filter(|a| !a.in_use).copied().collect();
    let largest = frame::largest_free(&free);
    let mut lines: Vec<Line<'_>> = free
        .iter()
        .take(right.height.saturating_sub(8) as usize)
        .map(|a| {
            let (st, mark) = if a.cached {
                (Style::default().fg(Color::LightBlue), " cached")
            } else if a.size == largest {
                (
                    Style::default()
                        .fg(Color::Green)
                        .add_modifier(Modifier::BOLD),
                    "",
                )
            } else {
                (Style::default(), "")
            };
            Line::from(Span::styled(
                format!("[{} + {}]{mark}", a.offset, a.size),
                st,
            ))
        })
        .collect();
    if free.len() > lines.len() {
        lines.push(Line::from(format!("… {} more", free.len() - lines.len())));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(stats_line(m)));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" free list (address order) · stats ")),
        right,
    );
    let mut log: Vec<Line<'_>> = Vec::new();
    if !st.title.is_empty() {
        log.push(Line::from(Span::styled(
            format!("> {}", st.title),
            Style::default().add_modifier(Modifier::BOLD),
        )));
    }
    log.extend(st.log.iter().map(|l| Line::from(l.as_str())));
    f.render_widget(
        Paragraph::new(log)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" what happened ")),
        log_area,
    );
    let prompt = if st.pending.is_some() {
        " answer: offset or `fail` "
    } else {
        " command (alloc N · free N · defrag · policy P · next/prev or ←/→ · help · quit; Esc quits) "
    };
    f.render_widget(
        Paragraph::new(format!("> {input}█")).block(Block::bordered().title(prompt)),
        input_area,
    );
}

impl Frontend for Tui {
    fn show(&mut self, st: &State, m: &SliceManager<'_>) -> io::Result<()> {
        let input = self.input.clone();
        self.terminal.draw(|f| draw(f, st, m, &input))?;
        Ok(())
    }

    fn next_line(&mut self, st: &State, m: &SliceManager<'_>) -> io::Result<Option<String>> {
        if self.quit {
            return Ok(None);
        }
        loop {
            let TermEvent::Key(k) = event::read()? else {
                self.show(st, m)?;
                continue;
            };
            if k.kind != KeyEventKind::Press {
                continue;
            }
            match k.code {
                KeyCode::Esc => return Ok(None),
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                    return Ok(None);
                }
                KeyCode::Enter => return Ok(Some(std::mem::take(&mut self.input))),
                KeyCode::Right | KeyCode::Left if self.input.is_empty() => {
                    let arrow = arrow_command(k.code == KeyCode::Right, st);
                    return Ok(Some(arrow.into()));
                }
                KeyCode::Backspace => {
                    self.input.pop();
                }
                KeyCode::Char(c) => self.input.push(c),
                _ => continue,
            }
            self.show(st, m)?;
        }
    }
}

pub(super) fn run(table: &mut [Slot], st: &mut State) -> io::Result<()> {
    let terminal = ratatui::init();
    let mut fe = Tui {
        terminal,
        input: String::new(),
        quit: false,
    };
    let r = drive(table, st, &mut fe);
    ratatui::restore();
    r
}

/// A heap-map cell as a ratatui style and character.
pub(super) fn cell_style(c: &Cell) -> (ratatui::style::Style, char) {
    use ratatui::style::{Color, Modifier, Style};
    const COLOURS: [Color; 6] = [
        Color::Cyan,
        Color::Yellow,
        Color::Magenta,
        Color::Blue,
        Color::Red,
        Color::LightCyan,
    ];
    let k = COLOURS[c.key.unwrap_or(0) % COLOURS.len()];
    match c.kind {
        CellKind::Used if c.first => (
            Style::default()
                .bg(k)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
            label(c.key.unwrap_or(0)),
        ),
        CellKind::Used => (Style::default().fg(k), '█'),
        CellKind::Slack => (Style::default().fg(k), '░'),
        CellKind::Holes => (Style::default().fg(k), '▚'),
        CellKind::Free => (
            Style::default().fg(Color::DarkGray),
            if c.first { '▏' } else { '·' },
        ),
        CellKind::LargestFree => (
            Style::default()
                .fg(Color::Green)
                .add_modifier(Modifier::BOLD),
            if c.first { '▏' } else { '=' },
        ),
        CellKind::Cached => (
            Style::default().fg(Color::LightBlue),
            if c.first { '○' } else { '∘' },
        ),
    }
}

/// The command an arrow key stands for on an empty input line: ← undoes,
/// → redoes what was undone, or else applies the trace's next event.
pub(super) fn arrow_command(right: bool, st: &State) -> &'static str {
    match (right, st.undone.is_empty()) {
        (false, _) => "prev",
        (true, false) => "redo",
        (true, true) => "next",
    }
}

/// Renders one frame of the interactive view into a `w` × `h` character
/// grid (ratatui's test backend), for docs and tests.
pub fn render_tui_text(args: &StepArgs, script: &str, w: u16, h: u16) -> io::Result<String> {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let (mut st, descriptors) = new_state(args)?;
    let mut table = vec![Slot::EMPTY; descriptors];
    let mut m = st.fresh(&mut table);
    for line in script.lines().filter(|l| !l.trim().is_empty()) {
        if let Flow::Rebuild = st.exec(&mut m, line) {
            let log = std::mem::take(&mut st.log);
            m = st.fresh(&mut table);
            st.replay(&mut m);
            st.log = log;
        }
    }
    let mut term = Terminal::new(TestBackend::new(w, h))?;
    term.draw(|f| tui::draw(f, &st, &m, ""))?;
    let buf = term.backend().buffer();
    let mut s = String::new();
    for y in 0..h {
        for x in 0..w {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    Ok(s)
}
