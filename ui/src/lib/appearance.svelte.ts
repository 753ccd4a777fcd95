// The app's language and colours as the station's settings say (`app.language`, `app.theme`),
// applied to the page at once: the catalogue's language (./i18n) and `data-theme` on <html>,
// which app.css reads. `auto` follows the computer: its language, its light/dark preference
// (and follows a change of that preference while the app runs).

import type { AppError, Language, Settings, Theme } from "./bindings";
import { call, commands, toAppError } from "./ipc";
import { setLanguage } from "./i18n/index.svelte";

export type ShownTheme = Exclude<Theme, "auto">;

const DARK_QUERY = "(prefers-color-scheme: dark)";

function darkQuery(): MediaQueryList | null {
  return typeof window !== "undefined" && typeof window.matchMedia === "function" ? window.matchMedia(DARK_QUERY) : null;
}

/** The theme a setting means: itself, or for `auto` the computer's preference. */
export function resolveTheme(setting: Theme, prefersDark: boolean = darkQuery()?.matches ?? false): ShownTheme {
  if (setting !== "auto") return setting;
  return prefersDark ? "dark" : "light";
}

export class Appearance {
  language: Language = $state("auto");
  theme: Theme = $state("auto");
  /** The theme on screen now. */
  shown: ShownTheme = $state("light");
  error: AppError | null = $state(null);
  #unwatch: (() => void) | null = null;

  /** Apply the settings' language and theme (or, before they are read, the computer's). */
  apply(look: Pick<Settings, "language" | "theme">): void {
    this.language = look.language;
    this.theme = look.theme;
    setLanguage(look.language);
    this.#show();
    this.#watch();
  }

  #show(): void {
    this.shown = resolveTheme(this.theme);
    if (typeof document !== "undefined") document.documentElement.dataset.theme = this.shown;
  }

  /** While the theme is `auto`, follow the computer switching between light and dark. */
  #watch(): void {
    this.#unwatch?.();
    this.#unwatch = null;
    const query = darkQuery();
    if (this.theme !== "auto" || !query) return;
    const onChange = () => this.#show();
    query.addEventListener("change", onChange);
    this.#unwatch = () => query.removeEventListener("change", onChange);
  }

  /** Read the saved choice; a station that cannot answer keeps the computer's. */
  async load(): Promise<void> {
    try {
      this.apply(await call(commands.getSettings()));
    } catch {
      // Only how the screens look: the computer's language and colours serve meanwhile.
    }
  }

  async setLanguage(language: Language): Promise<void> {
    await this.#save({ key: "language", value: language });
  }

  async setTheme(theme: Theme): Promise<void> {
    await this.#save({ key: "theme", value: theme });
  }

  async #save(change: { key: "language"; value: Language } | { key: "theme"; value: Theme }): Promise<void> {
    try {
      this.apply(await call(commands.changeSetting(change)));
      this.error = null;
    } catch (e) {
      this.error = toAppError(e);
    }
  }
}

/** The app's one appearance: App applies it, the Settings screen's card changes it. */
export const appearance = new Appearance();

/** The saved language and colours the station hands the window before its first paint
 *  (`window.__STATION_LOOK__`, set by src-tauri's `look_script`); none when the station could
 *  not start, or outside the app. */
export function savedLook(w: Window & { __STATION_LOOK__?: unknown } = window): Pick<Settings, "language" | "theme"> | null {
  const look = w.__STATION_LOOK__ as Partial<Settings> | undefined;
  if (!look || typeof look.language !== "string" || typeof look.theme !== "string") return null;
  return { language: look.language, theme: look.theme };
}
