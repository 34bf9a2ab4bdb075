"""XGBoost models in the Python runner (--framework xgboost; frameworks.py imports xgboost first).

The model file is one of:
  FILE.json / .ubj / .model / .bst   a model saved by Booster.save_model. One saved by the sklearn
        API (XGBClassifier.save_model, ...) is loaded back into its estimator class, so that
        --function predict gives class labels and predict_proba probabilities; a plain Booster
        has only predict (Booster.inplace_predict: probabilities for binary:logistic, margins or
        values for others).
  FILE.pkl (.pickle, .cloudpickle)   a pickled XGBClassifier / XGBRegressor / XGBRanker (any
        method named by --function: predict, predict_proba, apply, ...) or a pickled Booster.

Inputs: a batch of numeric inputs of one length, as one 2-D array of that many features; a batch
whose width is not the model's number of features fails with a message naming both (XGBoost
itself would answer some wrong widths with predictions). --threads sets nthread (default 1).
"""

import json
import re

import numpy as np

from .model_loader import PICKLE_EXTENSIONS, ModelLoadError, PredictError, first_line, load_pickle

BOOSTER_EXTENSIONS = ('.json', '.ubj', '.model', '.bst')
#: The time stamp XGBoost's log puts before its error text.
_LOG_TIME = re.compile(r'^\[[0-9:]+\] ')


def load_xgboost_predict(xgb, path, function_name, threads):
    lower = path.lower()
    if lower.endswith(BOOSTER_EXTENSIONS):
        model = _load_model_file(xgb, path)
    elif lower.endswith(PICKLE_EXTENSIONS):
        model = load_pickle(path)
        if not isinstance(model, (xgb.Booster, xgb.XGBModel)):
            raise ModelLoadError('%s holds a %s, not an XGBoost model (a pickled XGBClassifier, XGBRegressor, '
                                 'XGBRanker or Booster)' % (path, type(model).__name__))
    else:
        raise ModelLoadError('framework xgboost loads a model file (%s) or a pickled model (%s), not %s'
                             % (', '.join(BOOSTER_EXTENSIONS), ', '.join(PICKLE_EXTENSIONS), path))
    if isinstance(model, xgb.Booster):
        if function_name not in (None, '', 'predict'):
            raise ModelLoadError("%s is a plain Booster, which has only predict (got --function %s); save the "
                                 'sklearn-API estimator to get its other methods' % (path, function_name))
        model.set_param({'nthread': threads})
        return XGBoostPredict(model.inplace_predict, model.num_features())
    method = getattr(model, function_name or 'predict', None)
    if not callable(method):
        raise ModelLoadError("%s: %s has no method '%s' (--function)" % (path, type(model).__name__, function_name))
    model.set_params(n_jobs=threads)
    booster = model.get_booster()
    booster.set_param({'nthread': threads})
    return XGBoostPredict(method, booster.num_features())


def _load_model_file(xgb, path):
    try:
        booster = xgb.Booster(model_file=path)
    except xgb.core.XGBoostError as err:
        raise ModelLoadError('%s is not an XGBoost model file (save one with Booster.save_model or '
                             'XGBClassifier.save_model): %s' % (path, _LOG_TIME.sub('', first_line(err)))) from None
    estimator_class = _sklearn_class(xgb, booster)
    if estimator_class is None:
        return booster
    estimator = estimator_class()
    estimator.load_model(path)
    return estimator


def _sklearn_class(xgb, booster):
    """The estimator class a file saved through the sklearn API came from, else None."""
    meta = booster.attr('scikit_learn')
    if meta is None:
        return None
    try:
        kind = json.loads(meta).get('_estimator_type')
    except ValueError:
        return None
    return {'classifier': xgb.XGBClassifier, 'regressor': xgb.XGBRegressor, 'ranker': xgb.XGBRanker}.get(kind)


class XGBoostPredict:
    """The runner's predict function for an XGBoost model."""

    def __init__(self, method, feature_count):
        self.method = method
        self.feature_count = feature_count

    def __call__(self, inputs):
        if not isinstance(inputs, np.ndarray) or inputs.dtype == object:
            if isinstance(inputs, list) and inputs and isinstance(inputs[0], np.ndarray):
                raise PredictError('the inputs of one batch must have the same length: this model takes %d '
                                   'features (got lengths %s)'
                                   % (self.feature_count, ', '.join(map(str, sorted({len(x) for x in inputs})))))
            kind = type(inputs[0]).__name__ if len(inputs) else 'an empty batch'
            raise PredictError('an XGBoost model takes numeric inputs (doubles, floats, integers), not %s' % kind)
        if inputs.ndim != 2 or inputs.shape[1] != self.feature_count:
            raise PredictError('this model takes %d features per input, got %d'
                               % (self.feature_count, inputs.shape[-1] if inputs.ndim else 0))
        return self.method(inputs)
