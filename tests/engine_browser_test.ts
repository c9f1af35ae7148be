/**
 * The engine inside headless Chromium against the same engine in Deno: a tiny random model is
 * loaded here, sent to a cross-origin-isolated page as one blob (`_model_blob.ts`), run there by
 * the engine the URL names, and its logits at every position must match Deno's oracle: within
 * 1e-5 for the oracle itself (`cpu`), within 1e-4 of their scale for the WebAssembly SIMD engine
 * on one thread and on two (a Web Worker over the shared memory; the page's thread spins where a
 * browser forbids blocking). The page must be cross-origin isolated with `SharedArrayBuffer`. Skipped, with a notice, where no Chromium is on `PATH`
 * (`.ci/run` installs Debian's `chromium` when it can).
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { CpuEngine, loadModel } from "../infer/mod.ts";
import { type RandomModelOptions, writeRandomModel } from "../infer/testing/mod.ts";
import type { QuantPreset } from "../infer/formats/quant_preset.ts";
import { bundleForBrowser, CHROMIUM, runInBrowser } from "./_browser.ts";
import type { PageReport } from "./_browser_page.ts";
import type { EnginePageValue } from "./_engine_browser_page.ts";
import { decodeModelBlob, encodeModelBlob } from "./_model_blob.ts";
import { skipNotice, tempDir } from "./_shared.ts";

if (!CHROMIUM) skipNotice(import.meta.url, "the in-browser engine tests", "no chromium on PATH");

const TOKENS = [1, 5, 7, 12, 63, 0, 33, 2];
const base = { architecture: "llama", vocabSize: 64, hidden: 32, intermediate: 64, layers: 2, heads: 4, kvHeads: 2 };

const CASES: { name: string; model: RandomModelOptions; quantize?: QuantPreset }[] = [
  { name: "llama f32, GQA", model: { ...base, architecture: "llama" } },
  { name: "llama f16, GQA", model: { ...base, architecture: "llama", dtype: "f16" } },
  { name: "llama q8_0 (quantized at load)", model: { ...base, architecture: "llama" }, quantize: "q8_0" },
  {
    name: "qwen2 f32, tied embeddings, q/k/v biases",
    model: { ...base, architecture: "qwen2", tiedEmbeddings: true },
  },
];

/** Largest |a - b| over all positions. */
function maxAbsDiff(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[]): number {
  equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    equal(a[i].length, b[i].length);
    for (let j = 0; j < a[i].length; j++) d = Math.max(d, Math.abs(a[i][j] - b[i][j]));
  }
  return d;
}

Deno.test({
  name: "engines in headless Chromium give Deno's logits",
  ignore: !CHROMIUM,
  async fn(t) {
    await using tmp = await tempDir();
    const site = `${tmp.dir}/site`;
    await Deno.mkdir(site);
    await bundleForBrowser(new URL("./_engine_browser_page.ts", import.meta.url), `${site}/page.js`);
    await bundleForBrowser(
      new URL("../infer/engine/wasm/_kernel_worker.ts", import.meta.url),
      `${site}/kernel_worker.js`,
    );

    for (const [i, c] of CASES.entries()) {
      await t.step(c.name, async () => {
        const dir = `${tmp.dir}/model-${i}`;
        await writeRandomModel(dir, { ...c.model, seed: 7 + i });
        const model = await loadModel(dir, { quantize: c.quantize });
        const session = new CpuEngine(model).createSession();
        const expected = await session.forwardAll(TOKENS);
        ok(expected.every((l) => l.every(Number.isFinite)), "Deno's logits are finite");

        const blob = encodeModelBlob(model.spec, model.weights);
        // The blob is faithful: decoded here, the same engine gives the same logits bit for bit.
        const decoded = decodeModelBlob(blob.slice().buffer);
        deepEqual(decoded.spec, JSON.parse(JSON.stringify(model.spec)));
        equal(maxAbsDiff(await new CpuEngine(decoded).createSession().forwardAll(TOKENS), expected), 0);
        await Deno.writeFile(`${site}/model-${i}.bin`, blob);

        for (const engine of ["cpu", "wasm-1", "wasm-2"]) {
          const run = await runInBrowser({
            dir: site,
            script: "page.js",
            query: `engine=${engine}&model=model-${i}.bin&tokens=${TOKENS.join(",")}`,
          });
          const report = run.result as PageReport<EnginePageValue>;
          deepEqual(run.consoleErrors, []);
          equal(report.env.crossOriginIsolated, true, "the page is cross-origin isolated");
          equal(report.env.sharedArrayBuffer, "function", "SharedArrayBuffer exists in the page");
          equal(report.value.engine, "cpu");
          const diff = maxAbsDiff(report.value.logits, expected);
          if (engine === "cpu") {
            equal(report.value.kind, "oracle");
            ok(diff <= 1e-5, `${engine}: max |Δlogit| ${diff} > 1e-5`);
          } else {
            equal(report.value.kind, "wasm");
            const scale = Math.max(...expected.map((l) => Math.max(...l.map(Math.abs))));
            ok(diff / scale < 1e-4, `${engine}: max |Δlogit| ${diff} is more than 1e-4 of ${scale}`);
          }
        }
      });
    }
  },
});
