#!/usr/bin/env node
// Lists the text a person reads that is written into .svelte markup instead of coming from the
// language catalogue (src/lib/i18n): text between tags, and title / placeholder / aria-label /
// alt / label attributes, including string literals shown through `{...}` there. Texts without
// a letter (symbols, numbers) and texts in the allowlist pass.
//
// Prints the count per file. Fails (exit 1) only for a file listed as converted in
// scripts/strings.config.json, naming each text and its line; the others are reported until
// they are converted. Also counts hard-coded colours in <style> (the themes need custom
// properties, src/app.css): those fail in converted files and in files listed as themed.
//
//   node scripts/check-strings.mjs            # from ui/
//   node scripts/check-strings.mjs --verbose  # every text of every file

import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "svelte/compiler";

/** Attributes whose value a person reads (or hears, from a screen reader). */
export const READ_ATTRIBUTES = new Set(["title", "placeholder", "aria-label", "aria-description", "alt", "label"]);
const LETTER = /\p{L}/u;
const COMPARISON = new Set(["===", "!==", "==", "!="]);
/** The catalogue's lookup: its arguments are keys, not text. */
const LOOKUP = "t";
const COLOUR = /#[0-9a-fA-F]{3,8}\b|\b(?:rgba?|hsla?)\(/g;

function lineOf(source, offset) {
  let line = 1;
  for (let i = 0; i < offset && i < source.length; i++) if (source.charCodeAt(i) === 10) line++;
  return line;
}

/** String literals shown by an expression: not compared, not a lookup key, not an index. */
function literalsIn(node, found) {
  if (!node || typeof node !== "object") return;
  if (Array.isArray(node)) {
    for (const n of node) literalsIn(n, found);
    return;
  }
  switch (node.type) {
    case "Literal":
      if (typeof node.value === "string") found.push({ text: node.value, start: node.start });
      return;
    case "TemplateLiteral":
      found.push({ text: node.quasis.map((q) => q.value.cooked).join("…"), start: node.start });
      for (const e of node.expressions) literalsIn(e, found);
      return;
    case "BinaryExpression":
      if (COMPARISON.has(node.operator)) return;
      break;
    case "CallExpression":
      if (node.callee.type === "Identifier" && node.callee.name === LOOKUP) return;
      break;
    case "MemberExpression":
      literalsIn(node.object, found);
      if (!node.computed) return;
      if (node.property.type !== "Literal") literalsIn(node.property, found);
      return;
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === "loc" || key === "start" || key === "end" || key === "type") continue;
    if (value && typeof value === "object") literalsIn(value, found);
  }
}

function valueParts(value, found) {
  if (value === true) return;
  const parts = Array.isArray(value) ? value : [value];
  for (const part of parts) {
    if (part.type === "Text") found.push({ text: part.data, start: part.start });
    else if (part.type === "ExpressionTag") literalsIn(part.expression, found);
  }
}

/** Every text of `source` (a .svelte file) a person would read, with its line. */
export function findStrings(source, allow = new Set()) {
  const ast = parse(source, { modern: true });
  const found = [];
  const walk = (node) => {
    if (!node || typeof node !== "object") return;
    if (Array.isArray(node)) return node.forEach(walk);
    switch (node.type) {
      case "Text":
        found.push({ text: node.data, start: node.start });
        return;
      case "Comment":
        return;
      case "ExpressionTag":
        literalsIn(node.expression, found);
        return;
      case "Attribute":
        if (READ_ATTRIBUTES.has(node.name.toLowerCase())) valueParts(node.value, found);
        return;
    }
    for (const [key, value] of Object.entries(node)) {
      // Block tests ({#if x === "off"}), event handlers and the like are code, not text.
      if (["expression", "test", "context", "key", "index", "loc", "name_loc", "metadata"].includes(key)) continue;
      if (value && typeof value === "object") walk(value);
    }
  };
  walk(ast.fragment);
  return found
    .map((f) => ({ text: f.text.replace(/\s+/g, " ").trim(), line: lineOf(source, f.start) }))
    .filter((f) => LETTER.test(f.text) && !allow.has(f.text));
}

/** Hard-coded colours in the file's <style>, with their lines. */
export function findColours(source) {
  const ast = parse(source, { modern: true });
  if (!ast.css) return [];
  const { start, end } = ast.css.content;
  const css = source.slice(start, end);
  const found = [];
  for (const line of css.split("\n").entries()) {
    // A custom property's own definition is the place colours belong.
    const text = line[1].replace(/--[\w-]+\s*:[^;]*;?/g, "");
    for (const m of text.matchAll(COLOUR)) found.push({ text: m[0], line: lineOf(source, start) + line[0] });
  }
  return found;
}

function svelteFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...svelteFiles(path));
    else if (name.endsWith(".svelte")) out.push(path);
  }
  return out.sort();
}

function main() {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const config = JSON.parse(readFileSync(join(root, "scripts", "strings.config.json"), "utf8"));
  const converted = new Set(config.converted);
  const themed = new Set(config.themed ?? []);
  const allow = new Set(config.allow);
  const verbose = process.argv.includes("--verbose");
  let failures = 0;
  let pending = 0;
  for (const missing of [...config.converted, ...themed]) {
    try {
      statSync(join(root, missing));
    } catch {
      console.error(`check-strings: ${missing} is listed as converted but does not exist`);
      failures++;
    }
  }
  console.log("Literal text / hard-coded colours per .svelte file (converted files must have none):");
  for (const path of svelteFiles(join(root, "src"))) {
    const file = relative(root, path).split("\\").join("/");
    const source = readFileSync(path, "utf8");
    const strings = findStrings(source, allow);
    const colours = findColours(source);
    const isConverted = converted.has(file);
    const isThemed = isConverted || themed.has(file);
    const bad = (isConverted && strings.length > 0) || (isThemed && colours.length > 0);
    const mark = bad ? "FAIL" : isConverted ? "ok  " : "todo";
    console.log(`  ${mark} ${String(strings.length).padStart(3)} texts ${String(colours.length).padStart(3)} colours  ${file}`);
    if (bad || verbose) {
      if (isConverted || verbose) for (const s of strings) console.log(`         ${file}:${s.line}: text "${s.text}"`);
      for (const c of colours) console.log(`         ${file}:${c.line}: colour ${c.text}`);
    }
    if (bad) failures++;
    else pending += (isConverted ? 0 : strings.length) + (isThemed ? 0 : colours.length);
  }
  console.log(`${pending} texts and colours left in files not yet converted (listed above, not an error yet).`);
  if (failures > 0) {
    console.error(`check-strings: ${failures} converted file(s) show text or colours outside the catalogue and the theme: move each text to src/lib/i18n/en.ts (and every other catalogue) and show it with t(key); use a colour's custom property from src/app.css.`);
    process.exit(1);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
