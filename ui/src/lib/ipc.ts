// The one door between the screens and the Rust side. Every command result and event payload
// passes through here: errors become `IpcError` (a stable code, words for the operator, what
// to do), and, when the app runs with STATION_IPC_AUDIT=1, a copy of every payload is kept
// in `window.__stationIpcAudit` so the end-to-end suite can prove no secret ever arrived.

import type { UnlistenFn } from "@tauri-apps/api/event";
import {
  commands,
  events,
  type AppError,
  type FlashFinished,
  type FlashProgress,
  type LabelPrinted,
  type PortsChanged,
  type Shift,
} from "./bindings";
import { t } from "./i18n/index.svelte";

export { commands };

type Outcome<T> = { status: "ok"; data: T } | { status: "error"; error: AppError };

declare global {
  interface Window {
    __stationIpcAudit?: string[];
  }
}

let audit: string[] | null = null;

/** Keep a copy of every payload from now on (E2E only). */
export function enableAudit(): void {
  audit = [];
  window.__stationIpcAudit = audit;
}

function observe(payload: unknown): void {
  if (audit) audit.push(JSON.stringify(payload));
}

export class IpcError extends Error {
  readonly error: AppError;
  constructor(error: AppError) {
    super(error.message);
    this.name = "IpcError";
    this.error = error;
  }
  get code(): AppError["code"] {
    return this.error.code;
  }
}

function isAppError(e: unknown): e is AppError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

/** What any thrown thing means for a person. */
export function toAppError(e: unknown): AppError {
  if (e instanceof IpcError) return e.error;
  if (isAppError(e))
    return {
      code: e.code,
      message: e.message,
      help: e.help ?? "",
      reason: e.reason ?? null,
      action: e.action ?? "fix_input",
      ...(e.not_started ? { not_started: e.not_started } : {}),
    };
  return {
    code: "internal",
    message: e instanceof Error ? e.message : String(e),
    help: t("error.unexpectedHelp"),
    reason: null,
    action: "report_bug",
  };
}

/** Await a generated command and return its data, or throw an `IpcError`. */
export async function call<T>(pending: Promise<Outcome<T>>): Promise<T> {
  let outcome: Outcome<T>;
  try {
    outcome = await pending;
  } catch (e) {
    throw new IpcError(toAppError(e));
  }
  observe(outcome);
  if (outcome.status === "ok") return outcome.data;
  throw new IpcError(toAppError(outcome.error));
}

export function onFlashProgress(cb: (p: FlashProgress) => void): Promise<UnlistenFn> {
  return events.flashProgress.listen((e) => {
    observe(e.payload);
    cb(e.payload);
  });
}

export function onFlashFinished(cb: (p: FlashFinished) => void): Promise<UnlistenFn> {
  return events.flashFinished.listen((e) => {
    observe(e.payload);
    cb(e.payload);
  });
}

export function onLabelPrinted(cb: (p: LabelPrinted) => void): Promise<UnlistenFn> {
  return events.labelPrinted.listen((e) => {
    observe(e.payload);
    cb(e.payload);
  });
}

export function onPortsChanged(cb: (p: PortsChanged) => void): Promise<UnlistenFn> {
  return events.portsChanged.listen((e) => {
    observe(e.payload);
    cb(e.payload);
  });
}

export function onShiftChanged(cb: (p: Shift) => void): Promise<UnlistenFn> {
  return events.shiftChanged.listen((e) => {
    observe(e.payload);
    cb(e.payload);
  });
}
