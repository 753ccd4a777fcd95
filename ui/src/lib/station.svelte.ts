// The Station screen's logic: what to flash, on which ports, the big button, auto-flash on
// plug, the shift's counters and the credentials the station keeps ready. The screen only draws this state and calls these methods.

import type { AppError, Batch, Control, DeviceTypeInfo, Dropped, FlashRequest, PoolStatus, Port, RecentResult, Shift, SimFault, StationChoice } from "./bindings";
import type { FlashBoard } from "./flashes.svelte.js";
import { call, commands, onPortsChanged, onShiftChanged, toAppError } from "./ipc";
import { t } from "./i18n/index.svelte";
import { portName } from "./words";
import { OperatorController, ScanController } from "./shift.svelte.js";

export const TYPED_PREFIX = "typed:";

/** After the last running port's result: how long before the lists under the tiles are read. */
export const RESULTS_SETTLE_MS = 100;
/** After a result while other ports still run: the longest the lists wait. */
export const RESULTS_MAX_WAIT_MS = 2000;

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

/** The choice as the station keeps it (target key ↔ typed target). */
export function choiceTarget(key: string): StationChoice["target"] {
  const t = parseTarget(key);
  if (!t) return null;
  return t.kind === "batch" ? { kind: "batch", batch_id: t.batchId } : { kind: "type", name: t.name };
}

export function choiceKey(t: StationChoice["target"]): string {
  if (!t) return "";
  return t.kind === "batch" ? targetKey({ kind: "batch", batchId: t.batch_id }) : targetKey({ kind: "type", name: t.name });
}

/** Why the target is no longer chosen, in whole sentences. */
export function droppedWords(d: Dropped): string {
  switch (d.kind) {
    case "batch_complete":
      return t("dropped.batch_complete", { batch: d.batch_id });
    case "batch_gone":
      return t("dropped.batch_gone", { batch: d.batch_id });
    case "batch_ended":
      return t(d.state === "cancelled" ? "dropped.batch_cancelled" : "dropped.batch_closed", { batch: d.batch_id });
    case "type_gone":
      return t("dropped.type_gone", { type: d.name });
  }
}

/** What a press that did not start says, by the control that caused it. */
export type NotStarted = { control: Control; error: AppError };

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
  /** The last press (or a job) did not start: the reason, next to the control that caused it. */
  notStarted: NotStarted | null = $state(null);
  /** The chosen target is gone (a batch completed, a type deleted): said until a choice is made. */
  targetNote: string | null = $state(null);
  /** A typed port path the station refused, next to the box it was typed in. */
  typedError: AppError | null = $state(null);
  /** The fault the simulated units show (Settings), so the Station screen can say so. */
  simFault: SimFault = $state("none");
  /** The last results of each port, newest first (kept by the station while it runs). */
  recent: Record<string, RecentResult[]> = $state({});
  /** Points the operator at the target select (the screen sets it). */
  focusTarget: (() => void) | null = null;
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
  /** The remembered choice was read (once, at the first load). */
  private restored = false;
  /** A target was chosen (by the operator, or remembered): when it goes, nothing replaces it. */
  private targetChosen = false;
  /** A gang press is being started: a second Enter meanwhile does nothing. */
  private pressing = false;

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
    const port = this.ports.find((p) => p.id === id);
    return port ? portName(port, this.ports) : id;
  }

  /** Load (or refresh) everything the screen shows; keeps the operator's choices if still valid. */
  async load(): Promise<void> {
    this.refreshing = true;
    void this.operator.load();
    try {
      const [types, batches, ports, settings, shift, remembered, recent] = await Promise.all([
        call(commands.listTypes()),
        call(commands.listBatches()),
        call(commands.listPorts()),
        call(commands.getSettings()),
        call(commands.shift()),
        this.restored ? Promise.resolve(null) : call(commands.stationChoice()),
        call(commands.recentResults()),
      ]);
      this.types = types;
      this.batches = batches;
      this.machinePorts = ports;
      this.autoFlash = settings.auto_flash;
      this.board.sounds = settings.sounds;
      this.simFault = settings.sim_fault;
      this.shift = shift;
      this.recent = recent;
      if (remembered) this.restore(remembered.choice, remembered.dropped);
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
      this.board.onFinished((f) => {
        if (f.result.outcome === "failed" && f.result.error.not_started) {
          this.notStarted = { control: f.result.error.not_started, error: f.result.error };
        }
        this.refreshAfterResults();
      });
      this.board.onFinished((f) => this.scans.finished(f));
    }
  }

  /** The choice kept from the last run: target, prefix, ports, typed ports. */
  private restore(choice: StationChoice, dropped: Dropped | null): void {
    this.restored = true;
    for (const p of choice.typed_ports) {
      if (!this.typedPorts.some((x) => x.id === p)) this.typedPorts = [...this.typedPorts, typedPort(p)];
    }
    if (choice.ports.length > 0) {
      this.portsChosen = true;
      this.selected = choice.ports;
    }
    this.prefix = choice.prefix;
    if (choice.target) {
      this.targetChosen = true;
      this.target = choiceKey(choice.target);
    }
    if (dropped) {
      this.targetChosen = true;
      this.target = "";
      this.targetNote = droppedWords(dropped);
    }
  }

  /** Keep the choice for the next start (the station's database, not the webview's). */
  async remember(): Promise<void> {
    const choice: StationChoice = {
      target: choiceTarget(this.target),
      prefix: this.prefix,
      ports: this.selected,
      typed_ports: this.typedPorts.map((p) => p.id),
    };
    try {
      await call(commands.rememberStationChoice(choice));
    } catch {
      // Only a convenience: the station flashes the same without it.
    }
  }

  /** The operator chose what to flash. */
  chooseTarget(key: string): void {
    this.target = key;
    this.targetChosen = true;
    this.targetNote = null;
    if (this.notStarted?.control === "target") this.notStarted = null;
    void this.remember();
  }

  /** The operator changed the id prefix. */
  prefixChanged(): void {
    if (this.notStarted?.control === "prefix") this.notStarted = null;
    void this.remember();
  }

  async refreshRecent(): Promise<void> {
    try {
      this.recent = await call(commands.recentResults());
    } catch {
      // Only a display: the flashes and their records are unaffected.
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
    this.checkTarget();
    if (this.target === "" && !this.targetChosen) {
      // A new station: offer the newest open batch, else the first type.
      const batch = openBatches(this.batches)[0];
      const type = this.types[0];
      this.target = batch ? targetKey({ kind: "batch", batchId: batch.id }) : type ? targetKey({ kind: "type", name: type.name }) : "";
    }
  }

  /** A target that can no longer be flashed becomes nothing chosen, and the screen says why
   *  (never silently another target: Enter would flash something else). */
  private checkTarget(): void {
    const t = parseTarget(this.target);
    if (t === null) return;
    if (t.kind === "batch" && !openBatches(this.batches).some((b) => b.id === t.batchId)) {
      const known = this.batches.some((b) => b.id === t.batchId);
      this.targetNote = droppedWords(known ? { kind: "batch_complete", batch_id: t.batchId } : { kind: "batch_gone", batch_id: t.batchId });
      this.target = "";
      this.targetChosen = true;
      void this.remember();
    } else if (t.kind === "type" && !this.types.some((ty) => ty.name === t.name)) {
      this.targetNote = droppedWords({ kind: "type_gone", name: t.name });
      this.target = "";
      this.targetChosen = true;
      void this.remember();
    }
  }

  private refreshTimer: ReturnType<typeof setTimeout> | null = null;

  /** Results of a gang land within moments of each other, and every redraw of the screen while
   *  tiles still run costs their flashes CPU (software rendering, two cores): the batch list and
   *  the recent results are read once, RESULTS_SETTLE_MS after the last running port finished,
   *  or RESULTS_MAX_WAIT_MS after a result while some port keeps running. */
  refreshAfterResults(): void {
    const idle = this.board.busyPorts.length === 0;
    if (this.refreshTimer) {
      if (!idle) return;
      clearTimeout(this.refreshTimer);
    }
    this.refreshTimer = setTimeout(
      () => {
        this.refreshTimer = null;
        void this.refreshBatches();
        void this.refreshRecent();
      },
      idle ? RESULTS_SETTLE_MS : RESULTS_MAX_WAIT_MS,
    );
  }

  async refreshBatches(): Promise<void> {
    try {
      this.batches = await call(commands.listBatches());
      this.checkTarget();
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
    if (this.notStarted?.control === "port") this.notStarted = null;
    this.select(this.selected.includes(id) ? this.selected.filter((p) => p !== id) : [...this.selected, id]);
    void this.remember();
  }

  /** Use a port the OS does not list (a typed path such as /dev/ttyACM3 or COM7), once the
   *  station has checked it; a refused path is said next to the box and changes nothing. */
  async addTypedPort(path: string): Promise<boolean> {
    if (!path.trim()) return false;
    let p: string;
    try {
      p = await call(commands.checkTypedPort(path));
    } catch (e) {
      this.typedError = toAppError(e);
      return false;
    }
    this.typedError = null;
    this.portsChosen = true;
    if (!this.ports.some((x) => x.id === p)) this.typedPorts = [...this.typedPorts, typedPort(p)];
    if (!this.selected.includes(p)) this.select([...this.selected, p]);
    void this.remember();
    return true;
  }

  /** Forget a typed port (its × button). */
  removeTypedPort(id: string): void {
    this.typedPorts = this.typedPorts.filter((p) => p.id !== id);
    if (this.selected.includes(id)) this.select(this.selected.filter((p) => p !== id));
    void this.remember();
  }

  /** The big button (and Enter): flash every selected port that is free, as one gang press.
   *  Nothing chosen, or a press the station refuses before touching a unit, does not start:
   *  the reason shows next to the control that caused it, never as a FAIL. */
  async flash(): Promise<number> {
    const request = this.request;
    if (!request) {
      this.notStarted = {
        control: "target",
        error: {
          code: "invalid_input",
          message: t("station.noTarget"),
          help: this.types.length === 0 ? t("station.noTargetNoTypes") : t("station.noTargetHelp"),
          reason: null,
          action: this.types.length === 0 ? "add_type" : "fix_input",
          not_started: "target",
        },
      };
      this.focusTarget?.();
      return 0;
    }
    if (this.selected.length === 0) {
      this.notStarted = {
        control: "port",
        error: { code: "invalid_input", message: t("station.noPort"), help: t("station.noPortHelp"), reason: null, action: "fix_input", not_started: "port" },
      };
      return 0;
    }
    if (this.pressing) return 0;
    this.pressing = true;
    try {
      return await this.startGang(this.ready, request);
    } finally {
      this.pressing = false;
    }
  }

  /** One gang press of `ports`. The station checks it first (each port once, the sign-in rule,
   *  the target, a device left for every port); a refusal changes no tile and is said next to
   *  the control it names (the sign-in box for "nobody is signed in"). */
  private async startGang(ports: string[], request: FlashRequest): Promise<number> {
    this.error = null;
    this.notStarted = null;
    try {
      return await this.board.startGang(ports, request);
    } catch (e) {
      const error = toAppError(e);
      if (error.not_started) this.notStarted = { control: error.not_started, error };
      else this.error = error;
      return 0;
    }
  }

  /** Signed in: a press refused for want of an operator is no longer the news. */
  signedIn(): void {
    if (this.notStarted?.control === "operator") this.notStarted = null;
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
    if (!request || arrived.length === 0) return;
    for (const port of arrived) {
      if (!this.selected.includes(port)) this.select([...this.selected, port]);
    }
    // The units that arrived together are one press, checked by the station like the button's.
    await this.startGang(arrived, request);
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

function typedPort(id: string): Port {
  return { id, kind: "typed", label: id, vid: null, pid: null, serial_number: null, product: null, manufacturer: null };
}
