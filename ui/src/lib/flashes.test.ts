import { afterEach, describe, expect, it, vi } from "vitest";
import { FlashBoard } from "./flashes.svelte.js";
import { emitFinished, emitProgress, fail, failed, ipc, nextFrame, passed, reset } from "../test/fixtures";

afterEach(reset);

const request = { kind: "new_device", device_type: "WeatherStation", prefix: "" } as const;

describe("flash board", () => {
  it("shows the live step and fraction, then PASS with the device", async () => {
    ipc({ start_flash: () => ({ job_id: 7, port: "sim:1" }) });
    const board = new FlashBoard();
    await board.connect();
    const beep = vi.fn(() => true);
    board.player = beep;
    await board.start("sim:1", request);
    expect(board.isBusy("sim:1")).toBe(true);
    await emitProgress({ job_id: 7, port: "sim:1", step: "write", done: 3, total: 11, fraction: 0.3 });
    await nextFrame();
    expect(board.tiles["sim:1"]).toMatchObject({ kind: "running", step: "write", done: 3, total: 11, fraction: 0.3, jobId: 7 });
    await emitFinished(passed("sim:1", 7));
    await nextFrame();
    expect(board.tiles["sim:1"]).toMatchObject({ kind: "passed", jobId: 7 });
    expect(board.isBusy("sim:1")).toBe(false);
    expect(beep).toHaveBeenCalledWith(true, true);
  });

  it("shows FAIL with the reason, and a late progress event does not bring the job back", async () => {
    ipc({ start_flash: () => ({ job_id: 3, port: "sim:1" }) });
    const board = new FlashBoard();
    await board.connect();
    await board.start("sim:1", request);
    await emitFinished(failed("sim:1", 3, "timeout"));
    await emitProgress({ job_id: 3, port: "sim:1", step: "record", done: null, total: null, fraction: 0.95 });
    await nextFrame();
    const t = board.tiles["sim:1"];
    expect(t.kind).toBe("failed");
    if (t.kind === "failed") expect(t.error.reason).toBe("timeout");
  });

  it("draws a burst of progress once per frame, with the latest step", async () => {
    ipc({ start_flash: () => ({ job_id: 9, port: "sim:1" }) });
    const board = new FlashBoard();
    await board.start("sim:1", request);
    for (let done = 1; done <= 11; done++) board.progress({ job_id: 9, port: "sim:1", step: "write", done, total: 11, fraction: done / 11 });
    // Nothing is drawn before the frame...
    expect(board.tiles["sim:1"]).toMatchObject({ step: "connect" });
    await nextFrame();
    // ...and then only the latest step.
    expect(board.tiles["sim:1"]).toMatchObject({ step: "write", done: 11 });
  });

  it("draws running steps at most every STEP_DRAW_INTERVAL_MS, but a result at once with them", async () => {
    ipc({ start_flash: () => ({ job_id: 5, port: "sim:1" }) });
    const board = new FlashBoard();
    let clock = 1000;
    board.now = () => clock;
    await board.start("sim:1", request);
    board.progress({ job_id: 5, port: "sim:1", step: "write", done: 1, total: 11, fraction: 0.1 });
    await nextFrame();
    expect(board.tiles["sim:1"]).toMatchObject({ step: "write", done: 1 });
    // 10 ms later: the next step waits for the interval (the window is not repainted for it).
    clock += 10;
    board.progress({ job_id: 5, port: "sim:1", step: "write", done: 2, total: 11, fraction: 0.2 });
    await nextFrame();
    expect(board.tiles["sim:1"]).toMatchObject({ done: 1 });
    // The result does not wait: it is drawn at the next frame, the held step with it.
    board.finished(passed("sim:1", 5));
    await nextFrame();
    expect(board.tiles["sim:1"]).toMatchObject({ kind: "passed", jobId: 5 });
  });

  it("never starts a second flash on a busy port", async () => {
    const calls = ipc({ start_flash: () => ({ job_id: 1, port: "sim:1" }) });
    const board = new FlashBoard();
    expect(await board.start("sim:1", request)).toBe(true);
    expect(await board.start("sim:1", request)).toBe(false);
    expect(calls.filter((c) => c.cmd === "start_flash")).toHaveLength(1);
  });

  it("shows a refused start (port busy elsewhere) as a FAIL tile with the station's words", async () => {
    ipc({ start_flash: () => fail({ code: "conflict", message: "Port sim:1 is already flashing a unit.", help: "wait for that flash to finish" }) });
    const board = new FlashBoard();
    board.sounds = false;
    expect(await board.start("sim:1", request)).toBe(false);
    const t = board.tiles["sim:1"];
    expect(t.kind).toBe("failed");
    if (t.kind === "failed") expect(t.error.code).toBe("conflict");
    board.clear("sim:1");
    expect(board.tiles["sim:1"]).toBeUndefined();
  });

  it("tells subscribers when a flash ends", async () => {
    ipc({});
    const board = new FlashBoard();
    await board.connect();
    const seen: number[] = [];
    const off = board.onFinished((f) => seen.push(f.job_id));
    await emitFinished(passed("sim:2", 11));
    await nextFrame();
    off();
    await emitFinished(passed("sim:2", 12));
    await nextFrame();
    expect(seen).toEqual([11]);
  });
});
