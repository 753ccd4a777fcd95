import { afterEach, describe, expect, it } from "vitest";
import { LabelSettingsController, ReprintController, toggleField } from "./labels.svelte.js";
import LabelSettings from "../components/LabelSettings.svelte";
import FlashTile from "../components/FlashTile.svelte";
import type { LabelPreview, LabelPrinter, LabelTemplate } from "./bindings";
import { FlashBoard } from "./flashes.svelte.js";
import { emit } from "@tauri-apps/api/event";
import { device, emitFinished, fail, ipc, nextFrame, passed, reset, settle, show } from "../test/fixtures";

afterEach(reset);

const printer: LabelPrinter = { output: "network", address: "", queue: "", on_pass: false };
const template: LabelTemplate = { width_mm: 50, height_mm: 25, dpi: 203, fields: ["device_id", "device_type", "hardware_id"], qr: true };
const preview: LabelPreview = { png_data_url: "data:image/png;base64,iVBORw0KGgo=", qr_payload: "DH1;id=line-weatherstation-001;t=WeatherStation;hw=A4CF12B3C4D5", width_dots: 400, height_dots: 200 };

describe("labels", () => {
  it("keeps fields in the station's order whatever order they are ticked in", () => {
    expect(toggleField(["hardware_id"], "device_id", true)).toEqual(["device_id", "hardware_id"]);
    expect(toggleField(["device_id", "hardware_id"], "device_id", false)).toEqual(["hardware_id"]);
  });

  it("loads the printer and the first type's template, and previews it", async () => {
    const calls = ipc({ label_printer: () => printer, label_template: () => template, label_preview: () => preview });
    const l = new LabelSettingsController();
    await l.load("WeatherStation");
    expect(l.printer).toEqual(printer);
    expect(calls.find((c) => c.cmd === "label_preview")?.args).toEqual({ deviceType: "WeatherStation", template });
    expect(l.preview?.qr_payload).toContain("DH1;id=");
  });

  it("shows a printer address the station refuses, with what to do, and keeps the form", async () => {
    ipc({
      label_printer: () => printer,
      set_label_printer: () => fail({ code: "invalid_input", message: "invalid label printer: 'http://x' is not a printer address", help: "give the printer's host name or IP address" }),
    });
    const l = new LabelSettingsController();
    await l.load(null);
    l.printer = { ...printer, address: "http://x", on_pass: true };
    expect(await l.savePrinter()).toBe(false);
    expect(l.error?.help).toContain("host name");
    expect(l.printer.address).toBe("http://x");
    expect(l.saved).toBeNull();
  });

  it("draws the preview in Settings and saves the template it shows", async () => {
    const calls = ipc({ label_printer: () => printer, label_template: () => template, label_preview: () => preview, set_label_template: () => preview });
    const t = show(LabelSettings, { types: ["WeatherStation"] });
    await settle();
    const img = t.querySelector<HTMLImageElement>("[data-testid=label-preview-image]");
    expect(img?.src).toBe(preview.png_data_url);
    expect(t.querySelector("[data-testid=label-preview-qr]")?.textContent).toBe(preview.qr_payload);
    const fields = [...t.querySelectorAll<HTMLInputElement>("[data-testid=label-field]")].map((c) => c.dataset.field);
    expect(fields).not.toContain("api_key");
    t.querySelector<HTMLButtonElement>("[data-testid=label-template-save]")?.click();
    await settle();
    expect(calls.find((c) => c.cmd === "set_label_template")?.args).toEqual({ deviceType: "WeatherStation", template });
    expect(t.querySelector("[data-testid=label-saved]")?.textContent).toContain("WeatherStation");
  });

  it("a PASS whose label did not print stays a PASS, says why, and reprints", async () => {
    const calls = ipc({ reprint_label: () => null });
    const t = show(FlashTile, {
      port: "sim:1",
      label: "Simulated device",
      tile: { kind: "passed", jobId: 1, device: device(), rotated: false, hookError: null, labelPrinted: false, labelError: "label not printed: the label printer 10.0.0.9 cannot be reached", elapsedMs: 10, request: { kind: "new_device", device_type: "WeatherStation", prefix: "" } },
      large: true,
    });
    expect(t.querySelector("[data-testid=result]")?.getAttribute("data-outcome")).toBe("pass");
    expect(t.querySelector("[data-testid=label-error]")?.textContent).toContain("label not printed: the label printer 10.0.0.9 cannot be reached");
    t.querySelector<HTMLButtonElement>("[data-testid=reprint-label]")?.click();
    await settle();
    expect(calls).toEqual([{ cmd: "reprint_label", args: { deviceId: "farm-weatherstation-001" } }]);
    expect(t.querySelector("[data-testid=reprint-done]")?.textContent).toContain("Label sent to the printer.");
  });

  it("a reprint that fails says so and what to do", async () => {
    ipc({ reprint_label: () => fail({ code: "refused", message: "The label was not printed: no label printer is set.", help: "set the network label printer's address in Settings, Labels" }) });
    const r = new ReprintController();
    await r.reprint("farm-weatherstation-001");
    expect(r.state).toBe("idle");
    expect(r.error?.help).toContain("Settings");
  });

  it("the label's outcome shows on its PASS whether it comes before or after the PASS is drawn", async () => {
    ipc({});
    const board = new FlashBoard();
    board.player = () => true;
    await board.connect();
    // Printed before the PASS was drawn (a printer that answers at once).
    await emitFinished(passed("sim:1", 1));
    await emit("label-printed", { job_id: 1, port: "sim:1", device_id: "farm-weatherstation-001", printed: true, error: null });
    await nextFrame();
    expect(board.tiles["sim:1"]).toMatchObject({ kind: "passed", labelPrinted: true, labelError: null });
    // Not printed, long after the PASS (a printer that times out).
    await emitFinished(passed("sim:2", 2));
    await nextFrame();
    expect(board.tiles["sim:2"]).toMatchObject({ kind: "passed", labelPrinted: false, labelError: null });
    await emit("label-printed", { job_id: 2, port: "sim:2", device_id: "farm-weatherstation-001", printed: false, error: "label not printed: it did not answer in time" });
    await settle();
    expect(board.tiles["sim:2"]).toMatchObject({ kind: "passed", labelPrinted: false, labelError: "label not printed: it did not answer in time" });
    // A label of an older job on the same port changes nothing.
    await emit("label-printed", { job_id: 1, port: "sim:2", device_id: "x", printed: true, error: null });
    await settle();
    expect(board.tiles["sim:2"]).toMatchObject({ jobId: 2, labelPrinted: false });
  });
});
