#!/usr/bin/env bash
# The WebGPU engine's and trainer's figures on a GPU machine, in one call: install the carried
# Deno and Vulkan loader (bench/gpu/prepare.sh made them, in .gpu/), check that WebGPU sees the
# GPU and not a software adapter, run the WebGPU tests on it (the engine's and the trainer's),
# then bench/gpu/gpu_table.ts (it checks the engine against the CPU oracle first, then prints the
# table), then bench/gpu/train_speed.ts (TRAIN_SPEED_ARGS, e.g. "--shapes tiny"). Arguments go to
# gpu_table.ts. Logs are written to $OUT (or /tmp/gpu-bench) as well. The engine's part fitted
# in about 8 minutes on an H200; the trainer's part has not run on a GPU yet. To try it on a
# machine without a GPU: GPU_ALLOW_SOFTWARE=1 TRAIN_SPEED_ARGS="--shapes tiny" bench/gpu/run.sh
# --shapes tiny --prompt 32 --decode 4
set -uo pipefail
cd "$(dirname "$0")/../.."
carry=.gpu
out=${OUT:-/tmp/gpu-bench}
mkdir -p "$out" /tmp/gpu-deno /tmp/gpu-denodir
for f in "$carry"/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
xz -dc "$carry/deno.xz" >/tmp/gpu-deno/deno && chmod +x /tmp/gpu-deno/deno
tar -C /tmp/gpu-denodir -xf "$carry/denodir.tar"
export DENO_DIR=/tmp/gpu-denodir PATH=/tmp/gpu-deno:$PATH
deno --version | head -1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
deno eval 'const a = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
  const i = a?.info; console.log(`WebGPU adapter: ${i?.vendor} ${i?.architecture} ${i?.device} ${i?.description}`);
  if (!a || (/llvmpipe|swiftshader|lavapipe/i.test(`${i?.device} ${i?.description}`) && !Deno.env.get("GPU_ALLOW_SOFTWARE"))) {
    console.error("run.sh: WebGPU found no GPU (a software adapter or none): check VK_DRIVER_FILES"); Deno.exit(3);
  }' || exit 3
echo "== the WebGPU tests on this adapter"
deno test -A --node-modules-dir=none --cached-only --no-check tests/infer_webgpu_kernels_test.ts tests/infer_webgpu_test.ts 2>&1 |
  tee "$out/gpu_tests.log" | grep -E "FAILED|failed|passed|error" | tail -20
echo "== the WebGPU trainer's tests on this adapter (loss and gradients against the CPU oracle)"
deno test -A --node-modules-dir=none --cached-only --no-check --filter WebGPU tests/train_webgpu_test.ts 2>&1 |
  tee "$out/train_tests.log" | grep -E "FAILED|failed|passed|error" | tail -20
echo "== bench/gpu/gpu_table.ts"
deno run -A --node-modules-dir=none --cached-only bench/gpu/gpu_table.ts --check "$@" 2>&1 | tee "$out/gpu_table.log"
echo "== bench/gpu/train_speed.ts"
deno run -A --node-modules-dir=none --cached-only bench/gpu/train_speed.ts ${TRAIN_SPEED_ARGS:-} 2>&1 | tee "$out/train_speed.log"
