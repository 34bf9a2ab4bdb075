#!/usr/bin/env bash
# Packs what bench/gpu_resnet/run_on_gpu.sh needs on a GPU machine that has Python with PyTorch,
# numpy and msgpack but no Node, npm or wrk (nothing can be fetched there), into
# bench/results/gpu_carry/ (git ignores bench/results/): this Node binary, the production
# node_modules for this Node (uWebSockets.js's binary for this platform only; onnxruntime-node left
# out: only the Node runner's ONNX models load it), the built dist/, and wrk with its LuaJIT
# library. Everything is xz-compressed (a device run carries at most 64 MiB with the tree).
#
#   npm run build && bash bench/gpu_resnet/pack_for_gpu.sh
#   then a device run with carry ["bench/results/gpu_carry"]: bash bench/gpu_resnet/run_on_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=bench/results/gpu_carry
rm -rf "$out"
mkdir -p "$out"
test -f dist/bench/gpu_resnet.js || { echo "pack_for_gpu: dist/bench/gpu_resnet.js is missing: npm run build first" >&2; exit 1; }
xz -T0 -6 -c "$(command -v node)" > "$out/node.xz"
uws="node_modules/uWebSockets.js/dist/bin/uws_$(node -p 'process.platform + "_" + process.arch + "_" + process.versions.modules').node"
test -f "$uws" || { echo "pack_for_gpu: $uws is missing" >&2; exit 1; }
# Top-level production packages (a nested one travels inside its parent's folder).
npm ls --omit=dev --parseable --all 2>/dev/null | tail -n +2 | sed "s|^$PWD/||" \
  | grep -E '^node_modules/(@[^/]+/)?[^/]+$' | grep -v -E '^node_modules/onnxruntime-node$' | sort -u > "$out/packages.txt"
# --exclude also drops a path named on the command line, so this platform's binary is appended after.
tar --exclude='node_modules/uWebSockets.js/dist/bin/*' -cf "$out/node_modules.tar" -T "$out/packages.txt"
tar -rf "$out/node_modules.tar" "$uws"
xz -T0 -6 "$out/node_modules.tar"
tar --exclude='dist/test' -cf - dist | xz -T0 -6 > "$out/dist.tar.xz"
mkdir -p "$out/lib"
cp "$(command -v wrk)" "$out/wrk"
cp "$(ldd "$(command -v wrk)" | awk '/libluajit/ { print $3 }')" "$out/lib/"
du -sh "$out"
ls -la "$out" "$out/lib"
