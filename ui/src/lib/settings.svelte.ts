// The Settings screen's logic: each setting saved on its own, device types added and edited.

import type { AppError, DeviceTypeInfo, DeviceTypeInput, SettingChange, Settings } from "./bindings";
import { call, commands, toAppError } from "./ipc";

export const HASH_CHOICES = [
  { value: "argon2", label: "Argon2" },
  { value: "pbkdf2_sha256", label: "PBKDF2-SHA256 (servers without argon2-cffi)" },
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
  return choices.map((c) => (c.value === stationDefault ? { ...c, label: `${c.label} (the station's default)` } : c));
}

export function emptyType(): DeviceTypeInput {
  return { name: "", app_label: "", topic_prefix: null, topic_template: null, broker_host: null, broker_port: null, broker_tls: null };
}

export class SettingsController {
  settings: Settings | null = $state(null);
  types: DeviceTypeInfo[] = $state([]);
  error: AppError | null = $state(null);
  saved: string | null = $state(null);
  draft: DeviceTypeInput = $state(emptyType());
  editing: string | null = $state(null);

  async load(): Promise<void> {
    try {
      const [settings, types] = await Promise.all([call(commands.getSettings()), call(commands.listTypes())]);
      this.settings = settings;
      this.types = types;
      this.error = null;
    } catch (e) {
      this.error = toAppError(e);
    }
  }

  /** Save one setting; `what` is what the confirmation says was saved. */
  async change(change: SettingChange, what: string): Promise<boolean> {
    try {
      this.settings = await call(commands.changeSetting(change));
      this.error = null;
      this.saved = what;
      return true;
    } catch (e) {
      this.error = toAppError(e);
      this.saved = null;
      return false;
    }
  }

  startEdit(t: DeviceTypeInfo): void {
    this.editing = t.name;
    this.draft = { ...t, broker_tls: t.broker_tls };
  }

  startAdd(): void {
    this.editing = null;
    this.draft = emptyType();
  }

  async saveType(): Promise<boolean> {
    try {
      const input = { ...this.draft, broker_port: this.draft.broker_port ? Number(this.draft.broker_port) : null };
      if (this.editing) await call(commands.editType(input));
      else await call(commands.addType(input));
      this.saved = `Device type ${input.name}`;
      this.editing = null;
      this.draft = emptyType();
      this.error = null;
      this.types = await call(commands.listTypes());
      return true;
    } catch (e) {
      this.error = toAppError(e);
      return false;
    }
  }
}
