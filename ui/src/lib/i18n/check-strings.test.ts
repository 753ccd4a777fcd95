// The literal-text checker (scripts/check-strings.mjs): what a person reads is found, code is not.
import { describe, expect, it } from "vitest";
import { findColours, findStrings } from "../../../scripts/check-strings.mjs";

const texts = (source: string, allow?: Set<string>) => findStrings(source, allow).map((f) => f.text);

describe("check-strings", () => {
  it("finds text between tags and in the attributes a person reads, with its line", () => {
    const found = findStrings(`<h1>Sync</h1>\n<input placeholder="e.g. line3-" title="Prefix" class="wide" data-testid="prefix" />\n<button aria-label="Close">×</button>`);
    expect(found).toEqual([
      { text: "Sync", line: 1 },
      { text: "e.g. line3-", line: 2 },
      { text: "Prefix", line: 2 },
      { text: "Close", line: 3 },
    ]);
  });

  it("finds strings shown through an expression, not compared ones, lookup keys or code", () => {
    const source = `<script>let x = "not markup";</script>
{#if mode === "off"}<p>{busy ? "Trying…" : t("sync.retry")}</p>{/if}
<p class={on ? "big" : "small"} onclick={() => go("settings")}>{\`\${n} times\`} {words["x"]}</p>`;
    expect(texts(source)).toEqual(["Trying…", "… times"]);
  });

  it("passes symbols, numbers and the allowlist", () => {
    expect(texts(`<p>⚠ 42 — ·</p><p>ESP32</p><p>简体中文</p>`, new Set(["ESP32"]))).toEqual(["简体中文"]);
  });

  it("finds hard-coded colours in the style, not custom properties", () => {
    const found = findColours(`<p>x</p>\n<style>\n  .a { color: #fff; background: var(--card); }\n  .b { --mine: #123456; border: 1px solid rgba(0, 0, 0, 0.5); }\n</style>`);
    expect(found).toEqual([
      { text: "#fff", line: 3 },
      { text: "rgba(", line: 4 },
    ]);
  });
});
