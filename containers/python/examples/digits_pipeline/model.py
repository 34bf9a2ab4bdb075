"""The entry the Python runner serves for the digits pipeline examples (README.md next to this file).

Deploy one model per function, all from the same file (train.py copies it next to the pickles):

  container {"runtime": "python", "entry": "OUT_DIR/model.py", "function": "fast"}    # or forest, knn

Each function takes a batch of `doubles` inputs of 64 pixels (0..16, the sklearn digits) and
returns, per input, {"label": int, "confidence": float}: the predicted digit and its predicted
probability (the largest of the model's class probabilities), which a cascade stage compares with
its threshold and an ensemble stage votes on (field "label").
"""

import os
import pickle

import numpy as np

PIXELS = 64
MODELS = ('fast', 'forest', 'knn')
_HERE = os.path.dirname(os.path.abspath(__file__))
_loaded = {}


def _estimator(name):
    """The pickle `name`.pkl next to this file, loaded once per process."""
    estimator = _loaded.get(name)
    if estimator is None:
        path = os.path.join(_HERE, name + '.pkl')
        if not os.path.isfile(path):
            raise FileNotFoundError('%s is missing: run train.py with this directory as OUT_DIR' % path)
        with open(path, 'rb') as f:
            estimator = pickle.load(f)
        _loaded[name] = estimator
    return estimator


def _warm_up():
    """Load the pickles next to this file and run each once, while the runner starts (before its
    ready line): importing scikit-learn and a model's first call take up to seconds, which would
    otherwise fall on the first queries and on the frontend's latency estimates. Each replica holds
    all three models this way (about 10 MB); the file serves whichever function it is deployed with."""
    for name in MODELS:
        if os.path.isfile(os.path.join(_HERE, name + '.pkl')):
            _estimator(name).predict_proba(np.zeros((1, PIXELS)))


def _as_matrix(inputs):
    """The batch as an n × 64 float array; any other input length is refused with its index."""
    if isinstance(inputs, np.ndarray) and inputs.ndim == 2 and inputs.shape[1] == PIXELS:
        return inputs.astype(np.float64, copy=False)
    rows = list(inputs)
    for i, row in enumerate(rows):
        if len(row) != PIXELS:
            raise ValueError('input %d has %d values; a digit is %d pixels (8 x 8, each 0..16)' % (i, len(row), PIXELS))
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), PIXELS)


def answers(estimator, inputs):
    """One {"label", "confidence"} per input row."""
    x = _as_matrix(inputs)
    if len(x) == 0:
        return []
    proba = estimator.predict_proba(x)
    best = proba.argmax(axis=1)
    classes = estimator.classes_
    return [{'label': int(classes[j]), 'confidence': float(proba[i, j])} for i, j in enumerate(best)]


def fast(inputs):
    """The logistic regression: the cascade's first, cheap model."""
    return answers(_estimator('fast'), inputs)


def forest(inputs):
    """The random forest: the cascade's second, slower and more accurate model."""
    return answers(_estimator('forest'), inputs)


def knn(inputs):
    """The 3-nearest-neighbours classifier: the ensemble's third member."""
    return answers(_estimator('knn'), inputs)


_warm_up()
