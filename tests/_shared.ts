/**
 * Test helpers: where the reference fixtures are (`../shared` beside the clone), and running
 * the CLI in-process.
 *
 * @module
 */

import { main } from "../cli.ts";
import { requestEngineDevice } from "../infer/engine/webgpu/context.ts";

/** `../shared/reference-data/` beside the clone, when present. */
export const REFERENCE_DATA: string = new URL("../../shared/reference-data/", import.meta.url).pathname;

/** Whether the reference fixtures are available (they are not on a user's clone). */
export const HAVE_REFERENCE: boolean = (() => {
  try {
    return Deno.statSync(REFERENCE_DATA).isDirectory;
  } catch {
    return false;
  }
})();

/**
 * Say loudly that some tests of a file are skipped, and why: one line `SKIPPED tests/x_test.ts —
 * what: why`, which `.ci/run` lists under that file's skipped tests.
 *
 * @param url the test file's `import.meta.url`
 * @param what which tests are skipped
 * @param why the reason
 */
export function skipNotice(url: string, what: string, why: string): void {
  console.warn(`SKIPPED tests/${url.slice(url.lastIndexOf("/") + 1)} — ${what}: ${why}`);
}

/**
 * Say loudly that reference-based tests are skipped, where the reference data is absent (call
 * once per test file that needs them).
 *
 * @param url the test file's `import.meta.url`
 * @param what which tests are skipped
 */
export function announceSkip(url: string, what: string): void {
  if (!HAVE_REFERENCE) {
    skipNotice(url, what, `${REFERENCE_DATA} is absent (it sits beside the project's clone in CI only)`);
  }
}

/** The result of one in-process CLI run. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run the CLI in this process with captured output.
 *
 * @param args arguments after `iepile`
 * @returns exit code and output
 */
export async function runCli(args: string[]): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, { out: (t) => stdout += t, err: (t) => stderr += t });
  return { code, stdout, stderr };
}

/**
 * Run the CLI as a separate `deno run mod.ts` process, as a user would.
 *
 * @param args arguments after `iepile`
 * @param cwd working directory
 * @returns exit code and output
 */
export async function runCliProcess(args: string[], cwd?: string): Promise<CliRun> {
  const mod = new URL("../mod.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", mod, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

let device: Promise<GPUDevice> | undefined;

/**
 * One WebGPU device for every engine and kernel of a test process (never destroyed): engines on
 * one device share their compiled pipelines, and the software adapter compiles a large kernel in
 * seconds on its first dispatch, again for every new device. Only where an adapter exists.
 *
 * @returns the device
 */
export function sharedGpuDevice(): Promise<GPUDevice> {
  return device ??= requestEngineDevice();
}

/**
 * A fresh temporary folder, removed by the returned function.
 *
 * @returns the folder and its cleanup
 */
export async function tempDir(): Promise<{ dir: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "iepile-test-" });
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/**
 * The largest |Δ| between two engines' logits relative to the largest |logit| of the reference,
 * over all positions.
 *
 * @param got the logits checked
 * @param want the reference logits
 * @returns the relative difference
 */
export function relDiff(got: Float32Array[], want: Float32Array[]): number {
  let d = 0, scale = 0;
  for (let i = 0; i < want.length; i++) {
    for (let j = 0; j < want[i].length; j++) {
      d = Math.max(d, Math.abs(got[i][j] - want[i][j]));
      scale = Math.max(scale, Math.abs(want[i][j]));
    }
  }
  return d / scale;
}
