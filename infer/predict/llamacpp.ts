// deno-lint-ignore-file no-import-prefix -- see the import of node-llama-cpp's types below
/**
 * Answers from llama.cpp (`node-llama-cpp@3.21.1`, CPU only) on a GGUF written by
 * `iepile export-gguf`: the prompt is rendered and tokenized here and fed as token ids (so it is
 * exactly the prompt our engines see), greedy by default, stopped on EOS, the template's stop
 * ids and stop texts, and decoded with our tokenizer. The context sequence is kept between
 * records, so a record sharing a prefix with the previous one computes only the rest.
 *
 * Schema-constrained answers use a llama.cpp grammar. The default (`grammar: "exact"`) is a
 * GBNF grammar written here from the answer shape in the spelling our own constraint enforces
 * (Python `json.dumps`: `", "`, `": "`, keys in schema order, optional keys where the shape has
 * them, up to 4 leading spaces or newlines). `grammar: "json-schema"` uses node-llama-cpp's
 * JSON Schema converter on {@linkcode shapeToJsonSchema} instead (it allows other whitespace,
 * cannot leave keys out, and knows `oneOf` but not `anyOf`; see {@linkcode gbnfJsonSchema}).
 * Either way an answer cut off by the token limit is closed with the shortest valid ending,
 * so it always parses.
 *
 * node-llama-cpp is imported when a predictor first loads its GGUF, never before (see
 * {@linkcode importLlamaCpp}: no other command fetches it).
 *
 * @module
 */

// Types only (Deno fetches nothing for them); the module itself comes from importLlamaCpp. The
// specifier is written out, not mapped in deno.json, where Deno would fetch it for every command.
import type {
  Llama,
  LlamaContext,
  LlamaContextSequence,
  LlamaGrammar,
  LlamaModel,
  Token,
} from "npm:node-llama-cpp@3.21.1";
import { InputError, UsageError } from "../../io/errors.ts";
import type { HfTokenizer } from "../../templates/mod.ts";
import { JsonShapeMatcher, type MatchState } from "../constrain/json_matcher.ts";
import { type JsonSchema, shapeToJsonSchema } from "../constrain/json_schema.ts";
import type { Shape } from "../constrain/shape.ts";
import { type AnswerConstraint, decodeAnswer } from "../decode/answer.ts";
import { closeLongestFit, wellFormed } from "../decode/closing.ts";
import { isGreedy } from "../decode/sampling.ts";
import {
  type CompletionRequest,
  type CompletionResult,
  LocalPredictor,
  type LocalPredictorOptions,
  type TextGenerator,
  tokensBytes,
  tokensText,
} from "./local.ts";
import { importLlamaCpp } from "./llamacpp_binding.ts";
import { SerialQueue } from "./serial_queue.ts";

const enc = new TextEncoder();

/** How a constrained answer's grammar is made. */
export type LlamaCppGrammarKind = "exact" | "json-schema";

/** Options of {@linkcode LlamaCppGenerator}. */
export interface LlamaCppGeneratorOptions {
  /** The GGUF file (`iepile export-gguf`). */
  gguf: string;
  /** The model's tokenizer (the one whose vocabulary the GGUF holds): prompts and answers go through it. */
  tokenizer: HfTokenizer;
  /** The grammar for constrained answers (default `exact`). */
  grammar?: LlamaCppGrammarKind;
  /** Most prompt tokens, for the default context size (default 512). */
  cutoffLen?: number;
  /** Most tokens per answer, for the default context size (default 300). */
  maxNewTokens?: number;
  /** CPU threads (default: node-llama-cpp's choice, all cores). */
  threads?: number;
  /** Context size in tokens (default: prompt cutoff + answer limit, at most the model's). */
  contextSize?: number;
  /**
   * Compute as our engines do: F32 KV cache and no flash attention (default true; greedy answers
   * then equal those of the cpu engine). `false` uses llama.cpp's faster defaults (F16 cache).
   */
  exact?: boolean;
  /** With `exact`: the KV cache's format (default f32; f16 as our engines' `kvCache: "f16"`). */
  kvCache?: "f32" | "f16";
}

/**
 * Options of {@linkcode LlamaCppPredictor}: the GGUF and llama.cpp settings, and the prompt and
 * answer options of every local predictor. Sampling uses llama.cpp's sampler, so samples differ
 * from our engines' (greedy answers do not). `extractive` is refused: a grammar cannot list
 * every span of the input.
 */
export interface LlamaCppOptions extends LlamaCppGeneratorOptions, LocalPredictorOptions {}

interface Loaded {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  sequence: LlamaContextSequence;
  stateClass: new (o: { model: LlamaModel; grammar: LlamaGrammar }) => object;
}

/**
 * Generation on llama.cpp: a GGUF loaded on first use, one context sequence whose cached prefix
 * is reused, greedy or llama.cpp's sampler, answers constrained by a grammar made from the shape.
 * {@linkcode LlamaCppGenerator.close} frees it.
 *
 * @example
 * ```ts
 * import { LlamaCppGenerator } from "./llamacpp.ts";
 * import { HfTokenizer } from "../../templates/mod.ts";
 * const tokenizer = HfTokenizer.fromJson({ model: { type: "BPE", vocab: { a: 0 }, merges: [] } }, {});
 * const g = new LlamaCppGenerator({ gguf: "/nonexistent.gguf", tokenizer });
 * await g.complete({ promptIds: [0], maxNewTokens: 1 })
 *   .then(() => { throw new Error("must fail"); }, (e) => { if (e.name !== "InputError") throw e; });
 * await g.close();
 * ```
 */
export class LlamaCppGenerator implements TextGenerator {
  /** The tokenizer. */
  readonly tokenizer: HfTokenizer;
  readonly #o: LlamaCppGeneratorOptions;
  readonly #grammars = new Map<string, Promise<LlamaGrammar>>();
  #loaded: Promise<Loaded> | undefined;
  readonly #queue = new SerialQueue();

  /**
   * Create a `LlamaCppGenerator`.
   *
   * @param options the GGUF, tokenizer and llama.cpp settings
   */
  constructor(options: LlamaCppGeneratorOptions) {
    this.#o = options;
    this.tokenizer = options.tokenizer;
  }

  /**
   * The context size llama.cpp gave (loads the GGUF if needed).
   *
   * @returns tokens of prompt and answer together
   * @throws {InputError} when the GGUF cannot be loaded
   */
  async contextSize(): Promise<number> {
    return (await this.#load()).context.contextSize;
  }

  #load(): Promise<Loaded> {
    this.#loaded ??= loadGguf(this.#o);
    return this.#loaded;
  }

  /**
   * Generate from prompt ids (queued behind earlier requests).
   *
   * @param request prompt ids, limit, constraint, stops
   * @returns the answer
   * @throws {InputError} when the prompt does not fit the context
   */
  complete(request: CompletionRequest): Promise<CompletionResult> {
    return this.#queue.run(() => this.#complete(request));
  }

  /**
   * Log-probabilities of `ids[from..]`, each after the ids before it, as llama.cpp computes
   * them (the scorer of `perplexity --engine llamacpp`). The cache is replaced.
   *
   * @param ids the sequence
   * @param from the first id to score (≥ 1)
   * @returns one natural-log probability per scored id
   * @throws {InputError} when the sequence does not fit the context
   */
  score(ids: readonly number[], from: number): Promise<number[]> {
    return this.#queue.run(async () => {
      if (from < 1 || from > ids.length) throw new RangeError(`scoring from ${from} of ${ids.length} ids`);
      const l = await this.#load();
      if (ids.length > l.context.contextSize) {
        throw new InputError(`a text of ${ids.length} tokens does not fit the context of ${l.context.contextSize}`);
      }
      await l.sequence.clearHistory();
      // Position i's next-token probabilities give ids[i + 1]'s.
      const items = ids.slice(0, -1).map((t, i): Token | [Token, { generateNext: { probabilities: boolean } }] =>
        i + 1 >= from ? [t as Token, { generateNext: { probabilities: true } }] : t as Token
      );
      const results = await l.sequence.controlledEvaluate(items);
      const out: number[] = [];
      for (let i = from - 1; i < ids.length - 1; i++) {
        const p = results[i]?.next?.probabilities?.get(ids[i + 1] as Token) ?? 0;
        out.push(Math.log(p));
      }
      return out;
    });
  }

  /** Free llama.cpp's context and model (a later request loads them again). */
  close(): Promise<void> {
    return this.#queue.run(() => this.#free());
  }

  async #free(): Promise<void> {
    const loaded = this.#loaded;
    this.#loaded = undefined;
    this.#grammars.clear();
    const l = await loaded?.catch(() => undefined);
    if (l === undefined) return;
    // A sequence is disposed (asynchronously) before its context, the context before its model.
    await l.sequence.dispose();
    await l.context.dispose();
    await l.model.dispose();
    await l.llama.dispose();
  }

  async #complete(r: CompletionRequest): Promise<CompletionResult> {
    if (r.extractiveText !== undefined) throw new UsageError("llama.cpp cannot keep answers to spans of the input");
    r.signal?.throwIfAborted();
    const l = await this.#load();
    const seq = l.sequence;
    const contextSize = l.context.contextSize;
    const tok = this.tokenizer;
    const prompt = r.promptIds as Token[];
    if (prompt.length === 0) throw new InputError("the prompt is empty");
    if (prompt.length + 1 > contextSize) {
      throw new InputError(`the prompt has ${prompt.length} tokens; the context holds ${contextSize}`);
    }
    const eos = tok.eos?.id;
    const stopIds = [...(r.stopIds ?? []), ...(eos === undefined ? [] : [eos])];
    const kind = this.#o.grammar ?? "exact";
    const follow = r.shape === undefined ? undefined : new AnswerTracker(r.shape, kind, tok);
    const grammarState = r.shape === undefined
      ? undefined
      : new l.stateClass({ model: l.model, grammar: await this.#grammar(l.llama, r.shape, kind) });
    // Keep the cached prefix the prompt shares (the last prompt token is always computed).
    await seq.adaptStateToTokens(prompt.slice(0, -1), false);
    const reused = seq.nextTokenIndex;
    const s = r.sampling;
    const steps = seq.evaluate(prompt.slice(reused), {
      temperature: isGreedy(s) ? 0 : s!.temperature ?? 1,
      topK: s?.topK ?? 0,
      topP: s?.topP ?? 1,
      minP: 0,
      seed: r.seed ?? 0,
      grammarEvaluationState: grammarState as never,
      yieldEogToken: true,
    });
    // llama.cpp samples (under its grammar) and appends each token it yields by itself.
    const stepper = {
      fits: () => seq.nextTokenIndex + 1 < contextSize, // no context shifts: the context is full
      step: async () => {
        const step = await steps.next();
        return step.done ? undefined : Number(step.value);
      },
    };
    try {
      const answer = await decodeAnswer(stepper, prompt.slice(reused), {
        maxNewTokens: r.maxNewTokens,
        stopIds,
        stopTexts: r.stopTexts,
        // As our engines do: a constrained answer is the text of the accepted token bytes.
        decode: follow === undefined || kind === "json-schema" ? (x) => tok.decode(x) : (x) => tokensText(tok, x),
        constraint: follow,
        onText: r.onText,
        signal: r.signal,
      });
      const { text, ids, finish, closing } = answer;
      return { text, ids, finish, promptTokens: prompt.length, reusedTokens: reused, closing };
    } finally {
      await steps.return();
    }
  }

  #grammar(llama: Llama, shape: Shape, kind: LlamaCppGrammarKind): Promise<LlamaGrammar> {
    const key = kind + JSON.stringify(shape);
    let g = this.#grammars.get(key);
    if (g === undefined) {
      g = kind === "exact"
        ? llama.createGrammar({ grammar: shapeToGbnf(shape) })
        : llama.createGrammarForJsonSchema(gbnfJsonSchema(shapeToJsonSchema(shape)) as never) as Promise<LlamaGrammar>;
      if (this.#grammars.size >= 256) this.#grammars.clear();
      this.#grammars.set(key, g);
    }
    return g;
  }
}

/**
 * A predictor on llama.cpp: the same prompts, limits and answer shapes as the `cpu` and `webgpu`
 * engines ({@linkcode LocalPredictor}), generated by {@linkcode LlamaCppGenerator}.
 *
 * @example
 * ```ts
 * import { LlamaCppPredictor } from "./llamacpp.ts";
 * import { HfTokenizer } from "../../templates/mod.ts";
 * const tokenizer = HfTokenizer.fromJson({ model: { type: "BPE", vocab: { a: 0 }, merges: [] } }, {});
 * const p = new LlamaCppPredictor({ gguf: "/nonexistent.gguf", tokenizer, template: "vanilla" });
 * await p.predict({ record: { instruction: "a", task: "NER" }, line: 1 }, new AbortController().signal)
 *   .then(() => { throw new Error("must fail"); }, (e) => { if (e.name !== "InputError") throw e; });
 * await p.close();
 * // See tests/predict_llamacpp_test.ts: a tiny model exported to GGUF answers as the cpu engine does.
 * ```
 */
export class LlamaCppPredictor extends LocalPredictor {
  /**
   * Create a `LlamaCppPredictor`.
   *
   * @param options the GGUF, tokenizer, template and limits
   * @throws {UsageError} for an unknown template, or `extractive`
   * @throws {InputError} when the tokenizer lacks the template's special tokens
   */
  constructor(options: LlamaCppOptions) {
    if (options.extractive) {
      throw new UsageError("--extractive is not available with the llamacpp engine (use cpu or webgpu)");
    }
    super(new LlamaCppGenerator(options), options);
  }
}

async function loadGguf(options: LlamaCppGeneratorOptions): Promise<Loaded> {
  const tok = options.tokenizer;
  try {
    await Deno.stat(options.gguf);
  } catch (e) {
    throw new InputError(`cannot read the GGUF (${(e as Error).message})`, { file: options.gguf });
  }
  const lib = await importLlamaCpp();
  const llama = await lib.getLlama({ gpu: false, build: "never", logLevel: lib.LlamaLogLevel.error });
  let model: LlamaModel | undefined;
  try {
    model = await llama.loadModel({ modelPath: options.gguf, gpuLayers: 0 });
    const vocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
    if (vocab !== undefined && vocab < tok.vocabSize) {
      throw new InputError(`the GGUF has ${vocab} tokens, the tokenizer ${tok.vocabSize}`, { file: options.gguf });
    }
    const want = options.contextSize ?? (options.cutoffLen ?? 512) + (options.maxNewTokens ?? 300) + 1;
    const train = model.trainContextSize;
    const exact = options.exact ?? true;
    const context = await model.createContext({
      contextSize: Math.max(2, options.contextSize === undefined && train > 0 ? Math.min(want, train) : want),
      sequences: 1,
      threads: options.threads,
      ...(exact
        ? {
          flashAttention: false,
          experimentalKvCacheKeyType: options.kvCache === "f16" ? "F16" : "F32",
          experimentalKvCacheValueType: options.kvCache === "f16" ? "F16" : "F32",
        }
        : {}),
    });
    return {
      llama,
      model,
      context,
      sequence: context.getSequence(),
      stateClass: lib.LlamaGrammarEvaluationState as unknown as Loaded["stateClass"],
    };
  } catch (e) {
    await model?.dispose();
    await llama.dispose();
    if (e instanceof InputError) throw e;
    throw new InputError(`llama.cpp cannot load it: ${(e as Error).message}`, { file: options.gguf });
  }
}

/**
 * Follows an answer llama.cpp's grammar constrains: when it is complete, and how to close it
 * when cut off.
 */
class AnswerTracker implements AnswerConstraint {
  readonly #matcher: JsonShapeMatcher;
  readonly #kind: LlamaCppGrammarKind;
  readonly #tok: HfTokenizer;
  #state: MatchState | undefined;
  done = false;

  constructor(shape: Shape, kind: LlamaCppGrammarKind, tok: HfTokenizer) {
    this.#matcher = new JsonShapeMatcher(shape);
    this.#kind = kind;
    this.#tok = tok;
    this.#state = this.#matcher.start();
  }

  /** Take the next token; true when the answer is complete. */
  accept(id: number, ids: readonly number[]): boolean {
    if (this.#kind === "exact") {
      // The grammar and the matcher read the same language: follow the bytes.
      const bytes = this.#tok.tokenBytes(id);
      if (this.#state !== undefined && bytes !== undefined) this.#state = this.#matcher.feed(this.#state, bytes);
      this.done = this.#state !== undefined && this.#matcher.isDone(this.#state);
      return this.done;
    }
    // node-llama-cpp's grammar: JSON with free whitespace, then "\n\n\n\n". Complete once it parses.
    const text = this.#tok.decode(ids).trimEnd();
    const last = text[text.length - 1];
    if (last !== "}" && last !== "]" && last !== '"') return false;
    try {
      JSON.parse(text);
      this.done = true;
    } catch { /* not yet */ }
    return this.done;
  }

  /**
   * The answer: when complete, without the whitespace the json-schema grammar requires after
   * it; when cut off, closed with the shortest valid ending (ill-formed UTF-8 that llama.cpp's
   * grammar let through shown as U+FFFD). Always closed: where the bytes stop fitting the shape
   * (llama.cpp reads a character's length from its first byte without checking the rest, so a
   * quote it took as part of a character ends the string here), the answer ends at the last byte
   * that fits.
   */
  close(ids: readonly number[], text: string, cut: boolean): { text: string; closing: string } {
    if (this.done) return { text: this.#kind === "json-schema" ? text.trimEnd() : text, closing: "" };
    // Closed as bytes: the tokens may end inside a character, which the closing finishes.
    const bytes = wellFormed(cut ? enc.encode(text) : tokensBytes(this.#tok, ids));
    const closed = closeLongestFit(this.#matcher, this.#kind === "exact" ? bytes : pythonSpacing(bytes));
    return { text: closed.text, closing: closed.closing };
  }
}

/**
 * The same JSON with Python's spacing outside strings (`", "`, `": "`, nothing else), on UTF-8
 * bytes (the ASCII bytes looked at never occur inside a multi-byte character).
 */
function pythonSpacing(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let inString = false;
  let escape = false;
  for (const b of bytes) {
    if (inString) {
      out.push(b);
      if (escape) escape = false;
      else if (b === 0x5c) escape = true;
      else if (b === 0x22) inString = false;
      continue;
    }
    if (b === 0x20 || b === 0x0a || b === 0x09 || b === 0x0d) continue;
    out.push(b);
    if (b === 0x22) inString = true;
    else if (b === 0x2c || b === 0x3a) out.push(0x20);
  }
  return new Uint8Array(out);
}

/**
 * A GBNF grammar (llama.cpp's grammar format) for an answer shape, in the exact spelling our
 * constraint enforces: up to 4 leading spaces or newlines, then the value with `", "` between
 * items and `": "` after keys, keys in shape order (optional keys may be left out, the rest keep
 * their order), JSON string escapes.
 *
 * @param shape the answer shape
 * @returns the grammar text (root rule `root`)
 *
 * @example
 * ```ts
 * import { shapeToGbnf } from "./llamacpp.ts";
 * import { shapeForSchema } from "../constrain/shape.ts";
 * const g = shapeToGbnf(shapeForSchema("NER", ["person"]));
 * if (!g.includes('root ::= ws v0') || !g.includes('"\\"person\\": "')) throw new Error(g);
 * ```
 */
export function shapeToGbnf(shape: Shape): string {
  const rules: string[] = [];
  const names = new Map<Shape, string>();
  // A GBNF literal of JSON text (which holds no raw control characters): escape \ and ".
  const lit = (s: string) => '"' + s.replaceAll("\\", "\\\\").replaceAll('"', '\\"') + '"';
  const rule = (body: string): string => {
    const name = `v${rules.length}`;
    rules.push(`${name} ::= ${body}`);
    return name;
  };
  const value = (s: Shape): string => {
    if (s.kind === "string") return "str";
    const known = names.get(s);
    if (known !== undefined) return known;
    const name = `v${rules.length}`;
    names.set(s, name);
    rules.push(`${name} ::= `);
    const at = rules.length - 1;
    let body: string;
    switch (s.kind) {
      case "list": {
        const item = value(s.item);
        body = `"[" ( ${item} ( ", " ${item} )* )? "]"`;
        break;
      }
      case "map": {
        const v = value(s.value);
        body = `"{" ( str ": " ${v} ( ", " str ": " ${v} )* )? "}"`;
        break;
      }
      case "alt":
        body = `( ${s.options.map(value).join(" | ")} )`;
        break;
      case "object": {
        const n = s.keys.length;
        const member = (j: number) => `${lit(JSON.stringify(s.keys[j]) + ": ")} ${value(s.values[j])}`;
        if (n === 0) body = `"{" "}"`;
        else if (!s.optional) {
          const all = s.keys.map((_, j) => member(j)).join(' ", " ');
          body = s.allowEmpty ? `"{" ( ${all} )? "}"` : `"{" ${all} "}"`;
        } else {
          // from[j]: members j, j+1, … in order, each one optional after the first.
          const from: string[] = [];
          for (let j = n - 1; j >= 0; j--) {
            const rest = from.length === 0 ? "" : ` ( ", " ${from[0]} )?`;
            from.unshift(rule(`${member(j)}${rest}${j < n - 1 ? ` | ${from[0]}` : ""}`));
          }
          body = `"{" ( ${from[0]} )? "}"`;
        }
        break;
      }
    }
    rules[at] = `${name} ::= ${body}`;
    return name;
  };
  const root = value(shape);
  return [
    `root ::= ws ${root}`,
    `ws ::= ([ \\n] ([ \\n] ([ \\n] [ \\n]?)?)?)?`,
    `str ::= "\\"" ( [^"\\\\\\x00-\\x1f] | "\\\\" ["\\\\/bfnrt] | "\\\\u" [0-9a-fA-F]{4} )* "\\""`,
    ...rules,
  ].join("\n") + "\n";
}

/**
 * The JSON Schema of an answer shape as node-llama-cpp's converter reads it: `anyOf` becomes
 * `oneOf` (it silently turns `anyOf` into `null`), and an object whose keys may be left out
 * becomes a `oneOf` of every ordered subset of its keys (its objects always require every
 * property); past 6 such keys, all are required (a limit of that converter).
 *
 * @param schema a schema from {@linkcode shapeToJsonSchema}
 * @returns the schema for `llama.createGrammarForJsonSchema`
 *
 * @example
 * ```ts
 * import { gbnfJsonSchema } from "./llamacpp.ts";
 * const s = gbnfJsonSchema({ anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }] });
 * if (!("oneOf" in s) || "anyOf" in s) throw new Error();
 * ```
 */
export function gbnfJsonSchema(schema: JsonSchema): JsonSchema {
  if (Array.isArray(schema.anyOf)) return { oneOf: (schema.anyOf as JsonSchema[]).map(gbnfJsonSchema) };
  if (schema.type === "array") return { type: "array", items: gbnfJsonSchema(schema.items as JsonSchema) };
  if (schema.type !== "object") return schema;
  if (typeof schema.additionalProperties === "object") {
    return { type: "object", additionalProperties: gbnfJsonSchema(schema.additionalProperties as JsonSchema) };
  }
  const props = Object.entries((schema.properties ?? {}) as Record<string, JsonSchema>)
    .map(([k, v]) => [k, gbnfJsonSchema(v)] as const);
  const object = (keep: ReadonlyArray<readonly [string, JsonSchema]>) => ({
    type: "object",
    properties: Object.fromEntries(keep),
  });
  const required = (schema.required ?? []) as string[];
  if (required.length === props.length || props.length > 6) return object(props);
  const subsets: JsonSchema[] = [];
  for (let mask = 0; mask < 1 << props.length; mask++) subsets.push(object(props.filter((_, i) => mask & (1 << i))));
  return { oneOf: subsets };
}
