//! The CLI's face of an outcome: the exit code of each [`ErrorCode`], the words of each
//! [`Action`] (which may name `station` commands and flags, unlike the core's neutral words),
//! the `help:` line of an error, and the README's outcome table generated from the enums.

use station_core::flash::FlashFailure;
#[cfg(test)]
use station_core::FailReason;
use station_core::{Action, CoreError, ErrorCode};

/// Exit codes, documented in `station --help` and in the README's outcome table.
pub mod exit {
    pub const OK: u8 = 0;
    pub const MISMATCH: u8 = 1;
    pub const NOT_FOUND: u8 = 3;
    pub const INVALID: u8 = 4;
    pub const DATABASE: u8 = 5;
    pub const IO: u8 = 6;
    pub const DEVICE: u8 = 7;
    pub const INTERNAL: u8 = 70;
}

/// The exit code of a failure with `code`.
pub fn exit_code(code: ErrorCode) -> u8 {
    match code {
        ErrorCode::NotFound | ErrorCode::UnknownType => exit::NOT_FOUND,
        ErrorCode::InvalidInput
        | ErrorCode::DuplicateType
        | ErrorCode::Conflict
        | ErrorCode::Refused
        | ErrorCode::SignInRequired => exit::INVALID,
        ErrorCode::DatabaseBusy
        | ErrorCode::DatabaseReadOnly
        | ErrorCode::DatabaseCorrupt
        | ErrorCode::DatabaseTooNew
        | ErrorCode::DiskFull
        | ErrorCode::Database => exit::DATABASE,
        ErrorCode::Io => exit::IO,
        ErrorCode::Device => exit::DEVICE,
        ErrorCode::Internal => exit::INTERNAL,
    }
}

/// The exit code of a run over one or more ports: 0 when every port passed, otherwise the code
/// of the first failure (so a busy database or a full disk exits 5, as everywhere else).
pub fn flash_exit<'a>(failures: impl IntoIterator<Item = &'a FlashFailure>) -> u8 {
    failures
        .into_iter()
        .next()
        .map_or(exit::OK, |f| exit_code(f.error.code()))
}

/// What to do, in the CLI's words.
pub fn action_words(action: Action) -> &'static str {
    match action {
        Action::Retry => "run the same command again; every attempt uses fresh credentials",
        Action::RunRecover => {
            "keep the unit plugged in (or plug it in again) and run `station recover --port PORT`: \
             it settles the unconfirmed write from what the unit holds"
        }
        Action::RotateAndReflash => {
            "to give it new credentials use `station reflash --port PORT`; to reuse the unit as a \
             new device, `station devices deactivate` its old device first"
        }
        Action::OverwriteForeign => {
            "check where the unit comes from; to overwrite its identity anyway, flash it with \
             --overwrite-foreign"
        }
        Action::ProvisionNew => "provision it as a new device with `station flash`",
        Action::PlugInSelectedUnit => {
            "plug in only the unit of the device you named, and run the command again"
        }
        Action::SetAside => "set the unit aside as faulty and tell the engineer",
        Action::FreePort => "close the program that is using the port, then run the command again",
        Action::ChoosePort => {
            "check the port's name and that the unit is plugged in; `station ports` lists them"
        }
        Action::AddType => "add one with `station type add NAME --app-label LABEL`",
        Action::FixInput => "fix what was asked, as the message says, and run the command again",
        Action::WaitAndRetry => "wait a moment, then run the command again",
        Action::FreeDisk => "free some disk space, then run the command again",
        Action::FixDatabaseFile => {
            "make the database file writable or restore it from a backup, or point --db / \
             STATION_DB at another file"
        }
        Action::UpdateStation => {
            "set the unit aside and ask the engineer to update its firmware or the station"
        }
        Action::ReportBug => "report this error to the engineer",
        Action::ConfirmUnbound => {
            "check that this unit is the device's own (its label, where it came from), then run \
             `station reflash --port PORT --confirm-unbound`"
        }
        Action::UnlockUnit => {
            "the unit is locked: put it in factory mode (hold its button or set its jumper) and \
             run the same command again"
        }
        Action::SignIn => {
            "sign in with `station operator sign-in NAME` (or give `--operator NAME`), then run \
             the same command again"
        }
        Action::None => "nothing to do",
    }
}

/// The `help:` line of an error. An error whose next step depends on what was asked keeps the
/// core's own (neutral, specific) words; every other one says its action in the CLI's words.
pub fn help_line(e: &CoreError) -> String {
    if let CoreError::NotFound { what, .. } = e {
        return format!("check the {what}; `station devices list` shows what this station has");
    }
    match e.action() {
        Action::FixInput | Action::None => e.help(),
        action => action_words(action).to_owned(),
    }
}

/// The exit code a failing device reason gives: a unit that holds a write the station could
/// not record fails with the database's code, every other reason with `device`'s.
#[cfg(test)]
fn reason_exit(reason: FailReason) -> u8 {
    match reason {
        FailReason::NotRecorded => exit::DATABASE,
        _ => exit::DEVICE,
    }
}

/// The README's outcome table, generated from the enums (only the test that keeps the README
/// fresh needs it).
#[cfg(test)]
fn outcome_table() -> String {
    let mut t = String::from(
        "| Outcome | Exit | Message | Action | What the CLI says to do |\n|---|---|---|---|---|\n",
    );
    let row = |t: &mut String, outcome: String, exit: u8, headline: &str, action: Action| {
        t.push_str(&format!(
            "| {outcome} | {exit} | {headline} | `{}` | {} |\n",
            action.as_str(),
            action_words(action).replace('|', "\\|")
        ));
    };
    for &code in ErrorCode::ALL {
        row(
            &mut t,
            format!("`{}`", code.as_str()),
            exit_code(code),
            code.headline(),
            code.action(),
        );
    }
    for &reason in FailReason::ALL {
        row(
            &mut t,
            format!("`device` / `{}`", reason.as_str()),
            reason_exit(reason),
            reason.headline(),
            reason.action(),
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- outcomes:begin -->\n";
    const END: &str = "<!-- outcomes:end -->";

    /// The README's table is generated: `UPDATE_README=1 cargo test -p station-cli` rewrites it.
    #[test]
    fn readme_outcome_table_is_generated_from_the_enums() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
        let readme = std::fs::read_to_string(&path).expect("read README.md");
        let start = readme
            .find(BEGIN)
            .expect("README has <!-- outcomes:begin -->")
            + BEGIN.len();
        let end = readme.find(END).expect("README has <!-- outcomes:end -->");
        let fresh = outcome_table();
        if readme[start..end] == fresh {
            return;
        }
        if std::env::var_os("UPDATE_README").is_some() {
            let updated = format!("{}{fresh}{}", &readme[..start], &readme[end..]);
            std::fs::write(&path, updated).expect("write README.md");
            return;
        }
        panic!("README.md's outcome table is stale: run UPDATE_README=1 cargo test -p station-cli");
    }

    #[test]
    fn not_recorded_exits_with_the_database_code() {
        assert_eq!(reason_exit(FailReason::NotRecorded), exit::DATABASE);
        assert_eq!(exit_code(ErrorCode::DiskFull), exit::DATABASE);
        assert_eq!(exit_code(ErrorCode::DatabaseBusy), exit::DATABASE);
    }
}
