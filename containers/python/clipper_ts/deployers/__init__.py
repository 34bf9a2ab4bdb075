"""Clipper's deployers: `python` (deploy_python_closure) and, clipper-ts additions, `sklearn`,
`pytorch`, `xgboost`, `onnx` and `node`, with one shape for all of them: deploy_model(conn, name,
version, input_type, framework, model, ...) and create_endpoint (generic.py)."""

from .generic import FRAMEWORKS, create_endpoint, deploy_model

__all__ = ['FRAMEWORKS', 'create_endpoint', 'deploy_model']
