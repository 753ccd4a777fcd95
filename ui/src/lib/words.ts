// Words the operator reads. One place, so the screens say the same thing the same way: each
// table reads the language catalogue (`./i18n`), so a table read in a template follows a
// language switch at once. Times are shown as ISO-style 24-hour local times in every language:
// no month names, no AM/PM.

import type {
  Action,
  AppError,
  BatchState,
  DeviceStatus,
  ErrorCode,
  FailReason,
  FlashState,
  ServerReport,
  SimFault,
  Step,
  Health,
  Port,
  SyncState,
  UnitInfo,
} from "./bindings";
import { t, type PlainKey } from "./i18n/index.svelte";

export const STEPS: Step[] = ["connect", "identify", "write", "verify", "record"];

/** A table of words by name, each read from the catalogue in the current language when it is
 *  read (a getter per name, so `Object.entries` and `TABLE[name]` both work). */
function words<N extends string>(keys: Record<N, PlainKey>): Readonly<Record<N, string>> {
  const table = {} as Record<N, string>;
  for (const name of Object.keys(keys) as N[]) {
    const key: PlainKey = keys[name];
    Object.defineProperty(table, name, { enumerable: true, get: () => t(key) });
  }
  return Object.freeze(table);
}

/** `{ a: "prefix.a", ... }` for every name: the catalogue keys of a table (a name without its
 *  key in the catalogue fails the type check where the table is made). */
function keysOf<N extends string, P extends string>(prefix: P, names: readonly N[]): Record<N, `${P}.${N}`> {
  return Object.fromEntries(names.map((n) => [n, `${prefix}.${n}`])) as Record<N, `${P}.${N}`>;
}

/** Every name of a union type, checked complete by `Record<N, true>`. */
function names<N extends string>(all: Record<N, true>): N[] {
  return Object.keys(all) as N[];
}

export const STEP_WORDS: Readonly<Record<Step, string>> = words(keysOf("step", STEPS));

/** A short headline for a failed contact with a unit, by its typed reason. A reason missing
 *  here (or in the catalogue) fails the type check. */
const REASON_HEADLINES = words(
  keysOf(
    "reason",
    names<FailReason>({
      busy: true, bad_frame: true, unknown_command: true, unsupported_version: true, no_session: true,
      unknown_key: true, bad_value: true, bad_offset: true, missing_key: true, digest_mismatch: true,
      hwid_mismatch: true, storage_full: true, storage_failed: true, write_only: true, no_config: true,
      locked: true, stale_generation: true, unrecognized: true, timeout: true, disconnected: true, io: true,
      port_open_failed: true, port_busy: true, port_list_failed: true, malformed_reply: true,
      invalid_config: true, invalid_hardware_id: true, commit_outcome_unknown: true,
      already_provisioned: true, foreign_identity: true, wrong_unit: true, hardware_mismatch: true,
      no_identity: true, deactivated: true, not_kept: true, simulator: true, not_recorded: true,
      proof_failed: true, unbound_device: true, no_loader_answer: true, wrong_chip: true,
      no_nvs_partition: true, partition_too_small: true, flash_verify_failed: true, loader_refused: true,
    }),
  ),
);

const CODE_HEADLINES = words(
  keysOf(
    "code",
    names<ErrorCode>({
      conflict: true, refused: true, not_found: true, invalid_input: true, unknown_type: true,
      duplicate_type: true, database_busy: true, database_read_only: true, database_corrupt: true,
      database_too_new: true, disk_full: true, database: true, io: true, device: true, internal: true, sign_in_required: true,
    }),
  ),
);

/** What to do next, in an operator's words (never a CLI command). */
export const ACTION_WORDS: Readonly<Record<Action, string>> = words(
  keysOf(
    "action",
    names<Action>({
      retry: true, run_recover: true, rotate_and_reflash: true, overwrite_foreign: true, provision_new: true,
      plug_in_selected_unit: true, set_aside: true, free_port: true, choose_port: true, add_type: true,
      fix_input: true, wait_and_retry: true, free_disk: true, fix_database_file: true, update_station: true,
      report_bug: true, confirm_unbound: true, unlock_unit: true, sign_in: true, none: true,
    }),
  ),
);

export function failureHeadline(code: ErrorCode | string, reason?: FailReason | string | null): string {
  const byReason = REASON_HEADLINES as Record<string, string>;
  if (reason && reason in byReason) return byReason[reason];
  if (code in CODE_HEADLINES) return (CODE_HEADLINES as Record<string, string>)[code];
  return t("code.device");
}

/** The "What to do" line: the action in the operator's words, or, when the fix depends on
 *  what was entered, the station's own specific help. */
export function whatToDo(error: Pick<AppError, "action" | "help">): string {
  if (error.action === "fix_input" || error.action === "none") return error.help;
  return error.action in ACTION_WORDS ? ACTION_WORDS[error.action] : error.help;
}

export const STATUS_WORDS: Readonly<Record<DeviceStatus, string>> = words(
  keysOf(
    "status",
    names<DeviceStatus>({ online: true, offline: true, error: true, maintenance: true, low_battery: true, provisioning: true }),
  ),
);

/** What a paged list holds, for its page label. */
export type PagedList = "rows" | "batches" | "devices";

const PAGE_KEYS = {
  rows: ["page.rows", "page.rowsNone"],
  batches: ["page.batches", "page.batchesNone"],
  devices: ["page.devices", "page.devicesNone"],
} as const;

/** "Showing 101–200 of 10000 devices" for a page of a list: `shown` rows from `offset`, of `total`. */
export function pageLabel(offset: number, shown: number, total: number, list: PagedList = "rows"): string {
  const [some, none] = PAGE_KEYS[list];
  if (total === 0 || shown === 0) return t(none, { total });
  return t(some, { from: offset + 1, to: offset + shown, total });
}

/** The typed kinds of a sync failure (station_sync's `SyncError::code`) the screens word. */
const SYNC_ERROR_CODES = ["unreachable", "unauthorized", "server_unavailable", "server_refused", "protocol", "config", "credential_store", "no_seal_key", "seal_key_changed", "database_busy"] as const;
type SyncErrorCode = (typeof SYNC_ERROR_CODES)[number];

/** A sync failure in words, by its typed kind, with what to do: the transport's own text is
 *  only the details. Read from the catalogue when read, so it follows a language switch. */
export const SYNC_ERROR_WORDS: Readonly<Record<string, { readonly headline: string; readonly todo: string }>> = Object.freeze(
  Object.fromEntries(
    SYNC_ERROR_CODES.map((code: SyncErrorCode) => [
      code,
      {
        get headline() {
          return t(`syncError.${code}`);
        },
        get todo() {
          return t(`syncError.${code}.todo`);
        },
      },
    ]),
  ),
);

/** The last sync failure as a person reads it: words and what to do when the kind is known,
 *  else the failure's own text. */
export function syncFailure(code: string | null, text: string | null): { headline: string; todo: string | null } | null {
  if (!text && !code) return null;
  const known = code ? SYNC_ERROR_WORDS[code] : undefined;
  if (known) return { headline: known.headline, todo: known.todo };
  return { headline: text ?? t("syncError.fallback"), todo: null };
}

export const BATCH_STATE_WORDS: Readonly<Record<BatchState, string>> = words(
  keysOf("batchState", names<BatchState>({ open: true, closed: true, cancelled: true })),
);

export const FLASH_STATE_WORDS: Readonly<Record<FlashState, string>> = words(
  keysOf("flashState", names<FlashState>({ none: true, flashing: true, flashed: true, failed: true })),
);

export const SYNC_STATE_WORDS: Readonly<Record<SyncState, string>> = words(
  keysOf("syncState", names<SyncState>({ not_queued: true, pending: true, synced: true, rejected: true })),
);

export const CONNECTION_WORDS: Readonly<Record<Health, string>> = words(
  keysOf(
    "connection",
    names<Health>({ off: true, synced: true, pending: true, offline: true, failing: true, needs_attention: true }),
  ),
);

/** A device event by its stored kind; an unknown kind reads as `undefined` (the screen shows
 *  the kind itself). */
export const EVENT_WORDS: Readonly<Record<string, string>> = words(
  keysOf("event", [
    "created",
    "credentials_issued",
    "flash_started",
    "flashed",
    "flash_failed",
    "rotation_due",
    "rotated",
    "deactivated",
    "recovered",
    "synced",
  ] as const),
);

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
  if (!report) return t("server.notReported");
  const status = report.status in STATUS_WORDS ? STATUS_WORDS[report.status as DeviceStatus] : report.status;
  // Each part a phrase of its own (the catalogue's), shown side by side with " · ".
  const parts = [
    status,
    report.last_seen ? t("server.lastSeen", { time: when(report.last_seen) }) : t("server.neverSeen"),
    report.generation < stationGeneration
      ? t("server.generationBehind", { generation: report.generation, station: stationGeneration })
      : t("server.generation", { generation: report.generation }),
  ];
  if (!report.is_active) parts.push(t("server.deactivated"));
  parts.push(t("server.asOf", { time: when(report.fetched_at) }));
  return parts.join(" · ");
}

/** What a unit read on the Devices screen holds, in one sentence (or two). */
export function unitLine(u: UnitInfo): string {
  const unit = { hardwareId: u.hardware_id, firmware: u.firmware_version, port: u.port };
  const held = { ...unit, device: u.device_id ?? "", generation: u.generation ?? 0 };
  let line: string;
  if (u.device_id === null) line = t("unit.noIdentity", unit);
  else if (u.known) line = t("unit.known", held);
  else line = t("unit.foreign", held);
  if (u.recovered.length > 0) line = t("unit.settled", { line, devices: u.recovered.join(", ") });
  return line;
}

export function percent(fraction: number): string {
  return `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
}

/** The badge on a simulated port while Settings sets a fault (the Station screen). */
const SIM_FAULT_BADGES: Readonly<Record<Exclude<SimFault, "none">, string>> = words(
  keysOf("simFaultBadge", names<Exclude<SimFault, "none">>({ unplugged_during_write: true, refuses_to_save: true, no_answer: true, noisy_line: true })),
);

/** The badge for `fault`, or "" when the simulated units work (no badge). */
export function simFaultBadge(fault: SimFault): string {
  return fault === "none" ? "" : SIM_FAULT_BADGES[fault];
}

/** A port as the screens name it: a simulated port in the current language ("Simulated device",
 *  or "Simulated device 2" when the bench has more than one, as the station labels them), any
 *  other port by the station's own label (its path, USB ids and serial). */
export function portName(p: Port, ports: readonly Port[]): string {
  if (p.kind !== "simulated") return p.label;
  const bench = ports.filter((q) => q.kind === "simulated").length;
  return bench === 1 ? t("port.simulated") : t("port.simulatedN", { n: p.id.slice(p.id.indexOf(":") + 1) });
}

/** `14:03:07` in local time; the input is milliseconds since the Unix epoch. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
