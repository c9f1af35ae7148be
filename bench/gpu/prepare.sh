#!/usr/bin/env bash
# Fill .gpu/ (ignored by git) with what bench/gpu/run.sh needs on a GPU machine that has no Deno
# and no package registry: the Deno binary this project pins (xz-compressed), Debian's Vulkan
# loader (libvulkan1) and a DENO_DIR holding the npm packages the engine imports. Run it here,
# in the repository's root, on a machine with the npm registry and Debian's apt; then carry
# .gpu/ to the GPU machine and run bench/gpu/run.sh there (DEVELOPERS.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
mkdir -p .gpu
deno=$(npx -y deno@2.9.6 eval 'console.log(Deno.execPath())')
echo "deno: $deno"
[ .gpu/deno.xz -nt "$deno" ] || xz -T0 -6 -c "$deno" >.gpu/deno.xz
rm -f .gpu/*.deb
(cd .gpu && apt-get download libvulkan1)
dd=$(mktemp -d)
# The npm packages that the WebGPU tests and the bench load, cached for --cached-only by running
# them here (on whatever adapter this machine has; `deno cache` would also fetch what the rest of
# the CLI imports lazily, node-llama-cpp's 100 MB among it).
DENO_DIR=$dd "$deno" test -A --node-modules-dir=none --no-check tests/infer_webgpu_kernels_test.ts tests/infer_webgpu_test.ts >/dev/null
DENO_DIR=$dd "$deno" run -A --node-modules-dir=none bench/gpu/gpu_table.ts --shapes tiny --prompt 16 --decode 2 --reps 1 >/dev/null
DENO_DIR=$dd "$deno" test -A --node-modules-dir=none --no-check --filter WebGPU tests/train_webgpu_test.ts >/dev/null
DENO_DIR=$dd "$deno" run -A --node-modules-dir=none bench/gpu/train_speed.ts --shapes tiny --tokens 16 --reps 1 >/dev/null
tar -C "$dd" -cf .gpu/denodir.tar .
rm -rf "$dd"
du -sh .gpu/*
