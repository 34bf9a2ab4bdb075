"""Clipper's deployers: `python` (deploy_python_closure) and, a clipper-ts addition, `sklearn`."""
