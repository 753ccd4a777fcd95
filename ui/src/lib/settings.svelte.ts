// The Settings screen's logic: each setting saved on its own, device types added and edited.

import type { AppError, DeviceTypeInfo, DeviceTypeInput, SettingChange, Settings } from "./bindings";
import { call, commands, toAppError } from "./ipc";
import { t } from "./i18n/index.svelte";

export const HASH_CHOICES = [
  { value: "argon2", label: "Argon2" },
  { value: "pbkdf2_sha256", get label() { return t("hash.pbkdf2"); } },
];

export type HashChoice = { value: string; label: string };

/**
 * The hash algorithms to offer: the usual ones, plus the current value and the station's
 * default when they are something else; the station's default (from the store, never assumed
 * here) is labelled as such.
 */
export function hashChoices(current: string, stationDefault: string): HashChoice[] {
  const choices: HashChoice[] = [...HASH_CHOICES];
  for (const v of [stationDefault, current]) {
    if (v && !choices.some((c) => c.value === v)) choices.push({ value: v, label: v });
  }
  return choices.map((c) => (c.value === stationDefault ? { ...c, label: t("hash.default", { label: c.label }) } : c));
}

/** The drivers a device type can name (station_core::driver::DriverKind's stable names). */
export const DRIVER_CHOICES = [
  { value: "protocol", get label() { return t("driver.protocol"); } },
  { value: "nvs", get label() { return t("driver.nvs"); } },
  { value: "mcumgr", get label() { return t("driver.mcumgr"); } },
];

export function emptyType(): DeviceTypeInput {
  return {
    name: "",
    app_label: "",
    topic_prefix: null,
    topic_template: null,
    broker_host: null,
    broker_port: null,
    broker_tls: null,
    driver: "protocol",
    driver_settings: null,
  };
}

/** A type's driver settings (a JSON object) as the editor shows them: one NAME=VALUE a line. */
export function settingsToLines(json: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json || "{}");
  } catch {
    return "";
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return "";
  return Object.entries(parsed as Record<string, unknown>)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join("\n");
}

/** The editor's NAME=VALUE lines as the JSON object the station stores (values as text; each
 *  driver checks its own names and values). Blank lines are skipped; a line without `=`, or
 *  without a name, is named back as the bad line. */
export function linesToSettings(text: string): { json: string } | { badLine: string } {
  const settings: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.indexOf("=");
    if (at <= 0) return { badLine: line };
    settings[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return { json: JSON.stringify(settings) };
}

/** The Settings screen's forms, for showing a problem next to the one it is about. */
export type SettingsForm = "operator" | "station" | "server" | "hash" | "type";

export class SettingsController {
  settings: Settings | null = $state(null);
  types: DeviceTypeInfo[] = $state([]);
  error: AppError | null = $state(null);
  /** The form `error` is about (shown next to it), or `null` for the screen as a whole. */
  errorIn: SettingsForm | null = $state(null);
  /** Bumped each time a form shows a problem, so it is scrolled into view again. */
  errorSeq = $state(0);
  saved: string | null = $state(null);
  draft: DeviceTypeInput = $state(emptyType());
  /** The driver settings being edited, one NAME=VALUE a line. */
  settingLines: string = $state("");
  editing: string | null = $state(null);

  async load(): Promise<void> {
    try {
      const [settings, types] = await Promise.all([call(commands.getSettings()), call(commands.listTypes())]);
      this.settings = settings;
      this.types = types;
      this.error = null;
      this.errorIn = null;
    } catch (e) {
      this.fail(toAppError(e), null);
    }
  }

  private fail(error: AppError, form: SettingsForm | null): void {
    this.error = error;
    this.errorIn = form;
    this.errorSeq += 1;
  }

  /** The problem to show next to `form`, if it is about that form. */
  errorFor(form: SettingsForm): AppError | null {
    return this.errorIn === form ? this.error : null;
  }

  /** Save one setting; `what` is what the confirmation says was saved, `form` where a problem
   *  is shown (`null`: at the top of the screen). */
  async change(change: SettingChange, what: string, form: SettingsForm | null = null): Promise<boolean> {
    try {
      this.settings = await call(commands.changeSetting(change));
      this.error = null;
      this.errorIn = null;
      this.saved = what;
      return true;
    } catch (e) {
      this.fail(toAppError(e), form);
      this.saved = null;
      return false;
    }
  }

  startEdit(t: DeviceTypeInfo): void {
    this.editing = t.name;
    this.draft = { ...t, broker_tls: t.broker_tls };
    this.settingLines = settingsToLines(t.driver_settings);
  }

  startAdd(): void {
    this.editing = null;
    this.draft = emptyType();
    this.settingLines = "";
  }

  async saveType(): Promise<boolean> {
    const settings = linesToSettings(this.settingLines);
    if ("badLine" in settings) {
      this.fail(
        {
          code: "invalid_input",
          message: t("settings.driverBadLine", { line: settings.badLine }),
          help: t("settings.driverBadLineHelp"),
          reason: null,
          action: "fix_input",
        },
        "type",
      );
      return false;
    }
    try {
      const input = {
        ...this.draft,
        broker_port: this.draft.broker_port ? Number(this.draft.broker_port) : null,
        driver_settings: settings.json,
      };
      if (this.editing) await call(commands.editType(input));
      else await call(commands.addType(input));
      this.saved = t("settings.savedType", { name: input.name });
      this.editing = null;
      this.draft = emptyType();
      this.settingLines = "";
      this.error = null;
      this.errorIn = null;
      this.types = await call(commands.listTypes());
      return true;
    } catch (e) {
      this.fail(toAppError(e), "type");
      return false;
    }
  }
}
