"""What every deployer shares: pickle the function (cloudpickle, so closures and lambdas work) or
read the model file, upload it through the management API, deploy it (as a Python model, or with
the framework that loads it), and create_endpoint's register + deploy + link."""

import os
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
    """Upload pickle(obj) as func.pkl and deploy it as a Python model (deploy_file)."""
    deploy_file(clipper_conn, name, version, input_type, ENTRY_FILE, pickle_function(obj), function=function,
                labels=labels, num_replicas=num_replicas, batch_size=batch_size, pkgs_to_install=pkgs_to_install,
                manager=manager)


def deploy_file(clipper_conn, name, version, input_type, file_name, data, function='predict', labels=None,
                num_replicas=1, batch_size=DEFAULT_BATCH_SIZE, pkgs_to_install=None, manager=None, framework=None,
                options=None):
    """Upload `data` as `file_name` into a new directory of its own on the server and deploy it (with
    `framework` and its runtime `options` when given); returns once its replicas run. The upload
    becomes the model's only when the server accepts the add_model: when it refuses (a version that
    exists, say), the upload is removed (best effort) and the server's error raised, so a failed
    deploy replaces nothing a running model uses."""
    server_path = clipper_conn.upload_model_file(name, version, file_name, data)
    try:
        clipper_conn.deploy_uploaded_model(name, version, input_type, server_path, function=function,
                                           labels=labels, num_replicas=num_replicas, batch_size=batch_size,
                                           pkgs_to_install=pkgs_to_install, manager=manager, framework=framework,
                                           options=options)
    except ClipperException:
        clipper_conn.discard_uploaded_model(name, version, server_path)
        raise


def read_model_file(path, extensions, what):
    """(extension, bytes) of a model file on this machine; ValueError unless it ends in one of `extensions`."""
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extension not in extensions:
        raise ValueError('%s must be %s: %s ends in %r' % (what, ', '.join(extensions), path, extension))
    with open(path, 'rb') as f:
        return extension, f.read()


def runtime_options(threads=None, device=None):
    """The runtime options of a framework deploy, checked here so that a typo fails before any upload."""
    options = {}
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 256:
            raise ValueError('threads must be an integer from 1 to 256 (got %r)' % (threads,))
        options['threads'] = threads
    if device is not None:
        if device not in ('cpu', 'cuda', 'auto'):
            raise ValueError("device must be 'cpu', 'cuda' or 'auto' (got %r)" % (device,))
        options['device'] = device
    return options


def create_endpoint_with(deploy, clipper_conn, name, input_type, default_output, version, slo_micros, **deploy_args):
    """Clipper's create_endpoint: register app `name`, deploy model `name`, link the two."""
    clipper_conn.register_application(name, input_type, default_output, slo_micros)
    deploy(clipper_conn, name, version, input_type, **deploy_args)
    clipper_conn.link_model_to_app(name, name)
