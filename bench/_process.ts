/**
 * Whole-process timing for the command benches: run a `deno` command as its own process, as a
 * user does, and record its wall time (start-up included) and its peak resident memory.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

/** The options every whole-process bench takes. */
export interface BenchArgs {
  /** Records per job. */
  readonly records: number;
  /** Timed runs per program (medians of these). */
  readonly runs: number;
  /** Only the jobs named here (`zh:NER,en:EE`), when given. */
  readonly only?: string;
  /** Skip the peak-memory pass. */
  readonly noMemory: boolean;
}

/** The options a bench declares, as `parseArgs` takes them. */
type BenchOptionSpec = NonNullable<ParseArgsConfig["options"]>;

/** What `parseArgs` returns for a bench's declared options. */
export type ParsedBenchOptions<O extends BenchOptionSpec> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O }>
>;

/**
 * A bench's options, read by `parseArgs` (strict): given `--help` (or `-h`), `usage` is printed
 * and the process exits 0; an option it does not declare, or a value missing, gets one line
 * saying so, then `usage`, and the process exits 2 (no stack trace).
 *
 * @param args the arguments (`Deno.args`)
 * @param usage the bench's command line, options in brackets
 * @param options the options it takes, as `parseArgs` declares them
 * @returns what `parseArgs` returns
 *
 * @example
 * ```ts
 * import { benchOptions } from "./_process.ts";
 * const { values } = benchOptions(["--runs", "3"], "deno run -A bench/x.ts [--runs 5]", {
 *   runs: { type: "string", default: "5" },
 * });
 * if (values.runs !== "3") throw new Error();
 * ```
 */
export function benchOptions<const O extends BenchOptionSpec>(
  args: readonly string[],
  usage: string,
  options: O,
): ParsedBenchOptions<O> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(`usage: ${usage}`);
    Deno.exit(0);
  }
  try {
    return parseArgs({ args: [...args], options });
  } catch (e) {
    return badOption((e as Error).message.split("\n")[0], usage);
  }
}

/**
 * End a bench whose options make no sense: one line saying why, then its usage; exit status 2.
 *
 * @param why what is wrong, naming the option
 * @param usage the bench's command line
 * @returns never
 */
export function badOption(why: string, usage: string): never {
  console.error(`${why}\nusage: ${usage}`);
  Deno.exit(2);
}

/**
 * Read a bench's command line: `--records N --runs N --only JOBS --no-memory` (`--help`: the
 * usage).
 *
 * @param args the arguments
 * @param bench the bench's file, for its usage line
 * @returns the options, with their defaults (100,000 records, 5 runs)
 */
export function benchArgs(args: string[], bench = "bench/convert_bench.ts"): BenchArgs {
  const usage = `deno run -A ${bench} [--records 100000] [--runs 5] [--only zh:NER,en:EE] [--no-memory]`;
  const { values } = benchOptions(args, usage, {
    records: { type: "string", default: "100000" },
    runs: { type: "string", default: "5" },
    only: { type: "string" },
    "no-memory": { type: "boolean", default: false },
  });
  return {
    records: Number(values.records),
    runs: Number(values.runs),
    only: values.only,
    noMemory: values["no-memory"],
  };
}

/** One timed process run. */
export interface ProcessRun {
  /** Wall time from spawn to exit, in seconds. */
  seconds: number;
  /**
   * CPU time (user + system) of the process, in seconds: robust to other load on the machine;
   * NaN where GNU time (`/usr/bin/time`) is not installed.
   */
  cpuSeconds: number;
  /** Peak resident memory (VmHWM from /proc, polled while it runs), MiB; NaN where /proc is absent. */
  peakMiB: number;
  /** What it wrote to standard output. */
  stdout: string;
}

/** GNU time, when installed: it reports the child's CPU time and peak memory exactly. */
const GNU_TIME = (() => {
  try {
    return Deno.statSync("/usr/bin/time").isFile ? "/usr/bin/time" : undefined;
  } catch {
    return undefined;
  }
})();

/**
 * Run `deno ARGS` to completion; throw with its standard error when it fails.
 *
 * @param args the arguments after `deno`
 * @returns wall and CPU time, peak memory, standard output
 *
 * @example
 * ```ts
 * import { runDeno } from "./_process.ts";
 * const run = await runDeno(["eval", "console.log(1)"]);
 * if (run.stdout.trim() !== "1" || !(run.seconds > 0)) throw new Error();
 * ```
 */
export async function runDeno(args: string[]): Promise<ProcessRun> {
  const tmp = GNU_TIME === undefined ? undefined : await Deno.makeTempFile({ prefix: "iepile-bench-time-" });
  const [cmd, cmdArgs] = tmp === undefined
    ? [Deno.execPath(), args]
    : [GNU_TIME!, ["-o", tmp, "-f", "%U %S %M", Deno.execPath(), ...args]];
  const start = performance.now();
  const child = new Deno.Command(cmd, { args: cmdArgs, stdout: "piped", stderr: "piped" }).spawn();
  let exited = false;
  let peakKiB = NaN;
  const output = child.output().then((o) => {
    exited = true;
    return { o, end: performance.now() };
  });
  // Without GNU time: VmHWM is the high-water mark, so the last reading before exit holds the
  // peak up to then.
  while (!exited && tmp === undefined) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(await Deno.readTextFile(`/proc/${child.pid}/status`));
      if (m) peakKiB = Number(m[1]);
    } catch { /* exited meanwhile, or no /proc */ }
    await new Promise((r) => setTimeout(r, 5));
  }
  const { o, end } = await output;
  if (!o.success) {
    throw new Error(`deno ${args.join(" ")} failed (${o.code}): ${new TextDecoder().decode(o.stderr).slice(0, 500)}`);
  }
  let cpuSeconds = NaN;
  if (tmp !== undefined) {
    const [user, system, kib] = (await Deno.readTextFile(tmp)).trim().split(/\s+/).slice(-3).map(Number);
    await Deno.remove(tmp);
    cpuSeconds = user + system;
    peakKiB = kib;
  }
  return {
    seconds: (end - start) / 1000,
    cpuSeconds,
    peakMiB: peakKiB / 1024,
    stdout: new TextDecoder().decode(o.stdout),
  };
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
