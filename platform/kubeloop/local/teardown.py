"""Stopping every local process of a KUBELOOP_HOME, in the order that leaves nothing to restart itself.

The supervisor goes first (it would restart what is stopped next), then rollout controllers (they
would route to servers being stopped), then the model servers and the gateway.
"""

from __future__ import annotations

from kubeloop.settings import Settings


def stop_local(settings: Settings) -> list[str]:
    """Stop the supervisor, controllers, model servers and gateway; what was stopped, one line each."""
    from kubeloop.controller.local import controller_records
    from kubeloop.local import processes
    from kubeloop.local.supervisor_process import stop_supervisor

    stopped = []
    supervisor = stop_supervisor(settings)
    if supervisor is not None:
        stopped.append(f"the supervisor (pid {supervisor.pid})")
    for controller in controller_records(settings):
        processes.stop(controller)
        stopped.append(f"the rollout controller of {controller.deployment} (pid {controller.pid})")
    for name in processes.deployed_names(settings):
        for server in processes.stop_deployment(settings, name):
            stopped.append(f"{name} version {server.version} (pid {server.pid})")
    gateway = processes.gateway_record(settings)
    processes.stop_gateway(settings)
    if gateway is not None:
        stopped.append(f"the gateway on {gateway.url} (pid {gateway.pid})")
    return stopped
