import { afterEach, describe, expect, it } from "vitest";
import FlashTile from "./FlashTile.svelte";
import type { Tile } from "../lib/flashes.svelte.js";
import { device, reset, show } from "../test/fixtures";

afterEach(reset);

const request = { kind: "new_device", device_type: "WeatherStation", prefix: "" } as const;

function render(tile: Tile | undefined, large = true) {
  return show(FlashTile, { port: "sim:1", label: "Simulated device", tile, large });
}

describe("flash tile", () => {
  it("shows the steps with the current one marked, and a progress bar", () => {
    const t = render({ kind: "running", jobId: 1, step: "write", fraction: 0.4, done: 4, total: 11, request });
    const current = t.querySelector("[aria-current=step]");
    expect(current?.textContent).toContain("Write");
    expect(current?.textContent).toContain("4/11");
    expect(t.querySelectorAll(".steps li.done")).toHaveLength(2);
    const bar = t.querySelector("[role=progressbar]");
    expect(bar?.getAttribute("aria-valuenow")).toBe("40");
  });

  it("says PASS in a word and a symbol, with the device id", () => {
    const t = render({ kind: "passed", jobId: 1, device: device(), rotated: false, hookError: null, labelPrinted: false, labelError: null, elapsedMs: 1200, request });
    const r = t.querySelector("[data-testid=result]");
    expect(r?.getAttribute("role")).toBe("status");
    expect(r?.textContent).toContain("PASS");
    expect(r?.textContent).toContain("✔");
    expect(r?.textContent).toContain("farm-weatherstation-001");
    expect(r?.textContent).toContain("1.2 s");
  });

  it("says FAIL with the reason in words and what to do", () => {
    const t = render({
      kind: "failed",
      jobId: 2,
      deviceId: "farm-weatherstation-004",
      error: { code: "device", message: "The device was unplugged or lost power.", help: "plug it back in and try again", reason: "disconnected", action: "retry" },
      elapsedMs: 800,
      request,
    });
    const r = t.querySelector("[data-testid=result]");
    expect(r?.getAttribute("role")).toBe("alert");
    expect(r?.textContent).toContain("FAIL");
    expect(r?.textContent).toContain("✖");
    expect(t.querySelector("[data-testid=result-headline]")?.textContent).toBe("The device was unplugged");
    expect(r?.textContent).toContain("What to do: Try again. Every attempt uses fresh credentials.");
    expect(r?.getAttribute("data-reason")).toBe("disconnected");
  });

  it("says the action in the operator's words, never a CLI command", () => {
    const t = render({
      kind: "failed",
      jobId: 3,
      deviceId: "farm-weatherstation-004",
      error: {
        code: "device",
        message: "The device stopped answering while saving its settings.",
        help: "keep the unit plugged in and let the station read it",
        reason: "commit_outcome_unknown",
        action: "run_recover",
      },
      elapsedMs: 800,
      request,
    });
    const what = t.querySelector("[data-testid=result] .what")?.textContent ?? "";
    expect(what).toContain("Which device is this unit?");
    expect(what).not.toContain("station recover");
    expect(what).not.toContain("--");
  });

  it("shows a hook failure without turning PASS into FAIL", () => {
    const t = render({ kind: "passed", jobId: 1, device: device(), rotated: true, hookError: "webhook: 500", labelPrinted: false, labelError: null, elapsedMs: 10, request });
    expect(t.textContent).toContain("PASS");
    expect(t.textContent).toContain("New credentials, generation 1");
    expect(t.textContent).toContain("webhook: 500");
  });
});
