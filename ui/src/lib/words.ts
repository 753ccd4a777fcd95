// Words the operator reads. One place, so the screens say the same thing the same way.
// Times are shown as ISO-style 24-hour local times: no month names, no AM/PM.

import type { DeviceStatus, FlashState, ServerReport, Step, Health, SyncState, UnitInfo } from "./bindings";

export const STEPS: Step[] = ["connect", "identify", "write", "verify", "record"];

export const STEP_WORDS: Record<Step, string> = {
  connect: "Connect",
  identify: "Identify",
  write: "Write",
  verify: "Verify",
  record: "Record",
};

/** A short headline for a device failure, by the protocol's stable reason. */
const REASON_HEADLINES: Record<string, string> = {
  timeout: "The device did not answer",
  disconnected: "The device was unplugged",
  io: "The USB port stopped working",
  port_open_failed: "The port could not be opened",
  port_list_failed: "The ports could not be listed",
  commit_outcome_unknown: "Not sure the settings were saved",
  unsupported_version: "Wrong firmware version",
  malformed_reply: "The device's answer made no sense",
  invalid_config: "The device's record is not valid",
  invalid_hardware_id: "The device has no valid identity",
  storage_full: "The device's memory is full",
  already_provisioned: "This unit is already a device",
  foreign_identity: "This unit belongs to another station",
  wrong_unit: "This is not the selected device's unit",
  hardware_mismatch: "Swapped or copied unit",
  no_identity: "This unit holds no device",
  deactivated: "The device is deactivated",
  not_kept: "The device did not keep its settings",
  digest_mismatch: "The settings arrived damaged",
  simulator: "The simulated device did not start",
};

const CODE_HEADLINES: Record<string, string> = {
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

export function failureHeadline(code: string, reason?: string | null): string {
  if (reason && REASON_HEADLINES[reason]) return REASON_HEADLINES[reason];
  return CODE_HEADLINES[code] ?? "Flash failed";
}

export const STATUS_WORDS: Record<DeviceStatus, string> = {
  online: "Online",
  offline: "Offline",
  error: "Error",
  maintenance: "Maintenance",
  low_battery: "Low battery",
  provisioning: "Provisioning",
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
