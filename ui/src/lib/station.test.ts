import { afterEach, describe, expect, it, vi } from "vitest";
import { emit } from "@tauri-apps/api/event";
import { FlashBoard } from "./flashes.svelte.js";
import { StationController, parseTarget, targetKey } from "./station.svelte.js";
import { batch, emitFinished, fail, ipc, passed, port, reset, settle, settings, stationHandlers } from "../test/fixtures";

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
    const starts = calls.filter((c) => c.cmd === "start_gang");
    expect(starts).toHaveLength(1);
    expect(starts[0].args.ports).toEqual(["/dev/ttyUSB0", "sim:1"]);
    expect(starts[0].args.request).toEqual({ kind: "next_in_batch", batch_id: 1 });
    // Pressed again while both run: nothing new starts.
    expect(await s.flash()).toBe(0);
    expect(s.canFlash).toBe(false);
    expect(calls.filter((c) => c.cmd === "start_gang")).toHaveLength(1);
  });

  it("says what is missing instead of flashing", async () => {
    ipc(stationHandlers({ list_types: () => [], list_batches: () => [] }));
    const s = make();
    await s.load();
    expect(await s.flash()).toBe(0);
    expect(s.notStarted?.control).toBe("target");
    expect(s.notStarted?.error.message).toBe("Nothing to flash is chosen.");
    expect(s.notStarted?.error.help).toContain("Settings");
    expect(s.error).toBeNull();
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
    await s.addTypedPort("/dev/ttyACM3");
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
    expect(await s.addTypedPort("  COM7 ")).toBe(true);
    expect(await s.addTypedPort("   ")).toBe(false);
    expect(s.selected).toContain("COM7");
    expect(s.ports.find((p) => p.id === "COM7")?.kind).toBe("typed");
    await s.addTypedPort("COM7");
    expect(s.typedPorts).toHaveLength(1);
  });

  it("auto-flashes a unit plugged in, only when the switch is on", async () => {
    const calls = ipc(stationHandlers({ get_settings: () => settings({ auto_flash: false }) }));
    const s = make();
    await s.load();
    await emit("ports-changed", { arrived: ["/dev/ttyUSB1"], left: [] });
    await settle();
    expect(calls.filter((c) => c.cmd === "start_flash" || c.cmd === "start_gang")).toHaveLength(0);
    await s.setAutoFlash(true);
    expect(calls.find((c) => c.cmd === "change_setting")?.args.change).toEqual({ key: "auto_flash", value: true });
    await emit("ports-changed", { arrived: ["/dev/ttyUSB1"], left: [] });
    await settle();
    // The arrival is a press of its own, checked by the station like the button's.
    const starts = calls.filter((c) => c.cmd === "start_gang");
    expect(starts.map((c) => c.args.ports)).toEqual([["/dev/ttyUSB1"]]);
    expect(s.selected).toContain("/dev/ttyUSB1");
  });

  it("on the simulated bench, plugging in is a button", async () => {
    const calls = ipc(stationHandlers({ list_ports: () => [port("sim:1")], get_settings: () => settings({ auto_flash: true }) }));
    const s = make();
    await s.load();
    await s.simulatePlugIn();
    expect(calls.filter((c) => c.cmd === "start_gang").map((c) => c.args.ports)).toEqual([["sim:1"]]);
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

  it("reads the lists under the tiles once, after the last port of a gang finished", async () => {
    let listed = 0;
    let recent = 0;
    ipc(stationHandlers({ list_batches: () => (listed++, [batch()]), recent_results: () => (recent++, {}) }));
    const s = make();
    await s.load();
    await s.board.connect();
    const [l0, r0] = [listed, recent];
    const request = { kind: "new_device" as const, device_type: "WeatherStation", prefix: "" };
    for (const p of ["sim:1", "sim:2", "sim:3"]) {
      s.board.tiles[p] = { kind: "running", jobId: null, step: "write", fraction: 0.5, done: null, total: null, request };
    }
    await emitFinished(passed("sim:1", 1));
    await emitFinished(passed("sim:2", 2));
    await new Promise((r) => setTimeout(r, 300));
    // sim:3 still runs: nothing is read while it does (short of the longest wait).
    expect([listed - l0, recent - r0]).toEqual([0, 0]);
    await emitFinished(passed("sim:3", 3));
    await new Promise((r) => setTimeout(r, 300));
    expect([listed - l0, recent - r0]).toEqual([1, 1]);
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

describe("station line state (issue 14)", () => {
  it("finding 1: a press the station refuses before any unit is not started, next to its control", async () => {
    ipc(
      stationHandlers({
        start_gang: () =>
          fail({ code: "invalid_input", message: "invalid prefix: 'a/b' may only contain letters", help: "use letters, digits, '-' or '_'", not_started: "prefix" }),
      }),
    );
    const s = make();
    await s.load();
    s.chooseTarget("type:WeatherStation");
    s.prefix = "a/b";
    expect(await s.flash()).toBe(0);
    expect(s.notStarted?.control).toBe("prefix");
    expect(s.error).toBeNull();
    expect(Object.keys(s.board.tiles)).toHaveLength(0);
    expect(s.board.player).not.toHaveBeenCalled();
  });

  it("finding 1: a job that did not start is a neutral tile, with no FAIL sound", async () => {
    ipc(stationHandlers());
    const s = make();
    await s.load();
    await s.board.connect();
    await s.flash();
    await emitFinished({
      job_id: 1,
      port: "/dev/ttyUSB0",
      elapsed_ms: 3,
      result: {
        outcome: "failed",
        device_id: null,
        error: { code: "device", message: "cannot open /dev/ttyUSB0", help: "pick another port", reason: "port_open_failed", action: "choose_port", not_started: "port" },
      },
    });
    await new Promise((r) => setTimeout(r, 60));
    expect(s.board.tiles["/dev/ttyUSB0"]?.kind).toBe("not_started");
    expect(s.notStarted?.control).toBe("port");
    expect(s.board.player).not.toHaveBeenCalled();
  });

  it("finding 2: a completed batch leaves nothing chosen and says so", async () => {
    let done = false;
    ipc(stationHandlers({ list_batches: () => [done ? batch({ next_device_id: null, remaining: 0 }) : batch()] }));
    const s = make();
    await s.load();
    expect(s.target).toBe("batch:1");
    done = true;
    await s.refreshBatches();
    expect(s.target).toBe("");
    expect(s.request).toBeNull();
    expect(s.targetNote).toBe("Batch 1 is complete. Choose what to flash next.");
    const focus = vi.fn();
    s.focusTarget = focus;
    expect(await s.flash()).toBe(0);
    expect(focus).toHaveBeenCalledOnce();
    expect(s.notStarted?.control).toBe("target");
  });

  it("finding 3: the remembered choice comes back, and a gone target is said, not replaced", async () => {
    const calls = ipc(
      stationHandlers({
        station_choice: () => ({
          choice: { target: null, prefix: "", ports: ["sim:1"], typed_ports: ["/dev/ttyS4"] },
          dropped: { kind: "type_gone", name: "OldType" },
        }),
      }),
    );
    const s = make();
    await s.load();
    expect(s.target).toBe("");
    expect(s.targetNote).toContain("OldType no longer exists");
    expect(s.selected).toEqual(["sim:1"]);
    expect(s.typedPorts.map((p) => p.id)).toEqual(["/dev/ttyS4"]);
    s.chooseTarget("type:WeatherStation");
    s.togglePort("/dev/ttyUSB0");
    await settle();
    const saved = calls.filter((c) => c.cmd === "remember_station_choice").pop();
    expect(saved?.args.choice).toEqual({
      target: { kind: "type", name: "WeatherStation" },
      prefix: "",
      ports: ["sim:1", "/dev/ttyUSB0"],
      typed_ports: ["/dev/ttyS4"],
    });
  });

  it("finding 10: a typed path the station refuses is said next to the box; a typed port can be removed", async () => {
    ipc(
      stationHandlers({
        check_typed_port: (a) =>
          a.path === "ttyUSB9" ? fail({ code: "invalid_input", message: "'ttyUSB9' is not a port's path", help: "type the full path", not_started: "port" }) : a.path,
      }),
    );
    const s = make();
    await s.load();
    expect(await s.addTypedPort("ttyUSB9")).toBe(false);
    expect(s.typedError?.message).toContain("not a port's path");
    expect(s.typedPorts).toHaveLength(0);
    expect(await s.addTypedPort("/dev/ttyS4")).toBe(true);
    expect(s.typedError).toBeNull();
    s.removeTypedPort("/dev/ttyS4");
    expect(s.typedPorts).toHaveLength(0);
    expect(s.selected).not.toContain("/dev/ttyS4");
  });
});
