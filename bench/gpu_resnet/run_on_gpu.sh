#!/usr/bin/env bash
# The prepared GPU run of bench/gpu_resnet.ts, for a machine with Python + PyTorch (CUDA), numpy and
# msgpack but no Node or wrk: unpacks bench/results/gpu_carry/ (made here by pack_for_gpu.sh and
# carried along), checks the GPU, then runs the served-vs-direct benchmark. Extra arguments go to
# gpu_resnet.js (default: c=128, batches of at most 128, 20 s measured, 20 s direct). Output is
# also written to $OUT/gpu_resnet.txt when $OUT is set (a device run brings it back).
#
#   bash bench/gpu_resnet/run_on_gpu.sh [--concurrency 128] [--duration-s 20] ...
set -euo pipefail
cd "$(dirname "$0")/../.."
carry=bench/results/gpu_carry
tools=/tmp/clipper_gpu_tools
test -f "$carry/node.xz" || { echo "run_on_gpu: $carry is missing: run pack_for_gpu.sh here and carry it" >&2; exit 1; }
mkdir -p "$tools/bin"
python3 - "$carry" "$tools" <<'PY'
import lzma, shutil, sys, tarfile
carry, tools = sys.argv[1], sys.argv[2]
with lzma.open(carry + '/node.xz') as src, open(tools + '/bin/node', 'wb') as dst:
    shutil.copyfileobj(src, dst)
for name in ('node_modules', 'dist'):
    with tarfile.open('%s/%s.tar.xz' % (carry, name)) as t:
        t.extractall('.')
PY
chmod +x "$tools/bin/node"
cp "$carry/wrk" "$tools/bin/wrk"
export PATH="$tools/bin:$PATH" LD_LIBRARY_PATH="$PWD/$carry/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CLIPPER_PYTHON="${CLIPPER_PYTHON:-$(command -v python3)}"  # the replicas' and direct.py's Python
nvidia-smi -L || true
"$CLIPPER_PYTHON" -c 'import torch, numpy, msgpack; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
node --version
args=("$@")
if [ ${#args[@]} -eq 0 ]; then args=(--concurrency 128 --batch 128 --duration-s 20 --warmup-s 5 --direct-s 20 --device cuda); fi
node dist/bench/gpu_resnet.js "${args[@]}" 2>&1 | tee "${OUT:-/tmp}/gpu_resnet.txt"
