"""What `kubeloop deploy` does in local mode, in one place for the CLI and the demo.

A server for the version, the gateway, the route (re-resolved if it existed), the deployment saved
and the supervisor running, so a process that dies later is started again.
"""

from __future__ import annotations

from kubeloop.errors import KubeloopError
from kubeloop.local import processes
from kubeloop.local.records import ProcessRecord
from kubeloop.settings import Settings
from kubeloop.spec import ModelDeployment


def deploy_version(
    settings: Settings, deployment: ModelDeployment, *, version: str, gateway_port: int = 0
) -> tuple[ProcessRecord, ProcessRecord]:
    """Serve `version` of the deployment behind the gateway; returns the server's and gateway's records."""
    from kubeloop.local.routes import route_stable
    from kubeloop.local.supervisor_process import ensure_supervisor

    serving = deployment.spec.serving
    if serving.runtime not in processes.RUNTIMES:
        raise KubeloopError(f"runtime {serving.runtime!r} is not served locally; use kserve or bentoml")
    server = processes.start_server(
        settings, deployment=deployment.name, model=deployment.spec.model.name, version=version,
        runtime=serving.runtime, workers=serving.workers, max_batch_rows=serving.max_batch_size,
        labeling=deployment.spec.labeling,
    )  # fmt: skip
    gateway = processes.start_gateway(settings, port=gateway_port or serving.port)
    route_stable(settings, deployment.name, version)
    processes.save_deployment(settings, deployment)
    ensure_supervisor(settings)
    return server, gateway
