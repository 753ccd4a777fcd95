import { describe, expect, it } from "vitest";
import { ACTION_WORDS, failureHeadline, percent, serverLine, when, whatToDo } from "./words";

describe("words", () => {
  it("names a failure by its reason first, then by its code", () => {
    expect(failureHeadline("device", "timeout")).toBe("The device did not answer");
    expect(failureHeadline("device", "storage_full")).toBe("The device's memory is full");
    expect(failureHeadline("conflict", null)).toBe("Cannot do that now");
    expect(failureHeadline("device", "something_new")).toBe("Flash failed");
  });

  it("says every action without naming a CLI command or flag", () => {
    for (const [action, words] of Object.entries(ACTION_WORDS)) {
      expect(words, action).not.toMatch(/`|station (flash|reflash|recover)|--/);
      expect(words.length, action).toBeGreaterThan(0);
    }
  });

  it("shows the action's words, or the specific help when the fix depends on the input", () => {
    expect(whatToDo({ action: "free_port", help: "close it" })).toBe(ACTION_WORDS.free_port);
    expect(whatToDo({ action: "fix_input", help: "use a shorter prefix" })).toBe("use a shorter prefix");
  });

  it("shows times as 24-hour ISO-style local times", () => {
    const s = when("2026-11-26T10:05:09Z");
    expect(s).toMatch(/^2026-11-2\d \d\d:\d5:09$/);
    expect(when(null)).toBe("—");
    expect(when("not a time")).toBe("not a time");
  });

  it("clamps percentages", () => {
    expect(percent(0.5)).toBe("50%");
    expect(percent(1.7)).toBe("100%");
    expect(percent(-1)).toBe("0%");
  });

  it("says what the server last reported about a device", () => {
    expect(serverLine(null, 1)).toBe("Not reported yet: the station asks after each sync.");
    const report = { status: "online", last_seen: "2026-11-26T10:05:00Z", is_active: true, generation: 2, fetched_at: "2026-11-26T10:06:00Z" };
    const line = serverLine(report, 2);
    expect(line).toContain("Online · last seen ");
    expect(line).toContain("generation 2 · as of ");
    expect(line).not.toContain("waiting");
    const behind = serverLine({ ...report, last_seen: null, is_active: false }, 3);
    expect(behind).toContain("never seen");
    expect(behind).toContain("generation 2 (older than the station's 3: waiting for sync)");
    expect(behind).toContain("deactivated on the server");
  });
});
