// The language catalogue: every language says every message with the same placeholders, numbers
// take their plural forms, the computer's language picks the first catalogue, a switch is at once.
import { afterEach, describe, expect, it } from "vitest";
import { en } from "./en";
import { CATALOGUES, LOCALES, localeFor, locale, resolveLanguage, setLanguage, t } from "./index.svelte";
import type { Message } from "./types";
import { ACTION_WORDS, CONNECTION_WORDS, STEP_WORDS, failureHeadline, serverLine, unitLine, when } from "../words";

afterEach(() => {
  setLanguage("en");
});

const PLACEHOLDER = /\{(\w+)\}/g;

function placeholders(m: Message): string[] {
  const texts = typeof m === "string" ? [m] : Object.values(m);
  const names = new Set<string>();
  for (const text of texts) for (const [, name] of text.matchAll(PLACEHOLDER)) names.add(name);
  if (typeof m !== "string") names.add("count");
  return [...names].sort();
}

describe("catalogues", () => {
  it("every language has every English key, no other key, and keeps each placeholder", () => {
    for (const loc of LOCALES) {
      const cat = CATALOGUES[loc] as Record<string, Message>;
      expect(Object.keys(cat).sort(), loc).toEqual(Object.keys(en).sort());
      for (const [key, message] of Object.entries(en)) {
        const translated = cat[key];
        expect(typeof translated, `${loc} ${key}`).toBe(typeof message);
        const other = typeof translated === "string" ? translated : translated.other;
        expect(other.trim().length, `${loc} ${key} is empty`).toBeGreaterThan(0);
        // A plural's `other` form holds every placeholder (the English `one` may say "once").
        const kept = placeholders(typeof translated === "string" ? translated : { other });
        expect(kept, `${loc} ${key}`).toEqual(placeholders(message));
      }
    }
  });

  it("the Chinese catalogue is Chinese, not English left over", () => {
    const zh = CATALOGUES["zh-CN"] as Record<string, Message>;
    // Messages with no word of their own: a shortcut, a switch's name with its colon, a reason with its count and the separator between them
    // (Chinese takes the full-width one).
    const same = new Set(["nav.shortcut", "switch.label", "shift.reasonCount", "shift.reasonSeparator"]);
    for (const [key, message] of Object.entries(zh)) {
      if (same.has(key)) continue;
      const text = typeof message === "string" ? message : message.other;
      expect(text, key).toMatch(/[\u4e00-\u9fff]/);
    }
  });

  it("fills placeholders and picks the plural form of each language", () => {
    expect(t("startup.triedAgain", { count: 1 })).toBe("Tried again once: still the same problem.");
    expect(t("startup.triedAgain", { count: 3 })).toBe("Tried again 3 times: still the same problem.");
    expect(t("sync.lastFailed", { error: "HTTP 401" })).toBe("Last attempt failed: HTTP 401");
    setLanguage("zh-CN");
    expect(t("startup.triedAgain", { count: 1 })).toBe("已重试 1 次：问题仍在。");
    expect(t("startup.triedAgain", { count: 3 })).toBe("已重试 3 次：问题仍在。");
  });

  it("auto follows the computer's language: any Chinese speaks Chinese, anything else English", () => {
    for (const tag of ["zh", "zh-CN", "zh-Hans-CN", "zh-SG", "ZH-cn", "zh-TW"]) expect(localeFor(tag), tag).toBe("zh-CN");
    for (const tag of ["en-US", "de-DE", "", "z", "zu"]) expect(localeFor(tag), tag).toBe("en");
    expect(localeFor(undefined)).toBe("en");
    expect(resolveLanguage("auto", "zh-CN")).toBe("zh-CN");
    expect(resolveLanguage("en", "zh-CN")).toBe("en");
    expect(resolveLanguage("zh-CN", "en-US")).toBe("zh-CN");
  });

  it("a switch changes the page's language, so the fonts pick Chinese glyphs", () => {
    expect(setLanguage("zh-CN")).toBe("zh-CN");
    expect(locale()).toBe("zh-CN");
    expect(document.documentElement.lang).toBe("zh-CN");
    setLanguage("en");
    expect(document.documentElement.lang).toBe("en");
  });
});

describe("words in Chinese", () => {
  it("every table and sentence of words.ts follows the switch at once", () => {
    expect(STEP_WORDS.write).toBe("Write");
    expect(failureHeadline("device", "timeout")).toBe("The device did not answer");
    setLanguage("zh-CN");
    expect(STEP_WORDS.write).toBe("写入");
    expect(failureHeadline("device", "timeout")).toBe("设备无应答");
    expect(failureHeadline("conflict", null)).toBe("现在无法执行");
    expect(failureHeadline("device", "something_new")).toBe("烧录失败");
    expect(ACTION_WORDS.free_port).toBe("关闭占用此端口的其他程序，然后重试。");
    expect(Object.values(ACTION_WORDS).every((w) => /[\u4e00-\u9fff]/.test(w))).toBe(true);
    expect(CONNECTION_WORDS.failing).toBe("未被接受");
  });

  it("keeps the 24-hour YYYY-MM-DD hh:mm:ss time in every language", () => {
    const english = when("2026-11-26T10:05:09Z");
    setLanguage("zh-CN");
    expect(when("2026-11-26T10:05:09Z")).toBe(english);
    expect(english).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });

  it("says the server line and the unit line as whole Chinese sentences", () => {
    setLanguage("zh-CN");
    const report = { status: "online", last_seen: null, is_active: false, generation: 2, fetched_at: "2026-11-26T10:06:00Z" };
    const line = serverLine(report, 3);
    expect(line).toContain("在线 · 从未在线 · 第 2 代（比工作站的第 3 代旧：等待同步）");
    expect(line).toContain("已在服务器上停用");
    const unit = unitLine({ port: "sim:1", hardware_id: "AB12", firmware_version: "1.1", device_id: "farm-001", generation: 4, known: true, recovered: ["farm-000"] });
    expect(unit).toBe("sim:1 上的设备 AB12（固件 1.1）是 farm-001，第 4 代。已处理未确认的烧录：farm-000。");
  });
});
