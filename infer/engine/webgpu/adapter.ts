/**
 * Whether a WebGPU adapter is a real GPU: the one rule the engine choice (`auto`) and the WebGPU
 * engine's own settings share.
 *
 * @module
 */

/**
 * Whether an adapter computes on the CPU: the fallback adapter, or a software rasteriser such as
 * Mesa's llvmpipe or lavapipe, or SwiftShader (slower than the CPU engines).
 *
 * @param info the adapter's `info` (undefined when the platform gives none)
 * @returns true for a software adapter
 *
 * @example
 * ```ts
 * import { isSoftwareAdapter } from "./adapter.ts";
 * const llvmpipe = { description: "llvmpipe (LLVM 19.1.7, 256 bits)", isFallbackAdapter: false };
 * if (!isSoftwareAdapter(llvmpipe as GPUAdapterInfo)) throw new Error();
 * if (isSoftwareAdapter({ description: "NVIDIA H200", vendor: "nvidia" } as GPUAdapterInfo)) throw new Error();
 * ```
 */
export function isSoftwareAdapter(info: GPUAdapterInfo | undefined): boolean {
  if (info?.isFallbackAdapter === true) return true;
  return /llvmpipe|lavapipe|swiftshader|software/i.test(
    [info?.description, info?.device, info?.architecture].join(" "),
  );
}
