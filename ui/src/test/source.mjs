// A source file's text for a test (Vitest empties .css imports, even with ?raw).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The text of `path`, relative to ui/src. */
export function sourceText(path) {
  return readFileSync(join(SRC, path), "utf8");
}
