"""The served model of the GPU benchmark (bench/gpu_resnet.ts): a Python runner model file
(framework python, function predict) holding ResNet-18 with random weights (resnet18_net.py).
Inputs are `floats` of 3×64×64 = 12,288 elements each; the output of each is its class index.

The device comes from RESNET_DEVICE (auto, cpu, cuda; default auto: fp16 on CUDA when available,
else fp32 on the CPU) and the CPU threads from RESNET_THREADS (default: PyTorch's own), since the
plain python framework takes no --device or --threads.
"""

import os

import numpy as np
import torch

from resnet18_net import ELEMENTS, classify, prepare

_threads = os.environ.get('RESNET_THREADS')
MODULE, DEVICE, DTYPE, SOURCE = prepare(torch, os.environ.get('RESNET_DEVICE', 'auto'), None if _threads is None else int(_threads))
# One pass at load time, so the first queries do not pay CUDA's and cuDNN's start-up against their SLO.
classify(torch, MODULE, DEVICE, DTYPE, np.zeros((2, ELEMENTS), dtype=np.float32))


def predict(inputs):
    if not isinstance(inputs, np.ndarray) or inputs.ndim != 2 or inputs.shape[1] != ELEMENTS:
        lengths = sorted({len(x) for x in inputs})
        raise ValueError('resnet18 takes inputs of %d floats (3x64x64); this batch has lengths %s' % (ELEMENTS, lengths))
    return classify(torch, MODULE, DEVICE, DTYPE, inputs.astype(np.float32, copy=False)).tolist()
