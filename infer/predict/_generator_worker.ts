/**
 * The worker behind {@linkcode WorkerGenerator}: loads a model folder onto the CPU engine and
 * runs one completion at a time, posting each text delta as it is made. Its loop never yields
 * while it computes, so cancellation is a shared flag read before every forward step.
 *
 * @module
 */

import type { Engine, Session } from "../engine/engine.ts";
import { LocalGenerator } from "./local.ts";
import { loadEngine } from "./start_generator.ts";
import { CANCEL, type FromWorker, toWire, type ToWorker, type WorkerInit } from "./_worker_protocol.ts";

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
};
const post = (m: FromWorker) => scope.postMessage(m);

let generator: LocalGenerator | undefined;
let cancel: Int32Array | undefined;

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === "init") {
    cancel = new Int32Array(m.cancel);
    start(m.init).catch((error) => post({ type: "failed", error: toWire(error) }));
    return;
  }
  const { id, request, stream } = m;
  generator!.complete({ ...request, onText: stream ? (delta) => post({ type: "text", id, delta }) : undefined })
    .then(
      (result) => post({ type: "done", id, result }),
      (error) => post({ type: "failed", id, error: toWire(error) }),
    );
};

async function start(init: WorkerInit): Promise<void> {
  const { engine, tokenizer } = await loadEngine({
    ...init,
    engine: "cpu",
    onProgress: (progress) => post({ type: "progress", progress }),
  });
  generator = new LocalGenerator(cancellable(engine, cancel!), tokenizer);
  post({ type: "ready", spec: engine.spec, contextSize: engine.contextSize, engine: engine.name });
}

/** Prompt tokens computed per step, so that a cancel also stops a long prompt between steps. */
const PROMPT_STEP = 64;

/**
 * The engine whose sessions stop (with an `AbortError`) before a forward step once the flag is
 * set: the request was cancelled. Long prompts are computed in steps of {@linkcode PROMPT_STEP}
 * tokens (the CPU engine computes each position alike either way).
 */
function cancellable(engine: Engine, flag: Int32Array): Engine {
  const check = () => {
    if (Atomics.load(flag, CANCEL) !== 0) throw new DOMException("the request was cancelled", "AbortError");
  };
  return {
    name: engine.name,
    spec: engine.spec,
    contextSize: engine.contextSize,
    createSession(options): Session {
      const s = engine.createSession(options);
      /** All but the last step through `s.forwardAll` (collected into `all`), the last through `last`. */
      const stepwise = async <T>(
        tokens: readonly number[],
        last: (t: readonly number[]) => Promise<T>,
        all = false,
      ) => {
        const earlier: Float32Array[] = [];
        let at = 0;
        for (; tokens.length - at > PROMPT_STEP; at += PROMPT_STEP) {
          check();
          const part = tokens.slice(at, at + PROMPT_STEP);
          if (all) earlier.push(...await s.forwardAll(part));
          else await s.forward(part);
        }
        check();
        return { earlier, last: await last(tokens.slice(at)) };
      };
      return {
        get tokens() {
          return s.tokens;
        },
        contextSize: s.contextSize,
        forward: async (t) => (await stepwise(t, (x) => s.forward(x))).last,
        forwardAll: async (t) => {
          const { earlier, last } = await stepwise(t, (x) => s.forwardAll(x), true);
          return [...earlier, ...last];
        },
        forwardGreedy: async (t) => (await stepwise(t, (x) => s.forwardGreedy(x))).last,
        truncate: (n) => s.truncate(n),
        reusePrefix: (ids) => s.reusePrefix(ids),
        fork: () => s.fork(),
        dispose: () => s.dispose(),
      };
    },
    dispose: () => engine.dispose(),
  };
}
