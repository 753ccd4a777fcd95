/** The text of `path`, relative to ui/src. */
export function sourceText(path: string): string;
