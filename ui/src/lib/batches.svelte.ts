// The Batches screen's logic: create, progress, a batch's devices, export.

import type { AppError, Batch, Device, DeviceTypeInfo, ExportDone, ExportFormat } from "./bindings";
import { call, commands, toAppError } from "./ipc";

export const MAX_BATCH_COUNT = 10000;

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
  if (!type) return "Pick a device type.";
  const n = Number(count);
  if (!Number.isInteger(n) || n < 1 || n > MAX_BATCH_COUNT) return `The count must be a whole number from 1 to ${MAX_BATCH_COUNT}.`;
  if (/\s/.test(prefix.trim())) return "The prefix cannot contain spaces.";
  return null;
}

export class BatchesController {
  batches: Batch[] = $state([]);
  types: DeviceTypeInfo[] = $state([]);
  newType = $state("");
  newPrefix = $state("");
  newCount = $state("10");
  formError: string | null = $state(null);
  error: AppError | null = $state(null);
  openId: number | null = $state(null);
  devices: Device[] = $state([]);
  exporting: string | null = $state(null);
  exported: ExportDone | null = $state(null);
  created: Batch | null = $state(null);

  async load(): Promise<void> {
    try {
      const [batches, types] = await Promise.all([call(commands.listBatches()), call(commands.listTypes())]);
      this.batches = batches;
      this.types = types;
      if (!this.newType && types[0]) this.newType = types[0].name;
      this.error = null;
      if (this.openId !== null) await this.loadDevices(this.openId);
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  async create(): Promise<Batch | null> {
    this.formError = checkNewBatch(this.newType, this.newPrefix, this.newCount);
    if (this.formError) return null;
    try {
      const b = await call(commands.createBatch({ device_type: this.newType, prefix: this.newPrefix.trim(), count: Number(this.newCount) }));
      this.created = b;
      this.error = null;
      await this.load();
      return b;
    } catch (e) {
      this.error = toAppError(e);
      return null;
    }
  }

  async toggleDevices(id: number): Promise<void> {
    if (this.openId === id) {
      this.openId = null;
      this.devices = [];
      return;
    }
    this.openId = id;
    await this.loadDevices(id);
  }

  private async loadDevices(id: number): Promise<void> {
    try {
      this.devices = await call(commands.searchDevices({ search: null, status: null, flash_state: null, batch_id: id, active: null, limit: null }));
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
