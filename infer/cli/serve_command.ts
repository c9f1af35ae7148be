/**
 * The `serve` command: load a model (with its LoRA merged) and answer OpenAI-compatible HTTP
 * requests until SIGINT or SIGTERM.
 *
 * @module
 */

import { onStopSignals, signalExitCode } from "../../io/signals.ts";
import { basename, resolve } from "node:path";
import { numberOption, optionSpec, parseCommandArgs, requiredOption } from "../../io/args.ts";
import { UsageError } from "../../io/errors.ts";
import type { CliIo } from "../../io/cli_io.ts";
import { defaultEngine } from "../engine/create_engine.ts";
import { LoadProgressLine } from "../model/load_progress.ts";
import { startGenerator } from "../predict/start_generator.ts";
import { describeBatch } from "../engine/batch_room.ts";
import { WorkerGenerator } from "../predict/worker_generator.ts";
import { activationsOption, int8DotOf, kvCacheOption, quantizeOption, threadsOption } from "./_quantize_option.ts";
import { serveOpenAi } from "../serve/openai_server.ts";

/** Help of `serve`. */
export const SERVE_HELP: string = `iepile serve — an OpenAI-compatible HTTP server on a local model

Usage: iepile serve --model DIR|FILE.gguf [--lora DIR] [--quantize P] --template NAME [--engine cpu|webgpu]
                    [--port N] [--host H] [--api-key KEY] [--model-name NAME]
                    [--max-queue N] [--context-size N] [--batch N]

Endpoints (under http://HOST:PORT/v1):
  GET  /models                the one model served
  POST /completions           prompt text (tokenized, BOS added when the tokenizer has one) or token ids
  POST /chat/completions      system messages → the system text, the last user message → the query,
                              rendered with --template (earlier turns are not rendered)
Both take max_tokens, temperature (default 1; 0 = greedy), top_p, top_k, seed, stop, stream
(server-sent events; stream_options.include_usage), and response_format {type: "json_schema",
json_schema: {schema}} with the JSON Schema of an IE answer (as \`iepile infer\` sends it): the
answer then always parses, with exactly the schema's keys. GET /health needs no key.

  --model DIR|FILE    Hugging Face model folder (config.json, safetensors, tokenizer.json), or a
                      GGUF file (f32, f16 or bf16 weights)
  --lora DIR          PEFT LoRA adapter merged into the weights at load
  --quantize P        quantize the weights as they load, after the LoRA merge: q8_0, q6_k,
                      q4_k_m (4.8 bits per weight), q4_0 (llama.cpp's presets; --bits 4 / 8 too)
  --kv-cache F        the KV cache's format: f32 (default) or f16 (half the memory)
  --template NAME     IEPile template (e.g. llama2_zh, qwen, baichuan2) or chat_template for the
                      tokenizer's own
  --engine E          webgpu or cpu (default: webgpu on a real GPU, else cpu)
  --threads N         cpu: threads computing the weights' products (default: the cores available)
  --activations A     int8 or f32 (default: int8 on cpu, f32 on webgpu): with int8, quantized
                      weights meet activations rounded to 8 bits, multiplied in integers, as
                      llama.cpp does (cpu: every block format, answers 2-3× faster; webgpu:
                      q8_0 and q4_0)
  --port N            port (default 8000; 0 = any free port)
  --host H            interface (default 127.0.0.1, this machine only; 0.0.0.0 = every interface)
  --api-key KEY       require Authorization: Bearer KEY on every /v1 request
  --model-name NAME   the model's name in requests (default: the model folder's name)
  --max-queue N       requests that may wait behind the running ones (default 64); more get
                      503 with Retry-After
  --batch N           generations at once, decoded together, each with its own KV cache and
                      constraint state; a finished one is replaced by the next waiting (default:
                      as many as the engine's memory holds full-context caches for, at most 16
                      on a CPU and 32 on a GPU; the choice is logged)
  --context-size N    most tokens of prompt and answer together (default: the model's, at most
                      4096 on cpu and 2048 on webgpu)
  -h, --help          this help

Requests run on the engine up to the batch at once, in arrival order. The
model computes off the thread that serves HTTP (on cpu, in a worker thread), so while requests
run, their tokens stream as they are made, /health answers, a full queue answers 503, and a client that disconnects frees the
engine within one token. The first line on standard output is the API root URL. Stop with Ctrl-C
(SIGINT) or SIGTERM: running requests are cancelled.
`;

/**
 * Run `serve` until SIGINT, SIGTERM or `signal`.
 *
 * @param args arguments after `serve`
 * @param io where to write (the URL goes to `out`, progress and notes to `err`)
 * @param signal stops the server (tests; the CLI stops on signals)
 * @returns the exit code
 * @throws {UsageError} for bad options
 * @throws {InputError} for bad model or tokenizer files
 *
 * @example
 * ```ts
 * import { runServe } from "./serve_command.ts";
 * let out = "";
 * const code = await runServe(["--help"], { out: (t) => out += t, err: () => {} });
 * if (code !== 0 || !out.includes("--max-queue")) throw new Error();
 * ```
 */
export async function runServe(args: string[], io: CliIo, signal?: AbortSignal): Promise<number> {
  const spec = optionSpec(
    [
      ["model", "model"],
      ["lora", "lora"],
      ["quantize", "quantize"],
      ["kv-cache", "kv_cache"],
      ["threads", "threads"],
      ["activations", "activations"],
      ["bits", "bits"],
      ["template", "template"],
      ["engine", "engine"],
      ["port", "port"],
      ["host", "host"],
      ["api-key", "api_key"],
      ["model-name", "model_name"],
      ["max-queue", "max_queue"],
      ["context-size", "context_size"],
      ["batch", "batch"],
    ],
    ["help"],
  );
  const { values: v, positionals } = parseCommandArgs(args, spec, "serve");
  if (v.help) {
    io.out(SERVE_HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`serve: unexpected argument "${positionals[0]}" (see 'iepile serve --help')`);
  }
  const modelDir = requiredOption(v, "model", "serve");
  const template = requiredOption(v, "template", "serve");
  const engineName = v.engine as string | undefined;
  if (engineName !== undefined && engineName !== "cpu" && engineName !== "webgpu") {
    throw new UsageError(`serve: --engine must be cpu or webgpu, got "${engineName}"`);
  }
  const port = numberOption(v.port, "port", "integer", 0) ?? 8000;
  if (port > 65535) throw new UsageError(`--port expects a port number up to 65535, got "${port}"`);
  const maxQueue = numberOption(v["max-queue"], "max-queue", "integer", 0) ?? 64;
  const contextSize = numberOption(v["context-size"], "context-size", "integer", 2);
  const batch = numberOption(v.batch, "batch", "integer", 1);
  const host = (v.host as string | undefined) ?? "127.0.0.1";
  const apiKey = v["api-key"] as string | undefined;
  if (apiKey === "") throw new UsageError("serve: --api-key must not be empty");
  const modelName = (v["model-name"] as string | undefined) || basename(resolve(modelDir));

  const lora = v.lora as string | undefined;
  const quantize = quantizeOption(v, "serve");
  const kvCache = kvCacheOption(v["kv-cache"], "serve");
  const threads = threadsOption(v.threads, "serve");
  const activations = activationsOption(v.activations, "serve");
  const engine = engineName ?? await defaultEngine();
  const progress = new LoadProgressLine();
  // The CPU engine computes in a worker: on this thread each token would hold up every request.
  const generator = await startGenerator({
    model: modelDir,
    lora,
    quantize,
    kvCache,
    engine,
    threads,
    int8Dot: int8DotOf(activations, engine),
    contextSize,
    // Unset: as many requests as the engine's memory holds full-context caches for.
    batch: batch ?? "auto",
    worker: true,
    onProgress: (p) => progress.update(p),
  }).finally(() => progress.finish());
  const { architecture } = generator instanceof WorkerGenerator ? generator.spec : generator.engine.spec;
  const engineUsed = generator instanceof WorkerGenerator ? generator.engineName : generator.engine.name;
  let server;
  try {
    server = serveOpenAi({
      generator,
      template,
      modelName,
      hostname: host,
      port,
      apiKey,
      maxQueue,
      contextSize,
    });
  } catch (e) {
    await generator.close();
    if (e instanceof Deno.errors.AddrInUse) throw new UsageError(`serve: port ${port} on ${host} is in use`);
    if (e instanceof Deno.errors.AddrNotAvailable) throw new UsageError(`serve: cannot listen on ${host}`);
    throw e;
  }
  io.out(`${server.url}\n`);
  if (generator.batchChoice) io.err(`iepile serve: ${describeBatch(generator.batchChoice, "request")}\n`);
  io.err(
    `iepile serve: model "${modelName}" (${architecture}${lora ? ` + LoRA` : ""}${
      quantize ? `, ${quantize}` : ""
    }, ${engineUsed}), ` +
      `template ${template}, ${apiKey ? "API key required" : "no API key"}; Ctrl-C stops\n`,
  );
  if (!isLoopback(host) && !apiKey) {
    io.err(`iepile serve: warning: listening on ${host} without --api-key: anyone who can reach it can use it\n`);
  }

  const stopped = new Promise<string>((resolve) => {
    let dispose = () => {};
    const stop = (why: string) => {
      dispose();
      signal?.removeEventListener("abort", onAbort);
      resolve(why);
    };
    const onAbort = () => stop("stopped");
    dispose = onStopSignals((s) => stop(s));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    server.finished.then(() => stop("closed"));
  });
  const why = await stopped;
  await server.shutdown();
  await generator.close();
  io.err(`iepile serve: ${why === "closed" ? "closed" : `stopped (${why})`}\n`);
  // Stopped by a signal: 128 + its number, as every command exits.
  return why.startsWith("SIG") ? signalExitCode(why) : 0;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}
