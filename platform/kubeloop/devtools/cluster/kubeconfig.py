"""kubeconfig files for the test control plane: client certificates or a bearer token, CA embedded."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

CLUSTER = "kubeloop-test"


def _b64(data: bytes) -> str:
    """Base64 text of bytes, as kubeconfig `*-data` fields hold them."""
    return base64.b64encode(data).decode()


def kubeconfig(*, server: str, ca_pem: bytes, user: str, credentials: dict[str, str],
               namespace: str = "default") -> dict[str, Any]:
    """One cluster, one user, one current context named after the user."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER, "cluster": {"server": server,
                                                   "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": user, "context": {"cluster": CLUSTER, "user": user, "namespace": namespace}}],
        "current-context": user,
    }


def certificate_credentials(*, cert_pem: bytes, key_pem: bytes) -> dict[str, str]:
    """A kubeconfig user authenticated by a client certificate."""
    return {"client-certificate-data": _b64(cert_pem), "client-key-data": _b64(key_pem)}


def token_credentials(token: str) -> dict[str, str]:
    """A kubeconfig user authenticated by a bearer token (a service account's)."""
    return {"token": token}


def write(path: Path, config: dict[str, Any]) -> Path:
    """Write a kubeconfig readable by its owner only (it holds credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
