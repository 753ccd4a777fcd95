// The app shell: it asks whether the station started before any screen touches the database.
import { afterEach, describe, expect, it } from "vitest";
import { flushSync } from "svelte";
import App from "./App.svelte";
import { ipc, reset, settings, settle, show, stationHandlers } from "./test/fixtures";
import { savedLook } from "./lib/appearance.svelte.js";

afterEach(reset);

async function render() {
  const target = show(App, { boardConnected: false });
  await settle();
  flushSync();
  return target;
}

const damaged = {
  error: {
    code: "database_corrupt",
    message: "the station database /data/station.sqlite3 is damaged or is not a station database",
    help: "restore /data/station.sqlite3 from a backup, or point --db / STATION_DB at another file; nothing was changed",
    reason: null,
  },
  database_path: "/data/station.sqlite3",
};

const info = () => ({ version: "0.1.0", station_name: "line-1", database_path: "/data/station.sqlite3", uptime_ms: 5, ipc_audit: false, training: false });

describe("app", () => {
  it("shows why the station cannot start, and no screen touches the database", async () => {
    const calls = ipc({ startup_problem: () => damaged });
    const t = await render();
    const panel = t.querySelector("[data-testid=startup-problem]");
    expect(panel?.getAttribute("data-code")).toBe("database_corrupt");
    expect(panel?.textContent).toContain("The station cannot start");
    expect(panel?.textContent).toContain("is damaged");
    expect(panel?.textContent).toContain("What to do:");
    expect(t.querySelector("[data-testid=startup-db]")?.textContent).toBe("/data/station.sqlite3");
    expect(document.activeElement?.getAttribute("data-testid")).toBe("startup-retry");
    expect(t.querySelector("[data-testid=station-screen]")).toBeNull();
    expect(t.querySelector("nav")).toBeNull();
    expect(calls.map((c) => c.cmd)).toEqual(["startup_problem"]);
  });

  it("starts the screens once Try again succeeds, and keeps the panel while it fails", async () => {
    let fixed = false;
    const calls = ipc({
      ...stationHandlers(),
      startup_problem: () => damaged,
      retry_startup: () => (fixed ? null : damaged),
      app_info: info,
    });
    const t = await render();
    (t.querySelector("[data-testid=startup-retry]") as HTMLButtonElement).click();
    await settle();
    flushSync();
    expect(t.querySelector("[data-testid=startup-problem]")).not.toBeNull();
    expect(t.querySelector("[data-testid=startup-tries]")?.textContent).toContain("Tried again once: still the same problem.");
    fixed = true;
    (t.querySelector("[data-testid=startup-retry]") as HTMLButtonElement).click();
    await settle();
    flushSync();
    expect(t.querySelector("[data-testid=startup-problem]")).toBeNull();
    expect(t.querySelector("[data-testid=station-screen]")).not.toBeNull();
    expect(t.querySelector("[data-testid=station-name-header]")?.textContent).toBe("line-1");
    expect(calls.filter((c) => c.cmd === "retry_startup")).toHaveLength(2);
  });

  it("a station saved as Chinese and dark draws in them from the first frame, before its settings are read", async () => {
    const w = window as Window & { __STATION_LOOK__?: unknown };
    w.__STATION_LOOK__ = { language: "zh-CN", theme: "dark" };
    try {
      let answer: (v: unknown) => void = () => {};
      const settingsAsked = new Promise((r) => (answer = r));
      ipc({ ...stationHandlers(), startup_problem: () => null, app_info: info, get_settings: () => settingsAsked });
      const t = show(App, { boardConnected: false });
      flushSync();
      // Nothing answered yet: the page already shows the saved look.
      expect(document.documentElement.dataset.theme).toBe("dark");
      expect(document.documentElement.lang).toBe("zh-CN");
      await settle();
      flushSync();
      expect(t.querySelector("[data-testid=nav-station]")?.textContent).toContain("工作站");
      answer(settings({ language: "zh-CN", theme: "dark" }));
      await settle();
      flushSync();
      expect(t.querySelector("[data-testid=station-screen]")).not.toBeNull();
      expect(document.documentElement.dataset.theme).toBe("dark");
    } finally {
      delete w.__STATION_LOOK__;
    }
  });

  it("without a saved look (outside the app, or a station that could not start) the computer's serves", () => {
    expect(savedLook({} as Window)).toBeNull();
    expect(savedLook({ __STATION_LOOK__: { language: "en" } } as unknown as Window)).toBeNull();
    expect(savedLook({ __STATION_LOOK__: { language: "en", theme: "light" } } as unknown as Window)).toEqual({ language: "en", theme: "light" });
  });

  it("goes straight to the Station screen when the station started", async () => {
    ipc({ ...stationHandlers(), startup_problem: () => null, app_info: info });
    const t = await render();
    expect(t.querySelector("[data-testid=startup-problem]")).toBeNull();
    expect(t.querySelector("[data-testid=station-screen]")).not.toBeNull();
  });

  it("shows the TRAINING banner on every screen in training mode, and none outside it", async () => {
    ipc({ ...stationHandlers(), startup_problem: () => null, app_info: () => ({ ...info(), training: true }) });
    const t = await render();
    expect(t.querySelector("[data-testid=training-banner]")?.textContent).toContain("TRAINING");
    (t.querySelector("[data-testid=nav-batches]") as HTMLButtonElement).click();
    flushSync();
    expect(t.querySelector("[data-testid=training-banner]")).not.toBeNull();
    reset();
    ipc({ ...stationHandlers(), startup_problem: () => null, app_info: info });
    const production = await render();
    expect(production.querySelector("[data-testid=training-banner]")).toBeNull();
  });
});
