import { afterEach, describe, expect, it, vi } from "vitest";
import { emit } from "@tauri-apps/api/event";
import { FlashBoard } from "./flashes.svelte.js";
import { StationController, parseTarget, targetKey } from "./station.svelte.js";
import { batch, emitFinished, ipc, passed, port, reset, settle, settings, stationHandlers } from "../test/fixtures";

afterEach(reset);

function make() {
  const board = new FlashBoard();
  board.player = vi.fn(() => false);
  return new StationController(board);
}

describe("station", () => {
  it("round-trips targets", () => {
    expect(parseTarget(targetKey({ kind: "batch", batchId: 4 }))).toEqual({ kind: "batch", batchId: 4 });
    expect(parseTarget("type:WeatherStation")).toEqual({ kind: "type", name: "WeatherStation" });
    expect(parseTarget("batch:x")).toBeNull();
    expect(parseTarget("")).toBeNull();
  });

  it("defaults to the open batch and the USB port", async () => {
    ipc(stationHandlers());
    const s = make();
    await s.load();
    expect(s.target).toBe("batch:1");
    expect(s.selected).toEqual(["/dev/ttyUSB0"]);
    expect(s.request).toEqual({ kind: "next_in_batch", batch_id: 1 });
    expect(s.shift?.passed).toBe(3);
    expect(s.canFlash).toBe(true);
  });

  it("defaults to a new device of the first type and the simulated device when nothing else is there", async () => {
    ipc(stationHandlers({ list_batches: () => [batch({ next_device_id: null, remaining: 0 })], list_ports: () => [port("sim:1")] }));
    const s = make();
    await s.load();
    expect(s.target).toBe("type:WeatherStation");
    expect(s.selected).toEqual(["sim:1"]);
    s.prefix = " line3- ";
    expect(s.request).toEqual({ kind: "new_device", device_type: "WeatherStation", prefix: "line3-" });
  });

  it("flashes every selected free port, once", async () => {
    const calls = ipc(stationHandlers());
    const s = make();
    await s.load();
    s.togglePort("sim:1");
    expect(await s.flash()).toBe(2);
    const starts = calls.filter((c) => c.cmd === "start_flash");
    expect(starts.map((c) => c.args.port)).toEqual(["/dev/ttyUSB0", "sim:1"]);
    expect(starts[0].args.request).toEqual({ kind: "next_in_batch", batch_id: 1 });
    // Pressed again while both run: nothing new starts.
    expect(await s.flash()).toBe(0);
    expect(s.canFlash).toBe(false);
    expect(calls.filter((c) => c.cmd === "start_flash")).toHaveLength(2);
  });

  it("says what is missing instead of flashing", async () => {
    ipc(stationHandlers({ list_types: () => [], list_batches: () => [] }));
    const s = make();
    await s.load();
    expect(await s.flash()).toBe(0);
    expect(s.error?.message).toBe("Nothing to flash is chosen.");
    expect(s.error?.help).toContain("Settings");
  });

  // Regression: the app E2E run flashed two devices when one was meant. The operator deselected
  // the simulated port while the screen's refresh was still in flight; the refresh found nothing
  // selected and picked the default port again, so the next press flashed it too.
  it("never reselects a port the operator deselected (refresh_reselected_deselected_port)", async () => {
    ipc(stationHandlers({ list_ports: () => [port("sim:1")] }));
    const s = make();
    await s.load();
    expect(s.selected).toEqual(["sim:1"]);
    const refresh = s.load();
    expect(s.refreshing).toBe(true);
    s.togglePort("sim:1");
    s.addTypedPort("/dev/ttyACM3");
    await refresh;
    expect(s.refreshing).toBe(false);
    expect(s.selected).toEqual(["/dev/ttyACM3"]);
    s.togglePort("/dev/ttyACM3");
    await s.load();
    expect(s.selected).toEqual([]);
  });

  it("takes a typed port path, portable to Windows names", async () => {
    ipc(stationHandlers());
    const s = make();
    await s.load();
    expect(s.addTypedPort("  COM7 ")).toBe(true);
    expect(s.addTypedPort("   ")).toBe(false);
    expect(s.selected).toContain("COM7");
    expect(s.ports.find((p) => p.id === "COM7")?.kind).toBe("typed");
    s.addTypedPort("COM7");
    expect(s.typedPorts).toHaveLength(1);
  });

  it("auto-flashes a unit plugged in, only when the switch is on", async () => {
    const calls = ipc(stationHandlers({ get_settings: () => settings({ auto_flash: false }) }));
    const s = make();
    await s.load();
    await emit("ports-changed", { arrived: ["/dev/ttyUSB1"], left: [] });
    await settle();
    expect(calls.filter((c) => c.cmd === "start_flash")).toHaveLength(0);
    await s.setAutoFlash(true);
    expect(calls.find((c) => c.cmd === "change_setting")?.args.change).toEqual({ key: "auto_flash", value: true });
    await emit("ports-changed", { arrived: ["/dev/ttyUSB1"], left: [] });
    await settle();
    const starts = calls.filter((c) => c.cmd === "start_flash");
    expect(starts.map((c) => c.args.port)).toEqual(["/dev/ttyUSB1"]);
    expect(s.selected).toContain("/dev/ttyUSB1");
  });

  it("on the simulated bench, plugging in is a button", async () => {
    const calls = ipc(stationHandlers({ list_ports: () => [port("sim:1")], get_settings: () => settings({ auto_flash: true }) }));
    const s = make();
    await s.load();
    await s.simulatePlugIn();
    expect(calls.filter((c) => c.cmd === "start_flash").map((c) => c.args.port)).toEqual(["sim:1"]);
  });

  it("updates the counters and the batch progress when flashes end", async () => {
    let listed = 0;
    ipc(stationHandlers({ list_batches: () => (listed++, [batch()]) }));
    const s = make();
    await s.load();
    await s.board.connect();
    await emit("shift-changed", { started_at: "2026-11-26T06:00:00Z", passed: 4, failed: 1, per_hour: 50 });
    await emitFinished(passed("/dev/ttyUSB0", 1));
    await emitFinished(passed("sim:1", 2));
    await new Promise((r) => setTimeout(r, 350));
    expect(s.shift?.passed).toBe(4);
    // Two results close together refresh the batches once (after the first load).
    expect(listed).toBe(2);
    await s.newShift();
    expect(s.shift?.passed).toBe(0);
  });

  it("shows the credentials ready, reading the pool again only while it refills", async () => {
    let reads = 0;
    ipc(stationHandlers({ pool_status: () => ({ ready: Math.min(reads++, 2), target: 2, filling: true, algorithm: "argon2" }) }));
    const s = make();
    await s.refreshPool(5);
    expect(s.pool?.ready).toBe(0);
    await new Promise((r) => setTimeout(r, 80));
    expect(s.pool?.ready).toBe(2);
    expect(reads).toBe(3);
  });

  it("lists busy ports not selected any more as tiles too", async () => {
    ipc(stationHandlers());
    const s = make();
    await s.load();
    await s.flash();
    s.togglePort("/dev/ttyUSB0");
    expect(s.selected).toEqual([]);
    expect(s.tilePorts).toEqual(["/dev/ttyUSB0"]);
  });
});
