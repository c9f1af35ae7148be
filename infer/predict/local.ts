/**
 * Answers from a local engine (`cpu` or `webgpu`): a prompt rendered with the model's template,
 * generation on one session whose KV cache is reused across records sharing a prefix, and
 * schema-constrained decoding (every answer parses, with exactly the asked keys). Used by
 * `iepile infer` and `iepile serve`.
 *
 * @module
 */

import { InputError } from "../../io/errors.ts";
import { type HfTokenizer, PromptRenderer, queryOf, type TruncateMode } from "../../templates/mod.ts";
import { ConstraintVocab, JsonConstraint } from "../constrain/token_constraint.ts";
import { type Shape, shapeForInstruction, type ShapeOptions } from "../constrain/shape.ts";
import { type Engine, reusableLength, type Session } from "../engine/engine.ts";
import { type BatchedSession, StepBatcher } from "../engine/step_batcher.ts";
import type { BatchChoice } from "../engine/batch_room.ts";
import { type Answer, decodeAnswer, jsonAnswerConstraint } from "../decode/answer.ts";
import { sessionStart, type Stepper } from "../decode/decode_loop.ts";
import type { SamplingOptions } from "../decode/sampling.ts";
import type { Prediction, Predictor, PredictRequest } from "./run.ts";
import { SerialQueue } from "./serial_queue.ts";

/** One generation request on prompt ids. */
export interface CompletionRequest {
  /** The prompt, already templated and tokenized. */
  promptIds: readonly number[];
  /** Most tokens to generate. */
  maxNewTokens: number;
  /** Constrain the answer to this JSON shape (then it always parses). */
  shape?: Shape;
  /** With `shape`: span strings must be substrings of this text (`--extractive`). */
  extractiveText?: string;
  /** Sampling (default greedy). */
  sampling?: SamplingOptions;
  /** Seed of the sampler (default 0). */
  seed?: number;
  /** Texts that end generation (besides EOS and the template's stop ids). */
  stopTexts?: readonly string[];
  /** Ids that end generation. */
  stopIds?: readonly number[];
  /** Called with each new piece of text (streaming). */
  onText?: (delta: string) => void;
  /** Stops generation early. */
  signal?: AbortSignal;
}

/** What a completion produced: the answer, and the prompt's tokens. */
export interface CompletionResult extends Answer {
  /** Prompt tokens. */
  promptTokens: number;
  /** Prompt tokens found in the KV cache (not computed again). */
  reusedTokens: number;
}

/** Anything that generates answers from prompt ids with a tokenizer: our engines, llama.cpp. */
export interface TextGenerator {
  /** The model's tokenizer (prompts are rendered and answers decoded with it). */
  readonly tokenizer: HfTokenizer;
  /**
   * Generate one answer.
   *
   * @param request prompt ids, limits, constraint, sampling
   * @returns the answer
   */
  complete(request: CompletionRequest): Promise<CompletionResult>;
  /** Requests it decodes at once (absent: one at a time). */
  readonly batch?: number;
  /** Free what the generator holds (optional). */
  close?(): Promise<void>;
}

/** Options of {@linkcode LocalGenerator}. */
export interface LocalGeneratorOptions {
  /**
   * Requests decoded at once (default 1: one at a time), each on its own session (KV cache) and
   * with its own constraint state; their tokens are computed together, one round per token
   * ({@linkcode StepBatcher}). Batching never changes an answer.
   */
  readonly batch?: number;
  /** How `batch` was chosen, where it was chosen from the engine's memory (`chooseBatch`). */
  readonly batchChoice?: BatchChoice;
  /**
   * Compute an uncached prompt in steps of at most this many tokens, reading the request's
   * signal between them (default: the whole prompt in one step). The worker sets it so that a
   * cancel also stops a long prompt; the CPU engine computes each position alike either way.
   */
  readonly promptChunk?: number;
}

/**
 * Generation on one engine and tokenizer: up to `batch` requests at once (the rest queued in
 * order), each on a session of a pool whose cache is reused where the next prompt shares its
 * prefix; the running requests' tokens are computed together by a {@linkcode StepBatcher}.
 *
 * @example
 * ```ts
 * import { CpuEngine, loadModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * import { LocalGenerator } from "./local.ts";
 * import { HfTokenizer } from "../../templates/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 8, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const vocab = Object.fromEntries(["{", "}", "[", "]", '"', "a", ": ", ", "].map((t, i) => [t, i]));
 * const tok = HfTokenizer.fromJson({ model: { type: "BPE", vocab, merges: [] }, added_tokens: [] }, {});
 * const gen = new LocalGenerator(new CpuEngine(await loadModel(dir)), tok, { batch: 2 });
 * const shape = { kind: "list", item: { kind: "string", span: false } } as const;
 * const [r, s] = await Promise.all([
 *   gen.complete({ promptIds: [5], maxNewTokens: 3, shape }),
 *   gen.complete({ promptIds: [5, 6], maxNewTokens: 3, shape }),
 * ]);
 * JSON.parse(r.text), JSON.parse(s.text); // always valid JSON, closed if the limit cut it
 * await gen.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class LocalGenerator implements TextGenerator {
  /** The engine. */
  readonly engine: Engine;
  /** The tokenizer. */
  readonly tokenizer: HfTokenizer;
  /** Requests decoded at once. */
  readonly batch: number;
  /** How `batch` was chosen, where it was chosen from the engine's memory. */
  readonly batchChoice?: BatchChoice;
  readonly #batcher: StepBatcher;
  readonly #queue: SerialQueue;
  readonly #promptChunk: number;
  /** Sessions not in use, the most recently used last. */
  readonly #free: BatchedSession[] = [];
  #sessions = 0;
  #closed = false;

  /**
   * Create a `LocalGenerator`.
   *
   * @param engine the engine (`createEngine`)
   * @param tokenizer the model's tokenizer
   * @param options batch size, prompt steps
   * @throws {RangeError} for a batch size that is not an integer ≥ 1
   */
  constructor(engine: Engine, tokenizer: HfTokenizer, options: LocalGeneratorOptions = {}) {
    this.engine = engine;
    this.tokenizer = tokenizer;
    this.batch = options.batch ?? 1;
    this.batchChoice = options.batchChoice;
    this.#queue = new SerialQueue(this.batch); // throws for a bad batch size
    this.#batcher = new StepBatcher(engine);
    this.#promptChunk = options.promptChunk ?? Infinity;
  }

  /**
   * Generate one answer (queued behind earlier requests while `batch` run).
   *
   * @param request prompt ids, limits, constraint, sampling, streaming callback
   * @returns the answer
   */
  complete(request: CompletionRequest): Promise<CompletionResult> {
    return this.#queue.run(() => this.#withSession(request));
  }

  /**
   * Free the sessions' caches and the engine's memory (device buffers on WebGPU), after the
   * running and queued requests.
   *
   * @returns once freed
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // All turns at once: every request queued before has finished.
    const ends = await Promise.all(Array.from({ length: this.batch }, () => this.#queue.take()));
    for (const s of this.#free.splice(0)) s.dispose();
    this.engine.dispose();
    ends.forEach((end) => end());
  }

  /**
   * A free session whose cache shares the most with the prompt; a new one while the pool has
   * room and no free session shares anything.
   */
  async #withSession(r: CompletionRequest): Promise<CompletionResult> {
    const shared = this.#free.map((s) => reusableLength(s.tokens, r.promptIds));
    const best = shared.indexOf(Math.max(...shared)); // -1 when none is free
    let session: BatchedSession;
    if (best >= 0 && (this.#sessions >= this.batch || shared[best] > 0)) session = this.#free.splice(best, 1)[0];
    else {
      session = this.#batcher.createSession();
      this.#sessions++;
    }
    session.enter();
    try {
      return await this.#complete(session, r);
    } finally {
      session.leave();
      this.#free.push(session);
    }
  }

  async #complete(session: Session, r: CompletionRequest): Promise<CompletionResult> {
    r.signal?.throwIfAborted();
    if (r.promptIds.length + 1 > session.contextSize) {
      throw new InputError(`the prompt has ${r.promptIds.length} tokens; the context holds ${session.contextSize}`);
    }
    const tok = this.tokenizer;
    const eos = tok.eos?.id;
    const stopIds = [...(r.stopIds ?? []), ...(eos === undefined ? [] : [eos])];
    const constraint = r.shape === undefined
      ? undefined
      : new JsonConstraint(ConstraintVocab.of(tok), r.shape, { endIds: stopIds, extractiveText: r.extractiveText });
    const start = sessionStart(session, r.promptIds);
    const answer = await decodeAnswer(checkedStepper(start.stepper, this.#promptChunk, r.signal), start.first, {
      maxNewTokens: r.maxNewTokens,
      sampling: r.sampling,
      seed: r.seed,
      stopIds,
      stopTexts: r.stopTexts,
      // A constrained answer is the text of the bytes the constraint accepted, whatever the decoder adds.
      decode: constraint === undefined ? (ids) => tok.decode(ids) : (ids) => tokensText(tok, ids),
      constraint: constraint && jsonAnswerConstraint(constraint, (ids) => tokensBytes(tok, ids)),
      onText: r.onText,
      signal: r.signal,
    });
    const { text, ids, finish, closing } = answer;
    return { text, ids, finish, promptTokens: r.promptIds.length, reusedTokens: start.reused, closing };
  }
}

/**
 * The stepper that reads the signal before each step, and computes a step of more than `chunk`
 * tokens (an uncached prompt) in parts of at most `chunk`, reading the signal between them.
 */
function checkedStepper(inner: Stepper, chunk: number, signal: AbortSignal | undefined): Stepper {
  return {
    fits: (pending) => inner.fits(pending),
    async step(tokens, greedy, allowed) {
      let at = 0;
      for (; tokens.length - at > chunk; at += chunk) {
        signal?.throwIfAborted();
        await inner.step(tokens.slice(at, at + chunk), false);
      }
      signal?.throwIfAborted();
      return await inner.step(at === 0 ? tokens : tokens.slice(at), greedy, allowed);
    },
  };
}

/**
 * The text of tokens as the bytes they stand for (UTF-8; an unfinished character shows as
 * U+FFFD): what a constrained answer is, independent of the tokenizer's decoder.
 *
 * @param tokenizer the tokenizer (its token bytes)
 * @param ids the tokens
 * @returns the text
 *
 * @example
 * ```ts
 * import { HfTokenizer } from "../../templates/mod.ts";
 * import { tokensText } from "./local.ts";
 * const tok = HfTokenizer.fromJson({ model: { type: "BPE", vocab: { "▁{": 0, "}": 1 }, merges: [] } }, {});
 * if (tokensText(tok, [0, 1]) !== " {}") throw new Error();
 * ```
 */
export function tokensText(tokenizer: HfTokenizer, ids: readonly number[]): string {
  return new TextDecoder().decode(tokensBytes(tokenizer, ids));
}

/**
 * The bytes tokens stand for (special tokens add none): what a constrained answer is, before it
 * is decoded.
 *
 * @param tokenizer the tokenizer (its token bytes)
 * @param ids the tokens
 * @returns their bytes, one after the other
 *
 * @example
 * ```ts
 * import { HfTokenizer } from "../../templates/mod.ts";
 * import { tokensBytes } from "./local.ts";
 * const tok = HfTokenizer.fromJson({ model: { type: "BPE", vocab: { "<0xE4>": 0, "<0xBA>": 1 }, merges: [] } }, {});
 * if (tokensBytes(tok, [0, 1]).join() !== "228,186") throw new Error("two bytes of 人, not yet a character");
 * ```
 */
export function tokensBytes(tokenizer: HfTokenizer, ids: readonly number[]): Uint8Array {
  const parts = ids.map((id) => tokenizer.tokenBytes(id) ?? new Uint8Array());
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) bytes.set(p, at), at += p.length;
  return bytes;
}

/** Options of {@linkcode LocalPredictor}. */
export interface LocalPredictorOptions {
  /** The named template (or the tokenizer's chat template when `"chat_template"`). */
  template: string;
  /** Most tokens per answer (default 300, as IEPile's scripts). */
  maxNewTokens?: number;
  /** Most prompt tokens (default 512, as IEPile's scripts). */
  cutoffLen?: number;
  /** How over-long prompts are cut (default `input`: keep the template's end, shorten the input text). */
  truncate?: TruncateMode;
  /** Constrain answers to the schema's JSON shape (default true). */
  constrain?: boolean;
  /** With `constrain`: answers must be spans of the record's input. */
  extractive?: boolean;
  /** RE/SPO pair keys of the shape (default subject/object). */
  shape?: ShapeOptions;
  /** Sampling (default greedy). */
  sampling?: SamplingOptions;
  /** Seed of the sampler (default 0). */
  seed?: number;
  /** System text instead of the template's default. */
  system?: string;
}

/**
 * A predictor on a text generator (our engines, or llama.cpp): IEPile's prompt for each record
 * (template, cutoff), generation with the answer's JSON shape enforced, as many records at once
 * as the generator decodes (its `batch`).
 *
 * @example
 * ```ts
 * import { CpuEngine, loadModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * import { LocalGenerator, LocalPredictor } from "./local.ts";
 * import { HfTokenizer } from "../../templates/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 8, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const vocab = Object.fromEntries(["{", "}", "[", "]", '"', "a", ": ", ", "].map((t, i) => [t, i]));
 * const tok = HfTokenizer.fromJson({ model: { type: "BPE", vocab, merges: [] }, added_tokens: [] }, {});
 * const p = new LocalPredictor(new LocalGenerator(new CpuEngine(await loadModel(dir)), tok), { template: "vanilla", maxNewTokens: 8 });
 * const instruction = JSON.stringify({ instruction: "x", schema: ["a"], input: "a" });
 * const { output } = await p.predict({ record: { task: "NER", instruction }, line: 1 }, new AbortController().signal);
 * if (Object.keys(JSON.parse(output)).join() !== "a") throw new Error(output); // the schema's keys, always
 * await p.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class LocalPredictor implements Predictor {
  /** Records at once: the generator's batch size (1 for one that does not batch). */
  readonly concurrency: number;
  /** The generator (engine and tokenizer). */
  readonly generator: TextGenerator;
  readonly #renderer: PromptRenderer;
  readonly #o: LocalPredictorOptions;
  /** Records whose prompt was truncated so far. */
  truncated = 0;

  /**
   * Create a `LocalPredictor`.
   *
   * @param generator engine and tokenizer
   * @param options template, limits, constraint
   */
  constructor(generator: TextGenerator, options: LocalPredictorOptions) {
    this.generator = generator;
    this.concurrency = generator.batch ?? 1;
    this.#o = options;
    this.#renderer = new PromptRenderer({
      template: options.template,
      tokenizer: generator.tokenizer,
      system: options.system,
      cutoffLen: options.cutoffLen ?? 512,
      truncate: options.truncate ?? "input",
    });
  }

  /**
   * Predict one record.
   *
   * @param request the record
   * @param signal stops generation
   * @returns the answer
   * @throws {InputError} for a record without instruction, or an unknown task for the constraint
   */
  async predict(request: PredictRequest, signal: AbortSignal): Promise<Prediction> {
    const o = this.#o;
    const record = request.record;
    const rendered = this.#renderer.render(queryOf(record));
    if (rendered.tokensRemoved > 0) this.truncated++;
    let shape: Shape | undefined;
    let input: string | undefined;
    if (o.constrain ?? true) {
      const task = record.task;
      if (typeof task !== "string") {
        throw new InputError("needed for the answer shape (or use --no-constrain)", { field: "task" });
      }
      ({ shape, input } = shapeForInstruction(task, String(record.instruction), o.shape));
    }
    const r = await this.generator.complete({
      promptIds: rendered.prompt.ids!,
      maxNewTokens: o.maxNewTokens ?? 300,
      shape,
      extractiveText: o.extractive ? input : undefined,
      sampling: o.sampling,
      seed: o.seed,
      stopIds: rendered.prompt.stopIds,
      stopTexts: rendered.prompt.stop,
      signal,
    });
    return {
      output: r.text,
      promptTokens: r.promptTokens,
      completionTokens: r.ids.length,
      finish: r.finish,
    };
  }

  /**
   * Free the generator's resources.
   *
   * @returns once freed
   */
  async close(): Promise<void> {
    await this.generator.close?.();
  }
}
