/**
 * The language-model loss: cross-entropy of each scored position's logits against the next
 * token, and its gradient with respect to the logits, `(softmax(z) − onehot(label)) · weight`.
 *
 * @module
 */

/**
 * `−log softmax(z)[label]` for one row of logits, and its gradient scaled by `weight` (written
 * over the logits when `grad` is true).
 *
 * @param logits one row of logits (overwritten with the gradient when `grad` is true)
 * @param label the target token
 * @param weight the factor of the gradient (e.g. 1 / scored tokens of the batch)
 * @param grad whether to write the gradient
 * @returns the loss of the row
 *
 * @example
 * ```ts
 * import { crossEntropy } from "./cross_entropy.ts";
 * const z = new Float64Array([0, Math.log(3)]); // probabilities ¼, ¾
 * const loss = crossEntropy(z, 1, 1, true);
 * if (Math.abs(loss + Math.log(0.75)) > 1e-15 || Math.abs(z[0] - 0.25) > 1e-15 || Math.abs(z[1] + 0.25) > 1e-15) {
 *   throw new Error(String(z));
 * }
 * ```
 */
export function crossEntropy(logits: Float64Array, label: number, weight: number, grad: boolean): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const logZ = max + Math.log(sum);
  const loss = logZ - logits[label];
  if (grad) {
    for (let i = 0; i < logits.length; i++) logits[i] = Math.exp(logits[i] - logZ) * weight;
    logits[label] -= weight;
  }
  return loss;
}
