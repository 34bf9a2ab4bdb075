"""One deploy shape for every framework (a clipper-ts addition), the Python twin of
`clipper deploy --framework NAME`:

    deploy_model(conn, 'm', 1, 'doubles', 'pytorch', net, device='cpu', num_replicas=2)
    create_endpoint(conn, 'app', 'doubles', 'xgboost', booster, slo_micros=100000)

`framework` picks the deployer and `model` is what that deployer takes:
  python   a function (closures and lambdas too)           python.deploy_python_closure
  sklearn  a fitted estimator; method=                      sklearn.deploy_sklearn_model
  pytorch  a module, TorchScript module or file; pre=, post=, device=, threads=, state_dict=
                                                            pytorch.deploy_pytorch_model
  xgboost  a Booster, sklearn-API estimator or model file; method=
                                                            xgboost.deploy_xgboost_model
  onnx     an .onnx path, its bytes or a ModelProto; output=, threads=
                                                            onnx.deploy_onnx_model
  node     a JavaScript module's path or source; function=  node.deploy_node_model
Every one takes labels, num_replicas, batch_size and manager; an option a framework does not have is
a TypeError naming it.
"""

from . import node, onnx, python, pytorch, sklearn, xgboost
from ._deploy import create_endpoint_with

#: framework → (deployer, the name of its model argument).
DEPLOYERS = {
    'python': (python.deploy_python_closure, 'func'),
    'sklearn': (sklearn.deploy_sklearn_model, 'model'),
    'pytorch': (pytorch.deploy_pytorch_model, 'model'),
    'xgboost': (xgboost.deploy_xgboost_model, 'model'),
    'onnx': (onnx.deploy_onnx_model, 'onnx_path_or_bytes'),
    'node': (node.deploy_node_model, 'model'),
}
FRAMEWORKS = tuple(DEPLOYERS)


def _deployer(framework):
    if framework not in DEPLOYERS:
        raise ValueError('framework must be one of %s (got %r)' % (', '.join(FRAMEWORKS), framework))
    return DEPLOYERS[framework]


def deploy_model(clipper_conn, name, version, input_type, framework, model, **options):
    """Deploy `model` as model name:version with `framework`'s deployer; returns once its replicas run."""
    deploy, model_arg = _deployer(framework)
    deploy(clipper_conn, name, version, input_type, **{model_arg: model}, **options)


def create_endpoint(clipper_conn, name, input_type, framework, model, default_output='None', version=1,
                    slo_micros=3000000, **options):
    """Register application `name`, deploy `model` with `framework` as model `name`, and link them."""
    deploy, model_arg = _deployer(framework)
    create_endpoint_with(deploy, clipper_conn, name, input_type, default_output, version, slo_micros,
                         **{model_arg: model}, **options)
