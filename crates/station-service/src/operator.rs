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

/// The name of the account the process runs as, from `/etc/passwd`.
#[cfg(unix)]
fn account_name() -> Option<String> {
    let uid = rustix::process::getuid().as_raw().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd_name(&passwd, &uid)
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
