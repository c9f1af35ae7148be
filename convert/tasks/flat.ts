/**
 * The "flat" tasks — NER, RE, SPO and EET — whose schema is a list of keys (entity types,
 * relations, `subject_predicate_object` strings, event types) and whose target maps each key
 * to a list of answers.
 *
 * @module
 */

import { pyStr, pyStrEscaped } from "../../io/py_json.ts";
import type { SamplingContext } from "../context.ts";
import { sortOrShuffle } from "../order.ts";
import { PySet } from "../pycompat/mod.ts";
import type { Annotation, Entity, IeEvent, IeRecord, Relation } from "../records.ts";
import { splitSchemas } from "../split_schemas.ts";
import { clusterSample } from "./cluster.ts";
import { concatList, escapedJson, jsonList, jsonObject, type TaskAdapter, type TrainBatch } from "./task.ts";

/** How one flat task reads keys and answers. */
interface FlatRules {
  /** All schema keys. */
  universe(ctx: SamplingContext): PySet;
  /** The schema key an annotation belongs to. */
  key(a: Annotation): string;
  /**
   * The annotation's answer, as JSON text escaped as the inside of a JSON string (see
   * `TrainBatch`); `plain` is the record's (see `IeRecord.plain`).
   */
  answer(a: Annotation, plain: boolean | undefined): string;
  /** The schema item for a key, as JSON text. */
  schemaItem(key: string): string;
  /** The target object key for a schema key, escaped like `answer`. */
  targetKey(key: string): string;
  /** Whether two schema keys can share a target key. */
  sharedTargets?: boolean;
}

/** Split `subject_predicate_object`: first and last pieces are the types, the middle is the predicate. */
function splitSpo(key: string): { subject_type: string; predicate: string; object_type: string } {
  const parts = key.split("_");
  return { subject_type: parts[0], predicate: parts.slice(1, -1).join("_"), object_type: parts[parts.length - 1] };
}

const NER_RULES: FlatRules = {
  universe: (ctx) => ctx.types,
  key: (a) => (a as Entity).entity_type,
  answer: (a, plain) => pyStrEscaped((a as Entity).entity, plain),
  schemaItem: pyStr,
  targetKey: pyStrEscaped,
};

const EET_RULES: FlatRules = {
  universe: (ctx) => ctx.types,
  key: (a) => (a as IeEvent).event_type,
  answer: (a, plain) => pyStrEscaped((a as IeEvent).event_trigger, plain),
  schemaItem: pyStr,
  targetKey: pyStrEscaped,
};

const RE_RULES: FlatRules = {
  universe: (ctx) => ctx.roles,
  key: (a) => (a as Relation).relation,
  answer: (a, plain) =>
    `{\\"head\\": ${pyStrEscaped((a as Relation).head, plain)}, \\"tail\\": ${
      pyStrEscaped((a as Relation).tail, plain)
    }}`,
  schemaItem: pyStr,
  targetKey: pyStrEscaped,
};

const SPO_RULES: FlatRules = {
  universe: (ctx) => ctx.types,
  key: (a) => {
    const r = a as Relation;
    return `${r.head_type}_${r.relation}_${r.tail_type}`;
  },
  answer: (a, plain) =>
    `{\\"subject\\": ${pyStrEscaped((a as Relation).head, plain)}, \\"object\\": ${
      pyStrEscaped((a as Relation).tail, plain)
    }}`,
  schemaItem: (key) => {
    const s = splitSpo(key);
    return `{"subject_type": ${pyStr(s.subject_type)}, "predicate": ${pyStr(s.predicate)}, "object_type": ${
      pyStr(s.object_type)
    }}`;
  },
  // Two schema items with the same predicate share one target key (a Python dict keeps the last value).
  targetKey: (key) => pyStrEscaped(splitSpo(key).predicate),
  sharedTargets: true,
};

/**
 * IEPile's standard (not cluster) schema sampling for the flat tasks: the positives plus a
 * Binomial(`negSchema`) share of the negatives (at least one when there are no positives),
 * sorted by code point or, with `randomSort`, shuffled.
 *
 * @param ctx the run context (options, generators)
 * @param universe all schema keys
 * @param positives the record's keys
 * @returns the keys to ask, or `null` when the record yields no instruction (`negSchema` 0, no positives)
 *
 * @example
 * ```ts
 * import { createContext } from "../context.ts";
 * import { PySet } from "../pycompat/mod.ts";
 * import { sampleSchemas } from "./flat.ts";
 * const ctx = createContext(
 *   { task: "NER", language: "en", split: "train", splitNum: 4, negSchema: 1, randomSort: false, clusterMode: false, hashSeed: 0, source: "x" },
 *   { types: ["person", "location", "event"], roles: [], typeRoles: [] },
 * );
 * const keys = sampleSchemas(ctx, ctx.types, PySet.from(ctx.hasher, ["person"]));
 * if (keys?.join() !== "event,location,person") throw new Error(String(keys));
 * ```
 */
export function sampleSchemas(ctx: SamplingContext, universe: PySet, positives: PySet): string[] | null {
  const p = ctx.options.negSchema;
  if (p === 0) return positives.size === 0 ? null : sortOrShuffle(ctx, positives.toArray());
  let negatives = universe.differenceArray(positives);
  let k = ctx.numpy.binomialSum(p, ctx.labelLength);
  if (positives.size === 0) k = Math.max(k, 1);
  negatives = ctx.random.sampleFrom(negatives, Math.min(k, negatives.length));
  return sortOrShuffle(ctx, positives.appendTo(negatives));
}

/** A schema key's texts in an instruction line. */
interface KeyTexts {
  /** Its schema item (JSON text). */
  item: string;
  /** The same, escaped as the inside of a JSON string (see `TrainBatch`). */
  escapedItem: string;
  /** Its target key, escaped so. */
  target: string;
}

/** A flat task's adapter from its rules. */
function flatAdapter(rules: FlatRules): TaskAdapter {
  /** A key's schema item and target key, looked up once per key (keys repeat on every record). */
  let byKey = new Map<string, KeyTexts>();
  const schemaKey = (key: string): KeyTexts => {
    let found = byKey.get(key);
    if (found === undefined) {
      if (byKey.size >= 100_000) byKey = new Map();
      const item = rules.schemaItem(key);
      byKey.set(key, found = { item, escapedItem: escapedJson(item), target: rules.targetKey(key) });
    }
    return found;
  };
  return {
    testItemsFixed: true,
    trainItemsRepeat: false,
    testItems: (ctx) => rules.universe(ctx).toArray().map((k) => schemaKey(k).item),
    train(ctx: SamplingContext, record: IeRecord): TrainBatch[] {
      const annotations = record.annotations ?? [];
      const universe = rules.universe(ctx);
      const positives = PySet.from(ctx.hasher, annotations.map(rules.key));
      let keys: string[] | null;
      if (ctx.options.clusterMode) {
        const s = clusterSample(ctx, universe, positives, universe.size === 1);
        keys = s.branch === 3 ? sortOrShuffle(ctx, s.items) : s.items;
      } else {
        keys = sampleSchemas(ctx, universe, positives);
      }
      if (keys === null) return [];
      const answers = new Map<string, string[]>();
      for (const a of annotations) {
        const k = rules.key(a);
        const list = answers.get(k);
        if (list === undefined) answers.set(k, [rules.answer(a, record.plain)]);
        else list.push(rules.answer(a, record.plain));
      }
      return splitSchemas(keys, ctx.options.splitNum).map((batch) => {
        const schema = batch.map((k) => schemaKey(k).escapedItem);
        // SPO's keys of one predicate share a target key (a Python dict keeps its first place and
        // last value), and cluster sampling is not known to give distinct keys: both go through
        // `jsonObject`. Other batches hold distinct keys with distinct targets.
        if (rules.sharedTargets || ctx.options.clusterMode) {
          return {
            schema,
            output: jsonObject(batch.map((k) => [schemaKey(k).target, jsonList(answers.get(k) ?? [])])),
          };
        }
        if (batch.length === 0) return { schema, output: "{}" };
        let output = "{";
        for (let i = 0; i < batch.length; i++) {
          const list = answers.get(batch[i]);
          output += (i === 0 ? "" : ", ") + schemaKey(batch[i]).target + ": " +
            (list === undefined ? "[]" : concatList(list));
        }
        return { schema, output: output + "}" };
      });
    },
  };
}

/** NER: entity types → entity strings. */
export const NER: TaskAdapter = flatAdapter(NER_RULES);
/** EET: event types → trigger strings. */
export const EET: TaskAdapter = flatAdapter(EET_RULES);
/** RE: relations → `{"head", "tail"}` pairs. */
export const RE: TaskAdapter = flatAdapter(RE_RULES);
/** SPO: `subject_predicate_object` schemas → `{"subject", "object"}` pairs keyed by predicate. */
export const SPO: TaskAdapter = flatAdapter(SPO_RULES);
