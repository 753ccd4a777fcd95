//! The settings registry: every key of the `settings` table, once, as data. Each entry says
//! what the setting is for (in words for a person), the default the station applies while it
//! is unset, the rule a value must pass, and whether `station settings list` shows it. The
//! store, the hooks, the desktop app and the CLI all read their keys, defaults and rules from
//! here, so a setting cannot be valid in one face and refused in the other.
//!
//! [`Store::set_setting`] refuses any value its rule refuses (and any unregistered key) before
//! it writes; [`Store::setting_value`] gives the value in effect, the default included.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::credentials::HashAlgorithm;
use crate::error::{CoreError, Result};
use crate::naming;
use crate::store::{KeyValueTable, Store};

/// The keys of the registered settings, as stored in the `settings` table.
pub mod key {
    pub const STATION_ID: &str = "station_id";
    pub const HASH_ALGORITHM: &str = "hash_algorithm";
    pub const HOOK_COMMAND: &str = "hook_command";
    pub const HOOK_WEBHOOK_URL: &str = "hook_webhook_url";
    pub const OPERATOR: &str = "app.operator";
    /// A lead's rule: no flash starts without a signed-in operator.
    pub const OPERATOR_REQUIRED: &str = "app.operator_required";
    pub const SOUNDS: &str = "app.sounds";
    pub const AUTO_FLASH: &str = "app.auto_flash";
    pub const SIM_PORTS: &str = "app.sim_ports";
    pub const SIM_FAULT: &str = "app.sim_fault";
    /// Kept in the station's own database: the app runs in training mode
    /// (`station_service::training`).
    pub const TRAINING: &str = "app.training";
    pub const LANGUAGE: &str = "app.language";
    pub const THEME: &str = "app.theme";
    /// The label printer (`crate::labels`): which output, its address or queue, print on PASS.
    pub const LABEL_OUTPUT: &str = "label.output";
    pub const LABEL_PRINTER: &str = "label.printer";
    pub const LABEL_QUEUE: &str = "label.queue";
    pub const LABEL_ON_PASS: &str = "label.on_pass";
}

/// The most simulated ports the app offers (one gang-flashing bench).
pub const MAX_SIM_PORTS: u32 = 8;

/// A fault the simulated device can be told to show, for training and tests: the one list
/// (the service's bench applies each, the app's Settings screen words each by this type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum SimFault {
    /// The unit works.
    None,
    /// The cable is pulled halfway through writing.
    UnpluggedDuringWrite,
    /// The unit refuses to save: its storage is full.
    RefusesToSave,
    /// The unit does not answer at all.
    NoAnswer,
    /// A noisy cable corrupts some bytes (the protocol retries).
    NoisyLine,
}

impl SimFault {
    pub const ALL: [SimFault; 5] = [
        SimFault::None,
        SimFault::UnpluggedDuringWrite,
        SimFault::RefusesToSave,
        SimFault::NoAnswer,
        SimFault::NoisyLine,
    ];

    /// The stored name (also its serde form).
    pub const fn as_str(self) -> &'static str {
        match self {
            SimFault::None => "none",
            SimFault::UnpluggedDuringWrite => "unplugged_during_write",
            SimFault::RefusesToSave => "refuses_to_save",
            SimFault::NoAnswer => "no_answer",
            SimFault::NoisyLine => "noisy_line",
        }
    }

    /// The fault stored under `name`; an unknown name is no fault.
    pub fn parse(name: &str) -> SimFault {
        SimFault::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .unwrap_or(SimFault::None)
    }
}

/// The names of [`SimFault::ALL`], for the setting's rule.
pub const SIM_FAULTS: [&str; SimFault::ALL.len()] = {
    let mut names = [""; SimFault::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = SimFault::ALL[i].as_str();
        i += 1;
    }
    names
};

/// The longest operator name or badge the station records.
pub const MAX_OPERATOR_CHARS: usize = 128;
/// The longest after-flash command the station runs.
pub const MAX_HOOK_COMMAND_CHARS: usize = 2000;

/// What the station uses while a setting is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingDefault {
    /// This text, as if it had been set.
    Value(&'static str),
    /// The computer's host name (only the characters a station id may hold), else `station`.
    HostName,
}

/// The rule a setting's value must pass before it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A name usable as a station id: the device-id alphabet, at most 128 characters.
    StationId,
    /// A hash algorithm the credentials module can parse.
    HashAlgorithm,
    /// Free text of at most `max` characters, without control characters.
    Text { field: &'static str, max: usize },
    /// Empty (no webhook) or an http(s) URL.
    WebhookUrl,
    /// `on` or `off`.
    OnOff { field: &'static str },
    /// A whole number in `min..=max`.
    Count {
        field: &'static str,
        min: u32,
        max: u32,
    },
    /// Empty (none) or a network printer's `host[:port]`.
    PrinterAddress,
    /// Empty (none) or a CUPS queue name.
    PrintQueue,
    /// One of a fixed list of names.
    OneOf {
        field: &'static str,
        choices: &'static [&'static str],
    },
}

/// One registered setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub key: &'static str,
    /// What the setting is for, in words for the person changing it.
    pub about: &'static str,
    pub default: SettingDefault,
    pub rule: Rule,
    /// Listed by `station settings list`; the others are the desktop app's own preferences,
    /// which its Settings screen shows (they can still be read and set by key).
    pub shown: bool,
}

/// Every setting of the station and of the app, each once.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: key::STATION_ID,
        about: "this station's name, recorded on every device it touches",
        default: SettingDefault::HostName,
        rule: Rule::StationId,
        shown: true,
    },
    Setting {
        key: key::HASH_ALGORITHM,
        about: "how MQTT password hashes are made (must match the server): \
                argon2[:m=..,t=..,p=..] or pbkdf2_sha256[:iterations=..]",
        default: SettingDefault::Value("argon2"),
        rule: Rule::HashAlgorithm,
        shown: true,
    },
    Setting {
        key: key::HOOK_COMMAND,
        about:
            "a command run after every verified flash, with the device as JSON on standard input",
        default: SettingDefault::Value(""),
        rule: Rule::Text {
            field: "hook command",
            max: MAX_HOOK_COMMAND_CHARS,
        },
        shown: true,
    },
    Setting {
        key: key::HOOK_WEBHOOK_URL,
        about: "an http(s) URL POSTed the device as JSON after every verified flash",
        default: SettingDefault::Value(""),
        rule: Rule::WebhookUrl,
        shown: true,
    },
    Setting {
        key: key::OPERATOR,
        about: "the name or badge of the person at the station, recorded on the flashes they make",
        default: SettingDefault::Value(""),
        rule: Rule::Text {
            field: "operator",
            max: MAX_OPERATOR_CHARS,
        },
        shown: true,
    },
    Setting {
        key: key::OPERATOR_REQUIRED,
        about: "whether a flash needs a signed-in operator: with it on, no flash starts while \
                nobody is signed in (on or off)",
        default: SettingDefault::Value("off"),
        rule: Rule::OnOff {
            field: "operator sign-in required",
        },
        shown: true,
    },
    Setting {
        key: key::SOUNDS,
        about: "whether the app plays a sound for each passed and failed flash (on or off)",
        default: SettingDefault::Value("on"),
        rule: Rule::OnOff { field: "sounds" },
        shown: false,
    },
    Setting {
        key: key::AUTO_FLASH,
        about: "whether the app flashes a unit as soon as it is plugged in (on or off)",
        default: SettingDefault::Value("off"),
        rule: Rule::OnOff {
            field: "auto-flash",
        },
        shown: false,
    },
    Setting {
        key: key::SIM_PORTS,
        about: "how many simulated units the app's training bench offers",
        default: SettingDefault::Value("1"),
        rule: Rule::Count {
            field: "simulated ports",
            min: 1,
            max: MAX_SIM_PORTS,
        },
        shown: false,
    },
    Setting {
        key: key::SIM_FAULT,
        about: "the fault the simulated units show, for training",
        default: SettingDefault::Value("none"),
        rule: Rule::OneOf {
            field: "simulated fault",
            choices: &SIM_FAULTS,
        },
        shown: false,
    },
    Setting {
        key: key::TRAINING,
        about: "whether the app runs in training mode: simulated units, a database of its own, \
                nothing synced (on or off)",
        default: SettingDefault::Value("off"),
        rule: Rule::OnOff { field: "training" },
        shown: false,
    },
    Setting {
        key: key::LANGUAGE,
        about: "the language of the app's screens (auto follows the computer)",
        default: SettingDefault::Value("auto"),
        rule: Rule::OneOf {
            field: "language",
            choices: &crate::appearance::LANGUAGES,
        },
        shown: false,
    },
    Setting {
        key: key::THEME,
        about: "the app's colours: light, dark for dim floors, or auto to follow the computer",
        default: SettingDefault::Value("auto"),
        rule: Rule::OneOf {
            field: "theme",
            choices: &crate::appearance::THEMES,
        },
        shown: false,
    },
    Setting {
        key: key::LABEL_OUTPUT,
        about: "where labels go: network (a ZPL printer's raw port) or queue (the system print \
                queue)",
        default: SettingDefault::Value("network"),
        rule: Rule::OneOf {
            field: "label output",
            choices: &crate::labels::LabelOutput::NAMES,
        },
        shown: true,
    },
    Setting {
        key: key::LABEL_PRINTER,
        about: "the network label printer's host or IP address, optionally with :port (9100 \
                when none)",
        default: SettingDefault::Value(""),
        rule: Rule::PrinterAddress,
        shown: true,
    },
    Setting {
        key: key::LABEL_QUEUE,
        about: "the system print queue that takes the labels as raw ZPL",
        default: SettingDefault::Value(""),
        rule: Rule::PrintQueue,
        shown: true,
    },
    Setting {
        key: key::LABEL_ON_PASS,
        about: "whether a label is printed after every passed flash (on or off)",
        default: SettingDefault::Value("off"),
        rule: Rule::OnOff {
            field: "print on pass",
        },
        shown: true,
    },
];

/// The registered setting `key`; an unknown key is refused with the known ones.
pub fn find(key: &str) -> Result<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key).ok_or_else(|| {
        CoreError::invalid(
            "setting",
            format!("unknown setting '{}'", key.escape_default()),
            format!("known settings: {}", known_keys().join(", ")),
        )
    })
}

/// Every registered key, in registry order.
pub fn known_keys() -> Vec<&'static str> {
    SETTINGS.iter().map(|s| s.key).collect()
}

impl Setting {
    /// Refuse `value` unless this setting's rule allows it.
    pub fn check(&self, value: &str) -> Result<()> {
        self.rule.check(value)
    }

    /// The value the station uses while this setting is unset.
    pub fn default_value(&self) -> String {
        match self.default {
            SettingDefault::Value(v) => v.to_owned(),
            SettingDefault::HostName => host_name().unwrap_or_else(|| "station".into()),
        }
    }
}

impl Rule {
    pub fn check(self, value: &str) -> Result<()> {
        match self {
            Rule::StationId => check_station_id(value),
            Rule::HashAlgorithm => value.parse::<HashAlgorithm>().map(|_| ()),
            Rule::Text { field, max } => naming::validate_text(field, value, max),
            Rule::WebhookUrl if value.is_empty() => Ok(()),
            Rule::WebhookUrl => validate_webhook_url(value),
            Rule::OnOff { field } => check_on_off(field, value),
            Rule::PrinterAddress => crate::labels::validate_printer_address(value),
            Rule::PrintQueue => crate::labels::validate_queue(value),
            Rule::Count { field, min, max } => check_count(field, min, max, value),
            Rule::OneOf { choices, .. } if choices.contains(&value) => Ok(()),
            Rule::OneOf { field, choices } => Err(CoreError::invalid(
                field,
                format!("'{}' is not a {field}", value.escape_default()),
                format!("use one of: {}", choices.join(", ")),
            )),
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key)
    }
}

fn check_station_id(value: &str) -> Result<()> {
    naming::validate_device_id(value).map_err(|_| {
        CoreError::invalid(
            "station id",
            format!("'{}' is not a usable station id", value.escape_default()),
            "use letters, digits, '-', '_' or '.', at most 128 characters",
        )
    })
}

fn check_on_off(field: &'static str, value: &str) -> Result<()> {
    match value {
        "on" | "off" => Ok(()),
        _ => Err(CoreError::invalid(
            field,
            format!("'{}' is neither on nor off", value.escape_default()),
            "use on or off",
        )),
    }
}

fn check_count(field: &'static str, min: u32, max: u32, value: &str) -> Result<()> {
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(CoreError::invalid(
            field,
            format!("'{}' is not a number of {field}", value.escape_default()),
            format!("give a number from {min} to {max}"),
        )),
    }
}

/// A webhook address must be http(s).
pub fn validate_webhook_url(url: &str) -> Result<()> {
    let ok =
        (url.starts_with("http://") || url.starts_with("https://")) && url::Url::parse(url).is_ok();
    if !ok {
        return Err(CoreError::invalid(
            "webhook url",
            format!("'{}' is not an http(s) URL", url.escape_default()),
            "give a full address such as https://mes.factory.local/hooks/provisioned",
        ));
    }
    Ok(())
}

/// `on`/`off` as stored, read as a switch.
pub fn is_on(value: &str) -> bool {
    value == "on"
}

/// A switch as stored.
pub fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

fn host_name() -> Option<String> {
    let name = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())?;
    let name: String = name
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    (!name.is_empty()).then_some(name)
}

impl Store {
    /// The stored text of a setting, `None` while it is unset (no default applied).
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.sql_err(e))
    }

    /// Change a registered setting after checking its value; a refused value changes nothing.
    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        find(key)?.check(value)?;
        self.set_key_values(KeyValueTable::Settings, &[(key, Some(value))])
    }

    /// A registered setting's value in effect: the stored one, else its default.
    pub fn setting_value(&self, key: &str) -> Result<String> {
        let setting = find(key)?;
        Ok(match self.setting(key)? {
            Some(v) => v,
            None => setting.default_value(),
        })
    }

    /// Like [`Store::setting_value`], but a stored value the rule refuses (written before the
    /// rule was tightened, or by hand) reads as the default, for preferences where carrying
    /// on beats stopping the station.
    pub(crate) fn valid_setting_value(&self, key: &str) -> Result<String> {
        let setting = find(key)?;
        match self.setting(key)? {
            Some(v) if setting.check(&v).is_ok() => Ok(v),
            Some(_) => {
                tracing::warn!(key, "stored setting is not valid; using its default");
                Ok(setting.default_value())
            }
            None => Ok(setting.default_value()),
        }
    }

    /// This station's id: the setting, else the host name.
    pub fn station_id(&self) -> Result<String> {
        self.setting_value(key::STATION_ID)
    }

    /// How new password hashes are made.
    pub fn hash_algorithm(&self) -> Result<HashAlgorithm> {
        self.setting_value(key::HASH_ALGORITHM)?.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("s.db")).expect("open");
        (dir, store)
    }

    /// For every registered key: values it must take, and values it must refuse. A key
    /// missing here fails `every_registered_key_has_examples`.
    const EXAMPLES: &[(&str, &[&str], &[&str])] = &[
        (
            key::STATION_ID,
            &["line-3", "bench_2.a"],
            &["", "line 3", "a/b", "x\u{7}"],
        ),
        (
            key::HASH_ALGORITHM,
            &["pbkdf2_sha256:iterations=1000", "argon2:m=64,t=1,p=1"],
            &["md5", "argon2:q=1", "pbkdf2_sha256:iterations=0", ""],
        ),
        (
            key::HOOK_COMMAND,
            &["lp -d labels", ""],
            &["echo\nrm -rf /", "a\u{0}b"],
        ),
        (
            key::HOOK_WEBHOOK_URL,
            &["https://mes.factory.local/hooks/provisioned", ""],
            &["ftp://mes.local/x", "mes.local/x", "https://"],
        ),
        (
            key::OPERATOR,
            &["badge-4711", "Ana María"],
            &["bad\tname", "bell\u{7}"],
        ),
        (key::OPERATOR_REQUIRED, &["on", "off"], &["yes", ""]),
        (key::SOUNDS, &["on", "off"], &["loud", "", "ON"]),
        (key::AUTO_FLASH, &["off", "on"], &["yes", "1"]),
        (key::SIM_PORTS, &["8", "1"], &["0", "9", "two", "-1", ""]),
        (
            key::SIM_FAULT,
            &["noisy_line", "none"],
            &["explode", "", "None"],
        ),
        (key::TRAINING, &["on", "off"], &["yes", "training", ""]),
        (key::LANGUAGE, &["zh-CN", "auto", "en"], &["zh", "EN", ""]),
        (
            key::THEME,
            &["dark", "light", "auto"],
            &["Dark", "black", ""],
        ),
        (
            key::LABEL_OUTPUT,
            &["queue", "network"],
            &["usb", "", "Network"],
        ),
        (
            key::LABEL_PRINTER,
            &["zebra-3.local:9100", "192.168.1.50", ""],
            &["http://zebra", "a b", "host:0"],
        ),
        (
            key::LABEL_QUEUE,
            &["zebra_line3", ""],
            &["a b", "-o", "a/b"],
        ),
        (key::LABEL_ON_PASS, &["on", "off"], &["yes", ""]),
    ];

    #[test]
    fn every_registered_key_has_examples() {
        let keys: Vec<_> = EXAMPLES.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(keys, known_keys());
    }

    #[test]
    fn every_registered_key_round_trips_set_to_value() {
        let (_d, mut s) = store();
        for (key, good, _) in EXAMPLES {
            for value in *good {
                s.set_setting(key, value)
                    .unwrap_or_else(|e| panic!("{key} = {value:?}: {e}"));
                assert_eq!(&s.setting_value(key).expect("value"), value, "{key}");
            }
        }
        drop(s);
        // What was set is still what takes effect after the station restarts.
        let s = Store::open(_d.path().join("s.db")).expect("reopen");
        for (key, good, _) in EXAMPLES {
            assert_eq!(s.setting_value(key).expect("value"), good[good.len() - 1]);
        }
    }

    #[test]
    fn every_invalid_value_is_refused_and_changes_nothing() {
        let (_d, mut s) = store();
        for (key, good, bad) in EXAMPLES {
            s.set_setting(key, good[0]).expect("set a good value");
            for value in *bad {
                let err = s
                    .set_setting(key, value)
                    .expect_err(&format!("{key} = {value:?} must be refused"));
                assert_eq!(err.code(), crate::ErrorCode::InvalidInput, "{key}");
                assert!(!err.help().is_empty(), "{key}: a refusal says what to do");
                assert_eq!(&s.setting_value(key).expect("value"), good[0], "{key}");
            }
        }
    }

    #[test]
    fn an_unknown_key_is_refused_naming_the_known_ones() {
        let (_d, mut s) = store();
        for unknown in ["colour", "app.shift", "app.colour"] {
            let err = s.set_setting(unknown, "red").expect_err("unknown key");
            assert_eq!(err.code(), crate::ErrorCode::InvalidInput);
            for known in known_keys() {
                assert!(err.help().contains(known), "{}", err.help());
            }
            assert!(s.setting_value(unknown).is_err());
            assert_eq!(s.setting(unknown).expect("read"), None, "nothing stored");
        }
    }

    #[test]
    fn defaults_are_what_the_station_applies() {
        let (_d, s) = store();
        assert_eq!(s.hash_algorithm().expect("hash"), HashAlgorithm::default());
        assert_eq!(
            find(key::HASH_ALGORITHM)
                .expect("registered")
                .default_value()
                .parse::<HashAlgorithm>()
                .expect("the default parses"),
            HashAlgorithm::default()
        );
        let station = s.station_id().expect("station id");
        assert_eq!(station, host_name().unwrap_or_else(|| "station".into()));
        check_station_id(&station).expect("the default station id is a valid one");
        let a = s.app_settings().expect("app settings");
        assert_eq!(a.operator, "");
        assert!(a.sounds);
        assert!(!a.auto_flash);
        assert_eq!(a.sim_ports, 1);
        assert_eq!(a.sim_fault, SimFault::None);
        for k in [key::HOOK_COMMAND, key::HOOK_WEBHOOK_URL] {
            assert_eq!(s.setting_value(k).expect("hook"), "", "no hook unless set");
        }
        for setting in SETTINGS {
            setting
                .check(&setting.default_value())
                .unwrap_or_else(|e| panic!("{}'s default is refused: {e}", setting.key));
            assert_eq!(
                s.setting_value(setting.key).expect("value"),
                setting.default_value()
            );
        }
    }

    #[test]
    fn descriptions_are_words_for_a_person() {
        for s in SETTINGS {
            assert!(!s.about.is_empty(), "{s}");
            assert!(
                !s.about.contains('`') && !s.about.contains("--"),
                "{s}: names a command or a flag"
            );
        }
    }
}
