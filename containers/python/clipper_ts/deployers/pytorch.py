"""Deploy a PyTorch model (a clipper-ts addition; Clipper's own deployer built a Docker image).

`model` is one of:
  - a TorchScript module (torch.jit.script / torch.jit.trace), or the path or bytes of a file
    saved with torch.jit.save: uploaded as that file (model.pt), or inside a bundle when pre or
    post is given. The server needs no Python source of the model.
  - an nn.Module instance: pickled with its weights (cloudpickle). Its class must be importable
    on the server, or defined in the deploying script or notebook (then it is pickled by value).
  - an nn.Module subclass with `state_dict` (and module_args / module_kwargs to build it): the
    server builds the module and loads the state dict into it (strict).

`pre(batch)` (optional) turns one batch of inputs (a 2-D numpy array for numeric inputs of one
length, else a list: containers/python/clipper_container/model_loader.py decode_inputs) into a
tensor, array or nested list (a tuple: several arguments of the module); without it the batch
itself becomes one tensor. `post(output)` (optional) turns the module's output for the batch (on
its device) into one output per input; without it the output is split by its first dimension.
The server runs the module in eval mode under torch.inference_mode() with `threads` intra-op
threads per replica (default 1) on `device`: 'auto' (a GPU when the replica's machine has one,
else the CPU), 'cpu' or 'cuda'. The bundle's layout is described in
containers/python/clipper_container/torch_model.py. The server needs the Debian package
python3-torch.
"""

import copy
import io
import os

from ._deploy import DEFAULT_BATCH_SIZE, create_endpoint_with, deploy_file, pickle_function, read_model_file, \
    runtime_options

TORCHSCRIPT_EXTENSIONS = ('.pt', '.pth')
BUNDLE_FORMAT = 1


def pytorch_artifact(model, pre=None, post=None, state_dict=None, module_args=(), module_kwargs=None):
    """(file name, bytes) that the server's runner loads with --framework pytorch."""
    for hook_name, hook in (('pre', pre), ('post', post)):
        if hook is not None and not callable(hook):
            raise TypeError('%s must be a function, got %s' % (hook_name, type(hook).__name__))
    bundle = {'clipper_framework': 'pytorch', 'format': BUNDLE_FORMAT, 'pre': pre, 'post': post}
    torchscript = _torchscript_bytes(model)
    if torchscript is not None:
        if state_dict is not None:
            raise ValueError('state_dict goes with an nn.Module class; a TorchScript model carries its weights')
        if pre is None and post is None:
            return 'model.pt', torchscript
        bundle['torchscript'] = torchscript
        return 'model.pkl', pickle_function(bundle)
    import torch  # a module object: the deploying machine has PyTorch

    if isinstance(model, type) and issubclass(model, torch.nn.Module):
        if state_dict is None:
            raise ValueError('an nn.Module class needs its state_dict (the trained weights); or deploy the '
                             'module instance')
        bundle.update(module=model, module_args=tuple(module_args), module_kwargs=dict(module_kwargs or {}),
                      state_dict=_on_cpu(state_dict))
    elif isinstance(model, torch.nn.Module):
        if state_dict is not None:
            raise ValueError('state_dict goes with an nn.Module class; an instance carries its own weights')
        bundle['module'] = _module_on_cpu(model)
    else:
        raise TypeError('model must be an nn.Module, an nn.Module class with state_dict, a TorchScript module, '
                        'or the path or bytes of a TorchScript file (got %s)' % type(model).__name__)
    return 'model.pkl', pickle_function(bundle)


def _torchscript_bytes(model):
    """The TorchScript archive of `model`, or None when it is a plain module or class."""
    if isinstance(model, (str, os.PathLike)):
        return read_model_file(model, TORCHSCRIPT_EXTENSIONS, 'a TorchScript file')[1]
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    import torch

    if isinstance(model, torch.jit.ScriptModule):
        buffer = io.BytesIO()
        torch.jit.save(model, buffer)
        return buffer.getvalue()
    return None


def _module_on_cpu(module):
    """A module whose tensors live on a GPU is copied to the CPU, so that a CPU-only server can load it."""
    tensors = list(module.parameters()) + list(module.buffers())
    if all(t.device.type == 'cpu' for t in tensors):
        return module
    return copy.deepcopy(module).cpu()


def _on_cpu(state_dict):
    return {k: v.cpu() if hasattr(v, 'cpu') else v for k, v in state_dict.items()}


def deploy_pytorch_model(clipper_conn, name, version, input_type, model, pre=None, post=None, device='auto',
                         threads=None, state_dict=None, module_args=(), module_kwargs=None, labels=None,
                         num_replicas=1, batch_size=DEFAULT_BATCH_SIZE, pkgs_to_install=None, manager=None,
                         base_image='default', registry=None):
    """Upload the model (see the module's text) and deploy it as model name:version with framework
    pytorch; returns once its replicas run. base_image and registry are ignored, as in the python
    deployer."""
    options = runtime_options(threads=threads, device=device)
    file_name, data = pytorch_artifact(model, pre, post, state_dict, module_args, module_kwargs)
    deploy_file(clipper_conn, name, version, input_type, file_name, data, function=None, labels=labels,
                num_replicas=num_replicas, batch_size=batch_size, pkgs_to_install=pkgs_to_install, manager=manager,
                framework='pytorch', options=options)


def create_endpoint(clipper_conn, name, input_type, model, pre=None, post=None, device='auto', threads=None,
                    state_dict=None, module_args=(), module_kwargs=None, default_output='None', version=1,
                    slo_micros=3000000, labels=None, num_replicas=1, batch_size=DEFAULT_BATCH_SIZE,
                    pkgs_to_install=None, manager=None, base_image='default', registry=None):
    """Register application `name`, deploy the PyTorch model as model `name`, and link them."""
    create_endpoint_with(deploy_pytorch_model, clipper_conn, name, input_type, default_output, version, slo_micros,
                         model=model, pre=pre, post=post, device=device, threads=threads, state_dict=state_dict,
                         module_args=module_args, module_kwargs=module_kwargs, labels=labels,
                         num_replicas=num_replicas, batch_size=batch_size, pkgs_to_install=pkgs_to_install,
                         manager=manager, base_image=base_image, registry=registry)
