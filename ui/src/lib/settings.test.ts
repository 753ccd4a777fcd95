import { afterEach, describe, expect, it } from "vitest";
import { SettingsController, hashChoices, linesToSettings, settingsToLines } from "./settings.svelte.js";
import { fail, ipc, reset, settings, weather } from "../test/fixtures";

afterEach(reset);

describe("settings", () => {
  it("saves one setting at a time, as a tagged change", async () => {
    const calls = ipc({ get_settings: () => settings(), list_types: () => [weather], change_setting: () => settings({ operator: "badge-4711" }) });
    const s = new SettingsController();
    await s.load();
    expect(await s.change({ key: "operator", value: "badge-4711" }, "operator")).toBe(true);
    expect(calls.find((c) => c.cmd === "change_setting")?.args.change).toEqual({ key: "operator", value: "badge-4711" });
    expect(s.settings?.operator).toBe("badge-4711");
    expect(s.saved).toBe("operator");
  });

  it("never shows the server token, only where it is kept", async () => {
    ipc({ get_settings: () => settings({ server_token_store: "stored in the Secret Service (the desktop keyring)" }), list_types: () => [] });
    const s = new SettingsController();
    await s.load();
    expect(s.settings?.server_token_store).toBe("stored in the Secret Service (the desktop keyring)");
    expect(JSON.stringify(s.settings)).not.toMatch(/dhs_/);
  });

  it("shows a refused value with what to do", async () => {
    const calls = ipc({ change_setting: () => fail({ code: "invalid_input", message: "'ftp://x' is not an http(s) URL", help: "give the server's full address" }) });
    const s = new SettingsController();
    expect(await s.change({ key: "sync_server", value: { url: "ftp://x", token: null, insecure_http: false } }, "server")).toBe(false);
    expect(calls[0].args.change).toEqual({ key: "sync_server", value: { url: "ftp://x", token: null, insecure_http: false } });
    expect(s.error?.help).toBe("give the server's full address");
    expect(s.saved).toBeNull();
  });

  it("adds a device type, then edits it", async () => {
    const calls = ipc({ add_type: (a) => a.input, edit_type: (a) => a.input, list_types: () => [weather] });
    const s = new SettingsController();
    s.draft = { ...s.draft, name: "WeatherStation", app_label: "myapp", broker_port: 8883, broker_tls: true };
    expect(await s.saveType()).toBe(true);
    expect(calls[0].cmd).toBe("add_type");
    expect(calls[0].args.input).toMatchObject({ name: "WeatherStation", broker_port: 8883, broker_tls: true });
    s.startEdit(weather);
    s.draft.broker_host = "mqtt.factory.local";
    expect(await s.saveType()).toBe(true);
    expect(calls.find((c) => c.cmd === "edit_type")?.args.input).toMatchObject({ name: "WeatherStation", broker_host: "mqtt.factory.local" });
    expect(s.editing).toBeNull();
  });

  it("edits a type's driver and its settings as NAME=VALUE lines, sent as a JSON object", async () => {
    const esp = { ...weather, name: "EspSensor", driver: "nvs", driver_settings: '{"namespace":"mqtt","key.mqtt_password":"pass"}' };
    const calls = ipc({ add_type: (a) => a.input, edit_type: (a) => a.input, list_types: () => [esp] });
    const s = new SettingsController();
    expect(s.draft.driver).toBe("protocol");
    s.draft = { ...s.draft, name: "EspSensor", app_label: "myapp", driver: "nvs" };
    s.settingLines = "namespace = mqtt\n\nkey.mqtt_password=pass\n";
    expect(await s.saveType()).toBe(true);
    const added = calls.find((c) => c.cmd === "add_type")?.args.input as { driver: string; driver_settings: string };
    expect(added.driver).toBe("nvs");
    expect(JSON.parse(added.driver_settings)).toEqual({ namespace: "mqtt", "key.mqtt_password": "pass" });
    s.startEdit(esp);
    expect(s.settingLines).toBe("namespace=mqtt\nkey.mqtt_password=pass");
    s.settingLines = "namespace mqtt";
    expect(await s.saveType()).toBe(false);
    expect(s.error?.code).toBe("invalid_input");
    expect(s.error?.message).toContain('"namespace mqtt" is not NAME=VALUE');
    expect(calls.filter((c) => c.cmd === "edit_type")).toHaveLength(0);
    expect(settingsToLines("not json")).toBe("");
    expect(linesToSettings("=x")).toEqual({ badLine: "=x" });
  });

  it("labels only the store's default as the default, and keeps a value it does not list", () => {
    const c = hashChoices("argon2:m=64,t=1,p=1", "pbkdf2_sha256");
    expect(c.map((x) => x.value)).toEqual(["argon2", "pbkdf2_sha256", "argon2:m=64,t=1,p=1"]);
    expect(c.filter((x) => x.label.includes("default")).map((x) => x.value)).toEqual(["pbkdf2_sha256"]);
    const odd = hashChoices("argon2", "argon2:m=1024,t=2,p=1");
    expect(odd.map((x) => x.value)).toEqual(["argon2", "pbkdf2_sha256", "argon2:m=1024,t=2,p=1"]);
    expect(odd.find((x) => x.value === "argon2:m=1024,t=2,p=1")?.label).toContain("the station's default");
  });
});
