"""kubeloop: train, register, serve, roll out and monitor models in one loop, locally or on Kubernetes."""

from kubeloop.errors import KubeloopError, SpecError

__version__ = "0.1.0"

__all__ = ["KubeloopError", "SpecError", "__version__"]
