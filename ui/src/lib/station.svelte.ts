// The Station screen's logic: what to flash, on which ports, the big button, auto-flash on
// plug, the shift's counters and the credentials the station keeps ready. The screen only draws this state and calls these methods.

import type { AppError, Batch, DeviceTypeInfo, FlashRequest, PoolStatus, Port, Shift } from "./bindings";
import type { FlashBoard } from "./flashes.svelte.js";
import { call, commands, onPortsChanged, onShiftChanged, toAppError } from "./ipc";
import { OperatorController, ScanController } from "./shift.svelte.js";

export const TYPED_PREFIX = "typed:";

export type Target = { kind: "batch"; batchId: number } | { kind: "type"; name: string };

export function targetKey(t: Target): string {
  return t.kind === "batch" ? `batch:${t.batchId}` : `type:${t.name}`;
}

export function parseTarget(key: string): Target | null {
  if (key.startsWith("batch:")) {
    const id = Number(key.slice(6));
    return Number.isInteger(id) && id > 0 ? { kind: "batch", batchId: id } : null;
  }
  if (key.startsWith("type:") && key.length > 5) return { kind: "type", name: key.slice(5) };
  return null;
}

/** Batches that still have devices to flash, newest first. */
export function openBatches(batches: Batch[]): Batch[] {
  return batches.filter((b) => b.next_device_id !== null);
}

export class StationController {
  types: DeviceTypeInfo[] = $state([]);
  batches: Batch[] = $state([]);
  machinePorts: Port[] = $state([]);
  typedPorts: Port[] = $state([]);
  selected: string[] = $state([]);
  target = $state("");
  prefix = $state("");
  autoFlash = $state(false);
  shift: Shift | null = $state(null);
  /** Credential sets made ahead of the flashes (`null`: no pool, or not known yet). */
  pool: PoolStatus | null = $state(null);
  error: AppError | null = $state(null);
  loaded = $state(false);
  /** A load is in flight: what the screen shows may still change under the operator. */
  refreshing = $state(false);
  readonly board: FlashBoard;
  /** Who is signed in; with the lead's rule on, nobody signed in means no flash starts. */
  readonly operator = new OperatorController();
  /** Scan to link: the unit's own serial or MAC label. */
  readonly scans = new ScanController();
  private connected = false;
  /** The operator picked ports: a refresh never picks for them again. */
  private portsChosen = false;

  constructor(board: FlashBoard) {
    this.board = board;
  }

  get ports(): Port[] {
    return [...this.machinePorts, ...this.typedPorts];
  }

  get request(): FlashRequest | null {
    const t = parseTarget(this.target);
    if (!t) return null;
    if (t.kind === "batch") return { kind: "next_in_batch", batch_id: t.batchId };
    return { kind: "new_device", device_type: t.name, prefix: this.prefix.trim() };
  }

  /** Ports that would start now if the button were pressed. */
  get ready(): string[] {
    return this.selected.filter((p) => !this.board.isBusy(p));
  }

  get canFlash(): boolean {
    return this.request !== null && this.ready.length > 0;
  }

  /** Ports with a tile to show: the selected ones, and any other still flashing. */
  get tilePorts(): string[] {
    const extra = this.board.busyPorts.filter((p) => !this.selected.includes(p));
    return [...this.selected, ...extra];
  }

  portLabel(id: string): string {
    return this.ports.find((p) => p.id === id)?.label ?? id;
  }

  /** Load (or refresh) everything the screen shows; keeps the operator's choices if still valid. */
  async load(): Promise<void> {
    this.refreshing = true;
    void this.operator.load();
    try {
      const [types, batches, ports, settings, shift] = await Promise.all([
        call(commands.listTypes()),
        call(commands.listBatches()),
        call(commands.listPorts()),
        call(commands.getSettings()),
        call(commands.shift()),
      ]);
      this.types = types;
      this.batches = batches;
      this.machinePorts = ports;
      this.autoFlash = settings.auto_flash;
      this.board.sounds = settings.sounds;
      this.shift = shift;
      this.pickDefaults();
      this.error = null;
    } catch (e) {
      this.error = toAppError(e);
    }
    this.loaded = true;
    this.refreshing = false;
    void this.refreshPool();
    if (!this.connected) {
      this.connected = true;
      await onPortsChanged((c) => void this.portsChanged(c.arrived));
      await onShiftChanged((s) => {
        this.shift = s;
        void this.refreshPool();
      });
      this.board.onFinished(() => this.refreshBatchesSoon());
      this.board.onFinished((f) => this.scans.finished(f));
    }
  }

  private pickDefaults(): void {
    const known = new Set(this.ports.map((p) => p.id));
    this.selected = this.selected.filter((p) => known.has(p));
    if (this.selected.length === 0 && !this.portsChosen) {
      const usb = this.machinePorts.find((p) => p.kind === "usb");
      const sim = this.machinePorts.find((p) => p.kind === "simulated");
      const first = usb ?? sim ?? this.machinePorts[0];
      if (first) this.select([first.id]);
    }
    const t = parseTarget(this.target);
    const valid =
      t !== null &&
      (t.kind === "batch"
        ? openBatches(this.batches).some((b) => b.id === t.batchId)
        : this.types.some((ty) => ty.name === t.name));
    if (!valid) {
      const batch = openBatches(this.batches)[0];
      const type = this.types[0];
      this.target = batch ? targetKey({ kind: "batch", batchId: batch.id }) : type ? targetKey({ kind: "type", name: type.name }) : "";
    }
  }

  private refreshTimer: ReturnType<typeof setTimeout> | null = null;

  /** Several ports finish within moments of each other: refresh the batch list once. */
  refreshBatchesSoon(delayMs = 250): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.refreshBatches();
    }, delayMs);
  }

  async refreshBatches(): Promise<void> {
    try {
      this.batches = await call(commands.listBatches());
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  private poolTimer: ReturnType<typeof setTimeout> | null = null;

  /** Read the pool; while it refills (after a flash took a set), read it again shortly. */
  async refreshPool(againMs = 1000): Promise<void> {
    try {
      this.pool = await call(commands.poolStatus());
    } catch {
      // Only a display: the flashes work the same without it.
      this.pool = null;
    }
    if (this.pool && this.pool.ready < this.pool.target && !this.poolTimer) {
      this.poolTimer = setTimeout(() => {
        this.poolTimer = null;
        void this.refreshPool(againMs);
      }, againMs);
    }
  }

  /** Change the selection and tell the station which ports are about to be used, so its
   * credential pool makes sets ahead for each of them (a gang press then waits for no hash). */
  private select(ports: string[]): void {
    this.selected = ports;
    void this.announcePorts();
  }

  private async announcePorts(): Promise<void> {
    try {
      this.pool = await call(commands.expectPorts(this.selected));
    } catch {
      // Only a head start: a flash without a ready set makes its own.
      return;
    }
    void this.refreshPool();
  }

  togglePort(id: string): void {
    this.portsChosen = true;
    this.select(this.selected.includes(id) ? this.selected.filter((p) => p !== id) : [...this.selected, id]);
  }

  /** Use a port the OS does not list (a typed path such as /dev/ttyACM3 or COM7). */
  addTypedPort(path: string): boolean {
    const p = path.trim();
    if (!p) return false;
    this.portsChosen = true;
    if (!this.ports.some((x) => x.id === p)) {
      this.typedPorts = [
        ...this.typedPorts,
        { id: p, kind: "typed", label: p, vid: null, pid: null, serial_number: null, product: null, manufacturer: null },
      ];
    }
    if (!this.selected.includes(p)) this.select([...this.selected, p]);
    return true;
  }

  /** The big button (and Enter): flash every selected port that is free. */
  async flash(): Promise<number> {
    const request = this.request;
    if (!request) {
      this.error = {
        code: "invalid_input",
        message: "Nothing to flash is chosen.",
        help: this.types.length === 0 ? "add a device type in Settings first" : "pick a device type or an open batch",
        reason: null,
        action: this.types.length === 0 ? "add_type" : "fix_input",
      };
      return 0;
    }
    if (this.selected.length === 0) {
      this.error = { code: "invalid_input", message: "No port is chosen.", help: "pick a port, or type the path of one", reason: null, action: "fix_input" };
      return 0;
    }
    this.error = null;
    if (this.operator.blocksFlash()) return 0;
    const ports = this.ready;
    const started = await Promise.all(ports.map((p) => this.board.start(p, request)));
    return started.filter(Boolean).length;
  }

  async setAutoFlash(on: boolean): Promise<void> {
    this.autoFlash = on;
    try {
      await call(commands.changeSetting({ key: "auto_flash", value: on }));
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  /** A unit was plugged in: with auto-flash on, flash it at once. */
  async portsChanged(arrived: string[]): Promise<void> {
    try {
      this.machinePorts = await call(commands.listPorts());
    } catch (e) {
      this.error = toAppError(e);
    }
    if (!this.autoFlash) return;
    const request = this.request;
    if (!request) return;
    if (arrived.length > 0 && this.operator.blocksFlash()) return;
    for (const port of arrived) {
      if (!this.selected.includes(port)) this.select([...this.selected, port]);
      if (!this.board.isBusy(port)) await this.board.start(port, request);
    }
  }

  /** On the simulated bench, "plugging in" is this button: each selected simulated port gets a unit. */
  async simulatePlugIn(): Promise<void> {
    const sims = this.selected.filter((p) => p.startsWith("sim:"));
    await this.portsChanged(sims);
  }

  async newShift(): Promise<void> {
    try {
      this.shift = await call(commands.newShift());
    } catch (e) {
      this.error = toAppError(e);
    }
  }
}
