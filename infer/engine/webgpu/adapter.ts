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

/** The limits {@linkcode describeAdapter} prints: those the engine's kernels and buffers depend on. */
const LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupsPerDimension",
] as const;

/**
 * An adapter's name as its info gives it: vendor, architecture, device and description, those
 * present, joined by spaces ("" where none is given).
 *
 * @param info the adapter's (or a device's) info
 * @returns the name
 *
 * @example
 * ```ts
 * import { adapterName } from "./adapter.ts";
 * const info = { vendor: "nvidia", architecture: "", device: "", description: "H200" } as GPUAdapterInfo;
 * if (adapterName(info) !== "nvidia H200" || adapterName(undefined) !== "") throw new Error();
 * ```
 */
export function adapterName(info: GPUAdapterInfo | undefined): string {
  return [info?.vendor, info?.architecture, info?.device, info?.description].filter((x) => x).join(" ");
}

/**
 * What an adapter is, offers and allows, in three lines: its name (and whether it is a GPU or
 * software), its features, and the limits the engine depends on (`--verbose`).
 *
 * @param adapter the adapter
 * @returns the lines
 *
 * @example
 * ```ts
 * import { describeAdapter } from "./adapter.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const [name, features, limits] = describeAdapter(adapter);
 *   if (!name.startsWith("WebGPU adapter: ") || !features.startsWith("features: ")) throw new Error();
 *   if (!limits.includes("maxStorageBufferBindingSize ")) throw new Error(limits);
 * }
 * ```
 */
export function describeAdapter(adapter: GPUAdapter): string[] {
  const i = adapter.info;
  const name = adapterName(i);
  return [
    `WebGPU adapter: ${name || "(no name given)"} (${isSoftwareAdapter(i) ? "software, on the CPU" : "GPU"})`,
    `features: ${[...adapter.features].sort().join(", ") || "none"}`,
    `limits: ${LIMITS.map((k) => `${k} ${adapter.limits[k]}`).join(", ")}`,
  ];
}
