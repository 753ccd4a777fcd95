import { afterEach, describe, expect, it, vi } from "vitest";
import { flushSync } from "svelte";
import Station from "./Station.svelte";
import { FlashBoard } from "../lib/flashes.svelte.js";
import { StationController } from "../lib/station.svelte.js";
import { fail, ipc, reset, settings, settle, show, stationHandlers } from "../test/fixtures";

afterEach(reset);

async function render(handlers = stationHandlers()) {
  const calls = ipc(handlers);
  const board = new FlashBoard();
  board.player = vi.fn(() => false);
  const station = new StationController(board);
  const ready = vi.fn();
  const goto = vi.fn();
  const target = show(Station, { station, onready: ready, ongoto: goto });
  await settle();
  flushSync();
  return { target, calls, ready, goto, station };
}

function key(el: Element | Window, k: string) {
  el.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true }));
}

/** What a keyboard-wedge scanner does: type the text into the box, then Enter. */
async function scanInto(target: Element, css: string, text: string) {
  const box = target.querySelector<HTMLInputElement>(css)!;
  box.value = text;
  box.dispatchEvent(new Event("input", { bubbles: true }));
  key(box, "Enter");
  await settle();
  flushSync();
}

describe("station screen", () => {
  it("is ready once loaded, and offers the ports with their identity", async () => {
    const { target, ready } = await render();
    expect(target.querySelector("[data-testid=station-screen]")?.getAttribute("data-ready")).toBe("true");
    expect(ready).toHaveBeenCalledOnce();
    const ports = [...target.querySelectorAll("[data-testid=port]")];
    expect(ports.map((p) => p.getAttribute("data-port"))).toEqual(["/dev/ttyUSB0", "sim:1"]);
    expect(ports[0].getAttribute("aria-pressed")).toBe("true");
    expect(ports[1].textContent).toContain("Simulated device");
  });

  it("shows how many credential sets are ready", async () => {
    const { target } = await render();
    expect(target.querySelector("[data-testid=pool]")?.textContent).toContain("Credentials ready 2");
  });

  it("Enter anywhere on the screen presses the big button", async () => {
    const { calls, target } = await render();
    key(document.body, "Enter");
    await settle();
    expect(calls.filter((c) => c.cmd === "start_gang")).toHaveLength(1);
    flushSync();
    expect(target.querySelector("[data-testid=tile]")?.getAttribute("data-state")).toBe("running");
  });

  it("Enter on another button or in the typed-path box does not start a flash", async () => {
    const { calls, target } = await render();
    const typed = target.querySelector<HTMLInputElement>("#typed-port");
    key(typed!, "Enter");
    const port = target.querySelector("[data-testid=port]");
    key(port!, "Enter");
    await settle();
    expect(calls.filter((c) => c.cmd === "start_gang")).toHaveLength(0);
  });

  it("adds a typed port path", async () => {
    const { target, station } = await render();
    const typed = target.querySelector<HTMLInputElement>("#typed-port")!;
    typed.value = "/dev/ttyACM3";
    typed.dispatchEvent(new Event("input", { bubbles: true }));
    typed.form!.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    await settle();
    flushSync();
    expect(station.selected).toContain("/dev/ttyACM3");
    expect(target.querySelector("[data-port='/dev/ttyACM3']")).not.toBeNull();
  });

  it("with no device type, says so and leads to Settings", async () => {
    const { target, goto } = await render(stationHandlers({ list_types: () => [], list_batches: () => [] }));
    expect(target.textContent).toContain("No device types yet");
    const button = [...target.querySelectorAll("button")].find((b) => b.textContent?.includes("Settings"));
    button!.click();
    expect(goto).toHaveBeenCalledWith("settings");
    expect(target.querySelector<HTMLButtonElement>("[data-testid=flash-button]")!.disabled).toBe(true);
  });

  it("every control is a native, focusable control with a name", async () => {
    const { target } = await render();
    for (const b of target.querySelectorAll("button")) {
      expect(b.textContent?.trim().length, b.outerHTML).toBeGreaterThan(0);
      expect(b.tabIndex).toBe(0);
    }
    for (const i of target.querySelectorAll("input, select")) {
      const id = i.getAttribute("id");
      expect(id && target.querySelector(`label[for="${id}"]`), i.outerHTML).toBeTruthy();
    }
  });

  it("shows the shift counters", async () => {
    const { target } = await render();
    expect(target.querySelector("[data-testid=count-passed]")?.textContent).toBe("3");
    expect(target.querySelector("[data-testid=count-failed]")?.textContent).toBe("1");
    expect(target.querySelector("[data-testid=counters]")?.textContent).toContain("42");
  });

  it("finding 9: shows the operator, or no operator, and a simulated fault set in Settings", async () => {
    let { target } = await render(
      stationHandlers({
        get_settings: () => settings({ operator: "", sim_fault: "refuses_to_save" }),
        operator_state: () => ({ operator: null, required: false }),
      }),
    );
    // Nobody signed in: the operator bar asks for a name or badge instead of naming anyone.
    expect(target.querySelector("[data-testid=station-operator]")?.getAttribute("data-operator")).toBe("");
    expect(target.querySelector("[data-testid=sign-in-input]")).not.toBeNull();
    expect(target.querySelector("[data-testid=sim-fault-badge]")?.textContent).toContain("refuses to save");
    reset();
    ({ target } = await render());
    expect(target.querySelector("[data-testid=station-operator]")?.textContent).toContain("alice");
    expect(target.querySelector("[data-testid=sim-fault-badge]")).toBeNull();
  });

  it("per-port recent results: PASS, FAIL and not started, with a device or 'no device'", async () => {
    const { target } = await render(
      stationHandlers({
        recent_results: () => ({
          "/dev/ttyUSB0": [
            { job_id: 3, finished_at_ms: Date.UTC(2026, 10, 29, 10, 0, 0), outcome: { kind: "not_started", control: "port" }, device_id: null, code: "device", reason: "port_busy", message: "busy" },
            { job_id: 2, finished_at_ms: Date.UTC(2026, 10, 29, 9, 59, 0), outcome: { kind: "failed" }, device_id: "farm-weatherstation-004", code: "device", reason: "timeout", message: "no answer" },
            { job_id: 1, finished_at_ms: Date.UTC(2026, 10, 29, 9, 58, 0), outcome: { kind: "passed" }, device_id: "farm-weatherstation-003", code: null, reason: null, message: null },
          ],
        }),
      }),
    );
    const rows = [...target.querySelectorAll("[data-testid=recent][data-port='/dev/ttyUSB0'] li")];
    expect(rows.map((r) => r.getAttribute("data-outcome"))).toEqual(["not_started", "failed", "passed"]);
    expect(rows[0].textContent).toContain("no device");
    expect(rows[0].textContent).toContain("Another program is using the port");
    expect(rows[1].textContent).toContain("FAIL");
    expect(rows[2].textContent).toContain("farm-weatherstation-003");
  });
});

describe("operator and scan boxes on the station screen", () => {
  it("a badge scanner's Enter in the sign-in box signs in and never starts a flash", async () => {
    const { target, calls } = await render(
      stationHandlers({
        operator_state: () => ({ operator: null, required: false }),
        sign_in: (a) => ({ operator: a.name, required: false }),
      }),
    );
    await settle();
    flushSync();
    await scanInto(target, "[data-testid=sign-in-input]", "BADGE-4711");
    expect(calls.filter((c) => c.cmd === "sign_in").map((c) => c.args.name)).toEqual(["BADGE-4711"]);
    expect(calls.some((c) => c.cmd === "start_flash" || c.cmd === "start_gang")).toBe(false);
    expect(target.querySelector("[data-testid=operator-name]")?.textContent).toBe("BADGE-4711");
  });

  it("a press the station refuses for want of a sign-in is said at the sign-in box until someone signs in", async () => {
    let operator: string | null = null;
    const { target, calls } = await render(
      stationHandlers({
        operator_state: () => ({ operator, required: true }),
        sign_in: (a) => ((operator = String(a.name)), { operator, required: true }),
        start_gang: () =>
          fail({ code: "sign_in_required", message: "operator sign-in is required and nobody is signed in", not_started: "operator" }),
      }),
    );
    key(document.body, "Enter");
    await settle();
    flushSync();
    expect(calls.filter((c) => c.cmd === "start_gang")).toHaveLength(1);
    expect(target.querySelector("[data-testid=operator-not-started]")?.textContent).toContain("nobody is signed in");
    expect([...target.querySelectorAll("[data-testid=tile]")].map((t) => t.getAttribute("data-state"))).toEqual(["idle"]);
    expect(target.querySelector("[data-testid=error-box]")).toBeNull();
    await scanInto(target, "[data-testid=sign-in-input]", "ana");
    expect(target.querySelector("[data-testid=operator-name]")?.textContent).toBe("ana");
    expect(target.querySelector("[data-testid=operator-not-started]")).toBeNull();
  });

  it("a label scanner's Enter in the scan box links and never starts a flash", async () => {
    const { target, calls } = await render(
      stationHandlers({ scan_unit_label: (a) => ({ kind: "waiting", serial: a.serial, port: a.port }) }),
    );
    await scanInto(target, "[data-testid=scan-input]", "SN-1");
    expect(calls.filter((c) => c.cmd === "scan_unit_label").map((c) => c.args)).toEqual([{ port: "/dev/ttyUSB0", serial: "SN-1" }]);
    expect(calls.some((c) => c.cmd === "start_flash")).toBe(false);
    expect(target.querySelector("[data-testid=scan-result]")?.textContent).toContain("SN-1 will be linked to the next unit");
  });
});
