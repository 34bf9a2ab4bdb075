#!/usr/bin/env python3
"""Train a small digit classifier and pickle it for the Python container.

  /usr/bin/python3 containers/python/examples/train_digits.py /tmp/digits.pkl

The pickle serves `doubles` inputs of 64 pixels (0..16) each; deploy it with
container {"runtime": "python", "entry": "/tmp/digits.pkl", "function": "predict"} (or
"predict_proba" for the class probabilities), or with clipper_client.deploy_sklearn_model.
"""

import pickle
import sys

from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main(argv):
    if len(argv) != 1:
        sys.stderr.write('usage: train_digits.py OUTPUT.pkl\n')
        return 2
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.25, random_state=0, stratify=digits.target)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x_train, y_train)
    accuracy = model.score(x_test, y_test)
    with open(argv[0], 'wb') as f:
        pickle.dump(model, f)
    print('trained LogisticRegression on %d digits; test accuracy %.4f; saved %s'
          % (len(x_train), accuracy, argv[0]))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
