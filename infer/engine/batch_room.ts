/**
 * The default batch: how many records to decode at once, chosen from the memory an engine has
 * left for their KV caches ({@linkcode chooseBatch}). Each engine knows what a session costs it
 * (`Engine.batchRoom`); this module holds what they share: the host's free memory and the count.
 *
 * @module
 */

import type { Engine } from "./engine.ts";
import { formatBytes } from "../../io/progress.ts";

/** What an engine's memory allows: `Engine.batchRoom`'s answer. */
export interface BatchRoom {
  /** Sessions that fit beside what the engine holds now, at most `most`. */
  readonly sessions: number;
  /** The most the engine batches by default: past it, batching gains little (16 on a CPU, 32 on a GPU). */
  readonly most: number;
  /** The bytes one session's cache was counted at. */
  readonly sessionBytes: number;
  /** The tokens one session's cache was counted at (the WebGPU engine's are the context size). */
  readonly tokens: number;
  /** The memory that bounded it, in words (`"the host's available memory"`, `"the GPU's free memory (probed)"`). */
  readonly bound: string;
}

/** The batch an engine chose (or 1 for an engine that does not say), with why. */
export interface BatchChoice extends BatchRoom {
  /** Records decoded at once: `sessions`, at least 1. */
  readonly batch: number;
}

/** The most sessions an engine batches by default on a CPU (the `cpu` engine, a software adapter). */
export const CPU_BATCH_MOST = 16;
/** The most sessions the WebGPU engine batches by default on a GPU. */
export const GPU_BATCH_MOST = 32;

/**
 * The bytes of host memory the operating system says are available (free and reclaimable), or
 * undefined where the runtime does not say: a browser, or Deno without `--allow-sys` (it is
 * never asked for: a prompt would stop a run).
 */
function hostAvailableBytes(): number | undefined {
  if (typeof Deno === "undefined" || typeof Deno.systemMemoryInfo !== "function") return undefined;
  const sys = { name: "sys", kind: "systemMemoryInfo" } as const;
  if (Deno.permissions.querySync(sys).state !== "granted") return undefined;
  return Deno.systemMemoryInfo().available;
}

/**
 * The host's memory as {@linkcode roomIn} counts it: seven eighths of what is available (an
 * eighth is left for the rest: the program's own growth, other programs), plus what the engine
 * already holds for caches but has not used; no size where the runtime does not say.
 *
 * @param held bytes the engine holds already, unused (a grown WebAssembly memory's free part)
 * @returns the memory's bytes and name
 *
 * @example
 * ```ts
 * import { hostMemory } from "./batch_room.ts";
 * const m = hostMemory(0);
 * if (m.name !== "the host's available memory" || (m.bytes !== undefined && !(m.bytes > 0))) throw new Error();
 * ```
 */
export function hostMemory(held: number): { readonly bytes: number | undefined; readonly name: string } {
  const available = hostAvailableBytes();
  return { bytes: available === undefined ? undefined : available * 7 / 8 + held, name: "the host's available memory" };
}

/**
 * How many sessions of `sessionBytes` each fit in the smallest of the memories given, at most
 * `most`: the one that bounded it is named.
 *
 * @param session one session's bytes and the tokens they hold
 * @param most the most to count
 * @param memories each memory's bytes left and its name (an undefined size is left out)
 * @returns the count (0 when not even one fits) and the bound
 *
 * @example
 * ```ts
 * import { roomIn } from "./batch_room.ts";
 * const r = roomIn({ bytes: 100, tokens: 10 }, 16, [{ bytes: 1000, name: "a" }, { bytes: 350, name: "b" }]);
 * if (r.sessions !== 3 || r.bound !== "b") throw new Error(JSON.stringify(r));
 * if (roomIn({ bytes: 100, tokens: 10 }, 4, [{ bytes: 1000, name: "a" }]).sessions !== 4) throw new Error();
 * ```
 */
export function roomIn(
  session: { readonly bytes: number; readonly tokens: number },
  most: number,
  memories: readonly { readonly bytes: number | undefined; readonly name: string }[],
): BatchRoom {
  let sessions = most;
  let bound = "";
  for (const m of memories) {
    if (m.bytes === undefined) continue;
    const n = Math.max(0, Math.floor(m.bytes / session.bytes));
    if (bound === "" || n < sessions) [sessions, bound] = [Math.min(sessions, n), m.name];
  }
  return { sessions, most, sessionBytes: session.bytes, tokens: session.tokens, bound };
}

/**
 * The batch for an engine whose records each hold up to `tokens` tokens: as many sessions as its
 * memory has room for now (`Engine.batchRoom`), at most its `most`, at least 1; 1 for an engine
 * that does not say. Batching never changes an answer, so this only decides speed and memory.
 *
 * @param engine the engine, its weights loaded
 * @param tokens the most tokens a record's session holds (prompt and answer)
 * @returns the batch and why
 *
 * @example
 * ```ts
 * import { chooseBatch } from "./batch_room.ts";
 * import { CpuEngine, loadModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 8, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const choice = await chooseBatch(new CpuEngine(await loadModel(dir)), 100); // the oracle does not say
 * if (choice.batch !== 1) throw new Error(JSON.stringify(choice));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function chooseBatch(engine: Engine, tokens: number): Promise<BatchChoice> {
  const held = Math.min(tokens, engine.contextSize);
  const room = await engine.batchRoom?.(held);
  if (!room) return { sessions: 1, most: 1, sessionBytes: 0, tokens: held, bound: "", batch: 1 };
  return { ...room, batch: Math.max(1, room.sessions) };
}

/**
 * One line saying which batch was chosen and why, for the command's log.
 *
 * @param choice what {@linkcode chooseBatch} returned
 * @param unit what is batched (default `record`; `serve`: `request`)
 * @returns the line (no newline)
 *
 * @example
 * ```ts
 * import { describeBatch } from "./batch_room.ts";
 * const three = { batch: 3, sessions: 3, most: 16, sessionBytes: 2 ** 30, bound: "host memory", tokens: 813 };
 * const line = describeBatch(three);
 * if (!line.includes("1.0 GiB per 813-token cache")) throw new Error(line);
 * if (!line.includes("up to 3 records at once") || !line.includes("host memory")) throw new Error(line);
 * if (!describeBatch(three, "request").startsWith("batch: up to 3 requests at once")) throw new Error();
 * const none = describeBatch({ ...three, batch: 1, sessions: 0 });
 * if (!none.includes("room for none") || !none.includes("one is tried")) throw new Error(none);
 * ```
 */
export function describeBatch(choice: BatchChoice, unit = "record"): string {
  const size = formatBytes(choice.sessionBytes);
  const why = choice.most <= 1
    ? "this engine does not say what its memory holds"
    : choice.sessions >= choice.most
    ? `the default most; a ${choice.tokens}-token cache takes ${size}`
    : choice.sessions === 0
    ? `${choice.bound} has room for none at ${size} per ${choice.tokens}-token cache, as counted; one is tried`
    : `what ${choice.bound} holds at ${size} per ${choice.tokens}-token cache`;
  const count = choice.batch === 1 ? `1 ${unit}` : `up to ${choice.batch} ${unit}s`;
  return `batch: ${count} at once (${why}; --batch N sets it)`;
}
