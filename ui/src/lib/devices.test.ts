import { afterEach, describe, expect, it, vi } from "vitest";
import { DevicesController } from "./devices.svelte.js";
import { FlashBoard } from "./flashes.svelte.js";
import { device, emitFinished, fail, failed, ipc, nextFrame, passed, port, reset } from "../test/fixtures";
import { unitLine } from "./words";

afterEach(reset);

function make() {
  const board = new FlashBoard();
  board.player = vi.fn(() => false);
  return new DevicesController(board);
}

const detail = (over = {}) => ({
  device: device(over),
  history: [{ kind: "created", generation: null, detail: "batch 1", operator: "alice", station_id: "line-1", at: "2026-11-26T10:00:00Z" }],
  server: null,
});

describe("devices", () => {
  it("searches by text and status", async () => {
    const calls = ipc({ list_ports: () => [port("sim:1")], search_devices: () => ({ devices: [device()], total: 1 }) });
    const d = make();
    await d.load();
    d.search = "  AB12 ";
    d.status = "provisioning";
    await d.run();
    const q = calls.filter((c) => c.cmd === "search_devices").pop()?.args.query;
    expect(q).toEqual({ search: "AB12", status: "provisioning", flash_state: null, batch_id: null, active: null, limit: 200, offset: 0 });
    expect(d.results).toHaveLength(1);
    expect(d.total).toBe(1);
    expect(d.reflashPort).toBe("sim:1");
  });

  it("finding 6: pages through results with the total instead of stopping silently", async () => {
    const calls = ipc({ list_ports: () => [], search_devices: (a) => ({ devices: [device()], total: 450, offset: (a.query as { offset: number }).offset }) });
    const d = make();
    await d.find();
    expect(d.total).toBe(450);
    await d.page(1);
    await d.page(1);
    await d.page(1);
    const offsets = calls.filter((c) => c.cmd === "search_devices").map((c) => (c.args.query as { offset: number }).offset);
    expect(offsets).toEqual([0, 200, 400]);
    await d.find();
    expect(d.offset).toBe(0);
  });

  it("identifies the unit on the port and opens its device when the station knows it", async () => {
    const unit = { port: "sim:1", hardware_id: "AB12", firmware_version: "1.4", device_id: "farm-weatherstation-001", generation: 2, known: true, recovered: [] };
    const calls = ipc({ list_ports: () => [port("sim:1")], search_devices: () => ({ devices: [], total: 0 }), identify_unit: () => unit, device_detail: () => detail() });
    const d = make();
    await d.load();
    expect(await d.identify()).toBe(true);
    expect(calls.find((c) => c.cmd === "identify_unit")?.args.port).toBe("sim:1");
    expect(d.unit).toEqual(unit);
    expect(d.detail?.device.device_id).toBe("farm-weatherstation-001");
  });

  it("says a blank or foreign unit in words and opens nothing", async () => {
    let unit = { port: "sim:1", hardware_id: "AB12", firmware_version: "1.4", device_id: null as string | null, generation: null as number | null, known: false, recovered: [] as string[] };
    const calls = ipc({ list_ports: () => [port("sim:1")], search_devices: () => ({ devices: [], total: 0 }), identify_unit: () => unit });
    const d = make();
    await d.load();
    await d.identify();
    expect(unitLine(d.unit!)).toBe("Unit AB12 (firmware 1.4) on sim:1 holds no device identity: provision it on the Station screen.");
    unit = { ...unit, device_id: "other-001", generation: 1, recovered: ["farm-weatherstation-004"] };
    await d.identify();
    expect(unitLine(d.unit!)).toContain("holds other-001, generation 1, which this station has no record of");
    expect(unitLine(d.unit!)).toContain("Settled an unconfirmed flash of farm-weatherstation-004.");
    expect(d.detail).toBeNull();
    expect(calls.some((c) => c.cmd === "device_detail")).toBe(false);
  });

  it("reports a unit that does not answer, and keeps nothing of an earlier read", async () => {
    ipc({
      list_ports: () => [port("sim:1")],
      search_devices: () => ({ devices: [], total: 0 }),
      identify_unit: () => fail({ code: "device", message: "The device did not answer.", help: "check the cable", reason: "timeout" }),
    });
    const d = make();
    await d.load();
    expect(await d.identify()).toBe(false);
    expect(d.unit).toBeNull();
    expect(d.error?.reason).toBe("timeout");
    expect(d.identifying).toBe(false);
  });

  it("opens a device with its history", async () => {
    ipc({ device_detail: () => detail() });
    const d = make();
    await d.open("farm-weatherstation-001");
    expect(d.detail?.history[0].kind).toBe("created");
  });

  it("rotates and re-flashes the open device on the chosen port", async () => {
    const calls = ipc({ device_detail: () => detail(), start_flash: (a) => ({ job_id: 5, port: a.port }) });
    const d = make();
    await d.open("farm-weatherstation-001");
    d.reflashPort = "/dev/ttyUSB0";
    expect(await d.rotateAndReflash()).toBe(true);
    const start = calls.find((c) => c.cmd === "start_flash");
    expect(start?.args).toEqual({ port: "/dev/ttyUSB0", request: { kind: "reflash", device_id: "farm-weatherstation-001", confirm_unbound: false } });
    expect(d.reflashTile?.port).toBe("/dev/ttyUSB0");
  });

  it("refreshes the open device when its flash ends, while the screen is shown", async () => {
    let generation = 1;
    ipc({ device_detail: () => detail({ generation }), search_devices: () => ({ devices: [], total: 0 }) });
    const d = make();
    await d.board.connect();
    await d.open("farm-weatherstation-001");
    d.active = true;
    generation = 2;
    await emitFinished(passed("sim:1", 1, device({ generation: 2 })));
    await nextFrame();
    expect(d.detail?.device.generation).toBe(2);
  });

  it("re-flashes a device with no unit on record only after the operator confirms it", async () => {
    const calls = ipc({ device_detail: () => detail({ hardware_id: null }), start_flash: (a) => ({ job_id: 7, port: a.port }), search_devices: () => ({ devices: [], total: 0 }) });
    const d = make();
    await d.board.connect();
    await d.open("farm-weatherstation-001");
    d.active = true;
    d.reflashPort = "sim:1";
    expect(await d.rotateAndReflash()).toBe(true);
    expect(d.confirmingUnbound).toBe(false);
    const refused = failed("sim:1", 7, "unbound_device");
    if (refused.result.outcome === "failed") refused.result.device_id = "farm-weatherstation-001";
    await emitFinished(refused);
    await nextFrame();
    expect(d.confirmingUnbound).toBe(true);
    d.cancelUnbound();
    expect(d.confirmingUnbound).toBe(false);
    d.confirmingUnbound = true;
    expect(await d.rotateAndReflash(true)).toBe(true);
    const starts = calls.filter((c) => c.cmd === "start_flash").map((c) => c.args.request);
    expect(starts).toEqual([
      { kind: "reflash", device_id: "farm-weatherstation-001", confirm_unbound: false },
      { kind: "reflash", device_id: "farm-weatherstation-001", confirm_unbound: true },
    ]);
    expect(d.confirmingUnbound).toBe(false);
  });

  it("deactivates only after a confirmation, with the reason", async () => {
    let active = true;
    const calls = ipc({
      device_detail: () => detail({ is_active: active }),
      deactivate_device: () => ((active = false), device({ is_active: false })),
      search_devices: () => ({ devices: [], total: 0 }),
    });
    const d = make();
    await d.open("farm-weatherstation-001");
    d.askDeactivate();
    expect(d.confirming).toBe(true);
    d.cancelDeactivate();
    expect(calls.some((c) => c.cmd === "deactivate_device")).toBe(false);
    d.askDeactivate();
    d.reason = " returned ";
    expect(await d.confirmDeactivate()).toBe(true);
    expect(calls.find((c) => c.cmd === "deactivate_device")?.args).toEqual({ deviceId: "farm-weatherstation-001", reason: "returned" });
    expect(d.detail?.device.is_active).toBe(false);
    expect(d.confirming).toBe(false);
  });
});
