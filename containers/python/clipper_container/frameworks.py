"""The model frameworks of the Python runner (--framework): which loader turns the model file into a
predict function, and the runtime options some of them read (--device, --threads).

  python   (the default) a .py file's function or a pickled object (model_loader.py)
  sklearn  a pickled estimator; --function names its method (predict, predict_proba, ...)
  pytorch  a TorchScript file or a bundle pickled by clipper_ts.deployers.pytorch (torch_model.py)
  xgboost  a Booster file or a pickled XGBClassifier/XGBRegressor (xgboost_model.py)

PyTorch and XGBoost are imported only when their framework is asked for, so the plain runner starts
as fast as before. A missing package is a load error naming the Debian package that provides it.

Threads: a replica uses `--threads` intra-op threads, default 1. A replica is the unit of
parallelism here: adaptive batching keeps one core busy per replica, and N replicas that each
started a pool as wide as the machine (PyTorch's and XGBoost's own default) would oversubscribe
it. A single replica of a large model that should use more cores says so with threads.
"""

import importlib

from .model_loader import PICKLE_EXTENSIONS, ModelLoadError, load_predict, resolve_model_path

PYTHON_FRAMEWORKS = ('python', 'sklearn', 'pytorch', 'xgboost')
#: Frameworks that run in the Node runner (containers/node/runner.ts), named in the error.
NODE_FRAMEWORKS = ('node', 'onnx')
DEVICES = ('cpu', 'cuda', 'auto')
THREADS_MIN = 1
THREADS_MAX = 256
DEFAULT_THREADS = 1

#: framework → (module to import, what it is called, the Debian package that installs it).
_REQUIREMENTS = {
    'pytorch': ('torch', 'PyTorch', 'python3-torch'),
    'xgboost': ('xgboost', 'XGBoost', 'python3-xgboost'),
    'sklearn': ('sklearn', 'scikit-learn', 'python3-sklearn'),
}


def framework_problem(name):
    """Why this runner cannot serve framework `name`, or None when it can."""
    if name in PYTHON_FRAMEWORKS:
        return None
    if name in NODE_FRAMEWORKS:
        return ('framework %s runs in the Node runner (runtime node), not in this Python runner, which serves %s'
                % (name, ', '.join(PYTHON_FRAMEWORKS)))
    return 'unknown framework %r: this runner serves %s' % (name, ', '.join(PYTHON_FRAMEWORKS))


def threads_problem(value):
    """Why `value` (the text of --threads) is not a thread count, or None."""
    if value is None:
        return None
    if not str(value).isdigit() or not THREADS_MIN <= int(value) <= THREADS_MAX:
        return '--threads must be an integer from %d to %d (got %r)' % (THREADS_MIN, THREADS_MAX, value)
    return None


def require(framework):
    """Import the package `framework` needs, or fail naming the Debian package."""
    module_name, what, package = _REQUIREMENTS[framework]
    try:
        return importlib.import_module(module_name)
    except ImportError as err:
        raise ModelLoadError('framework %s needs %s: install the Debian package %s (import %s failed: %s)'
                             % (framework, what, package, module_name, err)) from None


def load_framework_predict(framework, model_path, function_name='predict', device=None, threads=None):
    """The predict function (one batch in, one output per input out) of the model file, loaded the
    way `framework` loads it. device: 'cpu' | 'cuda' | 'auto' (pytorch; None = auto); threads: None
    = DEFAULT_THREADS."""
    framework = framework or 'python'
    problem = framework_problem(framework)
    if problem is not None:
        raise ModelLoadError(problem)
    threads = DEFAULT_THREADS if threads is None else int(threads)
    if framework == 'python':
        return load_predict(model_path, function_name)
    path = resolve_model_path(model_path)
    if framework == 'sklearn':
        if not path.lower().endswith(PICKLE_EXTENSIONS):
            raise ModelLoadError('framework sklearn loads a pickled estimator (%s), not %s'
                                 % (', '.join(PICKLE_EXTENSIONS), path))
        require('sklearn')
        return load_predict(path, function_name)
    if framework == 'pytorch':
        torch = require('pytorch')
        from .torch_model import load_torch_predict
        return load_torch_predict(torch, path, function_name, device or 'auto', threads)
    xgboost = require('xgboost')
    from .xgboost_model import load_xgboost_predict
    return load_xgboost_predict(xgboost, path, function_name, threads)
