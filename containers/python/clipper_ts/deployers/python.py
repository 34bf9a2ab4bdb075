"""Clipper's python deployer: deploy any Python function (closures and lambdas included).

The function is called with a batch of inputs (for numeric input types a 2-D numpy array or a
list of 1-D arrays; strings or bytes otherwise) and returns one output per input.

Ignored arguments, accepted so that Clipper scripts run unchanged: `base_image` (the server's
Python runtime runs the model; Debian packages come with `pkgs_to_install`) and `registry` (the
server builds any image it needs locally). `pkgs_to_install` names Debian packages (not pip
packages): it needs a server that can run Docker and runs the model there. Added: `manager`
('local' or 'docker'; None leaves the choice to the server).
"""

from ._deploy import DEFAULT_BATCH_SIZE, create_endpoint_with, deploy_pickled


def deploy_python_closure(clipper_conn, name, version, input_type, func, base_image='default', labels=None,
                          registry=None, num_replicas=1, batch_size=DEFAULT_BATCH_SIZE, pkgs_to_install=None,
                          manager=None):
    """Pickle `func`, upload it, and deploy it as model name:version; returns once its replicas run."""
    if not callable(func):
        raise TypeError('func must be callable, got %s' % type(func).__name__)
    deploy_pickled(clipper_conn, name, version, input_type, func, 'predict', labels, num_replicas, batch_size,
                   pkgs_to_install, manager)


def create_endpoint(clipper_conn, name, input_type, func, default_output='None', version=1, slo_micros=3000000,
                    labels=None, registry=None, base_image='default', num_replicas=1,
                    batch_size=DEFAULT_BATCH_SIZE, pkgs_to_install=None, manager=None):
    """Register application `name`, deploy `func` as model `name`, and link them."""
    create_endpoint_with(deploy_python_closure, clipper_conn, name, input_type, default_output, version, slo_micros,
                         func=func, base_image=base_image, labels=labels, registry=registry,
                         num_replicas=num_replicas, batch_size=batch_size, pkgs_to_install=pkgs_to_install,
                         manager=manager)
