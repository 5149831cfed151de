"""Where a test control plane keeps its files and which loopback ports it listens on, as frozen data.

Everything lives under one state folder: `pki/` (CA, serving and client certificates, service-account
keys), `etcd/` (data), `kubeconfig/` (one per client), `logs/` (one per process, and the API server's
audit log), `audit-policy.yaml` and `ports.json`, the record `cluster down` and `ControlPlane.load` read back.
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

HOST = "127.0.0.1"
SERVICE_CIDR = "10.0.0.0/24"
SERVICE_IP = "10.0.0.1"  # the first address of SERVICE_CIDR: the `kubernetes` Service
PORT_NAMES = ("etcd", "etcd_peer", "apiserver", "controller_manager", "scheduler", "kwok")


@dataclass(frozen=True)
class Ports:
    """One free loopback port per listener."""

    etcd: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int


def free_ports() -> Ports:
    """Ports the kernel reports free now, all different (each socket held until every one is chosen)."""
    sockets = []
    try:
        for _ in PORT_NAMES:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return Ports(*(sock.getsockname()[1] for sock in sockets))
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class Layout:
    """The files and ports of one control plane."""

    root: Path
    ports: Ports

    @property
    def pki(self) -> Path:
        """Certificates and keys."""
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        """One log file per process."""
        return self.root / "logs"

    @property
    def etcd_data(self) -> Path:
        """etcd's data folder."""
        return self.root / "etcd"

    @property
    def server(self) -> str:
        """The API server's URL."""
        return f"https://{HOST}:{self.ports.apiserver}"

    @property
    def etcd_url(self) -> str:
        """etcd's client URL (plain HTTP on loopback, as envtest runs it)."""
        return f"http://{HOST}:{self.ports.etcd}"

    @property
    def ca_file(self) -> Path:
        """The cluster CA certificate: serving and client certificates are signed by it."""
        return self.pki / "ca.crt"

    @property
    def admin_kubeconfig(self) -> Path:
        """The admin's kubeconfig (client certificate in system:masters)."""
        return self.kubeconfig("admin")

    def kubeconfig(self, client: str) -> Path:
        """The kubeconfig of one client of the API server."""
        return self.root / "kubeconfig" / f"{client}.yaml"

    def cert(self, name: str) -> Path:
        """A certificate (or the service-account public key) under pki/."""
        return self.pki / f"{name}.crt"

    def key(self, name: str) -> Path:
        """A private key under pki/."""
        return self.pki / f"{name}.key"

    def log(self, process: str) -> Path:
        """The log file of one process."""
        return self.logs / f"{process}.log"

    @property
    def audit_policy(self) -> Path:
        """The API server's audit policy (which requests it records, and how much of each)."""
        return self.root / "audit-policy.yaml"

    @property
    def audit_log(self) -> Path:
        """The API server's audit log: one JSON event per request of a service account outside kube-system."""
        return self.logs / "audit.log"

    def save(self) -> None:
        """Record the ports so the folder alone describes the control plane."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "ports.json").write_text(json.dumps(asdict(self.ports), indent=2) + "\n")

    @classmethod
    def load(cls, root: Path) -> Layout:
        """The layout recorded in a state folder; raises FileNotFoundError when none is there."""
        ports = json.loads((root / "ports.json").read_text())
        return cls(root=root, ports=Ports(**ports))
