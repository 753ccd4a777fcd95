//! The simulated device's settings: what is in RAM, what is in storage, and how many resets.
//!
//! This module owns [`Settings`], the state a test inspects after a run. Its rules are
//! Zephyr's settings subsystem as MCUmgr reaches it: a write changes the runtime value only
//! (`settings_runtime_set`); save writes every runtime value to storage (`settings_save`);
//! load reads storage back over the runtime values (`settings_load`); delete removes the key
//! from storage (`settings_delete`) and, here, from RAM; a reset or a power loss forgets RAM,
//! and the firmware's boot loads storage again.

use std::collections::BTreeMap;

/// The settings of one simulated device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Runtime values, as the firmware's handlers hold them.
    pub live: BTreeMap<String, Vec<u8>>,
    /// Values in the settings storage (flash): what survives a reset.
    pub saved: BTreeMap<String, Vec<u8>>,
    /// Resets the device has gone through (requested or power loss).
    pub resets: u32,
    /// Settings commits the device has received.
    pub commits: u32,
}

impl Settings {
    /// A device whose storage holds `saved`, freshly booted.
    pub fn booted(saved: BTreeMap<String, Vec<u8>>) -> Self {
        Self {
            live: saved.clone(),
            saved,
            resets: 0,
            commits: 0,
        }
    }

    /// `settings_save`: storage gets every runtime value.
    pub fn save(&mut self) {
        for (k, v) in &self.live {
            self.saved.insert(k.clone(), v.clone());
        }
    }

    /// `settings_load`: storage is read back over the runtime values.
    pub fn load(&mut self) {
        for (k, v) in &self.saved {
            self.live.insert(k.clone(), v.clone());
        }
    }

    /// A restart: RAM is gone, boot loads storage.
    pub fn reboot(&mut self) {
        self.live = self.saved.clone();
        self.resets += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_saved_values_survive_a_reboot() {
        let mut s = Settings::default();
        s.live.insert("a".into(), b"1".to_vec());
        s.reboot();
        assert!(s.live.is_empty(), "unsaved write lost");
        s.live.insert("a".into(), b"1".to_vec());
        s.save();
        s.live.insert("a".into(), b"2".to_vec());
        s.reboot();
        assert_eq!(s.live.get("a").map(Vec::as_slice), Some(&b"1"[..]));
        assert_eq!(s.resets, 2);
    }
}
