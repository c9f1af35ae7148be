/**
 * Stopped runs leave no temporary file and exit with one code per signal: the real CLI as a
 * separate process, interrupted with SIGINT or SIGTERM while it writes a large output, and killed
 * with SIGKILL, after which the next run removes what the killed one left. Plus the pieces:
 * temporary names, stale-file removal, the exit-code rule.
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { writeAtomically } from "../io/atomic_write.ts";
import { signalExitCode } from "../io/signals.ts";
import { removeStaleTempFiles, removeTempFiles, tempPathFor } from "../io/temp_files.ts";
import { writeDemoModel } from "../scripts/demo_model.ts";
import { runCli, runCliProcess, tempDir } from "./_shared.ts";

const DATA = new URL("../data/", import.meta.url).pathname;
const MOD = new URL("../mod.ts", import.meta.url).pathname;
const TEMP_FILES = new URL("../io/temp_files.ts", import.meta.url).href;
const NER = ["--schema_path", `${DATA}NER/schema.json`, "--task", "NER", "--language", "en", "--quiet"];
const SIGNALS = [["SIGINT", 130], ["SIGTERM", 143]] as const;

/** About `mb` MB of NER records (the bundled sample, repeated) in `dir/NER/big.json`. */
async function bigInput(dir: string, mb: number): Promise<string> {
  const sample = await Deno.readTextFile(`${DATA}NER/sample.json`);
  await Deno.mkdir(`${dir}/NER`, { recursive: true });
  const path = `${dir}/NER/big.json`;
  await Deno.writeTextFile(path, sample.repeat(Math.ceil(mb * 1e6 / sample.length)));
  return path;
}

/** Temporary files of anything in `dir`. */
const temps = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.includes(".tmp-"));

/**
 * Start `iepile ARGS` as its own process, wait until it has written data into the temporary file
 * of `target`, then send `signal`.
 */
async function interrupt(
  args: string[],
  target: string,
  signal: Deno.Signal,
): Promise<{ code: number; stderr: string; temp: string }> {
  const slash = target.lastIndexOf("/");
  const dir = target.slice(0, slash);
  const prefix = `.${target.slice(slash + 1)}.tmp-`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", MOD, ...args],
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let exited = false;
  const output = child.output().then((o) => (exited = true, o));
  let temp = "";
  while (temp === "" && !exited) {
    await new Promise((r) => setTimeout(r, 5));
    for (const e of Deno.readDirSync(dir)) {
      const size = e.name.startsWith(prefix) ? Deno.statSync(`${dir}/${e.name}`).size : 0;
      if (size > 0) temp = e.name;
    }
  }
  ok(temp !== "" && !exited, `the run ended before it could be interrupted: ${args.join(" ")}`);
  child.kill(signal);
  const out = await output;
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr), temp: `${dir}/${temp}` };
}

Deno.test("convert and prompt stopped by SIGINT or SIGTERM mid-write: no temporary file, exit 128 + signal", async (t) => {
  await using tmp = await tempDir();
  const src = await bigInput(tmp.dir, 12);
  const converted = `${tmp.dir}/converted.json`;
  equal((await runCli(["convert", "--src_path", src, "--tgt_path", converted, "--split", "test", ...NER])).code, 0);
  await Deno.writeTextFile(`${tmp.dir}/previous.json`, "kept\n");
  for (const [signal, code] of SIGNALS) {
    await t.step(`convert, ${signal}`, async () => {
      const out = `${tmp.dir}/out.json`;
      const r = await interrupt(["convert", "--src_path", src, "--tgt_path", out, ...NER], out, signal);
      equal(r.code, code, r.stderr);
      equal(r.stderr, "", "no message, no stack trace");
      deepEqual(temps(tmp.dir), [], "no temporary file");
      equal(await Deno.stat(out).then(() => true, () => false), false, "no output");
    });
    await t.step(`prompt, ${signal}: the previous output stays`, async () => {
      const out = `${tmp.dir}/previous.json`;
      const args = ["prompt", "--input", converted, "--output", out, "--template", "vicuna", "--quiet"];
      const r = await interrupt(args, out, signal);
      equal(r.code, code, r.stderr);
      deepEqual(temps(tmp.dir), [], "no temporary file");
      equal(await Deno.readTextFile(out), "kept\n");
    });
  }
});

Deno.test("after a SIGKILL mid-write, the next run for the same target removes the stale temporary file", async () => {
  await using tmp = await tempDir();
  const src = await bigInput(tmp.dir, 12);
  const out = `${tmp.dir}/out.json`;
  const r = await interrupt(["convert", "--src_path", src, "--tgt_path", out, ...NER], out, "SIGKILL");
  equal(r.code, 137);
  deepEqual(temps(tmp.dir), [r.temp.slice(tmp.dir.length + 1)], "a killed process cannot clean up");
  // Temporary files the next run must leave alone: a running writer's (it holds its lock), and
  // another target's.
  using live = await Deno.open(`${tmp.dir}/.out.json.tmp-${Deno.pid}-0123abcd`, { write: true, create: true });
  await live.lock(true);
  await Deno.writeTextFile(`${tmp.dir}/.other.json.tmp-999999999-0123abcd`, "");
  // The next run comes later (a file written in the last seconds may be one whose writer has not
  // locked it yet, and is kept).
  const minuteAgo = new Date(Date.now() - 60_000);
  for (const name of temps(tmp.dir)) await Deno.utime(`${tmp.dir}/${name}`, minuteAgo, minuteAgo);
  // As a user runs it: read and write permissions only, so whether a process runs cannot be asked
  // (that needs --allow-run; reading /proc needs --allow-all) and the locks and ages decide.
  const again = await runCliProcess(["convert", "--src_path", src, "--tgt_path", out, ...NER]);
  equal(again.code, 0, again.stderr);
  deepEqual(temps(tmp.dir).sort(), [".other.json.tmp-999999999-0123abcd", ".out.json.tmp-" + `${Deno.pid}-0123abcd`]);
  // The output is whole: the same as a conversion into a fresh folder.
  await Deno.mkdir(`${tmp.dir}/fresh`);
  equal((await runCli(["convert", "--src_path", src, "--tgt_path", `${tmp.dir}/fresh/out.json`, ...NER])).code, 0);
  ok((await Deno.readTextFile(out)) === (await Deno.readTextFile(`${tmp.dir}/fresh/out.json`)), "same output");
});

Deno.test("infer stopped by a signal exits with the same code as every other command", async (t) => {
  await using tmp = await tempDir();
  await Deno.mkdir(`${tmp.dir}/model`);
  await writeDemoModel(`${tmp.dir}/model`);
  const test = `${tmp.dir}/EE_test.json`;
  const convert = await runCli([
    "convert",
    ...["--src_path", `${DATA}EE/sample.json`, "--schema_path", `${DATA}EE/schema.json`, "--task", "EE"],
    ...["--tgt_path", test, "--language", "en", "--split", "test", "--split_num", "1", "--quiet"],
  ]);
  equal(convert.code, 0, convert.stderr);
  // Many records, so that the run is far from done when the signal comes, however busy the machine.
  await Deno.writeTextFile(test, (await Deno.readTextFile(test)).repeat(20));
  for (const [signal, code] of SIGNALS) {
    await t.step(signal, async () => {
      const pred = `${tmp.dir}/pred_${signal}.json`;
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          ...["run", "-A", MOD, "infer", "--model", `${tmp.dir}/model`, "--template", "llama2_zh"],
          ...["--engine", "cpu", "--input", test, "--output", pred, "--max-new-tokens", "200", "--concurrency", "1"],
        ],
        stdout: "null",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      let exited = false;
      const output = child.output().then((o) => (exited = true, o));
      // The output file is opened when predicting starts (the model is loaded, the signals handled).
      while (!exited && !(await Deno.stat(pred).then(() => true, () => false))) {
        await new Promise((r) => setTimeout(r, 10));
      }
      ok(!exited, "the run ended before it could be stopped");
      child.kill(signal);
      const out = await output;
      const stderr = new TextDecoder().decode(out.stderr);
      equal(out.code, code, stderr);
      match(stderr, /stopped \d+ records/);
    });
  }
});

Deno.test("temporary files: named for the target and the process; stale ones removed; the exit-code rule", async (t) => {
  await using tmp = await tempDir();
  await t.step("the name: hidden, beside the target, with this process's id", () => {
    match(tempPathFor(`${tmp.dir}/a.json`), new RegExp(`^${tmp.dir}/\\.a\\.json\\.tmp-${Deno.pid}-[0-9a-f]{8}$`));
    match(tempPathFor("a.json"), /^\.\/\.a\.json\.tmp-/);
  });
  await t.step("only the target's files of processes that are gone are removed", async () => {
    const names = [
      ".a.json.tmp-999999999-00000000", // gone: removed
      `.a.json.tmp-${Deno.pid}-00000000`, // this process: kept
      ".a.json.tmp-1-00000000", // process 1 runs (init): kept
      ".b.json.tmp-999999999-00000000", // another target: kept
      ".a.json.tmp-999999999-notmine", // not a name this code writes: kept
    ];
    // A writer whose process id tells nothing (another machine's, say) but holds its lock: kept.
    const held = `.a.json.tmp-999999998-00000000`;
    using holder = await Deno.open(`${tmp.dir}/${held}`, { write: true, create: true });
    await holder.lock(true);
    const minuteAgo = new Date(Date.now() - 60_000);
    for (const n of [...names, held]) {
      await Deno.writeTextFile(`${tmp.dir}/${n}`, "");
      await Deno.utime(`${tmp.dir}/${n}`, minuteAgo, minuteAgo); // all left a while ago
    }
    deepEqual(await removeStaleTempFiles(`${tmp.dir}/a.json`), [`${tmp.dir}/${names[0]}`]);
    deepEqual(temps(tmp.dir).sort(), [...names.slice(1), held].sort());
    for (const n of [...names.slice(1), held]) await Deno.remove(`${tmp.dir}/${n}`);
  });
  await t.step("a fresh file nobody has locked yet is kept, also where processes cannot be asked", async () => {
    // A writer creates its file and then locks it; in between, only the file's age protects it
    // from a second run on the same target that may not ask whether the writer runs (no
    // --allow-run). This process plays the writer.
    const opening = `.c.json.tmp-${Deno.pid}-0000abcd`;
    const killed = ".c.json.tmp-999999999-0000abcd";
    for (const n of [opening, killed]) await Deno.writeTextFile(`${tmp.dir}/${n}`, "");
    const minuteAgo = new Date(Date.now() - 60_000);
    await Deno.utime(`${tmp.dir}/${killed}`, minuteAgo, minuteAgo);
    const script = `import { removeStaleTempFiles } from ${JSON.stringify(TEMP_FILES)};\n` +
      `console.log(JSON.stringify(await removeStaleTempFiles(${JSON.stringify(`${tmp.dir}/c.json`)})));`;
    await Deno.writeTextFile(`${tmp.dir}/sweep.ts`, script);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--no-prompt", "--allow-read", "--allow-write", `${tmp.dir}/sweep.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    equal(out.code, 0, new TextDecoder().decode(out.stderr));
    deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), [`${tmp.dir}/${killed}`]);
    deepEqual(temps(tmp.dir).filter((n) => n.startsWith(".c.json")), [opening]);
    for (const n of [opening, "sweep.ts"]) await Deno.remove(`${tmp.dir}/${n}`);
  });
  await t.step("a file being written is registered for removal until it is renamed", async () => {
    let during: string[] = [];
    await writeAtomically(`${tmp.dir}/x.bin`, async (temp) => {
      await Deno.writeFile(temp, new Uint8Array(4));
      equal(removeTempFiles(), 1); // what a signal handler does
      during = temps(tmp.dir);
      await Deno.writeFile(temp, new Uint8Array(4)); // so the rename has something to move
    });
    deepEqual(during, []);
    equal(removeTempFiles(), 0, "nothing registered after the rename");
  });
  await t.step("exit codes: 128 + the signal's number", () => {
    deepEqual(["SIGINT", "SIGTERM", "SIGHUP"].map(signalExitCode), [130, 143, 129]);
  });
});
