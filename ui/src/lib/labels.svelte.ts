// Labels: the printer and a device type's template (Settings, with a preview drawn by the
// station), and a reprint of one device's label (the Station screen's PASS, the device screen).

import type { AppError, LabelField, LabelOutput, LabelPreview, LabelPrinter, LabelTemplate } from "./bindings";
import { call, commands, toAppError } from "./ipc";
import { t } from "./i18n/index.svelte";

/** Every field a label may show, in the station's order; there is none for a secret. */
export const LABEL_FIELDS: { value: LabelField; label: string }[] = [
  { value: "device_id", get label() { return t("labelField.device_id"); } },
  { value: "name", get label() { return t("labelField.name"); } },
  { value: "device_type", get label() { return t("labelField.device_type"); } },
  { value: "hardware_id", get label() { return t("labelField.hardware_id"); } },
  { value: "mqtt_username", get label() { return t("labelField.mqtt_username"); } },
];

export const LABEL_OUTPUTS: { value: LabelOutput; label: string }[] = [
  { value: "network", get label() { return t("labelOutput.network"); } },
  { value: "queue", get label() { return t("labelOutput.queue"); } },
];

export const LABEL_DPI = [203, 300, 600];

/** The fields in the station's order, `field` added or taken out. */
export function toggleField(fields: LabelField[], field: LabelField, on: boolean): LabelField[] {
  const chosen = new Set(fields);
  if (on) chosen.add(field);
  else chosen.delete(field);
  return LABEL_FIELDS.map((f) => f.value).filter((f) => chosen.has(f));
}

export class LabelSettingsController {
  printer: LabelPrinter | null = $state(null);
  deviceType: string = $state("");
  template: LabelTemplate | null = $state(null);
  preview: LabelPreview | null = $state(null);
  error: AppError | null = $state(null);
  previewError: AppError | null = $state(null);
  saved: string | null = $state(null);

  async load(deviceType: string | null): Promise<void> {
    this.error = null;
    try {
      this.printer = await call(commands.labelPrinter());
      if (deviceType) await this.chooseType(deviceType);
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  async chooseType(deviceType: string): Promise<void> {
    this.deviceType = deviceType;
    this.saved = null;
    try {
      this.template = await call(commands.labelTemplate(deviceType));
      await this.redraw();
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  /** Draw the template as it stands in the form (not yet saved). */
  async redraw(): Promise<void> {
    if (!this.template || !this.deviceType) return;
    try {
      this.preview = await call(commands.labelPreview(this.deviceType, $state.snapshot(this.template)));
      this.previewError = null;
    } catch (e) {
      this.preview = null;
      this.previewError = toAppError(e);
    }
  }

  async savePrinter(): Promise<boolean> {
    if (!this.printer) return false;
    this.error = null;
    this.saved = null;
    try {
      this.printer = await call(commands.setLabelPrinter($state.snapshot(this.printer)));
      this.saved = t("labels.printerSaved");
      return true;
    } catch (e) {
      this.error = toAppError(e);
      return false;
    }
  }

  async saveTemplate(): Promise<boolean> {
    if (!this.template || !this.deviceType) return false;
    this.error = null;
    this.saved = null;
    try {
      this.preview = await call(commands.setLabelTemplate(this.deviceType, $state.snapshot(this.template)));
      this.previewError = null;
      this.saved = t("labels.templateSaved", { type: this.deviceType });
      return true;
    } catch (e) {
      this.error = toAppError(e);
      return false;
    }
  }
}

/** One reprint button's state. */
export class ReprintController {
  state: "idle" | "printing" | "printed" = $state("idle");
  error: AppError | null = $state(null);

  async reprint(deviceId: string): Promise<void> {
    this.state = "printing";
    this.error = null;
    try {
      await call(commands.reprintLabel(deviceId));
      this.state = "printed";
    } catch (e) {
      this.error = toAppError(e);
      this.state = "idle";
    }
  }
}
