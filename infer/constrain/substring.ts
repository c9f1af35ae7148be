/**
 * A suffix automaton over the UTF-8 bytes of a text: walking it byte by byte tells, in constant
 * time per byte, whether what was read so far is a substring of the text. `--extractive`
 * decoding uses it to keep every answer a span of the input.
 *
 * @module
 */

/**
 * The substrings of one text, as an automaton over its UTF-8 bytes.
 *
 * @example
 * ```ts
 * import { SubstringAutomaton } from "./substring.ts";
 * const a = new SubstringAutomaton("Marie Curie");
 * if (!a.accepts("rie C") || a.accepts("Curie M")) throw new Error();
 * ```
 */
export class SubstringAutomaton {
  /** Transition table: `next[state * 256 + byte]`, -1 where there is none. */
  readonly #next: Int32Array;

  /**
   * Create a `SubstringAutomaton`.
   *
   * @param text the text whose substrings are accepted
   */
  constructor(text: string) {
    const bytes = new TextEncoder().encode(text);
    const max = 2 * bytes.length + 2;
    const next = new Int32Array(max * 256).fill(-1);
    const link = new Int32Array(max).fill(-1);
    const len = new Int32Array(max);
    let size = 1;
    let last = 0;
    for (const b of bytes) {
      const cur = size++;
      len[cur] = len[last] + 1;
      let p = last;
      while (p !== -1 && next[p * 256 + b] === -1) {
        next[p * 256 + b] = cur;
        p = link[p];
      }
      if (p === -1) {
        link[cur] = 0;
      } else {
        const q = next[p * 256 + b];
        if (len[p] + 1 === len[q]) {
          link[cur] = q;
        } else {
          const clone = size++;
          len[clone] = len[p] + 1;
          next.copyWithin(clone * 256, q * 256, q * 256 + 256);
          link[clone] = link[q];
          while (p !== -1 && next[p * 256 + b] === q) {
            next[p * 256 + b] = clone;
            p = link[p];
          }
          link[q] = clone;
          link[cur] = clone;
        }
      }
      last = cur;
    }
    this.#next = next.slice(0, size * 256);
  }

  /** Whether the text is empty (no non-empty substring exists). */
  get empty(): boolean {
    return this.#next.length === 256;
  }

  /** The state before any byte. */
  get start(): number {
    return 0;
  }

  /**
   * Follow one byte.
   *
   * @param state a state (`start` or a result of `step`)
   * @param byte the next byte
   * @returns the new state, or -1 when the bytes read are no longer a substring
   *
   * @example
   * ```ts
   * import { SubstringAutomaton } from "./substring.ts";
   * const a = new SubstringAutomaton("ab");
   * if (a.step(a.step(a.start, 97), 99) !== -1) throw new Error();
   * ```
   */
  step(state: number, byte: number): number {
    return state < 0 ? -1 : this.#next[state * 256 + byte];
  }

  /**
   * Whether a string is a substring of the text.
   *
   * @param s the string
   * @returns true when it occurs in the text (the empty string always does)
   *
   * @example
   * ```ts
   * import { SubstringAutomaton } from "./substring.ts";
   * if (!new SubstringAutomaton("北京大学").accepts("京大")) throw new Error();
   * ```
   */
  accepts(s: string): boolean {
    let state = this.start;
    for (const b of new TextEncoder().encode(s)) if ((state = this.step(state, b)) < 0) return false;
    return true;
  }
}
