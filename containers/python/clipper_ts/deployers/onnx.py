"""Deploy an ONNX model (a clipper-ts addition): the server's Node runner runs it with
onnxruntime-node, no Python involved on the server.

`onnx_path_or_bytes`: the path of an .onnx file, its bytes, or an onnx.ModelProto. The runner reads
the first input's name, element type and shape from the model, makes one tensor [N, ...] of a batch
of N inputs (each input the flattened rest of the shape; numeric input types), and answers with
the first output, or the one named `output`, one entry per input. `threads`: intra-op threads per
replica (default 1).
"""

from ._deploy import DEFAULT_BATCH_SIZE, create_endpoint_with, deploy_file, read_model_file, runtime_options


def onnx_artifact(onnx_path_or_bytes):
    """(file name, bytes) of the model; the runner itself reports a model it cannot load."""
    model = onnx_path_or_bytes
    serialize = getattr(model, 'SerializeToString', None)
    if callable(serialize):  # an onnx.ModelProto
        data = serialize()
    elif isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
    elif isinstance(model, str) or hasattr(model, '__fspath__'):
        data = read_model_file(model, ('.onnx',), 'an ONNX model file')[1]
    else:
        raise TypeError('onnx_path_or_bytes must be the path of an .onnx file, its bytes or an onnx.ModelProto '
                        '(got %s)' % type(model).__name__)
    if not data:
        raise ValueError('the ONNX model is empty (0 bytes)')
    return 'model.onnx', data


def deploy_onnx_model(clipper_conn, name, version, input_type, onnx_path_or_bytes, output=None, threads=None,
                      labels=None, num_replicas=1, batch_size=DEFAULT_BATCH_SIZE, manager=None, base_image='default',
                      registry=None):
    """Upload the model and deploy it as model name:version with framework onnx; returns once its
    replicas run. base_image and registry are ignored, as in the python deployer."""
    options = runtime_options(threads=threads)
    file_name, data = onnx_artifact(onnx_path_or_bytes)
    deploy_file(clipper_conn, name, version, input_type, file_name, data, function=output, labels=labels,
                num_replicas=num_replicas, batch_size=batch_size, manager=manager, framework='onnx', options=options)


def create_endpoint(clipper_conn, name, input_type, onnx_path_or_bytes, output=None, threads=None,
                    default_output='None', version=1, slo_micros=3000000, labels=None, num_replicas=1,
                    batch_size=DEFAULT_BATCH_SIZE, manager=None, base_image='default', registry=None):
    """Register application `name`, deploy the ONNX model as model `name`, and link them."""
    create_endpoint_with(deploy_onnx_model, clipper_conn, name, input_type, default_output, version, slo_micros,
                         onnx_path_or_bytes=onnx_path_or_bytes, output=output, threads=threads, labels=labels,
                         num_replicas=num_replicas, batch_size=batch_size, manager=manager, base_image=base_image,
                         registry=registry)
