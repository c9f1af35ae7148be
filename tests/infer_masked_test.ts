/**
 * Constrained greedy decoding with the mask applied by the engine (`Session.forwardMasked`):
 * `maskedArgmax` is `pickGreedy`'s choice at every state of real answers; each engine's
 * `forwardMasked` (cpu, wasm, webgpu with and without its one-token kernels, a batched session)
 * gives the best allowed id of `forward`'s logits; and answers to the bundled data decoded with
 * the masked path are byte-identical to those of the logits path (the mask as a logits hook and
 * `pickGreedy`), while the webgpu engine reads back 4 bytes per token instead of the logits.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { writeDemoModel } from "../scripts/demo_model.ts";
import { maskedArgmax } from "../infer/engine/engine.ts";
import { ConstraintVocab, JsonConstraint, pickGreedy } from "../infer/constrain/token_constraint.ts";
import { decodeAnswer, jsonAnswerConstraint } from "../infer/decode/answer.ts";
import { sessionStart } from "../infer/decode/decode_loop.ts";
import {
  CpuEngine,
  type Engine,
  loadModel,
  type Session,
  shapeForInstruction,
  StepBatcher,
  WasmEngine,
  webGpuAvailable,
  WebGpuEngine,
} from "../infer/mod.ts";
import { tokensBytes, tokensText } from "../infer/predict/local.ts";
import type { Shape } from "../infer/constrain/shape.ts";
import { writeRandomModel } from "../infer/testing/mod.ts";
import { type HfTokenizer, loadTokenizer, PromptRenderer, queryOf } from "../templates/mod.ts";
import { runCli, sharedGpuDevice, skipNotice, tempDir } from "./_shared.ts";

const DATA = new URL("../data/", import.meta.url).pathname;
const HAVE_GPU = await webGpuAvailable();
if (!HAVE_GPU) skipNotice(import.meta.url, "forwardMasked on webgpu", "no WebGPU adapter here");

let seed = 3;
const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;

/** A mask of the given ids, `words` long. */
function maskOf(ids: Iterable<number>, words: number): Uint32Array {
  const m = new Uint32Array(words);
  for (const id of ids) if (id >>> 5 < words) m[id >>> 5] |= 1 << (id & 31);
  return m;
}

Deno.test("maskedArgmax: the best allowed index, the lowest on ties, NaN skipped, ids past the mask or values not allowed", () => {
  const v = new Float32Array([1, 7, 7, -Infinity, NaN, 7, 2]);
  equal(maskedArgmax(v, maskOf([0, 1, 2, 3, 4, 5, 6], 1)), 1);
  equal(maskedArgmax(v, maskOf([5, 2], 1)), 2);
  equal(maskedArgmax(v, maskOf([3, 4], 1)), 3, "-Infinity is a choice, NaN is not");
  equal(maskedArgmax(v, maskOf([4], 1)), -1);
  equal(maskedArgmax(v, new Uint32Array(0)), -1, "an empty mask allows nothing");
  equal(maskedArgmax(v, Uint32Array.of(0xffffffff)), 1, "bits past the values are ignored");
  // Against the plain scan, over random masks of random widths (some shorter than the values).
  for (let k = 0; k < 200; k++) {
    const n = 1 + Math.floor(rand() * 100);
    const values = Float32Array.from({ length: n }, () => Math.floor(rand() * 6));
    const words = Math.floor(rand() * 5);
    const mask = Uint32Array.from({ length: words }, () => Math.floor(rand() * 2 ** 32) & Math.floor(rand() * 2 ** 32));
    let want = -1;
    for (let i = 0; i < Math.min(n, words * 32); i++) {
      if ((mask[i >>> 5] >>> (i & 31)) & 1 && (want < 0 || values[i] > values[want])) want = i;
    }
    equal(maskedArgmax(values, mask), want);
  }
});

// ---------------------------------------------------------------------------------------------
// The bundled data as `infer` decodes it: the demo model, its prompts and answer shapes.

interface Request {
  readonly promptIds: number[];
  readonly stopIds: number[];
  readonly shape: Shape;
  readonly input: string;
}

interface Bundled {
  readonly dir: string;
  readonly tok: HfTokenizer;
  readonly requests: Request[];
}

async function bundled(dir: string): Promise<Bundled> {
  await Deno.mkdir(`${dir}/model`);
  await writeDemoModel(`${dir}/model`);
  const tok = await loadTokenizer(`${dir}/model`);
  const renderer = new PromptRenderer({ template: "llama2_zh", tokenizer: tok, cutoffLen: 512, truncate: "input" });
  const requests: Request[] = [];
  for (const task of ["NER", "RE", "EE"]) {
    const r = await runCli([
      "convert",
      ...["--src_path", `${DATA}${task}/sample.json`, "--schema_path", `${DATA}${task}/schema.json`],
      ...["--tgt_path", `${dir}/${task}.json`, "--task", task, "--language", "en", "--split", "test"],
      ...["--split_num", "2", "--quiet"],
    ]);
    equal(r.code, 0, r.stderr);
    const recs = (await Deno.readTextFile(`${dir}/${task}.json`)).trim().split("\n").map((l) => JSON.parse(l));
    for (const rec of recs) {
      const prompt = renderer.render(queryOf(rec)).prompt;
      const eos = tok.eos?.id;
      requests.push({
        promptIds: prompt.ids!,
        stopIds: [...(prompt.stopIds ?? []), ...(eos === undefined ? [] : [eos])],
        shape: shapeForInstruction(rec.task, rec.instruction).shape,
        input: JSON.parse(rec.instruction).input,
      });
    }
  }
  return { dir, tok, requests };
}

Deno.test("maskedArgmax over allowedMask is pickGreedy's choice at every state of the bundled answers (ties included)", async () => {
  await using tmp = await tempDir();
  const { tok, requests } = await bundled(tmp.dir);
  const vocab = ConstraintVocab.of(tok);
  let states = 0;
  for (const [i, r] of requests.entries()) {
    for (const extractive of [false, true]) {
      const c = new JsonConstraint(vocab, r.shape, {
        endIds: r.stopIds,
        extractiveText: extractive ? r.input : undefined,
      });
      for (let step = 0; step < 60 && !c.done; step++) {
        // Few distinct values: ties among the best allowed tokens are common.
        const logits = Float32Array.from({ length: 512 }, () => Math.floor(rand() * (step % 2 ? 4 : 40)));
        const id = pickGreedy(logits, c);
        equal(maskedArgmax(logits, c.allowedMask()), id, `record ${i}, step ${step}`);
        c.accept(id);
        states++;
      }
    }
  }
  ok(states > 500, `${states} states`);
});

// ---------------------------------------------------------------------------------------------
// forwardMasked of each engine against its own forward.

const ENGINES: { name: string; gpu?: boolean; open: (dir: string) => Promise<Engine> }[] = [
  { name: "cpu", open: async (dir) => new CpuEngine(await loadModel(dir)) },
  { name: "wasm", open: async (dir) => await WasmEngine.create(await loadModel(dir), { threads: 1 }) },
  {
    name: "webgpu (a prompt in chunks of 4)",
    gpu: true,
    open: async (dir) =>
      await WebGpuEngine.create(await loadModel(dir), {
        device: await sharedGpuDevice(),
        contextSize: 64,
        maxBatch: 4,
      }),
  },
  {
    name: "webgpu, one-token steps by matvec",
    gpu: true,
    open: async (dir) =>
      await WebGpuEngine.create(await loadModel(dir), {
        device: await sharedGpuDevice(),
        contextSize: 64,
        decodeKernel: "matvec",
      }),
  },
];

for (const e of ENGINES) {
  Deno.test({
    name: `${e.name}: forwardMasked gives the best allowed id of forward's logits (one, few, many, all, none allowed)`,
    ignore: e.gpu === true && !HAVE_GPU,
    async fn() {
      await using tmp = await tempDir();
      const V = 300; // not a multiple of 32, more than a workgroup's 256
      await writeRandomModel(tmp.dir, {
        architecture: "llama",
        vocabSize: V,
        hidden: 32,
        intermediate: 64,
        layers: 2,
        heads: 4,
      });
      const engine = await e.open(tmp.dir);
      try {
        const words = Math.ceil(V / 32);
        const all = Array.from({ length: V }, (_, i) => i);
        const masks: [string, Uint32Array][] = [
          ["one", maskOf([217], words)],
          ["few", maskOf([3, 40, 41, 299, 150], words)],
          ["many", maskOf(all.filter(() => rand() < 0.9), words)],
          ["all", maskOf(all, words)],
          ["a mask shorter than the vocabulary", maskOf(all.filter(() => rand() < 0.5), 4)],
          ["a mask longer than the vocabulary", maskOf([...all, 300, 301, 319, 340], words + 2)],
          ["the last id alone", maskOf([V - 1], words)],
          ["none", new Uint32Array(words)],
        ];
        const masked = engine.createSession();
        const plain = engine.createSession();
        const batcher = new StepBatcher(engine);
        const batched = [batcher.createSession(), batcher.createSession()];
        const tokens: number[][] = [
          [1, 17, 200, 42, 99, 5, 260, 7, 8, 9],
          ...masks.slice(1).map((_, i) => [(i * 53) % V]),
        ];
        let distinct = 0;
        for (const [i, [what, mask]] of masks.entries()) {
          const logits = await plain.forward(tokens[i]);
          const want = maskedArgmax(logits, mask);
          equal(await masked.forwardMasked!(tokens[i], mask), want, `${what} (step ${i})`);
          if (want !== maskedArgmax(logits, maskOf(all, words))) distinct++;
          // Alone in a round: the engine session's forwardMasked; two in a round: chosen from the batch's logits.
          batched[0].enter();
          equal(await batched[0].forwardMasked(tokens[i], mask), want, `${what}, batched session alone`);
          batched[1].enter();
          const [a] = await Promise.all([
            batched[0].forwardMasked([5], mask),
            batched[1].forwardMasked(i === 0 ? tokens[0] : [5], mask),
          ]);
          batched[0].leave(), batched[1].leave();
          equal(a, maskedArgmax(await plain.fork().forward([5]), mask), `${what}, batched with another`);
          batched[0].truncate(batched[0].tokens.length - 1);
          batched[1].truncate(batched[1].tokens.length - 1);
        }
        equal(masked.tokens.join(), plain.tokens.join());
        ok(distinct >= 4, "masks that move the choice off the plain argmax");
        equal(await masked.forwardMasked!([2], new Uint32Array(words)), -1);
      } finally {
        engine.dispose();
      }
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Answers to the bundled data: the masked path against the logits path.

/** A session's calls, counted. */
function counted(s: Session): { session: Session; calls: { forward: number; masked: number } } {
  const calls = { forward: 0, masked: 0 };
  const session: Session = {
    get tokens() {
      return s.tokens;
    },
    contextSize: s.contextSize,
    forward: (t) => (calls.forward++, s.forward(t)),
    forwardAll: (t) => s.forwardAll(t),
    forwardGreedy: (t) => s.forwardGreedy(t),
    forwardMasked: (t, m) => (calls.masked++, s.forwardMasked!(t, m)),
    truncate: (n) => s.truncate(n),
    reusePrefix: (ids) => s.reusePrefix(ids),
    fork: () => s.fork(),
    dispose: () => s.dispose(),
  };
  return { session, calls };
}

/** The engines, and every how many records each decodes (a software adapter takes ~20 ms a token). */
const ANSWER_ENGINES: (typeof ENGINES[number] & { every: number })[] = [
  { ...ENGINES[0], every: 2 },
  { ...ENGINES[1], every: 1 },
  {
    name: "webgpu",
    gpu: true,
    every: 8,
    open: async (dir) =>
      await WebGpuEngine.create(await loadModel(dir), { device: await sharedGpuDevice(), contextSize: 1024 }),
  },
];

for (const e of ANSWER_ENGINES) {
  Deno.test({
    name: `${e.name}: answers to the bundled data decoded with forwardMasked are byte-identical to the logits path's`,
    ignore: e.gpu === true && !HAVE_GPU,
    async fn() {
      await using tmp = await tempDir();
      const { dir, tok, requests } = await bundled(tmp.dir);
      const engine = await e.open(`${dir}/model`);
      try {
        const { session, calls } = counted(engine.createSession({ contextSize: 512 }));
        let tokens = 0;
        let answers = 0;
        const vocab = ConstraintVocab.of(tok);
        for (const [i, r] of requests.entries()) {
          if (i % e.every !== 0) continue;
          for (const extractive of [false, true]) {
            const decodeWith = async (masked: boolean) => {
              const c = new JsonConstraint(vocab, r.shape, {
                endIds: r.stopIds,
                extractiveText: extractive ? r.input : undefined,
              });
              const constraint = jsonAnswerConstraint(c, (ids) => tokensBytes(tok, ids));
              const { stepper, first } = sessionStart(session, r.promptIds, false);
              const before = engine instanceof WebGpuEngine ? engine.readBytes : 0;
              const calls0 = { ...calls };
              const answer = await decodeAnswer(stepper, first, {
                maxNewTokens: 40,
                stopIds: r.stopIds,
                decode: (ids) => tokensText(tok, ids),
                constraint: masked ? constraint : { ...constraint, allowedMask: undefined },
              });
              const steps = masked ? calls.masked - calls0.masked : calls.forward - calls0.forward;
              ok(steps >= answer.ids.length, `${steps} steps for ${answer.ids.length} tokens`);
              equal(masked ? calls.forward - calls0.forward : calls.masked - calls0.masked, 0, "one path only");
              if (engine instanceof WebGpuEngine) {
                // The masked path reads back the 4-byte id per token; the logits path, every logit.
                equal(engine.readBytes - before, steps * (masked ? 4 : engine.spec.vocabSize * 4));
              }
              return answer;
            };
            const want = await decodeWith(false);
            const got = await decodeWith(true);
            deepEqual(got, want, `record ${i}${extractive ? ", extractive" : ""}`);
            tokens += got.ids.length;
            answers++;
          }
        }
        ok(tokens > 10 * answers, `${tokens} tokens in ${answers} answers`);
      } finally {
        engine.dispose();
      }
    },
  });
}
