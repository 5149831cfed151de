"""Bringing a test control plane up in order: etcd, the API server, then the controller manager, the
scheduler and kwok with its fake nodes, each waited for until it answers."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes

from kubeloop.devtools import gobuild
from kubeloop.devtools.cluster import args, bootstrap
from kubeloop.devtools.cluster.layout import HOST, Layout, free_ports
from kubeloop.devtools.cluster.plane import ControlPlane, admin_get, pids_file
from kubeloop.devtools.cluster.processes import ClusterError, record, spawn, wait_until
from kubeloop.devtools.progress import Log

NODES = 3
BIN_DIR_RECORD = "bin_dir"  # which binaries run here, for `cluster down` and ControlPlane.load
START_TIMEOUT = 90.0  # seconds per step; a warm start takes a few seconds, a loaded machine more
NODE_CAPACITY = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "100Gi"}


def _healthz(layout: Layout, port: int) -> Callable[[], bool]:
    """A check that a component's /healthz on a loopback port answers 200."""
    return lambda: admin_get(f"https://{HOST}:{port}/healthz", layout=layout) is not None


def fake_node(name: str) -> dict[str, Any]:
    """A Node that kwok manages (it reports Ready and keeps its lease); all fake nodes are alike."""
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "type": "kwok"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels, "annotations": {"kwok.x-k8s.io/node": "fake"}},
            "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY,
                       "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                                    "kubeletVersion": "fake", "kubeProxyVersion": "fake"}}}


def _start(layout: Layout, name: str, argv: list[str], *, detach: bool, children: list[Any]) -> Any:
    """Spawn one process, record its pid and keep its Popen in `children` (the plane waits on them)."""
    process = spawn(argv, log=layout.log(name), detach=detach)
    record(pids_file(layout.root), name, process.pid)
    children.append(process)
    return process


def _ready_nodes(core: kubernetes.client.CoreV1Api) -> int:
    """How many nodes report the Ready condition True."""
    nodes = core.list_node().items
    return sum(any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
               for n in nodes)


def _exists(read: Any, *names: str) -> bool:
    """Whether a read_* call finds the object (404 -> False)."""
    try:
        read(*names)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _start_control_plane(layout: Layout, *, bin_dir: Path, nodes: int, detach: bool,
                         children: list[Any]) -> ControlPlane:
    """Every process in order, each waited for; then the nodes and the controllers' first work."""
    launch = functools.partial(_start, layout, detach=detach, children=children)
    etcd = launch("etcd", args.etcd(layout, bin_dir=bin_dir))
    wait_until(lambda: b'"true"' in (admin_get(f"{layout.etcd_url}/health", layout=layout) or b""),
               what="etcd", timeout=START_TIMEOUT, process=etcd, log=layout.log("etcd"))
    apiserver = launch("kube-apiserver", args.apiserver(layout, bin_dir=bin_dir))
    wait_until(lambda: admin_get(f"{layout.server}/readyz", layout=layout) is not None, what="kube-apiserver",
               timeout=START_TIMEOUT, process=apiserver, log=layout.log("kube-apiserver"))
    stages = bin_dir / gobuild.KWOK_STAGES
    components = {
        "kube-controller-manager": (args.controller_manager(layout, bin_dir=bin_dir),
                                    layout.ports.controller_manager),
        "kube-scheduler": (args.scheduler(layout, bin_dir=bin_dir), layout.ports.scheduler),
    }
    started = {name: launch(name, argv) for name, (argv, _) in components.items()}
    kwok = launch("kwok", args.kwok(layout, bin_dir=bin_dir, stages=stages))
    plane = ControlPlane(layout=layout, bin_dir=bin_dir, children=tuple(children))
    with plane.api_client() as api:
        core = kubernetes.client.CoreV1Api(api)
        for index in range(nodes):
            core.create_node(fake_node(f"kwok-node-{index}"))
        for name, (_, port) in components.items():
            wait_until(_healthz(layout, port), what=name, timeout=START_TIMEOUT, process=started[name],
                       log=layout.log(name))
        wait_until(lambda: _ready_nodes(core) == nodes, what=f"kwok ({nodes} nodes Ready)",
                   timeout=START_TIMEOUT, process=kwok, log=layout.log("kwok"))
        # The service-account and root-CA controllers have run once the default namespace has both.
        wait_until(lambda: _exists(core.read_namespaced_service_account, "default", "default")
                   and _exists(core.read_namespaced_config_map, "kube-root-ca.crt", "default"),
                   what="kube-controller-manager (default ServiceAccount, kube-root-ca.crt)",
                   timeout=START_TIMEOUT, process=started["kube-controller-manager"],
                   log=layout.log("kube-controller-manager"))
    return plane


def start(*, root: Path, nodes: int = NODES, bin_dir: Path | None = None, detach: bool = False,
          log: Log = print) -> ControlPlane:
    """Start a fresh control plane under `root` (emptied first); stops what it started if a step fails.

    `detach` lets the processes outlive this one (`cluster up`); otherwise they die with it (tests).
    """
    bin_dir = bin_dir or gobuild.control_plane_bin_dir()
    if pids_file(root).is_file():
        raise ClusterError(f"{root} holds a running control plane: stop it first "
                           f"(`python -m kubeloop.devtools cluster down --dir {root}`)")
    shutil.rmtree(root, ignore_errors=True)
    layout = Layout(root=root, ports=free_ports())
    layout.save()
    bootstrap.write_files(layout)
    log(f"control plane: starting under {root} (API server {layout.server})")
    children: list[Any] = []
    try:
        plane = _start_control_plane(layout, bin_dir=bin_dir, nodes=nodes, detach=detach, children=children)
    except BaseException:
        ControlPlane(layout=layout, bin_dir=bin_dir, children=tuple(children)).stop()
        raise
    (root / BIN_DIR_RECORD).write_text(f"{bin_dir}\n")
    return plane
