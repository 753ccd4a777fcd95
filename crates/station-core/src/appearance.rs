//! How the desktop app looks and speaks: its language and its colour theme. Two of the app's
//! own preferences (registered in [`crate::settings`] like the others); `auto` follows the
//! computer (the web view's `navigator.language` and `prefers-color-scheme`), so a fresh
//! station speaks the language of its desktop until someone picks one.

use serde::{Deserialize, Serialize};

/// The language of the app's screens. The web UI holds a catalogue for each; a language
/// missing there fails its type check (`ui/src/lib/i18n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Language {
    /// The computer's language when the app has a catalogue for it, else English.
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "en")]
    English,
    /// Simplified Chinese, as used on mainland China's electronics assembly lines.
    #[serde(rename = "zh-CN")]
    SimplifiedChinese,
}

impl Language {
    pub const ALL: [Language; 3] = [
        Language::Auto,
        Language::English,
        Language::SimplifiedChinese,
    ];

    /// The stored name (also its serde form: a BCP 47 tag, or `auto`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Language::Auto => "auto",
            Language::English => "en",
            Language::SimplifiedChinese => "zh-CN",
        }
    }

    /// The language stored under `name`; an unknown name follows the computer.
    pub fn parse(name: &str) -> Language {
        Language::ALL
            .into_iter()
            .find(|l| l.as_str() == name)
            .unwrap_or(Language::Auto)
    }
}

/// The app's colours: a light theme for bright halls, a high-contrast dark one for dim floors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    /// The computer's light or dark preference.
    Auto,
    Light,
    Dark,
}

impl Theme {
    pub const ALL: [Theme; 3] = [Theme::Auto, Theme::Light, Theme::Dark];

    /// The stored name (also its serde form).
    pub const fn as_str(self) -> &'static str {
        match self {
            Theme::Auto => "auto",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    /// The theme stored under `name`; an unknown name follows the computer.
    pub fn parse(name: &str) -> Theme {
        Theme::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .unwrap_or(Theme::Auto)
    }
}

/// The names of [`Language::ALL`], for the setting's rule.
pub const LANGUAGES: [&str; Language::ALL.len()] = {
    let mut names = [""; Language::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Language::ALL[i].as_str();
        i += 1;
    }
    names
};

/// The names of [`Theme::ALL`], for the setting's rule.
pub const THEMES: [&str; Theme::ALL.len()] = {
    let mut names = [""; Theme::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Theme::ALL[i].as_str();
        i += 1;
    }
    names
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip_and_match_serde() {
        for l in Language::ALL {
            assert_eq!(Language::parse(l.as_str()), l);
            assert_eq!(
                serde_json::to_string(&l).expect("json"),
                format!("\"{}\"", l.as_str())
            );
        }
        for t in Theme::ALL {
            assert_eq!(Theme::parse(t.as_str()), t);
            assert_eq!(
                serde_json::to_string(&t).expect("json"),
                format!("\"{}\"", t.as_str())
            );
        }
        assert_eq!(Language::parse("klingon"), Language::Auto);
        assert_eq!(Theme::parse("neon"), Theme::Auto);
    }
}
