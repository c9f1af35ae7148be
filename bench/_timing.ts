/**
 * Timing for the engine benches: every contender warmed up the same way, then timed in
 * interleaved repetitions (rep 1 of each, then rep 2 of each, …) so that a slow stretch of a
 * shared machine falls on all of them, and summarized by medians.
 *
 * @module
 */

/** Prefill and decode speed of one run, in tokens per second. */
export interface Speed {
  /** Prompt tokens per second. */
  readonly prefill: number;
  /** Decoded tokens per second. */
  readonly decode: number;
}

/** Something timed by {@linkcode interleaved}: one call is one repetition. */
export interface Timed {
  /** Run once from a fresh state and give its speed. */
  run(): Promise<Speed>;
}

/**
 * The median (the mean of the middle two for an even count).
 *
 * @param values the values (at least one)
 * @returns their median
 */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * The median prefill and the median decode speed of some runs (each taken on its own).
 *
 * @param runs the runs
 * @returns their medians
 */
export function medianSpeed(runs: readonly Speed[]): Speed {
  return { prefill: median(runs.map((r) => r.prefill)), decode: median(runs.map((r) => r.decode)) };
}

/**
 * Warm every contender up with `warmups` untimed runs, then time `reps` interleaved
 * repetitions: rep 1 of every contender in order, then rep 2, ….
 *
 * @param contenders what to time
 * @param reps timed repetitions each
 * @param warmups untimed runs each before (default 1), also interleaved
 * @param afterRep called after each timed repetition of all (say, to take a reference measurement in the same stretch)
 * @returns the speeds of each contender's timed runs, in the contenders' order
 */
export async function interleaved(
  contenders: readonly Timed[],
  reps: number,
  warmups = 1,
  afterRep?: () => Promise<void>,
): Promise<Speed[][]> {
  for (let w = 0; w < warmups; w++) for (const c of contenders) await c.run();
  const runs = contenders.map((): Speed[] => []);
  for (let r = 0; r < reps; r++) {
    for (const [i, c] of contenders.entries()) runs[i].push(await c.run());
    await afterRep?.();
  }
  return runs;
}
