//! The command lines learners type — in `sysarena step` and in the browser
//! playground — share one comment rule, kept here so the two never differ.

/// The command part of a line: everything before a comment, trimmed. A `#`
/// starts a comment at the start of the line, or after whitespace when it
/// does not name an allocation (`#` followed by a digit, as in `free #1`):
/// `alloc 100 # the first` is `alloc 100`, `free #1` frees allocation #1,
/// `#1 and #2 below` is a comment.
///
/// ```
/// use sysarena_sim::script::strip_comment;
/// assert_eq!(strip_comment("alloc 100 # the first"), "alloc 100");
/// assert_eq!(strip_comment("free #1"), "free #1");
/// assert_eq!(strip_comment("# a script"), "");
/// assert_eq!(strip_comment("alloc 100#x"), "alloc 100#x");
/// ```
///
/// Time: O(length of the line).
pub fn strip_comment(line: &str) -> &str {
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_space {
            let names = line[i + 1..].starts_with(|d: char| d.is_ascii_digit());
            if i == 0 || line[..i].trim().is_empty() || !names {
                return line[..i].trim();
            }
        }
        prev_space = c.is_whitespace();
    }
    line.trim()
}
