//! The facts of SMP over the Zephyr serial console, each named once and cited to its source.
//!
//! This module owns every protocol constant the client and the simulator share: the header
//! size and version, the serial frame markers and limit, the group and command ids this crate
//! speaks, and the named timeouts and retry count of each request. Sources (Zephyr tree):
//! `include/zephyr/mgmt/mcumgr/transport/serial.h`, `subsys/mgmt/mcumgr/transport/src/
//! serial_util.c`, `include/zephyr/mgmt/mcumgr/mgmt/mgmt_defines.h`, `include/zephyr/mgmt/
//! mcumgr/grp/settings_mgmt/settings_mgmt.h` and `.../grp/os_mgmt/os_mgmt.h`.

use std::time::Duration;

/// `MGMT_HDR_SIZE`: op/version, flags, length (BE16), group (BE16), sequence, command id.
pub const HEADER_LEN: usize = 8;
/// SMP version 2 (`Version.V2` = 1 in the header's bits 3..4): errors of a group come back as
/// `{"err": {"group", "rc"}}` instead of a bare `rc`. Zephyr answers in the request's version.
pub const SMP_VERSION_2: u8 = 1;

/// `MCUMGR_SERIAL_HDR_PKT`: first two bytes of the first frame of a packet.
pub const FRAME_START: [u8; 2] = [0x06, 0x09];
/// `MCUMGR_SERIAL_HDR_FRAG`: first two bytes of every continuation frame.
pub const FRAME_CONTINUE: [u8; 2] = [0x04, 0x14];
/// `MCUMGR_SERIAL_MAX_FRAME`: a frame (marker, base64, newline) is at most this many bytes.
pub const MAX_FRAME: usize = 127;
/// Base64 characters per frame: `((MAX_FRAME - 3) / 4) * 4` (the marker and the newline are
/// not encoded; base64 comes in groups of four), as `mcumgr_serial_tx_pkt` computes it.
pub const FRAME_BASE64_MAX: usize = ((MAX_FRAME - 3) / 4) * 4;
/// Largest SMP packet (header + CBOR) accepted: `CONFIG_MCUMGR_TRANSPORT_NETBUF_SIZE`'s default.
pub const MAX_PACKET: usize = 384;

/// Group ids (`enum mcumgr_group_t`).
pub mod group {
    /// `MGMT_GROUP_ID_OS`.
    pub const OS: u16 = 0;
    /// `MGMT_GROUP_ID_SETTINGS`.
    pub const SETTINGS: u16 = 3;
}

/// Command ids of the OS group (`os_mgmt.h`).
pub mod os {
    /// `OS_MGMT_ID_ECHO`.
    pub const ECHO: u8 = 0;
    /// `OS_MGMT_ID_RESET`.
    pub const RESET: u8 = 5;
    /// `OS_MGMT_ID_MCUMGR_PARAMS`: the server's buffer size and count.
    pub const MCUMGR_PARAMS: u8 = 6;
}

/// Command ids of the settings group (`settings_mgmt.h`).
pub mod settings {
    /// `SETTINGS_MGMT_ID_READ_WRITE`: read with op READ, write with op WRITE.
    pub const READ_WRITE: u8 = 0;
    /// `SETTINGS_MGMT_ID_DELETE` (op WRITE).
    pub const DELETE: u8 = 1;
    /// `SETTINGS_MGMT_ID_COMMIT` (op WRITE): apply pending settings to their handlers.
    pub const COMMIT: u8 = 2;
    /// `SETTINGS_MGMT_ID_LOAD_SAVE`: load with op READ, save with op WRITE.
    pub const LOAD_SAVE: u8 = 3;
}

/// Wait for the answer to a settings read, write, delete or commit (RAM work on the device).
pub const SETTINGS_TIMEOUT: Duration = Duration::from_millis(1_000);
/// Wait for the answer to a load or save: the device walks or writes its settings storage.
pub const STORAGE_TIMEOUT: Duration = Duration::from_millis(3_000);
/// Wait for the answer to a reset: Zephyr answers first and resets after
/// `CONFIG_MCUMGR_GRP_OS_RESET_MS` (250 ms default).
pub const RESET_TIMEOUT: Duration = Duration::from_millis(2_000);
/// Sends per request: every request this crate makes is idempotent (a repeated write stores
/// the same value, a repeated save saves the same store), so a lost answer is retried.
pub const ATTEMPTS: u32 = 3;

/// `CONFIG_MCUMGR_GRP_OS_RESET_MS`'s default: Zephyr answers a reset, then restarts this much
/// later. A request sent inside the window is answered by the firmware that is about to go.
pub const RESET_DELAY: Duration = Duration::from_millis(250);
/// Wait after a reset's answer before asking anything: the reset delay and a margin, so the
/// read that verifies a write is answered by the restarted firmware (settings from storage).
pub const RESET_SETTLE: Duration = Duration::from_millis(500);
/// How long a unit may take to boot and answer again after a reset (a USB CDC-ACM console
/// also goes away and comes back; the port is reopened within this time).
pub const BOOT_TIMEOUT: Duration = Duration::from_millis(10_000);
/// Pause between tries to reach a unit that is still booting.
pub const BOOT_POLL: Duration = Duration::from_millis(200);
