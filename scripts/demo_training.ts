/**
 * The training settings that teach the tiny demo model the learnable extraction task of
 * `learnable_ner.ts` (used by `deno task demo-infer` and by the test that checks it learns).
 *
 * @module
 */

import type { TrainSettings } from "../train/mod.ts";

/** Template, schedule and LoRA of the demo's training run. */
export const LEARNABLE_TRAINING: Readonly<
  Pick<
    TrainSettings,
    | "template"
    | "numTrainEpochs"
    | "learningRate"
    | "perDeviceTrainBatchSize"
    | "loraR"
    | "loraAlpha"
    | "loraDropout"
    | "loraTargetModules"
  >
> = Object.freeze({
  template: "vanilla",
  numTrainEpochs: 16,
  learningRate: 5e-3,
  perDeviceTrainBatchSize: 4,
  loraR: 16,
  loraAlpha: 32,
  loraDropout: 0,
  loraTargetModules: ["all"],
});
