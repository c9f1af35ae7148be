/**
 * A byte-level matcher for one answer shape, in the exact spelling IE models are trained on
 * (Python `json.dumps`: `", "` and `": "`, no other whitespace). States are immutable, so a
 * state can be stepped speculatively along many token byte strings at once (token masks), and
 * any state can be closed with the shortest text that makes the answer valid JSON.
 *
 * @module
 */

import type { ListShape, MapShape, ObjectShape, Shape, StringShape } from "./shape.ts";
import type { SubstringAutomaton } from "./substring.ts";

type Frame =
  | { t: "ws"; n: number }
  | { t: "lit"; bytes: Uint8Array; i: number }
  | { t: "value"; shape: Shape }
  | { t: "str"; shape: StringShape; sam: number; nan: number; esc: number; hex: number; len: number; utf8: number }
  | { t: "list"; shape: ListShape; after: boolean }
  | { t: "obj"; shape: ObjectShape; next: number; after: boolean }
  | { t: "key"; cands: readonly number[]; pos: number }
  | { t: "map"; shape: MapShape; after: boolean };

/** A matcher state inside an answer: a stack of frames (what is open), top first. Opaque. */
export interface MatchStack {
  /** The innermost open construct. */
  readonly frame: unknown;
  /** The constructs around it. */
  readonly below: MatchStack | null;
}

/** The state once the whole answer has been read. */
export const MATCH_DONE: unique symbol = Symbol("done");

/** A matcher state: a frame stack, or `MATCH_DONE`. */
export type MatchState = MatchStack | typeof MATCH_DONE;

/** The matcher's own view of a stack (frames typed). */
interface Stack extends MatchStack {
  readonly frame: Frame;
  readonly below: Stack | null;
}

const DONE: typeof MATCH_DONE = MATCH_DONE;

/** The matcher's own view of a state. */
type State = Stack | typeof DONE;

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });
const NAN = [0x4e, 0x41, 0x4e];
const SEP = enc.encode(", ").subarray(1); // the space after a comma
const COLON = enc.encode(": ");
const keyBytesCache = new WeakMap<ObjectShape, Uint8Array[]>();

/** `"key": ` as Python writes it, per key of an object shape. */
function keyBytes(shape: ObjectShape): Uint8Array[] {
  let k = keyBytesCache.get(shape);
  if (k === undefined) keyBytesCache.set(shape, k = shape.keys.map((key) => enc.encode(JSON.stringify(key) + ": ")));
  return k;
}

const shapeIds = new WeakMap<Shape, number>();
const shapeIdsByJson = new Map<string, number>();
let nextShapeId = 0;

/**
 * A number per shape, equal for structurally equal shapes (for state keys). Numbers are never
 * reused: when the table of shapes seen grows large it is forgotten, which only makes shapes seen
 * again after that get new numbers (cache misses, never a wrong match).
 */
function shapeId(shape: Shape): number {
  let id = shapeIds.get(shape);
  if (id === undefined) {
    const json = JSON.stringify(shape);
    id = shapeIdsByJson.get(json);
    if (id === undefined) {
      if (shapeIdsByJson.size >= 10_000) shapeIdsByJson.clear();
      shapeIdsByJson.set(json, id = nextShapeId++);
    }
    shapeIds.set(shape, id);
  }
  return id;
}

const push = (below: Stack | null, frame: Frame): Stack => ({ frame, below });
const pop = (s: Stack): State => s.below ?? DONE;

/**
 * Matches bytes against a shape. One matcher per answer (it holds the input's substring
 * automaton when answers must be spans of the input).
 *
 * @example
 * ```ts
 * import { JsonShapeMatcher } from "./json_matcher.ts";
 * import { shapeForSchema } from "./shape.ts";
 * const m = new JsonShapeMatcher(shapeForSchema("NER", ["person", "place"]));
 * const s = m.feed(m.start(), '{"person": ["Ann"], "place": [');
 * if (s === undefined || m.isDone(s)) throw new Error();
 * if (m.completion(s) !== "]}") throw new Error(m.completion(s));
 * if (m.feed(m.start(), '{"place": []}') !== undefined) throw new Error("keys are in schema order");
 * ```
 */
export class JsonShapeMatcher {
  /** The answer shape. */
  readonly shape: Shape;
  readonly #sam: SubstringAutomaton | undefined;

  /**
   * Create a `JsonShapeMatcher`.
   *
   * @param shape the answer shape
   * @param substrings when given, span strings must be substrings of its text (`--extractive`)
   */
  constructor(shape: Shape, substrings?: SubstringAutomaton) {
    this.shape = shape;
    this.#sam = substrings;
  }

  /**
   * The state before the answer (a little leading whitespace is accepted).
   *
   * @returns the start state
   *
   * @example
   * ```ts
   * import { JsonShapeMatcher } from "./json_matcher.ts";
   * const m = new JsonShapeMatcher({ kind: "list", item: { kind: "string", span: false } });
   * if (m.isDone(m.start())) throw new Error();
   * ```
   */
  start(): MatchState {
    return push(push(null, { t: "value", shape: this.shape }), { t: "ws", n: 0 });
  }

  /**
   * Whether the answer is complete (only the end of text may follow).
   *
   * @param state a state
   * @returns true when complete
   *
   * @example
   * ```ts
   * import { JsonShapeMatcher } from "./json_matcher.ts";
   * const m = new JsonShapeMatcher({ kind: "list", item: { kind: "string", span: false } });
   * if (!m.isDone(m.feed(m.start(), '["a", "b"]')!)) throw new Error();
   * ```
   */
  isDone(state: MatchState): boolean {
    return state === DONE;
  }

  /**
   * Read one byte.
   *
   * @param state the current state
   * @param byte the next byte
   * @returns the next state, or `undefined` when the byte cannot follow
   *
   * @example
   * ```ts
   * import { JsonShapeMatcher } from "./json_matcher.ts";
   * const m = new JsonShapeMatcher({ kind: "list", item: { kind: "string", span: false } });
   * if (m.step(m.start(), 0x7b) !== undefined) throw new Error("a list starts with [");
   * ```
   */
  step(matchState: MatchState, byte: number): MatchState | undefined {
    const state = matchState as State;
    if (state === DONE) return undefined;
    const f = state.frame;
    switch (f.t) {
      case "ws":
        if ((byte === 0x20 || byte === 0x0a) && f.n < 4) return push(state.below, { t: "ws", n: f.n + 1 });
        return this.step(pop(state), byte);
      case "lit":
        if (byte !== f.bytes[f.i]) return undefined;
        return f.i + 1 === f.bytes.length ? pop(state) : push(state.below, { t: "lit", bytes: f.bytes, i: f.i + 1 });
      case "value":
        return this.#startValue(f.shape, byte, state.below);
      case "str":
        return this.#stringByte(f, byte, state);
      case "list":
        if (!f.after) {
          if (byte === 0x5d) return pop(state);
          return this.#startValue(f.shape.item, byte, push(state.below, { t: "list", shape: f.shape, after: true }));
        }
        if (byte === 0x5d) return pop(state);
        if (byte === 0x2c) {
          return push(push(state, { t: "value", shape: f.shape.item }), { t: "lit", bytes: SEP, i: 0 });
        }
        return undefined;
      case "obj": {
        const { shape } = f;
        const n = shape.keys.length;
        if (byte === 0x7d) {
          const closable = f.after ? shape.optional || f.next === n : shape.allowEmpty || shape.optional || n === 0;
          return closable ? pop(state) : undefined;
        }
        if (f.next >= n) return undefined;
        const cands = shape.optional ? range(f.next, n) : [f.next];
        if (!f.after) return byte === 0x22 ? push(state, { t: "key", cands, pos: 1 }) : undefined;
        if (byte !== 0x2c) return undefined;
        return push(push(state, { t: "key", cands, pos: 0 }), { t: "lit", bytes: SEP, i: 0 });
      }
      case "key": {
        const obj = state.below!.frame as Extract<Frame, { t: "obj" }>;
        const keys = keyBytes(obj.shape);
        const cands = f.cands.filter((j) => keys[j][f.pos] === byte);
        if (cands.length === 0) return undefined;
        const done = cands.find((j) => keys[j].length === f.pos + 1);
        if (done === undefined) return push(state.below, { t: "key", cands, pos: f.pos + 1 });
        const below = push(state.below!.below, { t: "obj", shape: obj.shape, next: done + 1, after: true });
        return push(below, { t: "value", shape: obj.shape.values[done] });
      }
      case "map": {
        if (byte === 0x7d) return pop(state);
        const key: Frame = { t: "value", shape: f.shape.key };
        const rest = (s: Stack) =>
          push(push(s, { t: "value", shape: f.shape.value }), { t: "lit", bytes: COLON, i: 0 });
        if (!f.after) {
          return byte === 0x22
            ? push(rest(push(state.below, { t: "map", shape: f.shape, after: true })), this.#newString(f.shape.key))
            : undefined;
        }
        return byte === 0x2c ? push(push(rest(state), key), { t: "lit", bytes: SEP, i: 0 }) : undefined;
      }
    }
  }

  /**
   * Read several bytes (or a string's UTF-8 bytes).
   *
   * @param state the current state
   * @param input bytes or text
   * @returns the state after them, or `undefined` at the first byte that cannot follow
   *
   * @example
   * ```ts
   * import { JsonShapeMatcher } from "./json_matcher.ts";
   * import { shapeForSchema } from "./shape.ts";
   * const m = new JsonShapeMatcher(shapeForSchema("RE", ["born in"]));
   * const s = m.feed(m.start(), '{"born in": [{"subject": "Ann", "object": "Oslo"}]}');
   * if (s === undefined || !m.isDone(s)) throw new Error();
   * ```
   */
  feed(state: MatchState, input: Uint8Array | string): MatchState | undefined {
    const bytes = typeof input === "string" ? enc.encode(input) : input;
    let s: MatchState | undefined = state;
    for (let i = 0; i < bytes.length && s !== undefined; i++) s = this.step(s, bytes[i]);
    return s;
  }

  /**
   * A text that names the state's class: two states with the same key accept exactly the same
   * byte strings (the same shapes, structurally, and the same positions in them), so whatever is
   * derived from a state alone (a token mask) can be cached by it. Only fields that decide what
   * may follow enter it (a span's length only as empty or not). The key does not name the
   * substring automaton: keys of matchers over different input texts must not be mixed.
   *
   * @param state a state
   * @returns the key
   *
   * @example
   * ```ts
   * import { JsonShapeMatcher } from "./json_matcher.ts";
   * const m = new JsonShapeMatcher({ kind: "list", item: { kind: "string", span: false } });
   * const other = new JsonShapeMatcher({ kind: "list", item: { kind: "string", span: false } });
   * if (m.stateKey(m.feed(m.start(), '["ab')!) !== other.stateKey(other.feed(other.start(), '["a')!)) throw new Error();
   * if (m.stateKey(m.feed(m.start(), '["a", ')!) === m.stateKey(m.feed(m.start(), '["a",')!)) throw new Error();
   * ```
   */
  stateKey(matchState: MatchState): string {
    const state = matchState as State;
    if (state === DONE) return "D";
    let key = "";
    for (let s: Stack | null = state; s !== null; s = s.below) {
      const f = s.frame;
      switch (f.t) {
        case "ws":
          key += `w${f.n}|`;
          break;
        case "lit":
          key += `l${f.bytes === SEP ? "s" : f.bytes === COLON ? "c" : f.bytes.join(".")},${f.i}|`;
          break;
        case "value":
          key += `v${shapeId(f.shape)}|`;
          break;
        case "str":
          key += `s${shapeId(f.shape)},${f.sam},${f.nan},${f.esc},${f.hex},${f.len > 0 ? 1 : 0},${f.utf8}|`;
          break;
        case "list":
          key += `L${shapeId(f.shape)},${f.after ? 1 : 0}|`;
          break;
        case "obj":
          key += `o${shapeId(f.shape)},${f.next},${f.after ? 1 : 0}|`;
          break;
        case "key":
          key += `k${f.cands.join(".")},${f.pos}|`;
          break;
        case "map":
          key += `m${shapeId(f.shape)},${f.after ? 1 : 0}|`;
          break;
      }
    }
    return key;
  }

  /**
   * Whether the state is inside a string, between characters, where text does not change the
   * state (plain ASCII bytes and whole UTF-8 characters keep it as it is): true inside free
   * strings, false in spans that must match the input.
   *
   * @param state a state
   * @returns true when plain bytes leave the state unchanged
   *
   * @example
   * ```ts
   * import { JsonShapeMatcher } from "./json_matcher.ts";
   * const m = new JsonShapeMatcher({ kind: "list", item: { kind: "string", span: false } });
   * if (!m.inFreeString(m.feed(m.start(), '["ab')!)) throw new Error();
   * ```
   */
  inFreeString(matchState: MatchState): boolean {
    const state = matchState as State;
    if (state === DONE || state.frame.t !== "str") return false;
    const f = state.frame;
    return f.esc === 0 && f.utf8 === 0 && (this.#sam === undefined || !f.shape.span);
  }

  /**
   * The shortest bytes that complete the answer from this state: a UTF-8 character the state is
   * inside of finished first (the rest of a key's character; in a span, a character of the
   * input; in free text, the smallest valid one), then open strings closed, required keys added
   * with empty values (`[]`, `"NAN"`), brackets closed. The bytes read so far followed by these
   * are well-formed UTF-8 and valid JSON of the shape.
   *
   * @param state a state
   * @returns the bytes to append (none when already complete)
   *
   * @example
   * ```ts
   * import { JsonShapeMatcher } from "./json_matcher.ts";
   * import { shapeForSchema } from "./shape.ts";
   * const m = new JsonShapeMatcher(shapeForSchema("NER", ["人物", "地点"]));
   * const read = new TextEncoder().encode('{"人物": [], "地点"').subarray(0, 17); // cut inside 地
   * const s = m.feed(m.start(), read)!;
   * const answer = new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([...read, ...m.completionBytes(s)]));
   * if (answer !== '{"人物": [], "地点": []}') throw new Error(answer);
   * ```
   */
  completionBytes(matchState: MatchState): Uint8Array {
    const state = matchState as State;
    const out: number[] = [];
    const add = (x: string | Uint8Array) => {
      for (const b of typeof x === "string" ? enc.encode(x) : x) out.push(b);
    };
    let s: Stack | null = state === DONE ? null : state;
    while (s !== null) {
      const f = s.frame;
      switch (f.t) {
        case "ws":
          break;
        case "lit":
          add(f.bytes.subarray(f.i));
          break;
        case "value":
          add(minimalValue(f.shape));
          break;
        case "str":
          if (f.utf8 !== 0) add(this.#finishCharacter(f));
          if (f.esc === 1) add("\\");
          else if (f.esc >= 2) add("0".repeat(6 - f.esc));
          add('"');
          break;
        case "list":
          add("]");
          break;
        case "obj": {
          const { shape } = f;
          const rest = range(f.next, shape.keys.length).map((j) =>
            JSON.stringify(shape.keys[j]) + ": " + minimalValue(shape.values[j])
          );
          if (!f.after) add(shape.allowEmpty || shape.optional ? "}" : rest.join(", ") + "}");
          else add((shape.optional ? "" : rest.map((r) => ", " + r).join("")) + "}");
          break;
        }
        case "key": {
          // Every candidate shares the bytes read so far: the first one's rest completes them.
          const obj = s.below!.frame as Extract<Frame, { t: "obj" }>;
          const j = f.cands[0];
          add(keyBytes(obj.shape)[j].subarray(f.pos));
          add(minimalValue(obj.shape.values[j]));
          s = push(s.below!.below, { t: "obj", shape: obj.shape, next: j + 1, after: true });
          continue;
        }
        case "map":
          add("}");
          break;
      }
      s = s.below;
    }
    return new Uint8Array(out);
  }

  /**
   * The shortest text that completes the answer from a state between characters (see
   * {@linkcode JsonShapeMatcher.completionBytes}, which also finishes a cut character).
   *
   * @param state a state at a character boundary
   * @returns the text to append ("" when already complete)
   * @throws {RangeError} when the state is inside a UTF-8 character (no text can continue it)
   *
   * @example
   * ```ts
   * import { JsonShapeMatcher } from "./json_matcher.ts";
   * import { shapeForSchema } from "./shape.ts";
   * const m = new JsonShapeMatcher(shapeForSchema("NER", ["a", "b", "c"]));
   * const s = m.feed(m.start(), '{"a": ["x", "y');
   * if (m.completion(s!) !== '"], "b": [], "c": []}') throw new Error(m.completion(s!));
   * ```
   */
  completion(matchState: MatchState): string {
    const bytes = this.completionBytes(matchState);
    if (bytes.length > 0 && (bytes[0] & 0xc0) === 0x80) {
      throw new RangeError("the answer ends inside a UTF-8 character: use completionBytes");
    }
    return dec.decode(bytes);
  }

  /** Bytes that finish the UTF-8 character a string is inside of (in a span: as the input goes on). */
  #finishCharacter(f: Extract<Frame, { t: "str" }>): Uint8Array {
    const out: number[] = [];
    const span = this.#sam !== undefined && f.shape.span;
    let utf8 = f.utf8;
    let sam = f.sam;
    while (utf8 !== 0) {
      let b = (utf8 >> 8) & 0xff; // the smallest byte that may come next
      if (span && sam >= 0) {
        // The input is well-formed UTF-8, so the span's character goes on there with an allowed byte.
        while (b <= (utf8 & 0xff) && this.#sam!.step(sam, b) < 0) b++;
        if (b > (utf8 & 0xff)) b = (utf8 >> 8) & 0xff;
        else sam = this.#sam!.step(sam, b);
      }
      out.push(b);
      utf8 = utf8Step(utf8, b);
    }
    return new Uint8Array(out);
  }

  /**
   * Whether the state is inside a span string that must match the input (`--extractive`): what
   * may follow depends on the input text, position by position.
   *
   * @param state a state
   * @returns true inside a span checked against the input
   *
   * @example
   * ```ts
   * import { JsonShapeMatcher } from "./json_matcher.ts";
   * import { SubstringAutomaton } from "./substring.ts";
   * const m = new JsonShapeMatcher({ kind: "list", item: { kind: "string", span: true } }, new SubstringAutomaton("Ann"));
   * if (!m.inSpan(m.feed(m.start(), '["A')!) || m.inSpan(m.feed(m.start(), '["A"')!)) throw new Error();
   * ```
   */
  inSpan(matchState: MatchState): boolean {
    const state = matchState as State;
    return state !== DONE && state.frame.t === "str" && this.#sam !== undefined && state.frame.shape.span;
  }

  #newString(shape: StringShape): Frame {
    const sam = this.#sam !== undefined && shape.span ? this.#sam.start : -1;
    return { t: "str", shape, sam, nan: shape.nan ? 0 : -1, esc: 0, hex: 0, len: 0, utf8: 0 };
  }

  #startValue(shape: Shape, byte: number, below: Stack | null): State | undefined {
    switch (shape.kind) {
      case "string":
        if (byte !== 0x22) return undefined;
        // A span of an empty input cannot be written (no dead end: the caller must close instead).
        if (this.#sam?.empty && shape.span && !shape.nan) return undefined;
        return push(below, this.#newString(shape));
      case "list":
        return byte === 0x5b ? push(below, { t: "list", shape, after: false }) : undefined;
      case "object":
        return byte === 0x7b ? push(below, { t: "obj", shape, next: 0, after: false }) : undefined;
      case "map":
        return byte === 0x7b ? push(below, { t: "map", shape, after: false }) : undefined;
      case "alt":
        for (const o of shape.options) {
          const r = this.#startValue(o, byte, below);
          if (r !== undefined) return r;
        }
        return undefined;
    }
  }

  #stringByte(f: Extract<Frame, { t: "str" }>, byte: number, state: Stack): State | undefined {
    const extractive = this.#sam !== undefined && f.shape.span;
    if (f.esc === 1) {
      const decoded = ESCAPED[byte];
      // `\uXXXX` is accepted in free text only: Python writes it just for control characters, and a
      // half-written code point could not be checked against the input before its last digit.
      if (byte === 0x75) return extractive ? undefined : push(state.below, { ...f, esc: 2, hex: 0 });
      if (decoded === undefined) return undefined;
      return extractive ? this.#spanBytes(f, [decoded], state, true) : push(state.below, { ...f, esc: 0 });
    }
    if (f.esc >= 2) {
      const d = hexValue(byte);
      if (d < 0) return undefined;
      const hex = f.hex * 16 + d;
      if (f.esc < 5) return push(state.below, { ...f, esc: f.esc + 1, hex });
      return push(state.below, { ...f, esc: 0, hex: 0 });
    }
    if (f.utf8 !== 0 && (byte === 0x22 || byte === 0x5c)) return undefined; // inside a UTF-8 character
    if (byte === 0x22) {
      if (!extractive) return pop(state);
      const isNan = f.nan === 3;
      return (f.sam >= 0 && f.len > 0) || isNan ? pop(state) : undefined;
    }
    if (byte < 0x20) return undefined;
    if (byte === 0x5c) {
      // In a span, only start an escape that some escaped character can continue.
      if (extractive && !ESCAPE_TARGETS.some((b) => this.#sam!.step(f.sam, b) >= 0)) return undefined;
      return push(state.below, { ...f, esc: 1 });
    }
    if (extractive) {
      // One content byte of a span (the common step of a token mask's walk): no arrays, no spread.
      const sam = this.#sam!.step(f.sam, byte);
      const nan = f.nan >= 0 && f.nan < 3 && NAN[f.nan] === byte ? f.nan + 1 : -1;
      if (sam < 0 && nan < 0) return undefined;
      const utf8 = utf8Step(f.utf8, byte);
      if (utf8 < 0) return undefined;
      return push(state.below, { t: "str", shape: f.shape, sam, nan, esc: 0, hex: 0, len: f.len + 1, utf8 });
    }
    // Free text: only well-formed UTF-8; ASCII between characters leaves the state as it is.
    const utf8 = utf8Step(f.utf8, byte);
    if (utf8 < 0) return undefined;
    return utf8 === f.utf8 ? state : push(state.below, { ...f, utf8 });
  }

  /** Follow decoded content bytes through the substring automaton (and the `NAN` literal). */
  #spanBytes(f: Extract<Frame, { t: "str" }>, bytes: number[], state: Stack, escaped: boolean): State | undefined {
    let sam = f.sam;
    let nan = f.nan;
    let utf8 = f.utf8;
    for (const b of bytes) {
      sam = this.#sam!.step(sam, b);
      nan = !escaped && nan >= 0 && nan < 3 && NAN[nan] === b ? nan + 1 : -1;
      utf8 = utf8Step(utf8, b);
      if (utf8 < 0) return undefined;
    }
    if (sam < 0 && nan < 0) return undefined;
    return push(state.below, { ...f, sam, nan, utf8, esc: 0, hex: 0, len: f.len + bytes.length });
  }
}

/** The byte each one-letter escape stands for. */
const ESCAPED: Record<number, number> = {
  0x22: 0x22,
  0x5c: 0x5c,
  0x2f: 0x2f,
  0x62: 0x08,
  0x66: 0x0c,
  0x6e: 0x0a,
  0x72: 0x0d,
  0x74: 0x09,
};

const ESCAPE_TARGETS = Object.values(ESCAPED);

/**
 * One step of a UTF-8 well-formedness check (Unicode's table: no overlong forms, surrogates or
 * code points above U+10FFFF). State 0 is a character boundary; otherwise it packs the bytes
 * still expected and the range of the next one.
 *
 * @param state the state before the byte (0 at a character boundary)
 * @param byte the byte
 * @returns the state after it, or -1 for an ill-formed byte
 *
 * @example
 * ```ts
 * import { utf8Step } from "./json_matcher.ts";
 * const run = (bytes: number[]) => bytes.reduce((u, b) => (u < 0 ? u : utf8Step(u, b)), 0);
 * if (run([0xe4, 0xba, 0xba]) !== 0 || run([0xc0, 0x80]) !== -1 || run([0xed, 0xa0, 0x80]) !== -1) throw new Error();
 * ```
 */
export function utf8Step(state: number, byte: number): number {
  const expect = (remaining: number, lo: number, hi: number) => (remaining << 16) | (lo << 8) | hi;
  if (state === 0) {
    if (byte < 0x80) return 0;
    if (byte >= 0xc2 && byte <= 0xdf) return expect(1, 0x80, 0xbf);
    if (byte === 0xe0) return expect(2, 0xa0, 0xbf);
    if ((byte >= 0xe1 && byte <= 0xec) || byte === 0xee || byte === 0xef) return expect(2, 0x80, 0xbf);
    if (byte === 0xed) return expect(2, 0x80, 0x9f);
    if (byte === 0xf0) return expect(3, 0x90, 0xbf);
    if (byte >= 0xf1 && byte <= 0xf3) return expect(3, 0x80, 0xbf);
    if (byte === 0xf4) return expect(3, 0x80, 0x8f);
    return -1;
  }
  const remaining = state >> 16;
  if (byte < ((state >> 8) & 0xff) || byte > (state & 0xff)) return -1;
  return remaining === 1 ? 0 : expect(remaining - 1, 0x80, 0xbf);
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
}

/** The shortest valid value of a shape. */
function minimalValue(shape: Shape): string {
  switch (shape.kind) {
    case "string":
      return shape.nan ? '"NAN"' : '""';
    case "list":
      return "[]";
    case "map":
      return "{}";
    case "object":
      return shape.allowEmpty || shape.optional
        ? "{}"
        : "{" + shape.keys.map((k, j) => JSON.stringify(k) + ": " + minimalValue(shape.values[j])).join(", ") + "}";
    case "alt": {
      const nan = shape.options.find((o) => o.kind === "string" && o.nan);
      return minimalValue(nan ?? shape.options.find((o) => o.kind === "list") ?? shape.options[0]);
    }
  }
}
