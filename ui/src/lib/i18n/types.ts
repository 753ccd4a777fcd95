// The types that make the catalogues checkable: keys come from the English catalogue, the
// placeholders of each message from its text, and every other catalogue must give each key
// with the same placeholders.

import type { en } from "./en";

/** The plural categories of `Intl.PluralRules`. */
export type PluralCategory = "zero" | "one" | "two" | "few" | "many" | "other";
/** A message that depends on `{count}`: one text per plural category; `other` always. */
export type Plural = { readonly other: string } & { readonly [C in PluralCategory]?: string };
export type Message = string | Plural;

export type Catalogue = typeof en;
export type Key = keyof Catalogue;

/** The `{name}` placeholders of a text. */
export type Placeholders<S> = S extends `${string}{${infer P}}${infer Rest}` ? P | Placeholders<Rest> : never;

/** The placeholders of a message; a plural one always has `{count}`. */
export type PlaceholdersOf<M> = M extends string
  ? Placeholders<M>
  : M extends Plural
    ? Placeholders<M[keyof M]> | "count"
    : never;

export type Params<K extends Key> = { readonly [P in PlaceholdersOf<Catalogue[K]>]: string | number };

/** `t`'s arguments after the key: the params when the message has placeholders, else none. */
export type ParamArgs<K extends Key> = [PlaceholdersOf<Catalogue[K]>] extends [never] ? [] : [params: Params<K>];

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

/** A text holding every one of the placeholders `P` (and anything else). */
type Holding<P extends string> = [P] extends [never] ? string : UnionToIntersection<P extends string ? `${string}{${P}}${string}` : never> & string;

/** A translation of message `M`: the same kind, every placeholder kept (a plural's `other`
 *  holds every placeholder of the English forms); a plural may use the target language's own
 *  categories (Chinese has only `other`). */
export type TranslationOf<M> = M extends string
  ? Holding<Placeholders<M>>
  : M extends Plural
    ? { readonly other: Holding<Placeholders<M[keyof M]>> } & { readonly [C in PluralCategory]?: string }
    : never;

/** A whole catalogue in another language: every key of the English one, no other key. */
export type Translation = { readonly [K in Key]: TranslationOf<Catalogue[K]> };

/** The keys of messages without placeholders (what a table of words may hold). */
export type PlainKey = { [K in Key]: ParamArgs<K> extends [] ? K : never }[Key];
