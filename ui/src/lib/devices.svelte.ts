// The Devices screen's logic: search, identify a plugged-in unit, a device's detail and
// history, rotate and re-flash, deactivation (always after a confirmation).

import type { AppError, Device, DeviceDetail, DeviceStatus, FlashFinished, FlashState, Port, UnitInfo } from "./bindings";
import type { FlashBoard } from "./flashes.svelte.js";
import { call, commands, toAppError } from "./ipc";
import { t } from "./i18n/index.svelte";

/** Devices on one page of the search results (the station's own cap is 500). */
export const DEVICE_PAGE_SIZE = 200;

export class DevicesController {
  search = $state("");
  status: DeviceStatus | "" = $state("");
  flashState: FlashState | "" = $state("");
  results: Device[] = $state([]);
  /** How many devices match the search in all (the results are one page of them). */
  total = $state(0);
  offset = $state(0);
  searched = $state(false);
  detail: DeviceDetail | null = $state(null);
  error: AppError | null = $state(null);
  ports: Port[] = $state([]);
  /** The port the technician plugs units into (to identify them, or to re-flash). */
  reflashPort = $state("");
  /** The unit last read on that port. */
  unit: UnitInfo | null = $state(null);
  identifying = $state(false);
  confirming = $state(false);
  /** The open device has no unit on record and its unit could not prove possession: the
   * station asks before re-flashing it (the operator checks the unit first). */
  confirmingUnbound = $state(false);
  reason = $state("");
  /** Whether the Devices screen is on show (results are refreshed only then). */
  active = false;
  readonly board: FlashBoard;

  constructor(board: FlashBoard) {
    this.board = board;
    board.onFinished((f) => void this.flashFinished(f));
  }

  async load(): Promise<void> {
    try {
      this.ports = await call(commands.listPorts());
      if (!this.ports.some((p) => p.id === this.reflashPort)) {
        this.reflashPort = (this.ports.find((p) => p.kind === "usb") ?? this.ports.find((p) => p.kind === "simulated") ?? this.ports[0])?.id ?? "";
      }
    } catch (e) {
      this.error = toAppError(e);
    }
    await this.run();
    if (this.detail) await this.open(this.detail.device.device_id);
  }

  /** Search from the first page. */
  async find(): Promise<void> {
    await this.run(0);
  }

  /** The next (1) or previous (-1) page of the results. */
  async page(direction: 1 | -1): Promise<void> {
    const next = this.offset + direction * DEVICE_PAGE_SIZE;
    if (next < 0 || next >= this.total) return;
    await this.run(next);
  }

  /** The page of results from `offset` (the current one by default); rows, offset and total
   *  change together, when the answer is in. */
  async run(offset: number = this.offset): Promise<void> {
    try {
      const page = await call(
        commands.searchDevices({
          search: this.search.trim() || null,
          status: this.status || null,
          flash_state: this.flashState || null,
          batch_id: null,
          active: null,
          limit: DEVICE_PAGE_SIZE,
          offset,
        }),
      );
      this.results = page.devices;
      this.total = page.total;
      this.offset = offset;
      this.searched = true;
      this.error = null;
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  async open(deviceId: string): Promise<void> {
    if (this.detail?.device.device_id !== deviceId) this.confirmingUnbound = false;
    try {
      this.detail = await call(commands.deviceDetail(deviceId));
      this.confirming = false;
      this.reason = "";
      this.error = null;
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  close(): void {
    this.detail = null;
    this.confirming = false;
    this.confirmingUnbound = false;
  }

  /** Read which device the unit on the port holds, and open it when this station knows it. */
  async identify(): Promise<boolean> {
    if (this.identifying) return false;
    if (!this.reflashPort) {
      this.error = { code: "invalid_input", message: t("devices.noPort"), help: t("devices.noPortHelp"), reason: null, action: "fix_input" };
      return false;
    }
    this.identifying = true;
    this.unit = null;
    try {
      const unit = await call(commands.identifyUnit(this.reflashPort));
      this.unit = unit;
      this.error = null;
      if (unit.known && unit.device_id) await this.open(unit.device_id);
      return true;
    } catch (e) {
      this.error = toAppError(e);
      return false;
    } finally {
      this.identifying = false;
    }
  }

  /** The port's tile while the open device is being re-flashed there. */
  get reflashTile() {
    const d = this.detail?.device;
    if (!d) return null;
    for (const [port, tile] of Object.entries(this.board.tiles)) {
      if (tile.request.kind === "reflash" && tile.request.device_id === d.device_id) return { port, tile };
    }
    return null;
  }

  /** Plug the unit in, then this: the station checks it is this device's unit and writes g+1.
   * `confirmUnbound` only after the operator said yes in the dialog (`confirmingUnbound`). */
  async rotateAndReflash(confirmUnbound = false): Promise<boolean> {
    const d = this.detail?.device;
    if (!d) return false;
    if (!this.reflashPort) {
      this.error = { code: "invalid_input", message: t("devices.noPort"), help: t("devices.noPortHelp"), reason: null, action: "fix_input" };
      return false;
    }
    this.error = null;
    this.confirmingUnbound = false;
    return this.board.start(this.reflashPort, { kind: "reflash", device_id: d.device_id, confirm_unbound: confirmUnbound });
  }

  cancelUnbound(): void {
    this.confirmingUnbound = false;
  }

  private async flashFinished(f: FlashFinished): Promise<void> {
    const id = this.detail?.device.device_id;
    const touched = f.result.outcome === "passed" ? f.result.device.device_id : f.result.device_id;
    if (!this.active) return;
    if (id && touched === id && f.result.outcome === "failed" && f.result.error.reason === "unbound_device") {
      this.confirmingUnbound = true;
    }
    if (id && touched === id) await this.open(id);
    if (this.searched) await this.run();
  }

  askDeactivate(): void {
    this.confirming = true;
    this.reason = "";
  }

  cancelDeactivate(): void {
    this.confirming = false;
  }

  async confirmDeactivate(): Promise<boolean> {
    const d = this.detail?.device;
    if (!d) return false;
    try {
      await call(commands.deactivateDevice(d.device_id, this.reason.trim()));
      this.confirming = false;
      await this.open(d.device_id);
      await this.run();
      return true;
    } catch (e) {
      this.error = toAppError(e);
      return false;
    }
  }
}
