/**
 * The worker behind {@linkcode WorkerGenerator}: loads a model folder onto the CPU engine and
 * runs up to `batch` completions at once (decoded together), posting each text delta as it is
 * made. Its loop never yields while it computes, so cancellation is a shared flag per running
 * request, read before every forward step.
 *
 * @module
 */

import type { Engine, Session } from "../engine/engine.ts";
import { LocalGenerator } from "./local.ts";
import { batchOptions, loadEngine } from "./start_generator.ts";
import { type FromWorker, postedIndex, toWire, type ToWorker, type WorkerInit } from "./_worker_protocol.ts";

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
};
const post = (m: FromWorker) => scope.postMessage(m);

let generator: LocalGenerator | undefined;
let cancel: Int32Array | undefined;
/** `complete` messages received, and a wait for the next (see {@linkcode letMessagesIn}). */
let received = 0;
let arrived = Promise.withResolvers<void>();
/** The running requests: their cancel slot and the signal their generation reads. */
const running = new Map<number, { readonly slot: number; readonly controller: AbortController }>();

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === "init") {
    cancel = new Int32Array(m.cancel);
    start(m.init).catch((error) => post({ type: "failed", error: toWire(error) }));
    return;
  }
  const { id, request, stream, slot } = m;
  received++;
  arrived.resolve();
  arrived = Promise.withResolvers<void>();
  const controller = new AbortController();
  running.set(id, { slot, controller });
  poll();
  generator!.complete({
    ...request,
    signal: controller.signal,
    onText: stream ? (delta) => post({ type: "text", id, delta }) : undefined,
  })
    .then(
      (result) => post({ type: "done", id, result }),
      (error) => post({ type: "failed", id, error: toWire(error) }),
    )
    .finally(() => running.delete(id));
};

async function start(init: WorkerInit): Promise<void> {
  const { engine, tokenizer } = await loadEngine({
    ...init,
    engine: "cpu",
    onProgress: (progress) => post({ type: "progress", progress }),
  });
  const batch = await batchOptions(engine, init);
  generator = new LocalGenerator(polling(engine), tokenizer, { ...batch, promptChunk: PROMPT_STEP });
  post({
    type: "ready",
    spec: engine.spec,
    contextSize: engine.contextSize,
    engine: engine.name,
    batch: generator.batch,
    batchChoice: batch.batchChoice,
  });
}

/** Prompt tokens computed per step, so that a cancel also stops a long prompt between steps. */
const PROMPT_STEP = 64;

/**
 * Abort the signal of every running request whose cancel flag is set: its generation stops
 * before its next step (and a prompt between its parts of {@linkcode PROMPT_STEP} tokens).
 */
function poll(): void {
  for (const { slot, controller } of running.values()) {
    if (!controller.signal.aborted && Atomics.load(cancel!, slot) !== 0) {
      controller.abort(new DOMException("the request was cancelled", "AbortError"));
    }
  }
}

/**
 * Wait until every `complete` message posted has been received: the worker's loop does not
 * yield to messages while it computes, so a request sent while others run would otherwise wait
 * for them all to end instead of joining their batch.
 */
async function letMessagesIn(): Promise<void> {
  const posted = postedIndex(cancel!.length - 1);
  while (Atomics.load(cancel!, posted) > received) await arrived.promise;
}

/**
 * The engine that, before every forward step of any of its sessions, lets new requests in
 * ({@linkcode letMessagesIn}) and reads the cancel flags ({@linkcode poll}).
 */
function polling(engine: Engine): Engine {
  const inner = new WeakMap<Session, Session>();
  const forwardBatch = engine.forwardBatch;
  return {
    name: engine.name,
    spec: engine.spec,
    contextSize: engine.contextSize,
    createSession(options): Session {
      const s = engine.createSession(options);
      const session: Session = {
        get tokens() {
          return s.tokens;
        },
        contextSize: s.contextSize,
        forward: async (t) => (await letMessagesIn(), poll(), await s.forward(t)),
        forwardAll: async (t) => (await letMessagesIn(), poll(), await s.forwardAll(t)),
        forwardGreedy: async (t) => (await letMessagesIn(), poll(), await s.forwardGreedy(t)),
        forwardMasked: s.forwardMasked === undefined
          ? undefined
          : async (t, mask) => (await letMessagesIn(), poll(), await s.forwardMasked!(t, mask)),
        truncate: (n) => s.truncate(n),
        reusePrefix: (ids) => s.reusePrefix(ids),
        fork: () => s.fork(),
        dispose: () => s.dispose(),
      };
      inner.set(session, s);
      return session;
    },
    forwardBatch: forwardBatch === undefined ? undefined : async (steps) => {
      await letMessagesIn();
      poll();
      return await forwardBatch.call(
        engine,
        steps.map(({ session, token }) => ({ session: inner.get(session)!, token })),
      );
    },
    dispose: () => engine.dispose(),
  };
}
