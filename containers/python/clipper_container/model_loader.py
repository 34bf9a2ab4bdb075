"""Loads a user's model (framework python; frameworks.py routes the others) and turns predict frames
into model inputs and model outputs into msgpack-encodable values.

--model FILE.py        import the file, take the function named by --function (default predict)
--model FILE.pkl       (.pickle, .cloudpickle) unpickle with cloudpickle (plain pickle if absent);
                       an object with the attribute named by --function (predict, predict_proba,
                       ...) gives that bound method, otherwise a callable object is the function.
"""

import importlib.util
import os
import sys

import numpy as np

try:
    import cloudpickle as _pickle_module
except ImportError:  # cloudpickle only adds pickling of closures; loading is plain pickle
    import pickle as _pickle_module

PICKLE_EXTENSIONS = ('.pkl', '.pickle', '.cloudpickle')

#: Wire input type → little-endian numpy dtype of the `data` bin.
NUMERIC_DTYPES = {
    'doubles': np.dtype('<f8'),
    'floats': np.dtype('<f4'),
    'integers': np.dtype('<i4'),
}

_INT_MIN = -(1 << 63)
_UINT_MAX = (1 << 64) - 1


class ModelLoadError(Exception):
    """The model file could not be turned into a predict function."""


class PredictError(Exception):
    """A framework's model failed on a batch, or the batch does not fit it (the runner answers an
    error for that batch only and keeps serving)."""


def first_line(err):
    """The first line of an exception's text (framework errors carry long C++ traces)."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def resolve_model_path(model_path):
    """The model file's absolute path, once it is known to exist; its directory goes on sys.path."""
    path = os.path.abspath(model_path)
    if not os.path.isfile(path):
        raise ModelLoadError('model file %s does not exist' % path)
    # Let the model import (or unpickle references to) modules that sit next to it.
    model_dir = os.path.dirname(path)
    if model_dir not in sys.path:
        sys.path.insert(0, model_dir)
    return path


def load_predict(model_path, function_name='predict'):
    """Return the callable that takes one batch of inputs and returns one output per input."""
    path = resolve_model_path(model_path)
    lower = path.lower()
    if lower.endswith('.py'):
        return _load_module_function(path, function_name)
    if lower.endswith(PICKLE_EXTENSIONS):
        return _callable_from_object(load_pickle(path), function_name, path)
    raise ModelLoadError('model file %s: unsupported extension (use .py, %s)'
                         % (path, ', '.join(PICKLE_EXTENSIONS)))


def load_pickle(path):
    """The object pickled in `path` (cloudpickle when installed: it loads plain pickles too)."""
    with open(path, 'rb') as f:
        return _pickle_module.load(f)


def _load_module_function(path, function_name):
    module_name = 'clipper_model_' + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelLoadError('cannot import model file %s' % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    candidate = getattr(module, function_name, None)
    if not callable(candidate):
        raise ModelLoadError("model module %s does not define a function named '%s'"
                             % (path, function_name))
    return candidate


def _callable_from_object(obj, function_name, path):
    method = getattr(obj, function_name, None)
    if callable(method):
        return method
    if callable(obj) and not hasattr(obj, 'predict'):
        return obj
    raise ModelLoadError("pickled %s in %s is not callable and has no method '%s'"
                         % (type(obj).__name__, path, function_name))


def decode_inputs(message):
    """A predict frame's inputs as the model sees them.

    Numeric types: a 2-D numpy array (n × len) when every input has the same length, else a list
    of 1-D arrays. strings: a list of str. bytes: a list of bytes.
    """
    input_type = message.get('type')
    n = message.get('n')
    if not isinstance(n, int) or n < 0:
        raise ValueError('predict frame has no valid input count n')
    items = message.get('items')
    if items is not None:
        if len(items) != n:
            raise ValueError('predict frame has %d items for %d inputs' % (len(items), n))
        expected = str if input_type == 'strings' else bytes if input_type == 'bytes' else None
        if expected is not None:
            for item in items:
                if not isinstance(item, expected):
                    raise ValueError('%s input of Python type %s' % (input_type, type(item).__name__))
        return list(items)
    dtype = NUMERIC_DTYPES.get(input_type)
    if dtype is None:
        raise ValueError("unknown input type '%s'" % input_type)
    data = message.get('data') or b''
    lens = message.get('lens') or []
    if len(lens) != n:
        raise ValueError('predict frame has %d lens for %d inputs' % (len(lens), n))
    total = sum(lens)
    if total * dtype.itemsize != len(data):
        raise ValueError('predict frame data has %d bytes, lens describe %d'
                         % (len(data), total * dtype.itemsize))
    # One copy, so that the model gets a writable array it owns.
    flat = np.frombuffer(data, dtype=dtype).copy()
    if n > 0 and all(length == lens[0] for length in lens):
        return flat.reshape(n, lens[0])
    if n == 0:
        return flat.reshape(0, 0)
    return np.split(flat, np.cumsum(lens[:-1]))


def to_wire(value):
    """Make one model output msgpack-encodable: numpy → plain Python, other objects → str()."""
    # numpy first: np.float64 and np.str_ subclass float and str.
    if isinstance(value, np.ndarray):
        return to_wire(value.tolist())
    if isinstance(value, np.generic):
        return to_wire(value.item())
    if value is None or isinstance(value, (bool, float, str, bytes)):
        return value
    if isinstance(value, int):
        return value if _INT_MIN <= value <= _UINT_MAX else str(value)
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return str(value)


def encode_outputs(outputs, input_count):
    """Check that predict returned one output per input and make them encodable."""
    if isinstance(outputs, np.ndarray):
        if outputs.ndim == 0:
            raise TypeError('predict must return a list or array of outputs, got a 0-d array')
        outputs = list(outputs)
    elif not isinstance(outputs, (list, tuple)):
        tolist = getattr(outputs, 'tolist', None)  # pandas Series, array.array, ...
        if not callable(tolist):
            raise TypeError('predict must return a list or array of outputs, got %s'
                            % type(outputs).__name__)
        outputs = tolist()
        if not isinstance(outputs, list):
            raise TypeError('predict must return a list or array of outputs')
    if len(outputs) != input_count:
        raise ValueError('predict returned %d outputs for %d inputs' % (len(outputs), input_count))
    return [to_wire(v) for v in outputs]
