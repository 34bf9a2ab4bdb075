"""clipper_ts: Clipper's Python admin client (clipper_admin) for a clipper-ts server.

Clipper scripts move over by changing their imports:

    from clipper_ts import ClipperConnection, DockerContainerManager
    from clipper_ts.deployers import python as python_deployer

The server runs the models; the client uploads them through the management API, so it may run on
another machine than the server.
"""

from .clipper_admin import ClipperConnection
from .container_manager import (CONTAINERLESS_MODEL_IMAGE, ContainerManager, DockerContainerManager,
                                KubernetesContainerManager, LocalContainerManager)
from .exceptions import ClipperException, UnconnectedException

__version__ = '0.1.0'

__all__ = ['ClipperConnection', 'ClipperException', 'UnconnectedException', 'ContainerManager',
           'DockerContainerManager', 'LocalContainerManager', 'KubernetesContainerManager',
           'CONTAINERLESS_MODEL_IMAGE', '__version__']
