/**
 * Synchronous hex digests (SHA-256 for test-record ids, SHA-1 for resume keys) from the runtime's
 * `node:crypto`, loaded on the first digest instead of at start-up: importing it costs a Deno
 * process about 14 ms, which a command that never hashes (`convert --split train`) should not pay.
 *
 * @module
 */

/** The part of `node:crypto` used here. */
interface NodeCrypto {
  createHash(algorithm: string): { update(data: string): { digest(encoding: "hex" | "base64"): string } };
}

let nodeCrypto: NodeCrypto | undefined;

function crypto(): NodeCrypto {
  if (nodeCrypto === undefined) {
    // Deno (2.x) and Node (22+) load built-in modules synchronously through `process`.
    const process = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const loaded = process?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined;
    if (loaded === undefined) throw new Error("this runtime offers no node:crypto (needs Deno 2 or Node 22+)");
    nodeCrypto = loaded;
  }
  return nodeCrypto;
}

/**
 * The digest of a string's UTF-8 bytes.
 *
 * @param algorithm a hash `node:crypto` knows, e.g. `sha256`
 * @param text the string
 * @param encoding `hex` (default) or `base64`
 * @returns the digest in that encoding
 *
 * @example
 * ```ts
 * import { digestOf } from "./digest.ts";
 * // python3 -c 'import hashlib; print(hashlib.sha256(b"x").hexdigest())'
 * if (digestOf("sha256", "x") !== "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881") throw new Error();
 * ```
 */
export function digestOf(algorithm: string, text: string, encoding: "hex" | "base64" = "hex"): string {
  return crypto().createHash(algorithm).update(text).digest(encoding);
}
