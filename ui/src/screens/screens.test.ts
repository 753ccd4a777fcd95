// Each of the other screens renders from mocked IPC and shows what it must.
import { afterEach, describe, expect, it, vi } from "vitest";
import { flushSync, type Component } from "svelte";
import Batches from "./Batches.svelte";
import Devices from "./Devices.svelte";
import Sync from "./Sync.svelte";
import Settings from "./Settings.svelte";
import Shift from "./Shift.svelte";
import { OperatorController, ShiftController } from "../lib/shift.svelte.js";
import { BatchesController } from "../lib/batches.svelte.js";
import { DevicesController } from "../lib/devices.svelte.js";
import { SyncController } from "../lib/sync.svelte.js";
import { SettingsController } from "../lib/settings.svelte.js";
import { FlashBoard } from "../lib/flashes.svelte.js";
import { batch, device, ipc, port, reset, settings, settle, show, weather } from "../test/fixtures";

afterEach(reset);

async function render<P extends Record<string, unknown>>(C: Component<P>, props: P) {
  const target = show(C, props);
  await settle();
  flushSync();
  return target;
}

describe("screens", () => {
  it("Batches: a bar with words for flashed, failed and remaining", async () => {
    ipc({ search_batches: () => ({ batches: [batch()], total: 1 }), list_types: () => [weather] });
    const board = new FlashBoard();
    const t = await render(Batches, { batches: new BatchesController(), board, onflash: vi.fn() });
    const numbers = t.querySelector("[data-testid=batch-numbers]")?.textContent ?? "";
    expect(numbers).toContain("2 flashed");
    expect(numbers).toContain("1 failed");
    expect(numbers).toContain("8 remaining");
    expect(t.querySelector("[role=img]")?.getAttribute("aria-label")).toBe("2 flashed, 1 failed, 8 remaining of 10");
    expect(t.querySelector("[data-testid=export-csv]")).not.toBeNull();
    expect(t.querySelector("[data-testid=export-json]")).not.toBeNull();
  });

  it("Devices: results, detail with history, and a confirmation before deactivating", async () => {
    const calls = ipc({
      list_ports: () => [port("sim:1")],
      search_devices: () => ({ devices: [device()], total: 1 }),
      device_detail: () => ({
        device: device(),
        history: [
          { kind: "created", generation: null, detail: "batch 1", operator: "alice", station_id: "line-1", at: "2026-11-26T10:00:00Z" },
          { kind: "flashed", generation: 1, detail: "unit AB12", operator: "alice", station_id: "line-1", at: "2026-11-26T10:05:00Z" },
        ],
        server: { status: "online", last_seen: "2026-11-26T10:07:00Z", is_active: true, generation: 1, fetched_at: "2026-11-26T10:08:00Z" },
      }),
    });
    const t = await render(Devices, { devices: new DevicesController(new FlashBoard()) });
    t.querySelector<HTMLButtonElement>("[data-testid=device-row]")!.click();
    await settle();
    flushSync();
    const history = [...t.querySelectorAll("[data-testid=history] li")].map((li) => li.getAttribute("data-kind"));
    expect(history).toEqual(["created", "flashed"]);
    expect(t.querySelector("[data-testid=history]")?.textContent).toContain("alice at line-1");
    expect(t.querySelector("[data-testid=device-server]")?.textContent).toContain("Online · last seen ");
    t.querySelector<HTMLButtonElement>("[data-testid=deactivate]")!.click();
    await settle();
    flushSync();
    expect(t.querySelector("[role=alertdialog]")?.textContent).toContain("Deactivate farm-weatherstation-001?");
    expect(document.activeElement?.id).toBe("reason");
    expect(calls.some((c) => c.cmd === "deactivate_device")).toBe(false);
  });

  it("finding 5: Batches shows lot, work order and state, and asks before cancelling", async () => {
    const calls = ipc({
      search_batches: () => ({ batches: [batch({ lot: "LOT-7A", work_order: "WO-42" })], total: 1 }),
      list_types: () => [weather],
    });
    const t = await render(Batches, { batches: new BatchesController(), board: new FlashBoard(), onflash: vi.fn() });
    const run = t.querySelector("[data-testid=batch-run]")?.textContent ?? "";
    expect(run).toContain("Lot LOT-7A");
    expect(run).toContain("Work order WO-42");
    expect(t.querySelector("[data-testid=batch-state]")?.textContent).toBe("Open");
    expect(t.querySelector("[data-testid=batch-page-label]")?.textContent).toBe("Showing 1–1 of 1 batches");
    t.querySelector<HTMLButtonElement>("[data-testid=batch-cancel]")!.click();
    await settle();
    flushSync();
    const confirm = t.querySelector("[data-testid=batch-cancel-confirm]")?.textContent ?? "";
    expect(confirm).toContain("Cancel batch 1?");
    expect(confirm).toContain("8 unflashed devices will be deactivated");
    expect(document.activeElement?.getAttribute("data-testid")).toBe("batch-cancel-reason");
    expect(calls.some((c) => c.cmd === "cancel_batch")).toBe(false);
  });

  it("finding 7: a form problem replaces the last one, next to the form, focused; no native bubbles", async () => {
    ipc({ search_batches: () => ({ batches: [], total: 0 }), list_types: () => [weather] });
    // jsdom does not lay out: record that the problem was scrolled into view.
    const scrolled = vi.fn();
    Element.prototype.scrollIntoView = scrolled;
    const batches = new BatchesController();
    const t = await render(Batches, { batches, board: new FlashBoard(), onflash: vi.fn() });
    const form = t.querySelector<HTMLFormElement>("[data-testid=batch-form]")!;
    expect(form.noValidate).toBe(true);
    batches.newCount = "0";
    flushSync();
    form.requestSubmit();
    await settle();
    flushSync();
    batches.newCount = "5";
    batches.newPrefix = "a b";
    flushSync();
    form.requestSubmit();
    await settle();
    flushSync();
    const box = t.querySelector<HTMLElement>("[data-testid=batch-form-problem]")!;
    expect(form.contains(box)).toBe(true);
    expect(box.querySelectorAll("[role=alert]")).toHaveLength(1);
    expect(box.textContent).toContain("The prefix cannot contain spaces.");
    expect(box.textContent).not.toContain("whole number");
    expect(document.activeElement).toBe(box);
    expect(scrolled).toHaveBeenCalledTimes(2);
    expect(scrolled.mock.contexts[1]).toBe(box);
    expect(t.querySelector("#b-prefix")?.getAttribute("aria-invalid")).toBe("true");
  });

  it("finding 8: with no device type, Settings lands on the type form, its name focused", async () => {
    const scrolled = vi.fn();
    Element.prototype.scrollIntoView = scrolled;
    ipc({ get_settings: () => settings(), list_types: () => [] });
    const t = await render(Settings, { settings: new SettingsController() });
    await settle();
    flushSync();
    expect(scrolled.mock.contexts[0]).toBe(t.querySelector("[data-testid=type-form]"));
    expect(document.activeElement?.id).toBe("t-name");
  });

  it("finding 7: a type the station refuses says why next to the type form, not at the top", async () => {
    Element.prototype.scrollIntoView = vi.fn();
    ipc({
      get_settings: () => settings(),
      list_types: () => [weather],
      add_type: () => ({ __error: true }),
    });
    const controller = new SettingsController();
    const t = await render(Settings, { settings: controller });
    controller.settingLines = "no equals sign";
    flushSync();
    t.querySelector<HTMLFormElement>("[data-testid=type-form]")!.requestSubmit();
    await settle();
    flushSync();
    const box = t.querySelector<HTMLElement>("[data-testid=type-form-problem]")!;
    expect(box.textContent).toContain("Driver setting");
    // Said once, next to the form: not also in a box at the top of the screen.
    const saying = [...t.querySelectorAll("[data-testid=error-box]")].filter((b) => b.textContent?.includes("Driver setting"));
    expect(saying).toHaveLength(1);
    expect(document.activeElement).toBe(box);
    expect(t.querySelector<HTMLFormElement>("[data-testid=type-form]")!.noValidate).toBe(true);
  });

  it("Sync: off until a server is configured", async () => {
    ipc({
      sync_status: () => ({ connection: "off", summary: "Sync is off: no server configured", server_url: null, token_store: null, warnings: [], queue_length: 2, rejected: 0, last_attempt_at: null, last_success_at: null, last_error: null, last_error_code: null, errors: [] }),
    });
    const t = await render(Sync, { sync: new SyncController(), ongoto: vi.fn() });
    expect(t.querySelector("[data-testid=sync-summary]")?.textContent).toBe("Sync is off: no server configured");
    expect(t.querySelector("[data-testid=sync-queue]")?.textContent).toBe("2");
  });

  it("Settings: every section, and the token never filled in", async () => {
    ipc({ get_settings: () => settings({ server_token_store: "stored in the Secret Service (the desktop keyring)", server_url: "https://hub.local/station-sync/" }), list_types: () => [weather] });
    const t = await render(Settings, { settings: new SettingsController() });
    for (const h of ["Operator", "Station", "Server", "Password hashing", "Sounds", "Simulated device", "Device types"]) {
      expect([...t.querySelectorAll("h2")].map((x) => x.textContent)).toContain(h);
    }
    expect(t.querySelector<HTMLInputElement>("#token")!.value).toBe("");
    expect(t.querySelector("label[for=token]")?.textContent).toContain("kept");
    expect(t.querySelector("[data-testid=server-token-store]")?.textContent).toBe("Token stored in the Secret Service (the desktop keyring).");
    expect(t.querySelector("[data-testid=type-row][data-type=WeatherStation]")).not.toBeNull();
    expect(t.querySelector<HTMLInputElement>("[data-testid=server-url]")!.value).toBe("https://hub.local/station-sync/");
  });

  it("settings_screen_hash_default_comes_from_the_store", async () => {
    // The store decides the default; the screen must not call another algorithm the default.
    ipc({ get_settings: () => settings({ hash_algorithm: "pbkdf2_sha256", hash_algorithm_default: "pbkdf2_sha256" }), list_types: () => [] });
    const t = await render(Settings, { settings: new SettingsController() });
    const select = t.querySelector<HTMLSelectElement>("#hash")!;
    expect(select.value).toBe("pbkdf2_sha256");
    const options = [...select.options];
    const defaults = options.filter((o) => /default/i.test(o.textContent ?? "")).map((o) => o.value);
    expect(defaults).toEqual(["pbkdf2_sha256"]);
  });

  it("Settings: an algorithm the store set that the screen does not list is shown, not replaced", async () => {
    ipc({ get_settings: () => settings({ hash_algorithm: "argon2:m=65536,t=3,p=4" }), list_types: () => [] });
    const t = await render(Settings, { settings: new SettingsController() });
    const select = t.querySelector<HTMLSelectElement>("#hash")!;
    expect(select.value).toBe("argon2:m=65536,t=3,p=4");
    expect([...select.options].find((o) => o.value === "argon2")?.textContent).toContain("the station's default");
  });

  it("Sync: where the token is kept, never the token, and the plain-http warning every time", async () => {
    ipc({
      sync_status: () => ({ connection: "pending", summary: "Changes wait to be sent to http://10.0.0.5/station-sync/", server_url: "http://10.0.0.5/station-sync/", token_store: "from the environment (STATION_SYNC_TOKEN), never written to disk", warnings: ["sync uses plain http to 10.0.0.5: the station token and records cross the network readable"], queue_length: 1, rejected: 0, last_attempt_at: null, last_success_at: null, last_error: null, last_error_code: null, errors: [] }),
    });
    const t = await render(Sync, { sync: new SyncController(), ongoto: vi.fn() });
    expect(t.querySelector("[data-testid=sync-token-store]")?.textContent).toBe("Token: from the environment (STATION_SYNC_TOKEN), never written to disk");
    expect(t.querySelector("[data-testid=sync-warning]")?.textContent).toContain("plain http to 10.0.0.5");
    expect(t.textContent).not.toMatch(/dhs_/);
  });

  it("Settings: the server form sends the test-bench exception only when ticked, and shows its warning", async () => {
    const calls = ipc({
      get_settings: () => settings({ server_url: "http://10.0.0.5/station-sync/", server_token_store: "stored in the Secret Service (the desktop keyring)", server_warnings: ["sync uses plain http to 10.0.0.5"] }),
      list_types: () => [],
      change_setting: (a) => settings({ server_url: (a.change as { value: { url: string } }).value.url }),
    });
    const t = await render(Settings, { settings: new SettingsController() });
    expect(t.querySelector("[data-testid=server-warning]")?.textContent).toContain("plain http to 10.0.0.5");
    const box = t.querySelector<HTMLInputElement>("[data-testid=server-insecure-http]")!;
    expect(box.checked).toBe(false);
    box.click();
    const form = t.querySelector<HTMLInputElement>("[data-testid=server-url]")!.closest("form")!;
    form.requestSubmit();
    await vi.waitFor(() => expect(calls.some((c) => c.cmd === "change_setting")).toBe(true));
    expect(calls.find((c) => c.cmd === "change_setting")?.args.change).toEqual({ key: "sync_server", value: { url: "http://10.0.0.5/station-sync/", token: null, insecure_http: true } });
  });

  it("Sync: the server's own error", async () => {
    ipc({
      sync_status: () => ({ connection: "failing", summary: "The last attempt failed: HTTP 401", server_url: "https://hub/", token_store: "stored in the Secret Service (the desktop keyring)", warnings: [], queue_length: 5, rejected: 1, last_attempt_at: null, last_success_at: null, last_error: "HTTP 401: station token revoked", errors: [{ device_id: "d-001", message: "unknown device type", at: "2026-11-26T10:00:00Z" }] }),
    });
    const t = await render(Sync, { sync: new SyncController(), ongoto: vi.fn() });
    expect(t.querySelector("[data-testid=sync-last-error]")?.textContent).toContain("HTTP 401: station token revoked");
    expect(t.textContent).toContain("unknown device type");
  });

  it("finding 7: a sync failure in words with what to do; the transport's text only as details", async () => {
    ipc({
      sync_status: () => ({ connection: "offline", summary: "The server cannot be reached", server_url: "https://hub/", token_store: null, warnings: [], queue_length: 5, rejected: 0, last_attempt_at: null, last_success_at: null, last_error: "cannot reach the server at https://hub/: error sending request for url (https://hub/): tcp connect error: Connection refused (os error 111)", last_error_code: "unreachable", errors: [] }),
    });
    const t = await render(Sync, { sync: new SyncController(), ongoto: vi.fn() });
    const box = t.querySelector("[data-testid=sync-last-error]")!;
    expect(box.querySelector(".last-error")?.textContent).toContain("Last attempt failed: The server cannot be reached.");
    expect(box.querySelector(".last-error")?.textContent).not.toContain("os error");
    expect(t.querySelector("[data-testid=sync-what-to-do]")?.textContent).toContain("Nothing is lost");
    expect(box.querySelector("details")?.textContent).toContain("Connection refused");
  });
  it("Shift: failures by reason in words, never the reason's code", async () => {
    const running = {
      id: 3, station_id: "line-1", started_at: "2026-11-29 06:00:00", ended_at: null, utc_offset: "+01:00",
      operators: ["alice"], passed: 41, failed: 3,
      failed_by_reason: [{ reason: "timeout", count: 2 }, { reason: "storage_full", count: 1 }],
      units_attempted: 44, first_pass_passed: 40, first_pass_yield_percent: 90.9, units_per_hour: 20.5,
    };
    ipc({ shifts: () => ({ running, past: [] }), operator_state: () => ({ operator: "alice", required: false }) });
    const t = await render(Shift, { shifts: new ShiftController(), operator: new OperatorController() });
    const text = t.querySelector("[data-testid=shift-current]")?.textContent ?? "";
    expect(text).toContain("The device did not answer: 2");
    expect(text).toContain("The device's memory is full: 1");
    expect(text).not.toContain("timeout");
  });
});
