/**
 * The examples of a training run: converted train records read line by line, checked, encoded
 * with the chat template and length budget, a validation set held out when none is given, and
 * the order of each epoch, all from the run's seed.
 *
 * @module
 */

import { InputError } from "../io/errors.ts";
import { readJsonItems } from "../io/json_items.ts";
import { parseRecordLine } from "../io/record.ts";
import { Rng } from "../infer/mod.ts";
import { encodeTrainingExample, type ExampleBudget, type PromptTokenizer } from "../templates/mod.ts";
import type { TemplateDefinition } from "../templates/mod.ts";
import { type ScoredIds, scoredPositions } from "./lora_model.ts";

/** An encoded example, with the line it came from. */
export interface Example extends ScoredIds {
  /** 1-based line in its file. */
  readonly line: number;
}

/** The examples of a file, and the records skipped as IEPile's script skips them. */
export interface ExampleFile {
  /** The examples, in file order. */
  readonly examples: Example[];
  /** Records skipped because their instruction or output is empty (the reference skips them too). */
  readonly skipped: number;
}

/**
 * Read and encode a file of converted train records (`instruction` is the query, `output` the
 * response; other fields are ignored).
 *
 * @param file the JSON Lines file
 * @param template the chat template
 * @param tokenizer the model's tokenizer
 * @param budget `cutoff_len` and `max_target_length`
 * @returns the examples and how many records were skipped
 * @throws {InputError} naming file, line and field for a line that is not a converted train record
 *
 * @example
 * ```ts
 * import { readExamples } from "./dataset.ts";
 * const chars = [..."abcdefghijklmnopqrstuvwxyz{}\":,[] "];
 * const tok = {
 *   encode: (s: string) => [...s].map((c) => chars.indexOf(c) + 2),
 *   tokenToId: (t: string) => t === "</s>" ? 1 : undefined,
 *   idToToken: () => undefined, decode: () => "", bos: undefined, eos: { token: "</s>", id: 1 },
 * };
 * const file = await Deno.makeTempFile();
 * await Deno.writeTextFile(file, '{"instruction": "find", "output": "ab"}\n{"instruction": "", "output": "x"}\n');
 * const { examples, skipped } = await readExamples(file, "vanilla", tok, { cutoffLen: 700, maxTargetLength: 300 });
 * if (examples.length !== 1 || skipped !== 1 || examples[0].promptLength !== 4) throw new Error();
 * await Deno.remove(file);
 * ```
 */
export async function readExamples(
  file: string,
  template: TemplateDefinition | string,
  tokenizer: PromptTokenizer,
  budget: ExampleBudget,
): Promise<ExampleFile> {
  const examples: Example[] = [];
  let skipped = 0;
  for await (const item of readJsonItems(file)) {
    const where = { file, line: item.line };
    const r = parseRecordLine(item.text, file, item.line).fields;
    for (const field of ["instruction", "output"]) {
      if (!(field in r)) {
        const hint = field === "output" ? " (a test split? train needs records converted with --split train)" : "";
        throw new InputError(`missing${hint}`, { ...where, field });
      }
      if (typeof r[field] !== "string") throw new InputError("not a string", { ...where, field });
    }
    const query = r.instruction as string, response = r.output as string;
    if (query === "" || response === "") {
      skipped++;
      continue;
    }
    const ex = encodeTrainingExample(template, query, response, tokenizer, budget);
    if (scoredPositions(ex) < 1) {
      throw new InputError("nothing of the output is left within --cutoff_len", { ...where, field: "output" });
    }
    examples.push({ ids: ex.ids, promptLength: ex.promptLength, line: item.line });
  }
  if (examples.length === 0) throw new InputError("no train records (every line is empty or skipped)", { file });
  return { examples, skipped };
}

/**
 * A random permutation of `0 … n−1` (Fisher–Yates with the given seed).
 *
 * @param n how many
 * @param seed the seed
 * @returns the permutation
 *
 * @example
 * ```ts
 * import { permutation } from "./dataset.ts";
 * const p = permutation(5, 42);
 * if ([...p].sort().join() !== "0,1,2,3,4" || p.join() !== permutation(5, 42).join()) throw new Error();
 * ```
 */
export function permutation(n: number, seed: number): number[] {
  const rng = new Rng(seed);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/**
 * Hold out `size` random examples for validation (none when `size` is 0 or would leave no train
 * examples); both parts keep file order.
 *
 * @param examples all examples
 * @param size how many to hold out
 * @param seed the seed
 * @returns the train and validation examples
 *
 * @example
 * ```ts
 * import { holdOut } from "./dataset.ts";
 * const all = [1, 2, 3, 4].map((line) => ({ ids: [1, 2], promptLength: 1, line }));
 * const { train, valid } = holdOut(all, 1, 42);
 * if (train.length !== 3 || valid.length !== 1 || train.some((e) => e.line === valid[0].line)) throw new Error();
 * ```
 */
export function holdOut<T>(examples: readonly T[], size: number, seed: number): { train: T[]; valid: T[] } {
  if (size <= 0 || size >= examples.length) return { train: [...examples], valid: [] };
  const held = new Set(permutation(examples.length, seed).slice(0, size));
  return {
    train: examples.filter((_, i) => !held.has(i)),
    valid: examples.filter((_, i) => held.has(i)),
  };
}

/**
 * The order examples are seen in during an epoch (a new shuffle each epoch, from the seed).
 *
 * @param n examples
 * @param seed the run's seed
 * @param epoch the epoch, from 0
 * @returns the example indices in order
 *
 * @example
 * ```ts
 * import { epochOrder } from "./dataset.ts";
 * if (epochOrder(6, 42, 0).join() === epochOrder(6, 42, 1).join()) throw new Error("each epoch is shuffled anew");
 * ```
 */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  return permutation(n, (seed + Math.imul(epoch + 1, 0x2545f491)) >>> 0);
}
