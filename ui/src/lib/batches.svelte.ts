// The Batches screen's logic: create (once per press), a page of batches with the total,
// progress, close and cancel (after a confirmation), a batch's devices a page at a time, export.

import type { AppError, Batch, Device, DeviceTypeInfo, EndedBatch, ExportDone, ExportFormat } from "./bindings";
import { call, commands, toAppError } from "./ipc";
import { t } from "./i18n/index.svelte";
export { pageLabel } from "./words";

export const MAX_BATCH_COUNT = 10000;
/** Longest lot or work-order number the station accepts (the core's RUN_LABEL_MAX_LEN). */
export const RUN_LABEL_MAX_LEN = 64;
/** Batches on one page of the Batches screen. */
export const BATCH_PAGE_SIZE = 20;
/** Devices on one page of a batch's device list. */
export const DEVICE_PAGE_SIZE = 100;

/** A form's field and what is wrong with it, shown next to the form. */
export type FormProblem = { field: "type" | "count" | "prefix" | "lot" | "work_order"; message: string };

/** Widths of the flashed / failed / remaining parts of a batch's bar, in percent. */
export function barParts(b: Pick<Batch, "count" | "flashed" | "failed">): { flashed: number; failed: number; remaining: number } {
  const total = Math.max(1, b.count);
  const flashed = Math.min(b.flashed, total);
  const failed = Math.min(b.failed, total - flashed);
  const pct = (n: number) => Math.round((n / total) * 1000) / 10;
  return { flashed: pct(flashed), failed: pct(failed), remaining: Math.max(0, Math.round((100 - pct(flashed) - pct(failed)) * 10) / 10) };
}

/** Check the create form before asking the station; `null` when it is fine. */
export function checkNewBatch(type: string, prefix: string, count: string): string | null {
  return checkBatchForm(type, prefix, count, "", "")?.message ?? null;
}

/** The create form's first problem, with the field it is in; `null` when it is fine. */
export function checkBatchForm(type: string, prefix: string, count: string | number | null, lot: string, workOrder: string): FormProblem | null {
  if (!type) return { field: "type", message: t("batchForm.type") };
  // A number input's bound value is a number once typed into (and "" or null when empty).
  const text = String(count ?? "").trim();
  const n = Number(text);
  if (text === "" || !Number.isInteger(n) || n < 1 || n > MAX_BATCH_COUNT) {
    return { field: "count", message: t("batchForm.count", { max: MAX_BATCH_COUNT }) };
  }
  if (/\s/.test(prefix.trim())) return { field: "prefix", message: t("batchForm.prefix") };
  if (lot.trim().length > RUN_LABEL_MAX_LEN) return { field: "lot", message: t("batchForm.lot", { max: RUN_LABEL_MAX_LEN }) };
  if (workOrder.trim().length > RUN_LABEL_MAX_LEN) return { field: "work_order", message: t("batchForm.workOrder", { max: RUN_LABEL_MAX_LEN }) };
  return null;
}

/** The station's refusal of a field, mapped to the form's field (the core names it). */
function fieldOf(e: AppError): FormProblem["field"] | null {
  const m = e.message.toLowerCase();
  if (m.includes("work order")) return "work_order";
  if (m.includes("lot")) return "lot";
  if (m.includes("prefix") || m.includes("ids such as")) return "prefix";
  if (m.includes("batch size") || m.includes("count")) return "count";
  return null;
}

export class BatchesController {
  batches: Batch[] = $state([]);
  types: DeviceTypeInfo[] = $state([]);
  newType = $state("");
  newPrefix = $state("");
  newCount = $state("10");
  newLot = $state("");
  newWorkOrder = $state("");
  /** The create form's own problem (our validation), with its field. */
  formProblem: FormProblem | null = $state(null);
  /** The station's refusal of the create form, shown next to the form. */
  formError: AppError | null = $state(null);
  /** Bumped each time the form shows a problem, so the screen scrolls it into view again. */
  formProblemSeq = $state(0);
  error: AppError | null = $state(null);
  openId: number | null = $state(null);
  devices: Device[] = $state([]);
  devicesTotal = $state(0);
  devicesOffset = $state(0);
  exporting: string | null = $state(null);
  exported: ExportDone | null = $state(null);
  created: Batch | null = $state(null);
  /** A create in flight: the button is disabled and a second press (or Enter) does nothing. */
  creating = $state(false);
  /** The form's values the last batch was made from: the same again needs `confirmRepeat`. */
  private lastCreatedKey: string | null = null;
  /** The form holds exactly what the last batch was made from: ask before a second one. */
  repeatPending = $state(false);
  search = $state("");
  total = $state(0);
  offset = $state(0);
  /** The batch whose cancel is being confirmed, and why. */
  cancelling: number | null = $state(null);
  cancelReason = $state("");
  /** A batch just closed or cancelled, with the devices it left unflashed. */
  ended: EndedBatch | null = $state(null);
  busy: number | null = $state(null);

  /** Load the page of batches from `offset` (the current one by default); the page, its
   *  offset and the total change together, when the answer is in. */
  async load(offset: number = this.offset): Promise<void> {
    try {
      const [page, types] = await Promise.all([
        call(commands.searchBatches({ search: this.search.trim() || null, limit: BATCH_PAGE_SIZE, offset })),
        call(commands.listTypes()),
      ]);
      this.batches = page.batches;
      this.total = page.total;
      this.offset = offset;
      this.types = types;
      if (!this.newType && types[0]) this.newType = types[0].name;
      this.error = null;
      if (this.openId !== null) await this.loadDevices(this.openId);
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  /** Search batches by lot, work order, prefix, type or number, from the first page. */
  async find(): Promise<void> {
    await this.load(0);
  }

  async page(direction: 1 | -1): Promise<void> {
    const next = this.offset + direction * BATCH_PAGE_SIZE;
    if (next < 0 || next >= this.total) return;
    await this.load(next);
  }

  private formKey(): string {
    return JSON.stringify([this.newType, this.newPrefix.trim(), Number(this.newCount), this.newLot.trim(), this.newWorkOrder.trim()]);
  }

  private showProblem(problem: FormProblem | null, error: AppError | null): void {
    this.formProblem = problem;
    this.formError = error;
    if (problem || error) this.formProblemSeq += 1;
  }

  /** Create a batch from the form. A second press while one is being created does nothing; the
   *  same values again right after a batch was made from them ask first (`confirmRepeat`). */
  async create(confirmRepeat = false): Promise<Batch | null> {
    if (this.creating) return null;
    const problem = checkBatchForm(this.newType, this.newPrefix, this.newCount, this.newLot, this.newWorkOrder);
    if (problem) {
      this.showProblem(problem, null);
      return null;
    }
    const key = this.formKey();
    if (!confirmRepeat && key === this.lastCreatedKey) {
      this.repeatPending = true;
      this.showProblem(null, null);
      return null;
    }
    this.repeatPending = false;
    this.creating = true;
    this.showProblem(null, null);
    try {
      const b = await call(
        commands.createBatch({
          device_type: this.newType,
          prefix: this.newPrefix.trim(),
          count: Number(this.newCount),
          lot: this.newLot.trim() || null,
          work_order: this.newWorkOrder.trim() || null,
        }),
      );
      this.created = b;
      this.lastCreatedKey = key;
      await this.load(0);
      return b;
    } catch (e) {
      const err = toAppError(e);
      const field = fieldOf(err);
      this.showProblem(field ? { field, message: err.message } : null, err);
      return null;
    } finally {
      this.creating = false;
    }
  }

  /** Any change to the form: a batch from it is a new one, not a repeat. */
  edited(): void {
    this.repeatPending = false;
    if (this.formKey() !== this.lastCreatedKey) this.lastCreatedKey = null;
  }

  /** Close a batch: it issues no more devices; its unflashed ones stay as they are. */
  async close(id: number): Promise<EndedBatch | null> {
    return this.end(id, () => call(commands.closeBatch(id)));
  }

  askCancel(id: number): void {
    this.cancelling = id;
    this.cancelReason = "";
  }

  keepBatch(): void {
    this.cancelling = null;
    this.cancelReason = "";
  }

  /** Cancel the batch whose cancel was confirmed: its unflashed devices are deactivated. */
  async confirmCancel(): Promise<EndedBatch | null> {
    const id = this.cancelling;
    if (id === null) return null;
    const reason = this.cancelReason.trim();
    const ended = await this.end(id, () => call(commands.cancelBatch(id, reason)));
    if (ended) this.keepBatch();
    return ended;
  }

  private async end(id: number, run: () => Promise<EndedBatch>): Promise<EndedBatch | null> {
    if (this.busy !== null) return null;
    this.busy = id;
    try {
      const ended = await run();
      this.ended = ended;
      this.error = null;
      await this.load();
      return ended;
    } catch (e) {
      this.error = toAppError(e);
      return null;
    } finally {
      this.busy = null;
    }
  }

  async toggleDevices(id: number): Promise<void> {
    if (this.openId === id) {
      this.openId = null;
      this.devices = [];
      return;
    }
    this.openId = id;
    this.devices = [];
    await this.loadDevices(id, 0);
  }

  /** The next (1) or previous (-1) page of the open batch's devices. */
  async devicesPage(direction: 1 | -1): Promise<void> {
    const next = this.devicesOffset + direction * DEVICE_PAGE_SIZE;
    if (this.openId === null || next < 0 || next >= this.devicesTotal) return;
    await this.loadDevices(this.openId, next);
  }

  /** A page of the batch's devices; the rows, their offset and the total change together. */
  private async loadDevices(id: number, offset: number = this.devicesOffset): Promise<void> {
    try {
      const page = await call(
        commands.searchDevices({ search: null, status: null, flash_state: null, batch_id: id, active: null, limit: DEVICE_PAGE_SIZE, offset }),
      );
      this.devices = page.devices;
      this.devicesTotal = page.total;
      this.devicesOffset = offset;
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  /** Export through the native save dialog; nothing happens if the person cancels. */
  async export(id: number, format: ExportFormat): Promise<ExportDone | null> {
    this.exporting = `${id}:${format}`;
    this.exported = null;
    try {
      const done = await call(commands.exportBatch(id, format));
      this.exported = done;
      this.error = null;
      return done;
    } catch (e) {
      this.error = toAppError(e);
      return null;
    } finally {
      this.exporting = null;
    }
  }
}
