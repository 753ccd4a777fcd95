//! Who is operating the station: one precedence for every face, so a record says the same
//! name whether the flash was started from the CLI or the app.
//!
//! 1. the name given for this run (the CLI's `--operator` / `STATION_OPERATOR`);
//! 2. the operator signed in on the station (the app's operator setting, shared by the CLI);
//! 3. the operating-system user;
//! 4. `operator`, when none of these is known.

use station_core::{Actor, Result, Store};

/// The last resort when nobody is known.
pub const UNKNOWN_OPERATOR: &str = "operator";

/// The person acting now at this station.
pub fn actor(store: &Store, explicit: Option<&str>) -> Result<Actor> {
    let signed_in = store.app_settings()?.operator;
    let os_user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok();
    let name = resolve(explicit, Some(signed_in.as_str()), os_user.as_deref());
    Actor::new(name, store.station_id()?)
}

/// The precedence itself, over the candidates (blank ones do not count).
pub fn resolve(explicit: Option<&str>, signed_in: Option<&str>, os_user: Option<&str>) -> String {
    [explicit, signed_in, os_user]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|n| !n.is_empty())
        .unwrap_or(UNKNOWN_OPERATOR)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_beats_the_signed_in_operator_beats_the_os_user() {
        assert_eq!(resolve(Some("ana"), Some("bo"), Some("root")), "ana");
        assert_eq!(resolve(None, Some("bo"), Some("root")), "bo");
        assert_eq!(resolve(Some("  "), Some(""), Some("root")), "root");
        assert_eq!(resolve(None, None, None), UNKNOWN_OPERATOR);
    }
}
