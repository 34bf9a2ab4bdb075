#!/usr/bin/env python3
"""Train the three digits models of the pipeline examples (a cascade and an ensemble) into OUT_DIR.

  /usr/bin/python3 containers/python/examples/digits_pipeline/train.py OUT_DIR [--seed 0]

Seeded: the same seed gives the same split, the same models and the same files. Writes

  OUT_DIR/fast.pkl     StandardScaler + LogisticRegression: fast (well under a millisecond per batch)
  OUT_DIR/forest.pkl   a 200-tree random forest: several milliseconds per call, more accurate
  OUT_DIR/knn.pkl      3-nearest-neighbours on the raw pixels: the ensemble's third member
  OUT_DIR/model.py     a copy of model.py, the entry the Python runner serves (functions fast,
                       forest, knn); it loads the pickles that lie next to it
  OUT_DIR/heldout.json the held-out split: {"inputs": [[64 pixels]...], "labels": [...],
                       "local": {"fast": [{"label", "confidence"}...], "forest": [...], "knn": [...]}}
                       (what each model answers for each input when called here, in-process)

and prints one JSON line: per model its held-out accuracy and the seconds it took to train.
"""

import argparse
import json
import os
import pickle
import shutil
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from model import answers  # noqa: E402  (the very code the replicas run)

#: Share of the 1,797 digits held out for tests and benches (450 rows).
TEST_SIZE = 0.25


def build_models(seed):
    """The three estimators, unfitted, each seeded where it draws random numbers."""
    return {
        'fast': make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed)),
        'forest': RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1),
        'knn': KNeighborsClassifier(n_neighbors=3),
    }


def train(out_dir, seed):
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=TEST_SIZE, random_state=seed, stratify=digits.target)
    os.makedirs(out_dir, exist_ok=True)
    summary = {'seed': seed, 'train_rows': len(x_train), 'heldout_rows': len(x_test), 'models': {}}
    local = {}
    for name, estimator in build_models(seed).items():
        started = time.perf_counter()
        estimator.fit(x_train, y_train)
        train_s = time.perf_counter() - started
        with open(os.path.join(out_dir, name + '.pkl'), 'wb') as f:
            pickle.dump(estimator, f)
        local[name] = answers(estimator, x_test)
        correct = sum(1 for a, y in zip(local[name], y_test) if a['label'] == int(y))
        summary['models'][name] = {'accuracy': round(correct / len(y_test), 4), 'train_s': round(train_s, 3)}
    shutil.copyfile(os.path.join(HERE, 'model.py'), os.path.join(out_dir, 'model.py'))
    heldout = {'inputs': x_test.tolist(), 'labels': [int(y) for y in y_test], 'local': local}
    with open(os.path.join(out_dir, 'heldout.json'), 'w') as f:
        json.dump(heldout, f)
    return summary


def main(argv):
    parser = argparse.ArgumentParser(prog='train.py', description=__doc__.split('\n')[0])
    parser.add_argument('out_dir')
    parser.add_argument('--seed', type=int, default=0)
    options = parser.parse_args(argv)
    np.random.seed(options.seed)
    print(json.dumps(train(os.path.abspath(options.out_dir), options.seed)))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
