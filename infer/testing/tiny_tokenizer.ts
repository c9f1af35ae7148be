/**
 * Shrink a real Hugging Face BPE `tokenizer.json` to a small vocabulary, for tiny test and demo
 * models: the first ids of the vocabulary (bytes and the earliest merges) are kept, merges that
 * would produce a dropped token are removed, and the special (added) tokens are moved to the
 * top ids. Text still encodes (byte fallback or byte-level BPE covers every input), with
 * shorter merges.
 *
 * @module
 */

type Json = Record<string, unknown>;

/**
 * A copy of a BPE `tokenizer.json` with `size` ids.
 *
 * @param json the parsed `tokenizer.json`
 * @param size the vocabulary size wanted (must exceed the number of added tokens kept)
 * @param keepAdded added tokens to keep (default: all); they get the highest ids, in order,
 *   unless their id is already below the limit
 * @param extraTokens vocabulary tokens to keep whatever their id (e.g. SentencePiece's `▁`),
 *   moved just below the added tokens
 * @returns the new `tokenizer.json` object; multi-character tokens that no kept merge produces
 *   are dropped, so every token left is reachable as in a real BPE vocabulary
 *
 * @example
 * ```ts
 * import { shrinkTokenizer } from "./tiny_tokenizer.ts";
 * const json = { model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2, abb: 3 }, merges: ["a b", "ab b"] },
 *   added_tokens: [{ id: 4, content: "<eos>", special: true }] };
 * const small = shrinkTokenizer(json, 4) as { model: { merges: string[] }; added_tokens: { id: number }[] };
 * if (small.model.merges.join("|") !== "a b" || small.added_tokens[0].id !== 3) throw new Error();
 * ```
 */
export function shrinkTokenizer(
  json: unknown,
  size: number,
  keepAdded?: readonly string[],
  extraTokens: readonly string[] = [],
): unknown {
  const j = structuredClone(json) as Json;
  const model = j.model as Json;
  const vocab = model.vocab as Record<string, number>;
  const added = ((j.added_tokens ?? []) as Json[]).filter((a) =>
    keepAdded === undefined || keepAdded.includes(a.content as string)
  );
  const moved = added.filter((a) => (a.id as number) >= size);
  const extra = extraTokens.filter((t) => t in vocab && vocab[t] >= size - moved.length - extraTokens.length);
  const limit = size - moved.length - extra.length;
  if (limit <= 0) throw new RangeError(`size ${size} leaves no room for the vocabulary`);
  moved.forEach((a, i) => a.id = limit + extra.length + i);
  const kept: Record<string, number> = {};
  for (const [t, id] of Object.entries(vocab)) if (id < limit) kept[t] = id;
  extra.forEach((t, i) => kept[t] = limit + i);
  for (const a of added) if ((a.id as number) < limit) kept[a.content as string] ??= a.id as number;
  const merges = ((model.merges ?? []) as (string | string[])[]).map((m) => Array.isArray(m) ? m : m.split(" "));
  // Keep merges among kept tokens, then only the multi-character tokens those merges reach.
  const reachable = new Set(Object.keys(kept).filter((t) => [...t].length === 1 || /^<0x[0-9A-F]{2}>$/.test(t)));
  for (const a of added) reachable.add(a.content as string);
  const keptMerges: string[][] = [];
  for (const [a, b] of merges) {
    if (reachable.has(a) && reachable.has(b) && (a + b) in kept) {
      keptMerges.push([a, b]);
      reachable.add(a + b);
    }
  }
  model.vocab = Object.fromEntries(
    Object.entries(kept).filter(([t]) => reachable.has(t) && !moved.some((a) => a.content === t)),
  );
  const strings = typeof (model.merges as unknown[] | undefined)?.[0] === "string";
  model.merges = keptMerges.map((m) => strings ? m.join(" ") : m);
  j.added_tokens = added;
  return j;
}
