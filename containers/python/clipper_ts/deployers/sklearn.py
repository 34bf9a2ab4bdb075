"""Deploy a fitted scikit-learn estimator (a clipper-ts addition: Clipper deployed estimators
through python.deploy_python_closure with a closure that calls the model, which works here too).

The estimator is pickled and uploaded; the server calls `estimator.<method>(X)` on each batch
(`method`: 'predict', 'predict_proba', 'decision_function', 'transform', ...). The server's
Python must have a compatible scikit-learn. base_image and registry are ignored, as in the python
deployer; pkgs_to_install (Debian packages) runs the model in Docker.
"""

from ._deploy import DEFAULT_BATCH_SIZE, create_endpoint_with, deploy_pickled


def deploy_sklearn_model(clipper_conn, name, version, input_type, model, method='predict', base_image='default',
                         labels=None, registry=None, num_replicas=1, batch_size=DEFAULT_BATCH_SIZE,
                         pkgs_to_install=None, manager=None):
    """Upload the fitted estimator `model` and deploy it as model name:version."""
    if not callable(getattr(model, method, None)):
        raise TypeError('%s has no method %s' % (type(model).__name__, method))
    deploy_pickled(clipper_conn, name, version, input_type, model, method, labels, num_replicas, batch_size,
                   pkgs_to_install, manager)


def create_endpoint(clipper_conn, name, input_type, model, method='predict', default_output='None', version=1,
                    slo_micros=3000000, labels=None, registry=None, base_image='default', num_replicas=1,
                    batch_size=DEFAULT_BATCH_SIZE, pkgs_to_install=None, manager=None):
    """Register application `name`, deploy the estimator as model `name`, and link them."""
    create_endpoint_with(deploy_sklearn_model, clipper_conn, name, input_type, default_output, version, slo_micros,
                         model=model, method=method, base_image=base_image, labels=labels, registry=registry,
                         num_replicas=num_replicas, batch_size=batch_size, pkgs_to_install=pkgs_to_install,
                         manager=manager)
