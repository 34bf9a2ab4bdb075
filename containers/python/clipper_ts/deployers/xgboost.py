"""Deploy an XGBoost model (a clipper-ts addition).

`model` is one of:
  - an xgboost.Booster: uploaded as its JSON model (model.json); `method` must be 'predict'
    (Booster.inplace_predict: probabilities for binary:logistic, values or margins otherwise).
  - a fitted sklearn-API estimator (XGBClassifier, XGBRegressor, XGBRanker): pickled; the server
    calls `estimator.<method>(X)` on each batch ('predict' gives labels, 'predict_proba'
    probabilities). The server's XGBoost should be the version that pickled it.
  - the path of a model file (.json, .ubj, .model, .bst from save_model; a file saved by the sklearn
    API is loaded back into its estimator class, so predict_proba works) or of a pickle (.pkl).

Each input is one row of features (numeric input types); a batch is predicted as one 2-D array. The
server needs the Debian package python3-xgboost; each replica predicts with one thread.
"""

from ._deploy import DEFAULT_BATCH_SIZE, create_endpoint_with, deploy_file, pickle_function, read_model_file

MODEL_EXTENSIONS = ('.json', '.ubj', '.model', '.bst', '.pkl', '.pickle', '.cloudpickle')


def xgboost_artifact(model, method='predict'):
    """(file name, bytes) that the server's runner loads with --framework xgboost."""
    if isinstance(model, str) or hasattr(model, '__fspath__'):
        extension, data = read_model_file(model, MODEL_EXTENSIONS, 'an XGBoost model file')
        return 'model' + extension, data
    import xgboost  # a model object: the deploying machine has XGBoost

    if isinstance(model, xgboost.Booster):
        if method != 'predict':
            raise ValueError("a Booster has only predict (got method %r): deploy the sklearn-API estimator for "
                             'its other methods' % (method,))
        return 'model.json', bytes(model.save_raw(raw_format='json'))
    if isinstance(model, xgboost.XGBModel):
        if not callable(getattr(model, method, None)):
            raise TypeError('%s has no method %s' % (type(model).__name__, method))
        return 'model.pkl', pickle_function(model)
    raise TypeError('model must be an xgboost.Booster, a fitted XGBClassifier/XGBRegressor/XGBRanker or the path '
                    'of a model file (got %s)' % type(model).__name__)


def deploy_xgboost_model(clipper_conn, name, version, input_type, model, method='predict', labels=None,
                         num_replicas=1, batch_size=DEFAULT_BATCH_SIZE, pkgs_to_install=None, manager=None,
                         base_image='default', registry=None):
    """Upload the model and deploy it as model name:version with framework xgboost; returns once its
    replicas run. base_image and registry are ignored, as in the python deployer."""
    file_name, data = xgboost_artifact(model, method)
    deploy_file(clipper_conn, name, version, input_type, file_name, data, function=method, labels=labels,
                num_replicas=num_replicas, batch_size=batch_size, pkgs_to_install=pkgs_to_install, manager=manager,
                framework='xgboost')


def create_endpoint(clipper_conn, name, input_type, model, method='predict', default_output='None', version=1,
                    slo_micros=3000000, labels=None, num_replicas=1, batch_size=DEFAULT_BATCH_SIZE,
                    pkgs_to_install=None, manager=None, base_image='default', registry=None):
    """Register application `name`, deploy the XGBoost model as model `name`, and link them."""
    create_endpoint_with(deploy_xgboost_model, clipper_conn, name, input_type, default_output, version, slo_micros,
                         model=model, method=method, labels=labels, num_replicas=num_replicas,
                         batch_size=batch_size, pkgs_to_install=pkgs_to_install, manager=manager,
                         base_image=base_image, registry=registry)
