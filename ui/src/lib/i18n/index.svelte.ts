// The language the screens speak, as reactive state: `t(key, params)` read in a template or a
// `$derived` follows `setLanguage` at once, without a restart. The choice itself is a station
// setting (`app.language`, saved like the others); `auto` follows the computer's language.
//
// Converting a screen: move each text of its markup to en.ts under a key named after the screen
// (`batches.title`), a whole sentence with named placeholders (never glued from fragments), a
// number's sentence as plural forms; add the key to zh-CN.ts (the type check lists what is
// missing); show it with `{t("batches.title")}`; then list the file as converted in
// ui/scripts/strings.config.json so `npm run check` keeps it that way.

import type { Language } from "../bindings";
import { en } from "./en";
import { zhCN } from "./zh-CN";
import type { Key, Message, ParamArgs, PluralCategory } from "./types";

export type { Key, PlainKey } from "./types";

/** A language the screens can speak (the setting's names without `auto`). */
export type Locale = Exclude<Language, "auto">;

/** Every catalogue by its language; a language of the setting missing here fails the type check. */
export const CATALOGUES: { readonly [L in Locale]: { readonly [K in Key]: Message } } = {
  en,
  "zh-CN": zhCN,
};

/** Each language named in itself, for the language picker. */
export const LANGUAGE_NAMES: { readonly [L in Locale]: string } = {
  en: "English",
  "zh-CN": "简体中文",
};

export const LOCALES = Object.keys(CATALOGUES) as Locale[];

const current = $state({ locale: "en" as Locale });

/** The language the screens speak now. */
export function locale(): Locale {
  return current.locale;
}

/** The catalogue for a browser language tag (`zh`, `zh-Hans-CN`, `en-GB`, `de`): Chinese
 *  for any Chinese, else English. */
export function localeFor(tag: string | null | undefined): Locale {
  const lower = (tag ?? "").toLowerCase();
  if (lower === "zh" || lower.startsWith("zh-")) return "zh-CN";
  return "en";
}

/** The locale a setting means: itself, or for `auto` the computer's language. */
export function resolveLanguage(setting: Language, computer: string | null | undefined = globalThis.navigator?.language): Locale {
  return setting === "auto" ? localeFor(computer) : setting;
}

/** Speak `setting` from now on (every `t` in view follows); the page's `lang` follows too, so
 *  the fonts choose Chinese glyph forms for Chinese. */
export function setLanguage(setting: Language): Locale {
  current.locale = resolveLanguage(setting);
  if (typeof document !== "undefined") document.documentElement.lang = current.locale;
  return current.locale;
}

const plurals = new Map<Locale, Intl.PluralRules>();

function pluralCategory(loc: Locale, count: number): PluralCategory {
  let rules = plurals.get(loc);
  if (!rules) {
    rules = new Intl.PluralRules(loc);
    plurals.set(loc, rules);
  }
  return rules.select(count);
}

/** The message `key` in the current language, its `{placeholders}` filled from `params`. */
export function t<K extends Key>(key: K, ...args: ParamArgs<K>): string {
  const loc = current.locale;
  const params = (args[0] ?? {}) as Record<string, string | number>;
  const message: Message = CATALOGUES[loc][key] ?? en[key];
  let text: string;
  if (typeof message === "string") {
    text = message;
  } else {
    const count = Number(params.count);
    text = message[pluralCategory(loc, count)] ?? message.other;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}
