/**
 * The messages between {@linkcode WorkerGenerator} (the calling thread) and its worker
 * (`_generator_worker.ts`), and errors made fit to cross between them.
 *
 * The calling thread sends `init` once, then up to `batch` `complete`s at a time; the worker
 * answers `init` with `progress`… then `ready` or `failed`, and each `complete` with `text`…
 * then `done` or `failed`. Cancellation does not wait for a message: each running request has a
 * slot in a shared array of flags, which the calling thread sets and the worker reads before
 * every forward step, so it takes effect within one token even while the worker's loop is busy.
 * The same array counts the `complete` messages posted, so that the busy worker knows to let a
 * new one in.
 *
 * @module
 */

import { InputError, UsageError } from "../../io/errors.ts";
import type { LoadProgress } from "../model/load_model.ts";
import type { ModelSpec } from "../model/model_spec.ts";
import type { BatchChoice } from "../engine/batch_room.ts";
import type { CompletionRequest, CompletionResult } from "./local.ts";
import type { WorkerGeneratorOptions } from "./worker_generator.ts";

/** What the worker loads: the model folder and how. */
export type WorkerInit = Omit<WorkerGeneratorOptions, "onProgress">;

/** A completion request as it crosses: no callback, no signal. */
export type WireRequest = Omit<CompletionRequest, "onText" | "signal">;

/** Messages to the worker. */
export type ToWorker =
  | { readonly type: "init"; readonly init: WorkerInit; readonly cancel: SharedArrayBuffer }
  | {
    readonly type: "complete";
    readonly id: number;
    readonly request: WireRequest;
    readonly stream: boolean;
    /** The request's cancel flag: its index in the shared `Int32Array` (below `batch`). */
    readonly slot: number;
  };

/** Messages from the worker. */
export type FromWorker =
  | { readonly type: "progress"; readonly progress: LoadProgress }
  | {
    readonly type: "ready";
    readonly spec: ModelSpec;
    readonly contextSize: number;
    readonly engine: string;
    /** Requests decoded at once (below the count of cancel flags). */
    readonly batch: number;
    /** Why, where the batch was chosen from the engine's memory. */
    readonly batchChoice?: BatchChoice;
  }
  | { readonly type: "text"; readonly id: number; readonly delta: string }
  | { readonly type: "done"; readonly id: number; readonly result: CompletionResult }
  | { readonly type: "failed"; readonly id?: number; readonly error: WireError };

/** An error as plain data. */
export interface WireError {
  /** `InputError`, `UsageError`, `AbortError`, or another error's name. */
  readonly name: string;
  /** The message. */
  readonly message: string;
  /** An `InputError`'s problem and location. */
  readonly input?: { problem: string; file?: string; line?: number; field?: string };
}

/**
 * The shared cancel flags (`Int32Array`, one per slot, at least `batch` of them, then the count of
 * `complete` messages posted): non-zero stops the request running in that slot. `CANCEL` is the
 * first slot's index, the only one with a batch size of 1.
 */
export const CANCEL = 0;

/**
 * The index of the count of `complete` messages posted, after the `slots` cancel flags: the
 * worker, whose loop does not yield to messages while it computes, reads it before every step
 * and lets a new request's message in (to join the batch) when it is behind.
 *
 * @param slots the cancel flags (at least the batch size)
 * @returns the index (after the cancel flags)
 *
 * @example
 * ```ts
 * import { postedIndex } from "./_worker_protocol.ts";
 * if (postedIndex(2) !== 2) throw new Error();
 * ```
 */
export function postedIndex(slots: number): number {
  return slots;
}

/**
 * An error as plain data, keeping what the CLI and the server read (type, message, location).
 *
 * @param e the error
 * @returns its plain form
 *
 * @example
 * ```ts
 * import { InputError } from "../../io/errors.ts";
 * import { fromWire, toWire } from "./_worker_protocol.ts";
 * const e = fromWire(structuredClone(toWire(new InputError("bad", { file: "a.json", line: 2 }))));
 * if (!(e instanceof InputError) || e.message !== "a.json:2: bad") throw new Error(e.message);
 * ```
 */
export function toWire(e: unknown): WireError {
  if (e instanceof InputError) {
    return {
      name: e.name,
      message: e.message,
      input: { problem: e.problem, file: e.file, line: e.line, field: e.field },
    };
  }
  if (e instanceof Error || e instanceof DOMException) return { name: e.name, message: e.message };
  return { name: "Error", message: String(e) };
}

/**
 * The error again from its plain form (`InputError`, `UsageError` and `AbortError` keep their type).
 *
 * @param w the plain form
 * @returns the error
 *
 * @example
 * ```ts
 * import { fromWire } from "./_worker_protocol.ts";
 * if (fromWire({ name: "AbortError", message: "gone" }).name !== "AbortError") throw new Error();
 * ```
 */
export function fromWire(w: WireError): Error {
  if (w.input !== undefined) return new InputError(w.input.problem, w.input);
  if (w.name === "UsageError") return new UsageError(w.message);
  if (w.name === "AbortError") return new DOMException(w.message, "AbortError");
  const e = new Error(w.message);
  e.name = w.name;
  return e;
}
