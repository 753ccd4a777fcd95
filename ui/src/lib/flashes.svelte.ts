// Every flash the station runs, by port: the live steps while it runs, then its PASS or FAIL.
// One board for the whole app, so the Station screen and "Rotate and re-flash" on the Devices
// screen show the same truth, and a port is never started twice from the UI.

import type { AppError, Device, FlashFinished, FlashProgress, FlashRequest, LabelPrinted, Step } from "./bindings";
import { call, commands, onFlashFinished, onFlashProgress, onLabelPrinted, toAppError } from "./ipc";
import { playResult } from "./sound";

export type Tile =
  | { kind: "running"; jobId: number | null; step: Step; fraction: number; done: number | null; total: number | null; request: FlashRequest }
  | { kind: "passed"; jobId: number; device: Device; rotated: boolean; hookError: string | null; labelPrinted: boolean; labelError: string | null; elapsedMs: number; request: FlashRequest }
  | { kind: "failed"; jobId: number | null; deviceId: string | null; error: AppError; elapsedMs: number; request: FlashRequest }
  /** Nothing was written to the unit: what was asked, the port or the station stopped it
   *  (`error.not_started` names the control). Not a FAIL: neutral, no FAIL sound, not counted. */
  | { kind: "not_started"; jobId: number | null; deviceId: string | null; error: AppError; elapsedMs: number; request: FlashRequest };

/** The tile of a job that ended without passing: FAIL, or not started. */
function endedTile(jobId: number | null, deviceId: string | null, error: AppError, elapsedMs: number, request: FlashRequest): Tile {
  const kind = error.not_started ? "not_started" : "failed";
  return { kind, jobId, deviceId, error, elapsedMs, request };
}

/** The shortest time between two drawings of the running steps (a result is drawn at the next
 *  frame). Ten a second is still a live bar to the eye. */
export const STEP_DRAW_INTERVAL_MS = 100;

export class FlashBoard {
  tiles: Record<string, Tile> = $state({});
  sounds = true;
  /** Plays the PASS or FAIL sound (replaced in tests). */
  player: (passed: boolean, enabled: boolean) => boolean = playResult;
  private listeners: Array<(f: FlashFinished) => void> = [];
  private requests = new Map<string, FlashRequest>();
  /** Label outcomes that arrived before their job's PASS was drawn. */
  private labels = new Map<number, LabelPrinted>();

  /** Subscribe to the Rust side's flash events. */
  async connect(): Promise<void> {
    await onFlashProgress((p) => this.progress(p));
    await onFlashFinished((f) => this.finished(f));
    await onLabelPrinted((l) => this.label(l));
  }

  /** What the printer did with a passed job's label (it may come before the PASS is drawn). */
  label(l: LabelPrinted): void {
    const tile = this.tiles[l.port];
    if (tile?.kind === "passed" && tile.jobId === l.job_id) {
      tile.labelPrinted = l.printed;
      tile.labelError = l.error;
    } else {
      this.labels.set(l.job_id, l);
    }
  }

  onFinished(cb: (f: FlashFinished) => void): () => void {
    this.listeners.push(cb);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== cb);
    };
  }

  isBusy(port: string): boolean {
    return this.tiles[port]?.kind === "running";
  }

  get busyPorts(): string[] {
    return Object.keys(this.tiles).filter((p) => this.isBusy(p));
  }

  /** Start a flash on `port`; a port that is already flashing is left alone. */
  async start(port: string, request: FlashRequest): Promise<boolean> {
    if (this.isBusy(port)) return false;
    this.requests.set(port, request);
    this.tiles[port] = { kind: "running", jobId: null, step: "connect", fraction: 0, done: null, total: null, request };
    try {
      const started = await call(commands.startFlash(port, request));
      const tile = this.tiles[port];
      if (tile?.kind === "running" && tile.jobId === null) tile.jobId = started.job_id;
      return true;
    } catch (e) {
      const error = toAppError(e);
      this.tiles[port] = endedTile(null, null, error, 0, request);
      if (!error.not_started) this.player(false, this.sounds);
      return false;
    }
  }

  /** A gang press: start `request` on every free port of `ports` at once. The station checks
   *  the press first (each port once, the target, a device left for every port): a refusal
   *  throws before any tile changes, so the screen can say it next to the control. Returns how
   *  many ports started. */
  async startGang(ports: string[], request: FlashRequest): Promise<number> {
    const free = ports.filter((p) => !this.isBusy(p));
    if (free.length === 0) return 0;
    for (const p of free) this.requests.set(p, request);
    const started = await call(commands.startGang(free, request));
    for (const s of started) {
      // Progress or the result of this job may have been drawn already.
      if (this.tiles[s.port]?.jobId === s.job_id) continue;
      this.tiles[s.port] = { kind: "running", jobId: s.job_id, step: "connect", fraction: 0, done: null, total: null, request };
    }
    return started.length;
  }

  private pending = new Map<string, FlashProgress>();
  private done: FlashFinished[] = [];
  private scheduled = false;
  /** A drawing of steps held back until the interval is over. */
  private held: ReturnType<typeof setTimeout> | null = null;
  private lastStepsDrawn = -Infinity;
  /** When steps are drawn (performance.now; replaced in tests). */
  now: () => number = () => (typeof performance !== "undefined" ? performance.now() : Date.now());

  /** Events arrive faster than a screen refreshes (8 ports × many steps a second, results
   *  landing together): keep the latest step per port and the results, and draw them together
   *  at the next frame. Every frame that changes costs the window a full repaint, which with
   *  software rendering on two cores is CPU the flashes need: steps are drawn at most every
   *  STEP_DRAW_INTERVAL_MS (a result never waits for that; it takes the pending steps along). */
  private schedule(): void {
    if (this.held !== null && this.done.length > 0) {
      // A result came in while steps were held back: draw everything at the next frame.
      clearTimeout(this.held);
      this.held = null;
      this.nextFrame();
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.done.length > 0 ? 0 : this.lastStepsDrawn + STEP_DRAW_INTERVAL_MS - this.now();
    if (wait > 0) {
      this.held = setTimeout(() => {
        this.held = null;
        this.nextFrame();
      }, wait);
    } else {
      this.nextFrame();
    }
  }

  private nextFrame(): void {
    if (typeof requestAnimationFrame === "function" && typeof document !== "undefined" && !document.hidden) {
      requestAnimationFrame(() => this.flush());
    } else {
      setTimeout(() => this.flush(), 16);
    }
  }

  private flush(): void {
    this.scheduled = false;
    const steps = [...this.pending.values()];
    const results = this.done;
    this.pending.clear();
    this.done = [];
    if (steps.length > 0) this.lastStepsDrawn = this.now();
    for (const q of steps) this.applyProgress(q);
    for (const f of results) this.applyFinished(f);
  }

  progress(p: FlashProgress): void {
    this.pending.set(p.port, p);
    this.schedule();
  }

  finished(f: FlashFinished): void {
    // Progress still waiting for a frame belongs to this job, which is over.
    if (this.pending.get(f.port)?.job_id === f.job_id) this.pending.delete(f.port);
    this.done.push(f);
    this.schedule();
  }

  private applyProgress(p: FlashProgress): void {
    const request = this.requests.get(p.port) ?? { kind: "new_device", device_type: "", prefix: "" };
    const tile = this.tiles[p.port];
    if (tile && tile.kind !== "running" && tile.jobId === p.job_id) return; // late event of a finished job
    this.tiles[p.port] = {
      kind: "running",
      jobId: p.job_id,
      step: p.step,
      fraction: p.fraction ?? 0,
      done: p.done,
      total: p.total,
      request,
    };
  }

  private applyFinished(f: FlashFinished): void {
    const request = this.requests.get(f.port) ?? { kind: "new_device", device_type: "", prefix: "" };
    const r = f.result;
    if (r.outcome === "passed") {
      const label = this.labels.get(f.job_id);
      this.labels.delete(f.job_id);
      this.tiles[f.port] = {
        kind: "passed",
        jobId: f.job_id,
        device: r.device,
        rotated: r.rotated,
        hookError: r.hook_error,
        labelPrinted: label?.printed ?? false,
        labelError: label?.error ?? null,
        elapsedMs: f.elapsed_ms,
        request,
      };
    } else {
      this.tiles[f.port] = endedTile(f.job_id, r.device_id, r.error, f.elapsed_ms, request);
    }
    if (r.outcome === "passed" || !r.error.not_started) this.player(r.outcome === "passed", this.sounds);
    for (const l of this.listeners) l(f);
  }

  /** Forget a finished tile (the operator dismissed it). */
  clear(port: string): void {
    if (!this.isBusy(port)) delete this.tiles[port];
  }
}
