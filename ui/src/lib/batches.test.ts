import { afterEach, describe, expect, it } from "vitest";
import { BatchesController, barParts, checkNewBatch } from "./batches.svelte.js";
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
  });

  it("creates a batch and lists it", async () => {
    const calls = ipc({
      list_batches: () => [batch({ id: 2 })],
      list_types: () => [weather],
      create_batch: (a) => batch({ id: 2, ...(a.batch as object) }),
    });
    const b = new BatchesController();
    await b.load();
    expect(b.newType).toBe("WeatherStation");
    b.newPrefix = " farm- ";
    b.newCount = "50";
    const created = await b.create();
    expect(created?.id).toBe(2);
    expect(calls.find((c) => c.cmd === "create_batch")?.args.batch).toEqual({ device_type: "WeatherStation", prefix: "farm-", count: 50 });
  });

  it("shows the station's refusal", async () => {
    ipc({
      list_batches: () => [],
      list_types: () => [weather],
      create_batch: () => fail({ code: "invalid_input", message: "ids would be too long", help: "use a shorter prefix" }),
    });
    const b = new BatchesController();
    await b.load();
    expect(await b.create()).toBeNull();
    expect(b.error?.help).toBe("use a shorter prefix");
  });

  it("lists a batch's devices", async () => {
    const calls = ipc({ list_batches: () => [batch()], list_types: () => [weather], search_devices: () => [device()] });
    const b = new BatchesController();
    await b.load();
    await b.toggleDevices(1);
    expect(b.devices).toHaveLength(1);
    expect((calls.find((c) => c.cmd === "search_devices")?.args.query as { batch_id: number }).batch_id).toBe(1);
    await b.toggleDevices(1);
    expect(b.openId).toBeNull();
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
