//! `sysarena completions SHELL`: a completion script for bash, zsh or fish,
//! generated from the command's own definition by `clap_complete`, so it
//! never falls out of step with the verbs and their options.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;

/// Options of `sysarena completions`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "\
Install, for example:
  bash: sysarena completions bash > ~/.local/share/bash-completion/completions/sysarena
  zsh:  sysarena completions zsh > ~/.zfunc/_sysarena   (with `fpath+=~/.zfunc` before `compinit`)
  fish: sysarena completions fish > ~/.config/fish/completions/sysarena.fish")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(["bash", "zsh", "fish"]))]
    pub shell: String,
}

/// Writes the completion script for `args.shell` to `out`.
pub fn run(args: &CompletionsArgs, mut out: impl Write) -> io::Result<()> {
    let shell = match args.shell.as_str() {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no completions for `{other}`: bash, zsh or fish"),
            ));
        }
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut crate::Cli::command(), "sysarena", &mut buf);
    out.write_all(&buf)
}
