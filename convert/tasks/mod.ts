/**
 * The task adapters: per task, how a record's schema is sampled and batched and how targets are
 * built (`train`), and which schema items a test instruction asks (`testItems`).
 *
 * @example
 * ```ts
 * import { TASK_ADAPTERS } from "./mod.ts";
 * if (Object.keys(TASK_ADAPTERS).length !== 7) throw new Error();
 * ```
 *
 * @module
 */

import type { Task } from "../instructions.ts";
import { EE } from "./ee.ts";
import { EEA } from "./eea.ts";
import { EET, NER, RE, SPO } from "./flat.ts";
import { KG } from "./kg.ts";
import type { TaskAdapter } from "./task.ts";

export { EE, EEA, EET, KG, NER, RE, SPO };
export { sampleSchemas } from "./flat.ts";
export { type ClusterSample, clusterSample } from "./cluster.ts";
export { argumentObject, type LabelledEvent, labelledEvents } from "./event_answers.ts";
export { concatList, escapedJson, jsonList, jsonObject, memoized, type TaskAdapter, type TrainBatch } from "./task.ts";

/** The adapter of each task. */
export const TASK_ADAPTERS: Readonly<Record<Task, TaskAdapter>> = { NER, RE, SPO, EET, EE, EEA, KG };
