/**
 * The default batch (`infer` and `serve` without `--batch`): how many sessions an engine's memory
 * has room for. Checked against what actually fits: sessions filled in lockstep until the
 * memory runs out.
 */

import { equal, ok } from "node:assert/strict";
import { chooseBatch, loadModel, type Session, WasmEngine, webGpuAvailable, WebGpuEngine } from "../infer/mod.ts";
import { writeRandomModel } from "../infer/testing/mod.ts";
import { probeSessions } from "../infer/engine/webgpu/memory_probe.ts";
import { UsageError } from "../io/errors.ts";
import { sharedGpuDevice, skipNotice, tempDir } from "./_shared.ts";

const HAVE_GPU = await webGpuAvailable();
if (!HAVE_GPU) skipNotice(import.meta.url, "the WebGPU engine's batch room", "no WebGPU adapter on this machine");

/** Layers 2, 4 KV heads of width 16: a position's keys take 256 bytes per layer. */
const MODEL = { architecture: "llama", vocabSize: 32, hidden: 64, intermediate: 128, layers: 2, heads: 4 } as const;
/** Tokens each session is filled to. */
const TOKENS = 1000;

/**
 * Sessions filled in lockstep, 100 tokens at a time each, as a batch decodes: whether they all
 * reached `TOKENS` before the memory ran out.
 */
async function fill(engine: WasmEngine, count: number): Promise<boolean> {
  const sessions: Session[] = Array.from({ length: count }, () => engine.createSession());
  try {
    for (let at = 0; at < TOKENS; at += 100) {
      for (const s of sessions) await s.forward(Array.from({ length: 100 }, (_, i) => (at + i) % 32));
    }
    return true;
  } catch (e) {
    if (e instanceof UsageError) return false;
    throw e;
  } finally {
    for (const s of sessions) s.dispose();
  }
}

Deno.test("cpu engine: the sessions its memory has room for fit, and no more than about twice as many do", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, MODEL);
  const model = await loadModel(tmp.dir);
  // One memory of 28 MiB for weights, activations and caches (a session's cache at 1000 tokens:
  // 2 layers × keys and values × a 256 KiB block, and 64 KiB of scores: 4 prompt tokens × 4 heads
  // × 1000 in f32, 62.5 KiB).
  const open = () => WasmEngine.create(model, { threads: 1, contextSize: 2048, weightMemoryBytes: 28 * 2 ** 20 });
  const engine = await open();
  ok(!engine.splitWeights);
  const room = await engine.batchRoom(TOKENS);
  // Counted with the blocks a session outgrew: twice its last ones.
  equal(room.sessionBytes, 2 * (2 * 2 * 2 ** 18 + 2 ** 16));
  equal(room.bound, "the cpu engine's memory of caches (4 GiB at most)");
  ok(room.sessions >= 2 && room.sessions < 16, `room for ${room.sessions}`);
  equal(room.sessions, Math.floor((engine.memory.maxBytes - engine.memory.used) / room.sessionBytes));
  ok(await fill(engine, room.sessions), `${room.sessions} sessions of ${TOKENS} tokens did not fit`);
  // Their blocks stay allocated for reuse: the room left counts them as taken.
  const after = await engine.batchRoom(TOKENS);
  ok(after.sessions < room.sessions / 2, `room for ${after.sessions} after ${room.sessions} filled`);
  engine.dispose();
  // At most twice the room (and one) fit: the count errs low by at most half.
  const fresh = await open();
  ok(!await fill(fresh, 2 * room.sessions + 2), `${2 * room.sessions + 2} sessions fitted`);
  fresh.dispose();
  // The default batch: the room, at least 1, at most 16.
  const big = await WasmEngine.create(model, { threads: 1, contextSize: 2048 });
  const choice = await chooseBatch(big, TOKENS);
  equal(choice.batch, 16);
  equal(choice.tokens, TOKENS);
  equal((await chooseBatch(big, 1e9)).tokens, 2048, "a session holds at most the context");
  big.dispose();
});

Deno.test({
  name: "webgpu engine: a session's caches at the context size; a software adapter's room is the host's memory",
  ignore: !HAVE_GPU,
  async fn() {
    await using tmp = await tempDir();
    await writeRandomModel(tmp.dir, MODEL);
    const model = await loadModel(tmp.dir);
    const device = await sharedGpuDevice();
    for (const kvCache of ["f32", "f16"] as const) {
      const engine = await WebGpuEngine.create(model, { device, contextSize: 128, kvCache });
      const room = await engine.batchRoom(TOKENS);
      // Keys and values of 2 layers, 128 positions of 64 numbers, whatever the tokens asked.
      equal(room.sessionBytes, 2 * 2 * 128 * 64 * (kvCache === "f16" ? 2 : 4));
      ok(room.sessions >= 1 && room.sessions <= room.most, JSON.stringify(room));
      if (/llvmpipe|lavapipe|swiftshader/i.test(device.adapterInfo.description + device.adapterInfo.device)) {
        equal(room.most, 16);
        equal(room.bound, "the host's available memory");
      } else equal(room.most, 32);
      engine.dispose();
    }
  },
});

Deno.test("probeSessions: allocates until the device runs out, frees every buffer, keeps an eighth free", async () => {
  /** A device with room for `capacity` bytes, reporting out-of-memory in the scope it happens in. */
  const device = (capacity: number) => {
    let used = 0;
    const live = new Set<number>();
    let scope: GPUError | null = null;
    let made = 0;
    return {
      live,
      pushErrorScope: () => (scope = null, undefined),
      popErrorScope: () => Promise.resolve(scope),
      createBuffer: ({ size }: GPUBufferDescriptor) => {
        const id = made++;
        if (used + size > capacity) scope = { message: "out of memory" } as GPUError;
        else (used += size, live.add(id));
        return { destroy: () => live.delete(id) && (used -= size) } as unknown as GPUBuffer;
      },
    };
  };
  // 4 buffers of 100 bytes a session; room for 20 sessions and a half: 20 fit, 7/8 of them kept.
  const small = device(8200);
  equal(await probeSessions(small, 4, 100, 32), 17);
  equal(small.live.size, 0, "every buffer freed");
  // Room for more than the most: the most, found by allocating one more than it.
  const large = device(1e9);
  equal(await probeSessions(large, 4, 100, 32), 32);
  equal(large.live.size, 0);
  // Not even one session: none.
  equal(await probeSessions(device(300), 4, 100, 32), 0);
  // A buffer the device refuses (validation: past maxBufferSize), one that throws, a scope that
  // cannot be read: each counts as not fitting, and what was made is freed.
  for (const fault of ["validation", "throw", "scope"] as const) {
    const d = device(1e9);
    let made = 0;
    const faulty = {
      ...d,
      pushErrorScope: (filter: GPUErrorFilter) => (scopes.push(filter), undefined),
      popErrorScope: () => {
        const filter = scopes.pop();
        if (made > 8 && fault === "scope") return Promise.reject(new Error("device lost"));
        return Promise.resolve(made > 8 && fault === "validation" && filter === "validation" ? {} as GPUError : null);
      },
      createBuffer: (descriptor: GPUBufferDescriptor) => {
        if (++made > 8 && fault === "throw") throw new Error("refused");
        return d.createBuffer(descriptor);
      },
    };
    const scopes: GPUErrorFilter[] = [];
    // Two sessions of 4 buffers fit before the fault: 7/8 of 2.
    equal(await probeSessions(faulty, 4, 100, 32), 1, fault);
    equal(d.live.size, 0, fault);
    equal(scopes.length, 0, `${fault}: every scope pushed is popped`);
  }
});
