/**
 * One document's answers into its extractions: per chunk and schema batch, the items found in
 * at least `minVotes` of the schema orders asked; every string located in the chunk it came
 * from (exact, normalised, then fuzzy); then the document's items merged — the same type and the
 * same span (items in the overlap of two chunks, or asked in two batches) kept once, an event's
 * or a KG entity's arguments united.
 *
 * @module
 */

import type { Task } from "../io/tasks.ts";
import type { Chunk } from "./chunk.ts";
import { batchKeys, type RawItem, readAnswer } from "./answers.ts";
import { Grounder } from "./ground.ts";
import { type DocumentBatch, orderCount } from "./requests.ts";
import {
  type DocumentExtractions,
  type EventArgument,
  type Extraction,
  type KgAttribute,
  type Span,
  spansOf,
} from "./types.ts";

/** The answer to one request (absent when the request failed or was not run). */
export interface RequestAnswer {
  /** The chunk's index. */
  chunk: number;
  /** The batch's index. */
  batch: number;
  /** The order's index. */
  order: number;
  /** The model's output. */
  output: string;
}

/** Options of {@linkcode mergeDocument}. */
export interface MergeOptions {
  /** The task. */
  task: Task;
  /** Orders asked per batch (default 1). */
  orders?: number;
  /**
   * Orders an item must be found in (default: more than half of `orders`); a batch with fewer
   * orders than `orders` (a single schema item has one) needs the same share of its own.
   */
  minVotes?: number;
  /** Drop items (and arguments) not found in the text (default: keep them, `grounded: false`). */
  groundedOnly?: boolean;
  /** Least similarity of a fuzzy match, 0–1 (default 0.8; 1: exact and normalised matches only). */
  fuzzyThreshold?: number;
}

/** What merging saw, for the run's summary. */
export interface MergeCounts {
  /** Answers that were not a JSON object (no items read). */
  unreadable: number;
  /** Strings of the merged extractions not found in the text (none with `groundedOnly`). */
  ungrounded: number;
  /** Items and arguments dropped because they were not found (`groundedOnly`). */
  dropped: number;
  /** Items found in fewer than `minVotes` orders. */
  outvoted: number;
}

/**
 * Merge a document's answers.
 *
 * @param id the document's id
 * @param text the document
 * @param chunks its chunks
 * @param batches its schema batches
 * @param answers the answers to its requests (any order)
 * @param options task, votes, grounding
 * @param counts where to add what was seen (optional)
 * @returns the document's extractions
 *
 * @example
 * ```ts
 * import { mergeDocument } from "./merge.ts";
 * const text = "Ann met Bob in Oslo.";
 * const batches = [{ record: {}, schema: ["person", "city"] }];
 * const output = '{"person": ["Ann", "Bob", "Carl"], "city": ["Oslo"]}';
 * const doc = mergeDocument("d", text, [{ start: 0, end: 20, text }], batches, [{ chunk: 0, batch: 0, order: 0, output }], { task: "NER" });
 * const got = doc.extractions.map((x) => x.kind === "entity" ? `${x.type}:${x.start}-${x.end}` : "");
 * if (got.join() !== "person:0-3,person:8-11,city:15-19,person:null-null") throw new Error(got.join());
 * ```
 */
export function mergeDocument(
  id: string,
  text: string,
  chunks: readonly Chunk[],
  batches: readonly DocumentBatch[],
  answers: readonly RequestAnswer[],
  options: MergeOptions,
  counts: MergeCounts = { unreadable: 0, ungrounded: 0, dropped: 0, outvoted: 0 },
): DocumentExtractions {
  const orders = options.orders ?? 1;
  const minVotes = options.minVotes ?? Math.floor(orders / 2) + 1;
  const grounder = new Grounder(text, { fuzzyThreshold: options.fuzzyThreshold });
  const merged = new Merged(options.groundedOnly === true, counts);
  // Answers grouped by chunk and batch: the orders of one question vote together.
  const groups = new Map<string, RequestAnswer[]>();
  for (const a of answers) {
    const key = `${a.chunk}:${a.batch}`;
    groups.set(key, [...groups.get(key) ?? [], a]);
  }
  const sortedKeys = [...groups.keys()].sort((x, y) => {
    const [a, b] = [x.split(":").map(Number), y.split(":").map(Number)];
    return a[0] - b[0] || a[1] - b[1];
  });
  for (const key of sortedKeys) {
    const group = groups.get(key)!;
    const chunk = chunks[group[0].chunk];
    const schema = batches[group[0].batch].schema;
    const keys = batchKeys(options.task, schema);
    // A batch with fewer orders than asked (one item has one) needs as large a share of them.
    const asked = orderCount(schema.length, orders);
    const voted = vote(
      group.map((a) => {
        const read = readAnswer(options.task, a.output, keys);
        if (read.problem !== undefined) counts.unreadable++;
        return read.items;
      }),
      Math.max(1, Math.ceil(minVotes * asked / orders)),
      counts,
    );
    // Strings used in this answer, per label: a repeated item takes the next occurrence.
    const used = new Set<string>();
    const locate = (s: string, label: string): Span => {
      const found = grounder.locate(s, chunk.start, chunk.end, (a, b) => used.has(`${label}\u0000${a}:${b}`));
      if (!found) return { text: s, start: null, end: null, grounded: false };
      used.add(`${label}\u0000${found.start}:${found.end}`);
      return { text: s, start: found.start, end: found.end, grounded: true, match: found.match };
    };
    for (const item of voted) merged.add(ground(item, locate));
  }
  const extractions = merged.list();
  for (const x of extractions) counts.ungrounded += spansOf(x).filter((p) => !p.span.grounded).length;
  return { id, extractions };
}

/** Items found in at least `minVotes` of the answers (a repeated item counts per repetition). */
function vote(answers: RawItem[][], minVotes: number, counts: MergeCounts): RawItem[] {
  if (answers.length === 1 && minVotes <= 1) return answers[0];
  const mains = new Map<string, { item: RawItem; votes: number; parts: Map<string, number> }>();
  for (const items of answers) {
    const seen = new Map<string, number>();
    const seenParts = new Set<string>();
    for (const item of items) {
      const base = `${item.kind}\u0000${item.type}\u0000${item.main.join("\u0000")}`;
      const k = seen.get(base) ?? 0;
      seen.set(base, k + 1);
      const key = `${base}\u0000${k}`;
      let entry = mains.get(key);
      if (!entry) mains.set(key, entry = { item: { ...item, parts: [] }, votes: 0, parts: new Map() });
      entry.votes++;
      for (const p of item.parts) {
        const pk = `${key}\u0001${p.label}\u0000${p.text}`;
        if (seenParts.has(pk)) continue;
        seenParts.add(pk);
        if (!entry.parts.has(pk)) entry.item.parts.push(p);
        entry.parts.set(pk, (entry.parts.get(pk) ?? 0) + 1);
      }
    }
  }
  const out: RawItem[] = [];
  for (const [key, { item, votes, parts }] of mains) {
    if (votes < minVotes) {
      counts.outvoted++;
      continue;
    }
    const kept = item.parts.filter((p) => parts.get(`${key}\u0001${p.label}\u0000${p.text}`)! >= minVotes);
    counts.outvoted += item.parts.length - kept.length;
    out.push({ ...item, parts: kept });
  }
  return out;
}

function ground(item: RawItem, locate: (s: string, label: string) => Span): Extraction {
  switch (item.kind) {
    case "entity":
      return { kind: "entity", type: item.type, ...locate(item.main[0], item.type) };
    case "relation":
      return {
        kind: "relation",
        relation: item.type,
        head: locate(item.main[0], `${item.type}\u0000head`),
        tail: locate(item.main[1], `${item.type}\u0000tail`),
      };
    case "event": {
      const trigger = item.main.length > 0 ? locate(item.main[0], `${item.type}\u0000trigger`) : undefined;
      return {
        kind: "event",
        type: item.type,
        ...(trigger ? { trigger } : {}),
        arguments: item.parts.map((p) => ({ role: p.label, ...locate(p.text, `${item.type}\u0000${p.label}`) })),
      };
    }
    case "kg":
      return {
        kind: "kg",
        type: item.type,
        entity: locate(item.main[0], item.type),
        attributes: item.parts.map((p) => ({ attribute: p.label, ...locate(p.text, `${item.type}\u0000${p.label}`) })),
      };
  }
}

/** A document's extractions, deduplicated by type and span. */
class Merged {
  readonly #byKey = new Map<string, Extraction>();
  readonly #groundedOnly: boolean;
  readonly #counts: MergeCounts;

  constructor(groundedOnly: boolean, counts: MergeCounts) {
    this.#groundedOnly = groundedOnly;
    this.#counts = counts;
  }

  add(x: Extraction): void {
    if (!this.#keep(x)) return;
    const key = identity(x);
    const earlier = this.#byKey.get(key);
    if (!earlier) {
      this.#byKey.set(key, x);
      return;
    }
    // The same event or KG entity seen again (another chunk or batch): its arguments are united.
    if (earlier.kind === "event" && x.kind === "event") {
      earlier.arguments = unite(earlier.arguments, x.arguments, "role");
    }
    if (earlier.kind === "kg" && x.kind === "kg") {
      earlier.attributes = unite(earlier.attributes, x.attributes, "attribute");
    }
  }

  /** With `groundedOnly`, drops strings not found (and items whose main string is one), counting them. */
  #keep(x: Extraction): boolean {
    const mains = x.kind === "entity"
      ? [x]
      : x.kind === "relation"
      ? [x.head, x.tail]
      : x.kind === "kg"
      ? [x.entity]
      : x.trigger
      ? [x.trigger]
      : [];
    if (!this.#groundedOnly) return true;
    if (mains.some((s) => !s.grounded)) {
      this.#counts.dropped++;
      return false;
    }
    if (x.kind === "event") x.arguments = this.#groundedParts(x.arguments);
    if (x.kind === "kg") x.attributes = this.#groundedParts(x.attributes);
    return x.kind !== "event" || x.trigger !== undefined || x.arguments.length > 0;
  }

  #groundedParts<T extends Span>(parts: T[]): T[] {
    const kept = parts.filter((p) => p.grounded);
    this.#counts.dropped += parts.length - kept.length;
    return kept;
  }

  /** In document order of the first located string; items with none last, in the order found. */
  list(): Extraction[] {
    const all = [...this.#byKey.values()];
    const first = (x: Extraction): number => {
      const starts = spansOf(x).map((p) => p.span.start).filter((s): s is number => s !== null);
      return starts.length > 0 ? Math.min(...starts) : Infinity;
    };
    return all.map((x, i) => ({ x, i, at: first(x) }))
      .sort((a, b) => (a.at === b.at ? a.i - b.i : a.at < b.at ? -1 : 1))
      .map((e) => e.x);
  }
}

function spanKey(s: Span): string {
  return s.grounded ? `${s.start}:${s.end}` : `?${s.text}`;
}

/** What makes two extractions the same: type and spans (arguments of an event without trigger). */
function identity(x: Extraction): string {
  switch (x.kind) {
    case "entity":
      return `e\u0000${x.type}\u0000${spanKey(x)}`;
    case "relation":
      return `r\u0000${x.relation}\u0000${spanKey(x.head)}\u0000${spanKey(x.tail)}`;
    case "event":
      return x.trigger
        ? `v\u0000${x.type}\u0000${spanKey(x.trigger)}`
        : `a\u0000${x.type}\u0000${x.arguments.map((a) => `${a.role}=${spanKey(a)}`).sort().join("\u0000")}`;
    case "kg":
      return `k\u0000${x.type}\u0000${spanKey(x.entity)}`;
  }
}

function unite<T extends EventArgument | KgAttribute>(a: T[], b: T[], label: "role" | "attribute"): T[] {
  const key = (p: T) => `${(p as unknown as Record<string, unknown>)[label]}\u0000${spanKey(p)}`;
  const seen = new Set(a.map(key));
  return [...a, ...b.filter((p) => !seen.has(key(p)))];
}
