import { afterEach, describe, expect, it } from "vitest";
import { BatchesController, barParts, checkBatchForm, checkNewBatch } from "./batches.svelte.js";
import { pageLabel } from "./words";
import { batch, device, fail, ipc, reset, weather } from "../test/fixtures";

afterEach(reset);

describe("batches", () => {
  it("splits the bar into flashed, failed and remaining", () => {
    expect(barParts({ count: 10, flashed: 2, failed: 1 })).toEqual({ flashed: 20, failed: 10, remaining: 70 });
    expect(barParts({ count: 3, flashed: 3, failed: 0 })).toEqual({ flashed: 100, failed: 0, remaining: 0 });
    // A device that failed and was flashed later is not counted twice.
    expect(barParts({ count: 2, flashed: 2, failed: 1 }).failed).toBe(0);
  });

  it("checks the form before asking the station", () => {
    expect(checkNewBatch("", "", "5")).toBe("Pick a device type.");
    expect(checkNewBatch("WeatherStation", "", "0")).toMatch(/whole number/);
    expect(checkNewBatch("WeatherStation", "", "2.5")).toMatch(/whole number/);
    expect(checkNewBatch("WeatherStation", "", "10001")).toMatch(/10000/);
    expect(checkNewBatch("WeatherStation", "a b", "5")).toMatch(/spaces/);
    expect(checkNewBatch("WeatherStation", "farm-", "50")).toBeNull();
    // What a bound number input really holds: a number, or null when emptied.
    expect(checkBatchForm("WeatherStation", "farm-", 50 as unknown as string, "", "")).toBeNull();
    expect(checkBatchForm("WeatherStation", "farm-", null as unknown as string, "", "")?.field).toBe("count");
  });

  it("creates a batch and lists it", async () => {
    const calls = ipc({
      search_batches: () => ({ batches: [batch({ id: 2 })], total: 1 }),
      list_types: () => [weather],
      create_batch: (a) => batch({ id: 2, ...(a.batch as object) }),
    });
    const b = new BatchesController();
    await b.load();
    expect(b.newType).toBe("WeatherStation");
    b.newPrefix = " farm- ";
    b.newCount = "50";
    b.newLot = " LOT-7A ";
    const created = await b.create();
    expect(created?.id).toBe(2);
    expect(calls.find((c) => c.cmd === "create_batch")?.args.batch).toEqual({ device_type: "WeatherStation", prefix: "farm-", count: 50, lot: "LOT-7A", work_order: null });
  });

  it("shows the station's refusal", async () => {
    ipc({
      search_batches: () => ({ batches: [], total: 0 }),
      list_types: () => [weather],
      create_batch: () => fail({ code: "invalid_input", message: "ids such as x would be too long", help: "use a shorter prefix" }),
    });
    const b = new BatchesController();
    await b.load();
    expect(await b.create()).toBeNull();
    // Next to the form, on the field it is about.
    expect(b.formError?.help).toBe("use a shorter prefix");
    expect(b.formProblem?.field).toBe("prefix");
    expect(b.error).toBeNull();
  });

  it("lists a batch's devices", async () => {
    const calls = ipc({ search_batches: () => ({ batches: [batch()], total: 1 }), list_types: () => [weather], search_devices: () => ({ devices: [device()], total: 250 }) });
    const b = new BatchesController();
    await b.load();
    await b.toggleDevices(1);
    expect(b.devices).toHaveLength(1);
    expect(b.devicesTotal).toBe(250);
    expect((calls.find((c) => c.cmd === "search_devices")?.args.query as { batch_id: number }).batch_id).toBe(1);
    await b.devicesPage(1);
    await b.devicesPage(1);
    await b.devicesPage(1);
    const offsets = calls.filter((c) => c.cmd === "search_devices").map((c) => (c.args.query as { offset: number }).offset);
    expect(offsets).toEqual([0, 100, 200]);
    await b.toggleDevices(1);
    expect(b.openId).toBeNull();
  });

  it("finding 5: a double submit is one batch; the same values again ask first", async () => {
    let release: () => void = () => {};
    const calls = ipc({
      search_batches: () => ({ batches: [], total: 0 }),
      list_types: () => [weather],
      create_batch: () => new Promise((resolve) => (release = () => resolve(batch({ id: 3 })))),
    });
    const b = new BatchesController();
    await b.load();
    const first = b.create();
    const second = b.create();
    release();
    expect((await first)?.id).toBe(3);
    expect(await second).toBeNull();
    expect(calls.filter((c) => c.cmd === "create_batch")).toHaveLength(1);
    // Enter again with the same values: nothing is created until the lead says so.
    expect(await b.create()).toBeNull();
    expect(b.repeatPending).toBe(true);
    expect(calls.filter((c) => c.cmd === "create_batch")).toHaveLength(1);
    const again = b.create(true);
    release();
    expect((await again)?.id).toBe(3);
    expect(calls.filter((c) => c.cmd === "create_batch")).toHaveLength(2);
    // A changed value is a new batch, no question asked.
    b.newCount = "11";
    b.edited();
    const changed = b.create();
    release();
    expect(await changed).not.toBeNull();
    expect(calls.filter((c) => c.cmd === "create_batch")).toHaveLength(3);
  });

  it("finding 5: close, and cancel only after the confirmation", async () => {
    const ended = (state: "closed" | "cancelled") => ({ batch: batch({ state }), unflashed: ["farm-weatherstation-004"] });
    const calls = ipc({
      search_batches: () => ({ batches: [batch()], total: 1 }),
      list_types: () => [weather],
      close_batch: () => ended("closed"),
      cancel_batch: () => ended("cancelled"),
    });
    const b = new BatchesController();
    expect((await b.close(1))?.batch.state).toBe("closed");
    expect(calls.find((c) => c.cmd === "close_batch")?.args).toEqual({ batchId: 1 });
    expect(await b.confirmCancel()).toBeNull();
    expect(calls.some((c) => c.cmd === "cancel_batch")).toBe(false);
    b.askCancel(1);
    b.cancelReason = " order withdrawn ";
    expect((await b.confirmCancel())?.batch.state).toBe("cancelled");
    expect(calls.find((c) => c.cmd === "cancel_batch")?.args).toEqual({ batchId: 1, reason: "order withdrawn" });
    expect(b.cancelling).toBeNull();
    expect(b.ended?.unflashed).toEqual(["farm-weatherstation-004"]);
  });

  it("finding 6: pages of batches with the total", async () => {
    const calls = ipc({ search_batches: () => ({ batches: [batch()], total: 45 }), list_types: () => [weather] });
    const b = new BatchesController();
    await b.load();
    await b.page(1);
    await b.page(1);
    await b.page(1);
    const offsets = calls.filter((c) => c.cmd === "search_batches").map((c) => (c.args.query as { offset: number }).offset);
    expect(offsets).toEqual([0, 20, 40]);
    expect(pageLabel(9900, 100, 10000)).toBe("Showing 9901–10000 of 10000");
    b.search = " LOT-7A ";
    await b.find();
    expect(calls.filter((c) => c.cmd === "search_batches").pop()?.args.query).toEqual({ search: "LOT-7A", limit: 20, offset: 0 });
  });

  it("exports through the save dialog; cancelling is not an error", async () => {
    let answer: unknown = { path: "/home/lead/batch-1.csv", rows: 10 };
    const calls = ipc({ export_batch: () => answer });
    const b = new BatchesController();
    expect(await b.export(1, "csv")).toEqual({ path: "/home/lead/batch-1.csv", rows: 10 });
    expect(calls[0].args).toEqual({ batchId: 1, format: "csv" });
    expect(b.exporting).toBeNull();
    answer = null;
    expect(await b.export(1, "json")).toBeNull();
    expect(b.error).toBeNull();
  });
});
