// Operator sign-in, shifts and scan to link: the state behind OperatorBar, ScanBox and the
// Shift screen. The rules (who may flash, what a shift counts, where a scan links) are the
// station's (station_service); this only asks and draws.

import type { AppError, ExportDone, FlashFinished, ReportFormat, ShiftReport, Shifts, SignInState } from "./bindings";
import { call, commands, toAppError } from "./ipc";
import { t } from "./i18n/index.svelte";

/** Who is signed in; the lead's "sign-in required" rule. */
export class OperatorController {
  state: SignInState | null = $state(null);
  typed = $state("");
  error: AppError | null = $state(null);

  async load(): Promise<void> {
    try {
      this.state = await call(commands.operatorState());
      this.error = null;
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  /** Sign in with what was typed or scanned (a badge scanner types it and Enter). */
  async signIn(): Promise<boolean> {
    try {
      this.state = await call(commands.signIn(this.typed));
      this.typed = "";
      this.error = null;
      return true;
    } catch (e) {
      this.error = toAppError(e);
      return false;
    }
  }

  async signOut(): Promise<void> {
    try {
      this.state = await call(commands.signOut());
      this.error = null;
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  async setRequired(on: boolean): Promise<void> {
    try {
      this.state = await call(commands.setSignInRequired(on));
      this.error = null;
    } catch (e) {
      this.error = toAppError(e);
    }
  }
}

/** The Shift screen: the running shift, the confirmed end, the saved reports. */
export class ShiftController {
  shifts: Shifts | null = $state(null);
  error: AppError | null = $state(null);
  /** "End shift? N passed, M failed" is being asked. */
  confirming = $state(false);
  saved: ExportDone | null = $state(null);

  get running(): ShiftReport | null {
    return this.shifts?.running ?? null;
  }

  private async run(pending: () => Promise<Shifts>): Promise<void> {
    try {
      this.shifts = await pending();
      this.error = null;
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  load(): Promise<void> {
    return this.run(() => call(commands.shifts()));
  }

  start(): Promise<void> {
    this.saved = null;
    return this.run(() => call(commands.startShift()));
  }

  /** Ask first: the end freezes the shift's report. */
  askEnd(): void {
    this.confirming = true;
  }

  cancelEnd(): void {
    this.confirming = false;
  }

  async confirmEnd(): Promise<void> {
    this.confirming = false;
    await this.run(() => call(commands.endShift()));
  }

  async save(id: number, format: ReportFormat): Promise<void> {
    try {
      const done = await call(commands.saveShiftReport(id, format));
      if (done) this.saved = done;
      this.error = null;
    } catch (e) {
      this.error = toAppError(e);
    }
  }
}

/** The question before a shift ends. */
export function endQuestion(r: ShiftReport): string {
  return t("shift.endQuestion", { passed: r.passed, failed: r.failed });
}

/** First-pass yield as the screens show it. */
export function yieldText(r: ShiftReport): string {
  return r.first_pass_yield_percent === null ? "—" : `${r.first_pass_yield_percent.toFixed(1)} %`;
}

export type ScanNote = { kind: "linked" | "waiting" | "refused"; text: string };

/** Scan to link on the Station screen: what the last scan (or the pass it waited for) did. */
export class ScanController {
  typed = $state("");
  port = $state("");
  note: ScanNote | null = $state(null);
  error: AppError | null = $state(null);

  async scan(port: string): Promise<void> {
    const serial = this.typed;
    if (!port) {
      this.error = { code: "invalid_input", message: t("scan.noPort"), help: t("scan.noPortHelp"), reason: null, action: "fix_input" };
      return;
    }
    try {
      const link = await call(commands.scanUnitLabel(port, serial));
      this.typed = "";
      this.error = null;
      this.note =
        link.kind === "linked"
          ? { kind: "linked", text: t("scan.linkedNow", { serial: link.serial, device: link.device_id }) }
          : { kind: "waiting", text: t("scan.waiting", { serial: link.serial, port: link.port }) };
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  /** A flash ended: a scan that waited for it was linked, or refused. */
  finished(f: FlashFinished): void {
    if (f.result.outcome !== "passed" || !f.result.unit_link) return;
    const l = f.result.unit_link;
    this.note =
      l.kind === "linked"
        ? { kind: "linked", text: t("scan.linkedPassed", { serial: l.serial, device: l.device_id, port: f.port }) }
        : { kind: "refused", text: t("scan.refused", { serial: l.serial, problem: l.problem }) };
  }
}
