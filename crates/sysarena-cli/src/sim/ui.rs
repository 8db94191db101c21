//! What the user sees besides the tables: errors to read and progress bars.

use std::io;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A failure the user should read: printed as `sysarena: <message>`.
pub fn user_error(message: impl Into<String>) -> io::Error {
    io::Error::other(message.into())
}

/// A progress bar on stderr, hidden when stderr is not a terminal or with
/// `--quiet`.
pub fn progress(quiet: bool, len: Option<u64>) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    let style = match len {
        Some(_) => ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:24} {pos}/{len} {wide_msg}",
        ),
        None => ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}"),
    };
    bar.set_style(style.expect("valid template").progress_chars("█▉▊▋▌▍▎▏ "));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
