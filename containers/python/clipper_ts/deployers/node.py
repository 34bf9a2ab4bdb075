"""Deploy a JavaScript model to the server's Node runner (a clipper-ts addition): an ES module whose
exported function (`function`, default predict) takes one batch of inputs and returns one output per
input (containers/node/runner.ts describes what it is handed).

`model`: the path of a .mjs, .js or .cjs file, or the module's source text (uploaded as model.mjs).
The module is uploaded alone: it may import Node's built-in modules, not files next to it.
"""

from ._deploy import DEFAULT_BATCH_SIZE, create_endpoint_with, deploy_file, read_model_file

NODE_EXTENSIONS = ('.mjs', '.js', '.cjs')


def node_artifact(model):
    """(file name, bytes) of the module."""
    if hasattr(model, '__fspath__') or (isinstance(model, str) and model.endswith(NODE_EXTENSIONS)
                                        and '\n' not in model):
        extension, data = read_model_file(model, NODE_EXTENSIONS, 'a JavaScript module')
        return 'model' + extension, data
    if isinstance(model, str):
        return 'model.mjs', model.encode('utf-8')
    if isinstance(model, (bytes, bytearray)):
        return 'model.mjs', bytes(model)
    raise TypeError('model must be the path of a JavaScript module or its source (got %s)' % type(model).__name__)


def deploy_node_model(clipper_conn, name, version, input_type, model, function='predict', labels=None,
                      num_replicas=1, batch_size=DEFAULT_BATCH_SIZE, manager=None, base_image='default',
                      registry=None):
    """Upload the module and deploy it as model name:version with framework node; returns once its
    replicas run."""
    file_name, data = node_artifact(model)
    deploy_file(clipper_conn, name, version, input_type, file_name, data, function=function, labels=labels,
                num_replicas=num_replicas, batch_size=batch_size, manager=manager, framework='node')


def create_endpoint(clipper_conn, name, input_type, model, function='predict', default_output='None', version=1,
                    slo_micros=3000000, labels=None, num_replicas=1, batch_size=DEFAULT_BATCH_SIZE, manager=None,
                    base_image='default', registry=None):
    """Register application `name`, deploy the module as model `name`, and link them."""
    create_endpoint_with(deploy_node_model, clipper_conn, name, input_type, default_output, version, slo_micros,
                         model=model, function=function, labels=labels, num_replicas=num_replicas,
                         batch_size=batch_size, manager=manager, base_image=base_image, registry=registry)
