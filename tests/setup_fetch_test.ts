/**
 * What a first run downloads. Deno fetches, on the first use of any npm package, every npm
 * package mapped in deno.json's top-level `imports` and every package of the lockfile, and
 * with them whatever the run's module graph reaches (statically analysable dynamic imports
 * included). So the commands that need no model (convert, stats, eval) and the WebGPU engine
 * must reach only the template packages, and the llama.cpp binding (node-llama-cpp, with its
 * GPU builds up to 870 MB) must come only from the llama.cpp engine itself. Independent
 * expectations: Deno's own module graph (`deno info`) and the bytes a fresh `DENO_DIR` holds
 * after the README's first command.
 */

import { deepEqual, ok } from "node:assert/strict";
import { pathToFileURL } from "node:url";
import { LLAMA_CPP_PACKAGE, llamaCppBindingCached } from "../infer/predict/llamacpp_binding.ts";
import { skipNotice, tempDir } from "./_shared.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** The npm packages the library needs to run (prompt templates and tokenizers). */
const RUNTIME = new Set(["@huggingface/jinja", "@huggingface/tokenizers"]);

interface InfoModule {
  specifier: string;
  dependencies?: Array<{ code?: { specifier: string }; npmPackage?: string }>;
}

/** The npm packages a module's code reaches (type-only imports fetch nothing and are left out). */
async function codeNpmPackages(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { roots: string[]; modules: InfoModule[] };
  const modules = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const npm = new Set<string>();
  const visit = (specifier: string) => {
    if (seen.has(specifier)) return;
    seen.add(specifier);
    for (const d of modules.get(specifier)?.dependencies ?? []) {
      if (d.code === undefined) continue;
      if (d.npmPackage !== undefined || d.code.specifier.startsWith("npm:")) {
        npm.add(packageName(d.npmPackage ?? d.code.specifier));
      } else visit(d.code.specifier);
    }
  };
  info.roots.forEach(visit);
  return [...npm].sort();
}

/** `@scope/name` or `name` of `npm:@scope/name@1.2.3/sub` or `name@1.2.3`. */
function packageName(specifier: string): string {
  const s = specifier.replace(/^npm:\/?/, "");
  const parts = s.split("/");
  const name = s.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
  return name.replace(/(.)@.*$/, "$1");
}

Deno.test("a first run fetches only the template packages, never the llama.cpp binding", async (t) => {
  await t.step("deno.json maps and locks only what the library runs on", async () => {
    const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
    const mapped = Object.values(config.imports ?? {}).filter((v) => String(v).startsWith("npm:"))
      .map((v) => packageName(String(v)));
    deepEqual(mapped.filter((p) => !RUNTIME.has(p)), [], "mapped at the top level, so fetched by every first run");
    if (config.lock === false) return;
    const lockPath = typeof config.lock === "string" ? config.lock : config.lock?.path ?? "deno.lock";
    const lock = await Deno.readTextFile(`${ROOT}${lockPath}`).then(JSON.parse, () => ({}));
    const locked = Object.keys(lock.npm ?? {}).map(packageName);
    deepEqual(locked.filter((p) => !RUNTIME.has(p)), [], `in ${lockPath}, so fetched by every first run`);
  });
  for (const [what, entry] of [["the demo", "scripts/demo.ts"], ["the command line", "mod.ts"]]) {
    await t.step(`${what} (${entry}) reaches no other npm package`, async () => {
      const reached = await codeNpmPackages(entry);
      deepEqual(reached.filter((p) => !RUNTIME.has(p)), [], `${entry} reaches ${reached.join(", ")}`);
    });
  }
});

/** Bytes under a folder (files counted once per inode, as du does). */
async function diskBytes(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    if (!(await Deno.stat(d).catch(() => undefined))?.isDirectory) return;
    for await (const e of Deno.readDir(d)) {
      const path = `${d}/${e.name}`;
      const info = await Deno.lstat(path);
      if (info.isDirectory) await walk(path);
      else if (info.isFile) {
        const key = `${info.dev}:${info.ino}`;
        if (!seen.has(key)) {
          seen.add(key);
          total += info.size;
        }
      }
    }
  };
  await walk(dir);
  return total;
}

const REGISTRY_UP = await fetch("https://registry.npmjs.org/@huggingface%2fjinja", { method: "HEAD" })
  .then((r) => (r.body?.cancel(), r.ok), () => false);
if (!REGISTRY_UP) {
  skipNotice(import.meta.url, "the fresh-DENO_DIR demo download check", "the npm registry is not reachable");
}

Deno.test({
  name: "deno task demo from a fresh clone and an empty DENO_DIR downloads under 20 MB",
  ignore: !REGISTRY_UP,
  sanitizeResources: false,
  async fn() {
    await using tmp = await tempDir();
    const clone = `${tmp.dir}/clone`;
    await Deno.mkdir(clone);
    for (const name of ["deno.json", "package.json", "mod.ts", "cli.ts"]) {
      await Deno.copyFile(`${ROOT}${name}`, `${clone}/${name}`);
    }
    for (const dir of ["convert", "eval", "io", "templates", "infer", "scripts", "data"]) {
      await copyDir(`${ROOT}${dir}`, `${clone}/${dir}`);
    }
    const denoDir = `${tmp.dir}/deno_dir`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "demo"],
      cwd: clone,
      stdout: "piped",
      stderr: "piped",
      env: { DENO_DIR: denoDir, NO_COLOR: "1" },
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    ok(out.success, stderr);
    const bytes = await diskBytes(denoDir) + await diskBytes(`${clone}/node_modules`);
    ok(bytes < 20e6, `the demo fetched ${(bytes / 1e6).toFixed(1)} MB:\n${stderr.slice(0, 2000)}`);
    ok(!stderr.includes("node-llama-cpp"), stderr.slice(0, 2000));
  },
});

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

Deno.test("whether the llama.cpp binding is here is judged by the module's project, wherever the command runs", async () => {
  await using tmp = await tempDir();
  const exists = (p: string) => Deno.stat(p).then((s) => s.isFile, () => false);
  const installed = (dir: string) =>
    `${dir}/node_modules/.deno/${LLAMA_CPP_PACKAGE}/node_modules/${LLAMA_CPP_PACKAGE.split("@")[0]}/package.json`;
  const emptyCache = `${tmp.dir}/empty_deno_dir`;
  await Deno.mkdir(emptyCache);
  // Two projects, each with a module two folders down; only the first has the binding installed.
  for (const p of ["with", "without"]) {
    await Deno.mkdir(`${tmp.dir}/${p}/infer/predict`, { recursive: true });
    await Deno.writeTextFile(`${tmp.dir}/${p}/deno.json`, "{}");
  }
  await Deno.mkdir(installed(`${tmp.dir}/with`).replace(/\/package\.json$/, ""), { recursive: true });
  await Deno.writeTextFile(installed(`${tmp.dir}/with`), "{}");
  // A registry module has no project: only Deno's npm cache counts.
  const [name, version] = LLAMA_CPP_PACKAGE.split("@");
  const fullCache = `${tmp.dir}/full_deno_dir`;
  await Deno.mkdir(`${fullCache}/npm/registry.npmjs.org/${name}/${version}`, { recursive: true });
  await Deno.writeTextFile(`${fullCache}/npm/registry.npmjs.org/${name}/${version}/package.json`, "{}");
  const cwd = Deno.cwd();
  await Deno.mkdir(`${tmp.dir}/elsewhere`);
  Deno.chdir(`${tmp.dir}/elsewhere`); // a user running the CLI from another folder
  try {
    const module = (p: string) => pathToFileURL(`${tmp.dir}/${p}/infer/predict/llamacpp_binding.ts`);
    const jsr = "https://jsr.io/@iepile/cli/0.1.0/infer/predict/llamacpp_binding.ts";
    deepEqual(
      [
        await llamaCppBindingCached({ denoDir: emptyCache, module: module("with") }),
        await llamaCppBindingCached({ denoDir: emptyCache, module: module("without") }),
        await llamaCppBindingCached({ denoDir: emptyCache, module: jsr }),
        await llamaCppBindingCached({ denoDir: fullCache, module: jsr }),
        await llamaCppBindingCached({ denoDir: emptyCache }), // this repository's own
      ],
      [true, false, false, true, await exists(installed(ROOT.replace(/\/$/, "")))],
    );
  } finally {
    Deno.chdir(cwd);
  }
});
