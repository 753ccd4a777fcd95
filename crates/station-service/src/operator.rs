//! Who is operating the station: one precedence for every face, so a record says the same
//! name whether the flash was started from the CLI or the app.
//!
//! 1. the name given for this run (the CLI's `--operator` / `STATION_OPERATOR`);
//! 2. the operator signed in on the station (the app's operator setting, shared by the CLI);
//! 3. the operating-system user;
//! 4. `operator`, when none of these is known.

//!
//! Sign-in (typed, or a badge a keyboard-wedge scanner types) sets the station's operator and
//! joins the running shift's operators; with the lead's "operator sign-in required" on, no
//! flash starts unless someone is signed in (or the run names its operator): the typed
//! [`CoreError::SignInRequired`], a "not started", never a FAIL.

use station_core::settings::{self, key};
use station_core::{Actor, CoreError, Result, Store};

/// The last resort when nobody is known.
pub const UNKNOWN_OPERATOR: &str = "operator";

/// Who is signed in, and whether the lead requires a sign-in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignIn {
    /// `None` when nobody is signed in.
    pub operator: Option<String>,
    pub required: bool,
}

/// The station's sign-in state.
pub fn signed_in(store: &Store) -> Result<SignIn> {
    let name = store.app_settings()?.operator;
    let name = name.trim();
    Ok(SignIn {
        operator: (!name.is_empty()).then(|| name.to_owned()),
        required: settings::is_on(&store.setting_value(key::OPERATOR_REQUIRED)?),
    })
}

/// Sign `name` in (typed, or a badge scanned with its Enter): trimmed, checked by the setting's
/// rule, and added to the running shift's operators.
pub fn sign_in(store: &mut Store, name: &str) -> Result<SignIn> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CoreError::invalid(
            "operator",
            "no name or badge was given",
            "type your name or scan your badge, then press Enter",
        ));
    }
    store.set_setting(key::OPERATOR, name)?;
    store.note_shift_operator(name)?;
    signed_in(store)
}

/// Sign the operator out: the station knows nobody until the next sign-in.
pub fn sign_out(store: &mut Store) -> Result<SignIn> {
    store.set_setting(key::OPERATOR, "")?;
    signed_in(store)
}

/// Refuse to start a flash when the lead requires a sign-in and nobody is signed in and the
/// run names nobody (`explicit`). Checked before any port is claimed or unit touched.
pub fn check_may_flash(store: &Store, explicit: Option<&str>) -> Result<()> {
    let state = signed_in(store)?;
    let named = explicit.is_some_and(|n| !n.trim().is_empty()) || state.operator.is_some();
    if state.required && !named {
        return Err(CoreError::SignInRequired);
    }
    Ok(())
}

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

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("s.db")).expect("open");
        (dir, store)
    }

    #[test]
    fn sign_in_required_blocks_flash_without_a_signed_in_or_named_operator() {
        let (_d, mut s) = store();
        check_may_flash(&s, None).expect("not required by default");
        s.set_setting(key::OPERATOR_REQUIRED, "on")
            .expect("require");
        let e = check_may_flash(&s, None).expect_err("nobody signed in");
        assert_eq!(e.code(), station_core::ErrorCode::SignInRequired);
        check_may_flash(&s, Some("ana")).expect("the run names its operator");
        let state = sign_in(&mut s, "  badge-4711\n").expect("sign in");
        assert_eq!(state.operator.as_deref(), Some("badge-4711"));
        check_may_flash(&s, None).expect("signed in");
        assert_eq!(sign_out(&mut s).expect("out").operator, None);
        assert!(check_may_flash(&s, None).is_err());
    }

    #[test]
    fn an_empty_or_bad_sign_in_is_refused_and_changes_nothing() {
        let (_d, mut s) = store();
        sign_in(&mut s, "ana").expect("sign in");
        for bad in ["", "   ", "bell\u{7}"] {
            let e = sign_in(&mut s, bad).expect_err(bad);
            assert_eq!(e.code(), station_core::ErrorCode::InvalidInput);
        }
        assert_eq!(
            signed_in(&s).expect("state").operator.as_deref(),
            Some("ana")
        );
    }

    #[test]
    fn the_run_beats_the_signed_in_operator_beats_the_os_user() {
        assert_eq!(resolve(Some("ana"), Some("bo"), Some("root")), "ana");
        assert_eq!(resolve(None, Some("bo"), Some("root")), "bo");
        assert_eq!(resolve(Some("  "), Some(""), Some("root")), "root");
        assert_eq!(resolve(None, None, None), UNKNOWN_OPERATOR);
    }
}
