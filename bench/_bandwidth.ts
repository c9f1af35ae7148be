/**
 * Memory read bandwidth, measured where the benches run: a WebAssembly module (assembled at run
 * time from its text with `wabt`) sums a buffer far larger than the caches with 128-bit SIMD
 * (`v128.load` + `f32x4.add` into 8 independent accumulators, 128 bytes per loop turn), in 1, 2,
 * … Web Workers over one shared `WebAssembly.Memory`, each worker summing its own slice. The
 * passes of the thread counts are interleaved; a pass's time spans the first worker's start to
 * the last one's end.
 *
 * @module
 */

import wabtInit from "wabt";
import { median } from "./_timing.ts";

/** Bytes in a WebAssembly page. */
const PAGE = 65536;
/** Bytes a loop turn of the summing function reads. */
const STEP = 128;

/** One thread count's read bandwidth, in GB/s (1e9 bytes/s). */
export interface Bandwidth {
  /** Workers summing at once. */
  readonly threads: number;
  /** The fastest pass. */
  readonly best: number;
  /** The median pass. */
  readonly median: number;
}

/** Options of {@linkcode readBandwidth}. */
export interface BandwidthOptions {
  /** Bytes summed per pass (default 512 MiB; rounded down to whole pages). */
  readonly bytes?: number;
  /** Timed passes per thread count (default 7), after one untimed pass each. */
  readonly passes?: number;
}

/**
 * The text of the summing module: `sum(start, end)` adds the f32 lanes of bytes
 * `[start, end)` (a multiple of 128 bytes long) of the imported shared memory.
 *
 * @param pages the memory's size in 64 KiB pages (its initial and maximum size)
 * @returns the WebAssembly text
 */
export function sumWat(pages: number): string {
  const acc = Array.from({ length: STEP / 16 }, (_, i) => `$a${i}`);
  const adds = acc.map((a, i) =>
    `        (local.set ${a} (f32x4.add (local.get ${a}) (v128.load offset=${16 * i} (local.get $p))))`
  ).join("\n");
  // Pairwise: a0+a1, a2+a3, … then the lanes of the total.
  let terms = acc.map((a) => `(local.get ${a})`);
  while (terms.length > 1) {
    terms = Array.from({ length: terms.length / 2 }, (_, i) => `(f32x4.add ${terms[2 * i]} ${terms[2 * i + 1]})`);
  }
  return `(module
  (import "env" "memory" (memory ${pages} ${pages} shared))
  (func (export "sum") (param $p i32) (param $end i32) (result f32)
    ${acc.map((a) => `(local ${a} v128)`).join(" ")}
    (block $done
      (loop $turn
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
${adds}
        (local.set $p (i32.add (local.get $p) (i32.const ${STEP})))
        (br $turn)))
    (local.set $a0 ${terms[0]})
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $a0)) (f32x4.extract_lane 1 (local.get $a0)))
      (f32.add (f32x4.extract_lane 2 (local.get $a0)) (f32x4.extract_lane 3 (local.get $a0))))))
`;
}

/**
 * Assemble {@linkcode sumWat} into a binary module (SIMD and threads enabled).
 *
 * @param pages the memory's size in pages
 * @returns the module's bytes
 */
export async function sumModule(pages: number): Promise<Uint8Array<ArrayBuffer>> {
  const wabt = await wabtInit();
  const parsed = wabt.parseWat("sum.wat", sumWat(pages), { simd: true, threads: true });
  try {
    return new Uint8Array(parsed.toBinary({}).buffer);
  } finally {
    parsed.destroy();
  }
}

interface PassResult {
  sum: number;
  t0: number;
  t1: number;
}

/** A worker whose replies are awaited one at a time. */
class SumWorker {
  readonly #worker = new Worker(new URL("./_bandwidth_worker.ts", import.meta.url), { type: "module" });
  #reply?: (data: unknown) => void;

  constructor() {
    this.#worker.onmessage = (e: MessageEvent) => this.#reply?.(e.data);
  }

  /** Send a message; resolves with the answer. */
  ask<T>(message: unknown): Promise<T> {
    return new Promise<T>((resolve) => {
      this.#reply = resolve as (data: unknown) => void;
      this.#worker.postMessage(message);
    });
  }

  terminate(): void {
    this.#worker.terminate();
  }
}

/**
 * Measure read bandwidth at each thread count: one shared buffer filled with ones, summed by
 * that many workers, each over an equal slice.
 *
 * @param threadCounts the thread counts to measure (each at least 1)
 * @param options bytes per pass and passes
 * @returns one result per thread count, in the order given
 */
export async function readBandwidth(
  threadCounts: readonly number[],
  options: BandwidthOptions = {},
): Promise<Bandwidth[]> {
  const pages = Math.max(1, Math.floor((options.bytes ?? 512 * 2 ** 20) / PAGE));
  const passes = options.passes ?? 7;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  new Float32Array(memory.buffer).fill(1); // touch every page: untouched ones all read one zero page
  const wasm = await sumModule(pages);
  const workers = Array.from({ length: Math.max(...threadCounts) }, () => new SumWorker());
  try {
    await Promise.all(workers.map((w) => w.ask<string>({ wasm, memory })));
    const pass = async (n: number): Promise<number> => {
      const slice = Math.floor(pages * PAGE / n / STEP) * STEP;
      const results = await Promise.all(
        workers.slice(0, n).map((w, i) => w.ask<PassResult>({ start: i * slice, end: (i + 1) * slice })),
      );
      const seconds = (Math.max(...results.map((r) => r.t1)) - Math.min(...results.map((r) => r.t0))) / 1000;
      // Each f32 lane adds slice / 128 ones: exact while that stays within f32's 24-bit mantissa.
      if (slice / STEP <= 2 ** 24 && results.some((r) => r.sum !== slice / 4)) {
        throw new Error(`bandwidth probe: sums ${results.map((r) => r.sum)}, expected ${slice / 4} each`);
      }
      return n * slice / seconds / 1e9;
    };
    for (const n of threadCounts) await pass(n); // untimed
    const rates = threadCounts.map((): number[] => []);
    for (let p = 0; p < passes; p++) {
      for (const [i, n] of threadCounts.entries()) rates[i].push(await pass(n));
    }
    return threadCounts.map((threads, i) => ({ threads, best: Math.max(...rates[i]), median: median(rates[i]) }));
  } finally {
    for (const w of workers) w.terminate();
  }
}
