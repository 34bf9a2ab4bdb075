"""PyTorch models in the Python runner (--framework pytorch; frameworks.py imports torch first).

The model file is one of:
  FILE.pt / FILE.pth   a TorchScript archive (torch.jit.save); --function predict calls forward,
                       another name calls that method of the script module (@torch.jit.export).
  FILE.pkl             (.pickle, .cloudpickle) what clipper_ts.deployers.pytorch writes: a dict

    {'clipper_framework': 'pytorch', 'format': 1,
     'module': an nn.Module, or an nn.Module subclass (built with module_args, module_kwargs),
     'module_args': tuple, 'module_kwargs': dict,      optional, for a class
     'torchscript': bytes of a torch.jit.save archive,  instead of module
     'state_dict': dict,                                 optional, loaded into the module (strict)
     'pre': fn(batch) -> tensor-like | None,
     'post': fn(model output) -> one output per input | None}

                       or a pickled nn.Module itself (no pre/post).

One batch runs as: pre(inputs) when given (inputs as model_loader.decode_inputs makes them),
else the inputs themselves → one tensor [N, ...] (dtype from the input type: doubles float64,
floats float32, integers int32; floating inputs are cast to the dtype of the module's floating
parameters, so a float32 module takes doubles) on the device → module(tensor) under
torch.inference_mode() → post(output) when given (post gets the output on the device), else the
output split by its first dimension (a tuple or dict of tensors: one tuple or dict per input).
A pre that returns a tuple passes each element as one argument of the module.
"""

import io

import numpy as np

from .model_loader import PICKLE_EXTENSIONS, ModelLoadError, PredictError, first_line, load_pickle

TORCHSCRIPT_EXTENSIONS = ('.pt', '.pth')
BUNDLE_FORMAT = 1


def resolve_device(torch, name):
    """'auto' → cuda when this machine has a usable GPU, else cpu; 'cuda' without one fails."""
    if name not in ('cpu', 'cuda', 'auto'):
        raise ModelLoadError("device must be 'cpu', 'cuda' or 'auto' (got %r)" % (name,))
    has_gpu = torch.cuda.is_available()
    if name == 'cuda' and not has_gpu:
        raise ModelLoadError('device cuda: this machine has no GPU PyTorch can use (torch.cuda.is_available() is '
                             'False); deploy with device auto or cpu')
    return torch.device('cuda' if name == 'cuda' or (name == 'auto' and has_gpu) else 'cpu')


def load_torch_predict(torch, path, function_name, device_name, threads):
    device = resolve_device(torch, device_name)
    # Only the intra-op pool: set_num_interop_threads aborts the process (a C++ terminate, not an
    # exception) once any parallel work has run, and that pool only serves torch.jit.fork.
    torch.set_num_threads(threads)
    lower = path.lower()
    if lower.endswith(TORCHSCRIPT_EXTENSIONS):
        module, pre, post = _load_torchscript(torch, path, path, device), None, None
    elif lower.endswith(PICKLE_EXTENSIONS):
        module, pre, post = _load_bundle(torch, path, device)
    else:
        raise ModelLoadError('framework pytorch loads a TorchScript file (%s) or a bundle pickled by the Python '
                             'deployer (%s), not %s' % (', '.join(TORCHSCRIPT_EXTENSIONS),
                                                        ', '.join(PICKLE_EXTENSIONS), path))
    module.eval()
    call = _method(module, function_name, path)
    return TorchPredict(torch, call, pre, post, device, threads, _float_dtype(module))


def _load_torchscript(torch, source, path, device):
    try:
        return torch.jit.load(source, map_location=device)
    except Exception as err:  # torch raises RuntimeError or ValueError with long C++ traces
        raise ModelLoadError('%s is not a TorchScript archive (save the model with torch.jit.save, or deploy the '
                             'nn.Module with clipper_ts.deployers.pytorch; a state dict alone needs its module '
                             'class): %s' % (path, first_line(err))) from None


def _load_bundle(torch, path, device):
    obj = load_pickle(path)
    if isinstance(obj, torch.nn.Module):
        return obj.to(device), None, None
    if not isinstance(obj, dict) or obj.get('clipper_framework') != 'pytorch':
        raise ModelLoadError("%s is not a PyTorch model bundle: it holds a %s (expected an nn.Module or the dict "
                             "clipper_ts.deployers.pytorch writes, with clipper_framework 'pytorch')"
                             % (path, type(obj).__name__))
    if obj.get('format', BUNDLE_FORMAT) != BUNDLE_FORMAT:
        raise ModelLoadError('%s is a bundle of format %r; this runner reads format %d: deploy it again with this '
                             "version's clipper_ts" % (path, obj.get('format'), BUNDLE_FORMAT))
    for hook in ('pre', 'post'):
        if obj.get(hook) is not None and not callable(obj[hook]):
            raise ModelLoadError("%s: the bundle's %s is a %s, not a function"
                                 % (path, hook, type(obj[hook]).__name__))
    if obj.get('torchscript') is not None:
        module = _load_torchscript(torch, io.BytesIO(obj['torchscript']), path + " (the bundle's torchscript)", device)
    else:
        module = _bundle_module(torch, obj, path)
    state_dict = obj.get('state_dict')
    if state_dict is not None:
        try:
            module.load_state_dict(state_dict)
        except Exception as err:  # RuntimeError listing missing/unexpected keys and shape mismatches
            raise ModelLoadError("%s: the bundle's state_dict does not fit its module %s: %s"
                                 % (path, type(module).__name__, err)) from None
    return module.to(device), obj.get('pre'), obj.get('post')


def _bundle_module(torch, bundle, path):
    module = bundle.get('module')
    if isinstance(module, type) and issubclass(module, torch.nn.Module):
        try:
            return module(*bundle.get('module_args', ()), **(bundle.get('module_kwargs') or {}))
        except Exception as err:
            raise ModelLoadError('%s: building the module %s(...) failed: %s: %s'
                                 % (path, module.__name__, type(err).__name__, err)) from None
    if isinstance(module, torch.nn.Module):
        return module
    raise ModelLoadError("%s: the bundle's module is a %s; give an nn.Module, an nn.Module subclass or torchscript "
                         'bytes' % (path, type(module).__name__))


def _method(module, function_name, path):
    if function_name in (None, '', 'predict', 'forward'):
        return module
    method = getattr(module, function_name, None)
    if not callable(method):
        raise ModelLoadError("%s: the module %s has no method '%s' (--function; predict calls forward)"
                             % (path, type(module).__name__, function_name))
    return method


def _float_dtype(module):
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return None


class TorchPredict:
    """The runner's predict function for a PyTorch module (called under the runner's predict lock)."""

    def __init__(self, torch, call, pre, post, device, threads, float_dtype):
        self.torch = torch
        self.call = call
        self.pre = pre
        self.post = post
        self.device = device
        self.threads = threads
        self.float_dtype = float_dtype

    def __call__(self, inputs):
        torch = self.torch
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)  # a thread pool another thread set up differently
        with torch.inference_mode():
            batch = self.pre(inputs) if self.pre is not None else inputs
            args = tuple(batch) if isinstance(batch, tuple) else (batch,)
            tensors = tuple(self.tensor(arg) for arg in args)
            try:
                output = self.call(*tensors)
            except Exception as err:
                shapes = ', '.join('%s %s' % (list(t.shape), str(t.dtype).replace('torch.', '')) for t in tensors)
                raise PredictError('the model failed on a batch of %d inputs (tensor %s): %s'
                                   % (len(inputs), shapes, torch_reason(err))) from None
            if self.post is not None:
                return to_plain(torch, self.post(output))
            return split_outputs(torch, output)

    def tensor(self, batch):
        """One batch as one tensor on the device."""
        torch = self.torch
        if isinstance(batch, torch.Tensor):
            tensor = batch
        elif isinstance(batch, np.ndarray) and batch.dtype != object:
            tensor = torch.from_numpy(np.ascontiguousarray(batch))
        elif isinstance(batch, list) and batch and isinstance(batch[0], (str, bytes)):
            raise PredictError('%s inputs need a pre function that turns the batch into a tensor'
                               % ('string' if isinstance(batch[0], str) else 'bytes'))
        elif isinstance(batch, list) and batch and isinstance(batch[0], np.ndarray):
            lengths = sorted({len(x) for x in batch})
            raise PredictError('the inputs of one batch form one tensor, so they must have the same length (got '
                               'lengths %s); pad or reshape them in a pre function' % ', '.join(map(str, lengths)))
        else:
            try:
                tensor = torch.as_tensor(batch)
            except Exception as err:
                raise PredictError('cannot make a tensor of the batch (a %s): %s'
                                   % (type(batch).__name__, err)) from None
        if self.float_dtype is not None and tensor.is_floating_point() and tensor.dtype != self.float_dtype:
            tensor = tensor.to(self.float_dtype)
        return tensor.to(self.device)


def torch_reason(err):
    """'Type: message' of a model's exception. TorchScript wraps the error in a trace of the script
    whose last line is the original 'RuntimeError: ...'."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith('The following operation failed in the TorchScript interpreter'):
        return lines[-1].strip()
    return '%s: %s' % (type(err).__name__, first_line(err))


def to_plain(torch, value):
    """Tensors (on any device) → lists, recursively; other values as they are."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        return [to_plain(torch, v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(torch, v) for k, v in value.items()}
    return value


def split_outputs(torch, output):
    """The module's output, one entry per input: rows of a tensor; of a tuple or dict of tensors, one
    list or dict per input."""
    if isinstance(output, torch.Tensor):
        if output.dim() == 0:
            raise PredictError('the model returned a 0-d tensor: it must return one row per input (the first '
                               'dimension is the batch), or give a post function')
        return output.detach().cpu().numpy()
    if isinstance(output, (list, tuple)) and output and all(isinstance(t, torch.Tensor) for t in output):
        parts = [to_plain(torch, t) for t in output]
        return [[part[i] for part in parts] for i in range(len(parts[0]))]
    if isinstance(output, dict) and output and all(isinstance(t, torch.Tensor) for t in output.values()):
        parts = {k: to_plain(torch, t) for k, t in output.items()}
        count = len(next(iter(parts.values())))
        return [{k: part[i] for k, part in parts.items()} for i in range(count)]
    return to_plain(torch, output)
