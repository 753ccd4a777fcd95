// The themes' colours (src/app.css) as a person reads them: each text colour on each surface it
// sits on keeps WCAG AA (4.5:1), borders and controls 3:1, in the light and the dark theme; and
// PASS and FAIL stay apart from each other.
import { describe, expect, it } from "vitest";
import { sourceText } from "./test/source.mjs";
import { resolveTheme } from "./lib/appearance.svelte.js";

const css = sourceText("app.css");

/** The custom properties of the rule whose selector is exactly `selector`. */
function properties(selector: string): Record<string, string> {
  const at = css.indexOf(`${selector} {`);
  expect(at, selector).toBeGreaterThanOrEqual(0);
  const body = css.slice(css.indexOf("{", at) + 1, css.indexOf("}", at));
  const props: Record<string, string> = {};
  for (const [, name, value] of body.matchAll(/(--[\w-]+)\s*:\s*([^;]+);/g)) props[name] = value.trim();
  return props;
}

const light = properties(":root");
const dark = { ...light, ...properties(':root[data-theme="dark"]') };

function colour(theme: Record<string, string>, name: string): string {
  let value = theme[name];
  for (let i = 0; value?.startsWith("var("); i++) value = theme[value.slice(4, -1).trim()];
  expect(value, name).toMatch(/^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$/);
  return value;
}

function luminance(hex: string): number {
  const h = hex.length === 4 ? hex.replace(/[0-9a-f]/gi, (c) => c + c).slice(1) : hex.slice(1);
  const [r, g, b] = [0, 2, 4].map((i) => {
    const c = parseInt(h.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a: string, b: string): number {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

/** [text, surface] pairs that must read at 4.5:1. */
const TEXT: [string, string][] = [
  ["--ink", "--paper"],
  ["--ink", "--card"],
  ["--ink", "--input-bg"],
  ["--ink", "--selected-bg"],
  ["--ink", "--fail-bg"],
  ["--muted", "--card"],
  ["--muted", "--paper"],
  ["--pass", "--card"],
  ["--fail", "--card"],
  ["--warn", "--card"],
  ["--fail", "--fail-bg"],
  ["--on-status", "--pass"],
  ["--on-status", "--fail"],
  ["--on-brand", "--brand"],
  ["--brand", "--on-brand"],
  ["--on-brand", "--training-a"],
  ["--on-brand", "--training-b"],
];
/** [edge, surface] pairs that must show at 3:1: borders of fields and cards, the primary
 *  button's edge, and the focus ring on its band, the band on the page (or the ring itself). */
const EDGES: [string, string][] = [
  ["--line", "--card"],
  ["--line", "--paper"],
  ["--primary-edge", "--card"],
  ["--focus", "--focus-band"],
];

function focusStandsOut(theme: Record<string, string>): number {
  const paper = colour(theme, "--paper");
  return Math.max(contrast(colour(theme, "--focus"), paper), contrast(colour(theme, "--focus-band"), paper));
}

describe("themes", () => {
  for (const [name, theme] of [["light", light], ["dark", dark]] as const) {
    it(`${name}: every text colour reads at WCAG AA on its surfaces`, () => {
      for (const [fg, bg] of TEXT) {
        const c = contrast(colour(theme, fg), colour(theme, bg));
        expect(c, `${name} ${fg} on ${bg}: ${c.toFixed(2)}`).toBeGreaterThanOrEqual(4.5);
      }
    });

    it(`${name}: borders, the focus ring and the primary button's edge show at 3:1`, () => {
      for (const [fg, bg] of EDGES) {
        const c = contrast(colour(theme, fg), colour(theme, bg));
        expect(c, `${name} ${fg} on ${bg}: ${c.toFixed(2)}`).toBeGreaterThanOrEqual(3);
      }
      expect(focusStandsOut(theme), `${name}: the focus ring on the page`).toBeGreaterThanOrEqual(3);
    });

    it(`${name}: PASS and FAIL are different colours, not only different words`, () => {
      expect(colour(theme, "--pass")).not.toBe(colour(theme, "--fail"));
      const [p, f] = [colour(theme, "--pass"), colour(theme, "--fail")].map((c) => parseInt(c.slice(1, 3), 16));
      expect(f - p, "FAIL is the red one").toBeGreaterThan(60);
    });
  }

  it("auto follows the computer's light or dark preference", () => {
    expect(resolveTheme("auto", true)).toBe("dark");
    expect(resolveTheme("auto", false)).toBe("light");
    expect(resolveTheme("dark", false)).toBe("dark");
    expect(resolveTheme("light", true)).toBe("light");
  });
});
