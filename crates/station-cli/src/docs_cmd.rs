//! The `station` CLI's shell completions and man pages, generated from its own clap definition
//! (`args::Cli`), so they can never drift from the commands they describe. The packaging
//! (`scripts/deb-stage.sh`) runs the very binary it ships with the hidden `generate-docs`
//! subcommand. That subcommand is attached to the runtime parser only (`parser`), never to
//! `Cli::command()`, so it does not appear in the completions or man pages it writes.

use std::fs;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};
use clap_complete::Shell;
use station_core::CoreError;

use crate::args::Cli;

/// The hidden subcommand that writes the completions and man pages.
pub const GENERATE_DOCS: &str = "generate-docs";

/// The program name the completions complete (the installed binary's name).
const BIN_NAME: &str = "station";
/// Where under `--out-dir` the completions go.
pub const COMPLETIONS_DIR: &str = "completions";
/// Where under `--out-dir` the man pages go (section 1).
pub const MAN_DIR: &str = "man1";

/// The shells the package carries completions for, each with the file name its completion
/// loader looks for (bash-completion, zsh's `fpath`, fish's `vendor_completions.d`).
pub const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "station"),
    (Shell::Zsh, "_station"),
    (Shell::Fish, "station.fish"),
];

/// `station generate-docs --out-dir DIR` (hidden; for packaging).
#[derive(Debug, Args)]
pub struct GenerateDocsArgs {
    /// Where to write `completions/` and `man1/`.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
}

/// The parser the binary runs: the documented CLI plus the hidden generator.
pub fn parser() -> clap::Command {
    Cli::command().subcommand(GenerateDocsArgs::augment_args(
        clap::Command::new(GENERATE_DOCS)
            .hide(true)
            .about("Write the shell completions and man pages (for packaging)"),
    ))
}

/// Writes `<out>/completions/{station,_station,station.fish}` and `<out>/man1/station.1` with a
/// page per subcommand (`station-flash.1`, `station-batch-export.1`, ...).
pub fn generate(args: &GenerateDocsArgs) -> Result<(), CoreError> {
    let completions = args.out_dir.join(COMPLETIONS_DIR);
    fs::create_dir_all(&completions).map_err(io_err("create", &completions))?;
    for (shell, file_name) in SHELLS {
        let path = completions.join(file_name);
        // Into memory first: clap_complete panics on a failed write (a full disk), fs::write
        // returns the error.
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), BIN_NAME, &mut script);
        fs::write(&path, script).map_err(io_err("write", &path))?;
    }
    let man = args.out_dir.join(MAN_DIR);
    fs::create_dir_all(&man).map_err(io_err("create", &man))?;
    clap_mangen::generate_to(Cli::command(), &man).map_err(io_err("write man pages in", &man))
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> CoreError + 'a {
    move |source| CoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}
