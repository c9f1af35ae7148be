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

/** Vendors by PCI id, as native WebGPU gives them (decimal): NVIDIA, AMD, Intel, Apple, Arm, Qualcomm, Mesa. */
const PCI_VENDORS: Readonly<Record<string, string>> = {
  "4318": "NVIDIA",
  "4098": "AMD",
  "32902": "Intel",
  "4203": "Apple",
  "5045": "Arm",
  "20803": "Qualcomm",
  "65541": "Mesa",
};

/**
 * An adapter's name as its info gives it: vendor, architecture, device and description, those
 * present, joined by spaces ("" where none is given). A vendor given as a PCI id is named, and
 * left out where the description already names it; a device given as a number is left out.
 *
 * @param info the adapter's (or a device's) info
 * @returns the name
 *
 * @example
 * ```ts
 * import { adapterName } from "./adapter.ts";
 * const browser = { vendor: "nvidia", architecture: "", device: "", description: "H200" } as GPUAdapterInfo;
 * const native = { vendor: "4318", architecture: "", device: "8997", description: "NVIDIA H200" } as GPUAdapterInfo;
 * const mesa = { vendor: "65541", architecture: "", device: "0", description: "llvmpipe (LLVM 15.0.6)" } as GPUAdapterInfo;
 * const names = [browser, native, mesa, undefined].map(adapterName);
 * if (names.join("|") !== "nvidia H200|NVIDIA H200|Mesa llvmpipe (LLVM 15.0.6)|") throw new Error(names.join("|"));
 * ```
 */
export function adapterName(info: GPUAdapterInfo | undefined): string {
  const description = info?.description ?? "";
  let vendor = info?.vendor ?? "";
  vendor = PCI_VENDORS[vendor] ?? vendor;
  if (vendor !== "" && description.toLowerCase().includes(vendor.toLowerCase())) vendor = "";
  const device = /^[0-9]*$/.test(info?.device ?? "") ? "" : info?.device;
  return [vendor, info?.architecture, device, description].filter((x) => x).join(" ");
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
