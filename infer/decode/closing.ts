/**
 * Closing a cut-off constrained answer as bytes: the generated tokens may end inside a UTF-8
 * character, so the answer is their bytes followed by the constraint's closing bytes (which
 * finish that character), decoded once.
 *
 * @module
 */

import { type JsonShapeMatcher, utf8Step } from "../constrain/json_matcher.ts";

const strict = new TextDecoder("utf-8", { fatal: true });
const lenient = new TextDecoder();

/**
 * How many bytes at the end start a UTF-8 character without finishing it (0 when the bytes end
 * between characters, or with an ill-formed sequence).
 *
 * @param bytes the bytes
 * @returns the length of the unfinished character at the end
 *
 * @example
 * ```ts
 * import { partialTail } from "./closing.ts";
 * if (partialTail(new Uint8Array([0x61, 0xe4, 0xba])) !== 2) throw new Error("two bytes of 人");
 * ```
 */
export function partialTail(bytes: Uint8Array): number {
  for (let n = 1; n <= Math.min(3, bytes.length); n++) {
    const lead = bytes[bytes.length - n];
    if ((lead & 0xc0) === 0x80) continue; // a continuation byte: the lead is further back
    let u = 0;
    for (let i = bytes.length - n; i < bytes.length && u >= 0; i++) u = utf8Step(u, bytes[i]);
    return u > 0 ? n : 0;
  }
  return 0;
}

/**
 * The bytes with every ill-formed UTF-8 sequence replaced by U+FFFD, as a decoder shows them,
 * except an unfinished character at the end, which is kept as it is (a closing may finish it).
 *
 * @param bytes the bytes
 * @returns well-formed UTF-8, possibly ending inside a character
 *
 * @example
 * ```ts
 * import { wellFormed } from "./closing.ts";
 * if (wellFormed(new Uint8Array([0xff, 0x61, 0xe4])).join() !== "239,191,189,97,228") throw new Error();
 * ```
 */
export function wellFormed(bytes: Uint8Array): Uint8Array {
  const tail = partialTail(bytes);
  const head = new TextEncoder().encode(lenient.decode(bytes.subarray(0, bytes.length - tail)));
  const out = new Uint8Array(head.length + tail);
  out.set(head);
  out.set(bytes.subarray(bytes.length - tail), head.length);
  return out;
}

/**
 * The text of an answer's bytes followed by its closing bytes, decoded once.
 *
 * @param answer the answer so far (well-formed UTF-8, possibly ending inside a character)
 * @param closing the bytes that complete it
 * @returns the whole text, and the closing as text: what follows the answer's whole characters
 * @throws {TypeError} when the two together are not well-formed UTF-8
 *
 * @example
 * ```ts
 * import { closeAnswer } from "./closing.ts";
 * const r = closeAnswer(new Uint8Array([0x5b, 0x22, 0xe4, 0xba]), new Uint8Array([0xba, 0x22, 0x5d]));
 * if (r.text !== '["人"]' || r.closing !== '人"]') throw new Error();
 * ```
 */
export function closeAnswer(answer: Uint8Array, closing: Uint8Array): { text: string; closing: string } {
  const all = new Uint8Array(answer.length + closing.length);
  all.set(answer);
  all.set(closing, answer.length);
  const text = strict.decode(all);
  const whole = strict.decode(answer.subarray(0, answer.length - partialTail(answer)));
  return { text, closing: text.slice(whole.length) };
}

/**
 * Close a cut-off answer under `matcher`'s shape, whatever its bytes: the longest start of them
 * that fits the shape, followed by its closing. All of the bytes are kept when they fit; an
 * engine whose constraint is looser than the matcher (llama.cpp's grammar, which lets through
 * ill-formed UTF-8 that shows as U+FFFD and may end a string earlier than the grammar did) loses
 * what follows the first byte that does not.
 *
 * @param matcher the answer shape's matcher
 * @param answer the answer so far (well-formed UTF-8, possibly ending inside a character)
 * @returns the closed text, the closing as text, and how many bytes at the end were left out
 *
 * @example
 * ```ts
 * import { closeLongestFit } from "./closing.ts";
 * import { JsonShapeMatcher, shapeForSchema } from "../constrain/mod.ts";
 * const m = new JsonShapeMatcher(shapeForSchema("NER", ["person"]));
 * const r = closeLongestFit(m, new TextEncoder().encode('{"person": ["Ann"x'));
 * if (r.text !== '{"person": ["Ann"]}' || r.dropped !== 1) throw new Error(JSON.stringify(r));
 * ```
 */
export function closeLongestFit(
  matcher: JsonShapeMatcher,
  answer: Uint8Array,
): { text: string; closing: string; dropped: number } {
  let state = matcher.feed(matcher.start(), answer);
  let fits = answer.length;
  if (state === undefined) {
    state = matcher.start();
    for (fits = 0; fits < answer.length; fits++) {
      const next = matcher.feed(state, answer.subarray(fits, fits + 1));
      if (next === undefined) break;
      state = next;
    }
  }
  return { ...closeAnswer(answer.subarray(0, fits), matcher.completionBytes(state)), dropped: answer.length - fits };
}
