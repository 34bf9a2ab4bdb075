"""The small models of the framework benchmark (bench/frameworks.ts), one per framework, all taking
the same input: WIDTH doubles (the load generator's random:WIDTH, values in [-1, 1]).

    /usr/bin/python3 bench/models/make_framework_models.py OUT_DIR [sklearn pytorch xgboost onnx]

  sklearn  clf.pkl      LogisticRegression, 10 classes, fitted on seeded synthetic data (predict)
  pytorch  mlp.pt       TorchScript MLP WIDTH -> 128 -> ReLU -> 10 (float32, seeded weights)
  xgboost  booster.json Booster of 50 trees of depth 6, regression on seeded synthetic data
  onnx     mlp.onnx     the same MLP as mlp.pt (the same weights), Gemm + Relu + Gemm, float32 input

Prints one JSON object: framework -> {"file", "width"}. Only the frameworks named are built
(default: all four), each importing its own package.
"""

import json
import os
import pickle
import sys

import numpy as np

WIDTH = 64
HIDDEN = 128
CLASSES = 10


def mlp_weights():
    rng = np.random.default_rng(11)
    w1 = (rng.normal(size=(HIDDEN, WIDTH)) / np.sqrt(WIDTH)).astype(np.float32)
    b1 = rng.normal(size=HIDDEN).astype(np.float32) * 0.1
    w2 = (rng.normal(size=(CLASSES, HIDDEN)) / np.sqrt(HIDDEN)).astype(np.float32)
    b2 = rng.normal(size=CLASSES).astype(np.float32) * 0.1
    return w1, b1, w2, b2


def synthetic(rows, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(rows, WIDTH))
    return x, rng.normal(size=(WIDTH, CLASSES))


def make_sklearn(out):
    from sklearn.linear_model import LogisticRegression
    x, w = synthetic(2000, 1)
    clf = LogisticRegression(max_iter=500).fit(x, (x @ w).argmax(axis=1))
    with open(os.path.join(out, 'clf.pkl'), 'wb') as f:
        pickle.dump(clf, f)
    return 'clf.pkl'


def make_pytorch(out):
    import torch
    w1, b1, w2, b2 = mlp_weights()
    net = torch.nn.Sequential(torch.nn.Linear(WIDTH, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, CLASSES)).eval()
    with torch.no_grad():
        for param, value in zip(net.parameters(), (w1, b1, w2, b2)):
            param.copy_(torch.from_numpy(value))
    torch.jit.save(torch.jit.script(net), os.path.join(out, 'mlp.pt'))
    return 'mlp.pt'


def make_xgboost(out):
    import xgboost as xgb
    x, w = synthetic(4000, 2)
    y = (x @ w)[:, 0] + np.sin(3 * x[:, 1])
    booster = xgb.train({'max_depth': 6, 'eta': 0.3, 'nthread': 1}, xgb.DMatrix(x, label=y), num_boost_round=50)
    booster.save_model(os.path.join(out, 'booster.json'))
    return 'booster.json'


def make_onnx(out):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w1, b1, w2, b2 = mlp_weights()
    graph = helper.make_graph(
        [
            helper.make_node('Gemm', ['x', 'w1', 'b1'], ['h'], transB=1),
            helper.make_node('Relu', ['h'], ['hr']),
            helper.make_node('Gemm', ['hr', 'w2', 'b2'], ['scores'], transB=1),
        ],
        'mlp',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['N', WIDTH])],
        [helper.make_tensor_value_info('scores', TensorProto.FLOAT, ['N', CLASSES])],
        [numpy_helper.from_array(a, n) for a, n in ((w1, 'w1'), (b1, 'b1'), (w2, 'w2'), (b2, 'b2'))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8  # onnx 1.12 writes 8; ONNX Runtime reads it
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, 'mlp.onnx'))
    return 'mlp.onnx'


MAKERS = {'sklearn': make_sklearn, 'pytorch': make_pytorch, 'xgboost': make_xgboost, 'onnx': make_onnx}


def main():
    out = sys.argv[1]
    which = sys.argv[2:] or list(MAKERS)
    unknown = [name for name in which if name not in MAKERS]
    if unknown:
        sys.exit('unknown framework(s) %s: this script builds %s' % (', '.join(unknown), ', '.join(MAKERS)))
    print(json.dumps({name: {'file': MAKERS[name](out), 'width': WIDTH} for name in which}))


if __name__ == '__main__':
    main()
