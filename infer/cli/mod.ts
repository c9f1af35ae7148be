/**
 * The `infer` part's commands of the `iepile` CLI: option parsing, progress and output only; the
 * work is in the folders beside this one. `cli.ts` at the root dispatches to these modules
 * directly (each loaded on demand), so this barrel is for reading, not for the library.
 *
 * Map:
 * - `infer_command.ts`: `iepile infer`, a converted test file in, a prediction file out, on a
 *   local engine, llama.cpp or an OpenAI-compatible server (resumable).
 * - `serve_command.ts`: `iepile serve`, an OpenAI-compatible server on a local model until
 *   SIGINT or SIGTERM.
 * - `model_commands.ts`: `iepile inspect` (what a model folder or GGUF file holds, memory per
 *   format) and `iepile export-gguf`.
 * - `perplexity_command.ts`: `iepile perplexity`, how well a model predicts texts or answers.
 * - `_quantize_option.ts`: `--quantize` / `--bits`, `--kv-cache`, `--activations` and `--threads`, shared by
 *   the commands.
 *
 * Data enters as command-line arguments and files named there, and leaves as files written
 * atomically, lines on stdout and messages on stderr (through the `io` each command is given).
 *
 * @example
 * ```ts
 * import { INFER_HELP } from "./mod.ts";
 * if (!INFER_HELP.startsWith("iepile infer")) throw new Error();
 * ```
 *
 * @module
 */

export { formatRunProgress, INFER_HELP, runInfer } from "./infer_command.ts";
export { runServe, SERVE_HELP } from "./serve_command.ts";
export { EXPORT_GGUF_HELP, INSPECT_HELP, runExportGguf, runInspect } from "./model_commands.ts";
export { PERPLEXITY_HELP, runPerplexity } from "./perplexity_command.ts";
