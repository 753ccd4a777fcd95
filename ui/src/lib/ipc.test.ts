import { afterEach, describe, expect, it } from "vitest";
import { call, commands, enableAudit, IpcError, onShiftChanged, toAppError } from "./ipc";
import { fail, ipc, reset, settle, shift } from "../test/fixtures";
import { emit } from "@tauri-apps/api/event";

afterEach(() => {
  reset();
  delete window.__stationIpcAudit;
});

describe("ipc", () => {
  it("returns a command's data", async () => {
    ipc({ shift: () => shift });
    await expect(call(commands.shift())).resolves.toEqual(shift);
  });

  it("turns a command's error into an IpcError with the stable code, message and help", async () => {
    ipc({ shift: () => fail({ code: "database_busy", message: "busy", help: "wait", reason: null }) });
    const e = await call(commands.shift()).catch((x) => x);
    expect(e).toBeInstanceOf(IpcError);
    expect(e.code).toBe("database_busy");
    expect(e.error.help).toBe("wait");
  });

  it("treats a framework failure (a bare string) as an internal error", () => {
    expect(toAppError("command not found")).toEqual({
      code: "internal",
      message: "command not found",
      help: "report this error; nothing was changed",
      reason: null,
      action: "report_bug",
    });
  });

  it("keeps a copy of every payload when auditing, including events", async () => {
    ipc({ shift: () => shift });
    enableAudit();
    let seen = 0;
    await onShiftChanged(() => seen++);
    await call(commands.shift());
    await emit("shift-changed", { ...shift, passed: 9 });
    await settle();
    expect(seen).toBe(1);
    const audit = window.__stationIpcAudit ?? [];
    expect(audit).toHaveLength(2);
    expect(audit[0]).toContain('"status":"ok"');
    expect(audit[1]).toContain('"passed":9');
  });

  it("keeps nothing when not auditing", async () => {
    ipc({ shift: () => shift });
    await call(commands.shift());
    expect(window.__stationIpcAudit).toBeUndefined();
  });
});
