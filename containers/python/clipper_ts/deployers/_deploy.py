"""What every deployer shares: pickle the function (cloudpickle, so closures and lambdas work),
upload it through the management API, deploy it as a Python model, and create_endpoint's
register + deploy + link."""

import pickle

try:
    import cloudpickle
except ImportError:  # plain pickle still handles module-level functions and estimators
    cloudpickle = None

from ..exceptions import ClipperException

DEFAULT_BATCH_SIZE = -1
ENTRY_FILE = 'func.pkl'


def pickle_function(obj):
    """cloudpickle bytes of `obj` (plain pickle when cloudpickle is not installed)."""
    if cloudpickle is not None:
        return cloudpickle.dumps(obj)
    try:
        return pickle.dumps(obj)
    except (pickle.PicklingError, AttributeError, TypeError) as err:
        raise ClipperException('cannot pickle %r without cloudpickle (install python3-cloudpickle to deploy '
                               'closures and lambdas): %s' % (obj, err)) from None


def deploy_pickled(clipper_conn, name, version, input_type, obj, function, labels, num_replicas, batch_size,
                   pkgs_to_install, manager):
    """Upload pickle(obj) as func.pkl into a new directory of its own on the server and deploy it;
    returns once its replicas run. The upload becomes the model's only when the server accepts the
    add_model: when it refuses (a version that exists, say), the upload is removed (best effort)
    and the server's error raised, so a failed deploy replaces nothing a running model uses."""
    server_path = clipper_conn.upload_model_file(name, version, ENTRY_FILE, pickle_function(obj))
    try:
        clipper_conn.deploy_uploaded_model(name, version, input_type, server_path, function=function,
                                           labels=labels, num_replicas=num_replicas, batch_size=batch_size,
                                           pkgs_to_install=pkgs_to_install, manager=manager)
    except ClipperException:
        clipper_conn.discard_uploaded_model(name, version, server_path)
        raise


def create_endpoint_with(deploy, clipper_conn, name, input_type, default_output, version, slo_micros, **deploy_args):
    """Clipper's create_endpoint: register app `name`, deploy model `name`, link the two."""
    clipper_conn.register_application(name, input_type, default_output, slo_micros)
    deploy(clipper_conn, name, version, input_type, **deploy_args)
    clipper_conn.link_model_to_app(name, name)
