// Converted screens in Chinese: the Settings screen's picker switches the language at once (no
// restart) and saves it; a saved language and theme are applied when the station starts.
import { afterEach, describe, expect, it, vi } from "vitest";
import { flushSync, type Component } from "svelte";
import App from "./App.svelte";
import Sync from "./screens/Sync.svelte";
import Station from "./screens/Station.svelte";
import Batches from "./screens/Batches.svelte";
import StartupProblem from "./screens/StartupProblem.svelte";
import { SyncController } from "./lib/sync.svelte.js";
import { StationController } from "./lib/station.svelte.js";
import { BatchesController } from "./lib/batches.svelte.js";
import { FlashBoard } from "./lib/flashes.svelte.js";
import { CATALOGUES, setLanguage } from "./lib/i18n/index.svelte";
import { batch, ipc, reset, settings, settle, show, stationHandlers, weather } from "./test/fixtures";
import type { Settings } from "./lib/bindings";

afterEach(() => {
  reset();
  setLanguage("en");
  delete document.documentElement.dataset.theme;
});

async function render<P extends Record<string, unknown>>(C: Component<P>, props: P) {
  const target = show(C, props);
  await settle();
  flushSync();
  return target;
}

const info = () => ({ version: "0.1.0", station_name: "line-1", database_path: "/data/station.sqlite3", uptime_ms: 5, ipc_audit: false, training: true });

function app(saved: Partial<Settings> = {}) {
  let current = settings(saved);
  const calls = ipc({
    ...stationHandlers(),
    startup_problem: () => null,
    app_info: info,
    get_settings: () => current,
    change_setting: (a) => {
      const change = a.change as { key: string; value: unknown };
      current = { ...current, [change.key]: change.value };
      return current;
    },
  });
  return calls;
}

/** All a person reads or hears of `el`: its text and its read attributes. */
function everyText(el: HTMLElement): string {
  const attributes = [...el.querySelectorAll("*")].flatMap((e) => ["placeholder", "aria-label", "title", "label", "alt"].map((a) => e.getAttribute(a) ?? ""));
  return [el.textContent ?? "", ...attributes].join("\n");
}

const navText = (t: HTMLElement) => t.querySelector("[data-testid=nav-sync]")?.textContent?.trim();

async function pick(t: HTMLElement, testid: string, value: string) {
  const select = t.querySelector<HTMLSelectElement>(`[data-testid=${testid}]`)!;
  select.value = value;
  select.dispatchEvent(new Event("change", { bubbles: true }));
  await settle();
  flushSync();
  return select;
}

async function settingsScreen(t: HTMLElement) {
  (t.querySelector("[data-testid=nav-settings]") as HTMLButtonElement).click();
  await settle();
  flushSync();
}

describe("language and theme", () => {
  it("switches the header, the nav and the open screen to Chinese at once, and saves the choice", async () => {
    const calls = app({ language: "en" });
    const t = await render(App, { boardConnected: false });
    expect(navText(t)).toBe("⇅ Sync");
    await settingsScreen(t);
    await pick(t, "language", "zh-CN");
    expect(calls.find((c) => c.cmd === "change_setting")?.args.change).toEqual({ key: "language", value: "zh-CN" });
    expect(navText(t)).toBe("⇅ 同步");
    expect(t.querySelector("[data-testid=nav-station]")?.textContent?.trim()).toBe("⚡ 工作站");
    expect(t.querySelector("[data-testid=training-banner]")?.textContent).toContain("培训模式");
    expect(t.querySelector("[data-testid=appearance] h2")?.textContent).toBe("语言和颜色");
    expect(document.documentElement.lang).toBe("zh-CN");
    (t.querySelector("[data-testid=nav-sync]") as HTMLButtonElement).click();
    await settle();
    flushSync();
    expect(t.querySelector("[data-testid=sync-screen] h1")?.textContent).toBe("同步");
    // And back.
    await settingsScreen(t);
    await pick(t, "language", "en");
    expect(navText(t)).toBe("⇅ Sync");
    expect(t.querySelector("[data-testid=appearance] h2")?.textContent).toBe("Language and colours");
  });

  it("starts in the saved language and theme", async () => {
    app({ language: "zh-CN", theme: "dark" });
    const t = await render(App, { boardConnected: false });
    expect(navText(t)).toBe("⇅ 同步");
    expect(document.documentElement.dataset.theme).toBe("dark");
    await settingsScreen(t);
    expect(t.querySelector<HTMLSelectElement>("[data-testid=language]")?.value).toBe("zh-CN");
    expect(t.querySelector<HTMLSelectElement>("[data-testid=theme]")?.value).toBe("dark");
  });

  it("auto speaks the computer's language", async () => {
    vi.spyOn(navigator, "language", "get").mockReturnValue("zh-CN");
    app({ language: "auto" });
    const t = await render(App, { boardConnected: false });
    expect(navText(t)).toBe("⇅ 同步");
  });

  it("the theme switch turns the page dark and back, and saves each choice", async () => {
    const calls = app({ theme: "light" });
    const t = await render(App, { boardConnected: false });
    expect(document.documentElement.dataset.theme).toBe("light");
    await settingsScreen(t);
    const select = await pick(t, "theme", "dark");
    expect(document.documentElement.dataset.theme).toBe("dark");
    expect(select.dataset.themeShown).toBe("dark");
    await pick(t, "theme", "light");
    expect(document.documentElement.dataset.theme).toBe("light");
    expect(calls.filter((c) => c.cmd === "change_setting").map((c) => c.args.change)).toEqual([
      { key: "theme", value: "dark" },
      { key: "theme", value: "light" },
    ]);
  });

  it("a choice the station cannot save is said, and the screens stay as they were", async () => {
    ipc({
      ...stationHandlers(),
      startup_problem: () => null,
      app_info: info,
      change_setting: () => {
        throw { code: "database_read_only", message: "the database cannot be written", help: "", reason: null, action: "fix_database_file" };
      },
    });
    const t = await render(App, { boardConnected: false });
    await settingsScreen(t);
    const select = await pick(t, "language", "zh-CN");
    expect(select.value).toBe("en");
    expect(t.querySelector("[data-testid=look-error]")?.textContent).toContain("the database cannot be written");
    expect(navText(t)).toBe("⇅ Sync");
  });

  it("Sync in Chinese: labels, numbers and the table head", async () => {
    setLanguage("zh-CN");
    ipc({
      sync_status: () => ({ connection: "failing", summary: "The last attempt failed: HTTP 401", server_url: "https://hub/", token_store: "stored in the Secret Service (the desktop keyring)", warnings: [], queue_length: 5, rejected: 1, last_attempt_at: null, last_success_at: null, last_error: "HTTP 401", errors: [{ device_id: "d-001", message: "unknown device type", at: "2026-11-26T10:00:00Z" }] }),
    });
    const t = await render(Sync, { sync: new SyncController(), ongoto: vi.fn() });
    expect(t.querySelector("h1")?.textContent).toBe("同步");
    expect(t.querySelector("[data-testid=sync-state] .connection")?.textContent).toContain("服务器： 未被接受");
    expect(t.querySelector("[data-testid=sync-token-store]")?.textContent).toBe("令牌：stored in the Secret Service (the desktop keyring)");
    expect(t.querySelector("[data-testid=sync-last-error]")?.textContent).toContain("上次尝试失败：HTTP 401");
    expect([...t.querySelectorAll("th")].map((th) => th.textContent)).toEqual(["设备", "服务器拒收原因", "排队时间"]);
    expect(t.textContent).toContain("立即重试");
  });

  it("The station cannot start, in Chinese, with what to do and the tries counted", async () => {
    setLanguage("zh-CN");
    const problem = {
      error: { code: "database_corrupt", message: "the station database is damaged", help: "restore it", reason: null, action: "fix_database_file" },
      database_path: "/data/station.sqlite3",
    } as const;
    const t = await render(StartupProblem, { problem, onretry: async () => {} });
    expect(t.querySelector("h1")?.textContent).toBe("工作站无法启动");
    expect(t.querySelector("[data-testid=error-box] .headline")?.textContent).toContain("数据库已损坏");
    expect(t.querySelector("[data-testid=error-box] .help")?.textContent).toBe("处理方法： 请通知工程师：工作站的数据库文件需要修复，或从备份恢复。");
    (t.querySelector("[data-testid=startup-retry]") as HTMLButtonElement).click();
    await settle();
    flushSync();
    expect(t.querySelector("[data-testid=startup-tries]")?.textContent).toBe("已重试 1 次：问题仍在。");
  });

  it("Station and Batches in Chinese: Chinese words, and no English sentence of the catalogue left", async () => {
    setLanguage("zh-CN");
    ipc(stationHandlers({ search_batches: () => ({ batches: [batch({ lot: "LOT-7A" })], total: 1 }), list_types: () => [weather] }));
    const board = new FlashBoard();
    board.player = vi.fn(() => false);
    const station = await render(Station, { station: new StationController(board), ongoto: vi.fn() });
    expect(station.querySelector("label[for=target]")?.textContent).toBe("烧录对象");
    expect(station.querySelector("[data-testid=flash-button]")?.textContent).toContain("配置并烧录");
    expect(station.querySelector("[data-testid=counters]")?.textContent).toContain("通过");
    expect(station.querySelector("[data-testid=tile]")?.textContent).toContain("就绪。插入设备，然后按“配置并烧录”。");
    expect(station.querySelector("[data-testid=station-operator]")?.getAttribute("aria-label")).toBe("操作员");
    const stationText = everyText(station);
    reset();
    ipc({ search_batches: () => ({ batches: [batch({ lot: "LOT-7A" })], total: 1 }), list_types: () => [weather] });
    const batches = await render(Batches, { batches: new BatchesController(), board, onflash: vi.fn() });
    expect(batches.querySelector("h1")?.textContent).toBe("批次");
    expect(batches.querySelector("[data-testid=batch-numbers]")?.textContent).toContain("已烧录 2");
    expect(batches.querySelector("[data-testid=batch-state]")?.textContent).toBe("进行中");
    expect(batches.querySelector("[data-testid=batch-page-label]")?.textContent).toBe("第 1–1 个批次，共 1 个");
    expect(batches.querySelector("[role=img]")?.getAttribute("aria-label")).toBe("共 10 台：已烧录 2，失败 1，剩余 8");

    // Every English phrase of the catalogue (its longest run of words between placeholders)
    // is absent from both screens' text, placeholders, labels and titles.
    const shown = `${stationText}\n${everyText(batches)}`;
    const phrases = Object.values(CATALOGUES.en)
      .flatMap((m) => (typeof m === "string" ? [m] : Object.values(m)))
      .map((text) => text.split(/\{\w+\}/).reduce((a, b) => (b.trim().length > a.length ? b.trim() : a), ""))
      .filter((p) => p.length >= 8 && /[a-z] [a-z]/i.test(p));
    expect(phrases.length).toBeGreaterThan(200);
    expect(phrases.filter((p) => shown.includes(p))).toEqual([]);
  });
});
