"""The direct baseline of the GPU benchmark (bench/gpu_resnet.ts): ResNet-18 with random weights
(resnet18_net.py, the same seeded model the served replica runs) called in a loop on batches of
--batch random 3×64×64 float32 images, each call as the replica makes it: the batch from host
memory to the device, the forward pass (fp16 on CUDA, fp32 on the CPU), the class indices back.
Prints one JSON line: device, dtype, batch, images per second, per-batch latency.

    /usr/bin/python3 bench/gpu_resnet/direct.py [--batch 128] [--seconds 10] [--warmup-seconds 2]
        [--device auto|cpu|cuda] [--threads N]
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resnet18_net import ELEMENTS, classify, prepare  # noqa: E402

POOL_BATCHES = 4


def parse_options():
    parser = argparse.ArgumentParser(prog='direct.py', allow_abbrev=False)
    parser.add_argument('--batch', type=int, default=128)
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--warmup-seconds', type=float, default=2.0)
    parser.add_argument('--device', default='auto', choices=('auto', 'cpu', 'cuda'))
    parser.add_argument('--threads', type=int, default=None)
    options = parser.parse_args()
    if options.batch < 1 or (options.threads is not None and options.threads < 1):
        parser.error('--batch and --threads must be positive integers')
    if options.seconds <= 0 or options.warmup_seconds < 0:
        parser.error('--seconds must be positive and --warmup-seconds not negative')
    return options


def run(call, batches, seconds):
    """Calls until `seconds` have passed, cycling through `batches`; each call's latency in ns."""
    latencies = []
    end = time.perf_counter_ns() + int(seconds * 1e9)
    i = 0
    while True:
        t0 = time.perf_counter_ns()
        call(batches[i % len(batches)])
        t1 = time.perf_counter_ns()
        latencies.append(t1 - t0)
        i += 1
        if t1 >= end:
            return latencies


def main():
    options = parse_options()
    module, device, dtype, source = prepare(torch, options.device, options.threads)
    rng = np.random.default_rng(1)
    batches = [rng.random((options.batch, ELEMENTS), dtype=np.float32) for _ in range(POOL_BATCHES)]

    def call(batch):
        return classify(torch, module, device, dtype, batch)

    run(call, batches, options.warmup_seconds)
    latencies = np.array(run(call, batches, options.seconds), dtype=np.float64) / 1e6
    total_s = latencies.sum() / 1e3
    print(json.dumps({
        'device': str(device),
        'gpu': torch.cuda.get_device_name(device) if device.type == 'cuda' else None,
        'dtype': str(dtype).replace('torch.', ''),
        'model': 'resnet18 (%s, random weights)' % source,
        'batch': options.batch,
        'calls': int(len(latencies)),
        'images_per_second': float(len(latencies) * options.batch / total_s),
        'batch_latency_ms': {'p50': float(np.percentile(latencies, 50)), 'p99': float(np.percentile(latencies, 99))},
        'torch': torch.__version__,
    }))
    return 0


if __name__ == '__main__':
    sys.exit(main())
