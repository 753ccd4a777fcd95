// Words the operator reads. One place, so the screens say the same thing the same way.
// Times are shown as ISO-style 24-hour local times: no month names, no AM/PM.

import type {
  Action,
  AppError,
  BatchState,
  DeviceStatus,
  ErrorCode,
  FailReason,
  FlashState,
  ServerReport,
  Step,
  Health,
  SyncState,
  UnitInfo,
} from "./bindings";

export const STEPS: Step[] = ["connect", "identify", "write", "verify", "record"];

export const STEP_WORDS: Record<Step, string> = {
  connect: "Connect",
  identify: "Identify",
  write: "Write",
  verify: "Verify",
  record: "Record",
};

/** A short headline for a failed contact with a unit, by its typed reason. A reason missing
 *  here fails the type check. */
const REASON_HEADLINES: Record<FailReason, string> = {
  busy: "The device was busy",
  bad_frame: "The device did not understand the station",
  unknown_command: "The firmware does not know this step",
  unsupported_version: "Wrong firmware version",
  no_session: "The device was not in a write session",
  unknown_key: "The firmware does not know a setting",
  bad_value: "The device refused a setting's value",
  bad_offset: "A setting arrived out of order",
  missing_key: "The device did not receive every setting",
  digest_mismatch: "The settings arrived damaged",
  hwid_mismatch: "A different unit is connected",
  storage_full: "The device's memory is full",
  storage_failed: "The device could not save",
  write_only: "The device does not reveal this setting",
  no_config: "The device holds no settings",
  locked: "The unit is locked",
  stale_generation: "The unit holds newer settings than the station's record",
  unrecognized: "An error the station does not know",
  timeout: "The device did not answer",
  disconnected: "The device was unplugged",
  io: "The USB port stopped working",
  port_open_failed: "The port could not be opened",
  port_busy: "Another program is using the port",
  port_list_failed: "The ports could not be listed",
  malformed_reply: "The device's answer made no sense",
  invalid_config: "The device's record is not valid",
  invalid_hardware_id: "The device has no valid identity",
  commit_outcome_unknown: "Not sure the settings were saved",
  already_provisioned: "This unit is already a device",
  foreign_identity: "This unit belongs to another station",
  wrong_unit: "This is not the selected device's unit",
  hardware_mismatch: "Swapped or copied unit",
  no_identity: "This unit holds no device",
  deactivated: "The device is deactivated",
  not_kept: "The device did not keep its settings",
  simulator: "The simulated device did not start",
  not_recorded: "Written, but not recorded yet",
  proof_failed: "The unit does not hold the device's credentials",
  unbound_device: "No unit is on record for this device",
  no_loader_answer: "The unit's ESP32 loader did not answer",
  wrong_chip: "The unit's chip is not the one this device type needs",
  no_nvs_partition: "The unit's firmware has no settings partition for this type",
  partition_too_small: "The unit's settings partition is too small",
  flash_verify_failed: "The written settings did not check out",
  loader_refused: "The unit's ESP32 loader refused a step",
};

const CODE_HEADLINES: Record<ErrorCode, string> = {
  conflict: "Cannot do that now",
  refused: "Refused",
  not_found: "Not found",
  invalid_input: "Check what was entered",
  unknown_type: "Unknown device type",
  duplicate_type: "That type already exists",
  database_busy: "The database is busy",
  database_read_only: "The database cannot be written",
  database_corrupt: "The database is damaged",
  database_too_new: "The database is from a newer station",
  disk_full: "The disk is full",
  database: "Database problem",
  io: "File problem",
  device: "Flash failed",
  internal: "Something went wrong inside the station",
};

/** What to do next, in an operator's words (never a CLI command). */
export const ACTION_WORDS: Record<Action, string> = {
  retry: "Try again. Every attempt uses fresh credentials.",
  run_recover:
    "Keep the unit plugged in (or plug it back in) and ask \"Which device is this unit?\" on the Devices screen: the station checks what the unit holds and settles it.",
  rotate_and_reflash:
    "To give it new credentials, use Rotate and re-flash on its device. To reuse the unit as a new device, deactivate its old device first.",
  overwrite_foreign: "Check where the unit comes from, and ask the engineer before overwriting it.",
  provision_new: "Provision the unit as a new device on the Station screen.",
  plug_in_selected_unit: "Plug in only the unit of the device you selected, and start again.",
  set_aside: "Set the unit aside as faulty and tell the engineer.",
  free_port: "Close the other program that is using this port, then try again.",
  choose_port: "Check that the unit is plugged in, or pick another port.",
  add_type: "Add a device type in Settings first.",
  fix_input: "Change what was entered, as the message says, and try again.",
  wait_and_retry: "Wait a moment, then try again.",
  free_disk: "Free some disk space on this computer, then try again.",
  fix_database_file: "Tell the engineer: the station's database file must be fixed, or restored from a backup.",
  update_station: "Set the unit aside and ask the engineer to update its firmware or the station.",
  report_bug: "Tell the engineer about this error.",
  confirm_unbound:
    "Check that this unit really is the device's own (its label, where it came from), then confirm the re-flash when the station asks.",
  unlock_unit: "The unit is locked: put it in factory mode (button or jumper) and try again.",
  none: "Nothing to do.",
};

export function failureHeadline(code: ErrorCode | string, reason?: FailReason | string | null): string {
  const byReason = REASON_HEADLINES as Record<string, string>;
  if (reason && byReason[reason]) return byReason[reason];
  return (CODE_HEADLINES as Record<string, string>)[code] ?? "Flash failed";
}

/** The "What to do" line: the action in the operator's words, or, when the fix depends on
 *  what was entered, the station's own specific help. */
export function whatToDo(error: Pick<AppError, "action" | "help">): string {
  if (error.action === "fix_input" || error.action === "none") return error.help;
  return ACTION_WORDS[error.action] ?? error.help;
}

export const STATUS_WORDS: Record<DeviceStatus, string> = {
  online: "Online",
  offline: "Offline",
  error: "Error",
  maintenance: "Maintenance",
  low_battery: "Low battery",
  provisioning: "Provisioning",
};

/** "Showing 101–200 of 10000" for a page of a list: `shown` rows from `offset`, of `total`. */
export function pageLabel(offset: number, shown: number, total: number): string {
  if (total === 0 || shown === 0) return `None of ${total}`;
  return `Showing ${offset + 1}–${offset + shown} of ${total}`;
}

/** A sync failure in words, by its typed kind (station_sync's `SyncError::code`), with what to
 *  do: the transport's own text is only the details. */
export const SYNC_ERROR_WORDS: Record<string, { headline: string; todo: string }> = {
  unreachable: {
    headline: "The server cannot be reached.",
    todo: "Nothing is lost: records wait here and are sent when the server answers. Check the network cable or Wi-Fi, then the server address in Settings.",
  },
  unauthorized: {
    headline: "The server refused this station's token.",
    todo: "Ask the server's administrator for a new station token and enter it in Settings → Server.",
  },
  server_unavailable: {
    headline: "The server had a temporary problem.",
    todo: "Nothing to do: the station tries again on its own. If it lasts, tell the server's administrator.",
  },
  server_refused: {
    headline: "The server refused the request.",
    todo: "Check that the server address in Settings ends in /station-sync/ and that the server runs a compatible version.",
  },
  protocol: {
    headline: "The server's answer was not understood.",
    todo: "Check that the server address in Settings points at the station-sync receiver (…/station-sync/).",
  },
  config: {
    headline: "A sync setting cannot be used.",
    todo: "Correct the server settings in Settings → Server.",
  },
  credential_store: {
    headline: "The station token could not be read from the keyring.",
    todo: "Unlock the desktop keyring, or enter the token again in Settings → Server.",
  },
  no_seal_key: {
    headline: "The server has no key to seal api keys to.",
    todo: "Ask the server's administrator to run manage.py station_sync_sealkey, then save the server in Settings again.",
  },
  seal_key_changed: {
    headline: "The server's sealing key changed.",
    todo: "Nothing is sent until a person checks the new key with the server's administrator and saves the server in Settings again.",
  },
  database_busy: {
    headline: "The station database was busy.",
    todo: "Nothing to do: the station tries again on its own.",
  },
};

/** The last sync failure as a person reads it: words and what to do when the kind is known,
 *  else the failure's own text. */
export function syncFailure(code: string | null, text: string | null): { headline: string; todo: string | null } | null {
  if (!text && !code) return null;
  const known = code ? SYNC_ERROR_WORDS[code] : undefined;
  if (known) return known;
  return { headline: text ?? "The last attempt failed.", todo: null };
}

export const BATCH_STATE_WORDS: Record<BatchState, string> = {
  open: "Open",
  closed: "Closed",
  cancelled: "Cancelled",
};

export const FLASH_STATE_WORDS: Record<FlashState, string> = {
  none: "Not flashed",
  flashing: "Flash unconfirmed",
  flashed: "Flashed",
  failed: "Flash failed",
};

export const SYNC_STATE_WORDS: Record<SyncState, string> = {
  not_queued: "Nothing to send",
  pending: "Waiting to sync",
  synced: "Synced",
  rejected: "Refused by server",
};

export const CONNECTION_WORDS: Record<Health, string> = {
  off: "Off",
  synced: "Synced",
  pending: "Sending",
  offline: "Offline",
  failing: "Not accepted",
  needs_attention: "Needs attention",
};

export const EVENT_WORDS: Record<string, string> = {
  created: "Created",
  credentials_issued: "Credentials issued",
  flash_started: "Flash started",
  flashed: "Flashed",
  flash_failed: "Flash failed",
  rotation_due: "Marked for rotation",
  rotated: "Rotated",
  deactivated: "Deactivated",
  recovered: "Recovered",
  synced: "Synced",
};

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** `2026-11-26 14:03:07` in local time; the input is RFC 3339. */
export function when(rfc3339: string | null | undefined): string {
  if (!rfc3339) return "—";
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return rfc3339;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The device screen's "On the server" line: what the central server last reported. */
export function serverLine(report: ServerReport | null, stationGeneration: number): string {
  if (!report) return "Not reported yet: the station asks after each sync.";
  const status = STATUS_WORDS[report.status as DeviceStatus] ?? report.status;
  const parts = [
    status,
    report.last_seen ? `last seen ${when(report.last_seen)}` : "never seen",
    report.generation < stationGeneration
      ? `generation ${report.generation} (older than the station's ${stationGeneration}: waiting for sync)`
      : `generation ${report.generation}`,
  ];
  if (!report.is_active) parts.push("deactivated on the server");
  parts.push(`as of ${when(report.fetched_at)}`);
  return parts.join(" · ");
}

/** What a unit read on the Devices screen holds, in one sentence (or two). */
export function unitLine(u: UnitInfo): string {
  const unit = `Unit ${u.hardware_id} (firmware ${u.firmware_version}) on ${u.port}`;
  let line: string;
  if (u.device_id === null) line = `${unit} holds no device identity: provision it on the Station screen.`;
  else if (u.known) line = `${unit} holds ${u.device_id}, generation ${u.generation ?? 0}.`;
  else line = `${unit} holds ${u.device_id}, generation ${u.generation ?? 0}, which this station has no record of: another station made it; look it up there or on the server.`;
  if (u.recovered.length > 0) line += ` Settled an unconfirmed flash of ${u.recovered.join(", ")}.`;
  return line;
}

export function percent(fraction: number): string {
  return `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
}
