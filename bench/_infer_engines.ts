/**
 * The engines `infer_bench.ts` times, one entry each in {@linkcode ENGINES}: llama.cpp (the
 * baseline), `cpu` (the WebAssembly SIMD path; on quantized weights with f32 activations, as
 * `--activations f32` runs it), `cpu i8` (the same with 8-bit activations on quantized weights: the
 * CLI's default on the cpu engine), the `cpu oracle` (plain TypeScript), `webgpu`, and
 * `webgpu` with 8-bit activations. An entry opens its engine on
 * one weight format and gives one contender per thread count it runs at (an engine with a
 * `threads` option: one per count asked; one without: a single one), each loaded once and timed
 * many times, every run on a fresh sequence.
 *
 * To add an engine, add an entry to {@linkcode ENGINES}: `name`, `open(setup, threadCounts)`
 * returning its contenders, each built with {@linkcode greedyContender} from a function that
 * runs the prompt and decodes (the `cpu` entry gives one per thread count).
 *
 * @module
 */

import { getLlama, type Llama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { CpuEngine, type LoadedModel, type Session, WasmEngine, WebGpuEngine } from "../infer/mod.ts";
import type { QuantPreset } from "../infer/formats/quant_preset.ts";
import { int8DotAvailable } from "../infer/engine/webgpu/kernels/int8_dot.ts";
import type { Speed, Timed } from "./_timing.ts";

/** What the engines of one weight format share. */
export interface FormatSetup {
  /** The weight format. */
  readonly format: QuantPreset;
  /** Our engines' weights. */
  readonly model: LoadedModel;
  /** The same weights as a GGUF file (llama.cpp's). */
  readonly gguf: string;
  /** The prompt's token ids. */
  readonly prompt: readonly number[];
  /** Greedy tokens decoded after the prompt. */
  readonly decode: number;
  /** Context size every engine is opened with. */
  readonly contextSize: number;
  /** Engines that run on an adapter: `real` (a GPU), `software` (on the CPUs) or `none`. */
  readonly gpu: "real" | "software" | "none";
}

/** One timed run: its speeds and the greedy tokens it decoded. */
export interface Run extends Speed {
  /** The tokens decoded (the first one chosen by the prompt's logits). */
  readonly tokens: readonly number[];
}

/** One engine at one thread count, loaded once and timed many times. */
export interface Contender extends Timed {
  /** The engine's name (a table row). */
  readonly engine: string;
  /** Threads as the table shows them: a count given to the engine, or how it picks its own. */
  readonly threadsLabel: string;
  /**
   * Threads to compare it at: the llama.cpp row its ratios are to and the bandwidth its share
   * is of (an engine without a `threads` option: the threads it really runs on).
   */
  readonly compareThreads: number;
  /** Whether its weights are read from host memory (so the host bandwidth bounds it). */
  readonly hostMemory: boolean;
  /** Lines to print under the table (a profile), after the timed runs. */
  report?(): Promise<string[]>;
  /** A session kept for `deno bench`'s per-token case after {@linkcode Contender.dispose}. */
  benchSession?(): Session;
  /** Free what it loaded (bar a kept bench session's engine). */
  dispose(): Promise<void>;
}

/** An engine the bench can open on each weight format. */
export interface EngineEntry {
  /** Its name in the table. */
  readonly name: string;
  /**
   * Open it on a format.
   *
   * @param setup the format's weights, prompt and sizes
   * @param threadCounts the thread counts asked (`--threads`)
   * @returns its contenders (none where it does not run here or on this format)
   */
  open(setup: FormatSetup, threadCounts: readonly number[]): Promise<Contender[]>;
}

/**
 * Time one greedy run: the prompt in one call, then `decode` tokens one at a time.
 *
 * @param setup prompt and decode length
 * @param prefill computes the prompt; returns the greedy next token
 * @param step computes one token; returns the greedy next token
 * @returns speeds and decoded tokens
 */
export async function timeGreedy(
  setup: Pick<FormatSetup, "prompt" | "decode">,
  prefill: (prompt: readonly number[]) => Promise<number>,
  step: (token: number) => Promise<number>,
): Promise<Run> {
  let t0 = performance.now();
  let next = await prefill(setup.prompt);
  const prefillS = (performance.now() - t0) / 1000;
  const tokens = [next];
  t0 = performance.now();
  for (let i = 0; i < setup.decode; i++) tokens.push(next = await step(next));
  const decodeS = (performance.now() - t0) / 1000;
  return { prefill: setup.prompt.length / prefillS, decode: setup.decode / decodeS, tokens };
}

/**
 * A contender whose every run must decode the tokens of its first one: a run that did not start
 * from a fresh sequence would (almost surely) not.
 *
 * @param fields what the table shows and how to free it
 * @param run one run from a fresh sequence
 * @returns the contender
 */
export function greedyContender(
  fields: Omit<Contender, "run">,
  run: () => Promise<Run>,
): Contender {
  let first: string | undefined;
  return {
    ...fields,
    async run(): Promise<Speed> {
      const r = await run();
      const tokens = r.tokens.join(",");
      first ??= tokens;
      if (tokens !== first) {
        throw new Error(`${fields.engine} (${fields.threadsLabel}): a repeated run decoded ${tokens}, not ${first}`);
      }
      return r;
    },
  };
}

let llamaInstance: Promise<Llama> | undefined;

/** llama.cpp through node-llama-cpp: CPU only, F32 KV cache, one context per thread count. */
const llamaCpp: EngineEntry = {
  name: "llama.cpp",
  async open(setup, threadCounts) {
    // maxThreads 0: no cap on the threads of all contexts together (the default is the math cores).
    llamaInstance ??= getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: 0 });
    const llama = await llamaInstance;
    const model = await llama.loadModel({ modelPath: setup.gguf, gpuLayers: 0 });
    const last = setup.prompt.length - 1;
    const contenders: Contender[] = [];
    let open = threadCounts.length;
    for (const threads of threadCounts) {
      // `threads` sets both llama.cpp's n_threads and n_threads_batch (prefill); min = ideal so
      // node-llama-cpp's thread splitter cannot hand a run fewer.
      const context = await model.createContext({
        contextSize: setup.contextSize,
        threads: { ideal: threads, min: threads },
        flashAttention: false,
        experimentalKvCacheKeyType: "F32",
        experimentalKvCacheValueType: "F32",
      });
      const seq = context.getSequence();
      const next = { generateNext: { token: true } } as const;
      contenders.push(greedyContender({
        engine: "llama.cpp",
        threadsLabel: String(threads),
        compareThreads: threads,
        hostMemory: true,
        async dispose() {
          await seq.dispose(); // before its context
          await context.dispose();
          if (--open === 0) await model.dispose();
        },
      }, async () => {
        await seq.clearHistory();
        if (seq.nextTokenIndex !== 0) {
          throw new Error(`llama.cpp: ${seq.nextTokenIndex} tokens left after clearHistory`);
        }
        const run = await timeGreedy(setup, async (prompt) => {
          const res = await seq.controlledEvaluate(prompt.map((t, i) => i === last ? [t as Token, next] : t as Token));
          return res[last]!.next.token!;
        }, async (token) => (await seq.controlledEvaluate([[token as Token, next]]))[0]!.next.token!);
        if (context.currentThreads !== threads) {
          throw new Error(`llama.cpp: ran on ${context.currentThreads} threads, not ${threads}`);
        }
        return run;
      }));
    }
    return contenders;
  },
};

/**
 * One greedy run of an engine of ours: a fresh session per run, freed after it.
 *
 * @param setup prompt and decode length
 * @param create a new session of the engine
 * @returns the run
 */
export function sessionRun(setup: Pick<FormatSetup, "prompt" | "decode">, create: () => Session): () => Promise<Run> {
  return async () => {
    const session = create();
    try {
      return await timeGreedy(setup, (p) => session.forwardGreedy(p), (t) => session.forwardGreedy([t]));
    } finally {
      session.dispose();
    }
  };
}

/** Our CPU engine: plain TypeScript on the calling thread, so one thread. */
/**
 * The `cpu` engine (its WebAssembly SIMD path) at each thread count asked; with `int8Dot`, its
 * 8-bit activations (`--activations int8`), on quantized weights only.
 */
function wasmEntry(name: string, int8Dot: boolean): EngineEntry {
  return {
    name,
    open: (setup, threadCounts) =>
      int8Dot && (setup.format === "f32" || setup.format === "f16" || setup.format === "bf16")
        ? Promise.resolve([])
        : Promise.all(threadCounts.map(async (threads) => {
          const engine = await WasmEngine.create(setup.model, { contextSize: setup.contextSize, threads, int8Dot });
          return greedyContender({
            engine: name,
            threadsLabel: String(threads),
            compareThreads: threads,
            hostMemory: true,
            // Its worker threads end with it: no session is kept for deno bench's per-token case.
            dispose: () => Promise.resolve(engine.dispose()),
          }, sessionRun(setup, () => engine.createSession()));
        })),
  };
}

const cpu = wasmEntry("cpu", false);
const cpuInt8 = wasmEntry("cpu i8", true);

/** The plain TypeScript oracle (one thread): what the fast path is checked against. */
const oracle: EngineEntry = {
  name: "cpu oracle",
  open(setup) {
    const engine = new CpuEngine(setup.model, { contextSize: setup.contextSize });
    return Promise.resolve([greedyContender({
      engine: "cpu oracle",
      threadsLabel: "1 (fixed)",
      compareThreads: 1,
      hostMemory: true,
      benchSession: () => engine.createSession(),
      dispose: () => Promise.resolve(),
    }, sessionRun(setup, () => engine.createSession()))]);
  },
};

/** The threads a WebGPU adapter runs on are its own choice: compare at the most asked. */
function adapterThreads(setup: FormatSetup, threadCounts: readonly number[]): Pick<
  Contender,
  "threadsLabel" | "compareThreads" | "hostMemory"
> {
  return {
    threadsLabel: setup.gpu === "software" ? "adapter's" : "GPU",
    compareThreads: Math.max(...threadCounts),
    hostMemory: setup.gpu === "software",
  };
}

/** Our WebGPU engine, with the per-kernel profile of a few decoded tokens printed after the table. */
const webgpu: EngineEntry = {
  name: "webgpu",
  async open(setup, threadCounts) {
    if (setup.gpu === "none") return [];
    const engine = await WebGpuEngine.create(setup.model, {
      contextSize: setup.contextSize,
      maxBatch: setup.prompt.length,
      profile: true,
    });
    engine.profiling = false;
    let kept = false;
    return [greedyContender({
      engine: "webgpu",
      ...adapterThreads(setup, threadCounts),
      report: () => webGpuProfile(engine, setup),
      benchSession() {
        kept = true;
        return engine.createSession();
      },
      dispose() {
        if (!kept) engine.dispose();
        return Promise.resolve();
      },
    }, sessionRun(setup, () => engine.createSession()))];
  },
};

/** Where the WebGPU time of 4 decoded tokens goes, by kernel role (timestamp queries). */
async function webGpuProfile(engine: WebGpuEngine, setup: FormatSetup): Promise<string[]> {
  const dispatches = engine.lastDispatches;
  engine.profiling = true;
  engine.resetProfile();
  const s = engine.createSession();
  try {
    let next = await s.forwardGreedy(setup.prompt);
    engine.resetProfile();
    for (let i = 0; i < 4; i++) next = await s.forwardGreedy([next]);
  } finally {
    s.dispose();
    engine.profiling = false;
  }
  const p = engine.profile();
  const total = Object.values(p.ms).reduce((a, b) => a + b, 0);
  return [
    `  webgpu decode, GPU time per token by kernel role (${dispatches} dispatches, 1 submit, 4-byte readback):`,
    ...Object.entries(p.ms).sort((a, b) => b[1] - a[1]).map(([role, ms]) =>
      `    ${role.padEnd(12)} ${(ms / p.steps).toFixed(2).padStart(8)} ms  ${
        (100 * ms / total).toFixed(1).padStart(5)
      }%  (${p.dispatches[role] / p.steps} dispatches)`
    ),
  ];
}

/** The WebGPU engine on `q8_0`/`q4_0` with activations rounded to 8 bits (`dot4I8Packed`), where the adapter has it. */
const webgpuInt8: EngineEntry = {
  name: "webgpu i8",
  async open(setup, threadCounts) {
    if (setup.gpu === "none" || (setup.format !== "q8_0" && setup.format !== "q4_0") || !int8DotAvailable()) return [];
    const engine = await WebGpuEngine.create(setup.model, {
      contextSize: setup.contextSize,
      maxBatch: setup.prompt.length,
      int8Dot: true,
    });
    return [greedyContender({
      engine: "webgpu i8",
      ...adapterThreads(setup, threadCounts),
      dispose() {
        engine.dispose();
        return Promise.resolve();
      },
    }, sessionRun(setup, () => engine.createSession()))];
  },
};

/** The engines timed, baseline first; the table keeps this order. */
export const ENGINES: readonly EngineEntry[] = [llamaCpp, cpu, cpuInt8, oracle, webgpu, webgpuInt8];

/** The baseline every ratio is to. */
export const BASELINE = "llama.cpp";
