/**
 * Whole-process timing for the command benches: run a `deno` command as its own process, as a
 * user does, and record its wall time (start-up included) and its peak resident memory.
 *
 * @module
 */

/** One timed process run. */
export interface ProcessRun {
  /** Wall time from spawn to exit, in seconds. */
  seconds: number;
  /** Peak resident memory (VmHWM from /proc, polled while it runs), MiB; NaN where /proc is absent. */
  peakMiB: number;
  /** What it wrote to standard output. */
  stdout: string;
}

/**
 * Run `deno ARGS` to completion; throw with its standard error when it fails.
 *
 * @param args the arguments after `deno`
 * @returns wall time, peak memory, standard output
 *
 * @example
 * ```ts
 * import { runDeno } from "./_process.ts";
 * const run = await runDeno(["eval", "console.log(1)"]);
 * if (run.stdout.trim() !== "1" || !(run.seconds > 0)) throw new Error();
 * ```
 */
export async function runDeno(args: string[]): Promise<ProcessRun> {
  const start = performance.now();
  const child = new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" }).spawn();
  const status = `/proc/${child.pid}/status`;
  let exited = false;
  let peakKiB = NaN;
  const output = child.output().then((o) => {
    exited = true;
    return { o, end: performance.now() };
  });
  // VmHWM is the high-water mark, so the last reading before exit holds the peak up to then.
  while (!exited) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(await Deno.readTextFile(status));
      if (m) peakKiB = Number(m[1]);
    } catch { /* exited meanwhile, or no /proc */ }
    await new Promise((r) => setTimeout(r, 5));
  }
  const { o, end } = await output;
  if (!o.success) {
    throw new Error(`deno ${args.join(" ")} failed (${o.code}): ${new TextDecoder().decode(o.stderr).slice(0, 500)}`);
  }
  return { seconds: (end - start) / 1000, peakMiB: peakKiB / 1024, stdout: new TextDecoder().decode(o.stdout) };
}

/**
 * The median of some numbers (the lower middle one for an even count).
 *
 * @param xs the numbers
 * @returns their median
 *
 * @example
 * ```ts
 * import { median } from "./_process.ts";
 * if (median([3, 1, 2]) !== 2) throw new Error();
 * ```
 */
export function median(xs: readonly number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

/**
 * Run each command once to warm the module cache, then `runs` rounds in which every command runs
 * once, in turn (interleaved, so a load that comes and goes hits them alike).
 *
 * @param commands named argument lists for `deno`
 * @param runs rounds to time
 * @returns every command's timed runs, by name
 *
 * @example
 * ```ts
 * import { interleave } from "./_process.ts";
 * const t = await interleave({ a: ["eval", "1"], b: ["eval", "2"] }, 1);
 * if (t.a.length !== 1 || t.b.length !== 1) throw new Error();
 * ```
 */
export async function interleave(
  commands: Record<string, string[]>,
  runs: number,
): Promise<Record<string, ProcessRun[]>> {
  const out: Record<string, ProcessRun[]> = {};
  for (const [name, args] of Object.entries(commands)) {
    await runDeno(args);
    out[name] = [];
  }
  for (let r = 0; r < runs; r++) {
    for (const [name, args] of Object.entries(commands)) out[name].push(await runDeno(args));
  }
  return out;
}

/**
 * The machine, for the table's heading: CPU model, cores, load average.
 *
 * @returns a one-line description
 *
 * @example
 * ```ts
 * import { machine } from "./_process.ts";
 * if (machine().length === 0) throw new Error();
 * ```
 */
export function machine(): string {
  let cpu: string = Deno.build.arch;
  try {
    cpu = /model name\s*:\s*(.*)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? cpu;
  } catch { /* not Linux */ }
  return `${cpu}, ${navigator.hardwareConcurrency} cores, load average ${loadAverage()}, deno ${Deno.version.deno}`;
}

/**
 * The 1-minute load average, or "?" where the system does not say.
 *
 * @returns the load average as printed by the system
 *
 * @example
 * ```ts
 * import { loadAverage } from "./_process.ts";
 * if (typeof loadAverage() !== "string") throw new Error();
 * ```
 */
export function loadAverage(): string {
  try {
    return Deno.loadavg()[0].toFixed(2);
  } catch {
    return "?";
  }
}
