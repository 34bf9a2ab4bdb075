"""The Python baselines of the framework benchmark (bench/frameworks.ts): a model file called directly
in its own framework, one input per call by default (--batch 1), as an application would without a
serving system. Prints one JSON line: calls, inputs per second and per-call latency.

    /usr/bin/python3 bench/models/framework_direct.py --framework sklearn|pytorch|xgboost --model FILE
        [--function predict] [--batch 1] [--seconds 3] [--warmup-seconds 0.5] [--threads 1]
        [--width N] [--seed 1]

Each call is what the served replica does with a batch (containers/python/clipper_container), minus
the protocol: sklearn `model.<function>(x)`; pytorch a TorchScript file (torch.jit.load) called on
one float32 tensor under torch.inference_mode() with --threads intra-op threads; xgboost a Booster
file, `Booster.inplace_predict(x)` with nthread = --threads. The inputs are seeded random doubles
in [-1, 1] (the load generator's random:WIDTH), as many as the model's number of features (the
estimator's n_features_in_, the Booster's num_features, the first weight matrix's columns) unless
--width says otherwise.
"""

import argparse
import json
import pickle
import time

import numpy as np

POOL_ROWS = 1024


def parse_options():
    parser = argparse.ArgumentParser(prog='framework_direct.py', allow_abbrev=False)
    parser.add_argument('--framework', required=True, choices=('sklearn', 'pytorch', 'xgboost'))
    parser.add_argument('--model', required=True)
    parser.add_argument('--function', default='predict', help='sklearn: the estimator method to call')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--seconds', type=float, default=3.0)
    parser.add_argument('--warmup-seconds', type=float, default=0.5)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--width', type=int, default=None)
    parser.add_argument('--seed', type=int, default=1)
    options = parser.parse_args()
    for name in ('batch', 'threads'):
        if getattr(options, name) < 1:
            parser.error('--%s must be a positive integer' % name)
    if options.seconds <= 0 or options.warmup_seconds < 0:
        parser.error('--seconds must be positive and --warmup-seconds not negative')
    return options


def load_sklearn(options):
    with open(options.model, 'rb') as f:
        model = pickle.load(f)
    method = getattr(model, options.function)
    return method, int(model.n_features_in_)


def load_pytorch(options):
    import torch
    torch.set_num_threads(options.threads)
    module = torch.jit.load(options.model, map_location='cpu').eval()
    width = next(p.shape[1] for p in module.parameters() if p.dim() == 2)

    def call(x):
        with torch.inference_mode():
            return module(torch.from_numpy(x).to(torch.float32)).numpy()
    return call, int(width)


def load_xgboost(options):
    import xgboost as xgb
    booster = xgb.Booster(model_file=options.model)
    booster.set_param({'nthread': options.threads})
    return booster.inplace_predict, booster.num_features()


LOADERS = {'sklearn': load_sklearn, 'pytorch': load_pytorch, 'xgboost': load_xgboost}


def run(call, pool, batch, seconds):
    """Calls until `seconds` have passed; the latency of each call in nanoseconds."""
    latencies = []
    rows = len(pool) - batch + 1
    start = time.perf_counter_ns()
    end = start + int(seconds * 1e9)
    i = 0
    now = start
    while now < end:
        x = pool[i:i + batch]
        i = (i + batch) % rows
        before = now
        call(x)
        now = time.perf_counter_ns()
        latencies.append(now - before)
    return latencies, now - start


def main():
    options = parse_options()
    call, width = LOADERS[options.framework](options)
    width = options.width or width
    pool = np.random.default_rng(options.seed).uniform(-1, 1, size=(max(POOL_ROWS, options.batch), width))
    if options.warmup_seconds > 0:
        run(call, pool, options.batch, options.warmup_seconds)
    latencies, elapsed_ns = run(call, pool, options.batch, options.seconds)
    ms = np.asarray(latencies, dtype=np.float64) / 1e6
    print(json.dumps({
        'framework': options.framework, 'model': options.model, 'batch': options.batch, 'threads': options.threads,
        'width': width, 'calls': len(latencies), 'seconds': elapsed_ns / 1e9,
        'inputs_per_second': len(latencies) * options.batch / (elapsed_ns / 1e9),
        'latency_ms': {'p50': float(np.percentile(ms, 50)), 'p99': float(np.percentile(ms, 99)),
                       'mean': float(ms.mean())},
    }))


if __name__ == '__main__':
    main()
