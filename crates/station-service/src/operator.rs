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
    let signed_in = store.setting_value(key::OPERATOR)?;
    let os_user = os_user();
    let name = resolve(explicit, Some(signed_in.as_str()), os_user.as_deref());
    Actor::new(name, store.station_id()?)
}

/// The operating-system user running the station. A desktop launcher may start the app without
/// `USER` in its environment (the app then recorded "operator"): the account database says
/// who the process runs as.
pub fn os_user() -> Option<String> {
    ["USER", "LOGNAME", "USERNAME"]
        .into_iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|n| !n.trim().is_empty())
        .or_else(account_name)
}

/// The name of the account the process runs as, from `/etc/passwd` (read once: a process
/// keeps its account, and every flash asks).
#[cfg(unix)]
fn account_name() -> Option<String> {
    static NAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let uid = rustix::process::getuid().as_raw().to_string();
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd_name(&passwd, &uid)
    })
    .clone()
}

#[cfg(not(unix))]
fn account_name() -> Option<String> {
    None
}

#[cfg_attr(not(unix), allow(dead_code))]
/// The name of `uid` in a `/etc/passwd` text (`name:x:uid:gid:...`).
fn passwd_name(passwd: &str, uid: &str) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let uid_field = fields.nth(1)?;
        (uid_field == uid && !name.is_empty()).then(|| name.to_owned())
    })
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

    #[test]
    fn finding_9_without_user_in_the_environment_the_account_names_the_operator() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nana:x:1000:1000:Ana:/home/ana:/bin/sh\n";
        assert_eq!(passwd_name(passwd, "1000").as_deref(), Some("ana"));
        assert_eq!(passwd_name(passwd, "0").as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, "1001"), None);
        #[cfg(unix)]
        assert!(
            account_name().is_some(),
            "the test's own account has a name"
        );
    }
}
