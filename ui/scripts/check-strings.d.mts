// Types of check-strings.mjs, for its Vitest test.
export type Found = { text: string; line: number };
export const READ_ATTRIBUTES: Set<string>;
export function findStrings(source: string, allow?: Set<string>): Found[];
export function findColours(source: string): Found[];
