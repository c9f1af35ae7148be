/**
 * Page entry of `engine_browser_test.ts` (bundled for the browser): load the model blob the test
 * serves, build the engine named by `?engine=`, run `forwardAll` over `?tokens=` and post the
 * logits (one array per token) with the page's environment.
 *
 * URL: `/?engine=cpu&model=model.bin&tokens=1,5,7` (`cpu`: the TypeScript oracle; `wasm-1`, `wasm-2`:
 * the WebAssembly SIMD engine on 1 and 2 threads). An engine is one line of {@linkcode ENGINES}.
 *
 * @module
 */

import { CpuEngine } from "../infer/engine/cpu/cpu_engine.ts";
import { WasmEngine } from "../infer/engine/wasm/wasm_engine.ts";
import type { Engine } from "../infer/engine/engine.ts";
import { type BlobModel, decodeModelBlob } from "./_model_blob.ts";
import { reportPage } from "./_browser_page.ts";

/** The engines a page can run, by the name the URL gives. */
const ENGINES: Record<string, (model: BlobModel) => Engine | Promise<Engine>> = {
  cpu: (model) => new CpuEngine(model),
  // The fast path on this thread alone, and with a worker (its script bundled beside the page).
  "wasm-1": (model) => WasmEngine.create(model, { threads: 1 }),
  "wasm-2": (model) => WasmEngine.create(model, { threads: 2, workerUrl: new URL("kernel_worker.js", location.href) }),
};

/** What the page posts as its value. */
export interface EnginePageValue {
  /** The engine's `name`. */
  readonly engine: string;
  /** `oracle` (`CpuEngine`) or `wasm` (`WasmEngine`). */
  readonly kind: string;
  /** Next-token logits at each position, as plain numbers. */
  readonly logits: number[][];
}

reportPage(async (): Promise<EnginePageValue> => {
  const params = new URLSearchParams(location.search);
  const name = params.get("engine") ?? "cpu";
  const make = ENGINES[name];
  if (!make) throw new Error(`unknown engine "${name}" (known: ${Object.keys(ENGINES).join(", ")})`);
  const response = await fetch(params.get("model") ?? "model.bin");
  if (!response.ok) throw new Error(`model: HTTP ${response.status}`);
  const model = decodeModelBlob(await response.arrayBuffer());
  const tokens = (params.get("tokens") ?? "").split(",").filter((t) => t !== "").map(Number);
  const engine = await make(model);
  try {
    const session = engine.createSession();
    const logits = await session.forwardAll(tokens);
    session.dispose();
    return {
      engine: engine.name,
      kind: engine instanceof WasmEngine ? "wasm" : engine instanceof CpuEngine ? "oracle" : "other",
      logits: logits.map((l) => Array.from(l)),
    };
  } finally {
    engine.dispose();
  }
});
