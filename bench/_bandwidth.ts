/**
 * Memory read bandwidth, measured where the benches run: a WebAssembly module (assembled at run
 * time from its text with `wabt`) sums a buffer far larger than the caches with 128-bit SIMD
 * (`v128.load` + `f32x4.add` into 8 independent accumulators, 128 bytes per loop turn, as 1, 2
 * or 4 streams side by side), in 1, 2, … Web Workers over one shared `WebAssembly.Memory`, each
 * worker summing its own slice. The passes of the thread and stream counts are interleaved; a
 * pass's time spans the first worker's start to the last one's end; the fastest stream count
 * is kept (on this EPYC a core reads ~15% faster as 2 streams than as 1, as llama.cpp does).
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
  /** Streams each worker read side by side in the fastest way (1, 2 or 4). */
  readonly streams: number;
  /** The fastest pass. */
  readonly best: number;
  /** The median pass. */
  readonly median: number;
}

/** Options of {@linkcode readBandwidth}. */
export interface BandwidthOptions {
  /** Bytes summed per pass (default 512 MiB; rounded down to whole pages). */
  readonly bytes?: number;
  /** Timed passes per thread and stream count (default 7), after one untimed pass each. */
  readonly passes?: number;
}

/** Streams a thread may read at once: the functions `sum1`, `sum2`, `sum4` of the module. */
export const STREAMS = [1, 2, 4] as const;

/** One function of {@linkcode sumWat}: the range split into `streams` parts read side by side. */
function sumFunc(streams: number): string {
  const per = STEP / 16 / streams; // v128 loads per stream and turn
  const acc = Array.from({ length: STEP / 16 }, (_, i) => `$a${i}`);
  const ptr = Array.from({ length: streams }, (_, s) => `$p${s}`);
  const loads = ptr.flatMap((p, s) =>
    Array.from({ length: per }, (_, k) => {
      const a = acc[s * per + k];
      return `        (local.set ${a} (f32x4.add (local.get ${a}) (v128.load offset=${16 * k} (local.get ${p}))))`;
    })
  );
  const steps = ptr.map((p) => `        (local.set ${p} (i32.add (local.get ${p}) (i32.const ${16 * per})))`);
  // Pairwise: a0+a1, a2+a3, … then the lanes of the total.
  let terms = acc.map((a) => `(local.get ${a})`);
  while (terms.length > 1) {
    terms = Array.from({ length: terms.length / 2 }, (_, i) => `(f32x4.add ${terms[2 * i]} ${terms[2 * i + 1]})`);
  }
  return `  (func (export "sum${streams}") (param $start i32) (param $end i32) (result f32)
    (local $part i32) (local $stop i32) ${ptr.map((p) => `(local ${p} i32)`).join(" ")}
    ${acc.map((a) => `(local ${a} v128)`).join(" ")}
    (local.set $part (i32.div_u (i32.sub (local.get $end) (local.get $start)) (i32.const ${streams})))
${
    ptr.map((p, s) => `    (local.set ${p} (i32.add (local.get $start) (i32.mul (local.get $part) (i32.const ${s}))))`)
      .join("\n")
  }
    (local.set $stop (i32.add (local.get $start) (local.get $part)))
    (block $done
      (loop $turn
        (br_if $done (i32.ge_u (local.get $p0) (local.get $stop)))
${loads.join("\n")}
${steps.join("\n")}
        (br $turn)))
    (local.set $a0 ${terms[0]})
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $a0)) (f32x4.extract_lane 1 (local.get $a0)))
      (f32.add (f32x4.extract_lane 2 (local.get $a0)) (f32x4.extract_lane 3 (local.get $a0)))))
`;
}

/**
 * The text of the summing module: `sum1(start, end)`, `sum2`, `sum4` add the f32 lanes of
 * bytes `[start, end)` (a multiple of 128 bytes long) of the imported shared memory into 8
 * `f32x4` accumulators, 128 bytes per loop turn, reading the range as 1, 2 or 4 parts side by
 * side (a core's prefetchers can follow several streams; one stream may not reach what the
 * memory gives a core).
 *
 * @param pages the memory's size in 64 KiB pages (its initial and maximum size)
 * @returns the WebAssembly text
 */
export function sumWat(pages: number): string {
  return `(module
  (import "env" "memory" (memory ${pages} ${pages} shared))
${STREAMS.map(sumFunc).join("")})
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
 * A read-bandwidth probe kept open: one shared buffer filled with ones and the workers that sum
 * it, so passes can be taken between other timed work (the same stretch of a shared machine)
 * and summarized over any window of them.
 */
export class BandwidthProbe {
  /** The thread counts measured. */
  readonly threadCounts: readonly number[];
  /** Bytes summed per pass. */
  readonly bytes: number;
  readonly #pages: number;
  readonly #workers: SumWorker[];
  readonly #cases: { threads: number; streams: number }[];
  #rates: number[][];

  private constructor(threadCounts: readonly number[], pages: number, workers: SumWorker[]) {
    this.threadCounts = threadCounts;
    this.#pages = pages;
    this.bytes = pages * PAGE;
    this.#workers = workers;
    this.#cases = threadCounts.flatMap((threads) => STREAMS.map((streams) => ({ threads, streams })));
    this.#rates = this.#cases.map(() => []);
  }

  /**
   * Fill the buffer, start the workers and warm them up (one untimed round).
   *
   * @param threadCounts the thread counts to measure (each at least 1)
   * @param bytes bytes summed per pass (default 512 MiB; rounded down to whole pages)
   * @returns the probe
   */
  static async open(threadCounts: readonly number[], bytes = 512 * 2 ** 20): Promise<BandwidthProbe> {
    const pages = Math.max(1, Math.floor(bytes / PAGE));
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    new Float32Array(memory.buffer).fill(1); // touch every page: untouched ones all read one zero page
    const wasm = await sumModule(pages);
    const workers = Array.from({ length: Math.max(...threadCounts) }, () => new SumWorker());
    const probe = new BandwidthProbe(threadCounts, pages, workers);
    try {
      await Promise.all(workers.map((w) => w.ask<string>({ wasm, memory, streams: STREAMS })));
      await probe.round();
      probe.take();
      return probe;
    } catch (e) {
      probe.close();
      throw e;
    }
  }

  /** One timed pass of every thread and stream count, in turn. */
  async round(): Promise<void> {
    for (const [i, c] of this.#cases.entries()) this.#rates[i].push(await this.#pass(c.threads, c.streams));
  }

  /**
   * The bandwidth of the rounds since the last take (then forgets them).
   *
   * @returns one result per thread count, for its fastest stream count
   */
  take(): Bandwidth[] {
    const rates = this.#rates;
    this.#rates = this.#cases.map(() => []);
    return this.threadCounts.map((threads) => {
      const mine = this.#cases.flatMap((c, i) => c.threads === threads ? [{ ...c, rates: rates[i] }] : []);
      const top = mine.reduce((x, y) => Math.max(...y.rates) > Math.max(...x.rates) ? y : x);
      return { threads, streams: top.streams, best: Math.max(...top.rates), median: median(top.rates) };
    });
  }

  /** Stop the workers. */
  close(): void {
    for (const w of this.#workers) w.terminate();
  }

  async #pass(n: number, streams: number): Promise<number> {
    const slice = Math.floor(this.#pages * PAGE / n / STEP) * STEP;
    const results = await Promise.all(
      this.#workers.slice(0, n).map((w, i) => w.ask<PassResult>({ start: i * slice, end: (i + 1) * slice, streams })),
    );
    const seconds = (Math.max(...results.map((r) => r.t1)) - Math.min(...results.map((r) => r.t0))) / 1000;
    // Each f32 lane adds slice / 128 ones: exact while that stays within f32's 24-bit mantissa.
    if (slice / STEP <= 2 ** 24 && results.some((r) => r.sum !== slice / 4)) {
      throw new Error(`bandwidth probe: sums ${results.map((r) => r.sum)}, expected ${slice / 4} each`);
    }
    return n * slice / seconds / 1e9;
  }
}

/**
 * Measure read bandwidth at each thread count: a {@linkcode BandwidthProbe} opened, `passes`
 * rounds taken, closed.
 *
 * @param threadCounts the thread counts to measure (each at least 1)
 * @param options bytes per pass and passes
 * @returns one result per thread count, in the order given, for its fastest stream count
 */
export async function readBandwidth(
  threadCounts: readonly number[],
  options: BandwidthOptions = {},
): Promise<Bandwidth[]> {
  const probe = await BandwidthProbe.open(threadCounts, options.bytes);
  try {
    for (let p = 0; p < (options.passes ?? 7); p++) await probe.round();
    return probe.take();
  } finally {
    probe.close();
  }
}
