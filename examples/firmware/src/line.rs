//! [`Line`]: one line of output built on the stack, then written to the
//! host in one semihosting call.

use core::fmt;

/// The longest line; longer output is cut (and ends with `~`).
pub const WIDTH: usize = 200;

/// A line of text in a fixed buffer: formatting into it never allocates.
#[derive(Debug)]
pub struct Line {
    buf: [u8; WIDTH],
    len: usize,
    cut: bool,
}

impl Line {
    /// An empty line.
    pub const fn new() -> Self {
        Line {
            buf: [0; WIDTH],
            len: 0,
            cut: false,
        }
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        // Only whole `str`s are ever copied in, so the bytes are UTF-8 up to
        // `len`; a cut never splits a character (see `write_str`).
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("<not utf-8>")
    }

    /// Writes the line and a newline to the host's standard output.
    pub fn print(&self) {
        cortex_m_semihosting::hprint!("{}", self.as_str());
        if self.cut {
            cortex_m_semihosting::hprint!("~");
        }
        cortex_m_semihosting::hprint!("\n");
    }
}

impl Default for Line {
    fn default() -> Self {
        Line::new()
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = WIDTH - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        if take < s.len() {
            self.cut = true;
        }
        Ok(())
    }
}

/// Formats one line on the stack and prints it: `say!("{} arenas", n)`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        let mut line = $crate::Line::new();
        // Writing to a `Line` cannot fail: it cuts instead.
        let _ = core::fmt::Write::write_fmt(&mut line, format_args!($($arg)*));
        line.print();
    }};
}
