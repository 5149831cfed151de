"""What `kubeloop status` shows of each local deployment: servers, routes, rollout and controller, trail."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from kubeloop.errors import KubeloopError
from kubeloop.settings import Settings


def deployments_status(settings: Settings) -> tuple[str, Any]:
    """One entry per deployed name; a part that cannot be read says why instead of failing the command."""
    from kubeloop.local import processes

    return "deployments", [_deployment(settings, name) for name in processes.deployed_names(settings)]


def _deployment(settings: Settings, name: str) -> dict[str, Any]:
    from kubeloop.local import processes

    servers = [
        {"version": r.version, "runtime": r.kind, "url": r.url, "running": r.alive()}
        for r in processes.server_records(settings, name)
    ]
    return {
        "name": name,
        "servers": servers,
        "routes": _routes(settings, name),
        "rollout": _rollout(settings, name),
        "controller": _controller(settings, name),
        "drift": _drift(settings, name),
    }


def _routes(settings: Settings, name: str) -> dict[str, Any] | None:
    from kubeloop.routing.gateway import GatewayRouter

    try:
        routes = GatewayRouter.from_settings(settings).get_routes(name)
    except KubeloopError as error:
        return {"error": str(error)}
    return None if routes is None else asdict(routes)


def _rollout(settings: Settings, name: str) -> dict[str, Any] | None:
    from kubeloop.rollout.file_store import FileStateStore

    state = FileStateStore(settings.state_dir).load(name)
    if state is None:
        return None
    last = state.history[-1] if state.history else None
    return {
        "champion": state.champion,
        "challenger": state.challenger,
        "phase": state.phase,
        "weight": state.weight,
        "last_decision": None if last is None else {"kind": last.kind, "reason": last.reason},
    }


def _controller(settings: Settings, name: str) -> dict[str, Any] | None:
    """The running rollout controller, with where Prometheus can scrape it."""
    from kubeloop.controller.local import controller_records

    records = controller_records(settings, name)
    return {"pid": records[0].pid, "metrics": f"{records[0].url}/metrics"} if records else None


def _drift(settings: Settings, name: str) -> dict[str, Any] | None:
    from kubeloop.drift.state import load_state, state_path

    try:
        state = load_state(state_path(settings.state_dir, name))
    except ValueError as error:
        return {"error": str(error)}
    if not state.history and not state.trail:
        return None
    last = state.history[-1] if state.history else None
    return {
        "last_check": None if last is None else asdict(last),
        "last_retrain_at": state.last_retrain_at,
        "trail": [asdict(entry) for entry in state.trail],
    }
