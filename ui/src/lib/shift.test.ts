import { afterEach, describe, expect, it, vi } from "vitest";
import type { ShiftReport } from "./bindings";
import { FlashBoard } from "./flashes.svelte.js";
import { ShiftController, endQuestion, yieldText } from "./shift.svelte.js";
import { StationController } from "./station.svelte.js";
import { emitFinished, fail, ipc, nextFrame, passed, reset, settings, stationHandlers } from "../test/fixtures";

afterEach(reset);

function report(over: Partial<ShiftReport> = {}): ShiftReport {
  return {
    id: 3,
    station_id: "line-1",
    started_at: "2026-11-29 06:00:00",
    ended_at: null,
    utc_offset: "+01:00",
    operators: ["alice"],
    passed: 41,
    failed: 2,
    failed_by_reason: [{ reason: "timeout", count: 2 }],
    units_attempted: 42,
    first_pass_passed: 40,
    first_pass_yield_percent: 95.2,
    units_per_hour: 20.5,
    ...over,
  };
}

/** The station's answer to a press while the lead requires a sign-in and nobody is signed in. */
function refusedForSignIn(): never {
  return fail({
    code: "sign_in_required",
    message: "operator sign-in is required and nobody is signed in",
    help: "sign in with your name or badge, then start the flash again; nothing was started",
    action: "fix_input",
    not_started: "operator",
  });
}

function station() {
  const board = new FlashBoard();
  board.player = vi.fn(() => false);
  return new StationController(board);
}

describe("operator sign-in", () => {
  it("sign_in_required_blocks_flash_without_fail: nothing starts and no tile turns red", async () => {
    const calls = ipc(stationHandlers({ operator_state: () => ({ operator: null, required: true }), start_gang: refusedForSignIn }));
    const s = station();
    await s.load();
    await s.operator.load();
    expect(await s.flash()).toBe(0);
    // The station's refusal is the rule; the screen says it at the sign-in box.
    expect(calls.filter((c) => c.cmd === "start_gang")).toHaveLength(1);
    expect(s.notStarted?.control).toBe("operator");
    expect(s.error).toBeNull();
    expect(Object.keys(s.board.tiles)).toHaveLength(0);
    s.signedIn();
    expect(s.notStarted).toBeNull();
  });

  it("auto-flash with nobody signed in: the arrival is refused at the sign-in box, no tile changes", async () => {
    const calls = ipc(
      stationHandlers({
        operator_state: () => ({ operator: null, required: true }),
        get_settings: () => settings({ auto_flash: true }),
        start_gang: refusedForSignIn,
      }),
    );
    const s = station();
    await s.load();
    await s.operator.load();
    await s.portsChanged(["/dev/ttyUSB1"]);
    expect(calls.filter((c) => c.cmd === "start_gang").map((c) => c.args.ports)).toEqual([["/dev/ttyUSB1"]]);
    expect(calls.some((c) => c.cmd === "start_flash")).toBe(false);
    expect(s.notStarted?.control).toBe("operator");
    expect(Object.keys(s.board.tiles)).toHaveLength(0);
  });

  it("signs in with what was typed or scanned, and then flashes", async () => {
    ipc(
      stationHandlers({
        operator_state: () => ({ operator: null, required: true }),
        sign_in: (a) => ({ operator: String(a.name).trim(), required: true }),
      }),
    );
    const s = station();
    await s.load();
    await s.operator.load();
    s.operator.typed = "badge-4711";
    expect(await s.operator.signIn()).toBe(true);
    expect(s.operator.state?.operator).toBe("badge-4711");
    expect(s.operator.typed).toBe("");
    expect(await s.flash()).toBe(1);
  });
});

describe("shift", () => {
  it("asks 'End shift? N passed, M failed' before it ends", async () => {
    let ended = false;
    ipc({
      shifts: () => ({ running: report(), past: [] }),
      end_shift: () => ((ended = true), { running: null, past: [report({ ended_at: "2026-11-29 14:00:00" })] }),
    });
    const c = new ShiftController();
    await c.load();
    expect(endQuestion(c.running!)).toBe("End shift? 41 passed, 2 failed.");
    c.askEnd();
    c.cancelEnd();
    expect(ended).toBe(false);
    c.askEnd();
    await c.confirmEnd();
    expect(ended).toBe(true);
    expect(c.running).toBeNull();
    expect(c.shifts?.past[0].ended_at).toBe("2026-11-29 14:00:00");
  });

  it("words the yield and keeps a cancelled save quiet", async () => {
    ipc({ save_shift_report: () => null });
    expect(yieldText(report())).toBe("95.2 %");
    expect(yieldText(report({ first_pass_yield_percent: null }))).toBe("—");
    const c = new ShiftController();
    await c.save(3, "page");
    expect(c.saved).toBeNull();
    expect(c.error).toBeNull();
  });
});

describe("scan to link", () => {
  it("says whether the scan was linked now or waits for the next pass, and reports the link", async () => {
    ipc(
      stationHandlers({
        scan_unit_label: (a) =>
          a.serial === "SN-1"
            ? { kind: "waiting", serial: "SN-1", port: a.port }
            : { kind: "linked", serial: a.serial, device_id: "farm-weatherstation-001" },
      }),
    );
    const s = station();
    await s.load();
    await s.board.connect();
    s.scans.typed = "SN-1";
    await s.scans.scan("/dev/ttyUSB0");
    expect(s.scans.note?.kind).toBe("waiting");
    expect(s.scans.note?.text).toContain("next unit that passes on /dev/ttyUSB0");
    const f = passed("/dev/ttyUSB0", 1);
    if (f.result.outcome === "passed") f.result.unit_link = { kind: "linked", serial: "SN-1", device_id: "farm-weatherstation-001" };
    await emitFinished(f);
    await nextFrame();
    expect(s.scans.note?.text).toBe("Linked SN-1 to farm-weatherstation-001, the unit that just passed on /dev/ttyUSB0.");
    s.scans.typed = "SN-2";
    await s.scans.scan("/dev/ttyUSB0");
    expect(s.scans.note?.kind).toBe("linked");
  });
});
