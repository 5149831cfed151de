"""A real Kubernetes control plane for tests, on loopback, started the way controller-runtime's envtest
starts one (plus the controller manager, the scheduler and kwok's fake nodes).

    plane = start(root=Path("/tmp/cp"))          # or the `control_plane` pytest fixture
    plane.kubectl("get", "nodes")
    sa_config = plane.service_account_kubeconfig(namespace="kubeloop", name="kubeloop-operator")
    plane.stop()
"""

from __future__ import annotations

from kubeloop.devtools.cluster.plane import ControlPlane
from kubeloop.devtools.cluster.processes import ClusterError
from kubeloop.devtools.cluster.start import NODES, start

__all__ = ["NODES", "ClusterError", "ControlPlane", "start"]
